//! Payments: money received from a payer or a patient, applied to that party's invoices now or
//! later. What is not applied stays on the party's balance as credit.
//!
//! Recording a payment and allocating it are each one transaction: the receivables involved are
//! locked (in id order, always before any payment row, so writers never deadlock), every
//! allocation is checked by [`plan_allocations`], and either all are made or none.
//!
//! A payment may be made of several tenders (card, cash, voucher) that add up to it
//! ([`check_tenders`]). A prepayment is a payment recorded before its invoices: when an invoice
//! of its party arrives, [`apply_prepayments`] allocates its credit to it (a prepayment for the
//! invoice's episode first, then those for no episode, oldest first). A refund pays part of a
//! payment's credit back ([`refund`]); credit = amount − allocated − refunded, never negative.
//!
//! Events: recording a payment enqueues `carebill.collections.payment.recorded.v1` with the
//! allocations made then. Allocating the remainder later enqueues nothing (a second
//! `payment.recorded` would announce money received twice); it is in the audit trail, and a
//! `payment.allocated` event is for when a consumer needs it.

use std::collections::{HashMap, HashSet};

use carebill_domain::collections::{
    AllocationError, AllocationProblem, AllocationTarget, PaymentKind, RefundProblem,
    RequestedAllocation, TenderProblem, apply_credits, check_refund, check_tenders,
    plan_allocations,
};
use carebill_domain::events::{
    AllocationRef, Envelope, PartyKind, PartyRef, PaymentRecordedV1, RefundIssuedV1,
};
use carebill_domain::ids::{PaymentId, ReceivableId};
use carebill_domain::{Code, FieldError, MinorUnits, Money, stored};
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::receivables::{event_actor, money};
use crate::store::allocations::{self, NewAllocationRow};
use crate::store::payments::{self, PaymentFilter as StoredFilter, PaymentRow};
use crate::store::plans as plan_store;
use crate::store::receivables::{self, PaidReceivable, ReceivableRow};
use crate::store::refunds::{self, RefundRow};
use crate::store::tenders::{self, TenderRow};

/// One allocation of a payment, as a payment is read and audited.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AllocationRecord {
    /// Id.
    pub id: String,
    /// The receivable.
    pub receivable_id: String,
    /// Its invoice.
    pub invoice_id: String,
    /// The invoice number.
    pub invoice_number: String,
    /// Amount applied.
    pub amount: Money,
    /// When.
    pub allocated_at: DateTime<Utc>,
    /// Who.
    pub allocated_by: String,
    /// True when a credit note returned it to credit.
    pub reversed: bool,
    /// When it was reversed.
    pub reversed_at: Option<DateTime<Utc>>,
    /// The credit note that reversed it.
    pub reversed_by_credit_note_id: Option<String>,
}

/// One tender of a payment.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TenderRecord {
    /// Method code.
    pub method: String,
    /// Amount.
    pub amount: Money,
    /// Its reference (card slip, voucher number).
    pub reference: Option<String>,
}

/// A refund of a payment's credit.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct RefundRecord {
    /// Id.
    pub id: String,
    /// Amount paid back.
    pub amount: Money,
    /// Method code.
    pub method: String,
    /// Its reference.
    pub reference: Option<String>,
    /// Why.
    pub reason: String,
    /// Day paid back.
    pub refunded_on: NaiveDate,
    /// Who issued it.
    pub issued_by: String,
    /// When.
    pub issued_at: DateTime<Utc>,
}

/// A payment with its allocations, as it is read and as the audit trail keeps it when recorded.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PaymentRecord {
    /// Id.
    pub id: String,
    /// Payment or prepayment.
    pub kind: PaymentKind,
    /// The episode a prepayment is for.
    pub episode_id: Option<String>,
    /// Refunded of its credit.
    pub refunded: Money,
    /// The tenders it was made of (none: one tender, the payment's method).
    pub tenders: Vec<TenderRecord>,
    /// Its refunds, oldest first.
    pub refunds: Vec<RefundRecord>,
    /// Who paid.
    pub party: PartyRef,
    /// Amount received.
    pub amount: Money,
    /// Sum of the allocations not reversed.
    pub allocated: Money,
    /// What stays as the party's credit: amount − allocated − refunded.
    pub unallocated: Money,
    /// Method.
    pub method: String,
    /// Day received.
    pub received_on: NaiveDate,
    /// The payer's reference.
    pub reference: Option<String>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
    /// Its allocations, oldest first, reversed ones included (for a reader limited to some
    /// locations, only those to its locations' receivables).
    pub allocations: Vec<AllocationRecord>,
}

/// Who pays.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Payer {
    /// Payer or patient.
    pub kind: PartyKind,
    /// The payer's or the patient's id.
    pub id: uuid::Uuid,
}

