//! Getting paid: payment plans (installments listed or generated to the cent, filled in due
//! order by payments, completed, broken after missed installments, cancelled), disputes,
//! adjustments and days sales outstanding, scoped like receivables.

use crate::common::*;
use actix_web::http::StatusCode;
use carebill_domain::events::{
    AdjustmentRecordedV1, InvoiceIssuedV1, PartyRef, PlanBrokenV1, PlanCompletedV1, PlanCreatedV1,
};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, fields, get, post, token};
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

both_backends!(
    a_plan_splits_what_is_owed_into_installments_that_add_up_to_the_cent,
    payments_fill_installments_in_due_order_and_complete_the_plan,
    missed_installments_beyond_the_allowance_break_the_plan_once,
    a_cancelled_plan_gives_its_receivables_back_and_plans_are_scoped,
    disputes_open_and_resolve_one_at_a_time,
    adjustments_raise_and_lower_what_is_owed_never_below_zero,
    dso_divides_what_is_owed_by_what_was_invoiced_per_payer_and_location,
);

fn day(d: i64) -> NaiveDate {
    today() + Duration::days(d)
}

fn generated(party: &PartyRef, count: u32, first: NaiveDate, every: &str) -> Value {
    json!({
        "party_kind": party.kind, "party_id": party.id, "currency": "EUR",
        "count": count, "first_due_on": first, "every": every,
    })
}

