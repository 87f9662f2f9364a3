//! Payments over HTTP: recording a payment (or a prepayment, perhaps of several tenders),
//! allocating its remainder later, refunding its credit, a list with filters and one payment
//! with its allocations, tenders and refunds ([`crate::service::payments`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::collections::{PaymentKind, RequestedAllocation};
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::{EpisodeId, InvoiceId, PaymentId};
use carebill_domain::{Code, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{READERS, WRITERS, uuid_param};
use crate::CollectionsState;
use crate::service::payments::{
    self, NewPayment, NewRefund, NewTender, Payer, PaymentFilter as Filter, PaymentRecord,
};

/// Most tenders in one payment.
const MAX_TENDERS: usize = 20;

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

/// One part of a payment paid by one method.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenderInput {
    /// How: a code such as `card`, `cash`, `voucher`.
    #[schema(example = "card", pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub method: String,
    /// Amount; positive, in the payment's currency.
    pub amount: Money,
    /// Its reference (card slip, voucher number).
    #[schema(max_length = 200)]
    pub reference: Option<String>,
}

/// A payment received, or a prepayment (a deposit before there is an invoice).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentInput {
    /// Who paid.
    #[serde(deserialize_with = "carebill_platform::http::object")]
    pub party: PartyInput,
    /// `payment` (the default) or `prepayment`: a deposit whose credit goes to the party's
    /// invoices as they arrive (its episode's first), or by hand through its allocations.
    pub kind: Option<PaymentKind>,
    /// The episode a prepayment is for: that episode's invoices get it first; a prepayment
    /// for an episode goes to no other episode's invoices by itself.
    pub episode_id: Option<EpisodeId>,
    /// Amount received; positive.
    pub amount: Money,
    /// How: a code such as `transfer`, `card`, `cash`, `direct_debit`. Required unless
    /// `tenders` are given (then, when absent, the tenders' method if they share one, else
    /// `split`).
    #[schema(example = "transfer", pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub method: Option<String>,
    /// The parts of a split payment (card + cash + voucher), adding up to `amount` to the
    /// cent; none for a payment of one method.
    #[serde(default, deserialize_with = "carebill_platform::http::objects")]
    pub tenders: Vec<TenderInput>,
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

/// A refund of part of a payment's unallocated credit.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInput {
    /// Amount paid back; positive, in the payment's currency, at most its unallocated credit.
    pub amount: Money,
    /// How: a code such as `transfer`, `card`, `cash`.
    #[schema(example = "transfer", pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub method: String,
    /// The refund's bank or card reference.
    #[schema(max_length = 200)]
    pub reference: Option<String>,
    /// Why (1 to 500 characters).
    #[schema(max_length = 500)]
    pub reason: String,
    /// Day paid back; today when absent; not after tomorrow.
    pub refunded_on: Option<NaiveDate>,
}

/// One tender of a payment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentTender {
    /// Method code.
    pub method: String,
    /// Amount.
    pub amount: Money,
    /// Its reference.
    pub reference: Option<String>,
}

/// A refund of a payment's credit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentRefund {
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
    /// `payment` or `prepayment`.
    pub kind: PaymentKind,
    /// The episode a prepayment is for.
    pub episode_id: Option<String>,
    /// Who paid.
    pub party: PartyRef,
    /// Amount received.
    pub amount: Money,
    /// Sum of the allocations not reversed.
    pub allocated: Money,
    /// Paid back of its credit.
    pub refunded: Money,
    /// What stays as the party's credit: amount − allocated − refunded, never negative.
    pub unallocated: Money,
    /// Method (`split` for tenders of different methods).
    pub method: String,
    /// The tenders it was made of, in order (none: one tender, `method`).
    pub tenders: Vec<PaymentTender>,
    /// Its refunds, oldest first.
    pub refunds: Vec<PaymentRefund>,
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

