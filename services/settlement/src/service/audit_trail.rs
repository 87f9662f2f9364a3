//! Reading the settlement audit trail: prices, terms, rules and conditions are organisation-wide
//! (only unscoped readers see them); a settlement's workflow and assignment entries belong to its
//! location, and a reader limited to locations sees those of its locations. A payer-limited
//! reader sees none.

use carebill_platform::Error;
use carebill_platform::audit::{self, AuditEvent, AuditFilter};
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};

use crate::store::settlements;

/// A page of the audit events `scope` may read, oldest first.
#[tracing::instrument(skip_all)]
pub fn events(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Page<AuditEvent>, Error> {
    audit::list_in_scope(conn, scope, filter, page, settlements::location_ids)
}
