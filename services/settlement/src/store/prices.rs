//! The price list as stored: one row per entry (code, validity, location, payer, qualifiers,
//! package components), never edited but for its end.

use carebill_domain::settlement::{PriceEntry, PriceQualifiers};
use carebill_domain::stored::json;
use carebill_domain::{Currency, Money};
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::prices;

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = prices)]
/// A price-list entry as stored.
pub struct PriceRow {
    /// Column `id`.
    pub id: String,
    /// Column `code`.
    pub code: String,
    /// Column `unit_price_minor`.
    pub unit_price_minor: i64,
    /// Column `currency`.
    pub currency: String,
    /// Column `valid_from`.
    pub valid_from: NaiveDate,
    /// Column `valid_to`.
    pub valid_to: Option<NaiveDate>,
    /// Column `location_code`.
    pub location_code: Option<String>,
    /// Column `payer_code`.
    pub payer_code: Option<String>,
    /// Column `created_by`.
    pub created_by: String,
    /// Column `created_at`.
    pub created_at: NaiveDateTime,
    /// Column `updated_at`.
    #[expect(
        dead_code,
        reason = "selected with the row; changes show in the audit trail"
    )]
    pub updated_at: NaiveDateTime,
    /// Column `beneficiary_kind`.
    pub beneficiary_kind: Option<String>,
    /// Column `object_type`.
    pub object_type: Option<String>,
    /// Column `care_level`.
    pub care_level: Option<String>,
    /// Column `components`.
    pub components: String,
}

impl PriceRow {
    /// The unit price.
    pub fn money(&self) -> Result<Money, Error> {
        let currency = Currency::parse(&self.currency)
            .map_err(|e| Error::stored("price currency", &self.currency, e))?;
        Ok(Money::from_minor(
            carebill_domain::MinorUnits(self.unit_price_minor),
            currency,
        ))
    }

    /// The package components.
    pub fn components(&self) -> Result<Vec<String>, Error> {
        json("price components", &self.components).map_err(Error::from)
    }

    /// The entry as pricing reads it.
    pub fn entry(&self) -> Result<PriceEntry, Error> {
        Ok(PriceEntry {
            code: self.code.clone(),
            unit_price: self.money()?,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            location: self.location_code.clone(),
            payer: self.payer_code.clone(),
            qualifiers: self.qualifiers(),
            components: self.components()?,
        })
    }

    /// Its qualifiers (service prices of invoicing rules).
    pub fn qualifiers(&self) -> PriceQualifiers {
        PriceQualifiers {
            beneficiary_kind: self.beneficiary_kind.clone(),
            object_type: self.object_type.clone(),
            level: self.care_level.clone(),
        }
    }
}

/// A price-list entry to store.
#[derive(Insertable)]
#[diesel(table_name = prices)]
pub struct NewPriceRow<'a> {
    /// Id.
    pub id: &'a str,
    /// Catalog code (or service group).
    pub code: &'a str,
    /// Unit price in minor units.
    pub unit_price_minor: i64,
    /// Its currency.
    pub currency: &'a str,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
    /// Only at this location.
    pub location_code: Option<&'a str>,
    /// Only for this payer.
    pub payer_code: Option<&'a str>,
    /// Qualifier: beneficiary kind.
    pub beneficiary_kind: Option<&'a str>,
    /// Qualifier: object type.
    pub object_type: Option<&'a str>,
    /// Qualifier: care level.
    pub care_level: Option<&'a str>,
    /// Package components (JSON).
    pub components: String,
    /// Who.
    pub created_by: &'a str,
    /// When.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// Serialises changes of one code's entries (PostgreSQL) until the transaction ends.
pub fn lock_code(conn: &mut AnyConnection, code: &str) -> Result<(), Error> {
    Ok(db::lock_key(conn, &format!("price:{code}"))?)
}

/// An entry.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<PriceRow>, Error> {
    Ok(prices::table
        .find(id)
        .select(PriceRow::as_select())
        .first(conn)
        .optional()?)
}

/// The code of an entry.
pub fn code_of(conn: &mut AnyConnection, id: &str) -> Result<Option<String>, Error> {
    Ok(prices::table
        .find(id)
        .select(prices::code)
        .first::<String>(conn)
        .optional()?)
}

/// Every entry of a code, in id order.
pub fn of_code(conn: &mut AnyConnection, code: &str) -> Result<Vec<PriceRow>, Error> {
    Ok(prices::table
        .filter(prices::code.eq(code))
        .order(prices::id.asc())
        .select(PriceRow::as_select())
        .load(conn)?)
}

/// Stores an entry.
pub fn insert(conn: &mut AnyConnection, row: NewPriceRow<'_>) -> Result<(), Error> {
    diesel::insert_into(prices::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Ends an entry on `valid_to`.
pub fn set_valid_to(conn: &mut AnyConnection, id: &str, valid_to: NaiveDate) -> Result<(), Error> {
    diesel::update(prices::table.find(id))
        .set((
            prices::valid_to.eq(Some(valid_to)),
            prices::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// What the price list filters on.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Entries of this code.
    pub code: Option<String>,
    /// Limited to this location.
    pub location_code: Option<String>,
    /// Limited to this payer.
    pub payer_code: Option<String>,
    /// In force on this day.
    pub in_force_on: Option<NaiveDate>,
}

/// A page of entries in id order after `after` (at most `limit`).
pub fn list(
    conn: &mut AnyConnection,
    f: &ListFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<PriceRow>, Error> {
    let mut q = prices::table.select(PriceRow::as_select()).into_boxed();
    if let Some(c) = &f.code {
        q = q.filter(prices::code.eq(c.clone()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(prices::location_code.eq(l.clone()));
    }
    if let Some(p) = &f.payer_code {
        q = q.filter(prices::payer_code.eq(p.clone()));
    }
    if let Some(d) = f.in_force_on {
        q = q
            .filter(prices::valid_from.le(d))
            .filter(prices::valid_to.is_null().or(prices::valid_to.ge(d)));
    }
    if let Some(after) = after {
        q = q.filter(prices::id.gt(after.to_owned()));
    }
    Ok(q.order(prices::id.asc())
        .limit(limit)
        .load::<PriceRow>(conn)?)
}
