//! Conditions compiled to native code: the common subset of CEL that business conditions are
//! written in — the typed facts of a line, literals, comparisons, `&&`, `||`, `!`, `?:`, `in`
//! and `has()` on `line.attributes` — evaluated straight on [`LineFacts`] without building a
//! CEL context. Anything outside the subset is not compiled here and the interpreter runs it.
//!
//! Evaluation answers `None` where it cannot decide the way the interpreter would (a free
//! attribute that is missing or of another type): the interpreter then runs the expression, so
//! results and errors are always CEL's own. Within the subset no other error can arise, and
//! `&&` / `||` absorb an undecided side exactly as CEL absorbs an error: `false && x` is false
//! and `true || x` true whatever `x` is.

use cel::common::ast::{Expr, LiteralValue, operators};
use cel::parser::Expression;

use super::LineFacts;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn of(name: &str) -> Option<Cmp> {
        Some(match name {
            operators::EQUALS => Cmp::Eq,
            operators::NOT_EQUALS => Cmp::Ne,
            operators::LESS => Cmp::Lt,
            operators::LESS_EQUALS => Cmp::Le,
            operators::GREATER => Cmp::Gt,
            operators::GREATER_EQUALS => Cmp::Ge,
            _ => return None,
        })
    }

    fn test<T: PartialOrd + ?Sized>(self, a: &T, b: &T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
}

pub(super) type StrFact = for<'a> fn(&'a LineFacts) -> &'a str;

/// A string operand.
#[derive(Debug, Clone)]
pub(super) enum Str {
    Lit(String),
    Fact(StrFact),
    /// `line.attributes.<key>`: decided only when it is a string.
    Attr(String),
}

impl Str {
    fn get<'a>(&'a self, f: &'a LineFacts) -> Option<&'a str> {
        match self {
            Str::Lit(s) => Some(s),
            Str::Fact(get) => Some(get(f)),
            Str::Attr(key) => f.line.attributes.get(key)?.as_str(),
        }
    }
}

/// An integer operand.
#[derive(Debug, Clone, Copy)]
pub(super) enum Int {
    Lit(i64),
    Fact(fn(&LineFacts) -> i64),
}

impl Int {
    fn get(self, f: &LineFacts) -> i64 {
        match self {
            Int::Lit(i) => i,
            Int::Fact(get) => get(f),
        }
    }
}

/// A floating-point operand.
#[derive(Debug, Clone, Copy)]
pub(super) enum Float {
    Lit(f64),
    Fact(fn(&LineFacts) -> f64),
}

impl Float {
    fn get(self, f: &LineFacts) -> f64 {
        match self {
            Float::Lit(x) => x,
            Float::Fact(get) => get(f),
        }
    }
}

/// A boolean expression of the subset.
#[derive(Debug, Clone)]
pub(super) enum Cond {
    Lit(bool),
    Fact(fn(&LineFacts) -> bool),
    /// `line.attributes.<key>` used as a boolean: decided only when it is one.
    AttrBool(String),
    /// `has(line.attributes.<key>)`.
    HasAttr(String),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    If(Box<Cond>, Box<Cond>, Box<Cond>),
    Str(Cmp, Str, Str),
    Int(Cmp, Int, Int),
    Float(Cmp, Float, Float),
    /// `a == b` (true) or `a != b` (false) of two booleans.
    Bool(bool, Box<Cond>, Box<Cond>),
    /// `x in patient.flags`.
    InFlags(Str),
    /// `x in ['a', 'b']`.
    InList(Str, Vec<String>),
}

