//! Layouts over HTTP ([`crate::service::layouts`]): create or change a location's layout by
//! code (`PUT` with `If-Match` to change), read it and its earlier versions, and preview a draft
//! against a real or sample document without saving anything. A layout is checked when stored:
//! its texts must render and its logo must draw (422 naming the field).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use carebill_domain::Validation;
use carebill_domain::events::PartyKind;
use carebill_domain::ids::{CreditNoteId, InvoiceId};
use carebill_layout::{Color, Fields, FontChoice, Language, Layout, Logo, LogoFormat};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, Page, PageParams, if_match_version, parse_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AUDIT_READERS;
use super::printing::{PRINT_FORMATS, printed};
use crate::InvoicingState;
use crate::service::layouts::{self as service, DocumentType, Selector, StoredLayout};
use crate::service::printing::{self, Printable};
use carebill_platform::http::negotiate;

/// Roles that may create and change layouts (admin always may).
const WRITERS: &[Role] = &[Role::BillingManager];

/// Which optional references and blocks a document shows. Each left out keeps its default.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LayoutFields {
    /// The patient's id (default true).
    pub patient_id: bool,
    /// The policy number (default true).
    pub policy_number: bool,
    /// The episode number (default true).
    pub episode: bool,
    /// The practitioners (default false).
    pub practitioner: bool,
    /// The first and last day of service (default true).
    pub service_period: bool,
    /// The payment terms text (default true).
    pub payment_terms: bool,
    /// The bank account and the payment reference (default true).
    pub bank_details: bool,
    /// An EPC QR code ("GiroCode") to pay the amount due by SEPA credit transfer, for euro
    /// invoices to an IBAN (default false).
    pub payment_qr: bool,
    /// The service date of each line (default true).
    pub line_dates: bool,
    /// The catalog code of each line (default true).
    pub line_codes: bool,
}

impl Default for LayoutFields {
    fn default() -> Self {
        Fields::default().into()
    }
}

impl From<Fields> for LayoutFields {
    fn from(f: Fields) -> Self {
        LayoutFields {
            patient_id: f.patient_id,
            policy_number: f.policy_number,
            episode: f.episode,
            practitioner: f.practitioner,
            service_period: f.service_period,
            payment_terms: f.payment_terms,
            bank_details: f.bank_details,
            payment_qr: f.payment_qr,
            line_dates: f.line_dates,
            line_codes: f.line_codes,
        }
    }
}

impl From<LayoutFields> for Fields {
    fn from(f: LayoutFields) -> Self {
        Fields {
            patient_id: f.patient_id,
            policy_number: f.policy_number,
            episode: f.episode,
            practitioner: f.practitioner,
            service_period: f.service_period,
            payment_terms: f.payment_terms,
            bank_details: f.bank_details,
            payment_qr: f.payment_qr,
            line_dates: f.line_dates,
            line_codes: f.line_codes,
        }
    }
}

/// A logo as sent and shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutLogo {
    /// `image/png` or `image/svg+xml`.
    #[schema(example = "image/png")]
    pub media_type: String,
    /// The image, base64; at most 512 KiB decoded, and 4096 pixels on either side.
    pub data: String,
}

/// How documents look.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutDefinition {
    /// Language of labels, dates and amounts: `es`, `en`, `de`, `fr` or `nl` (default `en`).
    #[schema(example = "es")]
    #[serde(default)]
    pub language: Option<String>,
    /// `dejavu_sans` (default), `libertinus_serif` or `new_computer_modern`; each is embedded
    /// in the PDF.
    #[schema(example = "dejavu_sans")]
    #[serde(default)]
    pub font: Option<String>,
    /// Colour of the title and the table header, `#rrggbb` (default `#1f3a5f`).
    #[schema(example = "#0b6e4f")]
    #[serde(default)]
    pub primary_color: Option<String>,
    /// Colour of rules and shaded rows, `#rrggbb` (default `#dde4ee`).
    #[schema(example = "#e3f1eb")]
    #[serde(default)]
    pub accent_color: Option<String>,
    /// The logo, top left (else the location's name).
    #[serde(default)]
    pub logo: Option<LayoutLogo>,
    /// What appears.
    #[serde(default)]
    pub fields: LayoutFields,
    /// A text under the title: a MiniJinja template over `number`, `issue_date`, `due_date`,
    /// `seller`, `buyer`, `total`, `due`, `currency`, `payment_reference`.
    #[schema(example = "Thank you for trusting {{ seller }}.", max_length = 2000)]
    #[serde(default)]
    pub header_text: Option<String>,
    /// A text at the foot of every page (same variables).
    #[schema(
        example = "{{ seller }} · invoice {{ number }} · questions: billing@example.org",
        max_length = 2000
    )]
    #[serde(default)]
    pub footer_text: Option<String>,
}

