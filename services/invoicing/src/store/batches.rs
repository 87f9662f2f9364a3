//! Stored batches of invoices and credit notes: the batch row, its documents, the documents a
//! batch's rule matches, and the writes of the batch's lifecycle. A document is in at most one
//! batch: the primary key of `invoice_batch_documents` is the document's id.

use carebill_domain::Currency;
use carebill_domain::ids::{BatchId, LocationId};
use carebill_domain::invoicing::{BatchDocumentKind, BatchStatus, InvoiceStatus};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use crate::schema::{credit_notes, invoice_batch_documents, invoice_batches, invoices};

/// A stored batch.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoice_batches)]
pub(crate) struct BatchRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: BatchId,
    /// Number, once closed.
    pub number: Option<String>,
    /// Where it stands.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: BatchStatus,
    /// The issuing location.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// Only documents addressed to this payer.
    pub payer_code: Option<String>,
    /// Only documents addressed to payers, or to patients (`PartyKind` text).
    pub recipient_kind: Option<String>,
    /// Only invoices, or only credit notes (`BatchDocumentKind` text).
    pub document_kind: Option<String>,
    /// The currency of every document.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// The rule's first issue date.
    pub issued_from: Option<NaiveDate>,
    /// The rule's last issue date.
    pub issued_to: Option<NaiveDate>,
    /// Free text.
    pub description: Option<String>,
    /// How many documents.
    pub document_count: i32,
    /// What its invoices bill, minor units.
    pub invoiced_minor: i64,
    /// What its credit notes credit, minor units.
    pub credited_minor: i64,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// When.
    pub closed_at: Option<NaiveDateTime>,
    /// Who sent it.
    pub sent_by: Option<String>,
    /// When.
    pub sent_at: Option<NaiveDateTime>,
}

/// A document of a batch.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoice_batch_documents)]
pub(crate) struct BatchDocumentRow {
    /// The invoice's or credit note's id.
    pub document_id: String,
    /// The batch.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub batch_id: BatchId,
    /// Invoice or credit note.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub document_kind: BatchDocumentKind,
    /// Its number.
    pub number: String,
    /// Its total (a credit note's: what it credits), minor units.
    pub total_minor: i64,
    /// When it was added.
    pub added_at: NaiveDateTime,
    /// Its place in the batch.
    pub position: i64,
}

/// A document that could join a batch: what the batch keeps of it, and what its rule checks.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Id.
    pub id: String,
    /// Number.
    pub number: String,
    /// Issuing location code.
    pub location_code: String,
    /// Payer or patient (`PartyKind` text).
    pub recipient_kind: String,
    /// The payer's code.
    pub payer_code: Option<String>,
    /// Currency (text).
    pub currency: String,
    /// Total, minor units.
    pub total_minor: i64,
    /// An invoice's status (`InvoiceStatus` text); none for a credit note, which stands once
    /// issued.
    pub status: Option<String>,
}

/// What a batch's rule selects (every part optional but the location and currency).
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// The issuing location.
    pub location_code: String,
    /// The currency.
    pub currency: Currency,
    /// Addressed to this payer.
    pub payer_code: Option<String>,
    /// Addressed to payers or to patients (`PartyKind` text).
    pub recipient_kind: Option<String>,
    /// Issued on or after.
    pub issued_from: Option<NaiveDate>,
    /// Issued on or before.
    pub issued_to: Option<NaiveDate>,
}

/// What the batch list filters on.
#[derive(Debug, Clone, Default)]
pub(crate) struct BatchFilter {
    /// Status.
    pub status: Option<BatchStatus>,
    /// Location code.
    pub location_code: Option<String>,
    /// Payer code.
    pub payer_code: Option<String>,
    /// Batches whose period reaches this day or later.
    pub period_from: Option<NaiveDate>,
    /// Batches whose period starts on this day or before.
    pub period_to: Option<NaiveDate>,
}

/// Stores a new batch.
pub(crate) fn insert(conn: &mut AnyConnection, row: BatchRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, invoice_batches::table, vec![row]);
    Ok(())
}

/// Locks a batch row until the transaction ends.
pub(crate) fn lock(conn: &mut AnyConnection, id: BatchId) -> Result<(), Error> {
    Ok(db::lock_row(conn, "invoice_batches", &id.to_string())?)
}

/// A batch in the caller's scope (a payer-limited caller sees only its payer's batches).
pub(crate) fn find_in_scope(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: BatchId,
) -> Result<Option<BatchRow>, Error> {
    let q = invoice_batches::table
        .filter(invoice_batches::id.eq(id.to_string()))
        .select(BatchRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        invoice_batches::location_code,
        invoice_batches::payer_code
    );
    Ok(q.first(conn).optional()?)
}

