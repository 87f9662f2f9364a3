//! Text messages through a provider's HTTP API, shaped like Twilio's Messages resource:
//! `POST {url}/2010-04-01/Accounts/{account}/Messages.json`, form fields `To`, `From` and `Body`,
//! HTTP basic authentication with the account and its token; `201 Created` answers the message
//! with its `sid`. A 4xx answer is permanent (a malformed number, a refused recipient), a 5xx,
//! a 429 or no answer is temporary.

use std::time::Duration;

use serde::Deserialize;

use super::SendError;
use crate::config::{ConfigError, SmsConfig};

/// Sends text messages through the configured provider.
#[derive(Clone, Debug)]
pub struct SmsSender {
    client: reqwest::Client,
    endpoint: String,
    cfg: SmsConfig,
}

#[derive(Deserialize)]
struct Created {
    sid: String,
}

#[derive(Deserialize)]
struct Refused {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

impl SmsSender {
    /// The sender of `cfg`, or `None` when no provider is configured.
    pub fn from_config(cfg: &SmsConfig) -> Result<Option<SmsSender>, ConfigError> {
        let Some(url) = &cfg.url else {
            return Ok(None);
        };
        if cfg.account.is_empty() || cfg.from.is_empty() {
            return Err(ConfigError(
                "sms.account and sms.from are needed with sms.url".to_owned(),
            ));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .build()
            .map_err(|e| ConfigError(format!("sms client: {e}")))?;
        let endpoint = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            url.trim_end_matches('/'),
            cfg.account
        );
        Ok(Some(SmsSender {
            client,
            endpoint,
            cfg: cfg.clone(),
        }))
    }

    /// Sends `body` to the number `to` (E.164); returns the provider's message id.
    pub async fn send(&self, to: &str, body: &str) -> Result<String, SendError> {
        let token = self.cfg.token.as_ref().map(|t| t.expose()).unwrap_or("");
        let answer = self
            .client
            .post(&self.endpoint)
            .basic_auth(&self.cfg.account, Some(token))
            .form(&[("To", to), ("From", self.cfg.from.as_str()), ("Body", body)])
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("sms provider: {e}")))?;
        let status = answer.status();
        let text = answer
            .text()
            .await
            .map_err(|e| SendError::Transient(format!("sms provider: {e}")))?;
        if status.is_success() {
            return serde_json::from_str::<Created>(&text)
                .map(|c| c.sid)
                .map_err(|e| SendError::Transient(format!("sms provider answered {status}: {e}")));
        }
        let why = serde_json::from_str::<Refused>(&text)
            .ok()
            .map(|r| {
                format!(
                    "{}{}",
                    r.message.unwrap_or_default(),
                    r.code.map(|c| format!(" (code {c})")).unwrap_or_default()
                )
            })
            .unwrap_or_else(|| text.chars().take(200).collect());
        let why = format!("sms provider answered {status}: {why}");
        if status.is_client_error() && status.as_u16() != 429 {
            Err(SendError::Permanent(why))
        } else {
            Err(SendError::Transient(why))
        }
    }
}
