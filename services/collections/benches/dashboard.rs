//! The billing dashboard at scale, on SQLite (the embedded suite's store) and PostgreSQL (a
//! distributed service's): N invoices (default 100,000; `BENCH_INVOICES`) issued over the last
//! twelve months at one location (and a tenth as many at each of four others), to 20 payers and
//! to patients, are seeded through the service's own batch event handler as invoicing's
//! `invoice.issued` events, with 5,000 settlements announced in every waiting stage as the
//! settlement service's `settlement.changed` events. Then, through the HTTP API in-process, it
//! asks the location's dashboard for the year 200 times and prints the median and the 99th
//! percentile, and the same for the consolidated view broken down by location and for the
//! progress chart. Figures go to docs/development/benchmarks.md.
//!
//!     cargo bench -p carebill-collections --bench dashboard
//!     BENCH_INVOICES=10000 BENCH_BACKENDS=sqlite cargo bench -p carebill-collections --bench dashboard

#![expect(clippy::expect_used, reason = "a benchmark program")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::test::TestRequest;
use actix_web::web;
use carebill_collections::{Channels, CollectionsState};
use carebill_domain::Money;
use carebill_domain::events::{
    Envelope, InvoiceIssuedV1, LocationRef, PartyKind, PartyRef, SettlementChangedV1,
    SettlementProgress,
};
use carebill_domain::ids::{EpisodeId, InvoiceId, LocationId, PatientId, SettlementId};
use carebill_domain::settlement::SettlementStatus;
use carebill_platform::db::Backend;
use carebill_platform::testing::{TestDb, call, get, token};
use chrono::{Datelike as _, Duration as Days, Months, NaiveDate, Utc};
use serde_json::json;
use tokio::sync::Notify;

fn main() {
    let n: usize = std::env::var("BENCH_INVOICES")
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

fn party(i: usize, payers: &[PartyRef]) -> PartyRef {
    if i.is_multiple_of(4) {
        payers[i % payers.len()].clone()
    } else {
        PartyRef {
            kind: PartyKind::Patient,
            id: uuid::Uuid::now_v7(),
            payer_code: None,
            payer_kind: None,
            coverage_id: None,
            policy_number: None,
            billing: None,
        }
    }
}

async fn bench(backend: Backend, n: usize) {
    let t = TestDb::new(backend, &carebill_collections::MIGRATIONS);
    let sub = carebill_collections::events(t.db.clone(), Arc::new(Notify::new()));
    let batch = sub.batch.expect("collections applies batches");
    let locations: Vec<LocationRef> = (0..5)
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
    let today = Utc::now().date_naive();
    let year_ago = today - Days::days(364);
    let started = Instant::now();
    let mut envs = Vec::with_capacity(1000);
    let total = n + 4 * (n / 10);
    for i in 0..total {
        // The first n at L0, then a tenth of n at each of the others; issue dates over a year.
        let at = if i < n {
            0
        } else {
            1 + (i - n) / (n / 10).max(1)
        };
        let issue = year_ago + Days::days((i % 365) as i64);
        let inv = InvoiceIssuedV1 {
            invoice_id: InvoiceId::new(),
            number: format!("L{at}-{i:07}"),
            location: locations[at.min(4)].clone(),
            recipient: party(i, &payers),
            patient_id: PatientId::new(),
            episode_id: EpisodeId::new(),
            settlement_id: SettlementId::new(),
            settlement_version: 1,
            lines: Vec::new(),
            total: money(1_000 + (i as i64 * 37) % 90_000),
            issue_date: issue,
            due_date: issue + Days::days(30),
            issued_at: Utc::now(),
            corrects_invoice_id: None,
        };
        envs.push(Envelope::new("invoicing", &inv, Utc::now(), None, None).expect("envelope"));
        if envs.len() == 1000 {
            batch(std::mem::take(&mut envs)).await.expect("seeded");
        }
    }
    if !envs.is_empty() {
        batch(std::mem::take(&mut envs)).await.expect("seeded");
    }
    let stages = [
        SettlementStatus::Draft,
        SettlementStatus::InReview,
        SettlementStatus::Observed,
        SettlementStatus::InAudit,
        SettlementStatus::Approved,
        SettlementStatus::Invoiced,
    ];
    for chunk in 0..10 {
        let settlements = (0..500)
            .map(|j| {
                let i = chunk * 500 + j;
                SettlementProgress {
                    settlement_id: SettlementId::new(),
                    number: format!("S-{i}"),
                    location_id: LocationId::new(),
                    location_code: format!("L{}", i % 5),
                    payer_code: Some(format!("P{}", i % 20)),
                    status: stages[i % stages.len()],
                    total: Some(money(5_000 + i as i64)),
                    assigned_to: Some(format!("biller-{}", i % 12)),
                    status_since: Utc::now() - Days::hours(i as i64),
                    sequence: 1,
                }
            })
            .collect();
        let e = SettlementChangedV1 { settlements };
        envs.push(Envelope::new("settlement", &e, Utc::now(), None, None).expect("envelope"));
    }
    batch(envs).await.expect("settlements");
    let seeded = started.elapsed();

    let state = web::Data::new(CollectionsState {
        db: t.db.clone(),
        wake: Arc::new(Notify::new()),
        reminders: Channels::default(),
        payment_links: None,
    });
    let app = carebill_platform::testing::test_app(carebill_collections::routes(state)).await;
    let manager = token(&["billing_manager"], None);
    println!(
        "{backend:?} {total} invoices ({n} at L0): seeded in {:.1} s (not part of the figures)",
        seeded.as_secs_f64()
    );
    let from = NaiveDate::from_ymd_opt(year_ago.year(), year_ago.month(), 1).expect("first");
    let from = from.max(today - Months::new(11));
    let queries = [
        (
            "L0's year",
            format!("/v1/dashboard?location=L0&from={from}&to={today}"),
        ),
        (
            "every location's year, by location",
            format!("/v1/dashboard?by=location&from={from}&to={today}"),
        ),
    ];
    for (label, q) in &queries {
        let runs = timed_runs(200, || async {
            let (s, body, _) = call(&app, get(q, &manager)).await;
            assert_eq!(s, 200, "{body}");
        })
        .await;
        report(backend, label, &runs);
    }
    let chart = format!("/v1/dashboard/charts/progress?location=L0&from={from}&to={today}");
    let runs = timed_runs(200, || async {
        let req = TestRequest::get()
            .uri(&chart)
            .insert_header(("Authorization", format!("Bearer {manager}")))
            .insert_header(("Accept", "image/svg+xml"));
        let res = actix_web::test::call_service(&app, req.to_request()).await;
        assert_eq!(res.status(), 200);
        let _ = actix_web::test::read_body(res).await;
    })
    .await;
    report(backend, "L0's progress chart (SVG)", &runs);
}

async fn timed_runs<F, Fut>(times: usize, f: F) -> Vec<Duration>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await; // warm
    let mut runs = Vec::with_capacity(times);
    for _ in 0..times {
        let t0 = Instant::now();
        f().await;
        runs.push(t0.elapsed());
    }
    runs.sort();
    runs
}

fn report(backend: Backend, label: &str, runs: &[Duration]) {
    let at = |p: f64| runs[((runs.len() as f64 * p).ceil() as usize).min(runs.len()) - 1];
    println!(
        "{backend:?} dashboard, {label}: p50 {:.2} ms, p99 {:.2} ms ({} requests)",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        runs.len()
    );
}
