//! Patients (beneficiaries): identifiers, name, birth date, address, contact and the
//! beneficiary kind that invoicing rules select on. Patients belong to the organisation, not to
//! one location, so every location's staff can find a returning patient.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::check_birth_date;
use carebill_domain::events::PatientRef;
use carebill_domain::ids::PatientId;
use carebill_domain::{Code, Validation};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::AnyConnection;
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, object, objects,
    parse_id,
};
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{audit, db};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::common::{Address, Contact, Identifier, from_text, to_text, validate_identifiers};
use crate::schema::{patient_identifiers, patients};

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

impl Sex {
    fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
    fn parse(s: &str) -> Sex {
        match s {
            "female" => Sex::Female,
            "male" => Sex::Male,
            "other" => Sex::Other,
            _ => Sex::Unknown,
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

/// A validated patient.
#[derive(Debug, Clone)]
pub struct NewPatient {
    family_name: String,
    given_name: String,
    beneficiary_kind: Code,
    identifiers: Vec<Identifier>,
    input: PatientInput,
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
            .map(|i| Identifier {
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
                input: self,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = patients)]
struct Row {
    id: String,
    family_name: String,
    given_name: String,
    birth_date: Option<NaiveDate>,
    sex: String,
    beneficiary_kind: String,
    flags: String,
    identifiers: String,
    address: String,
    contact: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl From<Row> for Patient {
    fn from(r: Row) -> Self {
        Patient {
            id: r.id,
            identifiers: from_text(&r.identifiers),
            family_name: r.family_name,
            given_name: r.given_name,
            birth_date: r.birth_date,
            sex: Sex::parse(&r.sex),
            beneficiary_kind: r.beneficiary_kind,
            flags: from_text(&r.flags),
            address: from_text(&r.address),
            contact: from_text(&r.contact),
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

impl Patient {
    /// The patient as event consumers see it.
    pub fn to_ref(&self) -> Result<PatientRef, Error> {
        Ok(PatientRef {
            id: self
                .id
                .parse::<PatientId>()
                .map_err(|e| Error::internal(&e))?,
            beneficiary_kind: self.beneficiary_kind.clone(),
            birth_date: self.birth_date,
            flags: self.flags.clone(),
            sex: Some(self.sex.as_str().to_owned()),
        })
    }
}

/// Loads a patient.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Patient, Error> {
    patients::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Patient::from)
        .ok_or_else(|| Error::not_found("patient"))
}

/// Claims the identifiers for `patient_id`, failing with 409 when another patient has one.
fn claim_identifiers(
    conn: &mut AnyConnection,
    patient_id: &str,
    ids: &[Identifier],
) -> Result<(), Error> {
    for id in ids {
        let owner: Option<String> = patient_identifiers::table
            .find((&id.system, &id.value))
            .select(patient_identifiers::patient_id)
            .first(conn)
            .optional()?;
        match owner {
            Some(o) if o == patient_id => {}
            Some(o) => {
                return Err(Error::new(
                    ErrorCode::IdentifierTaken,
                    format!(
                        "identifier {}|{} belongs to patient {o}",
                        id.system, id.value
                    ),
                ));
            }
            None => {
                diesel::insert_into(patient_identifiers::table)
                    .values((
                        patient_identifiers::system.eq(&id.system),
                        patient_identifiers::value.eq(&id.value),
                        patient_identifiers::patient_id.eq(patient_id),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

fn create(conn: &mut AnyConnection, who: &Principal, p: NewPatient) -> Result<Patient, Error> {
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    let i = &p.input;
    diesel::insert_into(patients::table)
        .values((
            patients::id.eq(&id),
            patients::family_name.eq(&p.family_name),
            patients::given_name.eq(&p.given_name),
            patients::birth_date.eq(i.birth_date),
            patients::sex.eq(i.sex.unwrap_or(Sex::Unknown).as_str()),
            patients::beneficiary_kind.eq(p.beneficiary_kind.as_str()),
            patients::flags.eq(to_text(&i.flags)),
            patients::identifiers.eq(to_text(&p.identifiers)),
            patients::address.eq(to_text(&i.address)),
            patients::contact.eq(to_text(&i.contact)),
            patients::created_at.eq(now),
            patients::updated_at.eq(now),
        ))
        .execute(conn)?;
    claim_identifiers(conn, &id, &p.identifiers)?;
    let created = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "create",
        "patient",
        &id,
        serde_json::json!({ "after": created }),
        None,
    )?;
    Ok(created)
}

fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    p: NewPatient,
) -> Result<Patient, Error> {
    let before = get(conn, id)?;
    let i = &p.input;
    diesel::delete(patient_identifiers::table.filter(patient_identifiers::patient_id.eq(id)))
        .execute(conn)?;
    claim_identifiers(conn, id, &p.identifiers)?;
    diesel::update(patients::table.find(id))
        .set((
            patients::family_name.eq(&p.family_name),
            patients::given_name.eq(&p.given_name),
            patients::birth_date.eq(i.birth_date),
            patients::sex.eq(i.sex.unwrap_or(Sex::Unknown).as_str()),
            patients::beneficiary_kind.eq(p.beneficiary_kind.as_str()),
            patients::flags.eq(to_text(&i.flags)),
            patients::identifiers.eq(to_text(&p.identifiers)),
            patients::address.eq(to_text(&i.address)),
            patients::contact.eq(to_text(&i.contact)),
            patients::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    let after = get(conn, id)?;
    audit::record(
        conn,
        who,
        "update",
        "patient",
        id,
        serde_json::json!({ "before": before, "after": after }),
        None,
    )?;
    Ok(after)
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

fn list(
    conn: &mut AnyConnection,
    f: &PatientFilter,
    page: &PageRequest,
) -> Result<Page<Patient>, Error> {
    if let Some(b) = f.birth_date {
        carebill_domain::accounts::check_date(b)
            .map_err(|m| Error::field("birth_date", "out_of_range", m))?;
    }
    let mut q = patients::table.select(Row::as_select()).into_boxed();
    if let Some(ident) = &f.identifier {
        let (system, value) = ident
            .split_once('|')
            .ok_or_else(|| Error::field("identifier", "invalid", "use system|value"))?;
        let owner: Vec<String> = patient_identifiers::table
            .filter(patient_identifiers::system.eq(system))
            .filter(patient_identifiers::value.eq(value))
            .select(patient_identifiers::patient_id)
            .load(conn)?;
        q = q.filter(patients::id.eq_any(owner));
    }
    if let Some(n) = &f.family_name {
        q = q.filter(patients::family_name.eq(n.clone()));
    }
    if let Some(b) = f.birth_date {
        q = q.filter(patients::birth_date.eq(b));
    }
    if let Some(k) = &f.beneficiary_kind {
        q = q.filter(patients::beneficiary_kind.eq(k.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(patients::id.gt(after.clone()));
    }
    let rows = q
        .order(patients::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone()).map(Patient::from))
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
                create(conn, &who, input)
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
            .write(move |conn| conn.transaction(|conn| replace(conn, &who, &id, input)))
            .await?,
    ))
}

/// Get a patient.
#[utoipa::path(get, path = "/v1/patients/{id}", tag = "patients",
    params(("id" = String, Path, description = "Patient id")),
    responses((status = 200, description = "The patient", body = Patient),
        (status = 404, description = "No such patient", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
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
            .read(move |conn| get(conn, &id.to_string()))
            .await?,
    ))
}

/// Find patients.
#[utoipa::path(get, path = "/v1/patients", tag = "patients", params(PatientFilter, PageParams),
    responses((status = 200, description = "A page of patients", body = Page<Patient>)),
    security(("bearer" = [])))]
pub async fn list_patients(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<PatientFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Patient>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| list(conn, &filter, &page))
            .await?,
    ))
}
