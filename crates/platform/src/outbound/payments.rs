//! The online payment provider behind payment links: the interface ([`PaymentProvider`]) and
//! its one implementation, [`StripeCheckout`], which speaks the API of Stripe Checkout.
//!
//! - **Checkout session**: `POST {provider_url}/v1/checkout/sessions`, form-encoded
//!   (`mode=payment`, one line item with `price_data[currency]`, `price_data[unit_amount]` in
//!   minor units and `price_data[product_data][name]`, `client_reference_id`, `metadata[...]`,
//!   `success_url`, `cancel_url`, `expires_at`), `Authorization: Bearer <secret_key>` and an
//!   `Idempotency-Key` (the same for every retry of one request, so a retry never opens a
//!   second session). Connection failures, timeouts, 429 and 5xx are retried with backoff
//!   ([`ATTEMPTS`] in all); a 4xx is the provider's final answer. Every attempt is logged,
//!   never the key.
//! - **Webhooks**: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(webhook_secret,
//!   "<t>.<raw body>")>`, several `v1` values allowed (a secret being rolled); compared in
//!   constant time ([`hmac::Mac::verify_slice`]); a timestamp more than [`TOLERANCE_SECS`] away
//!   from now is refused, so a captured delivery cannot be replayed later.
//!
//! Settings read: `payments.provider_url`, `payments.secret_key`, `payments.webhook_secret`,
//! `payments.success_url`, `payments.cancel_url` (see [`crate::config`]).

use std::sync::Arc;
use std::time::Duration;

use carebill_domain::Currency;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{ConfigError, PaymentsConfig, Secret};

/// The header a webhook's signature comes in.
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// How far (seconds) a webhook's timestamp may be from now.
pub const TOLERANCE_SECS: i64 = 300;
/// Attempts to open a checkout session before giving up.
pub const ATTEMPTS: u32 = 3;
/// Wait before the first retry; doubled for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait for one request to the provider.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What to collect through one checkout session.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    /// The amount, in minor units of `currency`; positive.
    pub amount_minor: i64,
    /// Its currency.
    pub currency: Currency,
    /// What the payer sees as the item paid for (e.g. "Invoice H1-2026-0001").
    pub description: String,
    /// Our reference for the session (the payment link's id); comes back in its webhooks.
    pub client_reference_id: String,
    /// Further key/value pairs kept with the session at the provider.
    pub metadata: Vec<(String, String)>,
    /// When the session stops being payable.
    pub expires_at: DateTime<Utc>,
    /// The same for every retry of one request: the provider opens one session for it.
    pub idempotency_key: String,
}

/// A checkout session as the provider made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutSession {
    /// The provider's id (`cs_...`).
    pub id: String,
    /// Where the payer pays.
    pub url: String,
    /// The provider's status (`open`).
    pub status: String,
    /// When it expires, as the provider says.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A checkout session that could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// No answer: connection refused, reset or timed out (after every retry).
    #[error("payment provider unreachable after {attempts} attempts: {cause}")]
    Unreachable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        cause: String,
    },
    /// The provider answered with an error status (after retries, for 429 and 5xx).
    #[error("payment provider answered {status}: {message}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The provider's `error.message`, shortened.
        message: String,
    },
    /// The provider answered 2xx with a body that is not a checkout session.
    #[error("payment provider's answer is not a checkout session: {0}")]
    Garbled(String),
}

/// Why a webhook's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header.
    #[error("the Stripe-Signature header is missing")]
    Missing,
    /// A header without `t=` and `v1=`.
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    /// No `v1` value is the body's signature with the webhook secret.
    #[error("no signature matches the body")]
    Mismatch,
    /// Signed, but too long ago (or in the future) to be accepted.
    #[error("the signature's timestamp is {age} s from now (at most {TOLERANCE_SECS} s)")]
    Stale {
        /// Seconds between the timestamp and now.
        age: i64,
    },
}

/// A webhook that cannot be accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WebhookError {
    /// No webhook secret is configured: nothing can be verified.
    #[error("no webhook secret is configured")]
    NotConfigured,
    /// The signature does not verify.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Signed, but not an event this interface can read.
    #[error("the event cannot be read: {0}")]
    Unreadable(String),
}

/// What a webhook event says happened to a checkout session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOutcome {
    /// The money was paid.
    Paid,
    /// Completed by the payer, money still on its way (an asynchronous method).
    Pending,
    /// Expired unpaid.
    Expired,
    /// An asynchronous payment failed.
    Failed,
    /// Any other event type: nothing to do.
    Other,
}

