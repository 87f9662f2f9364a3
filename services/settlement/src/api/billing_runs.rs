//! Billing runs over HTTP: previewed (with draft rules, for one beneficiary) or committed per
//! location and month, rules tried on given care records, committed runs and their lines read.
//! What a run bills is decided in [`crate::service::billing_runs`].

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use carebill_domain::billing::{RunLine, RunProblem};
use carebill_domain::rules::{Period, RuleDefinition};
use carebill_domain::sources::{CareRecord, CareRecordDetails};
use carebill_domain::{Code, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, Page, PageParams, parse_id};
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::service::billing_runs::{
    self, Comparison, Computed, PatientLine, PatientProblem, RunRecord, Total,
};

/// Asks for a billing run.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingRunInput {
    /// The location (institution) code.
    #[schema(example = "H1")]
    pub location_code: String,
    /// The month, `YYYY-MM`; not after the current month (in-advance rules bill the next one
    /// themselves).
    #[schema(example = "2026-10", pattern = r"^\d{4}-\d{2}$")]
    pub period: String,
    /// Compute and show the lines without storing anything.
    #[serde(default)]
    pub preview: bool,
    /// Preview only: one beneficiary (patient id).
    pub patient_id: Option<String>,
    /// Preview only: draft rules tried in the place of the rules of their codes (or added, as
    /// if enabled here); the answer then compares with the rules in force (`comparison`).
    #[serde(default)]
    pub draft_rules: Vec<RuleDefinition>,
}

/// A preview with draft rules against the rules in force.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunComparison {
    /// Totals per context under the rules in force.
    pub totals_in_force: Vec<ContextTotal>,
    /// Per beneficiary, rule and context: the amounts that differ.
    pub differences: Vec<RunDifference>,
}

/// One difference between the rules in force and the drafts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunDifference {
    /// The beneficiary.
    pub patient_id: String,
    /// The rule.
    pub rule_code: String,
    /// The context.
    pub context: String,
    /// Under the rules in force (none: no line).
    pub in_force: Option<Money>,
    /// Under the drafts (none: no line).
    pub draft: Option<Money>,
}

/// The total of one invoice context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContextTotal {
    /// Invoice context.
    pub context: String,
    /// Sum of its lines (corrections included).
    pub amount: Money,
    /// Number of lines.
    pub lines: usize,
}

/// A line with its beneficiary.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BillingLine {
    /// The beneficiary (patient id).
    pub patient_id: String,
    /// The line.
    #[serde(flatten)]
    pub line: RunLine,
}

/// A problem with its beneficiary.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BillingProblem {
    /// The beneficiary (patient id).
    pub patient_id: String,
    /// The problem.
    #[serde(flatten)]
    pub problem: RunProblem,
}

/// A billing run, committed or previewed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BillingRun {
    /// Id (none for a preview).
    pub id: Option<String>,
    /// Location code.
    pub location_code: String,
    /// The month.
    pub period: String,
    /// Computed only, nothing stored.
    pub preview: bool,
    /// Beneficiaries with records or earlier lines at the location.
    pub beneficiaries: usize,
    /// Care records the run read (settlement's copy, as far as accounts' events have arrived).
    pub care_records: usize,
    /// Lines billed (new and corrections).
    pub line_count: usize,
    /// Totals per context.
    pub totals: Vec<ContextTotal>,
    /// What could not be billed (billed by a later run once fixed).
    pub problems: Vec<BillingProblem>,
    /// The lines (previews only; a committed run's lines are at `/v1/billing-runs/{id}/lines`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<BillingLine>>,
    /// A preview with draft rules: how it differs from the rules in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<RunComparison>,
    /// Who committed it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: Option<DateTime<Utc>>,
}

impl From<PatientLine> for BillingLine {
    fn from(l: PatientLine) -> Self {
        BillingLine {
            patient_id: l.patient_id,
            line: l.line,
        }
    }
}

impl From<PatientProblem> for BillingProblem {
    fn from(p: PatientProblem) -> Self {
        BillingProblem {
            patient_id: p.patient_id,
            problem: p.problem,
        }
    }
}

impl From<Total> for ContextTotal {
    fn from(t: Total) -> Self {
        ContextTotal {
            context: t.context,
            amount: t.amount,
            lines: t.lines,
        }
    }
}

