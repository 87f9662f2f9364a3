//! What accounts' and invoicing's events do to settlements, one use case per event: consumptions
//! stored as inputs of their episode's settlement (the open one; the approved one, reopened; or a
//! new one, supplementary after an invoiced one), voids, coverage changes, episode cancellations,
//! invoices and credit notes (full ones cancel an invoice's lines, partial ones reduce them).
//! Settlements to recompute are marked ([`Dirty`]) and recomputed once per batch
//! ([`recompute_marked`]); the batch's locks are taken by `consumer.rs`, in its order.
//!
//! Late consumptions reopen an approved settlement that is not invoiced yet; once invoiced they
//! start a supplementary settlement. Invoicing bills each (consumption, party) once, so an
//! approval racing a late consumption never bills a line twice.

use std::collections::BTreeMap;

use carebill_domain::events::{
    ConsumptionRecordedV1, ConsumptionVoidedV1, CoverageChangedV1, CreditNoteIssuedV1,
    EpisodeClosedV1, InvoiceIssuedV1, SettlementInvoicedV1,
};
use carebill_domain::settlement::{SettlementKind, SettlementStatus};
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};

use crate::service::settlements::{SYSTEM, change_status, new_version, recompute};
use crate::service::{assignment, care_records};
use crate::store::settlements::{self as store, Cause, Row};

/// Settlements whose lines must be recomputed at the end of a batch, with what caused it.
pub type Dirty = BTreeMap<String, (String, Option<String>, String)>;

/// Marks settlement `id` for recomputation at the end of the batch, with what caused it (two
/// different causes make `events`).
#[tracing::instrument(skip_all)]
pub fn mark(dirty: &mut Dirty, id: &str, kind: &str, reason: Option<&str>, by: &str) {
    dirty
        .entry(id.to_owned())
        .and_modify(|c| {
            if c.0 != kind {
                "events".clone_into(&mut c.0);
                c.1 = None;
            }
        })
        .or_insert_with(|| (kind.to_owned(), reason.map(str::to_owned), by.to_owned()));
}

/// Stores new consumptions as inputs of their episodes' settlements (grouped per episode: one
/// lookup, one insert, one recomputation later).
#[tracing::instrument(skip_all)]
pub fn on_consumptions(
    conn: &mut AnyConnection,
    recorded: &[ConsumptionRecordedV1],
    dirty: &mut Dirty,
) -> Result<(), Error> {
    if recorded.is_empty() {
        return Ok(());
    }
    // Pricing reads service days and hours in the location's time zone; accounts only sends
    // zones it checked, so one that does not parse breaks the contract: the batch is refused
    // (retried, then parked for a person), never priced as if the location were in UTC.
    for c in recorded {
        let zone = &c.episode.location.time_zone;
        carebill_domain::accounts::parse_time_zone(zone).map_err(|e| {
            Error::invalid_event(format!(
                "consumption {}: the location's time zone `{zone}` is not one: {e}",
                c.consumption_id
            ))
        })?;
    }
    let mut by_episode: BTreeMap<String, Vec<&ConsumptionRecordedV1>> = BTreeMap::new();
    for c in recorded {
        by_episode
            .entry(c.episode.id.to_string())
            .or_default()
            .push(c);
    }
    // The episodes are locked already (apply_events).
    for (_, all) in by_episode {
        let ids: Vec<String> = all.iter().map(|c| c.consumption_id.to_string()).collect();
        let known = store::known_inputs(conn, &ids)?;
        let mut taken = std::collections::HashSet::new();
        let fresh: Vec<&ConsumptionRecordedV1> = all
            .into_iter()
            .filter(|c| {
                let id = c.consumption_id.to_string();
                !known.contains(&id) && taken.insert(id)
            })
            .collect();
        let Some(first) = fresh.first() else {
            continue;
        };
        let mut row = target_settlement(conn, first)?;
        store::insert_inputs(conn, &row.id, &fresh)?;
        // The freshest view of the episode and the patient's coverages wins.
        if let Some(newest) = fresh.iter().max_by_key(|c| c.recorded_at) {
            let at = newest.recorded_at.naive_utc();
            if at >= row.coverages_at {
                row.coverages = serde_json::to_string(&newest.coverages)?;
                row.coverages_at = at;
                row.episode = serde_json::to_string(&newest.episode)?;
                store::save(conn, &row)?;
            }
        }
        mark(dirty, &row.id, "consumption_recorded", None, SYSTEM);
    }
    Ok(())
}

