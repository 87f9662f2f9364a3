//! The 835 health care claim payment/advice (005010X221A1): what a payer paid, claim by claim
//! and line by line, with every adjustment's group, reason and amount, and the provider-level
//! adjustments of the payment.
//!
//! [`read_835`] reads every 835 transaction of an interchange and refuses one that does not
//! balance, naming the segment: each service line (SVC02 − its CAS = SVC03), each claim (CLP03 −
//! its CAS and its lines' CAS = CLP04; with lines, ΣSVC02 = CLP03 and ΣSVC03 = CLP04) and the
//! payment (BPR02 = ΣCLP04 − ΣPLB). Amounts are exact decimals; a reversal (CLP02 `22`) is
//! negative and balances the same way.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::read::{ContentError, Interchange, Segment, Transaction, invalid, optional};

/// One CAS amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CasAdjustment {
    /// CAS01: `CO`, `PR`, `OA`, `PI`, `CR`.
    pub group: String,
    /// The claim adjustment reason code (CARC).
    pub reason: String,
    /// The amount (positive reduces the payment).
    pub amount: Decimal,
    /// The quantity, when given.
    pub quantity: Option<Decimal>,
}

/// One service line's payment (2110).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePayment {
    /// SVC01 as given (`HC:99213:25`), components split.
    pub procedure: Vec<String>,
    /// SVC02.
    pub charge: Decimal,
    /// SVC03.
    pub paid: Decimal,
    /// SVC04: the revenue code (institutional).
    pub revenue_code: Option<String>,
    /// SVC05 units paid (1 when absent).
    pub units: Decimal,
    /// DTM*472 (or 150, the first of a range).
    pub date: Option<NaiveDate>,
    /// REF*6R: the line control number the claim sent.
    pub control_number: Option<String>,
    /// AMT*B6: the allowed amount.
    pub allowed: Option<Decimal>,
    /// CAS at line level.
    pub adjustments: Vec<CasAdjustment>,
    /// LQ*HE: remittance advice remark codes (RARC).
    pub remarks: Vec<String>,
    /// The SVC's position in the interchange.
    pub position: usize,
}

/// One claim's payment (2100).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPayment {
    /// CLP01: the patient control number the claim sent (Carebill's invoice number).
    pub patient_control_number: String,
    /// CLP02: `1` processed as primary, `2` secondary, `3` tertiary, `4` denied, `19`–`23`
    /// forwarded / not our claim / reversal (`22`).
    pub status: String,
    /// CLP03.
    pub charge: Decimal,
    /// CLP04.
    pub paid: Decimal,
    /// CLP05: the patient's responsibility.
    pub patient_responsibility: Decimal,
    /// CLP06: the claim filing indicator.
    pub filing_indicator: String,
    /// CLP07: the payer's claim control number (REF*F8 of a later replacement).
    pub payer_claim_number: String,
    /// CLP09: the frequency code.
    pub frequency: Option<String>,
    /// CAS at claim level.
    pub adjustments: Vec<CasAdjustment>,
    /// NM1*QC: the patient's name, family first.
    pub patient_name: Option<String>,
    /// NM1*QC09 or NM1*IL09: the member id.
    pub member_id: Option<String>,
    /// MOA/MIA remark codes.
    pub remarks: Vec<String>,
    /// The service lines.
    pub lines: Vec<LinePayment>,
    /// The CLP's position in the interchange.
    pub position: usize,
}

impl ClaimPayment {
    /// Whether the payer denied the claim (CLP02 `4`).
    pub fn is_denied(&self) -> bool {
        self.status == "4"
    }

    /// Whether this is the reversal of an earlier payment (CLP02 `22`).
    pub fn is_reversal(&self) -> bool {
        self.status == "22"
    }

    /// Every adjustment of the claim, its own and its lines'.
    pub fn all_adjustments(&self) -> impl Iterator<Item = &CasAdjustment> {
        self.adjustments
            .iter()
            .chain(self.lines.iter().flat_map(|l| &l.adjustments))
    }
}

