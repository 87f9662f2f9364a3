//! Settlements over HTTP: read them (current, any version, the difference between two), take
//! them through review and medical audit, correct lines, recompute after a configuration fix.
//! Changes need `If-Match` with the settlement's `ETag`, so nobody approves what they did not see.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::events::PartyRef;
use carebill_domain::pricing::PricedLine;
use carebill_domain::settlement::SettlementStatus;
use carebill_domain::{Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, Page, PageParams, parse_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::api::lines::{SettlementLine, shown};
use crate::service::review::{
    self, BILLERS, ListFilter, Row, SettlementView, VersionRow, VersionView,
};

const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

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

/// A status change in a settlement's history. (Named `SettlementStatusChange` in the OpenAPI
/// document: accounts' `StatusChange` is an episode's.)
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = SettlementStatusChange)]
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
    /// The `ETag` (also in the header of the settlement): send it as `If-Match` to change the
    /// settlement, or in a bulk transition's item, without reading the settlement first.
    #[schema(example = "\"r7\"")]
    pub etag: String,
}

/// A settlement with its current lines, party totals, observations and status history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettlementDoc {
    /// The header.
    #[serde(flatten)]
    pub summary: SettlementSummary,
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

fn summary(r: &Row) -> Result<SettlementSummary, Error> {
    Ok(SettlementSummary {
        id: r.id.clone(),
        number: r.number.clone(),
        kind: r.kind.as_str().to_owned(),
        parent_id: r.parent_id.clone(),
        billing_run_id: r.billing_run_id.clone(),
        status: r.status(),
        version: r.version,
        episode_id: r.episode_id.clone(),
        episode_number: r.episode()?.number,
        location_code: r.location_code.clone(),
        patient_id: r.patient_id.clone(),
        total: r.total()?,
        line_count: r.line_count,
        issue_count: r.issue_count,
        pending_voids: r.pending_voids,
        approved_version: r.approved_version,
        invoiced_version: r.invoiced_version,
        assigned_to: r.assigned_to.clone(),
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
        etag: r.etag(),
    })
}

/// The API document of a settlement, and its `ETag`.
fn document(v: SettlementView) -> Result<(SettlementDoc, String), Error> {
    let etag = v.row.etag();
    let doc = SettlementDoc {
        summary: summary(&v.row)?,
        parties: party_totals(&v.lines)?,
        lines: shown(v.lines),
        observations: v
            .observations
            .into_iter()
            .map(|o| Observation {
                id: o.id,
                version: o.version,
                consumption_id: o.consumption_id,
                text: o.text,
                created_by: o.created_by,
                created_at: o.created_at.and_utc(),
                resolved_version: o.resolved_version,
            })
            .collect(),
        status_history: v
            .changes
            .into_iter()
            .map(|c| StatusChange {
                from: c.from_status,
                to: c.to_status,
                version: c.version,
                reason: c.reason,
                changed_by: c.changed_by,
                changed_at: c.changed_at.and_utc(),
            })
            .collect(),
    };
    Ok((doc, etag))
}

fn version_info(r: &VersionRow) -> Result<VersionInfo, Error> {
    Ok(VersionInfo {
        version: r.version,
        cause: r.cause.clone(),
        reason: r.reason.clone(),
        created_by: r.created_by.clone(),
        created_at: r.created_at.and_utc(),
        total: r.total()?,
        line_count: r.line_count,
        issue_count: r.issue_count,
    })
}

fn version_doc(v: VersionView) -> Result<VersionDoc, Error> {
    Ok(VersionDoc {
        info: version_info(&v.info)?,
        parties: party_totals(&v.lines)?,
        lines: shown(v.lines),
    })
}

/// Each party's total over `lines` (payers in order of appearance, the patient last); a total
/// that cannot be represented is an internal error naming the party.
pub fn party_totals(lines: &[PricedLine]) -> Result<Vec<PartyTotal>, Error> {
    let mut order: Vec<PartyRef> = Vec::new();
    let mut sums: BTreeMap<String, Money> = BTreeMap::new();
    for s in lines.iter().flat_map(|l| &l.shares) {
        let key = s.party.key();
        match sums.get_mut(&key) {
            Some(sum) => {
                *sum = sum.checked_add(&s.amount).map_err(|e| {
                    Error::internal(&format!(
                        "the total billed to {key} cannot be represented: {e}"
                    ))
                })?;
            }
            None => {
                sums.insert(key, s.amount);
                order.push(s.party.clone());
            }
        }
    }
    order.sort_by_key(|p| p.kind == carebill_domain::events::PartyKind::Patient);
    Ok(order
        .into_iter()
        .filter_map(|party| {
            sums.get(&party.key()).map(|amount| PartyTotal {
                party: party.clone(),
                amount: *amount,
            })
        })
        .collect())
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
    /// `none`: only settlements without lines that block approval (clean, releasable in bulk);
    /// `some`: only those with (like `has_issues`).
    pub issues: Option<IssuesFilter>,
    /// Assigned biller (subject).
    pub assigned_to: Option<String>,
    /// The periodic settlements a committed billing run made.
    pub billing_run_id: Option<uuid::Uuid>,
}

