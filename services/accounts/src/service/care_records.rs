//! Care records: the invoicing sources next to plain consumptions (seed 003) — stays, absences,
//! contracts, manual entries, evaluations, gastro and ambulatory lines — recorded for a patient
//! at a location. What each kind holds and how it is checked is
//! [`carebill_domain::sources::CareRecordDetails`]; this module decides and keeps the history.
//!
//! A record is never edited in place: a change (with the expected version and a reason) or a
//! cancellation makes the next version, and every version stays readable. Each new version
//! emits `carebill.accounts.care_record.changed.v1` carrying the whole record, so settlement
//! bills from its own copy.
//!
//! Stays of one patient at one location must not overlap (an open leaving date runs on), nor
//! may evaluations; an open evaluation runs until the next one starts, so only evaluations that
//! share days by their stated dates clash.

use carebill_domain::Validation;
use carebill_domain::events::CareRecordChangedV1;
use carebill_domain::ids::{LocationId, PatientId};
use carebill_domain::money::Money;
use carebill_domain::rules::InvoicingSource;
use carebill_domain::sources::{CareRecord, CareRecordDetails};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest, precondition_failed, precondition_required};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, Utc};
use diesel::Connection;
use serde::Serialize;

use crate::service::{coverages, emit, locations, patients, unknown_as_field};
use crate::store::care_records::{
    self as store, CareRecordRow, NewCareRecordRow, OverlapQuery, VersionRow, kind_of,
};
pub use crate::store::care_records::{CareRecordFilter, source_kind};
use crate::store::locations as location_store;

/// A care record's current version, as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct CareRecordView {
    /// Id.
    pub id: String,
    /// The patient.
    pub patient_id: PatientId,
    /// The location.
    pub location_id: LocationId,
    /// What kind of record it is.
    pub kind: InvoicingSource,
    /// Version, from 1.
    pub version: i64,
    /// Whether it is cancelled.
    pub cancelled: bool,
    /// What it holds, by kind.
    pub details: CareRecordDetails,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The version's entity tag.
    pub etag: String,
}

