//! HTTP building blocks shared by every service: request ids and access metrics, the JSON body
//! extractor with field-level errors, query-string errors, cursor pagination, idempotent POSTs,
//! and the fallback for unknown routes.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{
    FromRequest, HttpMessage, HttpRequest, HttpResponse, Responder, ResponseError as _, web,
};
use base64::Engine as _;
use diesel::prelude::*;
use futures::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use crate::auth::Principal;
use crate::db::AnyConnection;
use crate::error::{Error, ErrorCode};
use crate::metrics::Metrics;
use crate::schema::idempotency_keys;

/// Header carrying the request id in and out.
pub const REQUEST_ID: &str = "x-request-id";
/// Default body limit for JSON requests (1 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 1 << 20;

/// The `If-Match` value the caller sent (weak prefix dropped), if any.
pub fn if_match_value(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| v.trim_start_matches("W/").to_owned())
}

/// Whether an `If-Match` value admits the resource's `current` entity tag (RFC 9110 §13.1.1):
/// `*` admits any, otherwise one of a comma-separated list of tags must equal it. Weak tags
/// (`W/"…"`) compare by their opaque part.
pub fn if_match_admits(header: &str, current: &str) -> bool {
    let strong = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let header = header.trim();
    header == "*"
        || header
            .split(',')
            .any(|t| !t.trim().is_empty() && strong(t) == strong(current))
}

/// 428: a change needs `If-Match`; `hint` says where the ETag comes from.
pub fn precondition_required(hint: &str) -> Error {
    Error::new(
        ErrorCode::PreconditionRequired,
        format!("send If-Match with the ETag {hint}"),
    )
}

/// The version an `If-Match` of the form `"v<n>"` names (the ETag versioned resources give);
/// none without the header; 412 naming `what` for any other tag.
pub fn if_match_version(req: &HttpRequest, what: &str) -> Result<Option<i64>, Error> {
    match if_match_value(req) {
        None => Ok(None),
        Some(tag) => tag
            .trim_matches('"')
            .strip_prefix('v')
            .and_then(|n| n.parse::<i64>().ok())
            .map(Some)
            .ok_or_else(|| precondition_failed(format!("not an ETag of this {what}"))),
    }
}

/// 412: what the caller read has changed since.
pub fn precondition_failed(detail: impl Into<String>) -> Error {
    Error::new(ErrorCode::PreconditionFailed, detail)
}

/// The representation the request's `Accept` prefers among `offered` (no `Accept`: the first);
/// 406 listing the offered media types when it allows none.
pub fn negotiate<F: Copy>(req: &HttpRequest, offered: &[(&str, F)]) -> Result<F, Error> {
    let ranges: Vec<(String, f32)> = req
        .headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(media_range)
        .collect();
    if ranges.is_empty()
        && let Some((_, f)) = offered.first()
    {
        return Ok(*f);
    }
    let mut best: Option<(f32, F)> = None;
    for (media, format) in offered {
        // The most specific range that matches decides the quality of this media type.
        let (kind, _) = media.split_once('/').unwrap_or((media, ""));
        let quality = ranges
            .iter()
            .filter_map(|(range, q)| {
                let specificity = if range == media {
                    3
                } else if range.strip_suffix("/*") == Some(kind) {
                    2
                } else if range == "*/*" {
                    1
                } else {
                    return None;
                };
                Some((specificity, *q))
            })
            .max_by_key(|(s, _)| *s)
            .map(|(_, q)| q);
        if let Some(q) = quality
            && q > 0.0
            && best.is_none_or(|(b, _)| q > b)
        {
            best = Some((q, *format));
        }
    }
    best.map(|(_, f)| f).ok_or_else(|| {
        let media: Vec<&str> = offered.iter().map(|(m, _)| *m).collect();
        Error::new(
            ErrorCode::NotAcceptable,
            format!(
                "this resource is available as {}; `Accept` allows none of them",
                media.join(", ")
            ),
        )
    })
}

