//! The Carebill suite: composes the services into one process (embedded mode) or runs one of
//! them alone (distributed mode), and offers the CLI commands (`serve`, `token`, `migrate`,
//! `openapi`, `errors`, `event-schemas`). The `carebill` binary is a thin wrapper over [`cli::main`].

pub mod cli;
pub mod event_schemas;
pub mod openapi;
pub mod server;
