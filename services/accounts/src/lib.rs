//! The accounts service: who was treated, where, under which coverage, and what was done.
//!
//! Resources under `/v1`: locations, payers, patients, coverages, episodes (accounts), the
//! service catalog, consumptions and care records (stays, absences, contracts and the other
//! invoicing sources), plus this service's audit trail. Writes that other services
//! care about emit `carebill.accounts.*` events through the outbox.
//!
//! The library is composed by the `carebill` binary, alone (`--service accounts`) or with the
//! other services (embedded suite).

pub mod audit_trail;
pub mod care_records;
pub mod catalog;
pub mod common;
pub mod consumptions;
pub mod coverages;
pub mod episodes;
pub mod locations;
pub mod patients;
pub mod payers;
pub mod schema;

use std::sync::Arc;

use actix_web::web;
use carebill_platform::db::{Db, MigrationSet};
use carebill_platform::http::{BodyLimit, allow};
use tokio::sync::Notify;

/// The accounts database migrations (the platform's tables come first, separately).
pub const MIGRATIONS: MigrationSet = MigrationSet {
    postgres: diesel_migrations::embed_migrations!("migrations/postgres"),
    sqlite: diesel_migrations::embed_migrations!("migrations/sqlite"),
};

/// Body limit of the batch endpoint: 1,000 consumptions with attributes.
pub const BATCH_BODY_LIMIT: usize = 4 << 20;

/// What the handlers share.
pub struct AccountsState {
    /// The accounts database.
    pub db: Db,
    /// Wakes the outbox relay after a commit.
    pub wake: Arc<Notify>,
}

/// Registers every accounts route.
pub fn routes(state: web::Data<AccountsState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state)
            .service(
                web::resource("/v1/locations")
                    .route(web::get().to(locations::list_locations))
                    .route(web::post().to(locations::create_location))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/locations/{id}")
                    .route(web::get().to(locations::get_location))
                    .route(web::put().to(locations::replace_location))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/payers")
                    .route(web::get().to(payers::list_payers))
                    .route(web::post().to(payers::create_payer))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/payers/{id}")
                    .route(web::get().to(payers::get_payer))
                    .route(web::put().to(payers::replace_payer))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/patients")
                    .route(web::get().to(patients::list_patients))
                    .route(web::post().to(patients::create_patient))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/patients/{id}")
                    .route(web::get().to(patients::get_patient))
                    .route(web::put().to(patients::replace_patient))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/coverages")
                    .route(web::get().to(coverages::list_coverages))
                    .route(web::post().to(coverages::create_coverage))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/coverages/{id}")
                    .route(web::get().to(coverages::get_coverage))
                    .route(web::put().to(coverages::replace_coverage))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/episodes")
                    .route(web::get().to(episodes::list_episodes))
                    .route(web::post().to(episodes::create_episode))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/episodes/{id}")
                    .route(web::get().to(episodes::get_episode))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/episodes/{id}/status")
                    .route(web::post().to(episodes::change_episode_status))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/catalog-items")
                    .route(web::get().to(catalog::list_catalog_items))
                    .route(web::post().to(catalog::create_catalog_item))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/catalog-items/{id}")
                    .route(web::get().to(catalog::get_catalog_item))
                    .route(web::put().to(catalog::replace_catalog_item))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/consumptions")
                    .route(web::get().to(consumptions::list_consumptions))
                    .route(web::post().to(consumptions::create_consumption))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/consumptions/batch")
                    .app_data(BodyLimit(BATCH_BODY_LIMIT))
                    .route(web::post().to(consumptions::push_batch))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/consumptions/{id}")
                    .route(web::get().to(consumptions::get_consumption))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/consumptions/{id}/void")
                    .route(web::post().to(consumptions::void_consumption))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/care-records")
                    .route(web::get().to(care_records::list_care_records))
                    .route(web::post().to(care_records::create_care_record))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/care-records/{id}")
                    .route(web::get().to(care_records::get_care_record))
                    .route(web::put().to(care_records::change_care_record))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/care-records/{id}/cancel")
                    .route(web::post().to(care_records::cancel_care_record))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/care-records/{id}/versions")
                    .route(web::get().to(care_records::list_care_record_versions))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/accounts/audit-events")
                    .route(web::get().to(audit_trail::list_audit_events))
                    .default_service(allow("GET")),
            );
    }
}

/// The accounts part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        locations::create_location, locations::list_locations, locations::get_location, locations::replace_location,
        payers::create_payer, payers::list_payers, payers::get_payer, payers::replace_payer,
        patients::create_patient, patients::list_patients, patients::get_patient, patients::replace_patient,
        coverages::create_coverage, coverages::list_coverages, coverages::get_coverage, coverages::replace_coverage,
        episodes::create_episode, episodes::list_episodes, episodes::get_episode, episodes::change_episode_status,
        catalog::create_catalog_item, catalog::list_catalog_items, catalog::get_catalog_item, catalog::replace_catalog_item,
        consumptions::create_consumption, consumptions::push_batch, consumptions::list_consumptions,
        consumptions::get_consumption, consumptions::void_consumption,
        care_records::create_care_record, care_records::list_care_records, care_records::get_care_record,
        care_records::change_care_record, care_records::cancel_care_record, care_records::list_care_record_versions,
        audit_trail::list_audit_events,
    ),
    tags(
        (name = "locations", description = "Hospitals, clinics and care homes: invoice issuers and the unit of access scope"),
        (name = "payers", description = "Insurers, companies and public authorities"),
        (name = "patients", description = "Patients (beneficiaries)"),
        (name = "coverages", description = "Which payer covers a patient, in which order"),
        (name = "episodes", description = "Episodes of care: the accounts consumptions are charged to"),
        (name = "catalog", description = "The service catalog"),
        (name = "consumptions", description = "What was done for a patient, pushed by clinical systems"),
        (name = "care-records", description = "Stays, absences, contracts, manual entries, evaluations, gastro and ambulatory lines: the sources invoicing rules bill, kept with every version"),
        (name = "audit", description = "Who changed what, when and why"),
    )
)]
pub struct ApiDoc;
