//! Payers: creating and replacing them (a code is unique and never changes). Payers are
//! organisation-wide.

use carebill_domain::Code;
use carebill_domain::accounts::PayerKind;
use carebill_domain::events::PayerChangedV1;
use carebill_domain::ids::PayerId;
use carebill_platform::auth::Principal;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Serialize;

pub use crate::store::payers::PayerFilter;
use crate::store::payers::{self as store, PayerChanges, PayerRow};
use crate::store::{StoredAddress, StoredBilling, StoredContact, StoredIdentifier, write_json};

/// A payer as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct Payer {
    /// Id.
    pub id: PayerId,
    /// Unique code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: PayerKind,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Payer id for electronic claims.
    pub payer_identifier: Option<String>,
    /// Other identifiers.
    pub identifiers: Vec<StoredIdentifier>,
    /// Address.
    pub address: StoredAddress,
    /// Billing contact.
    pub contact: StoredContact,
    /// Inactive payers get no new coverages.
    pub active: bool,
    /// What e-invoices need of the payer as buyer.
    pub billing: StoredBilling,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Payer {
    /// Reads a stored row.
    fn read(r: PayerRow) -> Result<Payer, Error> {
        Ok(Payer {
            identifiers: r.identifiers()?,
            address: r.address()?,
            contact: r.contact()?,
            billing: r.billing()?,
            id: r.id,
            code: r.code,
            name: r.name,
            kind: r.kind,
            tax_id: r.tax_id,
            payer_identifier: r.payer_identifier,
            active: r.active,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// A validated payer to create or replace.
#[derive(Debug, Clone)]
pub struct NewPayer {
    /// Unique code.
    pub code: Code,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: PayerKind,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Payer id for electronic claims.
    pub payer_identifier: Option<String>,
    /// Other identifiers.
    pub identifiers: Vec<StoredIdentifier>,
    /// Address.
    pub address: StoredAddress,
    /// Billing contact.
    pub contact: StoredContact,
    /// Active.
    pub active: bool,
    /// E-invoicing data, checked.
    pub billing: StoredBilling,
}

/// The payer with this id.
#[tracing::instrument(skip_all, fields(payer_id = %id))]
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Payer, Error> {
    Payer::read(store::find(conn, id)?.ok_or_else(|| Error::not_found("payer"))?)
}

/// Creates a payer; its code must be new.
#[tracing::instrument(skip_all)]
pub fn create(conn: &mut AnyConnection, who: &Principal, p: NewPayer) -> Result<Payer, Error> {
    if store::count_code(conn, p.code.as_str())? > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("a payer with code {} already exists", p.code),
        ));
    }
    let id = PayerId::new();
    let now = db::now();
    store::insert(
        conn,
        PayerRow {
            id,
            code: p.code.as_str().to_owned(),
            name: p.name,
            kind: p.kind,
            tax_id: p.tax_id,
            payer_identifier: p.payer_identifier,
            identifiers: write_json("payer identifiers", &p.identifiers)?,
            address: write_json("payer address", &p.address)?,
            contact: write_json("payer contact", &p.contact)?,
            active: p.active,
            created_at: now,
            updated_at: now,
            billing: Some(write_json("payer billing", &p.billing)?),
        },
    )?;
    let id = id.to_string();
    let created = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "create",
        "payer",
        &id,
        serde_json::json!({ "after": created }),
        None,
    )?;
    announce(conn, who, &created)?;
    Ok(created)
}

/// Replaces a payer's details; its code cannot change.
#[tracing::instrument(skip_all, fields(payer_id = %id))]
pub fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    p: NewPayer,
) -> Result<Payer, Error> {
    conn.transaction(|conn| {
        let before = get(conn, id)?;
        if before.code != p.code.as_str() {
            return Err(Error::field(
                "code",
                "immutable",
                "a payer's code cannot change",
            ));
        }
        store::update(
            conn,
            id,
            &PayerChanges {
                name: p.name,
                kind: p.kind.as_str().to_owned(),
                tax_id: p.tax_id,
                payer_identifier: p.payer_identifier,
                identifiers: write_json("payer identifiers", &p.identifiers)?,
                address: write_json("payer address", &p.address)?,
                contact: write_json("payer contact", &p.contact)?,
                active: p.active,
                updated_at: db::now(),
                billing: Some(write_json("payer billing", &p.billing)?),
            },
        )?;
        let after = get(conn, id)?;
        audit::record(
            conn,
            who,
            "update",
            "payer",
            id,
            serde_json::json!({ "before": before, "after": after }),
            None,
        )?;
        announce(conn, who, &after)?;
        Ok(after)
    })
}

/// A page of payers.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    f: &PayerFilter,
    page: &PageRequest,
) -> Result<Page<Payer>, Error> {
    let rows = store::page(conn, f, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    page.try_map(Payer::read)
}

/// Announces what invoices to the payer name it by, as it now is.
pub(crate) fn announce(conn: &mut AnyConnection, who: &Principal, p: &Payer) -> Result<(), Error> {
    super::emit(
        conn,
        who,
        &PayerChangedV1 {
            payer_id: p.id,
            code: p.code.clone(),
            billing: super::party_billing(&p.name, &p.address, &p.billing),
            changed_at: p.updated_at,
        },
    )
}
