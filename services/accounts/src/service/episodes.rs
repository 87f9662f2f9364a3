//! Episodes (= accounts): opening one at an active location for a known patient, moving its
//! status with a reason (open ⇄ on_hold → closed → reopened open, or → cancelled), and what
//! events carry of it. Reads are limited to the caller's locations.

use std::collections::HashMap;

use carebill_domain::Code;
use carebill_domain::accounts::{EpisodeKind, EpisodeStatus};
use carebill_domain::events::{EpisodeClosedV1, EpisodeOpenedV1, EpisodeRef};
use carebill_domain::ids::{EpisodeId, LocationId, PatientId};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::Connection;
use serde::Serialize;

use crate::service::locations::Location;
use crate::service::patients::Patient;
use crate::service::{coverages, emit, locations, patients, unknown_as_field};
pub use crate::store::episodes::EpisodeFilter;
use crate::store::episodes::{self as store, EpisodeRow, StatusChangeRow};
use crate::store::{locations as location_store, patients as patient_store};

/// A status change in an episode's history.
#[derive(Debug, Clone, Serialize)]
pub struct StatusChange {
    /// Previous status (none for the opening).
    pub from: Option<EpisodeStatus>,
    /// New status.
    pub to: EpisodeStatus,
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// An episode with its history, as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct Episode {
    /// Id.
    pub id: EpisodeId,
    /// The HIS's number, unique per location.
    pub number: String,
    /// The patient.
    pub patient_id: PatientId,
    /// The location.
    pub location_id: LocationId,
    /// Kind of care.
    pub kind: EpisodeKind,
    /// Current status.
    pub status: EpisodeStatus,
    /// Attending practitioner.
    pub attending_practitioner: Option<String>,
    /// When care started.
    pub opened_at: DateTime<Utc>,
    /// When it was closed or cancelled.
    pub closed_at: Option<DateTime<Utc>>,
    /// Status history, oldest first.
    pub history: Vec<StatusChange>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A validated episode to open.
#[derive(Debug, Clone)]
pub struct NewEpisode {
    /// Number, unique per location.
    pub number: Code,
    /// The patient (a valid id).
    pub patient_id: String,
    /// The location (a valid id).
    pub location_id: String,
    /// Kind of care.
    pub kind: EpisodeKind,
    /// Attending practitioner.
    pub attending: Option<String>,
    /// When care started.
    pub opened_at: NaiveDateTime,
}

fn status_change(r: StatusChangeRow) -> Result<StatusChange, Error> {
    Ok(StatusChange {
        from: r
            .from_status
            .map(EpisodeStatus::try_from)
            .transpose()
            .map_err(Error::from)?,
        to: EpisodeStatus::try_from(r.to_status).map_err(Error::from)?,
        reason: r.reason,
        actor: r.actor,
        at: r.at.and_utc(),
    })
}

fn view(conn: &mut AnyConnection, r: EpisodeRow) -> Result<Episode, Error> {
    let history = store::history(conn, &r.id.to_string())?
        .into_iter()
        .map(status_change)
        .collect::<Result<_, _>>()?;
    Ok(Episode {
        id: r.id,
        number: r.number,
        patient_id: r.patient_id,
        location_id: r.location_id,
        kind: r.kind,
        status: r.status,
        attending_practitioner: r.attending_practitioner,
        opened_at: r.opened_at.and_utc(),
        closed_at: r.closed_at.map(|c| c.and_utc()),
        history,
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
    })
}

/// The episode row with this id, if at a location `scope` allows.
pub fn find(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<EpisodeRow, Error> {
    let allowed = location_store::allowed_ids(conn, scope)?;
    store::find(conn, allowed.as_deref(), id)?.ok_or_else(|| Error::not_found("episode"))
}

/// An episode this use case has just checked or written (in scope by then).
fn reread(conn: &mut AnyConnection, id: &str) -> Result<EpisodeRow, Error> {
    store::find(conn, None, id)?.ok_or_else(|| Error::not_found("episode"))
}

/// The episode with its history, if at a location `scope` allows.
#[tracing::instrument(skip_all, fields(episode_id = %id))]
pub fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<Episode, Error> {
    let row = find(conn, scope, id)?;
    view(conn, row)
}

fn make_ref(r: &EpisodeRow, location: &Location, patient: &Patient) -> EpisodeRef {
    EpisodeRef {
        id: r.id,
        number: r.number.clone(),
        kind: r.kind,
        location: location.to_ref(),
        patient: patient.to_ref(),
        attending_practitioner: r.attending_practitioner.clone(),
    }
}

/// The episode as event consumers see it: with its location and patient.
pub fn to_ref(conn: &mut AnyConnection, r: &EpisodeRow) -> Result<EpisodeRef, Error> {
    let location = locations::get(conn, &Scope::everything(), &r.location_id.to_string())?;
    let patient = patients::get(conn, &r.patient_id.to_string())?;
    Ok(make_ref(r, &location, &patient))
}

/// What events carry of these episodes, by id: their locations and patients looked up in one
/// statement each.
pub fn refs(
    conn: &mut AnyConnection,
    rows: &[&EpisodeRow],
) -> Result<HashMap<EpisodeId, EpisodeRef>, Error> {
    let mut location_ids: Vec<String> = rows.iter().map(|r| r.location_id.to_string()).collect();
    location_ids.sort();
    location_ids.dedup();
    let mut patient_ids: Vec<String> = rows.iter().map(|r| r.patient_id.to_string()).collect();
    patient_ids.sort();
    patient_ids.dedup();
    let locations: HashMap<LocationId, Location> = location_store::by_ids(conn, &location_ids)?
        .into_iter()
        .map(|l| Location::read(l).map(|l| (l.id, l)))
        .collect::<Result<_, _>>()?;
    let patients: HashMap<PatientId, Patient> = patient_store::by_ids(conn, &patient_ids)?
        .into_iter()
        .map(|p| Patient::read(p).map(|p| (p.id, p)))
        .collect::<Result<_, _>>()?;
    rows.iter()
        .map(|r| {
            let location = locations
                .get(&r.location_id)
                .ok_or_else(|| Error::not_found("location"))?;
            let patient = patients
                .get(&r.patient_id)
                .ok_or_else(|| Error::not_found("patient"))?;
            Ok((r.id, make_ref(r, location, patient)))
        })
        .collect()
}

fn record_change(
    conn: &mut AnyConnection,
    who: &Principal,
    episode_id: &str,
    from: Option<EpisodeStatus>,
    to: EpisodeStatus,
    reason: Option<&str>,
) -> Result<(), Error> {
    store::insert_status_change(
        conn,
        StatusChangeRow {
            id: uuid::Uuid::now_v7().to_string(),
            episode_id: episode_id.to_owned(),
            from_status: from.map(String::from),
            to_status: to.into(),
            reason: reason.map(str::to_owned),
            actor: who.subject.clone(),
            at: db::now(),
        },
    )
}

/// Opens an episode at an active location in the caller's scope for a known patient; its
/// number must be new at that location. Emits `episode.opened`.
#[tracing::instrument(skip_all)]
pub fn create(conn: &mut AnyConnection, who: &Principal, e: NewEpisode) -> Result<Episode, Error> {
    let scope = Scope::of(who);
    let location = locations::get(conn, &scope, &e.location_id)
        .map_err(|e| unknown_as_field(e, "location_id", "unknown", "no such location"))?;
    if !location.active {
        return Err(Error::field(
            "location_id",
            "inactive",
            "the location is inactive",
        ));
    }
    let patient = patients::get(conn, &e.patient_id)
        .map_err(|e| unknown_as_field(e, "patient_id", "unknown", "no such patient"))?;
    if store::count_number(conn, &e.location_id, e.number.as_str())? > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("episode {} already exists at {}", e.number, location.code),
        ));
    }
    let id = EpisodeId::new();
    let now = db::now();
    store::insert(
        conn,
        EpisodeRow {
            id,
            number: e.number.as_str().to_owned(),
            patient_id: patient.id,
            location_id: location.id,
            kind: e.kind,
            status: EpisodeStatus::Open,
            attending_practitioner: e.attending,
            opened_at: e.opened_at,
            closed_at: None,
            created_at: now,
            updated_at: now,
        },
    )?;
    let id = id.to_string();
    record_change(conn, who, &id, None, EpisodeStatus::Open, None)?;
    let row = reread(conn, &id)?;
    let payload = EpisodeOpenedV1 {
        episode: make_ref(&row, &location, &patient),
        opened_at: row.opened_at.and_utc(),
        coverages: coverages::refs_for_patient(conn, &e.patient_id)?,
        reopened: false,
        reason: None,
    };
    emit(conn, who, &payload)?;
    let view = view(conn, row)?;
    audit::record_at(
        conn,
        who,
        &view.location_id.to_string(),
        "create",
        "episode",
        &id,
        serde_json::json!({ "after": view }),
        None,
    )?;
    Ok(view)
}

