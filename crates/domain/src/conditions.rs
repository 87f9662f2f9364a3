//! Business conditions (seed 000): per-line rules for the special cases of a health centre —
//! an after-hours surcharge, a discount for low-income patients, a fee line for emergencies, a
//! service billed privately — written as CEL expressions over the line's facts, with an action.
//!
//! A condition set is compiled once (per version) and validated when saved: an expression that
//! does not parse, names an unknown variable or does not give a boolean on a sample line is
//! refused with the condition and the position of the error. Evaluation is pure: the facts of a
//! line in, the matching conditions out, in priority order; [`apply`] turns their price actions
//! into the line's amount with every step explained.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Datelike as _, NaiveDate, NaiveDateTime, NaiveTime, Timelike as _};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::code::Code;
use crate::money::Money;
use crate::validation::Validation;

mod native;

/// What a condition does to the lines it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConditionAction {
    /// Adds a percentage of the amount, or a fixed amount.
    Surcharge {
        /// Percent of the amount so far.
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "25"))]
        percent: Option<Decimal>,
        /// A fixed amount per line.
        amount: Option<Money>,
    },
    /// Takes off a percentage of the amount, or a fixed amount (never below zero).
    Discount {
        /// Percent of the amount so far.
        #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "10"))]
        percent: Option<Decimal>,
        /// A fixed amount per line.
        amount: Option<Money>,
    },
    /// Replaces the unit price.
    PriceOverride {
        /// The price of one unit.
        unit_price: Money,
    },
    /// Adds a line of its own (e.g. an after-hours fee item), billed like the line it follows.
    ExtraLine {
        /// Its catalog code.
        #[cfg_attr(feature = "openapi", schema(example = "FEE-NIGHT"))]
        code: String,
        /// Its text.
        #[cfg_attr(feature = "openapi", schema(example = "After-hours fee"))]
        description: String,
        /// Its quantity.
        #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1"))]
        quantity: Decimal,
        /// Its unit price.
        unit_price: Money,
    },
    /// Bills the line to one party: a payer among the patient's coverages, or (no payer) the
    /// patient alone — private billing.
    ChangePayer {
        /// The payer's code; absent: the patient pays the line.
        #[cfg_attr(feature = "openapi", schema(example = "MUTUA"))]
        payer_code: Option<String>,
    },
    /// Leaves the line out of billing.
    Exclude,
}

/// One business condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConditionDefinition {
    /// Code, unique in the set.
    #[cfg_attr(feature = "openapi", schema(example = "NIGHT"))]
    pub code: String,
    /// What it is for.
    #[cfg_attr(feature = "openapi", schema(example = "After-hours surcharge"))]
    pub description: String,
    /// Lower runs first; among equals, by code.
    #[serde(default)]
    pub priority: i32,
    /// First day it applies (service day).
    pub active_from: NaiveDate,
    /// First day it no longer applies.
    #[serde(default)]
    pub inactive_from: Option<NaiveDate>,
    /// A CEL expression over the line's facts that gives true when the condition applies.
    #[cfg_attr(
        feature = "openapi",
        schema(example = "time.after_hours && line.service_group == 'EMERG'")
    )]
    pub when: String,
    /// What it does.
    pub action: ConditionAction,
}

/// A location's working calendar: what "after hours" and "holiday" mean there.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Calendar {
    /// Opening time (local); before it is after hours. Default 08:00.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "08:00:00"))]
    pub opens: Option<NaiveTime>,
    /// Closing time (local); from it on is after hours. Default 20:00.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, example = "20:00:00"))]
    pub closes: Option<NaiveTime>,
    /// Public holidays.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
}

/// A whole condition set: the conditions and the calendars of the locations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConditionSet {
    /// The conditions.
    #[serde(default)]
    pub conditions: Vec<ConditionDefinition>,
    /// Calendars by location code.
    #[serde(default)]
    pub calendars: BTreeMap<String, Calendar>,
}

/// What a condition may look at about one line. Strings are empty when unknown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineFacts {
    /// The line: `code`, `service_group`, `kind`, `quantity`, `unit`, `unit_price` (null when
    /// unpriced), `attributes` (what the clinical system sent).
    pub line: LineFact,
    /// When: `date`, `hour`, `minute`, `weekday` (1 Monday … 7 Sunday), `weekend`, `holiday`,
    /// `after_hours` (before opening, from closing, weekends and holidays).
    pub time: TimeFact,
    /// The patient: `age` (years on the service day; -1 unknown), `beneficiary_kind`, `sex`,
    /// `flags`.
    pub patient: PatientFact,
    /// Practitioners: `attending`, `performing`, `ordering`.
    pub practitioner: PractitionerFact,
    /// The first payer: `code`, `plan` (empty: self-pay).
    pub payer: PayerFact,
    /// The location: `code`.
    pub location: LocationFact,
    /// The episode: `kind`.
    pub episode: EpisodeFact,
}

/// See [`LineFacts::line`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineFact {
    pub code: String,
    pub service_group: String,
    pub kind: String,
    pub quantity: f64,
    pub unit: String,
    pub unit_price: Option<f64>,
    pub attributes: serde_json::Value,
}

/// See [`LineFacts::time`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeFact {
    pub date: String,
    pub hour: i64,
    pub minute: i64,
    pub weekday: i64,
    pub weekend: bool,
    pub holiday: bool,
    pub after_hours: bool,
}

/// See [`LineFacts::patient`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatientFact {
    pub age: i64,
    pub beneficiary_kind: String,
    pub sex: String,
    pub flags: Vec<String>,
}

/// See [`LineFacts::practitioner`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PractitionerFact {
    pub attending: String,
    pub performing: String,
    pub ordering: String,
}

/// See [`LineFacts::payer`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PayerFact {
    pub code: String,
    pub plan: String,
}

/// See [`LineFacts::location`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LocationFact {
    pub code: String,
}

/// See [`LineFacts::episode`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeFact {
    pub kind: String,
}

