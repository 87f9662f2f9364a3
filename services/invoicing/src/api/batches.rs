//! Batches over HTTP (seed 000's batch manager): create one by rule, fill it by its rule or add
//! and remove documents by hand while it is open, close it (numbered, totals frozen), send it
//! to collections, export its documents as one archive ([`crate::service::batches`]).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::events::PartyKind;
use carebill_domain::ids::BatchId;
use carebill_domain::invoicing::{BatchDocumentKind, BatchStatus};
use carebill_domain::{Code, Currency, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{READERS, check_range};
use crate::InvoicingState;
use crate::service::batches::{self as service, Additions, BatchFilter, Member, NewBatch};

/// Roles that may create, fill and close batches (admin always may).
const BATCHERS: &[Role] = &[Role::BillingManager, Role::Biller];
/// Roles that may send a batch to collections (admin always may).
const SENDERS: &[Role] = &[Role::BillingManager];

/// A batch of invoices and credit notes.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceBatch {
    /// Id.
    pub id: BatchId,
    /// Number in the location's batch series, given when closed.
    #[schema(example = "H1-BAT-2026-000001")]
    pub number: Option<String>,
    /// `open` (documents added and removed), `closed` (numbered, frozen), `sent` (handed to
    /// collections).
    pub status: BatchStatus,
    /// The issuing location.
    #[schema(example = "H1")]
    pub location_code: String,
    /// A payer's batch: only documents addressed to this payer.
    #[schema(example = "SANITAS")]
    pub payer_code: Option<String>,
    /// Only documents addressed to payers, or to patients.
    pub recipient_kind: Option<PartyKind>,
    /// Only invoices, or only credit notes.
    pub document_kind: Option<BatchDocumentKind>,
    /// The currency of every document.
    #[schema(example = "EUR")]
    pub currency: String,
    /// The rule's period (what `fill` selects): first issue date.
    pub issued_from: Option<NaiveDate>,
    /// The rule's period: last issue date.
    pub issued_to: Option<NaiveDate>,
    /// Free text.
    pub description: Option<String>,
    /// How many documents.
    pub document_count: i32,
    /// What its invoices bill.
    pub invoiced: Money,
    /// What its credit notes credit.
    pub credited: Money,
    /// Invoiced less credited.
    pub net: Money,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// When.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who sent it.
    pub sent_by: Option<String>,
    /// When.
    pub sent_at: Option<DateTime<Utc>>,
}

impl InvoiceBatch {
    fn of(b: service::Batch) -> Result<Self, Error> {
        let net = Money::from_minor(
            carebill_domain::money::MinorUnits(
                b.invoiced.to_minor().map_err(|e| Error::internal(&e))?.0
                    - b.credited.to_minor().map_err(|e| Error::internal(&e))?.0,
            ),
            b.currency,
        );
        Ok(InvoiceBatch {
            id: b.id,
            number: b.number,
            status: b.status,
            location_code: b.location_code,
            payer_code: b.payer_code,
            recipient_kind: b.recipient_kind,
            document_kind: b.document_kind,
            currency: b.currency.code().to_owned(),
            issued_from: b.issued_from,
            issued_to: b.issued_to,
            description: b.description,
            document_count: b.document_count,
            invoiced: b.invoiced,
            credited: b.credited,
            net,
            created_by: b.created_by,
            created_at: b.created_at,
            closed_by: b.closed_by,
            closed_at: b.closed_at,
            sent_by: b.sent_by,
            sent_at: b.sent_at,
        })
    }
}

/// A document of a batch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchMember {
    /// Invoice or credit note.
    pub kind: BatchDocumentKind,
    /// Its id.
    #[schema(value_type = String, format = Uuid)]
    pub id: uuid::Uuid,
    /// Its number.
    pub number: String,
    /// Its total (a credit note's: what it credits).
    pub total: Money,
    /// When it was added.
    pub added_at: DateTime<Utc>,
}

impl From<Member> for BatchMember {
    fn from(m: Member) -> Self {
        BatchMember {
            kind: m.kind,
            id: m.id,
            number: m.number,
            total: m.total,
            added_at: m.added_at,
        }
    }
}

