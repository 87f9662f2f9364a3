//! Receivables: what is owed on each issued invoice, built from invoicing's events, and read over
//! HTTP with their payment history.
//!
//! The stored status is the base status (`open`, `partially_paid`, `paid`, `cancelled`);
//! `overdue` depends on the day in the issuing location's time zone and is computed when read,
//! in SQL for filters and sums ([`day_passed`]) and in Rust for each row shown.

use std::collections::BTreeMap;

use actix_web::web;
use carebill_domain::collections::{self as rules, ReceivableStatus};
use carebill_domain::events::{
    CreditNoteIssuedV1, Envelope, EventPayload as _, InvoiceIssuedV1, PartyKind, PartyRef,
};
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_platform::audit;
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{Page, PageParams, PageRequest, parse_id};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::{Deserialize, Serialize};

use crate::CollectionsState;
use crate::access::{READERS, Scope};
use crate::schema::{allocations, early_credit_notes, payments, receivables};

/// The backend of [`AnyConnection`], for boxed expressions.
pub(crate) type Backend = <AnyConnection as diesel::Connection>::Backend;
/// A boolean condition on receivables.
pub(crate) type Condition = Box<dyn BoxableExpression<receivables::table, Backend, SqlType = Bool>>;

/// Statuses stored for receivables that still owe money.
pub(crate) const OWING: [&str; 2] = ["open", "partially_paid"];

/// Money from stored minor units and a stored currency code.
pub(crate) fn money(minor: i64, currency: &str) -> Money {
    // Currencies are stored from parsed `Money` values; EUR is never reached in practice.
    let currency = Currency::parse(currency).unwrap_or(Currency::EUR);
    Money::from_minor(MinorUnits(minor), currency)
}

/// Where the invoice was issued.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationView {
    /// Id.
    pub id: String,
    /// Code.
    pub code: String,
    /// IANA time zone: a receivable becomes overdue after its due date in this zone.
    pub time_zone: String,
}

/// The credit note that cancelled a receivable.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Cancellation {
    /// Credit note id.
    pub credit_note_id: String,
    /// Credit note number.
    pub credit_note_number: String,
    /// Why.
    pub reason: Option<String>,
    /// When collections applied it.
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// What is owed on one invoice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receivable {
    /// Id.
    pub id: String,
    /// The invoice.
    pub invoice_id: String,
    /// Its number.
    pub invoice_number: String,
    /// The issuing location.
    pub location: LocationView,
    /// Who owes it.
    pub party: PartyRef,
    /// The payer's code (payers only).
    pub payer_code: Option<String>,
    /// The patient the care was for.
    pub patient_id: String,
    /// The invoice total.
    pub total: Money,
    /// Sum of the (not reversed) allocations to it.
    pub paid: Money,
    /// What is still owed (zero once paid or cancelled).
    pub outstanding: Money,
    /// Due date.
    pub due_date: NaiveDate,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Status today (in the location's time zone).
    pub status: ReceivableStatus,
    /// The credit note that cancelled it.
    pub cancellation: Option<Cancellation>,
    /// When the invoice was issued.
    pub issued_at: DateTime<Utc>,
}

/// One allocation of a payment to a receivable, as the receivable's history shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceivablePayment {
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
    /// True when a credit note returned it to the payer's credit.
    pub reversed: bool,
    /// When it was reversed.
    pub reversed_at: Option<DateTime<Utc>>,
    /// The credit note that reversed it.
    pub reversed_by_credit_note_id: Option<String>,
}

/// A receivable with its payment history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceivableDetail {
    /// The receivable.
    #[serde(flatten)]
    pub receivable: Receivable,
    /// Allocations to it, oldest first, reversed ones included.
    pub payments: Vec<ReceivablePayment>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = receivables)]
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) invoice_id: String,
    pub(crate) invoice_number: String,
    pub(crate) location_id: String,
    pub(crate) location_code: String,
    pub(crate) location_time_zone: String,
    pub(crate) party_kind: String,
    pub(crate) party_id: String,
    pub(crate) payer_code: Option<String>,
    pub(crate) party: String,
    pub(crate) patient_id: String,
    pub(crate) currency: String,
    pub(crate) total_minor: i64,
    pub(crate) paid_minor: i64,
    pub(crate) due_date: NaiveDate,
    pub(crate) issue_date: NaiveDate,
    pub(crate) status: String,
    pub(crate) credit_note_id: Option<String>,
    pub(crate) credit_note_number: Option<String>,
    pub(crate) cancel_reason: Option<String>,
    pub(crate) cancelled_at: Option<NaiveDateTime>,
    pub(crate) issued_at: NaiveDateTime,
}

