//! Settlements: an episode's consumptions priced and split between payers and the patient, kept
//! up to date from accounts' events and taken through review and medical audit.
//!
//! - Every change of lines (a consumption recorded or voided, coverages changed, a recompute, a
//!   biller's correction) makes a new version. Line revisions are stored once and are valid from
//!   the version that made them until the version that replaced them, so any version reads back
//!   and two versions compare without copying unchanged lines.
//! - A consumption that cannot be priced is kept, flagged with an issue; a settlement with issues
//!   cannot be approved.
//! - Late consumptions reopen an approved settlement that is not invoiced yet; once invoiced they
//!   start a supplementary settlement. Invoicing bills each (consumption, party) once, so an
//!   approval racing a late consumption never bills a line twice.
//! - Work on one episode is serialised: an advisory lock per episode for event handling, the
//!   settlement row's lock for every change.

use std::collections::{BTreeMap, HashMap};

use carebill_domain::conditions::CompiledSet;
use carebill_domain::events::{
    CareRecordChangedV1, ConsumptionRecordedV1, ConsumptionVoidedV1, CoverageChangedV1,
    CoverageRef, CreditNoteIssuedV1, Envelope, EpisodeClosedV1, EpisodeRef, InvoiceIssuedV1,
    PartyRef, SettledLine, SettledShare, SettlementApprovedV1, SettlementInvoicedV1,
};
use carebill_domain::pricing::{
    Allowances, Input, PricedLine, Prices, TermsBook, compute, issue, service_day,
};
use carebill_domain::settlement::{
    CoverageTerms, PriceEntry, PriceQualifiers, SettlementKind, SettlementStatus, YearToDate,
};
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{insert_all, insert_new};
use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;

use crate::schema::{
    cancelled_episodes, coverage_terms, credited_invoices, patient_coverages, prices,
    settlement_billing, settlement_inputs, settlement_lines, settlement_status_changes,
    settlement_versions, settlements,
};
use crate::store::lines::{line_data, read_line};

/// The actor recorded for changes made by events.
pub const SYSTEM: &str = "system";

// ---------------------------------------------------------------------------------------------
// Storage.

/// A settlement header row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settlements)]
pub struct Row {
    pub id: String,
    pub number: String,
    pub episode_id: String,
    pub kind: String,
    pub parent_id: Option<String>,
    pub status: String,
    pub version: i32,
    pub revision: i32,
    pub location_id: String,
    pub location_code: String,
    pub patient_id: String,
    pub episode: String,
    pub coverages: String,
    pub coverages_at: NaiveDateTime,
    pub currency: Option<String>,
    pub total_minor: i64,
    pub line_count: i32,
    pub issue_count: i32,
    pub pending_voids: i32,
    pub approved_version: Option<i32>,
    pub invoiced_version: Option<i32>,
    pub assigned_to: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub billing_run_id: Option<String>,
}

impl Row {
    /// A new draft settlement of `episode` (version 0, no lines, nobody assigned yet).
    pub fn draft(
        id: String,
        number: String,
        kind: SettlementKind,
        episode: &EpisodeRef,
        coverages: &[CoverageRef],
        coverages_at: NaiveDateTime,
    ) -> Result<Row, Error> {
        let now = db::now();
        Ok(Row {
            id,
            number,
            episode_id: episode.id.to_string(),
            kind: kind.as_str().to_owned(),
            parent_id: None,
            status: SettlementStatus::Draft.as_str().to_owned(),
            version: 0,
            revision: 0,
            location_id: episode.location.id.to_string(),
            location_code: episode.location.code.clone(),
            patient_id: episode.patient.id.to_string(),
            episode: serde_json::to_string(episode)?,
            coverages: serde_json::to_string(coverages)?,
            coverages_at,
            currency: None,
            total_minor: 0,
            line_count: 0,
            issue_count: 0,
            pending_voids: 0,
            approved_version: None,
            invoiced_version: None,
            assigned_to: None,
            created_at: now,
            updated_at: now,
            billing_run_id: None,
        })
    }

    /// The workflow status.
    pub fn status(&self) -> SettlementStatus {
        self.status.parse().unwrap_or(SettlementStatus::Draft)
    }

    /// The episode as last reported.
    pub fn episode(&self) -> Result<EpisodeRef, Error> {
        Ok(serde_json::from_str(&self.episode)?)
    }

    /// The patient's coverages as last reported.
    pub fn coverages(&self) -> Result<Vec<CoverageRef>, Error> {
        Ok(serde_json::from_str(&self.coverages)?)
    }

    /// The optimistic-concurrency tag.
    pub fn etag(&self) -> String {
        format!("\"r{}\"", self.revision)
    }
}

/// Reads a settlement.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<Row>, Error> {
    Ok(settlements::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?)
}

/// Serialises, on PostgreSQL, the transactions that use what spans a patient's episodes (their
/// yearly deductibles and caps, their prepaid bundles). Taken before a settlement's row lock
/// wherever a transaction knows it will recompute (re-taking it later is free).
pub fn lock_patient(conn: &mut AnyConnection, patient_id: &str) -> Result<(), Error> {
    Ok(db::lock_key(
        conn,
        &format!("patient-allowances:{patient_id}"),
    )?)
}

/// [`find_for_update`] for a recomputation: the patient's lock first, then the row's.
pub fn find_for_recompute(conn: &mut AnyConnection, id: &str) -> Result<Option<Row>, Error> {
    let patient: Option<String> = settlements::table
        .find(id)
        .select(settlements::patient_id)
        .first(conn)
        .optional()?;
    if let Some(p) = patient {
        lock_patient(conn, &p)?;
    }
    find_for_update(conn, id)
}

/// Reads a settlement for a change, locking its row until the transaction ends.
pub fn find_for_update(conn: &mut AnyConnection, id: &str) -> Result<Option<Row>, Error> {
    match conn {
        // One statement: the row, locked.
        AnyConnection::Postgresql(pg) => Ok(settlements::table
            .find(id)
            .select(Row::as_select())
            .for_update()
            .first(pg)
            .optional()?),
        // SQLite serialises writers: the transaction holds the database already.
        AnyConnection::Sqlite(_) => find(conn, id),
    }
}

/// The lines of a version (the current one when `version` is the settlement's).
pub fn lines_at(
    conn: &mut AnyConnection,
    id: &str,
    version: i32,
) -> Result<Vec<PricedLine>, Error> {
    let rows: Vec<String> = settlement_lines::table
        .filter(settlement_lines::settlement_id.eq(id))
        .filter(settlement_lines::from_version.le(version))
        .filter(
            settlement_lines::to_version
                .is_null()
                .or(settlement_lines::to_version.gt(version)),
        )
        .select(settlement_lines::data)
        .load(conn)?;
    let mut lines = rows
        .iter()
        .map(|d| read_line(d))
        .collect::<Result<Vec<_>, _>>()?;
    lines.sort_by(|a, b| {
        (a.performed_at, &a.consumption_id).cmp(&(b.performed_at, &b.consumption_id))
    });
    Ok(lines)
}

