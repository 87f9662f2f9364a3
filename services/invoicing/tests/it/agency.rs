//! A care agency's invoices (seed 004): a priced approval of a carer's hours, delivered as the
//! bus delivers `carebill.settlement.hours.priced.v1`, gives the carer's self-billed invoice
//! (389, the carer as seller, the agency as payee, the agreement in its note, the carer's own
//! series), the commission invoice to the carer and the mediation-fee invoice to the client,
//! each once, announced, queued for delivery and rendered as UBL and PDF.

use std::str::FromStr as _;

use actix_web::http::StatusCode;
use carebill_domain::agency::{Fee, SelfBillingAgreement, VatStatus, price};
use carebill_domain::events::{
    ApprovedHours, CarerRef, Envelope, HourlyTariff, HoursPricedV1, LocationRef, PartyBilling,
    PartyRef, PatientRef, PlacementTerms, TimesheetApprovedV1,
};
use carebill_domain::ids::{
    ApprovalId, CarerId, HoursId, LocationId, PatientId, PlacementId, TimesheetId,
};
use carebill_domain::{Currency, Money};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, put, token};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    an_approval_of_hours_gives_the_self_billed_commission_and_fee_invoices_once,
    a_months_commissions_are_invoiced_by_themselves_once_it_is_over,
    a_commission_run_refuses_what_it_cannot_do_and_changes_nothing,
);

fn money(s: &str) -> Money {
    Money::new(
        Decimal::from_str(s).expect("amount"),
        Currency::parse("EUR").expect("EUR"),
    )
    .expect("money")
}

fn billing(json: &str) -> PartyBilling {
    serde_json::from_str(json).expect("billing data")
}

fn hours(
    date: &str,
    start: Option<&str>,
    end: Option<&str>,
    minutes: i64,
    kind: &str,
) -> ApprovedHours {
    ApprovedHours {
        hours_id: HoursId::new(),
        date: date.parse().expect("date"),
        start: start.map(str::to_owned),
        end: end.map(str::to_owned),
        minutes,
        hours: Decimal::from(minutes) / Decimal::from(60),
        service_type: kind.to_owned(),
        description: if kind == "PERSONAL-CARE" {
            "Persoonlijke verzorging"
        } else {
            "Huishoudelijke hulp"
        }
        .to_owned(),
        service_group: "AGENCY".to_owned(),
        notes: None,
    }
}

