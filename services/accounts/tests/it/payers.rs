//! Payers over HTTP: what e-invoices need of the buyer (legal name, VAT id, legal registration
//! and electronic address with their schemes, the buyer reference Peppol needs) is kept
//! normalised, and every malformed value is a 422 naming its field with nothing stored.

use actix_web::http::StatusCode;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, fields, get, post};
use serde_json::json;

use crate::common::{app, harness};

carebill_platform::both_backends!(
    a_payer_keeps_its_e_invoicing_data_and_refuses_malformed_identifiers
);

async fn a_payer_keeps_its_e_invoicing_data_and_refuses_malformed_identifiers(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let complete = json!({
        "code": "SANITAS", "name": "Sanitas", "kind": "insurer",
        "address": {"lines": ["Calle Ribera del Loira 52"], "city": "Madrid", "postal_code": "28042", "country": "ES"},
        "legal_name": "Sanitas S.A. de Seguros",
        "vat_id": "ESA28037042",
        "endpoint": {"scheme": "9920", "id": "ESA28037042"},
        "legal_registration": {"scheme": "0088", "id": "4000001000005"},
        "buyer_reference": "SANITAS-HOSP",
        "payment_terms": {"days": 60, "end_of_month": true}
    });
    let (s, payer, _) = call(&app, post("/v1/payers", &t, &complete)).await;
    assert_eq!(s, StatusCode::CREATED, "{payer}");
    assert_eq!(payer["legal_name"], "Sanitas S.A. de Seguros");
    assert_eq!(payer["vat_id"], "ESA28037042");
    assert_eq!(
        payer["endpoint"],
        json!({"scheme": "9920", "id": "ESA28037042"})
    );
    assert_eq!(payer["buyer_reference"], "SANITAS-HOSP");
    assert_eq!(
        payer["payment_terms"],
        json!({"days": 60, "end_of_month": true, "text": null})
    );
    let id = payer["id"].as_str().expect("id");
    let (_, again, _) = call(&app, get(&format!("/v1/payers/{id}"), &t)).await;
    assert_eq!(again, payer);

    let mut bad = complete.clone();
    bad["code"] = json!("ADESLAS");
    bad["endpoint"] = json!({"scheme": "0088", "id": "4000001000006"});
    bad["legal_registration"]["scheme"] = json!("1234");
    bad["vat_id"] = json!("ZZ");
    bad["payment_terms"] = json!({"days": 400, "text": " "});
    let (s, problem, _) = call(&app, post("/v1/payers", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let named = fields(&problem);
    for field in [
        "endpoint.id",
        "legal_registration.scheme",
        "vat_id",
        "payment_terms.days",
    ] {
        assert!(named.iter().any(|f| f == field), "{field}: {problem}");
    }
    let (_, list, _) = call(&app, get("/v1/payers", &t)).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
}
