//! The accounts tables: typed rows, queries and locks, one module per resource. Nothing here
//! decides anything: the use cases one layer up do. Values that do not read back (an
//! unknown status, unreadable JSON in a TEXT column) are errors naming what and which value.

pub mod care_record_details;
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

use carebill_platform::Error;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Reads a JSON-in-TEXT column; unreadable content is an error naming the column.
pub fn read_json<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T, Error> {
    carebill_domain::stored::json(what, text).map_err(Error::from)
}

/// Writes a value for a JSON-in-TEXT column.
pub fn write_json<T: Serialize>(what: &str, value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::internal(&format!("{what}: {e}")))
}

/// A postal address as stored (JSON in TEXT): its own type, so that renaming an API field never
/// changes what is stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredAddress {
    /// Street lines.
    #[serde(default)]
    pub lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Region, province or state.
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    pub country: Option<String>,
}

/// How to reach someone, as stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredContact {
    /// Phone number.
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
}

/// An identifier in a namespace, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredIdentifier {
    /// The namespace.
    pub system: String,
    /// The value in that namespace.
    pub value: String,
}

/// An identifier within a scheme (an EAS or ISO 6523 ICD code), as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSchemeId {
    /// The scheme code, e.g. `0088` (GLN).
    pub scheme: String,
    /// The identifier within it.
    pub id: String,
}

/// What an EN 16931 document needs of a seller (a location) or a buyer (a payer), as stored
/// (JSON in the nullable `billing` column; checked when written). Absent parts were not given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredBilling {
    /// Legal name (BT-27 / BT-44).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<String>,
    /// VAT identifier with its country prefix (BT-31 / BT-48).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_id: Option<String>,
    /// Legal registration identifier with its ICD scheme (BT-30 / BT-47).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_registration: Option<StoredSchemeId>,
    /// Electronic address with its EAS scheme (BT-34 / BT-49).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<StoredSchemeId>,
    /// IBAN to pay to (BT-84; locations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    /// BIC of that account (BT-86; locations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic: Option<String>,
    /// Contact e-mail (BT-43; locations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    /// The buyer reference (BT-10) a payer wants on its invoices (payers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_reference: Option<String>,
    /// Payment terms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<StoredPaymentTerms>,
}

/// Payment terms as stored (inside `billing`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPaymentTerms {
    /// Days to pay.
    pub days: u16,
    /// Counted from the end of the invoice's month.
    #[serde(default)]
    pub end_of_month: bool,
    /// The text the document shows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Reads a nullable `billing` column: NULL is a party whose billing data was never given.
pub fn read_billing(what: &'static str, text: Option<&str>) -> Result<StoredBilling, Error> {
    match text {
        Some(json) => read_json(what, json),
        None => Ok(StoredBilling::default()),
    }
}