/// The settlement a new consumption of `episode` goes to: the open one; the approved one,
/// reopened; or a new one (regular, or supplementary after an invoiced one).
fn target_settlement(conn: &mut AnyConnection, c: &ConsumptionRecordedV1) -> Result<Row, Error> {
    let episode_id = c.episode.id.to_string();
    // Lock every settlement of the episode while reading them (in id order, one statement): the
    // API and invoicing's events change them under the row lock alone.
    let existing = store::episode_settlements_for_update(conn, &episode_id)?;
    // The episode's cancellation was applied first (two consumers, replicas or a retry): the
    // consumption is kept, in the newest cancelled settlement or a new one born cancelled, and
    // nothing approved is reopened for it.
    if let Some(reason) = &store::cancellation(conn, &episode_id)? {
        if let Some(row) = existing
            .iter()
            .find(|r| r.status() == SettlementStatus::Cancelled)
        {
            return Ok(row.clone());
        }
        let mut row = new_target(conn, c, &existing, false)?;
        cancel_with_episode(conn, &mut row, reason.as_deref())?;
        store::save(conn, &row)?;
        return Ok(row);
    }
    if let Some(open) = existing.iter().find(|r| r.status().is_open()) {
        return Ok(open.clone());
    }
    if let Some(approved) = existing
        .iter()
        .find(|r| r.status() == SettlementStatus::Approved)
    {
        let mut approved = approved.clone();
        change_status(
            conn,
            &mut approved,
            SettlementStatus::Draft,
            Some(&format!(
                "late consumption {} after approval",
                c.consumption_id
            )),
            SYSTEM,
        )?;
        store::save(conn, &approved)?;
        return Ok(approved);
    }
    new_target(conn, c, &existing, true)
}

/// A new draft settlement of `c`'s episode, stored: regular, or supplementary after an invoiced
/// regular one. `existing` are the episode's settlements, newest first. `assign`: to a biller
/// (not a settlement that is born cancelled).
fn new_target(
    conn: &mut AnyConnection,
    c: &ConsumptionRecordedV1,
    existing: &[Row],
    assign: bool,
) -> Result<Row, Error> {
    let regular = existing
        .iter()
        .rfind(|r| r.kind == SettlementKind::Regular && r.status != SettlementStatus::Cancelled);
    let (kind, parent) = match regular {
        Some(r) if r.status == SettlementStatus::Invoiced => {
            (SettlementKind::Supplementary, Some(r.id.clone()))
        }
        _ => (SettlementKind::Regular, None),
    };
    let mut row = Row::draft(
        uuid::Uuid::now_v7().to_string(),
        format!(
            "{}/{}/{}",
            c.episode.location.code,
            c.episode.number,
            existing.len() + 1
        ),
        kind,
        &c.episode,
        &c.coverages,
        c.recorded_at.naive_utc(),
    )?;
    row.parent_id = parent;
    if assign {
        row.assigned_to = assignment::auto_assign(conn, &row)?;
    }
    store::insert(conn, &row)?;
    Ok(row)
}

