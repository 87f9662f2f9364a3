//! Money in and out beyond plain payments: deposits applied to the invoices that come, split
//! payments, refunds of credit and write-offs, each reflected in the receivable and the balance
//! to the cent; bad input refused with nothing changed; replays change nothing.

use crate::common::*;
use actix_web::http::StatusCode;
use carebill_domain::events::{RefundIssuedV1, WriteOffRecordedV1};
use carebill_domain::ids::EpisodeId;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, put, token};
use chrono::Duration;
use serde_json::{Value, json};

both_backends!(
    a_deposit_pays_its_episodes_invoice_when_it_arrives_and_the_rest_is_refundable,
    a_split_payment_adds_up_and_one_invoice_takes_several_methods,
    write_offs_take_what_is_left_and_only_billing_managers_make_them,
    bad_refunds_tenders_and_write_offs_are_refused_and_change_nothing,
    racing_refunds_allocations_and_write_offs_never_take_more_than_there_is,
);

fn deposit(
    party: &carebill_domain::events::PartyRef,
    amount: &str,
    episode: Option<EpisodeId>,
) -> Value {
    let mut body = json!({
        "party": {"kind": party.kind, "id": party.id},
        "kind": "prepayment",
        "amount": eur(amount),
        "method": "card",
        "received_on": today(),
    });
    if let Some(e) = episode {
        body["episode_id"] = json!(e);
    }
    body
}

