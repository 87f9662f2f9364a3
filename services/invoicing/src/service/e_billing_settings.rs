//! Each payer's e-billing settings: how its claims are addressed and what it requires. Changed
//! as a whole behind `If-Match`, each change a new version; the e-billing check and the files
//! read the current one.

use carebill_domain::e_billing::EBillingSettings;
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{precondition_failed, precondition_required};
use carebill_platform::{Error, audit};
use chrono::{DateTime, Utc};

use crate::store::e_billing_settings::{self as store, SettingsRow};

/// One version of a payer's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// The payer's code.
    pub payer_code: String,
    /// Its version.
    pub version: i64,
    /// The settings.
    pub settings: EBillingSettings,
    /// Who set them.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Settings {
    fn of(row: SettingsRow) -> Result<Settings, Error> {
        Ok(Settings {
            settings: carebill_domain::stored::json("e-billing settings", &row.data)
                .map_err(Error::from)?,
            payer_code: row.payer_code,
            version: row.version,
            created_by: row.created_by,
            created_at: row.created_at.and_utc(),
        })
    }

    /// The ETag to send as `If-Match` to change them.
    pub(crate) fn etag(&self) -> String {
        format!("\"v{}\"", self.version)
    }
}

/// What a `PUT` did.
#[derive(Debug, Clone)]
pub(crate) enum Put {
    /// The first version.
    Created(Settings),
    /// A new version.
    Changed(Settings),
    /// The same settings again: nothing changed.
    Same(Settings),
}

/// The current settings of a payer; 404 without any.
pub(crate) fn get(conn: &mut AnyConnection, payer_code: &str) -> Result<Settings, Error> {
    store::current(conn, payer_code)?
        .map(Settings::of)
        .transpose()?
        .ok_or_else(|| Error::not_found("e-billing settings"))
}

/// Every version of a payer's settings, the newest first; 404 without any.
pub(crate) fn versions(conn: &mut AnyConnection, payer_code: &str) -> Result<Vec<Settings>, Error> {
    let rows = store::versions(conn, payer_code)?;
    if rows.is_empty() {
        return Err(Error::not_found("e-billing settings"));
    }
    rows.into_iter().map(Settings::of).collect()
}

/// The current settings of every payer that has some.
pub(crate) fn list(conn: &mut AnyConnection) -> Result<Vec<Settings>, Error> {
    store::all_current(conn)?
        .into_iter()
        .map(Settings::of)
        .collect()
}

/// Sets a payer's settings: the first version without `If-Match` (or with `"v0"`), a change
/// with the current version's; the same settings again change nothing. Audited.
pub(crate) fn put(
    conn: &mut AnyConnection,
    who: &Principal,
    payer_code: &str,
    settings: EBillingSettings,
    if_match: Option<i64>,
) -> Result<Put, Error> {
    db::lock_key(conn, &format!("e_billing_settings:{payer_code}"))?;
    let current = store::current(conn, payer_code)?
        .map(Settings::of)
        .transpose()?;
    let version = match (&current, if_match) {
        (None, None | Some(0)) => 1,
        (None, Some(_)) => {
            return Err(precondition_failed(format!(
                "payer {payer_code} has no e-billing settings yet; send none or \"v0\""
            )));
        }
        (Some(_), None) => {
            return Err(precondition_required(
                "of the settings (GET /v1/e-billing-settings/{payer_code})",
            ));
        }
        (Some(c), Some(v)) if v != c.version => {
            return Err(precondition_failed(format!(
                "the settings are at version {}, not {v}",
                c.version
            )));
        }
        (Some(c), Some(_)) if c.settings == settings => return Ok(Put::Same(c.clone())),
        (Some(c), Some(_)) => c.version + 1,
    };
    let data = serde_json::to_string(&settings)?;
    let row = SettingsRow {
        payer_code: payer_code.to_owned(),
        version,
        data,
        created_by: who.subject.clone(),
        created_at: db::now(),
    };
    store::insert(conn, row.clone())?;
    audit::record(
        conn,
        who,
        if version == 1 { "create" } else { "update" },
        "e_billing_settings",
        payer_code,
        serde_json::json!({"version": version, "settings": settings}),
        None,
    )?;
    let stored = Settings::of(row)?;
    Ok(if version == 1 {
        Put::Created(stored)
    } else {
        Put::Changed(stored)
    })
}
