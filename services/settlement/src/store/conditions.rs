//! Business-condition sets as stored: versions of one set, each its definition as JSON.

use carebill_domain::conditions::ConditionSet;
use carebill_domain::stored::json;
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::condition_sets;

/// The latest version of the condition set and its definition (JSON); none before the first.
pub fn latest_definition(conn: &mut AnyConnection) -> Result<Option<(i32, String)>, Error> {
    Ok(condition_sets::table
        .order(condition_sets::version.desc())
        .select((condition_sets::version, condition_sets::definition))
        .first::<(i32, String)>(conn)
        .optional()?)
}

/// A version of the condition set as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = condition_sets)]
pub struct ConditionSetRow {
    /// Version, from 1.
    pub version: i32,
    /// The set (JSON).
    pub definition: String,
    /// Why it was made.
    pub reason: String,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
}

impl ConditionSetRow {
    /// The set; unreadable JSON is an error naming it.
    pub fn set(&self) -> Result<ConditionSet, Error> {
        json("condition set", &self.definition).map_err(Error::from)
    }
}

/// Serialises changes of the condition set (PostgreSQL) until the transaction ends.
pub fn lock(conn: &mut AnyConnection) -> Result<(), Error> {
    Ok(db::lock_key(conn, "condition_set")?)
}

/// The latest version (none before the first).
pub fn latest(conn: &mut AnyConnection) -> Result<Option<ConditionSetRow>, Error> {
    Ok(condition_sets::table
        .order(condition_sets::version.desc())
        .select(ConditionSetRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every version, oldest first.
pub fn all(conn: &mut AnyConnection) -> Result<Vec<ConditionSetRow>, Error> {
    Ok(condition_sets::table
        .order(condition_sets::version.asc())
        .select(ConditionSetRow::as_select())
        .load(conn)?)
}

/// Stores a version.
pub fn insert(
    conn: &mut AnyConnection,
    version: i32,
    set: &ConditionSet,
    reason: &str,
    by: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::insert_into(condition_sets::table)
        .values((
            condition_sets::version.eq(version),
            condition_sets::definition.eq(serde_json::to_string(set)?),
            condition_sets::reason.eq(reason),
            condition_sets::created_by.eq(by),
            condition_sets::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}
