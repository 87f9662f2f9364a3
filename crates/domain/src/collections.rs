//! Collections: what is owed on invoices and how payments are applied. Pure; no I/O.
