//! Business conditions (seed 000) against real databases (SQLite and a throwaway PostgreSQL):
//! one versioned condition set, refused with the condition and the error when an expression is
//! wrong, applied to every line settled after it — an after-hours emergency surcharged and given
//! a fee line, both split between two payers with a copay; a service billed privately; one
//! excluded; a practitioner's price — each line explaining which conditions changed it; and
//! issue 4's worked scenario: an after-hours emergency surcharged, split across two payers with
//! a yearly deductible partly used by an earlier episode and copays.

use actix_web::http::StatusCode;
use actix_web::test;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post};
use serde_json::{Value, json};

use crate::common::{
    app, configure, consumption, create_all, deliver, harness, line, share, world,
};

both_backends!(
    conditions_change_prices_parties_and_lines_and_explain_it,
    an_after_hours_emergency_with_a_yearly_deductible_is_split_to_the_cent,
    a_bad_condition_set_is_refused_and_changes_nothing,
);

fn put(etag: Option<&str>, body: &Value) -> test::TestRequest {
    let mut req = test::TestRequest::put()
        .uri("/v1/business-conditions")
        .insert_header(("authorization", format!("Bearer {}", admin())))
        .set_json(body);
    if let Some(e) = etag {
        req = req.insert_header(("if-match", e.to_owned()));
    }
    req
}

fn conditions() -> Value {
    json!({
        "reason": "seed 000: the centre's special cases",
        "calendars": {"H1": {"opens": "08:00:00", "closes": "20:00:00", "holidays": ["2026-12-25"]}},
        "conditions": [
            {"code": "NIGHT", "description": "After-hours emergencies +25 %", "priority": 1,
             "active_from": "2026-01-01", "when": "time.after_hours && line.service_group == 'EMERG'",
             "action": {"kind": "surcharge", "percent": "25"}},
            {"code": "NIGHT-FEE", "description": "After-hours fee", "priority": 2,
             "active_from": "2026-01-01", "when": "time.after_hours && line.service_group == 'EMERG'",
             "action": {"kind": "extra_line", "code": "FEE-NIGHT", "description": "After-hours fee",
                        "quantity": "1", "unit_price": {"amount": "15.00", "currency": "EUR"}}},
            {"code": "PRIVATE", "description": "Cosmetic care is billed to the patient",
             "active_from": "2026-01-01", "when": "line.code == 'COSMETIC'",
             "action": {"kind": "change_payer"}},
            {"code": "FREE", "description": "Check-ups are not billed",
             "active_from": "2026-01-01", "when": "line.code == 'CHECKUP'", "action": {"kind": "exclude"}},
            {"code": "DR-SMITH", "description": "Dr Smith's consultation price",
             "active_from": "2026-01-01", "when": "practitioner.performing == 'DR-SMITH' && line.code == 'CONS'",
             "action": {"kind": "price_override", "unit_price": {"amount": "70.00", "currency": "EUR"}}}
        ]
    })
}

