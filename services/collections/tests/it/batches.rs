//! Batches: a batch invoicing sent shows on its invoices' receivables, lists them, and is
//! `open`, `partly_collected` or `collected` as they are paid or settled by credit notes; it may
//! come before some of its invoices, again, and is seen only in the caller's scope.

use crate::common::*;
use actix_web::http::StatusCode;
use carebill_domain::Money;
use carebill_domain::events::PartyRef;
use carebill_domain::ids::PatientId;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, token};
use serde_json::Value;

both_backends!(
    a_sent_batch_shows_on_its_receivables_and_is_collected_as_they_are_paid,
    a_batch_sent_before_one_of_its_invoices_shows_it_once_it_arrives,
    batches_are_seen_in_the_callers_scope_and_bad_input_is_refused,
);

/// Cents of a money JSON.
fn cents(v: &Value) -> i64 {
    let m: Money = serde_json::from_value(v.clone()).expect("money");
    m.to_minor().expect("minor").0
}

/// The invoice numbers of a page, sorted.
fn numbers(page: &Value) -> Vec<String> {
    let mut n: Vec<String> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["invoice_number"].as_str().map(str::to_owned))
        .collect();
    n.sort();
    n
}

/// The batch's figures add up: invoiced = cancelled + partially credited + paid + outstanding.
fn assert_adds_up(batch: &Value) {
    assert_eq!(
        cents(&batch["invoiced"]),
        cents(&batch["cancelled"])
            + cents(&batch["partially_credited"])
            + cents(&batch["paid"])
            + cents(&batch["outstanding"]),
        "{batch}"
    );
}

