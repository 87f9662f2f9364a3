//! The dashboard's read model: settlements as the settlement service announces them, money per
//! location, payer, currency and month, and the locations' names. Kept as things happen (the
//! receivables' writers book what they change here, in their transaction), read with a few
//! small grouped queries.
//!
//! A receivable counts in four running figures besides what it billed: adjusted, credited,
//! collected (paid by allocations that stand) and written off; a cancelled receivable counts as
//! credited in full (its total and adjustments) with nothing collected or written off, as the
//! cancellation leaves it. What a change books is the difference of those figures before and
//! after it, in the month of the change: so for every location, payer and currency, billed +
//! adjusted − credited − collected − written off over all months is exactly what the
//! receivables still owe.

use std::collections::{BTreeMap, HashMap};

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::{Datelike as _, NaiveDate, NaiveDateTime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamp};
use diesel::upsert::excluded;

use super::{KEYS_PER_QUERY, OWING};
use crate::schema::{
    dashboard_due, dashboard_locations, dashboard_months, dashboard_settlements, receivables,
};

/// The first day of `day`'s month: the key of a month.
pub(crate) fn month_of(day: NaiveDate) -> NaiveDate {
    day.with_day(1).unwrap_or(day) // not stored: every month has a first day
}

/// Money booked in one month for one location, payer and currency, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Booked {
    pub invoices: i64,
    pub billed: i64,
    pub adjusted: i64,
    pub credited: i64,
    pub collected: i64,
    pub written_off: i64,
}

impl Booked {
    fn is_zero(&self) -> bool {
        *self == Booked::default()
    }
}

/// Where money is booked: a location, a payer (`""` for patients) and a currency.
type Key = (String, String, String);

/// A receivable's figures as the dashboard counts them.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct Figures {
    id: String,
    location_code: String,
    payer_code: Option<String>,
    currency: String,
    status: String,
    total: i64,
    adjusted: i64,
    credited: i64,
    paid: i64,
    written_off: i64,
    due_date: NaiveDate,
}

impl Figures {
    fn key(&self) -> Key {
        (
            self.location_code.clone(),
            self.payer_code.clone().unwrap_or_default(), // not stored: "" is the patients' key
            self.currency.clone(),
        )
    }

    /// What it owes while it is owing (open or partially paid), else nothing.
    fn owed(&self) -> i64 {
        if OWING.contains(&self.status.as_str()) {
            self.total + self.adjusted - self.credited - self.paid - self.written_off
        } else {
            0
        }
    }

    /// (adjusted, credited, collected, written off) as counted.
    fn counted(&self) -> [i64; 4] {
        if self.status == "cancelled" {
            [self.adjusted, self.total + self.adjusted, 0, 0]
        } else {
            [self.adjusted, self.credited, self.paid, self.written_off]
        }
    }
}

/// The figures of these receivables now (read before a change, to book its difference).
pub(crate) fn figures(conn: &mut AnyConnection, ids: &[String]) -> Result<Vec<Figures>, Error> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(KEYS_PER_QUERY) {
        out.extend(
            receivables::table
                .filter(receivables::id.eq_any(chunk))
                .select((
                    receivables::id,
                    receivables::location_code,
                    receivables::payer_code,
                    receivables::currency,
                    receivables::status,
                    receivables::total_minor,
                    receivables::adjusted_minor,
                    receivables::credited_minor,
                    receivables::paid_minor,
                    receivables::written_off_minor,
                    receivables::due_date,
                ))
                .load::<Figures>(conn)?,
        );
    }
    Ok(out)
}

/// Books what changed on the receivables of `before` since it was read, in `at`'s month.
pub(crate) fn book_changes(
    conn: &mut AnyConnection,
    before: Vec<Figures>,
    at: NaiveDateTime,
) -> Result<(), Error> {
    let ids: Vec<String> = before.iter().map(|f| f.id.clone()).collect();
    let after: HashMap<String, Figures> = figures(conn, &ids)?
        .into_iter()
        .map(|f| (f.id.clone(), f))
        .collect();
    let mut deltas: BTreeMap<Key, Booked> = BTreeMap::new();
    let mut owed: BTreeMap<(Key, NaiveDate), i64> = BTreeMap::new();
    for b in before {
        let Some(a) = after.get(&b.id) else { continue };
        *owed.entry((b.key(), b.due_date)).or_default() -= b.owed();
        *owed.entry((a.key(), a.due_date)).or_default() += a.owed();
        let (x, y) = (b.counted(), a.counted());
        let d = deltas.entry(b.key()).or_default();
        d.adjusted += y[0] - x[0];
        d.credited += y[1] - x[1];
        d.collected += y[2] - x[2];
        d.written_off += y[3] - x[3];
    }
    let month = month_of(at.date());
    for (key, d) in deltas {
        if !d.is_zero() {
            add(conn, &key, month, d)?;
        }
    }
    for ((key, due), d) in owed {
        if d != 0 {
            add_owed(conn, &key, due, d)?;
        }
    }
    Ok(())
}

