//! Payment reminders over HTTP ([`crate::service::reminders`]): a party's reminder contact,
//! reminder policies, runs (and their previews), the notices with their outcome, and a way to
//! send the due ones now. Policies are for billing managers; contacts, runs and sending for
//! billing managers and collectors; reading for them and auditors. Payer tokens see none of it.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::dunning::{Channel, NoticeStatus, QuietHours};
use carebill_domain::events::PartyKind;
use carebill_domain::identifiers::{Scheme, SchemeId};
use carebill_domain::{Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, if_match_version, parse_id,
};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::CollectionsState;
use crate::service::reminders::{
    self, Contact, Level, NewContact, NoticeFilter, NoticeRecord, Policy, PolicyRecord, RunInput,
    RunRecord, Template,
};

/// Roles that keep contacts, run reminders and send them.
const WRITERS: &[Role] = &[Role::BillingManager, Role::Collector];
/// Roles that set policies.
const MANAGERS: &[Role] = &[Role::BillingManager];
/// Roles that read reminders.
const READERS: &[Role] = &[Role::BillingManager, Role::Collector, Role::Auditor];

fn party_kind(raw: &str) -> Result<PartyKind, Error> {
    raw.parse()
        .map_err(|_| Error::field("party_kind", "invalid", "must be payer or patient"))
}

fn party_id(raw: &str) -> Result<String, Error> {
    uuid::Uuid::parse_str(raw.trim())
        .map(|u| u.to_string())
        .map_err(|_| Error::field("party_id", "invalid", "must be a UUID"))
}

fn check_language(field: &str, value: &str, v: &mut Validation) -> Option<String> {
    let ok = (2..=3).contains(&value.len()) && value.chars().all(|c| c.is_ascii_lowercase());
    if ok {
        Some(value.to_owned())
    } else {
        v.add(
            field,
            "invalid",
            "must be a lower-case ISO 639 language code such as es or en",
        );
        None
    }
}

// ---------------------------------------------------------------------------------------------
// Contacts

/// How a party is reached for reminders.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderContactInput {
    /// The name reminders address (`party_name` in templates).
    #[schema(max_length = 200)]
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Mobile number in E.164 form (`+34600123456`).
    pub phone: Option<String>,
    /// Preferred language (ISO 639-1, e.g. `es`); the policy's default otherwise.
    pub language: Option<String>,
    /// True when the party asked to get no reminders.
    #[serde(default)]
    pub opted_out: bool,
    /// Postal address, a line each (street, post code and city, country), for letters; at
    /// most 6 lines of 100 characters.
    #[serde(default)]
    pub postal_address: Vec<String>,
}

/// A party's reminder contact.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderContact {
    /// Payer or patient.
    pub party_kind: PartyKind,
    /// The payer's or patient's id.
    pub party_id: String,
    /// Name.
    pub name: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Mobile number.
    pub phone: Option<String>,
    /// Preferred language.
    pub language: Option<String>,
    /// Gets no reminders.
    pub opted_out: bool,
    /// Who set it.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
    /// Postal address, a line each.
    pub postal_address: Vec<String>,
}

impl ReminderContact {
    fn of(c: Contact) -> ReminderContact {
        ReminderContact {
            party_kind: c.party_kind,
            party_id: c.party_id,
            name: c.name,
            email: c.email,
            phone: c.phone,
            language: c.language,
            opted_out: c.opted_out,
            updated_by: c.updated_by,
            updated_at: c.updated_at,
            postal_address: c.postal_address,
        }
    }
}

impl ReminderContactInput {
    fn validate(self) -> Result<NewContact, Error> {
        let mut v = Validation::new();
        let name = self.name.as_deref().and_then(|n| v.text("name", n, 200));
        let email = self.email.as_deref().and_then(|e| {
            v.check("email", "invalid", SchemeId::parse(Scheme::EMAIL, e))
                .map(|e| e.value().to_owned())
        });
        let phone = self.phone.as_deref().and_then(|p| {
            let p = p.replace([' ', '-'], "");
            let digits = p.strip_prefix('+').unwrap_or("");
            if (7..=15).contains(&digits.len())
                && digits.chars().all(|c| c.is_ascii_digit())
                && !digits.starts_with('0')
            {
                Some(p)
            } else {
                v.add(
                    "phone",
                    "invalid",
                    "must be an E.164 number such as +34600123456",
                );
                None
            }
        });
        let language = self
            .language
            .as_deref()
            .and_then(|l| check_language("language", l, &mut v));
        if self.postal_address.len() > 6 {
            v.add("postal_address", "too_long", "at most 6 lines");
        }
        let postal_address: Vec<String> = self
            .postal_address
            .iter()
            .enumerate()
            .filter_map(|(i, l)| v.text(&format!("postal_address.{i}"), l, 100))
            .collect();
        v.finish().map_err(Error::validation)?;
        Ok(NewContact {
            name,
            email,
            phone,
            language,
            opted_out: self.opted_out,
            postal_address,
        })
    }
}