/// A batch's documents, in their order.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchMembers {
    /// The batch.
    pub batch: InvoiceBatch,
    /// Its documents.
    pub items: Vec<BatchMember>,
}

/// What a client sends to create a batch: its rule, and whether to fill it by the rule now.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvoiceBatchInput {
    /// The issuing location.
    #[schema(example = "H1")]
    pub location_code: String,
    /// ISO 4217 currency of every document.
    #[schema(example = "EUR")]
    pub currency: String,
    /// A payer's batch: only documents addressed to this payer.
    #[schema(example = "SANITAS")]
    pub payer_code: Option<String>,
    /// Only documents addressed to payers, or to patients.
    pub recipient_kind: Option<PartyKind>,
    /// Only invoices, or only credit notes.
    pub document_kind: Option<BatchDocumentKind>,
    /// The period `fill` selects: first issue date.
    pub issued_from: Option<NaiveDate>,
    /// The period `fill` selects: last issue date.
    pub issued_to: Option<NaiveDate>,
    /// Free text, e.g. "SANITAS, November".
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Add every document the rule matches (and that is in no batch yet) at once.
    #[serde(default)]
    pub fill: bool,
}

impl InvoiceBatchInput {
    fn validate(self) -> Result<NewBatch, Error> {
        let mut v = Validation::new();
        let location = v.check("location_code", "invalid", Code::parse(&self.location_code));
        let currency = v.check("currency", "invalid", Currency::parse(&self.currency));
        let payer = self
            .payer_code
            .as_deref()
            .and_then(|p| v.check("payer_code", "invalid", Code::parse(p)));
        if self.payer_code.is_some() && self.recipient_kind == Some(PartyKind::Patient) {
            v.add(
                "recipient_kind",
                "invalid",
                "a payer's batch holds documents addressed to that payer, not to patients",
            );
        }
        let description = v.opt_text("description", self.description.as_deref(), 500);
        let mut range = check_range(self.issued_from, self.issued_to).err();
        if let Some(e) = range.take() {
            for f in e.field_errors() {
                v.add(f.field.clone(), &f.code, f.message.clone());
            }
        }
        v.finish().map_err(Error::validation)?;
        match (location, currency) {
            (Some(location), Some(currency)) => Ok(NewBatch {
                location_code: location.as_str().to_owned(),
                currency,
                payer_code: payer.map(|p| p.as_str().to_owned()),
                recipient_kind: if self.payer_code.is_some() {
                    Some(PartyKind::Payer)
                } else {
                    self.recipient_kind
                },
                document_kind: self.document_kind,
                issued_from: self.issued_from,
                issued_to: self.issued_to,
                description,
                fill: self.fill,
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Documents to add to an open batch by hand, or to take out of it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchAdditions {
    /// Invoices.
    #[serde(default)]
    #[schema(max_items = 10000)]
    pub invoice_ids: Vec<String>,
    /// Credit notes.
    #[serde(default)]
    #[schema(max_items = 10000)]
    pub credit_note_ids: Vec<String>,
}

/// Create a batch for a location (and optionally one payer, recipient kind, document kind and
/// issue-date period); with `fill`, every matching document that is in no batch yet joins it.
#[utoipa::path(post, path = "/v1/invoice-batches", tag = "invoice batches", request_body = InvoiceBatchInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "The batch, open", body = InvoiceBatch),
        (status = 422, description = "Invalid rule, or a location outside your scope or where nothing was invoiced yet", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_batch(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<InvoiceBatchInput>,
) -> Result<Reply, Error> {
    who.require(BATCHERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let new = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                InvoiceBatch::of(service::create(conn, &who, new)?)
            })
        })
        .await
}

/// Filters and paging of the batch list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BatchQuery {
    /// `open`, `closed` or `sent`.
    pub status: Option<BatchStatus>,
    /// Of this location.
    pub location_code: Option<String>,
    /// Of this payer.
    pub payer_code: Option<String>,
    /// Whose period reaches this day or later (batches without a period always match).
    pub period_from: Option<NaiveDate>,
    /// Whose period starts on this day or before (batches without a period always match).
    pub period_to: Option<NaiveDate>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// List the batches in your scope, oldest first (a payer sees only its own).
#[utoipa::path(get, path = "/v1/invoice-batches", tag = "invoice batches", params(BatchQuery),
    responses((status = 200, description = "A page of batches", body = Page<InvoiceBatch>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_batches(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<BatchQuery>,
) -> Result<web::Json<Page<InvoiceBatch>>, Error> {
    who.require(READERS)?;
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let mut v = Validation::new();
    if let (Some(f), Some(t)) = (query.period_from, query.period_to)
        && f > t
    {
        v.add("period_to", "invalid", "must not be before period_from");
    }
    v.finish().map_err(Error::validation)?;
    let filter = BatchFilter {
        status: query.status,
        location_code: query.location_code,
        payer_code: query.payer_code,
        period_from: query.period_from,
        period_to: query.period_to,
    };
    let scope = Scope::of(&who);
    let page = state
        .db
        .read(move |conn| service::list(conn, &scope, &filter, &page))
        .await?;
    Ok(web::Json(page.try_map(InvoiceBatch::of)?))
}

/// Get a batch.
#[utoipa::path(get, path = "/v1/invoice-batches/{id}", tag = "invoice batches",
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, description = "The batch", body = InvoiceBatch),
        (status = 404, description = "No such batch in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn get_batch(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<InvoiceBatch>, Error> {
    who.require(READERS)?;
    let id: BatchId = parse_id(&id, "batch")?;
    let scope = Scope::of(&who);
    let batch = state
        .db
        .read(move |conn| service::get(conn, &scope, id))
        .await?;
    Ok(web::Json(InvoiceBatch::of(batch)?))
}

/// List a batch's documents, in their order.
#[utoipa::path(get, path = "/v1/invoice-batches/{id}/documents", tag = "invoice batches",
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, description = "The batch and its documents", body = BatchMembers),
        (status = 404, description = "No such batch in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn list_batch_documents(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<BatchMembers>, Error> {
    who.require(READERS)?;
    let id: BatchId = parse_id(&id, "batch")?;
    let scope = Scope::of(&who);
    let (batch, members) = state
        .db
        .read(move |conn| service::members(conn, &scope, id))
        .await?;
    Ok(web::Json(BatchMembers {
        batch: InvoiceBatch::of(batch)?,
        items: members.into_iter().map(Into::into).collect(),
    }))
}

/// Add invoices and credit notes to an open batch by hand, all or none: each must be of the
/// batch's location, currency, payer, recipient kind and document kind, not a cancelled invoice,
/// and in no batch yet.
#[utoipa::path(post, path = "/v1/invoice-batches/{id}/documents", tag = "invoice batches", request_body = BatchAdditions,
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, description = "The batch with the documents added", body = InvoiceBatch),
        (status = 404, description = "No such batch in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The batch is closed (`batch_closed`), or a document is in a batch already (`already_batched`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A document that does not belong in the batch, named by its field", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn add_batch_documents(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<BatchAdditions>,
) -> Result<web::Json<InvoiceBatch>, Error> {
    who.require(BATCHERS)?;
    let body = body.parse()?;
    let id: BatchId = parse_id(&id, "batch")?;
    let additions = Additions {
        invoice_ids: body.value.invoice_ids,
        credit_note_ids: body.value.credit_note_ids,
    };
    let batch = state
        .db
        .write(move |conn| service::add(conn, &who, id, &additions))
        .await?;
    Ok(web::Json(InvoiceBatch::of(batch)?))
}

/// Take invoices and credit notes out of an open batch, all or none: each must be in it.
#[utoipa::path(post, path = "/v1/invoice-batches/{id}/removals", tag = "invoice batches", request_body = BatchAdditions,
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, description = "The batch without them", body = InvoiceBatch),
        (status = 404, description = "No such batch in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The batch is closed (`batch_closed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A document that is not in the batch, named by its field", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn remove_batch_documents(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<BatchAdditions>,
) -> Result<web::Json<InvoiceBatch>, Error> {
    who.require(BATCHERS)?;
    let body = body.parse()?;
    let id: BatchId = parse_id(&id, "batch")?;
    let removals = Additions {
        invoice_ids: body.value.invoice_ids,
        credit_note_ids: body.value.credit_note_ids,
    };
    let batch = state
        .db
        .write(move |conn| service::remove(conn, &who, id, &removals))
        .await?;
    Ok(web::Json(InvoiceBatch::of(batch)?))
}

/// A lifecycle step of a batch.
async fn step(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: &str,
    f: fn(
        &mut carebill_platform::db::AnyConnection,
        &Principal,
        BatchId,
    ) -> Result<service::Batch, Error>,
) -> Result<web::Json<InvoiceBatch>, Error> {
    let id: BatchId = parse_id(id, "batch")?;
    let batch = state.db.write(move |conn| f(conn, &who, id)).await?;
    Ok(web::Json(InvoiceBatch::of(batch)?))
}

/// Add every document the batch's rule matches that is in no batch yet.
#[utoipa::path(post, path = "/v1/invoice-batches/{id}/fill", tag = "invoice batches",
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, description = "The batch with the documents added", body = InvoiceBatch),
        (status = 404, description = "No such batch in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The batch is closed (`batch_closed`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn fill_batch(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<InvoiceBatch>, Error> {
    who.require(BATCHERS)?;
    step(state, who, &id, service::fill).await
}

/// Close an open batch: it gets its number, and its documents and totals no longer change
/// (`carebill.invoicing.batch.closed.v1`).
#[utoipa::path(post, path = "/v1/invoice-batches/{id}/close", tag = "invoice batches",
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, description = "The batch, closed", body = InvoiceBatch),
        (status = 404, description = "No such batch in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The batch is closed already (`batch_closed`) or has no documents (`batch_empty`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn close_batch(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<InvoiceBatch>, Error> {
    who.require(BATCHERS)?;
    step(state, who, &id, service::close).await
}

/// Send a closed batch to collections (`carebill.invoicing.batch.sent.v1`).
#[utoipa::path(post, path = "/v1/invoice-batches/{id}/send", tag = "invoice batches",
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, description = "The batch, sent", body = InvoiceBatch),
        (status = 404, description = "No such batch in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The batch is open, or sent already (`batch_not_closed`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn send_batch(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<InvoiceBatch>, Error> {
    who.require(SENDERS)?;
    step(state, who, &id, service::send).await
}

