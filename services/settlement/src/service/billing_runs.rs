//! Billing runs (periodic billing, long-term care): per location and month, the lines the
//! invoicing rules active there give for each beneficiary's care records, less what earlier runs
//! billed. A run can be previewed (nothing stored) or committed; a committed run is final: run
//! again with nothing changed it answers the same run, and once something changed the
//! differences wait for the next month's run as correction lines. The evaluation itself is
//! [`carebill_domain::billing`]; this module loads its inputs and stores its output. Committing
//! makes the run's periodic settlements ([`crate::service::periodic::create_for_run`]).

use std::collections::BTreeMap;

use carebill_domain::Money;
use carebill_domain::billing::{
    BeneficiaryRun, PriceQuery, RuleInForce, RunLine, RunProblem, bill_beneficiary, conflicts,
};
use carebill_domain::rules::{InvoicingSource, Period, RuleDefinition};
use carebill_domain::settlement::ServicePrices;
use carebill_domain::sources::CareRecord;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, ErrorCode, audit};
use chrono::{DateTime, Utc};
use diesel::Connection as _;
use serde::Serialize;

use crate::service::{periodic, rules};
use crate::store::billing_runs::{
    self as store, NewLine, NewRun, RunRow, StoredProblem, StoredTotal,
};
use crate::store::count;

/// A run line with its beneficiary.
#[derive(Debug, Clone, PartialEq)]
pub struct PatientLine {
    /// The beneficiary (patient id).
    pub patient_id: String,
    /// The line.
    pub line: RunLine,
}

/// A problem with its beneficiary.
#[derive(Debug, Clone)]
pub struct PatientProblem {
    /// The beneficiary (patient id).
    pub patient_id: String,
    /// The problem.
    pub problem: RunProblem,
}

/// The total of one invoice context (as the audit trail records it too).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Total {
    /// Invoice context.
    pub context: String,
    /// Sum of its lines (corrections included).
    pub amount: Money,
    /// Number of lines.
    pub lines: usize,
}

/// One difference between the rules in force and drafts.
#[derive(Debug, Clone)]
pub struct Difference {
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

/// Drafts against the rules in force.
#[derive(Debug, Clone)]
pub struct Comparison {
    /// Totals per context under the rules in force.
    pub totals_in_force: Vec<Total>,
    /// Per beneficiary, rule and context: the amounts that differ.
    pub differences: Vec<Difference>,
}

/// What a run bills.
#[derive(Debug, Clone)]
pub struct Computed {
    /// Beneficiaries with records or earlier lines.
    pub beneficiaries: usize,
    /// Care records read.
    pub care_records: usize,
    /// The lines.
    pub lines: Vec<PatientLine>,
    /// What could not be billed.
    pub problems: Vec<PatientProblem>,
}

impl Computed {
    /// Totals per context (and currency); a total that cannot be represented is an internal
    /// error naming the context.
    pub fn totals(&self) -> Result<Vec<Total>, Error> {
        let mut out: BTreeMap<(String, String), Total> = BTreeMap::new();
        for l in &self.lines {
            let amount = l.line.amount;
            let key = (l.line.context.clone(), amount.currency().to_string());
            let t = out.entry(key).or_insert_with(|| Total {
                context: l.line.context.clone(),
                amount: Money::zero(amount.currency()),
                lines: 0,
            });
            t.amount = t.amount.checked_add(&amount).map_err(|e| {
                Error::internal(&format!(
                    "the total of context {} cannot be represented: {e}",
                    l.line.context
                ))
            })?;
            t.lines += 1;
        }
        Ok(out.into_values().collect())
    }
}

/// A committed run.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// Id.
    pub id: String,
    /// Location code.
    pub location_code: String,
    /// The month.
    pub period: String,
    /// Beneficiaries.
    pub beneficiaries: usize,
    /// Care records read.
    pub care_records: usize,
    /// Lines billed.
    pub line_count: usize,
    /// Totals per context.
    pub totals: Vec<Total>,
    /// What could not be billed.
    pub problems: Vec<PatientProblem>,
    /// Who committed it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A stored count read back.
fn stored_count(what: &str, n: i32) -> Result<usize, Error> {
    usize::try_from(n).map_err(|e| Error::stored(what, &n.to_string(), e))
}

impl TryFrom<RunRow> for RunRecord {
    type Error = Error;

