//! Settlements as stored: the header row, its versions, line revisions, inputs (the
//! consumptions), status changes, what invoicing bills, cancelled episodes and the patients'
//! newest coverages; and the locks that serialise work on them (an advisory lock per episode and
//! per patient, the settlement row's lock). Queries only: what to do with them is decided in
//! `service/`.

use std::collections::{HashMap, HashSet};

use carebill_domain::events::{
    ConsumptionRecordedV1, CoverageRef, CreditNoteIssuedV1, EpisodeRef, InvoiceIssuedV1,
};
use carebill_domain::pricing::{Input, PricedLine};
use carebill_domain::settlement::{SettlementKind, SettlementStatus};
use carebill_domain::stored::json;
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, insert_all, insert_new, scoped};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{
    cancelled_episodes, credited_invoices, partial_credit_lines, patient_coverages,
    settlement_billing, settlement_inputs, settlement_lines, settlement_observations,
    settlement_status_changes, settlement_versions, settlements,
};
use crate::store::count;
use crate::store::lines::{line_data, read_line};

/// A settlement header row. `episode` and `coverages` are the JSON accounts' events carried
/// (read with [`Row::episode`] and [`Row::coverages`]).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settlements)]
pub struct Row {
    pub id: String,
    pub number: String,
    pub episode_id: String,
    #[diesel(deserialize_as = String)]
    pub kind: SettlementKind,
    pub parent_id: Option<String>,
    #[diesel(deserialize_as = String)]
    pub status: SettlementStatus,
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
            kind,
            parent_id: None,
            status: SettlementStatus::Draft,
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
        self.status
    }

    /// The episode as last reported.
    pub fn episode(&self) -> Result<EpisodeRef, Error> {
        json("settlement episode", &self.episode).map_err(Error::from)
    }

    /// The patient's coverages as last reported.
    pub fn coverages(&self) -> Result<Vec<CoverageRef>, Error> {
        json("settlement coverages", &self.coverages).map_err(Error::from)
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

/// The inputs (consumptions not voided, with a biller's corrections) of a settlement.
pub fn load_inputs(conn: &mut AnyConnection, id: &str) -> Result<Vec<Input>, Error> {
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
                consumption: json("settlement input", &payload).map_err(Error::from)?,
                manual_price: stored_manual_price(minor, currency.as_deref())?,
                excluded,
                override_reason: reason,
            })
        })
        .collect()
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

