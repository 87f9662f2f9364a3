//! Billing runs (periodic billing, long-term care): per location and month, the lines the
//! invoicing rules active there give for each beneficiary's care records, less what earlier runs
//! billed. A run can be previewed (nothing stored) or committed; a committed run is final: run
//! again with nothing changed it answers the same run, and once something changed the
//! differences wait for the next month's run as correction lines. The evaluation itself is
//! [`carebill_domain::billing`]; this module loads its inputs and stores its output.
//!
//! Care records come from accounts (`carebill.accounts.care_record.changed.v1`); settlement
//! keeps the highest version of each.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use carebill_domain::billing::{
    BeneficiaryRun, PriceQuery, RuleInForce, RunLine, RunProblem, bill_beneficiary, conflicts,
};
use carebill_domain::rules::{InvoicingSource, Period, RuleDefinition};
use carebill_domain::settlement::{PriceEntry, PriceQualifiers, ServicePrices};
use carebill_domain::sources::{CareRecord, CareRecordDetails};
use carebill_domain::{Code, Currency, MinorUnits, Money, Validation};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, Page, PageParams, PageRequest, parse_id};
use carebill_platform::insert_all;
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, Datelike as _, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::SettlementState;
use crate::schema::{
    billing_run_lines, billing_runs, care_records, invoicing_rule_activations, invoicing_rules,
    prices,
};
use crate::store::unreadable;
use carebill_domain::stored::json;

/// Asks for a billing run.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BillingRunInput {
    /// The location (institution) code.
    #[schema(example = "H1")]
    pub location_code: String,
    /// The month, `YYYY-MM`; not after the current month (in-advance rules bill the next one
    /// themselves).
    #[schema(example = "2026-10", pattern = r"^\d{4}-\d{2}$")]
    pub period: String,
    /// Compute and show the lines without storing anything.
    #[serde(default)]
    pub preview: bool,
    /// Preview only: one beneficiary (patient id).
    pub patient_id: Option<String>,
    /// Preview only: draft rules tried in the place of the rules of their codes (or added, as
    /// if enabled here); the answer then compares with the rules in force (`comparison`).
    #[serde(default)]
    pub draft_rules: Vec<RuleDefinition>,
}

/// A preview with draft rules against the rules in force.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunComparison {
    /// Totals per context under the rules in force.
    pub totals_in_force: Vec<ContextTotal>,
    /// Per beneficiary, rule and context: the amounts that differ.
    pub differences: Vec<RunDifference>,
}

/// One difference between the rules in force and the drafts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RunDifference {
    /// The beneficiary.
    pub patient_id: String,
    /// The rule.
    pub rule_code: String,
    /// The context.
    pub context: String,
    /// Under the rules in force (none: no line).
    pub in_force: Option<Money>,
    /// Under the drafts (none: no line).
    pub draft: Option<Money>,
}

fn compare(in_force: &Computed, draft: &Computed) -> RunComparison {
    let sums = |c: &Computed| {
        let mut m: BTreeMap<(String, String, String), Money> = BTreeMap::new();
        for l in &c.lines {
            let key = (
                l.patient_id.clone(),
                l.line.rule_code.clone(),
                l.line.context.clone(),
            );
            let amount = l.line.amount;
            m.entry(key)
                .and_modify(|t| *t = t.checked_add(&amount).unwrap_or(*t))
                .or_insert(amount);
        }
        m
    };
    let (a, b) = (sums(in_force), sums(draft));
    let mut keys: Vec<&(String, String, String)> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let differences = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| RunDifference {
            patient_id: k.0.clone(),
            rule_code: k.1.clone(),
            context: k.2.clone(),
            in_force: a.get(k).copied(),
            draft: b.get(k).copied(),
        })
        .collect();
    RunComparison {
        totals_in_force: in_force.totals(),
        differences,
    }
}

/// The total of one invoice context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContextTotal {
    /// Invoice context.
    pub context: String,
    /// Sum of its lines (corrections included).
    pub amount: Money,
    /// Number of lines.
    pub lines: usize,
}

/// A line with its beneficiary.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BillingLine {
    /// The beneficiary (patient id).
    pub patient_id: String,
    /// The line.
    #[serde(flatten)]
    pub line: RunLine,
}

