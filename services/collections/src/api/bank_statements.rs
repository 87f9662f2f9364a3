//! Bank statements over HTTP: importing a camt.053 statement or camt.054 notification (the XML
//! itself as the body), the statements imported, the entries waiting for a person and matching
//! one by hand ([`crate::service::bank_statements`]).
//!
//! Writers (import, match) are those who record payments; readers are billing managers,
//! collectors and auditors. Statements are no payer's: a payer's token is refused (403), a
//! staff token limited to a payer finds none (404).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::Money;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, digest, idempotent, idempotent_with_status,
    media_type, raw_body,
};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::WRITERS;
use super::payments::PartyInput;
use crate::CollectionsState;
use crate::camt::{self, CamtError};
use crate::service::bank_statements::{
    self as service, EntryRecord, HandMatch, StatementRecord, status,
};

/// Roles that read bank statements and their queue.
const STATEMENT_READERS: &[Role] = &[Role::BillingManager, Role::Collector, Role::Auditor];

/// Largest statement body: 10,000 entries of a real bank's camt.053 are about 15 MB.
pub(crate) const MAX_STATEMENT_BYTES: usize = 32 * 1024 * 1024;

/// Most receivables named in one match by hand.
const MAX_RECEIVABLES: usize = 100;

/// How many entries and how much money.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntryTotal {
    /// Entries.
    pub count: i64,
    /// Their sum.
    pub sum: Money,
}

/// An imported statement, without its entries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BankStatementSummary {
    /// Id.
    pub id: String,
    /// `camt.053` (statement) or `camt.054` (notification).
    #[schema(example = "camt.053")]
    pub kind: String,
    /// The message version, e.g. `camt.053.001.08`.
    pub version: String,
    /// The bank's message id (`GrpHdr/MsgId`).
    pub message_id: String,
    /// The statement's or notification's id.
    pub statement_id: String,
    /// The account (its IBAN, or the bank's other id).
    pub account: String,
    /// The account's currency.
    #[schema(value_type = String, example = "EUR")]
    pub currency: carebill_domain::Currency,
    /// First day covered (`FrToDt`, else the first booking date).
    pub from_date: Option<NaiveDate>,
    /// Last day covered.
    pub to_date: Option<NaiveDate>,
    /// All entries (each transaction of a batch booking counted).
    pub entries_count: i64,
    /// Credits posted as payments.
    pub matched: EntryTotal,
    /// Credits waiting for a person.
    pub unmatched: EntryTotal,
    /// Debits, listed and not posted.
    pub ignored: EntryTotal,
    /// Entries an earlier statement of the account brought already (same account servicer
    /// reference), not posted again.
    pub duplicate: EntryTotal,
    /// Who imported it.
    pub imported_by: String,
    /// When.
    pub imported_at: DateTime<Utc>,
}

/// An allocation an entry's payment made.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BankEntryAllocation {
    /// The receivable.
    pub receivable_id: String,
    /// Its invoice.
    pub invoice_id: String,
    /// The invoice number.
    pub invoice_number: String,
    /// Amount applied.
    pub amount: Money,
}

/// Who paid, as the bank reports it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BankDebtor {
    /// Name.
    pub name: Option<String>,
    /// IBAN.
    pub iban: Option<String>,
}

/// The party an entry's payment is of.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BankEntryParty {
    /// Payer or patient.
    pub kind: String,
    /// Its id.
    pub id: String,
}

