//! Payment plans over HTTP ([`crate::service::plans`]): made and cancelled by billing managers
//! and collectors (admin always), evaluated for a day by the same, read by every reader in
//! scope (a payer's portal user its payer's plans; a token limited to some locations the plans
//! whose receivables are all at them).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::collections::plans::{Every, InstallmentStatus, PlanStatus};
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::ReceivableId;
use carebill_domain::{Currency, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{READERS, WRITERS, uuid_param};
use crate::CollectionsState;
use crate::service::plans::{
    self, Evaluation, InstallmentsAsked, NewPlan, PlanFilter as Filter, PlanView,
};

/// Most installments in one plan.
const MAX_INSTALLMENTS: usize = 120;

/// One installment asked for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallmentInput {
    /// Due on (today, UTC, or later).
    pub due_on: NaiveDate,
    /// Amount, positive, in the plan's currency.
    pub amount: Money,
}

/// A payment plan asked for: installments listed, or generated from `count`, `first_due_on`
/// and `every` (equal to the cent, the remainder on the last installment). Either way they
/// must add up exactly to what the receivables still owe.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    /// `payer` or `patient`.
    pub party_kind: PartyKind,
    /// The payer's or patient's id.
    pub party_id: String,
    /// ISO 4217 code of the receivables.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The receivables (the party's, in the currency, owing, in no active plan); every one the
    /// party still owes on in that currency when absent.
    pub receivable_ids: Option<Vec<String>>,
    /// The installments, listed (in any order; kept in due order).
    pub installments: Option<Vec<InstallmentInput>>,
    /// Generated: how many installments (1 to 120).
    #[schema(minimum = 1, maximum = 120)]
    pub count: Option<u32>,
    /// Generated: the first's due day (today, UTC, or later).
    pub first_due_on: Option<NaiveDate>,
    /// Generated: `week` or `month` (default).
    pub every: Option<Every>,
    /// How many installments may be missed: the plan breaks when more are (default 1).
    pub missed_allowed: Option<u32>,
}

impl PlanInput {
    fn validate(self) -> Result<NewPlan, Error> {
        let mut v = Validation::new();
        let party_id = uuid::Uuid::parse_str(self.party_id.trim()).ok();
        if party_id.is_none() {
            v.add("party_id", "invalid", "must be a UUID");
        }
        let currency = Currency::parse(self.currency.trim()).ok();
        if currency.is_none() {
            v.add("currency", "invalid", "must be an ISO 4217 code");
        }
        let mut receivable_ids = None;
        if let Some(ids) = &self.receivable_ids {
            if ids.is_empty() {
                v.add(
                    "receivable_ids",
                    "empty",
                    "name at least one receivable, or leave it out",
                );
            }
            let mut parsed = Vec::with_capacity(ids.len());
            for (n, id) in ids.iter().enumerate() {
                match id.trim().parse::<ReceivableId>() {
                    Ok(r) if parsed.contains(&r) => {
                        v.add(format!("receivable_ids.{n}"), "duplicate", "named twice")
                    }
                    Ok(r) => parsed.push(r),
                    Err(_) => v.add(format!("receivable_ids.{n}"), "invalid", "must be a UUID"),
                }
            }
            receivable_ids = Some(parsed);
        }
        let generated = self.count.is_some() || self.first_due_on.is_some() || self.every.is_some();
        let installments = match (self.installments, generated) {
            (Some(_), true) => {
                v.add(
                    "installments",
                    "ambiguous",
                    "list installments or give count and first_due_on, not both",
                );
                None
            }
            (None, false) => {
                v.add(
                    "installments",
                    "required",
                    "list installments, or give count and first_due_on",
                );
                None
            }
            (Some(items), false) => {
                if items.is_empty() || items.len() > MAX_INSTALLMENTS {
                    v.add("installments", "out_of_range", "1 to 120 installments");
                }
                Some(InstallmentsAsked::Listed(
                    items.into_iter().map(|i| (i.due_on, i.amount)).collect(),
                ))
            }
            (None, true) => {
                let count = self.count.unwrap_or(0); // not stored: absent is refused just below
                if count == 0 || count as usize > MAX_INSTALLMENTS {
                    v.add("count", "out_of_range", "1 to 120 installments");
                }
                match self.first_due_on {
                    None => {
                        v.add(
                            "first_due_on",
                            "required",
                            "the first installment's due day",
                        );
                        None
                    }
                    Some(first_due_on) => Some(InstallmentsAsked::Generated {
                        count,
                        first_due_on,
                        every: self.every.unwrap_or(Every::Month), // not stored: the documented default
                    }),
                }
            }
        };
        v.finish().map_err(Error::validation)?;
        match (party_id, currency, installments) {
            (Some(party_id), Some(currency), Some(installments)) => Ok(NewPlan {
                party_kind: self.party_kind,
                party_id,
                currency,
                receivable_ids,
                installments,
                missed_allowed: self.missed_allowed.unwrap_or(1), // not stored: the documented default
            }),
            _ => Err(Error::internal(&"validation passed without its values")),
        }
    }
}

