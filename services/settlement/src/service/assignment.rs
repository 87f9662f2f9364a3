//! Automatic assignment of new settlements to billers (least loaded or in turn) by their
//! location and payer skills; billers, the policy, reassignment and the workload view.

use std::collections::BTreeMap;

use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, ErrorCode, audit};
use diesel::Connection as _;

use crate::store::assignment::{self as store, OPEN};
pub use crate::store::assignment::{BillerRow, Mode};
use crate::store::settlements::{self as settlements, Row};

/// Open settlements per assignee and status.
pub type Counts = Vec<(Option<String>, String, i64)>;

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
#[tracing::instrument(skip_all)]
pub fn auto_assign(conn: &mut AnyConnection, row: &Row) -> Result<Option<String>, Error> {
    let mut one = [row.clone()];
    assign_many(conn, &mut one)?;
    let [assigned] = one;
    Ok(assigned.assigned_to)
}

/// Assigns many new settlements at once (a committed billing run's), as [`auto_assign`] would
/// one after another: the load counts what this batch assigned too.
#[tracing::instrument(skip_all)]
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
        for (who, _, n) in store::open_counts(conn, &Scope::everything())? {
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

/// Registers or changes a biller; returns them with the open work in the caller's scope.
#[tracing::instrument(skip_all)]
pub fn put_biller(
    conn: &mut AnyConnection,
    who: &Principal,
    subject: &str,
    name: &str,
    active: bool,
    locations: &[String],
    payers: &[String],
) -> Result<(BillerRow, Counts), Error> {
    conn.transaction(|conn| {
        let (locations_text, payers_text) = (
            serde_json::to_string(&locations)?,
            serde_json::to_string(&payers)?,
        );
        store::put_biller(
            conn,
            subject,
            name,
            active,
            &locations_text,
            &payers_text,
            db::now(),
        )?;
        audit::record(
            conn,
            who,
            "update",
            "biller",
            subject,
            serde_json::json!({ "name": name, "active": active, "locations": locations, "payers": payers }),
            None,
        )?;
        let row = store::biller(conn, subject)?;
        Ok((row, store::open_counts(conn, &Scope::of(who))?))
    })
}

/// Every biller, with the open work in the caller's scope.
#[tracing::instrument(skip_all)]
pub fn billers(conn: &mut AnyConnection, scope: &Scope) -> Result<(Vec<BillerRow>, Counts), Error> {
    let counts = store::open_counts(conn, scope)?;
    Ok((store::all_billers(conn)?, counts))
}

/// The assignment mode.
#[tracing::instrument(skip_all)]
pub fn mode(conn: &mut AnyConnection) -> Result<Mode, Error> {
    Ok(store::policy(conn)?.0)
}

/// Changes the assignment mode (audited).
#[tracing::instrument(skip_all)]
pub fn set_mode(conn: &mut AnyConnection, who: &Principal, new: Mode) -> Result<(), Error> {
    conn.transaction(|conn| {
        let (before, last) = store::policy(conn)?;
        store::set_policy(conn, new, last.as_deref())?;
        audit::record(
            conn,
            who,
            "update",
            "assignment_policy",
            "settlements",
            serde_json::json!({ "before": before.as_str(), "after": new.as_str() }),
            None,
        )?;
        Ok(())
    })
}

/// Reassigns an open settlement to an active biller, with a reason; returns that biller's open
/// work in the caller's scope.
#[tracing::instrument(skip_all, fields(settlement = id))]
pub fn reassign(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    to: &str,
    reason: &str,
) -> Result<Counts, Error> {
    conn.transaction(|conn| {
        let scope = Scope::of(who);
        let mut row = settlements::find_for_update(conn, id)?
            .filter(|r| scope.allows(&r.location_code, None))
            .ok_or_else(|| Error::not_found("settlement"))?;
        if !OPEN.contains(&row.status()) {
            return Err(Error::new(
                ErrorCode::NotOpen,
                format!("a settlement in {} is no one's work", row.status()),
            ));
        }
        if !store::is_active_biller(conn, to)? {
            return Err(Error::field(
                "assigned_to",
                "not_a_biller",
                format!("{to} is not an active biller (PUT /v1/billers/{to})"),
            ));
        }
        let before = row.assigned_to.replace(to.to_owned());
        settlements::save(conn, &row)?;
        audit::record_at(
            conn,
            who,
            &row.location_id,
            "reassign",
            "settlement",
            &row.id,
            serde_json::json!({ "before": before, "after": to }),
            Some(reason),
        )?;
        store::open_counts(conn, &scope)
    })
}

/// Open settlements per assignee and status in the caller's scope.
#[tracing::instrument(skip_all)]
pub fn workload(conn: &mut AnyConnection, scope: &Scope) -> Result<Counts, Error> {
    store::open_counts(conn, scope)
}
