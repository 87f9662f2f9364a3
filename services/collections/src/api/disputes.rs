//! Disputes and adjustments of a receivable over HTTP ([`crate::service::disputes`],
//! [`crate::service::adjustments`]). Disputes are opened and resolved by billing managers and
//! collectors; adjustments are for billing managers (admin always).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::collections::plans::AdjustmentKind;
use carebill_domain::ids::ReceivableId;
use carebill_domain::{Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::Principal;
use carebill_platform::error::Problem;
use carebill_platform::http::{IdempotencyKey, JsonBody, Reply, idempotent, parse_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{MANAGERS, WRITERS};
use crate::CollectionsState;
use crate::service::adjustments::{self, AdjustmentMade, NewAdjustment};
use crate::service::disputes;
use crate::service::receivables::{AdjustmentRecord, DisputeRecord};

/// A dispute of a receivable.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Dispute {
    /// Id.
    pub id: String,
    /// The receivable.
    pub receivable_id: String,
    /// Why the party disputes it.
    pub reason: String,
    /// When it was opened.
    pub opened_at: DateTime<Utc>,
    /// Who opened it.
    pub opened_by: String,
    /// When it was resolved (open while absent).
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// How.
    pub resolution: Option<String>,
}

impl Dispute {
    /// A dispute as the API shows it.
    pub(crate) fn of(d: &DisputeRecord) -> Dispute {
        Dispute {
            id: d.id.clone(),
            receivable_id: d.receivable_id.to_string(),
            reason: d.reason.clone(),
            opened_at: d.opened_at,
            opened_by: d.opened_by.clone(),
            resolved_at: d.resolved_at,
            resolved_by: d.resolved_by.clone(),
            resolution: d.resolution.clone(),
        }
    }
}

/// A dispute to open.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisputeInput {
    /// Why the party disputes the receivable (1 to 500 characters).
    #[schema(max_length = 500)]
    pub reason: String,
}

/// How a dispute was resolved.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolutionInput {
    /// How (1 to 500 characters).
    #[schema(max_length = 500)]
    pub resolution: String,
}

fn text(field: &str, value: &str) -> Result<String, Error> {
    let mut v = Validation::new();
    let t = v.text(field, value, 500);
    v.finish().map_err(Error::validation)?;
    t.ok_or_else(|| Error::internal(&"validation passed without its text"))
}

/// Open a dispute of a receivable: dunning leaves it alone until it is resolved.
#[utoipa::path(post, path = "/v1/receivables/{id}/disputes", tag = "receivables", request_body = DisputeInput,
    params(("id" = String, Path, description = "Receivable id")),
    responses((status = 201, description = "The open dispute", body = Dispute),
        (status = 403, description = "Not a billing manager or collector", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such receivable in the caller's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A dispute is open already (dispute_open)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn open_dispute(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<DisputeInput>,
) -> Result<(web::Json<Dispute>, StatusCode), Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: ReceivableId = parse_id(&id, "receivable")?;
    let reason = text("reason", &body.value.reason)?;
    let d = state
        .db
        .write(move |conn| disputes::open(conn, &who, id, &reason))
        .await?;
    Ok((web::Json(Dispute::of(&d)), StatusCode::CREATED))
}

/// Resolve a receivable's open dispute.
#[utoipa::path(post, path = "/v1/receivables/{id}/disputes/resolution", tag = "receivables", request_body = ResolutionInput,
    params(("id" = String, Path, description = "Receivable id")),
    responses((status = 200, description = "The resolved dispute", body = Dispute),
        (status = 403, description = "Not a billing manager or collector", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such receivable in the caller's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No dispute is open (no_open_dispute)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No resolution", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn resolve_dispute(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<ResolutionInput>,
) -> Result<web::Json<Dispute>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: ReceivableId = parse_id(&id, "receivable")?;
    let resolution = text("resolution", &body.value.resolution)?;
    let d = state
        .db
        .write(move |conn| disputes::resolve(conn, &who, id, &resolution))
        .await?;
    Ok(web::Json(Dispute::of(&d)))
}

/// An adjustment of a receivable.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceivableAdjustment {
    /// Id.
    pub id: String,
    /// The receivable.
    pub receivable_id: String,
    /// `fee`, `interest` or `correction`.
    pub kind: AdjustmentKind,
    /// The change, signed: positive raises what is owed.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// Who.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl ReceivableAdjustment {
    /// An adjustment as the API shows it.
    pub(crate) fn of(a: &AdjustmentRecord) -> ReceivableAdjustment {
        ReceivableAdjustment {
            id: a.id.clone(),
            receivable_id: a.receivable_id.to_string(),
            kind: a.kind,
            amount: a.amount,
            reason: a.reason.clone(),
            recorded_by: a.recorded_by.clone(),
            recorded_at: a.recorded_at,
        }
    }
}

/// An adjustment made, with what the receivable owes after it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AdjustmentResult {
    /// The adjustment.
    #[serde(flatten)]
    pub adjustment: ReceivableAdjustment,
    /// What the receivable owes after it.
    pub outstanding: Money,
}

impl AdjustmentResult {
    fn of(m: &AdjustmentMade) -> AdjustmentResult {
        AdjustmentResult {
            adjustment: ReceivableAdjustment::of(&m.adjustment),
            outstanding: m.outstanding,
        }
    }
}

/// An adjustment asked for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentInput {
    /// The change, signed, in the receivable's currency: positive raises what it owes
    /// (`"5.00"`), negative lowers it (`"-2.50"`); never below nothing owed.
    pub amount: Money,
    /// `fee`, `interest` or `correction`.
    pub kind: AdjustmentKind,
    /// Why (1 to 500 characters).
    #[schema(max_length = 500)]
    pub reason: String,
}

/// Raise or lower what a receivable owes: a fee, interest or a correction (billing managers).
#[utoipa::path(post, path = "/v1/receivables/{id}/adjustments", tag = "receivables", request_body = AdjustmentInput,
    params(("id" = String, Path, description = "Receivable id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Adjusted", body = AdjustmentResult),
        (status = 403, description = "Not a billing manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such receivable in the caller's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The invoice was cancelled by a credit note (invoice_cancelled)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input, zero, another currency, or below nothing owed (below_zero_outstanding)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn adjust_receivable(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<AdjustmentInput>,
) -> Result<Reply, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let id: ReceivableId = parse_id(&id, "receivable")?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value;
    let reason = text("reason", &input.reason)?;
    let a = NewAdjustment {
        amount: input.amount,
        kind: input.kind,
        reason,
    };
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                adjustments::adjust(conn, &who, id, a).map(|m| AdjustmentResult::of(&m))
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}