impl From<Comparison> for RunComparison {
    fn from(c: Comparison) -> Self {
        RunComparison {
            totals_in_force: c.totals_in_force.into_iter().map(Into::into).collect(),
            differences: c
                .differences
                .into_iter()
                .map(|d| RunDifference {
                    patient_id: d.patient_id,
                    rule_code: d.rule_code,
                    context: d.context,
                    in_force: d.in_force,
                    draft: d.draft,
                })
                .collect(),
        }
    }
}

impl From<RunRecord> for BillingRun {
    fn from(r: RunRecord) -> Self {
        BillingRun {
            id: Some(r.id),
            location_code: r.location_code,
            period: r.period,
            preview: false,
            beneficiaries: r.beneficiaries,
            care_records: r.care_records,
            line_count: r.line_count,
            totals: r.totals.into_iter().map(Into::into).collect(),
            problems: r.problems.into_iter().map(Into::into).collect(),
            lines: None,
            comparison: None,
            created_by: Some(r.created_by),
            created_at: Some(r.created_at),
        }
    }
}

fn totals(c: &Computed) -> Result<Vec<ContextTotal>, Error> {
    Ok(c.totals()?.into_iter().map(Into::into).collect())
}

fn lines(c: &Computed) -> Vec<BillingLine> {
    c.lines.iter().cloned().map(Into::into).collect()
}

fn problems(c: &Computed) -> Vec<BillingProblem> {
    c.problems.iter().cloned().map(Into::into).collect()
}

/// The month asked for, or the problem's code and message.
fn parse_period(raw: &str, today: NaiveDate) -> Result<Period, (&'static str, String)> {
    let period = Period::parse(raw.trim()).ok_or(("invalid", "a month as YYYY-MM".to_owned()))?;
    let current = Period::month(today.year(), today.month())
        .ok_or(("invalid", "no current month".to_owned()))?;
    if period > current {
        return Err((
            "in_future",
            format!(
                "{period} has not begun; the latest period a run may bill is {current} (rules billing in advance bill {} from it)",
                current.next()
            ),
        ));
    }
    if period < Period::month(2000, 1).unwrap_or(period) {
        return Err(("out_of_range", "from 2000-01".to_owned()));
    }
    Ok(period)
}

/// A care record given in a simulation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GivenRecord {
    /// An id for the lines to name (default `given-<n>`, from 1).
    pub id: Option<String>,
    /// The record, as `POST /v1/care-records` takes it.
    #[schema(value_type = Object)]
    pub details: CareRecordDetails,
}

/// Rules tried on care records given in the request: nothing is read from accounts' records,
/// nothing is stored.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryRulesInput {
    /// The location whose enabled rules and prices apply.
    #[schema(example = "H1")]
    pub location_code: String,
    /// The month billed, `YYYY-MM` (any month from 2000-01: it is hypothetical).
    #[schema(example = "2026-10", pattern = r"^\d{4}-\d{2}$")]
    pub period: String,
    /// One beneficiary's care records (1 to 200).
    pub care_records: Vec<GivenRecord>,
    /// Draft rules tried in the place of the rules of their codes (or added, as if enabled);
    /// none: the rules in force alone.
    #[serde(default)]
    pub draft_rules: Vec<RuleDefinition>,
}

/// What rules make of given records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TriedRules {
    /// The location.
    pub location_code: String,
    /// The month.
    pub period: String,
    /// Lines under the rules in force (the beneficiary is `given`).
    pub lines: Vec<BillingLine>,
    /// Their totals per context.
    pub totals: Vec<ContextTotal>,
    /// What they could not bill.
    pub problems: Vec<BillingProblem>,
    /// With draft rules: the lines under the drafts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_lines: Option<Vec<BillingLine>>,
    /// With draft rules: their totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_totals: Option<Vec<ContextTotal>>,
    /// With draft rules: what they could not bill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_problems: Option<Vec<BillingProblem>>,
    /// With draft rules: how they differ from the rules in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<RunComparison>,
}