impl LayoutDefinition {
    fn of(l: &Layout) -> LayoutDefinition {
        LayoutDefinition {
            language: Some(l.language.code().to_owned()),
            font: Some(font_name(l.font).to_owned()),
            primary_color: Some(l.primary_color.hex()),
            accent_color: Some(l.accent_color.hex()),
            logo: l.logo.as_ref().map(|logo| LayoutLogo {
                media_type: logo.format().media_type().to_owned(),
                data: base64::engine::general_purpose::STANDARD.encode(logo.bytes()),
            }),
            fields: l.fields.into(),
            header_text: l.header_text.clone(),
            footer_text: l.footer_text.clone(),
        }
    }

    /// The layout, or each field that is wrong.
    fn validate(self, v: &mut Validation, prefix: &str) -> Option<Layout> {
        let at = |f: &str| format!("{prefix}{f}");
        let defaults = Layout::default();
        let language = match self.language.as_deref() {
            None => Some(defaults.language),
            Some(code) => v.check(
                &at("language"),
                "invalid",
                Language::parse(code).ok_or_else(|| {
                    format!("`{code}` has no labels; use one of es, en, de, fr, nl")
                }),
            ),
        };
        let font = match self.font.as_deref() {
            None => Some(defaults.font),
            Some(name) => v.check(
                &at("font"),
                "invalid",
                FontChoice::ALL
                    .into_iter()
                    .find(|f| font_name(*f) == name)
                    .ok_or_else(|| {
                        format!("`{name}` is not a bundled font; use dejavu_sans, libertinus_serif or new_computer_modern")
                    }),
            ),
        };
        let mut color = |field: &str, given: Option<&str>, default: Color| match given {
            None => Some(default),
            Some(text) => v.check(
                &at(field),
                "invalid",
                Color::parse(text)
                    .ok_or_else(|| format!("`{text}` is not a colour written #rrggbb")),
            ),
        };
        let primary = color(
            "primary_color",
            self.primary_color.as_deref(),
            defaults.primary_color,
        );
        let accent = color(
            "accent_color",
            self.accent_color.as_deref(),
            defaults.accent_color,
        );
        let logo = match self.logo {
            None => Some(None),
            Some(l) => {
                let format = match l.media_type.as_str() {
                    "image/png" => Some(LogoFormat::Png),
                    "image/svg+xml" => Some(LogoFormat::Svg),
                    other => {
                        v.add(
                            at("logo.media_type"),
                            "invalid",
                            format!("`{other}` is not image/png or image/svg+xml"),
                        );
                        None
                    }
                };
                let bytes = v.check(
                    &at("logo.data"),
                    "invalid",
                    base64::engine::general_purpose::STANDARD
                        .decode(l.data.trim())
                        .map_err(|e| format!("not base64: {e}")),
                );
                match (format, bytes) {
                    (Some(f), Some(b)) => v
                        .check(&at("logo.data"), "invalid", Logo::new(f, b))
                        .map(Some),
                    _ => None,
                }
            }
        };
        let header_text = v.opt_text(
            &at("header_text"),
            self.header_text.as_deref(),
            carebill_layout::MAX_TEXT_CHARS,
        );
        let footer_text = v.opt_text(
            &at("footer_text"),
            self.footer_text.as_deref(),
            carebill_layout::MAX_TEXT_CHARS,
        );
        Some(Layout {
            language: language?,
            font: font?,
            primary_color: primary?,
            accent_color: accent?,
            logo: logo?,
            fields: self.fields.into(),
            header_text,
            footer_text,
        })
    }
}