/// Settlements with or without lines that block approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IssuesFilter {
    /// No line blocks approval.
    None,
    /// Some line does.
    Some,
}

/// List settlements.
#[utoipa::path(get, path = "/v1/settlements", tag = "settlements", params(SettlementFilter, PageParams),
    responses((status = 200, description = "A page of settlements", body = Page<SettlementSummary>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_settlements(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<SettlementFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<SettlementSummary>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let f = filter.into_inner();
    let issues = f.issues.map(|i| i == IssuesFilter::Some);
    if let (Some(a), Some(b)) = (issues, f.has_issues)
        && a != b
    {
        return Err(Error::field(
            "issues",
            "conflicting",
            "`issues` and `has_issues` ask for different settlements; give one",
        ));
    }
    let filter = ListFilter {
        status: f.status,
        episode_id: f.episode_id.map(|e| e.to_string()),
        patient_id: f.patient_id.map(|p| p.to_string()),
        location_code: f.location_code,
        has_issues: issues.or(f.has_issues),
        assigned_to: f.assigned_to,
        billing_run_id: f.billing_run_id.map(|r| r.to_string()),
    };
    let scope = Scope::of(&who);
    let rows = state
        .db
        .read(move |conn| {
            review::list(conn, &scope, &filter, page.after.as_deref(), page.limit + 1)
                .map(|rows| (rows, page))
        })
        .await?;
    let (rows, page) = rows;
    let summaries = rows.iter().map(summary).collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::from_rows(summaries, &page, |s| {
        s.id.clone()
    })))
}

/// Get a settlement: its current lines with shares and reasons, party totals, observations
/// and status history. The `ETag` header is what changes must send as `If-Match`.
#[utoipa::path(get, path = "/v1/settlements/{id}", tag = "settlements",
    params(("id" = String, Path, description = "Settlement id")),
    responses((status = 200, description = "The settlement", body = SettlementDoc,
        headers(("ETag" = String, description = "Send as If-Match to change it")))),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_settlement(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let scope = Scope::of(&who);
    let view = state
        .db
        .read(move |conn| review::get(conn, &scope, &id.to_string()))
        .await?;
    let (doc, etag) = document(view)?;
    Ok(with_etag(&doc, &etag, StatusCode::OK))
}

