//! Periodic billing (long-term care): what a billing run bills for one beneficiary.
//!
//! A run for a period evaluates each invoicing rule in force at the institution against the
//! beneficiary's care records, in each window the rule's time horizon gives, and compares the
//! result with what earlier runs billed for the same rule, context, record and window. The
//! difference is what the run bills: the whole line the first time, a correction line when past
//! data changed (a late absence, a corrected leaving date, a new price), nothing when nothing
//! changed — so a run is idempotent, and billed plus corrections always equals the amount the
//! rules give today. Rules marked "no correction" never touch a window they billed.
//!
//! Pure and deterministic: records, rules, prices and earlier lines come in; lines come out in
//! a stable order.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::{Currency, Money};
use crate::rules::{
    AbsenceDays, DateSpan, DescriptionMethod, InvoicingSource, LineError, LinkOperation, OpenSpan,
    Period, PriceMethod, QuantityMethod, RuleDefinition, billing_windows, count_absent_days,
    counting_span, line_amount,
};
use crate::sources::{CareRecord, CareRecordDetails};

/// A rule version in force at the institution (the institution × rule matrix already applied).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleInForce {
    /// The version evaluated.
    pub version: i64,
    /// What it says.
    pub rule: RuleDefinition,
}

/// What a service price is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceQuery<'a> {
    /// The service group priced.
    pub service_group: &'a str,
    /// The day.
    pub day: NaiveDate,
    /// The beneficiary's kind.
    pub beneficiary_kind: &'a str,
    /// The room's object type, when the rule names one.
    pub object_type: Option<&'a str>,
    /// The care level, for evaluations.
    pub level: Option<&'a str>,
}

/// A unit price found, with where it came from (for the explanation). The source is shared:
/// a run asks for prices day by day and must not build the text each time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceFound {
    /// The price of one unit.
    pub unit_price: Money,
    /// Which price entry or record gave it.
    pub source: std::sync::Arc<str>,
    /// The last day the same answer is sure to hold (none: only the day asked). Lets a run ask
    /// once per price period instead of once per day.
    pub holds_until: Option<NaiveDate>,
}

/// Why a number on a billing line is what it is.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineExplanation {
    /// The rule's quantity method.
    pub quantity_method: Option<QuantityMethod>,
    /// Days of the record counted in the line's days.
    pub days: Option<u32>,
    /// Absent days among them, of absences that reach the rule's threshold.
    pub considered_absent_days: Option<u32>,
    /// Absent days among them, of every absence.
    pub absent_days: Option<u32>,
    /// Where the unit price came from.
    pub price_source: Option<String>,
    /// The rounding increment applied (none: the currency's cent).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub rounding_precision: Option<Decimal>,
    /// The rule reverses the sign.
    pub negative_sign: bool,
    /// The entry is the rule's, linked into this context with this operation.
    pub linked: Option<LinkOperation>,
    /// Corrects what earlier runs billed for the window.
    pub corrects: Option<CorrectionOf>,
}

/// What a correction line corrects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CorrectionOf {
    /// Quantity billed before at this unit price.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub billed_quantity: Decimal,
    /// Amount billed before at this unit price.
    pub billed_amount: Money,
    /// Quantity the rules give now.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub now_quantity: Decimal,
    /// Amount the rules give now.
    pub now_amount: Money,
}

/// One line a run bills (or billed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunLine {
    /// The rule.
    pub rule_code: String,
    /// Its version.
    pub rule_version: i64,
    /// The invoice context billed.
    pub context: String,
    /// The care record the line comes from.
    pub record_id: String,
    /// The service group invoiced.
    pub service_group: String,
    /// The window billed (a month).
    pub window: DateSpan,
    /// The days of the window this line is for (a price change splits a window).
    pub days: DateSpan,
    /// Text.
    pub description: String,
    /// Quantity (negative on corrections that take back).
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub quantity: Decimal,
    /// Price of one unit.
    pub unit_price: Money,
    /// Amount, rounded and signed.
    pub amount: Money,
    /// A correction of an earlier run's window.
    pub correction: bool,
    /// How the numbers came about.
    pub explanation: LineExplanation,
}

impl RunLine {
    fn key(&self) -> LineKey<'_> {
        LineKey {
            rule_code: &self.rule_code,
            context: &self.context,
            record_id: &self.record_id,
            service_group: &self.service_group,
            window: self.window,
        }
    }
}

/// What a run could not bill, and why (it is billed by a later run once fixed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunProblem {
    /// The rule.
    pub rule_code: String,
    /// The record.
    pub record_id: String,
    /// The window.
    pub window: DateSpan,
    /// `no_price`, `bad_rounding` ...
    pub code: String,
    /// In words.
    pub detail: String,
}

/// What a run bills for one beneficiary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BeneficiaryRun {
    /// New and correction lines, in a stable order.
    pub lines: Vec<RunLine>,
    /// What could not be billed.
    pub problems: Vec<RunProblem>,
}

/// What corrections compare: one rule's entry in one context for one record and window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct LineKey<'a> {
    rule_code: &'a str,
    context: &'a str,
    record_id: &'a str,
    service_group: &'a str,
    window: DateSpan,
}

