//! Consumptions over HTTP: what was done for a patient (a service performed, a material
//! used), pushed by clinical systems one at a time or in batches of up to 1,000, listed with
//! filters, and voided with a reason.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::{MAX_BATCH, Quantity, ServiceKind, check_performed_at};
use carebill_domain::claim_codes::{Icd10Cm, Modifier};
use carebill_domain::events::ConsumptionClaimFacts;
use carebill_domain::{Code, FieldError, Validation};
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, from_json_value, idempotent,
    idempotent_with_status, parse_id,
};
use carebill_platform::{Error, db};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::AccountsState;
use crate::service::consumptions::{self as service, ItemRecord, NewConsumption, Recorded};

/// Largest serialised `attributes` object.
const MAX_ATTRIBUTES_BYTES: usize = 8 * 1024;

/// Whether a consumption counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsumptionStatus {
    /// Counts for billing.
    Active,
    /// Voided with a reason; kept for the record.
    Voided,
}

/// A consumption as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Consumption {
    /// Id.
    pub id: String,
    /// The episode charged.
    pub episode_id: String,
    /// Its patient.
    pub patient_id: String,
    /// Its location.
    pub location_id: String,
    /// Catalog code.
    #[schema(example = "LAB-HB")]
    pub code: String,
    /// Catalog service group.
    #[schema(example = "LAB")]
    pub service_group: String,
    /// Catalog kind.
    pub kind: ServiceKind,
    /// Quantity, a decimal string.
    #[schema(value_type = String, example = "1")]
    pub quantity: Decimal,
    /// Unit of measure.
    #[schema(example = "test")]
    pub unit: String,
    /// When it was performed.
    pub performed_at: DateTime<Utc>,
    /// Performing practitioner.
    pub performed_by: Option<String>,
    /// Ordering practitioner.
    pub ordering_practitioner: Option<String>,
    /// Attending practitioner.
    pub attending_practitioner: Option<String>,
    /// Pushing system.
    pub source_system: Option<String>,
    /// Its id for this record.
    pub external_id: Option<String>,
    /// Free attributes for rules.
    #[schema(value_type = Object)]
    pub attributes: Value,
    /// ICD-10-CM diagnoses the service was for, most important first (dotted, upper case).
    #[schema(example = json!(["J18.9"]))]
    pub diagnosis_codes: Vec<String>,
    /// Procedure modifiers for this service (after the catalog item's own).
    #[schema(example = json!(["LT"]))]
    pub modifiers: Vec<String>,
    /// Active or voided.
    pub status: ConsumptionStatus,
    /// Why it was voided.
    pub void_reason: Option<String>,
    /// Who voided it.
    pub voided_by: Option<String>,
    /// When.
    pub voided_at: Option<DateTime<Utc>>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

/// What a clinical system sends for one consumption.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumptionInput {
    /// The episode to charge; must be open.
    #[schema(format = Uuid)]
    pub episode_id: String,
    /// Catalog code.
    #[schema(example = "LAB-HB")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// Positive, at most 4 decimals; a string or a number.
    #[schema(schema_with = carebill_platform::http::decimal_input)]
    pub quantity: Decimal,
    /// Unit; if given it must be the catalog item's unit.
    #[schema(example = "test")]
    pub unit: Option<String>,
    /// When it was performed (RFC 3339); not in the future.
    pub performed_at: DateTime<Utc>,
    /// Performing practitioner.
    #[schema(example = "DR-ROSSI")]
    pub performed_by: Option<String>,
    /// Ordering practitioner.
    pub ordering_practitioner: Option<String>,
    /// Attending practitioner; default the episode's.
    pub attending_practitioner: Option<String>,
    /// Pushing system; with `external_id`, makes the push idempotent.
    #[schema(example = "HIS")]
    pub source_system: Option<String>,
    /// The pushing system's id for this record.
    #[schema(example = "ORD-991-1")]
    pub external_id: Option<String>,
    /// Free attributes for rules, a JSON object (at most 8 KiB).
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"urgent": true}))]
    pub attributes: Option<Map<String, Value>>,
    /// ICD-10-CM diagnoses the service was for, most important first (at most 4, with or
    /// without the dot): an electronic claim's line points at them (837P SV107).
    #[serde(default)]
    #[schema(example = json!(["J18.9"]), max_items = 4)]
    pub diagnosis_codes: Vec<String>,
    /// Procedure modifiers for this service, written after the catalog item's own (at most 4,
    /// two letters or digits each).
    #[serde(default)]
    #[schema(example = json!(["LT"]), max_items = 4)]
    pub modifiers: Vec<String>,
}

