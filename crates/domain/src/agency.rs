//! Care agencies (seed 004): freelance carers placed with clients, the hours they register, the
//! client's approval line by line, and the terms invoices on the carers' behalf are made from.
//!
//! A placement joins a carer and a client for a span of dates with hourly tariffs per service
//! type, a commission the agency charges the carer and optionally a mediation fee it charges the
//! client. Hours fall into the placement's timesheet of their week or month; the carer submits
//! it, the client approves or disputes each line, and a disputed line goes back to the carer.
//! Everything here is pure: the rules the accounts service applies before it writes.

use chrono::{Datelike as _, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::accounts::text_enum;
use crate::money::Money;

/// Minutes in a day: no carer works more on one date.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// At most this many lines in one batch of hours or one review.
pub const MAX_HOURS_PER_REQUEST: usize = 500;

text_enum!(
    /// The span a placement's timesheets cover.
    TimesheetPeriod {
        /// ISO weeks, Monday to Sunday.
        Week = "week",
        /// Calendar months.
        Month = "month",
    }
);

impl TimesheetPeriod {
    /// The first and last day of the period `date` falls in.
    pub fn span(self, date: NaiveDate) -> (NaiveDate, NaiveDate) {
        match self {
            TimesheetPeriod::Week => {
                // Checked: at the ends of the calendar the period is cut, never a panic.
                let back = chrono::Days::new(u64::from(date.weekday().num_days_from_monday()));
                let start = date.checked_sub_days(back).unwrap_or(date);
                (
                    start,
                    start.checked_add_days(chrono::Days::new(6)).unwrap_or(date),
                )
            }
            TimesheetPeriod::Month => {
                let start = date.with_day(1).unwrap_or(date);
                let next = if start.month() == 12 {
                    NaiveDate::from_ymd_opt(start.year() + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(start.year(), start.month() + 1, 1)
                };
                // The month of the calendar's last day ends there.
                (
                    start,
                    next.and_then(|n| n.pred_opt()).unwrap_or(NaiveDate::MAX),
                )
            }
        }
    }
}

impl TimesheetPeriod {
    /// The latest period whose deadline (`deadline_days` after its last day) has passed on
    /// `today`: the one a carer who submitted nothing for it is reminded of.
    pub fn due(self, today: NaiveDate, deadline_days: u32) -> (NaiveDate, NaiveDate) {
        let days = chrono::Days::new(u64::from(deadline_days));
        let day = chrono::Days::new(1);
        let probe = today
            .checked_sub_days(days)
            .and_then(|d| d.checked_sub_days(day))
            .unwrap_or(today);
        let (start, end) = self.span(probe);
        if end.checked_add_days(days).is_some_and(|d| d < today) {
            (start, end)
        } else {
            self.span(start.checked_sub_days(day).unwrap_or(start))
        }
    }
}

text_enum!(
    /// What an agency notice is.
    AgencyNoticeKind {
        /// To the client: hours wait for approval, with the approval link.
        ApprovalRequest = "approval_request",
        /// To the client: hours still wait for approval, with a fresh link.
        ApprovalReminder = "approval_reminder",
        /// To the carer: no hours submitted for a period whose deadline passed.
        HoursMissing = "hours_missing",
    }
);

text_enum!(
    /// Where an agency notice stands.
    AgencyNoticeStatus {
        /// Waiting to be sent (again, after a temporary failure, from `not_before`).
        Queued = "queued",
        /// Taken by a sender.
        Sending = "sending",
        /// Accepted by the mail server.
        Sent = "sent",
        /// Refused for good, or too many attempts.
        Failed = "failed",
    }
);

text_enum!(
    /// Where one line of hours stands.
    HoursStatus {
        /// Registered; the carer may still change or remove it.
        Draft = "draft",
        /// Submitted: waits for the client's decision and cannot change.
        Submitted = "submitted",
        /// Approved by the client: it will be invoiced and never changes again.
        Approved = "approved",
        /// Disputed by the client with a reason: back with the carer to change or remove.
        Disputed = "disputed",
    }
);

impl HoursStatus {
    /// Whether the carer may still change or remove the line.
    pub fn editable(self) -> bool {
        matches!(self, HoursStatus::Draft | HoursStatus::Disputed)
    }
}

text_enum!(
    /// Where a timesheet stands, from the states of its lines.
    TimesheetStatus {
        /// Lines being registered (or disputed lines back with the carer); nothing waits for
        /// the client.
        Open = "open",
        /// Lines wait for the client's decision.
        AwaitingApproval = "awaiting_approval",
        /// Every line approved.
        Approved = "approved",
    }
);

/// How many lines of a timesheet are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HoursCounts {
    /// Draft lines.
    pub draft: i64,
    /// Lines waiting for the client.
    pub submitted: i64,
    /// Approved lines.
    pub approved: i64,
    /// Disputed lines.
    pub disputed: i64,
}

impl HoursCounts {
    /// The timesheet's status: waiting while any line waits, approved when every line is,
    /// open otherwise (also when it has no lines).
    pub fn status(&self) -> TimesheetStatus {
        if self.submitted > 0 {
            TimesheetStatus::AwaitingApproval
        } else if self.approved > 0 && self.draft == 0 && self.disputed == 0 {
            TimesheetStatus::Approved
        } else {
            TimesheetStatus::Open
        }
    }
}

/// What the agency charges: a percentage of the hours' value, or an amount per hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Fee {
    /// Percent of the hours' value (0 to 100).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "12.5"))]
    Percent(Decimal),
    /// An amount per hour worked.
    PerHour(Money),
}

