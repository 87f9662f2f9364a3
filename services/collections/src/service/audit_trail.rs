//! Reading the collections audit trail: payments recorded and allocated (organisation-wide) and
//! receivables created, allocated to and cancelled (per location). A reader limited to some
//! locations sees only its locations' receivable entries; a payer-limited reader sees none.

use carebill_platform::Error;
use carebill_platform::audit::{self, AuditEvent, AuditFilter};
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};

use crate::store::receivables;

/// A page of the audit events in the caller's locations matching `filter`, oldest first.
#[tracing::instrument(skip_all)]
pub(crate) fn events(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, Error> {
    audit::list_in_scope(conn, scope, filter, page, |conn, codes| {
        receivables::location_ids(conn, codes)
    })
}