/// A batch push.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    /// 1 to 1,000 JSON objects, each a `ConsumptionInput`. Each is checked on its own: an
    /// invalid one is rejected in its result and does not stop the others.
    #[schema(value_type = Vec<Object>)]
    #[schema(min_items = 1, max_items = 1000)]
    pub items: Vec<Map<String, Value>>,
}

/// What happened to one batch item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    /// Recorded now.
    Created,
    /// Already recorded with the same content (same source system + external id).
    Duplicate,
    /// Not recorded; see `problem`.
    Rejected,
}

/// The result of one batch item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemResult {
    /// Position in `items`.
    pub index: usize,
    /// Outcome.
    pub outcome: ItemOutcome,
    /// The consumption's id, unless rejected.
    pub id: Option<String>,
    /// The consumption, unless rejected or the request said `Prefer: return=minimal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumption: Option<Consumption>,
    /// Why it was rejected.
    pub problem: Option<Problem>,
}

/// The result of a batch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    /// Items recorded now.
    pub created: usize,
    /// Items already recorded.
    pub duplicates: usize,
    /// Items rejected.
    pub rejected: usize,
    /// One result per item, in order.
    pub results: Vec<ItemResult>,
}

/// A void request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidInput {
    /// Why (required).
    #[schema(example = "charged to the wrong episode")]
    #[schema(pattern = r"\S", max_length = 500)]
    pub reason: String,
}

impl From<service::ConsumptionStatus> for ConsumptionStatus {
    fn from(s: service::ConsumptionStatus) -> Self {
        match s {
            service::ConsumptionStatus::Active => ConsumptionStatus::Active,
            service::ConsumptionStatus::Voided => ConsumptionStatus::Voided,
        }
    }
}

impl From<ConsumptionStatus> for service::ConsumptionStatus {
    fn from(s: ConsumptionStatus) -> Self {
        match s {
            ConsumptionStatus::Active => service::ConsumptionStatus::Active,
            ConsumptionStatus::Voided => service::ConsumptionStatus::Voided,
        }
    }
}

impl From<service::Consumption> for Consumption {
    fn from(c: service::Consumption) -> Self {
        Consumption {
            id: c.id.to_string(),
            episode_id: c.episode_id.to_string(),
            patient_id: c.patient_id.to_string(),
            location_id: c.location_id.to_string(),
            code: c.code,
            service_group: c.service_group,
            kind: c.kind,
            quantity: c.quantity,
            unit: c.unit,
            performed_at: c.performed_at,
            performed_by: c.performed_by,
            ordering_practitioner: c.ordering_practitioner,
            attending_practitioner: c.attending_practitioner,
            source_system: c.source_system,
            external_id: c.external_id,
            attributes: c.attributes,
            diagnosis_codes: c
                .claim
                .as_ref()
                .map(|f| f.diagnosis_codes.clone())
                .unwrap_or_default(),
            modifiers: c.claim.map(|f| f.modifiers).unwrap_or_default(),
            status: c.status.into(),
            void_reason: c.void_reason,
            voided_by: c.voided_by,
            voided_at: c.voided_at,
            recorded_by: c.recorded_by,
            recorded_at: c.recorded_at,
        }
    }
}

impl BatchResult {
    /// One result per answer, in order, with the counts; `minimal`: ids without the
    /// consumptions (`Prefer: return=minimal`).
    fn new(answers: Vec<ItemRecord>, minimal: bool) -> BatchResult {
        let mut out = BatchResult {
            created: 0,
            duplicates: 0,
            rejected: 0,
            results: Vec::with_capacity(answers.len()),
        };
        for (index, r) in answers.into_iter().enumerate() {
            out.results.push(match r {
                Ok((recorded, c)) => {
                    let outcome = match recorded {
                        Recorded::Created => {
                            out.created += 1;
                            ItemOutcome::Created
                        }
                        Recorded::Duplicate => {
                            out.duplicates += 1;
                            ItemOutcome::Duplicate
                        }
                    };
                    ItemResult {
                        index,
                        outcome,
                        id: Some(c.id.to_string()),
                        consumption: (!minimal).then(|| Consumption::from(c)),
                        problem: None,
                    }
                }
                Err(e) => {
                    out.rejected += 1;
                    ItemResult {
                        index,
                        outcome: ItemOutcome::Rejected,
                        id: None,
                        consumption: None,
                        problem: Some(e.problem()),
                    }
                }
            });
        }
        out
    }
}