/// A problem with its beneficiary.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BillingProblem {
    /// The beneficiary (patient id).
    pub patient_id: String,
    /// The problem.
    #[serde(flatten)]
    pub problem: RunProblem,
}

/// A billing run, committed or previewed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BillingRun {
    /// Id (none for a preview).
    pub id: Option<String>,
    /// Location code.
    pub location_code: String,
    /// The month.
    pub period: String,
    /// Computed only, nothing stored.
    pub preview: bool,
    /// Beneficiaries with records or earlier lines at the location.
    pub beneficiaries: usize,
    /// Care records the run read (settlement's copy, as far as accounts' events have arrived).
    pub care_records: usize,
    /// Lines billed (new and corrections).
    pub line_count: usize,
    /// Totals per context.
    pub totals: Vec<ContextTotal>,
    /// What could not be billed (billed by a later run once fixed).
    pub problems: Vec<BillingProblem>,
    /// The lines (previews only; a committed run's lines are at `/v1/billing-runs/{id}/lines`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<BillingLine>>,
    /// A preview with draft rules: how it differs from the rules in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<RunComparison>,
    /// Who committed it.
    pub created_by: Option<String>,
    /// When.
    pub created_at: Option<DateTime<Utc>>,
}

struct Computed {
    beneficiaries: usize,
    care_records: usize,
    lines: Vec<BillingLine>,
    problems: Vec<BillingProblem>,
}

impl Computed {
    fn totals(&self) -> Vec<ContextTotal> {
        let mut out: BTreeMap<(String, String), ContextTotal> = BTreeMap::new();
        for l in &self.lines {
            let amount = l.line.amount;
            let key = (l.line.context.clone(), amount.currency().to_string());
            let t = out.entry(key).or_insert_with(|| ContextTotal {
                context: l.line.context.clone(),
                amount: Money::zero(amount.currency()),
                lines: 0,
            });
            t.amount = t.amount.checked_add(&amount).unwrap_or(t.amount);
            t.lines += 1;
        }
        out.into_values().collect()
    }
}

/// The month asked for, or the problem's code and message.
fn parse_period(raw: &str, today: NaiveDate) -> Result<Period, (&'static str, String)> {
    let period = Period::parse(raw.trim()).ok_or(("invalid", "a month as YYYY-MM".to_owned()))?;
    let current = Period::month(today.year(), today.month())
        .ok_or(("invalid", "no current month".to_owned()))?;
    if period > current {
        return Err((
            "in_future",
            format!(
                "{period} has not begun; the latest period a run may bill is {current} (rules billing in advance bill {} from it)",
                current.next()
            ),
        ));
    }
    if period < Period::month(2000, 1).unwrap_or(period) {
        return Err(("out_of_range", "from 2000-01".to_owned()));
    }
    Ok(period)
}

/// The current version of every rule enabled at the location that bills from care records; with
/// `drafts`, each draft takes the place of the rule of its code (or is added, as if enabled).
fn rules_in_force(
    conn: &mut AnyConnection,
    location: &str,
    drafts: &[RuleDefinition],
) -> Result<Vec<RuleInForce>, Error> {
    let enabled: Vec<String> = invoicing_rule_activations::table
        .filter(invoicing_rule_activations::location_code.eq(location))
        .filter(invoicing_rule_activations::enabled.eq(true))
        .select(invoicing_rule_activations::rule_code)
        .load(conn)?;
    let rows: Vec<(i32, String)> = invoicing_rules::table
        .filter(invoicing_rules::code.eq_any(&enabled))
        .filter(invoicing_rules::current.eq(true))
        .order(invoicing_rules::code.asc())
        .select((invoicing_rules::version, invoicing_rules::definition))
        .load(conn)?;
    let mut out = Vec::new();
    for (version, definition) in rows {
        let rule: RuleDefinition =
            json("invoicing rule definition", &definition).map_err(unreadable)?;
        if rule.source != InvoicingSource::Consumption {
            out.push(RuleInForce {
                version: i64::from(version),
                rule,
            });
        }
    }
    for draft in drafts {
        // A draft is version 0: the rule as it would be, not a stored version.
        out.retain(|r| r.rule.code != draft.code);
        if draft.source != InvoicingSource::Consumption {
            out.push(RuleInForce {
                version: 0,
                rule: draft.clone(),
            });
        }
    }
    let definitions: Vec<RuleDefinition> = out.iter().map(|r| r.rule.clone()).collect();
    if let Some((a, b)) = conflicts(&definitions).into_iter().next() {
        return Err(Error::new(
            ErrorCode::ConflictingRules,
            format!(
                "rules {a} and {b} are both active at {location} for the same beneficiary kind, context, source, service group and object type on common days; disable one at this location or end one of them"
            ),
        ));
    }
    Ok(out)
}