/// What a line's facts are made of: the service as a clinical system sent it, its price, its
/// local time, the patient and who pays.
#[derive(Debug, Clone)]
pub struct FactInputs<'a> {
    /// Catalog code.
    pub code: &'a str,
    /// Service group.
    pub service_group: &'a str,
    /// Kind of service.
    pub kind: &'a str,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit of measure.
    pub unit: &'a str,
    /// The list price of one unit (none: unpriced).
    pub unit_price: Option<Money>,
    /// The consumption's attributes.
    pub attributes: serde_json::Value,
    /// Local date and time of service.
    pub local_time: NaiveDateTime,
    /// The location's calendar.
    pub calendar: Option<&'a Calendar>,
    /// The patient's age in full years (-1: unknown).
    pub age: i64,
    /// The patient's beneficiary kind.
    pub beneficiary_kind: &'a str,
    /// The patient's flags.
    pub flags: &'a [String],
    /// The patient's administrative sex (empty: unknown).
    pub sex: &'a str,
    /// Attending practitioner.
    pub attending: Option<&'a str>,
    /// Performing practitioner.
    pub performing: Option<&'a str>,
    /// Ordering practitioner.
    pub ordering: Option<&'a str>,
    /// The first payer (none: self-pay).
    pub payer_code: Option<&'a str>,
    /// Its plan.
    pub plan_code: Option<&'a str>,
    /// The location's code.
    pub location_code: &'a str,
    /// The kind of episode.
    pub episode_kind: &'a str,
}

impl LineFacts {
    /// The facts of a line, the one way they are built.
    pub fn of(i: FactInputs<'_>) -> LineFacts {
        use rust_decimal::prelude::ToPrimitive as _;
        let text = |s: Option<&str>| s.unwrap_or_default().to_owned();
        LineFacts {
            line: LineFact {
                code: i.code.to_owned(),
                service_group: i.service_group.to_owned(),
                kind: i.kind.to_owned(),
                quantity: i.quantity.to_f64().unwrap_or(0.0),
                unit: i.unit.to_owned(),
                unit_price: i.unit_price.and_then(|p| p.amount().to_f64()),
                attributes: i.attributes,
            },
            time: TimeFact::at(i.local_time, i.calendar),
            patient: PatientFact {
                age: i.age,
                beneficiary_kind: i.beneficiary_kind.to_owned(),
                sex: i.sex.to_owned(),
                flags: i.flags.to_vec(),
            },
            practitioner: PractitionerFact {
                attending: text(i.attending),
                performing: text(i.performing),
                ordering: text(i.ordering),
            },
            payer: PayerFact {
                code: text(i.payer_code),
                plan: text(i.plan_code),
            },
            location: LocationFact {
                code: i.location_code.to_owned(),
            },
            episode: EpisodeFact {
                kind: i.episode_kind.to_owned(),
            },
        }
    }
}

/// The variables an expression may use.
pub const VARIABLES: [&str; 7] = [
    "line",
    "time",
    "patient",
    "practitioner",
    "payer",
    "location",
    "episode",
];

impl TimeFact {
    /// The facts of a local service time under a location's calendar.
    pub fn at(local: NaiveDateTime, calendar: Option<&Calendar>) -> TimeFact {
        let opens = calendar
            .and_then(|c| c.opens)
            .unwrap_or(NaiveTime::from_hms_opt(8, 0, 0).unwrap_or(NaiveTime::MIN));
        let closes = calendar
            .and_then(|c| c.closes)
            .unwrap_or(NaiveTime::from_hms_opt(20, 0, 0).unwrap_or(NaiveTime::MIN));
        let date = local.date();
        let weekday = i64::from(date.weekday().number_from_monday());
        let weekend = weekday >= 6;
        let holiday = calendar.is_some_and(|c| c.holidays.contains(&date));
        let t = local.time();
        TimeFact {
            date: date.to_string(),
            hour: i64::from(t.hour()),
            minute: i64::from(t.minute()),
            weekday,
            weekend,
            holiday,
            after_hours: weekend || holiday || t < opens || t >= closes,
        }
    }
}

/// Full years from `birth` to `day`; -1 when unknown.
pub fn age_on(birth: Option<NaiveDate>, day: NaiveDate) -> i64 {
    birth.and_then(|b| day.years_since(b)).map_or(-1, i64::from)
}

/// A condition set ready to evaluate.
pub struct CompiledSet {
    conditions: Vec<Compiled>,
    calendars: BTreeMap<String, Calendar>,
    /// Conditions (positions, in order) without a literal requirement: candidates for every line.
    unindexed: Vec<usize>,
    /// Conditions by their first literal requirement: fact (variable, field) → literal →
    /// positions. A line is a candidate only for the literals its facts have.
    by_literal: Vec<((String, String), Positions)>,
    /// Conditions without a literal requirement, by a patient flag they need.
    by_flag: Positions,
    /// Conditions without a literal requirement or flag, by a line attribute they need.
    by_attribute: Positions,
}

/// Positions of conditions by a value.
type Positions = std::collections::HashMap<String, Vec<usize>>;

/// One condition compiled, with the literal string facts its expression requires (its
/// top-level `fact == 'literal'` conjuncts): a line whose facts differ is not a candidate, so
/// its expression is not even run.
struct Compiled {
    definition: ConditionDefinition,
    program: Arc<cel::Program>,
    requires: Vec<(String, String, String)>,
    /// Its top-level `'flag' in patient.flags` and `has(line.attributes.key)` conjuncts: a
    /// line without that flag, or that attribute, cannot match either.
    needs: Vec<Need>,
    /// The expression compiled to native code, when it is in the subset [`native`] covers.
    native: Option<Arc<native::Cond>>,
}

/// A patient flag or a line attribute an expression cannot match without.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Need {
    Flag(String),
    Attribute(String),
}

/// The flags and attributes among an expression's top-level `&&` conjuncts.
fn needs(e: &cel::parser::Expression, out: &mut Vec<Need>) {
    use cel::common::ast::{Expr, LiteralValue};
    match &e.expr {
        Expr::Call(call) if call.target.is_none() && call.args.len() == 2 => {
            if call.func_name == "_&&_" {
                for a in &call.args {
                    needs(a, out);
                }
            } else if call.func_name == "@in"
                && let Expr::Literal(LiteralValue::String(flag)) = &call.args[0].expr
                && let Expr::Select(sel) = &call.args[1].expr
                && !sel.test
                && sel.field == "flags"
                && matches!(&sel.operand.expr, Expr::Ident(v) if v == "patient")
            {
                out.push(Need::Flag((**flag).to_owned()));
            }
        }
        Expr::Select(sel) if sel.test => {
            if let Expr::Select(inner) = &sel.operand.expr
                && !inner.test
                && inner.field == "attributes"
                && matches!(&inner.operand.expr, Expr::Ident(v) if v == "line")
            {
                out.push(Need::Attribute(sel.field.clone()));
            }
        }
        _ => {}
    }
}

