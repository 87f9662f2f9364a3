//! Settlement versions: lines recomputed from the inputs and the configuration in force (a new
//! version when anything changed), status changes, the approval event.
//!
//! Every change of lines (a consumption recorded or voided, coverages changed, a recompute, a
//! biller's correction) makes a new version. Line revisions are stored once and are valid from
//! the version that made them until the version that replaced them, so any version reads back
//! and two versions compare without copying unchanged lines. A consumption that cannot be priced
//! is kept, flagged with an issue; a settlement with issues cannot be approved.

use std::collections::HashMap;

use carebill_domain::conditions::CompiledSet;
use carebill_domain::events::{
    Envelope, PartyRef, SettledLine, SettledShare, SettlementApprovedV1,
};
use carebill_domain::pricing::{Allowances, PricedLine, compute, issue, service_day};
use carebill_domain::settlement::{SettlementStatus, YearToDate};
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use chrono::{DateTime, Datelike as _, Utc};

use crate::service::{conditions, offers, periodic};
use crate::store::lines::line_data;
use crate::store::pricing;
use crate::store::settlements::{self as store, Cause, Row};

/// The actor recorded for changes made by events.
pub const SYSTEM: &str = "system";

/// Recomputes a settlement's lines from its inputs and the configuration in force; when anything
/// changed, stores a new version and updates `row`. Returns whether a version was made.
#[tracing::instrument(skip_all)]
pub fn recompute(conn: &mut AnyConnection, row: &mut Row, cause: &Cause) -> Result<bool, Error> {
    let conditions = conditions::compiled(conn)?;
    let mut lines = lines_now(conn, row, conditions.as_ref().map(|(_, set)| set.as_ref()))?;
    check_billing(conn, &row.id, &mut lines)?;
    let voids = store::billed_voids(conn, &row.id)?;
    if voids != row.pending_voids {
        row.pending_voids = voids;
        row.revision += 1;
    }

    let mut current = store::current_line_data(conn, &row.id)?;
    let mut changed: Vec<(String, String)> = Vec::new();
    for line in &lines {
        let data = line_data(line)?;
        match current.remove(&line.consumption_id) {
            Some(old) if old == data => {}
            _ => changed.push((line.consumption_id.clone(), data)),
        }
    }
    let removed: Vec<String> = current.into_keys().collect();
    if changed.is_empty() && removed.is_empty() {
        return Ok(false);
    }
    let version = row.version + 1;
    let closing: Vec<&String> = changed.iter().map(|(id, _)| id).chain(&removed).collect();
    store::replace_lines(conn, &row.id, version, &closing, &changed)?;
    let f = store::figures(&lines)?;
    let now = db::now();
    store::insert_version(conn, &row.id, version, cause, now, &f)?;
    row.version = version;
    row.revision += 1;
    row.currency = f.currency;
    row.total_minor = f.total_minor;
    row.line_count = f.line_count;
    row.issue_count = f.issue_count;
    row.updated_at = now;
    store::save(conn, row)?;
    Ok(true)
}

/// The lines of a settlement computed now from its inputs, the prices and terms in force and
/// `conditions` (the set in force, or a draft being tried). Stores nothing.
#[tracing::instrument(skip_all)]
pub fn lines_now(
    conn: &mut AnyConnection,
    row: &Row,
    conditions: Option<&CompiledSet>,
) -> Result<Vec<PricedLine>, Error> {
    if let Some(run) = &row.billing_run_id {
        return periodic::lines(conn, row, run);
    }
    let episode = row.episode()?;
    let coverages = row.coverages()?;
    let inputs = store::load_inputs(conn, &row.id)?;
    let mut codes: Vec<String> = inputs
        .iter()
        .map(|i| i.consumption.item.code.clone())
        .collect();
    codes.sort();
    codes.dedup();
    let payers: Vec<String> = coverages.iter().map(|c| c.payer_code.clone()).collect();
    let prices = pricing::load_prices(conn, &codes)?;
    let terms = pricing::load_terms(conn, &payers)?;
    let before = if terms.values().any(|(_, t)| t.spans_episodes()) {
        year_to_date(conn, row)?
    } else {
        YearToDate::default()
    };
    let offers = offers::book_for(conn, &row.patient_id, Some(&row.id), &codes)?;
    Ok(compute(
        &episode,
        &coverages,
        &inputs,
        &prices,
        &terms,
        conditions,
        Allowances {
            year: before,
            offers,
        },
    ))
}

