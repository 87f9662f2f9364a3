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
use crate::error::ApiError;
use crate::http::{Page, PageRequest};
use crate::schema::audit_log;

/// Records one change. `changes` says what changed (typically `{"before": .., "after": ..}`).
pub fn record(
    conn: &mut AnyConnection,
    who: &Principal,
    action: &str,
    entity_type: &str,
    entity_id: &str,
    changes: Value,
    reason: Option<&str>,
) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::id.eq(uuid::Uuid::now_v7().to_string()),
            audit_log::at.eq(crate::db::now()),
            audit_log::actor.eq(&who.subject),
            audit_log::roles.eq(who.roles_text()),
            audit_log::action.eq(action),
            audit_log::entity_type.eq(entity_type),
            audit_log::entity_id.eq(entity_id),
            audit_log::changes.eq(changes.to_string()),
            audit_log::reason.eq(reason),
            audit_log::request_id.eq(who.request_id.as_deref()),
        ))
        .execute(conn)?;
    Ok(())
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

/// Lists audit entries, oldest first.
pub fn list(
    conn: &mut AnyConnection,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, ApiError> {
    let mut q = audit_log::table.into_boxed();
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
