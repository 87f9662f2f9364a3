//! Stored allocations of payments to receivables: made, reversed by a credit note, and read as
//! a payment's or a receivable's history.

use carebill_domain::ids::{CreditNoteId, PaymentId, ReceivableId};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{allocations, payments, receivables};

/// A new allocation.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = allocations, treat_none_as_default_value = false)]
pub(crate) struct NewAllocationRow {
    /// Id (a UUIDv7).
    pub id: String,
    /// The payment.
    #[diesel(serialize_as = String)]
    pub payment_id: PaymentId,
    /// The receivable.
    #[diesel(serialize_as = String)]
    pub receivable_id: ReceivableId,
    /// Amount, in minor units.
    pub amount_minor: i64,
    /// Who.
    pub allocated_by: String,
    /// When.
    pub allocated_at: NaiveDateTime,
}

/// An allocation not reversed yet.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = allocations)]
pub(crate) struct ActiveAllocation {
    /// Id.
    pub id: String,
    /// The payment.
    #[diesel(deserialize_as = String)]
    pub payment_id: PaymentId,
    /// Amount, in minor units.
    pub amount_minor: i64,
}

/// An allocation as a payment shows it, with its receivable's invoice.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct PaymentAllocationRow {
    /// The payment.
    pub payment_id: String,
    /// Id.
    pub id: String,
    /// The receivable.
    pub receivable_id: String,
    /// Its invoice.
    pub invoice_id: String,
    /// The invoice number.
    pub invoice_number: String,
    /// Amount, in minor units.
    pub amount_minor: i64,
    /// When.
    pub allocated_at: NaiveDateTime,
    /// Who.
    pub allocated_by: String,
    /// When reversed.
    pub reversed_at: Option<NaiveDateTime>,
    /// By which credit note.
    pub reversed_by_credit_note_id: Option<String>,
}

/// An allocation as a receivable shows it, with its payment's day and method.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct ReceivableAllocationRow {
    /// Id.
    pub id: String,
    /// The payment.
    pub payment_id: String,
    /// Day the payment was received.
    pub received_on: NaiveDate,
    /// Payment method.
    pub method: String,
    /// Amount, in minor units.
    pub amount_minor: i64,
    /// When.
    pub allocated_at: NaiveDateTime,
    /// When reversed.
    pub reversed_at: Option<NaiveDateTime>,
    /// By which credit note.
    pub reversed_by_credit_note_id: Option<String>,
}

/// Stores a new allocation.
pub(crate) fn insert(conn: &mut AnyConnection, row: NewAllocationRow) -> Result<(), Error> {
    diesel::insert_into(allocations::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Stores new allocations, many rows per statement.
pub(crate) fn insert_many(
    conn: &mut AnyConnection,
    rows: Vec<NewAllocationRow>,
) -> Result<(), Error> {
    insert_rows!(conn, allocations::table, rows);
    Ok(())
}

/// The allocations to a receivable not reversed yet, in payment id order.
pub(crate) fn active_for(
    conn: &mut AnyConnection,
    receivable_id: ReceivableId,
) -> Result<Vec<ActiveAllocation>, Error> {
    Ok(allocations::table
        .filter(allocations::receivable_id.eq(receivable_id.to_string()))
        .filter(allocations::reversed_at.is_null())
        .order(allocations::payment_id.asc())
        .select(ActiveAllocation::as_select())
        .load(conn)?)
}

/// Marks an allocation reversed by a credit note.
pub(crate) fn reverse(
    conn: &mut AnyConnection,
    id: &str,
    credit_note_id: CreditNoteId,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(allocations::table.find(id))
        .set((
            allocations::reversed_at.eq(Some(at)),
            allocations::reversed_by_credit_note_id.eq(Some(credit_note_id.to_string())),
        ))
        .execute(conn)?;
    Ok(())
}

/// The allocations of these payments, oldest first; only those to receivables of these
/// locations when given.
pub(crate) fn of_payments(
    conn: &mut AnyConnection,
    payment_ids: Vec<String>,
    locations: Option<&[String]>,
) -> Result<Vec<PaymentAllocationRow>, Error> {
    let mut q = allocations::table
        .inner_join(receivables::table)
        .filter(allocations::payment_id.eq_any(payment_ids))
        .select((
            allocations::payment_id,
            allocations::id,
            allocations::receivable_id,
            receivables::invoice_id,
            receivables::invoice_number,
            allocations::amount_minor,
            allocations::allocated_at,
            allocations::allocated_by,
            allocations::reversed_at,
            allocations::reversed_by_credit_note_id,
        ))
        .order(allocations::id.asc())
        .into_boxed();
    if let Some(codes) = locations {
        q = q.filter(receivables::location_code.eq_any(codes.to_vec()));
    }
    Ok(q.load(conn)?)
}

/// The allocations to a receivable, oldest first, reversed ones included.
pub(crate) fn of_receivable(
    conn: &mut AnyConnection,
    receivable_id: ReceivableId,
) -> Result<Vec<ReceivableAllocationRow>, Error> {
    Ok(allocations::table
        .inner_join(payments::table)
        .filter(allocations::receivable_id.eq(receivable_id.to_string()))
        .order(allocations::id.asc())
        .select((
            allocations::id,
            allocations::payment_id,
            payments::received_on,
            payments::method,
            allocations::amount_minor,
            allocations::allocated_at,
            allocations::reversed_at,
            allocations::reversed_by_credit_note_id,
        ))
        .load(conn)?)
}
