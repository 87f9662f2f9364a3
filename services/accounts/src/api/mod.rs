//! The accounts HTTP API, one module per resource: handlers and the request and response types
//! (with their OpenAPI schemas). A handler authorises first, then parses the body, then calls
//! one `crate::service` function and maps its result to the API type. No SQL here.
//!
//! This module holds the value types several resources show: addresses, contacts and
//! identifiers, and their conversions to and from the stored forms.

pub mod audit_trail;
pub mod care_records;
pub mod catalog;
pub mod consumptions;
pub mod coverages;
pub mod episodes;
pub mod locations;
pub mod patients;
pub mod payers;

use carebill_domain::Validation;
use serde::{Deserialize, Serialize};

use crate::service::{StoredAddress, StoredContact, StoredIdentifier};

/// A postal address. Every part is optional; `country` is ISO 3166-1 alpha-2.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// Street lines.
    #[serde(default)]
    #[schema(example = json!(["Calle Mayor 1"]))]
    pub lines: Vec<String>,
    /// City.
    #[schema(example = "Madrid")]
    pub city: Option<String>,
    /// Postal code.
    #[schema(example = "28013")]
    pub postal_code: Option<String>,
    /// Region, province or state.
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[schema(example = "ES")]
    pub country: Option<String>,
}

impl Address {
    /// Checks lengths and the country code; errors go under `field`.
    pub fn validate(&self, field: &str, v: &mut Validation) {
        if self.lines.len() > 5 {
            v.add(format!("{field}.lines"), "too_many", "at most 5 lines");
        }
        for (i, line) in self.lines.iter().enumerate() {
            if line.chars().count() > 200 {
                v.add(
                    format!("{field}.lines.{i}"),
                    "too_long",
                    "must be at most 200 characters",
                );
            }
        }
        for (name, value) in [
            ("city", &self.city),
            ("postal_code", &self.postal_code),
            ("region", &self.region),
        ] {
            if value.as_ref().is_some_and(|s| s.chars().count() > 100) {
                v.add(
                    format!("{field}.{name}"),
                    "too_long",
                    "must be at most 100 characters",
                );
            }
        }
        if let Some(c) = &self.country
            && (c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            v.add(
                format!("{field}.country"),
                "invalid",
                "must be an ISO 3166-1 alpha-2 code such as ES",
            );
        }
    }
}

/// How to reach someone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    /// Phone number.
    #[schema(example = "+34 600 000 000")]
    pub phone: Option<String>,
    /// E-mail address.
    #[schema(example = "billing@example.org")]
    pub email: Option<String>,
}

impl Contact {
    /// Checks lengths and the shape of the e-mail address.
    pub fn validate(&self, field: &str, v: &mut Validation) {
        if self.phone.as_ref().is_some_and(|p| p.chars().count() > 40) {
            v.add(
                format!("{field}.phone"),
                "too_long",
                "must be at most 40 characters",
            );
        }
        if let Some(e) = &self.email {
            let ok = e.len() <= 254
                && e.split_once('@')
                    .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'));
            if !ok {
                v.add(
                    format!("{field}.email"),
                    "invalid",
                    "must be an e-mail address",
                );
            }
        }
    }
}

/// An identifier in a namespace, e.g. a national id or a hospital MRN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    /// The namespace (`mrn`, `national_id`, `urn:oid:...`).
    #[schema(example = "mrn")]
    pub system: String,
    /// The value in that namespace.
    #[schema(example = "H1-000123")]
    pub value: String,
}

/// Checks a list of identifiers: non-blank, bounded, no duplicate system.
pub fn validate_identifiers(ids: &[Identifier], field: &str, v: &mut Validation) {
    if ids.len() > 10 {
        v.add(field, "too_many", "at most 10 identifiers");
    }
    let mut systems = std::collections::HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        v.text(&format!("{field}.{i}.system"), &id.system, 100);
        v.text(&format!("{field}.{i}.value"), &id.value, 100);
        if !systems.insert(id.system.trim()) {
            v.add(
                format!("{field}.{i}.system"),
                "duplicate",
                "one identifier per system",
            );
        }
    }
}

impl From<Address> for StoredAddress {
    fn from(a: Address) -> Self {
        StoredAddress {
            lines: a.lines,
            city: a.city,
            postal_code: a.postal_code,
            region: a.region,
            country: a.country,
        }
    }
}

impl From<StoredAddress> for Address {
    fn from(a: StoredAddress) -> Self {
        Address {
            lines: a.lines,
            city: a.city,
            postal_code: a.postal_code,
            region: a.region,
            country: a.country,
        }
    }
}

impl From<Contact> for StoredContact {
    fn from(c: Contact) -> Self {
        StoredContact {
            phone: c.phone,
            email: c.email,
        }
    }
}

impl From<StoredContact> for Contact {
    fn from(c: StoredContact) -> Self {
        Contact {
            phone: c.phone,
            email: c.email,
        }
    }
}

impl From<Identifier> for StoredIdentifier {
    fn from(i: Identifier) -> Self {
        StoredIdentifier {
            system: i.system,
            value: i.value,
        }
    }
}

impl From<StoredIdentifier> for Identifier {
    fn from(i: StoredIdentifier) -> Self {
        Identifier {
            system: i.system,
            value: i.value,
        }
    }
}
