//! The invoicing HTTP API: handlers and their request and response types. Each handler
//! authorises, parses, calls one use case in [`crate::service`] on a connection, and shows the
//! result as its API type.

pub(crate) mod agency_commissions;
pub(crate) mod audit_trail;
pub(crate) mod batches;
pub(crate) mod credit_notes;
pub(crate) mod deliveries;
pub(crate) mod documents;
pub(crate) mod e_billing_settings;
pub(crate) mod e_billings;
pub(crate) mod e_invoices;
pub(crate) mod invoices;
pub(crate) mod layouts;
pub(crate) mod printing;
pub(crate) mod reports;
pub(crate) mod tax_rules;

use carebill_platform::auth::Role;

/// Roles that may read invoices and credit notes (admin always may).
pub(crate) const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Payer,
    Role::Patient,
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

/// Checks an issue-date range of a list's query: plausible days, `issued_from` not after
/// `issued_to`.
pub(crate) fn check_range(
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> Result<(), carebill_platform::Error> {
    check_days(("issued_from", from), ("issued_to", to))
}

/// Checks a range of days of a list's query, each named by its parameter: plausible days, the
/// first not after the second.
pub(crate) fn check_days(
    (from_field, from): (&str, Option<chrono::NaiveDate>),
    (to_field, to): (&str, Option<chrono::NaiveDate>),
) -> Result<(), carebill_platform::Error> {
    let mut v = carebill_domain::Validation::new();
    for (field, day) in [(from_field, from), (to_field, to)] {
        if let Some(d) = day {
            v.check(
                field,
                "out_of_range",
                carebill_domain::accounts::check_date(d),
            );
        }
    }
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        v.add(
            to_field,
            "invalid",
            format!("must not be before {from_field}"),
        );
    }
    v.finish().map_err(carebill_platform::Error::validation)
}
