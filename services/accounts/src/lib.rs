//! The accounts service: who was treated, where, under which coverage, and what was done.
//!
//! Resources under `/v1`: locations, payers, patients, coverages, episodes (accounts), the
//! service catalog, consumptions and care records (stays, absences, contracts and the other
//! invoicing sources), carers, placements, hours and timesheets of care agencies, plus this
//! service's audit trail. Writes that other services
//! care about emit `carebill.accounts.*` events through the outbox.
//!
//! The library is composed by the `carebill` binary, alone (`--service accounts`) or with the
//! other services (embedded suite).
//!
//! Inside, three layers, arrows pointing down: `api` (handlers and the request and response
//! types: authorise, parse, call one use case), `service` (the use cases on a connection or
//! transaction: decisions, audit trail, outbox events) and `store` (typed rows and queries over
//! `schema`). The service consumes no events, so it has no consumer.

mod api;
mod schema;
mod service;
mod store;

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

pub use service::announce::{KINDS as ANNOUNCE_KINDS, Kind as AnnounceKind, parse_kinds};

/// Announces master data again: the current `*.changed` event of every record of `kinds`, in
/// pages of `page_size` records, each page in a transaction of its own (see
/// `service::announce`). Returns how many records of each kind were announced.
pub async fn announce(
    db: &Db,
    kinds: &[AnnounceKind],
    page_size: i64,
) -> Result<Vec<(&'static str, usize)>, carebill_platform::Error> {
    use diesel::Connection as _;
    let mut out = Vec::new();
    for &kind in kinds {
        let name = ANNOUNCE_KINDS
            .iter()
            .find(|(_, k)| *k == kind)
            .map_or("?", |(n, _)| *n);
        let mut after: Option<String> = None;
        let mut total = 0;
        loop {
            let from = after.take();
            let (n, next) = db
                .write(move |conn| {
                    conn.transaction(|c| service::announce::page(c, kind, from, page_size))
                })
                .await?;
            total += n;
            match next {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        out.push((name, total));
    }
    Ok(out)
}

/// Body limit of the batch endpoint: 1,000 consumptions with attributes.
pub const BATCH_BODY_LIMIT: usize = 4 << 20;

/// What the handlers share.
pub struct AccountsState {
    /// The accounts database.
    pub db: Db,
    /// Wakes the outbox relay after a commit.
    pub wake: Arc<Notify>,
    /// The mail server and what approval links look like (`delivery.portal_url`,
    /// `delivery.link_hours`).
    pub channels: AgencyChannels,
    /// When reminders are due (`[agency]`).
    pub notices: NoticeSettings,
}

pub use service::notices::{Channels as AgencyChannels, NoticeSettings};

/// Queues and sends agency notices (approval e-mails, reminders) every `interval`, until the
/// process stops: the background half of `POST /v1/agency-notices/dispatch`. Several processes
/// may run it; each notice is claimed by one.
pub async fn notice_sender(state: web::Data<AccountsState>, interval: std::time::Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match service::notices::dispatch(
            &state.db,
            &state.channels,
            state.notices,
            chrono::Utc::now(),
            500,
        )
        .await
        {
            Ok(s) if s.queued + s.sent + s.failed + s.retrying > 0 => tracing::info!(
                queued = s.queued,
                sent = s.sent,
                failed = s.failed,
                retrying = s.retrying,
                "agency notices"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "agency notices failed; trying again later"),
        }
    }
}

/// Registers every accounts route.
pub fn routes(state: web::Data<AccountsState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state)
            .service(
                web::resource("/v1/locations")
                    .route(web::get().to(api::locations::list_locations))
                    .route(web::post().to(api::locations::create_location))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/locations/{id}")
                    .route(web::get().to(api::locations::get_location))
                    .route(web::put().to(api::locations::replace_location))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/payers")
                    .route(web::get().to(api::payers::list_payers))
                    .route(web::post().to(api::payers::create_payer))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/payers/{id}")
                    .route(web::get().to(api::payers::get_payer))
                    .route(web::put().to(api::payers::replace_payer))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/patients")
                    .route(web::get().to(api::patients::list_patients))
                    .route(web::post().to(api::patients::create_patient))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/patients/{id}")
                    .route(web::get().to(api::patients::get_patient))
                    .route(web::put().to(api::patients::replace_patient))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/coverages")
                    .route(web::get().to(api::coverages::list_coverages))
                    .route(web::post().to(api::coverages::create_coverage))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/coverages/{id}")
                    .route(web::get().to(api::coverages::get_coverage))
                    .route(web::put().to(api::coverages::replace_coverage))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/episodes")
                    .route(web::get().to(api::episodes::list_episodes))
                    .route(web::post().to(api::episodes::create_episode))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/episodes/{id}")
                    .route(web::get().to(api::episodes::get_episode))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/episodes/{id}/coding")
                    .route(web::get().to(api::episode_codings::get_coding))
                    .route(web::put().to(api::episode_codings::change_coding))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/episodes/{id}/coding/versions")
                    .route(web::get().to(api::episode_codings::list_coding_versions))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/episodes/{id}/status")
                    .route(web::post().to(api::episodes::change_episode_status))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/catalog-items")
                    .route(web::get().to(api::catalog::list_catalog_items))
                    .route(web::post().to(api::catalog::create_catalog_item))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/catalog-items/{id}")
                    .route(web::get().to(api::catalog::get_catalog_item))
                    .route(web::put().to(api::catalog::replace_catalog_item))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/consumptions")
                    .route(web::get().to(api::consumptions::list_consumptions))
                    .route(web::post().to(api::consumptions::create_consumption))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/consumptions/batch")
                    .app_data(BodyLimit(BATCH_BODY_LIMIT))
                    .route(web::post().to(api::consumptions::push_batch))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/consumptions/{id}")
                    .route(web::get().to(api::consumptions::get_consumption))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/consumptions/{id}/void")
                    .route(web::post().to(api::consumptions::void_consumption))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/care-records")
                    .route(web::get().to(api::care_records::list_care_records))
                    .route(web::post().to(api::care_records::create_care_record))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/care-records/{id}")
                    .route(web::get().to(api::care_records::get_care_record))
                    .route(web::put().to(api::care_records::change_care_record))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/care-records/{id}/cancel")
                    .route(web::post().to(api::care_records::cancel_care_record))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/care-records/{id}/versions")
                    .route(web::get().to(api::care_records::list_care_record_versions))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/carers")
                    .route(web::get().to(api::carers::list_carers))
                    .route(web::post().to(api::carers::create_carer))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/carers/{id}")
                    .route(web::get().to(api::carers::get_carer))
                    .route(web::put().to(api::carers::replace_carer))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/practitioners")
                    .route(web::get().to(api::practitioners::list_practitioners))
                    .route(web::post().to(api::practitioners::create_practitioner))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/practitioners/{id}")
                    .route(web::get().to(api::practitioners::get_practitioner))
                    .route(web::put().to(api::practitioners::replace_practitioner))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/placements")
                    .route(web::get().to(api::placements::list_placements))
                    .route(web::post().to(api::placements::create_placement))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/placements/{id}")
                    .route(web::get().to(api::placements::get_placement))
                    .route(web::put().to(api::placements::replace_placement))
                    .default_service(allow("GET, PUT")),
            )
            .service(
                web::resource("/v1/hours")
                    .route(web::post().to(api::timesheets::register_hours))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/hours/batch")
                    .app_data(BodyLimit(BATCH_BODY_LIMIT))
                    .route(web::post().to(api::timesheets::register_hours_batch))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/hours/{id}")
                    .route(web::get().to(api::timesheets::get_hours))
                    .route(web::put().to(api::timesheets::change_hours))
                    .route(web::delete().to(api::timesheets::remove_hours))
                    .default_service(allow("GET, PUT, DELETE")),
            )
            .service(
                web::resource("/v1/timesheets")
                    .route(web::get().to(api::timesheets::list_timesheets))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/timesheets/{id}")
                    .route(web::get().to(api::timesheets::get_timesheet))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/timesheets/{id}/submit")
                    .route(web::post().to(api::timesheets::submit_timesheet))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/timesheets/{id}/approval-links")
                    .route(web::post().to(api::timesheets::make_approval_link))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/timesheets/{id}/review")
                    .route(web::post().to(api::timesheets::review_timesheet))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/timesheet-approvals/{token}")
                    .route(web::get().to(api::timesheets::open_approval))
                    .route(web::post().to(api::timesheets::review_by_link))
                    .default_service(allow("GET, POST")),
            )
            .service(
                web::resource("/v1/agency-notices")
                    .route(web::get().to(api::notices::list_notices))
                    .default_service(allow("GET")),
            )
            .service(
                web::resource("/v1/agency-notices/dispatch")
                    .route(web::post().to(api::notices::dispatch_notices))
                    .default_service(allow("POST")),
            )
            .service(
                web::resource("/v1/accounts/audit-events")
                    .route(web::get().to(api::audit_trail::list_audit_events))
                    .default_service(allow("GET")),
            );
    }
}

