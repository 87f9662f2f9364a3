//! How one claim payment of a payer's remittance (X12 835) is posted to the receivable of the
//! invoice it pays. Pure; amounts in minor units.
//!
//! A claim charges the whole service (CLP03), while the payer's receivable is what Carebill
//! billed that payer, which may be less: the patient's share or another payer's was billed to
//! them. The remittance explains the whole charge: `charge − paid = Σ adjustments` (CAS of the
//! claim and of its lines). Posting must leave the receivable owing exactly nothing when the
//! payer paid what it owes, so the part of the adjustments that explains what was never billed
//! to this payer is *absorbed* (not posted), and the rest is posted as adjustments of the
//! receivable. The **absorption rule**: with `owing` = what the receivable owes after the
//! payment is allocated,
//!
//! `absorbed = Σ adjustments − owing`, taken from the positive adjustments in this order:
//! `OA-23` (what a prior payer paid), `PR` (the patient's share), `CO`, then the rest (`OA`,
//! `PI`, `CR`) — in file order within each.
//!
//! Clamped to what the positive adjustments hold: when the remittance explains less than the
//! receivable owes (a charge below what was billed), everything is posted and the receivable
//! still owes the difference (`left_owing`, for a person to review); when the payer paid more
//! than the receivable owed, the excess is `unallocated` (the payer's credit) and every
//! adjustment is absorbed.
//!
//! Worked numbers: a charge of 150.00, billed 120.00 to the payer and 30.00 to the patient; the
//! payer pays 90.00 with `CO-45 40.00` and `PR-2 20.00`. The receivable owes 30.00 after the
//! payment; the adjustments explain 60.00, so 30.00 is absorbed: all 20.00 of `PR-2` (the
//! patient was billed for it), then 10.00 of `CO-45`, which posts its other 30.00 as a
//! contractual adjustment. The receivable: 120 − 90 − 30 = 0.

use serde::{Deserialize, Serialize};

use super::plans::AdjustmentKind;

/// One adjustment (CAS) of a claim payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cas {
    /// `CO`, `PR`, `OA`, `PI`, `CR`.
    pub group: String,
    /// The claim adjustment reason code (CARC).
    pub reason: String,
    /// Minor units; positive reduces the payment.
    pub amount: i64,
}

impl Cas {
    /// The kind of receivable adjustment it posts as.
    pub fn kind(&self) -> AdjustmentKind {
        match self.group.as_str() {
            "CO" => AdjustmentKind::Contractual,
            "PR" => AdjustmentKind::PatientResponsibility,
            _ => AdjustmentKind::PayerOther,
        }
    }

    /// Its place in the absorption order (lower first).
    fn rank(&self) -> u8 {
        match (self.group.as_str(), self.reason.as_str()) {
            ("OA", "23") => 0,
            ("PR", _) => 1,
            ("CO", _) => 2,
            _ => 3,
        }
    }
}

/// What posting a claim payment does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// What the payment gives the receivable.
    pub allocated: i64,
    /// What it paid beyond what the receivable owed (the payer's credit).
    pub unallocated: i64,
    /// For each adjustment, in the order given: `(absorbed, posted)`, adding up to its amount.
    /// A posted amount lowers what the receivable owes by as much.
    pub adjustments: Vec<(i64, i64)>,
    /// What the receivable still owes after the payment and the posted adjustments (0 when the
    /// remittance explains the receivable exactly).
    pub left_owing: i64,
    /// The posted part of the `PR` adjustments: what may still be billed to the patient.
    pub patient_share: i64,
}