async fn a_sent_batch_shows_on_its_receivables_and_is_collected_as_they_are_paid(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let dkv = payer("DKV");
    let h1 = location("H1", "Europe/Madrid");
    let due = today() + chrono::Duration::days(30);
    let a = invoice(&dkv, &h1, "H1-INV-1", eur("100.00"), due);
    let b2 = invoice(&dkv, &h1, "H1-INV-2", eur("50.00"), due);
    let c = invoice(&dkv, &h1, "H1-INV-3", eur("30.00"), due);
    let outside = invoice(&dkv, &h1, "H1-INV-4", eur("10.00"), due);
    // A credit note of an invoice outside the batch travels in it: counted, nothing more.
    let earlier = invoice(&dkv, &h1, "H1-INV-0", eur("20.00"), due);
    let earlier_cn = credit_note(&earlier);
    for inv in [&a, &b2, &c, &outside, &earlier] {
        feed(&h, &envelope(inv)).await;
    }
    feed(&h, &envelope(&earlier_cn)).await;
    let batch = batch_sent(
        "H1-BAT-2026-000001",
        &h1,
        Some("DKV"),
        &[&a, &b2, &c],
        &[&earlier_cn],
    );
    let sent = envelope(&batch);
    feed(&h, &sent).await;
    let path = format!("/v1/collection-batches/{}", batch.batch_id);

    // Its receivables, each showing it; the others do not.
    let (s, page, _) = call(
        &app,
        get(&format!("/v1/receivables?batch_id={}", batch.batch_id), &t),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(numbers(&page), vec!["H1-INV-1", "H1-INV-2", "H1-INV-3"]);
    for r in page["items"].as_array().expect("items") {
        assert_eq!(r["batch"]["id"], batch.batch_id.to_string());
        assert_eq!(r["batch"]["number"], "H1-BAT-2026-000001");
    }
    let (_, page, _) = call(
        &app,
        get(
            &format!("/v1/receivables?invoice_id={}", outside.invoice_id),
            &t,
        ),
    )
    .await;
    assert_eq!(page["items"][0]["batch"], Value::Null);
    let (_, page, _) = call(
        &app,
        get(&format!("/v1/receivables?invoice_id={}", a.invoice_id), &t),
    )
    .await;
    let (s, detail, _) = call(
        &app,
        get(
            &format!(
                "/v1/receivables/{}",
                page["items"][0]["id"].as_str().expect("id")
            ),
            &t,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detail["batch"]["number"], "H1-BAT-2026-000001");

    // Sent, nothing paid: open.
    let (s, open, _) = call(&app, get(&path, &t)).await;
    assert_eq!(s, StatusCode::OK, "{open}");
    assert_eq!(open["number"], "H1-BAT-2026-000001");
    assert_eq!(open["location_code"], "H1");
    assert_eq!(open["payer_code"], "DKV");
    assert_eq!(open["currency"], "EUR");
    assert_eq!(
        (
            &open["document_count"],
            &open["invoice_count"],
            &open["credit_note_count"],
            &open["receivable_count"],
        ),
        (
            &Value::from(4),
            &Value::from(3),
            &Value::from(1),
            &Value::from(3)
        )
    );
    assert_eq!(amount(&open["invoiced"]), "180.00");
    assert_eq!(amount(&open["credited"]), "20.00");
    assert_eq!(amount(&open["paid"]), "0.00");
    assert_eq!(amount(&open["outstanding"]), "180.00");
    assert_eq!(open["collection_status"], "open");
    assert_adds_up(&open);

    // Part of one invoice paid: partly collected.
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&dkv, eur("40.00"), &[(&a, eur("40.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (_, partly, _) = call(&app, get(&path, &t)).await;
    assert_eq!(partly["collection_status"], "partly_collected");
    assert_eq!(amount(&partly["paid"]), "40.00");
    assert_eq!(amount(&partly["outstanding"]), "140.00");
    assert_adds_up(&partly);

    // A credit note cancelling one of its invoices settles it.
    feed(&h, &envelope(&credit_note(&c))).await;
    let (_, after_credit, _) = call(&app, get(&path, &t)).await;
    assert_eq!(after_credit["collection_status"], "partly_collected");
    assert_eq!(amount(&after_credit["cancelled"]), "30.00");
    assert_eq!(amount(&after_credit["outstanding"]), "110.00");
    assert_adds_up(&after_credit);

    // The rest paid: collected (the cancelled one counts as settled).
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(
                &dkv,
                eur("110.00"),
                &[(&a, eur("60.00")), (&b2, eur("50.00"))],
            ),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (_, collected, _) = call(&app, get(&path, &t)).await;
    assert_eq!(collected["collection_status"], "collected");
    assert_eq!(amount(&collected["paid"]), "150.00");
    assert_eq!(amount(&collected["outstanding"]), "0.00");
    assert_adds_up(&collected);

    // The list agrees, and filters by status in SQL.
    for (status, expected) in [("collected", 1), ("open", 0), ("partly_collected", 0)] {
        let (s, list, _) = call(
            &app,
            get(
                &format!("/v1/collection-batches?collection_status={status}"),
                &t,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{list}");
        assert_eq!(
            list["items"].as_array().map(Vec::len),
            Some(expected),
            "{status}"
        );
    }
    let (_, list, _) = call(&app, get("/v1/collection-batches", &t)).await;
    assert_eq!(list["items"][0], collected);

    // The same batch again, redelivered or re-published under a new event id: nothing changes.
    feed(&h, &sent).await;
    feed(&h, &envelope(&batch)).await;
    let (_, again, _) = call(&app, get(&path, &t)).await;
    assert_eq!(again, collected);
    let (_, list, _) = call(&app, get("/v1/collection-batches", &t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (_, page, _) = call(
        &app,
        get(&format!("/v1/receivables?batch_id={}", batch.batch_id), &t),
    )
    .await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(3));
    let (_, audit, _) = call(
        &app,
        get(
            "/v1/collections/audit-events?entity_type=collection_batch",
            &admin(),
        ),
    )
    .await;
    let received = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["entity_type"] == "collection_batch")
        .count();
    assert_eq!(received, 1, "{audit}");

    // Another batch naming one of its invoices is refused whole (invoicing puts a document in
    // one batch): the event is retried, then parked, and nothing of it is kept.
    let other = batch_sent("H1-BAT-2026-000009", &h1, Some("DKV"), &[&outside, &a], &[]);
    assert!((h.handler)(envelope(&other)).await.is_err());
    let (s, _, _) = call(
        &app,
        get(&format!("/v1/collection-batches/{}", other.batch_id), &t),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, page, _) = call(
        &app,
        get(
            &format!("/v1/receivables?invoice_id={}", outside.invoice_id),
            &t,
        ),
    )
    .await;
    assert_eq!(page["items"][0]["batch"], Value::Null);
}

async fn a_batch_sent_before_one_of_its_invoices_shows_it_once_it_arrives(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let sanitas = payer("SANITAS");
    let h1 = location("H1", "Europe/Madrid");
    let due = today() + chrono::Duration::days(30);
    let first = invoice(&sanitas, &h1, "H1-INV-10", eur("70.00"), due);
    let late = invoice(&sanitas, &h1, "H1-INV-11", eur("30.00"), due);
    feed(&h, &envelope(&first)).await;
    let batch = batch_sent(
        "H1-BAT-2026-000002",
        &h1,
        Some("SANITAS"),
        &[&first, &late],
        &[],
    );
    feed(&h, &envelope(&batch)).await;
    let path = format!("/v1/collection-batches/{}", batch.batch_id);
    let by_batch = format!("/v1/receivables?batch_id={}", batch.batch_id);

    let (_, before, _) = call(&app, get(&path, &t)).await;
    assert_eq!(
        (&before["invoice_count"], &before["receivable_count"]),
        (&Value::from(2), &Value::from(1))
    );
    // The invoice not here yet is owed in full.
    assert_eq!(amount(&before["outstanding"]), "100.00");
    assert_eq!(before["collection_status"], "open");
    let (_, page, _) = call(&app, get(&by_batch, &t)).await;
    assert_eq!(numbers(&page), vec!["H1-INV-10"]);

    // The first paid in full: the batch is not collected while the other is owed.
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&sanitas, eur("70.00"), &[(&first, eur("70.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (_, partly, _) = call(&app, get(&path, &t)).await;
    assert_eq!(partly["collection_status"], "partly_collected");
    assert_eq!(amount(&partly["outstanding"]), "30.00");
    let (_, list, _) = call(
        &app,
        get(
            "/v1/collection-batches?collection_status=partly_collected",
            &t,
        ),
    )
    .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));

    // The invoice arrives: it shows the batch, and paying it collects the batch.
    feed(&h, &envelope(&late)).await;
    let (_, page, _) = call(&app, get(&by_batch, &t)).await;
    assert_eq!(numbers(&page), vec!["H1-INV-10", "H1-INV-11"]);
    for r in page["items"].as_array().expect("items") {
        assert_eq!(r["batch"]["number"], "H1-BAT-2026-000002");
    }
    let (_, arrived, _) = call(&app, get(&path, &t)).await;
    assert_eq!(arrived["receivable_count"], 2);
    assert_eq!(amount(&arrived["outstanding"]), "30.00");
    assert_adds_up(&arrived);
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&sanitas, eur("30.00"), &[(&late, eur("30.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (_, collected, _) = call(&app, get(&path, &t)).await;
    assert_eq!(collected["collection_status"], "collected");
    assert_adds_up(&collected);
}

async fn batches_are_seen_in_the_callers_scope_and_bad_input_is_refused(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let sanitas = payer("SANITAS");
    let patient = PartyRef::patient(PatientId::new());
    let h1 = location("H1", "Europe/Madrid");
    let h2 = location("H2", "Europe/Madrid");
    let due = today() + chrono::Duration::days(30);
    let s1 = invoice(&sanitas, &h1, "H1-INV-20", eur("40.00"), due);
    let p1 = invoice(&patient, &h2, "H2-INV-1", eur("9.00"), due);
    feed(&h, &envelope(&s1)).await;
    feed(&h, &envelope(&p1)).await;
    let payers = batch_sent("H1-BAT-2026-000003", &h1, Some("SANITAS"), &[&s1], &[]);
    let patients = batch_sent("H2-BAT-2026-000001", &h2, None, &[&p1], &[]);
    feed(&h, &envelope(&payers)).await;
    feed(&h, &envelope(&patients)).await;
    let payers_path = format!("/v1/collection-batches/{}", payers.batch_id);
    let patients_path = format!("/v1/collection-batches/{}", patients.batch_id);
    let count = |v: &Value| v["items"].as_array().map(Vec::len);

    // Its payer sees its batch and its receivables, and no batch of no payer.
    let own = payer_token("SANITAS");
    let (s, body, _) = call(&app, get(&payers_path, &own)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, _) = call(&app, get(&patients_path, &own)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list, _) = call(&app, get("/v1/collection-batches", &own)).await;
    assert_eq!(count(&list), Some(1));
    // Another payer sees none of it.
    let stranger = payer_token("DKV");
    for path in [&payers_path, &patients_path] {
        let (s, body, _) = call(&app, get(path, &stranger)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, list, _) = call(&app, get("/v1/collection-batches", &stranger)).await;
    assert_eq!(count(&list), Some(0));
    let (_, list, _) = call(
        &app,
        get(
            &format!("/v1/receivables?batch_id={}", payers.batch_id),
            &stranger,
        ),
    )
    .await;
    assert_eq!(count(&list), Some(0));
    // A reader of some locations sees their batches.
    let h2_collector = token(&["collector"], Some(&["H2"]));
    let (s, _, _) = call(&app, get(&payers_path, &h2_collector)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(&app, get(&patients_path, &h2_collector)).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list, _) = call(&app, get("/v1/collection-batches", &h2_collector)).await;
    assert_eq!(count(&list), Some(1));
    // Readers read; others do not.
    for role in ["biller", "auditor", "billing_manager", "collector"] {
        let (s, _, _) = call(&app, get(&payers_path, &token(&[role], None))).await;
        assert_eq!(s, StatusCode::OK, "{role}");
    }
    for path in ["/v1/collection-batches", payers_path.as_str()] {
        let (s, _, _) = call(&app, get(path, &token(&["integration"], None))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }

    // Filters and pages.
    let t = admin();
    for (query, expected) in [
        ("location_code=H1", Some(1)),
        ("location_code=H3", Some(0)),
        ("payer_code=SANITAS", Some(1)),
        ("payer_code=DKV", Some(0)),
        ("collection_status=open", Some(2)),
        ("collection_status=collected", Some(0)),
    ] {
        let (s, list, _) = call(&app, get(&format!("/v1/collection-batches?{query}"), &t)).await;
        assert_eq!(
            (s, count(&list)),
            (StatusCode::OK, expected),
            "{query}: {list}"
        );
    }
    let (_, first, _) = call(&app, get("/v1/collection-batches?limit=1", &t)).await;
    assert_eq!(first["items"][0]["id"], payers.batch_id.to_string());
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (_, second, _) = call(
        &app,
        get(
            &format!("/v1/collection-batches?limit=1&cursor={cursor}"),
            &t,
        ),
    )
    .await;
    assert_eq!(second["items"][0]["id"], patients.batch_id.to_string());
    assert_eq!(second["next_cursor"], Value::Null);

    // Bad input: problems, never a crash.
    for path in [
        "/v1/collection-batches?colour=red",
        "/v1/collection-batches?collection_status=late",
        "/v1/receivables?batch=1",
        "/v1/receivables?bogus=1",
    ] {
        let (s, body, ctype) = call(&app, get(path, &t)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    }
    for (path, field) in [
        ("/v1/receivables?batch_id=nope", "batch_id"),
        ("/v1/collection-batches?limit=0", "limit"),
        ("/v1/collection-batches?cursor=nope", "cursor"),
        ("/v1/receivables?limit=501", "limit"),
    ] {
        let (s, e, _) = call(&app, get(path, &t)).await;
        assert_eq!(
            (s, e["errors"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{path}: {e}"
        );
    }
    for path in [
        "/v1/collection-batches/not-a-uuid".to_owned(),
        format!("/v1/collection-batches/{}", uuid::Uuid::now_v7()),
    ] {
        let (s, _, _) = call(&app, get(&path, &t)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
    let (s, _, _) = call(
        &app,
        post("/v1/collection-batches", &t, &serde_json::json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
}
