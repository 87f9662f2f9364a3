//! The RabbitMQ transport (lapin).
//!
//! Topology: one durable topic exchange `carebill.events`; per consuming service a durable
//! quorum queue `carebill.<service>` bound to the event types it consumes, a retry queue
//! `carebill.<service>.retry` whose messages expire back into the main queue (backoff), and a
//! dead-letter queue `carebill.<service>.dead`. Every known consumer's queues are declared by
//! publishers too ([`CONSUMERS`]), so events are kept even while a consumer is not running.
//!
//! Publishing: persistent messages, publisher confirms awaited after a pipelined batch. A run of
//! consecutive events of one type (an encounter's charges, say) travels as one message of up to
//! [`RabbitBus::with_events_per_message`] events (default 100) in the CloudEvents JSON batch
//! format (`application/cloudevents-batch+json`: a JSON array of envelopes); a lone event as one
//! `application/cloudevents+json` message. The broker's work is per message, so this divides it.
//! Consuming: manual acks after the handler committed; either format is read. A failure goes to
//! the retry queue with a growing delay, and after [`MAX_RETRIES`] to the dead-letter queue —
//! always as single events, so that one poison event of a batch is retried and parked alone.
//! lapin does not reconnect by itself, so connections are rebuilt here with backoff.

use std::sync::Arc;
use std::time::Duration;

use carebill_domain::events::Envelope;
use futures::StreamExt as _;
use lapin::Confirmation;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::{Mutex, watch};

use super::{BusError, Subscription};
use crate::metrics::Metrics;

/// The topic exchange every event goes through.
pub const EXCHANGE: &str = "carebill.events";
/// Deliveries of one message before it is parked in the dead-letter queue.
pub const MAX_RETRIES: i64 = 5;
/// Unacknowledged deliveries (messages) per consumer.
const PREFETCH: u16 = 256;
/// The most events applied in one transaction: the prefetched messages are taken until they
/// hold this many (an encounter's charges usually arrive together; see
/// docs/development/benchmarks.md).
const EVENTS_PER_TRANSACTION: usize = 256;
/// Content type of one event.
pub const SINGLE_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Content type of several events in one message (CloudEvents JSON batch format).
pub const BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// An event a consumer could not apply, on its way to the retry or dead-letter queue.
struct Failed<'a> {
    /// It came out of a batch message and travels on alone (single-event content type).
    alone: bool,
    /// Its body: the event's own JSON, or the whole message's.
    data: &'a [u8],
    /// Its id, when it was readable.
    id: Option<&'a str>,
    /// Why.
    error: String,
    /// Straight to the dead-letter queue (retries used up, or unreadable).
    dead: bool,
}

/// One event of a message, decoded on its own so that an unreadable element of a batch does not
/// spoil the others.
enum Part {
    /// An event; `body` is its own JSON when it came out of a batch.
    Event {
        env: Box<Envelope>,
        body: Option<Vec<u8>>,
    },
    /// Not an envelope; `body` as for `Event` (`None`: the whole message).
    Unreadable {
        body: Option<Vec<u8>>,
        error: String,
    },
}

/// Whether a message body is in the batch format (a JSON array).
fn is_batch(data: &[u8]) -> bool {
    data.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'[')
}

fn message_parts(data: &[u8]) -> Vec<Part> {
    if !is_batch(data) {
        return vec![match serde_json::from_slice::<Envelope>(data) {
            Ok(env) => Part::Event {
                env: Box::new(env),
                body: None,
            },
            Err(e) => Part::Unreadable {
                body: None,
                error: e.to_string(),
            },
        }];
    }
    match serde_json::from_slice::<Vec<Box<serde_json::value::RawValue>>>(data) {
        Err(e) => vec![Part::Unreadable {
            body: None,
            error: e.to_string(),
        }],
        Ok(raws) => raws
            .into_iter()
            .map(|raw| {
                let body = raw.get().as_bytes().to_vec();
                match serde_json::from_str::<Envelope>(raw.get()) {
                    Ok(env) => Part::Event {
                        env: Box::new(env),
                        body: Some(body),
                    },
                    Err(e) => Part::Unreadable {
                        body: Some(body),
                        error: e.to_string(),
                    },
                }
            })
            .collect(),
    }
}

