//! Health probes and the metrics endpoint: `/health/live` (the process answers),
//! `/health/ready` (every database and the broker are reachable), `/metrics` (Prometheus text).

use actix_web::{HttpResponse, web};
use serde::Serialize;

use crate::db::Db;
use crate::events::EventBus;
use crate::metrics::Metrics;

/// What readiness checks.
#[derive(Clone)]
pub struct Readiness {
    /// Each service's database, by service name.
    pub databases: Vec<(String, Db)>,
    /// The event bus.
    pub bus: EventBus,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HealthReport {
    /// `ok` or `unavailable`.
    status: String,
    /// Each dependency and its state.
    checks: Vec<Check>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Check {
    /// e.g. `database:accounts` or `broker`.
    name: String,
    /// `ok` or `unavailable`.
    status: String,
}

/// Liveness: the process runs and answers.
#[utoipa::path(get, path = "/health/live", tag = "operations", responses((status = 200, description = "Alive", body = HealthReport)))]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(HealthReport {
        status: "ok".to_owned(),
        checks: Vec::new(),
    })
}

/// Readiness: every database and the broker answer.
#[utoipa::path(get, path = "/health/ready", tag = "operations", responses(
    (status = 200, description = "Ready", body = HealthReport),
    (status = 503, description = "A dependency is unavailable", body = HealthReport)))]
pub async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    let mut checks = Vec::new();
    // A probe answers within its own deadline: a database that hangs is as unavailable as one
    // that refuses.
    let deadline = std::time::Duration::from_secs(2);
    for (name, db) in &readiness.databases {
        let ok = matches!(tokio::time::timeout(deadline, db.ping()).await, Ok(Ok(())));
        checks.push(Check {
            name: format!("database:{name}"),
            status: if ok { "ok" } else { "unavailable" }.to_owned(),
        });
    }
    let bus_ok = matches!(
        tokio::time::timeout(deadline, readiness.bus.ready()).await,
        Ok(Ok(()))
    );
    checks.push(Check {
        name: "broker".to_owned(),
        status: if bus_ok { "ok" } else { "unavailable" }.to_owned(),
    });
    let all_ok = checks.iter().all(|c| c.status == "ok");
    let report = HealthReport {
        status: if all_ok { "ok" } else { "unavailable" }.to_owned(),
        checks,
    };
    if all_ok {
        HttpResponse::Ok().json(report)
    } else {
        HttpResponse::ServiceUnavailable().json(report)
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

/// Registers the three endpoints.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use crate::http::allow;
    cfg.service(
        web::resource("/health/live")
            .route(web::get().to(live))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/health/ready")
            .route(web::get().to(ready))
            .default_service(allow("GET")),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(allow("GET")),
    );
}
