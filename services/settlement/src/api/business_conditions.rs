//! Business conditions (seed 000) as configuration: one organisation-wide condition set kept as
//! versions. A change sends the whole set with a reason and `If-Match`, is compiled and tried
//! before it is stored (a bad expression is a 422 naming the condition and the error), and makes
//! the next version; settlements computed after it use it. The compiled set is kept in memory
//! per version, so it is compiled once per version and process.
//!
//! What the conditions mean is [`carebill_domain::conditions`]; settlements apply them per line
//! ([`carebill_domain::pricing::compute`]).

use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::Validation;
use carebill_domain::conditions::{CompiledSet, ConditionSet};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::JsonBody;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::service::conditions::{self, ConditionSetRecord};

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

/// One version of the condition set.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConditionSetVersion {
    /// Version, from 1 (0: no conditions were ever saved).
    pub version: i32,
    /// Why this version was made.
    pub reason: Option<String>,
    /// Who made it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: Option<DateTime<Utc>>,
    /// Send as `If-Match` to change the set (also the `ETag` header); `"v0"` before the first.
    #[schema(example = "\"v1\"")]
    pub etag: String,
    /// The conditions of this version, in the order they were given.
    pub conditions: Vec<carebill_domain::conditions::ConditionDefinition>,
    /// Working calendars by location code.
    pub calendars: std::collections::BTreeMap<String, carebill_domain::conditions::Calendar>,
}

impl From<ConditionSetRecord> for ConditionSetVersion {
    fn from(r: ConditionSetRecord) -> Self {
        ConditionSetVersion {
            etag: r.etag(),
            version: r.version,
            reason: r.reason,
            created_by: r.created_by,
            created_at: r.created_at,
            conditions: r.set.conditions,
            calendars: r.set.calendars,
        }
    }
}

/// A new version of the whole set and why.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConditionSetChange {
    /// Why (required; kept with the version).
    #[schema(example = "after-hours surcharge for emergencies from December")]
    pub reason: String,
    /// The conditions, in any order (they apply by priority, then code).
    #[serde(default)]
    pub conditions: Vec<carebill_domain::conditions::ConditionDefinition>,
    /// Working calendars by location code.
    #[serde(default)]
    pub calendars: std::collections::BTreeMap<String, carebill_domain::conditions::Calendar>,
}

fn with_etag(v: &ConditionSetVersion) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("ETag", v.etag.clone()))
        .json(v)
}

/// The condition set in force (its latest version; version 0 and no conditions before the
/// first).
#[utoipa::path(get, path = "/v1/business-conditions", tag = "business conditions",
    responses((status = 200, description = "The current version", body = ConditionSetVersion,
        headers(("ETag" = String, description = "Send as If-Match to change it")))),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_conditions(
    state: web::Data<SettlementState>,
    who: Principal,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let v = state.db.read(conditions::latest).await?;
    Ok(with_etag(&v.into()))
}