fn load_inputs(conn: &mut AnyConnection, id: &str) -> Result<Vec<Input>, Error> {
    type InputRow = (String, Option<i64>, Option<String>, bool, Option<String>);
    let rows: Vec<InputRow> = settlement_inputs::table
        .filter(settlement_inputs::settlement_id.eq(id))
        .filter(settlement_inputs::voided.eq(false))
        .select((
            settlement_inputs::payload,
            settlement_inputs::manual_unit_price_minor,
            settlement_inputs::manual_currency,
            settlement_inputs::excluded,
            settlement_inputs::override_reason,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(payload, minor, currency, excluded, reason)| {
            Ok(Input {
                consumption: serde_json::from_str(&payload)?,
                manual_price: stored_manual_price(minor, currency.as_deref())?,
                excluded,
                override_reason: reason,
            })
        })
        .collect()
}

fn load_prices(conn: &mut AnyConnection, codes: &[String]) -> Result<Prices, Error> {
    type PriceRow = (
        String,
        String,
        i64,
        String,
        NaiveDate,
        Option<NaiveDate>,
        Option<String>,
        Option<String>,
        String,
    );
    // Service prices qualified for invoicing rules never price a consumption.
    let rows: Vec<PriceRow> = prices::table
        .filter(prices::code.eq_any(codes))
        .filter(prices::beneficiary_kind.is_null())
        .filter(prices::object_type.is_null())
        .filter(prices::care_level.is_null())
        .select((
            prices::id,
            prices::code,
            prices::unit_price_minor,
            prices::currency,
            prices::valid_from,
            prices::valid_to,
            prices::location_code,
            prices::payer_code,
            prices::components,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(id, code, minor, currency, from, to, location, payer, components)| {
                let currency = Currency::parse(&currency).map_err(|e| Error::internal(&e))?;
                Ok((
                    id,
                    PriceEntry {
                        code,
                        unit_price: Money::from_minor(MinorUnits(minor), currency),
                        valid_from: from,
                        valid_to: to,
                        location,
                        payer,
                        qualifiers: PriceQualifiers::default(),
                        components: serde_json::from_str(&components).unwrap_or_default(),
                    },
                ))
            },
        )
        .collect()
}

fn load_terms(conn: &mut AnyConnection, payers: &[String]) -> Result<TermsBook, Error> {
    type TermsRow = (
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        String,
        Option<i64>,
        String,
        Option<i64>,
        Option<i64>,
    );
    let rows: Vec<TermsRow> = coverage_terms::table
        .filter(coverage_terms::payer_code.eq_any(payers))
        .select((
            coverage_terms::id,
            coverage_terms::payer_code,
            coverage_terms::plan_code,
            coverage_terms::covered_percent,
            coverage_terms::currency,
            coverage_terms::copay_per_line_minor,
            coverage_terms::copay_per_episode_minor,
            coverage_terms::excluded_service_groups,
            coverage_terms::cap_per_episode_minor,
            coverage_terms::preauthorization_groups,
            coverage_terms::deductible_per_year_minor,
            coverage_terms::cap_per_year_minor,
        ))
        .load(conn)?;
    let mut book = TermsBook::new();
    for (
        id,
        payer,
        plan,
        percent,
        currency,
        per_line,
        per_episode,
        excluded,
        cap,
        preauth,
        deductible_year,
        cap_year,
    ) in rows
    {
        let currency = Currency::parse(&currency).map_err(|e| Error::internal(&e))?;
        let money = |m: Option<i64>| m.map(|u| Money::from_minor(MinorUnits(u), currency));
        book.insert(
            (payer.clone(), plan),
            (
                id,
                CoverageTerms {
                    payer,
                    covered_percent: percent.parse().unwrap_or_default(),
                    copay_per_line: money(per_line),
                    copay_per_episode: money(per_episode),
                    excluded_groups: serde_json::from_str(&excluded).unwrap_or_default(),
                    cap_per_episode: money(cap),
                    preauthorization_groups: serde_json::from_str(&preauth).unwrap_or_default(),
                    deductible_per_year: money(deductible_year),
                    cap_per_year: money(cap_year),
                },
            ),
        );
    }
    Ok(book)
}

/// A settlement header to store.
#[derive(Insertable)]
#[diesel(table_name = settlements)]
struct NewSettlement<'a> {
    id: &'a str,
    number: &'a str,
    episode_id: &'a str,
    kind: &'a str,
    parent_id: Option<&'a str>,
    status: &'a str,
    version: i32,
    revision: i32,
    location_id: &'a str,
    location_code: &'a str,
    patient_id: &'a str,
    episode: &'a str,
    coverages: &'a str,
    coverages_at: NaiveDateTime,
    currency: Option<&'a str>,
    total_minor: i64,
    line_count: i32,
    issue_count: i32,
    pending_voids: i32,
    assigned_to: Option<&'a str>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    billing_run_id: Option<&'a str>,
}

/// A version to store.
#[derive(Insertable)]
#[diesel(table_name = settlement_versions)]
struct NewVersion<'a> {
    settlement_id: &'a str,
    version: i32,
    cause: &'a str,
    reason: Option<&'a str>,
    created_by: &'a str,
    created_at: NaiveDateTime,
    currency: Option<&'a str>,
    total_minor: i64,
    line_count: i32,
    issue_count: i32,
}

/// The currency, total, line and issue counts of a version's lines (billable: neither
/// excluded nor with an issue).
fn figures(lines: &[PricedLine]) -> (Option<String>, i64, i32, i32) {
    let billable = || lines.iter().filter(|l| !l.excluded && l.issues.is_empty());
    let currency = billable().find_map(|l| l.amount.map(|a| a.currency().to_string()));
    let total = billable()
        .filter_map(|l| l.amount.and_then(|a| a.to_minor().ok()))
        .map(|m| m.0)
        .sum();
    let line_count = i32::try_from(lines.len()).unwrap_or(i32::MAX);
    let issue_count =
        i32::try_from(lines.iter().filter(|l| !l.issues.is_empty()).count()).unwrap_or(i32::MAX);
    (currency, total, line_count, issue_count)
}

/// Stores new settlements with their first version's lines at once (multi-row inserts): what a
/// committed billing run makes for thousands of beneficiaries.
pub fn store_new(
    conn: &mut AnyConnection,
    made: &mut [(Row, Vec<PricedLine>)],
    cause: &Cause,
) -> Result<(), Error> {
    let now = db::now();
    let mut data: Vec<Vec<String>> = Vec::with_capacity(made.len());
    for (row, lines) in made.iter_mut() {
        let (currency, total, line_count, issue_count) = figures(lines);
        row.version = 1;
        row.revision = 1;
        row.currency = currency;
        row.total_minor = total;
        row.line_count = line_count;
        row.issue_count = issue_count;
        row.updated_at = now;
        data.push(lines.iter().map(line_data).collect::<Result<_, _>>()?);
    }
    let headers: Vec<NewSettlement<'_>> = made
        .iter()
        .map(|(r, _)| NewSettlement {
            id: &r.id,
            number: &r.number,
            episode_id: &r.episode_id,
            kind: &r.kind,
            parent_id: r.parent_id.as_deref(),
            status: &r.status,
            version: r.version,
            revision: r.revision,
            location_id: &r.location_id,
            location_code: &r.location_code,
            patient_id: &r.patient_id,
            episode: &r.episode,
            coverages: &r.coverages,
            coverages_at: r.coverages_at,
            currency: r.currency.as_deref(),
            total_minor: r.total_minor,
            line_count: r.line_count,
            issue_count: r.issue_count,
            pending_voids: 0,
            assigned_to: r.assigned_to.as_deref(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            billing_run_id: r.billing_run_id.as_deref(),
        })
        .collect();
    insert_all!(conn, settlements::table, headers);
    let versions: Vec<NewVersion<'_>> = made
        .iter()
        .map(|(r, _)| NewVersion {
            settlement_id: &r.id,
            version: 1,
            cause: cause.kind,
            reason: cause.reason,
            created_by: cause.by,
            created_at: now,
            currency: r.currency.as_deref(),
            total_minor: r.total_minor,
            line_count: r.line_count,
            issue_count: r.issue_count,
        })
        .collect();
    insert_all!(conn, settlement_versions::table, versions);
    let line_rows: Vec<NewLine<'_>> = made
        .iter()
        .zip(&data)
        .flat_map(|((r, lines), data)| {
            lines.iter().zip(data).map(|(l, d)| NewLine {
                settlement_id: &r.id,
                consumption_id: &l.consumption_id,
                from_version: 1,
                data: d,
            })
        })
        .collect();
    insert_all!(conn, settlement_lines::table, line_rows);
    Ok(())
}

/// A line revision to store.
#[derive(Insertable)]
#[diesel(table_name = settlement_lines)]
struct NewLine<'a> {
    settlement_id: &'a str,
    consumption_id: &'a str,
    from_version: i32,
    data: &'a str,
}

