//! Payers' remittances over HTTP: importing an X12 835 (the file as the clearinghouse or payer
//! gave it), the remittances imported, and their claim payments — each posted, for review,
//! denied or unmatched ([`crate::service::remittances`]).
//!
//! Writers are those who record payments; readers are billing managers, collectors and
//! auditors. A remittance pays claims of any location, so only users of every location import
//! and read it; a payer's token is refused (403), a staff token limited to locations or a payer
//! finds none (404).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::ids::InvoiceId;
use carebill_domain::{Currency, Money};
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, digest, idempotent, idempotent_with_status,
    media_type, raw_body,
};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::WRITERS;
use crate::CollectionsState;
use crate::service::receivables::money;
use crate::service::remittances::{self as service, ClaimRecord, RemittanceRecord, status};

/// Roles that read remittances.
const READERS: &[Role] = &[Role::BillingManager, Role::Collector, Role::Auditor];

/// The most an 835 file may weigh (5,000 claims of three lines are about 2 MB).
const MAX_REMITTANCE_BYTES: usize = 32 * 1024 * 1024;

/// How many claim payments stand so.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimCounts {
    /// Every claim payment of the remittance.
    pub total: i64,
    /// Paid and adjusted; the invoice owes nothing.
    pub posted: i64,
    /// Matched, for a person to look at (see each one's `note`).
    pub review: i64,
    /// Denied by the payer (a dispute holds the invoice).
    pub denied: i64,
    /// Matched to no invoice, waiting for a person.
    pub unmatched: i64,
}

/// A provider-level adjustment (PLB): kept, not posted.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProviderAdjustment {
    /// PLB01: the provider's id.
    pub provider_id: String,
    /// PLB02: the end of the provider's fiscal period.
    pub fiscal_period_end: Option<NaiveDate>,
    /// The reason (`WO` overpayment recovery, `L6` interest, `FB` forward balance ...).
    pub reason: String,
    /// Its reference (an earlier claim's number, say).
    pub reference: Option<String>,
    /// The amount: positive lowered the payment.
    pub amount: Money,
}

/// An imported remittance: one payment of a payer and what it paid.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RemittanceDoc {
    /// Id.
    pub id: String,
    /// The payer's id as the 835 gives it (REF*2U, else TRN03).
    pub payer_id: String,
    /// The payer's code, from the invoices it paid.
    pub payer_code: Option<String>,
    /// N1*PR02.
    pub payer_name: String,
    /// TRN02: the check or EFT trace number.
    pub trace_number: String,
    /// BPR01: `I` remittance with payment, `H` advice only ...
    pub handling: String,
    /// BPR04: `ACH`, `CHK`, `FWT`, `BOP`, `NON`.
    pub method: String,
    /// BPR16.
    pub paid_on: NaiveDate,
    /// BPR02: the payment.
    pub total: Money,
    /// Its claim payments by status.
    pub claims: ClaimCounts,
    /// What the matched claims paid (posted and for review).
    pub posted: Money,
    /// What the unmatched claims paid.
    pub unmatched: Money,
    /// PLB.
    pub provider_adjustments: Vec<ProviderAdjustment>,
    /// ISA13 of the file.
    pub interchange_control_number: String,
    /// ST02 of its transaction.
    pub transaction_control_number: String,
    /// Who imported it.
    pub imported_by: String,
    /// When.
    pub imported_at: DateTime<Utc>,
}

/// What an 835 file held.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RemittanceImport {
    /// One per 835 transaction, in file order (a repeat is the first import).
    pub remittances: Vec<RemittanceDoc>,
}

/// One adjustment of a claim payment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimAdjustment {
    /// CAS01: `CO` contractual, `PR` patient responsibility, `OA` other, `PI` payer initiated,
    /// `CR` correction.
    pub group: String,
    /// The claim adjustment reason code (CARC): `45`, `1` deductible, `2` coinsurance, `3`
    /// copay ...
    pub reason: String,
    /// The remark codes (RARC) given with it.
    pub remarks: Vec<String>,
    /// The amount: positive lowered the payment.
    pub amount: Money,
    /// What explained amounts never billed to the payer (the patient's share billed to the
    /// patient, another payer's): not posted.
    pub absorbed: Money,
    /// What was posted off the receivable.
    pub posted: Money,
    /// The receivable adjustment it posted (`contractual`, `patient_responsibility` or
    /// `payer_other`).
    pub adjustment_id: Option<String>,
    /// The line's control number (REF*6R), for a line's adjustment.
    pub line: Option<String>,
}

