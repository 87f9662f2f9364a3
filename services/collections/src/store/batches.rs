//! Stored batches: the invoice batches invoicing sent (`batches`), each with its documents
//! (`batch_documents`), lookups through the caller's [`Scope`], the list with its filters (the
//! collection status among them, in SQL), and what the batch's invoices' receivables hold,
//! joined when read.

use carebill_domain::Currency;
use carebill_domain::collections::BatchCollectionStatus;
use carebill_domain::ids::{BatchId, InvoiceId, LocationId};
use carebill_domain::invoicing::BatchDocumentKind;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::NaiveDateTime;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use crate::schema::{batch_documents, batches, receivables};

/// "No invoice of the batch is owed": every invoice has a receivable and none is still owing
/// (the stored statuses `open` and `partially_paid`, as [`super::receivables::OWING`]).
const NOTHING_OWED: &str = "NOT EXISTS (SELECT 1 FROM batch_documents d \
     LEFT JOIN receivables r ON r.invoice_id = d.document_id \
     WHERE d.batch_id = batches.id AND d.kind = 'invoice' \
     AND (r.id IS NULL OR r.status IN ('open', 'partially_paid')))";

/// "Something is paid on an invoice of the batch that stands".
const SOMETHING_PAID: &str = "EXISTS (SELECT 1 FROM batch_documents d \
     JOIN receivables r ON r.invoice_id = d.document_id \
     WHERE d.batch_id = batches.id AND d.kind = 'invoice' \
     AND r.status <> 'cancelled' AND r.paid_minor > 0)";

/// A batch as collections keeps it.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = batches)]
pub(crate) struct BatchRow {
    /// Invoicing's batch id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: BatchId,
    /// Its number.
    pub number: String,
    /// The issuing location.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// The payer, for a payer's batch.
    pub payer_code: Option<String>,
    /// The currency of every document.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// What its invoices bill, in minor units.
    pub invoiced_minor: i64,
    /// What its credit notes credit, in minor units.
    pub credited_minor: i64,
    /// How many documents.
    pub document_count: i64,
    /// How many of them are invoices.
    pub invoice_count: i64,
    /// How many of them are credit notes.
    pub credit_note_count: i64,
    /// Who sent it.
    pub sent_by: String,
    /// When.
    pub sent_at: NaiveDateTime,
    /// When collections received it.
    pub received_at: NaiveDateTime,
}

/// One document of a batch.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = batch_documents)]
pub(crate) struct BatchDocumentRow {
    /// The invoice's or credit note's id.
    pub document_id: String,
    /// The batch.
    #[diesel(serialize_as = String)]
    pub batch_id: BatchId,
    /// Invoice or credit note.
    #[diesel(serialize_as = String)]
    pub kind: BatchDocumentKind,
    /// Its number.
    pub number: String,
    /// Its total (a credit note's: what it credits), in minor units.
    pub total_minor: i64,
}

/// What the receivable of one invoice of a batch holds, in minor units.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct StoredAmounts {
    /// Currency.
    pub currency: String,
    /// Invoice total.
    pub total_minor: i64,
    /// Taken off by partial credit notes.
    pub credited_minor: i64,
    /// Paid.
    pub paid_minor: i64,
    /// Base status.
    pub status: String,
    /// Written off.
    pub written_off_minor: i64,
}

/// One invoice of a batch with its receivable, if it exists yet.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct BatchInvoiceRow {
    /// The batch.
    pub batch_id: String,
    /// The invoice's total as the batch lists it, in minor units.
    pub total_minor: i64,
    /// Its receivable.
    pub receivable: Option<StoredAmounts>,
}

/// What the batch list can be filtered by.
#[derive(Debug, Clone, Default)]
pub(crate) struct BatchFilter {
    /// The location's code.
    pub location_code: Option<String>,
    /// The payer's code.
    pub payer_code: Option<String>,
    /// Where its collection stands.
    pub collection_status: Option<BatchCollectionStatus>,
}

/// Locks a batch's key until the transaction ends: deliveries of one batch apply one at a time.
pub(crate) fn lock(conn: &mut AnyConnection, id: BatchId) -> Result<(), Error> {
    Ok(db::lock_key(conn, &format!("batch:{id}"))?)
}

