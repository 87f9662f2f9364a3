//! E-billings over HTTP: what can be claimed (`GET /v1/claimable-entries`).

use actix_web::web;
use carebill_domain::Money;
use carebill_domain::ids::{ConsumptionId, EpisodeId, InvoiceId, PatientId};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{Page, PageParams};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{AUDIT_READERS, check_days};
use crate::InvoicingState;
use crate::service::claimable::{self as service, Entry, Filter};

/// Filters of the claimable entries.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClaimableQuery {
    /// The billing provider: the invoice's location code.
    pub provider: Option<String>,
    /// The payer's code.
    pub payer: Option<String>,
    /// A kind of service (`consultation`, `lab` ...) or a service group.
    pub service_type: Option<String>,
    /// Performed on or after this day (the location's).
    pub from: Option<NaiveDate>,
    /// Performed on or before this day (the location's).
    pub to: Option<NaiveDate>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One line of an issued payer invoice that an e-billing may claim.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimableEntry {
    /// The invoice (a claim bills a whole invoice).
    pub invoice_id: InvoiceId,
    /// Its number: the claim's patient control number.
    pub invoice_number: String,
    /// The line's position on it.
    pub line_position: i32,
    /// The billing provider (location code).
    pub provider: String,
    /// The payer's code.
    pub payer: String,
    /// The patient.
    pub patient_id: PatientId,
    /// The episode.
    pub episode_id: EpisodeId,
    /// The consumption billed.
    pub consumption_id: ConsumptionId,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Kind of service, when the approval said.
    pub service_kind: Option<String>,
    /// The day performed, in the location's time zone.
    pub performed_on: NaiveDate,
    /// The whole service's charge (what a claim line asks, SV102/SV203).
    pub charge: Money,
    /// What the payer was invoiced of it.
    pub billed: Money,
    /// `original`: the first claim of the invoice.
    #[schema(example = "original")]
    pub claim_kind: String,
}

fn id<T: std::str::FromStr>(what: &str, value: Option<&str>) -> Result<T, Error> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::internal(&format!("a claimable line without its {what}")))
}

impl ClaimableEntry {
    fn of(e: Entry) -> Result<ClaimableEntry, Error> {
        let r = e.row;
        Ok(ClaimableEntry {
            invoice_id: id("invoice", Some(&r.invoice_id))?,
            invoice_number: r.invoice_number,
            line_position: r.position,
            provider: r.location_code,
            payer: r
                .payer_code
                .ok_or_else(|| Error::internal(&"a payer invoice without its payer"))?,
            patient_id: id("patient", r.patient_id.as_deref())?,
            episode_id: id("episode", r.episode_id.as_deref())?,
            consumption_id: id("consumption", Some(&r.consumption_id))?,
            code: r.code,
            description: r.description,
            service_group: r.service_group,
            service_kind: r.service_kind,
            performed_on: e.performed_on,
            charge: e.charge,
            billed: e.billed,
            claim_kind: service::ORIGINAL.to_owned(),
        })
    }
}

/// List what can be claimed: the lines of issued invoices to payers, in your scope, by invoice
/// and line; filtered by billing provider, payer, kind of service and the day performed (the
/// location's). A page may hold fewer than `limit` entries and still name a next one.
#[utoipa::path(get, path = "/v1/claimable-entries", tag = "e-billing", params(ClaimableQuery),
    responses((status = 200, description = "A page of claimable entries", body = Page<ClaimableEntry>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value (a day, `to` before `from`, a cursor)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_claimable_entries(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<ClaimableQuery>,
) -> Result<web::Json<Page<ClaimableEntry>>, Error> {
    who.require(AUDIT_READERS)?;
    let q = query.into_inner();
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .parse()?
    .limit;
    check_days(("from", q.from), ("to", q.to))?;
    let filter = Filter {
        provider: q.provider,
        payer: q.payer,
        service_type: q.service_type,
        from: q.from,
        to: q.to,
    };
    let scope = Scope::of(&who);
    let cursor = q.cursor;
    let limit = usize::try_from(limit).map_err(|e| Error::internal(&e))?;
    let page = state
        .db
        .read(move |conn| service::page(conn, &scope, &filter, cursor.as_deref(), limit))
        .await?;
    let items = page
        .items
        .into_iter()
        .map(ClaimableEntry::of)
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(web::Json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}
