//! The `care_records` table (the current version of each record, with its kind and first and
//! last day for the overlap checks) and `care_record_versions` (every version, kept).

use carebill_domain::ids::{LocationId, PatientId};
use carebill_domain::rules::InvoicingSource;
use carebill_domain::sources::CareRecordDetails;
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{care_record_versions, care_records};
use crate::store::care_record_details::StoredDetails;
use crate::store::{read_json, write_json};

/// The stored `kind` of a source, or none for one that is not a care record.
pub fn source_kind(source: InvoicingSource) -> Option<&'static str> {
    match source {
        InvoicingSource::Stay => Some("stay"),
        InvoicingSource::Absence => Some("absence"),
        InvoicingSource::Contract => Some("contract"),
        InvoicingSource::ManualEntry => Some("manual_entry"),
        InvoicingSource::Evaluation => Some("evaluation"),
        InvoicingSource::Gastro => Some("gastro"),
        InvoicingSource::Ambulatory => Some("ambulatory"),
        InvoicingSource::Consumption => None,
    }
}

/// The stored `kind` of details.
pub fn kind_of(details: &CareRecordDetails) -> &'static str {
    match source_kind(details.source()) {
        Some(kind) => kind,
        None => "consumption",
    }
}

/// The stored JSON of details.
pub fn details_json(details: &CareRecordDetails) -> Result<String, Error> {
    write_json("care record details", &StoredDetails::from(details.clone()))
}

/// A care record's current version, as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = care_records)]
pub struct CareRecordRow {
    /// Id.
    pub id: String,
    /// The patient.
    #[diesel(deserialize_as = String)]
    pub patient_id: PatientId,
    /// The location.
    #[diesel(deserialize_as = String)]
    pub location_id: LocationId,
    /// Version, from 1.
    pub version: i64,
    /// Whether it is cancelled.
    pub cancelled: bool,
    /// The details, JSON (see [`CareRecordRow::details`]).
    pub details: String,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

impl CareRecordRow {
    /// The stored details.
    pub fn details(&self) -> Result<CareRecordDetails, Error> {
        read_json::<StoredDetails>("care record details", &self.details).map(Into::into)
    }
}

/// One version of a care record, as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = care_record_versions)]
pub struct VersionRow {
    /// The record.
    pub record_id: String,
    /// Version number.
    pub version: i64,
    /// The details of this version, JSON.
    pub details: String,
    /// Whether this version cancelled the record.
    pub cancelled: bool,
    /// Why it was made.
    pub reason: Option<String>,
    /// Who made it.
    pub changed_by: String,
    /// When.
    pub changed_at: NaiveDateTime,
}

impl VersionRow {
    /// The stored details of this version.
    pub fn details(&self) -> Result<CareRecordDetails, Error> {
        read_json::<StoredDetails>("care record version details", &self.details).map(Into::into)
    }
}

/// A new care record, version 1.
#[derive(Debug, Clone)]
pub struct NewCareRecordRow<'a> {
    /// Id.
    pub id: &'a str,
    /// The patient.
    pub patient_id: &'a str,
    /// The location.
    pub location_id: &'a str,
    /// Stored kind.
    pub kind: &'a str,
    /// Details JSON.
    pub details: &'a str,
    /// First day.
    pub start_date: NaiveDate,
    /// Last day, if any.
    pub end_date: Option<NaiveDate>,
    /// Now.
    pub at: NaiveDateTime,
}

/// Filters of the care record list.
#[derive(Debug, Clone, Default)]
pub struct CareRecordFilter {
    /// Of this patient.
    pub patient_id: Option<String>,
    /// At this location.
    pub location_id: Option<String>,
    /// Of this stored kind.
    pub kind: Option<&'static str>,
    /// Cancelled ones too.
    pub include_cancelled: bool,
}

/// What an overlap check looks for: records of one patient, location and kind, not cancelled,
/// other than `except`, sharing days with `from..=to`.
#[derive(Debug, Clone)]
pub struct OverlapQuery<'a> {
    /// The patient.
    pub patient_id: &'a str,
    /// The location.
    pub location_id: &'a str,
    /// Stored kind.
    pub kind: &'a str,
    /// The record being changed.
    pub except: Option<&'a str>,
    /// First day.
    pub from: NaiveDate,
    /// Last day; open when none.
    pub to: Option<NaiveDate>,
    /// Evaluation rules: an open one ends where the next begins, so only stated spans clash.
    pub evaluation: bool,
}

/// The care record with this id, if at one of `allowed` locations (`None`: any).
pub fn find(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    id: &str,
) -> Result<Option<CareRecordRow>, Error> {
    let mut q = care_records::table
        .filter(care_records::id.eq(id.to_owned()))
        .select(CareRecordRow::as_select())
        .into_boxed();
    if let Some(ids) = allowed {
        q = q.filter(care_records::location_id.eq_any(ids.to_vec()));
    }
    Ok(q.first(conn).optional()?)
}

