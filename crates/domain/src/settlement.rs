//! Pricing and the split of a priced line between payers and the patient: the pure core that the
//! settlement service will run on every consumption. No I/O; deterministic.
//!
//! - [`select_price`]: the price in force at the service date, the most specific first
//!   (location and payer, then payer, then location, then the general list).
//! - [`split_episode`]: applies each coverage's terms in priority order — excluded service
//!   groups, a covered percentage, a copay per line or per episode — and gives what remains to
//!   the patient. Every share is rounded to the currency's minor unit and the shares of a line
//!   always add up to the line amount exactly; every share carries its reason.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, MinorUnits, Money};

crate::accounts::text_enum!(
    /// Regular, or supplementary: late consumptions after the regular one was invoiced.
    SettlementKind {
        /// The episode's settlement.
        Regular = "regular",
        /// Late consumptions after the episode's settlement was invoiced.
        Supplementary = "supplementary",
        /// A beneficiary's lines of a committed billing run (periodic billing).
        Periodic = "periodic",
    }
);

crate::accounts::text_enum!(
    /// Where a settlement is in its workflow.
    SettlementStatus {
        /// Being built from consumptions; nobody has taken it yet.
        Draft = "draft",
        /// A biller is reviewing it.
        InReview = "in_review",
        /// Medical audit sent it back with observations.
        Observed = "observed",
        /// Waiting for medical audit.
        InAudit = "in_audit",
        /// Approved by audit; invoicing issues the invoices.
        Approved = "approved",
        /// Invoiced.
        Invoiced = "invoiced",
        /// The episode was cancelled; nothing to bill.
        Cancelled = "cancelled",
    }
);

impl SettlementStatus {
    /// Whether a person may move a settlement from `self` to `to`. (`invoiced` and `cancelled`
    /// are reached through events, never by hand; `approved` → `in_review` withdraws an approval
    /// that invoicing has not acted on.)
    pub fn can_move_to(self, to: SettlementStatus) -> bool {
        use SettlementStatus::*;
        matches!(
            (self, to),
            (Draft, InReview)
                | (Observed, InReview)
                | (InReview, InAudit)
                | (InAudit, Observed)
                | (InAudit, Approved)
                | (InReview, Draft)
                | (Approved, InReview)
        )
    }

    /// Whether lines may still change (by events or by hand) without a supplementary settlement.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            SettlementStatus::Draft
                | SettlementStatus::InReview
                | SettlementStatus::Observed
                | SettlementStatus::InAudit
        )
    }
}

/// One entry of a price list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceEntry {
    /// Catalog code priced.
    pub code: String,
    /// Price of one unit.
    pub unit_price: Money,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force (open-ended when absent).
    pub valid_to: Option<NaiveDate>,
    /// Only at this location (code), if set.
    pub location: Option<String>,
    /// Only for this payer (code), if set.
    pub payer: Option<String>,
    /// Only for service prices of invoicing rules with these attributes.
    #[serde(default)]
    pub qualifiers: PriceQualifiers,
    /// A package: the codes it includes. When the package is billed in a settlement, these
    /// codes are priced at zero there (kept visible, with the package named).
    #[serde(default)]
    pub components: Vec<String>,
}

/// What a service price of an invoicing rule may be limited to (seed 003: "find price from the
/// Service Price according to constraints like start date, beneficiary kind"). An entry with
/// any of them set prices only billing-run lines that match; consumptions use unqualified
/// entries.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceQualifiers {
    /// The beneficiary kind.
    pub beneficiary_kind: Option<String>,
    /// The room's object type.
    pub object_type: Option<String>,
    /// The care level (evaluations).
    pub level: Option<String>,
}

impl PriceQualifiers {
    /// None set.
    pub fn is_empty(&self) -> bool {
        self.beneficiary_kind.is_none() && self.object_type.is_none() && self.level.is_none()
    }

    /// How specific: a level weighs more than an object type, which weighs more than a kind.
    fn weight(&self) -> u8 {
        u8::from(self.beneficiary_kind.is_some())
            + 2 * u8::from(self.object_type.is_some())
            + 4 * u8::from(self.level.is_some())
    }
}

impl PriceEntry {
    fn in_force(&self, day: NaiveDate) -> bool {
        self.valid_from <= day && self.valid_to.is_none_or(|to| day <= to)
    }

    /// 3 for location and payer, 2 for payer, 1 for location, 0 for the general list.
    fn specificity(&self) -> u8 {
        match (&self.location, &self.payer) {
            (Some(_), Some(_)) => 3,
            (None, Some(_)) => 2,
            (Some(_), None) => 1,
            (None, None) => 0,
        }
    }
}

/// The entry that prices `code` on `day` at `location` for `payer`: among the entries in force
/// whose location and payer are unset or equal, the most specific; among equals, the one that
/// started last.
pub fn select_price<'a>(
    entries: &'a [PriceEntry],
    code: &str,
    day: NaiveDate,
    location: &str,
    payer: Option<&str>,
) -> Option<&'a PriceEntry> {
    entries
        .iter()
        .filter(|e| e.code == code && e.in_force(day) && e.qualifiers.is_empty())
        .filter(|e| e.location.as_deref().is_none_or(|l| l == location))
        .filter(|e| e.payer.as_deref().is_none_or(|p| Some(p) == payer))
        .max_by_key(|e| (e.specificity(), e.valid_from))
}

/// Service prices grouped by code, each described once, for billing runs that ask many times.
#[derive(Debug, Clone, Default)]
pub struct ServicePrices {
    by_code: std::collections::HashMap<String, (Vec<PriceEntry>, Vec<std::sync::Arc<str>>)>,
}

impl ServicePrices {
    /// Groups `entries` by code (entries with a payer are left out: they never price a run).
    pub fn new(entries: Vec<PriceEntry>) -> Self {
        let mut by_code: std::collections::HashMap<String, (Vec<PriceEntry>, Vec<_>)> =
            std::collections::HashMap::new();
        for e in entries.into_iter().filter(|e| e.payer.is_none()) {
            let group = by_code.entry(e.code.clone()).or_default();
            group.1.push(e.describe().into());
            group.0.push(e);
        }
        ServicePrices { by_code }
    }

    /// [`select_service_price`] among the entries of the query's service group, as a price
    /// found with its description.
    pub fn find(
        &self,
        q: &crate::billing::PriceQuery<'_>,
        location: &str,
    ) -> Option<crate::billing::PriceFound> {
        let (entries, texts) = self.by_code.get(q.service_group)?;
        let chosen = select_service_price(entries, q, location)?;
        let i = entries.iter().position(|e| std::ptr::eq(e, chosen))?;
        // The answer holds until the chosen entry ends or another entry starts.
        let mut until = chosen.valid_to.unwrap_or(NaiveDate::MAX);
        for e in entries {
            if e.valid_from > q.day {
                until = until.min(e.valid_from.pred_opt().unwrap_or(q.day));
            }
        }
        Some(crate::billing::PriceFound {
            unit_price: chosen.unit_price,
            source: texts.get(i)?.clone(),
            holds_until: Some(until),
        })
    }
}

impl PriceEntry {
    /// In words: code, price, start and what it is limited to.
    pub fn describe(&self) -> String {
        let mut parts = vec![format!(
            "service price {} {} {} from {}",
            self.code,
            self.unit_price.amount_string(),
            self.unit_price.currency(),
            self.valid_from
        )];
        if let Some(l) = &self.location {
            parts.push(format!("location {l}"));
        }
        if let Some(k) = &self.qualifiers.beneficiary_kind {
            parts.push(format!("beneficiary kind {k}"));
        }
        if let Some(o) = &self.qualifiers.object_type {
            parts.push(format!("object type {o}"));
        }
        if let Some(l) = &self.qualifiers.level {
            parts.push(format!("care level {l}"));
        }
        parts.join(", ")
    }
}