fn amounts(plan: &Value) -> Vec<(String, String, String)> {
    plan["installments"]
        .as_array()
        .expect("installments")
        .iter()
        .map(|i| {
            (
                amount(&i["amount"]).to_owned(),
                amount(&i["paid"]).to_owned(),
                i["status"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect()
}

fn triple(a: &str, p: &str, s: &str) -> (String, String, String) {
    (a.to_owned(), p.to_owned(), s.to_owned())
}

async fn issued(h: &Harness, invoices: &[&InvoiceIssuedV1]) {
    for i in invoices {
        feed(h, &envelope(*i)).await;
    }
}

async fn a_plan_splits_what_is_owed_into_installments_that_add_up_to_the_cent(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let h1 = location("H1", "Europe/Madrid");
    let (ana, sanitas) = (patient(), payer("SANITAS"));
    let a1 = invoice(&ana, &h1, "P-1", eur("60.00"), day(20));
    let a2 = invoice(&ana, &h1, "P-2", eur("40.01"), day(30));
    let s1 = invoice(&sanitas, &h1, "S-1", eur("50.00"), day(30));
    let paid = invoice(&sanitas, &h1, "S-2", eur("10.00"), day(30));
    issued(&h, &[&a1, &a2, &s1, &paid]).await;
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&sanitas, eur("10.00"), &[(&paid, eur("10.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);

    // Generated: every receivable the patient owes on (100.01), three months, the odd cent on
    // the last installment.
    let first = day(10);
    let (s, plan, _) = call(
        &app,
        post("/v1/payment-plans", &t, &generated(&ana, 3, first, "month"))
            .insert_header(("idempotency-key", "plan-ana")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["status"], "active");
    assert_eq!(amount(&plan["total"]), "100.01");
    assert_eq!(plan["missed_allowed"], 1);
    assert_eq!(
        amounts(&plan),
        vec![
            triple("33.33", "0.00", "due"),
            triple("33.33", "0.00", "due"),
            triple("33.35", "0.00", "due"),
        ]
    );
    assert_eq!(plan["installments"][0]["due_on"], json!(first));
    assert_eq!(
        plan["installments"][1]["due_on"],
        json!(
            first
                .checked_add_months(chrono::Months::new(1))
                .expect("day")
        )
    );
    assert_eq!(plan["receivables"].as_array().map(Vec::len), Some(2));
    // The same request again answers the same plan, not a second one.
    let (s, again, _) = call(
        &app,
        post("/v1/payment-plans", &t, &generated(&ana, 3, first, "month"))
            .insert_header(("idempotency-key", "plan-ana")),
    )
    .await;
    assert_eq!((s, &again["id"]), (StatusCode::CREATED, &plan["id"]));
    let created = outbox_events::<PlanCreatedV1>(&h).await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].total, eur("100.01"));
    assert_eq!(created[0].installments.len(), 3);

    // A receivable is in one active plan at most.
    let (s, err, _) = call(
        &app,
        post("/v1/payment-plans", &t, &{
            let mut b = generated(&ana, 2, first, "week");
            b["receivable_ids"] = json!([a1.invoice_id.to_string()]);
            b
        }),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an invoice id is not a receivable id: {err}"
    );
    let (_, r, _) = call(
        &app,
        get(&format!("/v1/receivables?invoice_id={}", a2.invoice_id), &t),
    )
    .await;
    let a2_id = r["items"][0]["id"].as_str().expect("id").to_owned();
    let (s, err, _) = call(
        &app,
        post("/v1/payment-plans", &t, &{
            let mut b = generated(&ana, 2, first, "week");
            b["receivable_ids"] = json!([a2_id]);
            b
        }),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{err}");
    assert_eq!(err["code"], "already_in_plan");
    assert_eq!(fields(&err), vec!["receivable_ids.0"]);

    // Listed, in any order: kept in due order. They must add up to what is owed (50.00).
    let listed = |a: &str, b: &str| {
        json!({
            "party_kind": "payer", "party_id": sanitas.id, "currency": "EUR",
            "installments": [
                {"due_on": day(40), "amount": eur(a)},
                {"due_on": day(5), "amount": eur(b)},
            ],
            "missed_allowed": 0,
        })
    };
    let (s, err, _) = call(
        &app,
        post("/v1/payment-plans", &t, &listed("20.00", "29.99")),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "plan_does_not_add_up");
    assert_eq!(fields(&err), vec!["installments"]);
    let (s, plan, _) = call(
        &app,
        post("/v1/payment-plans", &t, &listed("20.00", "30.00")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    assert_eq!(
        amounts(&plan),
        vec![
            triple("30.00", "0.00", "due"),
            triple("20.00", "0.00", "due")
        ]
    );
    assert_eq!(plan["installments"][0]["due_on"], json!(day(5)));
    assert_eq!(plan["missed_allowed"], 0);

    // A paid receivable, or a party that owes nothing: nothing to plan.
    let (_, r, _) = call(
        &app,
        get(
            &format!("/v1/receivables?invoice_id={}", paid.invoice_id),
            &t,
        ),
    )
    .await;
    let paid_id = r["items"][0]["id"].as_str().expect("id").to_owned();
    let (s, err, _) = call(
        &app,
        post("/v1/payment-plans", &t, &{
            let mut b = generated(&sanitas, 1, first, "week");
            b["receivable_ids"] = json!([paid_id]);
            b
        }),
    )
    .await;
    assert_eq!(
        (s, &err["code"]),
        (StatusCode::CONFLICT, &json!("nothing_owed")),
        "{err}"
    );
    let (s, err, _) = call(
        &app,
        post(
            "/v1/payment-plans",
            &t,
            &generated(&patient(), 2, first, "week"),
        ),
    )
    .await;
    assert_eq!(
        (s, &err["code"]),
        (StatusCode::CONFLICT, &json!("nothing_owed")),
        "{err}"
    );
    // Past due days, both kinds of installments at once, and a biller are refused.
    let (s, err, _) = call(
        &app,
        post(
            "/v1/payment-plans",
            &t,
            &generated(&sanitas, 2, day(-1), "week"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&err), vec!["first_due_on"]);
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payment-plans",
            &token(&["biller"], None),
            &generated(&sanitas, 2, first, "week"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Listed by party and status.
    let (s, page, _) = call(
        &app,
        get(
            &format!("/v1/payment-plans?party_id={}&status=active", ana.id),
            &t,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["id"], again["id"]);
    let (_, page, _) = call(&app, get("/v1/payment-plans?status=broken", &t)).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(0));
    let (_, page, _) = call(&app, get("/v1/payment-plans?limit=1", &t)).await;
    assert!(page["next_cursor"].is_string(), "{page}");
}

async fn payments_fill_installments_in_due_order_and_complete_the_plan(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let h1 = location("H1", "Europe/Madrid");
    let ana = patient();
    let i = invoice(&ana, &h1, "P-1", eur("90.00"), day(0));
    issued(&h, &[&i]).await;
    let (s, plan, _) = call(
        &app,
        post("/v1/payment-plans", &t, &generated(&ana, 3, day(0), "week")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    let path = format!("/v1/payment-plans/{}", plan["id"].as_str().expect("id"));

    let pay = |a: &str| payment(&ana, eur(a), &[(&i, eur(a))]);
    let (s, _, _) = call(&app, post("/v1/payments", &t, &pay("40.00"))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, plan, _) = call(&app, get(&path, &t)).await;
    assert_eq!(plan["status"], "active");
    assert_eq!(amount(&plan["paid"]), "40.00");
    assert_eq!(amount(&plan["outstanding"]), "50.00");
    assert_eq!(
        amounts(&plan),
        vec![
            triple("30.00", "30.00", "paid"),
            triple("30.00", "10.00", "partly_paid"),
            triple("30.00", "0.00", "due"),
        ]
    );
    assert!(outbox_events::<PlanCompletedV1>(&h).await.is_empty());

    let (s, _, _) = call(&app, post("/v1/payments", &t, &pay("50.00"))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, plan, _) = call(&app, get(&path, &t)).await;
    assert_eq!(plan["status"], "completed", "{plan}");
    assert!(amounts(&plan).iter().all(|(_, _, s)| s == "paid"));
    let done = outbox_events::<PlanCompletedV1>(&h).await;
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].total, done[0].paid), (eur("90.00"), eur("90.00")));
}

async fn missed_installments_beyond_the_allowance_break_the_plan_once(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["billing_manager"], None);
    let h1 = location("H1", "Europe/Madrid");
    let ana = patient();
    let i = invoice(&ana, &h1, "P-1", eur("100.00"), day(0));
    issued(&h, &[&i]).await;
    // Default allowance: one installment may be missed; the second missed one breaks it.
    let (s, plan, _) = call(
        &app,
        post("/v1/payment-plans", &t, &generated(&ana, 4, day(1), "week")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    let path = format!("/v1/payment-plans/{}", plan["id"].as_str().expect("id"));
    let evaluate = |d: i64| {
        post(
            "/v1/payment-plans/evaluation",
            &t,
            &json!({"as_of": day(d)}),
        )
    };

    // Due on day 1: not missed on day 1, missed from day 2; one missed is allowed.
    for d in [1, 2, 8] {
        let (s, e, _) = call(&app, evaluate(d)).await;
        assert_eq!(s, StatusCode::OK, "{e}");
        assert_eq!(
            (e["broken"].as_array().map(Vec::len), &e["still_active"]),
            (Some(0), &json!(1)),
            "day {d}: {e}"
        );
    }
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&ana, eur("10.00"), &[(&i, eur("10.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, e, _) = call(&app, evaluate(9)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e["broken"], json!([plan["id"]]), "{e}");
    let (_, plan, _) = call(&app, get(&path, &t)).await;
    assert_eq!(plan["status"], "broken");
    assert_eq!(
        amounts(&plan),
        vec![
            triple("25.00", "10.00", "missed"),
            triple("25.00", "0.00", "missed"),
            triple("25.00", "0.00", "due"),
            triple("25.00", "0.00", "due"),
        ]
    );
    // Once: the same day again, or a later one, changes nothing.
    let (_, e, _) = call(&app, evaluate(9)).await;
    assert_eq!(e["broken"], json!([]));
    let (_, e, _) = call(&app, evaluate(30)).await;
    assert_eq!(e["still_active"], 0);
    let broken = outbox_events::<PlanBrokenV1>(&h).await;
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].outstanding, eur("90.00"));
    assert_eq!(
        broken[0].missed.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(broken[0].missed[0].paid, eur("10.00"));
    assert_eq!(broken[0].receivables.len(), 1);
    assert_eq!(broken[0].receivables[0].owed, eur("90.00"));
    // Its receivable left the plan: a new plan may take it.
    let (s, again, _) = call(
        &app,
        post(
            "/v1/payment-plans",
            &t,
            &generated(&ana, 2, day(1), "month"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(amount(&again["total"]), "90.00");
    // A collector limited to some locations cannot evaluate everyone's plans.
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payment-plans/evaluation",
            &token(&["collector"], Some(&["H1"])),
            &json!({"as_of": day(1)}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn a_cancelled_plan_gives_its_receivables_back_and_plans_are_scoped(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let (h1, h2) = (
        location("H1", "Europe/Madrid"),
        location("H2", "Europe/Madrid"),
    );
    let (sanitas, mapfre) = (payer("SANITAS"), payer("MAPFRE"));
    let s1 = invoice(&sanitas, &h1, "S-1", eur("30.00"), day(10));
    let s2 = invoice(&sanitas, &h2, "S-2", eur("30.00"), day(10));
    let m1 = invoice(&mapfre, &h1, "M-1", eur("10.00"), day(10));
    issued(&h, &[&s1, &s2, &m1]).await;
    let (s, plan, _) = call(
        &app,
        post(
            "/v1/payment-plans",
            &t,
            &generated(&sanitas, 2, day(3), "week"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    let (s, m_plan, _) = call(
        &app,
        post(
            "/v1/payment-plans",
            &t,
            &generated(&mapfre, 1, day(3), "week"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{m_plan}");
    let id = plan["id"].as_str().expect("id");
    let path = format!("/v1/payment-plans/{id}");

    // Scope: a payer's portal sees its own plans only; a token limited to H1 does not see the
    // plan that also holds an H2 receivable.
    let (s, _, _) = call(&app, get(&path, &payer_token("MAPFRE"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, mine, _) = call(&app, get(&path, &payer_token("SANITAS"))).await;
    assert_eq!((s, &mine["id"]), (StatusCode::OK, &plan["id"]));
    let (_, page, _) = call(&app, get("/v1/payment-plans", &payer_token("MAPFRE"))).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["id"], m_plan["id"]);
    let h1_only = token(&["collector"], Some(&["H1"]));
    let (_, page, _) = call(&app, get("/v1/payment-plans", &h1_only)).await;
    let ids: Vec<&Value> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert_eq!(ids, vec![&m_plan["id"]]);
    let (s, _, _) = call(&app, get(&path, &h1_only)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        post(
            &format!("{path}/cancellation"),
            &h1_only,
            &json!({"reason": "x"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Cancellation needs a reason, and happens once.
    let (s, err, _) = call(
        &app,
        post(&format!("{path}/cancellation"), &t, &json!({"reason": " "})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&err), vec!["reason"]);
    let (s, done, _) = call(
        &app,
        post(
            &format!("{path}/cancellation"),
            &t,
            &json!({"reason": "the patient moved abroad"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "cancelled");
    assert_eq!(done["cancel_reason"], "the patient moved abroad");
    let (s, err, _) = call(
        &app,
        post(
            &format!("{path}/cancellation"),
            &t,
            &json!({"reason": "again"}),
        ),
    )
    .await;
    assert_eq!(
        (s, &err["code"]),
        (StatusCode::CONFLICT, &json!("plan_not_active"))
    );
    // Its receivables are free for another plan.
    let (s, again, _) = call(
        &app,
        post(
            "/v1/payment-plans",
            &t,
            &generated(&sanitas, 3, day(3), "week"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(amount(&again["total"]), "60.00");
    let (s, _, _) = call(&app, get("/v1/payment-plans/not-a-uuid", &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn receivable_id(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    t: &str,
    inv: &InvoiceIssuedV1,
) -> String {
    let (_, page, _) = call(
        app,
        get(&format!("/v1/receivables?invoice_id={}", inv.invoice_id), t),
    )
    .await;
    page["items"][0]["id"]
        .as_str()
        .expect("receivable id")
        .to_owned()
}

async fn disputes_open_and_resolve_one_at_a_time(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let h1 = location("H1", "Europe/Madrid");
    let sanitas = payer("SANITAS");
    let i = invoice(&sanitas, &h1, "S-1", eur("30.00"), day(10));
    issued(&h, &[&i]).await;
    let id = receivable_id(&app, &t, &i).await;
    let path = format!("/v1/receivables/{id}");

    let (_, r, _) = call(&app, get(&path, &t)).await;
    assert_eq!(
        (&r["disputed"], &r["dispute"]),
        (&json!(false), &Value::Null)
    );
    let (s, err, _) = call(
        &app,
        post(&format!("{path}/disputes"), &t, &json!({"reason": ""})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&err), vec!["reason"]);
    let (s, d, _) = call(
        &app,
        post(
            &format!("{path}/disputes"),
            &t,
            &json!({"reason": "the stay was two nights, not three"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let (_, r, _) = call(&app, get(&path, &t)).await;
    assert_eq!(r["disputed"], true);
    assert_eq!(r["dispute"]["reason"], "the stay was two nights, not three");
    let (_, page, _) = call(
        &app,
        get(&format!("/v1/receivables?invoice_id={}", i.invoice_id), &t),
    )
    .await;
    assert_eq!(page["items"][0]["disputed"], true);
    let (s, err, _) = call(
        &app,
        post(&format!("{path}/disputes"), &t, &json!({"reason": "again"})),
    )
    .await;
    assert_eq!(
        (s, &err["code"]),
        (StatusCode::CONFLICT, &json!("dispute_open"))
    );
    // Another payer's portal, or a reader, cannot touch it.
    let (s, _, _) = call(
        &app,
        post(
            &format!("{path}/disputes/resolution"),
            &staff_payer_token(&["collector"], None, "MAPFRE"),
            &json!({"resolution": "x"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        post(
            &format!("{path}/disputes/resolution"),
            &token(&["auditor"], None),
            &json!({"resolution": "x"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, d, _) = call(
        &app,
        post(
            &format!("{path}/disputes/resolution"),
            &t,
            &json!({"resolution": "three nights confirmed by the ward"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["resolution"], "three nights confirmed by the ward");
    assert!(d["resolved_at"].is_string());
    let (_, r, _) = call(&app, get(&path, &t)).await;
    assert_eq!(r["disputed"], false);
    assert_eq!(r["disputes"].as_array().map(Vec::len), Some(1));
    let (s, err, _) = call(
        &app,
        post(
            &format!("{path}/disputes/resolution"),
            &t,
            &json!({"resolution": "x"}),
        ),
    )
    .await;
    assert_eq!(
        (s, &err["code"]),
        (StatusCode::CONFLICT, &json!("no_open_dispute"))
    );
    // A new one may be opened once the last is resolved; both are audited.
    let (s, _, _) = call(
        &app,
        post(
            &format!("{path}/disputes"),
            &t,
            &json!({"reason": "new doubt"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, audit, _) = call(
        &app,
        get(&format!("/v1/collections/audit-events?entity_id={id}"), &t),
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        actions.contains(&"dispute") && actions.contains(&"resolve_dispute"),
        "{audit}"
    );
}

async fn adjustments_raise_and_lower_what_is_owed_never_below_zero(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let manager = token(&["billing_manager"], None);
    let t = token(&["collector"], None);
    let h1 = location("H1", "Europe/Madrid");
    let ana = patient();
    let i = invoice(&ana, &h1, "P-1", eur("100.00"), day(10));
    issued(&h, &[&i]).await;
    let id = receivable_id(&app, &t, &i).await;
    let path = format!("/v1/receivables/{id}");
    let adjust = |a: &str, kind: &str| json!({"amount": eur(a), "kind": kind, "reason": "reminder fee, level 1"});

    let (s, _, _) = call(
        &app,
        post(&format!("{path}/adjustments"), &t, &adjust("5.00", "fee")),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a collector may not adjust");
    let (s, fee, _) = call(
        &app,
        post(
            &format!("{path}/adjustments"),
            &manager,
            &adjust("5.00", "fee"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{fee}");
    assert_eq!(amount(&fee["outstanding"]), "105.00");
    let (s, c, _) = call(
        &app,
        post(
            &format!("{path}/adjustments"),
            &manager,
            &adjust("-10.00", "correction"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(amount(&c["outstanding"]), "95.00");
    let (s, err, _) = call(
        &app,
        post(
            &format!("{path}/adjustments"),
            &manager,
            &adjust("-95.01", "correction"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert_eq!(err["code"], "below_zero_outstanding");
    let (s, err, _) = call(
        &app,
        post(
            &format!("{path}/adjustments"),
            &manager,
            &json!({"amount": money_in("1.00", "USD"), "kind": "fee", "reason": "x"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&err), vec!["amount.currency"]);
    let (s, err, _) = call(
        &app,
        post(
            &format!("{path}/adjustments"),
            &manager,
            &json!({"amount": eur("1.00"), "kind": "fee", "reason": ""}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&err), vec!["reason"]);

    let (_, r, _) = call(&app, get(&path, &t)).await;
    assert_eq!(amount(&r["adjusted"]), "-5.00");
    assert_eq!(amount(&r["outstanding"]), "95.00");
    assert_eq!(r["adjustments"].as_array().map(Vec::len), Some(2));
    assert_eq!(r["adjustments"][0]["kind"], "fee");
    let (_, bal, _) = call(&app, get(&balance_path(&ana), &t)).await;
    assert_balance_identities(&bal);
    assert_eq!(amount(&bal["currencies"][0]["adjusted"]), "-5.00");
    assert_eq!(amount(&bal["currencies"][0]["outstanding"]), "95.00");
    let events = outbox_events::<AdjustmentRecordedV1>(&h).await;
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[1].amount, events[1].outstanding),
        (eur("-10.00"), eur("95.00"))
    );
    let (_, hist, _) = call(&app, get(&format!("{}/history", balance_path(&ana)), &t)).await;
    assert!(
        hist.to_string().contains("adjust"),
        "the party's history shows adjustments: {hist}"
    );

    // Paid in full, then a fee opens it again; a correction may take it to nothing but not
    // below.
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&ana, eur("95.00"), &[(&i, eur("95.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, r, _) = call(&app, get(&path, &t)).await;
    assert_eq!(r["status"], "paid");
    let (s, _, _) = call(
        &app,
        post(
            &format!("{path}/adjustments"),
            &token(&["admin"], None),
            &adjust("2.50", "interest"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, r, _) = call(&app, get(&path, &t)).await;
    assert_eq!(
        (r["status"].as_str(), amount(&r["outstanding"])),
        (Some("partially_paid"), "2.50")
    );
    let (s, _, _) = call(
        &app,
        post(
            &format!("{path}/adjustments"),
            &manager,
            &adjust("-2.50", "correction"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, r, _) = call(&app, get(&path, &t)).await;
    assert_eq!(
        (r["status"].as_str(), amount(&r["outstanding"])),
        (Some("paid"), "0.00")
    );
    let (_, bal, _) = call(&app, get(&balance_path(&ana), &t)).await;
    assert_balance_identities(&bal);
}

async fn dso_divides_what_is_owed_by_what_was_invoiced_per_payer_and_location(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let (h1, h2) = (
        location("H1", "Europe/Madrid"),
        location("H2", "Europe/Madrid"),
    );
    let (sanitas, mapfre) = (payer("SANITAS"), payer("MAPFRE"));
    let on = |s: &str| s.parse::<NaiveDate>().expect("day");
    let dated = |to: &PartyRef,
                 at: &carebill_domain::events::LocationRef,
                 n: &str,
                 a: &str,
                 issued: &str| {
        let mut i = invoice(to, at, n, eur(a), on(issued) + Duration::days(30));
        i.issue_date = on(issued);
        i
    };
    // As of 2026-06-30 over 30 days: the window is 2026-06-01..=2026-06-30.
    let s_in = dated(&sanitas, &h1, "S-1", "300.00", "2026-06-10");
    let s_old = dated(&sanitas, &h1, "S-2", "100.00", "2026-04-01"); // owed, not invoiced in the window
    let s_late = dated(&sanitas, &h1, "S-3", "999.00", "2026-07-01"); // after the day: not counted
    let s_void = dated(&sanitas, &h1, "S-4", "50.00", "2026-06-15"); // cancelled: neither
    let m_in = dated(&mapfre, &h2, "M-1", "200.00", "2026-06-20");
    issued(&h, &[&s_in, &s_old, &s_late, &s_void, &m_in]).await;
    feed(&h, &envelope(&credit_note(&s_void))).await;
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&mapfre, eur("50.00"), &[(&m_in, eur("50.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, r, _) = call(
        &app,
        get("/v1/collections/dso?as_of=2026-06-30&days=30", &t),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (&r["by"], &r["from"], &r["days"]),
        (&json!("payer"), &json!("2026-06-01"), &json!(30))
    );
    let group = |r: &Value, key: &str| -> Value {
        r["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| g["key"] == key)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let sg = group(&r, "SANITAS");
    assert_eq!(
        (amount(&sg["outstanding"]), amount(&sg["invoiced"])),
        ("400.00", "300.00")
    );
    assert_eq!(sg["dso"], "40.0", "400 / 300 × 30");
    let mg = group(&r, "MAPFRE");
    assert_eq!(
        (amount(&mg["outstanding"]), amount(&mg["invoiced"])),
        ("150.00", "200.00")
    );
    assert_eq!(mg["dso"], "22.5", "150 / 200 × 30");
    assert_eq!(r["totals"][0]["dso"], "33.0", "550 / 500 × 30");

    let (_, r, _) = call(
        &app,
        get(
            "/v1/collections/dso?as_of=2026-06-30&days=30&by=location",
            &t,
        ),
    )
    .await;
    assert_eq!(group(&r, "H1")["dso"], "40.0");
    assert_eq!(group(&r, "H2")["dso"], "22.5");
    // Nothing invoiced in the window: no figure.
    let (_, r, _) = call(
        &app,
        get("/v1/collections/dso?as_of=2026-05-30&days=30", &t),
    )
    .await;
    assert_eq!(group(&r, "SANITAS")["dso"], Value::Null, "{r}");
    assert_eq!(amount(&group(&r, "SANITAS")["outstanding"]), "100.00");

    let (s, csv, ctype) = call_text(
        &app,
        get("/v1/collections/dso?as_of=2026-06-30&days=30", &t)
            .insert_header(("accept", "text/csv")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ctype.unwrap_or_default().starts_with("text/csv"));
    assert!(
        csv.starts_with("line,payer,currency,outstanding,invoiced,days,dso\n"),
        "{csv}"
    );
    assert!(
        csv.contains("group,SANITAS,EUR,400.00,300.00,30,40.0\n"),
        "{csv}"
    );
    // Scoped: a payer sees its own figures only.
    let (_, r, _) = call(
        &app,
        get(
            "/v1/collections/dso?as_of=2026-06-30&days=30",
            &payer_token("MAPFRE"),
        ),
    )
    .await;
    assert_eq!(r["groups"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["groups"][0]["key"], "MAPFRE");
    let (s, err, _) = call(&app, get("/v1/collections/dso?days=0", &t)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&err), vec!["days"]);
}
