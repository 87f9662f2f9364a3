//! Each payer's e-billing settings over HTTP ([`crate::service::e_billing_settings`]):
//! `GET|PUT /v1/e-billing-settings/{payer_code}` (a change behind `If-Match`), its versions,
//! and every payer's current settings.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::Code;
use carebill_domain::e_billing::EBillingSettings;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, if_match_version};
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AUDIT_READERS;
use crate::InvoicingState;
use crate::service::e_billing_settings::{self as service, Put, Settings};

/// Roles that set e-billing settings (admin always may).
const WRITERS: &[Role] = &[Role::BillingManager];

/// One version of a payer's e-billing settings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EBillingSettingsDoc {
    /// The payer's code (as accounts and invoices name it).
    #[schema(example = "UHC")]
    pub payer_code: String,
    /// 1 for the first, one more for each change.
    pub version: i64,
    /// Send as `If-Match` to change them (also the `ETag` header).
    #[schema(example = "\"v1\"")]
    pub etag: String,
    /// The settings, as sent (with their defaults filled in).
    pub settings: EBillingSettings,
    /// Who set this version.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Every payer's current settings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EBillingSettingsList {
    /// By payer code.
    pub items: Vec<EBillingSettingsDoc>,
}

/// A payer's versions, the newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EBillingSettingsVersions {
    /// The newest first.
    pub items: Vec<EBillingSettingsDoc>,
}

impl From<Settings> for EBillingSettingsDoc {
    fn from(s: Settings) -> Self {
        EBillingSettingsDoc {
            etag: s.etag(),
            payer_code: s.payer_code,
            version: s.version,
            settings: s.settings,
            created_by: s.created_by,
            created_at: s.created_at,
        }
    }
}

fn with_etag(status: StatusCode, doc: EBillingSettingsDoc) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, doc.etag.clone()))
        .json(doc)
}

/// A payer code from the path; anything else is no such settings.
fn payer_code(code: &str) -> Result<String, Error> {
    Code::parse(code)
        .map(|c| c.to_string())
        .map_err(|_| Error::not_found("e-billing settings"))
}

/// Set a payer's e-billing settings (billing managers): the whole settings; a change needs
/// `If-Match` with the ETag read and makes a new version. The same settings again change
/// nothing.
#[utoipa::path(put, path = "/v1/e-billing-settings/{payer_code}", tag = "e-billing",
    request_body = EBillingSettings,
    params(("payer_code" = String, Path, description = "The payer's code"),
        ("If-Match" = Option<String>, Header, description = "The ETag read, to change them (none, or \"v0\", the first time)")),
    responses((status = 201, description = "The first version (ETag: its version)", body = EBillingSettingsDoc),
        (status = 200, description = "Changed: a new version; or the same settings, unchanged", body = EBillingSettingsDoc),
        (status = 412, description = "Changed since read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Changing without If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid settings, each field named", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(payer = %code))]
pub async fn put_e_billing_settings(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    code: web::Path<String>,
    body: JsonBody<EBillingSettings>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let code = payer_code(&code)?;
    let if_match = if_match_version(&req, "e-billing settings")?;
    let settings = body.parse()?.value.check().map_err(Error::validation)?;
    let put = state
        .db
        .write(move |conn| service::put(conn, &who, &code, settings, if_match))
        .await?;
    Ok(match put {
        Put::Created(s) => with_etag(StatusCode::CREATED, s.into()),
        Put::Changed(s) | Put::Same(s) => with_etag(StatusCode::OK, s.into()),
    })
}

/// A payer's current e-billing settings.
#[utoipa::path(get, path = "/v1/e-billing-settings/{payer_code}", tag = "e-billing",
    params(("payer_code" = String, Path, description = "The payer's code")),
    responses((status = 200, description = "The settings (ETag: their version)", body = EBillingSettingsDoc),
        (status = 404, description = "The payer has none", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(payer = %code))]
pub async fn get_e_billing_settings(
    state: web::Data<InvoicingState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(AUDIT_READERS)?;
    let code = payer_code(&code)?;
    let s = state.db.read(move |conn| service::get(conn, &code)).await?;
    Ok(with_etag(StatusCode::OK, s.into()))
}

/// Every version of a payer's e-billing settings, the newest first.
#[utoipa::path(get, path = "/v1/e-billing-settings/{payer_code}/versions", tag = "e-billing",
    params(("payer_code" = String, Path, description = "The payer's code")),
    responses((status = 200, description = "The versions", body = EBillingSettingsVersions),
        (status = 404, description = "The payer has none", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(payer = %code))]
pub async fn e_billing_settings_versions(
    state: web::Data<InvoicingState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<web::Json<EBillingSettingsVersions>, Error> {
    who.require(AUDIT_READERS)?;
    let code = payer_code(&code)?;
    let items = state
        .db
        .read(move |conn| service::versions(conn, &code))
        .await?;
    Ok(web::Json(EBillingSettingsVersions {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

/// Every payer's current e-billing settings.
#[utoipa::path(get, path = "/v1/e-billing-settings", tag = "e-billing",
    responses((status = 200, description = "By payer code", body = EBillingSettingsList)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_e_billing_settings(
    state: web::Data<InvoicingState>,
    who: Principal,
) -> Result<web::Json<EBillingSettingsList>, Error> {
    who.require(AUDIT_READERS)?;
    let items = state.db.read(service::list).await?;
    Ok(web::Json(EBillingSettingsList {
        items: items.into_iter().map(Into::into).collect(),
    }))
}
