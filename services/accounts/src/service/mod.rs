//! The accounts use cases, one module per resource: each function takes a connection or a
//! transaction, makes the business decision, writes through `crate::store`, and records the
//! audit trail and the outbox events in the same transaction. Modules call each other in one
//! direction only: consumptions and care records use episodes, coverages, patients, catalog and
//! locations; episodes use coverages, patients and locations; for care agencies, approvals use
//! timesheets, notices, placements, carers and locations, timesheets use notices and
//! placements, notices use placements, carers and locations, placements use carers, patients
//! and payers; nothing calls back up.

pub mod announce;
pub mod approvals;
pub mod audit_trail;
pub mod care_records;
pub mod carers;
pub mod catalog;
pub mod consumptions;
pub mod coverages;
pub mod episode_codings;
pub mod episodes;
pub mod locations;
pub mod notices;
pub mod patients;
pub mod payers;
pub mod placements;
pub mod practitioners;
pub mod timesheets;

use carebill_domain::events::{
    Envelope, EventPayload, PartyBilling, PostalAddressRef, SchemeIdRef,
};
use carebill_domain::invoicing::PaymentTerms;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::events::outbox;
use carebill_platform::{Error, ErrorCode};

/// The stored forms of addresses, contacts and identifiers are the values the use cases take.
pub use crate::store::{
    StoredAddress, StoredBilling, StoredContact, StoredIdentifier, StoredPaymentTerms,
    StoredSchemeId,
};

/// An address as events carry it; none for an empty one.
pub(crate) fn postal_address(address: &StoredAddress) -> Option<PostalAddressRef> {
    (address != &StoredAddress::default()).then(|| PostalAddressRef {
        lines: address.lines.clone(),
        city: address.city.clone(),
        postal_code: address.postal_code.clone(),
        region: address.region.clone(),
        country: address.country.clone(),
    })
}

/// What invoices name a party by, as events carry it: the registered name (else `name`), the
/// party's address and its e-invoicing data. A party without an address carries none.
pub(crate) fn party_billing(
    name: &str,
    address: &StoredAddress,
    billing: &StoredBilling,
) -> PartyBilling {
    let scheme = |s: &StoredSchemeId| SchemeIdRef {
        scheme: s.scheme.clone(),
        id: s.id.clone(),
    };
    let address = postal_address(address);
    PartyBilling {
        // A party that gave no registered name is invoiced under the name it goes by.
        legal_name: match &billing.legal_name {
            Some(registered) => registered.clone(),
            None => name.to_owned(),
        },
        vat_id: billing.vat_id.clone(),
        legal_registration: billing.legal_registration.as_ref().map(scheme),
        endpoint: billing.endpoint.as_ref().map(scheme),
        address,
        contact_email: billing.contact_email.clone(),
        iban: billing.iban.clone(),
        bic: billing.bic.clone(),
        buyer_reference: billing.buyer_reference.clone(),
        payment_terms: billing.payment_terms.as_ref().map(|t| PaymentTerms {
            days: t.days,
            end_of_month: t.end_of_month,
            text: t.text.clone(),
        }),
    }
}

/// The service name: event source, queue and audit context.
pub const SERVICE: &str = "accounts";

/// The event for `payload`, correlated with the caller's request.
pub fn envelope<P: EventPayload>(who: &Principal, payload: &P) -> Result<Envelope, Error> {
    Envelope::new(
        SERVICE,
        payload,
        chrono::Utc::now(),
        who.request_id.clone(),
        who.request_id.clone(),
    )
    .map_err(|e| Error::internal(&e))
}

/// Writes an event for `payload` to the outbox, correlated with the caller's request.
pub fn emit<P: EventPayload>(
    conn: &mut AnyConnection,
    who: &Principal,
    payload: &P,
) -> Result<(), Error> {
    outbox::enqueue(conn, &envelope(who, payload)?)
}

/// Turns a "not found" from a lookup of a referenced record into a 422 on the field that
/// referenced it; any other failure (a database outage) stays what it is.
pub fn unknown_as_field(e: Error, field: &str, code: &str, message: &str) -> Error {
    if e.code() == ErrorCode::NotFound {
        Error::field(field, code, message)
    } else {
        e
    }
}

/// The location codes records with a location code column may have for `scope`: `None` for
/// every location; none at all for a payer- or patient-limited caller (agency records are
/// never addressed to them).
pub(crate) fn location_codes(scope: &Scope) -> Option<Vec<String>> {
    if scope.is_payer_limited() {
        return Some(Vec::new());
    }
    scope.locations.clone()
}

/// The actor the audit trail names for what the service does by itself (notices, links).
pub(crate) fn system() -> Principal {
    Principal::system("system:accounts", None)
}

/// A table that keeps each identifier with one owner (`patient_identifiers`,
/// `practitioner_identifiers`): who holds an identifier, and recording that an owner does.
pub(crate) struct IdentifierTable {
    /// What owns them, for the 409's message (`patient`, `practitioner`).
    pub owner: &'static str,
    /// The owner holding `(system, value)`, if any.
    pub owner_of: fn(&mut AnyConnection, &str, &str) -> Result<Option<String>, Error>,
    /// Records that `owner` holds `(system, value)`.
    pub record: fn(&mut AnyConnection, &str, &str, &str) -> Result<(), Error>,
}

/// Claims `ids` for `owner_id` in `table`, failing with 409 `identifier_taken` when another
/// owner holds one.
pub(crate) fn claim_identifiers(
    conn: &mut AnyConnection,
    table: &IdentifierTable,
    owner_id: &str,
    ids: &[StoredIdentifier],
) -> Result<(), Error> {
    for i in ids {
        match (table.owner_of)(conn, &i.system, &i.value)? {
            Some(other) if other == owner_id => {}
            Some(other) => {
                return Err(Error::new(
                    ErrorCode::IdentifierTaken,
                    format!(
                        "identifier {}|{} belongs to {} {other}",
                        i.system, i.value, table.owner
                    ),
                ));
            }
            None => (table.record)(conn, owner_id, &i.system, &i.value)?,
        }
    }
    Ok(())
}