/// Replace the condition set: the whole new set with a reason, `If-Match` with the current
/// `ETag` (`"v0"` before the first). Every expression is compiled and tried on a sample line
/// first; sending the current set again changes nothing.
#[utoipa::path(put, path = "/v1/business-conditions", tag = "business conditions", request_body = ConditionSetChange,
    params(("If-Match" = Option<String>, Header, description = "The set's ETag; required (without it: 428)")),
    responses((status = 200, description = "The new version (or the current one, unchanged)", body = ConditionSetVersion,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 412, description = "The set changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A field or an expression is wrong: the error names `conditions.<i>.when` and says where", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn change_conditions(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<ConditionSetChange>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let expected = carebill_platform::http::if_match_value(&req);
    let input = body.value;
    let set = ConditionSet {
        conditions: input.conditions,
        calendars: input.calendars,
    };
    let reason = input.reason;
    let v = state
        .db
        .write(move |conn| conditions::change(conn, &who, expected, &reason, set))
        .await?;
    Ok(with_etag(&v.into()))
}

/// Every version of the condition set, oldest first.
#[utoipa::path(get, path = "/v1/business-conditions/versions", tag = "business conditions",
    responses((status = 200, description = "Its versions", body = Vec<ConditionSetVersion>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_condition_versions(
    state: web::Data<SettlementState>,
    who: Principal,
) -> Result<web::Json<Vec<ConditionSetVersion>>, Error> {
    who.require(READERS)?;
    let versions = state.db.read(conditions::versions).await?;
    Ok(web::Json(
        versions
            .into_iter()
            .map(ConditionSetVersion::from)
            .collect(),
    ))
}

/// A line to try the conditions on: what a consumption would be, without recording one.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryInput {
    /// A draft set to try next to the set in force.
    pub draft: Option<ConditionSet>,
    /// Catalog code.
    #[schema(example = "CONS-GP")]
    pub code: String,
    /// Service group.
    #[schema(example = "CONSULTATIONS")]
    pub service_group: String,
    /// Kind of service (default `procedure`).
    pub kind: Option<String>,
    /// Quantity.
    #[schema(value_type = String, example = "1")]
    pub quantity: rust_decimal::Decimal,
    /// Unit of measure (default `unit`).
    pub unit: Option<String>,
    /// The list price of one unit.
    pub unit_price: carebill_domain::Money,
    /// Local date and time of service at the location.
    #[schema(value_type = String, example = "2026-11-20T22:15:00")]
    pub performed_at: NaiveDateTime,
    /// Location code (its calendar decides after hours and holidays).
    #[schema(example = "H1")]
    pub location_code: String,
    /// Attributes as a clinical system would send them.
    #[serde(default)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// The patient's age (default unknown, -1).
    pub patient_age: Option<i64>,
    /// The patient's beneficiary kind.
    pub beneficiary_kind: Option<String>,
    /// The patient's flags.
    #[serde(default)]
    pub patient_flags: Vec<String>,
    /// The patient's administrative sex (`female`, `male`, `other`, `unknown`).
    pub patient_sex: Option<String>,
    /// Attending practitioner.
    pub attending_practitioner: Option<String>,
    /// Performing practitioner.
    pub performed_by: Option<String>,
    /// Ordering practitioner.
    pub ordering_practitioner: Option<String>,
    /// The first payer (absent: self-pay).
    pub payer_code: Option<String>,
    /// Its plan.
    pub plan_code: Option<String>,
    /// Kind of episode (default `outpatient`).
    pub episode_kind: Option<String>,
}

/// A line a condition would add.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TriedExtraLine {
    /// The condition.
    pub condition: String,
    /// Its code.
    pub code: String,
    /// Its text.
    pub description: String,
    /// Its quantity.
    #[schema(value_type = String)]
    pub quantity: rust_decimal::Decimal,
    /// Its unit price.
    pub unit_price: carebill_domain::Money,
}

/// A condition sending the line to one party.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartyChange {
    /// The condition.
    pub condition: String,
    /// The payer (absent: the patient alone).
    pub payer_code: Option<String>,
}

/// What one condition set does to the line.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TriedOutcome {
    /// The set's version (0: none saved; absent for a draft).
    pub version: Option<i32>,
    /// The conditions that match, in the order they apply.
    pub matched: Vec<String>,
    /// The unit price after any override.
    pub unit_price: Option<carebill_domain::Money>,
    /// The line's amount after every adjustment.
    pub amount: Option<carebill_domain::Money>,
    /// Each step.
    pub adjustments: Vec<carebill_domain::conditions::Adjustment>,
    /// Lines the conditions would add.
    pub extra_lines: Vec<TriedExtraLine>,
    /// The party the line would go to.
    pub party: Option<PartyChange>,
    /// The condition that would leave it out of billing.
    pub excluded_by: Option<String>,
    /// A condition that could not be evaluated on this line.
    pub error: Option<String>,
}

/// The line under the set in force and, when given, under the draft.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TryResult {
    /// Under the set in force.
    pub in_force: TriedOutcome,
    /// Under the draft.
    pub draft: Option<TriedOutcome>,
}