/// One provider-level adjustment (PLB): not tied to a claim (interest, a forward balance, a
/// withholding ...). A positive amount reduces the payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAdjustment {
    /// PLB01: the provider's id.
    pub provider_id: String,
    /// PLB02: the end of the provider's fiscal period.
    pub fiscal_period_end: Option<NaiveDate>,
    /// The reason code (`WO` overpayment recovery, `L6` interest, `FB` forward balance ...).
    pub reason: String,
    /// Its reference (an earlier claim's number, say).
    pub reference: Option<String>,
    /// The amount.
    pub amount: Decimal,
}

/// One 835 transaction: one payment and what it pays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remittance {
    /// BPR01: `I` remittance with payment, `C` payment with remittance, `H` advice only, ...
    pub handling: String,
    /// BPR02: the payment's total.
    pub total: Decimal,
    /// BPR03: `C` credit, `D` debit.
    pub credit_debit: String,
    /// BPR04: `ACH`, `CHK`, `BOP`, `FWT`, `NON`.
    pub method: String,
    /// BPR16: the payment's (or check's) date.
    pub paid_on: NaiveDate,
    /// TRN02: the check or EFT trace number, unique per payer.
    pub trace_number: String,
    /// TRN03: the payer's id (`1` and its EIN), REF*2U overrides where given.
    pub payer_id: String,
    /// N1*PR02.
    pub payer_name: String,
    /// N1*PE02.
    pub payee_name: String,
    /// N1*PE04 with N1*PE03 `XX`: the payee's NPI.
    pub payee_npi: Option<String>,
    /// The claims paid, in file order.
    pub claims: Vec<ClaimPayment>,
    /// PLB.
    pub provider_adjustments: Vec<ProviderAdjustment>,
    /// The ST's control number.
    pub transaction_control_number: String,
}

fn amount(s: &Segment<'_>, n: usize) -> Result<Decimal, ContentError> {
    let raw = s.element(n);
    raw.parse::<Decimal>()
        .map_err(|_| invalid(s, format!("element {n} `{raw}` is not an amount")))
}

fn amount_or_zero(s: &Segment<'_>, n: usize) -> Result<Decimal, ContentError> {
    if s.element(n).is_empty() {
        Ok(Decimal::ZERO)
    } else {
        amount(s, n)
    }
}

fn date(s: &Segment<'_>, n: usize) -> Result<NaiveDate, ContentError> {
    let raw = s.element(n);
    NaiveDate::parse_from_str(raw, "%Y%m%d")
        .map_err(|_| invalid(s, format!("element {n} `{raw}` is not a CCYYMMDD date")))
}

fn cas(s: &Segment<'_>) -> Result<Vec<CasAdjustment>, ContentError> {
    let group = s.element(1);
    if !matches!(group, "CO" | "PR" | "OA" | "PI" | "CR") {
        return Err(invalid(
            s,
            format!("CAS01 `{group}` is not an adjustment group (CO, PR, OA, PI, CR)"),
        ));
    }
    let mut out = Vec::new();
    for triplet in 0..6 {
        let at = 2 + triplet * 3;
        let reason = s.element(at);
        if reason.is_empty() {
            continue;
        }
        out.push(CasAdjustment {
            group: group.to_owned(),
            reason: reason.to_owned(),
            amount: amount(s, at + 1)?,
            quantity: if s.element(at + 2).is_empty() {
                None
            } else {
                Some(amount(s, at + 2)?)
            },
        });
    }
    if out.is_empty() {
        return Err(invalid(s, "CAS without a reason and amount"));
    }
    Ok(out)
}

/// Reads every 835 of an interchange, each balanced.
pub fn read_835(interchange: &Interchange<'_>) -> Result<Vec<Remittance>, ContentError> {
    let mut out = Vec::new();
    for group in &interchange.groups {
        for tx in &group.transactions {
            if tx.id() == "835" {
                out.push(transaction(tx)?);
            }
        }
    }
    if out.is_empty() {
        return Err(ContentError::Missing("835"));
    }
    Ok(out)
}

/// Where the reader is in the transaction.
enum Level {
    Header,
    Payer,
    Payee,
    Claim,
    Line,
}

