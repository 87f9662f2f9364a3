//! Printed documents at scale, on SQLite (the embedded suite's store) and PostgreSQL (a
//! distributed service's): N invoices (default 1,000; `BENCH_INVOICES`) are issued through the
//! service's own event handler, each one page, to one payer; a batch by rule takes them all and
//! is closed. Through the HTTP API in-process it times the batch's PDF export (every document
//! read, typeset on every core, zipped), one invoice's PDF (p50, p99 over 50 invoices), and a portal's pull
//! of an unchanged list answered 304 (p50, p99 of 2,000). Figures go to
//! docs/development/benchmarks.md.
//!
//!     cargo bench -p carebill-invoicing --bench printing
//!     BENCH_INVOICES=200 BENCH_BACKENDS=sqlite cargo bench -p carebill-invoicing --bench printing

#![expect(clippy::expect_used, reason = "a benchmark program")]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use carebill_domain::accounts::{EpisodeKind, PayerKind};
use carebill_domain::events::{
    CoverageRef, Envelope, EpisodeRef, LocationRef, PartyRef, PatientRef, SettledLine,
    SettledShare, SettlementApprovedV1,
};
use carebill_domain::ids::{
    ConsumptionId, CoverageId, EpisodeId, LocationId, PatientId, PayerId, SettlementId,
};
use carebill_domain::settlement::SettlementKind;
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_invoicing::{DeliveryChannels, InvoicingState};
use carebill_platform::auth::{Claims, mint_hs256};
use carebill_platform::db::Backend;
use carebill_platform::testing::{TEST_SECRET, TestDb, call, get, post, test_app, token};
use rust_decimal::Decimal;
use serde_json::json;
use tokio::sync::Notify;

fn eur(cents: i64) -> Money {
    Money::from_minor(MinorUnits(cents), Currency::EUR)
}

/// An approval of one line of 100.00 paid by SANITAS, for a new patient and episode.
fn approval(location: &LocationRef, sanitas: &PartyRef, n: usize) -> Envelope {
    let patient = PatientRef {
        id: PatientId::new(),
        beneficiary_kind: "general".to_owned(),
        birth_date: None,
        flags: vec![],
        sex: None,
        billing: None,
    };
    let episode = EpisodeRef {
        id: EpisodeId::new(),
        number: format!("ENC-{n:06}"),
        kind: EpisodeKind::Outpatient,
        location: location.clone(),
        patient: patient.clone(),
        attending_practitioner: None,
    };
    let line = SettledLine {
        consumption_id: ConsumptionId::new(),
        code: "CONS-01".to_owned(),
        description: "Specialist consultation".to_owned(),
        service_group: "CONS".to_owned(),
        quantity: Decimal::ONE,
        unit: "visit".to_owned(),
        performed_at: chrono::Utc::now() - chrono::Duration::days(1),
        unit_price: eur(10_000),
        amount: eur(10_000),
        shares: vec![SettledShare {
            party: sanitas.key(),
            amount: eur(10_000),
            parts: Vec::new(),
            method: None,
        }],
        kind: None,
        performed_by: None,
        claim: None,
    };
    let a = SettlementApprovedV1 {
        settlement_id: SettlementId::new(),
        number: format!("ENC-{n:06}-1"),
        kind: SettlementKind::Regular,
        parent_settlement_id: None,
        version: 1,
        episode,
        currency: Currency::EUR,
        parties: vec![sanitas.clone(), PartyRef::patient(patient.id)],
        lines: vec![line],
        total: eur(10_000),
        approved_by: "bench".to_owned(),
        approved_at: chrono::Utc::now(),
    };
    Envelope::new("settlement", &a, chrono::Utc::now(), None, None).expect("envelope")
}

fn percentile(mut xs: Vec<Duration>, p: f64) -> Duration {
    xs.sort();
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[i]
}

