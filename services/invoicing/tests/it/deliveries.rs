//! Delivery: issued invoices and credit notes go by e-mail to a real SMTP server on 127.0.0.1
//! (aiosmtpd, `scripts/standins/smtp_sink.py`), with the PDF and the UBL attached, or as a
//! notice whose portal link opens the document for a while; each once, inside the location's
//! sending window. A server that answers "later" or is down keeps the document queued and it goes
//! once when the server takes it; one that refuses it for good fails it; every try is in the log.

use actix_web::http::StatusCode;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{SmtpSink, admin, call, get, post, put};
use chrono::Datelike as _;
use diesel::RunQueryDsl as _;
use mail_parser::{MessageParser, MimeHeaders as _};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    documents_go_by_email_with_pdf_and_ubl_or_as_a_portal_notice_once_each,
    a_server_that_answers_later_or_is_down_keeps_the_document_and_it_goes_once,
    bad_delivery_settings_and_windows_are_refused_and_change_nothing,
    portals_pull_only_their_documents_incrementally_and_unchanged_ones_cost_a_304,
);

async fn dispatch(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
) -> Value {
    let (s, body, _) = call(app, post("/v1/delivery-dispatches", &admin(), &json!({}))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    body
}

/// Every delivery is due now (as if the clock had moved past its next try).
async fn make_all_due(h: &Harness) {
    h.db.write(|conn| {
        diesel::sql_query("UPDATE deliveries SET not_before = '2000-01-01 00:00:00'")
            .execute(conn)
            .map_err(carebill_platform::Error::from)
    })
    .await
    .expect("made due");
}

fn weekday(d: chrono::Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][d.num_days_from_monday() as usize]
}

