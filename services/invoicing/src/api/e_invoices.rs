//! E-invoices over HTTP: an invoice or credit note as UBL 2.1 (Peppol BIS Billing 3.0, EN 16931)
//! at its `/ubl` sub-resource or at the document itself with `Accept: application/xml`; JSON
//! stays the default there. A document that would not be valid answers 409
//! `document_incomplete` listing each missing business term and the resource to complete; an
//! `Accept` the resource cannot give answers 406 listing what it can give.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::ids::{CreditNoteId, InvoiceId};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::parse_id;
use carebill_platform::{Error, ErrorCode};
use serde::Serialize;

use super::READERS;
use crate::InvoicingState;
use crate::service::e_invoices::{self, Gap, Rendered};

/// The media type of UBL documents.
pub(crate) const XML: &str = "application/xml";
/// The media type of the JSON representation.
pub(crate) const JSON: &str = "application/json";
/// The media type of PDF.
pub(crate) const PDF: &str = "application/pdf";
/// The media type of HTML.
pub(crate) const HTML: &str = "text/html";

/// A representation a document resource can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// The JSON record.
    Json,
    /// UBL 2.1.
    Ubl,
    /// PDF, in the document's layout.
    Pdf,
    /// HTML, in the document's layout.
    Html,
}

/// What the document resources give, in the order preferred when `Accept` leaves the choice.
pub(crate) const DOCUMENT_FORMATS: &[(&str, Format)] = &[
    (JSON, Format::Json),
    (XML, Format::Ubl),
    (PDF, Format::Pdf),
    (HTML, Format::Html),
];
/// What the `/ubl` sub-resources give.
const UBL_FORMATS: &[(&str, Format)] = &[(XML, Format::Ubl)];

/// A business term the document lacks.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MissingTerm {
    /// Its EN 16931 number (`BG-` for a whole group).
    #[schema(example = "BT-31")]
    pub term: String,
    /// Its EN 16931 name.
    #[schema(example = "Seller VAT identifier")]
    pub name: String,
    /// The resource to complete.
    #[schema(example = "/v1/locations/0199c0de-0000-7000-8000-000000000001")]
    pub href: String,
}

/// The 409 `document_incomplete` problem: a problem detail with each missing term.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IncompleteDocument {
    /// The problem.
    #[serde(flatten)]
    pub problem: Problem,
    /// Each business term a valid document needs and this one lacks, in document order.
    pub missing: Vec<MissingTerm>,
}

/// The response for a rendered document: the UBL, or the 409 naming what it lacks.
pub(crate) fn respond(rendered: Rendered) -> HttpResponse {
    match rendered {
        Rendered::Ubl(bytes) => HttpResponse::Ok()
            .content_type(XML)
            .insert_header((header::VARY, "Accept"))
            .body(bytes),
        Rendered::Incomplete(gaps) => {
            let terms: Vec<&str> = gaps.iter().map(|g| g.term).collect();
            let problem = Error::new(
                ErrorCode::DocumentIncomplete,
                format!(
                    "the EN 16931 document lacks {}: complete the resources named in `missing`",
                    terms.join(", ")
                ),
            )
            .problem();
            HttpResponse::Conflict()
                .content_type("application/problem+json")
                .json(IncompleteDocument {
                    problem,
                    missing: gaps.into_iter().map(MissingTerm::of).collect(),
                })
        }
    }
}

impl MissingTerm {
    fn of(g: Gap) -> MissingTerm {
        MissingTerm {
            term: g.term.to_owned(),
            name: g.name,
            href: g.href,
        }
    }
}

/// The invoice as UBL, for the handlers that answer it.
pub(crate) async fn invoice_ubl(
    state: &web::Data<InvoicingState>,
    scope: Scope,
    id: InvoiceId,
) -> Result<HttpResponse, Error> {
    let rendered = state
        .db
        .read(move |conn| e_invoices::invoice_ubl(conn, &scope, id))
        .await?;
    Ok(respond(rendered))
}

/// The credit note as UBL, for the handlers that answer it.
pub(crate) async fn credit_note_ubl(
    state: &web::Data<InvoicingState>,
    scope: Scope,
    id: CreditNoteId,
) -> Result<HttpResponse, Error> {
    let rendered = state
        .db
        .read(move |conn| e_invoices::credit_note_ubl(conn, &scope, id))
        .await?;
    Ok(respond(rendered))
}

/// Get an invoice as a UBL 2.1 Invoice (Peppol BIS Billing 3.0, type 380).
#[utoipa::path(get, path = "/v1/invoices/{id}/ubl", tag = "invoices",
    params(("id" = String, Path, description = "Invoice id")),
    responses((status = 200, description = "The invoice as UBL 2.1 (EN 16931, Peppol BIS Billing 3.0)", body = String, content_type = "application/xml"),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows no representation of the resource; the detail lists them", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The document would not be valid: `missing` lists each business term and the resource to complete", body = IncompleteDocument, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(invoice_id = %id))]
pub async fn get_invoice_ubl(
    state: web::Data<InvoicingState>,
    who: Principal,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: InvoiceId = parse_id(&id, "invoice")?;
    carebill_platform::http::negotiate(&req, UBL_FORMATS)?;
    invoice_ubl(&state, Scope::of(&who), id).await
}

/// Get a credit note as a UBL 2.1 CreditNote (Peppol BIS Billing 3.0, type 381, referring to
/// the invoice it cancels).
#[utoipa::path(get, path = "/v1/credit-notes/{id}/ubl", tag = "credit notes",
    params(("id" = String, Path, description = "Credit note id")),
    responses((status = 200, description = "The credit note as UBL 2.1 (EN 16931, Peppol BIS Billing 3.0)", body = String, content_type = "application/xml"),
        (status = 404, description = "No such credit note in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows no representation of the resource; the detail lists them", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The document would not be valid: `missing` lists each business term and the resource to complete", body = IncompleteDocument, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(credit_note_id = %id))]
pub async fn get_credit_note_ubl(
    state: web::Data<InvoicingState>,
    who: Principal,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: CreditNoteId = parse_id(&id, "credit note")?;
    carebill_platform::http::negotiate(&req, UBL_FORMATS)?;
    credit_note_ubl(&state, Scope::of(&who), id).await
}
