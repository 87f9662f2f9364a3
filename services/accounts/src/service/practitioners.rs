//! Practitioners: the registry of who performs, orders or attends care, with what claims name
//! them by (NPI, taxonomy). The code, the NPI and each identifier belong to one practitioner.
//! Consumptions and episodes keep naming practitioners by free strings; such a string names the
//! practitioner whose code equals it, else whose `his` identifier equals it, else whose NPI
//! equals it (the e-billing check resolves them; zero or two matches are a gap, never a guess).
//! Every change is announced (`practitioner.changed`) for the services that keep a copy.

use carebill_domain::Code;
use carebill_domain::claim_codes::{Npi, Taxonomy};
use carebill_domain::events::{
    PractitionerChangedV1, PractitionerIdentifier, PractitionerKind, PractitionerRef,
};
use carebill_domain::ids::PractitionerId;
use carebill_domain::stored::Unreadable;
use carebill_platform::auth::Principal;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Connection;
use serde::Serialize;

pub use crate::store::practitioners::PractitionerFilter;
use crate::store::practitioners::{self as store, PractitionerChanges, PractitionerRow};
use crate::store::{StoredIdentifier, write_json};

/// A practitioner as the use cases (and the audit trail) see them.
#[derive(Debug, Clone, Serialize)]
pub struct Practitioner {
    /// What the registry holds, as events carry it.
    #[serde(flatten)]
    pub practitioner: PractitionerRef,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

fn kind_text(kind: PractitionerKind) -> &'static str {
    match kind {
        PractitionerKind::Person => "person",
        PractitionerKind::Organization => "organization",
    }
}