impl Row {
    pub(crate) fn cancelled(&self) -> bool {
        self.status == ReceivableStatus::Cancelled.as_str()
    }

    pub(crate) fn outstanding(&self) -> MinorUnits {
        rules::outstanding(
            MinorUnits(self.total_minor),
            MinorUnits(self.paid_minor),
            self.cancelled(),
        )
    }

    fn view(self, now: DateTime<Utc>) -> Receivable {
        let today = rules::local_today(&self.location_time_zone, now);
        let status = rules::receivable_status(
            MinorUnits(self.total_minor),
            MinorUnits(self.paid_minor),
            self.cancelled(),
            self.due_date,
            today,
        );
        let party = serde_json::from_str(&self.party).unwrap_or_else(|_| PartyRef {
            kind: self.party_kind.parse().unwrap_or(PartyKind::Patient),
            id: self.party_id.parse().unwrap_or_default(),
            payer_code: self.payer_code.clone(),
            payer_kind: None,
            coverage_id: None,
            policy_number: None,
        });
        Receivable {
            total: money(self.total_minor, &self.currency),
            paid: money(self.paid_minor, &self.currency),
            outstanding: money(self.outstanding().0, &self.currency),
            cancellation: self.credit_note_id.map(|credit_note_id| Cancellation {
                credit_note_id,
                credit_note_number: self.credit_note_number.unwrap_or_default(),
                reason: self.cancel_reason,
                cancelled_at: self.cancelled_at.map(|t| t.and_utc()),
            }),
            id: self.id,
            invoice_id: self.invoice_id,
            invoice_number: self.invoice_number,
            location: LocationView {
                id: self.location_id,
                code: self.location_code,
                time_zone: self.location_time_zone,
            },
            party,
            payer_code: self.payer_code,
            patient_id: self.patient_id,
            due_date: self.due_date,
            issue_date: self.issue_date,
            status,
            issued_at: self.issued_at.and_utc(),
        }
    }
}

/// "The due date has passed in the receivable's location" at `now`, as SQL: the time zones in
/// use are grouped by their current day, so the condition has one term per distinct day (at
/// most three at any instant).
pub(crate) fn day_passed(conn: &mut AnyConnection, now: DateTime<Utc>) -> QueryResult<Condition> {
    let zones: Vec<String> = receivables::table
        .select(receivables::location_time_zone)
        .distinct()
        .load(conn)?;
    let mut by_day: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    for zone in zones {
        by_day
            .entry(rules::local_today(&zone, now))
            .or_default()
            .push(zone);
    }
    let mut cond: Condition = Box::new(diesel::dsl::sql::<Bool>("1 = 0"));
    for (today, zones) in by_day {
        cond = Box::new(
            cond.or(receivables::location_time_zone
                .eq_any(zones)
                .and(receivables::due_date.lt(today))),
        );
    }
    Ok(cond)
}

/// Receivables shown as `status` at `now`, as SQL.
pub(crate) fn has_status(
    conn: &mut AnyConnection,
    status: ReceivableStatus,
    now: DateTime<Utc>,
) -> QueryResult<Condition> {
    Ok(match status {
        ReceivableStatus::Overdue => Box::new(
            receivables::status
                .eq_any(OWING)
                .and(day_passed(conn, now)?),
        ),
        ReceivableStatus::Open | ReceivableStatus::PartiallyPaid => Box::new(
            receivables::status
                .eq(status.as_str())
                .and(diesel::dsl::not(day_passed(conn, now)?)),
        ),
        ReceivableStatus::Paid | ReceivableStatus::Cancelled => {
            Box::new(receivables::status.eq(status.as_str()))
        }
    })
}

/// The reader's scope as SQL.
pub(crate) fn in_scope(scope: &Scope) -> Condition {
    let mut cond: Condition = Box::new(diesel::dsl::sql::<Bool>("1 = 1"));
    if let Some(codes) = &scope.locations {
        cond = Box::new(cond.and(receivables::location_code.eq_any(codes.clone())));
    }
    if let Some(code) = &scope.payer_code {
        cond = Box::new(
            cond.and(receivables::party_kind.eq(PartyKind::Payer.as_str()))
                .and(receivables::payer_code.assume_not_null().eq(code.clone())),
        );
    }
    cond
}