async fn documents_go_by_email_with_pdf_and_ubl_or_as_a_portal_notice_once_each(b: Backend) {
    let sink = SmtpSink::start(&[]);
    let h = harness(b);
    let app = app_with(&h.db, Some(sink.url())).await;
    let t = admin();
    let mut w = world("H1");
    complete(&mut w);

    let (s, body, _) = call(&app, put("/v1/delivery-settings/payer/SANITAS", &t, &json!({
        "channel": "email", "email": "facturas@sanitas.example", "attach_ubl": true, "language": "es"
    }))).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 1);
    let patient = w.patient.id.to_string();
    let (s, body, _) = call(
        &app,
        put(
            &format!("/v1/delivery-settings/patient/{patient}"),
            &t,
            &json!({
                "channel": "portal_notice", "email": "ana@example.org"
            }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // The location sends only tomorrow (local time): what is issued today waits.
    let tomorrow = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Madrid)
        .weekday()
        .succ();
    let (s, body, _) = call(
        &app,
        put(
            "/v1/sending-windows/H1",
            &t,
            &json!({
                "time_zone": "Europe/Madrid",
                "windows": [{ "days": [weekday(tomorrow)], "from": "00:00", "to": "23:59" }]
            }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    let mut seen = Vec::new();
    let (payer, patient_invoice) = approve(&h, &w, &app, &mut seen).await;
    let (_, payer_doc, _) = call(&app, get(&format!("/v1/invoices/{payer}"), &t)).await;
    let number = payer_doc["number"].as_str().expect("number").to_owned();
    let d = dispatch(&app).await;
    assert_eq!(
        (d["sent"].as_i64(), d["deferred"].as_i64()),
        (Some(0), Some(2)),
        "{d}"
    );
    assert!(sink.mails().is_empty());

    // Every day from now on: the queue goes out, each document once.
    let all = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let (s, _, _) = call(&app, put("/v1/sending-windows/H1", &t, &json!({
        "time_zone": "Europe/Madrid", "windows": [{ "days": all, "from": "00:00", "to": "23:59" }]
    }))).await;
    assert_eq!(s, StatusCode::OK);
    // (23:59 to 00:00 is closed: make the test independent of that minute.)
    call(
        &app,
        put(
            "/v1/sending-windows/H1",
            &t,
            &json!({ "time_zone": "Europe/Madrid", "windows": [] }),
        ),
    )
    .await;
    let d = dispatch(&app).await;
    assert_eq!(d["sent"], 2, "{d}");
    assert_eq!(dispatch(&app).await["sent"], 0, "nothing goes twice");
    let mails = sink.mails();
    assert_eq!(mails.len(), 2);

    let parsed: Vec<_> = mails
        .iter()
        .map(|m| MessageParser::default().parse(m).expect("a message"))
        .collect();
    let to = |m: &mail_parser::Message<'_>| {
        m.to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned()
    };
    let payer_mail = parsed
        .iter()
        .find(|m| to(m) == "facturas@sanitas.example")
        .expect("the payer's mail");
    assert_eq!(
        payer_mail.subject(),
        Some(format!("Factura {number} · Hospital Central S.L.").as_str())
    );
    let files: Vec<(String, Vec<u8>)> = payer_mail
        .attachments()
        .map(|a| {
            (
                a.attachment_name().unwrap_or_default().to_owned(),
                a.contents().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        files.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
        [format!("{number}.pdf"), format!("{number}.xml")]
    );
    let text = pdf_text(&files[0].1);
    assert!(
        text.contains("Factura") && text.contains(&number) && text.contains("80,00 EUR"),
        "{text}"
    );
    let xml = String::from_utf8(files[1].1.clone()).expect("utf-8");
    assert!(xml.starts_with("<?xml") && xml.contains(&number), "{xml}");
    assert!(
        payer_mail
            .message_id()
            .is_some_and(|id| id.starts_with("delivery-"))
    );

    // The patient's notice carries a link that opens the document without a token.
    let notice = parsed
        .iter()
        .find(|m| to(m) == "ana@example.org")
        .expect("the notice");
    assert_eq!(notice.attachment_count(), 0);
    let body = notice.body_text(0).expect("text").to_string();
    let url = body
        .split_whitespace()
        .find(|w| w.starts_with("https://billing.example.org/v1/portal-links/"))
        .expect("a link");
    let path = url.trim_start_matches("https://billing.example.org");
    for _ in 0..2 {
        let r = raw(&app, actix_web::test::TestRequest::get().uri(path)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.ctype, "application/pdf");
    }
    let r = raw(
        &app,
        actix_web::test::TestRequest::get()
            .uri(path)
            .insert_header(("accept", "text/html")),
    )
    .await;
    assert!(String::from_utf8(r.body).expect("utf-8").contains("<html"));
    let (_, links, _) = call(
        &app,
        get(&format!("/v1/invoices/{patient_invoice}/portal-links"), &t),
    )
    .await;
    assert_eq!(links[0]["uses"], 3, "{links}");
    assert_eq!(links[0]["url"], Value::Null, "the URL is not shown again");
    // A tampered token, and the link once revoked: 401 and nothing more.
    let mut tampered = path.to_owned();
    tampered.pop();
    tampered.push('x');
    let (s, body, _) = call(&app, actix_web::test::TestRequest::get().uri(&tampered)).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_link"))
    );
    // A link's lifetime is 1 to 2160 hours.
    let (s, body, _) = call(
        &app,
        post(
            &format!("/v1/invoices/{patient_invoice}/portal-links"),
            &t,
            &json!({ "hours": 0 }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), ["hours"]);
    // A link past its time opens nothing either.
    let (s, fresh, _) = call(
        &app,
        post(
            &format!("/v1/invoices/{patient_invoice}/portal-links"),
            &t,
            &json!({ "hours": 1 }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{fresh}");
    let fresh_path = fresh["url"]
        .as_str()
        .expect("url")
        .trim_start_matches("https://billing.example.org")
        .to_owned();
    let opened = call(&app, actix_web::test::TestRequest::get().uri(&fresh_path)).await;
    assert_eq!(opened.0, StatusCode::OK);
    let fresh_id = fresh["id"].as_str().expect("id").to_owned();
    h.db.write(move |conn| {
        diesel::sql_query(format!(
            "UPDATE portal_links SET expires_at = '2000-01-01 00:00:00' WHERE id = '{fresh_id}'"
        ))
        .execute(conn)
        .map_err(carebill_platform::Error::from)
    })
    .await
    .expect("expired");
    let expired = call(&app, actix_web::test::TestRequest::get().uri(&fresh_path)).await;
    assert_eq!(expired.0, StatusCode::UNAUTHORIZED);
    let link_id = links[0]["id"].as_str().expect("id");
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/portal-links/{link_id}/revocation"),
            &t,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(&app, actix_web::test::TestRequest::get().uri(path)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // The log names what the server said.
    let (_, log, _) = call(&app, get(&format!("/v1/invoices/{payer}/deliveries"), &t)).await;
    assert_eq!(log.as_array().map(Vec::len), Some(1), "{log}");
    assert_eq!(log[0]["status"], "sent");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["log"][0]["outcome"], "sent");
    assert!(
        log[0]["message_id"]
            .as_str()
            .is_some_and(|m| m.starts_with("<delivery-")),
        "{log}"
    );

    // A resend to another address is another delivery; the first stays as it was.
    let (s, body, _) = call(
        &app,
        post(
            &format!("/v1/invoices/{payer}/deliveries"),
            &t,
            &json!({ "email": "archivo@sanitas.example" }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["resend_of"], log[0]["id"]);
    assert_eq!(dispatch(&app).await["sent"], 1);
    let mails = sink.mails();
    assert_eq!(mails.len(), 3);
    let last = MessageParser::default()
        .parse(&mails[2])
        .expect("a message");
    assert_eq!(to(&last), "archivo@sanitas.example");

    // A credit note goes the same way.
    let (s, cn) = credit(
        &app,
        &t,
        &payer,
        json!({ "reason": "Duplicado", "reissue": false }),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    assert_eq!(dispatch(&app).await["sent"], 1);
    let mails = sink.mails();
    let cn_mail = MessageParser::default()
        .parse(&mails[3])
        .expect("a message");
    let cn_number = cn["number"].as_str().expect("number");
    assert_eq!(
        cn_mail.subject(),
        Some(format!("Factura rectificativa {cn_number} · Hospital Central S.L.").as_str())
    );
    let cn_pdf = cn_mail
        .attachments()
        .next()
        .expect("the PDF")
        .contents()
        .to_vec();
    assert!(pdf_text(&cn_pdf).contains("Duplicado"));
}

async fn a_server_that_answers_later_or_is_down_keeps_the_document_and_it_goes_once(b: Backend) {
    let sink = SmtpSink::start(&["--fail-first", "1", "--refuse", "nobody@sanitas.example"]);
    let h = harness(b);
    let app = app_with(&h.db, Some(sink.url())).await;
    let t = admin();
    let mut w = world("H1");
    complete(&mut w);
    call(
        &app,
        put(
            "/v1/delivery-settings/payer/SANITAS",
            &t,
            &json!({ "channel": "email", "email": "facturas@sanitas.example" }),
        ),
    )
    .await;
    let mut seen = Vec::new();
    let (payer, patient) = approve(&h, &w, &app, &mut seen).await;
    // The patient asked for nothing: nothing is queued for it.
    let (_, log, _) = call(&app, get(&format!("/v1/invoices/{patient}/deliveries"), &t)).await;
    assert_eq!(log, json!([]));

    // 451: tried again later, nothing lost.
    let d = dispatch(&app).await;
    assert_eq!(d["retrying"], 1, "{d}");
    let (_, log, _) = call(&app, get(&format!("/v1/invoices/{payer}/deliveries"), &t)).await;
    assert_eq!(log[0]["status"], "queued");
    assert_eq!(log[0]["log"][0]["outcome"], "retrying");
    assert!(
        log[0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("451")),
        "{log}"
    );
    assert_eq!(
        dispatch(&app).await["retrying"],
        0,
        "not before its next try"
    );
    make_all_due(&h).await;
    assert_eq!(dispatch(&app).await["sent"], 1);
    assert_eq!(sink.mails().len(), 1);
    make_all_due(&h).await;
    assert_eq!(dispatch(&app).await["sent"], 0, "sent once");

    // A server that is down: the resend stays queued with the reason, and goes when one answers.
    let down = app_with(&h.db, Some("smtp://127.0.0.1:9")).await;
    let (s, _, _) = call(
        &down,
        post(&format!("/v1/invoices/{payer}/deliveries"), &t, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let d = dispatch(&down).await;
    assert_eq!(d["retrying"], 1, "{d}");
    make_all_due(&h).await;
    assert_eq!(dispatch(&app).await["sent"], 1);
    assert_eq!(sink.mails().len(), 2);

    // A permanent refusal bounces the delivery at once, with the server's answer.
    let (s, body, _) = call(
        &app,
        post(
            &format!("/v1/invoices/{payer}/deliveries"),
            &t,
            &json!({ "email": "nobody@sanitas.example" }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let d = dispatch(&app).await;
    assert_eq!(d["failed"], 1, "{d}");
    let (_, failed, _) = call(&app, get("/v1/deliveries?status=bounced", &t)).await;
    assert_eq!(
        failed["items"].as_array().map(Vec::len),
        Some(1),
        "{failed}"
    );
    assert!(
        failed["items"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("550")),
        "{failed}"
    );
    assert_eq!(sink.mails().len(), 2);
}

async fn bad_delivery_settings_and_windows_are_refused_and_change_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    for (body, field) in [
        (
            json!({ "channel": "email", "email": "not an address" }),
            "email",
        ),
        (json!({ "channel": "portal_notice" }), "email"),
        (
            json!({ "channel": "email", "email": "a@b.example", "language": "pt" }),
            "language",
        ),
    ] {
        let (s, problem, _) =
            call(&app, put("/v1/delivery-settings/payer/SANITAS", &t, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(fields(&problem), [field], "{problem}");
    }
    let (s, _, _) = call(
        &app,
        put(
            "/v1/delivery-settings/payer/SANITAS",
            &t,
            &json!({ "channel": "fax", "email": "a@b.example" }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = call(
        &app,
        put(
            "/v1/delivery-settings/insurer/SANITAS",
            &t,
            &json!({ "channel": "none" }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(&app, get("/v1/delivery-settings/payer/SANITAS", &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was stored");

    for (body, field) in [
        (
            json!({ "time_zone": "Mars/Olympus", "windows": [] }),
            "time_zone",
        ),
        (
            json!({ "time_zone": "Europe/Madrid", "windows": [{ "days": ["someday"], "from": "08:00", "to": "18:00" }] }),
            "windows[0].days",
        ),
        (
            json!({ "time_zone": "Europe/Madrid", "windows": [{ "days": ["mon"], "from": "8am", "to": "18:00" }] }),
            "windows[0].from",
        ),
        (
            json!({ "time_zone": "Europe/Madrid", "windows": [{ "days": ["mon"], "from": "18:00", "to": "08:00" }] }),
            "windows",
        ),
    ] {
        let (s, problem, _) = call(&app, put("/v1/sending-windows/H1", &t, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(fields(&problem), [field], "{problem}");
    }
    let (s, _, _) = call(&app, get("/v1/sending-windows/H1", &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing was stored");
    // A biller may not set them; a location that is not yours is not found.
    let (s, _, _) = call(
        &app,
        put(
            "/v1/sending-windows/H1",
            &carebill_platform::testing::token(&["biller"], None),
            &json!({ "time_zone": "UTC", "windows": [] }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(
        &app,
        put(
            "/v1/sending-windows/H1",
            &carebill_platform::testing::token(&["billing_manager"], Some(&["H2"])),
            &json!({ "time_zone": "UTC", "windows": [] }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A portal link that was never made.
    let (s, body, _) = call(
        &app,
        actix_web::test::TestRequest::get().uri("/v1/portal-links/nonsense"),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_link"))
    );
    // Resending a document without an address anywhere.
    let mut w = world("H1");
    complete(&mut w);
    let mut seen = Vec::new();
    let (payer, _) = approve(&h, &w, &app, &mut seen).await;
    let (s, problem, _) = call(
        &app,
        post(&format!("/v1/invoices/{payer}/deliveries"), &t, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["email"]);
    let (_, log, _) = call(&app, get(&format!("/v1/invoices/{payer}/deliveries"), &t)).await;
    assert_eq!(log, json!([]));
}

async fn portals_pull_only_their_documents_incrementally_and_unchanged_ones_cost_a_304(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let mut w = world("H1");
    complete(&mut w);
    let mut seen = Vec::new();
    let (first_payer, first_patient) = approve(&h, &w, &app, &mut seen).await;
    let sanitas = payer_token("SANITAS");

    // The payer's list: its own invoices, with an ETag that answers 304 while nothing changes.
    let r = raw(&app, get("/v1/invoices", &sanitas)).await;
    assert_eq!(r.status, StatusCode::OK);
    let list: Value = serde_json::from_slice(&r.body).expect("json");
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids, [first_payer.as_str()]);
    let res = actix_web::test::call_service(&app, get("/v1/invoices", &sanitas).to_request()).await;
    let tag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned();
    let again = raw(
        &app,
        get("/v1/invoices", &sanitas).insert_header(("if-none-match", tag.as_str())),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    // Something new: the list changes, and `since` gives only what is new.
    let before = chrono::Utc::now();
    let (second_payer, _) = approve(&h, &w, &app, &mut seen).await;
    let r = raw(
        &app,
        get("/v1/invoices", &sanitas).insert_header(("if-none-match", tag.as_str())),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let since = before
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        .replace('+', "%2B");
    let (s, page, _) = call(&app, get(&format!("/v1/invoices?since={since}"), &sanitas)).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids, [second_payer.as_str()]);

    // Every format of its own documents; the PDF too answers 304 once fetched.
    for accept in [
        "application/json",
        "application/xml",
        "application/pdf",
        "text/html",
    ] {
        let r = raw(
            &app,
            get(&format!("/v1/invoices/{first_payer}"), &sanitas).insert_header(("accept", accept)),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{accept}");
        assert!(r.ctype.starts_with(accept), "{accept}: {}", r.ctype);
    }
    let res = actix_web::test::call_service(
        &app,
        get(&format!("/v1/invoices/{first_payer}"), &sanitas)
            .insert_header(("accept", "application/pdf"))
            .to_request(),
    )
    .await;
    let pdf_tag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned();
    let r = raw(
        &app,
        get(&format!("/v1/invoices/{first_payer}"), &sanitas)
            .insert_header(("accept", "application/pdf"))
            .insert_header(("if-none-match", pdf_tag.as_str())),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_MODIFIED);
    // Another payer's document, or the patient's, is not there for it.
    let (s, _, _) = call(
        &app,
        get(
            &format!("/v1/invoices/{first_payer}"),
            &payer_token("ADESLAS"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        get(&format!("/v1/invoices/{first_patient}"), &sanitas),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The patient's own token: its invoices only, nothing of the payer's, none of the staff's
    // resources.
    let ana = patient_token(&w.patient.id.to_string());
    let (s, list, _) = call(&app, get("/v1/invoices", &ana)).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2), "{list}");
    assert!(
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["recipient"]["kind"] == "patient")
    );
    let r = raw(
        &app,
        get(&format!("/v1/invoices/{first_patient}"), &ana)
            .insert_header(("accept", "application/pdf")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let (s, _, _) = call(&app, get(&format!("/v1/invoices/{first_payer}"), &ana)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let other = patient_token(&carebill_domain::ids::PatientId::new().to_string());
    let (_, list, _) = call(&app, get("/v1/invoices", &other)).await;
    assert_eq!(list["items"], json!([]));
    for path in [
        "/v1/layouts".to_owned(),
        format!("/v1/invoices/{first_patient}/deliveries"),
        "/v1/invoicing/audit-events".to_owned(),
    ] {
        let (s, _, _) = call(&app, get(&path, &ana)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
}
