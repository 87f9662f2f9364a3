//! Hours and timesheets over HTTP: carers (or the agency's hours system) register hours, singly
//! or in batches; a timesheet is submitted; the client approves or disputes each line through
//! an approval link (no bearer token: the link is the key) or at the portal.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::Validation;
use carebill_domain::agency::{
    HoursCounts, HoursStatus, MAX_HOURS_PER_REQUEST, MINUTES_PER_DAY, Shift, TimesheetStatus,
};
use carebill_platform::auth::{Principal, Role, request_id};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::service::approvals::{self, Decision};
use crate::service::timesheets::{self as service, NewHours};

/// Roles that register, change and submit hours (a carer token only their own).
const HOURS_WRITERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Integration,
    Role::Carer,
];
/// Roles that make approval links for the agency to send.
const LINK_MAKERS: &[Role] = &[Role::BillingManager, Role::Biller];

/// One line of hours as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hours {
    /// Id.
    pub id: String,
    /// Its timesheet (the placement's week or month of the date).
    pub timesheet_id: String,
    /// Its placement.
    pub placement_id: String,
    /// Its carer.
    pub carer_id: String,
    /// The date worked.
    pub date: NaiveDate,
    /// Start (`HH:MM`), when registered from–to.
    #[schema(example = "08:00")]
    pub start: Option<String>,
    /// End (`HH:MM`; `24:00` ends the day).
    #[schema(example = "12:30")]
    pub end: Option<String>,
    /// Minutes worked.
    #[schema(example = 270)]
    pub minutes: i64,
    /// Hours worked (minutes / 60).
    #[schema(value_type = String, example = "4.5")]
    pub hours: Decimal,
    /// Service type.
    #[schema(example = "PERSONAL-CARE")]
    pub service_type: String,
    /// The carer's notes.
    pub notes: Option<String>,
    /// `draft`, `submitted`, `approved` or `disputed`.
    pub status: HoursStatus,
    /// Why the client disputed it.
    pub dispute_reason: Option<String>,
    /// The decision that approved it (the `approval_id` of `timesheet.approved`).
    pub approval_id: Option<String>,
    /// Pushing system.
    pub source_system: Option<String>,
    /// Its id there.
    pub external_id: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<service::Hours> for Hours {
    fn from(h: service::Hours) -> Self {
        Hours {
            id: h.id.to_string(),
            timesheet_id: h.timesheet_id.to_string(),
            placement_id: h.placement_id.to_string(),
            carer_id: h.carer_id.to_string(),
            date: h.date,
            start: h.start,
            end: h.end,
            minutes: h.minutes,
            hours: h.hours,
            service_type: h.service_type,
            notes: h.notes,
            status: h.status,
            dispute_reason: h.dispute_reason,
            approval_id: h.approval_id,
            source_system: h.source_system,
            external_id: h.external_id,
            created_at: h.created_at,
            updated_at: h.updated_at,
        }
    }
}

/// How many lines are in each state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Counts {
    /// Draft.
    pub draft: i64,
    /// Waiting for the client.
    pub submitted: i64,
    /// Approved.
    pub approved: i64,
    /// Disputed, back with the carer.
    pub disputed: i64,
}

impl From<HoursCounts> for Counts {
    fn from(c: HoursCounts) -> Self {
        Counts {
            draft: c.draft,
            submitted: c.submitted,
            approved: c.approved,
            disputed: c.disputed,
        }
    }
}

/// A client's decision that approved lines of a timesheet.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimesheetApproval {
    /// Id (the `approval_id` of `timesheet.approved` and of the approved lines).
    pub id: String,
    /// Who approved: `approval-link:<address>` or the portal user.
    pub approved_by: String,
    /// When.
    pub approved_at: DateTime<Utc>,
    /// `released` (announced for invoicing) or `held`.
    #[schema(example = "released")]
    pub status: String,
    /// Why it is held.
    pub held_reason: Option<String>,
    /// The date its invoices carry, once released.
    pub invoice_date: Option<NaiveDate>,
}