/// The events a message carries: one envelope, or a JSON array of them (the batch format).
pub fn decode_message(data: &[u8]) -> Result<Vec<Envelope>, serde_json::Error> {
    if is_batch(data) {
        serde_json::from_slice(data)
    } else {
        serde_json::from_slice(data).map(|env| vec![env])
    }
}

/// Which service consumes which event types. Publishers declare these queues so that nothing is
/// dropped while a consumer is not (yet) running.
pub const CONSUMERS: &[(&str, &[&str])] = &[
    (
        "settlement",
        &["carebill.accounts.#", "carebill.invoicing.#"],
    ),
    ("invoicing", &["carebill.settlement.#"]),
    ("collections", &["carebill.invoicing.#"]),
];

/// Name of a consumer's main queue.
pub fn queue_name(consumer: &str) -> String {
    format!("carebill.{consumer}")
}

/// A RabbitMQ connection shared by a process's publisher and consumers.
pub struct RabbitBus {
    url: String,
    publisher: Mutex<Option<(Connection, Channel)>>,
    metrics: Arc<Metrics>,
    retry_base: Duration,
    events_per_message: usize,
    consumers: usize,
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

async fn open(url: &str) -> Result<(Connection, Channel), lapin::Error> {
    let conn = Connection::connect(url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    ch.exchange_declare(
        EXCHANGE.into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?;
    Ok((conn, ch))
}

/// Declares a consumer's main, retry and dead-letter queues and binds the main queue.
pub async fn declare_consumer(
    ch: &Channel,
    consumer: &str,
    patterns: &[String],
) -> Result<(), lapin::Error> {
    ch.exchange_declare(
        EXCHANGE.into(),
        ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await?;
    let main = queue_name(consumer);
    let durable = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let mut quorum = FieldTable::default();
    quorum.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    ch.queue_declare(main.as_str().into(), durable, quorum.clone())
        .await?;
    let mut retry = FieldTable::default();
    retry.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    retry.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(main.as_str().into()),
    );
    ch.queue_declare(format!("{main}.retry").into(), durable, retry)
        .await?;
    ch.queue_declare(format!("{main}.dead").into(), durable, quorum)
        .await?;
    for p in patterns {
        ch.queue_bind(
            main.as_str().into(),
            EXCHANGE.into(),
            p.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    }
    Ok(())
}

/// Declares the exchange and every known consumer's queues (publishers and `carebill migrate`).
pub async fn declare_topology(url: &str) -> Result<(), BusError> {
    let (conn, ch) = open(url).await.map_err(unavailable)?;
    for (consumer, patterns) in CONSUMERS {
        let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        declare_consumer(&ch, consumer, &patterns)
            .await
            .map_err(unavailable)?;
    }
    let _ = conn.close(200, "topology declared".into()).await;
    Ok(())
}

impl RabbitBus {
    /// A bus for the broker at `url` (`amqp://user:pass@host:port/vhost`). Connects lazily.
    pub fn new(url: &str, metrics: Arc<Metrics>) -> Self {
        RabbitBus {
            url: url.to_owned(),
            publisher: Mutex::new(None),
            metrics,
            retry_base: Duration::from_millis(500),
            events_per_message: 100,
            consumers: 1,
        }
    }

    /// Sets how many consumers (channels, each with its own transactions) a subscription runs
    /// in this process (default 1 here; the services take `broker.consumers`, default 2). Like
    /// replicas, they share the queue: while one waits on the database another applies its
    /// batch, and events of one subject may be applied out of order, which every consumer of
    /// this project tolerates.
    pub fn with_consumers(mut self, n: usize) -> Self {
        self.consumers = n.max(1);
        self
    }

    /// Sets the most events one published message carries (default 100; 1 publishes every
    /// event as its own message, for subscribers that read only single events).
    pub fn with_events_per_message(mut self, n: usize) -> Self {
        self.events_per_message = n.max(1);
        self
    }

    /// Sets the first retry delay (doubled per retry, default 500 ms).
    pub fn with_retry_base(mut self, base: Duration) -> Self {
        self.retry_base = base;
        self
    }

    async fn publisher_channel(
        &self,
        guard: &mut Option<(Connection, Channel)>,
    ) -> Result<Channel, BusError> {
        if let Some((conn, ch)) = guard.as_ref()
            && conn.status().connected()
            && ch.status().connected()
        {
            return Ok(ch.clone());
        }
        *guard = None;
        let (conn, ch) = open(&self.url).await.map_err(unavailable)?;
        for (consumer, patterns) in CONSUMERS {
            let patterns: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
            declare_consumer(&ch, consumer, &patterns)
                .await
                .map_err(unavailable)?;
        }
        *guard = Some((conn, ch.clone()));
        Ok(ch)
    }

    /// Publishes persistently and waits for every confirm.
    pub async fn publish(&self, events: &[Envelope]) -> Result<(), BusError> {
        let mut guard = self.publisher.lock().await;
        let ch = self.publisher_channel(&mut guard).await?;
        let result = publish_on(&ch, events, self.events_per_message).await;
        if matches!(result, Err(BusError::Unavailable(_))) {
            *guard = None;
        }
        result
    }

    /// Checks that the broker is reachable.
    pub async fn ready(&self) -> Result<(), BusError> {
        let mut guard = self.publisher.lock().await;
        self.publisher_channel(&mut guard).await.map(|_| ())
    }

    /// Messages ready in `consumer`'s main queue and in its dead-letter queue (passive
    /// declarations: nothing is created or changed).
    pub async fn queue_depths(&self, consumer: &str) -> Result<(u32, u32), BusError> {
        let mut guard = self.publisher.lock().await;
        let ch = self.publisher_channel(&mut guard).await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let main = queue_name(consumer);
        let depth = |q: String| {
            let ch = ch.clone();
            async move {
                ch.queue_declare(q.as_str().into(), passive, FieldTable::default())
                    .await
                    .map(|q| q.message_count())
                    .map_err(unavailable)
            }
        };
        let result = async {
            Ok((
                depth(main.clone()).await?,
                depth(format!("{main}.dead")).await?,
            ))
        }
        .await;
        if result.is_err() {
            *guard = None;
        }
        result
    }

    /// Starts the supervised consumers of `sub` (see [`RabbitBus::with_consumers`]).
    pub fn subscribe(self: &Arc<Self>, sub: Subscription, shutdown: watch::Receiver<bool>) {
        for _ in 0..self.consumers {
            let bus = Arc::clone(self);
            let sub = sub.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let mut backoff = Duration::from_millis(200);
                let mut shutdown = shutdown;
                loop {
                    if *shutdown.borrow() {
                        return;
                    }
                    match bus.consume(&sub, &mut shutdown).await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::warn!(consumer = %sub.consumer, error = %e, retry_in_ms = backoff.as_millis() as u64, "consumer disconnected");
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                _ = shutdown.changed() => {}
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(10));
                        }
                    }
                }
            });
        }
    }

    async fn consume(
        &self,
        sub: &Subscription,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), BusError> {
        let (conn, ch) = open(&self.url).await.map_err(unavailable)?;
        declare_consumer(&ch, &sub.consumer, &sub.event_types)
            .await
            .map_err(unavailable)?;
        ch.basic_qos(PREFETCH, BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
        let main = queue_name(&sub.consumer);
        let mut consumer = ch
            .basic_consume(
                main.as_str().into(),
                format!("{main}-{}", uuid::Uuid::now_v7()).into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        tracing::info!(queue = %main, "consuming");
        loop {
            let next = tokio::select! {
                next = consumer.next() => next,
                _ = shutdown.changed() => {
                    // Everything handled so far is acked; unacked prefetched messages return
                    // to the queue when the channel closes.
                    let _ = ch.close(200, "shutdown".into()).await;
                    let _ = conn.close(200, "shutdown".into()).await;
                    return Ok(());
                }
            };
            let first = match next {
                None => return Err(BusError::Unavailable("consumer stream ended".to_owned())),
                Some(Err(e)) => return Err(unavailable(e)),
                Some(Ok(d)) => d,
            };
            // Take whatever else is already prefetched, to apply it in one transaction.
            // Each body is decoded once; one that does not decode counts as one event and is
            // handled alone below.
            let mut decoded = vec![decode_message(&first.data)];
            let mut events = decoded[0].as_ref().map_or(1, Vec::len);
            let mut deliveries = vec![first];
            let mut broken = None;
            while events < EVENTS_PER_TRANSACTION {
                match futures::FutureExt::now_or_never(consumer.next()) {
                    Some(Some(Ok(d))) => {
                        let envs = decode_message(&d.data);
                        events += envs.as_ref().map_or(1, Vec::len);
                        decoded.push(envs);
                        deliveries.push(d);
                    }
                    Some(Some(Err(e))) => {
                        broken = Some(unavailable(e));
                        break;
                    }
                    Some(None) => {
                        broken = Some(BusError::Unavailable("consumer stream ended".to_owned()));
                        break;
                    }
                    None => break,
                }
            }
            let batch_done = match (&sub.batch, events) {
                (Some(batch), n) if n > 1 => {
                    let envs: Option<Vec<Envelope>> = decoded
                        .into_iter()
                        .map(Result::ok)
                        .collect::<Option<Vec<_>>>()
                        .map(|all| all.into_iter().flatten().collect());
                    match envs {
                        Some(envs) => match super::run_batch_handler(batch, envs).await {
                            Ok(()) => true,
                            Err(e) => {
                                tracing::warn!(consumer = %sub.consumer, events = n, error = %e, "batch failed; applying one by one");
                                false
                            }
                        },
                        None => false,
                    }
                }
                _ => false,
            };
            if batch_done {
                self.metrics
                    .events_consumed
                    .with_label_values(&[&sub.consumer, "ok"])
                    .inc_by(events as u64);
                if let Some(last) = deliveries.last() {
                    last.acker
                        .ack(BasicAckOptions { multiple: true })
                        .await
                        .map_err(unavailable)?;
                }
            } else {
                for delivery in deliveries {
                    self.handle_one(&ch, sub, &main, delivery).await?;
                }
            }
            if let Some(e) = broken {
                return Err(e);
            }
        }
    }

    /// Applies the events of one delivery one by one; a failed event goes to the retry queue
    /// (alone, as a single-event message), or after the retries to the dead-letter queue. Acks
    /// the delivery once each of its events is handled.
    async fn handle_one(
        &self,
        ch: &Channel,
        sub: &Subscription,
        main: &str,
        delivery: lapin::message::Delivery,
    ) -> Result<(), BusError> {
        let retries = retry_count(&delivery.properties);
        for part in message_parts(&delivery.data) {
            match part {
                Part::Unreadable { body, error } => {
                    let failed = Failed {
                        alone: body.is_some(),
                        data: body.as_deref().unwrap_or(&delivery.data),
                        id: None,
                        error: format!("not a CloudEvents envelope: {error}"),
                        dead: true,
                    };
                    self.reroute(ch, sub, main, &delivery, failed).await?;
                }
                Part::Event { env, body } => {
                    let id = env.id.to_string();
                    match super::run_handler(&sub.handler, *env).await {
                        Ok(()) => {
                            self.metrics
                                .events_consumed
                                .with_label_values(&[&sub.consumer, "ok"])
                                .inc();
                        }
                        Err(error) => {
                            let failed = Failed {
                                alone: body.is_some(),
                                data: body.as_deref().unwrap_or(&delivery.data),
                                id: Some(&id),
                                error,
                                dead: retries + 1 >= MAX_RETRIES,
                            };
                            self.reroute(ch, sub, main, &delivery, failed).await?;
                        }
                    }
                }
            }
        }
        delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// Publishes a failed event to the retry queue with its delay, or to the dead-letter queue,
    /// with the retry count (the delivery's, plus one) and the error in its headers.
    async fn reroute(
        &self,
        ch: &Channel,
        sub: &Subscription,
        main: &str,
        delivery: &lapin::message::Delivery,
        failed: Failed<'_>,
    ) -> Result<(), BusError> {
        let Failed {
            alone,
            data,
            id,
            error,
            dead,
        } = failed;
        let retries = retry_count(&delivery.properties);
        let (target, expiration) = if dead {
            (format!("{main}.dead"), None)
        } else {
            (
                format!("{main}.retry"),
                Some((self.retry_base.as_millis() << retries.clamp(0, 8)).to_string()),
            )
        };
        tracing::warn!(consumer = %sub.consumer, retries, dead, error = %error, "event handler failed");
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        headers.insert("x-retry-count".into(), AMQPValue::LongLongInt(retries + 1));
        headers.insert(
            "x-last-error".into(),
            AMQPValue::LongString(LongString::from(error.into_bytes())),
        );
        let mut props = delivery
            .properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(2);
        if alone {
            props = props.with_content_type(SINGLE_CONTENT_TYPE.into());
            if let Some(id) = id {
                props = props.with_message_id(id.into());
            }
        }
        if let Some(exp) = expiration {
            props = props.with_expiration(ShortString::from(exp));
        }
        let confirm = ch
            .basic_publish(
                "".into(),
                target.as_str().into(),
                BasicPublishOptions::default(),
                data,
                props,
            )
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        if !matches!(confirm, Confirmation::NotRequested | Confirmation::Ack(_)) {
            return Err(BusError::Refused("retry/dead-letter publish".to_owned()));
        }
        let outcome = if dead { "dead" } else { "failed" };
        self.metrics
            .events_consumed
            .with_label_values(&[&sub.consumer, outcome])
            .inc();
        Ok(())
    }
}

fn retry_count(props: &BasicProperties) -> i64 {
    props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-retry-count").cloned())
        .and_then(|v| match v {
            AMQPValue::LongLongInt(n) => Some(n),
            AMQPValue::LongInt(n) => Some(i64::from(n)),
            _ => None,
        })
        .unwrap_or(0)
}

/// Publishes `events` in order: each run of consecutive events of one type in messages of up to
/// `per_message` events, then awaits every confirm.
async fn publish_on(ch: &Channel, events: &[Envelope], per_message: usize) -> Result<(), BusError> {
    let mut confirms = Vec::with_capacity(events.len());
    let mut rest = events;
    while let Some(first) = rest.first() {
        let run = rest
            .iter()
            .take(per_message)
            .take_while(|e| e.event_type == first.event_type)
            .count();
        let (chunk, tail) = rest.split_at(run);
        rest = tail;
        let (body, content_type) = if let [one] = chunk {
            (serde_json::to_vec(one), SINGLE_CONTENT_TYPE)
        } else {
            (serde_json::to_vec(chunk), BATCH_CONTENT_TYPE)
        };
        let body = body.map_err(|e| BusError::Refused(e.to_string()))?;
        let props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type(content_type.into())
            .with_message_id(first.id.to_string().into())
            .with_type(first.event_type.as_str().into())
            .with_timestamp(u64::try_from(first.time.timestamp()).unwrap_or(0));
        let confirm = ch
            .basic_publish(
                EXCHANGE.into(),
                first.event_type.as_str().into(),
                BasicPublishOptions::default(),
                &body,
                props,
            )
            .await
            .map_err(unavailable)?;
        confirms.push((first.id, confirm));
    }
    for (id, confirm) in confirms {
        match confirm.await.map_err(unavailable)? {
            Confirmation::Ack(_) => {}
            Confirmation::Nack(_) | Confirmation::NotRequested => {
                return Err(BusError::Refused(id.to_string()));
            }
        }
    }
    Ok(())
}

/// An event parked in a consumer's dead-letter queue.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeadLetter {
    /// The event id.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The aggregate.
    pub subject: String,
    /// How often the consumer tried.
    pub attempts: i64,
    /// The consumer's last error.
    pub last_error: String,
}

fn last_error(props: &BasicProperties) -> String {
    match props
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get("x-last-error").cloned())
    {
        Some(AMQPValue::LongString(s)) => s.to_string(),
        _ => String::new(),
    }
}

