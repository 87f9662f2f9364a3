//! The `timesheets`, `timesheet_hours` and `timesheet_links` tables: a placement's hours of one
//! week or month, each line with its state, and the approval links sent to clients (only the
//! SHA-256 of a link's token is kept).

use carebill_domain::agency::{HoursCounts, HoursStatus, TimesheetStatus};
use carebill_domain::ids::{CarerId, HoursId, PlacementId, TimesheetId};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{timesheet_hours, timesheet_links, timesheets};

/// A timesheet as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = timesheets)]
pub struct TimesheetRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: TimesheetId,
    /// The placement.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub placement_id: PlacementId,
    /// Its carer.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub carer_id: CarerId,
    /// Its agency's code, for scope.
    pub location_code: String,
    /// First day.
    pub period_start: NaiveDate,
    /// Last day.
    pub period_end: NaiveDate,
    /// Status, from its lines.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: TimesheetStatus,
    /// Last submitted.
    pub submitted_at: Option<NaiveDateTime>,
    /// When its last line was approved.
    pub approved_at: Option<NaiveDateTime>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// A line of hours as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = timesheet_hours)]
pub struct HoursRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: HoursId,
    /// Its timesheet.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub timesheet_id: TimesheetId,
    /// Its placement.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub placement_id: PlacementId,
    /// Its carer.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub carer_id: CarerId,
    /// The date worked.
    pub work_date: NaiveDate,
    /// Start, minutes from midnight, when registered from–to.
    pub start_minute: Option<i32>,
    /// End, minutes from midnight.
    pub end_minute: Option<i32>,
    /// Minutes worked.
    pub minutes: i32,
    /// Service type.
    pub service_type: String,
    /// Notes.
    pub notes: Option<String>,
    /// State.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: HoursStatus,
    /// Why the client disputed it.
    pub dispute_reason: Option<String>,
    /// The decision that approved it.
    pub approval_id: Option<String>,
    /// Pushing system.
    pub source_system: Option<String>,
    /// Its id there.
    pub external_id: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// What a carer's change of a line writes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = timesheet_hours, treat_none_as_null = true)]
pub struct HoursChanges {
    /// Its timesheet (the period of its date).
    pub timesheet_id: String,
    /// The date worked.
    pub work_date: NaiveDate,
    /// Start.
    pub start_minute: Option<i32>,
    /// End.
    pub end_minute: Option<i32>,
    /// Minutes.
    pub minutes: i32,
    /// Service type.
    pub service_type: String,
    /// Notes.
    pub notes: Option<String>,
    /// Back to draft.
    pub status: String,
    /// Cleared.
    pub dispute_reason: Option<String>,
    /// Now.
    pub updated_at: NaiveDateTime,
}

/// An approval link as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = timesheet_links)]
pub struct LinkRow {
    /// Id.
    pub id: String,
    /// The timesheet it opens.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub timesheet_id: TimesheetId,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// The address it was made for.
    pub sent_to: String,
    /// When it stops opening.
    pub expires_at: NaiveDateTime,
    /// When a newer submission replaced it.
    pub revoked_at: Option<NaiveDateTime>,
    /// Created.
    pub created_at: NaiveDateTime,
}

/// Filters of the timesheet list.
#[derive(Debug, Clone, Default)]
pub struct TimesheetFilter {
    /// Of this placement.
    pub placement_id: Option<String>,
    /// Of this carer.
    pub carer_id: Option<String>,
    /// In this status.
    pub status: Option<TimesheetStatus>,
    /// Periods ending on or after.
    pub from: Option<NaiveDate>,
    /// Periods starting on or before.
    pub to: Option<NaiveDate>,
}

/// The timesheet with this id, if at a location `allowed` lists (`None`: any).
pub fn find(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    id: &str,
) -> Result<Option<TimesheetRow>, Error> {
    let mut q = timesheets::table
        .find(id)
        .select(TimesheetRow::as_select())
        .into_boxed();
    if let Some(codes) = allowed {
        q = q.filter(timesheets::location_code.eq_any(codes));
    }
    Ok(q.first(conn).optional()?)
}

