//! The invoicing service: the legal documents.
//!
//! First scope: when medical audit approves a settlement (`carebill.settlement.settlement.
//! approved.v1`), one invoice per paying party is issued and numbered at once
//! (`service::issuing`, `store::series`) and announced (`carebill.invoicing.invoice.issued.v1`);
//! an invoice is cancelled only by a full credit note (`POST /v1/invoices/{id}/credit-notes`,
//! `service::credit_notes`), which makes its lines billable again and is announced
//! (`carebill.invoicing.credit_note.issued.v1`). Invoices, credit notes and this service's audit
//! trail are read over `/v1/invoices`, `/v1/credit-notes` and `/v1/invoicing/audit-events`.
//! Each invoice and credit note is also an EN 16931 e-invoice in UBL 2.1 (Peppol BIS Billing
//! 3.0): `GET .../{id}/ubl` or `Accept: application/xml` (`service::e_invoices`), or a 409
//! naming what the document lacks. Batches, claim files, layouts and the payer portal come next.
//!
//! Four layers, arrows pointing down: `api` (handlers and API types) → `service` (use cases:
//! decisions, audit, outbox) → `store` (typed rows and queries); `consumer` maps consumed
//! events to use cases.

mod api;
mod consumer;
mod schema;
mod service;
mod store;

use std::sync::Arc;

use actix_web::web;
use carebill_platform::db::{Db, MigrationSet};
use carebill_platform::events::{Subscription, batched_subscription};
use carebill_platform::http::allow;
use tokio::sync::Notify;

/// The invoicing database migrations (after the platform's).
pub const MIGRATIONS: MigrationSet = MigrationSet {
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
};

/// The service name: event source and consumer queue.
pub(crate) const SERVICE: &str = "invoicing";

/// What the handlers share.
pub struct InvoicingState {
    /// The invoicing database.
    pub db: Db,
    /// Wakes the outbox relay after a commit.
    pub wake: Arc<Notify>,
    /// What documents are delivered through.
    pub delivery: DeliveryChannels,
    /// Wakes the delivery sender when something was queued by hand.
    pub delivery_wake: Arc<Notify>,
}

impl InvoicingState {
    /// Tells the delivery sender there is something to send.
    pub(crate) fn wake_delivery(&self) {
        self.delivery_wake.notify_one();
    }
}

pub use service::deliveries::Channels as DeliveryChannels;

/// Sends queued invoices and credit notes every `interval` (sooner when woken), until the
/// process stops: the background half of `/v1/delivery-dispatches`. Several processes may run
/// it; each delivery is claimed by one. Each pass first issues the care agencies' commission
/// invoices of the calendar months that are over (the background half of
/// `/v1/agency-commission-runs`), so that they go out in the same pass.
pub async fn delivery_sender(state: web::Data<InvoicingState>, interval: std::time::Duration) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = state.delivery_wake.notified() => {}
        }
        match service::agency_commissions::run_due(&state.db, chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => {
                state.wake.notify_one();
                tracing::info!(invoices = n, "agency commissions of past months issued");
            }
            Err(e) => {
                tracing::warn!(error = %e, "issuing agency commissions failed; trying again later")
            }
        }
        match service::deliveries::dispatch(&state.db, &state.delivery, chrono::Utc::now(), 200)
            .await
        {
            Ok(s) if s.sent + s.failed + s.retrying > 0 => {
                tracing::info!(
                    sent = s.sent,
                    failed = s.failed,
                    retrying = s.retrying,
                    "documents delivered"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "delivering documents failed; trying again later"),
        }
    }
}

/// The events this service consumes, applied once each, in batches: approved settlements are
/// invoiced (see `consumer`).
pub fn events(db: Db, wake: Arc<Notify>) -> Subscription {
    batched_subscription(SERVICE, consumer::TYPES, db, wake, consumer::apply_events)
}

