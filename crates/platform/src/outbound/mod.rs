//! Outbound channels: each an interface with one real implementation, configured, retried with
//! backoff, logged per message, idempotent.
//!
//! - [`payments`]: the online payment provider (checkout sessions and their signed webhooks).

pub mod payments;