fn transaction(tx: &Transaction<'_>) -> Result<Remittance, ContentError> {
    let mut segments = tx.segments.iter();
    let bpr = segments
        .next()
        .filter(|s| s.id == "BPR")
        .ok_or_else(|| invalid(&tx.header, "BPR must follow ST"))?;
    let trn = segments
        .next()
        .filter(|s| s.id == "TRN")
        .ok_or_else(|| invalid(bpr, "TRN must follow BPR"))?;
    let mut r = Remittance {
        handling: bpr.element(1).to_owned(),
        total: amount(bpr, 2)?,
        credit_debit: bpr.element(3).to_owned(),
        method: bpr.element(4).to_owned(),
        paid_on: date(bpr, 16)?,
        trace_number: trn.element(2).to_owned(),
        payer_id: trn.element(3).to_owned(),
        payer_name: String::new(),
        payee_name: String::new(),
        payee_npi: None,
        claims: Vec::new(),
        provider_adjustments: Vec::new(),
        transaction_control_number: tx.control_number().to_owned(),
    };
    if r.trace_number.is_empty() {
        return Err(invalid(
            trn,
            "TRN02, the check or EFT trace number, is empty",
        ));
    }
    let mut level = Level::Header;
    for s in segments {
        match (s.id, &level) {
            ("N1", _) if s.element(1) == "PR" => {
                r.payer_name = s.element(2).to_owned();
                level = Level::Payer;
            }
            ("N1", _) if s.element(1) == "PE" => {
                r.payee_name = s.element(2).to_owned();
                r.payee_npi = (s.element(3) == "XX").then(|| s.element(4).to_owned());
                level = Level::Payee;
            }
            ("REF", Level::Payer) if s.element(1) == "2U" => {
                r.payer_id = s.element(2).to_owned();
            }
            ("LX", _) => level = Level::Payee,
            ("CLP", _) => {
                r.claims.push(ClaimPayment {
                    patient_control_number: s.element(1).to_owned(),
                    status: s.element(2).to_owned(),
                    charge: amount(s, 3)?,
                    paid: amount(s, 4)?,
                    patient_responsibility: amount_or_zero(s, 5)?,
                    filing_indicator: s.element(6).to_owned(),
                    payer_claim_number: s.element(7).to_owned(),
                    frequency: optional(s.element(9)),
                    adjustments: Vec::new(),
                    patient_name: None,
                    member_id: None,
                    remarks: Vec::new(),
                    lines: Vec::new(),
                    position: s.position,
                });
                if s.element(1).is_empty() {
                    return Err(invalid(s, "CLP01, the patient control number, is empty"));
                }
                level = Level::Claim;
            }
            ("CAS", Level::Claim) => {
                let claim = r
                    .claims
                    .last_mut()
                    .ok_or_else(|| invalid(s, "CAS outside a claim"))?;
                claim.adjustments.extend(cas(s)?);
            }
            ("NM1", Level::Claim) => {
                let claim = r
                    .claims
                    .last_mut()
                    .ok_or_else(|| invalid(s, "NM1 outside a claim"))?;
                match s.element(1) {
                    "QC" => {
                        claim.patient_name = Some(
                            [s.element(3), s.element(4)]
                                .iter()
                                .filter(|p| !p.is_empty())
                                .copied()
                                .collect::<Vec<_>>()
                                .join(", "),
                        );
                        if claim.member_id.is_none() {
                            claim.member_id = optional(s.element(9));
                        }
                    }
                    "IL" => claim.member_id = optional(s.element(9)),
                    _ => {}
                }
            }
            ("MOA" | "MIA", Level::Claim) => {
                let claim = r
                    .claims
                    .last_mut()
                    .ok_or_else(|| invalid(s, "outside a claim"))?;
                // The remark codes of MOA are elements 3 to 7 (MIA: 5, 20-24); any that look
                // like RARCs (a letter and digits) are kept.
                claim.remarks.extend(
                    s.elements
                        .iter()
                        .filter(|e| {
                            e.len() >= 2
                                && e.starts_with(|c: char| c.is_ascii_uppercase())
                                && e[1..].chars().all(|c| c.is_ascii_digit())
                        })
                        .map(|e| (*e).to_owned()),
                );
            }
            ("SVC", Level::Claim | Level::Line) => {
                let claim = r
                    .claims
                    .last_mut()
                    .ok_or_else(|| invalid(s, "SVC outside a claim"))?;
                claim.lines.push(LinePayment {
                    procedure: s.components(1).iter().map(|c| (*c).to_owned()).collect(),
                    charge: amount(s, 2)?,
                    paid: amount(s, 3)?,
                    revenue_code: optional(s.element(4)),
                    units: if s.element(5).is_empty() {
                        Decimal::ONE
                    } else {
                        amount(s, 5)?
                    },
                    date: None,
                    control_number: None,
                    allowed: None,
                    adjustments: Vec::new(),
                    remarks: Vec::new(),
                    position: s.position,
                });
                level = Level::Line;
            }
            (_, Level::Line) if matches!(s.id, "DTM" | "CAS" | "REF" | "AMT" | "LQ") => {
                let line = r
                    .claims
                    .last_mut()
                    .and_then(|c| c.lines.last_mut())
                    .ok_or_else(|| invalid(s, "outside a service line"))?;
                match (s.id, s.element(1)) {
                    ("DTM", "472" | "150") if line.date.is_none() => line.date = Some(date(s, 2)?),
                    ("CAS", _) => line.adjustments.extend(cas(s)?),
                    ("REF", "6R") => line.control_number = optional(s.element(2)),
                    ("AMT", "B6") => line.allowed = Some(amount(s, 2)?),
                    ("LQ", "HE") => line.remarks.push(s.element(2).to_owned()),
                    _ => {}
                }
            }
            ("PLB", _) => {
                for pair in 0..6 {
                    let at = 3 + pair * 2;
                    if s.element(at).is_empty() {
                        continue;
                    }
                    r.provider_adjustments.push(ProviderAdjustment {
                        provider_id: s.element(1).to_owned(),
                        fiscal_period_end: if s.element(2).is_empty() {
                            None
                        } else {
                            Some(date(s, 2)?)
                        },
                        reason: s.component(at, 1).to_owned(),
                        reference: optional(s.component(at, 2)),
                        amount: amount(s, at + 1)?,
                    });
                }
            }
            _ => {}
        }
    }
    if r.payer_name.is_empty() {
        return Err(invalid(
            &tx.trailer,
            "no N1*PR names the payer (loop 1000A)",
        ));
    }
    if r.payee_name.is_empty() {
        return Err(invalid(
            &tx.trailer,
            "no N1*PE names the payee (loop 1000B)",
        ));
    }
    balance(&r, bpr)?;
    Ok(r)
}

