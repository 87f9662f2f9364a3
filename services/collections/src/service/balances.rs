//! A party's balance: per currency, what was invoiced, cancelled, credited by partial credit
//! notes, paid, written off, adjusted, what is outstanding and overdue, and the money received,
//! allocated, refunded and left as credit (payments and prepayments not, or no longer,
//! allocated). Every figure is a sum in SQL over integer minor units, so it is exact on both
//! backends: invoiced + adjusted = cancelled + credited + paid + written off + outstanding, and
//! credit =
//! received − allocated − refunded, to the minor unit.

use std::collections::BTreeMap;

use carebill_domain::Currency;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::{DateTime, Utc};

use super::payments::{self, PaymentRecord};
use crate::store::{balances, receivables};

/// How many recent payments a balance shows.
const RECENT_PAYMENTS: i64 = 10;

/// A party's figures in one currency, in minor units.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sums {
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
    /// Adjustments of invoices that stand (fees and interest up, corrections either way).
    pub adjusted: i64,
    /// Still owed.
    pub outstanding: i64,
    /// Of the outstanding, past its due date.
    pub overdue: i64,
    /// Received: payments and prepayments.
    pub received: i64,
    /// Allocated to invoices and not reversed.
    pub allocated: i64,
    /// Refunded.
    pub refunded: i64,
    /// Unallocated credit: received − allocated − refunded.
    pub credit: i64,
    /// Of the credit, what prepayments hold.
    pub prepaid: i64,
    /// Receivables still owing.
    pub open: i64,
}

/// A party's balance.
#[derive(Debug, Clone)]
pub(crate) struct BalanceView {
    /// The party.
    pub party: PartyRef,
    /// Figures per currency, by currency code.
    pub currencies: Vec<(Currency, Sums)>,
    /// The party's latest payments, newest first.
    pub recent_payments: Vec<PaymentRecord>,
}

/// The balance of party `party_id` of `kind` as the caller may see it at `now`; not found when
/// nothing is known about the party, or a payer's portal user asks about another party.
#[tracing::instrument(skip_all, fields(party_kind = %kind, party_id = %party_id))]
pub(crate) fn balance(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: uuid::Uuid,
    now: DateTime<Utc>,
) -> Result<BalanceView, Error> {
    let id = party_id.to_string();
    if let Some(code) = &scope.payer
        && (kind != PartyKind::Payer || !receivables::payer_known_as(conn, &id, code)?)
    {
        return Err(Error::not_found("party"));
    }
    let mut by_currency: BTreeMap<String, Sums> = BTreeMap::new();
    for r in balances::receivable_sums(conn, scope, kind, &id)? {
        let s = by_currency.entry(r.currency).or_default();
        (
            s.invoiced,
            s.cancelled,
            s.credited,
            s.paid,
            s.written_off,
            s.adjusted,
            s.outstanding,
            s.open,
        ) = (
            r.invoiced,
            r.cancelled,
            r.credited,
            r.paid,
            r.written_off,
            r.adjusted,
            r.outstanding,
            r.open,
        );
    }
    for (currency, owed) in balances::overdue_sums(conn, scope, kind, &id, now)? {
        by_currency.entry(currency).or_default().overdue = owed;
    }
    for p in balances::payment_sums(conn, kind, &id)? {
        let s = by_currency.entry(p.currency).or_default();
        (s.received, s.allocated, s.refunded, s.prepaid) =
            (p.received, p.allocated, p.refunded, p.prepaid);
        s.credit = p.received - p.allocated - p.refunded;
    }
    if by_currency.is_empty() {
        return Err(Error::not_found("party"));
    }
    let payer_code = receivables::first_payer_code(conn, kind, &id)?;
    let currencies = by_currency
        .into_iter()
        .map(|(c, s)| {
            Currency::parse(&c)
                .map(|c| (c, s))
                .map_err(|e| Error::stored("currency", &c, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(BalanceView {
        party: PartyRef {
            kind,
            id: party_id,
            payer_code,
            payer_kind: None,
            coverage_id: None,
            policy_number: None,
            billing: None,
        },
        currencies,
        recent_payments: payments::recent(conn, scope, kind, &id, RECENT_PAYMENTS)?,
    })
}
