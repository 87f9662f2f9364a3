//! Agency notices through a real SMTP server (aiosmtpd): the client's approval e-mail after a
//! submission, whose link opens and approves the hours; the reminder to a carer who submitted
//! nothing for a period whose deadline passed; the reminder to a client who has not decided;
//! each sent once, however often the sender passes.

use actix_web::http::StatusCode;
use actix_web::test;
use carebill_domain::agency::TimesheetPeriod;
use carebill_platform::auth::{Claims, mint_hs256};
use carebill_platform::db::{AnyConnection, Backend};
use carebill_platform::testing::{SmtpSink, TEST_SECRET, admin, call, get, post, token};
use diesel::RunQueryDsl as _;
use mail_parser::MessageParser;
use serde_json::{Value, json};

use crate::common::{app_with_mail, harness};

carebill_platform::both_backends!(clients_and_carers_get_their_notices_once);

fn carer_token(carer: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: format!("carer-{carer}"),
        iss: "carebill".to_owned(),
        aud: "carebill".to_owned(),
        exp: now + 3600,
        iat: now,
        roles: vec!["carer".to_owned()],
        locations: None,
        payer: None,
        patient: None,
        carer: Some(carer.to_owned()),
    };
    mint_hs256(TEST_SECRET.as_bytes(), &claims).expect("token")
}

