//! The `patients` table and `patient_identifiers`, which keeps each identifier unique across
//! patients.

use carebill_domain::ids::PatientId;
use carebill_domain::stored::Unreadable;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::{patient_identifiers, patients};
use crate::store::{StoredAddress, StoredContact, StoredIdentifier, read_json};

/// Administrative sex, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Unknown.
    Unknown,
}

impl Sex {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

impl TryFrom<String> for Sex {
    type Error = Unreadable;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "female" => Ok(Sex::Female),
            "male" => Ok(Sex::Male),
            "other" => Ok(Sex::Other),
            "unknown" => Ok(Sex::Unknown),
            _ => Err(Unreadable::new(
                "patient sex",
                s,
                "not one of: female, male, other, unknown",
            )),
        }
    }
}

impl From<Sex> for String {
    fn from(s: Sex) -> String {
        s.as_str().to_owned()
    }
}

/// A patient as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = patients)]
pub struct PatientRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: PatientId,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Administrative sex.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub sex: Sex,
    /// Beneficiary kind code.
    pub beneficiary_kind: String,
    /// Flags, JSON.
    pub flags: String,
    /// Identifiers, JSON.
    pub identifiers: String,
    /// Address, JSON.
    pub address: String,
    /// Contact, JSON.
    pub contact: String,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

impl PatientRow {
    /// The stored flags.
    pub fn flags(&self) -> Result<Vec<String>, Error> {
        read_json("patient flags", &self.flags)
    }

    /// The stored identifiers.
    pub fn identifiers(&self) -> Result<Vec<StoredIdentifier>, Error> {
        read_json("patient identifiers", &self.identifiers)
    }

    /// The stored address.
    pub fn address(&self) -> Result<StoredAddress, Error> {
        read_json("patient address", &self.address)
    }

    /// The stored contact.
    pub fn contact(&self) -> Result<StoredContact, Error> {
        read_json("patient contact", &self.contact)
    }
}

/// What a replace changes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = patients, treat_none_as_null = true)]
pub struct PatientChanges {
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Sex, as text.
    pub sex: String,
    /// Beneficiary kind.
    pub beneficiary_kind: String,
    /// Flags JSON.
    pub flags: String,
    /// Identifiers JSON.
    pub identifiers: String,
    /// Address JSON.
    pub address: String,
    /// Contact JSON.
    pub contact: String,
    /// Now.
    pub updated_at: NaiveDateTime,
}

/// Filters of the patient list.
#[derive(Debug, Clone, Default)]
pub struct PatientFilter {
    /// Holding this identifier (`system`, `value`).
    pub identifier: Option<(String, String)>,
    /// Family name (exact).
    pub family_name: Option<String>,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Beneficiary kind code.
    pub beneficiary_kind: Option<String>,
}

/// The patient with this id.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<PatientRow>, Error> {
    Ok(patients::table
        .find(id)
        .select(PatientRow::as_select())
        .first(conn)
        .optional()?)
}

/// Inserts a patient.
pub fn insert(conn: &mut AnyConnection, row: PatientRow) -> Result<(), Error> {
    diesel::insert_into(patients::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Updates a patient.
pub fn update(conn: &mut AnyConnection, id: &str, changes: &PatientChanges) -> Result<(), Error> {
    diesel::update(patients::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// The patient holding an identifier, if any.
pub fn identifier_owner(
    conn: &mut AnyConnection,
    system: &str,
    value: &str,
) -> Result<Option<String>, Error> {
    Ok(patient_identifiers::table
        .find((system, value))
        .select(patient_identifiers::patient_id)
        .first(conn)
        .optional()?)
}

/// Records that `patient_id` holds an identifier.
pub fn insert_identifier(
    conn: &mut AnyConnection,
    patient_id: &str,
    system: &str,
    value: &str,
) -> Result<(), Error> {
    diesel::insert_into(patient_identifiers::table)
        .values((
            patient_identifiers::system.eq(system),
            patient_identifiers::value.eq(value),
            patient_identifiers::patient_id.eq(patient_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Releases every identifier of a patient.
pub fn delete_identifiers(conn: &mut AnyConnection, patient_id: &str) -> Result<(), Error> {
    diesel::delete(
        patient_identifiers::table.filter(patient_identifiers::patient_id.eq(patient_id)),
    )
    .execute(conn)?;
    Ok(())
}

/// A page of patients, by id.
pub fn page(
    conn: &mut AnyConnection,
    f: &PatientFilter,
    page: &PageRequest,
) -> Result<Vec<PatientRow>, Error> {
    let mut q = patients::table.select(PatientRow::as_select()).into_boxed();
    if let Some((system, value)) = &f.identifier {
        let owner: Vec<String> = patient_identifiers::table
            .filter(patient_identifiers::system.eq(system))
            .filter(patient_identifiers::value.eq(value))
            .select(patient_identifiers::patient_id)
            .load(conn)?;
        q = q.filter(patients::id.eq_any(owner));
    }
    if let Some(n) = &f.family_name {
        q = q.filter(patients::family_name.eq(n.clone()));
    }
    if let Some(b) = f.birth_date {
        q = q.filter(patients::birth_date.eq(b));
    }
    if let Some(k) = &f.beneficiary_kind {
        q = q.filter(patients::beneficiary_kind.eq(k.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(patients::id.gt(after.clone()));
    }
    Ok(q.order(patients::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// The patients with these ids.
pub fn by_ids(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<PatientRow>, Error> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        out.extend(
            patients::table
                .filter(patients::id.eq_any(chunk))
                .select(PatientRow::as_select())
                .load::<PatientRow>(conn)?,
        );
    }
    Ok(out)
}
