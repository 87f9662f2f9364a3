//! Care records: the invoicing sources next to plain consumptions (seed 003) — stays, absences,
//! contracts, manual entries, evaluations, gastro and ambulatory lines — recorded for a patient
//! at a location. What each kind holds and how it is checked is
//! [`carebill_domain::sources::CareRecordDetails`]; this module stores it and keeps its history.
//!
//! A record is never edited in place: a change (`PUT` with `If-Match` and a reason) or a
//! cancellation makes the next version, and every version stays readable. Each new version
//! emits `carebill.accounts.care_record.changed.v1` carrying the whole record, so settlement
//! bills from its own copy.
//!
//! Stays of one patient at one location must not overlap (an open leaving date runs on), nor
//! may evaluations; an open evaluation runs until the next one starts, so only evaluations that
//! share days by their stated dates clash.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, Responder as _, web};
use carebill_domain::Validation;
use carebill_domain::events::CareRecordChangedV1;
use carebill_domain::money::Money;
use carebill_domain::rules::InvoicingSource;
use carebill_domain::sources::{CareRecord, CareRecordDetails};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::AnyConnection;
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, if_match_value,
    parse_id, precondition_failed, precondition_required,
};
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{audit, db};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::schema::{care_record_versions, care_records};
use crate::service::{coverages, patients};
use crate::service::{emit, locations, unknown_as_field};

/// A care record as the API shows it: its current version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CareRecordView {
    /// Id.
    pub id: String,
    /// The patient (beneficiary).
    pub patient_id: String,
    /// The location (institution).
    pub location_id: String,
    /// What kind of record it is (the `kind` of `details`).
    pub kind: InvoicingSource,
    /// Version, from 1; each change or cancellation adds one.
    pub version: i64,
    /// A cancelled record no longer counts for billing and cannot change.
    pub cancelled: bool,
    /// What it holds, by kind.
    pub details: CareRecordDetails,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Send as `If-Match` to change the record (also the `ETag` header).
    #[schema(example = "\"v1\"")]
    pub etag: String,
}

/// One version of a care record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CareRecordVersion {
    /// Version number, from 1.
    pub version: i64,
    /// What the record held in this version.
    pub details: CareRecordDetails,
    /// Whether this version cancelled the record.
    pub cancelled: bool,
    /// Why it was made (none for the first version).
    #[schema(example = "leaving date corrected")]
    pub reason: Option<String>,
    /// Who made it.
    pub changed_by: String,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// What a client sends to record a care record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareRecordInput {
    /// The patient.
    #[schema(format = Uuid)]
    pub patient_id: String,
    /// The location; it must be active and in your scope.
    #[schema(format = Uuid)]
    pub location_id: String,
    /// What it holds; `kind` says which fields follow.
    pub details: CareRecordDetails,
}

/// A change of a care record: the whole new details and why.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CareRecordChange {
    /// Why it changes (required; kept with the version).
    #[schema(example = "leaving date corrected")]
    #[schema(pattern = r"\S", max_length = 500)]
    pub reason: String,
    /// The new details, of the record's kind.
    pub details: CareRecordDetails,
}

/// A request to cancel a care record.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    /// Why (required).
    #[schema(example = "recorded for the wrong resident")]
    #[schema(pattern = r"\S", max_length = 500)]
    pub reason: String,
}

/// The `kind` tag of details, as stored and filtered on.
fn kind_of(details: &CareRecordDetails) -> &'static str {
    source_kind(details.source()).unwrap_or("consumption")
}

