//! What the reports add up: the lines of the invoices and of the credit notes issued in a
//! period, grouped by a key (service group or type, catalog code, practitioner, location or
//! payer), their currency,
//! unit and quantity, with how many lines and their amount in minor units. Quantities are
//! decimal text, so they are grouped as they are and added up exactly one level up.

use carebill_domain::invoicing::InvoiceStatus;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDate;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

use crate::schema::{credit_notes, document_lines, invoices};

/// What a report reads.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Location codes (none: every location).
    pub locations: Option<Vec<String>>,
    /// A payer's code (none: every payer and the patients).
    pub payer: Option<String>,
}

/// What the lines are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    ServiceGroup,
    ServiceType,
    Code,
    Practitioner,
    Location,
    Payer,
}

/// One group of lines: key (none: no payer), currency, unit, quantity, lines, amount.
pub(crate) type Group = (Option<String>, String, String, String, i64, i64);

/// Groups the lines of documents of `$doc` (invoices or credit notes) issued in the period.
macro_rules! grouped {
    ($conn:expr, $doc:ident, $key:expr, $f:expr) => {
        grouped!($conn, $doc, $key, $f, sql::<Bool>("1 = 1"))
    };
    ($conn:expr, $doc:ident, $key:expr, $f:expr, $also:expr) => {{
        let group = concat!(
            $key,
            ", document_lines.currency, document_lines.unit, document_lines.quantity"
        );
        let mut q = document_lines::table
            .inner_join($doc::table.on($doc::id.eq(document_lines::document_id)))
            .filter($doc::issue_date.ge($f.from))
            .filter($doc::issue_date.le($f.to))
            .group_by(sql::<Text>(group))
            .select((
                sql::<Nullable<Text>>($key),
                sql::<Text>("document_lines.currency"),
                sql::<Text>("document_lines.unit"),
                sql::<Text>("document_lines.quantity"),
                sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
                sql::<BigInt>("CAST(COALESCE(SUM(document_lines.amount_minor), 0) AS BIGINT)"),
            ))
            .into_boxed();
        if let Some(codes) = &$f.locations {
            q = q.filter($doc::location_code.eq_any(codes.clone()));
        }
        if let Some(p) = &$f.payer {
            q = q.filter($doc::payer_code.eq(p.clone()));
        }
        q.filter($also).load::<Group>($conn)?
    }};
}

/// The invoice lines issued in the period, grouped.
pub(crate) fn invoiced(
    conn: &mut AnyConnection,
    f: &Filter,
    key: Key,
) -> Result<Vec<Group>, Error> {
    Ok(match key {
        Key::ServiceGroup => grouped!(conn, invoices, "document_lines.service_group", f),
        Key::ServiceType => grouped!(conn, invoices, "document_lines.service_kind", f),
        Key::Code => grouped!(conn, invoices, "document_lines.code", f),
        Key::Practitioner => grouped!(conn, invoices, "document_lines.performed_by", f),
        Key::Location => grouped!(conn, invoices, "invoices.location_code", f),
        Key::Payer => grouped!(conn, invoices, "invoices.payer_code", f),
    })
}

/// The lines of the invoices issued in the period that stand (not cancelled by a credit note),
/// grouped.
pub(crate) fn standing(
    conn: &mut AnyConnection,
    f: &Filter,
    key: Key,
) -> Result<Vec<Group>, Error> {
    let stands = || invoices::status.ne(InvoiceStatus::Cancelled.as_str());
    Ok(match key {
        Key::ServiceGroup => grouped!(conn, invoices, "document_lines.service_group", f, stands()),
        Key::ServiceType => grouped!(conn, invoices, "document_lines.service_kind", f, stands()),
        Key::Code => grouped!(conn, invoices, "document_lines.code", f, stands()),
        Key::Practitioner => grouped!(conn, invoices, "document_lines.performed_by", f, stands()),
        Key::Location => grouped!(conn, invoices, "invoices.location_code", f, stands()),
        Key::Payer => grouped!(conn, invoices, "invoices.payer_code", f, stands()),
    })
}

/// The credit note lines issued in the period, grouped.
pub(crate) fn credited(
    conn: &mut AnyConnection,
    f: &Filter,
    key: Key,
) -> Result<Vec<Group>, Error> {
    Ok(match key {
        Key::ServiceGroup => grouped!(conn, credit_notes, "document_lines.service_group", f),
        Key::ServiceType => grouped!(conn, credit_notes, "document_lines.service_kind", f),
        Key::Code => grouped!(conn, credit_notes, "document_lines.code", f),
        Key::Practitioner => grouped!(conn, credit_notes, "document_lines.performed_by", f),
        Key::Location => grouped!(conn, credit_notes, "credit_notes.location_code", f),
        Key::Payer => grouped!(conn, credit_notes, "credit_notes.payer_code", f),
    })
}

/// Credit notes issued in the period per reason and currency: how many and their total.
pub(crate) fn credit_reasons(
    conn: &mut AnyConnection,
    f: &Filter,
) -> Result<Vec<(String, String, i64, i64)>, Error> {
    let mut q = credit_notes::table
        .filter(credit_notes::issue_date.ge(f.from))
        .filter(credit_notes::issue_date.le(f.to))
        .group_by((credit_notes::reason, credit_notes::currency))
        .select((
            credit_notes::reason,
            credit_notes::currency,
            sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(total_minor), 0) AS BIGINT)"),
        ))
        .into_boxed();
    if let Some(codes) = &f.locations {
        q = q.filter(credit_notes::location_code.eq_any(codes.clone()));
    }
    if let Some(p) = &f.payer {
        q = q.filter(credit_notes::payer_code.eq(p.clone()));
    }
    Ok(q.load(conn)?)
}

/// Whether an invoice was issued at the location.
pub(crate) fn location_known(conn: &mut AnyConnection, code: &str) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(
        invoices::table.filter(invoices::location_code.eq(code)),
    ))
    .get_result(conn)?)
}

/// Whether an invoice was issued to the payer.
pub(crate) fn payer_known(conn: &mut AnyConnection, code: &str) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(
        invoices::table.filter(invoices::payer_code.eq(code)),
    ))
    .get_result(conn)?)
}
