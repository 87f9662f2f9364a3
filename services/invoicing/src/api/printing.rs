//! Printed documents over HTTP: an invoice or credit note as PDF (`Accept: application/pdf`) or
//! HTML (`Accept: text/html`) at the document's own resource, rendered in the layout it was
//! issued under. Typesetting is CPU work: it runs on the blocking pool, not on the server's
//! event loop, and holds no database connection.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use carebill_platform::Error;

use super::e_invoices::{Format, HTML, PDF};
use crate::service::printing::{self, Printable};

/// What the preview gives, PDF first.
pub(crate) const PRINT_FORMATS: &[(&str, Format)] = &[(PDF, Format::Pdf), (HTML, Format::Html)];

/// The printed document in `format` (PDF or HTML), with the layout it used in
/// `Carebill-Layout` (`code;version=n`, or `built-in`).
pub(crate) async fn printed(p: Printable, format: Format) -> Result<HttpResponse, Error> {
    let layout = match &p.layout_ref {
        Some((code, version)) => format!("{code};version={version}"),
        None => "built-in".to_owned(),
    };
    // A number is letters, digits and separators; anything else stays out of the header.
    let number: String = p
        .sheet
        .number
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let (media, ext, body) = match format {
        Format::Html => {
            let html = web::block(move || printing::html(&p))
                .await
                .map_err(|e| Error::internal(&e))??;
            ("text/html; charset=utf-8", "html", html.into_bytes())
        }
        Format::Pdf | Format::Json | Format::Ubl => {
            let pdf = web::block(move || printing::pdf(&p))
                .await
                .map_err(|e| Error::internal(&e))??;
            (PDF, "pdf", pdf)
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(media)
        .insert_header((header::VARY, "Accept"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"{number}.{ext}\""),
        ))
        .insert_header(("Carebill-Layout", layout))
        .body(body))
}