/// The string facts a condition can be indexed on (the native evaluator's table: one list).
fn string_fact<'a>(facts: &'a LineFacts, var: &str, field: &str) -> Option<&'a str> {
    native::str_fact(var, field).map(|get| get(facts))
}

/// The `variable.field == 'literal'` tests among an expression's top-level `&&` conjuncts. A
/// false conjunct makes a CEL `&&` false whatever the others give (errors included), so a line
/// failing one of them cannot match.
fn required_literals(e: &cel::parser::Expression, out: &mut Vec<(String, String, String)>) {
    use cel::common::ast::{Expr, LiteralValue};
    let Expr::Call(call) = &e.expr else { return };
    if call.target.is_some() || call.args.len() != 2 {
        return;
    }
    if call.func_name == "_&&_" {
        for a in &call.args {
            required_literals(a, out);
        }
    } else if call.func_name == "_==_" {
        let (a, b) = (&call.args[0].expr, &call.args[1].expr);
        for (x, y) in [(a, b), (b, a)] {
            if let (Expr::Select(sel), Expr::Literal(LiteralValue::String(lit))) = (x, y)
                && !sel.test
                && let Expr::Ident(var) = &sel.operand.expr
            {
                out.push((var.clone(), sel.field.clone(), (**lit).to_owned()));
            }
        }
    }
}

impl std::fmt::Debug for CompiledSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSet")
            .field("conditions", &self.conditions.len())
            .finish()
    }
}

/// A sample line a new expression is tried on when it is saved.
fn sample() -> LineFacts {
    LineFacts {
        line: LineFact {
            code: "SAMPLE".to_owned(),
            service_group: "SAMPLE".to_owned(),
            kind: "procedure".to_owned(),
            quantity: 1.0,
            unit: "unit".to_owned(),
            unit_price: Some(10.0),
            attributes: serde_json::json!({}),
        },
        time: TimeFact {
            date: "2026-01-05".to_owned(),
            hour: 10,
            minute: 0,
            weekday: 1,
            weekend: false,
            holiday: false,
            after_hours: false,
        },
        patient: PatientFact {
            age: 40,
            beneficiary_kind: "INSURED".to_owned(),
            sex: "female".to_owned(),
            flags: Vec::new(),
        },
        practitioner: PractitionerFact {
            attending: String::new(),
            performing: String::new(),
            ordering: String::new(),
        },
        payer: PayerFact {
            code: String::new(),
            plan: String::new(),
        },
        location: LocationFact {
            code: "H1".to_owned(),
        },
        episode: EpisodeFact {
            kind: "outpatient".to_owned(),
        },
    }
}

/// Why a condition could not be evaluated on a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("condition {code}: {message}")]
pub struct EvalError {
    /// The condition.
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// CEL's standard library, built once: building it is most of what a fresh context costs.
fn stdlib() -> Arc<cel::Env> {
    static STDLIB: std::sync::OnceLock<Arc<cel::Env>> = std::sync::OnceLock::new();
    STDLIB.get_or_init(|| Arc::new(cel::Env::stdlib())).clone()
}

fn context(facts: &LineFacts) -> Result<cel::Context<'static, 'static>, String> {
    let mut ctx = cel::Context::with_env(stdlib());
    let map = |v: &dyn erased::Ser| v.value();
    ctx.add_variable_from_value("line", map(&facts.line)?);
    ctx.add_variable_from_value("time", map(&facts.time)?);
    ctx.add_variable_from_value("patient", map(&facts.patient)?);
    ctx.add_variable_from_value("practitioner", map(&facts.practitioner)?);
    ctx.add_variable_from_value("payer", map(&facts.payer)?);
    ctx.add_variable_from_value("location", map(&facts.location)?);
    ctx.add_variable_from_value("episode", map(&facts.episode)?);
    Ok(ctx)
}

/// Serialize-to-CEL for the fact structs (one place for the conversion error).
mod erased {
    pub trait Ser {
        fn value(&self) -> Result<cel::Value, String>;
    }
    impl<T: serde::Serialize> Ser for T {
        fn value(&self) -> Result<cel::Value, String> {
            cel::to_value(self).map_err(|e| e.to_string())
        }
    }
}

fn run(program: &cel::Program, ctx: &cel::Context<'_, '_>) -> Result<bool, String> {
    match program.execute(ctx) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(format!("gives {other:?}, not true or false")),
        Err(e) => Err(e.to_string()),
    }
}

fn check_amount(v: &mut Validation, field: &str, percent: Option<Decimal>, amount: Option<&Money>) {
    match (percent, amount) {
        (Some(p), None) if p <= Decimal::ZERO || p > Decimal::from(1000) || p.scale() > 4 => {
            v.add(
                format!("{field}.percent"),
                "invalid",
                "a percentage above 0, at most 1000",
            );
        }
        (None, Some(a)) if a.amount() <= Decimal::ZERO => {
            v.add(format!("{field}.amount"), "invalid", "a positive amount");
        }
        (Some(_), None) | (None, Some(_)) => {}
        _ => v.add(
            field,
            "percent_or_amount",
            "give either a percent or an amount",
        ),
    }
}

