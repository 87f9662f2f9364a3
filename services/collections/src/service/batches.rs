//! Batches: the invoice batches invoicing sent (`carebill.invoicing.batch.sent.v1`), kept once
//! each with their documents, and read with how far their invoices are collected.
//!
//! A batch is kept as it was sent: its number, location, payer, currency, totals and documents.
//! Its invoices' receivables are found through its documents when read, never stamped, so a
//! batch that arrives before some of its invoices shows them as they come (an invoice not here
//! yet is owed in full), and the same batch again changes nothing. Its credit notes are counted
//! only: `credit_note.issued` already reduced or cancelled their invoices' receivables.
//!
//! The collection figures sum the batch's invoices as a party's balance sums its receivables
//! (invoices = cancelled + credited + paid + written off + outstanding); the status is `open` while nothing
//! is paid, `partly_collected` once something is, `collected` once nothing is owed on any
//! invoice (paid, or settled by credit notes).

use std::collections::{HashMap, HashSet};

use carebill_domain::collections::{
    self as rules, BatchCollectionStatus, BatchInvoice, ReceivableAmounts, ReceivableStatus,
};
use carebill_domain::events::{BatchSentV1, Envelope};
use carebill_domain::ids::{BatchId, LocationId};
use carebill_domain::invoicing::BatchDocumentKind;
use carebill_domain::{Currency, MinorUnits, Money, stored};
use carebill_platform::Error;
use carebill_platform::audit;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{Page, PageRequest};
use chrono::{DateTime, Utc};

use super::receivables::{event_actor, money};
pub(crate) use crate::store::batches::BatchFilter;
use crate::store::batches::{self as store, BatchDocumentRow, BatchInvoiceRow, BatchRow};

/// A sent batch as collections sees it.
#[derive(Debug, Clone)]
pub(crate) struct BatchView {
    /// Invoicing's batch id.
    pub id: BatchId,
    /// Its number.
    pub number: String,
    /// The issuing location.
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// The payer, for a payer's batch.
    pub payer_code: Option<String>,
    /// The currency of every amount.
    pub currency: Currency,
    /// How many documents.
    pub document_count: i64,
    /// How many invoices.
    pub invoice_count: i64,
    /// How many credit notes.
    pub credit_note_count: i64,
    /// What its invoices bill.
    pub invoiced: Money,
    /// What its credit notes credit.
    pub credited: Money,
    /// Of its invoices, how many have a receivable (the others have not arrived yet).
    pub receivable_count: i64,
    /// Totals of its invoices credit notes cancelled.
    pub cancelled: Money,
    /// Taken off its invoices that stand by partial credit notes.
    pub partially_credited: Money,
    /// Paid on its invoices.
    pub paid: Money,
    /// Written off its invoices that stand.
    pub written_off: Money,
    /// Still owed on its invoices (in full on those not arrived yet).
    pub outstanding: Money,
    /// Where its collection stands.
    pub collection_status: BatchCollectionStatus,
    /// Who sent it.
    pub sent_by: String,
    /// When.
    pub sent_at: DateTime<Utc>,
}

impl BatchView {
    /// A row with the figures of its invoices.
    fn of(row: BatchRow, invoices: Vec<BatchInvoiceRow>) -> Result<BatchView, Error> {
        let c = row.currency;
        let invoices = invoices
            .into_iter()
            .map(|i| batch_invoice(i, c))
            .collect::<Result<Vec<_>, Error>>()?;
        let sums = rules::batch_collection(invoices);
        Ok(BatchView {
            id: row.id,
            number: row.number,
            location_id: row.location_id,
            location_code: row.location_code,
            payer_code: row.payer_code,
            currency: c,
            document_count: row.document_count,
            invoice_count: row.invoice_count,
            credit_note_count: row.credit_note_count,
            invoiced: money(row.invoiced_minor, c),
            credited: money(row.credited_minor, c),
            receivable_count: sums.receivables,
            cancelled: money(sums.cancelled.0, c),
            partially_credited: money(sums.credited.0, c),
            paid: money(sums.paid.0, c),
            written_off: money(sums.written_off.0, c),
            outstanding: money(sums.outstanding.0, c),
            collection_status: sums.status,
            sent_by: row.sent_by,
            sent_at: row.sent_at.and_utc(),
        })
    }
}

/// One invoice of a batch in `currency` with its receivable's amounts, if it exists.
fn batch_invoice(i: BatchInvoiceRow, currency: Currency) -> Result<BatchInvoice, Error> {
    let receivable = match i.receivable {
        None => None,
        Some(r) => {
            if r.currency != currency.to_string() {
                return Err(Error::stored(
                    "receivable currency",
                    &r.currency,
                    format!("its invoice is in a batch in {currency}"),
                ));
            }
            let status = stored::parse::<ReceivableStatus>("receivable status", &r.status)?;
            Some(ReceivableAmounts {
                total: MinorUnits(r.total_minor),
                credited: MinorUnits(r.credited_minor),
                paid: MinorUnits(r.paid_minor),
                written_off: MinorUnits(r.written_off_minor),
                cancelled: status == ReceivableStatus::Cancelled,
            })
        }
    };
    Ok(BatchInvoice {
        total: MinorUnits(i.total_minor),
        receivable,
    })
}

