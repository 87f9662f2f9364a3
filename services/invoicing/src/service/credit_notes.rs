//! Credit notes: the only way to reduce or cancel an invoice, numbered in the location's own
//! credit-note series.
//!
//! - A **partial** credit note credits chosen lines, each by a quantity or an amount, never more
//!   than the line still bills after earlier credit notes (409 `credit_exceeds_remaining`). The
//!   invoice stays issued for what is left, and its lines stay billed (for less): nothing is
//!   billed again.
//! - A **full** credit note credits what is left of every line (the invoice's lines and total
//!   when nothing was credited before) and cancels the invoice; its consumptions become billable
//!   again for the same party, and with `reissue` settlement reopens the settlement for
//!   correction.
//!
//! `carebill.invoicing.credit_note.issued.v1` tells settlement and collections, line by line.

use carebill_domain::Money;
use carebill_domain::agency_invoices::AgencyPurpose;
use carebill_domain::events::{
    AgencyCreditNoteIssuedV1, CreditNoteIssuedV1, CreditedLine, Envelope, EventPayload,
};
use carebill_domain::ids::{CreditNoteId, InvoiceId};
use std::collections::HashMap;

use carebill_domain::ids::ConsumptionId;
use carebill_domain::invoicing::{
    CreditAsked, CreditError, CreditPlan, DocumentKind, InvoiceStatus, issue_date, money,
    partial_credit_for, rest_credit_for,
};
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;

use super::deliveries;
use carebill_platform::{Error, ErrorCode};
use chrono::Datelike as _;

use super::documents::{self, CreditNoteDocument};
use crate::SERVICE;
use crate::store::agency;
use crate::store::credit_notes::{self, CreditNoteRow};
use crate::store::{billed, invoices, lines, series, to_minor};

/// What a credit note is asked to credit.
pub(crate) enum Credit {
    /// What is left of the whole invoice; cancels it.
    Full {
        /// Whether settlement is to correct the settlement and invoice it again.
        reissue: bool,
    },
    /// These lines, by quantity or amount; the invoice stays issued for the rest.
    Partial(Vec<CreditAsked>),
}

