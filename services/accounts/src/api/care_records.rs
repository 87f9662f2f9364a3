//! Care records over HTTP: stays, absences, contracts, manual entries, evaluations, gastro and
//! ambulatory lines, each change a new version behind `If-Match`, every version readable.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder as _, web};
use carebill_domain::Validation;
use carebill_domain::rules::InvoicingSource;
use carebill_domain::sources::CareRecordDetails;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, if_match_value, parse_id,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::service::care_records::{self as service, Changed, NewCareRecord, check_details};

/// A care record as the API shows it: its current version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CareRecordView {
    /// Id.
    pub id: String,
    /// The patient (beneficiary).
    pub patient_id: String,
    /// The location (institution).
    pub location_id: String,
    /// What kind of record it is (the `kind` of `details`).
    pub kind: InvoicingSource,
    /// Version, from 1; each change or cancellation adds one.
    pub version: i64,
    /// A cancelled record no longer counts for billing and cannot change.
    pub cancelled: bool,
    /// What it holds, by kind.
    pub details: CareRecordDetails,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Send as `If-Match` to change the record (also the `ETag` header).
    #[schema(example = "\"v1\"")]
    pub etag: String,
}

/// One version of a care record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CareRecordVersion {
    /// Version number, from 1.
    pub version: i64,
    /// What the record held in this version.
    pub details: CareRecordDetails,
    /// Whether this version cancelled the record.
    pub cancelled: bool,
    /// Why it was made (none for the first version).
    #[schema(example = "leaving date corrected")]
    pub reason: Option<String>,
    /// Who made it.
    pub changed_by: String,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// What a client sends to record a care record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareRecordInput {
    /// The patient.
    #[schema(format = Uuid)]
    pub patient_id: String,
    /// The location; it must be active and in your scope.
    #[schema(format = Uuid)]
    pub location_id: String,
    /// What it holds; `kind` says which fields follow.
    pub details: CareRecordDetails,
}

/// A change of a care record: the whole new details and why.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareRecordChange {
    /// Why it changes (required; kept with the version).
    #[schema(example = "leaving date corrected")]
    #[schema(pattern = r"\S", max_length = 500)]
    pub reason: String,
    /// The new details, of the record's kind.
    pub details: CareRecordDetails,
}

/// A request to cancel a care record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    /// Why (required).
    #[schema(example = "recorded for the wrong resident")]
    #[schema(pattern = r"\S", max_length = 500)]
    pub reason: String,
}

impl From<service::CareRecordView> for CareRecordView {
    fn from(v: service::CareRecordView) -> Self {
        CareRecordView {
            id: v.id,
            patient_id: v.patient_id.to_string(),
            location_id: v.location_id.to_string(),
            kind: v.kind,
            version: v.version,
            cancelled: v.cancelled,
            details: v.details,
            created_at: v.created_at,
            updated_at: v.updated_at,
            etag: v.etag,
        }
    }
}

impl From<service::CareRecordVersion> for CareRecordVersion {
    fn from(v: service::CareRecordVersion) -> Self {
        CareRecordVersion {
            version: v.version,
            details: v.details,
            cancelled: v.cancelled,
            reason: v.reason,
            changed_by: v.changed_by,
            changed_at: v.changed_at,
        }
    }
}

/// A reason is required, at most 500 characters.
fn check_reason(reason: &str) -> Result<String, Error> {
    let mut v = Validation::new();
    let reason = v.text("reason", reason, 500);
    v.finish().map_err(Error::validation)?;
    reason.ok_or_else(|| Error::internal(&"validation passed without a reason"))
}

impl CareRecordInput {
    /// Validates what can be checked without the database.
    pub fn validate(self) -> Result<NewCareRecord, Error> {
        let details = self.details.trimmed();
        let mut v = Validation::new();
        if uuid::Uuid::parse_str(&self.patient_id).is_err() {
            v.add("patient_id", "invalid", "must be a patient id");
        }
        if uuid::Uuid::parse_str(&self.location_id).is_err() {
            v.add("location_id", "invalid", "must be a location id");
        }
        check_details(&details, &mut v);
        v.finish().map_err(Error::validation)?;
        Ok(NewCareRecord {
            patient_id: self.patient_id,
            location_id: self.location_id,
            details,
        })
    }
}

fn with_etag(view: &CareRecordView, status: StatusCode) -> HttpResponse {
    crate::api::with_etag(&view.etag, status, view)
}

/// Filters for the care record list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CareRecordFilter {
    /// Records of this patient.
    pub patient_id: Option<String>,
    /// Records at this location.
    pub location_id: Option<String>,
    /// Records of this kind (`consumption` is not one).
    pub kind: Option<InvoicingSource>,
    /// Also cancelled records (default false).
    pub include_cancelled: Option<bool>,
}

impl TryFrom<CareRecordFilter> for service::CareRecordFilter {
    type Error = Error;
    fn try_from(f: CareRecordFilter) -> Result<Self, Error> {
        let kind = match f.kind {
            None => None,
            Some(k) => Some(service::source_kind(k).ok_or_else(|| {
                Error::field("kind", "invalid", "consumptions are not care records")
            })?),
        };
        Ok(service::CareRecordFilter {
            patient_id: f.patient_id,
            location_id: f.location_id,
            kind,
            include_cancelled: f.include_cancelled.unwrap_or(false),
        })
    }
}

const WRITERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Integration];
const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Integration,
];

/// Record a care record (version 1).
#[utoipa::path(post, path = "/v1/care-records", tag = "care-records", request_body = CareRecordInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Recorded; emits care_record.changed", body = CareRecordView,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 409, description = "A stay or evaluation overlapping another of the patient at the location (`overlapping_stay`, `overlapping_evaluation`), or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (details under `details.`), unknown patient or location, inactive location", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_care_record(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<CareRecordInput>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    let reply: Reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::create(conn, &who, input).map(CareRecordView::from)
            })
        })
        .await?;
    state.wake.notify_one();
    // A created record (or the replay of its creation) is always version 1.
    let mut res = reply.respond_to(&req);
    res.headers_mut()
        .insert(header::ETAG, header::HeaderValue::from_static("\"v1\""));
    Ok(res)
}

/// Change a care record: a new version with the whole new details and a reason. Needs
/// `If-Match` with the current `ETag`. The kind stays; sending the current details again
/// changes nothing.
#[utoipa::path(put, path = "/v1/care-records/{id}", tag = "care-records", request_body = CareRecordChange,
    params(("id" = String, Path, description = "Care record id"),
        ("If-Match" = String, Header, description = "The record's ETag")),
    responses(
        (status = 200, description = "The new version (emits care_record.changed), or the current one when nothing changed", body = CareRecordView,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 404, description = "No such care record in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The record is cancelled (`cancelled`), its location is inactive (`location_inactive`), or the change overlaps another stay or evaluation", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The record changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, missing reason, or another kind (`kind_changed`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn change_care_record(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CareRecordChange>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "care record")?;
    let expected = if_match_value(&req);
    let input = service::ChangeRequest {
        reason: body.value.reason,
        details: body.value.details,
    };
    let outcome = state
        .db
        .write(move |conn| service::change(conn, &who, &id.to_string(), expected, input))
        .await?;
    Ok(match outcome {
        Changed::New(view) => {
            state.wake.notify_one();
            with_etag(&view.into(), StatusCode::OK)
        }
        Changed::Same(view) => with_etag(&view.into(), StatusCode::OK),
    })
}

/// Cancel a care record with a reason: a new version that no longer counts.
#[utoipa::path(post, path = "/v1/care-records/{id}/cancel", tag = "care-records", request_body = CancelInput,
    params(("id" = String, Path, description = "Care record id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 200, description = "Cancelled; emits care_record.changed with `cancelled` true", body = CareRecordView,
            headers(("ETag" = String, description = "The cancelled version's tag"))),
        (status = 404, description = "No such care record in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already cancelled (`already_cancelled`), or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn cancel_care_record(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CancelInput>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "care record")?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let reason = check_reason(&body.value.reason)?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                service::cancel(conn, &who, &id.to_string(), &reason).map(CareRecordView::from)
            })
        })
        .await?;
    state.wake.notify_one();
    // The new version's ETag in the header too, as every read and change of a record gives it.
    // The reply (new or replayed from the idempotency record) is always a care record: one that
    // does not read back, or names no usable ETag, is an internal error naming it.
    let stored = |why: &dyn std::fmt::Display| {
        Error::stored("care record cancellation reply", &reply.body, why)
    };
    let doc: serde_json::Value = serde_json::from_str(&reply.body).map_err(|e| stored(&e))?;
    let etag = doc["etag"]
        .as_str()
        .ok_or_else(|| stored(&"it has no `etag`"))?;
    let etag = header::HeaderValue::from_str(etag).map_err(|e| stored(&e))?;
    let mut res = reply.respond_to(&req);
    res.headers_mut().insert(header::ETAG, etag);
    Ok(res)
}

/// Get a care record's current version.
#[utoipa::path(get, path = "/v1/care-records/{id}", tag = "care-records",
    params(("id" = String, Path, description = "Care record id")),
    responses(
        (status = 200, description = "The care record", body = CareRecordView,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 404, description = "No such care record in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_care_record(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "care record")?;
    let view = state
        .db
        .read(move |conn| service::get(conn, &Scope::of(&who), &id.to_string()))
        .await?;
    Ok(with_etag(&view.into(), StatusCode::OK))
}

/// Every version of a care record, oldest first.
#[utoipa::path(get, path = "/v1/care-records/{id}/versions", tag = "care-records",
    params(("id" = String, Path, description = "Care record id")),
    responses(
        (status = 200, description = "Its versions, oldest first", body = Vec<CareRecordVersion>),
        (status = 404, description = "No such care record in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn list_care_record_versions(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Vec<CareRecordVersion>>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "care record")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::versions(conn, &Scope::of(&who), &id.to_string()))
            .await?
            .into_iter()
            .map(CareRecordVersion::from)
            .collect(),
    ))
}

/// List care records in your scope (current versions; cancelled ones on request).
#[utoipa::path(get, path = "/v1/care-records", tag = "care-records", params(CareRecordFilter, PageParams),
    responses(
        (status = 200, description = "A page of care records", body = Page<CareRecordView>),
        (status = 400, description = "A query string that cannot be read (e.g. an unknown kind)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad limit or cursor, or kind=consumption", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_care_records(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<CareRecordFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<CareRecordView>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = service::CareRecordFilter::try_from(filter.into_inner())?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &Scope::of(&who), &filter, &page))
            .await?
            .map(CareRecordView::from),
    ))
}
