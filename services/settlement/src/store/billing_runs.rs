//! Billing runs as stored: each committed run (its figures, totals and problems as JSON) and its
//! lines (the run line as JSON, with the columns that are filtered or summed); and what a run
//! reads: the rules enabled at a location, service prices, care records, earlier runs' lines.

use carebill_domain::Money;
use carebill_domain::billing::{RunLine, RunProblem};
use carebill_domain::rules::RuleDefinition;
use carebill_domain::settlement::{PriceEntry, PriceQualifiers};
use carebill_domain::sources::{CareRecord, CareRecordDetails};
use carebill_domain::stored::json;
use carebill_domain::{Currency, MinorUnits};
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, insert_all};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::{
    billing_run_lines, billing_runs, care_records, invoicing_rule_activations, invoicing_rules,
    prices,
};

/// A committed run.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = billing_runs)]
pub struct RunRow {
    /// Id.
    pub id: String,
    /// Location code.
    pub location_code: String,
    /// The month, `YYYY-MM`.
    pub period: String,
    /// Beneficiaries.
    pub beneficiaries: i32,
    /// Care records read.
    pub care_records: i32,
    /// Lines billed.
    pub line_count: i32,
    /// Totals per context ([`StoredTotal`]s, JSON).
    pub totals: String,
    /// What could not be billed ([`StoredProblem`]s, JSON).
    pub problems: String,
    /// Who committed it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
}

impl RunRow {
    /// Its totals.
    pub fn totals(&self) -> Result<Vec<StoredTotal>, Error> {
        json("billing run totals", &self.totals).map_err(Error::from)
    }

    /// Its problems.
    pub fn problems(&self) -> Result<Vec<StoredProblem>, Error> {
        json("billing run problems", &self.problems).map_err(Error::from)
    }
}

/// A context's total as stored in `billing_runs.totals`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredTotal {
    /// Invoice context.
    pub context: String,
    /// Sum of its lines.
    pub amount: Money,
    /// Number of lines.
    pub lines: usize,
}

/// A problem as stored in `billing_runs.problems`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredProblem {
    /// The beneficiary.
    pub patient_id: String,
    /// The problem.
    #[serde(flatten)]
    pub problem: RunProblem,
}

/// A committed run to store.
pub struct NewRun<'a> {
    /// Id.
    pub id: &'a str,
    /// Location code.
    pub location_code: &'a str,
    /// The month.
    pub period: String,
    /// Beneficiaries.
    pub beneficiaries: i32,
    /// Care records read.
    pub care_records: i32,
    /// Lines billed.
    pub line_count: i32,
    /// Totals.
    pub totals: &'a [StoredTotal],
    /// Problems.
    pub problems: &'a [StoredProblem],
    /// Who.
    pub created_by: &'a str,
    /// When.
    pub created_at: NaiveDateTime,
}

/// A run's line to store.
#[derive(Insertable)]
#[diesel(table_name = billing_run_lines)]
pub struct NewLine<'a> {
    /// The run.
    pub run_id: &'a str,
    /// Its number in the run.
    pub line_no: i32,
    /// Location code.
    pub location_code: &'a str,
    /// The month.
    pub period: String,
    /// The beneficiary.
    pub patient_id: &'a str,
    /// The rule.
    pub rule_code: &'a str,
    /// The invoice context.
    pub context: &'a str,
    /// A correction of an earlier month.
    pub correction: bool,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Currency.
    pub currency: String,
    /// The run line (JSON).
    pub line: String,
}

/// The current version of every rule enabled at a location, by code, with its version.
pub fn rules_enabled_at(
    conn: &mut AnyConnection,
    location: &str,
) -> Result<Vec<(i32, RuleDefinition)>, Error> {
    let enabled: Vec<String> = invoicing_rule_activations::table
        .filter(invoicing_rule_activations::location_code.eq(location))
        .filter(invoicing_rule_activations::enabled.eq(true))
        .select(invoicing_rule_activations::rule_code)
        .load(conn)?;
    let rows: Vec<(i32, String)> = invoicing_rules::table
        .filter(invoicing_rules::code.eq_any(&enabled))
        .filter(invoicing_rules::current.eq(true))
        .order(invoicing_rules::code.asc())
        .select((invoicing_rules::version, invoicing_rules::definition))
        .load(conn)?;
    rows.into_iter()
        .map(|(version, definition)| {
            let rule = json("invoicing rule definition", &definition).map_err(Error::from)?;
            Ok((version, rule))
        })
        .collect()
}

