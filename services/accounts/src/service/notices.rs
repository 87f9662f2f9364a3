//! Agency notices (seed 004): the e-mail that asks a client to approve submitted hours (with an
//! approval link), a reminder to a client who has not decided after
//! `agency.approval_reminder_days`, and a reminder to a carer who submitted nothing for a period
//! `agency.hours_deadline_days` after it ended.
//!
//! A notice is queued once (a unique key: per submission, or per placement and period) in the
//! transaction that causes it (a submission) or by a pass that looks for what is due; the sender
//! takes queued notices one at a time: it claims the notice (`sending`, one attempt more), makes
//! a fresh approval link where the notice carries one (only its hash is kept), sends, and
//! records the outcome. A temporary failure queues the notice again after a backoff until
//! [`MAX_ATTEMPTS`]; a permanent one fails it. A notice claimed by a process that stopped before
//! recording the outcome stays `sending` and is never sent again by itself.

use std::collections::HashMap;

use carebill_domain::agency::{AgencyNoticeKind, AgencyNoticeStatus, hours_of};
use carebill_domain::dunning::{MAX_ATTEMPTS, backoff};
use carebill_domain::ids::TimesheetId;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection, Db};
use carebill_platform::http::{Page, PageRequest, link_token};
use carebill_platform::outbound::SendError;
use carebill_platform::outbound::mail::{Email, Mailer};
use carebill_platform::{Error, audit};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;

use crate::service::placements::Placement;
use crate::service::{carers, location_codes, locations};
pub use crate::store::notices::NoticeFilter;
use crate::store::notices::{self as store, NoticeRow};
use crate::store::placements as placement_store;
use crate::store::timesheets::{self as sheet_store, LinkRow, TimesheetRow};

/// When reminders are due.
#[derive(Debug, Clone, Copy)]
pub struct NoticeSettings {
    /// Days after a period ends by which its hours must be submitted.
    pub hours_deadline_days: u32,
    /// Days after submission before the client is reminded.
    pub approval_reminder_days: u32,
}

/// What the sender needs: the mail server (none: notices wait), and what links look like.
#[derive(Debug, Clone)]
pub struct Channels {
    /// E-mail.
    pub mail: Option<Mailer>,
    /// The public base URL approval links start with.
    pub portal_url: String,
    /// Hours an approval link opens its timesheet.
    pub link_hours: u32,
}

