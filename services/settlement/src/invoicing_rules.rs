//! Invoicing rules (seed 003) as configuration: invoice contexts, rules kept as versions (a rule
//! in use is never edited in place — a change is a new version, and every earlier version stays
//! readable), and the institution × rule matrix that activates a rule per location. What a rule
//! means is [`carebill_domain::rules`]; billing runs that apply rules come with a later step of
//! issue 4.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::rules::RuleDefinition;
use carebill_domain::{Code, Validation};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, Page, PageParams, PageRequest};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::schema::{invoice_contexts, invoicing_rule_activations, invoicing_rules};

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

#[derive(Queryable, Selectable)]
#[diesel(table_name = invoicing_rules)]
struct RuleRow {
    rule_id: String,
    version: i32,
    current: bool,
    definition: String,
    reason: Option<String>,
    created_by: String,
    created_at: NaiveDateTime,
}

impl RuleRow {
    fn into_rule(self) -> Result<Rule, Error> {
        let definition: RuleDefinition = serde_json::from_str(&self.definition)?;
        Ok(Rule {
            id: self.rule_id,
            code: definition.code.clone(),
            linked_rule_count: definition.linked_rules.len(),
            rule: definition,
            version: self.version,
            current: self.current,
            reason: self.reason,
            created_by: self.created_by,
            created_at: self.created_at.and_utc(),
            etag: etag(self.version),
        })
    }
}

fn etag(version: i32) -> String {
    format!("\"v{version}\"")
}

fn with_etag(rule: &Rule, status: StatusCode) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", rule.etag.clone()))
        .json(rule)
}

fn parse_code(raw: &str, what: &str) -> Result<Code, Error> {
    Code::parse(raw).map_err(|_| Error::not_found(what))
}

/// The field checks of the domain plus what only the database knows: the invoice contexts
/// exist. `prefix` is where the rule sits in the body (`rule` in a change).
pub(crate) fn validate(
    conn: &mut AnyConnection,
    rule: &RuleDefinition,
    prefix: &str,
) -> Result<(), Error> {
    let path = |field: &str| {
        if prefix.is_empty() {
            field.to_owned()
        } else {
            format!("{prefix}.{field}")
        }
    };
    let mut v = Validation::new();
    v.check(&path("code"), "invalid", Code::parse(&rule.code));
    for e in rule.validate().errors() {
        v.add(path(&e.field), &e.code, e.message.clone());
    }
    let known: Vec<String> = invoice_contexts::table
        .select(invoice_contexts::code)
        .load(conn)?;
    let unknown = |c: &str| !known.iter().any(|k| k == c);
    if unknown(&rule.invoice_context) {
        v.add(
            path("invoice_context"),
            "unknown_context",
            format!("no invoice context `{}`", rule.invoice_context),
        );
    }
    for (i, link) in rule.linked_rules.iter().enumerate() {
        if unknown(&link.context) {
            v.add(
                path(&format!("linked_rules.{i}.context")),
                "unknown_context",
                format!("no invoice context `{}`", link.context),
            );
        }
    }
    v.finish().map_err(Error::validation)
}

fn current(conn: &mut AnyConnection, code: &str) -> Result<Rule, Error> {
    invoicing_rules::table
        .filter(invoicing_rules::code.eq(code))
        .filter(invoicing_rules::current.eq(true))
        .select(RuleRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("invoicing rule"))?
        .into_rule()
}

