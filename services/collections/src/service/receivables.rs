//! Receivables: what is owed on each issued invoice, kept from invoicing's events, and read with
//! their payment history and the sent batch their invoice is in (joined when read, from the
//! batches [`super::batches`] keeps).
//!
//! The stored status is the base status (`open`, `partially_paid`, `paid`, `cancelled`);
//! `overdue` depends on the day in the issuing location's time zone and is computed when read,
//! in SQL for filters and sums and in Rust for each row shown.
//!
//! A full credit note cancels a receivable: every allocation to it is reversed and its money
//! goes back to the payments' unallocated remainder, the party's credit. A partial credit note
//! reduces it instead: `credited` grows, outstanding = total − credited − paid, and the status
//! follows what is left (`paid` once credits and payments cover the total: nothing is owed).
//! Money paid beyond what is left to pay goes back to the party's credit the same way as a
//! cancellation's, newest allocations first: each is reversed, and the part of it that stays
//! paid is allocated again from the same payment, so allocations are never changed or deleted
//! and the history shows what the credit note did.

use std::collections::HashMap;

use carebill_domain::collections::plans::AdjustmentKind;
use carebill_domain::collections::{self as rules, ReceivableStatus, WriteOffKind};
use carebill_domain::creditor_reference::CreditorReference;
use carebill_domain::events::{
    AgencyCreditNoteIssuedV1, AgencyInvoiceIssuedV1, CreditNoteIssuedV1, Envelope, InvoiceIssuedV1,
    LocationRef, PartyKind, PartyRef,
};
use carebill_domain::ids::{
    BatchId, CreditNoteId, EpisodeId, InvoiceId, LocationId, PatientId, ReceivableId,
};
use carebill_domain::{Currency, MinorUnits, Money, stored};
use carebill_platform::Error;
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{Page, PageRequest};
use chrono::{DateTime, NaiveDate, Utc};

use crate::store::adjustments::{self, AdjustmentRow};
use crate::store::allocations::{self, NewAllocationRow, ReceivableAllocationRow};
use crate::store::batches;
use crate::store::disputes::{self, DisputeRow};
use crate::store::early_credit_notes::{self, EarlyCreditNoteRow};
use crate::store::partial_credit_notes::{self, PartialCreditNoteRow};
use crate::store::payments;
use crate::store::receivables::{
    self, NewReceivableRow, ReceivableFilter as StoredFilter, ReceivableRow, StoredParty,
};
use crate::store::write_offs::{self, WriteOffRow};

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

