//! Collections against real databases: invoicing's events go through the service's own event
//! handler, then payments, receivables and balances over HTTP. Every scenario runs on SQLite and
//! on a throwaway PostgreSQL database.

#![allow(clippy::expect_used, clippy::panic, reason = "tests")]

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::web;
use carebill_collections::CollectionsState;
use carebill_domain::Money;
use carebill_domain::events::{
    CreditNoteIssuedV1, Envelope, InvoiceIssuedV1, LocationRef, PartyKind, PartyRef,
    PaymentRecordedV1,
};
use carebill_domain::ids::{
    ConsumptionId, CreditNoteId, EpisodeId, InvoiceId, LocationId, PatientId, SettlementId,
};
use carebill_platform::auth::{Claims, mint_hs256};
use carebill_platform::both_backends;
use carebill_platform::db::{Backend, Db};
use carebill_platform::events::Handler;
use carebill_platform::testing::{TEST_SECRET, TestDb, admin, call, get, post, test_app, token};
use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use tokio::sync::Notify;

struct Harness {
    db: Db,
    handler: Handler,
    _guard: TestDb,
}

fn harness(backend: Backend) -> Harness {
    let t = TestDb::new(backend, &carebill_collections::MIGRATIONS);
    let handler = carebill_collections::events(t.db.clone(), Arc::new(Notify::new())).handler;
    Harness {
        db: t.db.clone(),
        handler,
        _guard: t,
    }
}

async fn app(
    h: &Harness,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let state = web::Data::new(CollectionsState {
        db: h.db.clone(),
        wake: Arc::new(Notify::new()),
    });
    test_app(carebill_collections::routes(state)).await
}

both_backends!(
    payments_settle_invoices_and_what_is_left_is_credit,
    overdue_follows_the_due_date_in_the_locations_day,
    a_credit_note_cancels_its_invoice_and_returns_allocated_money_to_credit,
    a_credit_note_before_its_invoice_cancels_it_when_it_arrives,
    bad_payments_and_allocations_are_refused_and_change_nothing,
    readers_see_only_their_payer_and_locations_and_roles_are_checked,
    racing_payments_never_pay_an_invoice_twice,
);

// ---- builders ----

fn eur(amount: &str) -> Money {
    serde_json::from_value(json!({"amount": amount, "currency": "EUR"})).expect("money")
}

fn money_in(amount: &str, currency: &str) -> Money {
    serde_json::from_value(json!({"amount": amount, "currency": currency})).expect("money")
}

fn payer(code: &str) -> PartyRef {
    PartyRef {
        kind: PartyKind::Payer,
        id: uuid::Uuid::now_v7(),
        payer_code: Some(code.to_owned()),
        payer_kind: None,
        coverage_id: None,
        policy_number: None,
    }
}

fn location(code: &str, time_zone: &str) -> LocationRef {
    LocationRef {
        id: LocationId::new(),
        code: code.to_owned(),
        name: format!("Hospital {code}"),
        time_zone: time_zone.to_owned(),
        tax_id: None,
    }
}

fn today() -> NaiveDate {
    Utc::now().date_naive()
}

fn invoice(
    to: &PartyRef,
    at: &LocationRef,
    number: &str,
    total: Money,
    due_date: NaiveDate,
) -> InvoiceIssuedV1 {
    InvoiceIssuedV1 {
        invoice_id: InvoiceId::new(),
        number: number.to_owned(),
        location: at.clone(),
        recipient: to.clone(),
        patient_id: PatientId::new(),
        episode_id: EpisodeId::new(),
        settlement_id: SettlementId::new(),
        settlement_version: 1,
        lines: Vec::new(),
        total,
        issue_date: due_date - Duration::days(30),
        due_date,
        issued_at: Utc::now(),
    }
}

fn credit_note(inv: &InvoiceIssuedV1) -> CreditNoteIssuedV1 {
    CreditNoteIssuedV1 {
        credit_note_id: CreditNoteId::new(),
        number: format!("CN-{}", inv.number),
        invoice_id: inv.invoice_id,
        invoice_number: inv.number.clone(),
        location_id: inv.location.id,
        recipient: inv.recipient.clone(),
        settlement_id: inv.settlement_id,
        settlement_version: 1,
        consumption_ids: vec![ConsumptionId::new()],
        total: inv.total,
        reason: "billed to the wrong payer".to_owned(),
        reissue: true,
        issue_date: today(),
        issued_by: "biller-1".to_owned(),
        issued_at: Utc::now(),
    }
}

fn envelope<P: carebill_domain::events::EventPayload>(payload: &P) -> Envelope {
    Envelope::new("invoicing", payload, Utc::now(), None, None).expect("envelope")
}

async fn feed(h: &Harness, env: &Envelope) {
    (h.handler)(env.clone()).await.expect("event applied");
}

