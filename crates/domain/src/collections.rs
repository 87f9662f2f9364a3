//! Collections: what is owed on invoices and how payments are applied. Pure; no I/O.
//!
//! A receivable is what is owed on one issued invoice. Its status follows from its total, what
//! partial credit notes took off it, the money allocated to it, whether a (full) credit note
//! cancelled it, and — for `overdue` — the day it is in the issuing location's time zone. Only
//! the *base* status (everything but `overdue`) is stored; `overdue` depends on today's date and
//! is computed when read.
//!
//! To the minor unit, for a receivable that stands:
//! `total = credited + paid + written_off + outstanding` ([`partial_credit`] returns to the
//! party's credit what was paid beyond what is left to pay, and takes back what was written off
//! beyond it).
//!
//! Money that is not on an invoice is the party's credit: for each payment (a prepayment is a
//! payment recorded before its invoices), `credit = amount − allocated − refunded`, never
//! negative ([`payment_credit`], [`check_refund`]). A payment may be made of several tenders
//! that add up to it ([`check_tenders`]); a prepayment is applied to an invoice as it arrives
//! ([`apply_credits`]); a write-off takes what is left off a receivable ([`check_write_off`]);
//! aging puts what is owed in buckets of days past due ([`aging_bucket`], [`aging_bounds`]).
//!
//! A payment is applied to invoices by [`plan_allocations`]: it checks every requested
//! allocation against what the receivable still owes and returns the plan with the remainder
//! that stays on the party's balance as credit. Amounts are exact: allocations plus remainder
//! equal the payment to the minor unit.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::InvoiceId;
use crate::money::{Currency, MinorUnits, Money};

pub mod plans;
pub mod remittance;

crate::accounts::text_enum!(
    /// Where a receivable stands.
    ReceivableStatus {
        /// Nothing paid yet, not past its due date.
        Open = "open",
        /// Part paid, not past its due date.
        PartiallyPaid = "partially_paid",
        /// Nothing owed any more: fully paid, or paid and partially credited up to the total
        /// (partial credit notes alone may take it there).
        Paid = "paid",
        /// Past its due date (in the location's time zone) and not fully paid.
        Overdue = "overdue",
        /// Cancelled by a credit note; nothing is owed and allocated money went back to credit.
        Cancelled = "cancelled",
        /// Nothing owed any more, and part of it was written off rather than paid or credited.
        WrittenOff = "written_off",
    }
);

impl ReceivableStatus {
    /// Whether money is still owed (open, partially paid or overdue).
    pub fn is_owing(self) -> bool {
        matches!(
            self,
            ReceivableStatus::Open | ReceivableStatus::PartiallyPaid | ReceivableStatus::Overdue
        )
    }
}

/// What is still owed: `total - credited - paid - written_off`, never negative, and nothing
/// once cancelled.
pub fn outstanding(
    total: MinorUnits,
    credited: MinorUnits,
    paid: MinorUnits,
    written_off: MinorUnits,
    cancelled: bool,
) -> MinorUnits {
    if cancelled {
        MinorUnits(0)
    } else {
        MinorUnits(
            total
                .0
                .saturating_sub(credited.0)
                .saturating_sub(paid.0)
                .saturating_sub(written_off.0)
                .max(0),
        )
    }
}

/// The stored status: everything but `overdue`, which depends on the day it is read. By what is
/// left to pay after partial credits and write-offs: `paid` once credits and payments cover the
/// total, `written_off` once a write-off covers the rest.
pub fn base_status(
    total: MinorUnits,
    credited: MinorUnits,
    paid: MinorUnits,
    written_off: MinorUnits,
    cancelled: bool,
) -> ReceivableStatus {
    let settled = paid.0.saturating_add(credited.0);
    if cancelled {
        ReceivableStatus::Cancelled
    } else if settled >= total.0 {
        ReceivableStatus::Paid
    } else if settled.saturating_add(written_off.0) >= total.0 {
        ReceivableStatus::WrittenOff
    } else if paid.0 > 0 {
        ReceivableStatus::PartiallyPaid
    } else {
        ReceivableStatus::Open
    }
}

/// The status as seen on `today` (the location's calendar day): `overdue` once the due date has
/// passed while money is still owed.
pub fn receivable_status(
    total: MinorUnits,
    credited: MinorUnits,
    paid: MinorUnits,
    written_off: MinorUnits,
    cancelled: bool,
    due_date: NaiveDate,
    today: NaiveDate,
) -> ReceivableStatus {
    let base = base_status(total, credited, paid, written_off, cancelled);
    if base.is_owing() && due_date < today {
        ReceivableStatus::Overdue
    } else {
        base
    }
}

/// A receivable after a partial credit note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartiallyCredited {
    /// What partial credit notes took off the invoice, in all.
    pub credited: MinorUnits,
    /// What stays paid on it: never more than what is left to pay after the credits.
    pub paid: MinorUnits,
    /// What stays written off: never more than what is left after the credits and payments
    /// (a credit note takes back a write-off before it returns money).
    pub written_off: MinorUnits,
    /// What was paid beyond that: it goes back to the party's credit (unallocated), as money
    /// paid on an invoice a full credit note cancels does.
    pub returned: MinorUnits,
}

/// What a partial credit note leaves the invoice billing is not between nothing and its total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the invoice would still bill {} minor units of its {}", remaining.0, total.0)]
pub struct RemainingOutOfRange {
    /// What the credit note says the invoice still bills.
    pub remaining: MinorUnits,
    /// The invoice's total.
    pub total: MinorUnits,
}

/// Applies a partial credit note that leaves the invoice billing `remaining` to a receivable of
/// `total`, `credited` so far, with `paid` allocated to it and `written_off` written off.
///
/// The credited amount is set from `remaining` (`total - remaining`), never added to and never
/// lowered: credit notes only take off, so the same credit note applied again, or an older one
/// applied late, changes nothing. Money paid stays before a write-off does: the write-off
/// shrinks first, and only what was paid beyond what is left to pay is returned.
pub fn partial_credit(
    total: MinorUnits,
    credited: MinorUnits,
    paid: MinorUnits,
    written_off: MinorUnits,
    remaining: MinorUnits,
) -> Result<PartiallyCredited, RemainingOutOfRange> {
    partial_credit_adjusted(total, MinorUnits(0), credited, paid, written_off, remaining)
}