fn font_name(f: FontChoice) -> &'static str {
    match f {
        FontChoice::DejavuSans => "dejavu_sans",
        FontChoice::LibertinusSerif => "libertinus_serif",
        FontChoice::NewComputerModern => "new_computer_modern",
    }
}

/// What a client sends to create or change a layout.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutInput {
    /// The issuing location's code. With the three below, which documents the layout is for;
    /// they cannot change once the layout exists.
    #[schema(example = "H1")]
    pub location_code: String,
    /// Only documents to this kind of recipient.
    #[serde(default)]
    pub recipient_kind: Option<PartyKind>,
    /// Only documents to this payer (its code).
    #[schema(example = "MUTUA")]
    #[serde(default)]
    pub payer_code: Option<String>,
    /// Only `invoice` or only `credit_note` documents.
    #[schema(example = "invoice")]
    #[serde(default)]
    pub document_type: Option<String>,
    /// How they look.
    pub definition: LayoutDefinition,
}

impl LayoutInput {
    fn validate(self) -> Result<(Selector, Layout), Error> {
        let mut v = Validation::new();
        let location_code = v.text("location_code", &self.location_code, 40);
        let payer_code = v.opt_text("payer_code", self.payer_code.as_deref(), 40);
        if payer_code.is_some() && self.recipient_kind == Some(PartyKind::Patient) {
            v.add(
                "payer_code",
                "invalid",
                "a payer's layout is for documents to that payer, not to patients",
            );
        }
        let document_type = match self.document_type.as_deref() {
            None => Some(None),
            Some("invoice") => Some(Some(DocumentType::Invoice)),
            Some("credit_note") => Some(Some(DocumentType::CreditNote)),
            Some(other) => {
                v.add(
                    "document_type",
                    "invalid",
                    format!("`{other}` is not invoice or credit_note"),
                );
                None
            }
        };
        let layout = self.definition.validate(&mut v, "definition.");
        v.finish().map_err(Error::validation)?;
        match (location_code, document_type, layout) {
            (Some(location_code), Some(document_type), Some(layout)) => Ok((
                Selector {
                    location_code,
                    recipient_kind: if payer_code.is_some() {
                        Some(PartyKind::Payer)
                    } else {
                        self.recipient_kind
                    },
                    payer_code,
                    document_type,
                },
                layout,
            )),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// A layout: which documents it is for and how they look, in one version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LayoutDoc {
    /// Code (its id).
    #[schema(example = "H1-standard")]
    pub code: String,
    /// The issuing location's code.
    pub location_code: String,
    /// Only documents to this kind of recipient.
    pub recipient_kind: Option<PartyKind>,
    /// Only documents to this payer.
    pub payer_code: Option<String>,
    /// Only `invoice` or `credit_note` documents.
    pub document_type: Option<String>,
    /// The version shown.
    pub version: i64,
    /// The newest version (the one new documents get).
    pub current_version: i64,
    /// How documents look in this version.
    pub definition: LayoutDefinition,
    /// Who created the layout.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who made this version.
    pub version_by: String,
    /// When; documents issued from then until the next version render with it.
    pub version_at: DateTime<Utc>,
}

impl LayoutDoc {
    fn of(l: StoredLayout) -> LayoutDoc {
        LayoutDoc {
            definition: LayoutDefinition::of(&l.layout),
            code: l.code,
            location_code: l.selector.location_code,
            recipient_kind: l.selector.recipient_kind,
            payer_code: l.selector.payer_code,
            document_type: l.selector.document_type.map(|t| t.as_str().to_owned()),
            version: l.version,
            current_version: l.current_version,
            created_by: l.created_by,
            created_at: l.created_at,
            version_by: l.version_by,
            version_at: l.version_at,
        }
    }
}

fn with_etag(status: StatusCode, l: LayoutDoc) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, format!("\"v{}\"", l.version)))
        .json(l)
}

