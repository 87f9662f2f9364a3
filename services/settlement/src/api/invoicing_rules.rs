//! Invoicing rules (seed 003) as configuration: invoice contexts, rules kept as versions (a rule
//! in use is never edited in place — a change is a new version, and every earlier version stays
//! readable), and the institution × rule matrix that activates a rule per location. What a rule
//! means is [`carebill_domain::rules`]; billing runs that apply rules come with a later step of
//! issue 4.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::rules::RuleDefinition;
use carebill_domain::{Code, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, Page, PageParams};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::service::rules::{self, ActivationRow, ContextRecord, RuleRecord};

const WRITERS: &[Role] = &[Role::BillingManager];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

/// One version of an invoicing rule.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Rule {
    /// The rule's id (the same for all its versions).
    pub id: String,
    /// The rule's code (its number).
    #[schema(example = "CARE-L")]
    pub code: String,
    /// Version, from 1; each change makes the next.
    pub version: i32,
    /// Whether this is the rule's latest version.
    pub current: bool,
    /// How many linked rules it has.
    pub linked_rule_count: usize,
    /// Why this version was made.
    pub reason: Option<String>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Send as `If-Match` to change the rule (also the `ETag` header).
    #[schema(example = "\"v1\"")]
    pub etag: String,
    /// The rule as configured in this version (every field of seed 003); a change sends it
    /// back, modified, as `rule`.
    pub rule: RuleDefinition,
}

/// A change of a rule: the whole new definition and why.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleChange {
    /// Why the rule changes (required; kept with the version).
    #[schema(example = "new tariff from 1 July")]
    pub reason: String,
    /// The new definition; its `code` must be the rule's.
    pub rule: RuleDefinition,
}

/// Who an invoice context bills.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceContext {
    /// Code, e.g. `beneficiary`, `insurance`, `public_authority`.
    pub code: String,
    /// Name.
    pub name: String,
    /// `patient` or `payer`.
    pub party: String,
    /// The payer billed, for a context that always bills one payer.
    pub payer_code: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
}

/// A new invoice context.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceContextInput {
    /// Code.
    #[schema(example = "canton_zh")]
    pub code: String,
    /// Name.
    #[schema(example = "Canton of Zurich")]
    pub name: String,
    /// `patient` or `payer`.
    #[schema(example = "payer")]
    pub party: String,
    /// The payer billed (payer contexts only).
    pub payer_code: Option<String>,
}

/// Whether a rule bills at a location.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Activation {
    /// The location (institution).
    pub location_code: String,
    /// The rule.
    pub rule_code: String,
    /// Enabled there.
    pub enabled: bool,
    /// Who changed it last.
    pub changed_by: String,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// Enables or disables a rule at a location.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationInput {
    /// Enabled.
    pub enabled: bool,
}

impl From<RuleRecord> for Rule {
    fn from(r: RuleRecord) -> Self {
        Rule {
            id: r.id,
            code: r.code,
            version: r.version,
            current: r.current,
            linked_rule_count: r.linked_rule_count,
            reason: r.reason,
            created_by: r.created_by,
            created_at: r.created_at,
            etag: r.etag,
            rule: r.rule,
        }
    }
}

impl From<ContextRecord> for InvoiceContext {
    fn from(c: ContextRecord) -> Self {
        InvoiceContext {
            code: c.code,
            name: c.name,
            party: c.party,
            payer_code: c.payer_code,
            created_at: c.created_at,
        }
    }
}

impl From<ActivationRow> for Activation {
    fn from(r: ActivationRow) -> Self {
        Activation {
            location_code: r.location_code,
            rule_code: r.rule_code,
            enabled: r.enabled,
            changed_by: r.changed_by,
            changed_at: r.changed_at.and_utc(),
        }
    }
}

/// A response with the rule and its `ETag`.
fn with_etag(rule: &Rule, status: StatusCode) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", rule.etag.clone()))
        .json(rule)
}

fn parse_code(raw: &str, what: &str) -> Result<Code, Error> {
    Code::parse(raw).map_err(|_| Error::not_found(what))
}

/// Filters for the rule list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RuleFilter {
    /// Rules reading this source, e.g. `stay`.
    pub source: Option<String>,
    /// Rules billing this invoice context.
    pub invoice_context: Option<String>,
    /// Rules of this service group.
    pub service_group: Option<String>,
    /// Rules active on this day (by their dates).
    pub active_on: Option<NaiveDate>,
}

