//! Price lists: the unit price of a catalog code, in force from a date (to a date), for every
//! location and payer or only for one location and/or one payer. Prices are not edited: a price
//! is ended (`valid_to`) and a new one created, so the price in force on any past day stays known.
//! Entries of the same code, location and payer never overlap in time.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::settlement::PriceQualifiers;
use carebill_domain::{Code, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::service::prices::{self, ListFilter, NewPrice, PriceRecord};

impl From<PriceRecord> for Price {
    fn from(p: PriceRecord) -> Self {
        Price {
            id: p.id,
            code: p.code,
            unit_price: p.unit_price,
            valid_from: p.valid_from,
            valid_to: p.valid_to,
            location_code: p.location_code,
            payer_code: p.payer_code,
            beneficiary_kind: p.beneficiary_kind,
            object_type: p.object_type,
            care_level: p.care_level,
            components: p.components,
            created_by: p.created_by,
            created_at: p.created_at,
        }
    }
}

/// A price as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Price {
    /// Id.
    pub id: String,
    /// Catalog code priced.
    #[schema(example = "LAB-HB")]
    pub code: String,
    /// Price of one unit.
    pub unit_price: Money,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force; open-ended when absent.
    pub valid_to: Option<NaiveDate>,
    /// Only at this location, if set.
    pub location_code: Option<String>,
    /// Only for this payer, if set.
    pub payer_code: Option<String>,
    /// A service price for invoicing rules: only for this beneficiary kind.
    pub beneficiary_kind: Option<String>,
    /// A service price for invoicing rules: only for rooms of this object type.
    pub object_type: Option<String>,
    /// A service price for invoicing rules: only for this care level.
    pub care_level: Option<String>,
    /// A package price: the codes it includes (priced at zero where the package is billed).
    pub components: Vec<String>,
    /// Who created it.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// What a client sends to create a price.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// Catalog code.
    #[schema(example = "LAB-HB", pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// Price of one unit, not negative.
    pub unit_price: Money,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
    /// Only at this location (code).
    #[schema(example = "H1")]
    pub location_code: Option<String>,
    /// Only for this payer (code).
    #[schema(example = "SANITAS")]
    pub payer_code: Option<String>,
    /// Makes it a service price of invoicing rules (the code is then a service group): only
    /// for this beneficiary kind. Qualified prices never price consumptions.
    #[schema(example = "LTC")]
    pub beneficiary_kind: Option<String>,
    /// Service price: only for rooms of this object type.
    #[schema(example = "SINGLE")]
    pub object_type: Option<String>,
    /// Service price: only for this care level (evaluations).
    #[schema(example = "L3")]
    pub care_level: Option<String>,
    /// Makes it a package price: the codes the package includes. Where the package is billed
    /// in a settlement, these are priced at zero (kept visible, the package named).
    #[serde(default)]
    #[schema(example = json!(["LAB-HB", "LAB-GLU"]))]
    pub components: Vec<String>,
}

/// Ends a price.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndInput {
    /// Last day the price is in force; not before its first day.
    pub valid_to: NaiveDate,
    /// Why.
    #[schema(example = "new tariff from 2027", pattern = r"\S", max_length = 500)]
    pub reason: String,
}

fn optional_code(v: &mut Validation, field: &str, value: Option<&str>) -> Option<Code> {
    match value.map(str::trim) {
        None | Some("") => None,
        Some(c) => v.check(field, "invalid", Code::parse(c)),
    }
}

impl PriceInput {
    fn validate(self) -> Result<NewPrice, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        if self.unit_price.amount().is_sign_negative() {
            v.add("unit_price.amount", "negative", "must not be negative");
        }
        v.check(
            "valid_from",
            "out_of_range",
            carebill_domain::accounts::check_date(self.valid_from),
        );
        if let Some(to) = self.valid_to {
            v.check(
                "valid_to",
                "out_of_range",
                carebill_domain::accounts::check_date(to),
            );
            v.check(
                "valid_to",
                "invalid",
                carebill_domain::accounts::check_validity(Some(self.valid_from), Some(to)),
            );
        }
        let location = optional_code(&mut v, "location_code", self.location_code.as_deref());
        let payer = optional_code(&mut v, "payer_code", self.payer_code.as_deref());
        let qualifiers = PriceQualifiers {
            beneficiary_kind: optional_code(
                &mut v,
                "beneficiary_kind",
                self.beneficiary_kind.as_deref(),
            )
            .map(|c| c.to_string()),
            object_type: optional_code(&mut v, "object_type", self.object_type.as_deref())
                .map(|c| c.to_string()),
            level: optional_code(&mut v, "care_level", self.care_level.as_deref())
                .map(|c| c.to_string()),
        };
        let mut components: Vec<String> = Vec::new();
        for (i, c) in self.components.iter().enumerate() {
            if let Some(c) = v.check(&format!("components.{i}"), "invalid", Code::parse(c)) {
                if c.as_str() == self.code.trim() {
                    v.add(
                        format!("components.{i}"),
                        "self",
                        "a package does not include itself",
                    );
                }
                components.push(c.to_string());
            }
        }
        components.sort();
        components.dedup();
        if !components.is_empty() && !qualifiers.is_empty() {
            v.add(
                "components",
                "not_with_qualifiers",
                "packages price consumptions; service prices of rules have no components",
            );
        }
        if self.components.len() > 100 {
            v.add("components", "too_many", "at most 100 components");
        }
        if payer.is_some() && !qualifiers.is_empty() {
            v.add(
                "payer_code",
                "not_with_qualifiers",
                "a service price for invoicing rules is not payer-specific: invoice contexts say who pays",
            );
        }
        v.finish().map_err(Error::validation)?;
        let code = code.ok_or_else(|| Error::internal(&"validation passed without a code"))?;
        Ok(NewPrice {
            code,
            location,
            payer,
            qualifiers,
            components,
            unit_price: self.unit_price,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        })
    }
}

