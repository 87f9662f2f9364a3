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

/// A kind of record kept: the event payload it is kept as, and its kind.
pub(crate) trait Fact: DeserializeOwned {
    /// Its kind in `claim_facts`.
    const KIND: FactKind;
    /// What a stored value that does not read back is called in the error.
    const WHAT: &'static str;
}

macro_rules! facts {
    ($($ty:ty => $kind:ident, $what:literal;)*) => {$(
        impl Fact for $ty {
            const KIND: FactKind = FactKind::$kind;
            const WHAT: &'static str = $what;
        }
    )*};
}

facts! {
    LocationChangedV1 => Location, "kept location";
    PatientChangedV1 => Patient, "kept patient";
    CoverageChangedV1 => Coverages, "kept coverages";
    PractitionerChangedV1 => Practitioner, "kept practitioner";
    EpisodeCodedV1 => Coding, "kept episode coding";
    CatalogItemChangedV1 => CatalogItem, "kept catalog item";
    EpisodeRef => Episode, "kept episode";
}

fn read<T: Fact>(row: store::FactRow) -> Result<(String, Kept<T>), Error> {
    let value = carebill_domain::stored::json(T::WHAT, &row.data).map_err(Error::from)?;
    Ok((
        row.key,
        Kept {
            value,
            as_of: row.changed_at.and_utc(),
        },
    ))
}

/// The kept records of a kind with these keys (locations and patients by id, coverages by
/// patient, codings and episodes by episode, catalog items by code).
pub(crate) fn of<T: Fact>(
    conn: &mut AnyConnection,
    keys: &[String],
) -> Result<HashMap<String, Kept<T>>, Error> {
    store::of(conn, T::KIND, keys)?
        .into_iter()
        .map(read)
        .collect()
}

/// Every kept record of a kind (practitioners: free strings are matched against all of them).
pub(crate) fn all<T: Fact>(conn: &mut AnyConnection) -> Result<Vec<Kept<T>>, Error> {
    store::all(conn, T::KIND)?
        .into_iter()
        .map(|r| read(r).map(|(_, k)| k))
        .collect()
}