/// One entry of a statement (one transaction of a batch booking).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BankStatementEntry {
    /// Id.
    pub id: String,
    /// Its statement.
    pub bank_statement_id: String,
    /// Position in the statement, from 1.
    pub line_no: i64,
    /// `matched` (posted), `unmatched` (waiting for a person), `ignored` (a debit),
    /// `duplicate` (an earlier statement brought it) or `remittance` (the payment of a payer's
    /// 835 whose import posted it claim by claim; counted with the duplicates).
    #[schema(example = "matched")]
    pub status: String,
    /// How it was matched: `reference` (a creditor reference in the structured remittance
    /// information), `remittance_text` (a reference or invoice number in the free text),
    /// `debtor_account` (a known debtor IBAN and the exact amount of one open receivable),
    /// `hand`, or `remittance` (its trace number and amount are an imported 835's).
    pub matched_by: Option<String>,
    /// `credit` or `debit`.
    pub direction: String,
    /// Amount.
    pub amount: Money,
    /// Booking date.
    pub booking_date: Option<NaiveDate>,
    /// Value date.
    pub value_date: Option<NaiveDate>,
    /// The bank's reference (account servicer reference, else entry reference or end-to-end
    /// id); the payment's reference.
    pub bank_reference: Option<String>,
    /// Who paid.
    pub debtor: BankDebtor,
    /// Structured creditor references, as the bank gave them.
    pub references: Vec<String>,
    /// The free-text remittance information.
    pub remittance_information: Option<String>,
    /// The payment posted.
    pub payment_id: Option<String>,
    /// Its party.
    pub party: Option<BankEntryParty>,
    /// Where the payment went (the rest is the party's credit).
    pub allocations: Vec<BankEntryAllocation>,
    /// The earlier entry of the same account servicer reference; for a `remittance`, the
    /// remittance (`/v1/remittances/{id}`).
    pub duplicate_of: Option<String>,
    /// Who posted it.
    pub posted_by: Option<String>,
    /// When.
    pub posted_at: Option<DateTime<Utc>>,
}

/// An imported statement with its entries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BankStatement {
    /// The statement.
    #[serde(flatten)]
    pub statement: BankStatementSummary,
    /// Its entries, in order.
    pub entries: Vec<BankStatementEntry>,
}

fn summary(s: &StatementRecord) -> BankStatementSummary {
    let r = &s.row;
    let total = |count: i64, minor: i64| EntryTotal {
        count,
        sum: Money::from_minor(carebill_domain::MinorUnits(minor), r.currency),
    };
    BankStatementSummary {
        id: r.id.clone(),
        kind: r.kind.clone(),
        version: r.version.clone(),
        message_id: r.message_id.clone(),
        statement_id: r.statement_id.clone(),
        account: r.account.clone(),
        currency: r.currency,
        from_date: r.from_date,
        to_date: r.to_date,
        entries_count: r.entry_count,
        matched: total(r.matched_count, r.matched_minor),
        unmatched: total(r.unmatched_count, r.unmatched_minor),
        ignored: total(r.ignored_count, r.ignored_minor),
        duplicate: total(r.duplicate_count, r.duplicate_minor),
        imported_by: r.imported_by.clone(),
        imported_at: r.imported_at.and_utc(),
    }
}

fn entry(e: &EntryRecord) -> BankStatementEntry {
    let r = &e.row;
    BankStatementEntry {
        id: r.id.clone(),
        bank_statement_id: r.bank_statement_id.clone(),
        line_no: r.line_no,
        status: r.status.clone(),
        matched_by: r.matched_by.clone(),
        direction: if r.credit { "credit" } else { "debit" }.to_owned(),
        amount: e.amount,
        booking_date: r.booking_date,
        value_date: r.value_date,
        bank_reference: r.bank_reference.clone(),
        debtor: BankDebtor {
            name: r.debtor_name.clone(),
            iban: r.debtor_iban.clone(),
        },
        references: e.structured_refs.clone(),
        remittance_information: r.unstructured.clone(),
        payment_id: r.payment_id.clone(),
        party: match (&r.party_kind, &r.party_id) {
            (Some(kind), Some(id)) => Some(BankEntryParty {
                kind: kind.clone(),
                id: id.clone(),
            }),
            _ => None,
        },
        allocations: e
            .allocations
            .iter()
            .map(|a| BankEntryAllocation {
                receivable_id: a.receivable_id.clone(),
                invoice_id: a.invoice_id.clone(),
                invoice_number: a.invoice_number.clone(),
                amount: a.amount,
            })
            .collect(),
        duplicate_of: r.duplicate_of.clone(),
        posted_by: r.posted_by.clone(),
        posted_at: r.posted_at.map(|t| t.and_utc()),
    }
}

