//! Invoicing rules (seed 003) as configuration: invoice contexts, rules kept as versions (a rule
//! in use is never edited in place — a change is a new version, and every earlier version stays
//! readable), and the institution × rule matrix that activates a rule per location.

use carebill_domain::rules::RuleDefinition;
use carebill_domain::{Code, Validation};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{if_match_admits, precondition_failed, precondition_required};
use carebill_platform::{Error, ErrorCode, audit};
use chrono::{DateTime, Utc};
use diesel::Connection as _;
use serde::Serialize;

use crate::store::rules::{self as store, ContextRow, RuleRow};
pub use crate::store::rules::{ActivationRow, RuleFilter};

/// One version of a rule as the service keeps it (and records it in the audit trail).
#[derive(Debug, Clone, Serialize)]
pub struct RuleRecord {
    /// The rule's id.
    pub id: String,
    /// The rule's code.
    pub code: String,
    /// Version, from 1.
    pub version: i32,
    /// The rule's latest version.
    pub current: bool,
    /// How many linked rules it has.
    pub linked_rule_count: usize,
    /// Why this version was made.
    pub reason: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// The version's `ETag`.
    pub etag: String,
    /// The definition.
    pub rule: RuleDefinition,
}

impl TryFrom<RuleRow> for RuleRecord {
    type Error = Error;

    fn try_from(r: RuleRow) -> Result<Self, Error> {
        let definition = r.rule()?;
        Ok(RuleRecord {
            id: r.rule_id,
            code: definition.code.clone(),
            linked_rule_count: definition.linked_rules.len(),
            rule: definition,
            version: r.version,
            current: r.current,
            reason: r.reason,
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
            etag: format!("\"v{}\"", r.version),
        })
    }
}

/// An invoice context as the service keeps it (and records it in the audit trail).
#[derive(Debug, Clone, Serialize)]
pub struct ContextRecord {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// `patient` or `payer`.
    pub party: String,
    /// The payer billed.
    pub payer_code: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl From<ContextRow> for ContextRecord {
    fn from(r: ContextRow) -> Self {
        ContextRecord {
            code: r.code,
            name: r.name,
            party: r.party,
            payer_code: r.payer_code,
            created_at: r.created_at.and_utc(),
        }
    }
}

/// The field checks of the domain plus what only the database knows: the invoice contexts
/// exist. `prefix` is where the rule sits in the body (`rule` in a change).
#[tracing::instrument(skip_all)]
pub fn validate(
    conn: &mut AnyConnection,
    rule: &RuleDefinition,
    prefix: &str,
) -> Result<(), Error> {
    let path = |field: &str| {
        if prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{prefix}.{field}")
        }
    };
    let mut v = Validation::new();
    v.check(&path("code"), "invalid", Code::parse(&rule.code));
    for e in rule.validate().errors() {
        v.add(path(&e.field), &e.code, e.message.clone());
    }
    let known = store::context_codes(conn)?;
    let unknown = |c: &str| !known.iter().any(|k| k == c);
    if unknown(&rule.invoice_context) {
        v.add(
            path("invoice_context"),
            "unknown_context",
            format!("no invoice context `{}`", rule.invoice_context),
        );
    }
    for (i, link) in rule.linked_rules.iter().enumerate() {
        if unknown(&link.context) {
            v.add(
                path(&format!("linked_rules.{i}.context")),
                "unknown_context",
                format!("no invoice context `{}`", link.context),
            );
        }
    }
    v.finish().map_err(Error::validation)
}

/// A rule's current version.
#[tracing::instrument(skip_all, fields(rule = code))]
pub fn current(conn: &mut AnyConnection, code: &str) -> Result<RuleRecord, Error> {
    store::current(conn, code)?
        .ok_or_else(|| Error::not_found("invoicing rule"))?
        .try_into()
}

