//! What every settlement test file needs: a fresh database on either backend, the service's
//! event subscription on it, and the HTTP app over it.

#![allow(dead_code, reason = "each test file uses part of it")]

use std::sync::Arc;

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