async fn conditions_change_prices_parties_and_lines_and_explain_it(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let t = admin();
    for (code, price) in [
        ("EMERG", "120.00"),
        ("COSMETIC", "80.00"),
        ("CHECKUP", "30.00"),
    ] {
        let (s, body, _) = call(
            &app,
            post("/v1/prices", &t, &json!({"code": code, "unit_price": {"amount": price, "currency": "EUR"}, "valid_from": "2026-01-01"})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let (s, set, _) = call(&app, put(Some("\"v0\""), &conditions())).await;
    assert_eq!(s, StatusCode::OK, "{set}");
    assert_eq!(set["version"], json!(1));

    let w = world();
    // 21:30 UTC is 22:30 in Madrid: after hours. 10:00 UTC on a Monday is not; on Christmas it is.
    let emergency = |at: &str| {
        let mut c = consumption(&w, "EMERG", 1, at);
        c.item.service_group = "EMERG".to_owned();
        c
    };
    let night = emergency("2026-11-23T21:30:00Z");
    deliver(&h, "accounts", &night).await;
    deliver(&h, "accounts", &emergency("2026-11-23T10:00:00Z")).await;
    deliver(&h, "accounts", &emergency("2026-12-25T10:00:00Z")).await;
    deliver(
        &h,
        "accounts",
        &consumption(&w, "COSMETIC", 1, "2026-11-23T11:00:00Z"),
    )
    .await;
    deliver(
        &h,
        "accounts",
        &consumption(&w, "CHECKUP", 1, "2026-11-23T11:10:00Z"),
    )
    .await;
    let mut smith = consumption(&w, "CONS", 1, "2026-11-23T11:20:00Z");
    smith.performed_by = Some("DR-SMITH".to_owned());
    deliver(&h, "accounts", &smith).await;

    let (_, page, _) = call(
        &app,
        get(&format!("/v1/settlements?episode_id={}", w.episode.id), &t),
    )
    .await;
    let url = format!(
        "/v1/settlements/{}",
        page["items"][0]["id"].as_str().expect("id")
    );
    let (_, doc, _) = call(&app, get(&url, &t)).await;
    let lines = doc["lines"].as_array().expect("lines");
    let by_id = |id: &str| {
        lines
            .iter()
            .find(|l| l["consumption_id"] == id)
            .unwrap_or_else(|| panic!("no line {id}: {doc}"))
    };
    // 120.00 + 25 % = 150.00. SANITAS: 1.00 copay, 80 % of 149.00 = 119.20; MUTUA 50 % of the
    // 30.80 left = 15.40; the patient 15.40 (the copay included).
    let n = by_id(&night.consumption_id.to_string());
    assert_eq!(n["amount"]["amount"], json!("150.00"), "{n}");
    assert_eq!(n["conditions"], json!(["NIGHT", "NIGHT-FEE"]));
    assert_eq!(n["adjustments"][0]["change"]["amount"], json!("30.00"));
    assert_eq!(
        (
            share(n, Some("SANITAS")),
            share(n, Some("MUTUA")),
            share(n, None)
        ),
        ("119.20".to_owned(), "15.40".to_owned(), "15.40".to_owned())
    );
    // Its fee line: 15.00 — SANITAS 80 % of 14.00 = 11.20; MUTUA 1.90; the patient 1.90.
    let fee = lines
        .iter()
        .find(|l| l["extra_of"] == json!(night.consumption_id.to_string()))
        .unwrap_or_else(|| panic!("no fee line: {doc}"));
    assert_eq!(
        (fee["code"].as_str(), fee["amount"]["amount"].as_str()),
        (Some("FEE-NIGHT"), Some("15.00"))
    );
    assert_eq!(
        (
            share(fee, Some("SANITAS")),
            share(fee, Some("MUTUA")),
            share(fee, None)
        ),
        ("11.20".to_owned(), "1.90".to_owned(), "1.90".to_owned())
    );
    let emerg: Vec<&Value> = lines.iter().filter(|l| l["code"] == "EMERG").collect();
    let amounts: Vec<&str> = emerg
        .iter()
        .map(|l| l["amount"]["amount"].as_str().expect("amount"))
        .collect();
    assert_eq!(
        amounts,
        ["120.00", "150.00", "150.00"],
        "the day visit is not surcharged, Christmas is"
    );
    assert_eq!(lines.iter().filter(|l| l["code"] == "FEE-NIGHT").count(), 2);
    // Private: the patient pays it all.
    let cosmetic = line(&doc, "COSMETIC");
    assert_eq!(cosmetic["party_by_condition"], json!("PRIVATE"));
    assert_eq!(
        (share(cosmetic, None), share(cosmetic, Some("SANITAS"))),
        ("80.00".to_owned(), String::new())
    );
    // Excluded, with the condition named.
    let checkup = line(&doc, "CHECKUP");
    assert_eq!(checkup["excluded"], json!(true));
    assert!(
        checkup["override_reason"]
            .as_str()
            .expect("reason")
            .contains("FREE"),
        "{checkup}"
    );
    // The practitioner's price: 70.00 instead of 50.00.
    let cons = line(&doc, "CONS");
    assert_eq!(
        (
            cons["unit_price"]["amount"].as_str(),
            cons["amount"]["amount"].as_str()
        ),
        (Some("70.00"), Some("70.00"))
    );
    assert_eq!(cons["adjustments"][0]["kind"], json!("price_override"));

    // The same conditions tried on a line given here, nothing recorded: the set in force and a
    // draft without NIGHT.
    let line = json!({"code": "EMERG", "service_group": "EMERG", "quantity": "1",
        "unit_price": {"amount": "120.00", "currency": "EUR"}, "performed_at": "2026-11-23T22:30:00",
        "location_code": "H1", "payer_code": "SANITAS"});
    let mut with_draft = line.clone();
    with_draft["draft"] = json!({"conditions": conditions()["conditions"].as_array().expect("list")[1..], "calendars": conditions()["calendars"]});
    let (s, tried, _) = call(&app, post("/v1/business-conditions/try", &t, &with_draft)).await;
    assert_eq!(s, StatusCode::OK, "{tried}");
    assert_eq!(tried["in_force"]["matched"], json!(["NIGHT", "NIGHT-FEE"]));
    assert_eq!(tried["in_force"]["amount"]["amount"], json!("150.00"));
    assert_eq!(
        tried["in_force"]["extra_lines"][0]["code"],
        json!("FEE-NIGHT")
    );
    assert_eq!(tried["draft"]["matched"], json!(["NIGHT-FEE"]));
    assert_eq!(tried["draft"]["amount"]["amount"], json!("120.00"));
    let mut morning = line.clone();
    morning["performed_at"] = json!("2026-11-23T10:00:00");
    let (_, tried, _) = call(&app, post("/v1/business-conditions/try", &t, &morning)).await;
    assert_eq!(
        (tried["in_force"]["matched"].clone(), tried["draft"].clone()),
        (json!([]), Value::Null)
    );
    let mut bad = line.clone();
    bad["quantity"] = json!("0");
    bad["patient_sex"] = json!("f");
    bad["draft"] = json!({"conditions": [{"code": "X", "description": "x", "active_from": "2026-01-01",
        "when": "line.code ==", "action": {"kind": "exclude"}}]});
    let (s, problem, _) = call(&app, post("/v1/business-conditions/try", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(
        fields,
        ["quantity", "patient_sex", "draft.conditions.0.when"]
    );

    // A new version of the set applies from the next computation: without NIGHT, a recompute
    // bills the night emergency at 120.00 (the fee stays).
    let mut next = conditions();
    next["conditions"].as_array_mut().expect("list").remove(0);
    next["reason"] = json!("no surcharge from now on");
    // Tried first on the settlement, storing nothing: the draft changes the two surcharged
    // emergencies (150.00 -> 120.00 each, 60.00 less in all) and nothing else.
    let (_, before_sim, _) = call(&app, get(&url, &t)).await;
    let draft = json!({"conditions": next["conditions"], "calendars": next["calendars"]});
    let (s, sim, _) = call(
        &app,
        post(
            &format!("{url}/simulate"),
            &t,
            &json!({"conditions": draft}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{sim}");
    assert_eq!(sim["conditions_version"], json!(1));
    let changed: Vec<(&str, &str)> = sim["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .map(|c| {
            (
                c["before"]["amount"]["amount"].as_str().expect("before"),
                c["after"]["amount"]["amount"].as_str().expect("after"),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [("150.00", "120.00"), ("150.00", "120.00")],
        "{sim}"
    );
    assert_eq!(
        (
            sim["added"].as_array().map(Vec::len),
            sim["removed"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
    let total = |v: &Value| {
        v["amount"]
            .as_str()
            .expect("total")
            .parse::<f64>()
            .expect("number")
    };
    assert!(
        (total(&sim["total_in_force"]) - total(&sim["total_draft"]) - 60.0).abs() < 1e-9,
        "{sim}"
    );
    let mut broken = draft.clone();
    broken["conditions"][0]["when"] = json!("line.code ==");
    let (s, problem, _) = call(
        &app,
        post(
            &format!("{url}/simulate"),
            &t,
            &json!({"conditions": broken}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (_, after_sim, _) = call(&app, get(&url, &t)).await;
    assert_eq!(
        after_sim["version"], before_sim["version"],
        "a simulation stores nothing"
    );
    let (s, set, _) = call(&app, put(Some("\"v1\""), &next)).await;
    assert_eq!((s, &set["version"]), (StatusCode::OK, &json!(2)), "{set}");
    let (_, before, _) = call(&app, get(&url, &t)).await;
    let (s, body, _) = call(
        &app,
        post(
            &format!("{url}/recompute"),
            &t,
            &json!({"reason": "conditions v2"}),
        )
        .insert_header((
            "if-match",
            before["etag"].as_str().expect("etag").to_owned(),
        )),
    )
    .await;
    assert!(s.is_success(), "{body}");
    let (_, doc, _) = call(&app, get(&url, &t)).await;
    let n = doc["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["consumption_id"] == json!(night.consumption_id.to_string()))
        .expect("line");
    assert_eq!(n["amount"]["amount"], json!("120.00"), "{n}");
    assert_eq!(n["conditions"], json!(["NIGHT-FEE"]));
    let (_, versions, _) = call(&app, get("/v1/business-conditions/versions", &t)).await;
    assert_eq!(versions.as_array().map(Vec::len), Some(2));
    assert_eq!(
        versions[0]["conditions"][0]["code"],
        json!("NIGHT"),
        "version 1 stays readable"
    );
}

async fn a_bad_condition_set_is_refused_and_changes_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let (s, empty, _) = call(&app, get("/v1/business-conditions", &t)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (&empty["version"], &empty["etag"]),
        (&json!(0), &json!("\"v0\""))
    );

    let (s, problem, _) = call(&app, put(None, &conditions())).await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "{problem}");
    let mut bad = conditions();
    bad["conditions"][0]["when"] = json!("time.after_hours &&");
    bad["conditions"][2]["when"] = json!("weather == 'rain'");
    bad["conditions"][3]["action"] = json!({"kind": "surcharge"});
    let (s, problem, ctype) = call(&app, put(Some("\"v0\""), &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    let fields: Vec<(&str, &str)> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().expect("field"),
                e["code"].as_str().expect("code"),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [
            ("conditions.0.when", "syntax"),
            ("conditions.2.when", "unknown_variable"),
            ("conditions.3.action", "percent_or_amount"),
        ]
    );
    assert!(
        problem["errors"][1]["message"]
            .as_str()
            .expect("message")
            .contains("weather")
    );
    let mut unknown_field = conditions();
    unknown_field["conditions"][0]["colour"] = json!("red");
    let (s, _, _) = call(&app, put(Some("\"v0\""), &unknown_field)).await;
    assert!(s.is_client_error());
    let (_, still, _) = call(&app, get("/v1/business-conditions", &t)).await;
    assert_eq!(still["version"], json!(0), "nothing stored: {still}");

    let (s, _, _) = call(&app, put(Some("\"v0\""), &conditions())).await;
    assert_eq!(s, StatusCode::OK);
    let (s, problem, _) = call(&app, put(Some("\"v0\""), &conditions())).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{problem}");
    let (s, same, _) = call(&app, put(Some("\"v1\""), &conditions())).await;
    assert_eq!(
        (s, &same["version"]),
        (StatusCode::OK, &json!(1)),
        "the same set again: no version"
    );
    // A biller may read but not change it.
    let biller = carebill_platform::testing::token(&["biller"], None);
    let (s, _, _) = call(&app, get("/v1/business-conditions", &biller)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(
        &app,
        test::TestRequest::put()
            .uri("/v1/business-conditions")
            .insert_header(("authorization", format!("Bearer {biller}")))
            .insert_header(("if-match", "\"v1\""))
            .set_json(conditions()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// Issue 4's worked scenario, end to end through settlement (the same numbers as the domain's
/// pure test): an after-hours emergency visit surcharged 25 % with a 15.00 fee line, split
/// between SANITAS (80 %, copay 5.00 a line, deductible 50.00 a year) and MUTUA (50 %, copay
/// 2.00 a line); an earlier episode this year used 20.00 of the deductible.
async fn an_after_hours_emergency_with_a_yearly_deductible_is_split_to_the_cent(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    create_all(
        &app,
        &[
        (
            "/v1/prices",
            json!({"code": "EMERG", "unit_price": {"amount": "60.01", "currency": "EUR"}, "valid_from": "2026-01-01"}),
        ),
        (
            "/v1/prices",
            json!({"code": "LAB-X", "unit_price": {"amount": "25.00", "currency": "EUR"}, "valid_from": "2026-01-01"}),
        ),
        (
            "/v1/coverage-terms",
            json!({"payer_code": "SANITAS", "covered_percent": "80", "currency": "EUR",
            "copay_per_line": {"amount": "5.00", "currency": "EUR"},
            "deductible_per_year": {"amount": "50.00", "currency": "EUR"}}),
        ),
        (
            "/v1/coverage-terms",
            json!({"payer_code": "MUTUA", "covered_percent": "50", "currency": "EUR",
            "copay_per_line": {"amount": "2.00", "currency": "EUR"}}),
        ),
        ],
    )
    .await;
    let (s, set, _) = call(&app, put(Some("\"v0\""), &conditions())).await;
    assert_eq!(s, StatusCode::OK, "{set}");
    let doc_of = |episode: String| {
        let (app, t) = (&app, t.clone());
        async move {
            let (_, page, _) = call(
                app,
                get(&format!("/v1/settlements?episode_id={episode}"), &t),
            )
            .await;
            let id = page["items"][0]["id"].as_str().expect("id").to_owned();
            let (_, doc, _) = call(app, get(&format!("/v1/settlements/{id}"), &t)).await;
            doc
        }
    };
    let shares = |l: &Value| {
        (
            share(l, Some("SANITAS")),
            share(l, Some("MUTUA")),
            share(l, None),
        )
    };
    let three = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());

    // In March a lab test of 25.00: SANITAS withholds its 5.00 copay, the deductible takes the
    // other 20.00; MUTUA: 2.00 copay, 50 % of 23.00 = 11.50; the patient 13.50.
    let earlier = world();
    deliver(
        &h,
        "accounts",
        &consumption(&earlier, "LAB-X", 1, "2026-03-02T09:00:00Z"),
    )
    .await;
    let doc = doc_of(earlier.episode.id.to_string()).await;
    let lab = line(&doc, "LAB-X");
    assert_eq!(shares(lab), three("0.00", "11.50", "13.50"), "{lab}");
    assert_eq!(
        lab["shares"][0]["reason"]["kind"],
        json!("deductible_not_met")
    );

    // Saturday 21 November, 23:10 in Madrid, the same patient: 2 x 60.01 = 120.02, +25 % =
    // 150.03, and the 15.00 fee line.
    let mut w = world();
    w.episode.number = "ENC-2".to_owned();
    w.episode.patient = earlier.episode.patient.clone();
    w.coverages = earlier.coverages.clone();
    let mut visit = consumption(&w, "EMERG", 2, "2026-11-21T22:10:00Z");
    visit.item.service_group = "EMERG".to_owned();
    deliver(&h, "accounts", &visit).await;
    let doc = doc_of(w.episode.id.to_string()).await;
    let emergency = line(&doc, "EMERG");
    assert_eq!(
        emergency["amount"]["amount"],
        json!("150.03"),
        "{emergency}"
    );
    // SANITAS: copay 5.00, the 30.00 left of the deductible, 80 % of 115.03 = 92.02; MUTUA:
    // copay 2.00, 50 % of 56.01 = 28.01 (half a cent up); the patient 30.00.
    assert_eq!(
        shares(emergency),
        three("92.02", "28.01", "30.00"),
        "{emergency}"
    );
    assert_eq!(
        emergency["shares"][0]["deductible"]["amount"],
        json!("30.00")
    );
    assert_eq!(
        emergency["shares"][2]["deductible"]["amount"],
        json!("23.00")
    );
    // The fee, the deductible met: SANITAS 80 % of 10.00 = 8.00, MUTUA 50 % of 5.00 = 2.50.
    let fee = line(&doc, "FEE-NIGHT");
    assert_eq!(shares(fee), three("8.00", "2.50", "4.50"), "{fee}");
    assert_eq!(doc["total"]["amount"], json!("165.03"));
}
