//! The invoicing audit trail over HTTP: invoices issued, invoices credited, credit notes issued.
//! Every entry belongs to the issuing location; a reader limited to some locations sees only
//! theirs. Payers' portal users do not read the trail.

use actix_web::web;
use carebill_platform::ApiError;
use carebill_platform::audit::{self, AuditEvent, AuditFilter};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::http::{Page, PageParams};
use diesel::prelude::*;

use crate::InvoicingState;
use crate::schema::invoices;

/// Read who issued or cancelled which invoice, when and why.
#[utoipa::path(get, path = "/v1/invoicing/audit-events", tag = "audit", operation_id = "list_invoicing_audit_events", params(AuditFilter, PageParams),
    responses((status = 200, description = "A page of audit events, oldest first", body = Page<AuditEvent>)),
    security(("bearer" = [])))]
pub async fn list_audit_events(
    state: web::Data<InvoicingState>,
    who: Principal,
    filter: web::Query<AuditFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<AuditEvent>>, ApiError> {
    who.require(&[
        Role::BillingManager,
        Role::Biller,
        Role::Auditor,
        Role::Collector,
    ])?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| {
                // The location ids behind the caller's location codes, from the documents here.
                let scope = match &who.locations {
                    None => None,
                    Some(codes) => Some(
                        invoices::table
                            .filter(invoices::location_code.eq_any(codes))
                            .select(invoices::location_id)
                            .distinct()
                            .load::<String>(conn)?,
                    ),
                };
                audit::list(conn, &filter, scope, &page)
            })
            .await?,
    ))
}
