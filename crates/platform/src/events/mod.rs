//! Events between services: the bus (RabbitMQ or in-process), the transactional outbox and its
//! relay, and the inbox that makes consumers idempotent.
//!
//! Producers never publish directly: they [`outbox::enqueue`] in the transaction of the state
//! change, and the [`outbox::Relay`] hands committed events to the bus. Consumers receive each
//! event at least once and apply it exactly once through [`inbox::apply_once`].

pub mod inbox;
pub mod inprocess;
pub mod outbox;
pub mod rabbitmq;

use std::sync::Arc;

use carebill_domain::events::Envelope;
use futures::future::BoxFuture;

use crate::db::Db;

/// Why a publish did not go through; the relay retries later.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker could not be reached or the connection broke.
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The broker refused a message (nack).
    #[error("broker refused message {0}")]
    Refused(String),
    /// A consumer could not take an in-process event, nor park it as a dead letter.
    #[error("delivery failed: {0}")]
    Delivery(String),
}

/// A consumer's handler: applies one event, normally through [`inbox::apply_once`].
/// An `Err` means "try again later"; after the retries it goes to the dead letters.
pub type Handler = Arc<dyn Fn(Envelope) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Runs a handler, turning a panic into an ordinary failure (retried, then dead-lettered) so
/// that one bad event cannot stop a consumer.
pub async fn run_handler(handler: &Handler, env: Envelope) -> Result<(), String> {
    use futures::FutureExt as _;
    match std::panic::AssertUnwindSafe(handler(env))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(_) => Err("the event handler panicked".to_owned()),
    }
}

/// What a consuming service listens to.
#[derive(Clone)]
pub struct Subscription {
    /// The consuming service (queue name `carebill.<consumer>`).
    pub consumer: String,
    /// Event types (routing keys) it wants; `#` and `*` wildcards allowed.
    pub event_types: Vec<String>,
    /// The handler.
    pub handler: Handler,
    /// The consumer's database, where in-process dead letters are kept.
    pub db: Db,
}

/// The event transport of a process.
#[derive(Clone)]
pub enum EventBus {
    /// All services in one process (embedded mode).
    InProcess(Arc<inprocess::InProcessBus>),
    /// RabbitMQ (distributed mode).
    Rabbit(Arc<rabbitmq::RabbitBus>),
}

impl EventBus {
    /// Publishes events durably: when this returns `Ok`, every event is either in the broker
    /// (confirmed) or applied by every in-process subscriber (or parked as its dead letter).
    pub async fn publish(&self, events: &[Envelope]) -> Result<(), BusError> {
        match self {
            EventBus::InProcess(b) => b.publish(events).await,
            EventBus::Rabbit(b) => b.publish(events).await,
        }
    }

    /// Starts consuming for `sub` until shutdown.
    pub fn subscribe(&self, sub: Subscription, shutdown: tokio::sync::watch::Receiver<bool>) {
        match self {
            EventBus::InProcess(b) => b.subscribe(sub),
            EventBus::Rabbit(b) => b.subscribe(sub, shutdown),
        }
    }

    /// Whether the transport is usable (readiness).
    pub async fn ready(&self) -> Result<(), BusError> {
        match self {
            EventBus::InProcess(_) => Ok(()),
            EventBus::Rabbit(b) => b.ready().await,
        }
    }
}

/// Whether a topic pattern (`a.b.*`, `a.#`) matches a routing key, as RabbitMQ's topic exchange
/// does; used by the in-process bus so that both transports route alike.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(p: &[&str], k: &[&str]) -> bool {
        match (p.first(), k.first()) {
            (None, None) => true,
            (Some(&"#"), _) => go(&p[1..], k) || (!k.is_empty() && go(p, &k[1..])),
            (Some(&"*"), Some(_)) => go(&p[1..], &k[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &k[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('.').collect();
    let k: Vec<&str> = key.split('.').collect();
    go(&p, &k)
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        assert!(topic_matches(
            "carebill.accounts.#",
            "carebill.accounts.consumption.recorded.v1"
        ));
        assert!(topic_matches(
            "carebill.*.consumption.recorded.v1",
            "carebill.accounts.consumption.recorded.v1"
        ));
        assert!(topic_matches("#", "a.b"));
        assert!(!topic_matches(
            "carebill.accounts.*",
            "carebill.accounts.consumption.recorded.v1"
        ));
        assert!(!topic_matches(
            "carebill.settlement.#",
            "carebill.accounts.consumption.recorded.v1"
        ));
    }
}