/// Up to `page.limit + 1` batches in the caller's scope matching `f`, in id order.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &BatchFilter,
    page: &PageRequest,
) -> Result<Vec<BatchRow>, Error> {
    let q = invoice_batches::table
        .select(BatchRow::as_select())
        .into_boxed();
    let mut q = carebill_platform::scoped!(
        q,
        scope,
        invoice_batches::location_code,
        invoice_batches::payer_code
    );
    if let Some(s) = f.status {
        q = q.filter(invoice_batches::status.eq(s.as_str()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(invoice_batches::location_code.eq(l.clone()));
    }
    if let Some(p) = &f.payer_code {
        q = q.filter(invoice_batches::payer_code.eq(p.clone()));
    }
    if let Some(d) = f.period_from {
        q = q.filter(
            invoice_batches::issued_to
                .ge(d)
                .or(invoice_batches::issued_to.is_null()),
        );
    }
    if let Some(d) = f.period_to {
        q = q.filter(
            invoice_batches::issued_from
                .le(d)
                .or(invoice_batches::issued_from.is_null()),
        );
    }
    if let Some(after) = &page.after {
        q = q.filter(invoice_batches::id.gt(after.clone()));
    }
    Ok(q.order(invoice_batches::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// The documents of a batch, in their order.
pub(crate) fn documents(
    conn: &mut AnyConnection,
    id: BatchId,
) -> Result<Vec<BatchDocumentRow>, Error> {
    Ok(invoice_batch_documents::table
        .filter(invoice_batch_documents::batch_id.eq(id.to_string()))
        .order(invoice_batch_documents::position.asc())
        .select(BatchDocumentRow::as_select())
        .load(conn)?)
}

/// Which of these documents are in a batch already: (document id, batch id).
pub(crate) fn batched(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<(String, String)>, Error> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        found.extend(
            invoice_batch_documents::table
                .filter(invoice_batch_documents::document_id.eq_any(chunk))
                .select((
                    invoice_batch_documents::document_id,
                    invoice_batch_documents::batch_id,
                ))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(found)
}

/// The invoices with these ids, as candidates.
pub(crate) fn invoice_candidates(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<Candidate>, Error> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        found.extend(
            invoices::table
                .filter(invoices::id.eq_any(chunk))
                .select(invoice_columns())
                .load::<InvoiceCandidate>(conn)?
                .into_iter()
                .map(invoice_candidate),
        );
    }
    Ok(found)
}

/// The credit notes with these ids, as candidates.
pub(crate) fn credit_note_candidates(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<Candidate>, Error> {
    let mut found = Vec::new();
    for chunk in ids.chunks(500) {
        found.extend(
            credit_notes::table
                .filter(credit_notes::id.eq_any(chunk))
                .select(credit_note_columns())
                .load::<CreditNoteCandidate>(conn)?
                .into_iter()
                .map(credit_note_candidate),
        );
    }
    Ok(found)
}

/// The issued (not cancelled) invoices a rule selects that are in no batch yet, oldest first.
pub(crate) fn invoices_matching(
    conn: &mut AnyConnection,
    rule: &Rule,
) -> Result<Vec<Candidate>, Error> {
    let mut q = invoices::table
        .filter(invoices::location_code.eq(rule.location_code.clone()))
        .filter(invoices::currency.eq(rule.currency.to_string()))
        .filter(invoices::status.eq(InvoiceStatus::Issued.as_str()))
        .filter(not(exists(
            invoice_batch_documents::table
                .filter(invoice_batch_documents::document_id.eq(invoices::id)),
        )))
        .select(invoice_columns())
        .into_boxed();
    if let Some(p) = &rule.payer_code {
        q = q.filter(invoices::payer_code.eq(p.clone()));
    }
    if let Some(k) = &rule.recipient_kind {
        q = q.filter(invoices::recipient_kind.eq(k.clone()));
    }
    if let Some(d) = rule.issued_from {
        q = q.filter(invoices::issue_date.ge(d));
    }
    if let Some(d) = rule.issued_to {
        q = q.filter(invoices::issue_date.le(d));
    }
    Ok(q.order((invoices::issued_at.asc(), invoices::number.asc()))
        .load::<InvoiceCandidate>(conn)?
        .into_iter()
        .map(invoice_candidate)
        .collect())
}

/// The credit notes a rule selects that are in no batch yet, oldest first.
pub(crate) fn credit_notes_matching(
    conn: &mut AnyConnection,
    rule: &Rule,
) -> Result<Vec<Candidate>, Error> {
    let mut q = credit_notes::table
        .filter(credit_notes::location_code.eq(rule.location_code.clone()))
        .filter(credit_notes::currency.eq(rule.currency.to_string()))
        .filter(not(exists(invoice_batch_documents::table.filter(
            invoice_batch_documents::document_id.eq(credit_notes::id),
        ))))
        .select(credit_note_columns())
        .into_boxed();
    if let Some(p) = &rule.payer_code {
        q = q.filter(credit_notes::payer_code.eq(p.clone()));
    }
    if let Some(k) = &rule.recipient_kind {
        q = q.filter(credit_notes::recipient_kind.eq(k.clone()));
    }
    if let Some(d) = rule.issued_from {
        q = q.filter(credit_notes::issue_date.ge(d));
    }
    if let Some(d) = rule.issued_to {
        q = q.filter(credit_notes::issue_date.le(d));
    }
    Ok(
        q.order((credit_notes::issued_at.asc(), credit_notes::number.asc()))
            .load::<CreditNoteCandidate>(conn)?
            .into_iter()
            .map(credit_note_candidate)
            .collect(),
    )
}

fn invoice_columns() -> (
    invoices::id,
    invoices::number,
    invoices::location_code,
    invoices::recipient_kind,
    invoices::payer_code,
    invoices::currency,
    invoices::total_minor,
    invoices::status,
) {
    (
        invoices::id,
        invoices::number,
        invoices::location_code,
        invoices::recipient_kind,
        invoices::payer_code,
        invoices::currency,
        invoices::total_minor,
        invoices::status,
    )
}

fn credit_note_columns() -> (
    credit_notes::id,
    credit_notes::number,
    credit_notes::location_code,
    credit_notes::recipient_kind,
    credit_notes::payer_code,
    credit_notes::currency,
    credit_notes::total_minor,
) {
    (
        credit_notes::id,
        credit_notes::number,
        credit_notes::location_code,
        credit_notes::recipient_kind,
        credit_notes::payer_code,
        credit_notes::currency,
        credit_notes::total_minor,
    )
}

/// A credit note as a candidate (credit notes have no status: they stand once issued).
type CreditNoteCandidate = (String, String, String, String, Option<String>, String, i64);

fn credit_note_candidate(c: CreditNoteCandidate) -> Candidate {
    let (id, number, location_code, recipient_kind, payer_code, currency, total_minor) = c;
    Candidate {
        id,
        number,
        location_code,
        recipient_kind,
        payer_code,
        currency,
        total_minor,
        status: None,
    }
}

/// An invoice as a candidate.
type InvoiceCandidate = (
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    i64,
    String,
);

fn invoice_candidate(c: InvoiceCandidate) -> Candidate {
    let (id, number, location_code, recipient_kind, payer_code, currency, total_minor, status) = c;
    Candidate {
        id,
        number,
        location_code,
        recipient_kind,
        payer_code,
        currency,
        total_minor,
        status: Some(status),
    }
}

/// Adds documents to a batch.
pub(crate) fn add_documents(
    conn: &mut AnyConnection,
    rows: Vec<BatchDocumentRow>,
) -> Result<(), Error> {
    for chunk in rows.chunks(1000) {
        carebill_platform::insert_rows!(conn, invoice_batch_documents::table, chunk.to_vec());
    }
    Ok(())
}

/// Takes documents out of a batch.
pub(crate) fn remove_documents(
    conn: &mut AnyConnection,
    id: BatchId,
    document_ids: &[String],
) -> Result<(), Error> {
    for chunk in document_ids.chunks(500) {
        diesel::delete(
            invoice_batch_documents::table
                .filter(invoice_batch_documents::batch_id.eq(id.to_string()))
                .filter(invoice_batch_documents::document_id.eq_any(chunk)),
        )
        .execute(conn)?;
    }
    Ok(())
}

/// The next position in a batch.
pub(crate) fn next_position(conn: &mut AnyConnection, id: BatchId) -> Result<i64, Error> {
    let last: Option<i64> = invoice_batch_documents::table
        .filter(invoice_batch_documents::batch_id.eq(id.to_string()))
        .select(diesel::dsl::max(invoice_batch_documents::position))
        .first(conn)?;
    Ok(last.map_or(0, |p| p + 1))
}

/// Sets a batch's count and totals.
pub(crate) fn set_totals(
    conn: &mut AnyConnection,
    id: BatchId,
    count: i32,
    invoiced_minor: i64,
    credited_minor: i64,
) -> Result<(), Error> {
    diesel::update(invoice_batches::table.find(id.to_string()))
        .set((
            invoice_batches::document_count.eq(count),
            invoice_batches::invoiced_minor.eq(invoiced_minor),
            invoice_batches::credited_minor.eq(credited_minor),
        ))
        .execute(conn)?;
    Ok(())
}

/// Closes a batch under its number.
pub(crate) fn close(
    conn: &mut AnyConnection,
    id: BatchId,
    number: &str,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(invoice_batches::table.find(id.to_string()))
        .set((
            invoice_batches::status.eq(BatchStatus::Closed.as_str()),
            invoice_batches::number.eq(Some(number)),
            invoice_batches::closed_by.eq(Some(by)),
            invoice_batches::closed_at.eq(Some(at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks a batch sent.
pub(crate) fn send(
    conn: &mut AnyConnection,
    id: BatchId,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(invoice_batches::table.find(id.to_string()))
        .set((
            invoice_batches::status.eq(BatchStatus::Sent.as_str()),
            invoice_batches::sent_by.eq(Some(by)),
            invoice_batches::sent_at.eq(Some(at)),
        ))
        .execute(conn)?;
    Ok(())
}
