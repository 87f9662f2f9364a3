//! Care agencies over HTTP (seed 004): a carer with a self-billing agreement, a placement with a
//! client, hours registered by the carer (singly and in a batch), the rules that refuse bad
//! hours, a submitted timesheet, the client's approval by link (and what a wrong, revoked or
//! expired link gets), a disputed line back with the carer, and the `timesheet.approved`
//! events the approvals emit. Every refusal changes nothing.

use actix_web::http::StatusCode;
use actix_web::test;
use carebill_platform::auth::{Claims, mint_hs256};
use carebill_platform::db::{AnyConnection, Backend};
use carebill_platform::testing::{TEST_SECRET, admin, call, fields, get, post, put, token};
use diesel::RunQueryDsl as _;
use serde_json::{Value, json};

use crate::common::{app, count, harness, outbox_types};

carebill_platform::both_backends!(
    an_agency_month_from_placement_to_approved_hours,
    what_the_agency_endpoints_refuse_changes_nothing
);

/// A token for a carer or a portal client.
fn portal_token(role: &str, patient: Option<&str>, carer: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: format!("test-{role}"),
        iss: "carebill".to_owned(),
        aud: "carebill".to_owned(),
        exp: now + 3600,
        iat: now,
        roles: vec![role.to_owned()],
        locations: None,
        payer: None,
        patient: patient.map(str::to_owned),
        carer: carer.map(str::to_owned),
    };
    mint_hs256(TEST_SECRET.as_bytes(), &claims).expect("token")
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn approvals(outbox: &[(String, Value)]) -> Vec<Value> {
    outbox
        .iter()
        .filter(|(t, _)| t == "carebill.accounts.timesheet.approved.v1")
        .map(|(_, b)| b["data"].clone())
        .collect()
}

