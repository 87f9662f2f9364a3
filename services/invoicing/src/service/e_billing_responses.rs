//! What comes back for sent e-billings (seed 002, after the upload): the clearinghouse's 999
//! (was each transaction of our 837 taken?), the payer's 277CA (was each claim accepted into
//! adjudication, under which claim number, or rejected and why?) and its 277 (the answer to our
//! 276). Each file is kept once by its SHA-256 — importing it again answers the first import
//! and changes nothing — with what it said of each claim, and each claim's status moves:
//! `acknowledged`, `accepted` (with the payer's claim number), `rejected` (its invoice is
//! claimable again), `pending`, `finalized`; and, when collections posts the payer's 835
//! ([`remittance_posted`]), `paid` or `denied`.
//!
//! A 999 names our group (AK1-02, GS06) and transaction (AK2-02, ST02); the submitter it is
//! addressed to (ISA07:ISA08) and the group number find the file among the submitter's. A 277
//! names each claim by its patient control number. What names nothing we sent is kept as an
//! unmatched item with the segment's position, never a failed import: only a file that is not
//! X12, whose envelope lies, or holds neither a 999 nor a 277 is refused (422), with nothing
//! kept.

use std::collections::HashMap;

use carebill_domain::e_billing::ClaimStatus;
use carebill_domain::events::{Envelope, RemittancePostedV1};
use carebill_domain::ids::{EBillingClaimId, EBillingId};
use carebill_platform::audit;
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, ErrorCode};
use carebill_x12::acknowledgement::read_999;
use carebill_x12::status::{ClaimStatus as X12ClaimStatus, read_277};
use carebill_x12::{ContentError, Interchange, ReadError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::e_billing_files::KeptTransaction;
use crate::store::e_billings::{self as store, ClaimEventRow, ClaimRow, ResponseRow};

/// What a response said of one claim (or of something it named that we never sent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Item {
    /// The patient control number it named, when it named one.
    pub patient_control_number: Option<String>,
    /// The claim it matched.
    pub claim_id: Option<EBillingClaimId>,
    /// Its e-billing.
    pub e_billing_id: Option<EBillingId>,
    /// The claim's status after it.
    pub status: Option<ClaimStatus>,
    /// The codes it gave (999 IK5/IK3/IK4, 277 STC category:code:entity).
    pub codes: Vec<String>,
    /// REF*1K: the payer's claim control number.
    pub payer_claim_number: Option<String>,
    /// What it said, in words (or why it matched nothing).
    pub note: String,
    /// Whether it named a claim we sent.
    pub matched: bool,
    /// The position of its segment in the file (AK2 or TRN), for a person to find it.
    pub position: Option<usize>,
}

/// A response as imported.
#[derive(Debug, Clone)]
pub(crate) struct Imported {
    /// Id.
    pub id: String,
    /// `999`, `277CA` or `277`.
    pub kind: String,
    /// ISA06.
    pub sender_id: String,
    /// ISA13.
    pub interchange_control_number: String,
    /// What it said of each claim.
    pub items: Vec<Item>,
    /// How many items named a claim sent.
    pub matched: i32,
    /// How many did not.
    pub unmatched: i32,
    /// Who imported it.
    pub received_by: String,
    /// When.
    pub received_at: DateTime<Utc>,
}

fn imported(r: ResponseRow) -> Result<Imported, Error> {
    Ok(Imported {
        items: carebill_domain::stored::json("response results", &r.results)
            .map_err(Error::from)?,
        id: r.id,
        kind: r.kind,
        sender_id: r.sender_id,
        interchange_control_number: r.interchange_control_number,
        matched: r.matched_count,
        unmatched: r.unmatched_count,
        received_by: r.received_by,
        received_at: r.received_at.and_utc(),
    })
}

/// One imported response.
pub(crate) fn get(conn: &mut AnyConnection, id: &str) -> Result<Imported, Error> {
    imported(store::response(conn, id)?.ok_or_else(|| Error::not_found("e-billing response"))?)
}

