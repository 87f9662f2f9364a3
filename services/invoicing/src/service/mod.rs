//! The invoicing use cases, each on a connection or inside the caller's transaction: reading
//! documents in a caller's scope ([`documents`]), issuing invoices on an approval
//! ([`issuing`]), cancelling an invoice with a credit note ([`credit_notes`]) and reading the
//! audit trail ([`audit_trail`]), rendering a document as an EN 16931 e-invoice
//! ([`e_invoices`]), batching documents for collections ([`batches`]) and the VAT rules of
//! each country ([`tax_rules`]). They decide, audit and announce; [`crate::store`] keeps.
//!
//! Arrows: `batches` → `e_invoices`; `credit_notes` → `documents`; `e_invoices` → `documents`;
//! `e_billings` → `claim_check`, `claim_corrections`, `claimable`; `claimable` →
//! `claim_corrections`; `claim_check` → `claim_corrections`, `claim_facts`, `e_billing_settings`;
//! `issuing` → `tax_rules`; `agency_issuing` (a care agency's invoices, seed 004) → `issuing`,
//! `tax_rules`, `deliveries`; `documents`, `tax_rules` and `audit_trail` use only the store.

pub(crate) mod agency_commissions;
pub(crate) mod agency_issuing;
pub(crate) mod audit_trail;
pub(crate) mod batches;
pub(crate) mod claim_check;
pub(crate) mod claim_corrections;
pub(crate) mod claim_facts;
pub(crate) mod claimable;
pub(crate) mod credit_notes;
pub(crate) mod deliveries;
pub(crate) mod documents;
pub(crate) mod e_billing_files;
pub(crate) mod e_billing_responses;
pub(crate) mod e_billing_settings;
pub(crate) mod e_billings;
pub(crate) mod e_invoices;
pub(crate) mod issuing;
pub(crate) mod layouts;
pub(crate) mod printing;
pub(crate) mod reports;
pub(crate) mod tax_rules;
