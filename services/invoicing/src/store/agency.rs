//! What an agency invoice is besides an invoice (`agency_invoices`, seed 004): what it bills,
//! the approval, timesheet and carer it comes from, the note it carries and its payee; and the
//! commissions approvals earned, pending until their period's commission invoice
//! (`agency_commissions`).

use carebill_domain::agency_invoices::{AgencyPurpose, CommissionEntry};
use carebill_domain::events::{LocationRef, PartyRef};
use carebill_domain::ids::{
    ApprovalId, CarerId, ConsumptionId, InvoiceId, LocationId, TimesheetId,
};
use carebill_domain::invoicing::money;
use carebill_domain::{Currency, stored};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::invoices::{StoredParty, parse_optional};
use crate::schema::{agency_commissions, agency_invoices};

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
    /// The approval of hours it comes from (a commission invoice bills a period: none; see
    /// [`AgencyInvoiceRow::approval`]).
    pub approval_id: Option<String>,
    /// The timesheet approved (none for a commission invoice).
    pub timesheet_id: Option<String>,
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
    /// The approval it bills, if one.
    pub(crate) fn approval(&self) -> Result<Option<ApprovalId>, Error> {
        parse_optional("approval id", self.approval_id.as_deref())
    }

    /// The timesheet it bills, if one.
    pub(crate) fn timesheet(&self) -> Result<Option<TimesheetId>, Error> {
        parse_optional("timesheet id", self.timesheet_id.as_deref())
    }

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

/// A commission an approval earned (`agency_commissions`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agency_commissions)]
pub(crate) struct CommissionRow {
    /// The approval (one commission each).
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub approval_id: ApprovalId,
    /// The agency.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub location_id: LocationId,
    /// The agency's data as the approval announced it, JSON ([`LocationRef`]).
    pub location: String,
    /// The carer.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub carer_id: CarerId,
    /// The carer as the buyer, JSON ([`PartyRef`]).
    pub carer: String,
    /// The timesheet approved.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub timesheet_id: TimesheetId,
    /// The placement.
    pub placement_reference: String,
    /// The id of its line on the invoice.
    pub line_id: String,
    /// The approved period.
    pub period_start: NaiveDate,
    /// Its last day.
    pub period_end: NaiveDate,
    /// When the period began (UTC).
    pub performed_at: NaiveDateTime,
    /// The hours (decimal text).
    pub hours: String,
    /// Currency of the amounts.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// What the hours are worth, minor units.
    pub hours_value_minor: i64,
    /// The commission, minor units.
    pub commission_minor: i64,
    /// The approval's invoice date: the period it counts in.
    pub invoice_date: NaiveDate,
    /// When it was recorded.
    pub created_at: NaiveDateTime,
    /// The commission invoice that bills it, once issued.
    pub invoice_id: Option<String>,
}

impl CommissionRow {
    /// The line it gives.
    pub(crate) fn entry(&self) -> Result<CommissionEntry, Error> {
        Ok(CommissionEntry {
            line_id: stored::parse::<ConsumptionId>("commission line id", &self.line_id)?,
            placement_reference: self.placement_reference.clone(),
            period_start: self.period_start,
            period_end: self.period_end,
            performed_at: self.performed_at.and_utc(),
            hours: stored::parse("commission hours", &self.hours)?,
            hours_value: money(self.hours_value_minor, self.currency),
            commission: money(self.commission_minor, self.currency),
        })
    }

    /// The agency as announced.
    pub(crate) fn location(&self) -> Result<LocationRef, Error> {
        Ok(stored::json("commission location", &self.location)?)
    }

    /// The carer as the buyer.
    pub(crate) fn carer(&self) -> Result<PartyRef, Error> {
        Ok(stored::json("commission carer", &self.carer)?)
    }
}

/// Records an approval's commission, pending (once: a second record of the same approval is
/// ignored).
pub(crate) fn record_commission(conn: &mut AnyConnection, row: CommissionRow) -> Result<(), Error> {
    carebill_platform::insert_new!(conn, agency_commissions::table, row);
    Ok(())
}

/// The agencies with commissions pending: each one's id, the earliest invoice date among its
/// pending commissions, and its time zone.
pub(crate) fn pending_locations(
    conn: &mut AnyConnection,
) -> Result<Vec<(LocationId, NaiveDate, String)>, Error> {
    let rows: Vec<(String, Option<NaiveDate>, Option<String>)> = agency_commissions::table
        .filter(agency_commissions::invoice_id.is_null())
        .group_by(agency_commissions::location_id)
        .select((
            agency_commissions::location_id,
            diesel::dsl::min(agency_commissions::invoice_date),
            diesel::dsl::max(agency_commissions::location),
        ))
        .load(conn)?;
    let mut out = Vec::with_capacity(rows.len());
    for (id, first, location) in rows {
        if let (Some(first), Some(location)) = (first, location) {
            let l: LocationRef = stored::json("commission location", &location)?;
            out.push((stored::parse("location id", &id)?, first, l.time_zone));
        }
    }
    Ok(out)
}

/// An agency's pending commissions dated up to `through`, by carer and currency, then date,
/// period and approval.
pub(crate) fn pending(
    conn: &mut AnyConnection,
    location: LocationId,
    through: NaiveDate,
) -> Result<Vec<CommissionRow>, Error> {
    Ok(agency_commissions::table
        .filter(agency_commissions::location_id.eq(location.to_string()))
        .filter(agency_commissions::invoice_id.is_null())
        .filter(agency_commissions::invoice_date.le(through))
        .order((
            agency_commissions::carer_id,
            agency_commissions::currency,
            agency_commissions::invoice_date,
            agency_commissions::period_start,
            agency_commissions::approval_id,
        ))
        .select(CommissionRow::as_select())
        .load(conn)?)
}

/// Marks commissions billed by an invoice.
pub(crate) fn bill_commissions(
    conn: &mut AnyConnection,
    approvals: &[ApprovalId],
    invoice: InvoiceId,
) -> Result<(), Error> {
    let ids: Vec<String> = approvals.iter().map(ToString::to_string).collect();
    diesel::update(
        agency_commissions::table
            .filter(agency_commissions::approval_id.eq_any(ids))
            .filter(agency_commissions::invoice_id.is_null()),
    )
    .set(agency_commissions::invoice_id.eq(invoice.to_string()))
    .execute(conn)?;
    Ok(())
}
