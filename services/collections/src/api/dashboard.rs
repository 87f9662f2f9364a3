//! The billing dashboard over HTTP ([`crate::service::dashboard`]): as JSON, its months as CSV,
//! and two SVG charts. The provider's staff read it; payers and patients do not.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::{Currency, Money};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::negotiate;
use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::CollectionsState;
use crate::charts::{self, MonthBars, StageBar};
use crate::service::dashboard::{self as service, Amounts, Dashboard, Query, Totals};
use crate::service::receivables::money;

/// Who reads the dashboard (admin always): the provider's billing staff.
pub(crate) const DASHBOARD_READERS: &[Role] = &[
    Role::BillingManager,
    Role::Collector,
    Role::Biller,
    Role::Auditor,
];

/// What the dashboard is asked for. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DashboardParams {
    /// First day of the period (default: 1 January of this year). Money is counted in whole
    /// months: the period covers the months of `from` and `to`, at most 60.
    pub from: Option<NaiveDate>,
    /// Last day of the period (default: today, UTC).
    pub to: Option<NaiveDate>,
    /// One location's code (default: every location you may see, consolidated).
    pub location: Option<String>,
    /// One payer's code (default: every payer and the patients).
    pub payer: Option<String>,
    /// `location` to break the totals down by location too.
    pub by: Option<String>,
    /// For the charts: the currency drawn (default: the first with figures).
    pub currency: Option<String>,
}

/// A location counted, with its name as invoices carry it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DashboardLocation {
    /// Its code.
    #[schema(example = "HN")]
    pub code: String,
    /// Its name (its code until an invoice of it named it).
    #[schema(example = "Hospital Norte")]
    pub name: String,
}

/// The settlement waiting longest in a stage.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OldestWaiting {
    /// Its number.
    pub number: String,
    /// Since when it is in the stage.
    pub since: DateTime<Utc>,
    /// Whole days it has waited.
    pub days: i64,
}

/// Settlements waiting in one stage before they are invoiced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PendingStage {
    /// `draft`, `in_review`, `observed`, `in_audit`, or `approved` (approved, not yet invoiced).
    #[schema(example = "in_review")]
    pub status: String,
    /// How many.
    pub count: i64,
    /// Their totals per currency (settlements with nothing priced yet count without amount).
    pub amounts: Vec<Money>,
    /// The one waiting longest.
    pub oldest: Option<OldestWaiting>,
}

/// What one biller (or the audit queue) holds in one stage.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HeldSettlements {
    /// The biller assigned (the token's subject); none for unassigned settlements and for the
    /// audit queue.
    pub user: Option<String>,
    /// `biller`, or `auditor` for the medical audit queue.
    #[schema(example = "biller")]
    pub role: String,
    /// `draft`, `in_review`, `observed` or `in_audit`.
    #[schema(example = "in_review")]
    pub stage: String,
    /// How many.
    pub count: i64,
    /// Their totals per currency.
    pub amounts: Vec<Money>,
    /// Since when the longest-waiting of them is in the stage.
    pub oldest_since: Option<DateTime<Utc>>,
    /// Whole days it has waited.
    pub longest_wait_days: Option<i64>,
}

/// One month of the period in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProgressMonth {
    /// The month.
    #[schema(example = "2026-03")]
    pub month: String,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Invoices issued.
    pub invoices: i64,
    /// Billed: the totals of the invoices issued in the month.
    pub billed: Money,
    /// Billed in the same month a year before.
    pub billed_year_before: Money,
    /// Fees, interest and corrections added (negative: taken off) in the month.
    pub adjusted: Money,
    /// Credited by credit notes in the month (a cancelled invoice in full).
    pub credited: Money,
    /// Paid on invoices in the month (payments applied, less what credit notes gave back).
    pub collected: Money,
    /// Written off in the month.
    pub written_off: Money,
    /// Owed at the month's end.
    pub outstanding: Money,
}

