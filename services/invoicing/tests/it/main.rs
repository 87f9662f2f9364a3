#![expect(clippy::expect_used, reason = "tests")]
//! Invoicing against real databases: approved settlements are delivered to the service's event
//! handler as the bus would deliver them, and the result is read over HTTP. Every scenario runs
//! on SQLite and on a throwaway PostgreSQL database; numbering under two replicas runs on
//! PostgreSQL.

mod agency;
mod batches;
mod claim_facts;
mod common;
mod credit_notes;
mod deliveries;
mod e_billing;
mod e_invoices;
mod invoices;
mod layouts;
mod openapi;
mod reports;
mod taxes;
