//! Credit notes: a full credit note cancels its invoice once; a reissue bills only the credited
//! party again; a caller out of scope is refused before the invoice is locked.

use actix_web::http::StatusCode;
use carebill_domain::events::PartyRef;
use carebill_domain::ids::{ConsumptionId, SettlementId};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, get, token};
use diesel::Connection as _;
use serde_json::{Value, json};

use crate::common::*;

both_backends!(a_credit_note_cancels_its_invoice_once_and_a_reissue_bills_only_the_credited_party,);

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
    let lines = vec![
        line(c1, "LAB-HB", 10_000, &[(&w.sanitas, 8_000), (&pat, 2_000)]),
        line(c2, "RX-01", 3_333, &[(&w.sanitas, 3_333)]),
    ];
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
                    l["tax"]
                ])
            })
            .collect()
    };
    assert_eq!(strip(&cn["lines"]), strip(&inv["lines"]));

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
    assert_eq!(outbox_bodies(&h.db, INVOICE_ISSUED).await.len(), 3);
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