/// The sent batch a receivable's invoice is in.
#[derive(Debug, Clone)]
pub(crate) struct ReceivableBatch {
    /// Invoicing's batch id.
    pub id: BatchId,
    /// Its number.
    pub number: String,
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
    /// The patient (none for a care agency's invoice to a carer or an organisation).
    pub patient_id: Option<PatientId>,
    /// Currency of every amount.
    pub currency: Currency,
    /// The invoice total.
    pub total: Money,
    /// Taken off the total by partial credit notes.
    pub credited: Money,
    /// Sum of the (not reversed) allocations to it.
    pub paid: Money,
    /// Written off.
    pub written_off: Money,
    /// Raised or lowered by adjustments, signed.
    pub adjusted: Money,
    /// What is still owed: total + adjusted − credited − paid − written off.
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
    /// The sent batch its invoice is in.
    pub batch: Option<ReceivableBatch>,
    /// Its open dispute, if any.
    pub dispute: Option<DisputeRecord>,
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

/// A write-off as read.
#[derive(Debug, Clone)]
pub(crate) struct WriteOffRecord {
    /// Id.
    pub id: String,
    /// The receivable.
    pub receivable_id: ReceivableId,
    /// Kind.
    pub kind: WriteOffKind,
    /// Amount.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// Who.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl WriteOffRecord {
    pub(crate) fn of(r: WriteOffRow, currency: Currency) -> WriteOffRecord {
        WriteOffRecord {
            id: r.id,
            receivable_id: r.receivable_id,
            kind: r.kind,
            amount: money(r.amount_minor, currency),
            reason: r.reason,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at.and_utc(),
        }
    }
}

/// An adjustment as read.
#[derive(Debug, Clone)]
pub(crate) struct AdjustmentRecord {
    /// Id.
    pub id: String,
    /// The receivable.
    pub receivable_id: ReceivableId,
    /// Kind.
    pub kind: AdjustmentKind,
    /// The change, signed.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// Who.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl AdjustmentRecord {
    pub(crate) fn of(r: AdjustmentRow, currency: Currency) -> AdjustmentRecord {
        AdjustmentRecord {
            id: r.id,
            receivable_id: r.receivable_id,
            kind: r.kind,
            amount: money(r.amount_minor, currency),
            reason: r.reason,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at.and_utc(),
        }
    }
}

/// A dispute as read.
#[derive(Debug, Clone)]
pub(crate) struct DisputeRecord {
    /// Id.
    pub id: String,
    /// The receivable.
    pub receivable_id: ReceivableId,
    /// Why the party disputes it.
    pub reason: String,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Who opened it.
    pub opened_by: String,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// How.
    pub resolution: Option<String>,
}

impl DisputeRecord {
    pub(crate) fn of(r: DisputeRow) -> DisputeRecord {
        DisputeRecord {
            id: r.id,
            receivable_id: r.receivable_id,
            reason: r.reason,
            opened_at: r.opened_at.and_utc(),
            opened_by: r.opened_by,
            resolved_at: r.resolved_at.map(|t| t.and_utc()),
            resolved_by: r.resolved_by,
            resolution: r.resolution,
        }
    }
}

/// A receivable with its payment history.
#[derive(Debug, Clone)]
pub(crate) struct ReceivableDetail {
    /// The receivable.
    pub receivable: ReceivableView,
    /// Allocations to it, oldest first, reversed ones included.
    pub payments: Vec<ReceivablePayment>,
    /// Write-offs of it, oldest first.
    pub write_offs: Vec<WriteOffRecord>,
    /// Adjustments of it, oldest first.
    pub adjustments: Vec<AdjustmentRecord>,
    /// Disputes of it, oldest first (the open one last).
    pub disputes: Vec<DisputeRecord>,
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
    /// In this sent batch (a normalised UUID).
    pub batch_id: Option<String>,
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
            batch_id: self.batch_id.clone(),
        }
    }
}

