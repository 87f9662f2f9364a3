//! Collections at scale, on SQLite (the embedded suite's store) and PostgreSQL (a distributed
//! service's): N receivables (default 100,000; `BENCH_RECEIVABLES`) are seeded through the
//! service's own batch event handler as invoicing's `invoice.issued` events, half of their
//! patients with a reminder contact, and one reminder policy; then, through the HTTP API
//! in-process, it times the aging report (grouped by payer and by location), a reminder run's
//! preview and the run itself (deciding and queuing every notice). Figures go to
//! docs/development/benchmarks.md.
//!
//!     cargo bench -p carebill-collections --bench collections
//!     BENCH_RECEIVABLES=10000 BENCH_BACKENDS=sqlite cargo bench -p carebill-collections --bench collections

#![expect(clippy::expect_used, reason = "a benchmark program")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use carebill_collections::{Channels, CollectionsState};
use carebill_domain::Money;
use carebill_domain::events::{Envelope, InvoiceIssuedV1, LocationRef, PartyKind, PartyRef};
use carebill_domain::ids::{EpisodeId, InvoiceId, LocationId, PatientId, SettlementId};
use carebill_platform::config::{MailConfig, Secret, SmsConfig};
use carebill_platform::db::Backend;
use carebill_platform::outbound::mail::Mailer;
use carebill_platform::outbound::sms::SmsSender;
use carebill_platform::testing::{TestDb, call, get, post, put, token};
use chrono::{Duration as Days, Utc};
use diesel::RunQueryDsl as _;
use serde_json::json;
use tokio::sync::Notify;

fn main() {
    let n: usize = std::env::var("BENCH_RECEIVABLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    for b in backends.split(',') {
        let backend = match b.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("unknown backend {other}"),
        };
        actix_web::rt::System::new().block_on(bench(backend, n));
    }
}

fn money(minor: i64) -> Money {
    serde_json::from_value(
        json!({"amount": format!("{}.{:02}", minor / 100, minor % 100), "currency": "EUR"}),
    )
    .expect("money")
}