/// One service line of a claim payment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimLine {
    /// REF*6R: the line control number the claim sent.
    pub control_number: Option<String>,
    /// SVC01 (`HC:99213:25`).
    pub procedure: String,
    /// SVC02.
    pub charge: Money,
    /// SVC03.
    pub paid: Money,
    /// SVC05.
    #[schema(value_type = String)]
    pub units: Decimal,
    /// DTM*472.
    pub date: Option<NaiveDate>,
    /// LQ*HE remark codes.
    pub remarks: Vec<String>,
}

/// One claim payment of a remittance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RemittanceClaim {
    /// Id.
    pub id: String,
    /// Its remittance.
    pub remittance_id: String,
    /// The CLP segment's position in the file (1 = ISA).
    pub position: i64,
    /// CLP01: Carebill's invoice number when Carebill sent the claim.
    pub patient_control_number: String,
    /// CLP07: the payer's claim control number.
    pub payer_claim_number: String,
    /// CLP02: `1` processed as primary, `2` secondary, `4` denied, `22` reversal ...
    pub status_code: String,
    /// `posted`, `review`, `denied` or `unmatched`.
    #[schema(example = "posted")]
    pub status: String,
    /// Why it stands so, in words.
    pub note: String,
    /// CLP03.
    pub charge: Money,
    /// CLP04.
    pub paid: Money,
    /// CLP05: what the payer says the patient owes.
    pub patient_responsibility: Money,
    /// The `PR` part posted off the payer's receivable: what may still be billed to the
    /// patient.
    pub patient_share: Money,
    /// Paid beyond what the invoice owed (the payer's credit).
    pub unallocated: Money,
    /// What the invoice still owed after posting.
    pub left_owing: Money,
    /// The invoice matched.
    pub invoice_id: Option<String>,
    /// Its number.
    pub invoice_number: Option<String>,
    /// Its receivable (`/v1/receivables/{id}`).
    pub receivable_id: Option<String>,
    /// The e-billing claim it answers (invoicing's `/v1/e-billing-claims/{id}`).
    pub claim_id: Option<String>,
    /// The payment recorded (`/v1/payments/{id}`).
    pub payment_id: Option<String>,
    /// Every adjustment, the claim's then each line's.
    pub adjustments: Vec<ClaimAdjustment>,
    /// The service lines.
    pub lines: Vec<ClaimLine>,
    /// MOA/MIA remark codes.
    pub remarks: Vec<String>,
    /// NM1*QC: the patient's name as the payer has it.
    pub patient_name: Option<String>,
    /// The member id.
    pub member_id: Option<String>,
    /// When it was posted.
    pub posted_at: Option<DateTime<Utc>>,
}

/// Where a person sends an unmatched claim payment.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimMatch {
    /// The invoice it pays.
    pub invoice_id: String,
}

/// Filters of the claim payments' list.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ClaimQuery {
    /// `posted`, `review`, `denied` or `unmatched`.
    pub status: Option<String>,
    /// Of one remittance.
    pub remittance_id: Option<String>,
    /// Items per page (1–500, default 50).
    pub limit: Option<u32>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn currency(code: &str) -> Result<Currency, Error> {
    Currency::parse(code).map_err(|e| Error::internal(&e))
}

fn doc(r: &RemittanceRecord) -> Result<RemittanceDoc, Error> {
    let c = currency(&r.row.currency)?;
    Ok(RemittanceDoc {
        id: r.row.id.clone(),
        payer_id: r.row.payer_id.clone(),
        payer_code: r.row.payer_code.clone(),
        payer_name: r.row.payer_name.clone(),
        trace_number: r.row.trace_number.clone(),
        handling: r.row.handling.clone(),
        method: r.row.method.clone(),
        paid_on: r.row.paid_on,
        total: money(r.row.total_minor, c),
        claims: ClaimCounts {
            total: r.row.claim_count,
            posted: r.row.posted_count,
            review: r.row.review_count,
            denied: r.row.denied_count,
            unmatched: r.row.unmatched_count,
        },
        posted: money(r.row.posted_minor, c),
        unmatched: money(r.row.unmatched_minor, c),
        provider_adjustments: r
            .provider_adjustments
            .iter()
            .map(|p| ProviderAdjustment {
                provider_id: p.provider_id.clone(),
                fiscal_period_end: p.fiscal_period_end,
                reason: p.reason.clone(),
                reference: p.reference.clone(),
                amount: money(p.amount_minor, c),
            })
            .collect(),
        interchange_control_number: r.row.interchange_control_number.clone(),
        transaction_control_number: r.row.transaction_control_number.clone(),
        imported_by: r.row.imported_by.clone(),
        imported_at: r.row.imported_at.and_utc(),
    })
}