impl ReceivableView {
    fn of(
        row: ReceivableRow,
        batch: Option<ReceivableBatch>,
        dispute: Option<DisputeRecord>,
        now: DateTime<Utc>,
    ) -> Result<ReceivableView, Error> {
        let today = rules::local_today(&row.location_time_zone, now);
        let status = rules::receivable_status(
            row.payable_total(),
            MinorUnits(row.credited_minor),
            MinorUnits(row.paid_minor),
            MinorUnits(row.written_off_minor),
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
            patient_id: row
                .patient_id
                .as_deref()
                .map(|p| carebill_domain::stored::parse("patient id", p))
                .transpose()
                .map_err(Error::from)?,
            currency: c,
            total: money(row.total_minor, c),
            credited: money(row.credited_minor, c),
            paid: money(row.paid_minor, c),
            written_off: money(row.written_off_minor, c),
            adjusted: money(row.adjusted_minor, c),
            outstanding: money(outstanding.0, c),
            due_date: row.due_date,
            issue_date: row.issue_date,
            status,
            cancellation,
            issued_at: row.issued_at.and_utc(),
            batch,
            dispute,
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
pub(crate) fn event_actor(env: &Envelope) -> Principal {
    Principal::system(env.source.clone(), env.correlationid.clone())
}

fn minor(m: &Money, what: &str) -> Result<i64, Error> {
    m.to_minor()
        .map(|m| m.0)
        .map_err(|e| Error::invalid_event(format!("{what}: {e}")))
}

/// An issued invoice as collections takes it: a settlement's (`invoice.issued`) or a care
/// agency's (`agency-invoice.issued`, seed 004: the carer's self-billed hours the agency
/// collects on the carer's behalf, its commission, its mediation fee).
pub(crate) struct IssuedInvoice<'e> {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// Its number.
    pub number: &'e str,
    /// The issuing location.
    pub location: &'e LocationRef,
    /// Who owes it.
    pub recipient: &'e PartyRef,
    /// The patient the care was for, if any.
    pub patient_id: Option<PatientId>,
    /// The episode, if any (prepayments for it go first).
    pub episode_id: Option<EpisodeId>,
    /// Total to pay.
    pub total: Money,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date.
    pub due_date: NaiveDate,
    /// When.
    pub issued_at: DateTime<Utc>,
}

impl<'e> From<&'e InvoiceIssuedV1> for IssuedInvoice<'e> {
    fn from(e: &'e InvoiceIssuedV1) -> Self {
        IssuedInvoice {
            invoice_id: e.invoice_id,
            number: &e.number,
            location: &e.location,
            recipient: &e.recipient,
            patient_id: Some(e.patient_id),
            episode_id: Some(e.episode_id),
            total: e.total,
            issue_date: e.issue_date,
            due_date: e.due_date,
            issued_at: e.issued_at,
        }
    }
}

impl<'e> From<&'e AgencyInvoiceIssuedV1> for IssuedInvoice<'e> {
    fn from(e: &'e AgencyInvoiceIssuedV1) -> Self {
        IssuedInvoice {
            invoice_id: e.invoice_id,
            number: &e.number,
            location: &e.location,
            recipient: &e.recipient,
            patient_id: e.patient_id,
            episode_id: None,
            total: e.total,
            issue_date: e.issue_date,
            due_date: e.due_date,
            issued_at: e.issued_at,
        }
    }
}

/// A credit note as collections takes it: a settlement invoice's (`credit_note.issued`) or a
/// care agency invoice's (`agency-credit-note.issued`).
pub(crate) struct IssuedCredit<'e> {
    /// The credit note.
    pub credit_note_id: CreditNoteId,
    /// Its number.
    pub number: &'e str,
    /// The invoice credited.
    pub invoice_id: InvoiceId,
    /// Partial (reduces the invoice) or full (cancels it).
    pub partial: bool,
    /// Amount credited.
    pub total: Money,
    /// What the invoice still bills after it (partial credit notes say).
    pub invoice_remaining: Option<Money>,
    /// Why.
    pub reason: &'e str,
}

impl<'e> From<&'e CreditNoteIssuedV1> for IssuedCredit<'e> {
    fn from(e: &'e CreditNoteIssuedV1) -> Self {
        IssuedCredit {
            credit_note_id: e.credit_note_id,
            number: &e.number,
            invoice_id: e.invoice_id,
            partial: e.partial,
            total: e.total,
            invoice_remaining: e.invoice_remaining,
            reason: &e.reason,
        }
    }
}

impl<'e> From<&'e AgencyCreditNoteIssuedV1> for IssuedCredit<'e> {
    fn from(e: &'e AgencyCreditNoteIssuedV1) -> Self {
        IssuedCredit {
            credit_note_id: e.credit_note_id,
            number: &e.number,
            invoice_id: e.invoice_id,
            partial: e.partial,
            total: e.total,
            invoice_remaining: Some(e.invoice_remaining),
            reason: &e.reason,
        }
    }
}

