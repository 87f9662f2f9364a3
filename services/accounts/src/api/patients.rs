//! Patients over HTTP (beneficiaries): identifiers, name, birth date, address, contact and the
//! beneficiary kind that invoicing rules select on.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::check_birth_date;
use carebill_domain::{Code, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, object, objects, parse_id,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::api::{Address, Contact, Identifier, validate_identifiers};
use crate::service::StoredIdentifier;
use crate::service::patients::{self as service, NewPatient};

/// Administrative sex, as FHIR's AdministrativeGender.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Unknown.
    Unknown,
}

impl From<Sex> for service::Sex {
    fn from(s: Sex) -> Self {
        match s {
            Sex::Female => service::Sex::Female,
            Sex::Male => service::Sex::Male,
            Sex::Other => service::Sex::Other,
            Sex::Unknown => service::Sex::Unknown,
        }
    }
}

impl From<service::Sex> for Sex {
    fn from(s: service::Sex) -> Self {
        match s {
            service::Sex::Female => Sex::Female,
            service::Sex::Male => Sex::Male,
            service::Sex::Other => Sex::Other,
            service::Sex::Unknown => Sex::Unknown,
        }
    }
}

impl From<service::Patient> for Patient {
    fn from(p: service::Patient) -> Self {
        Patient {
            id: p.id.to_string(),
            identifiers: p.identifiers.into_iter().map(Into::into).collect(),
            family_name: p.family_name,
            given_name: p.given_name,
            birth_date: p.birth_date,
            sex: p.sex.into(),
            beneficiary_kind: p.beneficiary_kind,
            flags: p.flags,
            address: p.address.into(),
            contact: p.contact.into(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A patient as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Patient {
    /// Id.
    pub id: String,
    /// Identifiers (MRN, national id, ...), each unique across patients.
    pub identifiers: Vec<Identifier>,
    /// Family name.
    #[schema(example = "García López")]
    pub family_name: String,
    /// Given name.
    #[schema(example = "Ana")]
    pub given_name: String,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Administrative sex.
    pub sex: Sex,
    /// Beneficiary kind code that invoicing rules select on.
    #[schema(example = "INSURED")]
    pub beneficiary_kind: String,
    /// Flags for business conditions (`chronic`, `low_income`, ...).
    pub flags: Vec<String>,
    /// Address.
    pub address: Address,
    /// Contact.
    pub contact: Contact,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to create or replace a patient.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientInput {
    /// At least one identifier.
    #[serde(deserialize_with = "objects")]
    #[schema(min_items = 1, max_items = 10)]
    pub identifiers: Vec<Identifier>,
    /// Family name.
    #[schema(example = "García López")]
    #[schema(pattern = r"\S", max_length = 100)]
    pub family_name: String,
    /// Given name.
    #[schema(example = "Ana")]
    #[schema(pattern = r"\S", max_length = 100)]
    pub given_name: String,
    /// Birth date (`YYYY-MM-DD`).
    #[schema(example = "1980-04-12")]
    pub birth_date: Option<NaiveDate>,
    /// Default `unknown`.
    pub sex: Option<Sex>,
    /// Beneficiary kind code.
    #[schema(example = "INSURED")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub beneficiary_kind: String,
    /// Flags (codes).
    #[serde(default)]
    pub flags: Vec<String>,
    /// Address.
    #[serde(default, deserialize_with = "object")]
    pub address: Address,
    /// Contact.
    #[serde(default, deserialize_with = "object")]
    pub contact: Contact,
}

impl PatientInput {
    /// Validates every field.
    pub fn validate(self) -> Result<NewPatient, Error> {
        let mut v = Validation::new();
        if self.identifiers.is_empty() {
            v.add("identifiers", "required", "at least one identifier");
        }
        validate_identifiers(&self.identifiers, "identifiers", &mut v);
        let family_name = v.text("family_name", &self.family_name, 100);
        let given_name = v.text("given_name", &self.given_name, 100);
        if let Some(b) = self.birth_date {
            v.check(
                "birth_date",
                "out_of_range",
                check_birth_date(b, Utc::now().date_naive()),
            );
        }
        let beneficiary_kind = v.check(
            "beneficiary_kind",
            "invalid",
            Code::parse(&self.beneficiary_kind),
        );
        if self.flags.len() > 20 {
            v.add("flags", "too_many", "at most 20 flags");
        }
        for (i, f) in self.flags.iter().enumerate() {
            v.check(&format!("flags.{i}"), "invalid", Code::parse(f));
        }
        self.address.validate("address", &mut v);
        self.contact.validate("contact", &mut v);
        v.finish().map_err(Error::validation)?;
        let identifiers = self
            .identifiers
            .iter()
            .map(|i| StoredIdentifier {
                system: i.system.trim().to_owned(),
                value: i.value.trim().to_owned(),
            })
            .collect();
        match (family_name, given_name, beneficiary_kind) {
            (Some(family_name), Some(given_name), Some(beneficiary_kind)) => Ok(NewPatient {
                family_name,
                given_name,
                beneficiary_kind,
                identifiers,
                birth_date: self.birth_date,
                sex: self.sex.unwrap_or(Sex::Unknown).into(),
                flags: self.flags,
                address: self.address.into(),
                contact: self.contact.into(),
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Filters for the patient list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PatientFilter {
    /// Identifier as `system|value`, e.g. `mrn|H1-000123`.
    pub identifier: Option<String>,
    /// Family name (exact).
    pub family_name: Option<String>,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Beneficiary kind code.
    pub beneficiary_kind: Option<String>,
}

impl TryFrom<PatientFilter> for service::PatientFilter {
    type Error = Error;
    fn try_from(f: PatientFilter) -> Result<Self, Error> {
        if let Some(b) = f.birth_date {
            carebill_domain::accounts::check_date(b)
                .map_err(|m| Error::field("birth_date", "out_of_range", m))?;
        }
        let identifier = crate::api::identifier_filter(f.identifier.as_deref())?;
        Ok(service::PatientFilter {
            identifier,
            family_name: f.family_name,
            birth_date: f.birth_date,
            beneficiary_kind: f.beneficiary_kind,
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

/// Register a patient.
#[utoipa::path(post, path = "/v1/patients", tag = "patients", request_body = PatientInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created", body = Patient),
        (status = 409, description = "An identifier belongs to another patient, or Idempotency-Key reused", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_patient(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PatientInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::create(conn, &who, input).map(Patient::from)
            })
        })
        .await
}

/// Replace a patient's details.
#[utoipa::path(put, path = "/v1/patients/{id}", tag = "patients", request_body = PatientInput,
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, description = "Updated", body = Patient),
        (status = 404, description = "No such patient", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "An identifier belongs to another patient", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn replace_patient(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<PatientInput>,
) -> Result<web::Json<Patient>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value.validate()?;
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db
            .write(move |conn| service::replace(conn, &who, &id, input))
            .await?
            .into(),
    ))
}

/// Get a patient.
#[utoipa::path(get, path = "/v1/patients/{id}", tag = "patients",
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, description = "The patient", body = Patient),
        (status = 404, description = "No such patient", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_patient(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Patient>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "patient")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &id.to_string()))
            .await?
            .into(),
    ))
}

/// Find patients.
#[utoipa::path(get, path = "/v1/patients", tag = "patients", params(PatientFilter, PageParams),
    responses((status = 200, description = "A page of patients", body = Page<Patient>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_patients(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<PatientFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Patient>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = service::PatientFilter::try_from(filter.into_inner())?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &filter, &page))
            .await?
            .map(Patient::from),
    ))
}