/// A consumption to store as a settlement input.
#[derive(Insertable)]
#[diesel(table_name = settlement_inputs)]
struct NewInput<'a> {
    consumption_id: String,
    settlement_id: &'a str,
    performed_at: NaiveDateTime,
    payload: String,
    voided: bool,
    excluded: bool,
}

/// What made a new version.
pub struct Cause<'a> {
    /// `consumption_recorded`, `consumption_voided`, `coverage_changed`, `recomputed`,
    /// `line_corrected`, `reopened_after_credit`.
    pub kind: &'a str,
    /// Why (for people's changes).
    pub reason: Option<&'a str>,
    /// Who.
    pub by: &'a str,
}

/// Recomputes a settlement's lines from its inputs and the configuration in force; when anything
/// changed, stores a new version and updates `row`. Returns whether a version was made.
pub fn recompute(conn: &mut AnyConnection, row: &mut Row, cause: &Cause) -> Result<bool, Error> {
    let conditions = crate::business_conditions::compiled(conn)?;
    let mut lines = lines_now(conn, row, conditions.as_ref().map(|(_, set)| set.as_ref()))?;
    check_billing(conn, &row.id, &mut lines)?;
    let voids = billed_voids(conn, &row.id)?;
    if voids != row.pending_voids {
        row.pending_voids = voids;
        row.revision += 1;
    }

    let current: Vec<(String, String)> = settlement_lines::table
        .filter(settlement_lines::settlement_id.eq(&row.id))
        .filter(settlement_lines::to_version.is_null())
        .select((settlement_lines::consumption_id, settlement_lines::data))
        .load(conn)?;
    let mut current: HashMap<String, String> = current.into_iter().collect();
    let mut changed: Vec<(String, String)> = Vec::new();
    for line in &lines {
        let data = line_data(line)?;
        match current.remove(&line.consumption_id) {
            Some(old) if old == data => {}
            _ => changed.push((line.consumption_id.clone(), data)),
        }
    }
    let removed: Vec<String> = current.into_keys().collect();
    if changed.is_empty() && removed.is_empty() {
        return Ok(false);
    }
    let version = row.version + 1;
    let closing: Vec<&String> = changed.iter().map(|(id, _)| id).chain(&removed).collect();
    diesel::update(
        settlement_lines::table
            .filter(settlement_lines::settlement_id.eq(&row.id))
            .filter(settlement_lines::to_version.is_null())
            .filter(settlement_lines::consumption_id.eq_any(closing)),
    )
    .set(settlement_lines::to_version.eq(Some(version)))
    .execute(conn)?;
    let new_rows: Vec<NewLine<'_>> = changed
        .iter()
        .map(|(consumption, data)| NewLine {
            settlement_id: &row.id,
            consumption_id: consumption,
            from_version: version,
            data,
        })
        .collect();
    insert_all!(conn, settlement_lines::table, new_rows);
    let (currency, total, line_count, issue_count) = figures(&lines);
    let now = db::now();
    diesel::insert_into(settlement_versions::table)
        .values((
            settlement_versions::settlement_id.eq(&row.id),
            settlement_versions::version.eq(version),
            settlement_versions::cause.eq(cause.kind),
            settlement_versions::reason.eq(cause.reason),
            settlement_versions::created_by.eq(cause.by),
            settlement_versions::created_at.eq(now),
            settlement_versions::currency.eq(&currency),
            settlement_versions::total_minor.eq(total),
            settlement_versions::line_count.eq(line_count),
            settlement_versions::issue_count.eq(issue_count),
        ))
        .execute(conn)?;
    row.version = version;
    row.revision += 1;
    row.currency = currency;
    row.total_minor = total;
    row.line_count = line_count;
    row.issue_count = issue_count;
    row.updated_at = now;
    save(conn, row)?;
    Ok(true)
}

/// The lines of a settlement computed now from its inputs, the prices and terms in force and
/// `conditions` (the set in force, or a draft being tried). Stores nothing.
pub fn lines_now(
    conn: &mut AnyConnection,
    row: &Row,
    conditions: Option<&CompiledSet>,
) -> Result<Vec<PricedLine>, Error> {
    if let Some(run) = &row.billing_run_id {
        return crate::periodic::lines(conn, row, run);
    }
    let episode = row.episode()?;
    let coverages = row.coverages()?;
    let inputs = load_inputs(conn, &row.id)?;
    let mut codes: Vec<String> = inputs
        .iter()
        .map(|i| i.consumption.item.code.clone())
        .collect();
    codes.sort();
    codes.dedup();
    let payers: Vec<String> = coverages.iter().map(|c| c.payer_code.clone()).collect();
    let prices = load_prices(conn, &codes)?;
    let terms = load_terms(conn, &payers)?;
    let before = if terms.values().any(|(_, t)| t.spans_episodes()) {
        year_to_date(conn, row)?
    } else {
        YearToDate::default()
    };
    let offers = crate::offers::book_for(conn, &row.patient_id, Some(&row.id), &codes)?;
    Ok(compute(
        &episode,
        &coverages,
        &inputs,
        &prices,
        &terms,
        conditions,
        Allowances {
            year: before,
            offers,
        },
    ))
}