/// An invoice was issued: its receivable is created (once), cancelled at once when its credit
/// note arrived first, reduced by the partial credit notes that arrived first. Runs in the
/// inbox's transaction with the invoice's key locked. True when the receivable was created
/// now (false for the same invoice announced again).
#[tracing::instrument(skip_all, fields(invoice_id = %e.invoice_id))]
pub(crate) fn invoice_issued(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &IssuedInvoice<'_>,
) -> Result<bool, Error> {
    if receivables::exists_for_invoice(conn, e.invoice_id)? {
        // The same invoice announced again (a re-published event under a new id).
        return Ok(false);
    }
    let early = early_credit_notes::pending(conn, e.invoice_id)?;
    let now = db::now();
    let id = ReceivableId::new();
    let total = minor(&e.total, "total")?;
    let credited = match partial_credit_notes::least_remaining(conn, e.invoice_id)? {
        None => MinorUnits(0),
        Some(remaining) => {
            rules::partial_credit(
                MinorUnits(total),
                MinorUnits(0),
                MinorUnits(0),
                MinorUnits(0),
                MinorUnits(remaining),
            )
            .map_err(|err| {
                Error::invalid_event(format!(
                    "invoice {}: a partial credit note that came first: {err}",
                    e.number
                ))
            })?
            .credited
        }
    };
    let status = rules::base_status(
        MinorUnits(total),
        credited,
        MinorUnits(0),
        MinorUnits(0),
        early.is_some(),
    );
    receivables::insert(
        conn,
        NewReceivableRow {
            id,
            invoice_id: e.invoice_id,
            invoice_number: e.number.to_owned(),
            location_id: e.location.id,
            location_code: e.location.code.clone(),
            location_time_zone: e.location.time_zone.clone(),
            party_kind: e.recipient.kind,
            party_id: e.recipient.id.to_string(),
            payer_code: e.recipient.payer_code.clone(),
            party: serde_json::to_string(&StoredParty::from(e.recipient))?,
            patient_id: e.patient_id.map(|p| p.to_string()),
            currency: e.total.currency(),
            total_minor: total,
            paid_minor: 0,
            credited_minor: credited.0,
            due_date: e.due_date,
            issue_date: e.issue_date,
            status,
            credit_note_id: early.as_ref().map(|c| c.credit_note_id.to_string()),
            credit_note_number: early.as_ref().map(|c| c.credit_note_number.clone()),
            cancel_reason: early.as_ref().map(|c| c.reason.clone()),
            cancelled_at: early.as_ref().map(|_| now),
            issued_at: db::truncate_micros(e.issued_at.naive_utc()),
            payment_reference: Some(
                CreditorReference::for_invoice_number(e.number)
                    .as_str()
                    .to_owned(),
            ),
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
    Ok(true)
}

/// A credit note was issued. A full one cancels its invoice's receivable and the money
/// allocated to it goes back to each payment's unallocated remainder (the allocations stay,
/// marked reversed); a partial one reduces it ([`partial_credit_note_issued`]). A credit note
/// whose invoice has not arrived yet is kept for it. Runs in the inbox's transaction with the
/// invoice's key locked; then the receivable, then its payments in id order.
#[tracing::instrument(skip_all, fields(invoice_id = %e.invoice_id, credit_note_id = %e.credit_note_id))]
pub(crate) fn credit_note_issued(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &IssuedCredit<'_>,
) -> Result<(), Error> {
    if e.partial {
        return partial_credit_note_issued(conn, env, e);
    }
    let row = receivables::of_invoice(conn, e.invoice_id)?;
    let now = db::now();
    let Some(row) = row else {
        // The invoice's issue event has not arrived yet: keep the cancellation for it.
        return early_credit_notes::keep(
            conn,
            EarlyCreditNoteRow {
                invoice_id: e.invoice_id,
                credit_note_id: e.credit_note_id,
                credit_note_number: e.number.to_owned(),
                reason: e.reason.to_owned(),
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
    receivables::cancel(conn, row.id, e.credit_note_id, e.number, e.reason, now)?;
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
            "written_off": { "before": money(row.written_off_minor, c), "after": money(0, c) },
            "credit_note_id": e.credit_note_id.to_string(),
            "credit_note_number": e.number,
            "returned_to_credit": money(returned, c),
            "reversed_allocations": active.iter().map(|a| &a.id).collect::<Vec<_>>(),
            "event_id": env.id,
        }),
        Some(e.reason),
    )?;
    Ok(())
}

/// A partial credit note: the receivable's `credited` is set from what the invoice still bills
/// (so that the same credit note again, or an older one late, changes nothing), what was paid
/// beyond what is left to pay goes back to the party's credit, newest allocations first (see
/// the module), and the status follows what is left. Kept (once) for an invoice not arrived yet.
/// A receivable a full credit note cancelled already is left as it is.
fn partial_credit_note_issued(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &IssuedCredit<'_>,
) -> Result<(), Error> {
    let remaining = e.invoice_remaining.as_ref().ok_or_else(|| {
        Error::invalid_event(format!(
            "partial credit note {} does not say what its invoice still bills",
            e.number
        ))
    })?;
    if remaining.currency() != e.total.currency() {
        return Err(Error::invalid_event(format!(
            "partial credit note {}: its total and what its invoice still bills are in different currencies",
            e.number
        )));
    }
    let now = db::now();
    partial_credit_notes::keep(
        conn,
        PartialCreditNoteRow {
            credit_note_id: e.credit_note_id,
            invoice_id: e.invoice_id,
            credit_note_number: e.number.to_owned(),
            currency: remaining.currency().to_string(),
            credited_minor: minor(&e.total, "total")?,
            remaining_minor: minor(remaining, "invoice_remaining")?,
            reason: e.reason.to_owned(),
            received_at: now,
        },
    )?;
    // Locked and read under the lock: what is paid on it now.
    let Some(row) = receivables::lock_for_invoices(conn, &[e.invoice_id])?
        .into_iter()
        .next()
    else {
        // The invoice's issue event has not arrived yet: it applies the kept credit note.
        return Ok(());
    };
    if row.cancelled() {
        return Ok(());
    }
    if remaining.currency() != row.currency {
        return Err(Error::invalid_event(format!(
            "partial credit note {} is in {}, its invoice {} in {}",
            e.number,
            remaining.currency(),
            row.invoice_number,
            row.currency
        )));
    }
    let after = rules::partial_credit_adjusted(
        MinorUnits(row.total_minor),
        MinorUnits(row.adjusted_minor),
        MinorUnits(row.credited_minor),
        MinorUnits(row.paid_minor),
        MinorUnits(row.written_off_minor),
        MinorUnits(minor(remaining, "invoice_remaining")?),
    )
    .map_err(|err| Error::invalid_event(format!("partial credit note {}: {err}", e.number)))?;
    if after.credited.0 == row.credited_minor
        && after.returned.0 == 0
        && after.written_off.0 == row.written_off_minor
    {
        return Ok(());
    }
    let (reversed, reallocated) = return_to_credit(conn, env, e, &row, after.returned.0, now)?;
    let status = rules::base_status(
        row.payable_total(),
        after.credited,
        after.paid,
        after.written_off,
        false,
    );
    receivables::set_credited(
        conn,
        row.id,
        after.credited.0,
        after.paid.0,
        after.written_off.0,
        status,
        now,
    )?;
    let c = row.currency;
    audit::record_at(
        conn,
        &event_actor(env),
        &row.location_id.to_string(),
        "credit",
        "receivable",
        &row.id.to_string(),
        serde_json::json!({
            "status": { "before": row.status, "after": status },
            "credited": { "before": money(row.credited_minor, c), "after": money(after.credited.0, c) },
            "paid": { "before": money(row.paid_minor, c), "after": money(after.paid.0, c) },
            "written_off": { "before": money(row.written_off_minor, c), "after": money(after.written_off.0, c) },
            "credit_note_id": e.credit_note_id.to_string(),
            "credit_note_number": e.number,
            "returned_to_credit": money(after.returned.0, c),
            "reversed_allocations": reversed,
            "reallocated": reallocated,
            "event_id": env.id,
        }),
        Some(e.reason),
    )?;
    Ok(())
}

/// Gives `excess` paid on `row` back to its payments' unallocated remainders, newest
/// allocations first: each is reversed, and what of it stays paid is allocated again from the
/// same payment. Returns the ids of the reversed allocations and of the new ones.
fn return_to_credit(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &IssuedCredit<'_>,
    row: &ReceivableRow,
    excess: i64,
    now: chrono::NaiveDateTime,
) -> Result<(Vec<String>, Vec<String>), Error> {
    if excess <= 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut active = allocations::active_for(conn, row.id)?;
    // Allocation ids are UUIDv7: newest first.
    active.sort_by(|a, b| b.id.cmp(&a.id));
    let mut left = excess;
    let mut touched = Vec::new();
    for a in active {
        if left == 0 {
            break;
        }
        let back = a.amount_minor.min(left);
        left -= back;
        touched.push((a, back));
    }
    if left > 0 {
        return Err(Error::internal(&format!(
            "receivable {}: its allocations do not add up to what is paid on it",
            row.id
        )));
    }
    let mut payment_ids: Vec<_> = touched.iter().map(|(a, _)| a.payment_id).collect();
    payment_ids.sort_by_key(ToString::to_string);
    payment_ids.dedup();
    for p in payment_ids {
        payments::lock(conn, p)?;
    }
    let (mut reversed, mut reallocated) = (Vec::new(), Vec::new());
    for (a, back) in touched {
        allocations::reverse(conn, &a.id, e.credit_note_id, now)?;
        payments::give_back(conn, a.payment_id, back, now)?;
        reversed.push(a.id.clone());
        if a.amount_minor > back {
            let id = uuid::Uuid::now_v7().to_string();
            allocations::insert(
                conn,
                NewAllocationRow {
                    id: id.clone(),
                    payment_id: a.payment_id,
                    receivable_id: row.id,
                    amount_minor: a.amount_minor - back,
                    allocated_by: env.source.clone(),
                    allocated_at: now,
                },
            )?;
            reallocated.push(id);
        }
    }
    Ok((reversed, reallocated))
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
    let written = write_offs::of_receivable(conn, row.id)?;
    let adjusted = adjustments::of_receivable(conn, row.id)?;
    let disputed: Vec<DisputeRecord> = disputes::of_receivable(conn, row.id)?
        .into_iter()
        .map(DisputeRecord::of)
        .collect();
    let open = disputed.iter().find(|d| d.resolved_at.is_none()).cloned();
    let mut batch = batches_of(conn, &[row.invoice_id])?;
    let receivable = ReceivableView::of(row, batch.pop().flatten(), open, now)?;
    let c = receivable.currency;
    Ok(ReceivableDetail {
        receivable,
        payments: payments
            .into_iter()
            .map(|a| ReceivablePayment::of(a, c))
            .collect(),
        write_offs: written
            .into_iter()
            .map(|w| WriteOffRecord::of(w, c))
            .collect(),
        adjustments: adjusted
            .into_iter()
            .map(|a| AdjustmentRecord::of(a, c))
            .collect(),
        disputes: disputed,
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
    let invoices: Vec<InvoiceId> = page.items.iter().map(|r| r.invoice_id).collect();
    let mut batches = batches_of(conn, &invoices)?.into_iter();
    let ids: Vec<ReceivableId> = page.items.iter().map(|r| r.id).collect();
    let mut open: HashMap<ReceivableId, DisputeRecord> = disputes::open_of_many(conn, &ids)?
        .into_iter()
        .map(|d| (d.receivable_id, DisputeRecord::of(d)))
        .collect();
    page.try_map(|r| {
        let dispute = open.remove(&r.id);
        ReceivableView::of(r, batches.next().flatten(), dispute, now)
    })
}

/// The sent batch of each of these invoices, in their order (none for an invoice in no batch).
fn batches_of(
    conn: &mut AnyConnection,
    invoices: &[InvoiceId],
) -> Result<Vec<Option<ReceivableBatch>>, Error> {
    let mut found: HashMap<String, ReceivableBatch> = HashMap::new();
    for (invoice_id, batch_id, number) in batches::of_invoices(conn, invoices)? {
        let id = stored::parse::<BatchId>("batch id", &batch_id)?;
        found.insert(invoice_id, ReceivableBatch { id, number });
    }
    Ok(invoices
        .iter()
        .map(|i| found.remove(&i.to_string()))
        .collect())
}