impl Practitioner {
    fn read(r: PractitionerRow) -> Result<Practitioner, Error> {
        let kind = match r.kind.as_str() {
            "person" => PractitionerKind::Person,
            "organization" => PractitionerKind::Organization,
            _ => {
                return Err(Unreadable::new(
                    "practitioner kind",
                    r.kind,
                    "not one of: person, organization",
                )
                .into());
            }
        };
        let identifiers = r
            .identifiers()?
            .into_iter()
            .map(|i| PractitionerIdentifier {
                system: i.system,
                value: i.value,
            })
            .collect();
        Ok(Practitioner {
            practitioner: PractitionerRef {
                id: r.id,
                code: r.code,
                kind,
                family_name: r.family_name,
                given_name: r.given_name,
                middle_name: r.middle_name,
                suffix: r.suffix,
                credentials: r.credentials,
                npi: r.npi,
                taxonomy: r.taxonomy,
                specialty: r.specialty,
                active_from: r.active_from,
                active_to: r.active_to,
                identifiers,
            },
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// A validated practitioner to register or replace.
#[derive(Debug, Clone)]
pub struct NewPractitioner {
    /// Unique code.
    pub code: Code,
    /// Person or organisation.
    pub kind: PractitionerKind,
    /// Family name, or the organisation's name.
    pub family_name: String,
    /// Given name (persons only).
    pub given_name: Option<String>,
    /// Middle name (persons only).
    pub middle_name: Option<String>,
    /// Suffix (persons only).
    pub suffix: Option<String>,
    /// Credentials (persons only).
    pub credentials: Option<String>,
    /// NPI with a valid check digit.
    pub npi: Option<Npi>,
    /// Taxonomy code.
    pub taxonomy: Option<Taxonomy>,
    /// Specialty in words.
    pub specialty: Option<String>,
    /// First active day.
    pub active_from: Option<NaiveDate>,
    /// Last active day, not before the first.
    pub active_to: Option<NaiveDate>,
    /// Identifiers, trimmed, one per system.
    pub identifiers: Vec<StoredIdentifier>,
}

/// The practitioner with this id.
#[tracing::instrument(skip_all, fields(practitioner_id = %id))]
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Practitioner, Error> {
    Practitioner::read(store::find(conn, id)?.ok_or_else(|| Error::not_found("practitioner"))?)
}

/// Fails with 409 when another practitioner than `id` has the NPI.
fn check_npi_free(conn: &mut AnyConnection, id: &str, npi: Option<&Npi>) -> Result<(), Error> {
    let Some(npi) = npi else { return Ok(()) };
    match store::with_npi(conn, npi.as_str())? {
        Some(owner) if owner != id => Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("NPI {} belongs to practitioner {owner}", npi.as_str()),
        )),
        _ => Ok(()),
    }
}

/// Where practitioners' identifiers are kept, each with one practitioner.
const IDENTIFIERS: super::IdentifierTable = super::IdentifierTable {
    owner: "practitioner",
    owner_of: store::identifier_owner,
    record: store::insert_identifier,
};

/// Registers a practitioner; the code, the NPI and each identifier must be free.
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    p: NewPractitioner,
) -> Result<Practitioner, Error> {
    conn.transaction(|conn| {
        if let Some(owner) = store::with_code(conn, p.code.as_str())? {
            return Err(Error::new(
                ErrorCode::AlreadyExists,
                format!("practitioner {owner} has the code {}", p.code),
            ));
        }
        let id = PractitionerId::new();
        let id_text = id.to_string();
        check_npi_free(conn, &id_text, p.npi.as_ref())?;
        let now = db::now();
        store::insert(
            conn,
            PractitionerRow {
                id,
                code: p.code.as_str().to_owned(),
                kind: kind_text(p.kind).to_owned(),
                family_name: p.family_name,
                given_name: p.given_name,
                middle_name: p.middle_name,
                suffix: p.suffix,
                credentials: p.credentials,
                npi: p.npi.map(|n| n.as_str().to_owned()),
                taxonomy: p.taxonomy.map(|t| t.as_str().to_owned()),
                specialty: p.specialty,
                active_from: p.active_from,
                active_to: p.active_to,
                identifiers: write_json("practitioner identifiers", &p.identifiers)?,
                created_at: now,
                updated_at: now,
            },
        )?;
        super::claim_identifiers(conn, &IDENTIFIERS, &id_text, &p.identifiers)?;
        let created = get(conn, &id_text)?;
        audit::record(
            conn,
            who,
            "create",
            "practitioner",
            &id_text,
            serde_json::json!({ "after": created }),
            None,
        )?;
        announce(conn, who, &created)?;
        Ok(created)
    })
}

/// Replaces a practitioner's details and identifiers; the code cannot change.
#[tracing::instrument(skip_all, fields(practitioner_id = %id))]
pub fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    p: NewPractitioner,
) -> Result<Practitioner, Error> {
    conn.transaction(|conn| {
        let before = get(conn, id)?;
        if before.practitioner.code != p.code.as_str() {
            return Err(Error::field(
                "code",
                "immutable",
                "a practitioner's code cannot change: consumptions name them by it",
            ));
        }
        check_npi_free(conn, id, p.npi.as_ref())?;
        store::delete_identifiers(conn, id)?;
        super::claim_identifiers(conn, &IDENTIFIERS, id, &p.identifiers)?;
        store::update(
            conn,
            id,
            &PractitionerChanges {
                kind: kind_text(p.kind).to_owned(),
                family_name: p.family_name,
                given_name: p.given_name,
                middle_name: p.middle_name,
                suffix: p.suffix,
                credentials: p.credentials,
                npi: p.npi.map(|n| n.as_str().to_owned()),
                taxonomy: p.taxonomy.map(|t| t.as_str().to_owned()),
                specialty: p.specialty,
                active_from: p.active_from,
                active_to: p.active_to,
                identifiers: write_json("practitioner identifiers", &p.identifiers)?,
                updated_at: db::now(),
            },
        )?;
        let after = get(conn, id)?;
        audit::record(
            conn,
            who,
            "update",
            "practitioner",
            id,
            serde_json::json!({ "before": before, "after": after }),
            None,
        )?;
        announce(conn, who, &after)?;
        Ok(after)
    })
}

/// A page of practitioners.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    f: &PractitionerFilter,
    page: &PageRequest,
) -> Result<Page<Practitioner>, Error> {
    let rows = store::page(conn, f, page)?;
    Page::from_rows(rows, page, |r| r.id.to_string()).try_map(Practitioner::read)
}

/// Announces the practitioner as they now are.
pub(crate) fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    p: &Practitioner,
) -> Result<(), Error> {
    super::emit(
        conn,
        who,
        &PractitionerChangedV1 {
            practitioner: p.practitioner.clone(),
            changed_at: p.updated_at,
        },
    )
}