fn statement(s: &StatementRecord) -> BankStatement {
    BankStatement {
        statement: summary(s),
        entries: s.entries.iter().map(entry).collect(),
    }
}

/// The refusal of a body that is not a statement Carebill imports.
fn camt_problem(e: CamtError) -> Error {
    let code = match e {
        CamtError::DoesNotAddUp(_) | CamtError::CurrencyMismatch(_) => {
            ErrorCode::StatementDoesNotAddUp
        }
        CamtError::NotXml(_)
        | CamtError::NotCamt(_)
        | CamtError::Invalid(_)
        | CamtError::NoEntries => ErrorCode::NotCamt,
    };
    Error::new(code, e.to_string())
}

/// Reads the body after the caller is authorised: XML only, within the size limit.
async fn read_xml(req: &HttpRequest, payload: web::Payload) -> Result<web::Bytes, Error> {
    let media = media_type(req);
    if !(media == "application/xml" || media == "text/xml" || media.ends_with("+xml")) {
        return Err(Error::new(
            ErrorCode::UnsupportedMediaType,
            "a bank statement is sent as its XML (Content-Type: application/xml)",
        ));
    }
    raw_body(payload, MAX_STATEMENT_BYTES).await
}

/// Import a camt.053 bank statement or camt.054 notification: match its credits to
/// receivables and post them as payments; the rest waits in the queue.
#[utoipa::path(post, path = "/v1/bank-statements", tag = "bank statements",
    request_body(content = String, content_type = "application/xml",
        description = "An ISO 20022 camt.053.001.02..08 (BkToCstmrStmt) or camt.054.001.02..08 (BkToCstmrDbtCdtNtfctn) document"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Imported: the statement with each entry's status, payment and allocations", body = BankStatement),
        (status = 200, description = "Imported before (same account, message id and statement id): the first import, nothing posted again", body = BankStatement),
        (status = 415, description = "Not sent as XML", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a camt.053/054 (not_camt: not XML, another message, no entries, a missing id or amount) or entries that do not add up (statement_does_not_add_up: summary, balances, transactions, currencies); nothing imported", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn import_bank_statement(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    payload: web::Payload,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    if Scope::of(&who).payer.is_some() {
        return Err(Error::forbidden("bank statements are no payer's"));
    }
    let body = read_xml(&req, payload).await?;
    let digest = digest(&body);
    let key = IdempotencyKey::from_request(&req, &who, &digest)?;
    let parsed = camt::read(&body).map_err(camt_problem)?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent_with_status(conn, key.as_ref(), |conn| {
                let (created, s) = service::import(conn, &who, parsed, digest)?;
                let status = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok((status, statement(&s)))
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// List imported bank statements (without their entries), oldest import first.
#[utoipa::path(get, path = "/v1/bank-statements", tag = "bank statements", params(PageParams),
    responses((status = 200, description = "A page of statements", body = Page<BankStatementSummary>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_bank_statements(
    state: web::Data<CollectionsState>,
    who: Principal,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<BankStatementSummary>>, Error> {
    who.require(STATEMENT_READERS)?;
    let page = page.parse()?;
    let scope = Scope::of(&who);
    let page = state
        .db
        .read(move |conn| service::statements(conn, &scope, &page))
        .await?;
    Ok(web::Json(page.map(|s| summary(&s))))
}

/// Get an imported bank statement with its entries.
#[utoipa::path(get, path = "/v1/bank-statements/{id}", tag = "bank statements",
    params(("id" = String, Path, description = "Bank statement id")),
    responses((status = 200, description = "The statement", body = BankStatement),
        (status = 404, description = "No such statement", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_bank_statement(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<BankStatement>, Error> {
    who.require(STATEMENT_READERS)?;
    let id = parse_uuid(&id, "bank statement")?;
    let scope = Scope::of(&who);
    let s = state
        .db
        .read(move |conn| service::statement(conn, &scope, &id))
        .await?;
    Ok(web::Json(statement(&s)))
}

fn parse_uuid(id: &str, what: &str) -> Result<String, Error> {
    uuid::Uuid::parse_str(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| Error::not_found(what))
}

/// Filters for the entry list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryFilter {
    /// `matched`, `unmatched` (the queue), `ignored` or `duplicate`.
    pub status: Option<String>,
}

/// List bank statement entries, e.g. the credits waiting for a person (`status=unmatched`).
#[utoipa::path(get, path = "/v1/bank-statement-entries", tag = "bank statements",
    params(EntryFilter, PageParams),
    responses((status = 200, description = "A page of entries", body = Page<BankStatementEntry>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Unknown status", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_bank_statement_entries(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<EntryFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<BankStatementEntry>>, Error> {
    who.require(STATEMENT_READERS)?;
    let page = page.parse()?;
    let wanted = filter.into_inner().status.map(|s| s.trim().to_owned());
    if let Some(s) = &wanted
        && ![
            status::MATCHED,
            status::UNMATCHED,
            status::IGNORED,
            status::DUPLICATE,
            status::REMITTANCE,
        ]
        .contains(&s.as_str())
    {
        return Err(Error::field(
            "status",
            "invalid",
            "must be matched, unmatched, ignored, duplicate or remittance",
        ));
    }
    let scope = Scope::of(&who);
    let page = state
        .db
        .read(move |conn| service::entries(conn, &scope, wanted.as_deref(), &page))
        .await?;
    Ok(web::Json(page.map(|e| entry(&e))))
}

/// Where an unmatched credit goes, by hand: to receivables, or to a party as credit.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchInput {
    /// Receivables of one party, in the credit's currency, paid in this order (each up to what
    /// it owes); the rest is the party's credit.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub receivable_ids: Vec<String>,
    /// Or: the party whose credit it all becomes (known here from its receivables).
    #[serde(default)]
    pub party: Option<PartyInput>,
}

/// Match an unmatched credit by hand and post it as a payment.
#[utoipa::path(post, path = "/v1/bank-statement-entries/{id}/match", tag = "bank statements",
    request_body = MatchInput,
    params(("id" = String, Path, description = "Bank statement entry id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 200, description = "Posted: the entry with its payment and allocations", body = BankStatementEntry),
        (status = 404, description = "No such entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not waiting: matched already, a debit or a duplicate (already_matched)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Neither or both of receivable_ids and party; unknown receivables or party; receivables of several parties or another currency", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn match_bank_statement_entry(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<MatchInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let id = parse_uuid(&id, "bank statement entry")?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value;
    let target = match (input.receivable_ids.is_empty(), input.party) {
        (false, None) => {
            if input.receivable_ids.len() > MAX_RECEIVABLES {
                return Err(Error::field(
                    "receivable_ids",
                    "too_many",
                    format!("at most {MAX_RECEIVABLES} receivables"),
                ));
            }
            let mut ids = Vec::with_capacity(input.receivable_ids.len());
            for (i, r) in input.receivable_ids.iter().enumerate() {
                let u = uuid::Uuid::parse_str(r.trim()).map_err(|_| {
                    Error::field(&format!("receivable_ids.{i}"), "invalid", "must be a UUID")
                })?;
                ids.push(u.to_string());
            }
            HandMatch::Receivables(ids)
        }
        (true, Some(p)) => HandMatch::Party(p.kind, p.id),
        _ => {
            return Err(Error::field(
                "receivable_ids",
                "required",
                "name either receivable_ids or a party",
            ));
        }
    };
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                service::match_by_hand(conn, &who, &id, target).map(|e| entry(&e))
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}