/// [`partial_credit`] of a receivable whose adjustments ([`plans::check_adjustment`]) changed
/// what it owes by `adjusted`: what is left to pay is `total + adjusted - credited`, the credit
/// measured against the invoice's total but never more than `total + adjusted` (a downward
/// correction took that part off already), so that `total + adjusted = credited + paid +
/// written_off + outstanding` holds.
pub fn partial_credit_adjusted(
    total: MinorUnits,
    adjusted: MinorUnits,
    credited: MinorUnits,
    paid: MinorUnits,
    written_off: MinorUnits,
    remaining: MinorUnits,
) -> Result<PartiallyCredited, RemainingOutOfRange> {
    if remaining.0 < 0 || remaining.0 > total.0 {
        return Err(RemainingOutOfRange { remaining, total });
    }
    // A downward correction already took part of what the credit note takes off: never credit
    // below nothing left to pay.
    let cap = total.0.saturating_add(adjusted.0).max(credited.0);
    let credited = MinorUnits((total.0 - remaining.0).max(credited.0).min(cap));
    let payable = total
        .0
        .saturating_add(adjusted.0)
        .saturating_sub(credited.0)
        .max(0);
    let kept = paid.0.min(payable).max(0);
    let written = written_off.0.min(payable - kept).max(0);
    Ok(PartiallyCredited {
        credited,
        paid: MinorUnits(kept),
        written_off: MinorUnits(written),
        returned: MinorUnits(paid.0 - kept),
    })
}

crate::accounts::text_enum!(
    /// How far the invoices of a batch sent to collections are collected.
    BatchCollectionStatus {
        /// Something is owed and nothing is paid on any of its invoices.
        Open = "open",
        /// Something is paid and something is still owed.
        PartlyCollected = "partly_collected",
        /// Nothing is owed on any of its invoices: paid, or settled by credit notes.
        Collected = "collected",
    }
);

/// What collections knows of one invoice of a batch: its receivable's amounts, or nothing when
/// the invoice's issue event has not arrived yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchInvoice {
    /// The invoice's total, as the batch lists it.
    pub total: MinorUnits,
    /// Its receivable, once it exists.
    pub receivable: Option<ReceivableAmounts>,
}

/// The amounts of a receivable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivableAmounts {
    /// The invoice total.
    pub total: MinorUnits,
    /// Taken off by partial credit notes.
    pub credited: MinorUnits,
    /// Paid on it.
    pub paid: MinorUnits,
    /// Written off.
    pub written_off: MinorUnits,
    /// Whether a (full) credit note cancelled it.
    pub cancelled: bool,
}

/// A batch's invoices summed as a party's balance sums its receivables: to the minor unit,
/// the invoices' totals = `cancelled + credited + paid + written_off + outstanding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchCollection {
    /// Invoices with a receivable.
    pub receivables: i64,
    /// Invoices whose issue event has not arrived yet: their totals count as outstanding.
    pub pending: i64,
    /// Totals of the invoices credit notes cancelled (partial credits before included).
    pub cancelled: MinorUnits,
    /// Taken off the invoices that stand by partial credit notes.
    pub credited: MinorUnits,
    /// Paid on the invoices that stand.
    pub paid: MinorUnits,
    /// Written off the invoices that stand.
    pub written_off: MinorUnits,
    /// Still owed.
    pub outstanding: MinorUnits,
    /// Where the batch stands.
    pub status: BatchCollectionStatus,
}

/// Sums a batch's invoices. An invoice collections has no receivable for yet is owed in full
/// (the batch says it was sent), so a batch is `collected` only once every invoice arrived and
/// nothing is owed on any; `open` while nothing is paid on any.
pub fn batch_collection(invoices: impl IntoIterator<Item = BatchInvoice>) -> BatchCollection {
    let mut c = BatchCollection {
        receivables: 0,
        pending: 0,
        cancelled: MinorUnits(0),
        credited: MinorUnits(0),
        paid: MinorUnits(0),
        written_off: MinorUnits(0),
        outstanding: MinorUnits(0),
        status: BatchCollectionStatus::Open,
    };
    let add = |a: MinorUnits, b: i64| MinorUnits(a.0.saturating_add(b));
    for i in invoices {
        match i.receivable {
            None => {
                c.pending += 1;
                c.outstanding = add(c.outstanding, i.total.0);
            }
            Some(r) => {
                c.receivables += 1;
                if r.cancelled {
                    c.cancelled = add(c.cancelled, r.total.0);
                } else {
                    c.credited = add(c.credited, r.credited.0);
                    c.paid = add(c.paid, r.paid.0);
                    c.written_off = add(c.written_off, r.written_off.0);
                    c.outstanding = add(
                        c.outstanding,
                        outstanding(r.total, r.credited, r.paid, r.written_off, false).0,
                    );
                }
            }
        }
    }
    c.status = batch_collection_status(c.paid, c.outstanding);
    c
}

/// Where a batch stands from what is paid and what is still owed on its invoices.
pub fn batch_collection_status(paid: MinorUnits, outstanding: MinorUnits) -> BatchCollectionStatus {
    if outstanding.0 <= 0 {
        BatchCollectionStatus::Collected
    } else if paid.0 > 0 {
        BatchCollectionStatus::PartlyCollected
    } else {
        BatchCollectionStatus::Open
    }
}

crate::accounts::text_enum!(
    /// What a payment is.
    PaymentKind {
        /// Money received for invoices (issued or not).
        Payment = "payment",
        /// A deposit before there is an invoice: applied to the party's invoices as they
        /// arrive (its episode's first), or by hand.
        Prepayment = "prepayment",
    }
);

/// What stays of a payment as the party's credit: `amount − allocated − refunded`.
pub fn payment_credit(
    amount: MinorUnits,
    allocated: MinorUnits,
    refunded: MinorUnits,
) -> MinorUnits {
    MinorUnits(
        amount
            .0
            .saturating_sub(allocated.0)
            .saturating_sub(refunded.0),
    )
}