/// A notice as the use cases and the API see it.
#[derive(Debug, Clone, Serialize)]
pub struct Notice {
    /// Id.
    pub id: String,
    /// What it is.
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
    /// Where it stands.
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

impl Notice {
    fn read(r: NoticeRow) -> Result<Notice, Error> {
        Ok(Notice {
            kind: r.kind.parse().map_err(|e: String| Error::internal(&e))?,
            status: r.status.parse().map_err(|e: String| Error::internal(&e))?,
            id: r.id,
            placement_id: r.placement_id,
            carer_id: r.carer_id,
            timesheet_id: r.timesheet_id,
            period_start: r.period_start,
            period_end: r.period_end,
            recipient: r.recipient,
            attempts: r.attempts,
            not_before: r.not_before.and_utc(),
            last_error: r.last_error,
            message_id: r.message_id,
            sent_at: r.sent_at.map(|t| t.and_utc()),
            created_at: r.created_at.and_utc(),
        })
    }
}

fn row(
    kind: AgencyNoticeKind,
    key: String,
    p: &Placement,
    sheet: Option<&TimesheetRow>,
    period: (NaiveDate, NaiveDate),
    recipient: &str,
    now: NaiveDateTime,
) -> NoticeRow {
    NoticeRow {
        id: uuid::Uuid::now_v7().to_string(),
        kind: kind.as_str().to_owned(),
        dedupe_key: key,
        location_code: p.location_code.clone(),
        placement_id: p.id.to_string(),
        carer_id: p.carer_id.to_string(),
        timesheet_id: sheet.map(|s| s.id.to_string()),
        period_start: period.0,
        period_end: period.1,
        recipient: recipient.to_owned(),
        status: AgencyNoticeStatus::Queued.as_str().to_owned(),
        attempts: 0,
        not_before: now,
        last_error: None,
        message_id: None,
        sent_at: None,
        created_at: now,
    }
}

/// Queues the e-mail asking the placement's approver to decide on a submission.
pub(crate) fn queue_approval_request(
    conn: &mut AnyConnection,
    p: &Placement,
    sheet: &TimesheetRow,
    submitted_at: NaiveDateTime,
) -> Result<(), Error> {
    let key = format!(
        "approval_request:{}:{}",
        sheet.id,
        submitted_at.and_utc().timestamp_micros()
    );
    store::insert(
        conn,
        vec![row(
            AgencyNoticeKind::ApprovalRequest,
            key,
            p,
            Some(sheet),
            (sheet.period_start, sheet.period_end),
            &p.approver.email,
            submitted_at,
        )],
    )?;
    Ok(())
}

/// Makes an approval link of a timesheet for `sent_to`: the URL (its token shown once) and the
/// stored link.
pub(crate) fn new_link(
    conn: &mut AnyConnection,
    timesheet_id: TimesheetId,
    sent_to: &str,
    base_url: &str,
    hours: u32,
) -> Result<(String, LinkRow), Error> {
    let (token, hash) = link_token();
    let now = db::now();
    let link = LinkRow {
        id: uuid::Uuid::now_v7().to_string(),
        timesheet_id,
        token_hash: hash,
        sent_to: sent_to.to_owned(),
        expires_at: now + Duration::hours(i64::from(hours)),
        revoked_at: None,
        created_at: now,
    };
    sheet_store::insert_link(conn, link.clone())?;
    Ok((
        format!(
            "{}/v1/timesheet-approvals/{token}",
            base_url.trim_end_matches('/')
        ),
        link,
    ))
}

/// Queues the reminders due at `now`: carers who submitted nothing for their placement's due
/// period, clients who have not decided on hours submitted long enough ago. How many were new.
#[tracing::instrument(skip_all)]
pub fn queue_due(
    conn: &mut AnyConnection,
    settings: NoticeSettings,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let everything = Scope::everything();
    let mut today_at: HashMap<String, NaiveDate> = HashMap::new();
    let mut today = |conn: &mut AnyConnection, p: &Placement| -> Result<NaiveDate, Error> {
        let key = p.location_id.to_string();
        if let Some(d) = today_at.get(&key) {
            return Ok(*d);
        }
        let location = locations::get(conn, &everything, &key)?;
        let d = carebill_domain::invoicing::issue_date(now, &location.time_zone)
            .map_err(|e| Error::internal(&e))?;
        today_at.insert(key, d);
        Ok(d)
    };
    let stamp = now.naive_utc();
    let mut rows = Vec::new();

    // Hours not submitted: the period whose deadline passed last, for placements running then.
    let utc_today = now.date_naive();
    let candidates = placement_store::running(conn, utc_today - Duration::days(100), utc_today)?;
    let mut due = Vec::new();
    for r in candidates {
        let p = Placement::read(r)?;
        let day = today(conn, &p)?;
        let (start, end) = p.period.due(day, settings.hours_deadline_days);
        if p.valid_from <= end && p.valid_to.is_none_or(|to| start <= to) {
            due.push((p, (start, end)));
        }
    }
    let mut starts: Vec<NaiveDate> = due.iter().map(|(_, (s, _))| *s).collect();
    starts.sort();
    starts.dedup();
    let submitted: std::collections::HashSet<(String, NaiveDate)> =
        sheet_store::submitted_periods(conn, &starts)?
            .into_iter()
            .collect();
    let mut emails: HashMap<String, Option<String>> = HashMap::new();
    for (p, period) in due {
        if submitted.contains(&(p.id.to_string(), period.0)) {
            continue;
        }
        let carer_id = p.carer_id.to_string();
        let email = match emails.get(&carer_id) {
            Some(e) => e.clone(),
            None => {
                let e = carers::get(conn, &everything, &carer_id)?.email;
                emails.insert(carer_id.clone(), e.clone());
                e
            }
        };
        let Some(email) = email else {
            tracing::info!(
                carer_id,
                "a carer without an e-mail address is not reminded of hours"
            );
            continue;
        };
        let key = format!("hours_missing:{}:{}", p.id, period.0);
        rows.push(row(
            AgencyNoticeKind::HoursMissing,
            key,
            &p,
            None,
            period,
            &email,
            stamp,
        ));
    }

    // Hours waiting for the client.
    let before = stamp - Duration::days(i64::from(settings.approval_reminder_days));
    for sheet in sheet_store::waiting_since(conn, before)? {
        let Some(submitted_at) = sheet.submitted_at else {
            continue;
        };
        let p = Placement::read(
            placement_store::find(conn, None, &sheet.placement_id.to_string())?
                .ok_or_else(|| Error::not_found("placement"))?,
        )?;
        let key = format!(
            "approval_reminder:{}:{}",
            sheet.id,
            submitted_at.and_utc().timestamp_micros()
        );
        rows.push(row(
            AgencyNoticeKind::ApprovalReminder,
            key,
            &p,
            Some(&sheet),
            (sheet.period_start, sheet.period_end),
            &p.approver.email,
            stamp,
        ));
    }
    store::insert(conn, rows)
}

/// What one pass of the sender did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DispatchSummary {
    /// Reminders newly queued by this pass.
    pub queued: usize,
    /// Accepted by the mail server.
    pub sent: usize,
    /// Queued again after a temporary failure.
    pub retrying: usize,
    /// Failed for good.
    pub failed: usize,
}

