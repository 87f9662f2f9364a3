//! The billing dashboard: settlements waiting to be invoiced (by stage, and by who holds them),
//! the period's progress month by month against the same months a year before, and its totals,
//! for the caller's locations or one of them, all payers or one.
//!
//! Read from the read model in [`crate::store::dashboard`], kept as things happen: settlements
//! from the settlement service's `settlement.changed` events, money from this service's own
//! receivables as they change. A request adds up a few rows per month; nothing is recomputed
//! from the invoices.
//!
//! Money is booked per month: billed by the invoices' issue dates, adjustments, credits,
//! payments applied and write-offs in the month they were recorded (UTC). A period covers the
//! whole months of its first and last days. *Collected* is what payments paid on invoices and
//! still pays (money received and not applied to an invoice is credit, not collected); a
//! cancelled invoice counts as credited in full. For every currency, the outstanding at a
//! month's end is billed + adjusted − credited − collected − written off over every month up
//! to it, which is what the receivables still owe. *Overdue* is what is owed on invoices past
//! their due date today.

use std::collections::BTreeMap;

use carebill_domain::Currency;
use carebill_domain::events::SettlementChangedV1;
use carebill_domain::settlement::SettlementStatus;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, Utc};

use crate::store::dashboard::{self as store, Filter, MonthRow, SettlementRow, month_of};

/// The stages a settlement waits in before it is invoiced, in workflow order.
pub(crate) const PENDING: [SettlementStatus; 5] = [
    SettlementStatus::Draft,
    SettlementStatus::InReview,
    SettlementStatus::Observed,
    SettlementStatus::InAudit,
    SettlementStatus::Approved,
];

/// The longest period a dashboard covers, in months.
pub(crate) const MAX_MONTHS: u32 = 60;

/// Keeps the state of the settlements an event announces (the newest of each wins).
#[tracing::instrument(skip_all, fields(settlements = e.settlements.len()))]
pub(crate) fn settlements_changed(
    conn: &mut AnyConnection,
    e: &SettlementChangedV1,
) -> Result<(), Error> {
    for s in &e.settlements {
        let (currency, total_minor) = match &s.total {
            Some(t) => (
                Some(t.currency().to_string()),
                t.to_minor()
                    .map_err(|e| Error::invalid_event(format!("settlement {}: {e}", s.number)))?
                    .0,
            ),
            None => (None, 0),
        };
        store::settlement_changed(
            conn,
            &SettlementRow {
                settlement_id: s.settlement_id.to_string(),
                number: s.number.clone(),
                location_code: s.location_code.clone(),
                payer_code: s.payer_code.clone(),
                status: s.status.as_str().to_owned(),
                currency,
                total_minor,
                assigned_to: s.assigned_to.clone(),
                status_since: s.status_since.naive_utc(),
                sequence: s.sequence,
            },
        )?;
    }
    Ok(())
}

/// Keeps a location's name as an invoice names it.
/// Written only when new or renamed: an upsert per invoice would hold the location's row
/// until commit and queue every consumer of the location's invoices behind it.
pub(crate) fn location_named(
    conn: &mut AnyConnection,
    code: &str,
    name: &str,
) -> Result<(), Error> {
    let known = store::location_names(conn, &[code.to_owned()])?;
    if known.get(code).map(String::as_str) == Some(name) {
        return Ok(());
    }
    store::name_location(conn, code, name)
}

/// What a dashboard is asked for.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period.
    pub to: NaiveDate,
    /// One location's code (none: every location the caller sees).
    pub location: Option<String>,
    /// One payer's code (none: every payer and the patients).
    pub payer: Option<String>,
    /// Whether totals are broken down by location too.
    pub by_location: bool,
    /// Today (overdue is counted on it).
    pub today: NaiveDate,
}

impl Query {
    /// What a caller asked, as of today: the period's defaults (this year to today), and a
    /// blank location or payer taken as none.
    pub(crate) fn asked(
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        location: Option<&str>,
        payer: Option<&str>,
        by_location: bool,
    ) -> Query {
        let today = Utc::now().date_naive();
        let (from, to) = carebill_domain::accounts::report_period(from, to, today);
        let text = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Query {
            from,
            to,
            location: text(location),
            payer: text(payer),
            by_location,
            today,
        }
    }
}

/// Amounts per currency, in minor units, by currency code.
pub(crate) type Amounts = BTreeMap<Currency, i64>;

/// One waiting stage.
#[derive(Debug, Clone)]
pub(crate) struct Stage {
    pub status: SettlementStatus,
    pub count: i64,
    pub amounts: Amounts,
    /// The settlement waiting longest in the stage: its number and since when.
    pub oldest: Option<(String, NaiveDateTime)>,
}

/// What one person (or the audit queue) holds in one stage.
#[derive(Debug, Clone)]
pub(crate) struct Holding {
    /// The biller assigned; none for settlements nobody is assigned to, and for the audit
    /// queue (medical audit takes settlements from it without assignment).
    pub user: Option<String>,
    /// `biller` or `auditor`.
    pub role: &'static str,
    pub stage: SettlementStatus,
    pub count: i64,
    pub amounts: Amounts,
    /// Since when the longest-waiting of them is in the stage.
    pub oldest_since: Option<NaiveDateTime>,
}

