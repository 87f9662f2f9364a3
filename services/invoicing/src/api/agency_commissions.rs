//! A care agency's commission runs over HTTP (seed 004): issue, per carer, the commission
//! invoice over the commissions pending through a day ([`crate::service::agency_commissions`]).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::events::AgencyInvoiceIssuedV1;
use carebill_domain::ids::{ApprovalId, CarerId, InvoiceId};
use carebill_domain::{Code, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::error::Problem;
use carebill_platform::http::{IdempotencyKey, JsonBody, Reply, idempotent};
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::InvoicingState;
use crate::service::agency_commissions::{self as service, CommissionRun};

/// Roles that may run an agency's commissions (admin always may).
const MANAGERS: &[Role] = &[Role::BillingManager];

/// What a client sends to run an agency's commissions.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgencyCommissionRunInput {
    /// The agency (its location's code).
    #[schema(example = "ZB-UTR")]
    pub location_code: String,
    /// Bill the commissions of approvals whose invoice date is on or before this day; absent:
    /// the agency's today (it cannot be later).
    pub through: Option<NaiveDate>,
}

/// One carer's commission invoice of a run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CommissionInvoice {
    /// The invoice (`GET /v1/invoices/{id}`).
    pub invoice_id: InvoiceId,
    /// Its number, in the agency's invoice series.
    #[schema(example = "ZB-UTR-INV-2026-000003")]
    pub number: String,
    /// The carer it is addressed to.
    pub carer_id: CarerId,
    /// The approvals of hours it bills commission on, one line each.
    pub approvals: Vec<ApprovalId>,
    /// Net of its lines.
    pub net: Money,
    /// VAT.
    pub tax_total: Money,
    /// To pay.
    pub total: Money,
    /// Due date.
    pub due_date: NaiveDate,
}

/// What a run issued.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgencyCommissionRun {
    /// The agency.
    pub location_code: String,
    /// The last invoice date of the approvals billed.
    pub through: NaiveDate,
    /// The date of the invoices: the agency's today.
    pub issue_date: NaiveDate,
    /// One invoice per carer with commissions pending (none: nothing was pending).
    pub invoices: Vec<CommissionInvoice>,
}

impl AgencyCommissionRun {
    fn of(r: CommissionRun) -> AgencyCommissionRun {
        AgencyCommissionRun {
            location_code: r.location_code,
            through: r.through,
            issue_date: r.issue_date,
            invoices: r.invoices.iter().map(CommissionInvoice::of).collect(),
        }
    }
}

impl CommissionInvoice {
    fn of(e: &AgencyInvoiceIssuedV1) -> CommissionInvoice {
        CommissionInvoice {
            invoice_id: e.invoice_id,
            number: e.number.clone(),
            carer_id: e.carer_id,
            approvals: e.approvals.clone(),
            net: e.net,
            tax_total: e.tax_total,
            total: e.total,
            due_date: e.due_date,
        }
    }
}

/// Issue an agency's commission invoices now: per carer, one invoice over the commissions
/// pending through `through` (one line per approval of hours, whatever the placement), dated
/// the agency's today, queued for the carer's delivery settings. The background pass does the
/// same by itself once a calendar month is over; a run with nothing pending issues nothing.
#[utoipa::path(post, path = "/v1/agency-commission-runs", tag = "agency commissions",
    request_body = AgencyCommissionRunInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 200, description = "The invoices issued", body = AgencyCommissionRun),
        (status = 422, description = "A location outside your scope or where nothing was invoiced yet, or a day after the agency's today", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn run_agency_commissions(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<AgencyCommissionRunInput>,
) -> Result<Reply, Error> {
    who.require(MANAGERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value;
    let mut v = Validation::new();
    let code = v.check(
        "location_code",
        "invalid",
        Code::parse(&input.location_code),
    );
    v.finish().map_err(Error::validation)?;
    let code = code
        .map(|c| c.as_str().to_owned())
        .ok_or_else(|| Error::internal(&"validation passed without a code"))?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                Ok(AgencyCommissionRun::of(service::run(
                    conn,
                    &who,
                    &code,
                    input.through,
                    Utc::now(),
                )?))
            })
        })
        .await?;
    state.wake.notify_one();
    state.wake_delivery();
    Ok(reply)
}
