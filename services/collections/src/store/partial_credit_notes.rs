//! Partial credit notes as they came, once each, with what each left its invoice billing: the
//! record that lets one arriving before its invoice be applied when the receivable is created.

use carebill_domain::ids::{CreditNoteId, InvoiceId};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::partial_credit_notes;

/// A partial credit note.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = partial_credit_notes)]
pub(crate) struct PartialCreditNoteRow {
    /// The credit note.
    #[diesel(serialize_as = String)]
    pub credit_note_id: CreditNoteId,
    /// The invoice it reduces.
    #[diesel(serialize_as = String)]
    pub invoice_id: InvoiceId,
    /// Its number.
    pub credit_note_number: String,
    /// The currency of its amounts.
    pub currency: String,
    /// What it credits, in minor units.
    pub credited_minor: i64,
    /// What the invoice still bills after it, in minor units.
    pub remaining_minor: i64,
    /// Why.
    pub reason: String,
    /// When it arrived.
    pub received_at: NaiveDateTime,
}

/// Keeps a partial credit note (once: a redelivery changes nothing).
pub(crate) fn keep(conn: &mut AnyConnection, row: PartialCreditNoteRow) -> Result<(), Error> {
    carebill_platform::insert_new!(conn, partial_credit_notes::table, row);
    Ok(())
}

/// The least any partial credit note of `invoice_id` left it billing, in minor units (none: no
/// partial credit note).
pub(crate) fn least_remaining(
    conn: &mut AnyConnection,
    invoice_id: InvoiceId,
) -> Result<Option<i64>, Error> {
    Ok(partial_credit_notes::table
        .filter(partial_credit_notes::invoice_id.eq(invoice_id.to_string()))
        .select(diesel::dsl::min(partial_credit_notes::remaining_minor))
        .first(conn)?)
}
