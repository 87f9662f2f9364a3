//! Days sales outstanding per payer (or location) and currency on a day:
//!
//! `DSO = outstanding ÷ invoiced × days`
//!
//! where *outstanding* is what the receivables issued on or before the day still owe (their
//! amounts now, as the aging report counts them), and *invoiced* is the total of the invoices
//! issued in the `days` days up to and including the day (after `as_of − days`), cancelled
//! ones left out. No figure when nothing was invoiced in the period. To one decimal.

use std::collections::BTreeMap;

use carebill_domain::Currency;
use carebill_domain::MinorUnits;
use carebill_domain::collections::plans::{DsoGroupBy, days_sales_outstanding};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::{Days, NaiveDate};
use rust_decimal::Decimal;

use crate::store::dso;

/// One group's (or a currency total's) figures.
#[derive(Debug, Clone)]
pub(crate) struct DsoLine {
    /// The group's key (none: owed by patients, by payer; or a total).
    pub key: Option<String>,
    /// Currency.
    pub currency: Currency,
    /// Outstanding on the day, in minor units.
    pub outstanding: i64,
    /// Invoiced in the period, in minor units.
    pub invoiced: i64,
    /// Days sales outstanding (none when nothing was invoiced).
    pub dso: Option<Decimal>,
}

/// The report.
#[derive(Debug, Clone)]
pub(crate) struct DsoReport {
    /// The day.
    pub as_of: NaiveDate,
    /// The period's length in days.
    pub days: u32,
    /// The first day of the period.
    pub from: NaiveDate,
    /// Lines by group, then currency.
    pub lines: Vec<DsoLine>,
    /// Totals per currency.
    pub totals: Vec<DsoLine>,
}

/// Days sales outstanding of the receivables the caller may see, on `as_of` over `days` days.
#[tracing::instrument(skip_all, fields(as_of = %as_of, days = days))]
pub(crate) fn dso(
    conn: &mut AnyConnection,
    scope: &Scope,
    by: DsoGroupBy,
    as_of: NaiveDate,
    days: u32,
) -> Result<DsoReport, Error> {
    let before = as_of
        .checked_sub_days(Days::new(u64::from(days)))
        .ok_or_else(|| Error::field("days", "out_of_range", "reaches before the calendar"))?;
    let rows = dso::dso(conn, scope, by, before, as_of)?;
    let mut totals: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut lines = Vec::with_capacity(rows.len());
    for r in rows {
        let currency =
            Currency::parse(&r.currency).map_err(|e| Error::stored("currency", &r.currency, e))?;
        let t = totals.entry(r.currency).or_default();
        t.0 += r.outstanding;
        t.1 += r.invoiced;
        lines.push(DsoLine {
            key: r.key,
            currency,
            outstanding: r.outstanding,
            invoiced: r.invoiced,
            dso: days_sales_outstanding(MinorUnits(r.outstanding), MinorUnits(r.invoiced), days),
        });
    }
    let totals = totals
        .into_iter()
        .map(|(c, (outstanding, invoiced))| {
            Currency::parse(&c)
                .map(|currency| DsoLine {
                    key: None,
                    currency,
                    outstanding,
                    invoiced,
                    dso: days_sales_outstanding(
                        MinorUnits(outstanding),
                        MinorUnits(invoiced),
                        days,
                    ),
                })
                .map_err(|e| Error::stored("currency", &c, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DsoReport {
        as_of,
        days,
        from: before.succ_opt().unwrap_or(before), // not stored: the day after, at the end of the calendar the same
        lines,
        totals,
    })
}