/// The period's totals in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DashboardTotals {
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Invoices issued in the period.
    pub invoices: i64,
    /// Billed in the period.
    pub billed: Money,
    /// Adjusted in the period.
    pub adjusted: Money,
    /// Credited in the period.
    pub credited: Money,
    /// Collected in the period.
    pub collected: Money,
    /// Written off in the period.
    pub written_off: Money,
    /// Owed at the period's end.
    pub outstanding: Money,
    /// Owed today on invoices past their due date.
    pub overdue: Money,
}

/// One location's totals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationTotals {
    /// The location's code.
    pub location: String,
    /// Its name.
    pub name: String,
    /// Its totals per currency.
    pub totals: Vec<DashboardTotals>,
}

/// The billing dashboard.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DashboardView {
    /// First day of the period.
    pub from: NaiveDate,
    /// Last day of the period.
    pub to: NaiveDate,
    /// When these figures were read.
    pub as_of: DateTime<Utc>,
    /// The locations counted: the one asked for, or those you are limited to; none when every
    /// location is counted.
    pub locations: Option<Vec<DashboardLocation>>,
    /// The payer counted; none for all payers and the patients.
    pub payer: Option<String>,
    /// Settlements waiting to be invoiced, per stage in workflow order (as they stand now).
    pub pending: Vec<PendingStage>,
    /// Who holds which of them (billers by assignment; the audit queue as `auditor`).
    pub validation: Vec<HeldSettlements>,
    /// The period month by month, per currency.
    pub progress: Vec<ProgressMonth>,
    /// The period's totals per currency (never summed across currencies).
    pub totals: Vec<DashboardTotals>,
    /// With `by=location`: the totals of each location.
    pub by_location: Option<Vec<LocationTotals>>,
}

fn amounts(a: &Amounts) -> Vec<Money> {
    a.iter().map(|(c, m)| money(*m, *c)).collect()
}

fn days_since(t: NaiveDateTime, now: DateTime<Utc>) -> i64 {
    (now.naive_utc() - t).num_days().max(0)
}

fn totals(t: &BTreeMap<Currency, Totals>) -> Vec<DashboardTotals> {
    t.iter()
        .map(|(c, t)| DashboardTotals {
            currency: c.to_string(),
            invoices: t.invoices,
            billed: money(t.billed, *c),
            adjusted: money(t.adjusted, *c),
            credited: money(t.credited, *c),
            collected: money(t.collected, *c),
            written_off: money(t.written_off, *c),
            outstanding: money(t.outstanding, *c),
            overdue: money(t.overdue, *c),
        })
        .collect()
}

impl DashboardView {
    fn of(d: &Dashboard) -> DashboardView {
        let now = d.as_of;
        DashboardView {
            from: d.from,
            to: d.to,
            as_of: now,
            locations: d.locations.as_ref().map(|l| {
                l.iter()
                    .map(|(code, name)| DashboardLocation {
                        code: code.clone(),
                        name: name.clone(),
                    })
                    .collect()
            }),
            payer: d.payer.clone(),
            pending: d
                .pending
                .iter()
                .map(|s| PendingStage {
                    status: s.status.as_str().to_owned(),
                    count: s.count,
                    amounts: amounts(&s.amounts),
                    oldest: s.oldest.as_ref().map(|(number, since)| OldestWaiting {
                        number: number.clone(),
                        since: since.and_utc(),
                        days: days_since(*since, now),
                    }),
                })
                .collect(),
            validation: d
                .validation
                .iter()
                .map(|h| HeldSettlements {
                    user: h.user.clone(),
                    role: h.role.to_owned(),
                    stage: h.stage.as_str().to_owned(),
                    count: h.count,
                    amounts: amounts(&h.amounts),
                    oldest_since: h.oldest_since.map(|t| t.and_utc()),
                    longest_wait_days: h.oldest_since.map(|t| days_since(t, now)),
                })
                .collect(),
            progress: d
                .progress
                .iter()
                .map(|((month, c), m)| ProgressMonth {
                    month: month.format("%Y-%m").to_string(),
                    currency: c.to_string(),
                    invoices: m.invoices,
                    billed: money(m.billed, *c),
                    billed_year_before: money(m.billed_year_before, *c),
                    adjusted: money(m.adjusted, *c),
                    credited: money(m.credited, *c),
                    collected: money(m.collected, *c),
                    written_off: money(m.written_off, *c),
                    outstanding: money(m.outstanding, *c),
                })
                .collect(),
            totals: totals(&d.totals),
            by_location: d.by_location.as_ref().map(|by| {
                by.iter()
                    .map(|(code, (name, t))| LocationTotals {
                        location: code.clone(),
                        name: name.clone(),
                        totals: totals(t),
                    })
                    .collect()
            }),
        }
    }

