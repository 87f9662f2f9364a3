//! Issuing invoices when medical audit approves a settlement
//! (`carebill.settlement.settlement.approved.v1`).
//!
//! In the event's transaction (with the inbox record): the settlement is locked against other
//! replicas handling another of its versions, a version seen before is ignored, the domain plans
//! one invoice per party with something left to bill (a version at or below one already invoiced
//! is ignored), and each invoice is numbered, stored with
//! its lines and billed pairs, audited and announced (`carebill.invoicing.invoice.issued.v1`)
//! through the outbox. An approval that breaks the contract (shares not adding up, an unknown
//! party, ...) fails and, after the retries, waits in the dead letters; nothing is issued.

use std::collections::HashSet;

use carebill_domain::events::{
    Envelope, EventPayload, InvoiceIssuedV1, InvoicedLine, SettlementApprovedV1,
    SettlementInvoicedV1,
};
use carebill_domain::ids::InvoiceId;
use carebill_domain::invoicing::{
    DocumentKind, InvoicePlan, InvoiceStatus, due_date, issue_date, plan_invoices,
};
use carebill_platform::ApiError;
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use chrono::Datelike as _;
use diesel::prelude::*;

use crate::documents::{InvoiceRow, SERVICE, insert_lines, invalid_event, to_minor};
use crate::numbering::next_number;
use crate::schema::{billed_consumptions, invoiced_settlements, invoices};

/// The actor the audit trail names for invoices issued on an approval.
pub const SYSTEM_ACTOR: &str = "system:invoicing";

/// Applies one consumed event: issues the invoices of an approved settlement; other types are
/// ignored.
pub fn apply_event(conn: &mut AnyConnection, env: &Envelope) -> Result<(), ApiError> {
    if env.event_type != SettlementApprovedV1::TYPE {
        return Ok(());
    }
    let approval: SettlementApprovedV1 =
        env.payload().map_err(|e| invalid_event(&e.to_string()))?;
    issue_invoices(conn, env, &approval).map(|_| ())
}

/// Issues the invoices of `approval` (see the module documentation); returns their ids, none
/// when the version was already invoiced or nothing is left to bill.
pub fn issue_invoices(
    conn: &mut AnyConnection,
    env: &Envelope,
    approval: &SettlementApprovedV1,
) -> Result<Vec<InvoiceId>, ApiError> {
    let settlement_id = approval.settlement_id.to_string();
    db::lock_key(conn, &format!("settlement:{settlement_id}"))?;
    // A version already invoiced, or older than one invoiced (a late redelivery, a re-driven
    // dead letter), is superseded: billing it could bill lines a correction removed.
    let latest: Option<i32> = invoiced_settlements::table
        .filter(invoiced_settlements::settlement_id.eq(&settlement_id))
        .select(diesel::dsl::max(invoiced_settlements::version))
        .first(conn)?;
    if latest.is_some_and(|v| v >= approval.version) {
        tracing::info!(settlement = %settlement_id, version = approval.version, latest = ?latest, "settlement version already invoiced or superseded");
        return Ok(Vec::new());
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
    let mut ids = Vec::with_capacity(plans.len());
    let mut events = Vec::with_capacity(plans.len());
    let mut audited = Vec::with_capacity(plans.len());
    for plan in &plans {
        let id = InvoiceId::new();
        let number = next_number(
            conn,
            &location.id.to_string(),
            &location.code,
            DocumentKind::Invoice,
            issued_on.year(),
        )?;
        let row = invoice_row(approval, plan, &id, &number, issued_on, now)?;
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
        let issued = InvoiceIssuedV1 {
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
            due_date: row.due_date,
            issued_at: now.and_utc(),
        };
        events.push(
            Envelope::new(
                SERVICE,
                &issued,
                now.and_utc(),
                env.correlationid.clone(),
                Some(env.id.to_string()),
            )
            .map_err(|e| ApiError::internal(&e))?,
        );
        audited.push((
            row.id.clone(),
            serde_json::json!({ "after": {
                "number": number,
                "status": InvoiceStatus::Issued,
                "recipient": plan.recipient,
                "total": plan.total,
                "settlement_id": approval.settlement_id,
                "settlement_version": approval.version,
                "approved_by": approval.approved_by,
                "event_id": env.id,
            }}),
        ));
        ids.push(id);
    }
    // Settlement learns that this version is done with, even when nothing was left to bill.
    let done = SettlementInvoicedV1 {
        settlement_id: approval.settlement_id,
        settlement_version: approval.version,
        invoice_ids: ids.clone(),
        invoiced_at: now.and_utc(),
    };
    events.push(
        Envelope::new(
            SERVICE,
            &done,
            now.and_utc(),
            env.correlationid.clone(),
            Some(env.id.to_string()),
        )
        .map_err(|e| ApiError::internal(&e))?,
    );
    outbox::enqueue_many(conn, &events)?;
    let system = Principal {
        subject: SYSTEM_ACTOR.to_owned(),
        roles: Vec::new(),
        locations: None,
        payer: None,
        request_id: env.correlationid.clone(),
    };
    let location_id = location.id.to_string();
    let changes: Vec<Change<'_>> = audited
        .iter()
        .map(|(id, after)| Change {
            action: "issue",
            entity_type: "invoice",
            entity_id: id,
            location_id: Some(&location_id),
            changes: Snapshot::Json(after.clone()),
            reason: None,
        })
        .collect();
    audit::record_many(conn, &system, &changes)?;
    diesel::insert_into(invoiced_settlements::table)
        .values((
            invoiced_settlements::settlement_id.eq(&settlement_id),
            invoiced_settlements::version.eq(approval.version),
            invoiced_settlements::event_id.eq(env.id.to_string()),
            invoiced_settlements::invoices.eq(i32::try_from(ids.len()).unwrap_or(i32::MAX)),
            invoiced_settlements::processed_at.eq(now),
        ))
        .execute(conn)?;
    Ok(ids)
}

/// The (consumption, party key) pairs of a settlement that are on an active invoice. Looked up by
/// the settlement (an indexed equality; every consumption belongs to one settlement), not by a
/// list of consumption ids, whose plan PostgreSQL may cache from when the table was empty.
fn billed_pairs(
    conn: &mut AnyConnection,
    settlement_id: &str,
) -> Result<HashSet<(String, String)>, ApiError> {
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
) -> Result<InvoiceRow, ApiError> {
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
