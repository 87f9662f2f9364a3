//! The collections audit trail over HTTP ([`crate::service::audit_trail`]).

use actix_web::web;
use carebill_platform::Error;
use carebill_platform::audit::{AuditEvent, AuditFilter};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::http::{Page, PageParams};

use super::AUDIT_READERS;
use crate::CollectionsState;
use crate::service::audit_trail;

/// Read who changed what in collections, when and why.
#[utoipa::path(get, path = "/v1/collections/audit-events", tag = "audit", operation_id = "list_collections_audit_events", params(AuditFilter, PageParams),
    responses((status = 200, description = "A page of audit events, oldest first", body = Page<AuditEvent>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_audit_events(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<AuditFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<AuditEvent>>, Error> {
    who.require(AUDIT_READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| audit_trail::events(conn, &scope, &filter, &page))
            .await?,
    ))
}