/// One media range of `Accept`, lower-cased, with its quality (1 unless `q` says otherwise;
/// an unreadable `q` counts as 0, i.e. not acceptable).
fn media_range(item: &str) -> Option<(String, f32)> {
    let mut parts = item.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    if media.is_empty() {
        return None;
    }
    let mut q = 1.0;
    for p in parts {
        if let Some((k, v)) = p.split_once('=')
            && k.trim().eq_ignore_ascii_case("q")
        {
            q = v.trim().parse::<f32>().map_or(0.0, |q| q.clamp(0.0, 1.0));
        }
    }
    Some((media, q))
}

/// Whether the request asked for a minimal answer (`Prefer: return=minimal`, RFC 7240).
pub fn prefers_minimal(req: &HttpRequest) -> bool {
    req.headers()
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("return=minimal"))
}

/// The request id of the current request, in the request extensions.
#[derive(Debug, Clone)]
pub struct RequestIdValue(pub String);

/// Middleware: assigns a request id (or keeps a sane incoming one), runs the request in a
/// tracing span carrying it, records latency by route, and logs one line per request.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let rid = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    req.extensions_mut().insert(RequestIdValue(rid.clone()));
    // A NUL byte names nothing and PostgreSQL refuses it in text: answer before any handler.
    let raw = format!("{}?{}", req.path(), req.query_string()).to_ascii_lowercase();
    if raw.contains("%00") || raw.contains('\0') {
        let res =
            Error::new(ErrorCode::BadQuery, "the URL must not contain NUL bytes").error_response();
        let mut res = req.into_response(res).map_into_right_body();
        if let Ok(v) = HeaderValue::from_str(&rid) {
            res.headers_mut()
                .insert(HeaderName::from_static(REQUEST_ID), v);
        }
        return Ok(res);
    }
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let span = tracing::info_span!("http", request_id = %rid, method = %method, path = %req.path());
    let start = Instant::now();
    let mut res = next
        .call(req)
        .instrument(span.clone())
        .await?
        .map_into_left_body();
    let elapsed = start.elapsed();
    let status = res.status().as_u16();
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    if let Some(m) = metrics {
        m.observe_http(&route, &method, status, elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::info!(status, route = %route, elapsed_ms = elapsed.as_millis() as u64, "request")
    });
    if let Ok(v) = HeaderValue::from_str(&rid) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), v);
    }
    Ok(res)
}

/// The edge: an [`Error`] leaves as `application/problem+json`. The cause of a 5xx is logged
/// here, once, with its chain; the caller sees only the code and the detail.
impl actix_web::ResponseError for Error {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self.kind() {
            crate::ErrorKind::Internal => tracing::error!(error = %self, "internal error"),
            crate::ErrorKind::Unavailable => {
                tracing::warn!(error = %self, "dependency unavailable")
            }
            _ => {}
        }
        let mut res = HttpResponse::build(status);
        res.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if self.code() == ErrorCode::Unauthorized {
            res.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        res.json(self.problem())
    }
}

/// Fallback for paths no service serves: a problem+json 404.
pub async fn not_found() -> Result<HttpResponse, Error> {
    Err(Error::not_found("route"))
}

/// The fallback of a resource for methods it does not serve: 405 with an `Allow` header.
pub fn allow(methods: &'static str) -> actix_web::Route {
    web::to(move || async move {
        let problem = Error::new(
            ErrorCode::MethodNotAllowed,
            format!("this resource allows {methods}"),
        )
        .problem();
        HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, methods))
            .content_type("application/problem+json")
            .json(problem)
    })
}

/// Maps query-string parse errors to problem+json 400s.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        Error::new(ErrorCode::BadQuery, format!("invalid query string: {err}")).into()
    })
}

/// Maps path parse errors to problem+json 404s (a malformed id names nothing).
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|_err, _req| Error::not_found("resource").into())
}

/// The body size limit for [`JsonBody`], set per scope in app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A JSON body parsed into `T`, and a digest of the raw bytes (for idempotency).
#[derive(Debug)]
pub struct ValidJson<T> {
    /// The parsed value.
    pub value: T,
    /// SHA-256 of the raw body, hex.
    pub digest: String,
}

