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

use std::collections::{BTreeMap, BTreeSet};

use carebill_domain::events::{
    Envelope, InvoiceIssuedV1, InvoicedLine, LocationRef, PartyRef, SettlementApprovedV1,
    SettlementInvoicedV1,
};
use carebill_domain::ids::{InvoiceId, LocationId, SettlementId};
use carebill_domain::invoicing::{
    DocumentKind, InvoicePlan, InvoiceStatus, PaymentTerms, apply_taxes, issue_date, plan_invoices,
};
use carebill_platform::Error;
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use chrono::Datelike as _;

use super::deliveries;
use crate::SERVICE;
use crate::store::billed::{self, BilledRow, InvoicedSettlementRow};
use crate::store::invoices::{self, InvoiceRow, StoredParty};
use crate::store::{lines, series, to_minor};

/// The actor the audit trail names for invoices issued on an approval.
pub(crate) const SYSTEM_ACTOR: &str = "system:invoicing";

/// An invoice stored under a provisional number, waiting for its number at the end of the
/// transaction.
struct Unnumbered {
    /// Its announcement, complete but for the number.
    event: InvoiceIssuedV1,
    /// Its audit record's `after`, complete but for the number.
    audit: serde_json::Value,
    /// The payment terms its due date follows.
    terms: PaymentTerms,
}

/// What one approval issued: its invoices, and the report to settlement.
pub(crate) struct Issued<'e> {
    env: &'e Envelope,
    invoices: Vec<Unnumbered>,
    done: SettlementInvoicedV1,
}

/// Locks the settlements of a batch, in the order given, until the transaction ends: another
/// replica's batch handling another of their versions waits (see [`crate::consumer`] for the
/// order).
#[tracing::instrument(skip_all)]
pub(crate) fn lock_settlements(
    conn: &mut AnyConnection,
    ids: &[SettlementId],
) -> Result<(), Error> {
    for id in ids {
        billed::lock_settlement(conn, *id)?;
    }
    Ok(())
}