/// List a settlement's versions, oldest first.
#[utoipa::path(get, path = "/v1/settlements/{id}/versions", tag = "settlements",
    params(("id" = String, Path, description = "Settlement id")),
    responses((status = 200, description = "Its versions", body = Vec<VersionInfo>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_versions(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Vec<VersionInfo>>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let scope = Scope::of(&who);
    let versions = state
        .db
        .read(move |conn| review::versions(conn, &scope, &id.to_string()))
        .await?;
    Ok(web::Json(
        versions
            .iter()
            .map(version_info)
            .collect::<Result<_, _>>()?,
    ))
}

/// Read one version of a settlement as it was.
#[utoipa::path(get, path = "/v1/settlements/{id}/versions/{version}", tag = "settlements",
    params(("id" = String, Path, description = "Settlement id"), ("version" = i32, Path, description = "Version number")),
    responses((status = 200, description = "The version", body = VersionDoc)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
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
    let scope = Scope::of(&who);
    let v = state
        .db
        .read(move |conn| review::version(conn, &scope, &id.to_string(), version))
        .await?;
    Ok(web::Json(version_doc(v)?))
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
#[tracing::instrument(skip_all)]
pub async fn diff_versions(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
    q: web::Query<DiffQuery>,
) -> Result<web::Json<VersionDiff>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "settlement")?;
    let q = q.into_inner();
    let scope = Scope::of(&who);
    let (before, after) = state
        .db
        .read(move |conn| review::versions_to_compare(conn, &scope, &id.to_string(), q.from, q.to))
        .await?;
    let (before, after) = (version_doc(before)?, version_doc(after)?);
    let (from, to) = (before.info.version, after.info.version);
    let (added, removed, changed) = diff_lines(before.lines, after.lines);
    Ok(web::Json(VersionDiff {
        from,
        to,
        added,
        removed,
        changed,
        total_before: before.info.total,
        total_after: after.info.total,
    }))
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

/// The total of the billable lines (none: no billable line with an amount); a total that cannot
/// be represented is an internal error.
fn billable_total(lines: &[PricedLine]) -> Result<Option<Money>, Error> {
    let mut total: Option<Money> = None;
    for amount in lines
        .iter()
        .filter(|l| !l.excluded && l.issues.is_empty())
        .filter_map(|l| l.amount)
    {
        total = Some(match total {
            None => amount,
            Some(t) => t.checked_add(&amount).map_err(|e| {
                Error::internal(&format!("the billable total cannot be represented: {e}"))
            })?,
        });
    }
    Ok(total)
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
#[tracing::instrument(skip_all)]
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
    let scope = Scope::of(&who);
    let sim = state
        .db
        .read(move |conn| review::simulate(conn, &scope, &id.to_string(), &draft))
        .await?;
    let (total_in_force, total_draft) =
        (billable_total(&sim.in_force)?, billable_total(&sim.draft)?);
    let (added, removed, changed) = diff_lines(shown(sim.in_force), shown(sim.draft));
    Ok(web::Json(Simulation {
        conditions_version: sim.conditions_version,
        added,
        removed,
        changed,
        total_in_force,
        total_draft,
    }))
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
#[tracing::instrument(skip_all)]
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
    let step = review::Transition {
        to: input.to,
        reason,
        observations: input
            .observations
            .into_iter()
            .map(|o| (o.consumption_id, o.text))
            .collect(),
    };
    let (row, view) = state
        .db
        .write(move |conn| review::transition(conn, &who, &id.to_string(), &etag, &step, minimal))
        .await?;
    state.wake.notify_one();
    Ok(match view {
        Some(view) => {
            let (doc, etag) = document(view)?;
            with_etag(&doc, &etag, StatusCode::OK)
        }
        None => HttpResponse::NoContent()
            .insert_header(("ETag", row.etag()))
            .finish(),
    })
}

/// The most items one bulk transition takes.
pub const MAX_BULK_TRANSITIONS: usize = 500;

/// One step of a bulk transition.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkTransitionItem {
    /// The settlement.
    pub id: String,
    /// The new status, as in the single transition (`observed` needs observations: give it
    /// through `/v1/settlements/{id}/transitions`).
    pub to: SettlementStatus,
    /// The settlement's `ETag` as the list or the settlement gave it (the single transition's
    /// `If-Match`).
    #[schema(example = "\"r7\"")]
    pub if_match: String,
    /// Why; required to send it back to `draft` or to withdraw an approval.
    #[schema(max_length = 500)]
    pub reason: Option<String>,
}

/// Steps for many settlements at once.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkTransitionInput {
    /// The steps, at most 500, applied in order.
    #[schema(max_items = 500)]
    pub items: Vec<BulkTransitionItem>,
}

/// What became of one step.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkTransitionOutcome {
    /// The settlement, as given.
    pub id: String,
    /// What the single transition would have answered: 200 when moved, else the problem's
    /// status.
    #[schema(example = 200)]
    pub status: u16,
    /// The status it is in now (moved only).
    pub settlement_status: Option<SettlementStatus>,
    /// Its new `ETag`, for the next step (moved only).
    pub etag: Option<String>,
    /// Why it was not moved (nothing changed for it).
    pub problem: Option<Problem>,
}

/// What a bulk transition did, item by item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BulkTransitionResult {
    /// Items moved.
    pub moved: usize,
    /// Items refused.
    pub refused: usize,
    /// One outcome per item, in the request's order.
    pub items: Vec<BulkTransitionOutcome>,
}