impl Payment {
    /// A payment as the API shows it.
    pub(crate) fn of(p: &PaymentRecord) -> Payment {
        Payment {
            id: p.id.clone(),
            kind: p.kind,
            episode_id: p.episode_id.clone(),
            party: p.party.clone(),
            amount: p.amount,
            allocated: p.allocated,
            refunded: p.refunded,
            unallocated: p.unallocated,
            method: p.method.clone(),
            tenders: p
                .tenders
                .iter()
                .map(|t| PaymentTender {
                    method: t.method.clone(),
                    amount: t.amount,
                    reference: t.reference.clone(),
                })
                .collect(),
            refunds: p
                .refunds
                .iter()
                .map(|r| PaymentRefund {
                    id: r.id.clone(),
                    amount: r.amount,
                    method: r.method.clone(),
                    reference: r.reference.clone(),
                    reason: r.reason.clone(),
                    refunded_on: r.refunded_on,
                    issued_by: r.issued_by.clone(),
                    issued_at: r.issued_at,
                })
                .collect(),
            received_on: p.received_on,
            reference: p.reference.clone(),
            recorded_by: p.recorded_by.clone(),
            recorded_at: p.recorded_at,
            allocations: p
                .allocations
                .iter()
                .map(|a| PaymentAllocation {
                    id: a.id.clone(),
                    receivable_id: a.receivable_id.clone(),
                    invoice_id: a.invoice_id.clone(),
                    invoice_number: a.invoice_number.clone(),
                    amount: a.amount,
                    allocated_at: a.allocated_at,
                    allocated_by: a.allocated_by.clone(),
                    reversed: a.reversed,
                    reversed_at: a.reversed_at,
                    reversed_by_credit_note_id: a.reversed_by_credit_note_id.clone(),
                })
                .collect(),
        }
    }
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
        let kind = self.kind.unwrap_or(PaymentKind::Payment); // not stored: absent means an ordinary payment
        if self.episode_id.is_some() && kind != PaymentKind::Prepayment {
            v.add(
                "episode_id",
                "invalid",
                "only a prepayment names an episode",
            );
        }
        if self.tenders.len() > MAX_TENDERS {
            v.add(
                "tenders",
                "too_many",
                format!("at most {MAX_TENDERS} tenders per payment"),
            );
        }
        let mut tenders = Vec::with_capacity(self.tenders.len());
        for (i, t) in self.tenders.iter().enumerate() {
            let method = v.check(
                &format!("tenders.{i}.method"),
                "invalid",
                Code::parse(&t.method),
            );
            let reference = v.opt_text(
                &format!("tenders.{i}.reference"),
                t.reference.as_deref(),
                200,
            );
            if let Some(method) = method {
                tenders.push(NewTender {
                    method,
                    amount: t.amount,
                    reference,
                });
            }
        }
        let method = match (&self.method, tenders.first()) {
            (Some(m), _) => v.check("method", "invalid", Code::parse(m)),
            (None, Some(first)) => {
                let one = tenders.iter().all(|t| t.method == first.method);
                let m = if one { first.method.as_str() } else { "split" };
                v.check("method", "invalid", Code::parse(m))
            }
            (None, None) if self.tenders.is_empty() => {
                v.add(
                    "method",
                    "required",
                    "a payment names its method, or its tenders",
                );
                None
            }
            (None, None) => None,
        };
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
        let amount_minor = self
            .amount
            .to_minor()
            .map_err(|e| Error::field("amount.amount", "out_of_range", e.to_string()))?
            .0;
        Ok(NewPayment {
            kind,
            episode_id: self.episode_id.map(|e| e.to_string()),
            tenders,
            allocations: requested(&self.allocations),
            party: Payer {
                kind: self.party.kind,
                id: self.party.id,
            },
            amount: self.amount,
            amount_minor,
            method,
            received_on: self.received_on,
            reference,
        })
    }
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
    /// `payment` or `prepayment`.
    pub kind: Option<PaymentKind>,
}

impl PaymentFilter {
    /// The filters as the service takes them: the party id must be a UUID, the days plausible
    /// and in order.
    fn parse(self) -> Result<Filter, Error> {
        let party_id = uuid_param("party_id", self.party_id.as_deref())?;
        for (field, d) in [
            ("received_from", self.received_from),
            ("received_to", self.received_to),
        ] {
            if let Some(d) = d {
                carebill_domain::accounts::check_date(d)
                    .map_err(|m| Error::field(field, "out_of_range", m))?;
            }
        }
        if let (Some(from), Some(to)) = (self.received_from, self.received_to)
            && from > to
        {
            return Err(Error::field(
                "received_to",
                "invalid",
                "must not be before received_from",
            ));
        }
        Ok(Filter {
            party_id,
            party_kind: self.party_kind,
            received_from: self.received_from,
            received_to: self.received_to,
            method: self.method.map(|m| m.trim().to_owned()),
            kind: self.kind,
        })
    }
}

