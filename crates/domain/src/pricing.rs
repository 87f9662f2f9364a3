//! Pricing a settlement's lines: an episode's consumptions priced from the price list (or a
//! biller's price, or a package), changed by the business conditions in force, and split between
//! payers and the patient by their coverage terms. Pure: everything [`compute`] needs is passed
//! in (the settlement service loads it and stores the result); no I/O, deterministic.
//!
//! A line that cannot be priced or split is kept, flagged with a [`LineIssue`].

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::conditions::{
    Adjustment, Calendar, CompiledSet, FactInputs, LineFacts, age_on, apply as apply_conditions,
};
use crate::events::{ConsumptionRecordedV1, CoverageRef, EpisodeRef, PartyRef};
use crate::money::{Currency, Money};
use crate::settlement::{
    Coordination, CoverageTerms, Line, OfferBook, OfferUse, Part, PriceEntry, Reason, YearToDate,
    select_price, split_episode_with,
};

/// A problem on a line that blocks approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineIssue {
    /// `no_price`, `no_coverage_terms`, `currency_mismatch` or `split_failed`.
    pub code: String,
    /// What to do about it.
    pub message: String,
}

/// One party's share of a line, with its reason.
#[derive(Debug, Clone, PartialEq)]
pub struct LineShare {
    /// Who pays it.
    pub party: PartyRef,
    /// How much.
    pub amount: Money,
    /// The copay this payer left to those after it (for the patient: the part of the share
    /// that is copay).
    pub copay: Money,
    /// The yearly deductible this payer left to those after it (for the patient: the part of
    /// the share that is deductible); absent when none.
    pub deductible: Option<Money>,
    /// Why.
    pub reason: Reason,
    /// The coverage terms applied (payers only).
    pub terms_id: Option<String>,
    /// What the share is made of (they add up to it); see [`crate::settlement::Share::parts`].
    pub parts: Vec<Part>,
    /// The coordination method used (payer shares after the first).
    pub method: Option<Coordination>,
}

/// A priced line of a settlement version (what [`compute`] gives; the service stores it and
/// shows it in forms of its own).
#[derive(Debug, Clone, PartialEq)]
pub struct PricedLine {
    /// The consumption it prices.
    pub consumption_id: String,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit.
    pub unit: String,
    /// When it was performed.
    pub performed_at: DateTime<Utc>,
    /// Performing practitioner.
    pub performed_by: Option<String>,
    /// The kind of service (the catalog item's); none for lines of billing runs.
    pub kind: Option<crate::accounts::ServiceKind>,
    /// Price of one unit; absent when no price applies.
    pub unit_price: Option<Money>,
    /// Unit price × quantity, rounded to the currency; absent when unpriced.
    pub amount: Option<Money>,
    /// `price_list` (see `price_id`), `manual` (a biller's price), `package` (included in a
    /// package billed here: zero), `condition` (a line a condition added) or `none`.
    pub price_source: String,
    /// The price-list entry applied.
    pub price_id: Option<String>,
    /// A biller excluded the line from billing.
    pub excluded: bool,
    /// Why a biller changed the line.
    pub override_reason: Option<String>,
    /// Each party's share; they add up to `amount`.
    pub shares: Vec<LineShare>,
    /// Problems that block approval.
    pub issues: Vec<LineIssue>,
    /// Business conditions that matched the line, in the order they applied.
    pub conditions: Vec<String>,
    /// How the conditions changed the amount, step by step (from the list price's amount).
    pub adjustments: Vec<Adjustment>,
    /// A line a condition added: the consumption it follows.
    pub extra_of: Option<String>,
    /// The condition that sent the line to one party (a payer, or the patient alone).
    pub party_by_condition: Option<String>,
    /// The package (code) billed in this settlement that includes this line: it is priced at
    /// zero here, the package's own line carries the price.
    pub package: Option<String>,
    /// A periodic settlement's line: the billing run's line it bills (rule, context, care
    /// record, window, correction, explanation).
    pub run_line: Option<crate::billing::RunLine>,
    /// Units of a prepaid bundle (promotional offer) this line used: they are priced at zero,
    /// the rest of the quantity as usual.
    pub offer: Option<OfferUse>,
    /// What an electronic claim needs of the line, from its consumption.
    pub claim: Option<crate::events::LineClaimFacts>,
}

/// What a line is computed from.
#[derive(Debug, Clone)]
pub struct Input {
    /// The consumption as accounts recorded it.
    pub consumption: ConsumptionRecordedV1,
    /// A biller's unit price.
    pub manual_price: Option<Money>,
    /// A biller excluded it.
    pub excluded: bool,
    /// Why the biller changed it.
    pub override_reason: Option<String>,
}