fn service_prices(conn: &mut AnyConnection) -> Result<Vec<PriceEntry>, Error> {
    type Row = (
        String,
        i64,
        String,
        NaiveDate,
        Option<NaiveDate>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = prices::table
        .filter(prices::payer_code.is_null())
        .select((
            prices::code,
            prices::unit_price_minor,
            prices::currency,
            prices::valid_from,
            prices::valid_to,
            prices::location_code,
            prices::beneficiary_kind,
            prices::object_type,
            prices::care_level,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(code, minor, currency, from, to, location, kind, object, level)| {
                let currency = Currency::parse(&currency)
                    .map_err(|e| Error::stored("price currency", &currency, e))?;
                Ok(PriceEntry {
                    code,
                    unit_price: Money::from_minor(MinorUnits(minor), currency),
                    valid_from: from,
                    valid_to: to,
                    location,
                    payer: None,
                    qualifiers: PriceQualifiers {
                        beneficiary_kind: kind,
                        object_type: object,
                        level,
                    },
                    components: Vec::new(),
                })
            },
        )
        .collect()
}

/// Everything a run for `period` at `location` bills (one beneficiary if `patient` is set).
fn compute(
    conn: &mut AnyConnection,
    location: &str,
    period: Period,
    patient: Option<&str>,
    drafts: &[RuleDefinition],
) -> Result<Computed, Error> {
    let rules = rules_in_force(conn, location, drafts)?;
    let mut q = care_records::table
        .filter(care_records::location_code.eq(location))
        .filter(care_records::cancelled.eq(false))
        .select((
            care_records::id,
            care_records::patient_id,
            care_records::location_id,
            care_records::version,
            care_records::details,
        ))
        .into_boxed();
    if let Some(p) = patient {
        q = q.filter(care_records::patient_id.eq(p.to_owned()));
    }
    let rows: Vec<(String, String, String, i64, String)> = q.load(conn)?;
    let care_records = rows.len();
    let mut records: BTreeMap<String, Vec<CareRecord>> = BTreeMap::new();
    for (id, patient_id, location_id, version, details) in rows {
        let details: CareRecordDetails =
            json("care record details", &details).map_err(unreadable)?;
        records
            .entry(patient_id.clone())
            .or_default()
            .push(CareRecord {
                id,
                patient_id,
                location_id,
                version,
                cancelled: false,
                details,
            });
    }
    let mut q = billing_run_lines::table
        .filter(billing_run_lines::location_code.eq(location))
        .filter(billing_run_lines::period.lt(period.to_string()))
        .select((billing_run_lines::patient_id, billing_run_lines::line))
        .into_boxed();
    if let Some(p) = patient {
        q = q.filter(billing_run_lines::patient_id.eq(p.to_owned()));
    }
    let mut billed: BTreeMap<String, Vec<RunLine>> = BTreeMap::new();
    for (patient_id, line) in q.load::<(String, String)>(conn)? {
        billed
            .entry(patient_id)
            .or_default()
            .push(json("billing run line", &line).map_err(unreadable)?);
    }
    let book = ServicePrices::new(service_prices(conn)?);
    Ok(bill(
        period,
        location,
        &rules,
        &records,
        &billed,
        &book,
        care_records,
    ))
}

/// Bills each beneficiary of `records` (and of `billed`, earlier runs' lines) for `period` with
/// `rules`. Pure.
fn bill(
    period: Period,
    location: &str,
    rules: &[RuleInForce],
    records: &BTreeMap<String, Vec<CareRecord>>,
    billed: &BTreeMap<String, Vec<RunLine>>,
    book: &ServicePrices,
    care_records: usize,
) -> Computed {
    let price = |q: &PriceQuery<'_>| book.find(q, location);
    let mut patients: Vec<&String> = records.keys().chain(billed.keys()).collect();
    patients.sort();
    patients.dedup();
    let mut out = Computed {
        beneficiaries: patients.len(),
        care_records,
        lines: Vec::new(),
        problems: Vec::new(),
    };
    for p in patients {
        let BeneficiaryRun { lines, problems } = bill_beneficiary(
            period,
            rules,
            records.get(p).map_or(&[][..], Vec::as_slice),
            billed.get(p).map_or(&[][..], Vec::as_slice),
            &price,
        );
        out.lines.extend(lines.into_iter().map(|line| BillingLine {
            patient_id: p.clone(),
            line,
        }));
        out.problems
            .extend(problems.into_iter().map(|problem| BillingProblem {
                patient_id: p.clone(),
                problem,
            }));
    }
    out
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = billing_runs)]
struct RunRow {
    id: String,
    location_code: String,
    period: String,
    beneficiaries: i32,
    care_records: i32,
    line_count: i32,
    totals: String,
    problems: String,
    created_by: String,
    created_at: NaiveDateTime,
}

/// A stored count read back.
fn stored_count(what: &str, n: i32) -> Result<usize, Error> {
    usize::try_from(n).map_err(|e| Error::stored(what, &n.to_string(), e))
}

impl RunRow {
    fn into_view(self) -> Result<BillingRun, Error> {
        Ok(BillingRun {
            id: Some(self.id),
            location_code: self.location_code,
            period: self.period,
            preview: false,
            beneficiaries: stored_count("billing run beneficiaries", self.beneficiaries)?,
            care_records: stored_count("billing run care records", self.care_records)?,
            line_count: stored_count("billing run line count", self.line_count)?,
            totals: json("billing run totals", &self.totals).map_err(unreadable)?,
            problems: json("billing run problems", &self.problems).map_err(unreadable)?,
            lines: None,
            comparison: None,
            created_by: Some(self.created_by),
            created_at: Some(self.created_at.and_utc()),
        })
    }
}

fn stored_lines(conn: &mut AnyConnection, run_id: &str) -> Result<Vec<BillingLine>, Error> {
    let rows: Vec<(String, String)> = billing_run_lines::table
        .filter(billing_run_lines::run_id.eq(run_id))
        .order(billing_run_lines::line_no.asc())
        .select((billing_run_lines::patient_id, billing_run_lines::line))
        .load(conn)?;
    rows.into_iter()
        .map(|(patient_id, line)| {
            Ok(BillingLine {
                patient_id,
                line: json("billing run line", &line).map_err(unreadable)?,
            })
        })
        .collect()
}

fn same_lines(a: &[BillingLine], b: &[BillingLine]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.patient_id == y.patient_id && x.line == y.line)
}

