//! Payments: money received from a payer or a patient, applied to that party's invoices now or
//! later. What is not applied stays on the party's balance as credit.
//!
//! Recording a payment and allocating it are each one transaction: the receivables involved are
//! locked (in id order, always before any payment row, so writers never deadlock), every
//! allocation is checked by [`plan_allocations`], and either all are made or none.
//!
//! Events: recording a payment enqueues `carebill.collections.payment.recorded.v1` with the
//! allocations made then. Allocating the remainder later enqueues nothing (a second
//! `payment.recorded` would announce money received twice); it is in the audit trail, and a
//! `payment.allocated` event is for when a consumer needs it.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::collections::{
    AllocationError, AllocationProblem, AllocationTarget, RequestedAllocation, plan_allocations,
};
use carebill_domain::events::{AllocationRef, Envelope, PartyKind, PartyRef, PaymentRecordedV1};
use carebill_domain::ids::{InvoiceId, PaymentId};
use carebill_domain::{Code, FieldError, MinorUnits, Money, Validation};
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::error::Problem;
use carebill_platform::events::outbox;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, parse_id,
};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::CollectionsState;
use crate::access::{READERS, Scope, WRITERS};
use crate::receivables::{self, Row as ReceivableRow, money};
use crate::schema::{allocations, payments, receivables as rtable};

/// Most allocations in one request.
const MAX_ALLOCATIONS: usize = 500;

/// Who pays, as a client names them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartyInput {
    /// Payer or patient.
    pub kind: PartyKind,
    /// The payer's or the patient's id.
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
}

/// Part of a payment to apply to one invoice.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationInput {
    /// The invoice (collections knows it once invoicing's issue event has arrived).
    pub invoice_id: InvoiceId,
    /// Amount to apply; positive, in the payment's currency, at most what the invoice owes.
    pub amount: Money,
}

/// A payment received.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    /// Who paid.
    #[serde(deserialize_with = "carebill_platform::http::object")]
    pub party: PartyInput,
    /// Amount received; positive.
    pub amount: Money,
    /// How: a code such as `transfer`, `card`, `cash`, `direct_debit`.
    #[schema(example = "transfer", pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub method: String,
    /// Day received; not after tomorrow.
    pub received_on: NaiveDate,
    /// The payer's reference (bank reference, receipt number).
    #[schema(max_length = 200)]
    pub reference: Option<String>,
    /// Invoices to apply it to; the rest stays as the party's credit.
    #[serde(default, deserialize_with = "carebill_platform::http::objects")]
    pub allocations: Vec<AllocationInput>,
}

/// Applies part of a payment's unallocated remainder to invoices.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocateInput {
    /// Invoices and amounts; together at most the payment's unallocated remainder.
    #[serde(deserialize_with = "carebill_platform::http::objects")]
    pub allocations: Vec<AllocationInput>,
}

/// One allocation of a payment, as the payment shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentAllocation {
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

/// A payment with its allocations.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payment {
    /// Id.
    pub id: String,
    /// Who paid.
    pub party: PartyRef,
    /// Amount received.
    pub amount: Money,
    /// Sum of the allocations not reversed.
    pub allocated: Money,
    /// What stays as the party's credit.
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
    pub allocations: Vec<PaymentAllocation>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = payments)]
pub(crate) struct Row {
    id: String,
    party_kind: String,
    party_id: String,
    currency: String,
    amount_minor: i64,
    allocated_minor: i64,
    method: String,
    received_on: NaiveDate,
    reference: Option<String>,
    recorded_by: String,
    recorded_at: NaiveDateTime,
}

fn party_ref(kind: PartyKind, id: uuid::Uuid, payer_code: Option<String>) -> PartyRef {
    PartyRef {
        kind,
        id,
        payer_code,
        payer_kind: None,
        coverage_id: None,
        policy_number: None,
    }
}