fn claim_doc(r: ClaimRecord) -> Result<RemittanceClaim, Error> {
    let c = currency(&r.row.currency)?;
    let row = r.row;
    Ok(RemittanceClaim {
        id: row.id,
        remittance_id: row.remittance_id,
        position: row.position,
        patient_control_number: row.patient_control_number,
        payer_claim_number: row.payer_claim_number,
        status_code: row.status_code,
        status: row.status,
        note: row.note,
        charge: money(row.charge_minor, c),
        paid: money(row.paid_minor, c),
        patient_responsibility: money(row.patient_responsibility_minor, c),
        patient_share: money(row.patient_share_minor, c),
        unallocated: money(row.unallocated_minor, c),
        left_owing: money(row.left_owing_minor, c),
        invoice_id: row.invoice_id,
        invoice_number: row.invoice_number,
        receivable_id: row.receivable_id,
        claim_id: row.claim_id,
        payment_id: row.payment_id,
        adjustments: r
            .detail
            .adjustments
            .into_iter()
            .map(|a| ClaimAdjustment {
                group: a.group,
                reason: a.reason,
                remarks: a.remarks,
                amount: money(a.amount_minor, c),
                absorbed: money(a.absorbed_minor, c),
                posted: money(a.posted_minor, c),
                adjustment_id: a.adjustment_id,
                line: a.line,
            })
            .collect(),
        lines: r
            .detail
            .lines
            .into_iter()
            .map(|l| ClaimLine {
                control_number: l.control_number,
                procedure: l.procedure,
                charge: money(l.charge_minor, c),
                paid: money(l.paid_minor, c),
                units: l.units,
                date: l.date,
                remarks: l.remarks,
            })
            .collect(),
        remarks: r.detail.remarks,
        patient_name: r.detail.patient_name,
        member_id: r.detail.member_id,
        posted_at: row.posted_at.map(|t| t.and_utc()),
    })
}

/// Remittances pay claims of every location: only users of every location (and no payer)
/// import and read them.
fn everywhere(who: &Principal, what: &str) -> Result<(), Error> {
    if Scope::of(who) != Scope::everything() {
        return Err(Error::not_found(what));
    }
    Ok(())
}

fn parse_uuid(id: &str, what: &str) -> Result<String, Error> {
    uuid::Uuid::parse_str(id.trim())
        .map(|u| u.to_string())
        .map_err(|_| Error::not_found(what))
}