impl ConditionSet {
    /// Checks every field and compiles every expression; errors name the field
    /// (`conditions.<i>.when`) and, for expressions, the position.
    pub fn compile(&self) -> Result<CompiledSet, Validation> {
        let mut v = Validation::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut compiled = Vec::new();
        let sample = context(&sample()).map_err(|e| {
            let mut v = Validation::new();
            v.add("conditions", "internal", e);
            v
        })?;
        if self.conditions.len() > 500 {
            v.add("conditions", "too_many", "at most 500 conditions");
        }
        for (i, c) in self.conditions.iter().enumerate() {
            let field = |f: &str| format!("conditions.{i}.{f}");
            if v.check(&field("code"), "invalid", Code::parse(&c.code))
                .is_some()
                && !seen.insert(c.code.as_str())
            {
                v.add(field("code"), "duplicate", "codes are unique in the set");
            }
            v.text(&field("description"), &c.description, 200);
            if c.inactive_from.is_some_and(|end| end <= c.active_from) {
                v.add(
                    field("inactive_from"),
                    "before_start",
                    "inactive_from must come after active_from",
                );
            }
            match &c.action {
                ConditionAction::Surcharge { percent, amount }
                | ConditionAction::Discount { percent, amount } => {
                    check_amount(&mut v, &field("action"), *percent, amount.as_ref());
                }
                ConditionAction::PriceOverride { unit_price } => {
                    if unit_price.amount() < Decimal::ZERO {
                        v.add(field("action.unit_price"), "negative", "not negative");
                    }
                }
                ConditionAction::ExtraLine {
                    code,
                    description,
                    quantity,
                    unit_price,
                } => {
                    v.check(&field("action.code"), "invalid", Code::parse(code));
                    v.text(&field("action.description"), description, 200);
                    v.check(
                        &field("action.quantity"),
                        "invalid",
                        crate::accounts::Quantity::new(*quantity),
                    );
                    if unit_price.amount() < Decimal::ZERO {
                        v.add(field("action.unit_price"), "negative", "not negative");
                    }
                }
                ConditionAction::ChangePayer { payer_code } => {
                    if let Some(p) = payer_code {
                        v.check(&field("action.payer_code"), "invalid", Code::parse(p));
                    }
                }
                ConditionAction::Exclude => {}
            }
            if c.when.trim().is_empty() || c.when.len() > 2000 {
                v.add(
                    field("when"),
                    "invalid",
                    "an expression of 1 to 2000 characters",
                );
                continue;
            }
            let program = match cel::Program::compile(&c.when) {
                Ok(p) => p,
                Err(e) => {
                    v.add(field("when"), "syntax", e.to_string());
                    continue;
                }
            };
            let unknown: Vec<String> = program
                .references()
                .variables()
                .into_iter()
                .filter(|name| !VARIABLES.contains(name))
                .map(str::to_owned)
                .collect();
            if !unknown.is_empty() {
                v.add(
                    field("when"),
                    "unknown_variable",
                    format!(
                        "unknown {}: {}; an expression may use {}",
                        if unknown.len() == 1 {
                            "variable"
                        } else {
                            "variables"
                        },
                        unknown.join(", "),
                        VARIABLES.join(", ")
                    ),
                );
                continue;
            }
            // Tried on a sample line: it must give a boolean. A missing key of the free
            // `line.attributes` is not an error of the expression (guard it with `has()`).
            match program.execute(&sample) {
                Ok(cel::Value::Bool(_)) => {}
                Ok(other) => v.add(
                    field("when"),
                    "not_boolean",
                    format!("gives {other:?} on a sample line, not true or false"),
                ),
                Err(cel::ExecutionError::NoSuchKey(_)) => {}
                Err(e) => v.add(field("when"), "evaluation", e.to_string()),
            }
            let mut requires = Vec::new();
            required_literals(program.expression(), &mut requires);
            let mut need = Vec::new();
            needs(program.expression(), &mut need);
            let native = native::compile(program.expression()).map(Arc::new);
            compiled.push(Compiled {
                definition: c.clone(),
                program: Arc::new(program),
                requires,
                needs: need,
                native,
            });
        }
        for (loc, cal) in &self.calendars {
            let field = format!("calendars.{loc}");
            v.check(&field, "invalid", Code::parse(loc));
            if let (Some(o), Some(c)) = (cal.opens, cal.closes)
                && c <= o
            {
                v.add(
                    format!("{field}.closes"),
                    "before_opening",
                    "closes after it opens",
                );
            }
            if cal.holidays.len() > 400 {
                v.add(format!("{field}.holidays"), "too_many", "at most 400 days");
            }
        }
        if !v.is_ok() {
            return Err(v);
        }
        compiled.sort_by(|a, b| {
            (a.definition.priority, &a.definition.code)
                .cmp(&(b.definition.priority, &b.definition.code))
        });
        let mut unindexed = Vec::new();
        let mut by_literal: Vec<((String, String), Positions)> = Vec::new();
        let mut by_flag = Positions::new();
        let mut by_attribute = Positions::new();
        for (n, c) in compiled.iter().enumerate() {
            // Only facts a line always has can index (the others are checked when evaluated).
            let first = c
                .requires
                .iter()
                .find(|(var, field, _)| native::str_fact(var, field).is_some());
            let Some((var, field, literal)) = first else {
                let flag = c.needs.iter().find_map(|n| match n {
                    Need::Flag(f) => Some(f),
                    Need::Attribute(_) => None,
                });
                let attribute = c.needs.iter().find_map(|n| match n {
                    Need::Attribute(a) => Some(a),
                    Need::Flag(_) => None,
                });
                match (flag, attribute) {
                    (Some(f), _) => by_flag.entry(f.clone()).or_default().push(n),
                    (None, Some(a)) => by_attribute.entry(a.clone()).or_default().push(n),
                    (None, None) => unindexed.push(n),
                }
                continue;
            };
            let key = (var.clone(), field.clone());
            let pos = match by_literal.iter().position(|(k, _)| *k == key) {
                Some(p) => p,
                None => {
                    by_literal.push((key, Positions::new()));
                    by_literal.len() - 1
                }
            };
            by_literal[pos]
                .1
                .entry(literal.clone())
                .or_default()
                .push(n);
        }
        Ok(CompiledSet {
            conditions: compiled,
            calendars: self.calendars.clone(),
            unindexed,
            by_literal,
            by_flag,
            by_attribute,
        })
    }
}

impl CompiledSet {
    /// No conditions at all.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    /// The calendar of a location.
    pub fn calendar(&self, location: &str) -> Option<&Calendar> {
        self.calendars.get(location)
    }

