//! Settlement management (seed 000): who works on which settlement. Billers are registered with
//! their skills (the locations and payers they bill; none listed: all); a new settlement is
//! assigned automatically to an eligible biller — the least loaded, or in turn (round robin) —
//! unless assignment is switched off; a billing manager reassigns with a reason; the workload
//! view shows, per biller, how many settlements wait at each stage.

use std::collections::BTreeMap;

use actix_web::web;
use carebill_domain::{Code, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, parse_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::service::assignment::{self, BillerRow, Counts, Mode};

const MANAGERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

/// How new settlements are assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentMode {
    /// To the eligible biller with the fewest open settlements (ties: by subject).
    LeastLoaded,
    /// To the eligible billers in turn.
    RoundRobin,
    /// Not automatically: the biller who takes a settlement into review gets it.
    Off,
}

impl From<Mode> for AssignmentMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::LeastLoaded => AssignmentMode::LeastLoaded,
            Mode::RoundRobin => AssignmentMode::RoundRobin,
            Mode::Off => AssignmentMode::Off,
        }
    }
}

impl From<AssignmentMode> for Mode {
    fn from(m: AssignmentMode) -> Self {
        match m {
            AssignmentMode::LeastLoaded => Mode::LeastLoaded,
            AssignmentMode::RoundRobin => Mode::RoundRobin,
            AssignmentMode::Off => Mode::Off,
        }
    }
}

/// The assignment policy.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// How new settlements are assigned (default `least_loaded`).
    pub mode: AssignmentMode,
}

/// A biller and their skills.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Biller {
    /// The token subject the biller signs in with.
    #[schema(example = "lucia")]
    pub subject: String,
    /// Name.
    pub name: String,
    /// Receives new settlements.
    pub active: bool,
    /// Locations billed (codes); empty: all.
    pub locations: Vec<String>,
    /// Payers billed (codes; `SELF` for self-paying patients); empty: all.
    pub payers: Vec<String>,
    /// Open settlements assigned, by status.
    pub open: BTreeMap<String, i64>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a billing manager says about a biller.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillerInput {
    /// Name.
    #[schema(example = "Lucía Pérez")]
    pub name: String,
    /// Receives new settlements (default true).
    #[serde(default = "yes")]
    pub active: bool,
    /// Locations billed (codes); empty: all.
    #[serde(default)]
    pub locations: Vec<String>,
    /// Payers billed (codes; `SELF` for self-paying patients); empty: all.
    #[serde(default)]
    pub payers: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A reassignment.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignInput {
    /// The biller (subject) who takes it over.
    #[schema(example = "marco")]
    pub assigned_to: String,
    /// Why.
    #[schema(example = "Lucía is on holiday")]
    pub reason: String,
}

/// One biller's (or nobody's) open work.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Workload {
    /// The biller (subject); none: unassigned.
    pub assigned_to: Option<String>,
    /// Open settlements by status.
    pub by_status: BTreeMap<String, i64>,
    /// All open settlements.
    pub total: i64,
}

fn biller_view(r: BillerRow, counts: &Counts) -> Result<Biller, Error> {
    let (locations, payers) = r.skills()?;
    let open = counts
        .iter()
        .filter(|(who, _, _)| who.as_deref() == Some(r.subject.as_str()))
        .map(|(_, status, n)| (status.clone(), *n))
        .collect();
    Ok(Biller {
        subject: r.subject,
        name: r.name,
        active: r.active,
        locations,
        payers,
        open,
        updated_at: r.updated_at.and_utc(),
    })
}

