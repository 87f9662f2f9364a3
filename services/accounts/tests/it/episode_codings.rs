//! Episode coding over HTTP: diagnoses (principal first), a stay's admission, discharge and
//! present-on-admission flags, and the registry's practitioners, each change a new version
//! behind `If-Match`, every version kept and announced; what the episode's kind does not have,
//! a bad code or a stale tag refused with nothing changed.

use actix_web::http::StatusCode;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, fields, get, post, put, token};
use serde_json::{Value, json};

use crate::common::fixtures::fixture;
use crate::common::{app, count, harness, outbox_types};

carebill_platform::both_backends!(
    a_stay_is_coded_in_versions_behind_if_match_and_each_change_announced,
    what_the_episode_does_not_have_a_bad_code_or_a_stale_tag_changes_nothing
);

/// The `ETag` header of the answer to `req`.
async fn etag(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    req: actix_web::test::TestRequest,
) -> String {
    let res = actix_web::test::call_service(app, req.to_request()).await;
    res.headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned()
}

fn coded(events: &[(String, Value)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(t, _)| t == "carebill.accounts.episode.coded.v1")
        .map(|(_, e)| e["data"].clone())
        .collect()
}

async fn a_stay_is_coded_in_versions_behind_if_match_and_each_change_announced(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let f = fixture(&app, "H1", "ENC-1").await;
    let (s, stay, _) = call(&app, post("/v1/episodes", &t, &json!({"number": "ADM-1", "patient_id": f.patient, "location_id": f.location, "kind": "inpatient"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{stay}");
    let stay = stay["id"].as_str().expect("id").to_owned();
    let (s, dr, _) = call(
        &app,
        post(
            "/v1/practitioners",
            &t,
            &json!({"code": "DR-ROSSI", "family_name": "Rossi", "npi": "1234567893"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{dr}");
    let path = format!("/v1/episodes/{stay}/coding");

    // Before the first coding: version 0, nothing coded.
    let (s, empty, _) = call(&app, get(&path, &t)).await;
    assert_eq!(s, StatusCode::OK, "{empty}");
    assert_eq!(
        (empty["version"].clone(), empty["etag"].clone()),
        (json!(0), json!("\"v0\""))
    );
    assert_eq!(empty["diagnoses"], json!([]));
    assert_eq!(etag(&app, get(&path, &t)).await, "\"v0\"");

    let coder = token(&["biller"], None);
    let body = json!({
        "diagnoses": [{"code": "J18.9", "present_on_admission": "Y"}, {"code": "e119", "present_on_admission": "n"}],
        "admitting_diagnosis": "R50.9",
        "admission": {"type": "1", "source": "2", "at": "2026-12-01T08:30:00Z"},
        "discharge": {"status": "01", "at": "2026-12-04T11:00:00Z"},
        "attending_practitioner_id": dr["id"],
        "reason": "coded at discharge"
    });
    let (s, first, _) = call(
        &app,
        put(&path, &coder, &body).insert_header(("If-Match", "\"v0\"")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{first}");
    assert_eq!(first["version"], 1);
    assert_eq!(etag(&app, get(&path, &t)).await, "\"v1\"");
    assert_eq!(
        first["diagnoses"],
        json!([{"code": "J18.9", "present_on_admission": "Y"}, {"code": "E11.9", "present_on_admission": "N"}]),
        "codes kept with their dot, upper case"
    );
    assert_eq!(first["admission"]["type"], "1");
    assert_eq!(first["attending_practitioner_id"], dr["id"]);

    // The same coding again changes nothing; a change with the new tag is version 2.
    let (s, same, _) = call(
        &app,
        put(&path, &coder, &body).insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    assert_eq!((s, same["version"].clone()), (StatusCode::OK, json!(1)));
    let mut second = body.clone();
    second["diagnoses"][1] = json!({"code": "E11.65", "present_on_admission": "Y"});
    second["reason"] = json!("coder review");
    let (s, v2, _) = call(
        &app,
        put(&path, &coder, &second).insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    assert_eq!(
        (s, v2["version"].clone()),
        (StatusCode::OK, json!(2)),
        "{v2}"
    );

    // Every version kept, newest first; each change announced once, whole.
    let (_, versions, _) = call(&app, get(&format!("{path}/versions"), &t)).await;
    let items = versions["items"].as_array().expect("items");
    assert_eq!(
        items
            .iter()
            .map(|v| v["version"].clone())
            .collect::<Vec<_>>(),
        [json!(2), json!(1)]
    );
    assert_eq!(items[1]["reason"], "coded at discharge");
    let events = coded(&outbox_types(&h.db).await);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["episode_id"], stay.as_str());
    assert_eq!(events[1]["location_id"], f.location.as_str());
    assert_eq!(events[1]["version"], 2);
    assert_eq!(events[1]["coding"]["diagnoses"][1]["code"], "E11.65");
    assert_eq!(events[1]["reason"], "coder review");

    // An outpatient visit has diagnoses and reasons for the visit, and no stay facts.
    let visit = format!("/v1/episodes/{}/coding", f.episode);
    let (s, visit, _) = call(
        &app,
        put(
            &visit,
            &coder,
            &json!({"diagnoses": [{"code": "R05.9"}], "reason_for_visit": ["R05.9"]}),
        )
        .insert_header(("If-Match", "\"v0\"")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{visit}");
    assert_eq!(visit["reason_for_visit"], json!(["R05.9"]));
}

async fn what_the_episode_does_not_have_a_bad_code_or_a_stale_tag_changes_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let f = fixture(&app, "H1", "ENC-1").await;
    let path = format!("/v1/episodes/{}/coding", f.episode);
    let good = json!({"diagnoses": [{"code": "R05.9"}]});

    // No If-Match: 428; a tag of another version: 412.
    let (s, problem, _) = call(&app, put(&path, &t, &good)).await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "{problem}");
    let (s, problem, _) = call(
        &app,
        put(&path, &t, &good).insert_header(("If-Match", "\"v3\"")),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{problem}");

    // An outpatient visit has no admission, discharge, admitting diagnosis or POA flags.
    let stay_facts = json!({
        "diagnoses": [{"code": "R05.9", "present_on_admission": "Y"}],
        "admitting_diagnosis": "R50.9",
        "admission": {"type": "1", "source": "2", "at": "2026-12-01T08:30:00Z"},
        "discharge": {"status": "01"}
    });
    let (s, problem, _) = call(
        &app,
        put(&path, &t, &stay_facts).insert_header(("If-Match", "\"v0\"")),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut named = fields(&problem);
    named.sort();
    assert_eq!(
        named,
        [
            "admission",
            "admitting_diagnosis",
            "diagnoses.0.present_on_admission",
            "discharge"
        ]
    );

    // Bad codes, a duplicate, codes off the NUBC lists, an unknown practitioner.
    let bad = json!({
        "diagnoses": [{"code": "J18.9"}, {"code": "J189"}, {"code": "99213"}],
        "reason_for_visit": ["R05.9", "R05.9", "R05.9", "R05.9"],
        "attending_practitioner_id": "00000000-0000-7000-8000-000000000000",
        "referring_practitioner_id": "DR-ROSSI"
    });
    let (s, problem, _) = call(
        &app,
        put(&path, &t, &bad).insert_header(("If-Match", "\"v0\"")),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let named = fields(&problem);
    for field in [
        "diagnoses.1.code",
        "diagnoses.2.code",
        "reason_for_visit",
        "referring_practitioner_id",
    ] {
        assert!(named.iter().any(|f| f == field), "{field}: {problem}");
    }
    let (s, problem, _) = call(
        &app,
        put(
            &path,
            &t,
            &json!({"attending_practitioner_id": "00000000-0000-7000-8000-000000000000"}),
        )
        .insert_header(("If-Match", "\"v0\"")),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["attending_practitioner_id"]);
    let (s, stay, _) = call(&app, post("/v1/episodes", &t, &json!({"number": "ADM-2", "patient_id": f.patient, "location_id": f.location, "kind": "inpatient"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, problem, _) = call(
        &app,
        put(
            &format!("/v1/episodes/{}/coding", stay["id"].as_str().expect("id")),
            &t,
            &json!({"admission": {"type": "7", "source": "3", "at": "2026-12-02T08:00:00Z"}, "discharge": {"status": "99", "at": "2026-12-01T08:00:00Z"}}),
        )
        .insert_header(("If-Match", "\"v0\"")),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut named = fields(&problem);
    named.sort();
    assert_eq!(
        named,
        [
            "admission.source",
            "admission.type",
            "discharge.at",
            "discharge.status"
        ]
    );

    // Not readable or writable outside one's locations, nor by a portal role.
    let elsewhere = token(&["biller"], Some(&["H9"]));
    let (s, _, _) = call(&app, get(&path, &elsewhere)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        put(&path, &elsewhere, &good).insert_header(("If-Match", "\"v0\"")),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A cancelled episode's coding does not change.
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/episodes/{}/status", f.episode),
            &t,
            &json!({"status": "cancelled", "reason": "opened by mistake"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, problem, _) = call(
        &app,
        put(&path, &t, &good).insert_header(("If-Match", "\"v0\"")),
    )
    .await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("cancelled")),
        "{problem}"
    );

    assert_eq!(count(&h.db, "episode_codings").await, 0);
    assert!(coded(&outbox_types(&h.db).await).is_empty());
}