/// Set how a payer or patient is reached for payment reminders, and whether they opted out.
#[utoipa::path(put, path = "/v1/reminder-contacts/{party_kind}/{party_id}", tag = "reminders",
    request_body = ReminderContactInput,
    params(("party_kind" = String, Path, description = "payer or patient"),
        ("party_id" = String, Path, description = "The payer's or patient's id")),
    responses((status = 200, description = "Stored", body = ReminderContact),
        (status = 422, description = "Invalid input", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn put_reminder_contact(
    state: web::Data<CollectionsState>,
    who: Principal,
    path: web::Path<(String, String)>,
    body: JsonBody<ReminderContactInput>,
) -> Result<web::Json<ReminderContact>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let (kind, id) = path.into_inner();
    let kind = party_kind(&kind)?;
    let id = party_id(&id)?;
    let input = body.value.validate()?;
    let c = state
        .db
        .write(move |conn| reminders::put_contact(conn, &who, kind, &id, input))
        .await?;
    Ok(web::Json(ReminderContact::of(c)))
}

/// Get a party's reminder contact.
#[utoipa::path(get, path = "/v1/reminder-contacts/{party_kind}/{party_id}", tag = "reminders",
    params(("party_kind" = String, Path, description = "payer or patient"),
        ("party_id" = String, Path, description = "The payer's or patient's id")),
    responses((status = 200, description = "The contact", body = ReminderContact),
        (status = 404, description = "None set", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_reminder_contact(
    state: web::Data<CollectionsState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<web::Json<ReminderContact>, Error> {
    who.require(READERS)?;
    let (kind, id) = path.into_inner();
    let kind = party_kind(&kind)?;
    let id = party_id(&id)?;
    let c = state
        .db
        .read(move |conn| reminders::contact(conn, kind, &id))
        .await?;
    Ok(web::Json(ReminderContact::of(c)))
}

// ---------------------------------------------------------------------------------------------
// Policies

/// A level's text in one language. Templates are MiniJinja (`{{ invoice_number }}`) with these
/// values: `party_name`, `invoice_number`, `issue_date`, `due_date`, `days_past_due`,
/// `outstanding`, `fee`, `interest`, `total` (outstanding + fee + interest), `currency`,
/// `level`, `level_name`, `location`. An unknown name is an error when the policy is stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderTemplate {
    /// Subject line (needed for e-mail).
    #[schema(max_length = 200)]
    pub subject: Option<String>,
    /// Body (at most 1600 characters for SMS).
    #[schema(max_length = 10000)]
    pub body: String,
}

/// One step of a policy.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderLevel {
    /// Name (e.g. `friendly notice`, `first reminder`, `final reminder`).
    #[schema(max_length = 100)]
    pub name: String,
    /// Days after the due date it is reached (negative: before the due date). Strictly
    /// increasing from one level to the next.
    pub days_after_due: i64,
    /// `email` or `sms`.
    pub channel: Channel,
    /// A fee charged to the receivable when the notice goes out.
    pub fee: Option<Money>,
    /// Yearly interest rate in percent, charged as simple interest on what is owed for the days
    /// past due when the notice goes out (a decimal string).
    #[schema(value_type = Option<String>, example = "8.0")]
    pub interest_percent: Option<Decimal>,
    /// The text per language code (the policy's default language is needed).
    pub templates: BTreeMap<String, ReminderTemplate>,
}

/// Local times (of the receivable's location) in which nothing is sent.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderQuietHours {
    /// From (`21:00`).
    #[schema(value_type = String, example = "21:00")]
    pub start: NaiveTime,
    /// Until (`08:00`); before `start` when the quiet hours span midnight.
    #[schema(value_type = String, example = "08:00")]
    pub end: NaiveTime,
}

/// A reminder policy: for one party kind, at one location or all of them.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderPolicyInput {
    /// `payer` or `patient`.
    pub party_kind: PartyKind,
    /// The location it is for; every location (without a policy of its own) when absent.
    pub location_code: Option<String>,
    /// The language used when the party's has no template.
    pub default_language: String,
    /// When nothing is sent.
    pub quiet_hours: Option<ReminderQuietHours>,
    /// The levels, 1 to 10, in order.
    pub levels: Vec<ReminderLevel>,
}