/// The entry that prices a billing-run line: `service_group` on `day` at `location`, among
/// entries without a payer whose qualifiers are unset or equal to the line's; the most specific
/// (location first, then level, object type, beneficiary kind), among equals the one that started last.
pub fn select_service_price<'a>(
    entries: &'a [PriceEntry],
    q: &crate::billing::PriceQuery<'_>,
    location: &str,
) -> Option<&'a PriceEntry> {
    let matches = |want: Option<&str>, have: Option<&str>| want.is_none_or(|w| Some(w) == have);
    entries
        .iter()
        .filter(|e| e.code == q.service_group && e.in_force(q.day) && e.payer.is_none())
        .filter(|e| e.location.as_deref().is_none_or(|l| l == location))
        .filter(|e| {
            matches(
                e.qualifiers.beneficiary_kind.as_deref(),
                Some(q.beneficiary_kind),
            ) && matches(e.qualifiers.object_type.as_deref(), q.object_type)
                && matches(e.qualifiers.level.as_deref(), q.level)
        })
        .max_by_key(|e| (e.location.is_some(), e.qualifiers.weight(), e.valid_from))
}

/// How much of a line a coverage pays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageTerms {
    /// The payer (code).
    pub payer: String,
    /// Percentage of what is left (after the copay) the payer covers, 0 to 100.
    pub covered_percent: Decimal,
    /// Fixed amount the patient pays on every line before this payer covers the rest.
    pub copay_per_line: Option<Money>,
    /// Fixed amount the patient pays once per episode, taken from the first lines.
    pub copay_per_episode: Option<Money>,
    /// Service groups this payer does not cover at all.
    pub excluded_groups: Vec<String>,
    /// The most this payer pays in one episode (its shares stop there; the rest moves on).
    #[serde(default)]
    pub cap_per_episode: Option<Money>,
    /// Service groups paid only with a pre-authorization (checked before the split: a line
    /// without one is flagged, not split).
    #[serde(default)]
    pub preauthorization_groups: Vec<String>,
    /// What the patient pays each calendar year (of the lines' service dates), across all their
    /// episodes, before this payer pays anything; taken after the copay.
    #[serde(default)]
    pub deductible_per_year: Option<Money>,
    /// The most this payer pays for the patient in one calendar year, across all episodes.
    #[serde(default)]
    pub cap_per_year: Option<Money>,
    /// How this payer pays when it is not the first payer of a line (coordination of
    /// benefits); `sequential` when absent, as before.
    #[serde(default)]
    pub coordination: Coordination,
    /// For `supplemental`: the parts of the patient responsibility left by the payers before
    /// it that this plan pays (any of `copay`, `deductible`, `coinsurance`).
    #[serde(default)]
    pub supplemental_parts: Vec<PartKind>,
}

crate::accounts::text_enum!(
    /// How a payer that is not the first payer of a line pays (coordination of benefits).
    Coordination {
        /// It applies its own copay, deductible and percentage to what the payers before it
        /// left (their withheld amounts pass on to it).
        Sequential = "sequential",
        /// It pays the lesser of what it would pay as the only payer and what is still open.
        Standard = "standard",
        /// It pays what it would pay as the only payer less what the payers before it paid,
        /// never below zero.
        NonDuplication = "non_duplication",
        /// It pays the patient responsibility the payers before it left, limited to the parts
        /// its plan names (its covered percentage of each) and to its own caps.
        Supplemental = "supplemental",
    }
);

#[expect(
    clippy::derivable_impls,
    reason = "the enum comes from text_enum!, which derives no Default"
)]
impl Default for Coordination {
    fn default() -> Self {
        Coordination::Sequential
    }
}

crate::accounts::text_enum!(
    /// What a part of a share is.
    PartKind {
        /// What a payer covers under its own terms (the first payer of the line).
        Covered = "covered",
        /// A copay withheld by a payer.
        Copay = "copay",
        /// A yearly deductible withheld by a payer.
        Deductible = "deductible",
        /// What the payer's percentage leaves.
        Coinsurance = "coinsurance",
        /// No payer covers it (no coverage applied).
        NotCovered = "not_covered",
        /// The payers exclude the line's service group.
        Excluded = "excluded",
        /// A payer's cap (per episode or per year) kept it from paying.
        CapReached = "cap_reached",
    }
);

/// One part of a share: what kind of money and how much. The parts of a share add up to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Part {
    /// What it is.
    pub kind: PartKind,
    /// How much.
    pub amount: Money,
}

/// The open parts of a line (what no payer has paid yet), by kind, in minor units, in the order
/// of [`PartKind::ALL`].
const KINDS: usize = 7;

fn kind_index(k: PartKind) -> usize {
    PartKind::ALL.iter().position(|x| *x == k).unwrap_or(0)
}

impl CoverageTerms {
    /// Whether the terms count across episodes (a yearly deductible or cap), so that splitting
    /// one episode needs what the patient's other episodes already used.
    pub fn spans_episodes(&self) -> bool {
        self.deductible_per_year.is_some() || self.cap_per_year.is_some()
    }

    /// What is wrong with the coordination settings, if anything: `supplemental` naming no
    /// part, or naming a part other than copay, deductible or coinsurance; parts named for
    /// another method.
    pub fn coordination_problem(&self) -> Option<String> {
        let allowed = [PartKind::Copay, PartKind::Deductible, PartKind::Coinsurance];
        match self.coordination {
            Coordination::Supplemental if self.supplemental_parts.is_empty() => Some(
                "supplemental coverage must name the parts it pays: any of copay, deductible, coinsurance"
                    .into(),
            ),
            Coordination::Supplemental => self
                .supplemental_parts
                .iter()
                .find(|p| !allowed.contains(p))
                .map(|p| {
                    format!(
                        "`{}` is not a part a supplemental plan pays: any of copay, deductible, coinsurance",
                        p.as_str()
                    )
                }),
            _ if !self.supplemental_parts.is_empty() => Some(format!(
                "supplemental_parts are only for the supplemental method (this one is {})",
                self.coordination.as_str()
            )),
            _ => None,
        }
    }
}

/// What a patient's other episodes already used of each payer's yearly allowances, in minor
/// units, by payer code and calendar year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YearToDate {
    used: std::collections::HashMap<(String, i32), Used>,
}

/// One payer's yearly use for one patient, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Used {
    /// Deductible the patient already paid.
    pub deductible: i64,
    /// What the payer already paid.
    pub paid: i64,
}

impl YearToDate {
    /// Adds a share of another episode: `deductible` the patient paid because of `payer`'s
    /// terms, `paid` what `payer` paid, on a line of `year`.
    pub fn add(&mut self, payer: &str, year: i32, deductible: i64, paid: i64) {
        let u = self.used.entry((payer.to_owned(), year)).or_default();
        u.deductible = u.deductible.saturating_add(deductible);
        u.paid = u.paid.saturating_add(paid);
    }

    /// What was used of `payer`'s allowances in `year`.
    pub fn get(&self, payer: &str, year: i32) -> Used {
        self.used
            .get(&(payer.to_owned(), year))
            .copied()
            .unwrap_or_default()
    }
}

/// A line to split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Its amount (unit price × quantity, already rounded).
    pub amount: Money,
    /// Its service group.
    pub service_group: String,
    /// The calendar year of its service date (yearly deductibles and caps count by it).
    #[serde(default)]
    pub year: i32,
}

/// Why a share is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Reason {
    /// The payer covers a percentage of what was left after the copay.
    Covered {
        /// The percentage.
        #[cfg_attr(feature = "openapi", schema(value_type = String))]
        percent: Decimal,
    },
    /// The payer excludes the line's service group.
    ExcludedGroup,
    /// Nothing was left for this payer.
    NothingLeft,
    /// The payer's cap per episode is reached: it pays what was left under the cap.
    CapReached,
    /// The payer's cap per calendar year (across the patient's episodes) is reached.
    YearCapReached,
    /// The patient's yearly deductible with this payer took all that reached it.
    DeductibleNotMet,
    /// The patient pays what the payers did not (including copays).
    Remainder,
    /// A billing run's line is billed whole to the party of its invoice context.
    InvoiceContext {
        /// The context.
        context: String,
    },
}

