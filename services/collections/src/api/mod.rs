//! The collections HTTP API: handlers and their request and response types. Each handler
//! authorises, parses, calls one use case in [`crate::service`] on a connection, and shows the
//! result as its API type.
//!
//! Readers: admin, billing_manager, collector, biller, auditor, and payer. A payer's portal user
//! (the `payer` role or a `payer` claim, unless admin: the platform [`Scope`]) sees only
//! receivables, payments, balances and batches of its own payer code (a batch of no payer is
//! no payer's); anything else answers 404. A token limited to some locations sees only those
//! locations' receivables and batches (and only the allocations to them); payments and credit
//! belong to a party, not to a location. Payment links follow their receivable's scope; a
//! link for a party's balance spans locations, so only a reader who sees every location (and
//! a payer's portal user, for its own payer) sees it.
//!
//! One exception to the bearer token: the payment provider's webhook
//! (`POST /v1/payment-webhooks`, [`payment_links`]) is authenticated by its signature.
//!
//! [`Scope`]: carebill_platform::auth::Scope

pub(crate) mod aging;
pub(crate) mod audit_trail;
pub(crate) mod balances;
pub(crate) mod bank_statements;
pub(crate) mod batches;
pub(crate) mod dashboard;
pub(crate) mod disputes;
pub(crate) mod dso;
pub(crate) mod history;
pub(crate) mod payment_links;
pub(crate) mod payments;
pub(crate) mod plans;
pub(crate) mod receivables;
pub(crate) mod reminders;
pub(crate) mod remittances;
pub(crate) mod reports;
pub(crate) mod write_offs;

use carebill_platform::Error;
use carebill_platform::auth::Role;

/// Roles that record and allocate payments, make and cancel payment plans and open and resolve
/// disputes (admin always).
pub(crate) const WRITERS: &[Role] = &[Role::BillingManager, Role::Collector];
/// Roles that write off and adjust receivables and set the small-balance thresholds (admin
/// always).
pub(crate) const MANAGERS: &[Role] = &[Role::BillingManager];
/// Roles that read collections.
pub(crate) const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Collector,
    Role::Biller,
    Role::Auditor,
    Role::Payer,
];
/// Roles that read the audit trail.
pub(crate) const AUDIT_READERS: &[Role] = &[Role::BillingManager, Role::Auditor, Role::Collector];

/// Parses an optional uuid query value, naming the parameter when it is not one.
pub(crate) fn uuid_param(field: &str, value: Option<&str>) -> Result<Option<String>, Error> {
    value
        .map(|v| {
            uuid::Uuid::parse_str(v.trim())
                .map(|u| u.to_string())
                .map_err(|_| Error::field(field, "invalid", "must be a UUID"))
        })
        .transpose()
}
