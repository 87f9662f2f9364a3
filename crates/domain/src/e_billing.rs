//! How claims go to one payer: its X12 identities (payer id, interchange and application ids),
//! the submitter and receiver the clearinghouse knows, the claim filing indicator, test or
//! production, and what the payer requires beyond the guide. Kept per payer code, in versions,
//! by invoicing; [`EBillingSettings::check`] gives the form that is stored, or every problem at
//! once.

use serde::{Deserialize, Serialize};

use crate::FieldError;
use crate::Validation;
use crate::identifiers::{Scheme, SchemeId};

crate::accounts::text_enum!(
    /// Where an e-billing stands: `missing_info` (some claim has gaps; no file is written),
    /// `ready` (every claim is whole), `sent` (its 837 was taken: frozen), `cancelled` (before
    /// it was sent; its invoices are claimable again).
    EBillingStatus {
        /// Some claim has gaps.
        MissingInfo = "missing_info",
        /// Every claim is whole.
        Ready = "ready",
        /// Its file was taken.
        Sent = "sent",
        /// Cancelled before it was sent.
        Cancelled = "cancelled",
    }
);

crate::accounts::text_enum!(
    /// Where one claim of an e-billing stands.
    ClaimStatus {
        /// It has gaps.
        MissingInfo = "missing_info",
        /// It is whole.
        Ready = "ready",
        /// In a file that was taken.
        Submitted = "submitted",
        /// The clearinghouse took its transaction (999 `A` or `E`), or the payer received it
        /// (277CA `A1`).
        Acknowledged = "acknowledged",
        /// The payer took it into adjudication (277CA `A2`), with its claim number.
        Accepted = "accepted",
        /// Refused (999 `R`; 277CA `A3`, `A6`, `A7`, `A8`): its invoice is claimable again.
        Rejected = "rejected",
        /// The payer is working on it (277 `P*`).
        Pending = "pending",
        /// The payer decided it (277 `F*`).
        Finalized = "finalized",
        /// The payer's 835 paid it, in whole or in part (posted in collections).
        Paid = "paid",
        /// The payer's 835 denied it.
        Denied = "denied",
        /// Its e-billing was cancelled.
        Cancelled = "cancelled",
    }
);

/// ISA05/ISA07 qualifiers the 5010 guides allow.
pub const INTERCHANGE_QUALIFIERS: &[&str] = &["01", "14", "20", "27", "28", "29", "30", "33", "ZZ"];

/// SBR09 claim filing indicators (005010 code list 1032).
pub const FILING_INDICATORS: &[&str] = &[
    "11", "12", "13", "14", "15", "16", "17", "AM", "BL", "CH", "CI", "DS", "FI", "HM", "LM", "MA",
    "MB", "MC", "OF", "TV", "VA", "WC", "ZZ",
];

/// Which claim a payer gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum FormatChoice {
    /// By the kind of care: inpatient and long-term stays 837I, outpatient and home care 837P.
    #[default]
    #[serde(rename = "auto")]
    Auto,
    /// Always professional.
    #[serde(rename = "837P")]
    Professional,
    /// Always institutional.
    #[serde(rename = "837I")]
    Institutional,
}

/// Whether the payer processes the files as tests (ISA15 `T`) or for real (`P`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    /// ISA15 `T`.
    #[default]
    Test,
    /// ISA15 `P`.
    Production,
}

/// When a claim names the rendering provider (2310B on 837P, 2310D on 837I).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RenderingRule {
    /// Whenever a line names who performed it.
    #[default]
    Always,
    /// Only when it is not the billing provider (the guide's rule).
    WhenDifferent,
}

