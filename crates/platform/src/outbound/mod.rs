//! Outbound channels: one interface per channel, one real implementation each, configured by
//! [`crate::config`]. A send either succeeds with the provider's message id or fails as
//! [`SendError::Transient`] (try again later: the server or network is down, the provider is
//! busy) or [`SendError::Permanent`] (the same message will never go: a malformed address, a
//! refused recipient). Retrying, backoff and the per-message log belong to the caller, which
//! keeps them in its own database.
//!
//! - [`mail`]: e-mail over SMTP;
//! - [`sms`]: text messages through a provider's HTTP API;
//! - [`payments`]: the online payment provider (checkout sessions and their signed webhooks).

pub mod mail;
pub mod payments;
pub mod sms;

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later.
    #[error("temporary failure: {0}")]
    Transient(String),
    /// Will fail the same way every time.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The receiving server refused it for good (an SMTP 5xx reply: a bounce).
    #[error("refused by the server: {0}")]
    Refused(String),
}

impl SendError {
    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SendError::Transient(_))
    }
}
