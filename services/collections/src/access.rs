//! Who may read and write what in collections.
//!
//! Readers: admin, billing_manager, collector, biller, auditor, and payer. A token that reads only
//! as a payer sees only receivables, payments and balances of its own payer code; anything else
//! answers 404. A token limited to some locations sees only those locations' receivables (and
//! only the allocations to them); payments and credit belong to a party, not to a location.

use carebill_platform::auth::{Principal, Role};

/// Roles that record and allocate payments.
pub const WRITERS: &[Role] = &[Role::BillingManager, Role::Collector];
/// Roles that read collections.
pub const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Collector,
    Role::Biller,
    Role::Auditor,
    Role::Payer,
];
/// Roles that read the audit trail.
pub const AUDIT_READERS: &[Role] = &[Role::BillingManager, Role::Auditor, Role::Collector];

/// What a reader is limited to.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// Location codes; `None` means every location.
    pub locations: Option<Vec<String>>,
    /// For a payer-only reader, the payer code whose documents it sees. A payer token without a
    /// payer code sees nothing (an empty code matches no payer).
    pub payer_code: Option<String>,
}

impl Scope {
    /// The scope of `who`.
    pub fn of(who: &Principal) -> Scope {
        let payer_only = who.roles.contains(&Role::Payer)
            && !who.has_any(&[
                Role::BillingManager,
                Role::Collector,
                Role::Biller,
                Role::Auditor,
            ]);
        Scope {
            locations: who.locations.clone(),
            payer_code: payer_only.then(|| who.payer.clone().unwrap_or_default()),
        }
    }

    /// Whether a receivable of this location and payer code is visible.
    pub fn sees_receivable(&self, location_code: &str, payer_code: Option<&str>) -> bool {
        let location_ok = self
            .locations
            .as_ref()
            .is_none_or(|l| l.iter().any(|c| c == location_code));
        let payer_ok = self
            .payer_code
            .as_deref()
            .is_none_or(|p| payer_code == Some(p));
        location_ok && payer_ok
    }
}