/// Who sends the files (1000A), as the clearinghouse knows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Submitter {
    /// NM103, at most 60 characters.
    #[cfg_attr(feature = "openapi", schema(example = "SPRINGFIELD GENERAL"))]
    pub name: String,
    /// NM109: the id the clearinghouse gave the submitter, 2 to 80 characters.
    #[cfg_attr(feature = "openapi", schema(example = "S123"))]
    pub id: String,
    /// PER02: whom the payer calls about the files.
    #[cfg_attr(feature = "openapi", schema(example = "BILLING DESK"))]
    pub contact: String,
    /// PER04 (`TE`): ten digits.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(example = "2175551234"))]
    pub phone: Option<String>,
    /// PER04/06 (`EM`).
    #[serde(default)]
    pub email: Option<String>,
}

/// Who receives the files (1000B): the clearinghouse or the payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Receiver {
    /// NM103, at most 60 characters.
    #[cfg_attr(feature = "openapi", schema(example = "CLEARINGHOUSE"))]
    pub name: String,
    /// NM109, 2 to 80 characters.
    #[cfg_attr(feature = "openapi", schema(example = "R987"))]
    pub id: String,
}

/// The interchange's sender and receiver (ISA05–ISA08).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InterchangeIds {
    /// ISA05: `01`, `14`, `20`, `27`, `28`, `29`, `30`, `33` or `ZZ`.
    #[cfg_attr(feature = "openapi", schema(example = "ZZ"))]
    pub sender_qualifier: String,
    /// ISA06: 1 to 15 characters.
    #[cfg_attr(feature = "openapi", schema(example = "S123"))]
    pub sender_id: String,
    /// ISA07, as ISA05.
    #[cfg_attr(feature = "openapi", schema(example = "ZZ"))]
    pub receiver_qualifier: String,
    /// ISA08: 1 to 15 characters.
    #[cfg_attr(feature = "openapi", schema(example = "R987"))]
    pub receiver_id: String,
}

/// The functional group's application codes (GS02, GS03).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ApplicationCodes {
    /// GS02: 2 to 15 characters.
    #[cfg_attr(feature = "openapi", schema(example = "S123"))]
    pub sender_code: String,
    /// GS03: 2 to 15 characters.
    #[cfg_attr(feature = "openapi", schema(example = "R987"))]
    pub receiver_code: String,
}

/// What the payer requires beyond the guide (its companion guide's situational rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Requirements {
    /// When a claim names the rendering provider.
    #[serde(default)]
    pub rendering_provider: RenderingRule,
    /// The billing provider's taxonomy (PRV in 2000A).
    #[serde(default)]
    pub billing_taxonomy: bool,
    /// The referring provider on professional claims (2310A).
    #[serde(default)]
    pub referring_provider: bool,
    /// The longest patient control number (CLM01, the invoice number) the payer keeps: 1 to
    /// 38, 20 by default (all a receiver must keep).
    #[serde(default = "twenty")]
    pub max_patient_control_number: u8,
    /// Whether catalog items billed with a national code (qualifier `ER`) are accepted.
    #[serde(default)]
    pub allow_national_codes: bool,
}

fn twenty() -> u8 {
    20
}

impl Default for Requirements {
    fn default() -> Self {
        Requirements {
            rendering_provider: RenderingRule::default(),
            billing_taxonomy: false,
            referring_provider: false,
            max_patient_control_number: twenty(),
            allow_national_codes: false,
        }
    }
}