/// Lists up to `limit` dead letters of `consumer` without removing them (they are read
/// unacknowledged and return to the queue when the channel closes).
pub async fn dead_letters(
    url: &str,
    consumer: &str,
    limit: usize,
) -> Result<Vec<DeadLetter>, BusError> {
    let (conn, ch) = open(url).await.map_err(unavailable)?;
    let dead = format!("{}.dead", queue_name(consumer));
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(msg) = ch
            .basic_get(
                dead.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: false },
            )
            .await
            .map_err(unavailable)?
        else {
            break;
        };
        // Parked events travel alone; a whole batch message is listed event by event.
        for part in message_parts(&msg.delivery.data) {
            let env = match part {
                Part::Event { env, .. } => Some(*env),
                Part::Unreadable { .. } => None,
            };
            out.push(DeadLetter {
                event_id: env.as_ref().map(|e| e.id.to_string()).unwrap_or_default(),
                event_type: env
                    .as_ref()
                    .map(|e| e.event_type.clone())
                    .unwrap_or_default(),
                subject: env.as_ref().map(|e| e.subject.clone()).unwrap_or_default(),
                attempts: retry_count(&msg.delivery.properties),
                last_error: last_error(&msg.delivery.properties),
            });
        }
    }
    let _ = ch.close(200, "listed".into()).await;
    let _ = conn.close(200, "listed".into()).await;
    Ok(out)
}

