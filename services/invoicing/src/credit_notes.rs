//! Credit notes: the only way to cancel an invoice. A credit note is full — it mirrors its
//! invoice line by line and credits its total — and numbered in the location's own credit-note
//! series. The invoice becomes `cancelled` and its consumptions billable again for the same
//! party; `carebill.invoicing.credit_note.issued.v1` tells settlement (which, with `reissue`,
//! reopens the settlement for correction and approves a new version) and collections.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::Validation;
use carebill_domain::events::{CreditNoteIssuedV1, Envelope, PartyKind, PartyRef};
use carebill_domain::ids::{CreditNoteId, InvoiceId, PatientId, SettlementId};
use carebill_domain::invoicing::{DocumentKind, InvoiceStatus, credit_note_for, issue_date, money};
use carebill_domain::{Currency, Money};
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::error::Problem;
use carebill_platform::events::outbox;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, parse_id,
};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::InvoicingState;
use crate::documents::{
    CREDITORS, EpisodeLink, InvoiceRow, Issuer, Line, READERS, SERVICE, Scope, SettlementLink,
    api_lines, currency, domain_lines, insert_lines, invoice_row, to_minor,
};
use crate::invoices::check_range;
use crate::numbering::{lock_series, next_number};
use crate::schema::{billed_consumptions, credit_notes, invoices};

/// The invoice a credit note cancels.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceLink {
    /// Id.
    pub id: InvoiceId,
    /// Number.
    #[schema(example = "H1-INV-2026-000001")]
    pub number: String,
}

/// A credit note without its lines, as lists show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreditNoteSummary {
    /// Id.
    pub id: CreditNoteId,
    /// Number, unique in the location's credit-note series of the year.
    #[schema(example = "H1-CN-2026-000001")]
    pub number: String,
    /// The invoice it cancels.
    pub invoice: InvoiceLink,
    /// The issuing location (the invoice's).
    pub issuer: Issuer,
    /// Who the invoice was for.
    pub recipient: PartyRef,
    /// The patient the care was for.
    pub patient_id: PatientId,
    /// The episode of care.
    pub episode: EpisodeLink,
    /// The settlement version the invoice billed.
    pub settlement: SettlementLink,
    /// Currency of every amount.
    pub currency: Currency,
    /// Amount credited: the invoice's total.
    pub total: Money,
    /// Tax total (zero).
    pub tax_total: Money,
    /// Why.
    pub reason: String,
    /// Whether the settlement is to be corrected and invoiced again.
    pub reissue: bool,
    /// Issue date, the location's calendar day.
    pub issue_date: NaiveDate,
    /// Who issued it.
    pub issued_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Issued (numbered).
    pub issued_at: DateTime<Utc>,
}

/// A credit note with its lines (the invoice's, unchanged).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreditNote {
    /// The header.
    #[serde(flatten)]
    pub summary: CreditNoteSummary,
    /// The lines credited.
    pub lines: Vec<Line>,
}

/// What a client sends to cancel an invoice.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditInput {
    /// Why the invoice is cancelled.
    #[schema(
        example = "wrong coverage: the patient's policy had ended",
        pattern = r"\S",
        max_length = 500
    )]
    pub reason: String,
    /// True when the settlement is to be corrected and invoiced again (settlement reopens it);
    /// false when the invoice is simply withdrawn.
    pub reissue: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credit_notes)]
struct Row {
    id: String,
    number: String,
    invoice_id: String,
    invoice_number: String,
    location_id: String,
    location_code: String,
    recipient_kind: String,
    payer_code: Option<String>,
    patient_id: String,
    settlement_id: String,
    currency: String,
    total_minor: i64,
    tax_total_minor: i64,
    reason: String,
    reissue: bool,
    issue_date: NaiveDate,
    issued_by: String,
    created_at: NaiveDateTime,
    issued_at: NaiveDateTime,
}

fn stored<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, Error> {
    text.parse()
        .map_err(|_| Error::internal(&format!("stored {what} `{text}` does not parse")))
}

fn summary(row: &Row, invoice: &InvoiceRow) -> Result<CreditNoteSummary, Error> {
    let c = currency(&row.currency)?;
    Ok(CreditNoteSummary {
        id: stored("credit note id", &row.id)?,
        number: row.number.clone(),
        invoice: InvoiceLink {
            id: stored("invoice id", &row.invoice_id)?,
            number: row.invoice_number.clone(),
        },
        issuer: invoice.issuer()?,
        recipient: invoice.recipient()?,
        patient_id: stored("patient id", &row.patient_id)?,
        episode: invoice.episode()?,
        settlement: invoice.settlement()?,
        currency: c,
        total: money(row.total_minor, c),
        tax_total: money(row.tax_total_minor, c),
        reason: row.reason.clone(),
        reissue: row.reissue,
        issue_date: row.issue_date,
        issued_by: row.issued_by.clone(),
        created_at: row.created_at.and_utc(),
        issued_at: row.issued_at.and_utc(),
    })
}

fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<CreditNote, Error> {
    let row = credit_notes::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .filter(|r| scope.allows(&r.location_code, r.payer_code.as_deref()))
        .ok_or_else(|| Error::not_found("credit note"))?;
    let invoice = invoice_row(conn, &row.invoice_id)?
        .ok_or_else(|| Error::internal(&"credit note without its invoice"))?;
    Ok(CreditNote {
        summary: summary(&row, &invoice)?,
        lines: api_lines(conn, &row.id)?,
    })
}

/// Cancels invoice `id` with a full credit note, in the caller's transaction.
fn credit(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    reason: &str,
    reissue: bool,
) -> Result<CreditNote, Error> {
    let scope = Scope::of(who);
    // Two credits of one invoice never both pass the status check.
    db::lock_row(conn, "invoices", id)?;
    let invoice = invoice_row(conn, id)?
        .filter(|r| scope.allows(&r.location_code, r.payer_code.as_deref()))
        .ok_or_else(|| Error::not_found("invoice"))?;
    if invoice.status != InvoiceStatus::Issued.as_str() {
        return Err(Error::new(
            ErrorCode::AlreadyCredited,
            format!(
                "invoice {} is already cancelled by a credit note",
                invoice.number
            ),
        ));
    }
    let recipient = invoice.recipient()?;
    let lines = domain_lines(conn, id)?;
    let plan =
        credit_note_for(&recipient, &lines, invoice.total()?).map_err(|e| Error::internal(&e))?;
    // The series is locked before the clock is read, so numbers follow issue times (a year
    // turning meanwhile: the new year's series is locked too, below).
    let year = issue_date(db::now().and_utc(), &invoice.location_time_zone)
        .map_err(|e| Error::internal(&e))?
        .year();
    lock_series(conn, &invoice.location_id, DocumentKind::CreditNote, year)?;
    let now = db::now();
    let issued_on =
        issue_date(now.and_utc(), &invoice.location_time_zone).map_err(|e| Error::internal(&e))?;
    let number = next_number(
        conn,
        &invoice.location_id,
        &invoice.location_code,
        DocumentKind::CreditNote,
        issued_on.year(),
    )?;
    let cn_id = CreditNoteId::new();
    let row = Row {
        id: cn_id.to_string(),
        number: number.clone(),
        invoice_id: invoice.id.clone(),
        invoice_number: invoice.number.clone(),
        location_id: invoice.location_id.clone(),
        location_code: invoice.location_code.clone(),
        recipient_kind: invoice.recipient_kind.clone(),
        payer_code: invoice.payer_code.clone(),
        patient_id: invoice.patient_id.clone(),
        settlement_id: invoice.settlement_id.clone(),
        currency: invoice.currency.clone(),
        total_minor: to_minor(&plan.total)?,
        tax_total_minor: to_minor(&plan.tax_total)?,
        reason: reason.to_owned(),
        reissue,
        issue_date: issued_on,
        issued_by: who.subject.clone(),
        created_at: now,
        issued_at: now,
    };
    diesel::insert_into(credit_notes::table)
        .values(&row)
        .execute(conn)?;
    insert_lines(conn, &row.id, &plan.lines)?;
    diesel::update(invoices::table.find(id))
        .set((
            invoices::status.eq(InvoiceStatus::Cancelled.as_str()),
            invoices::cancelled_at.eq(Some(now)),
            invoices::credit_note_id.eq(Some(&row.id)),
        ))
        .execute(conn)?;
    diesel::update(billed_consumptions::table.filter(billed_consumptions::invoice_id.eq(id)))
        .set(billed_consumptions::active.eq(false))
        .execute(conn)?;
    let issued = CreditNoteIssuedV1 {
        credit_note_id: cn_id,
        number: number.clone(),
        invoice_id: stored("invoice id", &invoice.id)?,
        invoice_number: invoice.number.clone(),
        location_id: stored("location id", &invoice.location_id)?,
        recipient,
        settlement_id: stored("settlement id", &invoice.settlement_id)?,
        settlement_version: invoice.settlement_version,
        consumption_ids: plan.lines.iter().map(|l| l.consumption_id).collect(),
        total: plan.total,
        reason: reason.to_owned(),
        reissue,
        issue_date: issued_on,
        issued_by: who.subject.clone(),
        issued_at: now.and_utc(),
    };
    let env = Envelope::new(
        SERVICE,
        &issued,
        now.and_utc(),
        who.request_id.clone(),
        who.request_id.clone(),
    )
    .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)?;
    audit::record_many(
        conn,
        who,
        &[
            Change {
                action: "credit",
                entity_type: "invoice",
                entity_id: id,
                location_id: Some(&invoice.location_id),
                changes: Snapshot::Json(serde_json::json!({
                    "status": { "before": InvoiceStatus::Issued, "after": InvoiceStatus::Cancelled },
                    "credit_note": { "id": cn_id, "number": number },
                    "reissue": reissue,
                })),
                reason: Some(reason),
            },
            Change {
                action: "issue",
                entity_type: "credit_note",
                entity_id: &row.id,
                location_id: Some(&invoice.location_id),
                changes: Snapshot::Json(serde_json::json!({ "after": {
                    "number": number,
                    "invoice_id": invoice.id,
                    "invoice_number": invoice.number,
                    "total": plan.total,
                    "reissue": reissue,
                }})),
                reason: Some(reason),
            },
        ],
    )?;
    get(conn, &Scope::of(who), &row.id)
}