    /// The conditions in force on `day` that match the line, in the order they apply; or the
    /// first that could not be evaluated.
    pub fn matching(
        &self,
        facts: &LineFacts,
        day: NaiveDate,
    ) -> Result<Vec<&ConditionDefinition>, EvalError> {
        // The candidates: the unindexed conditions and those indexed under the line's own
        // literals, in the set's order.
        let mut found: Vec<usize> = Vec::new();
        for ((var, field), literals) in &self.by_literal {
            if let Some(hit) = string_fact(facts, var, field).and_then(|v| literals.get(v)) {
                found.extend_from_slice(hit);
            }
        }
        if !self.by_flag.is_empty() {
            for flag in &facts.patient.flags {
                if let Some(hit) = self.by_flag.get(flag) {
                    found.extend_from_slice(hit);
                }
            }
            // The same flag twice on a patient must not make a condition a candidate twice.
            found.sort_unstable();
            found.dedup();
        }
        if !self.by_attribute.is_empty() {
            match facts.line.attributes.as_object() {
                Some(attributes) => {
                    for key in attributes.keys() {
                        if let Some(hit) = self.by_attribute.get(key) {
                            found.extend_from_slice(hit);
                        }
                    }
                }
                // Not an object: nothing is known, every such condition is evaluated.
                None => found.extend(self.by_attribute.values().flatten()),
            }
        }
        found.sort_unstable();
        // Both lists are in order: merged, they give the candidates in order.
        let (mut i, mut j) = (0, 0);
        let positions = std::iter::from_fn(|| {
            let next = match (self.unindexed.get(i), found.get(j)) {
                (Some(&a), Some(&b)) if a <= b => {
                    i += 1;
                    a
                }
                (_, Some(&b)) => {
                    j += 1;
                    b
                }
                (Some(&a), None) => {
                    i += 1;
                    a
                }
                (None, None) => return None,
            };
            Some(next)
        });
        let mut candidates = positions
            .filter_map(|n| self.conditions.get(n))
            .filter(|c| {
                let d = &c.definition;
                day >= d.active_from && d.inactive_from.is_none_or(|end| day < end)
            })
            .filter(|c| {
                c.requires.iter().all(|(var, field, literal)| {
                    string_fact(facts, var, field).is_none_or(|have| have == literal)
                })
            })
            .peekable();
        if candidates.peek().is_none() {
            return Ok(Vec::new());
        }
        // The interpreter's context is built only if a condition needs it.
        let mut ctx = None;
        let mut out = Vec::new();
        for Compiled {
            definition: c,
            program,
            native,
            ..
        } in candidates
        {
            if let Some(decided) = native.as_ref().and_then(|n| n.eval(facts)) {
                if decided {
                    out.push(c);
                }
                continue;
            }
            let ctx = match &ctx {
                Some(ctx) => ctx,
                None => ctx.insert(context(facts).map_err(|message| EvalError {
                    code: "facts".to_owned(),
                    message,
                })?),
            };
            match run(program, ctx) {
                Ok(true) => out.push(c),
                Ok(false) => {}
                Err(message) => {
                    return Err(EvalError {
                        code: c.code.clone(),
                        message,
                    });
                }
            }
        }
        Ok(out)
    }
}

/// One step from the list price to the line's amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Adjustment {
    /// The condition.
    pub condition: String,
    /// `surcharge`, `discount`, `price_override`.
    pub kind: String,
    /// The change of the amount (negative for discounts).
    pub change: Money,
    /// The amount after it.
    pub amount_after: Money,
}

/// What the matching conditions do to a line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// The unit price after any override.
    pub unit_price: Option<Money>,
    /// The amount after every adjustment.
    pub amount: Option<Money>,
    /// Each price step.
    pub adjustments: Vec<Adjustment>,
    /// Extra lines to add: (condition, code, description, quantity, unit price).
    pub extra_lines: Vec<(String, String, String, Decimal, Money)>,
    /// The party the line goes to: `Some(Some(payer))`, `Some(None)` for the patient alone.
    pub payer: Option<(String, Option<String>)>,
    /// Excluded by this condition.
    pub excluded_by: Option<String>,
}

fn round(amount: Decimal, like: &Money) -> Money {
    Money::round(amount, like.currency())
}

