//! Batches: filled by rule or by hand while open, closed (numbered, frozen, announced), sent to
//! collections (announced), exported as one zip of UBL documents with a manifest; what does not
//! belong is refused naming the field, a closed batch no longer changes, a document is in at most
//! one batch, and a payer sees only its own batches.

use std::io::Read as _;

use actix_web::http::StatusCode;
use actix_web::test::{call_service, read_body};
use carebill_domain::events::PartyRef;
use carebill_domain::ids::{ConsumptionId, SettlementId};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, token};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    a_batch_by_rule_is_closed_numbered_and_sent_and_then_no_longer_changes,
    what_does_not_belong_in_a_batch_is_refused_and_changes_nothing,
    a_closed_batch_exports_as_a_zip_of_ubl_with_a_manifest,
);

/// Two approvals billing SANITAS 80.00 and the patient 20.00 each, and one billing ADESLAS
/// 50.00: five invoices, in that order of issue.
async fn five_invoices(h: &Harness, w: &World) -> Vec<Value> {
    let pat = PartyRef::patient(w.patient.id);
    for _ in 0..2 {
        let l = line(
            ConsumptionId::new(),
            "LAB-HB",
            10_000,
            &[(&w.sanitas, 8_000), (&pat, 2_000)],
        );
        deliver(
            &h.db,
            envelope(&approval(w, SettlementId::new(), 1, vec![l])),
        )
        .await
        .expect("approved");
    }
    let l = line(ConsumptionId::new(), "RX-01", 5_000, &[(&w.adeslas, 5_000)]);
    deliver(
        &h.db,
        envelope(&approval(w, SettlementId::new(), 1, vec![l])),
    )
    .await
    .expect("approved");
    let (_, list, _) = call(
        &app(&h.db).await,
        get(
            &format!("/v1/invoices?location_code={}", w.location.code),
            &admin(),
        ),
    )
    .await;
    let invoices = items(&list);
    assert_eq!(invoices.len(), 5, "{list}");
    invoices
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

async fn a_batch_by_rule_is_closed_numbered_and_sent_and_then_no_longer_changes(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let manager = token(&["billing_manager"], None);
    let biller = token(&["biller"], Some(&["H1"]));
    let w = world("H1");
    let invoices = five_invoices(&h, &w).await;
    let of = |code: Option<&str>| -> Vec<String> {
        invoices
            .iter()
            .filter(|i| i["recipient"]["payer_code"].as_str() == code)
            .map(id_of)
            .collect()
    };
    let (sanitas, patient, adeslas) = (of(Some("SANITAS")), of(None), of(Some("ADESLAS")));

    // Every SANITAS invoice of H1, by rule.
    let (s, batch, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &biller,
            &json!({"location_code": "H1", "currency": "EUR", "payer_code": "SANITAS",
                "description": "SANITAS, this month", "fill": true}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{batch}");
    assert_eq!(batch["status"], "open");
    assert_eq!(batch["number"], Value::Null);
    assert_eq!(batch["recipient_kind"], "payer");
    assert_eq!(batch["document_count"], 2);
    assert_eq!(batch["invoiced"]["amount"], "160.00");
    assert_eq!(batch["credited"]["amount"], "0.00");
    assert_eq!(batch["net"]["amount"], "160.00");
    let url = format!("/v1/invoice-batches/{}", id_of(&batch));
    let (_, docs, _) = call(&app, get(&format!("{url}/documents"), &biller)).await;
    let in_batch: Vec<String> = items(&docs).iter().map(id_of).collect();
    assert_eq!(in_batch, sanitas, "{docs}");

    // A payer's batch takes only that payer's invoices.
    for other in [&patient[0], &adeslas[0]] {
        let (s, problem, _) = call(
            &app,
            post(
                &format!("{url}/documents"),
                &biller,
                &json!({"invoice_ids": [other]}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(fields(&problem), ["invoice_ids.0"], "{problem}");
    }

    // Closed: numbered, frozen, announced with its documents.
    let (s, closed, _) = call(&app, post(&format!("{url}/close"), &biller, &json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{closed}");
    let year = year_of(&invoices[0]);
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["number"], format!("H1-BAT-{year}-000001"));
    assert_eq!(closed["closed_by"], closed["created_by"]);
    let events = outbox_bodies(&h.db, "carebill.invoicing.batch.closed.v1").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["subject"], format!("batch/{}", id_of(&batch)));
    assert_eq!(events[0]["data"]["invoiced"]["amount"], "160.00");
    let announced: Vec<&str> = events[0]["data"]["documents"]
        .as_array()
        .expect("documents")
        .iter()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert_eq!(announced, sanitas);
    for (path, body) in [
        (
            format!("{url}/documents"),
            json!({"invoice_ids": [patient[0]]}),
        ),
        (
            format!("{url}/removals"),
            json!({"invoice_ids": [sanitas[0]]}),
        ),
        (format!("{url}/fill"), json!({})),
        (format!("{url}/close"), json!({})),
    ] {
        let (s, problem, _) = call(&app, post(&path, &biller, &body)).await;
        assert_eq!(s, StatusCode::CONFLICT, "{path}: {problem}");
        assert_eq!(problem["code"], "batch_closed", "{path}");
    }
    let (_, again, _) = call(&app, get(&url, &biller)).await;
    assert_eq!(again["document_count"], 2);

    // Sent by a billing manager (a biller may not), once.
    let (s, _, _) = call(&app, post(&format!("{url}/send"), &biller, &json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, sent, _) = call(&app, post(&format!("{url}/send"), &manager, &json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{sent}");
    assert_eq!(sent["status"], "sent");
    let events = outbox_bodies(&h.db, "carebill.invoicing.batch.sent.v1").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["number"], closed["number"]);
    assert_eq!(
        events[0]["data"]["documents"].as_array().map(Vec::len),
        Some(2)
    );
    let (s, problem, _) = call(&app, post(&format!("{url}/send"), &manager, &json!({}))).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "batch_not_closed");

    // Everything else of H1 by rule: the SANITAS invoices are batched already.
    let (_, rest, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &biller,
            &json!({"location_code": "H1", "currency": "EUR", "fill": true}),
        ),
    )
    .await;
    assert_eq!(rest["document_count"], 3, "{rest}");
    assert_eq!(rest["invoiced"]["amount"], "90.00");
    let rest_url = format!("/v1/invoice-batches/{}", id_of(&rest));
    // Taken out while open, and not twice.
    let removals = format!("{rest_url}/removals");
    let body = json!({"invoice_ids": [adeslas[0]]});
    let (s, fewer, _) = call(&app, post(&removals, &biller, &body)).await;
    assert_eq!(s, StatusCode::OK, "{fewer}");
    assert_eq!(fewer["document_count"], 2);
    assert_eq!(fewer["invoiced"]["amount"], "40.00");
    let (s, problem, _) = call(&app, post(&removals, &biller, &body)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["invoice_ids.0"]);

    // A document is in at most one batch; an empty batch does not close.
    let (_, empty, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &biller,
            &json!({"location_code": "H1", "currency": "EUR", "payer_code": "SANITAS", "fill": true}),
        ),
    )
    .await;
    assert_eq!(empty["document_count"], 0, "{empty}");
    let empty_url = format!("/v1/invoice-batches/{}", id_of(&empty));
    let (s, problem, _) = call(
        &app,
        post(&format!("{empty_url}/close"), &biller, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "batch_empty");
    let (s, problem, _) = call(
        &app,
        post(
            &format!("{empty_url}/documents"),
            &biller,
            &json!({"invoice_ids": [sanitas[0]]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "already_batched");

    // The second batch closed gets the next number.
    let (_, closed, _) = call(
        &app,
        post(&format!("{rest_url}/close"), &biller, &json!({})),
    )
    .await;
    assert_eq!(closed["number"], format!("H1-BAT-{year}-000002"));

    // Lists filter; a payer sees its own batches only, and writes nothing.
    let (_, sent_list, _) = call(&app, get("/v1/invoice-batches?status=sent", &biller)).await;
    assert_eq!(items(&sent_list).len(), 1, "{sent_list}");
    let sanitas_token = payer_token("SANITAS");
    let (_, theirs, _) = call(&app, get("/v1/invoice-batches", &sanitas_token)).await;
    let mut theirs: Vec<String> = items(&theirs).iter().map(id_of).collect();
    theirs.sort();
    let mut expected = vec![id_of(&batch), id_of(&empty)];
    expected.sort();
    assert_eq!(theirs, expected);
    assert_eq!(
        call(&app, get(&rest_url, &sanitas_token)).await.0,
        StatusCode::NOT_FOUND
    );
    let (s, _, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &sanitas_token,
            &json!({"location_code": "H1", "currency": "EUR"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn what_does_not_belong_in_a_batch_is_refused_and_changes_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["billing_manager"], Some(&["H1"]));
    let w = world("H1");
    let invoices = five_invoices(&h, &w).await;
    let _ = five_invoices(&h, &world("H2")).await;

    for (body, field) in [
        (
            json!({"location_code": "H1", "currency": "EURO"}),
            "currency",
        ),
        (
            json!({"location_code": "H2", "currency": "EUR"}),
            "location_code",
        ),
        (
            json!({"location_code": "H1", "currency": "EUR", "issued_from": "2026-12-01", "issued_to": "2026-11-01"}),
            "issued_to",
        ),
        (
            json!({"location_code": "H1", "currency": "EUR", "payer_code": "SANITAS", "recipient_kind": "patient"}),
            "recipient_kind",
        ),
    ] {
        let (s, problem, _) = call(&app, post("/v1/invoice-batches", &t, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        assert!(
            fields(&problem).contains(&field.to_owned()),
            "{field}: {problem}"
        );
    }
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &admin(),
            &json!({"location_code": "H7", "currency": "EUR"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["location_code"]);
    let (_, list, _) = call(&app, get("/v1/invoice-batches", &admin())).await;
    assert_eq!(items(&list).len(), 0, "nothing was created: {list}");

    // A full credit note cancels the first invoice: the invoice no longer joins a batch, its
    // credit note does.
    let cancelled = id_of(&invoices[0]);
    let (s, cn) = credit(
        &app,
        &t,
        &cancelled,
        json!({"reason": "wrong patient", "reissue": false}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let (_, batch, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &t,
            &json!({"location_code": "H1", "currency": "EUR"}),
        ),
    )
    .await;
    let url = format!("/v1/invoice-batches/{}", id_of(&batch));
    let other_location = {
        let (_, list, _) = call(&app, get("/v1/invoices?location_code=H2", &admin())).await;
        id_of(&items(&list)[0])
    };
    let (s, problem, _) = call(
        &app,
        post(
            &format!("{url}/documents"),
            &t,
            &json!({"invoice_ids": [cancelled, id_of(&invoices[1]), id_of(&invoices[1]), "not-an-id", other_location]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        fields(&problem),
        [
            "invoice_ids.0",
            "invoice_ids.2",
            "invoice_ids.3",
            "invoice_ids.4"
        ],
        "cancelled, asked twice, unknown, out of scope: {problem}"
    );
    let (_, unchanged, _) = call(&app, get(&url, &t)).await;
    assert_eq!(unchanged["document_count"], 0, "all or nothing");

    let (s, with_note, _) = call(
        &app,
        post(
            &format!("{url}/documents"),
            &t,
            &json!({"invoice_ids": [id_of(&invoices[1])], "credit_note_ids": [id_of(&cn)]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{with_note}");
    assert_eq!(with_note["document_count"], 2);
    assert_eq!(with_note["credited"]["amount"], "80.00");
    assert_eq!(with_note["invoiced"]["amount"], "20.00");
    assert_eq!(with_note["net"]["amount"], "-60.00");

    // Another currency, another document kind.
    let (_, chf, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &t,
            &json!({"location_code": "H1", "currency": "CHF"}),
        ),
    )
    .await;
    let (_, notes_only, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &t,
            &json!({"location_code": "H1", "currency": "EUR", "document_kind": "credit_note"}),
        ),
    )
    .await;
    for batch in [&chf, &notes_only] {
        let (s, problem, _) = call(
            &app,
            post(
                &format!("/v1/invoice-batches/{}/documents", id_of(batch)),
                &t,
                &json!({"invoice_ids": [id_of(&invoices[2])]}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(fields(&problem), ["invoice_ids.0"]);
    }
    let (s, problem, _) = call(&app, post(&format!("{url}/documents"), &t, &json!({}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}

async fn a_closed_batch_exports_as_a_zip_of_ubl_with_a_manifest(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let mut w = world("H1");
    complete(&mut w);
    let _ = five_invoices(&h, &w).await;
    let (_, batch, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &t,
            &json!({"location_code": "H1", "currency": "EUR", "fill": true}),
        ),
    )
    .await;
    let url = format!("/v1/invoice-batches/{}", id_of(&batch));
    // Open batches are not exported: their documents may still change.
    let (s, problem, _) = call(&app, get(&format!("{url}/export"), &t)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "batch_not_closed");
    let (_, closed, _) = call(&app, post(&format!("{url}/close"), &t, &json!({}))).await;
    let number = closed["number"].as_str().expect("number").to_owned();
    let (s, problem, _) = call(&app, get(&format!("{url}/export?format=docx"), &t)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // As PDF: one file per document, each the invoice it names.
    let res = call_service(
        &app,
        get(&format!("{url}/export?format=pdf"), &t).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = read_body(res).await.to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip archive");
    let mut manifest = String::new();
    zip.by_name("manifest.json")
        .expect("manifest")
        .read_to_string(&mut manifest)
        .expect("utf-8");
    let manifest: Value = serde_json::from_str(&manifest).expect("json");
    assert_eq!(manifest["format"], "pdf");
    let docs = manifest["documents"].as_array().expect("documents");
    assert_eq!(docs.len(), 5);
    for d in docs {
        let mut pdf = Vec::new();
        zip.by_name(d["file"].as_str().expect("file"))
            .expect("the document's PDF")
            .read_to_end(&mut pdf)
            .expect("bytes");
        let text = pdf_text(&pdf);
        assert!(
            text.contains(d["number"].as_str().expect("number")),
            "{text}"
        );
    }

    let res = call_service(
        &app,
        get(&format!("{url}/export?format=ubl"), &t).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/zip")
    );
    assert_eq!(
        res.headers()
            .get("content-disposition")
            .and_then(|v| v.to_str().ok()),
        Some(format!("attachment; filename=\"{number}.zip\"").as_str())
    );
    let bytes = read_body(res).await.to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip archive");
    let mut manifest = String::new();
    zip.by_name("manifest.json")
        .expect("manifest")
        .read_to_string(&mut manifest)
        .expect("utf-8");
    let manifest: Value = serde_json::from_str(&manifest).expect("json");
    assert_eq!(manifest["batch"]["number"], number);
    let docs = manifest["documents"].as_array().expect("documents");
    assert_eq!(docs.len(), 5);
    let backend = format!("{b:?}").to_lowercase();
    for d in docs {
        assert_eq!(d["status"], "ok", "{d}");
        let file = d["file"].as_str().expect("file");
        let mut xml = String::new();
        zip.by_name(file)
            .expect("the document's file")
            .read_to_string(&mut xml)
            .expect("utf-8");
        assert!(
            xml.starts_with("<?xml") && xml.contains("<Invoice "),
            "{xml}"
        );
        assert!(xml.contains(d["number"].as_str().expect("number")));
        if let Ok(dir) = std::env::var("CAREBILL_UBL_OUT") {
            std::fs::create_dir_all(&dir).expect("UBL output directory");
            let name = file.trim_start_matches("ubl/").trim_end_matches(".xml");
            std::fs::write(format!("{dir}/batch-{backend}-{name}.xml"), &xml).expect("written");
        }
    }
    assert_eq!(zip.len(), 6, "five documents and the manifest");

    // A batch whose documents lack master data lists what each lacks instead of a file.
    let _ = five_invoices(&h, &world("H2")).await;
    let (_, bare, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &t,
            &json!({"location_code": "H2", "currency": "EUR", "payer_code": "SANITAS", "fill": true}),
        ),
    )
    .await;
    let bare_url = format!("/v1/invoice-batches/{}", id_of(&bare));
    call(&app, post(&format!("{bare_url}/close"), &t, &json!({}))).await;
    let res = call_service(&app, get(&format!("{bare_url}/export"), &t).to_request()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = read_body(res).await.to_vec();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip archive");
    assert_eq!(zip.len(), 1, "the manifest only");
    let mut manifest = String::new();
    zip.by_name("manifest.json")
        .expect("manifest")
        .read_to_string(&mut manifest)
        .expect("utf-8");
    let manifest: Value = serde_json::from_str(&manifest).expect("json");
    for d in manifest["documents"].as_array().expect("documents") {
        assert_eq!(d["status"], "incomplete", "{d}");
        assert!(
            d["missing"]
                .as_array()
                .expect("missing")
                .iter()
                .any(|m| m["term"] == "BT-49"),
            "{d}"
        );
    }
}
