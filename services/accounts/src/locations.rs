//! Locations: the hospitals, clinics and care homes of the organisation. Each is an invoice
//! issuer (its own invoice series later), has a time zone and a currency, and scopes access.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::parse_time_zone;
use carebill_domain::{Code, Currency, Validation};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::AnyConnection;
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, object, parse_id,
};
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{audit, db};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::common::{Address, from_text, scoped_location_ids, to_text};
use crate::schema::locations;

/// A location as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Location {
    /// Id.
    pub id: String,
    /// Unique short code, used in tokens' location scope and invoice series.
    #[schema(example = "H1")]
    pub code: String,
    /// Name.
    #[schema(example = "Hospital Central")]
    pub name: String,
    /// Postal address.
    pub address: Address,
    /// Tax id of the issuing entity.
    #[schema(example = "ESB12345678")]
    pub tax_id: Option<String>,
    /// IANA time zone.
    #[schema(example = "Europe/Madrid")]
    pub time_zone: String,
    /// Invoicing currency.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Whether new episodes may be opened here.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Location {
    /// The location as events and invoices name it.
    pub fn to_ref(&self) -> Result<carebill_domain::events::LocationRef, Error> {
        Ok(carebill_domain::events::LocationRef {
            id: self.id.parse().map_err(|e| Error::internal(&e))?,
            code: self.code.clone(),
            name: self.name.clone(),
            time_zone: self.time_zone.clone(),
            tax_id: self.tax_id.clone(),
        })
    }
}

/// What a client sends to create or replace a location.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    /// Unique code (letters, digits, `. _ - /`); cannot change later.
    #[schema(example = "H1")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// Name.
    #[schema(example = "Hospital Central")]
    #[schema(pattern = r"\S", max_length = 200)]
    pub name: String,
    /// Postal address.
    #[serde(default, deserialize_with = "object")]
    pub address: Address,
    /// Tax id.
    #[schema(example = "ESB12345678")]
    pub tax_id: Option<String>,
    /// IANA time zone (default `UTC`).
    #[schema(example = "Europe/Madrid")]
    pub time_zone: Option<String>,
    /// ISO 4217 invoicing currency (default `EUR`).
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// Default true.
    pub active: Option<bool>,
}

/// A validated location input.
#[derive(Debug, Clone)]
pub struct NewLocation {
    code: Code,
    name: String,
    address: Address,
    tax_id: Option<String>,
    time_zone: String,
    currency: Currency,
    active: bool,
}

