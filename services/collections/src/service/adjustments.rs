//! Adjustments: a fee or interest raising what a receivable owes, or a correction raising or
//! lowering it, with a reason. The receivable keeps `adjusted` (outstanding = total + adjusted
//! − credited − paid − written off), never owing less than nothing
//! ([`rules::check_adjustment`]); its status follows (a fee on a paid receivable opens it
//! again). Each is audited and announced (`carebill.collections.adjustment.recorded.v1`).
//! Dunning charges its reminder fees through [`record_adjustment`].

use carebill_domain::collections::base_status;
use carebill_domain::collections::plans::{self as rules, AdjustmentKind, AdjustmentProblem};
use carebill_domain::events::{AdjustmentRecordedV1, Envelope};
use carebill_domain::ids::ReceivableId;
use carebill_domain::{FieldError, MinorUnits, Money};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use carebill_platform::{Error, ErrorCode};

use super::receivables::{AdjustmentRecord, money};
use crate::store::adjustments::{self, AdjustmentRow};
use crate::store::receivables;

/// A checked adjustment asked for over HTTP.
#[derive(Debug, Clone)]
pub(crate) struct NewAdjustment {
    /// The change, signed, in the receivable's currency.
    pub amount: Money,
    /// Fee, interest or correction.
    pub kind: AdjustmentKind,
    /// Why (trimmed, not blank).
    pub reason: String,
}

/// An adjustment made, with what the receivable owes after it.
#[derive(Debug, Clone)]
pub(crate) struct AdjustmentMade {
    /// The adjustment.
    pub adjustment: AdjustmentRecord,
    /// What the receivable owes after it.
    pub outstanding: Money,
}

/// Adjusts receivable `id` in the caller's scope by `a` (the HTTP use case).
#[tracing::instrument(skip_all, fields(receivable_id = %id))]
pub(crate) fn adjust(
    conn: &mut AnyConnection,
    who: &Principal,
    id: ReceivableId,
    a: NewAdjustment,
) -> Result<AdjustmentMade, Error> {
    let found = receivables::find_in_scope(conn, &Scope::of(who), id)?
        .ok_or_else(|| Error::not_found("receivable"))?;
    if a.amount.currency() != found.currency {
        let c = found.currency;
        return Err(Error::new(
            ErrorCode::CurrencyMismatch,
            format!(
                "the adjustment is in {}, the receivable in {c}",
                a.amount.currency()
            ),
        )
        .with_errors(vec![FieldError {
            field: "amount.currency".to_owned(),
            code: "currency_mismatch".to_owned(),
            message: format!("must be the receivable's currency {c}"),
        }]));
    }
    let minor = a
        .amount
        .to_minor()
        .map_err(|e| Error::field("amount.amount", "out_of_range", e.to_string()))?;
    record_adjustment(conn, who, id, minor.0, a.kind, &a.reason)
}

/// Records an adjustment of `amount_minor` (signed, minor units of the receivable's currency)
/// of receivable `id`, whoever's it is, in the caller's transaction: locked (the invoice's key,
/// then the receivable), checked, changed, audited (with `reason`) and announced. For dunning's
/// reminder fees as well as the HTTP use case.
#[tracing::instrument(skip_all, fields(receivable_id = %id))]
pub(crate) fn record_adjustment(
    conn: &mut AnyConnection,
    who: &Principal,
    id: ReceivableId,
    amount_minor: i64,
    kind: AdjustmentKind,
    reason: &str,
) -> Result<AdjustmentMade, Error> {
    let found = receivables::by_ids(conn, &[id])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found("receivable"))?;
    receivables::lock_invoice(conn, found.invoice_id)?;
    let row = receivables::lock_many(conn, &[id])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found("receivable"))?;
    let c = row.currency;
    let reason = reason.trim().to_owned();
    if reason.is_empty() {
        return Err(Error::field("reason", "required", "must not be blank"));
    }
    if row.cancelled() {
        return Err(Error::new(
            ErrorCode::InvoiceCancelled,
            "the invoice was cancelled by a credit note: nothing is owed to adjust",
        ));
    }
    let owed = row.outstanding();
    let left = rules::check_adjustment(MinorUnits(amount_minor), owed).map_err(|p| match p {
        AdjustmentProblem::Zero => Error::field("amount.amount", "zero", "must not be zero"),
        AdjustmentProblem::BelowZero { outstanding } => {
            let message = format!(
                "would take the outstanding {} below zero",
                money(outstanding.0, c)
            );
            Error::new(ErrorCode::BelowZeroOutstanding, message.clone()).with_errors(vec![
                FieldError {
                    field: "amount".to_owned(),
                    code: "below_zero_outstanding".to_owned(),
                    message,
                },
            ])
        }
    })?;
    let adjusted = row.adjusted_minor + amount_minor;
    let status = base_status(
        MinorUnits(row.total_minor + adjusted),
        MinorUnits(row.credited_minor),
        MinorUnits(row.paid_minor),
        MinorUnits(row.written_off_minor),
        false,
    );
    let now = db::now();
    let adjustment_id = uuid::Uuid::now_v7();
    let stored = AdjustmentRow {
        id: adjustment_id.to_string(),
        receivable_id: row.id,
        kind,
        amount_minor,
        reason: reason.clone(),
        recorded_by: who.subject.clone(),
        recorded_at: now,
    };
    adjustments::insert(conn, stored.clone())?;
    receivables::set_adjusted(conn, row.id, adjusted, status, now)?;
    let event = AdjustmentRecordedV1 {
        adjustment_id,
        receivable_id: row.id,
        invoice_id: row.invoice_id,
        invoice_number: row.invoice_number.clone(),
        location_id: row.location_id,
        party: row.party()?,
        kind,
        amount: money(amount_minor, c),
        reason: reason.clone(),
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
        "adjust",
        "receivable",
        &row.id.to_string(),
        serde_json::json!({
            "adjustment_id": adjustment_id,
            "kind": kind,
            "amount": money(amount_minor, c),
            "adjusted": { "before": money(row.adjusted_minor, c), "after": money(adjusted, c) },
            "outstanding": { "before": money(owed.0, c), "after": money(left.0, c) },
            "status": { "before": row.status, "after": status },
        }),
        Some(&reason),
    )?;
    Ok(AdjustmentMade {
        adjustment: AdjustmentRecord::of(stored, c),
        outstanding: money(left.0, c),
    })
}
