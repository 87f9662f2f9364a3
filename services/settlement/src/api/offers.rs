//! Promotional offers: prepaid bundles. An offer says that buying its bundle (a catalog code,
//! priced on the price list like any other — e.g. ten physiotherapy sessions at a discount)
//! prepays a number of units of some services. The purchase is the bundle's consumption, billed
//! in its settlement as usual; the patient's later consumptions of those services, in any
//! episode, take units from it and are priced at zero for the units taken (`offer` on the line
//! says which purchase and how many units are left) until it is used up or expires.
//!
//! An offer is not changed once created (units already sold stay as sold): new terms are a new
//! offer, and `inactive_from` ends the sale of the old one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::settlement::Offer;
use carebill_domain::{Code, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent,
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::service::offers::{self, NewOffer, OfferRecord};

impl From<OfferRecord> for OfferView {
    fn from(o: OfferRecord) -> Self {
        OfferView {
            code: o.code,
            description: o.description,
            bundle_code: o.bundle_code,
            service_codes: o.service_codes,
            units: o.units,
            valid_days: o.valid_days,
            active_from: o.active_from,
            inactive_from: o.inactive_from,
            created_by: o.created_by,
            created_at: o.created_at,
        }
    }
}

/// An offer as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfferView {
    /// Code.
    #[schema(example = "PHYSIO-10")]
    pub code: String,
    /// Description.
    pub description: String,
    /// The catalog code whose consumption is the purchase (priced on the price list).
    #[schema(example = "PHYSIO-BUNDLE-10")]
    pub bundle_code: String,
    /// The catalog codes the prepaid units pay for.
    pub service_codes: Vec<String>,
    /// Units prepaid per bundle bought, a decimal string.
    #[schema(value_type = String, example = "10")]
    pub units: Decimal,
    /// Days the units can be used from the day of purchase (none: no limit).
    pub valid_days: Option<u32>,
    /// Bundles bought from this day count.
    pub active_from: NaiveDate,
    /// Bundles bought from this day on do not.
    pub inactive_from: Option<NaiveDate>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// What a billing manager sends to create an offer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferInput {
    /// Code.
    #[schema(example = "PHYSIO-10")]
    pub code: String,
    /// Description.
    #[schema(example = "Ten physiotherapy sessions")]
    pub description: String,
    /// The bundle's catalog code.
    #[schema(example = "PHYSIO-BUNDLE-10")]
    pub bundle_code: String,
    /// The codes its units pay for (not the bundle's own).
    pub service_codes: Vec<String>,
    /// Units per bundle, more than zero, at most 4 decimals.
    #[schema(schema_with = carebill_platform::http::decimal_input)]
    pub units: Decimal,
    /// Days of validity from the purchase, 1 to 3650.
    pub valid_days: Option<u32>,
    /// First day of sale.
    pub active_from: NaiveDate,
    /// End of sale.
    pub inactive_from: Option<NaiveDate>,
}

impl OfferInput {
    fn validate(self) -> Result<NewOffer, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        v.text("description", &self.description, 200);
        let bundle = v.check("bundle_code", "invalid", Code::parse(&self.bundle_code));
        let mut services = Vec::new();
        for (i, c) in self.service_codes.iter().enumerate() {
            let field = format!("service_codes.{i}");
            if let Some(c) = v.check(&field, "invalid", Code::parse(c)) {
                if bundle.as_ref().is_some_and(|b| b.as_str() == c.as_str()) {
                    v.add(&field, "bundle_itself", "a bundle does not pay for itself");
                }
                services.push(c.to_string());
            }
        }
        services.sort();
        services.dedup();
        if self.service_codes.is_empty() {
            v.add(
                "service_codes",
                "required",
                "name at least one service code",
            );
        }
        let units = self.units.normalize();
        if units <= Decimal::ZERO || units.scale() > 4 || units > Decimal::from(100_000) {
            v.add(
                "units",
                "out_of_range",
                "more than 0, at most 100000, at most 4 decimals",
            );
        }
        if let Some(d) = self.valid_days
            && !(1..=3650).contains(&d)
        {
            v.add("valid_days", "out_of_range", "1 to 3650 days");
        }
        v.check(
            "active_from",
            "out_of_range",
            carebill_domain::accounts::check_date(self.active_from),
        );
        if let Some(end) = self.inactive_from {
            v.check(
                "inactive_from",
                "out_of_range",
                carebill_domain::accounts::check_date(end),
            );
            if end <= self.active_from {
                v.add(
                    "inactive_from",
                    "before_start",
                    "must come after active_from",
                );
            }
        }
        v.finish().map_err(Error::validation)?;
        match (code, bundle) {
            (Some(code), Some(bundle)) => Ok(NewOffer {
                offer: Offer {
                    code: code.to_string(),
                    bundle_code: bundle.to_string(),
                    service_codes: services,
                    units,
                    valid_days: self.valid_days,
                },
                description: self.description.trim().to_owned(),
                active_from: self.active_from,
                inactive_from: self.inactive_from,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// A purchase and what is left of it. (Named `OfferBalance` in the OpenAPI document: collections'
/// `Balance` is a party's balance.)
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = OfferBalance)]
pub struct Balance {
    /// The offer.
    pub offer: String,
    /// The purchase: the bundle consumption's id.
    pub purchase: String,
    /// Bought on.
    pub bought_on: NaiveDate,
    /// Usable until (none: no limit).
    pub valid_until: Option<NaiveDate>,
    /// Units bought.
    #[schema(value_type = String)]
    pub units: Decimal,
    /// Units used by the patient's settlements as they stand.
    #[schema(value_type = String)]
    pub used: Decimal,
    /// Units left.
    #[schema(value_type = String)]
    pub remaining: Decimal,
}

/// Whose balances.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BalanceFilter {
    /// The patient.
    pub patient_id: uuid::Uuid,
}

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

/// Create an offer (a prepaid bundle).
#[utoipa::path(post, path = "/v1/offers", tag = "offers", request_body = OfferInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Created", body = OfferView),
        (status = 409, description = "The code is taken (`already_exists`), or another offer sells the same bundle on some of these days (`overlapping_offer`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_offer(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<OfferInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                offers::create(conn, &who, input).map(OfferView::from)
            })
        })
        .await
}

