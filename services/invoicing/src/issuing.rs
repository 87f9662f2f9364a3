//! Issuing invoices when medical audit approves a settlement
//! (`carebill.settlement.settlement.approved.v1`).
//!
//! In the event's transaction (with the inbox record): the settlement is locked against other
//! replicas handling another of its versions, a version seen before is ignored, the domain plans
//! one invoice per party with something left to bill (a version at or below one already invoiced
//! is ignored), and each invoice is stored with its lines and billed pairs under a provisional
//! number. At the end of the batch's transaction every invoice of the batch is numbered (one lock
//! and one increment per series, series in a fixed order), audited and announced
//! (`carebill.invoicing.invoice.issued.v1`) through the outbox, so a series stays locked only
//! from then to the commit and replicas issue side by side. An approval that breaks the contract
//! (shares not adding up, an unknown party, ...) fails and, after the retries, waits in the dead
//! letters; nothing is issued.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use carebill_domain::events::{
    Envelope, EventPayload, InvoiceIssuedV1, InvoicedLine, SettlementApprovedV1,
    SettlementInvoicedV1,
};
use carebill_domain::ids::InvoiceId;
use carebill_domain::invoicing::{
    DocumentKind, InvoicePlan, InvoiceStatus, due_date, issue_date, plan_invoices,
};
use carebill_platform::Error;
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use chrono::Datelike as _;
use diesel::prelude::*;

use crate::documents::{InvoiceRow, SERVICE, insert_lines, invalid_event, to_minor};
use crate::numbering::{lock_series, take_numbers};
use crate::schema::{billed_consumptions, invoiced_settlements, invoices};

/// The actor the audit trail names for invoices issued on an approval.
pub const SYSTEM_ACTOR: &str = "system:invoicing";

/// An invoice stored under a provisional number, waiting for its number at the end of the
/// transaction.
struct Unnumbered {
    /// Its announcement, complete but for the number.
    event: InvoiceIssuedV1,
    /// Its audit record's `after`, complete but for the number.
    audit: serde_json::Value,
}

/// What one approval issued: its invoices, and the report to settlement.
struct Issued<'e> {
    env: &'e Envelope,
    invoices: Vec<Unnumbered>,
    done: SettlementInvoicedV1,
}

/// Applies a batch of consumed events in one transaction: issues the invoices of each approved
/// settlement, then numbers and announces them all (other types are ignored).
pub fn apply_events(conn: &mut AnyConnection, envs: &[&Envelope]) -> Result<(), Error> {
    let mut approvals = Vec::new();
    for env in envs {
        if env.event_type != SettlementApprovedV1::TYPE {
            continue;
        }
        let approval: SettlementApprovedV1 =
            env.payload().map_err(|e| invalid_event(&e.to_string()))?;
        approvals.push((*env, approval));
    }
    // Each settlement is locked against another replica's batch handling another of its
    // versions; all of them first, in order, so two batches never wait on each other in a cycle.
    let mut keys: Vec<String> = approvals
        .iter()
        .map(|(_, a)| format!("settlement:{}", a.settlement_id))
        .collect();
    keys.sort();
    keys.dedup();
    for key in &keys {
        db::lock_key(conn, key)?;
    }
    let mut issued = Vec::new();
    for (env, approval) in &approvals {
        issued.extend(issue_invoices(conn, env, approval)?);
    }
    number_and_announce(conn, issued)
}

