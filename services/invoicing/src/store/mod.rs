//! The invoicing database: typed rows and the queries over them, and the locks the use cases
//! take. No business decision is made here: the use cases one layer up make them.

pub(crate) mod agency;
pub(crate) mod batches;
pub(crate) mod billed;
pub(crate) mod claim_facts;
pub(crate) mod claimable;
pub(crate) mod credit_notes;
pub(crate) mod deliveries;
pub(crate) mod e_billing_settings;
pub(crate) mod e_billings;
pub(crate) mod invoices;
pub(crate) mod layouts;
pub(crate) mod lines;
pub(crate) mod reports;
pub(crate) mod series;
pub(crate) mod tax_rules;

use carebill_domain::Money;
use carebill_platform::Error;

/// An amount as stored (integer minor units), refusing what does not fit the column.
pub(crate) fn to_minor(m: &Money) -> Result<i64, Error> {
    m.to_minor()
        .map(|v| v.0)
        .map_err(|e| Error::invalid_event(format!("amount {m}: {e}")))
}