    fn try_from(r: RunRow) -> Result<Self, Error> {
        Ok(RunRecord {
            beneficiaries: stored_count("billing run beneficiaries", r.beneficiaries)?,
            care_records: stored_count("billing run care records", r.care_records)?,
            line_count: stored_count("billing run line count", r.line_count)?,
            totals: r
                .totals()?
                .into_iter()
                .map(|t| Total {
                    context: t.context,
                    amount: t.amount,
                    lines: t.lines,
                })
                .collect(),
            problems: r
                .problems()?
                .into_iter()
                .map(|p| PatientProblem {
                    patient_id: p.patient_id,
                    problem: p.problem,
                })
                .collect(),
            id: r.id,
            location_code: r.location_code,
            period: r.period,
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
        })
    }
}

/// How drafts differ from the rules in force, per beneficiary, rule and context; a sum that
/// cannot be represented is an internal error.
pub fn compare(in_force: &Computed, draft: &Computed) -> Result<Comparison, Error> {
    let sums = |c: &Computed| {
        let mut m: BTreeMap<(String, String, String), Money> = BTreeMap::new();
        for l in &c.lines {
            let key = (
                l.patient_id.clone(),
                l.line.rule_code.clone(),
                l.line.context.clone(),
            );
            let amount = l.line.amount;
            match m.get_mut(&key) {
                Some(t) => {
                    *t = t.checked_add(&amount).map_err(|e| {
                        Error::internal(&format!(
                            "the sum of rule {} in context {} for beneficiary {} cannot be represented: {e}",
                            key.1, key.2, key.0
                        ))
                    })?;
                }
                None => {
                    m.insert(key, amount);
                }
            }
        }
        Ok::<_, Error>(m)
    };
    let (a, b) = (sums(in_force)?, sums(draft)?);
    let mut keys: Vec<&(String, String, String)> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let differences = keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| Difference {
            patient_id: k.0.clone(),
            rule_code: k.1.clone(),
            context: k.2.clone(),
            in_force: a.get(k).copied(),
            draft: b.get(k).copied(),
        })
        .collect();
    Ok(Comparison {
        totals_in_force: in_force.totals()?,
        differences,
    })
}