/// Issues the invoices of `approval` under provisional numbers (see the module documentation);
/// none when the version was already invoiced (then there is nothing to report either).
fn issue_invoices<'e>(
    conn: &mut AnyConnection,
    env: &'e Envelope,
    approval: &SettlementApprovedV1,
) -> Result<Option<Issued<'e>>, Error> {
    let settlement_id = approval.settlement_id.to_string();
    // A version already invoiced, or older than one invoiced (a late redelivery, a re-driven
    // dead letter), is superseded: billing it could bill lines a correction removed.
    let latest: Option<i32> = invoiced_settlements::table
        .filter(invoiced_settlements::settlement_id.eq(&settlement_id))
        .select(diesel::dsl::max(invoiced_settlements::version))
        .first(conn)?;
    if latest.is_some_and(|v| v >= approval.version) {
        tracing::info!(settlement = %settlement_id, version = approval.version, latest = ?latest, "settlement version already invoiced or superseded");
        return Ok(None);
    }
    let billed = billed_pairs(conn, &settlement_id)?;
    let plans = plan_invoices(approval, |c, party| {
        billed.contains(&(c.to_string(), party.to_owned()))
    })
    .map_err(|e| invalid_event(&e.to_string()))?;

    let now = db::now();
    let location = &approval.episode.location;
    let issued_on = issue_date(now.and_utc(), &location.time_zone)
        .map_err(|e| invalid_event(&e.to_string()))?;
    let mut invoices = Vec::with_capacity(plans.len());
    for plan in &plans {
        let id = InvoiceId::new();
        let row = invoice_row(approval, plan, &id, &provisional(&id), issued_on, now)?;
        diesel::insert_into(invoices::table)
            .values(&row)
            .execute(conn)?;
        insert_lines(conn, &row.id, &plan.lines)?;
        let key = plan.recipient.key();
        let billed: Vec<_> = plan
            .lines
            .iter()
            .map(|line| {
                (
                    billed_consumptions::invoice_id.eq(&row.id),
                    billed_consumptions::consumption_id.eq(line.consumption_id.to_string()),
                    billed_consumptions::party_key.eq(&key),
                    billed_consumptions::settlement_id.eq(&settlement_id),
                    billed_consumptions::active.eq(true),
                )
            })
            .collect();
        carebill_platform::insert_all!(conn, billed_consumptions::table, billed);
        let event = InvoiceIssuedV1 {
            invoice_id: id,
            number: row.number.clone(),
            location: location.clone(),
            recipient: plan.recipient.clone(),
            patient_id: approval.episode.patient.id,
            episode_id: approval.episode.id,
            settlement_id: approval.settlement_id,
            settlement_version: approval.version,
            lines: plan
                .lines
                .iter()
                .map(|l| InvoicedLine {
                    consumption_id: l.consumption_id,
                    code: l.code.clone(),
                    amount: l.amount,
                })
                .collect(),
            total: plan.total,
            issue_date: issued_on,
            due_date: row.due_date,
            issued_at: now.and_utc(),
        };
        let audit = serde_json::json!({ "after": {
            "number": row.number,
            "status": InvoiceStatus::Issued,
            "recipient": plan.recipient,
            "total": plan.total,
            "settlement_id": approval.settlement_id,
            "settlement_version": approval.version,
            "approved_by": approval.approved_by,
            "event_id": env.id,
        }});
        invoices.push(Unnumbered { event, audit });
    }
    let ids: Vec<InvoiceId> = invoices.iter().map(|i| i.event.invoice_id).collect();
    diesel::insert_into(invoiced_settlements::table)
        .values((
            invoiced_settlements::settlement_id.eq(&settlement_id),
            invoiced_settlements::version.eq(approval.version),
            invoiced_settlements::event_id.eq(env.id.to_string()),
            invoiced_settlements::invoices.eq(i32::try_from(ids.len()).unwrap_or(i32::MAX)),
            invoiced_settlements::processed_at.eq(now),
        ))
        .execute(conn)?;
    // Settlement learns that this version is done with, even when nothing was left to bill.
    let done = SettlementInvoicedV1 {
        settlement_id: approval.settlement_id,
        settlement_version: approval.version,
        invoice_ids: ids,
        invoiced_at: now.and_utc(),
    };
    Ok(Some(Issued {
        env,
        invoices,
        done,
    }))
}

/// The number an invoice holds inside the transaction that issues it, until
/// [`number_and_announce`] gives it its own; never committed.
fn provisional(id: &InvoiceId) -> String {
    format!("provisional:{id}")
}