    /// The months as CSV: one line per month and currency, amounts as decimal text.
    fn csv(&self) -> Result<Vec<u8>, Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let fail = |e: csv::Error| Error::internal(&e);
        w.write_record([
            "month",
            "currency",
            "invoices",
            "billed",
            "billed_year_before",
            "adjusted",
            "credited",
            "collected",
            "written_off",
            "outstanding",
        ])
        .map_err(fail)?;
        for m in &self.progress {
            w.write_record([
                m.month.as_str(),
                &m.currency,
                &m.invoices.to_string(),
                &m.billed.amount_string(),
                &m.billed_year_before.amount_string(),
                &m.adjusted.amount_string(),
                &m.credited.amount_string(),
                &m.collected.amount_string(),
                &m.written_off.amount_string(),
                &m.outstanding.amount_string(),
            ])
            .map_err(fail)?;
        }
        w.into_inner().map_err(|e| Error::internal(&e.to_string()))
    }
}

#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Csv,
}

const SVG: &str = "image/svg+xml";

/// Reads the query into the service's terms.
fn query(p: &DashboardParams) -> Result<Query, Error> {
    let by_location = match p.by.as_deref().map(str::trim) {
        None => false,
        Some("location") => true,
        Some(other) => {
            return Err(Error::field(
                "by",
                "unknown_grouping",
                format!("`{other}` is no grouping of the dashboard; it knows `location`"),
            ));
        }
    };
    Ok(Query::asked(
        p.from,
        p.to,
        p.location.as_deref(),
        p.payer.as_deref(),
        by_location,
    ))
}

async fn read(
    state: &web::Data<CollectionsState>,
    who: &Principal,
    q: Query,
) -> Result<Dashboard, Error> {
    who.require(DASHBOARD_READERS)?;
    let scope = Scope::of(who);
    state
        .db
        .read(move |conn| service::dashboard(conn, &scope, &q))
        .await
}

