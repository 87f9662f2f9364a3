//! Write-offs over HTTP: writing off what a receivable still owes, and the small-balance
//! thresholds per currency ([`crate::service::write_offs`]). Writing off and setting a
//! threshold are for billing managers (and admins); reading the thresholds for every reader.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::collections::WriteOffKind;
use carebill_domain::ids::ReceivableId;
use carebill_domain::{Currency, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::Principal;
use carebill_platform::error::Problem;
use carebill_platform::http::{IdempotencyKey, JsonBody, Reply, idempotent, parse_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{MANAGERS, READERS};
use crate::CollectionsState;
use crate::service::receivables::WriteOffRecord;
use crate::service::write_offs::{self, NewWriteOff, ThresholdRecord, WriteOffMade};

/// A write-off asked for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteOffInput {
    /// `bad_debt`, `small_balance` (only when the receivable owes at most its currency's
    /// threshold) or `charity`.
    pub kind: WriteOffKind,
    /// How much; everything the receivable still owes when absent. Positive, in its currency,
    /// at most what it owes.
    pub amount: Option<Money>,
    /// Why (1 to 500 characters).
    #[schema(max_length = 500)]
    pub reason: String,
}

/// A write-off of (part of) what a receivable owed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WriteOff {
    /// Id.
    pub id: String,
    /// The receivable.
    pub receivable_id: String,
    /// `bad_debt`, `small_balance` or `charity`.
    pub kind: WriteOffKind,
    /// Amount written off.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// Who.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl WriteOff {
    /// A write-off as the API shows it.
    pub(crate) fn of(w: &WriteOffRecord) -> WriteOff {
        WriteOff {
            id: w.id.clone(),
            receivable_id: w.receivable_id.to_string(),
            kind: w.kind,
            amount: w.amount,
            reason: w.reason.clone(),
            recorded_by: w.recorded_by.clone(),
            recorded_at: w.recorded_at,
        }
    }
}

/// A write-off made, with what the receivable still owes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WriteOffResult {
    /// The write-off.
    #[serde(flatten)]
    pub write_off: WriteOff,
    /// What the receivable still owes after it.
    pub outstanding: Money,
}

impl WriteOffResult {
    fn of(m: &WriteOffMade) -> WriteOffResult {
        WriteOffResult {
            write_off: WriteOff::of(&m.write_off),
            outstanding: m.outstanding,
        }
    }
}

impl WriteOffInput {
    fn validate(self) -> Result<NewWriteOff, Error> {
        let mut v = Validation::new();
        if let Some(a) = &self.amount
            && a.amount() <= rust_decimal::Decimal::ZERO
        {
            v.add("amount.amount", "not_positive", "must be greater than zero");
        }
        let reason = v.text("reason", &self.reason, 500);
        v.finish().map_err(Error::validation)?;
        let reason =
            reason.ok_or_else(|| Error::internal(&"validation passed without a reason"))?;
        Ok(NewWriteOff {
            kind: self.kind,
            amount: self.amount,
            reason,
        })
    }
}

/// Write off part or all of what a receivable still owes (billing managers).
#[utoipa::path(post, path = "/v1/receivables/{id}/write-offs", tag = "receivables", request_body = WriteOffInput,
    params(("id" = String, Path, description = "Receivable id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Written off", body = WriteOffResult),
        (status = 403, description = "Not a billing manager", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The invoice was cancelled by a credit note (invoice_cancelled)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input, more than owed (exceeds_outstanding), or a small balance above the threshold (above_threshold, naming kind)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn write_off_receivable(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<WriteOffInput>,
) -> Result<Reply, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let id: ReceivableId = parse_id(&id, "receivable")?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                write_offs::write_off(conn, &who, id, input).map(|m| WriteOffResult::of(&m))
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// The most a receivable may owe, in one currency, to be written off as a small balance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WriteOffThreshold {
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The threshold.
    pub max: Money,
    /// Who set it.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

impl WriteOffThreshold {
    fn of(t: &ThresholdRecord) -> WriteOffThreshold {
        WriteOffThreshold {
            currency: t.max.currency().to_string(),
            max: t.max,
            updated_by: t.updated_by.clone(),
            updated_at: t.updated_at,
        }
    }
}

/// A small-balance threshold to set.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteOffThresholdInput {
    /// The threshold, in the currency of the path; zero or more.
    pub max: Money,
}

/// The small-balance write-off thresholds, by currency (a currency with none allows no
/// small-balance write-off).
#[utoipa::path(get, path = "/v1/collections/write-off-thresholds", tag = "receivables",
    responses((status = 200, description = "Every threshold", body = Vec<WriteOffThreshold>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_write_off_thresholds(
    state: web::Data<CollectionsState>,
    who: Principal,
) -> Result<web::Json<Vec<WriteOffThreshold>>, Error> {
    who.require(READERS)?;
    let all = state.db.read(write_offs::thresholds).await?;
    Ok(web::Json(all.iter().map(WriteOffThreshold::of).collect()))
}

/// Set a currency's small-balance write-off threshold (billing managers).
#[utoipa::path(put, path = "/v1/collections/write-off-thresholds/{currency}", tag = "receivables", request_body = WriteOffThresholdInput,
    params(("currency" = String, Path, description = "ISO 4217 code")),
    responses((status = 200, description = "The threshold", body = WriteOffThreshold),
        (status = 403, description = "Not a billing manager", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Negative, or not in the path's currency", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn set_write_off_threshold(
    state: web::Data<CollectionsState>,
    who: Principal,
    currency: web::Path<String>,
    body: JsonBody<WriteOffThresholdInput>,
) -> Result<web::Json<WriteOffThreshold>, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let currency = Currency::parse(currency.trim()).map_err(|_| Error::not_found("currency"))?;
    let max = body.value.max;
    if max.currency() != currency {
        return Err(Error::field(
            "max.currency",
            "currency_mismatch",
            format!("must be the path's currency {currency}"),
        ));
    }
    let t = state
        .db
        .write(move |conn| write_offs::set_threshold(conn, &who, max))
        .await?;
    Ok(web::Json(WriteOffThreshold::of(&t)))
}