/// A stored reminder policy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderPolicy {
    /// Code.
    pub code: String,
    /// Version (the ETag is `"v<version>"`).
    pub version: i64,
    /// `payer` or `patient`.
    pub party_kind: PartyKind,
    /// The location; every location when absent.
    pub location_code: Option<String>,
    /// Default language.
    pub default_language: String,
    /// Quiet hours.
    pub quiet_hours: Option<ReminderQuietHours>,
    /// Levels.
    pub levels: Vec<ReminderLevel>,
    /// Who last changed it.
    pub updated_by: String,
    /// When.
    pub updated_at: DateTime<Utc>,
}

impl ReminderPolicy {
    fn of(r: PolicyRecord) -> ReminderPolicy {
        ReminderPolicy {
            code: r.code,
            version: r.version,
            party_kind: r.policy.party_kind,
            location_code: r.policy.location_code,
            default_language: r.policy.default_language,
            quiet_hours: r.policy.quiet_hours.map(|q| ReminderQuietHours {
                start: q.start,
                end: q.end,
            }),
            levels: r
                .policy
                .levels
                .into_iter()
                .map(|l| ReminderLevel {
                    name: l.name,
                    days_after_due: l.days_after_due,
                    channel: l.channel,
                    fee: l.fee,
                    interest_percent: l.interest_percent,
                    templates: l
                        .templates
                        .into_iter()
                        .map(|(k, t)| {
                            (
                                k,
                                ReminderTemplate {
                                    subject: t.subject,
                                    body: t.body,
                                },
                            )
                        })
                        .collect(),
                })
                .collect(),
            updated_by: r.updated_by,
            updated_at: r.updated_at,
        }
    }
}

impl ReminderPolicyInput {
    fn validate(self) -> Result<Policy, Error> {
        let mut v = Validation::new();
        let default_language = check_language("default_language", &self.default_language, &mut v);
        let location_code = self
            .location_code
            .as_deref()
            .and_then(|c| v.text("location_code", c, 40));
        if self.levels.is_empty() || self.levels.len() > 10 {
            v.add("levels", "count", "must have 1 to 10 levels");
        }
        let mut levels = Vec::new();
        let mut previous: Option<i64> = None;
        for (i, l) in self.levels.into_iter().enumerate() {
            let f = |name: &str| format!("levels.{i}.{name}");
            let name = v.text(&f("name"), &l.name, 100);
            if !(-365..=3650).contains(&l.days_after_due) {
                v.add(
                    f("days_after_due"),
                    "out_of_range",
                    "must be between -365 and 3650",
                );
            }
            if previous.is_some_and(|p| l.days_after_due <= p) {
                v.add(
                    f("days_after_due"),
                    "not_increasing",
                    "must be after the previous level's",
                );
            }
            previous = Some(l.days_after_due);
            if let Some(fee) = &l.fee
                && fee.amount() < Decimal::ZERO
            {
                v.add(f("fee.amount"), "negative", "must not be negative");
            }
            if let Some(rate) = l.interest_percent
                && !(Decimal::ZERO..=Decimal::from(100)).contains(&rate)
            {
                v.add(
                    f("interest_percent"),
                    "out_of_range",
                    "must be between 0 and 100",
                );
            }
            if let Some(d) = &default_language
                && !l.templates.contains_key(d)
            {
                v.add(
                    f("templates"),
                    "missing_default_language",
                    format!("needs a template in the default language {d}"),
                );
            }
            let mut templates = BTreeMap::new();
            for (lang, t) in l.templates {
                let tf = format!("levels.{i}.templates.{lang}");
                check_language(&tf, &lang, &mut v);
                if matches!(l.channel, Channel::Email | Channel::Letter)
                    && t.subject.as_deref().is_none_or(|s| s.trim().is_empty())
                {
                    v.add(
                        format!("{tf}.subject"),
                        "required",
                        "an e-mail or a letter needs a subject",
                    );
                }
                let max = if l.channel == Channel::Sms {
                    1600
                } else {
                    10_000
                };
                let body = v.text(&format!("{tf}.body"), &t.body, max);
                if let Some(s) = &t.subject {
                    v.text(&format!("{tf}.subject"), s, 200);
                }
                if let Some(body) = body {
                    templates.insert(
                        lang,
                        Template {
                            subject: t.subject,
                            body,
                        },
                    );
                }
            }
            levels.push(Level {
                name: name.unwrap_or_default(),
                days_after_due: l.days_after_due,
                channel: l.channel,
                fee: l.fee,
                interest_percent: l.interest_percent,
                templates,
            });
        }
        v.finish().map_err(Error::validation)?;
        Ok(Policy {
            party_kind: self.party_kind,
            location_code,
            default_language: default_language.unwrap_or_default(),
            quiet_hours: self.quiet_hours.map(|q| QuietHours {
                start: q.start,
                end: q.end,
            }),
            levels,
        })
    }
}