impl CareRecordView {
    fn read(r: CareRecordRow) -> Result<CareRecordView, Error> {
        let details = r.details()?;
        Ok(CareRecordView {
            kind: details.source(),
            etag: etag(r.version),
            id: r.id,
            patient_id: r.patient_id,
            location_id: r.location_id,
            version: r.version,
            cancelled: r.cancelled,
            details,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// One version of a care record.
#[derive(Debug, Clone)]
pub struct CareRecordVersion {
    /// Version number, from 1.
    pub version: i64,
    /// What the record held in this version.
    pub details: CareRecordDetails,
    /// Whether this version cancelled the record.
    pub cancelled: bool,
    /// Why it was made.
    pub reason: Option<String>,
    /// Who made it.
    pub changed_by: String,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// A validated care record to record.
#[derive(Debug, Clone)]
pub struct NewCareRecord {
    /// The patient (a valid id).
    pub patient_id: String,
    /// The location (a valid id).
    pub location_id: String,
    /// What it holds, trimmed and checked.
    pub details: CareRecordDetails,
}

/// A requested change: the whole new details and why (checked here, after the record is found
/// and the precondition holds).
#[derive(Debug, Clone)]
pub struct ChangeRequest {
    /// Why.
    pub reason: String,
    /// The new details.
    pub details: CareRecordDetails,
}

/// Outcome of a change: a new version, or the current one when nothing changed.
pub enum Changed {
    /// A new version.
    New(CareRecordView),
    /// Nothing changed: the current version.
    Same(CareRecordView),
}

/// The entity tag of a version.
pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

/// The names of the first and last day fields of a kind (dated entries have one day).
fn date_fields(details: &CareRecordDetails) -> (&'static str, &'static str) {
    match details {
        CareRecordDetails::Stay { .. } => ("entry_date", "leaving_date"),
        CareRecordDetails::Absence { .. } => ("from", "to"),
        CareRecordDetails::Contract { .. } => ("start_date", "end_date"),
        CareRecordDetails::Evaluation { .. } => ("valid_from", "valid_to"),
        CareRecordDetails::ManualEntry { .. }
        | CareRecordDetails::Gastro { .. }
        | CareRecordDetails::Ambulatory { .. } => ("date", "date"),
    }
}

/// The prices a record carries, with where they sit in the body.
fn prices(details: &CareRecordDetails) -> Vec<(String, &Money)> {
    match details {
        CareRecordDetails::Contract { services, .. } => services
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.unit_price
                    .as_ref()
                    .map(|p| (format!("details.services.{i}.unit_price"), p))
            })
            .collect(),
        CareRecordDetails::ManualEntry { unit_price, .. } => unit_price
            .iter()
            .map(|p| ("details.unit_price".to_owned(), p))
            .collect(),
        CareRecordDetails::Gastro { unit_price, .. } => {
            vec![("details.unit_price".to_owned(), unit_price)]
        }
        _ => Vec::new(),
    }
}

/// The domain's checks under `details.`, plus dates both databases can store.
pub fn check_details(details: &CareRecordDetails, v: &mut Validation) {
    v.nest("details", details.validate());
    let span = details.span();
    let (from_field, to_field) = date_fields(details);
    for (field, day) in [(from_field, Some(span.from)), (to_field, span.to)] {
        if let Some(d) = day {
            v.check(
                &format!("details.{field}"),
                "out_of_range",
                carebill_domain::accounts::check_date(d),
            );
        }
    }
}

/// Prices must be in the location's invoicing currency.
fn check_currency(details: &CareRecordDetails, currency: &str) -> Result<(), Error> {
    let mut v = Validation::new();
    for (field, price) in prices(details) {
        if price.currency().code() != currency {
            v.add(
                field,
                "currency_mismatch",
                format!("the location invoices in {currency}"),
            );
        }
    }
    v.finish().map_err(Error::validation)
}

/// Refuses a stay or an evaluation that shares days with another of the same patient at the
/// same location (`except` is the record being changed). Other kinds may overlap.
fn check_overlap(
    conn: &mut AnyConnection,
    patient_id: &str,
    location_id: &str,
    details: &CareRecordDetails,
    except: Option<&str>,
) -> Result<(), Error> {
    let (code, what) = match details {
        CareRecordDetails::Stay { .. } => (ErrorCode::OverlappingStay, "stay"),
        CareRecordDetails::Evaluation { .. } => (ErrorCode::OverlappingEvaluation, "evaluation"),
        _ => return Ok(()),
    };
    let span = details.span();
    let clash = store::first_overlap(
        conn,
        &OverlapQuery {
            patient_id,
            location_id,
            kind: kind_of(details),
            except,
            from: span.from,
            to: span.to,
            evaluation: matches!(details, CareRecordDetails::Evaluation { .. }),
        },
    )?;
    match clash {
        None => Ok(()),
        Some((id, from, to)) => Err(Error::new(
            code,
            format!(
                "overlaps {what} {id} ({from} to {}) of this patient at this location",
                to.map_or_else(|| "open".to_owned(), |t| t.to_string())
            ),
        )),
    }
}

fn find(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<CareRecordRow, Error> {
    let allowed = location_store::allowed_ids(conn, scope)?;
    store::find(conn, allowed.as_deref(), id)?.ok_or_else(|| Error::not_found("care record"))
}

/// A record this use case has just checked or written (in scope by then).
fn reread(conn: &mut AnyConnection, id: &str) -> Result<CareRecordView, Error> {
    CareRecordView::read(
        store::find(conn, None, id)?.ok_or_else(|| Error::not_found("care record"))?,
    )
}

fn keep_version(
    conn: &mut AnyConnection,
    who: &Principal,
    view: &CareRecordView,
    details: String,
    reason: Option<&str>,
) -> Result<(), Error> {
    store::insert_version(
        conn,
        VersionRow {
            record_id: view.id.clone(),
            version: view.version,
            details,
            cancelled: view.cancelled,
            reason: reason.map(str::to_owned),
            changed_by: who.subject.clone(),
            changed_at: view.updated_at.naive_utc(),
        },
    )
}

/// Emits the record as it now is, with the code settlement names its location by.
fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    view: &CareRecordView,
    reason: Option<&str>,
) -> Result<(), Error> {
    let location_id = view.location_id.to_string();
    let patient_id = view.patient_id.to_string();
    let location = locations::get(conn, &Scope::everything(), &location_id)?.to_ref();
    let patient = patients::get(conn, &patient_id)?.to_ref();
    let coverages = coverages::refs_for_patient(conn, &patient_id)?;
    emit(
        conn,
        who,
        &CareRecordChangedV1 {
            record: CareRecord {
                id: view.id.clone(),
                patient_id,
                location_id,
                version: view.version,
                cancelled: view.cancelled,
                details: view.details.clone(),
            },
            location_code: location.code.clone(),
            location: Some(location),
            patient: Some(patient),
            coverages,
            reason: reason.map(str::to_owned),
            changed_by: who.subject.clone(),
            changed_at: view.updated_at,
        },
    )
}

/// Records a care record (version 1) at an active location in the caller's scope, for a known
/// patient, in the location's currency, overlapping no stay or evaluation it may not.
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    input: NewCareRecord,
) -> Result<CareRecordView, Error> {
    let scope = Scope::of(who);
    let location = locations::get(conn, &scope, &input.location_id)
        .map_err(|e| unknown_as_field(e, "location_id", "unknown", "no such location"))?;
    if !location.active {
        return Err(Error::field(
            "location_id",
            "inactive",
            "the location is inactive",
        ));
    }
    patients::get(conn, &input.patient_id)
        .map_err(|e| unknown_as_field(e, "patient_id", "unknown", "no such patient"))?;
    check_currency(&input.details, location.currency.code())?;
    check_overlap(
        conn,
        &input.patient_id,
        &input.location_id,
        &input.details,
        None,
    )?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    let span = input.details.span();
    let details = store::details_json(&input.details)?;
    store::insert(
        conn,
        &NewCareRecordRow {
            id: &id,
            patient_id: &input.patient_id,
            location_id: &input.location_id,
            kind: kind_of(&input.details),
            details: &details,
            start_date: span.from,
            end_date: span.to,
            at: now,
        },
    )?;
    let view = reread(conn, &id)?;
    keep_version(conn, who, &view, details, None)?;
    announce(conn, who, &view, None)?;
    audit::record_at(
        conn,
        who,
        &view.location_id.to_string(),
        "create",
        "care_record",
        &id,
        serde_json::json!({ "after": view }),
        None,
    )?;
    Ok(view)
}

/// Changes a care record into a new version, if `expected` (the caller's `If-Match`) names the
/// current one: 404 before 428/412, those before the details are checked; the kind stays, a
/// cancelled record or one at an inactive location does not change, and the same details again
/// change nothing.
#[tracing::instrument(skip_all, fields(care_record_id = %id))]
pub fn change(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    expected: Option<String>,
    mut input: ChangeRequest,
) -> Result<Changed, Error> {
    conn.transaction(|conn| {
        input.details = input.details.trimmed();
        store::lock(conn, id)?;
        let scope = Scope::of(who);
        // An unknown record is a 404 before the precondition is asked for.
        let before = find(conn, &scope, id)?;
        let expected = expected.ok_or_else(|| {
            precondition_required("of the care record (from GET /v1/care-records/{id})")
        })?;
        if !carebill_platform::http::if_match_admits(&expected, &etag(before.version)) {
            return Err(precondition_failed(format!(
                "the care record changed since you read it (now {}); read it again",
                etag(before.version)
            )));
        }
        let mut v = Validation::new();
        let reason = v.text("reason", &input.reason, 500);
        check_details(&input.details, &mut v);
        let old = before.details()?;
        if kind_of(&input.details) != kind_of(&old) {
            v.add(
                "details.kind",
                "kind_changed",
                format!(
                    "a {} record stays one; cancel it and record a new one",
                    kind_of(&old)
                ),
            );
        }
        v.finish().map_err(Error::validation)?;
        if before.cancelled {
            return Err(Error::new(
                ErrorCode::Cancelled,
                "a cancelled care record cannot change",
            ));
        }
        if input.details == old {
            return Ok(Changed::Same(CareRecordView::read(before)?));
        }
        let location = locations::get(conn, &scope, &before.location_id.to_string())?;
        if !location.active {
            return Err(Error::new(
                ErrorCode::LocationInactive,
                "the record's location is inactive: its records no longer change (a wrong one can still be cancelled)",
            ));
        }
        check_currency(&input.details, location.currency.code())?;
        check_overlap(
            conn,
            &before.patient_id.to_string(),
            &before.location_id.to_string(),
            &input.details,
            Some(id),
        )?;
        let version = before.version + 1;
        let now = db::now();
        let span = input.details.span();
        let details = store::details_json(&input.details)?;
        store::update_details(conn, id, version, &details, (span.from, span.to), now)?;
        let after = reread(conn, id)?;
        keep_version(conn, who, &after, details, reason.as_deref())?;
        announce(conn, who, &after, reason.as_deref())?;
        audit::record_at(
            conn,
            who,
            &after.location_id.to_string(),
            "update",
            "care_record",
            id,
            serde_json::json!({ "version": version, "before": old, "after": after.details }),
            reason.as_deref(),
        )?;
        Ok(Changed::New(after))
    })
}

/// Cancels a care record with a reason: a new version that no longer counts.
#[tracing::instrument(skip_all, fields(care_record_id = %id))]
pub fn cancel(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    reason: &str,
) -> Result<CareRecordView, Error> {
    store::lock(conn, id)?;
    let scope = Scope::of(who);
    let before = find(conn, &scope, id)?;
    if before.cancelled {
        return Err(Error::new(
            ErrorCode::AlreadyCancelled,
            "this care record is already cancelled",
        ));
    }
    let version = before.version + 1;
    store::mark_cancelled(conn, id, version, db::now())?;
    let after = reread(conn, id)?;
    keep_version(conn, who, &after, before.details, Some(reason))?;
    announce(conn, who, &after, Some(reason))?;
    audit::record_at(
        conn,
        who,
        &after.location_id.to_string(),
        "cancel",
        "care_record",
        id,
        serde_json::json!({ "version": version, "cancelled": { "before": false, "after": true } }),
        Some(reason),
    )?;
    Ok(after)
}

/// The care record's current version, if at a location `scope` allows.
#[tracing::instrument(skip_all, fields(care_record_id = %id))]
pub fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<CareRecordView, Error> {
    CareRecordView::read(find(conn, scope, id)?)
}

/// Every version of a care record in `scope`, oldest first.
#[tracing::instrument(skip_all, fields(care_record_id = %id))]
pub fn versions(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
) -> Result<Vec<CareRecordVersion>, Error> {
    find(conn, scope, id)?;
    store::versions(conn, id)?
        .into_iter()
        .map(|r| {
            Ok(CareRecordVersion {
                details: r.details()?,
                version: r.version,
                cancelled: r.cancelled,
                reason: r.reason,
                changed_by: r.changed_by,
                changed_at: r.changed_at.and_utc(),
            })
        })
        .collect()
}

/// A page of the care records in `scope` (current versions).
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &CareRecordFilter,
    page: &PageRequest,
) -> Result<Page<CareRecordView>, Error> {
    let allowed = location_store::allowed_ids(conn, scope)?;
    let rows = store::page(conn, allowed.as_deref(), f, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone());
    page.try_map(CareRecordView::read)
}
