//! Promotional offers as pricing uses them: a patient's purchases of prepaid bundles and what
//! their settlements already used of them; offers created, ended, read, and balances.

use std::collections::HashMap;

use carebill_domain::Validation;
use carebill_domain::settlement::{Offer, OfferBook, Purchase};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, ErrorCode, audit};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Connection as _;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::store::offers::{self as store, OfferRow};
use crate::store::settlements;

/// A patient's purchases of offers, from the bundles consumed (not voided, not excluded) in any
/// of their settlements, with the units their other settlements (all but `except`) already used.
/// Empty when no offer pays for any of `codes` (nothing to look up).
#[tracing::instrument(skip_all)]
pub fn book_for(
    conn: &mut AnyConnection,
    patient_id: &str,
    except: Option<&str>,
    codes: &[String],
) -> Result<OfferBook, Error> {
    let rows = store::all(conn)?;
    let mut pays_for_one = false;
    for r in &rows {
        pays_for_one |= r.offer()?.service_codes.iter().any(|c| codes.contains(c));
    }
    if !pays_for_one {
        return Ok(OfferBook::default());
    }
    // First come, first served across the patient's settlements (PostgreSQL: serialised).
    settlements::lock_patient(conn, patient_id)?;
    Ok(OfferBook::new(purchases(
        conn, patient_id, except, &rows, None,
    )?))
}

/// The patient's purchases of `rows` (with `scope`, those bought and used at these
/// locations), with the units their settlements other than `except` used.
#[tracing::instrument(skip_all)]
pub fn purchases(
    conn: &mut AnyConnection,
    patient_id: &str,
    except: Option<&str>,
    rows: &[OfferRow],
    scope: Option<&[String]>,
) -> Result<Vec<Purchase>, Error> {
    let mut by_bundle: HashMap<&str, Vec<&OfferRow>> = HashMap::new();
    for r in rows {
        by_bundle.entry(r.bundle_code.as_str()).or_default().push(r);
    }
    // Cancelled settlements neither sell bundles nor use them; a user limited to some locations
    // sees what was bought and used there.
    let theirs = store::patient_settlements(conn, patient_id, scope)?;
    let ids: Vec<&String> = theirs.iter().collect();
    let mut out = Vec::new();
    for c in store::billed_consumptions(conn, &ids)? {
        let day = carebill_domain::pricing::service_day(&c.episode, c.performed_at);
        // The offer of this bundle on sale that day (sale periods of one bundle never overlap).
        let Some(row) = by_bundle
            .get(c.item.code.as_str())
            .and_then(|offers| offers.iter().find(|r| r.on_sale(day)))
        else {
            continue;
        };
        out.push(Purchase::of(
            &row.offer()?,
            c.consumption_id.to_string(),
            c.quantity,
            day,
        ));
    }
    if out.is_empty() {
        return Ok(out);
    }
    // Units the other settlements' current lines took.
    let others: Vec<&String> = ids
        .into_iter()
        .filter(|id| Some(id.as_str()) != except)
        .collect();
    let mut used: HashMap<String, Decimal> = HashMap::new();
    for (_, line) in settlements::current_lines_of(conn, &others)? {
        if let Some(u) = line.offer {
            *used.entry(u.purchase).or_default() += u.units;
        }
    }
    for p in &mut out {
        if let Some(u) = used.get(&p.id) {
            p.used = *u;
        }
    }
    Ok(out)
}

/// An offer as the service keeps it (and records it in the audit trail).
#[derive(Debug, Clone, Serialize)]
pub struct OfferRecord {
    /// Code.
    pub code: String,
    /// Description.
    pub description: String,
    /// The catalog code whose consumption is the purchase (priced on the price list).
    pub bundle_code: String,
    /// The catalog codes the prepaid units pay for.
    pub service_codes: Vec<String>,
    /// Units prepaid per bundle bought, a decimal string.
    pub units: Decimal,
    /// Days the units can be used from the day of purchase (none: no limit).
    pub valid_days: Option<u32>,
    /// Bundles bought from this day count.
    pub active_from: NaiveDate,
    /// Bundles bought from this day on do not.
    pub inactive_from: Option<NaiveDate>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<OfferRow> for OfferRecord {
    type Error = Error;

    fn try_from(r: OfferRow) -> Result<Self, Error> {
        let offer = r.offer()?;
        Ok(OfferRecord {
            code: offer.code,
            description: r.description,
            bundle_code: offer.bundle_code,
            service_codes: offer.service_codes,
            units: offer.units,
            valid_days: offer.valid_days,
            active_from: r.active_from,
            inactive_from: r.inactive_from,
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
        })
    }
}

/// A validated new offer.
pub struct NewOffer {
    /// `offer`.
    pub offer: Offer,
    /// `description`.
    pub description: String,
    /// `active_from`.
    pub active_from: NaiveDate,
    /// `inactive_from`.
    pub inactive_from: Option<NaiveDate>,
}

/// An offer.
#[tracing::instrument(skip_all, fields(offer = code))]
pub fn get(conn: &mut AnyConnection, code: &str) -> Result<OfferRecord, Error> {
    store::find(conn, code)?
        .map(OfferRecord::try_from)
        .ok_or_else(|| Error::not_found("offer"))?
}

/// A page of offers by code.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<OfferRecord>, Error> {
    store::list(conn, after, limit)?
        .into_iter()
        .map(OfferRecord::try_from)
        .collect()
}

