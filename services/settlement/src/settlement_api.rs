//! Settlements over HTTP: read them (current, any version, the difference between two), take
//! them through review and medical audit, correct lines, recompute after a configuration fix.
//! Changes need `If-Match` with the settlement's `ETag`, so nobody approves what they did not see.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::events::PartyRef;
use carebill_domain::settlement::SettlementStatus;
use carebill_domain::{Currency, MinorUnits, Money, Validation};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, Page, PageParams, PageRequest, parse_id};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::api::lines::{SettlementLine, shown};
use crate::schema::{
    settlement_inputs, settlement_observations, settlement_status_changes, settlement_versions,
    settlements as table,
};
use crate::service::settlements;
use crate::store::settlements::{self as store, Cause, Row};
use crate::store::unreadable;
use carebill_domain::pricing::PricedLine;
use carebill_domain::stored::parse;

const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];
const BILLERS: &[Role] = &[Role::BillingManager, Role::Biller];

/// A party's total in a settlement version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartyTotal {
    /// The party.
    pub party: PartyRef,
    /// What it pays in total.
    pub amount: Money,
}

/// An observation of medical audit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Observation {
    /// Id.
    pub id: String,
    /// The version observed.
    pub version: i32,
    /// The line observed; absent for the settlement as a whole.
    pub consumption_id: Option<String>,
    /// What the auditor asks.
    pub text: String,
    /// The auditor.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The version that corrected the observed line, once a biller did.
    pub resolved_version: Option<i32>,
}

/// A status change.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusChange {
    /// From.
    pub from: SettlementStatus,
    /// To.
    pub to: SettlementStatus,
    /// The version at the time.
    pub version: i32,
    /// Why.
    pub reason: Option<String>,
    /// Who (`system` for changes made by events).
    pub changed_by: String,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// A settlement in lists.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettlementSummary {
    /// Id.
    pub id: String,
    /// Number: location code / episode number / sequence.
    #[schema(example = "H1/ENC-1001/1")]
    pub number: String,
    /// `regular`, `supplementary` for late consumptions after invoicing, or `periodic` for a
    /// beneficiary's lines of a committed billing run.
    pub kind: String,
    /// The settlement a supplementary one follows.
    pub parent_id: Option<String>,
    /// The billing run a periodic settlement bills.
    pub billing_run_id: Option<String>,
    /// Workflow status.
    pub status: SettlementStatus,
    /// Current version.
    pub version: i32,
    /// The episode.
    pub episode_id: String,
    /// Its number.
    pub episode_number: String,
    /// The location (code).
    pub location_code: String,
    /// The patient.
    pub patient_id: String,
    /// Sum of the billable lines; absent while nothing is priced.
    pub total: Option<Money>,
    /// Lines.
    pub line_count: i32,
    /// Lines with problems that block approval.
    pub issue_count: i32,
    /// Consumptions voided after approval: they stay billed until the invoice is credited
    /// with a reissue.
    pub pending_voids: i32,
    /// The version audit approved last.
    pub approved_version: Option<i32>,
    /// The highest version invoiced.
    pub invoiced_version: Option<i32>,
    /// The biller working on it.
    pub assigned_to: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A settlement with its current lines, party totals, observations and status history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettlementDoc {
    /// The header.
    #[serde(flatten)]
    pub summary: SettlementSummary,
    /// The `ETag` (also in the header): send it as `If-Match` to change the settlement.
    #[schema(example = "\"r7\"")]
    pub etag: String,
    /// What each party pays.
    pub parties: Vec<PartyTotal>,
    /// The lines of the current version.
    pub lines: Vec<SettlementLine>,
    /// Medical audit's observations.
    pub observations: Vec<Observation>,
    /// Status changes, oldest first.
    pub status_history: Vec<StatusChange>,
}

/// A version of a settlement.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionInfo {
    /// Number, from 1.
    pub version: i32,
    /// What made it: `consumption_recorded`, `consumption_voided`, `coverage_changed`,
    /// `recomputed`, `line_corrected`, `reopened_after_credit`.
    pub cause: String,
    /// Why (for people's changes).
    pub reason: Option<String>,
    /// Who (`system` for events).
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Total of its billable lines.
    pub total: Option<Money>,
    /// Lines.
    pub line_count: i32,
    /// Lines with problems.
    pub issue_count: i32,
}

/// A version with its lines.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionDoc {
    /// The version.
    #[serde(flatten)]
    pub info: VersionInfo,
    /// What each party pays in it.
    pub parties: Vec<PartyTotal>,
    /// Its lines.
    pub lines: Vec<SettlementLine>,
}