/// One month of the period in one currency.
#[derive(Debug, Clone, Default)]
pub(crate) struct Month {
    pub invoices: i64,
    pub billed: i64,
    pub billed_year_before: i64,
    pub adjusted: i64,
    pub credited: i64,
    pub collected: i64,
    pub written_off: i64,
    /// Owed at the month's end.
    pub outstanding: i64,
}

/// The period's totals in one currency.
#[derive(Debug, Clone, Default)]
pub(crate) struct Totals {
    pub invoices: i64,
    pub billed: i64,
    pub adjusted: i64,
    pub credited: i64,
    pub collected: i64,
    pub written_off: i64,
    /// Owed at the period's end.
    pub outstanding: i64,
    /// Owed today on invoices past due.
    pub overdue: i64,
}

/// Per location code: its name and its totals per currency.
pub(crate) type LocationTotals = BTreeMap<String, (String, BTreeMap<Currency, Totals>)>;

/// The dashboard.
#[derive(Debug, Clone)]
pub(crate) struct Dashboard {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of: DateTime<Utc>,
    /// The locations counted when one was asked for, or those the caller is limited to (none:
    /// every location), with their names.
    pub locations: Option<Vec<(String, String)>>,
    pub payer: Option<String>,
    pub pending: Vec<Stage>,
    pub validation: Vec<Holding>,
    /// By month (first day), then currency.
    pub progress: BTreeMap<(NaiveDate, Currency), Month>,
    pub totals: BTreeMap<Currency, Totals>,
    /// Per location code: its name and totals (when asked).
    pub by_location: Option<LocationTotals>,
}

/// Checks the period: `to` not before `from`, and at most [`MAX_MONTHS`] months.
pub(crate) fn check_period(from: NaiveDate, to: NaiveDate) -> Result<(), Error> {
    carebill_domain::accounts::check_report_period(from, to, MAX_MONTHS)
        .map_err(|(field, code, why)| Error::field(field, code, why))
}

fn next_month(m: NaiveDate) -> NaiveDate {
    m.checked_add_months(Months::new(1)).unwrap_or(m) // not stored: dates are checked to stay before 3000
}

fn year_before(m: NaiveDate) -> NaiveDate {
    m.checked_sub_months(Months::new(12)).unwrap_or(m) // not stored: dates are checked to stay after 1900
}

pub(crate) fn currency(code: &str) -> Result<Currency, Error> {
    Currency::parse(code).map_err(|e| Error::stored("dashboard currency", code, e))
}

/// Which locations and payer the caller's query reads: an asked location must be one the
/// dashboard knows and the caller sees (else it is unknown, whichever the reason), an asked
/// payer one it knows.
pub(crate) fn filter(conn: &mut AnyConnection, scope: &Scope, q: &Query) -> Result<Filter, Error> {
    let locations = match &q.location {
        Some(code) => {
            let visible = scope.locations.as_ref().is_none_or(|l| l.contains(code));
            if !visible || !store::location_known(conn, code)? {
                return Err(Error::field(
                    "location",
                    "unknown_location",
                    format!("no location `{code}` with settlements or invoices that you may see"),
                ));
            }
            Some(vec![code.clone()])
        }
        None => scope.locations.clone(),
    };
    if let Some(p) = &q.payer
        && !store::payer_known(conn, p)?
    {
        return Err(Error::field(
            "payer",
            "unknown_payer",
            format!("no payer `{p}` with settlements or invoices"),
        ));
    }
    Ok(Filter {
        locations,
        payer: q.payer.clone(),
    })
}

/// The dashboard the caller may see.
#[tracing::instrument(skip_all, fields(from = %q.from, to = %q.to))]
pub(crate) fn dashboard(
    conn: &mut AnyConnection,
    scope: &Scope,
    q: &Query,
) -> Result<Dashboard, Error> {
    if scope.payer.is_some() || scope.patient.is_some() {
        return Err(Error::forbidden(
            "the dashboard is the provider's: payers and patients read their documents instead",
        ));
    }
    check_period(q.from, q.to)?;
    let f = filter(conn, scope, q)?;
    let (first, last) = (month_of(q.from), month_of(q.to));
    let rows = store::months(conn, &f, last)?;
    let (progress, totals, by_location) = money(&rows, first, last, q.by_location)?;
    let mut totals = totals;
    let mut by_location = by_location;
    for (location, code, owed) in store::overdue(conn, &f, q.today)? {
        let c = currency(&code)?;
        totals.entry(c).or_default().overdue += owed;
        if let Some(by) = by_location.as_mut() {
            by.entry(location)
                .or_default()
                .entry(c)
                .or_default()
                .overdue += owed;
        }
    }
    let (pending, validation) = settlements(conn, &f)?;
    let mut names_of: Vec<String> = f.locations.clone().unwrap_or_default(); // not stored: every location is named by the breakdown
    if let Some(by) = &by_location {
        names_of.extend(by.keys().cloned());
    }
    let names = store::location_names(conn, &names_of)?;
    let name = |code: &String| names.get(code).cloned().unwrap_or_else(|| code.clone()); // not stored: a location no invoice named yet goes by its code
    Ok(Dashboard {
        from: q.from,
        to: q.to,
        as_of: Utc::now(),
        locations: f
            .locations
            .as_ref()
            .map(|l| l.iter().map(|c| (c.clone(), name(c))).collect()),
        payer: f.payer,
        pending,
        validation,
        progress,
        totals,
        by_location: by_location.map(|by| {
            by.into_iter()
                .map(|(code, t)| {
                    let n = name(&code);
                    (code, (n, t))
                })
                .collect()
        }),
    })
}

