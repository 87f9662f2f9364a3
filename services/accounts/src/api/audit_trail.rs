//! The accounts audit trail over HTTP: who changed what in accounts, when and why.

use actix_web::web;
use carebill_platform::Error;
use carebill_platform::audit::{AuditEvent, AuditFilter};
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::http::{Page, PageParams};

use crate::AccountsState;
use crate::service::audit_trail as service;

/// Read who changed what in accounts, when and why.
#[utoipa::path(get, path = "/v1/accounts/audit-events", tag = "audit", operation_id = "list_accounts_audit_events", params(AuditFilter, PageParams),
    responses((status = 200, description = "A page of audit events, oldest first", body = Page<AuditEvent>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_audit_events(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<AuditFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<AuditEvent>>, Error> {
    who.require(&[Role::BillingManager, Role::Auditor])?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &Scope::of(&who), &filter, &page))
            .await?,
    ))
}