/// One installment as it stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Installment {
    /// Place in due order, from 1.
    pub seq: u32,
    /// Due on.
    pub due_on: NaiveDate,
    /// Amount.
    pub amount: Money,
    /// What of it is paid: payments to the plan's receivables since it began fill the
    /// installments in due order.
    pub paid: Money,
    /// `due`, `paid`, `partly_paid` or `missed` (not paid in full by the end of its due day).
    pub status: InstallmentStatus,
}

/// One receivable of a plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanReceivable {
    /// The receivable.
    pub receivable_id: String,
    /// Its invoice.
    pub invoice_id: String,
    /// The invoice number.
    pub invoice_number: String,
    /// What it owed when the plan began.
    pub owed_at_start: Money,
    /// What it owes now.
    pub outstanding: Money,
}

/// A payment plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentPlan {
    /// Id.
    pub id: String,
    /// Who owes it.
    pub party: PartyRef,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// What the plan collects: the sum of its installments, what its receivables owed when it
    /// began.
    pub total: Money,
    /// Paid on its receivables since it began.
    pub paid: Money,
    /// What its receivables owe now.
    pub outstanding: Money,
    /// How many installments may be missed; the plan breaks when more are.
    pub missed_allowed: u32,
    /// `active`, `completed`, `broken` or `cancelled`.
    pub status: PlanStatus,
    /// The day the installments' statuses are seen on (today for an active plan; the day it
    /// ended otherwise).
    pub as_of: NaiveDate,
    /// Installments, in due order.
    pub installments: Vec<Installment>,
    /// Its receivables.
    pub receivables: Vec<PlanReceivable>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it completed, broke or was cancelled.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
}

impl PaymentPlan {
    fn of(p: &PlanView) -> PaymentPlan {
        PaymentPlan {
            id: p.id.clone(),
            party: p.party.clone(),
            currency: p.currency.to_string(),
            total: p.total,
            paid: p.paid,
            outstanding: p.outstanding,
            missed_allowed: p.missed_allowed,
            status: p.status,
            as_of: p.as_of,
            installments: p
                .installments
                .iter()
                .map(|i| Installment {
                    seq: i.seq,
                    due_on: i.due_on,
                    amount: i.amount,
                    paid: i.paid,
                    status: i.status,
                })
                .collect(),
            receivables: p
                .receivables
                .iter()
                .map(|r| PlanReceivable {
                    receivable_id: r.receivable_id.to_string(),
                    invoice_id: r.invoice_id.to_string(),
                    invoice_number: r.invoice_number.clone(),
                    owed_at_start: r.owed_at_start,
                    outstanding: r.outstanding,
                })
                .collect(),
            created_by: p.created_by.clone(),
            created_at: p.created_at,
            ended_at: p.ended_at,
            cancel_reason: p.cancel_reason.clone(),
        }
    }
}