fn insert_version(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    rule: &RuleDefinition,
    version: i32,
    reason: Option<&str>,
) -> Result<(), Error> {
    diesel::insert_into(invoicing_rules::table)
        .values((
            invoicing_rules::rule_id.eq(id),
            invoicing_rules::code.eq(&rule.code),
            invoicing_rules::version.eq(version),
            invoicing_rules::current.eq(true),
            invoicing_rules::definition.eq(serde_json::to_string(rule)?),
            invoicing_rules::source.eq(serde_json::to_value(rule.source)?
                .as_str()
                .ok_or_else(|| Error::internal(&"an invoicing source that is not a text"))?
                .to_owned()),
            invoicing_rules::invoice_context.eq(&rule.invoice_context),
            invoicing_rules::service_group.eq(&rule.service_group),
            invoicing_rules::active_from.eq(rule.active_from),
            invoicing_rules::inactive_from.eq(rule.inactive_from),
            invoicing_rules::reason.eq(reason),
            invoicing_rules::created_by.eq(&who.subject),
            invoicing_rules::created_at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

fn create(conn: &mut AnyConnection, who: &Principal, rule: RuleDefinition) -> Result<Rule, Error> {
    who.require_unscoped("invoicing rules are organisation-wide")?;
    validate(conn, &rule, "")?;
    db::lock_key(conn, &format!("invoicing_rule:{}", rule.code))?;
    let taken: i64 = invoicing_rules::table
        .filter(invoicing_rules::code.eq(&rule.code))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!(
                "rule {} exists; change it with PUT /v1/invoicing-rules/{}",
                rule.code, rule.code
            ),
        ));
    }
    insert_version(conn, who, &uuid::Uuid::now_v7().to_string(), &rule, 1, None)?;
    let created = current(conn, &rule.code)?;
    audit::record(
        conn,
        who,
        "create",
        "invoicing_rule",
        &rule.code,
        serde_json::json!({ "after": created }),
        None,
    )?;
    Ok(created)
}

/// Outcome of a change: a new version, or the current one when nothing changed.
enum Changed {
    New(Rule),
    Same(Rule),
}

