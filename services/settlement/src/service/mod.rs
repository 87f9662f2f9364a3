//! The settlement service's use cases, on a connection or transaction: the business decisions,
//! audit records and outbox events. They return domain types, their own read models or store
//! rows, never API types, and call one another downward only: `review` and `intake` →
//! `settlements` → `periodic` → `assignment`; `settlements` → `offers`, `conditions`; `intake` →
//! `care_records`, `assignment`; `billing_runs` → `periodic`, `rules`; `prices` and `terms` stand
//! alone. Below them all, `store`.

pub mod agency;
pub mod assignment;
pub mod audit_trail;
pub mod billing_runs;
pub mod care_records;
pub mod conditions;
pub mod intake;
pub mod offers;
pub mod periodic;
pub mod prices;
pub mod progress;
pub mod review;
pub mod rules;
pub mod settlements;
pub mod terms;
