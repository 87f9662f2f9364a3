//! Republishing master data: the current `*.changed` event of every record of a kind, enqueued
//! through the outbox as any change is, so that a service that keeps a copy (invoicing's claim
//! read models) fills on an install that had the records before it consumed their events, or
//! after its database was restored. Consumers keep the newest by `changed_at` or version, so an
//! announcement of a record they already have changes nothing.
//!
//! Coverages are announced per patient with `change` `announced`, which settlement does not
//! split its open settlements again for (any other `coverage.changed` it does).

use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;

use crate::service::{
    catalog, coverages, episode_codings, locations, patients, payers, practitioners, system,
};
use crate::store::episode_codings as coding_store;

/// What can be announced again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `location.changed`.
    Locations,
    /// `payer.changed`.
    Payers,
    /// `practitioner.changed`.
    Practitioners,
    /// `catalog_item.changed`.
    Catalog,
    /// `patient.changed`.
    Patients,
    /// `episode.coded` (each coded episode's current version).
    Codings,
    /// `coverage.changed` with change `announced`, per patient with coverages.
    Coverages,
}

/// Every kind, by the name the command line takes, in the order they are announced.
pub const KINDS: &[(&str, Kind)] = &[
    ("locations", Kind::Locations),
    ("payers", Kind::Payers),
    ("practitioners", Kind::Practitioners),
    ("catalog", Kind::Catalog),
    ("patients", Kind::Patients),
    ("codings", Kind::Codings),
    ("coverages", Kind::Coverages),
];

/// The kinds a comma-separated list names (every kind for `None`).
pub fn parse_kinds(list: Option<&str>) -> Result<Vec<Kind>, String> {
    let Some(list) = list else {
        return Ok(KINDS.iter().map(|(_, k)| *k).collect());
    };
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = KINDS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, k)| *k)
            .ok_or_else(|| {
                let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
                format!("unknown kind `{name}`; one of {}", names.join(", "))
            })?;
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    if out.is_empty() {
        return Err("name at least one kind".to_owned());
    }
    Ok(out)
}

/// Announces one page of `kind` (records after the id `after`, at most `limit`; patients for
/// coverages) in the caller's transaction; returns how many were announced, and the last id to
/// continue after (none when this was the last page).
pub fn page(
    conn: &mut AnyConnection,
    kind: Kind,
    after: Option<String>,
    limit: i64,
) -> Result<(usize, Option<String>), Error> {
    let who: Principal = system();
    let req = PageRequest { limit, after };
    let everything = Scope::everything();
    // Patients without coverages are paged over but not announced.
    let mut skipped = 0;
    let ids: Vec<String> = match kind {
        Kind::Locations => {
            let page = locations::list(conn, &everything, &req)?;
            for l in &page.items {
                locations::announce(conn, &who, l)?;
            }
            page.items.iter().map(|l| l.id.to_string()).collect()
        }
        Kind::Payers => {
            let page = payers::list(conn, &Default::default(), &req)?;
            for p in &page.items {
                payers::announce(conn, &who, p)?;
            }
            page.items.iter().map(|p| p.id.to_string()).collect()
        }
        Kind::Practitioners => {
            let page = practitioners::list(conn, &Default::default(), &req)?;
            for p in &page.items {
                practitioners::announce(conn, &who, p)?;
            }
            page.items
                .iter()
                .map(|p| p.practitioner.id.to_string())
                .collect()
        }
        Kind::Catalog => {
            let page = catalog::list(conn, &Default::default(), &req)?;
            for i in &page.items {
                catalog::announce(conn, &who, i)?;
            }
            page.items.iter().map(|i| i.id.to_string()).collect()
        }
        Kind::Patients => {
            let page = patients::list(conn, &Default::default(), &req)?;
            for p in &page.items {
                patients::announce(conn, &who, p)?;
            }
            page.items.iter().map(|p| p.id.to_string()).collect()
        }
        Kind::Codings => {
            let episodes = coding_store::coded_episodes(conn, req.after.as_deref(), limit)?;
            for id in &episodes {
                let coding = episode_codings::get(conn, &everything, id)?;
                episode_codings::announce(conn, &who, &coding)?;
            }
            episodes
        }
        Kind::Coverages => {
            let page = patients::list(conn, &Default::default(), &req)?;
            let ids: Vec<String> = page.items.iter().map(|p| p.id.to_string()).collect();
            skipped = ids.len() - coverages::announce_patients(conn, &who, &ids)?;
            ids
        }
    };
    let full = i64::try_from(ids.len()).unwrap_or(i64::MAX) >= limit; // not stored: a count
    let last = ids.last().cloned().filter(|_| full);
    Ok((ids.len() - skipped, last))
}
