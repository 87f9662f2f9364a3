//! Online payment links over HTTP: a link at the payment provider for what a receivable owes
//! or for a party's balance in one currency, reading links, and the provider's webhook
//! ([`crate::service::payment_links`]).
//!
//! `POST /v1/payment-webhooks` is the one collections operation without a bearer token: the
//! provider cannot hold one. It is authenticated by its `Stripe-Signature` instead, verified
//! over the raw body before anything is parsed or recorded (a missing, bad or stale signature
//! is a 401 `invalid_signature` and nothing is recorded). Its answer is 200 for every event it
//! took or ignored, so the provider stops delivering it.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::collections::PaymentLinkStatus;
use carebill_domain::events::PartyKind;
use carebill_domain::ids::ReceivableId;
use carebill_domain::{Currency, Money, Validation};
use carebill_platform::auth::{Principal, Scope, request_id};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id, raw_body, replay,
};
use carebill_platform::outbound::payments::{SIGNATURE_HEADER, WebhookError};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{READERS, WRITERS, uuid_param};
use crate::CollectionsState;
use crate::service::payment_links::LinkFilter;
use crate::service::payment_links::{self, LinkFor, PaymentLinkRecord, Taken, WebhookResult};

/// The largest webhook body taken (the provider's events are a few KiB).
const WEBHOOK_LIMIT: usize = 256 * 1024;

/// A payment link to make: for a receivable (`receivable_id`), or for what a party owes in one
/// currency (`party_kind`, `party_id`, `currency`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentLinkInput {
    /// The receivable to pay: the link asks what it still owes.
    pub receivable_id: Option<ReceivableId>,
    /// For a balance link: payer or patient.
    pub party_kind: Option<PartyKind>,
    /// For a balance link: the payer's or patient's id.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub party_id: Option<uuid::Uuid>,
    /// For a balance link: the currency (ISO 4217) of the receivables to pay.
    #[schema(example = "EUR")]
    pub currency: Option<String>,
}

impl PaymentLinkInput {
    fn validate(self) -> Result<LinkFor, Error> {
        let mut v = Validation::new();
        let balance =
            self.party_kind.is_some() || self.party_id.is_some() || self.currency.is_some();
        match (self.receivable_id, balance) {
            (Some(id), false) => return Ok(LinkFor::Receivable(id)),
            (Some(_), true) => v.add(
                "receivable_id",
                "invalid",
                "a link is for a receivable or for a party's balance, not both",
            ),
            (None, _) => {
                if self.party_kind.is_none() {
                    v.add(
                        "party_kind",
                        "required",
                        "name a receivable_id, or a party_kind, party_id and currency",
                    );
                }
                if self.party_id.is_none() {
                    v.add("party_id", "required", "a balance link names the party");
                }
                match &self.currency {
                    None => v.add("currency", "required", "a balance link names its currency"),
                    Some(c) if Currency::parse(c.trim()).is_err() => {
                        v.add("currency", "invalid", "not an ISO 4217 currency code")
                    }
                    Some(_) => {}
                }
            }
        }
        v.finish().map_err(Error::validation)?;
        match (
            self.party_kind,
            self.party_id,
            self.currency.as_deref().map(|c| Currency::parse(c.trim())),
        ) {
            (Some(kind), Some(party_id), Some(Ok(currency))) => Ok(LinkFor::Balance {
                kind,
                party_id,
                currency,
            }),
            _ => Err(Error::internal(&"validation passed without a party")),
        }
    }
}

/// An online payment link.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PaymentLink {
    /// Id.
    pub id: String,
    /// The payment provider (`stripe`).
    pub provider: String,
    /// The provider's checkout session id.
    pub session_id: String,
    /// Where the payer pays: send it to them.
    pub url: String,
    /// What the link asks: the receivable's (or the balance's) outstanding when it was made.
    pub amount: Money,
    /// The receivable it pays; absent for a balance link.
    pub receivable_id: Option<String>,
    /// Its invoice.
    pub invoice_id: Option<String>,
    /// The invoice number.
    pub invoice_number: Option<String>,
    /// Payer or patient.
    pub party_kind: PartyKind,
    /// The payer's or patient's id.
    pub party_id: String,
    /// `open` (payable), `paid`, `expired` or `failed`.
    pub status: PaymentLinkStatus,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops being payable.
    pub expires_at: DateTime<Utc>,
    /// When the provider said it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// What was paid (the provider's word; it may differ from `amount`).
    pub paid: Option<Money>,
    /// The payment recorded for it (`/v1/payments/{id}`).
    pub payment_id: Option<String>,
    /// The provider's payment reference (also the payment's reference).
    pub provider_reference: Option<String>,
}