fn change(
    conn: &mut AnyConnection,
    who: &Principal,
    code: &str,
    expected: Option<String>,
    input: RuleChange,
) -> Result<Changed, Error> {
    who.require_unscoped("invoicing rules are organisation-wide")?;
    db::lock_key(conn, &format!("invoicing_rule:{code}"))?;
    // An unknown rule is a 404 before the precondition is asked for.
    let before = current(conn, code)?;
    let expected = expected.ok_or_else(|| {
        carebill_platform::http::precondition_required(
            "of the rule (from GET /v1/invoicing-rules/{code})",
        )
    })?;
    if !carebill_platform::http::if_match_admits(&expected, &before.etag) {
        return Err(carebill_platform::http::precondition_failed(format!(
            "the rule changed since you read it (now {}); read it again",
            before.etag
        )));
    }
    let mut v = Validation::new();
    let reason = v.text("reason", &input.reason, 500);
    if input.rule.code != code {
        v.add(
            "rule.code",
            "immutable",
            "a rule keeps its code; create a new rule instead",
        );
    }
    v.finish().map_err(Error::validation)?;
    validate(conn, &input.rule, "rule")?;
    if input.rule == before.rule {
        return Ok(Changed::Same(before));
    }
    // The new version must not compete with another rule where this one is enabled.
    let locations: Vec<String> = invoicing_rule_activations::table
        .filter(invoicing_rule_activations::rule_code.eq(code))
        .filter(invoicing_rule_activations::enabled.eq(true))
        .select(invoicing_rule_activations::location_code)
        .load(conn)?;
    for location in &locations {
        refuse_conflicts(conn, location, &input.rule)?;
    }
    diesel::update(
        invoicing_rules::table
            .filter(invoicing_rules::code.eq(code))
            .filter(invoicing_rules::current.eq(true)),
    )
    .set(invoicing_rules::current.eq(false))
    .execute(conn)?;
    insert_version(
        conn,
        who,
        &before.id,
        &input.rule,
        before.version + 1,
        reason.as_deref(),
    )?;
    let after = current(conn, code)?;
    audit::record(
        conn,
        who,
        "update",
        "invoicing_rule",
        code,
        serde_json::json!({ "before": before, "after": after }),
        reason.as_deref(),
    )?;
    Ok(Changed::New(after))
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

fn list(conn: &mut AnyConnection, f: &RuleFilter, page: &PageRequest) -> Result<Page<Rule>, Error> {
    let mut q = invoicing_rules::table
        .filter(invoicing_rules::current.eq(true))
        .select((invoicing_rules::rule_id, RuleRow::as_select()))
        .into_boxed();
    if let Some(s) = &f.source {
        q = q.filter(invoicing_rules::source.eq(s.clone()));
    }
    if let Some(c) = &f.invoice_context {
        q = q.filter(invoicing_rules::invoice_context.eq(c.clone()));
    }
    if let Some(g) = &f.service_group {
        q = q.filter(invoicing_rules::service_group.eq(g.clone()));
    }
    if let Some(day) = f.active_on {
        q = q.filter(invoicing_rules::active_from.le(day)).filter(
            invoicing_rules::inactive_from
                .is_null()
                .or(invoicing_rules::inactive_from.gt(day)),
        );
    }
    if let Some(after) = &page.after {
        q = q.filter(invoicing_rules::rule_id.gt(after.clone()));
    }
    let rows: Vec<(String, RuleRow)> = q
        .order(invoicing_rules::rule_id.asc())
        .limit(page.limit + 1)
        .load(conn)?;
    let page = Page::from_rows(rows, page, |(id, _)| id.clone());
    let items = page
        .items
        .into_iter()
        .map(|(_, row)| row.into_rule())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

fn versions(conn: &mut AnyConnection, code: &str) -> Result<Vec<Rule>, Error> {
    let rows: Vec<RuleRow> = invoicing_rules::table
        .filter(invoicing_rules::code.eq(code))
        .order(invoicing_rules::version.asc())
        .select(RuleRow::as_select())
        .load(conn)?;
    if rows.is_empty() {
        return Err(Error::not_found("invoicing rule"));
    }
    rows.into_iter().map(RuleRow::into_rule).collect()
}

/// Create an invoicing rule (version 1). Every field of seed 003; the invoice contexts must
/// exist. It bills nowhere until it is activated for a location.
#[utoipa::path(post, path = "/v1/invoicing-rules", tag = "invoicing rules", request_body = RuleDefinition,
    responses((status = 201, description = "Created", body = Rule,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 409, description = "A rule with this code exists", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
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
        .write(move |conn| conn.transaction(|conn| create(conn, &who, rule)))
        .await?;
    Ok(with_etag(&created, StatusCode::CREATED))
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
    let outcome = state
        .db
        .write(move |conn| conn.transaction(|conn| change(conn, &who, &code, expected, input)))
        .await?;
    Ok(match outcome {
        Changed::New(rule) | Changed::Same(rule) => with_etag(&rule, StatusCode::OK),
    })
}

/// The current version of a rule.
#[utoipa::path(get, path = "/v1/invoicing-rules/{code}", tag = "invoicing rules",
    params(("code" = String, Path, description = "Rule code")),
    responses((status = 200, description = "The rule's current version", body = Rule,
        headers(("ETag" = String, description = "Send as If-Match to change it")))),
    security(("bearer" = [])))]
pub async fn get_rule(
    state: web::Data<SettlementState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let code = parse_code(&code, "invoicing rule")?.to_string();
    let rule = state.db.read(move |conn| current(conn, &code)).await?;
    Ok(with_etag(&rule, StatusCode::OK))
}

/// Every version of a rule, oldest first.
#[utoipa::path(get, path = "/v1/invoicing-rules/{code}/versions", tag = "invoicing rules",
    params(("code" = String, Path, description = "Rule code")),
    responses((status = 200, description = "Its versions", body = Vec<Rule>)),
    security(("bearer" = [])))]
pub async fn list_rule_versions(
    state: web::Data<SettlementState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<web::Json<Vec<Rule>>, Error> {
    who.require(READERS)?;
    let code = parse_code(&code, "invoicing rule")?.to_string();
    Ok(web::Json(
        state.db.read(move |conn| versions(conn, &code)).await?,
    ))
}

/// One version of a rule.
#[utoipa::path(get, path = "/v1/invoicing-rules/{code}/versions/{version}", tag = "invoicing rules",
    params(("code" = String, Path, description = "Rule code"),
        ("version" = i32, Path, description = "Version, from 1")),
    responses((status = 200, description = "That version", body = Rule)),
    security(("bearer" = [])))]
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
        .read(move |conn| {
            invoicing_rules::table
                .filter(invoicing_rules::code.eq(&code))
                .filter(invoicing_rules::version.eq(version))
                .select(RuleRow::as_select())
                .first(conn)
                .optional()?
                .ok_or_else(|| Error::not_found("rule version"))?
                .into_rule()
        })
        .await?;
    Ok(web::Json(rule))
}

