//! Issuing a care agency's invoices (seed 004) when settlement has priced a client's approval of
//! a carer's hours (`carebill.settlement.hours.priced.v1`).
//!
//! In the event's transaction (with the inbox record), once per approval whatever the
//! redeliveries: the domain plans the invoices ([`plan_agency_invoices`]), and each is stored
//! with its lines and its agency facts, numbered, audited, announced
//! (`carebill.invoicing.agency-invoice.issued.v1`) and queued for delivery by its recipient's
//! settings (the sending windows of the agency apply when it goes out).
//!
//! - The invoice for the hours is the carer's, made by the agency on the carer's behalf: the
//!   carer is the seller (as accounts reported the carer's billing data), the self-billing
//!   agreement that holds on the invoice date is cited in its note (BT-22), and it is numbered in
//!   the carer's own series (`{agency}-{carer}-SB-{year}-{n}`). The agency collects it on the
//!   carer's behalf: it is the payee (BG-10) and the payment goes to its account.
//! - The mediation-fee invoice (to the client) is the agency's own, numbered in its invoice
//!   series like every other invoice of the location.
//! - The commission waits, recorded (`agency_commissions`), for the carer's commission invoice
//!   of its period ([`super::agency_commissions`]).
//!
//! Every invoice carries the approval's invoice date: the agency's local date of the approval,
//! or the day a held approval was released once the carer had an agreement (accounts checks the
//! agreement on that date; an approval without one never reaches invoicing).
//!
//! Series locks: the agency's series, then the carer's, per approval; approvals after the
//! batch's settlements (see [`crate::consumer`]). A cycle with another replica's batch is broken
//! by PostgreSQL and the batch applied again.

use carebill_domain::agency_invoices::{
    AgencyInvoicePlan, AgencyPurpose, commission_of, plan_agency_invoices,
};
use carebill_domain::events::{AgencyInvoiceIssuedV1, Envelope, HoursPricedV1, LocationRef};
use carebill_domain::ids::{ApprovalId, CarerId, InvoiceId, PatientId, TimesheetId};
use carebill_domain::invoicing::{DocumentKind, InvoicePlan, InvoiceStatus, sum_lines};
use carebill_platform::Error;
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use chrono::{Datelike as _, NaiveDate, NaiveDateTime};

use super::deliveries;
use super::issuing::{SYSTEM_ACTOR, buyer_as_issued, payment_terms, seller_as_issued};
use crate::SERVICE;
use crate::store::agency::{self, AgencyInvoiceRow, CommissionRow};
use crate::store::invoices::{self, InvoiceRow, StoredParty};
use crate::store::{lines, series, to_minor};

