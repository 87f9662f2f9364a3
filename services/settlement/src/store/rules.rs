//! Invoicing rules as stored: versions of each rule (one current), the invoice contexts they
//! bill, and the institution × rule activation matrix.

use carebill_domain::rules::RuleDefinition;
use carebill_domain::stored::json;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, scoped};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{invoice_contexts, invoicing_rule_activations, invoicing_rules};

/// A version of a rule.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoicing_rules)]
pub struct RuleRow {
    /// The rule's id (the same for all its versions).
    pub rule_id: String,
    /// Version, from 1.
    pub version: i32,
    /// The rule's latest version.
    pub current: bool,
    /// The definition (JSON).
    pub definition: String,
    /// Why this version was made.
    pub reason: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
}

impl RuleRow {
    /// The definition; unreadable JSON is an error naming it.
    pub fn rule(&self) -> Result<RuleDefinition, Error> {
        json("invoicing rule definition", &self.definition).map_err(Error::from)
    }
}

/// Serialises the changes of one rule (PostgreSQL) until the transaction ends.
pub fn lock(conn: &mut AnyConnection, code: &str) -> Result<(), Error> {
    Ok(db::lock_key(conn, &format!("invoicing_rule:{code}"))?)
}

/// A rule's current version.
pub fn current(conn: &mut AnyConnection, code: &str) -> Result<Option<RuleRow>, Error> {
    Ok(invoicing_rules::table
        .filter(invoicing_rules::code.eq(code))
        .filter(invoicing_rules::current.eq(true))
        .select(RuleRow::as_select())
        .first(conn)
        .optional()?)
}