/// Commits the run, or answers the committed one when nothing changed (`false`: not new).
fn commit(
    conn: &mut AnyConnection,
    who: &Principal,
    location: &str,
    period: Period,
) -> Result<(BillingRun, bool), Error> {
    db::lock_key(conn, &format!("billing-run:{location}"))?;
    let later: Option<String> = billing_runs::table
        .filter(billing_runs::location_code.eq(location))
        .filter(billing_runs::period.gt(period.to_string()))
        .select(billing_runs::period)
        .order(billing_runs::period.desc())
        .first(conn)
        .optional()?;
    let existing: Option<RunRow> = billing_runs::table
        .filter(billing_runs::location_code.eq(location))
        .filter(billing_runs::period.eq(period.to_string()))
        .select(RunRow::as_select())
        .first(conn)
        .optional()?;
    let computed = compute(conn, location, period, None, &[])?;
    if let Some(run) = existing {
        if same_lines(&stored_lines(conn, &run.id)?, &computed.lines) {
            return Ok((run.into_view()?, false));
        }
        return Err(Error::new(
            ErrorCode::PeriodAlreadyBilled,
            format!(
                "{period} at {location} was billed by run {}; what changed since is billed as corrections by the run of {}",
                run.id,
                later.unwrap_or_else(|| period.next().to_string())
            ),
        ));
    }
    if let Some(later) = later {
        return Err(Error::new(
            ErrorCode::LaterRunExists,
            format!(
                "{later} at {location} is already billed; a run for an earlier month would bill behind it — its changes are corrected by the next run"
            ),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let totals = computed.totals();
    let now = db::now();
    diesel::insert_into(billing_runs::table)
        .values((
            billing_runs::id.eq(&id),
            billing_runs::location_code.eq(location),
            billing_runs::period.eq(period.to_string()),
            billing_runs::beneficiaries
                .eq(i32::try_from(computed.beneficiaries).unwrap_or(i32::MAX)),
            billing_runs::care_records.eq(i32::try_from(computed.care_records).unwrap_or(i32::MAX)),
            billing_runs::line_count.eq(i32::try_from(computed.lines.len()).unwrap_or(i32::MAX)),
            billing_runs::totals.eq(serde_json::to_string(&totals)?),
            billing_runs::problems.eq(serde_json::to_string(&computed.problems)?),
            billing_runs::created_by.eq(&who.subject),
            billing_runs::created_at.eq(now),
        ))
        .execute(conn)?;
    let mut rows = Vec::with_capacity(computed.lines.len());
    for (i, l) in computed.lines.iter().enumerate() {
        let minor = l.line.amount.to_minor().map_err(|e| Error::internal(&e))?;
        rows.push(NewLine {
            run_id: &id,
            line_no: i32::try_from(i).unwrap_or(i32::MAX),
            location_code: location,
            period: period.to_string(),
            patient_id: &l.patient_id,
            rule_code: &l.line.rule_code,
            context: &l.line.context,
            correction: l.line.correction,
            amount_minor: minor.0,
            currency: l.line.amount.currency().to_string(),
            line: serde_json::to_string(&l.line)?,
        });
    }
    insert_all!(conn, billing_run_lines::table, rows);
    let lines: Vec<(&str, &RunLine)> = computed
        .lines
        .iter()
        .map(|l| (l.patient_id.as_str(), &l.line))
        .collect();
    crate::service::periodic::create_for_run(conn, &who.subject, &id, location, period, &lines)?;
    audit::record(
        conn,
        who,
        "commit",
        "billing_run",
        &id,
        serde_json::json!({ "location_code": location, "period": period.to_string(), "lines": computed.lines.len(), "totals": totals }),
        None,
    )?;
    let run: RunRow = billing_runs::table
        .find(&id)
        .select(RunRow::as_select())
        .first(conn)?;
    Ok((run.into_view()?, true))
}

#[derive(Insertable)]
#[diesel(table_name = billing_run_lines)]
struct NewLine<'a> {
    run_id: &'a str,
    line_no: i32,
    location_code: &'a str,
    period: String,
    patient_id: &'a str,
    rule_code: &'a str,
    context: &'a str,
    correction: bool,
    amount_minor: i64,
    currency: String,
    line: String,
}

/// A care record given in a simulation.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GivenRecord {
    /// An id for the lines to name (default `given-<n>`, from 1).
    pub id: Option<String>,
    /// The record, as `POST /v1/care-records` takes it.
    #[schema(value_type = Object)]
    pub details: CareRecordDetails,
}

/// Rules tried on care records given in the request: nothing is read from accounts' records,
/// nothing is stored.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryRulesInput {
    /// The location whose enabled rules and prices apply.
    #[schema(example = "H1")]
    pub location_code: String,
    /// The month billed, `YYYY-MM` (any month from 2000-01: it is hypothetical).
    #[schema(example = "2026-10", pattern = r"^\d{4}-\d{2}$")]
    pub period: String,
    /// One beneficiary's care records (1 to 200).
    pub care_records: Vec<GivenRecord>,
    /// Draft rules tried in the place of the rules of their codes (or added, as if enabled);
    /// none: the rules in force alone.
    #[serde(default)]
    pub draft_rules: Vec<RuleDefinition>,
}