/// A verified webhook event.
#[derive(Debug, Clone)]
pub struct WebhookEvent {
    /// The provider's event id (`evt_...`): the same on every delivery of the event.
    pub id: String,
    /// Its type (`checkout.session.completed`, ...).
    pub event_type: String,
    /// What it says.
    pub outcome: SessionOutcome,
    /// The checkout session it is about, if it is about one.
    pub session_id: Option<String>,
    /// The amount paid, in minor units (`amount_total`).
    pub amount_total: Option<i64>,
    /// Its currency (ISO 4217, upper case).
    pub currency: Option<String>,
    /// The provider's payment reference (`payment_intent`).
    pub payment_reference: Option<String>,
}

/// An online payment provider.
pub trait PaymentProvider: Send + Sync {
    /// Its name, stored with each link (`stripe`).
    fn name(&self) -> &'static str;

    /// Opens a checkout session, retrying what may succeed on retry.
    fn create_checkout<'a>(
        &'a self,
        request: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutSession, ProviderError>>;

    /// Verifies a webhook over its raw body (`signature` is the signature header's value) at
    /// `now` (Unix seconds), then reads it.
    fn verify_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<WebhookEvent, WebhookError>;
}

/// The provider of the configuration, if one is configured.
pub fn from_config(cfg: &PaymentsConfig) -> Result<Option<Arc<dyn PaymentProvider>>, ConfigError> {
    let (Some(url), Some(key)) = (&cfg.provider_url, &cfg.secret_key) else {
        return Ok(None);
    };
    let provider = StripeCheckout::new(
        url,
        key.clone(),
        cfg.webhook_secret.clone(),
        cfg.success_url.clone(),
        cfg.cancel_url.clone(),
    )
    .map_err(|e| ConfigError(format!("payments: {e}")))?;
    Ok(Some(Arc::new(provider)))
}

/// Stripe Checkout over HTTP (or a server speaking its API, like the stand-in of the tests).
pub struct StripeCheckout {
    base: String,
    secret_key: Secret,
    webhook_secret: Option<Secret>,
    success_url: Option<String>,
    cancel_url: Option<String>,
    http: reqwest::Client,
}

impl std::fmt::Debug for StripeCheckout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeCheckout")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl StripeCheckout {
    /// A client of the API at `base` (e.g. `https://api.stripe.com`).
    pub fn new(
        base: &str,
        secret_key: Secret,
        webhook_secret: Option<Secret>,
        success_url: Option<String>,
        cancel_url: Option<String>,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(StripeCheckout {
            base: base.trim_end_matches('/').to_owned(),
            secret_key,
            webhook_secret,
            success_url,
            cancel_url,
            http,
        })
    }

    /// The form body of a session request.
    fn form(&self, r: &CheckoutRequest) -> String {
        let with_link = |t: &str| t.replace("{link_id}", &r.client_reference_id);
        let mut f = form_urlencoded::Serializer::new(String::new());
        f.append_pair("mode", "payment")
            .append_pair(
                "line_items[0][price_data][currency]",
                &r.currency.code().to_ascii_lowercase(),
            )
            .append_pair(
                "line_items[0][price_data][unit_amount]",
                &r.amount_minor.to_string(),
            )
            .append_pair(
                "line_items[0][price_data][product_data][name]",
                &r.description,
            )
            .append_pair("line_items[0][quantity]", "1")
            .append_pair("client_reference_id", &r.client_reference_id)
            .append_pair("expires_at", &r.expires_at.timestamp().to_string());
        for (k, v) in &r.metadata {
            f.append_pair(&format!("metadata[{k}]"), v);
        }
        if let Some(u) = &self.success_url {
            f.append_pair("success_url", &with_link(u));
        }
        if let Some(u) = &self.cancel_url {
            f.append_pair("cancel_url", &with_link(u));
        }
        f.finish()
    }

    /// One attempt: `Ok` with the session, or the error and whether a retry may help.
    async fn attempt(
        &self,
        r: &CheckoutRequest,
        body: &str,
    ) -> Result<CheckoutSession, (ProviderError, bool)> {
        let res = self
            .http
            .post(format!("{}/v1/checkout/sessions", self.base))
            .bearer_auth(self.secret_key.expose())
            .header("idempotency-key", &r.idempotency_key)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_owned())
            .send()
            .await
            .map_err(|e| {
                (
                    ProviderError::Unreachable {
                        attempts: 1,
                        cause: e.to_string(),
                    },
                    true,
                )
            })?;
        let status = res.status().as_u16();
        let text = res.text().await.map_err(|e| {
            (
                ProviderError::Unreachable {
                    attempts: 1,
                    cause: e.to_string(),
                },
                true,
            )
        })?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect();
            let retry = status == 429 || status >= 500;
            return Err((ProviderError::Refused { status, message }, retry));
        }
        parse_session(&text).map_err(|e| (e, false))
    }
}