/// A request body read but not yet parsed. Extracting it never fails: a handler authorises
/// first and only then calls [`JsonBody::parse`], so that a caller without the role gets 403
/// whatever it sent, and 415, 413, 400 or 422 (naming the field) only when it may ask.
#[derive(Debug)]
pub struct JsonBody<T> {
    raw: Result<web::Bytes, Error>,
    _into: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> JsonBody<T> {
    /// Parses the body: JSON only, within the size limit, every data error naming its field.
    pub fn parse(self) -> Result<ValidJson<T>, Error> {
        let body = self.raw?;
        let value = parse_json::<T>(&body)?;
        Ok(ValidJson {
            value,
            digest: hex(&Sha256::digest(&body)),
        })
    }
}

impl<T: 'static> FromRequest for JsonBody<T> {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let read = read_body(req, payload);
        Box::pin(async move {
            Ok(JsonBody {
                raw: read.await,
                _into: std::marker::PhantomData,
            })
        })
    }
}

/// Reads a JSON request's bytes: the media type must be JSON and the size within the limit.
fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<web::Bytes, Error>> {
    let limit = req
        .app_data::<BodyLimit>()
        .map_or(DEFAULT_BODY_LIMIT, |l| l.0);
    let media = media_type(req);
    let content_type_ok = media == "application/json" || media.ends_with("+json");
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let mut payload = payload.take();
    Box::pin(async move {
        if !content_type_ok {
            return Err(Error::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        if declared_len.is_some_and(|l| l > limit) {
            return Err(Error::too_large(format!(
                "the body must be at most {limit} bytes"
            )));
        }
        let mut body = web::BytesMut::new();
        use futures::StreamExt as _;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| {
                Error::new(ErrorCode::BadBody, format!("could not read the body: {e}"))
            })?;
            if body.len() + chunk.len() > limit {
                return Err(Error::too_large(format!(
                    "the body must be at most {limit} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    })
}

/// The request's media type, lower case and without its parameters (empty when none is sent).
pub fn media_type(req: &HttpRequest) -> String {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Reads a raw request body (a file a handler parses itself, or bytes a signature covers) of
/// at most `limit` bytes: 413 beyond it, 400 when it cannot be read.
pub async fn raw_body(payload: web::Payload, limit: usize) -> Result<web::Bytes, Error> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(body)) => Ok(body),
        Ok(Err(e)) => Err(Error::new(
            ErrorCode::BadBody,
            format!("could not read the body: {e}"),
        )),
        Err(_) => Err(Error::too_large(format!(
            "the body must be at most {limit} bytes"
        ))),
    }
}

/// Parses a JSON object, reporting syntax errors as 400 and data errors (not an object, wrong
/// type, missing field, unknown enum value) as 422 naming the field.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        None => return Err(Error::new(ErrorCode::MalformedJson, "the body is empty")),
        // serde's derived structs also accept arrays, positionally; requests are objects.
        Some(b'[') => return Err(Error::field("body", "invalid", "must be a JSON object")),
        Some(_) => {}
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = if path == "." { "body".to_owned() } else { path };
                Error::field(&field, "invalid", strip_position(&inner.to_string()))
            }
            _ => Error::new(ErrorCode::MalformedJson, format!("malformed JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| Error::new(ErrorCode::MalformedJson, format!("malformed JSON: {e}")))?;
    Ok(value)
}

/// Like [`parse_json`] for a value already parsed (a batch item): must be an object; data
/// errors name the field.
pub fn from_json_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    if !value.is_object() {
        return Err(Error::field("body", "invalid", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "body".to_owned() } else { path };
        Error::field(
            &field,
            "invalid",
            strip_position(&e.into_inner().to_string()),
        )
    })
}

/// `deserialize_with` for a nested object field: accepts only a JSON object (serde's derive
/// would also take an array and fill the fields by position).
pub fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::Error as _;
    let v = serde_json::Value::deserialize(d)?;
    if !v.is_object() {
        return Err(D::Error::custom("must be a JSON object"));
    }
    serde_json::from_value(v).map_err(|e| D::Error::custom(strip_position(&e.to_string())))
}

/// `deserialize_with` for a list of nested objects (see [`object`]).
pub fn objects<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: DeserializeOwned,
{
    use serde::de::Error as _;
    let items = Vec::<serde_json::Value>::deserialize(d)?;
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            if !v.is_object() {
                return Err(D::Error::custom(format!("item {i} must be a JSON object")));
            }
            serde_json::from_value(v).map_err(|e| {
                D::Error::custom(format!("item {i}: {}", strip_position(&e.to_string())))
            })
        })
        .collect()
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}

/// SHA-256 of `bytes`, hex-encoded.
pub fn digest(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `limit` and `cursor` query parameters.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A validated page request: at most `limit` items after the id `after`.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items per page.
    pub limit: i64,
    /// The last id of the previous page.
    pub after: Option<String>,
}

/// Largest page.
pub const MAX_PAGE: u32 = 500;

impl PageParams {
    /// Validates the parameters.
    pub fn parse(&self) -> Result<PageRequest, Error> {
        let limit = self.limit.unwrap_or(50);
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::field(
                "limit",
                "out_of_range",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let after =
            match &self.cursor {
                None => None,
                Some(c) => Some(decode_cursor(c).ok_or_else(|| {
                    Error::field("cursor", "invalid", "not a cursor from this API")
                })?),
            };
        Ok(PageRequest {
            limit: i64::from(limit),
            after,
        })
    }
}

fn decode_cursor(c: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    let s = String::from_utf8(bytes).ok()?;
    let id = s.strip_prefix("v1:")?;
    uuid::Uuid::parse_str(id).ok()?;
    Some(id.to_owned())
}

fn encode_cursor(id: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{id}"))
}

/// A value written into a URL's query, percent-encoded (`DR ROSSI` is `DR+ROSSI`).
pub fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The `Link` header value naming the next page of the request's resource: its query with
/// `cursor` set to `next` (a CSV page has no body field for it).
pub fn next_link(req: &HttpRequest, next: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if k != "cursor" {
            query.append_pair(&k, &v);
        }
    }
    query.append_pair("cursor", next);
    format!("<{}?{}>; rel=\"next\"", req.path(), query.finish())
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows fetched in id order.
    pub fn from_rows(mut rows: Vec<T>, req: &PageRequest, id_of: impl Fn(&T) -> String) -> Page<T> {
        let limit = usize::try_from(req.limit).unwrap_or(usize::MAX);
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| encode_cursor(&id_of(r)))
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }

    /// Maps the items.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }

    /// Maps the items with a conversion that can fail (a stored row read back): the first error
    /// is the page's.
    pub fn try_map<U, E>(self, f: impl FnMut(T) -> Result<U, E>) -> Result<Page<U>, E> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_, E>>()?,
            next_cursor: self.next_cursor,
        })
    }
}

