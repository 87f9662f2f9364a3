//! Periodic settlements as stored: a billing run's lines per beneficiary, billers' corrections
//! of those lines, the rule versions that made them, and the beneficiaries' care records.

use std::collections::HashMap;

use carebill_domain::Money;
use carebill_domain::billing::RunLine;
use carebill_domain::events::{CoverageRef, LocationRef, PatientRef};
use carebill_domain::ids::{LocationId, PatientId};
use carebill_domain::rules::RuleDefinition;
use carebill_domain::stored::json;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use diesel::prelude::*;

use crate::schema::{billing_run_lines, care_records, invoicing_rules, periodic_corrections};
use crate::store::settlements::stored_manual_price;

/// A beneficiary's lines of a run, with their numbers in the run.
pub fn run_lines_of(
    conn: &mut AnyConnection,
    run_id: &str,
    patient_id: &str,
) -> Result<Vec<(i32, RunLine)>, Error> {
    let rows: Vec<(i32, String)> = billing_run_lines::table
        .filter(billing_run_lines::run_id.eq(run_id))
        .filter(billing_run_lines::patient_id.eq(patient_id))
        .order(billing_run_lines::line_no.asc())
        .select((billing_run_lines::line_no, billing_run_lines::line))
        .load(conn)?;
    rows.into_iter()
        .map(|(n, data)| Ok((n, json("billing run line", &data).map_err(Error::from)?)))
        .collect()
}

/// A biller's correction of one periodic line: a manual unit price and/or its exclusion.
#[derive(Debug, Clone)]
pub struct Correction {
    /// The manual unit price (none: the rule's).
    pub unit_price: Option<Money>,
    /// Excluded from billing.
    pub excluded: bool,
    /// Why.
    pub reason: String,
}

/// A periodic settlement's corrections, by line.
pub fn corrections(
    conn: &mut AnyConnection,
    settlement_id: &str,
) -> Result<HashMap<String, Correction>, Error> {
    type Stored = (String, Option<i64>, Option<String>, bool, String);
    let rows: Vec<Stored> = periodic_corrections::table
        .filter(periodic_corrections::settlement_id.eq(settlement_id))
        .select((
            periodic_corrections::line_id,
            periodic_corrections::unit_price_minor,
            periodic_corrections::currency,
            periodic_corrections::excluded,
            periodic_corrections::reason,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(line, minor, currency, excluded, reason)| {
            Ok((
                line,
                Correction {
                    unit_price: stored_manual_price(minor, currency.as_deref())?,
                    excluded,
                    reason,
                },
            ))
        })
        .collect()
}

/// Replaces the correction of a periodic line.
pub fn put_correction(
    conn: &mut AnyConnection,
    settlement_id: &str,
    line_id: &str,
    unit_price_minor: Option<i64>,
    currency: Option<String>,
    excluded: bool,
    reason: &str,
) -> Result<(), Error> {
    diesel::delete(
        periodic_corrections::table
            .filter(periodic_corrections::settlement_id.eq(settlement_id))
            .filter(periodic_corrections::line_id.eq(line_id)),
    )
    .execute(conn)?;
    diesel::insert_into(periodic_corrections::table)
        .values((
            periodic_corrections::settlement_id.eq(settlement_id),
            periodic_corrections::line_id.eq(line_id),
            periodic_corrections::unit_price_minor.eq(unit_price_minor),
            periodic_corrections::currency.eq(currency),
            periodic_corrections::excluded.eq(excluded),
            periodic_corrections::reason.eq(reason),
        ))
        .execute(conn)?;
    Ok(())
}

/// An invoicing rule's version (none: no such version); a version beyond what is stored
/// (INTEGER) is an internal error naming it.
pub fn rule_version(
    conn: &mut AnyConnection,
    code: &str,
    version: i64,
) -> Result<Option<RuleDefinition>, Error> {
    let version = i32::try_from(version).map_err(|e| {
        Error::internal(&format!(
            "version {version} of invoicing rule {code} is beyond a stored version: {e}"
        ))
    })?;
    let definition: Option<String> = invoicing_rules::table
        .filter(invoicing_rules::code.eq(code))
        .filter(invoicing_rules::version.eq(version))
        .select(invoicing_rules::definition)
        .first(conn)
        .optional()?;
    definition
        .map(|d| json("invoicing rule definition", &d).map_err(Error::from))
        .transpose()
}

/// A beneficiary's patient, location and coverages.
pub type Refs = (PatientRef, LocationRef, Vec<CoverageRef>);

/// What the beneficiaries' invoices name: the patient and location accounts sent with each
/// one's newest care record at the location, and their coverages.
pub fn beneficiaries(
    conn: &mut AnyConnection,
    location_code: &str,
) -> Result<HashMap<String, Refs>, Error> {
    type Stored = (String, String, Option<String>, Option<String>, String);
    let rows: Vec<Stored> = care_records::table
        .filter(care_records::location_code.eq(location_code))
        .order(care_records::updated_at.asc())
        .select((
            care_records::patient_id,
            care_records::location_id,
            care_records::patient,
            care_records::location,
            care_records::coverages,
        ))
        .load(conn)?;
    let mut newest: HashMap<String, Stored> = HashMap::new();
    for r in rows {
        newest.insert(r.0.clone(), r);
    }
    newest
        .into_iter()
        .map(
            |(patient_id, (_, location_id, patient, location, coverages))| {
                let id: PatientId = patient_id.parse().map_err(|e| Error::internal(&e))?;
                let patient: PatientRef = match patient {
                    Some(p) => json("care record patient", &p).map_err(Error::from)?,
                    // Absent by contract in care-record events older than the field (see
                    // `CareRecordChangedV1::patient`): what is known of the patient, its id.
                    None => PatientRef {
                        id,
                        beneficiary_kind: String::new(),
                        birth_date: None,
                        flags: Vec::new(),
                        sex: None,
                        billing: None,
                    },
                };
                let location: LocationRef = match location {
                    Some(l) => json("care record location", &l).map_err(Error::from)?,
                    // Absent by contract in events older than the field (see
                    // `CareRecordChangedV1::location`): the location as the record names it,
                    // its code standing for its name, in UTC.
                    None => LocationRef {
                        id: location_id
                            .parse::<LocationId>()
                            .map_err(|e| Error::stored("location id", &location_id, e))?,
                        code: location_code.to_owned(),
                        name: location_code.to_owned(),
                        time_zone: "UTC".to_owned(),
                        tax_id: None,
                        billing: None,
                    },
                };
                Ok((
                    patient_id,
                    (
                        patient,
                        location,
                        json("care record coverages", &coverages).map_err(Error::from)?,
                    ),
                ))
            },
        )
        .collect()
}
