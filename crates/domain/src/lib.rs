//! Carebill's domain: the types and rules every service shares.
//!
//! Nothing here performs I/O or knows about HTTP, SQL or a broker. Values are parsed at the
//! boundary into types that are valid by construction (`Money`, `Currency`, `Code`, typed ids),
//! and event payloads are versioned types that are part of the public contract.

pub mod accounts;
pub mod agency;
pub mod agency_invoices;
pub mod billing;
pub mod claim;
pub mod claim_build;
pub mod claim_codes;
pub mod claim_correction;
pub mod code;
pub mod collections;
pub mod conditions;
pub mod creditor_reference;
pub mod delivery;
pub mod document;
pub mod dunning;
pub mod e_billing;
pub mod events;
pub mod identifiers;
pub mod ids;
pub mod invoicing;
pub mod money;
pub mod pricing;
pub mod rules;
pub mod settlement;
pub mod sources;
pub mod stored;
pub mod validation;

pub use code::Code;
pub use money::{Currency, MinorUnits, Money, MoneyError};
pub use validation::{FieldError, Validation};
