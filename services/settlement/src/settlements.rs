//! Settlements: an episode's consumptions priced and split between payers and the patient.

use carebill_domain::events::Envelope;
use carebill_platform::ApiError;
use carebill_platform::db::AnyConnection;

/// Applies one event from accounts or invoicing to the settlements.
pub fn apply_event(_conn: &mut AnyConnection, _env: &Envelope) -> Result<(), ApiError> {
    Ok(())
}
