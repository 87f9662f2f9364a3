//! Getting paid: payment plans, adjustments and days sales outstanding. Pure; no I/O.
//!
//! A **payment plan** splits what one party owes on some receivables into installments with due
//! dates. The installments add up exactly to what the receivables owe when the plan is made.
//! What the plan's receivables are paid after it was made (its *progress*) fills the
//! installments in due order ([`fill_installments`]); an installment not filled by the end of
//! its due day is *missed*. A plan is `completed` once its installments are filled or its
//! receivables owe nothing more, and `broken` once more than `missed_allowed` installments are
//! missed ([`plan_outcome`]).
//!
//! Generated installments ([`split_evenly`]) are equal to the minor unit; the minor units that
//! do not divide evenly go on the **last** installment (so the first ones are the round
//! amounts a party sets up a standing order for).
//!
//! An **adjustment** raises (fee, interest) or lowers (correction) what a receivable owes; it
//! may never take what is owed below zero ([`check_adjustment`]).
//!
//! **Days sales outstanding** ([`days_sales_outstanding`]): outstanding at the day ÷ invoiced in
//! the `days` days before it × `days`.

use chrono::{Months, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::MinorUnits;

crate::accounts::text_enum!(
    /// Where a payment plan stands.
    PlanStatus {
        /// Being paid: its receivables are not chased by dunning.
        Active = "active",
        /// Every installment paid (or nothing owed on its receivables any more).
        Completed = "completed",
        /// More installments missed than allowed: its receivables go back to normal collection.
        Broken = "broken",
        /// Cancelled by a person: its receivables go back to normal collection.
        Cancelled = "cancelled",
    }
);

crate::accounts::text_enum!(
    /// Where one installment of a plan stands.
    InstallmentStatus {
        /// Not (fully) paid, and its due day has not passed.
        Due = "due",
        /// Paid in full.
        Paid = "paid",
        /// Partly paid, its due day not passed.
        PartlyPaid = "partly_paid",
        /// Not paid in full by the end of its due day.
        Missed = "missed",
    }
);

crate::accounts::text_enum!(
    /// How often generated installments fall due.
    Every {
        /// Every 7 days.
        Week = "week",
        /// The same day each month (the month's last day when it is shorter).
        Month = "month",
    }
);

crate::accounts::text_enum!(
    /// Why what a receivable owes changes by an adjustment.
    AdjustmentKind {
        /// A fee charged (a reminder fee, for instance).
        Fee = "fee",
        /// Interest on late payment.
        Interest = "interest",
        /// A correction, up or down.
        Correction = "correction",
        /// What a payer's remittance (835) took off under its contract with the provider
        /// (adjustment group `CO`).
        Contractual = "contractual",
        /// What a payer's remittance left to the patient (group `PR`: deductible,
        /// coinsurance, copay), taken off the payer's receivable.
        PatientResponsibility = "patient_responsibility",
        /// Any other adjustment of a payer's remittance (groups `OA`, `PI`, `CR`).
        PayerOther = "payer_other",
    }
);

crate::accounts::text_enum!(
    /// What days sales outstanding is grouped by.
    DsoGroupBy {
        /// The payer's code (receivables owed by patients make one group of no payer).
        Payer = "payer",
        /// The issuing location's code.
        Location = "location",
    }
);

/// `total` split into `count` installments equal to the minor unit, the remainder on the last.
/// Empty when `count` is zero.
pub fn split_evenly(total: MinorUnits, count: u32) -> Vec<MinorUnits> {
    if count == 0 {
        return Vec::new();
    }
    let n = i64::from(count);
    let each = total.0 / n;
    let mut out = vec![MinorUnits(each); count as usize];
    if let Some(last) = out.last_mut() {
        last.0 += total.0 - each * n;
    }
    out
}

/// The due dates of `count` installments, the first on `first`, then every week or month
/// (a month later on the same day, or the month's last day). None past the calendar's end.
pub fn schedule(first: NaiveDate, every: Every, count: u32) -> Option<Vec<NaiveDate>> {
    (0..count)
        .map(|i| match every {
            Every::Week => first.checked_add_days(chrono::Days::new(7 * u64::from(i))),
            Every::Month => first.checked_add_months(Months::new(i)),
        })
        .collect()
}

/// One installment as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstallmentState {
    /// What of it is paid.
    pub paid: MinorUnits,
    /// Its status on the day asked about.
    pub status: InstallmentStatus,
}

