//! Stored tax rules: the row, lookups, the list, and the rules of one country.

use carebill_domain::ids::TaxRuleId;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::tax_rules;

/// A stored tax rule.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tax_rules)]
pub(crate) struct TaxRuleRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: TaxRuleId,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// Only this catalog code.
    pub catalog_code: Option<String>,
    /// Only this service group.
    pub service_group: Option<String>,
    /// UNCL 5305 category code.
    pub category: String,
    /// Rate in percent (decimal text).
    pub rate: String,
    /// VATEX exemption reason code.
    pub exemption_reason_code: Option<String>,
    /// Exemption reason text.
    pub exemption_reason: Option<String>,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
    /// Free text.
    pub description: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// Stores a new rule.
pub(crate) fn insert(conn: &mut AnyConnection, row: TaxRuleRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, tax_rules::table, vec![row]);
    Ok(())
}

/// Replaces a rule's terms (its id, creator and creation stay).
pub(crate) fn replace(conn: &mut AnyConnection, row: &TaxRuleRow) -> Result<(), Error> {
    diesel::update(tax_rules::table.find(row.id.to_string()))
        .set((
            tax_rules::country.eq(&row.country),
            tax_rules::catalog_code.eq(&row.catalog_code),
            tax_rules::service_group.eq(&row.service_group),
            tax_rules::category.eq(&row.category),
            tax_rules::rate.eq(&row.rate),
            tax_rules::exemption_reason_code.eq(&row.exemption_reason_code),
            tax_rules::exemption_reason.eq(&row.exemption_reason),
            tax_rules::valid_from.eq(row.valid_from),
            tax_rules::valid_to.eq(row.valid_to),
            tax_rules::description.eq(&row.description),
        ))
        .execute(conn)?;
    Ok(())
}

/// A rule by id.
pub(crate) fn find(conn: &mut AnyConnection, id: TaxRuleId) -> Result<Option<TaxRuleRow>, Error> {
    Ok(tax_rules::table
        .find(id.to_string())
        .select(TaxRuleRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every rule of a country.
pub(crate) fn of_country(
    conn: &mut AnyConnection,
    country: &str,
) -> Result<Vec<TaxRuleRow>, Error> {
    Ok(tax_rules::table
        .filter(tax_rules::country.eq(country))
        .order(tax_rules::id.asc())
        .select(TaxRuleRow::as_select())
        .load(conn)?)
}

/// Up to `page.limit + 1` rules, of one country when given, in id order.
pub(crate) fn list(
    conn: &mut AnyConnection,
    country: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<TaxRuleRow>, Error> {
    let mut q = tax_rules::table
        .select(TaxRuleRow::as_select())
        .into_boxed();
    if let Some(c) = country {
        q = q.filter(tax_rules::country.eq(c.to_owned()));
    }
    if let Some(after) = &page.after {
        q = q.filter(tax_rules::id.gt(after.clone()));
    }
    Ok(q.order(tax_rules::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
