//! What electronic claims need of accounts' master data, kept from its events: locations'
//! claim facts, patients' details, their coverages with subscribers, practitioners, episodes'
//! coding and catalog items' billing codes. The e-billing check reads them as they are now;
//! invoicing never asks accounts on its write path. `carebill announce` fills them on an
//! install that had the master data before invoicing consumed these events.

use std::collections::HashMap;

use carebill_domain::events::{
    CatalogItemChangedV1, CoverageChangedV1, Envelope, EpisodeCodedV1, EpisodeRef, EventPayload,
    LocationChangedV1, PatientChangedV1, PractitionerChangedV1, SettlementApprovedV1,
};
use carebill_platform::Error;
use carebill_platform::db::{AnyConnection, truncate_micros};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::store::claim_facts::{self as store, FactKind};

/// A kept record as its event said it, and when it changed (what a gap shows as `as_of`).
#[derive(Debug, Clone)]
pub(crate) struct Kept<T> {
    /// The event's payload.
    pub value: T,
    /// When it changed.
    pub as_of: DateTime<Utc>,
}

fn bad(e: carebill_domain::events::EnvelopeError) -> Error {
    Error::invalid_event(e.to_string())
}

/// Keeps what one event says, unless newer is kept; other event types are not this module's
/// (false).
pub(crate) fn apply(conn: &mut AnyConnection, env: &Envelope) -> Result<bool, Error> {
    let (kind, key, version, at) = match env.event_type.as_str() {
        LocationChangedV1::TYPE => {
            let e: LocationChangedV1 = env.payload().map_err(bad)?;
            (
                FactKind::Location,
                e.location.id.to_string(),
                0,
                e.changed_at,
            )
        }
        PatientChangedV1::TYPE => {
            let e: PatientChangedV1 = env.payload().map_err(bad)?;
            (FactKind::Patient, e.patient_id.to_string(), 0, e.changed_at)
        }
        CoverageChangedV1::TYPE => {
            let e: CoverageChangedV1 = env.payload().map_err(bad)?;
            (
                FactKind::Coverages,
                e.patient_id.to_string(),
                0,
                e.changed_at,
            )
        }
        PractitionerChangedV1::TYPE => {
            let e: PractitionerChangedV1 = env.payload().map_err(bad)?;
            let id = e.practitioner.id.to_string();
            (FactKind::Practitioner, id, 0, e.changed_at)
        }
        EpisodeCodedV1::TYPE => {
            let e: EpisodeCodedV1 = env.payload().map_err(bad)?;
            (
                FactKind::Coding,
                e.episode_id.to_string(),
                e.version,
                e.changed_at,
            )
        }
        CatalogItemChangedV1::TYPE => {
            let e: CatalogItemChangedV1 = env.payload().map_err(bad)?;
            (FactKind::CatalogItem, e.item.code, 0, e.changed_at)
        }
        _ => return Ok(false),
    };
    store::keep_newest(
        conn,
        kind,
        &key,
        env.data.get(),
        version,
        truncate_micros(at.naive_utc()),
    )?;
    Ok(true)
}

/// Keeps what an approval says of the episode it bills (its kind picks the claim's format),
/// unless a later approval's is kept.
pub(crate) fn keep_episode(
    conn: &mut AnyConnection,
    approval: &SettlementApprovedV1,
) -> Result<(), Error> {
    store::keep_newest(
        conn,
        FactKind::Episode,
        &approval.episode.id.to_string(),
        &serde_json::to_string(&approval.episode)?,
        0,
        truncate_micros(approval.approved_at.naive_utc()),
    )
}

fn read<T: DeserializeOwned>(
    what: &'static str,
    row: store::FactRow,
) -> Result<(String, Kept<T>), Error> {
    let value = carebill_domain::stored::json(what, &row.data).map_err(Error::from)?;
    Ok((
        row.key,
        Kept {
            value,
            as_of: row.changed_at.and_utc(),
        },
    ))
}

fn of<T: DeserializeOwned>(
    conn: &mut AnyConnection,
    kind: FactKind,
    what: &'static str,
    keys: &[String],
) -> Result<HashMap<String, Kept<T>>, Error> {
    store::of(conn, kind, keys)?
        .into_iter()
        .map(|r| read(what, r))
        .collect()
}

/// The kept locations with these ids.
pub(crate) fn locations(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<HashMap<String, Kept<LocationChangedV1>>, Error> {
    of(conn, FactKind::Location, "kept location", ids)
}

/// The kept patients with these ids.
pub(crate) fn patients(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<HashMap<String, Kept<PatientChangedV1>>, Error> {
    of(conn, FactKind::Patient, "kept patient", ids)
}

/// The kept coverages of these patients.
pub(crate) fn coverages(
    conn: &mut AnyConnection,
    patient_ids: &[String],
) -> Result<HashMap<String, Kept<CoverageChangedV1>>, Error> {
    of(conn, FactKind::Coverages, "kept coverages", patient_ids)
}

/// The kept codings of these episodes.
pub(crate) fn codings(
    conn: &mut AnyConnection,
    episode_ids: &[String],
) -> Result<HashMap<String, Kept<EpisodeCodedV1>>, Error> {
    of(conn, FactKind::Coding, "kept episode coding", episode_ids)
}

/// The kept catalog items with these codes.
pub(crate) fn catalog_items(
    conn: &mut AnyConnection,
    codes: &[String],
) -> Result<HashMap<String, Kept<CatalogItemChangedV1>>, Error> {
    of(conn, FactKind::CatalogItem, "kept catalog item", codes)
}

/// The kept episodes with these ids.
pub(crate) fn episodes(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<HashMap<String, Kept<EpisodeRef>>, Error> {
    of(conn, FactKind::Episode, "kept episode", ids)
}

/// Every kept practitioner (free strings are matched against all of them).
pub(crate) fn practitioners(
    conn: &mut AnyConnection,
) -> Result<Vec<Kept<PractitionerChangedV1>>, Error> {
    store::all(conn, FactKind::Practitioner)?
        .into_iter()
        .map(|r| read("kept practitioner", r).map(|(_, k)| k))
        .collect()
}