/// Fills installments (`(due_on, amount)`, in due order) with `progress`, earliest first, and
/// says where each stands on `as_of`: missed once its due day is before `as_of` and it is not
/// paid in full.
pub fn fill_installments(
    installments: &[(NaiveDate, MinorUnits)],
    progress: MinorUnits,
    as_of: NaiveDate,
) -> Vec<InstallmentState> {
    let mut left = progress.0.max(0);
    installments
        .iter()
        .map(|(due_on, amount)| {
            let paid = left.min(amount.0).max(0);
            left -= paid;
            let status = if paid >= amount.0 {
                InstallmentStatus::Paid
            } else if *due_on < as_of {
                InstallmentStatus::Missed
            } else if paid > 0 {
                InstallmentStatus::PartlyPaid
            } else {
                InstallmentStatus::Due
            };
            InstallmentState {
                paid: MinorUnits(paid),
                status,
            }
        })
        .collect()
}

/// What an active plan becomes on `as_of`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanOutcome {
    /// Still being paid.
    Active,
    /// Every installment paid, or nothing owed on its receivables any more.
    Completed,
    /// More than the allowed installments missed: the indexes of the missed ones.
    Broken {
        /// Indexes (in due order) of the missed installments.
        missed: Vec<usize>,
    },
}

/// What an active plan with these installments becomes on `as_of`, given its `progress` (what
/// its receivables were paid since it began) and what they still owe (`owed_now`): completed
/// when every installment is filled or nothing is owed, broken when more than `missed_allowed`
/// are missed, else still active.
pub fn plan_outcome(
    installments: &[(NaiveDate, MinorUnits)],
    progress: MinorUnits,
    owed_now: MinorUnits,
    missed_allowed: u32,
    as_of: NaiveDate,
) -> PlanOutcome {
    let states = fill_installments(installments, progress, as_of);
    if owed_now.0 <= 0 || states.iter().all(|s| s.status == InstallmentStatus::Paid) {
        return PlanOutcome::Completed;
    }
    let missed: Vec<usize> = states
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status == InstallmentStatus::Missed)
        .map(|(i, _)| i)
        .collect();
    if missed.len() > missed_allowed as usize {
        PlanOutcome::Broken { missed }
    } else {
        PlanOutcome::Active
    }
}

/// Why an adjustment cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AdjustmentProblem {
    /// The amount is zero.
    #[error("must not be zero")]
    Zero,
    /// It would take what is owed below zero.
    #[error("would take the outstanding {} minor units below zero", outstanding.0)]
    BelowZero {
        /// What the receivable owes now.
        outstanding: MinorUnits,
    },
}

/// Checks a signed adjustment of `amount` of a receivable that owes `outstanding`: not zero,
/// and what is owed after it not below zero. Returns what is owed after it.
pub fn check_adjustment(
    amount: MinorUnits,
    outstanding: MinorUnits,
) -> Result<MinorUnits, AdjustmentProblem> {
    if amount.0 == 0 {
        return Err(AdjustmentProblem::Zero);
    }
    let after = outstanding.0.saturating_add(amount.0);
    if after < 0 {
        return Err(AdjustmentProblem::BelowZero { outstanding });
    }
    Ok(MinorUnits(after))
}