/// Moves up to `limit` dead letters of `consumer` back to its queue with a fresh retry count
/// (after the cause was fixed). Each is acknowledged only once the broker confirmed its copy.
pub async fn redrive(url: &str, consumer: &str, limit: usize) -> Result<usize, BusError> {
    let (conn, ch) = open(url).await.map_err(unavailable)?;
    let main = queue_name(consumer);
    let dead = format!("{main}.dead");
    let mut moved = 0;
    while moved < limit {
        let Some(msg) = ch
            .basic_get(
                dead.as_str().into(),
                lapin::options::BasicGetOptions { no_ack: false },
            )
            .await
            .map_err(unavailable)?
        else {
            break;
        };
        let mut headers = msg
            .delivery
            .properties
            .headers()
            .clone()
            .unwrap_or_default();
        headers.insert("x-retry-count".into(), AMQPValue::LongLongInt(0));
        let props = msg
            .delivery
            .properties
            .clone()
            .with_headers(headers)
            .with_delivery_mode(2);
        let confirm = ch
            .basic_publish(
                "".into(),
                main.as_str().into(),
                BasicPublishOptions::default(),
                &msg.delivery.data,
                props,
            )
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        if !matches!(confirm, Confirmation::Ack(_)) {
            return Err(BusError::Refused("re-driven message".to_owned()));
        }
        msg.delivery
            .acker
            .ack(BasicAckOptions::default())
            .await
            .map_err(unavailable)?;
        moved += 1;
    }
    let _ = conn.close(200, "re-driven".into()).await;
    Ok(moved)
}