type Money3 = (
    BTreeMap<(NaiveDate, Currency), Month>,
    BTreeMap<Currency, Totals>,
    Option<BTreeMap<String, BTreeMap<Currency, Totals>>>,
);

/// The period's months and totals from the booked months (every month up to the period's last).
fn money(
    rows: &[MonthRow],
    first: NaiveDate,
    last: NaiveDate,
    by_location: bool,
) -> Result<Money3, Error> {
    let mut booked: BTreeMap<(NaiveDate, Currency), Month> = BTreeMap::new();
    let mut totals: BTreeMap<Currency, Totals> = BTreeMap::new();
    let mut per_location: BTreeMap<String, BTreeMap<Currency, Totals>> = BTreeMap::new();
    for r in rows {
        let c = currency(&r.currency)?;
        let m = booked.entry((r.month, c)).or_default();
        m.invoices += r.invoices;
        m.billed += r.billed;
        m.adjusted += r.adjusted;
        m.credited += r.credited;
        m.collected += r.collected;
        m.written_off += r.written_off;
        let owed = r.billed + r.adjusted - r.credited - r.collected - r.written_off;
        let in_period = r.month >= first;
        let add = |t: &mut Totals| {
            t.outstanding += owed;
            if in_period {
                t.invoices += r.invoices;
                t.billed += r.billed;
                t.adjusted += r.adjusted;
                t.credited += r.credited;
                t.collected += r.collected;
                t.written_off += r.written_off;
            }
        };
        add(totals.entry(c).or_default());
        if by_location {
            add(per_location
                .entry(r.location_code.clone())
                .or_default()
                .entry(c)
                .or_default());
        }
    }
    let currencies: Vec<Currency> = totals.keys().copied().collect();
    let mut progress = BTreeMap::new();
    let mut owed: BTreeMap<Currency, i64> = BTreeMap::new();
    // Outstanding before the period: every month booked before its first.
    for ((_, c), m) in booked.iter().filter(|((month, _), _)| *month < first) {
        *owed.entry(*c).or_default() +=
            m.billed + m.adjusted - m.credited - m.collected - m.written_off;
    }
    let mut month = first;
    while month <= last {
        for c in &currencies {
            let mut m = booked.get(&(month, *c)).cloned().unwrap_or_default(); // not stored: a month with nothing booked
            m.billed_year_before = booked
                .get(&(year_before(month), *c))
                .map_or(0, |y| y.billed);
            let o = owed.entry(*c).or_default();
            *o += m.billed + m.adjusted - m.credited - m.collected - m.written_off;
            m.outstanding = *o;
            progress.insert((month, *c), m);
        }
        month = next_month(month);
    }
    Ok((progress, totals, by_location.then_some(per_location)))
}

/// The waiting stages and who holds what, from the announced settlements.
fn settlements(conn: &mut AnyConnection, f: &Filter) -> Result<(Vec<Stage>, Vec<Holding>), Error> {
    let statuses: Vec<&str> = PENDING.iter().map(|s| s.as_str()).collect();
    let rows = store::pending(conn, f, &statuses)?;
    let mut stages = Vec::with_capacity(PENDING.len());
    for status in PENDING {
        let mut stage = Stage {
            status,
            count: 0,
            amounts: Amounts::new(),
            oldest: store::oldest_pending(conn, f, status.as_str())?,
        };
        for r in rows.iter().filter(|r| r.status == status.as_str()) {
            stage.count += r.count;
            if let Some(c) = &r.currency {
                *stage.amounts.entry(currency(c)?).or_default() += r.total;
            }
        }
        stages.push(stage);
    }
    let mut held: BTreeMap<(usize, Option<String>), Holding> = BTreeMap::new();
    for r in &rows {
        let Some(i) = PENDING.iter().position(|s| s.as_str() == r.status) else {
            continue;
        };
        let stage = PENDING[i];
        let (user, role) = match stage {
            SettlementStatus::Approved => continue,
            SettlementStatus::InAudit => (None, "auditor"),
            _ => (r.assigned_to.clone(), "biller"),
        };
        let h = held.entry((i, user.clone())).or_insert_with(|| Holding {
            user,
            role,
            stage,
            count: 0,
            amounts: Amounts::new(),
            oldest_since: None,
        });
        h.count += r.count;
        if let Some(c) = &r.currency {
            *h.amounts.entry(currency(c)?).or_default() += r.total;
        }
        h.oldest_since = match (h.oldest_since, r.oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok((stages, held.into_values().collect()))
}