fn read_error(e: ReadError) -> Error {
    match e {
        ReadError::NotX12(why) => {
            Error::new(ErrorCode::NotX12, format!("not an X12 interchange: {why}"))
        }
        e @ ReadError::Envelope { .. } => Error::new(ErrorCode::X12EnvelopeInvalid, e.to_string()),
    }
}

fn content_error(e: ContentError) -> Error {
    Error::new(ErrorCode::X12Invalid, e.to_string())
}

/// Imports a response file: 201 with what it said of each claim, or the first import of the
/// same bytes (`false`).
pub(crate) fn import(
    conn: &mut AnyConnection,
    who: &Principal,
    body: &str,
    digest: String,
) -> Result<(bool, Imported), Error> {
    let x12 = carebill_x12::parse(body).map_err(read_error)?;
    let ids: Vec<&str> = x12.groups.iter().map(|g| g.header.element(1)).collect();
    let kind = if ids.contains(&"FA") {
        "999"
    } else if ids.contains(&"HN") {
        if x12
            .groups
            .iter()
            .any(|g| g.header.element(8).starts_with("005010X214"))
        {
            "277CA"
        } else {
            "277"
        }
    } else {
        return Err(Error::new(
            ErrorCode::X12Unsupported,
            format!(
                "the interchange holds groups {} — an e-billing response is a 999 (FA) or a 277 (HN)",
                ids.join(", ")
            ),
        ));
    };
    if let Some(first) = store::response_by_digest(conn, &digest)? {
        return Ok((false, imported(first)?));
    }
    let now = db::now();
    let mut changed: HashMap<EBillingClaimId, ClaimRow> = HashMap::new();
    let items = if kind == "999" {
        acknowledgements(conn, &x12, &mut changed, now)?
    } else {
        statuses(conn, &x12, &mut changed, now)?
    };
    let id = uuid::Uuid::now_v7().to_string();
    let events = claim_events(&items, &id, kind, now)?;
    for c in changed.values() {
        store::set_claim_status(conn, c)?;
    }
    let count = |matched: bool| {
        i32::try_from(items.iter().filter(|i| i.matched == matched).count())
            .map_err(|e| Error::internal(&e))
    };
    let row = ResponseRow {
        id: id.clone(),
        kind: kind.to_owned(),
        digest,
        sender_id: x12.sender_id().to_owned(),
        interchange_control_number: x12.control_number().to_owned(),
        results: serde_json::to_string(&items)?,
        matched_count: count(true)?,
        unmatched_count: count(false)?,
        body: body.to_owned(),
        received_by: who.subject.clone(),
        received_at: now,
    };
    store::insert_response(conn, row, events)?;
    let answer = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "import",
        "e_billing_response",
        &id,
        serde_json::json!({ "kind": kind, "matched": answer.matched, "unmatched": answer.unmatched }),
        None,
    )?;
    Ok((true, answer))
}

/// Each claim's entry in its history for what response `response_id` of `kind` said of it.
fn claim_events(
    items: &[Item],
    response_id: &str,
    kind: &str,
    now: chrono::NaiveDateTime,
) -> Result<Vec<ClaimEventRow>, Error> {
    items
        .iter()
        .filter_map(|i| Some((i.claim_id?, i.status?, i)))
        .map(|(claim, status, i)| {
            Ok(ClaimEventRow {
                id: uuid::Uuid::now_v7().to_string(),
                claim_id: claim.to_string(),
                response_id: response_id.to_owned(),
                status: status.as_str().to_owned(),
                detail: serde_json::to_string(&serde_json::json!({
                    "kind": kind, "codes": i.codes, "note": i.note,
                    "payer_claim_number": i.payer_claim_number }))?,
                at: now,
            })
        })
        .collect()
}

/// The claim as changed so far in this import, or as stored.
fn current(changed: &HashMap<EBillingClaimId, ClaimRow>, c: ClaimRow) -> ClaimRow {
    match changed.get(&c.id) {
        Some(moved) => moved.clone(),
        None => c,
    }
}

