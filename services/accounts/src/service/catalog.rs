//! The service catalog: creating and replacing items (a code is unique and never changes).

use carebill_domain::Code;
use carebill_domain::accounts::ServiceKind;
use carebill_domain::events::{BillingCode, CatalogItemChangedV1};
use carebill_domain::ids::CatalogItemId;
use carebill_platform::auth::Principal;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Serialize;

pub use crate::store::catalog::CatalogFilter;
use crate::store::catalog::{self as store, CatalogChanges, CatalogRow};
use crate::store::write_json;

/// A catalog item as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogItem {
    /// Id.
    pub id: CatalogItemId,
    /// Unique code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Kind.
    pub kind: ServiceKind,
    /// Unit of measure.
    pub unit: String,
    /// Whether it may be charged.
    pub active: bool,
    /// How claims bill it.
    pub billing_code: Option<BillingCode>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl CatalogItem {
    fn read(r: CatalogRow) -> Result<CatalogItem, Error> {
        Ok(CatalogItem {
            billing_code: r.billing_code()?,
            id: r.id,
            code: r.code,
            description: r.description,
            service_group: r.service_group,
            kind: r.kind,
            unit: r.unit,
            active: r.active,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// A validated item to create or replace.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// Unique code.
    pub code: Code,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: Code,
    /// Unit of measure.
    pub unit: Code,
    /// Kind.
    pub kind: ServiceKind,
    /// Active.
    pub active: bool,
    /// How claims bill it, checked.
    pub billing_code: Option<BillingCode>,
}

fn billing_code_json(code: Option<&BillingCode>) -> Result<Option<String>, Error> {
    code.map(|c| write_json("catalog item billing code", c))
        .transpose()
}

/// Announces the item as it now is, with how claims bill it.
pub(crate) fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    item: &CatalogItem,
) -> Result<(), Error> {
    super::emit(
        conn,
        who,
        &CatalogItemChangedV1 {
            item: carebill_domain::events::CatalogItemRef {
                id: item.id,
                code: item.code.clone(),
                description: item.description.clone(),
                service_group: item.service_group.clone(),
                kind: item.kind,
                unit: item.unit.clone(),
            },
            active: item.active,
            billing_code: item.billing_code.clone(),
            changed_at: item.updated_at,
        },
    )
}

/// The item with this id.
#[tracing::instrument(skip_all, fields(catalog_item_id = %id))]
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<CatalogItem, Error> {
    CatalogItem::read(store::find(conn, id)?.ok_or_else(|| Error::not_found("catalog item"))?)
}

/// Creates an item; its code must be new.
#[tracing::instrument(skip_all)]
pub fn create(conn: &mut AnyConnection, who: &Principal, i: NewItem) -> Result<CatalogItem, Error> {
    if store::count_code(conn, i.code.as_str())? > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("a catalog item with code {} already exists", i.code),
        ));
    }
    let id = CatalogItemId::new();
    let now = db::now();
    store::insert(
        conn,
        CatalogRow {
            id,
            code: i.code.as_str().to_owned(),
            description: i.description,
            service_group: i.service_group.as_str().to_owned(),
            kind: i.kind,
            unit: i.unit.as_str().to_owned(),
            active: i.active,
            created_at: now,
            updated_at: now,
            billing_code: billing_code_json(i.billing_code.as_ref())?,
        },
    )?;
    let id = id.to_string();
    let created = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "create",
        "catalog_item",
        &id,
        serde_json::json!({ "after": created }),
        None,
    )?;
    announce(conn, who, &created)?;
    Ok(created)
}

/// Replaces an item's details; its code cannot change.
#[tracing::instrument(skip_all, fields(catalog_item_id = %id))]
pub fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    i: NewItem,
) -> Result<CatalogItem, Error> {
    conn.transaction(|conn| {
        let before = get(conn, id)?;
        if before.code != i.code.as_str() {
            return Err(Error::field(
                "code",
                "immutable",
                "a catalog item's code cannot change",
            ));
        }
        store::update(
            conn,
            id,
            &CatalogChanges {
                description: i.description,
                service_group: i.service_group.as_str().to_owned(),
                kind: i.kind.as_str().to_owned(),
                unit: i.unit.as_str().to_owned(),
                active: i.active,
                updated_at: db::now(),
                billing_code: billing_code_json(i.billing_code.as_ref())?,
            },
        )?;
        let after = get(conn, id)?;
        audit::record(
            conn,
            who,
            "update",
            "catalog_item",
            id,
            serde_json::json!({ "before": before, "after": after }),
            None,
        )?;
        announce(conn, who, &after)?;
        Ok(after)
    })
}

/// A page of items.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    f: &CatalogFilter,
    page: &PageRequest,
) -> Result<Page<CatalogItem>, Error> {
    let rows = store::page(conn, f, page)?;
    Page::from_rows(rows, page, |r| r.id.to_string()).try_map(CatalogItem::read)
}
