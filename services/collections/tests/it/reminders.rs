//! Payment reminders end to end: policies checked and versioned, contacts, a preview that
//! stores nothing, a run that queues each level once, the sender delivering by e-mail to a real
//! SMTP server (aiosmtpd) and by SMS to a local stand-in of the provider's HTTP API, fees and
//! events, retries after a temporary failure without sending twice, a permanent refusal, a
//! receivable paid meanwhile, quiet hours.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;
use actix_web::http::StatusCode;
use carebill_collections::Channels;
use carebill_domain::events::{PartyRef, ReminderSentV1};
use carebill_platform::both_backends;
use carebill_platform::config::{MailConfig, Secret, SmsConfig};
use carebill_platform::db::Backend;
use carebill_platform::outbound::mail::Mailer;
use carebill_platform::outbound::sms::SmsSender;
use carebill_platform::testing::{StandIn, call, fields, get, post, put, token};
use chrono::{Duration, Timelike, Utc};
use serde_json::{Value, json};

both_backends!(
    policies_are_checked_versioned_and_kept_to_billing_managers,
    contacts_are_checked_and_payers_see_no_reminders,
    a_run_queues_each_level_once_and_the_sender_delivers_by_email_and_sms,
    a_provider_that_fails_for_now_gets_the_notice_again_and_it_goes_once,
    a_notice_for_a_receivable_paid_meanwhile_or_refused_for_good_is_not_sent,
    quiet_hours_hold_notices_until_they_end,
    disputed_receivables_and_those_in_a_plan_are_left_alone_until_they_are_not,
    a_letter_level_makes_a_pdf_to_print_for_a_contact_with_a_postal_address,
);

// ---- the local servers ----

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The python of the stand-ins' environment (aiosmtpd), installed by scripts/tools-venv.sh.
fn tools_python() -> &'static str {
    static PY: OnceLock<String> = OnceLock::new();
    PY.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo().join("scripts/tools-venv.sh"))
            .output()
            .expect("scripts/tools-venv.sh runs");
        assert!(
            out.status.success(),
            "scripts/tools-venv.sh failed (it installs aiosmtpd from PyPI): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
}

/// A local server started from scripts/standins/ (stopped on drop), with the folder an SMTP
/// server keeps what it receives in.
struct Local {
    server: StandIn,
    dir: tempfile::TempDir,
}

impl Local {
    fn url(&self) -> &str {
        &self.server.base
    }

