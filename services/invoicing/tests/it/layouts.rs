//! Layouts and printed documents: an invoice as PDF and HTML in the layout it was issued under
//! (the built-in one before a location has any), a layout's change making a new version that
//! only later documents get, the most specific layout winning (a payer's over the location's),
//! previews of drafts that save nothing, and every bad layout refused with nothing stored. The
//! PDFs are checked by outside tools: `qpdf --check` and the text `pdftotext` reads.

use actix_web::http::StatusCode;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, put, token};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    invoices_print_in_the_layout_they_were_issued_under,
    a_draft_previews_without_saving_anything,
    bad_layouts_are_refused_and_nothing_is_stored,
);

fn pdf_of(path: &str) -> actix_web::test::TestRequest {
    get(path, &admin()).insert_header(("accept", "application/pdf"))
}

async fn invoices_print_in_the_layout_they_were_issued_under(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let mut w = world("H1");
    complete(&mut w);
    let mut seen = Vec::new();

    // Before any layout: the built-in one, in English.
    let (first_payer, _) = approve(&h, &w, &app, &mut seen).await;
    let r = raw(&app, pdf_of(&format!("/v1/invoices/{first_payer}"))).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.ctype, "application/pdf");
    assert_eq!(r.layout, "built-in");
    let (_, json_doc, _) = call(&app, get(&format!("/v1/invoices/{first_payer}"), &t)).await;
    let number = json_doc["number"].as_str().expect("number").to_owned();
    let text = pdf_text(&r.body);
    for expected in [
        "Invoice",
        number.as_str(),
        "80.00 EUR",
        "Sanitas S.A. de Seguros",
        "Hospital Central S.L.",
        "SANITAS-POL-1",
        "ES91 2100 0418 4502 0005 1332",
        "Exempt",
    ] {
        assert!(text.contains(expected), "`{expected}` not in:\n{text}");
    }

    // The location's layout, in Spanish, with a footer that names the document.
    let layout = json!({
        "location_code": "H1",
        "definition": {
            "language": "es",
            "primary_color": "#0b6e4f",
            "footer_text": "{{ seller }} · factura {{ number }} · a pagar {{ due }}",
            "fields": { "payment_qr": true }
        }
    });
    let (s, body, _) = call(&app, put("/v1/layouts/H1-standard", &t, &layout)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["version"], 1);
    assert_eq!(body["definition"]["language"], "es");
    assert_eq!(body["definition"]["fields"]["payment_qr"], true);
    assert_eq!(
        body["definition"]["fields"]["episode"], true,
        "defaults fill what is left out"
    );

    // The invoice issued before keeps the built-in layout; a new one gets the location's.
    let r = raw(&app, pdf_of(&format!("/v1/invoices/{first_payer}"))).await;
    assert_eq!(r.layout, "built-in");
    assert!(pdf_text(&r.body).contains("Invoice"));
    let (second_payer, second_patient) = approve(&h, &w, &app, &mut seen).await;
    let r = raw(&app, pdf_of(&format!("/v1/invoices/{second_payer}"))).await;
    assert_eq!(r.layout, "H1-standard;version=1");
    let text = pdf_text(&r.body);
    let (_, second_doc, _) = call(&app, get(&format!("/v1/invoices/{second_payer}"), &t)).await;
    let second_number = second_doc["number"].as_str().expect("number").to_owned();
    for expected in [
        "Factura",
        "Importe",
        "80,00 EUR",
        "Escanee para pagar",
        &format!("factura {second_number} · a pagar 80,00 EUR"),
    ] {
        assert!(text.contains(expected), "`{expected}` not in:\n{text}");
    }
    // The same invoice as HTML.
    let r = raw(
        &app,
        get(&format!("/v1/invoices/{second_payer}"), &t).insert_header(("accept", "text/html")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.ctype.starts_with("text/html"), "{}", r.ctype);
    let html = String::from_utf8(r.body).expect("utf-8");
    assert!(
        html.contains("<html lang=\"es\">")
            && html.contains(&second_number)
            && html.contains("#0b6e4f")
    );

    // Changing it needs the ETag, and makes version 2 for what is issued next.
    let german = json!({ "location_code": "H1", "definition": { "language": "de" } });
    let (s, body, _) = call(&app, put("/v1/layouts/H1-standard", &t, &german)).await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "{body}");
    let (s, _, _) = call(
        &app,
        put("/v1/layouts/H1-standard", &t, &german).insert_header(("if-match", "\"v7\"")),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let (s, body, _) = call(
        &app,
        put("/v1/layouts/H1-standard", &t, &german).insert_header(("if-match", "\"v1\"")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    let r = raw(&app, pdf_of(&format!("/v1/invoices/{second_payer}"))).await;
    assert_eq!(
        r.layout, "H1-standard;version=1",
        "an issued invoice renders as it was issued"
    );
    assert!(pdf_text(&r.body).contains("Factura"));
    let (_, v1, _) = call(&app, get("/v1/layouts/H1-standard/versions/1", &t)).await;
    assert_eq!(v1["definition"]["language"], "es");
    assert_eq!(v1["current_version"], 2);

    // A payer's own layout outranks the location's for that payer's documents only.
    let sanitas = json!({ "location_code": "H1", "payer_code": "SANITAS", "definition": { "language": "fr", "font": "libertinus_serif" } });
    let (s, body, _) = call(&app, put("/v1/layouts/H1-sanitas", &t, &sanitas)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    assert_eq!(body["recipient_kind"], "payer");
    let (third_payer, third_patient) = approve(&h, &w, &app, &mut seen).await;
    let r = raw(&app, pdf_of(&format!("/v1/invoices/{third_payer}"))).await;
    assert_eq!(r.layout, "H1-sanitas;version=1");
    assert!(pdf_text(&r.body).contains("Facture"));
    let r = raw(&app, pdf_of(&format!("/v1/invoices/{third_patient}"))).await;
    assert_eq!(r.layout, "H1-standard;version=2");
    let text = pdf_text(&r.body);
    assert!(
        text.contains("Rechnung") && text.contains("20,00 EUR"),
        "{text}"
    );
    let r = raw(&app, pdf_of(&format!("/v1/invoices/{second_patient}"))).await;
    assert_eq!(r.layout, "H1-standard;version=1");

    // A credit note prints too, naming the invoice it credits.
    let (s, credit_note) = credit(
        &app,
        &t,
        &third_payer,
        json!({ "reason": "Wrong patient", "reissue": false }),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{credit_note}");
    let id = credit_note["id"].as_str().expect("id");
    let (_, third_doc, _) = call(&app, get(&format!("/v1/invoices/{third_payer}"), &t)).await;
    let r = raw(&app, pdf_of(&format!("/v1/credit-notes/{id}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = pdf_text(&r.body);
    for expected in [
        "Avoir",
        "Wrong patient",
        third_doc["number"].as_str().expect("number"),
    ] {
        assert!(text.contains(expected), "`{expected}` not in:\n{text}");
    }

    // The list shows both layouts; a payer's portal user sees none and cannot read one.
    let (_, list, _) = call(&app, get("/v1/layouts?location_code=H1", &t)).await;
    let codes: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|l| l["code"].as_str())
        .collect();
    assert_eq!(codes, ["H1-sanitas", "H1-standard"]);
    let portal = payer_token("SANITAS");
    let (s, _, _) = call(&app, get("/v1/layouts/H1-standard", &portal)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "payer tokens read no layouts");
    // ... but fetches its own invoice as PDF.
    let r = raw(
        &app,
        get(&format!("/v1/invoices/{third_payer}"), &portal)
            .insert_header(("accept", "application/pdf")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn a_draft_previews_without_saving_anything(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let mut w = world("H1");
    complete(&mut w);
    let mut seen = Vec::new();
    let (payer, _) = approve(&h, &w, &app, &mut seen).await;

    let draft = json!({ "invoice_id": payer, "definition": { "language": "nl", "header_text": "Bedankt, {{ buyer }}" } });
    let r = raw(&app, post("/v1/layouts/H1-new/preview", &t, &draft)).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.ctype, "application/pdf", "PDF unless asked otherwise");
    let text = pdf_text(&r.body);
    assert!(
        text.contains("Factuur") && text.contains("Bedankt, Sanitas S.A. de Seguros"),
        "{text}"
    );
    let r = raw(
        &app,
        post("/v1/layouts/H1-new/preview", &t, &draft).insert_header(("accept", "text/html")),
    )
    .await;
    assert!(
        String::from_utf8(r.body)
            .expect("utf-8")
            .contains("<html lang=\"nl\">")
    );
    // A sample invoice when no document is named.
    let r = raw(
        &app,
        post(
            "/v1/layouts/H1-new/preview",
            &t,
            &json!({ "definition": {} }),
        ),
    )
    .await;
    assert!(pdf_text(&r.body).contains("H1-2026-000042"));

    // Nothing was saved: the layout does not exist, and it cannot be previewed without a draft.
    let (s, _, _) = call(&app, get("/v1/layouts/H1-new", &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(&app, post("/v1/layouts/H1-new/preview", &t, &json!({}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let r = raw(&app, pdf_of(&format!("/v1/invoices/{payer}"))).await;
    assert_eq!(r.layout, "built-in");
    // An Accept a preview cannot give is 406; another location's invoice is 404.
    let (s, body, _) = call(
        &app,
        post("/v1/layouts/H1-new/preview", &t, &draft)
            .insert_header(("accept", "application/json")),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE, "{body}");
    let both = json!({ "invoice_id": payer, "credit_note_id": payer, "definition": {} });
    let (s, body, _) = call(&app, post("/v1/layouts/H1-new/preview", &t, &both)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), ["credit_note_id"]);
    let other = token(&["billing_manager"], Some(&["H2"]));
    let (s, _, _) = call(&app, post("/v1/layouts/H1-new/preview", &other, &draft)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn bad_layouts_are_refused_and_nothing_is_stored(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let put_layout = |code: &str, body: Value| put(&format!("/v1/layouts/{code}"), &t, &body);

    let bad = json!({
        "location_code": "H1",
        "document_type": "receipt",
        "definition": { "language": "pt", "font": "comic_sans", "primary_color": "teal", "logo": { "media_type": "image/gif", "data": "R0lGODlh" } }
    });
    let (s, body, _) = call(&app, put_layout("H1-bad", bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        fields(&body),
        [
            "document_type",
            "definition.language",
            "definition.font",
            "definition.primary_color",
            "definition.logo.media_type"
        ]
    );
    // A logo too large, and one that is not the image it claims to be.
    let big = base64_of(&vec![0u8; 600 * 1024]);
    let (s, body, _) = call(&app, put_layout("H1-bad", json!({ "location_code": "H1", "definition": { "logo": { "media_type": "image/png", "data": big } } }))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), ["definition.logo.data"]);
    assert!(
        body.to_string().contains("at most 524288 are accepted"),
        "{body}"
    );
    let (s, body, _) = call(&app, put_layout("H1-bad", json!({ "location_code": "H1", "definition": { "logo": { "media_type": "image/svg+xml", "data": base64_of(b"hello") } } }))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), ["definition.logo.data"]);
    // A text that does not render says which and where.
    let (s, body, _) = call(&app, put_layout("H1-bad", json!({ "location_code": "H1", "definition": { "footer_text": "line one\n{{ number }" } }))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), ["footer_text"]);
    assert!(body.to_string().contains("line 2"), "{body}");
    let (s, body, _) = call(
        &app,
        put_layout(
            "H1-bad",
            json!({ "location_code": "H1", "definition": { "header_text": "{{ patient_name }}" } }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // A bad code, and a location that is not the caller's.
    let (s, _, _) = call(
        &app,
        put_layout(
            "H1%20bad",
            json!({ "location_code": "H1", "definition": {} }),
        ),
    )
    .await;
    assert!(s.is_client_error(), "{s}");
    let other = token(&["billing_manager"], Some(&["H2"]));
    let (s, _, _) = call(
        &app,
        put(
            "/v1/layouts/H1-bad",
            &other,
            &json!({ "location_code": "H1", "definition": {} }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        put(
            "/v1/layouts/H1-bad",
            &token(&["biller"], None),
            &json!({ "location_code": "H1", "definition": {} }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Nothing of it was stored.
    let (s, _, _) = call(&app, get("/v1/layouts/H1-bad", &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list, _) = call(&app, get("/v1/layouts", &t)).await;
    assert_eq!(list["items"], json!([]));

    // Two layouts for the same documents conflict; a layout's selector cannot change.
    let (s, _, _) = call(
        &app,
        put_layout("H1-a", json!({ "location_code": "H1", "definition": {} })),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, body, _) = call(
        &app,
        put_layout("H1-b", json!({ "location_code": "H1", "definition": {} })),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "already_exists");
    let (s, body, _) = call(
        &app,
        put_layout(
            "H1-a",
            json!({ "location_code": "H1", "recipient_kind": "patient", "definition": {} }),
        )
        .insert_header(("if-match", "\"v1\"")),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, a, _) = call(&app, get("/v1/layouts/H1-a", &t)).await;
    assert_eq!(a["version"], 1, "{a}");
    assert_eq!(a["recipient_kind"], Value::Null);
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
