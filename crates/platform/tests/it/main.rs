//! The platform's integration tests, one binary: the event guarantees against a real RabbitMQ
//! and real databases ([`events`]), and production token verification against an identity
//! provider's keys ([`jwks`]).

#![expect(
    clippy::expect_used,
    clippy::panic,
    reason = "a test fails loudly on any broken step"
)]

mod events;
mod jwks;
