//! Practitioners over HTTP: the registry of who performs, orders or attends care, with the
//! identifiers claims name them by.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::claim_codes::Taxonomy;
use carebill_domain::events::{PractitionerIdentifier, PractitionerKind};
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
use crate::api::{Identifier, check_npi, identifier_filter, validate_identifiers};
use crate::service::practitioners::{self as service, NewPractitioner};

/// A practitioner as the API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Practitioner {
    /// Id.
    pub id: String,
    /// Unique code; consumptions and episodes may name the practitioner by it.
    #[schema(example = "DR-ROSSI")]
    pub code: String,
    /// Person or organisation.
    pub kind: PractitionerKind,
    /// Family name, or the organisation's name.
    #[schema(example = "Rossi")]
    pub family_name: String,
    /// Given name.
    #[schema(example = "Marco")]
    pub given_name: Option<String>,
    /// Middle name or initial.
    pub middle_name: Option<String>,
    /// Suffix, e.g. `Jr`.
    pub suffix: Option<String>,
    /// Credentials, e.g. `MD`.
    #[schema(example = "MD")]
    pub credentials: Option<String>,
    /// National Provider Identifier.
    #[schema(example = "1234567893")]
    pub npi: Option<String>,
    /// Health care provider taxonomy code.
    #[schema(example = "207Q00000X")]
    pub taxonomy: Option<String>,
    /// Specialty in words.
    #[schema(example = "Family medicine")]
    pub specialty: Option<String>,
    /// First day they may be named on care.
    pub active_from: Option<NaiveDate>,
    /// Last day they may be named on care.
    pub active_to: Option<NaiveDate>,
    /// Other identifiers (`his`: the code the clinical system uses on consumptions).
    pub identifiers: Vec<PractitionerIdentifier>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<service::Practitioner> for Practitioner {
    fn from(p: service::Practitioner) -> Self {
        let r = p.practitioner;
        Practitioner {
            id: r.id.to_string(),
            code: r.code,
            kind: r.kind,
            family_name: r.family_name,
            given_name: r.given_name,
            middle_name: r.middle_name,
            suffix: r.suffix,
            credentials: r.credentials,
            npi: r.npi,
            taxonomy: r.taxonomy,
            specialty: r.specialty,
            active_from: r.active_from,
            active_to: r.active_to,
            identifiers: r.identifiers,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// What a client sends to register or replace a practitioner.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PractitionerInput {
    /// Unique code; cannot change later.
    #[schema(example = "DR-ROSSI")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// `person` (the default) or `organization`.
    pub kind: Option<PractitionerKind>,
    /// Family name, or the organisation's name (claims carry 60 characters).
    #[schema(example = "Rossi")]
    #[schema(pattern = r"\S", max_length = 60)]
    pub family_name: String,
    /// Given name (persons; at most 35 characters).
    #[schema(example = "Marco")]
    pub given_name: Option<String>,
    /// Middle name or initial (persons; at most 25).
    pub middle_name: Option<String>,
    /// Suffix, e.g. `Jr` (persons; at most 10).
    pub suffix: Option<String>,
    /// Credentials, e.g. `MD` (persons; at most 20).
    #[schema(example = "MD")]
    pub credentials: Option<String>,
    /// National Provider Identifier: 10 digits, the last a check digit.
    #[schema(example = "1234567893")]
    pub npi: Option<String>,
    /// Health care provider taxonomy code (ten characters ending in `X`).
    #[schema(example = "207Q00000X")]
    pub taxonomy: Option<String>,
    /// Specialty in words.
    #[schema(example = "Family medicine")]
    pub specialty: Option<String>,
    /// First day they may be named on care.
    pub active_from: Option<NaiveDate>,
    /// Last day they may be named on care (not before `active_from`).
    pub active_to: Option<NaiveDate>,
    /// Other identifiers, one per system (at most 10), each unique across practitioners.
    #[serde(default)]
    pub identifiers: Vec<Identifier>,
}

impl PractitionerInput {
    /// Validates every field.
    pub fn validate(self) -> Result<NewPractitioner, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let kind = self.kind.unwrap_or(PractitionerKind::Person);
        let family_name = v.text("family_name", &self.family_name, 60);
        let person_only = [
            ("given_name", &self.given_name, 35),
            ("middle_name", &self.middle_name, 25),
            ("suffix", &self.suffix, 10),
            ("credentials", &self.credentials, 20),
        ];
        let mut person = Vec::with_capacity(person_only.len());
        for (field, value, max) in person_only {
            if kind == PractitionerKind::Organization && value.is_some() {
                v.add(field, "not_allowed", "an organisation has only a name");
            }
            person.push(v.opt_text(field, value.as_deref(), max));
        }
        let npi = check_npi("npi", self.npi.as_deref(), &mut v);
        let taxonomy = self
            .taxonomy
            .as_deref()
            .and_then(|t| v.check("taxonomy", "invalid", Taxonomy::parse(t)));
        let specialty = v.opt_text("specialty", self.specialty.as_deref(), 100);
        for (field, day) in [
            ("active_from", self.active_from),
            ("active_to", self.active_to),
        ] {
            if let Some(d) = day
                && let Err(m) = carebill_domain::accounts::check_date(d)
            {
                v.add(field, "out_of_range", m);
            }
        }
        if let (Some(from), Some(to)) = (self.active_from, self.active_to)
            && to < from
        {
            v.add(
                "active_to",
                "before_start",
                "must not be before active_from",
            );
        }
        validate_identifiers(&self.identifiers, "identifiers", &mut v);
        v.finish().map_err(Error::validation)?;
        let [given_name, middle_name, suffix, credentials]: [Option<String>; 4] = person
            .try_into()
            .map_err(|_| Error::internal(&"four person-only fields"))?;
        match (code, family_name) {
            (Some(code), Some(family_name)) => Ok(NewPractitioner {
                code,
                kind,
                family_name,
                given_name,
                middle_name,
                suffix,
                credentials,
                npi,
                taxonomy,
                specialty,
                active_from: self.active_from,
                active_to: self.active_to,
                identifiers: self.identifiers.into_iter().map(Into::into).collect(),
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Filters for the practitioner list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PractitionerFilter {
    /// Only the practitioner with this code.
    pub code: Option<String>,
    /// Only the practitioner with this NPI.
    pub npi: Option<String>,
    /// Identifier as `system|value`, e.g. `his|DR-ROSSI`.
    pub identifier: Option<String>,
    /// Only practitioners active on this day.
    pub active_on: Option<NaiveDate>,
}

impl TryFrom<PractitionerFilter> for service::PractitionerFilter {
    type Error = Error;
    fn try_from(f: PractitionerFilter) -> Result<Self, Error> {
        let identifier = identifier_filter(f.identifier.as_deref())?;
        if let Some(d) = f.active_on {
            carebill_domain::accounts::check_date(d)
                .map_err(|m| Error::field("active_on", "out_of_range", m))?;
        }
        Ok(service::PractitionerFilter {
            code: f.code.map(|c| c.trim().to_owned()),
            npi: f
                .npi
                .map(|n| n.chars().filter(|c| !c.is_whitespace()).collect()),
            identifier,
            active_on: f.active_on,
        })
    }
}

const WRITERS: &[Role] = &[Role::BillingManager, Role::Integration];
const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Integration,
];

/// Register a practitioner.
#[utoipa::path(post, path = "/v1/practitioners", tag = "practitioners", request_body = PractitionerInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created", body = Practitioner),
        (status = 409, description = "Code, NPI or an identifier taken, or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (an NPI whose check digit fails: code `check_digit`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_practitioner(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PractitionerInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::create(conn, &who, input).map(Practitioner::from)
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Replace a practitioner's details (the code cannot change).
#[utoipa::path(put, path = "/v1/practitioners/{id}", tag = "practitioners", request_body = PractitionerInput,
    params(("id" = String, Path, description = "Practitioner id")),
    responses((status = 200, description = "Updated", body = Practitioner),
        (status = 404, description = "No such practitioner", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "NPI or an identifier taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, or a changed code", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn replace_practitioner(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<PractitionerInput>,
) -> Result<web::Json<Practitioner>, Error> {
    who.require(WRITERS)?;
    let id: uuid::Uuid = parse_id(&id, "practitioner")?;
    let input = body.parse()?.value.validate()?;
    let replaced = state
        .db
        .write(move |conn| service::replace(conn, &who, &id.to_string(), input))
        .await?;
    state.wake.notify_one();
    Ok(web::Json(replaced.into()))
}

/// Get a practitioner.
#[utoipa::path(get, path = "/v1/practitioners/{id}", tag = "practitioners",
    params(("id" = String, Path, description = "Practitioner id")),
    responses((status = 200, description = "The practitioner", body = Practitioner),
        (status = 404, description = "No such practitioner", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_practitioner(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Practitioner>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "practitioner")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &id.to_string()))
            .await?
            .into(),
    ))
}

/// List practitioners.
#[utoipa::path(get, path = "/v1/practitioners", tag = "practitioners", params(PractitionerFilter, PageParams),
    responses((status = 200, description = "A page of practitioners", body = Page<Practitioner>),
        (status = 422, description = "A malformed filter", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_practitioners(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<PractitionerFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Practitioner>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let f = service::PractitionerFilter::try_from(filter.into_inner())?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &f, &page))
            .await?
            .map(Practitioner::from),
    ))
}