/// The `Idempotency-Key` of a POST, scoped to the caller.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    principal: String,
    key: String,
    method: String,
    path: String,
    digest: String,
}

impl IdempotencyKey {
    /// Reads the header; `None` when absent. The key must be 1 to 255 visible ASCII characters.
    pub fn from_request(
        req: &HttpRequest,
        principal: &Principal,
        digest: &str,
    ) -> Result<Option<Self>, Error> {
        let Some(v) = req.headers().get("idempotency-key") else {
            return Ok(None);
        };
        let key = v
            .to_str()
            .ok()
            .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::BadIdempotencyKey,
                    "Idempotency-Key must be 1 to 255 visible ASCII characters",
                )
            })?;
        Ok(Some(IdempotencyKey {
            // Keys belong to a caller *with its scope*: two tokens of one subject with other
            // roles or locations never see each other's stored responses.
            principal: format!(
                "{}|{}|{}|{}",
                principal.subject,
                principal.roles_text(),
                principal
                    .locations
                    .as_ref()
                    .map(|l| l.join(","))
                    .unwrap_or_else(|| "*".to_owned()),
                principal.payer.as_deref().unwrap_or("")
            ),
            key: key.to_owned(),
            method: req.method().to_string(),
            path: req.path().to_owned(),
            digest: digest.to_owned(),
        }))
    }
}

impl IdempotencyKey {
    /// A digest of the caller and its key (never the key itself): the same for a retry of the
    /// same request, to pass on as an outside system's idempotency key.
    pub fn fingerprint(&self) -> String {
        digest(
            format!(
                "{}\n{}\n{}\n{}",
                self.principal, self.key, self.path, self.digest
            )
            .as_bytes(),
        )
    }
}