/// Moves an episode's status with a reason, if the transition is allowed and nobody moved it
/// meanwhile. Emits `episode.closed` on closing or cancelling, `episode.opened` on reopening.
#[tracing::instrument(skip_all, fields(episode_id = %id, to = %to))]
pub fn change_status(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    to: EpisodeStatus,
    reason: &str,
) -> Result<Episode, Error> {
    conn.transaction(|conn| {
        let scope = Scope::of(who);
        let row = find(conn, &scope, id)?;
        let from = row.status;
        if !from.can_become(to) {
            return Err(Error::new(
                ErrorCode::InvalidTransition,
                format!("an episode cannot go from {from} to {to}"),
            ));
        }
        let now = db::now();
        let closed_at = match to {
            EpisodeStatus::Closed | EpisodeStatus::Cancelled => Some(now),
            _ => None,
        };
        if !store::update_status(conn, id, from, to, closed_at, now)? {
            return Err(Error::new(
                ErrorCode::ConcurrentUpdate,
                "the episode's status changed meanwhile; read it again",
            ));
        }
        record_change(conn, who, id, Some(from), to, Some(reason))?;
        let row = reread(conn, id)?;
        match to {
            EpisodeStatus::Closed | EpisodeStatus::Cancelled => emit(
                conn,
                who,
                &EpisodeClosedV1 {
                    episode_id: row.id,
                    location_id: row.location_id,
                    status: to,
                    closed_at: now.and_utc(),
                    reason: Some(reason.to_owned()),
                },
            )?,
            EpisodeStatus::Open if from == EpisodeStatus::Closed => {
                let payload = EpisodeOpenedV1 {
                    episode: to_ref(conn, &row)?,
                    opened_at: row.opened_at.and_utc(),
                    coverages: coverages::refs_for_patient(conn, &row.patient_id.to_string())?,
                    reopened: true,
                    reason: Some(reason.to_owned()),
                };
                emit(conn, who, &payload)?;
            }
            _ => {}
        }
        audit::record_at(
            conn,
            who,
            &row.location_id.to_string(),
            "status_change",
            "episode",
            id,
            serde_json::json!({ "from": from, "to": to }),
            Some(reason),
        )?;
        view(conn, row)
    })
}

/// A page of the episodes in `scope`.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &EpisodeFilter,
    page: &PageRequest,
) -> Result<Page<Episode>, Error> {
    let allowed = location_store::allowed_ids(conn, scope)?;
    let rows = store::page(conn, allowed.as_deref(), f, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    let items = page
        .items
        .into_iter()
        .map(|r| view(conn, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}
