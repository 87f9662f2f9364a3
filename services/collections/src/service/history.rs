//! A party's money history: what it paid (payments and prepayments), where each went
//! (allocations, and their reversal by credit notes), what was paid back (refunds) and what was
//! written off its receivables and what adjustments changed them by, with when, oldest first.
//! Five queries
//! ([`crate::store::history`]), merged here.

use carebill_domain::Currency;
use carebill_domain::Money;
use carebill_domain::events::PartyKind;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::{DateTime, NaiveDate, Utc};

use super::receivables::money;
use crate::store::{history, receivables};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// Money received (a payment or a prepayment).
    Received,
    /// Part of a payment applied to an invoice.
    Allocated,
    /// An allocation returned to credit by a credit note.
    Reversed,
    /// Credit paid back.
    Refunded,
    /// Part of what an invoice owed, written off.
    WrittenOff,
    /// What an invoice owes raised or lowered (signed).
    Adjusted,
}

impl EntryKind {
    /// The wire form.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EntryKind::Received => "received",
            EntryKind::Allocated => "allocated",
            EntryKind::Reversed => "reversed",
            EntryKind::Refunded => "refunded",
            EntryKind::WrittenOff => "written_off",
            EntryKind::Adjusted => "adjusted",
        }
    }
}

/// One line of the history.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The payment, allocation, refund or write-off.
    pub id: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// The day it concerns (received or refunded on; the day recorded otherwise).
    pub day: NaiveDate,
    /// What happened.
    pub kind: EntryKind,
    /// How much.
    pub amount: Money,
    /// The payment (none for a write-off).
    pub payment_id: Option<String>,
    /// The invoice (allocations, reversals, write-offs).
    pub invoice_id: Option<String>,
    /// Its number.
    pub invoice_number: Option<String>,
    /// Method (payments, refunds), the payment's kind, the write-off's kind.
    pub detail: Option<String>,
    /// A reference (payments, refunds) or the credit note that reversed an allocation.
    pub reference: Option<String>,
    /// Why (refunds, write-offs).
    pub reason: Option<String>,
}

fn currency(code: &str) -> Result<Currency, Error> {
    Currency::parse(code).map_err(|e| Error::stored("currency", code, e))
}

/// The history of party `party_id` of `kind` as the caller may see it, oldest first; not found
/// when nothing is known about the party, or a payer's portal user asks about another party.
#[tracing::instrument(skip_all, fields(party_kind = %kind, party_id = %party_id))]
pub(crate) fn history(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: uuid::Uuid,
) -> Result<Vec<Entry>, Error> {
    let id = party_id.to_string();
    if let Some(code) = &scope.payer
        && (kind != PartyKind::Payer || !receivables::payer_known_as(conn, &id, code)?)
    {
        return Err(Error::not_found("party"));
    }
    let mut out = Vec::new();
    for r in history::received(conn, kind, &id)? {
        let c = currency(&r.currency)?;
        out.push(Entry {
            id: r.payment_id.clone(),
            at: r.recorded_at.and_utc(),
            day: r.received_on,
            kind: EntryKind::Received,
            amount: money(r.amount_minor, c),
            payment_id: Some(r.payment_id),
            invoice_id: None,
            invoice_number: None,
            detail: Some(format!("{} {}", r.kind, r.method)),
            reference: r.reference,
            reason: None,
        });
    }
    for a in history::allocated(conn, scope, kind, &id)? {
        let c = currency(&a.currency)?;
        out.push(Entry {
            id: a.id.clone(),
            at: a.allocated_at.and_utc(),
            day: a.allocated_at.date(),
            kind: EntryKind::Allocated,
            amount: money(a.amount_minor, c),
            payment_id: Some(a.payment_id.clone()),
            invoice_id: Some(a.invoice_id.clone()),
            invoice_number: Some(a.invoice_number.clone()),
            detail: None,
            reference: None,
            reason: None,
        });
        if let Some(at) = a.reversed_at {
            out.push(Entry {
                id: a.id,
                at: at.and_utc(),
                day: at.date(),
                kind: EntryKind::Reversed,
                amount: money(a.amount_minor, c),
                payment_id: Some(a.payment_id),
                invoice_id: Some(a.invoice_id),
                invoice_number: Some(a.invoice_number),
                detail: None,
                reference: a.reversed_by_credit_note_id,
                reason: None,
            });
        }
    }
    for f in history::refunded(conn, kind, &id)? {
        let c = currency(&f.currency)?;
        out.push(Entry {
            id: f.id,
            at: f.issued_at.and_utc(),
            day: f.refunded_on,
            kind: EntryKind::Refunded,
            amount: money(f.amount_minor, c),
            payment_id: Some(f.payment_id),
            invoice_id: None,
            invoice_number: None,
            detail: Some(f.method),
            reference: f.reference,
            reason: Some(f.reason),
        });
    }
    for w in history::written_off(conn, scope, kind, &id)? {
        let c = currency(&w.currency)?;
        out.push(Entry {
            id: w.id,
            at: w.recorded_at.and_utc(),
            day: w.recorded_at.date(),
            kind: EntryKind::WrittenOff,
            amount: money(w.amount_minor, c),
            payment_id: None,
            invoice_id: Some(w.invoice_id),
            invoice_number: Some(w.invoice_number),
            detail: Some(w.kind),
            reference: None,
            reason: Some(w.reason),
        });
    }
    for a in history::adjusted(conn, scope, kind, &id)? {
        let c = currency(&a.currency)?;
        out.push(Entry {
            id: a.id,
            at: a.recorded_at.and_utc(),
            day: a.recorded_at.date(),
            kind: EntryKind::Adjusted,
            amount: money(a.amount_minor, c),
            payment_id: None,
            invoice_id: Some(a.invoice_id),
            invoice_number: Some(a.invoice_number),
            detail: Some(a.kind),
            reference: None,
            reason: Some(a.reason),
        });
    }
    if out.is_empty() && !receivables::party_known(conn, scope, kind, &id)? {
        return Err(Error::not_found("party"));
    }
    // Oldest first; what was received before what it paid, at the same instant.
    out.sort_by_key(|e| (e.at, e.kind as u8));
    Ok(out)
}
