//! Reports on what was invoiced over HTTP ([`crate::service::reports`]): revenue, utilization
//! and credit notes per reason, as JSON or CSV (`Accept: text/csv`). Long ones are
//! cursor-paginated (the CSV's next page in the `Link` header). The provider's billing staff
//! read them.

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use carebill_domain::Money;
use carebill_domain::invoicing::money;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{MAX_PAGE, negotiate};
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::InvoicingState;
use crate::service::reports::{self, Key, Query};

/// Where a page starts: after this group and its currency (or unit).
type After = Option<(Option<String>, String)>;

/// Who reads reports (admin always).
const REPORT_READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
];

/// What a report is asked for. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InvoicedReportParams {
    /// First issue day (default: 1 January of this year).
    pub from: Option<NaiveDate>,
    /// Last issue day (default: tomorrow, UTC — on or after every location's today); at most 5
    /// years after `from`.
    pub to: Option<NaiveDate>,
    /// One location's code (default: every location you may see).
    pub location: Option<String>,
    /// One payer's code (default: every payer and the patients).
    pub payer: Option<String>,
    /// `service_group` (default), `service_type`, `code`, `practitioner`, `location` or `payer`
    /// (credit notes: ignored).
    pub group_by: Option<String>,
    /// Groups per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl InvoicedReportParams {
    fn query(&self) -> Query {
        let today = Utc::now().date_naive();
        let (from, to) = carebill_domain::accounts::report_period(self.from, self.to, today);
        // Issue days are the locations' own: without a `to`, up to tomorrow (UTC), which is on
        // or after every location's today (UTC−12 to UTC+14); `from` stays 1 January of this
        // year (UTC).
        let to = match self.to {
            Some(_) => to,
            None => today.succ_opt().unwrap_or(today), // not stored: the calendar's last day has no tomorrow
        };
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Query {
            from,
            to,
            location: text(&self.location),
            payer: text(&self.payer),
        }
    }

    fn key(&self) -> Result<(Key, &'static str), Error> {
        match self.group_by.as_deref().map(str::trim) {
            None | Some("service_group") => Ok((Key::ServiceGroup, "service_group")),
            Some("service_type") => Ok((Key::ServiceType, "service_type")),
            Some("code") => Ok((Key::Code, "code")),
            Some("practitioner") => Ok((Key::Practitioner, "practitioner")),
            Some("location") => Ok((Key::Location, "location")),
            Some("payer") => Ok((Key::Payer, "payer")),
            Some(other) => Err(Error::field(
                "group_by",
                "unknown_grouping",
                format!(
                    "`{other}` is no grouping; use service_group, service_type, code, practitioner, location or payer"
                ),
            )),
        }
    }

    /// The page: its size and the last (group, currency or unit) of the previous one.
    fn page(&self) -> Result<(usize, After), Error> {
        let limit = self.limit.unwrap_or(50); // not stored: the documented default
        if limit == 0 || limit > MAX_PAGE {
            return Err(Error::field(
                "limit",
                "out_of_range",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        let after = match &self.cursor {
            None => None,
            Some(c) => Some(decode(c).ok_or_else(|| {
                Error::field("cursor", "invalid", "not a cursor from this report")
            })?),
        };
        Ok((limit as usize, after))
    }
}

fn encode(key: &(Option<String>, String)) -> String {
    let json = serde_json::json!(["r1", key.0, key.1]).to_string();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode(c: &str) -> Option<(Option<String>, String)> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    let (tag, key, second): (String, Option<String>, String) =
        serde_json::from_slice(&bytes).ok()?;
    (tag == "r1").then_some((key, second))
}

/// Takes one page of `rows` (in key order) after the cursor; answers the page and the next
/// cursor.
fn paged<T, K: Fn(&T) -> (Option<String>, String)>(
    rows: Vec<T>,
    key: K,
    limit: usize,
    after: After,
) -> (Vec<T>, Option<String>) {
    let mut rows: Vec<T> = rows
        .into_iter()
        .filter(|r| after.as_ref().is_none_or(|a| key(r) > *a))
        .collect();
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        rows.last().map(|r| encode(&key(r)))
    });
    (rows, next.flatten())
}

/// Revenue of one group in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RevenueGroup {
    /// The group: a service group, service type, catalog code, practitioner, location code or
    /// payer code; none for what patients were billed (by payer), and for lines that do not
    /// say (service type, practitioner).
    pub key: Option<String>,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Invoice lines issued in the period.
    pub lines: i64,
    /// What they billed.
    pub billed: Money,
    /// Credit note lines issued in the period.
    pub credited_lines: i64,
    /// What they credited.
    pub credited: Money,
    /// Billed less credited.
    pub net: Money,
}

