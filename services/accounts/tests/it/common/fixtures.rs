//! Master data most scenarios start from, created through the API.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use carebill_platform::testing::{admin, call, get, post};
use serde_json::{Value, json};

/// Master data for a consumption: location H1, payer, patient with coverage, catalog item, open episode.
pub struct Fixture {
    /// The location id.
    pub location: String,
    /// The open episode id.
    pub episode: String,
    /// The patient id.
    pub patient: String,
}

/// Creates the fixture through the API; the location is reused if `loc_code` exists.
pub async fn fixture(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    loc_code: &str,
    number: &str,
) -> Fixture {
    let t = admin();
    let (s, loc, _) = call(
        app,
        post(
            "/v1/locations",
            &t,
            &json!({"code": loc_code, "name": "Hospital", "time_zone": "Europe/Madrid"}),
        ),
    )
    .await;
    let loc = if s == StatusCode::CREATED {
        loc
    } else {
        let (_, list, _) = call(app, get("/v1/locations", &t)).await;
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|l| l["code"] == loc_code)
            .cloned()
            .expect("location")
    };
    let (_, payer, _) = call(
        app,
        post(
            "/v1/payers",
            &t,
            &json!({"code": format!("INS-{number}"), "name": "Insurer", "kind": "insurer"}),
        ),
    )
    .await;
    let (s, patient, _) = call(
        app,
        post("/v1/patients", &t, &json!({"identifiers": [{"system": "mrn", "value": format!("MRN-{number}")}], "family_name": "Garcia", "given_name": "Ana", "birth_date": "1980-04-12", "beneficiary_kind": "INSURED", "flags": ["chronic"]})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{patient}");
    let (s, cov, _) = call(app, post("/v1/coverages", &t, &json!({"patient_id": patient["id"], "payer_id": payer["id"], "policy_number": "P-1", "plan_code": "GOLD", "priority": 1}))).await;
    assert_eq!(s, StatusCode::CREATED, "{cov}");
    let _ = call(app, post("/v1/catalog-items", &t, &json!({"code": "LAB-HB", "description": "Hemoglobin", "service_group": "LAB", "kind": "lab", "unit": "test"}))).await;
    let (s, ep, _) = call(
        app,
        post("/v1/episodes", &t, &json!({"number": number, "patient_id": patient["id"], "location_id": loc["id"], "kind": "outpatient", "attending_practitioner": "DR-ROSSI"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{ep}");
    Fixture {
        location: loc["id"].as_str().expect("id").to_owned(),
        episode: ep["id"].as_str().expect("id").to_owned(),
        patient: patient["id"].as_str().expect("id").to_owned(),
    }
}

/// A consumption of LAB-HB on `episode`, keyed HIS/`ext` when given.
pub fn consumption(episode: &str, ext: Option<&str>) -> Value {
    let mut c = json!({"episode_id": episode, "code": "LAB-HB", "quantity": "2", "performed_at": "2026-11-20T10:00:00Z", "performed_by": "DR-LAB", "attributes": {"urgent": true}});
    if let Some(e) = ext {
        c["source_system"] = json!("HIS");
        c["external_id"] = json!(e);
    }
    c
}
