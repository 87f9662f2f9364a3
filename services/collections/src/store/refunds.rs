//! Stored refunds: a payment's credit paid back to its party.

use carebill_domain::ids::PaymentId;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::refunds;

/// A stored refund.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refunds)]
pub(crate) struct RefundRow {
    /// Id (a UUIDv7).
    pub id: String,
    /// The payment whose credit it pays back.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub payment_id: PaymentId,
    /// Amount, in minor units of the payment's currency.
    pub amount_minor: i64,
    /// Method code.
    pub method: String,
    /// Its reference.
    pub reference: Option<String>,
    /// Why.
    pub reason: String,
    /// Day paid back.
    pub refunded_on: NaiveDate,
    /// Who issued it.
    pub issued_by: String,
    /// When.
    pub issued_at: NaiveDateTime,
}

/// Stores a refund.
pub(crate) fn insert(conn: &mut AnyConnection, row: RefundRow) -> Result<(), Error> {
    diesel::insert_into(refunds::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The refunds of these payments, oldest first.
pub(crate) fn of_payments(
    conn: &mut AnyConnection,
    payment_ids: &[PaymentId],
) -> Result<Vec<RefundRow>, Error> {
    let ids: Vec<String> = payment_ids.iter().map(ToString::to_string).collect();
    Ok(refunds::table
        .filter(refunds::payment_id.eq_any(ids))
        .order(refunds::id.asc())
        .select(RefundRow::as_select())
        .load(conn)?)
}