/// The figures of a version's lines: the currency and total of the billable ones (neither
/// excluded nor with an issue), the line and issue counts.
pub fn figures(lines: &[PricedLine]) -> Result<Figures, Error> {
    let billable = || lines.iter().filter(|l| !l.excluded && l.issues.is_empty());
    let currency = billable().find_map(|l| l.amount.map(|a| a.currency().to_string()));
    let mut total_minor: i64 = 0;
    for l in billable() {
        let Some(amount) = l.amount else { continue };
        let minor = amount.to_minor().map_err(|e| {
            Error::internal(&format!(
                "amount {amount} of line {} cannot be represented: {e}",
                l.consumption_id
            ))
        })?;
        total_minor = total_minor.checked_add(minor.0).ok_or_else(|| {
            Error::internal(&format!(
                "the total of the billable lines overflows at line {}",
                l.consumption_id
            ))
        })?;
    }
    Ok(Figures {
        currency,
        total_minor,
        line_count: count("settlement lines", lines.len())?,
        issue_count: count(
            "settlement lines with issues",
            lines.iter().filter(|l| !l.issues.is_empty()).count(),
        )?,
    })
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
        let f = figures(lines)?;
        row.version = 1;
        row.revision = 1;
        row.currency = f.currency;
        row.total_minor = f.total_minor;
        row.line_count = f.line_count;
        row.issue_count = f.issue_count;
        row.updated_at = now;
        data.push(lines.iter().map(line_data).collect::<Result<_, _>>()?);
    }
    let headers: Vec<NewSettlement<'_>> = made
        .iter()
        .map(|(r, _)| NewSettlement {
            id: &r.id,
            number: &r.number,
            episode_id: &r.episode_id,
            kind: r.kind.as_str(),
            parent_id: r.parent_id.as_deref(),
            status: r.status.as_str(),
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
    let ids: Vec<&str> = made.iter().map(|(r, _)| r.id.as_str()).collect();
    mark_changed_many(conn, &ids)?;
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

/// Writes the mutable header fields of `row`.
pub fn save(conn: &mut AnyConnection, row: &Row) -> Result<(), Error> {
    diesel::update(settlements::table.find(&row.id))
        .set((
            settlements::status.eq(row.status.as_str()),
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
            settlements::change_seq.eq(settlements::change_seq + 1),
        ))
        .execute(conn)?;
    mark_changed(conn, &row.id)
}

/// Stores a new settlement header (version 0, no lines yet).
pub fn insert(conn: &mut AnyConnection, row: &Row) -> Result<(), Error> {
    diesel::insert_into(settlements::table)
        .values((
            settlements::id.eq(&row.id),
            settlements::assigned_to.eq(&row.assigned_to),
            settlements::number.eq(&row.number),
            settlements::episode_id.eq(&row.episode_id),
            settlements::kind.eq(row.kind.as_str()),
            settlements::parent_id.eq(&row.parent_id),
            settlements::status.eq(row.status.as_str()),
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
    mark_changed(conn, &row.id)
}

/// Marks a settlement whose workflow state was written, for the progress publisher (in the
/// writer's transaction). An existing mark is updated, not left alone: the update waits for a
/// publisher holding the mark, so a change is never taken for announced before it commits.
fn mark_changed(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    use crate::schema::settlement_changes::dsl as c;
    let row = (c::settlement_id.eq(id), c::marks.eq(1_i64));
    match conn {
        AnyConnection::Postgresql(pg) => diesel::insert_into(c::settlement_changes)
            .values(row)
            .on_conflict(c::settlement_id)
            .do_update()
            .set(c::marks.eq(c::marks + 1))
            .execute(pg)?,
        AnyConnection::Sqlite(lite) => diesel::insert_into(c::settlement_changes)
            .values(row)
            .on_conflict(c::settlement_id)
            .do_update()
            .set(c::marks.eq(c::marks + 1))
            .execute(lite)?,
    };
    Ok(())
}

/// [`mark_changed`] for new settlements (no mark can exist yet).
fn mark_changed_many(conn: &mut AnyConnection, ids: &[&str]) -> Result<(), Error> {
    use crate::schema::settlement_changes::dsl as c;
    let rows: Vec<_> = ids
        .iter()
        .map(|id| (c::settlement_id.eq(*id), c::marks.eq(1_i64)))
        .collect();
    insert_all!(conn, c::settlement_changes, rows);
    Ok(())
}

/// What the progress publisher announces of one marked settlement.
#[derive(Debug, Clone, Queryable)]
pub struct ProgressRow {
    pub id: String,
    pub number: String,
    pub location_id: String,
    pub location_code: String,
    pub coverages: String,
    pub status: String,
    pub currency: Option<String>,
    pub total_minor: i64,
    pub assigned_to: Option<String>,
    pub created_at: NaiveDateTime,
    pub change_seq: i64,
}

/// Takes up to `limit` marks (on PostgreSQL those no writer holds: a mark being written is
/// taken after its writer commits) and answers the marked settlements as they stand, with
/// since when each is in its status. Removes the marks: the caller announces them in the same
/// transaction.
pub fn take_changed(
    conn: &mut AnyConnection,
    limit: i64,
) -> Result<Vec<(ProgressRow, Option<NaiveDateTime>)>, Error> {
    use crate::schema::settlement_changes::dsl as c;
    let ids: Vec<String> = match conn {
        AnyConnection::Postgresql(pg) => c::settlement_changes
            .select(c::settlement_id)
            .order(c::settlement_id)
            .limit(limit)
            .for_update()
            .skip_locked()
            .load(pg)?,
        AnyConnection::Sqlite(lite) => c::settlement_changes
            .select(c::settlement_id)
            .order(c::settlement_id)
            .limit(limit)
            .load(lite)?,
    };
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    diesel::delete(c::settlement_changes.filter(c::settlement_id.eq_any(&ids))).execute(conn)?;
    let rows: Vec<ProgressRow> = settlements::table
        .filter(settlements::id.eq_any(&ids))
        .select((
            settlements::id,
            settlements::number,
            settlements::location_id,
            settlements::location_code,
            settlements::coverages,
            settlements::status,
            settlements::currency,
            settlements::total_minor,
            settlements::assigned_to,
            settlements::created_at,
            settlements::change_seq,
        ))
        .order(settlements::id)
        .load(conn)?;
    let since: HashMap<String, Option<NaiveDateTime>> = settlement_status_changes::table
        .filter(settlement_status_changes::settlement_id.eq_any(&ids))
        .group_by(settlement_status_changes::settlement_id)
        .select((
            settlement_status_changes::settlement_id,
            diesel::dsl::max(settlement_status_changes::changed_at),
        ))
        .load::<(String, Option<NaiveDateTime>)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let s = since.get(&r.id).copied().flatten();
            (r, s)
        })
        .collect())
}

/// Whether accounts cancelled the episode (and why): `Some(reason)` once its cancellation was
/// applied.
pub fn cancellation(
    conn: &mut AnyConnection,
    episode_id: &str,
) -> Result<Option<Option<String>>, Error> {
    Ok(cancelled_episodes::table
        .find(episode_id)
        .select(cancelled_episodes::reason)
        .first(conn)
        .optional()?)
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

/// A biller's stored unit price back as money (none: the price list's).
pub fn stored_manual_price(
    minor: Option<i64>,
    currency: Option<&str>,
) -> Result<Option<Money>, Error> {
    match (minor, currency) {
        (Some(m), Some(c)) => Ok(Some(Money::from_minor(
            MinorUnits(m),
            Currency::parse(c).map_err(|e| Error::stored("manual price currency", c, e))?,
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
    count("billed voided consumptions", billed.len())
}

/// Takes an advisory lock (PostgreSQL; SQLite serialises writers) until the transaction ends:
/// `episode:<id>` for the work on one episode.
pub fn lock_episode(conn: &mut AnyConnection, episode_id: &str) -> Result<(), Error> {
    Ok(db::lock_key(conn, &format!("episode:{episode_id}"))?)
}

/// Every settlement of an episode, locked (PostgreSQL) in id order in one statement, newest
/// first.
pub fn episode_settlements_for_update(
    conn: &mut AnyConnection,
    episode_id: &str,
) -> Result<Vec<Row>, Error> {
    let mut existing: Vec<Row> = match conn {
        AnyConnection::Postgresql(pg) => settlements::table
            .filter(settlements::episode_id.eq(episode_id))
            .select(Row::as_select())
            .order(settlements::id.asc())
            .for_update()
            .load(pg)?,
        AnyConnection::Sqlite(_) => settlements::table
            .filter(settlements::episode_id.eq(episode_id))
            .select(Row::as_select())
            .order(settlements::id.asc())
            .load(conn)?,
    };
    existing.reverse();
    Ok(existing)
}

/// The ids of an episode's settlements.
pub fn episode_settlement_ids(
    conn: &mut AnyConnection,
    episode_id: &str,
) -> Result<Vec<String>, Error> {
    Ok(settlements::table
        .filter(settlements::episode_id.eq(episode_id))
        .select(settlements::id)
        .load(conn)?)
}

/// The ids of a patient's settlements that are not cancelled, in id order.
pub fn patient_settlement_ids(
    conn: &mut AnyConnection,
    patient_id: &str,
) -> Result<Vec<String>, Error> {
    Ok(settlements::table
        .filter(settlements::patient_id.eq(patient_id))
        .filter(settlements::status.ne(SettlementStatus::Cancelled.as_str()))
        .select(settlements::id)
        .order(settlements::id.asc())
        .load(conn)?)
}

/// The patients of these settlements, sorted, once each.
pub fn patients_of_settlements(
    conn: &mut AnyConnection,
    ids: &[&String],
) -> Result<Vec<String>, Error> {
    let mut patients: Vec<String> = settlements::table
        .filter(settlements::id.eq_any(ids))
        .select(settlements::patient_id)
        .distinct()
        .load(conn)?;
    patients.sort();
    Ok(patients)
}

/// The other settlements of `row`'s patient that bill by coverage terms (neither cancelled nor
/// periodic), with their episodes.
pub fn patient_other_episodes(
    conn: &mut AnyConnection,
    row: &Row,
) -> Result<HashMap<String, EpisodeRef>, Error> {
    let others: Vec<(String, String)> = settlements::table
        .filter(settlements::patient_id.eq(&row.patient_id))
        .filter(settlements::id.ne(&row.id))
        .filter(settlements::status.ne(SettlementStatus::Cancelled.as_str()))
        .filter(settlements::billing_run_id.is_null())
        .select((settlements::id, settlements::episode))
        .load(conn)?;
    others
        .into_iter()
        .map(|(id, e)| {
            let episode = json("settlement episode", &e).map_err(Error::from)?;
            Ok((id, episode))
        })
        .collect()
}

/// The current lines of these settlements, with their settlement's id.
pub fn current_lines_of(
    conn: &mut AnyConnection,
    ids: &[&String],
) -> Result<Vec<(String, PricedLine)>, Error> {
    let rows: Vec<(String, String)> = settlement_lines::table
        .filter(settlement_lines::settlement_id.eq_any(ids))
        .filter(settlement_lines::to_version.is_null())
        .select((settlement_lines::settlement_id, settlement_lines::data))
        .load(conn)?;
    rows.into_iter()
        .map(|(id, data)| Ok((id, read_line(&data)?)))
        .collect()
}

/// The stored JSON of a settlement's current lines, by consumption.
pub fn current_line_data(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<HashMap<String, String>, Error> {
    let current: Vec<(String, String)> = settlement_lines::table
        .filter(settlement_lines::settlement_id.eq(id))
        .filter(settlement_lines::to_version.is_null())
        .select((settlement_lines::consumption_id, settlement_lines::data))
        .load(conn)?;
    Ok(current.into_iter().collect())
}

/// Ends the current revisions of `closing` lines at `version` and stores `changed` (consumption,
/// JSON) valid from it.
pub fn replace_lines(
    conn: &mut AnyConnection,
    id: &str,
    version: i32,
    closing: &[&String],
    changed: &[(String, String)],
) -> Result<(), Error> {
    diesel::update(
        settlement_lines::table
            .filter(settlement_lines::settlement_id.eq(id))
            .filter(settlement_lines::to_version.is_null())
            .filter(settlement_lines::consumption_id.eq_any(closing)),
    )
    .set(settlement_lines::to_version.eq(Some(version)))
    .execute(conn)?;
    let new_rows: Vec<NewLine<'_>> = changed
        .iter()
        .map(|(consumption, data)| NewLine {
            settlement_id: id,
            consumption_id: consumption,
            from_version: version,
            data,
        })
        .collect();
    insert_all!(conn, settlement_lines::table, new_rows);
    Ok(())
}

/// The figures of a version: currency, total, line and issue counts.
pub struct Figures {
    /// The currency of its billable lines.
    pub currency: Option<String>,
    /// Total of its billable lines, in minor units.
    pub total_minor: i64,
    /// Lines.
    pub line_count: i32,
    /// Lines with issues.
    pub issue_count: i32,
}

/// Stores version `version` of settlement `id` made by `cause` at `now`.
pub fn insert_version(
    conn: &mut AnyConnection,
    id: &str,
    version: i32,
    cause: &Cause,
    now: NaiveDateTime,
    f: &Figures,
) -> Result<(), Error> {
    diesel::insert_into(settlement_versions::table)
        .values(NewVersion {
            settlement_id: id,
            version,
            cause: cause.kind,
            reason: cause.reason,
            created_by: cause.by,
            created_at: now,
            currency: f.currency.as_deref(),
            total_minor: f.total_minor,
            line_count: f.line_count,
            issue_count: f.issue_count,
        })
        .execute(conn)?;
    Ok(())
}

/// Records that `row` moves to `to` (from its current status), who and why.
pub fn insert_status_change(
    conn: &mut AnyConnection,
    row: &Row,
    to: SettlementStatus,
    reason: Option<&str>,
    by: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::insert_into(settlement_status_changes::table)
        .values((
            settlement_status_changes::id.eq(uuid::Uuid::now_v7().to_string()),
            settlement_status_changes::settlement_id.eq(&row.id),
            settlement_status_changes::from_status.eq(row.status.as_str()),
            settlement_status_changes::to_status.eq(to.as_str()),
            settlement_status_changes::version.eq(row.version),
            settlement_status_changes::reason.eq(reason),
            settlement_status_changes::changed_by.eq(by),
            settlement_status_changes::changed_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Which of these consumptions are inputs already (or voided before they arrived).
pub fn known_inputs(conn: &mut AnyConnection, ids: &[String]) -> Result<HashSet<String>, Error> {
    Ok(settlement_inputs::table
        .filter(settlement_inputs::consumption_id.eq_any(ids))
        .select(settlement_inputs::consumption_id)
        .load::<String>(conn)?
        .into_iter()
        .collect())
}

/// Stores consumptions as inputs of settlement `id`.
pub fn insert_inputs(
    conn: &mut AnyConnection,
    id: &str,
    consumptions: &[&ConsumptionRecordedV1],
) -> Result<(), Error> {
    let rows = consumptions
        .iter()
        .map(|c| {
            Ok(NewInput {
                consumption_id: c.consumption_id.to_string(),
                settlement_id: id,
                performed_at: c.performed_at.naive_utc(),
                payload: serde_json::to_string(c)?,
                voided: false,
                excluded: false,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    insert_all!(conn, settlement_inputs::table, rows);
    Ok(())
}

/// The settlement a consumption is an input of, and whether it is voided.
pub fn input_of(
    conn: &mut AnyConnection,
    consumption_id: &str,
) -> Result<Option<(String, bool)>, Error> {
    Ok(settlement_inputs::table
        .filter(settlement_inputs::consumption_id.eq(consumption_id))
        .select((settlement_inputs::settlement_id, settlement_inputs::voided))
        .first(conn)
        .optional()?)
}

/// A voided tombstone for a consumption whose void arrived first: its late recording is then a
/// no-op.
pub fn insert_void_tombstone(
    conn: &mut AnyConnection,
    consumption_id: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::insert_into(settlement_inputs::table)
        .values((
            settlement_inputs::consumption_id.eq(consumption_id),
            settlement_inputs::settlement_id.eq(""),
            settlement_inputs::performed_at.eq(at),
            settlement_inputs::payload.eq("{}"),
            settlement_inputs::voided.eq(true),
            settlement_inputs::excluded.eq(false),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks an input voided.
pub fn void_input(conn: &mut AnyConnection, consumption_id: &str) -> Result<(), Error> {
    diesel::update(settlement_inputs::table.find(consumption_id))
        .set(settlement_inputs::voided.eq(true))
        .execute(conn)?;
    Ok(())
}

/// When a patient's coverages were last told (none: never).
pub fn patient_coverages_at(
    conn: &mut AnyConnection,
    patient_id: &str,
) -> Result<Option<NaiveDateTime>, Error> {
    Ok(patient_coverages::table
        .find(patient_id)
        .select(patient_coverages::coverages_at)
        .first(conn)
        .optional()?)
}

/// Keeps a patient's newest coverages (JSON) told at `at`; `known`: a row exists already.
pub fn put_patient_coverages(
    conn: &mut AnyConnection,
    patient_id: &str,
    coverages: &str,
    at: NaiveDateTime,
    known: bool,
) -> Result<(), Error> {
    if known {
        diesel::update(patient_coverages::table.find(patient_id))
            .set((
                patient_coverages::coverages.eq(coverages),
                patient_coverages::coverages_at.eq(at),
            ))
            .execute(conn)?;
    } else {
        diesel::insert_into(patient_coverages::table)
            .values((
                patient_coverages::patient_id.eq(patient_id),
                patient_coverages::coverages.eq(coverages),
                patient_coverages::coverages_at.eq(at),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Records an episode's cancellation (once).
pub fn insert_cancelled_episode(
    conn: &mut AnyConnection,
    episode_id: &str,
    reason: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), Error> {
    insert_new!(
        conn,
        cancelled_episodes::table,
        (
            cancelled_episodes::episode_id.eq(episode_id),
            cancelled_episodes::reason.eq(reason),
            cancelled_episodes::cancelled_at.eq(at),
        )
    );
    Ok(())
}

/// Whether invoicing's report of this invoice was stored already.
pub fn invoice_known(conn: &mut AnyConnection, invoice_id: &str) -> Result<bool, Error> {
    let known: i64 = settlement_billing::table
        .filter(settlement_billing::invoice_id.eq(invoice_id))
        .count()
        .get_result(conn)?;
    Ok(known > 0)
}

/// Whether a credit note of this invoice was stored.
pub fn invoice_credited(conn: &mut AnyConnection, invoice_id: &str) -> Result<bool, Error> {
    let credited: i64 = credited_invoices::table
        .find(invoice_id)
        .count()
        .get_result(conn)?;
    Ok(credited > 0)
}

/// Stores what an issued invoice bills, line by line (`active`: not credited yet).
pub fn insert_billing(
    conn: &mut AnyConnection,
    i: &InvoiceIssuedV1,
    active: bool,
) -> Result<(), Error> {
    let invoice = i.invoice_id.to_string();
    let settlement = i.settlement_id.to_string();
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
                settlement_billing::active.eq(active),
            ))
        })
        .collect::<Result<Vec<_>, Error>>()?;
    insert_all!(conn, settlement_billing::table, rows);
    Ok(())
}

/// Records a full credit note of an invoice (once) and marks the invoice's lines no longer
/// billed (a partial one keeps them billed: [`set_credited`]).
pub fn credit_invoice(conn: &mut AnyConnection, c: &CreditNoteIssuedV1) -> Result<(), Error> {
    let invoice = c.invoice_id.to_string();
    insert_new!(
        conn,
        credited_invoices::table,
        (
            credited_invoices::invoice_id.eq(&invoice),
            credited_invoices::credit_note_id.eq(c.credit_note_id.to_string()),
            credited_invoices::settlement_id.eq(c.settlement_id.to_string()),
            credited_invoices::credited_at.eq(c.issued_at.naive_utc()),
        )
    );
    diesel::update(settlement_billing::table.filter(settlement_billing::invoice_id.eq(&invoice)))
        .set(settlement_billing::active.eq(false))
        .execute(conn)?;
    Ok(())
}

/// What a partial credit note left one invoice line billing, as the event said.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = partial_credit_lines)]
pub struct PartialCreditLine {
    /// The credit note.
    pub credit_note_id: String,
    /// The consumption the invoice line bills.
    pub consumption_id: String,
    /// The invoice.
    pub invoice_id: String,
    /// What the invoice line still bills after the credit note, in minor units of `currency`.
    pub remaining_minor: i64,
    /// The currency.
    pub currency: String,
}

/// Records the lines of a partial credit note (once each: a replay inserts nothing).
pub fn insert_partial_credit_lines(
    conn: &mut AnyConnection,
    lines: &[PartialCreditLine],
) -> Result<(), Error> {
    for l in lines {
        insert_new!(
            conn,
            partial_credit_lines::table,
            (
                partial_credit_lines::credit_note_id.eq(&l.credit_note_id),
                partial_credit_lines::consumption_id.eq(&l.consumption_id),
                partial_credit_lines::invoice_id.eq(&l.invoice_id),
                partial_credit_lines::remaining_minor.eq(l.remaining_minor),
                partial_credit_lines::currency.eq(&l.currency),
            )
        );
    }
    Ok(())
}

/// The lines of every partial credit note of an invoice recorded so far.
pub fn partial_credit_lines_of(
    conn: &mut AnyConnection,
    invoice_id: &str,
) -> Result<Vec<PartialCreditLine>, Error> {
    Ok(partial_credit_lines::table
        .filter(partial_credit_lines::invoice_id.eq(invoice_id))
        .select(PartialCreditLine::as_select())
        .load(conn)?)
}

/// Sets how much of an invoice line partial credit notes took back (an absolute value, so that
/// applying the same credit note again changes nothing).
pub fn set_credited(
    conn: &mut AnyConnection,
    invoice_id: &str,
    consumption_id: &str,
    credited_minor: i64,
) -> Result<(), Error> {
    diesel::update(settlement_billing::table.find((invoice_id, consumption_id)))
        .set(settlement_billing::credited_minor.eq(credited_minor))
        .execute(conn)?;
    Ok(())
}

/// An invoice line as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settlement_billing)]
pub struct Billed {
    /// The consumption billed.
    pub consumption_id: String,
    /// The party billed (`PartyRef::key`).
    pub party_key: String,
    /// The invoice's number.
    pub invoice_number: String,
    /// What it invoiced, in minor units of `currency`.
    pub amount_minor: i64,
    /// The currency.
    #[diesel(deserialize_as = String)]
    pub currency: Currency,
    /// How much of it partial credit notes took back, in minor units of `currency`.
    pub credited_minor: i64,
}

impl Billed {
    /// What it invoiced.
    pub fn amount(&self) -> Money {
        Money::from_minor(MinorUnits(self.amount_minor), self.currency)
    }
}

/// The lines of one invoice as stored (none: its `invoice.issued` has not been applied yet).
pub fn invoice_billing(conn: &mut AnyConnection, invoice_id: &str) -> Result<Vec<Billed>, Error> {
    Ok(settlement_billing::table
        .filter(settlement_billing::invoice_id.eq(invoice_id))
        .select(Billed::as_select())
        .load(conn)?)
}

/// What active invoices bill of a settlement's lines.
pub fn active_billing(conn: &mut AnyConnection, id: &str) -> Result<Vec<Billed>, Error> {
    Ok(settlement_billing::table
        .filter(settlement_billing::settlement_id.eq(id))
        .filter(settlement_billing::active.eq(true))
        .select(Billed::as_select())
        .load(conn)?)
}

/// What the settlement list filters on (all optional).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Workflow status.
    pub status: Option<SettlementStatus>,
    /// Episode id.
    pub episode_id: Option<String>,
    /// Patient id.
    pub patient_id: Option<String>,
    /// Location code.
    pub location_code: Option<String>,
    /// Only with (or without) lines that block approval.
    pub has_issues: Option<bool>,
    /// Assigned biller.
    pub assigned_to: Option<String>,
    /// Made by this billing run.
    pub billing_run_id: Option<String>,
}

/// A page of settlements in the caller's scope, in id order after `after` (at most `limit`).
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &ListFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Row>, Error> {
    let mut q = settlements::table.select(Row::as_select()).into_boxed();
    if let Some(s) = f.status {
        q = q.filter(settlements::status.eq(s.as_str()));
    }
    if let Some(e) = &f.episode_id {
        q = q.filter(settlements::episode_id.eq(e.clone()));
    }
    if let Some(p) = &f.patient_id {
        q = q.filter(settlements::patient_id.eq(p.clone()));
    }
    if let Some(r) = &f.billing_run_id {
        q = q.filter(settlements::billing_run_id.eq(r.clone()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(settlements::location_code.eq(l.clone()));
    }
    // A settlement is no one payer's: a payer-limited caller sees none.
    q = scoped!(q, scope, settlements::location_code);
    match f.has_issues {
        Some(true) => q = q.filter(settlements::issue_count.gt(0)),
        Some(false) => q = q.filter(settlements::issue_count.eq(0)),
        None => {}
    }
    if let Some(a) = &f.assigned_to {
        q = q.filter(settlements::assigned_to.eq(a.clone()));
    }
    if let Some(after) = after {
        q = q.filter(settlements::id.gt(after.to_owned()));
    }
    Ok(q.order(settlements::id.asc())
        .limit(limit)
        .load::<Row>(conn)?)
}

/// An observation of medical audit.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settlement_observations)]
pub struct ObservationRow {
    /// Id.
    pub id: String,
    /// The version observed.
    pub version: i32,
    /// The line observed; none for the settlement as a whole.
    pub consumption_id: Option<String>,
    /// What the auditor asks.
    pub text: String,
    /// The auditor.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// The version that corrected the observed line.
    pub resolved_version: Option<i32>,
}

/// A settlement's observations, oldest first.
pub fn observations(conn: &mut AnyConnection, id: &str) -> Result<Vec<ObservationRow>, Error> {
    Ok(settlement_observations::table
        .filter(settlement_observations::settlement_id.eq(id))
        .order(settlement_observations::id.asc())
        .select(ObservationRow::as_select())
        .load(conn)?)
}

/// Stores an observation of `row`'s current version.
pub fn insert_observation(
    conn: &mut AnyConnection,
    row: &Row,
    consumption_id: Option<&str>,
    text: &str,
    by: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::insert_into(settlement_observations::table)
        .values((
            settlement_observations::id.eq(uuid::Uuid::now_v7().to_string()),
            settlement_observations::settlement_id.eq(&row.id),
            settlement_observations::version.eq(row.version),
            settlement_observations::consumption_id.eq(consumption_id),
            settlement_observations::text.eq(text),
            settlement_observations::created_by.eq(by),
            settlement_observations::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks the open observations of a line resolved by `version`.
pub fn resolve_observations(
    conn: &mut AnyConnection,
    id: &str,
    consumption_id: &str,
    version: i32,
) -> Result<(), Error> {
    diesel::update(
        settlement_observations::table
            .filter(settlement_observations::settlement_id.eq(id))
            .filter(settlement_observations::consumption_id.eq(consumption_id))
            .filter(settlement_observations::resolved_version.is_null()),
    )
    .set(settlement_observations::resolved_version.eq(Some(version)))
    .execute(conn)?;
    Ok(())
}

/// A status change.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settlement_status_changes)]
pub struct StatusChangeRow {
    /// From.
    #[diesel(deserialize_as = String)]
    pub from_status: SettlementStatus,
    /// To.
    #[diesel(deserialize_as = String)]
    pub to_status: SettlementStatus,
    /// The version it happened at.
    pub version: i32,
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub changed_by: String,
    /// When.
    pub changed_at: NaiveDateTime,
}

/// A settlement's status changes, oldest first.
pub fn status_changes(conn: &mut AnyConnection, id: &str) -> Result<Vec<StatusChangeRow>, Error> {
    Ok(settlement_status_changes::table
        .filter(settlement_status_changes::settlement_id.eq(id))
        .order(settlement_status_changes::id.asc())
        .select(StatusChangeRow::as_select())
        .load(conn)?)
}

/// Who last sent a settlement to medical audit.
pub fn sent_to_audit_by(conn: &mut AnyConnection, id: &str) -> Result<Option<String>, Error> {
    Ok(settlement_status_changes::table
        .filter(settlement_status_changes::settlement_id.eq(id))
        .filter(settlement_status_changes::to_status.eq(SettlementStatus::InAudit.as_str()))
        .order(settlement_status_changes::id.desc())
        .select(settlement_status_changes::changed_by)
        .first(conn)
        .optional()?)
}

/// A version of a settlement.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = settlement_versions)]
pub struct VersionRow {
    /// Number, from 1.
    pub version: i32,
    /// What made it.
    pub cause: String,
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// The currency of its billable lines.
    pub currency: Option<String>,
    /// Their total, in minor units.
    pub total_minor: i64,
    /// Lines.
    pub line_count: i32,
    /// Lines with issues.
    pub issue_count: i32,
}

impl VersionRow {
    /// The total of its billable lines (none: nothing priced).
    pub fn total(&self) -> Result<Option<Money>, Error> {
        stored_money(self.total_minor, self.currency.as_deref())
    }
}

impl Row {
    /// The total of its billable lines (none: nothing priced).
    pub fn total(&self) -> Result<Option<Money>, Error> {
        stored_money(self.total_minor, self.currency.as_deref())
    }
}

/// An amount stored in minor units with its currency (none: no currency, nothing priced).
fn stored_money(minor: i64, currency: Option<&str>) -> Result<Option<Money>, Error> {
    currency
        .map(|c| {
            Currency::parse(c)
                .map(|c| Money::from_minor(MinorUnits(minor), c))
                .map_err(|e| Error::stored("settlement currency", c, e))
        })
        .transpose()
}

/// A settlement's versions (or only `only`), oldest first.
pub fn versions(
    conn: &mut AnyConnection,
    id: &str,
    only: Option<i32>,
) -> Result<Vec<VersionRow>, Error> {
    let mut q = settlement_versions::table
        .filter(settlement_versions::settlement_id.eq(id))
        .into_boxed();
    if let Some(v) = only {
        q = q.filter(settlement_versions::version.eq(v));
    }
    Ok(q.order(settlement_versions::version.asc())
        .select(VersionRow::as_select())
        .load(conn)?)
}

/// A biller's correction of an input (a consumption not voided) of settlement `id`; false when
/// it has no such input.
pub fn correct_input(
    conn: &mut AnyConnection,
    id: &str,
    consumption_id: &str,
    unit_price: Option<&Money>,
    excluded: bool,
    reason: &str,
) -> Result<bool, Error> {
    let updated = diesel::update(
        settlement_inputs::table
            .filter(settlement_inputs::consumption_id.eq(consumption_id))
            .filter(settlement_inputs::settlement_id.eq(id))
            .filter(settlement_inputs::voided.eq(false)),
    )
    .set((
        settlement_inputs::manual_unit_price_minor.eq(manual_price_minor(unit_price)?),
        settlement_inputs::manual_currency.eq(unit_price.map(|m| m.currency().to_string())),
        settlement_inputs::excluded.eq(excluded),
        settlement_inputs::override_reason.eq(reason),
    ))
    .execute(conn)?;
    Ok(updated > 0)
}

/// The location ids behind location codes, from the settlements kept here (what the audit
/// entries of settlements carry).
pub fn location_ids(conn: &mut AnyConnection, codes: &[String]) -> Result<Vec<String>, Error> {
    Ok(settlements::table
        .filter(settlements::location_code.eq_any(codes))
        .select(settlements::location_id)
        .distinct()
        .load::<String>(conn)?)
}