/// List rules (their current versions), oldest rule first.
#[utoipa::path(get, path = "/v1/invoicing-rules", tag = "invoicing rules", params(RuleFilter, PageParams),
    responses((status = 200, description = "A page of rules", body = Page<Rule>)),
    security(("bearer" = [])))]
pub async fn list_rules(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<RuleFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Rule>>, Error> {
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

#[derive(Queryable, Selectable)]
#[diesel(table_name = invoice_contexts)]
struct ContextRow {
    code: String,
    name: String,
    party: String,
    payer_code: Option<String>,
    created_at: NaiveDateTime,
}

impl From<ContextRow> for InvoiceContext {
    fn from(r: ContextRow) -> Self {
        InvoiceContext {
            code: r.code,
            name: r.name,
            party: r.party,
            payer_code: r.payer_code,
            created_at: r.created_at.and_utc(),
        }
    }
}

/// The invoice contexts rules can bill (three come built in).
#[utoipa::path(get, path = "/v1/invoice-contexts", tag = "invoicing rules",
    responses((status = 200, description = "Every context", body = Vec<InvoiceContext>)),
    security(("bearer" = [])))]
pub async fn list_contexts(
    state: web::Data<SettlementState>,
    who: Principal,
) -> Result<web::Json<Vec<InvoiceContext>>, Error> {
    who.require(READERS)?;
    let rows: Vec<ContextRow> = state
        .db
        .read(|conn| {
            Ok(invoice_contexts::table
                .order(invoice_contexts::code.asc())
                .select(ContextRow::as_select())
                .load(conn)?)
        })
        .await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// Add an invoice context (e.g. a canton that pays part of the care).
#[utoipa::path(post, path = "/v1/invoice-contexts", tag = "invoicing rules", request_body = InvoiceContextInput,
    responses((status = 201, description = "Created", body = InvoiceContext),
        (status = 409, description = "A context with this code exists", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
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
    let created = state
        .db
        .write(move |conn| {
            conn.transaction(|conn| {
                who.require_unscoped("invoice contexts are organisation-wide")?;
                let taken: i64 = invoice_contexts::table
                    .filter(invoice_contexts::code.eq(code.as_str()))
                    .count()
                    .get_result(conn)?;
                if taken > 0 {
                    return Err(Error::new(
                        ErrorCode::AlreadyExists,
                        format!("invoice context {code} exists"),
                    ));
                }
                diesel::insert_into(invoice_contexts::table)
                    .values((
                        invoice_contexts::code.eq(code.as_str()),
                        invoice_contexts::name.eq(&name),
                        invoice_contexts::party.eq(&input.party),
                        invoice_contexts::payer_code.eq(payer.as_ref().map(Code::as_str)),
                        invoice_contexts::created_at.eq(db::now()),
                    ))
                    .execute(conn)?;
                let row: ContextRow = invoice_contexts::table
                    .find(code.as_str())
                    .select(ContextRow::as_select())
                    .first(conn)?;
                let created = InvoiceContext::from(row);
                audit::record(
                    conn,
                    &who,
                    "create",
                    "invoice_context",
                    code.as_str(),
                    serde_json::json!({ "after": created }),
                    None,
                )?;
                Ok(created)
            })
        })
        .await?;
    Ok(HttpResponse::Created().json(created))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = invoicing_rule_activations)]
struct ActivationRow {
    location_code: String,
    rule_code: String,
    enabled: bool,
    changed_by: String,
    changed_at: NaiveDateTime,
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
pub async fn list_activations(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<ActivationFilter>,
) -> Result<web::Json<Vec<Activation>>, Error> {
    who.require(READERS)?;
    let f = filter.into_inner();
    let rows: Vec<ActivationRow> = state
        .db
        .read(move |conn| {
            let mut q = invoicing_rule_activations::table
                .select(ActivationRow::as_select())
                .into_boxed();
            if let Some(l) = f.location_code {
                q = q.filter(invoicing_rule_activations::location_code.eq(l));
            }
            if let Some(r) = f.rule_code {
                q = q.filter(invoicing_rule_activations::rule_code.eq(r));
            }
            Ok(q.order((
                invoicing_rule_activations::location_code.asc(),
                invoicing_rule_activations::rule_code.asc(),
            ))
            .load(conn)?)
        })
        .await?;
    Ok(web::Json(rows.into_iter().map(Into::into).collect()))
}

/// Refuses to enable `rule` at `location` when another rule enabled there bills the same slot
/// (beneficiary kind, context, source, service group, object type) on common days.
fn refuse_conflicts(
    conn: &mut AnyConnection,
    location: &str,
    rule: &RuleDefinition,
) -> Result<(), Error> {
    let enabled: Vec<String> = invoicing_rule_activations::table
        .filter(invoicing_rule_activations::location_code.eq(location))
        .filter(invoicing_rule_activations::enabled.eq(true))
        .filter(invoicing_rule_activations::rule_code.ne(&rule.code))
        .select(invoicing_rule_activations::rule_code)
        .load(conn)?;
    let others: Vec<String> = invoicing_rules::table
        .filter(invoicing_rules::code.eq_any(&enabled))
        .filter(invoicing_rules::current.eq(true))
        .select(invoicing_rules::definition)
        .load(conn)?;
    for definition in others {
        let other: RuleDefinition = serde_json::from_str(&definition)?;
        if !carebill_domain::billing::conflicts(&[rule.clone(), other.clone()]).is_empty() {
            return Err(Error::new(
                ErrorCode::ConflictingRules,
                format!(
                    "rule {} is enabled at {location} for the same beneficiary kind, context, source, service group and object type on common days; disable it there or change the dates first",
                    other.code
                ),
            ));
        }
    }
    Ok(())
}

/// Enable or disable a rule at a location (the rule's own dates still apply).
#[utoipa::path(put, path = "/v1/invoicing-rule-activations/{location_code}/{rule_code}", tag = "invoicing rules",
    request_body = ActivationInput,
    params(("location_code" = String, Path, description = "Location (institution) code"),
        ("rule_code" = String, Path, description = "Rule code")),
    responses((status = 200, description = "The entry", body = Activation),
        (status = 409, description = "Another rule enabled at the location bills the same slot on common days", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
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
    // A user limited to some locations may switch rules at those locations only.
    if who
        .locations
        .as_ref()
        .is_some_and(|allowed| !allowed.contains(&location))
    {
        return Err(Error::forbidden(format!(
            "your token does not cover location {location}"
        )));
    }
    let enabled = body.value.enabled;
    let row = state
        .db
        .write(move |conn| {
            conn.transaction(|conn| {
                let this = current(conn, &rule)?;
                if enabled {
                    refuse_conflicts(conn, &location, &this.rule)?;
                }
                let now = db::now();
                let before: Option<bool> = invoicing_rule_activations::table
                    .find((&location, &rule))
                    .select(invoicing_rule_activations::enabled)
                    .first(conn)
                    .optional()?;
                if before.is_some() {
                    diesel::update(invoicing_rule_activations::table.find((&location, &rule)))
                        .set((
                            invoicing_rule_activations::enabled.eq(enabled),
                            invoicing_rule_activations::changed_by.eq(&who.subject),
                            invoicing_rule_activations::changed_at.eq(now),
                        ))
                        .execute(conn)?;
                } else {
                    diesel::insert_into(invoicing_rule_activations::table)
                        .values((
                            invoicing_rule_activations::location_code.eq(&location),
                            invoicing_rule_activations::rule_code.eq(&rule),
                            invoicing_rule_activations::enabled.eq(enabled),
                            invoicing_rule_activations::changed_by.eq(&who.subject),
                            invoicing_rule_activations::changed_at.eq(now),
                        ))
                        .execute(conn)?;
                }
                audit::record(
                    conn,
                    &who,
                    if enabled { "enable" } else { "disable" },
                    "invoicing_rule_activation",
                    &format!("{location}/{rule}"),
                    serde_json::json!({ "before": before, "after": enabled }),
                    None,
                )?;
                Ok(invoicing_rule_activations::table
                    .find((&location, &rule))
                    .select(ActivationRow::as_select())
                    .first(conn)?)
            })
        })
        .await?;
    Ok(web::Json(Activation::from(row)))
}
