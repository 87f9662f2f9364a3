//! Receivables over HTTP: a list with filters and one receivable with its payment history
//! ([`crate::service::receivables`]).

use actix_web::web;
use carebill_domain::Money;
use carebill_domain::collections::ReceivableStatus;
use carebill_domain::creditor_reference::CreditorReference;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::ReceivableId;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{Page, PageParams, PageRequest, parse_id};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::disputes::{Dispute, ReceivableAdjustment};
use super::write_offs::WriteOff;
use super::{READERS, uuid_param};
use crate::CollectionsState;
use crate::service::receivables::{self, ReceivableFilter as Filter, ReceivableView};

/// Where the invoice was issued.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationView {
    /// Id.
    pub id: String,
    /// Code.
    pub code: String,
    /// IANA time zone: a receivable becomes overdue after its due date in this zone.
    pub time_zone: String,
}

/// The credit note that cancelled a receivable.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Cancellation {
    /// Credit note id.
    pub credit_note_id: String,
    /// Credit note number.
    pub credit_note_number: String,
    /// Why.
    pub reason: Option<String>,
    /// When collections applied it.
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// The sent batch an invoice is in.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceivableBatch {
    /// Invoicing's batch id (see `/v1/collection-batches/{id}`).
    pub id: String,
    /// Its number.
    pub number: String,
}

/// What is owed on one invoice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Receivable {
    /// Id.
    pub id: String,
    /// The invoice.
    pub invoice_id: String,
    /// Its number.
    pub invoice_number: String,
    /// The ISO 11649 creditor reference to pay it with (as its invoice shows it), electronic
    /// form; bank statement credits quoting it are matched to it.
    #[schema(example = "RF18539007547034")]
    pub payment_reference: String,
    /// The issuing location.
    pub location: LocationView,
    /// Who owes it.
    pub party: PartyRef,
    /// The payer's code (payers only).
    pub payer_code: Option<String>,
    /// The patient the care was for (null for a care agency's invoice to a carer or an
    /// organisation).
    pub patient_id: Option<String>,
    /// The invoice total.
    pub total: Money,
    /// Taken off the total by partial credit notes (kept as it was when a full credit note
    /// cancels it).
    pub credited: Money,
    /// Sum of the (not reversed) allocations to it.
    pub paid: Money,
    /// Written off (bad debt, small balance, charity); zero once cancelled.
    pub written_off: Money,
    /// What adjustments changed it by, signed: fees and interest raise it, corrections raise
    /// or lower it.
    pub adjusted: Money,
    /// What is still owed: total + adjusted − credited − paid − written off (zero once paid,
    /// written off or cancelled).
    pub outstanding: Money,
    /// Due date.
    pub due_date: NaiveDate,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Status today (in the location's time zone).
    pub status: ReceivableStatus,
    /// The credit note that cancelled it.
    pub cancellation: Option<Cancellation>,
    /// When the invoice was issued.
    pub issued_at: DateTime<Utc>,
    /// The batch invoicing sent the invoice in, once sent.
    pub batch: Option<ReceivableBatch>,
    /// Whether a dispute of it is open (dunning leaves it alone meanwhile).
    pub disputed: bool,
    /// Its open dispute.
    pub dispute: Option<Dispute>,
}

/// One allocation of a payment to a receivable, as the receivable's history shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceivablePayment {
    /// The allocation.
    pub allocation_id: String,
    /// The payment.
    pub payment_id: String,
    /// Day the payment was received.
    pub received_on: NaiveDate,
    /// Payment method.
    pub method: String,
    /// Amount applied to this receivable.
    pub amount: Money,
    /// When it was applied.
    pub allocated_at: DateTime<Utc>,
    /// True when a credit note returned it to the payer's credit.
    pub reversed: bool,
    /// When it was reversed.
    pub reversed_at: Option<DateTime<Utc>>,
    /// The credit note that reversed it.
    pub reversed_by_credit_note_id: Option<String>,
}

/// A receivable with its payment history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReceivableDetail {
    /// The receivable.
    #[serde(flatten)]
    pub receivable: Receivable,
    /// Allocations to it, oldest first, reversed ones included.
    pub payments: Vec<ReceivablePayment>,
    /// Write-offs of it, oldest first.
    pub write_offs: Vec<WriteOff>,
    /// Adjustments of it (fees, interest, corrections), oldest first.
    pub adjustments: Vec<ReceivableAdjustment>,
    /// Its disputes, resolved ones included, oldest first.
    pub disputes: Vec<Dispute>,
}

