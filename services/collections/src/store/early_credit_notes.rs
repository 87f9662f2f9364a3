//! Credit notes that arrived before the invoice they cancel, kept until its receivable exists.

use carebill_domain::ids::{CreditNoteId, InvoiceId};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::early_credit_notes;

/// A credit note waiting for its invoice.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = early_credit_notes)]
pub(crate) struct EarlyCreditNoteRow {
    /// The invoice it cancels.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub invoice_id: InvoiceId,
    /// The credit note.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub credit_note_id: CreditNoteId,
    /// Its number.
    pub credit_note_number: String,
    /// Why.
    pub reason: String,
    /// When it arrived.
    pub received_at: NaiveDateTime,
    /// When its receivable was cancelled with it.
    pub applied_at: Option<NaiveDateTime>,
}

/// The credit note waiting for `invoice_id`, if any and not applied yet.
pub(crate) fn pending(
    conn: &mut AnyConnection,
    invoice_id: InvoiceId,
) -> Result<Option<EarlyCreditNoteRow>, Error> {
    Ok(early_credit_notes::table
        .find(invoice_id.to_string())
        .filter(early_credit_notes::applied_at.is_null())
        .select(EarlyCreditNoteRow::as_select())
        .first(conn)
        .optional()?)
}

/// Keeps a credit note for its invoice (once: a redelivery changes nothing).
pub(crate) fn keep(conn: &mut AnyConnection, row: EarlyCreditNoteRow) -> Result<(), Error> {
    carebill_platform::insert_new!(conn, early_credit_notes::table, row);
    Ok(())
}

/// Marks the credit note of `invoice_id` applied.
pub(crate) fn mark_applied(
    conn: &mut AnyConnection,
    invoice_id: InvoiceId,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(early_credit_notes::table.find(invoice_id.to_string()))
        .set(early_credit_notes::applied_at.eq(Some(at)))
        .execute(conn)?;
    Ok(())
}