/// One version of a rule.
pub fn version(
    conn: &mut AnyConnection,
    code: &str,
    version: i32,
) -> Result<Option<RuleRow>, Error> {
    Ok(invoicing_rules::table
        .filter(invoicing_rules::code.eq(code))
        .filter(invoicing_rules::version.eq(version))
        .select(RuleRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every version of a rule, oldest first.
pub fn versions(conn: &mut AnyConnection, code: &str) -> Result<Vec<RuleRow>, Error> {
    Ok(invoicing_rules::table
        .filter(invoicing_rules::code.eq(code))
        .order(invoicing_rules::version.asc())
        .select(RuleRow::as_select())
        .load(conn)?)
}

/// Whether a rule with this code exists.
pub fn exists(conn: &mut AnyConnection, code: &str) -> Result<bool, Error> {
    let taken: i64 = invoicing_rules::table
        .filter(invoicing_rules::code.eq(code))
        .count()
        .get_result(conn)?;
    Ok(taken > 0)
}

/// Stores a version of a rule as its current one.
pub fn insert_version(
    conn: &mut AnyConnection,
    by: &str,
    id: &str,
    rule: &RuleDefinition,
    version: i32,
    reason: Option<&str>,
) -> Result<(), Error> {
    diesel::insert_into(invoicing_rules::table)
        .values((
            invoicing_rules::rule_id.eq(id),
            invoicing_rules::code.eq(&rule.code),
            invoicing_rules::version.eq(version),
            invoicing_rules::current.eq(true),
            invoicing_rules::definition.eq(serde_json::to_string(rule)?),
            invoicing_rules::source.eq(serde_json::to_value(rule.source)?
                .as_str()
                .ok_or_else(|| Error::internal(&"an invoicing source that is not a text"))?
                .to_owned()),
            invoicing_rules::invoice_context.eq(&rule.invoice_context),
            invoicing_rules::service_group.eq(&rule.service_group),
            invoicing_rules::active_from.eq(rule.active_from),
            invoicing_rules::inactive_from.eq(rule.inactive_from),
            invoicing_rules::reason.eq(reason),
            invoicing_rules::created_by.eq(by),
            invoicing_rules::created_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks a rule's current version as no longer current.
pub fn retire_current(conn: &mut AnyConnection, code: &str) -> Result<(), Error> {
    diesel::update(
        invoicing_rules::table
            .filter(invoicing_rules::code.eq(code))
            .filter(invoicing_rules::current.eq(true)),
    )
    .set(invoicing_rules::current.eq(false))
    .execute(conn)?;
    Ok(())
}

/// What the rule list filters on.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    /// Rules reading this source.
    pub source: Option<String>,
    /// Rules billing this invoice context.
    pub invoice_context: Option<String>,
    /// Rules of this service group.
    pub service_group: Option<String>,
    /// Rules active on this day.
    pub active_on: Option<NaiveDate>,
}

/// A page of current versions by rule id after `after` (at most `limit`).
pub fn list(
    conn: &mut AnyConnection,
    f: &RuleFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<RuleRow>, Error> {
    let mut q = invoicing_rules::table
        .filter(invoicing_rules::current.eq(true))
        .select(RuleRow::as_select())
        .into_boxed();
    if let Some(s) = &f.source {
        q = q.filter(invoicing_rules::source.eq(s.clone()));
    }
    if let Some(c) = &f.invoice_context {
        q = q.filter(invoicing_rules::invoice_context.eq(c.clone()));
    }
    if let Some(g) = &f.service_group {
        q = q.filter(invoicing_rules::service_group.eq(g.clone()));
    }
    if let Some(day) = f.active_on {
        q = q.filter(invoicing_rules::active_from.le(day)).filter(
            invoicing_rules::inactive_from
                .is_null()
                .or(invoicing_rules::inactive_from.gt(day)),
        );
    }
    if let Some(after) = after {
        q = q.filter(invoicing_rules::rule_id.gt(after.to_owned()));
    }
    Ok(q.order(invoicing_rules::rule_id.asc())
        .limit(limit)
        .load(conn)?)
}

/// The current definitions of these rules.
pub fn current_definitions(
    conn: &mut AnyConnection,
    codes: &[String],
) -> Result<Vec<RuleDefinition>, Error> {
    let others: Vec<String> = invoicing_rules::table
        .filter(invoicing_rules::code.eq_any(codes))
        .filter(invoicing_rules::current.eq(true))
        .select(invoicing_rules::definition)
        .load(conn)?;
    others
        .iter()
        .map(|d| json("invoicing rule definition", d).map_err(Error::from))
        .collect()
}

/// An invoice context.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoice_contexts)]
pub struct ContextRow {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// `patient` or `payer`.
    pub party: String,
    /// The payer billed, for a context that always bills one.
    pub payer_code: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
}

/// Every invoice context, by code.
pub fn contexts(conn: &mut AnyConnection) -> Result<Vec<ContextRow>, Error> {
    Ok(invoice_contexts::table
        .order(invoice_contexts::code.asc())
        .select(ContextRow::as_select())
        .load(conn)?)
}

/// The codes of every invoice context.
pub fn context_codes(conn: &mut AnyConnection) -> Result<Vec<String>, Error> {
    Ok(invoice_contexts::table
        .select(invoice_contexts::code)
        .load(conn)?)
}

/// An invoice context.
pub fn context(conn: &mut AnyConnection, code: &str) -> Result<Option<ContextRow>, Error> {
    Ok(invoice_contexts::table
        .find(code)
        .select(ContextRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores an invoice context.
pub fn insert_context(
    conn: &mut AnyConnection,
    code: &str,
    name: &str,
    party: &str,
    payer_code: Option<&str>,
) -> Result<(), Error> {
    diesel::insert_into(invoice_contexts::table)
        .values((
            invoice_contexts::code.eq(code),
            invoice_contexts::name.eq(name),
            invoice_contexts::party.eq(party),
            invoice_contexts::payer_code.eq(payer_code),
            invoice_contexts::created_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

/// An entry of the activation matrix.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = invoicing_rule_activations)]
pub struct ActivationRow {
    /// The location.
    pub location_code: String,
    /// The rule.
    pub rule_code: String,
    /// Enabled there.
    pub enabled: bool,
    /// Who changed it last.
    pub changed_by: String,
    /// When.
    pub changed_at: NaiveDateTime,
}

/// The entries in the caller's scope (of one location, of one rule), by location and rule.
pub fn activations(
    conn: &mut AnyConnection,
    scope: &Scope,
    location: Option<&str>,
    rule: Option<&str>,
) -> Result<Vec<ActivationRow>, Error> {
    let mut q = invoicing_rule_activations::table
        .select(ActivationRow::as_select())
        .into_boxed();
    // An entry is no one payer's: a payer-limited caller sees none.
    q = scoped!(q, scope, invoicing_rule_activations::location_code);
    if let Some(l) = location {
        q = q.filter(invoicing_rule_activations::location_code.eq(l.to_owned()));
    }
    if let Some(r) = rule {
        q = q.filter(invoicing_rule_activations::rule_code.eq(r.to_owned()));
    }
    Ok(q.order((
        invoicing_rule_activations::location_code.asc(),
        invoicing_rule_activations::rule_code.asc(),
    ))
    .load(conn)?)
}

/// The locations where a rule is enabled.
pub fn enabled_locations(conn: &mut AnyConnection, rule: &str) -> Result<Vec<String>, Error> {
    Ok(invoicing_rule_activations::table
        .filter(invoicing_rule_activations::rule_code.eq(rule))
        .filter(invoicing_rule_activations::enabled.eq(true))
        .select(invoicing_rule_activations::location_code)
        .load(conn)?)
}

/// The rules enabled at a location, but `except`.
pub fn enabled_rules_at(
    conn: &mut AnyConnection,
    location: &str,
    except: &str,
) -> Result<Vec<String>, Error> {
    Ok(invoicing_rule_activations::table
        .filter(invoicing_rule_activations::location_code.eq(location))
        .filter(invoicing_rule_activations::enabled.eq(true))
        .filter(invoicing_rule_activations::rule_code.ne(except))
        .select(invoicing_rule_activations::rule_code)
        .load(conn)?)
}

/// Whether a rule is enabled at a location (none: no entry).
pub fn activation_enabled(
    conn: &mut AnyConnection,
    location: &str,
    rule: &str,
) -> Result<Option<bool>, Error> {
    Ok(invoicing_rule_activations::table
        .find((location, rule))
        .select(invoicing_rule_activations::enabled)
        .first(conn)
        .optional()?)
}

/// Sets an entry of the matrix (`known`: it exists already).
pub fn put_activation(
    conn: &mut AnyConnection,
    location: &str,
    rule: &str,
    enabled: bool,
    by: &str,
    known: bool,
) -> Result<(), Error> {
    let now = db::now();
    if known {
        diesel::update(invoicing_rule_activations::table.find((location, rule)))
            .set((
                invoicing_rule_activations::enabled.eq(enabled),
                invoicing_rule_activations::changed_by.eq(by),
                invoicing_rule_activations::changed_at.eq(now),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(invoicing_rule_activations::table)
            .values((
                invoicing_rule_activations::location_code.eq(location),
                invoicing_rule_activations::rule_code.eq(rule),
                invoicing_rule_activations::enabled.eq(enabled),
                invoicing_rule_activations::changed_by.eq(by),
                invoicing_rule_activations::changed_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// An entry of the matrix.
pub fn activation(
    conn: &mut AnyConnection,
    location: &str,
    rule: &str,
) -> Result<ActivationRow, Error> {
    Ok(invoicing_rule_activations::table
        .find((location, rule))
        .select(ActivationRow::as_select())
        .first(conn)?)
}
