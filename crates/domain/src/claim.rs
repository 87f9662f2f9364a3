//! A claim to a US payer, as an 837 carries it: who bills, who is insured and who was treated,
//! the payer, the diagnoses, the providers and the service lines.
//!
//! Every field is of a type that is valid by construction ([`crate::claim_codes`]), so a claim
//! file written from these values cannot fail a clearinghouse's check for a value's shape or
//! check digit. What is not known yet is not representable here: the e-billing's check turns
//! what master data holds into a `Claim` or into the list of what is missing, and only whole
//! claims reach the writer.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::claim_codes::{
    Ein, Icd10Cm, Modifier, Npi, PlaceOfService, ProcedureCode, RevenueCode, Taxonomy, UsState,
    ZipCode,
};

/// Professional (837P, X222A1) or institutional (837I, X223A2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimFormat {
    /// 837P: physicians, outpatient and home care services.
    Professional,
    /// 837I: hospital stays, long-term care, outpatient hospital bills.
    Institutional,
}

/// CLM05-3, the claim frequency code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Frequency {
    /// `1`: the first claim for these services.
    Original,
    /// `7`: replaces a claim the payer has (REF*F8 names it).
    Replacement,
    /// `8`: voids a claim the payer has (REF*F8 names it).
    Void,
}

impl Frequency {
    /// The code.
    pub fn code(self) -> &'static str {
        match self {
            Frequency::Original => "1",
            Frequency::Replacement => "7",
            Frequency::Void => "8",
        }
    }

    /// The frequency of a code: `1`, `7` or `8`.
    pub fn of_code(code: &str) -> Option<Frequency> {
        match code {
            "1" => Some(Frequency::Original),
            "7" => Some(Frequency::Replacement),
            "8" => Some(Frequency::Void),
            _ => None,
        }
    }

    /// In words, as the API answers it: `original`, `replacement`, `void`.
    pub fn word(self) -> &'static str {
        match self {
            Frequency::Original => "original",
            Frequency::Replacement => "replacement",
            Frequency::Void => "void",
        }
    }
}

/// A US postal address (N3/N4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsAddress {
    /// N301.
    pub line1: String,
    /// N302.
    pub line2: Option<String>,
    /// N401.
    pub city: String,
    /// N402.
    pub state: UsState,
    /// N403.
    pub zip: ZipCode,
}

/// DMG03.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// `F`.
    Female,
    /// `M`.
    Male,
    /// `U`.
    Unknown,
}

impl Sex {
    /// The code.
    pub fn code(self) -> &'static str {
        match self {
            Sex::Female => "F",
            Sex::Male => "M",
            Sex::Unknown => "U",
        }
    }
}

/// A person's name (NM103–NM105).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName {
    /// NM103.
    pub family: String,
    /// NM104.
    pub given: Option<String>,
    /// NM105.
    pub middle: Option<String>,
}

/// A person with what a claim says about them: name, address, birth date and sex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The name.
    pub name: PersonName,
    /// N3/N4.
    pub address: UsAddress,
    /// DMG02.
    pub birth_date: NaiveDate,
    /// DMG03.
    pub sex: Sex,
}

/// The patient's relationship to the insured (SBR02 / PAT01); in JSON `self`, `spouse`,
/// `child`, `employee`, `life_partner`, `other`, `unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// The patient is the subscriber: SBR02 `18`, no patient loop.
    #[serde(rename = "self")]
    SelfInsured,
    /// `01`.
    Spouse,
    /// `19`.
    Child,
    /// `20`.
    Employee,
    /// `53`.
    LifePartner,
    /// `G8`.
    Other,
    /// `21`.
    Unknown,
}

impl Relationship {
    /// PAT01 (or SBR02 `18` for self).
    pub fn code(self) -> &'static str {
        match self {
            Relationship::SelfInsured => "18",
            Relationship::Spouse => "01",
            Relationship::Child => "19",
            Relationship::Employee => "20",
            Relationship::LifePartner => "53",
            Relationship::Other => "G8",
            Relationship::Unknown => "21",
        }
    }
}

/// The insured person and their policy (loop 2000B/2010BA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// NM109 (MI): the member id on the insurance card.
    pub member_id: String,
    /// SBR03: the group or policy number, when the plan has one.
    pub group_number: Option<String>,
    /// The subscriber.
    pub person: Person,
}

/// Which payer this claim asks first, second or third (SBR01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Responsibility {
    /// `P`.
    Primary,
    /// `S`.
    Secondary,
    /// `T`.
    Tertiary,
}

impl Responsibility {
    /// The code.
    pub fn code(self) -> &'static str {
        match self {
            Responsibility::Primary => "P",
            Responsibility::Secondary => "S",
            Responsibility::Tertiary => "T",
        }
    }
}

/// The payer a claim goes to (2010BB), or a payer that adjudicated before (2330B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payer {
    /// NM103.
    pub name: String,
    /// NM109 (PI): the payer id the clearinghouse routes on.
    pub payer_id: String,
    /// SBR09, the claim filing indicator (`CI` commercial, `MB` Medicare part B ...).
    pub filing_indicator: String,
}

