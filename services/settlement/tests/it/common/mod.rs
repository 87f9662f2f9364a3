//! What every settlement test file needs: a fresh database on either backend, the service's
//! event subscription on it, and the HTTP app over it.

#![allow(dead_code, reason = "each test file uses part of it")]

use std::sync::Arc;

use actix_web::http::StatusCode;
use carebill_domain::accounts::{EpisodeKind, PayerKind, ServiceKind};
use carebill_domain::events::{
    CatalogItemRef, ConsumptionRecordedV1, CoverageRef, Envelope, EpisodeRef, EventPayload,
    LocationRef, PatientRef,
};
use carebill_domain::ids::{
    CatalogItemId, ConsumptionId, CoverageId, EpisodeId, LocationId, PatientId, PayerId,
};
use carebill_platform::events::run_handler;
use carebill_platform::testing::{admin, call, get, post};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::web;
use carebill_platform::db::{Backend, Db};
use carebill_platform::events::Subscription;
use carebill_platform::testing::{TestDb, test_app};
use carebill_settlement::SettlementState;
use tokio::sync::Notify;

/// A fresh settlement database and the consumer of its events.
pub struct Harness {
    pub db: Db,
    pub events: Subscription,
    _guard: TestDb,
}

pub fn harness(backend: Backend) -> Harness {
    let t = TestDb::new(backend, &carebill_settlement::MIGRATIONS);
    Harness {
        db: t.db.clone(),
        events: carebill_settlement::events(t.db.clone(), Arc::new(Notify::new())),
        _guard: t,
    }
}

/// The service's routes over the harness's database.
pub async fn app(
    h: &Harness,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let state = web::Data::new(SettlementState {
        db: h.db.clone(),
        wake: Arc::new(Notify::new()),
    });
    test_app(carebill_settlement::routes(state)).await
}

/// An inpatient episode at H1 (Europe/Madrid) with two coverages: SANITAS first, MUTUA second.
pub struct World {
    pub episode: EpisodeRef,
    pub coverages: Vec<CoverageRef>,
}

pub fn world() -> World {
    let patient = PatientId::new();
    let coverage = |code: &str, priority: i32| CoverageRef {
        id: CoverageId::new(),
        payer_id: PayerId::new(),
        payer_code: code.to_owned(),
        payer_kind: PayerKind::Insurer,
        policy_number: format!("{code}-1"),
        plan_code: None,
        priority,
        valid_from: None,
        valid_to: None,
        payer_billing: None,
    };
    World {
        episode: EpisodeRef {
            id: EpisodeId::new(),
            number: "ENC-1".to_owned(),
            kind: EpisodeKind::Inpatient,
            location: LocationRef {
                id: LocationId::new(),
                code: "H1".to_owned(),
                name: "Hospital One".to_owned(),
                time_zone: "Europe/Madrid".to_owned(),
                tax_id: None,
                billing: None,
            },
            patient: PatientRef {
                id: patient,
                beneficiary_kind: "private".to_owned(),
                birth_date: None,
                flags: vec![],
                sex: None,
                billing: None,
            },
            attending_practitioner: None,
        },
        coverages: vec![coverage("SANITAS", 1), coverage("MUTUA", 2)],
    }
}

pub fn consumption(w: &World, code: &str, quantity: i64, at: &str) -> ConsumptionRecordedV1 {
    let at: DateTime<Utc> = at.parse().expect("time");
    ConsumptionRecordedV1 {
        consumption_id: ConsumptionId::new(),
        episode: w.episode.clone(),
        item: CatalogItemRef {
            id: CatalogItemId::new(),
            code: code.to_owned(),
            description: format!("{code} description"),
            service_group: "LAB".to_owned(),
            kind: ServiceKind::Lab,
            unit: "unit".to_owned(),
        },
        quantity: Decimal::from(quantity),
        unit: "unit".to_owned(),
        performed_at: at,
        performed_by: None,
        ordering_practitioner: None,
        attending_practitioner: None,
        source_system: None,
        external_id: None,
        attributes: json!({}),
        coverages: w.coverages.clone(),
        recorded_at: at,
        claim: None,
    }
}

pub async fn deliver<P: EventPayload>(h: &Harness, service: &str, payload: &P) -> Envelope {
    let env = Envelope::new(service, payload, Utc::now(), None, None).expect("envelope");
    run_handler(&h.events.handler, env.clone())
        .await
        .expect("applied");
    env
}

/// Creates each `(path, body)` in turn as an admin (prices, coverage terms, offers …), asserting
/// 201 for every one; returns the created documents.
pub async fn create_all(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    items: &[(&str, Value)],
) -> Vec<Value> {
    let t = admin();
    let mut out = Vec::with_capacity(items.len());
    for (path, body) in items {
        let (s, v, _) = call(app, post(path, &t, body)).await;
        assert_eq!(s, StatusCode::CREATED, "POST {path}: {v}");
        out.push(v);
    }
    out
}

pub async fn configure(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
) {
    let t = admin();
    for (code, price) in [("LAB-HB", "10.00"), ("CONS", "50.00")] {
        let (s, b, _) = call(
            app,
            post(
                "/v1/prices",
                &t,
                &json!({"code": code, "unit_price": {"amount": price, "currency": "EUR"}, "valid_from": "2026-01-01"}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    for terms in [
        json!({"payer_code": "SANITAS", "covered_percent": "80", "currency": "EUR", "copay_per_line": {"amount": "1.00", "currency": "EUR"}}),
        json!({"payer_code": "MUTUA", "covered_percent": "50", "currency": "EUR"}),
    ] {
        let (s, b, _) = call(app, post("/v1/coverage-terms", &t, &terms)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
}

/// The settlements of `w`'s episode (a page, as an admin sees it), oldest first.
pub async fn settlements_of(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    w: &World,
) -> Value {
    let url = format!("/v1/settlements?episode_id={}", w.episode.id);
    let (s, page, _) = call(app, get(&url, &admin())).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page
}

/// The id of the first settlement of `w`'s episode.
pub async fn first_settlement(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    w: &World,
) -> String {
    let page = settlements_of(app, w).await;
    page["items"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no settlement: {page}"))
        .to_owned()
}

pub fn share(line: &Value, party_code: Option<&str>) -> String {
    line["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .find(|s| s["party"]["payer_code"].as_str() == party_code)
        .map(|s| s["amount"]["amount"].as_str().unwrap_or("").to_owned())
        .unwrap_or_default()
}

pub fn line<'a>(doc: &'a Value, code: &str) -> &'a Value {
    doc["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["code"] == code)
        .unwrap_or_else(|| panic!("no {code} line in {doc}"))
}