/// Registers every invoicing route.
pub fn routes(state: web::Data<InvoicingState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state)
            .service(
                web::resource("/v1/reports/revenue")
                    .route(web::get().to(api::reports::get_revenue_report))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/reports/utilization")
                    .route(web::get().to(api::reports::get_utilization_report))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/reports/credit-notes")
                    .route(web::get().to(api::reports::get_credit_notes_report))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/invoices")
                    .route(web::get().to(api::invoices::list_invoices))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/invoices/{id}")
                    .route(web::get().to(api::invoices::get_invoice))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/invoices/{id}/ubl")
                    .route(web::get().to(api::e_invoices::get_invoice_ubl))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/invoices/{id}/credit-notes")
                    .route(web::post().to(api::credit_notes::credit_invoice))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/credit-notes")
                    .route(web::get().to(api::credit_notes::list_credit_notes))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/credit-notes/{id}")
                    .route(web::get().to(api::credit_notes::get_credit_note))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/credit-notes/{id}/ubl")
                    .route(web::get().to(api::e_invoices::get_credit_note_ubl))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/invoice-batches")
                    .route(web::get().to(api::batches::list_batches))
                    .route(web::post().to(api::batches::create_batch))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/invoice-batches/{id}")
                    .route(web::get().to(api::batches::get_batch))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/invoice-batches/{id}/documents")
                    .route(web::get().to(api::batches::list_batch_documents))
                    .route(web::post().to(api::batches::add_batch_documents))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/invoice-batches/{id}/removals")
                    .route(web::post().to(api::batches::remove_batch_documents))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/invoice-batches/{id}/fill")
                    .route(web::post().to(api::batches::fill_batch))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/invoice-batches/{id}/close")
                    .route(web::post().to(api::batches::close_batch))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/invoice-batches/{id}/send")
                    .route(web::post().to(api::batches::send_batch))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/invoice-batches/{id}/export")
                    .route(web::get().to(api::batches::export_batch))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/tax-rules")
                    .route(web::get().to(api::tax_rules::list_tax_rules))
                    .route(web::post().to(api::tax_rules::create_tax_rule))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/tax-rules/{id}")
                    .route(web::get().to(api::tax_rules::get_tax_rule))
                    .route(web::put().to(api::tax_rules::replace_tax_rule))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/layouts")
                    .route(web::get().to(api::layouts::list_layouts))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/layouts/{code}")
                    .route(web::get().to(api::layouts::get_layout))
                    .route(web::put().to(api::layouts::put_layout))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/layouts/{code}/versions/{version}")
                    .route(web::get().to(api::layouts::get_layout_version))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/layouts/{code}/preview")
                    .route(web::post().to(api::layouts::preview_layout))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/invoices/{id}/claim-check")
                    .route(web::get().to(api::e_billings::check_invoice_claim))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/claimable-entries")
                    .route(web::get().to(api::e_billings::list_claimable_entries))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/e-billings")
                    .route(web::get().to(api::e_billings::list_e_billings))
                    .route(web::post().to(api::e_billings::create_e_billing))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/e-billings/responses")
                    .route(web::post().to(api::e_billings::import_e_billing_response))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/e-billings/responses/{id}")
                    .route(web::get().to(api::e_billings::get_e_billing_response))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/e-billings/{id}")
                    .route(web::get().to(api::e_billings::get_e_billing))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/e-billings/{id}/claims")
                    .route(web::get().to(api::e_billings::list_e_billing_claims))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/e-billings/{id}/missing-info")
                    .route(web::get().to(api::e_billings::e_billing_missing_info))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/e-billings/{id}/file")
                    .route(web::get().to(api::e_billings::e_billing_file))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/e-billings/{id}/request")
                    .route(web::get().to(api::e_billings::e_billing_request))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/e-billings/{id}/check")
                    .route(web::post().to(api::e_billings::check_e_billing))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/e-billings/{id}/cancel")
                    .route(web::post().to(api::e_billings::cancel_e_billing))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/e-billing-claims/{id}")
                    .route(web::get().to(api::e_billings::get_e_billing_claim))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/e-billing-claims/{id}/payer-claim-number")
                    .route(web::put().to(api::e_billings::set_payer_claim_number))
                    .default_service(allow("PUT")),
            )
            .service(
                web::resource("/v1/e-billing-settings")
                    .route(web::get().to(api::e_billing_settings::list_e_billing_settings))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/e-billing-settings/{payer_code}")
                    .route(web::get().to(api::e_billing_settings::get_e_billing_settings))
                    .route(web::put().to(api::e_billing_settings::put_e_billing_settings))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/e-billing-settings/{payer_code}/versions")
                    .route(web::get().to(api::e_billing_settings::e_billing_settings_versions))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/delivery-settings/{party_kind}/{party}")
                    .route(web::get().to(api::deliveries::get_delivery_settings))
                    .route(web::put().to(api::deliveries::put_delivery_settings))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/sending-windows/{location_code}")
                    .route(web::get().to(api::deliveries::get_sending_windows))
                    .route(web::put().to(api::deliveries::put_sending_windows))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/invoices/{id}/deliveries")
                    .route(web::get().to(api::deliveries::list_invoice_deliveries))
                    .route(web::post().to(api::deliveries::resend_invoice))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/credit-notes/{id}/deliveries")
                    .route(web::get().to(api::deliveries::list_credit_note_deliveries))
                    .route(web::post().to(api::deliveries::resend_credit_note))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/deliveries")
                    .route(web::get().to(api::deliveries::list_deliveries))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/agency-commission-runs")
                    .route(web::post().to(api::agency_commissions::run_agency_commissions))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/delivery-dispatches")
                    .route(web::post().to(api::deliveries::dispatch_deliveries))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/invoices/{id}/portal-links")
                    .route(web::get().to(api::deliveries::list_invoice_links))
                    .route(web::post().to(api::deliveries::create_invoice_link))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/credit-notes/{id}/portal-links")
                    .route(web::get().to(api::deliveries::list_credit_note_links))
                    .route(web::post().to(api::deliveries::create_credit_note_link))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/portal-links/{token}")
                    .route(web::get().to(api::deliveries::open_portal_link))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/portal-links/{id}/revocation")
                    .route(web::post().to(api::deliveries::revoke_portal_link))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/invoicing/audit-events")
                    .route(web::get().to(api::audit_trail::list_audit_events))
                    .default_service(allow("GET")),
            );
    }
}