/// Record a payment (or a prepayment) received from a payer or a patient, perhaps of several
/// tenders, optionally applying it to invoices.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", request_body = PaymentInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Recorded", body = Payment),
        (status = 409, description = "An invoice was cancelled by a credit note", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input, tenders (tenders_do_not_add_up) or allocations (unknown invoice, other party, currency_mismatch, exceeds_outstanding, over_allocated)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
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
                payments::record(conn, &who, input).map(|p| Payment::of(&p))
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

impl RefundInput {
    fn validate(self, today: NaiveDate) -> Result<NewRefund, Error> {
        let mut v = Validation::new();
        if self.amount.amount() <= rust_decimal::Decimal::ZERO {
            v.add("amount.amount", "not_positive", "must be greater than zero");
        }
        let method = v.check("method", "invalid", Code::parse(&self.method));
        let reference = v.opt_text("reference", self.reference.as_deref(), 200);
        let reason = v.text("reason", &self.reason, 500);
        let refunded_on = self.refunded_on.unwrap_or(today); // not stored: absent means today
        if let Err(m) = carebill_domain::accounts::check_date(refunded_on) {
            v.add("refunded_on", "out_of_range", m);
        } else if refunded_on > today + Duration::days(1) {
            v.add("refunded_on", "in_future", "must not be after tomorrow");
        }
        v.finish().map_err(Error::validation)?;
        match (method, reason) {
            (Some(method), Some(reason)) => Ok(NewRefund {
                amount: self.amount,
                method,
                reference,
                reason,
                refunded_on,
            }),
            _ => Err(Error::internal(
                &"validation passed without a method or reason",
            )),
        }
    }
}

/// Pay part of a payment's (or prepayment's) unallocated credit back to its party.
#[utoipa::path(post, path = "/v1/payments/{id}/refunds", tag = "payments", request_body = RefundInput,
    params(("id" = String, Path, description = "Payment id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Refunded: the payment with its refunds", body = Payment),
        (status = 422, description = "Invalid input, or above the unallocated credit (exceeds_credit, naming amount)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn refund_payment(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<RefundInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: PaymentId = parse_id(&id, "payment")?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate(Utc::now().date_naive())?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                payments::refund(conn, &who, id, input).map(|p| Payment::of(&p))
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
#[tracing::instrument(skip_all)]
pub async fn allocate_payment(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<AllocateInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: PaymentId = parse_id(&id, "payment")?;
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
                payments::allocate(conn, &who, id, requested).map(|p| Payment::of(&p))
            })
        })
        .await
}

/// Get a payment with its allocations.
#[utoipa::path(get, path = "/v1/payments/{id}", tag = "payments",
    params(("id" = String, Path, description = "Payment id")),
    responses((status = 200, description = "The payment", body = Payment)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_payment(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Payment>, Error> {
    who.require(READERS)?;
    let id: PaymentId = parse_id(&id, "payment")?;
    let scope = Scope::of(&who);
    let payment = state
        .db
        .read(move |conn| payments::payment(conn, &scope, id))
        .await?;
    Ok(web::Json(Payment::of(&payment)))
}

/// A page of payments as CSV: one line per payment, its invoices paid (not reversed) in one
/// cell, amounts as decimal text.
fn payments_csv(page: &Page<Payment>) -> Result<Vec<u8>, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::internal(&e);
    w.write_record([
        "id",
        "received_on",
        "kind",
        "party_kind",
        "party_id",
        "payer_code",
        "method",
        "currency",
        "amount",
        "allocated",
        "refunded",
        "unallocated",
        "reference",
        "invoices",
        "recorded_by",
        "recorded_at",
    ])
    .map_err(fail)?;
    for p in &page.items {
        let invoices: Vec<&str> = p
            .allocations
            .iter()
            .filter(|a| !a.reversed)
            .map(|a| a.invoice_number.as_str())
            .collect();
        w.write_record([
            p.id.as_str(),
            &p.received_on.to_string(),
            p.kind.as_str(),
            p.party.kind.as_str(),
            &p.party.id.to_string(),
            p.party.payer_code.as_deref().unwrap_or(""), // not stored: an empty cell for a patient
            &p.method,
            p.amount.currency().code(),
            &p.amount.amount_string(),
            &p.allocated.amount_string(),
            &p.refunded.amount_string(),
            &p.unallocated.amount_string(),
            p.reference.as_deref().unwrap_or(""), // not stored: an empty cell for no reference
            &invoices.join(" "),
            &p.recorded_by,
            &p.recorded_at.to_rfc3339(),
        ])
        .map_err(fail)?;
    }
    w.into_inner().map_err(|e| Error::internal(&e.to_string()))
}

/// List payments, oldest first; with `Accept: text/csv`, the page as CSV (the next page's
/// cursor in the `Link` header): a payment history to export.
#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(PaymentFilter, PageParams),
    responses((status = 200, description = "A page of payments (as text/csv when asked, the next page in `Link`)", content(
            (Page<Payment> = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows neither JSON nor CSV", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value (a party id that is not a UUID, an implausible day, `received_to` before `received_from`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_payments(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    filter: web::Query<PaymentFilter>,
    page: web::Query<PageParams>,
) -> Result<actix_web::HttpResponse, Error> {
    let csv = carebill_platform::http::negotiate(
        &req,
        &[("application/json", false), ("text/csv", true)],
    )?;
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner().parse()?;
    let scope = Scope::of(&who);
    let page = state
        .db
        .read(move |conn| payments::payments(conn, &scope, &filter, &page))
        .await?;
    let page = page.map(|p| Payment::of(&p));
    if !csv {
        return Ok(actix_web::HttpResponse::Ok().json(page));
    }
    let mut res = actix_web::HttpResponse::Ok();
    res.content_type("text/csv; charset=utf-8");
    if let Some(next) = &page.next_cursor {
        res.insert_header((
            actix_web::http::header::LINK,
            carebill_platform::http::next_link(&req, next),
        ));
    }
    Ok(res.body(payments_csv(&page)?))
}