impl LocationInput {
    /// Validates every field, reporting all problems at once.
    pub fn validate(self) -> Result<NewLocation, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let name = v.text("name", &self.name, 200);
        self.address.validate("address", &mut v);
        let tax_id = v.opt_text("tax_id", self.tax_id.as_deref(), 50);
        let tz = self.time_zone.unwrap_or_else(|| "UTC".to_owned());
        let time_zone = v
            .check("time_zone", "invalid", parse_time_zone(&tz))
            .map(|_| tz);
        let currency = v.check(
            "currency",
            "invalid",
            Currency::parse(self.currency.as_deref().unwrap_or("EUR")),
        );
        v.finish().map_err(Error::validation)?;
        match (code, name, time_zone, currency) {
            (Some(code), Some(name), Some(time_zone), Some(currency)) => Ok(NewLocation {
                code,
                name,
                address: self.address,
                tax_id,
                time_zone,
                currency,
                active: self.active.unwrap_or(true),
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = locations)]
struct Row {
    id: String,
    code: String,
    name: String,
    address: String,
    tax_id: Option<String>,
    time_zone: String,
    currency: String,
    active: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl From<Row> for Location {
    fn from(r: Row) -> Self {
        Location {
            id: r.id,
            code: r.code,
            name: r.name,
            address: from_text(&r.address),
            tax_id: r.tax_id,
            time_zone: r.time_zone,
            currency: r.currency,
            active: r.active,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// Loads a location the caller may see.
pub fn get(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<Location, Error> {
    let row: Row = locations::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("location"))?;
    if !who.sees_location(&row.code) {
        return Err(Error::not_found("location"));
    }
    Ok(row.into())
}

fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    input: NewLocation,
) -> Result<Location, Error> {
    if who.locations.is_some() {
        return Err(Error::forbidden(
            "a user limited to some locations cannot create locations",
        ));
    }
    let taken: i64 = locations::table
        .filter(locations::code.eq(input.code.as_str()))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("a location with code {} already exists", input.code),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    diesel::insert_into(locations::table)
        .values((
            locations::id.eq(&id),
            locations::code.eq(input.code.as_str()),
            locations::name.eq(&input.name),
            locations::address.eq(to_text(&input.address)),
            locations::tax_id.eq(&input.tax_id),
            locations::time_zone.eq(&input.time_zone),
            locations::currency.eq(input.currency.code()),
            locations::active.eq(input.active),
            locations::created_at.eq(now),
            locations::updated_at.eq(now),
        ))
        .execute(conn)?;
    let created = get(conn, who, &id)?;
    audit::record_at(
        conn,
        who,
        &id,
        "create",
        "location",
        &id,
        serde_json::json!({ "after": created }),
        None,
    )?;
    Ok(created)
}

fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    input: NewLocation,
) -> Result<Location, Error> {
    let before = get(conn, who, id)?;
    if before.code != input.code.as_str() {
        return Err(Error::field(
            "code",
            "immutable",
            "a location's code cannot change",
        ));
    }
    diesel::update(locations::table.find(id))
        .set((
            locations::name.eq(&input.name),
            locations::address.eq(to_text(&input.address)),
            locations::tax_id.eq(&input.tax_id),
            locations::time_zone.eq(&input.time_zone),
            locations::currency.eq(input.currency.code()),
            locations::active.eq(input.active),
            locations::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    let after = get(conn, who, id)?;
    audit::record_at(
        conn,
        who,
        id,
        "update",
        "location",
        id,
        serde_json::json!({ "before": before, "after": after }),
        None,
    )?;
    Ok(after)
}

fn list(
    conn: &mut AnyConnection,
    who: &Principal,
    page: &PageRequest,
) -> Result<Page<Location>, Error> {
    let mut q = locations::table.select(Row::as_select()).into_boxed();
    if let Some(codes) = &who.locations {
        q = q.filter(locations::code.eq_any(codes.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(locations::id.gt(after.clone()));
    }
    let rows = q
        .order(locations::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone()).map(Location::from))
}

/// Whether the caller may see the location with this id (used by other resources).
pub fn in_scope(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<bool, Error> {
    Ok(match scoped_location_ids(conn, who)? {
        None => true,
        Some(ids) => ids.iter().any(|i| i == id),
    })
}

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Integration,
];

/// Create a location.
#[utoipa::path(post, path = "/v1/locations", tag = "locations", request_body = LocationInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created", body = Location),
        (status = 409, description = "Code taken or Idempotency-Key reused", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_location(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<LocationInput>,
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

/// Replace a location's details (its code cannot change).
#[utoipa::path(put, path = "/v1/locations/{id}", tag = "locations", request_body = LocationInput,
    params(("id" = String, Path, description = "Location id")),
    responses(
        (status = 200, description = "Updated", body = Location),
        (status = 404, description = "No such location in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn replace_location(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<LocationInput>,
) -> Result<web::Json<Location>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value.validate()?;
    let id = id.into_inner();
    let loc = state
        .db
        .write(move |conn| conn.transaction(|conn| replace(conn, &who, &id, input)))
        .await?;
    Ok(web::Json(loc))
}

/// Get a location.
#[utoipa::path(get, path = "/v1/locations/{id}", tag = "locations",
    params(("id" = String, Path, description = "Location id")),
    responses((status = 200, description = "The location", body = Location),
        (status = 404, description = "No such location in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_location(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Location>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "location")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &who, &id.to_string()))
            .await?,
    ))
}

/// List the locations in your scope.
#[utoipa::path(get, path = "/v1/locations", tag = "locations", params(PageParams),
    responses((status = 200, description = "A page of locations", body = Page<Location>)),
    security(("bearer" = [])))]
pub async fn list_locations(
    state: web::Data<AccountsState>,
    who: Principal,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Location>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    Ok(web::Json(
        state.db.read(move |conn| list(conn, &who, &page)).await?,
    ))
}