/// A timesheet: a placement's hours of one week or month.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Timesheet {
    /// Id.
    pub id: String,
    /// The placement.
    pub placement_id: String,
    /// Its carer.
    pub carer_id: String,
    /// First day of the period.
    pub period_start: NaiveDate,
    /// Last day of the period.
    pub period_end: NaiveDate,
    /// `open`, `awaiting_approval` or `approved`.
    pub status: TimesheetStatus,
    /// Lines per state.
    pub counts: Counts,
    /// Minutes of all lines.
    pub minutes: i64,
    /// Hours of all lines.
    #[schema(value_type = String, example = "31.5")]
    pub hours: Decimal,
    /// Last submitted.
    pub submitted_at: Option<DateTime<Utc>>,
    /// When its last line was approved.
    pub approved_at: Option<DateTime<Utc>>,
    /// The lines, by date and start.
    pub lines: Vec<Hours>,
    /// The client's decisions that approved lines: `released` went to invoicing; `held` waits
    /// (see `held_reason`: the carer has no self-billing agreement on the invoice date) and is
    /// released when the carer's agreements are updated.
    pub approvals: Vec<TimesheetApproval>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<service::Timesheet> for Timesheet {
    fn from(t: service::Timesheet) -> Self {
        Timesheet {
            id: t.id.to_string(),
            placement_id: t.placement_id.to_string(),
            carer_id: t.carer_id.to_string(),
            period_start: t.period_start,
            period_end: t.period_end,
            status: t.status,
            counts: t.counts.into(),
            minutes: t.minutes,
            hours: carebill_domain::agency::hours_of(t.minutes),
            submitted_at: t.submitted_at,
            approved_at: t.approved_at,
            lines: t.lines.into_iter().map(Hours::from).collect(),
            approvals: t
                .approvals
                .into_iter()
                .map(|a| TimesheetApproval {
                    id: a.id,
                    approved_by: a.approved_by,
                    approved_at: a.approved_at,
                    status: a.status,
                    held_reason: a.held_reason,
                    invoice_date: a.invoice_date,
                })
                .collect(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// What a client sends to register (or change) a line of hours: from–to, or a duration.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursInput {
    /// The placement.
    pub placement_id: String,
    /// The date worked, within the placement's dates.
    pub date: NaiveDate,
    /// Start (`HH:MM`, the agency's local time), with `end`.
    #[schema(example = "08:00")]
    pub start: Option<String>,
    /// End (`HH:MM`, after the start on the same date; `24:00` ends the day), with `start`.
    #[schema(example = "12:30")]
    pub end: Option<String>,
    /// Minutes worked, when no `start` and `end` are given (1 to 1440); with them it must
    /// equal their span.
    #[schema(example = 270)]
    pub minutes: Option<i64>,
    /// The service type: one the placement has a tariff for.
    #[schema(example = "PERSONAL-CARE")]
    pub service_type: String,
    /// Notes (at most 500 characters).
    pub notes: Option<String>,
    /// The hours system that pushes the line, with `external_id`: a repeated push answers the
    /// line it made.
    pub source_system: Option<String>,
    /// The line's id in that system.
    pub external_id: Option<String>,
}

impl HoursInput {
    /// Validates every field.
    pub fn validate(self) -> Result<NewHours, Error> {
        let mut v = Validation::new();
        let placement_id = v.check(
            "placement_id",
            "invalid",
            self.placement_id
                .parse::<uuid::Uuid>()
                .map(|u| u.to_string())
                .map_err(|_| "must be a placement id"),
        );
        let shift = match (&self.start, &self.end) {
            (Some(s), Some(e)) => v.check("end", "invalid", Shift::parse(s, e)),
            (None, None) => None,
            _ => {
                v.add("start", "invalid", "give both start and end, or neither");
                None
            }
        };
        let minutes = match (shift, self.minutes) {
            (Some(s), None) => Some(s.minutes()),
            (Some(s), Some(m)) if m == i64::from(s.minutes()) => Some(s.minutes()),
            (Some(s), Some(_)) => {
                v.add(
                    "minutes",
                    "invalid",
                    format!("the shift is {} minutes", s.minutes()),
                );
                None
            }
            (None, Some(m)) if m <= 0 => {
                v.add("minutes", "not_positive", "must be above zero");
                None
            }
            (None, Some(m)) if m > i64::from(MINUTES_PER_DAY) => {
                v.add("minutes", "over_24_hours", "a day has 1440 minutes");
                None
            }
            (None, Some(m)) => u16::try_from(m).ok(),
            (None, None) => {
                if self.start.is_none() && self.end.is_none() {
                    v.add("minutes", "required", "give start and end, or minutes");
                }
                None
            }
        };
        let service_type = v.check(
            "service_type",
            "invalid",
            carebill_domain::Code::parse(&self.service_type),
        );
        let notes = v.opt_text("notes", self.notes.as_deref(), 500);
        let external = match (&self.source_system, &self.external_id) {
            (Some(s), Some(e)) => {
                let s = v.text("source_system", s, 100);
                let e = v.text("external_id", e, 200);
                s.zip(e)
            }
            (None, None) => None,
            _ => {
                v.add(
                    "external_id",
                    "invalid",
                    "give both source_system and external_id, or neither",
                );
                None
            }
        };
        v.finish().map_err(Error::validation)?;
        match (placement_id, minutes, service_type) {
            (Some(placement_id), Some(minutes), Some(service_type)) => Ok(NewHours {
                placement_id,
                date: self.date,
                shift,
                minutes,
                service_type: service_type.as_str().to_owned(),
                notes,
                external,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// A batch of lines of hours.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursBatchInput {
    /// The lines (1 to 500), each as `POST /v1/hours` takes it.
    #[schema(value_type = Vec<HoursInput>)]
    pub items: Vec<serde_json::Value>,
}

/// The result of one line of a batch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoursItemResult {
    /// Position in `items`.
    pub index: usize,
    /// The line, when registered (or already registered under its external id).
    pub hours: Option<Hours>,
    /// Why it was refused.
    pub problem: Option<Problem>,
}

/// The result of a batch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HoursBatchResult {
    /// Lines registered (or found registered).
    pub registered: usize,
    /// Lines refused.
    pub rejected: usize,
    /// One result per line, in order.
    pub results: Vec<HoursItemResult>,
}

/// One decision of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    /// Approve the line.
    Approve,
    /// Dispute it (a reason is required); it goes back to the carer.
    Dispute,
}

/// A client's decision on one submitted line.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    /// The line.
    pub hours_id: String,
    /// `approve` or `dispute`.
    pub decision: DecisionKind,
    /// Why, for a dispute (at most 500 characters).
    #[schema(example = "I was away that afternoon")]
    pub reason: Option<String>,
}

/// A client's review of a submitted timesheet: every waiting line approved, or a decision per
/// line (lines not named keep waiting).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// Approve every line that waits.
    #[serde(default)]
    pub approve_all: bool,
    /// Decisions per line (at most 500).
    #[serde(default)]
    pub decisions: Vec<DecisionInput>,
}

impl ReviewInput {
    fn validate(self) -> Result<(Vec<(String, Decision)>, bool), Error> {
        let mut v = Validation::new();
        if self.approve_all && !self.decisions.is_empty() {
            v.add(
                "decisions",
                "invalid",
                "give approve_all or decisions, not both",
            );
        }
        if !self.approve_all && self.decisions.is_empty() {
            v.add(
                "decisions",
                "required",
                "give approve_all or at least one decision",
            );
        }
        if self.decisions.len() > MAX_HOURS_PER_REQUEST {
            return Err(Error::too_large(format!(
                "at most {MAX_HOURS_PER_REQUEST} decisions, this review has {}",
                self.decisions.len()
            )));
        }
        let mut out = Vec::with_capacity(self.decisions.len());
        for (i, d) in self.decisions.into_iter().enumerate() {
            let decision = match d.decision {
                DecisionKind::Approve => Some(Decision::Approve),
                DecisionKind::Dispute => v
                    .text(
                        &format!("decisions.{i}.reason"),
                        d.reason.as_deref().unwrap_or(""),
                        500,
                    )
                    .map(Decision::Dispute),
            };
            if let Some(decision) = decision {
                out.push((d.hours_id, decision));
            }
        }
        v.finish().map_err(Error::validation)?;
        Ok((out, self.approve_all))
    }
}

/// What a client sees of a timesheet to approve.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimesheetForApproval {
    /// The agency.
    #[schema(example = "Zorgbemiddeling Utrecht")]
    pub agency: String,
    /// The carer.
    #[schema(example = "Anouk de Vries")]
    pub carer: String,
    /// The placement's reference.
    pub placement_reference: String,
    /// The timesheet with its lines.
    pub timesheet: Timesheet,
}

impl From<approvals::ForApproval> for TimesheetForApproval {
    fn from(a: approvals::ForApproval) -> Self {
        TimesheetForApproval {
            agency: a.agency_name,
            carer: a.carer_name,
            placement_reference: a.placement_reference,
            timesheet: a.timesheet.into(),
        }
    }
}

/// An approval link just made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApprovalLink {
    /// Opens the timesheet for the client, without a bearer token (shown once).
    pub url: String,
    /// The placement's approver.
    pub sent_to: String,
    /// When it stops opening.
    pub expires_at: DateTime<Utc>,
}

