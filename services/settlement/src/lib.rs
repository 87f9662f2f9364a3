//! The settlement service: what care costs and who pays it.
//!
//! - Configuration: price lists (`/v1/prices`) and coverage terms (`/v1/coverage-terms`).
//! - Settlements (`/v1/settlements`): built from `carebill.accounts.*` events, reviewed by a
//!   biller, observed or approved by medical audit; approval emits
//!   `carebill.settlement.settlement.approved.v1` for invoicing. Invoicing's events mark them
//!   invoiced, or reopen them after a credit note with reissue.
//! - Invoicing rules (`/v1/invoicing-rules`, versioned), the invoice contexts they bill
//!   (`/v1/invoice-contexts`) and their activation per location
//!   (`/v1/invoicing-rule-activations`).
//! - Billing runs (`/v1/billing-runs`): periodic billing per location and month from the care
//!   records accounts sends (`carebill.accounts.care_record.changed.v1`), previewed or committed.
//! - Promotional offers (`/v1/offers`, `/v1/offer-balances`): prepaid bundles.
//! - The service's audit trail.
//!
//! Inside, four layers with arrows pointing down: `api/` (handlers and the API types; no
//! diesel) → `service/` (use cases on a connection or transaction: decisions, audit, outbox; no
//! actix) → `store/` (typed rows, queries, locks); `consumer.rs` maps accounts' and invoicing's
//! events to `service/` and writes down the batch locking order. Pricing itself is the domain's
//! [`carebill_domain::pricing`].

mod api;
mod consumer;
pub mod schema;
mod service;
mod store;

use std::sync::Arc;

use actix_web::web;
use carebill_platform::db::{Db, MigrationSet};
use carebill_platform::events::{Subscription, batched_subscription};
use carebill_platform::http::allow;
use tokio::sync::Notify;

/// The settlement database migrations (after the platform's).
pub const MIGRATIONS: MigrationSet = MigrationSet {
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
};

/// What the handlers share.
pub struct SettlementState {
    /// The settlement database.
    pub db: Db,
    /// Wakes the outbox relay after a commit.
    pub wake: Arc<Notify>,
}

/// Announces the settlements whose workflow state changed (`settlement.changed`) every
/// `interval`, until the process stops: what dashboards elsewhere count. Several processes may
/// run it; each change is announced by one of them.
pub async fn progress_publisher(state: web::Data<SettlementState>, interval: std::time::Duration) {
    loop {
        tokio::time::sleep(interval).await;
        loop {
            match publish_progress(&state.db).await {
                Ok(n) if n > 0 => {
                    state.wake.notify_one();
                    if n < PROGRESS_BATCH as usize {
                        break;
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "announcing settlement changes failed; trying again later");
                    break;
                }
            }
        }
    }
}

/// Announces up to [`PROGRESS_BATCH`] settlements changed since they were last announced, in
/// one `settlement.changed` event in the outbox; answers how many (what the publisher does
/// every interval).
pub async fn publish_progress(db: &Db) -> Result<usize, carebill_platform::Error> {
    db.write(|conn| service::progress::publish(conn, PROGRESS_BATCH))
        .await
}

/// How many settlements one `settlement.changed` event names at most.
const PROGRESS_BATCH: i64 = 500;

/// The events this service consumes, applied once each, in batches (see
/// [`consumer::apply_events`]).
pub fn events(db: Db, wake: Arc<Notify>) -> Subscription {
    batched_subscription(
        "settlement",
        &["carebill.accounts.#", "carebill.invoicing.#"],
        db,
        wake,
        consumer::apply_events,
    )
}