/// An agency in Utrecht, a VAT-exempt carer with an agreement, a client who is a patient, and a
/// week of hours.
fn approval() -> TimesheetApprovedV1 {
    let client = PatientId::new();
    let mut client_party = PartyRef::patient(client);
    client_party.billing = Some(billing(
        r#"{"legal_name":"Henk Bakker","endpoint":{"scheme":"0088","id":"4000001000029"},"address":{"lines":["Oudegracht 12"],"city":"Utrecht","postal_code":"3511 AB","country":"NL"},"contact_email":"henk.bakker@example.nl"}"#,
    ));
    let agreement = SelfBillingAgreement {
        reference: "SBA-2026-017".to_owned(),
        valid_from: "2026-01-01".parse().expect("date"),
        valid_to: None,
    };
    TimesheetApprovedV1 {
        approval_id: ApprovalId::new(),
        timesheet_id: TimesheetId::new(),
        period_start: "2026-11-30".parse().expect("date"),
        period_end: "2026-12-06".parse().expect("date"),
        location: LocationRef {
            id: LocationId::new(),
            code: "ZB-UTR".to_owned(),
            name: "Zorgbemiddeling Utrecht".to_owned(),
            time_zone: "Europe/Amsterdam".to_owned(),
            tax_id: Some("NL859876543B01".to_owned()),
            billing: Some(billing(
                r#"{"legal_name":"Zorgbemiddeling Utrecht B.V.","vat_id":"NL859876543B01","legal_registration":{"scheme":"0106","id":"30123456"},"endpoint":{"scheme":"0106","id":"30123456"},"address":{"lines":["Catharijnesingel 50"],"city":"Utrecht","postal_code":"3511 GD","country":"NL"},"contact_email":"facturen@zb-utrecht.example","iban":"NL91ABNA0417164300"}"#,
            )),
        },
        carer: CarerRef {
            id: CarerId::new(),
            code: "ZZP-0042".to_owned(),
            billing: billing(
                r#"{"legal_name":"Zorg door Anouk","vat_id":"NL001234567B89","legal_registration":{"scheme":"0106","id":"71234567"},"endpoint":{"scheme":"0106","id":"71234567"},"address":{"lines":["Lange Nieuwstraat 3"],"city":"Utrecht","postal_code":"3512 PA","country":"NL"},"contact_email":"anouk@example.nl","iban":"NL20INGB0001234567"}"#,
            ),
            vat: VatStatus::Exempt {
                reason_code: Some("VATEX-EU-132-1C".to_owned()),
                reason: Some("Vrijgesteld van btw (art. 11 lid 1 onder g Wet OB)".to_owned()),
            },
            agreements: vec![agreement.clone()],
        },
        client: client_party.clone(),
        patient: Some(PatientRef {
            id: client,
            ..world("ZB").patient
        }),
        bill_to: client_party,
        terms: PlacementTerms {
            placement_id: PlacementId::new(),
            reference: "PL-2026-0107".to_owned(),
            tariffs: vec![
                HourlyTariff {
                    service_type: "PERSONAL-CARE".to_owned(),
                    hourly_rate: money("32.50"),
                },
                HourlyTariff {
                    service_type: "DOMESTIC".to_owned(),
                    hourly_rate: money("27.00"),
                },
            ],
            commission: Fee::Percent(Decimal::from_str("12.5").expect("percent")),
            mediation_fee: Some(Fee::PerHour(money("1.50"))),
        },
        currency: Currency::parse("EUR").expect("EUR"),
        lines: vec![
            hours(
                "2026-12-02",
                Some("09:00"),
                Some("12:00"),
                180,
                "PERSONAL-CARE",
            ),
            hours("2026-12-05", None, None, 120, "DOMESTIC"),
        ],
        approved_by: "approval-link:henk.bakker@example.nl".to_owned(),
        approved_at: chrono::Utc::now(),
        invoice_date: "2026-12-06".parse().expect("date"),
        agreement,
    }
}

/// Another approval of the same carer's hours, on another placement (without a mediation fee),
/// with its invoice date and period.
fn another(
    a: &TimesheetApprovedV1,
    reference: &str,
    invoice_date: NaiveDate,
) -> TimesheetApprovedV1 {
    let mut b = a.clone();
    b.approval_id = ApprovalId::new();
    b.timesheet_id = TimesheetId::new();
    b.terms.placement_id = PlacementId::new();
    b.terms.reference = reference.to_owned();
    b.terms.mediation_fee = None;
    b.invoice_date = invoice_date;
    b.period_start = invoice_date - chrono::Duration::days(6);
    b.period_end = invoice_date;
    for l in &mut b.lines {
        l.hours_id = HoursId::new();
        l.date = invoice_date - chrono::Duration::days(1);
    }
    b
}

/// Today at the agency (Amsterdam).
fn agency_today() -> NaiveDate {
    carebill_domain::collections::local_today("Europe/Amsterdam", chrono::Utc::now())
}

fn priced_envelope(a: &TimesheetApprovedV1) -> Envelope {
    let priced = HoursPricedV1 {
        priced: price(a, None).expect("priced"),
        approval: a.clone(),
        conditions_version: None,
        priced_at: chrono::Utc::now(),
    };
    Envelope::new(
        "settlement",
        &priced,
        chrono::Utc::now(),
        Some("corr-agency".to_owned()),
        None,
    )
    .expect("envelope")
}

fn by_purpose<'a>(invoices: &'a [Value], purpose: &str) -> &'a Value {
    invoices
        .iter()
        .find(|i| i["agency"]["purpose"] == purpose)
        .unwrap_or_else(|| panic!("no {purpose} invoice among {invoices:?}"))
}

