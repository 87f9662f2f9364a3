//! A party's money history, read in four queries whatever its length: its payments, the
//! allocations of its payments (with their invoices), its refunds and the write-offs of its
//! receivables. Allocations and write-offs are those to receivables of the caller's locations.

use carebill_domain::events::PartyKind;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{
    allocations, payments, receivable_adjustments, receivables, refunds, write_offs,
};

/// A payment received.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct ReceivedRow {
    /// The payment.
    pub payment_id: String,
    /// Currency.
    pub currency: String,
    /// Amount, in minor units.
    pub amount_minor: i64,
    /// `payment` or `prepayment`.
    pub kind: String,
    /// Method.
    pub method: String,
    /// Its reference.
    pub reference: Option<String>,
    /// Day received.
    pub received_on: NaiveDate,
    /// When recorded.
    pub recorded_at: NaiveDateTime,
}

/// An allocation of one of the party's payments.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct AllocatedRow {
    /// The allocation.
    pub id: String,
    /// The payment.
    pub payment_id: String,
    /// Currency.
    pub currency: String,
    /// Amount, in minor units.
    pub amount_minor: i64,
    /// The invoice.
    pub invoice_id: String,
    /// Its number.
    pub invoice_number: String,
    /// When allocated.
    pub allocated_at: NaiveDateTime,
    /// When a credit note reversed it.
    pub reversed_at: Option<NaiveDateTime>,
    /// Which.
    pub reversed_by_credit_note_id: Option<String>,
}

/// A refund of one of the party's payments.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct RefundedRow {
    /// The refund.
    pub id: String,
    /// The payment.
    pub payment_id: String,
    /// Currency.
    pub currency: String,
    /// Amount, in minor units.
    pub amount_minor: i64,
    /// Method.
    pub method: String,
    /// Its reference.
    pub reference: Option<String>,
    /// Why.
    pub reason: String,
    /// Day paid back.
    pub refunded_on: NaiveDate,
    /// When issued.
    pub issued_at: NaiveDateTime,
}

/// A write-off of one of the party's receivables.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct WrittenOffRow {
    /// The write-off.
    pub id: String,
    /// Currency.
    pub currency: String,
    /// Amount, in minor units.
    pub amount_minor: i64,
    /// Kind.
    pub kind: String,
    /// Why.
    pub reason: String,
    /// The invoice.
    pub invoice_id: String,
    /// Its number.
    pub invoice_number: String,
    /// When recorded.
    pub recorded_at: NaiveDateTime,
}

/// The party's payments.
pub(crate) fn received(
    conn: &mut AnyConnection,
    kind: PartyKind,
    party_id: &str,
) -> Result<Vec<ReceivedRow>, Error> {
    Ok(payments::table
        .filter(payments::party_kind.eq(kind.as_str()))
        .filter(payments::party_id.eq(party_id.to_owned()))
        .order(payments::id.asc())
        .select((
            payments::id,
            payments::currency,
            payments::amount_minor,
            payments::kind,
            payments::method,
            payments::reference,
            payments::received_on,
            payments::recorded_at,
        ))
        .load(conn)?)
}

/// The allocations of the party's payments to receivables in the caller's locations.
pub(crate) fn allocated(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
) -> Result<Vec<AllocatedRow>, Error> {
    let mut q = allocations::table
        .inner_join(payments::table)
        .inner_join(receivables::table)
        .filter(payments::party_kind.eq(kind.as_str()))
        .filter(payments::party_id.eq(party_id.to_owned()))
        .order(allocations::id.asc())
        .select((
            allocations::id,
            allocations::payment_id,
            payments::currency,
            allocations::amount_minor,
            receivables::invoice_id,
            receivables::invoice_number,
            allocations::allocated_at,
            allocations::reversed_at,
            allocations::reversed_by_credit_note_id,
        ))
        .into_boxed();
    if let Some(codes) = &scope.locations {
        q = q.filter(receivables::location_code.eq_any(codes.clone()));
    }
    Ok(q.load(conn)?)
}

/// The refunds of the party's payments.
pub(crate) fn refunded(
    conn: &mut AnyConnection,
    kind: PartyKind,
    party_id: &str,
) -> Result<Vec<RefundedRow>, Error> {
    Ok(refunds::table
        .inner_join(payments::table)
        .filter(payments::party_kind.eq(kind.as_str()))
        .filter(payments::party_id.eq(party_id.to_owned()))
        .order(refunds::id.asc())
        .select((
            refunds::id,
            refunds::payment_id,
            payments::currency,
            refunds::amount_minor,
            refunds::method,
            refunds::reference,
            refunds::reason,
            refunds::refunded_on,
            refunds::issued_at,
        ))
        .load(conn)?)
}

/// The write-offs of the party's receivables in the caller's scope.
pub(crate) fn written_off(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
) -> Result<Vec<WrittenOffRow>, Error> {
    let q = write_offs::table
        .inner_join(receivables::table)
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id.to_owned()))
        .order(write_offs::id.asc())
        .select((
            write_offs::id,
            receivables::currency,
            write_offs::amount_minor,
            write_offs::kind,
            write_offs::reason,
            receivables::invoice_id,
            receivables::invoice_number,
            write_offs::recorded_at,
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

/// The adjustments of the party's receivables in the caller's scope (the same shape as a
/// write-off: signed amount, kind, reason, invoice).
pub(crate) fn adjusted(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
) -> Result<Vec<WrittenOffRow>, Error> {
    let q = receivable_adjustments::table
        .inner_join(receivables::table)
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id.to_owned()))
        .order(receivable_adjustments::id.asc())
        .select((
            receivable_adjustments::id,
            receivables::currency,
            receivable_adjustments::amount_minor,
            receivable_adjustments::kind,
            receivable_adjustments::reason,
            receivables::invoice_id,
            receivables::invoice_number,
            receivable_adjustments::recorded_at,
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