/// A checked tender of a new payment.
#[derive(Debug, Clone)]
pub(crate) struct NewTender {
    /// Method code.
    pub method: Code,
    /// Amount (positive, in the payment's currency: [`check_tenders`] says so).
    pub amount: Money,
    /// Its reference.
    pub reference: Option<String>,
}

/// A checked payment, ready to be stored.
#[derive(Debug, Clone)]
pub(crate) struct NewPayment {
    /// Payment or prepayment.
    pub kind: PaymentKind,
    /// The episode a prepayment is for (a normalised UUID).
    pub episode_id: Option<String>,
    /// Its tenders (none, or several adding up to the amount).
    pub tenders: Vec<NewTender>,
    /// Who paid.
    pub party: Payer,
    /// Amount received; positive.
    pub amount: Money,
    /// The same amount in minor units (it fits the column).
    pub amount_minor: i64,
    /// Method code.
    pub method: Code,
    /// Day received.
    pub received_on: NaiveDate,
    /// The payer's reference.
    pub reference: Option<String>,
    /// Invoices to apply it to.
    pub allocations: Vec<RequestedAllocation>,
}

fn party_ref(kind: PartyKind, id: uuid::Uuid, payer_code: Option<String>) -> PartyRef {
    PartyRef {
        kind,
        id,
        payer_code,
        payer_kind: None,
        coverage_id: None,
        policy_number: None,
        billing: None,
    }
}

/// Turns payment rows into records, loading their allocations in one query.
fn records(
    conn: &mut AnyConnection,
    scope: &Scope,
    rows: Vec<PaymentRow>,
) -> Result<Vec<PaymentRecord>, Error> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.to_string()).collect();
    let currencies: HashMap<String, carebill_domain::Currency> = rows
        .iter()
        .map(|r| (r.id.to_string(), r.currency))
        .collect();
    // Every payment has a list, empty when nothing is allocated.
    let mut by_payment: HashMap<String, Vec<AllocationRecord>> =
        ids.iter().map(|id| (id.clone(), Vec::new())).collect();
    for a in allocations::of_payments(conn, ids, scope.locations.as_deref())? {
        let currency = *currencies
            .get(&a.payment_id)
            .ok_or_else(|| Error::internal(&"an allocation of another payment"))?;
        by_payment
            .entry(a.payment_id)
            .or_default()
            .push(AllocationRecord {
                id: a.id,
                receivable_id: a.receivable_id,
                invoice_id: a.invoice_id,
                invoice_number: a.invoice_number,
                amount: money(a.amount_minor, currency),
                allocated_at: a.allocated_at.and_utc(),
                allocated_by: a.allocated_by,
                reversed: a.reversed_at.is_some(),
                reversed_at: a.reversed_at.map(|t| t.and_utc()),
                reversed_by_credit_note_id: a.reversed_by_credit_note_id,
            });
    }
    let payment_ids: Vec<PaymentId> = rows.iter().map(|r| r.id).collect();
    let mut tenders_of: HashMap<String, Vec<TenderRecord>> = HashMap::new();
    for t in tenders::of_payments(conn, &payment_ids)? {
        let currency = *currencies
            .get(&t.payment_id)
            .ok_or_else(|| Error::internal(&"a tender of another payment"))?;
        tenders_of
            .entry(t.payment_id)
            .or_default()
            .push(TenderRecord {
                method: t.method,
                amount: money(t.amount_minor, currency),
                reference: t.reference,
            });
    }
    let mut refunds_of: HashMap<String, Vec<RefundRecord>> = HashMap::new();
    for f in refunds::of_payments(conn, &payment_ids)? {
        let key = f.payment_id.to_string();
        let currency = *currencies
            .get(&key)
            .ok_or_else(|| Error::internal(&"a refund of another payment"))?;
        refunds_of.entry(key).or_default().push(RefundRecord {
            id: f.id,
            amount: money(f.amount_minor, currency),
            method: f.method,
            reference: f.reference,
            reason: f.reason,
            refunded_on: f.refunded_on,
            issued_by: f.issued_by,
            issued_at: f.issued_at.and_utc(),
        });
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut payer_codes: HashMap<String, Option<String>> = HashMap::new();
    for r in rows {
        let payer_code = match payer_codes.get(&r.party_id) {
            Some(code) => code.clone(),
            None => {
                let code = receivables::known_payer_code(conn, r.party_kind, &r.party_id)?;
                payer_codes.insert(r.party_id.clone(), code.clone());
                code
            }
        };
        let party_id = stored::parse("payment party id", &r.party_id).map_err(Error::from)?;
        let id = r.id.to_string();
        out.push(PaymentRecord {
            party: party_ref(r.party_kind, party_id, payer_code),
            amount: money(r.amount_minor, r.currency),
            allocated: money(r.allocated_minor, r.currency),
            unallocated: money(r.credit().0, r.currency),
            refunded: money(r.refunded_minor, r.currency),
            kind: r.kind,
            episode_id: r.episode_id.clone(),
            tenders: tenders_of.remove(&id).unwrap_or_default(), // not stored: a payment of one tender has no rows
            refunds: refunds_of.remove(&id).unwrap_or_default(), // not stored: no refunds, no rows
            allocations: by_payment
                .remove(&id)
                .ok_or_else(|| Error::internal(&"a payment without its allocation list"))?,
            id,
            method: r.method,
            received_on: r.received_on,
            reference: r.reference,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at.and_utc(),
        });
    }
    Ok(out)
}