/// Books a new invoice in its issue month, and what it owes on its due date.
pub(crate) fn book_billed(
    conn: &mut AnyConnection,
    location_code: &str,
    payer_code: Option<&str>,
    currency: &str,
    (issue_date, due_date): (NaiveDate, NaiveDate),
    total_minor: i64,
) -> Result<(), Error> {
    let key = (
        location_code.to_owned(),
        payer_code.unwrap_or_default().to_owned(), // not stored: "" is the patients' key
        currency.to_owned(),
    );
    let d = Booked {
        invoices: 1,
        billed: total_minor,
        ..Booked::default()
    };
    add(conn, &key, month_of(issue_date), d)?;
    add_owed(conn, &key, due_date, total_minor)
}

/// Adds `owed` to what is owed on a due date.
fn add_owed(conn: &mut AnyConnection, key: &Key, due: NaiveDate, owed: i64) -> Result<(), Error> {
    use dashboard_due::dsl as o;
    let row = (
        o::location_code.eq(&key.0),
        o::payer_code.eq(&key.1),
        o::currency.eq(&key.2),
        o::due_date.eq(due),
        o::owed_minor.eq(owed),
    );
    let target = (o::location_code, o::payer_code, o::currency, o::due_date);
    let sum = o::owed_minor.eq(o::owed_minor + excluded(o::owed_minor));
    match conn {
        AnyConnection::Postgresql(pg) => diesel::insert_into(o::dashboard_due)
            .values(row)
            .on_conflict(target)
            .do_update()
            .set(sum)
            .execute(pg)?,
        AnyConnection::Sqlite(lite) => diesel::insert_into(o::dashboard_due)
            .values(row)
            .on_conflict(target)
            .do_update()
            .set(sum)
            .execute(lite)?,
    };
    Ok(())
}

/// Adds `d` to a month's row, making it when it is the month's first.
fn add(conn: &mut AnyConnection, key: &Key, month: NaiveDate, d: Booked) -> Result<(), Error> {
    use dashboard_months::dsl as m;
    let row = (
        m::location_code.eq(&key.0),
        m::payer_code.eq(&key.1),
        m::currency.eq(&key.2),
        m::month.eq(month),
        m::invoices.eq(d.invoices),
        m::billed_minor.eq(d.billed),
        m::adjusted_minor.eq(d.adjusted),
        m::credited_minor.eq(d.credited),
        m::collected_minor.eq(d.collected),
        m::written_off_minor.eq(d.written_off),
    );
    let target = (m::location_code, m::payer_code, m::currency, m::month);
    let sums = (
        m::invoices.eq(m::invoices + excluded(m::invoices)),
        m::billed_minor.eq(m::billed_minor + excluded(m::billed_minor)),
        m::adjusted_minor.eq(m::adjusted_minor + excluded(m::adjusted_minor)),
        m::credited_minor.eq(m::credited_minor + excluded(m::credited_minor)),
        m::collected_minor.eq(m::collected_minor + excluded(m::collected_minor)),
        m::written_off_minor.eq(m::written_off_minor + excluded(m::written_off_minor)),
    );
    match conn {
        AnyConnection::Postgresql(pg) => diesel::insert_into(m::dashboard_months)
            .values(row)
            .on_conflict(target)
            .do_update()
            .set(sums)
            .execute(pg)?,
        AnyConnection::Sqlite(lite) => diesel::insert_into(m::dashboard_months)
            .values(row)
            .on_conflict(target)
            .do_update()
            .set(sums)
            .execute(lite)?,
    };
    Ok(())
}

/// A settlement as announced.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = dashboard_settlements)]
pub(crate) struct SettlementRow {
    pub settlement_id: String,
    pub number: String,
    pub location_code: String,
    pub payer_code: Option<String>,
    pub status: String,
    pub currency: Option<String>,
    pub total_minor: i64,
    pub assigned_to: Option<String>,
    pub status_since: NaiveDateTime,
    pub sequence: i64,
}