/// One version of a rule.
#[tracing::instrument(skip_all, fields(rule = code, version))]
pub fn version(conn: &mut AnyConnection, code: &str, version: i32) -> Result<RuleRecord, Error> {
    store::version(conn, code, version)?
        .ok_or_else(|| Error::not_found("rule version"))?
        .try_into()
}

/// Every version of a rule, oldest first.
#[tracing::instrument(skip_all, fields(rule = code))]
pub fn versions(conn: &mut AnyConnection, code: &str) -> Result<Vec<RuleRecord>, Error> {
    let rows = store::versions(conn, code)?;
    if rows.is_empty() {
        return Err(Error::not_found("invoicing rule"));
    }
    rows.into_iter().map(RuleRecord::try_from).collect()
}

/// A page of rules (their current versions) by id.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    f: &RuleFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<RuleRecord>, Error> {
    store::list(conn, f, after, limit)?
        .into_iter()
        .map(RuleRecord::try_from)
        .collect()
}

/// Creates a rule (version 1), in a transaction; the invoice contexts must exist.
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    rule: RuleDefinition,
) -> Result<RuleRecord, Error> {
    conn.transaction(|conn| create_in(conn, who, rule))
}

fn create_in(
    conn: &mut AnyConnection,
    who: &Principal,
    rule: RuleDefinition,
) -> Result<RuleRecord, Error> {
    who.require_unscoped("invoicing rules are organisation-wide")?;
    validate(conn, &rule, "")?;
    store::lock(conn, &rule.code)?;
    if store::exists(conn, &rule.code)? {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!(
                "rule {} exists; change it with PUT /v1/invoicing-rules/{}",
                rule.code, rule.code
            ),
        ));
    }
    store::insert_version(
        conn,
        &who.subject,
        &uuid::Uuid::now_v7().to_string(),
        &rule,
        1,
        None,
    )?;
    let created = current(conn, &rule.code)?;
    audit::record(
        conn,
        who,
        "create",
        "invoicing_rule",
        &rule.code,
        serde_json::json!({ "after": created }),
        None,
    )?;
    Ok(created)
}

/// Changes a rule: a new version with the whole new definition and a reason, when `expected`
/// is the current `ETag` (the same definition again changes nothing); in a transaction.
#[tracing::instrument(skip_all, fields(rule = code))]
pub fn change(
    conn: &mut AnyConnection,
    who: &Principal,
    code: &str,
    expected: Option<String>,
    reason: &str,
    rule: RuleDefinition,
) -> Result<RuleRecord, Error> {
    conn.transaction(|conn| change_in(conn, who, code, expected, reason, rule))
}

fn change_in(
    conn: &mut AnyConnection,
    who: &Principal,
    code: &str,
    expected: Option<String>,
    reason: &str,
    rule: RuleDefinition,
) -> Result<RuleRecord, Error> {
    who.require_unscoped("invoicing rules are organisation-wide")?;
    store::lock(conn, code)?;
    // An unknown rule is a 404 before the precondition is asked for.
    let before = current(conn, code)?;
    let expected = expected.ok_or_else(|| {
        precondition_required("of the rule (from GET /v1/invoicing-rules/{code})")
    })?;
    if !if_match_admits(&expected, &before.etag) {
        return Err(precondition_failed(format!(
            "the rule changed since you read it (now {}); read it again",
            before.etag
        )));
    }
    let mut v = Validation::new();
    let reason = v.text("reason", reason, 500);
    if rule.code != code {
        v.add(
            "rule.code",
            "immutable",
            "a rule keeps its code; create a new rule instead",
        );
    }
    v.finish().map_err(Error::validation)?;
    validate(conn, &rule, "rule")?;
    if rule == before.rule {
        return Ok(before);
    }
    // The new version must not compete with another rule where this one is enabled.
    let locations = store::enabled_locations(conn, code)?;
    for location in &locations {
        refuse_conflicts(conn, location, &rule)?;
    }
    store::retire_current(conn, code)?;
    store::insert_version(
        conn,
        &who.subject,
        &before.id,
        &rule,
        before.version + 1,
        reason.as_deref(),
    )?;
    let after = current(conn, code)?;
    audit::record(
        conn,
        who,
        "update",
        "invoicing_rule",
        code,
        serde_json::json!({ "before": before, "after": after }),
        reason.as_deref(),
    )?;
    Ok(after)
}

