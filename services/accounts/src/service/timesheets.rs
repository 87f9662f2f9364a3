//! Hours and timesheets: a carer (or the agency's hours system) registers hours on a placement,
//! singly or in batches; they fall into the placement's timesheet of their week or month; the
//! carer submits it; the client approves or disputes each submitted line, through an approval
//! link (no token: the link is the key) or at the portal; a disputed line goes back to the
//! carer to change or remove and submit again. Each decision that approves lines emits
//! `carebill.accounts.timesheet.approved.v1` with the lines and the placement's terms, for
//! invoices on the carer's behalf.
//!
//! The rules: hours within the placement's dates, for a service type the placement has a
//! tariff for; from–to hours of a carer never overlap (over all placements); no day of a carer
//! above 24 hours; a line changes only while draft or disputed; each submitted line is decided
//! once. A carer's hours are checked and written one writer at a time (the carer row is locked).
//! The client's side — links, decisions, what an approval announces — is in
//! [`super::approvals`].

use carebill_domain::agency::{HoursStatus, MINUTES_PER_DAY, Shift, TimesheetStatus, hours_of};
use carebill_domain::ids::{CarerId, HoursId, PlacementId, TimesheetId};
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::service::placements::Placement;
use crate::service::{location_codes, notices, placements};
use crate::store::carers as carer_store;
pub use crate::store::timesheets::TimesheetFilter;
use crate::store::timesheets::{self as store, HoursChanges, HoursRow, TimesheetRow};