/// One party's share of a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Share {
    /// The payer's code, or `None` for the patient.
    pub payer: Option<String>,
    /// The amount.
    pub amount: Money,
    /// Copay charged to the patient on this line because of this payer's terms.
    pub copay: Money,
    /// Deductible withheld on this line because of this payer's yearly deductible.
    pub deductible: Money,
    /// Why.
    pub reason: Reason,
    /// What the share is made of; the parts add up to the share. A payer's parts are what it
    /// covers (the first payer) or the open parts it took over (those after it); the patient's
    /// are what is left open, each withheld amount counted once.
    #[serde(default)]
    pub parts: Vec<Part>,
    /// The coordination method used (every payer share after the first).
    #[serde(default)]
    pub method: Option<Coordination>,
}

/// Why a split cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// Lines and terms mix currencies.
    #[error("currency mismatch: {0}")]
    Currency(String),
    /// A percentage outside 0..=100.
    #[error("covered_percent of {0} must be between 0 and 100")]
    Percent(String),
    /// A negative line (credits are made by credit notes, not negative lines).
    #[error("line amount {0} is negative")]
    Negative(String),
    /// An amount too large to store.
    #[error("amount out of range")]
    OutOfRange,
}

fn minor(m: &Money) -> Result<i64, SplitError> {
    m.to_minor()
        .map(|u| u.0)
        .map_err(|_| SplitError::OutOfRange)
}

/// Splits each line of an episode between the coverages (in priority order) and the patient.
/// Per-episode copays are taken from the first lines until used up. For each line the payer
/// shares and the patient share add up to the line amount exactly.
///
/// A payer's copay is the part of what reaches it that it withholds and leaves to those after
/// it; the same patient money can therefore satisfy the copays of several payers (a secondary
/// payer's copay is not charged on top of the primary's). `Share::copay` reports what each
/// payer withheld; the patient's share is simply what no payer covered.
///
/// Yearly deductibles and caps start from nothing; see [`split_episode_with`].
pub fn split_episode(
    lines: &[Line],
    coverages: &[CoverageTerms],
) -> Result<Vec<Vec<Share>>, SplitError> {
    split_episode_with(lines, coverages, &mut YearToDate::default())
}

/// [`split_episode`], with what the patient's other episodes (and earlier splits of this one)
/// already used of each payer's yearly deductible and cap (`used`); what this split uses is
/// added to it, so that the next split of the patient's lines sees it. Per payer and line: the copay is withheld first, then
/// what is left of the yearly deductible, then the payer covers its percentage of the rest, up
/// to what is left under its episode and yearly caps. Withheld amounts (copay, deductible) and
/// what a payer does not cover pass on to the next payer, and finally to the patient.
pub fn split_episode_with(
    lines: &[Line],
    coverages: &[CoverageTerms],
    used: &mut YearToDate,
) -> Result<Vec<Vec<Share>>, SplitError> {
    let Some(currency) = lines.first().map(|l| l.amount.currency()) else {
        return Ok(Vec::new());
    };
    let check = |m: &Money| -> Result<(), SplitError> {
        if m.currency() == currency {
            Ok(())
        } else {
            Err(SplitError::Currency(format!(
                "{} and {}",
                currency,
                m.currency()
            )))
        }
    };
    for l in lines {
        check(&l.amount)?;
        if l.amount.amount().is_sign_negative() {
            return Err(SplitError::Negative(l.amount.to_string()));
        }
    }
    for c in coverages {
        if c.covered_percent < Decimal::ZERO || c.covered_percent > Decimal::ONE_HUNDRED {
            return Err(SplitError::Percent(c.covered_percent.to_string()));
        }
        for m in c
            .copay_per_line
            .iter()
            .chain(c.copay_per_episode.iter())
            .chain(c.cap_per_episode.iter())
            .chain(c.deductible_per_year.iter())
            .chain(c.cap_per_year.iter())
        {
            check(m)?;
        }
    }
    // What is left of each coverage's per-episode copay, in minor units.
    let mut episode_copay_left: Vec<i64> = coverages
        .iter()
        .map(|c| c.copay_per_episode.as_ref().map_or(Ok(0), minor))
        .collect::<Result<_, _>>()?;
    // What is left of each coverage's cap per episode, in minor units (none: no cap).
    let mut cap_left: Vec<Option<i64>> = coverages
        .iter()
        .map(|c| c.cap_per_episode.as_ref().map(minor).transpose())
        .collect::<Result<_, _>>()?;
    let deductibles: Vec<Option<i64>> = coverages
        .iter()
        .map(|c| c.deductible_per_year.as_ref().map(minor).transpose())
        .collect::<Result<_, _>>()?;
    let year_caps: Vec<Option<i64>> = coverages
        .iter()
        .map(|c| c.cap_per_year.as_ref().map(minor).transpose())
        .collect::<Result<_, _>>()?;
    let money = |units: i64| Money::from_minor(MinorUnits(units), currency);
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let line_units = minor(&line.amount)?;
        let mut remaining = line_units;
        let mut patient_copay = 0_i64;
        let mut patient_deductible = 0_i64;
        // The open parts of the line once a payer has explained it (the first payer that
        // applies its terms); their sum is always `remaining`.
        let mut open = [0_i64; KINDS];
        let mut explained = false;
        let mut any_excluded = false;
        let mut paid_before = 0_i64;
        let mut shares = Vec::with_capacity(coverages.len() + 1);
        let to_parts = |units: &[i64; KINDS]| -> Vec<Part> {
            PartKind::ALL
                .iter()
                .zip(units)
                .filter(|(_, u)| **u != 0)
                .map(|(k, u)| Part {
                    kind: *k,
                    amount: money(*u),
                })
                .collect()
        };
        for (i, terms) in coverages.iter().enumerate() {
            let method = (i > 0).then_some(terms.coordination);
            let nothing = |reason| Share {
                payer: Some(terms.payer.clone()),
                amount: money(0),
                copay: money(0),
                deductible: money(0),
                reason,
                parts: Vec::new(),
                method,
            };
            if terms.excluded_groups.contains(&line.service_group) {
                any_excluded = true;
                shares.push(nothing(Reason::ExcludedGroup));
                continue;
            }
            if remaining <= 0 {
                shares.push(nothing(Reason::NothingLeft));
                continue;
            }
            let so_far = used.get(&terms.payer, line.year);
            // What is left under the payer's caps (episode, year): the tighter one decides.
            let limit = |cap_left: &[Option<i64>]| -> (Option<i64>, Option<Reason>) {
                let mut limit: Option<(i64, Reason)> = None;
                if let Some(left) = cap_left[i] {
                    limit = Some((left.max(0), Reason::CapReached));
                }
                if let Some(cap) = year_caps[i] {
                    let left = (cap - so_far.paid).max(0);
                    if limit.as_ref().is_none_or(|(l, _)| left <= *l) {
                        limit = Some((left, Reason::YearCapReached));
                    }
                }
                match limit {
                    Some((l, r)) => (Some(l), Some(r)),
                    None => (None, None),
                }
            };
            if method == Some(Coordination::Supplemental) {
                // The named parts of what the payers before it left open, its percentage of
                // each, up to its caps. Its own copay and deductible do not apply.
                if !explained {
                    shares.push(nothing(Reason::NothingLeft));
                    continue;
                }
                // Its percentage of the named parts together (rounded once), taken from them
                // in their order.
                let named: i64 = terms
                    .supplemental_parts
                    .iter()
                    .map(|k| open[kind_index(*k)].max(0))
                    .sum();
                let mut left = round_share(named, terms.covered_percent, currency)
                    .min(named)
                    .max(0);
                let mut pay = [0_i64; KINDS];
                for k in PartKind::ALL {
                    if terms.supplemental_parts.contains(k) {
                        let j = kind_index(*k);
                        pay[j] = open[j].min(left).max(0);
                        left -= pay[j];
                    }
                }
                let mut total: i64 = pay.iter().sum();
                let mut reason = Reason::Covered {
                    percent: terms.covered_percent,
                };
                if let (Some(l), Some(r)) = limit(&cap_left)
                    && total >= l
                    && total > 0
                {
                    reduce_from_end(&mut pay, total - l);
                    total = l;
                    reason = r;
                }
                if total == 0 && !matches!(reason, Reason::CapReached | Reason::YearCapReached) {
                    reason = Reason::NothingLeft;
                }
                for (o, p) in open.iter_mut().zip(&pay) {
                    *o -= p;
                }
                if let Some(left) = cap_left[i].as_mut() {
                    *left -= total;
                }
                used.add(&terms.payer, line.year, 0, total);
                remaining -= total;
                paid_before += total;
                shares.push(Share {
                    payer: Some(terms.payer.clone()),
                    amount: money(total),
                    copay: money(0),
                    deductible: money(0),
                    reason,
                    parts: to_parts(&pay),
                    method,
                });
                continue;
            }
            // `standard` and `non_duplication` compute what the payer would pay as the only
            // payer; `sequential` (and the payer that first explains the line) what reaches it.
            let alone = explained
                && matches!(
                    method,
                    Some(Coordination::Standard | Coordination::NonDuplication)
                );
            let reaching = if alone { line_units } else { remaining };
            let per_line = terms.copay_per_line.as_ref().map_or(Ok(0), minor)?.max(0);
            let per_episode = episode_copay_left[i].max(0);
            let copay = per_line.saturating_add(per_episode).min(reaching);
            // The per-line part is charged first; what is left of the copay comes off the episode's.
            episode_copay_left[i] -= (copay - per_line.min(copay)).max(0);
            let mut base = reaching - copay;
            let deductible =
                deductibles[i].map_or(0, |d| (d - so_far.deductible).clamp(0, base.max(0)));
            base -= deductible;
            let uncapped = round_share(base, terms.covered_percent, currency)
                .min(base)
                .max(0);
            let mut covered = uncapped;
            let mut reason = if deductible > 0 && covered == 0 {
                Reason::DeductibleNotMet
            } else {
                Reason::Covered {
                    percent: terms.covered_percent,
                }
            };
            // The tighter cap decides (the yearly one when both bind); the episode's cap then
            // counts only what the payer really pays.
            if let (Some(l), Some(r)) = limit(&cap_left)
                && covered >= l
            {
                covered = l;
                reason = r;
            }
            let pays = match method {
                Some(Coordination::Standard) if alone => covered.min(remaining),
                Some(Coordination::NonDuplication) if alone => {
                    (covered - paid_before).clamp(0, remaining)
                }
                _ => covered,
            };
            if pays == 0 && covered > 0 {
                reason = Reason::NothingLeft;
            }
            if let Some(left) = cap_left[i].as_mut() {
                *left -= pays;
            }
            used.add(&terms.payer, line.year, deductible, pays);
            let parts = if explained {
                let mut took = [0_i64; KINDS];
                let mut left = pays;
                for j in (0..KINDS).rev() {
                    let t = open[j].min(left).max(0);
                    open[j] -= t;
                    took[j] = t;
                    left -= t;
                }
                to_parts(&took)
            } else {
                explained = true;
                open[kind_index(PartKind::Copay)] = copay;
                open[kind_index(PartKind::Deductible)] = deductible;
                open[kind_index(PartKind::Coinsurance)] = base - uncapped;
                open[kind_index(PartKind::CapReached)] = uncapped - covered;
                let mut mine = [0_i64; KINDS];
                mine[kind_index(PartKind::Covered)] = pays;
                to_parts(&mine)
            };
            remaining -= pays;
            paid_before += pays;
            patient_copay += copay;
            patient_deductible += deductible;
            shares.push(Share {
                payer: Some(terms.payer.clone()),
                amount: money(pays),
                copay: money(copay),
                deductible: money(deductible),
                reason,
                parts,
                method,
            });
        }
        if !explained {
            let kind = if any_excluded {
                PartKind::Excluded
            } else {
                PartKind::NotCovered
            };
            open[kind_index(kind)] = remaining;
        }
        // What of the patient's share is copay, then deductible (a later payer may have
        // covered part of them).
        let copay = patient_copay.min(remaining);
        shares.push(Share {
            payer: None,
            amount: money(remaining),
            copay: money(copay),
            deductible: money(patient_deductible.min(remaining - copay)),
            reason: Reason::Remainder,
            parts: to_parts(&open),
            method: None,
        });
        out.push(shares);
    }
    Ok(out)
}

