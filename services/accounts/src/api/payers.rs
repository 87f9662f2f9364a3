//! Payers over HTTP: insurers, companies and public authorities that pay for care, with their
//! identifiers (tax id, payer id for electronic claims, others).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::PayerKind;
use carebill_domain::{Code, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, object, objects, parse_id,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::api::{
    Address, Contact, Identifier, PaymentTerms, SchemeIdentifier, check_payment_terms,
    check_vat_id, validate_identifiers,
};
use crate::service::StoredBilling;
use crate::service::payers::{self as service, NewPayer};

/// A payer as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payer {
    /// Id.
    pub id: String,
    /// Unique code; payer tokens name their payer by it.
    #[schema(example = "SANITAS")]
    pub code: String,
    /// Name.
    #[schema(example = "Sanitas Seguros")]
    pub name: String,
    /// Kind.
    pub kind: PayerKind,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Payer id used in electronic claims (e.g. an X12 payer id).
    pub payer_identifier: Option<String>,
    /// Other identifiers.
    pub identifiers: Vec<Identifier>,
    /// Address.
    pub address: Address,
    /// Billing contact.
    pub contact: Contact,
    /// Inactive payers get no new coverages.
    pub active: bool,
    /// Legal name, as e-invoices name the buyer (BT-44).
    #[schema(example = "Sanitas S.A. de Seguros")]
    pub legal_name: Option<String>,
    /// VAT identifier with its country prefix (BT-48).
    #[schema(example = "ESA28037042")]
    pub vat_id: Option<String>,
    /// Legal registration identifier with its ISO 6523 ICD scheme (BT-47).
    pub legal_registration: Option<SchemeIdentifier>,
    /// Electronic address e-invoices are sent to, with its EAS scheme (BT-49).
    pub endpoint: Option<SchemeIdentifier>,
    /// The buyer reference (BT-10) the payer wants on its invoices; Peppol needs one.
    #[schema(example = "SANITAS-HOSP")]
    pub buyer_reference: Option<String>,
    /// Payment terms of invoices to the payer (else the issuing location's).
    pub payment_terms: Option<PaymentTerms>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to create or replace a payer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayerInput {
    /// Unique code; cannot change later.
    #[schema(example = "SANITAS")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// Name.
    #[schema(example = "Sanitas Seguros")]
    #[schema(pattern = r"\S", max_length = 200)]
    pub name: String,
    /// Kind.
    pub kind: PayerKind,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Payer id for electronic claims.
    pub payer_identifier: Option<String>,
    /// Other identifiers.
    #[serde(default, deserialize_with = "objects")]
    pub identifiers: Vec<Identifier>,
    /// Address.
    #[serde(default, deserialize_with = "object")]
    pub address: Address,
    /// Billing contact.
    #[serde(default, deserialize_with = "object")]
    pub contact: Contact,
    /// Default true.
    pub active: Option<bool>,
    /// Legal name (BT-44).
    #[schema(example = "Sanitas S.A. de Seguros")]
    pub legal_name: Option<String>,
    /// VAT identifier with its country prefix (BT-48).
    #[schema(example = "ESA28037042")]
    pub vat_id: Option<String>,
    /// Legal registration identifier with its ISO 6523 ICD scheme (BT-47).
    pub legal_registration: Option<SchemeIdentifier>,
    /// Electronic address with its EAS scheme (BT-49), e.g. `0088` and the payer's GLN.
    pub endpoint: Option<SchemeIdentifier>,
    /// The buyer reference (BT-10) to put on the payer's invoices.
    #[schema(example = "SANITAS-HOSP")]
    pub buyer_reference: Option<String>,
    /// Payment terms of invoices to the payer, as its contract says (else the issuing
    /// location's).
    pub payment_terms: Option<PaymentTerms>,
}

impl From<service::Payer> for Payer {
    fn from(p: service::Payer) -> Self {
        Payer {
            id: p.id.to_string(),
            code: p.code,
            name: p.name,
            kind: p.kind,
            tax_id: p.tax_id,
            payer_identifier: p.payer_identifier,
            identifiers: p.identifiers.into_iter().map(Into::into).collect(),
            address: p.address.into(),
            contact: p.contact.into(),
            active: p.active,
            legal_name: p.billing.legal_name,
            vat_id: p.billing.vat_id,
            legal_registration: p.billing.legal_registration.map(Into::into),
            endpoint: p.billing.endpoint.map(Into::into),
            buyer_reference: p.billing.buyer_reference,
            payment_terms: p.billing.payment_terms.map(Into::into),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl PayerInput {
    /// Validates every field.
    pub fn validate(mut self) -> Result<NewPayer, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let name = v.text("name", &self.name, 200);
        self.tax_id = v.opt_text("tax_id", self.tax_id.as_deref(), 50);
        self.payer_identifier =
            v.opt_text("payer_identifier", self.payer_identifier.as_deref(), 80);
        validate_identifiers(&self.identifiers, "identifiers", &mut v);
        self.address.validate("address", &mut v);
        self.contact.validate("contact", &mut v);
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
            buyer_reference: v.opt_text("buyer_reference", self.buyer_reference.as_deref(), 200),
            payment_terms: check_payment_terms(
                "payment_terms",
                self.payment_terms.as_ref(),
                &mut v,
            ),
            ..StoredBilling::default()
        };
        v.finish().map_err(Error::validation)?;
        match (code, name) {
            (Some(code), Some(name)) => Ok(NewPayer {
                code,
                name,
                kind: self.kind,
                tax_id: self.tax_id,
                payer_identifier: self.payer_identifier,
                identifiers: self.identifiers.into_iter().map(Into::into).collect(),
                address: self.address.into(),
                contact: self.contact.into(),
                active: self.active.unwrap_or(true),
                billing,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Filters for the payer list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayerFilter {
    /// Only payers of this kind.
    pub kind: Option<PayerKind>,
    /// Only the payer with this code.
    pub code: Option<String>,
}

impl From<PayerFilter> for service::PayerFilter {
    fn from(f: PayerFilter) -> Self {
        service::PayerFilter {
            kind: f.kind,
            code: f.code,
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

/// Create a payer.
#[utoipa::path(post, path = "/v1/payers", tag = "payers", request_body = PayerInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created", body = Payer),
        (status = 409, description = "Code taken or Idempotency-Key reused", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_payer(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PayerInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::create(conn, &who, input).map(Payer::from)
            })
        })
        .await
}

/// Replace a payer's details (its code cannot change).
#[utoipa::path(put, path = "/v1/payers/{id}", tag = "payers", request_body = PayerInput,
    params(("id" = String, Path, description = "Payer id")),
    responses((status = 200, description = "Updated", body = Payer),
        (status = 404, description = "No such payer", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn replace_payer(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<PayerInput>,
) -> Result<web::Json<Payer>, Error> {
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

/// Get a payer.
#[utoipa::path(get, path = "/v1/payers/{id}", tag = "payers",
    params(("id" = String, Path, description = "Payer id")),
    responses((status = 200, description = "The payer", body = Payer),
        (status = 404, description = "No such payer", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_payer(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Payer>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "payer")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &id.to_string()))
            .await?
            .into(),
    ))
}

/// List payers.
#[utoipa::path(get, path = "/v1/payers", tag = "payers", params(PayerFilter, PageParams),
    responses((status = 200, description = "A page of payers", body = Page<Payer>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_payers(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<PayerFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Payer>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &filter.into(), &page))
            .await?
            .map(Payer::from),
    ))
}
