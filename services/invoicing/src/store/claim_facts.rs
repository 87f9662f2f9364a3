//! `claim_facts`: what electronic claims need of accounts' master data, as its events last said
//! it. One row per record and kind; an event older than the row (a lower version, or the same
//! version changed earlier) changes nothing, so events may arrive in any order and twice.

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::claim_facts;

/// The kinds of record kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FactKind {
    /// `location.changed`, by location id.
    Location,
    /// `patient.changed`, by patient id.
    Patient,
    /// `coverage.changed`, by patient id: all of a patient's coverages.
    Coverages,
    /// `practitioner.changed`, by practitioner id.
    Practitioner,
    /// `episode.coded`, by episode id (versioned).
    Coding,
    /// `catalog_item.changed`, by the item's code (what invoice lines name it by).
    CatalogItem,
    /// What approvals say of the episode they bill (its kind, number, location, patient).
    Episode,
}

impl FactKind {
    /// The stored kind.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            FactKind::Location => "location",
            FactKind::Patient => "patient",
            FactKind::Coverages => "coverages",
            FactKind::Practitioner => "practitioner",
            FactKind::Coding => "coding",
            FactKind::CatalogItem => "catalog_item",
            FactKind::Episode => "episode",
        }
    }
}

/// A kept record: its key, the event payload (JSON) and when it changed.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct FactRow {
    /// The record's key.
    pub key: String,
    /// The payload, JSON.
    pub data: String,
    /// When it changed (UTC).
    pub changed_at: NaiveDateTime,
}

/// Keeps `data` for `(kind, key)` unless what is kept is as new or newer (a higher version, or
/// the same version changed at the same time or later).
pub(crate) fn keep_newest(
    conn: &mut AnyConnection,
    kind: FactKind,
    key: &str,
    data: &str,
    version: i64,
    changed_at: NaiveDateTime,
) -> Result<(), Error> {
    let inserted = carebill_platform::insert_new!(
        conn,
        claim_facts::table,
        (
            claim_facts::kind.eq(kind.as_str()),
            claim_facts::key.eq(key),
            claim_facts::data.eq(data),
            claim_facts::version.eq(version),
            claim_facts::changed_at.eq(changed_at),
        )
    );
    if inserted == 0 {
        diesel::update(
            claim_facts::table
                .filter(claim_facts::kind.eq(kind.as_str()))
                .filter(claim_facts::key.eq(key))
                .filter(
                    claim_facts::version.lt(version).or(claim_facts::version
                        .eq(version)
                        .and(claim_facts::changed_at.lt(changed_at))),
                ),
        )
        .set((
            claim_facts::data.eq(data),
            claim_facts::version.eq(version),
            claim_facts::changed_at.eq(changed_at),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// The kept records of `kind` with these keys (500 keys per query).
pub(crate) fn of(
    conn: &mut AnyConnection,
    kind: FactKind,
    keys: &[String],
) -> Result<Vec<FactRow>, Error> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(500) {
        out.extend(
            claim_facts::table
                .filter(claim_facts::kind.eq(kind.as_str()))
                .filter(claim_facts::key.eq_any(chunk))
                .select((claim_facts::key, claim_facts::data, claim_facts::changed_at))
                .load::<FactRow>(conn)?,
        );
    }
    Ok(out)
}

/// Every kept record of `kind` (practitioners: a free string is matched against all of them).
pub(crate) fn all(conn: &mut AnyConnection, kind: FactKind) -> Result<Vec<FactRow>, Error> {
    Ok(claim_facts::table
        .filter(claim_facts::kind.eq(kind.as_str()))
        .order(claim_facts::key.asc())
        .select((claim_facts::key, claim_facts::data, claim_facts::changed_at))
        .load::<FactRow>(conn)?)
}