impl Fee {
    /// Why the fee cannot be charged on hours at these rates: a percentage outside 0–100, an
    /// amount per hour in another currency, negative, or above the lowest hourly rate (it would
    /// exceed the hours' value).
    pub fn check(&self, rates: &[Money]) -> Result<(), String> {
        match self {
            Fee::Percent(p) if *p < Decimal::ZERO || *p > Decimal::ONE_HUNDRED => {
                Err("a percentage must be between 0 and 100".to_owned())
            }
            Fee::Percent(_) => Ok(()),
            Fee::PerHour(m) => {
                if m.amount() < Decimal::ZERO {
                    return Err("an amount per hour cannot be negative".to_owned());
                }
                if let Some(r) = rates.iter().find(|r| r.currency() != m.currency()) {
                    return Err(format!(
                        "an amount per hour in {} on tariffs in {}",
                        m.currency(),
                        r.currency()
                    ));
                }
                match rates.iter().min_by_key(|r| r.amount()) {
                    Some(low) if m.amount() > low.amount() => Err(format!(
                        "{} per hour is above the hours' value (the lowest tariff is {})",
                        m.amount_string(),
                        low.amount_string()
                    )),
                    _ => Ok(()),
                }
            }
        }
    }
}

impl Fee {
    /// The fee on hours worth `amount`: the percentage of it, or the rate per hour times
    /// `hours`; rounded to the currency's minor unit.
    pub fn on(&self, amount: Money, hours: Decimal) -> Money {
        match self {
            Fee::Percent(p) => Money::round(
                amount.amount() * *p / Decimal::ONE_HUNDRED,
                amount.currency(),
            ),
            Fee::PerHour(rate) => Money::round(rate.amount() * hours, rate.currency()),
        }
    }
}

/// A carer's VAT status: invoices on their behalf charge VAT only when they are liable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum VatStatus {
    /// Exempt (care by a health professional, a small-business scheme): VAT category E.
    Exempt {
        /// The VATEX exemption reason code (BT-121), e.g. `VATEX-EU-132-1C`.
        #[cfg_attr(feature = "openapi", schema(example = "VATEX-EU-132-1C"))]
        reason_code: Option<String>,
        /// The exemption as invoices state it (BT-120).
        #[cfg_attr(
            feature = "openapi",
            schema(example = "Vrijgesteld van btw (art. 11 lid 1 onder g Wet OB)")
        )]
        reason: Option<String>,
    },
    /// Liable at a standard rate: VAT category S.
    Standard {
        /// The rate in percent.
        #[cfg_attr(feature = "openapi", schema(value_type = String, example = "21"))]
        rate: Decimal,
    },
}