/// Keeps a settlement's announced state unless a newer one (a higher sequence) is kept already.
pub(crate) fn settlement_changed(
    conn: &mut AnyConnection,
    row: &SettlementRow,
) -> Result<(), Error> {
    use dashboard_settlements::dsl as s;
    let newer = (
        s::number.eq(excluded(s::number)),
        s::location_code.eq(excluded(s::location_code)),
        s::payer_code.eq(excluded(s::payer_code)),
        s::status.eq(excluded(s::status)),
        s::currency.eq(excluded(s::currency)),
        s::total_minor.eq(excluded(s::total_minor)),
        s::assigned_to.eq(excluded(s::assigned_to)),
        s::status_since.eq(excluded(s::status_since)),
        s::sequence.eq(excluded(s::sequence)),
    );
    match conn {
        AnyConnection::Postgresql(pg) => diesel::query_dsl::methods::FilterDsl::filter(
            diesel::insert_into(s::dashboard_settlements)
                .values(row)
                .on_conflict(s::settlement_id)
                .do_update()
                .set(newer),
            s::sequence.lt(excluded(s::sequence)),
        )
        .execute(pg)?,
        AnyConnection::Sqlite(lite) => diesel::query_dsl::methods::FilterDsl::filter(
            diesel::insert_into(s::dashboard_settlements)
                .values(row)
                .on_conflict(s::settlement_id)
                .do_update()
                .set(newer),
            s::sequence.lt(excluded(s::sequence)),
        )
        .execute(lite)?,
    };
    Ok(())
}

/// Keeps a location's name as its newest invoice carries it.
pub(crate) fn name_location(conn: &mut AnyConnection, code: &str, name: &str) -> Result<(), Error> {
    use dashboard_locations::dsl as l;
    let row = (l::code.eq(code), l::name.eq(name));
    match conn {
        AnyConnection::Postgresql(pg) => diesel::insert_into(l::dashboard_locations)
            .values(row)
            .on_conflict(l::code)
            .do_update()
            .set(l::name.eq(excluded(l::name)))
            .execute(pg)?,
        AnyConnection::Sqlite(lite) => diesel::insert_into(l::dashboard_locations)
            .values(row)
            .on_conflict(l::code)
            .do_update()
            .set(l::name.eq(excluded(l::name)))
            .execute(lite)?,
    };
    Ok(())
}

/// The names of these locations (those known).
pub(crate) fn location_names(
    conn: &mut AnyConnection,
    codes: &[String],
) -> Result<BTreeMap<String, String>, Error> {
    Ok(dashboard_locations::table
        .filter(dashboard_locations::code.eq_any(codes))
        .select((dashboard_locations::code, dashboard_locations::name))
        .load::<(String, String)>(conn)?
        .into_iter()
        .collect())
}

/// Whether the dashboard knows a location: an invoice or a settlement of it was announced.
pub(crate) fn location_known(conn: &mut AnyConnection, code: &str) -> Result<bool, Error> {
    let named = diesel::select(diesel::dsl::exists(
        dashboard_locations::table.filter(dashboard_locations::code.eq(code)),
    ))
    .get_result::<bool>(conn)?;
    if named {
        return Ok(true);
    }
    Ok(diesel::select(diesel::dsl::exists(
        dashboard_settlements::table.filter(dashboard_settlements::location_code.eq(code)),
    ))
    .get_result::<bool>(conn)?)
}

/// Whether the dashboard knows a payer: an invoice to it or a settlement it pays first.
pub(crate) fn payer_known(conn: &mut AnyConnection, code: &str) -> Result<bool, Error> {
    let billed = diesel::select(diesel::dsl::exists(
        dashboard_months::table.filter(dashboard_months::payer_code.eq(code)),
    ))
    .get_result::<bool>(conn)?;
    if billed {
        return Ok(true);
    }
    Ok(diesel::select(diesel::dsl::exists(
        dashboard_settlements::table.filter(dashboard_settlements::payer_code.eq(code)),
    ))
    .get_result::<bool>(conn)?)
}

/// What a dashboard reads: locations (none: all) and a payer (none: all, patients included).
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    pub locations: Option<Vec<String>>,
    pub payer: Option<String>,
}

/// One month's money of one location and currency (payers summed), in minor units.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct MonthRow {
    pub location_code: String,
    pub currency: String,
    pub month: NaiveDate,
    pub invoices: i64,
    pub billed: i64,
    pub adjusted: i64,
    pub credited: i64,
    pub collected: i64,
    pub written_off: i64,
}

/// Every month up to `until` (its first day) grouped by `$by` (location or payer code) and
/// currency, in the caller's filter.
macro_rules! months_by {
    ($conn:expr, $filter:expr, $until:expr, $by:expr) => {{
        use dashboard_months::dsl as m;
        let mut q = m::dashboard_months
            .filter(m::month.le($until))
            .group_by(($by, m::currency, m::month))
            .select((
                $by,
                m::currency,
                m::month,
                sql::<BigInt>("CAST(SUM(invoices) AS BIGINT)"),
                sql::<BigInt>("CAST(SUM(billed_minor) AS BIGINT)"),
                sql::<BigInt>("CAST(SUM(adjusted_minor) AS BIGINT)"),
                sql::<BigInt>("CAST(SUM(credited_minor) AS BIGINT)"),
                sql::<BigInt>("CAST(SUM(collected_minor) AS BIGINT)"),
                sql::<BigInt>("CAST(SUM(written_off_minor) AS BIGINT)"),
            ))
            .order(($by, m::currency, m::month))
            .into_boxed();
        if let Some(codes) = &$filter.locations {
            q = q.filter(m::location_code.eq_any(codes.clone()));
        }
        if let Some(p) = &$filter.payer {
            q = q.filter(m::payer_code.eq(p.clone()));
        }
        q.load($conn)?
    }};
}

