//! The `catalog_items` table.

use carebill_domain::accounts::ServiceKind;
use carebill_domain::events::{BillingCode, CatalogItemRef};
use carebill_domain::ids::CatalogItemId;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::catalog_items;
use crate::store::read_json;

/// A catalog item as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = catalog_items)]
pub struct CatalogRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: CatalogItemId,
    /// Unique code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Kind.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub kind: ServiceKind,
    /// Unit of measure.
    pub unit: String,
    /// Whether it may be charged.
    pub active: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
    /// How claims bill the item, JSON; NULL when not set.
    pub billing_code: Option<String>,
}

impl CatalogRow {
    /// How claims bill the item, if set.
    pub fn billing_code(&self) -> Result<Option<BillingCode>, Error> {
        self.billing_code
            .as_deref()
            .map(|c| read_json("catalog item billing code", c))
            .transpose()
    }

    /// The item as events carry it.
    pub fn to_ref(&self) -> CatalogItemRef {
        CatalogItemRef {
            id: self.id,
            code: self.code.clone(),
            description: self.description.clone(),
            service_group: self.service_group.clone(),
            kind: self.kind,
            unit: self.unit.clone(),
        }
    }
}

/// What a replace changes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = catalog_items, treat_none_as_null = true)]
pub struct CatalogChanges {
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Kind, as text.
    pub kind: String,
    /// Unit.
    pub unit: String,
    /// Active.
    pub active: bool,
    /// Now.
    pub updated_at: NaiveDateTime,
    /// Billing code JSON.
    pub billing_code: Option<String>,
}

/// Filters of the catalog list.
#[derive(Debug, Clone, Default)]
pub struct CatalogFilter {
    /// Of this service group.
    pub service_group: Option<String>,
    /// Of this kind.
    pub kind: Option<ServiceKind>,
    /// With this code.
    pub code: Option<String>,
    /// Active or not.
    pub active: Option<bool>,
}

/// The items with these codes (a batch's look-up: at most 500 codes per statement).
pub fn by_codes(conn: &mut AnyConnection, codes: &[String]) -> Result<Vec<CatalogRow>, Error> {
    let mut out = Vec::with_capacity(codes.len());
    for chunk in codes.chunks(500) {
        out.extend(
            catalog_items::table
                .filter(catalog_items::code.eq_any(chunk))
                .select(CatalogRow::as_select())
                .load::<CatalogRow>(conn)?,
        );
    }
    Ok(out)
}

/// The item with this id.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<CatalogRow>, Error> {
    Ok(catalog_items::table
        .find(id)
        .select(CatalogRow::as_select())
        .first(conn)
        .optional()?)
}

/// How many items have this code.
pub fn count_code(conn: &mut AnyConnection, code: &str) -> Result<i64, Error> {
    Ok(catalog_items::table
        .filter(catalog_items::code.eq(code))
        .count()
        .get_result(conn)?)
}

/// Inserts an item.
pub fn insert(conn: &mut AnyConnection, row: CatalogRow) -> Result<(), Error> {
    diesel::insert_into(catalog_items::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Updates an item.
pub fn update(conn: &mut AnyConnection, id: &str, changes: &CatalogChanges) -> Result<(), Error> {
    diesel::update(catalog_items::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// A page of items, by id.
pub fn page(
    conn: &mut AnyConnection,
    f: &CatalogFilter,
    page: &PageRequest,
) -> Result<Vec<CatalogRow>, Error> {
    let mut q = catalog_items::table
        .select(CatalogRow::as_select())
        .into_boxed();
    if let Some(g) = &f.service_group {
        q = q.filter(catalog_items::service_group.eq(g.clone()));
    }
    if let Some(k) = f.kind {
        q = q.filter(catalog_items::kind.eq(k.as_str()));
    }
    if let Some(c) = &f.code {
        q = q.filter(catalog_items::code.eq(c.clone()));
    }
    if let Some(a) = f.active {
        q = q.filter(catalog_items::active.eq(a));
    }
    if let Some(after) = &page.after {
        q = q.filter(catalog_items::id.gt(after.clone()));
    }
    Ok(q.order(catalog_items::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
