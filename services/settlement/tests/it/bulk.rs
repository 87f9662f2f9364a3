//! Releasing clean settlements in bulk (`POST /v1/settlements/transitions`): the list gives
//! each settlement's `etag` and `issues=none` picks the clean ones; each item is checked as
//! the single transition, answered on its own, and a refused one changes nothing.

use actix_web::http::StatusCode;
use carebill_domain::ids::SettlementId;
use carebill_platform::both_backends;
use carebill_platform::db::{AnyConnection, Backend};
use carebill_platform::schema::outbox;
use carebill_platform::testing::{call, get, post, token};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::common::{
    World, app, configure, consumption, deliver, first_settlement, harness, world,
};

both_backends!(
    clean_settlements_are_released_in_bulk_and_each_refusal_is_its_own,
    a_bulk_transition_refuses_what_it_cannot_read,
);

/// An episode of its own with one line (`LAB-HB` is priced, `XRAY` is not: an issue).
fn episode(n: usize, code: &str) -> (World, carebill_domain::events::ConsumptionRecordedV1) {
    let mut w = world();
    w.episode.number = format!("ENC-{n}");
    let c = consumption(&w, code, 1, "2026-11-02T09:00:00Z");
    (w, c)
}

fn outcome(r: &Value, n: usize) -> (&Value, &Value) {
    (&r["items"][n]["status"], &r["items"][n]["problem"]["code"])
}

async fn clean_settlements_are_released_in_bulk_and_each_refusal_is_its_own(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let mut ids = Vec::new();
    for (n, code) in [
        (1, "LAB-HB"),
        (2, "LAB-HB"),
        (3, "LAB-HB"),
        (4, "XRAY"),
        (5, "LAB-HB"),
    ] {
        let (w, c) = episode(n, "LAB-HB");
        deliver(&h, "accounts", &c).await;
        if code != "LAB-HB" {
            deliver(
                &h,
                "accounts",
                &consumption(&w, code, 1, "2026-11-02T10:00:00Z"),
            )
            .await;
        }
        ids.push(first_settlement(&app, &w).await);
    }
    let biller = token(&["biller"], None);
    let auditor = token(&["auditor"], None);
    // Someone who is biller and auditor at once may not approve what they sent to audit.
    let both = token(&["biller", "auditor"], None);

    // The clean drafts, each with the ETag a step needs; the one with an unpriced line apart.
    let list = |q: &'static str| get(q, &biller);
    let (s, clean, _) = call(&app, list("/v1/settlements?status=draft&issues=none")).await;
    assert_eq!(s, StatusCode::OK, "{clean}");
    let clean = clean["items"].as_array().expect("items").clone();
    assert_eq!(clean.len(), 4, "{clean:?}");
    let (_, blocked, _) = call(&app, list("/v1/settlements?issues=some")).await;
    assert_eq!(blocked["items"][0]["id"], ids[3].as_str(), "{blocked}");
    let (s, p, _) = call(&app, list("/v1/settlements?issues=none&has_issues=true")).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let etag_of = |id: &str, items: &[Value]| -> String {
        items
            .iter()
            .find(|i| i["id"] == id)
            .and_then(|i| i["etag"].as_str())
            .unwrap_or_else(|| panic!("{id} in {items:?}"))
            .to_owned()
    };
    let (_, all, _) = call(&app, list("/v1/settlements?status=draft")).await;
    let all = all["items"].as_array().expect("items").clone();
    let etags: Vec<String> = ids.iter().map(|id| etag_of(id, &all)).collect();

    // To review: four settlements, an unknown one, a stale ETag and an id that is not one.
    let item = |id: &str, to: &str, etag: &str| json!({"id": id, "to": to, "if_match": etag});
    let mut items: Vec<Value> = (0..4)
        .map(|n| item(&ids[n], "in_review", &etags[n]))
        .collect();
    items.push(item(
        &SettlementId::new().to_string(),
        "in_review",
        "\"r1\"",
    ));
    items.push(item(&ids[0], "in_review", &etags[0]));
    items.push(item("not-an-id", "in_review", "\"r1\""));
    let bulk = |tok: &str, items: Vec<Value>| {
        post("/v1/settlements/transitions", tok, &json!({"items": items}))
    };
    let (s, r, _) = call(&app, bulk(&biller, items)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["moved"].clone(), r["refused"].clone()),
        (json!(4), json!(3)),
        "{r}"
    );
    for n in 0..4 {
        assert_eq!(r["items"][n]["settlement_status"], "in_review", "{r}");
    }
    assert_eq!(outcome(&r, 4).0, 404, "{r}");
    assert_eq!(
        outcome(&r, 5),
        (&json!(412), &json!("precondition_failed")),
        "{r}"
    );
    assert_eq!(outcome(&r, 6).0, 404, "{r}");
    let review_etags: Vec<String> = (0..4)
        .map(|n| r["items"][n]["etag"].as_str().expect("etag").to_owned())
        .collect();

    // To audit, with the ETags the answer gave; the fifth by the biller-auditor.
    let items = (0..4)
        .map(|n| item(&ids[n], "in_audit", &review_etags[n]))
        .collect();
    let (_, r, _) = call(&app, bulk(&biller, items)).await;
    assert_eq!(r["moved"], 4, "{r}");
    let audit_etags: Vec<String> = (0..4)
        .map(|n| r["items"][n]["etag"].as_str().expect("etag").to_owned())
        .collect();
    let (_, r5, _) = call(
        &app,
        bulk(&both, vec![item(&ids[4], "in_review", &etags[4])]),
    )
    .await;
    let e5 = r5["items"][0]["etag"].as_str().expect("etag").to_owned();
    let (_, r5, _) = call(&app, bulk(&both, vec![item(&ids[4], "in_audit", &e5)])).await;
    let e5 = r5["items"][0]["etag"].as_str().expect("etag").to_owned();
    let (_, r, _) = call(&app, bulk(&both, vec![item(&ids[4], "approved", &e5)])).await;
    assert_eq!(
        outcome(&r, 0),
        (&json!(403), &json!("forbidden")),
        "who sent it to audit does not approve it: {r}"
    );

    // A biller cannot approve; nothing moves.
    let approve: Vec<Value> = (0..4)
        .map(|n| item(&ids[n], "approved", &audit_etags[n]))
        .collect();
    let (_, r, _) = call(&app, bulk(&biller, approve.clone())).await;
    assert_eq!(r["moved"], 0, "{r}");
    assert_eq!(outcome(&r, 0), (&json!(403), &json!("forbidden")), "{r}");

    // The auditor approves the clean ones (the fifth too: the biller-auditor sent it to audit,
    // not they); the unpriced line keeps its settlement in audit; observing needs the single
    // step.
    let mut approve = approve;
    approve.push(item(&ids[4], "approved", &e5));
    approve.push(item(&ids[3], "observed", &audit_etags[3]));
    let (_, r, _) = call(&app, bulk(&auditor, approve.clone())).await;
    assert_eq!(
        (r["moved"].clone(), r["refused"].clone()),
        (json!(4), json!(2)),
        "{r}"
    );
    for n in [0, 1, 2, 4] {
        assert_eq!(r["items"][n]["settlement_status"], "approved", "{r}");
    }
    assert_eq!(
        outcome(&r, 3),
        (&json!(422), &json!("unresolved_lines")),
        "{r}"
    );
    assert_eq!(
        outcome(&r, 5),
        (&json!(422), &json!("validation_failed")),
        "{r}"
    );

    // Refused items changed nothing: the unpriced one is in audit with the ETag it had.
    let (_, doc, _) = call(&app, get(&format!("/v1/settlements/{}", ids[3]), &auditor)).await;
    assert_eq!(doc["status"], "in_audit");
    assert_eq!(doc["etag"], audit_etags[3].as_str());
    // One approval event per approved settlement, as one by one.
    let approved: i64 =
        h.db.read(|c: &mut AnyConnection| {
            Ok(outbox::table
                .filter(outbox::event_type.eq("carebill.settlement.settlement.approved.v1"))
                .count()
                .get_result(c)?)
        })
        .await
        .expect("outbox");
    assert_eq!(approved, 4);
    let (_, done, _) = call(&app, list("/v1/settlements?status=approved&issues=none")).await;
    assert_eq!(done["items"].as_array().map_or(0, Vec::len), 4, "{done}");
}

