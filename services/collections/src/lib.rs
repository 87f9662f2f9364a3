//! The collections service: the money.
//!
//! First scope: a receivable per issued invoice (`carebill.invoicing.invoice.issued.v1`),
//! cancelled by its credit note or reduced by partial ones
//! (`carebill.invoicing.credit_note.issued.v1`, which may arrive first); payments from payers
//! and patients applied to their invoices now or later (`/v1/payments`, announcing
//! `carebill.collections.payment.recorded.v1`), the rest kept as the party's credit;
//! receivables (`/v1/receivables`) with status, payment history and batch; the invoice batches
//! invoicing sent (`carebill.invoicing.batch.sent.v1`) with how far each is collected
//! (`/v1/collection-batches`); a party's balance (`/v1/balances/{party_kind}/{party_id}`);
//! online payment links at a payment provider (`/v1/payment-links`) and the provider's signed
//! webhook (`/v1/payment-webhooks`, the one route without a bearer token); payment plans
//! (`/v1/payment-plans`, announcing `plan.created`, `plan.completed` and `plan.broken`),
//! disputes and adjustments of receivables (`adjustment.recorded`), days sales outstanding
//! (`/v1/collections/dso`), payment reminders (`/v1/reminder-*`, announcing `reminder.sent`);
//! bank statements (camt.053/054, `/v1/bank-statements`) whose credits are matched to
//! receivables by the ISO 11649 creditor reference of their invoice and posted as payments, the
//! rest queued (`/v1/bank-statement-entries`); payers' X12 835 remittances (`/v1/remittances`)
//! whose claim payments are matched to invoices by patient control number and posted with their
//! adjustments (`remittance.posted`), the rest queued (`/v1/remittance-claims`); and this
//! service's audit trail.
//!
//! Four layers, arrows pointing down: `api` (handlers and API types) → `service` (use cases:
//! decisions, audit, outbox) → `store` (typed rows and queries); `consumer` maps consumed
//! events to use cases.

mod api;
mod camt;
mod charts;
mod consumer;
mod schema;
mod service;
mod store;

use std::sync::Arc;

use actix_web::web;
use carebill_platform::config::{ConfigError, PaymentsConfig};
use carebill_platform::db::{Db, MigrationSet};
use carebill_platform::events::{Subscription, subscription};
use carebill_platform::http::allow;
use carebill_platform::outbound::payments::{self as provider, PaymentProvider};
use tokio::sync::Notify;

/// The collections database migrations (after the platform's).
pub const MIGRATIONS: MigrationSet = MigrationSet {
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
};

/// The service name: event source and consumer queue.
pub(crate) const SERVICE: &str = "collections";

/// What the handlers share.
pub struct CollectionsState {
    /// The collections database.
    pub db: Db,
    /// Wakes the outbox relay after a commit.
    pub wake: Arc<Notify>,
    /// The e-mail and SMS senders payment reminders go through.
    pub reminders: Channels,
    /// The payment provider of payment links; none when `[payments]` is not configured (making
    /// a link, or taking a webhook, is then a 409 `no_payment_provider`).
    pub payment_links: Option<PaymentLinks>,
}

pub use service::reminders::Channels;

/// Sends due payment reminders every `interval`, until the process stops: the background half
/// of `/v1/reminder-dispatches`. Several processes may run it; each notice is claimed by one.
pub async fn reminder_sender(state: web::Data<CollectionsState>, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match service::reminders::dispatch(&state.db, &state.reminders, chrono::Utc::now(), 500)
            .await
        {
            Ok(s) if s.sent + s.failed + s.retrying > 0 => {
                tracing::info!(
                    sent = s.sent,
                    failed = s.failed,
                    retrying = s.retrying,
                    "reminders sent"
                );
                state.wake.notify_one();
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sending reminders failed; trying again later"),
        }
    }
}

/// The payment provider behind payment links, and how long a link stays payable.
#[derive(Clone)]
pub struct PaymentLinks {
    /// The provider.
    pub provider: Arc<dyn PaymentProvider>,
    /// Hours a new link stays payable.
    pub link_hours: u32,
}

impl PaymentLinks {
    /// The payment links of the `[payments]` settings; none without a provider URL and key.
    pub fn from_config(cfg: &PaymentsConfig) -> Result<Option<PaymentLinks>, ConfigError> {
        Ok(provider::from_config(cfg)?.map(|provider| PaymentLinks {
            provider,
            link_hours: cfg.link_hours,
        }))
    }
}