/// The billing dashboard: settlements waiting to be invoiced per stage and per biller, the
/// period month by month against a year before, and its totals.
#[utoipa::path(get, path = "/v1/dashboard", tag = "dashboard", params(DashboardParams),
    responses((status = 200, description = "The dashboard (its months as text/csv when asked)", content(
            (DashboardView = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reader of the dashboard (payers and patients are not)", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows neither JSON nor CSV", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A period backwards or over 5 years, an unknown location, payer or grouping", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_dashboard(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    params: web::Query<DashboardParams>,
) -> Result<HttpResponse, Error> {
    let format = negotiate(
        &req,
        &[
            ("application/json", Format::Json),
            ("text/csv", Format::Csv),
        ],
    )?;
    let p = params.into_inner();
    if p.currency.is_some() {
        return Err(Error::field(
            "currency",
            "not_here",
            "the dashboard gives every currency; `currency` chooses a chart's",
        ));
    }
    let q = query(&p)?;
    let view = DashboardView::of(&read(&state, &who, q).await?);
    match format {
        Format::Json => Ok(HttpResponse::Ok().json(view)),
        Format::Csv => Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(view.csv()?)),
    }
}

/// The chart's currency: the one asked for, else the first with figures (or euros).
fn chart_currency(p: &DashboardParams, d: &Dashboard) -> Result<Currency, Error> {
    match p.currency.as_deref().map(str::trim) {
        Some(c) => Currency::parse(&c.to_ascii_uppercase())
            .map_err(|e| Error::field("currency", "invalid", e.to_string())),
        None => Ok(d
            .totals
            .keys()
            .next()
            .copied()
            .or_else(|| {
                d.pending
                    .iter()
                    .find_map(|s| s.amounts.keys().next().copied())
            })
            .unwrap_or(Currency::EUR)), // not stored: a chart of nothing is drawn in euros
    }
}

/// Where the figures are from, for a chart's title.
fn place(d: &Dashboard) -> String {
    let mut place = match &d.locations {
        Some(l) if !l.is_empty() => l
            .iter()
            .map(|(_, n)| n.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        _ => "All locations".to_owned(),
    };
    if let Some(p) = &d.payer {
        place.push_str(&format!(" · payer {p}"));
    }
    place
}

fn svg(body: String) -> HttpResponse {
    HttpResponse::Ok().content_type(SVG).body(body)
}

/// The period's billing month by month against the same months a year before, as an SVG bar
/// chart in one currency.
#[utoipa::path(get, path = "/v1/dashboard/charts/progress", tag = "dashboard", params(DashboardParams),
    responses((status = 200, description = "The chart", content_type = "image/svg+xml", body = String),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reader of the dashboard", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` does not allow SVG", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A period backwards or over 5 years, an unknown location, payer, grouping or currency", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_progress_chart(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    params: web::Query<DashboardParams>,
) -> Result<HttpResponse, Error> {
    negotiate(&req, &[(SVG, ())])?;
    let p = params.into_inner();
    let d = read(&state, &who, query(&p)?).await?;
    let c = chart_currency(&p, &d)?;
    let one_year = d.from.year() == d.to.year();
    let months: Vec<MonthBars> = d
        .progress
        .iter()
        .filter(|((_, cur), _)| *cur == c)
        .map(|((month, _), m)| MonthBars {
            label: if one_year {
                month.format("%b").to_string()
            } else {
                month.format("%Y-%m").to_string()
            },
            billed: m.billed,
            year_before: m.billed_year_before,
        })
        .collect();
    let (this, before) = if one_year {
        (d.to.year().to_string(), (d.to.year() - 1).to_string())
    } else {
        ("this period".to_owned(), "a year before".to_owned())
    };
    let title = format!("Billed per month — {}", place(&d));
    let body = charts::progress(&title, c.code(), c.exponent(), (&this, &before), &months)
        .map_err(|e| Error::internal(&e))?;
    Ok(svg(body))
}

/// Settlements waiting to be invoiced per stage, as an SVG bar chart of their amounts in one
/// currency, each bar labelled with its count and amount.
#[utoipa::path(get, path = "/v1/dashboard/charts/pending", tag = "dashboard", params(DashboardParams),
    responses((status = 200, description = "The chart", content_type = "image/svg+xml", body = String),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reader of the dashboard", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` does not allow SVG", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown location, payer, grouping or currency", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_pending_chart(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    params: web::Query<DashboardParams>,
) -> Result<HttpResponse, Error> {
    negotiate(&req, &[(SVG, ())])?;
    let p = params.into_inner();
    let d = read(&state, &who, query(&p)?).await?;
    let c = chart_currency(&p, &d)?;
    let stages: Vec<StageBar> = d
        .pending
        .iter()
        .map(|s| StageBar {
            label: s.status.as_str().replace('_', " "),
            count: s.count,
            amount: s.amounts.get(&c).copied().unwrap_or(0), // not stored: nothing waiting in this currency
        })
        .collect();
    let title = format!("Waiting to be invoiced — {}", place(&d));
    let body = charts::pending(&title, c.code(), c.exponent(), &stages)
        .map_err(|e| Error::internal(&e))?;
    Ok(svg(body))
}
