//! The 999 implementation acknowledgement (005010X231A1): whether the receiver took each
//! transaction of a claim file, and, for one it refused, which segment and element were wrong.
//!
//! AK1 names the group by its GS06 and AK2 the transaction by its ST02, so a 999 matches the
//! claims of a file through [`crate::claims::WrittenTransaction`].

use crate::read::{ContentError, Interchange, Segment, invalid, optional};

/// An element the receiver found wrong (IK4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementError {
    /// IK401: its position in the segment (`2`, or `5:1` for a component).
    pub position: String,
    /// IK402: the data element's reference number, when given.
    pub reference: Option<String>,
    /// IK403: the error code (`1` required element missing, `7` invalid code value ...).
    pub code: String,
    /// IK404: the bad value, when given.
    pub value: Option<String>,
}

/// A segment the receiver found wrong (IK3), with its elements' errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentError {
    /// IK301: the segment id.
    pub segment: String,
    /// IK302: its position in the transaction (ST = 1).
    pub position: String,
    /// IK303: the loop it belongs to, when given.
    pub loop_id: Option<String>,
    /// IK304: the error code (`3` required segment missing, `8` segment has data element
    /// errors ...), when given.
    pub code: Option<String>,
    /// Its elements' errors.
    pub elements: Vec<ElementError>,
}

/// The verdict on one transaction (AK2 … IK5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionAck {
    /// AK201: the transaction set id (`837`).
    pub transaction_id: String,
    /// AK202: the ST02 it answers.
    pub control_number: String,
    /// IK501: `A` accepted, `E` accepted with errors, `R` rejected (`M`, `W`, `X` rejected too).
    pub status: String,
    /// IK502..: the transaction-level error codes.
    pub codes: Vec<String>,
    /// The segments in error.
    pub errors: Vec<SegmentError>,
}

impl TransactionAck {
    /// Whether the receiver took the transaction (accepted, possibly with errors it noted).
    pub fn accepted(&self) -> bool {
        matches!(self.status.as_str(), "A" | "E")
    }
}

/// One 999: the verdict on one functional group of a file we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    /// AK101: the group's functional id (`HC`).
    pub functional_id: String,
    /// AK102: the GS06 it answers.
    pub group_control_number: String,
    /// AK103: the guide of the group.
    pub version: Option<String>,
    /// The transactions' verdicts.
    pub transactions: Vec<TransactionAck>,
    /// AK901: `A`, `E`, `P` (partially accepted) or `R`.
    pub group_status: String,
    /// AK902–904: included, received, accepted.
    pub counts: (u32, u32, u32),
}

fn count(s: &Segment<'_>, n: usize) -> Result<u32, ContentError> {
    s.element(n)
        .parse()
        .map_err(|_| invalid(s, format!("element {n} `{}` is not a count", s.element(n))))
}

/// Reads every 999 of an interchange.
pub fn read_999(interchange: &Interchange<'_>) -> Result<Vec<Acknowledgement>, ContentError> {
    let mut out = Vec::new();
    for tx in interchange
        .groups
        .iter()
        .flat_map(|g| &g.transactions)
        .filter(|t| t.id() == "999")
    {
        let mut ack: Option<Acknowledgement> = None;
        for s in &tx.segments {
            match s.id {
                "AK1" => {
                    ack = Some(Acknowledgement {
                        functional_id: s.element(1).to_owned(),
                        group_control_number: s.element(2).to_owned(),
                        version: optional(s.element(3)),
                        transactions: Vec::new(),
                        group_status: String::new(),
                        counts: (0, 0, 0),
                    });
                }
                "AK2" => {
                    let a = ack.as_mut().ok_or_else(|| invalid(s, "AK2 before AK1"))?;
                    a.transactions.push(TransactionAck {
                        transaction_id: s.element(1).to_owned(),
                        control_number: s.element(2).to_owned(),
                        status: String::new(),
                        codes: Vec::new(),
                        errors: Vec::new(),
                    });
                }
                "IK3" => {
                    let t = ack
                        .as_mut()
                        .and_then(|a| a.transactions.last_mut())
                        .ok_or_else(|| invalid(s, "IK3 outside a transaction's verdict"))?;
                    t.errors.push(SegmentError {
                        segment: s.element(1).to_owned(),
                        position: s.element(2).to_owned(),
                        loop_id: optional(s.element(3)),
                        code: optional(s.element(4)),
                        elements: Vec::new(),
                    });
                }
                "IK4" => {
                    let e = ack
                        .as_mut()
                        .and_then(|a| a.transactions.last_mut())
                        .and_then(|t| t.errors.last_mut())
                        .ok_or_else(|| invalid(s, "IK4 outside a segment error (IK3)"))?;
                    e.elements.push(ElementError {
                        position: s.element(1).to_owned(),
                        reference: optional(s.element(2)),
                        code: s.element(3).to_owned(),
                        value: optional(s.element(4)),
                    });
                }
                "IK5" => {
                    let t = ack
                        .as_mut()
                        .and_then(|a| a.transactions.last_mut())
                        .ok_or_else(|| invalid(s, "IK5 outside a transaction's verdict"))?;
                    t.status = s.element(1).to_owned();
                    t.codes = s
                        .elements
                        .iter()
                        .skip(1)
                        .filter(|c| !c.is_empty())
                        .map(|c| (*c).to_owned())
                        .collect();
                }
                "AK9" => {
                    let a = ack.as_mut().ok_or_else(|| invalid(s, "AK9 before AK1"))?;
                    a.group_status = s.element(1).to_owned();
                    a.counts = (count(s, 2)?, count(s, 3)?, count(s, 4)?);
                }
                _ => {}
            }
        }
        let a = ack.ok_or_else(|| invalid(&tx.header, "a 999 without AK1"))?;
        if let Some(t) = a.transactions.iter().find(|t| t.status.is_empty()) {
            return Err(invalid(
                &tx.trailer,
                format!("the verdict on transaction {} has no IK5", t.control_number),
            ));
        }
        if a.group_status.is_empty() {
            return Err(invalid(&tx.trailer, "a 999 without AK9"));
        }
        out.push(a);
    }
    if out.is_empty() {
        return Err(ContentError::Missing("999"));
    }
    Ok(out)
}