async fn bench(backend: Backend, n: usize) {
    let t = TestDb::new(backend, &carebill_collections::MIGRATIONS);
    let sub = carebill_collections::events(t.db.clone(), Arc::new(Notify::new()));
    let batch = sub.batch.expect("collections applies batches");
    let locations: Vec<LocationRef> = (0..10)
        .map(|i| LocationRef {
            id: LocationId::new(),
            code: format!("L{i}"),
            name: format!("Hospital {i}"),
            time_zone: "Europe/Madrid".to_owned(),
            tax_id: None,
            billing: None,
        })
        .collect();
    let payers: Vec<PartyRef> = (0..20)
        .map(|i| PartyRef {
            kind: PartyKind::Payer,
            id: uuid::Uuid::now_v7(),
            payer_code: Some(format!("P{i}")),
            payer_kind: None,
            coverage_id: None,
            policy_number: None,
            billing: None,
        })
        .collect();
    let patients: Vec<uuid::Uuid> = (0..n / 2).map(|_| uuid::Uuid::now_v7()).collect();
    let today = Utc::now().date_naive();
    let started = Instant::now();
    let mut envs = Vec::with_capacity(1000);
    for i in 0..n {
        let recipient = if i % 4 == 0 {
            payers[i % payers.len()].clone()
        } else {
            PartyRef {
                kind: PartyKind::Patient,
                id: patients[i % patients.len()],
                payer_code: None,
                payer_kind: None,
                coverage_id: None,
                policy_number: None,
                billing: None,
            }
        };
        let due = today + Days::days(30 - (i % 150) as i64);
        let inv = InvoiceIssuedV1 {
            invoice_id: InvoiceId::new(),
            number: format!("L{}-2026-{i:07}", i % 10),
            location: locations[i % locations.len()].clone(),
            recipient,
            patient_id: PatientId::new(),
            episode_id: EpisodeId::new(),
            settlement_id: SettlementId::new(),
            settlement_version: 1,
            lines: Vec::new(),
            total: money(1_000 + (i as i64 * 37) % 90_000),
            issue_date: due - Days::days(30),
            due_date: due,
            issued_at: Utc::now(),
            corrects_invoice_id: None,
        };
        envs.push(Envelope::new("invoicing", &inv, Utc::now(), None, None).expect("envelope"));
        if envs.len() == 1000 {
            batch(std::mem::take(&mut envs)).await.expect("seeded");
        }
    }
    if !envs.is_empty() {
        batch(envs).await.expect("seeded");
    }
    // Half of the patients can be reached by e-mail.
    let now = Utc::now()
        .naive_utc()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    for chunk in patients.iter().step_by(2).collect::<Vec<_>>().chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .map(|p| format!("('patient', '{p}', 'P', 'p{p}@example.org', NULL, 'es', FALSE, 'bench', '{now}')"))
            .collect();
        let sql = format!(
            "INSERT INTO reminder_contacts (party_kind, party_id, name, email, phone, language, opted_out, updated_by, updated_at) VALUES {}",
            values.join(",")
        );
        t.db.write(move |conn| Ok(diesel::sql_query(sql).execute(conn)?))
            .await
            .expect("contacts");
    }
    let seeded = started.elapsed();

    let channels = Channels {
        mail: Mailer::from_config(&MailConfig {
            smtp_url: Some(Secret::new("smtp://127.0.0.1:1")),
            ..MailConfig::default()
        })
        .expect("mail config"),
        sms: SmsSender::from_config(&SmsConfig::default()).expect("sms config"),
    };
    let state = web::Data::new(CollectionsState {
        db: t.db.clone(),
        wake: Arc::new(Notify::new()),
        reminders: channels,
        payment_links: None,
    });
    let app = carebill_platform::testing::test_app(carebill_collections::routes(state)).await;
    let manager = token(&["billing_manager"], None);
    let level = |name: &str, days: i64| {
        json!({"name": name, "days_after_due": days, "channel": "email",
            "templates": {"es": {"subject": "Factura {{ invoice_number }}", "body": "Quedan {{ outstanding }} {{ currency }} de la factura {{ invoice_number }} ({{ days_past_due }} días). Total {{ total }}."}}})
    };
    let (s, body, _) = call(
        &app,
        put(
            "/v1/reminder-policies/PATIENTS",
            &manager,
            &json!({"party_kind": "patient", "default_language": "es",
                "levels": [level("friendly", -3), level("first", 7), level("second", 30), level("final", 60)]}),
        ),
    )
    .await;
    assert_eq!(s, 201, "{body}");

    let timed = |label: &str, d: Duration| {
        println!(
            "{backend:?} {n} receivables: {label}: {:.3} s",
            d.as_secs_f64()
        )
    };
    timed("seeded (not part of the figures)", seeded);
    for group in ["payer", "location"] {
        let mut runs = Vec::new();
        for _ in 0..5 {
            let t0 = Instant::now();
            let (s, body, _) = call(
                &app,
                get(&format!("/v1/collections/aging?group_by={group}"), &manager),
            )
            .await;
            runs.push(t0.elapsed());
            assert_eq!(s, 200, "{body}");
        }
        runs.sort();
        timed(&format!("aging by {group}, median of 5"), runs[2]);
    }
    let t0 = Instant::now();
    let (s, preview, _) = call(
        &app,
        post("/v1/reminder-runs", &manager, &json!({"preview": true})),
    )
    .await;
    let d = t0.elapsed();
    assert_eq!(s, 200);
    timed(
        &format!("reminder run preview ({} notices)", preview["queued"]),
        d,
    );
    let t0 = Instant::now();
    let (s, run, _) = call(&app, post("/v1/reminder-runs", &manager, &json!({}))).await;
    let d = t0.elapsed();
    assert_eq!(s, 201, "{run}");
    assert_eq!(run["queued"], preview["queued"]);
    timed(
        &format!(
            "reminder run, decided and queued ({} notices, skipped {})",
            run["queued"], run["skipped"]
        ),
        d,
    );
}
