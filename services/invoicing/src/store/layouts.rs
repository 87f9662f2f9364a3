//! Stored layouts: the layout (its selector and current version) and every version of its
//! definition, and the layouts a document could be rendered with.

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{layout_versions, layouts};

/// A layout: who it is for and its current version.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = layouts)]
pub(crate) struct LayoutRow {
    /// Code (its id).
    pub code: String,
    /// The issuing location's code.
    pub location_code: String,
    /// Only documents to this kind of recipient (`payer`, `patient`).
    pub recipient_kind: Option<String>,
    /// Only documents to this payer.
    pub payer_code: Option<String>,
    /// Only this type of document (`invoice`, `credit_note`).
    pub document_type: Option<String>,
    /// Current version.
    pub version: i64,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// When its current version was made.
    pub updated_at: NaiveDateTime,
}

/// One version of a layout's definition.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = layout_versions)]
pub(crate) struct LayoutVersionRow {
    /// The layout's code.
    pub code: String,
    /// Version, from 1.
    pub version: i64,
    /// The definition as JSON.
    pub definition: String,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// A layout by code.
pub(crate) fn find(conn: &mut AnyConnection, code: &str) -> Result<Option<LayoutRow>, Error> {
    Ok(layouts::table
        .find(code)
        .select(LayoutRow::as_select())
        .first(conn)
        .optional()?)
}

/// A layout by code, locked for a change on PostgreSQL (SQLite writes one at a time).
pub(crate) fn find_for_update(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<LayoutRow>, Error> {
    match conn {
        AnyConnection::Postgresql(pg) => Ok(layouts::table
            .find(code)
            .select(LayoutRow::as_select())
            .for_update()
            .first(pg)
            .optional()?),
        // SQLite serialises writers: the transaction holds the database already.
        AnyConnection::Sqlite(_) => find(conn, code),
    }
}

/// The layout with this selector, if one has it.
pub(crate) fn with_selector(
    conn: &mut AnyConnection,
    row: &LayoutRow,
) -> Result<Option<String>, Error> {
    let mut q = layouts::table
        .filter(layouts::location_code.eq(row.location_code.clone()))
        .select(layouts::code)
        .into_boxed();
    q = match &row.recipient_kind {
        Some(k) => q.filter(layouts::recipient_kind.eq(k.clone())),
        None => q.filter(layouts::recipient_kind.is_null()),
    };
    q = match &row.payer_code {
        Some(p) => q.filter(layouts::payer_code.eq(p.clone())),
        None => q.filter(layouts::payer_code.is_null()),
    };
    q = match &row.document_type {
        Some(t) => q.filter(layouts::document_type.eq(t.clone())),
        None => q.filter(layouts::document_type.is_null()),
    };
    Ok(q.first(conn).optional()?)
}

/// Stores a new layout and its first version.
pub(crate) fn insert(
    conn: &mut AnyConnection,
    row: LayoutRow,
    version: LayoutVersionRow,
) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, layouts::table, vec![row]);
    carebill_platform::insert_rows!(conn, layout_versions::table, vec![version]);
    Ok(())
}

/// Stores a new version and makes it the layout's current one.
pub(crate) fn add_version(
    conn: &mut AnyConnection,
    version: LayoutVersionRow,
) -> Result<(), Error> {
    diesel::update(layouts::table.find(version.code.clone()))
        .set((
            layouts::version.eq(version.version),
            layouts::updated_at.eq(version.created_at),
        ))
        .execute(conn)?;
    carebill_platform::insert_rows!(conn, layout_versions::table, vec![version]);
    Ok(())
}

/// One version of a layout.
pub(crate) fn version(
    conn: &mut AnyConnection,
    code: &str,
    version: i64,
) -> Result<Option<LayoutVersionRow>, Error> {
    Ok(layout_versions::table
        .find((code, version))
        .select(LayoutVersionRow::as_select())
        .first(conn)
        .optional()?)
}

/// The version of a layout that was current at `at` (none if it was made later).
pub(crate) fn version_at(
    conn: &mut AnyConnection,
    code: &str,
    at: NaiveDateTime,
) -> Result<Option<LayoutVersionRow>, Error> {
    Ok(layout_versions::table
        .filter(layout_versions::code.eq(code))
        .filter(layout_versions::created_at.le(at))
        .order(layout_versions::version.desc())
        .select(LayoutVersionRow::as_select())
        .first(conn)
        .optional()?)
}

/// The layouts of a location that existed at `at`, whatever their selector (a location has a
/// handful: the caller picks the most specific that fits).
pub(crate) fn of_location_at(
    conn: &mut AnyConnection,
    location_code: &str,
    at: NaiveDateTime,
) -> Result<Vec<LayoutRow>, Error> {
    Ok(layouts::table
        .filter(layouts::location_code.eq(location_code))
        .filter(layouts::created_at.le(at))
        .select(LayoutRow::as_select())
        .load(conn)?)
}

/// Up to `page.limit + 1` layouts after the page's cursor in code order, of these locations
/// (every one when none are given) and of one location when given.
pub(crate) fn list(
    conn: &mut AnyConnection,
    locations: Option<&[String]>,
    location_code: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<LayoutRow>, Error> {
    let mut q = layouts::table.select(LayoutRow::as_select()).into_boxed();
    if let Some(codes) = locations {
        q = q.filter(layouts::location_code.eq_any(codes.to_vec()));
    }
    if let Some(l) = location_code {
        q = q.filter(layouts::location_code.eq(l.to_owned()));
    }
    if let Some(a) = &page.after {
        q = q.filter(layouts::code.gt(a.clone()));
    }
    Ok(q.order(layouts::code.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
