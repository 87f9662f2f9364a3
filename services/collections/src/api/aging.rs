//! The aging report over HTTP, as JSON or CSV ([`crate::service::aging`]). Scoped like
//! receivables: a reader limited to some locations sees theirs, a payer only its own.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::collections::AgingGroupBy;
use carebill_domain::{Currency, Money};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::READERS;
use crate::CollectionsState;
use crate::service::aging::{self, AgingReport as Report, Buckets};
use crate::service::receivables::money;

/// What the aging report is asked for. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgingParams {
    /// The day (default today, UTC): receivables issued on or before it, days past due
    /// counted from their due date to it.
    pub as_of: Option<NaiveDate>,
    /// `payer` (default), `patient`, `location` or `batch`.
    pub group_by: Option<AgingGroupBy>,
    /// `json` (default) or `csv`; `Accept: text/csv` asks for CSV too.
    pub format: Option<String>,
}

/// One group's (or the total's) buckets in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingBuckets {
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Not yet due.
    pub current: Money,
    /// 1–30 days past due.
    pub days_1_30: Money,
    /// 31–60 days past due.
    pub days_31_60: Money,
    /// 61–90 days past due.
    pub days_61_90: Money,
    /// More than 90 days past due.
    pub over_90: Money,
    /// The sum of the buckets: what is owed.
    pub total: Money,
    /// Open receivables counted.
    pub receivables: i64,
}

impl AgingBuckets {
    fn of(c: Currency, b: &Buckets) -> AgingBuckets {
        AgingBuckets {
            currency: c.to_string(),
            current: money(b.current, c),
            days_1_30: money(b.days_1_30, c),
            days_31_60: money(b.days_31_60, c),
            days_61_90: money(b.days_61_90, c),
            over_90: money(b.over_90, c),
            total: money(b.total(), c),
            receivables: b.receivables,
        }
    }
}

/// One group of the aging report in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingGroup {
    /// The payer's code, the patient's id, the location's code or the batch's number; none
    /// for receivables owed by patients (by payer) or in no batch (by batch).
    pub key: Option<String>,
    /// Its buckets.
    #[serde(flatten)]
    pub buckets: AgingBuckets,
}

/// Open receivables' outstanding amounts by days past due, per group and currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgingReport {
    /// The day.
    pub as_of: NaiveDate,
    /// What the groups are.
    pub group_by: AgingGroupBy,
    /// Groups, by key then currency.
    pub groups: Vec<AgingGroup>,
    /// Totals per currency.
    pub totals: Vec<AgingBuckets>,
}

impl AgingReport {
    fn of(r: &Report, group_by: AgingGroupBy) -> AgingReport {
        AgingReport {
            as_of: r.as_of,
            group_by,
            groups: r
                .lines
                .iter()
                .map(|l| AgingGroup {
                    key: l.key.clone(),
                    buckets: AgingBuckets::of(l.currency, &l.buckets),
                })
                .collect(),
            totals: r
                .totals
                .iter()
                .map(|(c, b)| AgingBuckets::of(*c, b))
                .collect(),
        }
    }

    /// The report as CSV: one line per group and currency, then one `total` line per currency.
    fn csv(&self) -> Result<Vec<u8>, Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| Error::internal(&e);
        w.write_record([
            "line",
            self.group_by.as_str(),
            "currency",
            "current",
            "days_1_30",
            "days_31_60",
            "days_61_90",
            "over_90",
            "total",
            "receivables",
        ])
        .map_err(fail)?;
        let lines = self
            .groups
            .iter()
            .map(|g| ("group", g.key.as_deref().unwrap_or(""), &g.buckets)) // not stored: an empty cell for no payer or batch
            .chain(self.totals.iter().map(|t| ("total", "", t)));
        for (line, key, b) in lines {
            w.write_record([
                line,
                key,
                &b.currency,
                &b.current.amount_string(),
                &b.days_1_30.amount_string(),
                &b.days_31_60.amount_string(),
                &b.days_61_90.amount_string(),
                &b.over_90.amount_string(),
                &b.total.amount_string(),
                &b.receivables.to_string(),
            ])
            .map_err(fail)?;
        }
        w.into_inner().map_err(|e| Error::internal(&e.to_string()))
    }
}

/// Whether the caller asks for CSV: `format=csv`, or `Accept` naming `text/csv`.
pub(crate) fn wants_csv(req: &HttpRequest, format: Option<&str>) -> Result<bool, Error> {
    match format.map(str::trim) {
        Some("csv") => Ok(true),
        Some("json") => Ok(false),
        Some(_) => Err(Error::field("format", "invalid", "must be json or csv")),
        None => Ok(req
            .headers()
            .get_all(header::ACCEPT)
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("text/csv"))),
    }
}

/// Aging of open receivables: outstanding per group and currency in buckets of days past due.
#[utoipa::path(get, path = "/v1/collections/aging", tag = "receivables", params(AgingParams),
    responses((status = 200, description = "The report (as text/csv when asked)", content(
            (AgingReport = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid day or format", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_aging(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    params: web::Query<AgingParams>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let params = params.into_inner();
    let as_of = params.as_of.unwrap_or_else(|| Utc::now().date_naive()); // not stored: absent means today
    carebill_domain::accounts::check_date(as_of)
        .map_err(|m| Error::field("as_of", "out_of_range", m))?;
    let group_by = params.group_by.unwrap_or(AgingGroupBy::Payer); // not stored: the default grouping
    let csv = wants_csv(&req, params.format.as_deref())?;
    let scope = Scope::of(&who);
    let report = state
        .db
        .read(move |conn| aging::aging(conn, &scope, group_by, as_of))
        .await?;
    let report = AgingReport::of(&report, group_by);
    if csv {
        Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(report.csv()?))
    } else {
        Ok(HttpResponse::Ok().json(report))
    }
}
