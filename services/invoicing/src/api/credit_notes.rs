//! Credit notes over HTTP: cancelling an invoice with a full credit note
//! ([`crate::service::credit_notes`]), a list with filters and one credit note with its lines.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::Validation;
use carebill_domain::agency_invoices::AgencyPurpose;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::{ConsumptionId, CreditNoteId, InvoiceId, PatientId, SettlementId};
use carebill_domain::invoicing::{CreditAsked, LineCredit};
use carebill_domain::{Currency, Money};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::documents::{EpisodeLink, Issuer, Line, SettlementLink};
use super::e_invoices::{self, DOCUMENT_FORMATS, Format, IncompleteDocument};
use super::printing::{json_tagged, printed};
use super::{CREDITORS, READERS, check_range};
use crate::InvoicingState;
use crate::service::credit_notes::{self, Credit};
use crate::service::documents::{self, CreditNoteDocument, CreditNoteFilter, CreditNoteHeader};
use crate::service::printing;
use carebill_platform::http::negotiate;

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
    /// The patient the care was for (null when the credited care agency's invoice concerned
    /// none).
    pub patient_id: Option<PatientId>,
    /// The episode of care (null for a care agency's invoice).
    pub episode: Option<EpisodeLink>,
    /// The settlement version the invoice billed (null for a care agency's invoice).
    pub settlement: Option<SettlementLink>,
    /// The UNTDID 1001 type its UBL carries: `381`, or `261` for a credit note of an invoice a
    /// care agency self-billed on a carer's behalf.
    #[schema(example = "381")]
    pub document_type: String,
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
    /// A partial credit note reduces its invoice (chosen lines, quantities or amounts); a full
    /// one credits what was left of it and cancels it.
    pub partial: bool,
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
    /// false when the invoice is simply withdrawn. A partial credit note never reissues.
    pub reissue: bool,
    /// For a partial credit note, the lines to credit, each by a quantity or an amount; absent,
    /// the credit note is full: it credits what is left of every line and cancels the invoice.
    pub lines: Option<Vec<CreditLineInput>>,
}

/// One line of a partial credit note: the invoice line (by its consumption) and how much of it,
/// either a quantity (that part of what the line bills, rounded to the cent; the line's whole
/// quantity credits everything it still bills) or an amount in the invoice's currency.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditLineInput {
    /// The consumption the invoice line bills.
    pub consumption_id: String,
    /// A quantity of the line, more than zero and at most the line's.
    #[schema(example = "1", pattern = r"^[0-9]+(\.[0-9]+)?$")]
    pub quantity: Option<String>,
    /// An amount of what the line bills, more than zero, in the invoice's currency.
    #[schema(example = "20.00", pattern = r"^[0-9]+(\.[0-9]+)?$")]
    pub amount: Option<String>,
}

