//! Printed documents over HTTP: an invoice or credit note as PDF (`Accept: application/pdf`) or
//! HTML (`Accept: text/html`) at the document's own resource, rendered in the layout it was
//! issued under. Typesetting is CPU work: it runs on the blocking pool, not on the server's
//! event loop, and holds no database connection.

use actix_web::http::header;
use std::hash::{Hash as _, Hasher as _};

use actix_web::{HttpRequest, HttpResponse, web};
use carebill_platform::Error;

use super::e_invoices::{Format, HTML, PDF};
use crate::service::printing::{self, Printable};

/// What the preview gives, PDF first.
pub(crate) const PRINT_FORMATS: &[(&str, Format)] = &[(PDF, Format::Pdf), (HTML, Format::Html)];

/// The printed document in `format` (PDF or HTML), with the layout it used in
/// `Carebill-Layout` (`code;version=n`, or `built-in`).
pub(crate) async fn printed(
    req: &HttpRequest,
    p: Printable,
    format: Format,
) -> Result<HttpResponse, Error> {
    // The same document in the same layout renders to the same bytes: its tag is known before
    // rendering, and a portal that has it gets 304 without any typesetting.
    let tag = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (format == Format::Html).hash(&mut h);
        p.sheet.hash(&mut h);
        p.layout.hash(&mut h);
        format!("W/\"{:016x}\"", h.finish())
    };
    if not_modified(req, &tag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .insert_header((header::VARY, "Accept"))
            .finish());
    }
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
        .insert_header((header::ETAG, tag))
        .body(body))
}

/// Whether `If-None-Match` names `tag` (or is `*`), compared weakly (RFC 9110 §13.1.2).
pub(crate) fn not_modified(req: &HttpRequest, tag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || opaque(t) == opaque(tag))
}

/// A JSON response with a weak ETag of its bytes; 304 without a body when `If-None-Match`
/// names it, so a portal polling an unchanged list costs one query and no transfer.
pub(crate) fn json_tagged<T: serde::Serialize>(
    req: &HttpRequest,
    value: &T,
) -> Result<HttpResponse, Error> {
    use sha2::Digest as _;
    let body = serde_json::to_vec(value).map_err(|e| Error::internal(&e))?;
    let digest = sha2::Sha256::digest(&body);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let tag = format!("W/\"{hex}\"");
    if not_modified(req, &tag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .insert_header((header::VARY, "Accept"))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::ETAG, tag))
        .insert_header((header::VARY, "Accept"))
        .body(body))
}
