//! Coverage terms: what a payer (optionally for one plan) pays of a line — a covered percentage
//! of what is left after the copay (and the yearly deductible), a fixed copay per line and/or
//! per episode, caps per episode and per year, pre-authorizations, and service groups it does
//! not cover. One set of terms per payer and plan; a set without a plan applies
//! to every plan of that payer that has none of its own.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::settlement::{Coordination, PartKind};
use carebill_domain::{Code, Currency, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::service::terms::{self, NewTerms, TermsRecord};

impl From<TermsRecord> for Terms {
    fn from(t: TermsRecord) -> Self {
        Terms {
            id: t.id,
            payer_code: t.payer_code,
            plan_code: t.plan_code,
            covered_percent: t.covered_percent,
            currency: t.currency,
            copay_per_line: t.copay_per_line,
            copay_per_episode: t.copay_per_episode,
            excluded_service_groups: t.excluded_service_groups,
            cap_per_episode: t.cap_per_episode,
            preauthorization_service_groups: t.preauthorization_service_groups,
            deductible_per_year: t.deductible_per_year,
            cap_per_year: t.cap_per_year,
            coordination: t.coordination,
            supplemental_parts: t.supplemental_parts,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

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
    /// How the payer pays when it is not the first payer of a line (coordination of benefits):
    /// `sequential` (its own terms on what reaches it), `standard`, `non_duplication` or
    /// `supplemental`. See docs/reference/coordination-of-benefits.md.
    pub coordination: Coordination,
    /// For `supplemental`: the parts of the patient responsibility left by the payers before it
    /// that the plan pays (its covered percentage of them, up to its caps).
    pub supplemental_parts: Vec<PartKind>,
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
    /// How the payer pays when it is not the first payer of a line: `sequential` (the
    /// default), `standard`, `non_duplication` or `supplemental`. A payer's default terms must
    /// use the method of its plan terms.
    #[schema(example = "supplemental")]
    pub coordination: Option<String>,
    /// For `supplemental` (and only for it), at least one of `copay`, `deductible`,
    /// `coinsurance`.
    #[serde(default)]
    #[schema(example = json!(["coinsurance"]))]
    pub supplemental_parts: Vec<String>,
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
        let coordination = match self.coordination.as_deref().map(str::trim) {
            None | Some("") => Some(Coordination::Sequential),
            Some(m) => v.check("coordination", "unknown", m.parse::<Coordination>()),
        };
        let allowed = [PartKind::Copay, PartKind::Deductible, PartKind::Coinsurance];
        let mut supplemental_parts = Vec::new();
        for (i, p) in self.supplemental_parts.iter().enumerate() {
            match p.trim().parse::<PartKind>() {
                Ok(k) if allowed.contains(&k) => supplemental_parts.push(k),
                _ => v.add(
                    format!("supplemental_parts.{i}"),
                    "unknown",
                    "must be one of copay, deductible, coinsurance",
                ),
            }
        }
        supplemental_parts.sort_by_key(|k| k.as_str());
        supplemental_parts.dedup();
        match coordination {
            Some(Coordination::Supplemental) if self.supplemental_parts.is_empty() => v.add(
                "supplemental_parts",
                "required",
                "a supplemental plan must name the parts it pays: any of copay, deductible, coinsurance",
            ),
            Some(m) if m != Coordination::Supplemental && !self.supplemental_parts.is_empty() => {
                v.add(
                    "supplemental_parts",
                    "not_supplemental",
                    "parts are named only with the supplemental method",
                )
            }
            _ => {}
        }
        v.finish().map_err(Error::validation)?;
        match (payer, plan, currency, coordination) {
            (Some(payer), Some(plan), Some(currency), Some(coordination)) => Ok(NewTerms {
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
                coordination,
                supplemental_parts,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Filters for the terms list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TermsFilter {
    /// Terms of this payer.
    pub payer_code: Option<String>,
}

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

/// Define a payer's coverage terms (for one plan or as its default).
#[utoipa::path(post, path = "/v1/coverage-terms", tag = "coverage terms", request_body = TermsInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Created", body = Terms),
        (status = 409, description = "Terms for this payer and plan exist", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
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
                terms::create(conn, &who, input).map(Terms::from)
            })
        })
        .await
}

/// Change coverage terms (payer and plan stay).
#[utoipa::path(put, path = "/v1/coverage-terms/{id}", tag = "coverage terms", request_body = TermsInput,
    params(("id" = String, Path, description = "Terms id")),
    responses((status = 200, description = "Updated", body = Terms)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
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
    let replaced = state
        .db
        .write(move |conn| terms::replace(conn, &who, &id.to_string(), input))
        .await?;
    Ok(web::Json(replaced.into()))
}

/// Get coverage terms.
#[utoipa::path(get, path = "/v1/coverage-terms/{id}", tag = "coverage terms",
    params(("id" = String, Path, description = "Terms id")),
    responses((status = 200, description = "The terms", body = Terms)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_terms(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Terms>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "coverage terms")?;
    let found = state
        .db
        .read(move |conn| terms::get(conn, &id.to_string()))
        .await?;
    Ok(web::Json(found.into()))
}

/// List coverage terms.
#[utoipa::path(get, path = "/v1/coverage-terms", tag = "coverage terms", params(TermsFilter, PageParams),
    responses((status = 200, description = "A page of terms", body = Page<Terms>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_terms(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<TermsFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Terms>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let payer = filter.into_inner().payer_code;
    let (found, page) = state
        .db
        .read(move |conn| {
            terms::list(
                conn,
                payer.as_deref(),
                page.after.as_deref(),
                page.limit + 1,
            )
            .map(|t| (t, page))
        })
        .await?;
    let found: Vec<Terms> = found.into_iter().map(Terms::from).collect();
    Ok(web::Json(Page::from_rows(found, &page, |t| t.id.clone())))
}