/// Move many settlements at once — how a billing department releases clean claims in bulk
/// (list `?status=draft&issues=none`, then send each one's `etag`). Each item is checked
/// exactly as the single transition (role, segregation of duties, issues, voids, `ETag`),
/// audited on its own and answered on its own: a refused item changes nothing and does not
/// stop the others. Approvals emit `carebill.settlement.settlement.approved.v1` as one by one.
#[utoipa::path(post, path = "/v1/settlements/transitions", tag = "settlements", request_body = BulkTransitionInput,
    responses((status = 200, description = "Each item's outcome", body = BulkTransitionResult),
        (status = 413, description = "More than 500 items", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No items", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn transition_settlements(
    state: web::Data<SettlementState>,
    who: Principal,
    body: JsonBody<BulkTransitionInput>,
) -> Result<web::Json<BulkTransitionResult>, Error> {
    who.require(&[Role::BillingManager, Role::Biller, Role::Auditor])?;
    let items = body.parse()?.value.items;
    if items.len() > MAX_BULK_TRANSITIONS {
        return Err(Error::too_large(format!(
            "{} items; at most {MAX_BULK_TRANSITIONS} per request",
            items.len()
        )));
    }
    if items.is_empty() {
        return Err(Error::field("items", "required", "at least one item"));
    }
    // What the request's schema forbids refuses the whole request (as a malformed body); what
    // only the settlement's state decides is the item's outcome.
    let mut v = Validation::new();
    for (n, i) in items.iter().enumerate() {
        if i.reason.as_deref().is_some_and(|r| r.chars().count() > 500) {
            v.add(
                format!("items[{n}].reason"),
                "too_long",
                "must be at most 500 characters",
            );
        }
    }
    v.finish().map_err(Error::validation)?;
    // Each item is read as the single transition reads its request; what is wrong with one
    // is its outcome.
    let steps: Vec<(String, Result<review::BulkStep, Error>)> = items
        .into_iter()
        .map(|i| {
            let id = i.id.clone();
            (id, bulk_step(i))
        })
        .collect();
    let outcomes = state
        .db
        .write(move |conn| review::transition_many(conn, &who, steps))
        .await?;
    let items: Vec<BulkTransitionOutcome> = outcomes
        .into_iter()
        .map(|(id, r)| match r {
            Ok(row) => BulkTransitionOutcome {
                id,
                status: 200,
                settlement_status: Some(row.status()),
                etag: Some(row.etag()),
                problem: None,
            },
            Err(e) => {
                let problem = e.problem();
                BulkTransitionOutcome {
                    id,
                    status: problem.status,
                    settlement_status: None,
                    etag: None,
                    problem: Some(problem),
                }
            }
        })
        .collect();
    let moved = items.iter().filter(|i| i.status == 200).count();
    if moved > 0 {
        state.wake.notify_one();
    }
    Ok(web::Json(BulkTransitionResult {
        moved,
        refused: items.len() - moved,
        items,
    }))
}

/// One bulk item as a step, checked as the single transition checks its request.
fn bulk_step(i: BulkTransitionItem) -> Result<review::BulkStep, Error> {
    let id: uuid::Uuid = parse_id(&i.id, "settlement")?;
    let mut v = Validation::new();
    let reason = v.opt_text("reason", i.reason.as_deref(), 500);
    if i.to == SettlementStatus::Draft && reason.is_none() {
        v.add("reason", "required", "say why it goes back");
    }
    if i.to == SettlementStatus::Observed {
        v.add(
            "to",
            "not_in_bulk",
            "observing needs observations: use POST /v1/settlements/{id}/transitions",
        );
    }
    let etag = i.if_match.trim().trim_start_matches("W/").to_owned();
    if etag.is_empty() {
        v.add("if_match", "required", "the settlement's ETag");
    }
    v.finish().map_err(Error::validation)?;
    Ok(review::BulkStep {
        id: id.to_string(),
        etag,
        transition: review::Transition {
            to: i.to,
            reason,
            observations: Vec::new(),
        },
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
#[tracing::instrument(skip_all)]
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
    let Some(reason) = reason else {
        return Err(Error::internal(&"validation passed without a reason"));
    };
    let etag = if_match(&req)?;
    let correction = review::LineCorrection {
        unit_price: input.unit_price,
        excluded: input.excluded,
        reason,
    };
    let view = state
        .db
        .write(move |conn| {
            review::correct_line(
                conn,
                &who,
                &id.to_string(),
                &consumption.to_string(),
                &etag,
                &correction,
            )
        })
        .await?;
    let (doc, etag) = document(view)?;
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
#[tracing::instrument(skip_all)]
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
    let Some(reason) = reason else {
        return Err(Error::internal(&"validation passed without a reason"));
    };
    let etag = if_match(&req)?;
    let view = state
        .db
        .write(move |conn| review::recompute_now(conn, &who, &id.to_string(), &etag, &reason))
        .await?;
    let (doc, etag) = document(view)?;
    Ok(with_etag(&doc, &etag, StatusCode::OK))
}