/// Filters for the timesheet list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TimesheetFilter {
    /// Only this placement's.
    pub placement_id: Option<String>,
    /// Only this carer's.
    pub carer_id: Option<String>,
    /// Only in this status.
    pub status: Option<TimesheetStatus>,
    /// Periods ending on or after this day.
    pub from: Option<NaiveDate>,
    /// Periods starting on or before this day.
    pub to: Option<NaiveDate>,
}

/// Register a line of hours (a draft in its week's or month's timesheet).
#[utoipa::path(post, path = "/v1/hours", tag = "agency", request_body = HoursInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Registered", body = Hours),
        (status = 409, description = "The external id was registered with other content", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; outside the placement's dates; no tariff for the service type; overlapping hours; a day above 24 hours", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn register_hours(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<HoursInput>,
) -> Result<Reply, Error> {
    who.require(HOURS_WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::register(conn, &who, input).map(Hours::from)
            })
        })
        .await
}

/// Register up to 500 lines of hours from an hours system; each line is answered on its own.
#[utoipa::path(post, path = "/v1/hours/batch", tag = "agency", request_body = HoursBatchInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 200, description = "One result per line: the line, or the problem", body = HoursBatchResult),
        (status = 413, description = "More than 500 lines", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No lines", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn register_hours_batch(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<HoursBatchInput>,
) -> Result<Reply, Error> {
    who.require(HOURS_WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let items = body.value.items;
    if items.is_empty() {
        return Err(Error::field("items", "required", "at least one line"));
    }
    if items.len() > MAX_HOURS_PER_REQUEST {
        return Err(Error::too_large(format!(
            "a batch holds at most {MAX_HOURS_PER_REQUEST} lines, this one has {}",
            items.len()
        )));
    }
    let parsed: Vec<Result<NewHours, Error>> = items
        .into_iter()
        .map(|v| {
            serde_json::from_value::<HoursInput>(v)
                .map_err(|e| Error::field("item", "invalid", e.to_string()))
                .and_then(HoursInput::validate)
        })
        .collect();
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                let mut results = Vec::with_capacity(parsed.len());
                for (index, item) in parsed.into_iter().enumerate() {
                    // Each line in a savepoint of its own: a refused line leaves the others.
                    let outcome = item.and_then(|h| service::register(conn, &who, h));
                    results.push(match outcome {
                        Ok(h) => HoursItemResult {
                            index,
                            hours: Some(h.into()),
                            problem: None,
                        },
                        Err(e)
                            if e.code() == ErrorCode::Unavailable
                                || e.code() == ErrorCode::Internal =>
                        {
                            return Err(e);
                        }
                        Err(e) => HoursItemResult {
                            index,
                            hours: None,
                            problem: Some(e.problem()),
                        },
                    });
                }
                let registered = results.iter().filter(|r| r.hours.is_some()).count();
                Ok(HoursBatchResult {
                    registered,
                    rejected: results.len() - registered,
                    results,
                })
            })
        })
        .await?;
    Ok(reply)
}