/// A consumption voided: its settlement loses the line (a draft again if it was approved, a
/// billed void while invoiced).
#[tracing::instrument(skip_all)]
pub fn on_void(
    conn: &mut AnyConnection,
    v: &ConsumptionVoidedV1,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    store::lock_episode(conn, &v.episode_id.to_string())?;
    let id = v.consumption_id.to_string();
    let known = store::input_of(conn, &id)?;
    let settlement = match known {
        Some((_, true)) => return Ok(()),
        Some((settlement, false)) => settlement,
        None => {
            // The void overtook the recording: a voided tombstone makes the late `recorded`
            // event a no-op.
            store::insert_void_tombstone(conn, &id, v.voided_at.naive_utc())?;
            return Ok(());
        }
    };
    store::void_input(conn, &id)?;
    let Some(mut row) = store::find_for_update(conn, &settlement)? else {
        return Ok(());
    };
    if row.status() == SettlementStatus::Approved {
        // Approved but not invoiced: back to draft, as for a late consumption; or, when the
        // episode's cancellation was applied first, cancelled, as the cancellation would have
        // left it after the void (without the line: recomputed below).
        match store::cancellation(conn, &row.episode_id)? {
            Some(reason) => cancel_with_episode(conn, &mut row, reason.as_deref())?,
            None => change_status(
                conn,
                &mut row,
                SettlementStatus::Draft,
                Some(&format!(
                    "consumption {} voided after approval",
                    v.consumption_id
                )),
                SYSTEM,
            )?,
        }
        store::save(conn, &row)?;
    }
    if row.status().is_open() || row.status() == SettlementStatus::Cancelled {
        // A cancelled settlement loses the line too, whichever came first, void or cancellation.
        mark(
            dirty,
            &row.id,
            "consumption_voided",
            Some(&v.reason),
            &v.voided_by,
        );
    } else {
        // Invoiced: the line stays billed until its invoices are credited with reissue, which
        // reopens the settlement; until then it counts as a billed void.
        row.pending_voids = store::billed_voids(conn, &row.id)?;
        row.revision += 1;
        row.updated_at = db::now();
        store::save(conn, &row)?;
    }
    Ok(())
}

/// The `change` of a `coverage.changed` that only repeats the patient's coverages.
const ANNOUNCED: &str = "announced";

/// A patient's coverages changed: kept, told to billing runs, and given to every settlement of
/// the patient; the open ones are split again. An announcement changes nothing.
#[tracing::instrument(skip_all)]
pub fn on_coverage(
    conn: &mut AnyConnection,
    c: &CoverageChangedV1,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    // An announcement (`carebill announce --what coverages`, for services that keep a copy)
    // repeats what was announced before: nothing to split again.
    if c.change == ANNOUNCED {
        return Ok(());
    }
    // The patient's lock (taken with the batch's, up front) orders this with the settlements and
    // care records being made for the patient, which read what is kept here.
    let patient = c.patient_id.to_string();
    let at = c.changed_at.naive_utc();
    let json = serde_json::to_string(&c.coverages)?;
    match store::patient_coverages_at(conn, &patient)? {
        None => store::put_patient_coverages(conn, &patient, &json, at, false)?,
        Some(known) if known <= at => {
            store::put_patient_coverages(conn, &patient, &json, at, true)?
        }
        Some(_) => {}
    }
    // Every settlement of the patient keeps the latest coverages (so that one reopened after a
    // credit note is split with them); the open ones are split again now.
    let ids = store::patient_settlement_ids(conn, &patient)?;
    // Billing runs bill the insurance and public-authority contexts to the coverages they know.
    care_records::update_coverages(conn, &patient, None, &json, at)?;
    for id in ids {
        let Some(mut row) = store::find_for_update(conn, &id)? else {
            continue;
        };
        if at < row.coverages_at {
            continue;
        }
        row.coverages.clone_from(&json);
        row.coverages_at = at;
        store::save(conn, &row)?;
        if row.status().is_open() {
            mark(dirty, &row.id, "coverage_changed", Some(&c.change), SYSTEM);
        }
    }
    Ok(())
}

/// An episode closed: when accounts cancelled it, its open settlements are cancelled, and so is
/// whatever of it arrives later.
#[tracing::instrument(skip_all)]
pub fn on_episode_closed(conn: &mut AnyConnection, e: &EpisodeClosedV1) -> Result<(), Error> {
    if e.status != carebill_domain::accounts::EpisodeStatus::Cancelled {
        return Ok(());
    }
    let episode_id = e.episode_id.to_string();
    store::lock_episode(conn, &episode_id)?;
    // Cancelled is final: consumptions of the episode applied from now on (recorded before the
    // cancellation, applied after it) are kept in a cancelled settlement.
    store::insert_cancelled_episode(
        conn,
        &episode_id,
        e.reason.as_deref(),
        e.closed_at.naive_utc(),
    )?;
    let ids = store::episode_settlement_ids(conn, &episode_id)?;
    for id in ids {
        let Some(mut row) = store::find_for_update(conn, &id)? else {
            continue;
        };
        if row.status().is_open() {
            cancel_with_episode(conn, &mut row, e.reason.as_deref())?;
            store::save(conn, &row)?;
        }
    }
    Ok(())
}

