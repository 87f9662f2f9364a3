//! Locations over HTTP: what e-invoices need of the seller (legal name, VAT id, legal
//! registration and electronic address with their schemes, bank account, contact e-mail) is
//! kept normalised, and every malformed value is a 422 naming its field with nothing stored.

use actix_web::http::StatusCode;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, fields, get, post};
use serde_json::json;

use crate::common::{app, harness};

carebill_platform::both_backends!(
    a_location_keeps_its_e_invoicing_data_and_refuses_malformed_identifiers
);

async fn a_location_keeps_its_e_invoicing_data_and_refuses_malformed_identifiers(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let complete = json!({
        "code": "H1", "name": "Hospital Central", "time_zone": "Europe/Madrid",
        "address": {"lines": ["Calle Mayor 1"], "city": "Madrid", "postal_code": "28013", "country": "ES"},
        "legal_name": "Hospital Central S.L.",
        "vat_id": "es b12345678",
        "legal_registration": {"scheme": "0088", "id": "4000001000005"},
        "endpoint": {"scheme": "0088", "id": " 4000001000005 "},
        "bank_account": {"iban": "ES91 2100 0418 4502 0005 1332", "bic": "caixesbbxxx"},
        "contact_email": "billing@hospital.example"
    });
    let (s, loc, _) = call(&app, post("/v1/locations", &t, &complete)).await;
    assert_eq!(s, StatusCode::CREATED, "{loc}");
    assert_eq!(loc["legal_name"], "Hospital Central S.L.");
    assert_eq!(loc["vat_id"], "ESB12345678");
    assert_eq!(
        loc["endpoint"],
        json!({"scheme": "0088", "id": "4000001000005"})
    );
    assert_eq!(
        loc["bank_account"],
        json!({"iban": "ES9121000418450200051332", "bic": "CAIXESBBXXX"})
    );
    assert_eq!(loc["contact_email"], "billing@hospital.example");
    let id = loc["id"].as_str().expect("id");
    let (s, again, _) = call(&app, get(&format!("/v1/locations/{id}"), &t)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again, loc);

    // Each malformed value names its field; nothing is created.
    let mut bad = complete.clone();
    bad["code"] = json!("H2");
    bad["bank_account"]["iban"] = json!("ES9121000418450200051333");
    bad["endpoint"]["id"] = json!("4000001000006");
    bad["legal_registration"]["scheme"] = json!("9999");
    bad["vat_id"] = json!("XX123");
    bad["address"]["country"] = json!("XX");
    bad["contact_email"] = json!("not an address");
    bad["bank_account"]["bic"] = json!("NOT-A-BIC");
    let (s, problem, _) = call(&app, post("/v1/locations", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["code"], "validation_failed");
    let named = fields(&problem);
    for field in [
        "bank_account.iban",
        "bank_account.bic",
        "endpoint.id",
        "legal_registration.scheme",
        "vat_id",
        "address.country",
        "contact_email",
    ] {
        assert!(named.iter().any(|f| f == field), "{field}: {problem}");
    }
    let iban = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["field"] == "bank_account.iban")
        .expect("iban error");
    assert!(
        iban["message"]
            .as_str()
            .expect("message")
            .contains("check digit"),
        "{iban}"
    );
    let (_, list, _) = call(&app, get("/v1/locations", &t)).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 1);

    // A known scheme with a value it refuses; a scheme nobody knows.
    for (endpoint, field) in [
        (json!({"scheme": "0088", "id": "12345"}), "endpoint.id"),
        (json!({"scheme": "ZZZ", "id": "x"}), "endpoint.scheme"),
    ] {
        let mut bad = complete.clone();
        bad["code"] = json!("H3");
        bad["endpoint"] = endpoint;
        let (s, problem, _) = call(&app, post("/v1/locations", &t, &bad)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(fields(&problem), vec![field.to_owned()], "{problem}");
    }

    // A location without any of it stays valid: e-invoices will say what is missing.
    let (s, bare, _) = call(
        &app,
        post(
            "/v1/locations",
            &t,
            &json!({"code": "H4", "name": "Clinic"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{bare}");
    for field in [
        "legal_name",
        "vat_id",
        "endpoint",
        "bank_account",
        "contact_email",
    ] {
        assert!(bare[field].is_null(), "{field}: {bare}");
    }
}
