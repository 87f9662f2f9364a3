//! Reading stored values back into domain types.
//!
//! Storage keeps ids and enums as text and money as integer minor units (both backends share
//! those column types). A store row declares the domain type and how it is kept, and diesel
//! converts on load and insert:
//!
//! ```ignore
//! #[derive(Queryable, Selectable, Insertable)]
//! #[diesel(table_name = invoices)]
//! struct InvoiceRow {
//!     #[diesel(deserialize_as = String, serialize_as = String)]
//!     id: InvoiceId,
//!     #[diesel(deserialize_as = String, serialize_as = String)]
//!     status: InvoiceStatus,
//!     #[diesel(deserialize_as = String, serialize_as = String)]
//!     currency: Currency,
//!     #[diesel(deserialize_as = i64, serialize_as = i64)]
//!     total: MinorUnits,
//! }
//! ```
//!
//! A value that does not read back is an [`Unreadable`] error naming what it is and the value:
//! never a default.

/// A stored value that cannot be read back: a bug or a damaged row, never bad input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored {what} `{value}` cannot be read: {why}")]
pub struct Unreadable {
    /// What the value is (`invoice id`, `invoice status`).
    pub what: &'static str,
    /// The stored text.
    pub value: String,
    /// Why it does not read.
    pub why: String,
}

impl Unreadable {
    /// The error for `value`, stored as `what`.
    pub fn new(what: &'static str, value: impl Into<String>, why: impl std::fmt::Display) -> Self {
        Unreadable {
            what,
            value: value.into(),
            why: why.to_string(),
        }
    }
}

/// Parses a stored text as `T`, naming it in the error.
pub fn parse<T: std::str::FromStr>(what: &'static str, value: &str) -> Result<T, Unreadable>
where
    T::Err: std::fmt::Display,
{
    value.parse().map_err(|e| Unreadable::new(what, value, e))
}

/// Reads a JSON-in-TEXT column, naming it in the error.
pub fn json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    value: &str,
) -> Result<T, Unreadable> {
    serde_json::from_str(value).map_err(|e| Unreadable::new(what, value, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InvoiceId;
    use crate::invoicing::InvoiceStatus;
    use crate::money::MinorUnits;

    #[test]
    fn stored_values_round_trip_and_bad_ones_say_what_they_are() {
        let id = InvoiceId::new();
        let text: String = id.into();
        assert_eq!(InvoiceId::try_from(text), Ok(id));
        let e = InvoiceId::try_from("nope".to_owned()).expect_err("not a uuid");
        assert!(e.to_string().starts_with("stored invoice id `nope`"), "{e}");
        let status: String = InvoiceStatus::Cancelled.into();
        assert_eq!(
            InvoiceStatus::try_from(status),
            Ok(InvoiceStatus::Cancelled)
        );
        let e = InvoiceStatus::try_from("paid".to_owned()).expect_err("not a status");
        assert!(e.to_string().contains("`paid`"), "{e}");
        assert_eq!(i64::from(MinorUnits::from(1250_i64)), 1250);
        let e = json::<Vec<u32>>("rates", "[1,").expect_err("truncated");
        assert_eq!(e.what, "rates");
    }
}
