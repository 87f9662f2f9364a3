//! Payers: insurers, companies and public authorities that pay for care, with their
//! identifiers (tax id, payer id for electronic claims, others).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::PayerKind;
use carebill_domain::{Code, Validation};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::AnyConnection;
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, object, objects,
    parse_id,
};
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{audit, db};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::common::{Address, Contact, Identifier, from_text, to_text, validate_identifiers};
use crate::schema::payers;

/// A payer as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Payer {
    /// Id.
    pub id: String,
    /// Unique code; payer tokens name their payer by it.
    #[schema(example = "SANITAS")]
    pub code: String,
    /// Name.
    #[schema(example = "Sanitas Seguros")]
    pub name: String,
    /// Kind.
    pub kind: PayerKind,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Payer id used in electronic claims (e.g. an X12 payer id).
    pub payer_identifier: Option<String>,
    /// Other identifiers.
    pub identifiers: Vec<Identifier>,
    /// Address.
    pub address: Address,
    /// Billing contact.
    pub contact: Contact,
    /// Inactive payers get no new coverages.
    pub active: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to create or replace a payer.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayerInput {
    /// Unique code; cannot change later.
    #[schema(example = "SANITAS")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// Name.
    #[schema(example = "Sanitas Seguros")]
    #[schema(pattern = r"\S", max_length = 200)]
    pub name: String,
    /// Kind.
    pub kind: PayerKind,
    /// Tax id.
    pub tax_id: Option<String>,
    /// Payer id for electronic claims.
    pub payer_identifier: Option<String>,
    /// Other identifiers.
    #[serde(default, deserialize_with = "objects")]
    pub identifiers: Vec<Identifier>,
    /// Address.
    #[serde(default, deserialize_with = "object")]
    pub address: Address,
    /// Billing contact.
    #[serde(default, deserialize_with = "object")]
    pub contact: Contact,
    /// Default true.
    pub active: Option<bool>,
}

/// A validated payer.
#[derive(Debug, Clone)]
pub struct NewPayer {
    code: Code,
    name: String,
    input: PayerInput,
}

