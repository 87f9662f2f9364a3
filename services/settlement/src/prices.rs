//! Price lists: the unit price of a catalog code, in force from a date (to a date), for every
//! location and payer or only for one location and/or one payer. Prices are not edited: a price
//! is ended (`valid_to`) and a new one created, so the price in force on any past day stays known.
//! Entries of the same code, location and payer never overlap in time.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::settlement::{PriceEntry, PriceQualifiers, select_price};
use carebill_domain::{Code, Currency, Money, Validation};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, parse_id,
};
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{audit, audit::Change, audit::Snapshot};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::schema::prices;
use crate::store::unreadable;
use carebill_domain::stored::json;

/// A price as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Price {
    /// Id.
    pub id: String,
    /// Catalog code priced.
    #[schema(example = "LAB-HB")]
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
    /// A service price for invoicing rules: only for this beneficiary kind.
    pub beneficiary_kind: Option<String>,
    /// A service price for invoicing rules: only for rooms of this object type.
    pub object_type: Option<String>,
    /// A service price for invoicing rules: only for this care level.
    pub care_level: Option<String>,
    /// A package price: the codes it includes (priced at zero where the package is billed).
    pub components: Vec<String>,
    /// Who created it.
    pub created_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// What a client sends to create a price.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceInput {
    /// Catalog code.
    #[schema(example = "LAB-HB", pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// Price of one unit, not negative.
    pub unit_price: Money,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
    /// Only at this location (code).
    #[schema(example = "H1")]
    pub location_code: Option<String>,
    /// Only for this payer (code).
    #[schema(example = "SANITAS")]
    pub payer_code: Option<String>,
    /// Makes it a service price of invoicing rules (the code is then a service group): only
    /// for this beneficiary kind. Qualified prices never price consumptions.
    #[schema(example = "LTC")]
    pub beneficiary_kind: Option<String>,
    /// Service price: only for rooms of this object type.
    #[schema(example = "SINGLE")]
    pub object_type: Option<String>,
    /// Service price: only for this care level (evaluations).
    #[schema(example = "L3")]
    pub care_level: Option<String>,
    /// Makes it a package price: the codes the package includes. Where the package is billed
    /// in a settlement, these are priced at zero (kept visible, the package named).
    #[serde(default)]
    #[schema(example = json!(["LAB-HB", "LAB-GLU"]))]
    pub components: Vec<String>,
}

/// Ends a price.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndInput {
    /// Last day the price is in force; not before its first day.
    pub valid_to: NaiveDate,
    /// Why.
    #[schema(example = "new tariff from 2027", pattern = r"\S", max_length = 500)]
    pub reason: String,
}

struct NewPrice {
    code: Code,
    location: Option<Code>,
    payer: Option<Code>,
    qualifiers: PriceQualifiers,
    components: Vec<String>,
    input: PriceInput,
}

fn optional_code(v: &mut Validation, field: &str, value: Option<&str>) -> Option<Code> {
    match value.map(str::trim) {
        None | Some("") => None,
        Some(c) => v.check(field, "invalid", Code::parse(c)),
    }
}

