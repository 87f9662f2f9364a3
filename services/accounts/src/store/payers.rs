//! The `payers` table.

use carebill_domain::accounts::PayerKind;
use carebill_domain::ids::PayerId;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::payers;
use crate::store::{
    StoredAddress, StoredBilling, StoredContact, StoredIdentifier, read_billing, read_json,
};

/// A payer as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payers)]
pub struct PayerRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: PayerId,
    /// Unique code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Kind.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub kind: PayerKind,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Payer id for electronic claims.
    pub payer_identifier: Option<String>,
    /// Other identifiers, JSON.
    pub identifiers: String,
    /// Address, JSON.
    pub address: String,
    /// Billing contact, JSON.
    pub contact: String,
    /// Whether new coverages may name it.
    pub active: bool,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
    /// E-invoicing data, JSON (see [`PayerRow::billing`]).
    pub billing: Option<String>,
}

impl PayerRow {
    /// The stored e-invoicing data (none given while the column is NULL).
    pub fn billing(&self) -> Result<StoredBilling, Error> {
        read_billing("payer billing", self.billing.as_deref())
    }

    /// The stored identifiers.
    pub fn identifiers(&self) -> Result<Vec<StoredIdentifier>, Error> {
        read_json("payer identifiers", &self.identifiers)
    }

    /// The stored address.
    pub fn address(&self) -> Result<StoredAddress, Error> {
        read_json("payer address", &self.address)
    }

    /// The stored contact.
    pub fn contact(&self) -> Result<StoredContact, Error> {
        read_json("payer contact", &self.contact)
    }
}

/// What a replace changes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = payers, treat_none_as_null = true)]
pub struct PayerChanges {
    /// Name.
    pub name: String,
    /// Kind, as text.
    pub kind: String,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Claims payer id.
    pub payer_identifier: Option<String>,
    /// Identifiers JSON.
    pub identifiers: String,
    /// Address JSON.
    pub address: String,
    /// Contact JSON.
    pub contact: String,
    /// Active.
    pub active: bool,
    /// Now.
    pub updated_at: NaiveDateTime,
    /// E-invoicing data JSON.
    pub billing: Option<String>,
}

/// Filters of the payer list.
#[derive(Debug, Clone, Default)]
pub struct PayerFilter {
    /// Of this kind.
    pub kind: Option<PayerKind>,
    /// With this code.
    pub code: Option<String>,
}

/// The payer with this id.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<PayerRow>, Error> {
    Ok(payers::table
        .find(id)
        .select(PayerRow::as_select())
        .first(conn)
        .optional()?)
}

/// The payers with these ids.
pub fn by_ids(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<PayerRow>, Error> {
    Ok(payers::table
        .filter(payers::id.eq_any(ids))
        .select(PayerRow::as_select())
        .load(conn)?)
}

/// How many payers have this code.
pub fn count_code(conn: &mut AnyConnection, code: &str) -> Result<i64, Error> {
    Ok(payers::table
        .filter(payers::code.eq(code))
        .count()
        .get_result(conn)?)
}

/// Inserts a payer.
pub fn insert(conn: &mut AnyConnection, row: PayerRow) -> Result<(), Error> {
    diesel::insert_into(payers::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Updates a payer.
pub fn update(conn: &mut AnyConnection, id: &str, changes: &PayerChanges) -> Result<(), Error> {
    diesel::update(payers::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// A page of payers, by id.
pub fn page(
    conn: &mut AnyConnection,
    f: &PayerFilter,
    page: &PageRequest,
) -> Result<Vec<PayerRow>, Error> {
    let mut q = payers::table.select(PayerRow::as_select()).into_boxed();
    if let Some(k) = f.kind {
        q = q.filter(payers::kind.eq(k.as_str()));
    }
    if let Some(c) = &f.code {
        q = q.filter(payers::code.eq(c.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(payers::id.gt(after.clone()));
    }
    Ok(q.order(payers::id.asc()).limit(page.limit + 1).load(conn)?)
}
