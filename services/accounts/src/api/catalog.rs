//! The service catalog over HTTP: every billable thing (procedures, consultations, lab tests,
//! imaging, materials, medication, stay days, care hours) with its service group and unit.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::ServiceKind;
use carebill_domain::claim_codes::{Modifier, ProcedureCode, ProcedureSystem, RevenueCode};
use carebill_domain::events::{BillingCode, BillingCodeSystem, UnitBasis};
use carebill_domain::{Code, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::service::catalog::{self as service, NewItem};

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
    /// How US claims bill it; absent when not set.
    pub billing_code: Option<BillingCode>,
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
    /// How US claims bill it: coding system, code, modifiers, revenue code, unit basis.
    pub billing_code: Option<BillingCodeInput>,
}

/// How claims bill a catalog item, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingCodeInput {
    /// `cpt`, `hcpcs` or `national`.
    pub system: BillingCodeSystem,
    /// CPT: four digits and a digit or letter (`99213`); HCPCS: a letter A–V and four digits
    /// (`J1100`); national: letters and digits, at most 48.
    #[schema(example = "99213")]
    pub code: String,
    /// Modifiers always billed with it (two letters or digits each, at most 4).
    #[serde(default)]
    pub modifiers: Vec<String>,
    /// Revenue code for institutional claims (four digits, the first `0`).
    #[schema(example = "0510")]
    pub revenue_code: Option<String>,
    /// `UN` units (the default), `MJ` minutes, `DA` days.
    pub unit_basis: Option<UnitBasis>,
}

impl BillingCodeInput {
    fn check(&self, v: &mut Validation) -> Option<BillingCode> {
        let code = match self.system {
            BillingCodeSystem::Cpt | BillingCodeSystem::Hcpcs => {
                let system = if self.system == BillingCodeSystem::Cpt {
                    ProcedureSystem::Cpt
                } else {
                    ProcedureSystem::Hcpcs
                };
                v.check(
                    "billing_code.code",
                    "invalid",
                    ProcedureCode::parse(system, &self.code),
                )
                .map(|c| c.as_str().to_owned())
            }
            BillingCodeSystem::National => {
                let code = self.code.trim();
                if !code.is_empty()
                    && code.len() <= 48
                    && code
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
                {
                    Some(code.to_owned())
                } else {
                    v.add(
                        "billing_code.code",
                        "invalid",
                        "1 to 48 letters, digits, dots or dashes",
                    );
                    None
                }
            }
        };
        let modifiers = super::code_list(
            "billing_code.modifiers",
            &self.modifiers,
            4,
            "modifier",
            Modifier::parse,
            Modifier::as_str,
            v,
        );
        let revenue_code = self.revenue_code.as_deref().and_then(|r| {
            v.check(
                "billing_code.revenue_code",
                "invalid",
                RevenueCode::parse(r),
            )
            .map(|r| r.as_str().to_owned())
        });
        Some(BillingCode {
            system: self.system,
            code: code?,
            modifiers,
            revenue_code,
            unit_basis: self.unit_basis,
        })
    }
}

impl From<service::CatalogItem> for CatalogItem {
    fn from(i: service::CatalogItem) -> Self {
        CatalogItem {
            id: i.id.to_string(),
            code: i.code,
            description: i.description,
            service_group: i.service_group,
            kind: i.kind,
            unit: i.unit,
            active: i.active,
            billing_code: i.billing_code,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

impl CatalogItemInput {
    /// Validates every field.
    pub fn validate(self) -> Result<NewItem, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let description = v.text("description", &self.description, 300);
        let service_group = v.check("service_group", "invalid", Code::parse(&self.service_group));
        let unit = v.check("unit", "invalid", Code::parse(&self.unit));
        let billing_code = self.billing_code.as_ref().and_then(|b| b.check(&mut v));
        v.finish().map_err(Error::validation)?;
        match (code, description, service_group, unit) {
            (Some(code), Some(description), Some(service_group), Some(unit)) => Ok(NewItem {
                code,
                description,
                service_group,
                unit,
                kind: self.kind,
                active: self.active.unwrap_or(true),
                billing_code,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// A catalog row.
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

impl From<CatalogFilter> for service::CatalogFilter {
    fn from(f: CatalogFilter) -> Self {
        service::CatalogFilter {
            service_group: f.service_group,
            kind: f.kind,
            code: f.code,
            active: f.active,
        }
    }
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
#[tracing::instrument(skip_all)]
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
                service::create(conn, &who, input).map(CatalogItem::from)
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
#[tracing::instrument(skip_all, fields(id = %id))]
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
            .write(move |conn| service::replace(conn, &who, &id, input))
            .await?
            .into(),
    ))
}

/// Get a catalog item.
#[utoipa::path(get, path = "/v1/catalog-items/{id}", tag = "catalog",
    params(("id" = String, Path, description = "Catalog item id")),
    responses((status = 200, description = "The item", body = CatalogItem),
        (status = 404, description = "No such item", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
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
            .read(move |conn| service::get(conn, &id.to_string()))
            .await?
            .into(),
    ))
}

/// List catalog items.
#[utoipa::path(get, path = "/v1/catalog-items", tag = "catalog", params(CatalogFilter, PageParams),
    responses((status = 200, description = "A page of catalog items", body = Page<CatalogItem>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
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
            .read(move |conn| service::list(conn, &filter.into(), &page))
            .await?
            .map(CatalogItem::from),
    ))
}