/// Credits invoice `id` with a full or partial credit note, in the caller's transaction:
/// numbered, stored with its lines, the invoice reduced or cancelled (and, when cancelled, its
/// consumptions released), audited and announced. Not found outside the caller's scope;
/// `already_credited` when cancelled already; `credit_exceeds_remaining` when a line is asked
/// more than it still bills.
#[tracing::instrument(skip_all, fields(invoice_id = %id))]
pub(crate) fn credit(
    conn: &mut AnyConnection,
    who: &Principal,
    id: InvoiceId,
    reason: &str,
    asked: &Credit,
) -> Result<CreditNoteDocument, Error> {
    let scope = Scope::of(who);
    // The scope first, with a plain read: an invoice outside it is not found, and not locked.
    if invoices::find_in_scope(conn, &scope, id)?.is_none() {
        return Err(Error::not_found("invoice"));
    }
    // Two credits of one invoice never both pass the checks: lock, then read it again.
    invoices::lock(conn, id)?;
    let invoice =
        invoices::find_in_scope(conn, &scope, id)?.ok_or_else(|| Error::not_found("invoice"))?;
    if invoice.status != InvoiceStatus::Issued {
        return Err(Error::new(
            ErrorCode::AlreadyCredited,
            format!(
                "invoice {} is already cancelled by a credit note",
                invoice.number
            ),
        ));
    }
    // A care agency's invoice (seed 004) bills no settlement: nothing is invoiced again, and
    // a self-billed invoice's credit note is self-billed too (261, in the carer's series).
    let agency = agency::of(conn, &[id.to_string()])?.into_iter().next();
    if agency.is_some() && matches!(asked, Credit::Full { reissue: true }) {
        return Err(Error::field(
            "reissue",
            "not_allowed",
            "a care agency's invoice is not invoiced again: credit what is wrong, or all of it",
        ));
    }
    let self_billed = agency
        .as_ref()
        .filter(|a| a.purpose == AgencyPurpose::Hours);
    let recipient = invoice.recipient()?;
    let lines = lines::of_document(conn, &id.to_string())?
        .iter()
        .map(lines::LineRow::domain)
        .collect::<Result<Vec<_>, _>>()?;
    let (credited, credited_before) = credited_so_far(conn, id)?;
    let (plan, reissue, partial) = match asked {
        Credit::Full { reissue } => (
            rest_credit_for(&recipient, &lines, invoice.total(), &credited)
                .map_err(|e| Error::internal(&e))?,
            *reissue,
            false,
        ),
        Credit::Partial(asked) => (
            partial_credit_for(
                &recipient,
                &lines,
                invoice.total(),
                &credited,
                money(credited_before, invoice.currency),
                asked,
            )
            .map_err(|e| refused(asked, e))?,
            false,
            true,
        ),
    };
    let remaining: HashMap<ConsumptionId, Money> = plan.remaining.iter().cloned().collect();
    let CreditPlan {
        note: plan,
        invoice_remaining,
        ..
    } = plan;
    // The series is locked before the clock is read, so numbers follow issue times (a year
    // turning meanwhile: the new year's series is locked too, below).
    let year = issue_date(db::now().and_utc(), &invoice.location_time_zone)
        .map_err(|e| Error::internal(&e))?
        .year();
    match self_billed {
        Some(a) => {
            series::lock_carer_series(conn, a.carer_id, DocumentKind::SelfBilledCreditNote, year)?;
        }
        None => {
            series::lock_series(conn, invoice.location_id, DocumentKind::CreditNote, year)?;
        }
    }
    let now = db::now();
    let issued_on =
        issue_date(now.and_utc(), &invoice.location_time_zone).map_err(|e| Error::internal(&e))?;
    let number = match self_billed {
        Some(a) => series::next_carer_number(
            conn,
            a.carer_id,
            a.series_prefix.as_deref().ok_or_else(|| {
                Error::stored("self-billed invoice", &invoice.number, "no series prefix")
            })?,
            DocumentKind::SelfBilledCreditNote,
            issued_on.year(),
        )?,
        None => series::next_number(
            conn,
            invoice.location_id,
            &invoice.location_code,
            DocumentKind::CreditNote,
            issued_on.year(),
        )?,
    };
    let cn_id = CreditNoteId::new();
    credit_notes::insert(
        conn,
        CreditNoteRow {
            id: cn_id,
            number: number.clone(),
            invoice_id: invoice.id,
            invoice_number: invoice.number.clone(),
            location_id: invoice.location_id,
            location_code: invoice.location_code.clone(),
            recipient_kind: invoice.recipient_kind,
            payer_code: invoice.payer_code.clone(),
            patient_id: invoice.patient_id.clone(),
            settlement_id: invoice.settlement_id.clone(),
            currency: invoice.currency,
            total_minor: to_minor(&plan.total)?,
            tax_total_minor: to_minor(&plan.tax_total)?,
            reason: reason.to_owned(),
            reissue,
            issue_date: issued_on,
            issued_by: who.subject.clone(),
            created_at: now,
            issued_at: now,
            partial,
        },
    )?;
    let cn_key = cn_id.to_string();
    lines::insert(conn, &cn_key, &plan.lines)?;
    if !partial {
        invoices::cancel(conn, id, cn_id, now)?;
        billed::release_invoice(conn, id)?;
    }
    let env = match &agency {
        Some(a) => announce(
            &AgencyCreditNoteIssuedV1 {
                credit_note_id: cn_id,
                number: number.clone(),
                document_type: if self_billed.is_some() { "261" } else { "381" }.to_owned(),
                invoice_id: invoice.id,
                invoice_number: invoice.number.clone(),
                purpose: a.purpose,
                location_id: invoice.location_id,
                carer_id: a.carer_id,
                recipient: recipient.clone(),
                approval_id: a.approval()?,
                total: plan.total,
                partial,
                invoice_remaining,
                reason: reason.to_owned(),
                issue_date: issued_on,
                issued_by: who.subject.clone(),
                issued_at: now.and_utc(),
            },
            now.and_utc(),
            who,
        )?,
        None => announce(
            &CreditNoteIssuedV1 {
                credit_note_id: cn_id,
                number: number.clone(),
                invoice_id: invoice.id,
                invoice_number: invoice.number.clone(),
                location_id: invoice.location_id,
                recipient: recipient.clone(),
                settlement_id: invoice.settlement()?.ok_or_else(|| {
                    Error::stored(
                        "credited invoice",
                        &invoice.number,
                        "it bills no settlement",
                    )
                })?,
                settlement_version: invoice.settlement_version.unwrap_or_default(), // not stored: a settlement's invoice has its version
                consumption_ids: if partial {
                    Vec::new()
                } else {
                    lines.iter().map(|l| l.consumption_id).collect()
                },
                total: plan.total,
                partial,
                lines: plan
                    .lines
                    .iter()
                    .map(|l| CreditedLine {
                        consumption_id: l.consumption_id,
                        code: l.code.clone(),
                        amount: l.amount,
                        remaining: remaining
                            .get(&l.consumption_id)
                            .copied()
                            .unwrap_or_else(|| Money::zero(l.amount.currency())), // not stored: a line the plan credits in full
                    })
                    .collect(),
                invoice_remaining: Some(invoice_remaining),
                reason: reason.to_owned(),
                reissue,
                issue_date: issued_on,
                issued_by: who.subject.clone(),
                issued_at: now.and_utc(),
            },
            now.and_utc(),
            who,
        )?,
    };
    outbox::enqueue(conn, &env)?;
    deliveries::enqueue(
        conn,
        &[deliveries::IssuedDocument {
            kind: deliveries::DocKind::CreditNote,
            id: cn_id.to_string(),
            number: number.clone(),
            location_code: invoice.location_code.clone(),
            recipient_kind: recipient.kind,
            party: deliveries::party_of(&recipient),
            payer_code: invoice.payer_code.clone(),
        }],
        &who.subject,
    )?;
    let invoice_key = id.to_string();
    let location_key = invoice.location_id.to_string();
    audit::record_many(
        conn,
        who,
        &[
            Change {
                action: "credit",
                entity_type: "invoice",
                entity_id: &invoice_key,
                location_id: Some(&location_key),
                changes: Snapshot::Json(if partial {
                    serde_json::json!({
                        "credited": { "before": money(credited_before, invoice.currency),
                            "after": money(credited_before + to_minor(&plan.total)?, invoice.currency) },
                        "credit_note": { "id": cn_id, "number": number, "partial": true },
                    })
                } else {
                    serde_json::json!({
                        "status": { "before": InvoiceStatus::Issued, "after": InvoiceStatus::Cancelled },
                        "credit_note": { "id": cn_id, "number": number },
                        "reissue": reissue,
                    })
                }),
                reason: Some(reason),
            },
            Change {
                action: "issue",
                entity_type: "credit_note",
                entity_id: &cn_key,
                location_id: Some(&location_key),
                changes: Snapshot::Json(serde_json::json!({ "after": {
                    "number": number,
                    "invoice_id": invoice.id,
                    "invoice_number": invoice.number,
                    "total": plan.total,
                    "reissue": reissue,
                    "partial": partial,
                }})),
                reason: Some(reason),
            },
        ],
    )?;
    documents::credit_note(conn, &scope, cn_id)
}