/// A changed line between two versions.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineChange {
    /// The line.
    pub consumption_id: String,
    /// Before.
    pub before: SettlementLine,
    /// After.
    pub after: SettlementLine,
}

/// What changed from one version to another.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VersionDiff {
    /// The older version.
    pub from: i32,
    /// The newer version.
    pub to: i32,
    /// Lines only in `to`.
    pub added: Vec<SettlementLine>,
    /// Lines only in `from`.
    pub removed: Vec<SettlementLine>,
    /// Lines in both that differ.
    pub changed: Vec<LineChange>,
    /// Total of `from`.
    pub total_before: Option<Money>,
    /// Total of `to`.
    pub total_after: Option<Money>,
}

/// An amount stored in minor units with its currency (none: nothing priced yet).
fn money(minor: i64, currency: Option<&str>) -> Result<Option<Money>, Error> {
    currency
        .map(|c| {
            Currency::parse(c)
                .map(|c| Money::from_minor(MinorUnits(minor), c))
                .map_err(|e| Error::stored("settlement currency", c, e))
        })
        .transpose()
}

fn summary(r: &Row) -> Result<SettlementSummary, Error> {
    let episode_number = r.episode()?.number;
    Ok(SettlementSummary {
        id: r.id.clone(),
        number: r.number.clone(),
        kind: r.kind.as_str().to_owned(),
        parent_id: r.parent_id.clone(),
        billing_run_id: r.billing_run_id.clone(),
        status: r.status(),
        version: r.version,
        episode_id: r.episode_id.clone(),
        episode_number,
        location_code: r.location_code.clone(),
        patient_id: r.patient_id.clone(),
        total: money(r.total_minor, r.currency.as_deref())?,
        line_count: r.line_count,
        issue_count: r.issue_count,
        pending_voids: r.pending_voids,
        approved_version: r.approved_version,
        invoiced_version: r.invoiced_version,
        assigned_to: r.assigned_to.clone(),
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
    })
}

/// Each party's total over `lines` (payers in order of appearance, the patient last).
pub fn party_totals(lines: &[PricedLine]) -> Vec<PartyTotal> {
    let mut order: Vec<PartyRef> = Vec::new();
    let mut sums: BTreeMap<String, Money> = BTreeMap::new();
    for s in lines.iter().flat_map(|l| &l.shares) {
        let key = s.party.key();
        match sums.get_mut(&key) {
            Some(sum) => {
                if let Ok(total) = sum.checked_add(&s.amount) {
                    *sum = total;
                }
            }
            None => {
                sums.insert(key, s.amount);
                order.push(s.party.clone());
            }
        }
    }
    order.sort_by_key(|p| p.kind == carebill_domain::events::PartyKind::Patient);
    order
        .into_iter()
        .filter_map(|party| {
            sums.get(&party.key()).map(|amount| PartyTotal {
                party: party.clone(),
                amount: *amount,
            })
        })
        .collect()
}

/// 404 unless the caller may see the settlement.
fn visible(who: &Principal, row: Option<Row>) -> Result<Row, Error> {
    row.filter(|r| who.sees_location(&r.location_code))
        .ok_or_else(|| Error::not_found("settlement"))
}

fn document(conn: &mut AnyConnection, row: Row) -> Result<SettlementDoc, Error> {
    let lines = store::lines_at(conn, &row.id, row.version)?;
    type ObsRow = (
        String,
        i32,
        Option<String>,
        String,
        String,
        chrono::NaiveDateTime,
        Option<i32>,
    );
    let observations: Vec<ObsRow> = settlement_observations::table
        .filter(settlement_observations::settlement_id.eq(&row.id))
        .order(settlement_observations::id.asc())
        .select((
            settlement_observations::id,
            settlement_observations::version,
            settlement_observations::consumption_id,
            settlement_observations::text,
            settlement_observations::created_by,
            settlement_observations::created_at,
            settlement_observations::resolved_version,
        ))
        .load(conn)?;
    type ChangeRow = (
        String,
        String,
        i32,
        Option<String>,
        String,
        chrono::NaiveDateTime,
    );
    let changes: Vec<ChangeRow> = settlement_status_changes::table
        .filter(settlement_status_changes::settlement_id.eq(&row.id))
        .order(settlement_status_changes::id.asc())
        .select((
            settlement_status_changes::from_status,
            settlement_status_changes::to_status,
            settlement_status_changes::version,
            settlement_status_changes::reason,
            settlement_status_changes::changed_by,
            settlement_status_changes::changed_at,
        ))
        .load(conn)?;
    Ok(SettlementDoc {
        etag: row.etag(),
        summary: summary(&row)?,
        parties: party_totals(&lines),
        lines: shown(lines),
        observations: observations
            .into_iter()
            .map(|o| Observation {
                id: o.0,
                version: o.1,
                consumption_id: o.2,
                text: o.3,
                created_by: o.4,
                created_at: o.5.and_utc(),
                resolved_version: o.6,
            })
            .collect(),
        status_history: changes
            .into_iter()
            .map(|c| {
                Ok(StatusChange {
                    from: parse("settlement status", &c.0).map_err(unreadable)?,
                    to: parse("settlement status", &c.1).map_err(unreadable)?,
                    version: c.2,
                    reason: c.3,
                    changed_by: c.4,
                    changed_at: c.5.and_utc(),
                })
            })
            .collect::<Result<_, Error>>()?,
    })
}

