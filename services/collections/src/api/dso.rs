//! Days sales outstanding over HTTP, as JSON or CSV ([`crate::service::dso`]). Readers as the
//! aging report, scoped like receivables.

use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::Money;
use carebill_domain::collections::plans::DsoGroupBy;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::READERS;
use super::aging::wants_csv;
use crate::CollectionsState;
use crate::service::dso::{self, DsoLine as Line, DsoReport as Report};
use crate::service::receivables::money;

/// What the report is asked for. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DsoParams {
    /// The day (default today, UTC).
    pub as_of: Option<NaiveDate>,
    /// The period in days before the day, 1 to 3650 (default 90).
    #[param(minimum = 1, maximum = 3650)]
    pub days: Option<u32>,
    /// `payer` (default) or `location`.
    pub by: Option<DsoGroupBy>,
    /// `json` (default) or `csv`; `Accept: text/csv` asks for CSV too.
    pub format: Option<String>,
}

/// One group's (or a currency total's) days sales outstanding.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DsoLine {
    /// The payer's or location's code; none for receivables owed by patients (by payer) and on
    /// totals.
    pub key: Option<String>,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// What the receivables issued on or before the day still owe.
    pub outstanding: Money,
    /// What was invoiced in the period (cancelled invoices left out).
    pub invoiced: Money,
    /// outstanding ÷ invoiced × days, to one decimal; none when nothing was invoiced.
    #[schema(value_type = Option<String>, example = "42.5")]
    pub dso: Option<Decimal>,
}

impl DsoLine {
    fn of(l: &Line) -> DsoLine {
        DsoLine {
            key: l.key.clone(),
            currency: l.currency.to_string(),
            outstanding: money(l.outstanding, l.currency),
            invoiced: money(l.invoiced, l.currency),
            dso: l.dso,
        }
    }
}

/// Days sales outstanding per group and currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DsoReport {
    /// The day.
    pub as_of: NaiveDate,
    /// The period's length in days.
    pub days: u32,
    /// Its first day (as_of − days + 1).
    pub from: NaiveDate,
    /// What the groups are.
    pub by: DsoGroupBy,
    /// Groups, by key then currency.
    pub groups: Vec<DsoLine>,
    /// Totals per currency.
    pub totals: Vec<DsoLine>,
}

impl DsoReport {
    fn of(r: &Report, by: DsoGroupBy) -> DsoReport {
        DsoReport {
            as_of: r.as_of,
            days: r.days,
            from: r.from,
            by,
            groups: r.lines.iter().map(DsoLine::of).collect(),
            totals: r.totals.iter().map(DsoLine::of).collect(),
        }
    }

    /// The report as CSV: one line per group and currency, then one `total` line per currency.
    fn csv(&self) -> Result<Vec<u8>, Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| Error::internal(&e);
        w.write_record([
            "line",
            self.by.as_str(),
            "currency",
            "outstanding",
            "invoiced",
            "days",
            "dso",
        ])
        .map_err(fail)?;
        let days = self.days.to_string();
        let lines = self
            .groups
            .iter()
            .map(|g| ("group", g))
            .chain(self.totals.iter().map(|t| ("total", t)));
        for (line, l) in lines {
            w.write_record([
                line,
                l.key.as_deref().unwrap_or(""), // not stored: an empty cell for no payer
                &l.currency,
                &l.outstanding.amount_string(),
                &l.invoiced.amount_string(),
                &days,
                &l.dso.map(|d| d.to_string()).unwrap_or_default(), // not stored: empty when nothing was invoiced
            ])
            .map_err(fail)?;
        }
        w.into_inner().map_err(|e| Error::internal(&e.to_string()))
    }
}

/// Days sales outstanding per payer or location and currency: outstanding at the day ÷
/// invoiced in the `days` days up to it × `days`.
#[utoipa::path(get, path = "/v1/collections/dso", tag = "receivables", params(DsoParams),
    responses((status = 200, description = "The report (as text/csv when asked)", content(
            (DsoReport = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid day, period or format", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_dso(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    params: web::Query<DsoParams>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let params = params.into_inner();
    let as_of = params.as_of.unwrap_or_else(|| Utc::now().date_naive()); // not stored: absent means today
    carebill_domain::accounts::check_date(as_of)
        .map_err(|m| Error::field("as_of", "out_of_range", m))?;
    let days = params.days.unwrap_or(90); // not stored: the documented default
    if !(1..=3650).contains(&days) {
        return Err(Error::field("days", "out_of_range", "1 to 3650"));
    }
    let by = params.by.unwrap_or(DsoGroupBy::Payer); // not stored: the default grouping
    let csv = wants_csv(&req, params.format.as_deref())?;
    let scope = Scope::of(&who);
    let report = state
        .db
        .read(move |conn| dso::dso(conn, &scope, by, as_of, days))
        .await?;
    let report = DsoReport::of(&report, by);
    if csv {
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(report.csv()?))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}
