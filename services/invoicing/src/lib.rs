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
        api::audit_trail::list_audit_events,
    ),
    tags(
        (name = "invoices", description = "Invoices issued from approved settlements, one per paying party"),
        (name = "credit notes", description = "Credit notes: full ones cancel an invoice, partial ones reduce it"),
        (name = "tax rules", description = "The VAT of lines per country: health care is exempt unless a rule says otherwise"),
        (name = "layouts", description = "How a location's invoices and credit notes look as PDF and HTML: language, font, colours, logo, fields, texts; versioned"),
        (name = "invoice batches", description = "Batches of invoices and credit notes, by rule or by hand, closed and sent to collections"),
    )
)]
pub struct ApiDoc;