/// Why a refund cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundProblem {
    /// The amount is zero or negative.
    #[error("must be greater than zero")]
    NotPositive,
    /// More than the payment's credit.
    #[error("exceeds the unallocated credit of {} minor units", credit.0)]
    ExceedsCredit {
        /// What is left of the payment's credit.
        credit: MinorUnits,
    },
}

/// Checks a refund of `amount` out of a payment's `credit` (what is neither allocated nor
/// refunded): positive and never above it, so the credit never goes below zero.
pub fn check_refund(amount: MinorUnits, credit: MinorUnits) -> Result<MinorUnits, RefundProblem> {
    if amount.0 <= 0 {
        Err(RefundProblem::NotPositive)
    } else if amount.0 > credit.0 {
        Err(RefundProblem::ExceedsCredit { credit })
    } else {
        Ok(MinorUnits(credit.0 - amount.0))
    }
}

/// Why a payment's tenders are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenderProblem {
    /// A tender of nothing.
    #[error("must be greater than zero")]
    NotPositive {
        /// Position in the request.
        index: usize,
    },
    /// A tender in another currency than the payment.
    #[error("{found} does not match the payment's currency {expected}")]
    CurrencyMismatch {
        /// Position in the request.
        index: usize,
        /// The payment's currency.
        expected: Currency,
        /// The tender's.
        found: Currency,
    },
    /// The tenders do not add up to the payment.
    #[error("the tenders add up to {sum}, the payment is {amount}")]
    DoNotAddUp {
        /// Their sum (saturated at the storage range).
        sum: Money,
        /// The payment's amount.
        amount: Money,
    },
}

impl TenderProblem {
    /// The dotted path of the offending input field.
    pub fn field(&self) -> String {
        match self {
            TenderProblem::NotPositive { index } => format!("tenders.{index}.amount"),
            TenderProblem::CurrencyMismatch { index, .. } => {
                format!("tenders.{index}.amount.currency")
            }
            TenderProblem::DoNotAddUp { .. } => "tenders".to_owned(),
        }
    }

    /// The field-level code.
    pub fn code(&self) -> &'static str {
        match self {
            TenderProblem::NotPositive { .. } => "not_positive",
            TenderProblem::CurrencyMismatch { .. } => "currency_mismatch",
            TenderProblem::DoNotAddUp { .. } => "tenders_do_not_add_up",
        }
    }
}

/// Checks the tenders a payment of `amount` is made of: each positive and in its currency,
/// together exactly the payment (to the minor unit). Every problem found, in request order.
pub fn check_tenders(amount: Money, tenders: &[Money]) -> Result<(), Vec<TenderProblem>> {
    let currency = amount.currency();
    let mut problems = Vec::new();
    let mut sum: i64 = 0;
    for (index, t) in tenders.iter().enumerate() {
        if t.currency() != currency {
            problems.push(TenderProblem::CurrencyMismatch {
                index,
                expected: currency,
                found: t.currency(),
            });
            continue;
        }
        let m = t.to_minor().map(|m| m.0).unwrap_or(i64::MAX);
        if m <= 0 {
            problems.push(TenderProblem::NotPositive { index });
            continue;
        }
        sum = sum.saturating_add(m);
    }
    let expected = amount.to_minor().map(|m| m.0).unwrap_or(i64::MAX);
    if problems.is_empty() && sum != expected {
        problems.push(TenderProblem::DoNotAddUp {
            sum: Money::from_minor(MinorUnits(sum), currency),
            amount,
        });
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Applies credits (each what is left of one prepayment, in the order they are to be used) to
/// `owed`: each gives what it has until nothing is owed. Returns what each gives, in the same
/// order (zero for those not needed): together `min(owed, Σ credits)`, each at most its credit.
pub fn apply_credits(owed: MinorUnits, credits: &[MinorUnits]) -> Vec<MinorUnits> {
    let mut left = owed.0.max(0);
    credits
        .iter()
        .map(|c| {
            let give = c.0.max(0).min(left);
            left -= give;
            MinorUnits(give)
        })
        .collect()
}

crate::accounts::text_enum!(
    /// Why the rest of a receivable is written off.
    WriteOffKind {
        /// The party will not pay (collection failed or is not worth pursuing).
        BadDebt = "bad_debt",
        /// What is left is too small to collect: at most the currency's threshold.
        SmallBalance = "small_balance",
        /// Forgiven, for the patient's circumstances.
        Charity = "charity",
    }
);

/// Why a write-off cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteOffProblem {
    /// The amount is zero or negative (or nothing is owed).
    #[error("must be greater than zero")]
    NotPositive,
    /// More than the receivable still owes.
    #[error("exceeds the outstanding {} minor units", outstanding.0)]
    ExceedsOutstanding {
        /// What it still owes.
        outstanding: MinorUnits,
    },
    /// A small-balance write-off of a receivable that owes more than the threshold, or in a
    /// currency with no threshold.
    #[error("a small-balance write-off needs an outstanding of at most the currency's threshold")]
    AboveThreshold {
        /// The currency's threshold, if one is set.
        threshold: Option<MinorUnits>,
        /// What it still owes.
        outstanding: MinorUnits,
    },
}

/// Checks a write-off of `amount` of a receivable that still owes `outstanding`: positive, at
/// most the outstanding, and for a small balance, the outstanding at most `threshold` (no
/// threshold: no small-balance write-offs in that currency). Returns what is left owed.
pub fn check_write_off(
    kind: WriteOffKind,
    amount: MinorUnits,
    outstanding: MinorUnits,
    threshold: Option<MinorUnits>,
) -> Result<MinorUnits, WriteOffProblem> {
    if amount.0 <= 0 {
        return Err(WriteOffProblem::NotPositive);
    }
    if amount.0 > outstanding.0 {
        return Err(WriteOffProblem::ExceedsOutstanding { outstanding });
    }
    if kind == WriteOffKind::SmallBalance && threshold.is_none_or(|t| outstanding.0 > t.0) {
        return Err(WriteOffProblem::AboveThreshold {
            threshold,
            outstanding,
        });
    }
    Ok(MinorUnits(outstanding.0 - amount.0))
}

crate::accounts::text_enum!(
    /// How far past its due date what is owed is, on a given day.
    AgingBucket {
        /// Not yet due (due that day or later).
        Current = "current",
        /// 1 to 30 days past due.
        Days1To30 = "days_1_30",
        /// 31 to 60 days past due.
        Days31To60 = "days_31_60",
        /// 61 to 90 days past due.
        Days61To90 = "days_61_90",
        /// More than 90 days past due.
        Over90 = "over_90",
    }
);

crate::accounts::text_enum!(
    /// What the aging report groups receivables by.
    AgingGroupBy {
        /// The payer's code (receivables owed by patients make one group of no payer).
        Payer = "payer",
        /// The patient the care was for.
        Patient = "patient",
        /// The issuing location.
        Location = "location",
        /// The sent batch the invoice is in (invoices in no batch make one group).
        Batch = "batch",
    }
);

/// The bucket of a receivable due on `due_date`, seen on `as_of`.
pub fn aging_bucket(due_date: NaiveDate, as_of: NaiveDate) -> AgingBucket {
    let late = (as_of - due_date).num_days();
    match late {
        i64::MIN..=0 => AgingBucket::Current,
        1..=30 => AgingBucket::Days1To30,
        31..=60 => AgingBucket::Days31To60,
        61..=90 => AgingBucket::Days61To90,
        _ => AgingBucket::Over90,
    }
}

/// The earliest due date of each bucket but the last, on `as_of`, for a query that compares
/// due dates instead of computing days: due on or after `current` is current, on or after
/// `days_1_30` (and before `current`) is 1–30 days past due, and so on; before `days_61_90`
/// is over 90. [`aging_bucket`] agrees with it for every date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgingBounds {
    /// `as_of`.
    pub current: NaiveDate,
    /// `as_of − 30 days`.
    pub days_1_30: NaiveDate,
    /// `as_of − 60 days`.
    pub days_31_60: NaiveDate,
    /// `as_of − 90 days`.
    pub days_61_90: NaiveDate,
}