/// A payer's code as collections knows it from its receivables (payers only).
fn known_payer_code(
    conn: &mut AnyConnection,
    kind: PartyKind,
    id: &str,
) -> QueryResult<Option<String>> {
    if kind != PartyKind::Payer {
        return Ok(None);
    }
    Ok(rtable::table
        .filter(rtable::party_kind.eq(kind.as_str()))
        .filter(rtable::party_id.eq(id))
        .filter(rtable::payer_code.is_not_null())
        .order(rtable::id.desc())
        .select(rtable::payer_code)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

type AllocationRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    NaiveDateTime,
    String,
    Option<NaiveDateTime>,
    Option<String>,
    String,
);

/// Turns payment rows into views, loading their allocations in one query.
fn views(conn: &mut AnyConnection, scope: &Scope, rows: Vec<Row>) -> Result<Vec<Payment>, Error> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut q = allocations::table
        .inner_join(rtable::table)
        .filter(allocations::payment_id.eq_any(ids))
        .select((
            allocations::payment_id,
            allocations::id,
            allocations::receivable_id,
            rtable::invoice_id,
            rtable::invoice_number,
            allocations::amount_minor,
            allocations::allocated_at,
            allocations::allocated_by,
            allocations::reversed_at,
            allocations::reversed_by_credit_note_id,
            rtable::location_code,
        ))
        .order(allocations::id.asc())
        .into_boxed();
    if let Some(codes) = &scope.locations {
        q = q.filter(rtable::location_code.eq_any(codes.clone()));
    }
    let mut by_payment: HashMap<String, Vec<PaymentAllocation>> = HashMap::new();
    let currencies: HashMap<String, String> = rows
        .iter()
        .map(|r| (r.id.clone(), r.currency.clone()))
        .collect();
    for (
        payment_id,
        id,
        receivable_id,
        invoice_id,
        invoice_number,
        amount,
        at,
        by,
        rev_at,
        rev_by,
        _,
    ) in q.load::<AllocationRow>(conn)?
    {
        let currency = currencies.get(&payment_id).cloned().unwrap_or_default();
        by_payment
            .entry(payment_id)
            .or_default()
            .push(PaymentAllocation {
                id,
                receivable_id,
                invoice_id,
                invoice_number,
                amount: money(amount, &currency),
                allocated_at: at.and_utc(),
                allocated_by: by,
                reversed: rev_at.is_some(),
                reversed_at: rev_at.map(|t| t.and_utc()),
                reversed_by_credit_note_id: rev_by,
            });
    }
    let mut out = Vec::with_capacity(rows.len());
    let mut payer_codes: HashMap<String, Option<String>> = HashMap::new();
    for r in rows {
        let kind = r.party_kind.parse().unwrap_or(PartyKind::Patient);
        let payer_code = match payer_codes.get(&r.party_id) {
            Some(code) => code.clone(),
            None => {
                let code = known_payer_code(conn, kind, &r.party_id)?;
                payer_codes.insert(r.party_id.clone(), code.clone());
                code
            }
        };
        out.push(Payment {
            party: party_ref(kind, r.party_id.parse().unwrap_or_default(), payer_code),
            amount: money(r.amount_minor, &r.currency),
            allocated: money(r.allocated_minor, &r.currency),
            unallocated: money(r.amount_minor - r.allocated_minor, &r.currency),
            allocations: by_payment.remove(&r.id).unwrap_or_default(),
            id: r.id,
            method: r.method,
            received_on: r.received_on,
            reference: r.reference,
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at.and_utc(),
        });
    }
    Ok(out)
}

/// Payments a reader may see: all of them, or for a payer-only reader those of the payer ids
/// its payer code is known under.
fn visible(
    scope: &Scope,
) -> Box<
    dyn BoxableExpression<payments::table, receivables::Backend, SqlType = diesel::sql_types::Bool>,
> {
    match &scope.payer_code {
        None => Box::new(diesel::dsl::sql::<diesel::sql_types::Bool>("1 = 1")),
        Some(code) => Box::new(
            payments::party_kind.eq(PartyKind::Payer.as_str()).and(
                payments::party_id.eq_any(
                    rtable::table
                        .filter(rtable::party_kind.eq(PartyKind::Payer.as_str()))
                        .filter(rtable::payer_code.eq(code.clone()))
                        .select(rtable::party_id),
                ),
            ),
        ),
    }
}

pub(crate) fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<Payment, Error> {
    let row: Row = payments::table
        .find(id)
        .filter(visible(scope))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("payment"))?;
    views(conn, scope, vec![row])?
        .pop()
        .ok_or_else(|| Error::not_found("payment"))
}

/// A checked payment, ready to be stored.
struct NewPayment {
    party: PartyInput,
    amount: Money,
    method: Code,
    received_on: NaiveDate,
    reference: Option<String>,
    allocations: Vec<RequestedAllocation>,
}

fn requested(items: &[AllocationInput]) -> Vec<RequestedAllocation> {
    items
        .iter()
        .map(|a| RequestedAllocation {
            invoice_id: a.invoice_id,
            amount: a.amount,
        })
        .collect()
}

