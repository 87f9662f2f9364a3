//! Reports on what was invoiced, for the provider's billing staff: revenue per service group,
//! catalog code, location or payer (billed on the invoices issued in a period, credited by the
//! credit notes issued in it, and the net), utilization (lines and quantities on the invoices
//! of the period that stand), and credit notes per reason. Amounts per currency, never added
//! across currencies; quantities per unit, added exactly.

use std::collections::BTreeMap;

use carebill_domain::Currency;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDate;
use rust_decimal::Decimal;

pub(crate) use crate::store::reports::Key;
use crate::store::reports::{self as store, Filter, Group};

/// The longest period a report covers, in whole months (five years), as the dashboard's.
const MAX_MONTHS: u32 = 60;

/// What a report is asked for.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// One location's code.
    pub location: Option<String>,
    /// One payer's code.
    pub payer: Option<String>,
}

/// Checks the query and the caller: the provider's staff only, a period forwards and at most
/// five years, a location the caller sees and invoices were issued at, a payer invoices went to.
fn filter(conn: &mut AnyConnection, scope: &Scope, q: &Query) -> Result<Filter, Error> {
    if scope.payer.is_some() || scope.patient.is_some() {
        return Err(Error::forbidden(
            "reports are the provider's: payers and patients read their documents instead",
        ));
    }
    carebill_domain::accounts::check_report_period(q.from, q.to, MAX_MONTHS)
        .map_err(|(field, code, why)| Error::field(field, code, why))?;
    let locations = match &q.location {
        Some(code) => {
            let visible = scope.locations.as_ref().is_none_or(|l| l.contains(code));
            if !visible || !store::location_known(conn, code)? {
                return Err(Error::field(
                    "location",
                    "unknown_location",
                    format!("no location `{code}` with invoices that you may see"),
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
            format!("no payer `{p}` with invoices"),
        ));
    }
    Ok(Filter {
        from: q.from,
        to: q.to,
        locations,
        payer: q.payer.clone(),
    })
}

fn currency(code: &str) -> Result<Currency, Error> {
    Currency::parse(code).map_err(|e| Error::stored("document line currency", code, e))
}

fn quantity(q: &str) -> Result<Decimal, Error> {
    q.parse::<Decimal>()
        .map_err(|e| Error::stored("document line quantity", q, e))
}

/// Revenue of one group in one currency, in minor units.
#[derive(Debug, Clone, Default)]
pub(crate) struct RevenueLine {
    pub lines: i64,
    pub billed: i64,
    pub credited_lines: i64,
    pub credited: i64,
}

/// Revenue per group (none: no payer, i.e. patients) and currency, in key order.
#[tracing::instrument(skip_all, fields(from = %q.from, to = %q.to))]
pub(crate) fn revenue(
    conn: &mut AnyConnection,
    scope: &Scope,
    q: &Query,
    key: Key,
) -> Result<BTreeMap<(Option<String>, Currency), RevenueLine>, Error> {
    let f = filter(conn, scope, q)?;
    let mut out: BTreeMap<(Option<String>, Currency), RevenueLine> = BTreeMap::new();
    for (k, c, _, _, lines, amount) in store::invoiced(conn, &f, key)? {
        let l = out.entry((k, currency(&c)?)).or_default();
        l.lines += lines;
        l.billed += amount;
    }
    for (k, c, _, _, lines, amount) in store::credited(conn, &f, key)? {
        let l = out.entry((k, currency(&c)?)).or_default();
        l.credited_lines += lines;
        l.credited += amount;
    }
    Ok(out)
}

/// Use of one group in one unit.
#[derive(Debug, Clone, Default)]
pub(crate) struct UsageLine {
    pub lines: i64,
    pub quantity: Decimal,
}

/// Lines and quantities per group and unit on the period's invoices that stand, in key order.
#[tracing::instrument(skip_all, fields(from = %q.from, to = %q.to))]
pub(crate) fn utilization(
    conn: &mut AnyConnection,
    scope: &Scope,
    q: &Query,
    key: Key,
) -> Result<BTreeMap<(Option<String>, String), UsageLine>, Error> {
    let f = filter(conn, scope, q)?;
    let mut out: BTreeMap<(Option<String>, String), UsageLine> = BTreeMap::new();
    let groups: Vec<Group> = store::standing(conn, &f, key)?;
    for (k, _, unit, qty, lines, _) in groups {
        let l = out.entry((k, unit)).or_default();
        l.lines += lines;
        l.quantity += quantity(&qty)? * Decimal::from(lines);
    }
    Ok(out)
}

/// Credit notes per reason and currency: how many, and their total in minor units.
#[tracing::instrument(skip_all, fields(from = %q.from, to = %q.to))]
pub(crate) fn credit_reasons(
    conn: &mut AnyConnection,
    scope: &Scope,
    q: &Query,
) -> Result<Vec<(String, Currency, i64, i64)>, Error> {
    let f = filter(conn, scope, q)?;
    let mut out = store::credit_reasons(conn, &f)?
        .into_iter()
        .map(|(reason, c, n, total)| Ok((reason, currency(&c)?, n, total)))
        .collect::<Result<Vec<_>, Error>>()?;
    // Most credited first: the reasons that cost the most lead.
    out.sort_by(|a, b| b.3.cmp(&a.3).then_with(|| a.0.cmp(&b.0)));
    Ok(out)
}
