//! The `agency_pricings` table: each approval of a carer's hours priced once.

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::agency_pricings;

/// A priced approval as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = agency_pricings)]
pub struct PricingRow {
    /// The approval (accounts' id).
    pub approval_id: String,
    /// Its timesheet.
    pub timesheet_id: String,
    /// The agency's code.
    pub location_code: String,
    /// The carer.
    pub carer_id: String,
    /// Currency.
    pub currency: String,
    /// What the hours are worth, minor units.
    pub total_minor: i64,
    /// The commission, minor units.
    pub commission_minor: i64,
    /// The prices, JSON as announced.
    pub priced: String,
    /// The business conditions' version applied.
    pub conditions_version: Option<i32>,
    /// When.
    pub priced_at: NaiveDateTime,
}

/// Whether the approval was priced already.
pub fn exists(conn: &mut AnyConnection, approval_id: &str) -> Result<bool, Error> {
    Ok(agency_pricings::table
        .find(approval_id)
        .count()
        .get_result::<i64>(conn)?
        > 0)
}

/// Stores a priced approval.
pub fn insert(conn: &mut AnyConnection, row: PricingRow) -> Result<(), Error> {
    diesel::insert_into(agency_pricings::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}
