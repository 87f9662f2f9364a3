//! Invoices over HTTP: a list with filters and one invoice with its lines. Invoices are made
//! by [`crate::issuing`] and cancelled by [`crate::credit_notes`]; nobody edits them.

use actix_web::web;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::{CreditNoteId, EpisodeId, InvoiceId, PatientId, SettlementId};
use carebill_domain::invoicing::{InvoiceStatus, money};
use carebill_domain::{Currency, Money};
use carebill_platform::Error;
use carebill_platform::auth::Principal;
use carebill_platform::db::AnyConnection;
use carebill_platform::error::Problem;
use carebill_platform::http::{Page, PageParams, PageRequest, parse_id};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::InvoicingState;
use crate::documents::{
    EpisodeLink, InvoiceRow, Issuer, Line, READERS, Scope, SettlementLink, api_lines, currency,
    invoice_row,
};
use crate::schema::invoices;

/// An invoice without its lines, as lists show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceSummary {
    /// Id.
    pub id: InvoiceId,
    /// Number, unique in the location's invoice series of the year.
    #[schema(example = "H1-INV-2026-000001")]
    pub number: String,
    /// `issued`, or `cancelled` by a credit note.
    pub status: InvoiceStatus,
    /// The issuing location.
    pub issuer: Issuer,
    /// Who is billed: a payer (through a coverage) or the patient.
    pub recipient: PartyRef,
    /// The patient the care was for.
    pub patient_id: PatientId,
    /// The episode of care.
    pub episode: EpisodeLink,
    /// The settlement version billed.
    pub settlement: SettlementLink,
    /// Currency of every amount.
    pub currency: Currency,
    /// Total to pay: the sum of the lines' billed amounts.
    pub total: Money,
    /// Tax total (zero: health care is VAT-exempt).
    pub tax_total: Money,
    /// Issue date, the location's calendar day.
    pub issue_date: NaiveDate,
    /// Due date.
    pub due_date: NaiveDate,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Issued (numbered).
    pub issued_at: DateTime<Utc>,
    /// When a credit note cancelled it.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The credit note that cancelled it.
    pub credit_note_id: Option<CreditNoteId>,
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

impl InvoiceRow {
    /// The invoice header as the API shows it.
    pub(crate) fn summary(&self) -> Result<InvoiceSummary, Error> {
        let c = currency(&self.currency)?;
        Ok(InvoiceSummary {
            id: self
                .id
                .parse()
                .map_err(|e| Error::internal(&format!("stored invoice id: {e}")))?,
            number: self.number.clone(),
            status: self
                .status
                .parse()
                .map_err(|e: String| Error::internal(&e))?,
            issuer: self.issuer()?,
            recipient: self.recipient()?,
            patient_id: self
                .patient_id
                .parse()
                .map_err(|e| Error::internal(&format!("stored patient id: {e}")))?,
            episode: self.episode()?,
            settlement: self.settlement()?,
            currency: c,
            total: money(self.total_minor, c),
            tax_total: money(self.tax_total_minor, c),
            issue_date: self.issue_date,
            due_date: self.due_date,
            created_at: self.created_at.and_utc(),
            issued_at: self.issued_at.and_utc(),
            cancelled_at: self.cancelled_at.map(|t| t.and_utc()),
            credit_note_id: self
                .credit_note_id
                .as_deref()
                .map(str::parse)
                .transpose()
                .map_err(|e| Error::internal(&format!("stored credit note id: {e}")))?,
        })
    }
}

/// An invoice in the caller's scope, with its lines; 404 otherwise.
pub(crate) fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<Invoice, Error> {
    let row = invoice_row(conn, id)?
        .filter(|r| scope.allows(&r.location_code, r.payer_code.as_deref()))
        .ok_or_else(|| Error::not_found("invoice"))?;
    Ok(Invoice {
        summary: row.summary()?,
        lines: api_lines(conn, &row.id)?,
    })
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
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Checks an issue-date range: plausible days, `from` not after `to`.
pub(crate) fn check_range(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(), Error> {
    let mut v = carebill_domain::Validation::new();
    for (field, day) in [("issued_from", from), ("issued_to", to)] {
        if let Some(d) = day {
            v.check(
                field,
                "out_of_range",
                carebill_domain::accounts::check_date(d),
            );
        }
    }
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        v.add("issued_to", "invalid", "must not be before issued_from");
    }
    v.finish().map_err(Error::validation)
}

fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &InvoiceQuery,
    page: &PageRequest,
) -> Result<Page<InvoiceSummary>, Error> {
    check_range(f.issued_from, f.issued_to)?;
    let mut q = invoices::table.select(InvoiceRow::as_select()).into_boxed();
    if let Some(codes) = &scope.locations {
        q = q.filter(invoices::location_code.eq_any(codes.clone()));
    }
    if let Some(p) = &scope.payer {
        q = q.filter(invoices::payer_code.eq(p.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(invoices::status.eq(s.as_str()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(invoices::location_code.eq(l.clone()));
    }
    if let Some(k) = f.recipient_kind {
        q = q.filter(invoices::recipient_kind.eq(k.as_str()));
    }
    if let Some(p) = &f.payer_code {
        q = q.filter(invoices::payer_code.eq(p.clone()));
    }
    if let Some(p) = f.patient_id {
        q = q.filter(invoices::patient_id.eq(p.to_string()));
    }
    if let Some(e) = f.episode_id {
        q = q.filter(invoices::episode_id.eq(e.to_string()));
    }
    if let Some(s) = f.settlement_id {
        q = q.filter(invoices::settlement_id.eq(s.to_string()));
    }
    if let Some(d) = f.issued_from {
        q = q.filter(invoices::issue_date.ge(d));
    }
    if let Some(d) = f.issued_to {
        q = q.filter(invoices::issue_date.le(d));
    }
    if let Some(n) = &f.number {
        q = q.filter(invoices::number.eq(n.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(invoices::id.gt(after.clone()));
    }
    let rows = q
        .order(invoices::id.asc())
        .limit(page.limit + 1)
        .load::<InvoiceRow>(conn)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone());
    let items = page
        .items
        .iter()
        .map(InvoiceRow::summary)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}

/// List the invoices in your scope, oldest first.
#[utoipa::path(get, path = "/v1/invoices", tag = "invoices", params(InvoiceQuery),
    responses((status = 200, description = "A page of invoices", body = Page<InvoiceSummary>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_invoices(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<InvoiceQuery>,
) -> Result<web::Json<Page<InvoiceSummary>>, Error> {
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

/// Get an invoice with its lines.
#[utoipa::path(get, path = "/v1/invoices/{id}", tag = "invoices",
    params(("id" = String, Path, description = "Invoice id")),
    responses((status = 200, description = "The invoice", body = Invoice),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_invoice(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Invoice>, Error> {
    who.require(READERS)?;
    let id: InvoiceId = parse_id(&id, "invoice")?;
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &scope, &id.to_string()))
            .await?,
    ))
}
