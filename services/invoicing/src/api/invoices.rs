//! Invoices over HTTP: a list with filters and one invoice with its lines. Invoices are made
//! by [`crate::service::issuing`] and cancelled by [`crate::service::credit_notes`]; nobody edits
//! them.

use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::agency_invoices::AgencyPurpose;
use carebill_domain::creditor_reference::CreditorReference;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::{
    ApprovalId, CarerId, CreditNoteId, EpisodeId, InvoiceId, PatientId, SettlementId, TimesheetId,
};
use carebill_domain::invoicing::InvoiceStatus;
use carebill_domain::{Currency, Money};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{Page, PageParams, parse_id};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::credit_notes::InvoiceLink;
use super::documents::{EpisodeLink, Issuer, Line, SettlementLink};
use super::e_invoices::{self, DOCUMENT_FORMATS, Format, IncompleteDocument};
use super::printing::{json_tagged, printed};
use super::{READERS, check_range};
use crate::InvoicingState;
use crate::service::documents::{self, InvoiceDocument, InvoiceFilter, InvoiceHeader};
use crate::service::printing;
use carebill_platform::http::negotiate;

/// An invoice without its lines, as lists show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceSummary {
    /// Id.
    pub id: InvoiceId,
    /// Number, unique in the location's invoice series of the year.
    #[schema(example = "H1-INV-2026-000001")]
    pub number: String,
    /// The ISO 11649 creditor reference to pay it with, derived from its number (electronic
    /// form; printed in groups of four). Its UBL quotes it as the remittance information
    /// (BT-83, `cac:PaymentMeans/cbc:PaymentID`), and collections matches bank statement credits
    /// by it.
    #[schema(example = "RF18539007547034")]
    pub payment_reference: String,
    /// `issued`, or `cancelled` by a credit note.
    pub status: InvoiceStatus,
    /// The issuing location.
    pub issuer: Issuer,
    /// Who is billed: a payer (through a coverage) or the patient; for a care agency's invoice
    /// the party that pays the hours, the client, or the carer (commission).
    pub recipient: PartyRef,
    /// The patient the care was for (null on an agency invoice to an organisation or a carer).
    pub patient_id: Option<PatientId>,
    /// The episode of care (null on a care agency's invoice).
    pub episode: Option<EpisodeLink>,
    /// The settlement version billed (null on a care agency's invoice).
    pub settlement: Option<SettlementLink>,
    /// What a care agency's invoice is besides an invoice (null on a settlement's).
    pub agency: Option<AgencyInvoice>,
    /// Currency of every amount.
    pub currency: Currency,
    /// Total to pay: the sum of the lines' billed amounts.
    pub total: Money,
    /// Tax total (zero: health care is VAT-exempt).
    pub tax_total: Money,
    /// Issue date, the location's calendar day.
    pub issue_date: NaiveDate,
    /// Due date, as the payment terms give it.
    pub due_date: NaiveDate,
    /// The payment terms as the document states them (EN 16931 BT-20): the payer's, else the
    /// location's, else 30 days net.
    #[schema(example = "Payment within 30 days of the invoice date, by 2027-01-05.")]
    pub payment_terms: String,
    /// What its credit notes credited so far: partial ones reduce it, a full one credits the
    /// rest and cancels it.
    pub credited: Money,
    /// For a corrective invoice, the invoice it replaces: issued to the party after a credit
    /// note with reissue cancelled its invoice of the same settlement (its UBL names it as the
    /// preceding invoice, BT-25).
    pub corrects: Option<InvoiceLink>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Issued (numbered).
    pub issued_at: DateTime<Utc>,
    /// When a credit note cancelled it.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The credit note that cancelled it.
    pub credit_note_id: Option<CreditNoteId>,
}

/// What a care agency's invoice is besides an invoice (seed 004).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgencyInvoice {
    /// `hours`: the carer's approved hours, made by the agency on the carer's behalf under
    /// their self-billing agreement (the carer is the seller); `commission`: the agency's
    /// commission to the carer over a period (one line per approval); `mediation_fee`: the
    /// agency's fee to the client.
    pub purpose: AgencyPurpose,
    /// The UNTDID 1001 type its UBL carries: `389` (self-billed) for hours, else `380`.
    #[schema(example = "389")]
    pub document_type: String,
    /// The client's approval of the hours it bills (null on a commission invoice, which bills
    /// the approvals of a period: its lines name them).
    pub approval_id: Option<ApprovalId>,
    /// The timesheet approved (null on a commission invoice).
    pub timesheet_id: Option<TimesheetId>,
    /// The carer.
    pub carer_id: CarerId,
    /// The placement's reference (a commission invoice: each placement it bills, comma
    /// separated).
    pub placement_reference: String,
    /// The note the document carries (EN 16931 BT-22): on a self-billed invoice, the
    /// self-billing agreement it is made under.
    pub note: Option<String>,
    /// Who receives the payment when not the seller (BG-10): the agency, for hours it bills
    /// on a carer's behalf.
    pub payee: Option<String>,
}

/// An invoice with its lines.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invoice {
    /// The header.
    #[serde(flatten)]
    pub summary: InvoiceSummary,
    /// The lines, in the settlement's order.
    pub lines: Vec<Line>,
}

