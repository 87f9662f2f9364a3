//! Coverages over HTTP: which payer covers a patient, in which order (priority 1 pays first),
//! and for which period.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::check_validity;
use carebill_domain::claim::Relationship;
use carebill_domain::events::CoverageSubscriber;
use carebill_domain::{Code, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::service::coverages::{self as service, NewCoverage};

/// A coverage as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    /// Id.
    pub id: String,
    /// The insured patient.
    pub patient_id: String,
    /// The paying organisation.
    pub payer_id: String,
    /// Policy or member number.
    #[schema(example = "POL-778812")]
    pub policy_number: String,
    /// Plan code, for plan-specific coverage terms.
    #[schema(example = "GOLD")]
    pub plan_code: Option<String>,
    /// 1 pays first, then 2, ...
    #[schema(example = 1)]
    pub priority: i32,
    /// First covered day.
    pub valid_from: Option<NaiveDate>,
    /// Last covered day.
    pub valid_to: Option<NaiveDate>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Who holds the policy when not the patient; absent when the patient does.
    pub subscriber: Option<CoverageSubscriber>,
    /// The group number of an employer's plan.
    pub group_number: Option<String>,
}

/// What a client sends to create a coverage (patient and payer cannot change later).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CoverageInput {
    /// The insured patient.
    #[schema(format = Uuid)]
    pub patient_id: String,
    /// The paying organisation.
    #[schema(format = Uuid)]
    pub payer_id: String,
    /// Policy or member number.
    #[schema(example = "POL-778812")]
    #[schema(pattern = r"\S", max_length = 80)]
    pub policy_number: String,
    /// Plan code.
    #[schema(example = "GOLD")]
    pub plan_code: Option<String>,
    /// 1 to 9; 1 pays first.
    #[schema(example = 1)]
    #[schema(minimum = 1, maximum = 9)]
    pub priority: i32,
    /// First covered day.
    pub valid_from: Option<NaiveDate>,
    /// Last covered day.
    pub valid_to: Option<NaiveDate>,
    /// Who holds the policy, when it is not the patient (what claims name as subscriber).
    pub subscriber: Option<SubscriberInput>,
    /// The group number of an employer's plan (at most 50 characters).
    #[schema(example = "GRP-1")]
    pub group_number: Option<String>,
}

/// Who holds a coverage's policy, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriberInput {
    /// How the patient relates to the holder: `self`, `spouse`, `child`, `employee`,
    /// `life_partner`, `other` or `unknown`.
    pub relationship: Relationship,
    /// The holder's member id, when it is not the coverage's policy number.
    pub member_id: Option<String>,
    /// The holder's family name (required unless `self`).
    pub family_name: Option<String>,
    /// The holder's given name.
    pub given_name: Option<String>,
    /// The holder's birth date (required unless `self`).
    pub birth_date: Option<NaiveDate>,
    /// `female`, `male` or `unknown`.
    pub sex: Option<String>,
    /// The holder's address.
    pub address: Option<crate::api::Address>,
}

impl SubscriberInput {
    fn check(&self, v: &mut Validation) -> Option<CoverageSubscriber> {
        let member_id = v.opt_text("subscriber.member_id", self.member_id.as_deref(), 80);
        let family_name = v.opt_text("subscriber.family_name", self.family_name.as_deref(), 60);
        let given_name = v.opt_text("subscriber.given_name", self.given_name.as_deref(), 35);
        let sex = self.sex.as_deref().map(str::trim).and_then(|s| {
            if matches!(s, "female" | "male" | "unknown") {
                Some(s.to_owned())
            } else {
                v.add("subscriber.sex", "invalid", "female, male or unknown");
                None
            }
        });
        if let Some(b) = self.birth_date
            && let Err(m) = carebill_domain::accounts::check_date(b)
        {
            v.add("subscriber.birth_date", "out_of_range", m);
        }
        if let Some(a) = &self.address {
            a.validate("subscriber.address", v);
        }
        if self.relationship == Relationship::SelfInsured {
            for (field, given) in [
                ("subscriber.family_name", self.family_name.is_some()),
                ("subscriber.given_name", self.given_name.is_some()),
                ("subscriber.birth_date", self.birth_date.is_some()),
                ("subscriber.sex", self.sex.is_some()),
                ("subscriber.address", self.address.is_some()),
            ] {
                if given {
                    v.add(
                        field,
                        "not_allowed",
                        "the patient is the subscriber: their own details count",
                    );
                }
            }
        } else {
            if self
                .family_name
                .as_deref()
                .is_none_or(|f| f.trim().is_empty())
            {
                v.add(
                    "subscriber.family_name",
                    "required",
                    "the subscriber's family name",
                );
            }
            if self.birth_date.is_none() {
                v.add(
                    "subscriber.birth_date",
                    "required",
                    "the subscriber's birth date",
                );
            }
        }
        Some(CoverageSubscriber {
            relationship: self.relationship,
            member_id,
            family_name,
            given_name,
            birth_date: self.birth_date,
            sex,
            address: self
                .address
                .clone()
                .and_then(|a| crate::service::postal_address(&a.into())),
        })
    }
}