/// Registers every settlement route.
pub fn routes(state: web::Data<SettlementState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state)
            .service(
                web::resource("/v1/prices")
                    .route(web::get().to(api::prices::list_prices))
                    .route(web::post().to(api::prices::create_price))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/prices/resolve")
                    .route(web::get().to(api::prices::resolve_price))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/prices/{id}")
                    .route(web::get().to(api::prices::get_price))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/prices/{id}/end")
                    .route(web::post().to(api::prices::end_price))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/coverage-terms")
                    .route(web::get().to(api::coverage_terms::list_terms))
                    .route(web::post().to(api::coverage_terms::create_terms))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/coverage-terms/{id}")
                    .route(web::get().to(api::coverage_terms::get_terms))
                    .route(web::put().to(api::coverage_terms::replace_terms))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/settlements")
                    .route(web::get().to(api::settlements::list_settlements))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/settlements/transitions")
                    .route(web::post().to(api::settlements::transition_settlements))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/settlements/{id}")
                    .route(web::get().to(api::settlements::get_settlement))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/settlements/{id}/versions")
                    .route(web::get().to(api::settlements::list_versions))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/settlements/{id}/versions/{version}")
                    .route(web::get().to(api::settlements::get_version))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/settlements/{id}/diff")
                    .route(web::get().to(api::settlements::diff_versions))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/settlements/{id}/transitions")
                    .route(web::post().to(api::settlements::transition_settlement))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/settlements/{id}/lines/{consumption_id}")
                    .route(web::put().to(api::settlements::correct_settlement_line))
                    .default_service(allow("PUT")),
            )
            .service(
                web::resource("/v1/settlements/{id}/simulate")
                    .route(web::post().to(api::settlements::simulate_settlement))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/settlements/{id}/recompute")
                    .route(web::post().to(api::settlements::recompute_settlement))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/invoicing-rules")
                    .route(web::get().to(api::invoicing_rules::list_rules))
                    .route(web::post().to(api::invoicing_rules::create_rule))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/invoicing-rules/{code}")
                    .route(web::get().to(api::invoicing_rules::get_rule))
                    .route(web::put().to(api::invoicing_rules::change_rule))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/invoicing-rules/{code}/versions")
                    .route(web::get().to(api::invoicing_rules::list_rule_versions))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/invoicing-rules/{code}/versions/{version}")
                    .route(web::get().to(api::invoicing_rules::get_rule_version))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/invoice-contexts")
                    .route(web::get().to(api::invoicing_rules::list_contexts))
                    .route(web::post().to(api::invoicing_rules::create_context))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/invoicing-rule-activations")
                    .route(web::get().to(api::invoicing_rules::list_activations))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/invoicing-rule-activations/{location_code}/{rule_code}")
                    .route(web::put().to(api::invoicing_rules::set_activation))
                    .default_service(allow("PUT")),
            )
            .service(
                web::resource("/v1/billers")
                    .route(web::get().to(api::assignment::list_billers))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/billers/{subject}")
                    .route(web::put().to(api::assignment::put_biller))
                    .default_service(allow("PUT")),
            )
            .service(
                web::resource("/v1/settlement-assignment")
                    .route(web::get().to(api::assignment::get_policy))
                    .route(web::put().to(api::assignment::put_policy))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/settlement-workload")
                    .route(web::get().to(api::assignment::workload))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/settlements/{id}/assignment")
                    .route(web::post().to(api::assignment::reassign))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/business-conditions")
                    .route(web::get().to(api::business_conditions::get_conditions))
                    .route(web::put().to(api::business_conditions::change_conditions))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/business-conditions/try")
                    .route(web::post().to(api::business_conditions::try_conditions))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/business-conditions/versions")
                    .route(web::get().to(api::business_conditions::list_condition_versions))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/billing-runs")
                    .route(web::get().to(api::billing_runs::list_runs))
                    .route(web::post().to(api::billing_runs::create_run))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/billing-runs/try")
                    .route(web::post().to(api::billing_runs::try_rules))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/billing-runs/{id}")
                    .route(web::get().to(api::billing_runs::get_run))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/billing-runs/{id}/lines")
                    .route(web::get().to(api::billing_runs::list_run_lines))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/offers")
                    .route(web::get().to(api::offers::list_offers))
                    .route(web::post().to(api::offers::create_offer))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/offers/{code}")
                    .route(web::get().to(api::offers::get_offer))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/offers/{code}/end")
                    .route(web::post().to(api::offers::end_offer))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/offer-balances")
                    .route(web::get().to(api::offers::list_balances))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/settlement/audit-events")
                    .route(web::get().to(api::audit_trail::list_audit_events))
                    .default_service(allow("GET")),
            );
    }
}

/// The settlement part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api::prices::create_price, api::prices::list_prices, api::prices::get_price, api::prices::end_price, api::prices::resolve_price,
        api::coverage_terms::create_terms, api::coverage_terms::list_terms, api::coverage_terms::get_terms, api::coverage_terms::replace_terms,
        api::settlements::list_settlements, api::settlements::get_settlement, api::settlements::list_versions,
        api::settlements::get_version, api::settlements::diff_versions, api::settlements::transition_settlement,
        api::settlements::transition_settlements,
        api::settlements::correct_settlement_line, api::settlements::recompute_settlement, api::settlements::simulate_settlement,
        api::invoicing_rules::create_rule, api::invoicing_rules::list_rules, api::invoicing_rules::get_rule,
        api::invoicing_rules::change_rule, api::invoicing_rules::list_rule_versions, api::invoicing_rules::get_rule_version,
        api::invoicing_rules::list_contexts, api::invoicing_rules::create_context,
        api::invoicing_rules::list_activations, api::invoicing_rules::set_activation,
        api::assignment::put_biller, api::assignment::list_billers, api::assignment::get_policy, api::assignment::put_policy,
        api::assignment::reassign, api::assignment::workload,
        api::business_conditions::get_conditions, api::business_conditions::change_conditions, api::business_conditions::list_condition_versions, api::business_conditions::try_conditions,
        api::billing_runs::create_run, api::billing_runs::try_rules, api::billing_runs::list_runs, api::billing_runs::get_run, api::billing_runs::list_run_lines,
        api::offers::create_offer, api::offers::list_offers, api::offers::get_offer, api::offers::end_offer, api::offers::list_balances,
        api::audit_trail::list_audit_events,
    ),
    components(schemas(api::settlements::IssuesFilter)),
    tags(
        (name = "prices", description = "Price lists: unit prices by code, validity, location and payer"),
        (name = "coverage terms", description = "What each payer (and plan) covers"),
        (name = "invoicing rules", description = "Rules that turn stays, absences, contracts and evaluations into lines (seed 003): versions, invoice contexts, activation per location"),
        (name = "settlement management", description = "Billers and their skills, automatic assignment of new settlements (least loaded or round robin), reassignment, who works on what"),
        (name = "business conditions", description = "Per-line conditions in CEL (seed 000): surcharges, discounts, price overrides, extra lines, another paying party, exclusion; one versioned set with location calendars"),
        (name = "billing runs", description = "Periodic billing per location and month: the lines active invoicing rules give for care records (stays, absences, contracts, evaluations, entries), with corrections of earlier months; preview or commit"),
        (name = "offers", description = "Promotional offers: prepaid bundles whose units the patient's later consumptions use up, with balances"),
        (name = "settlements", description = "An episode's consumptions priced and split between payers and the patient; review, medical audit, approval; versions"),
    )
)]
pub struct ApiDoc;