/// Every month up to `until` (its first day) per location and currency: the outstanding at a
/// month's end is the sum of all before it.
pub(crate) fn months(
    conn: &mut AnyConnection,
    filter: &Filter,
    until: NaiveDate,
) -> Result<Vec<MonthRow>, Error> {
    Ok(months_by!(
        conn,
        filter,
        until,
        dashboard_months::location_code
    ))
}

/// One month's money of one payer (`""`: patients) and currency (locations summed).
#[derive(Debug, Clone, Queryable)]
pub(crate) struct PayerMonthRow {
    pub payer_code: String,
    pub currency: String,
    pub month: NaiveDate,
    pub invoices: i64,
    pub billed: i64,
    pub adjusted: i64,
    pub credited: i64,
    pub collected: i64,
    pub written_off: i64,
}

/// Every month up to `until` (its first day) per payer and currency.
pub(crate) fn payer_months(
    conn: &mut AnyConnection,
    filter: &Filter,
    until: NaiveDate,
) -> Result<Vec<PayerMonthRow>, Error> {
    Ok(months_by!(
        conn,
        filter,
        until,
        dashboard_months::payer_code
    ))
}

/// What receivables due before `today` still owe, per location and currency, in minor units.
pub(crate) fn overdue(
    conn: &mut AnyConnection,
    filter: &Filter,
    today: NaiveDate,
) -> Result<Vec<(String, String, i64)>, Error> {
    use dashboard_due::dsl as o;
    let mut q = o::dashboard_due
        .filter(o::due_date.lt(today))
        .group_by((o::location_code, o::currency))
        .select((
            o::location_code,
            o::currency,
            sql::<BigInt>("CAST(COALESCE(SUM(owed_minor), 0) AS BIGINT)"),
        ))
        .into_boxed();
    if let Some(codes) = &filter.locations {
        q = q.filter(o::location_code.eq_any(codes.clone()));
    }
    if let Some(p) = &filter.payer {
        q = q.filter(o::payer_code.eq(p.clone()));
    }
    Ok(q.load(conn)?)
}

/// Settlements not yet invoiced, per status, assignee and currency.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct PendingRow {
    pub status: String,
    pub assigned_to: Option<String>,
    pub currency: Option<String>,
    pub count: i64,
    pub total: i64,
    pub oldest: Option<NaiveDateTime>,
}

/// The settlements still to invoice (statuses `PENDING`), grouped.
pub(crate) fn pending(
    conn: &mut AnyConnection,
    filter: &Filter,
    statuses: &[&str],
) -> Result<Vec<PendingRow>, Error> {
    use dashboard_settlements::dsl as s;
    let mut q = s::dashboard_settlements
        .filter(s::status.eq_any(statuses))
        .group_by((s::status, s::assigned_to, s::currency))
        .select((
            s::status,
            s::assigned_to,
            s::currency,
            sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(total_minor), 0) AS BIGINT)"),
            sql::<Nullable<Timestamp>>("MIN(status_since)"),
        ))
        .into_boxed();
    if let Some(codes) = &filter.locations {
        q = q.filter(s::location_code.eq_any(codes.clone()));
    }
    if let Some(p) = &filter.payer {
        q = q.filter(s::payer_code.eq(p.clone()));
    }
    Ok(q.load(conn)?)
}

/// The oldest waiting settlement of each status (its number and since when), in scope.
pub(crate) fn oldest_pending(
    conn: &mut AnyConnection,
    filter: &Filter,
    status: &str,
) -> Result<Option<(String, NaiveDateTime)>, Error> {
    use dashboard_settlements::dsl as s;
    let mut q = s::dashboard_settlements
        .filter(s::status.eq(status))
        .select((s::number, s::status_since))
        .order((s::status_since.asc(), s::number.asc()))
        .into_boxed();
    if let Some(codes) = &filter.locations {
        q = q.filter(s::location_code.eq_any(codes.clone()));
    }
    if let Some(p) = &filter.payer {
        q = q.filter(s::payer_code.eq(p.clone()));
    }
    Ok(q.first::<(String, NaiveDateTime)>(conn).optional()?)
}
