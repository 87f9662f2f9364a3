//! The settlement service over HTTP: handlers and the request and response types.

pub mod lines;
pub mod settlements;