/// One pass: queues what is due, then sends the queued notices whose time has come (at most
/// `limit`). Without a mail server nothing is sent; the notices wait.
pub async fn dispatch(
    db: &Db,
    channels: &Channels,
    settings: NoticeSettings,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<DispatchSummary, Error> {
    let mut summary = DispatchSummary {
        queued: db.write(move |conn| queue_due(conn, settings, now)).await?,
        ..DispatchSummary::default()
    };
    let Some(mail) = &channels.mail else {
        return Ok(summary);
    };
    let due = db
        .read(move |conn| store::due(conn, now.naive_utc(), limit))
        .await?;
    for n in due {
        let (id, tried) = (n.id.clone(), n.attempts);
        let ch = channels.clone();
        let composed = db
            .write(move |conn| {
                if !store::claim(conn, &id, tried)? {
                    return Ok(None);
                }
                compose(conn, &n, &ch).map(Some)
            })
            .await;
        let email = match composed {
            Ok(Some(e)) => e,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "an agency notice could not be composed");
                return Err(e);
            }
        };
        let attempt = tried + 1;
        let result = mail.send(&email).await;
        let id = email.id.clone();
        let sent_now = db::now();
        let (status, not_before, error, message_id, sent_at) = match &result {
            Ok(m) => (
                AgencyNoticeStatus::Sent,
                None,
                None,
                Some(m.clone()),
                Some(sent_now),
            ),
            Err(e) if e.is_transient() && i64::from(attempt) < MAX_ATTEMPTS => (
                AgencyNoticeStatus::Queued,
                Some((now + backoff(i64::from(attempt))).naive_utc()),
                Some(e.to_string()),
                None,
                None,
            ),
            Err(
                e @ (SendError::Transient(_) | SendError::Permanent(_) | SendError::Refused(_)),
            ) => (
                AgencyNoticeStatus::Failed,
                None,
                Some(e.to_string()),
                None,
                None,
            ),
        };
        match status {
            AgencyNoticeStatus::Sent => summary.sent += 1,
            AgencyNoticeStatus::Queued => summary.retrying += 1,
            _ => summary.failed += 1,
        }
        db.write(move |conn| {
            store::record(
                conn,
                &id,
                status.as_str(),
                not_before,
                error.as_deref(),
                message_id.as_deref(),
                sent_at,
            )
        })
        .await?;
    }
    Ok(summary)
}