/// What the patient's other settlements already used of what spans episodes: yearly deductibles
/// and caps, prepaid bundles.
#[derive(Debug, Clone, Default)]
pub struct Allowances {
    /// Of each payer's yearly deductible and cap.
    pub year: YearToDate,
    /// The patient's bundles, with the units used elsewhere.
    pub offers: OfferBook,
}

/// Price-list entries with their ids.
pub type Prices = Vec<(String, PriceEntry)>;

/// Coverage terms by (payer code, plan code or ""), with their ids.
pub type TermsBook = HashMap<(String, String), (String, CoverageTerms)>;

/// A line issue with its code and what to do about it.
pub fn issue(code: &str, message: impl Into<String>) -> LineIssue {
    LineIssue {
        code: code.to_owned(),
        message: message.into(),
    }
}

/// The service day of a consumption in its location's time zone.
pub fn service_day(episode: &EpisodeRef, at: DateTime<Utc>) -> NaiveDate {
    match crate::accounts::parse_time_zone(&episode.location.time_zone) {
        Ok(tz) => at.with_timezone(&tz).date_naive(),
        Err(_) => at.date_naive(),
    }
}

fn covers(c: &CoverageRef, day: NaiveDate) -> bool {
    c.valid_from.is_none_or(|f| f <= day) && c.valid_to.is_none_or(|t| day <= t)
}

/// The facts business conditions see about a consumption.
fn facts(
    episode: &EpisodeRef,
    c: &ConsumptionRecordedV1,
    payer: Option<&CoverageRef>,
    unit_price: Option<Money>,
    calendar: Option<&Calendar>,
) -> LineFacts {
    let local = match crate::accounts::parse_time_zone(&episode.location.time_zone) {
        Ok(tz) => c.performed_at.with_timezone(&tz).naive_local(),
        Err(_) => c.performed_at.naive_utc(),
    };
    LineFacts::of(FactInputs {
        code: &c.item.code,
        service_group: &c.item.service_group,
        kind: c.item.kind.as_str(),
        quantity: c.quantity,
        unit: &c.unit,
        unit_price,
        attributes: c.attributes.clone(),
        local_time: local,
        calendar,
        age: age_on(episode.patient.birth_date, local.date()),
        beneficiary_kind: &episode.patient.beneficiary_kind,
        flags: &episode.patient.flags,
        sex: episode.patient.sex.as_deref().unwrap_or_default(),
        attending: c.attending_practitioner.as_deref(),
        performing: c.performed_by.as_deref(),
        ordering: c.ordering_practitioner.as_deref(),
        payer_code: payer.map(|p| p.payer_code.as_str()),
        plan_code: payer.and_then(|p| p.plan_code.as_deref()),
        location_code: &episode.location.code,
        episode_kind: episode.kind.as_str(),
    })
}