fn unbalanced(segment: &str, position: usize, expected: Decimal, found: Decimal) -> ContentError {
    ContentError::Unbalanced {
        segment: segment.to_owned(),
        position,
        expected,
        found,
    }
}

fn balance(r: &Remittance, bpr: &Segment<'_>) -> Result<(), ContentError> {
    for claim in &r.claims {
        for line in &claim.lines {
            let expected = line.charge - line.adjustments.iter().map(|a| a.amount).sum::<Decimal>();
            if expected != line.paid {
                return Err(unbalanced("SVC", line.position, expected, line.paid));
            }
        }
        let expected = claim.charge - claim.all_adjustments().map(|a| a.amount).sum::<Decimal>();
        if expected != claim.paid {
            return Err(unbalanced("CLP", claim.position, expected, claim.paid));
        }
        if !claim.lines.is_empty() {
            let charged: Decimal = claim.lines.iter().map(|l| l.charge).sum();
            if charged != claim.charge {
                return Err(unbalanced("CLP", claim.position, charged, claim.charge));
            }
        }
    }
    let paid: Decimal = r.claims.iter().map(|c| c.paid).sum();
    let withheld: Decimal = r.provider_adjustments.iter().map(|p| p.amount).sum();
    let expected = paid - withheld;
    if expected != r.total {
        return Err(unbalanced("BPR", bpr.position, expected, r.total));
    }
    Ok(())
}
