//! Promotional offers: prepaid bundles. An offer says that buying its bundle (a catalog code,
//! priced on the price list like any other — e.g. ten physiotherapy sessions at a discount)
//! prepays a number of units of some services. The purchase is the bundle's consumption, billed
//! in its settlement as usual; the patient's later consumptions of those services, in any
//! episode, take units from it and are priced at zero for the units taken (`offer` on the line
//! says which purchase and how many units are left) until it is used up or expires.
//!
//! An offer is not changed once created (units already sold stay as sold): new terms are a new
//! offer, and `inactive_from` ends the sale of the old one.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::events::ConsumptionRecordedV1;
use carebill_domain::settlement::Offer;
use carebill_domain::stored::json;
use carebill_domain::{Code, Validation};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent,
};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::schema::{offers, settlement_inputs, settlements};
use crate::service::offers::purchases;
use crate::store::offers::OfferRow;

/// An offer as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OfferView {
    /// Code.
    #[schema(example = "PHYSIO-10")]
    pub code: String,
    /// Description.
    pub description: String,
    /// The catalog code whose consumption is the purchase (priced on the price list).
    #[schema(example = "PHYSIO-BUNDLE-10")]
    pub bundle_code: String,
    /// The catalog codes the prepaid units pay for.
    pub service_codes: Vec<String>,
    /// Units prepaid per bundle bought, a decimal string.
    #[schema(value_type = String, example = "10")]
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

/// What a billing manager sends to create an offer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferInput {
    /// Code.
    #[schema(example = "PHYSIO-10")]
    pub code: String,
    /// Description.
    #[schema(example = "Ten physiotherapy sessions")]
    pub description: String,
    /// The bundle's catalog code.
    #[schema(example = "PHYSIO-BUNDLE-10")]
    pub bundle_code: String,
    /// The codes its units pay for (not the bundle's own).
    pub service_codes: Vec<String>,
    /// Units per bundle, more than zero, at most 4 decimals.
    #[schema(schema_with = carebill_platform::http::decimal_input)]
    pub units: Decimal,
    /// Days of validity from the purchase, 1 to 3650.
    pub valid_days: Option<u32>,
    /// First day of sale.
    pub active_from: NaiveDate,
    /// End of sale.
    pub inactive_from: Option<NaiveDate>,
}

struct Valid {
    offer: Offer,
    description: String,
    active_from: NaiveDate,
    inactive_from: Option<NaiveDate>,
}