/// (recipient, subject, text) of every message the sink received.
fn received(sink: &SmtpSink) -> Vec<(String, String, String)> {
    sink.mails()
        .iter()
        .map(|raw| {
            let m = MessageParser::default().parse(raw).expect("a message");
            let to = m
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned();
            (
                to,
                m.subject().unwrap_or_default().to_owned(),
                m.body_text(0).map(|t| t.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

fn link_in(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("http://carebill.test/v1/timesheet-approvals/"))
        .expect("an approval link")
        .trim_start_matches("http://carebill.test")
        .to_owned()
}

async fn clients_and_carers_get_their_notices_once(b: Backend) {
    let sink = SmtpSink::start(&[]);
    let h = harness(b);
    let app = app_with_mail(&h, Some(sink.url())).await;
    let t = admin();
    let manager = token(&["billing_manager"], None);
    let (_, agency, _) = call(&app, post("/v1/locations", &t, &json!({"code": "ZB-UTR", "name": "Zorgbemiddeling Utrecht", "time_zone": "Europe/Amsterdam"}))).await;
    let (s, _, _) = call(&app, post("/v1/catalog-items", &t, &json!({"code": "PERSONAL-CARE", "description": "Persoonlijke verzorging", "service_group": "HOMECARE", "kind": "other", "unit": "hour"}))).await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, client, _) = call(&app, post("/v1/patients", &t, &json!({"identifiers": [{"system": "bsn", "value": "111222333"}], "family_name": "Bakker", "given_name": "Henk", "beneficiary_kind": "PGB", "flags": []}))).await;
    let carer = |code: &str, name: &str, email: &str| {
        json!({
            "location_id": agency["id"], "code": code, "name": name, "email": email,
            "vat": {"kind": "exempt", "reason_code": null, "reason": null},
            "self_billing_agreements": [{"reference": format!("SBA-{code}"), "valid_from": "2026-01-01", "valid_to": null}]
        })
    };
    let (s, anouk, _) = call(
        &app,
        post(
            "/v1/carers",
            &manager,
            &carer("ZZP-1", "Anouk de Vries", "anouk@example.nl"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{anouk}");
    let (_, sanne, _) = call(
        &app,
        post(
            "/v1/carers",
            &manager,
            &carer("ZZP-2", "Sanne Smit", "sanne@example.nl"),
        ),
    )
    .await;
    let placement = |reference: &str, carer: &Value| {
        json!({
            "reference": reference, "location_id": agency["id"], "carer_id": carer["id"],
            "client": {"patient_id": client["id"]}, "valid_from": "2026-01-01", "period": "week",
            "tariffs": [{"service_type": "PERSONAL-CARE", "hourly_rate": {"amount": "32.50", "currency": "EUR"}}],
            "commission": {"percent": "10"},
            "approver": {"name": "Henk Bakker", "email": "henk.bakker@example.nl"}
        })
    };
    let (s, with_anouk, _) = call(
        &app,
        post("/v1/placements", &manager, &placement("PL-A", &anouk)),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{with_anouk}");
    let (_, _with_sanne, _) = call(
        &app,
        post("/v1/placements", &manager, &placement("PL-S", &sanne)),
    )
    .await;

    // The week whose deadline (two days) passed last, in the agency's time zone.
    let today = carebill_domain::invoicing::issue_date(chrono::Utc::now(), "Europe/Amsterdam")
        .expect("today");
    let (start, end) = TimesheetPeriod::Week.due(today, 2);
    // Anouk registers and submits her hours of that week; Sanne forgets.
    let anouk_token = carer_token(anouk["id"].as_str().expect("id"));
    let (s, line, _) = call(&app, post("/v1/hours", &anouk_token, &json!({"placement_id": with_anouk["id"], "date": start.to_string(), "start": "09:00", "end": "12:00", "service_type": "PERSONAL-CARE"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{line}");
    let sheet = line["timesheet_id"].as_str().expect("timesheet").to_owned();
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/timesheets/{sheet}/submit"),
            &anouk_token,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // One pass: the approval e-mail to the client, the reminder to Sanne; nothing to Anouk.
    let (s, pass, _) = call(
        &app,
        post("/v1/agency-notices/dispatch", &manager, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{pass}");
    assert_eq!(
        (pass["sent"].clone(), pass["failed"].clone()),
        (json!(2), json!(0)),
        "{pass}"
    );
    let mails = received(&sink);
    assert_eq!(mails.len(), 2, "{mails:?}");
    let approval = mails
        .iter()
        .find(|m| m.0 == "henk.bakker@example.nl")
        .expect("the approval e-mail");
    assert!(approval.1.contains("Anouk de Vries"), "{approval:?}");
    assert!(approval.2.contains("3 hours on 1 lines"), "{}", approval.2);
    let reminder = mails
        .iter()
        .find(|m| m.0 == "sanne@example.nl")
        .expect("the hours reminder");
    assert!(
        reminder.1.contains(&format!("{start} to {end}")),
        "{reminder:?}"
    );
    assert!(reminder.2.contains("PL-S"), "{}", reminder.2);
    let (_, list, _) = call(&app, get("/v1/agency-notices?kind=hours_missing", &manager)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["items"][0]["status"], "sent");
    assert!(list["items"][0]["message_id"].is_string());

    // The link in the e-mail opens the hours without a token.
    let path = link_in(&approval.2);
    let (s, seen, _) = call(&app, test::TestRequest::get().uri(&path)).await;
    assert_eq!(s, StatusCode::OK, "{seen}");
    assert_eq!(seen["timesheet"]["id"], json!(sheet));

    // Passing again sends nothing twice.
    let (_, pass, _) = call(
        &app,
        post("/v1/agency-notices/dispatch", &manager, &json!({})),
    )
    .await;
    assert_eq!(
        (pass["queued"].clone(), pass["sent"].clone()),
        (json!(0), json!(0)),
        "{pass}"
    );

    // Five days later the client has not decided: a reminder with a fresh link.
    h.db.write(|c: &mut AnyConnection| {
        let past = (chrono::Utc::now() - chrono::Duration::days(5)).naive_utc();
        diesel::sql_query(format!(
            "UPDATE timesheets SET submitted_at = '{}'",
            past.format("%Y-%m-%d %H:%M:%S")
        ))
        .execute(c)?;
        Ok(())
    })
    .await
    .expect("age the submission");
    let (_, pass, _) = call(
        &app,
        post("/v1/agency-notices/dispatch", &manager, &json!({})),
    )
    .await;
    assert_eq!(
        (pass["queued"].clone(), pass["sent"].clone()),
        (json!(1), json!(1)),
        "{pass}"
    );
    let mails = received(&sink);
    let again = mails.last().expect("the reminder");
    assert_eq!(again.0, "henk.bakker@example.nl");
    assert!(again.1.starts_with("Reminder:"), "{again:?}");
    let fresh = link_in(&again.2);
    assert_ne!(fresh, path, "a fresh link");
    let (s, decided, _) = call(
        &app,
        test::TestRequest::post()
            .uri(&fresh)
            .set_json(json!({"approve_all": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{decided}");
    assert_eq!(decided["timesheet"]["status"], "approved");
    let (_, pass, _) = call(
        &app,
        post("/v1/agency-notices/dispatch", &manager, &json!({})),
    )
    .await;
    assert_eq!(
        (pass["queued"].clone(), pass["sent"].clone()),
        (json!(0), json!(0)),
        "approved: no more reminders {pass}"
    );
    assert_eq!(received(&sink).len(), 3);
}
