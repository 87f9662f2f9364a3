//! Delivery over HTTP ([`crate::service::deliveries`]): recipients' delivery settings,
//! locations' sending windows, each document's deliveries and their tries, resends, a pass of
//! the sender on demand, and portal links (made, listed, revoked, and opened without a token).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::Validation;
use carebill_domain::delivery::{DeliveryChannel, DeliveryStatus, SendingWindows, Window};
use carebill_domain::events::PartyKind;
use carebill_domain::ids::{CreditNoteId, InvoiceId};
use carebill_layout::Language;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, Page, PageParams, parse_id};
use chrono::{DateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::AUDIT_READERS;
use super::printing::{PRINT_FORMATS, printed};
use crate::InvoicingState;
use crate::service::deliveries::{
    self as service, DeliveryView, DocKind, LinkRow, NewLink, NewSettings, Resend, Settings,
    StoredWindows,
};
use carebill_platform::http::negotiate;

/// Roles that set delivery settings and sending windows (admin always may).
const MANAGERS: &[Role] = &[Role::BillingManager];
/// Roles that resend documents and make portal links (admin always may).
const SENDERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Collector];

/// How a recipient gets its documents.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettingsInput {
    /// `email` (the PDF attached, and UBL when `attach_ubl`), `portal_notice` (an e-mail with a
    /// link that opens the document) or `none` (the recipient pulls from the portal).
    pub channel: DeliveryChannel,
    /// Where e-mail goes; required but for `none`.
    #[schema(example = "facturas@sanitas.example")]
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the UBL (EN 16931) goes along with the PDF (default false).
    #[serde(default)]
    pub attach_ubl: bool,
    /// The language documents to this recipient are printed in: `es`, `en`, `de`, `fr`, `nl`
    /// (default: the layout's).
    #[schema(example = "es")]
    #[serde(default)]
    pub language: Option<String>,
}

impl DeliverySettingsInput {
    fn validate(self) -> Result<NewSettings, Error> {
        let mut v = Validation::new();
        let email = v.opt_text("email", self.email.as_deref(), 254);
        if let Some(e) = &email
            && !is_email(e)
        {
            v.add(
                "email",
                "invalid",
                format!("`{e}` is not an e-mail address"),
            );
        }
        if email.is_none() && self.channel != DeliveryChannel::None {
            v.add(
                "email",
                "required",
                "e-mail and portal notices need an address",
            );
        }
        let language = match self.language.as_deref() {
            None => Some(None),
            Some(code) => v
                .check(
                    "language",
                    "invalid",
                    Language::parse(code).ok_or_else(|| {
                        format!("`{code}` has no labels; use one of es, en, de, fr, nl")
                    }),
                )
                .map(Some),
        };
        v.finish().map_err(Error::validation)?;
        Ok(NewSettings {
            channel: self.channel,
            email,
            attach_ubl: self.attach_ubl,
            language: language.flatten(),
        })
    }
}

/// An address with one `@`, something before it, and a dotted domain without spaces.
fn is_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
}

/// A recipient's delivery settings.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliverySettings {
    /// Payer or patient.
    pub party_kind: PartyKind,
    /// The payer's code or the patient's id.
    pub party: String,
    /// Version: documents issued from its time on follow it.
    pub version: i64,
    /// How documents go.
    pub channel: DeliveryChannel,
    /// Where e-mail goes.
    pub email: Option<String>,
    /// Whether UBL goes along.
    pub attach_ubl: bool,
    /// The language of its documents.
    pub language: Option<String>,
    /// Who set it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl From<Settings> for DeliverySettings {
    fn from(s: Settings) -> Self {
        DeliverySettings {
            party_kind: s.party_kind,
            party: s.party,
            version: s.version,
            channel: s.channel,
            email: s.email,
            attach_ubl: s.attach_ubl,
            language: s.language.map(|l| l.code().to_owned()),
            created_by: s.created_by,
            created_at: s.created_at,
        }
    }
}

fn party(path: (String, String)) -> Result<(PartyKind, String), Error> {
    let (kind, party) = path;
    let kind: PartyKind = kind
        .parse()
        .map_err(|_| Error::not_found("delivery settings"))?;
    let party = party.trim().to_owned();
    if party.is_empty() || party.len() > 64 {
        return Err(Error::not_found("delivery settings"));
    }
    Ok((kind, party))
}

