//! Collection batches over HTTP: the invoice batches invoicing sent, as collections sees them,
//! with how far their invoices are collected ([`crate::service::batches`]). Invoicing owns the
//! batches themselves (`/v1/invoice-batches`).

use actix_web::web;
use carebill_domain::Money;
use carebill_domain::collections::BatchCollectionStatus;
use carebill_domain::ids::BatchId;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{Page, PageParams, parse_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::READERS;
use crate::CollectionsState;
use crate::service::batches::{self, BatchFilter, BatchView};

/// An invoice batch invoicing sent, with how far its invoices are collected. To the minor
/// unit, `invoiced = cancelled + partially_credited + paid + written_off + outstanding`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionBatch {
    /// Invoicing's batch id (the same as `/v1/invoice-batches/{id}`).
    pub id: String,
    /// Its number.
    pub number: String,
    /// The issuing location's id.
    pub location_id: String,
    /// Its code.
    pub location_code: String,
    /// The payer, for a payer's batch.
    pub payer_code: Option<String>,
    /// The currency of every amount.
    pub currency: String,
    /// How many documents (invoices and credit notes).
    pub document_count: i64,
    /// How many invoices.
    pub invoice_count: i64,
    /// How many credit notes (counted only: their invoices' receivables were reduced or
    /// cancelled when they were issued).
    pub credit_note_count: i64,
    /// Of its invoices, how many collections has a receivable for; the others' issue events
    /// have not arrived yet and their totals count as outstanding.
    pub receivable_count: i64,
    /// What its invoices bill, as invoicing sent it.
    pub invoiced: Money,
    /// What its credit notes credit, as invoicing sent it.
    pub credited: Money,
    /// Totals of its invoices credit notes cancelled.
    pub cancelled: Money,
    /// Taken off its invoices that stand by partial credit notes.
    pub partially_credited: Money,
    /// Paid on its invoices.
    pub paid: Money,
    /// Written off its invoices that stand.
    pub written_off: Money,
    /// Still owed on its invoices.
    pub outstanding: Money,
    /// `open` (nothing paid), `partly_collected`, or `collected` (nothing owed on any of its
    /// invoices: paid, or settled by credit notes).
    pub collection_status: BatchCollectionStatus,
    /// Who sent it.
    pub sent_by: String,
    /// When.
    pub sent_at: DateTime<Utc>,
}

impl CollectionBatch {
    /// A batch as the API shows it.
    fn of(b: &BatchView) -> CollectionBatch {
        CollectionBatch {
            id: b.id.to_string(),
            number: b.number.clone(),
            location_id: b.location_id.to_string(),
            location_code: b.location_code.clone(),
            payer_code: b.payer_code.clone(),
            currency: b.currency.to_string(),
            document_count: b.document_count,
            invoice_count: b.invoice_count,
            credit_note_count: b.credit_note_count,
            receivable_count: b.receivable_count,
            invoiced: b.invoiced,
            credited: b.credited,
            cancelled: b.cancelled,
            partially_credited: b.partially_credited,
            paid: b.paid,
            written_off: b.written_off,
            outstanding: b.outstanding,
            collection_status: b.collection_status,
            sent_by: b.sent_by.clone(),
            sent_at: b.sent_at,
        }
    }
}

/// Filters and paging of the collection batch list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CollectionBatchQuery {
    /// Of this location.
    pub location_code: Option<String>,
    /// Of this payer.
    pub payer_code: Option<String>,
    /// `open`, `partly_collected` or `collected`.
    pub collection_status: Option<BatchCollectionStatus>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// List the batches sent to collections in your scope, oldest first, with how far each is
/// collected (a payer sees only its own).
#[utoipa::path(get, path = "/v1/collection-batches", tag = "collection batches", params(CollectionBatchQuery),
    responses((status = 200, description = "A page of batches", body = Page<CollectionBatch>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid paging", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_collection_batches(
    state: web::Data<CollectionsState>,
    who: Principal,
    query: web::Query<CollectionBatchQuery>,
) -> Result<web::Json<Page<CollectionBatch>>, Error> {
    who.require(READERS)?;
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let filter = BatchFilter {
        location_code: query.location_code.map(|c| c.trim().to_owned()),
        payer_code: query.payer_code.map(|c| c.trim().to_owned()),
        collection_status: query.collection_status,
    };
    let scope = Scope::of(&who);
    let page = state
        .db
        .read(move |conn| batches::batches(conn, &scope, &filter, &page))
        .await?;
    Ok(web::Json(page.map(|b| CollectionBatch::of(&b))))
}

/// Get a batch sent to collections, with how far its invoices are collected.
#[utoipa::path(get, path = "/v1/collection-batches/{id}", tag = "collection batches",
    params(("id" = String, Path, description = "Batch id (invoicing's)")),
    responses((status = 200, description = "The batch", body = CollectionBatch),
        (status = 404, description = "No such batch sent, or not in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn get_collection_batch(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<CollectionBatch>, Error> {
    who.require(READERS)?;
    let id: BatchId = parse_id(&id, "batch")?;
    let scope = Scope::of(&who);
    let batch = state
        .db
        .read(move |conn| batches::batch(conn, &scope, id))
        .await?;
    Ok(web::Json(CollectionBatch::of(&batch)))
}