async fn an_approval_of_hours_gives_the_self_billed_commission_and_fee_invoices_once(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let a = approval();
    let carer = a.carer.id.to_string();
    let client = a.client.id.to_string();

    // The agency charges VAT on its commission and fee (a tax rule of its country); the carer
    // gets commission invoices by e-mail, the client a portal notice.
    for group in ["agency-commission", "agency-mediation"] {
        let rule = json!({"country": "NL", "service_group": group, "category": "S", "rate": "21",
            "valid_from": "2026-01-01", "description": "agency services"});
        let (s, r, _) = call(
            &app,
            post("/v1/tax-rules", &token(&["billing_manager"], None), &rule),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }
    let (s, r, _) = call(
        &app,
        put(
            &format!("/v1/delivery-settings/carer/{carer}"),
            &t,
            &json!({"channel": "email", "email": "anouk@example.nl", "attach_ubl": true}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let (s, r, _) = call(
        &app,
        put(
            &format!("/v1/delivery-settings/patient/{client}"),
            &t,
            &json!({"channel": "portal_notice", "email": "henk.bakker@example.nl"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");

    // A carer's settings are checked like anyone's: a malformed address is refused and nothing
    // is stored (no delivery would follow).
    let other = CarerId::new();
    let (s, problem, _) = call(
        &app,
        put(
            &format!("/v1/delivery-settings/carer/{other}"),
            &t,
            &json!({"channel": "email", "email": "not an address"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (s, _, _) = call(
        &app,
        get(&format!("/v1/delivery-settings/carer/{other}"), &t),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let env = priced_envelope(&a);
    deliver(&h.db, env.clone()).await.expect("issued");
    // A redelivery, and the same approval priced again under another event id, issue nothing.
    deliver(&h.db, env).await.expect("redelivery");
    deliver(&h.db, priced_envelope(&a))
        .await
        .expect("priced again");

    let (s, list, _) = call(&app, get("/v1/invoices?location_code=ZB-UTR", &t)).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let invoices = items(&list);
    assert_eq!(
        invoices.len(),
        2,
        "the hours and the fee; the commission waits: {list}"
    );
    let issued = outbox_bodies(&h.db, "carebill.invoicing.agency-invoice.issued.v1").await;
    assert_eq!(issued.len(), 2, "one announcement per invoice");

    // The hours: 3 h × 32.50 + 2 h × 27.00 = 151.50, exempt, in the carer's own series, the
    // carer as seller, the agency as payee.
    let sb = by_purpose(&invoices, "hours");
    assert_eq!(sb["number"], "ZB-UTR-ZZP-0042-SB-2026-000001");
    assert_eq!(sb["agency"]["document_type"], "389");
    assert_eq!(
        sb["agency"]["approval_id"],
        a.approval_id.to_string().as_str()
    );
    assert_eq!(sb["total"]["amount"], "151.50");
    assert_eq!(sb["tax_total"]["amount"], "0.00");
    assert_eq!(sb["recipient"]["kind"], "patient");
    assert_eq!(sb["patient_id"], client.as_str());
    assert_eq!(sb["episode"], Value::Null);
    assert_eq!(sb["issue_date"], "2026-12-06");
    assert_eq!(sb["agency"]["payee"], "Zorgbemiddeling Utrecht B.V.");
    let note = sb["agency"]["note"].as_str().expect("note");
    assert!(
        note.contains("SBA-2026-017") && note.contains("Zorg door Anouk"),
        "{note}"
    );

    // The same carer's hours on another placement, later that week: her second self-billed
    // invoice; nothing is charged yet for either placement's commission.
    let b2 = another(&a, "PL-2026-0123", "2026-12-06".parse().expect("date"));
    deliver(&h.db, priced_envelope(&b2)).await.expect("issued");
    let (_, list, _) = call(&app, get("/v1/invoices?location_code=ZB-UTR", &t)).await;
    assert_eq!(items(&list).len(), 3, "{list}");
    assert!(
        items(&list)
            .iter()
            .any(|i| i["number"] == "ZB-UTR-ZZP-0042-SB-2026-000002"),
        "{list}"
    );

    // The commission run: one invoice to the carer over both placements, one line per
    // approval, dated the agency's today: 12.5 % of 151.50 = 18.94 twice = 37.88, plus 21 % VAT
    // 7.95 = 45.83.
    let run = |body: Value| post("/v1/agency-commission-runs", &t, &body);
    let (s, r, _) = call(&app, run(json!({"location_code": "ZB-UTR"}))).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let today = agency_today();
    assert_eq!(r["issue_date"], today.to_string().as_str(), "{r}");
    assert_eq!(r["invoices"].as_array().map_or(0, Vec::len), 1, "{r}");
    assert_eq!(r["invoices"][0]["total"]["amount"], "45.83", "{r}");
    assert_eq!(
        r["invoices"][0]["approvals"].as_array().map_or(0, Vec::len),
        2,
        "{r}"
    );
    // Nothing is billed twice: a second run issues nothing.
    let (s, again, _) = call(&app, run(json!({"location_code": "ZB-UTR"}))).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["invoices"], json!([]), "{again}");

    let (_, list, _) = call(&app, get("/v1/invoices?location_code=ZB-UTR", &t)).await;
    let invoices = items(&list);
    assert_eq!(invoices.len(), 4, "{list}");
    let issued = outbox_bodies(&h.db, "carebill.invoicing.agency-invoice.issued.v1").await;
    assert_eq!(issued.len(), 4, "one announcement per invoice");
    let commission = by_purpose(&invoices, "commission");
    // The fee took the agency's first number of 2026; the commission is dated today.
    let year = chrono::Datelike::year(&today);
    let n = if year == 2026 { 2 } else { 1 };
    assert_eq!(
        commission["number"],
        format!("ZB-UTR-INV-{year}-{n:06}").as_str(),
        "{commission}"
    );
    assert_eq!(commission["agency"]["document_type"], "380");
    assert_eq!(commission["agency"]["approval_id"], Value::Null);
    assert_eq!(
        commission["agency"]["placement_reference"],
        "PL-2026-0107, PL-2026-0123"
    );
    assert_eq!(commission["recipient"]["kind"], "carer");
    assert_eq!(commission["recipient"]["id"], carer.as_str());
    assert_eq!(commission["patient_id"], Value::Null);
    assert_eq!(commission["tax_total"]["amount"], "7.95");
    assert_eq!(commission["total"]["amount"], "45.83");
    let commission_id = commission["id"].as_str().expect("id").to_owned();
    let (s, one, _) = call(&app, get(&format!("/v1/invoices/{commission_id}"), &t)).await;
    assert_eq!(s, StatusCode::OK, "{one}");
    let descriptions: Vec<&str> = one["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["description"].as_str().expect("description"))
        .collect();
    assert_eq!(descriptions.len(), 2, "{one}");
    assert!(
        descriptions[0].contains("PL-2026-0107") && descriptions[0].contains("151.50"),
        "{descriptions:?}"
    );
    assert!(descriptions[1].contains("PL-2026-0123"), "{descriptions:?}");
    let announced = issued
        .iter()
        .find(|e| e["data"]["purpose"] == "commission")
        .expect("the commission announced");
    assert_eq!(
        announced["data"]["approvals"]
            .as_array()
            .map_or(0, Vec::len),
        2
    );
    assert!(
        announced["data"].get("approval_id").is_none(),
        "{announced}"
    );
    // The mediation fee: 5 h × 1.50 = 7.50, plus VAT 1.58 = 9.08, to the client.
    let fee = by_purpose(&invoices, "mediation_fee");
    assert_eq!(fee["number"], "ZB-UTR-INV-2026-000001");
    assert_eq!(fee["recipient"]["kind"], "patient");
    assert_eq!(fee["total"]["amount"], "9.08");

    // One invoice with its lines: each priced part of the hours.
    let sb_id = sb["id"].as_str().expect("id").to_owned();
    let (s, one, _) = call(&app, get(&format!("/v1/invoices/{sb_id}"), &t)).await;
    assert_eq!(s, StatusCode::OK, "{one}");
    let lines = one["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2, "{one}");
    assert_eq!(lines[0]["code"], "PERSONAL-CARE");
    assert_eq!(lines[0]["quantity"], "3");
    assert_eq!(lines[0]["amount"]["amount"], "97.50");
    assert_eq!(
        lines[0]["tax"]["exemption_reason_code"], "VATEX-EU-132-1C",
        "{one}"
    );

    // The UBL: a self-billed invoice (389) whose seller is the carer and payee the agency; the
    // commission a 380 from the agency to the carer. Both complete, for the validators.
    let xml = ubl(
        &app,
        &format!("/v1/invoices/{sb_id}/ubl"),
        None,
        Some(&format!("agency-self-billed-{b:?}")),
    )
    .await;
    assert!(
        xml.contains("<cbc:InvoiceTypeCode>389</cbc:InvoiceTypeCode>"),
        "{xml}"
    );
    assert!(
        xml.contains("selfbilling"),
        "the Peppol self-billing profile: {xml}"
    );
    assert!(
        xml.contains("<cac:PayeeParty>") && xml.contains("NL91ABNA0417164300"),
        "{xml}"
    );
    let seller = &xml[xml.find("<cac:AccountingSupplierParty>").expect("seller")..];
    assert!(seller.contains("Zorg door Anouk"), "{xml}");
    assert!(xml.contains("SBA-2026-017"), "{xml}");
    for (inv, name) in [(commission, "commission"), (fee, "mediation-fee")] {
        let id = inv["id"].as_str().expect("id");
        let xml = ubl(
            &app,
            &format!("/v1/invoices/{id}/ubl"),
            None,
            Some(&format!("agency-{name}-{b:?}")),
        )
        .await;
        assert!(
            xml.contains("<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>"),
            "{xml}"
        );
        assert!(!xml.contains("<cac:PayeeParty>"), "{xml}");
    }

    // The PDF says what it is and on what basis.
    let pdf = raw(
        &app,
        get(&format!("/v1/invoices/{sb_id}"), &t).insert_header(("accept", "application/pdf")),
    )
    .await;
    assert_eq!(pdf.status, StatusCode::OK);
    let text = pdf_text(&pdf.body);
    assert!(text.contains("Self-billed invoice"), "{text}");
    assert!(text.contains("SBA-2026-017"), "{text}");

    // Each is queued for its recipient as its settings say: the carer's commission by e-mail,
    // the client's invoices as portal notices.
    let (s, d, _) = call(
        &app,
        get(&format!("/v1/invoices/{commission_id}/deliveries"), &t),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d.as_array().map_or(0, Vec::len), 1, "{d}");
    assert_eq!(d[0]["channel"], "email");
    assert_eq!(d[0]["recipient"], "anouk@example.nl");
    let (s, d, _) = call(&app, get(&format!("/v1/invoices/{sb_id}/deliveries"), &t)).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d[0]["channel"], "portal_notice", "{d}");

    // An agency invoice is never invoiced again: a credit with reissue is refused, and
    // changes nothing.
    let credit =
        |id: &str, body: Value| post(&format!("/v1/invoices/{id}/credit-notes"), &t, &body);
    let (s, problem, _) = call(
        &app,
        credit(&sb_id, json!({"reason": "wrong hours", "reissue": true})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "reissue", "{problem}");
    let (_, again, _) = call(&app, get(&format!("/v1/invoices/{sb_id}"), &t)).await;
    assert_eq!(again["status"], "issued");
    assert_eq!(again["credited"]["amount"], "0.00");

    // One hour of the morning was not worked: a partial self-billed credit note (261) in the
    // carer's own series of credit notes.
    let morning = lines[0]["consumption_id"]
        .as_str()
        .expect("line id")
        .to_owned();
    let (s, cn, _) = call(
        &app,
        credit(
            &sb_id,
            json!({"reason": "one hour less", "reissue": false,
        "lines": [{"consumption_id": morning, "quantity": "1"}]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    assert_eq!(cn["number"], "ZB-UTR-ZZP-0042-SBC-2026-000001");
    assert_eq!(cn["document_type"], "261");
    assert_eq!(cn["total"]["amount"], "32.50");
    assert_eq!(cn["settlement"], Value::Null);
    let cn_id = cn["id"].as_str().expect("id").to_owned();
    let xml = ubl(
        &app,
        &format!("/v1/credit-notes/{cn_id}/ubl"),
        None,
        Some(&format!("agency-self-billed-credit-{b:?}")),
    )
    .await;
    assert!(
        xml.contains("<cbc:CreditNoteTypeCode>261</cbc:CreditNoteTypeCode>"),
        "{xml}"
    );
    let seller = &xml[xml.find("<cac:AccountingSupplierParty>").expect("seller")..];
    assert!(seller.contains("Zorg door Anouk"), "{xml}");
    let (_, again, _) = call(&app, get(&format!("/v1/invoices/{sb_id}"), &t)).await;
    assert_eq!(again["credited"]["amount"], "32.50");
    assert_eq!(again["status"], "issued");

    // The commission is credited in full (381, the agency's credit-note series): cancelled.
    let (s, cn, _) = call(
        &app,
        credit(
            &commission_id,
            json!({"reason": "commission waived", "reissue": false}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    assert_eq!(cn["number"], "ZB-UTR-CN-2026-000001");
    assert_eq!(cn["document_type"], "381");
    assert_eq!(cn["total"]["amount"], "45.83");
    let id = cn["id"].as_str().expect("id");
    let xml = ubl(
        &app,
        &format!("/v1/credit-notes/{id}/ubl"),
        None,
        Some(&format!("agency-commission-credit-{b:?}")),
    )
    .await;
    assert!(
        xml.contains("<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>"),
        "{xml}"
    );
    let (_, again, _) = call(&app, get(&format!("/v1/invoices/{commission_id}"), &t)).await;
    assert_eq!(again["status"], "cancelled");

    // Announced as the agency's credit notes, not as credit notes of a settlement.
    let credited = outbox_bodies(&h.db, "carebill.invoicing.agency-credit-note.issued.v1").await;
    let kinds: Vec<(&str, &str, bool)> = credited
        .iter()
        .map(|e| {
            (
                e["data"]["document_type"].as_str().expect("type"),
                e["data"]["purpose"].as_str().expect("purpose"),
                e["data"]["partial"].as_bool().expect("partial"),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [("261", "hours", true), ("381", "commission", false)]
    );
    assert!(
        outbox_bodies(&h.db, "carebill.invoicing.credit_note.issued.v1")
            .await
            .is_empty()
    );
}

async fn a_months_commissions_are_invoiced_by_themselves_once_it_is_over(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let a = approval();
    let today = agency_today();
    let month_start = chrono::Datelike::with_day(&today, 1).expect("first of the month");
    let last_month = month_start - chrono::Duration::days(3);
    let earlier = another(&a, "PL-2026-0107", last_month);
    let current = another(&a, "PL-2026-0123", today);
    deliver(&h.db, priced_envelope(&earlier))
        .await
        .expect("issued");
    deliver(&h.db, priced_envelope(&current))
        .await
        .expect("issued");

    // The background pass (the delivery sender's) issues last month's commission by itself,
    // and leaves this month's until the month is over.
    let state = actix_web::web::Data::new(carebill_invoicing::InvoicingState {
        db: h.db.clone(),
        wake: std::sync::Arc::new(tokio::sync::Notify::new()),
        delivery: carebill_invoicing::DeliveryChannels {
            mail: None,
            portal_url: "https://billing.example.org".to_owned(),
            link_hours: 72,
        },
        delivery_wake: std::sync::Arc::new(tokio::sync::Notify::new()),
    });
    let sender = tokio::spawn(carebill_invoicing::delivery_sender(
        state,
        std::time::Duration::from_millis(50),
    ));
    let commissions = |list: &Value| -> Vec<Value> {
        items(list)
            .into_iter()
            .filter(|i| i["agency"]["purpose"] == "commission")
            .collect()
    };
    let mut found = Vec::new();
    for _ in 0..200 {
        let (_, list, _) = call(&app, get("/v1/invoices?location_code=ZB-UTR", &t)).await;
        found = commissions(&list);
        if !found.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(found.len(), 1, "last month's commission, issued by itself");
    // A few more passes change nothing.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    sender.abort();
    let (_, list, _) = call(&app, get("/v1/invoices?location_code=ZB-UTR", &t)).await;
    assert_eq!(commissions(&list).len(), 1, "{list}");
    let id = found[0]["id"].as_str().expect("id");
    assert_eq!(found[0]["issue_date"], today.to_string().as_str());
    let (_, one, _) = call(&app, get(&format!("/v1/invoices/{id}"), &t)).await;
    let lines = one["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1, "{one}");
    assert!(
        lines[0]["description"]
            .as_str()
            .is_some_and(|d| d.contains("PL-2026-0107")),
        "{one}"
    );
    assert_eq!(
        found[0]["total"]["amount"], "18.94",
        "exempt without a rule"
    );

    // This month's, by hand.
    let (s, r, _) = call(
        &app,
        post(
            "/v1/agency-commission-runs",
            &t,
            &json!({"location_code": "ZB-UTR"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["invoices"].as_array().map_or(0, Vec::len), 1, "{r}");
    assert_eq!(
        r["invoices"][0]["approvals"],
        json!([current.approval_id.to_string()]),
        "{r}"
    );
}

async fn a_commission_run_refuses_what_it_cannot_do_and_changes_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let a = approval();
    deliver(&h.db, priced_envelope(&a)).await.expect("issued");
    let manager = token(&["billing_manager"], None);
    let run = |tok: &str, body: Value| post("/v1/agency-commission-runs", tok, &body);
    let tomorrow = agency_today() + chrono::Duration::days(1);
    let cases = [
        (
            token(&["biller"], None),
            json!({"location_code": "ZB-UTR"}),
            StatusCode::FORBIDDEN,
            None,
        ),
        (
            token(&["billing_manager"], Some(&["H1"])),
            json!({"location_code": "ZB-UTR"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(("location_code", "forbidden")),
        ),
        (
            manager.clone(),
            json!({"location_code": "NOWHERE"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(("location_code", "unknown")),
        ),
        (
            manager.clone(),
            json!({"location_code": "not a code!"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(("location_code", "invalid")),
        ),
        (
            manager.clone(),
            json!({"location_code": "ZB-UTR", "through": tomorrow}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(("through", "after_today")),
        ),
    ];
    for (tok, body, status, field) in cases {
        let (s, problem, _) = call(&app, run(&tok, body.clone())).await;
        assert_eq!(s, status, "{body}: {problem}");
        if let Some((field, code)) = field {
            assert_eq!(problem["errors"][0]["field"], field, "{problem}");
            assert_eq!(problem["errors"][0]["code"], code, "{problem}");
        }
    }
    for body in [
        json!({"location_code": "ZB-UTR", "period": "2026-12"}),
        json!({"location_code": "ZB-UTR", "through": "yesterday"}),
        json!([]),
    ] {
        let (s, problem, _) = call(&app, run(&manager, body.clone())).await;
        assert!(s.is_client_error(), "{body}: {s} {problem}");
        assert!(problem["title"].is_string(), "a problem: {problem}");
    }
    // Nothing was issued: the commission is still pending, and a run now bills it.
    let (_, list, _) = call(&app, get("/v1/invoices?location_code=ZB-UTR", &manager)).await;
    assert!(
        items(&list)
            .iter()
            .all(|i| i["agency"]["purpose"] != "commission"),
        "{list}"
    );
    let (s, r, _) = call(&app, run(&manager, json!({"location_code": "ZB-UTR"}))).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["invoices"][0]["total"]["amount"], "18.94", "{r}");
}