/// Set how a payer (by code), a patient or a carer (by id) gets its documents: a new version,
/// followed by documents issued from now on.
#[utoipa::path(put, path = "/v1/delivery-settings/{party_kind}/{party}", tag = "delivery",
    request_body = DeliverySettingsInput,
    params(("party_kind" = String, Path, description = "`payer`, `patient` or `carer`"),
        ("party" = String, Path, description = "The payer's code, the patient's id or the carer's id")),
    responses((status = 200, description = "The settings", body = DeliverySettings),
        (status = 422, description = "A malformed e-mail address, none for a channel that needs one, an unknown language", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn put_delivery_settings(
    state: web::Data<InvoicingState>,
    who: Principal,
    path: web::Path<(String, String)>,
    body: JsonBody<DeliverySettingsInput>,
) -> Result<web::Json<DeliverySettings>, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let (kind, party) = party(path.into_inner())?;
    let new = body.value.validate()?;
    let s = state
        .db
        .write(move |conn| service::put_settings(conn, &who, kind, &party, new))
        .await?;
    Ok(web::Json(s.into()))
}

/// Get how a payer, a patient or a carer gets its documents.
#[utoipa::path(get, path = "/v1/delivery-settings/{party_kind}/{party}", tag = "delivery",
    params(("party_kind" = String, Path, description = "`payer`, `patient` or `carer`"),
        ("party" = String, Path, description = "The payer's code, the patient's id or the carer's id")),
    responses((status = 200, description = "The settings", body = DeliverySettings),
        (status = 404, description = "None set: nothing is sent", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_delivery_settings(
    state: web::Data<InvoicingState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<web::Json<DeliverySettings>, Error> {
    who.require(AUDIT_READERS)?;
    let (kind, party) = party(path.into_inner())?;
    let s = state
        .db
        .read(move |conn| service::settings(conn, kind, &party))
        .await?;
    Ok(web::Json(s.into()))
}

/// One sending window.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowDoc {
    /// Days: `mon` ... `sun`.
    #[schema(example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    pub days: Vec<String>,
    /// Opens at, local time (`HH:MM`).
    #[schema(example = "08:00")]
    pub from: String,
    /// Closes at, local time (`HH:MM`), after `from`.
    #[schema(example = "18:00")]
    pub to: String,
}

/// When a location's documents go out.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendingWindowsInput {
    /// The IANA time zone the windows are in.
    #[schema(example = "Europe/Amsterdam")]
    pub time_zone: String,
    /// The windows; none: any time.
    pub windows: Vec<WindowDoc>,
}

/// A location's sending windows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SendingWindowsDoc {
    /// The location.
    pub location_code: String,
    /// The IANA time zone.
    pub time_zone: String,
    /// The windows.
    pub windows: Vec<WindowDoc>,
    /// Version.
    pub version: i64,
    /// Who set them.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

fn weekday_code(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

impl From<StoredWindows> for SendingWindowsDoc {
    fn from(w: StoredWindows) -> Self {
        SendingWindowsDoc {
            location_code: w.location_code,
            time_zone: w.windows.time_zone.name().to_owned(),
            windows: w
                .windows
                .windows
                .iter()
                .map(|x| WindowDoc {
                    days: x.days.iter().map(|d| weekday_code(*d).to_owned()).collect(),
                    from: x.from.format("%H:%M").to_string(),
                    to: x.to.format("%H:%M").to_string(),
                })
                .collect(),
            version: w.version,
            updated_by: w.updated_by,
            updated_at: w.updated_at,
        }
    }
}

impl SendingWindowsInput {
    fn validate(self) -> Result<SendingWindows, Error> {
        let mut v = Validation::new();
        let tz = v.check(
            "time_zone",
            "invalid",
            self.time_zone
                .parse::<chrono_tz::Tz>()
                .map_err(|_| format!("`{}` is not an IANA time zone", self.time_zone)),
        );
        let mut windows = Vec::new();
        for (i, w) in self.windows.iter().enumerate() {
            let mut days = Vec::new();
            for d in &w.days {
                match [
                    Weekday::Mon,
                    Weekday::Tue,
                    Weekday::Wed,
                    Weekday::Thu,
                    Weekday::Fri,
                    Weekday::Sat,
                    Weekday::Sun,
                ]
                .into_iter()
                .find(|x| weekday_code(*x) == d.to_ascii_lowercase())
                {
                    Some(x) => days.push(x),
                    None => v.add(
                        format!("windows[{i}].days"),
                        "invalid",
                        format!("`{d}` is not mon ... sun"),
                    ),
                }
            }
            let time = |field: &str, t: &str, v: &mut Validation| {
                v.check(
                    &format!("windows[{i}].{field}"),
                    "invalid",
                    NaiveTime::parse_from_str(t, "%H:%M")
                        .map_err(|_| format!("`{t}` is not HH:MM")),
                )
            };
            let from = time("from", &w.from, &mut v);
            let to = time("to", &w.to, &mut v);
            if let (Some(from), Some(to)) = (from, to) {
                windows.push(Window { days, from, to });
            }
        }
        v.finish().map_err(Error::validation)?;
        let tz = tz.ok_or_else(|| Error::internal(&"validation passed without a time zone"))?;
        SendingWindows::new(tz, windows)
            .map_err(|e| Error::field("windows", "invalid", e.to_string()))
    }
}

/// Set when a location's invoices and credit notes are e-mailed (e.g. weekdays 08:00–18:00
/// local time); documents issued outside wait in the queue for the next window.
#[utoipa::path(put, path = "/v1/sending-windows/{location_code}", tag = "delivery",
    request_body = SendingWindowsInput,
    params(("location_code" = String, Path, description = "Location code")),
    responses((status = 200, description = "The windows", body = SendingWindowsDoc),
        (status = 404, description = "Not one of your locations", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown time zone or day, a time not HH:MM, a window that closes before it opens", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn put_sending_windows(
    state: web::Data<InvoicingState>,
    who: Principal,
    location: web::Path<String>,
    body: JsonBody<SendingWindowsInput>,
) -> Result<web::Json<SendingWindowsDoc>, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let windows = body.value.validate()?;
    let location = location.into_inner();
    let w = state
        .db
        .write(move |conn| service::put_windows(conn, &who, &location, windows))
        .await?;
    Ok(web::Json(w.into()))
}

/// Get a location's sending windows.
#[utoipa::path(get, path = "/v1/sending-windows/{location_code}", tag = "delivery",
    params(("location_code" = String, Path, description = "Location code")),
    responses((status = 200, description = "The windows", body = SendingWindowsDoc),
        (status = 404, description = "None set (documents go out any time), or not your location", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_sending_windows(
    state: web::Data<InvoicingState>,
    who: Principal,
    location: web::Path<String>,
) -> Result<web::Json<SendingWindowsDoc>, Error> {
    who.require(AUDIT_READERS)?;
    let scope = Scope::of(&who);
    let location = location.into_inner();
    let w = state
        .db
        .read(move |conn| service::windows(conn, &scope, &location))
        .await?;
    Ok(web::Json(w.into()))
}

/// One try of a delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryAttempt {
    /// 1, 2, ...
    pub attempt: i32,
    /// When.
    pub at: DateTime<Utc>,
    /// `sent`, `retrying` or `failed`.
    pub outcome: String,
    /// The server's answer, or why it failed.
    pub detail: Option<String>,
}

/// A delivery of a document, with its tries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// Id.
    pub id: String,
    /// `invoice` or `credit_note`.
    pub document_kind: String,
    /// The document.
    pub document_id: String,
    /// Its number.
    pub document_number: String,
    /// `email` or `portal_notice`.
    pub channel: DeliveryChannel,
    /// The address.
    pub recipient: String,
    /// Whether UBL goes along.
    pub attach_ubl: bool,
    /// The first delivery, when this one resends the document.
    pub resend_of: Option<String>,
    /// `queued`, `sent` or `failed`.
    pub status: String,
    /// Tries so far.
    pub attempts: i32,
    /// The next try (queued), not before.
    pub not_before: DateTime<Utc>,
    /// The last failure.
    pub last_error: Option<String>,
    /// The `Message-ID` the server accepted.
    pub message_id: Option<String>,
    /// Who asked for it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When the server accepted it.
    pub sent_at: Option<DateTime<Utc>>,
    /// Each try.
    pub log: Vec<DeliveryAttempt>,
}

impl From<DeliveryView> for Delivery {
    fn from(v: DeliveryView) -> Self {
        let r = v.row;
        Delivery {
            channel: v.channel,
            id: r.id,
            document_kind: r.document_kind,
            document_id: r.document_id,
            document_number: r.document_number,
            recipient: r.recipient,
            attach_ubl: r.attach_ubl,
            resend_of: r.resend_of,
            status: r.status,
            attempts: r.attempts,
            not_before: r.not_before.and_utc(),
            last_error: r.last_error,
            message_id: r.message_id,
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
            sent_at: r.sent_at.map(|t| t.and_utc()),
            log: v
                .attempts
                .into_iter()
                .map(|a| DeliveryAttempt {
                    attempt: a.attempt,
                    at: a.at.and_utc(),
                    outcome: a.outcome,
                    detail: a.detail,
                })
                .collect(),
        }
    }
}

fn document(kind: DocKind, id: &str) -> Result<String, Error> {
    Ok(match kind {
        DocKind::Invoice => parse_id::<InvoiceId>(id, "invoice")?.to_string(),
        DocKind::CreditNote => parse_id::<CreditNoteId>(id, "credit note")?.to_string(),
    })
}

async fn deliveries_of(
    state: web::Data<InvoicingState>,
    who: Principal,
    kind: DocKind,
    id: &str,
) -> Result<web::Json<Vec<Delivery>>, Error> {
    who.require(AUDIT_READERS)?;
    let id = document(kind, id)?;
    let scope = Scope::of(&who);
    let list = state
        .db
        .read(move |conn| service::of_document(conn, &scope, kind, &id))
        .await?;
    Ok(web::Json(list.into_iter().map(Delivery::from).collect()))
}

/// The deliveries of an invoice, with each try and what the server answered.
#[utoipa::path(get, path = "/v1/invoices/{id}/deliveries", tag = "delivery",
    params(("id" = String, Path, description = "Invoice id")),
    responses((status = 200, description = "Its deliveries, oldest first (none when its recipient asked for none)", body = Vec<Delivery>),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_invoice_deliveries(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Vec<Delivery>>, Error> {
    deliveries_of(state, who, DocKind::Invoice, &id).await
}

/// The deliveries of a credit note, with each try.
#[utoipa::path(get, path = "/v1/credit-notes/{id}/deliveries", tag = "delivery",
    params(("id" = String, Path, description = "Credit note id")),
    responses((status = 200, description = "Its deliveries, oldest first", body = Vec<Delivery>),
        (status = 404, description = "No such credit note in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_credit_note_deliveries(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Vec<Delivery>>, Error> {
    deliveries_of(state, who, DocKind::CreditNote, &id).await
}

/// What a resend may change.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendInput {
    /// `email` or `portal_notice` (default: the recipient's setting, else `email`).
    #[serde(default)]
    pub channel: Option<DeliveryChannel>,
    /// To this address instead of the recipient's.
    #[serde(default)]
    pub email: Option<String>,
}

async fn resend(
    state: web::Data<InvoicingState>,
    who: Principal,
    kind: DocKind,
    id: &str,
    body: JsonBody<ResendInput>,
) -> Result<HttpResponse, Error> {
    who.require(SENDERS)?;
    let body = body.parse()?.value;
    let id = document(kind, id)?;
    let mut v = Validation::new();
    let email = v.opt_text("email", body.email.as_deref(), 254);
    if let Some(e) = &email
        && !is_email(e)
    {
        v.add(
            "email",
            "invalid",
            format!("`{e}` is not an e-mail address"),
        );
    }
    if body.channel == Some(DeliveryChannel::None) {
        v.add(
            "channel",
            "invalid",
            "a resend is sent: email or portal_notice",
        );
    }
    v.finish().map_err(Error::validation)?;
    let asked = Resend {
        channel: body.channel,
        email,
    };
    let d = state
        .db
        .write(move |conn| service::resend(conn, &who, kind, &id, asked))
        .await?;
    state.wake_delivery();
    Ok(HttpResponse::build(StatusCode::ACCEPTED).json(Delivery::from(d)))
}

/// Send an invoice again (a new delivery, queued now; its sending window still applies).
#[utoipa::path(post, path = "/v1/invoices/{id}/deliveries", tag = "delivery", request_body = ResendInput,
    params(("id" = String, Path, description = "Invoice id")),
    responses((status = 202, description = "Queued", body = Delivery),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed address, or none known for the recipient", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn resend_invoice(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<ResendInput>,
) -> Result<HttpResponse, Error> {
    resend(state, who, DocKind::Invoice, &id, body).await
}

/// Send a credit note again.
#[utoipa::path(post, path = "/v1/credit-notes/{id}/deliveries", tag = "delivery", request_body = ResendInput,
    params(("id" = String, Path, description = "Credit note id")),
    responses((status = 202, description = "Queued", body = Delivery),
        (status = 404, description = "No such credit note in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A malformed address, or none known for the recipient", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn resend_credit_note(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<ResendInput>,
) -> Result<HttpResponse, Error> {
    resend(state, who, DocKind::CreditNote, &id, body).await
}

/// Filters and paging of the delivery list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// `queued`, `sent` or `failed`.
    pub status: Option<DeliveryStatus>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// List the deliveries of your locations (e.g. `?status=failed` to see what did not go out).
#[utoipa::path(get, path = "/v1/deliveries", tag = "delivery", params(DeliveryQuery),
    responses((status = 200, description = "A page of deliveries, oldest first", body = Page<Delivery>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_deliveries(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<DeliveryQuery>,
) -> Result<web::Json<Page<Delivery>>, Error> {
    who.require(AUDIT_READERS)?;
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let scope = Scope::of(&who);
    let status = query.status;
    let page = state
        .db
        .read(move |conn| service::list(conn, &scope, status, &page))
        .await?;
    Ok(web::Json(page.map(Delivery::from)))
}

/// What one pass of the sender did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryDispatch {
    /// Accepted by the mail server.
    pub sent: i64,
    /// Failed for a passing reason; tried again later.
    pub retrying: i64,
    /// Given up.
    pub failed: i64,
    /// Waiting for their location's sending window.
    pub deferred: i64,
}

/// Send what is due now instead of waiting for the sender's next pass (billing managers).
#[utoipa::path(post, path = "/v1/delivery-dispatches", tag = "delivery",
    responses((status = 200, description = "What the pass did", body = DeliveryDispatch)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn dispatch_deliveries(
    state: web::Data<InvoicingState>,
    who: Principal,
) -> Result<web::Json<DeliveryDispatch>, Error> {
    who.require(MANAGERS)?;
    let s = service::dispatch(&state.db, &state.delivery, Utc::now(), 500).await?;
    Ok(web::Json(DeliveryDispatch {
        sent: s.sent,
        retrying: s.retrying,
        failed: s.failed,
        deferred: s.deferred,
    }))
}

/// A portal link.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PortalLink {
    /// Id (to revoke it).
    pub id: String,
    /// The URL that opens the document, shown only when the link is made.
    pub url: Option<String>,
    /// `invoice` or `credit_note`.
    pub document_kind: String,
    /// The document.
    pub document_id: String,
    /// The delivery that sent it, if one did.
    pub delivery_id: Option<String>,
    /// It opens the document until.
    pub expires_at: DateTime<Utc>,
    /// Revoked at.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Times opened.
    pub uses: i64,
    /// Last opened.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl PortalLink {
    fn of(r: LinkRow, url: Option<String>) -> PortalLink {
        PortalLink {
            id: r.id,
            url,
            document_kind: r.document_kind,
            document_id: r.document_id,
            delivery_id: r.delivery_id,
            expires_at: r.expires_at.and_utc(),
            revoked_at: r.revoked_at.map(|t| t.and_utc()),
            uses: r.uses,
            last_used_at: r.last_used_at.map(|t| t.and_utc()),
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
        }
    }
}

/// How long a link made by hand opens its document.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalLinkInput {
    /// Hours, 1 to 2160 (default: `delivery.link_hours`).
    #[serde(default)]
    pub hours: Option<u32>,
}

async fn make_link(
    state: web::Data<InvoicingState>,
    who: Principal,
    kind: DocKind,
    id: &str,
    body: JsonBody<PortalLinkInput>,
) -> Result<HttpResponse, Error> {
    who.require(SENDERS)?;
    let body = body.parse()?.value;
    let id = document(kind, id)?;
    if body.hours.is_some_and(|h| !(1..=2160).contains(&h)) {
        return Err(Error::field("hours", "out_of_range", "1 to 2160"));
    }
    let channels = state.delivery.clone();
    let NewLink { url, link } = state
        .db
        .write(move |conn| service::link_for(conn, &who, &channels, kind, &id, body.hours))
        .await?;
    Ok(HttpResponse::Created().json(PortalLink::of(link, Some(url))))
}

/// Make a link that opens this invoice without a token, for a limited time (the URL is shown
/// once).
#[utoipa::path(post, path = "/v1/invoices/{id}/portal-links", tag = "delivery", request_body = PortalLinkInput,
    params(("id" = String, Path, description = "Invoice id")),
    responses((status = 201, description = "The link, with its URL", body = PortalLink),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_invoice_link(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<PortalLinkInput>,
) -> Result<HttpResponse, Error> {
    make_link(state, who, DocKind::Invoice, &id, body).await
}

/// Make a link that opens this credit note for a limited time.
#[utoipa::path(post, path = "/v1/credit-notes/{id}/portal-links", tag = "delivery", request_body = PortalLinkInput,
    params(("id" = String, Path, description = "Credit note id")),
    responses((status = 201, description = "The link, with its URL", body = PortalLink),
        (status = 404, description = "No such credit note in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_credit_note_link(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<PortalLinkInput>,
) -> Result<HttpResponse, Error> {
    make_link(state, who, DocKind::CreditNote, &id, body).await
}

async fn links_of(
    state: web::Data<InvoicingState>,
    who: Principal,
    kind: DocKind,
    id: &str,
) -> Result<web::Json<Vec<PortalLink>>, Error> {
    who.require(AUDIT_READERS)?;
    let id = document(kind, id)?;
    let scope = Scope::of(&who);
    let rows = state
        .db
        .read(move |conn| service::links_of(conn, &scope, kind, &id))
        .await?;
    Ok(web::Json(
        rows.into_iter().map(|r| PortalLink::of(r, None)).collect(),
    ))
}

/// The portal links of an invoice: when each expires, whether it was revoked, how often opened.
#[utoipa::path(get, path = "/v1/invoices/{id}/portal-links", tag = "delivery",
    params(("id" = String, Path, description = "Invoice id")),
    responses((status = 200, description = "Its links, oldest first (without their URLs)", body = Vec<PortalLink>),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_invoice_links(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Vec<PortalLink>>, Error> {
    links_of(state, who, DocKind::Invoice, &id).await
}

/// The portal links of a credit note.
#[utoipa::path(get, path = "/v1/credit-notes/{id}/portal-links", tag = "delivery",
    params(("id" = String, Path, description = "Credit note id")),
    responses((status = 200, description = "Its links, oldest first (without their URLs)", body = Vec<PortalLink>),
        (status = 404, description = "No such credit note in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_credit_note_links(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Vec<PortalLink>>, Error> {
    links_of(state, who, DocKind::CreditNote, &id).await
}

/// Revoke a portal link: it opens nothing from now on.
#[utoipa::path(post, path = "/v1/portal-links/{id}/revocation", tag = "delivery",
    params(("id" = String, Path, description = "Portal link id")),
    responses((status = 200, description = "The link, revoked", body = PortalLink),
        (status = 404, description = "No such link for a document in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn revoke_portal_link(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<PortalLink>, Error> {
    who.require(SENDERS)?;
    let id = id.into_inner();
    let row = state
        .db
        .write(move |conn| service::revoke(conn, &who, &id))
        .await?;
    Ok(web::Json(PortalLink::of(row, None)))
}

/// Open the document of a portal link, without a bearer token: PDF (default) or HTML. An
/// unknown, expired or revoked link answers 401 and nothing more. Every use is counted.
#[utoipa::path(get, path = "/v1/portal-links/{token}", tag = "delivery",
    params(("token" = String, Path, description = "The token of the link's URL")),
    responses((status = 200, description = "The document", content((String = "application/pdf"), (String = "text/html"))),
        (status = 401, description = "Unknown, expired or revoked (`invalid_link`)", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows neither PDF nor HTML", body = Problem, content_type = "application/problem+json")),
    security(()))]
#[tracing::instrument(skip_all)]
pub async fn open_portal_link(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    token: web::Path<String>,
) -> Result<HttpResponse, Error> {
    let format = negotiate(&req, PRINT_FORMATS)?;
    let token = token.into_inner();
    if token.len() > 100 {
        return Err(Error::new(
            carebill_platform::ErrorCode::InvalidLink,
            "this link does not open a document",
        ));
    }
    let p = state
        .db
        .write(move |conn| service::open_link(conn, &token))
        .await?;
    let mut res = printed(&req, p, format).await?;
    res.headers_mut().insert(
        actix_web::http::header::CACHE_CONTROL,
        actix_web::http::header::HeaderValue::from_static("private, no-store"),
    );
    Ok(res)
}
