//! Document numbers: one gapless series per location, document kind and year.
//!
//! A number is taken in the transaction that stores the document: the series row is created if
//! missing (`INSERT … ON CONFLICT DO NOTHING`, so two first documents of a year do not collide),
//! locked (`SELECT … FOR UPDATE` on PostgreSQL; SQLite has a single writer), incremented, and
//! committed with the document. A rolled-back transaction gives its number back, so numbers have
//! no gaps, and two replicas on one database never hand out the same one.

use carebill_domain::invoicing::{DocumentKind, document_number};
use carebill_platform::ApiError;
use carebill_platform::db::{self, AnyConnection};
use diesel::prelude::*;

use crate::schema::invoice_series;

/// Takes the next number of the series of `kind` at the location in `year`, e.g.
/// `H1-INV-2026-000001`.
pub fn next_number(
    conn: &mut AnyConnection,
    location_id: &str,
    location_code: &str,
    kind: DocumentKind,
    year: i32,
) -> Result<String, ApiError> {
    let id = format!("{location_id}:{kind}:{year}");
    let new = (
        invoice_series::id.eq(&id),
        invoice_series::location_id.eq(location_id),
        invoice_series::kind.eq(kind.as_str()),
        invoice_series::year.eq(year),
        invoice_series::last_number.eq(0_i64),
    );
    carebill_platform::insert_new!(conn, invoice_series::table, new);
    db::lock_row(conn, "invoice_series", &id)?;
    let last: i64 = invoice_series::table
        .find(&id)
        .select(invoice_series::last_number)
        .first(conn)?;
    let next = last + 1;
    diesel::update(invoice_series::table.find(&id))
        .set(invoice_series::last_number.eq(next))
        .execute(conn)?;
    Ok(document_number(location_code, kind, year, next))
}
