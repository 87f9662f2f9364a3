//! The `carers` table: the freelance carers an agency places, with their billing data, VAT
//! status and self-billing agreements as JSON documents checked when written.

use carebill_domain::agency::{SelfBillingAgreement, VatStatus};
use carebill_domain::ids::{CarerId, LocationId};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::carers;
use crate::store::{StoredAddress, StoredBilling, read_json};

/// A carer as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = carers)]
pub struct CarerRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: CarerId,
    /// The agency (location) the carer works through.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub location_id: LocationId,
    /// Its code, for scope.
    pub location_code: String,
    /// Unique code.
    pub code: String,
    /// The name the carer goes by.
    pub name: String,
    /// Address, JSON.
    pub address: String,
    /// Where reminders and notices go.
    pub email: Option<String>,
    /// Legal name, VAT id, registration, bank account: JSON.
    pub billing: String,
    /// VAT status, JSON.
    pub vat: String,
    /// Self-billing agreements, JSON.
    pub agreements: String,
    /// Whether new placements may name the carer.
    pub active: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

impl CarerRow {
    /// The stored address.
    pub fn address(&self) -> Result<StoredAddress, Error> {
        read_json("carer address", &self.address)
    }

    /// The stored billing data.
    pub fn billing(&self) -> Result<StoredBilling, Error> {
        read_json("carer billing", &self.billing)
    }

    /// The stored VAT status.
    pub fn vat(&self) -> Result<VatStatus, Error> {
        read_json("carer vat", &self.vat)
    }

    /// The stored agreements.
    pub fn agreements(&self) -> Result<Vec<SelfBillingAgreement>, Error> {
        read_json("carer agreements", &self.agreements)
    }
}

/// What a replace changes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = carers, treat_none_as_null = true)]
pub struct CarerChanges {
    /// Name.
    pub name: String,
    /// Address JSON.
    pub address: String,
    /// E-mail.
    pub email: Option<String>,
    /// Billing JSON.
    pub billing: String,
    /// VAT JSON.
    pub vat: String,
    /// Agreements JSON.
    pub agreements: String,
    /// Active.
    pub active: bool,
    /// Now.
    pub updated_at: NaiveDateTime,
}

/// Filters of the carer list.
#[derive(Debug, Clone, Default)]
pub struct CarerFilter {
    /// With this code.
    pub code: Option<String>,
    /// Only active (or inactive) carers.
    pub active: Option<bool>,
}

/// The carer with this id, if at a location `allowed` lists (`None`: any).
pub fn find(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    id: &str,
) -> Result<Option<CarerRow>, Error> {
    let mut q = carers::table
        .find(id)
        .select(CarerRow::as_select())
        .into_boxed();
    if let Some(codes) = allowed {
        q = q.filter(carers::location_code.eq_any(codes));
    }
    Ok(q.first(conn).optional()?)
}

/// How many carers have this code.
pub fn count_code(conn: &mut AnyConnection, code: &str) -> Result<i64, Error> {
    Ok(carers::table
        .filter(carers::code.eq(code))
        .count()
        .get_result(conn)?)
}

/// Inserts a carer.
pub fn insert(conn: &mut AnyConnection, row: CarerRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, carers::table, vec![row]);
    Ok(())
}

/// Updates a carer.
pub fn update(conn: &mut AnyConnection, id: &str, changes: &CarerChanges) -> Result<(), Error> {
    diesel::update(carers::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// A page of carers at the locations `allowed` lists (`None`: any), by id.
pub fn page(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    f: &CarerFilter,
    page: &PageRequest,
) -> Result<Vec<CarerRow>, Error> {
    let mut q = carers::table.select(CarerRow::as_select()).into_boxed();
    if let Some(codes) = allowed {
        q = q.filter(carers::location_code.eq_any(codes));
    }
    if let Some(c) = &f.code {
        q = q.filter(carers::code.eq(c.clone()));
    }
    if let Some(a) = f.active {
        q = q.filter(carers::active.eq(a));
    }
    if let Some(after) = &page.after {
        q = q.filter(carers::id.gt(after.clone()));
    }
    Ok(q.order(carers::id.asc()).limit(page.limit + 1).load(conn)?)
}

/// Locks a carer's row for the rest of the transaction, so that one carer's hours are checked
/// for overlaps one writer at a time (PostgreSQL; SQLite's writer is alone).
pub fn lock(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    if let AnyConnection::Postgresql(pg) = conn {
        carers::table
            .find(id)
            .select(carers::id)
            .for_update()
            .first::<String>(pg)
            .optional()?;
    }
    Ok(())
}
