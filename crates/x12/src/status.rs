//! Claim statuses from the payer's side: the 277CA claim acknowledgement (005010X214), sent
//! after a claim file is received, and the 277 claim status response (005010X212), the answer
//! to a 276. Both nest payer (HL 20), receiver or submitter (21), provider (19) and the claim's
//! patient (`PT`, or subscriber 22 / dependent 23 in a 277); at the claim's level, TRN*2 carries
//! the patient control number the claim was sent with, STC its statuses and REF*1K the
//! payer's claim control number.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::read::{ContentError, Interchange, Segment, invalid, optional};

/// One STC: a status of the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// STC01-1, the category (`A1` received, `A2` accepted into adjudication, `A3` returned as
    /// unprocessable, `A6`/`A7`/`A8` rejected for missing, invalid or related information; `F`
    /// finalized, `P` pending ... in a 277).
    pub category: String,
    /// STC01-2, the status code (`20` accepted for processing, `21` missing or invalid
    /// information, `562` entity's NPI ...).
    pub code: String,
    /// STC01-3, the entity the status is about (`85` billing provider, `IL` subscriber ...).
    pub entity: Option<String>,
    /// STC02, the status's date.
    pub date: Option<NaiveDate>,
    /// STC03, `WQ` accepted or `U` rejected (277CA).
    pub action: Option<String>,
    /// STC04, the claim's charge.
    pub amount: Option<Decimal>,
}

/// What a 277 says about one claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimStatus {
    /// The patient control number (CLM01) the claim was sent with: REF*EJ when the 277 has it
    /// (a 277 answering a 276 echoes the 276's patient account number there), else TRN02 (a
    /// 277CA's trace is the CLM01 itself).
    pub patient_control_number: String,
    /// TRN02 at the claim's level: a 277CA's CLM01, or the trace number a 276 asked with.
    pub trace: String,
    /// REF*1K: the payer's claim control number.
    pub payer_claim_number: Option<String>,
    /// REF*D9: the clearinghouse's trace number.
    pub clearinghouse_trace: Option<String>,
    /// The statuses, in order.
    pub statuses: Vec<Status>,
    /// The TRN's position in the interchange.
    pub position: usize,
}

impl ClaimStatus {
    /// Whether the payer took the claim into adjudication (277CA `A2`) or has it (277 `F`, `P`).
    pub fn accepted(&self) -> bool {
        self.statuses.iter().any(|s| {
            s.category == "A2" || s.category.starts_with('F') || s.category.starts_with('P')
        }) && !self.rejected()
    }

    /// Whether the claim was refused (`A3`, `A6`, `A7`, `A8`, or STC03 `U`).
    pub fn rejected(&self) -> bool {
        self.statuses.iter().any(|s| {
            matches!(s.category.as_str(), "A3" | "A6" | "A7" | "A8")
                || s.action.as_deref() == Some("U")
        })
    }
}

/// One 277: the payer and its claims' statuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// ST03: `005010X214` (277CA) or `005010X212` (277).
    pub version: String,
    /// BHT03: the payer's reference of this report.
    pub reference: String,
    /// NM1*PR03.
    pub payer_name: String,
    /// NM1*PR09.
    pub payer_id: String,
    /// The claims, in file order.
    pub claims: Vec<ClaimStatus>,
}

fn stc(s: &Segment<'_>) -> Result<Status, ContentError> {
    let category = s.component(1, 1);
    if category.is_empty() {
        return Err(invalid(s, "STC01-1, the status category, is empty"));
    }
    let date = match s.element(2) {
        "" => None,
        raw => Some(
            NaiveDate::parse_from_str(raw, "%Y%m%d")
                .map_err(|_| invalid(s, format!("STC02 `{raw}` is not a CCYYMMDD date")))?,
        ),
    };
    let amount = match s.element(4) {
        "" => None,
        raw => Some(
            raw.parse::<Decimal>()
                .map_err(|_| invalid(s, format!("STC04 `{raw}` is not an amount")))?,
        ),
    };
    Ok(Status {
        category: category.to_owned(),
        code: s.component(1, 2).to_owned(),
        entity: optional(s.component(1, 3)),
        date,
        action: optional(s.element(3)),
        amount,
    })
}

/// Reads every 277 of an interchange.
pub fn read_277(interchange: &Interchange<'_>) -> Result<Vec<StatusReport>, ContentError> {
    let mut out = Vec::new();
    for tx in interchange
        .groups
        .iter()
        .flat_map(|g| &g.transactions)
        .filter(|t| t.id() == "277")
    {
        let mut report = StatusReport {
            version: tx.header.element(3).to_owned(),
            reference: String::new(),
            payer_name: String::new(),
            payer_id: String::new(),
            claims: Vec::new(),
        };
        // Whether the current HL is a claim's level (patient, subscriber or dependent).
        let mut claim_level = false;
        for s in &tx.segments {
            match s.id {
                "BHT" => report.reference = s.element(3).to_owned(),
                "HL" => claim_level = matches!(s.element(3), "PT" | "22" | "23"),
                "NM1" if s.element(1) == "PR" => {
                    report.payer_name = s.element(3).to_owned();
                    report.payer_id = s.element(9).to_owned();
                }
                "TRN" if claim_level && s.element(1) == "2" => {
                    report.claims.push(ClaimStatus {
                        patient_control_number: s.element(2).to_owned(),
                        trace: s.element(2).to_owned(),
                        payer_claim_number: None,
                        clearinghouse_trace: None,
                        statuses: Vec::new(),
                        position: s.position,
                    });
                }
                "STC" if claim_level => {
                    let claim = report
                        .claims
                        .last_mut()
                        .ok_or_else(|| invalid(s, "STC before the claim's TRN"))?;
                    claim.statuses.push(stc(s)?);
                }
                "REF" if claim_level => {
                    if let Some(claim) = report.claims.last_mut() {
                        match s.element(1) {
                            "1K" => claim.payer_claim_number = optional(s.element(2)),
                            "D9" => claim.clearinghouse_trace = optional(s.element(2)),
                            "EJ" if !s.element(2).is_empty() => {
                                claim.patient_control_number = s.element(2).to_owned();
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(c) = report.claims.iter().find(|c| c.statuses.is_empty()) {
            return Err(ContentError::Invalid {
                segment: "TRN".into(),
                position: c.position,
                problem: format!("claim {} has no status (STC)", c.patient_control_number),
            });
        }
        out.push(report);
    }
    if out.is_empty() {
        return Err(ContentError::Missing("277"));
    }
    Ok(out)
}