/// Import a payer's X12 835 remittance: each claim payment is matched to the invoice it pays
/// by its patient control number (CLP01), and posted — the payment, then the adjustments the
/// payer explained (contractual, patient responsibility, other) with their reason codes;
/// denials open a dispute; what matches no invoice is kept for a person. The same remittance
/// again (payer id and trace number) answers its first import and posts nothing twice.
#[utoipa::path(post, path = "/v1/remittances", tag = "remittances",
    request_body(content((String = "application/edi-x12"), (String = "text/plain")),
        description = "An X12 interchange holding 835 (005010X221A1) transactions"),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Imported: each remittance with its claim payments counted by status", body = RemittanceImport),
        (status = 200, description = "Imported before (every remittance of the file): the first import, nothing posted again", body = RemittanceImport),
        (status = 403, description = "Not a collector or billing manager of every location", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 32 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as `application/edi-x12` or `text/plain`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not X12 (`not_x12`), an envelope that lies (`x12_envelope_invalid`), no 835 (`x12_unsupported`), amounts that do not add up (`remittance_does_not_balance`, naming the segment), a segment that does not read (`x12_invalid`), or a payer no claim was sent to and no invoice of (`unknown_payer`); nothing posted", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn import_remittance(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    payload: web::Payload,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    if Scope::of(&who) != Scope::everything() {
        return Err(Error::forbidden(
            "a remittance pays claims of any location: it is imported by a user of every location",
        ));
    }
    if !matches!(
        media_type(&req).as_str(),
        "application/edi-x12" | "text/plain"
    ) {
        return Err(Error::new(
            ErrorCode::UnsupportedMediaType,
            "an 835 is sent as its X12 text (Content-Type: application/edi-x12)",
        ));
    }
    let body = raw_body(payload, MAX_REMITTANCE_BYTES).await?;
    let digest = digest(&body);
    let key = IdempotencyKey::from_request(&req, &who, &digest)?;
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        Error::new(
            ErrorCode::NotX12,
            "not an X12 interchange: the file is not text",
        )
    })?;
    let file = service::read(&text, digest)?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent_with_status(conn, key.as_ref(), |conn| {
                let (created, rs) = service::import(conn, &who, file)?;
                let status = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                let remittances = rs.iter().map(doc).collect::<Result<_, Error>>()?;
                Ok((status, RemittanceImport { remittances }))
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// List imported remittances, oldest import first.
#[utoipa::path(get, path = "/v1/remittances", tag = "remittances", params(PageParams),
    responses((status = 200, description = "A page of remittances", body = Page<RemittanceDoc>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_remittances(
    state: web::Data<CollectionsState>,
    who: Principal,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<RemittanceDoc>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    if Scope::of(&who) != Scope::everything() {
        return Ok(web::Json(Page {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
    let page = state
        .db
        .read(move |conn| service::list(conn, &page))
        .await?;
    Ok(web::Json(page.try_map(|r| doc(&r))?))
}

/// Get an imported remittance.
#[utoipa::path(get, path = "/v1/remittances/{id}", tag = "remittances",
    params(("id" = String, Path, description = "Remittance id")),
    responses((status = 200, description = "The remittance", body = RemittanceDoc),
        (status = 404, description = "No such remittance", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_remittance(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<RemittanceDoc>, Error> {
    who.require(READERS)?;
    everywhere(&who, "remittance")?;
    let id = parse_uuid(&id, "remittance")?;
    let r = state.db.read(move |conn| service::get(conn, &id)).await?;
    Ok(web::Json(doc(&r)?))
}

/// List claim payments of remittances, oldest first: the work queue of those `unmatched`,
/// `denied` or for `review`, or the claims of one remittance.
#[utoipa::path(get, path = "/v1/remittance-claims", tag = "remittances", params(ClaimQuery),
    responses((status = 200, description = "A page of claim payments", body = Page<RemittanceClaim>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such remittance", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown status", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_remittance_claims(
    state: web::Data<CollectionsState>,
    who: Principal,
    q: web::Query<ClaimQuery>,
) -> Result<web::Json<Page<RemittanceClaim>>, Error> {
    who.require(READERS)?;
    let q = q.into_inner();
    let page = PageParams {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    if let Some(s) = &q.status
        && !status::ALL.contains(&s.as_str())
    {
        return Err(Error::field(
            "status",
            "invalid",
            format!("must be one of {}", status::ALL.join(", ")),
        ));
    }
    let remittance = q
        .remittance_id
        .as_deref()
        .map(|id| parse_uuid(id, "remittance"))
        .transpose()?;
    if Scope::of(&who) != Scope::everything() {
        return Ok(web::Json(Page {
            items: Vec::new(),
            next_cursor: None,
        }));
    }
    let status = q.status;
    let page = state
        .db
        .read(move |conn| service::claims(conn, remittance.as_deref(), status.as_deref(), &page))
        .await?;
    Ok(web::Json(page.try_map(claim_doc)?))
}

/// Get one claim payment of a remittance, with its adjustments and lines.
#[utoipa::path(get, path = "/v1/remittance-claims/{id}", tag = "remittances",
    params(("id" = String, Path, description = "Remittance claim id")),
    responses((status = 200, description = "The claim payment", body = RemittanceClaim),
        (status = 404, description = "No such claim payment", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_remittance_claim(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<RemittanceClaim>, Error> {
    who.require(READERS)?;
    everywhere(&who, "remittance claim")?;
    let id = parse_uuid(&id, "remittance claim")?;
    let c = state.db.read(move |conn| service::claim(conn, &id)).await?;
    Ok(web::Json(claim_doc(c)?))
}

/// Match an unmatched claim payment to the invoice it pays, by hand: it is posted as an import
/// would have posted it (payment, adjustments; or denied, or for review).
#[utoipa::path(post, path = "/v1/remittance-claims/{id}/match", tag = "remittances",
    params(("id" = String, Path, description = "Remittance claim id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    request_body = ClaimMatch,
    responses((status = 200, description = "The claim payment, posted", body = RemittanceClaim),
        (status = 403, description = "Not a collector or billing manager of every location", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim payment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not waiting to be matched (`already_matched`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No receivable of that invoice, or one in another currency (field `invoice_id`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn match_remittance_claim(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<ClaimMatch>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    if Scope::of(&who) != Scope::everything() {
        return Err(Error::forbidden(
            "a remittance pays claims of any location: it is matched by a user of every location",
        ));
    }
    let body = body.parse()?;
    let id = parse_uuid(&id, "remittance claim")?;
    let input = body.value;
    let invoice_id: InvoiceId = input
        .invoice_id
        .trim()
        .parse()
        .map_err(|_| Error::field("invoice_id", "invalid", "not an invoice id"))?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                claim_doc(service::match_by_hand(conn, &who, &id, invoice_id)?)
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}