/// One line of hours as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct Hours {
    /// Id.
    pub id: HoursId,
    /// Its timesheet.
    pub timesheet_id: TimesheetId,
    /// Its placement.
    pub placement_id: PlacementId,
    /// Its carer.
    pub carer_id: CarerId,
    /// The date worked.
    pub date: NaiveDate,
    /// Start (`HH:MM`), when registered from–to.
    pub start: Option<String>,
    /// End (`HH:MM`).
    pub end: Option<String>,
    /// Minutes worked.
    pub minutes: i64,
    /// Hours worked.
    pub hours: Decimal,
    /// Service type.
    pub service_type: String,
    /// Notes.
    pub notes: Option<String>,
    /// State.
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
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Hours {
    pub(crate) fn read(r: HoursRow) -> Hours {
        let minute = |m: Option<i32>| m.and_then(|m| u16::try_from(m).ok()).map(Shift::text);
        Hours {
            id: r.id,
            timesheet_id: r.timesheet_id,
            placement_id: r.placement_id,
            carer_id: r.carer_id,
            date: r.work_date,
            start: minute(r.start_minute),
            end: minute(r.end_minute),
            minutes: i64::from(r.minutes),
            hours: hours_of(i64::from(r.minutes)),
            service_type: r.service_type,
            notes: r.notes,
            status: r.status,
            dispute_reason: r.dispute_reason,
            approval_id: r.approval_id,
            source_system: r.source_system,
            external_id: r.external_id,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// A timesheet with its lines.
#[derive(Debug, Clone, Serialize)]
pub struct Timesheet {
    /// Id.
    pub id: TimesheetId,
    /// The placement.
    pub placement_id: PlacementId,
    /// Its carer.
    pub carer_id: CarerId,
    /// Its agency's code.
    pub location_code: String,
    /// First day.
    pub period_start: NaiveDate,
    /// Last day.
    pub period_end: NaiveDate,
    /// Status.
    pub status: TimesheetStatus,
    /// Lines per state.
    pub counts: carebill_domain::agency::HoursCounts,
    /// Minutes of every line.
    pub minutes: i64,
    /// Last submitted.
    pub submitted_at: Option<DateTime<Utc>>,
    /// When its last line was approved.
    pub approved_at: Option<DateTime<Utc>>,
    /// The lines, by date and start.
    pub lines: Vec<Hours>,
    /// The client's decisions that approved lines, and whether each went to invoicing.
    pub approvals: Vec<Approval>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A client's decision that approved lines.
#[derive(Debug, Clone, Serialize)]
pub struct Approval {
    /// Id (the event's `approval_id`).
    pub id: String,
    /// Who approved.
    pub approved_by: String,
    /// When.
    pub approved_at: DateTime<Utc>,
    /// `released`: announced for invoicing; `held`: waiting, see `held_reason`.
    pub status: String,
    /// Why it waits (no self-billing agreement of the carer on the invoice date).
    pub held_reason: Option<String>,
    /// The date its invoices carry, once released.
    pub invoice_date: Option<NaiveDate>,
}

pub(crate) fn view(conn: &mut AnyConnection, r: TimesheetRow) -> Result<Timesheet, Error> {
    let lines: Vec<Hours> = store::hours_of(conn, &r.id.to_string())?
        .into_iter()
        .map(Hours::read)
        .collect();
    let counts = store::counts(conn, &r.id.to_string())?;
    let approvals = store::approvals_of(conn, &r.id.to_string())?
        .into_iter()
        .map(|a| Approval {
            id: a.id,
            approved_by: a.approved_by,
            approved_at: a.approved_at.and_utc(),
            status: a.status,
            held_reason: a.held_reason,
            invoice_date: a.invoice_date,
        })
        .collect();
    Ok(Timesheet {
        approvals,
        minutes: lines.iter().map(|l| l.minutes).sum(),
        lines,
        counts,
        id: r.id,
        placement_id: r.placement_id,
        carer_id: r.carer_id,
        location_code: r.location_code,
        period_start: r.period_start,
        period_end: r.period_end,
        status: r.status,
        submitted_at: r.submitted_at.map(|t| t.and_utc()),
        approved_at: r.approved_at.map(|t| t.and_utc()),
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
    })
}

/// A validated line of hours to register or change to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHours {
    /// The placement (a valid id).
    pub placement_id: String,
    /// The date worked.
    pub date: NaiveDate,
    /// From–to, when given.
    pub shift: Option<Shift>,
    /// Minutes worked (the shift's length when it is given).
    pub minutes: u16,
    /// Service type.
    pub service_type: String,
    /// Notes.
    pub notes: Option<String>,
    /// Pushing system and its id, for idempotent pushes.
    pub external: Option<(String, String)>,
}

/// The placement `who` may register hours on: in the caller's locations, and the carer's own
/// for a carer token (another carer's placement is not found).
fn placement_for(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<Placement, Error> {
    let p = placements::get(conn, &Scope::of(who), id)?;
    check_carer(who, &p.carer_id)?;
    Ok(p)
}

/// 404 for a carer token that is not this carer's (staff roles see every carer in scope).
fn check_carer(who: &Principal, carer_id: &CarerId) -> Result<(), Error> {
    let staff = who.has_any(&[Role::BillingManager, Role::Biller, Role::Integration]);
    if !staff && who.carer.as_deref() != Some(carer_id.to_string().as_str()) {
        return Err(Error::not_found("placement"));
    }
    Ok(())
}

/// Checks a line against the placement and the carer's other hours of that day.
fn check_line(
    conn: &mut AnyConnection,
    p: &Placement,
    h: &NewHours,
    except: Option<&HoursId>,
) -> Result<(), Error> {
    if !p.covers(h.date) {
        return Err(Error::field(
            "date",
            "outside_placement",
            format!(
                "the placement runs from {}{}",
                p.valid_from,
                p.valid_to.map(|t| format!(" to {t}")).unwrap_or_default() // not stored: open-ended placements name no end
            ),
        ));
    }
    if p.tariff(&h.service_type).is_none() {
        let types: Vec<&str> = p.tariffs.iter().map(|t| t.service_type.as_str()).collect();
        return Err(Error::field(
            "service_type",
            "no_tariff",
            format!("the placement has tariffs for: {}", types.join(", ")),
        ));
    }
    let day: Vec<HoursRow> = store::carer_days(conn, &p.carer_id.to_string(), &[h.date])?
        .into_iter()
        .filter(|r| Some(&r.id) != except)
        .collect();
    if let Some(shift) = &h.shift {
        for other in &day {
            if let (Some(s), Some(e)) = (other.start_minute, other.end_minute) {
                let o = Shift {
                    start: u16::try_from(s).unwrap_or(0), // not stored: written from a Shift, 0..=1440
                    end: u16::try_from(e).unwrap_or(MINUTES_PER_DAY), // not stored: as above
                };
                if shift.overlaps(&o) {
                    return Err(Error::field(
                        "start",
                        "overlaps",
                        format!(
                            "the carer has hours from {} to {} on {} already",
                            Shift::text(o.start),
                            Shift::text(o.end),
                            h.date
                        ),
                    ));
                }
            }
        }
    }
    let total: i64 = day.iter().map(|r| i64::from(r.minutes)).sum::<i64>() + i64::from(h.minutes);
    if total > i64::from(MINUTES_PER_DAY) {
        return Err(Error::field(
            "minutes",
            "over_24_hours",
            format!(
                "the carer's hours on {} would add up to {} minutes, more than a day",
                h.date, total
            ),
        ));
    }
    Ok(())
}

/// The placement's timesheet for the period of `date`, made when it is the first line.
fn timesheet_for(
    conn: &mut AnyConnection,
    p: &Placement,
    date: NaiveDate,
) -> Result<TimesheetRow, Error> {
    let (start, end) = p.period.span(date);
    if let Some(t) = store::of_period(conn, &p.id.to_string(), start)? {
        return Ok(t);
    }
    let now = db::now();
    let row = TimesheetRow {
        id: TimesheetId::new(),
        placement_id: p.id,
        carer_id: p.carer_id,
        location_code: p.location_code.clone(),
        period_start: start,
        period_end: end,
        status: TimesheetStatus::Open,
        submitted_at: None,
        approved_at: None,
        created_at: now,
        updated_at: now,
    };
    store::insert(conn, row.clone())?;
    Ok(row)
}

/// Sets a timesheet's status from its lines.
pub(crate) fn restate(
    conn: &mut AnyConnection,
    id: &str,
    submitted: bool,
) -> Result<TimesheetStatus, Error> {
    let status = store::counts(conn, id)?.status();
    let now = db::now();
    store::set_status(
        conn,
        id,
        status,
        submitted.then_some(now),
        (status == TimesheetStatus::Approved).then_some(now),
        now,
    )?;
    Ok(status)
}

fn minutes_of(shift: Option<&Shift>) -> (Option<i32>, Option<i32>) {
    (
        shift.map(|s| i32::from(s.start)),
        shift.map(|s| i32::from(s.end)),
    )
}

/// Registers a line of hours as a draft in its period's timesheet. A push with a source
/// system's id it already sent with the same content answers the line it made.
#[tracing::instrument(skip_all)]
pub fn register(conn: &mut AnyConnection, who: &Principal, h: NewHours) -> Result<Hours, Error> {
    conn.transaction(|conn| {
        if let Some((system, external)) = &h.external
            && let Some(existing) = store::find_external(conn, system, external)?
        {
            let same = existing.placement_id.to_string() == h.placement_id
                && existing.work_date == h.date
                && (existing.start_minute, existing.end_minute) == minutes_of(h.shift.as_ref())
                && existing.minutes == i32::from(h.minutes)
                && existing.service_type == h.service_type
                && existing.notes == h.notes;
            return if same {
                Ok(Hours::read(existing))
            } else {
                Err(Error::new(
                    ErrorCode::ExternalIdReused,
                    format!("{system}/{external} was already registered with different content"),
                ))
            };
        }
        let p = placement_for(conn, who, &h.placement_id).map_err(|e| {
            super::unknown_as_field(e, "placement_id", "unknown", "no such placement")
        })?;
        carer_store::lock(conn, &p.carer_id.to_string())?;
        check_line(conn, &p, &h, None)?;
        let sheet = timesheet_for(conn, &p, h.date)?;
        let now = db::now();
        let (start_minute, end_minute) = minutes_of(h.shift.as_ref());
        let row = HoursRow {
            id: HoursId::new(),
            timesheet_id: sheet.id,
            placement_id: p.id,
            carer_id: p.carer_id,
            work_date: h.date,
            start_minute,
            end_minute,
            minutes: i32::from(h.minutes),
            service_type: h.service_type,
            notes: h.notes,
            status: HoursStatus::Draft,
            dispute_reason: None,
            approval_id: None,
            source_system: h.external.as_ref().map(|e| e.0.clone()),
            external_id: h.external.map(|e| e.1),
            created_at: now,
            updated_at: now,
        };
        let id = row.id;
        store::insert_hours(conn, vec![row])?;
        restate(conn, &sheet.id.to_string(), false)?;
        let line = Hours::read(
            store::find_hours(conn, &id.to_string())?.ok_or_else(|| Error::not_found("hours"))?,
        );
        audit::record(
            conn,
            who,
            "create",
            "hours",
            &id.to_string(),
            serde_json::json!({ "after": line }),
            None,
        )?;
        Ok(line)
    })
}

/// The line with this id, if its placement is in the caller's reach.
fn line_for(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
) -> Result<(HoursRow, Placement), Error> {
    let row = store::find_hours(conn, id)?.ok_or_else(|| Error::not_found("hours"))?;
    let p = placement_for(conn, who, &row.placement_id.to_string())
        .map_err(|_| Error::not_found("hours"))?;
    Ok((row, p))
}

/// The line with this id.
#[tracing::instrument(skip_all, fields(hours_id = %id))]
pub fn get_hours(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<Hours, Error> {
    line_for(conn, who, id).map(|(row, _)| Hours::read(row))
}

/// Changes a draft or disputed line (it becomes a draft again, to be submitted); its
/// placement cannot change.
#[tracing::instrument(skip_all, fields(hours_id = %id))]
pub fn change(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    h: NewHours,
) -> Result<Hours, Error> {
    conn.transaction(|conn| {
        let (_, p) = line_for(conn, who, id)?;
        carer_store::lock(conn, &p.carer_id.to_string())?;
        // Read again under the carer's lock: a concurrent change may have moved it.
        let before =
            Hours::read(store::find_hours(conn, id)?.ok_or_else(|| Error::not_found("hours"))?);
        if !before.status.editable() {
            return Err(Error::new(
                ErrorCode::NotEditable,
                format!(
                    "the hours are {}: only draft or disputed hours change",
                    before.status
                ),
            ));
        }
        if before.placement_id.to_string() != h.placement_id {
            return Err(Error::field(
                "placement_id",
                "immutable",
                "hours stay on their placement; remove them and register them on the other",
            ));
        }
        check_line(conn, &p, &h, Some(&before.id))?;
        let sheet = timesheet_for(conn, &p, h.date)?;
        let (start_minute, end_minute) = minutes_of(h.shift.as_ref());
        store::update_hours(
            conn,
            id,
            &HoursChanges {
                timesheet_id: sheet.id.to_string(),
                work_date: h.date,
                start_minute,
                end_minute,
                minutes: i32::from(h.minutes),
                service_type: h.service_type,
                notes: h.notes,
                status: HoursStatus::Draft.as_str().to_owned(),
                dispute_reason: None,
                updated_at: db::now(),
            },
        )?;
        restate(conn, &sheet.id.to_string(), false)?;
        if sheet.id != before.timesheet_id {
            restate(conn, &before.timesheet_id.to_string(), false)?;
        }
        let after =
            Hours::read(store::find_hours(conn, id)?.ok_or_else(|| Error::not_found("hours"))?);
        audit::record(
            conn,
            who,
            "update",
            "hours",
            id,
            serde_json::json!({ "before": before, "after": after }),
            None,
        )?;
        Ok(after)
    })
}

/// Removes a draft or disputed line.
#[tracing::instrument(skip_all, fields(hours_id = %id))]
pub fn remove(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<(), Error> {
    conn.transaction(|conn| {
        let (row, p) = line_for(conn, who, id)?;
        carer_store::lock(conn, &p.carer_id.to_string())?;
        let before = Hours::read(row);
        if !before.status.editable() {
            return Err(Error::new(
                ErrorCode::NotEditable,
                format!(
                    "the hours are {}: only draft or disputed hours are removed",
                    before.status
                ),
            ));
        }
        store::delete_hours(conn, id)?;
        restate(conn, &before.timesheet_id.to_string(), false)?;
        audit::record(
            conn,
            who,
            "delete",
            "hours",
            id,
            serde_json::json!({ "before": before }),
            None,
        )?;
        Ok(())
    })
}

/// The timesheet with this id, if in the caller's reach (a carer sees only their own).
#[tracing::instrument(skip_all, fields(timesheet_id = %id))]
pub fn get(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<Timesheet, Error> {
    let row = find(conn, who, id)?;
    view(conn, row)
}

pub(crate) fn find(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
) -> Result<TimesheetRow, Error> {
    let allowed = location_codes(&Scope::of(who));
    let row =
        store::find(conn, allowed.as_deref(), id)?.ok_or_else(|| Error::not_found("timesheet"))?;
    check_carer(who, &row.carer_id).map_err(|_| Error::not_found("timesheet"))?;
    Ok(row)
}

/// A page of timesheets in the caller's reach (a carer sees only their own).
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    who: &Principal,
    f: &TimesheetFilter,
    page: &PageRequest,
) -> Result<Page<Timesheet>, Error> {
    let allowed = location_codes(&Scope::of(who));
    let mut f = f.clone();
    let staff = who.has_any(&[Role::BillingManager, Role::Biller, Role::Integration]);
    if !staff {
        // A carer token without its claim matches no carer (the empty id).
        f.carer_id = Some(who.carer.clone().unwrap_or_default()); // not stored: a claim, not a record
    }
    let rows = store::page(conn, allowed.as_deref(), &f, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    page.try_map(|r| view(conn, r))
}

/// Submits the timesheet's draft lines for the client's approval; earlier approval links
/// stop opening it. 409 `nothing_to_submit` without drafts.
#[tracing::instrument(skip_all, fields(timesheet_id = %id))]
pub fn submit(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<Timesheet, Error> {
    conn.transaction(|conn| {
        find(conn, who, id)?;
        store::lock(conn, id)?;
        let now = db::now();
        let moved = store::move_hours(conn, id, HoursStatus::Draft, HoursStatus::Submitted, now)?;
        if moved == 0 {
            return Err(Error::new(
                ErrorCode::NothingToSubmit,
                "the timesheet has no draft hours to submit",
            ));
        }
        store::revoke_links(conn, id, now)?;
        restate(conn, id, true)?;
        let sheet = store::find(conn, None, id)?.ok_or_else(|| Error::not_found("timesheet"))?;
        let p = placements::get(conn, &Scope::everything(), &sheet.placement_id.to_string())?;
        notices::queue_approval_request(conn, &p, &sheet, sheet.submitted_at.unwrap_or(now))?; // not stored: restate just set it
        let after = get(conn, who, id)?;
        audit::record(
            conn,
            who,
            "submit",
            "timesheet",
            id,
            serde_json::json!({ "submitted_lines": moved, "status": after.status }),
            None,
        )?;
        Ok(after)
    })
}