/// A payment the caller may see, with its allocations; not found otherwise.
#[tracing::instrument(skip_all, fields(payment_id = %id))]
pub(crate) fn payment(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: PaymentId,
) -> Result<PaymentRecord, Error> {
    let row =
        payments::find_in_scope(conn, scope, id)?.ok_or_else(|| Error::not_found("payment"))?;
    records(conn, scope, vec![row])?
        .pop()
        .ok_or_else(|| Error::not_found("payment"))
}

/// What the payment list can be filtered by: valid values (the party id a normalised UUID,
/// plausible days, the method trimmed).
#[derive(Debug, Clone, Default)]
pub(crate) struct PaymentFilter {
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The party's id (a normalised UUID).
    pub party_id: Option<String>,
    /// Received on or after.
    pub received_from: Option<NaiveDate>,
    /// Received on or before.
    pub received_to: Option<NaiveDate>,
    /// Method code.
    pub method: Option<String>,
    /// Payment or prepayment.
    pub kind: Option<PaymentKind>,
}

impl PaymentFilter {
    /// The filter as the store takes it.
    fn stored(&self) -> StoredFilter {
        StoredFilter {
            party_kind: self.party_kind,
            party_id: self.party_id.clone(),
            received_from: self.received_from,
            received_to: self.received_to,
            method: self.method.clone(),
            kind: self.kind,
        }
    }
}