impl Cond {
    /// The value, or `None` where the interpreter must decide.
    pub(super) fn eval(&self, f: &LineFacts) -> Option<bool> {
        Some(match self {
            Cond::Lit(b) => *b,
            Cond::Fact(get) => get(f),
            Cond::AttrBool(key) => f.line.attributes.get(key)?.as_bool()?,
            Cond::HasAttr(key) => f.line.attributes.as_object()?.contains_key(key),
            Cond::Not(c) => !c.eval(f)?,
            Cond::And(a, b) => match a.eval(f) {
                Some(false) => false,
                Some(true) => b.eval(f)?,
                None => match b.eval(f) {
                    Some(false) => false,
                    _ => return None,
                },
            },
            Cond::Or(a, b) => match a.eval(f) {
                Some(true) => true,
                Some(false) => b.eval(f)?,
                None => match b.eval(f) {
                    Some(true) => true,
                    _ => return None,
                },
            },
            Cond::If(c, a, b) => {
                if c.eval(f)? {
                    a.eval(f)?
                } else {
                    b.eval(f)?
                }
            }
            Cond::Str(op, a, b) => op.test(a.get(f)?, b.get(f)?),
            Cond::Int(op, a, b) => op.test(&a.get(f), &b.get(f)),
            Cond::Float(op, a, b) => op.test(&a.get(f), &b.get(f)),
            Cond::Bool(eq, a, b) => (a.eval(f)? == b.eval(f)?) == *eq,
            Cond::InFlags(x) => {
                let x = x.get(f)?;
                f.patient.flags.iter().any(|flag| flag == x)
            }
            Cond::InList(x, list) => {
                let x = x.get(f)?;
                list.iter().any(|item| item == x)
            }
        })
    }
}

/// `variable.field` of a plain field selection.
fn fact_path(e: &Expr) -> Option<(&str, &str)> {
    let Expr::Select(sel) = e else { return None };
    if sel.test {
        return None;
    }
    let Expr::Ident(var) = &sel.operand.expr else {
        return None;
    };
    Some((var, &sel.field))
}

/// `line.attributes.<key>` (a plain selection, or a presence test when `test`).
fn attribute(e: &Expr, test: bool) -> Option<String> {
    let Expr::Select(sel) = e else { return None };
    if sel.test != test {
        return None;
    }
    (fact_path(&sel.operand.expr)? == ("line", "attributes")).then(|| sel.field.clone())
}

pub(super) fn str_fact(var: &str, field: &str) -> Option<StrFact> {
    Some(match (var, field) {
        ("line", "code") => |f| &f.line.code,
        ("line", "service_group") => |f| &f.line.service_group,
        ("line", "kind") => |f| &f.line.kind,
        ("line", "unit") => |f| &f.line.unit,
        ("time", "date") => |f| &f.time.date,
        ("patient", "beneficiary_kind") => |f| &f.patient.beneficiary_kind,
        ("patient", "sex") => |f| &f.patient.sex,
        ("practitioner", "attending") => |f| &f.practitioner.attending,
        ("practitioner", "performing") => |f| &f.practitioner.performing,
        ("practitioner", "ordering") => |f| &f.practitioner.ordering,
        ("payer", "code") => |f| &f.payer.code,
        ("payer", "plan") => |f| &f.payer.plan,
        ("location", "code") => |f| &f.location.code,
        ("episode", "kind") => |f| &f.episode.kind,
        _ => return None,
    })
}

fn compile_str(e: &Expr) -> Option<Str> {
    if let Expr::Literal(LiteralValue::String(s)) = e {
        return Some(Str::Lit((**s).to_owned()));
    }
    if let Some(key) = attribute(e, false) {
        return Some(Str::Attr(key));
    }
    let (var, field) = fact_path(e)?;
    str_fact(var, field).map(Str::Fact)
}

