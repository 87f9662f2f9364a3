//! The settlement service's one integration-test binary: every scenario runs over HTTP and the
//! service's own event subscription against real databases (SQLite and a throwaway PostgreSQL),
//! one module per resource.

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on any broken step"
)]

mod common;

mod agency;
mod api;
mod assignment;
mod billing_runs;
mod bulk;
mod conditions;
mod coverage;
mod progress;
mod rules;
mod settlements;
