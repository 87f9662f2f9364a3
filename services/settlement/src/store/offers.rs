//! Promotional offers as stored, and what their balances read: the patient's settlements and
//! their bundle consumptions.

use carebill_domain::events::ConsumptionRecordedV1;
use carebill_domain::settlement::Offer;
use carebill_domain::stored::{json, parse};
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{offers, settlement_inputs, settlements};

/// An offer row.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = offers)]
pub struct OfferRow {
    /// Code.
    pub code: String,
    /// Description.
    pub description: String,
    /// The bundle's catalog code.
    pub bundle_code: String,
    /// The services it prepays (JSON list of codes).
    pub service_codes: String,
    /// Units it prepays (decimal text).
    pub units: String,
    /// Days the units last.
    pub valid_days: Option<i32>,
    /// On sale from.
    pub active_from: NaiveDate,
    /// On sale until (exclusive).
    pub inactive_from: Option<NaiveDate>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
}

impl OfferRow {
    /// The offer's terms; a stored value that does not read is an error naming it.
    pub fn offer(&self) -> Result<Offer, Error> {
        Ok(Offer {
            code: self.code.clone(),
            bundle_code: self.bundle_code.clone(),
            service_codes: json("offer service codes", &self.service_codes).map_err(Error::from)?,
            units: parse("offer units", &self.units).map_err(Error::from)?,
            valid_days: self
                .valid_days
                .map(|d| {
                    u32::try_from(d)
                        .map_err(|e| Error::stored("offer valid days", &d.to_string(), e))
                })
                .transpose()?,
        })
    }

    /// On sale on `day`.
    pub fn on_sale(&self, day: NaiveDate) -> bool {
        self.active_from <= day && self.inactive_from.is_none_or(|end| day < end)
    }
}

/// Every offer.
pub fn all(conn: &mut AnyConnection) -> Result<Vec<OfferRow>, Error> {
    Ok(offers::table.select(OfferRow::as_select()).load(conn)?)
}

/// A patient's settlements that are not cancelled (with `scope`, only those of these
/// locations): their ids.
pub fn patient_settlements(
    conn: &mut AnyConnection,
    patient_id: &str,
    scope: Option<&[String]>,
) -> Result<Vec<String>, Error> {
    let mut q = settlements::table
        .filter(settlements::patient_id.eq(patient_id))
        .filter(settlements::status.ne("cancelled"))
        .select(settlements::id)
        .into_boxed();
    if let Some(locations) = scope {
        q = q.filter(settlements::location_code.eq_any(locations.to_vec()));
    }
    Ok(q.load(conn)?)
}

/// The consumptions of these settlements that are neither voided nor excluded.
pub fn billed_consumptions(
    conn: &mut AnyConnection,
    ids: &[&String],
) -> Result<Vec<ConsumptionRecordedV1>, Error> {
    let inputs: Vec<String> = settlement_inputs::table
        .filter(settlement_inputs::settlement_id.eq_any(ids))
        .filter(settlement_inputs::voided.eq(false))
        .filter(settlement_inputs::excluded.eq(false))
        .select(settlement_inputs::payload)
        .load(conn)?;
    inputs
        .iter()
        .map(|p| json("settlement input", p).map_err(Error::from))
        .collect()
}

/// Serialises the work on one offer or bundle (PostgreSQL) until the transaction ends.
pub fn lock(conn: &mut AnyConnection, key: &str) -> Result<(), Error> {
    Ok(db::lock_key(conn, key)?)
}

/// An offer.
pub fn find(conn: &mut AnyConnection, code: &str) -> Result<Option<OfferRow>, Error> {
    Ok(offers::table
        .find(code)
        .select(OfferRow::as_select())
        .first(conn)
        .optional()?)
}

/// The offers of a bundle.
pub fn of_bundle(conn: &mut AnyConnection, bundle_code: &str) -> Result<Vec<OfferRow>, Error> {
    Ok(offers::table
        .filter(offers::bundle_code.eq(bundle_code))
        .select(OfferRow::as_select())
        .load(conn)?)
}

/// Stores an offer.
#[expect(clippy::too_many_arguments, reason = "the columns of an offer")]
pub fn insert(
    conn: &mut AnyConnection,
    offer: &Offer,
    description: &str,
    valid_days: Option<i32>,
    active_from: NaiveDate,
    inactive_from: Option<NaiveDate>,
    by: &str,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::insert_into(offers::table)
        .values((
            offers::code.eq(&offer.code),
            offers::description.eq(description),
            offers::bundle_code.eq(&offer.bundle_code),
            offers::service_codes.eq(serde_json::to_string(&offer.service_codes)?),
            offers::units.eq(offer.units.to_string()),
            offers::valid_days.eq(valid_days),
            offers::active_from.eq(active_from),
            offers::inactive_from.eq(inactive_from),
            offers::created_by.eq(by),
            offers::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends an offer's sale from `inactive_from`.
pub fn end_sale(
    conn: &mut AnyConnection,
    code: &str,
    inactive_from: NaiveDate,
) -> Result<(), Error> {
    diesel::update(offers::table.find(code))
        .set(offers::inactive_from.eq(Some(inactive_from)))
        .execute(conn)?;
    Ok(())
}

/// A page of offers by code after `after` (at most `limit`).
pub fn list(
    conn: &mut AnyConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<OfferRow>, Error> {
    let mut q = offers::table.select(OfferRow::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(offers::code.gt(after.to_owned()));
    }
    Ok(q.order(offers::code.asc())
        .limit(limit)
        .load::<OfferRow>(conn)?)
}

/// The consumptions that may be purchases of a bundle (not voided, not excluded, in a
/// settlement that is not cancelled): the stored payload is matched on the item's code
/// (`"code":"<bundle>"`) to narrow the scan; the caller checks the parsed payload.
pub fn bundle_purchases(
    conn: &mut AnyConnection,
    bundle_code: &str,
) -> Result<Vec<ConsumptionRecordedV1>, Error> {
    let pattern = format!(
        "%\"code\":\"{}\"%",
        bundle_code
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    let payloads: Vec<String> = settlement_inputs::table
        .filter(
            settlement_inputs::settlement_id.eq_any(
                settlements::table
                    .filter(settlements::status.ne("cancelled"))
                    .select(settlements::id),
            ),
        )
        .filter(settlement_inputs::voided.eq(false))
        .filter(settlement_inputs::excluded.eq(false))
        .filter(settlement_inputs::payload.like(pattern).escape('\\'))
        .select(settlement_inputs::payload)
        .load(conn)?;
    payloads
        .iter()
        .map(|p| json("settlement input", p).map_err(Error::from))
        .collect()
}