/// Use of one group in one unit.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsageGroup {
    /// The group (as in revenue).
    pub key: Option<String>,
    /// The unit of measure.
    #[schema(example = "visit")]
    pub unit: String,
    /// Lines on the period's invoices that stand.
    pub lines: i64,
    /// Their quantity, exact.
    #[schema(value_type = String, example = "12.5")]
    pub quantity: Decimal,
}

/// Credit notes of one reason in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreditReason {
    /// The reason, as written on the credit notes.
    pub reason: String,
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// How many.
    pub credit_notes: i64,
    /// Their total.
    pub total: Money,
}

/// A report page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoicedReport<T> {
    /// First issue day.
    pub from: NaiveDate,
    /// Last issue day.
    pub to: NaiveDate,
    /// What the items are grouped by.
    pub group_by: String,
    /// The groups, in key order (credit reasons: the largest total first).
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// The report as CSV, with the next page in `Link`.
fn csv_response(
    req: &HttpRequest,
    header: &[&str],
    rows: Vec<Vec<String>>,
    next: Option<&str>,
) -> Result<HttpResponse, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::internal(&e);
    w.write_record(header).map_err(fail)?;
    for r in rows {
        w.write_record(r).map_err(fail)?;
    }
    let body = w
        .into_inner()
        .map_err(|e| Error::internal(&e.to_string()))?;
    let mut res = HttpResponse::Ok();
    res.content_type("text/csv; charset=utf-8");
    if let Some(next) = next {
        res.insert_header((
            actix_web::http::header::LINK,
            carebill_platform::http::next_link(req, next),
        ));
    }
    Ok(res.body(body))
}

const FORMATS: &[(&str, bool)] = &[("application/json", false), ("text/csv", true)];

