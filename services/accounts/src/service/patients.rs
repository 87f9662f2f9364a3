//! Patients: registering and replacing them, each identifier unique across patients. Patients
//! are organisation-wide, so every location's staff can find a returning patient.

use carebill_domain::Code;
use carebill_domain::events::PatientRef;
use carebill_domain::ids::PatientId;
use carebill_platform::auth::Principal;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, audit, db};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Connection;
use serde::Serialize;

use crate::store::patients::{self as store, PatientChanges, PatientRow};
pub use crate::store::patients::{PatientFilter, Sex};
use crate::store::{StoredAddress, StoredContact, StoredIdentifier, write_json};

/// A patient as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct Patient {
    /// Id.
    pub id: PatientId,
    /// Identifiers, each unique across patients.
    pub identifiers: Vec<StoredIdentifier>,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Administrative sex.
    pub sex: Sex,
    /// Beneficiary kind code.
    pub beneficiary_kind: String,
    /// Flags for business conditions.
    pub flags: Vec<String>,
    /// Address.
    pub address: StoredAddress,
    /// Contact.
    pub contact: StoredContact,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Patient {
    /// The patient as event consumers see it.
    pub fn to_ref(&self) -> PatientRef {
        PatientRef {
            id: self.id,
            beneficiary_kind: self.beneficiary_kind.clone(),
            birth_date: self.birth_date,
            flags: self.flags.clone(),
            sex: Some(self.sex.as_str().to_owned()),
            // The patient's name and address travel because an invoice to the patient must
            // name them (EN 16931 BT-44, BT-55) and invoicing reads no other service's tables.
            billing: Some(super::party_billing(
                &format!("{} {}", self.given_name, self.family_name),
                &self.address,
                &crate::store::StoredBilling::default(),
            )),
        }
    }

    /// Reads a stored row.
    pub(crate) fn read(r: PatientRow) -> Result<Patient, Error> {
        Ok(Patient {
            identifiers: r.identifiers()?,
            flags: r.flags()?,
            address: r.address()?,
            contact: r.contact()?,
            id: r.id,
            family_name: r.family_name,
            given_name: r.given_name,
            birth_date: r.birth_date,
            sex: r.sex,
            beneficiary_kind: r.beneficiary_kind,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// A validated patient to register or replace.
#[derive(Debug, Clone)]
pub struct NewPatient {
    /// Identifiers, trimmed.
    pub identifiers: Vec<StoredIdentifier>,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// Administrative sex.
    pub sex: Sex,
    /// Beneficiary kind code.
    pub beneficiary_kind: Code,
    /// Flags.
    pub flags: Vec<String>,
    /// Address.
    pub address: StoredAddress,
    /// Contact.
    pub contact: StoredContact,
}

/// The patient with this id.
#[tracing::instrument(skip_all, fields(patient_id = %id))]
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Patient, Error> {
    Patient::read(store::find(conn, id)?.ok_or_else(|| Error::not_found("patient"))?)
}

/// Where patients' identifiers are kept, each with one patient.
const IDENTIFIERS: super::IdentifierTable = super::IdentifierTable {
    owner: "patient",
    owner_of: store::identifier_owner,
    record: store::insert_identifier,
};

/// Registers a patient; each identifier must be free.
#[tracing::instrument(skip_all)]
pub fn create(conn: &mut AnyConnection, who: &Principal, p: NewPatient) -> Result<Patient, Error> {
    let id = PatientId::new();
    let now = db::now();
    store::insert(
        conn,
        PatientRow {
            id,
            family_name: p.family_name,
            given_name: p.given_name,
            birth_date: p.birth_date,
            sex: p.sex,
            beneficiary_kind: p.beneficiary_kind.as_str().to_owned(),
            flags: write_json("patient flags", &p.flags)?,
            identifiers: write_json("patient identifiers", &p.identifiers)?,
            address: write_json("patient address", &p.address)?,
            contact: write_json("patient contact", &p.contact)?,
            created_at: now,
            updated_at: now,
        },
    )?;
    let id = id.to_string();
    super::claim_identifiers(conn, &IDENTIFIERS, &id, &p.identifiers)?;
    let created = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "create",
        "patient",
        &id,
        serde_json::json!({ "after": created }),
        None,
    )?;
    announce(conn, who, &created)?;
    Ok(created)
}

/// Replaces a patient's details and identifiers.
#[tracing::instrument(skip_all, fields(patient_id = %id))]
pub fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    p: NewPatient,
) -> Result<Patient, Error> {
    conn.transaction(|conn| {
        let before = get(conn, id)?;
        store::delete_identifiers(conn, id)?;
        super::claim_identifiers(conn, &IDENTIFIERS, id, &p.identifiers)?;
        store::update(
            conn,
            id,
            &PatientChanges {
                family_name: p.family_name,
                given_name: p.given_name,
                birth_date: p.birth_date,
                sex: p.sex.as_str().to_owned(),
                beneficiary_kind: p.beneficiary_kind.as_str().to_owned(),
                flags: write_json("patient flags", &p.flags)?,
                identifiers: write_json("patient identifiers", &p.identifiers)?,
                address: write_json("patient address", &p.address)?,
                contact: write_json("patient contact", &p.contact)?,
                updated_at: db::now(),
            },
        )?;
        let after = get(conn, id)?;
        audit::record(
            conn,
            who,
            "update",
            "patient",
            id,
            serde_json::json!({ "before": before, "after": after }),
            None,
        )?;
        announce(conn, who, &after)?;
        Ok(after)
    })
}

/// Announces the patient as they now are (what claims name the patient by).
pub(crate) fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    p: &Patient,
) -> Result<(), Error> {
    super::emit(
        conn,
        who,
        &carebill_domain::events::PatientChangedV1 {
            patient_id: p.id,
            family_name: p.family_name.clone(),
            given_name: p.given_name.clone(),
            birth_date: p.birth_date,
            sex: p.sex.as_str().to_owned(),
            address: super::postal_address(&p.address),
            changed_at: p.updated_at,
        },
    )
}

/// A page of patients.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    f: &PatientFilter,
    page: &PageRequest,
) -> Result<Page<Patient>, Error> {
    let rows = store::page(conn, f, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    page.try_map(Patient::read)
}