/// The invoicing part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api::invoices::list_invoices, api::invoices::get_invoice,
        api::reports::get_revenue_report, api::reports::get_utilization_report,
        api::reports::get_credit_notes_report,
        api::credit_notes::credit_invoice, api::credit_notes::list_credit_notes,
        api::credit_notes::get_credit_note,
        api::e_invoices::get_invoice_ubl, api::e_invoices::get_credit_note_ubl,
        api::batches::create_batch, api::batches::list_batches, api::batches::get_batch,
        api::batches::list_batch_documents, api::batches::add_batch_documents,
        api::batches::remove_batch_documents, api::batches::fill_batch, api::batches::close_batch,
        api::batches::send_batch, api::batches::export_batch,
        api::tax_rules::create_tax_rule, api::tax_rules::replace_tax_rule,
        api::tax_rules::list_tax_rules, api::tax_rules::get_tax_rule,
        api::layouts::put_layout, api::layouts::get_layout, api::layouts::get_layout_version,
        api::layouts::list_layouts, api::layouts::preview_layout,
        api::deliveries::put_delivery_settings, api::deliveries::get_delivery_settings,
        api::deliveries::put_sending_windows, api::deliveries::get_sending_windows,
        api::deliveries::list_invoice_deliveries, api::deliveries::resend_invoice,
        api::deliveries::list_credit_note_deliveries, api::deliveries::resend_credit_note,
        api::deliveries::list_deliveries, api::deliveries::dispatch_deliveries,
        api::deliveries::create_invoice_link, api::deliveries::list_invoice_links,
        api::deliveries::create_credit_note_link, api::deliveries::list_credit_note_links,
        api::deliveries::revoke_portal_link, api::deliveries::open_portal_link,
        api::e_billing_settings::put_e_billing_settings,
        api::e_billing_settings::get_e_billing_settings,
        api::e_billing_settings::e_billing_settings_versions,
        api::e_billing_settings::list_e_billing_settings,
        api::e_billings::list_claimable_entries,
        api::e_billings::check_invoice_claim,
        api::e_billings::create_e_billing,
        api::e_billings::list_e_billings,
        api::e_billings::get_e_billing,
        api::e_billings::list_e_billing_claims,
        api::e_billings::get_e_billing_claim,
        api::e_billings::set_payer_claim_number,
        api::e_billings::e_billing_missing_info,
        api::e_billings::check_e_billing,
        api::e_billings::cancel_e_billing,
        api::e_billings::e_billing_file,
        api::e_billings::e_billing_request,
        api::e_billings::import_e_billing_response,
        api::e_billings::get_e_billing_response,
        api::audit_trail::list_audit_events,
        api::agency_commissions::run_agency_commissions,
    ),
    components(schemas(carebill_domain::delivery::DeliveryStatus)),
    tags(
        (name = "invoices", description = "Invoices issued from approved settlements, one per paying party"),
        (name = "reports", description = "What was invoiced: revenue per service group, code, location or payer; utilization; credit notes per reason (JSON or CSV)"),
        (name = "credit notes", description = "Credit notes: full ones cancel an invoice, partial ones reduce it"),
        (name = "tax rules", description = "The VAT of lines per country: health care is exempt unless a rule says otherwise"),
        (name = "e-billing", description = "US electronic claims (X12 837P/837I): each payer's e-billing settings — its payer id, filing indicator, the submitter and receiver, interchange and application ids, test or production, and what it requires beyond the guide"),
        (name = "delivery", description = "Invoices and credit notes e-mailed (PDF, and UBL) or announced with a portal link, inside each location's sending windows; the delivery log, resends, portal links"),
        (name = "layouts", description = "How a location's invoices and credit notes look as PDF and HTML: language, font, colours, logo, fields, texts; versioned"),
        (name = "agency commissions", description = "A care agency's commission invoices to its carers: one per carer and period, one line per approval of hours"),
        (name = "invoice batches", description = "Batches of invoices and credit notes, by rule or by hand, closed and sent to collections"),
    )
)]
pub struct ApiDoc;
