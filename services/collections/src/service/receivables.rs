//! Receivables: what is owed on each issued invoice, kept from invoicing's events, and read with
//! their payment history.
//!
//! The stored status is the base status (`open`, `partially_paid`, `paid`, `cancelled`);
//! `overdue` depends on the day in the issuing location's time zone and is computed when read,
//! in SQL for filters and sums and in Rust for each row shown.

use carebill_domain::collections::{self as rules, ReceivableStatus};
use carebill_domain::events::{CreditNoteIssuedV1, Envelope, InvoiceIssuedV1, PartyKind, PartyRef};
use carebill_domain::ids::{InvoiceId, LocationId, PatientId, ReceivableId};
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
    self, NewReceivableRow, ReceivableFilter as StoredFilter, ReceivableRow, StoredParty,
};

/// Money from stored minor units.
pub(crate) fn money(minor: i64, currency: Currency) -> Money {
    Money::from_minor(MinorUnits(minor), currency)
}

/// Where the invoice was issued.
#[derive(Debug, Clone)]
pub(crate) struct ReceivableLocation {
    /// Id.
    pub id: LocationId,
    /// Code.
    pub code: String,
    /// IANA time zone.
    pub time_zone: String,
}

/// The credit note that cancelled a receivable.
#[derive(Debug, Clone)]
pub(crate) struct ReceivableCancellation {
    /// Credit note id.
    pub credit_note_id: String,
    /// Credit note number.
    pub credit_note_number: String,
    /// Why.
    pub reason: Option<String>,
    /// When collections applied it.
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// A receivable as read at a given time.
#[derive(Debug, Clone)]
pub(crate) struct ReceivableView {
    /// Id.
    pub id: ReceivableId,
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// Its number.
    pub invoice_number: String,
    /// The issuing location.
    pub location: ReceivableLocation,
    /// The party owed.
    pub party: PartyRef,
    /// The payer's code (payers only).
    pub payer_code: Option<String>,
    /// The patient.
    pub patient_id: PatientId,
    /// Currency of every amount.
    pub currency: Currency,
    /// The invoice total.
    pub total: Money,
    /// Sum of the (not reversed) allocations to it.
    pub paid: Money,
    /// What is still owed.
    pub outstanding: Money,
    /// Due date.
    pub due_date: NaiveDate,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Its status at the time it was read (in the location's time zone).
    pub status: ReceivableStatus,
    /// The credit note that cancelled it.
    pub cancellation: Option<ReceivableCancellation>,
    /// When the invoice was issued.
    pub issued_at: DateTime<Utc>,
}

/// One allocation of a payment to a receivable, as the receivable's history shows it.
#[derive(Debug, Clone)]
pub(crate) struct ReceivablePayment {
    /// The allocation.
    pub allocation_id: String,
    /// The payment.
    pub payment_id: String,
    /// Day the payment was received.
    pub received_on: NaiveDate,
    /// Payment method.
    pub method: String,
    /// Amount applied to this receivable.
    pub amount: Money,
    /// When it was applied.
    pub allocated_at: DateTime<Utc>,
    /// When it was reversed.
    pub reversed_at: Option<DateTime<Utc>>,
    /// The credit note that reversed it.
    pub reversed_by_credit_note_id: Option<String>,
}

/// A receivable with its payment history.
#[derive(Debug, Clone)]
pub(crate) struct ReceivableDetail {
    /// The receivable.
    pub receivable: ReceivableView,
    /// Allocations to it, oldest first, reversed ones included.
    pub payments: Vec<ReceivablePayment>,
}

/// What the receivable list can be filtered by: valid values (ids normalised UUIDs, codes
/// trimmed, a plausible day).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReceivableFilter {
    /// Status as shown at the time of the query.
    pub status: Option<ReceivableStatus>,
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The party's id (a normalised UUID).
    pub party_id: Option<String>,
    /// The payer's code.
    pub payer_code: Option<String>,
    /// The location's code.
    pub location_code: Option<String>,
    /// The invoice (a normalised UUID).
    pub invoice_id: Option<String>,
    /// Due before this day.
    pub due_before: Option<NaiveDate>,
}

impl ReceivableFilter {
    /// The filter as the store takes it.
    fn stored(&self) -> StoredFilter {
        StoredFilter {
            status: self.status,
            party_kind: self.party_kind,
            party_id: self.party_id.clone(),
            payer_code: self.payer_code.clone(),
            location_code: self.location_code.clone(),
            invoice_id: self.invoice_id.clone(),
            due_before: self.due_before,
        }
    }
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
        let party = row.party()?;
        let outstanding = row.outstanding();
        let c = row.currency;
        let cancellation = match row.credit_note_id {
            None => None,
            Some(credit_note_id) => Some(ReceivableCancellation {
                credit_note_id,
                credit_note_number: row.credit_note_number.ok_or_else(|| {
                    Error::stored(
                        "credit note number",
                        "NULL",
                        "missing beside its credit note",
                    )
                })?,
                reason: row.cancel_reason,
                cancelled_at: row.cancelled_at.map(|t| t.and_utc()),
            }),
        };
        Ok(ReceivableView {
            id: row.id,
            invoice_id: row.invoice_id,
            invoice_number: row.invoice_number,
            location: ReceivableLocation {
                id: row.location_id,
                code: row.location_code,
                time_zone: row.location_time_zone,
            },
            party,
            payer_code: row.payer_code,
            patient_id: row.patient_id,
            currency: c,
            total: money(row.total_minor, c),
            paid: money(row.paid_minor, c),
            outstanding: money(outstanding.0, c),
            due_date: row.due_date,
            issue_date: row.issue_date,
            status,
            cancellation,
            issued_at: row.issued_at.and_utc(),
        })
    }
}

impl ReceivablePayment {
    fn of(a: ReceivableAllocationRow, currency: Currency) -> ReceivablePayment {
        ReceivablePayment {
            allocation_id: a.id,
            payment_id: a.payment_id,
            received_on: a.received_on,
            method: a.method,
            amount: money(a.amount_minor, currency),
            allocated_at: a.allocated_at.and_utc(),
            reversed_at: a.reversed_at.map(|t| t.and_utc()),
            reversed_by_credit_note_id: a.reversed_by_credit_note_id,
        }
    }
}

/// Serialises the events of one invoice until the transaction ends (see [`crate::consumer`]).
pub(crate) fn lock_invoice(conn: &mut AnyConnection, invoice_id: InvoiceId) -> Result<(), Error> {
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
    let receivable = ReceivableView::of(row, now)?;
    let c = receivable.currency;
    Ok(ReceivableDetail {
        receivable,
        payments: payments
            .into_iter()
            .map(|a| ReceivablePayment::of(a, c))
            .collect(),
    })
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
    let rows = receivables::list(conn, scope, &filter.stored(), page, now)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    page.try_map(|r| ReceivableView::of(r, now))
}
