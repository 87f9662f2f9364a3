//! The `episodes` table and the status history in `episode_status_changes`.

use carebill_domain::accounts::{EpisodeKind, EpisodeStatus};
use carebill_domain::ids::{EpisodeId, LocationId, PatientId};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{episode_status_changes, episodes};

/// An episode as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = episodes)]
pub struct EpisodeRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: EpisodeId,
    /// The HIS's number, unique per location.
    pub number: String,
    /// The patient.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub patient_id: PatientId,
    /// The location.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub location_id: LocationId,
    /// Kind of care.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub kind: EpisodeKind,
    /// Current status.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: EpisodeStatus,
    /// Attending practitioner.
    pub attending_practitioner: Option<String>,
    /// When care started.
    pub opened_at: NaiveDateTime,
    /// When it was closed or cancelled.
    pub closed_at: Option<NaiveDateTime>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// One status change, as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = episode_status_changes)]
pub struct StatusChangeRow {
    /// Id (time-ordered).
    pub id: String,
    /// The episode.
    pub episode_id: String,
    /// Previous status; none for the opening.
    pub from_status: Option<String>,
    /// New status.
    pub to_status: String,
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub actor: String,
    /// When.
    pub at: NaiveDateTime,
}

/// Filters of the episode list.
#[derive(Debug, Clone, Default)]
pub struct EpisodeFilter {
    /// Of this patient.
    pub patient_id: Option<String>,
    /// At this location.
    pub location_id: Option<String>,
    /// In this status.
    pub status: Option<EpisodeStatus>,
    /// Of this kind.
    pub kind: Option<EpisodeKind>,
    /// With this number.
    pub number: Option<String>,
}

/// The episode with this id, if at one of `allowed` locations (`None`: any).
pub fn find(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    id: &str,
) -> Result<Option<EpisodeRow>, Error> {
    let mut q = episodes::table
        .filter(episodes::id.eq(id.to_owned()))
        .select(EpisodeRow::as_select())
        .into_boxed();
    if let Some(ids) = allowed {
        q = q.filter(episodes::location_id.eq_any(ids.to_vec()));
    }
    Ok(q.first(conn).optional()?)
}

/// Takes a share lock on these episodes (PostgreSQL, in id order), so that a concurrent status
/// change waits for the batch and a consumption never lands in an episode closed meanwhile;
/// then loads those at one of `allowed` locations. SQLite serialises writers: no lock there.
pub fn lock_shared(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    ids: &[String],
) -> Result<Vec<EpisodeRow>, Error> {
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT id FROM episodes WHERE id = ANY($1) ORDER BY id FOR SHARE")
            .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(ids)
            .execute(pg)?;
    }
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let mut q = episodes::table
            .filter(episodes::id.eq_any(chunk.to_vec()))
            .select(EpisodeRow::as_select())
            .into_boxed();
        if let Some(allowed) = allowed {
            q = q.filter(episodes::location_id.eq_any(allowed.to_vec()));
        }
        out.extend(q.load::<EpisodeRow>(conn)?);
    }
    Ok(out)
}

/// How many episodes of a location have this number.
pub fn count_number(
    conn: &mut AnyConnection,
    location_id: &str,
    number: &str,
) -> Result<i64, Error> {
    Ok(episodes::table
        .filter(episodes::location_id.eq(location_id))
        .filter(episodes::number.eq(number))
        .count()
        .get_result(conn)?)
}

/// Inserts an episode.
pub fn insert(conn: &mut AnyConnection, row: EpisodeRow) -> Result<(), Error> {
    diesel::insert_into(episodes::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Moves an episode from `from` to `to`, only if its status is still `from`; returns whether
/// it did (the loser of two concurrent transitions waits for the winner, then matches nothing).
pub fn update_status(
    conn: &mut AnyConnection,
    id: &str,
    from: EpisodeStatus,
    to: EpisodeStatus,
    closed_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> Result<bool, Error> {
    let changed = diesel::update(
        episodes::table
            .find(id)
            .filter(episodes::status.eq(from.as_str())),
    )
    .set((
        episodes::status.eq(to.as_str()),
        episodes::closed_at.eq(closed_at),
        episodes::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

/// Appends a status change.
pub fn insert_status_change(conn: &mut AnyConnection, row: StatusChangeRow) -> Result<(), Error> {
    diesel::insert_into(episode_status_changes::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// An episode's status changes, oldest first.
pub fn history(conn: &mut AnyConnection, episode_id: &str) -> Result<Vec<StatusChangeRow>, Error> {
    Ok(episode_status_changes::table
        .filter(episode_status_changes::episode_id.eq(episode_id))
        .order(episode_status_changes::id.asc())
        .select(StatusChangeRow::as_select())
        .load(conn)?)
}

/// A page of episodes at `allowed` locations (`None`: any), by id.
pub fn page(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    f: &EpisodeFilter,
    page: &PageRequest,
) -> Result<Vec<EpisodeRow>, Error> {
    let mut q = episodes::table.select(EpisodeRow::as_select()).into_boxed();
    if let Some(ids) = allowed {
        q = q.filter(episodes::location_id.eq_any(ids.to_vec()));
    }
    if let Some(p) = &f.patient_id {
        q = q.filter(episodes::patient_id.eq(p.clone()));
    }
    if let Some(l) = &f.location_id {
        q = q.filter(episodes::location_id.eq(l.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(episodes::status.eq(s.as_str()));
    }
    if let Some(k) = f.kind {
        q = q.filter(episodes::kind.eq(k.as_str()));
    }
    if let Some(n) = &f.number {
        q = q.filter(episodes::number.eq(n.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(episodes::id.gt(after.clone()));
    }
    Ok(q.order(episodes::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
