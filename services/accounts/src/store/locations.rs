//! The `locations` table, and the one place a caller's location scope (codes, in tokens) is
//! turned into the location ids that other tables carry.

use carebill_domain::Currency;
use carebill_domain::events::LocationClaims;
use carebill_domain::ids::LocationId;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::locations;
use crate::store::{StoredAddress, StoredBilling, read_billing, read_json};

/// A location as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = locations)]
pub struct LocationRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: LocationId,
    /// Unique short code.
    pub code: String,
    /// Name.
    pub name: String,
    /// The address, JSON (see [`LocationRow::address`]).
    pub address: String,
    /// Tax id.
    pub tax_id: Option<String>,
    /// IANA time zone.
    pub time_zone: String,
    /// Invoicing currency.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// Whether new episodes may be opened here.
    pub active: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
    /// E-invoicing data, JSON (see [`LocationRow::billing`]).
    pub billing: Option<String>,
    /// What claims name the location by, JSON; NULL when not set.
    pub claims: Option<String>,
}

impl LocationRow {
    /// The stored e-invoicing data (none given while the column is NULL).
    pub fn billing(&self) -> Result<StoredBilling, Error> {
        read_billing("location billing", self.billing.as_deref())
    }

    /// The stored address.
    pub fn address(&self) -> Result<StoredAddress, Error> {
        read_json("location address", &self.address)
    }

    /// What claims name the location by, if set.
    pub fn claims(&self) -> Result<Option<LocationClaims>, Error> {
        self.claims
            .as_deref()
            .map(|c| read_json("location claims", c))
            .transpose()
    }
}

/// What a replace changes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = locations, treat_none_as_null = true)]
pub struct LocationChanges {
    /// Name.
    pub name: String,
    /// Address JSON.
    pub address: String,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Time zone.
    pub time_zone: String,
    /// Currency code.
    pub currency: String,
    /// Active.
    pub active: bool,
    /// Now.
    pub updated_at: NaiveDateTime,
    /// E-invoicing data JSON.
    pub billing: Option<String>,
    /// Claim facts JSON.
    pub claims: Option<String>,
}

/// The location ids a scope allows; `None` for every location. Tables that carry location ids
/// rather than codes filter by these: resolved once per request, here only.
pub fn allowed_ids(conn: &mut AnyConnection, scope: &Scope) -> Result<Option<Vec<String>>, Error> {
    if scope.is_payer_limited() {
        // Location records are never a payer's: a payer-limited caller sees none.
        return Ok(Some(Vec::new()));
    }
    match &scope.locations {
        None => Ok(None),
        Some(codes) => Ok(Some(ids_of(conn, codes)?)),
    }
}

/// The ids of the locations with these codes.
pub fn ids_of(conn: &mut AnyConnection, codes: &[String]) -> Result<Vec<String>, Error> {
    Ok(locations::table
        .filter(locations::code.eq_any(codes))
        .select(locations::id)
        .load::<String>(conn)?)
}

/// The location with this id, if the scope allows it.
pub fn find(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
) -> Result<Option<LocationRow>, Error> {
    let q = locations::table
        .filter(locations::id.eq(id.to_owned()))
        .select(LocationRow::as_select())
        .into_boxed();
    Ok(carebill_platform::scoped!(q, scope, locations::code)
        .first(conn)
        .optional()?)
}

/// How many locations have this code.
pub fn count_code(conn: &mut AnyConnection, code: &str) -> Result<i64, Error> {
    Ok(locations::table
        .filter(locations::code.eq(code))
        .count()
        .get_result(conn)?)
}

/// Inserts a location.
pub fn insert(conn: &mut AnyConnection, row: LocationRow) -> Result<(), Error> {
    diesel::insert_into(locations::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Updates a location.
pub fn update(conn: &mut AnyConnection, id: &str, changes: &LocationChanges) -> Result<(), Error> {
    diesel::update(locations::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// A page of the locations a scope allows, by id.
pub fn page(
    conn: &mut AnyConnection,
    scope: &Scope,
    page: &PageRequest,
) -> Result<Vec<LocationRow>, Error> {
    let mut q = locations::table
        .select(LocationRow::as_select())
        .into_boxed();
    q = carebill_platform::scoped!(q, scope, locations::code);
    if let Some(after) = &page.after {
        q = q.filter(locations::id.gt(after.clone()));
    }
    Ok(q.order(locations::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// The locations with these ids, whatever the scope (for what events carry).
pub fn by_ids(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<LocationRow>, Error> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        out.extend(
            locations::table
                .filter(locations::id.eq_any(chunk))
                .select(LocationRow::as_select())
                .load::<LocationRow>(conn)?,
        );
    }
    Ok(out)
}