/// The accounts part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        api::locations::create_location, api::locations::list_locations, api::locations::get_location, api::locations::replace_location,
        api::payers::create_payer, api::payers::list_payers, api::payers::get_payer, api::payers::replace_payer,
        api::patients::create_patient, api::patients::list_patients, api::patients::get_patient, api::patients::replace_patient,
        api::coverages::create_coverage, api::coverages::list_coverages, api::coverages::get_coverage, api::coverages::replace_coverage,
        api::episodes::create_episode, api::episodes::list_episodes, api::episodes::get_episode, api::episodes::change_episode_status,
        api::episode_codings::get_coding, api::episode_codings::change_coding, api::episode_codings::list_coding_versions,
        api::catalog::create_catalog_item, api::catalog::list_catalog_items, api::catalog::get_catalog_item, api::catalog::replace_catalog_item,
        api::consumptions::create_consumption, api::consumptions::push_batch, api::consumptions::list_consumptions,
        api::consumptions::get_consumption, api::consumptions::void_consumption,
        api::care_records::create_care_record, api::care_records::list_care_records, api::care_records::get_care_record,
        api::care_records::change_care_record, api::care_records::cancel_care_record, api::care_records::list_care_record_versions,
        api::practitioners::create_practitioner, api::practitioners::list_practitioners,
        api::practitioners::get_practitioner, api::practitioners::replace_practitioner,
        api::carers::create_carer, api::carers::list_carers, api::carers::get_carer, api::carers::replace_carer,
        api::placements::create_placement, api::placements::list_placements, api::placements::get_placement, api::placements::replace_placement,
        api::timesheets::register_hours, api::timesheets::register_hours_batch, api::timesheets::get_hours,
        api::timesheets::change_hours, api::timesheets::remove_hours,
        api::timesheets::list_timesheets, api::timesheets::get_timesheet, api::timesheets::submit_timesheet,
        api::timesheets::make_approval_link, api::timesheets::review_timesheet,
        api::timesheets::open_approval, api::timesheets::review_by_link,
        api::notices::list_notices, api::notices::dispatch_notices,
        api::audit_trail::list_audit_events,
    ),
    tags(
        (name = "locations", description = "Hospitals, clinics and care homes: invoice issuers and the unit of access scope"),
        (name = "payers", description = "Insurers, companies and public authorities"),
        (name = "patients", description = "Patients (beneficiaries)"),
        (name = "coverages", description = "Which payer covers a patient, in which order"),
        (name = "episodes", description = "Episodes of care: the accounts consumptions are charged to"),
        (name = "catalog", description = "The service catalog"),
        (name = "practitioners", description = "Who performs, orders or attends care, with the identifiers claims name them by (NPI, taxonomy)"),
        (name = "consumptions", description = "What was done for a patient, pushed by clinical systems"),
        (name = "care-records", description = "Stays, absences, contracts, manual entries, evaluations, gastro and ambulatory lines: the sources invoicing rules bill, kept with every version"),
        (name = "agency", description = "Care agencies: carers, placements with clients, hours, timesheets and the client's approval"),
        (name = "audit", description = "Who changed what, when and why"),
    )
)]
pub struct ApiDoc;