/// Takes `excess` off `units`, from the last kind backwards.
fn reduce_from_end(units: &mut [i64; KINDS], mut excess: i64) {
    for u in units.iter_mut().rev() {
        let t = (*u).min(excess).max(0);
        *u -= t;
        excess -= t;
    }
}

/// `percent` of `units` minor units, rounded half away from zero to a whole minor unit.
fn round_share(units: i64, percent: Decimal, currency: Currency) -> i64 {
    let exact = Decimal::from(units) * percent / Decimal::ONE_HUNDRED;
    let rounded = Money::round(
        exact / Decimal::from(10_i64.pow(currency.exponent())),
        currency,
    );
    rounded.to_minor().map_or(0, |m| m.0)
}

/// A promotional offer: buying its bundle (a catalog code priced like any other, e.g. ten
/// physiotherapy sessions at a discount) prepays `units` of its services for the patient, used
/// up by their later consumptions of those services in any episode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// The offer's code.
    pub code: String,
    /// The catalog code whose consumption is the purchase.
    pub bundle_code: String,
    /// The catalog codes the prepaid units pay for.
    pub service_codes: Vec<String>,
    /// Units prepaid per bundle bought.
    pub units: Decimal,
    /// Days the units can be used from the day of purchase (none: no limit).
    pub valid_days: Option<u32>,
}

/// A bundle a patient bought: the prepaid units of one offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    /// The purchase (the bundle consumption's id).
    pub id: String,
    /// The offer.
    pub offer: String,
    /// The codes its units pay for.
    pub service_codes: Vec<String>,
    /// Units bought.
    pub units: Decimal,
    /// Units used elsewhere already (other settlements).
    pub used: Decimal,
    /// The day of purchase: usable from it.
    pub from: NaiveDate,
    /// The last day it is usable.
    pub until: Option<NaiveDate>,
}

impl Purchase {
    /// The purchase of `bundles` bundles of `offer` on `day`.
    pub fn of(offer: &Offer, id: String, bundles: Decimal, day: NaiveDate) -> Purchase {
        Purchase {
            id,
            offer: offer.code.clone(),
            service_codes: offer.service_codes.clone(),
            units: offer.units * bundles,
            used: Decimal::ZERO,
            from: day,
            until: offer.valid_days.and_then(|d| {
                day.checked_add_days(chrono::Days::new(u64::from(d.saturating_sub(1))))
            }),
        }
    }

    /// Units still free.
    pub fn remaining(&self) -> Decimal {
        (self.units - self.used).max(Decimal::ZERO)
    }
}

/// What a line took from a purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OfferUse {
    /// The offer.
    pub offer: String,
    /// The purchase (the bundle consumption's id).
    pub purchase: String,
    /// Units of the line it paid (at zero); the rest of the line is priced as usual.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub units: Decimal,
    /// Units of the purchase left after this line.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub remaining: Decimal,
}

/// A patient's purchases, used up line by line: each line takes from the purchase that ends
/// first (then the oldest) among those valid on its day and paying for its code.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OfferBook {
    purchases: Vec<Purchase>,
}

impl OfferBook {
    /// The book of `purchases`.
    pub fn new(mut purchases: Vec<Purchase>) -> Self {
        purchases.sort_by(|a, b| {
            (a.until.unwrap_or(NaiveDate::MAX), a.from, &a.id).cmp(&(
                b.until.unwrap_or(NaiveDate::MAX),
                b.from,
                &b.id,
            ))
        });
        OfferBook { purchases }
    }

    /// Whether any purchase pays for `code`.
    pub fn covers(&self, code: &str) -> bool {
        self.purchases
            .iter()
            .any(|p| p.service_codes.iter().any(|c| c == code))
    }

    /// Takes up to `quantity` units for a line of `code` on `day`, from the first purchase (in
    /// the book's order) that pays for the code, is valid that day and has units left.
    pub fn take(&mut self, code: &str, day: NaiveDate, quantity: Decimal) -> Option<OfferUse> {
        if quantity <= Decimal::ZERO {
            return None;
        }
        let p = self.purchases.iter_mut().find(|p| {
            p.service_codes.iter().any(|c| c == code)
                && p.from <= day
                && p.until.is_none_or(|u| day <= u)
                && p.remaining() > Decimal::ZERO
        })?;
        let units = quantity.min(p.remaining());
        p.used += units;
        Some(OfferUse {
            offer: p.offer.clone(),
            purchase: p.id.clone(),
            units,
            remaining: p.remaining(),
        })
    }

