//! Write-offs: what is left owed on a receivable taken off it, for bad debt, a small balance
//! (only when it owes at most its currency's threshold) or charity, with a reason. The
//! receivable keeps `written_off` (outstanding = total − credited − paid − written off) and is
//! `written_off` once nothing is left. Each is audited and announced
//! (`carebill.collections.write_off.recorded.v1`). The thresholds are a small configuration
//! resource, one per currency.

use carebill_domain::collections::{self as rules, WriteOffKind, WriteOffProblem};
use carebill_domain::events::{Envelope, WriteOffRecordedV1};
use carebill_domain::ids::ReceivableId;
use carebill_domain::{Currency, FieldError, MinorUnits, Money};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, Utc};

use super::receivables::{WriteOffRecord, money};
use crate::store::receivables;
use crate::store::write_offs::{self, ThresholdRow, WriteOffRow};

/// A checked write-off, ready to be made.
#[derive(Debug, Clone)]
pub(crate) struct NewWriteOff {
    /// Why it is not collected.
    pub kind: WriteOffKind,
    /// How much; everything still owed when absent.
    pub amount: Option<Money>,
    /// Why (trimmed, not blank).
    pub reason: String,
}

/// A write-off made, with what the receivable still owes after it.
#[derive(Debug, Clone)]
pub(crate) struct WriteOffMade {
    /// The write-off.
    pub write_off: WriteOffRecord,
    /// What the receivable owes after it.
    pub outstanding: Money,
}

fn problem(p: WriteOffProblem, currency: Currency) -> Error {
    let one = |code: ErrorCode, field: &str, fcode: &str, message: String| {
        Error::new(code, message.clone()).with_errors(vec![FieldError {
            field: field.to_owned(),
            code: fcode.to_owned(),
            message,
        }])
    };
    match p {
        WriteOffProblem::NotPositive => {
            Error::field("amount.amount", "not_positive", "must be greater than zero")
        }
        WriteOffProblem::ExceedsOutstanding { outstanding } => one(
            ErrorCode::ExceedsOutstanding,
            "amount",
            "exceeds_outstanding",
            format!("exceeds the outstanding {}", money(outstanding.0, currency)),
        ),
        WriteOffProblem::AboveThreshold {
            threshold,
            outstanding,
        } => one(
            ErrorCode::AboveThreshold,
            "kind",
            "above_threshold",
            match threshold {
                Some(t) => format!(
                    "a small-balance write-off needs an outstanding of at most {}; the receivable owes {}",
                    money(t.0, currency),
                    money(outstanding.0, currency)
                ),
                None => format!("no small-balance threshold is set for {currency}"),
            },
        ),
    }
}

