//! What claims need of the catalog and the locations: a catalog item's billing code and a
//! location's claim facts, checked when written, shown with the item or location, announced,
//! cleared by leaving them out; bad codes a 422 naming each field, with nothing changed.

use actix_web::http::StatusCode;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, fields, get, post, put};
use serde_json::{Value, json};

use crate::common::fixtures::{consumption, fixture};
use crate::common::{app, count, harness, outbox_types};

carebill_platform::both_backends!(
    a_catalog_item_and_a_location_keep_what_claims_bill_and_name_them_by,
    bad_billing_codes_and_claim_facts_are_refused_naming_each_field,
    a_child_on_a_parents_policy_is_announced_with_its_subscriber_and_a_patient_with_their_details,
    a_consumption_keeps_its_diagnoses_and_modifiers_and_announces_them,
);

fn events_of(events: &[(String, Value)], kind: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|(t, _)| t == kind)
        .map(|(_, e)| e["data"].clone())
        .collect()
}

fn visit() -> Value {
    json!({"code": "CONS-GP", "description": "Office visit", "service_group": "CONSULTATIONS", "kind": "consultation", "unit": "visit",
           "billing_code": {"system": "cpt", "code": "99213", "modifiers": ["25"], "revenue_code": "0510"}})
}

fn hospital() -> Value {
    json!({"code": "SPR", "name": "Springfield General", "time_zone": "America/Chicago", "currency": "USD",
           "address": {"lines": ["1 Main Street"], "city": "Springfield", "region": "IL", "postal_code": "62701-1234", "country": "US"},
           "claims": {"npi": "1234567893", "taxonomy": "282N00000X", "ein": "12-3456789", "place_of_service": "22",
                      "facility_types": {"inpatient": "11", "outpatient": "13"}}})
}

async fn a_catalog_item_and_a_location_keep_what_claims_bill_and_name_them_by(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let (s, item, _) = call(&app, post("/v1/catalog-items", &t, &visit())).await;
    assert_eq!(s, StatusCode::CREATED, "{item}");
    assert_eq!(
        item["billing_code"],
        json!({"system": "cpt", "code": "99213", "modifiers": ["25"], "revenue_code": "0510", "unit_basis": null})
    );
    let (s, location, _) = call(&app, post("/v1/locations", &t, &hospital())).await;
    assert_eq!(s, StatusCode::CREATED, "{location}");
    assert_eq!(
        location["claims"]["ein"], "123456789",
        "stored without its dash"
    );
    assert_eq!(location["claims"]["facility_types"]["inpatient"], "11");
    assert_eq!(
        location["claims"]["facility_types"]["home_care"],
        Value::Null
    );
    let id = location["id"].as_str().expect("id");
    let (_, again, _) = call(&app, get(&format!("/v1/locations/{id}"), &t)).await;
    assert_eq!(again["claims"], location["claims"]);

    // A replaced item bills another code; an item without one bills none.
    let item_id = item["id"].as_str().expect("id");
    let mut hcpcs = visit();
    hcpcs["billing_code"] = json!({"system": "hcpcs", "code": "g0463", "unit_basis": "UN"});
    let (s, replaced, _) = call(
        &app,
        put(&format!("/v1/catalog-items/{item_id}"), &t, &hcpcs),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["billing_code"]["code"], "G0463");
    let mut plain = visit();
    plain
        .as_object_mut()
        .expect("object")
        .remove("billing_code");
    let (_, cleared, _) = call(
        &app,
        put(&format!("/v1/catalog-items/{item_id}"), &t, &plain),
    )
    .await;
    assert_eq!(cleared["billing_code"], Value::Null);

    // Announced: each item change with its billing code, the location with its claim facts.
    let events = outbox_types(&h.db).await;
    let items = events_of(&events, "carebill.accounts.catalog_item.changed.v1");
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["item"]["code"], "CONS-GP");
    assert_eq!(items[1]["billing_code"]["code"], "G0463");
    assert_eq!(items[2]["billing_code"], Value::Null);
    let locations = events_of(&events, "carebill.accounts.location.changed.v1");
    assert_eq!(locations[0]["claims"]["npi"], "1234567893");
    assert_eq!(locations[0]["location"]["code"], "SPR");
}