/// The e-mail of a notice just claimed (approval notices get a fresh link).
fn compose(conn: &mut AnyConnection, n: &NoticeRow, ch: &Channels) -> Result<Email, Error> {
    let everything = Scope::everything();
    let p = Placement::read(
        placement_store::find(conn, None, &n.placement_id)?
            .ok_or_else(|| Error::not_found("placement"))?,
    )?;
    let carer = carers::get(conn, &everything, &n.carer_id)?;
    let agency = locations::get(conn, &everything, &p.location_id.to_string())?;
    let period = format!("{} to {}", n.period_start, n.period_end);
    let kind: AgencyNoticeKind = n.kind.parse().map_err(|e: String| Error::internal(&e))?;
    let (subject, text) = match kind {
        AgencyNoticeKind::HoursMissing => (
            format!("Your hours for {period} are missing"),
            format!(
                "Dear {},\n\nWe have no submitted hours for placement {} for the period {period}.\n\
                 Please register and submit them, so that your invoice can be made.\n\n{}\n",
                carer.name, p.reference, agency.name
            ),
        ),
        AgencyNoticeKind::ApprovalRequest | AgencyNoticeKind::ApprovalReminder => {
            let sheet_id = n
                .timesheet_id
                .as_deref()
                .ok_or_else(|| Error::internal(&"an approval notice without its timesheet"))?;
            let sheet = sheet_store::find(conn, None, sheet_id)?
                .ok_or_else(|| Error::not_found("timesheet"))?;
            let lines = sheet_store::hours_of(conn, sheet_id)?;
            let waiting: Vec<_> = lines
                .iter()
                .filter(|l| l.status == carebill_domain::agency::HoursStatus::Submitted)
                .collect();
            let minutes: i64 = waiting.iter().map(|l| i64::from(l.minutes)).sum();
            let (url, link) =
                new_link(conn, sheet.id, &n.recipient, &ch.portal_url, ch.link_hours)?;
            audit::record(
                conn,
                &super::system(),
                "create",
                "approval_link",
                &link.id,
                serde_json::json!({ "timesheet_id": sheet_id, "sent_to": link.sent_to, "notice_id": n.id }),
                None,
            )?;
            let (subject, opening) = if kind == AgencyNoticeKind::ApprovalRequest {
                (
                    format!("Hours of {} to approve ({period})", carer.name),
                    format!("{} registered hours for you", carer.name),
                )
            } else {
                (
                    format!(
                        "Reminder: hours of {} still wait for your approval ({period})",
                        carer.name
                    ),
                    format!(
                        "Hours that {} registered for you still wait for your decision",
                        carer.name
                    ),
                )
            };
            (
                subject,
                format!(
                    "Dear {},\n\n{opening} in the period {period}: {} hours on {} lines.\n\
                     Please approve them, or dispute a line with the reason, here:\n\n{url}\n\n\
                     The link works until {} (UTC).\n\n{}\n",
                    p.approver.name,
                    hours_of(minutes),
                    waiting.len(),
                    link.expires_at.format("%Y-%m-%d %H:%M"),
                    agency.name
                ),
            )
        }
    };
    Ok(Email {
        to: n.recipient.clone(),
        subject,
        text,
        id: n.id.clone(),
        attachments: Vec::new(),
    })
}

/// A page of notices in the caller's locations, newest first.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &NoticeFilter,
    page: &PageRequest,
) -> Result<Page<Notice>, Error> {
    let allowed = location_codes(scope);
    let rows = store::page(conn, allowed.as_deref(), f, page)?;
    Page::from_rows(rows, page, |r| r.id.clone()).try_map(Notice::read)
}
