//! Episode coding: what an episode is coded as — its diagnoses (principal first), for inpatient
//! and long-term stays their admission, discharge and present-on-admission flags, and the
//! registry's practitioners claims name for it. Each change is a new version behind `If-Match`,
//! every version kept, the change announced (`episode.coded`). Reads and writes are limited to
//! the caller's locations, as the episode is.

use carebill_domain::Validation;
use carebill_domain::accounts::{EpisodeKind, EpisodeStatus};
use carebill_domain::events::{EpisodeCodedV1, EpisodeCoding};
use carebill_domain::ids::{EpisodeId, LocationId};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{if_match_admits, precondition_failed, precondition_required};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Serialize;

use crate::service::{emit, episodes, practitioners};
use crate::store::episode_codings::{self as store, CodingRow};
use crate::store::{read_json, write_json};

/// One version of an episode's coding.
#[derive(Debug, Clone, Serialize)]
pub struct Coding {
    /// The episode.
    pub episode_id: EpisodeId,
    /// Its location.
    pub location_id: LocationId,
    /// 0 before the first coding, then 1, 2, ...
    pub version: i64,
    /// What the episode is coded as.
    pub coding: EpisodeCoding,
    /// Why it changed.
    pub reason: Option<String>,
    /// Who changed it (none before the first coding).
    pub changed_by: Option<String>,
    /// When (none before the first coding).
    pub changed_at: Option<DateTime<Utc>>,
}

impl Coding {
    /// The entity tag of this version.
    pub fn etag(&self) -> String {
        format!("\"v{}\"", self.version)
    }

    fn read(episode_id: EpisodeId, location_id: LocationId, r: CodingRow) -> Result<Coding, Error> {
        Ok(Coding {
            episode_id,
            location_id,
            version: r.version,
            coding: read_json("episode coding", &r.data)?,
            reason: r.reason,
            changed_by: Some(r.changed_by),
            changed_at: Some(r.changed_at.and_utc()),
        })
    }
}

/// What a change did.
#[derive(Debug, Clone)]
pub enum Changed {
    /// A new version.
    New(Coding),
    /// The coding sent is the current one: nothing changed.
    Same(Coding),
}

/// The current coding of an episode at a location `scope` allows (version 0, empty, before the
/// first).
#[tracing::instrument(skip_all, fields(episode_id = %episode_id))]
pub fn get(conn: &mut AnyConnection, scope: &Scope, episode_id: &str) -> Result<Coding, Error> {
    let episode = episodes::find(conn, scope, episode_id)?;
    match store::current(conn, episode_id)? {
        Some(row) => Coding::read(episode.id, episode.location_id, row),
        None => Ok(Coding {
            episode_id: episode.id,
            location_id: episode.location_id,
            version: 0,
            coding: EpisodeCoding::default(),
            reason: None,
            changed_by: None,
            changed_at: None,
        }),
    }
}

/// Every version of an episode's coding, newest first.
#[tracing::instrument(skip_all, fields(episode_id = %episode_id))]
pub fn versions(
    conn: &mut AnyConnection,
    scope: &Scope,
    episode_id: &str,
) -> Result<Vec<Coding>, Error> {
    let episode = episodes::find(conn, scope, episode_id)?;
    store::versions(conn, episode_id)?
        .into_iter()
        .map(|r| Coding::read(episode.id, episode.location_id, r))
        .collect()
}

/// Whether an episode of this kind is a stay, with an admission and a discharge.
fn is_stay(kind: EpisodeKind) -> bool {
    matches!(kind, EpisodeKind::Inpatient | EpisodeKind::LongTermStay)
}

/// What the episode's kind allows, and whether the practitioners named exist; errors under the
/// input's field names.
fn check_for_episode(
    conn: &mut AnyConnection,
    kind: EpisodeKind,
    c: &EpisodeCoding,
) -> Result<(), Error> {
    let mut v = Validation::new();
    if !is_stay(kind) {
        let only_stays = "only inpatient and long-term stays have it";
        for (i, d) in c.diagnoses.iter().enumerate() {
            if d.present_on_admission.is_some() {
                v.add(
                    format!("diagnoses.{i}.present_on_admission"),
                    "not_allowed",
                    only_stays,
                );
            }
        }
        for (field, present) in [
            ("admitting_diagnosis", c.admitting_diagnosis.is_some()),
            ("admission", c.admission.is_some()),
            ("discharge", c.discharge.is_some()),
        ] {
            if present {
                v.add(field, "not_allowed", only_stays);
            }
        }
    }
    for (field, id) in [
        ("attending_practitioner_id", &c.attending_practitioner_id),
        ("referring_practitioner_id", &c.referring_practitioner_id),
        ("operating_practitioner_id", &c.operating_practitioner_id),
    ] {
        if let Some(id) = id {
            match practitioners::get(conn, &id.to_string()) {
                Ok(_) => {}
                Err(e) if e.code() == ErrorCode::NotFound => {
                    v.add(field, "unknown", "no such practitioner");
                }
                Err(e) => return Err(e),
            }
        }
    }
    v.finish().map_err(Error::validation)
}

/// Announces a version of an episode's coding.
pub(crate) fn announce(conn: &mut AnyConnection, who: &Principal, c: &Coding) -> Result<(), Error> {
    emit(
        conn,
        who,
        &EpisodeCodedV1 {
            episode_id: c.episode_id,
            location_id: c.location_id,
            version: c.version,
            coding: c.coding.clone(),
            reason: c.reason.clone(),
            changed_at: c
                .changed_at
                .ok_or_else(|| Error::internal(&"a coding version without its time"))?,
        },
    )
}

/// Codes an episode anew: `expected` is the `If-Match` the caller sent (the version they read).
/// Sending the current coding again changes nothing.
#[tracing::instrument(skip_all, fields(episode_id = %episode_id))]
pub fn change(
    conn: &mut AnyConnection,
    who: &Principal,
    episode_id: &str,
    expected: Option<String>,
    coding: EpisodeCoding,
    reason: Option<String>,
) -> Result<Changed, Error> {
    conn.transaction(|conn| {
        let episode = episodes::find(conn, &Scope::of(who), episode_id)?;
        store::lock_episode(conn, episode_id)?;
        let before = get(conn, &Scope::everything(), episode_id)?;
        let expected = expected.ok_or_else(|| {
            precondition_required("of GET /v1/episodes/{id}/coding (\"v0\" before the first)")
        })?;
        if !if_match_admits(&expected, &before.etag()) {
            return Err(precondition_failed(format!(
                "the coding is at {} now; read it again",
                before.etag()
            )));
        }
        if episode.status == EpisodeStatus::Cancelled {
            return Err(Error::new(
                ErrorCode::Cancelled,
                "the episode is cancelled: its coding no longer changes",
            ));
        }
        check_for_episode(conn, episode.kind, &coding)?;
        if before.version > 0 && before.coding == coding {
            return Ok(Changed::Same(before));
        }
        let now = db::now();
        store::insert(
            conn,
            CodingRow {
                episode_id: episode_id.to_owned(),
                version: before.version + 1,
                data: write_json("episode coding", &coding)?,
                reason: reason.clone(),
                changed_by: who.subject.clone(),
                changed_at: now,
            },
        )?;
        let after = get(conn, &Scope::everything(), episode_id)?;
        audit::record(
            conn,
            who,
            "code",
            "episode",
            episode_id,
            serde_json::json!({ "before": before, "after": after }),
            reason.as_deref(),
        )?;
        announce(conn, who, &after)?;
        Ok(Changed::New(after))
    })
}
