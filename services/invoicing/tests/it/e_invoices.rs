//! E-invoices: an invoice or credit note whose parties are complete answers UBL (written to
//! `$CAREBILL_UBL_OUT` when set, for `scripts/validators.sh` to check with the UBL XSD, the CEN
//! schematron and OpenPeppol's rules); one asked for as UBL that is not complete answers 409
//! `document_incomplete` naming each missing business term and the resource to complete; JSON
//! stays the default; an `Accept` the resource cannot give is 406; another location's or
//! payer's document is 404.

use actix_web::http::StatusCode;
use carebill_domain::events::PartyRef;
use carebill_domain::ids::{ConsumptionId, SettlementId};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, token};
use diesel::RunQueryDsl as _;
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    complete_invoices_and_credit_notes_answer_ubl_that_the_validators_accept,
    an_invoice_whose_location_lacks_its_vat_id_names_bt_31_and_the_location,
    json_stays_the_default_and_an_accept_nobody_gives_is_406,
    a_credit_note_as_ubl_names_what_its_parties_lack_and_scope_holds,
);

fn missing(body: &Value) -> Vec<(String, String)> {
    body["missing"]
        .as_array()
        .expect("missing")
        .iter()
        .map(|m| {
            (
                m["term"].as_str().expect("term").to_owned(),
                m["href"].as_str().expect("href").to_owned(),
            )
        })
        .collect()
}

/// Issues one payer and one patient invoice of `w`; returns their ids.
async fn two_invoices(h: &Harness, w: &World) -> (String, String) {
    let pat = PartyRef::patient(w.patient.id);
    deliver(
        &h.db,
        envelope(&approval(
            w,
            SettlementId::new(),
            1,
            vec![line(
                ConsumptionId::new(),
                "LAB-HB",
                10_000,
                &[(&w.sanitas, 8_000), (&pat, 2_000)],
            )],
        )),
    )
    .await
    .expect("approved");
    let app = app(&h.db).await;
    let (_, list, _) = call(
        &app,
        get(
            &format!("/v1/invoices?location_code={}", w.location.code),
            &admin(),
        ),
    )
    .await;
    let invoices = items(&list);
    (
        invoices[0]["id"].as_str().expect("id").to_owned(),
        invoices[1]["id"].as_str().expect("id").to_owned(),
    )
}