/// Cancels `row` because accounts cancelled its episode, with the cancellation's reason (the
/// caller saves it).
fn cancel_with_episode(
    conn: &mut AnyConnection,
    row: &mut Row,
    reason: Option<&str>,
) -> Result<(), Error> {
    change_status(
        conn,
        row,
        SettlementStatus::Cancelled,
        Some(match reason {
            Some(r) => r,
            None => "episode cancelled",
        }),
        SYSTEM,
    )
}

/// Invoicing invoiced a version: recorded, and an approved settlement of that version is
/// invoiced.
#[tracing::instrument(skip_all)]
pub fn on_invoiced(conn: &mut AnyConnection, i: &SettlementInvoicedV1) -> Result<(), Error> {
    let Some(mut row) = store::find_for_update(conn, &i.settlement_id.to_string())? else {
        return Ok(());
    };
    row.invoiced_version = Some(
        row.invoiced_version
            .map_or(i.settlement_version, |v| v.max(i.settlement_version)),
    );
    row.revision += 1;
    row.updated_at = db::now();
    if row.status() == SettlementStatus::Approved
        && row.approved_version == Some(i.settlement_version)
    {
        change_status(
            conn,
            &mut row,
            SettlementStatus::Invoiced,
            Some(&format!("{} invoice(s) issued", i.invoice_ids.len())),
            SYSTEM,
        )?;
    }
    store::save(conn, &row)
}

/// An invoice issued: what it bills of each line is kept (once), and the settlement checks its
/// lines against it.
#[tracing::instrument(skip_all)]
pub fn on_invoice_issued(
    conn: &mut AnyConnection,
    i: &InvoiceIssuedV1,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    let invoice = i.invoice_id.to_string();
    let settlement = i.settlement_id.to_string();
    // The settlement's row lock orders this after (or before) a credit note of the invoice
    // applied concurrently, so one of the two sees the other's effect.
    let row = store::find_for_update(conn, &settlement)?;
    if store::invoice_known(conn, &invoice)? {
        return Ok(());
    }
    // A credit note that overtook this event: its lines are stored as no longer billed, and
    // what partial ones took back is applied now.
    let credited = store::invoice_credited(conn, &invoice)?;
    store::insert_billing(conn, i, !credited)?;
    let partial = store::partial_credit_lines_of(conn, &invoice)?;
    apply_partial_credits(conn, &invoice, &partial)?;
    billing_changed(conn, row, dirty)
}

/// After invoicing billed or credited something: the open settlement checks its lines against
/// it again; any settlement recounts its billed voids.
fn billing_changed(
    conn: &mut AnyConnection,
    row: Option<Row>,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    let Some(mut row) = row else {
        return Ok(());
    };
    if row.status().is_open() {
        mark(dirty, &row.id, "billing_changed", None, SYSTEM);
    } else {
        let voids = store::billed_voids(conn, &row.id)?;
        if voids != row.pending_voids {
            row.pending_voids = voids;
            row.revision += 1;
            row.updated_at = db::now();
            store::save(conn, &row)?;
        }
    }
    Ok(())
}

