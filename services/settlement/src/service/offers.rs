//! Promotional offers as pricing uses them: a patient's purchases of prepaid bundles and what
//! their settlements already used of them.

use std::collections::HashMap;

use carebill_domain::settlement::{OfferBook, Purchase};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use rust_decimal::Decimal;

use crate::store::offers::{self as store, OfferRow};
use crate::store::settlements;

/// A patient's purchases of offers, from the bundles consumed (not voided, not excluded) in any
/// of their settlements, with the units their other settlements (all but `except`) already used.
/// Empty when no offer pays for any of `codes` (nothing to look up).
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