/// How claims go to one payer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EBillingSettings {
    /// `auto` (by the kind of care), `837P` or `837I`.
    #[serde(default)]
    pub claim_format: FormatChoice,
    /// The payer id the clearinghouse routes on (2010BB NM109), 2 to 80 characters.
    #[cfg_attr(feature = "openapi", schema(example = "87726"))]
    pub payer_id: String,
    /// The payer's name on claims (2010BB NM103), at most 60 characters.
    #[cfg_attr(feature = "openapi", schema(example = "UNITEDHEALTHCARE"))]
    pub payer_name: String,
    /// SBR09: `CI` commercial, `MB` Medicare part B, `MC` Medicaid, `BL` Blue Cross ...
    #[cfg_attr(feature = "openapi", schema(example = "CI"))]
    pub claim_filing_indicator: String,
    /// Who sends (1000A).
    pub submitter: Submitter,
    /// Who receives (1000B).
    pub receiver: Receiver,
    /// ISA05–ISA08.
    pub interchange: InterchangeIds,
    /// GS02, GS03.
    pub application: ApplicationCodes,
    /// Test (`T`, the default) or production (`P`) data.
    #[serde(default)]
    pub usage: Usage,
    /// ISA14: whether an interchange acknowledgement (TA1) is asked for.
    #[serde(default)]
    pub acknowledgement_requested: bool,
    /// What the payer requires beyond the guide.
    #[serde(default)]
    pub requirements: Requirements,
}

/// Letters, digits, spaces and the punctuation X12 values may carry; never a delimiter.
fn x12_text(v: &mut Validation, field: &str, value: &str, min: usize, max: usize) -> String {
    let value = value.trim().to_owned();
    let len = value.chars().count();
    if len < min || len > max {
        v.add(
            field,
            if len == 0 { "required" } else { "invalid" },
            format!("{min} to {max} characters"),
        );
    } else if !value
        .chars()
        .all(|c| c.is_ascii_graphic() && !"*:^~".contains(c) || c == ' ')
    {
        v.add(
            field,
            "invalid",
            "ASCII letters, digits, spaces and punctuation other than * : ^ ~",
        );
    }
    value
}

fn one_of(v: &mut Validation, field: &str, value: &str, list: &[&str]) -> String {
    let value = value.trim().to_ascii_uppercase();
    if !list.contains(&value.as_str()) {
        v.add(field, "invalid", format!("one of {}", list.join(", ")));
    }
    value
}

impl EBillingSettings {
    /// The settings as they are stored (trimmed, codes upper case), or every problem, each
    /// naming its field.
    pub fn check(self) -> Result<EBillingSettings, Vec<FieldError>> {
        let mut v = Validation::new();
        let s = self;
        let payer_id = x12_text(&mut v, "payer_id", &s.payer_id, 2, 80);
        let payer_name = x12_text(&mut v, "payer_name", &s.payer_name, 1, 60);
        let claim_filing_indicator = one_of(
            &mut v,
            "claim_filing_indicator",
            &s.claim_filing_indicator,
            FILING_INDICATORS,
        );
        let phone = s.submitter.phone.as_deref().map(str::trim).map(|p| {
            let digits: String = p.chars().filter(char::is_ascii_digit).collect();
            if digits.len() != 10 || p.chars().any(|c| c.is_ascii_alphabetic()) {
                v.add("submitter.phone", "invalid", "ten digits");
            }
            digits
        });
        let email = s.submitter.email.as_deref().map(str::trim).map(|e| {
            v.check(
                "submitter.email",
                "invalid",
                SchemeId::parse(Scheme::EMAIL, e),
            );
            x12_text(&mut v, "submitter.email", e, 3, 256)
        });
        let submitter = Submitter {
            name: x12_text(&mut v, "submitter.name", &s.submitter.name, 1, 60),
            id: x12_text(&mut v, "submitter.id", &s.submitter.id, 2, 80),
            contact: x12_text(&mut v, "submitter.contact", &s.submitter.contact, 1, 60),
            phone,
            email,
        };
        if submitter.phone.is_none() && submitter.email.is_none() {
            v.add(
                "submitter.phone",
                "required",
                "a phone number or an e-mail address for PER",
            );
        }
        let receiver = Receiver {
            name: x12_text(&mut v, "receiver.name", &s.receiver.name, 1, 60),
            id: x12_text(&mut v, "receiver.id", &s.receiver.id, 2, 80),
        };
        let i = &s.interchange;
        let interchange = InterchangeIds {
            sender_qualifier: one_of(
                &mut v,
                "interchange.sender_qualifier",
                &i.sender_qualifier,
                INTERCHANGE_QUALIFIERS,
            ),
            sender_id: x12_text(&mut v, "interchange.sender_id", &i.sender_id, 1, 15),
            receiver_qualifier: one_of(
                &mut v,
                "interchange.receiver_qualifier",
                &i.receiver_qualifier,
                INTERCHANGE_QUALIFIERS,
            ),
            receiver_id: x12_text(&mut v, "interchange.receiver_id", &i.receiver_id, 1, 15),
        };
        let a = &s.application;
        let application = ApplicationCodes {
            sender_code: x12_text(&mut v, "application.sender_code", &a.sender_code, 2, 15),
            receiver_code: x12_text(&mut v, "application.receiver_code", &a.receiver_code, 2, 15),
        };
        if !(1..=38).contains(&s.requirements.max_patient_control_number) {
            v.add(
                "requirements.max_patient_control_number",
                "out_of_range",
                "1 to 38",
            );
        }
        v.finish()?;
        Ok(EBillingSettings {
            claim_format: s.claim_format,
            payer_id,
            payer_name,
            claim_filing_indicator,
            submitter,
            receiver,
            interchange,
            application,
            usage: s.usage,
            acknowledgement_requested: s.acknowledgement_requested,
            requirements: s.requirements,
        })
    }