/// What the patient's other settlements (their current lines) already used of each payer's
/// yearly deductible and cap. Takes the patient's lock first (PostgreSQL), so that two of their
/// episodes recomputed at once cannot both use the same deductible: first come, first served.
fn year_to_date(conn: &mut AnyConnection, row: &Row) -> Result<YearToDate, Error> {
    store::lock_patient(conn, &row.patient_id)?;
    // Cancelled settlements bill nothing; periodic ones bill by invoicing rules, not by
    // coverage terms.
    let episodes = store::patient_other_episodes(conn, row)?;
    let mut used = YearToDate::default();
    if episodes.is_empty() {
        return Ok(used);
    }
    let ids: Vec<&String> = episodes.keys().collect();
    for (settlement, line) in store::current_lines_of(conn, &ids)? {
        let Some(episode) = episodes.get(&settlement) else {
            continue;
        };
        let year = service_day(episode, line.performed_at).year();
        for share in line.shares.iter().filter(|s| s.terms_id.is_some()) {
            if let Some(payer) = &share.party.payer_code {
                let minor = |what: &str, m: &Money| {
                    m.to_minor()
                        .map(|u| u.0)
                        .map_err(|e| Error::stored(what, &m.to_string(), e))
                };
                let deductible = match &share.deductible {
                    Some(d) => minor("share deductible", d)?,
                    None => 0,
                };
                used.add(
                    payer,
                    year,
                    deductible,
                    minor("share amount", &share.amount)?,
                );
            }
        }
    }
    Ok(used)
}

/// Stores a new version with the same lines (e.g. a reopening) and saves `row`.
#[tracing::instrument(skip_all)]
pub fn new_version(conn: &mut AnyConnection, row: &mut Row, cause: &Cause) -> Result<(), Error> {
    let version = row.version + 1;
    let now = db::now();
    let f = store::Figures {
        currency: row.currency.clone(),
        total_minor: row.total_minor,
        line_count: row.line_count,
        issue_count: row.issue_count,
    };
    store::insert_version(conn, &row.id, version, cause, now, &f)?;
    row.version = version;
    row.revision += 1;
    row.updated_at = now;
    store::save(conn, row)
}

/// Moves a settlement to `to`, recording who and why (the caller saves the row).
#[tracing::instrument(skip_all)]
pub fn change_status(
    conn: &mut AnyConnection,
    row: &mut Row,
    to: SettlementStatus,
    reason: Option<&str>,
    by: &str,
) -> Result<(), Error> {
    let now = db::now();
    store::insert_status_change(conn, row, to, reason, by, now)?;
    row.status = to;
    row.revision += 1;
    row.updated_at = now;
    Ok(())
}

/// The `settlement.approved` event of the current version.
#[tracing::instrument(skip_all)]
pub fn approved_event(
    conn: &mut AnyConnection,
    row: &Row,
    by: &str,
    at: DateTime<Utc>,
) -> Result<SettlementApprovedV1, Error> {
    let episode = row.episode()?;
    let lines = store::lines_at(conn, &row.id, row.version)?;
    // Approval needs priced lines, hence a currency.
    let stored = row
        .currency
        .as_deref()
        .ok_or_else(|| Error::internal(&"an approved settlement without a currency"))?;
    let currency =
        Currency::parse(stored).map_err(|e| Error::stored("settlement currency", stored, e))?;
    let mut parties: Vec<PartyRef> = Vec::new();
    let mut settled = Vec::new();
    for l in lines.iter().filter(|l| !l.excluded) {
        let (Some(unit_price), Some(amount)) = (l.unit_price, l.amount) else {
            continue;
        };
        let mut shares = Vec::new();
        for s in &l.shares {
            if s.amount.amount().is_zero() {
                continue;
            }
            if !parties.iter().any(|p| p.key() == s.party.key()) {
                parties.push(s.party.clone());
            }
            shares.push(SettledShare {
                party: s.party.key(),
                amount: s.amount,
                parts: s.parts.clone(),
                method: s.method,
            });
        }
        settled.push(SettledLine {
            consumption_id: l.consumption_id.parse().map_err(|e| Error::internal(&e))?,
            code: l.code.clone(),
            description: l.description.clone(),
            service_group: l.service_group.clone(),
            quantity: l.quantity,
            unit: l.unit.clone(),
            performed_at: l.performed_at,
            unit_price,
            amount,
            shares,
            kind: l.kind,
            performed_by: l.performed_by.clone(),
            claim: l.claim.clone(),
        });
    }
    // Payers first, the patient last.
    parties.sort_by_key(|p| p.kind == carebill_domain::events::PartyKind::Patient);
    // Each party with what its invoice names it by, as accounts last reported it: a payer's from
    // the coverage it pays through, the patient's from the episode.
    // Master data completed after the settlement's last consumption still counts: what accounts
    // announced later (payer.changed, location.changed) wins over the snapshot.
    let coverages = row.coverages()?;
    let carried_at = row.coverages_at;
    for party in &mut parties {
        party.billing = match party.coverage_id {
            Some(coverage_id) => {
                let carried = coverages
                    .iter()
                    .find(|c| c.id == coverage_id)
                    .and_then(|c| c.payer_billing.clone());
                newest(conn, &format!("payer:{}", party.id), carried, carried_at)?
            }
            None => episode.patient.billing.clone(),
        };
    }
    let mut episode = episode;
    episode.location.billing = newest(
        conn,
        &format!("location:{}", episode.location.id),
        episode.location.billing.clone(),
        carried_at,
    )?;
    Ok(SettlementApprovedV1 {
        settlement_id: row.id.parse().map_err(|e| Error::internal(&e))?,
        number: row.number.clone(),
        kind: row.kind,
        parent_settlement_id: row
            .parent_id
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| Error::internal(&e))?,
        version: row.version,
        episode,
        currency,
        parties,
        lines: settled,
        total: Money::from_minor(MinorUnits(row.total_minor), currency),
        approved_by: by.to_owned(),
        approved_at: at,
    })
}

