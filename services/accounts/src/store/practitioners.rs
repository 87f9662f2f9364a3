//! The `practitioners` table and `practitioner_identifiers`, which keeps each identifier unique
//! across practitioners.

use carebill_domain::ids::PractitionerId;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{practitioner_identifiers, practitioners};
use crate::store::{StoredIdentifier, read_json};

/// A practitioner as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = practitioners)]
pub struct PractitionerRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: PractitionerId,
    /// Unique code.
    pub code: String,
    /// `person` or `organization`.
    pub kind: String,
    /// Family name, or the organisation's name.
    pub family_name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Suffix.
    pub suffix: Option<String>,
    /// Credentials.
    pub credentials: Option<String>,
    /// NPI, unique.
    pub npi: Option<String>,
    /// Taxonomy code.
    pub taxonomy: Option<String>,
    /// Specialty in words.
    pub specialty: Option<String>,
    /// First active day.
    pub active_from: Option<NaiveDate>,
    /// Last active day.
    pub active_to: Option<NaiveDate>,
    /// Identifiers, JSON.
    pub identifiers: String,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

impl PractitionerRow {
    /// The stored identifiers.
    pub fn identifiers(&self) -> Result<Vec<StoredIdentifier>, Error> {
        read_json("practitioner identifiers", &self.identifiers)
    }
}

/// What a replace changes (everything but the id, the code and the creation time).
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = practitioners, treat_none_as_null = true)]
pub struct PractitionerChanges {
    /// Kind.
    pub kind: String,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Middle name.
    pub middle_name: Option<String>,
    /// Suffix.
    pub suffix: Option<String>,
    /// Credentials.
    pub credentials: Option<String>,
    /// NPI.
    pub npi: Option<String>,
    /// Taxonomy.
    pub taxonomy: Option<String>,
    /// Specialty.
    pub specialty: Option<String>,
    /// First active day.
    pub active_from: Option<NaiveDate>,
    /// Last active day.
    pub active_to: Option<NaiveDate>,
    /// Identifiers JSON.
    pub identifiers: String,
    /// Now.
    pub updated_at: NaiveDateTime,
}

/// Filters of the practitioner list.
#[derive(Debug, Clone, Default)]
pub struct PractitionerFilter {
    /// With this code.
    pub code: Option<String>,
    /// With this NPI.
    pub npi: Option<String>,
    /// Holding this identifier (`system`, `value`).
    pub identifier: Option<(String, String)>,
    /// Active on this day.
    pub active_on: Option<NaiveDate>,
}

/// The practitioner with this id.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<PractitionerRow>, Error> {
    Ok(practitioners::table
        .find(id)
        .select(PractitionerRow::as_select())
        .first(conn)
        .optional()?)
}

/// The id of the practitioner with this code, if any.
pub fn with_code(conn: &mut AnyConnection, code: &str) -> Result<Option<String>, Error> {
    Ok(practitioners::table
        .filter(practitioners::code.eq(code))
        .select(practitioners::id)
        .first(conn)
        .optional()?)
}

/// The id of the practitioner with this NPI, if any.
pub fn with_npi(conn: &mut AnyConnection, npi: &str) -> Result<Option<String>, Error> {
    Ok(practitioners::table
        .filter(practitioners::npi.eq(npi))
        .select(practitioners::id)
        .first(conn)
        .optional()?)
}

/// Inserts a practitioner.
pub fn insert(conn: &mut AnyConnection, row: PractitionerRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, practitioners::table, vec![row]);
    Ok(())
}

/// Updates a practitioner.
pub fn update(
    conn: &mut AnyConnection,
    id: &str,
    changes: &PractitionerChanges,
) -> Result<(), Error> {
    diesel::update(practitioners::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// The practitioner holding an identifier, if any.
pub fn identifier_owner(
    conn: &mut AnyConnection,
    system: &str,
    value: &str,
) -> Result<Option<String>, Error> {
    Ok(practitioner_identifiers::table
        .find((system, value))
        .select(practitioner_identifiers::practitioner_id)
        .first(conn)
        .optional()?)
}

/// Records that `practitioner_id` holds an identifier.
pub fn insert_identifier(
    conn: &mut AnyConnection,
    practitioner_id: &str,
    system: &str,
    value: &str,
) -> Result<(), Error> {
    diesel::insert_into(practitioner_identifiers::table)
        .values((
            practitioner_identifiers::system.eq(system),
            practitioner_identifiers::value.eq(value),
            practitioner_identifiers::practitioner_id.eq(practitioner_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Releases every identifier of a practitioner.
pub fn delete_identifiers(conn: &mut AnyConnection, practitioner_id: &str) -> Result<(), Error> {
    diesel::delete(
        practitioner_identifiers::table
            .filter(practitioner_identifiers::practitioner_id.eq(practitioner_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// A page of practitioners, by id.
pub fn page(
    conn: &mut AnyConnection,
    f: &PractitionerFilter,
    page: &PageRequest,
) -> Result<Vec<PractitionerRow>, Error> {
    let mut q = practitioners::table
        .select(PractitionerRow::as_select())
        .into_boxed();
    if let Some((system, value)) = &f.identifier {
        let owner: Vec<String> = practitioner_identifiers::table
            .filter(practitioner_identifiers::system.eq(system))
            .filter(practitioner_identifiers::value.eq(value))
            .select(practitioner_identifiers::practitioner_id)
            .load(conn)?;
        q = q.filter(practitioners::id.eq_any(owner));
    }
    if let Some(c) = &f.code {
        q = q.filter(practitioners::code.eq(c.clone()));
    }
    if let Some(n) = &f.npi {
        q = q.filter(practitioners::npi.eq(n.clone()));
    }
    if let Some(day) = f.active_on {
        q = q
            .filter(
                practitioners::active_from
                    .is_null()
                    .or(practitioners::active_from.le(day)),
            )
            .filter(
                practitioners::active_to
                    .is_null()
                    .or(practitioners::active_to.ge(day)),
            );
    }
    if let Some(after) = &page.after {
        q = q.filter(practitioners::id.gt(after.clone()));
    }
    Ok(q.order(practitioners::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