/// Try the rules in force, and drafts, on care records given in the request.
#[utoipa::path(post, path = "/v1/billing-runs/try", tag = "billing runs", request_body = TryRulesInput,
    responses(
        (status = 200, description = "The lines under the rules in force and under the drafts; nothing stored", body = TriedRules),
        (status = 403, description = "The location is outside your token's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Two active rules (with the drafts) compete for the same slot", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad location code, period, record or draft rule", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn try_rules(
    state: web::Data<SettlementState>,
    who: Principal,
    body: JsonBody<TryRulesInput>,
) -> Result<web::Json<TriedRules>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value;
    let mut v = Validation::new();
    let location = v.check(
        "location_code",
        "invalid",
        Code::parse(&input.location_code),
    );
    let period = Period::parse(input.period.trim()).filter(|p| {
        *p >= Period::month(2000, 1).unwrap_or(*p) && *p <= Period::month(2100, 12).unwrap_or(*p)
    });
    if period.is_none() {
        v.add(
            "period",
            "invalid",
            "a month as YYYY-MM, from 2000-01 to 2100-12",
        );
    }
    if input.care_records.is_empty() || input.care_records.len() > 200 {
        v.add("care_records", "count", "give 1 to 200 care records");
    }
    let mut records = Vec::with_capacity(input.care_records.len());
    for (i, r) in input.care_records.into_iter().enumerate() {
        let details = r.details.trimmed();
        v.nest(&format!("care_records.{i}.details"), details.validate());
        let id =
            r.id.map_or_else(|| format!("given-{}", i + 1), |id| id.trim().to_owned());
        if id.is_empty() || id.len() > 64 {
            v.add(
                format!("care_records.{i}.id"),
                "invalid",
                "1 to 64 characters",
            );
        }
        records.push(CareRecord {
            id,
            patient_id: "given".to_owned(),
            location_id: String::new(),
            version: 1,
            cancelled: false,
            details,
        });
    }
    check_drafts(&mut v, &input.draft_rules);
    v.finish().map_err(Error::validation)?;
    let (Some(location), Some(period)) = (location, period) else {
        return Err(Error::internal(&"validation passed without values"));
    };
    let location = location.to_string();
    location_in_scope(&who, &location)?;
    let drafts = input.draft_rules;
    let (in_force, draft, comparison, location) = state
        .db
        .read(move |conn| {
            billing_runs::try_on(conn, &location, period, records, &drafts)
                .map(|(a, b, c)| (a, b, c, location))
        })
        .await?;
    Ok(web::Json(TriedRules {
        location_code: location,
        period: period.to_string(),
        totals: totals(&in_force)?,
        draft_totals: draft.as_ref().map(totals).transpose()?,
        lines: lines(&in_force),
        problems: problems(&in_force),
        draft_lines: draft.as_ref().map(lines),
        draft_problems: draft.as_ref().map(problems),
        comparison: comparison.map(RunComparison::from),
    }))
}

/// What can be checked of draft rules without the database, named `draft_rules.<i>.<field>`.
fn check_drafts(v: &mut Validation, drafts: &[RuleDefinition]) {
    for (i, r) in drafts.iter().enumerate() {
        for e in r.validate().errors() {
            v.add(
                format!("draft_rules.{i}.{}", e.field),
                &e.code,
                e.message.clone(),
            );
        }
    }
}

const WRITERS: &[Role] = &[Role::BillingManager, Role::Biller];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

fn location_in_scope(who: &Principal, location: &str) -> Result<(), Error> {
    let scope = Scope::of(who);
    if scope.is_payer_limited() {
        return Err(Error::forbidden(
            "a token limited to a payer does not run a location's billing",
        ));
    }
    if !scope.allows_location(location) {
        return Err(Error::forbidden(format!(
            "your token does not cover location {location}"
        )));
    }
    Ok(())
}