/// Get a line of hours.
#[utoipa::path(get, path = "/v1/hours/{id}", tag = "agency",
    params(("id" = String, Path, description = "Hours id")),
    responses((status = 200, description = "The line", body = Hours),
        (status = 404, description = "No such line in your reach", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_hours(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Hours>, Error> {
    who.require(HOURS_WRITERS)?;
    let id: uuid::Uuid = parse_id(&id, "hours")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get_hours(conn, &who, &id.to_string()))
            .await?
            .into(),
    ))
}

/// Change a draft or disputed line (it becomes a draft, to be submitted again).
#[utoipa::path(put, path = "/v1/hours/{id}", tag = "agency", request_body = HoursInput,
    params(("id" = String, Path, description = "Hours id")),
    responses((status = 200, description = "Changed", body = Hours),
        (status = 404, description = "No such line in your reach", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Submitted or approved: not editable", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, as for registering", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn change_hours(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<HoursInput>,
) -> Result<web::Json<Hours>, Error> {
    who.require(HOURS_WRITERS)?;
    let id: uuid::Uuid = parse_id(&id, "hours")?;
    let input = body.parse()?.value.validate()?;
    Ok(web::Json(
        state
            .db
            .write(move |conn| service::change(conn, &who, &id.to_string(), input))
            .await?
            .into(),
    ))
}

/// Remove a draft or disputed line.
#[utoipa::path(delete, path = "/v1/hours/{id}", tag = "agency",
    params(("id" = String, Path, description = "Hours id")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such line in your reach", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Submitted or approved: not editable", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn remove_hours(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(HOURS_WRITERS)?;
    let id: uuid::Uuid = parse_id(&id, "hours")?;
    state
        .db
        .write(move |conn| service::remove(conn, &who, &id.to_string()))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// List timesheets (a carer sees only their own).
#[utoipa::path(get, path = "/v1/timesheets", tag = "agency", params(TimesheetFilter, PageParams),
    responses((status = 200, description = "A page of timesheets with their lines", body = Page<Timesheet>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_timesheets(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<TimesheetFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Timesheet>>, Error> {
    who.require(HOURS_WRITERS)?;
    let page = page.parse()?;
    let f = filter.into_inner();
    let f = service::TimesheetFilter {
        placement_id: f.placement_id,
        carer_id: f.carer_id,
        status: f.status,
        from: f.from,
        to: f.to,
    };
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &who, &f, &page))
            .await?
            .map(Timesheet::from),
    ))
}

/// Get a timesheet with its lines.
#[utoipa::path(get, path = "/v1/timesheets/{id}", tag = "agency",
    params(("id" = String, Path, description = "Timesheet id")),
    responses((status = 200, description = "The timesheet", body = Timesheet),
        (status = 404, description = "No such timesheet in your reach", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_timesheet(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Timesheet>, Error> {
    who.require(HOURS_WRITERS)?;
    let id: uuid::Uuid = parse_id(&id, "timesheet")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &who, &id.to_string()))
            .await?
            .into(),
    ))
}

/// Submit a timesheet's draft lines for the client's approval.
#[utoipa::path(post, path = "/v1/timesheets/{id}/submit", tag = "agency",
    params(("id" = String, Path, description = "Timesheet id")),
    responses((status = 200, description = "Submitted: the drafts wait for the client", body = Timesheet),
        (status = 404, description = "No such timesheet in your reach", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No draft lines (`nothing_to_submit`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn submit_timesheet(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Timesheet>, Error> {
    who.require(HOURS_WRITERS)?;
    let id: uuid::Uuid = parse_id(&id, "timesheet")?;
    Ok(web::Json(
        state
            .db
            .write(move |conn| service::submit(conn, &who, &id.to_string()))
            .await?
            .into(),
    ))
}

/// Make a link that opens a waiting timesheet for its approver, for the agency to send.
#[utoipa::path(post, path = "/v1/timesheets/{id}/approval-links", tag = "agency",
    params(("id" = String, Path, description = "Timesheet id")),
    responses((status = 201, description = "The link (its URL shown once)", body = ApprovalLink),
        (status = 404, description = "No such timesheet in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing waits for approval (`not_open`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn make_approval_link(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(LINK_MAKERS)?;
    let id: uuid::Uuid = parse_id(&id, "timesheet")?;
    let (base, hours) = (state.channels.portal_url.clone(), state.channels.link_hours);
    let link = state
        .db
        .write(move |conn| approvals::make_link(conn, &who, &id.to_string(), &base, hours))
        .await?;
    Ok(HttpResponse::Created().json(ApprovalLink {
        url: link.url,
        sent_to: link.sent_to,
        expires_at: link.expires_at,
    }))
}

/// Review a timesheet at the portal: a patient token of the placement's client, or a payer
/// token of the organisation that is the client.
#[utoipa::path(post, path = "/v1/timesheets/{id}/review", tag = "agency", request_body = ReviewInput,
    params(("id" = String, Path, description = "Timesheet id")),
    responses((status = 200, description = "Decided; approved lines go to invoicing", body = TimesheetForApproval),
        (status = 404, description = "Not a timesheet of your placements", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A line was decided already (`already_decided`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or draft lines, a dispute without reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn review_timesheet(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<ReviewInput>,
) -> Result<web::Json<TimesheetForApproval>, Error> {
    who.require(&[Role::Patient, Role::Payer])?;
    let id: uuid::Uuid = parse_id(&id, "timesheet")?;
    // Another client's timesheet answers 404 before the body is read.
    let asker = who.clone();
    state
        .db
        .read(move |conn| approvals::client_sheet(conn, &asker, &id.to_string()))
        .await?;
    let (decisions, all) = body.parse()?.value.validate()?;
    let out = state
        .db
        .write(move |conn| approvals::review_at_portal(conn, &who, &id.to_string(), decisions, all))
        .await?;
    state.wake.notify_one();
    Ok(web::Json(out.into()))
}

fn invalid_link() -> Error {
    Error::new(
        ErrorCode::InvalidLink,
        "this link does not open a timesheet",
    )
}

/// Open a timesheet by its approval link, without a bearer token. An unknown, expired or
/// revoked link answers 401 and nothing more.
#[utoipa::path(get, path = "/v1/timesheet-approvals/{token}", tag = "agency",
    params(("token" = String, Path, description = "The token of the link's URL")),
    responses((status = 200, description = "The timesheet to approve", body = TimesheetForApproval),
        (status = 401, description = "Unknown, expired or revoked (`invalid_link`)", body = Problem, content_type = "application/problem+json")),
    security(()))]
#[tracing::instrument(skip_all)]
pub async fn open_approval(
    state: web::Data<AccountsState>,
    token: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let token = token.into_inner();
    if token.len() > 100 {
        return Err(invalid_link());
    }
    let out = state
        .db
        .read(move |conn| approvals::open_link(conn, &token))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "private, no-store"))
        .json(TimesheetForApproval::from(out)))
}

/// Approve or dispute the lines of a timesheet by its approval link, without a bearer token.
#[utoipa::path(post, path = "/v1/timesheet-approvals/{token}", tag = "agency", request_body = ReviewInput,
    params(("token" = String, Path, description = "The token of the link's URL")),
    responses((status = 200, description = "Decided; approved lines go to invoicing", body = TimesheetForApproval),
        (status = 401, description = "Unknown, expired or revoked (`invalid_link`)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A line was decided already (`already_decided`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown or draft lines, a dispute without reason", body = Problem, content_type = "application/problem+json")),
    security(()))]
#[tracing::instrument(skip_all)]
pub async fn review_by_link(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    token: web::Path<String>,
    body: JsonBody<ReviewInput>,
) -> Result<HttpResponse, Error> {
    let token = token.into_inner();
    if token.len() > 100 {
        return Err(invalid_link());
    }
    let (decisions, all) = body.parse()?.value.validate()?;
    let rid = request_id(&req);
    let out = state
        .db
        .write(move |conn| approvals::review_by_link(conn, &token, rid, decisions, all))
        .await?;
    state.wake.notify_one();
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "private, no-store"))
        .json(TimesheetForApproval::from(out)))
}