/// What the patient's other settlements (their current lines) already used of each payer's
/// yearly deductible and cap. Takes the patient's lock first (PostgreSQL), so that two of their
/// episodes recomputed at once cannot both use the same deductible: first come, first served.
fn year_to_date(conn: &mut AnyConnection, row: &Row) -> Result<YearToDate, Error> {
    lock_patient(conn, &row.patient_id)?;
    // Cancelled settlements bill nothing; periodic ones bill by invoicing rules, not by
    // coverage terms.
    let others: Vec<(String, String)> = settlements::table
        .filter(settlements::patient_id.eq(&row.patient_id))
        .filter(settlements::id.ne(&row.id))
        .filter(settlements::status.ne(SettlementStatus::Cancelled.as_str()))
        .filter(settlements::billing_run_id.is_null())
        .select((settlements::id, settlements::episode))
        .load(conn)?;
    let mut used = YearToDate::default();
    if others.is_empty() {
        return Ok(used);
    }
    let episodes: HashMap<String, EpisodeRef> = others
        .iter()
        .map(|(id, e)| Ok((id.clone(), serde_json::from_str(e)?)))
        .collect::<Result<_, Error>>()?;
    let rows: Vec<(String, String)> = settlement_lines::table
        .filter(settlement_lines::settlement_id.eq_any(episodes.keys()))
        .filter(settlement_lines::to_version.is_null())
        .select((settlement_lines::settlement_id, settlement_lines::data))
        .load(conn)?;
    for (settlement, data) in rows {
        let line = read_line(&data)?;
        let Some(episode) = episodes.get(&settlement) else {
            continue;
        };
        let year = service_day(episode, line.performed_at).year();
        for share in line.shares.iter().filter(|s| s.terms_id.is_some()) {
            if let Some(payer) = &share.party.payer_code {
                let minor = |m: &Money| m.to_minor().map_or(0, |u| u.0);
                used.add(
                    payer,
                    year,
                    share.deductible.as_ref().map_or(0, minor),
                    minor(&share.amount),
                );
            }
        }
    }
    Ok(used)
}

/// Stores a new version with the same lines (e.g. a reopening) and saves `row`.
pub fn new_version(conn: &mut AnyConnection, row: &mut Row, cause: &Cause) -> Result<(), Error> {
    let version = row.version + 1;
    let now = db::now();
    diesel::insert_into(settlement_versions::table)
        .values((
            settlement_versions::settlement_id.eq(&row.id),
            settlement_versions::version.eq(version),
            settlement_versions::cause.eq(cause.kind),
            settlement_versions::reason.eq(cause.reason),
            settlement_versions::created_by.eq(cause.by),
            settlement_versions::created_at.eq(now),
            settlement_versions::currency.eq(&row.currency),
            settlement_versions::total_minor.eq(row.total_minor),
            settlement_versions::line_count.eq(row.line_count),
            settlement_versions::issue_count.eq(row.issue_count),
        ))
        .execute(conn)?;
    row.version = version;
    row.revision += 1;
    row.updated_at = now;
    save(conn, row)
}

