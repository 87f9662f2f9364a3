//! Stored disputes of receivables: open while `resolved_at` is empty, at most one open per
//! receivable (a unique partial index keeps it so under concurrency).

use carebill_domain::ids::ReceivableId;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::receivable_disputes;

/// A stored dispute.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = receivable_disputes)]
pub(crate) struct DisputeRow {
    /// Id (a UUIDv7).
    pub id: String,
    /// The receivable.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub receivable_id: ReceivableId,
    /// Why the party disputes it.
    pub reason: String,
    /// When it was opened.
    pub opened_at: NaiveDateTime,
    /// Who opened it.
    pub opened_by: String,
    /// When it was resolved.
    pub resolved_at: Option<NaiveDateTime>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// How.
    pub resolution: Option<String>,
}

/// Stores a new (open) dispute.
pub(crate) fn insert(conn: &mut AnyConnection, row: DisputeRow) -> Result<(), Error> {
    diesel::insert_into(receivable_disputes::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The open dispute of a receivable, if any.
pub(crate) fn open_of(
    conn: &mut AnyConnection,
    receivable_id: ReceivableId,
) -> Result<Option<DisputeRow>, Error> {
    Ok(receivable_disputes::table
        .filter(receivable_disputes::receivable_id.eq(receivable_id.to_string()))
        .filter(receivable_disputes::resolved_at.is_null())
        .select(DisputeRow::as_select())
        .first(conn)
        .optional()?)
}

/// The open disputes of these receivables.
pub(crate) fn open_of_many(
    conn: &mut AnyConnection,
    receivable_ids: &[ReceivableId],
) -> Result<Vec<DisputeRow>, Error> {
    if receivable_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = receivable_ids.iter().map(ToString::to_string).collect();
    Ok(receivable_disputes::table
        .filter(receivable_disputes::receivable_id.eq_any(ids))
        .filter(receivable_disputes::resolved_at.is_null())
        .select(DisputeRow::as_select())
        .load(conn)?)
}

/// Every dispute of a receivable, oldest first.
pub(crate) fn of_receivable(
    conn: &mut AnyConnection,
    receivable_id: ReceivableId,
) -> Result<Vec<DisputeRow>, Error> {
    Ok(receivable_disputes::table
        .filter(receivable_disputes::receivable_id.eq(receivable_id.to_string()))
        .order(receivable_disputes::id.asc())
        .select(DisputeRow::as_select())
        .load(conn)?)
}

/// Resolves an open dispute.
pub(crate) fn resolve(
    conn: &mut AnyConnection,
    id: &str,
    resolution: &str,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(
        receivable_disputes::table
            .find(id)
            .filter(receivable_disputes::resolved_at.is_null()),
    )
    .set((
        receivable_disputes::resolved_at.eq(Some(at)),
        receivable_disputes::resolved_by.eq(Some(by)),
        receivable_disputes::resolution.eq(Some(resolution)),
    ))
    .execute(conn)?;
    Ok(())
}
