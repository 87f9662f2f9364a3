//! E-billings at scale (issue 18), on SQLite (the embedded suite's store) and PostgreSQL (a
//! distributed service's): N payer invoices (default 5,000; `BENCH_CLAIMS`) of one billing
//! provider in US dollars, one CPT-coded line each, over 50 patients and N coded outpatient
//! episodes, issued through the service's own event handler with the master data claims need
//! (location, patients, coverages, codings, the catalog item, the rendering practitioner).
//! Through the HTTP API in-process it times the e-billing's creation from a filter (every
//! claim built and checked), a second check, the first download of its 837 (every claim checked
//! once more, the 837 and the 276 written and stored), and a second download (the stored bytes).
//! Figures go to docs/development/benchmarks.md.
//!
//!     cargo bench -p carebill-invoicing --bench ebilling
//!     BENCH_CLAIMS=500 BENCH_BACKENDS=sqlite cargo bench -p carebill-invoicing --bench ebilling

#![expect(clippy::expect_used, reason = "a benchmark program")]

use std::sync::Arc;
use std::time::Instant;

use actix_web::web;
use carebill_domain::accounts::{EpisodeKind, PayerKind};
use carebill_domain::events::{
    CoverageRef, Envelope, EpisodeRef, EventPayload, LocationRef, PartyRef, PatientRef,
    SettledLine, SettledShare, SettlementApprovedV1,
};
use carebill_domain::ids::{
    ConsumptionId, CoverageId, EpisodeId, LocationId, PatientId, PayerId, SettlementId,
};
use carebill_domain::settlement::SettlementKind;
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_invoicing::{DeliveryChannels, InvoicingState};
use carebill_platform::db::Backend;
use carebill_platform::testing::{TestDb, call, get, post, put, test_app, token};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::Notify;

const PATIENTS: usize = 50;

fn usd(cents: i64) -> Money {
    Money::from_minor(MinorUnits(cents), Currency::parse("USD").expect("USD"))
}

fn envelope<P: EventPayload>(source: &str, p: &P) -> Envelope {
    Envelope::new(source, p, chrono::Utc::now(), None, None).expect("envelope")
}

fn event<P: EventPayload + serde::de::DeserializeOwned>(v: Value) -> Envelope {
    envelope::<P>("accounts", &serde_json::from_value(v).expect("event"))
}

/// An approval of one lab line of 100.00 paid by UHC, for a new coded episode of `patient`.
fn approval(
    location: &LocationRef,
    uhc: &PartyRef,
    patient: PatientId,
    n: usize,
) -> (Envelope, Envelope) {
    let patient_ref = PatientRef {
        id: patient,
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
        patient: patient_ref,
        attending_practitioner: None,
    };
    let line = SettledLine {
        consumption_id: ConsumptionId::new(),
        code: "LAB-HB".to_owned(),
        description: "Hemoglobin".to_owned(),
        service_group: "LAB".to_owned(),
        quantity: Decimal::ONE,
        unit: "test".to_owned(),
        performed_at: chrono::Utc::now() - chrono::Duration::days(1),
        unit_price: usd(10_000),
        amount: usd(10_000),
        shares: vec![SettledShare {
            party: uhc.key(),
            amount: usd(10_000),
            parts: Vec::new(),
            method: None,
        }],
        kind: Some(carebill_domain::accounts::ServiceKind::Lab),
        performed_by: Some("DR-ROSSI".to_owned()),
        claim: None,
    };
    let coded = event::<carebill_domain::events::EpisodeCodedV1>(json!({
        "episode_id": episode.id, "location_id": location.id, "version": 1, "reason": null,
        "changed_at": chrono::Utc::now(), "coding": {"diagnoses": [{"code": "D64.9", "present_on_admission": null}]}}));
    let a = SettlementApprovedV1 {
        settlement_id: SettlementId::new(),
        number: format!("ENC-{n:06}-1"),
        kind: SettlementKind::Regular,
        parent_settlement_id: None,
        version: 1,
        episode,
        currency: Currency::parse("USD").expect("USD"),
        parties: vec![uhc.clone(), PartyRef::patient(patient)],
        lines: vec![line],
        total: usd(10_000),
        approved_by: "bench".to_owned(),
        approved_at: chrono::Utc::now(),
    };
    (envelope("settlement", &a), coded)
}

