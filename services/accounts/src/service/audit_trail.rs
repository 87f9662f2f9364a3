//! Reading the accounts audit trail: a scoped reader sees the entries of its locations only;
//! organisation-wide entries are for unscoped readers.

use carebill_platform::Error;
use carebill_platform::audit::{self, AuditEvent, AuditFilter};
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};

use crate::store::locations as location_store;

/// A page of the audit entries `scope` may read, oldest first.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, Error> {
    audit::list_in_scope(conn, scope, filter, page, location_store::ids_of)
}