fn with_etag(status: StatusCode, p: ReminderPolicy) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("ETag", format!("\"v{}\"", p.version)))
        .json(p)
}

/// Create or replace a reminder policy (billing managers). Replacing needs `If-Match` with the
/// policy's ETag.
#[utoipa::path(put, path = "/v1/reminder-policies/{code}", tag = "reminders",
    request_body = ReminderPolicyInput,
    params(("code" = String, Path, description = "Policy code"),
        ("If-Match" = Option<String>, Header, description = "The ETag read, to replace a policy")),
    responses((status = 201, description = "Created", body = ReminderPolicy),
        (status = 200, description = "Replaced", body = ReminderPolicy),
        (status = 409, description = "Another policy covers the same party kind and location (already_exists)", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "Changed since read", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "Replacing without If-Match", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (a template that does not render names its field)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn put_reminder_policy(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    code: web::Path<String>,
    body: JsonBody<ReminderPolicyInput>,
) -> Result<HttpResponse, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let code = code.into_inner();
    let mut v = Validation::new();
    let ok = code.len() <= 40
        && !code.is_empty()
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        v.add("code", "invalid", "1 to 40 letters, digits, - or _");
    }
    v.finish().map_err(Error::validation)?;
    let if_match = if_match_version(&req, "policy")?;
    let policy = body.value.validate()?;
    let (record, created) = state
        .db
        .write(move |conn| reminders::put_policy(conn, &who, &code, policy, if_match))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(with_etag(status, ReminderPolicy::of(record)))
}

/// Get a reminder policy.
#[utoipa::path(get, path = "/v1/reminder-policies/{code}", tag = "reminders",
    params(("code" = String, Path, description = "Policy code")),
    responses((status = 200, description = "The policy", body = ReminderPolicy)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_reminder_policy(
    state: web::Data<CollectionsState>,
    who: Principal,
    code: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let code = code.into_inner();
    let record = state
        .db
        .read(move |conn| reminders::policy(conn, &code))
        .await?;
    Ok(with_etag(StatusCode::OK, ReminderPolicy::of(record)))
}

/// Every reminder policy.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderPolicyList {
    /// By code.
    pub items: Vec<ReminderPolicy>,
}

