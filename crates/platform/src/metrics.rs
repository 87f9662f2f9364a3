//! Prometheus metrics of one process: HTTP latency by route, events published, consumed and
//! failed, dead letters, outbox backlog and age, database pool use. Served as text on `/metrics`.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// The process's metrics. Cheap to share behind `web::Data`/`Arc`.
pub struct Metrics {
    registry: Registry,
    http: HistogramVec,
    /// Events handed to the broker (or in-process subscribers), by service and type.
    pub events_published: IntCounterVec,
    /// Events processed by consumers, by consumer and outcome (`ok`, `duplicate`, `failed`, `dead`).
    pub events_consumed: IntCounterVec,
    /// Outbox rows not yet published, by service.
    pub outbox_backlog: IntGaugeVec,
    /// Age in seconds of the oldest unpublished outbox row, by service.
    pub outbox_oldest_age: GaugeVec,
    /// Database pool connections, by service and state (`open`, `idle`).
    pub db_pool: IntGaugeVec,
    /// Events waiting in a consumer's broker queue (ready, not yet delivered), by consumer.
    pub consumer_lag: IntGaugeVec,
    /// Events a consumer could not apply and parked, not yet re-driven, by consumer.
    pub dead_letters: IntGaugeVec,
}

impl Metrics {
    /// Registers every metric in a new registry.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let http = HistogramVec::new(
            HistogramOpts::new(
                "carebill_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route", "method", "status"],
        )?;
        let events_published = IntCounterVec::new(
            Opts::new(
                "carebill_events_published_total",
                "Events published from the outbox",
            ),
            &["service", "type"],
        )?;
        let events_consumed = IntCounterVec::new(
            Opts::new(
                "carebill_events_consumed_total",
                "Events handled by consumers",
            ),
            &["consumer", "outcome"],
        )?;
        let outbox_backlog = IntGaugeVec::new(
            Opts::new("carebill_outbox_backlog", "Outbox events not yet published"),
            &["service"],
        )?;
        let outbox_oldest_age = GaugeVec::new(
            Opts::new(
                "carebill_outbox_oldest_age_seconds",
                "Age of the oldest unpublished outbox event",
            ),
            &["service"],
        )?;
        let db_pool = IntGaugeVec::new(
            Opts::new("carebill_db_pool_connections", "Database pool connections"),
            &["service", "state"],
        )?;
        let consumer_lag = IntGaugeVec::new(
            Opts::new(
                "carebill_consumer_lag_messages",
                "Messages waiting in the consumer's queue (a message carries one event or a run of events of one type)",
            ),
            &["consumer"],
        )?;
        let dead_letters = IntGaugeVec::new(
            Opts::new(
                "carebill_dead_letters",
                "Events parked by the consumer, not yet re-driven",
            ),
            &["consumer"],
        )?;
        registry.register(Box::new(consumer_lag.clone()))?;
        registry.register(Box::new(dead_letters.clone()))?;
        registry.register(Box::new(http.clone()))?;
        registry.register(Box::new(events_published.clone()))?;
        registry.register(Box::new(events_consumed.clone()))?;
        registry.register(Box::new(outbox_backlog.clone()))?;
        registry.register(Box::new(outbox_oldest_age.clone()))?;
        registry.register(Box::new(db_pool.clone()))?;
        Ok(Metrics {
            registry,
            http,
            events_published,
            events_consumed,
            outbox_backlog,
            outbox_oldest_age,
            db_pool,
            consumer_lag,
            dead_letters,
        })
    }

    /// Records one HTTP request.
    pub fn observe_http(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.http
            .with_label_values(&[route, method, &status.to_string()])
            .observe(seconds);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            tracing::error!(error = %e, "encoding metrics");
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}
