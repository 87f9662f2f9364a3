//! Locations: creating and replacing them (organisation-wide: a caller limited to some
//! locations cannot create one), reading them within the caller's scope.

use carebill_domain::events::{LocationChangedV1, LocationClaims, LocationRef};
use carebill_domain::ids::LocationId;
use carebill_domain::{Code, Currency};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Serialize;

use crate::store::locations::{self as store, LocationChanges, LocationRow};
use crate::store::{StoredAddress, StoredBilling, write_json};

/// A location as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct Location {
    /// Id.
    pub id: LocationId,
    /// Unique short code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Postal address.
    pub address: StoredAddress,
    /// Tax id of the issuing entity.
    pub tax_id: Option<String>,
    /// IANA time zone.
    pub time_zone: String,
    /// Invoicing currency.
    pub currency: Currency,
    /// Whether new episodes may be opened here.
    pub active: bool,
    /// What e-invoices need of the location as seller.
    pub billing: StoredBilling,
    /// What claims name the location by as billing provider.
    pub claims: Option<LocationClaims>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Location {
    /// The location as events and invoices name it.
    pub fn to_ref(&self) -> LocationRef {
        LocationRef {
            id: self.id,
            code: self.code.clone(),
            name: self.name.clone(),
            time_zone: self.time_zone.clone(),
            tax_id: self.tax_id.clone(),
            billing: Some(super::party_billing(
                &self.name,
                &self.address,
                &self.billing,
            )),
        }
    }

    /// Reads a stored row.
    pub(crate) fn read(r: LocationRow) -> Result<Location, Error> {
        Ok(Location {
            address: r.address()?,
            billing: r.billing()?,
            claims: r.claims()?,
            id: r.id,
            code: r.code,
            name: r.name,
            tax_id: r.tax_id,
            time_zone: r.time_zone,
            currency: r.currency,
            active: r.active,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// A validated location to create or replace.
#[derive(Debug, Clone)]
pub struct NewLocation {
    /// Unique code.
    pub code: Code,
    /// Name.
    pub name: String,
    /// Address.
    pub address: StoredAddress,
    /// Tax id.
    pub tax_id: Option<String>,
    /// IANA time zone, checked.
    pub time_zone: String,
    /// Currency.
    pub currency: Currency,
    /// Active.
    pub active: bool,
    /// E-invoicing data, checked.
    pub billing: StoredBilling,
    /// Claim facts, checked.
    pub claims: Option<LocationClaims>,
}

fn claims_json(claims: Option<&LocationClaims>) -> Result<Option<String>, Error> {
    claims.map(|c| write_json("location claims", c)).transpose()
}

/// The location with this id, if `scope` allows it.
#[tracing::instrument(skip_all, fields(location_id = %id))]
pub fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<Location, Error> {
    let row = store::find(conn, scope, id)?.ok_or_else(|| Error::not_found("location"))?;
    Location::read(row)
}

/// Creates a location; its code must be new.
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    input: NewLocation,
) -> Result<Location, Error> {
    if who.locations.is_some() {
        return Err(Error::forbidden(
            "a user limited to some locations cannot create locations",
        ));
    }
    if store::count_code(conn, input.code.as_str())? > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("a location with code {} already exists", input.code),
        ));
    }
    let id = LocationId::new();
    let now = db::now();
    store::insert(
        conn,
        LocationRow {
            id,
            code: input.code.as_str().to_owned(),
            name: input.name,
            address: write_json("location address", &input.address)?,
            tax_id: input.tax_id,
            time_zone: input.time_zone,
            currency: input.currency,
            active: input.active,
            created_at: now,
            updated_at: now,
            billing: Some(write_json("location billing", &input.billing)?),
            claims: claims_json(input.claims.as_ref())?,
        },
    )?;
    let id = id.to_string();
    let created = get(conn, &Scope::of(who), &id)?;
    audit::record_at(
        conn,
        who,
        &id,
        "create",
        "location",
        &id,
        serde_json::json!({ "after": created }),
        None,
    )?;
    announce(conn, who, &created)?;
    Ok(created)
}

/// Replaces a location's details; its code cannot change.
#[tracing::instrument(skip_all, fields(location_id = %id))]
pub fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    input: NewLocation,
) -> Result<Location, Error> {
    conn.transaction(|conn| {
        let scope = Scope::of(who);
        let before = get(conn, &scope, id)?;
        if before.code != input.code.as_str() {
            return Err(Error::field(
                "code",
                "immutable",
                "a location's code cannot change",
            ));
        }
        store::update(
            conn,
            id,
            &LocationChanges {
                name: input.name,
                address: write_json("location address", &input.address)?,
                tax_id: input.tax_id,
                time_zone: input.time_zone,
                currency: input.currency.code().to_owned(),
                active: input.active,
                updated_at: db::now(),
                billing: Some(write_json("location billing", &input.billing)?),
                claims: claims_json(input.claims.as_ref())?,
            },
        )?;
        let after = get(conn, &scope, id)?;
        audit::record_at(
            conn,
            who,
            id,
            "update",
            "location",
            id,
            serde_json::json!({ "before": before, "after": after }),
            None,
        )?;
        announce(conn, who, &after)?;
        Ok(after)
    })
}

/// A page of the locations in `scope`.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    page: &PageRequest,
) -> Result<Page<Location>, Error> {
    let rows = store::page(conn, scope, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    page.try_map(Location::read)
}

/// Announces the location as it now is, with what invoices name it by.
pub(crate) fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    l: &Location,
) -> Result<(), Error> {
    super::emit(
        conn,
        who,
        &LocationChangedV1 {
            location: l.to_ref(),
            claims: l.claims.clone(),
            changed_at: l.updated_at,
        },
    )
}
