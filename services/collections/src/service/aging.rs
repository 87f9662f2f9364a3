//! The aging report: what open receivables still owe on a given day, in buckets of days past
//! due (current, 1–30, 31–60, 61–90, over 90), per group (payer, patient, location or batch)
//! and currency, with a total per currency. Amounts are what is owed now; the day decides
//! which receivables count (issued on or before it) and how late each is (its due date against
//! that day, a calendar day: no time zone). One grouped query ([`crate::store::aging`]).

use std::collections::BTreeMap;

use carebill_domain::Currency;
use carebill_domain::collections::{AgingGroupBy, aging_bounds};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDate;

use crate::store::aging;

/// The five buckets of one group or total, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Buckets {
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
    /// Receivables counted.
    pub receivables: i64,
}

impl Buckets {
    /// The sum of the buckets: what is owed.
    pub(crate) fn total(&self) -> i64 {
        self.current + self.days_1_30 + self.days_31_60 + self.days_61_90 + self.over_90
    }

    fn add(&mut self, o: &Buckets) {
        self.current += o.current;
        self.days_1_30 += o.days_1_30;
        self.days_31_60 += o.days_31_60;
        self.days_61_90 += o.days_61_90;
        self.over_90 += o.over_90;
        self.receivables += o.receivables;
    }
}

/// One group's line in one currency.
#[derive(Debug, Clone)]
pub(crate) struct AgingLine {
    /// The group's key (none: owed by patients when grouping by payer, in no batch when by
    /// batch).
    pub key: Option<String>,
    /// Currency.
    pub currency: Currency,
    /// Its buckets.
    pub buckets: Buckets,
}

/// The report.
#[derive(Debug, Clone)]
pub(crate) struct AgingReport {
    /// The day.
    pub as_of: NaiveDate,
    /// Lines by group, then currency.
    pub lines: Vec<AgingLine>,
    /// Totals per currency.
    pub totals: Vec<(Currency, Buckets)>,
}

/// The aging of the receivables the caller may see, on `as_of`, by `key`.
#[tracing::instrument(skip_all, fields(as_of = %as_of))]
pub(crate) fn aging(
    conn: &mut AnyConnection,
    scope: &Scope,
    key: AgingGroupBy,
    as_of: NaiveDate,
) -> Result<AgingReport, Error> {
    let rows = aging::aging(conn, scope, key, as_of, &aging_bounds(as_of))?;
    let mut lines = Vec::with_capacity(rows.len());
    let mut totals: BTreeMap<String, Buckets> = BTreeMap::new();
    for r in rows {
        let currency =
            Currency::parse(&r.currency).map_err(|e| Error::stored("currency", &r.currency, e))?;
        let buckets = Buckets {
            current: r.current,
            days_1_30: r.days_1_30,
            days_31_60: r.days_31_60,
            days_61_90: r.days_61_90,
            over_90: r.over_90,
            receivables: r.receivables,
        };
        totals.entry(r.currency).or_default().add(&buckets);
        lines.push(AgingLine {
            key: r.key,
            currency,
            buckets,
        });
    }
    let totals = totals
        .into_iter()
        .map(|(c, b)| {
            Currency::parse(&c)
                .map(|c| (c, b))
                .map_err(|e| Error::stored("currency", &c, e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(AgingReport {
        as_of,
        lines,
        totals,
    })
}
