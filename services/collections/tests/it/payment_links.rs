//! Online payment links against the stand-in payment provider (`scripts/standins/
//! payment_provider.py`, a real HTTP server speaking Stripe Checkout's API): the service serves
//! its routes on a real socket too, so the stand-in's signed webhooks reach it as the real
//! provider's would. A link paid records one payment however often its webhook is delivered;
//! bad, old or missing signatures record nothing; expired and failed links move no money.

use std::sync::Arc;

use crate::common::*;
use actix_web::http::StatusCode;
use actix_web::web;
use carebill_collections::{CollectionsState, PaymentLinks};
use carebill_domain::events::InvoiceIssuedV1;
use carebill_platform::both_backends;
use carebill_platform::config::Secret;
use carebill_platform::db::Backend;
use carebill_platform::outbound::payments::{StripeCheckout, sign};
use carebill_platform::testing::{
    StandIn, TestServer, call, get, listener, post, serve, test_app, token,
};
use chrono::Duration;
use serde_json::{Value, json};
use tokio::sync::Notify;

both_backends!(
    a_link_for_an_invoice_paid_at_the_provider_pays_it_once,
    a_balance_link_pays_the_oldest_due_first_with_what_was_paid,
    bad_old_or_missing_signatures_are_refused_and_record_nothing,
    expired_and_failed_links_move_no_money,
    a_webhook_delivered_concurrently_records_one_payment,
    nothing_outstanding_or_no_provider_is_a_clear_error_and_stores_nothing,
    links_keep_to_roles_and_scope,
);

const KEY: &str = "sk_test_links";
const WHSEC: &str = "whsec_links";
const STANDIN: &str = "scripts/standins/payment_provider.py";

/// The service over one database, on a real socket and in process, with the stand-in
/// provider delivering its webhooks to the socket.
struct World {
    h: Harness,
    provider: StandIn,
    server: TestServer,
    state: web::Data<CollectionsState>,
    http: reqwest::Client,
}

fn links_at(base: &str) -> PaymentLinks {
    PaymentLinks {
        provider: Arc::new(
            StripeCheckout::new(
                base,
                Secret::new(KEY),
                Some(Secret::new(WHSEC)),
                Some("https://clinic.example/paid/{link_id}".to_owned()),
                None,
            )
            .expect("provider"),
        ),
        link_hours: 2,
    }
}

fn world(b: Backend, standin_args: &[&str]) -> World {
    let h = harness(b);
    let (socket, base) = listener();
    let hook = format!("{base}/v1/payment-webhooks");
    let args = [
        &[
            "--secret-key",
            KEY,
            "--webhook-url",
            &hook,
            "--webhook-secret",
            WHSEC,
        ],
        standin_args,
    ]
    .concat();
    let provider = StandIn::start(STANDIN, &args);
    let state = web::Data::new(CollectionsState {
        db: h.db.clone(),
        wake: Arc::new(Notify::new()),
        reminders: carebill_collections::Channels::default(),
        payment_links: Some(links_at(&provider.base)),
    });
    let served = state.clone();
    let server = serve(socket, move |cfg| {
        carebill_collections::routes(served.clone())(cfg)
    });
    World {
        h,
        provider,
        server,
        state,
        http: reqwest::Client::new(),
    }
}

impl World {
    /// POSTs to the stand-in (playing the payer) and returns its JSON answer.
    async fn standin_post(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.provider.base))
            .send()
            .await
            .expect("stand-in");
        (r.status().as_u16(), r.json().await.expect("json"))
    }

    async fn standin_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.provider.base))
            .send()
            .await
            .expect("stand-in")
            .json()
            .await
            .expect("json")
    }

    /// The session requests the stand-in received.
    async fn session_requests(&self) -> Vec<Value> {
        self.standin_get("/_requests")
            .await
            .as_array()
            .expect("requests")
            .iter()
            .filter(|r| r["path"] == "/v1/checkout/sessions")
            .cloned()
            .collect()
    }

    /// Delivers `body` to the service's webhook over its socket with `signature`.
    async fn deliver(&self, body: &str, signature: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/v1/payment-webhooks", self.server.base))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(s) = signature {
            req = req.header("Stripe-Signature", s);
        }
        let r = req.send().await.expect("webhook");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

