//! Carers over HTTP: the freelance carers a care agency places and invoices for, with what a
//! self-billed invoice needs of its seller and their self-billing agreements.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::agency::{SelfBillingAgreement, VatStatus, check_agreements};
use carebill_domain::{Code, Validation};
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
    Address, BankAccount, SchemeIdentifier, check_bank_account, check_email, check_vat_id,
};
use crate::service::StoredBilling;
use crate::service::carers::{self as service, NewCarer};

/// A carer as the API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Carer {
    /// Id.
    pub id: String,
    /// The agency (location) the carer works through.
    pub location_id: String,
    /// Unique code; the carer's invoices are numbered in a series of their own.
    #[schema(example = "ZZP-0042")]
    pub code: String,
    /// The name the carer goes by.
    #[schema(example = "Anouk de Vries")]
    pub name: String,
    /// Address.
    pub address: Address,
    /// Where reminders and notices go.
    #[schema(example = "anouk@example.nl")]
    pub email: Option<String>,
    /// Registered (trade) name, as invoices name the seller (BT-27).
    #[schema(example = "Zorg door Anouk")]
    pub legal_name: Option<String>,
    /// VAT identifier with its country prefix (BT-31).
    #[schema(example = "NL123456782B01")]
    pub vat_id: Option<String>,
    /// Chamber of commerce registration with its ISO 6523 scheme (BT-30), e.g. `0106` and the
    /// KvK number.
    pub legal_registration: Option<SchemeIdentifier>,
    /// The account the client pays the carer's invoices to.
    pub bank_account: Option<BankAccount>,
    /// VAT status.
    pub vat: VatStatus,
    /// Self-billing agreements: the legal basis of invoices issued on the carer's behalf.
    pub self_billing_agreements: Vec<SelfBillingAgreement>,
    /// Inactive carers get no new placements.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to create or replace a carer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarerInput {
    /// The agency (location) the carer works through; cannot change later.
    pub location_id: String,
    /// Unique code; cannot change later.
    #[schema(example = "ZZP-0042")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// The name the carer goes by.
    #[schema(example = "Anouk de Vries")]
    #[schema(pattern = r"\S", max_length = 200)]
    pub name: String,
    /// Address (invoices on the carer's behalf show it).
    #[serde(default, deserialize_with = "object")]
    pub address: Address,
    /// E-mail for reminders and notices.
    #[schema(example = "anouk@example.nl")]
    pub email: Option<String>,
    /// Registered (trade) name (BT-27); the name when absent.
    pub legal_name: Option<String>,
    /// VAT identifier (BT-31).
    #[schema(example = "NL123456782B01")]
    pub vat_id: Option<String>,
    /// Chamber of commerce registration (BT-30), e.g. `{"scheme": "0106", "id": "12345678"}`.
    pub legal_registration: Option<SchemeIdentifier>,
    /// Bank account payments go to (BT-84).
    pub bank_account: Option<BankAccount>,
    /// VAT status: `{"kind": "exempt", ...}` or `{"kind": "standard", "rate": "21"}`.
    pub vat: VatStatus,
    /// Self-billing agreements (at most 20, dates not overlapping).
    #[serde(default)]
    pub self_billing_agreements: Vec<SelfBillingAgreement>,
    /// Default true.
    pub active: Option<bool>,
}