/// Filters for the price list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PriceFilter {
    /// Prices of this catalog code.
    pub code: Option<String>,
    /// Prices limited to this location.
    pub location_code: Option<String>,
    /// Prices limited to this payer.
    pub payer_code: Option<String>,
    /// Prices in force on this day.
    pub in_force_on: Option<NaiveDate>,
}

/// The question "what does this cost here, then, for this payer?".
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResolveQuery {
    /// Catalog code.
    pub code: String,
    /// Service day.
    pub on: NaiveDate,
    /// Location code.
    pub location_code: String,
    /// Payer code, if a payer-specific price may apply.
    pub payer_code: Option<String>,
}

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

/// Add a price.
#[utoipa::path(post, path = "/v1/prices", tag = "prices", request_body = PriceInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Created", body = Price),
        (status = 409, description = "Overlaps a price of the same code, location and payer", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_price(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PriceInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                prices::create(conn, &who, input).map(Price::from)
            })
        })
        .await
}

/// End a price on a day (bring its end forward); create its successor separately.
#[utoipa::path(post, path = "/v1/prices/{id}/end", tag = "prices", request_body = EndInput,
    params(("id" = String, Path, description = "Price id")),
    responses((status = 200, description = "Ended", body = Price)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn end_price(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<EndInput>,
) -> Result<web::Json<Price>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let mut v = Validation::new();
    let reason = v.text("reason", &body.value.reason, 500);
    v.check(
        "valid_to",
        "out_of_range",
        carebill_domain::accounts::check_date(body.value.valid_to),
    );
    v.finish().map_err(Error::validation)?;
    let Some(reason) = reason else {
        return Err(Error::internal(&"validation passed without a reason"));
    };
    let valid_to = body.value.valid_to;
    let id: uuid::Uuid = parse_id(&id, "price")?;
    let ended = state
        .db
        .write(move |conn| prices::end(conn, &who, &id.to_string(), valid_to, &reason))
        .await?;
    Ok(web::Json(ended.into()))
}

/// Get a price.
#[utoipa::path(get, path = "/v1/prices/{id}", tag = "prices",
    params(("id" = String, Path, description = "Price id")),
    responses((status = 200, description = "The price", body = Price)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_price(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Price>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "price")?;
    let price = state
        .db
        .read(move |conn| prices::get(conn, &id.to_string()))
        .await?;
    Ok(web::Json(price.into()))
}

/// List prices.
#[utoipa::path(get, path = "/v1/prices", tag = "prices", params(PriceFilter, PageParams),
    responses((status = 200, description = "A page of prices", body = Page<Price>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_prices(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<PriceFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Price>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let f = filter.into_inner();
    let filter = ListFilter {
        code: f.code,
        location_code: f.location_code,
        payer_code: f.payer_code,
        in_force_on: f.in_force_on,
    };
    let (found, page) = state
        .db
        .read(move |conn| {
            prices::list(conn, &filter, page.after.as_deref(), page.limit + 1).map(|p| (p, page))
        })
        .await?;
    let found: Vec<Price> = found.into_iter().map(Price::from).collect();
    Ok(web::Json(Page::from_rows(found, &page, |p| p.id.clone())))
}

/// The price that applies to a code on a day at a location (and for a payer): the most specific
/// in force.
#[utoipa::path(get, path = "/v1/prices/resolve", tag = "prices", params(ResolveQuery),
    responses((status = 200, description = "The price in force", body = Price),
        (status = 404, description = "No price in force", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn resolve_price(
    state: web::Data<SettlementState>,
    who: Principal,
    q: web::Query<ResolveQuery>,
) -> Result<web::Json<Price>, Error> {
    who.require(READERS)?;
    let q = q.into_inner();
    carebill_domain::accounts::check_date(q.on)
        .map_err(|m| Error::field("on", "out_of_range", m))?;
    let mut v = Validation::new();
    let code = v.check("code", "invalid", Code::parse(&q.code));
    let location = v.check("location_code", "invalid", Code::parse(&q.location_code));
    let payer = optional_code(&mut v, "payer_code", q.payer_code.as_deref());
    v.finish().map_err(Error::validation)?;
    let (Some(code), Some(location)) = (code, location) else {
        return Err(Error::internal(&"validation passed without values"));
    };
    let price = state
        .db
        .read(move |conn| prices::resolve(conn, &code, q.on, &location, payer.as_ref()))
        .await?;
    Ok(web::Json(price.into()))
}
