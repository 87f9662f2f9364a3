//! Price lists: the unit price of a catalog code, in force from a date (to a date), for every
//! location and payer or only for one location and/or one payer. Prices are not edited: a price
//! is ended (`valid_to`) and a new one created, so the price in force on any past day stays known.
//! Entries of the same code, location and payer never overlap in time.

use carebill_domain::settlement::{PriceEntry, PriceQualifiers, select_price};
use carebill_domain::{Code, Money};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{audit, audit::Change, audit::Snapshot};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Connection as _;
use serde::Serialize;

pub use crate::store::prices::ListFilter;
use crate::store::prices::{self as store, NewPriceRow, PriceRow};

/// A price as the service keeps it (and records it in the audit trail).
#[derive(Debug, Clone, Serialize)]
pub struct PriceRecord {
    /// Id.
    pub id: String,
    /// Catalog code priced.
    pub code: String,
    /// Price of one unit.
    pub unit_price: Money,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force; open-ended when absent.
    pub valid_to: Option<NaiveDate>,
    /// Only at this location, if set.
    pub location_code: Option<String>,
    /// Only for this payer, if set.
    pub payer_code: Option<String>,
    /// Service price qualifier: beneficiary kind.
    pub beneficiary_kind: Option<String>,
    /// Service price qualifier: object type.
    pub object_type: Option<String>,
    /// Service price qualifier: care level.
    pub care_level: Option<String>,
    /// A package price: the codes it includes.
    pub components: Vec<String>,
    /// Who created it.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<PriceRow> for PriceRecord {
    type Error = Error;

    fn try_from(r: PriceRow) -> Result<Self, Error> {
        Ok(PriceRecord {
            unit_price: r.money()?,
            components: r.components()?,
            id: r.id,
            code: r.code,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            location_code: r.location_code,
            payer_code: r.payer_code,
            beneficiary_kind: r.beneficiary_kind,
            object_type: r.object_type,
            care_level: r.care_level,
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
        })
    }
}

/// A validated new price.
pub struct NewPrice {
    /// Catalog code (or service group).
    pub code: Code,
    /// Only at this location.
    pub location: Option<Code>,
    /// Only for this payer.
    pub payer: Option<Code>,
    /// Service price qualifiers.
    pub qualifiers: PriceQualifiers,
    /// Package components, sorted, once each.
    pub components: Vec<String>,
    /// Price of one unit.
    pub unit_price: Money,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
}

/// Whether a caller limited to some locations may price for `location` (none: every location,
/// which only an unlimited caller may).
fn allows(scope: &Scope, location: Option<&str>) -> bool {
    match location {
        Some(l) => scope.allows_location(l),
        None => scope.locations.is_none(),
    }
}

/// Entries of the same code, location, payer and qualifiers (except `except`) that overlap the
/// period.
#[expect(
    clippy::too_many_arguments,
    reason = "the fields of an entry's identity"
)]
fn clash(
    conn: &mut AnyConnection,
    code: &str,
    location: Option<&str>,
    payer: Option<&str>,
    qualifiers: &PriceQualifiers,
    from: NaiveDate,
    to: Option<NaiveDate>,
    except: Option<&str>,
) -> Result<Option<String>, Error> {
    let rows = store::of_code(conn, code)?;
    Ok(rows
        .into_iter()
        .filter(|r| Some(r.id.as_str()) != except)
        .filter(|r| r.location_code.as_deref() == location && r.payer_code.as_deref() == payer)
        .filter(|r| r.qualifiers() == *qualifiers)
        .find(|r| {
            carebill_domain::accounts::periods_overlap(
                Some(r.valid_from),
                r.valid_to,
                Some(from),
                to,
            )
        })
        .map(|r| r.id))
}

/// A price.
#[tracing::instrument(skip_all, fields(price = id))]
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<PriceRecord, Error> {
    store::find(conn, id)?
        .map(PriceRecord::try_from)
        .ok_or_else(|| Error::not_found("price"))?
}