/// Locks a care record's row until the end of the transaction (PostgreSQL).
pub fn lock(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    Ok(db::lock_row(conn, "care_records", id)?)
}

/// Locks the patient's row (PostgreSQL) and returns the first record that clashes, as
/// `(id, first day, last day)`: two writers checking the same patient at once would each miss
/// the other's new record.
pub fn first_overlap(
    conn: &mut AnyConnection,
    o: &OverlapQuery<'_>,
) -> Result<Option<(String, NaiveDate, Option<NaiveDate>)>, Error> {
    db::lock_row(conn, "patients", o.patient_id)?;
    let mut q = care_records::table
        .filter(care_records::patient_id.eq(o.patient_id.to_owned()))
        .filter(care_records::location_id.eq(o.location_id.to_owned()))
        .filter(care_records::kind.eq(o.kind.to_owned()))
        .filter(care_records::cancelled.eq(false))
        .select((
            care_records::id,
            care_records::start_date,
            care_records::end_date,
        ))
        .into_boxed();
    if let Some(except) = o.except {
        q = q.filter(care_records::id.ne(except.to_owned()));
    }
    if o.evaluation {
        // A clash is the same first day, a first day inside the other's stated span, or the
        // other's inside this one's.
        let starts_inside_other = care_records::start_date
            .le(o.from)
            .and(care_records::end_date.ge(o.from));
        q = match o.to {
            Some(to) => q.filter(
                care_records::start_date
                    .between(o.from, to)
                    .or(starts_inside_other),
            ),
            None => q.filter(care_records::start_date.eq(o.from).or(starts_inside_other)),
        };
    } else {
        // Both ends inclusive; an open end runs on.
        q = q.filter(
            care_records::end_date
                .is_null()
                .or(care_records::end_date.ge(o.from)),
        );
        if let Some(to) = o.to {
            q = q.filter(care_records::start_date.le(to));
        }
    }
    Ok(
        q.order((care_records::start_date.asc(), care_records::id.asc()))
            .first(conn)
            .optional()?,
    )
}

/// Inserts a new record as version 1.
pub fn insert(conn: &mut AnyConnection, r: &NewCareRecordRow<'_>) -> Result<(), Error> {
    diesel::insert_into(care_records::table)
        .values((
            care_records::id.eq(r.id),
            care_records::patient_id.eq(r.patient_id),
            care_records::location_id.eq(r.location_id),
            care_records::kind.eq(r.kind),
            care_records::version.eq(1_i64),
            care_records::cancelled.eq(false),
            care_records::details.eq(r.details),
            care_records::start_date.eq(r.start_date),
            care_records::end_date.eq(r.end_date),
            care_records::created_at.eq(r.at),
            care_records::updated_at.eq(r.at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes `version` the current one with new details.
pub fn update_details(
    conn: &mut AnyConnection,
    id: &str,
    version: i64,
    details: &str,
    span: (NaiveDate, Option<NaiveDate>),
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(care_records::table.find(id))
        .set((
            care_records::version.eq(version),
            care_records::details.eq(details),
            care_records::start_date.eq(span.0),
            care_records::end_date.eq(span.1),
            care_records::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Makes `version` the current one, cancelled.
pub fn mark_cancelled(
    conn: &mut AnyConnection,
    id: &str,
    version: i64,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(care_records::table.find(id))
        .set((
            care_records::version.eq(version),
            care_records::cancelled.eq(true),
            care_records::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Keeps a version.
pub fn insert_version(conn: &mut AnyConnection, row: VersionRow) -> Result<(), Error> {
    diesel::insert_into(care_record_versions::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A record's versions, oldest first.
pub fn versions(conn: &mut AnyConnection, id: &str) -> Result<Vec<VersionRow>, Error> {
    Ok(care_record_versions::table
        .filter(care_record_versions::record_id.eq(id))
        .order(care_record_versions::version.asc())
        .select(VersionRow::as_select())
        .load(conn)?)
}

/// A page of care records at `allowed` locations (`None`: any), by id.
pub fn page(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    f: &CareRecordFilter,
    page: &PageRequest,
) -> Result<Vec<CareRecordRow>, Error> {
    let mut q = care_records::table
        .select(CareRecordRow::as_select())
        .into_boxed();
    if let Some(ids) = allowed {
        q = q.filter(care_records::location_id.eq_any(ids.to_vec()));
    }
    if let Some(p) = &f.patient_id {
        q = q.filter(care_records::patient_id.eq(p.clone()));
    }
    if let Some(l) = &f.location_id {
        q = q.filter(care_records::location_id.eq(l.clone()));
    }
    if let Some(k) = f.kind {
        q = q.filter(care_records::kind.eq(k));
    }
    if !f.include_cancelled {
        q = q.filter(care_records::cancelled.eq(false));
    }
    if let Some(after) = &page.after {
        q = q.filter(care_records::id.gt(after.clone()));
    }
    Ok(q.order(care_records::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