    /// Returns what `used` took (its line is not billed after all).
    pub fn give_back(&mut self, used: &OfferUse) {
        if let Some(p) = self.purchases.iter_mut().find(|p| p.id == used.purchase) {
            p.used = (p.used - used.units).max(Decimal::ZERO);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eur(units: i64) -> Money {
        Money::from_minor(MinorUnits(units), Currency::EUR)
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap_or(NaiveDate::MIN)
    }

    fn entry(
        price: i64,
        from: &str,
        to: Option<&str>,
        location: Option<&str>,
        payer: Option<&str>,
    ) -> PriceEntry {
        PriceEntry {
            code: "LAB-HB".into(),
            unit_price: eur(price),
            valid_from: day(from),
            valid_to: to.map(day),
            location: location.map(Into::into),
            payer: payer.map(Into::into),
            qualifiers: PriceQualifiers::default(),
            components: Vec::new(),
        }
    }

    #[test]
    fn service_prices_match_their_qualifiers_and_never_price_consumptions() {
        let q = |kind: Option<&str>, object: Option<&str>, level: Option<&str>, price: i64| {
            PriceEntry {
                code: "ROOM".into(),
                qualifiers: PriceQualifiers {
                    beneficiary_kind: kind.map(Into::into),
                    object_type: object.map(Into::into),
                    level: level.map(Into::into),
                },
                ..entry(price, "2026-01-01", None, None, None)
            }
        };
        let list = vec![
            q(None, None, None, 5000),
            q(Some("LTC"), None, None, 9000),
            q(Some("LTC"), Some("SINGLE"), None, 12000),
            q(None, Some("DOUBLE"), None, 8000),
            PriceEntry {
                location: Some("H1".into()),
                ..q(None, None, None, 4000)
            },
        ];
        let price = |kind: &str, object: Option<&str>, loc: &str| {
            let query = crate::billing::PriceQuery {
                service_group: "ROOM",
                day: day("2026-10-01"),
                beneficiary_kind: kind,
                object_type: object,
                level: None,
            };
            select_service_price(&list, &query, loc).map(|e| minor(&e.unit_price).unwrap_or(0))
        };
        assert_eq!(price("LTC", Some("SINGLE"), "H2"), Some(12000));
        assert_eq!(price("LTC", None, "H2"), Some(9000));
        assert_eq!(
            price("LTC", Some("DOUBLE"), "H2"),
            Some(8000),
            "object type over kind"
        );
        assert_eq!(price("SHORT", Some("DOUBLE"), "H2"), Some(8000));
        assert_eq!(price("SHORT", None, "H2"), Some(5000));
        assert_eq!(
            price("LTC", Some("SINGLE"), "H1"),
            Some(4000),
            "location first"
        );
        // The price book says how long an answer holds: until the entry ends or another starts.
        let mut later = list.clone();
        later.push(PriceEntry {
            valid_from: day("2026-10-16"),
            ..q(Some("LTC"), Some("SINGLE"), Some("L9"), 1)
        });
        let book = ServicePrices::new(later);
        let query = crate::billing::PriceQuery {
            service_group: "ROOM",
            day: day("2026-10-01"),
            beneficiary_kind: "LTC",
            object_type: Some("SINGLE"),
            level: None,
        };
        let found = book.find(&query, "H2").expect("priced");
        assert_eq!(found.unit_price, eur(12000));
        assert_eq!(found.holds_until, Some(day("2026-10-15")));
        assert!(
            found.source.contains("object type SINGLE"),
            "{}",
            found.source
        );
        // A consumption of ROOM is priced by the unqualified entries only.
        let consumption = select_price(&list, "ROOM", day("2026-10-01"), "H2", None);
        assert_eq!(
            consumption.map(|e| minor(&e.unit_price).unwrap_or(0)),
            Some(5000)
        );
    }

    #[test]
    fn the_most_specific_price_in_force_wins() {
        let list = vec![
            entry(1000, "2026-01-01", None, None, None),
            entry(1100, "2026-07-01", None, None, None),
            entry(900, "2026-01-01", None, Some("H1"), None),
            entry(800, "2026-01-01", None, None, Some("SANITAS")),
            entry(
                700,
                "2026-01-01",
                Some("2026-06-30"),
                Some("H1"),
                Some("SANITAS"),
            ),
        ];
        let price = |d: &str, loc: &str, payer: Option<&str>| {
            select_price(&list, "LAB-HB", day(d), loc, payer)
                .map(|e| minor(&e.unit_price).unwrap_or(0))
        };
        assert_eq!(price("2026-03-01", "H2", None), Some(1000));
        assert_eq!(
            price("2026-08-01", "H2", None),
            Some(1100),
            "the newer general price"
        );
        assert_eq!(price("2026-03-01", "H1", None), Some(900));
        assert_eq!(price("2026-03-01", "H2", Some("SANITAS")), Some(800));
        assert_eq!(price("2026-03-01", "H1", Some("SANITAS")), Some(700));
        assert_eq!(
            price("2026-08-01", "H1", Some("SANITAS")),
            Some(800),
            "the location+payer price ended"
        );
        assert_eq!(
            price("2025-12-31", "H1", None),
            None,
            "nothing in force yet"
        );
        assert!(select_price(&list, "OTHER", day("2026-03-01"), "H1", None).is_none());
    }

    fn terms(payer: &str, pct: i64) -> CoverageTerms {
        CoverageTerms {
            payer: payer.into(),
            covered_percent: Decimal::from(pct),
            copay_per_line: None,
            copay_per_episode: None,
            excluded_groups: vec![],
            cap_per_episode: None,
            preauthorization_groups: vec![],
            deductible_per_year: None,
            cap_per_year: None,
            coordination: Coordination::Sequential,
            supplemental_parts: vec![],
        }
    }

    fn amounts(shares: &[Share]) -> Vec<i64> {
        shares
            .iter()
            .map(|s| minor(&s.amount).unwrap_or(-1))
            .collect()
    }

    #[test]
    fn two_payers_in_priority_order_and_the_patient_pays_the_rest() {
        let lines = vec![Line {
            amount: eur(10_000),
            service_group: "LAB".into(),
            year: 2026,
        }];
        let split =
            split_episode(&lines, &[terms("SANITAS", 80), terms("MUTUA", 50)]).unwrap_or_default();
        assert_eq!(amounts(&split[0]), vec![8_000, 1_000, 1_000]);
        assert_eq!(split[0][2].payer, None);
    }

    #[test]
    fn copays_and_exclusions_are_applied_with_reasons() {
        let mut primary = terms("SANITAS", 100);
        primary.copay_per_line = Some(eur(500));
        primary.excluded_groups = vec!["DENTAL".into()];
        let lines = vec![
            Line {
                amount: eur(3_000),
                service_group: "LAB".into(),
                year: 2026,
            },
            Line {
                amount: eur(2_000),
                service_group: "DENTAL".into(),
                year: 2026,
            },
        ];
        let split = split_episode(&lines, &[primary]).unwrap_or_default();
        assert_eq!(amounts(&split[0]), vec![2_500, 500]);
        assert_eq!(minor(&split[0][0].copay).unwrap_or(0), 500);
        assert_eq!(amounts(&split[1]), vec![0, 2_000]);
        assert_eq!(split[1][0].reason, Reason::ExcludedGroup);
    }

    #[test]
    fn a_per_episode_copay_is_taken_once_from_the_first_lines() {
        let mut t = terms("SANITAS", 100);
        t.copay_per_episode = Some(eur(1_500));
        let lines: Vec<Line> = (0..3)
            .map(|_| Line {
                amount: eur(1_000),
                service_group: "LAB".into(),
                year: 2026,
            })
            .collect();
        let split = split_episode(&lines, &[t]).unwrap_or_default();
        let patient: Vec<i64> = split
            .iter()
            .map(|s| minor(&s[1].amount).unwrap_or(0))
            .collect();
        assert_eq!(patient, vec![1_000, 500, 0]);
    }

    #[test]
    fn a_cap_per_episode_stops_the_payer_and_the_next_party_takes_the_rest() {
        // SANITAS 80 % capped at 100.00 per episode, MUTUA 50 % behind it. Lines of 100.00 and
        // 50.00: SANITAS pays 80.00, then only the 20.00 left under its cap (of 40.00); MUTUA
        // half of what is left each time, the patient the rest.
        let mut sanitas = terms("SANITAS", 80);
        sanitas.cap_per_episode = Some(eur(10_000));
        let lines = vec![
            Line {
                amount: eur(10_000),
                service_group: "LAB".into(),
                year: 2026,
            },
            Line {
                amount: eur(5_000),
                service_group: "LAB".into(),
                year: 2026,
            },
        ];
        let split = split_episode(&lines, &[sanitas, terms("MUTUA", 50)]).expect("split");
        assert_eq!(amounts(&split[0]), [8_000, 1_000, 1_000]);
        assert_eq!(amounts(&split[1]), [2_000, 1_500, 1_500]);
        assert_eq!(split[1][0].reason, Reason::CapReached);
    }

    #[test]
    fn a_yearly_deductible_and_cap_count_across_episodes_and_restart_each_year() {
        // SANITAS 80 %, deductible 100.00 and cap 500.00 a year. An earlier episode this year
        // already used 60.00 of the deductible and 450.00 of the cap.
        let mut sanitas = terms("SANITAS", 80);
        sanitas.deductible_per_year = Some(eur(10_000));
        sanitas.cap_per_year = Some(eur(50_000));
        let mut before = YearToDate::default();
        before.add("SANITAS", 2026, 6_000, 45_000);
        let line = |amount, year| Line {
            amount: eur(amount),
            service_group: "LAB".into(),
            year,
        };
        let lines = vec![
            line(3_000, 2026),
            line(5_000, 2026),
            line(20_000, 2026),
            line(5_000, 2027),
        ];
        let split =
            split_episode_with(&lines, &[sanitas.clone()], &mut before.clone()).expect("split");
        // 30.00: all of it goes to the 40.00 left of the deductible.
        assert_eq!(amounts(&split[0]), [0, 3_000]);
        assert_eq!(split[0][0].reason, Reason::DeductibleNotMet);
        assert_eq!(minor(&split[0][0].deductible).unwrap_or(0), 3_000);
        // 50.00: 10.00 ends the deductible, 80 % of 40.00 = 32.00.
        assert_eq!(amounts(&split[1]), [3_200, 1_800]);
        assert_eq!(minor(&split[1][0].deductible).unwrap_or(0), 1_000);
        // 200.00: 80 % = 160.00, but only 500 - 450 - 32 = 18.00 is left under the cap.
        assert_eq!(amounts(&split[2]), [1_800, 18_200]);
        assert_eq!(split[2][0].reason, Reason::YearCapReached);
        // 2027 starts again: 50.00 all deductible.
        assert_eq!(amounts(&split[3]), [0, 5_000]);
        // Without the other episode, this one alone meets the deductible on its first two lines.
        let alone = split_episode(&lines, &[sanitas]).expect("split");
        assert_eq!(amounts(&alone[0]), [0, 3_000]);
        assert_eq!(amounts(&alone[1]), [0, 5_000]);
        assert_eq!(minor(&alone[1][0].deductible).unwrap_or(0), 5_000);
        // 200.00: 20.00 ends the deductible; 80 % of 180.00 = 144.00.
        assert_eq!(amounts(&alone[2]), [14_400, 5_600]);
    }

    #[test]
    fn the_episode_cap_counts_only_what_the_payer_paid_under_the_yearly_cap() {
        // A stay over the new year: the 2026 cap is used up elsewhere, so the December line
        // pays nothing — and leaves the whole 60.00 episode cap to January.
        let mut sanitas = terms("SANITAS", 100);
        sanitas.cap_per_episode = Some(eur(6_000));
        sanitas.cap_per_year = Some(eur(100_000));
        let mut used = YearToDate::default();
        used.add("SANITAS", 2026, 0, 100_000);
        let line = |amount, year| Line {
            amount: eur(amount),
            service_group: "LAB".into(),
            year,
        };
        let split = split_episode_with(
            &[line(5_000, 2026), line(5_000, 2027), line(5_000, 2027)],
            &[sanitas],
            &mut used,
        )
        .expect("split");
        assert_eq!(amounts(&split[0]), [0, 5_000]);
        assert_eq!(split[0][0].reason, Reason::YearCapReached);
        assert_eq!(amounts(&split[1]), [5_000, 0]);
        assert_eq!(amounts(&split[2]), [1_000, 4_000]);
        assert_eq!(split[2][0].reason, Reason::CapReached);
        assert_eq!(
            used.get("SANITAS", 2027).paid,
            6_000,
            "what this split used is counted"
        );
    }

    #[test]
    fn a_secondary_payer_may_cover_the_primary_deductible() {
        let mut sanitas = terms("SANITAS", 100);
        sanitas.deductible_per_year = Some(eur(5_000));
        let lines = vec![Line {
            amount: eur(8_000),
            service_group: "LAB".into(),
            year: 2026,
        }];
        let split = split_episode(&lines, &[sanitas, terms("MUTUA", 50)]).expect("split");
        // SANITAS: 50.00 deductible, 30.00 covered; MUTUA half of the 50.00 passed on.
        assert_eq!(amounts(&split[0]), [3_000, 2_500, 2_500]);
    }

    #[test]
    fn prepaid_units_are_used_up_by_validity_then_age_and_never_beyond() {
        let offer = |code: &str, days| Offer {
            code: code.into(),
            bundle_code: format!("{code}-BUNDLE"),
            service_codes: vec!["PHYSIO".into()],
            units: Decimal::from(10),
            valid_days: days,
        };
        // Five left of an open-ended bundle bought in January; ten of a 30-day one from March.
        let mut old = Purchase::of(
            &offer("OPEN", None),
            "p1".into(),
            Decimal::ONE,
            day("2026-01-10"),
        );
        old.used = Decimal::from(5);
        let short = Purchase::of(
            &offer("MARCH", Some(30)),
            "p2".into(),
            Decimal::ONE,
            day("2026-03-01"),
        );
        assert_eq!(short.until, Some(day("2026-03-30")));
        let mut book = OfferBook::new(vec![old, short]);
        let take = |book: &mut OfferBook, on: &str, q: i64| {
            book.take("PHYSIO", day(on), Decimal::from(q))
                .map(|u| (u.purchase, u.units.to_string(), u.remaining.to_string()))
        };
        assert_eq!(
            take(&mut book, "2026-02-01", 2),
            Some(("p1".into(), "2".into(), "3".into()))
        );
        // In March the bundle that ends first is used first.
        assert_eq!(
            take(&mut book, "2026-03-05", 4),
            Some(("p2".into(), "4".into(), "6".into()))
        );
        assert_eq!(
            take(&mut book, "2026-03-06", 8),
            Some(("p2".into(), "6".into(), "0".into()))
        );
        // After March the open one again; it pays what it has left and no more.
        assert_eq!(
            take(&mut book, "2026-04-01", 5),
            Some(("p1".into(), "3".into(), "0".into()))
        );
        assert_eq!(take(&mut book, "2026-04-02", 1), None);
        assert_eq!(book.take("OTHER", day("2026-02-01"), Decimal::ONE), None);
        assert_eq!(take(&mut OfferBook::default(), "2026-02-01", 1), None);
        // Nothing before the purchase.
        let mut later = OfferBook::new(vec![Purchase::of(
            &offer("X", None),
            "p3".into(),
            Decimal::from(2),
            day("2026-05-01"),
        )]);
        assert_eq!(take(&mut later, "2026-04-30", 1), None);
        assert_eq!(
            take(&mut later, "2026-05-01", 25),
            Some(("p3".into(), "20".into(), "0".into()))
        );
    }

    #[test]
    fn bad_terms_are_errors() {
        let lines = vec![Line {
            amount: eur(100),
            service_group: "LAB".into(),
            year: 2026,
        }];
        assert!(matches!(
            split_episode(&lines, &[terms("X", 101)]),
            Err(SplitError::Percent(_))
        ));
        let mut usd = terms("X", 50);
        usd.copay_per_line = Some(Money::zero(Currency::parse("USD").unwrap_or(Currency::EUR)));
        assert!(matches!(
            split_episode(&lines, &[usd]),
            Err(SplitError::Currency(_))
        ));
    }

    proptest! {
        #[test]
        fn yearly_allowances_are_never_exceeded_across_episodes(
            episodes in proptest::collection::vec(proptest::collection::vec((0i64..200_000, 2026i32..2028), 1..8), 1..5),
            pct in 0u32..=100,
            deductible in 0i64..50_000,
            cap in 0i64..300_000,
        ) {
            let mut t = terms("P", i64::from(pct));
            t.deductible_per_year = Some(eur(deductible));
            t.cap_per_year = Some(eur(cap));
            let mut before = YearToDate::default();
            // What the shares say, added up independently of the split's own count.
            let mut paid = YearToDate::default();
            for lines in &episodes {
                let lines: Vec<Line> = lines.iter().map(|(a, y)| Line { amount: eur(*a), service_group: "LAB".into(), year: *y }).collect();
                // The lines of one episode may be split in several groups (other coverages).
                for group in lines.chunks(3) {
                    let split = split_episode_with(group, std::slice::from_ref(&t), &mut before).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    for (line, shares) in group.iter().zip(&split) {
                        let total: i64 = shares.iter().map(|s| minor(&s.amount).unwrap_or(i64::MIN)).sum();
                        prop_assert_eq!(total, minor(&line.amount).unwrap_or(0));
                        paid.add("P", line.year, minor(&shares[0].deductible).unwrap_or(0), minor(&shares[0].amount).unwrap_or(0));
                    }
                }
            }
            prop_assert_eq!(&paid, &before);
            for year in 2026..2028 {
                let used = paid.get("P", year);
                prop_assert!(used.deductible <= deductible);
                prop_assert!(used.paid <= cap, "{} paid over the cap {}", used.paid, cap);
                // The payer pays nothing in a year before its deductible is met.
                if used.paid > 0 {
                    prop_assert_eq!(used.deductible, deductible);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn shares_always_add_up_to_the_line_to_the_cent(
            amounts_in in proptest::collection::vec(0i64..5_000_000, 1..20),
            payers in proptest::collection::vec((0u32..=10_000, 0i64..5_000, 0i64..20_000, any::<bool>(), proptest::option::of(0i64..50_000)), 0..4),
        ) {
            let lines: Vec<Line> = amounts_in.iter().enumerate()
                .map(|(i, a)| Line { amount: eur(*a), service_group: if i % 3 == 0 { "DENTAL".into() } else { "LAB".into() }, year: 2026 })
                .collect();
            let coverages: Vec<CoverageTerms> = payers.iter().enumerate().map(|(i, (pct, per_line, per_episode, excl, cap))| CoverageTerms {
                payer: format!("P{i}"),
                covered_percent: Decimal::new(i64::from(*pct), 2),
                copay_per_line: Some(eur(*per_line)),
                copay_per_episode: Some(eur(*per_episode)),
                excluded_groups: if *excl { vec!["DENTAL".into()] } else { vec![] },
                cap_per_episode: cap.map(eur),
                preauthorization_groups: vec![],
                deductible_per_year: None,
                cap_per_year: None,
                coordination: Coordination::Sequential,
                supplemental_parts: vec![],
            }).collect();
            let split = split_episode(&lines, &coverages).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(split.len(), lines.len());
            // No payer pays more than its cap over the episode.
            for (i, c) in coverages.iter().enumerate() {
                if let Some(cap) = &c.cap_per_episode {
                    let paid: i64 = split.iter().map(|shares| minor(&shares[i].amount).unwrap_or(0)).sum();
                    prop_assert!(paid <= minor(cap).unwrap_or(0), "{} paid {} over its cap {}", c.payer, paid, cap);
                }
            }
            for (line, shares) in lines.iter().zip(&split) {
                prop_assert_eq!(shares.len(), coverages.len() + 1);
                let total: i64 = shares.iter().map(|s| minor(&s.amount).unwrap_or(i64::MIN)).sum();
                prop_assert_eq!(total, minor(&line.amount).unwrap_or(0));
                prop_assert!(shares.iter().all(|s| minor(&s.amount).unwrap_or(-1) >= 0));
            }
            // A per-episode copay is charged at most once across the episode: beyond the
            // per-line copay of each line, the extra never adds up to more than it.
            for (i, (_, per_line, per_episode, _, _)) in payers.iter().enumerate() {
                let extra: i64 = split.iter().map(|s| (minor(&s[i].copay).unwrap_or(0) - per_line).max(0)).sum();
                prop_assert!(extra <= *per_episode, "payer {i}: {extra} > {per_episode}");
            }
        }
    }

    /// Payer A of the issue: 10.00 copay per episode, 50.00 yearly deductible, then 90 %.
    fn payer_a() -> CoverageTerms {
        let mut a = terms("A", 90);
        a.copay_per_episode = Some(eur(1_000));
        a.deductible_per_year = Some(eur(5_000));
        a
    }

    fn with(mut t: CoverageTerms, method: Coordination, parts: &[PartKind]) -> CoverageTerms {
        t.coordination = method;
        t.supplemental_parts = parts.to_vec();
        t
    }

    fn parts(share: &Share) -> Vec<(PartKind, i64)> {
        share
            .parts
            .iter()
            .map(|p| (p.kind, minor(&p.amount).unwrap_or(-1)))
            .collect()
    }

    fn one_line(b: CoverageTerms) -> Vec<Share> {
        let lines = [Line {
            amount: eur(18_750),
            service_group: "LAB".into(),
            year: 2026,
        }];
        split_episode(&lines, &[payer_a(), b])
            .expect("split")
            .remove(0)
    }

    #[test]
    fn the_issue_example_a_supplemental_plan_pays_only_the_coinsurance() {
        let b = with(
            terms("B", 100),
            Coordination::Supplemental,
            &[PartKind::Coinsurance],
        );
        let s = one_line(b);
        assert_eq!(amounts(&s), [11_475, 1_275, 6_000]);
        assert_eq!(parts(&s[0]), [(PartKind::Covered, 11_475)]);
        assert_eq!(s[0].method, None);
        assert_eq!(parts(&s[1]), [(PartKind::Coinsurance, 1_275)]);
        assert_eq!(s[1].method, Some(Coordination::Supplemental));
        assert_eq!(
            parts(&s[2]),
            [(PartKind::Copay, 1_000), (PartKind::Deductible, 5_000)]
        );
    }

    #[test]
    fn sequential_passes_the_withheld_amounts_on_as_before() {
        let s = one_line(terms("B", 100));
        assert_eq!(amounts(&s), [11_475, 7_275, 0]);
        assert_eq!(s[1].method, Some(Coordination::Sequential));
        assert_eq!(
            parts(&s[1]),
            [
                (PartKind::Copay, 1_000),
                (PartKind::Deductible, 5_000),
                (PartKind::Coinsurance, 1_275)
            ]
        );
        assert!(s[2].parts.is_empty());
        // Giving B A's copay and deductible: the patient's 60.00 is copay 10.00 and
        // deductible 50.00, each counted once.
        let mut b = terms("B", 100);
        b.copay_per_episode = Some(eur(1_000));
        b.deductible_per_year = Some(eur(5_000));
        let s = one_line(b);
        assert_eq!(amounts(&s), [11_475, 1_275, 6_000]);
        assert_eq!(
            parts(&s[2]),
            [(PartKind::Copay, 1_000), (PartKind::Deductible, 5_000)]
        );
    }

    #[test]
    fn standard_pays_the_lesser_of_alone_and_what_is_open() {
        // B alone: 20.00 copay, 40 % of 167.50 = 67.00; open after A: 72.75.
        let mut b = with(terms("B", 40), Coordination::Standard, &[]);
        b.copay_per_line = Some(eur(2_000));
        let s = one_line(b);
        assert_eq!(amounts(&s), [11_475, 6_700, 575]);
        assert_eq!(
            parts(&s[1]),
            [
                (PartKind::Copay, 425),
                (PartKind::Deductible, 5_000),
                (PartKind::Coinsurance, 1_275)
            ]
        );
        assert_eq!(parts(&s[2]), [(PartKind::Copay, 575)]);
        // At 100 % alone it would pay 167.50: only the 72.75 still open.
        let s = one_line(with(terms("B", 100), Coordination::Standard, &[]));
        assert_eq!(amounts(&s), [11_475, 7_275, 0]);
    }

    #[test]
    fn non_duplication_pays_alone_less_what_was_paid() {
        // B alone 80 % of 187.50 = 150.00, less A's 114.75 = 35.25.
        let s = one_line(with(terms("B", 80), Coordination::NonDuplication, &[]));
        assert_eq!(amounts(&s), [11_475, 3_525, 3_750]);
        assert_eq!(
            parts(&s[1]),
            [
                (PartKind::Deductible, 2_250),
                (PartKind::Coinsurance, 1_275)
            ]
        );
        assert_eq!(
            parts(&s[2]),
            [(PartKind::Copay, 1_000), (PartKind::Deductible, 2_750)]
        );
        // Never below zero: B alone at 50 % (93.75) pays nothing behind A's 114.75.
        let s = one_line(with(terms("B", 50), Coordination::NonDuplication, &[]));
        assert_eq!(amounts(&s), [11_475, 0, 7_275]);
        assert_eq!(s[1].reason, Reason::NothingLeft);
    }

    #[test]
    fn supplemental_pays_the_parts_it_names_up_to_its_caps() {
        let b = with(
            terms("B", 100),
            Coordination::Supplemental,
            &[PartKind::Copay, PartKind::Deductible],
        );
        let s = one_line(b.clone());
        assert_eq!(amounts(&s), [11_475, 6_000, 1_275]);
        assert_eq!(
            parts(&s[1]),
            [(PartKind::Copay, 1_000), (PartKind::Deductible, 5_000)]
        );
        assert_eq!(parts(&s[2]), [(PartKind::Coinsurance, 1_275)]);
        // Capped at 25.00 an episode: the copay first, then 15.00 of the deductible.
        let mut capped = b;
        capped.cap_per_episode = Some(eur(2_500));
        let s = one_line(capped);
        assert_eq!(amounts(&s), [11_475, 2_500, 4_775]);
        assert_eq!(s[1].reason, Reason::CapReached);
        assert_eq!(
            parts(&s[1]),
            [(PartKind::Copay, 1_000), (PartKind::Deductible, 1_500)]
        );
        // An excluded group: nothing.
        let mut excl = with(
            terms("B", 100),
            Coordination::Supplemental,
            &[PartKind::Copay],
        );
        excl.excluded_groups = vec!["LAB".into()];
        let s = one_line(excl);
        assert_eq!(amounts(&s), [11_475, 0, 7_275]);
        assert_eq!(s[1].reason, Reason::ExcludedGroup);
    }

    #[test]
    fn coordination_problems_are_named() {
        assert!(terms("A", 50).coordination_problem().is_none());
        assert!(
            with(terms("A", 50), Coordination::Supplemental, &[])
                .coordination_problem()
                .is_some()
        );
        assert!(
            with(
                terms("A", 50),
                Coordination::Supplemental,
                &[PartKind::Covered]
            )
            .coordination_problem()
            .is_some()
        );
        assert!(
            with(terms("A", 50), Coordination::Standard, &[PartKind::Copay])
                .coordination_problem()
                .is_some()
        );
        // Stored terms without a method read as sequential.
        let old = r#"{"payer":"A","covered_percent":"50","copay_per_line":null,"copay_per_episode":null,"excluded_groups":[]}"#;
        let t: CoverageTerms = serde_json::from_str(old).expect("reads");
        assert_eq!(t.coordination, Coordination::Sequential);
    }

    fn method_of(n: u8) -> Coordination {
        Coordination::ALL[usize::from(n) % Coordination::ALL.len()]
    }

    proptest! {
        #[test]
        fn coordinated_shares_and_their_parts_add_up(
            amounts_in in proptest::collection::vec(0i64..2_000_000, 1..8),
            payers in proptest::collection::vec((0u32..=100, 0i64..3_000, 0i64..10_000, any::<bool>(), proptest::option::of(0i64..50_000), 0u8..4, 1u8..8, proptest::option::of(0i64..20_000)), 0..4),
        ) {
            let lines: Vec<Line> = amounts_in.iter().enumerate()
                .map(|(i, a)| Line { amount: eur(*a), service_group: if i % 3 == 0 { "DENTAL".into() } else { "LAB".into() }, year: 2026 })
                .collect();
            let named = |mask: u8| -> Vec<PartKind> {
                [PartKind::Copay, PartKind::Deductible, PartKind::Coinsurance].into_iter().enumerate()
                    .filter(|(j, _)| mask & (1 << j) != 0).map(|(_, k)| k).collect()
            };
            let coverages: Vec<CoverageTerms> = payers.iter().enumerate().map(|(i, (pct, per_line, per_episode, excl, cap, m, mask, ded))| {
                let method = method_of(*m);
                CoverageTerms {
                    payer: format!("P{i}"),
                    covered_percent: Decimal::from(*pct),
                    copay_per_line: Some(eur(*per_line)),
                    copay_per_episode: Some(eur(*per_episode)),
                    excluded_groups: if *excl { vec!["DENTAL".into()] } else { vec![] },
                    cap_per_episode: cap.map(eur),
                    preauthorization_groups: vec![],
                    deductible_per_year: ded.map(eur),
                    cap_per_year: None,
                    coordination: method,
                    supplemental_parts: if method == Coordination::Supplemental { named(*mask) } else { vec![] },
                }
            }).collect();
            let split = split_episode(&lines, &coverages).map_err(|e| TestCaseError::fail(e.to_string()))?;
            for (i, c) in coverages.iter().enumerate() {
                if let Some(cap) = &c.cap_per_episode {
                    let paid: i64 = split.iter().map(|shares| minor(&shares[i].amount).unwrap_or(0)).sum();
                    prop_assert!(paid <= minor(cap).unwrap_or(0));
                }
            }
            for (line, shares) in lines.iter().zip(&split) {
                let line_units = minor(&line.amount).unwrap_or(0);
                let total: i64 = shares.iter().map(|s| minor(&s.amount).unwrap_or(i64::MIN)).sum();
                prop_assert_eq!(total, line_units);
                for (j, s) in shares.iter().enumerate() {
                    let amount = minor(&s.amount).unwrap_or(-1);
                    prop_assert!(amount >= 0);
                    let sum: i64 = s.parts.iter().map(|p| minor(&p.amount).unwrap_or(i64::MIN)).sum();
                    prop_assert_eq!(sum, amount, "parts of share {} of {:?}", j, shares);
                    prop_assert!(s.parts.iter().all(|p| minor(&p.amount).unwrap_or(-1) > 0));
                    if let Some(c) = coverages.get(j) {
                        prop_assert_eq!(s.method.is_some(), j > 0);
                        prop_assert!(amount <= line_units);
                        // Never more than its percentage of the line.
                        prop_assert!(amount <= round_share(line_units, c.covered_percent, Currency::EUR));
                        if c.excluded_groups.contains(&line.service_group) {
                            prop_assert_eq!(amount, 0);
                        }
                    }
                }
                // The patient never pays a part a full supplemental plan (100 %, no cap) covers.
                let patient = &shares[coverages.len()];
                for (j, c) in coverages.iter().enumerate() {
                    if j > 0 && c.coordination == Coordination::Supplemental && c.covered_percent == Decimal::ONE_HUNDRED
                        && c.cap_per_episode.is_none() && !c.excluded_groups.contains(&line.service_group)
                    {
                        for p in &patient.parts {
                            prop_assert!(!c.supplemental_parts.contains(&p.kind), "patient pays {:?} covered by {}: {:?}", p, c.payer, shares);
                        }
                    }
                }
            }
        }
    }
}