/// Adds a price; none of the same code, location, payer and qualifiers may be in force in its
/// period. The caller runs it in a transaction (with its idempotency record).
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    p: NewPrice,
) -> Result<PriceRecord, Error> {
    let location = p.location.as_ref().map(Code::as_str);
    let payer = p.payer.as_ref().map(Code::as_str);
    if !allows(&Scope::of(who), location) {
        return Err(Error::forbidden(
            "a user limited to some locations may only price for those locations",
        ));
    }
    store::lock_code(conn, p.code.as_str())?;
    if let Some(other) = clash(
        conn,
        p.code.as_str(),
        location,
        payer,
        &p.qualifiers,
        p.valid_from,
        p.valid_to,
        None,
    )? {
        return Err(Error::new(
            ErrorCode::PriceOverlap,
            format!(
                "price {other} for the same code, location, payer and qualifiers is in force in this period; end it first"
            ),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    let minor = p
        .unit_price
        .to_minor()
        .map_err(|e| Error::field("unit_price.amount", "out_of_range", e.to_string()))?;
    store::insert(
        conn,
        NewPriceRow {
            id: &id,
            code: p.code.as_str(),
            unit_price_minor: minor.0,
            currency: p.unit_price.currency().code(),
            valid_from: p.valid_from,
            valid_to: p.valid_to,
            location_code: location,
            payer_code: payer,
            beneficiary_kind: p.qualifiers.beneficiary_kind.as_deref(),
            object_type: p.qualifiers.object_type.as_deref(),
            care_level: p.qualifiers.level.as_deref(),
            components: serde_json::to_string(&p.components)?,
            created_by: &who.subject,
            created_at: now,
            updated_at: now,
        },
    )?;
    let created = get(conn, &id)?;
    audit::record_many(
        conn,
        who,
        &[Change {
            action: "create",
            entity_type: "price",
            entity_id: &id,
            location_id: None,
            changes: Snapshot::Json(serde_json::json!({ "after": created })),
            reason: None,
        }],
    )?;
    Ok(created)
}

/// Ends a price on `valid_to` (brings its end forward), with a reason.
#[tracing::instrument(skip_all, fields(price = id))]
pub fn end(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    valid_to: NaiveDate,
    reason: &str,
) -> Result<PriceRecord, Error> {
    conn.transaction(|conn| end_in(conn, who, id, valid_to, reason))
}

fn end_in(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    valid_to: NaiveDate,
    reason: &str,
) -> Result<PriceRecord, Error> {
    let code = store::code_of(conn, id)?.ok_or_else(|| Error::not_found("price"))?;
    // Same lock as creation: an end and a create of the same code never interleave.
    store::lock_code(conn, &code)?;
    let before = get(conn, id)?;
    if !allows(&Scope::of(who), before.location_code.as_deref()) {
        return Err(Error::forbidden(
            "a user limited to some locations may only change prices of those locations",
        ));
    }
    if valid_to < before.valid_from {
        return Err(Error::field(
            "valid_to",
            "invalid",
            "must not be before the price's valid_from",
        ));
    }
    if before.valid_to.is_some_and(|t| valid_to > t) {
        return Err(Error::field(
            "valid_to",
            "invalid",
            "an end can only be brought forward",
        ));
    }
    store::set_valid_to(conn, id, valid_to)?;
    let after = get(conn, id)?;
    audit::record(
        conn,
        who,
        "end",
        "price",
        id,
        serde_json::json!({ "valid_to": { "before": before.valid_to, "after": after.valid_to } }),
        Some(reason),
    )?;
    Ok(after)
}

/// A page of prices.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    f: &ListFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<PriceRecord>, Error> {
    if let Some(d) = f.in_force_on {
        carebill_domain::accounts::check_date(d)
            .map_err(|m| Error::field("in_force_on", "out_of_range", m))?;
    }
    store::list(conn, f, after, limit)?
        .into_iter()
        .map(PriceRecord::try_from)
        .collect()
}

/// The price that applies to a code on a day at a location (and for a payer): the most
/// specific in force.
#[tracing::instrument(skip_all)]
pub fn resolve(
    conn: &mut AnyConnection,
    code: &Code,
    on: NaiveDate,
    location: &Code,
    payer: Option<&Code>,
) -> Result<PriceRecord, Error> {
    let rows = store::of_code(conn, code.as_str())?;
    let entries: Vec<PriceEntry> = rows.iter().map(PriceRow::entry).collect::<Result<_, _>>()?;
    let chosen = select_price(
        &entries,
        code.as_str(),
        on,
        location.as_str(),
        payer.map(Code::as_str),
    )
    .and_then(|e| {
        rows.iter()
            .zip(&entries)
            .find(|(_, x)| std::ptr::eq(*x, e))
            .map(|(r, _)| r.clone())
    })
    .ok_or_else(|| Error::not_found("price in force for this code, day, location and payer"))?;
    chosen.try_into()
}