/// The events this service consumes, applied once each (see `consumer`).
pub fn events(db: Db, wake: Arc<Notify>) -> Subscription {
    subscription(SERVICE, consumer::TYPES, db, wake, consumer::apply_event)
}

/// Registers every collections route.
pub fn routes(state: web::Data<CollectionsState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state)
            .service(
                web::resource("/v1/payments")
                    .route(web::get().to(api::payments::list_payments))
                    .route(web::post().to(api::payments::create_payment))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/payments/{id}")
                    .route(web::get().to(api::payments::get_payment))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/payments/{id}/allocations")
                    .route(web::post().to(api::payments::allocate_payment))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/payments/{id}/refunds")
                    .route(web::post().to(api::payments::refund_payment))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/receivables")
                    .route(web::get().to(api::receivables::list_receivables))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/receivables/{id}")
                    .route(web::get().to(api::receivables::get_receivable))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/receivables/{id}/adjustments")
                    .route(web::post().to(api::disputes::adjust_receivable))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/receivables/{id}/disputes")
                    .route(web::post().to(api::disputes::open_dispute))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/receivables/{id}/disputes/resolution")
                    .route(web::post().to(api::disputes::resolve_dispute))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/payment-plans")
                    .route(web::get().to(api::plans::list_payment_plans))
                    .route(web::post().to(api::plans::create_payment_plan))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/payment-plans/evaluation")
                    .route(web::post().to(api::plans::evaluate_payment_plans))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/payment-plans/{id}")
                    .route(web::get().to(api::plans::get_payment_plan))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/payment-plans/{id}/cancellation")
                    .route(web::post().to(api::plans::cancel_payment_plan))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/dashboard")
                    .route(web::get().to(api::dashboard::get_dashboard))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/dashboard/charts/progress")
                    .route(web::get().to(api::dashboard::get_progress_chart))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/dashboard/charts/pending")
                    .route(web::get().to(api::dashboard::get_pending_chart))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/reports/payers")
                    .route(web::get().to(api::reports::get_payers_report))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/collections/dso")
                    .route(web::get().to(api::dso::get_dso))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/receivables/{id}/write-offs")
                    .route(web::post().to(api::write_offs::write_off_receivable))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/collections/write-off-thresholds")
                    .route(web::get().to(api::write_offs::list_write_off_thresholds))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/collections/write-off-thresholds/{currency}")
                    .route(web::put().to(api::write_offs::set_write_off_threshold))
                    .default_service(allow("PUT")),
            )
            .service(
                web::resource("/v1/collections/aging")
                    .route(web::get().to(api::aging::get_aging))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/collection-batches")
                    .route(web::get().to(api::batches::list_collection_batches))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/collection-batches/{id}")
                    .route(web::get().to(api::batches::get_collection_batch))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/balances/{party_kind}/{party_id}")
                    .route(web::get().to(api::balances::get_balance))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/balances/{party_kind}/{party_id}/history")
                    .route(web::get().to(api::history::get_party_history))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/reminder-contacts/{party_kind}/{party_id}")
                    .route(web::get().to(api::reminders::get_reminder_contact))
                    .route(web::put().to(api::reminders::put_reminder_contact))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/reminder-policies")
                    .route(web::get().to(api::reminders::list_reminder_policies))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/reminder-policies/{code}")
                    .route(web::get().to(api::reminders::get_reminder_policy))
                    .route(web::put().to(api::reminders::put_reminder_policy))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/reminder-runs")
                    .route(web::post().to(api::reminders::create_reminder_run))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/reminder-runs/{id}")
                    .route(web::get().to(api::reminders::get_reminder_run))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/reminder-notices")
                    .route(web::get().to(api::reminders::list_reminder_notices))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/reminder-notices/{id}/letter")
                    .route(web::get().to(api::reminders::get_reminder_letter))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/reminder-notices/{id}")
                    .route(web::get().to(api::reminders::get_reminder_notice))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/reminder-dispatches")
                    .route(web::post().to(api::reminders::dispatch_reminders))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/payment-links")
                    .route(web::get().to(api::payment_links::list_payment_links))
                    .route(web::post().to(api::payment_links::create_payment_link))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/payment-links/{id}")
                    .route(web::get().to(api::payment_links::get_payment_link))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/payment-webhooks")
                    .route(web::post().to(api::payment_links::receive_payment_webhook))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/bank-statements")
                    .route(web::get().to(api::bank_statements::list_bank_statements))
                    .route(web::post().to(api::bank_statements::import_bank_statement))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/bank-statements/{id}")
                    .route(web::get().to(api::bank_statements::get_bank_statement))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/bank-statement-entries")
                    .route(web::get().to(api::bank_statements::list_bank_statement_entries))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/bank-statement-entries/{id}/match")
                    .route(web::post().to(api::bank_statements::match_bank_statement_entry))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/remittances")
                    .route(web::get().to(api::remittances::list_remittances))
                    .route(web::post().to(api::remittances::import_remittance))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/remittances/{id}")
                    .route(web::get().to(api::remittances::get_remittance))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/remittance-claims")
                    .route(web::get().to(api::remittances::list_remittance_claims))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/remittance-claims/{id}")
                    .route(web::get().to(api::remittances::get_remittance_claim))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/remittance-claims/{id}/match")
                    .route(web::post().to(api::remittances::match_remittance_claim))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/collections/audit-events")
                    .route(web::get().to(api::audit_trail::list_audit_events))
                    .default_service(allow("GET")),
            );
    }
}

