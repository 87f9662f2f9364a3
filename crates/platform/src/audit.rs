//! The append-only audit trail: who changed what, when, why, under which request.
//!
//! Service functions call [`record`] inside the transaction of the change, so a change and its
//! audit entry commit together. [`list`] reads it back for the API.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::Principal;
use crate::db::AnyConnection;
use crate::error::Error;
use crate::http::{Page, PageRequest};
use crate::schema::audit_log;

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// What was done: `create`, `update`, `void`, `status_change`, ...
    pub action: &'a str,
    /// Kind of record.
    pub entity_type: &'a str,
    /// Its id.
    pub entity_id: &'a str,
    /// The location the record belongs to, for scoped readers; `None` for organisation-wide data.
    pub location_id: Option<&'a str>,
    /// What changed.
    pub changes: Snapshot<'a>,
    /// Why, when a reason was given.
    pub reason: Option<&'a str>,
}

/// What changed, as stored.
#[derive(Debug, Clone)]
pub enum Snapshot<'a> {
    /// Any JSON, typically `{"before": .., "after": ..}`.
    Json(Value),
    /// A created record, already serialised as JSON: stored as `{"after": <it>}`.
    After(&'a str),
}

impl Snapshot<'_> {
    fn to_text(&self) -> String {
        match self {
            Snapshot::Json(v) => v.to_string(),
            Snapshot::After(json) => format!("{{\"after\":{json}}}"),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = audit_log)]
struct NewRow<'a> {
    id: String,
    at: chrono::NaiveDateTime,
    actor: &'a str,
    roles: String,
    action: &'a str,
    entity_type: &'a str,
    entity_id: &'a str,
    changes: String,
    reason: Option<&'a str>,
    request_id: Option<&'a str>,
    location_id: Option<&'a str>,
}

/// Records changes made by `who`, in the caller's transaction (multi-row on PostgreSQL).
pub fn record_many(
    conn: &mut AnyConnection,
    who: &Principal,
    changes: &[Change<'_>],
) -> QueryResult<()> {
    let at = crate::db::now();
    let roles = who.roles_text();
    let rows: Vec<NewRow<'_>> = changes
        .iter()
        .map(|c| NewRow {
            id: uuid::Uuid::now_v7().to_string(),
            at,
            actor: &who.subject,
            roles: roles.clone(),
            action: c.action,
            entity_type: c.entity_type,
            entity_id: c.entity_id,
            changes: c.changes.to_text(),
            reason: c.reason,
            request_id: who.request_id.as_deref(),
            location_id: c.location_id,
        })
        .collect();
    match conn {
        AnyConnection::Postgresql(pg) => {
            for chunk in rows.chunks(1000) {
                diesel::insert_into(audit_log::table)
                    .values(chunk)
                    .execute(pg)?;
            }
        }
        AnyConnection::Sqlite(lite) => {
            for row in &rows {
                diesel::insert_into(audit_log::table)
                    .values(row)
                    .execute(lite)?;
            }
        }
    }
    Ok(())
}

/// Records one change of organisation-wide data.
pub fn record(
    conn: &mut AnyConnection,
    who: &Principal,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    changes: Value,
    reason: Option<&str>,
) -> QueryResult<()> {
    record_many(
        conn,
        who,
        &[Change {
            action,
            entity_type,
            entity_id,
            location_id: None,
            changes: Snapshot::Json(changes),
            reason,
        }],
    )
}

/// Records one change of a record that belongs to a location.
#[expect(
    clippy::too_many_arguments,
    reason = "mirrors record() with the location"
)]
pub fn record_at(
    conn: &mut AnyConnection,
    who: &Principal,
    location_id: &str,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    changes: Value,
    reason: Option<&str>,
) -> QueryResult<()> {
    record_many(
        conn,
        who,
        &[Change {
            action,
            entity_type,
            entity_id,
            location_id: Some(location_id),
            changes: Snapshot::Json(changes),
            reason,
        }],
    )
}

/// One audit entry as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Id (time-ordered).
    pub id: String,
    /// When (UTC).
    pub at: chrono::DateTime<chrono::Utc>,
    /// Who (token subject).
    pub actor: String,
    /// The roles they acted with.
    pub roles: Vec<String>,
    /// What was done: `create`, `update`, `void`, `status_change`, ...
    pub action: String,
    /// Kind of record.
    pub entity_type: String,
    /// Its id.
    pub entity_id: String,
    /// What changed.
    pub changes: Value,
    /// Why, when a reason was given.
    pub reason: Option<String>,
    /// The request that made the change.
    pub request_id: Option<String>,
}

/// Filters for [`list`].
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilter {
    /// Kind of record, e.g. `consumption`.
    pub entity_type: Option<String>,
    /// Id of the record.
    pub entity_id: Option<String>,
    /// Token subject of the actor.
    pub actor: Option<String>,
}

type Row = (
    String,
    NaiveDateTime,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// Lists the audit entries a caller in `scope` may read, oldest first: none for a payer-limited
/// caller (no entry is addressed to a payer), every one for a caller of every location, and for a
/// caller limited to some locations the entries of those locations only (`location_ids` turns the
/// caller's location codes into the ids the service's entries carry). The one rule of every
/// service's audit trail.
pub fn list_in_scope(
    conn: &mut AnyConnection,
    scope: &crate::auth::Scope,
    filter: &AuditFilter,
    page: &PageRequest,
    location_ids: impl FnOnce(&mut AnyConnection, &[String]) -> Result<Vec<String>, Error>,
) -> Result<Page<AuditEvent>, Error> {
    if scope.is_payer_limited() {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let allowed = match &scope.locations {
        None => None,
        Some(codes) => Some(location_ids(conn, codes)?),
    };
    list(conn, filter, allowed, page)
}

/// Lists audit entries, oldest first.
///
/// With `scope` (location ids) only entries of those locations are listed; organisation-wide
/// entries are for unscoped readers.
pub fn list(
    conn: &mut AnyConnection,
    filter: &AuditFilter,
    scope: Option<Vec<String>>,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, Error> {
    let mut q = audit_log::table.into_boxed();
    if let Some(ids) = scope {
        q = q.filter(audit_log::location_id.eq_any(ids));
    }
    if let Some(t) = &filter.entity_type {
        q = q.filter(audit_log::entity_type.eq(t.clone()));
    }
    if let Some(id) = &filter.entity_id {
        q = q.filter(audit_log::entity_id.eq(id.clone()));
    }
    if let Some(a) = &filter.actor {
        q = q.filter(audit_log::actor.eq(a.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(audit_log::id.gt(after.clone()));
    }
    let rows: Vec<Row> = q
        .order(audit_log::id.asc())
        .limit(page.limit + 1)
        .select((
            audit_log::id,
            audit_log::at,
            audit_log::actor,
            audit_log::roles,
            audit_log::action,
            audit_log::entity_type,
            audit_log::entity_id,
            audit_log::changes,
            audit_log::reason,
            audit_log::request_id,
        ))
        .load(conn)?;
    let page = Page::from_rows(rows, page, |r| r.0.clone());
    Ok(page.map(
        |(id, at, actor, roles, action, entity_type, entity_id, changes, reason, request_id)| {
            AuditEvent {
                id,
                at: at.and_utc(),
                actor,
                roles: roles
                    .split(',')
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned)
                    .collect(),
                action,
                entity_type,
                entity_id,
                changes: serde_json::from_str(&changes).unwrap_or(Value::Null),
                reason,
                request_id,
            }
        },
    ))
}
