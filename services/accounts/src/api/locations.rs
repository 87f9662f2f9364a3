//! Locations over HTTP: the hospitals, clinics and care homes of the organisation. Each is an
//! invoice issuer, has a time zone and a currency, and scopes access.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::parse_time_zone;
use carebill_domain::{Code, Currency, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, object, parse_id,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::api::{
    Address, BankAccount, PaymentTerms, SchemeIdentifier, check_bank_account, check_email,
    check_payment_terms, check_vat_id,
};
use crate::service::StoredBilling;
use crate::service::locations::{self as service, NewLocation};

/// A location as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Location {
    /// Id.
    pub id: String,
    /// Unique short code, used in tokens' location scope and invoice series.
    #[schema(example = "H1")]
    pub code: String,
    /// Name.
    #[schema(example = "Hospital Central")]
    pub name: String,
    /// Postal address.
    pub address: Address,
    /// Tax id of the issuing entity.
    #[schema(example = "ESB12345678")]
    pub tax_id: Option<String>,
    /// IANA time zone.
    #[schema(example = "Europe/Madrid")]
    pub time_zone: String,
    /// Invoicing currency.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Whether new episodes may be opened here.
    pub active: bool,
    /// Legal name of the issuing entity, as e-invoices name the seller (BT-27).
    #[schema(example = "Hospital Central S.L.")]
    pub legal_name: Option<String>,
    /// VAT identifier with its country prefix (BT-31).
    #[schema(example = "ESB12345678")]
    pub vat_id: Option<String>,
    /// Legal registration identifier with its ISO 6523 ICD scheme (BT-30).
    pub legal_registration: Option<SchemeIdentifier>,
    /// Electronic address e-invoices are routed by, with its EAS scheme (BT-34).
    pub endpoint: Option<SchemeIdentifier>,
    /// Where payers pay to (BT-84, BT-86).
    pub bank_account: Option<BankAccount>,
    /// Billing contact e-mail (BT-43).
    #[schema(example = "billing@hospital.example")]
    pub contact_email: Option<String>,
    /// Payment terms of the location's invoices, unless the payer has its own.
    pub payment_terms: Option<PaymentTerms>,
    /// What US claims name the location by as billing provider; absent when not set.
    pub claims: Option<carebill_domain::events::LocationClaims>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<service::Location> for Location {
    fn from(l: service::Location) -> Self {
        Location {
            id: l.id.to_string(),
            code: l.code,
            name: l.name,
            address: l.address.into(),
            tax_id: l.tax_id,
            time_zone: l.time_zone,
            currency: l.currency.code().to_owned(),
            active: l.active,
            legal_name: l.billing.legal_name,
            vat_id: l.billing.vat_id,
            legal_registration: l.billing.legal_registration.map(Into::into),
            endpoint: l.billing.endpoint.map(Into::into),
            bank_account: l.billing.iban.map(|iban| BankAccount {
                iban,
                bic: l.billing.bic,
            }),
            contact_email: l.billing.contact_email,
            payment_terms: l.billing.payment_terms.map(Into::into),
            claims: l.claims,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

/// What a client sends to create or replace a location.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    /// Unique code (letters, digits, `. _ - /`); cannot change later.
    #[schema(example = "H1")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// Name.
    #[schema(example = "Hospital Central")]
    #[schema(pattern = r"\S", max_length = 200)]
    pub name: String,
    /// Postal address.
    #[serde(default, deserialize_with = "object")]
    pub address: Address,
    /// Tax id.
    #[schema(example = "ESB12345678")]
    pub tax_id: Option<String>,
    /// IANA time zone (default `UTC`).
    #[schema(example = "Europe/Madrid")]
    pub time_zone: Option<String>,
    /// ISO 4217 invoicing currency (default `EUR`).
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// Default true.
    pub active: Option<bool>,
    /// Legal name of the issuing entity (BT-27).
    #[schema(example = "Hospital Central S.L.")]
    pub legal_name: Option<String>,
    /// VAT identifier with its country prefix (BT-31).
    #[schema(example = "ESB12345678")]
    pub vat_id: Option<String>,
    /// Legal registration identifier with its ISO 6523 ICD scheme (BT-30).
    pub legal_registration: Option<SchemeIdentifier>,
    /// Electronic address with its EAS scheme (BT-34), e.g. `0088` and the location's GLN.
    pub endpoint: Option<SchemeIdentifier>,
    /// Where payers pay to: IBAN (check digits checked) and BIC.
    pub bank_account: Option<BankAccount>,
    /// Billing contact e-mail (BT-43).
    #[schema(example = "billing@hospital.example")]
    pub contact_email: Option<String>,
    /// Payment terms of the location's invoices, unless the payer has its own (default 30 days
    /// net).
    pub payment_terms: Option<PaymentTerms>,
    /// What US claims name the location by as billing provider (NPI, taxonomy, EIN, place of
    /// service, type of bill per kind of episode).
    pub claims: Option<crate::api::LocationClaimsInput>,
}

impl LocationInput {
    /// Validates every field, reporting all problems at once.
    pub fn validate(self) -> Result<NewLocation, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let name = v.text("name", &self.name, 200);
        self.address.validate("address", &mut v);
        let tax_id = v.opt_text("tax_id", self.tax_id.as_deref(), 50);
        let tz = self.time_zone.unwrap_or_else(|| "UTC".to_owned());
        let time_zone = v
            .check("time_zone", "invalid", parse_time_zone(&tz))
            .map(|_| tz);
        let currency = v.check(
            "currency",
            "invalid",
            Currency::parse(self.currency.as_deref().unwrap_or("EUR")),
        );
        let (iban, bic) = check_bank_account("bank_account", self.bank_account.as_ref(), &mut v);
        let billing = StoredBilling {
            legal_name: v.opt_text("legal_name", self.legal_name.as_deref(), 200),
            vat_id: check_vat_id("vat_id", self.vat_id.as_deref(), &mut v),
            legal_registration: self
                .legal_registration
                .as_ref()
                .and_then(|r| r.check("legal_registration", &mut v)),
            endpoint: self
                .endpoint
                .as_ref()
                .and_then(|e| e.check("endpoint", &mut v)),
            iban,
            bic,
            contact_email: check_email("contact_email", self.contact_email.as_deref(), &mut v),
            buyer_reference: None,
            payment_terms: check_payment_terms(
                "payment_terms",
                self.payment_terms.as_ref(),
                &mut v,
            ),
        };
        let claims = self.claims.as_ref().map(|c| c.check("claims", &mut v));
        v.finish().map_err(Error::validation)?;
        match (code, name, time_zone, currency) {
            (Some(code), Some(name), Some(time_zone), Some(currency)) => Ok(NewLocation {
                code,
                name,
                address: self.address.into(),
                tax_id,
                time_zone,
                currency,
                active: self.active.unwrap_or(true),
                billing,
                claims,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
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

/// Create a location.
#[utoipa::path(post, path = "/v1/locations", tag = "locations", request_body = LocationInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created", body = Location),
        (status = 409, description = "Code taken or Idempotency-Key reused", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_location(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<LocationInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::create(conn, &who, input).map(Location::from)
            })
        })
        .await
}

/// Replace a location's details (its code cannot change).
#[utoipa::path(put, path = "/v1/locations/{id}", tag = "locations", request_body = LocationInput,
    params(("id" = String, Path, description = "Location id")),
    responses(
        (status = 200, description = "Updated", body = Location),
        (status = 404, description = "No such location in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn replace_location(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<LocationInput>,
) -> Result<web::Json<Location>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value.validate()?;
    let id = id.into_inner();
    let loc = state
        .db
        .write(move |conn| service::replace(conn, &who, &id, input))
        .await?;
    Ok(web::Json(loc.into()))
}

/// Get a location.
#[utoipa::path(get, path = "/v1/locations/{id}", tag = "locations",
    params(("id" = String, Path, description = "Location id")),
    responses((status = 200, description = "The location", body = Location),
        (status = 404, description = "No such location in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_location(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Location>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "location")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &Scope::of(&who), &id.to_string()))
            .await?
            .into(),
    ))
}

/// List the locations in your scope.
#[utoipa::path(get, path = "/v1/locations", tag = "locations", params(PageParams),
    responses((status = 200, description = "A page of locations", body = Page<Location>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_locations(
    state: web::Data<AccountsState>,
    who: Principal,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Location>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &Scope::of(&who), &page))
            .await?
            .map(Location::from),
    ))
}