/// A JSON reply that may be the replay of an earlier idempotent request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// JSON body.
    pub body: String,
    /// True when this replays a stored response.
    pub replayed: bool,
}

impl Responder for Reply {
    type Body = actix_web::body::BoxBody;
    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        res.content_type("application/json");
        if self.replayed {
            res.insert_header(("idempotent-replayed", "true"));
        }
        res.body(self.body)
    }
}

/// Runs a write in one transaction together with its idempotency record: a retry with the same
/// key and body gets the stored response and changes nothing; the same key with another body
/// (or on another path) is a 409.
pub fn idempotent<T: Serialize>(
    conn: &mut AnyConnection,
    key: Option<&IdempotencyKey>,
    status: StatusCode,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, Error>,
) -> Result<Reply, Error> {
    idempotent_with_status(conn, key, |conn| f(conn).map(|v| (status, v)))
}

/// Like [`idempotent`], for writes whose success status depends on the outcome (201 for a new
/// record, 200 for one that already existed).
pub fn idempotent_with_status<T: Serialize>(
    conn: &mut AnyConnection,
    key: Option<&IdempotencyKey>,
    f: impl FnOnce(&mut AnyConnection) -> Result<(StatusCode, T), Error>,
) -> Result<Reply, Error> {
    conn.transaction(|conn| {
        if let Some(k) = key
            && let Some(reply) = stored_reply(conn, k)?
        {
            return Ok(reply);
        }
        let (status, value) = f(conn)?;
        let body = serde_json::to_string(&value)?;
        if let Some(k) = key {
            diesel::insert_into(idempotency_keys::table)
                .values((
                    idempotency_keys::principal.eq(&k.principal),
                    idempotency_keys::key.eq(&k.key),
                    idempotency_keys::method.eq(&k.method),
                    idempotency_keys::path.eq(&k.path),
                    idempotency_keys::request_hash.eq(&k.digest),
                    idempotency_keys::status.eq(i32::from(status.as_u16())),
                    idempotency_keys::response_body.eq(&body),
                    idempotency_keys::created_at.eq(crate::db::now()),
                ))
                .execute(conn)
                .map_err(|e| {
                    if crate::db::is_unique_violation(&e) {
                        Error::new(
                            ErrorCode::IdempotencyKeyInUse,
                            "a request with this Idempotency-Key is in progress; retry",
                        )
                    } else {
                        e.into()
                    }
                })?;
        }
        Ok(Reply {
            status,
            body,
            replayed: false,
        })
    })
}

/// The stored response of an earlier request with this key, if any (marked replayed); a 409
/// when the key was used for another request. For a write that must do something outside the
/// database first (call a provider) and so looks before it leaps; [`idempotent`] checks again
/// in its transaction.
pub fn replay(conn: &mut AnyConnection, key: &IdempotencyKey) -> Result<Option<Reply>, Error> {
    stored_reply(conn, key)
}

fn stored_reply(conn: &mut AnyConnection, k: &IdempotencyKey) -> Result<Option<Reply>, Error> {
    let stored: Option<(String, String, String, i32, String)> = idempotency_keys::table
        .filter(idempotency_keys::principal.eq(&k.principal))
        .filter(idempotency_keys::key.eq(&k.key))
        .select((
            idempotency_keys::method,
            idempotency_keys::path,
            idempotency_keys::request_hash,
            idempotency_keys::status,
            idempotency_keys::response_body,
        ))
        .first(conn)
        .optional()?;
    let Some((method, path, hash, status, body)) = stored else {
        return Ok(None);
    };
    if method != k.method || path != k.path || hash != k.digest {
        return Err(Error::new(
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was already used with a different request",
        ));
    }
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| {
            Error::stored(
                "idempotent reply status",
                &status.to_string(),
                "not an HTTP status",
            )
        })?;
    Ok(Some(Reply {
        status,
        body,
        replayed: true,
    }))
}

/// Parses a path id, answering 404 for anything that is not one.
pub fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, Error> {
    raw.parse().map_err(|_| Error::not_found(what))
}