/// The records of one beneficiary, sorted by kind.
struct Records<'a> {
    stays: Vec<(&'a CareRecord, &'a str, Option<&'a str>)>,
    contracts: Vec<&'a CareRecord>,
    absences: Vec<(OpenSpan, Option<bool>, Option<bool>)>,
    evaluations: Vec<(OpenSpan, &'a str)>,
    entries: Vec<&'a CareRecord>,
}

impl<'a> Records<'a> {
    fn new(records: &'a [CareRecord]) -> Self {
        let mut r = Records {
            stays: Vec::new(),
            contracts: Vec::new(),
            absences: Vec::new(),
            evaluations: Vec::new(),
            entries: Vec::new(),
        };
        for rec in records.iter().filter(|r| !r.cancelled) {
            match &rec.details {
                CareRecordDetails::Stay {
                    beneficiary_kind,
                    object_type,
                    ..
                } => r
                    .stays
                    .push((rec, beneficiary_kind.as_str(), object_type.as_deref())),
                CareRecordDetails::Contract { .. } => r.contracts.push(rec),
                CareRecordDetails::Absence {
                    start_full_day,
                    end_full_day,
                    ..
                } => r
                    .absences
                    .push((rec.details.span(), *start_full_day, *end_full_day)),
                CareRecordDetails::Evaluation { level, .. } => {
                    r.evaluations.push((rec.details.span(), level.as_str()));
                }
                CareRecordDetails::ManualEntry { .. }
                | CareRecordDetails::Gastro { .. }
                | CareRecordDetails::Ambulatory { .. } => r.entries.push(rec),
            }
        }
        r.stays
            .sort_by_key(|(s, _, _)| (s.details.span().from, s.id.clone()));
        r.contracts
            .sort_by_key(|c| (c.details.span().from, c.id.clone()));
        r.evaluations.sort_by_key(|(span, _)| span.from);
        r.entries
            .sort_by_key(|e| (e.details.span().from, e.id.clone()));
        r
    }

    fn absences_for(&self, rule: &RuleDefinition) -> Vec<AbsenceDays> {
        self.absences
            .iter()
            .map(|(span, start, end)| AbsenceDays {
                span: *span,
                start_full_day: start.unwrap_or(rule.absence_start_full_day),
                end_full_day: end.unwrap_or(rule.absence_end_full_day),
            })
            .collect()
    }

    /// The care level in force on `day` (the latest evaluation started by then and not ended)
    /// and the last day that answer holds.
    fn level_on(&self, day: NaiveDate) -> (Option<&'a str>, NaiveDate) {
        let level = self
            .evaluations
            .iter()
            .rev()
            .find(|(span, _)| span.from <= day && span.to.is_none_or(|to| day <= to));
        // The answer changes when an evaluation starts, or the day after one ends.
        let mut until = NaiveDate::MAX;
        for (span, _) in &self.evaluations {
            if span.from > day {
                until = until.min(span.from.pred_opt().unwrap_or(day));
            }
            if let Some(to) = span.to
                && to >= day
            {
                until = until.min(to);
            }
        }
        (level.map(|(_, l)| *l), until)
    }

    /// The beneficiary kind on `day`: the stay's, else a contract's.
    fn kind_on(&self, day: NaiveDate) -> Option<&'a str> {
        let covers = |s: OpenSpan| s.from <= day && s.to.is_none_or(|to| day <= to);
        self.stays
            .iter()
            .find(|(s, _, _)| covers(s.details.span()))
            .map(|(_, kind, _)| *kind)
            .or_else(|| {
                self.contracts.iter().find_map(|c| match &c.details {
                    CareRecordDetails::Contract {
                        beneficiary_kind, ..
                    } if covers(c.details.span()) => Some(beneficiary_kind.as_str()),
                    _ => None,
                })
            })
    }

    fn contract_of_kind(&self, kind: &str, near: OpenSpan) -> Option<&'a CareRecord> {
        let overlaps = |c: OpenSpan| {
            c.from <= near.to.unwrap_or(NaiveDate::MAX)
                && near.from <= c.to.unwrap_or(NaiveDate::MAX)
        };
        self.contracts.iter().copied().find(|c| match &c.details {
            CareRecordDetails::Contract {
                beneficiary_kind, ..
            } => beneficiary_kind == kind && overlaps(c.details.span()),
            _ => false,
        })
    }

    fn stay_near(&self, near: OpenSpan) -> Option<OpenSpan> {
        let end = near.to.unwrap_or(NaiveDate::MAX);
        self.stays
            .iter()
            .map(|(s, _, _)| s.details.span())
            .find(|s| s.from <= end && near.from <= s.to.unwrap_or(NaiveDate::MAX))
            .or_else(|| self.stays.first().map(|(s, _, _)| s.details.span()))
    }
}

/// Splits `days` where the value changes. `value_from(day)` gives the value on `day` and the
/// last day it is sure to hold, so a month with one price asks once, not thirty times.
fn runs<T: PartialEq>(
    days: DateSpan,
    value_from: impl Fn(NaiveDate) -> (T, NaiveDate),
) -> Vec<(DateSpan, T)> {
    let mut out: Vec<(DateSpan, T)> = Vec::new();
    let mut day = days.from;
    loop {
        let (value, holds) = value_from(day);
        let end = holds.max(day).min(days.to);
        match out.last_mut() {
            Some((span, last)) if *last == value => span.to = end,
            _ => out.push((DateSpan { from: day, to: end }, value)),
        }
        match end.succ_opt() {
            Some(next) if end < days.to => day = next,
            _ => break,
        }
    }
    out
}

/// A price's answer and how long it holds.
fn priced(found: Option<PriceFound>, day: NaiveDate) -> (Option<PriceFound>, NaiveDate) {
    let holds = found.as_ref().and_then(|f| f.holds_until).unwrap_or(day);
    (
        found.map(|f| PriceFound {
            holds_until: None,
            ..f
        }),
        holds,
    )
}

/// The days of `span` in `window` on which `rule` is active.
fn billed_days(rule: &RuleDefinition, window: DateSpan, span: OpenSpan) -> Option<DateSpan> {
    let active = rule.active_part(window)?;
    span.until(active.to).and_then(|s| s.intersect(active))
}

/// A line before amounts: what was counted and priced.
struct Counted {
    record_id: String,
    service_group: String,
    days: DateSpan,
    description: String,
    quantity: Decimal,
    price: Option<PriceFound>,
    explanation: LineExplanation,
}

fn day_explanation(method: QuantityMethod, c: crate::rules::DayCount) -> LineExplanation {
    LineExplanation {
        quantity_method: Some(method),
        days: Some(c.days),
        considered_absent_days: Some(c.considered_absent),
        absent_days: Some(c.absent),
        ..LineExplanation::default()
    }
}

fn describe(rule: &RuleDefinition, entered: Option<&str>, detail: Option<&str>) -> String {
    match (rule.description_method, entered) {
        (DescriptionMethod::Manual, Some(text)) => text.to_owned(),
        _ => match detail {
            Some(d) => format!("{} ({d})", rule.description),
            None => rule.description.clone(),
        },
    }
}