/// The bucket boundaries on `as_of` (see [`AgingBounds`]).
pub fn aging_bounds(as_of: NaiveDate) -> AgingBounds {
    let back = |days| as_of - chrono::Duration::days(days);
    AgingBounds {
        current: as_of,
        days_1_30: back(30),
        days_31_60: back(60),
        days_61_90: back(90),
    }
}

/// The calendar day at `now` in an IANA time zone; an unknown zone counts as UTC (the zone
/// comes from an event and was validated by its producer).
pub fn local_today(time_zone: &str, now: DateTime<Utc>) -> NaiveDate {
    match time_zone.parse::<chrono_tz::Tz>() {
        Ok(tz) => now.with_timezone(&tz).date_naive(),
        Err(_) => now.date_naive(),
    }
}

/// What the planner needs to know about an invoice a payment is to be applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocationTarget {
    /// The receivable's currency.
    pub currency: Currency,
    /// What it still owes.
    pub outstanding: MinorUnits,
    /// Whether a credit note cancelled it.
    pub cancelled: bool,
    /// Whether it is owed by the paying party.
    pub same_party: bool,
}

/// One allocation asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedAllocation {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// How much of the payment to apply to it.
    pub amount: Money,
}

/// What is wrong with one requested allocation, or with all of them together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocationProblem {
    /// The amount is zero or negative.
    #[error("must be greater than zero")]
    NotPositive {
        /// Position in the request.
        index: usize,
    },
    /// The invoice was already listed earlier in the request.
    #[error("invoice already listed at allocations.{first}")]
    Duplicate {
        /// Position in the request.
        index: usize,
        /// Where it was first listed.
        first: usize,
    },
    /// No receivable for the invoice (its issue event may not have arrived yet).
    #[error("invoice not known to collections (yet)")]
    Unknown {
        /// Position in the request.
        index: usize,
    },
    /// The invoice is owed by another party than the one paying.
    #[error("the invoice is owed by another party")]
    OtherParty {
        /// Position in the request.
        index: usize,
    },
    /// The amount or the invoice is in another currency than the payment.
    #[error("{found} does not match the payment's currency {expected}")]
    CurrencyMismatch {
        /// Position in the request.
        index: usize,
        /// Whether the invoice (rather than the amount) is in the other currency.
        on_invoice: bool,
        /// The payment's currency.
        expected: Currency,
        /// The other currency.
        found: Currency,
    },
    /// The invoice was cancelled by a credit note.
    #[error("the invoice was cancelled by a credit note")]
    Cancelled {
        /// Position in the request.
        index: usize,
    },
    /// More than the invoice still owes.
    #[error("exceeds the outstanding {outstanding}")]
    ExceedsOutstanding {
        /// Position in the request.
        index: usize,
        /// What it still owes.
        outstanding: Money,
    },
    /// The allocations add up to more than the money available.
    #[error("allocations add up to {requested}, more than the {available} available")]
    OverAllocated {
        /// Their sum (saturated at the storage range).
        requested: Money,
        /// The payment's amount, or its unallocated remainder.
        available: Money,
    },
}

impl AllocationProblem {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AllocationProblem::NotPositive { .. } => "not_positive",
            AllocationProblem::Duplicate { .. } => "duplicate_invoice",
            AllocationProblem::Unknown { .. } => "unknown_invoice",
            AllocationProblem::OtherParty { .. } => "other_party",
            AllocationProblem::CurrencyMismatch { .. } => "currency_mismatch",
            AllocationProblem::Cancelled { .. } => "invoice_cancelled",
            AllocationProblem::ExceedsOutstanding { .. } => "exceeds_outstanding",
            AllocationProblem::OverAllocated { .. } => "over_allocated",
        }
    }

    /// The dotted path of the offending input field.
    pub fn field(&self) -> String {
        match self {
            AllocationProblem::NotPositive { index }
            | AllocationProblem::ExceedsOutstanding { index, .. } => {
                format!("allocations.{index}.amount")
            }
            AllocationProblem::CurrencyMismatch {
                index, on_invoice, ..
            } => {
                if *on_invoice {
                    format!("allocations.{index}.invoice_id")
                } else {
                    format!("allocations.{index}.amount.currency")
                }
            }
            AllocationProblem::Duplicate { index, .. }
            | AllocationProblem::Unknown { index }
            | AllocationProblem::OtherParty { index }
            | AllocationProblem::Cancelled { index } => format!("allocations.{index}.invoice_id"),
            AllocationProblem::OverAllocated { .. } => "allocations".to_owned(),
        }
    }

    /// True for the one problem that is about the invoice's state rather than the input (a
    /// conflict, 409), false for input problems (422).
    pub fn is_conflict(&self) -> bool {
        matches!(self, AllocationProblem::Cancelled { .. })
    }
}

