//! Tax rules over HTTP ([`crate::service::tax_rules`]): the VAT of lines per country, for one
//! catalog code, one service group or every line, valid by date.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::identifiers::Country;
use carebill_domain::ids::TaxRuleId;
use carebill_domain::invoicing::{LineTax, TaxCategory};
use carebill_domain::{Code, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::AUDIT_READERS;
use crate::InvoicingState;
use crate::service::tax_rules::{self as service, NewTaxRule, StoredTaxRule};

/// Roles that may create and change tax rules (admin always may).
const WRITERS: &[Role] = &[Role::BillingManager];

/// A tax rule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TaxRuleDoc {
    /// Id.
    pub id: TaxRuleId,
    /// ISO 3166-1 alpha-2 country of the issuing locations (their address's).
    #[schema(example = "ES")]
    pub country: String,
    /// Only lines of this catalog code.
    pub catalog_code: Option<String>,
    /// Only lines of this service group.
    #[schema(example = "COSMETIC")]
    pub service_group: Option<String>,
    /// UNCL 5305 category: `S`, `Z`, `E` or `O`.
    pub category: TaxCategory,
    /// Rate in percent (0 but for `S`).
    #[schema(example = "21")]
    pub rate: String,
    /// VATEX exemption reason code (`E`, `O`).
    pub exemption_reason_code: Option<String>,
    /// Exemption reason text (`E`, `O`).
    pub exemption_reason: Option<String>,
    /// First day in force (invoice dates).
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
    /// Free text.
    pub description: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<StoredTaxRule> for TaxRuleDoc {
    fn from(r: StoredTaxRule) -> Self {
        TaxRuleDoc {
            id: r.id,
            country: r.country,
            catalog_code: r.catalog_code,
            service_group: r.service_group,
            category: r.category,
            rate: r.rate.normalize().to_string(),
            exemption_reason_code: r.exemption_reason_code,
            exemption_reason: r.exemption_reason,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            description: r.description,
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

/// What a client sends to create or replace a tax rule.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRuleInput {
    /// ISO 3166-1 alpha-2 country of the issuing locations.
    #[schema(example = "ES")]
    pub country: String,
    /// Only lines of this catalog code (not with `service_group`).
    pub catalog_code: Option<String>,
    /// Only lines of this service group (not with `catalog_code`).
    #[schema(example = "COSMETIC")]
    pub service_group: Option<String>,
    /// UNCL 5305 category: `S` (standard or reduced rate), `Z` (zero rated), `E` (exempt), `O`
    /// (outside the scope of VAT).
    pub category: TaxCategory,
    /// Rate in percent, above 0 and at most 100, for `S` only.
    #[schema(example = "21", pattern = r"^[0-9]+(\.[0-9]+)?$")]
    pub rate: Option<String>,
    /// VATEX exemption reason code, for `E` and `O` (this or `exemption_reason`).
    #[schema(example = "VATEX-EU-132-1B")]
    pub exemption_reason_code: Option<String>,
    /// Exemption reason text, for `E` and `O`.
    #[schema(max_length = 300)]
    pub exemption_reason: Option<String>,
    /// First day in force (invoice dates).
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
    /// Free text.
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

impl TaxRuleInput {
    fn validate(self) -> Result<NewTaxRule, Error> {
        let mut v = Validation::new();
        let country = v
            .check("country", "invalid", Country::parse(&self.country))
            .map(|c| c.code().to_owned());
        let catalog_code = self
            .catalog_code
            .as_deref()
            .and_then(|c| v.check("catalog_code", "invalid", Code::parse(c)))
            .map(|c| c.as_str().to_owned());
        let service_group = self
            .service_group
            .as_deref()
            .and_then(|g| v.check("service_group", "invalid", Code::parse(g)))
            .map(|g| g.as_str().to_owned());
        if self.catalog_code.is_some() && self.service_group.is_some() {
            v.add(
                "service_group",
                "invalid",
                "a rule covers one catalog code, one service group, or every line: not both",
            );
        }
        let rate = match self.rate.as_deref() {
            None => Some(Decimal::ZERO),
            Some(r) => v.check(
                "rate",
                "invalid",
                r.trim()
                    .parse::<Decimal>()
                    .map_err(|_| format!("`{r}` is not a decimal number")),
            ),
        };
        let code = v.opt_text(
            "exemption_reason_code",
            self.exemption_reason_code.as_deref(),
            40,
        );
        if let Some(c) = &code
            && !c.starts_with("VATEX-")
        {
            v.add(
                "exemption_reason_code",
                "invalid",
                format!("`{c}` is not a VATEX code (VATEX-EU-132-1B, VATEX-EU-O, ...)"),
            );
        }
        let text = v.opt_text("exemption_reason", self.exemption_reason.as_deref(), 300);
        let description = v.opt_text("description", self.description.as_deref(), 500);
        if let Some(to) = self.valid_to
            && to < self.valid_from
        {
            v.add("valid_to", "invalid", "must not be before valid_from");
        }
        let tax = rate.map(|rate| LineTax {
            category: self.category,
            rate,
            exemption_reason_code: code,
            exemption_reason: text,
        });
        if let Some(t) = &tax
            && let Err(e) = t.check()
        {
            let field = if matches!(
                self.category,
                TaxCategory::Exempt | TaxCategory::OutsideScope
            ) && t.rate.is_zero()
            {
                "exemption_reason_code"
            } else {
                "rate"
            };
            v.add(field, "invalid", e);
        }
        v.finish().map_err(Error::validation)?;
        match (country, tax) {
            (Some(country), Some(tax)) => Ok(NewTaxRule {
                country,
                catalog_code,
                service_group,
                tax,
                valid_from: self.valid_from,
                valid_to: self.valid_to,
                description,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Create a tax rule.
#[utoipa::path(post, path = "/v1/tax-rules", tag = "tax rules", request_body = TaxRuleInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "The rule", body = TaxRuleDoc),
        (status = 422, description = "Invalid rule, or one that overlaps another of its country (`tax_rule_overlaps`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_tax_rule(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<TaxRuleInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let new = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                Ok(TaxRuleDoc::from(service::create(conn, &who, new)?))
            })
        })
        .await
}

/// Replace a tax rule's terms (invoices issued before keep their VAT).
#[utoipa::path(put, path = "/v1/tax-rules/{id}", tag = "tax rules", request_body = TaxRuleInput,
    params(("id" = String, Path, description = "Tax rule id")),
    responses((status = 200, description = "The rule", body = TaxRuleDoc),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid rule, or one that overlaps another of its country (`tax_rule_overlaps`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(tax_rule_id = %id))]
pub async fn replace_tax_rule(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<TaxRuleInput>,
) -> Result<web::Json<TaxRuleDoc>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: TaxRuleId = parse_id(&id, "tax rule")?;
    let new = body.value.validate()?;
    let rule = state
        .db
        .write(move |conn| service::replace(conn, &who, id, new))
        .await?;
    Ok(web::Json(rule.into()))
}

/// Filters and paging of the tax rule list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaxRuleQuery {
    /// Of this country.
    pub country: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// List the tax rules, oldest first.
#[utoipa::path(get, path = "/v1/tax-rules", tag = "tax rules", params(TaxRuleQuery),
    responses((status = 200, description = "A page of rules", body = Page<TaxRuleDoc>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_tax_rules(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<TaxRuleQuery>,
) -> Result<web::Json<Page<TaxRuleDoc>>, Error> {
    who.require(AUDIT_READERS)?;
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let country = query.country.map(|c| c.trim().to_ascii_uppercase());
    let page = state
        .db
        .read(move |conn| service::list(conn, country.as_deref(), &page))
        .await?;
    Ok(web::Json(page.map(TaxRuleDoc::from)))
}

/// Get a tax rule.
#[utoipa::path(get, path = "/v1/tax-rules/{id}", tag = "tax rules",
    params(("id" = String, Path, description = "Tax rule id")),
    responses((status = 200, description = "The rule", body = TaxRuleDoc),
        (status = 404, description = "No such rule", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(tax_rule_id = %id))]
pub async fn get_tax_rule(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<TaxRuleDoc>, Error> {
    who.require(AUDIT_READERS)?;
    let id: TaxRuleId = parse_id(&id, "tax rule")?;
    let rule = state.db.read(move |conn| service::get(conn, id)).await?;
    Ok(web::Json(rule.into()))
}