impl OfferInput {
    fn validate(self) -> Result<Valid, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        v.text("description", &self.description, 200);
        let bundle = v.check("bundle_code", "invalid", Code::parse(&self.bundle_code));
        let mut services = Vec::new();
        for (i, c) in self.service_codes.iter().enumerate() {
            let field = format!("service_codes.{i}");
            if let Some(c) = v.check(&field, "invalid", Code::parse(c)) {
                if bundle.as_ref().is_some_and(|b| b.as_str() == c.as_str()) {
                    v.add(&field, "bundle_itself", "a bundle does not pay for itself");
                }
                services.push(c.to_string());
            }
        }
        services.sort();
        services.dedup();
        if self.service_codes.is_empty() {
            v.add(
                "service_codes",
                "required",
                "name at least one service code",
            );
        }
        let units = self.units.normalize();
        if units <= Decimal::ZERO || units.scale() > 4 || units > Decimal::from(100_000) {
            v.add(
                "units",
                "out_of_range",
                "more than 0, at most 100000, at most 4 decimals",
            );
        }
        if let Some(d) = self.valid_days
            && !(1..=3650).contains(&d)
        {
            v.add("valid_days", "out_of_range", "1 to 3650 days");
        }
        v.check(
            "active_from",
            "out_of_range",
            carebill_domain::accounts::check_date(self.active_from),
        );
        if let Some(end) = self.inactive_from {
            v.check(
                "inactive_from",
                "out_of_range",
                carebill_domain::accounts::check_date(end),
            );
            if end <= self.active_from {
                v.add(
                    "inactive_from",
                    "before_start",
                    "must come after active_from",
                );
            }
        }
        v.finish().map_err(Error::validation)?;
        match (code, bundle) {
            (Some(code), Some(bundle)) => Ok(Valid {
                offer: Offer {
                    code: code.to_string(),
                    bundle_code: bundle.to_string(),
                    service_codes: services,
                    units,
                    valid_days: self.valid_days,
                },
                description: self.description.trim().to_owned(),
                active_from: self.active_from,
                inactive_from: self.inactive_from,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

fn get(conn: &mut AnyConnection, code: &str) -> Result<OfferView, Error> {
    offers::table
        .find(code)
        .select(OfferRow::as_select())
        .first(conn)
        .optional()?
        .map(view)
        .ok_or_else(|| Error::not_found("offer"))?
}

fn create(conn: &mut AnyConnection, who: &Principal, o: Valid) -> Result<OfferView, Error> {
    who.require_unscoped("offers are organisation-wide")?;
    let taken: i64 = offers::table
        .filter(offers::code.eq(&o.offer.code))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            "an offer with this code exists; offers are not changed once sold, create one with a new code",
        ));
    }
    // One offer on sale per bundle on any day: a purchase must say which units it bought.
    db::lock_key(conn, &format!("offer-bundle:{}", o.offer.bundle_code))?;
    let same_bundle: Vec<OfferRow> = offers::table
        .filter(offers::bundle_code.eq(&o.offer.bundle_code))
        .select(OfferRow::as_select())
        .load(conn)?;
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
    diesel::insert_into(offers::table)
        .values((
            offers::code.eq(&o.offer.code),
            offers::description.eq(&o.description),
            offers::bundle_code.eq(&o.offer.bundle_code),
            offers::service_codes.eq(serde_json::to_string(&o.offer.service_codes)?),
            offers::units.eq(o.offer.units.to_string()),
            offers::valid_days.eq(o.offer.valid_days.and_then(|d| i32::try_from(d).ok())),
            offers::active_from.eq(o.active_from),
            offers::inactive_from.eq(o.inactive_from),
            offers::created_by.eq(&who.subject),
            offers::created_at.eq(db::now()),
        ))
        .execute(conn)?;
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

/// An offer as the API shows it, from its row.
fn view(r: OfferRow) -> Result<OfferView, Error> {
    let offer = r.offer()?;
    Ok(OfferView {
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

/// A purchase and what is left of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Balance {
    /// The offer.
    pub offer: String,
    /// The purchase: the bundle consumption's id.
    pub purchase: String,
    /// Bought on.
    pub bought_on: NaiveDate,
    /// Usable until (none: no limit).
    pub valid_until: Option<NaiveDate>,
    /// Units bought.
    #[schema(value_type = String)]
    pub units: Decimal,
    /// Units used by the patient's settlements as they stand.
    #[schema(value_type = String)]
    pub used: Decimal,
    /// Units left.
    #[schema(value_type = String)]
    pub remaining: Decimal,
}

/// Whose balances.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BalanceFilter {
    /// The patient.
    pub patient_id: uuid::Uuid,
}

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

/// Create an offer (a prepaid bundle).
#[utoipa::path(post, path = "/v1/offers", tag = "offers", request_body = OfferInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Created", body = OfferView),
        (status = 409, description = "The code is taken (`already_exists`), or another offer sells the same bundle on some of these days (`overlapping_offer`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_offer(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<OfferInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                create(conn, &who, input)
            })
        })
        .await
}

/// Ends the sale of an offer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndInput {
    /// Bundles bought from this day on no longer count as this offer's (units already bought
    /// stay usable until they expire).
    pub inactive_from: NaiveDate,
    /// Why.
    pub reason: String,
}