/// Keeps a batch (once). Returns whether it is new.
pub(crate) fn keep(conn: &mut AnyConnection, row: BatchRow) -> Result<bool, Error> {
    let inserted = carebill_platform::insert_new!(conn, batches::table, row);
    Ok(inserted > 0)
}

/// Keeps a new batch's documents.
pub(crate) fn keep_documents(
    conn: &mut AnyConnection,
    rows: Vec<BatchDocumentRow>,
) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, batch_documents::table, rows);
    Ok(())
}

/// The batches these documents are in already: (document id, batch number).
pub(crate) fn batched(
    conn: &mut AnyConnection,
    document_ids: &[String],
) -> Result<Vec<(String, String)>, Error> {
    if document_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(batch_documents::table
        .inner_join(batches::table)
        .filter(batch_documents::document_id.eq_any(document_ids))
        .select((batch_documents::document_id, batches::number))
        .load(conn)?)
}

/// The batch of each of these invoices that is in one: (invoice id, batch id, batch number).
pub(crate) fn of_invoices(
    conn: &mut AnyConnection,
    invoice_ids: &[InvoiceId],
) -> Result<Vec<(String, String, String)>, Error> {
    let ids: Vec<String> = invoice_ids.iter().map(ToString::to_string).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(batch_documents::table
        .inner_join(batches::table)
        .filter(batch_documents::kind.eq(BatchDocumentKind::Invoice.as_str()))
        .filter(batch_documents::document_id.eq_any(ids))
        .select((batch_documents::document_id, batches::id, batches::number))
        .load(conn)?)
}

/// The invoices of these batches, each with what its receivable holds (none while the
/// invoice's issue event has not arrived).
pub(crate) fn invoices_of(
    conn: &mut AnyConnection,
    batch_ids: &[String],
) -> Result<Vec<BatchInvoiceRow>, Error> {
    if batch_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(batch_documents::table
        .left_join(receivables::table.on(receivables::invoice_id.eq(batch_documents::document_id)))
        .filter(batch_documents::batch_id.eq_any(batch_ids))
        .filter(batch_documents::kind.eq(BatchDocumentKind::Invoice.as_str()))
        .select((
            batch_documents::batch_id,
            batch_documents::total_minor,
            (
                receivables::currency,
                receivables::total_minor,
                receivables::credited_minor,
                receivables::paid_minor,
                receivables::status,
                receivables::written_off_minor,
            )
                .nullable(),
        ))
        .load(conn)?)
}

/// A batch in the caller's scope: of its locations, and a payer's own (a batch of no payer is
/// never a payer's).
pub(crate) fn find_in_scope(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: BatchId,
) -> Result<Option<BatchRow>, Error> {
    let q = batches::table
        .filter(batches::id.eq(id.to_string()))
        .select(BatchRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(q, scope, batches::location_code, batches::payer_code);
    Ok(q.first(conn).optional()?)
}

/// Up to `page.limit + 1` batches in the caller's scope matching `f`, in id order.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &BatchFilter,
    page: &PageRequest,
) -> Result<Vec<BatchRow>, Error> {
    let q = batches::table.select(BatchRow::as_select()).into_boxed();
    let mut q = carebill_platform::scoped!(q, scope, batches::location_code, batches::payer_code);
    if let Some(c) = &f.location_code {
        q = q.filter(batches::location_code.eq(c.clone()));
    }
    if let Some(c) = &f.payer_code {
        q = q.filter(batches::payer_code.eq(c.clone()));
    }
    q = match f.collection_status {
        None => q,
        Some(BatchCollectionStatus::Collected) => q.filter(sql::<Bool>(NOTHING_OWED)),
        Some(BatchCollectionStatus::PartlyCollected) => q
            .filter(sql::<Bool>(&format!("NOT {NOTHING_OWED}")))
            .filter(sql::<Bool>(SOMETHING_PAID)),
        Some(BatchCollectionStatus::Open) => q
            .filter(sql::<Bool>(&format!("NOT {NOTHING_OWED}")))
            .filter(sql::<Bool>(&format!("NOT {SOMETHING_PAID}"))),
    };
    if let Some(after) = &page.after {
        q = q.filter(batches::id.gt(after.clone()));
    }
    Ok(q.order(batches::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
