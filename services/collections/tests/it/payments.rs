//! Payments: they settle invoices and what is left is credit; bad payments and allocations are
//! refused and change nothing; racing payments never pay an invoice twice.

use crate::common::*;
use actix_web::http::StatusCode;
use carebill_domain::events::InvoiceIssuedV1;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, get, post, token};
use chrono::Duration;
use serde_json::{Value, json};

both_backends!(
    payments_settle_invoices_and_what_is_left_is_credit,
    bad_payments_and_allocations_are_refused_and_change_nothing,
    racing_payments_never_pay_an_invoice_twice,
);

async fn payments_settle_invoices_and_what_is_left_is_credit(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let sanitas = payer("SANITAS");
    let h1 = location("H1", "Europe/Madrid");
    let due = today() + Duration::days(30);
    let a = invoice(&sanitas, &h1, "H1-2026-0001", eur("100.00"), due);
    let b2 = invoice(&sanitas, &h1, "H1-2026-0002", eur("50.00"), due);
    let env_a = envelope(&a);
    feed(&h, &env_a).await;
    feed(&h, &env_a).await; // redelivered: no second receivable
    feed(&h, &envelope(&b2)).await;
    let find = |inv: &InvoiceIssuedV1| {
        get(
            &format!("/v1/receivables?invoice_id={}", inv.invoice_id),
            &t,
        )
    };
    let (s, list, _) = call(&app, get("/v1/receivables", &t)).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    let (_, page, _) = call(&app, find(&a)).await;
    let ra = page["items"][0].clone();
    assert_eq!(ra["status"], "open");
    assert_eq!(amount(&ra["outstanding"]), "100.00");
    assert_eq!(ra["location"]["time_zone"], "Europe/Madrid");
    assert_eq!(ra["payer_code"], "SANITAS");

    // A partial payment.
    let (s, p1, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&sanitas, eur("30.00"), &[(&a, eur("30.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p1}");
    assert_eq!(amount(&p1["unallocated"]), "0.00");
    let (_, page, _) = call(&app, find(&a)).await;
    assert_eq!(page["items"][0]["status"], "partially_paid");
    assert_eq!(amount(&page["items"][0]["outstanding"]), "70.00");

    // The rest, with 10.00 more than owed: kept as credit. A retry with the same key records
    // nothing new.
    let body = payment(&sanitas, eur("80.00"), &[(&a, eur("70.00"))]);
    let req = || post("/v1/payments", &t, &body).insert_header(("idempotency-key", "pay-2"));
    let (s, p2, _) = call(&app, req()).await;
    assert_eq!(s, StatusCode::CREATED, "{p2}");
    let (s, again, _) = call(&app, req()).await;
    assert_eq!((s, &again["id"]), (StatusCode::CREATED, &p2["id"]));
    assert_eq!(amount(&p2["unallocated"]), "10.00");
    let (_, page, _) = call(&app, find(&a)).await;
    assert_eq!(page["items"][0]["status"], "paid");
    assert_eq!(amount(&page["items"][0]["outstanding"]), "0.00");

    let (s, bal, _) = call(&app, get(&balance_path(&sanitas), &t)).await;
    assert_eq!(s, StatusCode::OK, "{bal}");
    let eur_bal = &bal["currencies"][0];
    assert_eq!(eur_bal["currency"], "EUR");
    assert_eq!(amount(&eur_bal["invoiced"]), "150.00");
    assert_eq!(amount(&eur_bal["paid"]), "100.00");
    assert_eq!(amount(&eur_bal["outstanding"]), "50.00");
    assert_eq!(amount(&eur_bal["unallocated_credit"]), "10.00");
    assert_eq!(amount(&eur_bal["overdue"]), "0.00");
    assert_eq!(eur_bal["open_receivables"], 1);
    assert_eq!(bal["recent_payments"].as_array().map(Vec::len), Some(2));

    // The credit goes to the second invoice later; no second PaymentRecorded for it.
    let p2_id = p2["id"].as_str().expect("id");
    let (s, p2b, _) = call(
        &app,
        post(
            &format!("/v1/payments/{p2_id}/allocations"),
            &t,
            &allocations(&[(&b2, eur("10.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p2b}");
    assert_eq!(amount(&p2b["unallocated"]), "0.00");
    assert_eq!(p2b["allocations"].as_array().map(Vec::len), Some(2));
    let (_, page, _) = call(&app, find(&b2)).await;
    assert_eq!(page["items"][0]["status"], "partially_paid");
    assert_eq!(amount(&page["items"][0]["outstanding"]), "40.00");
    let (_, bal, _) = call(&app, get(&balance_path(&sanitas), &t)).await;
    assert_eq!(amount(&bal["currencies"][0]["unallocated_credit"]), "0.00");
    assert_eq!(amount(&bal["currencies"][0]["outstanding"]), "40.00");
    assert_eq!(amount(&bal["currencies"][0]["paid"]), "110.00");

    // Payment history on the receivable.
    let id_a = ra["id"].as_str().expect("id");
    let (s, detail, _) = call(&app, get(&format!("/v1/receivables/{id_a}"), &t)).await;
    assert_eq!(s, StatusCode::OK);
    let history = detail["payments"].as_array().expect("history");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["payment_id"], p1["id"]);
    assert_eq!(amount(&history[1]["amount"]), "70.00");
    assert_eq!(history[1]["method"], "transfer");
    assert_eq!(history[1]["reversed"], false);

    // One event per payment, carrying its allocations and credit.
    let events = recorded_events(&h).await;
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].payment_id.to_string(), p2_id);
    assert_eq!(events[1].unallocated, eur("10.00"));
    assert_eq!(events[1].allocations.len(), 1);
    assert_eq!(events[1].allocations[0].invoice_number, "H1-2026-0001");
    assert_eq!(events[1].party.payer_code.as_deref(), Some("SANITAS"));

    // Lists and filters.
    let party_q = format!("party_kind=payer&party_id={}", sanitas.id);
    let (_, list, _) = call(&app, get(&format!("/v1/payments?{party_q}&limit=1"), &t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let cursor = list["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, next, _) = call(
        &app,
        get(
            &format!("/v1/payments?{party_q}&limit=1&cursor={cursor}"),
            &t,
        ),
    )
    .await;
    assert_eq!(next["items"][0]["id"], p2["id"]);
    let (_, none, _) = call(&app, get("/v1/payments?method=cash", &t)).await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0));
    let (_, paid, _) = call(
        &app,
        get("/v1/receivables?status=paid&payer_code=SANITAS", &t),
    )
    .await;
    assert_eq!(paid["items"].as_array().map(Vec::len), Some(1));
    let (s, got, _) = call(&app, get(&format!("/v1/payments/{p2_id}"), &t)).await;
    assert_eq!((s, amount(&got["amount"])), (StatusCode::OK, "80.00"));

    // The audit trail has the payments and the allocations.
    let (s, audit, _) = call(
        &app,
        get("/v1/collections/audit-events?entity_type=payment", &t),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{audit}");
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, vec!["create", "create", "allocate"]);
}

async fn bad_payments_and_allocations_are_refused_and_change_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let mapfre = payer("MAPFRE");
    let other = payer("ADESLAS");
    let h1 = location("H1", "Europe/Madrid");
    let due = today() + Duration::days(30);
    let inv = invoice(&mapfre, &h1, "H1-10", eur("100.00"), due);
    let inv2 = invoice(&mapfre, &h1, "H1-11", eur("5.00"), due);
    let theirs = invoice(&other, &h1, "H1-12", eur("100.00"), due);
    let dollars = invoice(&mapfre, &h1, "H1-13", money_in("100.00", "USD"), due);
    let unknown = invoice(&mapfre, &h1, "H1-14", eur("100.00"), due);
    for i in [&inv, &inv2, &theirs, &dollars] {
        feed(&h, &envelope(i)).await;
    }
    let (s, p, _) = call(
        &app,
        post("/v1/payments", &t, &payment(&mapfre, eur("20.00"), &[])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let p_id = p["id"].as_str().expect("id").to_owned();
    let snapshot = || async {
        let (_, bal, _) = call(&app, get(&balance_path(&mapfre), &t)).await;
        let (_, pays, _) = call(&app, get("/v1/payments", &t)).await;
        let (_, recs, _) = call(&app, get("/v1/receivables", &t)).await;
        (bal, pays, recs, recorded_events(&h).await.len())
    };
    let before = snapshot().await;
    assert_eq!(before.3, 1);
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (
            payment(&mapfre, eur("10.00"), &[(&unknown, eur("10.00"))]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_invoice",
            "allocations.0.invoice_id",
        ),
        (
            payment(
                &mapfre,
                eur("10.00"),
                &[(&inv, eur("5.00")), (&theirs, eur("5.00"))],
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "other_party",
            "allocations.1.invoice_id",
        ),
        (
            payment(&mapfre, eur("10.00"), &[(&dollars, eur("10.00"))]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "currency_mismatch",
            "allocations.0.invoice_id",
        ),
        (
            payment(&mapfre, eur("10.00"), &[(&inv, money_in("10.00", "USD"))]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "currency_mismatch",
            "allocations.0.amount.currency",
        ),
        (
            payment(&mapfre, eur("10.00"), &[(&inv2, eur("5.01"))]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "exceeds_outstanding",
            "allocations.0.amount",
        ),
        (
            payment(
                &mapfre,
                eur("10.00"),
                &[(&inv, eur("6.00")), (&inv2, eur("4.01"))],
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "over_allocated",
            "allocations",
        ),
        (
            payment(
                &mapfre,
                eur("10.00"),
                &[(&inv, eur("2.00")), (&inv, eur("3.00"))],
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate_invoice",
            "allocations.1.invoice_id",
        ),
        (
            payment(&mapfre, eur("10.00"), &[(&inv, eur("0"))]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_positive",
            "allocations.0.amount",
        ),
        (
            payment(&mapfre, eur("0.00"), &[]),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_positive",
            "amount.amount",
        ),
        (
            {
                let mut p = payment(&mapfre, eur("1.00"), &[]);
                p["received_on"] = json!(today() + Duration::days(2));
                p
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "in_future",
            "received_on",
        ),
        (
            {
                let mut p = payment(&mapfre, eur("1.00"), &[]);
                p["method"] = json!("bank transfer!");
                p
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "method",
        ),
        (
            {
                let mut p = payment(&mapfre, eur("1.00"), &[]);
                p["amount"] = json!({"amount": "1.001", "currency": "EUR"});
                p
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "amount",
        ),
        (
            {
                let mut p = payment(&mapfre, eur("1.00"), &[]);
                p["party"]["kind"] = json!("insurer");
                p
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "party",
        ),
    ];
    for (body, status, code, field) in cases {
        let (s, err, ctype) = call(&app, post("/v1/payments", &t, &body)).await;
        assert_eq!(s, status, "{body} -> {err}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"));
        let errors = err["errors"].as_array().expect("field errors");
        assert!(
            errors
                .iter()
                .any(|e| e["code"] == code && e["field"] == field),
            "{code} at {field} expected in {err}"
        );
        if code == "unknown_invoice" {
            assert!(
                errors[0]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("not known to collections (yet)")
            );
        }
    }
    // Later allocations: beyond the remainder, to another party's invoice, to an unknown
    // payment, an empty list.
    let path = format!("/v1/payments/{p_id}/allocations");
    let (s, err, _) = call(&app, post(&path, &t, &allocations(&[(&inv, eur("20.01"))]))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["errors"][0]["code"], "over_allocated");
    let (s, err, _) = call(
        &app,
        post(&path, &t, &allocations(&[(&theirs, eur("1.00"))])),
    )
    .await;
    assert_eq!(
        (s, err["errors"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("other_party"))
    );
    let (s, _, _) = call(&app, post(&path, &t, &json!({"allocations": []}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/payments/{}/allocations", uuid::Uuid::now_v7()),
            &t,
            &allocations(&[(&inv, eur("1.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        post(
            &path,
            &t,
            &json!({"allocations": [{"invoice_id": "x", "amount": eur("1.00")}]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let after = snapshot().await;
    assert_eq!(after.0, before.0, "balance unchanged");
    assert_eq!(after.1, before.1, "payments unchanged");
    assert_eq!(after.2, before.2, "receivables unchanged");
    assert_eq!(after.3, 1, "no new events");
    // And exactly the remainder works.
    let (s, ok, _) = call(
        &app,
        post(
            &path,
            &t,
            &allocations(&[(&inv, eur("15.00")), (&inv2, eur("5.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_eq!(amount(&ok["unallocated"]), "0.00");
    let (_, bal, _) = call(&app, get(&balance_path(&mapfre), &t)).await;
    // EUR and USD, by code.
    assert_eq!(bal["currencies"][0]["currency"], "EUR");
    assert_eq!(amount(&bal["currencies"][0]["outstanding"]), "85.00");
    assert_eq!(amount(&bal["currencies"][1]["outstanding"]), "100.00");
}

async fn racing_payments_never_pay_an_invoice_twice(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let party = payer("SANITAS");
    let inv = invoice(
        &party,
        &location("H1", "Europe/Madrid"),
        "H1-30",
        eur("100.00"),
        today() + Duration::days(5),
    );
    feed(&h, &envelope(&inv)).await;
    let body = payment(&party, eur("100.00"), &[(&inv, eur("100.00"))]);
    let (one, two) = tokio::join!(
        call(&app, post("/v1/payments", &t, &body)),
        call(&app, post("/v1/payments", &t, &body)),
    );
    let mut statuses = vec![one.0, two.0];
    statuses.sort();
    assert_eq!(
        statuses,
        vec![StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY],
        "{} / {}",
        one.1,
        two.1
    );
    let (_, bal, _) = call(&app, get(&balance_path(&party), &t)).await;
    assert_eq!(amount(&bal["currencies"][0]["paid"]), "100.00");
    assert_eq!(amount(&bal["currencies"][0]["unallocated_credit"]), "0.00");
    assert_eq!(recorded_events(&h).await.len(), 1);
}
