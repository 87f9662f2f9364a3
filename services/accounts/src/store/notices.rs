//! The `agency_notices` table: approval e-mails and reminders, each at most once (a unique
//! key), claimed by one sender at a time, with their attempts and outcome.

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::agency_notices;

/// A notice as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agency_notices)]
pub struct NoticeRow {
    /// Id.
    pub id: String,
    /// `approval_request`, `approval_reminder` or `hours_missing`.
    pub kind: String,
    /// What makes it once: kind with the submission, or with the placement and period.
    pub dedupe_key: String,
    /// The agency's code, for scope.
    pub location_code: String,
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
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Not to be sent before.
    pub not_before: NaiveDateTime,
    /// The last failure.
    pub last_error: Option<String>,
    /// The mail server's message id.
    pub message_id: Option<String>,
    /// When it was accepted.
    pub sent_at: Option<NaiveDateTime>,
    /// Created.
    pub created_at: NaiveDateTime,
}

/// Filters of the notice list.
#[derive(Debug, Clone, Default)]
pub struct NoticeFilter {
    /// Of this kind.
    pub kind: Option<String>,
    /// In this status.
    pub status: Option<String>,
    /// Of this carer.
    pub carer_id: Option<String>,
    /// Of this timesheet.
    pub timesheet_id: Option<String>,
}

/// Stores notices; one whose key exists already is left alone. How many were stored.
pub fn insert(conn: &mut AnyConnection, rows: Vec<NoticeRow>) -> Result<usize, Error> {
    let mut stored = 0;
    match conn {
        AnyConnection::Postgresql(pg) => {
            for row in rows {
                stored += diesel::insert_into(agency_notices::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(pg)?;
            }
        }
        AnyConnection::Sqlite(lite) => {
            for row in rows {
                stored += diesel::insert_into(agency_notices::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(lite)?;
            }
        }
    }
    Ok(stored)
}

/// Queued notices whose time has come, oldest first.
pub fn due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<NoticeRow>, Error> {
    Ok(agency_notices::table
        .filter(agency_notices::status.eq("queued"))
        .filter(agency_notices::not_before.le(now))
        .order(agency_notices::id.asc())
        .limit(limit)
        .select(NoticeRow::as_select())
        .load(conn)?)
}

/// Takes a queued notice for one attempt: true when this caller got it.
pub fn claim(conn: &mut AnyConnection, id: &str, attempts: i32) -> Result<bool, Error> {
    Ok(diesel::update(
        agency_notices::table
            .find(id)
            .filter(agency_notices::status.eq("queued"))
            .filter(agency_notices::attempts.eq(attempts)),
    )
    .set((
        agency_notices::status.eq("sending"),
        agency_notices::attempts.eq(attempts + 1),
    ))
    .execute(conn)?
        == 1)
}

/// Records the outcome of an attempt.
pub fn record(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    not_before: Option<NaiveDateTime>,
    last_error: Option<&str>,
    message_id: Option<&str>,
    sent_at: Option<NaiveDateTime>,
) -> Result<(), Error> {
    diesel::update(agency_notices::table.find(id))
        .set((
            agency_notices::status.eq(status),
            agency_notices::last_error.eq(last_error),
            agency_notices::message_id.eq(message_id),
            agency_notices::sent_at.eq(sent_at),
        ))
        .execute(conn)?;
    if let Some(at) = not_before {
        diesel::update(agency_notices::table.find(id))
            .set(agency_notices::not_before.eq(at))
            .execute(conn)?;
    }
    Ok(())
}

/// A page of notices at the locations `allowed` lists (`None`: any), newest first.
pub fn page(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    f: &NoticeFilter,
    page: &PageRequest,
) -> Result<Vec<NoticeRow>, Error> {
    let mut q = agency_notices::table
        .select(NoticeRow::as_select())
        .into_boxed();
    if let Some(codes) = allowed {
        q = q.filter(agency_notices::location_code.eq_any(codes));
    }
    if let Some(k) = &f.kind {
        q = q.filter(agency_notices::kind.eq(k.clone()));
    }
    if let Some(s) = &f.status {
        q = q.filter(agency_notices::status.eq(s.clone()));
    }
    if let Some(c) = &f.carer_id {
        q = q.filter(agency_notices::carer_id.eq(c.clone()));
    }
    if let Some(t) = &f.timesheet_id {
        q = q.filter(agency_notices::timesheet_id.eq(t.clone()));
    }
    if let Some(before) = &page.after {
        q = q.filter(agency_notices::id.lt(before.clone()));
    }
    Ok(q.order(agency_notices::id.desc())
        .limit(page.limit + 1)
        .load(conn)?)
}