/// Revenue per service group, catalog code, location or payer and currency: billed on the
/// invoices issued in the period, credited by the credit notes issued in it, and the net.
#[utoipa::path(get, path = "/v1/reports/revenue", tag = "reports", params(InvoicedReportParams),
    responses((status = 200, description = "A page of the report (as text/csv when asked, the next page in `Link`)", content(
            (InvoicedReport<RevenueGroup> = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reader of reports (payers and patients are not)", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows neither JSON nor CSV", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A period backwards or over 5 years, an unknown location, payer or grouping, a bad cursor or limit", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_revenue_report(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    params: web::Query<InvoicedReportParams>,
) -> Result<HttpResponse, Error> {
    let csv = negotiate(&req, FORMATS)?;
    who.require(REPORT_READERS)?;
    let p = params.into_inner();
    let ((key, group_by), (limit, after), q) = (p.key()?, p.page()?, p.query());
    let (from, to) = (q.from, q.to);
    let scope = Scope::of(&who);
    let groups = state
        .db
        .read(move |conn| reports::revenue(conn, &scope, &q, key))
        .await?;
    let rows: Vec<RevenueGroup> = groups
        .into_iter()
        .map(|((k, c), l)| RevenueGroup {
            key: k,
            currency: c.to_string(),
            lines: l.lines,
            billed: money(l.billed, c),
            credited_lines: l.credited_lines,
            credited: money(l.credited, c),
            net: money(l.billed - l.credited, c),
        })
        .collect();
    let (items, next_cursor) = paged(rows, |r| (r.key.clone(), r.currency.clone()), limit, after);
    if csv {
        let rows = items
            .iter()
            .map(|r| {
                vec![
                    r.key.clone().unwrap_or_default(), // not stored: an empty cell for none (patients, or a line that does not say)
                    r.currency.clone(),
                    r.lines.to_string(),
                    r.billed.amount_string(),
                    r.credited_lines.to_string(),
                    r.credited.amount_string(),
                    r.net.amount_string(),
                ]
            })
            .collect();
        let header = [
            group_by,
            "currency",
            "lines",
            "billed",
            "credited_lines",
            "credited",
            "net",
        ];
        return csv_response(&req, &header, rows, next_cursor.as_deref());
    }
    Ok(HttpResponse::Ok().json(InvoicedReport {
        from,
        to,
        group_by: group_by.to_owned(),
        items,
        next_cursor,
    }))
}

/// Utilization: lines and quantities per catalog code, service group, location or payer and
/// unit, on the invoices issued in the period that stand (cancelled ones left out, their
/// reissues counted).
#[utoipa::path(get, path = "/v1/reports/utilization", tag = "reports", params(InvoicedReportParams),
    responses((status = 200, description = "A page of the report (as text/csv when asked, the next page in `Link`)", content(
            (InvoicedReport<UsageGroup> = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reader of reports", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows neither JSON nor CSV", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A period backwards or over 5 years, an unknown location, payer or grouping, a bad cursor or limit", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_utilization_report(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    params: web::Query<InvoicedReportParams>,
) -> Result<HttpResponse, Error> {
    let csv = negotiate(&req, FORMATS)?;
    who.require(REPORT_READERS)?;
    let p = params.into_inner();
    let ((key, group_by), (limit, after), q) = (p.key()?, p.page()?, p.query());
    let (from, to) = (q.from, q.to);
    let scope = Scope::of(&who);
    let groups = state
        .db
        .read(move |conn| reports::utilization(conn, &scope, &q, key))
        .await?;
    let rows: Vec<UsageGroup> = groups
        .into_iter()
        .map(|((k, unit), l)| UsageGroup {
            key: k,
            unit,
            lines: l.lines,
            quantity: l.quantity.normalize(),
        })
        .collect();
    let (items, next_cursor) = paged(rows, |r| (r.key.clone(), r.unit.clone()), limit, after);
    if csv {
        let rows = items
            .iter()
            .map(|r| {
                vec![
                    r.key.clone().unwrap_or_default(), // not stored: an empty cell for none (patients, or a line that does not say)
                    r.unit.clone(),
                    r.lines.to_string(),
                    r.quantity.to_string(),
                ]
            })
            .collect();
        let header = [group_by, "unit", "lines", "quantity"];
        return csv_response(&req, &header, rows, next_cursor.as_deref());
    }
    Ok(HttpResponse::Ok().json(InvoicedReport {
        from,
        to,
        group_by: group_by.to_owned(),
        items,
        next_cursor,
    }))
}

/// Credit notes issued in the period per reason and currency, the largest total first.
#[utoipa::path(get, path = "/v1/reports/credit-notes", tag = "reports", params(InvoicedReportParams),
    responses((status = 200, description = "A page of the report (as text/csv when asked, the next page in `Link`)", content(
            (InvoicedReport<CreditReason> = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a reader of reports", body = Problem, content_type = "application/problem+json"),
        (status = 406, description = "`Accept` allows neither JSON nor CSV", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A period backwards or over 5 years, an unknown location or payer, a bad cursor or limit", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_credit_notes_report(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    params: web::Query<InvoicedReportParams>,
) -> Result<HttpResponse, Error> {
    let csv = negotiate(&req, FORMATS)?;
    who.require(REPORT_READERS)?;
    let p = params.into_inner();
    let ((limit, after), q) = (p.page()?, p.query());
    let (from, to) = (q.from, q.to);
    let scope = Scope::of(&who);
    let reasons = state
        .db
        .read(move |conn| reports::credit_reasons(conn, &scope, &q))
        .await?;
    // Paged in the report's order: the cursor names the position's reason and currency.
    let rows: Vec<CreditReason> = reasons
        .into_iter()
        .map(|(reason, c, n, total)| CreditReason {
            reason,
            currency: c.to_string(),
            credit_notes: n,
            total: money(total, c),
        })
        .collect();
    let start = match &after {
        None => 0,
        Some((r, c)) => rows
            .iter()
            .position(|x| Some(&x.reason) == r.as_ref() && &x.currency == c)
            .map_or(rows.len(), |i| i + 1),
    };
    let mut items: Vec<CreditReason> = rows.into_iter().skip(start).collect();
    let next_cursor = (items.len() > limit).then(|| {
        items.truncate(limit);
        items
            .last()
            .map(|r| encode(&(Some(r.reason.clone()), r.currency.clone())))
    });
    let next_cursor = next_cursor.flatten();
    if csv {
        let rows = items
            .iter()
            .map(|r| {
                vec![
                    r.reason.clone(),
                    r.currency.clone(),
                    r.credit_notes.to_string(),
                    r.total.amount_string(),
                ]
            })
            .collect();
        let header = ["reason", "currency", "credit_notes", "total"];
        return csv_response(&req, &header, rows, next_cursor.as_deref());
    }
    Ok(HttpResponse::Ok().json(InvoicedReport {
        from,
        to,
        group_by: "reason".to_owned(),
        items,
        next_cursor,
    }))
}
