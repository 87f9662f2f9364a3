//! Coverage terms: what a payer (optionally for one plan) pays of a line — a covered percentage
//! of what is left after the copay (and the yearly deductible), a fixed copay per line and/or
//! per episode, caps per episode and per year, pre-authorizations, and service groups it does
//! not cover. One set of terms per payer and plan; a set without a plan applies
//! to every plan of that payer that has none of its own.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::{Code, Currency, MinorUnits, Money, Validation};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, parse_id,
};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::schema::coverage_terms;
use crate::store::unreadable;
use carebill_domain::stored::{json, parse};

/// Coverage terms as the API shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Terms {
    /// Id.
    pub id: String,
    /// The payer (code).
    #[schema(example = "SANITAS")]
    pub payer_code: String,
    /// The plan (code); absent for the payer's default terms.
    #[schema(example = "GOLD")]
    pub plan_code: Option<String>,
    /// Percentage covered of what is left after the copay, a decimal string 0–100.
    #[schema(value_type = String, example = "80")]
    pub covered_percent: Decimal,
    /// Currency of the copays.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Copay the patient pays on every line.
    pub copay_per_line: Option<Money>,
    /// Copay the patient pays once per episode.
    pub copay_per_episode: Option<Money>,
    /// Service groups the payer does not cover.
    pub excluded_service_groups: Vec<String>,
    /// The most the payer pays in one episode.
    pub cap_per_episode: Option<Money>,
    /// Service groups the payer pays only with a pre-authorization: a line without an
    /// `authorization_number` attribute is flagged (`authorization_missing`), not paid.
    pub preauthorization_service_groups: Vec<String>,
    /// What the patient pays each calendar year before the payer pays anything, counted across
    /// all the patient's episodes (after the copay).
    pub deductible_per_year: Option<Money>,
    /// The most the payer pays for a patient in one calendar year, across all episodes.
    pub cap_per_year: Option<Money>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to create or replace coverage terms.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TermsInput {
    /// The payer (code); cannot change later.
    #[schema(example = "SANITAS", pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub payer_code: String,
    /// The plan (code); cannot change later.
    #[schema(example = "GOLD")]
    pub plan_code: Option<String>,
    /// 0 to 100, at most 4 decimals.
    #[schema(schema_with = carebill_platform::http::decimal_input)]
    pub covered_percent: Decimal,
    /// Currency of the copays (default EUR).
    #[schema(example = "EUR")]
    pub currency: Option<String>,
    /// Copay per line, in `currency`.
    pub copay_per_line: Option<Money>,
    /// Copay per episode, in `currency`.
    pub copay_per_episode: Option<Money>,
    /// Service groups not covered.
    #[serde(default)]
    pub excluded_service_groups: Vec<String>,
    /// The most the payer pays in one episode, in `currency`.
    pub cap_per_episode: Option<Money>,
    /// Service groups paid only with a pre-authorization number on the line.
    #[serde(default)]
    pub preauthorization_service_groups: Vec<String>,
    /// Yearly deductible per patient, in `currency`.
    pub deductible_per_year: Option<Money>,
    /// Yearly cap per patient, in `currency`.
    pub cap_per_year: Option<Money>,
}

struct NewTerms {
    payer: Code,
    plan: String,
    currency: Currency,
    copay_per_line: Option<i64>,
    copay_per_episode: Option<i64>,
    groups: Vec<String>,
    percent: Decimal,
    cap: Option<i64>,
    preauth: Vec<String>,
    deductible_per_year: Option<i64>,
    cap_per_year: Option<i64>,
}