/// What invoices name a party by: the billing accounts announced for it when that is newer than
/// the snapshot the settlement's events carried (as of `carried_at`), else the snapshot.
fn newest(
    conn: &mut AnyConnection,
    party: &str,
    carried: Option<carebill_domain::events::PartyBilling>,
    carried_at: chrono::NaiveDateTime,
) -> Result<Option<carebill_domain::events::PartyBilling>, Error> {
    Ok(match crate::store::party_billing::find(conn, party)? {
        Some((announced, at)) if carried.is_none() || at > carried_at => Some(announced),
        _ => carried,
    })
}

/// Flags lines whose shares differ from what an active invoice bills for them.
fn check_billing(
    conn: &mut AnyConnection,
    id: &str,
    lines: &mut [PricedLine],
) -> Result<(), Error> {
    let billed = store::active_billing(conn, id)?;
    if billed.is_empty() {
        return Ok(());
    }
    let mut by_line: HashMap<&str, Vec<&store::Billed>> = HashMap::new();
    for b in &billed {
        by_line
            .entry(b.consumption_id.as_str())
            .or_default()
            .push(b);
    }
    for line in lines.iter_mut() {
        if !line.issues.is_empty() {
            continue;
        }
        let Some(bills) = by_line.get(line.consumption_id.as_str()) else {
            continue;
        };
        for b in bills.iter().copied() {
            let party = &b.party_key;
            let now: i64 = if line.excluded {
                0
            } else {
                let mut sum: i64 = 0;
                for s in line.shares.iter().filter(|s| &s.party.key() == party) {
                    let minor = s.amount.to_minor().map_err(|e| {
                        Error::internal(&format!(
                            "share of {party} on line {} ({}) cannot be represented: {e}",
                            line.consumption_id, s.amount
                        ))
                    })?;
                    sum = sum.checked_add(minor.0).ok_or_else(|| {
                        Error::internal(&format!(
                            "the shares of {party} on line {} overflow",
                            line.consumption_id
                        ))
                    })?;
                }
                sum
            };
            if now != b.amount_minor {
                let billed = b.amount();
                let number = &b.invoice_number;
                line.issues.push(issue(
                    "billed_differently",
                    format!(
                        "invoice {number} bills {billed} of this line to {party}, which it would no longer pay as computed now; credit that invoice (with reissue) before approving"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Enqueues the approval event of `row`'s current version.
#[tracing::instrument(skip_all)]
pub fn enqueue_approval(
    conn: &mut AnyConnection,
    row: &Row,
    by: &str,
    correlation: Option<String>,
) -> Result<(), Error> {
    let now = Utc::now();
    let payload = approved_event(conn, row, by, now)?;
    let env = Envelope::new("settlement", &payload, now, correlation, None)
        .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)
}