/// Issues the invoices of a priced approval and records its commission (see the module
/// documentation); nothing when they were issued before.
#[tracing::instrument(skip_all, fields(approval_id = %e.approval.approval_id))]
pub(crate) fn issue(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &HoursPricedV1,
) -> Result<(), Error> {
    let a = &e.approval;
    let location = &a.location;
    // The agency's series first (the order the settlements' numbering takes it in), then the
    // carer's; then a redelivery finds the approval's invoices and stops.
    let day = a.invoice_date;
    series::lock_series(conn, location.id, DocumentKind::Invoice, day.year())?;
    if agency::approval_invoiced(conn, a.approval_id)? {
        tracing::info!(approval = %a.approval_id, "approval already invoiced");
        return Ok(());
    }
    let rules = super::tax_rules::rules_of_location(conn, location)?;
    let plans =
        plan_agency_invoices(e, &rules, day).map_err(|x| Error::invalid_event(x.to_string()))?;
    let agency_party = seller_as_issued(location);
    let carer_party = StoredParty::from(&a.carer.billing);
    let now = db::now();
    let mut issued = Vec::with_capacity(plans.len());
    for AgencyInvoicePlan { purpose, plan } in plans {
        let hours = purpose == AgencyPurpose::Hours;
        let prefix = format!("{}-{}", location.code, a.carer.code);
        let number = if hours {
            series::next_carer_number(
                conn,
                a.carer.id,
                &prefix,
                DocumentKind::SelfBilledInvoice,
                day.year(),
            )?
        } else {
            series::next_number(
                conn,
                location.id,
                &location.code,
                DocumentKind::Invoice,
                day.year(),
            )?
        };
        let (seller, payee, note) = if hours {
            (
                &carer_party,
                Some(&agency_party),
                Some(format!(
                    "Self-billed invoice: issued by {} on behalf of {} under self-billing \
                     agreement {} (valid from {}). Hours approved by {} for {} – {}.",
                    location.name,
                    a.carer.billing.legal_name,
                    a.agreement.reference,
                    a.agreement.valid_from,
                    a.approved_by,
                    a.period_start,
                    a.period_end,
                )),
            )
        } else {
            (&agency_party, None, None)
        };
        issued.push(store(
            conn,
            NewAgencyInvoice {
                purpose,
                plan,
                number,
                location,
                seller,
                payee,
                note,
                patient: a.patient.as_ref().map(|p| p.id),
                carer_id: a.carer.id,
                approval: Some((a.approval_id, a.timesheet_id)),
                approvals: vec![a.approval_id],
                placement_reference: a.terms.reference.clone(),
                series_prefix: hours.then_some(prefix),
                day,
                now,
            },
        )?);
    }
    if let Some(c) = commission_of(e).map_err(|x| Error::invalid_event(x.to_string()))? {
        agency::record_commission(
            conn,
            CommissionRow {
                approval_id: a.approval_id,
                location_id: location.id,
                location: serde_json::to_string(location)?,
                carer_id: a.carer.id,
                carer: serde_json::to_string(&carebill_domain::agency_invoices::carer_party(e))?,
                timesheet_id: a.timesheet_id,
                placement_reference: c.placement_reference,
                line_id: c.line_id.to_string(),
                period_start: c.period_start,
                period_end: c.period_end,
                performed_at: c.performed_at.naive_utc(),
                hours: c.hours.normalize().to_string(),
                currency: a.currency,
                hours_value_minor: to_minor(&c.hours_value)?,
                commission_minor: to_minor(&c.commission)?,
                invoice_date: day,
                created_at: now,
                invoice_id: None,
            },
        )?;
    }
    let system = Principal::system(SYSTEM_ACTOR, env.correlationid.clone());
    announce(
        conn,
        &system,
        location,
        issued,
        env.correlationid.clone(),
        Some(env.id.to_string()),
    )
}

/// An agency invoice to store, numbered.
pub(super) struct NewAgencyInvoice<'a> {
    /// What it bills.
    pub purpose: AgencyPurpose,
    /// Its recipient, lines and totals.
    pub plan: InvoicePlan,
    /// Its number.
    pub number: String,
    /// The agency.
    pub location: &'a LocationRef,
    /// Who sells: the carer for hours, else the agency.
    pub seller: &'a StoredParty,
    /// Who is paid when not the seller.
    pub payee: Option<&'a StoredParty>,
    /// Its note (BT-22).
    pub note: Option<String>,
    /// The person cared for, when the client is one (not on a commission invoice).
    pub patient: Option<PatientId>,
    /// The carer.
    pub carer_id: CarerId,
    /// The approval and timesheet it bills, when one.
    pub approval: Option<(ApprovalId, TimesheetId)>,
    /// Every approval it bills.
    pub approvals: Vec<ApprovalId>,
    /// The placement (what the buyer knows it by).
    pub placement_reference: String,
    /// The carer's series it was numbered in (self-billed).
    pub series_prefix: Option<String>,
    /// Issue date.
    pub day: NaiveDate,
    /// Now.
    pub now: NaiveDateTime,
}

/// An agency invoice stored, to audit, queue and announce.
pub(super) struct Issued {
    event: AgencyInvoiceIssuedV1,
    audit: serde_json::Value,
    delivery: deliveries::IssuedDocument,
}

impl Issued {
    /// Its announcement.
    pub(super) fn event(&self) -> &AgencyInvoiceIssuedV1 {
        &self.event
    }
}

