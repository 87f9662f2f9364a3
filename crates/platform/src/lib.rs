//! What every Carebill service stands on.
//!
//! - [`config`]: layered settings (file, environment, flags), secrets that never print.
//! - [`db`]: diesel on PostgreSQL and SQLite from one code base, pools, embedded migrations.
//! - [`http`], [`error`], [`auth`], [`health`], [`metrics`]: the HTTP edge.
//! - [`events`]: bus (RabbitMQ, in-process), transactional outbox and relay, inbox.
//! - [`audit`]: the append-only audit trail.

pub mod audit;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod health;
pub mod http;
pub mod metrics;
pub mod outbound;
pub mod schema;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;

pub use error::{Error, ErrorCode, ErrorKind};