    /// The submitter key control numbers are counted under: ISA05 and ISA06.
    pub fn submitter_key(&self) -> String {
        format!(
            "{}:{}",
            self.interchange.sender_qualifier, self.interchange.sender_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EBillingSettings {
        serde_json::from_value(serde_json::json!({
            "payer_id": " 87726 ", "payer_name": "UNITEDHEALTHCARE", "claim_filing_indicator": "ci",
            "submitter": {"name": "SPRINGFIELD GENERAL", "id": "S123", "contact": "BILLING DESK", "phone": "(217) 555-1234"},
            "receiver": {"name": "CLEARINGHOUSE", "id": "R987"},
            "interchange": {"sender_qualifier": "zz", "sender_id": "S123", "receiver_qualifier": "ZZ", "receiver_id": "R987"},
            "application": {"sender_code": "S123", "receiver_code": "R987"}
        }))
        .expect("settings")
    }

    #[test]
    fn good_settings_are_kept_trimmed_with_their_defaults() {
        let s = settings().check().expect("valid");
        assert_eq!(s.payer_id, "87726");
        assert_eq!(s.claim_filing_indicator, "CI");
        assert_eq!(s.interchange.sender_qualifier, "ZZ");
        assert_eq!(s.submitter.phone.as_deref(), Some("2175551234"));
        assert_eq!(
            (
                s.claim_format,
                s.usage,
                s.requirements.max_patient_control_number
            ),
            (FormatChoice::Auto, Usage::Test, 20)
        );
        assert_eq!(s.submitter_key(), "ZZ:S123");
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut s = settings();
        s.payer_id = "8".to_owned();
        s.claim_filing_indicator = "XX".to_owned();
        s.submitter.phone = Some("555-1234".to_owned());
        s.submitter.email = Some("billing desk".to_owned());
        s.interchange.sender_qualifier = "99".to_owned();
        s.interchange.sender_id = "A-VERY-LONG-SENDER-ID".to_owned();
        s.application.receiver_code = "R*9".to_owned();
        s.requirements.max_patient_control_number = 40;
        let mut fields: Vec<String> = s
            .check()
            .expect_err("invalid")
            .into_iter()
            .map(|e| e.field)
            .collect();
        fields.sort();
        assert_eq!(
            fields,
            [
                "application.receiver_code",
                "claim_filing_indicator",
                "interchange.sender_id",
                "interchange.sender_qualifier",
                "payer_id",
                "requirements.max_patient_control_number",
                "submitter.email",
                "submitter.phone",
            ]
        );
    }
}