/// OpenAPI schema of a decimal input: a decimal string (`"1.5"`) or a JSON number (`1.5`).
pub fn decimal_input() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaType, Type};
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .pattern(Some(r"^\s*-?[0-9]+(\.[0-9]+)?\s*$")),
        )
        .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Number)))
        .description(Some("A decimal: a string such as \"1.5\" or a JSON number"))
        .into()
}

/// A new secret for a link that opens something without a token (a portal or approval link):
/// 32 random bytes, base64url. Returns the token, shown once, and the hash that is kept.
pub fn link_token() -> (String, String) {
    use rand::RngCore as _;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = link_token_hash(&token);
    (token, hash)
}

/// The kept form of a link's token: SHA-256, hex.
pub fn link_token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("DR ROSSI/1&x=ü"), "DR+ROSSI%2F1%26x%3D%C3%BC");
        assert_eq!(query_value("LAB-HB.2_x"), "LAB-HB.2_x");
    }

    #[test]
    fn if_match_admits_star_lists_and_weak_tags() {
        assert!(super::if_match_admits("*", "\"r3\""));
        assert!(super::if_match_admits("\"r3\"", "\"r3\""));
        assert!(super::if_match_admits("\"r1\", \"r3\"", "\"r3\""));
        assert!(super::if_match_admits("W/\"r3\"", "\"r3\""));
        assert!(!super::if_match_admits("\"r2\"", "\"r3\""));
        assert!(!super::if_match_admits("\"r1\", \"r2\"", "\"r3\""));
        assert!(!super::if_match_admits(",", "\"r3\""));
    }

    use super::*;

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "the fields exist to be parsed")]
    struct Item {
        quantity: u32,
        kind: carebill_domain::accounts::ServiceKind,
    }

    #[derive(Debug, Deserialize)]
    #[expect(dead_code, reason = "the fields exist to be parsed")]
    struct Body {
        items: Vec<Item>,
    }

    #[test]
    fn json_errors_name_the_field_and_separate_syntax_from_data() {
        let e = parse_json::<Body>(
            br#"{"items":[{"quantity":1,"kind":"lab"},{"quantity":"x","kind":"lab"}]}"#,
        )
        .expect_err("bad");
        assert_eq!(e.problem().status, 422);
        assert_eq!(e.problem().errors[0].field, "items[1].quantity");
        let e =
            parse_json::<Body>(br#"{"items":[{"quantity":1,"kind":"surgery"}]}"#).expect_err("bad");
        assert!(
            e.problem().errors[0].message.contains("unknown variant"),
            "{:?}",
            e.problem()
        );
        let e = parse_json::<Body>(br#"{"items":[{"kind":"lab"}]}"#).expect_err("bad");
        assert!(
            e.problem().errors[0]
                .message
                .contains("missing field `quantity`")
        );
        let e = parse_json::<Body>(br#"[[{"quantity":1,"kind":"lab"}]]"#)
            .expect_err("arrays are not objects");
        assert_eq!(e.problem().errors[0].field, "body");
        let e = parse_json::<Body>(br#"{"items": []} trailing"#).expect_err("trailing data");
        assert_eq!(e.code(), ErrorCode::MalformedJson);
        let e = parse_json::<Body>(br#"{"items": [}"#).expect_err("bad");
        assert_eq!(e.problem().status, 400);
        assert_eq!(e.code(), ErrorCode::MalformedJson);
    }

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = uuid::Uuid::now_v7().to_string();
        let params = PageParams {
            limit: Some(2),
            cursor: Some(encode_cursor(&id)),
        };
        let req = params.parse().expect("valid");
        assert_eq!(req.after.as_deref(), Some(id.as_str()));
        assert!(
            PageParams {
                limit: Some(0),
                cursor: None
            }
            .parse()
            .is_err()
        );
        assert!(
            PageParams {
                limit: None,
                cursor: Some("bm9wZQ".into())
            }
            .parse()
            .is_err()
        );
        let page = Page::from_rows(vec![1, 2, 3], &req, |n| format!("{n}"));
        assert_eq!(page.items, vec![1, 2]);
        assert!(page.next_cursor.is_some());
    }
}
