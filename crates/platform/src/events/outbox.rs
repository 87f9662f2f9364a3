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

use super::EventBus;
use crate::db::{AnyConnection, Db};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::schema::outbox;

/// Writes `env` to the outbox in the current transaction.
pub fn enqueue(conn: &mut AnyConnection, env: &Envelope) -> Result<(), ApiError> {
    let body = serde_json::to_string(env)?;
    diesel::insert_into(outbox::table)
        .values((
            outbox::id.eq(env.id.to_string()),
            outbox::event_type.eq(&env.event_type),
            outbox::subject.eq(&env.subject),
            outbox::body.eq(body),
            outbox::created_at.eq(crate::db::now()),
            outbox::attempts.eq(0),
        ))
        .execute(conn)?;
    Ok(())
}

/// How long a claim protects rows from other relays.
const LEASE: chrono::Duration = chrono::Duration::seconds(30);
/// Published rows are kept this long for inspection, then deleted.
const RETENTION: chrono::Duration = chrono::Duration::days(7);

#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    body: String,
}

/// Claims up to `limit` unpublished rows in sequence order.
fn claim(conn: &mut AnyConnection, limit: i64) -> QueryResult<Vec<Claimed>> {
    let now = crate::db::now();
    let until = now + LEASE;
    let mut rows = match conn {
        AnyConnection::Postgresql(pg) => diesel::sql_query(
            "UPDATE outbox SET claimed_until = $1, attempts = attempts + 1 WHERE seq IN (\
               SELECT seq FROM outbox WHERE published_at IS NULL \
               AND (claimed_until IS NULL OR claimed_until < $2) \
               ORDER BY seq LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING seq, body",
        )
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Claimed>(pg)?,
        AnyConnection::Sqlite(lite) => diesel::sql_query(
            "UPDATE outbox SET claimed_until = ?, attempts = attempts + 1 WHERE seq IN (\
               SELECT seq FROM outbox WHERE published_at IS NULL \
               AND (claimed_until IS NULL OR claimed_until < ?) \
               ORDER BY seq LIMIT ?) RETURNING seq, body",
        )
        .bind::<Timestamp, _>(until)
        .bind::<Timestamp, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Claimed>(lite)?,
    };
    rows.sort_by_key(|r| r.seq);
    Ok(rows)
}

/// Publishes the outbox of one service.
pub struct Relay {
    service: String,
    db: Db,
    bus: EventBus,
    metrics: Arc<Metrics>,
    wake: Arc<Notify>,
    batch: i64,
    poll: Duration,
}

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
        }
    }

    /// Runs until `shutdown` becomes true, then drains what is claimable and returns.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(100);
        let mut last_housekeeping = Instant::now() - Duration::from_secs(3600);
        loop {
            if last_housekeeping.elapsed() > Duration::from_secs(5) {
                self.housekeeping().await;
                last_housekeeping = Instant::now();
            }
            match self.drain().await {
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

    /// Publishes everything claimable now.
    pub async fn drain(&self) -> Result<(), String> {
        loop {
            let batch = self.batch;
            let claimed = self
                .db
                .write(move |conn| Ok(claim(conn, batch)?))
                .await
                .map_err(|e| e.to_string())?;
            if claimed.is_empty() {
                return Ok(());
            }
            let seqs: Vec<i64> = claimed.iter().map(|c| c.seq).collect();
            let mut events = Vec::with_capacity(claimed.len());
            for c in &claimed {
                match serde_json::from_str::<Envelope>(&c.body) {
                    Ok(env) => events.push(env),
                    Err(e) => {
                        tracing::error!(seq = c.seq, error = %e, "unreadable outbox row skipped")
                    }
                }
            }
            match self.bus.publish(&events).await {
                Ok(()) => {
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
                    // Release the claim so the next attempt (ours or another replica's) can retry.
                    let _ = self
                        .db
                        .write(move |conn| {
                            diesel::update(outbox::table.filter(outbox::seq.eq_any(&seqs)))
                                .set((
                                    outbox::claimed_until.eq(None::<NaiveDateTime>),
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

    async fn housekeeping(&self) {
        let cutoff = crate::db::now() - RETENTION;
        let stats = self
            .db
            .write(move |conn| {
                diesel::delete(outbox::table.filter(outbox::published_at.lt(cutoff)))
                    .execute(conn)?;
                let pending: i64 = outbox::table
                    .filter(outbox::published_at.is_null())
                    .count()
                    .get_result(conn)?;
                let oldest: Option<NaiveDateTime> = outbox::table
                    .filter(outbox::published_at.is_null())
                    .select(diesel::dsl::min(outbox::created_at))
                    .first(conn)?;
                Ok((pending, oldest))
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
