//! Payments over HTTP: recording a payment, allocating its remainder later, a list with
//! filters and one payment with its allocations ([`crate::service::payments`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::collections::RequestedAllocation;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::{InvoiceId, PaymentId};
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
use crate::service::payments::{self, NewPayment, Payer, PaymentFilter as Filter, PaymentRecord};

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

impl Payment {
    /// A payment as the API shows it.
    pub(crate) fn of(p: &PaymentRecord) -> Payment {
        Payment {
            id: p.id.clone(),
            party: p.party.clone(),
            amount: p.amount,
            allocated: p.allocated,
            unallocated: p.unallocated,
            method: p.method.clone(),
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
        let amount_minor = self
            .amount
            .to_minor()
            .map_err(|e| Error::field("amount.amount", "out_of_range", e.to_string()))?
            .0;
        Ok(NewPayment {
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
}

impl PaymentFilter {
    /// The filters as the service takes them: the party id must be a UUID, the days plausible.
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
        Ok(Filter {
            party_id,
            party_kind: self.party_kind,
            received_from: self.received_from,
            received_to: self.received_to,
            method: self.method.map(|m| m.trim().to_owned()),
        })
    }
}

/// Record a payment received from a payer or a patient, optionally applying it to invoices.
#[utoipa::path(post, path = "/v1/payments", tag = "payments", request_body = PaymentInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Recorded", body = Payment),
        (status = 409, description = "An invoice was cancelled by a credit note", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input or allocations (unknown invoice, other party, currency_mismatch, exceeds_outstanding, over_allocated)", body = Problem, content_type = "application/problem+json")),
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

/// List payments, oldest first.
#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(PaymentFilter, PageParams),
    responses((status = 200, description = "A page of payments", body = Page<Payment>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_payments(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<PaymentFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Payment>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner().parse()?;
    let scope = Scope::of(&who);
    let page = state
        .db
        .read(move |conn| payments::payments(conn, &scope, &filter, &page))
        .await?;
    Ok(web::Json(page.map(|p| Payment::of(&p))))
}
