//! The invoicing service.

use std::sync::Arc;

use actix_web::web;
use carebill_platform::db::{Db, MigrationSet};
use carebill_platform::events::{Subscription, subscription};
use tokio::sync::Notify;

/// The invoicing database migrations (after the platform's).
pub const MIGRATIONS: MigrationSet = MigrationSet {
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
};

/// What the handlers share.
pub struct InvoicingState {
    /// The invoicing database.
    pub db: Db,
    /// Wakes the outbox relay after a commit.
    pub wake: Arc<Notify>,
}

/// The events this service consumes, applied once each.
pub fn events(db: Db, wake: Arc<Notify>) -> Subscription {
    subscription("invoicing", &[], db, wake, |_conn, _env| Ok(()))
}

/// Registers every invoicing route.
pub fn routes(state: web::Data<InvoicingState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state);
    }
}

/// The invoicing part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi()]
pub struct ApiDoc;