impl PaymentLink {
    fn of(r: &PaymentLinkRecord) -> PaymentLink {
        PaymentLink {
            id: r.id.clone(),
            provider: r.provider.clone(),
            session_id: r.session_id.clone(),
            url: r.url.clone(),
            amount: r.amount,
            receivable_id: r.receivable_id.clone(),
            invoice_id: r.invoice_id.clone(),
            invoice_number: r.invoice_number.clone(),
            party_kind: r.party_kind,
            party_id: r.party_id.clone(),
            status: r.status,
            created_by: r.created_by.clone(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            paid_at: r.paid_at,
            paid: r.paid,
            payment_id: r.payment_id.clone(),
            provider_reference: r.provider_reference.clone(),
        }
    }
}

fn no_provider(what: &str) -> Error {
    Error::new(
        ErrorCode::NoPaymentProvider,
        format!("no payment provider is configured: {what}"),
    )
}

/// Make a payment link at the payment provider for what a receivable owes, or for a party's
/// balance in one currency (the party's owing receivables, paid oldest due first).
#[utoipa::path(post, path = "/v1/payment-links", tag = "payment links", request_body = PaymentLinkInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result (and never opens a second checkout session)")),
    responses((status = 201, description = "Made: send `url` to the payer", body = PaymentLink),
        (status = 403, description = "Not a billing manager or collector, or a balance link asked by a user limited to some locations", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such receivable or party in the caller's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Nothing outstanding (nothing_outstanding), no payment provider configured (no_payment_provider), or the Idempotency-Key was used for another request", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The payment provider failed (payment_provider_failed); nothing was stored", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "A database is unavailable", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_payment_link(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PaymentLinkInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let link_for = body.value.validate()?;
    let links = state
        .payment_links
        .clone()
        .ok_or_else(|| no_provider("set payments.provider_url and payments.secret_key"))?;
    // A retry answers what the first request made, without asking the provider again.
    if let Some(k) = key.clone()
        && let Some(reply) = state.db.read(move |conn| replay(conn, &k)).await?
    {
        return Ok(reply);
    }
    let asker = who.clone();
    let target = state
        .db
        .read(move |conn| payment_links::target(conn, &asker, &link_for))
        .await?;
    let link_id = uuid::Uuid::now_v7().to_string();
    let expires_at = Utc::now() + Duration::hours(i64::from(links.link_hours));
    let provider_key = key.as_ref().map_or_else(
        || format!("carebill-link-{link_id}"),
        |k| format!("carebill-{}", k.fingerprint()),
    );
    let session = payment_links::open_session(
        links.provider.as_ref(),
        &link_id,
        &target,
        expires_at,
        provider_key,
    )
    .await?;
    let provider = links.provider.name();
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                payment_links::store(
                    conn, &who, &link_id, provider, &target, &session, expires_at,
                )
                .map(|r| PaymentLink::of(&r))
            })
        })
        .await
}

/// Get a payment link.
#[utoipa::path(get, path = "/v1/payment-links/{id}", tag = "payment links",
    params(("id" = String, Path, description = "Payment link id")),
    responses((status = 200, description = "The link", body = PaymentLink)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_payment_link(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<PaymentLink>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "payment link")?;
    let scope = Scope::of(&who);
    let link = state
        .db
        .read(move |conn| payment_links::link(conn, &scope, &id.to_string()))
        .await?;
    Ok(web::Json(PaymentLink::of(&link)))
}

/// Filters for the payment link list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentLinkFilter {
    /// The receivable's links.
    pub receivable_id: Option<String>,
    /// `open`, `paid`, `expired` or `failed`.
    pub status: Option<PaymentLinkStatus>,
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The payer's or patient's id.
    pub party_id: Option<String>,
}

