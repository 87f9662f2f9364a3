//! Settlement management as stored: billers with their skills, the assignment policy (one row),
//! and the open settlements per assignee.

use carebill_domain::settlement::SettlementStatus;
use carebill_domain::stored::json;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{assignment_policy, billers, settlements};

/// The statuses in which a settlement is someone's work.
pub const OPEN: [SettlementStatus; 4] = [
    SettlementStatus::Draft,
    SettlementStatus::InReview,
    SettlementStatus::Observed,
    SettlementStatus::InAudit,
];

/// How new settlements are assigned, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `least_loaded`.
    LeastLoaded,
    /// `round_robin`.
    RoundRobin,
    /// `off`.
    Off,
}

impl Mode {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::LeastLoaded => "least_loaded",
            Mode::RoundRobin => "round_robin",
            Mode::Off => "off",
        }
    }

    fn read(s: &str) -> Result<Mode, Error> {
        match s {
            "least_loaded" => Ok(Mode::LeastLoaded),
            "round_robin" => Ok(Mode::RoundRobin),
            "off" => Ok(Mode::Off),
            _ => Err(Error::stored("assignment mode", s, "unknown")),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = billers)]
/// A biller row: skills are JSON lists of codes.
pub struct BillerRow {
    /// Column `subject`.
    pub subject: String,
    /// Column `name`.
    pub name: String,
    /// Column `active`.
    pub active: bool,
    /// Column `locations`.
    pub locations: String,
    /// Column `payers`.
    pub payers: String,
    /// Column `updated_at`.
    pub updated_at: NaiveDateTime,
}

impl BillerRow {
    /// The locations and payers the biller bills (empty: all).
    pub fn skills(&self) -> Result<(Vec<String>, Vec<String>), Error> {
        Ok((
            json("biller locations", &self.locations).map_err(Error::from)?,
            json("biller payers", &self.payers).map_err(Error::from)?,
        ))
    }
}

/// Open settlements per assignee and status; with `scope`, only those of these locations (what a
/// user limited to some locations may see).
pub fn open_counts(
    conn: &mut AnyConnection,
    scope: &Scope,
) -> Result<Vec<(Option<String>, String, i64)>, Error> {
    // A settlement is no one payer's: a payer-limited caller counts none.
    if scope.is_payer_limited() {
        return Ok(Vec::new());
    }
    let open: Vec<&str> = OPEN.iter().map(|s| s.as_str()).collect();
    let select = (
        settlements::assigned_to,
        settlements::status,
        diesel::dsl::count_star(),
    );
    let group = (settlements::assigned_to, settlements::status);
    Ok(match &scope.locations {
        Some(locations) => settlements::table
            .filter(settlements::status.eq_any(open))
            .filter(settlements::location_code.eq_any(locations))
            .group_by(group)
            .select(select)
            .load(conn)?,
        None => settlements::table
            .filter(settlements::status.eq_any(open))
            .group_by(group)
            .select(select)
            .load(conn)?,
    })
}

/// The policy's mode and the biller assigned last (`least_loaded` before one is stored).
pub fn policy(conn: &mut AnyConnection) -> Result<(Mode, Option<String>), Error> {
    let row: Option<(String, Option<String>)> = assignment_policy::table
        .select((assignment_policy::mode, assignment_policy::last_assigned))
        .first(conn)
        .optional()?;
    match row {
        None => Ok((Mode::LeastLoaded, None)),
        Some((m, last)) => Ok((Mode::read(&m)?, last)),
    }
}

/// Stores the policy (one row).
pub fn set_policy(conn: &mut AnyConnection, mode: Mode, last: Option<&str>) -> Result<(), Error> {
    let exists: i64 = assignment_policy::table.count().get_result(conn)?;
    if exists == 0 {
        diesel::insert_into(assignment_policy::table)
            .values((
                assignment_policy::id.eq(1),
                assignment_policy::mode.eq(mode.as_str()),
                assignment_policy::last_assigned.eq(last),
            ))
            .execute(conn)?;
    } else {
        diesel::update(assignment_policy::table)
            .set((
                assignment_policy::mode.eq(mode.as_str()),
                assignment_policy::last_assigned.eq(last),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The active billers, by subject.
pub fn active_billers(conn: &mut AnyConnection) -> Result<Vec<BillerRow>, Error> {
    Ok(billers::table
        .filter(billers::active.eq(true))
        .order(billers::subject.asc())
        .select(BillerRow::as_select())
        .load(conn)?)
}

/// Serialises assignments (PostgreSQL) until the transaction ends.
pub fn lock_assignment(conn: &mut AnyConnection) -> Result<(), Error> {
    Ok(db::lock_key(conn, "settlement_assignment")?)
}

/// Registers or changes a biller (skills as JSON lists).
pub fn put_biller(
    conn: &mut AnyConnection,
    subject: &str,
    name: &str,
    active: bool,
    locations: &str,
    payers: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let exists: i64 = billers::table
        .filter(billers::subject.eq(subject))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        diesel::insert_into(billers::table)
            .values((
                billers::subject.eq(subject),
                billers::name.eq(name),
                billers::active.eq(active),
                billers::locations.eq(locations),
                billers::payers.eq(payers),
                billers::updated_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::update(billers::table.find(subject))
            .set((
                billers::name.eq(name),
                billers::active.eq(active),
                billers::locations.eq(locations),
                billers::payers.eq(payers),
                billers::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// A biller.
pub fn biller(conn: &mut AnyConnection, subject: &str) -> Result<BillerRow, Error> {
    Ok(billers::table
        .find(subject)
        .select(BillerRow::as_select())
        .first(conn)?)
}

/// Every biller, by subject.
pub fn all_billers(conn: &mut AnyConnection) -> Result<Vec<BillerRow>, Error> {
    Ok(billers::table
        .order(billers::subject.asc())
        .select(BillerRow::as_select())
        .load(conn)?)
}

/// Whether `subject` is an active biller.
pub fn is_active_biller(conn: &mut AnyConnection, subject: &str) -> Result<bool, Error> {
    let active: i64 = billers::table
        .filter(billers::subject.eq(subject))
        .filter(billers::active.eq(true))
        .count()
        .get_result(conn)?;
    Ok(active > 0)
}