// ---- applying invoicing's events ----

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

/// Applies one event from invoicing (other types are ignored). Runs in the inbox's transaction,
/// serialised per invoice, so concurrent and out-of-order deliveries of one invoice's events
/// give the same result as in-order ones.
pub fn apply_event(conn: &mut AnyConnection, env: &Envelope) -> Result<(), Error> {
    match env.event_type.as_str() {
        InvoiceIssuedV1::TYPE => {
            let e: InvoiceIssuedV1 = env
                .payload()
                .map_err(|e| Error::new(ErrorCode::InvalidEvent, e.to_string()))?;
            invoice_issued(conn, env, &e)
        }
        CreditNoteIssuedV1::TYPE => {
            let e: CreditNoteIssuedV1 = env
                .payload()
                .map_err(|e| Error::new(ErrorCode::InvalidEvent, e.to_string()))?;
            credit_note_issued(conn, env, &e)
        }
        _ => Ok(()),
    }
}

fn minor(m: &Money, what: &str) -> Result<i64, Error> {
    m.to_minor()
        .map(|m| m.0)
        .map_err(|e| Error::new(ErrorCode::InvalidEvent, format!("{what}: {e}")))
}

fn invoice_issued(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &InvoiceIssuedV1,
) -> Result<(), Error> {
    let invoice_id = e.invoice_id.to_string();
    db::lock_key(conn, &format!("invoice:{invoice_id}"))?;
    let exists: i64 = receivables::table
        .filter(receivables::invoice_id.eq(&invoice_id))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        // The same invoice announced again (a re-published event under a new id).
        return Ok(());
    }
    let early: Option<(String, String, String)> = early_credit_notes::table
        .find(&invoice_id)
        .filter(early_credit_notes::applied_at.is_null())
        .select((
            early_credit_notes::credit_note_id,
            early_credit_notes::credit_note_number,
            early_credit_notes::reason,
        ))
        .first(conn)
        .optional()?;
    let now = db::now();
    let id = carebill_domain::ids::ReceivableId::new().to_string();
    let total = minor(&e.total, "total")?;
    let status = rules::base_status(MinorUnits(total), MinorUnits(0), early.is_some());
    diesel::insert_into(receivables::table)
        .values((
            receivables::id.eq(&id),
            receivables::invoice_id.eq(&invoice_id),
            receivables::invoice_number.eq(&e.number),
            receivables::location_id.eq(e.location.id.to_string()),
            receivables::location_code.eq(&e.location.code),
            receivables::location_time_zone.eq(&e.location.time_zone),
            receivables::party_kind.eq(e.recipient.kind.as_str()),
            receivables::party_id.eq(e.recipient.id.to_string()),
            receivables::payer_code.eq(&e.recipient.payer_code),
            receivables::party.eq(serde_json::to_string(&e.recipient)?),
            receivables::patient_id.eq(e.patient_id.to_string()),
            receivables::currency.eq(e.total.currency().code()),
            receivables::total_minor.eq(total),
            receivables::paid_minor.eq(0_i64),
            receivables::due_date.eq(e.due_date),
            receivables::issue_date.eq(e.issue_date),
            receivables::status.eq(status.as_str()),
            receivables::credit_note_id.eq(early.as_ref().map(|c| c.0.clone())),
            receivables::credit_note_number.eq(early.as_ref().map(|c| c.1.clone())),
            receivables::cancel_reason.eq(early.as_ref().map(|c| c.2.clone())),
            receivables::cancelled_at.eq(early.as_ref().map(|_| now)),
            receivables::issued_at.eq(db::truncate_micros(e.issued_at.naive_utc())),
            receivables::created_at.eq(now),
            receivables::updated_at.eq(now),
        ))
        .execute(conn)?;
    if early.is_some() {
        diesel::update(early_credit_notes::table.find(&invoice_id))
            .set(early_credit_notes::applied_at.eq(Some(now)))
            .execute(conn)?;
    }
    audit::record_at(
        conn,
        &event_actor(env),
        &e.location.id.to_string(),
        "create",
        "receivable",
        &id,
        serde_json::json!({
            "after": {
                "invoice_id": invoice_id,
                "invoice_number": e.number,
                "total": e.total,
                "due_date": e.due_date,
                "status": status,
            },
            "event_id": env.id,
        }),
        early.as_ref().map(|c| c.2.as_str()),
    )?;
    Ok(())
}