fn main() {
    let n: usize = std::env::var("BENCH_CLAIMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    println!("{n} claims");
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
        code: "SPR".to_owned(),
        name: "Springfield General".to_owned(),
        time_zone: "America/Chicago".to_owned(),
        tax_id: None,
        billing: Some(
            serde_json::from_value(json!({"legal_name": "Springfield General Hospital",
                "address": {"lines": ["1 Main Street"], "city": "Springfield", "region": "IL", "postal_code": "62701-1234", "country": "US"}}))
            .expect("billing"),
        ),
    };
    let coverage = CoverageRef {
        id: CoverageId::new(),
        payer_id: PayerId::new(),
        payer_code: "UHC".to_owned(),
        payer_kind: PayerKind::Insurer,
        policy_number: "UHC-MEMBER-1".to_owned(),
        plan_code: None,
        priority: 1,
        valid_from: None,
        valid_to: None,
        payer_billing: None,
    };
    let uhc = PartyRef::payer(&coverage);
    let sub = carebill_invoicing::events(db.clone(), Arc::new(Notify::new()));
    let deliver = |e: Envelope| (sub.handler)(e);
    let now = chrono::Utc::now();
    let mut master = vec![
        envelope(
            "accounts",
            &carebill_domain::events::LocationChangedV1 {
                location: location.clone(),
                claims: Some(
                    serde_json::from_value(
                        json!({"npi": "1234567893", "ein": "123456789", "place_of_service": "22"}),
                    )
                    .expect("claims"),
                ),
                changed_at: now,
            },
        ),
        event::<carebill_domain::events::CatalogItemChangedV1>(json!({
            "item": {"id": carebill_domain::ids::CatalogItemId::new(), "code": "LAB-HB", "description": "Hemoglobin", "service_group": "LAB", "kind": "lab", "unit": "test"},
            "active": true, "billing_code": {"system": "cpt", "code": "85018"}, "changed_at": now})),
        event::<carebill_domain::events::PractitionerChangedV1>(json!({
            "practitioner": {"id": carebill_domain::ids::PractitionerId::new(), "code": "DR-ROSSI", "kind": "person", "family_name": "Rossi", "given_name": "Marco",
                "middle_name": null, "suffix": null, "credentials": "MD", "npi": "1999999992", "taxonomy": null, "specialty": null,
                "active_from": null, "active_to": null, "identifiers": []}, "changed_at": now})),
    ];
    let patients: Vec<PatientId> = (0..PATIENTS).map(|_| PatientId::new()).collect();
    for (i, p) in patients.iter().enumerate() {
        master.push(event::<carebill_domain::events::PatientChangedV1>(json!({
            "patient_id": p, "family_name": format!("DOE{i}"), "given_name": "JANE", "birth_date": "1980-04-12", "sex": "female",
            "address": {"lines": ["2 Elm Street"], "city": "Springfield", "region": "IL", "postal_code": "62701"}, "changed_at": now})));
        master.push(event::<carebill_domain::events::CoverageChangedV1>(json!({
            "patient_id": p, "coverage_id": coverage.id, "change": "created", "coverages": [], "changed_at": now})));
    }
    let started = Instant::now();
    for e in master {
        deliver(e).await.expect("kept");
    }
    for i in 0..n {
        let (approved, coded) = approval(&location, &uhc, patients[i % PATIENTS], i);
        deliver(approved).await.expect("invoiced");
        deliver(coded).await.expect("kept");
    }
    println!(
        "{backend:?}: {n} invoices issued and their episodes coded in {:.1?}",
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
    let settings = json!({
        "payer_id": "87726", "payer_name": "UNITEDHEALTHCARE", "claim_filing_indicator": "CI",
        "submitter": {"name": "SPRINGFIELD GENERAL", "id": "S123", "contact": "BILLING DESK", "phone": "2175551234"},
        "receiver": {"name": "CLEARINGHOUSE", "id": "R987"},
        "interchange": {"sender_qualifier": "ZZ", "sender_id": "S123", "receiver_qualifier": "ZZ", "receiver_id": "R987"},
        "application": {"sender_code": "S123", "receiver_code": "R987"}
    });
    let (s, _, _) = call(&app, put("/v1/e-billing-settings/UHC", &admin, &settings)).await;
    assert_eq!(s.as_u16(), 201);

    let started = Instant::now();
    let (s, e, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &admin,
            &json!({"payer_code": "UHC", "filter": {"provider": "SPR"}}),
        ),
    )
    .await;
    let created = started.elapsed();
    assert_eq!(s.as_u16(), 201, "{e}");
    assert_eq!(
        (e["status"].as_str(), e["claim_count"].as_u64()),
        (Some("ready"), Some(n as u64)),
        "{e}"
    );
    println!("{backend:?}: e-billing of {n} claims created and checked in {created:.1?}");
    let id = e["id"].as_str().expect("id").to_owned();

    let started = Instant::now();
    let (s, _, _) = call(
        &app,
        post(&format!("/v1/e-billings/{id}/check"), &admin, &json!({})),
    )
    .await;
    assert_eq!(s.as_u16(), 200);
    println!("{backend:?}: checked again in {:.1?}", started.elapsed());

    for what in [
        "first download (sent: checked, 837 and 276 written and stored)",
        "second download (stored)",
    ] {
        let started = Instant::now();
        let res = actix_web::test::call_service(
            &app,
            get(&format!("/v1/e-billings/{id}/file"), &admin).to_request(),
        )
        .await;
        assert!(res.status().is_success(), "{}", res.status());
        let body = actix_web::test::read_body(res).await;
        println!(
            "{backend:?}: 837 {what} in {:.1?} ({} KiB)",
            started.elapsed(),
            body.len() / 1024
        );
    }
}