/// The placement's timesheet starting on `start`.
pub fn of_period(
    conn: &mut AnyConnection,
    placement_id: &str,
    start: NaiveDate,
) -> Result<Option<TimesheetRow>, Error> {
    Ok(timesheets::table
        .filter(timesheets::placement_id.eq(placement_id))
        .filter(timesheets::period_start.eq(start))
        .select(TimesheetRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts a timesheet.
pub fn insert(conn: &mut AnyConnection, row: TimesheetRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, timesheets::table, vec![row]);
    Ok(())
}

/// Sets a timesheet's status (and when it was submitted or approved, where given).
pub fn set_status(
    conn: &mut AnyConnection,
    id: &str,
    status: TimesheetStatus,
    submitted_at: Option<NaiveDateTime>,
    approved_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let target = timesheets::table.find(id);
    diesel::update(target)
        .set((
            timesheets::status.eq(status.as_str()),
            timesheets::updated_at.eq(now),
        ))
        .execute(conn)?;
    if let Some(at) = submitted_at {
        diesel::update(target)
            .set(timesheets::submitted_at.eq(at))
            .execute(conn)?;
    }
    if let Some(at) = approved_at {
        diesel::update(target)
            .set(timesheets::approved_at.eq(at))
            .execute(conn)?;
    }
    Ok(())
}

/// Locks a timesheet row for the rest of the transaction (PostgreSQL; SQLite's writer is
/// alone).
pub fn lock(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    if let AnyConnection::Postgresql(pg) = conn {
        timesheets::table
            .find(id)
            .select(timesheets::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    Ok(())
}

/// A page of timesheets at the locations `allowed` lists (`None`: any), by id.
pub fn page(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    f: &TimesheetFilter,
    page: &PageRequest,
) -> Result<Vec<TimesheetRow>, Error> {
    let mut q = timesheets::table
        .select(TimesheetRow::as_select())
        .into_boxed();
    if let Some(codes) = allowed {
        q = q.filter(timesheets::location_code.eq_any(codes));
    }
    if let Some(p) = &f.placement_id {
        q = q.filter(timesheets::placement_id.eq(p.clone()));
    }
    if let Some(c) = &f.carer_id {
        q = q.filter(timesheets::carer_id.eq(c.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(timesheets::status.eq(s.as_str()));
    }
    if let Some(from) = f.from {
        q = q.filter(timesheets::period_end.ge(from));
    }
    if let Some(to) = f.to {
        q = q.filter(timesheets::period_start.le(to));
    }
    if let Some(after) = &page.after {
        q = q.filter(timesheets::id.gt(after.clone()));
    }
    Ok(q.order(timesheets::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// The lines of a timesheet, by date and start.
pub fn hours_of(conn: &mut AnyConnection, timesheet_id: &str) -> Result<Vec<HoursRow>, Error> {
    Ok(timesheet_hours::table
        .filter(timesheet_hours::timesheet_id.eq(timesheet_id))
        .select(HoursRow::as_select())
        .order((
            timesheet_hours::work_date.asc(),
            timesheet_hours::start_minute.asc(),
            timesheet_hours::id.asc(),
        ))
        .load(conn)?)
}

/// How many lines of a timesheet are in each state.
pub fn counts(conn: &mut AnyConnection, timesheet_id: &str) -> Result<HoursCounts, Error> {
    let rows: Vec<String> = timesheet_hours::table
        .filter(timesheet_hours::timesheet_id.eq(timesheet_id))
        .select(timesheet_hours::status)
        .load(conn)?;
    let mut c = HoursCounts::default();
    for s in rows {
        match HoursStatus::try_from(s).map_err(Error::from)? {
            HoursStatus::Draft => c.draft += 1,
            HoursStatus::Submitted => c.submitted += 1,
            HoursStatus::Approved => c.approved += 1,
            HoursStatus::Disputed => c.disputed += 1,
        }
    }
    Ok(c)
}

/// The carer's lines on these dates (to check overlaps and day totals).
pub fn carer_days(
    conn: &mut AnyConnection,
    carer_id: &str,
    dates: &[NaiveDate],
) -> Result<Vec<HoursRow>, Error> {
    Ok(timesheet_hours::table
        .filter(timesheet_hours::carer_id.eq(carer_id))
        .filter(timesheet_hours::work_date.eq_any(dates))
        .select(HoursRow::as_select())
        .load(conn)?)
}

/// The line with this id.
pub fn find_hours(conn: &mut AnyConnection, id: &str) -> Result<Option<HoursRow>, Error> {
    Ok(timesheet_hours::table
        .find(id)
        .select(HoursRow::as_select())
        .first(conn)
        .optional()?)
}

/// The line pushed under this system's id.
pub fn find_external(
    conn: &mut AnyConnection,
    source_system: &str,
    external_id: &str,
) -> Result<Option<HoursRow>, Error> {
    Ok(timesheet_hours::table
        .filter(timesheet_hours::source_system.eq(source_system))
        .filter(timesheet_hours::external_id.eq(external_id))
        .select(HoursRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts lines.
pub fn insert_hours(conn: &mut AnyConnection, rows: Vec<HoursRow>) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, timesheet_hours::table, rows);
    Ok(())
}

/// Changes a line (back to draft).
pub fn update_hours(conn: &mut AnyConnection, id: &str, c: &HoursChanges) -> Result<(), Error> {
    diesel::update(timesheet_hours::table.find(id))
        .set(c)
        .execute(conn)?;
    Ok(())
}

/// Removes a line.
pub fn delete_hours(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    diesel::delete(timesheet_hours::table.find(id)).execute(conn)?;
    Ok(())
}

/// Moves a timesheet's lines in state `from` to `to`; how many.
pub fn move_hours(
    conn: &mut AnyConnection,
    timesheet_id: &str,
    from: HoursStatus,
    to: HoursStatus,
    now: NaiveDateTime,
) -> Result<usize, Error> {
    Ok(diesel::update(
        timesheet_hours::table
            .filter(timesheet_hours::timesheet_id.eq(timesheet_id))
            .filter(timesheet_hours::status.eq(from.as_str())),
    )
    .set((
        timesheet_hours::status.eq(to.as_str()),
        timesheet_hours::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Records a client's decision on one line.
pub fn decide(
    conn: &mut AnyConnection,
    id: &str,
    to: HoursStatus,
    reason: Option<&str>,
    approval_id: Option<&str>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(timesheet_hours::table.find(id))
        .set((
            timesheet_hours::status.eq(to.as_str()),
            timesheet_hours::dispute_reason.eq(reason),
            timesheet_hours::approval_id.eq(approval_id),
            timesheet_hours::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Inserts an approval link.
pub fn insert_link(conn: &mut AnyConnection, row: LinkRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, timesheet_links::table, vec![row]);
    Ok(())
}

/// The link with this token hash.
pub fn link_by_hash(conn: &mut AnyConnection, hash: &str) -> Result<Option<LinkRow>, Error> {
    Ok(timesheet_links::table
        .filter(timesheet_links::token_hash.eq(hash))
        .select(LinkRow::as_select())
        .first(conn)
        .optional()?)
}

/// Revokes a timesheet's links that are still open.
pub fn revoke_links(
    conn: &mut AnyConnection,
    timesheet_id: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(
        timesheet_links::table
            .filter(timesheet_links::timesheet_id.eq(timesheet_id))
            .filter(timesheet_links::revoked_at.is_null()),
    )
    .set(timesheet_links::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// The last date a placement has hours on.
pub fn last_date(conn: &mut AnyConnection, placement_id: &str) -> Result<Option<NaiveDate>, Error> {
    Ok(timesheet_hours::table
        .filter(timesheet_hours::placement_id.eq(placement_id))
        .select(diesel::dsl::max(timesheet_hours::work_date))
        .first(conn)?)
}

/// A client's decision that approved lines, as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::timesheet_approvals)]
pub struct ApprovalRow {
    /// Id (the event's `approval_id`).
    pub id: String,
    /// The timesheet.
    pub timesheet_id: String,
    /// Its carer.
    pub carer_id: String,
    /// Who approved.
    pub approved_by: String,
    /// When.
    pub approved_at: NaiveDateTime,
    /// `released` (announced for invoicing) or `held`.
    pub status: String,
    /// Why it is held.
    pub held_reason: Option<String>,
    /// The date its invoices carry, once released.
    pub invoice_date: Option<NaiveDate>,
    /// When it was announced.
    pub released_at: Option<NaiveDateTime>,
}

/// Inserts an approval.
pub fn insert_approval(conn: &mut AnyConnection, row: ApprovalRow) -> Result<(), Error> {
    use crate::schema::timesheet_approvals;
    carebill_platform::insert_rows!(conn, timesheet_approvals::table, vec![row]);
    Ok(())
}

/// The approvals of a timesheet, oldest first.
pub fn approvals_of(
    conn: &mut AnyConnection,
    timesheet_id: &str,
) -> Result<Vec<ApprovalRow>, Error> {
    use crate::schema::timesheet_approvals;
    Ok(timesheet_approvals::table
        .filter(timesheet_approvals::timesheet_id.eq(timesheet_id))
        .order(timesheet_approvals::id.asc())
        .select(ApprovalRow::as_select())
        .load(conn)?)
}

/// A carer's held approvals, oldest first.
pub fn held_of(conn: &mut AnyConnection, carer_id: &str) -> Result<Vec<ApprovalRow>, Error> {
    use crate::schema::timesheet_approvals;
    Ok(timesheet_approvals::table
        .filter(timesheet_approvals::carer_id.eq(carer_id))
        .filter(timesheet_approvals::status.eq("held"))
        .order(timesheet_approvals::id.asc())
        .select(ApprovalRow::as_select())
        .load(conn)?)
}

/// Marks an approval released (announced) with its invoice date.
pub fn release(
    conn: &mut AnyConnection,
    id: &str,
    invoice_date: NaiveDate,
    now: NaiveDateTime,
) -> Result<(), Error> {
    use crate::schema::timesheet_approvals;
    diesel::update(timesheet_approvals::table.find(id))
        .set((
            timesheet_approvals::status.eq("released"),
            timesheet_approvals::held_reason.eq(None::<String>),
            timesheet_approvals::invoice_date.eq(invoice_date),
            timesheet_approvals::released_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// The lines one approval approved.
pub fn hours_of_approval(
    conn: &mut AnyConnection,
    approval_id: &str,
) -> Result<Vec<HoursRow>, Error> {
    Ok(timesheet_hours::table
        .filter(timesheet_hours::approval_id.eq(approval_id))
        .select(HoursRow::as_select())
        .order((
            timesheet_hours::work_date.asc(),
            timesheet_hours::start_minute.asc(),
        ))
        .load(conn)?)
}

/// Keeps an approval held, with why.
pub fn hold(conn: &mut AnyConnection, id: &str, reason: &str) -> Result<(), Error> {
    use crate::schema::timesheet_approvals;
    diesel::update(timesheet_approvals::table.find(id))
        .set((
            timesheet_approvals::status.eq("held"),
            timesheet_approvals::held_reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

/// Timesheets waiting for approval since before `submitted_before`.
pub fn waiting_since(
    conn: &mut AnyConnection,
    submitted_before: NaiveDateTime,
) -> Result<Vec<TimesheetRow>, Error> {
    Ok(timesheets::table
        .filter(timesheets::status.eq(TimesheetStatus::AwaitingApproval.as_str()))
        .filter(timesheets::submitted_at.le(submitted_before))
        .select(TimesheetRow::as_select())
        .load(conn)?)
}

/// The placements' timesheets of the periods starting on these days with something submitted
/// (waiting, approved or disputed): (placement id, period start).
pub fn submitted_periods(
    conn: &mut AnyConnection,
    starts: &[NaiveDate],
) -> Result<Vec<(String, NaiveDate)>, Error> {
    Ok(timesheets::table
        .inner_join(timesheet_hours::table.on(timesheet_hours::timesheet_id.eq(timesheets::id)))
        .filter(timesheets::period_start.eq_any(starts))
        .filter(timesheet_hours::status.ne(HoursStatus::Draft.as_str()))
        .select((timesheets::placement_id, timesheets::period_start))
        .distinct()
        .load(conn)?)
}
