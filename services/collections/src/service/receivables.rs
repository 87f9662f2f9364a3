//! Receivables: what is owed on each issued invoice, kept from invoicing's events, and read with
//! their payment history.
//!
//! The stored status is the base status (`open`, `partially_paid`, `paid`, `cancelled`);
//! `overdue` depends on the day in the issuing location's time zone and is computed when read,
//! in SQL for filters and sums and in Rust for each row shown.

use carebill_domain::collections::{self as rules, ReceivableStatus};
use carebill_domain::events::{CreditNoteIssuedV1, Envelope, InvoiceIssuedV1, PartyRef};
use carebill_domain::ids::ReceivableId;
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_platform::Error;
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{Page, PageRequest};
use chrono::{DateTime, NaiveDate, Utc};

use crate::store::allocations::{self, ReceivableAllocationRow};
use crate::store::early_credit_notes::{self, EarlyCreditNoteRow};
use crate::store::payments;
use crate::store::receivables::{
    self, NewReceivableRow, ReceivableFilter, ReceivableRow, StoredParty,
};

/// Money from stored minor units.
pub(crate) fn money(minor: i64, currency: Currency) -> Money {
    Money::from_minor(MinorUnits(minor), currency)
}

/// A receivable as read at a given time.
#[derive(Debug, Clone)]
pub(crate) struct ReceivableView {
    /// The stored receivable.
    pub row: ReceivableRow,
    /// The party owed.
    pub party: PartyRef,
    /// Its status at the time it was read (in the location's time zone).
    pub status: ReceivableStatus,
}

/// A receivable with its payment history.
#[derive(Debug, Clone)]
pub(crate) struct ReceivableDetail {
    /// The receivable.
    pub receivable: ReceivableView,
    /// Allocations to it, oldest first, reversed ones included.
    pub payments: Vec<ReceivableAllocationRow>,
}

impl ReceivableView {
    fn of(row: ReceivableRow, now: DateTime<Utc>) -> Result<ReceivableView, Error> {
        let today = rules::local_today(&row.location_time_zone, now);
        let status = rules::receivable_status(
            MinorUnits(row.total_minor),
            MinorUnits(row.paid_minor),
            row.cancelled(),
            row.due_date,
            today,
        );
        Ok(ReceivableView {
            party: row.party()?,
            row,
            status,
        })
    }
}

/// Serialises the events of one invoice until the transaction ends (see [`crate::consumer`]).
pub(crate) fn lock_invoice(
    conn: &mut AnyConnection,
    invoice_id: carebill_domain::ids::InvoiceId,
) -> Result<(), Error> {
    receivables::lock_invoice(conn, invoice_id)
}

/// The actor recorded in the audit trail for changes made by an event.
fn event_actor(env: &Envelope) -> Principal {
    Principal {
        subject: env.source.clone(),
        roles: Vec::new(),
        locations: None,
        payer: None,
        request_id: env.correlationid.clone(),
    }
}

fn minor(m: &Money, what: &str) -> Result<i64, Error> {
    m.to_minor()
        .map(|m| m.0)
        .map_err(|e| Error::invalid_event(format!("{what}: {e}")))
}

/// An invoice was issued: its receivable is created (once), cancelled at once when its credit
/// note arrived first. Runs in the inbox's transaction with the invoice's key locked.
#[tracing::instrument(skip_all, fields(invoice_id = %e.invoice_id))]
pub(crate) fn invoice_issued(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &InvoiceIssuedV1,
) -> Result<(), Error> {
    if receivables::exists_for_invoice(conn, e.invoice_id)? {
        // The same invoice announced again (a re-published event under a new id).
        return Ok(());
    }
    let early = early_credit_notes::pending(conn, e.invoice_id)?;
    let now = db::now();
    let id = ReceivableId::new();
    let total = minor(&e.total, "total")?;
    let status = rules::base_status(MinorUnits(total), MinorUnits(0), early.is_some());
    receivables::insert(
        conn,
        NewReceivableRow {
            id,
            invoice_id: e.invoice_id,
            invoice_number: e.number.clone(),
            location_id: e.location.id,
            location_code: e.location.code.clone(),
            location_time_zone: e.location.time_zone.clone(),
            party_kind: e.recipient.kind,
            party_id: e.recipient.id.to_string(),
            payer_code: e.recipient.payer_code.clone(),
            party: serde_json::to_string(&StoredParty::from(&e.recipient))?,
            patient_id: e.patient_id,
            currency: e.total.currency(),
            total_minor: total,
            paid_minor: 0,
            due_date: e.due_date,
            issue_date: e.issue_date,
            status,
            credit_note_id: early.as_ref().map(|c| c.credit_note_id.to_string()),
            credit_note_number: early.as_ref().map(|c| c.credit_note_number.clone()),
            cancel_reason: early.as_ref().map(|c| c.reason.clone()),
            cancelled_at: early.as_ref().map(|_| now),
            issued_at: db::truncate_micros(e.issued_at.naive_utc()),
            created_at: now,
            updated_at: now,
        },
    )?;
    if early.is_some() {
        early_credit_notes::mark_applied(conn, e.invoice_id, now)?;
    }
    audit::record_at(
        conn,
        &event_actor(env),
        &e.location.id.to_string(),
        "create",
        "receivable",
        &id.to_string(),
        serde_json::json!({
            "after": {
                "invoice_id": e.invoice_id.to_string(),
                "invoice_number": e.number,
                "total": e.total,
                "due_date": e.due_date,
                "status": status,
            },
            "event_id": env.id,
        }),
        early.as_ref().map(|c| c.reason.as_str()),
    )?;
    Ok(())
}

