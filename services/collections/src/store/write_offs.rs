//! Stored write-offs of receivables, and the small-balance threshold per currency.

use carebill_domain::collections::WriteOffKind;
use carebill_domain::ids::ReceivableId;
use carebill_domain::{Currency, MinorUnits};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{write_off_thresholds, write_offs};

/// A stored write-off.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = write_offs)]
pub(crate) struct WriteOffRow {
    /// Id (a UUIDv7).
    pub id: String,
    /// The receivable.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub receivable_id: ReceivableId,
    /// Bad debt, small balance or charity.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub kind: WriteOffKind,
    /// Amount, in minor units of the receivable's currency.
    pub amount_minor: i64,
    /// Why.
    pub reason: String,
    /// Who.
    pub recorded_by: String,
    /// When.
    pub recorded_at: NaiveDateTime,
}

/// A stored small-balance threshold.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = write_off_thresholds)]
pub(crate) struct ThresholdRow {
    /// Currency.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// The most a receivable may owe to be written off as a small balance, in minor units.
    pub max_minor: i64,
    /// Who set it.
    pub updated_by: String,
    /// When.
    pub updated_at: NaiveDateTime,
}

/// Stores a write-off.
pub(crate) fn insert(conn: &mut AnyConnection, row: WriteOffRow) -> Result<(), Error> {
    diesel::insert_into(write_offs::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The write-offs of a receivable, oldest first.
pub(crate) fn of_receivable(
    conn: &mut AnyConnection,
    receivable_id: ReceivableId,
) -> Result<Vec<WriteOffRow>, Error> {
    Ok(write_offs::table
        .filter(write_offs::receivable_id.eq(receivable_id.to_string()))
        .order(write_offs::id.asc())
        .select(WriteOffRow::as_select())
        .load(conn)?)
}

/// The small-balance threshold of a currency, if set.
pub(crate) fn threshold(
    conn: &mut AnyConnection,
    currency: Currency,
) -> Result<Option<MinorUnits>, Error> {
    Ok(write_off_thresholds::table
        .find(currency.to_string())
        .select(write_off_thresholds::max_minor)
        .first::<i64>(conn)
        .optional()?
        .map(MinorUnits))
}

/// Every threshold, by currency.
pub(crate) fn thresholds(conn: &mut AnyConnection) -> Result<Vec<ThresholdRow>, Error> {
    Ok(write_off_thresholds::table
        .order(write_off_thresholds::currency.asc())
        .select(ThresholdRow::as_select())
        .load(conn)?)
}

/// Locks a currency's threshold key until the transaction ends.
pub(crate) fn lock_threshold(conn: &mut AnyConnection, currency: Currency) -> Result<(), Error> {
    Ok(carebill_platform::db::lock_key(
        conn,
        &format!("write-off-threshold:{currency}"),
    )?)
}

/// Sets a currency's threshold (replacing the one before); the caller holds its key.
pub(crate) fn set_threshold(conn: &mut AnyConnection, row: ThresholdRow) -> Result<(), Error> {
    let n = diesel::update(write_off_thresholds::table.find(row.currency.to_string()))
        .set((
            write_off_thresholds::max_minor.eq(row.max_minor),
            write_off_thresholds::updated_by.eq(row.updated_by.clone()),
            write_off_thresholds::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(write_off_thresholds::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(())
}
