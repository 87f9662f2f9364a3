//! Invoicing rules (seed 003): the pure part of periodic billing. What a rule says (every field
//! of the seed, validated), and the calendar arithmetic it drives: which window a run bills
//! (time horizon), which days count (date calculation, stays), which absences count (full-day
//! flags, threshold), the quantity (days, absences, presence), the price segments of a window,
//! the rounded and signed line amount, and the same entry in linked contexts.
//!
//! No I/O and no clock: the caller gives the period, the records and the prices. Days are
//! calendar days, counted inclusively (a stay from the 10th to the 20th is 11 days).

use chrono::{Datelike as _, Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money, MoneyError};
use crate::validation::Validation;

/// Where a rule reads its quantities from (seed 003 "Invoicing Source"). The seed's
/// "Beneficiary", "Institution" and "Spitex" are not used and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum InvoicingSource {
    /// Stays (resident, room/object type, entry and leaving dates).
    Stay,
    /// Manual entries / attendances ("Attendance").
    ManualEntry,
    /// Evaluations (care level assessments).
    Evaluation,
    /// Absences.
    Absence,
    /// Contracts (services with manual price and quantity).
    Contract,
    /// Gastro / point-of-sale lines ("TcPos").
    Gastro,
    /// Ambulatory care entries ("CareCoach").
    Ambulatory,
    /// Plain consumptions pushed by a clinical system.
    Consumption,
}

/// How a line's text is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DescriptionMethod {
    /// The service's text in the party's language.
    Service,
    /// The text entered on the source line (contracts, manual entries).
    Manual,
    /// The service text flagged "specific".
    Specific,
}

/// How the quantity is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum QuantityMethod {
    /// No calculation: one per record and window (a flat fee).
    None,
    /// The quantity entered on the source line.
    Manual,
    /// Days in the window.
    Days,
    /// Days in the window minus the absent days of absences that reach the threshold.
    DaysMinusAbsences,
    /// Only the absent days (of absences that reach the threshold).
    Absences,
    /// Presence days: days minus every absent day, whatever the threshold.
    EffectiveDays,
}

/// How the unit price is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PriceMethod {
    /// The service price in force each day (by date, beneficiary kind, object type ...).
    Service,
    /// The price entered on the source line.
    Manual,
}

/// Which period a billing run bills, relative to the run's period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TimeHorizon {
    /// The coming period (billed ahead, corrected later).
    InAdvance,
    /// The period itself, once it has passed.
    Subsequent,
    /// Both: the period itself and the coming one.
    All,
}

/// Which days are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DateCalculation {
    /// From the contract's start (to its end, or the stay's leaving date if earlier).
    ContractStart,
    /// From the stay's entry date.
    EntryDate,
    /// From the contract's start to the day before entry (a reservation).
    ContractStartToEntry,
    /// From the day after leaving to the contract's end.
    LeavingToContractEnd,
}

/// What a linked rule does with the parent's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum LinkOperation {
    /// The same amount.
    Copy,
    /// The amount with its sign reversed.
    Negate,
}

/// The same entry billed into another invoice context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LinkedRule {
    /// The invoice context the entry goes to.
    pub context: String,
    /// Copy or negate.
    pub operation: LinkOperation,
}

/// One invoicing rule as configured (seed 003, every field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleDefinition {
    /// Rule number.
    pub code: String,
    /// Description.
    pub description: String,
    /// "Kind of Invoicing Code": kept, not used by the seed.
    #[serde(default)]
    pub invoicing_kind: Option<String>,
    /// The beneficiary kind the rule is for.
    pub beneficiary_kind: String,
    /// The invoice context billed (beneficiary, insurance, public authority or configured).
    pub invoice_context: String,
    /// Where quantities come from.
    pub source: InvoicingSource,
    /// Object (room) type; needed where rooms are priced.
    #[serde(default)]
    pub object_type: Option<String>,
    /// The service group invoiced.
    #[serde(default)]
    pub service_group: Option<String>,
    /// Absences shorter than this many days are not considered (none: all are).
    #[serde(default)]
    pub absence_threshold_days: Option<u32>,
    /// How the text is chosen.
    pub description_method: DescriptionMethod,
    /// How the quantity is computed.
    pub quantity_method: QuantityMethod,
    /// Reverse the sign of the amount (refunds).
    #[serde(default)]
    pub negative_sign: bool,
    /// How the unit price is found.
    pub price_method: PriceMethod,
    /// Which period a run bills (none: the run's period).
    #[serde(default)]
    pub time_horizon: Option<TimeHorizon>,
    /// Which days count (none: the record's own days).
    #[serde(default)]
    pub date_calculation: Option<DateCalculation>,
    /// First day the rule applies.
    pub active_from: NaiveDate,
    /// First day it no longer applies.
    #[serde(default)]
    pub inactive_from: Option<NaiveDate>,
    /// Past windows are never billed again with a correction.
    #[serde(default)]
    pub no_correction: bool,
    /// An absence's first day counts as present (the absence runs from the next day).
    #[serde(default)]
    pub absence_start_full_day: bool,
    /// An absence's last day counts as absent (presence resumes the next day).
    #[serde(default)]
    pub absence_end_full_day: bool,
    /// The same entry into other contexts.
    #[serde(default)]
    pub linked_rules: Vec<LinkedRule>,
    /// Line amounts are rounded to a multiple of this (e.g. 0.05); none: the currency's unit.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "0.05"))]
    pub rounding_precision: Option<Decimal>,
    /// Its lines may be corrected by hand in the periodic settlement they bill (a manual unit
    /// price or their exclusion, with a reason); the seed: "can be used on the Manual Entry".
    #[serde(default)]
    pub manual_correction: bool,
}

