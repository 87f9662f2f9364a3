//! Carers: the freelance carers a care agency places, with what invoices on their behalf need
//! (legal name, VAT id, chamber of commerce number, bank account), their VAT status and their
//! self-billing agreements. A carer belongs to one agency (location); reads are limited to the
//! caller's locations.

use carebill_domain::Code;
use carebill_domain::agency::{SelfBillingAgreement, VatStatus};
use carebill_domain::events::CarerRef;
use carebill_domain::ids::{CarerId, LocationId};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Serialize;

use crate::service::{location_codes, locations, unknown_as_field};
pub use crate::store::carers::CarerFilter;
use crate::store::carers::{self as store, CarerChanges, CarerRow};
use crate::store::{StoredAddress, StoredBilling, write_json};

/// A carer as the use cases (and the audit trail) see them.
#[derive(Debug, Clone, Serialize)]
pub struct Carer {
    /// Id.
    pub id: CarerId,
    /// The agency.
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// Unique code.
    pub code: String,
    /// The name the carer goes by.
    pub name: String,
    /// Address.
    pub address: StoredAddress,
    /// Where reminders and notices go.
    pub email: Option<String>,
    /// Legal name, VAT id, registration, bank account.
    pub billing: StoredBilling,
    /// VAT status.
    pub vat: VatStatus,
    /// Self-billing agreements.
    pub agreements: Vec<SelfBillingAgreement>,
    /// Whether new placements may name the carer.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Carer {
    pub(crate) fn read(r: CarerRow) -> Result<Carer, Error> {
        Ok(Carer {
            address: r.address()?,
            billing: r.billing()?,
            vat: r.vat()?,
            agreements: r.agreements()?,
            id: r.id,
            location_id: r.location_id,
            location_code: r.location_code,
            code: r.code,
            name: r.name,
            email: r.email,
            active: r.active,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }

    /// The carer as events and invoices name them.
    pub fn to_ref(&self) -> CarerRef {
        let mut billing = super::party_billing(&self.name, &self.address, &self.billing);
        if billing.contact_email.is_none() {
            billing.contact_email.clone_from(&self.email);
        }
        CarerRef {
            id: self.id,
            code: self.code.clone(),
            billing,
            vat: self.vat.clone(),
            agreements: self.agreements.clone(),
        }
    }
}

/// A validated carer to create or replace.
#[derive(Debug, Clone)]
pub struct NewCarer {
    /// The agency (a valid id).
    pub location_id: String,
    /// Unique code.
    pub code: Code,
    /// Name.
    pub name: String,
    /// Address.
    pub address: StoredAddress,
    /// E-mail.
    pub email: Option<String>,
    /// Billing data, checked.
    pub billing: StoredBilling,
    /// VAT status, checked.
    pub vat: VatStatus,
    /// Agreements, checked.
    pub agreements: Vec<SelfBillingAgreement>,
    /// Active.
    pub active: bool,
}

/// The carer with this id, if at a location `scope` allows.
#[tracing::instrument(skip_all, fields(carer_id = %id))]
pub fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<Carer, Error> {
    let allowed = location_codes(scope);
    Carer::read(
        store::find(conn, allowed.as_deref(), id)?.ok_or_else(|| Error::not_found("carer"))?,
    )
}

/// Creates a carer at an active location in the caller's scope; the code must be new.
#[tracing::instrument(skip_all)]
pub fn create(conn: &mut AnyConnection, who: &Principal, c: NewCarer) -> Result<Carer, Error> {
    let location = locations::get(conn, &Scope::of(who), &c.location_id)
        .map_err(|e| unknown_as_field(e, "location_id", "unknown", "no such location"))?;
    if !location.active {
        return Err(Error::field(
            "location_id",
            "inactive",
            "the location is inactive",
        ));
    }
    if store::count_code(conn, c.code.as_str())? > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("a carer with code {} already exists", c.code),
        ));
    }
    let id = CarerId::new();
    let now = db::now();
    store::insert(
        conn,
        CarerRow {
            id,
            location_id: location.id,
            location_code: location.code.clone(),
            code: c.code.as_str().to_owned(),
            name: c.name,
            address: write_json("carer address", &c.address)?,
            email: c.email,
            billing: write_json("carer billing", &c.billing)?,
            vat: write_json("carer vat", &c.vat)?,
            agreements: write_json("carer agreements", &c.agreements)?,
            active: c.active,
            created_at: now,
            updated_at: now,
        },
    )?;
    let created = get(conn, &Scope::everything(), &id.to_string())?;
    audit::record(
        conn,
        who,
        "create",
        "carer",
        &id.to_string(),
        serde_json::json!({ "after": created }),
        None,
    )?;
    Ok(created)
}

/// Replaces a carer's details; the code and the agency cannot change.
#[tracing::instrument(skip_all, fields(carer_id = %id))]
pub fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    c: NewCarer,
) -> Result<Carer, Error> {
    conn.transaction(|conn| {
        let before = get(conn, &Scope::of(who), id)?;
        if before.code != c.code.as_str() {
            return Err(Error::field(
                "code",
                "immutable",
                "a carer's code cannot change",
            ));
        }
        if before.location_id.to_string() != c.location_id {
            return Err(Error::field(
                "location_id",
                "immutable",
                "a carer's agency cannot change",
            ));
        }
        store::update(
            conn,
            id,
            &CarerChanges {
                name: c.name,
                address: write_json("carer address", &c.address)?,
                email: c.email,
                billing: write_json("carer billing", &c.billing)?,
                vat: write_json("carer vat", &c.vat)?,
                agreements: write_json("carer agreements", &c.agreements)?,
                active: c.active,
                updated_at: db::now(),
            },
        )?;
        let after = get(conn, &Scope::everything(), id)?;
        audit::record(
            conn,
            who,
            "update",
            "carer",
            id,
            serde_json::json!({ "before": before, "after": after }),
            None,
        )?;
        Ok(after)
    })
}

/// A page of the carers in the caller's scope.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &CarerFilter,
    page: &PageRequest,
) -> Result<Page<Carer>, Error> {
    let allowed = location_codes(scope);
    let rows = store::page(conn, allowed.as_deref(), f, page)?;
    Page::from_rows(rows, page, |r| r.id.to_string()).try_map(Carer::read)
}
