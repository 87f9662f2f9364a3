//! The settlement service's storage: typed rows and their queries, and the locks. No business
//! decisions here; nothing here imports the service or API layers.

pub mod agency;
pub mod assignment;
pub mod billing_runs;
pub mod care_records;
pub mod conditions;
pub mod lines;
pub mod offers;
pub mod party_billing;
pub mod periodic;
pub mod prices;
pub mod pricing;
pub mod rules;
pub mod settlements;
pub mod terms;

use carebill_platform::Error;

/// A count as stored (INTEGER): beyond `i32::MAX` it cannot be stored, an internal error naming
/// what was counted.
pub fn count(what: &str, n: usize) -> Result<i32, Error> {
    i32::try_from(n)
        .map_err(|_| Error::internal(&format!("{what} ({n}) does not fit in a stored count")))
}