fn outcome(set: Option<&CompiledSet>, version: Option<i32>, input: &TryInput) -> TriedOutcome {
    use carebill_domain::conditions::{FactInputs, LineFacts, apply};
    let facts = LineFacts::of(FactInputs {
        code: &input.code,
        service_group: &input.service_group,
        kind: input.kind.as_deref().unwrap_or("procedure"),
        quantity: input.quantity,
        unit: input.unit.as_deref().unwrap_or("unit"),
        unit_price: Some(input.unit_price),
        attributes: serde_json::Value::Object(input.attributes.clone()),
        local_time: input.performed_at,
        calendar: set.and_then(|s| s.calendar(&input.location_code)),
        age: input.patient_age.unwrap_or(-1),
        beneficiary_kind: input.beneficiary_kind.as_deref().unwrap_or_default(),
        flags: &input.patient_flags,
        sex: input.patient_sex.as_deref().unwrap_or_default(),
        attending: input.attending_practitioner.as_deref(),
        performing: input.performed_by.as_deref(),
        ordering: input.ordering_practitioner.as_deref(),
        payer_code: input.payer_code.as_deref(),
        plan_code: input.plan_code.as_deref(),
        location_code: &input.location_code,
        episode_kind: input.episode_kind.as_deref().unwrap_or("outpatient"),
    });
    let none = TriedOutcome {
        version,
        matched: Vec::new(),
        unit_price: Some(input.unit_price),
        amount: Some(carebill_domain::Money::round(
            input.unit_price.amount() * input.quantity,
            input.unit_price.currency(),
        )),
        adjustments: Vec::new(),
        extra_lines: Vec::new(),
        party: None,
        excluded_by: None,
        error: None,
    };
    let Some(set) = set else { return none };
    match set.matching(&facts, input.performed_at.date()) {
        Err(e) => TriedOutcome {
            error: Some(e.to_string()),
            ..none
        },
        Ok(matching) => {
            let out = apply(&matching, input.quantity, Some(input.unit_price));
            TriedOutcome {
                version,
                matched: matching.iter().map(|c| c.code.clone()).collect(),
                unit_price: out.unit_price,
                amount: out.amount,
                adjustments: out.adjustments,
                extra_lines: out
                    .extra_lines
                    .into_iter()
                    .map(
                        |(condition, code, description, quantity, unit_price)| TriedExtraLine {
                            condition,
                            code,
                            description,
                            quantity,
                            unit_price,
                        },
                    )
                    .collect(),
                party: out.payer.map(|(condition, payer_code)| PartyChange {
                    condition,
                    payer_code,
                }),
                excluded_by: out.excluded_by,
                error: None,
            }
        }
    }
}

/// The administrative sexes accounts records (FHIR AdministrativeGender).
const PATIENT_SEXES: [&str; 4] = ["female", "male", "other", "unknown"];

/// Try the conditions on a line given here (no consumption recorded, nothing stored): what the
/// set in force does to it and, with `draft`, what the draft would do.
#[utoipa::path(post, path = "/v1/business-conditions/try", tag = "business conditions", request_body = TryInput,
    responses((status = 200, description = "What each set does to the line", body = TryResult),
        (status = 422, description = "A bad field, or a draft that does not compile", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn try_conditions(
    state: web::Data<SettlementState>,
    who: Principal,
    body: JsonBody<TryInput>,
) -> Result<web::Json<TryResult>, Error> {
    who.require(READERS)?;
    let body = body.parse()?;
    let input = body.value;
    let mut v = Validation::new();
    v.check("code", "invalid", carebill_domain::Code::parse(&input.code));
    v.check(
        "service_group",
        "invalid",
        carebill_domain::Code::parse(&input.service_group),
    );
    v.check(
        "location_code",
        "invalid",
        carebill_domain::Code::parse(&input.location_code),
    );
    v.check(
        "quantity",
        "invalid",
        carebill_domain::accounts::Quantity::new(input.quantity),
    );
    if let Some(sex) = &input.patient_sex
        && !PATIENT_SEXES.contains(&sex.as_str())
    {
        v.add(
            "patient_sex",
            "invalid",
            format!("one of {}", PATIENT_SEXES.join(", ")),
        );
    }
    if input.unit_price.amount() < rust_decimal::Decimal::ZERO {
        v.add("unit_price.amount", "negative", "must not be negative");
    }
    let draft = match &input.draft {
        None => None,
        Some(set) => match set.compile() {
            Ok(c) => Some(c),
            Err(errors) => {
                for e in errors.errors() {
                    v.add(format!("draft.{}", e.field), &e.code, e.message.clone());
                }
                None
            }
        },
    };
    v.finish().map_err(Error::validation)?;
    let (version, in_force) = state.db.read(conditions::in_force).await?;
    Ok(web::Json(TryResult {
        in_force: outcome(
            in_force.as_ref().map(|(_, s)| s.as_ref()),
            Some(version),
            &input,
        ),
        draft: draft.map(|d| outcome(Some(&d), None, &input)),
    }))
}
