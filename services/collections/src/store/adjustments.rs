//! Stored adjustments of receivables: signed changes of what each owes.

use carebill_domain::collections::plans::AdjustmentKind;
use carebill_domain::ids::ReceivableId;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::receivable_adjustments;

/// A stored adjustment.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = receivable_adjustments)]
pub(crate) struct AdjustmentRow {
    /// Id (a UUIDv7).
    pub id: String,
    /// The receivable.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub receivable_id: ReceivableId,
    /// Fee, interest or correction.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub kind: AdjustmentKind,
    /// Signed amount, in minor units of the receivable's currency.
    pub amount_minor: i64,
    /// Why.
    pub reason: String,
    /// Who.
    pub recorded_by: String,
    /// When.
    pub recorded_at: NaiveDateTime,
}

/// Stores an adjustment.
pub(crate) fn insert(conn: &mut AnyConnection, row: AdjustmentRow) -> Result<(), Error> {
    diesel::insert_into(receivable_adjustments::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The adjustments of a receivable, oldest first.
pub(crate) fn of_receivable(
    conn: &mut AnyConnection,
    receivable_id: ReceivableId,
) -> Result<Vec<AdjustmentRow>, Error> {
    Ok(receivable_adjustments::table
        .filter(receivable_adjustments::receivable_id.eq(receivable_id.to_string()))
        .order(receivable_adjustments::id.asc())
        .select(AdjustmentRow::as_select())
        .load(conn)?)
}

/// Stores adjustments, many rows per statement.
pub(crate) fn insert_many(conn: &mut AnyConnection, rows: Vec<AdjustmentRow>) -> Result<(), Error> {
    insert_rows!(conn, receivable_adjustments::table, rows);
    Ok(())
}