/// What rules make of given records.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TriedRules {
    /// The location.
    pub location_code: String,
    /// The month.
    pub period: String,
    /// Lines under the rules in force (the beneficiary is `given`).
    pub lines: Vec<BillingLine>,
    /// Their totals per context.
    pub totals: Vec<ContextTotal>,
    /// What they could not bill.
    pub problems: Vec<BillingProblem>,
    /// With draft rules: the lines under the drafts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_lines: Option<Vec<BillingLine>>,
    /// With draft rules: their totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_totals: Option<Vec<ContextTotal>>,
    /// With draft rules: what they could not bill.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draft_problems: Option<Vec<BillingProblem>>,
    /// With draft rules: how they differ from the rules in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<RunComparison>,
}

/// Try the rules in force, and drafts, on care records given in the request.
#[utoipa::path(post, path = "/v1/billing-runs/try", tag = "billing runs", request_body = TryRulesInput,
    responses(
        (status = 200, description = "The lines under the rules in force and under the drafts; nothing stored", body = TriedRules),
        (status = 403, description = "The location is outside your token's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Two active rules (with the drafts) compete for the same slot", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad location code, period, record or draft rule", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn try_rules(
    state: web::Data<SettlementState>,
    who: Principal,
    body: JsonBody<TryRulesInput>,
) -> Result<web::Json<TriedRules>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value;
    let mut v = Validation::new();
    let location = v.check(
        "location_code",
        "invalid",
        Code::parse(&input.location_code),
    );
    let period = Period::parse(input.period.trim()).filter(|p| {
        *p >= Period::month(2000, 1).unwrap_or(*p) && *p <= Period::month(2100, 12).unwrap_or(*p)
    });
    if period.is_none() {
        v.add(
            "period",
            "invalid",
            "a month as YYYY-MM, from 2000-01 to 2100-12",
        );
    }
    if input.care_records.is_empty() || input.care_records.len() > 200 {
        v.add("care_records", "count", "give 1 to 200 care records");
    }
    let mut records = Vec::with_capacity(input.care_records.len());
    for (i, r) in input.care_records.into_iter().enumerate() {
        let details = r.details.trimmed();
        v.nest(&format!("care_records.{i}.details"), details.validate());
        let id =
            r.id.map_or_else(|| format!("given-{}", i + 1), |id| id.trim().to_owned());
        if id.is_empty() || id.len() > 64 {
            v.add(
                format!("care_records.{i}.id"),
                "invalid",
                "1 to 64 characters",
            );
        }
        records.push(CareRecord {
            id,
            patient_id: "given".to_owned(),
            location_id: String::new(),
            version: 1,
            cancelled: false,
            details,
        });
    }
    check_drafts(&mut v, &input.draft_rules);
    v.finish().map_err(Error::validation)?;
    let (Some(location), Some(period)) = (location, period) else {
        return Err(Error::internal(&"validation passed without values"));
    };
    let location = location.to_string();
    location_in_scope(&who, &location)?;
    let drafts = input.draft_rules;
    let tried = state
        .db
        .read(move |conn| {
            for (i, r) in drafts.iter().enumerate() {
                crate::service::rules::validate(conn, r, &format!("draft_rules.{i}"))?;
            }
            let count = records.len();
            let given = BTreeMap::from([("given".to_owned(), records)]);
            let book = ServicePrices::new(service_prices(conn)?);
            let none = BTreeMap::new();
            let in_force_rules = rules_in_force(conn, &location, &[])?;
            let in_force = bill(
                period,
                &location,
                &in_force_rules,
                &given,
                &none,
                &book,
                count,
            );
            let draft = if drafts.is_empty() {
                None
            } else {
                let rules = rules_in_force(conn, &location, &drafts)?;
                Some(bill(period, &location, &rules, &given, &none, &book, count))
            };
            let comparison = draft.as_ref().map(|d| compare(&in_force, d));
            Ok::<_, Error>(TriedRules {
                location_code: location,
                period: period.to_string(),
                totals: in_force.totals(),
                draft_totals: draft.as_ref().map(Computed::totals),
                lines: in_force.lines,
                problems: in_force.problems,
                draft_lines: draft.as_ref().map(|d| d.lines.clone()),
                draft_problems: draft.map(|d| d.problems),
                comparison,
            })
        })
        .await?;
    Ok(web::Json(tried))
}

