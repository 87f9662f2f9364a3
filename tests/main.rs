//! The suite's tests, one binary: the `carebill` binary end to end as a user runs it ([`e2e`]),
//! and the checks that `deploy/`, `k8s/` and the docs say what the code does ([`deploy`]).

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on any broken step"
)]

mod deploy;
mod e2e;