/// A 999: each transaction's verdict moves its claims.
fn acknowledgements(
    conn: &mut AnyConnection,
    x12: &Interchange<'_>,
    changed: &mut HashMap<EBillingClaimId, ClaimRow>,
    now: chrono::NaiveDateTime,
) -> Result<Vec<Item>, Error> {
    let acks = read_999(x12).map_err(content_error)?;
    let submitter = format!(
        "{}:{}",
        x12.header.element(7).trim_end(),
        x12.header.element(8).trim_end()
    );
    let files: Vec<(String, Vec<KeptTransaction>)> = store::claim_files_of(conn, &submitter)?
        .into_iter()
        .map(|(id, t)| {
            Ok((
                id,
                carebill_domain::stored::json("file transactions", &t).map_err(Error::from)?,
            ))
        })
        .collect::<Result<_, Error>>()?;
    let mut items = Vec::new();
    for ack in acks {
        for t in &ack.transactions {
            let found = files.iter().find_map(|(id, ts)| {
                ts.iter()
                    .find(|k| {
                        k.group.to_string() == ack.group_control_number
                            && k.transaction == t.control_number
                    })
                    .map(|k| (id, k))
            });
            let Some((e_billing, kept)) = found else {
                items.push(Item {
                    patient_control_number: None,
                    claim_id: None,
                    e_billing_id: None,
                    status: None,
                    codes: vec![format!("IK5:{}", t.status)],
                    payer_claim_number: None,
                    note: format!(
                        "no 837 of submitter {submitter} has group {} transaction {}",
                        ack.group_control_number, t.control_number
                    ),
                    matched: false,
                    position: None,
                });
                continue;
            };
            let mut codes = vec![format!("IK5:{}", t.status)];
            codes.extend(t.codes.iter().map(|c| format!("IK502:{c}")));
            for e in &t.errors {
                let mut text = format!(
                    "IK3:{}:{}:{}",
                    e.segment,
                    e.position,
                    e.loop_id.as_deref().unwrap_or_default() // not stored: an optional loop id
                );
                for el in &e.elements {
                    text.push_str(&format!(" IK4:{}:{}", el.position, el.code));
                }
                codes.push(text);
            }
            let accepted = t.accepted();
            for c in store::claims_numbered(conn, e_billing, &kept.patient_control_numbers)? {
                let mut c = current(changed, c);
                let status = if accepted {
                    if c.status == ClaimStatus::Submitted {
                        c.status = ClaimStatus::Acknowledged;
                    }
                    c.status
                } else {
                    c.active = false;
                    c.status = ClaimStatus::Rejected;
                    c.status
                };
                c.updated_at = now;
                items.push(Item {
                    patient_control_number: Some(c.invoice_number.clone()),
                    claim_id: Some(c.id),
                    e_billing_id: Some(c.e_billing_id),
                    status: Some(status),
                    codes: codes.clone(),
                    payer_claim_number: c.payer_claim_number.clone(),
                    note: if accepted {
                        format!("the clearinghouse took transaction {}", t.control_number)
                    } else {
                        format!(
                            "the clearinghouse rejected transaction {}: fix what its errors name and claim the invoice again",
                            t.control_number
                        )
                    },
                    matched: true,
                    position: None,
                });
                changed.insert(c.id, c);
            }
        }
    }
    Ok(items)
}

/// What a 277CA or 277 status moves a claim to, and says in words.
fn verdict(s: &X12ClaimStatus, before: ClaimStatus) -> (ClaimStatus, &'static str) {
    let first = s
        .statuses
        .first()
        .map(|st| st.category.as_str())
        .unwrap_or_default(); // not stored: a status without a category says nothing
    if s.rejected() {
        (
            ClaimStatus::Rejected,
            "the payer rejected the claim: fix what its status codes name and claim the invoice again",
        )
    } else if s.statuses.iter().any(|st| st.category == "A2") {
        (
            ClaimStatus::Accepted,
            "the payer accepted the claim into adjudication",
        )
    } else if first.starts_with('F') {
        (ClaimStatus::Finalized, "the payer has decided the claim")
    } else if first.starts_with('P') {
        (ClaimStatus::Pending, "the payer is processing the claim")
    } else if first == "A1" && before == ClaimStatus::Submitted {
        (ClaimStatus::Acknowledged, "the payer received the claim")
    } else {
        (before, "the payer's status does not move the claim")
    }
}