/// Prices and splits the lines of a settlement, applying the business conditions in force.
/// Pure: everything it needs is passed in.
pub fn compute(
    episode: &EpisodeRef,
    coverages: &[CoverageRef],
    inputs: &[Input],
    prices: &Prices,
    terms: &TermsBook,
    conditions: Option<&CompiledSet>,
    allowances: Allowances,
) -> Vec<PricedLine> {
    let Allowances {
        year: mut before,
        mut offers,
    } = allowances;
    let entries: Vec<PriceEntry> = prices.iter().map(|(_, e)| e.clone()).collect();
    let mut ordered: Vec<&Input> = inputs.iter().collect();
    ordered.sort_by(|a, b| {
        (a.consumption.performed_at, a.consumption.consumption_id)
            .cmp(&(b.consumption.performed_at, b.consumption.consumption_id))
    });
    // Packages billed here (not excluded): each component code → the package and its currency.
    let mut in_package: HashMap<String, (String, Currency)> = HashMap::new();
    for input in ordered.iter().filter(|i| !i.excluded) {
        let c = &input.consumption;
        let day = service_day(episode, c.performed_at);
        let primary = coverages
            .iter()
            .filter(|cv| covers(cv, day))
            .min_by_key(|cv| (cv.priority, cv.id))
            .map(|cv| cv.payer_code.as_str());
        if let Some(e) = select_price(&entries, &c.item.code, day, &episode.location.code, primary)
        {
            for component in &e.components {
                in_package
                    .entry(component.clone())
                    .or_insert_with(|| (c.item.code.clone(), e.unit_price.currency()));
            }
        }
    }
    let mut currency: Option<Currency> = None;
    let mut lines = Vec::with_capacity(ordered.len());
    // The coverages applying to each line, in priority order (indexes into `coverages`).
    let mut applying: Vec<Vec<usize>> = Vec::with_capacity(ordered.len());
    for input in &ordered {
        let c = &input.consumption;
        let day = service_day(episode, c.performed_at);
        let mut mine: Vec<usize> = (0..coverages.len())
            .filter(|i| covers(&coverages[*i], day))
            .collect();
        mine.sort_by_key(|i| (coverages[*i].priority, coverages[*i].id));
        // One share per payer: a second coverage with the same payer adds nothing.
        let mut payers_seen = Vec::new();
        mine.retain(|i| {
            let payer = coverages[*i].payer_id;
            let first = !payers_seen.contains(&payer);
            payers_seen.push(payer);
            first
        });
        let primary = mine.first().map(|i| coverages[*i].payer_code.as_str());
        let mut issues = Vec::new();
        let package = in_package
            .get(&c.item.code)
            .filter(|_| input.manual_price.is_none());
        let (unit_price, source, price_id) = match (&input.manual_price, package) {
            (Some(m), _) => (Some(*m), "manual", None),
            (None, Some((_, cur))) => (Some(Money::zero(*cur)), "package", None),
            (None, None) => {
                match select_price(&entries, &c.item.code, day, &episode.location.code, primary) {
                    Some(e) => {
                        let id = prices
                            .iter()
                            .find(|(_, p)| p == e)
                            .map(|(id, _)| id.clone());
                        (Some(e.unit_price), "price_list", id)
                    }
                    None => {
                        issues.push(issue(
                        "no_price",
                        format!(
                            "no price for {} on {day} at {}; add one to the price list and recompute, or set a manual price",
                            c.item.code, episode.location.code
                        ),
                    ));
                        (None, "none", None)
                    }
                }
            }
        };
        // Prepaid units (a bundle bought earlier) pay for as much of the line as they can.
        let mut offer = match (&input.manual_price, package, unit_price) {
            (None, None, Some(_)) if !input.excluded && offers.covers(&c.item.code) => {
                offers.take(&c.item.code, day, c.quantity)
            }
            _ => None,
        };
        let billable = c.quantity - offer.as_ref().map_or(Decimal::ZERO, |o| o.units);
        let mut amount = unit_price.map(|p| Money::round(p.amount() * billable, p.currency()));
        let mut unit_price = unit_price;
        let mut excluded = input.excluded;
        let mut override_reason = input.override_reason.clone();
        let mut applied = Vec::new();
        let mut adjustments = Vec::new();
        let mut extras = Vec::new();
        let mut party_by_condition = None;
        // A biller's manual price is final: conditions apply to list-priced lines.
        if let Some(set) = conditions.filter(|_| input.manual_price.is_none()) {
            let payer = mine.first().map(|i| &coverages[*i]);
            let f = facts(
                episode,
                c,
                payer,
                unit_price,
                set.calendar(&episode.location.code),
            );
            match set.matching(&f, day) {
                Err(e) => issues.push(issue(
                    "condition_failed",
                    format!("{e}; fix the condition (guard optional attributes with has()) or set a manual price"),
                )),
                Ok(matching) => {
                    let out = apply_conditions(&matching, billable, unit_price);
                    applied = matching.iter().map(|m| m.code.clone()).collect();
                    unit_price = out.unit_price;
                    amount = out.amount;
                    adjustments = out.adjustments;
                    extras = out.extra_lines;
                    if let Some(by) = out.excluded_by {
                        excluded = true;
                        override_reason = Some(format!("excluded by business condition {by}"));
                    }
                    if let Some((by, payer)) = out.payer {
                        match payer {
                            None => mine.clear(),
                            Some(code) => {
                                mine.retain(|i| coverages[*i].payer_code == code);
                                if mine.is_empty() {
                                    issues.push(issue(
                                        "payer_not_covering",
                                        format!("business condition {by} bills {code}, which does not cover the patient on {day}"),
                                    ));
                                }
                            }
                        }
                        party_by_condition = Some(by);
                    }
                }
            }
        }
        // A line a condition leaves out of billing uses no prepaid units.
        if excluded && let Some(used) = offer.take() {
            offers.give_back(&used);
        }
        if let Some(a) = &amount {
            match currency {
                None if !excluded => currency = Some(a.currency()),
                Some(cur) if cur != a.currency() && !excluded => issues.push(issue(
                    "currency_mismatch",
                    format!("priced in {} but the settlement is in {cur}", a.currency()),
                )),
                _ => {}
            }
        }
        for i in &mine {
            let cov = &coverages[*i];
            let authorized = c
                .attributes
                .get("authorization_number")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|a| !a.trim().is_empty());
            if let Some((_, t)) = terms_for(terms, cov)
                && t.preauthorization_groups.contains(&c.item.service_group)
                && !authorized
                && !excluded
            {
                issues.push(issue(
                    "authorization_missing",
                    format!(
                        "{} pays {} only with a pre-authorization: send the consumption's authorization_number attribute (or exclude the line)",
                        cov.payer_code, c.item.service_group
                    ),
                ));
            }
            if terms_for(terms, cov).is_none() {
                issues.push(issue(
                    "no_coverage_terms",
                    format!(
                        "no coverage terms for payer {}{}; create them and recompute",
                        cov.payer_code,
                        cov.plan_code
                            .as_deref()
                            .map(|p| format!(" (plan {p})"))
                            .unwrap_or_default()
                    ),
                ));
            }
        }
        lines.push(PricedLine {
            consumption_id: c.consumption_id.to_string(),
            code: c.item.code.clone(),
            description: c.item.description.clone(),
            service_group: c.item.service_group.clone(),
            quantity: c.quantity,
            unit: c.unit.clone(),
            performed_at: c.performed_at,
            performed_by: c.performed_by.clone(),
            kind: Some(c.item.kind),
            unit_price,
            amount,
            price_source: source.to_owned(),
            price_id,
            excluded,
            override_reason,
            shares: Vec::new(),
            issues,
            conditions: applied,
            adjustments,
            extra_of: None,
            party_by_condition,
            package: package.map(|(p, _)| p.clone()),
            run_line: None,
            offer,
            claim: crate::events::LineClaimFacts::of(c),
        });
        applying.push(mine.clone());
        for (by, code, description, quantity, price) in extras {
            let id = uuid::Uuid::new_v5(&c.consumption_id.0, by.as_bytes());
            lines.push(PricedLine {
                consumption_id: id.to_string(),
                code,
                description,
                service_group: c.item.service_group.clone(),
                quantity,
                unit: "unit".to_owned(),
                performed_at: c.performed_at,
                performed_by: c.performed_by.clone(),
                kind: Some(c.item.kind),
                unit_price: Some(price),
                amount: Some(Money::round(price.amount() * quantity, price.currency())),
                price_source: "condition".to_owned(),
                price_id: None,
                excluded,
                override_reason: None,
                shares: Vec::new(),
                issues: Vec::new(),
                conditions: vec![by],
                adjustments: Vec::new(),
                extra_of: Some(c.consumption_id.to_string()),
                party_by_condition: None,
                package: None,
                run_line: None,
                offer: None,
                claim: crate::events::LineClaimFacts::of(c),
            });
            applying.push(mine.clone());
        }
    }
    // Split the billable lines, grouped by the coverages that apply to them.
    let mut groups: BTreeMap<Vec<usize>, Vec<usize>> = BTreeMap::new();
    for (n, line) in lines.iter().enumerate() {
        if line.excluded || !line.issues.is_empty() || line.amount.is_none() {
            continue;
        }
        groups.entry(applying[n].clone()).or_default().push(n);
    }
    for (covs, members) in groups {
        let book: Vec<(&CoverageRef, &(String, CoverageTerms))> = covs
            .iter()
            .filter_map(|i| terms_for(terms, &coverages[*i]).map(|t| (&coverages[*i], t)))
            .collect();
        let split_terms: Vec<CoverageTerms> = book.iter().map(|(_, (_, t))| t.clone()).collect();
        let split_lines: Vec<Line> = members
            .iter()
            .filter_map(|n| {
                lines[*n].amount.map(|amount| Line {
                    amount,
                    service_group: lines[*n].service_group.clone(),
                    year: service_day(episode, lines[*n].performed_at).year(),
                })
            })
            .collect();
        // One running count across the groups: a payer's yearly deductible and cap are the
        // patient's, whichever coverages a line has.
        match split_episode_with(&split_lines, &split_terms, &mut before) {
            Ok(split) => {
                for (n, shares) in members.iter().zip(split) {
                    let patient = PartyRef::patient(episode.patient.id);
                    lines[*n].shares = shares
                        .into_iter()
                        .enumerate()
                        .map(|(k, s)| LineShare {
                            party: book
                                .get(k)
                                .filter(|_| s.payer.is_some())
                                .map_or_else(|| patient.clone(), |(c, _)| PartyRef::payer(c)),
                            terms_id: book
                                .get(k)
                                .filter(|_| s.payer.is_some())
                                .map(|(_, (id, _))| id.clone()),
                            amount: s.amount,
                            copay: s.copay,
                            deductible: (!s.deductible.amount().is_zero()).then_some(s.deductible),
                            reason: s.reason,
                            parts: s.parts,
                            method: s.method,
                        })
                        .collect();
                }
            }
            Err(e) => {
                for n in &members {
                    lines[*n]
                        .issues
                        .push(issue("split_failed", format!("cannot split: {e}")));
                }
            }
        }
    }
    lines
}

fn terms_for<'a>(book: &'a TermsBook, c: &CoverageRef) -> Option<&'a (String, CoverageTerms)> {
    let plan = c.plan_code.clone().unwrap_or_default();
    book.get(&(c.payer_code.clone(), plan))
        .or_else(|| book.get(&(c.payer_code.clone(), String::new())))
}
