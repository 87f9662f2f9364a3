//! Financial reports over HTTP ([`crate::service::reports`]), as JSON or CSV. The provider's
//! billing staff read them, as the dashboard.

use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::Money;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::negotiate;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::dashboard::DASHBOARD_READERS;
use crate::CollectionsState;
use crate::service::dashboard::Query;
use crate::service::receivables::money;
use crate::service::reports;

/// What a report covers. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// First day (default: 1 January of this year); money is kept per month, so the period
    /// covers the whole months of `from` and `to`, at most 60.
    pub from: Option<NaiveDate>,
    /// Last day (default: today, UTC).
    pub to: Option<NaiveDate>,
    /// One location's code (default: every location you may see).
    pub location: Option<String>,
    /// One payer's code (default: every payer and the patients).
    pub payer: Option<String>,
}

impl ReportParams {
    fn query(&self) -> Query {
        Query::asked(
            self.from,
            self.to,
            self.location.as_deref(),
            self.payer.as_deref(),
            false,
        )
    }
}

/// One payer's figures in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PayerReportLine {
    /// The payer's code; none for what patients were billed.
    pub payer: Option<String>,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Invoices issued in the period.
    pub invoices: i64,
    /// Billed in the period.
    pub billed: Money,
    /// Adjusted (fees, interest, corrections) in the period.
    pub adjusted: Money,
    /// Credited in the period (a cancelled invoice in full).
    pub credited: Money,
    /// Collected (paid on invoices) in the period.
    pub collected: Money,
    /// Written off in the period.
    pub written_off: Money,
    /// Owed at the period's end.
    pub outstanding: Money,
}

/// Billed and collected per payer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PayersReport {
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period.
    pub to: NaiveDate,
    /// Per payer (in code order, patients last) and currency.
    pub lines: Vec<PayerReportLine>,
}

impl PayersReport {
    fn csv(&self) -> Result<Vec<u8>, Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| Error::internal(&e);
        w.write_record([
            "payer",
            "currency",
            "invoices",
            "billed",
            "adjusted",
            "credited",
            "collected",
            "written_off",
            "outstanding",
        ])
        .map_err(fail)?;
        for l in &self.lines {
            w.write_record([
                l.payer.as_deref().unwrap_or(""), // not stored: an empty cell for patients
                &l.currency,
                &l.invoices.to_string(),
                &l.billed.amount_string(),
                &l.adjusted.amount_string(),
                &l.credited.amount_string(),
                &l.collected.amount_string(),
                &l.written_off.amount_string(),
                &l.outstanding.amount_string(),
            ])
            .map_err(fail)?;
        }
        w.into_inner().map_err(|e| Error::internal(&e.to_string()))
    }
}

/// Billed, credited, collected, written off and outstanding per payer (and patients) and
/// currency, in a period.
#[utoipa::path(get, path = "/v1/reports/payers", tag = "dashboard", params(ReportParams),
    responses((status = 200, description = "The report (as text/csv when asked)", content(
            (PayersReport = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reader of reports (payers and patients are not)", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows neither JSON nor CSV", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A period backwards or over 5 years, an unknown location or payer", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_payers_report(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    params: web::Query<ReportParams>,
) -> Result<HttpResponse, Error> {
    let csv = negotiate(&req, &[("application/json", false), ("text/csv", true)])?;
    who.require(DASHBOARD_READERS)?;
    let q = params.query();
    let (from, to) = (q.from, q.to);
    let scope = Scope::of(&who);
    let lines = state
        .db
        .read(move |conn| reports::payers(conn, &scope, &q))
        .await?;
    let report = PayersReport {
        from,
        to,
        lines: lines
            .iter()
            .map(|l| {
                let (c, t) = (l.currency, &l.totals);
                PayerReportLine {
                    payer: l.payer.clone(),
                    currency: c.to_string(),
                    invoices: t.invoices,
                    billed: money(t.billed, c),
                    adjusted: money(t.adjusted, c),
                    credited: money(t.credited, c),
                    collected: money(t.collected, c),
                    written_off: money(t.written_off, c),
                    outstanding: money(t.outstanding, c),
                }
            })
            .collect(),
    };
    if csv {
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(report.csv()?))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}