/// A 277CA or 277: each claim it names by patient control number.
fn statuses(
    conn: &mut AnyConnection,
    x12: &Interchange<'_>,
    changed: &mut HashMap<EBillingClaimId, ClaimRow>,
    now: chrono::NaiveDateTime,
) -> Result<Vec<Item>, Error> {
    let reports = read_277(x12).map_err(content_error)?;
    let mut items = Vec::new();
    for report in reports {
        for s in &report.claims {
            let codes: Vec<String> = s
                .statuses
                .iter()
                .map(|st| {
                    let mut c = format!("{}:{}", st.category, st.code);
                    if let Some(e) = &st.entity {
                        c.push(':');
                        c.push_str(e);
                    }
                    c
                })
                .collect();
            let Some(c) = store::sent_claims_numbered(conn, &s.patient_control_number)?
                .into_iter()
                .next()
            else {
                items.push(Item {
                    patient_control_number: Some(s.patient_control_number.clone()),
                    claim_id: None,
                    e_billing_id: None,
                    status: None,
                    codes,
                    payer_claim_number: s.payer_claim_number.clone(),
                    note: format!(
                        "no claim was sent with patient control number {}",
                        s.patient_control_number
                    ),
                    matched: false,
                    position: Some(s.position),
                });
                continue;
            };
            let mut c = current(changed, c);
            let (status, note) = verdict(s, c.status);
            c.status = status;
            if status == ClaimStatus::Rejected {
                c.active = false;
            }
            if s.payer_claim_number.is_some() {
                c.payer_claim_number.clone_from(&s.payer_claim_number);
            }
            c.updated_at = now;
            items.push(Item {
                patient_control_number: Some(s.patient_control_number.clone()),
                claim_id: Some(c.id),
                e_billing_id: Some(c.e_billing_id),
                status: Some(status),
                codes,
                payer_claim_number: c.payer_claim_number.clone(),
                note: note.to_owned(),
                matched: true,
                position: Some(s.position),
            });
            changed.insert(c.id, c);
        }
    }
    Ok(items)
}