/// A credit note was issued: its invoice's receivable is cancelled and the money allocated to
/// it goes back to each payment's unallocated remainder (the allocations stay, marked reversed);
/// a credit note whose invoice has not arrived yet is kept for it. Runs in the inbox's
/// transaction with the invoice's key locked; then the receivable, then its payments in id order.
#[tracing::instrument(skip_all, fields(invoice_id = %e.invoice_id, credit_note_id = %e.credit_note_id))]
pub(crate) fn credit_note_issued(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &CreditNoteIssuedV1,
) -> Result<(), Error> {
    let row = receivables::of_invoice(conn, e.invoice_id)?;
    let now = db::now();
    let Some(row) = row else {
        // The invoice's issue event has not arrived yet: keep the cancellation for it.
        return early_credit_notes::keep(
            conn,
            EarlyCreditNoteRow {
                invoice_id: e.invoice_id,
                credit_note_id: e.credit_note_id,
                credit_note_number: e.number.clone(),
                reason: e.reason.clone(),
                received_at: now,
                applied_at: None,
            },
        );
    };
    if row.cancelled() {
        return Ok(());
    }
    receivables::lock(conn, row.id)?;
    let active = allocations::active_for(conn, row.id)?;
    for a in &active {
        payments::lock(conn, a.payment_id)?;
        payments::give_back(conn, a.payment_id, a.amount_minor, now)?;
        allocations::reverse(conn, &a.id, e.credit_note_id, now)?;
    }
    receivables::cancel(conn, row.id, e.credit_note_id, &e.number, &e.reason, now)?;
    let returned: i64 = active.iter().map(|a| a.amount_minor).sum();
    let c = row.currency;
    audit::record_at(
        conn,
        &event_actor(env),
        &row.location_id.to_string(),
        "cancel",
        "receivable",
        &row.id.to_string(),
        serde_json::json!({
            "status": { "before": row.status, "after": "cancelled" },
            "paid": { "before": money(row.paid_minor, c), "after": money(0, c) },
            "credit_note_id": e.credit_note_id.to_string(),
            "credit_note_number": e.number,
            "returned_to_credit": money(returned, c),
            "reversed_allocations": active.iter().map(|a| &a.id).collect::<Vec<_>>(),
            "event_id": env.id,
        }),
        Some(&e.reason),
    )?;
    Ok(())
}

/// A receivable in the caller's scope with its payment history, as it stands at `now`.
#[tracing::instrument(skip_all, fields(receivable_id = %id))]
pub(crate) fn receivable(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: ReceivableId,
    now: DateTime<Utc>,
) -> Result<ReceivableDetail, Error> {
    let row = receivables::find_in_scope(conn, scope, id)?
        .ok_or_else(|| Error::not_found("receivable"))?;
    let payments = allocations::of_receivable(conn, row.id)?;
    Ok(ReceivableDetail {
        receivable: ReceivableView::of(row, now)?,
        payments,
    })
}

/// Checks a due-date filter day.
pub(crate) fn check_due_before(day: Option<NaiveDate>) -> Result<(), Error> {
    if let Some(d) = day {
        carebill_domain::accounts::check_date(d)
            .map_err(|m| Error::field("due_before", "out_of_range", m))?;
    }
    Ok(())
}

/// A page of the receivables in the caller's scope matching `filter` at `now`, oldest first.
#[tracing::instrument(skip_all)]
pub(crate) fn receivables(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &ReceivableFilter,
    page: &PageRequest,
    now: DateTime<Utc>,
) -> Result<Page<ReceivableView>, Error> {
    check_due_before(filter.due_before)?;
    let rows = receivables::list(conn, scope, filter, page, now)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|r| ReceivableView::of(r, now))
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    })
}