/// Writes off part or all of what receivable `id` still owes, in the caller's transaction:
/// the receivable is locked, checked ([`rules::check_write_off`]), reduced, audited and the
/// write-off announced.
#[tracing::instrument(skip_all, fields(receivable_id = %id))]
pub(crate) fn write_off(
    conn: &mut AnyConnection,
    who: &Principal,
    id: ReceivableId,
    w: NewWriteOff,
) -> Result<WriteOffMade, Error> {
    let scope = Scope::of(who);
    let found = receivables::find_in_scope(conn, &scope, id)?
        .ok_or_else(|| Error::not_found("receivable"))?;
    // The invoice's key first, as its events take it, then the receivable.
    receivables::lock_invoice(conn, found.invoice_id)?;
    let row = receivables::lock_for_invoices(conn, &[found.invoice_id])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found("receivable"))?;
    let c = row.currency;
    if row.cancelled() {
        return Err(Error::new(
            ErrorCode::InvoiceCancelled,
            "the invoice was cancelled by a credit note: nothing is owed to write off",
        ));
    }
    let owed = row.outstanding();
    let amount = match &w.amount {
        None => owed,
        Some(a) if a.currency() != c => {
            return Err(Error::new(
                ErrorCode::CurrencyMismatch,
                format!(
                    "the write-off is in {}, the receivable in {c}",
                    a.currency()
                ),
            )
            .with_errors(vec![FieldError {
                field: "amount.currency".to_owned(),
                code: "currency_mismatch".to_owned(),
                message: format!("must be the receivable's currency {c}"),
            }]));
        }
        Some(a) => a
            .to_minor()
            .map_err(|e| Error::field("amount.amount", "out_of_range", e.to_string()))?,
    };
    let threshold = write_offs::threshold(conn, c)?;
    let left =
        rules::check_write_off(w.kind, amount, owed, threshold).map_err(|p| problem(p, c))?;
    let written = row.written_off_minor + amount.0;
    let status = rules::base_status(
        row.payable_total(),
        MinorUnits(row.credited_minor),
        MinorUnits(row.paid_minor),
        MinorUnits(written),
        false,
    );
    let now = db::now();
    let write_off_id = uuid::Uuid::now_v7();
    let stored = WriteOffRow {
        id: write_off_id.to_string(),
        receivable_id: row.id,
        kind: w.kind,
        amount_minor: amount.0,
        reason: w.reason.clone(),
        recorded_by: who.subject.clone(),
        recorded_at: now,
    };
    write_offs::insert(conn, stored.clone())?;
    receivables::set_written_off(conn, row.id, written, status, now)?;
    let event = WriteOffRecordedV1 {
        write_off_id,
        receivable_id: row.id,
        invoice_id: row.invoice_id,
        invoice_number: row.invoice_number.clone(),
        location_id: row.location_id,
        party: row.party()?,
        kind: w.kind,
        amount: money(amount.0, c),
        reason: w.reason.clone(),
        outstanding: money(left.0, c),
        recorded_by: who.subject.clone(),
        recorded_at: now.and_utc(),
    };
    let env = Envelope::new(
        crate::SERVICE,
        &event,
        now.and_utc(),
        who.request_id.clone(),
        None,
    )
    .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)?;
    audit::record_at(
        conn,
        who,
        &row.location_id.to_string(),
        "write_off",
        "receivable",
        &row.id.to_string(),
        serde_json::json!({
            "write_off_id": write_off_id,
            "kind": w.kind,
            "amount": money(amount.0, c),
            "written_off": { "before": money(row.written_off_minor, c), "after": money(written, c) },
            "outstanding": { "before": money(owed.0, c), "after": money(left.0, c) },
            "status": { "before": row.status, "after": status },
        }),
        Some(&w.reason),
    )?;
    Ok(WriteOffMade {
        write_off: WriteOffRecord::of(stored, c),
        outstanding: money(left.0, c),
    })
}

/// A small-balance threshold as read.
#[derive(Debug, Clone)]
pub(crate) struct ThresholdRecord {
    /// The most a receivable may owe to be written off as a small balance.
    pub max: Money,
    /// Who set it.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

/// Every small-balance threshold, by currency.
#[tracing::instrument(skip_all)]
pub(crate) fn thresholds(conn: &mut AnyConnection) -> Result<Vec<ThresholdRecord>, Error> {
    Ok(write_offs::thresholds(conn)?
        .into_iter()
        .map(|r| ThresholdRecord {
            max: money(r.max_minor, r.currency),
            updated_by: r.updated_by,
            updated_at: r.updated_at.and_utc(),
        })
        .collect())
}

/// Sets the small-balance threshold of `max`'s currency (zero or more), audited.
#[tracing::instrument(skip_all)]
pub(crate) fn set_threshold(
    conn: &mut AnyConnection,
    who: &Principal,
    max: Money,
) -> Result<ThresholdRecord, Error> {
    let c = max.currency();
    let minor = max
        .to_minor()
        .map_err(|e| Error::field("max.amount", "out_of_range", e.to_string()))?;
    if minor.0 < 0 {
        return Err(Error::field(
            "max.amount",
            "negative",
            "must be zero or more",
        ));
    }
    write_offs::lock_threshold(conn, c)?;
    let before = write_offs::threshold(conn, c)?;
    let now = db::now();
    write_offs::set_threshold(
        conn,
        ThresholdRow {
            currency: c,
            max_minor: minor.0,
            updated_by: who.subject.clone(),
            updated_at: now,
        },
    )?;
    audit::record(
        conn,
        who,
        "update",
        "write_off_threshold",
        c.code(),
        serde_json::json!({
            "max": { "before": before.map(|b| money(b.0, c)), "after": money(minor.0, c) },
        }),
        None,
    )?;
    Ok(ThresholdRecord {
        max: money(minor.0, c),
        updated_by: who.subject.clone(),
        updated_at: now.and_utc(),
    })
}
