//! The transactional outbox and its relay.
//!
//! [`enqueue`] writes an event in the caller's transaction. The [`Relay`] claims committed,
//! unpublished rows in order, publishes them, and marks them published. A crash between commit
//! and publish loses nothing (the row is still there); a crash between publish and mark means a
//! second publish, which consumers' inboxes absorb. Several replicas may run relays on one
//! PostgreSQL database: rows are claimed with `FOR UPDATE SKIP LOCKED` and a lease.

use std::sync::Arc;
use std::time::{Duration, Instant};

use carebill_domain::events::Envelope;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};
use tokio::sync::{Notify, watch};

use super::{BusError, EventBus};
use crate::db::{AnyConnection, Db};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::schema::outbox;

#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct NewRow<'a> {
    id: String,
    event_type: &'a str,
    subject: &'a str,
    body: String,
    created_at: NaiveDateTime,
    attempts: i32,
}

/// Writes `env` to the outbox in the current transaction.
pub fn enqueue(conn: &mut AnyConnection, env: &Envelope) -> Result<(), Error> {
    enqueue_many(conn, std::slice::from_ref(env))
}

/// Writes events to the outbox in the current transaction, in order (multi-row on PostgreSQL).
pub fn enqueue_many(conn: &mut AnyConnection, envs: &[Envelope]) -> Result<(), Error> {
    let now = crate::db::now();
    let rows = envs
        .iter()
        .map(|env| {
            Ok(NewRow {
                id: env.id.to_string(),
                event_type: &env.event_type,
                subject: &env.subject,
                body: serde_json::to_string(env)?,
                created_at: now,
                attempts: 0,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    match conn {
        AnyConnection::Postgresql(pg) => {
            for chunk in rows.chunks(1000) {
                diesel::insert_into(outbox::table)
                    .values(chunk)
                    .execute(pg)?;
            }
        }
        AnyConnection::Sqlite(lite) => {
            for row in &rows {
                diesel::insert_into(outbox::table)
                    .values(row)
                    .execute(lite)?;
            }
        }
    }
    Ok(())
}

/// How long a claim protects rows from other relays.
const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// Longest wait for the bus to take a batch; shorter than [`LEASE`].
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(20);
/// Refusals after which a row is parked (kept, not retried); the claim queries skip it.
const PARKED_AFTER: i32 = 20;
/// Published rows are kept this long for inspection, then deleted.
const RETENTION: chrono::Duration = chrono::Duration::days(7);

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    body: String,
}

/// Claims up to `limit` unpublished rows after `after` (a sequence number), in sequence order.
/// Returns the claimed rows and the lease they carry (to release exactly our claim later).
fn claim(
    conn: &mut AnyConnection,
    limit: i64,
    after: i64,
) -> QueryResult<(Vec<Claimed>, NaiveDateTime)> {
    let now = crate::db::now();
    let until = now + LEASE;
    let mut rows = match conn {
        // A plain index scan in `seq` order, never a bitmap scan: the partial index keeps
        // entries of published rows until vacuum, and only an index scan marks them dead as it
        // passes, so that the next claim skips them. A bitmap scan re-reads every one of them on
        // every claim, and under load the relay slows to a crawl.
        AnyConnection::Postgresql(pg) => pg.transaction(|pg| {
            diesel::sql_query("SET LOCAL enable_bitmapscan = off").execute(pg)?;
            diesel::sql_query(
                "UPDATE outbox SET claimed_until = $1 WHERE seq IN (\
                   SELECT seq FROM outbox WHERE published_at IS NULL AND attempts < 20 \
                   AND (claimed_until IS NULL OR claimed_until < $2) AND seq > $4 \
                   ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING seq, body",
            )
            .bind::<Timestamp, _>(until)
            .bind::<Timestamp, _>(now)
            .bind::<BigInt, _>(limit)
            .bind::<BigInt, _>(after)
            .load::<Claimed>(pg)
        })?,
        AnyConnection::Sqlite(lite) => diesel::sql_query(
            "UPDATE outbox SET claimed_until = ? WHERE seq IN (\
               SELECT seq FROM outbox WHERE published_at IS NULL AND attempts < 20 \
               AND (claimed_until IS NULL OR claimed_until < ?) AND seq > ? \
               ORDER BY seq LIMIT ?) RETURNING seq, body",
        )
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(limit)
        .load::<Claimed>(lite)?,
    };
    rows.sort_by_key(|r| r.seq);
    Ok((rows, until))
}

/// Publishes the outbox of one service.
#[derive(Clone)]
pub struct Relay {
    service: String,
    db: Db,
    bus: EventBus,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    batch: i64,
    poll: Duration,
    /// The highest sequence number this relay published: claims start after it. Entries of
    /// published rows stay in the pending index until no transaction can see them any more,
    /// and under load a claim from the start walks thousands of them (17 ms per claim at
    /// 200,000 events against 2 ms); from the mark it walks none.
    mark: Arc<std::sync::atomic::AtomicI64>,
    /// When a claim last looked from the start: rows committed after a higher number was
    /// published, released claims and expired leases of other replicas lie below the mark.
    full_at: Arc<std::sync::Mutex<Instant>>,
}

/// How often a busy relay claims from the start anyway.
const FULL_CLAIM_EVERY: Duration = Duration::from_secs(1);

impl Relay {
    /// A relay for `service`. `wake` is notified by writers after a commit, so events leave
    /// promptly; without notification the relay polls every `poll`.
    pub fn new(
        service: &str,
        db: Db,
        bus: EventBus,
        metrics: Arc<Metrics>,
        wake: Arc<Notify>,
    ) -> Relay {
        Relay {
            service: service.to_owned(),
            db,
            bus,
            metrics,
            wake,
            batch: 500,
            poll: Duration::from_millis(250),
            mark: Arc::new(std::sync::atomic::AtomicI64::new(0)),
            full_at: Arc::new(std::sync::Mutex::new(Instant::now())),
        }
    }

    /// Runs until `shutdown` becomes true, then drains what is claimable and returns.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        let mut last_housekeeping = Instant::now() - Duration::from_secs(3600);
        let mut last_prune = Instant::now() - Duration::from_secs(3600);
        loop {
            if last_housekeeping.elapsed() > Duration::from_secs(5) {
                // Metrics every 5 s; published events past their retention once an hour (a
                // scan of the whole table).
                let prune = last_prune.elapsed() > Duration::from_secs(3600);
                self.housekeeping(prune).await;
                last_housekeeping = Instant::now();
                if prune {
                    last_prune = Instant::now();
                }
            }
            // The last drain before stopping is thorough: nothing claimable stays behind.
            let drained = if *shutdown.borrow() {
                self.drain().await
            } else {
                self.drain_from_mark().await
            };
            match drained {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => {
                    tracing::warn!(service = %self.service, error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay failed");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    if *shutdown.borrow() {
                        return;
                    }
                    continue;
                }
            }
            if *shutdown.borrow() {
                return;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Runs [`Relay::run`] and starts it again should it ever panic, so that a bug in one batch
    /// cannot silently stop a service's events.
    pub async fn supervise(self, shutdown: watch::Receiver<bool>) {
        loop {
            let attempt = tokio::spawn(self.clone().run(shutdown.clone()));
            match attempt.await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!(service = %self.service, error = %e, "outbox relay crashed; restarting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Publishes everything claimable now.
    pub async fn drain(&self) -> Result<(), String> {
        self.drain_with(true).await
    }

    /// Publishes what is claimable after the mark, looking from the start too once the last
    /// such look is older than [`FULL_CLAIM_EVERY`]: what the running relay does on every
    /// wake-up. A row left below the mark waits at most that long.
    async fn drain_from_mark(&self) -> Result<(), String> {
        self.drain_with(false).await
    }

    /// `thorough`: the first claim looks from the start, and so does one more once the claims
    /// after the mark find nothing, so that the drain ends only when nothing is claimable.
    async fn drain_with(&self, thorough: bool) -> Result<(), String> {
        use std::sync::atomic::Ordering;
        let mut full = thorough;
        loop {
            let batch = self.batch;
            {
                let mut at = self.full_at.lock().unwrap_or_else(|p| p.into_inner());
                if at.elapsed() > FULL_CLAIM_EVERY {
                    full = true;
                }
                if full {
                    *at = Instant::now();
                }
            }
            let after = if full {
                0
            } else {
                self.mark.load(Ordering::Relaxed)
            };
            let (claimed, lease) = self
                .db
                .write(move |conn| Ok(claim(conn, batch, after)?))
                .await
                .map_err(|e| e.to_string())?;
            if claimed.is_empty() {
                if full || !thorough {
                    return Ok(());
                }
                full = true;
                continue;
            }
            full = false;
            let mut seqs = Vec::with_capacity(claimed.len());
            let mut unreadable = Vec::new();
            let mut events = Vec::with_capacity(claimed.len());
            for c in &claimed {
                match serde_json::from_str::<Envelope>(&c.body) {
                    Ok(env) => {
                        seqs.push(c.seq);
                        events.push(env);
                    }
                    Err(e) => {
                        tracing::error!(seq = c.seq, error = %e, "unreadable outbox row parked");
                        unreadable.push(c.seq);
                    }
                }
            }
            if !unreadable.is_empty() {
                self.park(unreadable, "unreadable event body".to_owned())
                    .await?;
            }
            // A publish that hangs (a blocked broker) must give up before the lease runs out.
            let outcome =
                match tokio::time::timeout(PUBLISH_TIMEOUT, self.bus.publish(&events)).await {
                    Ok(r) => r,
                    Err(_) => Err(BusError::Unavailable(format!(
                        "no confirm within {PUBLISH_TIMEOUT:?}"
                    ))),
                };
            match outcome {
                Ok(()) => {
                    if let Some(last) = seqs.last() {
                        self.mark.fetch_max(*last, Ordering::Relaxed);
                    }
                    let now = crate::db::now();
                    self.db
                        .write(move |conn| {
                            diesel::update(outbox::table.filter(outbox::seq.eq_any(&seqs)))
                                .set((
                                    outbox::published_at.eq(Some(now)),
                                    outbox::last_error.eq(None::<String>),
                                ))
                                .execute(conn)?;
                            Ok(())
                        })
                        .await
                        .map_err(|e| e.to_string())?;
                    for env in &events {
                        self.metrics
                            .events_published
                            .with_label_values(&[&self.service, &env.event_type])
                            .inc();
                    }
                }
                Err(e) => {
                    let msg = e.to_string();
                    let release = msg.clone();
                    // A refusal is about these messages: count it, and park them after 20.
                    // An unavailable broker is nobody's fault: no count.
                    let count = i32::from(matches!(e, BusError::Refused(_)));
                    // Release our claim (only ours: another replica may hold a newer one) so the
                    // next attempt can retry.
                    let _ = self
                        .db
                        .write(move |conn| {
                            diesel::update(
                                outbox::table
                                    .filter(outbox::seq.eq_any(&seqs))
                                    .filter(outbox::claimed_until.eq(lease)),
                            )
                            .set((
                                outbox::claimed_until.eq(None::<NaiveDateTime>),
                                outbox::attempts.eq(outbox::attempts + count),
                                outbox::last_error.eq(Some(release)),
                            ))
                            .execute(conn)?;
                            Ok(())
                        })
                        .await;
                    return Err(msg);
                }
            }
        }
    }

    /// Takes rows out of the relay's way for good (they stay, with the reason, for inspection).
    async fn park(&self, seqs: Vec<i64>, reason: String) -> Result<(), String> {
        self.db
            .write(move |conn| {
                diesel::update(outbox::table.filter(outbox::seq.eq_any(&seqs)))
                    .set((
                        outbox::attempts.eq(PARKED_AFTER),
                        outbox::claimed_until.eq(None::<NaiveDateTime>),
                        outbox::last_error.eq(Some(reason)),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn housekeeping(&self, prune: bool) {
        let cutoff = crate::db::now() - RETENTION;
        let stats = self
            .db
            .write(move |conn| {
                if prune {
                    diesel::delete(outbox::table.filter(outbox::published_at.lt(cutoff)))
                        .execute(conn)?;
                }
                conn.transaction(|conn| {
                    if let AnyConnection::Postgresql(pg) = conn {
                        // As for claims: walk the partial index, do not re-read its dead entries.
                        diesel::sql_query("SET LOCAL enable_bitmapscan = off").execute(pg)?;
                    }
                    let pending: i64 = outbox::table
                        .filter(outbox::published_at.is_null())
                        .count()
                        .get_result(conn)?;
                    let oldest: Option<NaiveDateTime> = outbox::table
                        .filter(outbox::published_at.is_null())
                        .select(diesel::dsl::min(outbox::created_at))
                        .first(conn)?;
                    Ok::<_, crate::Error>((pending, oldest))
                })
            })
            .await;
        if let Ok((pending, oldest)) = stats {
            self.metrics
                .outbox_backlog
                .with_label_values(&[&self.service])
                .set(pending);
            let age = oldest.map_or(0.0, |t| {
                (crate::db::now() - t).num_milliseconds() as f64 / 1000.0
            });
            self.metrics
                .outbox_oldest_age
                .with_label_values(&[&self.service])
                .set(age);
        }
        let (open, idle) = self.db.pool_state();
        self.metrics
            .db_pool
            .with_label_values(&[&self.service, "open"])
            .set(i64::from(open));
        self.metrics
            .db_pool
            .with_label_values(&[&self.service, "idle"])
            .set(i64::from(idle));
    }
}

/// Counts unpublished outbox rows (tests, readiness details).
pub fn pending(conn: &mut AnyConnection) -> QueryResult<i64> {
    outbox::table
        .filter(outbox::published_at.is_null())
        .count()
        .get_result(conn)
}