async fn a_bulk_transition_refuses_what_it_cannot_read(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let (w, c) = episode(1, "LAB-HB");
    deliver(&h, "accounts", &c).await;
    let id = first_settlement(&app, &w).await;
    let biller = token(&["biller"], None);
    let bulk = |tok: &str, body: Value| post("/v1/settlements/transitions", tok, &body);
    let item = json!({"id": id, "to": "in_review", "if_match": "*"});
    let many: Vec<Value> = (0..501).map(|_| item.clone()).collect();
    for (tok, body, status) in [
        (
            biller.clone(),
            json!({"items": many}),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            biller.clone(),
            json!({"items": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            token(&["collector"], None),
            json!({"items": [item]}),
            StatusCode::FORBIDDEN,
        ),
        // What the schema forbids refuses the whole request.
        (
            biller.clone(),
            json!({"items": [item, {"id": id, "to": "draft", "if_match": "*", "reason": "x".repeat(501)}]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (s, p, _) = call(&app, bulk(&tok, body)).await;
        assert_eq!(s, status, "{p}");
        assert!(p["code"].is_string(), "{p}");
    }
    for body in [
        json!({"items": [{"id": id, "to": "in_review"}]}),
        json!({"items": [{"id": id, "to": "somewhere", "if_match": "*"}]}),
        json!({"items": [item], "also": 1}),
        json!([item]),
    ] {
        let (s, p, _) = call(&app, bulk(&biller, body.clone())).await;
        assert!(s.is_client_error(), "{body}: {s} {p}");
        assert!(p["code"].is_string(), "{p}");
    }
    // Going back to draft needs a reason, item by item.
    let (s, r, _) = call(
        &app,
        bulk(
            &biller,
            json!({"items": [{"id": id, "to": "draft", "if_match": "*"}]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        r["items"][0]["problem"]["errors"][0]["field"], "reason",
        "{r}"
    );
    // Nothing moved.
    let (_, doc, _) = call(&app, get(&format!("/v1/settlements/{id}"), &biller)).await;
    assert_eq!(doc["status"], "draft");
    assert_eq!(doc["version"], 1);
}
