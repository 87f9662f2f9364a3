//! What has been billed already: the (consumption, party) pairs on active invoices, the
//! settlement versions invoiced, and the per-settlement lock that keeps two replicas from
//! invoicing two versions of one settlement at once.

use std::collections::HashSet;

use carebill_domain::ids::{ConsumptionId, InvoiceId, SettlementId};
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{billed_consumptions, invoiced_settlements};

/// A consumption billed to a party on an invoice.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = billed_consumptions)]
pub(crate) struct BilledRow {
    /// The invoice.
    #[diesel(serialize_as = String)]
    pub invoice_id: InvoiceId,
    /// The consumption.
    #[diesel(serialize_as = String)]
    pub consumption_id: ConsumptionId,
    /// The party billed ([`carebill_domain::events::PartyRef::key`]).
    pub party_key: String,
    /// The settlement the consumption belongs to.
    #[diesel(serialize_as = String)]
    pub settlement_id: SettlementId,
    /// Whether the invoice still stands (false once credited).
    pub active: bool,
}

/// A settlement version seen and invoiced.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = invoiced_settlements)]
pub(crate) struct InvoicedSettlementRow {
    /// The settlement.
    #[diesel(serialize_as = String)]
    pub settlement_id: SettlementId,
    /// Its approved version.
    pub version: i32,
    /// The approval event.
    pub event_id: String,
    /// How many invoices it gave.
    pub invoices: i32,
    /// When.
    pub processed_at: NaiveDateTime,
}

/// Locks a settlement until the transaction ends (PostgreSQL advisory lock on
/// `settlement:{id}`).
pub(crate) fn lock_settlement(conn: &mut AnyConnection, id: SettlementId) -> Result<(), Error> {
    Ok(db::lock_key(conn, &format!("settlement:{id}"))?)
}

/// The latest version of the settlement invoiced, if any.
pub(crate) fn latest_invoiced_version(
    conn: &mut AnyConnection,
    settlement_id: SettlementId,
) -> Result<Option<i32>, Error> {
    Ok(invoiced_settlements::table
        .filter(invoiced_settlements::settlement_id.eq(settlement_id.to_string()))
        .select(diesel::dsl::max(invoiced_settlements::version))
        .first(conn)?)
}

/// Records a settlement version as invoiced.
pub(crate) fn record_invoiced(
    conn: &mut AnyConnection,
    row: InvoicedSettlementRow,
) -> Result<(), Error> {
    diesel::insert_into(invoiced_settlements::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// The (consumption id, party key) pairs of a settlement that are on an active invoice. Looked
/// up by the settlement (an indexed equality; every consumption belongs to one settlement), not
/// by a list of consumption ids, whose plan PostgreSQL may cache from when the table was empty.
pub(crate) fn active_pairs(
    conn: &mut AnyConnection,
    settlement_id: SettlementId,
) -> Result<HashSet<(String, String)>, Error> {
    let rows: Vec<(String, String)> = billed_consumptions::table
        .filter(billed_consumptions::settlement_id.eq(settlement_id.to_string()))
        .filter(billed_consumptions::active)
        .select((
            billed_consumptions::consumption_id,
            billed_consumptions::party_key,
        ))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Stores billed pairs.
pub(crate) fn insert(conn: &mut AnyConnection, rows: Vec<BilledRow>) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, billed_consumptions::table, rows);
    Ok(())
}

/// Makes the consumptions of a credited invoice billable again.
pub(crate) fn release_invoice(
    conn: &mut AnyConnection,
    invoice_id: InvoiceId,
) -> Result<(), Error> {
    diesel::update(
        billed_consumptions::table
            .filter(billed_consumptions::invoice_id.eq(invoice_id.to_string())),
    )
    .set(billed_consumptions::active.eq(false))
    .execute(conn)?;
    Ok(())
}