fn layout_code(code: &str) -> Result<String, Error> {
    let ok = !code.is_empty()
        && code.len() <= 40
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(code.to_owned())
    } else {
        Err(Error::field(
            "code",
            "invalid",
            "1 to 40 letters, digits, - or _",
        ))
    }
}

/// Create a layout, or change one (billing managers). Changing makes a new version and needs
/// `If-Match` with the ETag read; documents issued earlier keep rendering with the version
/// current when they were issued.
#[utoipa::path(put, path = "/v1/layouts/{code}", tag = "layouts", request_body = LayoutInput,
    params(("code" = String, Path, description = "Layout code: 1 to 40 letters, digits, - or _"),
        ("If-Match" = Option<String>, Header, description = "The ETag read, to change a layout")),
    responses((status = 201, description = "Created (ETag: its version)", body = LayoutDoc),
        (status = 200, description = "Changed: a new version (ETag: its version)", body = LayoutDoc),
        (status = 404, description = "The location is not one of yours", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another layout is already for the same documents (`already_exists`)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Changing without If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid layout: an unknown language or font, a logo that is too large or not the image it claims, a text that does not render (the field and line), or a changed selector", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(layout = %code))]
pub async fn put_layout(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    code: web::Path<String>,
    body: JsonBody<LayoutInput>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let code = layout_code(&code)?;
    let if_match = if_match_version(&req, "layout")?;
    let (selector, layout) = body.value.validate()?;
    let checked = layout.clone();
    web::block(move || printing::check(&checked))
        .await
        .map_err(|e| Error::internal(&e))??;
    let (stored, created) = state
        .db
        .write(move |conn| service::put(conn, &who, &code, selector, layout, if_match))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(status, LayoutDoc::of(stored)))
}

/// Get a layout in its current version.
#[utoipa::path(get, path = "/v1/layouts/{code}", tag = "layouts",
    params(("code" = String, Path, description = "Layout code")),
    responses((status = 200, description = "The layout (ETag: its version)", body = LayoutDoc),
        (status = 404, description = "No such layout in your locations", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(layout = %code))]
pub async fn get_layout(
    state: web::Data<InvoicingState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(AUDIT_READERS)?;
    let code = layout_code(&code)?;
    let scope = Scope::of(&who);
    let stored = state
        .db
        .read(move |conn| service::get(conn, &scope, &code, None))
        .await?;
    Ok(with_etag(StatusCode::OK, LayoutDoc::of(stored)))
}

/// Get one version of a layout, as documents issued while it was current render.
#[utoipa::path(get, path = "/v1/layouts/{code}/versions/{version}", tag = "layouts",
    params(("code" = String, Path, description = "Layout code"), ("version" = i64, Path, description = "Version, from 1")),
    responses((status = 200, description = "The layout in that version", body = LayoutDoc),
        (status = 404, description = "No such layout or version in your locations", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_layout_version(
    state: web::Data<InvoicingState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<web::Json<LayoutDoc>, Error> {
    who.require(AUDIT_READERS)?;
    let (code, version) = path.into_inner();
    let code = layout_code(&code)?;
    let version: i64 = version
        .parse()
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| Error::not_found("layout version"))?;
    let scope = Scope::of(&who);
    let stored = state
        .db
        .read(move |conn| service::get(conn, &scope, &code, Some(version)))
        .await?;
    Ok(web::Json(LayoutDoc::of(stored)))
}

/// Filters and paging of the layout list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LayoutQuery {
    /// Of this location.
    pub location_code: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// List the layouts of your locations, by code.
#[utoipa::path(get, path = "/v1/layouts", tag = "layouts", params(LayoutQuery),
    responses((status = 200, description = "A page of layouts in their current versions", body = Page<LayoutDoc>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_layouts(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<LayoutQuery>,
) -> Result<web::Json<Page<LayoutDoc>>, Error> {
    who.require(AUDIT_READERS)?;
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let scope = Scope::of(&who);
    let location = query.location_code;
    let page = state
        .db
        .read(move |conn| service::list(conn, &scope, location.as_deref(), &page))
        .await?;
    Ok(web::Json(page.map(LayoutDoc::of)))
}

/// What to preview: a draft definition (else the layout's current one) over an invoice, a
/// credit note, or (neither given) a sample invoice.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewInput {
    /// The draft; without it, the layout as stored.
    #[serde(default)]
    pub definition: Option<LayoutDefinition>,
    /// Render this invoice of yours.
    #[serde(default)]
    pub invoice_id: Option<String>,
    /// Render this credit note of yours.
    #[serde(default)]
    pub credit_note_id: Option<String>,
}

/// Preview a layout, or a draft of it, as PDF (default) or HTML; nothing is saved. A draft may
/// be previewed before the layout exists.
#[utoipa::path(post, path = "/v1/layouts/{code}/preview", tag = "layouts", request_body = PreviewInput,
    params(("code" = String, Path, description = "Layout code")),
    responses((status = 200, description = "The rendered document", content((String = "application/pdf"), (String = "text/html"))),
        (status = 404, description = "No such layout (and no draft), or no such document in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows neither `application/pdf` nor `text/html`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid draft, or both an invoice and a credit note", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(layout = %code))]
pub async fn preview_layout(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    code: web::Path<String>,
    body: JsonBody<PreviewInput>,
) -> Result<HttpResponse, Error> {
    who.require(AUDIT_READERS)?;
    let format = negotiate(&req, PRINT_FORMATS)?;
    let body = body.parse()?.value;
    let code = layout_code(&code)?;
    let mut v = Validation::new();
    let draft = body
        .definition
        .and_then(|d| d.validate(&mut v, "definition."));
    if body.invoice_id.is_some() && body.credit_note_id.is_some() {
        v.add(
            "credit_note_id",
            "invalid",
            "preview an invoice or a credit note, not both",
        );
    }
    v.finish().map_err(Error::validation)?;
    let invoice: Option<InvoiceId> = body
        .invoice_id
        .as_deref()
        .map(|i| parse_id(i, "invoice"))
        .transpose()?;
    let credit_note: Option<CreditNoteId> = body
        .credit_note_id
        .as_deref()
        .map(|i| parse_id(i, "credit note"))
        .transpose()?;
    let scope = Scope::of(&who);
    let printable = state
        .db
        .read(move |conn| -> Result<Printable, Error> {
            let layout = match draft {
                Some(d) => d,
                None => service::get(conn, &scope, &code, None)?.layout,
            };
            let mut p = match (invoice, credit_note) {
                (Some(id), _) => printing::invoice(conn, &scope, id)?,
                (None, Some(id)) => printing::credit_note(conn, &scope, id)?,
                (None, None) => printing::sample(),
            };
            p.layout = layout;
            p.layout_ref = None;
            Ok(p)
        })
        .await?;
    printed(&req, printable, format).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_left_empty_is_the_built_in_layout() {
        let empty: LayoutDefinition = serde_json::from_str("{}").expect("parses");
        let mut v = Validation::new();
        let layout = empty.validate(&mut v, "");
        assert_eq!(layout, Some(Layout::default()));
    }

    #[test]
    fn every_wrong_field_is_named() {
        let bad: LayoutDefinition = serde_json::from_str(
            r#"{"language":"pt","font":"comic_sans","primary_color":"blue","logo":{"media_type":"image/gif","data":"!!"}}"#,
        )
        .expect("parses");
        let mut v = Validation::new();
        assert!(bad.validate(&mut v, "definition.").is_none());
        let err = v.finish().expect_err("invalid");
        let fields: Vec<String> = err.iter().map(|e| e.field.clone()).collect();
        for f in [
            "definition.language",
            "definition.font",
            "definition.primary_color",
            "definition.logo.media_type",
            "definition.logo.data",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
        }
    }
}
