//! The invoicing audit trail over HTTP: invoices issued, invoices credited, credit notes issued.
//! Every entry belongs to the issuing location; a reader limited to some locations sees only
//! theirs. Payers' portal users do not read the trail.

use actix_web::web;
use carebill_platform::Error;
use carebill_platform::audit::{AuditEvent, AuditFilter};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::http::{Page, PageParams};
use serde::Deserialize;

use super::AUDIT_READERS;
use crate::InvoicingState;
use crate::service::audit_trail;

/// Filters and paging of the audit trail. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Kind of record: `invoice` or `credit_note`.
    pub entity_type: Option<String>,
    /// Id of the record.
    pub entity_id: Option<String>,
    /// Token subject of the actor (`system:invoicing` for invoices issued on an approval).
    pub actor: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Read who issued or cancelled which invoice, when and why.
#[utoipa::path(get, path = "/v1/invoicing/audit-events", tag = "audit", operation_id = "list_invoicing_audit_events", params(AuditQuery),
    responses((status = 200, description = "A page of audit events, oldest first", body = Page<AuditEvent>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_audit_events(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<Page<AuditEvent>>, Error> {
    who.require(AUDIT_READERS)?;
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let filter = AuditFilter {
        entity_type: query.entity_type,
        entity_id: query.entity_id,
        actor: query.actor,
    };
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| audit_trail::events(conn, &scope, &filter, &page))
            .await?,
    ))
}