fn codes(v: &mut Validation, field: &str, list: &[String]) -> Vec<String> {
    let mut out: Vec<String> = list
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            v.check(&format!("{field}.{i}"), "invalid", Code::parse(c))
                .map(|c| c.to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Register or change a biller (their name, whether they receive new settlements, their
/// location and payer skills).
#[utoipa::path(put, path = "/v1/billers/{subject}", tag = "settlement management", request_body = BillerInput,
    params(("subject" = String, Path, description = "The biller's token subject")),
    responses((status = 200, description = "The biller", body = Biller),
        (status = 422, description = "A bad code", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn put_biller(
    state: web::Data<SettlementState>,
    who: Principal,
    subject: web::Path<String>,
    body: JsonBody<BillerInput>,
) -> Result<web::Json<Biller>, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let subject = subject.into_inner();
    let input = body.value;
    let mut v = Validation::new();
    if subject.trim().is_empty() || subject.len() > 100 || subject.chars().any(char::is_whitespace)
    {
        v.add(
            "subject",
            "invalid",
            "a token subject without spaces, at most 100 characters",
        );
    }
    let name = v.text("name", &input.name, 200);
    let locations = codes(&mut v, "locations", &input.locations);
    let payers = codes(&mut v, "payers", &input.payers);
    v.finish().map_err(Error::validation)?;
    let Some(name) = name else {
        return Err(Error::internal(&"validation passed without a name"));
    };
    let active = input.active;
    let (row, counts) = state
        .db
        .write(move |conn| {
            assignment::put_biller(conn, &who, &subject, &name, active, &locations, &payers)
        })
        .await?;
    Ok(web::Json(biller_view(row, &counts)?))
}

/// The billers with their skills and open work.
#[utoipa::path(get, path = "/v1/billers", tag = "settlement management",
    responses((status = 200, description = "Every biller", body = Vec<Biller>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_billers(
    state: web::Data<SettlementState>,
    who: Principal,
) -> Result<web::Json<Vec<Biller>>, Error> {
    who.require(READERS)?;
    let scope = Scope::of(&who);
    let (rows, counts) = state
        .db
        .read(move |conn| assignment::billers(conn, &scope))
        .await?;
    Ok(web::Json(
        rows.into_iter()
            .map(|r| biller_view(r, &counts))
            .collect::<Result<Vec<_>, Error>>()?,
    ))
}

/// The assignment policy.
#[utoipa::path(get, path = "/v1/settlement-assignment", tag = "settlement management",
    responses((status = 200, description = "The policy", body = Policy)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_policy(
    state: web::Data<SettlementState>,
    who: Principal,
) -> Result<web::Json<Policy>, Error> {
    who.require(READERS)?;
    let mode = state.db.read(assignment::mode).await?;
    Ok(web::Json(Policy { mode: mode.into() }))
}

/// Change how new settlements are assigned.
#[utoipa::path(put, path = "/v1/settlement-assignment", tag = "settlement management", request_body = Policy,
    responses((status = 200, description = "The policy", body = Policy)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn put_policy(
    state: web::Data<SettlementState>,
    who: Principal,
    body: JsonBody<Policy>,
) -> Result<web::Json<Policy>, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let new = body.value.mode;
    state
        .db
        .write(move |conn| assignment::set_mode(conn, &who, new.into()))
        .await?;
    Ok(web::Json(Policy { mode: new }))
}

/// Reassign a settlement to another (active) biller, with a reason.
#[utoipa::path(post, path = "/v1/settlements/{id}/assignment", tag = "settlement management", request_body = ReassignInput,
    params(("id" = String, Path, description = "Settlement id")),
    responses((status = 200, description = "Reassigned", body = Workload),
        (status = 404, description = "No such settlement in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The settlement is no longer open", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an active biller, or no reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn reassign(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<ReassignInput>,
) -> Result<web::Json<Workload>, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let input = body.value;
    let mut v = Validation::new();
    let reason = v.text("reason", &input.reason, 500);
    v.finish().map_err(Error::validation)?;
    let Some(reason) = reason else {
        return Err(Error::internal(&"validation passed without a reason"));
    };
    let to = input.assigned_to;
    let counts = {
        let to = to.clone();
        state
            .db
            .write(move |conn| assignment::reassign(conn, &who, &id.to_string(), &to, &reason))
            .await?
    };
    Ok(web::Json(workload_of(&counts, Some(&to))))
}

fn workload_of(counts: &Counts, who: Option<&str>) -> Workload {
    let mut by_status = BTreeMap::new();
    for (assignee, status, n) in counts {
        if assignee.as_deref() == who {
            by_status.insert(status.clone(), *n);
        }
    }
    Workload {
        assigned_to: who.map(str::to_owned),
        total: by_status.values().sum(),
        by_status,
    }
}

/// Who works on what: open settlements per biller (and unassigned) and status — of the
/// caller's locations when the token is limited to some.
#[utoipa::path(get, path = "/v1/settlement-workload", tag = "settlement management",
    responses((status = 200, description = "Per biller and unassigned", body = Vec<Workload>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn workload(
    state: web::Data<SettlementState>,
    who: Principal,
) -> Result<web::Json<Vec<Workload>>, Error> {
    who.require(READERS)?;
    let scope = Scope::of(&who);
    let counts = state
        .db
        .read(move |conn| assignment::workload(conn, &scope))
        .await?;
    let mut map: BTreeMap<Option<String>, BTreeMap<String, i64>> = BTreeMap::new();
    for (assignee, status, n) in counts {
        map.entry(assignee).or_default().insert(status, n);
    }
    Ok(web::Json(
        map.into_iter()
            .map(|(assigned_to, by_status)| Workload {
                assigned_to,
                total: by_status.values().sum(),
                by_status,
            })
            .collect(),
    ))
}