impl From<service::Coverage> for Coverage {
    fn from(c: service::Coverage) -> Self {
        Coverage {
            id: c.id.to_string(),
            patient_id: c.patient_id.to_string(),
            payer_id: c.payer_id.to_string(),
            policy_number: c.policy_number,
            plan_code: c.plan_code,
            priority: c.priority,
            valid_from: c.valid_from,
            valid_to: c.valid_to,
            subscriber: c.subscriber,
            group_number: c.group_number,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl CoverageInput {
    /// Validates every field.
    pub fn validate(self) -> Result<NewCoverage, Error> {
        let mut v = Validation::new();
        if uuid::Uuid::parse_str(&self.patient_id).is_err() {
            v.add("patient_id", "invalid", "must be a patient id");
        }
        if uuid::Uuid::parse_str(&self.payer_id).is_err() {
            v.add("payer_id", "invalid", "must be a payer id");
        }
        let policy_number = v.text("policy_number", &self.policy_number, 80);
        let plan_code = match self.plan_code.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(p) => v.check("plan_code", "invalid", Code::parse(p)),
        };
        if !(1..=9).contains(&self.priority) {
            v.add("priority", "out_of_range", "must be between 1 and 9");
        }
        for (field, date) in [("valid_from", self.valid_from), ("valid_to", self.valid_to)] {
            if let Some(d) = date {
                v.check(
                    field,
                    "out_of_range",
                    carebill_domain::accounts::check_date(d),
                );
            }
        }
        v.check(
            "valid_to",
            "invalid",
            check_validity(self.valid_from, self.valid_to),
        );
        let subscriber = self.subscriber.as_ref().and_then(|sub| sub.check(&mut v));
        let group_number = v.opt_text("group_number", self.group_number.as_deref(), 50);
        v.finish().map_err(Error::validation)?;
        match policy_number {
            Some(policy_number) => Ok(NewCoverage {
                patient_id: self.patient_id,
                payer_id: self.payer_id,
                policy_number,
                plan_code,
                priority: self.priority,
                valid_from: self.valid_from,
                valid_to: self.valid_to,
                subscriber,
                group_number,
            }),
            None => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Filters for the coverage list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CoverageFilter {
    /// Coverages of this patient.
    pub patient_id: Option<String>,
    /// Coverages with this payer.
    pub payer_id: Option<String>,
}

impl From<CoverageFilter> for service::CoverageFilter {
    fn from(f: CoverageFilter) -> Self {
        service::CoverageFilter {
            patient_id: f.patient_id,
            payer_id: f.payer_id,
        }
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

/// Add a coverage to a patient.
#[utoipa::path(post, path = "/v1/coverages", tag = "coverages", request_body = CoverageInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created; emits coverage.changed", body = Coverage),
        (status = 409, description = "Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, unknown patient or payer, priority taken", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_coverage(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<CoverageInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::create(conn, &who, input).map(Coverage::from)
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Change a coverage (policy, plan, priority, dates); patient and payer stay.
#[utoipa::path(put, path = "/v1/coverages/{id}", tag = "coverages", request_body = CoverageInput,
    params(("id" = String, Path, description = "Coverage id")),
    responses((status = 200, description = "Updated; emits coverage.changed", body = Coverage),
        (status = 404, description = "No such coverage", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn replace_coverage(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CoverageInput>,
) -> Result<web::Json<Coverage>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value.validate()?;
    let id = id.into_inner();
    let c = state
        .db
        .write(move |conn| service::replace(conn, &who, &id, input))
        .await?;
    state.wake.notify_one();
    Ok(web::Json(c.into()))
}

/// Get a coverage.
#[utoipa::path(get, path = "/v1/coverages/{id}", tag = "coverages",
    params(("id" = String, Path, description = "Coverage id")),
    responses((status = 200, description = "The coverage", body = Coverage),
        (status = 404, description = "No such coverage", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_coverage(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Coverage>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "coverage")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &id.to_string()))
            .await?
            .into(),
    ))
}

/// List coverages.
#[utoipa::path(get, path = "/v1/coverages", tag = "coverages", params(CoverageFilter, PageParams),
    responses((status = 200, description = "A page of coverages", body = Page<Coverage>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_coverages(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<CoverageFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Coverage>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &filter.into(), &page))
            .await?
            .map(Coverage::from),
    ))
}