impl VatStatus {
    /// Why the status cannot be used: a rate outside 0–100.
    pub fn check(&self) -> Result<(), String> {
        match self {
            VatStatus::Standard { rate }
                if *rate <= Decimal::ZERO || *rate >= Decimal::ONE_HUNDRED =>
            {
                Err("a standard rate must be above 0 and below 100 percent".to_owned())
            }
            _ => Ok(()),
        }
    }
}

/// A self-billing agreement: the carer's consent, for its dates, to invoices issued by the
/// agency on the carer's behalf (the legal basis of a self-billed invoice).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SelfBillingAgreement {
    /// The agreement's reference, as invoices cite it.
    #[cfg_attr(feature = "openapi", schema(example = "SBA-2026-017"))]
    pub reference: String,
    /// First day it holds.
    pub valid_from: NaiveDate,
    /// Last day it holds; open when absent.
    pub valid_to: Option<NaiveDate>,
}

impl SelfBillingAgreement {
    /// Whether it holds on `date`.
    pub fn holds_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date <= to)
    }
}

/// The agreement that holds on `date`, if any.
pub fn agreement_on(
    agreements: &[SelfBillingAgreement],
    date: NaiveDate,
) -> Option<&SelfBillingAgreement> {
    agreements.iter().find(|a| a.holds_on(date))
}

/// Why a list of agreements cannot stand, per index: an end before the start, a blank or
/// repeated reference, or dates that overlap another agreement's (one basis per day).
pub fn check_agreements(agreements: &[SelfBillingAgreement]) -> Vec<(usize, String)> {
    let mut errors = Vec::new();
    for (i, a) in agreements.iter().enumerate() {
        if a.valid_to.is_some_and(|to| to < a.valid_from) {
            errors.push((i, "ends before it starts".to_owned()));
            continue;
        }
        for (j, b) in agreements.iter().enumerate().take(i) {
            if a.reference.trim() == b.reference.trim() {
                errors.push((i, format!("repeats the reference of agreement {j}")));
            } else if b.valid_to.is_none_or(|to| a.valid_from <= to)
                && a.valid_to.is_none_or(|to| b.valid_from <= to)
            {
                errors.push((i, format!("overlaps the dates of agreement {j}")));
            }
        }
    }
    errors
}

/// A span of a day in minutes from midnight, end after start (`24:00` ends the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shift {
    /// Start, minutes from midnight.
    pub start: u16,
    /// End, minutes from midnight (at most 1440).
    pub end: u16,
}

impl Shift {
    /// From `HH:MM` texts; the end must come after the start on the same date (a night shift
    /// is two lines: to `24:00`, and from `00:00` the next day).
    pub fn parse(start: &str, end: &str) -> Result<Shift, String> {
        let start = clock(start, false)?;
        let end = clock(end, true)?;
        if end <= start {
            return Err(
                "the end must come after the start on the same date (split a night shift at 24:00)"
                    .to_owned(),
            );
        }
        Ok(Shift { start, end })
    }

    /// Its length in minutes.
    pub fn minutes(&self) -> u16 {
        self.end - self.start
    }

    /// Whether it shares any minute with `other`.
    pub fn overlaps(&self, other: &Shift) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// `HH:MM` of a minute of the day.
    pub fn text(minute: u16) -> String {
        format!("{:02}:{:02}", minute / 60, minute % 60)
    }
}

impl Shift {
    /// The shift cut at each boundary inside it (minutes from midnight, e.g. the agency's
    /// opening and closing times), so that each part is priced by the time it falls in.
    pub fn split(self, boundaries: &[u16]) -> Vec<Shift> {
        let mut cuts: Vec<u16> = boundaries
            .iter()
            .copied()
            .filter(|b| *b > self.start && *b < self.end)
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut parts = Vec::with_capacity(cuts.len() + 1);
        let mut from = self.start;
        for cut in cuts {
            parts.push(Shift {
                start: from,
                end: cut,
            });
            from = cut;
        }
        parts.push(Shift {
            start: from,
            end: self.end,
        });
        parts
    }
}