async fn bad_billing_codes_and_claim_facts_are_refused_naming_each_field(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let mut item = visit();
    item["billing_code"] = json!({"system": "cpt", "code": "J1100", "modifiers": ["25", "25", "LTX"], "revenue_code": "1510"});
    let (s, problem, _) = call(&app, post("/v1/catalog-items", &t, &item)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut named = fields(&problem);
    named.sort();
    assert_eq!(
        named,
        [
            "billing_code.code",
            "billing_code.modifiers.1",
            "billing_code.modifiers.2",
            "billing_code.revenue_code"
        ]
    );
    item["billing_code"] = json!({"system": "icd10", "code": "J18.9"});
    let (s, _, _) = call(&app, post("/v1/catalog-items", &t, &item)).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown coding system"
    );

    let mut location = hospital();
    location["claims"] = json!({"npi": "1234567890", "taxonomy": "282N", "ein": "12-34", "place_of_service": "2",
                                "facility_types": {"inpatient": "91", "home_care": "3"}});
    let (s, problem, _) = call(&app, post("/v1/locations", &t, &location)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut named = fields(&problem);
    named.sort();
    assert_eq!(
        named,
        [
            "claims.ein",
            "claims.facility_types.home_care",
            "claims.facility_types.inpatient",
            "claims.npi",
            "claims.place_of_service",
            "claims.taxonomy"
        ]
    );
    let npi = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["field"] == "claims.npi")
        .expect("npi");
    assert_eq!(npi["code"], "check_digit");

    let (_, items, _) = call(&app, get("/v1/catalog-items", &t)).await;
    let (_, locations, _) = call(&app, get("/v1/locations", &t)).await;
    assert_eq!(
        (items["items"].clone(), locations["items"].clone()),
        (json!([]), json!([]))
    );
    assert!(outbox_types(&h.db).await.is_empty(), "nothing announced");
}

