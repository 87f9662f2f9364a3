//! A payer's 835 posted at scale, on SQLite (the embedded suite's store) and PostgreSQL (a
//! distributed service's): N payer receivables (default 5,000; `BENCH_CLAIMS`) are seeded
//! through the service's own batch event handler as invoicing's `invoice.issued` events, with
//! the `e_billing.sent` that claimed them; then one 835 of N claim payments (two or three
//! service lines each, contractual and patient-responsibility adjustments, a zero-paid line
//! every seventh claim, 1% unmatched, 0.4% denied, two PLB adjustments) is imported through the
//! HTTP API in-process, and imported again (the repeat posts nothing). Figures go to
//! docs/development/benchmarks.md.
//!
//!     cargo bench -p carebill-collections --bench remittance
//!     BENCH_CLAIMS=1000 BENCH_BACKENDS=sqlite cargo bench -p carebill-collections --bench remittance

#![expect(clippy::expect_used, reason = "a benchmark program")]

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use actix_web::web;
use carebill_collections::{Channels, CollectionsState};
use carebill_domain::Money;
use carebill_domain::events::{
    EBillingSentV1, Envelope, InvoiceIssuedV1, LocationRef, PartyKind, PartyRef, SentClaim,
};
use carebill_domain::ids::{
    EBillingClaimId, EBillingId, EpisodeId, InvoiceId, LocationId, PatientId, SettlementId,
};
use carebill_platform::db::Backend;
use carebill_platform::testing::{TestDb, call, token};
use chrono::{Duration as Days, Utc};
use serde_json::json;
use tokio::sync::Notify;

#[path = "../../../crates/x12/tests/support/samples.rs"]
#[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
mod samples;

use samples::{PaidClaim, PaidLine};