impl PayerInput {
    /// Validates every field.
    pub fn validate(mut self) -> Result<NewPayer, Error> {
        let mut v = Validation::new();
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let name = v.text("name", &self.name, 200);
        self.tax_id = v.opt_text("tax_id", self.tax_id.as_deref(), 50);
        self.payer_identifier =
            v.opt_text("payer_identifier", self.payer_identifier.as_deref(), 80);
        validate_identifiers(&self.identifiers, "identifiers", &mut v);
        self.address.validate("address", &mut v);
        self.contact.validate("contact", &mut v);
        v.finish().map_err(Error::validation)?;
        match (code, name) {
            (Some(code), Some(name)) => Ok(NewPayer {
                code,
                name,
                input: self,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = payers)]
struct Row {
    id: String,
    code: String,
    name: String,
    kind: String,
    tax_id: Option<String>,
    payer_identifier: Option<String>,
    identifiers: String,
    address: String,
    contact: String,
    active: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl From<Row> for Payer {
    fn from(r: Row) -> Self {
        Payer {
            id: r.id,
            code: r.code,
            name: r.name,
            kind: r.kind.parse().unwrap_or(PayerKind::Other),
            tax_id: r.tax_id,
            payer_identifier: r.payer_identifier,
            identifiers: from_text(&r.identifiers),
            address: from_text(&r.address),
            contact: from_text(&r.contact),
            active: r.active,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        }
    }
}

/// Loads a payer.
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Payer, Error> {
    payers::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Payer::from)
        .ok_or_else(|| Error::not_found("payer"))
}

fn create(conn: &mut AnyConnection, who: &Principal, p: NewPayer) -> Result<Payer, Error> {
    let taken: i64 = payers::table
        .filter(payers::code.eq(p.code.as_str()))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("a payer with code {} already exists", p.code),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    let i = &p.input;
    diesel::insert_into(payers::table)
        .values((
            payers::id.eq(&id),
            payers::code.eq(p.code.as_str()),
            payers::name.eq(&p.name),
            payers::kind.eq(i.kind.as_str()),
            payers::tax_id.eq(&i.tax_id),
            payers::payer_identifier.eq(&i.payer_identifier),
            payers::identifiers.eq(to_text(&i.identifiers)),
            payers::address.eq(to_text(&i.address)),
            payers::contact.eq(to_text(&i.contact)),
            payers::active.eq(i.active.unwrap_or(true)),
            payers::created_at.eq(now),
            payers::updated_at.eq(now),
        ))
        .execute(conn)?;
    let created = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "create",
        "payer",
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
    p: NewPayer,
) -> Result<Payer, Error> {
    let before = get(conn, id)?;
    if before.code != p.code.as_str() {
        return Err(Error::field(
            "code",
            "immutable",
            "a payer's code cannot change",
        ));
    }
    let i = &p.input;
    diesel::update(payers::table.find(id))
        .set((
            payers::name.eq(&p.name),
            payers::kind.eq(i.kind.as_str()),
            payers::tax_id.eq(&i.tax_id),
            payers::payer_identifier.eq(&i.payer_identifier),
            payers::identifiers.eq(to_text(&i.identifiers)),
            payers::address.eq(to_text(&i.address)),
            payers::contact.eq(to_text(&i.contact)),
            payers::active.eq(i.active.unwrap_or(true)),
            payers::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    let after = get(conn, id)?;
    audit::record(
        conn,
        who,
        "update",
        "payer",
        id,
        serde_json::json!({ "before": before, "after": after }),
        None,
    )?;
    Ok(after)
}

/// Filters for the payer list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayerFilter {
    /// Only payers of this kind.
    pub kind: Option<PayerKind>,
    /// Only the payer with this code.
    pub code: Option<String>,
}

fn list(
    conn: &mut AnyConnection,
    filter: &PayerFilter,
    page: &PageRequest,
) -> Result<Page<Payer>, Error> {
    let mut q = payers::table.select(Row::as_select()).into_boxed();
    if let Some(k) = filter.kind {
        q = q.filter(payers::kind.eq(k.as_str()));
    }
    if let Some(c) = &filter.code {
        q = q.filter(payers::code.eq(c.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(payers::id.gt(after.clone()));
    }
    let rows = q
        .order(payers::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone()).map(Payer::from))
}

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Integration,
];

/// Create a payer.
#[utoipa::path(post, path = "/v1/payers", tag = "payers", request_body = PayerInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created", body = Payer),
        (status = 409, description = "Code taken or Idempotency-Key reused", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_payer(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PayerInput>,
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

/// Replace a payer's details (its code cannot change).
#[utoipa::path(put, path = "/v1/payers/{id}", tag = "payers", request_body = PayerInput,
    params(("id" = String, Path, description = "Payer id")),
    responses((status = 200, description = "Updated", body = Payer),
        (status = 404, description = "No such payer", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn replace_payer(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<PayerInput>,
) -> Result<web::Json<Payer>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value.validate()?;
    let id = id.into_inner();
    Ok(web::Json(
        state
            .db
            .write(move |conn| conn.transaction(|conn| replace(conn, &who, &id, input)))
            .await?,
    ))
}

/// Get a payer.
#[utoipa::path(get, path = "/v1/payers/{id}", tag = "payers",
    params(("id" = String, Path, description = "Payer id")),
    responses((status = 200, description = "The payer", body = Payer),
        (status = 404, description = "No such payer", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_payer(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Payer>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "payer")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &id.to_string()))
            .await?,
    ))
}

/// List payers.
#[utoipa::path(get, path = "/v1/payers", tag = "payers", params(PayerFilter, PageParams),
    responses((status = 200, description = "A page of payers", body = Page<Payer>)),
    security(("bearer" = [])))]
pub async fn list_payers(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<PayerFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Payer>>, Error> {
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