/// The announcement of a credit note, correlated with the request that issued it.
fn announce<E: EventPayload>(
    event: &E,
    at: chrono::DateTime<chrono::Utc>,
    who: &Principal,
) -> Result<Envelope, Error> {
    Envelope::new(
        SERVICE,
        event,
        at,
        who.request_id.clone(),
        who.request_id.clone(),
    )
    .map_err(|e| Error::internal(&e))
}

/// What earlier credit notes of the invoice credited: net per consumption, and in all (VAT
/// included), in minor units.
fn credited_so_far(
    conn: &mut AnyConnection,
    id: InvoiceId,
) -> Result<(HashMap<ConsumptionId, Money>, i64), Error> {
    let mut credited: HashMap<ConsumptionId, Money> = HashMap::new();
    let mut total = 0_i64;
    for note in credit_notes::of_invoice(conn, id)? {
        total += note.total_minor;
        for line in lines::of_document(conn, &note.id.to_string())? {
            let line = line.domain()?;
            let sum = match credited.get(&line.consumption_id) {
                Some(before) => before
                    .checked_add(&line.amount)
                    .map_err(|e| Error::internal(&e))?,
                None => line.amount,
            };
            credited.insert(line.consumption_id, sum);
        }
    }
    Ok((credited, total))
}

/// A partial credit the request cannot have: 409 when it asks more than is left, else 422
/// naming the line (`lines.<i>`, the first one asked for that consumption).
fn refused(asked: &[CreditAsked], e: CreditError) -> Error {
    if e.is_conflict() {
        return Error::new(ErrorCode::CreditExceedsRemaining, e.to_string());
    }
    let field = match e
        .line()
        .and_then(|c| asked.iter().position(|a| a.consumption_id == c))
    {
        Some(i) => format!("lines.{i}"),
        None => "lines".to_owned(),
    };
    Error::field(&field, "invalid", e.to_string())
}