/// The formats of an export.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// The document format: `ubl` (the default) or `pdf` (each document in the layout it was
    /// issued under).
    pub format: Option<String>,
}

/// Export a closed or sent batch: one zip archive with `manifest.json` (the batch, and each
/// document with its file, or what it lacks to be a valid e-invoice) and `ubl/<number>.xml` per
/// document, or with `format=pdf` `pdf/<number>.pdf` per document.
#[utoipa::path(get, path = "/v1/invoice-batches/{id}/export", tag = "invoice batches", params(("id" = String, Path, description = "Batch id"), ExportQuery),
    responses((status = 200, description = "The archive", content_type = "application/zip", body = Vec<u8>),
        (status = 404, description = "No such batch in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The batch is open (`batch_not_closed`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A format the export does not have", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub async fn export_batch(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: BatchId = parse_id(&id, "batch")?;
    let pdf = match query.format.as_deref() {
        None | Some("ubl") => false,
        Some("pdf") => true,
        Some(f) => {
            return Err(Error::field(
                "format",
                "invalid",
                format!("`{f}` is not an export format: `ubl` or `pdf`"),
            ));
        }
    };
    let scope = Scope::of(&who);
    let (batch, bytes) = if pdf {
        let (batch, documents) = state
            .db
            .read(move |conn| service::printables(conn, &scope, id))
            .await?;
        web::block(move || service::pdf_archive(&batch, documents).map(|bytes| (batch, bytes)))
            .await
            .map_err(|e| Error::internal(&e))??
    } else {
        state
            .db
            .read(move |conn| service::export(conn, &scope, id))
            .await?
    };
    let name = batch
        .number
        .as_deref()
        .map_or_else(|| id.to_string(), |n| n.replace(['/', '\\', '"'], "_"));
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}.zip\""),
        ))
        .body(bytes))
}