/// Days sales outstanding: `outstanding ÷ invoiced × days`, to one decimal (half away from
/// zero); none when nothing was invoiced in the period.
pub fn days_sales_outstanding(
    outstanding: MinorUnits,
    invoiced: MinorUnits,
    days: u32,
) -> Option<Decimal> {
    if invoiced.0 <= 0 {
        return None;
    }
    let mut d = (Decimal::from(outstanding.0) * Decimal::from(days) / Decimal::from(invoiced.0))
        .round_dp_with_strategy(1, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    d.rescale(1);
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn even_split_puts_the_remainder_on_the_last_installment() {
        let parts = split_evenly(MinorUnits(10_000), 3);
        assert_eq!(
            parts,
            vec![MinorUnits(3333), MinorUnits(3333), MinorUnits(3334)]
        );
        assert_eq!(parts.iter().map(|m| m.0).sum::<i64>(), 10_000);
        assert!(split_evenly(MinorUnits(5), 0).is_empty());
    }

    #[test]
    fn monthly_schedule_keeps_the_day_or_the_months_last() {
        let s = schedule(d("2026-01-31"), Every::Month, 3).unwrap_or_default();
        assert_eq!(s, vec![d("2026-01-31"), d("2026-02-28"), d("2026-03-31")]);
        let w = schedule(d("2026-01-01"), Every::Week, 2).unwrap_or_default();
        assert_eq!(w, vec![d("2026-01-01"), d("2026-01-08")]);
    }

    #[test]
    fn progress_fills_installments_in_due_order_and_late_ones_are_missed() {
        let inst = [
            (d("2026-01-10"), MinorUnits(100)),
            (d("2026-02-10"), MinorUnits(100)),
            (d("2026-03-10"), MinorUnits(100)),
        ];
        let s = fill_installments(&inst, MinorUnits(150), d("2026-02-11"));
        assert_eq!(s[0].status, InstallmentStatus::Paid);
        assert_eq!(
            (s[1].paid, s[1].status),
            (MinorUnits(50), InstallmentStatus::Missed)
        );
        assert_eq!(
            (s[2].paid, s[2].status),
            (MinorUnits(0), InstallmentStatus::Due)
        );
        let s = fill_installments(&inst, MinorUnits(150), d("2026-02-10"));
        assert_eq!(s[1].status, InstallmentStatus::PartlyPaid);
        assert_eq!(
            plan_outcome(&inst, MinorUnits(150), MinorUnits(150), 0, d("2026-02-11")),
            PlanOutcome::Broken { missed: vec![1] }
        );
        assert_eq!(
            plan_outcome(&inst, MinorUnits(150), MinorUnits(150), 1, d("2026-02-11")),
            PlanOutcome::Active
        );
        assert_eq!(
            plan_outcome(&inst, MinorUnits(300), MinorUnits(0), 0, d("2027-01-01")),
            PlanOutcome::Completed
        );
    }

    #[test]
    fn adjustments_never_take_the_outstanding_below_zero() {
        assert_eq!(
            check_adjustment(MinorUnits(500), MinorUnits(0)),
            Ok(MinorUnits(500))
        );
        assert_eq!(
            check_adjustment(MinorUnits(-100), MinorUnits(100)),
            Ok(MinorUnits(0))
        );
        assert_eq!(
            check_adjustment(MinorUnits(-101), MinorUnits(100)),
            Err(AdjustmentProblem::BelowZero {
                outstanding: MinorUnits(100)
            })
        );
        assert_eq!(
            check_adjustment(MinorUnits(0), MinorUnits(1)),
            Err(AdjustmentProblem::Zero)
        );
    }

    #[test]
    fn dso_is_outstanding_over_invoiced_times_days() {
        assert_eq!(
            days_sales_outstanding(MinorUnits(3_000), MinorUnits(9_000), 90),
            Some(Decimal::new(300, 1))
        );
        assert_eq!(
            days_sales_outstanding(MinorUnits(3_000), MinorUnits(9_000), 90).map(|d| d.to_string()),
            Some("30.0".to_owned())
        );
        assert_eq!(
            days_sales_outstanding(MinorUnits(1), MinorUnits(0), 90),
            None
        );
    }
}
