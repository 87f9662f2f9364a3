//! The `coverages` table.

use carebill_domain::events::CoverageSubscriber;
use carebill_domain::ids::{CoverageId, PatientId, PayerId};
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::coverages;

/// A coverage as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = coverages)]
pub struct CoverageRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: CoverageId,
    /// The patient covered.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub patient_id: PatientId,
    /// The payer.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub payer_id: PayerId,
    /// Policy number.
    pub policy_number: String,
    /// Plan code.
    pub plan_code: Option<String>,
    /// Order among the patient's coverages (1 pays first).
    pub priority: i32,
    /// First day covered.
    pub valid_from: Option<NaiveDate>,
    /// Last day covered.
    pub valid_to: Option<NaiveDate>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
    /// Who holds the policy when not the patient, JSON.
    pub subscriber: Option<String>,
    /// The group number.
    pub group_number: Option<String>,
}

impl CoverageRow {
    /// Who holds the policy, when not the patient.
    pub fn subscriber(&self) -> Result<Option<CoverageSubscriber>, Error> {
        self.subscriber
            .as_deref()
            .map(|s| crate::store::read_json("coverage subscriber", s))
            .transpose()
    }
}

/// What a replace changes.
#[derive(Debug, Clone, AsChangeset)]
#[diesel(table_name = coverages, treat_none_as_null = true)]
pub struct CoverageChanges {
    /// Policy number.
    pub policy_number: String,
    /// Plan code.
    pub plan_code: Option<String>,
    /// Priority.
    pub priority: i32,
    /// First day covered.
    pub valid_from: Option<NaiveDate>,
    /// Last day covered.
    pub valid_to: Option<NaiveDate>,
    /// Now.
    pub updated_at: NaiveDateTime,
    /// Subscriber JSON.
    pub subscriber: Option<String>,
    /// Group number.
    pub group_number: Option<String>,
}

/// Filters of the coverage list.
#[derive(Debug, Clone, Default)]
pub struct CoverageFilter {
    /// Of this patient.
    pub patient_id: Option<String>,
    /// Of this payer.
    pub payer_id: Option<String>,
}

/// The coverage with this id.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<CoverageRow>, Error> {
    Ok(coverages::table
        .find(id)
        .select(CoverageRow::as_select())
        .first(conn)
        .optional()?)
}

/// The coverages of these patients, by priority then id (at most 500 patients per statement).
pub fn of_patients(
    conn: &mut AnyConnection,
    patient_ids: &[String],
) -> Result<Vec<CoverageRow>, Error> {
    let mut out = Vec::new();
    for chunk in patient_ids.chunks(500) {
        out.extend(
            coverages::table
                .filter(coverages::patient_id.eq_any(chunk))
                .order((coverages::priority.asc(), coverages::id.asc()))
                .select(CoverageRow::as_select())
                .load::<CoverageRow>(conn)?,
        );
    }
    Ok(out)
}

/// Locks the patient's row (PostgreSQL) and returns its coverages of this priority: a check
/// for overlapping priorities that cannot interleave with another one.
pub fn lock_patient_priority(
    conn: &mut AnyConnection,
    patient_id: &str,
    priority: i32,
) -> Result<Vec<CoverageRow>, Error> {
    db::lock_row(conn, "patients", patient_id)?;
    Ok(coverages::table
        .filter(coverages::patient_id.eq(patient_id))
        .filter(coverages::priority.eq(priority))
        .select(CoverageRow::as_select())
        .load(conn)?)
}

/// Inserts a coverage.
pub fn insert(conn: &mut AnyConnection, row: CoverageRow) -> Result<(), Error> {
    diesel::insert_into(coverages::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Updates a coverage.
pub fn update(conn: &mut AnyConnection, id: &str, changes: &CoverageChanges) -> Result<(), Error> {
    diesel::update(coverages::table.find(id))
        .set(changes)
        .execute(conn)?;
    Ok(())
}

/// A page of coverages, by id.
pub fn page(
    conn: &mut AnyConnection,
    f: &CoverageFilter,
    page: &PageRequest,
) -> Result<Vec<CoverageRow>, Error> {
    let mut q = coverages::table
        .select(CoverageRow::as_select())
        .into_boxed();
    if let Some(p) = &f.patient_id {
        q = q.filter(coverages::patient_id.eq(p.clone()));
    }
    if let Some(p) = &f.payer_id {
        q = q.filter(coverages::payer_id.eq(p.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(coverages::id.gt(after.clone()));
    }
    Ok(q.order(coverages::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