async fn an_agency_month_from_placement_to_approved_hours(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let manager = token(&["billing_manager"], None);

    // Master data: the agency, two service types, a client, and the budget holder who pays.
    let (s, agency, _) = call(&app, post("/v1/locations", &t, &json!({"code": "ZB-UTR", "name": "Zorgbemiddeling Utrecht", "time_zone": "Europe/Amsterdam"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{agency}");
    for (code, text) in [
        ("PERSONAL-CARE", "Persoonlijke verzorging"),
        ("DOMESTIC", "Huishoudelijke hulp"),
    ] {
        let (s, item, _) = call(&app, post("/v1/catalog-items", &t, &json!({"code": code, "description": text, "service_group": "HOMECARE", "kind": "other", "unit": "hour"}))).await;
        assert_eq!(s, StatusCode::CREATED, "{item}");
    }
    let (s, client, _) = call(
        &app,
        post(
            "/v1/patients",
            &t,
            &json!({"identifiers": [{"system": "bsn", "value": "111222333"}], "family_name": "Bakker", "given_name": "Henk", "beneficiary_kind": "PGB", "flags": []}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{client}");
    let (_, other_client, _) = call(
        &app,
        post(
            "/v1/patients",
            &t,
            &json!({"identifiers": [{"system": "bsn", "value": "444555666"}], "family_name": "Visser", "given_name": "Els", "beneficiary_kind": "PGB", "flags": []}),
        ),
    )
    .await;
    let (s, svb, _) = call(&app, post("/v1/payers", &t, &json!({"code": "SVB-PGB", "name": "Sociale Verzekeringsbank", "kind": "public_authority", "legal_name": "Sociale Verzekeringsbank"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{svb}");

    // A carer: malformed data is refused field by field, nothing stored.
    let mut carer_in = json!({
        "location_id": id(&agency), "code": "ZZP-0042", "name": "Anouk de Vries",
        "address": {"lines": ["Oudegracht 1"], "city": "Utrecht", "postal_code": "3511 AA", "country": "NL"},
        "email": "anouk@example.nl", "legal_name": "Zorg door Anouk",
        "legal_registration": {"scheme": "0106", "id": "12345678"},
        "bank_account": {"iban": "NL91ABNA0417164300"},
        "vat": {"kind": "exempt", "reason_code": "VATEX-EU-132-1C", "reason": "Vrijgesteld van btw"},
        "self_billing_agreements": [{"reference": "SBA-2026-017", "valid_from": "2026-01-01", "valid_to": null}]
    });
    let mut bad = carer_in.clone();
    bad["vat"] = json!({"kind": "standard", "rate": "0"});
    bad["bank_account"] = json!({"iban": "NL91ABNA0417164301"});
    bad["self_billing_agreements"] = json!([
        {"reference": "A", "valid_from": "2026-01-01", "valid_to": null},
        {"reference": "B", "valid_from": "2026-06-01", "valid_to": "2026-12-31"}
    ]);
    let (s, problem, _) = call(&app, post("/v1/carers", &manager, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let named = fields(&problem);
    for field in ["vat.rate", "bank_account.iban", "self_billing_agreements.1"] {
        assert!(named.iter().any(|f| f == field), "{field}: {problem}");
    }
    assert_eq!(count(&h.db, "carers").await, 0);
    let (s, carer, _) = call(&app, post("/v1/carers", &manager, &carer_in)).await;
    assert_eq!(s, StatusCode::CREATED, "{carer}");
    assert_eq!(carer["bank_account"]["iban"], "NL91ABNA0417164300");
    assert_eq!(
        carer["self_billing_agreements"][0]["reference"],
        "SBA-2026-017"
    );
    carer_in["code"] = json!("ZZP-0043");
    // Sanne's agreement ended in June: invoices on her behalf wait until she signs a new one.
    carer_in["self_billing_agreements"] = json!([{"reference": "SBA-2026-003", "valid_from": "2026-01-01", "valid_to": "2026-06-30"}]);
    carer_in["name"] = json!("Sanne Smit");
    let (_, other_carer, _) = call(&app, post("/v1/carers", &manager, &carer_in)).await;

    // A placement: a commission above the hours' value, an unknown service type and a client
    // given twice are refused.
    let placement_in = json!({
        "reference": "PL-2026-0107", "location_id": id(&agency), "carer_id": id(&carer),
        "client": {"patient_id": id(&client)}, "bill_to_payer_id": id(&svb),
        "valid_from": "2026-11-01", "valid_to": "2026-12-31", "period": "week",
        "tariffs": [
            {"service_type": "PERSONAL-CARE", "hourly_rate": {"amount": "32.50", "currency": "EUR"}},
            {"service_type": "DOMESTIC", "hourly_rate": {"amount": "27.00", "currency": "EUR"}}
        ],
        "commission": {"percent": "12.5"},
        "mediation_fee": {"per_hour": {"amount": "1.50", "currency": "EUR"}},
        "approver": {"name": "Henk Bakker", "email": "henk.bakker@example.nl"}
    });
    let mut bad = placement_in.clone();
    bad["commission"] = json!({"per_hour": {"amount": "30.00", "currency": "EUR"}});
    bad["tariffs"][1]["service_type"] = json!("GARDENING");
    let (s, problem, _) = call(&app, post("/v1/placements", &manager, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let named = fields(&problem);
    assert!(named.iter().any(|f| f == "commission"), "{problem}");
    assert!(
        named.iter().any(|f| f == "tariffs.1.service_type"),
        "{problem}"
    );
    let mut bad = placement_in.clone();
    bad["client"] = json!({"patient_id": id(&client), "payer_id": id(&svb)});
    let (s, problem, _) = call(&app, post("/v1/placements", &manager, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(count(&h.db, "placements").await, 0);
    let (s, placement, _) = call(&app, post("/v1/placements", &manager, &placement_in)).await;
    assert_eq!(s, StatusCode::CREATED, "{placement}");
    let pid = id(&placement);

    // The carer registers hours with their own token.
    let anouk = portal_token("carer", None, Some(&id(&carer)));
    let sanne = portal_token("carer", None, Some(&id(&other_carer)));
    let line = |date: &str, start: &str, end: &str, kind: &str| json!({"placement_id": pid, "date": date, "start": start, "end": end, "service_type": kind});
    let (s, first, _) = call(
        &app,
        post(
            "/v1/hours",
            &anouk,
            &line("2026-11-30", "08:00", "12:30", "PERSONAL-CARE"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["minutes"], 270);
    assert_eq!(first["hours"], "4.5");
    assert_eq!(first["status"], "draft");
    let sheet_id = first["timesheet_id"]
        .as_str()
        .expect("timesheet")
        .to_owned();

    // What the rules refuse, each naming its field.
    for (body, field, code) in [
        (
            line("2026-11-30", "12:00", "13:00", "PERSONAL-CARE"),
            "start",
            "overlaps",
        ),
        (
            line("2027-01-05", "08:00", "09:00", "PERSONAL-CARE"),
            "date",
            "outside_placement",
        ),
        (
            line("2026-12-01", "09:00", "08:00", "PERSONAL-CARE"),
            "end",
            "invalid",
        ),
        (
            json!({"placement_id": pid, "date": "2026-12-01", "minutes": -30, "service_type": "DOMESTIC"}),
            "minutes",
            "not_positive",
        ),
        (
            json!({"placement_id": pid, "date": "2026-11-30", "minutes": 1200, "service_type": "DOMESTIC"}),
            "minutes",
            "over_24_hours",
        ),
        (
            line("2026-12-01", "08:00", "09:00", "LAB"),
            "service_type",
            "no_tariff",
        ),
    ] {
        let (s, problem, _) = call(&app, post("/v1/hours", &anouk, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {problem}");
        let error = problem["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .find(|e| e["field"] == field)
            .cloned();
        assert_eq!(
            error.map(|e| e["code"].clone()),
            Some(json!(code)),
            "{body}: {problem}"
        );
    }
    // Another carer does not find the placement.
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/hours",
            &sanne,
            &line("2026-12-02", "08:00", "09:00", "DOMESTIC"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), vec!["placement_id".to_owned()]);
    assert_eq!(count(&h.db, "timesheet_hours").await, 1);

    // A batch from an hours system: each line answered on its own.
    let integration = token(&["integration"], None);
    let mut pushed = json!({"placement_id": pid, "date": "2026-12-01", "minutes": 120, "service_type": "DOMESTIC", "notes": "boodschappen", "source_system": "UREN", "external_id": "U-1"});
    let batch = json!({"items": [pushed, line("2026-11-30", "10:00", "11:00", "PERSONAL-CARE"), {"placement_id": pid}]});
    let (s, result, _) = call(&app, post("/v1/hours/batch", &integration, &batch)).await;
    assert_eq!(s, StatusCode::OK, "{result}");
    assert_eq!(
        (result["registered"].clone(), result["rejected"].clone()),
        (json!(1), json!(2)),
        "{result}"
    );
    assert_eq!(
        result["results"][1]["problem"]["errors"][0]["code"],
        "overlaps"
    );
    assert_eq!(result["results"][2]["problem"]["status"], 422);
    let second = result["results"][0]["hours"].clone();
    // The same push again answers the same line; other content under its id is a conflict.
    let (_, again, _) = call(
        &app,
        post("/v1/hours/batch", &integration, &json!({"items": [pushed]})),
    )
    .await;
    assert_eq!(again["results"][0]["hours"]["id"], second["id"], "{again}");
    pushed["minutes"] = json!(90);
    let (s, problem, _) = call(&app, post("/v1/hours", &integration, &pushed)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");
    assert_eq!(count(&h.db, "timesheet_hours").await, 2);
    assert_eq!(
        second["timesheet_id"],
        json!(sheet_id),
        "one ISO week: 30 November to 6 December"
    );

    // Submitted: the lines wait for the client and no longer change.
    let (s, sheet, _) = call(
        &app,
        post(
            &format!("/v1/timesheets/{sheet_id}/submit"),
            &anouk,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sheet}");
    assert_eq!(sheet["status"], "awaiting_approval");
    assert_eq!(sheet["counts"]["submitted"], 2);
    assert_eq!(sheet["hours"], "6.5");
    assert_eq!(
        (sheet["period_start"].clone(), sheet["period_end"].clone()),
        (json!("2026-11-30"), json!("2026-12-06"))
    );
    let (s, problem, _) = call(
        &app,
        post(
            &format!("/v1/timesheets/{sheet_id}/submit"),
            &anouk,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(
        (s, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("nothing_to_submit")),
        "{problem}"
    );
    let first_id = id(&first);
    let (s, problem, _) = call(
        &app,
        put(
            &format!("/v1/hours/{first_id}"),
            &anouk,
            &line("2026-11-30", "08:00", "12:00", "PERSONAL-CARE"),
        ),
    )
    .await;
    assert_eq!(
        (s, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("not_editable")),
        "{problem}"
    );
    let (s, _, _) = call(&app, get(&format!("/v1/timesheets/{sheet_id}"), &sanne)).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another carer does not see the timesheet"
    );

    // The agency makes the approval link; a carer may not.
    let link_path = format!("/v1/timesheets/{sheet_id}/approval-links");
    let (s, _, _) = call(&app, post(&link_path, &anouk, &json!({}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, link, _) = call(&app, post(&link_path, &manager, &json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    assert_eq!(link["sent_to"], "henk.bakker@example.nl");
    let url = link["url"].as_str().expect("url");
    let token_part = url.rsplit('/').next().expect("token").to_owned();
    assert!(
        url.starts_with("http://carebill.test/v1/timesheet-approvals/"),
        "{url}"
    );
    let approval = format!("/v1/timesheet-approvals/{token_part}");
    let open = |path: &str| test::TestRequest::get().uri(path);
    let (s, seen, _) = call(&app, open(&approval)).await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    assert_eq!(seen["carer"], "Anouk de Vries");
    assert_eq!(seen["agency"], "Zorgbemiddeling Utrecht");
    assert_eq!(seen["timesheet"]["lines"].as_array().map(Vec::len), Some(2));
    let tampered = format!("/v1/timesheet-approvals/{}x", token_part);
    let (s, problem, _) = call(&app, open(&tampered)).await;
    assert_eq!(
        (s, problem["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_link"))
    );

    // A dispute without a reason is refused and nothing is decided.
    let review = |body: Value| test::TestRequest::post().uri(&approval).set_json(body);
    let second_id = id(&second);
    let (s, problem, _) = call(&app, review(json!({"decisions": [{"hours_id": first_id, "decision": "approve"}, {"hours_id": second_id, "decision": "dispute"}]}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), vec!["decisions.1.reason".to_owned()]);
    assert!(approvals(&outbox_types(&h.db).await).is_empty());
    // The client approves the morning and disputes the shopping.
    let (s, decided, _) = call(&app, review(json!({"decisions": [{"hours_id": first_id, "decision": "approve"}, {"hours_id": second_id, "decision": "dispute", "reason": "Dat was maar een uur"}]}))).await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["timesheet"]["status"], "open");
    assert_eq!(decided["timesheet"]["counts"]["approved"], 1);
    assert_eq!(decided["timesheet"]["counts"]["disputed"], 1);
    let events = approvals(&outbox_types(&h.db).await);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["lines"].as_array().map(Vec::len), Some(1));
    assert_eq!(e["lines"][0]["hours"], "4.5");
    assert_eq!(e["lines"][0]["start"], "08:00");
    assert_eq!(e["carer"]["billing"]["legal_name"], "Zorg door Anouk");
    assert_eq!(e["carer"]["billing"]["iban"], "NL91ABNA0417164300");
    assert_eq!(e["carer"]["vat"]["kind"], "exempt");
    assert_eq!(e["carer"]["agreements"][0]["reference"], "SBA-2026-017");
    assert_eq!(e["bill_to"]["payer_code"], "SVB-PGB");
    assert_eq!(e["client"]["kind"], "patient");
    assert_eq!(e["terms"]["commission"], json!({"percent": "12.5"}));
    assert_eq!(
        e["terms"]["tariffs"][0]["hourly_rate"],
        json!({"amount": "32.50", "currency": "EUR"})
    );
    assert_eq!(e["approved_by"], "approval-link:henk.bakker@example.nl");
    // Approving the same line twice is a conflict.
    let (s, problem, _) = call(
        &app,
        review(json!({"decisions": [{"hours_id": first_id, "decision": "approve"}]})),
    )
    .await;
    assert_eq!(
        (s, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("already_decided")),
        "{problem}"
    );

    // The carer corrects the disputed line and submits again: the old link stops opening.
    let mut corrected = line("2026-12-01", "14:00", "15:00", "DOMESTIC");
    corrected["notes"] = json!("boodschappen, één uur");
    let (s, changed, _) = call(
        &app,
        put(&format!("/v1/hours/{second_id}"), &anouk, &corrected),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["status"].clone(), changed["dispute_reason"].clone()),
        (json!("draft"), Value::Null)
    );
    let (s, sheet, _) = call(
        &app,
        post(
            &format!("/v1/timesheets/{sheet_id}/submit"),
            &anouk,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sheet}");
    let (s, _, _) = call(&app, open(&approval)).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a resubmission revokes the earlier link"
    );

    // At the portal: another client does not find the timesheet; the client approves all.
    let review_path = format!("/v1/timesheets/{sheet_id}/review");
    let stranger = portal_token("patient", Some(&id(&other_client)), None);
    let (s, _, _) = call(
        &app,
        post(&review_path, &stranger, &json!({"approve_all": true})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let henk = portal_token("patient", Some(&id(&client)), None);
    let (s, decided, _) = call(
        &app,
        post(&review_path, &henk, &json!({"approve_all": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["timesheet"]["status"], "approved");
    assert!(decided["timesheet"]["approved_at"].is_string());
    let (s, problem, _) = call(
        &app,
        post(&review_path, &henk, &json!({"approve_all": true})),
    )
    .await;
    assert_eq!(
        (s, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("already_decided"))
    );
    let events = approvals(&outbox_types(&h.db).await);
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["lines"][0]["minutes"], 60);
    assert_eq!(events[1]["lines"][0]["service_type"], "DOMESTIC");

    // An expired link opens nothing.
    let (s, _, _) = call(
        &app,
        post(
            "/v1/hours",
            &anouk,
            &line("2026-12-07", "08:00", "10:00", "PERSONAL-CARE"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, list, _) = call(
        &app,
        get(
            &format!("/v1/timesheets?placement_id={pid}&status=open"),
            &manager,
        ),
    )
    .await;
    let next_week = list["items"][0]["id"]
        .as_str()
        .expect("next week")
        .to_owned();
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/timesheets/{next_week}/submit"),
            &anouk,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, link, _) = call(
        &app,
        post(
            &format!("/v1/timesheets/{next_week}/approval-links"),
            &manager,
            &json!({}),
        ),
    )
    .await;
    let expired = format!(
        "/v1/timesheet-approvals/{}",
        link["url"]
            .as_str()
            .expect("url")
            .rsplit('/')
            .next()
            .expect("token")
    );
    h.db.write(|c: &mut AnyConnection| {
        diesel::sql_query("UPDATE timesheet_links SET expires_at = '2000-01-01 00:00:00'")
            .execute(c)?;
        Ok(())
    })
    .await
    .expect("expire");
    let (s, problem, _) = call(
        &app,
        test::TestRequest::post()
            .uri(&expired)
            .set_json(json!({"approve_all": true})),
    )
    .await;
    assert_eq!(
        (s, problem["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("invalid_link"))
    );
    assert_eq!(
        approvals(&outbox_types(&h.db).await).len(),
        2,
        "nothing approved by an expired link"
    );

    // Sanne's approved hours are held: no self-billing agreement on the invoice date.
    let mut sanne_in = placement_in.clone();
    sanne_in["reference"] = json!("PL-2026-0108");
    sanne_in["carer_id"] = json!(id(&other_carer));
    sanne_in["client"] = json!({"patient_id": id(&other_client)});
    let (s, sanne_placement, _) = call(&app, post("/v1/placements", &manager, &sanne_in)).await;
    assert_eq!(s, StatusCode::CREATED, "{sanne_placement}");
    let mut hours = line("2026-12-02", "09:00", "11:00", "DOMESTIC");
    hours["placement_id"] = sanne_placement["id"].clone();
    let (s, registered, _) = call(&app, post("/v1/hours", &sanne, &hours)).await;
    assert_eq!(s, StatusCode::CREATED, "{registered}");
    let held_sheet = registered["timesheet_id"]
        .as_str()
        .expect("timesheet")
        .to_owned();
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/timesheets/{held_sheet}/submit"),
            &sanne,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let els = portal_token("patient", Some(&id(&other_client)), None);
    let (s, decided, _) = call(
        &app,
        post(
            &format!("/v1/timesheets/{held_sheet}/review"),
            &els,
            &json!({"approve_all": true}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["timesheet"]["status"], "approved");
    let held = &decided["timesheet"]["approvals"][0];
    assert_eq!(held["status"], "held", "{decided}");
    assert!(
        held["held_reason"]
            .as_str()
            .expect("reason")
            .contains("no self-billing agreement"),
        "{held}"
    );
    assert_eq!(
        approvals(&outbox_types(&h.db).await).len(),
        2,
        "a held approval is not announced"
    );
    // A new agreement releases it, dated the day of release.
    carer_in["self_billing_agreements"] = json!([
        {"reference": "SBA-2026-003", "valid_from": "2026-01-01", "valid_to": "2026-06-30"},
        {"reference": "SBA-2026-044", "valid_from": "2026-07-01", "valid_to": null}
    ]);
    carer_in["location_id"] = json!(id(&agency));
    let (s, changed, _) = call(
        &app,
        put(
            &format!("/v1/carers/{}", id(&other_carer)),
            &manager,
            &carer_in,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    let events = approvals(&outbox_types(&h.db).await);
    assert_eq!(
        events.len(),
        3,
        "the held approval is announced once released"
    );
    assert_eq!(events[2]["agreement"]["reference"], "SBA-2026-044");
    assert_eq!(events[2]["lines"][0]["description"], "Huishoudelijke hulp");
    assert_eq!(events[0]["agreement"]["reference"], "SBA-2026-017");
    let (_, sheet, _) = call(&app, get(&format!("/v1/timesheets/{held_sheet}"), &manager)).await;
    assert_eq!(sheet["approvals"][0]["status"], "released", "{sheet}");
    assert_eq!(
        sheet["approvals"][0]["invoice_date"],
        events[2]["invoice_date"]
    );
    let released: chrono::NaiveDate = events[2]["invoice_date"]
        .as_str()
        .expect("date")
        .parse()
        .expect("date");
    assert!(
        (released - chrono::Utc::now().date_naive())
            .num_days()
            .abs()
            <= 1,
        "dated the day of release"
    );
    let (s, _, _) = call(
        &app,
        put(
            &format!("/v1/carers/{}", id(&other_carer)),
            &manager,
            &carer_in,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        approvals(&outbox_types(&h.db).await).len(),
        3,
        "released once"
    );
}

/// The refusals the month's walk does not meet: a batch too big or empty, a review naming a line
/// twice or one of another timesheet, a placement's fixed fields changed or its end moved before
/// registered hours, removing submitted hours, a bad notice filter, a scoped manager sending every
/// location's notices. Each is a 4xx problem and nothing changes.
async fn what_the_agency_endpoints_refuse_changes_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let manager = token(&["billing_manager"], None);
    let (_, agency, _) = call(&app, post("/v1/locations", &t, &json!({"code": "ZB-UTR", "name": "Zorgbemiddeling Utrecht", "time_zone": "Europe/Amsterdam"}))).await;
    let (_, _, _) = call(&app, post("/v1/catalog-items", &t, &json!({"code": "PERSONAL-CARE", "description": "Persoonlijke verzorging", "service_group": "HOMECARE", "kind": "other", "unit": "hour"}))).await;
    let (_, client, _) = call(&app, post("/v1/patients", &t, &json!({"identifiers": [{"system": "bsn", "value": "111222333"}], "family_name": "Bakker", "given_name": "Henk", "beneficiary_kind": "PGB", "flags": []}))).await;
    let (s, carer, _) = call(&app, post("/v1/carers", &manager, &json!({"location_id": id(&agency), "code": "ZZP-1", "name": "Anouk", "vat": {"kind": "standard", "rate": "21"}, "self_billing_agreements": []}))).await;
    assert_eq!(s, StatusCode::CREATED, "{carer}");
    let placement_in = json!({
        "reference": "PL-1", "location_id": id(&agency), "carer_id": id(&carer),
        "client": {"patient_id": id(&client)}, "valid_from": "2026-11-01",
        "tariffs": [{"service_type": "PERSONAL-CARE", "hourly_rate": {"amount": "30.00", "currency": "EUR"}}],
        "commission": {"percent": "10"}, "approver": {"name": "Henk", "email": "henk@example.nl"}
    });
    let (s, placement, _) = call(&app, post("/v1/placements", &manager, &placement_in)).await;
    assert_eq!(s, StatusCode::CREATED, "{placement}");
    let pid = id(&placement);
    let hours = |date: &str, start: &str, end: &str| json!({"placement_id": pid, "date": date, "start": start, "end": end, "service_type": "PERSONAL-CARE"});
    let (_, a, _) = call(
        &app,
        post(
            "/v1/hours",
            &manager,
            &hours("2026-12-01", "08:00", "10:00"),
        ),
    )
    .await;
    let (_, other_week, _) = call(
        &app,
        post(
            "/v1/hours",
            &manager,
            &hours("2026-12-08", "08:00", "10:00"),
        ),
    )
    .await;
    let sheet = a["timesheet_id"].as_str().expect("timesheet").to_owned();
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/timesheets/{sheet}/submit"),
            &manager,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // Batches: none, or more than 500 lines.
    let (s, problem, _) = call(
        &app,
        post("/v1/hours/batch", &manager, &json!({"items": []})),
    )
    .await;
    assert_eq!(
        (s, fields(&problem)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["items".to_owned()])
    );
    let many: Vec<Value> = (0..501)
        .map(|_| hours("2026-12-02", "08:00", "09:00"))
        .collect();
    let (s, problem, _) = call(
        &app,
        post("/v1/hours/batch", &manager, &json!({"items": many})),
    )
    .await;
    assert_eq!(
        (s, problem["code"].clone()),
        (StatusCode::PAYLOAD_TOO_LARGE, json!("payload_too_large"))
    );

    // A review naming a line twice, or a line of another timesheet; neither approve_all nor lines.
    let approval = call(
        &app,
        post(
            &format!("/v1/timesheets/{sheet}/approval-links"),
            &manager,
            &json!({}),
        ),
    )
    .await
    .1;
    let path = format!(
        "/v1/timesheet-approvals/{}",
        approval["url"]
            .as_str()
            .expect("url")
            .rsplit('/')
            .next()
            .expect("token")
    );
    let review = |body: Value| test::TestRequest::post().uri(&path).set_json(body);
    let approve = |line: &Value| json!({"hours_id": line["id"], "decision": "approve"});
    let (s, problem, _) = call(
        &app,
        review(json!({"decisions": [approve(&a), approve(&a)]})),
    )
    .await;
    assert_eq!(
        (s, fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["decisions.1.hours_id".to_owned()]
        )
    );
    let (s, problem, _) = call(&app, review(json!({"decisions": [approve(&other_week)]}))).await;
    assert_eq!(
        (s, fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["decisions.0.hours_id".to_owned()]
        )
    );
    let (s, problem, _) = call(&app, review(json!({}))).await;
    assert_eq!(
        (s, fields(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["decisions".to_owned()]
        )
    );
    assert!(
        approvals(&outbox_types(&h.db).await).is_empty(),
        "nothing approved"
    );

    // Submitted hours cannot be removed.
    let (s, problem, _) = call(
        &app,
        test::TestRequest::delete()
            .uri(&format!("/v1/hours/{}", id(&a)))
            .insert_header(("authorization", format!("Bearer {manager}"))),
    )
    .await;
    assert_eq!(
        (s, problem["code"].clone()),
        (StatusCode::CONFLICT, json!("not_editable"))
    );

    // A placement's fixed fields, and an end before registered hours.
    let mut changed = placement_in.clone();
    changed["period"] = json!("month");
    changed["valid_from"] = json!("2026-10-01");
    let (s, problem, _) = call(
        &app,
        put(&format!("/v1/placements/{pid}"), &manager, &changed),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        fields(&problem),
        vec!["valid_from".to_owned(), "period".to_owned()]
    );
    let mut ended = placement_in.clone();
    ended["valid_to"] = json!("2026-12-05");
    let (s, problem, _) = call(
        &app,
        put(&format!("/v1/placements/{pid}"), &manager, &ended),
    )
    .await;
    assert_eq!(
        (s, problem["errors"][0]["code"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("hours_after"))
    );
    let (_, still, _) = call(&app, get(&format!("/v1/placements/{pid}"), &manager)).await;
    assert_eq!(
        (still["valid_to"].clone(), still["period"].clone()),
        (Value::Null, json!("week"))
    );

    // Notices: a filter that is not a kind; a manager limited to a location sends nobody's.
    let (s, problem, _) = call(&app, get("/v1/agency-notices?kind=postcard", &manager)).await;
    assert_eq!(
        (s, problem["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("bad_query"))
    );
    let scoped = token(&["billing_manager"], Some(&["ZB-UTR"]));
    let (s, _, _) = call(
        &app,
        post("/v1/agency-notices/dispatch", &scoped, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        count(&h.db, "agency_notices").await,
        1,
        "only the submission's e-mail is queued"
    );
}
