//! Taxes as configuration: tax rules per country (a catalog code, a service group or every line,
//! valid by date) are checked and never overlap; a line a rule makes standard-rated carries its
//! VAT to the cent on the invoice, its credit notes and its UBL; everything else stays health
//! care, exempt.

use actix_web::http::StatusCode;
use carebill_domain::events::PartyRef;
use carebill_domain::ids::{ConsumptionId, SettlementId};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, put, token};
use serde_json::json;

use crate::common::*;

both_backends!(
    tax_rules_are_checked_and_never_overlap,
    a_standard_rated_line_carries_its_vat_to_the_cent_through_invoice_and_credit_notes,
);

async fn tax_rules_are_checked_and_never_overlap(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let manager = token(&["billing_manager"], None);
    let cosmetic = json!({"country": "es", "service_group": "COSMETIC", "category": "S",
        "rate": "21", "valid_from": "2026-01-01", "description": "cosmetic procedures"});
    let (s, rule, _) = call(&app, post("/v1/tax-rules", &manager, &cosmetic)).await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    assert_eq!(rule["country"], "ES");
    assert_eq!(rule["category"], "S");
    assert_eq!(rule["rate"], "21");
    let id = rule["id"].as_str().expect("id").to_owned();

    // Another rule for the same lines on some of the same days is refused, naming the first.
    let mut later = cosmetic.clone();
    later["valid_from"] = json!("2026-06-01");
    later["rate"] = json!("10");
    let (s, problem, _) = call(&app, post("/v1/tax-rules", &manager, &later)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "tax_rule_overlaps");
    assert_eq!(fields(&problem), ["valid_from"]);
    assert!(problem["detail"].as_str().expect("detail").contains(&id));
    // Ending the first on 31 May makes room for it.
    let mut ended = cosmetic.clone();
    ended["valid_to"] = json!("2026-05-31");
    let (s, replaced, _) = call(&app, put(&format!("/v1/tax-rules/{id}"), &manager, &ended)).await;
    assert_eq!(s, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["valid_to"], "2026-05-31");
    let (s, second, _) = call(&app, post("/v1/tax-rules", &manager, &later)).await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    // A rule for the whole country, and one for another group, do not overlap these.
    for body in [
        json!({"country": "ES", "category": "E", "exemption_reason_code": "VATEX-EU-132-1B", "valid_from": "2026-01-01"}),
        json!({"country": "ES", "service_group": "MEALS", "category": "S", "rate": "10", "valid_from": "2026-01-01"}),
        json!({"country": "ES", "catalog_code": "GLASSES", "category": "Z", "valid_from": "2026-01-01"}),
    ] {
        let (s, r, _) = call(&app, post("/v1/tax-rules", &manager, &body)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}: {r}");
    }

    // What is wrong is named, and nothing is stored.
    for (body, field) in [
        (
            json!({"country": "XX", "category": "S", "rate": "21", "valid_from": "2026-01-01"}),
            "country",
        ),
        (
            json!({"country": "FR", "category": "S", "valid_from": "2026-01-01"}),
            "rate",
        ),
        (
            json!({"country": "FR", "category": "S", "rate": "0", "valid_from": "2026-01-01"}),
            "rate",
        ),
        (
            json!({"country": "FR", "category": "S", "rate": "120", "valid_from": "2026-01-01"}),
            "rate",
        ),
        (
            json!({"country": "FR", "category": "S", "rate": "abc", "valid_from": "2026-01-01"}),
            "rate",
        ),
        (
            json!({"country": "FR", "category": "E", "valid_from": "2026-01-01"}),
            "exemption_reason_code",
        ),
        (
            json!({"country": "FR", "category": "E", "exemption_reason_code": "EU-132", "valid_from": "2026-01-01"}),
            "exemption_reason_code",
        ),
        (
            json!({"country": "FR", "catalog_code": "X", "service_group": "Y", "category": "Z", "valid_from": "2026-01-01"}),
            "service_group",
        ),
        (
            json!({"country": "FR", "category": "Z", "valid_from": "2026-02-01", "valid_to": "2026-01-01"}),
            "valid_to",
        ),
    ] {
        let (s, problem, _) = call(&app, post("/v1/tax-rules", &manager, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert!(
            fields(&problem).contains(&field.to_owned()),
            "{field}: {problem}"
        );
    }
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/tax-rules",
            &manager,
            &json!({"country": "FR", "category": "W", "valid_from": "2026-01-01"}),
        ),
    )
    .await;
    assert!(s.is_client_error(), "{problem}");
    let (_, fr, _) = call(&app, get("/v1/tax-rules?country=FR", &manager)).await;
    assert_eq!(items(&fr).len(), 0, "{fr}");
    let (_, es, _) = call(&app, get("/v1/tax-rules?country=es", &manager)).await;
    assert_eq!(items(&es).len(), 5, "{es}");

    // Billing managers write; a biller reads; a payer does neither.
    let (s, _, _) = call(
        &app,
        post("/v1/tax-rules", &token(&["biller"], None), &cosmetic),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(
        &app,
        get(&format!("/v1/tax-rules/{id}"), &token(&["biller"], None)),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(&app, get("/v1/tax-rules", &payer_token("SANITAS"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn a_standard_rated_line_carries_its_vat_to_the_cent_through_invoice_and_credit_notes(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let (s, rule, _) = call(
        &app,
        post(
            "/v1/tax-rules",
            &t,
            &json!({"country": "ES", "service_group": "COSMETIC", "category": "S", "rate": "21",
                "valid_from": "2020-01-01"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{rule}");
    let mut w = world("H1");
    complete(&mut w);
    let pat = PartyRef::patient(w.patient.id);
    // The patient pays 20.00 of an exempt test and a whole cosmetic procedure of 33.33 (two at
    // 16.66 rounded up to 33.33 by a rounding rule: its document line is priced at 16.665).
    let exempt = line(
        ConsumptionId::new(),
        "LAB-HB",
        10_000,
        &[(&w.sanitas, 8_000), (&pat, 2_000)],
    );
    let mut cosmetic = line(ConsumptionId::new(), "PEEL", 3_333, &[(&pat, 3_333)]);
    cosmetic.service_group = "COSMETIC".to_owned();
    let cosmetic_id = cosmetic.consumption_id;
    deliver(
        &h.db,
        envelope(&approval(
            &w,
            SettlementId::new(),
            1,
            vec![exempt, cosmetic],
        )),
    )
    .await
    .expect("approved");
    let (_, list, _) = call(&app, get("/v1/invoices?recipient_kind=patient", &t)).await;
    let invoice = items(&list)[0].clone();
    let id = invoice["id"].as_str().expect("id").to_owned();
    // 33.33 × 21 % = 6.9993: 7.00 of VAT; 53.33 net, 60.33 due.
    assert_eq!(invoice["tax_total"]["amount"], "7.00", "{invoice}");
    assert_eq!(invoice["total"]["amount"], "60.33");
    let (_, doc, _) = call(&app, get(&format!("/v1/invoices/{id}"), &t)).await;
    let taxes: Vec<(String, String)> = doc["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["tax"]["category"].as_str().expect("category").to_owned(),
                l["tax"]["rate"].as_str().expect("rate").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        taxes,
        [
            ("E".to_owned(), "0".to_owned()),
            ("S".to_owned(), "21".to_owned())
        ]
    );
    // The payer's invoice stays exempt.
    let (_, payers, _) = call(&app, get("/v1/invoices?recipient_kind=payer", &t)).await;
    assert_eq!(items(&payers)[0]["tax_total"]["amount"], "0.00");
    // Collections opens the receivable for what is due.
    let issued = outbox_bodies(&h.db, "carebill.invoicing.invoice.issued.v1").await;
    let event = issued
        .iter()
        .find(|e| e["data"]["invoice_id"] == invoice["id"])
        .expect("the patient's invoice event");
    assert_eq!(event["data"]["total"]["amount"], "60.33");

    let backend = format!("{b:?}").to_lowercase();
    let xml = ubl(
        &app,
        &format!("/v1/invoices/{id}/ubl"),
        None,
        Some(&format!("standard-rated-invoice-{backend}")),
    )
    .await;
    assert!(
        xml.contains("<cbc:TaxAmount currencyID=\"EUR\">7.00</cbc:TaxAmount>"),
        "{xml}"
    );
    assert!(
        xml.contains("<cbc:PayableAmount currencyID=\"EUR\">60.33</cbc:PayableAmount>"),
        "{xml}"
    );

    // A partial credit of 10.00 of the procedure credits its VAT too: 12.10.
    let (s, partial) = credit(
        &app,
        &t,
        &id,
        json!({"reason": "price agreed lower", "reissue": false,
            "lines": [{"consumption_id": cosmetic_id.to_string(), "amount": "10.00"}]}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{partial}");
    assert_eq!(partial["tax_total"]["amount"], "2.10");
    assert_eq!(partial["total"]["amount"], "12.10");
    let notes = outbox_bodies(&h.db, "carebill.invoicing.credit_note.issued.v1").await;
    assert_eq!(notes[0]["data"]["invoice_remaining"]["amount"], "48.23");
    ubl(
        &app,
        &format!(
            "/v1/credit-notes/{}/ubl",
            partial["id"].as_str().expect("id")
        ),
        None,
        Some(&format!("standard-rated-credit-note-{backend}")),
    )
    .await;

    // The rest: 20.00 exempt and 23.33 at 21 % (4.8993: 4.90): 48.23, the invoice credited to the
    // cent.
    let (s, rest) = credit(
        &app,
        &t,
        &id,
        json!({"reason": "procedure cancelled", "reissue": false}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{rest}");
    assert_eq!(rest["tax_total"]["amount"], "4.90");
    assert_eq!(rest["total"]["amount"], "48.23");
    let (_, after, _) = call(&app, get(&format!("/v1/invoices/{id}"), &t)).await;
    assert_eq!(after["status"], "cancelled");
    assert_eq!(after["credited"]["amount"], "60.33", "{after}");
}