async fn an_invoice_whose_location_lacks_its_vat_id_names_bt_31_and_the_location(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let mut w = world("H1");
    w.location.tax_id = None;
    let (payer_invoice, patient_invoice) = two_invoices(&h, &w).await;
    let location = format!("/v1/locations/{}", w.location.id);

    for path in [
        format!("/v1/invoices/{payer_invoice}/ubl"),
        format!("/v1/invoices/{patient_invoice}/ubl"),
    ] {
        let (s, body, ctype) = call(&app, get(&path, &t)).await;
        assert_eq!(s, StatusCode::CONFLICT, "{path}: {body}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"));
        assert_eq!(body["code"], "document_incomplete");
        assert_eq!(body["status"], 409);
        let gaps = missing(&body);
        assert!(
            gaps.contains(&("BT-31".to_owned(), location.clone())),
            "{body}"
        );
        let bt31 = body["missing"]
            .as_array()
            .expect("missing")
            .iter()
            .find(|m| m["term"] == "BT-31")
            .expect("BT-31");
        assert_eq!(bt31["name"], "Seller VAT identifier");
        // The seller's electronic address and address belong to the location too; the
        // buyer's to the payer or the patient.
        assert!(
            gaps.contains(&("BT-34".to_owned(), location.clone())),
            "{body}"
        );
        assert!(
            gaps.contains(&("BG-5".to_owned(), location.clone())),
            "{body}"
        );
        assert!(body["detail"].as_str().expect("detail").contains("BT-31"));
    }
    let (_, body, _) = call(&app, get(&format!("/v1/invoices/{payer_invoice}/ubl"), &t)).await;
    let payer = format!("/v1/payers/{}", w.sanitas.id);
    assert!(
        missing(&body).contains(&("BT-49".to_owned(), payer)),
        "{body}"
    );
    let (_, body, _) = call(
        &app,
        get(&format!("/v1/invoices/{patient_invoice}/ubl"), &t),
    )
    .await;
    let patient = format!("/v1/patients/{}", w.patient.id);
    assert!(
        missing(&body).contains(&("BT-44".to_owned(), patient)),
        "{body}"
    );

    // The same answer at the invoice itself with `Accept: application/xml`.
    let (s, body, _) = call(
        &app,
        get(&format!("/v1/invoices/{payer_invoice}"), &t)
            .insert_header(("accept", "application/xml")),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(missing(&body).contains(&("BT-31".to_owned(), location)));

    // An invoice issued before parties were kept renders from the location's name and tax id
    // kept beside: the same gaps.
    let payer_path = format!("/v1/invoices/{payer_invoice}/ubl");
    let (_, kept, _) = call(&app, get(&payer_path, &t)).await;
    h.db.write(|conn| {
        Ok(diesel::sql_query("UPDATE invoices SET seller = NULL, buyer = NULL").execute(conn)?)
    })
    .await
    .expect("snapshots removed");
    let (s, legacy, _) = call(&app, get(&payer_path, &t)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{legacy}");
    assert_eq!(legacy["missing"], kept["missing"]);

    // With a VAT id, BT-31 is no longer missing; the document needs nothing of its own.
    let w = world("H2");
    let (payer_invoice, _) = two_invoices(&h, &w).await;
    let (s, body, _) = call(&app, get(&format!("/v1/invoices/{payer_invoice}/ubl"), &t)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let gaps = missing(&body);
    assert!(!gaps.iter().any(|(term, _)| term == "BT-31"), "{body}");
    for term in [
        "BT-1", "BT-9", "BT-10", "BG-25", "BT-121", "BT-130", "BT-153",
    ] {
        assert!(!gaps.iter().any(|(t, _)| t == term), "{term}: {body}");
    }
}

async fn json_stays_the_default_and_an_accept_nobody_gives_is_406(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let w = world("H1");
    let (payer_invoice, _) = two_invoices(&h, &w).await;
    let path = format!("/v1/invoices/{payer_invoice}");

    for accept in [
        None,
        Some("application/json"),
        Some("*/*"),
        Some("application/*"),
        Some("application/xml;q=0.5, application/json"),
        Some("image/png, */*;q=0.1"),
    ] {
        let mut req = get(&path, &t);
        if let Some(a) = accept {
            req = req.insert_header(("accept", a));
        }
        let (s, body, ctype) = call(&app, req).await;
        assert_eq!(s, StatusCode::OK, "{accept:?}: {body}");
        assert_eq!(ctype.as_deref(), Some("application/json"), "{accept:?}");
        assert_eq!(body["id"], payer_invoice.as_str());
    }
    for accept in ["application/xml", "application/json;q=0.2, application/xml"] {
        let (s, body, _) = call(&app, get(&path, &t).insert_header(("accept", accept))).await;
        assert_eq!(s, StatusCode::CONFLICT, "{accept}: {body}");
        assert_eq!(body["code"], "document_incomplete");
    }
    for (path, accept, listed) in [
        (
            path.clone(),
            "image/png",
            "application/json, application/xml, application/pdf, text/html",
        ),
        (
            path.clone(),
            "application/json;q=0, application/xml;q=0",
            "application/xml",
        ),
        (format!("{path}/ubl"), "application/json", "application/xml"),
    ] {
        let (s, body, ctype) = call(&app, get(&path, &t).insert_header(("accept", accept))).await;
        assert_eq!(s, StatusCode::NOT_ACCEPTABLE, "{path} {accept}: {body}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"));
        assert_eq!(body["code"], "not_acceptable");
        assert!(
            body["detail"].as_str().expect("detail").contains(listed),
            "{body}"
        );
    }
    // Unknown documents are 404 whatever is asked.
    let unknown = format!("/v1/invoices/{}/ubl", uuid_like());
    assert_eq!(call(&app, get(&unknown, &t)).await.0, StatusCode::NOT_FOUND);
    let (s, _, _) = call(&app, get("/v1/invoices/nope/ubl", &t)).await;
    assert!(s.is_client_error(), "{s}");
}

fn uuid_like() -> String {
    "0199c0de-0000-7000-8000-000000000001".to_owned()
}

async fn a_credit_note_as_ubl_names_what_its_parties_lack_and_scope_holds(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["billing_manager"], None);
    let w = world("H1");
    let (payer_invoice, _) = two_invoices(&h, &w).await;
    let (s, cn) = credit(
        &app,
        &t,
        &payer_invoice,
        json!({"reason": "policy had ended", "reissue": false}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let id = cn["id"].as_str().expect("id");
    let path = format!("/v1/credit-notes/{id}/ubl");
    let (s, body, _) = call(&app, get(&path, &t)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let gaps = missing(&body);
    let payer = format!("/v1/payers/{}", w.sanitas.id);
    assert!(gaps.contains(&("BT-49".to_owned(), payer)), "{body}");
    // It refers to the invoice it cancels and carries terms: BT-25 and BT-9 are not missing.
    assert!(
        !gaps.iter().any(|(t, _)| t == "BT-25" || t == "BT-9"),
        "{body}"
    );
    let (s, body, _) = call(
        &app,
        get(&format!("/v1/credit-notes/{id}"), &t).insert_header(("accept", "application/xml")),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    let (s, body, _) = call(&app, get(&format!("/v1/credit-notes/{id}"), &t)).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // Another location's or payer's document is not found, as UBL too.
    let h2 = token(&["billing_manager"], Some(&["H2"]));
    let adeslas = payer_token("ADESLAS");
    for tok in [&h2, &adeslas] {
        for p in [path.clone(), format!("/v1/invoices/{payer_invoice}/ubl")] {
            assert_eq!(
                call(&app, get(&p, tok)).await.0,
                StatusCode::NOT_FOUND,
                "{p}"
            );
        }
        let (s, _, _) = call(
            &app,
            get(&format!("/v1/invoices/{payer_invoice}"), tok)
                .insert_header(("accept", "application/xml")),
        )
        .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    let sanitas = payer_token("SANITAS");
    assert_eq!(
        call(&app, get(&path, &sanitas)).await.0,
        StatusCode::CONFLICT
    );
}

async fn complete_invoices_and_credit_notes_answer_ubl_that_the_validators_accept(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let mut w = world("H1");
    complete(&mut w);
    let pat = PartyRef::patient(w.patient.id);
    // Two lines, shared: the patient's 0.51 over a quantity of 2 is a price of 0.255.
    let settlement = SettlementId::new();
    let approved_lines = vec![
        line(
            ConsumptionId::new(),
            "LAB-HB",
            10_000,
            &[(&w.sanitas, 8_000), (&pat, 2_000)],
        ),
        line(
            ConsumptionId::new(),
            "RX-01",
            1_051,
            &[(&w.sanitas, 1_000), (&pat, 51)],
        ),
    ];
    deliver(
        &h.db,
        envelope(&approval(&w, settlement, 1, approved_lines.clone())),
    )
    .await
    .expect("approved");
    let (_, list, _) = call(&app, get("/v1/invoices", &t)).await;
    let invoices = items(&list);
    let payer_invoice = invoices[0]["id"].as_str().expect("id").to_owned();
    let patient_invoice = invoices[1]["id"].as_str().expect("id").to_owned();
    assert_eq!(invoices[1]["recipient"]["kind"], "patient");
    let backend = format!("{b:?}").to_lowercase();

    let payer = ubl(
        &app,
        &format!("/v1/invoices/{payer_invoice}/ubl"),
        None,
        Some(&format!("payer-invoice-{backend}")),
    )
    .await;
    assert!(payer.contains("<Invoice "), "{payer}");
    assert!(
        payer.contains("<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>"),
        "{payer}"
    );
    assert!(payer.contains("<cbc:BuyerReference>SANITAS-HOSP</cbc:BuyerReference>"));
    assert!(payer.contains("VATEX-EU-132-1B"));
    assert!(payer.contains("ES9121000418450200051332"));
    assert!(
        payer.contains(">90.00<"),
        "the payer's share of both lines: {payer}"
    );
    // The same document at the invoice itself with `Accept: application/xml`.
    let same = ubl(
        &app,
        &format!("/v1/invoices/{payer_invoice}"),
        Some("application/xml"),
        None,
    )
    .await;
    assert_eq!(same, payer);

    let patient = ubl(
        &app,
        &format!("/v1/invoices/{patient_invoice}/ubl"),
        None,
        Some(&format!("patient-invoice-{backend}")),
    )
    .await;
    assert!(patient.contains(">20.51<"), "{patient}");
    assert!(patient.contains(">0.255<"), "{patient}");
    assert!(
        patient.contains("<cbc:BuyerReference>ENC-0001</cbc:BuyerReference>"),
        "the episode number when the patient asked for none: {patient}"
    );

    let (s, cn) = credit(
        &app,
        &t,
        &payer_invoice,
        json!({"reason": "policy had ended", "reissue": true}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let number = cn["invoice"]["number"].as_str().expect("number").to_owned();
    let note = ubl(
        &app,
        &format!("/v1/credit-notes/{}/ubl", cn["id"].as_str().expect("id")),
        None,
        Some(&format!("credit-note-{backend}")),
    )
    .await;
    assert!(note.contains("<CreditNote "), "{note}");
    assert!(note.contains("<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>"));
    assert!(note.contains("<cac:BillingReference>"), "{note}");
    assert!(
        !note.contains("PaymentMeans"),
        "a credit note pays nothing in: {note}"
    );
    assert!(
        note.contains(&format!("<cbc:ID>{number}</cbc:ID>")),
        "{note}"
    );
    // The cancelled invoice still renders as it was issued.
    let again = ubl(
        &app,
        &format!("/v1/invoices/{payer_invoice}/ubl"),
        None,
        None,
    )
    .await;
    assert_eq!(again, payer);

    // Settlement corrects and approves again: the payer's new invoice is a corrective invoice
    // naming the one it replaces (BT-25, BT-26); a 380, as Peppol's billing profile has no 384.
    deliver(
        &h.db,
        envelope(&approval(&w, settlement, 2, approved_lines)),
    )
    .await
    .expect("v2");
    let (_, list, _) = call(
        &app,
        get("/v1/invoices?status=issued&payer_code=SANITAS", &t),
    )
    .await;
    let corrective = items(&list)[0]["id"].as_str().expect("id").to_owned();
    let replacing = ubl(
        &app,
        &format!("/v1/invoices/{corrective}/ubl"),
        None,
        Some(&format!("corrective-invoice-{backend}")),
    )
    .await;
    assert!(
        replacing.contains("<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>")
            && replacing.contains("<cac:BillingReference>"),
        "{replacing}"
    );
    assert!(
        replacing.contains(&format!("<cbc:ID>{number}</cbc:ID>")),
        "BT-25 names the replaced invoice: {replacing}"
    );

    // A partial credit note of the patient's invoice: one of the two hemoglobin tests.
    let (_, doc, _) = call(&app, get(&format!("/v1/invoices/{patient_invoice}"), &t)).await;
    let lab = doc["lines"][0]["consumption_id"]
        .as_str()
        .expect("the patient's first line")
        .to_owned();
    let (s, cn) = credit(
        &app,
        &t,
        &patient_invoice,
        json!({"reason": "one test not performed", "reissue": false,
            "lines": [{"consumption_id": lab, "quantity": "1"}]}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let partial = ubl(
        &app,
        &format!("/v1/credit-notes/{}/ubl", cn["id"].as_str().expect("id")),
        None,
        Some(&format!("partial-credit-note-{backend}")),
    )
    .await;
    assert!(partial.contains(">10.00<"), "{partial}");
    assert!(partial.contains("Credits part of invoice"), "{partial}");
}