/// Minutes from midnight of an `HH:MM` time; `24:00` only as an end.
fn clock(s: &str, end: bool) -> Result<u16, String> {
    let bad = || format!("`{s}` is not a time of day as HH:MM");
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let h: u16 = h.parse().map_err(|_| bad())?;
    let m: u16 = m.parse().map_err(|_| bad())?;
    match (h, m) {
        (24, 0) if end => Ok(MINUTES_PER_DAY),
        (0..=23, 0..=59) => Ok(h * 60 + m),
        _ => Err(bad()),
    }
}

/// Hours as a decimal from minutes (90 → 1.5), exact to the minute's fraction.
pub fn hours_of(minutes: i64) -> Decimal {
    (Decimal::from(minutes) / Decimal::from(60)).normalize()
}

pub use pricing::{ExtraCharge, PricedApproval, PricedHours, price};

/// Pricing an approval: each approved line at its placement's tariff, cut where the agency
/// calendar's rates change, adjusted by the business conditions in force, with the agency's
/// commission and mediation fee on what the hours are worth.
mod pricing {
    use chrono::NaiveTime;
    use rust_decimal::Decimal;
    use serde::{Deserialize, Serialize};

    use super::{Shift, hours_of};
    use crate::conditions::{Adjustment, CompiledSet, FactInputs, LineFacts, age_on, apply};
    use crate::events::TimesheetApprovedV1;
    use crate::ids::HoursId;
    use crate::money::{Money, MoneyError};