/// Posts a claim payment of `paid` with `adjustments` to a receivable owing `outstanding`
/// (module docs). `paid` below zero (a reversal) is not posted here: allocate nothing.
pub fn post(paid: i64, outstanding: i64, adjustments: &[Cas]) -> Posting {
    let outstanding = outstanding.max(0);
    let allocated = paid.clamp(0, outstanding);
    let unallocated = paid.max(0) - allocated;
    let owing = outstanding - allocated;
    let total: i64 = adjustments.iter().map(|a| a.amount).sum();
    let positive: i64 = adjustments.iter().map(|a| a.amount.max(0)).sum();
    let mut to_absorb = (total - owing).clamp(0, positive);
    let mut order: Vec<usize> = (0..adjustments.len()).collect();
    order.sort_by_key(|&i| (adjustments[i].rank(), i));
    let mut absorbed = vec![0_i64; adjustments.len()];
    for i in order {
        let take = adjustments[i].amount.max(0).min(to_absorb);
        absorbed[i] = take;
        to_absorb -= take;
    }
    let split: Vec<(i64, i64)> = adjustments
        .iter()
        .zip(absorbed)
        .map(|(a, taken)| (taken, a.amount - taken))
        .collect();
    let posted: i64 = split.iter().map(|(_, p)| p).sum();
    let patient_share = adjustments
        .iter()
        .zip(&split)
        .filter(|(a, _)| a.group == "PR")
        .map(|(_, (_, p))| p)
        .sum();
    Posting {
        allocated,
        unallocated,
        adjustments: split,
        left_owing: owing - posted,
        patient_share,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cas(group: &str, reason: &str, amount: i64) -> Cas {
        Cas {
            group: group.to_owned(),
            reason: reason.to_owned(),
            amount,
        }
    }

    #[test]
    fn a_payer_billed_the_whole_charge_posts_every_adjustment() {
        let p = post(9000, 15000, &[cas("CO", "45", 4000), cas("PR", "2", 2000)]);
        assert_eq!(p.allocated, 9000);
        assert_eq!(p.adjustments, vec![(0, 4000), (0, 2000)]);
        assert_eq!(p.left_owing, 0);
        assert_eq!(p.patient_share, 2000);
    }

    #[test]
    fn what_the_patient_was_billed_is_absorbed_from_the_patient_share_first() {
        // Charge 150, payer billed 120, patient billed 30; paid 90, CO-45 40, PR-2 20.
        let p = post(9000, 12000, &[cas("CO", "45", 4000), cas("PR", "2", 2000)]);
        assert_eq!(p.adjustments, vec![(1000, 3000), (2000, 0)]);
        assert_eq!(p.left_owing, 0);
        assert_eq!(p.patient_share, 0);
    }

    #[test]
    fn a_prior_payers_payment_is_absorbed_before_anything_else() {
        let p = post(
            2000,
            5000,
            &[
                cas("CO", "45", 1000),
                cas("OA", "23", 7000),
                cas("PR", "3", 500),
            ],
        );
        // Owing after payment 3000; adjustments 8500; absorb 5500: OA-23 5000... all 7000 is
        // more than 5500, so OA-23 absorbs 5500 and posts 1500.
        assert_eq!(p.adjustments, vec![(0, 1000), (5500, 1500), (0, 500)]);
        assert_eq!(p.left_owing, 0);
        assert_eq!(p.patient_share, 500);
    }

    #[test]
    fn an_overpayment_is_the_payers_credit_and_absorbs_everything() {
        let p = post(13000, 12000, &[cas("CO", "45", 2000)]);
        assert_eq!(p.allocated, 12000);
        assert_eq!(p.unallocated, 1000);
        assert_eq!(p.adjustments, vec![(2000, 0)]);
        assert_eq!(p.left_owing, 0);
    }

    #[test]
    fn a_charge_below_what_was_billed_leaves_the_difference_owing() {
        let p = post(5000, 12000, &[cas("CO", "45", 5000)]);
        assert_eq!(p.adjustments, vec![(0, 5000)]);
        assert_eq!(p.left_owing, 2000);
    }

    proptest! {
        /// Absorbed and posted parts add up to each adjustment; the receivable's identity holds
        /// (outstanding = allocated + posted + left owing); nothing owes less than nothing;
        /// and a balanced remittance over a receivable billed at most the charge leaves it
        /// owing exactly nothing.
        #[test]
        fn postings_reconcile(
            amounts in proptest::collection::vec((0usize..4, -500i64..20_000), 0..6),
            paid in 0i64..50_000,
            billed_share in 0u32..=100,
        ) {
            let groups = [("CO", "45"), ("PR", "1"), ("OA", "23"), ("PI", "94")];
            let adj: Vec<Cas> = amounts.iter().map(|(g, a)| cas(groups[*g].0, groups[*g].1, *a)).collect();
            let charge = paid + adj.iter().map(|a| a.amount).sum::<i64>();
            prop_assume!(charge >= 0);
            let outstanding = charge * i64::from(billed_share) / 100;
            let p = post(paid, outstanding, &adj);
            for (a, (taken, posted)) in adj.iter().zip(&p.adjustments) {
                prop_assert_eq!(taken + posted, a.amount);
                prop_assert!(*taken >= 0);
            }
            let posted: i64 = p.adjustments.iter().map(|(_, x)| x).sum();
            prop_assert_eq!(outstanding, p.allocated + posted + p.left_owing);
            prop_assert_eq!(paid, p.allocated + p.unallocated);
            prop_assert!(p.left_owing >= 0);
            if adj.iter().all(|a| a.amount >= 0) {
                prop_assert_eq!(p.left_owing, 0);
            }
        }
    }
}