fn credit_note_issued(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &CreditNoteIssuedV1,
) -> Result<(), Error> {
    let invoice_id = e.invoice_id.to_string();
    db::lock_key(conn, &format!("invoice:{invoice_id}"))?;
    let row: Option<Row> = receivables::table
        .filter(receivables::invoice_id.eq(&invoice_id))
        .select(Row::as_select())
        .first(conn)
        .optional()?;
    let now = db::now();
    let Some(row) = row else {
        // The invoice's issue event has not arrived yet: keep the cancellation for it.
        carebill_platform::insert_new!(
            conn,
            early_credit_notes::table,
            (
                early_credit_notes::invoice_id.eq(&invoice_id),
                early_credit_notes::credit_note_id.eq(e.credit_note_id.to_string()),
                early_credit_notes::credit_note_number.eq(&e.number),
                early_credit_notes::reason.eq(&e.reason),
                early_credit_notes::received_at.eq(now),
            )
        );
        return Ok(());
    };
    if row.cancelled() {
        return Ok(());
    }
    db::lock_row(conn, "receivables", &row.id)?;
    // Money allocated to the invoice goes back to each payment's unallocated remainder; the
    // allocations stay, marked reversed by this credit note. Payments are locked in id order,
    // always after receivables (as payments and allocations do), so no two writers deadlock.
    let active: Vec<(String, String, i64)> = allocations::table
        .filter(allocations::receivable_id.eq(&row.id))
        .filter(allocations::reversed_at.is_null())
        .order(allocations::payment_id.asc())
        .select((
            allocations::id,
            allocations::payment_id,
            allocations::amount_minor,
        ))
        .load(conn)?;
    let credit_note_id = e.credit_note_id.to_string();
    for (allocation_id, payment_id, amount) in &active {
        db::lock_row(conn, "payments", payment_id)?;
        diesel::update(payments::table.find(payment_id))
            .set((
                payments::allocated_minor.eq(payments::allocated_minor - *amount),
                payments::updated_at.eq(now),
            ))
            .execute(conn)?;
        diesel::update(allocations::table.find(allocation_id))
            .set((
                allocations::reversed_at.eq(Some(now)),
                allocations::reversed_by_credit_note_id.eq(Some(&credit_note_id)),
            ))
            .execute(conn)?;
    }
    diesel::update(receivables::table.find(&row.id))
        .set((
            receivables::status.eq(ReceivableStatus::Cancelled.as_str()),
            receivables::paid_minor.eq(0_i64),
            receivables::credit_note_id.eq(Some(&credit_note_id)),
            receivables::credit_note_number.eq(Some(&e.number)),
            receivables::cancel_reason.eq(Some(&e.reason)),
            receivables::cancelled_at.eq(Some(now)),
            receivables::updated_at.eq(now),
        ))
        .execute(conn)?;
    let returned: i64 = active.iter().map(|a| a.2).sum();
    audit::record_at(
        conn,
        &event_actor(env),
        &row.location_id,
        "cancel",
        "receivable",
        &row.id,
        serde_json::json!({
            "status": { "before": row.status, "after": "cancelled" },
            "paid": { "before": money(row.paid_minor, &row.currency), "after": money(0, &row.currency) },
            "credit_note_id": credit_note_id,
            "credit_note_number": e.number,
            "returned_to_credit": money(returned, &row.currency),
            "reversed_allocations": active.iter().map(|a| &a.0).collect::<Vec<_>>(),
            "event_id": env.id,
        }),
        Some(&e.reason),
    )?;
    Ok(())
}

// ---- reading ----

/// Filters for the receivable list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceivableFilter {
    /// Status as shown today: `overdue` means past the due date in the location's time zone and
    /// not fully paid; `open` and `partially_paid` then leave overdue receivables out.
    pub status: Option<ReceivableStatus>,
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The payer's or patient's id.
    pub party_id: Option<String>,
    /// The payer's code.
    pub payer_code: Option<String>,
    /// The issuing location's code.
    pub location_code: Option<String>,
    /// The invoice.
    pub invoice_id: Option<String>,
    /// Due before this day.
    pub due_before: Option<NaiveDate>,
}