const MAX_TEXT: usize = 200;

impl RuleDefinition {
    /// Every problem with the rule, field by field.
    pub fn validate(&self) -> Validation {
        let mut v = Validation::new();
        v.text("code", &self.code, 40);
        v.text("description", &self.description, MAX_TEXT);
        v.text("beneficiary_kind", &self.beneficiary_kind, 40);
        v.text("invoice_context", &self.invoice_context, 40);
        v.opt_text("invoicing_kind", self.invoicing_kind.as_deref(), 40);
        v.opt_text("object_type", self.object_type.as_deref(), 40);
        v.opt_text("service_group", self.service_group.as_deref(), 40);
        if self
            .inactive_from
            .is_some_and(|end| end <= self.active_from)
        {
            v.add(
                "inactive_from",
                "before_start",
                "inactive_from must come after active_from",
            );
        }
        if let Some(p) = self.rounding_precision
            && (p <= Decimal::ZERO || p.scale() > 4)
        {
            v.add(
                "rounding_precision",
                "invalid",
                "a positive increment with at most 4 decimals, e.g. 0.05 or 1",
            );
        }
        // Records that carry a quantity, a price and a text of their own.
        let entered = matches!(
            self.source,
            InvoicingSource::Contract
                | InvoicingSource::ManualEntry
                | InvoicingSource::Gastro
                | InvoicingSource::Ambulatory
        );
        if !entered && self.quantity_method == QuantityMethod::Manual {
            v.add(
                "quantity_method",
                "needs_manual_source",
                "manual quantities come from contracts, manual entries, gastro and ambulatory lines",
            );
        }
        if !entered && self.price_method == PriceMethod::Manual {
            v.add(
                "price_method",
                "needs_manual_source",
                "manual prices come from contracts, manual entries and gastro lines",
            );
        }
        if self.source == InvoicingSource::Ambulatory && self.price_method == PriceMethod::Manual {
            v.add(
                "price_method",
                "needs_manual_source",
                "ambulatory entries carry no price: use the service price",
            );
        }
        if !entered && self.description_method == DescriptionMethod::Manual {
            v.add(
                "description_method",
                "needs_manual_source",
                "manual descriptions come from contracts, manual entries, gastro and ambulatory lines",
            );
        }
        let counts_days = matches!(
            self.quantity_method,
            QuantityMethod::Days
                | QuantityMethod::DaysMinusAbsences
                | QuantityMethod::Absences
                | QuantityMethod::EffectiveDays
        );
        if counts_days
            && !matches!(
                self.source,
                InvoicingSource::Stay
                    | InvoicingSource::Absence
                    | InvoicingSource::Contract
                    | InvoicingSource::Evaluation
            )
        {
            v.add(
                "quantity_method",
                "needs_days_source",
                "days are counted from stays, absences, contracts or evaluations",
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, link) in self.linked_rules.iter().enumerate() {
            let field = format!("linked_rules.{i}.context");
            v.text(&field, &link.context, 40);
            if link.context == self.invoice_context {
                v.add(
                    &field,
                    "same_context",
                    "a linked rule bills another context than its rule",
                );
            } else if !seen.insert(link.context.as_str()) {
                v.add(&field, "duplicate", "one link per context");
            }
        }
        v
    }

    /// Whether the rule applies on `day` (by its dates; the institution matrix is the caller's).
    pub fn active_on(&self, day: NaiveDate) -> bool {
        day >= self.active_from && self.inactive_from.is_none_or(|end| day < end)
    }

    /// The part of `window` on which the rule is active.
    pub fn active_part(&self, window: DateSpan) -> Option<DateSpan> {
        let end = self
            .inactive_from
            .and_then(|d| d.pred_opt())
            .unwrap_or(NaiveDate::MAX);
        window.intersect(DateSpan::new(self.active_from, end)?)
    }
}

/// Consecutive calendar days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DateSpan {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

impl DateSpan {
    /// The days from `from` to `to`; none when `to` comes first.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Option<DateSpan> {
        (from <= to).then_some(DateSpan { from, to })
    }

