//! The service catalog: every billable thing (procedures, consultations, lab tests, imaging,
//! materials, medication, stay days, care hours) with its service group and unit of measure.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::ServiceKind;
use carebill_domain::events::CatalogItemRef;
use carebill_domain::{Code, Validation};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::AnyConnection;
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, parse_id,
};
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{audit, db};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::schema::catalog_items;

/// A catalog item as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CatalogItem {
    /// Id.
    pub id: String,
    /// Unique code that consumptions name.
    #[schema(example = "CONS-GP")]
    pub code: String,
    /// Description printed on invoices.
    #[schema(example = "General practitioner consultation")]
    pub description: String,
    /// Service group, the unit most rules and coverage terms work on.
    #[schema(example = "CONSULTATIONS")]
    pub service_group: String,
    /// Kind.
    pub kind: ServiceKind,
    /// Unit of measure.
    #[schema(example = "visit")]
    pub unit: String,
    /// Inactive items cannot be consumed.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to create or replace a catalog item.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogItemInput {
    /// Unique code; cannot change later.
    #[schema(example = "CONS-GP")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// Description.
    #[schema(example = "General practitioner consultation")]
    #[schema(pattern = r"\S", max_length = 300)]
    pub description: String,
    /// Service group code.
    #[schema(example = "CONSULTATIONS")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub service_group: String,
    /// Kind.
    pub kind: ServiceKind,
    /// Unit of measure (`unit`, `visit`, `day`, `hour`, `ml`, ...).
    #[schema(example = "visit")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub unit: String,
    /// Default true.
    pub active: Option<bool>,
}

/// A validated catalog item.
#[derive(Debug, Clone)]
pub struct NewItem {
    code: Code,
    description: String,
    service_group: Code,
    unit: Code,
    kind: ServiceKind,
    active: bool,
}