impl PriceInput {
    fn validate(self) -> Result<NewPrice, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        if self.unit_price.amount().is_sign_negative() {
            v.add("unit_price.amount", "negative", "must not be negative");
        }
        v.check(
            "valid_from",
            "out_of_range",
            carebill_domain::accounts::check_date(self.valid_from),
        );
        if let Some(to) = self.valid_to {
            v.check(
                "valid_to",
                "out_of_range",
                carebill_domain::accounts::check_date(to),
            );
            v.check(
                "valid_to",
                "invalid",
                carebill_domain::accounts::check_validity(Some(self.valid_from), Some(to)),
            );
        }
        let location = optional_code(&mut v, "location_code", self.location_code.as_deref());
        let payer = optional_code(&mut v, "payer_code", self.payer_code.as_deref());
        let qualifiers = PriceQualifiers {
            beneficiary_kind: optional_code(
                &mut v,
                "beneficiary_kind",
                self.beneficiary_kind.as_deref(),
            )
            .map(|c| c.to_string()),
            object_type: optional_code(&mut v, "object_type", self.object_type.as_deref())
                .map(|c| c.to_string()),
            level: optional_code(&mut v, "care_level", self.care_level.as_deref())
                .map(|c| c.to_string()),
        };
        let mut components: Vec<String> = Vec::new();
        for (i, c) in self.components.iter().enumerate() {
            if let Some(c) = v.check(&format!("components.{i}"), "invalid", Code::parse(c)) {
                if c.as_str() == self.code.trim() {
                    v.add(
                        format!("components.{i}"),
                        "self",
                        "a package does not include itself",
                    );
                }
                components.push(c.to_string());
            }
        }
        components.sort();
        components.dedup();
        if !components.is_empty() && !qualifiers.is_empty() {
            v.add(
                "components",
                "not_with_qualifiers",
                "packages price consumptions; service prices of rules have no components",
            );
        }
        if self.components.len() > 100 {
            v.add("components", "too_many", "at most 100 components");
        }
        if payer.is_some() && !qualifiers.is_empty() {
            v.add(
                "payer_code",
                "not_with_qualifiers",
                "a service price for invoicing rules is not payer-specific: invoice contexts say who pays",
            );
        }
        v.finish().map_err(Error::validation)?;
        let code = code.ok_or_else(|| Error::internal(&"validation passed without a code"))?;
        Ok(NewPrice {
            code,
            location,
            payer,
            qualifiers,
            components,
            input: self,
        })
    }
}

#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = prices)]
struct Row {
    id: String,
    code: String,
    unit_price_minor: i64,
    currency: String,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
    location_code: Option<String>,
    payer_code: Option<String>,
    created_by: String,
    created_at: NaiveDateTime,
    #[expect(
        dead_code,
        reason = "selected with the row; changes show in the audit trail"
    )]
    updated_at: NaiveDateTime,
    beneficiary_kind: Option<String>,
    object_type: Option<String>,
    care_level: Option<String>,
    components: String,
}

impl Row {
    fn money(&self) -> Result<Money, Error> {
        let currency = Currency::parse(&self.currency)
            .map_err(|e| Error::stored("price currency", &self.currency, e))?;
        Ok(Money::from_minor(
            carebill_domain::MinorUnits(self.unit_price_minor),
            currency,
        ))
    }

    fn components(&self) -> Result<Vec<String>, Error> {
        json("price components", &self.components).map_err(unreadable)
    }

    fn entry(&self) -> Result<PriceEntry, Error> {
        Ok(PriceEntry {
            code: self.code.clone(),
            unit_price: self.money()?,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            location: self.location_code.clone(),
            payer: self.payer_code.clone(),
            qualifiers: self.qualifiers(),
            components: self.components()?,
        })
    }

    fn qualifiers(&self) -> PriceQualifiers {
        PriceQualifiers {
            beneficiary_kind: self.beneficiary_kind.clone(),
            object_type: self.object_type.clone(),
            level: self.care_level.clone(),
        }
    }
}

impl TryFrom<Row> for Price {
    type Error = Error;