/// The collections part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api::payments::create_payment, api::payments::list_payments, api::payments::get_payment,
        api::payments::allocate_payment, api::payments::refund_payment,
        api::receivables::list_receivables, api::receivables::get_receivable,
        api::write_offs::write_off_receivable, api::write_offs::list_write_off_thresholds,
        api::write_offs::set_write_off_threshold, api::aging::get_aging,
        api::batches::list_collection_batches, api::batches::get_collection_batch,
        api::balances::get_balance, api::history::get_party_history,
        api::audit_trail::list_audit_events,
        api::plans::create_payment_plan, api::plans::list_payment_plans, api::plans::get_payment_plan,
        api::plans::cancel_payment_plan, api::plans::evaluate_payment_plans,
        api::disputes::open_dispute, api::disputes::resolve_dispute,
        api::disputes::adjust_receivable, api::dso::get_dso,
        api::dashboard::get_dashboard, api::dashboard::get_progress_chart,
        api::dashboard::get_pending_chart, api::reports::get_payers_report,
        api::reminders::put_reminder_contact, api::reminders::get_reminder_contact,
        api::reminders::put_reminder_policy, api::reminders::get_reminder_policy,
        api::reminders::list_reminder_policies, api::reminders::create_reminder_run,
        api::reminders::get_reminder_run, api::reminders::list_reminder_notices,
        api::reminders::get_reminder_notice, api::reminders::get_reminder_letter, api::reminders::dispatch_reminders,
        api::payment_links::create_payment_link, api::payment_links::list_payment_links,
        api::payment_links::get_payment_link, api::payment_links::receive_payment_webhook,
        api::bank_statements::import_bank_statement, api::bank_statements::list_bank_statements,
        api::bank_statements::get_bank_statement,
        api::bank_statements::list_bank_statement_entries,
        api::bank_statements::match_bank_statement_entry,
        api::remittances::import_remittance, api::remittances::list_remittances,
        api::remittances::get_remittance, api::remittances::list_remittance_claims,
        api::remittances::get_remittance_claim, api::remittances::match_remittance_claim,
    ),
    tags(
        (name = "bank statements", description = "camt.053/054 bank statements imported, their credits matched by ISO 11649 creditor reference and posted, the rest queued for a person"),
        (name = "remittances", description = "Payers' X12 835 remittances imported, each claim payment matched to its invoice by patient control number and posted with its adjustments and reason codes; denials, reviews and unmatched claims queued for a person"),
        (name = "dashboard", description = "The billing dashboard: settlements waiting to be invoiced per stage and per biller, billing month by month against a year before, totals, and their charts (SVG)"),
        (name = "payments", description = "Money received from payers and patients, and where it went"),
        (name = "receivables", description = "What is owed on each issued invoice"),
        (name = "collection batches", description = "Invoice batches invoicing sent, and how far their invoices are collected"),
        (name = "payment plans", description = "What a party owes split into installments, and how far they are paid"),
        (name = "reminders", description = "Payment reminders: contacts, policies, runs, notices by e-mail and SMS"),
        (name = "balances", description = "A party's invoiced, cancelled, credited, paid, outstanding and overdue amounts and credit"),
        (name = "payment links", description = "Online payment links at the payment provider, and its signed webhook (no bearer token: the signature authenticates it)"),
    )
)]
pub struct ApiDoc;