fn main() {
    let n: usize = std::env::var("BENCH_INVOICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!("{n} invoices, {cores} cores");
    for b in backends.split(',') {
        let backend = match b.trim() {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => panic!("unknown backend {other}"),
        };
        actix_web::rt::System::new().block_on(run(backend, n));
    }
}

async fn run(backend: Backend, n: usize) {
    let t = TestDb::new(backend, &carebill_invoicing::MIGRATIONS);
    let db = t.db.clone();
    let location = LocationRef {
        id: LocationId::new(),
        code: "H1".to_owned(),
        name: "Hospital Uno".to_owned(),
        time_zone: "Europe/Madrid".to_owned(),
        tax_id: Some("ESB12345678".to_owned()),
        billing: None,
    };
    let sanitas = PartyRef::payer(&CoverageRef {
        id: CoverageId::new(),
        payer_id: PayerId::new(),
        payer_code: "SANITAS".to_owned(),
        payer_kind: PayerKind::Insurer,
        policy_number: "SANITAS-POL-1".to_owned(),
        plan_code: None,
        priority: 1,
        valid_from: None,
        valid_to: None,
        payer_billing: None,
    });
    let started = Instant::now();
    let sub = carebill_invoicing::events(db.clone(), Arc::new(Notify::new()));
    for i in 0..n {
        (sub.handler)(approval(&location, &sanitas, i))
            .await
            .expect("invoiced");
    }
    println!(
        "{backend:?}: {n} invoices issued in {:.1?}",
        started.elapsed()
    );

    let state = web::Data::new(InvoicingState {
        db: db.clone(),
        wake: Arc::new(Notify::new()),
        delivery: DeliveryChannels {
            mail: None,
            portal_url: "http://127.0.0.1".to_owned(),
            link_hours: 1,
        },
        delivery_wake: Arc::new(Notify::new()),
    });
    let app = test_app(carebill_invoicing::routes(state)).await;
    let admin = token(&["admin"], None);
    let (_, batch, _) = call(
        &app,
        post(
            "/v1/invoice-batches",
            &admin,
            &json!({"location_code": "H1", "currency": "EUR", "payer_code": "SANITAS", "fill": true}),
        ),
    )
    .await;
    let url = format!(
        "/v1/invoice-batches/{}",
        batch["id"].as_str().expect("batch id")
    );
    let (_, closed, _) = call(&app, post(&format!("{url}/close"), &admin, &json!({}))).await;
    assert_eq!(
        closed["document_count"].as_i64(),
        Some(n as i64),
        "{closed}"
    );

    let started = Instant::now();
    let res = actix_web::test::call_service(
        &app,
        get(&format!("{url}/export?format=pdf"), &admin).to_request(),
    )
    .await;
    assert!(res.status().is_success());
    let zip = actix_web::test::read_body(res).await;
    println!(
        "{backend:?}: batch of {n} exported as PDF in {:.1?} ({} KiB)",
        started.elapsed(),
        zip.len() / 1024
    );

    // 50 invoices, each typeset for the first time since the export (whose memo is gone).
    let (_, list, _) = call(&app, get("/v1/invoices?limit=50", &admin)).await;
    let ids: Vec<String> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect();
    let mut single = Vec::new();
    for one in &ids {
        let started = Instant::now();
        let res = actix_web::test::call_service(
            &app,
            get(&format!("/v1/invoices/{one}"), &admin)
                .insert_header(("accept", "application/pdf"))
                .to_request(),
        )
        .await;
        assert!(res.status().is_success());
        let _ = actix_web::test::read_body(res).await;
        single.push(started.elapsed());
    }
    println!(
        "{backend:?}: one invoice's PDF p50 {:.1?}, p99 {:.1?}",
        percentile(single.clone(), 0.5),
        percentile(single, 0.99)
    );

    let now = chrono::Utc::now().timestamp();
    let portal = mint_hs256(
        TEST_SECRET.as_bytes(),
        &Claims {
            sub: "portal".to_owned(),
            iss: "carebill".to_owned(),
            aud: "carebill".to_owned(),
            exp: now + 3600,
            iat: now,
            roles: vec!["payer".to_owned()],
            locations: None,
            payer: Some("SANITAS".to_owned()),
            patient: None,
            carer: None,
        },
    )
    .expect("token");
    let res =
        actix_web::test::call_service(&app, get("/v1/invoices?limit=50", &portal).to_request())
            .await;
    let tag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned();
    let mut pulls = Vec::new();
    for _ in 0..2_000 {
        let started = Instant::now();
        let res = actix_web::test::call_service(
            &app,
            get("/v1/invoices?limit=50", &portal)
                .insert_header(("if-none-match", tag.as_str()))
                .to_request(),
        )
        .await;
        assert_eq!(res.status().as_u16(), 304);
        pulls.push(started.elapsed());
    }
    println!(
        "{backend:?}: unchanged portal pull (304) p50 {:.2?}, p99 {:.2?}",
        percentile(pulls.clone(), 0.5),
        percentile(pulls, 0.99)
    );
}