/// Make a payment plan (billing managers and collectors).
#[utoipa::path(post, path = "/v1/payment-plans", tag = "payment plans", request_body = PlanInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "The plan", body = PaymentPlan),
        (status = 403, description = "Not a billing manager or collector", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A receivable is in another active plan (already_in_plan), or nothing is owed on them (nothing_owed)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input, or installments that do not add up to what is owed (plan_does_not_add_up, naming installments)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_payment_plan(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PlanInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                plans::create(conn, &who, input).map(|p| PaymentPlan::of(&p))
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Filters and paging of the plan list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PlanFilter {
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The payer's or patient's id.
    pub party_id: Option<String>,
    /// `active`, `completed`, `broken` or `cancelled`.
    pub status: Option<PlanStatus>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// List payment plans, oldest first.
#[utoipa::path(get, path = "/v1/payment-plans", tag = "payment plans", params(PlanFilter),
    responses((status = 200, description = "A page of plans", body = Page<PaymentPlan>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value or paging", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_payment_plans(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<PlanFilter>,
) -> Result<web::Json<Page<PaymentPlan>>, Error> {
    who.require(READERS)?;
    let f = filter.into_inner();
    let page = PageParams {
        limit: f.limit,
        cursor: f.cursor,
    }
    .parse()?;
    let filter = Filter {
        party_kind: f.party_kind,
        party_id: uuid_param("party_id", f.party_id.as_deref())?,
        status: f.status,
    };
    let scope = Scope::of(&who);
    let today = Utc::now().date_naive();
    let page = state
        .db
        .read(move |conn| plans::plans(conn, &scope, &filter, &page, today))
        .await?;
    Ok(web::Json(Page {
        items: page.items.iter().map(PaymentPlan::of).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Get a payment plan with its installments as they stand today.
#[utoipa::path(get, path = "/v1/payment-plans/{id}", tag = "payment plans",
    params(("id" = String, Path, description = "Plan id")),
    responses((status = 200, description = "The plan", body = PaymentPlan),
        (status = 404, description = "No such plan in the caller's scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(plan_id = %id))]
pub async fn get_payment_plan(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<PaymentPlan>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "payment plan")?;
    let scope = Scope::of(&who);
    let today = Utc::now().date_naive();
    let p = state
        .db
        .read(move |conn| plans::plan(conn, &scope, id, today))
        .await?;
    Ok(web::Json(PaymentPlan::of(&p)))
}

/// Why a plan is cancelled.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancellationInput {
    /// Why (1 to 500 characters).
    #[schema(max_length = 500)]
    pub reason: String,
}

/// Cancel an active payment plan: its receivables go back to normal collection.
#[utoipa::path(post, path = "/v1/payment-plans/{id}/cancellation", tag = "payment plans", request_body = CancellationInput,
    params(("id" = String, Path, description = "Plan id")),
    responses((status = 200, description = "The cancelled plan", body = PaymentPlan),
        (status = 403, description = "Not a billing manager or collector", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such plan in the caller's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The plan is no longer active (plan_not_active)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(plan_id = %id))]
pub async fn cancel_payment_plan(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CancellationInput>,
) -> Result<web::Json<PaymentPlan>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "payment plan")?;
    let mut v = Validation::new();
    let reason = v.text("reason", &body.value.reason, 500);
    v.finish().map_err(Error::validation)?;
    let reason = reason.ok_or_else(|| Error::internal(&"validation passed without a reason"))?;
    let p = state
        .db
        .write(move |conn| plans::cancel(conn, &who, id, &reason))
        .await?;
    Ok(web::Json(PaymentPlan::of(&p)))
}

/// The day to evaluate plans on.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluationInput {
    /// The day: an installment due before it and not paid in full is missed.
    pub as_of: NaiveDate,
}

/// What an evaluation changed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationResult {
    /// The day.
    pub as_of: NaiveDate,
    /// Plans that completed now.
    pub completed: Vec<String>,
    /// Plans that broke now.
    pub broken: Vec<String>,
    /// Active plans that stay active.
    pub still_active: usize,
}

impl EvaluationResult {
    fn of(e: &Evaluation, as_of: NaiveDate) -> EvaluationResult {
        EvaluationResult {
            as_of: e.as_of.unwrap_or(as_of),
            completed: e.completed.clone(),
            broken: e.broken.clone(),
            still_active: e.still_active,
        }
    }
}

/// Evaluate every active plan on a day: those fully paid complete, those with more missed
/// installments than allowed break (announced). Idempotent: only active plans change.
#[utoipa::path(post, path = "/v1/payment-plans/evaluation", tag = "payment plans", request_body = EvaluationInput,
    responses((status = 200, description = "What changed", body = EvaluationResult),
        (status = 403, description = "Not a billing manager or collector", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid day", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn evaluate_payment_plans(
    state: web::Data<CollectionsState>,
    who: Principal,
    body: JsonBody<EvaluationInput>,
) -> Result<web::Json<EvaluationResult>, Error> {
    who.require(WRITERS)?;
    who.require_unscoped("evaluate every payment plan")?;
    let body = body.parse()?;
    let as_of = body.value.as_of;
    carebill_domain::accounts::check_date(as_of)
        .map_err(|m| Error::field("as_of", "out_of_range", m))?;
    let e = state
        .db
        .write(move |conn| plans::evaluate_plans_by(conn, &who, as_of))
        .await?;
    state.wake.notify_one();
    Ok(web::Json(EvaluationResult::of(&e, as_of)))
}