/// Numbers the invoices of a batch, in the order they were issued. The series they take are
/// locked first (in id order, so replicas never wait on each other in a cycle), then the clock is
/// read: numbers follow issue dates, even across midnight. Each series takes all its numbers at
/// once. Then the invoices (number, issue and due date), their audit records and their
/// announcements get them, and each approval's report to settlement follows its invoices into the
/// outbox.
fn number_and_announce(conn: &mut AnyConnection, issued: Vec<Issued<'_>>) -> Result<(), Error> {
    if issued.is_empty() {
        return Ok(());
    }
    let dated = |at: chrono::NaiveDateTime, e: &InvoiceIssuedV1| {
        issue_date(at.and_utc(), &e.location.time_zone).map_err(|x| invalid_event(&x.to_string()))
    };
    let mut locked: BTreeSet<(String, i32)> = BTreeSet::new();
    let mut now = db::now();
    loop {
        let mut wanted = BTreeSet::new();
        for invoice in issued.iter().flat_map(|i| &i.invoices) {
            let e = &invoice.event;
            wanted.insert((e.location.id.to_string(), dated(now, e)?.year()));
        }
        let missing: Vec<(String, i32)> = wanted.difference(&locked).cloned().collect();
        if missing.is_empty() {
            break;
        }
        // A year turned between two reads of the clock: lock the new series too, read again.
        // (Out of id order then; PostgreSQL breaks the rare cycle this could make on New Year's
        // night, and the batch is applied again.)
        for (location_id, year) in missing {
            lock_series(conn, &location_id, DocumentKind::Invoice, year)?;
            locked.insert((location_id, year));
        }
        now = db::now();
    }
    let mut wanted: BTreeMap<(String, i32, String), usize> = BTreeMap::new();
    for invoice in issued.iter().flat_map(|i| &i.invoices) {
        let e = &invoice.event;
        let key = (
            e.location.id.to_string(),
            dated(now, e)?.year(),
            e.location.code.clone(),
        );
        *wanted.entry(key).or_insert(0) += 1;
    }
    let mut numbers: BTreeMap<(String, i32, String), std::vec::IntoIter<String>> = BTreeMap::new();
    for ((location_id, year, code), n) in wanted {
        let taken = take_numbers(conn, &location_id, &code, DocumentKind::Invoice, year, n)?;
        numbers.insert((location_id, year, code), taken.into_iter());
    }
    let mut events = Vec::new();
    for Issued {
        env,
        mut invoices,
        done,
    } in issued
    {
        for invoice in &mut invoices {
            let e = &mut invoice.event;
            let issued_on = dated(now, e)?;
            let number = numbers
                .get_mut(&(
                    e.location.id.to_string(),
                    issued_on.year(),
                    e.location.code.clone(),
                ))
                .and_then(Iterator::next)
                .ok_or_else(|| Error::internal(&"a series gave too few numbers"))?;
            e.issue_date = issued_on;
            e.due_date = due_date(issued_on);
            e.issued_at = now.and_utc();
            diesel::update(invoices::table.find(e.invoice_id.to_string()))
                .set((
                    invoices::number.eq(&number),
                    invoices::issue_date.eq(e.issue_date),
                    invoices::due_date.eq(e.due_date),
                    invoices::issued_at.eq(now),
                ))
                .execute(conn)?;
            invoice.audit["after"]["number"] = serde_json::Value::String(number.clone());
            e.number = number;
            events.push(
                Envelope::new(
                    SERVICE,
                    &invoice.event,
                    invoice.event.issued_at,
                    env.correlationid.clone(),
                    Some(env.id.to_string()),
                )
                .map_err(|e| Error::internal(&e))?,
            );
        }
        let done = SettlementInvoicedV1 {
            invoiced_at: now.and_utc(),
            ..done
        };
        events.push(
            Envelope::new(
                SERVICE,
                &done,
                done.invoiced_at,
                env.correlationid.clone(),
                Some(env.id.to_string()),
            )
            .map_err(|e| Error::internal(&e))?,
        );
        let system = Principal {
            subject: SYSTEM_ACTOR.to_owned(),
            roles: Vec::new(),
            locations: None,
            payer: None,
            request_id: env.correlationid.clone(),
        };
        let ids: Vec<String> = invoices
            .iter()
            .map(|i| i.event.invoice_id.to_string())
            .collect();
        let location_ids: Vec<String> = invoices
            .iter()
            .map(|i| i.event.location.id.to_string())
            .collect();
        let changes: Vec<Change<'_>> = invoices
            .iter()
            .zip(ids.iter().zip(&location_ids))
            .map(|(i, (id, location_id))| Change {
                action: "issue",
                entity_type: "invoice",
                entity_id: id,
                location_id: Some(location_id),
                changes: Snapshot::Json(i.audit.clone()),
                reason: None,
            })
            .collect();
        audit::record_many(conn, &system, &changes)?;
    }
    outbox::enqueue_many(conn, &events)
}

/// The (consumption, party key) pairs of a settlement that are on an active invoice. Looked up by
/// the settlement (an indexed equality; every consumption belongs to one settlement), not by a
/// list of consumption ids, whose plan PostgreSQL may cache from when the table was empty.
fn billed_pairs(
    conn: &mut AnyConnection,
    settlement_id: &str,
) -> Result<HashSet<(String, String)>, Error> {
    let rows: Vec<(String, String)> = billed_consumptions::table
        .filter(billed_consumptions::settlement_id.eq(settlement_id))
        .filter(billed_consumptions::active)
        .select((
            billed_consumptions::consumption_id,
            billed_consumptions::party_key,
        ))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

fn invoice_row(
    approval: &SettlementApprovedV1,
    plan: &InvoicePlan,
    id: &InvoiceId,
    number: &str,
    issued_on: chrono::NaiveDate,
    now: chrono::NaiveDateTime,
) -> Result<InvoiceRow, Error> {
    let location = &approval.episode.location;
    let r = &plan.recipient;
    Ok(InvoiceRow {
        id: id.to_string(),
        number: number.to_owned(),
        status: InvoiceStatus::Issued.as_str().to_owned(),
        location_id: location.id.to_string(),
        location_code: location.code.clone(),
        location_name: location.name.clone(),
        location_tax_id: location.tax_id.clone(),
        location_time_zone: location.time_zone.clone(),
        recipient_kind: r.kind.as_str().to_owned(),
        recipient_id: r.id.to_string(),
        payer_code: r.payer_code.clone(),
        payer_kind: r.payer_kind.map(|k| k.as_str().to_owned()),
        coverage_id: r.coverage_id.map(|c| c.to_string()),
        policy_number: r.policy_number.clone(),
        patient_id: approval.episode.patient.id.to_string(),
        episode_id: approval.episode.id.to_string(),
        episode_number: approval.episode.number.clone(),
        settlement_id: approval.settlement_id.to_string(),
        settlement_number: approval.number.clone(),
        settlement_version: approval.version,
        currency: approval.currency.code().to_owned(),
        total_minor: to_minor(&plan.total)?,
        tax_total_minor: to_minor(&plan.tax_total)?,
        issue_date: issued_on,
        due_date: due_date(issued_on),
        created_at: now,
        issued_at: now,
        cancelled_at: None,
        credit_note_id: None,
    })
}