/// The last day a bundle was bought under `offer` (any patient; cancelled settlements, voided
/// and excluded consumptions do not count, as for balances).
fn last_purchase_day(
    conn: &mut AnyConnection,
    offer: &OfferRow,
) -> Result<Option<NaiveDate>, Error> {
    // The payload holds the item's code as `"code":"<bundle>"`; the match narrows the scan,
    // the parsed payload decides.
    let pattern = format!(
        "%\"code\":\"{}\"%",
        offer
            .bundle_code
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
    let mut last = None;
    for payload in payloads {
        let c: ConsumptionRecordedV1 =
            json("settlement input", &payload).map_err(crate::store::unreadable)?;
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

fn end(
    conn: &mut AnyConnection,
    who: &Principal,
    code: &str,
    input: EndInput,
) -> Result<OfferView, Error> {
    who.require_unscoped("offers are organisation-wide")?;
    db::lock_key(conn, &format!("offer:{code}"))?;
    let before = get(conn, code)?;
    let mut v = Validation::new();
    let reason = v.text("reason", &input.reason, 500);
    v.check(
        "inactive_from",
        "out_of_range",
        carebill_domain::accounts::check_date(input.inactive_from),
    );
    if input.inactive_from <= before.active_from {
        v.add(
            "inactive_from",
            "before_start",
            "must come after the offer's active_from",
        );
    }
    if before
        .inactive_from
        .is_some_and(|end| end <= input.inactive_from)
    {
        v.add(
            "inactive_from",
            "later",
            "the sale already ends on or before this day",
        );
    }
    // What was sold stays sold: a purchase counts as this offer's by its day, so the sale may
    // not end on or before a day it already sold a bundle.
    let row: OfferRow = offers::table
        .find(code)
        .select(OfferRow::as_select())
        .first(conn)?;
    if let Some(day) = last_purchase_day(conn, &row)?
        && input.inactive_from <= day
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
    diesel::update(offers::table.find(code))
        .set(offers::inactive_from.eq(Some(input.inactive_from)))
        .execute(conn)?;
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

/// End the sale of an offer from a day (units already sold stay usable).
#[utoipa::path(post, path = "/v1/offers/{code}/end", tag = "offers", request_body = EndInput,
    params(("code" = String, Path, description = "Offer code")),
    responses((status = 200, description = "The offer with its end of sale", body = OfferView),
        (status = 404, description = "No such offer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A day before the start, one after the current end, one on or before a day the offer sold a bundle (`sold_after`: what was sold stays sold), or no reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn end_offer(
    state: web::Data<SettlementState>,
    who: Principal,
    code: web::Path<String>,
    body: JsonBody<EndInput>,
) -> Result<web::Json<OfferView>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let code = code.into_inner();
    let input = body.value;
    Ok(web::Json(
        state
            .db
            .write(move |conn| conn.transaction(|conn| end(conn, &who, &code, input)))
            .await?,
    ))
}

/// Get an offer.
#[utoipa::path(get, path = "/v1/offers/{code}", tag = "offers",
    params(("code" = String, Path, description = "Offer code")),
    responses((status = 200, description = "The offer", body = OfferView),
        (status = 404, description = "No such offer", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_offer(
    state: web::Data<SettlementState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<web::Json<OfferView>, Error> {
    who.require(READERS)?;
    let code = code.into_inner();
    Ok(web::Json(
        state.db.read(move |conn| get(conn, &code)).await?,
    ))
}

/// List offers, by code.
#[utoipa::path(get, path = "/v1/offers", tag = "offers", params(PageParams),
    responses((status = 200, description = "A page of offers", body = Page<OfferView>)),
    security(("bearer" = [])))]
pub async fn list_offers(
    state: web::Data<SettlementState>,
    who: Principal,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<OfferView>>, Error> {
    who.require(READERS)?;
    let page: PageRequest = page.parse()?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| {
                let mut q = offers::table.select(OfferRow::as_select()).into_boxed();
                if let Some(after) = &page.after {
                    q = q.filter(offers::code.gt(after.clone()));
                }
                let rows = q
                    .order(offers::code.asc())
                    .limit(page.limit + 1)
                    .load::<OfferRow>(conn)?;
                let views = rows.into_iter().map(view).collect::<Result<Vec<_>, _>>()?;
                Ok(Page::from_rows(views, &page, |v| v.code.clone()))
            })
            .await?,
    ))
}

/// A patient's prepaid bundles: units bought, used and left.
#[utoipa::path(get, path = "/v1/offer-balances", tag = "offers", params(BalanceFilter),
    responses((status = 200, description = "The patient's purchases, oldest first", body = Vec<Balance>)),
    security(("bearer" = [])))]
pub async fn list_balances(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<BalanceFilter>,
) -> Result<web::Json<Vec<Balance>>, Error> {
    who.require(READERS)?;
    let patient = filter.patient_id.to_string();
    Ok(web::Json(
        state
            .db
            .read(move |conn| {
                let rows: Vec<OfferRow> = offers::table.select(OfferRow::as_select()).load(conn)?;
                let mut bought = purchases(conn, &patient, None, &rows, who.locations.as_deref())?;
                bought.sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
                Ok(bought
                    .into_iter()
                    .map(|p| Balance {
                        remaining: p.remaining(),
                        offer: p.offer,
                        purchase: p.id,
                        bought_on: p.from,
                        valid_until: p.until,
                        units: p.units,
                        used: p.used,
                    })
                    .collect())
            })
            .await?,
    ))
}