impl TermsInput {
    fn validate(self) -> Result<NewTerms, Error> {
        let mut v = Validation::new();
        let payer = v.check("payer_code", "invalid", Code::parse(&self.payer_code));
        let plan = match self.plan_code.as_deref().map(str::trim) {
            None | Some("") => Some(String::new()),
            Some(p) => v
                .check("plan_code", "invalid", Code::parse(p))
                .map(String::from),
        };
        let percent = self.covered_percent.normalize();
        if percent < Decimal::ZERO || percent > Decimal::ONE_HUNDRED || percent.scale() > 4 {
            v.add(
                "covered_percent",
                "out_of_range",
                "must be between 0 and 100 with at most 4 decimals",
            );
        }
        let currency = v.check(
            "currency",
            "invalid",
            Currency::parse(self.currency.as_deref().unwrap_or("EUR")),
        );
        let mut copay = |field: &str, m: &Option<Money>| -> Option<i64> {
            let m = m.as_ref()?;
            if currency.is_some_and(|c| c != m.currency()) {
                v.add(
                    format!("{field}.currency"),
                    "mismatch",
                    "must be the terms' currency",
                );
                return None;
            }
            if m.amount().is_sign_negative() {
                v.add(
                    format!("{field}.amount"),
                    "negative",
                    "must not be negative",
                );
                return None;
            }
            m.to_minor().ok().map(|u| u.0)
        };
        let copay_per_line = copay("copay_per_line", &self.copay_per_line);
        let copay_per_episode = copay("copay_per_episode", &self.copay_per_episode);
        let cap = copay("cap_per_episode", &self.cap_per_episode);
        let deductible_per_year = copay("deductible_per_year", &self.deductible_per_year);
        let cap_per_year = copay("cap_per_year", &self.cap_per_year);
        let mut codes = |field: &str, list: &[String]| {
            let mut out = Vec::new();
            for (i, g) in list.iter().enumerate() {
                if let Some(c) = v.check(&format!("{field}.{i}"), "invalid", Code::parse(g)) {
                    out.push(c.to_string());
                }
            }
            out.sort();
            out.dedup();
            out
        };
        let groups = codes("excluded_service_groups", &self.excluded_service_groups);
        let preauth = codes(
            "preauthorization_service_groups",
            &self.preauthorization_service_groups,
        );
        v.finish().map_err(Error::validation)?;
        match (payer, plan, currency) {
            (Some(payer), Some(plan), Some(currency)) => Ok(NewTerms {
                payer,
                plan,
                currency,
                copay_per_line,
                copay_per_episode,
                groups,
                percent,
                cap,
                preauth,
                deductible_per_year,
                cap_per_year,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = coverage_terms)]
struct Row {
    id: String,
    payer_code: String,
    plan_code: String,
    covered_percent: String,
    currency: String,
    copay_per_line_minor: Option<i64>,
    copay_per_episode_minor: Option<i64>,
    excluded_service_groups: String,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    cap_per_episode_minor: Option<i64>,
    preauthorization_groups: String,
    deductible_per_year_minor: Option<i64>,
    cap_per_year_minor: Option<i64>,
}

impl TryFrom<Row> for Terms {
    type Error = Error;

    fn try_from(r: Row) -> Result<Self, Error> {
        let currency = Currency::parse(&r.currency)
            .map_err(|e| Error::stored("coverage terms currency", &r.currency, e))?;
        let money = |m: Option<i64>| m.map(|u| Money::from_minor(MinorUnits(u), currency));
        Ok(Terms {
            id: r.id,
            payer_code: r.payer_code,
            plan_code: (!r.plan_code.is_empty()).then_some(r.plan_code),
            covered_percent: parse("coverage terms covered percent", &r.covered_percent)
                .map_err(unreadable)?,
            currency: r.currency,
            copay_per_line: money(r.copay_per_line_minor),
            copay_per_episode: money(r.copay_per_episode_minor),
            excluded_service_groups: json(
                "coverage terms excluded groups",
                &r.excluded_service_groups,
            )
            .map_err(unreadable)?,
            cap_per_episode: money(r.cap_per_episode_minor),
            preauthorization_service_groups: json(
                "coverage terms preauthorization groups",
                &r.preauthorization_groups,
            )
            .map_err(unreadable)?,
            deductible_per_year: money(r.deductible_per_year_minor),
            cap_per_year: money(r.cap_per_year_minor),
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

fn get(conn: &mut AnyConnection, id: &str) -> Result<Terms, Error> {
    coverage_terms::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Terms::try_from)
        .ok_or_else(|| Error::not_found("coverage terms"))?
}

fn create(conn: &mut AnyConnection, who: &Principal, t: NewTerms) -> Result<Terms, Error> {
    who.require_unscoped("coverage terms are organisation-wide")?;
    let taken: i64 = coverage_terms::table
        .filter(coverage_terms::payer_code.eq(t.payer.as_str()))
        .filter(coverage_terms::plan_code.eq(&t.plan))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            "terms for this payer and plan exist; change them instead",
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    diesel::insert_into(coverage_terms::table)
        .values((
            coverage_terms::id.eq(&id),
            coverage_terms::payer_code.eq(t.payer.as_str()),
            coverage_terms::plan_code.eq(&t.plan),
            coverage_terms::covered_percent.eq(t.percent.to_string()),
            coverage_terms::currency.eq(t.currency.code()),
            coverage_terms::copay_per_line_minor.eq(t.copay_per_line),
            coverage_terms::copay_per_episode_minor.eq(t.copay_per_episode),
            coverage_terms::excluded_service_groups.eq(serde_json::to_string(&t.groups)?),
            coverage_terms::cap_per_episode_minor.eq(t.cap),
            coverage_terms::preauthorization_groups.eq(serde_json::to_string(&t.preauth)?),
            coverage_terms::deductible_per_year_minor.eq(t.deductible_per_year),
            coverage_terms::cap_per_year_minor.eq(t.cap_per_year),
            coverage_terms::created_at.eq(now),
            coverage_terms::updated_at.eq(now),
        ))
        .execute(conn)?;
    let created = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "create",
        "coverage_terms",
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
    t: NewTerms,
) -> Result<Terms, Error> {
    who.require_unscoped("coverage terms are organisation-wide")?;
    let before = get(conn, id)?;
    if before.payer_code != t.payer.as_str()
        || before.plan_code.clone().unwrap_or_default() != t.plan
    {
        return Err(Error::field(
            "payer_code",
            "immutable",
            "payer and plan of terms cannot change",
        ));
    }
    diesel::update(coverage_terms::table.find(id))
        .set((
            coverage_terms::covered_percent.eq(t.percent.to_string()),
            coverage_terms::currency.eq(t.currency.code()),
            coverage_terms::copay_per_line_minor.eq(t.copay_per_line),
            coverage_terms::copay_per_episode_minor.eq(t.copay_per_episode),
            coverage_terms::excluded_service_groups.eq(serde_json::to_string(&t.groups)?),
            coverage_terms::cap_per_episode_minor.eq(t.cap),
            coverage_terms::preauthorization_groups.eq(serde_json::to_string(&t.preauth)?),
            coverage_terms::deductible_per_year_minor.eq(t.deductible_per_year),
            coverage_terms::cap_per_year_minor.eq(t.cap_per_year),
            coverage_terms::updated_at.eq(db::now()),
        ))
        .execute(conn)?;
    let after = get(conn, id)?;
    audit::record(
        conn,
        who,
        "update",
        "coverage_terms",
        id,
        serde_json::json!({ "before": before, "after": after }),
        None,
    )?;
    Ok(after)
}

/// Filters for the terms list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TermsFilter {
    /// Terms of this payer.
    pub payer_code: Option<String>,
}

fn list(
    conn: &mut AnyConnection,
    f: &TermsFilter,
    page: &PageRequest,
) -> Result<Page<Terms>, Error> {
    let mut q = coverage_terms::table.select(Row::as_select()).into_boxed();
    if let Some(p) = &f.payer_code {
        q = q.filter(coverage_terms::payer_code.eq(p.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(coverage_terms::id.gt(after.clone()));
    }
    let rows = q
        .order(coverage_terms::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    let terms = rows
        .into_iter()
        .map(Terms::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_rows(terms, page, |t| t.id.clone()))
}

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

/// Define a payer's coverage terms (for one plan or as its default).
#[utoipa::path(post, path = "/v1/coverage-terms", tag = "coverage terms", request_body = TermsInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Created", body = Terms),
        (status = 409, description = "Terms for this payer and plan exist", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_terms(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<TermsInput>,
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

/// Change coverage terms (payer and plan stay).
#[utoipa::path(put, path = "/v1/coverage-terms/{id}", tag = "coverage terms", request_body = TermsInput,
    params(("id" = String, Path, description = "Terms id")),
    responses((status = 200, description = "Updated", body = Terms)),
    security(("bearer" = [])))]
pub async fn replace_terms(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<TermsInput>,
) -> Result<web::Json<Terms>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value.validate()?;
    let id: uuid::Uuid = parse_id(&id, "coverage terms")?;
    Ok(web::Json(
        state
            .db
            .write(move |conn| conn.transaction(|conn| replace(conn, &who, &id.to_string(), input)))
            .await?,
    ))
}

/// Get coverage terms.
#[utoipa::path(get, path = "/v1/coverage-terms/{id}", tag = "coverage terms",
    params(("id" = String, Path, description = "Terms id")),
    responses((status = 200, description = "The terms", body = Terms)),
    security(("bearer" = [])))]
pub async fn get_terms(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Terms>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "coverage terms")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &id.to_string()))
            .await?,
    ))
}

/// List coverage terms.
#[utoipa::path(get, path = "/v1/coverage-terms", tag = "coverage terms", params(TermsFilter, PageParams),
    responses((status = 200, description = "A page of terms", body = Page<Terms>)),
    security(("bearer" = [])))]
pub async fn list_terms(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<TermsFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Terms>>, Error> {
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
