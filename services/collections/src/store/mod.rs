//! The collections database: typed rows and the queries over them, and the locks the use cases
//! take. No business decision is made here: the use cases one layer up make them.
//!
//! Lock order everywhere: an invoice's key, then a payment link, then receivables (in id
//! order), then payments (in id order), then payment plans. A batch's key is taken alone: a
//! batch's documents are kept beside the receivables, never written into them.
//!
//! Bulk writes (a bank statement's thousands of payments) insert many rows per statement with
//! `insert_rows!` and read many keys per query in [`KEYS_PER_QUERY`] slices.

/// Rows per multi-row `INSERT`: 500 rows of the widest table written so (bank statement
/// entries, 26 columns) bind 13,000 values, under SQLite's limit of 32,766 and PostgreSQL's
/// of 65,535.
pub(crate) const ROWS_PER_INSERT: usize = 500;

/// Keys per `IN (...)` lookup of many keys (a statement's references, invoice numbers): each a
/// bound value, under SQLite's limit of 32,766.
pub(crate) const KEYS_PER_QUERY: usize = 5_000;

/// Statuses stored for receivables that still owe money.
pub(crate) const OWING: [&str; 2] = ["open", "partially_paid"];

/// Inserts `$rows` (a `Vec` of owned insertable rows of `$table`) in multi-row statements of
/// [`ROWS_PER_INSERT`] rows, on either backend. The multi-backend connection writes one row
/// per statement on SQLite when a row has optional columns, so the rows are written on the
/// concrete connection, and their structs store `None` as NULL
/// (`#[diesel(treat_none_as_default_value = false)]`), which SQLite needs for multi-row values.
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut rows = $rows;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min($crate::store::ROWS_PER_INSERT));
            match &mut *$conn {
                carebill_platform::db::AnyConnection::Postgresql(c) => {
                    diesel::insert_into($table).values(rows).execute(c)?;
                }
                carebill_platform::db::AnyConnection::Sqlite(c) => {
                    diesel::insert_into($table).values(rows).execute(c)?;
                }
            }
            rows = rest;
        }
    }};
}

pub(crate) mod adjustments;
pub(crate) mod aging;
pub(crate) mod allocations;
pub(crate) mod balances;
pub(crate) mod bank_statements;
pub(crate) mod batches;
pub(crate) mod dashboard;
pub(crate) mod disputes;
pub(crate) mod dso;
pub(crate) mod early_credit_notes;
pub(crate) mod history;
pub(crate) mod partial_credit_notes;
pub(crate) mod payment_links;
pub(crate) mod payments;
pub(crate) mod plans;
pub(crate) mod receivables;
pub(crate) mod refunds;
pub(crate) mod reminders;
pub(crate) mod remittances;
pub(crate) mod tenders;
pub(crate) mod write_offs;

use carebill_platform::db::AnyConnection;

/// The backend of [`AnyConnection`], for boxed expressions.
pub(crate) type Backend = <AnyConnection as diesel::Connection>::Backend;
