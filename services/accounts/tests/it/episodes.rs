//! Episodes over HTTP: status changes need reasons and gate consumptions.

use actix_web::http::StatusCode;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, post};
use serde_json::json;

use crate::common::fixtures::{consumption, fixture};
use crate::common::{app, harness, outbox_types};

carebill_platform::both_backends!(episode_status_moves_with_reasons_and_gates_consumptions);

async fn episode_status_moves_with_reasons_and_gates_consumptions(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let t = admin();
    let url = format!("/v1/episodes/{}/status", f.episode);
    assert_eq!(
        call(&app, post(&url, &t, &json!({"status": "closed"})))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        call(
            &app,
            post(&url, &t, &json!({"status": "finished", "reason": "x"}))
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        call(
            &app,
            post(
                &url,
                &t,
                &json!({"status": "on_hold", "reason": "transfer pending"})
            )
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &app,
            post("/v1/consumptions", &t, &consumption(&f.episode, None))
        )
        .await
        .0,
        StatusCode::CONFLICT
    );
    assert_eq!(
        call(
            &app,
            post(
                &url,
                &t,
                &json!({"status": "closed", "reason": "discharged"})
            )
        )
        .await
        .0,
        StatusCode::OK
    );
    let (s, p, _) = call(
        &app,
        post(&url, &t, &json!({"status": "cancelled", "reason": "oops"})),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
    let (s, e, _) = call(
        &app,
        post(
            &url,
            &t,
            &json!({"status": "open", "reason": "late lab results"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let history: Vec<(&str, &str)> = e["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|c| {
            (
                c["to"].as_str().unwrap_or(""),
                c["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        history,
        vec![
            ("open", ""),
            ("on_hold", "transfer pending"),
            ("closed", "discharged"),
            ("open", "late lab results")
        ]
    );
    assert_eq!(
        call(
            &app,
            post("/v1/consumptions", &t, &consumption(&f.episode, None))
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let events = outbox_types(&h.db).await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| t.contains("episode"))
        .collect();
    assert_eq!(
        kinds,
        vec![
            "carebill.accounts.episode.opened.v1",
            "carebill.accounts.episode.closed.v1",
            "carebill.accounts.episode.opened.v1"
        ]
    );
    let reopened = events
        .iter()
        .rfind(|(t, _)| t.ends_with("episode.opened.v1"))
        .map(|(_, e)| e)
        .expect("reopened");
    assert_eq!(reopened["data"]["reopened"], true);
    assert_eq!(call(&app, post("/v1/episodes", &t, &json!({"number": "ENC-1", "patient_id": f.patient, "location_id": f.location, "kind": "inpatient"}))).await.0, StatusCode::CONFLICT);
}