impl PaymentInput {
    fn validate(self, today: NaiveDate) -> Result<NewPayment, Error> {
        let mut v = Validation::new();
        if self.amount.amount() <= rust_decimal::Decimal::ZERO {
            v.add("amount.amount", "not_positive", "must be greater than zero");
        }
        let method = v.check("method", "invalid", Code::parse(&self.method));
        if let Err(m) = carebill_domain::accounts::check_date(self.received_on) {
            v.add("received_on", "out_of_range", m);
        } else if self.received_on > today + Duration::days(1) {
            v.add("received_on", "in_future", "must not be after tomorrow");
        }
        let reference = v.opt_text("reference", self.reference.as_deref(), 200);
        if self.allocations.len() > MAX_ALLOCATIONS {
            v.add(
                "allocations",
                "too_many",
                format!("at most {MAX_ALLOCATIONS} allocations per request"),
            );
        }
        v.finish().map_err(Error::validation)?;
        let method =
            method.ok_or_else(|| Error::internal(&"validation passed without a method"))?;
        Ok(NewPayment {
            allocations: requested(&self.allocations),
            party: self.party,
            amount: self.amount,
            method,
            received_on: self.received_on,
            reference,
        })
    }
}

/// The problem+json answer for allocations that cannot be made: 409 when the only problem is
/// a cancelled invoice, 422 naming every offending item otherwise.
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
    match e.problems.first().map(AllocationProblem::code) {
        Some(code) if e.problems.iter().all(|p| p.code() == code) => Error::new(
            allocation_code(code),
            errors
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
        )
        .with_errors(errors),
        _ => Error::validation(errors),
    }
}

/// The stable code of an allocation problem (the domain names them; the API owns the codes).
fn allocation_code(code: &str) -> ErrorCode {
    ErrorCode::parse(code).unwrap_or(ErrorCode::ValidationFailed)
}

/// Locks and loads the receivables of the requested invoices, in id order.
fn lock_receivables(
    conn: &mut AnyConnection,
    requested: &[RequestedAllocation],
) -> Result<Vec<ReceivableRow>, Error> {
    let invoice_ids: Vec<String> = requested.iter().map(|r| r.invoice_id.to_string()).collect();
    if invoice_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rtable::table
        .filter(rtable::invoice_id.eq_any(&invoice_ids))
        .order(rtable::id.asc())
        .select(rtable::id)
        .load(conn)?;
    for id in &ids {
        db::lock_row(conn, "receivables", id)?;
    }
    // Read again under the locks: paid amounts and statuses as they are now.
    Ok(rtable::table
        .filter(rtable::id.eq_any(&ids))
        .select(ReceivableRow::as_select())
        .load(conn)?)
}