/// What can be checked of draft rules without the database, named `draft_rules.<i>.<field>`.
fn check_drafts(v: &mut Validation, drafts: &[RuleDefinition]) {
    for (i, r) in drafts.iter().enumerate() {
        for e in r.validate().errors() {
            v.add(
                format!("draft_rules.{i}.{}", e.field),
                &e.code,
                e.message.clone(),
            );
        }
    }
}

const WRITERS: &[Role] = &[Role::BillingManager, Role::Biller];
const READERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Auditor];

fn location_in_scope(who: &Principal, location: &str) -> Result<(), Error> {
    if who
        .locations
        .as_ref()
        .is_some_and(|allowed| !allowed.iter().any(|l| l == location))
    {
        return Err(Error::forbidden(format!(
            "your token does not cover location {location}"
        )));
    }
    Ok(())
}

/// Run (or preview) the billing of a location for a month.
#[utoipa::path(post, path = "/v1/billing-runs", tag = "billing runs", request_body = BillingRunInput,
    responses(
        (status = 200, description = "A preview (nothing stored), or the committed run of this month when nothing changed since", body = BillingRun),
        (status = 201, description = "Committed", body = BillingRun),
        (status = 403, description = "The location is outside your token's scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The month was billed and something changed since (corrections go to the next run), a later month is billed, or two active rules compete for the same slot", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad location code or period, a period that has not begun", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_run(
    state: web::Data<SettlementState>,
    who: Principal,
    body: JsonBody<BillingRunInput>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let input = body.value;
    let mut v = Validation::new();
    let location = v.check(
        "location_code",
        "invalid",
        Code::parse(&input.location_code),
    );
    let period = match parse_period(&input.period, Utc::now().date_naive()) {
        Ok(p) => Some(p),
        Err((code, message)) => {
            v.add("period", code, message);
            None
        }
    };
    if !input.draft_rules.is_empty() && !input.preview {
        v.add(
            "draft_rules",
            "preview_only",
            "draft rules are tried in a preview; save them as rule versions to bill with them",
        );
    }
    check_drafts(&mut v, &input.draft_rules);
    if let Some(p) = &input.patient_id {
        if !input.preview {
            v.add(
                "patient_id",
                "preview_only",
                "a committed run bills the whole location",
            );
        } else if uuid::Uuid::parse_str(p).is_err() {
            v.add("patient_id", "invalid", "must be a patient id");
        }
    }
    v.finish().map_err(Error::validation)?;
    let (Some(location), Some(period)) = (location, period) else {
        return Err(Error::internal(&"validation passed without values"));
    };
    let location = location.to_string();
    location_in_scope(&who, &location)?;
    if input.preview {
        let patient = input.patient_id;
        let drafts = input.draft_rules;
        let (computed, comparison, location) = state
            .db
            .read(move |conn| {
                for (i, r) in drafts.iter().enumerate() {
                    crate::service::rules::validate(conn, r, &format!("draft_rules.{i}"))?;
                }
                let computed = compute(conn, &location, period, patient.as_deref(), &drafts)?;
                let comparison = if drafts.is_empty() {
                    None
                } else {
                    let in_force = compute(conn, &location, period, patient.as_deref(), &[])?;
                    Some(compare(&in_force, &computed))
                };
                Ok::<_, Error>((computed, comparison, location))
            })
            .await?;
        let run = BillingRun {
            id: None,
            location_code: location,
            period: period.to_string(),
            preview: true,
            beneficiaries: computed.beneficiaries,
            care_records: computed.care_records,
            line_count: computed.lines.len(),
            totals: computed.totals(),
            problems: computed.problems,
            lines: Some(computed.lines),
            comparison,
            created_by: None,
            created_at: None,
        };
        return Ok(HttpResponse::Ok().json(run));
    }
    let (run, new) = state
        .db
        .write(move |conn| conn.transaction(|conn| commit(conn, &who, &location, period)))
        .await?;
    let status = if new {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(run))
}

/// Filters for the run list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunFilter {
    /// Runs of this location.
    pub location_code: Option<String>,
    /// Runs of this month (`YYYY-MM`).
    pub period: Option<String>,
}