/// The stored `kind` of a source, or none for one that is not a care record.
fn source_kind(source: InvoicingSource) -> Option<&'static str> {
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
fn check_details(details: &CareRecordDetails, v: &mut Validation) {
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

fn check_reason(reason: &str) -> Result<String, Error> {
    let mut v = Validation::new();
    let reason = v.text("reason", reason, 500);
    v.finish().map_err(Error::validation)?;
    reason.ok_or_else(|| Error::internal(&"validation passed without a reason"))
}

impl CareRecordInput {
    /// Validates what can be checked without the database.
    pub fn validate(mut self) -> Result<CareRecordInput, Error> {
        self.details = self.details.trimmed();
        let mut v = Validation::new();
        if uuid::Uuid::parse_str(&self.patient_id).is_err() {
            v.add("patient_id", "invalid", "must be a patient id");
        }
        if uuid::Uuid::parse_str(&self.location_id).is_err() {
            v.add("location_id", "invalid", "must be a location id");
        }
        check_details(&self.details, &mut v);
        v.finish().map_err(Error::validation)?;
        Ok(self)
    }
}

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = care_records)]
struct Row {
    id: String,
    patient_id: String,
    location_id: String,
    version: i64,
    cancelled: bool,
    details: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl Row {
    fn details(&self) -> Result<CareRecordDetails, Error> {
        Ok(serde_json::from_str(&self.details)?)
    }

    fn into_view(self) -> Result<CareRecordView, Error> {
        let details = self.details()?;
        Ok(CareRecordView {
            kind: details.source(),
            etag: etag(self.version),
            id: self.id,
            patient_id: self.patient_id,
            location_id: self.location_id,
            version: self.version,
            cancelled: self.cancelled,
            details,
            created_at: self.created_at.and_utc(),
            updated_at: self.updated_at.and_utc(),
        })
    }
}

fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

fn with_etag(view: &CareRecordView, status: StatusCode) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::ETAG, view.etag.clone()))
        .json(view)
}