/// Why a set of allocations cannot be made: every problem found, in request order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} allocation problem(s)", problems.len())]
pub struct AllocationError {
    /// The problems.
    pub problems: Vec<AllocationProblem>,
}

/// A checked plan: what goes to each invoice, and what stays as credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationPlan {
    /// The allocations, in request order.
    pub allocations: Vec<RequestedAllocation>,
    /// What is left of the available money; never negative.
    pub remainder: Money,
}

/// Checks `requested` allocations of `available` money (a payment's amount, or what is left of
/// it) against each invoice's receivable as `lookup` describes it.
///
/// Each allocation must be positive, in the money's currency, to a distinct invoice known to
/// collections, owed by the paying party, not cancelled and not beyond what it still owes;
/// together they must not exceed `available`. Either every allocation is made or none.
pub fn plan_allocations(
    available: Money,
    requested: &[RequestedAllocation],
    lookup: impl Fn(&InvoiceId) -> Option<AllocationTarget>,
) -> Result<AllocationPlan, AllocationError> {
    let currency = available.currency();
    let available_minor = available.to_minor().unwrap_or(MinorUnits(i64::MAX)).0;
    let mut problems = Vec::new();
    let mut first_seen: HashMap<InvoiceId, usize> = HashMap::new();
    let mut sum: i64 = 0;
    let mut overflow = false;
    for (index, r) in requested.iter().enumerate() {
        let amount = r.amount.to_minor().unwrap_or(MinorUnits(i64::MAX)).0;
        if let Some(first) = first_seen.get(&r.invoice_id) {
            problems.push(AllocationProblem::Duplicate {
                index,
                first: *first,
            });
            continue;
        }
        first_seen.insert(r.invoice_id, index);
        if r.amount.currency() != currency {
            problems.push(AllocationProblem::CurrencyMismatch {
                index,
                on_invoice: false,
                expected: currency,
                found: r.amount.currency(),
            });
            continue;
        }
        if amount <= 0 {
            problems.push(AllocationProblem::NotPositive { index });
            continue;
        }
        match sum.checked_add(amount) {
            Some(s) => sum = s,
            None => overflow = true,
        }
        let Some(target) = lookup(&r.invoice_id) else {
            problems.push(AllocationProblem::Unknown { index });
            continue;
        };
        if !target.same_party {
            problems.push(AllocationProblem::OtherParty { index });
        } else if target.currency != currency {
            problems.push(AllocationProblem::CurrencyMismatch {
                index,
                on_invoice: true,
                expected: currency,
                found: target.currency,
            });
        } else if target.cancelled {
            problems.push(AllocationProblem::Cancelled { index });
        } else if amount > target.outstanding.0 {
            problems.push(AllocationProblem::ExceedsOutstanding {
                index,
                outstanding: Money::from_minor(target.outstanding, currency),
            });
        }
    }
    if overflow || sum > available_minor {
        let requested = if overflow { i64::MAX } else { sum };
        problems.push(AllocationProblem::OverAllocated {
            requested: Money::from_minor(MinorUnits(requested), currency),
            available,
        });
    }
    if !problems.is_empty() {
        return Err(AllocationError { problems });
    }
    Ok(AllocationPlan {
        allocations: requested.to_vec(),
        remainder: Money::from_minor(MinorUnits(available_minor - sum), currency),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_batch_is_collected_once_every_invoice_arrived_and_nothing_is_owed() {
        let r = |total, credited, paid, cancelled| BatchInvoice {
            total: MinorUnits(total),
            receivable: Some(ReceivableAmounts {
                total: MinorUnits(total),
                credited: MinorUnits(credited),
                paid: MinorUnits(paid),
                written_off: MinorUnits(0),
                cancelled,
            }),
        };
        let pending = BatchInvoice {
            total: MinorUnits(500),
            receivable: None,
        };
        let open = batch_collection([r(1000, 0, 0, false), r(300, 0, 0, true), pending]);
        assert_eq!(open.status, BatchCollectionStatus::Open);
        assert_eq!((open.receivables, open.pending), (2, 1));
        assert_eq!(open.outstanding, MinorUnits(1500));
        assert_eq!(open.cancelled, MinorUnits(300));
        let partly = batch_collection([r(1000, 200, 300, false), r(300, 0, 0, true)]);
        assert_eq!(partly.status, BatchCollectionStatus::PartlyCollected);
        assert_eq!(
            partly.cancelled.0 + partly.credited.0 + partly.paid.0 + partly.outstanding.0,
            1300
        );
        let collected = batch_collection([r(1000, 200, 800, false), r(300, 0, 0, true)]);
        assert_eq!(collected.status, BatchCollectionStatus::Collected);
        assert_eq!(
            batch_collection([r(300, 0, 0, true)]).status,
            BatchCollectionStatus::Collected
        );
        assert_eq!(
            batch_collection([pending]).status,
            BatchCollectionStatus::Open
        );
    }

    fn eur(cents: i64) -> Money {
        Money::from_minor(MinorUnits(cents), Currency::EUR)
    }

    fn paid_m(cents: i64) -> MinorUnits {
        MinorUnits(cents)
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or(NaiveDate::MIN)
    }

    fn target(outstanding: i64) -> AllocationTarget {
        AllocationTarget {
            currency: Currency::EUR,
            outstanding: MinorUnits(outstanding),
            cancelled: false,
            same_party: true,
        }
    }

    #[test]
    fn status_follows_payments_cancellation_and_the_due_date() {
        let (t, due) = (MinorUnits(10_000), day("2026-03-31"));
        let before = day("2026-03-31");
        let after = day("2026-04-01");
        let s = |paid: i64, cancelled: bool, today| {
            receivable_status(
                t,
                MinorUnits(0),
                paid_m(paid),
                MinorUnits(0),
                cancelled,
                due,
                today,
            )
        };
        assert_eq!(s(0, false, before), ReceivableStatus::Open);
        assert_eq!(s(1, false, before), ReceivableStatus::PartiallyPaid);
        assert_eq!(s(10_000, false, before), ReceivableStatus::Paid);
        assert_eq!(s(0, false, after), ReceivableStatus::Overdue);
        assert_eq!(s(9_999, false, after), ReceivableStatus::Overdue);
        assert_eq!(s(10_000, false, after), ReceivableStatus::Paid);
        assert_eq!(s(0, true, after), ReceivableStatus::Cancelled);
        assert_eq!(
            outstanding(t, MinorUnits(0), MinorUnits(2_500), MinorUnits(0), false),
            MinorUnits(7_500)
        );
        assert_eq!(
            outstanding(
                t,
                MinorUnits(1_000),
                MinorUnits(2_500),
                MinorUnits(0),
                false
            ),
            MinorUnits(6_500)
        );
        assert_eq!(
            outstanding(t, MinorUnits(0), MinorUnits(2_500), MinorUnits(0), true),
            MinorUnits(0)
        );
        // Partial credits: open, partly paid or overdue by what is left; paid once covered.
        let c = |credited: i64, paid: i64, today| {
            receivable_status(
                t,
                MinorUnits(credited),
                paid_m(paid),
                MinorUnits(0),
                false,
                due,
                today,
            )
        };
        assert_eq!(c(3_000, 0, before), ReceivableStatus::Open);
        assert_eq!(c(3_000, 6_999, after), ReceivableStatus::Overdue);
        assert_eq!(c(3_000, 7_000, after), ReceivableStatus::Paid);
        assert_eq!(c(10_000, 0, after), ReceivableStatus::Paid);
        assert_eq!(
            "overdue".parse::<ReceivableStatus>(),
            Ok(ReceivableStatus::Overdue)
        );
        assert!("late".parse::<ReceivableStatus>().is_err());
    }

    #[test]
    fn a_written_off_rest_is_written_off_and_a_small_balance_needs_its_threshold() {
        let m = MinorUnits;
        assert_eq!(
            base_status(m(10_000), m(0), m(9_990), m(10), false),
            ReceivableStatus::WrittenOff
        );
        assert_eq!(
            base_status(m(10_000), m(0), m(9_990), m(5), false),
            ReceivableStatus::PartiallyPaid
        );
        assert_eq!(
            check_write_off(WriteOffKind::SmallBalance, m(10), m(10), Some(m(500))),
            Ok(m(0))
        );
        assert!(matches!(
            check_write_off(WriteOffKind::SmallBalance, m(10), m(600), Some(m(500))),
            Err(WriteOffProblem::AboveThreshold { .. })
        ));
        assert!(matches!(
            check_write_off(WriteOffKind::SmallBalance, m(10), m(10), None),
            Err(WriteOffProblem::AboveThreshold { .. })
        ));
        assert_eq!(
            check_write_off(WriteOffKind::BadDebt, m(600), m(600), None),
            Ok(m(0))
        );
        assert_eq!(
            aging_bucket(day("2026-03-31"), day("2026-03-31")),
            AgingBucket::Current
        );
        assert_eq!(
            aging_bucket(day("2026-03-30"), day("2026-03-31")),
            AgingBucket::Days1To30
        );
        assert_eq!(
            aging_bucket(day("2025-12-30"), day("2026-03-31")),
            AgingBucket::Over90
        );
        assert_eq!(
            aging_bucket(day("2026-01-01"), day("2026-03-31")),
            AgingBucket::Days61To90
        );
    }

    #[test]
    fn today_is_the_locations_calendar_day() {
        let now = "2026-03-31T23:30:00Z"
            .parse::<DateTime<Utc>>()
            .unwrap_or_default();
        assert_eq!(local_today("Europe/Madrid", now), day("2026-04-01"));
        assert_eq!(local_today("America/New_York", now), day("2026-03-31"));
        assert_eq!(local_today("Not/AZone", now), day("2026-03-31"));
    }

    #[test]
    fn a_valid_plan_leaves_the_rest_as_credit() {
        let (a, b) = (InvoiceId::new(), InvoiceId::new());
        let plan = plan_allocations(
            eur(10_000),
            &[
                RequestedAllocation {
                    invoice_id: a,
                    amount: eur(6_000),
                },
                RequestedAllocation {
                    invoice_id: b,
                    amount: eur(1_550),
                },
            ],
            |_| Some(target(6_000)),
        )
        .expect("valid");
        assert_eq!(plan.allocations.len(), 2);
        assert_eq!(plan.remainder, eur(2_450));
    }

    #[test]
    fn every_bad_allocation_is_named_with_its_code() {
        let usd = Currency::parse("USD").expect("usd");
        let ids: Vec<InvoiceId> = (0..8).map(|_| InvoiceId::new()).collect();
        let lookup = |id: &InvoiceId| {
            let i = ids.iter().position(|x| x == id)?;
            match i {
                1 => None,
                2 => Some(AllocationTarget {
                    same_party: false,
                    ..target(100)
                }),
                3 => Some(AllocationTarget {
                    currency: usd,
                    ..target(100)
                }),
                4 => Some(AllocationTarget {
                    cancelled: true,
                    ..target(100)
                }),
                _ => Some(target(100)),
            }
        };
        let req = |i: usize, amount: Money| RequestedAllocation {
            invoice_id: ids[i],
            amount,
        };
        let err = plan_allocations(
            eur(300),
            &[
                req(0, eur(0)),
                req(1, eur(10)),
                req(2, eur(10)),
                req(3, eur(10)),
                req(4, eur(10)),
                req(5, eur(101)),
                req(5, eur(1)),
                req(6, Money::from_minor(MinorUnits(10), usd)),
                req(7, eur(200)),
            ],
            lookup,
        )
        .expect_err("invalid");
        let codes: Vec<(&str, String)> =
            err.problems.iter().map(|p| (p.code(), p.field())).collect();
        assert_eq!(
            codes,
            vec![
                ("not_positive", "allocations.0.amount".to_owned()),
                ("unknown_invoice", "allocations.1.invoice_id".to_owned()),
                ("other_party", "allocations.2.invoice_id".to_owned()),
                ("currency_mismatch", "allocations.3.invoice_id".to_owned()),
                ("invoice_cancelled", "allocations.4.invoice_id".to_owned()),
                ("exceeds_outstanding", "allocations.5.amount".to_owned()),
                ("duplicate_invoice", "allocations.6.invoice_id".to_owned()),
                (
                    "currency_mismatch",
                    "allocations.7.amount.currency".to_owned()
                ),
                ("exceeds_outstanding", "allocations.8.amount".to_owned()),
                ("over_allocated", "allocations".to_owned()),
            ]
        );
        assert!(err.problems[4].is_conflict());
        assert!(!err.problems[0].is_conflict());
    }

    proptest! {
        #[test]
        fn paid_and_outstanding_make_the_total(total in 0i64..10_000_000, paid in 0i64..10_000_000) {
            let (t, p, none) = (MinorUnits(total), MinorUnits(paid.min(total)), MinorUnits(0));
            prop_assert_eq!(outstanding(t, none, p, none, false).0 + p.0, total);
            prop_assert_eq!(base_status(t, none, p, none, false) == ReceivableStatus::Paid, p.0 == total);
            prop_assert_eq!(outstanding(t, none, p, none, true).0, 0);
        }

        #[test]
        fn a_partial_credit_accounts_for_every_cent(
            total in 0i64..10_000_000,
            paid in 0i64..10_000_000,
            written in 0i64..10_000_000,
            credits in proptest::collection::vec(0i64..10_000_000, 1..5),
        ) {
            let t = MinorUnits(total);
            let mut credited = MinorUnits(0);
            let mut p = MinorUnits(paid.min(total));
            let mut w = MinorUnits(written.min(total - p.0));
            let mut returned = 0;
            let mut least = total;
            for remaining in credits {
                let Ok(after) = partial_credit(t, credited, p, w, MinorUnits(remaining)) else {
                    prop_assert!(remaining > total);
                    continue;
                };
                least = least.min(remaining);
                prop_assert_eq!(after.credited.0, total - least);
                prop_assert_eq!(after.paid.0 + after.returned.0, p.0);
                prop_assert!(after.written_off.0 <= w.0 && after.written_off.0 >= 0);
                returned += after.returned.0;
                (credited, p, w) = (after.credited, after.paid, after.written_off);
                // Applied again: nothing changes.
                let again = partial_credit(t, credited, p, w, MinorUnits(remaining));
                prop_assert_eq!(again, Ok(PartiallyCredited { credited, paid: p, written_off: w, returned: MinorUnits(0) }));
            }
            let owed = outstanding(t, credited, p, w, false);
            prop_assert!(owed.0 >= 0);
            prop_assert_eq!(credited.0 + p.0 + w.0 + owed.0, total);
            prop_assert_eq!(p.0 + returned, paid.min(total));
            let status = base_status(t, credited, p, w, false);
            prop_assert_eq!(status.is_owing(), owed.0 > 0);
            prop_assert_eq!(status == ReceivableStatus::WrittenOff, owed.0 == 0 && credited.0 + p.0 < total);
        }

        #[test]
        fn write_offs_and_payments_account_for_every_cent(
            total in 0i64..10_000_000,
            credited in 0i64..10_000_000,
            paid in 0i64..10_000_000,
            asks in proptest::collection::vec((0usize..3, -10i64..5_000_000), 0..6),
            threshold in proptest::option::of(0i64..10_000),
        ) {
            let t = MinorUnits(total);
            let c = MinorUnits(credited.min(total));
            let p = MinorUnits(paid.min(total - c.0));
            let mut w = MinorUnits(0);
            let kinds = [WriteOffKind::BadDebt, WriteOffKind::SmallBalance, WriteOffKind::Charity];
            for (k, amount) in asks {
                let owed = outstanding(t, c, p, w, false);
                match check_write_off(kinds[k], MinorUnits(amount), owed, threshold.map(MinorUnits)) {
                    Ok(left) => {
                        prop_assert!(amount > 0 && amount <= owed.0);
                        prop_assert!(kinds[k] != WriteOffKind::SmallBalance || threshold.is_some_and(|th| owed.0 <= th));
                        w = MinorUnits(w.0 + amount);
                        prop_assert_eq!(outstanding(t, c, p, w, false), left);
                    }
                    Err(WriteOffProblem::NotPositive) => prop_assert!(amount <= 0),
                    Err(WriteOffProblem::ExceedsOutstanding { outstanding: o }) => prop_assert!(amount > o.0),
                    Err(WriteOffProblem::AboveThreshold { .. }) => prop_assert_eq!(kinds[k], WriteOffKind::SmallBalance),
                }
                let owed = outstanding(t, c, p, w, false);
                prop_assert!(owed.0 >= 0);
                prop_assert_eq!(c.0 + p.0 + w.0 + owed.0, total);
            }
        }

        #[test]
        fn credit_is_received_less_allocated_less_refunded_and_never_negative(
            amount in 1i64..10_000_000,
            allocated in 0i64..10_000_000,
            refunds in proptest::collection::vec(-10i64..5_000_000, 0..6),
        ) {
            let a = MinorUnits(allocated.min(amount));
            let mut refunded = MinorUnits(0);
            for r in refunds {
                let credit = payment_credit(MinorUnits(amount), a, refunded);
                match check_refund(MinorUnits(r), credit) {
                    Ok(left) => {
                        refunded = MinorUnits(refunded.0 + r);
                        prop_assert_eq!(payment_credit(MinorUnits(amount), a, refunded), left);
                    }
                    Err(RefundProblem::NotPositive) => prop_assert!(r <= 0),
                    Err(RefundProblem::ExceedsCredit { credit: c }) => prop_assert!(r > c.0),
                }
                let credit = payment_credit(MinorUnits(amount), a, refunded);
                prop_assert!(credit.0 >= 0);
                prop_assert_eq!(credit.0 + a.0 + refunded.0, amount);
            }
        }

        #[test]
        fn tenders_are_accepted_only_when_they_add_up(
            parts in proptest::collection::vec(-5i64..100_000, 0..5),
            delta in -3i64..3,
        ) {
            let sum: i64 = parts.iter().sum();
            let tenders: Vec<Money> = parts.iter().map(|p| eur(*p)).collect();
            let ok = check_tenders(eur(sum + delta), &tenders).is_ok();
            prop_assert_eq!(ok, delta == 0 && parts.iter().all(|p| *p > 0));
        }

        #[test]
        fn credits_applied_never_exceed_what_is_owed_nor_what_each_has(
            owed in 0i64..1_000_000,
            credits in proptest::collection::vec(0i64..500_000, 0..6),
        ) {
            let given = apply_credits(MinorUnits(owed), &credits.iter().map(|c| MinorUnits(*c)).collect::<Vec<_>>());
            prop_assert_eq!(given.len(), credits.len());
            let total: i64 = given.iter().map(|g| g.0).sum();
            prop_assert_eq!(total, owed.min(credits.iter().sum()));
            for (g, c) in given.iter().zip(&credits) {
                prop_assert!(g.0 >= 0 && g.0 <= *c);
            }
            // Oldest first: a credit gives only once those before it gave all they had.
            for i in 1..given.len() {
                if given[i].0 > 0 {
                    prop_assert!(given[..i].iter().zip(&credits).all(|(g, c)| g.0 == *c));
                }
            }
        }

        #[test]
        fn an_aging_bucket_agrees_with_its_bounds(
            as_of_days in 0i64..40_000,
            late in -400i64..400,
        ) {
            let as_of = day("1990-01-01") + chrono::Duration::days(as_of_days);
            let due = as_of - chrono::Duration::days(late);
            let b = aging_bounds(as_of);
            let by_bounds = if due >= b.current {
                AgingBucket::Current
            } else if due >= b.days_1_30 {
                AgingBucket::Days1To30
            } else if due >= b.days_31_60 {
                AgingBucket::Days31To60
            } else if due >= b.days_61_90 {
                AgingBucket::Days61To90
            } else {
                AgingBucket::Over90
            };
            prop_assert_eq!(aging_bucket(due, as_of), by_bounds);
            prop_assert_eq!(by_bounds == AgingBucket::Current, late <= 0);
            prop_assert_eq!(by_bounds == AgingBucket::Over90, late > 90);
        }

        #[test]
        fn a_plan_accounts_for_every_cent_and_never_overpays(
            payment in 1i64..1_000_000,
            owed in proptest::collection::vec(0i64..500_000, 1..8),
            asks in proptest::collection::vec((0usize..8, -100i64..600_000), 0..8),
        ) {
            let ids: Vec<InvoiceId> = owed.iter().map(|_| InvoiceId::new()).collect();
            let requested: Vec<RequestedAllocation> = asks
                .iter()
                .map(|(i, a)| RequestedAllocation { invoice_id: ids[i % ids.len()], amount: eur(*a) })
                .collect();
            let lookup = |id: &InvoiceId| ids.iter().position(|x| x == id).map(|i| target(owed[i]));
            let all_valid = {
                let mut seen = std::collections::HashSet::new();
                requested.iter().all(|r| seen.insert(r.invoice_id))
                    && asks.iter().all(|(i, a)| *a > 0 && *a <= owed[i % owed.len()])
                    && asks.iter().map(|(_, a)| *a).sum::<i64>() <= payment
            };
            match plan_allocations(eur(payment), &requested, lookup) {
                Ok(plan) => {
                    prop_assert!(all_valid);
                    let allocated: i64 = plan.allocations.iter().map(|a| a.amount.to_minor().map(|m| m.0).unwrap_or(0)).sum();
                    let remainder = plan.remainder.to_minor().map(|m| m.0).unwrap_or(-1);
                    prop_assert!(remainder >= 0);
                    prop_assert_eq!(allocated + remainder, payment);
                    for a in &plan.allocations {
                        let owes = lookup(&a.invoice_id).map(|t| t.outstanding.0).unwrap_or(0);
                        let m = a.amount.to_minor().map(|m| m.0).unwrap_or(-1);
                        prop_assert!(m > 0 && m <= owes);
                    }
                }
                Err(e) => {
                    prop_assert!(!all_valid);
                    prop_assert!(!e.problems.is_empty());
                }
            }
        }
    }
}

crate::accounts::text_enum!(
    /// Where an online payment link stands. Only an `open` link changes, and only once.
    PaymentLinkStatus {
        /// Payable at the provider.
        Open = "open",
        /// Paid: the payment is recorded.
        Paid = "paid",
        /// Expired unpaid at the provider.
        Expired = "expired",
        /// The payer's payment failed at the provider; nothing was received.
        Failed = "failed",
    }
);

/// How much of `paid` goes to each owing receivable, given what each still owes in the order
/// they are to be paid (oldest due first): each takes what it owes while money is left; the
/// rest stays with the party as credit. The parts and the rest add up to `paid`.
pub fn pay_in_order(paid: MinorUnits, owed: &[MinorUnits]) -> (Vec<MinorUnits>, MinorUnits) {
    let mut left = paid.0.max(0);
    let parts = owed
        .iter()
        .map(|o| {
            let take = o.0.max(0).min(left);
            left -= take;
            MinorUnits(take)
        })
        .collect();
    (parts, MinorUnits(left))
}

#[cfg(test)]
mod payment_link_tests {
    use super::*;

    #[test]
    fn a_payment_goes_to_the_oldest_first_and_the_rest_is_credit() {
        let owed = [MinorUnits(100), MinorUnits(250), MinorUnits(40)];
        let (parts, rest) = pay_in_order(MinorUnits(300), &owed);
        assert_eq!(parts, vec![MinorUnits(100), MinorUnits(200), MinorUnits(0)]);
        assert_eq!(rest, MinorUnits(0));
        let (parts, rest) = pay_in_order(MinorUnits(500), &owed);
        assert_eq!(parts, owed.to_vec());
        assert_eq!(rest, MinorUnits(110));
        assert_eq!(pay_in_order(MinorUnits(0), &owed).1, MinorUnits(0));
    }
}
