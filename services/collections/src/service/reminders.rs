//! Payment reminders: who a party is reached at (and whether it opted out), reminder policies
//! per party kind and location, runs that decide which receivable gets which level, and the
//! sender that delivers queued notices by e-mail or SMS.
//!
//! A run (`as_of` a day) looks at every receivable that still owes; it skips one that is
//! disputed or in an active payment plan, of a party that opted out or cannot be reached on the
//! level's channel, or with no policy; otherwise the policy's levels decide
//! ([`rules::level_due`]) and a notice is queued with its text rendered from the level's
//! template in the party's language (else the policy's default). A receivable gets each level at
//! most once (a unique key), so running twice queues nothing twice; a preview decides the same
//! and stores nothing.
//!
//! The sender takes queued notices whose time has come, outside the policy's quiet hours in the
//! receivable's location, one at a time: it claims the notice (`sending`, one attempt more),
//! checks the receivable still owes, sends, and records the outcome in one transaction with the
//! level's fee and interest charged to the receivable and `reminder.sent` announced. A temporary
//! failure queues the notice again after a backoff ([`rules::backoff`]) until
//! [`rules::MAX_ATTEMPTS`]; a permanent one fails it. A notice claimed by a process that stopped
//! before recording the outcome stays `sending` and is never sent again by itself.

use std::collections::{BTreeMap, HashMap};

use carebill_domain::dunning::{self as rules, Channel, NoticeStatus, QuietHours};
use carebill_domain::events::{Envelope, PartyKind, ReminderSentV1};
use carebill_domain::ids::{InvoiceId, ReceivableId};
use carebill_domain::{Currency, Money};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection, Db};
use carebill_platform::events::outbox;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::outbound::SendError;
use carebill_platform::outbound::mail::{Email, Mailer};
use carebill_platform::outbound::sms::SmsSender;
use carebill_platform::{Error, ErrorCode, audit};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::receivables::money;
use super::{adjustments, plans};
use crate::store::receivables::ReceivableRow;
pub(crate) use crate::store::reminders::NoticeFilter;
use crate::store::reminders::{self as store, ContactRow, NoticeRow, Outcome, PolicyRow, RunRow};
use carebill_domain::collections::plans::AdjustmentKind;

/// The senders a process has; a channel without one is not used.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    /// E-mail.
    pub mail: Option<Mailer>,
    /// Text messages.
    pub sms: Option<SmsSender>,
}

impl Channels {
    fn has(&self, c: Channel) -> bool {
        match c {
            Channel::Email => self.mail.is_some(),
            Channel::Sms => self.sms.is_some(),
            // A letter is printed by the location: it needs no provider.
            Channel::Letter => true,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Contacts

/// How a party is reached.
#[derive(Debug, Clone)]
pub(crate) struct Contact {
    pub party_kind: PartyKind,
    pub party_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub opted_out: bool,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
    /// Postal address, a line each (letters go there).
    pub postal_address: Vec<String>,
}

impl Contact {
    fn of(r: ContactRow) -> Result<Contact, Error> {
        Ok(Contact {
            party_kind: r
                .party_kind
                .parse()
                .map_err(|e: String| Error::internal(&e))?,
            party_id: r.party_id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            language: r.language,
            opted_out: r.opted_out,
            updated_by: r.updated_by,
            updated_at: r.updated_at.and_utc(),
            postal_address: r
                .postal_address
                .map(|a| a.lines().map(str::to_owned).collect())
                .unwrap_or_default(), // not stored: no address is no lines
        })
    }
}

/// A contact as given (checked by the API).
#[derive(Debug, Clone)]
pub(crate) struct NewContact {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub opted_out: bool,
    pub postal_address: Vec<String>,
}

/// A party's contact; 404 when none was given.
pub(crate) fn contact(
    conn: &mut AnyConnection,
    kind: PartyKind,
    party_id: &str,
) -> Result<Contact, Error> {
    store::contact(conn, kind.as_str(), party_id)?
        .ok_or_else(|| Error::not_found("reminder contact"))
        .and_then(Contact::of)
}

/// Sets a party's contact, audited.
pub(crate) fn put_contact(
    conn: &mut AnyConnection,
    who: &Principal,
    kind: PartyKind,
    party_id: &str,
    c: NewContact,
) -> Result<Contact, Error> {
    let before = store::contact(conn, kind.as_str(), party_id)?;
    let row = ContactRow {
        party_kind: kind.as_str().to_owned(),
        party_id: party_id.to_owned(),
        name: c.name,
        email: c.email,
        phone: c.phone,
        language: c.language,
        opted_out: c.opted_out,
        postal_address: (!c.postal_address.is_empty()).then(|| c.postal_address.join("\n")),
        updated_by: who.subject.clone(),
        updated_at: db::now(),
    };
    store::put_contact(conn, &row)?;
    audit::record(
        conn,
        who,
        "set_reminder_contact",
        "reminder_contact",
        &format!("{}/{party_id}", kind.as_str()),
        serde_json::json!({
            "opted_out": { "before": before.as_ref().map(|b| b.opted_out), "after": row.opted_out },
            "email_set": row.email.is_some(),
            "phone_set": row.phone.is_some(),
            "language": row.language,
        }),
        None,
    )?;
    Contact::of(row)
}

// ---------------------------------------------------------------------------------------------
// Policies

/// A level's text in one language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Template {
    /// Subject (e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Body.
    pub body: String,
}

/// One step of a policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Level {
    pub name: String,
    pub days_after_due: i64,
    pub channel: Channel,
    pub fee: Option<Money>,
    pub interest_percent: Option<Decimal>,
    pub templates: BTreeMap<String, Template>,
}

/// A reminder policy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Policy {
    pub party_kind: PartyKind,
    pub location_code: Option<String>,
    pub default_language: String,
    pub quiet_hours: Option<QuietHours>,
    pub levels: Vec<Level>,
}