/// A patient's purchases (bought and used in the caller's locations), oldest first.
#[tracing::instrument(skip_all)]
pub fn balances(
    conn: &mut AnyConnection,
    scope: &Scope,
    patient_id: &str,
) -> Result<Vec<Purchase>, Error> {
    // A patient's bundles are the patient's, never a payer's: a payer-limited caller sees none.
    if scope.is_payer_limited() {
        return Ok(Vec::new());
    }
    let rows = store::all(conn)?;
    let mut bought = purchases(conn, patient_id, None, &rows, scope.locations.as_deref())?;
    bought.sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
    Ok(bought)
}

/// Creates an offer; one offer sells a bundle on any day. The caller runs it in a transaction
/// (with its idempotency record).
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    o: NewOffer,
) -> Result<OfferRecord, Error> {
    who.require_unscoped("offers are organisation-wide")?;
    if store::find(conn, &o.offer.code)?.is_some() {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            "an offer with this code exists; offers are not changed once sold, create one with a new code",
        ));
    }
    // One offer on sale per bundle on any day: a purchase must say which units it bought.
    store::lock(conn, &format!("offer-bundle:{}", o.offer.bundle_code))?;
    let same_bundle = store::of_bundle(conn, &o.offer.bundle_code)?;
    // Sale periods end the day before `inactive_from`.
    let last_day = |end: Option<NaiveDate>| end.and_then(|d| d.pred_opt());
    if let Some(other) = same_bundle.iter().find(|r| {
        carebill_domain::accounts::periods_overlap(
            Some(r.active_from),
            last_day(r.inactive_from),
            Some(o.active_from),
            last_day(o.inactive_from),
        )
    }) {
        return Err(Error::new(
            ErrorCode::OverlappingOffer,
            format!(
                "offer {} sells bundle {} on days this one would too; end its sale first (POST /v1/offers/{}/end)",
                other.code, o.offer.bundle_code, other.code
            ),
        ));
    }
    let valid_days = o
        .offer
        .valid_days
        .map(|d| {
            i32::try_from(d).map_err(|e| Error::field("valid_days", "out_of_range", e.to_string()))
        })
        .transpose()?;
    store::insert(
        conn,
        &o.offer,
        &o.description,
        valid_days,
        o.active_from,
        o.inactive_from,
        &who.subject,
        db::now(),
    )?;
    let created = get(conn, &o.offer.code)?;
    audit::record(
        conn,
        who,
        "create",
        "offer",
        &created.code,
        serde_json::json!({ "after": created }),
        None,
    )?;
    Ok(created)
}

/// The last day a bundle was bought under `offer` (any patient; cancelled settlements, voided
/// and excluded consumptions do not count, as for balances).
fn last_purchase_day(
    conn: &mut AnyConnection,
    offer: &OfferRow,
) -> Result<Option<NaiveDate>, Error> {
    let payloads = store::bundle_purchases(conn, &offer.bundle_code)?;
    let mut last = None;
    for c in payloads {
        let day = carebill_domain::pricing::service_day(&c.episode, c.performed_at);
        if c.item.code.as_str() == offer.bundle_code
            && offer.on_sale(day)
            && last.is_none_or(|l| day > l)
        {
            last = Some(day);
        }
    }
    Ok(last)
}

/// Ends the sale of an offer from `inactive_from`, with a reason; what was sold stays sold.
#[tracing::instrument(skip_all, fields(offer = code))]
pub fn end(
    conn: &mut AnyConnection,
    who: &Principal,
    code: &str,
    inactive_from: NaiveDate,
    reason: &str,
) -> Result<OfferRecord, Error> {
    conn.transaction(|conn| end_in(conn, who, code, inactive_from, reason))
}

fn end_in(
    conn: &mut AnyConnection,
    who: &Principal,
    code: &str,
    inactive_from: NaiveDate,
    reason: &str,
) -> Result<OfferRecord, Error> {
    who.require_unscoped("offers are organisation-wide")?;
    store::lock(conn, &format!("offer:{code}"))?;
    let before = get(conn, code)?;
    let mut v = Validation::new();
    let reason = v.text("reason", reason, 500);
    v.check(
        "inactive_from",
        "out_of_range",
        carebill_domain::accounts::check_date(inactive_from),
    );
    if inactive_from <= before.active_from {
        v.add(
            "inactive_from",
            "before_start",
            "must come after the offer's active_from",
        );
    }
    if before.inactive_from.is_some_and(|end| end <= inactive_from) {
        v.add(
            "inactive_from",
            "later",
            "the sale already ends on or before this day",
        );
    }
    // What was sold stays sold: a purchase counts as this offer's by its day, so the sale may
    // not end on or before a day it already sold a bundle.
    let row = store::find(conn, code)?.ok_or_else(|| Error::not_found("offer"))?;
    if let Some(day) = last_purchase_day(conn, &row)?
        && inactive_from <= day
    {
        v.add(
            "inactive_from",
            "sold_after",
            format!(
                "bundle {} was bought under this offer on {day}; the sale can end from the day after",
                before.bundle_code
            ),
        );
    }
    v.finish().map_err(Error::validation)?;
    store::end_sale(conn, code, inactive_from)?;
    let after = get(conn, code)?;
    audit::record(
        conn,
        who,
        "end",
        "offer",
        code,
        serde_json::json!({ "inactive_from": { "before": before.inactive_from, "after": after.inactive_from } }),
        reason.as_deref(),
    )?;
    Ok(after)
}
