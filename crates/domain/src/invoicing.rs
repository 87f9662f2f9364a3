//! Invoicing: building invoices from approved settlements and cancelling them with credit notes.
//! Pure; no I/O.