/// A stored policy with its version.
#[derive(Debug, Clone)]
pub(crate) struct PolicyRecord {
    pub code: String,
    pub version: i64,
    pub policy: Policy,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

/// The stored form of a policy's body.
#[derive(Debug, Serialize, Deserialize)]
struct StoredBody {
    default_language: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    quiet_hours: Option<(NaiveTime, NaiveTime)>,
    levels: Vec<StoredLevel>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredLevel {
    name: String,
    days_after_due: i64,
    channel: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fee: Option<(String, Decimal)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interest_percent: Option<Decimal>,
    templates: BTreeMap<String, Template>,
}

fn to_stored(p: &Policy) -> StoredBody {
    StoredBody {
        default_language: p.default_language.clone(),
        quiet_hours: p.quiet_hours.map(|q| (q.start, q.end)),
        levels: p
            .levels
            .iter()
            .map(|l| StoredLevel {
                name: l.name.clone(),
                days_after_due: l.days_after_due,
                channel: l.channel.as_str().to_owned(),
                fee: l.fee.map(|f| (f.currency().to_string(), f.amount())),
                interest_percent: l.interest_percent,
                templates: l.templates.clone(),
            })
            .collect(),
    }
}

fn of_row(r: PolicyRow) -> Result<PolicyRecord, Error> {
    let body: StoredBody = carebill_domain::stored::json("reminder policy", &r.body)?;
    let levels = body
        .levels
        .into_iter()
        .map(|l| {
            let fee = l
                .fee
                .map(|(c, a)| {
                    Currency::parse(&c)
                        .map_err(|e| Error::internal(&e))
                        .and_then(|c| Money::new(a, c).map_err(|e| Error::internal(&e)))
                })
                .transpose()?;
            Ok(Level {
                name: l.name,
                days_after_due: l.days_after_due,
                channel: l.channel.parse().map_err(|e: String| Error::internal(&e))?,
                fee,
                interest_percent: l.interest_percent,
                templates: l.templates,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(PolicyRecord {
        code: r.code,
        version: r.version,
        policy: Policy {
            party_kind: r
                .party_kind
                .parse()
                .map_err(|e: String| Error::internal(&e))?,
            location_code: (!r.location_code.is_empty()).then_some(r.location_code),
            default_language: body.default_language,
            quiet_hours: body
                .quiet_hours
                .map(|(start, end)| QuietHours { start, end }),
            levels,
        },
        updated_by: r.updated_by,
        updated_at: r.updated_at.and_utc(),
    })
}

/// What a template can use: sample values for checking a policy, real ones for a notice.
struct Values<'a> {
    party_name: &'a str,
    invoice_number: &'a str,
    issue_date: NaiveDate,
    due_date: NaiveDate,
    days_past_due: i64,
    outstanding: Money,
    fee: Money,
    interest: Money,
    level: i64,
    level_name: &'a str,
    location: &'a str,
}

fn render(source: &str, v: &Values<'_>) -> Result<String, String> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_fuel(Some(50_000));
    let minor = |m: &Money| m.to_minor().map(|m| m.0).map_err(|e| e.to_string());
    let total = Money::from_minor(
        carebill_domain::MinorUnits(minor(&v.outstanding)? + minor(&v.fee)? + minor(&v.interest)?),
        v.outstanding.currency(),
    );
    let shown = |m: &Money| {
        minor(m).map(|n| {
            Money::from_minor(carebill_domain::MinorUnits(n), m.currency())
                .amount()
                .to_string()
        })
    };
    env.render_str(
        source,
        minijinja::context! {
            party_name => v.party_name,
            invoice_number => v.invoice_number,
            issue_date => v.issue_date.to_string(),
            due_date => v.due_date.to_string(),
            days_past_due => v.days_past_due,
            outstanding => shown(&v.outstanding)?,
            fee => shown(&v.fee)?,
            interest => shown(&v.interest)?,
            total => shown(&total)?,
            currency => v.outstanding.currency().to_string(),
            level => v.level,
            level_name => v.level_name,
            location => v.location,
        },
    )
    .map_err(|e| e.to_string())
}

/// Checks every template of `p` by rendering it with sample values: a syntax error or an unknown
/// variable is a 422 naming the template.
fn check_templates(p: &Policy) -> Result<(), Error> {
    let eur = Currency::parse("EUR").map_err(|e| Error::internal(&e))?;
    fn sample<'a>(l: &'a Level, i: usize, eur: Currency) -> Values<'a> {
        Values {
            party_name: "Ana García",
            invoice_number: "H1-2026-000001",
            issue_date: NaiveDate::default(),
            due_date: NaiveDate::default(),
            days_past_due: l.days_after_due,
            outstanding: Money::from_minor(carebill_domain::MinorUnits(12_345), eur),
            fee: Money::from_minor(carebill_domain::MinorUnits(0), eur),
            interest: Money::from_minor(carebill_domain::MinorUnits(0), eur),
            level: i as i64 + 1,
            level_name: &l.name,
            location: "H1",
        }
    }
    let mut errors = Vec::new();
    for (i, l) in p.levels.iter().enumerate() {
        for (lang, t) in &l.templates {
            for (part, text) in [("subject", t.subject.as_deref()), ("body", Some(&t.body))] {
                if let Some(text) = text
                    && let Err(e) = render(text, &sample(l, i, eur))
                {
                    errors.push(carebill_domain::FieldError {
                        field: format!("levels.{i}.templates.{lang}.{part}"),
                        code: "template".to_owned(),
                        message: e,
                    });
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(errors))
    }
}

/// Creates or replaces policy `code`. Replacing needs the version the caller read
/// (`if_match`); a policy of the same party kind and location under another code is a 409.
pub(crate) fn put_policy(
    conn: &mut AnyConnection,
    who: &Principal,
    code: &str,
    policy: Policy,
    if_match: Option<i64>,
) -> Result<(PolicyRecord, bool), Error> {
    check_templates(&policy)?;
    let location = policy.location_code.clone().unwrap_or_default(); // not stored: every location is stored as ''
    if let Some(other) = store::policy_for_scope(conn, policy.party_kind.as_str(), &location)?
        && other.code != code
    {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!(
                "policy {} already covers {} of {}",
                other.code,
                policy.party_kind.as_str(),
                policy.location_code.as_deref().unwrap_or("every location") // not stored: a message
            ),
        ));
    }
    let existing = store::policy(conn, code)?;
    let body = serde_json::to_string(&to_stored(&policy)).map_err(|e| Error::internal(&e))?;
    let now = db::now();
    let row = PolicyRow {
        code: code.to_owned(),
        party_kind: policy.party_kind.as_str().to_owned(),
        location_code: location,
        version: existing.as_ref().map_or(1, |e| e.version + 1),
        body,
        updated_by: who.subject.clone(),
        updated_at: now,
    };
    let created = match &existing {
        None => {
            store::insert_policy(conn, row.clone())?;
            true
        }
        Some(e) => {
            match if_match {
                None => {
                    return Err(Error::new(
                        ErrorCode::PreconditionRequired,
                        "replacing a policy needs If-Match with its ETag",
                    ));
                }
                Some(v) if v != e.version => {
                    return Err(Error::new(
                        ErrorCode::PreconditionFailed,
                        format!("the policy is at version {}, not {v}", e.version),
                    ));
                }
                Some(_) => {}
            }
            if !store::replace_policy(conn, &row)? {
                return Err(Error::new(
                    ErrorCode::ConcurrentUpdate,
                    "the policy changed meanwhile",
                ));
            }
            false
        }
    };
    audit::record(
        conn,
        who,
        if created { "create" } else { "replace" },
        "reminder_policy",
        code,
        serde_json::json!({ "version": row.version, "levels": policy.levels.len() }),
        None,
    )?;
    Ok((of_row(row)?, created))
}

/// A policy by code.
pub(crate) fn policy(conn: &mut AnyConnection, code: &str) -> Result<PolicyRecord, Error> {
    store::policy(conn, code)?
        .ok_or_else(|| Error::not_found("reminder policy"))
        .and_then(of_row)
}

/// Every policy.
pub(crate) fn policies(conn: &mut AnyConnection) -> Result<Vec<PolicyRecord>, Error> {
    store::policies(conn)?.into_iter().map(of_row).collect()
}

// ---------------------------------------------------------------------------------------------
// Runs

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct RunInput {
    pub as_of: NaiveDate,
    pub location_code: Option<String>,
    pub preview: bool,
}

/// A notice as decided or stored.
#[derive(Debug, Clone)]
pub(crate) struct NoticeRecord {
    pub id: String,
    pub run_id: Option<String>,
    pub receivable_id: String,
    pub invoice_id: String,
    pub invoice_number: String,
    pub location_code: String,
    pub party_kind: String,
    pub party_id: String,
    pub policy_code: String,
    pub policy_version: i64,
    pub level: i64,
    pub level_name: String,
    pub channel: Channel,
    pub recipient: String,
    pub language: String,
    pub subject: Option<String>,
    pub body: String,
    pub outstanding: Money,
    pub fee: Money,
    pub interest: Money,
    pub status: NoticeStatus,
    pub attempts: i64,
    pub not_before: DateTime<Utc>,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl NoticeRecord {
    fn of(r: &NoticeRow) -> Result<NoticeRecord, Error> {
        let c = Currency::parse(&r.currency).map_err(|e| Error::internal(&e))?;
        Ok(NoticeRecord {
            id: r.id.clone(),
            run_id: Some(r.run_id.clone()),
            receivable_id: r.receivable_id.clone(),
            invoice_id: r.invoice_id.clone(),
            invoice_number: r.invoice_number.clone(),
            location_code: r.location_code.clone(),
            party_kind: r.party_kind.clone(),
            party_id: r.party_id.clone(),
            policy_code: r.policy_code.clone(),
            policy_version: r.policy_version,
            level: r.level,
            level_name: r.level_name.clone(),
            channel: r.channel.parse().map_err(|e: String| Error::internal(&e))?,
            recipient: r.recipient.clone(),
            language: r.language.clone(),
            subject: r.subject.clone(),
            body: r.body.clone(),
            outstanding: money(r.outstanding_minor, c),
            fee: money(r.fee_minor, c),
            interest: money(r.interest_minor, c),
            status: r.status.parse().map_err(|e: String| Error::internal(&e))?,
            attempts: r.attempts,
            not_before: r.not_before.and_utc(),
            last_error: r.last_error.clone(),
            provider_id: r.provider_id.clone(),
            sent_at: r.sent_at.map(|t| t.and_utc()),
        })
    }
}

/// A run's outcome: counts, the skipped ones by reason, the notices (all of a preview, the
/// first ones of a run).
#[derive(Debug, Clone)]
pub(crate) struct RunRecord {
    pub id: Option<String>,
    pub as_of: NaiveDate,
    pub location_code: Option<String>,
    pub considered: i64,
    pub queued: i64,
    pub skipped: BTreeMap<String, i64>,
    pub notices: Vec<NoticeRecord>,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
}

/// Why a receivable got no notice in a run.
const SKIP_REASONS: [&str; 7] = [
    "no_policy",
    "disputed",
    "in_plan",
    "opted_out",
    "no_contact",
    "channel_unavailable",
    "currency_mismatch",
];

/// Decides the notices due `as_of`, and (unless a preview) queues them; see the module docs.
#[tracing::instrument(skip_all, fields(as_of = %input.as_of, preview = input.preview))]
pub(crate) fn run(
    conn: &mut AnyConnection,
    who: &Principal,
    channels: &Channels,
    input: RunInput,
) -> Result<RunRecord, Error> {
    let now = db::now();
    let scope = Scope::of(who);
    if let Some(code) = &input.location_code
        && !scope.allows_location(code)
    {
        return Err(Error::not_found("location"));
    }
    // Plans missed or paid up to that day end first: a broken plan's receivables are reminded of.
    plans::evaluate_plans(conn, input.as_of)?;
    let policies = policies(conn)?;
    let by_scope: HashMap<(String, String), &PolicyRecord> = policies
        .iter()
        .map(|p| {
            (
                (
                    p.policy.party_kind.as_str().to_owned(),
                    p.policy.location_code.clone().unwrap_or_default(), // not stored: '' is every location
                ),
                p,
            )
        })
        .collect();
    let contacts = store::contacts(conn)?;
    let sent = store::highest_levels(conn)?;
    let held = store::held(conn)?;
    let owing = store::owing(conn, input.location_code.as_deref())?;
    let run_id = uuid::Uuid::now_v7().to_string();
    let mut skipped: BTreeMap<String, i64> =
        SKIP_REASONS.iter().map(|r| ((*r).to_owned(), 0)).collect();
    let mut rows = Vec::new();
    let mut considered = 0;
    for r in owing
        .iter()
        .filter(|r| scope.allows_location(&r.location_code))
    {
        let owed = r.outstanding();
        if owed.0 <= 0 {
            continue;
        }
        considered += 1;
        let kind = r.party_kind.as_str().to_owned();
        let Some(p) = by_scope
            .get(&(kind.clone(), r.location_code.clone()))
            .or_else(|| by_scope.get(&(kind.clone(), String::new())))
        else {
            *skipped.entry("no_policy".into()).or_default() += 1;
            continue;
        };
        let days = rules::days_past_due(r.due_date, input.as_of);
        let offsets: Vec<i64> = p.policy.levels.iter().map(|l| l.days_after_due).collect();
        let highest = sent.get(&r.id.to_string()).copied().unwrap_or(0); // not stored: no notice yet is level 0
        let Some(level_no) = rules::level_due(&offsets, days, highest) else {
            continue;
        };
        let skip = |reason: &str, skipped: &mut BTreeMap<String, i64>| {
            *skipped.entry(reason.to_owned()).or_default() += 1;
        };
        if let Some(reason) = held.get(&r.id.to_string()) {
            skip(reason, &mut skipped);
            continue;
        }
        let level = &p.policy.levels[(level_no - 1) as usize];
        let contact = contacts.get(&(kind.clone(), r.party_id.clone()));
        if contact.is_some_and(|c| c.opted_out) {
            skip("opted_out", &mut skipped);
            continue;
        }
        let address = contact.and_then(|c| match level.channel {
            Channel::Email => c.email.clone(),
            Channel::Sms => c.phone.clone(),
            // A letter's recipient: the name over the postal address.
            Channel::Letter => c
                .postal_address
                .as_deref()
                .filter(|a| !a.trim().is_empty())
                .map(|a| {
                    c.name
                        .iter()
                        .cloned()
                        .chain(a.lines().map(str::to_owned))
                        .collect::<Vec<_>>()
                        .join("\n")
                }),
        });
        let Some(recipient) = address else {
            skip("no_contact", &mut skipped);
            continue;
        };
        if !channels.has(level.channel) {
            skip("channel_unavailable", &mut skipped);
            continue;
        }
        let c = r.currency;
        if level.fee.is_some_and(|f| f.currency() != c) {
            skip("currency_mismatch", &mut skipped);
            continue;
        }
        let fee = level.fee.unwrap_or(money(0, c)); // not stored: a level without a fee charges none
        let interest = level
            .interest_percent
            .map(|p| rules::interest(owed, c, p, days))
            .unwrap_or(money(0, c)); // not stored: a level without a rate charges no interest
        let language = contact
            .and_then(|c| c.language.clone())
            .filter(|l| level.templates.contains_key(l))
            .unwrap_or_else(|| p.policy.default_language.clone()); // not stored: the policy's language when the party has none of its own
        let Some(template) = level.templates.get(&language) else {
            skip("no_policy", &mut skipped);
            continue;
        };
        let values = Values {
            party_name: contact.and_then(|c| c.name.as_deref()).unwrap_or(""), // not stored: a template value
            invoice_number: &r.invoice_number,
            issue_date: r.issue_date,
            due_date: r.due_date,
            days_past_due: days,
            outstanding: money(owed.0, c),
            fee,
            interest,
            level: level_no,
            level_name: &level.name,
            location: &r.location_code,
        };
        let body = render(&template.body, &values).map_err(|e| Error::internal(&e))?;
        let subject = template
            .subject
            .as_deref()
            .map(|s| render(s, &values))
            .transpose()
            .map_err(|e| Error::internal(&e))?;
        rows.push(notice_row(
            r, &run_id, p, level_no, level, recipient, language, subject, body, fee, interest,
            owed.0, now,
        )?);
    }
    let mut record = RunRecord {
        id: None,
        as_of: input.as_of,
        location_code: input.location_code.clone(),
        considered,
        queued: rows.len() as i64,
        skipped,
        notices: Vec::new(),
        started_by: who.subject.clone(),
        started_at: now.and_utc(),
    };
    if input.preview {
        record.notices = rows
            .iter()
            .map(|r| {
                NoticeRecord::of(r).map(|mut n| {
                    n.run_id = None;
                    n
                })
            })
            .collect::<Result<_, _>>()?;
        return Ok(record);
    }
    let shown: Vec<NoticeRecord> = rows
        .iter()
        .take(100)
        .map(NoticeRecord::of)
        .collect::<Result<_, _>>()?;
    let queued = store::insert_notices(conn, rows)?;
    record.queued = queued as i64;
    record.notices = shown;
    record.id = Some(run_id.clone());
    store::insert_run(
        conn,
        RunRow {
            id: run_id.clone(),
            as_of: input.as_of,
            location_code: input.location_code,
            considered,
            queued: record.queued,
            skipped: serde_json::to_string(&record.skipped).map_err(|e| Error::internal(&e))?,
            started_by: who.subject.clone(),
            started_at: now,
        },
    )?;
    audit::record(
        conn,
        who,
        "run",
        "reminder_run",
        &run_id,
        serde_json::json!({ "as_of": input.as_of, "considered": considered, "queued": record.queued, "skipped": record.skipped }),
        None,
    )?;
    Ok(record)
}

#[allow(clippy::too_many_arguments)]
fn notice_row(
    r: &ReceivableRow,
    run_id: &str,
    p: &PolicyRecord,
    level_no: i64,
    level: &Level,
    recipient: String,
    language: String,
    subject: Option<String>,
    body: String,
    fee: Money,
    interest: Money,
    owed: i64,
    now: chrono::NaiveDateTime,
) -> Result<NoticeRow, Error> {
    let minor = |m: Money| m.to_minor().map(|m| m.0).map_err(|e| Error::internal(&e));
    Ok(NoticeRow {
        id: uuid::Uuid::now_v7().to_string(),
        run_id: run_id.to_owned(),
        receivable_id: r.id.to_string(),
        invoice_id: r.invoice_id.to_string(),
        invoice_number: r.invoice_number.clone(),
        location_code: r.location_code.clone(),
        location_time_zone: r.location_time_zone.clone(),
        payer_code: r.payer_code.clone(),
        party_kind: r.party_kind.as_str().to_owned(),
        party_id: r.party_id.clone(),
        policy_code: p.code.clone(),
        policy_version: p.version,
        level: level_no,
        level_name: level.name.clone(),
        channel: level.channel.as_str().to_owned(),
        recipient,
        language,
        subject,
        body,
        currency: r.currency.to_string(),
        outstanding_minor: owed,
        fee_minor: minor(fee)?,
        interest_minor: minor(interest)?,
        status: NoticeStatus::Queued.as_str().to_owned(),
        attempts: 0,
        not_before: now,
        last_error: None,
        provider_id: None,
        sent_at: None,
        created_at: now,
        updated_at: now,
    })
}

/// A stored run with its first notices.
pub(crate) fn run_record(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
) -> Result<RunRecord, Error> {
    let r = store::run(conn, id)?.ok_or_else(|| Error::not_found("reminder run"))?;
    let scope = Scope::of(who);
    if r.location_code
        .as_deref()
        .is_some_and(|c| !scope.allows_location(c))
    {
        return Err(Error::not_found("reminder run"));
    }
    let filter = NoticeFilter {
        run_id: Some(r.id.clone()),
        ..NoticeFilter::default()
    };
    let rows = store::notices(
        conn,
        &scope,
        &filter,
        &PageRequest {
            limit: 100,
            after: None,
        },
    )?;
    Ok(RunRecord {
        id: Some(r.id),
        as_of: r.as_of,
        location_code: r.location_code,
        considered: r.considered,
        queued: r.queued,
        skipped: carebill_domain::stored::json("reminder run skipped", &r.skipped)?,
        notices: rows
            .iter()
            .take(100)
            .map(NoticeRecord::of)
            .collect::<Result<_, _>>()?,
        started_by: r.started_by,
        started_at: r.started_at.and_utc(),
    })
}

/// A page of notices in the caller's scope.
pub(crate) fn notices(
    conn: &mut AnyConnection,
    who: &Principal,
    filter: &NoticeFilter,
    page: &PageRequest,
) -> Result<Page<NoticeRecord>, Error> {
    let rows = store::notices(conn, &Scope::of(who), filter, page)?;
    Page::from_rows(rows, page, |r| r.id.clone()).try_map(|r| NoticeRecord::of(&r))
}

/// A notice in the caller's scope.
pub(crate) fn notice(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
) -> Result<NoticeRecord, Error> {
    store::notice(conn, &Scope::of(who), id)?
        .ok_or_else(|| Error::not_found("reminder notice"))
        .and_then(|r| NoticeRecord::of(&r))
}

/// A letter notice as it prints, and the language it is printed in; 404 when the notice is not
/// a letter, as for one outside the caller's scope.
pub(crate) fn letter(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
) -> Result<(carebill_layout::Letter, carebill_layout::Language), Error> {
    let n = notice(conn, who, id)?;
    if n.channel != Channel::Letter {
        return Err(Error::not_found("reminder letter"));
    }
    let language = carebill_layout::Language::parse(&n.language).unwrap_or_default(); // not stored: a language without printed labels prints in English
    let labels = language.labels();
    let amount = |m: &Money| {
        format!(
            "{} {}",
            language.amount(m.amount(), m.currency().exponent()),
            m.currency().code()
        )
    };
    let mut facts = vec![
        (labels.invoice.to_owned(), n.invoice_number.clone()),
        (labels.outstanding.to_owned(), amount(&n.outstanding)),
    ];
    if !n.fee.amount().is_zero() {
        facts.push((labels.fee.to_owned(), amount(&n.fee)));
    }
    if !n.interest.amount().is_zero() {
        facts.push((labels.interest.to_owned(), amount(&n.interest)));
    }
    let letter = carebill_layout::Letter {
        sender: n.location_code.clone(),
        recipient: n.recipient.lines().map(str::to_owned).collect(),
        date: n.sent_at.unwrap_or(n.not_before).date_naive(), // not stored: a letter not yet made is dated when it is due
        subject: n.subject.clone().unwrap_or_else(|| n.level_name.clone()), // not stored: a level without a subject is titled by its name
        body: n.body.clone(),
        facts,
    };
    Ok((letter, language))
}

/// A letter as PDF.
pub(crate) fn letter_pdf(
    letter: &carebill_layout::Letter,
    language: carebill_layout::Language,
) -> Result<Vec<u8>, Error> {
    carebill_layout::letter_pdf(letter, language).map_err(|e| Error::internal(&e))
}

// ---------------------------------------------------------------------------------------------
// Sending

/// What one pass of the sender did.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct DispatchSummary {
    pub sent: i64,
    pub retrying: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub deferred: i64,
}

fn system() -> Principal {
    Principal::system("collections/reminders", None)
}

/// Sends the notices due at `now` (at most `limit`), one at a time.
pub(crate) async fn dispatch(
    db: &Db,
    channels: &Channels,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<DispatchSummary, Error> {
    let mut summary = DispatchSummary::default();
    let due = db
        .read(move |conn| store::due(conn, now.naive_utc(), limit))
        .await?;
    let policies = db.read(policies).await?;
    let quiet: HashMap<String, QuietHours> = policies
        .iter()
        .filter_map(|p| p.policy.quiet_hours.map(|q| (p.code.clone(), q)))
        .collect();
    for n in due {
        if let Some(q) = quiet.get(&n.policy_code) {
            let next = q.next_allowed(&n.location_time_zone, now);
            if next > now {
                let id = n.id.clone();
                db.write(move |conn| store::defer(conn, &id, next.naive_utc(), db::now()))
                    .await?;
                summary.deferred += 1;
                continue;
            }
        }
        let id = n.id.clone();
        // Claim it, and look once more whether it is still to be sent.
        let claim = db
            .write(move |conn| -> Result<Option<&'static str>, Error> {
                if !store::claim(conn, &id, db::now())? {
                    return Ok(Some("taken"));
                }
                if let Some(reason) = store::why_not_sent(conn, &id)? {
                    store::settle(
                        conn,
                        &id,
                        Outcome {
                            status: NoticeStatus::Cancelled.as_str(),
                            not_before: None,
                            last_error: Some(reason.to_owned()),
                            provider_id: None,
                            sent_at: None,
                        },
                        db::now(),
                    )?;
                    return Ok(Some("cancelled"));
                }
                Ok(None)
            })
            .await?;
        match claim {
            Some("taken") => continue,
            Some(_) => {
                summary.cancelled += 1;
                continue;
            }
            None => {}
        }
        let result = send(channels, &n).await;
        let attempts = n.attempts + 1;
        let outcome = match &result {
            Ok(_) => "sent",
            Err(e) if e.is_transient() && attempts < rules::MAX_ATTEMPTS => "retrying",
            Err(_) => "failed",
        };
        match outcome {
            "sent" => summary.sent += 1,
            "retrying" => summary.retrying += 1,
            _ => summary.failed += 1,
        }
        if let Err(e) = &result {
            tracing::warn!(notice_id = %n.id, attempts, error = %e, "reminder not sent");
        }
        db.write(move |conn| record_outcome(conn, &n, result, attempts))
            .await?;
    }
    Ok(summary)
}

async fn send(channels: &Channels, n: &NoticeRow) -> Result<String, SendError> {
    match n.channel.parse::<Channel>() {
        Ok(Channel::Email) => match &channels.mail {
            Some(m) => {
                m.send(&Email {
                    to: n.recipient.clone(),
                    subject: n.subject.clone().unwrap_or_default(), // not stored: an e-mail level always has a subject
                    text: n.body.clone(),
                    id: format!("reminder-{}", n.id),
                    attachments: Vec::new(),
                })
                .await
            }
            None => Err(SendError::Transient(
                "no SMTP server is configured".to_owned(),
            )),
        },
        Ok(Channel::Sms) => match &channels.sms {
            Some(s) => s.send(&n.recipient, &n.body).await,
            None => Err(SendError::Transient(
                "no SMS provider is configured".to_owned(),
            )),
        },
        // A letter is ready once it is made: the location prints it (`GET
        // /v1/reminder-notices/{id}/letter`) and posts it.
        Ok(Channel::Letter) => Ok(format!("letter-{}", n.id)),
        Err(e) => Err(SendError::Permanent(e)),
    }
}

fn record_outcome(
    conn: &mut AnyConnection,
    n: &NoticeRow,
    result: Result<String, SendError>,
    attempts: i64,
) -> Result<(), Error> {
    let now = db::now();
    match result {
        Ok(provider_id) => {
            store::settle(
                conn,
                &n.id,
                Outcome {
                    status: NoticeStatus::Sent.as_str(),
                    not_before: None,
                    last_error: None,
                    provider_id: Some(provider_id),
                    sent_at: Some(now),
                },
                now,
            )?;
            charge(conn, n)?;
            let c = Currency::parse(&n.currency).map_err(|e| Error::internal(&e))?;
            let event = ReminderSentV1 {
                notice_id: n.id.clone(),
                receivable_id: n
                    .receivable_id
                    .parse::<ReceivableId>()
                    .map_err(|e| Error::internal(&e))?,
                invoice_id: n
                    .invoice_id
                    .parse::<InvoiceId>()
                    .map_err(|e| Error::internal(&e))?,
                invoice_number: n.invoice_number.clone(),
                party_kind: n
                    .party_kind
                    .parse()
                    .map_err(|e: String| Error::internal(&e))?,
                party_id: n.party_id.clone(),
                level: n.level,
                level_name: n.level_name.clone(),
                channel: n.channel.parse().map_err(|e: String| Error::internal(&e))?,
                outstanding: money(n.outstanding_minor, c),
                fee: money(n.fee_minor, c),
                interest: money(n.interest_minor, c),
                sent_at: now.and_utc(),
            };
            let env = Envelope::new(crate::SERVICE, &event, now.and_utc(), None, None)
                .map_err(|e| Error::internal(&e))?;
            outbox::enqueue(conn, &env)?;
            audit::record(
                conn,
                &system(),
                "send",
                "reminder_notice",
                &n.id,
                serde_json::json!({ "status": "sent", "attempts": attempts, "channel": n.channel }),
                None,
            )?;
        }
        Err(e) => {
            let retry = e.is_transient() && attempts < rules::MAX_ATTEMPTS;
            store::settle(
                conn,
                &n.id,
                Outcome {
                    status: if retry {
                        NoticeStatus::Queued.as_str()
                    } else {
                        NoticeStatus::Failed.as_str()
                    },
                    not_before: retry.then(|| now + rules::backoff(attempts)),
                    last_error: Some(e.to_string()),
                    provider_id: None,
                    sent_at: None,
                },
                now,
            )?;
        }
    }
    Ok(())
}

/// Charges a sent notice's fee and interest to its receivable, as adjustments (audited and
/// announced like any other).
fn charge(conn: &mut AnyConnection, n: &NoticeRow) -> Result<(), Error> {
    let id: ReceivableId = n.receivable_id.parse().map_err(|e| Error::internal(&e))?;
    let why = format!("{} (reminder {})", n.level_name, n.id);
    for (minor, kind) in [
        (n.fee_minor, AdjustmentKind::Fee),
        (n.interest_minor, AdjustmentKind::Interest),
    ] {
        if minor > 0 {
            adjustments::record_adjustment(conn, &system(), id, minor, kind, &why)?;
        }
    }
    Ok(())
}