async fn receivable_of(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    t: &str,
    inv: &carebill_domain::events::InvoiceIssuedV1,
) -> Value {
    let (s, page, _) = call(
        app,
        get(&format!("/v1/receivables?invoice_id={}", inv.invoice_id), t),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let r = page["items"][0].clone();
    assert_receivable_identity(&r);
    r
}

async fn a_deposit_pays_its_episodes_invoice_when_it_arrives_and_the_rest_is_refundable(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let ana = patient();
    let h1 = location("H1", "Europe/Madrid");
    let (episode, other_episode) = (EpisodeId::new(), EpisodeId::new());

    // Deposits before any invoice: one for the episode, one for none, one for another episode.
    let mut ids = Vec::new();
    for (sum, ep) in [
        ("200.00", Some(episode)),
        ("50.00", None),
        ("30.00", Some(other_episode)),
    ] {
        let (s, p, _) = call(&app, post("/v1/payments", &t, &deposit(&ana, sum, ep))).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        assert_eq!(p["kind"], "prepayment");
        assert_eq!(amount(&p["unallocated"]), sum);
        ids.push(p["id"].as_str().expect("id").to_owned());
    }
    let (_, bal, _) = call(&app, get(&balance_path(&ana), &t)).await;
    assert_eq!(amount(&bal["currencies"][0]["prepaid"]), "280.00");
    assert_balance_identities(&bal);

    // The episode's invoice arrives: its deposit pays it. Delivered twice: paid once.
    let due = today() + Duration::days(30);
    let mut first = invoice(&ana, &h1, "H1-P-1", eur("120.00"), due);
    first.episode_id = episode;
    let env = envelope(&first);
    feed(&h, &env).await;
    feed(&h, &env).await;
    let r = receivable_of(&app, &t, &first).await;
    assert_eq!(
        (r["status"].as_str(), amount(&r["paid"])),
        (Some("paid"), "120.00")
    );
    let (_, p0, _) = call(&app, get(&format!("/v1/payments/{}", ids[0]), &t)).await;
    assert_eq!(amount(&p0["unallocated"]), "80.00");
    assert_eq!(p0["allocations"].as_array().map(Vec::len), Some(1));

    // An invoice of a third episode takes only the deposit for no episode; the rest of the
    // first deposit goes to it by hand.
    let mut second = invoice(&ana, &h1, "H1-P-2", eur("70.00"), due);
    second.episode_id = EpisodeId::new();
    feed(&h, &envelope(&second)).await;
    let r = receivable_of(&app, &t, &second).await;
    assert_eq!(
        (r["status"].as_str(), amount(&r["outstanding"])),
        (Some("partially_paid"), "20.00")
    );
    let (s, p0, _) = call(
        &app,
        post(
            &format!("/v1/payments/{}/allocations", ids[0]),
            &t,
            &allocations(&[(&second, eur("20.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p0}");
    assert_eq!(amount(&p0["unallocated"]), "60.00");
    let r = receivable_of(&app, &t, &second).await;
    assert_eq!(r["status"], "paid");

    // The rest is refunded: never above the credit.
    let refund = |amount: &str| json!({"amount": eur(amount), "method": "card", "reference": "RF-1", "reason": "treatment cancelled"});
    let (s, err, _) = call(
        &app,
        post(
            &format!("/v1/payments/{}/refunds", ids[0]),
            &t,
            &refund("60.01"),
        ),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("exceeds_credit")),
        "{err}"
    );
    assert_eq!(err["errors"][0]["field"], "amount");
    let (s, p0, _) = call(
        &app,
        post(
            &format!("/v1/payments/{}/refunds", ids[0]),
            &t,
            &refund("60.00"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p0}");
    assert_eq!(amount(&p0["unallocated"]), "0.00");
    assert_eq!(amount(&p0["refunded"]), "60.00");
    assert_eq!(p0["refunds"][0]["reason"], "treatment cancelled");
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/payments/{}/refunds", ids[0]),
            &t,
            &refund("0.01"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let refunds: Vec<RefundIssuedV1> = outbox_events(&h).await;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].amount, eur("60.00"));
    assert_eq!(refunds[0].credit_left, eur("0.00"));
    assert_eq!(refunds[0].party.id, ana.id);

    // The balance: 280 received, 190 allocated, 60 refunded, 30 left (the other episode's).
    let (_, bal, _) = call(&app, get(&balance_path(&ana), &t)).await;
    let c = &bal["currencies"][0];
    assert_eq!(
        [
            &c["received"],
            &c["allocated"],
            &c["refunded"],
            &c["unallocated_credit"],
            &c["prepaid"]
        ]
        .map(amount),
        ["280.00", "190.00", "60.00", "30.00", "30.00"]
    );
    assert_eq!(amount(&c["outstanding"]), "0.00");
    assert_balance_identities(&bal);

    // The party's history: what was received, where it went, what was paid back; as CSV too.
    let history = format!("{}/history", balance_path(&ana));
    let (s, hist, _) = call(&app, get(&history, &t)).await;
    assert_eq!(s, StatusCode::OK, "{hist}");
    let kinds: Vec<(&str, &str)> = hist["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| (e["kind"].as_str().unwrap_or("?"), amount(&e["amount"])))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("received", "200.00"),
            ("received", "50.00"),
            ("received", "30.00"),
            ("allocated", "120.00"),
            ("allocated", "50.00"),
            ("allocated", "20.00"),
            ("refunded", "60.00"),
        ]
    );
    assert_eq!(hist["entries"][4]["invoice_number"], "H1-P-2");
    assert_eq!(hist["entries"][6]["reason"], "treatment cancelled");
    let (s, text, ctype) = call_text(&app, get(&format!("{history}?format=csv"), &t)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ctype.unwrap_or_default().starts_with("text/csv"));
    assert_eq!(text.lines().count(), 8, "{text}");
    assert!(text.starts_with(
        "at,day,id,kind,amount,currency,payment_id,invoice_number,detail,reference,reason\n"
    ));
    for path in [
        format!("/v1/balances/patient/{}/history", uuid::Uuid::now_v7()),
        format!("{history}?format=xml"),
        format!("{history}?colour=red"),
    ] {
        let (s, _, _) = call(&app, get(&path, &t)).await;
        assert!(s.is_client_error(), "{path}: {s}");
    }
    let (s, _, _) = call(&app, get(&history, &payer_token("SANITAS"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A prepayment is a kind of payment: the list filters by it.
    let (_, list, _) = call(&app, get("/v1/payments?kind=prepayment", &t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(3));
    let (_, list, _) = call(&app, get("/v1/payments?kind=payment", &t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
}

async fn a_split_payment_adds_up_and_one_invoice_takes_several_methods(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let ana = patient();
    let h1 = location("H1", "Europe/Madrid");
    let inv = invoice(
        &ana,
        &h1,
        "H1-S-1",
        eur("150.00"),
        today() + Duration::days(10),
    );
    feed(&h, &envelope(&inv)).await;
    let (s, split, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &json!({
                "party": {"kind": "patient", "id": ana.id},
                "amount": eur("100.00"),
                "tenders": [
                    {"method": "card", "amount": eur("60.00"), "reference": "SLIP-9"},
                    {"method": "cash", "amount": eur("30.00")},
                    {"method": "voucher", "amount": eur("10.00"), "reference": "V-123"},
                ],
                "received_on": today(),
                "allocations": [{"invoice_id": inv.invoice_id, "amount": eur("100.00")}],
            }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{split}");
    assert_eq!(split["method"], "split");
    let tenders = split["tenders"].as_array().expect("tenders");
    assert_eq!(
        tenders
            .iter()
            .map(|t| (t["method"].as_str().unwrap_or(""), amount(&t["amount"])))
            .collect::<Vec<_>>(),
        vec![("card", "60.00"), ("cash", "30.00"), ("voucher", "10.00")]
    );
    assert_eq!(tenders[2]["reference"], "V-123");
    let (s, rest, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&ana, eur("50.00"), &[(&inv, eur("50.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{rest}");
    let r = receivable_of(&app, &t, &inv).await;
    assert_eq!(r["status"], "paid");
    let id = r["id"].as_str().expect("id");
    let (_, detail, _) = call(&app, get(&format!("/v1/receivables/{id}"), &t)).await;
    let methods: Vec<&str> = detail["payments"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|p| p["method"].as_str())
        .collect();
    assert_eq!(methods, vec!["split", "transfer"]);
    // Tenders of one method name it.
    let (s, cards, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &json!({
                "party": {"kind": "patient", "id": ana.id},
                "amount": eur("5.00"),
                "tenders": [{"method": "card", "amount": eur("2.00")}, {"method": "card", "amount": eur("3.00")}],
                "received_on": today(),
            }),
        ),
    )
    .await;
    assert_eq!(
        (s, cards["method"].as_str()),
        (StatusCode::CREATED, Some("card")),
        "{cards}"
    );
    let (_, bal, _) = call(&app, get(&balance_path(&ana), &t)).await;
    assert_eq!(amount(&bal["currencies"][0]["unallocated_credit"]), "5.00");
    assert_balance_identities(&bal);
}

async fn write_offs_take_what_is_left_and_only_billing_managers_make_them(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let collector = token(&["collector"], None);
    let biller = token(&["biller"], None);
    let manager = token(&["billing_manager"], None);
    let sanitas = payer("SANITAS");
    let h1 = location("H1", "Europe/Madrid");
    let due = today() + Duration::days(30);
    let small = invoice(&sanitas, &h1, "H1-W-1", eur("100.00"), due);
    let big = invoice(&sanitas, &h1, "H1-W-2", eur("300.00"), due);
    let credited = invoice(&sanitas, &h1, "H1-W-3", eur("100.00"), due);
    let cancelled = invoice(&sanitas, &h1, "H1-W-4", eur("10.00"), due);
    for i in [&small, &big, &credited, &cancelled] {
        feed(&h, &envelope(i)).await;
    }
    feed(&h, &envelope(&credit_note(&cancelled))).await;
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payments",
            &collector,
            &payment(&sanitas, eur("99.50"), &[(&small, eur("99.50"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let path = |r: &Value| {
        format!(
            "/v1/receivables/{}/write-offs",
            r["id"].as_str().unwrap_or("?")
        )
    };
    let r_small = receivable_of(&app, &manager, &small).await;
    let body = |kind: &str, amount: Option<&str>| {
        let mut b = json!({"kind": kind, "reason": "not worth collecting"});
        if let Some(a) = amount {
            b["amount"] = json!(eur(a));
        }
        b
    };

    // Only billing managers (and admins) write off; a biller or a collector may not.
    for who in [&biller, &collector] {
        let (s, err, _) = call(&app, post(&path(&r_small), who, &body("bad_debt", None))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{err}");
    }
    // No threshold for euros yet: no small-balance write-off; then one of 1.00.
    let (s, err, _) = call(
        &app,
        post(&path(&r_small), &manager, &body("small_balance", None)),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("above_threshold")),
        "{err}"
    );
    assert_eq!(err["errors"][0]["field"], "kind");
    let (s, _, _) = call(
        &app,
        put(
            "/v1/collections/write-off-thresholds/EUR",
            &biller,
            &json!({"max": eur("1.00")}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, th, _) = call(
        &app,
        put(
            "/v1/collections/write-off-thresholds/EUR",
            &manager,
            &json!({"max": eur("1.00")}),
        ),
    )
    .await;
    assert_eq!((s, amount(&th["max"])), (StatusCode::OK, "1.00"), "{th}");
    let (_, all, _) = call(&app, get("/v1/collections/write-off-thresholds", &biller)).await;
    assert_eq!(all[0]["currency"], "EUR");
    let (s, w, _) = call(
        &app,
        post(&path(&r_small), &manager, &body("small_balance", None)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
    assert_eq!(
        (amount(&w["amount"]), amount(&w["outstanding"])),
        ("0.50", "0.00")
    );
    let r = receivable_of(&app, &manager, &small).await;
    assert_eq!(
        (r["status"].as_str(), amount(&r["written_off"])),
        (Some("written_off"), "0.50")
    );
    let (_, detail, _) = call(
        &app,
        get(
            &format!("/v1/receivables/{}", r["id"].as_str().unwrap_or("?")),
            &manager,
        ),
    )
    .await;
    assert_eq!(detail["write_offs"][0]["kind"], "small_balance");
    let (_, listed, _) = call(&app, get("/v1/receivables?status=written_off", &manager)).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));

    // A large balance: not small; part bad debt, the rest charity (by an admin).
    let r_big = receivable_of(&app, &manager, &big).await;
    let (s, err, _) = call(
        &app,
        post(&path(&r_big), &manager, &body("small_balance", None)),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("above_threshold"))
    );
    let (s, err, _) = call(
        &app,
        post(&path(&r_big), &manager, &body("bad_debt", Some("300.01"))),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("exceeds_outstanding")
        ),
        "{err}"
    );
    assert_eq!(err["errors"][0]["field"], "amount");
    let (s, w, _) = call(
        &app,
        post(&path(&r_big), &manager, &body("bad_debt", Some("100.00"))),
    )
    .await;
    assert_eq!(
        (s, amount(&w["outstanding"])),
        (StatusCode::CREATED, "200.00"),
        "{w}"
    );
    let r = receivable_of(&app, &manager, &big).await;
    assert_eq!(r["status"], "open");
    let (s, _, _) = call(&app, post(&path(&r_big), &admin(), &body("charity", None))).await;
    assert_eq!(s, StatusCode::CREATED);
    let r = receivable_of(&app, &manager, &big).await;
    assert_eq!(
        (r["status"].as_str(), amount(&r["written_off"])),
        (Some("written_off"), "300.00")
    );
    let (s, _, _) = call(&app, post(&path(&r_big), &manager, &body("charity", None))).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "nothing left to write off"
    );

    // A cancelled invoice owes nothing to write off.
    let r_cancelled = receivable_of(&app, &manager, &cancelled).await;
    let (s, err, _) = call(
        &app,
        post(&path(&r_cancelled), &manager, &body("bad_debt", None)),
    )
    .await;
    assert_eq!(
        (s, err["code"].as_str()),
        (StatusCode::CONFLICT, Some("invoice_cancelled"))
    );

    // A partial credit note after a write-off takes the write-off back first; again: nothing.
    let r_cr = receivable_of(&app, &manager, &credited).await;
    let (s, _, _) = call(
        &app,
        post(&path(&r_cr), &manager, &body("bad_debt", Some("40.00"))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let mut partial = credit_note(&credited);
    partial.partial = true;
    partial.total = eur("70.00");
    partial.invoice_remaining = Some(eur("30.00"));
    partial.consumption_ids = Vec::new();
    let env = envelope(&partial);
    feed(&h, &env).await;
    feed(&h, &env).await;
    let r = receivable_of(&app, &manager, &credited).await;
    assert_eq!(
        [&r["credited"], &r["written_off"], &r["outstanding"]].map(amount),
        ["70.00", "30.00", "0.00"]
    );
    assert_eq!(r["status"], "written_off");

    // A full credit note cancels a written-off invoice: it counts as cancelled, whole.
    let big_note = credit_note(&big);
    feed(&h, &envelope(&big_note)).await;
    let r = receivable_of(&app, &manager, &big).await;
    assert_eq!(
        (r["status"].as_str(), amount(&r["written_off"])),
        (Some("cancelled"), "0.00")
    );

    // Events, one per write-off; the balance to the cent.
    let events: Vec<WriteOffRecordedV1> = outbox_events(&h).await;
    assert_eq!(events.len(), 4);
    assert_eq!(events[0].amount, eur("0.50"));
    assert_eq!(events[0].invoice_number, "H1-W-1");
    assert_eq!(events[0].party.payer_code.as_deref(), Some("SANITAS"));
    let (_, bal, _) = call(&app, get(&balance_path(&sanitas), &manager)).await;
    let c = &bal["currencies"][0];
    assert_eq!(
        [
            &c["invoiced"],
            &c["cancelled"],
            &c["credited"],
            &c["paid"],
            &c["written_off"],
            &c["outstanding"]
        ]
        .map(amount),
        ["510.00", "310.00", "70.00", "99.50", "30.50", "0.00"]
    );
    assert_balance_identities(&bal);
    let (_, audit, _) = call(
        &app,
        get(
            "/v1/collections/audit-events?entity_type=receivable",
            &manager,
        ),
    )
    .await;
    let write_offs = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "write_off")
        .count();
    assert_eq!(write_offs, 4);
}

async fn bad_refunds_tenders_and_write_offs_are_refused_and_change_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let manager = token(&["billing_manager"], None);
    let mapfre = payer("MAPFRE");
    let h1 = location("H1", "Europe/Madrid");
    let inv = invoice(
        &mapfre,
        &h1,
        "H1-B-1",
        eur("100.00"),
        today() + Duration::days(5),
    );
    feed(&h, &envelope(&inv)).await;
    let (s, p, _) = call(
        &app,
        post("/v1/payments", &t, &payment(&mapfre, eur("20.00"), &[])),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let p_id = p["id"].as_str().expect("id").to_owned();
    let r = receivable_of(&app, &t, &inv).await;
    let r_id = r["id"].as_str().expect("id").to_owned();
    let snapshot = || async {
        let (_, bal, _) = call(&app, get(&balance_path(&mapfre), &t)).await;
        let (_, pays, _) = call(&app, get("/v1/payments", &t)).await;
        let (_, recs, _) = call(&app, get("/v1/receivables", &t)).await;
        let refunds: Vec<RefundIssuedV1> = outbox_events(&h).await;
        let write_offs: Vec<WriteOffRecordedV1> = outbox_events(&h).await;
        (bal, pays, recs, refunds.len(), write_offs.len())
    };
    let before = snapshot().await;
    let tendered = |tenders: Value, method: Option<&str>| {
        let mut b = payment(&mapfre, eur("10.00"), &[]);
        b["tenders"] = tenders;
        match method {
            Some(m) => b["method"] = json!(m),
            None => {
                b.as_object_mut().map(|o| o.remove("method"));
            }
        }
        b
    };
    let refund = |body: Value| post(&format!("/v1/payments/{p_id}/refunds"), &t, &body);
    let write_off = |body: Value| {
        post(
            &format!("/v1/receivables/{r_id}/write-offs"),
            &manager,
            &body,
        )
    };
    let cases: Vec<(actix_web::test::TestRequest, StatusCode, &str, &str)> = vec![
        (
            post(
                "/v1/payments",
                &t,
                &tendered(
                    json!([{"method": "card", "amount": eur("6.00")}, {"method": "cash", "amount": eur("3.99")}]),
                    None,
                ),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "tenders_do_not_add_up",
            "tenders",
        ),
        (
            post(
                "/v1/payments",
                &t,
                &tendered(
                    json!([{"method": "card", "amount": eur("10.00")}, {"method": "cash", "amount": eur("0.00")}]),
                    Some("split"),
                ),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_positive",
            "tenders.1.amount",
        ),
        (
            post(
                "/v1/payments",
                &t,
                &tendered(
                    json!([{"method": "card", "amount": money_in("10.00", "USD")}]),
                    None,
                ),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "currency_mismatch",
            "tenders.0.amount.currency",
        ),
        (
            post(
                "/v1/payments",
                &t,
                &tendered(json!([{"method": "card!", "amount": eur("10.00")}]), None),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "tenders.0.method",
        ),
        (
            post("/v1/payments", &t, &tendered(json!([]), None)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
            "method",
        ),
        (
            post("/v1/payments", &t, &{
                let mut b = payment(&mapfre, eur("10.00"), &[]);
                b["episode_id"] = json!(EpisodeId::new());
                b
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "episode_id",
        ),
        (
            refund(json!({"amount": eur("20.01"), "method": "transfer", "reason": "overpaid"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "exceeds_credit",
            "amount",
        ),
        (
            refund(json!({"amount": eur("0.00"), "method": "transfer", "reason": "overpaid"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_positive",
            "amount.amount",
        ),
        (
            refund(
                json!({"amount": money_in("1.00", "USD"), "method": "transfer", "reason": "overpaid"}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "currency_mismatch",
            "amount.currency",
        ),
        (
            refund(json!({"amount": eur("1.00"), "method": "transfer", "reason": "  "})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
            "reason",
        ),
        (
            refund(
                json!({"amount": eur("1.00"), "method": "transfer", "reason": "x", "refunded_on": today() + Duration::days(3)}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "in_future",
            "refunded_on",
        ),
        (
            write_off(json!({"kind": "bad_debt", "amount": eur("100.01"), "reason": "gone"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "exceeds_outstanding",
            "amount",
        ),
        (
            write_off(
                json!({"kind": "bad_debt", "amount": money_in("1.00", "USD"), "reason": "gone"}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "currency_mismatch",
            "amount.currency",
        ),
        (
            write_off(json!({"kind": "bad_debt", "amount": eur("-1.00"), "reason": "gone"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_positive",
            "amount.amount",
        ),
        (
            write_off(json!({"kind": "bad_debt", "reason": ""})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "required",
            "reason",
        ),
    ];
    for (req, status, code, field) in cases {
        let (s, err, ctype) = call(&app, req).await;
        assert_eq!(s, status, "{code} {field}: {err}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"));
        let errors = err["errors"].as_array().expect("field errors");
        assert!(
            errors
                .iter()
                .any(|e| e["code"] == code && e["field"] == field),
            "{code} at {field} expected in {err}"
        );
    }
    // Unknown fields, kinds and ids: 4xx, never 500.
    for req in [
        refund(json!({"amount": eur("1.00"), "method": "transfer", "reason": "x", "why": "?"})),
        write_off(json!({"kind": "forgiven", "reason": "x"})),
        write_off(json!({"kind": "charity", "reason": "x", "extra": 1})),
        post(
            "/v1/payments",
            &t,
            &tendered(
                json!([{"method": "card", "amount": eur("10.00"), "tip": 1}]),
                None,
            ),
        ),
        post(
            "/v1/payments/not-a-uuid/refunds",
            &t,
            &json!({"amount": eur("1.00"), "method": "x", "reason": "x"}),
        ),
        post(
            &format!("/v1/payments/{}/refunds", uuid::Uuid::now_v7()),
            &t,
            &json!({"amount": eur("1.00"), "method": "x", "reason": "x"}),
        ),
        post(
            &format!("/v1/receivables/{}/write-offs", uuid::Uuid::now_v7()),
            &manager,
            &json!({"kind": "charity", "reason": "x"}),
        ),
        put(
            "/v1/collections/write-off-thresholds/EUR",
            &manager,
            &json!({"max": money_in("1.00", "USD")}),
        ),
        put(
            "/v1/collections/write-off-thresholds/EUR",
            &manager,
            &json!({"max": eur("-1.00")}),
        ),
        put(
            "/v1/collections/write-off-thresholds/XYZW",
            &manager,
            &json!({"max": eur("1.00")}),
        ),
    ] {
        let (s, err, _) = call(&app, req).await;
        assert!(s.is_client_error(), "{s}: {err}");
    }
    assert_eq!(snapshot().await, before);
}

async fn racing_refunds_allocations_and_write_offs_never_take_more_than_there_is(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let manager = token(&["billing_manager"], None);
    let party = payer("SANITAS");
    let h1 = location("H1", "Europe/Madrid");
    let inv = invoice(
        &party,
        &h1,
        "H1-R-1",
        eur("60.00"),
        today() + Duration::days(5),
    );
    let other = invoice(
        &party,
        &h1,
        "H1-R-2",
        eur("80.00"),
        today() + Duration::days(5),
    );
    feed(&h, &envelope(&inv)).await;
    feed(&h, &envelope(&other)).await;
    let (_, p, _) = call(
        &app,
        post("/v1/payments", &t, &payment(&party, eur("100.00"), &[])),
    )
    .await;
    let p_id = p["id"].as_str().expect("id").to_owned();
    // 60 refunded and 60 allocated at once, of a credit of 100: one of them is refused.
    let refund = json!({"amount": eur("60.00"), "method": "transfer", "reason": "asked back"});
    let (one, two) = tokio::join!(
        call(
            &app,
            post(&format!("/v1/payments/{p_id}/refunds"), &t, &refund)
        ),
        call(
            &app,
            post(
                &format!("/v1/payments/{p_id}/allocations"),
                &t,
                &allocations(&[(&inv, eur("60.00"))]),
            )
        ),
    );
    let ok = [one.0, two.0].iter().filter(|s| s.is_success()).count();
    assert_eq!(ok, 1, "{} / {}", one.1, two.1);
    assert!([one.0, two.0].contains(&StatusCode::UNPROCESSABLE_ENTITY));
    let (_, bal, _) = call(&app, get(&balance_path(&party), &t)).await;
    assert_eq!(amount(&bal["currencies"][0]["unallocated_credit"]), "40.00");
    assert_balance_identities(&bal);
    // Two write-offs of everything the other invoice owes: one is made.
    let r = receivable_of(&app, &t, &other).await;
    let path = format!(
        "/v1/receivables/{}/write-offs",
        r["id"].as_str().expect("id")
    );
    let body = json!({"kind": "bad_debt", "reason": "insolvent"});
    let (one, two) = tokio::join!(
        call(&app, post(&path, &manager, &body)),
        call(&app, post(&path, &manager, &body)),
    );
    let mut statuses = vec![one.0, two.0];
    statuses.sort();
    assert_eq!(
        statuses,
        vec![StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY]
    );
    let r = receivable_of(&app, &t, &other).await;
    assert_eq!(amount(&r["written_off"]), "80.00");
    let written: Vec<WriteOffRecordedV1> = outbox_events(&h).await;
    assert_eq!(written.len(), 1);
}
