//! Automatic assignment of new settlements to billers (least loaded or in turn) by their
//! location and payer skills.

use std::collections::BTreeMap;

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;

use crate::store::assignment::{self as store, Mode};
use crate::store::settlements::Row;

/// The first payer of a settlement, or `SELF`.
fn primary_payer(row: &Row) -> Result<String, Error> {
    let mut coverages = row.coverages()?;
    coverages.sort_by_key(|c| c.priority);
    Ok(coverages
        .into_iter()
        .next()
        .map_or_else(|| "SELF".to_owned(), |c| c.payer_code))
}

/// Picks the biller for a new settlement under the policy; none when assignment is off or no
/// biller is eligible.
pub fn auto_assign(conn: &mut AnyConnection, row: &Row) -> Result<Option<String>, Error> {
    let mut one = [row.clone()];
    assign_many(conn, &mut one)?;
    let [assigned] = one;
    Ok(assigned.assigned_to)
}

/// Assigns many new settlements at once (a committed billing run's), as [`auto_assign`] would
/// one after another: the load counts what this batch assigned too.
pub fn assign_many(conn: &mut AnyConnection, rows: &mut [Row]) -> Result<(), Error> {
    let candidates = store::active_billers(conn)?;
    if candidates.is_empty() || rows.is_empty() {
        return Ok(());
    }
    // Serialises assignments before reading the policy's last biller and the loads: two new
    // settlements never both see the same ones.
    store::lock_assignment(conn)?;
    let (mode, mut last) = store::policy(conn)?;
    if mode == Mode::Off {
        return Ok(());
    }
    let mut load: BTreeMap<String, i64> = BTreeMap::new();
    if mode != Mode::RoundRobin {
        for (who, _, n) in store::open_counts(conn, None)? {
            if let Some(w) = who {
                *load.entry(w).or_default() += n;
            }
        }
    }
    let skills: Vec<(String, Vec<String>, Vec<String>)> = candidates
        .into_iter()
        .map(|b| {
            let (locations, payers) = b.skills()?;
            Ok((b.subject, locations, payers))
        })
        .collect::<Result<_, Error>>()?;
    for row in rows.iter_mut() {
        let payer = primary_payer(row)?;
        let eligible: Vec<&String> = skills
            .iter()
            .filter(|(_, locations, payers)| {
                (locations.is_empty() || locations.contains(&row.location_code))
                    && (payers.is_empty() || payers.contains(&payer))
            })
            .map(|(subject, _, _)| subject)
            .collect();
        let Some(first) = eligible.first() else {
            continue;
        };
        let chosen = if mode == Mode::RoundRobin {
            let next = last
                .as_ref()
                .and_then(|l| eligible.iter().find(|s| **s > l))
                .map_or(first, |n| n);
            (*next).clone()
        } else {
            eligible
                .iter()
                .min_by_key(|s| (load.get(**s).copied().map_or(0, |n| n), (**s).clone()))
                .map_or(first, |s| s)
                .to_string()
        };
        *load.entry(chosen.clone()).or_default() += 1;
        last = Some(chosen.clone());
        row.assigned_to = Some(chosen);
    }
    if mode == Mode::RoundRobin {
        store::set_policy(conn, mode, last.as_deref())?;
    }
    Ok(())
}