impl ConsumptionInput {
    /// Validates every field, reporting all problems at once.
    fn validate(self, now: DateTime<Utc>) -> Result<NewConsumption, Vec<FieldError>> {
        let mut v = Validation::new();
        if uuid::Uuid::parse_str(&self.episode_id).is_err() {
            v.add("episode_id", "invalid", "must be an episode id");
        }
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let quantity = v.check("quantity", "invalid", Quantity::new(self.quantity));
        let unit = match self.unit.as_deref() {
            None => None,
            Some(u) => v.check("unit", "invalid", Code::parse(u)),
        };
        v.check(
            "performed_at",
            "out_of_range",
            check_performed_at(self.performed_at, now),
        );
        let performed_by = v.opt_text("performed_by", self.performed_by.as_deref(), 100);
        let ordering = v.opt_text(
            "ordering_practitioner",
            self.ordering_practitioner.as_deref(),
            100,
        );
        let attending = v.opt_text(
            "attending_practitioner",
            self.attending_practitioner.as_deref(),
            100,
        );
        let source_system = match self.source_system.as_deref() {
            None => None,
            Some(s) => v.check("source_system", "invalid", Code::parse(s)),
        };
        let external_id = v.opt_text("external_id", self.external_id.as_deref(), 128);
        if source_system.is_some() != external_id.is_some() {
            v.add(
                "external_id",
                "incomplete",
                "source_system and external_id go together",
            );
        }
        let attributes = self.attributes.unwrap_or_default();
        if serde_json::to_string(&attributes).map_or(0, |s| s.len()) > MAX_ATTRIBUTES_BYTES {
            v.add(
                "attributes",
                "too_large",
                format!("must serialise to at most {MAX_ATTRIBUTES_BYTES} bytes"),
            );
        }
        let claim = ConsumptionClaimFacts {
            diagnosis_codes: super::code_list(
                "diagnosis_codes",
                &self.diagnosis_codes,
                4,
                "diagnosis code",
                Icd10Cm::parse,
                Icd10Cm::as_str,
                &mut v,
            ),
            modifiers: super::code_list(
                "modifiers",
                &self.modifiers,
                4,
                "modifier",
                Modifier::parse,
                Modifier::as_str,
                &mut v,
            ),
        };
        let errors = v.finish();
        match (errors, code, quantity) {
            (Ok(()), Some(code), Some(quantity)) => Ok(NewConsumption {
                episode_id: self.episode_id,
                code,
                quantity,
                unit,
                performed_at: db::truncate_micros(self.performed_at.naive_utc()),
                performed_by,
                ordering_practitioner: ordering,
                attending_practitioner: attending,
                source_system,
                external_id,
                attributes,
                claim: claim.or_none(),
            }),
            (Err(e), _, _) => Err(e),
            _ => Err(vec![FieldError {
                field: "body".into(),
                code: "invalid".into(),
                message: "invalid consumption".into(),
            }]),
        }
    }

    /// Parses and validates one batch item: its own error if it is not a valid consumption.
    fn parse_item(item: Map<String, Value>, now: DateTime<Utc>) -> Result<NewConsumption, Error> {
        let input: ConsumptionInput = from_json_value(Value::Object(item))?;
        input.validate(now).map_err(Error::validation)
    }
}

/// Filters for the consumption list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumptionFilter {
    /// Of this episode.
    pub episode_id: Option<String>,
    /// Of this patient.
    pub patient_id: Option<String>,
    /// At this location.
    pub location_id: Option<String>,
    /// Of this service group.
    pub service_group: Option<String>,
    /// Of this kind.
    pub kind: Option<ServiceKind>,
    /// With this catalog code.
    pub code: Option<String>,
    /// Performed by this practitioner.
    pub performed_by: Option<String>,
    /// Performed at or after (RFC 3339).
    pub performed_from: Option<DateTime<Utc>>,
    /// Performed before (RFC 3339).
    pub performed_to: Option<DateTime<Utc>>,
    /// Active or voided.
    pub status: Option<ConsumptionStatus>,
    /// Pushed by this system.
    pub source_system: Option<String>,
    /// With this external id.
    pub external_id: Option<String>,
}

