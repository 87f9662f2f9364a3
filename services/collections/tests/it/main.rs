#![expect(clippy::expect_used, reason = "tests")]
//! Collections against real databases: invoicing's events go through the service's own event
//! handler, then payments, receivables and balances over HTTP. Every scenario runs on SQLite and
//! on a throwaway PostgreSQL database.

mod access;
mod agency;
mod aging;
mod bank_statements;
mod batches;
mod common;
mod dashboard;
mod money_in;
mod openapi;
mod payment_links;
mod payments;
mod plans;
mod receivables;
mod reconciliation;
mod reminders;
mod remittances;
