//! The practitioner registry over HTTP: a practitioner with the identifiers claims name them by
//! (an NPI whose check digit holds, a taxonomy code), unique code, NPI and identifiers, each
//! change announced; bad input a 422 naming its fields or a 409, with nothing stored.

use actix_web::http::StatusCode;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, fields, get, post, put, token};
use serde_json::json;

use crate::common::{app, count, harness, outbox_types};

carebill_platform::both_backends!(
    a_practitioner_is_registered_found_by_code_npi_and_identifier_and_announced,
    a_practitioner_with_a_bad_npi_or_taken_identifiers_is_refused_and_nothing_is_stored
);

fn rossi() -> serde_json::Value {
    json!({
        "code": "DR-ROSSI", "family_name": "Rossi", "given_name": "Marco", "credentials": "MD",
        "npi": "1234567893", "taxonomy": "207Q00000X", "specialty": "Family medicine",
        "active_from": "2020-01-01",
        "identifiers": [{"system": "his", "value": "ROSSI-M"}, {"system": "national_id", "value": "RSSMRC70A01H501U"}]
    })
}

async fn a_practitioner_is_registered_found_by_code_npi_and_identifier_and_announced(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let manager = token(&["billing_manager"], None);
    let (s, dr, _) = call(&app, post("/v1/practitioners", &manager, &rossi())).await;
    assert_eq!(s, StatusCode::CREATED, "{dr}");
    assert_eq!(dr["kind"], "person", "a person unless said otherwise");
    assert_eq!(dr["npi"], "1234567893");
    assert_eq!(dr["taxonomy"], "207Q00000X");
    let id = dr["id"].as_str().expect("id").to_owned();

    // Found by id, code, NPI (spaces ignored), identifier, and active day.
    let (_, again, _) = call(&app, get(&format!("/v1/practitioners/{id}"), &admin())).await;
    assert_eq!(again, dr);
    let biller = token(&["biller"], None);
    for query in [
        "code=DR-ROSSI",
        "npi=1234%20567%20893",
        "identifier=his|ROSSI-M",
        "active_on=2026-12-07",
    ] {
        let (s, page, _) = call(&app, get(&format!("/v1/practitioners?{query}"), &biller)).await;
        assert_eq!(s, StatusCode::OK, "{query}: {page}");
        assert_eq!(page["items"][0]["id"], id.as_str(), "{query}: {page}");
    }
    for query in [
        "code=DR-NOBODY",
        "identifier=his|NOBODY",
        "active_on=2019-12-31",
    ] {
        let (_, page, _) = call(&app, get(&format!("/v1/practitioners?{query}"), &biller)).await;
        assert_eq!(page["items"], json!([]), "{query}");
    }

    // A laboratory, an organisation: only a name.
    let lab = json!({"code": "LAB-1", "kind": "organization", "family_name": "Springfield Lab", "npi": "1999999992"});
    let (s, lab, _) = call(&app, post("/v1/practitioners", &manager, &lab)).await;
    assert_eq!(s, StatusCode::CREATED, "{lab}");
    assert_eq!(lab["kind"], "organization");

    // Replaced: a new taxonomy, the his identifier changed, an end date; the code stays.
    let mut changed = rossi();
    changed["taxonomy"] = json!("208D00000X");
    changed["active_to"] = json!("2026-12-31");
    changed["identifiers"] = json!([{"system": "his", "value": "ROSSI-MARCO"}]);
    let (s, after, _) = call(
        &app,
        put(&format!("/v1/practitioners/{id}"), &manager, &changed),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{after}");
    assert_eq!(after["taxonomy"], "208D00000X");
    let (_, page, _) = call(
        &app,
        get("/v1/practitioners?identifier=his|ROSSI-M", &biller),
    )
    .await;
    assert_eq!(page["items"], json!([]), "the old identifier is released");
    assert_eq!(count(&h.db, "practitioner_identifiers").await, 1);
    let (_, page, _) = call(&app, get("/v1/practitioners?active_on=2027-01-01", &biller)).await;
    assert_eq!(
        page["items"].as_array().expect("items").len(),
        1,
        "only the lab"
    );

    // Each registration and change announced, as the registry now holds it.
    let events: Vec<_> = outbox_types(&h.db)
        .await
        .into_iter()
        .filter(|(t, _)| t == "carebill.accounts.practitioner.changed.v1")
        .collect();
    assert_eq!(events.len(), 3);
    let last = &events[2].1;
    assert_eq!(last["subject"], format!("practitioner/{id}"));
    assert_eq!(last["data"]["practitioner"]["taxonomy"], "208D00000X");
    assert_eq!(
        last["data"]["practitioner"]["identifiers"],
        json!([{"system": "his", "value": "ROSSI-MARCO"}])
    );
    assert_eq!(last["data"]["changed_at"], after["updated_at"]);

    // The code cannot change; a biller may read but not write.
    changed["code"] = json!("DR-MARCO");
    let (s, problem, _) = call(
        &app,
        put(&format!("/v1/practitioners/{id}"), &manager, &changed),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["code"]);
    let (s, _, _) = call(&app, post("/v1/practitioners", &biller, &rossi())).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn a_practitioner_with_a_bad_npi_or_taken_identifiers_is_refused_and_nothing_is_stored(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let (s, first, _) = call(&app, post("/v1/practitioners", &t, &rossi())).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");

    // One digit off: the check digit fails, and says so.
    let mut bad = rossi();
    bad["code"] = json!("DR-OTHER");
    bad["npi"] = json!("1234567894");
    bad["taxonomy"] = json!("207Q0000");
    bad["active_from"] = json!("2026-12-31");
    bad["active_to"] = json!("2026-01-01");
    bad["identifiers"] = json!([{"system": "his", "value": "A"}, {"system": "his", "value": "B"}]);
    let (s, problem, _) = call(&app, post("/v1/practitioners", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let named = fields(&problem);
    for field in ["npi", "taxonomy", "active_to", "identifiers.1.system"] {
        assert!(named.iter().any(|f| f == field), "{field}: {problem}");
    }
    let npi_error = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["field"] == "npi")
        .expect("npi error");
    assert_eq!(npi_error["code"], "check_digit", "{problem}");

    // An organisation has no given name.
    let org =
        json!({"code": "LAB-2", "kind": "organization", "family_name": "Lab", "given_name": "X"});
    let (s, problem, _) = call(&app, post("/v1/practitioners", &t, &org)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["given_name"]);

    // Taken: the code, the NPI, an identifier — each a 409 naming the owner.
    let id = first["id"].as_str().expect("id");
    let mut taken = rossi();
    let (s, problem, _) = call(&app, post("/v1/practitioners", &t, &taken)).await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists"))
    );
    taken["code"] = json!("DR-TWIN");
    let (s, problem, _) = call(&app, post("/v1/practitioners", &t, &taken)).await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists")),
        "{problem}"
    );
    assert!(
        problem["detail"].as_str().expect("detail").contains(id),
        "{problem}"
    );
    taken["npi"] = json!(null);
    let (s, problem, _) = call(&app, post("/v1/practitioners", &t, &taken)).await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("identifier_taken")),
        "{problem}"
    );

    // Unknown fields, a malformed filter, an unknown id.
    let (s, _, _) = call(
        &app,
        post(
            "/v1/practitioners",
            &t,
            &json!({"code": "X", "family_name": "Y", "npi_number": "1"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "an unknown field");
    let (s, problem, _) = call(&app, get("/v1/practitioners?identifier=his", &t)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (s, _, _) = call(
        &app,
        get("/v1/practitioners/00000000-0000-0000-0000-000000000000", &t),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Nothing but the first was stored or announced.
    assert_eq!(count(&h.db, "practitioners").await, 1);
    assert_eq!(count(&h.db, "practitioner_identifiers").await, 2);
    let announced = outbox_types(&h.db)
        .await
        .iter()
        .filter(|(t, _)| t == "carebill.accounts.practitioner.changed.v1")
        .count();
    assert_eq!(announced, 1);
}

carebill_platform::both_backends!(master_data_is_announced_again_page_by_page);

async fn master_data_is_announced_again_page_by_page(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    for (code, npi) in [
        ("DR-A", "1234567893"),
        ("DR-B", "1999999992"),
        ("DR-C", "1000000004"),
    ] {
        let (s, p, _) = call(
            &app,
            post(
                "/v1/practitioners",
                &t,
                &json!({"code": code, "family_name": code, "npi": npi}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
    }
    let before = outbox_types(&h.db).await.len();
    let kinds = carebill_accounts::parse_kinds(Some("practitioners, codings")).expect("kinds");
    let counts = carebill_accounts::announce(&h.db, &kinds, 2)
        .await
        .expect("announce");
    assert_eq!(counts, [("practitioners", 3), ("codings", 0)]);
    let events = outbox_types(&h.db).await;
    let again: Vec<&str> = events[before..]
        .iter()
        .map(|(_, e)| e["data"]["practitioner"]["code"].as_str().expect("code"))
        .collect();
    let mut sorted = again.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        ["DR-A", "DR-B", "DR-C"],
        "each once, over two pages"
    );
    assert!(carebill_accounts::parse_kinds(Some("coverage")).is_err());
    assert!(carebill_accounts::parse_kinds(Some(" , ")).is_err());
}
