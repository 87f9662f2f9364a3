//! The aging report's one grouped query: what open receivables still owe, summed per group and
//! currency into buckets of days past due on a given day. The buckets compare due dates with
//! the day's bounds ([`AgingBounds`]), so the query is the same on both backends, one scan of
//! the owing receivables (index `receivables_status_due`), never a query per receivable.

use carebill_domain::collections::{AgingBounds, AgingGroupBy};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDate;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text};

use super::receivables::OWING;
use crate::schema::receivables;

/// The SQL expression of a group's key.
fn key_sql(by: AgingGroupBy) -> &'static str {
    match by {
        // Concatenated so that no plan walks the payer-code index to group (one random row
        // read per receivable, ten times slower on SQLite than the plain scan).
        AgingGroupBy::Payer => "(receivables.payer_code || '')",
        AgingGroupBy::Patient => "receivables.patient_id",
        AgingGroupBy::Location => "receivables.location_code",
        AgingGroupBy::Batch => {
            "(SELECT b.number FROM batch_documents d JOIN batches b ON b.id = d.batch_id \
                 WHERE d.document_id = receivables.invoice_id AND d.kind = 'invoice')"
        }
    }
}

/// One group's sums in one currency, in minor units.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct AgingRow {
    /// The group's key (none: receivables with no payer, or no batch).
    pub key: Option<String>,
    /// Currency code.
    pub currency: String,
    /// Not yet due.
    pub current: i64,
    /// 1–30 days past due.
    pub days_1_30: i64,
    /// 31–60 days past due.
    pub days_31_60: i64,
    /// 61–90 days past due.
    pub days_61_90: i64,
    /// More than 90 days past due.
    pub over_90: i64,
    /// Receivables in the group.
    pub receivables: i64,
}

const OWED: &str = "receivables.total_minor + receivables.adjusted_minor - receivables.credited_minor - receivables.paid_minor - receivables.written_off_minor";

/// The aging of the receivables in the caller's scope issued on or before `as_of` that still
/// owe, grouped by `key` and currency (by key, then currency).
pub(crate) fn aging(
    conn: &mut AnyConnection,
    scope: &Scope,
    key: AgingGroupBy,
    as_of: NaiveDate,
    b: &AgingBounds,
) -> Result<Vec<AgingRow>, Error> {
    // SUM(CASE WHEN due_date >= lo AND due_date < hi THEN owed ELSE 0 END), bounds bound.
    let sum_from = |lo: NaiveDate| {
        sql::<BigInt>("CAST(COALESCE(SUM(CASE WHEN receivables.due_date >= ")
            .bind::<Date, _>(lo)
            .sql(&format!(" THEN {OWED} ELSE 0 END), 0) AS BIGINT)"))
    };
    let sum_between = |lo: NaiveDate, hi: NaiveDate| {
        sql::<BigInt>("CAST(COALESCE(SUM(CASE WHEN receivables.due_date >= ")
            .bind::<Date, _>(lo)
            .sql(" AND receivables.due_date < ")
            .bind::<Date, _>(hi)
            .sql(&format!(" THEN {OWED} ELSE 0 END), 0) AS BIGINT)"))
    };
    let sum_before = |hi: NaiveDate| {
        sql::<BigInt>("CAST(COALESCE(SUM(CASE WHEN receivables.due_date < ")
            .bind::<Date, _>(hi)
            .sql(&format!(" THEN {OWED} ELSE 0 END), 0) AS BIGINT)"))
    };
    let q = receivables::table
        .filter(receivables::status.eq_any(OWING))
        .filter(receivables::issue_date.le(as_of))
        .group_by(sql::<Text>(&format!(
            "{}, receivables.currency",
            key_sql(key)
        )))
        .select((
            sql::<Nullable<Text>>(key_sql(key)),
            sql::<Text>("receivables.currency"),
            sum_from(b.current),
            sum_between(b.days_1_30, b.current),
            sum_between(b.days_31_60, b.days_1_30),
            sum_between(b.days_61_90, b.days_31_60),
            sum_before(b.days_61_90),
            sql::<BigInt>("CAST(COUNT(*) AS BIGINT)"),
        ))
        .order(sql::<Text>(&format!(
            "{}, receivables.currency",
            key_sql(key)
        )))
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    Ok(q.load(conn)?)
}
