//! A care agency's invoices (seed 004) are collected like every other: the self-billed invoice
//! the agency collects on the carer's behalf, and its commission invoice to the carer (who is a
//! party of collections now, without a patient); their credit notes reduce or cancel them and
//! return what was paid to the party's credit.

use actix_web::http::StatusCode;
use carebill_domain::agency_invoices::AgencyPurpose;
use carebill_domain::events::{
    AgencyCreditNoteIssuedV1, AgencyInvoiceIssuedV1, PartyKind, PartyRef,
};
use carebill_domain::ids::{ApprovalId, CarerId, CreditNoteId, InvoiceId, PatientId, TimesheetId};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post};
use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(agency_invoices_are_collected_and_their_credit_notes_reduce_them,);

fn agency_invoice(
    purpose: AgencyPurpose,
    to: &PartyRef,
    carer: CarerId,
    patient: Option<PatientId>,
    number: &str,
    total: &str,
) -> AgencyInvoiceIssuedV1 {
    AgencyInvoiceIssuedV1 {
        invoice_id: InvoiceId::new(),
        number: number.to_owned(),
        purpose,
        document_type: if purpose == AgencyPurpose::Hours {
            "389"
        } else {
            "380"
        }
        .to_owned(),
        location: location("ZB-UTR", "Europe/Amsterdam"),
        carer_id: carer,
        recipient: to.clone(),
        patient_id: patient,
        // A commission invoice bills a period's approvals, not one.
        approval_id: (purpose != AgencyPurpose::Commission).then(ApprovalId::new),
        timesheet_id: (purpose != AgencyPurpose::Commission).then(TimesheetId::new),
        approvals: vec![ApprovalId::new()],
        net: eur(total),
        tax_total: eur("0.00"),
        total: eur(total),
        issue_date: today(),
        due_date: today() + Duration::days(30),
        issued_at: Utc::now(),
    }
}

fn credit(
    inv: &AgencyInvoiceIssuedV1,
    total: &str,
    remaining: &str,
    partial: bool,
) -> AgencyCreditNoteIssuedV1 {
    AgencyCreditNoteIssuedV1 {
        credit_note_id: CreditNoteId::new(),
        number: format!("CN-{}", inv.number),
        document_type: if inv.purpose == AgencyPurpose::Hours {
            "261"
        } else {
            "381"
        }
        .to_owned(),
        invoice_id: inv.invoice_id,
        invoice_number: inv.number.clone(),
        purpose: inv.purpose,
        location_id: inv.location.id,
        carer_id: inv.carer_id,
        recipient: inv.recipient.clone(),
        approval_id: inv.approval_id,
        total: eur(total),
        partial,
        invoice_remaining: eur(remaining),
        reason: "one hour less".to_owned(),
        issue_date: today(),
        issued_by: "manager".to_owned(),
        issued_at: Utc::now(),
    }
}

async fn receivable_of(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    number: &str,
) -> Value {
    let (s, list, _) = call(app, get("/v1/receivables?location_code=ZB-UTR", &admin())).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["invoice_number"] == number)
        .cloned()
        .unwrap_or_else(|| panic!("no receivable of {number}: {list}"))
}

async fn agency_invoices_are_collected_and_their_credit_notes_reduce_them(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let carer_id = CarerId::new();
    let carer = PartyRef {
        kind: PartyKind::Carer,
        id: carer_id.0,
        payer_code: None,
        payer_kind: None,
        coverage_id: None,
        policy_number: None,
        billing: None,
    };
    let svb = payer("SVB-PGB");
    let client = PatientId::new();
    let hours = agency_invoice(
        AgencyPurpose::Hours,
        &svb,
        carer_id,
        Some(client),
        "ZB-UTR-ZZP-0042-SB-2026-000001",
        "151.50",
    );
    let commission = agency_invoice(
        AgencyPurpose::Commission,
        &carer,
        carer_id,
        None,
        "ZB-UTR-INV-2026-000001",
        "22.92",
    );
    for e in [&hours, &commission] {
        feed(&h, &envelope(e)).await;
        // A redelivery under another event id changes nothing.
        feed(&h, &envelope(e)).await;
    }

    let r = receivable_of(&app, &commission.number).await;
    assert_eq!(r["party"]["kind"], "carer", "{r}");
    assert_eq!(r["patient_id"], Value::Null, "{r}");
    assert_eq!(r["status"], "open");
    assert_eq!(amount(&r["outstanding"]), "22.92");
    assert!(
        r["payment_reference"]
            .as_str()
            .is_some_and(|p| p.starts_with("RF")),
        "{r}"
    );
    let r = receivable_of(&app, &hours.number).await;
    assert_eq!(r["party"]["kind"], "payer");
    assert_eq!(r["patient_id"], client.to_string());
    assert_eq!(amount(&r["outstanding"]), "151.50");
    let (_, list, _) = call(&app, get("/v1/receivables?location_code=ZB-UTR", &t)).await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(2),
        "once each: {list}"
    );

    // The carer pays 10.00 of her commission invoice.
    let pay = json!({"party": {"kind": "carer", "id": carer_id}, "amount": eur("10.00"),
        "method": "transfer", "received_on": today(), "reference": "ZZP-0042",
        "allocations": [{"invoice_id": commission.invoice_id, "amount": eur("10.00")}]});
    let (s, p, _) = call(&app, post("/v1/payments", &t, &pay)).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let r = receivable_of(&app, &commission.number).await;
    assert_eq!(r["status"], "partially_paid");
    assert_receivable_identity(&r);

    // A partial credit of the hours reduces its receivable; the commission credited in full
    // cancels it, and what she paid goes back to her credit.
    feed(&h, &envelope(&credit(&hours, "32.50", "119.00", true))).await;
    let r = receivable_of(&app, &hours.number).await;
    assert_eq!(amount(&r["credited"]), "32.50", "{r}");
    assert_eq!(amount(&r["outstanding"]), "119.00");
    assert_receivable_identity(&r);
    feed(&h, &envelope(&credit(&commission, "22.92", "0.00", false))).await;
    let r = receivable_of(&app, &commission.number).await;
    assert_eq!(r["status"], "cancelled", "{r}");
    let (s, bal, _) = call(&app, get(&balance_path(&carer), &t)).await;
    assert_eq!(s, StatusCode::OK, "{bal}");
    let eur_bal = &bal["currencies"][0];
    assert_eq!(eur_bal["currency"], "EUR", "{bal}");
    assert_eq!(amount(&eur_bal["unallocated_credit"]), "10.00", "{bal}");
    assert_eq!(amount(&eur_bal["outstanding"]), "0.00", "{bal}");
}
