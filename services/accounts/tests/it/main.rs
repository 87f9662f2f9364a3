//! The accounts service's one integration-test binary: every scenario runs over HTTP against
//! real databases (SQLite and a throwaway PostgreSQL), through the same middleware, extractors
//! and error mapping as the running suite; one module per resource.

#![expect(clippy::expect_used, reason = "a test fails loudly on any broken step")]

mod common;

mod agency;
mod agency_notices;
mod audit_trail;
mod care_records;
mod claim_facts;
mod consumptions;
mod episode_codings;
mod episodes;
mod locations;
mod payers;
mod practitioners;