/// Plans `requested` against the locked receivables, for `party` and `available` money.
fn plan(
    who: &Principal,
    rows: &[ReceivableRow],
    party_kind: &str,
    party_id: &str,
    available: Money,
    requested: &[RequestedAllocation],
) -> Result<Vec<(RequestedAllocation, ReceivableRow)>, Error> {
    let scope = Scope::of(who);
    let by_invoice: HashMap<String, &ReceivableRow> = rows
        .iter()
        .filter(|r| scope.sees_receivable(&r.location_code, r.payer_code.as_deref()))
        .map(|r| (r.invoice_id.clone(), r))
        .collect();
    let plan = plan_allocations(available, requested, |id| {
        by_invoice.get(&id.to_string()).map(|r| AllocationTarget {
            currency: money(0, &r.currency).currency(),
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

/// Stores planned allocations of `payment_id`: allocation rows, receivables' paid amounts and
/// statuses, and one audit entry per receivable.
fn store_allocations(
    conn: &mut AnyConnection,
    who: &Principal,
    payment_id: &str,
    planned: &[(RequestedAllocation, ReceivableRow)],
) -> Result<Vec<AllocationRef>, Error> {
    let now = db::now();
    let mut refs = Vec::with_capacity(planned.len());
    for (a, r) in planned {
        let amount = a
            .amount
            .to_minor()
            .map_err(|e| Error::field("allocations", "out_of_range", e.to_string()))?
            .0;
        let allocation_id = uuid::Uuid::now_v7().to_string();
        diesel::insert_into(allocations::table)
            .values((
                allocations::id.eq(&allocation_id),
                allocations::payment_id.eq(payment_id),
                allocations::receivable_id.eq(&r.id),
                allocations::amount_minor.eq(amount),
                allocations::allocated_by.eq(&who.subject),
                allocations::allocated_at.eq(now),
            ))
            .execute(conn)?;
        let paid = r.paid_minor + amount;
        let status = carebill_domain::collections::base_status(
            MinorUnits(r.total_minor),
            MinorUnits(paid),
            false,
        );
        diesel::update(rtable::table.find(&r.id))
            .set((
                rtable::paid_minor.eq(paid),
                rtable::status.eq(status.as_str()),
                rtable::updated_at.eq(now),
            ))
            .execute(conn)?;
        audit::record_many(
            conn,
            who,
            &[Change {
                action: "allocate",
                entity_type: "receivable",
                entity_id: &r.id,
                location_id: Some(&r.location_id),
                changes: Snapshot::Json(serde_json::json!({
                    "payment_id": payment_id,
                    "allocation_id": allocation_id,
                    "amount": a.amount,
                    "paid": { "before": money(r.paid_minor, &r.currency), "after": money(paid, &r.currency) },
                    "status": { "before": r.status, "after": status },
                })),
                reason: None,
            }],
        )?;
        refs.push(AllocationRef {
            invoice_id: a.invoice_id,
            invoice_number: r.invoice_number.clone(),
            amount: a.amount,
        });
    }
    Ok(refs)
}

fn sum_minor(refs: &[AllocationRef]) -> Result<i64, Error> {
    refs.iter().try_fold(0_i64, |acc, a| {
        a.amount
            .to_minor()
            .ok()
            .and_then(|m| acc.checked_add(m.0))
            .ok_or_else(|| Error::field("allocations", "out_of_range", "sum out of range"))
    })
}

fn create(conn: &mut AnyConnection, who: &Principal, p: NewPayment) -> Result<Payment, Error> {
    let party_id = p.party.id.to_string();
    let kind = p.party.kind;
    let amount_minor = p
        .amount
        .to_minor()
        .map_err(|e| Error::field("amount.amount", "out_of_range", e.to_string()))?
        .0;
    let rows = lock_receivables(conn, &p.allocations)?;
    let planned = plan(
        who,
        &rows,
        kind.as_str(),
        &party_id,
        p.amount,
        &p.allocations,
    )?;
    let id = PaymentId::new();
    let id_text = id.to_string();
    let now = db::now();
    diesel::insert_into(payments::table)
        .values((
            payments::id.eq(&id_text),
            payments::party_kind.eq(kind.as_str()),
            payments::party_id.eq(&party_id),
            payments::currency.eq(p.amount.currency().code()),
            payments::amount_minor.eq(amount_minor),
            payments::allocated_minor.eq(0_i64),
            payments::method.eq(p.method.as_str()),
            payments::received_on.eq(p.received_on),
            payments::reference.eq(&p.reference),
            payments::recorded_by.eq(&who.subject),
            payments::recorded_at.eq(now),
            payments::updated_at.eq(now),
        ))
        .execute(conn)?;
    let refs = store_allocations(conn, who, &id_text, &planned)?;
    let allocated = sum_minor(&refs)?;
    diesel::update(payments::table.find(&id_text))
        .set(payments::allocated_minor.eq(allocated))
        .execute(conn)?;
    let currency = p.amount.currency();
    let payer_code = known_payer_code(conn, kind, &party_id)?;
    let event = PaymentRecordedV1 {
        payment_id: id,
        party: party_ref(kind, p.party.id, payer_code),
        amount: p.amount,
        method: p.method.to_string(),
        received_on: p.received_on,
        reference: p.reference.clone(),
        allocations: refs,
        unallocated: Money::from_minor(MinorUnits(amount_minor - allocated), currency),
        recorded_at: now.and_utc(),
    };
    let env = Envelope::new(
        "collections",
        &event,
        now.and_utc(),
        who.request_id.clone(),
        None,
    )
    .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)?;
    let created = get(conn, &Scope::default(), &id_text)?;
    audit::record(
        conn,
        who,
        "create",
        "payment",
        &id_text,
        serde_json::json!({ "after": created }),
        None,
    )?;
    Ok(created)
}

fn allocate(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    requested: Vec<RequestedAllocation>,
) -> Result<Payment, Error> {
    let exists: i64 = payments::table.find(id).count().get_result(conn)?;
    if exists == 0 {
        return Err(Error::not_found("payment"));
    }
    // Receivables first, then the payment: the same order as everywhere else.
    let rows = lock_receivables(conn, &requested)?;
    db::lock_row(conn, "payments", id)?;
    let payment: Row = payments::table
        .find(id)
        .select(Row::as_select())
        .first(conn)?;
    let available = money(
        payment.amount_minor - payment.allocated_minor,
        &payment.currency,
    );
    let planned = plan(
        who,
        &rows,
        &payment.party_kind,
        &payment.party_id,
        available,
        &requested,
    )?;
    let refs = store_allocations(conn, who, id, &planned)?;
    let added = sum_minor(&refs)?;
    let after = payment.allocated_minor + added;
    diesel::update(payments::table.find(id))
        .set((
            payments::allocated_minor.eq(after),
            payments::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    audit::record(
        conn,
        who,
        "allocate",
        "payment",
        id,
        serde_json::json!({
            "allocations": refs,
            "allocated": { "before": money(payment.allocated_minor, &payment.currency), "after": money(after, &payment.currency) },
            "unallocated": { "before": available, "after": money(payment.amount_minor - after, &payment.currency) },
        }),
        None,
    )?;
    get(conn, &Scope::default(), id)
}

/// Filters for the payment list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentFilter {
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The payer's or patient's id.
    pub party_id: Option<String>,
    /// Received on or after this day.
    pub received_from: Option<NaiveDate>,
    /// Received on or before this day.
    pub received_to: Option<NaiveDate>,
    /// Method code.
    pub method: Option<String>,
}

pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &PaymentFilter,
    page: &PageRequest,
) -> Result<Page<Payment>, Error> {
    let party_id = receivables::uuid_param("party_id", f.party_id.as_deref())?;
    for (field, d) in [
        ("received_from", f.received_from),
        ("received_to", f.received_to),
    ] {
        if let Some(d) = d {
            carebill_domain::accounts::check_date(d)
                .map_err(|m| Error::field(field, "out_of_range", m))?;
        }
    }
    let mut q = payments::table
        .select(Row::as_select())
        .filter(visible(scope))
        .into_boxed();
    if let Some(k) = f.party_kind {
        q = q.filter(payments::party_kind.eq(k.as_str()));
    }
    if let Some(p) = party_id {
        q = q.filter(payments::party_id.eq(p));
    }
    if let Some(d) = f.received_from {
        q = q.filter(payments::received_on.ge(d));
    }
    if let Some(d) = f.received_to {
        q = q.filter(payments::received_on.le(d));
    }
    if let Some(m) = &f.method {
        q = q.filter(payments::method.eq(m.trim().to_owned()));
    }
    if let Some(after) = &page.after {
        q = q.filter(payments::id.gt(after.clone()));
    }
    let rows = q
        .order(payments::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone());
    Ok(Page {
        items: views(conn, scope, page.items)?,
        next_cursor: page.next_cursor,
    })
}

/// The latest payments of a party, newest first.
pub(crate) fn recent(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
    limit: i64,
) -> Result<Vec<Payment>, Error> {
    let rows = payments::table
        .filter(payments::party_kind.eq(kind.as_str()))
        .filter(payments::party_id.eq(party_id))
        .order(payments::id.desc())
        .limit(limit)
        .select(Row::as_select())
        .load::<Row>(conn)?;
    views(conn, scope, rows)
}

/// Record a payment received from a payer or a patient, optionally applying it to invoices.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", request_body = PaymentInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Recorded", body = Payment),
        (status = 409, description = "An invoice was cancelled by a credit note", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input or allocations (unknown invoice, other party, currency_mismatch, exceeds_outstanding, over_allocated)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_payment(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PaymentInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate(Utc::now().date_naive())?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                create(conn, &who, input)
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Apply part of a payment's unallocated remainder to invoices.
#[utoipa::path(post, path = "/v1/payments/{id}/allocations", tag = "payments", request_body = AllocateInput,
    params(("id" = String, Path, description = "Payment id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 200, description = "The payment with its allocations", body = Payment),
        (status = 409, description = "An invoice was cancelled by a credit note", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid allocations (beyond the remainder: over_allocated)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn allocate_payment(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<AllocateInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "payment")?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let items = body.value.allocations;
    if items.is_empty() {
        return Err(Error::field(
            "allocations",
            "required",
            "must list at least one allocation",
        ));
    }
    if items.len() > MAX_ALLOCATIONS {
        return Err(Error::field(
            "allocations",
            "too_many",
            format!("at most {MAX_ALLOCATIONS} allocations per request"),
        ));
    }
    let requested = requested(&items);
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                allocate(conn, &who, &id.to_string(), requested)
            })
        })
        .await
}

/// Get a payment with its allocations.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments",
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, description = "The payment", body = Payment)),
    security(("bearer" = [])))]
pub async fn get_payment(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Payment>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "payment")?;
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &scope, &id.to_string()))
            .await?,
    ))
}

/// List payments, oldest first.
#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(PaymentFilter, PageParams),
    responses((status = 200, description = "A page of payments", body = Page<Payment>)),
    security(("bearer" = [])))]
pub async fn list_payments(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<PaymentFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Payment>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| list(conn, &scope, &filter, &page))
            .await?,
    ))
}
