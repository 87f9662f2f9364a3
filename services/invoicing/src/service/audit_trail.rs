//! Reading the invoicing audit trail: every entry belongs to the issuing location, and a reader
//! limited to some locations sees only theirs; a payer-limited reader sees none.

use carebill_platform::Error;
use carebill_platform::audit::{self, AuditEvent, AuditFilter};
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};

use crate::store::invoices;

/// A page of the audit events in the caller's locations matching `filter`, oldest first.
#[tracing::instrument(skip_all)]
pub(crate) fn events(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, Error> {
    // The location ids behind the caller's location codes, from the documents here.
    audit::list_in_scope(conn, scope, filter, page, |conn, codes| {
        invoices::location_ids(conn, codes)
    })
}
