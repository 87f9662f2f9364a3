//! Where settlements stand, announced for dashboards (`settlement.changed`): every change of a
//! settlement's status, total or assignee is announced once by the publisher, with a sequence
//! that grows with each change; nothing changed, nothing announced.

use actix_web::http::StatusCode;
use carebill_domain::events::{Envelope, SettlementChangedV1};
use carebill_platform::both_backends;
use carebill_platform::db::{AnyConnection, Backend, Db};
use carebill_platform::schema::outbox;
use carebill_platform::testing::{call, get, post, token};
use diesel::prelude::*;
use serde_json::json;

use crate::common::{configure, consumption, deliver, first_settlement, harness, world};

both_backends!(every_change_of_a_settlement_is_announced_once_with_a_growing_sequence);

async fn announced(db: &Db) -> Vec<SettlementChangedV1> {
    let bodies: Vec<String> = db
        .read(|c: &mut AnyConnection| {
            Ok(outbox::table
                .filter(outbox::event_type.eq("carebill.settlement.settlement.changed.v1"))
                .order(outbox::seq.asc())
                .select(outbox::body)
                .load(c)?)
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

async fn every_change_of_a_settlement_is_announced_once_with_a_growing_sequence(b: Backend) {
    let h = harness(b);
    let app = crate::common::app(&h).await;
    configure(&app).await;
    let w = world();
    deliver(
        &h,
        "accounts",
        &consumption(&w, "LAB-HB", 2, "2026-11-02T09:00:00Z"),
    )
    .await;
    deliver(
        &h,
        "accounts",
        &consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z"),
    )
    .await;
    assert!(
        announced(&h.db).await.is_empty(),
        "nothing before the publisher runs"
    );

    // Two consumptions, one announcement of the draft as it stands: 20.00 + 50.00.
    assert_eq!(
        carebill_settlement::publish_progress(&h.db)
            .await
            .expect("published"),
        1
    );
    assert_eq!(
        carebill_settlement::publish_progress(&h.db)
            .await
            .expect("published"),
        0
    );
    let events = announced(&h.db).await;
    assert_eq!(events.len(), 1);
    let first = &events[0].settlements[0];
    let id = first_settlement(&app, &w).await;
    assert_eq!(first.settlement_id.to_string(), id);
    assert_eq!(first.status.as_str(), "draft");
    assert_eq!(first.total.expect("priced").amount_string(), "70.00");
    assert_eq!(first.location_code, "H1");
    assert_eq!(first.payer_code.as_deref(), Some("SANITAS"));
    assert_eq!(first.assigned_to, None);

    // Taken into review: announced with its biller, a higher sequence, the time of the step.
    let biller = token(&["biller"], None);
    let url = format!("/v1/settlements/{id}");
    let (_, doc, _) = call(&app, get(&url, &biller)).await;
    let (s, body, _) = call(
        &app,
        post(
            &format!("{url}/transitions"),
            &biller,
            &json!({"to": "in_review"}),
        )
        .insert_header(("if-match", doc["etag"].as_str().expect("etag").to_owned())),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        carebill_settlement::publish_progress(&h.db)
            .await
            .expect("published"),
        1
    );
    let events = announced(&h.db).await;
    assert_eq!(events.len(), 2);
    let now = &events[1].settlements[0];
    assert_eq!(now.status.as_str(), "in_review");
    assert_eq!(now.assigned_to.as_deref(), Some("test-biller"));
    assert!(
        now.sequence > first.sequence,
        "{} then {}",
        first.sequence,
        now.sequence
    );
    assert!(now.status_since > first.status_since);
}