/// List the reminder policies.
#[utoipa::path(get, path = "/v1/reminder-policies", tag = "reminders",
    responses((status = 200, description = "The policies", body = ReminderPolicyList)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_reminder_policies(
    state: web::Data<CollectionsState>,
    who: Principal,
) -> Result<web::Json<ReminderPolicyList>, Error> {
    who.require(READERS)?;
    let items = state.db.read(reminders::policies).await?;
    Ok(web::Json(ReminderPolicyList {
        items: items.into_iter().map(ReminderPolicy::of).collect(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Runs and notices

/// A reminder run asked for.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderRunInput {
    /// The day the run decides for; today (UTC) when absent.
    pub as_of: Option<NaiveDate>,
    /// Only this location's receivables.
    pub location_code: Option<String>,
    /// Decide and show, store nothing.
    #[serde(default)]
    pub preview: bool,
}

/// A payment reminder: what it says, to whom, and what became of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderNotice {
    /// Id (absent in a preview).
    pub id: Option<String>,
    /// The run that queued it.
    pub run_id: Option<String>,
    /// The receivable.
    pub receivable_id: String,
    /// Its invoice.
    pub invoice_id: String,
    /// The invoice's number.
    pub invoice_number: String,
    /// The location.
    pub location_code: String,
    /// Payer or patient.
    pub party_kind: String,
    /// The party's id.
    pub party_id: String,
    /// The policy and its version.
    pub policy_code: String,
    /// The policy's version.
    pub policy_version: i64,
    /// The level (1 is the first).
    pub level: i64,
    /// Its name.
    pub level_name: String,
    /// `email` or `sms`.
    pub channel: Channel,
    /// The address or number.
    pub recipient: String,
    /// The language of the text.
    pub language: String,
    /// Subject (e-mail).
    pub subject: Option<String>,
    /// Text.
    pub body: String,
    /// What the receivable owed when the run decided.
    pub outstanding: Money,
    /// Fee charged when sent.
    pub fee: Money,
    /// Interest charged when sent.
    pub interest: Money,
    /// `queued`, `sending`, `sent`, `failed` or `cancelled`.
    pub status: NoticeStatus,
    /// Attempts made.
    pub attempts: i64,
    /// Not sent before.
    pub not_before: DateTime<Utc>,
    /// Why the last attempt failed, or why it was cancelled.
    pub last_error: Option<String>,
    /// The mail server's message id or the SMS provider's.
    pub provider_id: Option<String>,
    /// When it was accepted for delivery.
    pub sent_at: Option<DateTime<Utc>>,
}

impl ReminderNotice {
    fn of(n: NoticeRecord, preview: bool) -> ReminderNotice {
        ReminderNotice {
            id: (!preview).then_some(n.id),
            run_id: n.run_id,
            receivable_id: n.receivable_id,
            invoice_id: n.invoice_id,
            invoice_number: n.invoice_number,
            location_code: n.location_code,
            party_kind: n.party_kind,
            party_id: n.party_id,
            policy_code: n.policy_code,
            policy_version: n.policy_version,
            level: n.level,
            level_name: n.level_name,
            channel: n.channel,
            recipient: n.recipient,
            language: n.language,
            subject: n.subject,
            body: n.body,
            outstanding: n.outstanding,
            fee: n.fee,
            interest: n.interest,
            status: n.status,
            attempts: n.attempts,
            not_before: n.not_before,
            last_error: n.last_error,
            provider_id: n.provider_id,
            sent_at: n.sent_at,
        }
    }
}

/// What a run decided.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderRun {
    /// Id (absent for a preview).
    pub id: Option<String>,
    /// True for a preview: nothing was stored.
    pub preview: bool,
    /// The day decided for.
    pub as_of: NaiveDate,
    /// The location, if limited to one.
    pub location_code: Option<String>,
    /// Receivables that still owe, looked at.
    pub considered: i64,
    /// Notices queued (a preview: that would be queued).
    pub queued: i64,
    /// Receivables a level was due for that got no notice, per reason: `no_policy`,
    /// `disputed`, `in_plan`, `opted_out`, `no_contact`, `channel_unavailable`,
    /// `currency_mismatch`.
    pub skipped: BTreeMap<String, i64>,
    /// The notices (a preview: all; a run: the first 100; the rest through
    /// `/v1/reminder-notices?run_id=`).
    pub notices: Vec<ReminderNotice>,
    /// Who ran it.
    pub started_by: String,
    /// When.
    pub started_at: DateTime<Utc>,
}

impl ReminderRun {
    fn of(r: RunRecord, preview: bool) -> ReminderRun {
        ReminderRun {
            id: r.id,
            preview,
            as_of: r.as_of,
            location_code: r.location_code,
            considered: r.considered,
            queued: r.queued,
            skipped: r.skipped,
            notices: r
                .notices
                .into_iter()
                .map(|n| ReminderNotice::of(n, preview))
                .collect(),
            started_by: r.started_by,
            started_at: r.started_at,
        }
    }
}

/// Decide which receivables get which reminder level `as_of` a day, and queue the notices (or,
/// with `preview`, only show them). Running again queues nothing twice.
#[utoipa::path(post, path = "/v1/reminder-runs", tag = "reminders", request_body = ReminderRunInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Run and queued", body = ReminderRun),
        (status = 200, description = "A preview", body = ReminderRun),
        (status = 422, description = "Invalid input", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_reminder_run(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<ReminderRunInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value;
    let preview = input.preview;
    let run = RunInput {
        as_of: input.as_of.unwrap_or_else(|| Utc::now().date_naive()),
        location_code: input.location_code,
        preview,
    };
    let channels = state.reminders.clone();
    let status = if preview {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), status, |conn| {
                reminders::run(conn, &who, &channels, run).map(|r| ReminderRun::of(r, preview))
            })
        })
        .await?;
    Ok(reply)
}

/// Get a reminder run with its first notices.
#[utoipa::path(get, path = "/v1/reminder-runs/{id}", tag = "reminders",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, description = "The run", body = ReminderRun)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_reminder_run(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<ReminderRun>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "reminder run")?;
    let run = state
        .db
        .read(move |conn| reminders::run_record(conn, &who, &id.to_string()))
        .await?;
    Ok(web::Json(ReminderRun::of(run, false)))
}