    /// One priced part of an approved line.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct PricedHours {
        /// The approved line.
        pub hours_id: HoursId,
        /// The date worked.
        pub date: chrono::NaiveDate,
        /// Start of this part (`HH:MM`), when the line was registered from–to.
        pub start: Option<String>,
        /// End of this part.
        pub end: Option<String>,
        /// Hours of this part.
        pub hours: Decimal,
        /// The service type.
        pub service_type: String,
        /// Its catalog text.
        pub description: String,
        /// The price of an hour after the conditions (the tariff without them).
        pub unit_price: Money,
        /// What the part is worth.
        pub amount: Money,
        /// The conditions' steps from the tariff to the amount.
        pub adjustments: Vec<Adjustment>,
        /// The agency's commission on it (charged to the carer).
        pub commission: Money,
        /// The agency's mediation fee on it (charged to the client), if the placement has one.
        pub mediation_fee: Option<Money>,
    }

    /// A line a condition adds (an evening fee), billed with the hours.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct ExtraCharge {
        /// The line it follows.
        pub hours_id: HoursId,
        /// The condition that adds it.
        pub condition: String,
        /// Its code.
        pub code: String,
        /// Its text.
        pub description: String,
        /// Its quantity.
        pub quantity: Decimal,
        /// Its unit price.
        pub unit_price: Money,
        /// Quantity × unit price.
        pub amount: Money,
    }

    /// An approval priced.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
    pub struct PricedApproval {
        /// The parts of the approved lines, in their order.
        pub lines: Vec<PricedHours>,
        /// Lines conditions added.
        pub extras: Vec<ExtraCharge>,
        /// What the hours and extras are worth: the self-billed invoice's net total.
        pub total: Money,
        /// The commission on the hours: the commission invoice's net total.
        pub commission: Money,
        /// The mediation fee on the hours, if the placement has one.
        pub mediation_fee: Option<Money>,
    }

    fn add(a: Money, b: Money) -> Result<Money, String> {
        a.checked_add(&b).map_err(|e: MoneyError| e.to_string())
    }

    /// Prices an approval (pure). A line whose service type has no tariff in the terms, or a
    /// condition that cannot be evaluated, is an error naming it.
    pub fn price(
        e: &TimesheetApprovedV1,
        conditions: Option<&CompiledSet>,
    ) -> Result<PricedApproval, String> {
        let calendar = conditions.and_then(|c| c.calendar(&e.location.code));
        let opens = calendar
            .and_then(|c| c.opens)
            .unwrap_or(NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN));
        let closes = calendar
            .and_then(|c| c.closes)
            .unwrap_or(NaiveTime::from_hms_opt(20, 0, 0).unwrap_or(NaiveTime::MIN));
        let minute = |t: NaiveTime| {
            u16::try_from(chrono::Timelike::num_seconds_from_midnight(&t) / 60).unwrap_or(0)
        };
        let boundaries = [minute(opens), minute(closes)];
        let zero = Money::zero(e.currency);
        let mut out = PricedApproval {
            lines: Vec::new(),
            extras: Vec::new(),
            total: zero,
            commission: zero,
            mediation_fee: e.terms.mediation_fee.as_ref().map(|_| zero),
        };
        let flags: Vec<String> = e
            .patient
            .as_ref()
            .map(|p| p.flags.clone())
            .unwrap_or_default();
        for line in &e.lines {
            let tariff = e
                .terms
                .tariffs
                .iter()
                .find(|t| t.service_type == line.service_type)
                .ok_or_else(|| {
                    format!(
                        "no tariff for {} in placement {}",
                        line.service_type, e.terms.reference
                    )
                })?;
            let shift = match (&line.start, &line.end) {
                (Some(s), Some(t)) => Some(Shift::parse(s, t)?),
                _ => None,
            };
            // A line of a duration alone counts as daytime (noon).
            let parts: Vec<(Option<Shift>, Decimal)> = match shift {
                Some(s) => s
                    .split(&boundaries)
                    .into_iter()
                    .map(|p| (Some(p), hours_of(i64::from(p.minutes()))))
                    .collect(),
                None => vec![(None, line.hours)],
            };
            for (part, hours) in parts {
                let start_minute = part.map_or(12 * 60, |p| p.start);
                let local = line.date.and_time(
                    NaiveTime::from_hms_opt(
                        u32::from(start_minute / 60),
                        u32::from(start_minute % 60),
                        0,
                    )
                    .unwrap_or(NaiveTime::MIN),
                );
                let patient = e.patient.as_ref();
                let facts = LineFacts::of(FactInputs {
                    code: &line.service_type,
                    service_group: &line.service_group,
                    kind: "other",
                    quantity: hours,
                    unit: "hour",
                    unit_price: Some(tariff.hourly_rate),
                    attributes: serde_json::json!({ "placement": e.terms.reference }),
                    local_time: local,
                    calendar,
                    age: age_on(patient.and_then(|p| p.birth_date), line.date),
                    beneficiary_kind: patient.map_or("", |p| p.beneficiary_kind.as_str()),
                    flags: &flags,
                    sex: patient.and_then(|p| p.sex.as_deref()).unwrap_or_default(),
                    attending: None,
                    performing: Some(&e.carer.code),
                    ordering: None,
                    payer_code: e.bill_to.payer_code.as_deref(),
                    plan_code: None,
                    location_code: &e.location.code,
                    episode_kind: "home_care",
                });
                let matching = match conditions {
                    Some(set) => set
                        .matching(&facts, line.date)
                        .map_err(|x| format!("condition {}: {}", x.code, x.message))?,
                    None => Vec::new(),
                };
                let outcome = apply(&matching, hours, Some(tariff.hourly_rate));
                let amount = outcome.amount.unwrap_or_else(|| {
                    Money::round(tariff.hourly_rate.amount() * hours, e.currency)
                }); // not stored: a priced line always has an amount
                let commission = e.terms.commission.on(amount, hours);
                let fee = e.terms.mediation_fee.as_ref().map(|f| f.on(amount, hours));
                out.total = add(out.total, amount)?;
                out.commission = add(out.commission, commission)?;
                if let (Some(sum), Some(f)) = (out.mediation_fee, fee) {
                    out.mediation_fee = Some(add(sum, f)?);
                }
                for (condition, code, description, quantity, unit_price) in outcome.extra_lines {
                    let extra = Money::round(unit_price.amount() * quantity, unit_price.currency());
                    out.total = add(out.total, extra)?;
                    out.extras.push(ExtraCharge {
                        hours_id: line.hours_id,
                        condition,
                        code,
                        description,
                        quantity,
                        unit_price,
                        amount: extra,
                    });
                }
                out.lines.push(PricedHours {
                    hours_id: line.hours_id,
                    date: line.date,
                    start: part.map(|p| Shift::text(p.start)),
                    end: part.map(|p| Shift::text(p.end)),
                    hours,
                    service_type: line.service_type.clone(),
                    description: line.description.clone(),
                    unit_price: outcome.unit_price.unwrap_or(tariff.hourly_rate), // not stored: the tariff when no condition overrides it
                    amount,
                    adjustments: outcome.adjustments,
                    commission,
                    mediation_fee: fee,
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;
    use crate::money::Currency;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn eur(s: &str) -> Money {
        Money::new(
            Decimal::from_str(s).unwrap(),
            Currency::parse("EUR").unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn periods_are_iso_weeks_and_calendar_months() {
        assert_eq!(
            TimesheetPeriod::Week.span(d("2026-12-06")),
            (d("2026-11-30"), d("2026-12-06"))
        );
        assert_eq!(
            TimesheetPeriod::Week.span(d("2026-11-30")),
            (d("2026-11-30"), d("2026-12-06"))
        );
        assert_eq!(
            TimesheetPeriod::Month.span(d("2026-12-31")),
            (d("2026-12-01"), d("2026-12-31"))
        );
        assert_eq!(
            TimesheetPeriod::Month.span(d("2028-02-10")),
            (d("2028-02-01"), d("2028-02-29"))
        );
    }

    #[test]
    fn the_due_period_is_the_last_whose_deadline_passed() {
        // Weekly, two days' grace: the week to Sunday 6 December is due from Wednesday 9th.
        let week = TimesheetPeriod::Week;
        assert_eq!(
            week.due(d("2026-12-09"), 2),
            (d("2026-11-30"), d("2026-12-06"))
        );
        assert_eq!(
            week.due(d("2026-12-08"), 2),
            (d("2026-11-23"), d("2026-11-29"))
        );
        assert_eq!(
            week.due(d("2026-12-07"), 0),
            (d("2026-11-30"), d("2026-12-06"))
        );
        let month = TimesheetPeriod::Month;
        assert_eq!(
            month.due(d("2026-12-06"), 5),
            (d("2026-11-01"), d("2026-11-30"))
        );
        assert_eq!(
            month.due(d("2026-12-05"), 5),
            (d("2026-10-01"), d("2026-10-31"))
        );
    }

    #[test]
    fn the_ends_of_the_calendar_cut_a_period_instead_of_panicking() {
        for p in [TimesheetPeriod::Week, TimesheetPeriod::Month] {
            for day in [NaiveDate::MIN, NaiveDate::MAX] {
                let (s, e) = p.span(day);
                assert!(s <= day && day <= e, "{p}: {day} in {s}..{e}");
            }
            let (s, e) = p.due(NaiveDate::MAX, 0);
            assert!(s <= e && e < NaiveDate::MAX, "{p}: due {s}..{e}");
            let (s, e) = p.due(NaiveDate::MIN, 31);
            assert!(s <= e, "{p}: due {s}..{e}");
        }
    }

    #[test]
    fn shifts_parse_overlap_and_end_at_midnight() {
        let a = Shift::parse("08:00", "12:30").unwrap();
        assert_eq!(a.minutes(), 270);
        let b = Shift::parse("12:30", "24:00").unwrap();
        assert!(!a.overlaps(&b), "touching shifts do not overlap");
        assert!(a.overlaps(&Shift::parse("12:00", "13:00").unwrap()));
        assert_eq!(b.minutes(), 690);
        assert!(Shift::parse("22:00", "06:00").is_err());
        assert!(Shift::parse("10:00", "10:00").is_err());
        assert!(Shift::parse("24:00", "24:00").is_err());
        assert!(Shift::parse("8:00", "09:00").is_err());
        assert!(Shift::parse("08:60", "09:00").is_err());
        assert_eq!(Shift::text(1440), "24:00");
        assert_eq!(hours_of(90), Decimal::from_str("1.5").unwrap());
        assert_eq!(hours_of(20), Decimal::ONE / Decimal::from(3));
    }

    #[test]
    fn a_shift_is_cut_where_the_rates_change_and_fees_round_to_the_cent() {
        let evening = Shift::parse("17:00", "23:30").unwrap();
        let parts = evening.split(&[8 * 60, 20 * 60]);
        assert_eq!(
            parts,
            vec![
                Shift {
                    start: 1020,
                    end: 1200
                },
                Shift {
                    start: 1200,
                    end: 1410
                }
            ]
        );
        assert_eq!(
            parts.iter().map(Shift::minutes).sum::<u16>(),
            evening.minutes()
        );
        assert_eq!(
            Shift::parse("09:00", "12:00")
                .unwrap()
                .split(&[480, 1200])
                .len(),
            1
        );
        assert_eq!(
            Shift::parse("08:00", "20:00")
                .unwrap()
                .split(&[480, 1200])
                .len(),
            1,
            "a cut at an end is no cut"
        );
        let amount = eur("146.25");
        assert_eq!(
            Fee::Percent(Decimal::from_str("12.5").unwrap())
                .on(amount, Decimal::from_str("4.5").unwrap()),
            eur("18.28")
        );
        assert_eq!(
            Fee::PerHour(eur("1.50")).on(amount, hours_of(20)),
            eur("0.50")
        );
    }

    #[test]
    fn a_fee_may_not_exceed_the_hours_value() {
        let rates = [eur("32.50"), eur("40.00")];
        assert!(Fee::PerHour(eur("32.50")).check(&rates).is_ok());
        assert!(
            Fee::PerHour(eur("32.51"))
                .check(&rates)
                .unwrap_err()
                .contains("above")
        );
        assert!(Fee::PerHour(eur("-1")).check(&rates).is_err());
        assert!(Fee::Percent(Decimal::from(101)).check(&rates).is_err());
        assert!(Fee::Percent(Decimal::from(15)).check(&rates).is_ok());
        let usd = Money::new(Decimal::ONE, Currency::parse("USD").unwrap()).unwrap();
        assert!(Fee::PerHour(usd).check(&rates).unwrap_err().contains("USD"));
    }

    #[test]
    fn agreements_may_not_overlap_and_one_holds_per_day() {
        let a = |r: &str, from: &str, to: Option<&str>| SelfBillingAgreement {
            reference: r.to_owned(),
            valid_from: d(from),
            valid_to: to.map(d),
        };
        let ok = [
            a("A", "2026-01-01", Some("2026-06-30")),
            a("B", "2026-07-01", None),
        ];
        assert!(check_agreements(&ok).is_empty());
        assert_eq!(agreement_on(&ok, d("2026-12-06")).unwrap().reference, "B");
        assert!(agreement_on(&ok, d("2025-12-31")).is_none());
        let bad = [
            a("A", "2026-01-01", None),
            a("B", "2026-07-01", None),
            a("A", "2027-01-01", Some("2026-01-01")),
        ];
        let errors = check_agreements(&bad);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].1.contains("overlaps"));
        assert!(errors[1].1.contains("ends before"));
    }

    #[test]
    fn a_timesheet_is_approved_only_when_every_line_is() {
        let c = |draft, submitted, approved, disputed| HoursCounts {
            draft,
            submitted,
            approved,
            disputed,
        };
        assert_eq!(c(0, 0, 0, 0).status(), TimesheetStatus::Open);
        assert_eq!(c(1, 2, 3, 0).status(), TimesheetStatus::AwaitingApproval);
        assert_eq!(c(0, 0, 3, 1).status(), TimesheetStatus::Open);
        assert_eq!(c(0, 0, 3, 0).status(), TimesheetStatus::Approved);
        assert!(
            VatStatus::Standard {
                rate: Decimal::from(21)
            }
            .check()
            .is_ok()
        );
        assert!(
            VatStatus::Standard {
                rate: Decimal::ZERO
            }
            .check()
            .is_err()
        );
    }
}
