//! Credit notes: a full credit note cancels its invoice once; a reissue bills only the credited
//! party again; a caller out of scope is refused before the invoice is locked; partial credit
//! notes reduce an invoice line by line, never below zero, and a full one then credits the rest.

use actix_web::http::StatusCode;
use carebill_domain::events::PartyRef;
use carebill_domain::ids::{ConsumptionId, SettlementId};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, get, token};
use diesel::Connection as _;
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    a_credit_note_cancels_its_invoice_once_and_a_reissue_bills_only_the_credited_party,
    partial_credit_notes_reduce_an_invoice_and_a_full_one_credits_the_rest,
);

async fn a_credit_note_cancels_its_invoice_once_and_a_reissue_bills_only_the_credited_party(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["billing_manager"], None);
    let w = world("H1");
    let settlement = SettlementId::new();
    let (c1, c2) = (ConsumptionId::new(), ConsumptionId::new());
    let pat = PartyRef::patient(w.patient.id);
    let mut lines = vec![
        line(c1, "LAB-HB", 10_000, &[(&w.sanitas, 8_000), (&pat, 2_000)]),
        line(c2, "RX-01", 3_333, &[(&w.sanitas, 3_333)]),
    ];
    // What a claim needs of a line is kept with it, and a correction's lines keep it too.
    lines[0].claim = Some(carebill_domain::events::LineClaimFacts {
        diagnosis_codes: vec!["D64.9".to_owned()],
        modifiers: vec!["91".to_owned()],
        ordering_practitioner: Some("DR-ORD".to_owned()),
        attending_practitioner: Some("DR-ROSSI".to_owned()),
    });
    deliver(&h.db, envelope(&approval(&w, settlement, 1, lines.clone())))
        .await
        .expect("v1");
    let (_, list, _) = call(&app, get("/v1/invoices", &t)).await;
    let invoices = items(&list);
    assert_eq!(invoices.len(), 2);
    let year = year_of(&invoices[0]);
    let payer_invoice = invoices[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(invoices[0]["total"]["amount"], "113.33");

    let body = json!({"reason": "policy had ended", "reissue": true});
    let (s, cn) = credit(&app, &t, &payer_invoice, body.clone(), Some("k-1")).await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    assert_eq!(cn["number"], format!("H1-CN-{year}-000001"));
    assert_eq!(cn["invoice"]["id"], payer_invoice);
    assert_eq!(cn["total"], invoices[0]["total"]);
    assert_eq!(cn["reason"], "policy had ended");
    assert_eq!(cn["reissue"], true);
    assert_eq!(cn["recipient"]["payer_code"], "SANITAS");
    let (_, inv, _) = call(&app, get(&format!("/v1/invoices/{payer_invoice}"), &t)).await;
    assert_eq!(inv["status"], "cancelled");
    assert_eq!(inv["credit_note_id"], cn["id"]);
    // The credit note's lines mirror the invoice's exactly.
    let strip = |lines: &Value| -> Vec<Value> {
        lines
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| {
                json!([
                    l["consumption_id"],
                    l["amount"],
                    l["line_amount"],
                    l["quantity"],
                    l["tax"],
                    l["claim"]
                ])
            })
            .collect()
    };
    assert_eq!(strip(&cn["lines"]), strip(&inv["lines"]));
    assert_eq!(
        (
            inv["lines"][0]["claim"].clone(),
            inv["lines"][1].get("claim")
        ),
        (
            json!({"diagnosis_codes": ["D64.9"], "modifiers": ["91"],
                   "ordering_practitioner": "DR-ORD", "attending_practitioner": "DR-ROSSI"}),
            None
        )
    );

    // A retry with the same key replays; a second credit is refused and changes nothing.
    let (s, replay) = credit(&app, &t, &payer_invoice, body.clone(), Some("k-1")).await;
    assert_eq!((s, &replay["id"]), (StatusCode::CREATED, &cn["id"]));
    let (s, again) = credit(&app, &t, &payer_invoice, body, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["code"], "already_credited");
    let (_, notes, _) = call(&app, get("/v1/credit-notes", &t)).await;
    assert_eq!(items(&notes).len(), 1);
    let (s, one, _) = call(
        &app,
        get(
            &format!("/v1/credit-notes/{}", cn["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!((s, &one["number"]), (StatusCode::OK, &cn["number"]));
    let credited = outbox_bodies(&h.db, CREDIT_NOTE_ISSUED).await;
    assert_eq!(credited.len(), 1);
    assert_eq!(credited[0]["data"]["reissue"], true);
    assert_eq!(credited[0]["data"]["total"]["amount"], "113.33");
    assert_eq!(
        credited[0]["data"]["consumption_ids"],
        json!([c1.to_string(), c2.to_string()])
    );
    let (_, trail, _) = call(
        &app,
        get(
            &format!("/v1/invoicing/audit-events?entity_type=invoice&entity_id={payer_invoice}"),
            &t,
        ),
    )
    .await;
    let credit_entry = items(&trail)
        .into_iter()
        .find(|e| e["action"] == "credit")
        .expect("credit audited");
    assert_eq!(credit_entry["reason"], "policy had ended");

    // Settlement reopens and approves version 2: only SANITAS is invoiced again.
    deliver(&h.db, envelope(&approval(&w, settlement, 2, lines)))
        .await
        .expect("v2");
    let (_, list, _) = call(&app, get("/v1/invoices?status=issued", &t)).await;
    let issued = items(&list);
    assert_eq!(issued.len(), 2, "{list}");
    let new = issued.last().expect("new invoice");
    assert_eq!(new["number"], format!("H1-INV-{year}-000003"));
    assert_eq!(new["recipient"]["payer_code"], "SANITAS");
    assert_eq!(new["settlement"]["version"], 2);
    assert_eq!(new["total"]["amount"], "113.33");
    // It replaces the credited invoice: a corrective invoice naming it.
    assert_eq!(
        new["corrects"],
        json!({"id": payer_invoice, "number": invoices[0]["number"]})
    );
    assert_eq!(issued[0]["corrects"], Value::Null, "the patient's stands");
    let announced = outbox_bodies(&h.db, INVOICE_ISSUED).await;
    assert_eq!(announced.len(), 3);
    assert_eq!(announced[2]["data"]["corrects_invoice_id"], payer_invoice);
    let (_, cancelled, _) = call(&app, get("/v1/invoices?status=cancelled", &t)).await;
    assert_eq!(items(&cancelled).len(), 1);
}

/// A credit by a caller out of the invoice's scope is refused at once, even while another
/// transaction holds the invoice's lock: the scope is checked with a plain read before locking.
/// (PostgreSQL only: SQLite has no row locks.)
#[actix_web::test]
async fn a_credit_out_of_scope_is_refused_without_waiting_on_the_invoice_lock() {
    let h = harness(Backend::Postgres);
    let app = app(&h.db).await;
    let w = world("H1");
    deliver(
        &h.db,
        envelope(&approval(
            &w,
            SettlementId::new(),
            1,
            vec![line(
                ConsumptionId::new(),
                "LAB-HB",
                10_000,
                &[(&w.sanitas, 10_000)],
            )],
        )),
    )
    .await
    .expect("approved");
    let (_, list, _) = call(&app, get("/v1/invoices", &token(&["biller"], None))).await;
    let invoice = items(&list)[0]["id"].as_str().expect("id").to_owned();

    let (locked_tx, locked_rx) = tokio::sync::oneshot::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let (db, id) = (h.db.clone(), invoice.clone());
        tokio::spawn(async move {
            db.write(move |conn| {
                conn.transaction::<_, carebill_platform::Error, _>(|conn| {
                    carebill_platform::db::lock_row(conn, "invoices", &id)?;
                    let _ = locked_tx.send(());
                    let _ = release_rx.recv_timeout(std::time::Duration::from_secs(20));
                    Ok(())
                })
            })
            .await
        })
    };
    locked_rx.await.expect("the invoice is locked");
    let body = json!({"reason": "wrong payer", "reissue": false});
    let h2 = token(&["billing_manager"], Some(&["H2"]));
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        credit(&app, &h2, &invoice, body.clone(), None),
    )
    .await;
    let _ = release_tx.send(());
    holder
        .await
        .expect("joined")
        .expect("lock held and released");
    let (s, problem) = answer.expect("refused without waiting on the lock");
    assert_eq!(s, StatusCode::NOT_FOUND, "{problem}");
    // In scope, once the lock is released, it is credited.
    let h1 = token(&["billing_manager"], Some(&["H1"]));
    let (s, note) = credit(&app, &h1, &invoice, body, None).await;
    assert_eq!(s, StatusCode::CREATED, "{note}");
}

async fn partial_credit_notes_reduce_an_invoice_and_a_full_one_credits_the_rest(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["billing_manager"], None);
    let w = world("H1");
    let (c1, c2) = (ConsumptionId::new(), ConsumptionId::new());
    let pat = PartyRef::patient(w.patient.id);
    // SANITAS is billed 80.00 of a 100.00 line of quantity 2, and 33.33 of another.
    let lines = vec![
        line(c1, "LAB-HB", 10_000, &[(&w.sanitas, 8_000), (&pat, 2_000)]),
        line(c2, "RX-01", 3_333, &[(&w.sanitas, 3_333)]),
    ];
    deliver(
        &h.db,
        envelope(&approval(&w, SettlementId::new(), 1, lines)),
    )
    .await
    .expect("v1");
    let (_, list, _) = call(&app, get("/v1/invoices", &t)).await;
    let invoice = items(&list)[0]["id"].as_str().expect("id").to_owned();
    let url = format!("/v1/invoices/{invoice}");
    let notes_url = format!("/v1/credit-notes?invoice_id={invoice}");
    // Bad requests change nothing and name the field.
    for (body, field) in [
        (
            json!({"reason": "r", "reissue": false, "lines": [{"consumption_id": c1.to_string(), "quantity": "1", "amount": "1.00"}]}),
            "lines.0",
        ),
        (
            json!({"reason": "r", "reissue": false, "lines": [{"consumption_id": c1.to_string()}]}),
            "lines.0",
        ),
        (
            json!({"reason": "r", "reissue": false, "lines": [{"consumption_id": "nope", "quantity": "1"}]}),
            "lines.0.consumption_id",
        ),
        (
            json!({"reason": "r", "reissue": false, "lines": [{"consumption_id": c1.to_string(), "quantity": "x"}]}),
            "lines.0.quantity",
        ),
        (
            json!({"reason": "r", "reissue": true, "lines": [{"consumption_id": c1.to_string(), "quantity": "1"}]}),
            "reissue",
        ),
        (
            json!({"reason": "r", "reissue": false, "lines": []}),
            "lines",
        ),
        (
            json!({"reason": "r", "reissue": false, "lines": [{"consumption_id": ConsumptionId::new().to_string(), "quantity": "1"}]}),
            "lines.0",
        ),
        (
            json!({"reason": "r", "reissue": false, "lines": [{"consumption_id": c1.to_string(), "quantity": "3"}]}),
            "lines.0",
        ),
        (
            json!({"reason": "r", "reissue": false, "lines": [{"consumption_id": c1.to_string(), "amount": "0.001"}]}),
            "lines.0",
        ),
        (
            json!({"reason": "r", "reissue": false, "lines": [{"consumption_id": c1.to_string(), "amount": "0"}]}),
            "lines.0",
        ),
        (
            json!({"reason": "r", "reissue": false, "lines": [{"consumption_id": c1.to_string(), "quantity": "1"}, {"consumption_id": c1.to_string(), "amount": "1.00"}]}),
            "lines.0",
        ),
    ] {
        let (s, problem) = credit(&app, &t, &invoice, body.clone(), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter_map(|e| e["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{field} for {body}: {problem}");
    }
    let (_, notes, _) = call(&app, get(&notes_url, &t)).await;
    assert_eq!(items(&notes).len(), 0, "{notes}");

    // One of the two units of LAB-HB (40.00) and 10.00 of RX-01.
    let (s, cn) = credit(
        &app,
        &t,
        &invoice,
        json!({"reason": "one test not performed; goodwill on the medication", "reissue": false,
            "lines": [{"consumption_id": c1.to_string(), "quantity": "1"},
                      {"consumption_id": c2.to_string(), "amount": "10.00"}]}),
        Some("p-1"),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    assert_eq!(cn["partial"], true);
    assert_eq!(cn["total"]["amount"], "50.00");
    let credited: Vec<(String, String)> = cn["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["quantity"].as_str().expect("quantity").to_owned(),
                l["amount"]["amount"].as_str().expect("amount").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        credited,
        [
            ("1".to_owned(), "40.00".to_owned()),
            ("2".to_owned(), "10.00".to_owned())
        ]
    );
    let (_, inv, _) = call(&app, get(&url, &t)).await;
    assert_eq!(inv["status"], "issued", "a partial credit reduces: {inv}");
    assert_eq!(inv["credited"]["amount"], "50.00");
    assert_eq!(inv["credit_note_id"], Value::Null);
    let events = outbox_bodies(&h.db, "carebill.invoicing.credit_note.issued.v1").await;
    let data = &events[0]["data"];
    assert_eq!(data["partial"], true);
    assert_eq!(
        data["consumption_ids"],
        json!([]),
        "nothing is billed again"
    );
    assert_eq!(data["invoice_remaining"]["amount"], "63.33");
    assert_eq!(data["lines"][0]["remaining"]["amount"], "40.00");
    assert_eq!(data["lines"][1]["remaining"]["amount"], "23.33");

    // More than a line still bills is a conflict, and nothing is credited.
    let (s, problem) = credit(
        &app,
        &t,
        &invoice,
        json!({"reason": "r", "reissue": false,
            "lines": [{"consumption_id": c2.to_string(), "amount": "23.34"}]}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "credit_exceeds_remaining");
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("23.33"),
        "{problem}"
    );
    let (_, notes, _) = call(&app, get(&notes_url, &t)).await;
    assert_eq!(items(&notes).len(), 1, "{notes}");

    // The full credit note credits what is left, line by line, and cancels the invoice.
    let (s, full) = credit(
        &app,
        &t,
        &invoice,
        json!({"reason": "policy had ended", "reissue": false}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{full}");
    assert_eq!(full["partial"], false);
    assert_eq!(full["total"]["amount"], "63.33");
    let rest: Vec<&str> = full["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["amount"]["amount"].as_str())
        .collect();
    assert_eq!(rest, ["40.00", "23.33"]);
    let (_, inv, _) = call(&app, get(&url, &t)).await;
    assert_eq!(inv["status"], "cancelled");
    assert_eq!(
        inv["credited"]["amount"], "113.33",
        "credited to the cent: {inv}"
    );
    assert_eq!(inv["credit_note_id"], full["id"]);
    let events = outbox_bodies(&h.db, "carebill.invoicing.credit_note.issued.v1").await;
    assert_eq!(events[1]["data"]["partial"], false);
    assert_eq!(
        events[1]["data"]["consumption_ids"],
        json!([c1.to_string(), c2.to_string()])
    );
    assert_eq!(events[1]["data"]["invoice_remaining"]["amount"], "0.00");
    let (s, problem) = credit(
        &app,
        &t,
        &invoice,
        json!({"reason": "r", "reissue": false,
            "lines": [{"consumption_id": c1.to_string(), "amount": "1.00"}]}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], "already_credited");
}