fn with_etag(doc: &SettlementDoc, etag: &str, status: StatusCode) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", etag.to_owned()))
        .json(doc)
}

/// The `If-Match` the caller sent: required for every change.
fn if_match(req: &HttpRequest) -> Result<String, Error> {
    carebill_platform::http::if_match_value(req).ok_or_else(|| {
        carebill_platform::http::precondition_required(
            "of the settlement (from GET /v1/settlements/{id})",
        )
    })
}

fn check_etag(row: &Row, expected: &str) -> Result<(), Error> {
    if carebill_platform::http::if_match_admits(expected, &row.etag()) {
        Ok(())
    } else {
        Err(carebill_platform::http::precondition_failed(format!(
            "the settlement changed (ETag is now {}); read it again before changing it",
            row.etag()
        )))
    }
}

/// Filters for the settlement list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SettlementFilter {
    /// Workflow status.
    pub status: Option<SettlementStatus>,
    /// Episode id.
    pub episode_id: Option<uuid::Uuid>,
    /// Patient id.
    pub patient_id: Option<uuid::Uuid>,
    /// Location code.
    pub location_code: Option<String>,
    /// `true`: only settlements with lines that block approval.
    pub has_issues: Option<bool>,
    /// Assigned biller (subject).
    pub assigned_to: Option<String>,
    /// The periodic settlements a committed billing run made.
    pub billing_run_id: Option<uuid::Uuid>,
}

fn list(
    conn: &mut AnyConnection,
    who: &Principal,
    f: &SettlementFilter,
    page: &PageRequest,
) -> Result<Page<SettlementSummary>, Error> {
    let mut q = table::table.select(Row::as_select()).into_boxed();
    if let Some(s) = f.status {
        q = q.filter(table::status.eq(s.as_str()));
    }
    if let Some(e) = f.episode_id {
        q = q.filter(table::episode_id.eq(e.to_string()));
    }
    if let Some(p) = f.patient_id {
        q = q.filter(table::patient_id.eq(p.to_string()));
    }
    if let Some(r) = f.billing_run_id {
        q = q.filter(table::billing_run_id.eq(r.to_string()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(table::location_code.eq(l.clone()));
    }
    if let Some(scope) = &who.locations {
        q = q.filter(table::location_code.eq_any(scope.clone()));
    }
    match f.has_issues {
        Some(true) => q = q.filter(table::issue_count.gt(0)),
        Some(false) => q = q.filter(table::issue_count.eq(0)),
        None => {}
    }
    if let Some(a) = &f.assigned_to {
        q = q.filter(table::assigned_to.eq(a.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(table::id.gt(after.clone()));
    }
    let rows = q
        .order(table::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    let summaries = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(summaries, page, |s| s.id.clone()))
}

/// List settlements.
#[utoipa::path(get, path = "/v1/settlements", tag = "settlements", params(SettlementFilter, PageParams),
    responses((status = 200, description = "A page of settlements", body = Page<SettlementSummary>)),
    security(("bearer" = [])))]
pub async fn list_settlements(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<SettlementFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<SettlementSummary>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| list(conn, &who, &filter, &page))
            .await?,
    ))
}

/// Get a settlement: its current lines with shares and reasons, party totals, observations
/// and status history. The `ETag` header is what changes must send as `If-Match`.
#[utoipa::path(get, path = "/v1/settlements/{id}", tag = "settlements",
    params(("id" = String, Path, description = "Settlement id")),
    responses((status = 200, description = "The settlement", body = SettlementDoc,
        headers(("ETag" = String, description = "Send as If-Match to change it")))),
    security(("bearer" = [])))]
pub async fn get_settlement(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let (doc, etag) = state
        .db
        .read(move |conn| {
            let row = visible(&who, store::find(conn, &id.to_string())?)?;
            let etag = row.etag();
            Ok((document(conn, row)?, etag))
        })
        .await?;
    Ok(with_etag(&doc, &etag, StatusCode::OK))
}