    /// How many days.
    pub fn days(&self) -> u32 {
        u32::try_from((self.to - self.from).num_days() + 1).unwrap_or(u32::MAX)
    }

    /// The days in both.
    pub fn intersect(&self, other: DateSpan) -> Option<DateSpan> {
        DateSpan::new(self.from.max(other.from), self.to.min(other.to))
    }

    /// Whether `day` is in the span.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }

    /// Each day, in order.
    pub fn iter_days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let (from, to) = (self.from, self.to);
        from.iter_days().take_while(move |d| *d <= to)
    }
}

/// A calendar month, the period of a billing run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    first: NaiveDate,
}

impl Period {
    /// The month of `year`-`month`; none for an impossible month.
    pub fn month(year: i32, month: u32) -> Option<Period> {
        NaiveDate::from_ymd_opt(year, month, 1).map(|first| Period { first })
    }

    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Period> {
        let (y, m) = s.split_once('-')?;
        if y.len() != 4 || m.len() != 2 {
            return None;
        }
        Period::month(y.parse().ok()?, m.parse().ok()?)
    }

    /// Its days.
    pub fn span(&self) -> DateSpan {
        let last = self.next().first.pred_opt().unwrap_or(self.first);
        DateSpan {
            from: self.first,
            to: last,
        }
    }

    /// The following month.
    pub fn next(&self) -> Period {
        let first = self
            .first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(self.first);
        Period { first }
    }

    /// The month before.
    pub fn previous(&self) -> Period {
        let first = self
            .first
            .checked_sub_months(chrono::Months::new(1))
            .unwrap_or(self.first);
        Period { first }
    }
}

impl std::fmt::Display for Period {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.first.year(), self.first.month())
    }
}

/// The windows a run for `period` bills under a rule's time horizon: the period itself (no
/// horizon, or subsequent), the next one (in advance), or both (all).
pub fn billing_windows(period: Period, horizon: Option<TimeHorizon>) -> Vec<DateSpan> {
    match horizon {
        None | Some(TimeHorizon::Subsequent) => vec![period.span()],
        Some(TimeHorizon::InAdvance) => vec![period.next().span()],
        Some(TimeHorizon::All) => vec![period.span(), period.next().span()],
    }
}

/// A span that may still be open at its end (a stay without leaving date, an absence without
/// return date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OpenSpan {
    /// First day.
    pub from: NaiveDate,
    /// Last day, if known.
    pub to: Option<NaiveDate>,
}

impl OpenSpan {
    /// Closed at `horizon` when still open.
    pub fn until(&self, horizon: NaiveDate) -> Option<DateSpan> {
        DateSpan::new(self.from, self.to.unwrap_or(horizon).min(horizon))
    }
}

/// The days a rule counts, before the billing window is applied: the record's own span, or the
/// span its date calculation gives from the stay and the contract. None when that span is empty
/// (e.g. entry on the contract's first day: no reservation days).
pub fn counting_span(
    calculation: Option<DateCalculation>,
    stay: Option<OpenSpan>,
    contract: Option<OpenSpan>,
) -> Option<OpenSpan> {
    let day_before = |d: NaiveDate| d.pred_opt();
    let day_after = |d: NaiveDate| d.succ_opt();
    match calculation {
        None => stay.or(contract),
        Some(DateCalculation::EntryDate) => stay,
        Some(DateCalculation::ContractStart) => {
            let c = contract?;
            // To the contract's end, or leaving if the resident left earlier.
            let to = match (c.to, stay.and_then(|s| s.to)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            Some(OpenSpan { from: c.from, to })
        }
        Some(DateCalculation::ContractStartToEntry) => {
            let (c, s) = (contract?, stay?);
            let to = day_before(s.from)?;
            (c.from <= to).then_some(OpenSpan {
                from: c.from,
                to: Some(to),
            })
        }
        Some(DateCalculation::LeavingToContractEnd) => {
            let (c, s) = (contract?, stay?);
            let from = day_after(s.to?)?;
            match c.to {
                Some(end) if end < from => None,
                to => Some(OpenSpan { from, to }),
            }
        }
    }
}

/// The days an absence makes absent under the full-day flags: with `start_full_day` the first
/// day is present (absent from the next day), with `end_full_day` the last day is absent
/// (presence resumes the day after; otherwise the return day is present).
pub fn absent_days(
    absence: OpenSpan,
    start_full_day: bool,
    end_full_day: bool,
) -> Option<OpenSpan> {
    let from = if start_full_day {
        absence.from.succ_opt()?
    } else {
        absence.from
    };
    let to = match absence.to {
        None => None,
        Some(end) if end_full_day => Some(end),
        Some(end) => Some(end.pred_opt()?),
    };
    match to {
        Some(to) if to < from => None,
        to => Some(OpenSpan { from, to }),
    }
}

/// What a rule counts in one window for one beneficiary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DayCount {
    /// Days of the counting span in the window.
    pub days: u32,
    /// Absent days in those, of absences that reach the threshold.
    pub considered_absent: u32,
    /// Absent days in those, of every absence.
    pub absent: u32,
}