impl TryFrom<ConsumptionFilter> for service::ConsumptionFilter {
    type Error = Error;
    fn try_from(f: ConsumptionFilter) -> Result<Self, Error> {
        for (field, at) in [
            ("performed_from", f.performed_from),
            ("performed_to", f.performed_to),
        ] {
            if let Some(at) = at {
                carebill_domain::accounts::check_date(at.date_naive())
                    .map_err(|m| Error::field(field, "out_of_range", m))?;
            }
        }
        Ok(service::ConsumptionFilter {
            episode_id: f.episode_id,
            patient_id: f.patient_id,
            location_id: f.location_id,
            service_group: f.service_group,
            kind: f.kind,
            code: f.code,
            performed_by: f.performed_by,
            performed_from: f.performed_from,
            performed_to: f.performed_to,
            status: f.status.map(Into::into),
            source_system: f.source_system,
            external_id: f.external_id,
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

/// Record one consumption.
#[utoipa::path(post, path = "/v1/consumptions", tag = "consumptions", request_body = ConsumptionInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Recorded; emits consumption.recorded", body = Consumption),
        (status = 200, description = "Already recorded with the same source_system, external_id and content", body = Consumption),
        (status = 409, description = "Episode not open; external id or Idempotency-Key reused with other content", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, unknown episode or catalog code", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_consumption(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<ConsumptionInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate(Utc::now()).map_err(Error::validation)?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent_with_status(conn, key.as_ref(), |conn| {
                let (recorded, c) = service::record_one(conn, &who, input)?;
                let status = match recorded {
                    Recorded::Created => StatusCode::CREATED,
                    Recorded::Duplicate => StatusCode::OK,
                };
                Ok((status, Consumption::from(c)))
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Push up to 1,000 consumptions; each item gets its own result.
#[utoipa::path(post, path = "/v1/consumptions/batch", tag = "consumptions", request_body = BatchInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result"),
        ("Prefer" = Option<String>, Header, description = "`return=minimal`: results carry the ids, not the whole consumptions (RFC 7240)")),
    responses(
        (status = 200, description = "One result per item: created, duplicate or rejected with a problem", body = BatchResult),
        (status = 422, description = "No items", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn push_batch(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<BatchInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let minimal = carebill_platform::http::prefers_minimal(&req);
    let items = body.value.items;
    if items.is_empty() {
        return Err(Error::field("items", "required", "at least one item"));
    }
    if items.len() > MAX_BATCH {
        return Err(Error::too_large(format!(
            "a batch holds at most {MAX_BATCH} items, this one has {}",
            items.len()
        )));
    }
    let now = Utc::now();
    let parsed: Vec<Result<NewConsumption, Error>> = items
        .into_iter()
        .map(|v| ConsumptionInput::parse_item(v, now))
        .collect();
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                let results = service::record_many(conn, &who, parsed)?;
                Ok(BatchResult::new(results, minimal))
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Void a consumption with a reason; it stays visible as voided.
#[utoipa::path(post, path = "/v1/consumptions/{id}/void", tag = "consumptions", request_body = VoidInput,
    params(("id" = String, Path, description = "Consumption id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried void return the first result")),
    responses((status = 200, description = "Voided; emits consumption.voided", body = Consumption),
        (status = 404, description = "No such consumption in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already voided", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn void_consumption(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<VoidInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let mut v = Validation::new();
    let reason = v.text("reason", &body.value.reason, 500);
    v.finish().map_err(Error::validation)?;
    let reason = reason.unwrap_or_default();
    let id: uuid::Uuid = parse_id(&id, "consumption")?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                service::void(conn, &who, &id.to_string(), &reason).map(Consumption::from)
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Get a consumption.
#[utoipa::path(get, path = "/v1/consumptions/{id}", tag = "consumptions",
    params(("id" = String, Path, description = "Consumption id")),
    responses((status = 200, description = "The consumption", body = Consumption),
        (status = 404, description = "No such consumption in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_consumption(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Consumption>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "consumption")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &Scope::of(&who), &id.to_string()))
            .await?
            .into(),
    ))
}

/// List consumptions in your scope, with filters.
#[utoipa::path(get, path = "/v1/consumptions", tag = "consumptions", params(ConsumptionFilter, PageParams),
    responses((status = 200, description = "A page of consumptions", body = Page<Consumption>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_consumptions(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<ConsumptionFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Consumption>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = service::ConsumptionFilter::try_from(filter.into_inner())?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &Scope::of(&who), &filter, &page))
            .await?
            .map(Consumption::from),
    ))
}