    fn try_from(r: Row) -> Result<Self, Error> {
        Ok(Price {
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

/// Entries of the same code, location, payer and qualifiers (except `except`) that overlap the
/// period.
#[allow(clippy::too_many_arguments)]
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
    let rows: Vec<Row> = prices::table
        .filter(prices::code.eq(code))
        .select(Row::as_select())
        .load(conn)?;
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

fn scope_allows(who: &Principal, location: Option<&str>) -> bool {
    match (&who.locations, location) {
        (None, _) => true,
        (Some(codes), Some(l)) => codes.iter().any(|c| c == l),
        (Some(_), None) => false,
    }
}

fn get(conn: &mut AnyConnection, id: &str) -> Result<Price, Error> {
    prices::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Price::try_from)
        .ok_or_else(|| Error::not_found("price"))?
}

fn create(conn: &mut AnyConnection, who: &Principal, p: NewPrice) -> Result<Price, Error> {
    let location = p.location.as_ref().map(Code::as_str);
    let payer = p.payer.as_ref().map(Code::as_str);
    if !scope_allows(who, location) {
        return Err(Error::forbidden(
            "a user limited to some locations may only price for those locations",
        ));
    }
    db::lock_key(conn, &format!("price:{}", p.code))?;
    if let Some(other) = clash(
        conn,
        p.code.as_str(),
        location,
        payer,
        &p.qualifiers,
        p.input.valid_from,
        p.input.valid_to,
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
        .input
        .unit_price
        .to_minor()
        .map_err(|e| Error::field("unit_price.amount", "out_of_range", e.to_string()))?;
    diesel::insert_into(prices::table)
        .values((
            prices::id.eq(&id),
            prices::code.eq(p.code.as_str()),
            prices::unit_price_minor.eq(minor.0),
            prices::currency.eq(p.input.unit_price.currency().code()),
            prices::valid_from.eq(p.input.valid_from),
            prices::valid_to.eq(p.input.valid_to),
            prices::location_code.eq(location),
            prices::payer_code.eq(payer),
            prices::beneficiary_kind.eq(&p.qualifiers.beneficiary_kind),
            prices::object_type.eq(&p.qualifiers.object_type),
            prices::care_level.eq(&p.qualifiers.level),
            prices::components.eq(serde_json::to_string(&p.components)?),
            prices::created_by.eq(&who.subject),
            prices::created_at.eq(now),
            prices::updated_at.eq(now),
        ))
        .execute(conn)?;
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

fn end(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    valid_to: NaiveDate,
    reason: &str,
) -> Result<Price, Error> {
    let code = prices::table
        .find(id)
        .select(prices::code)
        .first::<String>(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("price"))?;
    // Same lock as creation: an end and a create of the same code never interleave.
    db::lock_key(conn, &format!("price:{code}"))?;
    let before = get(conn, id)?;
    if !scope_allows(who, before.location_code.as_deref()) {
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
    diesel::update(prices::table.find(id))
        .set((
            prices::valid_to.eq(Some(valid_to)),
            prices::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
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

/// Filters for the price list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PriceFilter {
    /// Prices of this catalog code.
    pub code: Option<String>,
    /// Prices limited to this location.
    pub location_code: Option<String>,
    /// Prices limited to this payer.
    pub payer_code: Option<String>,
    /// Prices in force on this day.
    pub in_force_on: Option<NaiveDate>,
}

fn list(
    conn: &mut AnyConnection,
    f: &PriceFilter,
    page: &PageRequest,
) -> Result<Page<Price>, Error> {
    let mut q = prices::table.select(Row::as_select()).into_boxed();
    if let Some(c) = &f.code {
        q = q.filter(prices::code.eq(c.clone()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(prices::location_code.eq(l.clone()));
    }
    if let Some(p) = &f.payer_code {
        q = q.filter(prices::payer_code.eq(p.clone()));
    }
    if let Some(d) = f.in_force_on {
        carebill_domain::accounts::check_date(d)
            .map_err(|m| Error::field("in_force_on", "out_of_range", m))?;
        q = q
            .filter(prices::valid_from.le(d))
            .filter(prices::valid_to.is_null().or(prices::valid_to.ge(d)));
    }
    if let Some(after) = &page.after {
        q = q.filter(prices::id.gt(after.clone()));
    }
    let rows = q
        .order(prices::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    let prices = rows
        .into_iter()
        .map(Price::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(prices, page, |p| p.id.clone()))
}

/// The question "what does this cost here, then, for this payer?".
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResolveQuery {
    /// Catalog code.
    pub code: String,
    /// Service day.
    pub on: NaiveDate,
    /// Location code.
    pub location_code: String,
    /// Payer code, if a payer-specific price may apply.
    pub payer_code: Option<String>,
}

fn resolve(conn: &mut AnyConnection, q: &ResolveQuery) -> Result<Price, Error> {
    carebill_domain::accounts::check_date(q.on)
        .map_err(|m| Error::field("on", "out_of_range", m))?;
    let mut v = Validation::new();
    let code = v.check("code", "invalid", Code::parse(&q.code));
    let location = v.check("location_code", "invalid", Code::parse(&q.location_code));
    let payer = optional_code(&mut v, "payer_code", q.payer_code.as_deref());
    v.finish().map_err(Error::validation)?;
    let (Some(code), Some(location)) = (code, location) else {
        return Err(Error::internal(&"validation passed without values"));
    };
    let q = ResolveQuery {
        code: code.to_string(),
        on: q.on,
        location_code: location.to_string(),
        payer_code: payer.map(|p| p.to_string()),
    };
    let rows: Vec<Row> = prices::table
        .filter(prices::code.eq(&q.code))
        .order(prices::id.asc())
        .select(Row::as_select())
        .load(conn)?;
    let entries: Vec<PriceEntry> = rows.iter().map(Row::entry).collect::<Result<_, _>>()?;
    let chosen = select_price(
        &entries,
        &q.code,
        q.on,
        &q.location_code,
        q.payer_code.as_deref(),
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

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

/// Add a price.
#[utoipa::path(post, path = "/v1/prices", tag = "prices", request_body = PriceInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Created", body = Price),
        (status = 409, description = "Overlaps a price of the same code, location and payer", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_price(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PriceInput>,
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

/// End a price on a day (bring its end forward); create its successor separately.
#[utoipa::path(post, path = "/v1/prices/{id}/end", tag = "prices", request_body = EndInput,
    params(("id" = String, Path, description = "Price id")),
    responses((status = 200, description = "Ended", body = Price)),
    security(("bearer" = [])))]
pub async fn end_price(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<EndInput>,
) -> Result<web::Json<Price>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let mut v = Validation::new();
    let reason = v.text("reason", &body.value.reason, 500);
    v.check(
        "valid_to",
        "out_of_range",
        carebill_domain::accounts::check_date(body.value.valid_to),
    );
    v.finish().map_err(Error::validation)?;
    let reason = reason.unwrap_or_default();
    let valid_to = body.value.valid_to;
    let id: uuid::Uuid = parse_id(&id, "price")?;
    Ok(web::Json(
        state
            .db
            .write(move |conn| {
                conn.transaction(|conn| end(conn, &who, &id.to_string(), valid_to, &reason))
            })
            .await?,
    ))
}

/// Get a price.
#[utoipa::path(get, path = "/v1/prices/{id}", tag = "prices",
    params(("id" = String, Path, description = "Price id")),
    responses((status = 200, description = "The price", body = Price)),
    security(("bearer" = [])))]
pub async fn get_price(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Price>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "price")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &id.to_string()))
            .await?,
    ))
}

/// List prices.
#[utoipa::path(get, path = "/v1/prices", tag = "prices", params(PriceFilter, PageParams),
    responses((status = 200, description = "A page of prices", body = Page<Price>)),
    security(("bearer" = [])))]
pub async fn list_prices(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<PriceFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Price>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| list(conn, &filter, &page))
            .await?,
    ))
}

/// The price that applies to a code on a day at a location (and for a payer): the most specific
/// in force.
#[utoipa::path(get, path = "/v1/prices/resolve", tag = "prices", params(ResolveQuery),
    responses((status = 200, description = "The price in force", body = Price),
        (status = 404, description = "No price in force", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn resolve_price(
    state: web::Data<SettlementState>,
    who: Principal,
    q: web::Query<ResolveQuery>,
) -> Result<web::Json<Price>, Error> {
    who.require(READERS)?;
    let q = q.into_inner();
    Ok(web::Json(
        state.db.read(move |conn| resolve(conn, &q)).await?,
    ))
}