/// Loads a care record the caller may see.
fn find(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<Row, Error> {
    let row: Row = care_records::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("care record"))?;
    if !crate::store::locations::allows(
        conn,
        &carebill_platform::auth::Scope::of(who),
        &row.location_id,
    )? {
        return Err(Error::not_found("care record"));
    }
    Ok(row)
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
    // Two writers checking the same patient at once would each miss the other's new record.
    db::lock_row(conn, "patients", patient_id)?;
    let span = details.span();
    let mut q = care_records::table
        .filter(care_records::patient_id.eq(patient_id.to_owned()))
        .filter(care_records::location_id.eq(location_id.to_owned()))
        .filter(care_records::kind.eq(kind_of(details)))
        .filter(care_records::cancelled.eq(false))
        .select((
            care_records::id,
            care_records::start_date,
            care_records::end_date,
        ))
        .into_boxed();
    if let Some(except) = except {
        q = q.filter(care_records::id.ne(except.to_owned()));
    }
    match details {
        CareRecordDetails::Evaluation { .. } => {
            // An open evaluation ends where the next begins: a clash is the same first day, a
            // first day inside the other's stated span, or the other's inside this one's.
            let starts_inside_other = care_records::start_date
                .le(span.from)
                .and(care_records::end_date.ge(span.from));
            q = match span.to {
                Some(to) => q.filter(
                    care_records::start_date
                        .between(span.from, to)
                        .or(starts_inside_other),
                ),
                None => q.filter(
                    care_records::start_date
                        .eq(span.from)
                        .or(starts_inside_other),
                ),
            };
        }
        _ => {
            // Both ends inclusive; an open end runs on.
            q = q.filter(
                care_records::end_date
                    .is_null()
                    .or(care_records::end_date.ge(span.from)),
            );
            if let Some(to) = span.to {
                q = q.filter(care_records::start_date.le(to));
            }
        }
    }
    let clash: Option<(String, NaiveDate, Option<NaiveDate>)> = q
        .order((care_records::start_date.asc(), care_records::id.asc()))
        .first(conn)
        .optional()?;
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

#[expect(
    clippy::too_many_arguments,
    reason = "one column each; a struct would only repeat them"
)]
fn insert_version(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    version: i64,
    details: &str,
    cancelled: bool,
    reason: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::insert_into(care_record_versions::table)
        .values((
            care_record_versions::record_id.eq(id),
            care_record_versions::version.eq(version),
            care_record_versions::details.eq(details),
            care_record_versions::cancelled.eq(cancelled),
            care_record_versions::reason.eq(reason),
            care_record_versions::changed_by.eq(&who.subject),
            care_record_versions::changed_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Emits the record as it now is, with the code settlement names its location by.
fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    view: &CareRecordView,
    reason: Option<&str>,
) -> Result<(), Error> {
    let loc = locations::get(
        conn,
        &carebill_platform::auth::Scope::everything(),
        &view.location_id,
    )?;
    let patient = patients::get(conn, &view.patient_id)?.to_ref();
    let coverages = coverages::refs_for_patient(conn, &view.patient_id)?;
    let location = loc.to_ref();
    let location_code = location.code.clone();
    emit(
        conn,
        who,
        &CareRecordChangedV1 {
            record: CareRecord {
                id: view.id.clone(),
                patient_id: view.patient_id.clone(),
                location_id: view.location_id.clone(),
                version: view.version,
                cancelled: view.cancelled,
                details: view.details.clone(),
            },
            location_code,
            location: Some(location),
            patient: Some(patient),
            coverages,
            reason: reason.map(str::to_owned),
            changed_by: who.subject.clone(),
            changed_at: view.updated_at,
        },
    )
}

fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    input: CareRecordInput,
) -> Result<CareRecordView, Error> {
    let location = locations::get(
        conn,
        &carebill_platform::auth::Scope::of(who),
        &input.location_id,
    )
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
    let details = serde_json::to_string(&input.details)?;
    diesel::insert_into(care_records::table)
        .values((
            care_records::id.eq(&id),
            care_records::patient_id.eq(&input.patient_id),
            care_records::location_id.eq(&input.location_id),
            care_records::kind.eq(kind_of(&input.details)),
            care_records::version.eq(1_i64),
            care_records::cancelled.eq(false),
            care_records::details.eq(&details),
            care_records::start_date.eq(span.from),
            care_records::end_date.eq(span.to),
            care_records::created_at.eq(now),
            care_records::updated_at.eq(now),
        ))
        .execute(conn)?;
    insert_version(conn, who, &id, 1, &details, false, None, now)?;
    let view = find(conn, who, &id)?.into_view()?;
    announce(conn, who, &view, None)?;
    audit::record_at(
        conn,
        who,
        &view.location_id,
        "create",
        "care_record",
        &id,
        serde_json::json!({ "after": view }),
        None,
    )?;
    Ok(view)
}

/// Outcome of a change: a new version, or the current one when nothing changed.
enum Changed {
    New(CareRecordView),
    Same(CareRecordView),
}

fn change(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    expected: Option<String>,
    mut input: CareRecordChange,
) -> Result<Changed, Error> {
    input.details = input.details.trimmed();
    db::lock_row(conn, "care_records", id)?;
    // An unknown record is a 404 before the precondition is asked for.
    let before = find(conn, who, id)?;
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
        return Ok(Changed::Same(before.into_view()?));
    }
    let location = locations::get(
        conn,
        &carebill_platform::auth::Scope::of(who),
        &before.location_id,
    )?;
    if !location.active {
        return Err(Error::new(
            ErrorCode::LocationInactive,
            "the record's location is inactive: its records no longer change (a wrong one can still be cancelled)",
        ));
    }
    check_currency(&input.details, location.currency.code())?;
    check_overlap(
        conn,
        &before.patient_id,
        &before.location_id,
        &input.details,
        Some(id),
    )?;
    let version = before.version + 1;
    let now = db::now();
    let span = input.details.span();
    let details = serde_json::to_string(&input.details)?;
    diesel::update(care_records::table.find(id))
        .set((
            care_records::version.eq(version),
            care_records::details.eq(&details),
            care_records::start_date.eq(span.from),
            care_records::end_date.eq(span.to),
            care_records::updated_at.eq(now),
        ))
        .execute(conn)?;
    insert_version(
        conn,
        who,
        id,
        version,
        &details,
        false,
        reason.as_deref(),
        now,
    )?;
    let after = find(conn, who, id)?.into_view()?;
    announce(conn, who, &after, reason.as_deref())?;
    audit::record_at(
        conn,
        who,
        &after.location_id,
        "update",
        "care_record",
        id,
        serde_json::json!({ "version": version, "before": old, "after": after.details }),
        reason.as_deref(),
    )?;
    Ok(Changed::New(after))
}