/// A payer's 835 as collections posted it (`carebill.collections.remittance.posted.v1`): each
/// claim it paid that an e-billing sent moves to `paid` (or `denied`), keeps the payer's claim
/// number when it had none, and has the 835 in its history. Kept as a response of kind `835`
/// (once per event: a redelivery changes nothing); claims of invoices no e-billing sent are
/// left out.
pub(crate) fn remittance_posted(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &RemittancePostedV1,
) -> Result<(), Error> {
    let digest = format!("event:{}", env.id);
    if store::response_by_digest(conn, &digest)?.is_some() {
        return Ok(());
    }
    let now = db::now();
    let id = uuid::Uuid::now_v7().to_string();
    let mut changed: HashMap<EBillingClaimId, ClaimRow> = HashMap::new();
    let mut items = Vec::new();
    // What the payer decided of each invoice, for the secondary claims of its settlement.
    let adjudications = e
        .claims
        .iter()
        .map(|c| {
            Ok(store::AdjudicationRow {
                id: uuid::Uuid::now_v7().to_string(),
                invoice_id: c.invoice_id.to_string(),
                remittance_id: e.remittance_id.clone(),
                status_code: c.status_code.clone(),
                paid_on: e.paid_on,
                claim: serde_json::to_string(c)?,
                created_at: now,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    store::insert_adjudications(conn, adjudications)?;
    for c in &e.claims {
        // Collections names the claim when it knew it was sent (`e_billing.sent`); when the 835
        // came first, the invoice's sent claim is the one it answers.
        let row = match c.claim_id {
            Some(claim_id) => store::claim(conn, claim_id)?,
            None => store::sent_claim_of_invoice(conn, &c.invoice_id.to_string())?,
        };
        let Some(mut row) = row else {
            continue;
        };
        // An invoice corrected since has several claims of one patient control number: the
        // payer's claim number (CLP07) says which of them this payment answers.
        if !c.payer_claim_number.is_empty()
            && row.payer_claim_number.as_deref() != Some(&c.payer_claim_number)
            && let Some((named, _)) = store::claims_of_invoices(conn, &[c.invoice_id.to_string()])?
                .into_iter()
                .find(|(o, _)| o.payer_claim_number.as_deref() == Some(&c.payer_claim_number))
        {
            row = named;
        }
        let mut row = current(&changed, row);
        let denied = c.status == "denied";
        // Collections posted it, or flagged it for review with a payment recorded; a reversal
        // or a claim it could not post leaves the claim as it is, for a person.
        let paid = c.status == "posted"
            || (c.status == "review"
                && c.status_code != "22"
                && c.paid.amount() > rust_decimal::Decimal::ZERO);
        if row.status != ClaimStatus::Cancelled {
            if denied {
                row.status = ClaimStatus::Denied;
            } else if paid {
                row.status = ClaimStatus::Paid;
            }
        }
        if row.payer_claim_number.is_none() && !c.payer_claim_number.is_empty() {
            row.payer_claim_number = Some(c.payer_claim_number.clone());
        }
        row.updated_at = now;
        let mut codes = vec![format!("CLP02:{}", c.status_code)];
        codes.extend(
            c.adjustments
                .iter()
                .map(|a| format!("{}-{}:{}", a.group, a.reason, a.amount.amount_string())),
        );
        items.push(Item {
            patient_control_number: Some(c.patient_control_number.clone()),
            claim_id: Some(row.id),
            e_billing_id: Some(row.e_billing_id),
            status: Some(row.status),
            codes,
            payer_claim_number: Some(c.payer_claim_number.clone()),
            note: if denied {
                format!("the payer denied the claim (835 {})", e.trace_number)
            } else if !paid {
                format!(
                    "the payer's 835 {} names the claim; collections holds it for review",
                    e.trace_number
                )
            } else {
                format!(
                    "the payer paid {} of {} (835 {})",
                    c.paid, c.charge, e.trace_number
                )
            },
            matched: true,
            position: None,
        });
        changed.insert(row.id, row);
    }
    let events = claim_events(&items, &id, "835", now)?;
    for c in changed.values() {
        store::set_claim_status(conn, c)?;
    }
    let matched = i32::try_from(items.len()).map_err(|e| Error::internal(&e))?;
    let row = ResponseRow {
        id,
        kind: "835".to_owned(),
        digest,
        sender_id: e.payer_id.clone(),
        interchange_control_number: e.trace_number.clone(),
        results: serde_json::to_string(&items)?,
        matched_count: matched,
        unmatched_count: 0,
        body: String::new(),
        received_by: e.posted_by.clone(),
        received_at: now,
    };
    store::insert_response(conn, row, events)
}

/// One thing that came back of a claim.
#[derive(Debug, Clone)]
pub(crate) struct HistoryEntry {
    /// The claim's status after it.
    pub status: ClaimStatus,
    /// `999`, `277CA`, `277` or `835`.
    pub kind: String,
    /// Its codes.
    pub codes: Vec<String>,
    /// What it said, in words.
    pub note: String,
    /// The response (`/v1/e-billings/responses/{id}`).
    pub response_id: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// What came back of a claim, oldest first.
pub(crate) fn history(
    conn: &mut AnyConnection,
    claim_id: EBillingClaimId,
) -> Result<Vec<HistoryEntry>, Error> {
    #[derive(Deserialize)]
    struct Detail {
        kind: String,
        #[serde(default)]
        codes: Vec<String>,
        #[serde(default)]
        note: String,
    }
    store::claim_events(conn, claim_id)?
        .into_iter()
        .map(|r| {
            let d: Detail = carebill_domain::stored::json("claim event detail", &r.detail)
                .map_err(Error::from)?;
            Ok(HistoryEntry {
                status: carebill_domain::stored::parse("claim event status", &r.status)
                    .map_err(Error::from)?,
                kind: d.kind,
                codes: d.codes,
                note: d.note,
                response_id: r.response_id,
                at: r.at.and_utc(),
            })
        })
        .collect()
}