/// Issues the invoices of `approval` under provisional numbers (see the module documentation);
/// none when the version was already invoiced (then there is nothing to report either).
#[tracing::instrument(skip_all, fields(settlement_id = %approval.settlement_id, version = approval.version))]
pub(crate) fn issue_invoices<'e>(
    conn: &mut AnyConnection,
    env: &'e Envelope,
    approval: &SettlementApprovedV1,
) -> Result<Option<Issued<'e>>, Error> {
    let settlement_id = approval.settlement_id;
    // A version already invoiced, or older than one invoiced (a late redelivery, a re-driven
    // dead letter), is superseded: billing it could bill lines a correction removed.
    let latest = billed::latest_invoiced_version(conn, settlement_id)?;
    if latest.is_some_and(|v| v >= approval.version) {
        tracing::info!(settlement = %settlement_id, version = approval.version, latest = ?latest, "settlement version already invoiced or superseded");
        return Ok(None);
    }
    let billed = billed::active_pairs(conn, settlement_id)?;
    let plans = plan_invoices(approval, |c, party| {
        billed.contains(&(c.to_string(), party.to_owned()))
    })
    .map_err(|e| Error::invalid_event(e.to_string()))?;

    let now = db::now();
    let location = &approval.episode.location;
    let issued_on = issue_date(now.and_utc(), &location.time_zone)
        .map_err(|e| Error::invalid_event(e.to_string()))?;
    // VAT by the tax rules of the issuing location's country (its address's), on the issue date;
    // without a country or a rule, a line is health care, exempt.
    let rules = super::tax_rules::rules_of_location(conn, location)?;
    let mut plans = plans;
    for plan in &mut plans {
        apply_taxes(plan, &rules, issued_on).map_err(|e| Error::invalid_event(e.to_string()))?;
    }
    // Claims to payers pick their format by the kind of care: kept with the claim facts.
    if plans
        .iter()
        .any(|p| p.recipient.kind == carebill_domain::events::PartyKind::Payer)
    {
        super::claim_facts::keep_episode(conn, approval)?;
    }
    let mut issued = Vec::with_capacity(plans.len());
    for plan in &plans {
        let id = InvoiceId::new();
        let terms = payment_terms(location, &plan.recipient);
        let row = invoice_row(
            approval,
            plan,
            id,
            &provisional(&id),
            issued_on,
            &terms,
            now,
        )?;
        let (number, due) = (row.number.clone(), row.due_date);
        invoices::insert(conn, row)?;
        lines::insert(conn, &id.to_string(), &plan.lines)?;
        // Reissued to a party whose invoice of this settlement a credit note with reissue
        // cancelled: a corrective invoice, naming the one it replaces.
        let corrects = invoices::awaiting_correction(
            conn,
            &settlement_id.to_string(),
            plan.recipient.kind,
            &plan.recipient.id.to_string(),
        )?;
        let corrects_invoice_id = match corrects {
            Some((replaced, number, issue_date)) => {
                let replaced: InvoiceId =
                    carebill_domain::stored::parse("invoice id", &replaced).map_err(Error::from)?;
                invoices::insert_correction(
                    conn,
                    invoices::CorrectionRow {
                        invoice_id: id,
                        corrects_invoice_id: replaced,
                        corrects_number: number,
                        corrects_issue_date: issue_date,
                    },
                )?;
                Some(replaced)
            }
            None => None,
        };
        let key = plan.recipient.key();
        let pairs = plan
            .lines
            .iter()
            .map(|line| BilledRow {
                invoice_id: id,
                consumption_id: line.consumption_id,
                party_key: key.clone(),
                settlement_id,
                active: true,
            })
            .collect();
        billed::insert(conn, pairs)?;
        let event = InvoiceIssuedV1 {
            invoice_id: id,
            number: number.clone(),
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
            due_date: due,
            issued_at: now.and_utc(),
            corrects_invoice_id,
        };
        let audit = serde_json::json!({ "after": {
            "number": number,
            "status": InvoiceStatus::Issued,
            "recipient": plan.recipient,
            "total": plan.total,
            "settlement_id": approval.settlement_id,
            "settlement_version": approval.version,
            "approved_by": approval.approved_by,
            "corrects_invoice_id": corrects_invoice_id,
            "event_id": env.id,
        }});
        issued.push(Unnumbered {
            event,
            audit,
            terms,
        });
    }
    let ids: Vec<InvoiceId> = issued.iter().map(|i| i.event.invoice_id).collect();
    billed::record_invoiced(
        conn,
        InvoicedSettlementRow {
            settlement_id,
            version: approval.version,
            event_id: env.id.to_string(),
            invoices: i32::try_from(ids.len()).map_err(|e| Error::internal(&e))?,
            processed_at: now,
        },
    )?;
    // Settlement learns that this version is done with, even when nothing was left to bill.
    let done = SettlementInvoicedV1 {
        settlement_id: approval.settlement_id,
        settlement_version: approval.version,
        invoice_ids: ids,
        invoiced_at: now.and_utc(),
    };
    Ok(Some(Issued {
        env,
        invoices: issued,
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
#[tracing::instrument(skip_all)]
pub(crate) fn number_and_announce(
    conn: &mut AnyConnection,
    issued: Vec<Issued<'_>>,
) -> Result<(), Error> {
    if issued.is_empty() {
        return Ok(());
    }
    let dated = |at: chrono::NaiveDateTime, e: &InvoiceIssuedV1| {
        issue_date(at.and_utc(), &e.location.time_zone)
            .map_err(|x| Error::invalid_event(x.to_string()))
    };
    // Location ids order as their text does (a UUID's bytes), the order the series are locked in.
    let mut locked: BTreeSet<(LocationId, i32)> = BTreeSet::new();
    let mut now = db::now();
    loop {
        let mut wanted = BTreeSet::new();
        for invoice in issued.iter().flat_map(|i| &i.invoices) {
            let e = &invoice.event;
            wanted.insert((e.location.id, dated(now, e)?.year()));
        }
        let missing: Vec<(LocationId, i32)> = wanted.difference(&locked).cloned().collect();
        if missing.is_empty() {
            break;
        }
        // A year turned between two reads of the clock: lock the new series too, read again.
        // (Out of id order then; PostgreSQL breaks the rare cycle this could make on New Year's
        // night, and the batch is applied again.)
        for (location_id, year) in missing {
            series::lock_series(conn, location_id, DocumentKind::Invoice, year)?;
            locked.insert((location_id, year));
        }
        now = db::now();
    }
    let mut wanted: BTreeMap<(LocationId, i32, String), usize> = BTreeMap::new();
    for invoice in issued.iter().flat_map(|i| &i.invoices) {
        let e = &invoice.event;
        let key = (
            e.location.id,
            dated(now, e)?.year(),
            e.location.code.clone(),
        );
        *wanted.entry(key).or_insert(0) += 1;
    }
    let mut numbers: BTreeMap<(LocationId, i32, String), std::vec::IntoIter<String>> =
        BTreeMap::new();
    for ((location_id, year, code), n) in wanted {
        let taken = series::take_numbers(conn, location_id, &code, DocumentKind::Invoice, year, n)?;
        numbers.insert((location_id, year, code), taken.into_iter());
    }
    let mut events = Vec::new();
    let mut to_deliver = Vec::new();
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
                .get_mut(&(e.location.id, issued_on.year(), e.location.code.clone()))
                .and_then(Iterator::next)
                .ok_or_else(|| Error::internal(&"a series gave too few numbers"))?;
            e.issue_date = issued_on;
            e.due_date = invoice.terms.due_date(issued_on);
            e.issued_at = now.and_utc();
            invoices::set_number(conn, e.invoice_id, &number, e.issue_date, e.due_date, now)?;
            invoice.audit["after"]["number"] = serde_json::Value::String(number.clone());
            e.number = number;
            to_deliver.push(deliveries::IssuedDocument {
                kind: deliveries::DocKind::Invoice,
                id: e.invoice_id.to_string(),
                number: e.number.clone(),
                location_code: e.location.code.clone(),
                recipient_kind: e.recipient.kind,
                party: deliveries::party_of(&e.recipient),
                payer_code: e.recipient.payer_code.clone(),
            });
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
        let system = Principal::system(SYSTEM_ACTOR, env.correlationid.clone());
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
    deliveries::enqueue(conn, &to_deliver, SYSTEM_ACTOR)?;
    outbox::enqueue_many(conn, &events)
}

fn invoice_row(
    approval: &SettlementApprovedV1,
    plan: &InvoicePlan,
    id: InvoiceId,
    number: &str,
    issued_on: chrono::NaiveDate,
    terms: &PaymentTerms,
    now: chrono::NaiveDateTime,
) -> Result<InvoiceRow, Error> {
    let location = &approval.episode.location;
    let r = &plan.recipient;
    Ok(InvoiceRow {
        id,
        number: number.to_owned(),
        status: InvoiceStatus::Issued,
        location_id: location.id,
        location_code: location.code.clone(),
        location_name: location.name.clone(),
        location_tax_id: location.tax_id.clone(),
        location_time_zone: location.time_zone.clone(),
        recipient_kind: r.kind,
        recipient_id: r.id.to_string(),
        payer_code: r.payer_code.clone(),
        payer_kind: r.payer_kind.map(|k| k.as_str().to_owned()),
        coverage_id: r.coverage_id.map(|c| c.to_string()),
        policy_number: r.policy_number.clone(),
        patient_id: Some(approval.episode.patient.id.to_string()),
        episode_id: Some(approval.episode.id.to_string()),
        episode_number: Some(approval.episode.number.clone()),
        settlement_id: Some(approval.settlement_id.to_string()),
        settlement_number: Some(approval.number.clone()),
        settlement_version: Some(approval.version),
        currency: approval.currency,
        total_minor: to_minor(&plan.total)?,
        tax_total_minor: to_minor(&plan.tax_total)?,
        issue_date: issued_on,
        due_date: terms.due_date(issued_on),
        created_at: now,
        issued_at: now,
        cancelled_at: None,
        credit_note_id: None,
        seller: Some(serde_json::to_string(&seller_as_issued(location))?),
        buyer: Some(serde_json::to_string(&buyer_as_issued(r))?),
        payment_terms: Some(serde_json::to_string(terms)?),
    })
}

/// The payment terms of an invoice to `recipient`: a payer's own, else the issuing location's,
/// else 30 days net. (A patient has none of their own.)
pub(crate) fn payment_terms(location: &LocationRef, recipient: &PartyRef) -> PaymentTerms {
    [&recipient.billing, &location.billing]
        .into_iter()
        .flatten()
        .find_map(|b| b.payment_terms.clone())
        .unwrap_or_default() // not stored: neither party set terms, 30 days net applies
}

/// The seller as the approval names it, kept on the invoice: the location's billing data, or
/// for an approval of an older version that carries none, its name and tax id.
pub(crate) fn seller_as_issued(location: &LocationRef) -> StoredParty {
    match &location.billing {
        Some(billing) => StoredParty::from(billing),
        None => StoredParty {
            legal_name: Some(location.name.clone()),
            vat_id: location.tax_id.clone(),
            ..StoredParty::default()
        },
    }
}

/// The buyer as the approval names it, kept on the invoice: the payer's or the patient's
/// billing data (nothing for an approval of an older version that carries none).
pub(crate) fn buyer_as_issued(recipient: &PartyRef) -> StoredParty {
    match &recipient.billing {
        Some(billing) => StoredParty::from(billing),
        None => StoredParty::default(),
    }
}