/// Run (or preview) the billing of a location for a month.
#[utoipa::path(post, path = "/v1/billing-runs", tag = "billing runs", request_body = BillingRunInput,
    responses(
        (status = 200, description = "A preview (nothing stored), or the committed run of this month when nothing changed since", body = BillingRun),
        (status = 201, description = "Committed", body = BillingRun),
        (status = 403, description = "The location is outside your token's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The month was billed and something changed since (corrections go to the next run), a later month is billed, or two active rules compete for the same slot", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad location code or period, a period that has not begun", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_run(
    state: web::Data<SettlementState>,
    who: Principal,
    body: JsonBody<BillingRunInput>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value;
    let mut v = Validation::new();
    let location = v.check(
        "location_code",
        "invalid",
        Code::parse(&input.location_code),
    );
    let period = match parse_period(&input.period, Utc::now().date_naive()) {
        Ok(p) => Some(p),
        Err((code, message)) => {
            v.add("period", code, message);
            None
        }
    };
    if !input.draft_rules.is_empty() && !input.preview {
        v.add(
            "draft_rules",
            "preview_only",
            "draft rules are tried in a preview; save them as rule versions to bill with them",
        );
    }
    check_drafts(&mut v, &input.draft_rules);
    if let Some(p) = &input.patient_id {
        if !input.preview {
            v.add(
                "patient_id",
                "preview_only",
                "a committed run bills the whole location",
            );
        } else if uuid::Uuid::parse_str(p).is_err() {
            v.add("patient_id", "invalid", "must be a patient id");
        }
    }
    v.finish().map_err(Error::validation)?;
    let (Some(location), Some(period)) = (location, period) else {
        return Err(Error::internal(&"validation passed without values"));
    };
    let location = location.to_string();
    location_in_scope(&who, &location)?;
    if input.preview {
        let patient = input.patient_id;
        let drafts = input.draft_rules;
        let (computed, comparison, location) = state
            .db
            .read(move |conn| {
                billing_runs::preview(conn, &location, period, patient.as_deref(), &drafts)
                    .map(|(c, d)| (c, d, location))
            })
            .await?;
        let run = BillingRun {
            id: None,
            location_code: location,
            period: period.to_string(),
            preview: true,
            beneficiaries: computed.beneficiaries,
            care_records: computed.care_records,
            line_count: computed.lines.len(),
            totals: totals(&computed)?,
            problems: problems(&computed),
            lines: Some(lines(&computed)),
            comparison: comparison.map(RunComparison::from),
            created_by: None,
            created_at: None,
        };
        return Ok(HttpResponse::Ok().json(run));
    }
    let (run, new) = state
        .db
        .write(move |conn| billing_runs::commit(conn, &who, &location, period))
        .await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(BillingRun::from(run)))
}

/// Filters for the run list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// Runs of this location.
    pub location_code: Option<String>,
    /// Runs of this month (`YYYY-MM`).
    pub period: Option<String>,
}

/// List committed billing runs.
#[utoipa::path(get, path = "/v1/billing-runs", tag = "billing runs", params(RunFilter, PageParams),
    responses((status = 200, description = "A page of runs", body = Page<BillingRun>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_runs(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<RunFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<BillingRun>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let f = filter.into_inner();
    let scope = Scope::of(&who);
    let (found, page) = state
        .db
        .read(move |conn| {
            billing_runs::list(
                conn,
                &scope,
                f.location_code.as_deref(),
                f.period.as_deref(),
                page.after.as_deref(),
                page.limit + 1,
            )
            .map(|r| (r, page))
        })
        .await?;
    Ok(web::Json(
        Page::from_rows(found, &page, |r| r.id.clone()).map(BillingRun::from),
    ))
}

/// Get a committed billing run (totals and problems).
#[utoipa::path(get, path = "/v1/billing-runs/{id}", tag = "billing runs",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, description = "The run", body = BillingRun),
        (status = 404, description = "No such run in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_run(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<BillingRun>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "billing run")?;
    let scope = Scope::of(&who);
    let run = state
        .db
        .read(move |conn| billing_runs::find(conn, &scope, &id.to_string()))
        .await?;
    Ok(web::Json(run.into()))
}

/// Lines are paged by their number; cursors are opaque and id-shaped like every other list's.
fn line_cursor(line_no: i32) -> String {
    format!("00000000-0000-4000-8000-{line_no:012}")
}

fn line_no_of(cursor: &str) -> Option<i32> {
    cursor
        .strip_prefix("00000000-0000-4000-8000-")?
        .parse()
        .ok()
}

/// Filters for a run's lines.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LineFilter {
    /// Lines of this beneficiary.
    pub patient_id: Option<String>,
}

/// The lines of a committed run, in order, with their explanations.
#[utoipa::path(get, path = "/v1/billing-runs/{id}/lines", tag = "billing runs",
    params(("id" = String, Path, description = "Run id"), LineFilter, PageParams),
    responses((status = 200, description = "A page of lines", body = Page<BillingLine>),
        (status = 404, description = "No such run in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_run_lines(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
    filter: web::Query<LineFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<BillingLine>>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "billing run")?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    let after: Option<i32> = match &page.after {
        None => None,
        Some(a) => Some(
            line_no_of(a)
                .ok_or_else(|| Error::field("cursor", "invalid", "not a cursor of this list"))?,
        ),
    };
    let scope = Scope::of(&who);
    let (found, page) = state
        .db
        .read(move |conn| {
            billing_runs::lines(
                conn,
                &scope,
                &id.to_string(),
                filter.patient_id.as_deref(),
                after,
                page.limit + 1,
            )
            .map(|l| (l, page))
        })
        .await?;
    let page = Page::from_rows(found, &page, |(n, _)| line_cursor(*n));
    Ok(web::Json(page.map(|(_, l)| BillingLine::from(l))))
}