/// Parses an optional uuid query value, naming the parameter when it is not one.
pub(crate) fn uuid_param(field: &str, value: Option<&str>) -> Result<Option<String>, Error> {
    value
        .map(|v| {
            uuid::Uuid::parse_str(v.trim())
                .map(|u| u.to_string())
                .map_err(|_| Error::field(field, "invalid", "must be a UUID"))
        })
        .transpose()
}

fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &ReceivableFilter,
    page: &PageRequest,
    now: DateTime<Utc>,
) -> Result<Page<Receivable>, Error> {
    let party_id = uuid_param("party_id", f.party_id.as_deref())?;
    let invoice_id = uuid_param("invoice_id", f.invoice_id.as_deref())?;
    if let Some(d) = f.due_before {
        carebill_domain::accounts::check_date(d)
            .map_err(|m| Error::field("due_before", "out_of_range", m))?;
    }
    let mut q = receivables::table
        .select(Row::as_select())
        .filter(in_scope(scope))
        .into_boxed();
    if let Some(s) = f.status {
        q = q.filter(has_status(conn, s, now)?);
    }
    if let Some(k) = f.party_kind {
        q = q.filter(receivables::party_kind.eq(k.as_str()));
    }
    if let Some(p) = party_id {
        q = q.filter(receivables::party_id.eq(p));
    }
    if let Some(c) = &f.payer_code {
        q = q.filter(receivables::payer_code.eq(c.trim().to_owned()));
    }
    if let Some(c) = &f.location_code {
        q = q.filter(receivables::location_code.eq(c.trim().to_owned()));
    }
    if let Some(i) = invoice_id {
        q = q.filter(receivables::invoice_id.eq(i));
    }
    if let Some(d) = f.due_before {
        q = q.filter(receivables::due_date.lt(d));
    }
    if let Some(after) = &page.after {
        q = q.filter(receivables::id.gt(after.clone()));
    }
    let rows = q
        .order(receivables::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone()).map(|r| r.view(now)))
}

type HistoryRow = (
    String,
    String,
    NaiveDate,
    String,
    i64,
    NaiveDateTime,
    Option<NaiveDateTime>,
    Option<String>,
);

fn get(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
    now: DateTime<Utc>,
) -> Result<ReceivableDetail, Error> {
    let row: Row = receivables::table
        .find(id)
        .filter(in_scope(scope))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("receivable"))?;
    let history: Vec<HistoryRow> = allocations::table
        .inner_join(payments::table)
        .filter(allocations::receivable_id.eq(id))
        .order(allocations::id.asc())
        .select((
            allocations::id,
            allocations::payment_id,
            payments::received_on,
            payments::method,
            allocations::amount_minor,
            allocations::allocated_at,
            allocations::reversed_at,
            allocations::reversed_by_credit_note_id,
        ))
        .load(conn)?;
    let currency = row.currency.clone();
    Ok(ReceivableDetail {
        receivable: row.view(now),
        payments: history
            .into_iter()
            .map(
                |(allocation_id, payment_id, received_on, method, amount, at, rev_at, rev_by)| {
                    ReceivablePayment {
                        allocation_id,
                        payment_id,
                        received_on,
                        method,
                        amount: money(amount, &currency),
                        allocated_at: at.and_utc(),
                        reversed: rev_at.is_some(),
                        reversed_at: rev_at.map(|t| t.and_utc()),
                        reversed_by_credit_note_id: rev_by,
                    }
                },
            )
            .collect(),
    })
}

/// List receivables, oldest first.
#[utoipa::path(get, path = "/v1/receivables", tag = "receivables", params(ReceivableFilter, PageParams),
    responses((status = 200, description = "A page of receivables", body = Page<Receivable>)),
    security(("bearer" = [])))]
pub async fn list_receivables(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<ReceivableFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Receivable>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    let scope = Scope::of(&who);
    let now = Utc::now();
    Ok(web::Json(
        state
            .db
            .read(move |conn| list(conn, &scope, &filter, &page, now))
            .await?,
    ))
}

/// Get a receivable with its payment history.
#[utoipa::path(get, path = "/v1/receivables/{id}", tag = "receivables",
    params(("id" = String, Path, description = "Receivable id")),
    responses((status = 200, description = "The receivable", body = ReceivableDetail)),
    security(("bearer" = [])))]
pub async fn get_receivable(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<ReceivableDetail>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "receivable")?;
    let scope = Scope::of(&who);
    let now = Utc::now();
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &scope, &id.to_string(), now))
            .await?,
    ))
}