fn minor(m: &Money, what: &str) -> Result<i64, Error> {
    m.to_minor()
        .map(|m| m.0)
        .map_err(|e| Error::invalid_event(format!("{what}: {e}")))
}

/// A batch was sent to collections: kept once with its documents. The same batch again (a
/// re-published event) changes nothing. Every amount must be in the batch's currency, and a
/// document may be in no other batch. Runs in the inbox's transaction with the batch's key
/// locked.
#[tracing::instrument(skip_all, fields(batch_id = %e.batch_id))]
pub(crate) fn batch_sent(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &BatchSentV1,
) -> Result<(), Error> {
    let currency = e.invoiced.currency();
    if e.credited.currency() != currency {
        return Err(Error::invalid_event(format!(
            "batch {}: what it invoices and what it credits are in different currencies",
            e.number
        )));
    }
    let mut seen = HashSet::new();
    let mut documents = Vec::with_capacity(e.documents.len());
    for (n, d) in e.documents.iter().enumerate() {
        if d.total.currency() != currency {
            return Err(Error::invalid_event(format!(
                "batch {}: documents.{n} ({}) is not in the batch's currency {currency}",
                e.number, d.number
            )));
        }
        if !seen.insert(d.id) {
            return Err(Error::invalid_event(format!(
                "batch {}: document {} is listed twice",
                e.number, d.number
            )));
        }
        documents.push(BatchDocumentRow {
            document_id: d.id.to_string(),
            batch_id: e.batch_id,
            kind: d.kind,
            number: d.number.clone(),
            total_minor: minor(&d.total, &format!("documents.{n}.total"))?,
        });
    }
    let count = |kind| {
        let n = documents.iter().filter(|d| d.kind == kind).count();
        i64::try_from(n).map_err(|err| Error::invalid_event(err.to_string()))
    };
    let (invoice_count, credit_note_count) = (
        count(BatchDocumentKind::Invoice)?,
        count(BatchDocumentKind::CreditNote)?,
    );
    let row = BatchRow {
        id: e.batch_id,
        number: e.number.clone(),
        location_id: e.location_id,
        location_code: e.location_code.clone(),
        payer_code: e.payer_code.clone(),
        currency,
        invoiced_minor: minor(&e.invoiced, "invoiced")?,
        credited_minor: minor(&e.credited, "credited")?,
        document_count: invoice_count + credit_note_count,
        invoice_count,
        credit_note_count,
        sent_by: e.sent_by.clone(),
        sent_at: db::truncate_micros(e.sent_at.naive_utc()),
        received_at: db::now(),
    };
    if !store::keep(conn, row)? {
        // The same batch sent again: kept already, as it was.
        return Ok(());
    }
    let ids: Vec<String> = documents.iter().map(|d| d.document_id.clone()).collect();
    if let Some((document, other)) = store::batched(conn, &ids)?.into_iter().next() {
        return Err(Error::invalid_event(format!(
            "batch {}: document {document} is in batch {other} already",
            e.number
        )));
    }
    store::keep_documents(conn, documents)?;
    audit::record_at(
        conn,
        &event_actor(env),
        &e.location_id.to_string(),
        "receive",
        "collection_batch",
        &e.batch_id.to_string(),
        serde_json::json!({
            "after": {
                "number": e.number,
                "payer_code": e.payer_code,
                "invoices": invoice_count,
                "credit_notes": credit_note_count,
                "invoiced": e.invoiced,
                "credited": e.credited,
            },
            "event_id": env.id,
        }),
        None,
    )?;
    Ok(())
}

/// Serialises the deliveries of one batch until the transaction ends (see [`crate::consumer`]).
pub(crate) fn lock_batch(conn: &mut AnyConnection, id: BatchId) -> Result<(), Error> {
    store::lock(conn, id)
}

/// A batch in the caller's scope with its collection figures; not found otherwise.
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub(crate) fn batch(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: BatchId,
) -> Result<BatchView, Error> {
    let row = store::find_in_scope(conn, scope, id)?.ok_or_else(|| Error::not_found("batch"))?;
    let invoices = store::invoices_of(conn, &[row.id.to_string()])?;
    BatchView::of(row, invoices)
}

/// A page of the batches in the caller's scope matching `filter`, oldest first, each with its
/// collection figures.
#[tracing::instrument(skip_all)]
pub(crate) fn batches(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &BatchFilter,
    page: &PageRequest,
) -> Result<Page<BatchView>, Error> {
    let rows = store::list(conn, scope, filter, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    let ids: Vec<String> = page.items.iter().map(|r| r.id.to_string()).collect();
    let mut invoices: HashMap<String, Vec<BatchInvoiceRow>> = HashMap::new();
    for i in store::invoices_of(conn, &ids)? {
        invoices.entry(i.batch_id.clone()).or_default().push(i);
    }
    page.try_map(|r| {
        // A batch of credit notes only has no invoices.
        let of_batch = invoices.remove(&r.id.to_string()).into_iter().flatten();
        BatchView::of(r, of_batch.collect())
    })
}
