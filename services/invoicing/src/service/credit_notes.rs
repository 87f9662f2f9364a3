//! Credit notes: the only way to cancel an invoice. A credit note is full — it mirrors its
//! invoice line by line and credits its total — and numbered in the location's own credit-note
//! series. The invoice becomes `cancelled` and its consumptions billable again for the same
//! party; `carebill.invoicing.credit_note.issued.v1` tells settlement (which, with `reissue`,
//! reopens the settlement for correction and approves a new version) and collections.

use carebill_domain::events::{CreditNoteIssuedV1, Envelope};
use carebill_domain::ids::{CreditNoteId, InvoiceId};
use carebill_domain::invoicing::{DocumentKind, InvoiceStatus, credit_note_for, issue_date};
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use carebill_platform::{Error, ErrorCode};
use chrono::Datelike as _;

use super::documents::{self, CreditNoteDocument};
use crate::SERVICE;
use crate::store::credit_notes::{self, CreditNoteRow};
use crate::store::{billed, invoices, lines, series, to_minor};

/// Cancels invoice `id` with a full credit note, in the caller's transaction: numbered,
/// stored with its lines, the invoice cancelled and its consumptions released, audited and
/// announced. Not found outside the caller's scope; `already_credited` when cancelled already.
#[tracing::instrument(skip_all, fields(invoice_id = %id))]
pub(crate) fn credit(
    conn: &mut AnyConnection,
    who: &Principal,
    id: InvoiceId,
    reason: &str,
    reissue: bool,
) -> Result<CreditNoteDocument, Error> {
    let scope = Scope::of(who);
    // The scope first, with a plain read: an invoice outside it is not found, and not locked.
    if invoices::find_in_scope(conn, &scope, id)?.is_none() {
        return Err(Error::not_found("invoice"));
    }
    // Two credits of one invoice never both pass the status check: lock, then read it again.
    invoices::lock(conn, id)?;
    let invoice =
        invoices::find_in_scope(conn, &scope, id)?.ok_or_else(|| Error::not_found("invoice"))?;
    if invoice.status != InvoiceStatus::Issued {
        return Err(Error::new(
            ErrorCode::AlreadyCredited,
            format!(
                "invoice {} is already cancelled by a credit note",
                invoice.number
            ),
        ));
    }
    let recipient = invoice.recipient()?;
    let lines = lines::of_document(conn, &id.to_string())?
        .iter()
        .map(lines::LineRow::domain)
        .collect::<Result<Vec<_>, _>>()?;
    let plan =
        credit_note_for(&recipient, &lines, invoice.total()).map_err(|e| Error::internal(&e))?;
    // The series is locked before the clock is read, so numbers follow issue times (a year
    // turning meanwhile: the new year's series is locked too, below).
    let year = issue_date(db::now().and_utc(), &invoice.location_time_zone)
        .map_err(|e| Error::internal(&e))?
        .year();
    series::lock_series(conn, invoice.location_id, DocumentKind::CreditNote, year)?;
    let now = db::now();
    let issued_on =
        issue_date(now.and_utc(), &invoice.location_time_zone).map_err(|e| Error::internal(&e))?;
    let number = series::next_number(
        conn,
        invoice.location_id,
        &invoice.location_code,
        DocumentKind::CreditNote,
        issued_on.year(),
    )?;
    let cn_id = CreditNoteId::new();
    credit_notes::insert(
        conn,
        CreditNoteRow {
            id: cn_id,
            number: number.clone(),
            invoice_id: invoice.id,
            invoice_number: invoice.number.clone(),
            location_id: invoice.location_id,
            location_code: invoice.location_code.clone(),
            recipient_kind: invoice.recipient_kind,
            payer_code: invoice.payer_code.clone(),
            patient_id: invoice.patient_id,
            settlement_id: invoice.settlement_id,
            currency: invoice.currency,
            total_minor: to_minor(&plan.total)?,
            tax_total_minor: to_minor(&plan.tax_total)?,
            reason: reason.to_owned(),
            reissue,
            issue_date: issued_on,
            issued_by: who.subject.clone(),
            created_at: now,
            issued_at: now,
        },
    )?;
    let cn_key = cn_id.to_string();
    lines::insert(conn, &cn_key, &plan.lines)?;
    invoices::cancel(conn, id, cn_id, now)?;
    billed::release_invoice(conn, id)?;
    let issued = CreditNoteIssuedV1 {
        credit_note_id: cn_id,
        number: number.clone(),
        invoice_id: invoice.id,
        invoice_number: invoice.number.clone(),
        location_id: invoice.location_id,
        recipient,
        settlement_id: invoice.settlement_id,
        settlement_version: invoice.settlement_version,
        consumption_ids: plan.lines.iter().map(|l| l.consumption_id).collect(),
        total: plan.total,
        reason: reason.to_owned(),
        reissue,
        issue_date: issued_on,
        issued_by: who.subject.clone(),
        issued_at: now.and_utc(),
    };
    let env = Envelope::new(
        SERVICE,
        &issued,
        now.and_utc(),
        who.request_id.clone(),
        who.request_id.clone(),
    )
    .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)?;
    let invoice_key = id.to_string();
    let location_key = invoice.location_id.to_string();
    audit::record_many(
        conn,
        who,
        &[
            Change {
                action: "credit",
                entity_type: "invoice",
                entity_id: &invoice_key,
                location_id: Some(&location_key),
                changes: Snapshot::Json(serde_json::json!({
                    "status": { "before": InvoiceStatus::Issued, "after": InvoiceStatus::Cancelled },
                    "credit_note": { "id": cn_id, "number": number },
                    "reissue": reissue,
                })),
                reason: Some(reason),
            },
            Change {
                action: "issue",
                entity_type: "credit_note",
                entity_id: &cn_key,
                location_id: Some(&location_key),
                changes: Snapshot::Json(serde_json::json!({ "after": {
                    "number": number,
                    "invoice_id": invoice.id,
                    "invoice_number": invoice.number,
                    "total": plan.total,
                    "reissue": reissue,
                }})),
                reason: Some(reason),
            },
        ],
    )?;
    documents::credit_note(conn, &scope, cn_id)
}
