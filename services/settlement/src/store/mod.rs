//! The settlement service's storage: typed rows and their queries, and the locks. No business
//! decisions here; nothing here imports the service or API layers.

pub mod lines;
