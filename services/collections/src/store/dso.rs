//! Days sales outstanding's one grouped query: per payer (or location) and currency, what the
//! receivables issued on or before a day still owe, and what was invoiced in a window of days
//! before it (cancelled invoices left out), in one scan.

use carebill_domain::collections::plans::DsoGroupBy;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDate;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date, Nullable, Text};

use crate::schema::receivables;

/// The SQL expression of a group's key.
fn key_sql(by: DsoGroupBy) -> &'static str {
    match by {
        DsoGroupBy::Payer => "receivables.payer_code",
        DsoGroupBy::Location => "receivables.location_code",
    }
}

/// One group's sums in one currency, in minor units.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct DsoRow {
    /// The group's key (none: owed by patients, grouping by payer).
    pub key: Option<String>,
    /// Currency code.
    pub currency: String,
    /// What the receivables issued on or before the day still owe.
    pub outstanding: i64,
    /// Invoiced after `from` and on or before the day.
    pub invoiced: i64,
}

const OWED: &str = "receivables.total_minor + receivables.adjusted_minor - receivables.credited_minor - receivables.paid_minor - receivables.written_off_minor";

/// Per group and currency, in the caller's scope: what receivables issued on or before `as_of`
/// owe, and what invoices issued after `from` up to `as_of` billed (not cancelled).
pub(crate) fn dso(
    conn: &mut AnyConnection,
    scope: &Scope,
    by: DsoGroupBy,
    from: NaiveDate,
    as_of: NaiveDate,
) -> Result<Vec<DsoRow>, Error> {
    let key = key_sql(by);
    let outstanding = sql::<BigInt>(&format!(
        "CAST(COALESCE(SUM(CASE WHEN receivables.status IN ('open', 'partially_paid') THEN {OWED} ELSE 0 END), 0) AS BIGINT)"
    ));
    let invoiced = sql::<BigInt>(
        "CAST(COALESCE(SUM(CASE WHEN receivables.status <> 'cancelled' AND receivables.issue_date > ",
    )
    .bind::<Date, _>(from)
    .sql(" THEN receivables.total_minor ELSE 0 END), 0) AS BIGINT)");
    let q = receivables::table
        .filter(receivables::issue_date.le(as_of))
        .group_by(sql::<Text>(&format!("{key}, receivables.currency")))
        .select((
            sql::<Nullable<Text>>(key),
            sql::<Text>("receivables.currency"),
            outstanding,
            invoiced,
        ))
        .order(sql::<Text>(&format!("{key}, receivables.currency")))
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    Ok(q.load(conn)?)
}