impl Receivable {
    /// A receivable as the API shows it.
    pub(crate) fn of(v: &ReceivableView) -> Receivable {
        Receivable {
            id: v.id.to_string(),
            invoice_id: v.invoice_id.to_string(),
            invoice_number: v.invoice_number.clone(),
            payment_reference: CreditorReference::for_invoice_number(&v.invoice_number)
                .as_str()
                .to_owned(),
            location: LocationView {
                id: v.location.id.to_string(),
                code: v.location.code.clone(),
                time_zone: v.location.time_zone.clone(),
            },
            party: v.party.clone(),
            payer_code: v.payer_code.clone(),
            patient_id: v.patient_id.map(|p| p.to_string()),
            total: v.total,
            credited: v.credited,
            paid: v.paid,
            written_off: v.written_off,
            adjusted: v.adjusted,
            outstanding: v.outstanding,
            due_date: v.due_date,
            issue_date: v.issue_date,
            status: v.status,
            cancellation: v.cancellation.as_ref().map(|c| Cancellation {
                credit_note_id: c.credit_note_id.clone(),
                credit_note_number: c.credit_note_number.clone(),
                reason: c.reason.clone(),
                cancelled_at: c.cancelled_at,
            }),
            issued_at: v.issued_at,
            batch: v.batch.as_ref().map(|b| ReceivableBatch {
                id: b.id.to_string(),
                number: b.number.clone(),
            }),
            disputed: v.dispute.is_some(),
            dispute: v.dispute.as_ref().map(Dispute::of),
        }
    }
}

impl ReceivableDetail {
    /// A receivable with its payment history as the API shows it.
    pub(crate) fn of(d: &receivables::ReceivableDetail) -> ReceivableDetail {
        ReceivableDetail {
            receivable: Receivable::of(&d.receivable),
            payments: d
                .payments
                .iter()
                .map(|a| ReceivablePayment {
                    allocation_id: a.allocation_id.clone(),
                    payment_id: a.payment_id.clone(),
                    received_on: a.received_on,
                    method: a.method.clone(),
                    amount: a.amount,
                    allocated_at: a.allocated_at,
                    reversed: a.reversed_at.is_some(),
                    reversed_at: a.reversed_at,
                    reversed_by_credit_note_id: a.reversed_by_credit_note_id.clone(),
                })
                .collect(),
            write_offs: d.write_offs.iter().map(WriteOff::of).collect(),
            adjustments: d.adjustments.iter().map(ReceivableAdjustment::of).collect(),
            disputes: d.disputes.iter().map(Dispute::of).collect(),
        }
    }
}

/// Filters and paging of the receivable list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReceivableFilter {
    /// Status as shown today: `overdue` means past the due date in the location's time zone and
    /// not fully paid; `open` and `partially_paid` then leave overdue receivables out.
    pub status: Option<ReceivableStatus>,
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The payer's or patient's id.
    pub party_id: Option<String>,
    /// The payer's code.
    pub payer_code: Option<String>,
    /// The issuing location's code.
    pub location_code: Option<String>,
    /// The invoice.
    pub invoice_id: Option<String>,
    /// Due before this day.
    pub due_before: Option<NaiveDate>,
    /// In this sent batch.
    pub batch_id: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl ReceivableFilter {
    /// The filters as the service takes them (ids must be UUIDs, the day plausible) and the
    /// page.
    fn parse(self) -> Result<(Filter, PageRequest), Error> {
        let page = PageParams {
            limit: self.limit,
            cursor: self.cursor,
        }
        .parse()?;
        let party_id = uuid_param("party_id", self.party_id.as_deref())?;
        let invoice_id = uuid_param("invoice_id", self.invoice_id.as_deref())?;
        let batch_id = uuid_param("batch_id", self.batch_id.as_deref())?;
        if let Some(d) = self.due_before {
            carebill_domain::accounts::check_date(d)
                .map_err(|m| Error::field("due_before", "out_of_range", m))?;
        }
        let filter = Filter {
            party_id,
            invoice_id,
            batch_id,
            status: self.status,
            party_kind: self.party_kind,
            payer_code: self.payer_code.map(|c| c.trim().to_owned()),
            location_code: self.location_code.map(|c| c.trim().to_owned()),
            due_before: self.due_before,
        };
        Ok((filter, page))
    }
}

/// List receivables, oldest first.
#[utoipa::path(get, path = "/v1/receivables", tag = "receivables", params(ReceivableFilter),
    responses((status = 200, description = "A page of receivables", body = Page<Receivable>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value or paging", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_receivables(
    state: web::Data<CollectionsState>,
    who: Principal,
    filter: web::Query<ReceivableFilter>,
) -> Result<web::Json<Page<Receivable>>, Error> {
    who.require(READERS)?;
    let (filter, page) = filter.into_inner().parse()?;
    let scope = Scope::of(&who);
    let now = Utc::now();
    let page = state
        .db
        .read(move |conn| receivables::receivables(conn, &scope, &filter, &page, now))
        .await?;
    Ok(web::Json(Page {
        items: page.items.iter().map(Receivable::of).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Get a receivable with its payment history.
#[utoipa::path(get, path = "/v1/receivables/{id}", tag = "receivables",
    params(("id" = String, Path, description = "Receivable id")),
    responses((status = 200, description = "The receivable", body = ReceivableDetail)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(receivable_id = %id))]
pub async fn get_receivable(
    state: web::Data<CollectionsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<ReceivableDetail>, Error> {
    who.require(READERS)?;
    let id: ReceivableId = parse_id(&id, "receivable")?;
    let scope = Scope::of(&who);
    let now = Utc::now();
    let detail = state
        .db
        .read(move |conn| receivables::receivable(conn, &scope, id, now))
        .await?;
    Ok(web::Json(ReceivableDetail::of(&detail)))
}
