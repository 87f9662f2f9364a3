//! Care records from accounts (`carebill.accounts.care_record.changed.v1`): settlement keeps the
//! newest version of each, with the patient's newest coverages, for billing runs.

use carebill_domain::events::CareRecordChangedV1;
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use chrono::NaiveDateTime;

use crate::store::care_records::{self as store, NewRecord};
use crate::store::settlements::newest_coverages;

/// Keeps the newest version of a care record (older or repeated versions change nothing).
#[tracing::instrument(skip_all)]
pub fn on_care_record(conn: &mut AnyConnection, e: &CareRecordChangedV1) -> Result<(), Error> {
    let r = &e.record;
    let stored = store::version_of(conn, &r.id)?;
    let kind = serde_json::to_value(r.details.source())?
        .as_str()
        .ok_or_else(|| Error::internal(&"a care record source that is not a text"))?
        .to_owned();
    let details = serde_json::to_string(&r.details)?;
    let patient = e.patient.as_ref().map(serde_json::to_string).transpose()?;
    let location = e.location.as_ref().map(serde_json::to_string).transpose()?;
    let mut coverages = serde_json::to_string(&e.coverages)?;
    let mut coverages_at = e.changed_at.naive_utc();
    // A record written before a coverage change but applied after it takes the newer coverages.
    if let Some((newer, at)) =
        newest_coverages(conn, std::slice::from_ref(&r.patient_id))?.remove(&r.patient_id)
        && at >= coverages_at
    {
        coverages = newer;
        coverages_at = at;
    }
    let record = NewRecord {
        event: e,
        kind,
        details,
        patient,
        location,
        coverages,
        coverages_at,
        now: db::now(),
    };
    match stored {
        Some(v) if v >= r.version => Ok(()),
        Some(_) => {
            store::update(conn, &record)?;
            update_coverages(
                conn,
                &r.patient_id,
                Some(&r.id),
                &record.coverages,
                coverages_at,
            )
        }
        None => store::insert(conn, &record),
    }
}

/// Sets the coverages of the patient's care records (or of one of them) to `coverages`, current
/// at `at`, except where they hold coverages of a later moment: events can be applied out of
/// order (two consumers, replicas, a retry).
#[tracing::instrument(skip_all)]
pub fn update_coverages(
    conn: &mut AnyConnection,
    patient_id: &str,
    record: Option<&str>,
    coverages: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    store::update_coverages(conn, patient_id, record, coverages, at)
}