fn payer_token(code: &str) -> String {
    let now = Utc::now().timestamp();
    mint_hs256(
        TEST_SECRET.as_bytes(),
        &Claims {
            sub: format!("portal-{code}"),
            iss: "carebill".to_owned(),
            aud: "carebill".to_owned(),
            exp: now + 3600,
            iat: now,
            roles: vec!["payer".to_owned()],
            locations: None,
            payer: Some(code.to_owned()),
        },
    )
    .expect("token")
}

fn payment(party: &PartyRef, amount: Money, allocations: &[(&InvoiceIssuedV1, Money)]) -> Value {
    json!({
        "party": {"kind": party.kind, "id": party.id},
        "amount": amount,
        "method": "transfer",
        "received_on": today(),
        "reference": "BANK-REF-1",
        "allocations": allocations
            .iter()
            .map(|(i, a)| json!({"invoice_id": i.invoice_id, "amount": a}))
            .collect::<Vec<_>>(),
    })
}

fn allocations(items: &[(&InvoiceIssuedV1, Money)]) -> Value {
    json!({"allocations": items
        .iter()
        .map(|(i, a)| json!({"invoice_id": i.invoice_id, "amount": a}))
        .collect::<Vec<_>>()})
}

/// The PaymentRecorded events in the outbox.
async fn recorded_events(h: &Harness) -> Vec<PaymentRecordedV1> {
    use carebill_platform::schema::outbox;
    let bodies: Vec<String> =
        h.db.read(|conn| {
            Ok(outbox::table
                .filter(outbox::event_type.eq("carebill.collections.payment.recorded.v1"))
                .order(outbox::seq.asc())
                .select(outbox::body)
                .load(conn)?)
        })
        .await
        .expect("outbox");
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Envelope>(b)
                .expect("envelope")
                .payload()
                .expect("payload")
        })
        .collect()
}

fn amount(v: &Value) -> &str {
    v["amount"].as_str().unwrap_or("?")
}

fn balance_path(p: &PartyRef) -> String {
    format!("/v1/balances/{}/{}", p.kind, p.id)
}

// ---- scenarios ----

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