/// Every invoice context, by code.
#[tracing::instrument(skip_all)]
pub fn contexts(conn: &mut AnyConnection) -> Result<Vec<ContextRecord>, Error> {
    Ok(store::contexts(conn)?
        .into_iter()
        .map(ContextRecord::from)
        .collect())
}

/// Adds an invoice context (codes checked by the caller), in a transaction.
#[tracing::instrument(skip_all)]
pub fn create_context(
    conn: &mut AnyConnection,
    who: &Principal,
    code: &Code,
    name: &str,
    party: &str,
    payer: Option<&Code>,
) -> Result<ContextRecord, Error> {
    conn.transaction(|conn| {
        who.require_unscoped("invoice contexts are organisation-wide")?;
        if store::context(conn, code.as_str())?.is_some() {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("invoice context {code} exists"),
            ));
        }
        store::insert_context(conn, code.as_str(), name, party, payer.map(Code::as_str))?;
        let created = ContextRecord::from(
            store::context(conn, code.as_str())?
                .ok_or_else(|| Error::internal(&"a context stored but not found"))?,
        );
        audit::record(
            conn,
            who,
            "create",
            "invoice_context",
            code.as_str(),
            serde_json::json!({ "after": created }),
            None,
        )?;
        Ok(created)
    })
}

/// The activation matrix in the caller's scope (of one location, of one rule).
#[tracing::instrument(skip_all)]
pub fn activations(
    conn: &mut AnyConnection,
    scope: &Scope,
    location: Option<&str>,
    rule: Option<&str>,
) -> Result<Vec<ActivationRow>, Error> {
    store::activations(conn, scope, location, rule)
}

/// Refuses to enable `rule` at `location` when another rule enabled there bills the same slot
/// (beneficiary kind, context, source, service group, object type) on common days.
fn refuse_conflicts(
    conn: &mut AnyConnection,
    location: &str,
    rule: &RuleDefinition,
) -> Result<(), Error> {
    let enabled = store::enabled_rules_at(conn, location, &rule.code)?;
    for other in store::current_definitions(conn, &enabled)? {
        if !carebill_domain::billing::conflicts(&[rule.clone(), other.clone()]).is_empty() {
            return Err(Error::new(
                ErrorCode::ConflictingRules,
                format!(
                    "rule {} is enabled at {location} for the same beneficiary kind, context, source, service group and object type on common days; disable it there or change the dates first",
                    other.code
                ),
            ));
        }
    }
    Ok(())
}

/// Enables or disables a rule at a location (in the caller's scope), in a transaction.
#[tracing::instrument(skip_all, fields(location, rule))]
pub fn set_activation(
    conn: &mut AnyConnection,
    who: &Principal,
    location: &str,
    rule: &str,
    enabled: bool,
) -> Result<ActivationRow, Error> {
    // A user limited to some locations may switch rules at those locations only.
    if !Scope::of(who).allows_location(location) {
        return Err(Error::forbidden(format!(
            "your token does not cover location {location}"
        )));
    }
    conn.transaction(|conn| {
        let this = current(conn, rule)?;
        if enabled {
            refuse_conflicts(conn, location, &this.rule)?;
        }
        let before = store::activation_enabled(conn, location, rule)?;
        store::put_activation(
            conn,
            location,
            rule,
            enabled,
            &who.subject,
            before.is_some(),
        )?;
        audit::record(
            conn,
            who,
            if enabled { "enable" } else { "disable" },
            "invoicing_rule_activation",
            &format!("{location}/{rule}"),
            serde_json::json!({ "before": before, "after": enabled }),
            None,
        )?;
        store::activation(conn, location, rule)
    })
}