    fn mails(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("maildir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("mail"))
            .collect()
    }
}

fn smtp(args: &[&str]) -> (Local, Mailer) {
    let dir = tempfile::tempdir().expect("maildir");
    let maildir = dir.path().to_str().expect("utf8").to_owned();
    let server = StandIn::start_with(
        tools_python(),
        "scripts/standins/smtp_sink.py",
        &[&["--maildir", maildir.as_str()], args].concat(),
    );
    let sink = Local { server, dir };
    let mailer = Mailer::from_config(&MailConfig {
        smtp_url: Some(Secret::new(sink.url().to_owned())),
        from: "Hospital H1 <billing@h1.example>".to_owned(),
        timeout_secs: 10,
    })
    .expect("mail config")
    .expect("a mailer");
    (sink, mailer)
}

fn sms(args: &[&str]) -> (Local, SmsSender) {
    let provider = Local {
        server: StandIn::start(
            "scripts/standins/sms_provider.py",
            &[&["--account", "AC42", "--token", "tok"], args].concat(),
        ),
        dir: tempfile::tempdir().expect("tmp"),
    };
    let sender = SmsSender::from_config(&SmsConfig {
        url: Some(provider.url().to_owned()),
        account: "AC42".to_owned(),
        token: Some(Secret::new("tok")),
        from: "Hospital".to_owned(),
        timeout_secs: 5,
    })
    .expect("sms config")
    .expect("a sender");
    (provider, sender)
}

async fn sms_requests(provider: &Local) -> Vec<Value> {
    let body = reqwest::get(format!("{}/_requests", provider.url()))
        .await
        .expect("stand-in")
        .json::<Value>()
        .await
        .expect("json");
    body["requests"].as_array().cloned().unwrap_or_default()
}

// ---- builders ----

fn policy(levels: Value) -> Value {
    json!({"party_kind": "patient", "default_language": "es", "levels": levels})
}

fn level(name: &str, days: i64, channel: &str) -> Value {
    let mut templates = json!({
        "es": {"body": "Factura {{ invoice_number }}: quedan {{ outstanding }} {{ currency }} ({{ days_past_due }} días). Total {{ total }}."},
        "en": {"body": "Invoice {{ invoice_number }}: {{ outstanding }} {{ currency }} still due. Total {{ total }}."},
    });
    if channel == "email" || channel == "letter" {
        templates["es"]["subject"] = json!("Recordatorio: factura {{ invoice_number }}");
        templates["en"]["subject"] = json!("Reminder: invoice {{ invoice_number }}");
    }
    json!({"name": name, "days_after_due": days, "channel": channel, "templates": templates})
}

fn contact(email: Option<&str>, phone: Option<&str>, language: &str, opted_out: bool) -> Value {
    json!({"name": "Ana García", "email": email, "phone": phone, "language": language, "opted_out": opted_out})
}

fn contact_path(p: &PartyRef) -> String {
    format!("/v1/reminder-contacts/{}/{}", p.kind, p.id)
}

/// A patient invoice of `total` euros due `days` days from today, fed as invoicing's event.
async fn owed(
    h: &Harness,
    p: &PartyRef,
    number: &str,
    total: &str,
    days: i64,
) -> carebill_domain::events::InvoiceIssuedV1 {
    let inv = invoice(
        p,
        &location("H1", "Europe/Madrid"),
        number,
        eur(total),
        today() + Duration::days(days),
    );
    feed(h, &envelope(&inv)).await;
    inv
}

// ---- scenarios ----

async fn policies_are_checked_versioned_and_kept_to_billing_managers(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let manager = token(&["billing_manager"], None);
    // A template naming an unknown value, an e-mail without a subject, levels out of order.
    let mut bad = level("first", 7, "email");
    bad["templates"]["es"]["body"] = json!("Pague {{ amount_due }}");
    let mut no_subject = level("second", 3, "email");
    no_subject["templates"]["en"]
        .as_object_mut()
        .expect("object")
        .remove("subject");
    let (s, p, _) = call(
        &app,
        put(
            "/v1/reminder-policies/PAT",
            &manager,
            &policy(json!([bad, no_subject])),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let f = fields(&p);
    assert!(
        f.contains(&"levels.1.templates.en.subject".to_owned()),
        "{f:?}"
    );
    assert!(f.contains(&"levels.1.days_after_due".to_owned()), "{f:?}");
    let mut unknown = level("first", 7, "email");
    unknown["templates"]["es"]["body"] = json!("Pague {{ amount_due }}");
    let (s, p, _) = call(
        &app,
        put(
            "/v1/reminder-policies/PAT",
            &manager,
            &policy(json!([unknown])),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(fields(&p), vec!["levels.0.templates.es.body"], "{p}");
    let (s, p, _) = call(&app, get("/v1/reminder-policies/PAT", &manager)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was stored: {p}");

    // Collectors do not set policies.
    let good = policy(json!([
        level("first", 7, "email"),
        level("final", 30, "sms")
    ]));
    let (s, _, _) = call(
        &app,
        put(
            "/v1/reminder-policies/PAT",
            &token(&["collector"], None),
            &good,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let res = actix_web::test::call_service(
        &app,
        put("/v1/reminder-policies/PAT", &manager, &good).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(
        res.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some("\"v1\"")
    );
    // Replacing needs If-Match, and the current one.
    let (s, _, _) = call(&app, put("/v1/reminder-policies/PAT", &manager, &good)).await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED);
    let (s, _, _) = call(
        &app,
        put("/v1/reminder-policies/PAT", &manager, &good).insert_header(("If-Match", "\"v7\"")),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let (s, p, _) = call(
        &app,
        put("/v1/reminder-policies/PAT", &manager, &good).insert_header(("If-Match", "\"v1\"")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["version"], 2);
    // One policy per party kind and location.
    let (s, p, _) = call(&app, put("/v1/reminder-policies/OTHER", &manager, &good)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    let (s, list, _) = call(
        &app,
        get("/v1/reminder-policies", &token(&["auditor"], None)),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["items"][0]["levels"][1]["channel"], "sms");
}

async fn contacts_are_checked_and_payers_see_no_reminders(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let p = patient();
    let collector = token(&["collector"], None);
    let (s, body, _) = call(
        &app,
        put(
            &contact_path(&p),
            &collector,
            &json!({"email": "not-an-address", "phone": "600123", "language": "Spanish"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), vec!["email", "phone", "language"], "{body}");
    let (s, _, _) = call(&app, get(&contact_path(&p), &collector)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing stored");
    let (s, body, _) = call(
        &app,
        put(
            &contact_path(&p),
            &collector,
            &contact(
                Some("ana@example.org"),
                Some("+34 600 123 456"),
                "es",
                false,
            ),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["phone"], "+34600123456");
    let (s, body, _) = call(
        &app,
        put("/v1/reminder-contacts/insurer/xyz", &collector, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), vec!["party_kind"], "{body}");
    for path in [
        contact_path(&p),
        "/v1/reminder-notices".to_owned(),
        "/v1/reminder-policies".to_owned(),
    ] {
        let (s, _, _) = call(&app, get(&path, &payer_token("SANITAS"))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    let (s, _, _) = call(
        &app,
        post("/v1/reminder-runs", &token(&["biller"], None), &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

async fn a_run_queues_each_level_once_and_the_sender_delivers_by_email_and_sms(backend: Backend) {
    let h = harness(backend);
    let (sink, mailer) = smtp(&[]);
    let (provider, sender) = sms(&[]);
    let app = app_with(
        &h,
        Channels {
            mail: Some(mailer),
            sms: Some(sender),
        },
    )
    .await;
    let manager = token(&["billing_manager"], None);
    let mut second = level("second reminder", 7, "sms");
    second["fee"] = json!(eur("5.00"));
    let mut last = level("final reminder", 30, "email");
    last["interest_percent"] = json!("8");
    let (s, body, _) = call(
        &app,
        put(
            "/v1/reminder-policies/PATIENTS",
            &manager,
            &policy(json!([level("friendly notice", -3, "email"), second, last])),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    let (ana, bea, carl, dora) = (patient(), patient(), patient(), patient());
    let soon = owed(&h, &ana, "H1-1", "100.00", 2).await; // friendly notice
    let late = owed(&h, &bea, "H1-2", "250.00", -10).await; // second reminder by SMS
    owed(&h, &carl, "H1-3", "80.00", -40).await; // opted out
    owed(&h, &dora, "H1-4", "60.00", -40).await; // no contact
    let very_late = owed(&h, &ana, "H1-5", "1000.00", -40).await; // final, in English
    owed(&h, &bea, "H1-6", "10.00", 20).await; // nothing due yet
    for (p, c) in [
        (&ana, contact(Some("ana@example.org"), None, "en", false)),
        (&bea, contact(None, Some("+34600123456"), "es", false)),
        (&carl, contact(Some("carl@example.org"), None, "es", true)),
    ] {
        let (s, body, _) = call(&app, put(&contact_path(p), &manager, &c)).await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }

    // The preview decides and stores nothing.
    let (s, preview, _) = call(
        &app,
        post("/v1/reminder-runs", &manager, &json!({"preview": true})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{preview}");
    assert_eq!(preview["preview"], true);
    assert_eq!(preview["considered"], 6, "{preview}");
    assert_eq!(preview["queued"], 3, "{preview}");
    assert_eq!(preview["skipped"]["opted_out"], 1, "{preview}");
    assert_eq!(preview["skipped"]["no_contact"], 1, "{preview}");
    let (_, none, _) = call(&app, get("/v1/reminder-notices", &manager)).await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0), "{none}");

    let (s, run, _) = call(&app, post("/v1/reminder-runs", &manager, &json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    assert_eq!(run["queued"], 3, "{run}");
    let by_invoice = |number: &str| -> Value {
        run["notices"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["invoice_number"] == number))
            .cloned()
            .unwrap_or_else(|| panic!("a notice for {number}: {run}"))
    };
    let friendly = by_invoice("H1-1");
    assert_eq!(
        (friendly["level"].as_i64(), friendly["channel"].as_str()),
        (Some(1), Some("email"))
    );
    assert_eq!(friendly["subject"], "Reminder: invoice H1-1");
    let text = by_invoice("H1-2");
    assert_eq!(
        (text["level"].as_i64(), text["language"].as_str()),
        (Some(2), Some("es"))
    );
    assert_eq!(
        text["body"], "Factura H1-2: quedan 250.00 EUR (10 días). Total 255.00.",
        "{text}"
    );
    let fin = by_invoice("H1-5");
    // 1000.00 at 8 % a year for 40 days: 8.767… → 8.77.
    assert_eq!(amount(&fin["interest"]), "8.77", "{fin}");
    assert_eq!(fin["level"], 3, "only the highest level reached: {fin}");
    // A second run the same day queues nothing twice.
    let (s, again, _) = call(&app, post("/v1/reminder-runs", &manager, &json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(again["queued"], 0, "{again}");

    let (s, sent, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{sent}");
    assert_eq!(sent["sent"], 3, "{sent}");
    let mails = sink.mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    assert!(
        mails
            .iter()
            .all(|m| m.contains("X-Envelope-To: ana@example.org")),
        "{mails:?}"
    );
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Subject: Reminder: invoice H1-1")),
        "{mails:?}"
    );
    assert!(
        mails
            .iter()
            .any(|m| m.contains("1000.00 EUR still due. Total 1008.77.")),
        "{mails:?}"
    );
    let texts = sms_requests(&provider).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["authorised"], true);
    assert_eq!(texts[0]["form"]["To"], "+34600123456");
    assert_eq!(texts[0]["form"]["From"], "Hospital");
    assert!(
        texts[0]["form"]["Body"]
            .as_str()
            .is_some_and(|b| b.contains("H1-2")),
        "{texts:?}"
    );
    // Sending again sends nothing.
    let (_, idle, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(idle["sent"], 0, "{idle}");
    assert_eq!(sink.mails().len(), 2);

    // Logged with their outcome, announced once each.
    let (_, list, _) = call(&app, get("/v1/reminder-notices?status=sent", &manager)).await;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 3, "{list}");
    assert!(items.iter().all(|n| n["provider_id"].as_str().is_some_and(|p| !p.is_empty()) && n["attempts"] == 1), "{list}");
    let (_, one, _) = call(
        &app,
        get(
            &format!(
                "/v1/reminder-notices?receivable_id={}",
                receivable_id(&app, &manager, &late).await
            ),
            &manager,
        ),
    )
    .await;
    assert_eq!(
        one["items"][0]["provider_id"]
            .as_str()
            .map(|p| p.starts_with("SM")),
        Some(true),
        "{one}"
    );
    let events: Vec<ReminderSentV1> = outbox_events(&h).await;
    assert_eq!(events.len(), 3);
    // The fee and the interest are charged to their receivables.
    let (_, r, _) = call(
        &app,
        get(
            &format!(
                "/v1/receivables/{}",
                receivable_id(&app, &manager, &late).await
            ),
            &manager,
        ),
    )
    .await;
    assert_eq!(
        (amount(&r["adjusted"]), amount(&r["outstanding"])),
        ("5.00", "255.00"),
        "{r}"
    );
    let (_, r, _) = call(
        &app,
        get(
            &format!(
                "/v1/receivables/{}",
                receivable_id(&app, &manager, &very_late).await
            ),
            &manager,
        ),
    )
    .await;
    assert_eq!(
        (amount(&r["adjusted"]), amount(&r["outstanding"])),
        ("8.77", "1008.77"),
        "{r}"
    );
    let (_, r, _) = call(
        &app,
        get(
            &format!(
                "/v1/receivables/{}",
                receivable_id(&app, &manager, &soon).await
            ),
            &manager,
        ),
    )
    .await;
    assert_eq!(
        amount(&r["adjusted"]),
        "0.00",
        "no fee on the friendly notice: {r}"
    );
    let fee_event = events
        .iter()
        .find(|e| e.invoice_number == "H1-2")
        .expect("H1-2 announced");
    assert_eq!(fee_event.fee, eur("5.00"));
    assert_eq!(fee_event.level_name, "second reminder");
}

async fn receivable_id(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    t: &str,
    inv: &carebill_domain::events::InvoiceIssuedV1,
) -> String {
    let (_, page, _) = call(
        app,
        get(&format!("/v1/receivables?invoice_id={}", inv.invoice_id), t),
    )
    .await;
    page["items"][0]["id"]
        .as_str()
        .expect("receivable")
        .to_owned()
}

/// Makes every queued notice due now, as if its backoff had passed.
async fn time_passes(h: &Harness) {
    use diesel::prelude::*;
    h.db.write(|conn| {
        diesel::sql_query(
            "UPDATE reminder_notices SET not_before = created_at WHERE status = 'queued'",
        )
        .execute(conn)?;
        Ok(())
    })
    .await
    .expect("update");
}

async fn a_provider_that_fails_for_now_gets_the_notice_again_and_it_goes_once(backend: Backend) {
    let h = harness(backend);
    let (sink, mailer) = smtp(&["--fail-first", "1"]);
    let (provider, sender) = sms(&["--fail-first", "1"]);
    let app = app_with(
        &h,
        Channels {
            mail: Some(mailer),
            sms: Some(sender),
        },
    )
    .await;
    let manager = token(&["billing_manager"], None);
    let (s, _, _) = call(
        &app,
        put(
            "/v1/reminder-policies/P",
            &manager,
            &policy(json!([
                level("first", 1, "email"),
                level("second", 10, "sms")
            ])),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (ana, bea) = (patient(), patient());
    owed(&h, &ana, "H1-1", "40.00", -2).await;
    owed(&h, &bea, "H1-2", "50.00", -12).await;
    call(
        &app,
        put(
            &contact_path(&ana),
            &manager,
            &contact(Some("ana@example.org"), None, "es", false),
        ),
    )
    .await;
    call(
        &app,
        put(
            &contact_path(&bea),
            &manager,
            &contact(None, Some("+34600000001"), "es", false),
        ),
    )
    .await;
    let (_, run, _) = call(&app, post("/v1/reminder-runs", &manager, &json!({}))).await;
    assert_eq!(run["queued"], 2, "{run}");

    let (_, first, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(
        (first["sent"].as_i64(), first["retrying"].as_i64()),
        (Some(0), Some(2)),
        "{first}"
    );
    let (_, queued, _) = call(&app, get("/v1/reminder-notices?status=queued", &manager)).await;
    for n in queued["items"].as_array().expect("items") {
        assert_eq!(n["attempts"], 1, "{n}");
        assert!(
            n["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("451") || e.contains("503")),
            "{n}"
        );
        assert!(
            n["not_before"].as_str() > Some(Utc::now().to_rfc3339().as_str()),
            "waits: {n}"
        );
    }
    // Not before its time.
    let (_, early, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(early["sent"], 0, "{early}");
    time_passes(&h).await;
    let (_, second, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(second["sent"], 2, "{second}");
    assert_eq!(sink.mails().len(), 1, "the e-mail went once");
    let accepted = sms_requests(&provider).await;
    assert_eq!(
        accepted.len(),
        2,
        "one refused with 503, one accepted: {accepted:?}"
    );
    let (_, sent, _) = call(&app, get("/v1/reminder-notices?status=sent", &manager)).await;
    assert!(
        sent["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|n| n["attempts"] == 2),
        "{sent}"
    );
    let events: Vec<ReminderSentV1> = outbox_events(&h).await;
    assert_eq!(events.len(), 2, "announced once each");
}

async fn a_notice_for_a_receivable_paid_meanwhile_or_refused_for_good_is_not_sent(
    backend: Backend,
) {
    let h = harness(backend);
    let (sink, mailer) = smtp(&[]);
    let (provider, sender) = sms(&["--refuse", "+3460099"]);
    let app = app_with(
        &h,
        Channels {
            mail: Some(mailer),
            sms: Some(sender),
        },
    )
    .await;
    let manager = token(&["billing_manager"], None);
    let (s, _, _) = call(
        &app,
        put(
            "/v1/reminder-policies/P",
            &manager,
            &policy(json!([
                level("first", 1, "email"),
                level("second", 10, "sms")
            ])),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (ana, bea) = (patient(), patient());
    let paid = owed(&h, &ana, "H1-1", "40.00", -2).await;
    owed(&h, &bea, "H1-2", "50.00", -12).await;
    call(
        &app,
        put(
            &contact_path(&ana),
            &manager,
            &contact(Some("ana@example.org"), None, "es", false),
        ),
    )
    .await;
    call(
        &app,
        put(
            &contact_path(&bea),
            &manager,
            &contact(None, Some("+34600990000"), "es", false),
        ),
    )
    .await;
    let (_, run, _) = call(&app, post("/v1/reminder-runs", &manager, &json!({}))).await;
    assert_eq!(run["queued"], 2, "{run}");
    let (s, body, _) = call(
        &app,
        post(
            "/v1/payments",
            &manager,
            &payment(&ana, eur("40.00"), &[(&paid, eur("40.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    let (_, out, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(
        (
            out["cancelled"].as_i64(),
            out["failed"].as_i64(),
            out["sent"].as_i64()
        ),
        (Some(1), Some(1), Some(0)),
        "{out}"
    );
    assert!(sink.mails().is_empty(), "nothing mailed for a paid invoice");
    let (_, failed, _) = call(&app, get("/v1/reminder-notices?status=failed", &manager)).await;
    assert!(
        failed["items"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("21211")),
        "{failed}"
    );
    let (_, cancelled, _) =
        call(&app, get("/v1/reminder-notices?status=cancelled", &manager)).await;
    assert!(
        cancelled["items"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("no longer owes")),
        "{cancelled}"
    );
    time_passes(&h).await;
    let (_, again, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(
        again["failed"], 0,
        "a failed notice is not tried again: {again}"
    );
    assert_eq!(sms_requests(&provider).await.len(), 1);
    let events: Vec<ReminderSentV1> = outbox_events(&h).await;
    assert!(events.is_empty());
}

async fn quiet_hours_hold_notices_until_they_end(backend: Backend) {
    let h = harness(backend);
    let (sink, mailer) = smtp(&[]);
    let app = app_with(
        &h,
        Channels {
            mail: Some(mailer),
            sms: None,
        },
    )
    .await;
    let manager = token(&["billing_manager"], None);
    // Quiet from an hour ago to an hour from now, in the location's time zone (UTC here).
    let now = Utc::now();
    let hhmm = |t: chrono::DateTime<Utc>| format!("{:02}:{:02}", t.hour(), t.minute());
    let mut body = policy(json!([
        level("first", 1, "email"),
        level("second", 10, "sms")
    ]));
    body["quiet_hours"] =
        json!({"start": hhmm(now - Duration::hours(1)), "end": hhmm(now + Duration::hours(1))});
    let (s, p, _) = call(&app, put("/v1/reminder-policies/P", &manager, &body)).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let ana = patient();
    let inv = invoice(
        &ana,
        &location("H1", "UTC"),
        "H1-1",
        eur("40.00"),
        today() - Duration::days(2),
    );
    feed(&h, &envelope(&inv)).await;
    let bea = patient();
    owed(&h, &bea, "H1-2", "50.00", -12).await;
    call(
        &app,
        put(
            &contact_path(&ana),
            &manager,
            &contact(Some("ana@example.org"), None, "es", false),
        ),
    )
    .await;
    call(
        &app,
        put(
            &contact_path(&bea),
            &manager,
            &contact(None, Some("+34600000001"), "es", false),
        ),
    )
    .await;
    let (_, run, _) = call(&app, post("/v1/reminder-runs", &manager, &json!({}))).await;
    assert_eq!(run["queued"], 1, "{run}");
    assert_eq!(
        run["skipped"]["channel_unavailable"], 1,
        "no SMS provider configured: {run}"
    );
    let (_, out, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(
        (out["deferred"].as_i64(), out["sent"].as_i64()),
        (Some(1), Some(0)),
        "{out}"
    );
    assert!(sink.mails().is_empty());
    let (_, q, _) = call(&app, get("/v1/reminder-notices?status=queued", &manager)).await;
    let until = q["items"][0]["not_before"]
        .as_str()
        .expect("not_before")
        .to_owned();
    let until: chrono::DateTime<Utc> = until.parse().expect("time");
    let end = now + Duration::hours(1);
    assert!((until - end).num_minutes().abs() <= 1, "{until} vs {end}");
}

async fn disputed_receivables_and_those_in_a_plan_are_left_alone_until_they_are_not(
    backend: Backend,
) {
    let h = harness(backend);
    let (sink, mailer) = smtp(&[]);
    let app = app_with(
        &h,
        Channels {
            mail: Some(mailer),
            sms: None,
        },
    )
    .await;
    let manager = token(&["billing_manager"], None);
    let (s, _, _) = call(
        &app,
        put(
            "/v1/reminder-policies/P",
            &manager,
            &policy(json!([level("first", 5, "email")])),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (ana, bea) = (patient(), patient());
    let contested = owed(&h, &ana, "H1-1", "40.00", -10).await;
    owed(&h, &bea, "H1-2", "90.00", -10).await;
    for p in [&ana, &bea] {
        call(
            &app,
            put(
                &contact_path(p),
                &manager,
                &contact(Some("x@example.org"), None, "es", false),
            ),
        )
        .await;
    }
    let disputed = receivable_id(&app, &manager, &contested).await;
    let (s, body, _) = call(
        &app,
        post(
            &format!("/v1/receivables/{disputed}/disputes"),
            &manager,
            &json!({"reason": "never received the care"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let first = today() + Duration::days(10);
    let (s, plan, _) = call(
        &app,
        post(
            "/v1/payment-plans",
            &manager,
            &json!({
        "party_kind": bea.kind, "party_id": bea.id, "currency": "EUR",
        "count": 3, "first_due_on": first, "every": "month"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");
    let (_, run, _) = call(&app, post("/v1/reminder-runs", &manager, &json!({}))).await;
    assert_eq!(run["queued"], 0, "{run}");
    assert_eq!(
        (
            run["skipped"]["disputed"].as_i64(),
            run["skipped"]["in_plan"].as_i64()
        ),
        (Some(1), Some(1)),
        "{run}"
    );

    // Resolved, the dispute no longer holds it back; a plan cancelled returns its receivable.
    let (s, body, _) = call(
        &app,
        post(
            &format!("/v1/receivables/{disputed}/disputes/resolution"),
            &manager,
            &json!({"resolution": "care confirmed by the ward"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let plan_id = plan["id"].as_str().expect("plan id");
    let (s, body, _) = call(
        &app,
        post(
            &format!("/v1/payment-plans/{plan_id}/cancellation"),
            &manager,
            &json!({"reason": "asked to pay at once"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (_, run, _) = call(&app, post("/v1/reminder-runs", &manager, &json!({}))).await;
    assert_eq!(run["queued"], 2, "{run}");
    // A dispute opened after the run cancels the notice before it goes.
    call(
        &app,
        post(
            &format!("/v1/receivables/{disputed}/disputes"),
            &manager,
            &json!({"reason": "contested again"}),
        ),
    )
    .await;
    let (_, out, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(
        (out["sent"].as_i64(), out["cancelled"].as_i64()),
        (Some(1), Some(1)),
        "{out}"
    );
    assert_eq!(sink.mails().len(), 1);
}

async fn a_letter_level_makes_a_pdf_to_print_for_a_contact_with_a_postal_address(backend: Backend) {
    let h = harness(backend);
    let app = app_with(
        &h,
        Channels {
            mail: None,
            sms: None,
        },
    )
    .await;
    let manager = token(&["billing_manager"], None);
    let mut letter = level("carta", -40, "letter");
    letter["fee"] = json!(eur("3.00"));
    let (s, body, _) = call(
        &app,
        put(
            "/v1/reminder-policies/PATIENTS",
            &manager,
            &policy(json!([letter])),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    // A letter level without a subject is refused.
    let mut bare = level("carta", -40, "letter");
    bare["templates"]["es"]["subject"] = Value::Null;
    let (s, body, _) = call(
        &app,
        put(
            "/v1/reminder-policies/OTHER",
            &manager,
            &json!({"party_kind": "payer", "default_language": "es", "levels": [bare]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let (ana, bea) = (patient(), patient());
    owed(&h, &ana, "H1-77", "120.00", -45).await;
    owed(&h, &bea, "H1-78", "30.00", -45).await;
    let mut with_address = contact(None, None, "es", false);
    with_address["postal_address"] = json!(["Calle Luna 5", "28004 Madrid", "España"]);
    let (s, body, _) = call(&app, put(&contact_path(&ana), &manager, &with_address)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["postal_address"][1], "28004 Madrid");
    // Too many lines are refused.
    let mut long = contact(None, None, "es", false);
    long["postal_address"] = json!(["1", "2", "3", "4", "5", "6", "7"]);
    let (s, _, _) = call(&app, put(&contact_path(&bea), &manager, &long)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Bea's contact has no address: no letter for her.
    call(
        &app,
        put(
            &contact_path(&bea),
            &manager,
            &contact(Some("bea@example.org"), None, "es", false),
        ),
    )
    .await;

    let (s, run, _) = call(&app, post("/v1/reminder-runs", &manager, &json!({}))).await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    assert_eq!(run["queued"], 1, "{run}");
    assert_eq!(run["skipped"]["no_contact"], 1, "{run}");
    let notice = &run["notices"][0];
    assert_eq!(notice["channel"], "letter");
    assert_eq!(
        notice["recipient"],
        "Ana García\nCalle Luna 5\n28004 Madrid\nEspaña"
    );
    let (s, d, _) = call(&app, post("/v1/reminder-dispatches", &manager, &json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["sent"], 1, "a letter needs no provider: {d}");

    let id = notice["id"].as_str().expect("id");
    let res = actix_web::test::call_service(
        &app,
        get(&format!("/v1/reminder-notices/{id}/letter"), &manager).to_request(),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let pdf = actix_web::test::read_body(res).await.to_vec();
    let path = std::env::temp_dir().join(format!("carebill-letter-{id}.pdf"));
    std::fs::write(&path, &pdf).expect("written");
    let run_tool = |cmd: &str, args: &[&str]| {
        let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
            panic!("{cmd} (Debian qpdf, poppler-utils; .ci/run installs them): {e}")
        });
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let p = path.to_string_lossy().into_owned();
    assert!(run_tool("qpdf", &["--check", &p]).contains("No syntax or stream encoding errors"));
    let text = run_tool("pdftotext", &["-layout", &p, "-"]);
    for expected in [
        "Recordatorio: factura H1-77",
        "Calle Luna 5",
        "28004 Madrid",
        "Factura H1-77: quedan 120.00 EUR",
        "120,00 EUR",
        "Gastos de reclamación",
        "3,00 EUR",
    ] {
        assert!(text.contains(expected), "`{expected}` not in:\n{text}");
    }
    let _ = std::fs::remove_file(&path);
    // An e-mail or SMS notice has no letter.
    let (_, all, _) = call(&app, get("/v1/reminder-notices", &manager)).await;
    assert_eq!(all["items"].as_array().map(Vec::len), Some(1));
    let (s, _, _) = call(
        &app,
        get(
            &format!("/v1/reminder-notices/{}/letter", uuid::Uuid::now_v7()),
            &manager,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