/// Counts a span day by day: splits it where the price (and level) changes, then counts each
/// part. `key_on` gives what a day is priced by; days it gives none for are not billed.
#[expect(
    clippy::too_many_arguments,
    reason = "one argument per input of the evaluation; a struct would only repeat them"
)]
fn count_span<P>(
    rule: &RuleDefinition,
    record_id: &str,
    window: DateSpan,
    span: OpenSpan,
    absences: &[AbsenceDays],
    kind: &str,
    object_type: Option<&str>,
    levels: Option<&Records<'_>>,
    price: &P,
    out: &mut Vec<Counted>,
) where
    P: Fn(&PriceQuery<'_>) -> Option<PriceFound>,
{
    let Some(days) = billed_days(rule, window, span) else {
        return;
    };
    let group = rule.service_group.as_deref().unwrap_or(&rule.code);
    let threshold = rule.absence_threshold_days.unwrap_or(0);
    if rule.quantity_method == QuantityMethod::None {
        // A flat fee per record and window, at the price of its first day.
        let level = levels.and_then(|r| r.level_on(days.from).0);
        if levels.is_some() && level.is_none() {
            return;
        }
        let found = price(&PriceQuery {
            service_group: group,
            day: days.from,
            beneficiary_kind: kind,
            object_type,
            level,
        });
        out.push(Counted {
            record_id: record_id.to_owned(),
            service_group: group.to_owned(),
            days,
            description: describe(rule, None, level),
            quantity: Decimal::ONE,
            price: found,
            explanation: LineExplanation {
                quantity_method: Some(QuantityMethod::None),
                ..LineExplanation::default()
            },
        });
        return;
    }
    let parts = runs(days, |day| {
        let (level, level_until) = match levels {
            Some(r) => r.level_on(day),
            None => (None, NaiveDate::MAX),
        };
        if levels.is_some() && level.is_none() {
            return ((level, None), level_until);
        }
        let (found, price_until) = priced(
            price(&PriceQuery {
                service_group: group,
                day,
                beneficiary_kind: kind,
                object_type,
                level,
            }),
            day,
        );
        ((level, found), level_until.min(price_until))
    });
    for (part, (level, found)) in parts {
        if levels.is_some() && level.is_none() {
            continue;
        }
        let count = count_absent_days(part, span, absences, threshold);
        let Some(q) = count.quantity(rule.quantity_method) else {
            continue;
        };
        if q == 0 {
            continue;
        }
        out.push(Counted {
            record_id: record_id.to_owned(),
            service_group: group.to_owned(),
            days: part,
            description: describe(rule, None, level),
            quantity: Decimal::from(q),
            price: found,
            explanation: day_explanation(rule.quantity_method, count),
        });
    }
}

/// What one rule gives in one window for one beneficiary, before amounts.
fn count_rule<P>(
    rule: &RuleDefinition,
    window: DateSpan,
    r: &Records<'_>,
    price: &P,
) -> Vec<Counted>
where
    P: Fn(&PriceQuery<'_>) -> Option<PriceFound>,
{
    let mut out = Vec::new();
    let absences = r.absences_for(rule);
    match rule.source {
        InvoicingSource::Stay | InvoicingSource::Absence | InvoicingSource::Evaluation => {
            for (stay, kind, object_type) in &r.stays {
                if *kind != rule.beneficiary_kind
                    || rule
                        .object_type
                        .as_deref()
                        .is_some_and(|o| Some(o) != *object_type)
                {
                    continue;
                }
                let stay_span = stay.details.span();
                let contract = r
                    .contract_of_kind(kind, stay_span)
                    .map(|c| c.details.span());
                let Some(span) = counting_span(rule.date_calculation, Some(stay_span), contract)
                else {
                    continue;
                };
                let levels = (rule.source == InvoicingSource::Evaluation).then_some(r);
                count_span(
                    rule,
                    &stay.id,
                    window,
                    span,
                    &absences,
                    kind,
                    rule.object_type.as_deref(),
                    levels,
                    price,
                    &mut out,
                );
            }
        }
        InvoicingSource::Contract => {
            for c in &r.contracts {
                let CareRecordDetails::Contract {
                    beneficiary_kind,
                    services,
                    ..
                } = &c.details
                else {
                    continue;
                };
                if *beneficiary_kind != rule.beneficiary_kind {
                    continue;
                }
                let contract_span = c.details.span();
                let span = match rule.date_calculation {
                    None => Some(contract_span),
                    Some(calc) => {
                        counting_span(Some(calc), r.stay_near(contract_span), Some(contract_span))
                    }
                };
                let Some(span) = span else {
                    continue;
                };
                for s in services.iter().filter(|s| {
                    rule.service_group
                        .as_deref()
                        .is_none_or(|g| g == s.service_group)
                }) {
                    count_contract_service(rule, c, s, window, span, &absences, price, &mut out);
                }
            }
        }
        InvoicingSource::ManualEntry | InvoicingSource::Gastro | InvoicingSource::Ambulatory => {
            let Some(active) = rule.active_part(window) else {
                return out;
            };
            for e in &r.entries {
                if e.details.source() != rule.source {
                    continue;
                }
                let (date, group, text, quantity, entered_price) = match &e.details {
                    CareRecordDetails::ManualEntry {
                        date,
                        service_group,
                        description,
                        quantity,
                        unit_price,
                    } => (*date, service_group, description, *quantity, *unit_price),
                    CareRecordDetails::Gastro {
                        date,
                        service_group,
                        description,
                        quantity,
                        unit_price,
                    } => (
                        *date,
                        service_group,
                        description,
                        *quantity,
                        Some(*unit_price),
                    ),
                    CareRecordDetails::Ambulatory {
                        date,
                        service_group,
                        description,
                        quantity,
                        ..
                    } => (*date, service_group, description, *quantity, None),
                    _ => continue,
                };
                if !active.contains(date)
                    || rule.service_group.as_deref().is_some_and(|g| g != group)
                    || r.kind_on(date) != Some(rule.beneficiary_kind.as_str())
                {
                    continue;
                }
                let found = match rule.price_method {
                    PriceMethod::Manual => entered_price.map(|p| PriceFound {
                        unit_price: p,
                        holds_until: None,
                        source: format!("entered on record {}", e.id).into(),
                    }),
                    PriceMethod::Service => price(&PriceQuery {
                        service_group: group,
                        day: date,
                        beneficiary_kind: &rule.beneficiary_kind,
                        object_type: None,
                        level: None,
                    }),
                };
                let quantity = match rule.quantity_method {
                    QuantityMethod::Manual => quantity,
                    _ => Decimal::ONE,
                };
                out.push(Counted {
                    record_id: e.id.clone(),
                    service_group: group.clone(),
                    days: DateSpan {
                        from: date,
                        to: date,
                    },
                    description: describe(rule, Some(text), None),
                    quantity,
                    price: found,
                    explanation: LineExplanation {
                        quantity_method: Some(rule.quantity_method),
                        ..LineExplanation::default()
                    },
                });
            }
        }
        // Consumptions are settled per episode, not by billing runs.
        InvoicingSource::Consumption => {}
    }
    out
}

#[expect(
    clippy::too_many_arguments,
    reason = "one argument per input of the evaluation; a struct would only repeat them"
)]
fn count_contract_service<P>(
    rule: &RuleDefinition,
    contract: &CareRecord,
    service: &crate::sources::ContractService,
    window: DateSpan,
    span: OpenSpan,
    absences: &[AbsenceDays],
    price: &P,
    out: &mut Vec<Counted>,
) where
    P: Fn(&PriceQuery<'_>) -> Option<PriceFound>,
{
    let Some(days) = billed_days(rule, window, span) else {
        return;
    };
    let manual_price = || {
        service.unit_price.map(|p| PriceFound {
            unit_price: p,
            holds_until: None,
            source: format!("contract {}", contract.id).into(),
        })
    };
    let text = describe(rule, Some(&service.description), None);
    match rule.quantity_method {
        QuantityMethod::Manual | QuantityMethod::None => {
            let quantity = if rule.quantity_method == QuantityMethod::Manual {
                service.quantity
            } else {
                Decimal::ONE
            };
            let found = match rule.price_method {
                PriceMethod::Manual => manual_price(),
                PriceMethod::Service => price(&PriceQuery {
                    service_group: &service.service_group,
                    day: days.from,
                    beneficiary_kind: &rule.beneficiary_kind,
                    object_type: rule.object_type.as_deref(),
                    level: None,
                }),
            };
            out.push(Counted {
                record_id: contract.id.clone(),
                service_group: service.service_group.clone(),
                days,
                description: text,
                quantity,
                price: found,
                explanation: LineExplanation {
                    quantity_method: Some(rule.quantity_method),
                    ..LineExplanation::default()
                },
            });
        }
        method => {
            let threshold = rule.absence_threshold_days.unwrap_or(0);
            let parts = runs(days, |day| match rule.price_method {
                PriceMethod::Manual => (manual_price(), NaiveDate::MAX),
                PriceMethod::Service => priced(
                    price(&PriceQuery {
                        service_group: &service.service_group,
                        day,
                        beneficiary_kind: &rule.beneficiary_kind,
                        object_type: rule.object_type.as_deref(),
                        level: None,
                    }),
                    day,
                ),
            });
            for (part, found) in parts {
                let count = count_absent_days(part, span, absences, threshold);
                let Some(q) = count.quantity(method).filter(|q| *q > 0) else {
                    continue;
                };
                out.push(Counted {
                    record_id: contract.id.clone(),
                    service_group: service.service_group.clone(),
                    days: part,
                    description: text.clone(),
                    quantity: Decimal::from(q),
                    price: found,
                    explanation: day_explanation(method, count),
                });
            }
        }
    }
}

/// Every line `rules` give for the beneficiary's `records` in the windows to look at, with
/// linked entries, plus what could not be priced.
fn evaluate<P>(
    rules: &[RuleInForce],
    records: &Records<'_>,
    windows: &BTreeMap<String, Vec<DateSpan>>,
    price: &P,
) -> (Vec<RunLine>, Vec<RunProblem>)
where
    P: Fn(&PriceQuery<'_>) -> Option<PriceFound>,
{
    let mut lines = Vec::new();
    let mut problems = Vec::new();
    for r in rules {
        let rule = &r.rule;
        for window in windows.get(&rule.code).into_iter().flatten() {
            for c in count_rule(rule, *window, records, price) {
                let Some(found) = c.price else {
                    problems.push(RunProblem {
                        rule_code: rule.code.clone(),
                        record_id: c.record_id.clone(),
                        window: *window,
                        code: "no_price".to_owned(),
                        detail: format!(
                            "no price for service group {} from {} for beneficiary kind {}",
                            c.service_group, c.days.from, rule.beneficiary_kind
                        ),
                    });
                    continue;
                };
                let amount = match line_amount(rule, c.quantity, found.unit_price) {
                    Ok(a) => a,
                    Err(e) => {
                        let code = match e {
                            LineError::Precision { .. } => "bad_rounding",
                            LineError::Money(_) => "amount_out_of_range",
                        };
                        problems.push(RunProblem {
                            rule_code: rule.code.clone(),
                            record_id: c.record_id.clone(),
                            window: *window,
                            code: code.to_owned(),
                            detail: e.to_string(),
                        });
                        continue;
                    }
                };
                let explanation = LineExplanation {
                    price_source: Some(found.source.to_string()),
                    rounding_precision: rule.rounding_precision,
                    negative_sign: rule.negative_sign,
                    ..c.explanation
                };
                let own = RunLine {
                    rule_code: rule.code.clone(),
                    rule_version: r.version,
                    context: rule.invoice_context.clone(),
                    record_id: c.record_id.clone(),
                    service_group: c.service_group.clone(),
                    window: *window,
                    days: c.days,
                    description: c.description.clone(),
                    quantity: c.quantity,
                    unit_price: found.unit_price,
                    amount,
                    correction: false,
                    explanation,
                };
                for link in &rule.linked_rules {
                    let sign = match link.operation {
                        LinkOperation::Copy => Decimal::ONE,
                        LinkOperation::Negate => Decimal::NEGATIVE_ONE,
                    };
                    let mut linked = own.clone();
                    linked.context = link.context.clone();
                    linked.quantity = own.quantity * sign;
                    linked.amount = scaled(&own.amount, sign);
                    linked.explanation.linked = Some(link.operation);
                    lines.push(linked);
                }
                lines.push(own);
            }
        }
    }
    (lines, problems)
}

fn scaled(m: &Money, sign: Decimal) -> Money {
    Money::round(m.amount() * sign, m.currency())
}

/// Quantity and amount per key, currency and unit price.
type Totals<'a> = BTreeMap<(LineKey<'a>, Currency, Decimal), Sum<'a>>;

struct Sum<'a> {
    quantity: Decimal,
    amount: Decimal,
    currency: Currency,
    /// The first line of the key, for its text and explanation.
    first: &'a RunLine,
}