async fn overdue_follows_the_due_date_in_the_locations_day(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let dkv = payer("DKV");
    let h1 = location("H1", "Europe/Madrid");
    let h2 = location("H2", "Pacific/Kiritimati");
    let late = invoice(&dkv, &h1, "H1-1", eur("20.00"), today() - Duration::days(2));
    let late_part = invoice(&dkv, &h1, "H1-2", eur("20.00"), today() - Duration::days(2));
    let late_paid = invoice(&dkv, &h1, "H1-3", eur("20.00"), today() - Duration::days(2));
    let on_time = invoice(&dkv, &h1, "H1-4", eur("20.00"), today() + Duration::days(2));
    // UTC+14: its day is already past a due date of today (UTC) whenever UTC is after 10:00,
    // and never before; the status must agree with the location's own day.
    let kiribati = invoice(&dkv, &h2, "H2-1", eur("20.00"), today());
    for inv in [&late, &late_part, &late_paid, &on_time, &kiribati] {
        feed(&h, &envelope(inv)).await;
    }
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(
                &dkv,
                eur("25.00"),
                &[(&late_part, eur("5.00")), (&late_paid, eur("20.00"))],
            ),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let kiribati_overdue =
        carebill_domain::collections::local_today("Pacific/Kiritimati", Utc::now()) > today();
    let numbers = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|r| r["invoice_number"].as_str().map(str::to_owned))
            .collect();
        n.sort();
        n
    };
    let (s, overdue, _) = call(&app, get("/v1/receivables?status=overdue", &t)).await;
    assert_eq!(s, StatusCode::OK, "{overdue}");
    let mut expected = vec!["H1-1".to_owned(), "H1-2".to_owned()];
    if kiribati_overdue {
        expected.push("H2-1".to_owned());
    }
    assert_eq!(numbers(&overdue), expected);
    for r in overdue["items"].as_array().expect("items") {
        assert_eq!(r["status"], "overdue");
    }
    let (_, open, _) = call(&app, get("/v1/receivables?status=open", &t)).await;
    let mut expected_open = vec!["H1-4".to_owned()];
    if !kiribati_overdue {
        expected_open.push("H2-1".to_owned());
    }
    assert_eq!(numbers(&open), expected_open);
    let (_, part, _) = call(&app, get("/v1/receivables?status=partially_paid", &t)).await;
    assert_eq!(numbers(&part), Vec::<String>::new());
    let (_, paid, _) = call(&app, get("/v1/receivables?status=paid", &t)).await;
    assert_eq!(numbers(&paid), vec!["H1-3".to_owned()]);
    let (_, due, _) = call(
        &app,
        get(
            &format!("/v1/receivables?due_before={}&location_code=H1", today()),
            &t,
        ),
    )
    .await;
    assert_eq!(due["items"].as_array().map(Vec::len), Some(3));
    let (_, bal, _) = call(&app, get(&balance_path(&dkv), &t)).await;
    let owed_overdue = if kiribati_overdue { "55.00" } else { "35.00" };
    assert_eq!(amount(&bal["currencies"][0]["overdue"]), owed_overdue);
    assert_eq!(amount(&bal["currencies"][0]["outstanding"]), "75.00");
    assert_eq!(bal["currencies"][0]["open_receivables"], 4);
    // Bad filter values are problems, not crashes.
    let (s, _, ctype) = call(&app, get("/v1/receivables?status=late", &t)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    let (s, e, _) = call(&app, get("/v1/receivables?party_id=nope", &t)).await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("party_id"))
    );
    let (s, _, _) = call(&app, get("/v1/receivables?due_before=2026-13-01", &t)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = call(&app, get("/v1/payments?received_from=yesterday", &t)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = call(&app, get("/v1/receivables/not-a-uuid", &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(&app, get(&format!("/v1/balances/insurer/{}", dkv.id), &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn a_credit_note_cancels_its_invoice_and_returns_allocated_money_to_credit(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["billing_manager"], None);
    let patient = PartyRef::patient(PatientId::new());
    let h1 = location("H1", "Europe/Madrid");
    let inv = invoice(
        &patient,
        &h1,
        "H1-P-1",
        eur("100.00"),
        today() + Duration::days(10),
    );
    feed(&h, &envelope(&inv)).await;
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&patient, eur("60.00"), &[(&inv, eur("60.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let cn = envelope(&credit_note(&inv));
    feed(&h, &cn).await;
    feed(&h, &cn).await; // redelivered: no second effect
    let (_, page, _) = call(
        &app,
        get(
            &format!("/v1/receivables?invoice_id={}", inv.invoice_id),
            &t,
        ),
    )
    .await;
    let r = &page["items"][0];
    assert_eq!(r["status"], "cancelled");
    assert_eq!(amount(&r["paid"]), "0.00");
    assert_eq!(amount(&r["outstanding"]), "0.00");
    assert_eq!(r["cancellation"]["credit_note_number"], "CN-H1-P-1");
    let (_, detail, _) = call(
        &app,
        get(
            &format!("/v1/receivables/{}", r["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(detail["payments"].as_array().map(Vec::len), Some(1));
    assert_eq!(detail["payments"][0]["reversed"], true);
    assert_eq!(amount(&detail["payments"][0]["amount"]), "60.00");
    let (_, pay, _) = call(
        &app,
        get(
            &format!("/v1/payments/{}", p["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(amount(&pay["unallocated"]), "60.00");
    assert_eq!(pay["allocations"][0]["reversed"], true);
    let (_, bal, _) = call(&app, get(&balance_path(&patient), &t)).await;
    let e = &bal["currencies"][0];
    assert_eq!(amount(&e["invoiced"]), "100.00");
    assert_eq!(amount(&e["cancelled"]), "100.00");
    assert_eq!(amount(&e["paid"]), "0.00");
    assert_eq!(amount(&e["outstanding"]), "0.00");
    assert_eq!(amount(&e["unallocated_credit"]), "60.00");
    assert_eq!(e["open_receivables"], 0);
    // Nothing can be allocated to a cancelled invoice.
    let (s, err, _) = call(
        &app,
        post(
            &format!("/v1/payments/{}/allocations", p["id"].as_str().expect("id")),
            &t,
            &allocations(&[(&inv, eur("1.00"))]),
        ),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("invoice_cancelled"))
    );
    let (_, audit, _) = call(
        &app,
        get("/v1/collections/audit-events?entity_type=receivable", &t),
    )
    .await;
    let cancels = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "cancel")
        .count();
    assert_eq!(cancels, 1);
}

async fn a_credit_note_before_its_invoice_cancels_it_when_it_arrives(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let asisa = payer("ASISA");
    let inv = invoice(
        &asisa,
        &location("H1", "Europe/Madrid"),
        "H1-9",
        eur("12.34"),
        today(),
    );
    feed(&h, &envelope(&credit_note(&inv))).await;
    let (_, none, _) = call(&app, get("/v1/receivables", &t)).await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0));
    feed(&h, &envelope(&inv)).await;
    let (_, page, _) = call(&app, get("/v1/receivables", &t)).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["status"], "cancelled");
    assert_eq!(
        page["items"][0]["cancellation"]["credit_note_number"],
        "CN-H1-9"
    );
    let (s, err, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&asisa, eur("12.34"), &[(&inv, eur("12.34"))]),
        ),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("invoice_cancelled"))
    );
    let (_, bal, _) = call(&app, get(&balance_path(&asisa), &t)).await;
    assert_eq!(amount(&bal["currencies"][0]["cancelled"]), "12.34");
    assert_eq!(amount(&bal["currencies"][0]["outstanding"]), "0.00");
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

async fn readers_see_only_their_payer_and_locations_and_roles_are_checked(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let sanitas = payer("SANITAS");
    let inv = invoice(
        &sanitas,
        &location("H1", "Europe/Madrid"),
        "H1-20",
        eur("40.00"),
        today(),
    );
    let patient = PartyRef::patient(PatientId::new());
    let pinv = invoice(
        &patient,
        &location("H1", "Europe/Madrid"),
        "H1-21",
        eur("9.00"),
        today(),
    );
    feed(&h, &envelope(&inv)).await;
    feed(&h, &envelope(&pinv)).await;
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &admin(),
            &payment(&sanitas, eur("40.00"), &[(&inv, eur("40.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let p_path = format!("/v1/payments/{}", p["id"].as_str().expect("id"));
    let (_, page, _) = call(&app, get("/v1/receivables?party_kind=payer", &admin())).await;
    let r_path = format!(
        "/v1/receivables/{}",
        page["items"][0]["id"].as_str().expect("id")
    );

    // Its own payer sees its documents, and only those.
    let own = payer_token("SANITAS");
    for path in [&r_path, &p_path, &balance_path(&sanitas)] {
        let (s, body, _) = call(&app, get(path, &own)).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
    }
    let (_, list, _) = call(&app, get("/v1/receivables", &own)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (_, list, _) = call(&app, get("/v1/payments", &own)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (s, _, _) = call(&app, get(&balance_path(&patient), &own)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Another payer sees nothing of it.
    let stranger = payer_token("DKV");
    for path in [&r_path, &p_path, &balance_path(&sanitas)] {
        let (s, body, _) = call(&app, get(path, &stranger)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, list, _) = call(&app, get("/v1/receivables", &stranger)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let (_, list, _) = call(&app, get("/v1/payments", &stranger)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));

    // Location scope.
    let h2_collector = token(&["collector"], Some(&["H2"]));
    let (s, _, _) = call(&app, get(&r_path, &h2_collector)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list, _) = call(&app, get("/v1/receivables", &h2_collector)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let (s, pay, _) = call(&app, get(&p_path, &h2_collector)).await;
    assert_eq!(
        (s, pay["allocations"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    // An invoice outside its locations is unknown to a scoped collector.
    let (s, err, _) = call(
        &app,
        post(
            "/v1/payments",
            &h2_collector,
            &payment(&patient, eur("9.00"), &[(&pinv, eur("9.00"))]),
        ),
    )
    .await;
    assert_eq!(
        (s, err["errors"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_invoice"))
    );
    let h1_collector = token(&["collector"], Some(&["H1"]));
    let (s, _, _) = call(&app, get(&r_path, &h1_collector)).await;
    assert_eq!(s, StatusCode::OK);

    // Roles.
    for role in ["biller", "auditor", "payer", "integration"] {
        let (s, _, _) = call(
            &app,
            post(
                "/v1/payments",
                &token(&[role], None),
                &payment(&patient, eur("1.00"), &[]),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role} may not record payments");
    }
    let (s, _, _) = call(
        &app,
        post(
            &format!("{p_path}/allocations"),
            &token(&["biller"], None),
            &allocations(&[(&pinv, eur("1.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for path in [
        "/v1/receivables",
        "/v1/payments",
        r_path.as_str(),
        "/v1/collections/audit-events",
    ] {
        let (s, _, _) = call(&app, get(path, &token(&["integration"], None))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    for role in ["biller", "auditor", "billing_manager", "collector"] {
        let (s, _, _) = call(&app, get(&r_path, &token(&[role], None))).await;
        assert_eq!(s, StatusCode::OK, "{role} reads receivables");
    }
    let (s, _, _) = call(&app, get("/v1/collections/audit-events", &own)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(&app, get("/v1/receivables", "not-a-token")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[test]
fn the_openapi_document_names_every_collections_operation() {
    use utoipa::OpenApi as _;
    let doc = serde_json::to_value(carebill_collections::ApiDoc::openapi()).expect("json");
    let mut ids: Vec<&str> = doc["paths"]
        .as_object()
        .expect("paths")
        .values()
        .flat_map(|item| item.as_object().into_iter().flat_map(|o| o.values()))
        .filter_map(|op| op["operationId"].as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        vec![
            "allocate_payment",
            "create_payment",
            "get_balance",
            "get_payment",
            "get_receivable",
            "list_collections_audit_events",
            "list_payments",
            "list_receivables",
        ]
    );
    let detail = &doc["components"]["schemas"]["ReceivableDetail"];
    assert!(detail.to_string().contains("payments"), "{detail}");
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
