//! `e_billing_settings`: each payer's e-billing settings, one row per version.

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::e_billing_settings;

/// A stored version.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = e_billing_settings)]
pub(crate) struct SettingsRow {
    /// The payer's code.
    pub payer_code: String,
    /// 1 for the first, one more for each change.
    pub version: i64,
    /// The settings, JSON (the domain's `EBillingSettings`).
    pub data: String,
    /// Who set them.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
}

/// The current version of a payer's settings.
pub(crate) fn current(
    conn: &mut AnyConnection,
    payer_code: &str,
) -> Result<Option<SettingsRow>, Error> {
    Ok(e_billing_settings::table
        .filter(e_billing_settings::payer_code.eq(payer_code))
        .order(e_billing_settings::version.desc())
        .select(SettingsRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every version of a payer's settings, the newest first.
pub(crate) fn versions(
    conn: &mut AnyConnection,
    payer_code: &str,
) -> Result<Vec<SettingsRow>, Error> {
    Ok(e_billing_settings::table
        .filter(e_billing_settings::payer_code.eq(payer_code))
        .order(e_billing_settings::version.desc())
        .select(SettingsRow::as_select())
        .load(conn)?)
}

/// The current settings of every payer that has some, by payer code.
pub(crate) fn all_current(conn: &mut AnyConnection) -> Result<Vec<SettingsRow>, Error> {
    let rows: Vec<SettingsRow> = e_billing_settings::table
        .order((
            e_billing_settings::payer_code.asc(),
            e_billing_settings::version.desc(),
        ))
        .select(SettingsRow::as_select())
        .load(conn)?;
    let mut out: Vec<SettingsRow> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|l| l.payer_code != r.payer_code) {
            out.push(r);
        }
    }
    Ok(out)
}

/// Stores a new version.
pub(crate) fn insert(conn: &mut AnyConnection, row: SettingsRow) -> Result<(), Error> {
    diesel::insert_into(e_billing_settings::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}