fn list(
    conn: &mut AnyConnection,
    who: &Principal,
    f: &RunFilter,
    page: &PageRequest,
) -> Result<Page<BillingRun>, Error> {
    let mut q = billing_runs::table.select(RunRow::as_select()).into_boxed();
    if let Some(allowed) = &who.locations {
        q = q.filter(billing_runs::location_code.eq_any(allowed.clone()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(billing_runs::location_code.eq(l.clone()));
    }
    if let Some(p) = &f.period {
        q = q.filter(billing_runs::period.eq(p.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(billing_runs::id.gt(after.clone()));
    }
    let rows = q
        .order(billing_runs::id.asc())
        .limit(page.limit + 1)
        .load::<RunRow>(conn)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone());
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(RunRow::into_view)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    })
}

fn find(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<RunRow, Error> {
    let run: RunRow = billing_runs::table
        .find(id)
        .select(RunRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("billing run"))?;
    if location_in_scope(who, &run.location_code).is_err() {
        return Err(Error::not_found("billing run"));
    }
    Ok(run)
}

/// List committed billing runs.
#[utoipa::path(get, path = "/v1/billing-runs", tag = "billing runs", params(RunFilter, PageParams),
    responses((status = 200, description = "A page of runs", body = Page<BillingRun>)),
    security(("bearer" = [])))]
