//! Pieces every accounts resource uses: addresses, contacts and identifiers as the API shows
//! them, JSON-in-TEXT columns, location scope, and emitting events through the outbox.

use carebill_domain::Validation;
use carebill_domain::events::{Envelope, EventPayload};
use carebill_platform::auth::Principal;
use carebill_platform::db::AnyConnection;
use carebill_platform::events::outbox;
use carebill_platform::{Error, ErrorCode};
use diesel::prelude::*;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::schema::locations;

/// The service name: event source, queue and audit context.
pub const SERVICE: &str = "accounts";

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

/// Serialises a value for a JSON-in-TEXT column.
pub fn to_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

/// Reads a JSON-in-TEXT column, falling back to the default for unreadable content.
pub fn from_text<T: DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}

/// The location ids the caller may see; `None` means every location.
pub fn scoped_location_ids(
    conn: &mut AnyConnection,
    who: &Principal,
) -> Result<Option<Vec<String>>, Error> {
    match &who.locations {
        None => Ok(None),
        Some(codes) => {
            let ids = locations::table
                .filter(locations::code.eq_any(codes))
                .select(locations::id)
                .load::<String>(conn)?;
            Ok(Some(ids))
        }
    }
}

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