/// A credit note issued. A full one: the invoice's lines are no longer billed; with reissue, the
/// settlement is reopened with a new version. A partial one reduces the invoice: its lines stay
/// billed, each for what the credit note left it billing ([`apply_partial_credits`]), and nothing
/// reopens (a partial credit note with reissue is an invalid event).
#[tracing::instrument(skip_all)]
pub fn on_credit_note(
    conn: &mut AnyConnection,
    c: &CreditNoteIssuedV1,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    let id = c.settlement_id.to_string();
    // Locked first, as `invoice.issued` does: whichever of the two comes second sees the other.
    let row = store::find_for_update(conn, &id)?;
    if c.partial {
        return on_partial_credit(conn, c);
    }
    store::credit_invoice(conn, c)?;
    if !c.reissue {
        return billing_changed(conn, row, dirty);
    }
    let Some(mut row) = row else {
        return Ok(());
    };
    // The credited invoice proves its version was invoiced, even if invoicing's own report of
    // it has not arrived yet. A settlement approved again after that version is left alone:
    // its approval bills the credited lines again by itself.
    row.invoiced_version = row.invoiced_version.max(Some(c.settlement_version));
    let reopen = row.status() == SettlementStatus::Invoiced
        || (row.status() == SettlementStatus::Approved
            && row
                .approved_version
                .is_some_and(|v| v <= c.settlement_version));
    if reopen {
        let reason = format!(
            "credit note {} for invoice {}: {}",
            c.number, c.invoice_number, c.reason
        );
        change_status(
            conn,
            &mut row,
            SettlementStatus::Draft,
            Some(&reason),
            SYSTEM,
        )?;
        let cause = Cause {
            kind: "reopened_after_credit",
            reason: Some(&reason),
            by: &c.issued_by,
        };
        // The corrected invoice comes from a new version, even when nothing changed (yet).
        if !recompute(conn, &mut row, &cause)? {
            new_version(conn, &mut row, &cause)?;
        }
    } else if row.status().is_open() {
        store::save(conn, &row)?;
        mark(dirty, &row.id, "billing_changed", None, SYSTEM);
    } else {
        row.pending_voids = store::billed_voids(conn, &row.id)?;
        row.revision += 1;
        row.updated_at = db::now();
        store::save(conn, &row)?;
    }
    Ok(())
}

