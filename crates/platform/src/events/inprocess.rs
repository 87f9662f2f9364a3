//! The in-process bus of the embedded suite: the relay hands each committed event to every
//! matching subscriber and waits until it is applied, so an event leaves the outbox only once
//! every consumer has it (or has parked it as a dead letter after its retries).

use std::sync::RwLock;
use std::time::Duration;

use carebill_domain::events::Envelope;

use super::{BusError, Subscription, inbox, topic_matches};

/// Attempts per event and subscriber before the event becomes a dead letter.
const ATTEMPTS: u32 = 5;

/// Subscribers of this process.
#[derive(Default)]
pub struct InProcessBus {
    subscribers: RwLock<Vec<Subscription>>,
}

impl InProcessBus {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a subscriber.
    pub fn subscribe(&self, sub: Subscription) {
        if let Ok(mut subs) = self.subscribers.write() {
            subs.push(sub);
        }
    }

    /// Delivers each event to every matching subscriber, in order.
    pub async fn publish(&self, events: &[Envelope]) -> Result<(), BusError> {
        let subs: Vec<Subscription> = self
            .subscribers
            .read()
            .map(|s| s.clone())
            .unwrap_or_default();
        // Each subscriber gets its events as one batch (one transaction); if the batch fails,
        // one by one, so that only a poison event is retried and parked.
        for sub in &subs {
            let mine: Vec<Envelope> = events
                .iter()
                .filter(|env| {
                    sub.event_types
                        .iter()
                        .any(|p| topic_matches(p, &env.event_type))
                })
                .cloned()
                .collect();
            if mine.is_empty() {
                continue;
            }
            if mine.len() > 1
                && let Some(batch) = &sub.batch
            {
                match super::run_batch_handler(batch, mine.clone()).await {
                    Ok(()) => continue,
                    Err(e) => {
                        tracing::warn!(consumer = %sub.consumer, events = mine.len(), error = %e, "batch failed; applying one by one");
                    }
                }
            }
            for env in &mine {
                deliver(sub, env).await?;
            }
        }
        Ok(())
    }
}

async fn deliver(sub: &Subscription, env: &Envelope) -> Result<(), BusError> {
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        match super::run_handler(&sub.handler, env.clone()).await {
            Ok(()) => return Ok(()),
            Err(e) => {
                tracing::warn!(consumer = %sub.consumer, event_id = %env.id, attempt, error = %e, "event handler failed");
                last_error = e;
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
        }
    }
    let consumer = sub.consumer.clone();
    let env = env.clone();
    sub.db
        .write(move |conn| {
            inbox::dead_letter(conn, &consumer, &env, &last_error)?;
            Ok(())
        })
        .await
        .map_err(|e| BusError::Delivery(e.to_string()))?;
    tracing::error!(consumer = %sub.consumer, "event parked as dead letter");
    Ok(())
}