fn parse_session(text: &str) -> Result<CheckoutSession, ProviderError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| ProviderError::Garbled(e.to_string()))?;
    let field = |name: &str| {
        v[name]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| ProviderError::Garbled(format!("no `{name}`")))
    };
    Ok(CheckoutSession {
        id: field("id")?,
        url: field("url")?,
        status: field("status").unwrap_or_else(|_| "open".to_owned()), // not stored: absent in the answer means a new, open session
        expires_at: v["expires_at"]
            .as_i64()
            .and_then(|t| DateTime::from_timestamp(t, 0)),
    })
}

impl PaymentProvider for StripeCheckout {
    fn name(&self) -> &'static str {
        "stripe"
    }

    fn create_checkout<'a>(
        &'a self,
        r: &'a CheckoutRequest,
    ) -> BoxFuture<'a, Result<CheckoutSession, ProviderError>> {
        Box::pin(async move {
            let body = self.form(r);
            let mut wait = FIRST_BACKOFF;
            let mut attempt = 1;
            loop {
                match self.attempt(r, &body).await {
                    Ok(session) => {
                        tracing::info!(
                            provider = "stripe",
                            link_id = %r.client_reference_id,
                            session_id = %session.id,
                            attempt,
                            "checkout session opened"
                        );
                        return Ok(session);
                    }
                    Err((e, retry)) if retry && attempt < ATTEMPTS => {
                        tracing::warn!(
                            provider = "stripe",
                            link_id = %r.client_reference_id,
                            attempt,
                            error = %e,
                            "checkout session failed; retrying"
                        );
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                        attempt += 1;
                    }
                    Err((e, _)) => {
                        let e = match e {
                            ProviderError::Unreachable { cause, .. } => {
                                ProviderError::Unreachable {
                                    attempts: attempt,
                                    cause,
                                }
                            }
                            other => other,
                        };
                        tracing::warn!(
                            provider = "stripe",
                            link_id = %r.client_reference_id,
                            attempt,
                            error = %e,
                            "checkout session failed; giving up"
                        );
                        return Err(e);
                    }
                }
            }
        })
    }

    fn verify_webhook(
        &self,
        signature: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<WebhookEvent, WebhookError> {
        let secret = self
            .webhook_secret
            .as_ref()
            .ok_or(WebhookError::NotConfigured)?;
        verify_signature(secret.expose().as_bytes(), signature, body, now)?;
        parse_event(body)
    }
}