fn version_info(
    conn: &mut AnyConnection,
    id: &str,
    only: Option<i32>,
) -> Result<Vec<VersionInfo>, Error> {
    type VRow = (
        i32,
        String,
        Option<String>,
        String,
        chrono::NaiveDateTime,
        Option<String>,
        i64,
        i32,
        i32,
    );
    let mut q = settlement_versions::table
        .filter(settlement_versions::settlement_id.eq(id))
        .into_boxed();
    if let Some(v) = only {
        q = q.filter(settlement_versions::version.eq(v));
    }
    let rows: Vec<VRow> = q
        .order(settlement_versions::version.asc())
        .select((
            settlement_versions::version,
            settlement_versions::cause,
            settlement_versions::reason,
            settlement_versions::created_by,
            settlement_versions::created_at,
            settlement_versions::currency,
            settlement_versions::total_minor,
            settlement_versions::line_count,
            settlement_versions::issue_count,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|r| {
            Ok(VersionInfo {
                version: r.0,
                cause: r.1,
                reason: r.2,
                created_by: r.3,
                created_at: r.4.and_utc(),
                total: money(r.6, r.5.as_deref())?,
                line_count: r.7,
                issue_count: r.8,
            })
        })
        .collect()
}

/// List a settlement's versions, oldest first.
#[utoipa::path(get, path = "/v1/settlements/{id}/versions", tag = "settlements",
    params(("id" = String, Path, description = "Settlement id")),
    responses((status = 200, description = "Its versions", body = Vec<VersionInfo>)),
    security(("bearer" = [])))]
pub async fn list_versions(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Vec<VersionInfo>>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| {
                let row = visible(&who, store::find(conn, &id.to_string())?)?;
                version_info(conn, &row.id, None)
            })
            .await?,
    ))
}

fn version_doc(conn: &mut AnyConnection, row: &Row, version: i32) -> Result<VersionDoc, Error> {
    let info = version_info(conn, &row.id, Some(version))?
        .pop()
        .ok_or_else(|| Error::not_found("settlement version"))?;
    let lines = store::lines_at(conn, &row.id, version)?;
    Ok(VersionDoc {
        info,
        parties: party_totals(&lines),
        lines: shown(lines),
    })
}

/// Read one version of a settlement as it was.
#[utoipa::path(get, path = "/v1/settlements/{id}/versions/{version}", tag = "settlements",
    params(("id" = String, Path, description = "Settlement id"), ("version" = i32, Path, description = "Version number")),
    responses((status = 200, description = "The version", body = VersionDoc)),
    security(("bearer" = [])))]
pub async fn get_version(
    state: web::Data<SettlementState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<web::Json<VersionDoc>, Error> {
    who.require(READERS)?;
    let (id, version) = path.into_inner();
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let version: i32 = version
        .parse()
        .map_err(|_| Error::not_found("settlement version"))?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| {
                let row = visible(&who, store::find(conn, &id.to_string())?)?;
                version_doc(conn, &row, version)
            })
            .await?,
    ))
}

/// Which versions to compare.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffQuery {
    /// The older version.
    pub from: i32,
    /// The newer version (default: the current one).
    pub to: Option<i32>,
}

/// Compare two versions of a settlement line by line.
#[utoipa::path(get, path = "/v1/settlements/{id}/diff", tag = "settlements",
    params(("id" = String, Path, description = "Settlement id"), DiffQuery),
    responses((status = 200, description = "The differences", body = VersionDiff)),
    security(("bearer" = [])))]
pub async fn diff_versions(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
    q: web::Query<DiffQuery>,
) -> Result<web::Json<VersionDiff>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let q = q.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| {
                let row = visible(&who, store::find(conn, &id.to_string())?)?;
                let to = q.to.unwrap_or(row.version);
                let before = version_doc(conn, &row, q.from)
                    .map_err(|_| Error::field("from", "unknown_version", "no such version"))?;
                let after = version_doc(conn, &row, to)
                    .map_err(|_| Error::field("to", "unknown_version", "no such version"))?;
                let (added, removed, changed) = diff_lines(before.lines, after.lines);
                Ok(VersionDiff {
                    from: q.from,
                    to,
                    added,
                    removed,
                    changed,
                    total_before: before.info.total,
                    total_after: after.info.total,
                })
            })
            .await?,
    ))
}

/// Lines only in `after`, lines only in `before`, and lines in both that differ.
fn diff_lines(
    before: Vec<SettlementLine>,
    after: Vec<SettlementLine>,
) -> (Vec<SettlementLine>, Vec<SettlementLine>, Vec<LineChange>) {
    let mut old: BTreeMap<String, SettlementLine> = before
        .into_iter()
        .map(|l| (l.consumption_id.clone(), l))
        .collect();
    let mut added = Vec::new();
    let mut changed = Vec::new();
    for line in after {
        match old.remove(&line.consumption_id) {
            None => added.push(line),
            Some(prev) if prev != line => changed.push(LineChange {
                consumption_id: line.consumption_id.clone(),
                before: prev,
                after: line,
            }),
            Some(_) => {}
        }
    }
    (added, old.into_values().collect(), changed)
}