/// The organisation that bills (2010AA): the location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingProvider {
    /// NM103.
    pub name: String,
    /// NM109 (XX).
    pub npi: Npi,
    /// PRV03, when the payer requires it.
    pub taxonomy: Option<Taxonomy>,
    /// N3/N4 (a street address with a ZIP+4).
    pub address: UsAddress,
    /// REF*EI.
    pub ein: Ein,
}

/// A practitioner named on a claim (rendering, referring, attending ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practitioner {
    /// NM103–NM105.
    pub name: PersonName,
    /// NM109 (XX).
    pub npi: Npi,
    /// PRV03, when the payer requires it.
    pub taxonomy: Option<Taxonomy>,
}

/// A diagnosis of the claim, with its present-on-admission indicator on inpatient claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// The code.
    pub code: Icd10Cm,
    /// `Y`, `N`, `U`, `W` (837I only).
    pub present_on_admission: Option<char>,
}

/// One service line (2400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceLine {
    /// REF*6R: the line's own id, returned by the payer in the 835's REF*6R.
    pub control_number: String,
    /// SV101-2 / SV202-2 (an institutional line may have none, its revenue code says it).
    pub procedure: Option<ProcedureCode>,
    /// SV101-3..6 / SV202-3..6, at most four.
    pub modifiers: Vec<Modifier>,
    /// SV201, institutional claims only.
    pub revenue_code: Option<RevenueCode>,
    /// SV102 / SV203: the line's full charge.
    pub charge: Decimal,
    /// SV104 / SV205.
    pub units: Decimal,
    /// SV103 / SV204: `UN` units, `MJ` minutes, `DA` days.
    pub unit_basis: &'static str,
    /// DTP*472.
    pub date: NaiveDate,
    /// SV107: 1-based positions in the claim's diagnoses, at most four (837P).
    pub diagnosis_pointers: Vec<u8>,
}

/// What is particular to an institutional claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Institutional {
    /// CLM05-1: the first two digits of the type of bill (`11` inpatient hospital, `13`
    /// outpatient, `21` skilled nursing).
    pub facility_type: String,
    /// DTP*434: the statement period.
    pub statement_from: NaiveDate,
    /// DTP*434 (to).
    pub statement_to: NaiveDate,
    /// Inpatient stays: admission date and hour (DTP*435), type and source (CL101, CL102),
    /// admitting diagnosis (HI*ABJ).
    pub admission: Option<Admission>,
    /// CL103, the NUBC patient (discharge) status every institutional claim carries (`01`
    /// home, `03` skilled nursing, `30` still a patient ...).
    pub patient_status: String,
    /// 2310A: the attending provider (required).
    pub attending: Practitioner,
}

/// The admission of an inpatient claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    /// DTP*435 (CCYYMMDDHHMM).
    pub at: chrono::NaiveDateTime,
    /// CL101, NUBC admission type (`1` emergency ... `9`).
    pub kind: String,
    /// CL102, NUBC point of origin.
    pub source: String,
    /// HI*ABJ.
    pub admitting_diagnosis: Option<Icd10Cm>,
}

/// A payer that adjudicated this claim before (2320/2330B), and what it decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherPayer {
    /// SBR01 of the other payer's responsibility.
    pub responsibility: Responsibility,
    /// 2330B.
    pub payer: Payer,
    /// 2330A: the subscriber of that policy.
    pub subscriber: Subscriber,
    /// Whether the patient is that policy's subscriber (SBR02 `18`), else the relationship.
    pub relationship: Relationship,
    /// AMT*D: what it paid on the claim.
    pub paid: Decimal,
    /// DTP*573: when it adjudicated.
    pub adjudicated_on: NaiveDate,
    /// Claim-level adjustments (CAS).
    pub adjustments: Vec<Adjustment>,
    /// Its adjudication of each line (2430), by the line's control number.
    pub lines: Vec<LineAdjudication>,
}

/// One CAS amount: group (`CO` contractual, `PR` patient responsibility, `OA` other, `PI`
/// payer initiated, `CR` correction), claim adjustment reason code and amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    /// CAS01.
    pub group: String,
    /// CAS02 (CARC).
    pub reason: String,
    /// CAS03.
    pub amount: Decimal,
}

/// A prior payer's decision on one service line (2430).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineAdjudication {
    /// The line's control number.
    pub control_number: String,
    /// SVD02.
    pub paid: Decimal,
    /// SVD05: units paid.
    pub units: Decimal,
    /// CAS at line level.
    pub adjustments: Vec<Adjustment>,
}