/// The `Stripe-Signature` value for `body` signed with `secret` at `timestamp`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex(&mac(secret, &timestamp.to_string(), body))
    )
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut m = new_mac(secret);
    m.update(timestamp.as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

fn new_mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so this never fails; an empty MAC would never verify.
    <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| <Hmac<Sha256> as Mac>::new(&Default::default()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Verifies a `Stripe-Signature` header over the raw `body` at `now` (Unix seconds): one `t`,
/// at least one `v1` equal (in constant time) to HMAC-SHA256(secret, "t.body"), and `t` at
/// most [`TOLERANCE_SECS`] from now. Other schemes (`v0`, ...) are ignored.
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp: Option<&str> = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let Some((k, v)) = part.trim().split_once('=') else {
            continue;
        };
        match k.trim() {
            "t" if timestamp.is_none() => timestamp = Some(v.trim()),
            "t" => return Err(SignatureError::Malformed),
            "v1" => signatures.push(v.trim()),
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    let seconds: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matches = signatures.iter().filter_map(|s| unhex(s)).any(|sig| {
        let mut m = new_mac(secret);
        m.update(t.as_bytes());
        m.update(b".");
        m.update(body);
        m.verify_slice(&sig).is_ok()
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    let age = now.saturating_sub(seconds);
    if age.abs() > TOLERANCE_SECS {
        return Err(SignatureError::Stale { age });
    }
    Ok(())
}

/// Reads a Stripe event: its id, type, and the checkout session in `data.object`.
fn parse_event(body: &[u8]) -> Result<WebhookEvent, WebhookError> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| WebhookError::Unreadable(e.to_string()))?;
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let id = text(&v["id"]).ok_or_else(|| WebhookError::Unreadable("no `id`".to_owned()))?;
    let event_type =
        text(&v["type"]).ok_or_else(|| WebhookError::Unreadable("no `type`".to_owned()))?;
    let object = &v["data"]["object"];
    let is_session = object["object"] == "checkout.session";
    let outcome = match (event_type.as_str(), is_session) {
        ("checkout.session.completed", true) if object["payment_status"] == "paid" => {
            SessionOutcome::Paid
        }
        ("checkout.session.completed", true) => SessionOutcome::Pending,
        ("checkout.session.async_payment_succeeded", true) => SessionOutcome::Paid,
        ("checkout.session.async_payment_failed", true) => SessionOutcome::Failed,
        ("checkout.session.expired", true) => SessionOutcome::Expired,
        _ => SessionOutcome::Other,
    };
    // The payment intent is an id, or the whole object when the event expands it.
    let payment_reference =
        text(&object["payment_intent"]).or_else(|| text(&object["payment_intent"]["id"]));
    Ok(WebhookEvent {
        id,
        event_type,
        outcome,
        session_id: is_session.then(|| text(&object["id"])).flatten(),
        amount_total: object["amount_total"].as_i64(),
        currency: text(&object["currency"]).map(|c| c.to_ascii_uppercase()),
        payment_reference,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    #[test]
    fn a_signed_body_verifies_and_anything_else_does_not() {
        let body = br#"{"id":"evt_1","type":"checkout.session.expired"}"#;
        let now = 1_800_000_000;
        let good = sign(SECRET, now, body);
        assert_eq!(
            verify_signature(SECRET, Some(&good), body, now + 10),
            Ok(())
        );
        // Several v1 values (a secret being rolled): one match is enough.
        let rolled = format!(
            "{},v1={}",
            sign(b"old", now, body),
            good.split("v1=").nth(1).unwrap_or("")
        );
        assert_eq!(verify_signature(SECRET, Some(&rolled), body, now), Ok(()));
        assert_eq!(
            verify_signature(SECRET, Some(&good), b"{\"id\":\"evt_2\"}", now),
            Err(SignatureError::Mismatch),
            "another body"
        );
        assert_eq!(
            verify_signature(b"other", Some(&good), body, now),
            Err(SignatureError::Mismatch),
            "another secret"
        );
        assert_eq!(
            verify_signature(SECRET, Some(&good), body, now + TOLERANCE_SECS + 1),
            Err(SignatureError::Stale {
                age: TOLERANCE_SECS + 1
            })
        );
        assert_eq!(
            verify_signature(SECRET, None, body, now),
            Err(SignatureError::Missing)
        );
        for bad in [
            "",
            "v1=00",
            "t=abc,v1=00",
            "t=1,t=2,v1=00",
            &format!("t={now}"),
        ] {
            assert_eq!(
                verify_signature(SECRET, Some(bad), body, now),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        // Moving the timestamp breaks the signature.
        let moved = good.replace(&format!("t={now}"), &format!("t={}", now + 1));
        assert_eq!(
            verify_signature(SECRET, Some(&moved), body, now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn events_say_what_happened_to_their_session() {
        let event = |t: &str, status: &str| {
            serde_json::json!({"id": "evt_9", "type": t, "data": {"object": {
                "id": "cs_test_1", "object": "checkout.session", "payment_status": status,
                "amount_total": 12050, "currency": "eur", "payment_intent": "pi_1"}}})
            .to_string()
        };
        let read = |t: &str, s: &str| parse_event(event(t, s).as_bytes()).map(|e| e.outcome).ok();
        assert_eq!(
            read("checkout.session.completed", "paid"),
            Some(SessionOutcome::Paid)
        );
        assert_eq!(
            read("checkout.session.completed", "unpaid"),
            Some(SessionOutcome::Pending)
        );
        assert_eq!(
            read("checkout.session.expired", "unpaid"),
            Some(SessionOutcome::Expired)
        );
        assert_eq!(
            read("checkout.session.async_payment_failed", "unpaid"),
            Some(SessionOutcome::Failed)
        );
        assert_eq!(
            read("customer.created", "paid"),
            Some(SessionOutcome::Other)
        );
        let e = parse_event(event("checkout.session.completed", "paid").as_bytes()).expect("event");
        assert_eq!(
            (
                e.session_id.as_deref(),
                e.amount_total,
                e.currency.as_deref(),
                e.payment_reference.as_deref()
            ),
            (Some("cs_test_1"), Some(12050), Some("EUR"), Some("pi_1"))
        );
        assert!(parse_event(b"not json").is_err());
    }
}
