//! The invoicing HTTP API: handlers and their request and response types. Each handler
//! authorises, parses, calls one use case in [`crate::service`] on a connection, and shows the
//! result as its API type.

pub(crate) mod audit_trail;
pub(crate) mod credit_notes;
pub(crate) mod documents;
pub(crate) mod invoices;

use carebill_platform::auth::Role;

/// Roles that may read invoices and credit notes (admin always may).
pub(crate) const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Payer,
];

/// Roles that may issue credit notes (admin always may).
pub(crate) const CREDITORS: &[Role] = &[Role::BillingManager];

/// Roles that may read the audit trail (admin always may); payers' portal users may not.
pub(crate) const AUDIT_READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
];

/// Shows each item of a page as its API type.
pub(crate) fn show_page<T, U>(
    page: carebill_platform::http::Page<T>,
    show: impl Fn(&T) -> Result<U, carebill_platform::Error>,
) -> Result<carebill_platform::http::Page<U>, carebill_platform::Error> {
    Ok(carebill_platform::http::Page {
        items: page.items.iter().map(show).collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    })
}