impl From<service::Carer> for Carer {
    fn from(c: service::Carer) -> Self {
        let bank_account = c.billing.iban.clone().map(|iban| BankAccount {
            iban,
            bic: c.billing.bic.clone(),
        });
        Carer {
            id: c.id.to_string(),
            location_id: c.location_id.to_string(),
            code: c.code,
            name: c.name,
            address: c.address.into(),
            email: c.email,
            legal_name: c.billing.legal_name,
            vat_id: c.billing.vat_id,
            legal_registration: c.billing.legal_registration.map(Into::into),
            bank_account,
            vat: c.vat,
            self_billing_agreements: c.agreements,
            active: c.active,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl CarerInput {
    /// Validates every field.
    pub fn validate(self) -> Result<NewCarer, Error> {
        let mut v = Validation::new();
        let location_id = v.check(
            "location_id",
            "invalid",
            self.location_id
                .parse::<uuid::Uuid>()
                .map_err(|_| "must be a location id"),
        );
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let name = v.text("name", &self.name, 200);
        self.address.validate("address", &mut v);
        let email = check_email("email", self.email.as_deref(), &mut v);
        let (iban, bic) = check_bank_account("bank_account", self.bank_account.as_ref(), &mut v);
        let billing = StoredBilling {
            legal_name: v.opt_text("legal_name", self.legal_name.as_deref(), 200),
            vat_id: check_vat_id("vat_id", self.vat_id.as_deref(), &mut v),
            legal_registration: self
                .legal_registration
                .as_ref()
                .and_then(|r| r.check("legal_registration", &mut v)),
            iban,
            bic,
            contact_email: email.clone(),
            ..StoredBilling::default()
        };
        if let Err(e) = self.vat.check() {
            v.add("vat.rate", "invalid", e);
        }
        if let VatStatus::Exempt {
            reason_code,
            reason,
        } = &self.vat
        {
            v.opt_text("vat.reason_code", reason_code.as_deref(), 60);
            v.opt_text("vat.reason", reason.as_deref(), 300);
        }
        if self.self_billing_agreements.len() > 20 {
            v.add(
                "self_billing_agreements",
                "too_many",
                "at most 20 agreements",
            );
        }
        let mut agreements = Vec::with_capacity(self.self_billing_agreements.len());
        for (i, a) in self.self_billing_agreements.iter().enumerate() {
            if let Some(reference) = v.text(
                &format!("self_billing_agreements.{i}.reference"),
                &a.reference,
                100,
            ) {
                agreements.push(SelfBillingAgreement {
                    reference,
                    ..a.clone()
                });
            }
        }
        for (i, e) in check_agreements(&agreements) {
            v.add(format!("self_billing_agreements.{i}"), "invalid", e);
        }
        v.finish().map_err(Error::validation)?;
        match (location_id, code, name) {
            (Some(location_id), Some(code), Some(name)) => Ok(NewCarer {
                location_id: location_id.to_string(),
                code,
                name,
                address: self.address.into(),
                email,
                billing,
                vat: self.vat,
                agreements,
                active: self.active.unwrap_or(true),
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Filters for the carer list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CarerFilter {
    /// Only the carer with this code.
    pub code: Option<String>,
    /// Only active (true) or inactive (false) carers.
    pub active: Option<bool>,
}

pub(crate) const WRITERS: &[Role] = &[Role::BillingManager];
pub(crate) const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Collector,
    Role::Integration,
];

/// Create a carer.
#[utoipa::path(post, path = "/v1/carers", tag = "agency", request_body = CarerInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created", body = Carer),
        (status = 409, description = "Code taken or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, unknown or inactive location, overlapping agreements", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_carer(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<CarerInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::create(conn, &who, input).map(Carer::from)
            })
        })
        .await
}

/// Replace a carer's details (code and agency cannot change).
#[utoipa::path(put, path = "/v1/carers/{id}", tag = "agency", request_body = CarerInput,
    params(("id" = String, Path, description = "Carer id")),
    responses((status = 200, description = "Updated", body = Carer),
        (status = 404, description = "No such carer in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn replace_carer(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CarerInput>,
) -> Result<web::Json<Carer>, Error> {
    who.require(WRITERS)?;
    let id: uuid::Uuid = parse_id(&id, "carer")?;
    let input = body.parse()?.value.validate()?;
    Ok(web::Json(
        state
            .db
            .write(move |conn| {
                crate::service::approvals::replace_carer(conn, &who, &id.to_string(), input)
            })
            .await?
            .into(),
    ))
}

/// Get a carer.
#[utoipa::path(get, path = "/v1/carers/{id}", tag = "agency",
    params(("id" = String, Path, description = "Carer id")),
    responses((status = 200, description = "The carer", body = Carer),
        (status = 404, description = "No such carer in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_carer(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Carer>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "carer")?;
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &scope, &id.to_string()))
            .await?
            .into(),
    ))
}

/// List carers.
#[utoipa::path(get, path = "/v1/carers", tag = "agency", params(CarerFilter, PageParams),
    responses((status = 200, description = "A page of carers", body = Page<Carer>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_carers(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<CarerFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Carer>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let f = filter.into_inner();
    let f = service::CarerFilter {
        code: f.code,
        active: f.active,
    };
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &scope, &f, &page))
            .await?
            .map(Carer::from),
    ))
}
