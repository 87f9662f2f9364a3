//! The accounts tables: typed rows, queries and locks, one module per resource. Nothing here
//! decides anything: the use cases in `crate::service` do. Values that do not read back (an
//! unknown status, unreadable JSON in a TEXT column) are errors naming what and which value.

pub mod care_record_details;
pub mod care_records;
pub mod catalog;
pub mod consumptions;
pub mod coverages;
pub mod episodes;
pub mod locations;
pub mod patients;
pub mod payers;

use carebill_domain::stored::Unreadable;
use carebill_platform::Error;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A stored value that does not read back, as the platform error (a 500 naming it).
pub fn unreadable(e: Unreadable) -> Error {
    Error::stored(e.what, &e.value, e.why)
}

/// Reads a JSON-in-TEXT column; unreadable content is an error naming the column.
pub fn read_json<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T, Error> {
    carebill_domain::stored::json(what, text).map_err(unreadable)
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
