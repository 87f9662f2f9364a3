//! The business conditions in force (seed 000), compiled once per stored version: what pricing
//! applies to every line; the set's versions read and changed (with `If-Match`, a reason, and
//! every expression compiled before it is stored).

use std::sync::{Arc, Mutex};

use carebill_domain::Validation;
use carebill_domain::conditions::{CompiledSet, ConditionSet};
use carebill_domain::stored::json;
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{if_match_admits, precondition_failed, precondition_required};
use carebill_platform::{Error, audit};
use chrono::{DateTime, Utc};
use diesel::Connection as _;

use crate::store::conditions::{self as store, ConditionSetRow};

/// The compiled set of the latest version (none when there are no conditions), compiled once
/// per version and process (the cache is keyed by the stored definition itself, so processes
/// serving several databases — the tests — never mix them up).
#[tracing::instrument(skip_all)]
pub fn compiled(conn: &mut AnyConnection) -> Result<Option<(i32, Arc<CompiledSet>)>, Error> {
    static CACHE: Mutex<Option<(String, Arc<CompiledSet>)>> = Mutex::new(None);
    let Some((version, definition)) = store::latest_definition(conn)? else {
        return Ok(None);
    };
    if let Ok(cache) = CACHE.lock()
        && let Some((d, set)) = cache.as_ref()
        && *d == definition
    {
        return Ok((!set.is_empty()).then(|| (version, set.clone())));
    }
    let set: ConditionSet = json("condition set", &definition).map_err(Error::from)?;
    let set = Arc::new(set.compile().map_err(|v| {
        Error::internal(&format!(
            "stored condition set v{version} does not compile: {:?}",
            v.errors()
        ))
    })?);
    if let Ok(mut cache) = CACHE.lock() {
        *cache = Some((definition, set.clone()));
    }
    Ok((!set.is_empty()).then_some((version, set)))
}

/// A version number with its compiled set.
pub type Compiled = (i32, Arc<CompiledSet>);

/// A version of the condition set (version 0: none was ever saved).
#[derive(Debug, Clone)]
pub struct ConditionSetRecord {
    /// Version, from 1.
    pub version: i32,
    /// Why it was made.
    pub reason: Option<String>,
    /// Who made it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: Option<DateTime<Utc>>,
    /// The set.
    pub set: ConditionSet,
}

impl ConditionSetRecord {
    /// The version's `ETag`.
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

/// The `ETag` of a version (`"v0"` before the first).
#[tracing::instrument(skip_all)]
pub fn etag(version: i32) -> String {
    format!("\"v{version}\"")
}

impl TryFrom<ConditionSetRow> for ConditionSetRecord {
    type Error = Error;

    fn try_from(r: ConditionSetRow) -> Result<Self, Error> {
        Ok(ConditionSetRecord {
            set: r.set()?,
            version: r.version,
            reason: Some(r.reason),
            created_by: Some(r.created_by),
            created_at: Some(r.created_at.and_utc()),
        })
    }
}

fn empty() -> ConditionSetRecord {
    ConditionSetRecord {
        version: 0,
        reason: None,
        created_by: None,
        created_at: None,
        set: ConditionSet {
            conditions: Vec::new(),
            calendars: std::collections::BTreeMap::new(),
        },
    }
}

/// The latest version (version 0 and no conditions before the first).
#[tracing::instrument(skip_all)]
pub fn latest(conn: &mut AnyConnection) -> Result<ConditionSetRecord, Error> {
    match store::latest(conn)? {
        Some(row) => row.try_into(),
        None => Ok(empty()),
    }
}

/// Every version, oldest first.
#[tracing::instrument(skip_all)]
pub fn versions(conn: &mut AnyConnection) -> Result<Vec<ConditionSetRecord>, Error> {
    store::all(conn)?
        .into_iter()
        .map(ConditionSetRecord::try_from)
        .collect()
}

/// The latest version number and its compiled set (none when empty).
#[tracing::instrument(skip_all)]
pub fn in_force(conn: &mut AnyConnection) -> Result<(i32, Option<Compiled>), Error> {
    let version = latest(conn)?.version;
    Ok((version, compiled(conn)?))
}

/// Replaces the condition set with `set` (a new version; the same set again changes nothing),
/// when `expected` is the current `ETag`, with a reason; in a transaction.
#[tracing::instrument(skip_all)]
pub fn change(
    conn: &mut AnyConnection,
    who: &Principal,
    expected: Option<String>,
    reason: &str,
    set: ConditionSet,
) -> Result<ConditionSetRecord, Error> {
    conn.transaction(|conn| change_in(conn, who, expected, reason, set))
}

fn change_in(
    conn: &mut AnyConnection,
    who: &Principal,
    expected: Option<String>,
    reason: &str,
    set: ConditionSet,
) -> Result<ConditionSetRecord, Error> {
    who.require_unscoped("business conditions are organisation-wide")?;
    store::lock(conn)?;
    let before = latest(conn)?;
    let expected = expected.ok_or_else(|| {
        precondition_required(
            "of the condition set (from GET /v1/business-conditions; \"v0\" before the first)",
        )
    })?;
    if !if_match_admits(&expected, &before.etag()) {
        return Err(precondition_failed(format!(
            "the condition set changed since you read it (now {}); read it again",
            before.etag()
        )));
    }
    let mut v = Validation::new();
    let reason = v.text("reason", reason, 500);
    if let Err(errors) = set.compile() {
        for e in errors.errors() {
            v.add(&e.field, &e.code, e.message.clone());
        }
    }
    v.finish().map_err(Error::validation)?;
    let reason = reason.ok_or_else(|| Error::internal(&"validation passed without a reason"))?;
    if set == before.set && before.version > 0 {
        return Ok(before);
    }
    let version = before.version + 1;
    store::insert(conn, version, &set, &reason, &who.subject, db::now())?;
    let after = latest(conn)?;
    audit::record(
        conn,
        who,
        "update",
        "condition_set",
        &format!("v{version}"),
        serde_json::json!({ "before": before.set, "after": after.set }),
        Some(&reason),
    )?;
    Ok(after)
}
