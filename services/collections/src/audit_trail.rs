//! The collections audit trail over HTTP: payments recorded and allocated (organisation-wide)
//! and receivables created, allocated to and cancelled (per location). A reader limited to
//! some locations sees only its locations' receivable entries.

use actix_web::web;
use carebill_platform::Error;
use carebill_platform::audit::{self, AuditEvent, AuditFilter};
use carebill_platform::auth::Principal;
use carebill_platform::http::{Page, PageParams};
use diesel::prelude::*;

use crate::CollectionsState;
use crate::access::AUDIT_READERS;
use crate::schema::receivables;

/// Read who changed what in collections, when and why.
#[utoipa::path(get, path = "/v1/collections/audit-events", tag = "audit", operation_id = "list_collections_audit_events", params(AuditFilter, PageParams),
    responses((status = 200, description = "A page of audit events, oldest first", body = Page<AuditEvent>)),
    security(("bearer" = [])))]
pub async fn list_audit_events(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<AuditFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<AuditEvent>>, Error> {
    who.require(AUDIT_READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| {
                let scope = match &who.locations {
                    None => None,
                    Some(codes) => Some(
                        receivables::table
                            .filter(receivables::location_code.eq_any(codes))
                            .select(receivables::location_id)
                            .distinct()
                            .load::<String>(conn)?,
                    ),
                };
                audit::list(conn, &filter, scope, &page)
            })
            .await?,
    ))
}