impl DayCount {
    /// The quantity of a day-counting method; none for `none` and `manual`.
    pub fn quantity(&self, method: QuantityMethod) -> Option<u32> {
        match method {
            QuantityMethod::Days => Some(self.days),
            QuantityMethod::DaysMinusAbsences => Some(self.days - self.considered_absent),
            QuantityMethod::Absences => Some(self.considered_absent),
            QuantityMethod::EffectiveDays => Some(self.days - self.absent),
            QuantityMethod::None | QuantityMethod::Manual => None,
        }
    }
}

/// Counts, in `window`, the days of `span` and its absent days. An absence is considered when
/// its whole length (after the full-day flags; an open one measured to the window's end) reaches
/// `threshold` days, so an absence over a month's edge counts in both months. Overlapping
/// absences count each day once.
pub fn count_days(
    window: DateSpan,
    span: OpenSpan,
    absences: &[OpenSpan],
    rule: &RuleDefinition,
) -> DayCount {
    let flagged: Vec<AbsenceDays> = absences
        .iter()
        .map(|a| AbsenceDays {
            span: *a,
            start_full_day: rule.absence_start_full_day,
            end_full_day: rule.absence_end_full_day,
        })
        .collect();
    count_absent_days(
        window,
        span,
        &flagged,
        rule.absence_threshold_days.unwrap_or(0),
    )
}

/// An absence with the full-day flags that apply to it (the rule's, or the record's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsenceDays {
    /// As recorded: first day away, day of return.
    pub span: OpenSpan,
    /// The first day counts as present.
    pub start_full_day: bool,
    /// The return day counts as absent.
    pub end_full_day: bool,
}

/// [`count_days`] with the full-day flags given per absence.
pub fn count_absent_days(
    window: DateSpan,
    span: OpenSpan,
    absences: &[AbsenceDays],
    threshold: u32,
) -> DayCount {
    let Some(counted) = span.until(window.to).and_then(|s| s.intersect(window)) else {
        return DayCount::default();
    };
    let mut all = std::collections::BTreeSet::new();
    let mut considered = std::collections::BTreeSet::new();
    for a in absences {
        let Some(days) = absent_days(a.span, a.start_full_day, a.end_full_day) else {
            continue;
        };
        let Some(whole) = days.until(window.to.max(days.to.unwrap_or(window.to))) else {
            continue;
        };
        let counts = whole.days() >= threshold;
        if let Some(inside) = whole.intersect(counted) {
            for d in inside.iter_days() {
                all.insert(d);
                if counts {
                    considered.insert(d);
                }
            }
        }
    }
    DayCount {
        days: counted.days(),
        considered_absent: u32::try_from(considered.len()).unwrap_or(u32::MAX),
        absent: u32::try_from(all.len()).unwrap_or(u32::MAX),
    }
}

/// Splits `window` into the runs of days on which `value_on` gives the same value (e.g. the
/// price in force, the care level): a change inside the window makes two lines.
pub fn segments<T: PartialEq + Clone>(
    window: DateSpan,
    value_on: impl Fn(NaiveDate) -> T,
) -> Vec<(DateSpan, T)> {
    let mut out: Vec<(DateSpan, T)> = Vec::new();
    for day in window.iter_days() {
        let value = value_on(day);
        match out.last_mut() {
            Some((span, last)) if *last == value => span.to = day,
            _ => out.push((DateSpan { from: day, to: day }, value)),
        }
    }
    out
}

/// Rounds `amount` to a multiple of `increment`, halves away from zero.
pub fn round_to(amount: Decimal, increment: Decimal) -> Decimal {
    if increment <= Decimal::ZERO {
        return amount;
    }
    (amount / increment).round_dp_with_strategy(0, RoundingStrategy::MidpointAwayFromZero)
        * increment
}