fn compile_int(e: &Expr) -> Option<Int> {
    match e {
        Expr::Literal(LiteralValue::Int(i)) => Some(Int::Lit(**i)),
        Expr::Call(c) if c.func_name == operators::NEGATE && c.target.is_none() => {
            match c.args.as_slice() {
                [arg] => match &arg.expr {
                    Expr::Literal(LiteralValue::Int(i)) => i.checked_neg().map(Int::Lit),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => {
            let get: fn(&LineFacts) -> i64 = match fact_path(e)? {
                ("time", "hour") => |f| f.time.hour,
                ("time", "minute") => |f| f.time.minute,
                ("time", "weekday") => |f| f.time.weekday,
                ("patient", "age") => |f| f.patient.age,
                _ => return None,
            };
            Some(Int::Fact(get))
        }
    }
}

fn compile_float(e: &Expr) -> Option<Float> {
    match e {
        Expr::Literal(LiteralValue::Double(x)) => Some(Float::Lit(**x)),
        Expr::Call(c) if c.func_name == operators::NEGATE && c.target.is_none() => {
            match c.args.as_slice() {
                [arg] => match &arg.expr {
                    Expr::Literal(LiteralValue::Double(x)) => Some(Float::Lit(-**x)),
                    _ => None,
                },
                _ => None,
            }
        }
        _ => match fact_path(e)? {
            ("line", "quantity") => Some(Float::Fact(|f| f.line.quantity)),
            _ => None,
        },
    }
}

/// The native form of a condition's expression, when all of it is in the subset.
pub(super) fn compile(e: &Expression) -> Option<Cond> {
    compile_bool(&e.expr)
}

fn compile_bool(e: &Expr) -> Option<Cond> {
    match e {
        Expr::Literal(LiteralValue::Boolean(b)) => Some(Cond::Lit(**b)),
        Expr::Select(_) => {
            if let Some(key) = attribute(e, true) {
                return Some(Cond::HasAttr(key));
            }
            if let Some(key) = attribute(e, false) {
                return Some(Cond::AttrBool(key));
            }
            let get: fn(&LineFacts) -> bool = match fact_path(e)? {
                ("time", "weekend") => |f| f.time.weekend,
                ("time", "holiday") => |f| f.time.holiday,
                ("time", "after_hours") => |f| f.time.after_hours,
                _ => return None,
            };
            Some(Cond::Fact(get))
        }
        Expr::Call(c) if c.target.is_none() => {
            let args: Vec<&Expr> = c.args.iter().map(|a| &a.expr).collect();
            match (c.func_name.as_str(), args.as_slice()) {
                (operators::LOGICAL_NOT, [a]) => Some(Cond::Not(Box::new(compile_bool(a)?))),
                (operators::LOGICAL_AND, [a, b]) => Some(Cond::And(
                    Box::new(compile_bool(a)?),
                    Box::new(compile_bool(b)?),
                )),
                (operators::LOGICAL_OR, [a, b]) => Some(Cond::Or(
                    Box::new(compile_bool(a)?),
                    Box::new(compile_bool(b)?),
                )),
                (operators::CONDITIONAL, [c, a, b]) => Some(Cond::If(
                    Box::new(compile_bool(c)?),
                    Box::new(compile_bool(a)?),
                    Box::new(compile_bool(b)?),
                )),
                (operators::IN, [x, list]) => {
                    let x = compile_str(x)?;
                    if let Expr::List(items) = list {
                        if !items.optional_indices.is_empty() {
                            return None;
                        }
                        let items = items
                            .elements
                            .iter()
                            .map(|item| match &item.expr {
                                Expr::Literal(LiteralValue::String(s)) => Some((**s).to_owned()),
                                _ => None,
                            })
                            .collect::<Option<Vec<_>>>()?;
                        return Some(Cond::InList(x, items));
                    }
                    (fact_path(list)? == ("patient", "flags")).then_some(Cond::InFlags(x))
                }
                (name, [a, b]) => {
                    let op = Cmp::of(name)?;
                    if let (Some(x), Some(y)) = (compile_str(a), compile_str(b)) {
                        return Some(Cond::Str(op, x, y));
                    }
                    if let (Some(x), Some(y)) = (compile_int(a), compile_int(b)) {
                        return Some(Cond::Int(op, x, y));
                    }
                    if let (Some(x), Some(y)) = (compile_float(a), compile_float(b)) {
                        return Some(Cond::Float(op, x, y));
                    }
                    if matches!(op, Cmp::Eq | Cmp::Ne) {
                        return Some(Cond::Bool(
                            op == Cmp::Eq,
                            Box::new(compile_bool(a)?),
                            Box::new(compile_bool(b)?),
                        ));
                    }
                    None
                }
                _ => None,
            }
        }
        _ => None,
    }
}