/// Ends the sale of an offer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndInput {
    /// Bundles bought from this day on no longer count as this offer's (units already bought
    /// stay usable until they expire).
    pub inactive_from: NaiveDate,
    /// Why.
    pub reason: String,
}

/// End the sale of an offer from a day (units already sold stay usable).
#[utoipa::path(post, path = "/v1/offers/{code}/end", tag = "offers", request_body = EndInput,
    params(("code" = String, Path, description = "Offer code")),
    responses((status = 200, description = "The offer with its end of sale", body = OfferView),
        (status = 404, description = "No such offer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A day before the start, one after the current end, one on or before a day the offer sold a bundle (`sold_after`: what was sold stays sold), or no reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn end_offer(
    state: web::Data<SettlementState>,
    who: Principal,
    code: web::Path<String>,
    body: JsonBody<EndInput>,
) -> Result<web::Json<OfferView>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let code = code.into_inner();
    let input = body.value;
    let ended = state
        .db
        .write(move |conn| offers::end(conn, &who, &code, input.inactive_from, &input.reason))
        .await?;
    Ok(web::Json(ended.into()))
}

/// Get an offer.
#[utoipa::path(get, path = "/v1/offers/{code}", tag = "offers",
    params(("code" = String, Path, description = "Offer code")),
    responses((status = 200, description = "The offer", body = OfferView),
        (status = 404, description = "No such offer", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_offer(
    state: web::Data<SettlementState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<web::Json<OfferView>, Error> {
    who.require(READERS)?;
    let code = code.into_inner();
    let found = state.db.read(move |conn| offers::get(conn, &code)).await?;
    Ok(web::Json(found.into()))
}

/// List offers, by code.
#[utoipa::path(get, path = "/v1/offers", tag = "offers", params(PageParams),
    responses((status = 200, description = "A page of offers", body = Page<OfferView>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_offers(
    state: web::Data<SettlementState>,
    who: Principal,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<OfferView>>, Error> {
    who.require(READERS)?;
    let page: PageRequest = page.parse()?;
    let (found, page) = state
        .db
        .read(move |conn| {
            offers::list(conn, page.after.as_deref(), page.limit + 1).map(|o| (o, page))
        })
        .await?;
    let views: Vec<OfferView> = found.into_iter().map(OfferView::from).collect();
    Ok(web::Json(Page::from_rows(views, &page, |v| v.code.clone())))
}

/// A patient's prepaid bundles: units bought, used and left.
#[utoipa::path(get, path = "/v1/offer-balances", tag = "offers", params(BalanceFilter),
    responses((status = 200, description = "The patient's purchases, oldest first", body = Vec<Balance>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_balances(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<BalanceFilter>,
) -> Result<web::Json<Vec<Balance>>, Error> {
    who.require(READERS)?;
    let patient = filter.patient_id.to_string();
    let scope = Scope::of(&who);
    let bought = state
        .db
        .read(move |conn| offers::balances(conn, &scope, &patient))
        .await?;
    Ok(web::Json(
        bought
            .into_iter()
            .map(|p| Balance {
                remaining: p.remaining(),
                offer: p.offer,
                purchase: p.id,
                bought_on: p.from,
                valid_until: p.until,
                units: p.units,
                used: p.used,
            })
            .collect(),
    ))
}