fn cancel(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    reason: &str,
) -> Result<CareRecordView, Error> {
    db::lock_row(conn, "care_records", id)?;
    let before = find(conn, who, id)?;
    if before.cancelled {
        return Err(Error::new(
            ErrorCode::AlreadyCancelled,
            "this care record is already cancelled",
        ));
    }
    let version = before.version + 1;
    let now = db::now();
    diesel::update(care_records::table.find(id))
        .set((
            care_records::version.eq(version),
            care_records::cancelled.eq(true),
            care_records::updated_at.eq(now),
        ))
        .execute(conn)?;
    insert_version(
        conn,
        who,
        id,
        version,
        &before.details,
        true,
        Some(reason),
        now,
    )?;
    let after = find(conn, who, id)?.into_view()?;
    announce(conn, who, &after, Some(reason))?;
    audit::record_at(
        conn,
        who,
        &after.location_id,
        "cancel",
        "care_record",
        id,
        serde_json::json!({ "version": version, "cancelled": { "before": false, "after": true } }),
        Some(reason),
    )?;
    Ok(after)
}

fn versions(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
) -> Result<Vec<CareRecordVersion>, Error> {
    find(conn, who, id)?;
    care_record_versions::table
        .filter(care_record_versions::record_id.eq(id))
        .order(care_record_versions::version.asc())
        .select((
            care_record_versions::version,
            care_record_versions::details,
            care_record_versions::cancelled,
            care_record_versions::reason,
            care_record_versions::changed_by,
            care_record_versions::changed_at,
        ))
        .load::<(i64, String, bool, Option<String>, String, NaiveDateTime)>(conn)?
        .into_iter()
        .map(|(version, details, cancelled, reason, changed_by, at)| {
            Ok(CareRecordVersion {
                version,
                details: serde_json::from_str(&details)?,
                cancelled,
                reason,
                changed_by,
                changed_at: at.and_utc(),
            })
        })
        .collect()
}

/// Filters for the care record list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CareRecordFilter {
    /// Records of this patient.
    pub patient_id: Option<String>,
    /// Records at this location.
    pub location_id: Option<String>,
    /// Records of this kind (`consumption` is not one).
    pub kind: Option<InvoicingSource>,
    /// Also cancelled records (default false).
    pub include_cancelled: Option<bool>,
}

fn list(
    conn: &mut AnyConnection,
    who: &Principal,
    f: &CareRecordFilter,
    page: &PageRequest,
) -> Result<Page<CareRecordView>, Error> {
    let mut q = care_records::table.select(Row::as_select()).into_boxed();
    if let Some(ids) =
        crate::store::locations::allowed_ids(conn, &carebill_platform::auth::Scope::of(who))?
    {
        q = q.filter(care_records::location_id.eq_any(ids));
    }
    if let Some(p) = &f.patient_id {
        q = q.filter(care_records::patient_id.eq(p.clone()));
    }
    if let Some(l) = &f.location_id {
        q = q.filter(care_records::location_id.eq(l.clone()));
    }
    if let Some(k) = f.kind {
        let kind = source_kind(k)
            .ok_or_else(|| Error::field("kind", "invalid", "consumptions are not care records"))?;
        q = q.filter(care_records::kind.eq(kind));
    }
    if !f.include_cancelled.unwrap_or(false) {
        q = q.filter(care_records::cancelled.eq(false));
    }
    if let Some(after) = &page.after {
        q = q.filter(care_records::id.gt(after.clone()));
    }
    let rows = q
        .order(care_records::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone());
    let items = page
        .items
        .into_iter()
        .map(Row::into_view)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

const WRITERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Integration];
const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Integration,
];

/// Record a care record (version 1).
#[utoipa::path(post, path = "/v1/care-records", tag = "care-records", request_body = CareRecordInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Recorded; emits care_record.changed", body = CareRecordView,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 409, description = "A stay or evaluation overlapping another of the patient at the location (`overlapping_stay`, `overlapping_evaluation`), or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (details under `details.`), unknown patient or location, inactive location", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_care_record(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<CareRecordInput>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    let reply: Reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                create(conn, &who, input)
            })
        })
        .await?;
    state.wake.notify_one();
    // A created record (or the replay of its creation) is always version 1.
    let mut res = reply.respond_to(&req);
    res.headers_mut()
        .insert(header::ETAG, header::HeaderValue::from_static("\"v1\""));
    Ok(res)
}