/// Filters of the notice list.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReminderNoticeFilter {
    /// Of this receivable.
    pub receivable_id: Option<String>,
    /// Queued by this run.
    pub run_id: Option<String>,
    /// In this status.
    pub status: Option<NoticeStatus>,
    /// `payer` or `patient`.
    pub party_kind: Option<PartyKind>,
    /// Of this party.
    pub party_id: Option<String>,
    /// Page size.
    pub limit: Option<u32>,
    /// From a previous page.
    pub cursor: Option<String>,
}

/// List payment reminders, oldest first.
#[utoipa::path(get, path = "/v1/reminder-notices", tag = "reminders", params(ReminderNoticeFilter),
    responses((status = 200, description = "A page of notices", body = Page<ReminderNotice>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_reminder_notices(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<ReminderNoticeFilter>,
) -> Result<web::Json<Page<ReminderNotice>>, Error> {
    who.require(READERS)?;
    let f = filter.into_inner();
    let page = PageParams {
        limit: f.limit,
        cursor: f.cursor.clone(),
    }
    .parse()?;
    let filter = NoticeFilter {
        receivable_id: super::uuid_param("receivable_id", f.receivable_id.as_deref())?,
        run_id: super::uuid_param("run_id", f.run_id.as_deref())?,
        status: f.status.map(|s| s.as_str().to_owned()),
        party_kind: f.party_kind.map(|k| k.as_str().to_owned()),
        party_id: super::uuid_param("party_id", f.party_id.as_deref())?,
    };
    let page = state
        .db
        .read(move |conn| reminders::notices(conn, &who, &filter, &page))
        .await?;
    Ok(web::Json(page.map(|n| ReminderNotice::of(n, false))))
}

/// Get a payment reminder.
#[utoipa::path(get, path = "/v1/reminder-notices/{id}", tag = "reminders",
    params(("id" = String, Path, description = "Notice id")),
    responses((status = 200, description = "The notice", body = ReminderNotice)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_reminder_notice(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<ReminderNotice>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "reminder notice")?;
    let n = state
        .db
        .read(move |conn| reminders::notice(conn, &who, &id.to_string()))
        .await?;
    Ok(web::Json(ReminderNotice::of(n, false)))
}

/// Get a letter notice as the PDF to print and post.
#[utoipa::path(get, path = "/v1/reminder-notices/{id}/letter", tag = "reminders",
    params(("id" = String, Path, description = "Notice id")),
    responses((status = 200, description = "The letter (PDF/A-3b)", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, description = "No such notice in your scope, or not a letter", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_reminder_letter(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "reminder notice")?;
    let (letter, language) = state
        .db
        .read(move |conn| reminders::letter(conn, &who, &id.to_string()))
        .await?;
    let pdf = web::block(move || reminders::letter_pdf(&letter, language))
        .await
        .map_err(|e| Error::internal(&e))??;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("inline; filename=\"reminder-{id}.pdf\""),
        ))
        .body(pdf))
}

/// What sending the due notices did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReminderDispatch {
    /// Accepted by the mail server or SMS provider.
    pub sent: i64,
    /// Failed for now; queued again after a backoff.
    pub retrying: i64,
    /// Refused for good, or out of attempts.
    pub failed: i64,
    /// No longer to be sent (paid, disputed, in a plan, opted out meanwhile).
    pub cancelled: i64,
    /// Due in quiet hours; moved to their end.
    pub deferred: i64,
}

/// Send the notices that are due now (the sender also does this by itself every
/// `reminders.dispatch_interval_secs`).
#[utoipa::path(post, path = "/v1/reminder-dispatches", tag = "reminders",
    responses((status = 200, description = "What was done", body = ReminderDispatch)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn dispatch_reminders(
    state: web::Data<CollectionsState>,
    who: Principal,
) -> Result<web::Json<ReminderDispatch>, Error> {
    who.require(WRITERS)?;
    let s = reminders::dispatch(&state.db, &state.reminders, Utc::now(), 1000).await?;
    state.wake.notify_one();
    Ok(web::Json(ReminderDispatch {
        sent: s.sent,
        retrying: s.retrying,
        failed: s.failed,
        cancelled: s.cancelled,
        deferred: s.deferred,
    }))
}
