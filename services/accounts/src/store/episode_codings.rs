//! The `episode_codings` table: every version of an episode's coding, the highest current.

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{episode_codings, episodes};

/// One version of an episode's coding, as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = episode_codings)]
pub struct CodingRow {
    /// The episode.
    pub episode_id: String,
    /// 1, 2, ...
    pub version: i64,
    /// The coding, JSON.
    pub data: String,
    /// Why it changed.
    pub reason: Option<String>,
    /// Who changed it.
    pub changed_by: String,
    /// When.
    pub changed_at: NaiveDateTime,
}

/// The current (highest) version of an episode's coding, if it has one.
pub fn current(conn: &mut AnyConnection, episode_id: &str) -> Result<Option<CodingRow>, Error> {
    Ok(episode_codings::table
        .filter(episode_codings::episode_id.eq(episode_id))
        .order(episode_codings::version.desc())
        .select(CodingRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every version of an episode's coding, newest first.
pub fn versions(conn: &mut AnyConnection, episode_id: &str) -> Result<Vec<CodingRow>, Error> {
    Ok(episode_codings::table
        .filter(episode_codings::episode_id.eq(episode_id))
        .order(episode_codings::version.desc())
        .select(CodingRow::as_select())
        .load(conn)?)
}

/// Inserts a version.
pub fn insert(conn: &mut AnyConnection, row: CodingRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, episode_codings::table, vec![row]);
    Ok(())
}

/// Locks the episode's row for the rest of the transaction, so that two codings of one episode
/// are written one after the other (PostgreSQL; SQLite's writer is alone).
pub fn lock_episode(conn: &mut AnyConnection, episode_id: &str) -> Result<(), Error> {
    if let AnyConnection::Postgresql(pg) = conn {
        episodes::table
            .find(episode_id)
            .select(episodes::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    Ok(())
}

/// The episodes that have a coding, by id, after `after`, at most `limit`.
pub fn coded_episodes(
    conn: &mut AnyConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<String>, Error> {
    let mut q = episode_codings::table
        .select(episode_codings::episode_id)
        .distinct()
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(episode_codings::episode_id.gt(after.to_owned()));
    }
    Ok(q.order(episode_codings::episode_id.asc())
        .limit(limit)
        .load(conn)?)
}