/// Cancel an invoice with a full credit note (reason required). With `reissue`, settlement
/// reopens the settlement for correction and the corrected version is invoiced again.
#[utoipa::path(post, path = "/v1/invoices/{id}/credit-notes", tag = "credit notes", request_body = CreditInput,
    params(("id" = String, Path, description = "Invoice id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Credit note issued; the invoice is cancelled", body = CreditNote),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The invoice is already credited (`already_credited`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn credit_invoice(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CreditInput>,
) -> Result<Reply, Error> {
    who.require(CREDITORS)?;
    let body = body.parse()?;
    let id: InvoiceId = parse_id(&id, "invoice")?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let mut v = Validation::new();
    let reason = v.text("reason", &body.value.reason, 500);
    v.finish().map_err(Error::validation)?;
    let reason = reason.unwrap_or_default();
    let reissue = body.value.reissue;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                credit(conn, &who, &id.to_string(), &reason, reissue)
            })
        })
        .await
}

/// Filters and paging of the credit-note list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CreditNoteQuery {
    /// Issued by this location.
    pub location_code: Option<String>,
    /// Cancelling invoices addressed to a payer or to the patient.
    pub recipient_kind: Option<PartyKind>,
    /// Cancelling invoices addressed to this payer.
    pub payer_code: Option<String>,
    /// For this patient's care.
    pub patient_id: Option<PatientId>,
    /// Cancelling this invoice.
    pub invoice_id: Option<InvoiceId>,
    /// Of this settlement.
    pub settlement_id: Option<SettlementId>,
    /// Issued on or after this day.
    pub issued_from: Option<NaiveDate>,
    /// Issued on or before this day.
    pub issued_to: Option<NaiveDate>,
    /// With this number.
    pub number: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &CreditNoteQuery,
    page: &PageRequest,
) -> Result<Page<CreditNoteSummary>, Error> {
    check_range(f.issued_from, f.issued_to)?;
    let mut q = credit_notes::table.select(Row::as_select()).into_boxed();
    if let Some(codes) = &scope.locations {
        q = q.filter(credit_notes::location_code.eq_any(codes.clone()));
    }
    if let Some(p) = &scope.payer {
        q = q.filter(credit_notes::payer_code.eq(p.clone()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(credit_notes::location_code.eq(l.clone()));
    }
    if let Some(k) = f.recipient_kind {
        q = q.filter(credit_notes::recipient_kind.eq(k.as_str()));
    }
    if let Some(p) = &f.payer_code {
        q = q.filter(credit_notes::payer_code.eq(p.clone()));
    }
    if let Some(p) = f.patient_id {
        q = q.filter(credit_notes::patient_id.eq(p.to_string()));
    }
    if let Some(i) = f.invoice_id {
        q = q.filter(credit_notes::invoice_id.eq(i.to_string()));
    }
    if let Some(s) = f.settlement_id {
        q = q.filter(credit_notes::settlement_id.eq(s.to_string()));
    }
    if let Some(d) = f.issued_from {
        q = q.filter(credit_notes::issue_date.ge(d));
    }
    if let Some(d) = f.issued_to {
        q = q.filter(credit_notes::issue_date.le(d));
    }
    if let Some(n) = &f.number {
        q = q.filter(credit_notes::number.eq(n.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(credit_notes::id.gt(after.clone()));
    }
    let rows = q
        .order(credit_notes::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone());
    let ids: Vec<&str> = page.items.iter().map(|r| r.invoice_id.as_str()).collect();
    let invoices: Vec<InvoiceRow> = invoices::table
        .filter(invoices::id.eq_any(ids))
        .select(InvoiceRow::as_select())
        .load(conn)?;
    let items = page
        .items
        .iter()
        .map(|r| {
            let invoice = invoices
                .iter()
                .find(|i| i.id == r.invoice_id)
                .ok_or_else(|| Error::internal(&"credit note without its invoice"))?;
            summary(r, invoice)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

/// List the credit notes in your scope, oldest first.
#[utoipa::path(get, path = "/v1/credit-notes", tag = "credit notes", params(CreditNoteQuery),
    responses((status = 200, description = "A page of credit notes", body = Page<CreditNoteSummary>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_credit_notes(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<CreditNoteQuery>,
) -> Result<web::Json<Page<CreditNoteSummary>>, Error> {
    who.require(READERS)?;
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| list(conn, &scope, &query, &page))
            .await?,
    ))
}

/// Get a credit note with its lines.
#[utoipa::path(get, path = "/v1/credit-notes/{id}", tag = "credit notes",
    params(("id" = String, Path, description = "Credit note id")),
    responses((status = 200, description = "The credit note", body = CreditNote),
        (status = 404, description = "No such credit note in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_credit_note(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<CreditNote>, Error> {
    who.require(READERS)?;
    let id: CreditNoteId = parse_id(&id, "credit note")?;
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &scope, &id.to_string()))
            .await?,
    ))
}