/// Every price that is not payer-specific (service prices of rules among them).
pub fn service_prices(conn: &mut AnyConnection) -> Result<Vec<PriceEntry>, Error> {
    type Row = (
        String,
        i64,
        String,
        NaiveDate,
        Option<NaiveDate>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = prices::table
        .filter(prices::payer_code.is_null())
        .select((
            prices::code,
            prices::unit_price_minor,
            prices::currency,
            prices::valid_from,
            prices::valid_to,
            prices::location_code,
            prices::beneficiary_kind,
            prices::object_type,
            prices::care_level,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(code, minor, currency, from, to, location, kind, object, level)| {
                let currency = Currency::parse(&currency)
                    .map_err(|e| Error::stored("price currency", &currency, e))?;
                Ok(PriceEntry {
                    code,
                    unit_price: Money::from_minor(MinorUnits(minor), currency),
                    valid_from: from,
                    valid_to: to,
                    location,
                    payer: None,
                    qualifiers: PriceQualifiers {
                        beneficiary_kind: kind,
                        object_type: object,
                        level,
                    },
                    components: Vec::new(),
                })
            },
        )
        .collect()
}

/// The care records (not cancelled) at a location (of one beneficiary).
pub fn care_records_at(
    conn: &mut AnyConnection,
    location: &str,
    patient: Option<&str>,
) -> Result<Vec<CareRecord>, Error> {
    let mut q = care_records::table
        .filter(care_records::location_code.eq(location))
        .filter(care_records::cancelled.eq(false))
        .select((
            care_records::id,
            care_records::patient_id,
            care_records::location_id,
            care_records::version,
            care_records::details,
        ))
        .into_boxed();
    if let Some(p) = patient {
        q = q.filter(care_records::patient_id.eq(p.to_owned()));
    }
    let rows: Vec<(String, String, String, i64, String)> = q.load(conn)?;
    rows.into_iter()
        .map(|(id, patient_id, location_id, version, details)| {
            let details: CareRecordDetails =
                json("care record details", &details).map_err(Error::from)?;
            Ok(CareRecord {
                id,
                patient_id,
                location_id,
                version,
                cancelled: false,
                details,
            })
        })
        .collect()
}

/// The lines earlier months' runs billed at a location (to one beneficiary), with their
/// beneficiaries.
pub fn earlier_lines(
    conn: &mut AnyConnection,
    location: &str,
    period: &str,
    patient: Option<&str>,
) -> Result<Vec<(String, RunLine)>, Error> {
    let mut q = billing_run_lines::table
        .filter(billing_run_lines::location_code.eq(location))
        .filter(billing_run_lines::period.lt(period.to_owned()))
        .select((billing_run_lines::patient_id, billing_run_lines::line))
        .into_boxed();
    if let Some(p) = patient {
        q = q.filter(billing_run_lines::patient_id.eq(p.to_owned()));
    }
    q.load::<(String, String)>(conn)?
        .into_iter()
        .map(|(patient_id, line)| {
            Ok((
                patient_id,
                json("billing run line", &line).map_err(Error::from)?,
            ))
        })
        .collect()
}

/// Serialises the runs of a location (PostgreSQL) until the transaction ends.
pub fn lock_location(conn: &mut AnyConnection, location: &str) -> Result<(), Error> {
    Ok(db::lock_key(conn, &format!("billing-run:{location}"))?)
}

/// The latest month after `period` a run billed at the location.
pub fn later_period(
    conn: &mut AnyConnection,
    location: &str,
    period: &str,
) -> Result<Option<String>, Error> {
    Ok(billing_runs::table
        .filter(billing_runs::location_code.eq(location))
        .filter(billing_runs::period.gt(period))
        .select(billing_runs::period)
        .order(billing_runs::period.desc())
        .first(conn)
        .optional()?)
}

/// The run of a month at a location.
pub fn run_of(
    conn: &mut AnyConnection,
    location: &str,
    period: &str,
) -> Result<Option<RunRow>, Error> {
    Ok(billing_runs::table
        .filter(billing_runs::location_code.eq(location))
        .filter(billing_runs::period.eq(period))
        .select(RunRow::as_select())
        .first(conn)
        .optional()?)
}

/// A run's lines in order, with their beneficiaries.
pub fn lines_of_run(
    conn: &mut AnyConnection,
    run_id: &str,
) -> Result<Vec<(String, RunLine)>, Error> {
    let rows: Vec<(String, String)> = billing_run_lines::table
        .filter(billing_run_lines::run_id.eq(run_id))
        .order(billing_run_lines::line_no.asc())
        .select((billing_run_lines::patient_id, billing_run_lines::line))
        .load(conn)?;
    rows.into_iter()
        .map(|(patient_id, line)| {
            Ok((
                patient_id,
                json("billing run line", &line).map_err(Error::from)?,
            ))
        })
        .collect()
}

/// Stores a committed run and its lines.
pub fn insert(
    conn: &mut AnyConnection,
    run: &NewRun<'_>,
    lines: Vec<NewLine<'_>>,
) -> Result<(), Error> {
    diesel::insert_into(billing_runs::table)
        .values((
            billing_runs::id.eq(run.id),
            billing_runs::location_code.eq(run.location_code),
            billing_runs::period.eq(&run.period),
            billing_runs::beneficiaries.eq(run.beneficiaries),
            billing_runs::care_records.eq(run.care_records),
            billing_runs::line_count.eq(run.line_count),
            billing_runs::totals.eq(serde_json::to_string(run.totals)?),
            billing_runs::problems.eq(serde_json::to_string(run.problems)?),
            billing_runs::created_by.eq(run.created_by),
            billing_runs::created_at.eq(run.created_at),
        ))
        .execute(conn)?;
    insert_all!(conn, billing_run_lines::table, lines);
    Ok(())
}

/// A committed run.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<RunRow>, Error> {
    Ok(billing_runs::table
        .find(id)
        .select(RunRow::as_select())
        .first(conn)
        .optional()?)
}

/// A page of committed runs in scope (of a location, of a month) by id after `after`.
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    location: Option<&str>,
    period: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<RunRow>, Error> {
    // A run is a location's; a payer-limited caller sees none.
    let mut q = carebill_platform::scoped!(
        billing_runs::table.select(RunRow::as_select()).into_boxed(),
        scope,
        billing_runs::location_code
    );
    if let Some(l) = location {
        q = q.filter(billing_runs::location_code.eq(l.to_owned()));
    }
    if let Some(p) = period {
        q = q.filter(billing_runs::period.eq(p.to_owned()));
    }
    if let Some(after) = after {
        q = q.filter(billing_runs::id.gt(after.to_owned()));
    }
    Ok(q.order(billing_runs::id.asc())
        .limit(limit)
        .load::<RunRow>(conn)?)
}

/// A page of a run's lines (of one beneficiary) by number after `after`.
pub fn line_page(
    conn: &mut AnyConnection,
    run_id: &str,
    patient: Option<&str>,
    after: Option<i32>,
    limit: i64,
) -> Result<Vec<(i32, String, RunLine)>, Error> {
    let mut q = billing_run_lines::table
        .filter(billing_run_lines::run_id.eq(run_id))
        .select((
            billing_run_lines::line_no,
            billing_run_lines::patient_id,
            billing_run_lines::line,
        ))
        .into_boxed();
    if let Some(p) = patient {
        q = q.filter(billing_run_lines::patient_id.eq(p.to_owned()));
    }
    if let Some(a) = after {
        q = q.filter(billing_run_lines::line_no.gt(a));
    }
    let rows: Vec<(i32, String, String)> = q
        .order(billing_run_lines::line_no.asc())
        .limit(limit)
        .load(conn)?;
    rows.into_iter()
        .map(|(n, patient_id, line)| {
            Ok((
                n,
                patient_id,
                json("billing run line", &line).map_err(Error::from)?,
            ))
        })
        .collect()
}