fn totals<'a>(lines: impl Iterator<Item = &'a RunLine>) -> Totals<'a> {
    let mut out: Totals<'a> = BTreeMap::new();
    for l in lines {
        let e = out
            .entry((l.key(), l.unit_price.currency(), l.unit_price.amount()))
            .or_insert(Sum {
                quantity: Decimal::ZERO,
                amount: Decimal::ZERO,
                currency: l.unit_price.currency(),
                first: l,
            });
        e.quantity += l.quantity;
        e.amount += l.amount.amount();
    }
    out
}

/// What a run for `period` bills for one beneficiary: the lines the `rules` give for its
/// `records` in each window of the period (by time horizon) and in each earlier window already
/// `billed`, less what was billed. `billed` holds every line earlier runs billed for this
/// beneficiary (corrections included).
pub fn bill_beneficiary<P>(
    period: Period,
    rules: &[RuleInForce],
    records: &[CareRecord],
    billed: &[RunLine],
    price: &P,
) -> BeneficiaryRun
where
    P: Fn(&PriceQuery<'_>) -> Option<PriceFound>,
{
    let records = Records::new(records);
    let mut windows: BTreeMap<String, Vec<DateSpan>> = BTreeMap::new();
    for r in rules {
        let ws = windows.entry(r.rule.code.clone()).or_default();
        ws.extend(billing_windows(period, r.rule.time_horizon));
        if !r.rule.no_correction {
            ws.extend(
                billed
                    .iter()
                    .filter(|b| b.rule_code == r.rule.code)
                    .map(|b| b.window),
            );
        }
        ws.sort();
        ws.dedup();
    }
    let (now, problems) = evaluate(rules, &records, &windows, price);
    if billed.is_empty() {
        return BeneficiaryRun {
            lines: sorted(now),
            problems,
        };
    }
    let in_force: BTreeMap<&str, &RuleInForce> =
        rules.iter().map(|r| (r.rule.code.as_str(), r)).collect();
    // Windows a "no correction" rule billed are left alone, whatever changed.
    let closed: std::collections::HashSet<(&str, DateSpan)> = billed
        .iter()
        .filter(|b| {
            in_force
                .get(b.rule_code.as_str())
                .is_some_and(|r| r.rule.no_correction)
        })
        .map(|b| (b.rule_code.as_str(), b.window))
        .collect();
    let billed_keys: std::collections::HashSet<LineKey<'_>> = billed
        .iter()
        .filter(|b| in_force.contains_key(b.rule_code.as_str()))
        .map(RunLine::key)
        .collect();
    let is_closed = |k: &LineKey<'_>| closed.contains(&(k.rule_code, k.window));
    let mut lines = Vec::new();
    // Keys never billed: the lines as they are (split by price, one per part).
    for l in &now {
        let k = l.key();
        if !is_closed(&k) && !billed_keys.contains(&k) {
            lines.push(l.clone());
        }
    }
    // Keys billed before: the difference, per unit price.
    let before = totals(billed.iter().filter(|b| billed_keys.contains(&b.key())));
    let after = totals(now.iter().filter(|l| billed_keys.contains(&l.key())));
    let mut keys: Vec<&(LineKey<'_>, Currency, Decimal)> =
        before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let (key, _, unit) = k;
        if is_closed(key) {
            continue;
        }
        let (was, is) = (before.get(k), after.get(k));
        let Some(any) = is.or(was) else { continue };
        let currency = any.currency;
        let (bq, ba) = was.map_or((Decimal::ZERO, Decimal::ZERO), |s| (s.quantity, s.amount));
        let (nq, na) = is.map_or((Decimal::ZERO, Decimal::ZERO), |s| (s.quantity, s.amount));
        if bq == nq && ba == na {
            continue;
        }
        let t = any.first;
        let money = |a: Decimal| Money::round(a, currency);
        lines.push(RunLine {
            rule_code: key.rule_code.to_owned(),
            rule_version: in_force
                .get(key.rule_code)
                .map_or(t.rule_version, |r| r.version),
            context: key.context.to_owned(),
            record_id: key.record_id.to_owned(),
            service_group: key.service_group.to_owned(),
            window: key.window,
            days: key.window,
            description: t.description.clone(),
            quantity: nq - bq,
            unit_price: money(*unit),
            amount: money(na - ba),
            correction: true,
            explanation: LineExplanation {
                quantity_method: t.explanation.quantity_method,
                price_source: t.explanation.price_source.clone(),
                rounding_precision: t.explanation.rounding_precision,
                negative_sign: t.explanation.negative_sign,
                linked: t.explanation.linked,
                corrects: Some(CorrectionOf {
                    billed_quantity: bq,
                    billed_amount: money(ba),
                    now_quantity: nq,
                    now_amount: money(na),
                }),
                ..LineExplanation::default()
            },
        });
    }
    BeneficiaryRun {
        lines: sorted(lines),
        problems,
    }
}

fn sorted(mut lines: Vec<RunLine>) -> Vec<RunLine> {
    lines.sort_by(|a, b| {
        (
            a.window,
            &a.rule_code,
            &a.context,
            &a.record_id,
            a.days.from,
            a.correction,
        )
            .cmp(&(
                b.window,
                &b.rule_code,
                &b.context,
                &b.record_id,
                b.days.from,
                b.correction,
            ))
    });
    lines
}

/// Two rules compete for the same slot when they bill the same beneficiary kind, context,
/// source, service group and object type on a common day. Returns the pairs of codes.
pub fn conflicts(rules: &[RuleDefinition]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, a) in rules.iter().enumerate() {
        for b in &rules[i + 1..] {
            let same_slot = a.beneficiary_kind == b.beneficiary_kind
                && a.invoice_context == b.invoice_context
                && a.source == b.source
                && a.service_group == b.service_group
                && a.object_type == b.object_type;
            let a_end = a.inactive_from.unwrap_or(NaiveDate::MAX);
            let b_end = b.inactive_from.unwrap_or(NaiveDate::MAX);
            let overlap = a.active_from < b_end && b.active_from < a_end;
            if same_slot && overlap && a.code != b.code {
                out.push((a.code.clone(), b.code.clone()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{LinkedRule, TimeHorizon};
    use crate::sources::{AbsenceKind, ContractService};
    use proptest::prelude::*;
    use std::str::FromStr as _;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).expect("date")
    }

    fn chf(s: &str) -> Money {
        Money::new(
            Decimal::from_str(s).expect("amount"),
            Currency::parse("CHF").expect("CHF"),
        )
        .expect("money")
    }

    fn oct() -> Period {
        Period::month(2026, 10).expect("month")
    }

    fn rule(code: &str, source: InvoicingSource, group: &str) -> RuleDefinition {
        RuleDefinition {
            code: code.to_owned(),
            description: code.to_owned(),
            invoicing_kind: None,
            beneficiary_kind: "LTC".to_owned(),
            invoice_context: "beneficiary".to_owned(),
            source,
            object_type: None,
            service_group: Some(group.to_owned()),
            absence_threshold_days: None,
            description_method: DescriptionMethod::Service,
            quantity_method: QuantityMethod::Days,
            negative_sign: false,
            price_method: PriceMethod::Service,
            time_horizon: Some(TimeHorizon::Subsequent),
            date_calculation: None,
            active_from: d("2026-01-01"),
            inactive_from: None,
            no_correction: false,
            absence_start_full_day: false,
            absence_end_full_day: false,
            linked_rules: Vec::new(),
            rounding_precision: None,
            manual_correction: false,
        }
    }

    /// Hotel: the room by days minus absences of 3 days or more.
    fn hotel() -> RuleDefinition {
        RuleDefinition {
            object_type: Some("SINGLE".to_owned()),
            absence_threshold_days: Some(3),
            quantity_method: QuantityMethod::DaysMinusAbsences,
            ..rule("HOTEL", InvoicingSource::Stay, "ROOM")
        }
    }

    /// Care by level on presence days, billed to the beneficiary and deducted from the
    /// insurance and public authority contexts (seed 003's example).
    fn care() -> RuleDefinition {
        RuleDefinition {
            quantity_method: QuantityMethod::EffectiveDays,
            linked_rules: vec![
                LinkedRule {
                    context: "insurance".to_owned(),
                    operation: LinkOperation::Negate,
                },
                LinkedRule {
                    context: "public_authority".to_owned(),
                    operation: LinkOperation::Negate,
                },
            ],
            ..rule("CARE", InvoicingSource::Evaluation, "CARE")
        }
    }

    fn in_force(rules: Vec<RuleDefinition>) -> Vec<RuleInForce> {
        rules
            .into_iter()
            .map(|rule| RuleInForce { version: 1, rule })
            .collect()
    }

    fn record(id: &str, details: CareRecordDetails) -> CareRecord {
        CareRecord {
            id: id.to_owned(),
            patient_id: "P1".to_owned(),
            location_id: "L1".to_owned(),
            version: 1,
            cancelled: false,
            details,
        }
    }

    fn stay(from: &str, to: Option<&str>) -> CareRecord {
        record(
            "stay",
            CareRecordDetails::Stay {
                beneficiary_kind: "LTC".to_owned(),
                object_type: Some("SINGLE".to_owned()),
                room: Some("B-204".to_owned()),
                entry_date: d(from),
                leaving_date: to.map(d),
            },
        )
    }

    fn absence(id: &str, from: &str, to: &str, reason: AbsenceKind) -> CareRecord {
        record(
            id,
            CareRecordDetails::Absence {
                reason,
                from: d(from),
                to: Some(d(to)),
                start_full_day: None,
                end_full_day: None,
            },
        )
    }

    fn level(id: &str, level: &str, from: &str) -> CareRecord {
        record(
            id,
            CareRecordDetails::Evaluation {
                level: level.to_owned(),
                valid_from: d(from),
                valid_to: None,
            },
        )
    }

    /// ROOM single 120.00 (130.00 from 16 November), CARE L3 85.50, L4 102.10.
    fn prices(q: &PriceQuery<'_>) -> Option<PriceFound> {
        let amount = match (q.service_group, q.object_type, q.level) {
            ("ROOM", Some("SINGLE"), _) if q.day >= d("2026-11-16") => "130.00",
            ("ROOM", Some("SINGLE"), _) => "120.00",
            ("CARE", _, Some("L3")) => "85.50",
            ("CARE", _, Some("L4")) => "102.10",
            ("LAUNDRY", _, _) => "2.50",
            _ => return None,
        };
        // Tells how long the answer holds, as the service's price book does: the room's price
        // changes on 16 November.
        let holds_until = if q.service_group == "ROOM" && q.day < d("2026-11-16") {
            Some(d("2026-11-15"))
        } else {
            Some(NaiveDate::MAX)
        };
        Some(PriceFound {
            unit_price: chf(amount),
            holds_until,
            source: format!("{} {amount}", q.service_group).into(),
        })
    }

    fn resident() -> Vec<CareRecord> {
        vec![
            stay("2026-09-15", None),
            level("eval", "L3", "2026-09-15"),
            absence("hosp", "2026-10-28", "2026-11-06", AbsenceKind::Hospital),
        ]
    }

    fn summary(run: &BeneficiaryRun) -> Vec<(String, String, String, String, bool)> {
        run.lines
            .iter()
            .map(|l| {
                (
                    format!("{}/{}", l.rule_code, l.context),
                    format!("{}..{}", l.days.from, l.days.to),
                    l.quantity.to_string(),
                    l.amount.amount_string(),
                    l.correction,
                )
            })
            .collect()
    }

    fn row(
        what: &str,
        days: &str,
        q: &str,
        amount: &str,
        correction: bool,
    ) -> (String, String, String, String, bool) {
        (
            what.to_owned(),
            days.to_owned(),
            q.to_owned(),
            amount.to_owned(),
            correction,
        )
    }

    #[test]
    fn a_month_with_a_hospital_absence_over_its_edge_and_care_linked_into_three_contexts() {
        let rules = in_force(vec![hotel(), care()]);
        // October: absent from the 28th (return 6 November, present that day): 4 days in
        // October, 9 in all (over the threshold of 3). Hotel 31 - 4 = 27 x 120.00 = 3240.00;
        // care on 27 presence days x 85.50 = 2308.50, deducted from insurance and authority.
        let october = bill_beneficiary(oct(), &rules, &resident(), &[], &prices);
        assert!(october.problems.is_empty(), "{:?}", october.problems);
        assert_eq!(
            summary(&october),
            [
                row(
                    "CARE/beneficiary",
                    "2026-10-01..2026-10-31",
                    "27",
                    "2308.50",
                    false
                ),
                row(
                    "CARE/insurance",
                    "2026-10-01..2026-10-31",
                    "-27",
                    "-2308.50",
                    false
                ),
                row(
                    "CARE/public_authority",
                    "2026-10-01..2026-10-31",
                    "-27",
                    "-2308.50",
                    false
                ),
                row(
                    "HOTEL/beneficiary",
                    "2026-10-01..2026-10-31",
                    "27",
                    "3240.00",
                    false
                ),
            ]
        );
        assert_eq!(
            october.lines[0].explanation.absent_days,
            Some(4),
            "the explanation shows the absent days"
        );
        // November: 1st to 5th absent; the room costs 130.00 from the 16th, so two lines:
        // 1-15: 15 - 5 = 10 x 120.00 = 1200.00; 16-30: 15 x 130.00 = 1950.00. Care 25 x 85.50.
        let november = bill_beneficiary(oct().next(), &rules, &resident(), &october.lines, &prices);
        assert_eq!(
            summary(&november),
            [
                row(
                    "CARE/beneficiary",
                    "2026-11-01..2026-11-30",
                    "25",
                    "2137.50",
                    false
                ),
                row(
                    "CARE/insurance",
                    "2026-11-01..2026-11-30",
                    "-25",
                    "-2137.50",
                    false
                ),
                row(
                    "CARE/public_authority",
                    "2026-11-01..2026-11-30",
                    "-25",
                    "-2137.50",
                    false
                ),
                row(
                    "HOTEL/beneficiary",
                    "2026-11-01..2026-11-15",
                    "10",
                    "1200.00",
                    false
                ),
                row(
                    "HOTEL/beneficiary",
                    "2026-11-16..2026-11-30",
                    "15",
                    "1950.00",
                    false
                ),
            ],
            "October, unchanged, is not billed again"
        );
    }

    #[test]
    fn a_run_is_idempotent_running_it_again_bills_nothing() {
        let rules = in_force(vec![hotel(), care()]);
        let first = bill_beneficiary(oct(), &rules, &resident(), &[], &prices);
        let again = bill_beneficiary(oct(), &rules, &resident(), &first.lines, &prices);
        assert_eq!(again, BeneficiaryRun::default());
    }

    #[test]
    fn a_late_absence_is_corrected_by_the_next_run_unless_the_rule_says_no_correction() {
        let rules = in_force(vec![hotel(), care()]);
        let october = bill_beneficiary(oct(), &rules, &resident(), &[], &prices);
        // Recorded in November: a holiday from 10 to 13 October (return on the 13th): 3 absent
        // days, enough for the hotel refund (-3 x 120.00) and 3 fewer care days (-3 x 85.50).
        let mut late = resident();
        late.push(absence(
            "hol",
            "2026-10-10",
            "2026-10-13",
            AbsenceKind::Holiday,
        ));
        let november = bill_beneficiary(oct().next(), &rules, &late, &october.lines, &prices);
        let corrections: Vec<_> = summary(&november).into_iter().filter(|r| r.4).collect();
        assert_eq!(
            corrections,
            [
                row(
                    "CARE/beneficiary",
                    "2026-10-01..2026-10-31",
                    "-3",
                    "-256.50",
                    true
                ),
                row(
                    "CARE/insurance",
                    "2026-10-01..2026-10-31",
                    "3",
                    "256.50",
                    true
                ),
                row(
                    "CARE/public_authority",
                    "2026-10-01..2026-10-31",
                    "3",
                    "256.50",
                    true
                ),
                row(
                    "HOTEL/beneficiary",
                    "2026-10-01..2026-10-31",
                    "-3",
                    "-360.00",
                    true
                ),
            ]
        );
        let hotel_fix = november
            .lines
            .iter()
            .find(|l| l.correction && l.rule_code == "HOTEL")
            .expect("hotel correction");
        assert_eq!(
            hotel_fix.explanation.corrects,
            Some(CorrectionOf {
                billed_quantity: Decimal::from(27),
                billed_amount: chf("3240.00"),
                now_quantity: Decimal::from(24),
                now_amount: chf("2880.00"),
            })
        );
        // A two-day absence is under the hotel's threshold: only care is corrected.
        let mut short = resident();
        short.push(absence(
            "hol",
            "2026-10-10",
            "2026-10-12",
            AbsenceKind::Holiday,
        ));
        let run = bill_beneficiary(oct().next(), &rules, &short, &october.lines, &prices);
        assert!(
            run.lines
                .iter()
                .any(|l| l.correction && l.rule_code == "CARE")
        );
        assert!(
            !run.lines
                .iter()
                .any(|l| l.correction && l.rule_code == "HOTEL")
        );
        // No correction: the billed October stays as billed.
        let frozen = in_force(vec![
            RuleDefinition {
                no_correction: true,
                ..hotel()
            },
            care(),
        ]);
        let october = bill_beneficiary(oct(), &frozen, &resident(), &[], &prices);
        let run = bill_beneficiary(oct().next(), &frozen, &late, &october.lines, &prices);
        assert!(
            run.lines
                .iter()
                .any(|l| l.correction && l.rule_code == "CARE")
        );
        assert!(
            !run.lines
                .iter()
                .any(|l| l.correction && l.rule_code == "HOTEL")
        );
    }

    #[test]
    fn in_advance_bills_the_coming_month_and_corrects_it_the_month_after() {
        let rules = in_force(vec![RuleDefinition {
            time_horizon: Some(TimeHorizon::InAdvance),
            ..hotel()
        }]);
        let records = vec![stay("2026-09-15", None)];
        // The October run bills November ahead: 30 x 120.00 (16-30 at 130.00).
        let october = bill_beneficiary(oct(), &rules, &records, &[], &prices);
        assert_eq!(
            summary(&october),
            [
                row(
                    "HOTEL/beneficiary",
                    "2026-11-01..2026-11-15",
                    "15",
                    "1800.00",
                    false
                ),
                row(
                    "HOTEL/beneficiary",
                    "2026-11-16..2026-11-30",
                    "15",
                    "1950.00",
                    false
                ),
            ]
        );
        // The resident left on 20 November: the November run bills December (nothing: gone)
        // and takes back the 10 days billed ahead at 130.00.
        let left = vec![stay("2026-09-15", Some("2026-11-20"))];
        let november = bill_beneficiary(oct().next(), &rules, &left, &october.lines, &prices);
        assert_eq!(
            summary(&november),
            [row(
                "HOTEL/beneficiary",
                "2026-11-01..2026-11-30",
                "-10",
                "-1300.00",
                true
            )]
        );
    }

    #[test]
    fn contracts_bill_their_services_with_manual_quantities_and_prices() {
        let laundry = RuleDefinition {
            quantity_method: QuantityMethod::Manual,
            price_method: PriceMethod::Manual,
            description_method: DescriptionMethod::Manual,
            ..rule("LAUNDRY", InvoicingSource::Contract, "LAUNDRY")
        };
        let reservation = RuleDefinition {
            quantity_method: QuantityMethod::Days,
            date_calculation: Some(crate::rules::DateCalculation::ContractStartToEntry),
            ..rule("RESERVE", InvoicingSource::Contract, "LAUNDRY")
        };
        let contract = record(
            "contract",
            CareRecordDetails::Contract {
                beneficiary_kind: "LTC".to_owned(),
                start_date: d("2026-10-01"),
                end_date: None,
                services: vec![ContractService {
                    service_group: "LAUNDRY".to_owned(),
                    description: "Personal laundry".to_owned(),
                    quantity: Decimal::from(4),
                    unit_price: Some(chf("12.25")),
                }],
            },
        );
        // Contract from 1 October, entry on the 11th: 10 reservation days at the service
        // price 2.50; laundry 4 x 12.25 as entered.
        let records = vec![contract, stay("2026-10-11", None)];
        let run = bill_beneficiary(
            oct(),
            &in_force(vec![laundry, reservation]),
            &records,
            &[],
            &prices,
        );
        assert_eq!(
            summary(&run),
            [
                row(
                    "LAUNDRY/beneficiary",
                    "2026-10-01..2026-10-31",
                    "4",
                    "49.00",
                    false
                ),
                row(
                    "RESERVE/beneficiary",
                    "2026-10-01..2026-10-10",
                    "10",
                    "25.00",
                    false
                ),
            ]
        );
        assert_eq!(run.lines[0].description, "Personal laundry");
    }

    #[test]
    fn gastro_and_manual_entries_bill_what_the_till_and_the_staff_entered() {
        let gastro = RuleDefinition {
            quantity_method: QuantityMethod::Manual,
            price_method: PriceMethod::Manual,
            description_method: DescriptionMethod::Manual,
            rounding_precision: Some(Decimal::from_str("0.05").expect("dec")),
            ..rule("CAFE", InvoicingSource::Gastro, "CAFETERIA")
        };
        let mut records = resident();
        records.push(record(
            "till-1",
            CareRecordDetails::Gastro {
                date: d("2026-10-03"),
                service_group: "CAFETERIA".to_owned(),
                description: "Coffee".to_owned(),
                quantity: Decimal::from(3),
                unit_price: chf("3.33"),
            },
        ));
        // A sale after leaving is not this resident's LTC stay: not billed by an LTC rule.
        records[0] = stay("2026-09-15", Some("2026-10-20"));
        records.push(record(
            "till-2",
            CareRecordDetails::Gastro {
                date: d("2026-10-25"),
                service_group: "CAFETERIA".to_owned(),
                description: "Cake".to_owned(),
                quantity: Decimal::ONE,
                unit_price: chf("4.00"),
            },
        ));
        let run = bill_beneficiary(oct(), &in_force(vec![gastro]), &records, &[], &prices);
        // 3 x 3.33 = 9.99, rounded to 0.05: 10.00.
        assert_eq!(
            summary(&run),
            [row(
                "CAFE/beneficiary",
                "2026-10-03..2026-10-03",
                "3",
                "10.00",
                false
            )]
        );
    }

    #[test]
    fn a_missing_price_is_a_problem_not_a_line_and_is_billed_once_priced() {
        let rules = in_force(vec![RuleDefinition {
            object_type: Some("DOUBLE".to_owned()),
            ..hotel()
        }]);
        let records = vec![record(
            "stay",
            CareRecordDetails::Stay {
                beneficiary_kind: "LTC".to_owned(),
                object_type: Some("DOUBLE".to_owned()),
                room: None,
                entry_date: d("2026-10-01"),
                leaving_date: None,
            },
        )];
        let run = bill_beneficiary(oct(), &rules, &records, &[], &prices);
        assert!(run.lines.is_empty());
        assert_eq!(run.problems.len(), 1);
        assert_eq!(run.problems[0].code, "no_price");
        let priced = |q: &PriceQuery<'_>| {
            (q.service_group == "ROOM").then(|| PriceFound {
                unit_price: chf("99.00"),
                holds_until: None,
                source: "ROOM DOUBLE".into(),
            })
        };
        let next = bill_beneficiary(oct().next(), &rules, &records, &run.lines, &priced);
        assert!(next.problems.is_empty());
        assert_eq!(
            summary(&next),
            [row(
                "HOTEL/beneficiary",
                "2026-11-01..2026-11-30",
                "30",
                "2970.00",
                false
            ),],
            "a window never billed is not corrected: the run of its month bills it"
        );
    }

    #[test]
    fn a_rule_outside_its_dates_bills_only_its_active_days_and_conflicts_are_found() {
        let late_start = RuleDefinition {
            active_from: d("2026-10-21"),
            ..hotel()
        };
        let run = bill_beneficiary(
            oct(),
            &in_force(vec![late_start.clone()]),
            &[stay("2026-09-15", None)],
            &[],
            &prices,
        );
        assert_eq!(
            summary(&run),
            [row(
                "HOTEL/beneficiary",
                "2026-10-21..2026-10-31",
                "11",
                "1320.00",
                false
            )]
        );
        let twin = RuleDefinition {
            code: "HOTEL2".to_owned(),
            ..hotel()
        };
        assert_eq!(
            conflicts(&[hotel(), twin.clone(), care()]),
            [("HOTEL".to_owned(), "HOTEL2".to_owned())]
        );
        let ended = RuleDefinition {
            inactive_from: Some(d("2026-10-21")),
            ..hotel()
        };
        assert!(
            conflicts(&[
                ended,
                RuleDefinition {
                    code: "HOTEL2".to_owned(),
                    ..late_start
                }
            ])
            .is_empty()
        );
    }

    fn absence_strategy() -> impl Strategy<Value = (u32, u32)> {
        (0u32..80, 0u32..15)
    }

    proptest! {
        /// Whatever absences arrive late, what was billed plus the corrections equals what the
        /// rules give from scratch, to the cent, per context.
        #[test]
        fn billed_plus_corrections_equal_the_amount_from_scratch(
            early in proptest::collection::vec(absence_strategy(), 0..3),
            late in proptest::collection::vec(absence_strategy(), 0..3),
            precision in prop_oneof![Just(None), Just(Some("0.05")), Just(Some("1"))],
        ) {
            let as_records = |list: &[(u32, u32)], tag: &str| -> Vec<CareRecord> {
                list.iter().enumerate().map(|(i, (start, len))| {
                    let from = crate::rules::plus_days(d("2026-09-20"), u64::from(*start));
                    let to = crate::rules::plus_days(from, u64::from(*len));
                    record(&format!("{tag}{i}"), CareRecordDetails::Absence {
                        reason: AbsenceKind::Other, from, to: Some(to),
                        start_full_day: None, end_full_day: Some(*len % 2 == 0),
                    })
                }).collect()
            };
            let rounding = precision.map(|p| Decimal::from_str(p).expect("dec"));
            let rules = in_force(vec![
                RuleDefinition { rounding_precision: rounding, ..hotel() },
                RuleDefinition { rounding_precision: rounding, ..care() },
            ]);
            let mut records = resident();
            records.extend(as_records(&early, "e"));
            let first = bill_beneficiary(oct(), &rules, &records, &[], &prices);
            records.extend(as_records(&late, "l"));
            let second = bill_beneficiary(oct().next(), &rules, &records, &first.lines, &prices);
            let all: Vec<RunLine> = first.lines.iter().chain(&second.lines).cloned().collect();
            let fresh_oct = bill_beneficiary(oct(), &rules, &records, &[], &prices);
            let fresh_nov = bill_beneficiary(oct().next(), &rules, &records, &fresh_oct.lines, &prices);
            let fresh: Vec<RunLine> = fresh_oct.lines.iter().chain(&fresh_nov.lines).cloned().collect();
            let sum = |lines: &[RunLine], ctx: &str| -> Decimal {
                lines.iter().filter(|l| l.context == ctx).map(|l| l.amount.amount()).sum()
            };
            for ctx in ["beneficiary", "insurance", "public_authority"] {
                prop_assert_eq!(sum(&all, ctx), sum(&fresh, ctx));
            }
            // The care entry and its two negated links: beneficiary = -insurance = -authority.
            let care_sum = |ctx: &str| -> Decimal {
                all.iter().filter(|l| l.rule_code == "CARE" && l.context == ctx)
                    .map(|l| l.amount.amount()).sum()
            };
            prop_assert_eq!(care_sum("beneficiary"), -care_sum("insurance"));
            prop_assert_eq!(care_sum("beneficiary"), -care_sum("public_authority"));
            // Deterministic.
            let again = bill_beneficiary(oct().next(), &rules, &records, &first.lines, &prices);
            prop_assert_eq!(again, second);
        }

        /// Asking once per price period splits a window exactly as asking every day does.
        #[test]
        fn runs_split_as_day_by_day_segments(cuts in proptest::collection::vec(0u64..60, 0..6), hint_short in any::<bool>()) {
            let start = d("2026-10-01");
            let mut changes: Vec<NaiveDate> = cuts.iter().map(|c| crate::rules::plus_days(start, *c)).collect();
            changes.sort();
            changes.dedup();
            // The value on a day: how many change points have passed (pairs alternate back).
            let value = |day: NaiveDate| changes.iter().filter(|c| **c <= day).count() % 3;
            let window = DateSpan { from: d("2026-10-05"), to: d("2026-11-20") };
            let by_runs = runs(window, |day| {
                let next = changes.iter().find(|c| **c > day).and_then(|c| c.pred_opt());
                let holds = if hint_short { day } else { next.unwrap_or(NaiveDate::MAX) };
                (value(day), holds)
            });
            prop_assert_eq!(by_runs, crate::rules::segments(window, value));
        }

        /// A link that copies and one that negates net the entry to zero across contexts.
        #[test]
        fn a_copy_and_a_negation_net_to_zero(days in 1u32..31, price in 1u32..100_000) {
            let rule = RuleDefinition {
                quantity_method: QuantityMethod::Days,
                linked_rules: vec![LinkedRule {
                    context: "insurance".to_owned(),
                    operation: LinkOperation::Negate,
                }],
                ..rule("NET", InvoicingSource::Stay, "ROOM")
            };
            let leave = crate::rules::plus_days(d("2026-10-01"), u64::from(days - 1));
            let records = vec![record("stay", CareRecordDetails::Stay {
                beneficiary_kind: "LTC".to_owned(), object_type: None, room: None,
                entry_date: d("2026-10-01"), leaving_date: Some(leave),
            })];
            let unit = Money::new(Decimal::new(i64::from(price), 2), Currency::parse("CHF").expect("CHF")).expect("money");
            let run = bill_beneficiary(oct(), &in_force(vec![rule]), &records, &[], &|_: &PriceQuery<'_>| Some(PriceFound { unit_price: unit, source: "".into(), holds_until: Some(NaiveDate::MAX) }));
            prop_assert_eq!(run.lines.len(), 2);
            let net: Decimal = run.lines.iter().map(|l| l.amount.amount()).sum();
            prop_assert_eq!(net, Decimal::ZERO);
        }
    }
}
