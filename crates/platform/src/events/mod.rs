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

/// A consumer's handler for several events at once, applied in one transaction (all or none).
/// An `Err` makes the bus fall back to the events one by one through [`Handler`], so that a
/// poison event is retried and dead-lettered alone.
pub type BatchHandler =
    Arc<dyn Fn(Vec<Envelope>) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// Runs a batch handler, turning a panic into an ordinary failure.
pub async fn run_batch_handler(handler: &BatchHandler, envs: Vec<Envelope>) -> Result<(), String> {
    use futures::FutureExt as _;
    use tracing::Instrument as _;
    // The batch's log lines carry the correlation ids (requests) that caused its events.
    let mut correlation: Vec<&str> = envs
        .iter()
        .filter_map(|e| e.correlationid.as_deref())
        .collect();
    correlation.sort_unstable();
    correlation.dedup();
    correlation.truncate(16);
    let span = tracing::info_span!("events", events = envs.len(), correlation_ids = %correlation.join(","));
    match std::panic::AssertUnwindSafe(handler(envs))
        .catch_unwind()
        .instrument(span)
        .await
    {
        Ok(result) => result,
        Err(_) => Err("the batch handler panicked".to_owned()),
    }
}

/// Runs a handler, turning a panic into an ordinary failure (retried, then dead-lettered) so
/// that one bad event cannot stop a consumer.
pub async fn run_handler(handler: &Handler, env: Envelope) -> Result<(), String> {
    use futures::FutureExt as _;
    use tracing::Instrument as _;
    // Every log line of the handler carries the event and the request that caused it.
    let span = tracing::info_span!(
        "event",
        event_id = %env.id,
        event_type = %env.event_type,
        correlation_id = env.correlationid.as_deref().unwrap_or(""),
    );
    let entered = span.clone();
    match std::panic::AssertUnwindSafe(handler(env))
        .catch_unwind()
        .instrument(span)
        .await
    {
        Ok(result) => {
            entered.in_scope(|| match &result {
                Ok(()) => tracing::debug!("event applied"),
                Err(e) => tracing::debug!(error = %e, "event not applied"),
            });
            result
        }
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
    /// Applies several events in one transaction, when the consumer can.
    pub batch: Option<BatchHandler>,
    /// The consumer's database, where in-process dead letters are kept.
    pub db: Db,
}

/// A subscription whose handler applies each event exactly once: in one transaction on `db` it
/// checks the inbox, runs `apply` and records the event id (see [`inbox::apply_once`]); after a
/// commit that applied something, `wake` is notified so the service's relay publishes whatever
/// `apply` put in the outbox. `apply` ignores event types it does not care about. Batches of
/// events run `apply` for each in one transaction.
pub fn subscription<F>(
    consumer: &'static str,
    event_types: &[&str],
    db: Db,
    wake: Arc<tokio::sync::Notify>,
    apply: F,
) -> Subscription
where
    F: Fn(&mut crate::db::AnyConnection, &Envelope) -> Result<(), crate::Error>
        + Send
        + Sync
        + 'static,
{
    batched_subscription(consumer, event_types, db, wake, move |conn, envs| {
        envs.iter().try_for_each(|env| apply(conn, env))
    })
}

/// Like [`subscription`], but `apply` receives every fresh event of a batch at once (in delivery
/// order, duplicates removed), so it can do per-aggregate work once per batch.
pub fn batched_subscription<F>(
    consumer: &'static str,
    event_types: &[&str],
    db: Db,
    wake: Arc<tokio::sync::Notify>,
    apply: F,
) -> Subscription
where
    F: Fn(&mut crate::db::AnyConnection, &[&Envelope]) -> Result<(), crate::Error>
        + Send
        + Sync
        + 'static,
{
    use futures::FutureExt as _;
    let apply = Arc::new(apply);
    let batch_db = db.clone();
    let batch: BatchHandler = Arc::new(move |envs: Vec<Envelope>| {
        let db = batch_db.clone();
        let apply = apply.clone();
        let wake = wake.clone();
        async move {
            let started = std::time::Instant::now();
            let events = envs.len();
            let outcome = db
                .write(move |conn| {
                    inbox::apply_batch_once(conn, consumer, &envs, |c, fresh| apply(c, fresh))
                })
                .await;
            tracing::debug!(
                consumer,
                events,
                ms = started.elapsed().as_millis() as u64,
                "batch applied"
            );
            match outcome {
                Ok(applied) => {
                    if applied > 0 {
                        wake.notify_one();
                    }
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            }
        }
        .boxed()
    });
    let single = batch.clone();
    let handler: Handler = Arc::new(move |env: Envelope| single(vec![env]));
    Subscription {
        consumer: consumer.to_owned(),
        event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
        handler,
        batch: Some(batch),
        db,
    }
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

    /// Samples every few seconds, until shutdown, what the consumers of `subs` have waiting
    /// (RabbitMQ: messages ready in the queue) and parked (RabbitMQ: the dead-letter queue;
    /// embedded: the service's dead-letter table) into `metrics`.
    pub fn watch_consumers(
        &self,
        subs: Vec<Subscription>,
        metrics: Arc<crate::metrics::Metrics>,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        let bus = self.clone();
        tokio::spawn(async move {
            loop {
                for sub in &subs {
                    bus.sample_consumer(sub, &metrics).await;
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                    _ = shutdown.changed() => return,
                }
            }
        });
    }

    async fn sample_consumer(&self, sub: &Subscription, metrics: &crate::metrics::Metrics) {
        match self {
            EventBus::Rabbit(b) => match b.queue_depths(&sub.consumer).await {
                Ok((lag, dead)) => {
                    metrics
                        .consumer_lag
                        .with_label_values(&[&sub.consumer])
                        .set(i64::from(lag));
                    metrics
                        .dead_letters
                        .with_label_values(&[&sub.consumer])
                        .set(i64::from(dead));
                }
                Err(e) => {
                    tracing::debug!(consumer = %sub.consumer, error = %e, "queue depths unavailable")
                }
            },
            EventBus::InProcess(_) => {
                let consumer = sub.consumer.clone();
                let parked = sub
                    .db
                    .read(move |conn| Ok(inbox::parked_count(conn, &consumer)?))
                    .await;
                if let Ok(n) = parked {
                    metrics
                        .dead_letters
                        .with_label_values(&[&sub.consumer])
                        .set(n);
                }
            }
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
