//! Coverages: a patient insured by a payer under a policy (member number, plan code), with a
//! priority (1 pays first) and validity dates. Every change emits
//! `carebill.accounts.coverage.changed.v1` carrying all of the patient's coverages.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::{PayerKind, check_validity};
use carebill_domain::events::{CoverageChangedV1, CoverageRef};
use carebill_domain::{Code, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::AnyConnection;
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, parse_id,
};
use carebill_platform::{audit, db};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::common::{emit, unknown_as_field};
use crate::schema::{coverages, payers};
use crate::{patients, payers as payer_resource};

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
}

/// A validated coverage.
#[derive(Debug, Clone)]
pub struct NewCoverage {
    policy_number: String,
    plan_code: Option<Code>,
    input: CoverageInput,
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
        v.finish().map_err(Error::validation)?;
        match policy_number {
            Some(policy_number) => Ok(NewCoverage {
                policy_number,
                plan_code,
                input: self,
            }),
            None => Err(Error::internal(&"validation passed without values")),
        }
    }
}

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = coverages)]
struct Row {
    id: String,
    patient_id: String,
    payer_id: String,
    policy_number: String,
    plan_code: Option<String>,
    priority: i32,
    valid_from: Option<NaiveDate>,
    valid_to: Option<NaiveDate>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl From<Row> for Coverage {
    fn from(r: Row) -> Self {
        Coverage {
            id: r.id,
            patient_id: r.patient_id,
            payer_id: r.payer_id,
            policy_number: r.policy_number,
            plan_code: r.plan_code,
            priority: r.priority,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

fn get(conn: &mut AnyConnection, id: &str) -> Result<Coverage, Error> {
    coverages::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Coverage::from)
        .ok_or_else(|| Error::not_found("coverage"))
}

/// All of a patient's coverages as event consumers see them, by priority.
pub fn refs_for_patient(
    conn: &mut AnyConnection,
    patient_id: &str,
) -> Result<Vec<CoverageRef>, Error> {
    let rows: Vec<Row> = coverages::table
        .filter(coverages::patient_id.eq(patient_id))
        .order((coverages::priority.asc(), coverages::id.asc()))
        .select(Row::as_select())
        .load(conn)?;
    let payer_ids: Vec<String> = rows.iter().map(|r| r.payer_id.clone()).collect();
    let payer_info: HashMap<String, (String, String)> = payers::table
        .filter(payers::id.eq_any(&payer_ids))
        .select((payers::id, payers::code, payers::kind))
        .load::<(String, String, String)>(conn)?
        .into_iter()
        .map(|(id, code, kind)| (id, (code, kind)))
        .collect();
    rows.into_iter()
        .map(|r| {
            let (code, kind) = payer_info.get(&r.payer_id).cloned().unwrap_or_default();
            Ok(CoverageRef {
                id: r.id.parse().map_err(|e| Error::internal(&e))?,
                payer_id: r.payer_id.parse().map_err(|e| Error::internal(&e))?,
                payer_code: code,
                payer_kind: kind.parse().unwrap_or(PayerKind::Other),
                policy_number: r.policy_number,
                plan_code: r.plan_code,
                priority: r.priority,
                valid_from: r.valid_from,
                valid_to: r.valid_to,
            })
        })
        .collect()
}

/// Two coverages of one patient with the same priority must not overlap in time.
fn check_priority_free(
    conn: &mut AnyConnection,
    c: &NewCoverage,
    except: Option<&str>,
) -> Result<(), Error> {
    db::lock_row(conn, "patients", &c.input.patient_id)?;
    let others: Vec<Row> = coverages::table
        .filter(coverages::patient_id.eq(&c.input.patient_id))
        .filter(coverages::priority.eq(c.input.priority))
        .select(Row::as_select())
        .load(conn)?;
    let clash = others
        .iter()
        .filter(|o| Some(o.id.as_str()) != except)
        .find(|o| {
            carebill_domain::accounts::periods_overlap(
                o.valid_from,
                o.valid_to,
                c.input.valid_from,
                c.input.valid_to,
            )
        });
    match clash {
        Some(o) => Err(Error::field(
            "priority",
            "taken",
            format!(
                "coverage {} already has priority {} in an overlapping period",
                o.id, c.input.priority
            ),
        )),
        None => Ok(()),
    }
}

fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    patient_id: &str,
    coverage_id: &str,
    change: &str,
) -> Result<(), Error> {
    let payload = CoverageChangedV1 {
        patient_id: patient_id.parse().map_err(|e| Error::internal(&e))?,
        coverage_id: coverage_id.parse().map_err(|e| Error::internal(&e))?,
        change: change.to_owned(),
        coverages: refs_for_patient(conn, patient_id)?,
        changed_at: Utc::now(),
    };
    emit(conn, who, &payload)
}

fn create(conn: &mut AnyConnection, who: &Principal, c: NewCoverage) -> Result<Coverage, Error> {
    patients::get(conn, &c.input.patient_id)
        .map_err(|e| unknown_as_field(e, "patient_id", "unknown", "no such patient"))?;
    let payer = payer_resource::get(conn, &c.input.payer_id)
        .map_err(|e| unknown_as_field(e, "payer_id", "unknown", "no such payer"))?;
    if !payer.active {
        return Err(Error::field(
            "payer_id",
            "inactive",
            "the payer is inactive",
        ));
    }
    check_priority_free(conn, &c, None)?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    diesel::insert_into(coverages::table)
        .values((
            coverages::id.eq(&id),
            coverages::patient_id.eq(&c.input.patient_id),
            coverages::payer_id.eq(&c.input.payer_id),
            coverages::policy_number.eq(&c.policy_number),
            coverages::plan_code.eq(c.plan_code.as_ref().map(Code::as_str)),
            coverages::priority.eq(c.input.priority),
            coverages::valid_from.eq(c.input.valid_from),
            coverages::valid_to.eq(c.input.valid_to),
            coverages::created_at.eq(now),
            coverages::updated_at.eq(now),
        ))
        .execute(conn)?;
    let created = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "create",
        "coverage",
        &id,
        serde_json::json!({ "after": created }),
        None,
    )?;
    announce(conn, who, &c.input.patient_id, &id, "created")?;
    Ok(created)
}

fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    c: NewCoverage,
) -> Result<Coverage, Error> {
    let before = get(conn, id)?;
    if before.patient_id != c.input.patient_id {
        return Err(Error::field(
            "patient_id",
            "immutable",
            "a coverage's patient cannot change",
        ));
    }
    if before.payer_id != c.input.payer_id {
        return Err(Error::field(
            "payer_id",
            "immutable",
            "a coverage's payer cannot change; end it and create another",
        ));
    }
    check_priority_free(conn, &c, Some(id))?;
    diesel::update(coverages::table.find(id))
        .set((
            coverages::policy_number.eq(&c.policy_number),
            coverages::plan_code.eq(c.plan_code.as_ref().map(Code::as_str)),
            coverages::priority.eq(c.input.priority),
            coverages::valid_from.eq(c.input.valid_from),
            coverages::valid_to.eq(c.input.valid_to),
            coverages::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    let after = get(conn, id)?;
    audit::record(
        conn,
        who,
        "update",
        "coverage",
        id,
        serde_json::json!({ "before": before, "after": after }),
        None,
    )?;
    let change = if after.valid_to.is_some() && after.valid_to != before.valid_to {
        "ended"
    } else {
        "updated"
    };
    announce(conn, who, &after.patient_id, id, change)?;
    Ok(after)
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

fn list(
    conn: &mut AnyConnection,
    f: &CoverageFilter,
    page: &PageRequest,
) -> Result<Page<Coverage>, Error> {
    let mut q = coverages::table.select(Row::as_select()).into_boxed();
    if let Some(p) = &f.patient_id {
        q = q.filter(coverages::patient_id.eq(p.clone()));
    }
    if let Some(p) = &f.payer_id {
        q = q.filter(coverages::payer_id.eq(p.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(coverages::id.gt(after.clone()));
    }
    let rows = q
        .order(coverages::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone()).map(Coverage::from))
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
                create(conn, &who, input)
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
        .write(move |conn| conn.transaction(|conn| replace(conn, &who, &id, input)))
        .await?;
    state.wake.notify_one();
    Ok(web::Json(c))
}

/// Get a coverage.
#[utoipa::path(get, path = "/v1/coverages/{id}", tag = "coverages",
    params(("id" = String, Path, description = "Coverage id")),
    responses((status = 200, description = "The coverage", body = Coverage),
        (status = 404, description = "No such coverage", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
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
            .read(move |conn| get(conn, &id.to_string()))
            .await?,
    ))
}

/// List coverages.
#[utoipa::path(get, path = "/v1/coverages", tag = "coverages", params(CoverageFilter, PageParams),
    responses((status = 200, description = "A page of coverages", body = Page<Coverage>)),
    security(("bearer" = [])))]
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
            .read(move |conn| list(conn, &filter, &page))
            .await?,
    ))
}