/// Stores an agency invoice: its row, its lines and its agency facts.
pub(super) fn store(conn: &mut AnyConnection, n: NewAgencyInvoice<'_>) -> Result<Issued, Error> {
    let NewAgencyInvoice {
        purpose,
        plan,
        number,
        location,
        seller,
        payee,
        note,
        patient,
        carer_id,
        approval,
        approvals,
        placement_reference,
        series_prefix,
        day,
        now,
    } = n;
    let id = InvoiceId::new();
    let patient = match purpose {
        AgencyPurpose::Commission => None,
        AgencyPurpose::Hours | AgencyPurpose::MediationFee => patient,
    };
    let r = &plan.recipient;
    // The payer's terms, else the agency's, else 30 days net (a carer or a person has none of
    // their own).
    let terms = payment_terms(location, r);
    let due = terms.due_date(day);
    invoices::insert(
        conn,
        InvoiceRow {
            id,
            number: number.clone(),
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
            coverage_id: None,
            policy_number: None,
            patient_id: patient.map(|p| p.to_string()),
            episode_id: None,
            episode_number: None,
            settlement_id: None,
            settlement_number: None,
            settlement_version: None,
            currency: plan.total.currency(),
            total_minor: to_minor(&plan.total)?,
            tax_total_minor: to_minor(&plan.tax_total)?,
            issue_date: day,
            due_date: due,
            created_at: now,
            issued_at: now,
            cancelled_at: None,
            credit_note_id: None,
            seller: Some(serde_json::to_string(seller)?),
            buyer: Some(serde_json::to_string(&buyer_as_issued(r))?),
            payment_terms: Some(serde_json::to_string(&terms)?),
        },
    )?;
    lines::insert(conn, &id.to_string(), &plan.lines)?;
    let self_billed = purpose == AgencyPurpose::Hours;
    agency::insert(
        conn,
        vec![AgencyInvoiceRow {
            invoice_id: id,
            purpose,
            approval_id: approval.map(|(a, _)| a.to_string()),
            timesheet_id: approval.map(|(_, t)| t.to_string()),
            carer_id,
            placement_reference,
            note: note.clone(),
            payee: payee.map(serde_json::to_string).transpose()?,
            series_prefix,
        }],
    )?;
    let net = sum_lines(&plan.lines, plan.total.currency())
        .map_err(|x| Error::invalid_event(x.to_string()))?;
    let event = AgencyInvoiceIssuedV1 {
        invoice_id: id,
        number: number.clone(),
        purpose,
        document_type: if self_billed { "389" } else { "380" }.to_owned(),
        location: location.clone(),
        carer_id,
        recipient: r.clone(),
        patient_id: patient,
        approval_id: approval.map(|(a, _)| a),
        timesheet_id: approval.map(|(_, t)| t),
        approvals: approvals.clone(),
        net,
        tax_total: plan.tax_total,
        total: plan.total,
        issue_date: day,
        due_date: due,
        issued_at: now.and_utc(),
    };
    let audit = serde_json::json!({ "after": {
        "number": number,
        "status": InvoiceStatus::Issued,
        "purpose": purpose,
        "recipient": r,
        "total": plan.total,
        "approvals": approvals,
        "timesheet_id": approval.map(|(_, t)| t),
        "carer_id": carer_id,
        "note": note,
    }});
    let delivery = deliveries::IssuedDocument {
        kind: deliveries::DocKind::Invoice,
        id: id.to_string(),
        number,
        location_code: location.code.clone(),
        recipient_kind: r.kind,
        party: deliveries::party_of(r),
        payer_code: r.payer_code.clone(),
    };
    Ok(Issued {
        event,
        audit,
        delivery,
    })
}

/// Audits, queues for delivery and announces the agency invoices stored.
pub(super) fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    location: &LocationRef,
    issued: Vec<Issued>,
    correlation: Option<String>,
    causation: Option<String>,
) -> Result<(), Error> {
    let location_id = location.id.to_string();
    let ids: Vec<String> = issued
        .iter()
        .map(|i| i.event.invoice_id.to_string())
        .collect();
    let changes: Vec<Change<'_>> = issued
        .iter()
        .zip(&ids)
        .map(|(i, id)| Change {
            action: "issue",
            entity_type: "invoice",
            entity_id: id,
            location_id: Some(&location_id),
            changes: Snapshot::Json(i.audit.clone()),
            reason: None,
        })
        .collect();
    audit::record_many(conn, who, &changes)?;
    let to_deliver: Vec<_> = issued.iter().map(|i| i.delivery.clone()).collect();
    deliveries::enqueue(conn, &to_deliver, SYSTEM_ACTOR)?;
    let events = issued
        .iter()
        .map(|i| {
            Envelope::new(
                SERVICE,
                &i.event,
                i.event.issued_at,
                correlation.clone(),
                causation.clone(),
            )
            .map_err(|x| Error::internal(&x))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    outbox::enqueue_many(conn, &events)
}
