//! The settlement service over HTTP: handlers and the request and response types.

pub mod assignment;
pub mod audit_trail;
pub mod billing_runs;
pub mod business_conditions;
pub mod coverage_terms;
pub mod invoicing_rules;
pub mod lines;
pub mod offers;
pub mod prices;
pub mod settlements;
