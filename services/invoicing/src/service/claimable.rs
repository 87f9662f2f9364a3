//! Claimable entries: the lines of issued payer invoices an e-billing may claim (seed 002, step
//! 2), filtered by billing provider, payer, kind of service and the day performed in the
//! location's time zone. Every line of an issued payer invoice is claimable until an e-billing
//! claims its invoice, and again once that e-billing is cancelled or its claim rejected; an
//! invoice credited after its claim was sent is claimable again as the replacement or void of
//! that claim ([`super::claim_corrections`]), and each entry says which (`claim_kind`).

use carebill_domain::invoicing::money;
use carebill_domain::{Currency, Money, stored};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::Page;
use chrono::{Duration, NaiveDate};
use chrono_tz::Tz;

use super::{claim_check, claim_corrections};
use crate::store::claimable::{self as store, ClaimableFilter, ClaimableRow};
use carebill_domain::claim_correction::line_after_credits;
use rust_decimal::Decimal;

/// What the entries are filtered by (kept with an e-billing made from it).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct Filter {
    /// The billing provider (location code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// The payer's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// A kind of service or a service group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    /// Performed on or after this day (the location's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<NaiveDate>,
    /// Performed on or before this day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<NaiveDate>,
}

/// One claimable line.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The row read.
    pub row: ClaimableRow,
    /// The day performed, in the location's time zone.
    pub performed_on: NaiveDate,
    /// The whole service's charge.
    pub charge: Money,
    /// The part the payer was invoiced.
    pub billed: Money,
    /// How its invoice would be claimed: `original`, `replacement` or `void`.
    pub claim_kind: &'static str,
    /// The claim a replacement or void corrects.
    pub corrects_claim_id: Option<String>,
}

/// A page cursor: the last entry's invoice and position.
fn cursor_of(row: &ClaimableRow) -> String {
    format!("{}.{}", row.invoice_id, row.position)
}

fn parse_cursor(cursor: &str) -> Result<(String, i32), Error> {
    let bad = || Error::field("cursor", "invalid", "not a cursor of this list");
    let (invoice, position) = cursor.split_once('.').ok_or_else(bad)?;
    uuid::Uuid::parse_str(invoice).map_err(|_| bad())?;
    Ok((invoice.to_owned(), position.parse().map_err(|_| bad())?))
}

/// A page of claimable entries in the caller's scope, in invoice and line order. The days are
/// the location's, so the database is asked for a day more on each side and the rest is
/// narrowed here: a page may hold fewer than `limit` entries and still have a next one.
pub(crate) fn page(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &Filter,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Entry>, Error> {
    let after = cursor.map(parse_cursor).transpose()?;
    let fetch = i64::try_from(limit + 1).map_err(|e| Error::internal(&e))?;
    let mut rows = store::page(conn, scope, &wide(f), after, Some(fetch))?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor_of)
    } else {
        None
    };
    Ok(Page {
        items: narrow(conn, f, rows)?,
        next_cursor,
    })
}

/// Every claimable entry in the caller's scope that `f` matches, in invoice and line order
/// (what an e-billing made from a filter claims).
pub(crate) fn all(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &Filter,
) -> Result<Vec<Entry>, Error> {
    let rows = store::page(conn, scope, &wide(f), None, None)?;
    narrow(conn, f, rows)
}

/// The filter as the database is asked: a day more on each side of the location's days.
fn wide(f: &Filter) -> ClaimableFilter {
    ClaimableFilter {
        location_code: f.provider.clone(),
        payer_code: f.payer.clone(),
        service_type: f.service_type.clone(),
        performed_from: f
            .from
            .and_then(|d| (d - Duration::days(1)).and_hms_opt(0, 0, 0)),
        performed_before: f
            .to
            .and_then(|d| (d + Duration::days(2)).and_hms_opt(0, 0, 0)),
    }
}

/// The rows performed on the filter's days in their location's time zone, of invoices with a
/// claim to make, as entries.
fn narrow(
    conn: &mut AnyConnection,
    f: &Filter,
    rows: Vec<ClaimableRow>,
) -> Result<Vec<Entry>, Error> {
    let mut ids: Vec<String> = rows.iter().map(|r| r.invoice_id.clone()).collect();
    ids.dedup();
    let credits = claim_check::Credits::of(conn, &ids)?;
    let invoices = crate::store::invoices::by_ids(conn, ids)?;
    let next = claim_corrections::next_claims(conn, &invoices)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(claiming) = next.get(&row.invoice_id) else {
            continue;
        };
        let tz: Tz =
            stored::parse("location time zone", &row.location_time_zone).map_err(Error::from)?;
        let performed_on = row.performed_at.and_utc().with_timezone(&tz).date_naive();
        if f.from.is_some_and(|d| performed_on < d) || f.to.is_some_and(|d| performed_on > d) {
            continue;
        }
        let currency = Currency::parse(&row.currency)
            .map_err(|e| Error::stored("line currency", &row.currency, e))?;
        // As the claim charges it: less what credit notes credited (gone when nothing is left).
        let quantity: Decimal =
            stored::parse("line quantity", &row.quantity).map_err(Error::from)?;
        let credited: Vec<(Decimal, Decimal)> = credits
            .of_invoice(&row.invoice_id, claiming.credits_until)?
            .remove(&row.consumption_id)
            .into_iter()
            .flatten()
            .map(|(minor, q)| (money(minor, currency).amount(), q))
            .collect();
        let billed = money(row.amount_minor, currency).amount();
        let Some((charge, _)) = line_after_credits(
            money(row.line_amount_minor, currency).amount(),
            billed,
            quantity,
            &credited,
        ) else {
            continue;
        };
        let credited_total: Decimal = credited.iter().map(|(a, _)| *a).sum();
        items.push(Entry {
            performed_on,
            charge: Money::new(charge, currency).map_err(|e| Error::internal(&e))?,
            billed: Money::new(billed - credited_total, currency)
                .map_err(|e| Error::internal(&e))?,
            claim_kind: claiming.frequency.word(),
            corrects_claim_id: claiming.corrects.as_ref().map(|c| c.id.to_string()),
            row,
        });
    }
    Ok(items)
}