/// The current version of every rule enabled at the location that bills from care records; with
/// `drafts`, each draft takes the place of the rule of its code (or is added, as if enabled).
fn rules_in_force(
    conn: &mut AnyConnection,
    location: &str,
    drafts: &[RuleDefinition],
) -> Result<Vec<RuleInForce>, Error> {
    let mut out = Vec::new();
    for (version, rule) in store::rules_enabled_at(conn, location)? {
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

/// Everything a run for `period` at `location` bills (one beneficiary if `patient` is set).
fn compute(
    conn: &mut AnyConnection,
    location: &str,
    period: Period,
    patient: Option<&str>,
    drafts: &[RuleDefinition],
) -> Result<Computed, Error> {
    let rules = rules_in_force(conn, location, drafts)?;
    let found = store::care_records_at(conn, location, patient)?;
    let care_records = found.len();
    let mut records: BTreeMap<String, Vec<CareRecord>> = BTreeMap::new();
    for r in found {
        records.entry(r.patient_id.clone()).or_default().push(r);
    }
    let mut billed: BTreeMap<String, Vec<RunLine>> = BTreeMap::new();
    for (patient_id, line) in store::earlier_lines(conn, location, &period.to_string(), patient)? {
        billed.entry(patient_id).or_default().push(line);
    }
    let book = ServicePrices::new(store::service_prices(conn)?);
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
        out.lines.extend(lines.into_iter().map(|line| PatientLine {
            patient_id: p.clone(),
            line,
        }));
        out.problems
            .extend(problems.into_iter().map(|problem| PatientProblem {
                patient_id: p.clone(),
                problem,
            }));
    }
    out
}

/// A preview of a run (one beneficiary if `patient` is set), with `drafts` in the place of the
/// rules of their codes, and then how it differs from the rules in force. Stores nothing.
#[tracing::instrument(skip_all, fields(period = %period))]
pub fn preview(
    conn: &mut AnyConnection,
    location: &str,
    period: Period,
    patient: Option<&str>,
    drafts: &[RuleDefinition],
) -> Result<(Computed, Option<Comparison>), Error> {
    for (i, r) in drafts.iter().enumerate() {
        rules::validate(conn, r, &format!("draft_rules.{i}"))?;
    }
    let computed = compute(conn, location, period, patient, drafts)?;
    let comparison = if drafts.is_empty() {
        None
    } else {
        let in_force = compute(conn, location, period, patient, &[])?;
        Some(compare(&in_force, &computed)?)
    };
    Ok((computed, comparison))
}

/// The rules in force (and `drafts`) tried on care records given by the caller: what each
/// bills, and how the drafts differ. Stores nothing.
#[tracing::instrument(skip_all, fields(period = %period))]
pub fn try_on(
    conn: &mut AnyConnection,
    location: &str,
    period: Period,
    records: Vec<CareRecord>,
    drafts: &[RuleDefinition],
) -> Result<(Computed, Option<Computed>, Option<Comparison>), Error> {
    for (i, r) in drafts.iter().enumerate() {
        rules::validate(conn, r, &format!("draft_rules.{i}"))?;
    }
    let count = records.len();
    let given = BTreeMap::from([("given".to_owned(), records)]);
    let book = ServicePrices::new(store::service_prices(conn)?);
    let none = BTreeMap::new();
    let in_force_rules = rules_in_force(conn, location, &[])?;
    let in_force = bill(
        period,
        location,
        &in_force_rules,
        &given,
        &none,
        &book,
        count,
    );
    let draft = if drafts.is_empty() {
        None
    } else {
        let rules = rules_in_force(conn, location, drafts)?;
        Some(bill(period, location, &rules, &given, &none, &book, count))
    };
    let comparison = draft.as_ref().map(|d| compare(&in_force, d)).transpose()?;
    Ok((in_force, draft, comparison))
}

/// Commits the run of `period` at `location`, or answers the committed one when nothing changed
/// (`false`: not new); in a transaction.
#[tracing::instrument(skip_all, fields(period = %period))]
pub fn commit(
    conn: &mut AnyConnection,
    who: &Principal,
    location: &str,
    period: Period,
) -> Result<(RunRecord, bool), Error> {
    conn.transaction(|conn| commit_in(conn, who, location, period))
}

fn commit_in(
    conn: &mut AnyConnection,
    who: &Principal,
    location: &str,
    period: Period,
) -> Result<(RunRecord, bool), Error> {
    store::lock_location(conn, location)?;
    let later = store::later_period(conn, location, &period.to_string())?;
    let existing = store::run_of(conn, location, &period.to_string())?;
    let computed = compute(conn, location, period, None, &[])?;
    if let Some(run) = existing {
        let stored = store::lines_of_run(conn, &run.id)?;
        let same = stored.len() == computed.lines.len()
            && stored
                .iter()
                .zip(&computed.lines)
                .all(|((p, l), c)| *p == c.patient_id && *l == c.line);
        if same {
            return Ok((run.try_into()?, false));
        }
        let next = match later {
            Some(l) => l,
            None => period.next().to_string(),
        };
        return Err(Error::new(
            ErrorCode::PeriodAlreadyBilled,
            format!(
                "{period} at {location} was billed by run {}; what changed since is billed as corrections by the run of {next}",
                run.id
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
    let totals = computed.totals()?;
    let stored_totals: Vec<StoredTotal> = totals
        .iter()
        .map(|t| StoredTotal {
            context: t.context.clone(),
            amount: t.amount,
            lines: t.lines,
        })
        .collect();
    let stored_problems: Vec<StoredProblem> = computed
        .problems
        .iter()
        .map(|p| StoredProblem {
            patient_id: p.patient_id.clone(),
            problem: p.problem.clone(),
        })
        .collect();
    let mut rows = Vec::with_capacity(computed.lines.len());
    for (i, l) in computed.lines.iter().enumerate() {
        let minor = l.line.amount.to_minor().map_err(|e| Error::internal(&e))?;
        rows.push(NewLine {
            run_id: &id,
            line_no: count("billing run line number", i)?,
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
    store::insert(
        conn,
        &NewRun {
            id: &id,
            location_code: location,
            period: period.to_string(),
            beneficiaries: count("billing run beneficiaries", computed.beneficiaries)?,
            care_records: count("billing run care records", computed.care_records)?,
            line_count: count("billing run lines", computed.lines.len())?,
            totals: &stored_totals,
            problems: &stored_problems,
            created_by: &who.subject,
            created_at: db::now(),
        },
        rows,
    )?;
    let lines: Vec<(&str, &RunLine)> = computed
        .lines
        .iter()
        .map(|l| (l.patient_id.as_str(), &l.line))
        .collect();
    periodic::create_for_run(conn, &who.subject, &id, location, period, &lines)?;
    audit::record(
        conn,
        who,
        "commit",
        "billing_run",
        &id,
        serde_json::json!({ "location_code": location, "period": period.to_string(), "lines": computed.lines.len(), "totals": totals }),
        None,
    )?;
    let run =
        store::find(conn, &id)?.ok_or_else(|| Error::internal(&"a run stored but not found"))?;
    Ok((run.try_into()?, true))
}

/// A page of committed runs in the caller's scope.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    location: Option<&str>,
    period: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<RunRecord>, Error> {
    store::list(conn, scope, location, period, after, limit)?
        .into_iter()
        .map(RunRecord::try_from)
        .collect()
}

fn find_row(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<RunRow, Error> {
    store::find(conn, id)?
        .filter(|r| scope.allows(&r.location_code, None))
        .ok_or_else(|| Error::not_found("billing run"))
}

/// A committed run in the caller's scope.
#[tracing::instrument(skip_all, fields(run = id))]
pub fn find(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<RunRecord, Error> {
    find_row(conn, scope, id)?.try_into()
}

/// A page of a committed run's lines (of one beneficiary), with their numbers.
#[tracing::instrument(skip_all, fields(run = id))]
pub fn lines(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
    patient: Option<&str>,
    after: Option<i32>,
    limit: i64,
) -> Result<Vec<(i32, PatientLine)>, Error> {
    let run = find_row(conn, scope, id)?;
    Ok(store::line_page(conn, &run.id, patient, after, limit)?
        .into_iter()
        .map(|(n, patient_id, line)| (n, PatientLine { patient_id, line }))
        .collect())
}
