//! Financial reports over the dashboard's read model ([`crate::store::dashboard`]): what was
//! billed to each payer (and to patients) in a period, credited, collected, written off and is
//! still owed, per currency. Counted exactly as the dashboard counts them.

use std::collections::BTreeMap;

use carebill_domain::Currency;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;

use crate::service::dashboard::{self, Query, Totals, check_period, currency};
use crate::store::dashboard::{self as store, month_of};

/// One payer's line in one currency.
#[derive(Debug, Clone)]
pub(crate) struct PayerLine {
    /// The payer's code; none for what patients were billed.
    pub payer: Option<String>,
    pub currency: Currency,
    /// The period's figures; `outstanding` at its end, `overdue` unused.
    pub totals: Totals,
}

/// Billed, credited, collected, written off and outstanding per payer and currency, in the
/// caller's scope, payers in code order and patients last.
#[tracing::instrument(skip_all, fields(from = %q.from, to = %q.to))]
pub(crate) fn payers(
    conn: &mut AnyConnection,
    scope: &Scope,
    q: &Query,
) -> Result<Vec<PayerLine>, Error> {
    if scope.payer.is_some() || scope.patient.is_some() {
        return Err(Error::forbidden(
            "reports are the provider's: payers and patients read their documents instead",
        ));
    }
    check_period(q.from, q.to)?;
    let f = dashboard::filter(conn, scope, q)?;
    let (first, last) = (month_of(q.from), month_of(q.to));
    let mut lines: BTreeMap<(bool, String, Currency), Totals> = BTreeMap::new();
    for r in store::payer_months(conn, &f, last)? {
        let c = currency(&r.currency)?;
        let t = lines
            .entry((r.payer_code.is_empty(), r.payer_code.clone(), c))
            .or_default();
        t.outstanding += r.billed + r.adjusted - r.credited - r.collected - r.written_off;
        if r.month >= first {
            t.invoices += r.invoices;
            t.billed += r.billed;
            t.adjusted += r.adjusted;
            t.credited += r.credited;
            t.collected += r.collected;
            t.written_off += r.written_off;
        }
    }
    Ok(lines
        .into_iter()
        .map(|((_, payer, currency), totals)| PayerLine {
            payer: (!payer.is_empty()).then_some(payer),
            currency,
            totals,
        })
        .collect())
}