/// What to try on a settlement.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimulationInput {
    /// A draft condition set (the whole set, as `PUT /v1/business-conditions` takes it).
    pub conditions: carebill_domain::conditions::ConditionSet,
}

/// A settlement computed now under the conditions in force and under a draft, and how they
/// differ. Nothing is stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Simulation {
    /// The version of the condition set in force (0: none).
    pub conditions_version: i32,
    /// Lines the draft adds (e.g. fee lines).
    pub added: Vec<SettlementLine>,
    /// Lines only the set in force gives.
    pub removed: Vec<SettlementLine>,
    /// Lines that differ.
    pub changed: Vec<LineChange>,
    /// Billable total under the set in force.
    pub total_in_force: Option<Money>,
    /// Billable total under the draft.
    pub total_draft: Option<Money>,
}

fn billable_total(lines: &[PricedLine]) -> Option<Money> {
    let mut total: Option<Money> = None;
    for amount in lines
        .iter()
        .filter(|l| !l.excluded && l.issues.is_empty())
        .filter_map(|l| l.amount)
    {
        total = Some(match total {
            None => amount,
            Some(t) => t.checked_add(&amount).unwrap_or(t),
        });
    }
    total
}

/// Try a draft condition set on a settlement: its lines computed now under the set in force and
/// under the draft, and the difference. Nothing is stored; a draft that does not compile is a
/// 422 as on saving.
#[utoipa::path(post, path = "/v1/settlements/{id}/simulate", tag = "settlements", request_body = SimulationInput,
    params(("id" = String, Path, description = "Settlement id")),
    responses((status = 200, description = "Both computations and their difference", body = Simulation),
        (status = 404, description = "No such settlement in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The draft does not compile: the error names `conditions.<i>.when`", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn simulate_settlement(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<SimulationInput>,
) -> Result<web::Json<Simulation>, Error> {
    who.require(READERS)?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let draft = body.value.conditions.compile().map_err(|v| {
        let errors = v.errors().to_vec();
        Error::validation(errors)
    })?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| {
                let row = visible(&who, store::find(conn, &id.to_string())?)?;
                let in_force = crate::service::conditions::compiled(conn)?;
                let version = in_force.as_ref().map_or(0, |(v, _)| *v);
                let now = settlements::lines_now(
                    conn,
                    &row,
                    in_force.as_ref().map(|(_, set)| set.as_ref()),
                )?;
                let tried =
                    settlements::lines_now(conn, &row, (!draft.is_empty()).then_some(&draft))?;
                let (total_in_force, total_draft) = (billable_total(&now), billable_total(&tried));
                let (added, removed, changed) = diff_lines(shown(now), shown(tried));
                Ok(Simulation {
                    conditions_version: version,
                    added,
                    removed,
                    changed,
                    total_in_force,
                    total_draft,
                })
            })
            .await?,
    ))
}

/// An observation on a line (or on the whole settlement).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservationInput {
    /// The line observed; absent for the settlement as a whole.
    pub consumption_id: Option<String>,
    /// What needs adjusting.
    #[schema(
        example = "Two hemoglobin tests on the same day: check the second",
        max_length = 2000
    )]
    pub text: String,
}

/// A workflow step.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionInput {
    /// The new status: `in_review` (a biller takes it), `in_audit` (sent to medical audit),
    /// `observed` (audit sends it back, with observations), `approved` (audit; auditors only),
    /// `draft` (a biller releases it).
    pub to: SettlementStatus,
    /// Why; required to send it back (`observed`, `draft`).
    #[schema(max_length = 500)]
    pub reason: Option<String>,
    /// Observations, required for `observed`.
    #[serde(default)]
    pub observations: Vec<ObservationInput>,
}