/// Applies `matching` (in order) to a line of `quantity` at `unit_price`. Percentages apply to
/// the amount so far and are rounded to the currency at each step; a discount never takes the
/// amount below zero; amounts in another currency than the line's are skipped (they cannot be
/// saved: the set's validation does not know the line's currency).
pub fn apply(
    matching: &[&ConditionDefinition],
    quantity: Decimal,
    unit_price: Option<Money>,
) -> Outcome {
    let mut out = Outcome {
        unit_price,
        amount: unit_price.map(|p| round(p.amount() * quantity, &p)),
        ..Outcome::default()
    };
    for c in matching {
        match &c.action {
            ConditionAction::PriceOverride { unit_price } => {
                let before = out.amount;
                let after = round(unit_price.amount() * quantity, unit_price);
                out.unit_price = Some(*unit_price);
                out.amount = Some(after);
                out.adjustments.push(Adjustment {
                    condition: c.code.clone(),
                    kind: "price_override".to_owned(),
                    change: round(
                        after.amount() - before.map_or(Decimal::ZERO, |b| b.amount()),
                        &after,
                    ),
                    amount_after: after,
                });
            }
            ConditionAction::Surcharge { percent, amount }
            | ConditionAction::Discount { percent, amount } => {
                let Some(current) = out.amount else { continue };
                let sign = if matches!(c.action, ConditionAction::Discount { .. }) {
                    Decimal::NEGATIVE_ONE
                } else {
                    Decimal::ONE
                };
                let raw = match (percent, amount) {
                    // × 0.01 is ÷ 100 exactly, and cheaper.
                    (Some(p), _) => current.amount() * p * Decimal::new(1, 2),
                    (None, Some(a)) if a.currency() == current.currency() => a.amount(),
                    _ => continue,
                };
                let mut change = round(raw * sign, &current);
                if current.amount() + change.amount() < Decimal::ZERO {
                    change = round(-current.amount(), &current);
                }
                // Both are whole minor units already: their sum is too.
                let after = Money::round(current.amount() + change.amount(), current.currency());
                out.amount = Some(after);
                out.adjustments.push(Adjustment {
                    condition: c.code.clone(),
                    kind: if sign.is_sign_negative() {
                        "discount"
                    } else {
                        "surcharge"
                    }
                    .to_owned(),
                    change,
                    amount_after: after,
                });
            }
            ConditionAction::ExtraLine {
                code,
                description,
                quantity,
                unit_price,
            } => out.extra_lines.push((
                c.code.clone(),
                code.clone(),
                description.clone(),
                *quantity,
                *unit_price,
            )),
            ConditionAction::ChangePayer { payer_code } => {
                out.payer = Some((c.code.clone(), payer_code.clone()));
            }
            ConditionAction::Exclude => out.excluded_by = Some(c.code.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;
    use std::str::FromStr as _;

    fn eur(s: &str) -> Money {
        Money::new(Decimal::from_str(s).expect("dec"), Currency::EUR).expect("money")
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).expect("date")
    }

    fn condition(code: &str, when: &str, action: ConditionAction) -> ConditionDefinition {
        ConditionDefinition {
            code: code.to_owned(),
            description: code.to_owned(),
            priority: 0,
            active_from: d("2026-01-01"),
            inactive_from: None,
            when: when.to_owned(),
            action,
        }
    }

    /// After-hours emergencies: +25 %.
    fn night() -> ConditionDefinition {
        ConditionDefinition {
            priority: 1,
            ..condition(
                "NIGHT",
                "time.after_hours && line.service_group == 'EMERG'",
                ConditionAction::Surcharge {
                    percent: Some(Decimal::from(25)),
                    amount: None,
                },
            )
        }
    }

    /// After-hours emergencies: a 15.00 fee line.
    fn night_fee() -> ConditionDefinition {
        ConditionDefinition {
            priority: 2,
            ..condition(
                "FEE",
                "time.after_hours && line.service_group == 'EMERG'",
                ConditionAction::ExtraLine {
                    code: "FEE-NIGHT".to_owned(),
                    description: "After-hours fee".to_owned(),
                    quantity: Decimal::ONE,
                    unit_price: eur("15.00"),
                },
            )
        }
    }

    fn facts(local: &str, group: &str) -> LineFacts {
        let mut f = sample();
        f.line.service_group = group.to_owned();
        f.time = TimeFact::at(
            NaiveDateTime::from_str(local).expect("time"),
            Some(&Calendar {
                opens: None,
                closes: None,
                holidays: vec![d("2026-12-25")],
            }),
        );
        f
    }

    #[test]
    fn time_facts_know_after_hours_weekends_and_holidays() {
        let at = |s: &str| facts(s, "X").time;
        assert!(!at("2026-11-23T10:00:00").after_hours, "a Monday morning");
        assert!(at("2026-11-23T20:00:00").after_hours, "closing time");
        assert!(at("2026-11-23T07:59:00").after_hours);
        assert!(at("2026-11-22T11:00:00").weekend, "a Sunday");
        let xmas = at("2026-12-25T11:00:00");
        assert!(xmas.holiday && xmas.after_hours && !xmas.weekend);
        assert_eq!(age_on(Some(d("1980-04-12")), d("2026-04-11")), 45);
        assert_eq!(age_on(Some(d("1980-04-12")), d("2026-04-12")), 46);
        assert_eq!(age_on(None, d("2026-04-12")), -1);
    }

    #[test]
    fn bad_expressions_are_refused_with_the_condition_and_the_reason() {
        let set = ConditionSet {
            conditions: vec![
                condition("A", "line.quantity >", ConditionAction::Exclude),
                condition("B", "weather == 'rain'", ConditionAction::Exclude),
                condition("C", "line.quantity * 2.0", ConditionAction::Exclude),
                condition("E", "line.code + 1 == 'x'", ConditionAction::Exclude),
                condition(
                    "D",
                    "has(line.attributes.urgent) && line.attributes.urgent",
                    ConditionAction::Exclude,
                ),
                condition(
                    "D",
                    "true",
                    ConditionAction::Surcharge {
                        percent: None,
                        amount: None,
                    },
                ),
            ],
            calendars: BTreeMap::new(),
        };
        let errors = set
            .compile()
            .expect_err("invalid")
            .finish()
            .expect_err("errors");
        let got: Vec<(String, String)> = errors
            .iter()
            .map(|e| (e.field.clone(), e.code.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("conditions.0.when".to_owned(), "syntax".to_owned()),
                (
                    "conditions.1.when".to_owned(),
                    "unknown_variable".to_owned()
                ),
                ("conditions.2.when".to_owned(), "not_boolean".to_owned()),
                ("conditions.3.when".to_owned(), "evaluation".to_owned()),
                ("conditions.5.code".to_owned(), "duplicate".to_owned()),
                (
                    "conditions.5.action".to_owned(),
                    "percent_or_amount".to_owned()
                ),
            ]
        );
        assert!(
            errors[0].message.contains("1:"),
            "points at the error: {}",
            errors[0].message
        );
        assert!(
            errors[1].message.contains("weather"),
            "{}",
            errors[1].message
        );
    }

    #[test]
    fn an_after_hours_emergency_gets_a_surcharge_and_a_fee_line() {
        let set = ConditionSet {
            conditions: vec![
                night(),
                night_fee(),
                ConditionDefinition {
                    priority: 3,
                    ..condition(
                        "LOWINC",
                        "'low_income' in patient.flags",
                        ConditionAction::Discount {
                            percent: Some(Decimal::from(10)),
                            amount: None,
                        },
                    )
                },
            ],
            calendars: BTreeMap::new(),
        }
        .compile()
        .expect("valid");
        let mut night = facts("2026-11-23T22:30:00", "EMERG");
        night.patient.flags = vec!["low_income".to_owned()];
        let matching = set.matching(&night, d("2026-11-23")).expect("evaluates");
        assert_eq!(
            matching.iter().map(|c| c.code.as_str()).collect::<Vec<_>>(),
            ["NIGHT", "FEE", "LOWINC"]
        );
        // 2 x 60.01 = 120.02; +25 % = 30.005 → 30.01: 150.03; -10 % = 15.003 → 15.00: 135.03.
        let out = apply(&matching, Decimal::from(2), Some(eur("60.01")));
        assert_eq!(out.amount, Some(eur("135.03")));
        assert_eq!(
            out.adjustments
                .iter()
                .map(|a| (a.condition.as_str(), a.change.amount_string()))
                .collect::<Vec<_>>(),
            [
                ("NIGHT", "30.01".to_owned()),
                ("LOWINC", "-15.00".to_owned())
            ]
        );
        assert_eq!(out.extra_lines.len(), 1);
        let day = facts("2026-11-23T10:30:00", "EMERG");
        assert!(
            set.matching(&day, d("2026-11-23"))
                .expect("evaluates")
                .is_empty()
        );
    }

    /// Issue 4's worked scenario: an after-hours emergency visit with a surcharge, split across
    /// two payers with a yearly deductible and copays. Every number below is computed by hand.
    #[test]
    fn an_after_hours_emergency_is_surcharged_and_split_with_deductible_and_copays() {
        use crate::settlement::{CoverageTerms, Line, Reason, YearToDate, split_episode_with};
        let set = ConditionSet {
            conditions: vec![night(), night_fee()],
            calendars: BTreeMap::new(),
        }
        .compile()
        .expect("valid");
        // Saturday 2026-11-21 at 23:10: a weekend night.
        let visit = facts("2026-11-21T23:10:00", "EMERG");
        let matching = set.matching(&visit, d("2026-11-21")).expect("evaluates");
        // 2 x 60.01 = 120.02; +25 % = 30.005 → 30.01: 150.03. Plus the 15.00 fee line.
        let out = apply(&matching, Decimal::from(2), Some(eur("60.01")));
        assert_eq!(out.amount, Some(eur("150.03")));
        assert_eq!(out.extra_lines.len(), 1);
        let (by, code, _, quantity, unit_price) = &out.extra_lines[0];
        let fee_amount = eur("15.00");
        assert_eq!(
            (by.as_str(), code.as_str(), *quantity, *unit_price),
            ("FEE", "FEE-NIGHT", Decimal::ONE, fee_amount)
        );
        let terms = |payer: &str, pct: i64, copay: &str, deductible: Option<&str>| CoverageTerms {
            payer: payer.to_owned(),
            covered_percent: Decimal::from(pct),
            copay_per_line: Some(eur(copay)),
            copay_per_episode: None,
            excluded_groups: vec![],
            cap_per_episode: None,
            preauthorization_groups: vec![],
            deductible_per_year: deductible.map(eur),
            cap_per_year: None,
            coordination: Default::default(),
            supplemental_parts: vec![],
        };
        // SANITAS 80 %, copay 5.00 a line, deductible 50.00 a year of which an earlier visit
        // this year used 20.00; MUTUA 50 % of what SANITAS leaves, copay 2.00 a line.
        let payers = [
            terms("SANITAS", 80, "5.00", Some("50.00")),
            terms("MUTUA", 50, "2.00", None),
        ];
        let mut before = YearToDate::default();
        before.add("SANITAS", 2026, 2_000, 4_000);
        let lines: Vec<Line> = [out.amount.expect("priced"), fee_amount]
            .into_iter()
            .map(|amount| Line {
                amount,
                service_group: "EMERG".to_owned(),
                year: 2026,
            })
            .collect();
        let split = split_episode_with(&lines, &payers, &mut before).expect("split");
        let show = |i: usize| -> Vec<(String, String, String)> {
            split[i]
                .iter()
                .map(|s| {
                    (
                        s.amount.amount_string(),
                        s.copay.amount_string(),
                        s.deductible.amount_string(),
                    )
                })
                .collect()
        };
        let t = |a: &str, c: &str, d: &str| (a.to_owned(), c.to_owned(), d.to_owned());
        // Visit 150.03. SANITAS: copay 5.00, the 30.00 left of the deductible, 80 % of 115.03
        // = 92.024 → 92.02; 58.01 left. MUTUA: copay 2.00, 50 % of 56.01 = 28.005 → 28.01.
        // The patient: the 30.00 left, of which 7.00 copays and 23.00 deductible (MUTUA covered
        // part of what SANITAS withheld).
        assert_eq!(
            show(0),
            [
                t("92.02", "5.00", "30.00"),
                t("28.01", "2.00", "0.00"),
                t("30.00", "7.00", "23.00")
            ]
        );
        // Fee 15.00, deductible met: SANITAS 80 % of 10.00 = 8.00; MUTUA 50 % of 5.00 = 2.50;
        // the patient 4.50, all of it copay.
        assert_eq!(
            show(1),
            [
                t("8.00", "5.00", "0.00"),
                t("2.50", "2.00", "0.00"),
                t("4.50", "4.50", "0.00")
            ]
        );
        assert_eq!(
            split[0][0].reason,
            Reason::Covered {
                percent: Decimal::from(80)
            }
        );
        // Everyone together pays the visit and the fee, to the cent: 165.03.
        let total: Decimal = split.iter().flatten().map(|s| s.amount.amount()).sum();
        assert_eq!(total, Decimal::from_str("165.03").expect("dec"));
    }

    const NATIVE_CORPUS: [&str; 15] = [
        "time.after_hours && line.service_group == 'EMERG'",
        "'low_income' in patient.flags && patient.age >= 40",
        "has(line.attributes.urgent) && line.attributes.urgent && line.quantity > 1.0",
        "line.attributes.urgent || payer.code == 'P1'",
        "line.attributes.room == 'ICU'",
        "!(line.code == 'C1') || time.hour < 8",
        "line.code in ['C1', 'C2'] && patient.age != -1",
        "time.weekend ? line.quantity >= 3.0 : patient.age > 65",
        "payer.plan != 'GOLD' && time.minute <= 30",
        "time.holiday == true",
        "line.service_group < 'M'",
        "patient.age >= -1 && line.quantity != -0.5",
        "false || line.attributes.urgent",
        "time.date == '2026-11-23' && time.weekday == 1",
        "'ICU' == line.attributes.room && !time.after_hours",
    ];

    fn arb_facts() -> impl Strategy<Value = LineFacts> {
        let attributes = prop_oneof![
            Just(serde_json::json!({})),
            Just(serde_json::json!({"urgent": true})),
            Just(serde_json::json!({"urgent": false})),
            Just(serde_json::json!({"urgent": "yes"})),
            Just(serde_json::json!({"room": "ICU"})),
            Just(serde_json::json!({"room": 5})),
        ];
        (
            (
                prop::sample::select(vec!["C1", "C2", ""]),
                prop::sample::select(vec!["EMERG", "LAB", "ZOO"]),
                prop::sample::select(vec![0.5, 1.0, 3.0, -0.5]),
                attributes,
            ),
            (
                prop::sample::select(vec![-1_i64, 17, 40, 80]),
                prop::sample::subsequence(vec!["low_income", "chronic"], 0..=2),
                0_u32..24,
                0_u32..60,
                0_u32..14,
            ),
            (
                prop::sample::select(vec!["", "P1"]),
                prop::sample::select(vec!["", "GOLD"]),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    (code, group, quantity, attributes),
                    (age, flags, hour, minute, day),
                    (payer, plan, holiday),
                )| {
                    let mut f = sample();
                    f.line.code = code.to_owned();
                    f.line.service_group = group.to_owned();
                    f.line.quantity = quantity;
                    f.line.attributes = attributes;
                    f.patient.age = age;
                    f.patient.flags = flags.into_iter().map(str::to_owned).collect();
                    let local = d("2026-11-16")
                        .checked_add_days(chrono::Days::new(u64::from(day)))
                        .and_then(|d| d.and_hms_opt(hour, minute, 0))
                        .expect("a time");
                    let holidays = if holiday { vec![local.date()] } else { vec![] };
                    f.time = TimeFact::at(
                        local,
                        Some(&Calendar {
                            opens: None,
                            closes: None,
                            holidays,
                        }),
                    );
                    f.payer.code = payer.to_owned();
                    f.payer.plan = plan.to_owned();
                    f
                },
            )
    }

    #[test]
    fn the_native_subset_covers_the_usual_conditions_and_leaves_the_rest_to_cel() {
        for when in NATIVE_CORPUS {
            let program = cel::Program::compile(when).expect("parses");
            assert!(native::compile(program.expression()).is_some(), "{when}");
        }
        for when in [
            "line.quantity * 2.0 > 3.0",
            "patient.age > 40.0",
            "line.unit_price > 10.0",
            "patient.flags.exists(f, f == 'x')",
            "size(line.code) > 2",
        ] {
            let program = cel::Program::compile(when).expect("parses");
            assert!(native::compile(program.expression()).is_none(), "{when}");
        }
    }

    proptest! {
        /// Whatever the native form decides, CEL's interpreter decides the same.
        #[test]
        fn native_conditions_decide_exactly_as_the_interpreter(facts in arb_facts()) {
            let ctx = context(&facts).map_err(TestCaseError::fail)?;
            for when in NATIVE_CORPUS {
                let program = cel::Program::compile(when).expect("parses");
                let fast = native::compile(program.expression()).expect("native");
                match fast.eval(&facts) {
                    Some(b) => prop_assert_eq!(run(&program, &ctx), Ok(b), "{} on {:?}", when, facts),
                    // Undecided only where a free attribute is missing or of another type.
                    None => prop_assert!(
                        when.contains("line.attributes"),
                        "{} undecided on {:?}", when, facts
                    ),
                }
            }
        }
    }

    #[test]
    fn conditions_indexed_on_literal_facts_match_exactly_as_evaluated() {
        let whens = [
            "line.service_group == 'EMERG' && time.after_hours",
            "'EMERG' == line.service_group || line.code == 'X'",
            "line.code == 'X' && (payer.code == 'P1' || patient.age > 60)",
            "payer.code == 'P1' && payer.plan == 'GOLD' && line.quantity >= 1.0",
            "!(line.service_group == 'EMERG') && true",
            "line.attributes.room == 'ICU' && line.service_group == 'EMERG'",
            "'low_income' in patient.flags && patient.age >= 18",
            "has(line.attributes.urgent) && line.attributes.urgent",
            "has(line.attributes.urgent) || 'chronic' in patient.flags",
        ];
        let set = ConditionSet {
            conditions: whens
                .iter()
                .enumerate()
                .map(|(i, w)| condition(&format!("C{i}"), w, ConditionAction::Exclude))
                .collect(),
            calendars: BTreeMap::new(),
        }
        .compile()
        .expect("valid");
        assert_eq!(
            set.conditions[0].requires,
            [(
                "line".to_owned(),
                "service_group".to_owned(),
                "EMERG".to_owned()
            )]
        );
        assert!(
            set.conditions[1].requires.is_empty(),
            "an || is not indexed"
        );
        assert_eq!(set.conditions[3].requires.len(), 2);
        // Every combination: the indexed answer equals evaluating every expression.
        for group in ["EMERG", "LAB"] {
            for code in ["X", "Y"] {
                for payer in ["P1", "P2"] {
                    for hour in ["10", "23"] {
                        let mut f = facts(&format!("2026-11-23T{hour}:00:00"), group);
                        f.line.code = code.to_owned();
                        f.payer.code = payer.to_owned();
                        f.payer.plan = "GOLD".to_owned();
                        f.line.attributes = if hour == "10" {
                            serde_json::json!({"room": "ICU"})
                        } else {
                            serde_json::json!({"room": "WARD", "urgent": true})
                        };
                        f.patient.flags = if payer == "P1" {
                            vec!["low_income".to_owned(), "low_income".to_owned()]
                        } else {
                            vec!["chronic".to_owned()]
                        };
                        let fast: Vec<&str> = set
                            .matching(&f, d("2026-11-23"))
                            .expect("evaluates")
                            .iter()
                            .map(|c| c.code.as_str())
                            .collect();
                        let ctx = context(&f).expect("context");
                        let full: Vec<&str> = set
                            .conditions
                            .iter()
                            .filter(|c| run(&c.program, &ctx).unwrap_or(false))
                            .map(|c| c.definition.code.as_str())
                            .collect();
                        assert_eq!(fast, full, "{group} {code} {payer} {hour}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_failing_expression_names_its_condition() {
        let set = ConditionSet {
            conditions: vec![condition(
                "URGENT",
                "line.attributes.urgent == true",
                ConditionAction::Exclude,
            )],
            calendars: BTreeMap::new(),
        }
        .compile()
        .expect("a missing attribute on the sample is not an error of the expression");
        let err = set
            .matching(&facts("2026-11-23T10:00:00", "X"), d("2026-11-23"))
            .expect_err("no such key on the line");
        assert_eq!(err.code, "URGENT");
        let mut urgent = facts("2026-11-23T10:00:00", "X");
        urgent.line.attributes = serde_json::json!({"urgent": true});
        assert_eq!(set.matching(&urgent, d("2026-11-23")).expect("ok").len(), 1);
    }

    proptest! {
        /// Surcharges and discounts in any order keep the amount exact to the cent and never
        /// below zero; the adjustments add up to the change.
        #[test]
        fn adjustments_add_up_and_never_go_below_zero(
            cents in 0i64..10_000_000,
            steps in proptest::collection::vec((any::<bool>(), 1u32..200, any::<bool>()), 0..6),
        ) {
            let conditions: Vec<ConditionDefinition> = steps.iter().enumerate().map(|(i, (up, n, pct))| {
                let (percent, amount) = if *pct {
                    (Some(Decimal::from(*n)), None)
                } else {
                    (None, Some(Money::from_minor(crate::MinorUnits(i64::from(*n) * 37), Currency::EUR)))
                };
                let action = if *up {
                    ConditionAction::Surcharge { percent, amount }
                } else {
                    ConditionAction::Discount { percent, amount }
                };
                condition(&format!("C{i}"), "true", action)
            }).collect();
            let refs: Vec<&ConditionDefinition> = conditions.iter().collect();
            let price = Money::from_minor(crate::MinorUnits(cents), Currency::EUR);
            let out = apply(&refs, Decimal::ONE, Some(price));
            let amount = out.amount.expect("priced");
            prop_assert!(amount.amount() >= Decimal::ZERO);
            // Each step starts where the one before ended.
            let mut before = price;
            for a in &out.adjustments {
                prop_assert_eq!(before.amount() + a.change.amount(), a.amount_after.amount());
                before = a.amount_after;
            }
            prop_assert_eq!(before, amount);
            let changes: Decimal = out.adjustments.iter().map(|a| a.change.amount()).sum();
            prop_assert_eq!(price.amount() + changes, amount.amount());
        }
    }
}
