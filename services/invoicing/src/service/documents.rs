//! Reading invoices and credit notes in the caller's scope: a document with its lines, or a
//! page of headers. Anything outside the scope is not found.

use carebill_domain::ids::{CreditNoteId, InvoiceId};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use chrono::NaiveDate;

use crate::store::credit_notes::{self, CreditNoteFilter, CreditNoteRow};
use crate::store::invoices::{self, InvoiceFilter, InvoiceRow};
use crate::store::lines::{self, LineRow};

/// An invoice with its lines.
#[derive(Debug, Clone)]
pub(crate) struct InvoiceDocument {
    /// The header.
    pub invoice: InvoiceRow,
    /// The lines, in order.
    pub lines: Vec<LineRow>,
}

/// A credit note with the invoice it cancels.
#[derive(Debug, Clone)]
pub(crate) struct CreditNoteHeader {
    /// The credit note.
    pub credit_note: CreditNoteRow,
    /// The invoice it cancels (issuer, recipient, episode and settlement come from it).
    pub invoice: InvoiceRow,
}

/// A credit note with its invoice and its lines.
#[derive(Debug, Clone)]
pub(crate) struct CreditNoteDocument {
    /// The credit note and its invoice.
    pub header: CreditNoteHeader,
    /// The lines credited, in order.
    pub lines: Vec<LineRow>,
}

/// Checks an issue-date range: plausible days, `from` not after `to`.
pub(crate) fn check_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(), Error> {
    let mut v = carebill_domain::Validation::new();
    for (field, day) in [("issued_from", from), ("issued_to", to)] {
        if let Some(d) = day {
            v.check(
                field,
                "out_of_range",
                carebill_domain::accounts::check_date(d),
            );
        }
    }
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        v.add("issued_to", "invalid", "must not be before issued_from");
    }
    v.finish().map_err(Error::validation)
}

/// An invoice in the caller's scope, with its lines; not found otherwise.
#[tracing::instrument(skip_all, fields(invoice_id = %id))]
pub(crate) fn invoice(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: InvoiceId,
) -> Result<InvoiceDocument, Error> {
    let invoice =
        invoices::find_in_scope(conn, scope, id)?.ok_or_else(|| Error::not_found("invoice"))?;
    let lines = lines::of_document(conn, &invoice.id.to_string())?;
    Ok(InvoiceDocument { invoice, lines })
}

/// A page of the invoices in the caller's scope matching `filter`, oldest first.
#[tracing::instrument(skip_all)]
pub(crate) fn invoices(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &InvoiceFilter,
    page: &PageRequest,
) -> Result<Page<InvoiceRow>, Error> {
    check_range(filter.issued_from, filter.issued_to)?;
    let rows = invoices::list(conn, scope, filter, page)?;
    Ok(Page::from_rows(rows, page, |r| r.id.to_string()))
}

/// A credit note in the caller's scope, with its invoice and lines; not found otherwise.
#[tracing::instrument(skip_all, fields(credit_note_id = %id))]
pub(crate) fn credit_note(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: CreditNoteId,
) -> Result<CreditNoteDocument, Error> {
    let credit_note = credit_notes::find_in_scope(conn, scope, id)?
        .ok_or_else(|| Error::not_found("credit note"))?;
    let invoice = invoices::find(conn, credit_note.invoice_id)?
        .ok_or_else(|| Error::internal(&"credit note without its invoice"))?;
    let lines = lines::of_document(conn, &credit_note.id.to_string())?;
    Ok(CreditNoteDocument {
        header: CreditNoteHeader {
            credit_note,
            invoice,
        },
        lines,
    })
}

/// A page of the credit notes in the caller's scope matching `filter`, oldest first, each with
/// the invoice it cancels.
#[tracing::instrument(skip_all)]
pub(crate) fn credit_notes(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &CreditNoteFilter,
    page: &PageRequest,
) -> Result<Page<CreditNoteHeader>, Error> {
    check_range(filter.issued_from, filter.issued_to)?;
    let rows = credit_notes::list(conn, scope, filter, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    let ids = page
        .items
        .iter()
        .map(|r| r.invoice_id.to_string())
        .collect();
    let invoices = invoices::by_ids(conn, ids)?;
    let items = page
        .items
        .into_iter()
        .map(|credit_note| {
            let invoice = invoices
                .iter()
                .find(|i| i.id == credit_note.invoice_id)
                .cloned()
                .ok_or_else(|| Error::internal(&"credit note without its invoice"))?;
            Ok(CreditNoteHeader {
                credit_note,
                invoice,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}