fn transition(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    etag: &str,
    input: &TransitionInput,
    reason: Option<&str>,
    minimal: bool,
) -> Result<(Option<SettlementDoc>, String), Error> {
    let mut row = visible(who, store::find_for_update(conn, id)?)?;
    let to = input.to;
    // Who may do it first, then whether it is still what they saw, then whether it is a step
    // the workflow allows.
    match to {
        SettlementStatus::Observed | SettlementStatus::Approved => {
            // Only medical audit observes and approves; not even an admin stands in for it.
            if !who.roles.contains(&Role::Auditor) {
                return Err(Error::forbidden(format!(
                    "only the auditor role may move a settlement to {to}"
                )));
            }
        }
        _ => who.require(BILLERS)?,
    }
    check_etag(&row, etag)?;
    let from = row.status();
    if !from.can_move_to(to) {
        return Err(Error::new(
            ErrorCode::InvalidTransition,
            format!("a settlement in {from} cannot move to {to}"),
        ));
    }
    if from == SettlementStatus::Approved {
        // Withdrawing an approval is the billing manager's, and only before invoicing acted.
        if !who.has_any(&[Role::BillingManager]) {
            return Err(Error::forbidden(
                "only a billing manager may withdraw an approval",
            ));
        }
        if reason.is_none() {
            return Err(Error::field(
                "reason",
                "required",
                "say why the approval is withdrawn",
            ));
        }
        if row.invoiced_version >= row.approved_version {
            return Err(Error::new(
                ErrorCode::AlreadyInvoiced,
                "invoicing has issued this version; credit its invoices (with reissue) instead",
            ));
        }
    }
    if to == SettlementStatus::Approved {
        // Segregation of duties: who sent it to audit does not approve it.
        let sent_by: Option<String> = settlement_status_changes::table
            .filter(settlement_status_changes::settlement_id.eq(&row.id))
            .filter(settlement_status_changes::to_status.eq(SettlementStatus::InAudit.as_str()))
            .order(settlement_status_changes::id.desc())
            .select(settlement_status_changes::changed_by)
            .first(conn)
            .optional()?;
        if sent_by.as_deref() == Some(who.subject.as_str()) {
            return Err(Error::forbidden(
                "the person who sent a settlement to audit cannot approve it",
            ));
        }
        if row.pending_voids > 0 {
            return Err(Error::new(
                ErrorCode::VoidedLinesBilled,
                format!(
                    "{} voided consumption(s) are still on active invoices; credit those invoices (with reissue) first",
                    row.pending_voids
                ),
            ));
        }
    }
    if to == SettlementStatus::Approved {
        if row.line_count == 0 || row.currency.is_none() {
            return Err(Error::new(
                ErrorCode::NothingToApprove,
                "the settlement has no priced lines",
            ));
        }
        if row.issue_count > 0 {
            let lines = store::lines_at(conn, &row.id, row.version)?;
            let errors = lines
                .iter()
                .filter(|l| !l.issues.is_empty())
                .map(|l| carebill_domain::FieldError {
                    field: format!("lines[{}]", l.consumption_id),
                    code: l.issues[0].code.clone(),
                    message: l.issues[0].message.clone(),
                })
                .collect::<Vec<_>>();
            return Err(Error::new(ErrorCode::UnresolvedLines, format!(
                    "{} line(s) cannot be billed as they are (no price, no coverage terms...); fix them first",
                    row.issue_count
                ),
            )
            .with_errors(errors));
        }
    }
    if to == SettlementStatus::Observed {
        let current = store::lines_at(conn, &row.id, row.version)?;
        let now = db::now();
        for (n, o) in input.observations.iter().enumerate() {
            if let Some(c) = &o.consumption_id
                && !current.iter().any(|l| &l.consumption_id == c)
            {
                return Err(Error::field(
                    &format!("observations[{n}].consumption_id"),
                    "unknown_line",
                    "not a line of the current version",
                ));
            }
            diesel::insert_into(settlement_observations::table)
                .values((
                    settlement_observations::id.eq(uuid::Uuid::now_v7().to_string()),
                    settlement_observations::settlement_id.eq(&row.id),
                    settlement_observations::version.eq(row.version),
                    settlement_observations::consumption_id.eq(&o.consumption_id),
                    settlement_observations::text.eq(o.text.trim()),
                    settlement_observations::created_by.eq(&who.subject),
                    settlement_observations::created_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    if to == SettlementStatus::InReview && row.assigned_to.is_none() {
        row.assigned_to = Some(who.subject.clone());
    }
    settlements::change_status(conn, &mut row, to, reason, &who.subject)?;
    if to == SettlementStatus::Approved {
        row.approved_version = Some(row.version);
        settlements::enqueue_approval(conn, &row, &who.subject, who.request_id.clone())?;
    }
    store::save(conn, &row)?;
    audit::record_at(
        conn,
        who,
        &row.location_id,
        "transition",
        "settlement",
        &row.id,
        serde_json::json!({ "status": { "before": from, "after": to }, "version": row.version }),
        reason,
    )?;
    let etag = row.etag();
    let doc = if minimal {
        None
    } else {
        Some(document(conn, row)?)
    };
    Ok((doc, etag))
}

/// Move a settlement through its workflow: draft → in_review (biller) → in_audit → approved
/// (auditor), or observed (auditor, with observations) → in_review. Approval emits
/// `carebill.settlement.settlement.approved.v1`, from which invoicing issues the invoices.
#[utoipa::path(post, path = "/v1/settlements/{id}/transitions", tag = "settlements", request_body = TransitionInput,
    params(("id" = String, Path, description = "Settlement id"),
        ("If-Match" = String, Header, description = "The settlement's ETag"),
        ("Prefer" = Option<String>, Header, description = "`return=minimal`: answer 204 with the new ETag only, without the settlement (RFC 7240)")),
    responses((status = 200, description = "Moved", body = SettlementDoc),
        (status = 204, description = "Moved (with `Prefer: return=minimal`); the new ETag is in the header",
            headers(("ETag" = String, description = "Send as If-Match for the next step"))),
        (status = 409, description = "Not allowed from the current status", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The settlement changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn transition_settlement(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<TransitionInput>,
) -> Result<HttpResponse, Error> {
    who.require(&[Role::BillingManager, Role::Biller, Role::Auditor])?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let input = body.value;
    let mut v = Validation::new();
    let reason = v.opt_text("reason", input.reason.as_deref(), 500);
    if matches!(
        input.to,
        SettlementStatus::Observed | SettlementStatus::Draft
    ) && reason.is_none()
    {
        v.add("reason", "required", "say why it goes back");
    }
    if input.to == SettlementStatus::Observed && input.observations.is_empty() {
        v.add(
            "observations",
            "required",
            "observe at least one line (or the settlement as a whole)",
        );
    }
    if input.to != SettlementStatus::Observed && !input.observations.is_empty() {
        v.add(
            "observations",
            "not_allowed",
            "observations go with `observed` only",
        );
    }
    for (n, o) in input.observations.iter().enumerate() {
        v.text(&format!("observations[{n}].text"), &o.text, 2000);
    }
    v.finish().map_err(Error::validation)?;
    let etag = if_match(&req)?;
    let minimal = carebill_platform::http::prefers_minimal(&req);
    let (doc, etag) = state
        .db
        .write(move |conn| {
            conn.transaction(|conn| {
                transition(
                    conn,
                    &who,
                    &id.to_string(),
                    &etag,
                    &input,
                    reason.as_deref(),
                    minimal,
                )
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(match doc {
        Some(doc) => with_etag(&doc, &etag, StatusCode::OK),
        None => HttpResponse::NoContent()
            .insert_header(("ETag", etag))
            .finish(),
    })
}

/// A biller's correction of one line.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineCorrection {
    /// A manual unit price instead of the price list's; `null` goes back to the price list.
    pub unit_price: Option<Money>,
    /// Leave the line out of billing (it stays visible).
    #[serde(default)]
    pub excluded: bool,
    /// Why.
    #[schema(
        example = "price agreed with the insurer by letter 2026-11-02",
        max_length = 500
    )]
    pub reason: String,
}

fn correct_line(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    consumption: &str,
    etag: &str,
    input: &LineCorrection,
    reason: &str,
) -> Result<(SettlementDoc, String), Error> {
    let mut row = visible(who, store::find_for_recompute(conn, id)?)?;
    check_etag(&row, etag)?;
    if !matches!(
        row.status(),
        SettlementStatus::Draft | SettlementStatus::InReview | SettlementStatus::Observed
    ) {
        return Err(Error::new(
            ErrorCode::NotEditable,
            format!(
                "a settlement in {} cannot be corrected; lines change in draft, in_review or observed",
                row.status()
            ),
        ));
    }
    if row.billing_run_id.is_some() {
        // A periodic settlement's lines come from its billing run: the correction is kept beside
        // them (404 for a line the settlement does not have).
        crate::service::periodic::correct(
            conn,
            &row,
            consumption,
            input.unit_price,
            input.excluded,
            reason,
        )?;
    } else {
        let updated = diesel::update(
            settlement_inputs::table
                .filter(settlement_inputs::consumption_id.eq(consumption))
                .filter(settlement_inputs::settlement_id.eq(&row.id))
                .filter(settlement_inputs::voided.eq(false)),
        )
        .set((
            settlement_inputs::manual_unit_price_minor
                .eq(store::manual_price_minor(input.unit_price.as_ref())?),
            settlement_inputs::manual_currency
                .eq(input.unit_price.as_ref().map(|m| m.currency().to_string())),
            settlement_inputs::excluded.eq(input.excluded),
            settlement_inputs::override_reason.eq(reason),
        ))
        .execute(conn)?;
        if updated == 0 {
            return Err(Error::not_found("settlement line"));
        }
    }
    let made = settlements::recompute(
        conn,
        &mut row,
        &Cause {
            kind: "line_corrected",
            reason: Some(reason),
            by: &who.subject,
        },
    )?;
    if made {
        diesel::update(
            settlement_observations::table
                .filter(settlement_observations::settlement_id.eq(&row.id))
                .filter(settlement_observations::consumption_id.eq(consumption))
                .filter(settlement_observations::resolved_version.is_null()),
        )
        .set(settlement_observations::resolved_version.eq(Some(row.version)))
        .execute(conn)?;
    }
    audit::record_at(
        conn,
        who,
        &row.location_id,
        "correct_line",
        "settlement",
        &row.id,
        serde_json::json!({ "consumption_id": consumption, "unit_price": input.unit_price, "excluded": input.excluded, "version": row.version }),
        Some(reason),
    )?;
    let etag = row.etag();
    Ok((document(conn, row)?, etag))
}

/// Correct a line: a manual unit price (e.g. for a code without a price) or its exclusion from
/// billing, with a reason. Makes a new version; resolves audit's observations on the line.
#[utoipa::path(put, path = "/v1/settlements/{id}/lines/{consumption_id}", tag = "settlements", request_body = LineCorrection,
    params(("id" = String, Path, description = "Settlement id"),
        ("consumption_id" = String, Path, description = "The line's consumption id"),
        ("If-Match" = String, Header, description = "The settlement's ETag")),
    responses((status = 200, description = "Corrected", body = SettlementDoc),
        (status = 409, description = "Not editable in its status, or a periodic line whose rule does not allow manual correction (`manual_correction_not_allowed`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The settlement changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn correct_settlement_line(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    path: web::Path<(String, String)>,
    body: JsonBody<LineCorrection>,
) -> Result<HttpResponse, Error> {
    who.require(BILLERS)?;
    let body = body.parse()?;
    let (id, consumption) = path.into_inner();
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let consumption: uuid::Uuid = parse_id(&consumption, "settlement line")?;
    let input = body.value;
    let mut v = Validation::new();
    let reason = v.text("reason", &input.reason, 500);
    if let Some(p) = &input.unit_price
        && p.amount().is_sign_negative()
    {
        v.add("unit_price", "negative", "must not be negative");
    }
    v.finish().map_err(Error::validation)?;
    let reason = reason.unwrap_or_default();
    let etag = if_match(&req)?;
    let (doc, etag) = state
        .db
        .write(move |conn| {
            conn.transaction(|conn| {
                correct_line(
                    conn,
                    &who,
                    &id.to_string(),
                    &consumption.to_string(),
                    &etag,
                    &input,
                    &reason,
                )
            })
        })
        .await?;
    Ok(with_etag(&doc, &etag, StatusCode::OK))
}

/// Why a settlement is recomputed.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecomputeInput {
    /// Why.
    #[schema(example = "price for LAB-HB added", max_length = 500)]
    pub reason: String,
}

/// Recompute a settlement with the prices and coverage terms in force now (after fixing a missing
/// price or terms). A new version only when something changed.
#[utoipa::path(post, path = "/v1/settlements/{id}/recompute", tag = "settlements", request_body = RecomputeInput,
    params(("id" = String, Path, description = "Settlement id"),
        ("If-Match" = String, Header, description = "The settlement's ETag")),
    responses((status = 200, description = "Recomputed", body = SettlementDoc),
        (status = 409, description = "Not open for changes", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The settlement changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn recompute_settlement(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<RecomputeInput>,
) -> Result<HttpResponse, Error> {
    who.require(BILLERS)?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let mut v = Validation::new();
    let reason = v.text("reason", &body.value.reason, 500);
    v.finish().map_err(Error::validation)?;
    let reason = reason.unwrap_or_default();
    let etag = if_match(&req)?;
    let (doc, etag) = state
        .db
        .write(move |conn| {
            conn.transaction(|conn| {
                let mut row = visible(&who, store::find_for_recompute(conn, &id.to_string())?)?;
                check_etag(&row, &etag)?;
                if !row.status().is_open() {
                    return Err(Error::new(
                        ErrorCode::NotEditable,
                        format!("a settlement in {} is not recomputed", row.status()),
                    ));
                }
                settlements::recompute(
                    conn,
                    &mut row,
                    &Cause {
                        kind: "recomputed",
                        reason: Some(&reason),
                        by: &who.subject,
                    },
                )?;
                audit::record_at(
                    conn,
                    &who,
                    &row.location_id,
                    "recompute",
                    "settlement",
                    &row.id,
                    serde_json::json!({ "version": row.version }),
                    Some(&reason),
                )?;
                let etag = row.etag();
                Ok((document(conn, row)?, etag))
            })
        })
        .await?;
    Ok(with_etag(&doc, &etag, StatusCode::OK))
}