fn main() {
    let n: usize = std::env::var("BENCH_CLAIMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
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

fn usd(minor: i64) -> Money {
    serde_json::from_value(
        json!({"amount": format!("{}.{:02}", minor / 100, minor % 100), "currency": "USD"}),
    )
    .expect("money")
}

/// Claim `i`: its lines' charges, what the payer paid of each and its adjustments.
fn paid_claim(i: usize, number: String) -> PaidClaim {
    let lines = 2 + i % 2;
    let mut paid_lines = Vec::with_capacity(lines);
    for l in 0..lines {
        let charge = 5_000 + ((i * 37 + l * 11) % 200) as i64 * 100;
        let line = if i.is_multiple_of(7) && l == 1 {
            // A zero-paid line: the deductible.
            PaidLine {
                code: "85025",
                charge,
                paid: 0,
                adjustments: vec![("PR", "1", charge)],
                control_number: format!("{number}-{}", l + 1),
                remark: Some("N130"),
            }
        } else {
            let contractual = charge / 5;
            let coinsurance = charge / 10;
            PaidLine {
                code: "99213",
                charge,
                paid: charge - contractual - coinsurance,
                adjustments: vec![("CO", "45", contractual), ("PR", "2", coinsurance)],
                control_number: format!("{number}-{}", l + 1),
                remark: None,
            }
        };
        paid_lines.push(line);
    }
    let charge = paid_lines.iter().map(|l| l.charge).sum();
    let denied = i % 250 == 3;
    if denied {
        return PaidClaim {
            patient_control_number: number,
            status: "4",
            charge,
            paid: 0,
            patient_responsibility: 0,
            payer_claim_number: format!("ICN{i:08}"),
            adjustments: vec![("CO", "50", charge)],
            lines: vec![],
        };
    }
    PaidClaim {
        patient_control_number: number,
        status: "1",
        charge,
        paid: paid_lines.iter().map(|l| l.paid).sum(),
        patient_responsibility: paid_lines
            .iter()
            .flat_map(|l| &l.adjustments)
            .filter(|a| a.0 == "PR")
            .map(|a| a.2)
            .sum(),
        payer_claim_number: format!("ICN{i:08}"),
        adjustments: vec![],
        lines: paid_lines,
    }
}

async fn bench(backend: Backend, n: usize) {
    let t = TestDb::new(backend, &carebill_collections::MIGRATIONS);
    let sub = carebill_collections::events(t.db.clone(), Arc::new(Notify::new()));
    let batch = sub.batch.expect("collections applies batches");
    let location = LocationRef {
        id: LocationId::new(),
        code: "H1".to_owned(),
        name: "Hospital Central".to_owned(),
        time_zone: "America/New_York".to_owned(),
        tax_id: None,
        billing: None,
    };
    let payer = PartyRef {
        kind: PartyKind::Payer,
        id: uuid::Uuid::now_v7(),
        payer_code: Some("UHC".to_owned()),
        payer_kind: None,
        coverage_id: None,
        policy_number: None,
        billing: None,
    };
    let today = Utc::now().date_naive();
    let started = Instant::now();
    let claims: Vec<PaidClaim> = (0..n)
        .map(|i| paid_claim(i, format!("H1-2026-{i:07}")))
        .collect();
    let mut envs = Vec::with_capacity(1000);
    let mut sent = Vec::with_capacity(n);
    for (i, c) in claims.iter().enumerate() {
        // 1% of the claims pay invoices Carebill never issued.
        if i % 100 == 50 {
            continue;
        }
        let inv = InvoiceIssuedV1 {
            invoice_id: InvoiceId::new(),
            number: c.patient_control_number.clone(),
            location: location.clone(),
            recipient: payer.clone(),
            patient_id: PatientId::new(),
            episode_id: EpisodeId::new(),
            settlement_id: SettlementId::new(),
            settlement_version: 1,
            lines: Vec::new(),
            total: usd(c.charge),
            issue_date: today - Days::days(30),
            due_date: today,
            issued_at: Utc::now(),
            corrects_invoice_id: None,
        };
        sent.push(SentClaim {
            claim_id: EBillingClaimId::new(),
            invoice_id: inv.invoice_id,
            patient_control_number: inv.number.clone(),
            frequency: "1".into(),
            format: "837P".into(),
            charge: usd(c.charge),
            group_control_number: 1,
            transaction_control_number: "0001".into(),
        });
        envs.push(Envelope::new("invoicing", &inv, Utc::now(), None, None).expect("envelope"));
        if envs.len() == 1000 {
            batch(std::mem::take(&mut envs)).await.expect("seeded");
        }
    }
    let e_billing = EBillingSentV1 {
        e_billing_id: EBillingId::new(),
        number: "H1-EB-2026-000001".into(),
        location_id: location.id,
        location_code: location.code.clone(),
        payer_code: "UHC".into(),
        payer_id: "87726".into(),
        interchange_control_number: 1,
        claims: sent,
        sent_by: "bench".into(),
        sent_at: Utc::now(),
    };
    envs.push(Envelope::new("invoicing", &e_billing, Utc::now(), None, None).expect("envelope"));
    batch(envs).await.expect("seeded");
    let seeded = started.elapsed();

    let text = samples::remittance_835(
        1,
        "EFT-BENCH-1",
        &claims,
        &[("WO", "ICN-OLD-1", 1_500), ("L6", "INTEREST", -250)],
        None,
    );
    let lines = text.matches("~SVC*").count();
    let state = web::Data::new(CollectionsState {
        db: t.db.clone(),
        wake: Arc::new(Notify::new()),
        reminders: Channels::default(),
        payment_links: None,
    });
    let app = carebill_platform::testing::test_app(carebill_collections::routes(state)).await;
    let collector = token(&["collector"], None);
    let upload = || {
        TestRequest::post()
            .uri("/v1/remittances")
            .insert_header(("authorization", format!("Bearer {collector}")))
            .insert_header(("Content-Type", "application/edi-x12"))
            .set_payload(text.clone())
    };
    let t0 = Instant::now();
    let (status, body, _) = call(&app, upload()).await;
    let posted = t0.elapsed();
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let r = &body["remittances"][0];
    assert_eq!(r["claims"]["total"], n);
    let t1 = Instant::now();
    let (status, again, _) = call(&app, upload()).await;
    let repeated = t1.elapsed();
    assert_eq!(status, StatusCode::OK, "{again}");
    println!(
        "{backend:?}: {n} receivables seeded in {seeded:.2?}; an 835 of {n} claim payments ({lines} service lines, {} bytes) posted in {posted:.2?} ({} posted, {} denied, {} unmatched, {} review); imported again in {repeated:.2?}",
        text.len(),
        r["claims"]["posted"],
        r["claims"]["denied"],
        r["claims"]["unmatched"],
        r["claims"]["review"],
    );
}
