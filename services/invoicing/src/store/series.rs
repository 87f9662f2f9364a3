//! Document number series: one gapless series per location, document kind and year, and one
//! per carer and year for the invoices a care agency self-bills on a carer's behalf (seed 004;
//! the series row's `location_id` then holds the carer's id).
//!
//! A number is taken in the transaction that stores the document: the series row is created if
//! missing (`INSERT … ON CONFLICT DO NOTHING`, so two first documents of a year do not collide),
//! locked (`SELECT … FOR UPDATE` on PostgreSQL; SQLite has a single writer), incremented, and
//! committed with the document. A rolled-back transaction gives its number back, so numbers have
//! no gaps, and two replicas on one database never hand out the same one.

use carebill_domain::ids::{CarerId, LocationId};
use carebill_domain::invoicing::{DocumentKind, document_number};
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use diesel::prelude::*;

use crate::schema::invoice_series;

/// Takes the next number of the series of `kind` at the location in `year`, e.g.
/// `H1-INV-2026-000001`.
pub(crate) fn next_number(
    conn: &mut AnyConnection,
    location_id: LocationId,
    location_code: &str,
    kind: DocumentKind,
    year: i32,
) -> Result<String, Error> {
    let mut numbers = take_numbers(conn, location_id, location_code, kind, year, 1)?;
    numbers
        .pop()
        .ok_or_else(|| Error::internal(&"a series gave no number"))
}

/// Takes the next `n` numbers of the series of `kind` at the location in `year`, in order: one
/// lock and one increment for all of them. The series stays locked until the transaction ends.
pub(crate) fn take_numbers(
    conn: &mut AnyConnection,
    location_id: LocationId,
    location_code: &str,
    kind: DocumentKind,
    year: i32,
    n: usize,
) -> Result<Vec<String>, Error> {
    let id = lock_series(conn, location_id, kind, year)?;
    take(conn, &id, location_code, kind, year, n)
}

/// Takes the next number of a carer's series of `kind` (self-billed invoices or their credit
/// notes) in `year`, e.g. `AG1-C017-SB-2026-000001` for `prefix` `AG1-C017`. The series stays
/// locked until the transaction ends.
pub(crate) fn next_carer_number(
    conn: &mut AnyConnection,
    carer: CarerId,
    prefix: &str,
    kind: DocumentKind,
    year: i32,
) -> Result<String, Error> {
    let id = lock_owned(conn, &carer.to_string(), kind, year)?;
    take(conn, &id, prefix, kind, year, 1)?
        .pop()
        .ok_or_else(|| Error::internal(&"a series gave no number"))
}

fn take(
    conn: &mut AnyConnection,
    id: &str,
    prefix: &str,
    kind: DocumentKind,
    year: i32,
    n: usize,
) -> Result<Vec<String>, Error> {
    let last: i64 = invoice_series::table
        .find(id)
        .select(invoice_series::last_number)
        .first(conn)?;
    let count = i64::try_from(n).map_err(|e| Error::internal(&e))?;
    diesel::update(invoice_series::table.find(id))
        .set(invoice_series::last_number.eq(last + count))
        .execute(conn)?;
    Ok((last + 1..=last + count)
        .map(|k| document_number(prefix, kind, year, k))
        .collect())
}

/// Creates the series of `kind` at the location in `year` if missing and locks it until the
/// transaction ends; returns its id.
pub(crate) fn lock_series(
    conn: &mut AnyConnection,
    location_id: LocationId,
    kind: DocumentKind,
    year: i32,
) -> Result<String, Error> {
    lock_owned(conn, &location_id.to_string(), kind, year)
}

/// Creates a carer's series of `kind` in `year` if missing and locks it until the transaction
/// ends; returns its id.
pub(crate) fn lock_carer_series(
    conn: &mut AnyConnection,
    carer: CarerId,
    kind: DocumentKind,
    year: i32,
) -> Result<String, Error> {
    lock_owned(conn, &carer.to_string(), kind, year)
}

/// Creates the series of `kind` of `owner` (a location's or a carer's id) in `year` if missing
/// and locks it; returns its id.
fn lock_owned(
    conn: &mut AnyConnection,
    owner: &str,
    kind: DocumentKind,
    year: i32,
) -> Result<String, Error> {
    let location_id = owner;
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
    Ok(id)
}
