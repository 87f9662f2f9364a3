//! The collections database: typed rows and the queries over them, and the locks the use cases
//! take. No business decision is made here: the use cases one layer up make them.
//!
//! Lock order everywhere: an invoice's key, then a payment link, then receivables (in id
//! order), then payments (in id order), then payment plans. A batch's key is taken alone: a
//! batch's documents are kept beside the receivables, never written into them.

pub(crate) mod adjustments;
pub(crate) mod aging;
pub(crate) mod allocations;
pub(crate) mod balances;
pub(crate) mod bank_statements;
pub(crate) mod batches;
pub(crate) mod disputes;
pub(crate) mod dso;
pub(crate) mod early_credit_notes;
pub(crate) mod history;
pub(crate) mod partial_credit_notes;
pub(crate) mod payment_links;
pub(crate) mod payments;
pub(crate) mod plans;
pub(crate) mod receivables;
pub(crate) mod refunds;
pub(crate) mod reminders;
pub(crate) mod tenders;
pub(crate) mod write_offs;

use carebill_platform::db::AnyConnection;

/// The backend of [`AnyConnection`], for boxed expressions.
pub(crate) type Backend = <AnyConnection as diesel::Connection>::Backend;