/// List payment links, oldest first.
#[utoipa::path(get, path = "/v1/payment-links", tag = "payment links", params(PaymentLinkFilter, PageParams),
    responses((status = 200, description = "A page of links", body = Page<PaymentLink>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A receivable or party id that is not a UUID", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_payment_links(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<PaymentLinkFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<PaymentLink>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let f = filter.into_inner();
    let filter = LinkFilter {
        receivable_id: uuid_param("receivable_id", f.receivable_id.as_deref())?,
        status: f.status,
        party_kind: f.party_kind,
        party_id: uuid_param("party_id", f.party_id.as_deref())?,
    };
    let scope = Scope::of(&who);
    let page = state
        .db
        .read(move |conn| payment_links::list(conn, &scope, &filter, &page))
        .await?;
    Ok(web::Json(page.map(|l| PaymentLink::of(&l))))
}

/// An event of the payment provider, as it signs and sends it (Stripe's event object). Read
/// whole only after its signature verifies; its shape alone is checked where no provider is
/// configured, so that what is not an event is refused as such.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[expect(
    dead_code,
    reason = "documents the webhook body and checks its shape; the provider reads the verified event"
)]
pub struct ProviderEvent {
    /// The event id (`evt_...`), the same on every delivery.
    pub id: Option<String>,
    /// `checkout.session.completed`, `checkout.session.async_payment_succeeded`,
    /// `checkout.session.async_payment_failed`, `checkout.session.expired`; others are ignored.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// `{"object": <the checkout session>}`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What a webhook did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WebhookReceipt {
    /// Always true: the event is taken (the provider need not send it again).
    pub received: bool,
    /// `recorded` (a payment), `expired`, `failed`, `pending` (completed, money on its way),
    /// `duplicate` (taken before: nothing done again), `not_open` (the link had ended before),
    /// `unknown_session`, or `ignored` (another event type).
    #[schema(example = "recorded")]
    pub outcome: String,
    /// The link concerned.
    pub link_id: Option<String>,
    /// The payment recorded.
    pub payment_id: Option<String>,
}

fn receipt(r: WebhookResult) -> WebhookReceipt {
    WebhookReceipt {
        received: true,
        outcome: r.outcome.as_str().to_owned(),
        link_id: r.link_id,
        payment_id: r.payment_id,
    }
}

/// The payment provider's webhook: no bearer token, a `Stripe-Signature` over the raw body
/// instead (`t=<unix seconds>,v1=<hex HMAC-SHA256(webhook secret, "<t>.<body>")>`, at most
/// 5 minutes old). A paid checkout session records its payment once however often (or however
/// concurrently) it is delivered; an expired or failed one changes the link and moves no money.
#[utoipa::path(post, path = "/v1/payment-webhooks", tag = "payment links",
    request_body(content = ProviderEvent, content_type = "application/json", description = "The provider's event, signed"),
    params(("Stripe-Signature" = Option<String>, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\" with the webhook secret>; several v1 allowed")),
    responses((status = 200, description = "Taken (or ignored); the provider need not send it again", body = WebhookReceipt),
        (status = 401, description = "Missing, malformed, wrong or stale signature (invalid_signature); nothing recorded", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No payment provider or webhook secret is configured (no_payment_provider)", body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(skip_all)]
pub async fn receive_payment_webhook(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    let body = raw_body(payload, WEBHOOK_LIMIT).await?;
    let Some(links) = state.payment_links.clone() else {
        // Nothing can be verified, so nothing is taken; what is not an event is refused as such.
        carebill_platform::http::parse_json::<ProviderEvent>(&body)?;
        return Err(no_provider("payment webhooks cannot be verified"));
    };
    let signature = req
        .headers()
        .get(SIGNATURE_HEADER)
        .map(|v| v.to_str().unwrap_or_default()); // not stored: an unreadable header is a signature that does not verify
    let event = links
        .provider
        .verify_webhook(signature, &body, Utc::now().timestamp())
        .map_err(|e| match e {
            WebhookError::NotConfigured => {
                no_provider("set payments.webhook_secret to accept webhooks")
            }
            WebhookError::Signature(s) => {
                tracing::warn!(reason = %s, "payment webhook refused");
                Error::new(ErrorCode::InvalidSignature, s.to_string())
            }
            WebhookError::Unreadable(m) => Error::new(
                ErrorCode::MalformedJson,
                format!("the signed event cannot be read: {m}"),
            ),
        })?;
    let provider = links.provider.name();
    let (event_id, event_type) = (event.id.clone(), event.event_type.clone());
    let rid = request_id(&req);
    let taken = state
        .db
        .write(move |conn| payment_links::take_event_once(conn, provider, &event, rid))
        .await;
    let result = match taken {
        Ok(r) => r,
        // The same event, delivered concurrently, was taken by the other delivery.
        Err(e) if e.code() == ErrorCode::AlreadyExists => WebhookResult {
            outcome: Taken::Duplicate,
            link_id: None,
            payment_id: None,
        },
        Err(e) => return Err(e),
    };
    tracing::info!(
        provider,
        event_id = %event_id,
        event_type = %event_type,
        outcome = ?result.outcome,
        "payment webhook taken"
    );
    if result.outcome == Taken::Recorded {
        state.wake.notify_one();
    }
    Ok(HttpResponse::Ok().json(receipt(result)))
}
