//! The collections use cases, each on a connection or inside the caller's transaction:
//! receivables kept from invoicing's events and read with their history ([`receivables`]),
//! payments recorded and allocated ([`payments`]), a party's balance ([`balances`]), the
//! batches invoicing sent and how far they are collected ([`batches`]) and the audit trail
//! ([`audit_trail`]). They decide, audit and announce; [`crate::store`] keeps.
//!
//! Arrows: `balances` → `payments`; `batches`, `payments`, `write_offs` and `aging` →
//! `receivables` (the event actor, money, the write-off record); the others use only the
//! store. Write-offs and their thresholds are [`write_offs`]; the aging report is [`aging`].
//! Online payment links and their webhooks are [`payment_links`] → `payments` (a paid link
//! records its payment through the payment use case) and `receivables` (money).
//! Payment plans are [`plans`] (`payments` → `plans` → `receivables`: an allocation evaluates
//! the plans of its receivables); disputes ([`disputes`]) and adjustments ([`adjustments`]) →
//! `receivables` (the record types a receivable is read with); days sales outstanding is
//! [`dso`].

pub(crate) mod adjustments;
pub(crate) mod aging;
pub(crate) mod audit_trail;
pub(crate) mod balances;
pub(crate) mod bank_statements;
pub(crate) mod batches;
pub(crate) mod dashboard;
pub(crate) mod disputes;
pub(crate) mod dso;
pub(crate) mod history;
pub(crate) mod payment_links;
pub(crate) mod payments;
pub(crate) mod plans;
pub(crate) mod receivables;
pub(crate) mod reminders;
pub(crate) mod remittances;
pub(crate) mod reports;
pub(crate) mod write_offs;