/// Change a care record: a new version with the whole new details and a reason. Needs
/// `If-Match` with the current `ETag`. The kind stays; sending the current details again
/// changes nothing.
#[utoipa::path(put, path = "/v1/care-records/{id}", tag = "care-records", request_body = CareRecordChange,
    params(("id" = String, Path, description = "Care record id"),
        ("If-Match" = String, Header, description = "The record's ETag")),
    responses(
        (status = 200, description = "The new version (emits care_record.changed), or the current one when nothing changed", body = CareRecordView,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 404, description = "No such care record in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The record is cancelled (`cancelled`), its location is inactive (`location_inactive`), or the change overlaps another stay or evaluation", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The record changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, missing reason, or another kind (`kind_changed`)", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn change_care_record(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CareRecordChange>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "care record")?;
    let expected = if_match_value(&req);
    let input = body.value;
    let outcome = state
        .db
        .write(move |conn| {
            conn.transaction(|conn| change(conn, &who, &id.to_string(), expected, input))
        })
        .await?;
    Ok(match outcome {
        Changed::New(view) => {
            state.wake.notify_one();
            with_etag(&view, StatusCode::OK)
        }
        Changed::Same(view) => with_etag(&view, StatusCode::OK),
    })
}

/// Cancel a care record with a reason: a new version that no longer counts.
#[utoipa::path(post, path = "/v1/care-records/{id}/cancel", tag = "care-records", request_body = CancelInput,
    params(("id" = String, Path, description = "Care record id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 200, description = "Cancelled; emits care_record.changed with `cancelled` true", body = CareRecordView,
            headers(("ETag" = String, description = "The cancelled version's tag"))),
        (status = 404, description = "No such care record in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already cancelled (`already_cancelled`), or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn cancel_care_record(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CancelInput>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id: uuid::Uuid = parse_id(&id, "care record")?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let reason = check_reason(&body.value.reason)?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                cancel(conn, &who, &id.to_string(), &reason)
            })
        })
        .await?;
    state.wake.notify_one();
    // The new version's ETag in the header too, as every read and change of a record gives it.
    let etag = serde_json::from_str::<serde_json::Value>(&reply.body)
        .ok()
        .and_then(|v| v["etag"].as_str().map(str::to_owned));
    let mut res = reply.respond_to(&req);
    if let Some(value) = etag.and_then(|e| header::HeaderValue::from_str(&e).ok()) {
        res.headers_mut().insert(header::ETAG, value);
    }
    Ok(res)
}

/// Get a care record's current version.
#[utoipa::path(get, path = "/v1/care-records/{id}", tag = "care-records",
    params(("id" = String, Path, description = "Care record id")),
    responses(
        (status = 200, description = "The care record", body = CareRecordView,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 404, description = "No such care record in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_care_record(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "care record")?;
    let view = state
        .db
        .read(move |conn| find(conn, &who, &id.to_string())?.into_view())
        .await?;
    Ok(with_etag(&view, StatusCode::OK))
}

/// Every version of a care record, oldest first.
#[utoipa::path(get, path = "/v1/care-records/{id}/versions", tag = "care-records",
    params(("id" = String, Path, description = "Care record id")),
    responses(
        (status = 200, description = "Its versions, oldest first", body = Vec<CareRecordVersion>),
        (status = 404, description = "No such care record in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_care_record_versions(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Vec<CareRecordVersion>>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "care record")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| versions(conn, &who, &id.to_string()))
            .await?,
    ))
}

/// List care records in your scope (current versions; cancelled ones on request).
#[utoipa::path(get, path = "/v1/care-records", tag = "care-records", params(CareRecordFilter, PageParams),
    responses(
        (status = 200, description = "A page of care records", body = Page<CareRecordView>),
        (status = 400, description = "A query string that cannot be read (e.g. an unknown kind)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad limit or cursor, or kind=consumption", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_care_records(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<CareRecordFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<CareRecordView>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| list(conn, &who, &filter, &page))
            .await?,
    ))
}