/// Why a line amount cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The rounding increment is not a whole number of the currency's minor units.
    #[error("rounding precision {precision} is not a multiple of {currency}'s smallest unit")]
    Precision {
        /// The increment.
        precision: Decimal,
        /// The currency.
        currency: String,
    },
    /// Money arithmetic failed.
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The amount of `quantity` × `unit_price` under `rule`: rounded to its precision (else the
/// currency's minor unit), then its sign reversed with `negative_sign`.
pub fn line_amount(
    rule: &RuleDefinition,
    quantity: Decimal,
    unit_price: Money,
) -> Result<Money, LineError> {
    let currency: Currency = unit_price.currency();
    let minor = Decimal::new(1, currency.exponent());
    let raw = quantity * unit_price.amount();
    let rounded = match rule.rounding_precision {
        Some(p) if (p / minor).fract() != Decimal::ZERO => {
            return Err(LineError::Precision {
                precision: p,
                currency: currency.to_string(),
            });
        }
        Some(p) => round_to(raw, p),
        None => round_to(raw, minor),
    };
    let signed = if rule.negative_sign {
        -rounded
    } else {
        rounded
    };
    Ok(Money::new(signed, currency)?)
}

/// One entry a rule produces in one context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextEntry {
    /// The invoice context billed.
    pub context: String,
    /// The amount in that context.
    pub amount: Money,
    /// The context of the rule this entry is linked from (none for the rule's own).
    pub linked_from: Option<String>,
}

/// The rule's entry in its own context and the same entry in each linked context (negated
/// where the link says so). Links are one level deep: a linked entry is not linked again.
pub fn with_links(rule: &RuleDefinition, amount: Money) -> Result<Vec<ContextEntry>, MoneyError> {
    let mut out = vec![ContextEntry {
        context: rule.invoice_context.clone(),
        amount,
        linked_from: None,
    }];
    for link in &rule.linked_rules {
        let value = match link.operation {
            LinkOperation::Copy => amount.amount(),
            LinkOperation::Negate => -amount.amount(),
        };
        out.push(ContextEntry {
            context: link.context.clone(),
            amount: Money::new(value, amount.currency())?,
            linked_from: Some(rule.invoice_context.clone()),
        });
    }
    Ok(out)
}