/// Writes the mutable header fields of `row`.
pub fn save(conn: &mut AnyConnection, row: &Row) -> Result<(), Error> {
    diesel::update(settlements::table.find(&row.id))
        .set((
            settlements::status.eq(&row.status),
            settlements::version.eq(row.version),
            settlements::revision.eq(row.revision),
            settlements::episode.eq(&row.episode),
            settlements::coverages.eq(&row.coverages),
            settlements::coverages_at.eq(row.coverages_at),
            settlements::currency.eq(&row.currency),
            settlements::total_minor.eq(row.total_minor),
            settlements::line_count.eq(row.line_count),
            settlements::issue_count.eq(row.issue_count),
            settlements::pending_voids.eq(row.pending_voids),
            settlements::approved_version.eq(row.approved_version),
            settlements::invoiced_version.eq(row.invoiced_version),
            settlements::assigned_to.eq(&row.assigned_to),
            settlements::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Moves a settlement to `to`, recording who and why (the caller saves the row).
pub fn change_status(
    conn: &mut AnyConnection,
    row: &mut Row,
    to: SettlementStatus,
    reason: Option<&str>,
    by: &str,
) -> Result<(), Error> {
    let now = db::now();
    diesel::insert_into(settlement_status_changes::table)
        .values((
            settlement_status_changes::id.eq(uuid::Uuid::now_v7().to_string()),
            settlement_status_changes::settlement_id.eq(&row.id),
            settlement_status_changes::from_status.eq(&row.status),
            settlement_status_changes::to_status.eq(to.as_str()),
            settlement_status_changes::version.eq(row.version),
            settlement_status_changes::reason.eq(reason),
            settlement_status_changes::changed_by.eq(by),
            settlement_status_changes::changed_at.eq(now),
        ))
        .execute(conn)?;
    to.as_str().clone_into(&mut row.status);
    row.revision += 1;
    row.updated_at = now;
    Ok(())
}

/// The `settlement.approved` event of the current version.
pub fn approved_event(
    conn: &mut AnyConnection,
    row: &Row,
    by: &str,
    at: DateTime<Utc>,
) -> Result<SettlementApprovedV1, Error> {
    let episode = row.episode()?;
    let lines = lines_at(conn, &row.id, row.version)?;
    let currency = row
        .currency
        .as_deref()
        .map(Currency::parse)
        .transpose()
        .map_err(|e| Error::internal(&e))?
        .unwrap_or(Currency::EUR);
    let mut parties: Vec<PartyRef> = Vec::new();
    let mut settled = Vec::new();
    for l in lines.iter().filter(|l| !l.excluded) {
        let (Some(unit_price), Some(amount)) = (l.unit_price, l.amount) else {
            continue;
        };
        let mut shares = Vec::new();
        for s in &l.shares {
            if s.amount.amount().is_zero() {
                continue;
            }
            if !parties.iter().any(|p| p.key() == s.party.key()) {
                parties.push(s.party.clone());
            }
            shares.push(SettledShare {
                party: s.party.key(),
                amount: s.amount,
            });
        }
        settled.push(SettledLine {
            consumption_id: l.consumption_id.parse().map_err(|e| Error::internal(&e))?,
            code: l.code.clone(),
            description: l.description.clone(),
            service_group: l.service_group.clone(),
            quantity: l.quantity,
            unit: l.unit.clone(),
            performed_at: l.performed_at,
            unit_price,
            amount,
            shares,
        });
    }
    // Payers first, the patient last.
    parties.sort_by_key(|p| p.kind == carebill_domain::events::PartyKind::Patient);
    Ok(SettlementApprovedV1 {
        settlement_id: row.id.parse().map_err(|e| Error::internal(&e))?,
        number: row.number.clone(),
        kind: row.kind.parse().unwrap_or(SettlementKind::Regular),
        parent_settlement_id: row
            .parent_id
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e| Error::internal(&e))?,
        version: row.version,
        episode,
        currency,
        parties,
        lines: settled,
        total: Money::from_minor(MinorUnits(row.total_minor), currency),
        approved_by: by.to_owned(),
        approved_at: at,
    })
}

// ---------------------------------------------------------------------------------------------
// Events.

/// Settlements whose lines must be recomputed at the end of a batch, with what caused it.
type Dirty = BTreeMap<String, (String, Option<String>, String)>;

fn mark(dirty: &mut Dirty, id: &str, kind: &str, reason: Option<&str>, by: &str) {
    dirty
        .entry(id.to_owned())
        .and_modify(|c| {
            if c.0 != kind {
                "events".clone_into(&mut c.0);
                c.1 = None;
            }
        })
        .or_insert_with(|| (kind.to_owned(), reason.map(str::to_owned), by.to_owned()));
}

/// The episode an accounts event is about, for locking.
fn episode_of(env: &Envelope) -> Option<String> {
    env.subject
        .strip_prefix("episode/")
        .map(|id| format!("episode:{id}"))
}

/// Applies a batch of events from accounts and invoicing (inside the inbox transaction): each
/// event's effect in order, then one recomputation (one new version) per touched settlement.
/// The episodes' locks are taken first, in a fixed order, so two replicas never deadlock.
pub fn apply_events(conn: &mut AnyConnection, envs: &[&Envelope]) -> Result<(), Error> {
    let mut keys: Vec<String> = envs.iter().filter_map(|e| episode_of(e)).collect();
    keys.sort();
    keys.dedup();
    for key in &keys {
        db::lock_key(conn, key)?;
    }
    // Then the patients the batch changes (what spans their episodes: yearly deductibles and
    // caps, prepaid bundles, their newest coverages), in order, before any settlement row, as the
    // API takes a patient's lock before a row's.
    let locked = patients_of(envs);
    for p in &locked {
        lock_patient(conn, p)?;
    }
    let mut dirty = Dirty::new();
    // Consecutive consumptions are stored together, per episode; anything else in between is
    // applied in its place, so the order of events is kept.
    let mut recorded: Vec<ConsumptionRecordedV1> = Vec::new();
    for env in envs {
        if env.event_type == ConsumptionRecordedV1::TYPE {
            recorded.push(
                env.payload()
                    .map_err(|e| Error::new(ErrorCode::InvalidEvent, e.to_string()))?,
            );
            continue;
        }
        on_consumptions(conn, &std::mem::take(&mut recorded), &mut dirty)?;
        apply_event(conn, env, &mut dirty)?;
    }
    on_consumptions(conn, &recorded, &mut dirty)?;
    // The patients of the settlements to recompute: those not locked above (a settlement still
    // open when invoicing reported on it) are locked now, in order.
    let ids: Vec<&String> = dirty.keys().collect();
    let mut patients: Vec<String> = settlements::table
        .filter(settlements::id.eq_any(ids))
        .select(settlements::patient_id)
        .distinct()
        .load(conn)?;
    patients.sort();
    for p in patients.iter().filter(|p| locked.binary_search(p).is_err()) {
        lock_patient(conn, p)?;
    }
    // A settlement made from a consumption written before a coverage change, but applied after
    // it, takes the newer coverages (read under the patients' locks, which coverage events take).
    let newest = newest_coverages(conn, &patients)?;
    for (id, (kind, reason, by)) in dirty {
        let Some(mut row) = find_for_update(conn, &id)? else {
            continue;
        };
        if let Some((coverages, at)) = newest.get(&row.patient_id)
            && *at >= row.coverages_at
        {
            coverages.clone_into(&mut row.coverages);
            row.coverages_at = *at;
        }
        let cause = Cause {
            kind: &kind,
            reason: reason.as_deref(),
            by: &by,
        };
        if !recompute(conn, &mut row, &cause)? {
            save(conn, &row)?;
        }
    }
    Ok(())
}

/// The patients whose settlements, care records or coverages a batch of events changes for
/// certain, sorted: those of consumptions (their settlements are recomputed), coverage changes
/// and care records. Invoicing's reports and voids recompute only a settlement that is still
/// open, rarely: theirs are locked when it comes to that. Locking those up front too made one
/// batch of invoice reports hold nearly every patient, and the money path ten times slower.
fn patients_of(envs: &[&Envelope]) -> Vec<String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let patients: std::collections::BTreeSet<String> = envs
        .iter()
        .filter_map(|env| {
            let d = &env.data;
            match env.event_type.as_str() {
                ConsumptionRecordedV1::TYPE => text(&d["episode"]["patient"]["id"]),
                CoverageChangedV1::TYPE => text(&d["patient_id"]),
                CareRecordChangedV1::TYPE => text(&d["record"]["patient_id"]),
                _ => None,
            }
        })
        .collect();
    patients.into_iter().collect()
}

fn apply_event(conn: &mut AnyConnection, env: &Envelope, dirty: &mut Dirty) -> Result<(), Error> {
    let bad = |e: carebill_domain::events::EnvelopeError| {
        Error::new(ErrorCode::InvalidEvent, e.to_string())
    };
    match env.event_type.as_str() {
        ConsumptionRecordedV1::TYPE => on_consumptions(
            conn,
            &[env.payload::<ConsumptionRecordedV1>().map_err(bad)?],
            dirty,
        ),
        ConsumptionVoidedV1::TYPE => on_void(
            conn,
            &env.payload::<ConsumptionVoidedV1>().map_err(bad)?,
            dirty,
        ),
        CoverageChangedV1::TYPE => on_coverage(
            conn,
            &env.payload::<CoverageChangedV1>().map_err(bad)?,
            dirty,
        ),
        EpisodeClosedV1::TYPE => {
            on_episode_closed(conn, &env.payload::<EpisodeClosedV1>().map_err(bad)?)
        }
        SettlementInvoicedV1::TYPE => {
            on_invoiced(conn, &env.payload::<SettlementInvoicedV1>().map_err(bad)?)
        }
        InvoiceIssuedV1::TYPE => {
            on_invoice_issued(conn, &env.payload::<InvoiceIssuedV1>().map_err(bad)?, dirty)
        }
        CareRecordChangedV1::TYPE => crate::billing_runs::on_care_record(
            conn,
            &env.payload::<CareRecordChangedV1>().map_err(bad)?,
        ),
        CreditNoteIssuedV1::TYPE => on_credit_note(
            conn,
            &env.payload::<CreditNoteIssuedV1>().map_err(bad)?,
            dirty,
        ),
        _ => Ok(()),
    }
}

use carebill_domain::events::EventPayload as _;

/// The settlement a new consumption of `episode` goes to: the open one; the approved one,
/// reopened; or a new one (regular, or supplementary after an invoiced one).
fn target_settlement(conn: &mut AnyConnection, c: &ConsumptionRecordedV1) -> Result<Row, Error> {
    let episode_id = c.episode.id.to_string();
    // Lock every settlement of the episode while reading them (in id order, one statement): the
    // API and invoicing's events change them under the row lock alone.
    let mut existing: Vec<Row> = match conn {
        AnyConnection::Postgresql(pg) => settlements::table
            .filter(settlements::episode_id.eq(&episode_id))
            .select(Row::as_select())
            .order(settlements::id.asc())
            .for_update()
            .load(pg)?,
        AnyConnection::Sqlite(_) => settlements::table
            .filter(settlements::episode_id.eq(&episode_id))
            .select(Row::as_select())
            .order(settlements::id.asc())
            .load(conn)?,
    };
    existing.reverse();
    // The episode's cancellation was applied first (two consumers, replicas or a retry): the
    // consumption is kept, in the newest cancelled settlement or a new one born cancelled, and
    // nothing approved is reopened for it.
    if let Some(reason) = &cancellation(conn, &episode_id)? {
        if let Some(row) = existing
            .iter()
            .find(|r| r.status() == SettlementStatus::Cancelled)
        {
            return Ok(row.clone());
        }
        let mut row = new_target(conn, c, &existing, false)?;
        cancel_with_episode(conn, &mut row, reason.as_deref())?;
        save(conn, &row)?;
        return Ok(row);
    }
    if let Some(open) = existing.iter().find(|r| r.status().is_open()) {
        return Ok(open.clone());
    }
    if let Some(approved) = existing
        .iter()
        .find(|r| r.status() == SettlementStatus::Approved)
    {
        let mut approved = approved.clone();
        change_status(
            conn,
            &mut approved,
            SettlementStatus::Draft,
            Some(&format!(
                "late consumption {} after approval",
                c.consumption_id
            )),
            SYSTEM,
        )?;
        save(conn, &approved)?;
        return Ok(approved);
    }
    new_target(conn, c, &existing, true)
}

/// Whether accounts cancelled the episode (and why): `Some(reason)` once its cancellation was
/// applied.
fn cancellation(
    conn: &mut AnyConnection,
    episode_id: &str,
) -> Result<Option<Option<String>>, Error> {
    Ok(cancelled_episodes::table
        .find(episode_id)
        .select(cancelled_episodes::reason)
        .first(conn)
        .optional()?)
}

/// A new draft settlement of `c`'s episode, stored: regular, or supplementary after an invoiced
/// regular one. `existing` are the episode's settlements, newest first. `assign`: to a biller
/// (not a settlement that is born cancelled).
fn new_target(
    conn: &mut AnyConnection,
    c: &ConsumptionRecordedV1,
    existing: &[Row],
    assign: bool,
) -> Result<Row, Error> {
    let regular = existing
        .iter()
        .rfind(|r| r.kind == SettlementKind::Regular.as_str() && r.status != "cancelled");
    let (kind, parent) = match regular {
        Some(r) if r.status == SettlementStatus::Invoiced.as_str() => {
            (SettlementKind::Supplementary, Some(r.id.clone()))
        }
        _ => (SettlementKind::Regular, None),
    };
    let mut row = Row::draft(
        uuid::Uuid::now_v7().to_string(),
        format!(
            "{}/{}/{}",
            c.episode.location.code,
            c.episode.number,
            existing.len() + 1
        ),
        kind,
        &c.episode,
        &c.coverages,
        c.recorded_at.naive_utc(),
    )?;
    row.parent_id = parent;
    if assign {
        row.assigned_to = crate::assignment::auto_assign(conn, &row)?;
    }
    insert(conn, &row)?;
    Ok(row)
}

/// Stores a new settlement header (version 0, no lines yet).
pub fn insert(conn: &mut AnyConnection, row: &Row) -> Result<(), Error> {
    diesel::insert_into(settlements::table)
        .values((
            settlements::id.eq(&row.id),
            settlements::assigned_to.eq(&row.assigned_to),
            settlements::number.eq(&row.number),
            settlements::episode_id.eq(&row.episode_id),
            settlements::kind.eq(&row.kind),
            settlements::parent_id.eq(&row.parent_id),
            settlements::status.eq(&row.status),
            settlements::version.eq(0),
            settlements::revision.eq(0),
            settlements::location_id.eq(&row.location_id),
            settlements::location_code.eq(&row.location_code),
            settlements::patient_id.eq(&row.patient_id),
            settlements::episode.eq(&row.episode),
            settlements::coverages.eq(&row.coverages),
            settlements::coverages_at.eq(row.coverages_at),
            settlements::total_minor.eq(0_i64),
            settlements::line_count.eq(0),
            settlements::issue_count.eq(0),
            settlements::pending_voids.eq(0),
            settlements::created_at.eq(row.created_at),
            settlements::updated_at.eq(row.updated_at),
            settlements::billing_run_id.eq(&row.billing_run_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stores new consumptions as inputs of their episodes' settlements (grouped per episode: one
/// lookup, one insert, one recomputation later).
fn on_consumptions(
    conn: &mut AnyConnection,
    recorded: &[ConsumptionRecordedV1],
    dirty: &mut Dirty,
) -> Result<(), Error> {
    if recorded.is_empty() {
        return Ok(());
    }
    let mut by_episode: BTreeMap<String, Vec<&ConsumptionRecordedV1>> = BTreeMap::new();
    for c in recorded {
        by_episode
            .entry(c.episode.id.to_string())
            .or_default()
            .push(c);
    }
    // The episodes are locked already (apply_events).
    for (_, all) in by_episode {
        let ids: Vec<String> = all.iter().map(|c| c.consumption_id.to_string()).collect();
        let known: std::collections::HashSet<String> = settlement_inputs::table
            .filter(settlement_inputs::consumption_id.eq_any(&ids))
            .select(settlement_inputs::consumption_id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        let mut taken = std::collections::HashSet::new();
        let fresh: Vec<&ConsumptionRecordedV1> = all
            .into_iter()
            .filter(|c| {
                let id = c.consumption_id.to_string();
                !known.contains(&id) && taken.insert(id)
            })
            .collect();
        let Some(first) = fresh.first() else {
            continue;
        };
        let mut row = target_settlement(conn, first)?;
        let rows = fresh
            .iter()
            .map(|c| {
                Ok(NewInput {
                    consumption_id: c.consumption_id.to_string(),
                    settlement_id: &row.id,
                    performed_at: c.performed_at.naive_utc(),
                    payload: serde_json::to_string(c)?,
                    voided: false,
                    excluded: false,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        insert_all!(conn, settlement_inputs::table, rows);
        // The freshest view of the episode and the patient's coverages wins.
        if let Some(newest) = fresh.iter().max_by_key(|c| c.recorded_at) {
            let at = newest.recorded_at.naive_utc();
            if at >= row.coverages_at {
                row.coverages = serde_json::to_string(&newest.coverages)?;
                row.coverages_at = at;
                row.episode = serde_json::to_string(&newest.episode)?;
                save(conn, &row)?;
            }
        }
        mark(dirty, &row.id, "consumption_recorded", None, SYSTEM);
    }
    Ok(())
}

fn on_void(
    conn: &mut AnyConnection,
    v: &ConsumptionVoidedV1,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    db::lock_key(conn, &format!("episode:{}", v.episode_id))?;
    let id = v.consumption_id.to_string();
    let known: Option<(String, bool)> = settlement_inputs::table
        .filter(settlement_inputs::consumption_id.eq(&id))
        .select((settlement_inputs::settlement_id, settlement_inputs::voided))
        .first(conn)
        .optional()?;
    let settlement = match known {
        Some((_, true)) => return Ok(()),
        Some((settlement, false)) => settlement,
        None => {
            // The void overtook the recording: a voided tombstone makes the late `recorded`
            // event a no-op.
            diesel::insert_into(settlement_inputs::table)
                .values((
                    settlement_inputs::consumption_id.eq(&id),
                    settlement_inputs::settlement_id.eq(""),
                    settlement_inputs::performed_at.eq(v.voided_at.naive_utc()),
                    settlement_inputs::payload.eq("{}"),
                    settlement_inputs::voided.eq(true),
                    settlement_inputs::excluded.eq(false),
                ))
                .execute(conn)?;
            return Ok(());
        }
    };
    diesel::update(settlement_inputs::table.find(&id))
        .set(settlement_inputs::voided.eq(true))
        .execute(conn)?;
    let Some(mut row) = find_for_update(conn, &settlement)? else {
        return Ok(());
    };
    if row.status() == SettlementStatus::Approved {
        // Approved but not invoiced: back to draft, as for a late consumption; or, when the
        // episode's cancellation was applied first, cancelled, as the cancellation would have
        // left it after the void (without the line: recomputed below).
        match cancellation(conn, &row.episode_id)? {
            Some(reason) => cancel_with_episode(conn, &mut row, reason.as_deref())?,
            None => change_status(
                conn,
                &mut row,
                SettlementStatus::Draft,
                Some(&format!(
                    "consumption {} voided after approval",
                    v.consumption_id
                )),
                SYSTEM,
            )?,
        }
        save(conn, &row)?;
    }
    if row.status().is_open() || row.status() == SettlementStatus::Cancelled {
        // A cancelled settlement loses the line too, whichever came first, void or cancellation.
        mark(
            dirty,
            &row.id,
            "consumption_voided",
            Some(&v.reason),
            &v.voided_by,
        );
    } else {
        // Invoiced: the line stays billed until its invoices are credited with reissue, which
        // reopens the settlement; until then it counts as a billed void.
        row.pending_voids = billed_voids(conn, &row.id)?;
        row.revision += 1;
        row.updated_at = db::now();
        save(conn, &row)?;
    }
    Ok(())
}

/// Each patient's newest coverages as coverage events told them (JSON), with their time.
pub fn newest_coverages(
    conn: &mut AnyConnection,
    patient_ids: &[String],
) -> Result<HashMap<String, (String, NaiveDateTime)>, Error> {
    if patient_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, String, NaiveDateTime)> = patient_coverages::table
        .filter(patient_coverages::patient_id.eq_any(patient_ids))
        .select((
            patient_coverages::patient_id,
            patient_coverages::coverages,
            patient_coverages::coverages_at,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(|(p, c, at)| (p, (c, at))).collect())
}

fn on_coverage(
    conn: &mut AnyConnection,
    c: &CoverageChangedV1,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    // The patient's lock (taken with the batch's, up front) orders this with the settlements and
    // care records being made for the patient, which read what is kept here.
    let patient = c.patient_id.to_string();
    let at = c.changed_at.naive_utc();
    let json = serde_json::to_string(&c.coverages)?;
    let known: Option<NaiveDateTime> = patient_coverages::table
        .find(&patient)
        .select(patient_coverages::coverages_at)
        .first(conn)
        .optional()?;
    match known {
        None => {
            diesel::insert_into(patient_coverages::table)
                .values((
                    patient_coverages::patient_id.eq(&patient),
                    patient_coverages::coverages.eq(&json),
                    patient_coverages::coverages_at.eq(at),
                ))
                .execute(conn)?;
        }
        Some(known) if known <= at => {
            diesel::update(patient_coverages::table.find(&patient))
                .set((
                    patient_coverages::coverages.eq(&json),
                    patient_coverages::coverages_at.eq(at),
                ))
                .execute(conn)?;
        }
        Some(_) => {}
    }
    // Every settlement of the patient keeps the latest coverages (so that one reopened after a
    // credit note is split with them); the open ones are split again now.
    let ids: Vec<String> = settlements::table
        .filter(settlements::patient_id.eq(&patient))
        .filter(settlements::status.ne(SettlementStatus::Cancelled.as_str()))
        .select(settlements::id)
        .order(settlements::id.asc())
        .load(conn)?;
    // Billing runs bill the insurance and public-authority contexts to the coverages they know.
    crate::billing_runs::update_coverages(conn, &patient, None, &json, at)?;
    for id in ids {
        let Some(mut row) = find_for_update(conn, &id)? else {
            continue;
        };
        if at < row.coverages_at {
            continue;
        }
        row.coverages.clone_from(&json);
        row.coverages_at = at;
        save(conn, &row)?;
        if row.status().is_open() {
            mark(dirty, &row.id, "coverage_changed", Some(&c.change), SYSTEM);
        }
    }
    Ok(())
}

fn on_episode_closed(conn: &mut AnyConnection, e: &EpisodeClosedV1) -> Result<(), Error> {
    if e.status != carebill_domain::accounts::EpisodeStatus::Cancelled {
        return Ok(());
    }
    db::lock_key(conn, &format!("episode:{}", e.episode_id))?;
    // Cancelled is final: consumptions of the episode applied from now on (recorded before the
    // cancellation, applied after it) are kept in a cancelled settlement.
    insert_new!(
        conn,
        cancelled_episodes::table,
        (
            cancelled_episodes::episode_id.eq(e.episode_id.to_string()),
            cancelled_episodes::reason.eq(&e.reason),
            cancelled_episodes::cancelled_at.eq(e.closed_at.naive_utc()),
        )
    );
    let ids: Vec<String> = settlements::table
        .filter(settlements::episode_id.eq(e.episode_id.to_string()))
        .select(settlements::id)
        .load(conn)?;
    for id in ids {
        let Some(mut row) = find_for_update(conn, &id)? else {
            continue;
        };
        if row.status().is_open() {
            cancel_with_episode(conn, &mut row, e.reason.as_deref())?;
            save(conn, &row)?;
        }
    }
    Ok(())
}

/// Cancels `row` because accounts cancelled its episode, with the cancellation's reason (the
/// caller saves it).
fn cancel_with_episode(
    conn: &mut AnyConnection,
    row: &mut Row,
    reason: Option<&str>,
) -> Result<(), Error> {
    change_status(
        conn,
        row,
        SettlementStatus::Cancelled,
        Some(reason.unwrap_or("episode cancelled")),
        SYSTEM,
    )
}

fn on_invoiced(conn: &mut AnyConnection, i: &SettlementInvoicedV1) -> Result<(), Error> {
    let Some(mut row) = find_for_update(conn, &i.settlement_id.to_string())? else {
        return Ok(());
    };
    row.invoiced_version = Some(
        row.invoiced_version
            .map_or(i.settlement_version, |v| v.max(i.settlement_version)),
    );
    row.revision += 1;
    row.updated_at = db::now();
    if row.status() == SettlementStatus::Approved
        && row.approved_version == Some(i.settlement_version)
    {
        change_status(
            conn,
            &mut row,
            SettlementStatus::Invoiced,
            Some(&format!("{} invoice(s) issued", i.invoice_ids.len())),
            SYSTEM,
        )?;
    }
    save(conn, &row)
}

fn on_invoice_issued(
    conn: &mut AnyConnection,
    i: &InvoiceIssuedV1,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    let invoice = i.invoice_id.to_string();
    let settlement = i.settlement_id.to_string();
    // The settlement's row lock orders this after (or before) a credit note of the invoice
    // applied concurrently, so one of the two sees the other's effect.
    let row = find_for_update(conn, &settlement)?;
    let known: i64 = settlement_billing::table
        .filter(settlement_billing::invoice_id.eq(&invoice))
        .count()
        .get_result(conn)?;
    if known > 0 {
        return Ok(());
    }
    // A credit note that overtook this event: its lines are stored as no longer billed.
    let credited: i64 = credited_invoices::table
        .find(&invoice)
        .count()
        .get_result(conn)?;
    let party = i.recipient.key();
    let rows = i
        .lines
        .iter()
        .map(|l| {
            Ok((
                settlement_billing::invoice_id.eq(&invoice),
                settlement_billing::consumption_id.eq(l.consumption_id.to_string()),
                settlement_billing::settlement_id.eq(&settlement),
                settlement_billing::party_key.eq(&party),
                settlement_billing::invoice_number.eq(&i.number),
                settlement_billing::amount_minor.eq(l
                    .amount
                    .to_minor()
                    .map_err(|e| Error::internal(&e))?
                    .0),
                settlement_billing::currency.eq(l.amount.currency().to_string()),
                settlement_billing::active.eq(credited == 0),
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    insert_all!(conn, settlement_billing::table, rows);
    billing_changed(conn, row, dirty)
}

/// After invoicing billed or credited something: the open settlement checks its lines against
/// it again; any settlement recounts its billed voids.
fn billing_changed(
    conn: &mut AnyConnection,
    row: Option<Row>,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    let Some(mut row) = row else {
        return Ok(());
    };
    if row.status().is_open() {
        mark(dirty, &row.id, "billing_changed", None, SYSTEM);
    } else {
        let voids = billed_voids(conn, &row.id)?;
        if voids != row.pending_voids {
            row.pending_voids = voids;
            row.revision += 1;
            row.updated_at = db::now();
            save(conn, &row)?;
        }
    }
    Ok(())
}

fn on_credit_note(
    conn: &mut AnyConnection,
    c: &CreditNoteIssuedV1,
    dirty: &mut Dirty,
) -> Result<(), Error> {
    let id = c.settlement_id.to_string();
    // Locked first, as `invoice.issued` does: whichever of the two comes second sees the other.
    let row = find_for_update(conn, &id)?;
    let invoice = c.invoice_id.to_string();
    insert_new!(
        conn,
        credited_invoices::table,
        (
            credited_invoices::invoice_id.eq(&invoice),
            credited_invoices::credit_note_id.eq(c.credit_note_id.to_string()),
            credited_invoices::settlement_id.eq(&id),
            credited_invoices::credited_at.eq(c.issued_at.naive_utc()),
        )
    );
    diesel::update(settlement_billing::table.filter(settlement_billing::invoice_id.eq(&invoice)))
        .set(settlement_billing::active.eq(false))
        .execute(conn)?;
    if !c.reissue {
        return billing_changed(conn, row, dirty);
    }
    let Some(mut row) = row else {
        return Ok(());
    };
    // The credited invoice proves its version was invoiced, even if invoicing's own report of
    // it has not arrived yet. A settlement approved again after that version is left alone:
    // its approval bills the credited lines again by itself.
    row.invoiced_version = row.invoiced_version.max(Some(c.settlement_version));
    let reopen = row.status() == SettlementStatus::Invoiced
        || (row.status() == SettlementStatus::Approved
            && row
                .approved_version
                .is_some_and(|v| v <= c.settlement_version));
    if reopen {
        let reason = format!(
            "credit note {} for invoice {}: {}",
            c.number, c.invoice_number, c.reason
        );
        change_status(
            conn,
            &mut row,
            SettlementStatus::Draft,
            Some(&reason),
            SYSTEM,
        )?;
        let cause = Cause {
            kind: "reopened_after_credit",
            reason: Some(&reason),
            by: &c.issued_by,
        };
        // The corrected invoice comes from a new version, even when nothing changed (yet).
        if !recompute(conn, &mut row, &cause)? {
            new_version(conn, &mut row, &cause)?;
        }
    } else if row.status().is_open() {
        save(conn, &row)?;
        mark(dirty, &row.id, "billing_changed", None, SYSTEM);
    } else {
        row.pending_voids = billed_voids(conn, &row.id)?;
        row.revision += 1;
        row.updated_at = db::now();
        save(conn, &row)?;
    }
    Ok(())
}

/// A biller's stored unit price back as money (none: the price list's).
pub fn stored_manual_price(
    minor: Option<i64>,
    currency: Option<&str>,
) -> Result<Option<Money>, Error> {
    match (minor, currency) {
        (Some(m), Some(c)) => Ok(Some(Money::from_minor(
            MinorUnits(m),
            Currency::parse(c).map_err(|e| Error::internal(&e))?,
        ))),
        _ => Ok(None),
    }
}

/// A biller's unit price in minor units, as corrections store it (none: the price list's).
pub fn manual_price_minor(unit_price: Option<&Money>) -> Result<Option<i64>, Error> {
    unit_price
        .map(|p| p.to_minor().map(|m| m.0))
        .transpose()
        .map_err(|_| Error::field("unit_price", "out_of_range", "too large"))
}

/// Voided consumptions of a settlement that an active invoice still bills. Most settlements
/// have no voided consumption: one plain look-up tells, and only voids are checked against the
/// invoices.
pub fn billed_voids(conn: &mut AnyConnection, id: &str) -> Result<i32, Error> {
    let voided: Vec<String> = settlement_inputs::table
        .filter(settlement_inputs::settlement_id.eq(id))
        .filter(settlement_inputs::voided.eq(true))
        .select(settlement_inputs::consumption_id)
        .load(conn)?;
    if voided.is_empty() {
        return Ok(0);
    }
    let billed: Vec<String> = settlement_billing::table
        .filter(settlement_billing::settlement_id.eq(id))
        .filter(settlement_billing::active.eq(true))
        .filter(settlement_billing::consumption_id.eq_any(&voided))
        .select(settlement_billing::consumption_id)
        .distinct()
        .load(conn)?;
    Ok(i32::try_from(billed.len()).unwrap_or(i32::MAX))
}

/// An active invoice line: consumption, party key, invoice number, amount (minor), currency.
type Billed = (String, String, String, i64, String);

/// Flags lines whose shares differ from what an active invoice bills for them.
fn check_billing(
    conn: &mut AnyConnection,
    id: &str,
    lines: &mut [PricedLine],
) -> Result<(), Error> {
    let billed: Vec<Billed> = settlement_billing::table
        .filter(settlement_billing::settlement_id.eq(id))
        .filter(settlement_billing::active.eq(true))
        .select((
            settlement_billing::consumption_id,
            settlement_billing::party_key,
            settlement_billing::invoice_number,
            settlement_billing::amount_minor,
            settlement_billing::currency,
        ))
        .load(conn)?;
    if billed.is_empty() {
        return Ok(());
    }
    let mut by_line: HashMap<&str, Vec<&Billed>> = HashMap::new();
    for b in &billed {
        by_line.entry(b.0.as_str()).or_default().push(b);
    }
    for line in lines.iter_mut() {
        if !line.issues.is_empty() {
            continue;
        }
        let Some(bills) = by_line.get(line.consumption_id.as_str()) else {
            continue;
        };
        for (_, party, number, amount, currency) in bills.iter().copied() {
            let now: i64 = if line.excluded {
                0
            } else {
                line.shares
                    .iter()
                    .filter(|s| &s.party.key() == party)
                    .filter_map(|s| s.amount.to_minor().ok())
                    .map(|m| m.0)
                    .sum()
            };
            if now != *amount {
                let billed = Currency::parse(currency)
                    .map(|c| Money::from_minor(MinorUnits(*amount), c).to_string())
                    .unwrap_or_else(|_| amount.to_string());
                line.issues.push(issue(
                    "billed_differently",
                    format!(
                        "invoice {number} bills {billed} of this line to {party}, which it would no longer pay as computed now; credit that invoice (with reissue) before approving"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Enqueues the approval event of `row`'s current version.
pub fn enqueue_approval(
    conn: &mut AnyConnection,
    row: &Row,
    by: &str,
    correlation: Option<String>,
) -> Result<(), Error> {
    let now = Utc::now();
    let payload = approved_event(conn, row, by, now)?;
    let env = Envelope::new("settlement", &payload, now, correlation, None)
        .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)
}