/// A Stripe-shaped event about `session`, as the provider would sign and send it.
fn event(id: &str, kind: &str, session: &str, paid_minor: i64, status: &str) -> String {
    json!({
        "id": id, "object": "event", "type": kind, "created": chrono::Utc::now().timestamp(),
        "data": {"object": {
            "id": session, "object": "checkout.session", "payment_status": status,
            "amount_total": paid_minor, "currency": "eur", "payment_intent": format!("pi_{id}"),
        }}
    })
    .to_string()
}

fn signed(body: &str) -> String {
    sign(
        WHSEC.as_bytes(),
        chrono::Utc::now().timestamp(),
        body.as_bytes(),
    )
}

async fn receivable_id(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    inv: &InvoiceIssuedV1,
) -> String {
    let (s, page, _) = call(
        app,
        get(
            &format!("/v1/receivables?invoice_id={}", inv.invoice_id),
            &token(&["collector"], None),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"][0]["id"]
        .as_str()
        .expect("receivable")
        .to_owned()
}

async fn receivable_status(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    id: &str,
) -> (String, String) {
    let (s, r, _) = call(
        app,
        get(
            &format!("/v1/receivables/{id}"),
            &token(&["collector"], None),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_receivable_identity(&r);
    (
        r["status"].as_str().expect("status").to_owned(),
        amount(&r["outstanding"]).to_owned(),
    )
}

fn session_of(link: &Value) -> String {
    link["session_id"].as_str().expect("session").to_owned()
}

async fn a_link_for_an_invoice_paid_at_the_provider_pays_it_once(b: Backend) {
    let w = world(b, &[]);
    let app = test_app(carebill_collections::routes(w.state.clone())).await;
    let t = token(&["collector"], None);
    let ana = patient();
    let inv = invoice(
        &ana,
        &location("H1", "Europe/Madrid"),
        "H1-1",
        eur("120.50"),
        today() + Duration::days(30),
    );
    feed(&w.h, &envelope(&inv)).await;
    let rid = receivable_id(&app, &inv).await;

    // Made once: a retry with the same key answers the same link without asking again.
    let ask = || {
        post("/v1/payment-links", &t, &json!({"receivable_id": rid}))
            .insert_header(("idempotency-key", "link-H1-1"))
    };
    let (s, link, _) = call(&app, ask()).await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    assert_eq!(
        (link["status"].as_str(), amount(&link["amount"])),
        (Some("open"), "120.50")
    );
    assert_eq!(link["invoice_number"], "H1-1");
    let session = session_of(&link);
    assert!(session.starts_with("cs_test_"), "{link}");
    assert_eq!(
        link["url"].as_str(),
        Some(format!("{}/pay/{session}", w.provider.base).as_str())
    );
    let (s, again, _) = call(&app, ask()).await;
    assert_eq!((s, &again["id"]), (StatusCode::CREATED, &link["id"]));

    // What the provider received: the amount in cents, the currency, our key and reference.
    let sent = w.session_requests().await;
    assert_eq!(sent.len(), 1, "one session for one link: {sent:?}");
    let form = &sent[0]["form"];
    assert_eq!(sent[0]["authorization"], format!("Bearer {KEY}"));
    assert_eq!(form["line_items[0][price_data][unit_amount]"], "12050");
    assert_eq!(form["line_items[0][price_data][currency]"], "eur");
    assert_eq!(form["line_items[0][quantity]"], "1");
    assert_eq!(form["mode"], "payment");
    assert_eq!(form["client_reference_id"], link["id"]);
    assert_eq!(form["metadata[carebill_link_id]"], link["id"]);
    assert!(
        form["success_url"]
            .as_str()
            .is_some_and(|u| u.ends_with(link["id"].as_str().unwrap_or("?")))
    );
    assert!(
        sent[0]["idempotency_key"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );

    // The payer pays at the provider: its signed webhook reaches the service and verifies.
    let (s, paid) = w
        .standin_post(&format!("/pay/{session}?outcome=paid"))
        .await;
    assert_eq!(s, 200, "{paid}");
    assert_eq!(paid["webhook_status"], 200, "{paid}");
    let receipt: Value =
        serde_json::from_str(paid["webhook_body"].as_str().expect("body")).expect("receipt");
    assert_eq!(receipt["outcome"], "recorded", "{receipt}");

    let (_, link, _) = call(
        &app,
        get(
            &format!("/v1/payment-links/{}", link["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(link["status"], "paid", "{link}");
    assert_eq!(amount(&link["paid"]), "120.50");
    let payment_id = link["payment_id"].as_str().expect("payment").to_owned();
    let (_, payment, _) = call(&app, get(&format!("/v1/payments/{payment_id}"), &t)).await;
    assert_eq!(
        (payment["method"].as_str(), amount(&payment["amount"])),
        (Some("online"), "120.50")
    );
    assert_eq!(payment["kind"], "payment");
    assert_eq!(payment["reference"], link["provider_reference"]);
    assert!(
        payment["reference"]
            .as_str()
            .is_some_and(|r| r.starts_with("pi_test_")),
        "{payment}"
    );
    assert_eq!(payment["allocations"][0]["invoice_number"], "H1-1");
    assert_eq!(amount(&payment["allocations"][0]["amount"]), "120.50");
    assert_eq!(
        receivable_status(&app, &rid).await,
        ("paid".to_owned(), "0.00".to_owned())
    );

    // Delivered again (the provider retries): taken once.
    let (_, resent) = w.standin_post(&format!("/pay/{session}/resend")).await;
    assert_eq!(resent["webhook_status"], 200, "{resent}");
    assert!(
        resent["webhook_body"]
            .as_str()
            .is_some_and(|b| b.contains("\"duplicate\"")),
        "{resent}"
    );
    let (_, payments, _) = call(&app, get(&format!("/v1/payments?party_id={}", ana.id), &t)).await;
    assert_eq!(
        payments["items"].as_array().map(Vec::len),
        Some(1),
        "{payments}"
    );
    assert_eq!(recorded_events(&w.h).await.len(), 1);

    // The receivable's links, by status.
    for (status, n) in [("paid", 1), ("open", 0)] {
        let (s, page, _) = call(
            &app,
            get(
                &format!("/v1/payment-links?receivable_id={rid}&status={status}"),
                &t,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(
            page["items"].as_array().map(Vec::len),
            Some(n),
            "{status}: {page}"
        );
    }
}

async fn a_balance_link_pays_the_oldest_due_first_with_what_was_paid(b: Backend) {
    let w = world(b, &[]);
    let app = test_app(carebill_collections::routes(w.state.clone())).await;
    let t = token(&["billing_manager"], None);
    let acme = payer("ACME");
    let h1 = location("H1", "Europe/Madrid");
    let later = invoice(
        &acme,
        &h1,
        "H1-L",
        eur("100.00"),
        today() + Duration::days(10),
    );
    let overdue = invoice(
        &acme,
        &h1,
        "H1-O",
        eur("50.00"),
        today() - Duration::days(5),
    );
    let last = invoice(
        &acme,
        &h1,
        "H1-Z",
        eur("30.00"),
        today() + Duration::days(20),
    );
    // Due tomorrow (UTC): open in Madrid's day too, whatever the hour.
    let dollars = invoice(
        &acme,
        &h1,
        "H1-D",
        money_in("70.00", "USD"),
        today() + Duration::days(1),
    );
    for inv in [&later, &overdue, &last, &dollars] {
        feed(&w.h, &envelope(inv)).await;
    }
    let (s, link, _) = call(
        &app,
        post(
            "/v1/payment-links",
            &t,
            &json!({"party_kind": "payer", "party_id": acme.id, "currency": "EUR"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    assert_eq!(
        amount(&link["amount"]),
        "180.00",
        "the euros owed, not the dollars"
    );
    assert_eq!(link["receivable_id"], Value::Null);

    // The payer pays less than asked: the oldest due first, each up to what it owes.
    let (_, paid) = w
        .standin_post(&format!(
            "/pay/{}?outcome=paid&amount=12000",
            session_of(&link)
        ))
        .await;
    assert_eq!(paid["webhook_status"], 200, "{paid}");
    let (_, link, _) = call(
        &app,
        get(
            &format!("/v1/payment-links/{}", link["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(
        (link["status"].as_str(), amount(&link["paid"])),
        (Some("paid"), "120.00")
    );
    for (inv, status, outstanding) in [
        (&overdue, "paid", "0.00"),
        (&later, "partially_paid", "30.00"),
        (&last, "open", "30.00"),
        (&dollars, "open", "70.00"),
    ] {
        let rid = receivable_id(&app, inv).await;
        assert_eq!(
            receivable_status(&app, &rid).await,
            (status.to_owned(), outstanding.to_owned()),
            "{}",
            inv.number
        );
    }
    let (_, bal, _) = call(&app, get(&balance_path(&acme), &t)).await;
    assert_balance_identities(&bal);
    let euros = bal["currencies"]
        .as_array()
        .expect("currencies")
        .iter()
        .find(|c| c["currency"] == "EUR")
        .expect("EUR")
        .clone();
    assert_eq!(amount(&euros["outstanding"]), "60.00");
    assert_eq!(amount(&euros["unallocated_credit"]), "0.00");
}

async fn bad_old_or_missing_signatures_are_refused_and_record_nothing(b: Backend) {
    let w = world(b, &[]);
    let app = test_app(carebill_collections::routes(w.state.clone())).await;
    let t = token(&["collector"], None);
    let ana = patient();
    let inv = invoice(
        &ana,
        &location("H1", "Europe/Madrid"),
        "H1-S",
        eur("80.00"),
        today() + Duration::days(1),
    );
    feed(&w.h, &envelope(&inv)).await;
    let rid = receivable_id(&app, &inv).await;
    let (_, link, _) = call(
        &app,
        post("/v1/payment-links", &t, &json!({"receivable_id": rid})),
    )
    .await;
    let body = event(
        "evt_forged_1",
        "checkout.session.completed",
        &session_of(&link),
        8000,
        "paid",
    );
    let now = chrono::Utc::now().timestamp();
    let other = event(
        "evt_forged_1",
        "checkout.session.completed",
        &session_of(&link),
        1,
        "paid",
    );
    for (why, signature) in [
        ("missing", None),
        (
            "another secret",
            Some(sign(b"whsec_guess", now, body.as_bytes())),
        ),
        (
            "too old",
            Some(sign(WHSEC.as_bytes(), now - 301, body.as_bytes())),
        ),
        (
            "another body",
            Some(sign(WHSEC.as_bytes(), now, other.as_bytes())),
        ),
        ("malformed", Some("v1=deadbeef".to_owned())),
    ] {
        let (status, problem) = w.deliver(&body, signature.as_deref()).await;
        assert_eq!(status, 401, "{why}: {problem}");
        assert_eq!(problem["code"], "invalid_signature", "{why}");
    }
    // In process too: problem+json, whatever a bearer token says.
    let (s, problem, ctype) = call(
        &app,
        actix_web::test::TestRequest::post()
            .uri("/v1/payment-webhooks")
            .insert_header((
                "authorization",
                format!("Bearer {}", token(&["admin"], None)),
            ))
            .insert_header(("content-type", "application/json"))
            .set_payload(body.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{problem}");
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    assert_eq!(
        receivable_status(&app, &rid).await,
        ("open".to_owned(), "80.00".to_owned())
    );
    let (_, link, _) = call(
        &app,
        get(
            &format!("/v1/payment-links/{}", link["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(link["status"], "open");
    assert!(recorded_events(&w.h).await.is_empty(), "nothing recorded");
    // The refused deliveries did not even consume the event: signed properly, it pays.
    let (status, receipt) = w.deliver(&body, Some(&signed(&body))).await;
    assert_eq!(
        (status, receipt["outcome"].as_str()),
        (200, Some("recorded")),
        "{receipt}"
    );
    assert_eq!(recorded_events(&w.h).await.len(), 1);
}

async fn expired_and_failed_links_move_no_money(b: Backend) {
    let w = world(b, &[]);
    let app = test_app(carebill_collections::routes(w.state.clone())).await;
    let t = token(&["collector"], None);
    let ana = patient();
    let inv = invoice(
        &ana,
        &location("H1", "Europe/Madrid"),
        "H1-E",
        eur("45.00"),
        today() + Duration::days(3),
    );
    feed(&w.h, &envelope(&inv)).await;
    let rid = receivable_id(&app, &inv).await;
    for (outcome, status) in [("expired", "expired"), ("failed", "failed")] {
        let (s, link, _) = call(
            &app,
            post("/v1/payment-links", &t, &json!({"receivable_id": rid})),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{link}");
        let session = session_of(&link);
        let (_, played) = w
            .standin_post(&format!("/pay/{session}?outcome={outcome}"))
            .await;
        assert_eq!(played["webhook_status"], 200, "{played}");
        let id = link["id"].as_str().expect("id");
        let (_, link, _) = call(&app, get(&format!("/v1/payment-links/{id}"), &t)).await;
        assert_eq!(link["status"], status, "{link}");
        assert_eq!(link["payment_id"], Value::Null);
        // A completed event for an ended link (forged, but properly signed) moves nothing.
        let late = event(
            &format!("evt_late_{outcome}"),
            "checkout.session.completed",
            &session,
            4500,
            "paid",
        );
        let (s, receipt) = w.deliver(&late, Some(&signed(&late))).await;
        assert_eq!(
            (s, receipt["outcome"].as_str()),
            (200, Some("not_open")),
            "{receipt}"
        );
    }
    // Unknown event types are taken and ignored.
    let other = json!({"id": "evt_other", "type": "customer.created", "data": {"object": {"id": "cus_1", "object": "customer"}}}).to_string();
    let (s, receipt) = w.deliver(&other, Some(&signed(&other))).await;
    assert_eq!(
        (s, receipt["outcome"].as_str()),
        (200, Some("ignored")),
        "{receipt}"
    );
    assert!(recorded_events(&w.h).await.is_empty());
    assert_eq!(
        receivable_status(&app, &rid).await,
        ("open".to_owned(), "45.00".to_owned())
    );
}

async fn a_webhook_delivered_concurrently_records_one_payment(b: Backend) {
    let w = world(b, &[]);
    let app = test_app(carebill_collections::routes(w.state.clone())).await;
    let t = token(&["collector"], None);
    let ana = patient();
    let inv = invoice(
        &ana,
        &location("H1", "Europe/Madrid"),
        "H1-C",
        eur("60.00"),
        today() + Duration::days(3),
    );
    feed(&w.h, &envelope(&inv)).await;
    let rid = receivable_id(&app, &inv).await;
    let (_, link, _) = call(
        &app,
        post("/v1/payment-links", &t, &json!({"receivable_id": rid})),
    )
    .await;
    let session = session_of(&link);
    // The same event four times at once, and another event paying the same session.
    let same = event(
        "evt_race",
        "checkout.session.completed",
        &session,
        6000,
        "paid",
    );
    let other = event(
        "evt_race_2",
        "checkout.session.async_payment_succeeded",
        &session,
        6000,
        "paid",
    );
    let (sig, other_sig) = (signed(&same), signed(&other));
    let (a, b2, c, d, e) = tokio::join!(
        w.deliver(&same, Some(&sig)),
        w.deliver(&same, Some(&sig)),
        w.deliver(&same, Some(&sig)),
        w.deliver(&same, Some(&sig)),
        w.deliver(&other, Some(&other_sig)),
    );
    let outcomes: Vec<String> = [a, b2, c, d, e]
        .iter()
        .map(|(s, r)| {
            assert_eq!(*s, 200, "{r}");
            r["outcome"].as_str().unwrap_or("?").to_owned()
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "recorded").count(),
        1,
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .iter()
            .all(|o| ["recorded", "duplicate", "not_open"].contains(&o.as_str())),
        "{outcomes:?}"
    );
    assert_eq!(recorded_events(&w.h).await.len(), 1);
    assert_eq!(
        receivable_status(&app, &rid).await,
        ("paid".to_owned(), "0.00".to_owned())
    );
}

async fn nothing_outstanding_or_no_provider_is_a_clear_error_and_stores_nothing(b: Backend) {
    let w = world(b, &["--fail-first", "2"]);
    let app = test_app(carebill_collections::routes(w.state.clone())).await;
    let t = token(&["collector"], None);
    let ana = patient();
    let h1 = location("H1", "Europe/Madrid");
    let settled = invoice(&ana, &h1, "H1-P", eur("20.00"), today());
    let owing = invoice(&ana, &h1, "H1-Q", eur("35.00"), today());
    for inv in [&settled, &owing] {
        feed(&w.h, &envelope(inv)).await;
    }
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(&ana, eur("20.00"), &[(&settled, eur("20.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let paid_rid = receivable_id(&app, &settled).await;
    let (s, problem, _) = call(
        &app,
        post("/v1/payment-links", &t, &json!({"receivable_id": paid_rid})),
    )
    .await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("nothing_outstanding")),
        "{problem}"
    );
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/payment-links",
            &t,
            &json!({"party_kind": "patient", "party_id": ana.id, "currency": "USD"}),
        ),
    )
    .await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("nothing_outstanding")),
        "{problem}"
    );
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/payment-links",
            &t,
            &json!({"receivable_id": paid_rid, "currency": "EUR"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["field"], "receivable_id");
    assert!(
        w.session_requests().await.is_empty(),
        "the provider was not asked"
    );

    // A provider answering 503 twice is retried, with one idempotency key: one session.
    let owing_rid = receivable_id(&app, &owing).await;
    let (s, link, _) = call(
        &app,
        post(
            "/v1/payment-links",
            &t,
            &json!({"receivable_id": owing_rid}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let sent = w.session_requests().await;
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(
        sent.iter()
            .all(|r| r["idempotency_key"] == sent[0]["idempotency_key"])
    );

    // A provider that refuses the key: its answer is final (no retry), a 502, nothing stored.
    let wrong_key = web::Data::new(CollectionsState {
        db: w.h.db.clone(),
        wake: Arc::new(Notify::new()),
        reminders: carebill_collections::Channels::default(),
        payment_links: Some(PaymentLinks {
            provider: Arc::new(
                StripeCheckout::new(
                    &w.provider.base,
                    Secret::new("sk_test_wrong"),
                    None,
                    None,
                    None,
                )
                .expect("provider"),
            ),
            link_hours: 1,
        }),
    });
    let app_refused = test_app(carebill_collections::routes(wrong_key)).await;
    let (s, problem, _) = call(
        &app_refused,
        post(
            "/v1/payment-links",
            &t,
            &json!({"receivable_id": owing_rid}),
        ),
    )
    .await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("payment_provider_failed")),
        "{problem}"
    );
    assert!(
        !problem.to_string().contains("sk_test"),
        "no key shown: {problem}"
    );
    assert_eq!(
        w.session_requests().await.len(),
        4,
        "one more request, not retried"
    );

    // A provider that is down: a clear 502, nothing stored.
    let (gone, _) = listener();
    let down = gone.local_addr().expect("addr");
    drop(gone);
    let unreachable = web::Data::new(CollectionsState {
        db: w.h.db.clone(),
        wake: Arc::new(Notify::new()),
        reminders: carebill_collections::Channels::default(),
        payment_links: Some(links_at(&format!("http://{down}"))),
    });
    let app_down = test_app(carebill_collections::routes(unreachable)).await;
    let (s, problem, ctype) = call(
        &app_down,
        post(
            "/v1/payment-links",
            &t,
            &json!({"receivable_id": owing_rid}),
        ),
    )
    .await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("payment_provider_failed")),
        "{problem}"
    );
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    assert!(
        !problem["detail"]
            .as_str()
            .unwrap_or("")
            .contains("127.0.0.1"),
        "no internals shown"
    );

    // No provider configured: links and webhooks are a 409 that says so; what is not an
    // event is refused as such.
    let unconfigured = web::Data::new(CollectionsState {
        db: w.h.db.clone(),
        wake: Arc::new(Notify::new()),
        reminders: carebill_collections::Channels::default(),
        payment_links: None,
    });
    let app_none = test_app(carebill_collections::routes(unconfigured)).await;
    let (s, problem, _) = call(
        &app_none,
        post(
            "/v1/payment-links",
            &t,
            &json!({"receivable_id": owing_rid}),
        ),
    )
    .await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_payment_provider")),
        "{problem}"
    );
    let body = event(
        "evt_x",
        "checkout.session.completed",
        &session_of(&link),
        3500,
        "paid",
    );
    let (s, problem, _) = call(
        &app_none,
        actix_web::test::TestRequest::post()
            .uri("/v1/payment-webhooks")
            .insert_header(("content-type", "application/json"))
            .insert_header(("stripe-signature", signed(&body)))
            .set_payload(body),
    )
    .await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("no_payment_provider")),
        "{problem}"
    );
    for (garbage, status) in [
        ("not json", StatusCode::BAD_REQUEST),
        ("[1, 2", StatusCode::UNPROCESSABLE_ENTITY),
        ("{\"id\": 5}", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (s, problem, _) = call(
            &app_none,
            actix_web::test::TestRequest::post()
                .uri("/v1/payment-webhooks")
                .insert_header(("content-type", "application/json"))
                .set_payload(garbage),
        )
        .await;
        assert_eq!(s, status, "{garbage}: {problem}");
    }

    // Only the one link was stored.
    let (_, page, _) = call(&app, get("/v1/payment-links", &t)).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
}

async fn links_keep_to_roles_and_scope(b: Backend) {
    let w = world(b, &[]);
    let app = test_app(carebill_collections::routes(w.state.clone())).await;
    let acme = payer("ACME");
    let (h1, h2) = (
        location("H1", "Europe/Madrid"),
        location("H2", "Europe/Madrid"),
    );
    let at_h1 = invoice(&acme, &h1, "H1-A", eur("10.00"), today());
    let at_h2 = invoice(&acme, &h2, "H2-A", eur("20.00"), today());
    for inv in [&at_h1, &at_h2] {
        feed(&w.h, &envelope(inv)).await;
    }
    let (r1, r2) = (
        receivable_id(&app, &at_h1).await,
        receivable_id(&app, &at_h2).await,
    );
    // Roles first, whatever the body.
    for t in [
        token(&["biller"], None),
        token(&["auditor"], None),
        payer_token("ACME"),
    ] {
        for body in [json!({"receivable_id": r1}), json!({"nonsense": true})] {
            let (s, p, _) = call(&app, post("/v1/payment-links", &t, &body)).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        }
    }
    assert!(w.session_requests().await.is_empty());
    // A collector of H2 makes links for H2's receivables only, and no balance link.
    let h2_collector = token(&["collector"], Some(&["H2"]));
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payment-links",
            &h2_collector,
            &json!({"receivable_id": r1}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, l2, _) = call(
        &app,
        post(
            "/v1/payment-links",
            &h2_collector,
            &json!({"receivable_id": r2}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{l2}");
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payment-links",
            &h2_collector,
            &json!({"party_kind": "payer", "party_id": acme.id, "currency": "EUR"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let manager = token(&["billing_manager"], None);
    let (_, l1, _) = call(
        &app,
        post("/v1/payment-links", &manager, &json!({"receivable_id": r1})),
    )
    .await;
    let (s, lb, _) = call(
        &app,
        post(
            "/v1/payment-links",
            &manager,
            &json!({"party_kind": "payer", "party_id": acme.id, "currency": "EUR"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{lb}");
    assert_eq!(amount(&lb["amount"]), "30.00");

    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|l| l["id"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    let id = |l: &Value| l["id"].as_str().expect("id").to_owned();
    for (who, t, visible) in [
        ("manager", manager.clone(), vec![id(&l2), id(&l1), id(&lb)]),
        (
            "H2 reader",
            token(&["auditor"], Some(&["H2"])),
            vec![id(&l2)],
        ),
        (
            "ACME's portal",
            payer_token("ACME"),
            vec![id(&l2), id(&l1), id(&lb)],
        ),
        ("another payer's portal", payer_token("OTHER"), vec![]),
    ] {
        let (s, page, _) = call(&app, get("/v1/payment-links", &t)).await;
        assert_eq!(s, StatusCode::OK, "{who}: {page}");
        let mut seen = ids(&page);
        seen.sort();
        let mut want = visible.clone();
        want.sort();
        assert_eq!(seen, want, "{who}");
        for l in [&l1, &l2, &lb] {
            let (s, _, _) = call(&app, get(&format!("/v1/payment-links/{}", id(l)), &t)).await;
            let expected = if visible.contains(&id(l)) {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(s, expected, "{who} reading {}", id(l));
        }
    }
    let (s, _, _) = call(&app, get("/v1/payment-links/not-a-uuid", &manager)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, p, _) = call(&app, get("/v1/payment-links?receivable_id=nope", &manager)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
}
