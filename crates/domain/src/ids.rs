//! Typed identifiers. Every id is a UUIDv7 (time-ordered, so indexes stay compact and cursor
//! pagination by id follows creation order), stored as text on both backends.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `InvoiceId` → `invoice id`, for error messages.
fn id_name(type_name: &'static str) -> &'static str {
    match type_name {
        "LocationId" => "location id",
        "PayerId" => "payer id",
        "PatientId" => "patient id",
        "CoverageId" => "coverage id",
        "EpisodeId" => "episode id",
        "CatalogItemId" => "catalog item id",
        "ConsumptionId" => "consumption id",
        "SettlementId" => "settlement id",
        "InvoiceId" => "invoice id",
        "CreditNoteId" => "credit note id",
        "PaymentId" => "payment id",
        "ReceivableId" => "receivable id",
        "EventId" => "event id",
        "CarerId" => "carer id",
        "PlacementId" => "placement id",
        "TimesheetId" => "timesheet id",
        "HoursId" => "hours id",
        "ApprovalId" => "approval id",
        "PractitionerId" => "practitioner id",
        "EBillingId" => "e-billing id",
        "EBillingClaimId" => "e-billing claim id",
        other => other,
    }
}

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        /// Storage: ids are kept as text.
        impl TryFrom<String> for $name {
            type Error = crate::stored::Unreadable;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Uuid::parse_str(&s)
                    .map(Self)
                    .map_err(|e| crate::stored::Unreadable::new(id_name(stringify!($name)), s, e))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }
    )*};
}

id_type!(
    /// A location (hospital, clinic, care home): issuer of invoices, scope of access.
    LocationId,
    /// A payer: insurer, company or public authority.
    PayerId,
    /// A patient (beneficiary).
    PatientId,
    /// A patient's coverage by a payer.
    CoverageId,
    /// An episode of care, the account consumptions are charged to.
    EpisodeId,
    /// An item of the service catalog.
    CatalogItemId,
    /// A consumption (a service performed, a material used).
    ConsumptionId,
    /// An event's CloudEvents id.
    EventId,
    /// A settlement: an episode's priced lines split between payers and the patient.
    SettlementId,
    /// An invoice.
    InvoiceId,
    /// A credit note.
    CreditNoteId,
    /// A batch of invoices and credit notes.
    BatchId,
    /// A tax rule of a country.
    TaxRuleId,
    /// A receivable: what is owed on one invoice.
    ReceivableId,
    /// A payment received.
    PaymentId,
    /// A freelance carer a care agency places and invoices for.
    CarerId,
    /// A carer placed with a client.
    PlacementId,
    /// A placement's hours of one week or month.
    TimesheetId,
    /// One line of hours a carer registered.
    HoursId,
    /// One decision of a client on submitted hours.
    ApprovalId,
    /// A practitioner of the registry, named on claims.
    PractitionerId,
    /// An e-billing: payer invoices claimed together in one X12 837 file.
    EBillingId,
    /// One claim of an e-billing (one invoice).
    EBillingClaimId,
);
