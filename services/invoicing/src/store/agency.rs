//! What an agency invoice is besides an invoice (`agency_invoices`, seed 004): what it bills,
//! the approval, timesheet and carer it comes from, the note it carries and its payee.

use carebill_domain::agency_invoices::AgencyPurpose;
use carebill_domain::ids::{ApprovalId, CarerId, InvoiceId, TimesheetId};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use diesel::prelude::*;

use super::invoices::StoredParty;
use crate::schema::agency_invoices;

/// An agency invoice's own facts.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agency_invoices)]
pub(crate) struct AgencyInvoiceRow {
    /// The invoice.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub invoice_id: InvoiceId,
    /// What it bills.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub purpose: AgencyPurpose,
    /// The approval of hours it comes from.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub approval_id: ApprovalId,
    /// The timesheet approved.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub timesheet_id: TimesheetId,
    /// The carer.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub carer_id: CarerId,
    /// The placement's reference (what the buyer knows the invoice by, BT-10, unless it asked
    /// for another).
    pub placement_reference: String,
    /// The free text the document carries (BT-22).
    pub note: Option<String>,
    /// Who receives the payment when not the seller, JSON ([`StoredParty`]).
    pub payee: Option<String>,
    /// The prefix of the carer's series a self-billed invoice was numbered in, which its
    /// credit notes are numbered in too.
    pub series_prefix: Option<String>,
}

impl AgencyInvoiceRow {
    /// The payee as issued.
    pub(crate) fn payee(&self) -> Result<Option<StoredParty>, Error> {
        self.payee
            .as_deref()
            .map(|t| carebill_domain::stored::json("agency invoice payee", t).map_err(Error::from))
            .transpose()
    }
}

/// Stores an agency invoice's facts (its invoice row first).
pub(crate) fn insert(conn: &mut AnyConnection, rows: Vec<AgencyInvoiceRow>) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, agency_invoices::table, rows);
    Ok(())
}

/// Whether the invoices of an approval were issued.
pub(crate) fn approval_invoiced(
    conn: &mut AnyConnection,
    approval: ApprovalId,
) -> Result<bool, Error> {
    let n: i64 = agency_invoices::table
        .filter(agency_invoices::approval_id.eq(approval.to_string()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The agency facts of these invoices (invoices of settlements are absent).
pub(crate) fn of(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<AgencyInvoiceRow>, Error> {
    Ok(agency_invoices::table
        .filter(agency_invoices::invoice_id.eq_any(ids))
        .select(AgencyInvoiceRow::as_select())
        .load(conn)?)
}