/// A page of the payments the caller may see matching `filter`, oldest first.
#[tracing::instrument(skip_all)]
pub(crate) fn payments(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &PaymentFilter,
    page: &PageRequest,
) -> Result<Page<PaymentRecord>, Error> {
    let rows = payments::list(conn, scope, &filter.stored(), page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    Ok(Page {
        items: records(conn, scope, page.items)?,
        next_cursor: page.next_cursor,
    })
}

/// The latest payments of a party, newest first.
#[tracing::instrument(skip_all, fields(party_kind = %kind, party_id = %party_id))]
pub(crate) fn recent(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
    limit: i64,
) -> Result<Vec<PaymentRecord>, Error> {
    let rows = payments::recent(conn, kind, party_id, limit)?;
    records(conn, scope, rows)
}

/// The error for allocations that cannot be made: `invoice_cancelled` (409) when the only
/// problem is a cancelled invoice, 422 naming every offending item otherwise.
fn allocation_problem(e: AllocationError) -> Error {
    if e.problems.iter().all(|p| p.is_conflict()) {
        let fields: Vec<String> = e.problems.iter().map(|p| p.field()).collect();
        return Error::new(
            ErrorCode::InvoiceCancelled,
            format!(
                "cancelled by a credit note, nothing can be allocated to it: {}",
                fields.join(", ")
            ),
        );
    }
    let errors: Vec<FieldError> = e
        .problems
        .iter()
        .map(|p| FieldError {
            field: p.field(),
            code: p.code().to_owned(),
            message: p.to_string(),
        })
        .collect();
    // One kind of problem is named at the top (`over_allocated`, `currency_mismatch`, ...), so a
    // client can branch on `code`; a mix is a plain validation failure. Either way every item
    // is in `errors`.
    match e.problems.first() {
        Some(first)
            if e.problems
                .iter()
                .all(|p| std::mem::discriminant(p) == std::mem::discriminant(first)) =>
        {
            Error::new(
                allocation_code(first),
                errors
                    .iter()
                    .map(|f| f.message.clone())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
            .with_errors(errors)
        }
        _ => Error::validation(errors),
    }
}

/// The stable code of an allocation problem (the domain names the kinds; the API owns the
/// codes).
fn allocation_code(p: &AllocationProblem) -> ErrorCode {
    match p {
        AllocationProblem::NotPositive { .. } => ErrorCode::NotPositive,
        AllocationProblem::Duplicate { .. } => ErrorCode::DuplicateInvoice,
        AllocationProblem::Unknown { .. } => ErrorCode::UnknownInvoice,
        AllocationProblem::OtherParty { .. } => ErrorCode::OtherParty,
        AllocationProblem::CurrencyMismatch { .. } => ErrorCode::CurrencyMismatch,
        AllocationProblem::Cancelled { .. } => ErrorCode::InvoiceCancelled,
        AllocationProblem::ExceedsOutstanding { .. } => ErrorCode::ExceedsOutstanding,
        AllocationProblem::OverAllocated { .. } => ErrorCode::OverAllocated,
    }
}

/// Plans `requested` against the locked receivables, for `party` and `available` money.
fn plan(
    who: &Principal,
    rows: &[ReceivableRow],
    party_kind: PartyKind,
    party_id: &str,
    available: Money,
    requested: &[RequestedAllocation],
) -> Result<Vec<(RequestedAllocation, ReceivableRow)>, Error> {
    let scope = Scope::of(who);
    let by_invoice: HashMap<String, &ReceivableRow> = rows
        .iter()
        .filter(|r| scope.allows(&r.location_code, r.payer_code.as_deref()))
        .map(|r| (r.invoice_id.to_string(), r))
        .collect();
    let plan = plan_allocations(available, requested, |id| {
        by_invoice.get(&id.to_string()).map(|r| AllocationTarget {
            currency: r.currency,
            outstanding: r.outstanding(),
            cancelled: r.cancelled(),
            same_party: r.party_kind == party_kind && r.party_id == party_id,
        })
    })
    .map_err(allocation_problem)?;
    plan.allocations
        .into_iter()
        .map(|a| {
            by_invoice
                .get(&a.invoice_id.to_string())
                .map(|r| (a, (*r).clone()))
                .ok_or_else(|| Error::internal(&"planned allocation without its receivable"))
        })
        .collect()
}

/// An audit entry kept to be written with others.
struct PendingAudit {
    action: &'static str,
    entity_type: &'static str,
    entity_id: String,
    location_id: Option<String>,
    changes: serde_json::Value,
}

/// Writes audit entries, in order, in as few statements as the backend allows.
fn write_audits(
    conn: &mut AnyConnection,
    who: &Principal,
    audits: Vec<PendingAudit>,
) -> Result<(), Error> {
    if audits.is_empty() {
        return Ok(());
    }
    let (keys, values): (Vec<_>, Vec<_>) = audits
        .into_iter()
        .map(|a| {
            (
                (a.action, a.entity_type, a.entity_id, a.location_id),
                a.changes,
            )
        })
        .unzip();
    let changes: Vec<Change<'_>> = keys
        .iter()
        .zip(values)
        .map(
            |((action, entity_type, entity_id, location_id), v)| Change {
                action,
                entity_type,
                entity_id,
                location_id: location_id.as_deref(),
                changes: Snapshot::Json(v),
                reason: None,
            },
        )
        .collect();
    audit::record_many(conn, who, &changes)?;
    Ok(())
}

/// Rows that allocations and payments make, kept to be written together.
#[derive(Default)]
struct PendingRows {
    payments: Vec<PaymentRow>,
    tenders: Vec<TenderRow>,
    allocations: Vec<NewAllocationRow>,
    /// Each receivable paid, with its new paid amount and status and when (several of one
    /// receivable: the last counts).
    paid: Vec<PaidReceivable>,
}

impl PendingRows {
    /// Writes the payments, then their tenders and allocations, then the receivables paid.
    fn write(&mut self, conn: &mut AnyConnection) -> Result<(), Error> {
        payments::insert_many(conn, std::mem::take(&mut self.payments))?;
        tenders::insert(conn, std::mem::take(&mut self.tenders))?;
        allocations::insert_many(conn, std::mem::take(&mut self.allocations))?;
        let mut last: HashMap<ReceivableId, PaidReceivable> = HashMap::new();
        let mut order = Vec::new();
        for p in std::mem::take(&mut self.paid) {
            if last.insert(p.id, p).is_none() {
                order.push(p.id);
            }
        }
        let updates: Vec<PaidReceivable> = order.iter().filter_map(|id| last.remove(id)).collect();
        receivables::set_paid_many(conn, &updates)?;
        Ok(())
    }

    fn append(&mut self, mut other: PendingRows) {
        self.payments.append(&mut other.payments);
        self.tenders.append(&mut other.tenders);
        self.allocations.append(&mut other.allocations);
        self.paid.append(&mut other.paid);
    }
}

/// Makes planned allocations of `payment_id` in memory: each planned receivable row takes
/// what it is paid and its new base status; the allocation rows and the receivables' new
/// amounts go to `rows`. Answers the event's references and one audit entry per allocation.
fn allocate_planned(
    who: &Principal,
    payment_id: PaymentId,
    planned: &mut [(RequestedAllocation, ReceivableRow)],
    rows: &mut PendingRows,
) -> Result<(Vec<AllocationRef>, Vec<PendingAudit>), Error> {
    let now = db::now();
    let mut refs = Vec::with_capacity(planned.len());
    let mut audits = Vec::with_capacity(planned.len());
    for (a, r) in planned.iter_mut() {
        let amount = a
            .amount
            .to_minor()
            .map_err(|e| Error::field("allocations", "out_of_range", e.to_string()))?
            .0;
        let allocation_id = uuid::Uuid::now_v7().to_string();
        rows.allocations.push(NewAllocationRow {
            id: allocation_id.clone(),
            payment_id,
            receivable_id: r.id,
            amount_minor: amount,
            allocated_by: who.subject.clone(),
            allocated_at: now,
        });
        let paid = r.paid_minor + amount;
        let status = carebill_domain::collections::base_status(
            r.payable_total(),
            MinorUnits(r.credited_minor),
            MinorUnits(paid),
            MinorUnits(r.written_off_minor),
            false,
        );
        rows.paid.push(PaidReceivable {
            id: r.id,
            paid_minor: paid,
            status,
            at: now,
        });
        audits.push(PendingAudit {
            action: "allocate",
            entity_type: "receivable",
            entity_id: r.id.to_string(),
            location_id: Some(r.location_id.to_string()),
            changes: serde_json::json!({
                "payment_id": payment_id,
                "allocation_id": allocation_id,
                "amount": a.amount,
                "paid": { "before": money(r.paid_minor, r.currency), "after": money(paid, r.currency) },
                "status": { "before": r.status, "after": status },
            }),
        });
        refs.push(AllocationRef {
            invoice_id: a.invoice_id,
            invoice_number: r.invoice_number.clone(),
            amount: a.amount,
        });
        r.paid_minor = paid;
        r.status = status;
    }
    Ok((refs, audits))
}

/// Stores planned allocations of `payment_id`: allocation rows, receivables' paid amounts and
/// statuses, and one audit entry per receivable; then evaluates the plans they are in.
fn store_allocations(
    conn: &mut AnyConnection,
    who: &Principal,
    payment_id: PaymentId,
    planned: &[(RequestedAllocation, ReceivableRow)],
) -> Result<Vec<AllocationRef>, Error> {
    let mut planned = planned.to_vec();
    let mut rows = PendingRows::default();
    let (refs, audits) = allocate_planned(who, payment_id, &mut planned, &mut rows)?;
    rows.write(conn)?;
    write_audits(conn, who, audits)?;
    let touched: Vec<ReceivableId> = planned.iter().map(|(_, r)| r.id).collect();
    super::plans::after_payment(conn, who, &touched)?;
    Ok(refs)
}

fn sum_minor(refs: &[AllocationRef]) -> Result<i64, Error> {
    refs.iter().try_fold(0_i64, |acc, a| {
        let out_of_range = || Error::field("allocations", "out_of_range", "sum out of range");
        let m = a.amount.to_minor().map_err(|_| out_of_range())?;
        acc.checked_add(m.0).ok_or_else(out_of_range)
    })
}

/// Records a payment and the allocations asked for, in the caller's transaction; announces it
/// (`payment.recorded`) and audits it.
#[tracing::instrument(skip_all)]
pub(crate) fn record(
    conn: &mut AnyConnection,
    who: &Principal,
    p: NewPayment,
) -> Result<PaymentRecord, Error> {
    record_many(conn, who, vec![p])?
        .pop()
        .ok_or_else(|| Error::internal(&"a payment recorded without its record"))
}

/// Payments made in memory and waiting to be written: their rows, and for each its audit
/// entries (its allocations, then its creation) and its `payment.recorded` event.
#[derive(Default)]
struct PendingPayments {
    rows: PendingRows,
    audits: Vec<PendingAudit>,
    events: Vec<Envelope>,
}

impl PendingPayments {
    fn write(&mut self, conn: &mut AnyConnection, who: &Principal) -> Result<(), Error> {
        self.rows.write(conn)?;
        write_audits(conn, who, std::mem::take(&mut self.audits))?;
        outbox::enqueue_many(conn, &std::mem::take(&mut self.events))?;
        Ok(())
    }
}

/// Records payments and the allocations asked for, in order, in the caller's transaction: for
/// each, what a single payment does (its allocations checked against what the payments before
/// it left, its `payment.recorded` event, its audit entries), the rows written many per
/// statement. A payment to receivables in an active payment plan is written on its own, and
/// the plans evaluated after its allocations, as for a single payment. All or none.
#[tracing::instrument(skip_all, fields(payments = ps.len()))]
pub(crate) fn record_many(
    conn: &mut AnyConnection,
    who: &Principal,
    ps: Vec<NewPayment>,
) -> Result<Vec<PaymentRecord>, Error> {
    for p in &ps {
        if !p.tenders.is_empty() {
            let amounts: Vec<Money> = p.tenders.iter().map(|t| t.amount).collect();
            check_tenders(p.amount, &amounts).map_err(tender_problem)?;
        }
    }
    let invoice_ids: Vec<_> = ps
        .iter()
        .flat_map(|p| p.allocations.iter().map(|a| a.invoice_id))
        .collect();
    // Every receivable is locked once, all in id order, and then followed in memory.
    let mut current: HashMap<String, ReceivableRow> =
        receivables::lock_for_invoices(conn, &invoice_ids)?
            .into_iter()
            .map(|r| (r.invoice_id.to_string(), r))
            .collect();
    let ids: Vec<ReceivableId> = current.values().map(|r| r.id).collect();
    let in_plans: HashSet<String> = plan_store::in_active_plans(conn, &ids)?
        .into_iter()
        .map(|(receivable, _)| receivable)
        .collect();
    let mut payer_codes: HashMap<(PartyKind, String), Option<String>> = HashMap::new();
    let mut pending = PendingPayments::default();
    let mut out = Vec::with_capacity(ps.len());
    for p in ps {
        let party_id = p.party.id.to_string();
        let kind = p.party.kind;
        let currency = p.amount.currency();
        let rows: Vec<ReceivableRow> = p
            .allocations
            .iter()
            .filter_map(|a| current.get(&a.invoice_id.to_string()).cloned())
            .collect();
        let mut planned = plan(who, &rows, kind, &party_id, p.amount, &p.allocations)?;
        let id = PaymentId::new();
        let now = db::now();
        let mut these = PendingRows::default();
        let (refs, allocation_audits) = allocate_planned(who, id, &mut planned, &mut these)?;
        for (_, r) in &planned {
            current.insert(r.invoice_id.to_string(), r.clone());
        }
        let allocated = sum_minor(&refs)?;
        let row = PaymentRow {
            id,
            party_kind: kind,
            party_id: party_id.clone(),
            currency,
            amount_minor: p.amount_minor,
            allocated_minor: allocated,
            method: p.method.as_str().to_owned(),
            received_on: p.received_on,
            reference: p.reference.clone(),
            recorded_by: who.subject.clone(),
            recorded_at: now,
            updated_at: now,
            refunded_minor: 0,
            kind: p.kind,
            episode_id: p.episode_id.clone(),
        };
        let mut tenders = Vec::with_capacity(p.tenders.len());
        for (i, t) in p.tenders.iter().enumerate() {
            let amount_minor = t
                .amount
                .to_minor()
                .map_err(|e| {
                    Error::field(
                        &format!("tenders.{i}.amount.amount"),
                        "out_of_range",
                        e.to_string(),
                    )
                })?
                .0;
            these.tenders.push(TenderRow {
                payment_id: id.to_string(),
                line_no: i64::try_from(i).map_err(|e| Error::internal(&e))?,
                method: t.method.as_str().to_owned(),
                amount_minor,
                reference: t.reference.clone(),
            });
            tenders.push(TenderRecord {
                method: t.method.as_str().to_owned(),
                amount: money(amount_minor, currency),
                reference: t.reference.clone(),
            });
        }
        let payer_code = match payer_codes.get(&(kind, party_id.clone())) {
            Some(code) => code.clone(),
            None => {
                let code = receivables::known_payer_code(conn, kind, &party_id)?;
                payer_codes.insert((kind, party_id.clone()), code.clone());
                code
            }
        };
        let event = PaymentRecordedV1 {
            payment_id: id,
            party: party_ref(kind, p.party.id, payer_code.clone()),
            amount: p.amount,
            method: p.method.to_string(),
            received_on: p.received_on,
            reference: p.reference.clone(),
            allocations: refs,
            unallocated: Money::from_minor(MinorUnits(p.amount_minor - allocated), currency),
            recorded_at: now.and_utc(),
        };
        let env = Envelope::new(
            crate::SERVICE,
            &event,
            now.and_utc(),
            who.request_id.clone(),
            None,
        )
        .map_err(|e| Error::internal(&e))?;
        // The payment as `payment` reads it back: every allocation, in id order.
        let mut allocations: Vec<AllocationRecord> = these
            .allocations
            .iter()
            .zip(&planned)
            .map(|(a, (_, r))| AllocationRecord {
                id: a.id.clone(),
                receivable_id: r.id.to_string(),
                invoice_id: r.invoice_id.to_string(),
                invoice_number: r.invoice_number.clone(),
                amount: money(a.amount_minor, currency),
                allocated_at: a.allocated_at.and_utc(),
                allocated_by: a.allocated_by.clone(),
                reversed: false,
                reversed_at: None,
                reversed_by_credit_note_id: None,
            })
            .collect();
        allocations.sort_by(|a, b| a.id.cmp(&b.id));
        let created = PaymentRecord {
            id: id.to_string(),
            kind: row.kind,
            episode_id: row.episode_id.clone(),
            refunded: money(row.refunded_minor, currency),
            tenders,
            refunds: Vec::new(),
            party: party_ref(kind, p.party.id, payer_code),
            amount: money(row.amount_minor, currency),
            allocated: money(row.allocated_minor, currency),
            unallocated: money(row.credit().0, currency),
            method: row.method.clone(),
            received_on: row.received_on,
            reference: row.reference.clone(),
            recorded_by: row.recorded_by.clone(),
            recorded_at: row.recorded_at.and_utc(),
            allocations,
        };
        let created_audit = PendingAudit {
            action: "create",
            entity_type: "payment",
            entity_id: id.to_string(),
            location_id: None,
            changes: serde_json::json!({ "after": created }),
        };
        these.payments.push(row);
        let in_a_plan = planned
            .iter()
            .any(|(_, r)| in_plans.contains(&r.id.to_string()));
        if in_a_plan {
            // The payments before it, then this one with its plans evaluated between its
            // allocations and its announcement, as for a single payment.
            pending.write(conn, who)?;
            these.write(conn)?;
            write_audits(conn, who, allocation_audits)?;
            let touched: Vec<ReceivableId> = planned.iter().map(|(_, r)| r.id).collect();
            super::plans::after_payment(conn, who, &touched)?;
            write_audits(conn, who, vec![created_audit])?;
            outbox::enqueue(conn, &env)?;
        } else {
            pending.rows.append(these);
            pending.audits.extend(allocation_audits);
            pending.audits.push(created_audit);
            pending.events.push(env);
        }
        out.push(created);
    }
    pending.write(conn, who)?;
    Ok(out)
}

/// Applies part of payment `id`'s unallocated remainder to invoices, in the caller's
/// transaction, and audits it.
#[tracing::instrument(skip_all, fields(payment_id = %id))]
pub(crate) fn allocate(
    conn: &mut AnyConnection,
    who: &Principal,
    id: PaymentId,
    requested: Vec<RequestedAllocation>,
) -> Result<PaymentRecord, Error> {
    // The payment is looked up in the caller's scope, as reading it is: outside it, not found.
    let scope = Scope::of(who);
    if payments::find_in_scope(conn, &scope, id)?.is_none() {
        return Err(Error::not_found("payment"));
    }
    // Receivables first, then the payment: the same order as everywhere else.
    let invoice_ids: Vec<_> = requested.iter().map(|a| a.invoice_id).collect();
    let rows = receivables::lock_for_invoices(conn, &invoice_ids)?;
    payments::lock(conn, id)?;
    let row = payments::get(conn, id)?;
    let c = row.currency;
    let available = money(row.credit().0, c);
    let planned = plan(
        who,
        &rows,
        row.party_kind,
        &row.party_id,
        available,
        &requested,
    )?;
    let refs = store_allocations(conn, who, id, &planned)?;
    let added = sum_minor(&refs)?;
    let after = row.allocated_minor + added;
    payments::set_allocated(conn, id, after, Some(db::now()))?;
    audit::record(
        conn,
        who,
        "allocate",
        "payment",
        &id.to_string(),
        serde_json::json!({
            "allocations": refs,
            "allocated": { "before": money(row.allocated_minor, c), "after": money(after, c) },
            "unallocated": { "before": available, "after": money(row.credit().0 - added, c) },
        }),
        None,
    )?;
    // The answer shows what the caller may read: only the allocations to its locations.
    payment(conn, &scope, id)
}

/// The error for tenders that are refused: `tenders_do_not_add_up` naming every offending
/// tender.
fn tender_problem(problems: Vec<TenderProblem>) -> Error {
    let errors: Vec<FieldError> = problems
        .iter()
        .map(|p| FieldError {
            field: p.field(),
            code: p.code().to_owned(),
            message: p.to_string(),
        })
        .collect();
    let message = errors
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ");
    Error::new(ErrorCode::TendersDoNotAddUp, message).with_errors(errors)
}

/// A checked refund, ready to be made.
#[derive(Debug, Clone)]
pub(crate) struct NewRefund {
    /// Amount to pay back (positive).
    pub amount: Money,
    /// Method code.
    pub method: Code,
    /// Its reference.
    pub reference: Option<String>,
    /// Why.
    pub reason: String,
    /// Day paid back.
    pub refunded_on: NaiveDate,
}

/// Pays part of payment `id`'s credit back to its party, in the caller's transaction: never
/// above the credit (`exceeds_credit` naming `amount`), in the payment's currency. Announces
/// it (`refund.issued`) and audits it; answers the payment with its refunds.
#[tracing::instrument(skip_all, fields(payment_id = %id))]
pub(crate) fn refund(
    conn: &mut AnyConnection,
    who: &Principal,
    id: PaymentId,
    r: NewRefund,
) -> Result<PaymentRecord, Error> {
    let scope = Scope::of(who);
    if payments::find_in_scope(conn, &scope, id)?.is_none() {
        return Err(Error::not_found("payment"));
    }
    payments::lock(conn, id)?;
    let row = payments::get(conn, id)?;
    let c = row.currency;
    if r.amount.currency() != c {
        return Err(Error::new(
            ErrorCode::CurrencyMismatch,
            format!(
                "the refund is in {}, the payment in {c}",
                r.amount.currency()
            ),
        )
        .with_errors(vec![FieldError {
            field: "amount.currency".to_owned(),
            code: "currency_mismatch".to_owned(),
            message: format!("must be the payment's currency {c}"),
        }]));
    }
    let amount = r
        .amount
        .to_minor()
        .map_err(|e| Error::field("amount.amount", "out_of_range", e.to_string()))?;
    let credit = row.credit();
    let left = check_refund(amount, credit).map_err(|p| match p {
        RefundProblem::NotPositive => Error::field("amount.amount", "not_positive", p.to_string()),
        RefundProblem::ExceedsCredit { credit } => {
            let message = format!(
                "exceeds the payment's unallocated credit of {}",
                money(credit.0, c)
            );
            Error::new(ErrorCode::ExceedsCredit, message.clone()).with_errors(vec![FieldError {
                field: "amount".to_owned(),
                code: "exceeds_credit".to_owned(),
                message,
            }])
        }
    })?;
    let now = db::now();
    let refund_id = uuid::Uuid::now_v7();
    refunds::insert(
        conn,
        RefundRow {
            id: refund_id.to_string(),
            payment_id: id,
            amount_minor: amount.0,
            method: r.method.as_str().to_owned(),
            reference: r.reference.clone(),
            reason: r.reason.clone(),
            refunded_on: r.refunded_on,
            issued_by: who.subject.clone(),
            issued_at: now,
        },
    )?;
    payments::add_refunded(conn, id, amount.0, now)?;
    let party_id = stored::parse("payment party id", &row.party_id).map_err(Error::from)?;
    let payer_code = receivables::known_payer_code(conn, row.party_kind, &row.party_id)?;
    let event = RefundIssuedV1 {
        refund_id,
        payment_id: id,
        party: party_ref(row.party_kind, party_id, payer_code),
        amount: r.amount,
        method: r.method.to_string(),
        reference: r.reference.clone(),
        reason: r.reason.clone(),
        credit_left: money(left.0, c),
        issued_by: who.subject.clone(),
        issued_at: now.and_utc(),
    };
    let env = Envelope::new(
        crate::SERVICE,
        &event,
        now.and_utc(),
        who.request_id.clone(),
        None,
    )
    .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)?;
    audit::record(
        conn,
        who,
        "refund",
        "payment",
        &id.to_string(),
        serde_json::json!({
            "refund_id": refund_id,
            "amount": r.amount,
            "method": r.method.as_str(),
            "reference": r.reference,
            "refunded_on": r.refunded_on,
            "unallocated": { "before": money(credit.0, c), "after": money(left.0, c) },
        }),
        Some(&r.reason),
    )?;
    payment(conn, &scope, id)
}

/// An invoice arrived: the credit of its party's prepayments in its currency goes to it, those
/// for its episode first, then those for no episode, oldest first ([`apply_credits`]), until
/// nothing is owed. Runs in the inbox's transaction right after its receivable was created
/// (never for a redelivered invoice: the caller applies it once), with the invoice's key held;
/// then the receivable, then the prepayments in id order, as every writer locks.
#[tracing::instrument(skip_all, fields(invoice_id = %e.invoice_id))]
pub(crate) fn apply_prepayments(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &super::receivables::IssuedInvoice<'_>,
) -> Result<(), Error> {
    // A deposit was taken for the care a location gives: a care agency's invoice (no episode)
    // is another creditor's (the carer's hours) or the agency's own, and takes none.
    let Some(episode_id) = e.episode_id else {
        return Ok(());
    };
    let party_id = e.recipient.id.to_string();
    let ids = payments::prepayments_for(
        conn,
        e.recipient.kind,
        &party_id,
        e.total.currency(),
        &episode_id.to_string(),
    )?;
    if ids.is_empty() {
        return Ok(());
    }
    let Some(r) = receivables::lock_for_invoices(conn, &[e.invoice_id])?
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    if r.cancelled() || r.outstanding().0 == 0 {
        return Ok(());
    }
    let mut locked = ids.clone();
    locked.sort_by_key(ToString::to_string);
    for id in &locked {
        payments::lock(conn, *id)?;
    }
    let mut rows = Vec::with_capacity(ids.len());
    for id in &ids {
        rows.push(payments::get(conn, *id)?);
    }
    let credits: Vec<MinorUnits> = rows.iter().map(PaymentRow::credit).collect();
    let given = apply_credits(r.outstanding(), &credits);
    let actor = event_actor(env);
    let mut row = r;
    for (p, g) in rows.iter().zip(given) {
        if g.0 == 0 {
            continue;
        }
        let requested = RequestedAllocation {
            invoice_id: e.invoice_id,
            amount: money(g.0, p.currency),
        };
        let refs = store_allocations(conn, &actor, p.id, &[(requested, row.clone())])?;
        let added = sum_minor(&refs)?;
        payments::set_allocated(conn, p.id, p.allocated_minor + added, Some(db::now()))?;
        audit::record(
            conn,
            &actor,
            "allocate",
            "payment",
            &p.id.to_string(),
            serde_json::json!({
                "prepayment": true,
                "allocations": refs,
                "unallocated": { "before": money(p.credit().0, p.currency), "after": money(p.credit().0 - added, p.currency) },
                "event_id": env.id,
            }),
            None,
        )?;
        row.paid_minor += added;
    }
    Ok(())
}