async fn a_child_on_a_parents_policy_is_announced_with_its_subscriber_and_a_patient_with_their_details(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let f = fixture(&app, "H1", "ENC-1").await;
    let (_, payer, _) = call(
        &app,
        post(
            "/v1/payers",
            &t,
            &json!({"code": "UHC", "name": "UnitedHealthcare", "kind": "insurer"}),
        ),
    )
    .await;
    let parent = json!({
        "patient_id": f.patient, "payer_id": payer["id"], "policy_number": "MEMBER123", "priority": 2,
        "group_number": "GRP-1",
        "subscriber": {"relationship": "child", "family_name": "Doe", "given_name": "John", "birth_date": "1975-06-30", "sex": "male",
                       "address": {"lines": ["2 Elm Street"], "city": "Springfield", "region": "IL", "postal_code": "62701", "country": "US"}}
    });
    let (s, coverage, _) = call(&app, post("/v1/coverages", &t, &parent)).await;
    assert_eq!(s, StatusCode::CREATED, "{coverage}");
    assert_eq!(coverage["subscriber"]["relationship"], "child");
    assert_eq!(coverage["group_number"], "GRP-1");

    let events = outbox_types(&h.db).await;
    let changed = events_of(&events, "carebill.accounts.coverage.changed.v1");
    let last = changed.last().expect("coverage.changed");
    assert_eq!(last["coverages"].as_array().expect("coverages").len(), 2);
    assert_eq!(
        last["claims"],
        json!([{"coverage_id": coverage["id"], "group_number": "GRP-1", "subscriber": {
            "relationship": "child", "member_id": null, "family_name": "Doe", "given_name": "John",
            "birth_date": "1975-06-30", "sex": "male",
            "address": {"lines": ["2 Elm Street"], "city": "Springfield", "postal_code": "62701", "region": "IL", "country": "US"}}}]),
        "only the coverage with claim facts"
    );
    assert!(
        changed[0].get("claims").is_none(),
        "a coverage without a subscriber or group adds nothing: {}",
        changed[0]
    );
    let patients = events_of(&events, "carebill.accounts.patient.changed.v1");
    assert_eq!(patients.len(), 1);
    assert_eq!(patients[0]["patient_id"], f.patient.as_str());
    assert_eq!(patients[0]["birth_date"], "1980-04-12");

    // Not the patient: the subscriber's name and birth date are needed; the patient's own
    // details are not the subscriber's to repeat.
    let mut bad = parent.clone();
    bad["priority"] = json!(3);
    bad["subscriber"] = json!({"relationship": "spouse", "family_name": " ", "sex": "x"});
    let (s, problem, _) = call(&app, post("/v1/coverages", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut named = fields(&problem);
    named.sort();
    named.dedup();
    assert_eq!(
        named,
        [
            "subscriber.birth_date",
            "subscriber.family_name",
            "subscriber.sex"
        ]
    );
    bad["subscriber"] = json!({"relationship": "self", "member_id": "M-9", "family_name": "Doe"});
    let (s, problem, _) = call(&app, post("/v1/coverages", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["subscriber.family_name"]);
    let (_, list, _) = call(
        &app,
        get(&format!("/v1/coverages?patient_id={}", f.patient), &t),
    )
    .await;
    assert_eq!(
        list["items"].as_array().expect("items").len(),
        2,
        "nothing stored"
    );

    // Announced again (for a service that starts keeping a copy), per patient with coverages,
    // as an announcement; a patient without coverages is not.
    let (s, uncovered, _) = call(
        &app,
        post(
            "/v1/patients",
            &t,
            &json!({"identifiers": [{"system": "mrn", "value": "MRN-UNCOVERED"}], "family_name": "Nobody", "given_name": "Uncovered",
                    "birth_date": "1990-01-01", "beneficiary_kind": "INSURED"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{uncovered}");
    let before = events_of(
        &outbox_types(&h.db).await,
        "carebill.accounts.coverage.changed.v1",
    )
    .len();
    let counts =
        carebill_accounts::announce(&h.db, &[carebill_accounts::AnnounceKind::Coverages], 1)
            .await
            .expect("announced");
    assert_eq!(counts, [("coverages", 1)]);
    let changed = events_of(
        &outbox_types(&h.db).await,
        "carebill.accounts.coverage.changed.v1",
    );
    assert_eq!(changed.len(), before + 1);
    let announced = changed.last().expect("announced");
    assert_eq!(
        (
            announced["change"].as_str(),
            announced["patient_id"].as_str()
        ),
        (Some("announced"), Some(f.patient.as_str()))
    );
    assert_eq!(announced["claims"][0]["group_number"], "GRP-1");
}

async fn a_consumption_keeps_its_diagnoses_and_modifiers_and_announces_them(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let f = fixture(&app, "H1", "ENC-1").await;
    let mut coded = consumption(&f.episode, Some("ord-1"));
    coded["diagnosis_codes"] = json!(["j189", " E11.9 "]);
    coded["modifiers"] = json!(["lt"]);
    let (s, c, _) = call(&app, post("/v1/consumptions", &t, &coded)).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(
        (c["diagnosis_codes"].clone(), c["modifiers"].clone()),
        (json!(["J18.9", "E11.9"]), json!(["LT"])),
        "written as claims carry them: dotted, upper case"
    );
    let id = c["id"].as_str().expect("id").to_owned();
    let (_, read, _) = call(&app, get(&format!("/v1/consumptions/{id}"), &t)).await;
    assert_eq!(read["diagnosis_codes"], json!(["J18.9", "E11.9"]));
    // A retry with the same content is the same consumption; other diagnoses are another
    // content under the same external id.
    let (s, again, _) = call(&app, post("/v1/consumptions", &t, &coded)).await;
    assert_eq!(
        (s, again["id"].as_str()),
        (StatusCode::OK, Some(id.as_str()))
    );
    let mut recoded = coded.clone();
    recoded["diagnosis_codes"] = json!(["J18.9"]);
    let (s, problem, _) = call(&app, post("/v1/consumptions", &t, &recoded)).await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("external_id_reused"))
    );
    // Without them, a consumption shows empty lists and its event says nothing.
    let (s, plain, _) = call(
        &app,
        post(
            "/v1/consumptions",
            &t,
            &consumption(&f.episode, Some("ord-2")),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{plain}");
    assert_eq!(
        (plain["diagnosis_codes"].clone(), plain["modifiers"].clone()),
        (json!([]), json!([]))
    );
    let recorded = events_of(
        &outbox_types(&h.db).await,
        "carebill.accounts.consumption.recorded.v1",
    );
    assert_eq!(recorded.len(), 2);
    assert_eq!(
        recorded[0]["claim"],
        json!({"diagnosis_codes": ["J18.9", "E11.9"], "modifiers": ["LT"]})
    );
    assert!(recorded[1].get("claim").is_none(), "{}", recorded[1]);

    // Bad ones: each named, nothing recorded.
    let before = count(&h.db, "consumptions").await;
    let mut bad = consumption(&f.episode, None);
    bad["diagnosis_codes"] = json!(["J18.9", "not a code", "j18.9", "R05", "R50.9"]);
    bad["modifiers"] = json!(["L", "25", "25"]);
    let (s, problem, _) = call(&app, post("/v1/consumptions", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let mut named = fields(&problem);
    named.sort();
    assert_eq!(
        named,
        [
            "diagnosis_codes",
            "diagnosis_codes.1",
            "diagnosis_codes.2",
            "modifiers.0",
            "modifiers.2"
        ]
    );
    let codes: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["code"].as_str().expect("code"))
        .collect();
    assert!(
        codes.contains(&"too_many") && codes.contains(&"duplicate"),
        "{problem}"
    );
    bad["diagnosis_codes"] = json!("J18.9");
    let (s, _, _) = call(&app, post("/v1/consumptions", &t, &bad)).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a string is not a list"
    );
    assert_eq!(count(&h.db, "consumptions").await, before);
}
