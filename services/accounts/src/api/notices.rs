//! Agency notices over HTTP: what was (or will be) e-mailed to carers and clients, and a pass
//! of the sender on demand.

use actix_web::web;
use carebill_domain::agency::{AgencyNoticeKind, AgencyNoticeStatus};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::http::{Page, PageParams};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::service::notices as service;

/// An approval e-mail or a reminder.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgencyNotice {
    /// Id (the e-mail's `Message-ID` is made from it).
    pub id: String,
    /// `approval_request`, `approval_reminder` or `hours_missing`.
    pub kind: AgencyNoticeKind,
    /// The placement.
    pub placement_id: String,
    /// Its carer.
    pub carer_id: String,
    /// The timesheet, for approval notices.
    pub timesheet_id: Option<String>,
    /// The period's first day.
    pub period_start: NaiveDate,
    /// Its last day.
    pub period_end: NaiveDate,
    /// The address.
    pub recipient: String,
    /// `queued`, `sending`, `sent` or `failed`.
    pub status: AgencyNoticeStatus,
    /// Attempts so far.
    pub attempts: i32,
    /// Not sent before.
    pub not_before: DateTime<Utc>,
    /// The last failure.
    pub last_error: Option<String>,
    /// The mail server's message id.
    pub message_id: Option<String>,
    /// When the mail server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// Queued.
    pub created_at: DateTime<Utc>,
}

impl From<service::Notice> for AgencyNotice {
    fn from(n: service::Notice) -> Self {
        AgencyNotice {
            id: n.id,
            kind: n.kind,
            placement_id: n.placement_id,
            carer_id: n.carer_id,
            timesheet_id: n.timesheet_id,
            period_start: n.period_start,
            period_end: n.period_end,
            recipient: n.recipient,
            status: n.status,
            attempts: n.attempts,
            not_before: n.not_before,
            last_error: n.last_error,
            message_id: n.message_id,
            sent_at: n.sent_at,
            created_at: n.created_at,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NoticeDispatch {
    /// Reminders newly queued.
    pub queued: usize,
    /// Accepted by the mail server.
    pub sent: usize,
    /// Queued again after a temporary failure.
    pub retrying: usize,
    /// Failed for good.
    pub failed: usize,
}

/// Filters for the notice list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NoticeFilter {
    /// Only of this kind.
    pub kind: Option<AgencyNoticeKind>,
    /// Only in this status.
    pub status: Option<AgencyNoticeStatus>,
    /// Only to or about this carer.
    pub carer_id: Option<String>,
    /// Only about this timesheet.
    pub timesheet_id: Option<String>,
}

const READERS: &[Role] = &[Role::BillingManager, Role::Biller];

/// List agency notices, newest first.
#[utoipa::path(get, path = "/v1/agency-notices", tag = "agency", params(NoticeFilter, PageParams),
    responses((status = 200, description = "A page of notices", body = Page<AgencyNotice>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_notices(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<NoticeFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<AgencyNotice>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let f = filter.into_inner();
    let f = service::NoticeFilter {
        kind: f.kind.map(|k| k.as_str().to_owned()),
        status: f.status.map(|s| s.as_str().to_owned()),
        carer_id: f.carer_id,
        timesheet_id: f.timesheet_id,
    };
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &scope, &f, &page))
            .await?
            .map(AgencyNotice::from),
    ))
}

/// Queue the reminders that are due and send the queued notices now, as the background sender
/// does every `agency.dispatch_interval_secs`.
#[utoipa::path(post, path = "/v1/agency-notices/dispatch", tag = "agency",
    responses((status = 200, description = "What the pass did", body = NoticeDispatch)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn dispatch_notices(
    state: web::Data<AccountsState>,
    who: Principal,
) -> Result<web::Json<NoticeDispatch>, Error> {
    who.require(&[Role::BillingManager])?;
    who.require_unscoped("sending every location's agency notices")?;
    let s = service::dispatch(&state.db, &state.channels, state.notices, Utc::now(), 500).await?;
    Ok(web::Json(NoticeDispatch {
        queued: s.queued,
        sent: s.sent,
        retrying: s.retrying,
        failed: s.failed,
    }))
}