pub async fn list_runs(
    state: web::Data<SettlementState>,
    who: Principal,
    filter: web::Query<RunFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<BillingRun>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| list(conn, &who, &filter, &page))
            .await?,
    ))
}

/// Get a committed billing run (totals and problems).
#[utoipa::path(get, path = "/v1/billing-runs/{id}", tag = "billing runs",
    params(("id" = String, Path, description = "Run id")),
    responses((status = 200, description = "The run", body = BillingRun),
        (status = 404, description = "No such run in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_run(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<BillingRun>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "billing run")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| find(conn, &who, &id.to_string())?.into_view())
            .await?,
    ))
}

/// Lines are paged by their number; cursors are opaque and id-shaped like every other list's.
fn line_cursor(line_no: i32) -> String {
    format!("00000000-0000-4000-8000-{line_no:012}")
}

fn line_no_of(cursor: &str) -> Option<i32> {
    cursor
        .strip_prefix("00000000-0000-4000-8000-")?
        .parse()
        .ok()
}

/// Filters for a run's lines.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LineFilter {
    /// Lines of this beneficiary.
    pub patient_id: Option<String>,
}

/// The lines of a committed run, in order, with their explanations.
#[utoipa::path(get, path = "/v1/billing-runs/{id}/lines", tag = "billing runs",
    params(("id" = String, Path, description = "Run id"), LineFilter, PageParams),
    responses((status = 200, description = "A page of lines", body = Page<BillingLine>),
        (status = 404, description = "No such run in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn list_run_lines(
    state: web::Data<SettlementState>,
    who: Principal,
    id: web::Path<String>,
    filter: web::Query<LineFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<BillingLine>>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "billing run")?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    let after: Option<i32> = match &page.after {
        None => None,
        Some(a) => Some(
            line_no_of(a)
                .ok_or_else(|| Error::field("cursor", "invalid", "not a cursor of this list"))?,
        ),
    };
    Ok(web::Json(
        state
            .db
            .read(move |conn| {
                let run = find(conn, &who, &id.to_string())?;
                let mut q = billing_run_lines::table
                    .filter(billing_run_lines::run_id.eq(&run.id))
                    .select((
                        billing_run_lines::line_no,
                        billing_run_lines::patient_id,
                        billing_run_lines::line,
                    ))
                    .into_boxed();
                if let Some(p) = &filter.patient_id {
                    q = q.filter(billing_run_lines::patient_id.eq(p.clone()));
                }
                if let Some(a) = after {
                    q = q.filter(billing_run_lines::line_no.gt(a));
                }
                let rows: Vec<(i32, String, String)> = q
                    .order(billing_run_lines::line_no.asc())
                    .limit(page.limit + 1)
                    .load(conn)?;
                let page = Page::from_rows(rows, &page, |r| line_cursor(r.0));
                Ok::<_, Error>(Page {
                    items: page
                        .items
                        .into_iter()
                        .map(|(_, patient_id, line)| {
                            Ok(BillingLine {
                                patient_id,
                                line: json("billing run line", &line).map_err(unreadable)?,
                            })
                        })
                        .collect::<Result<_, Error>>()?,
                    next_cursor: page.next_cursor,
                })
            })
            .await?,
    ))
}