/// One claim: an invoice to one payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// CLM01: the patient control number (the invoice number), returned in 277 and 835.
    pub patient_control_number: String,
    /// 837P or 837I.
    pub format: ClaimFormat,
    /// CLM05-3.
    pub frequency: Frequency,
    /// REF*F8: the payer's number of the claim replaced or voided.
    pub payer_claim_number: Option<String>,
    /// Who bills.
    pub billing_provider: BillingProvider,
    /// The payer asked.
    pub payer: Payer,
    /// SBR01.
    pub responsibility: Responsibility,
    /// The insured.
    pub subscriber: Subscriber,
    /// The patient's relationship to the subscriber; the patient's own details when not self.
    pub relationship: Relationship,
    /// The patient, when not the subscriber (2000C/2010CA).
    pub patient: Option<Person>,
    /// CLM05-1 of a professional claim.
    pub place_of_service: Option<PlaceOfService>,
    /// HI: principal first (837P at most 12, 837I principal and 24 others).
    pub diagnoses: Vec<Diagnosis>,
    /// 2310B (837P) / 2310D (837I) rendering provider, when not the billing provider.
    pub rendering: Option<Practitioner>,
    /// 2310A (837P) referring provider, when the payer requires it.
    pub referring: Option<Practitioner>,
    /// What an institutional claim needs besides.
    pub institutional: Option<Institutional>,
    /// The service lines (837P at most 50, 837I at most 999).
    pub lines: Vec<ServiceLine>,
    /// Payers that adjudicated before (a secondary or tertiary claim).
    pub other_payers: Vec<OtherPayer>,
}

impl Claim {
    /// CLM02: the sum of the lines' charges.
    pub fn total_charge(&self) -> Decimal {
        self.lines.iter().map(|l| l.charge).sum()
    }
}

/// What a free string names in the practitioner registry (consumptions and episodes name
/// practitioners by what the clinical system wrote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Named<'a> {
    /// Exactly one practitioner.
    One(&'a crate::events::PractitionerRef),
    /// Nobody: the registry has no such code, `his` identifier or NPI.
    Unknown,
    /// More than one practitioner at the first rule that matched: never a guess.
    Ambiguous(Vec<&'a crate::events::PractitionerRef>),
}

/// The practitioner a free string names: the one whose code equals it, else whose `his`
/// identifier does, else whose NPI does (compared trimmed, ignoring ASCII case); zero matches
/// is [`Named::Unknown`], two at the first rule that matches any [`Named::Ambiguous`].
pub fn named<'a>(
    name: &str,
    registry: impl IntoIterator<Item = &'a crate::events::PractitionerRef> + Clone,
) -> Named<'a> {
    let name = name.trim();
    let same = |s: &str| s.trim().eq_ignore_ascii_case(name);
    let rules: [&dyn Fn(&crate::events::PractitionerRef) -> bool; 3] = [
        &|p| same(&p.code),
        &|p| {
            p.identifiers
                .iter()
                .any(|i| i.system == "his" && same(&i.value))
        },
        &|p| p.npi.as_deref().is_some_and(same),
    ];
    for rule in rules {
        let found: Vec<_> = registry.clone().into_iter().filter(|p| rule(p)).collect();
        match found.len() {
            0 => continue,
            1 => return Named::One(found[0]),
            _ => return Named::Ambiguous(found),
        }
    }
    Named::Unknown
}

#[cfg(test)]
mod naming {
    use super::*;
    use crate::events::{PractitionerIdentifier, PractitionerKind, PractitionerRef};
    use crate::ids::PractitionerId;

    fn practitioner(code: &str, his: Option<&str>, npi: Option<&str>) -> PractitionerRef {
        PractitionerRef {
            id: PractitionerId::new(),
            code: code.to_owned(),
            kind: PractitionerKind::Person,
            family_name: code.to_owned(),
            given_name: None,
            middle_name: None,
            suffix: None,
            credentials: None,
            npi: npi.map(str::to_owned),
            taxonomy: None,
            specialty: None,
            active_from: None,
            active_to: None,
            identifiers: his
                .map(|v| PractitionerIdentifier {
                    system: "his".to_owned(),
                    value: v.to_owned(),
                })
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn a_code_wins_over_an_identifier_and_an_npi_and_two_matches_are_never_a_guess() {
        let rossi = practitioner("DR-ROSSI", Some("4711"), Some("1234567893"));
        let lab = practitioner("LAB", Some("DR-ROSSI"), None);
        let twin_a = practitioner("A", Some("77"), None);
        let twin_b = practitioner("B", Some("77"), None);
        let all = [rossi.clone(), lab.clone(), twin_a.clone(), twin_b.clone()];
        assert_eq!(named(" dr-rossi ", &all), Named::One(&rossi), "code first");
        assert_eq!(named("4711", &all), Named::One(&rossi), "then the HIS's id");
        assert_eq!(
            named("1234567893", &all),
            Named::One(&rossi),
            "then the NPI"
        );
        assert_eq!(named("LAB", &all), Named::One(&lab));
        assert_eq!(named("77", &all), Named::Ambiguous(vec![&twin_a, &twin_b]));
        assert_eq!(named("DR-NOBODY", &all), Named::Unknown);
        assert_eq!(named("DR-ROSSI", &[] as &[PractitionerRef]), Named::Unknown);
    }
}