impl CatalogItemInput {
    /// Validates every field.
    pub fn validate(self) -> Result<NewItem, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let description = v.text("description", &self.description, 300);
        let service_group = v.check("service_group", "invalid", Code::parse(&self.service_group));
        let unit = v.check("unit", "invalid", Code::parse(&self.unit));
        v.finish().map_err(Error::validation)?;
        match (code, description, service_group, unit) {
            (Some(code), Some(description), Some(service_group), Some(unit)) => Ok(NewItem {
                code,
                description,
                service_group,
                unit,
                kind: self.kind,
                active: self.active.unwrap_or(true),
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// A catalog row.
#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = catalog_items)]
pub struct Row {
    /// Id.
    pub id: String,
    /// Code.
    pub code: String,
    description: String,
    /// Service group.
    pub service_group: String,
    kind: String,
    /// Unit.
    pub unit: String,
    /// Active.
    pub active: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl Row {
    /// The kind.
    pub fn kind(&self) -> ServiceKind {
        self.kind.parse().unwrap_or(ServiceKind::Other)
    }

    /// The item as event consumers see it.
    pub fn to_ref(&self) -> Result<CatalogItemRef, Error> {
        Ok(CatalogItemRef {
            id: self.id.parse().map_err(|e| Error::internal(&e))?,
            code: self.code.clone(),
            description: self.description.clone(),
            service_group: self.service_group.clone(),
            kind: self.kind(),
            unit: self.unit.clone(),
        })
    }
}

impl From<Row> for CatalogItem {
    fn from(r: Row) -> Self {
        CatalogItem {
            kind: r.kind(),
            id: r.id,
            code: r.code,
            description: r.description,
            service_group: r.service_group,
            unit: r.unit,
            active: r.active,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// Loads items by code.
pub fn by_codes(conn: &mut AnyConnection, codes: &[String]) -> Result<Vec<Row>, Error> {
    Ok(catalog_items::table
        .filter(catalog_items::code.eq_any(codes))
        .select(Row::as_select())
        .load(conn)?)
}

fn get(conn: &mut AnyConnection, id: &str) -> Result<CatalogItem, Error> {
    catalog_items::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(CatalogItem::from)
        .ok_or_else(|| Error::not_found("catalog item"))
}

fn create(conn: &mut AnyConnection, who: &Principal, i: NewItem) -> Result<CatalogItem, Error> {
    let taken: i64 = catalog_items::table
        .filter(catalog_items::code.eq(i.code.as_str()))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("a catalog item with code {} already exists", i.code),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    diesel::insert_into(catalog_items::table)
        .values((
            catalog_items::id.eq(&id),
            catalog_items::code.eq(i.code.as_str()),
            catalog_items::description.eq(&i.description),
            catalog_items::service_group.eq(i.service_group.as_str()),
            catalog_items::kind.eq(i.kind.as_str()),
            catalog_items::unit.eq(i.unit.as_str()),
            catalog_items::active.eq(i.active),
            catalog_items::created_at.eq(now),
            catalog_items::updated_at.eq(now),
        ))
        .execute(conn)?;
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
    Ok(created)
}

fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    i: NewItem,
) -> Result<CatalogItem, Error> {
    let before = get(conn, id)?;
    if before.code != i.code.as_str() {
        return Err(Error::field(
            "code",
            "immutable",
            "a catalog item's code cannot change",
        ));
    }
    diesel::update(catalog_items::table.find(id))
        .set((
            catalog_items::description.eq(&i.description),
            catalog_items::service_group.eq(i.service_group.as_str()),
            catalog_items::kind.eq(i.kind.as_str()),
            catalog_items::unit.eq(i.unit.as_str()),
            catalog_items::active.eq(i.active),
            catalog_items::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
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
    Ok(after)
}

/// Filters for the catalog list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogFilter {
    /// Items of this service group.
    pub service_group: Option<String>,
    /// Items of this kind.
    pub kind: Option<ServiceKind>,
    /// The item with this code.
    pub code: Option<String>,
    /// Only active (true) or inactive (false) items.
    pub active: Option<bool>,
}

fn list(
    conn: &mut AnyConnection,
    f: &CatalogFilter,
    page: &PageRequest,
) -> Result<Page<CatalogItem>, Error> {
    let mut q = catalog_items::table.select(Row::as_select()).into_boxed();
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
    let rows = q
        .order(catalog_items::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone()).map(CatalogItem::from))
}

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Integration,
];

/// Add a catalog item.
#[utoipa::path(post, path = "/v1/catalog-items", tag = "catalog", request_body = CatalogItemInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created", body = CatalogItem),
        (status = 409, description = "Code taken or Idempotency-Key reused", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_catalog_item(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<CatalogItemInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                create(conn, &who, input)
            })
        })
        .await
}

/// Replace a catalog item (its code cannot change).
#[utoipa::path(put, path = "/v1/catalog-items/{id}", tag = "catalog", request_body = CatalogItemInput,
    params(("id" = String, Path, description = "Catalog item id")),
    responses((status = 200, description = "Updated", body = CatalogItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn replace_catalog_item(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CatalogItemInput>,
) -> Result<web::Json<CatalogItem>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value.validate()?;
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db
            .write(move |conn| conn.transaction(|conn| replace(conn, &who, &id, input)))
            .await?,
    ))
}

/// Get a catalog item.
#[utoipa::path(get, path = "/v1/catalog-items/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Catalog item id")),
    responses((status = 200, description = "The item", body = CatalogItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_catalog_item(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<CatalogItem>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "catalog item")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &id.to_string()))
            .await?,
    ))
}

/// List catalog items.
#[utoipa::path(get, path = "/v1/catalog-items", tag = "catalog", params(CatalogFilter, PageParams),
    responses((status = 200, description = "A page of catalog items", body = Page<CatalogItem>)),
    security(("bearer" = [])))]
pub async fn list_catalog_items(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<CatalogFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<CatalogItem>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| list(conn, &filter, &page))
            .await?,
    ))
}
