//! Receivables: overdue follows the location's day; a credit note cancels its invoice (also
//! when it arrives first) and returns allocated money to credit; a partial credit note reduces
//! it, returning to credit what was paid beyond what is left to pay.

use crate::common::*;
use actix_web::http::StatusCode;
use carebill_domain::Money;
use carebill_domain::events::{CreditNoteIssuedV1, InvoiceIssuedV1, PartyRef};
use carebill_domain::ids::PatientId;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, token};
use chrono::{Duration, Utc};
use serde_json::Value;

both_backends!(
    overdue_follows_the_due_date_in_the_locations_day,
    a_credit_note_cancels_its_invoice_and_returns_allocated_money_to_credit,
    a_credit_note_before_its_invoice_cancels_it_when_it_arrives,
    a_partial_credit_reduces_its_receivable_and_a_full_one_after_it_cancels,
    a_partial_credit_on_a_paid_invoice_returns_the_excess_to_credit,
);

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
    let (s, e, _) = call(
        &app,
        get(
            "/v1/payments?received_from=2026-11-02&received_to=2026-11-01",
            &t,
        ),
    )
    .await;
    assert_eq!(
        (s, e["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("received_to"))
    );
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

/// A partial credit note of `inv`: `credited` off it, leaving it billing `remaining`.
fn partial_credit_note(
    inv: &InvoiceIssuedV1,
    credited: &str,
    remaining: &str,
) -> CreditNoteIssuedV1 {
    CreditNoteIssuedV1 {
        credit_note_id: carebill_domain::ids::CreditNoteId::new(),
        number: format!("CN-{}-{credited}", inv.number),
        consumption_ids: vec![],
        total: eur(credited),
        partial: true,
        invoice_remaining: Some(eur(remaining)),
        reissue: false,
        reason: "one session not given".to_owned(),
        ..credit_note(inv)
    }
}

/// Cents of a money JSON.
fn cents(v: &Value) -> i64 {
    let m: Money = serde_json::from_value(v.clone()).expect("money");
    m.to_minor().expect("minor").0
}

/// The receivable of `inv` as listed.
async fn receivable_of(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    t: &str,
    inv: &InvoiceIssuedV1,
) -> Value {
    let (s, page, _) = call(
        app,
        get(&format!("/v1/receivables?invoice_id={}", inv.invoice_id), t),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"][0].clone()
}

/// (credited, paid, outstanding, status) of a receivable, and its figures add up to its total.
fn standing(r: &Value) -> (String, String, String, String) {
    if r["status"] != "cancelled" {
        assert_eq!(
            cents(&r["credited"]) + cents(&r["paid"]) + cents(&r["outstanding"]),
            cents(&r["total"]),
            "{r}"
        );
    }
    (
        amount(&r["credited"]).to_owned(),
        amount(&r["paid"]).to_owned(),
        amount(&r["outstanding"]).to_owned(),
        r["status"].as_str().expect("status").to_owned(),
    )
}

fn four(
    credited: &str,
    paid: &str,
    outstanding: &str,
    status: &str,
) -> (String, String, String, String) {
    (
        credited.to_owned(),
        paid.to_owned(),
        outstanding.to_owned(),
        status.to_owned(),
    )
}

/// A balance's figures in its one currency, asserting the identity the balance documents:
/// invoiced = cancelled + credited + paid + outstanding, to the cent.
fn reconciled(bal: &Value) -> Value {
    let e = &bal["currencies"][0];
    assert_eq!(
        cents(&e["invoiced"]),
        cents(&e["cancelled"])
            + cents(&e["credited"])
            + cents(&e["paid"])
            + cents(&e["outstanding"]),
        "{e}"
    );
    e.clone()
}

async fn a_partial_credit_reduces_its_receivable_and_a_full_one_after_it_cancels(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["billing_manager"], None);
    let patient = PartyRef::patient(PatientId::new());
    let h1 = location("H1", "Europe/Madrid");
    let inv = invoice(
        &patient,
        &h1,
        "H1-P-7",
        eur("100.00"),
        today() + Duration::days(10),
    );
    let late = invoice(
        &patient,
        &h1,
        "H1-P-8",
        eur("40.00"),
        today() - Duration::days(3),
    );
    feed(&h, &envelope(&inv)).await;
    feed(&h, &envelope(&late)).await;
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&patient, eur("30.00"), &[(&inv, eur("30.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");

    // 20.00 credited: still partly paid, by what is left.
    let first = partial_credit_note(&inv, "20.00", "80.00");
    let env = envelope(&first);
    feed(&h, &env).await;
    feed(&h, &env).await; // redelivered: no second effect
    assert_eq!(
        standing(&receivable_of(&app, &t, &inv).await),
        four("20.00", "30.00", "50.00", "partially_paid")
    );
    // 10.00 more; then both again under new envelopes, the older last: nothing changes.
    let second = partial_credit_note(&inv, "10.00", "70.00");
    feed(&h, &envelope(&second)).await;
    feed(&h, &envelope(&second)).await;
    feed(&h, &envelope(&first)).await;
    let r = receivable_of(&app, &t, &inv).await;
    assert_eq!(
        standing(&r),
        four("30.00", "30.00", "40.00", "partially_paid")
    );
    // An overdue invoice partially credited is overdue by what is left; credited to the full
    // total by partial credit notes, nothing is owed: paid.
    feed(&h, &envelope(&partial_credit_note(&late, "15.00", "25.00"))).await;
    assert_eq!(
        standing(&receivable_of(&app, &t, &late).await),
        four("15.00", "0.00", "25.00", "overdue")
    );
    let e = reconciled(&call(&app, get(&balance_path(&patient), &t)).await.1);
    assert_eq!(
        (
            amount(&e["credited"]),
            amount(&e["outstanding"]),
            amount(&e["overdue"])
        ),
        ("45.00", "65.00", "25.00")
    );
    feed(&h, &envelope(&partial_credit_note(&late, "25.00", "0.00"))).await;
    assert_eq!(
        standing(&receivable_of(&app, &t, &late).await),
        four("40.00", "0.00", "0.00", "paid")
    );
    // No more can be allocated than what is left.
    let pid = p["id"].as_str().expect("id").to_owned();
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&patient, eur("40.01"), &[(&inv, eur("40.01"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    // The full credit note after the partial ones (what was left: 70.00) cancels, as ever.
    let mut full = credit_note(&inv);
    full.total = eur("70.00");
    full.invoice_remaining = Some(eur("0.00"));
    feed(&h, &envelope(&full)).await;
    let r = receivable_of(&app, &t, &inv).await;
    assert_eq!(standing(&r), four("30.00", "0.00", "0.00", "cancelled"));
    let (_, pay, _) = call(&app, get(&format!("/v1/payments/{pid}"), &t)).await;
    assert_eq!(amount(&pay["unallocated"]), "30.00");
    let e = reconciled(&call(&app, get(&balance_path(&patient), &t)).await.1);
    assert_eq!(
        (
            amount(&e["invoiced"]),
            amount(&e["cancelled"]),
            amount(&e["credited"]),
            amount(&e["paid"]),
            amount(&e["outstanding"]),
            amount(&e["unallocated_credit"]),
        ),
        ("140.00", "100.00", "40.00", "0.00", "0.00", "30.00")
    );
    assert_eq!(e["open_receivables"], 0);
}

async fn a_partial_credit_on_a_paid_invoice_returns_the_excess_to_credit(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let dkv = payer("DKV");
    let h1 = location("H1", "Europe/Madrid");
    let inv = invoice(
        &dkv,
        &h1,
        "H1-20",
        eur("100.00"),
        today() + Duration::days(30),
    );
    feed(&h, &envelope(&inv)).await;
    let mut ids = Vec::new();
    for part in ["60.00", "40.00"] {
        let (s, p, _) = call(
            &app,
            post(
                "/v1/payments",
                &t,
                &payment(&dkv, eur(part), &[(&inv, eur(part))]),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        ids.push(p["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(
        standing(&receivable_of(&app, &t, &inv).await),
        four("0.00", "100.00", "0.00", "paid")
    );

    // 50.00 credited on a paid invoice: 50.00 paid too much goes back to credit, the newest
    // payment's first (all of its 40.00), then 10.00 of the older one, whose other 50.00 stays
    // allocated (its allocation reversed and made again for 50.00).
    let cn = envelope(&partial_credit_note(&inv, "50.00", "50.00"));
    feed(&h, &cn).await;
    let r = receivable_of(&app, &t, &inv).await;
    assert_eq!(standing(&r), four("50.00", "50.00", "0.00", "paid"));
    let unallocated = |p: &Value| amount(&p["unallocated"]).to_owned();
    let (_, older, _) = call(&app, get(&format!("/v1/payments/{}", ids[0]), &t)).await;
    let (_, newer, _) = call(&app, get(&format!("/v1/payments/{}", ids[1]), &t)).await;
    assert_eq!(
        (unallocated(&older), unallocated(&newer)),
        ("10.00".to_owned(), "40.00".to_owned())
    );
    let (_, detail, _) = call(
        &app,
        get(
            &format!("/v1/receivables/{}", r["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    let history: Vec<(String, bool)> = detail["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|a| (amount(&a["amount"]).to_owned(), a["reversed"] == true))
        .collect();
    assert_eq!(
        history,
        vec![
            ("60.00".to_owned(), true),
            ("40.00".to_owned(), true),
            ("50.00".to_owned(), false)
        ]
    );
    let e = reconciled(&call(&app, get(&balance_path(&dkv), &t)).await.1);
    assert_eq!(
        (
            amount(&e["credited"]),
            amount(&e["paid"]),
            amount(&e["unallocated_credit"])
        ),
        ("50.00", "50.00", "50.00")
    );
    // Replayed (the inbox drops it; a new envelope changes nothing either).
    feed(&h, &cn).await;
    feed(
        &h,
        &envelope(&cn.payload::<CreditNoteIssuedV1>().expect("payload")),
    )
    .await;
    let e = reconciled(&call(&app, get(&balance_path(&dkv), &t)).await.1);
    assert_eq!(
        (
            amount(&e["credited"]),
            amount(&e["paid"]),
            amount(&e["unallocated_credit"])
        ),
        ("50.00", "50.00", "50.00")
    );

    // A partial credit note that arrives before its invoice is applied when it comes.
    let second = invoice(
        &dkv,
        &h1,
        "H1-21",
        eur("40.00"),
        today() + Duration::days(30),
    );
    feed(
        &h,
        &envelope(&partial_credit_note(&second, "15.00", "25.00")),
    )
    .await;
    feed(&h, &envelope(&second)).await;
    assert_eq!(
        standing(&receivable_of(&app, &t, &second).await),
        four("15.00", "0.00", "25.00", "open")
    );
    // One that does not say what its invoice still bills is refused.
    let mut vague = partial_credit_note(&second, "1.00", "24.00");
    vague.invoice_remaining = None;
    assert!((h.handler)(envelope(&vague)).await.is_err());

    // The full credit note after the partial one cancels: the 50.00 still paid goes to credit.
    let mut full = credit_note(&inv);
    full.total = eur("50.00");
    feed(&h, &envelope(&full)).await;
    assert_eq!(
        standing(&receivable_of(&app, &t, &inv).await),
        four("50.00", "0.00", "0.00", "cancelled")
    );
    let e = reconciled(&call(&app, get(&balance_path(&dkv), &t)).await.1);
    assert_eq!(
        (
            amount(&e["invoiced"]),
            amount(&e["cancelled"]),
            amount(&e["credited"]),
            amount(&e["paid"]),
            amount(&e["outstanding"]),
            amount(&e["unallocated_credit"]),
        ),
        ("140.00", "100.00", "15.00", "0.00", "25.00", "100.00")
    );
}