/// A partial credit note: its lines are recorded (for an invoice whose `invoice.issued` comes
/// later) and applied to the invoice's stored lines. The settlement is left as it is: what
/// corrections compare with is what was invoiced, which a partial credit does not change (the
/// invoices and the settlement still agree line by line), and only a full credit note with
/// reissue reopens a settlement.
fn on_partial_credit(conn: &mut AnyConnection, c: &CreditNoteIssuedV1) -> Result<(), Error> {
    if c.reissue {
        return Err(Error::invalid_event(format!(
            "credit note {} is partial and asks for a reissue: only a full credit note reissues",
            c.number
        )));
    }
    let invoice = c.invoice_id.to_string();
    let lines = c
        .lines
        .iter()
        .map(|l| {
            let remaining = l.remaining.to_minor().map_err(|e| {
                Error::invalid_event(format!(
                    "credit note {}: what line {} still bills ({}) cannot be represented: {e}",
                    c.number, l.consumption_id, l.remaining
                ))
            })?;
            Ok(store::PartialCreditLine {
                credit_note_id: c.credit_note_id.to_string(),
                consumption_id: l.consumption_id.to_string(),
                invoice_id: invoice.clone(),
                remaining_minor: remaining.0,
                currency: l.remaining.currency().to_string(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    store::insert_partial_credit_lines(conn, &lines)?;
    apply_partial_credits(conn, &invoice, &lines)
}

/// Sets what partial credit notes took back of each stored line of `invoice`: what it invoiced
/// less the least any of `credits` left it billing. Credit notes only take back, so the least
/// is the newest credit note's whatever order they are applied in; the value is set, never
/// added to, and never lowered, so applying a credit note again (or an older one late) changes
/// nothing. Nothing is stored yet for an invoice whose `invoice.issued` has not come: that event
/// applies the recorded credits.
fn apply_partial_credits(
    conn: &mut AnyConnection,
    invoice: &str,
    credits: &[store::PartialCreditLine],
) -> Result<(), Error> {
    if credits.is_empty() {
        return Ok(());
    }
    let billed = store::invoice_billing(conn, invoice)?;
    if billed.is_empty() {
        return Ok(());
    }
    for c in credits {
        let Some(b) = billed.iter().find(|b| b.consumption_id == c.consumption_id) else {
            return Err(Error::invalid_event(format!(
                "credit note {} credits consumption {}, which invoice {invoice} does not bill",
                c.credit_note_id, c.consumption_id
            )));
        };
        if c.currency != b.currency.to_string() {
            return Err(Error::invalid_event(format!(
                "credit note {} leaves consumption {} billing in {}, invoiced in {}",
                c.credit_note_id, c.consumption_id, c.currency, b.currency
            )));
        }
        if c.remaining_minor < 0 || c.remaining_minor > b.amount_minor {
            return Err(Error::invalid_event(format!(
                "credit note {} leaves consumption {} billing {} minor units of the {} invoice {} bills",
                c.credit_note_id,
                c.consumption_id,
                c.remaining_minor,
                b.amount_minor,
                b.invoice_number
            )));
        }
    }
    for b in &billed {
        let least = credits
            .iter()
            .filter(|c| c.consumption_id == b.consumption_id)
            .map(|c| c.remaining_minor)
            .min();
        let Some(remaining) = least else {
            continue;
        };
        // Within [0, amount_minor] by the checks above.
        let credited = (b.amount_minor - remaining).max(b.credited_minor);
        if credited != b.credited_minor {
            store::set_credited(conn, invoice, &b.consumption_id, credited)?;
        }
    }
    Ok(())
}

/// Takes the lock of the work on one episode.
#[tracing::instrument(skip_all)]
pub fn lock_episode(conn: &mut AnyConnection, episode_id: &str) -> Result<(), Error> {
    store::lock_episode(conn, episode_id)
}

/// Takes the lock of what spans a patient's episodes.
#[tracing::instrument(skip_all)]
pub fn lock_patient(conn: &mut AnyConnection, patient_id: &str) -> Result<(), Error> {
    store::lock_patient(conn, patient_id)
}

/// The patients of the marked settlements, sorted.
#[tracing::instrument(skip_all)]
pub fn patients_of_marked(conn: &mut AnyConnection, dirty: &Dirty) -> Result<Vec<String>, Error> {
    let ids: Vec<&String> = dirty.keys().collect();
    store::patients_of_settlements(conn, &ids)
}

/// Recomputes each marked settlement (in id order, each row locked in turn), once: one new
/// version when its lines changed. Its patient's lock must be held (`patients`: theirs). A
/// settlement made from a consumption written before a coverage change, but applied after it,
/// takes the newer coverages (read under the patients' locks, which coverage events take).
#[tracing::instrument(skip_all)]
pub fn recompute_marked(
    conn: &mut AnyConnection,
    dirty: Dirty,
    patients: &[String],
) -> Result<(), Error> {
    let newest = store::newest_coverages(conn, patients)?;
    for (id, (kind, reason, by)) in dirty {
        let Some(mut row) = store::find_for_update(conn, &id)? else {
            continue;
        };
        if let Some((coverages, at)) = newest.get(&row.patient_id)
            && *at >= row.coverages_at
        {
            coverages.clone_into(&mut row.coverages);
            row.coverages_at = *at;
        }
        let cause = Cause {
            kind: &kind,
            reason: reason.as_deref(),
            by: &by,
        };
        if !recompute(conn, &mut row, &cause)? {
            store::save(conn, &row)?;
        }
    }
    Ok(())
}

/// A payer announced what invoices to it name it by: kept when newer than what is kept, for
/// approvals to use over an older snapshot their settlement's consumptions carried.
#[tracing::instrument(skip_all)]
pub fn on_payer_changed(
    conn: &mut AnyConnection,
    e: &carebill_domain::events::PayerChangedV1,
) -> Result<(), Error> {
    crate::store::party_billing::keep_newest(
        conn,
        &format!("payer:{}", e.payer_id),
        &e.billing,
        e.changed_at.naive_utc(),
    )
}

/// A location announced what invoices name it by as seller: kept as [`on_payer_changed`] does.
#[tracing::instrument(skip_all)]
pub fn on_location_changed(
    conn: &mut AnyConnection,
    e: &carebill_domain::events::LocationChangedV1,
) -> Result<(), Error> {
    let Some(billing) = &e.location.billing else {
        return Ok(());
    };
    crate::store::party_billing::keep_newest(
        conn,
        &format!("location:{}", e.location.id),
        billing,
        e.changed_at.naive_utc(),
    )
}
