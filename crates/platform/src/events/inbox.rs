//! The inbox: a consumer records each processed event id in the same transaction as the event's
//! effect, so a redelivered event has no second effect. Dead letters park events a consumer
//! could not apply after its retries, with the error, for inspection and re-drive.

use carebill_domain::events::Envelope;
use diesel::prelude::*;

use crate::db::AnyConnection;
use crate::schema::{dead_letters, inbox};

/// Applies `effect` for `env` unless `consumer` already did: in one transaction, checks the
/// inbox, runs the effect and records the event. Returns `None` for a duplicate.
///
/// Two deliveries racing through here both see no record; the second to commit fails on the
/// inbox's primary key and rolls back its effect, and its retry then finds the record.
pub fn apply_once<T, E>(
    conn: &mut AnyConnection,
    consumer: &str,
    env: &Envelope,
    effect: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<Option<T>, E>
where
    E: From<diesel::result::Error>,
{
    let event_id = env.id.to_string();
    conn.transaction(|conn| {
        let seen: i64 = inbox::table
            .filter(inbox::consumer.eq(consumer))
            .filter(inbox::event_id.eq(&event_id))
            .count()
            .get_result(conn)?;
        if seen > 0 {
            return Ok(None);
        }
        let out = effect(conn)?;
        diesel::insert_into(inbox::table)
            .values((
                inbox::consumer.eq(consumer),
                inbox::event_id.eq(&event_id),
                inbox::event_type.eq(&env.event_type),
                inbox::processed_at.eq(crate::db::now()),
            ))
            .execute(conn)?;
        Ok(Some(out))
    })
}

/// Applies a batch of events in one transaction: the events `consumer` has not seen yet (each
/// once, even if delivered twice within the batch) are handed to `effect` together and recorded
/// in the inbox. Returns how many were applied. One commit for the whole batch is what makes a
/// busy consumer fast; if anything fails, nothing of the batch is applied.
pub fn apply_batch_once<E>(
    conn: &mut AnyConnection,
    consumer: &str,
    envs: &[Envelope],
    effect: impl FnOnce(&mut AnyConnection, &[&Envelope]) -> Result<(), E>,
) -> Result<usize, E>
where
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        // The inbox rows go in first, skipping ids already there: what was inserted is what is
        // fresh. A conflict is an index probe per id, whatever plan PostgreSQL has cached (a
        // look-up of many ids by `= ANY` got a generic plan made for an empty table and took
        // 50 ms per batch once the inbox had 40,000 rows). Rolled back with the effect if that
        // fails.
        let mut taken = std::collections::HashSet::new();
        let unique: Vec<(&Envelope, String)> = envs
            .iter()
            .map(|e| (e, e.id.to_string()))
            .filter(|(_, id)| taken.insert(id.clone()))
            .collect();
        let now = crate::db::now();
        let row = |(env, id): &(&Envelope, String)| {
            (
                inbox::consumer.eq(consumer.to_owned()),
                inbox::event_id.eq(id.clone()),
                inbox::event_type.eq(env.event_type.clone()),
                inbox::processed_at.eq(now),
            )
        };
        let mut inserted = std::collections::HashSet::new();
        match conn {
            AnyConnection::Postgresql(pg) => {
                for chunk in unique.chunks(1000) {
                    let rows: Vec<_> = chunk.iter().map(row).collect();
                    let ids: Vec<String> = diesel::insert_into(inbox::table)
                        .values(rows)
                        .on_conflict_do_nothing()
                        .returning(inbox::event_id)
                        .get_results(pg)?;
                    inserted.extend(ids);
                }
            }
            // SQLite: no multi-row INSERT through MultiConnection; one by one.
            AnyConnection::Sqlite(lite) => {
                for item in &unique {
                    let n = diesel::insert_into(inbox::table)
                        .values(row(item))
                        .on_conflict_do_nothing()
                        .execute(lite)?;
                    if n == 1 {
                        inserted.insert(item.1.clone());
                    }
                }
            }
        }
        let fresh: Vec<&Envelope> = unique
            .iter()
            .filter(|(_, id)| inserted.contains(id))
            .map(|(e, _)| *e)
            .collect();
        if fresh.is_empty() {
            return Ok(0);
        }
        effect(conn, &fresh)?;
        Ok(fresh.len())
    })
}

/// Parks an event the consumer could not apply.
pub fn dead_letter(
    conn: &mut AnyConnection,
    consumer: &str,
    env: &Envelope,
    error: &str,
) -> QueryResult<()> {
    let body = serde_json::to_string(env).unwrap_or_default();
    diesel::insert_into(dead_letters::table)
        .values((
            dead_letters::id.eq(uuid::Uuid::now_v7().to_string()),
            dead_letters::consumer.eq(consumer),
            dead_letters::event_id.eq(env.id.to_string()),
            dead_letters::event_type.eq(&env.event_type),
            dead_letters::body.eq(body),
            dead_letters::error.eq(error),
            dead_letters::failed_at.eq(crate::db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// A dead letter parked in a consumer's database (embedded mode), as listed to operators.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ParkedEvent {
    /// The event id.
    pub event_id: String,
    /// The event type.
    pub event_type: String,
    /// The aggregate.
    pub subject: String,
    /// The consumer's last error.
    pub last_error: String,
    /// When it was parked.
    pub failed_at: chrono::DateTime<chrono::Utc>,
}

/// How many events are parked for `consumer` and not re-driven yet.
pub fn parked_count(conn: &mut AnyConnection, consumer: &str) -> QueryResult<i64> {
    dead_letters::table
        .filter(dead_letters::consumer.eq(consumer))
        .filter(dead_letters::redriven_at.is_null())
        .count()
        .get_result(conn)
}

/// The events parked for `consumer` and not re-driven yet, oldest first, with their envelopes.
pub fn parked(
    conn: &mut AnyConnection,
    consumer: &str,
    limit: i64,
) -> QueryResult<Vec<(String, ParkedEvent, Option<Envelope>)>> {
    let rows: Vec<(
        String,
        String,
        String,
        String,
        String,
        chrono::NaiveDateTime,
    )> = dead_letters::table
        .filter(dead_letters::consumer.eq(consumer))
        .filter(dead_letters::redriven_at.is_null())
        .order(dead_letters::id.asc())
        .limit(limit)
        .select((
            dead_letters::id,
            dead_letters::event_id,
            dead_letters::event_type,
            dead_letters::body,
            dead_letters::error,
            dead_letters::failed_at,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, event_id, event_type, body, error, at)| {
            let env = serde_json::from_str::<Envelope>(&body).ok();
            let parked = ParkedEvent {
                event_id,
                event_type,
                subject: env.as_ref().map(|e| e.subject.clone()).unwrap_or_default(),
                last_error: error,
                failed_at: at.and_utc(),
            };
            (id, parked, env)
        })
        .collect())
}

/// Marks a parked event as re-driven (applied again successfully).
pub fn mark_redriven(conn: &mut AnyConnection, id: &str) -> QueryResult<()> {
    diesel::update(dead_letters::table.find(id))
        .set(dead_letters::redriven_at.eq(Some(crate::db::now())))
        .execute(conn)?;
    Ok(())
}
