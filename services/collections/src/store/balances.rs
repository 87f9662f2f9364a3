//! A party's sums per currency, in SQL over integer minor units (exact on both backends):
//! invoiced, cancelled, credited, paid, written off, adjusted, outstanding, overdue, open
//! receivables, and what was received, allocated, refunded and is left as unallocated credit.
//! For each currency, invoiced + adjusted = cancelled + credited + paid + written off +
//! outstanding: a cancelled invoice
//! counts in `cancelled` whole (partial credits before its cancellation included), and only
//! there; and credit = received − allocated − refunded.

use carebill_domain::collections::ReceivableStatus;
use carebill_domain::events::PartyKind;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::receivables::has_status;
use crate::schema::{payments, receivables};

const INVOICED: &str = "CAST(COALESCE(SUM(total_minor), 0) AS BIGINT)";
const CANCELLED: &str =
    "CAST(COALESCE(SUM(CASE WHEN status = 'cancelled' THEN total_minor ELSE 0 END), 0) AS BIGINT)";
const PAID: &str =
    "CAST(COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE paid_minor END), 0) AS BIGINT)";
const CREDITED: &str = "CAST(COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE credited_minor END), 0) AS BIGINT)";
const WRITTEN_OFF: &str = "CAST(COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE written_off_minor END), 0) AS BIGINT)";
const ADJUSTED: &str = "CAST(COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE adjusted_minor END), 0) AS BIGINT)";
const OUTSTANDING: &str = "CAST(COALESCE(SUM(CASE WHEN status IN ('open', 'partially_paid') THEN total_minor + adjusted_minor - credited_minor - paid_minor - written_off_minor ELSE 0 END), 0) AS BIGINT)";
const OPEN_COUNT: &str =
    "CAST(COUNT(CASE WHEN status IN ('open', 'partially_paid') THEN 1 END) AS BIGINT)";
const OWED: &str = "CAST(COALESCE(SUM(total_minor + adjusted_minor - credited_minor - paid_minor - written_off_minor), 0) AS BIGINT)";
const RECEIVED: &str = "CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT)";
const ALLOCATED: &str = "CAST(COALESCE(SUM(allocated_minor), 0) AS BIGINT)";
const REFUNDED: &str = "CAST(COALESCE(SUM(refunded_minor), 0) AS BIGINT)";
const PREPAID: &str = "CAST(COALESCE(SUM(CASE WHEN kind = 'prepayment' THEN amount_minor - allocated_minor - refunded_minor ELSE 0 END), 0) AS BIGINT)";

/// A party's receivable sums in one currency, in minor units.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct ReceivableSums {
    /// Currency code.
    pub currency: String,
    /// Every invoice.
    pub invoiced: i64,
    /// Invoices cancelled (their whole totals).
    pub cancelled: i64,
    /// Taken off invoices that stand by partial credit notes.
    pub credited: i64,
    /// Paid on invoices that stand.
    pub paid: i64,
    /// Written off invoices that stand.
    pub written_off: i64,
    /// Adjustments (fees, interest, corrections) of invoices that stand, signed.
    pub adjusted: i64,
    /// Still owed.
    pub outstanding: i64,
    /// Receivables still owing.
    pub open: i64,
}

/// A party's payment sums in one currency, in minor units.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct PaymentSums {
    /// Currency code.
    pub currency: String,
    /// Received (payments and prepayments).
    pub received: i64,
    /// Allocated to invoices and not reversed.
    pub allocated: i64,
    /// Refunded.
    pub refunded: i64,
    /// Of the credit, what prepayments hold.
    pub prepaid: i64,
}

/// A party's receivable sums per currency, over the receivables in the caller's scope.
pub(crate) fn receivable_sums(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
) -> Result<Vec<ReceivableSums>, Error> {
    let q = receivables::table
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id.to_owned()))
        .group_by(receivables::currency)
        .select((
            receivables::currency,
            sql::<BigInt>(INVOICED),
            sql::<BigInt>(CANCELLED),
            sql::<BigInt>(CREDITED),
            sql::<BigInt>(PAID),
            sql::<BigInt>(WRITTEN_OFF),
            sql::<BigInt>(ADJUSTED),
            sql::<BigInt>(OUTSTANDING),
            sql::<BigInt>(OPEN_COUNT),
        ))
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    Ok(q.load(conn)?)
}

/// A party's overdue sums per currency at `now`, over the receivables in the caller's scope.
pub(crate) fn overdue_sums(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, Error> {
    let overdue = has_status(conn, ReceivableStatus::Overdue, now)?;
    let q = receivables::table
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id.to_owned()))
        .filter(overdue)
        .group_by(receivables::currency)
        .select((receivables::currency, sql::<BigInt>(OWED)))
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    Ok(q.load(conn)?)
}

/// A party's payment sums per currency (its credit is received − allocated − refunded).
pub(crate) fn payment_sums(
    conn: &mut AnyConnection,
    kind: PartyKind,
    party_id: &str,
) -> Result<Vec<PaymentSums>, Error> {
    Ok(payments::table
        .filter(payments::party_kind.eq(kind.as_str()))
        .filter(payments::party_id.eq(party_id))
        .group_by(payments::currency)
        .select((
            payments::currency,
            sql::<BigInt>(RECEIVED),
            sql::<BigInt>(ALLOCATED),
            sql::<BigInt>(REFUNDED),
            sql::<BigInt>(PREPAID),
        ))
        .load(conn)?)
}
