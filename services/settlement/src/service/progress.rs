//! Announces where settlements stand (`carebill.settlement.settlement.changed.v1`), for the
//! dashboards other services keep: every write of a settlement's header marks it (in the
//! store, in the writer's transaction), and [`publish`] turns the marks into one event per
//! call, in the outbox, in the transaction that removes them. A mark left by a process that
//! stopped is published by the next one; a settlement written again while it is being published
//! is marked again and published once more.

use carebill_domain::events::{CoverageRef, Envelope, SettlementChangedV1, SettlementProgress};
use carebill_domain::stored::json;
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::events::outbox;
use chrono::Utc;
use diesel::Connection as _;

use crate::store::settlements::{self as store, ProgressRow};

/// Publishes up to `limit` marked settlements in one event; answers how many.
#[tracing::instrument(skip_all)]
pub fn publish(conn: &mut AnyConnection, limit: i64) -> Result<usize, Error> {
    conn.transaction(|conn| {
        let taken = store::take_changed(conn, limit)?;
        if taken.is_empty() {
            return Ok(0);
        }
        let settlements = taken
            .into_iter()
            .map(|(row, since)| progress(row, since))
            .collect::<Result<Vec<_>, Error>>()?;
        let n = settlements.len();
        let payload = SettlementChangedV1 { settlements };
        let env = Envelope::new("settlement", &payload, Utc::now(), None, None)
            .map_err(|e| Error::internal(&e))?;
        outbox::enqueue(conn, &env)?;
        Ok(n)
    })
}

/// One settlement's state as announced.
fn progress(
    row: ProgressRow,
    since: Option<chrono::NaiveDateTime>,
) -> Result<SettlementProgress, Error> {
    let mut coverages: Vec<CoverageRef> = json("settlement coverages", &row.coverages)?;
    coverages.sort_by_key(|c| c.priority);
    let total = match row.currency {
        Some(c) => Some(Money::from_minor(
            MinorUnits(row.total_minor),
            Currency::parse(&c).map_err(|e| Error::stored("settlement currency", &c, e))?,
        )),
        None => None,
    };
    Ok(SettlementProgress {
        settlement_id: row.id.clone().try_into()?,
        number: row.number,
        location_id: row.location_id.try_into()?,
        location_code: row.location_code,
        payer_code: coverages.into_iter().next().map(|c| c.payer_code),
        status: row.status.try_into()?,
        total,
        assigned_to: row.assigned_to,
        status_since: since.unwrap_or(row.created_at).and_utc(), // not stored: no status change yet means since it was made
        sequence: row.change_seq,
    })
}
