//! Stored tenders: the parts of one payment paid by different methods (card, cash, voucher),
//! in the order given; they add up to the payment.

use carebill_domain::ids::PaymentId;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use diesel::prelude::*;

use crate::schema::payment_tenders;

/// A stored tender.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_tenders)]
pub(crate) struct TenderRow {
    /// The payment.
    pub payment_id: String,
    /// Position in the payment, from 0.
    pub line_no: i64,
    /// Method code.
    pub method: String,
    /// Amount, in minor units of the payment's currency.
    pub amount_minor: i64,
    /// Its reference (card slip, voucher number).
    pub reference: Option<String>,
}

/// Stores a payment's tenders (one statement each: a payment has a few).
pub(crate) fn insert(conn: &mut AnyConnection, rows: Vec<TenderRow>) -> Result<(), Error> {
    for row in rows {
        diesel::insert_into(payment_tenders::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}

/// The tenders of these payments, by payment and position.
pub(crate) fn of_payments(
    conn: &mut AnyConnection,
    payment_ids: &[PaymentId],
) -> Result<Vec<TenderRow>, Error> {
    let ids: Vec<String> = payment_ids.iter().map(ToString::to_string).collect();
    Ok(payment_tenders::table
        .filter(payment_tenders::payment_id.eq_any(ids))
        .order((
            payment_tenders::payment_id.asc(),
            payment_tenders::line_no.asc(),
        ))
        .select(TenderRow::as_select())
        .load(conn)?)
}