impl InvoiceSummary {
    /// The invoice header as the API shows it.
    pub(crate) fn of(h: &InvoiceHeader) -> InvoiceSummary {
        InvoiceSummary {
            id: h.id,
            number: h.number.clone(),
            payment_reference: CreditorReference::for_invoice_number(&h.number)
                .as_str()
                .to_owned(),
            status: h.status,
            issuer: Issuer::of(&h.issuer),
            recipient: h.recipient.clone(),
            patient_id: h.patient_id,
            episode: h.episode.as_ref().map(EpisodeLink::of),
            settlement: h.settlement.as_ref().map(SettlementLink::of),
            agency: h.agency.as_ref().map(|a| AgencyInvoice {
                purpose: a.purpose,
                document_type: if a.purpose == AgencyPurpose::Hours {
                    "389"
                } else {
                    "380"
                }
                .to_owned(),
                approval_id: a.approval_id,
                timesheet_id: a.timesheet_id,
                carer_id: a.carer_id,
                placement_reference: a.placement_reference.clone(),
                note: a.note.clone(),
                payee: a.payee.as_ref().and_then(|p| p.legal_name.clone()),
            }),
            currency: h.currency,
            total: h.total,
            tax_total: h.tax_total,
            issue_date: h.issue_date,
            due_date: h.due_date,
            payment_terms: h.payment_terms.clone(),
            credited: h.credited,
            corrects: h.corrects.as_ref().map(|(id, number, _)| InvoiceLink {
                id: *id,
                number: number.clone(),
            }),
            created_at: h.created_at,
            issued_at: h.issued_at,
            cancelled_at: h.cancelled_at,
            credit_note_id: h.credit_note_id,
        }
    }
}

impl Invoice {
    /// An invoice with its lines as the API shows it.
    pub(crate) fn of(doc: &InvoiceDocument) -> Invoice {
        Invoice {
            summary: InvoiceSummary::of(&doc.invoice),
            lines: doc.lines.iter().map(Line::of).collect(),
        }
    }
}

/// Filters and paging of the invoice list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvoiceQuery {
    /// `issued` or `cancelled`.
    pub status: Option<InvoiceStatus>,
    /// Issued by this location.
    pub location_code: Option<String>,
    /// Addressed to a payer or to the patient.
    pub recipient_kind: Option<PartyKind>,
    /// Addressed to this payer.
    pub payer_code: Option<String>,
    /// For this patient's care.
    pub patient_id: Option<PatientId>,
    /// Of this episode.
    pub episode_id: Option<EpisodeId>,
    /// Of this settlement.
    pub settlement_id: Option<SettlementId>,
    /// Issued on or after this day.
    pub issued_from: Option<NaiveDate>,
    /// Issued on or before this day.
    pub issued_to: Option<NaiveDate>,
    /// With this number.
    pub number: Option<String>,
    /// Issued or cancelled at or after this instant (RFC 3339): a portal's incremental pull.
    pub since: Option<DateTime<Utc>>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl InvoiceQuery {
    /// The filters of the query, checked: plausible days, `issued_from` not after `issued_to`.
    fn filter(&self) -> Result<InvoiceFilter, Error> {
        check_range(self.issued_from, self.issued_to)?;
        Ok(InvoiceFilter {
            status: self.status,
            location_code: self.location_code.clone(),
            recipient_kind: self.recipient_kind,
            payer_code: self.payer_code.clone(),
            patient_id: self.patient_id,
            episode_id: self.episode_id,
            settlement_id: self.settlement_id,
            issued_from: self.issued_from,
            issued_to: self.issued_to,
            number: self.number.clone(),
            since: self.since,
        })
    }
}

/// List the invoices in your scope, oldest first.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", params(InvoiceQuery),
    responses((status = 200, description = "A page of invoices", body = Page<InvoiceSummary>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_invoices(
    state: web::Data<InvoicingState>,
    who: Principal,
    req: HttpRequest,
    query: web::Query<InvoiceQuery>,
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
        .read(move |conn| documents::invoices(conn, &scope, &filter, &page))
        .await?;
    json_tagged(&req, &page.map(|h| InvoiceSummary::of(&h)))
}

/// Get an invoice with its lines.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices",
    params(("id" = String, Path, description = "Invoice id")),
    responses((status = 200, description = "The invoice: JSON by default, UBL 2.1 (EN 16931, Peppol BIS Billing 3.0) with `Accept: application/xml`, PDF/A-3b with `Accept: application/pdf`, HTML with `Accept: text/html` (PDF and HTML in the layout the invoice was issued under, named in the `Carebill-Layout` header)", content((Invoice = "application/json"), (String = "application/xml"), (String = "application/pdf"), (String = "text/html"))),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows none of `application/json`, `application/xml`, `application/pdf`, `text/html`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "UBL asked for, and the document would not be valid: `missing` lists each business term and the resource to complete", body = IncompleteDocument, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(invoice_id = %id))]
pub async fn get_invoice(
    state: web::Data<InvoicingState>,
    who: Principal,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: InvoiceId = parse_id(&id, "invoice")?;
    let format = negotiate(&req, DOCUMENT_FORMATS)?;
    let scope = Scope::of(&who);
    match format {
        Format::Ubl => return e_invoices::invoice_ubl(&state, scope, id).await,
        Format::Pdf | Format::Html => {
            let p = state
                .db
                .read(move |conn| printing::invoice(conn, &scope, id))
                .await?;
            return printed(&req, p, format).await;
        }
        Format::Json => {}
    }
    let doc = state
        .db
        .read(move |conn| documents::invoice(conn, &scope, id))
        .await?;
    json_tagged(&req, &Invoice::of(&doc))
}