impl CreditInput {
    /// What the body asks for, every problem reported at once (the currency of amounts is the
    /// invoice's, checked when the invoice is read).
    fn credit(&self) -> Result<(String, Credit), Error> {
        let mut v = Validation::new();
        let reason = v.text("reason", &self.reason, 500);
        let credit = match &self.lines {
            None => Some(Credit::Full {
                reissue: self.reissue,
            }),
            Some(lines) => {
                if self.reissue {
                    v.add(
                        "reissue",
                        "invalid",
                        "a partial credit note does not reissue: credit the invoice in full to correct and bill again",
                    );
                }
                if lines.is_empty() {
                    v.add(
                        "lines",
                        "invalid",
                        "a partial credit note names at least one line",
                    );
                }
                let mut asked = Vec::with_capacity(lines.len());
                for (i, line) in lines.iter().enumerate() {
                    let at = format!("lines.{i}");
                    let consumption_id = v.check(
                        &format!("{at}.consumption_id"),
                        "invalid",
                        line.consumption_id.trim().parse::<ConsumptionId>(),
                    );
                    let decimal = |field: &str, text: &str, v: &mut Validation| {
                        v.check(
                            &format!("{at}.{field}"),
                            "invalid",
                            text.trim()
                                .parse::<Decimal>()
                                .map_err(|_| format!("`{text}` is not a decimal number")),
                        )
                    };
                    let credit = match (&line.quantity, &line.amount) {
                        (Some(q), None) => decimal("quantity", q, &mut v).map(LineCredit::Quantity),
                        (None, Some(a)) => decimal("amount", a, &mut v).map(LineCredit::Amount),
                        _ => {
                            v.add(&at, "invalid", "give either a quantity or an amount");
                            None
                        }
                    };
                    if let (Some(consumption_id), Some(credit)) = (consumption_id, credit) {
                        asked.push(CreditAsked {
                            consumption_id,
                            credit,
                        });
                    }
                }
                Some(Credit::Partial(asked))
            }
        };
        v.finish().map_err(Error::validation)?;
        match (reason, credit) {
            (Some(reason), Some(credit)) => Ok((reason, credit)),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

impl CreditNoteSummary {
    /// A credit note header as the API shows it (issuer, recipient, episode and settlement are
    /// its invoice's).
    pub(crate) fn of(h: &CreditNoteHeader) -> CreditNoteSummary {
        CreditNoteSummary {
            id: h.id,
            number: h.number.clone(),
            invoice: InvoiceLink {
                id: h.invoice_id,
                number: h.invoice_number.clone(),
            },
            issuer: Issuer::of(&h.issuer),
            recipient: h.recipient.clone(),
            patient_id: h.patient_id,
            episode: h.episode.as_ref().map(EpisodeLink::of),
            settlement: h.settlement.as_ref().map(SettlementLink::of),
            document_type: if h
                .agency
                .as_ref()
                .is_some_and(|a| a.purpose == AgencyPurpose::Hours)
            {
                "261"
            } else {
                "381"
            }
            .to_owned(),
            currency: h.currency,
            total: h.total,
            tax_total: h.tax_total,
            reason: h.reason.clone(),
            reissue: h.reissue,
            partial: h.partial,
            issue_date: h.issue_date,
            issued_by: h.issued_by.clone(),
            created_at: h.created_at,
            issued_at: h.issued_at,
        }
    }
}

impl CreditNote {
    /// A credit note with its lines as the API shows it.
    pub(crate) fn of(doc: &CreditNoteDocument) -> CreditNote {
        CreditNote {
            summary: CreditNoteSummary::of(&doc.header),
            lines: doc.lines.iter().map(Line::of).collect(),
        }
    }
}

/// Credit an invoice (reason required). Without `lines`, a full credit note: it credits what is
/// left of every line and cancels the invoice; with `reissue`, settlement reopens the settlement
/// for correction and the corrected version is invoiced again. With `lines`, a partial credit
/// note: each line credited by a quantity or an amount, never more than it still bills; the
/// invoice stays issued for the rest.
#[utoipa::path(post, path = "/v1/invoices/{id}/credit-notes", tag = "credit notes", request_body = CreditInput,
    params(("id" = String, Path, description = "Invoice id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "Credit note issued; the invoice is cancelled (full) or reduced (partial)", body = CreditNote),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The invoice is already cancelled (`already_credited`), or a line is asked more than it still bills (`credit_exceeds_remaining`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(invoice_id = %id))]
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
    let (reason, credit) = body.value.credit()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                Ok(CreditNote::of(&credit_notes::credit(
                    conn, &who, id, &reason, &credit,
                )?))
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
    /// Issued at or after this instant (RFC 3339): a portal's incremental pull.
    pub since: Option<DateTime<Utc>>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl CreditNoteQuery {
    /// The filters of the query, checked: plausible days, `issued_from` not after `issued_to`.
    fn filter(&self) -> Result<CreditNoteFilter, Error> {
        check_range(self.issued_from, self.issued_to)?;
        Ok(CreditNoteFilter {
            location_code: self.location_code.clone(),
            recipient_kind: self.recipient_kind,
            payer_code: self.payer_code.clone(),
            patient_id: self.patient_id,
            invoice_id: self.invoice_id,
            settlement_id: self.settlement_id,
            issued_from: self.issued_from,
            issued_to: self.issued_to,
            number: self.number.clone(),
            since: self.since,
        })
    }
}

/// List the credit notes in your scope, oldest first.
#[utoipa::path(get, path = "/v1/credit-notes", tag = "credit notes", params(CreditNoteQuery),
    responses((status = 200, description = "A page of credit notes", body = Page<CreditNoteSummary>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_credit_notes(
    state: web::Data<InvoicingState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<CreditNoteQuery>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor.clone(),
    }
    .parse()?;
    let scope = Scope::of(&who);
    let filter = query.filter()?;
    let page = state
        .db
        .read(move |conn| documents::credit_notes(conn, &scope, &filter, &page))
        .await?;
    json_tagged(&req, &page.map(|h| CreditNoteSummary::of(&h)))
}

/// Get a credit note with its lines.
#[utoipa::path(get, path = "/v1/credit-notes/{id}", tag = "credit notes",
    params(("id" = String, Path, description = "Credit note id")),
    responses((status = 200, description = "The credit note: JSON by default, UBL 2.1 (EN 16931, Peppol BIS Billing 3.0) with `Accept: application/xml`, PDF/A-3b with `Accept: application/pdf`, HTML with `Accept: text/html` (in the layout it was issued under, named in `Carebill-Layout`)", content((CreditNote = "application/json"), (String = "application/xml"), (String = "application/pdf"), (String = "text/html"))),
        (status = 404, description = "No such credit note in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows none of `application/json`, `application/xml`, `application/pdf`, `text/html`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "UBL asked for, and the document would not be valid: `missing` lists each business term and the resource to complete", body = IncompleteDocument, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(credit_note_id = %id))]
pub async fn get_credit_note(
    state: web::Data<InvoicingState>,
    who: Principal,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: CreditNoteId = parse_id(&id, "credit note")?;
    let format = negotiate(&req, DOCUMENT_FORMATS)?;
    let scope = Scope::of(&who);
    match format {
        Format::Ubl => return e_invoices::credit_note_ubl(&state, scope, id).await,
        Format::Pdf | Format::Html => {
            let p = state
                .db
                .read(move |conn| printing::credit_note(conn, &scope, id))
                .await?;
            return printed(&req, p, format).await;
        }
        Format::Json => {}
    }
    let doc = state
        .db
        .read(move |conn| documents::credit_note(conn, &scope, id))
        .await?;
    json_tagged(&req, &CreditNote::of(&doc))
}
