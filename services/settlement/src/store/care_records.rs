//! Care records as settlement keeps them from accounts' events (the newest version of each,
//! with the patient's coverages of the latest moment known): what billing runs read.

use carebill_domain::events::CareRecordChangedV1;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::care_records;

/// The stored version of a care record (none: not stored).
pub fn version_of(conn: &mut AnyConnection, id: &str) -> Result<Option<i64>, Error> {
    Ok(care_records::table
        .find(id)
        .select(care_records::version)
        .first(conn)
        .optional()?)
}

/// A care record as stored: its event, the JSON texts of its parts, and its coverages.
pub struct NewRecord<'a> {
    /// The event.
    pub event: &'a CareRecordChangedV1,
    /// The source kind (`stay`, `absence`...).
    pub kind: String,
    /// The details (JSON).
    pub details: String,
    /// The patient (JSON), when the event told it.
    pub patient: Option<String>,
    /// The location (JSON), when the event told it.
    pub location: Option<String>,
    /// The patient's coverages (JSON).
    pub coverages: String,
    /// When those coverages were current.
    pub coverages_at: NaiveDateTime,
    /// Now.
    pub now: NaiveDateTime,
}

/// Stores a care record seen for the first time.
pub fn insert(conn: &mut AnyConnection, n: &NewRecord<'_>) -> Result<(), Error> {
    let r = &n.event.record;
    diesel::insert_into(care_records::table)
        .values((
            care_records::id.eq(&r.id),
            care_records::patient_id.eq(&r.patient_id),
            care_records::location_id.eq(&r.location_id),
            care_records::location_code.eq(&n.event.location_code),
            care_records::kind.eq(&n.kind),
            care_records::version.eq(r.version),
            care_records::cancelled.eq(r.cancelled),
            care_records::details.eq(&n.details),
            care_records::updated_at.eq(n.now),
            care_records::patient.eq(&n.patient),
            care_records::location.eq(&n.location),
            care_records::coverages.eq(&n.coverages),
            care_records::coverages_at.eq(Some(n.coverages_at)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces a stored care record by a newer version (its coverages are set apart, by
/// [`update_coverages`]).
pub fn update(conn: &mut AnyConnection, n: &NewRecord<'_>) -> Result<(), Error> {
    let r = &n.event.record;
    diesel::update(care_records::table.find(&r.id))
        .set((
            care_records::version.eq(r.version),
            care_records::cancelled.eq(r.cancelled),
            care_records::details.eq(&n.details),
            care_records::location_code.eq(&n.event.location_code),
            care_records::updated_at.eq(n.now),
            care_records::patient.eq(&n.patient),
            care_records::location.eq(&n.location),
        ))
        .execute(conn)?;
    Ok(())
}

/// Sets the coverages of the patient's care records (or of one of them) to `coverages`, current
/// at `at`, except where they hold coverages of a later moment: events can be applied out of
/// order (two consumers, replicas, a retry).
pub fn update_coverages(
    conn: &mut AnyConnection,
    patient_id: &str,
    record: Option<&str>,
    coverages: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    let older = care_records::table
        .filter(care_records::patient_id.eq(patient_id))
        .filter(
            care_records::coverages_at
                .is_null()
                .or(care_records::coverages_at.le(at)),
        );
    let set = (
        care_records::coverages.eq(coverages),
        care_records::coverages_at.eq(Some(at)),
    );
    match record {
        Some(id) => diesel::update(older.filter(care_records::id.eq(id)))
            .set(set)
            .execute(conn)?,
        None => diesel::update(older).set(set).execute(conn)?,
    };
    Ok(())
}
