//! Disputes: a party contests what a receivable bills. One may be open per receivable at a
//! time; while it is open dunning sends nothing for the receivable. Opening and resolving are
//! audited with the reason and the resolution.

use carebill_domain::ids::ReceivableId;
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, ErrorCode};

use super::receivables::DisputeRecord;
use crate::store::disputes::{self, DisputeRow};
use crate::store::receivables;

/// Locks receivable `id` in the caller's scope (its invoice's key, then the receivable).
fn lock_in_scope(
    conn: &mut AnyConnection,
    who: &Principal,
    id: ReceivableId,
) -> Result<receivables::ReceivableRow, Error> {
    let found = receivables::find_in_scope(conn, &Scope::of(who), id)?
        .ok_or_else(|| Error::not_found("receivable"))?;
    receivables::lock_invoice(conn, found.invoice_id)?;
    receivables::lock_many(conn, &[id])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found("receivable"))
}

/// Opens a dispute of receivable `id` with `reason`; a conflict when one is open.
#[tracing::instrument(skip_all, fields(receivable_id = %id))]
pub(crate) fn open(
    conn: &mut AnyConnection,
    who: &Principal,
    id: ReceivableId,
    reason: &str,
) -> Result<DisputeRecord, Error> {
    let row = lock_in_scope(conn, who, id)?;
    if let Some(d) = disputes::open_of(conn, id)? {
        return Err(Error::new(
            ErrorCode::DisputeOpen,
            format!(
                "dispute {} of this receivable is open; resolve it first",
                d.id
            ),
        ));
    }
    let now = db::now();
    let stored = DisputeRow {
        id: uuid::Uuid::now_v7().to_string(),
        receivable_id: id,
        reason: reason.to_owned(),
        opened_at: now,
        opened_by: who.subject.clone(),
        resolved_at: None,
        resolved_by: None,
        resolution: None,
    };
    disputes::insert(conn, stored.clone())?;
    audit::record_at(
        conn,
        who,
        &row.location_id.to_string(),
        "dispute",
        "receivable",
        &id.to_string(),
        serde_json::json!({ "dispute_id": stored.id, "disputed": { "before": false, "after": true } }),
        Some(reason),
    )?;
    Ok(DisputeRecord::of(stored))
}

/// Resolves the open dispute of receivable `id` with `resolution`; a conflict when none is
/// open.
#[tracing::instrument(skip_all, fields(receivable_id = %id))]
pub(crate) fn resolve(
    conn: &mut AnyConnection,
    who: &Principal,
    id: ReceivableId,
    resolution: &str,
) -> Result<DisputeRecord, Error> {
    let row = lock_in_scope(conn, who, id)?;
    let Some(open) = disputes::open_of(conn, id)? else {
        return Err(Error::new(
            ErrorCode::NoOpenDispute,
            "the receivable has no open dispute",
        ));
    };
    let now = db::now();
    disputes::resolve(conn, &open.id, resolution, &who.subject, now)?;
    audit::record_at(
        conn,
        who,
        &row.location_id.to_string(),
        "resolve_dispute",
        "receivable",
        &id.to_string(),
        serde_json::json!({ "dispute_id": open.id, "disputed": { "before": true, "after": false } }),
        Some(resolution),
    )?;
    Ok(DisputeRecord::of(DisputeRow {
        resolved_at: Some(now),
        resolved_by: Some(who.subject.clone()),
        resolution: Some(resolution.to_owned()),
        ..open
    }))
}