/// Adds `n` days (saturating at the calendar's end).
pub fn plus_days(day: NaiveDate, n: u64) -> NaiveDate {
    day.checked_add_days(Days::new(n)).unwrap_or(NaiveDate::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr as _;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).expect("date")
    }

    fn span(from: &str, to: &str) -> OpenSpan {
        OpenSpan {
            from: d(from),
            to: Some(d(to)),
        }
    }

    fn rule() -> RuleDefinition {
        RuleDefinition {
            code: "CARE".to_owned(),
            description: "Care".to_owned(),
            invoicing_kind: None,
            beneficiary_kind: "LTC".to_owned(),
            invoice_context: "beneficiary".to_owned(),
            source: InvoicingSource::Stay,
            object_type: None,
            service_group: Some("CARE".to_owned()),
            absence_threshold_days: None,
            description_method: DescriptionMethod::Service,
            quantity_method: QuantityMethod::Days,
            negative_sign: false,
            price_method: PriceMethod::Service,
            time_horizon: None,
            date_calculation: None,
            active_from: d("2026-01-01"),
            inactive_from: None,
            no_correction: false,
            absence_start_full_day: true,
            absence_end_full_day: true,
            linked_rules: Vec::new(),
            rounding_precision: None,
            manual_correction: false,
        }
    }

    fn chf(s: &str) -> Money {
        Money::new(
            Decimal::from_str(s).expect("decimal"),
            Currency::parse("CHF").expect("chf"),
        )
        .expect("money")
    }

    fn march() -> DateSpan {
        Period::month(2026, 3).expect("march").span()
    }

    #[test]
    fn days_in_the_period_from_entry_and_to_leaving() {
        let r = rule();
        let entered = OpenSpan {
            from: d("2026-03-10"),
            to: None,
        };
        assert_eq!(count_days(march(), entered, &[], &r).days, 22);
        let left = span("2026-01-15", "2026-03-20");
        assert_eq!(count_days(march(), left, &[], &r).days, 20);
        let elsewhere = span("2026-01-15", "2026-02-20");
        assert_eq!(count_days(march(), elsewhere, &[], &r), DayCount::default());
    }

    #[test]
    fn the_full_day_flags_move_the_absence_edges() {
        let a = span("2026-03-14", "2026-03-16");
        let count = |start, end| {
            absent_days(a, start, end)
                .and_then(|s| s.until(d("2026-12-31")))
                .map_or(0, |s| s.days())
        };
        assert_eq!(count(true, true), 2); // 15, 16
        assert_eq!(count(true, false), 1); // 15
        assert_eq!(count(false, true), 3); // 14, 15, 16
        assert_eq!(count(false, false), 2); // 14, 15
        // Leaving in the morning and back the same day: no absent day either way.
        let same_day = span("2026-03-14", "2026-03-14");
        assert_eq!(absent_days(same_day, true, false), None);
    }

    #[test]
    fn the_threshold_ignores_short_absences_for_refunds_but_not_for_presence() {
        let mut r = rule();
        r.absence_threshold_days = Some(2);
        let stay = OpenSpan {
            from: d("2026-03-10"),
            to: None,
        };
        let hospital = span("2026-03-14", "2026-03-16"); // absent 15, 16
        let holiday = span("2026-03-20", "2026-03-21"); // absent 21
        let c = count_days(march(), stay, &[hospital, holiday], &r);
        assert_eq!(c.days, 22);
        assert_eq!(c.quantity(QuantityMethod::Absences), Some(2));
        assert_eq!(c.quantity(QuantityMethod::DaysMinusAbsences), Some(20));
        assert_eq!(c.quantity(QuantityMethod::EffectiveDays), Some(19));
        assert_eq!(c.quantity(QuantityMethod::None), None);
    }

    #[test]
    fn an_absence_over_the_month_edge_is_measured_whole_and_counted_in_both_months() {
        let mut r = rule();
        r.absence_threshold_days = Some(5);
        let stay = span("2025-12-01", "2026-12-31");
        let absence = span("2026-03-28", "2026-04-03"); // absent 29.3 to 3.4: 6 days
        let april = Period::month(2026, 4).expect("april").span();
        assert_eq!(
            count_days(march(), stay, &[absence], &r).considered_absent,
            3
        );
        assert_eq!(count_days(april, stay, &[absence], &r).considered_absent, 3);
        // Still away: an open absence counts up to the window's end.
        let open = OpenSpan {
            from: d("2026-03-28"),
            to: None,
        };
        assert_eq!(count_days(march(), stay, &[open], &r).absent, 3);
        assert_eq!(count_days(march(), stay, &[open], &r).considered_absent, 0);
        assert_eq!(count_days(april, stay, &[open], &r).considered_absent, 30);
    }

    #[test]
    fn overlapping_absences_count_each_day_once() {
        let r = rule();
        let stay = span("2026-01-01", "2026-12-31");
        let c = count_days(
            march(),
            stay,
            &[
                span("2026-03-01", "2026-03-10"),
                span("2026-03-05", "2026-03-12"),
            ],
            &r,
        );
        assert_eq!(c.absent, 11); // 2 to 12
    }

    #[test]
    fn date_calculation_counts_reservations_and_notice_periods() {
        let contract = span("2026-03-01", "2026-03-31");
        let stay = span("2026-03-10", "2026-03-20");
        let days = |calc| {
            counting_span(Some(calc), Some(stay), Some(contract))
                .and_then(|s| s.until(d("2026-03-31")))
                .map_or(0, |s| s.days())
        };
        assert_eq!(days(DateCalculation::ContractStartToEntry), 9);
        assert_eq!(days(DateCalculation::LeavingToContractEnd), 11);
        assert_eq!(days(DateCalculation::EntryDate), 11);
        assert_eq!(days(DateCalculation::ContractStart), 20);
        // Entry on the contract's first day: no reservation.
        let on_time = span("2026-03-01", "2026-03-20");
        assert_eq!(
            counting_span(
                Some(DateCalculation::ContractStartToEntry),
                Some(on_time),
                Some(contract)
            ),
            None
        );
        // Still there: no notice period yet.
        let staying = OpenSpan {
            from: d("2026-03-10"),
            to: None,
        };
        assert_eq!(
            counting_span(
                Some(DateCalculation::LeavingToContractEnd),
                Some(staying),
                Some(contract)
            ),
            None
        );
    }

    #[test]
    fn horizons_pick_the_windows_a_run_bills() {
        let p = Period::parse("2026-03").expect("period");
        let april = Period::month(2026, 4).expect("april").span();
        assert_eq!(billing_windows(p, None), vec![march()]);
        assert_eq!(
            billing_windows(p, Some(TimeHorizon::Subsequent)),
            vec![march()]
        );
        assert_eq!(
            billing_windows(p, Some(TimeHorizon::InAdvance)),
            vec![april]
        );
        assert_eq!(
            billing_windows(p, Some(TimeHorizon::All)),
            vec![march(), april]
        );
        assert_eq!(p.to_string(), "2026-03");
        assert_eq!(Period::parse("2026-13"), None);
        assert_eq!(Period::parse("26-03"), None);
        assert_eq!(
            Period::month(2026, 12).expect("dec").next().to_string(),
            "2027-01"
        );
        assert_eq!(
            Period::month(2026, 1).expect("jan").previous().to_string(),
            "2025-12"
        );
        assert_eq!(Period::month(2028, 2).expect("feb").span().days(), 29);
    }

    #[test]
    fn a_change_inside_the_window_splits_the_line() {
        // Care level 4 until the 15th, 5 from the 16th.
        let parts = segments(march(), |day| if day.day() <= 15 { "L4" } else { "L5" });
        assert_eq!(
            parts,
            vec![
                (
                    DateSpan::new(d("2026-03-01"), d("2026-03-15")).expect("span"),
                    "L4"
                ),
                (
                    DateSpan::new(d("2026-03-16"), d("2026-03-31")).expect("span"),
                    "L5"
                ),
            ]
        );
    }

    #[test]
    fn line_amounts_round_to_the_rule_precision_and_take_its_sign() {
        let mut r = rule();
        let q = Decimal::from(17);
        assert_eq!(
            line_amount(&r, q, chf("12.33")).expect("amount"),
            chf("209.61")
        );
        r.rounding_precision = Some(Decimal::from_str("0.05").expect("d"));
        assert_eq!(
            line_amount(&r, q, chf("12.33")).expect("amount"),
            chf("209.60")
        );
        r.rounding_precision = Some(Decimal::ONE);
        assert_eq!(
            line_amount(&r, q, chf("12.33")).expect("amount"),
            chf("210.00")
        );
        r.rounding_precision = Some(Decimal::from_str("0.10").expect("d"));
        assert_eq!(
            line_amount(&r, Decimal::from(31), chf("7.85")).expect("amount"),
            chf("243.40")
        );
        r.rounding_precision = None;
        r.negative_sign = true;
        assert_eq!(
            line_amount(&r, Decimal::from(2), chf("120.00")).expect("amount"),
            chf("-240.00")
        );
        r.rounding_precision = Some(Decimal::from_str("0.005").expect("d"));
        assert!(matches!(
            line_amount(&r, Decimal::ONE, chf("1.00")),
            Err(LineError::Precision { .. })
        ));
    }

    #[test]
    fn linked_rules_bill_the_same_entry_into_other_contexts() {
        let mut r = rule();
        r.linked_rules = vec![
            LinkedRule {
                context: "insurance".to_owned(),
                operation: LinkOperation::Negate,
            },
            LinkedRule {
                context: "public_authority".to_owned(),
                operation: LinkOperation::Negate,
            },
        ];
        let entries = with_links(&r, chf("713.00")).expect("entries");
        let amounts: Vec<(&str, Money)> = entries
            .iter()
            .map(|e| (e.context.as_str(), e.amount))
            .collect();
        assert_eq!(
            amounts,
            vec![
                ("beneficiary", chf("713.00")),
                ("insurance", chf("-713.00")),
                ("public_authority", chf("-713.00")),
            ]
        );
        assert_eq!(entries[1].linked_from.as_deref(), Some("beneficiary"));
    }

    #[test]
    fn a_rule_is_validated_field_by_field() {
        assert!(rule().validate().is_ok());
        let mut r = rule();
        r.code = String::new();
        r.inactive_from = Some(d("2025-12-31"));
        r.quantity_method = QuantityMethod::Manual;
        r.rounding_precision = Some(Decimal::ZERO);
        r.linked_rules = vec![
            LinkedRule {
                context: "beneficiary".to_owned(),
                operation: LinkOperation::Negate,
            },
            LinkedRule {
                context: "insurance".to_owned(),
                operation: LinkOperation::Copy,
            },
            LinkedRule {
                context: "insurance".to_owned(),
                operation: LinkOperation::Negate,
            },
        ];
        let fields: Vec<(String, String)> = r
            .validate()
            .errors()
            .iter()
            .map(|e| (e.field.clone(), e.code.clone()))
            .collect();
        for expected in [
            ("code", "required"),
            ("inactive_from", "before_start"),
            ("quantity_method", "needs_manual_source"),
            ("rounding_precision", "invalid"),
            ("linked_rules.0.context", "same_context"),
            ("linked_rules.2.context", "duplicate"),
        ] {
            assert!(
                fields.contains(&(expected.0.to_owned(), expected.1.to_owned())),
                "{expected:?} missing from {fields:?}"
            );
        }
        // Unused sources of the seed are refused when read.
        let json = serde_json::json!({"source": "spitex"});
        assert!(serde_json::from_value::<InvoicingSource>(json["source"].clone()).is_err());
    }

    #[test]
    fn a_rule_is_active_from_its_start_until_its_end() {
        let mut r = rule();
        r.active_from = d("2026-03-10");
        r.inactive_from = Some(d("2026-03-20"));
        assert!(!r.active_on(d("2026-03-09")));
        assert!(r.active_on(d("2026-03-10")));
        assert!(r.active_on(d("2026-03-19")));
        assert!(!r.active_on(d("2026-03-20")));
        assert_eq!(
            r.active_part(march()),
            DateSpan::new(d("2026-03-10"), d("2026-03-19"))
        );
    }

    fn day_in_2026() -> impl Strategy<Value = NaiveDate> {
        (0u64..365).prop_map(|n| plus_days(d("2026-01-01"), n))
    }

    fn absence() -> impl Strategy<Value = OpenSpan> {
        (day_in_2026(), 0u64..40, any::<bool>()).prop_map(|(from, len, open)| OpenSpan {
            from,
            to: (!open).then(|| plus_days(from, len)),
        })
    }

    proptest! {
        #[test]
        fn counts_never_exceed_the_days_and_presence_adds_up(
            entry in day_in_2026(),
            stay_len in 0u64..400,
            absences in proptest::collection::vec(absence(), 0..5),
            threshold in proptest::option::of(0u32..10),
            start_full in any::<bool>(),
            end_full in any::<bool>(),
            month in 1u32..=12,
        ) {
            let mut r = rule();
            r.absence_threshold_days = threshold;
            r.absence_start_full_day = start_full;
            r.absence_end_full_day = end_full;
            let stay = OpenSpan { from: entry, to: Some(plus_days(entry, stay_len)) };
            let window = Period::month(2026, month).expect("month").span();
            let c = count_days(window, stay, &absences, &r);
            prop_assert!(c.days <= window.days());
            prop_assert!(c.considered_absent <= c.absent);
            prop_assert!(c.absent <= c.days);
            prop_assert_eq!(
                c.quantity(QuantityMethod::DaysMinusAbsences).expect("q")
                    + c.quantity(QuantityMethod::Absences).expect("q"),
                c.days
            );
            prop_assert!(
                c.quantity(QuantityMethod::EffectiveDays) <= c.quantity(QuantityMethod::DaysMinusAbsences)
            );
            // Without a threshold every absent day is considered.
            if threshold.unwrap_or(0) <= 1 {
                prop_assert_eq!(c.considered_absent, c.absent);
            }
        }

        #[test]
        fn months_add_up_to_the_year(
            entry in day_in_2026(),
            stay_len in 0u64..400,
            absences in proptest::collection::vec(absence(), 0..5),
        ) {
            // Per-month counts of a stay add up to its days in the year, whatever the absences.
            let r = rule();
            let stay = OpenSpan { from: entry, to: Some(plus_days(entry, stay_len)) };
            let year = DateSpan::new(d("2026-01-01"), d("2026-12-31")).expect("year");
            let total: u32 = (1..=12)
                .map(|m| count_days(Period::month(2026, m).expect("m").span(), stay, &absences, &r).days)
                .sum();
            let expected = stay.until(year.to).and_then(|s| s.intersect(year)).map_or(0, |s| s.days());
            prop_assert_eq!(total, expected);
        }

        #[test]
        fn rounding_lands_on_the_increment_within_half_of_it(
            cents in -10_000_000i64..10_000_000,
            inc in prop::sample::select(vec!["0.01", "0.05", "0.10", "0.50", "1", "5"]),
        ) {
            let amount = Decimal::new(cents, 4);
            let inc = Decimal::from_str(inc).expect("inc");
            let r = round_to(amount, inc);
            prop_assert_eq!((r / inc).fract(), Decimal::ZERO);
            prop_assert!((r - amount).abs() * Decimal::TWO <= inc);
        }

        #[test]
        fn segments_cover_the_window_exactly(month in 1u32..=12, cut in 1u32..=28) {
            let window = Period::month(2026, month).expect("m").span();
            let parts = segments(window, |day| day.day() >= cut);
            let days: u32 = parts.iter().map(|(s, _)| s.days()).sum();
            prop_assert_eq!(days, window.days());
            prop_assert_eq!(parts.first().map(|(s, _)| s.from), Some(window.from));
            prop_assert_eq!(parts.last().map(|(s, _)| s.to), Some(window.to));
            for pair in parts.windows(2) {
                prop_assert_eq!(pair[0].0.to.succ_opt(), Some(pair[1].0.from));
                prop_assert_ne!(&pair[0].1, &pair[1].1);
            }
        }
    }
}