/// Create an invoicing rule (version 1). Every field of seed 003; the invoice contexts must
/// exist. It bills nowhere until it is activated for a location.
#[utoipa::path(post, path = "/v1/invoicing-rules", tag = "invoicing rules", request_body = RuleDefinition,
    responses((status = 201, description = "Created", body = Rule,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 409, description = "A rule with this code exists", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_rule(
    state: web::Data<SettlementState>,
    who: Principal,
    body: JsonBody<RuleDefinition>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let rule = body.value;
    let created = state
        .db
        .write(move |conn| rules::create(conn, &who, rule))
        .await?;
    Ok(with_etag(&created.into(), StatusCode::CREATED))
}

/// Change a rule: a new version with the whole new definition and a reason. Needs `If-Match`
/// with the current version's `ETag`. Sending the current definition again changes nothing.
#[utoipa::path(put, path = "/v1/invoicing-rules/{code}", tag = "invoicing rules", request_body = RuleChange,
    params(("code" = String, Path, description = "Rule code"),
        ("If-Match" = String, Header, description = "The rule's ETag")),
    responses((status = 200, description = "The new version (or the current one, unchanged)", body = Rule,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 412, description = "The rule changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn change_rule(
    state: web::Data<SettlementState>,
    req: HttpRequest,
    who: Principal,
    code: web::Path<String>,
    body: JsonBody<RuleChange>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let code = parse_code(&code, "invoicing rule")?.to_string();
    let expected = carebill_platform::http::if_match_value(&req);
    let input = body.value;
    let rule = state
        .db
        .write(move |conn| rules::change(conn, &who, &code, expected, &input.reason, input.rule))
        .await?;
    Ok(with_etag(&rule.into(), StatusCode::OK))
}

/// The current version of a rule.
#[utoipa::path(get, path = "/v1/invoicing-rules/{code}", tag = "invoicing rules",
    params(("code" = String, Path, description = "Rule code")),
    responses((status = 200, description = "The rule's current version", body = Rule,
        headers(("ETag" = String, description = "Send as If-Match to change it")))),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_rule(
    state: web::Data<SettlementState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let code = parse_code(&code, "invoicing rule")?.to_string();
    let rule = state
        .db
        .read(move |conn| rules::current(conn, &code))
        .await?;
    Ok(with_etag(&rule.into(), StatusCode::OK))
}

/// Every version of a rule, oldest first.
#[utoipa::path(get, path = "/v1/invoicing-rules/{code}/versions", tag = "invoicing rules",
    params(("code" = String, Path, description = "Rule code")),
    responses((status = 200, description = "Its versions", body = Vec<Rule>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_rule_versions(
    state: web::Data<SettlementState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<web::Json<Vec<Rule>>, Error> {
    who.require(READERS)?;
    let code = parse_code(&code, "invoicing rule")?.to_string();
    let versions = state
        .db
        .read(move |conn| rules::versions(conn, &code))
        .await?;
    Ok(web::Json(versions.into_iter().map(Rule::from).collect()))
}

/// One version of a rule.
#[utoipa::path(get, path = "/v1/invoicing-rules/{code}/versions/{version}", tag = "invoicing rules",
    params(("code" = String, Path, description = "Rule code"),
        ("version" = i32, Path, description = "Version, from 1")),
    responses((status = 200, description = "That version", body = Rule)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_rule_version(
    state: web::Data<SettlementState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<web::Json<Rule>, Error> {
    who.require(READERS)?;
    let (code, version) = path.into_inner();
    let code = parse_code(&code, "invoicing rule")?.to_string();
    let version: i32 = version
        .parse()
        .map_err(|_| Error::not_found("rule version"))?;
    let rule = state
        .db
        .read(move |conn| rules::version(conn, &code, version))
        .await?;
    Ok(web::Json(rule.into()))
}

/// List rules (their current versions), oldest rule first.
#[utoipa::path(get, path = "/v1/invoicing-rules", tag = "invoicing rules", params(RuleFilter, PageParams),
    responses((status = 200, description = "A page of rules", body = Page<Rule>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_rules(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<RuleFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Rule>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let f = filter.into_inner();
    let filter = rules::RuleFilter {
        source: f.source,
        invoice_context: f.invoice_context,
        service_group: f.service_group,
        active_on: f.active_on,
    };
    let (found, page) = state
        .db
        .read(move |conn| {
            rules::list(conn, &filter, page.after.as_deref(), page.limit + 1).map(|r| (r, page))
        })
        .await?;
    let found: Vec<Rule> = found.into_iter().map(Rule::from).collect();
    Ok(web::Json(Page::from_rows(found, &page, |r| r.id.clone())))
}

/// The invoice contexts rules can bill (three come built in).
#[utoipa::path(get, path = "/v1/invoice-contexts", tag = "invoicing rules",
    responses((status = 200, description = "Every context", body = Vec<InvoiceContext>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_contexts(
    state: web::Data<SettlementState>,
    who: Principal,
) -> Result<web::Json<Vec<InvoiceContext>>, Error> {
    who.require(READERS)?;
    let found = state.db.read(rules::contexts).await?;
    Ok(web::Json(found.into_iter().map(Into::into).collect()))
}

/// Add an invoice context (e.g. a canton that pays part of the care).
#[utoipa::path(post, path = "/v1/invoice-contexts", tag = "invoicing rules", request_body = InvoiceContextInput,
    responses((status = 201, description = "Created", body = InvoiceContext),
        (status = 409, description = "A context with this code exists", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_context(
    state: web::Data<SettlementState>,
    who: Principal,
    body: JsonBody<InvoiceContextInput>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value;
    let mut v = Validation::new();
    let code = v.check("code", "invalid", Code::parse(&input.code));
    let name = v.text("name", &input.name, 200);
    if !matches!(input.party.as_str(), "patient" | "payer") {
        v.add("party", "invalid", "`patient` or `payer`");
    }
    let payer = match input.payer_code.as_deref() {
        None => None,
        Some(_) if input.party == "patient" => {
            v.add(
                "payer_code",
                "not_allowed",
                "a patient context bills no payer",
            );
            None
        }
        Some(p) => v.check("payer_code", "invalid", Code::parse(p)),
    };
    v.finish().map_err(Error::validation)?;
    let (Some(code), Some(name)) = (code, name) else {
        return Err(Error::internal(&"validation passed without values"));
    };
    let party = input.party;
    let created = state
        .db
        .write(move |conn| rules::create_context(conn, &who, &code, &name, &party, payer.as_ref()))
        .await?;
    let created = InvoiceContext::from(created);
    Ok(HttpResponse::Created().json(created))
}

/// Filters for the activation matrix.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivationFilter {
    /// One location's column of the matrix.
    pub location_code: Option<String>,
    /// One rule's row.
    pub rule_code: Option<String>,
}

/// The institution × rule matrix: where each rule is enabled (a rule without an entry for a
/// location does not bill there).
#[utoipa::path(get, path = "/v1/invoicing-rule-activations", tag = "invoicing rules", params(ActivationFilter),
    responses((status = 200, description = "The entries", body = Vec<Activation>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_activations(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<ActivationFilter>,
) -> Result<web::Json<Vec<Activation>>, Error> {
    who.require(READERS)?;
    let f = filter.into_inner();
    let scope = Scope::of(&who);
    let rows = state
        .db
        .read(move |conn| {
            rules::activations(
                conn,
                &scope,
                f.location_code.as_deref(),
                f.rule_code.as_deref(),
            )
        })
        .await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// Enable or disable a rule at a location (the rule's own dates still apply).
#[utoipa::path(put, path = "/v1/invoicing-rule-activations/{location_code}/{rule_code}", tag = "invoicing rules",
    request_body = ActivationInput,
    params(("location_code" = String, Path, description = "Location (institution) code"),
        ("rule_code" = String, Path, description = "Rule code")),
    responses((status = 200, description = "The entry", body = Activation),
        (status = 409, description = "Another rule enabled at the location bills the same slot on common days", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn set_activation(
    state: web::Data<SettlementState>,
    who: Principal,
    path: web::Path<(String, String)>,
    body: JsonBody<ActivationInput>,
) -> Result<web::Json<Activation>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let (location, rule) = path.into_inner();
    let location = parse_code(&location, "location")?.to_string();
    let rule = parse_code(&rule, "invoicing rule")?.to_string();
    let enabled = body.value.enabled;
    let row = state
        .db
        .write(move |conn| rules::set_activation(conn, &who, &location, &rule, enabled))
        .await?;
    Ok(web::Json(Activation::from(row)))
}
