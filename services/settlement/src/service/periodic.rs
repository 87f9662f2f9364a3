//! Periodic settlements: a committed billing run feeds one settlement per beneficiary, which
//! then goes through review, medical audit and approval like any other and is invoiced per
//! party.
//!
//! Each run line is billed whole to the party of its invoice context: `beneficiary` (or
//! `patient`) to the beneficiary; `insurance` to their first insurer covering the line's first
//! day; `public_authority` to their first public authority; any other context to the
//! beneficiary's coverage of the payer with that code. A line whose context has no party is
//! flagged (`no_party_for_context`) until the coverage arrives. Lines may be negative (linked
//! deductions, corrections of earlier months) but what one party is billed must not add up to
//! less than zero (`negative_total`): invoicing issues invoices, not credit for a month.

use std::collections::HashMap;

use carebill_domain::accounts::{EpisodeKind, PayerKind};
use carebill_domain::billing::RunLine;
use carebill_domain::events::{CoverageRef, EpisodeRef, PartyRef};
use carebill_domain::ids::{EpisodeId, PatientId};
use carebill_domain::rules::Period;
use carebill_domain::settlement::{Reason, SettlementKind};
use carebill_domain::{MinorUnits, Money};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, ErrorCode};
use chrono::NaiveDate;

use crate::service::assignment;
use crate::store::count;
use crate::store::periodic::{self as store, Correction};
use crate::store::settlements::{self, Cause, Row};
use carebill_domain::pricing::{LineShare, PricedLine, issue};

/// The namespace of the ids of periodic lines and episodes (UUIDv5 of the run and line).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x0199_c0de_ca5e_7000_8000_0000_6e11_0d1c);

/// The party an invoice context bills, among the beneficiary's coverages on `day`.
#[tracing::instrument(skip_all)]
pub fn party_for(
    context: &str,
    patient: PatientId,
    coverages: &[CoverageRef],
    day: NaiveDate,
) -> Option<PartyRef> {
    let mut covering: Vec<&CoverageRef> = coverages
        .iter()
        .filter(|c| c.valid_from.is_none_or(|f| f <= day) && c.valid_to.is_none_or(|t| day <= t))
        .collect();
    covering.sort_by_key(|c| (c.priority, c.id));
    let first_of = |kind: PayerKind| covering.iter().find(|c| c.payer_kind == kind).copied();
    let coverage = match context {
        "beneficiary" | "patient" => return Some(PartyRef::patient(patient)),
        "insurance" => first_of(PayerKind::Insurer),
        "public_authority" => first_of(PayerKind::PublicAuthority),
        code => covering
            .iter()
            .find(|c| c.payer_code.eq_ignore_ascii_case(code))
            .copied(),
    };
    coverage.map(PartyRef::payer)
}

/// The lines of a periodic settlement: its beneficiary's lines of the run, each billed to the
/// party of its context with the coverages the settlement has now.
#[tracing::instrument(skip_all)]
pub fn lines(conn: &mut AnyConnection, row: &Row, run_id: &str) -> Result<Vec<PricedLine>, Error> {
    let run_lines = store::run_lines_of(conn, run_id, &row.patient_id)?;
    let run = uuid::Uuid::parse_str(run_id).map_err(|e| Error::internal(&e))?;
    let corrections = store::corrections(conn, &row.id)?;
    lines_of(
        run,
        run_lines,
        &row.episode()?,
        &row.coverages()?,
        &corrections,
    )
}

/// Corrects a line of a periodic settlement — if the invoicing rule that made it allows manual
/// correction (seed 003's `manual_correction`). The caller recomputes.
#[tracing::instrument(skip_all)]
pub fn correct(
    conn: &mut AnyConnection,
    row: &Row,
    line_id: &str,
    unit_price: Option<Money>,
    excluded: bool,
    reason: &str,
) -> Result<(), Error> {
    let lines = settlements::lines_at(conn, &row.id, row.version)?;
    let line = lines
        .iter()
        .find(|l| l.consumption_id == line_id)
        .ok_or_else(|| Error::not_found("settlement line"))?;
    let Some(run_line) = &line.run_line else {
        return Err(Error::not_found("settlement line"));
    };
    let allowed = store::rule_version(conn, &run_line.rule_code, run_line.rule_version)?
        .is_some_and(|r| r.manual_correction);
    if !allowed {
        return Err(Error::new(
            ErrorCode::ManualCorrectionNotAllowed,
            format!(
                "rule {} (version {}) does not allow manual correction of its lines; correct its records or the rule (a new version), and the next run corrects the month",
                run_line.rule_code, run_line.rule_version
            ),
        ));
    }
    if let Some(p) = &unit_price
        && p.currency() != run_line.unit_price.currency()
    {
        return Err(Error::field(
            "unit_price.currency",
            "mismatch",
            format!("the line is in {}", run_line.unit_price.currency()),
        ));
    }
    let minor = settlements::manual_price_minor(unit_price.as_ref())?;
    store::put_correction(
        conn,
        &row.id,
        line_id,
        minor,
        unit_price.map(|p| p.currency().to_string()),
        excluded,
        reason,
    )
}

/// [`lines`] from the run's lines given (numbered in the run). Pure; a location time zone that
/// does not read or an amount that cannot be represented is an internal error naming it.
fn lines_of(
    run: uuid::Uuid,
    run_lines: Vec<(i32, RunLine)>,
    episode: &EpisodeRef,
    coverages: &[CoverageRef],
    corrections: &HashMap<String, Correction>,
) -> Result<Vec<PricedLine>, Error> {
    let patient = episode.patient.id;
    let tz = carebill_domain::accounts::parse_time_zone(&episode.location.time_zone)
        .map_err(|why| Error::stored("location time zone", &episode.location.time_zone, why))?;
    // A line is dated at the start of its first day in the location's time zone, so that its
    // service date (and year) is the day billed wherever the location is.
    let start_of = |day: NaiveDate| {
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        use chrono::TimeZone as _;
        tz.from_local_datetime(&midnight)
            .earliest()
            .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&chrono::Utc))
    };
    let mut lines = Vec::with_capacity(run_lines.len());
    for (line_no, l) in run_lines {
        let day = l.days.from;
        let id = uuid::Uuid::new_v5(&run, &line_no.to_be_bytes()).to_string();
        // A biller's correction (where the rule allows it) takes the place of the run's price.
        let correction = corrections.get(&id);
        let (unit_price, amount, source) = match correction.and_then(|c| c.unit_price) {
            Some(p) => (
                p,
                Money::round(p.amount() * l.quantity, p.currency()),
                "manual",
            ),
            None => (l.unit_price, l.amount, "billing_run"),
        };
        let excluded = correction.is_some_and(|c| c.excluded);
        let party = party_for(&l.context, patient, coverages, day).filter(|_| !excluded);
        let mut issues = Vec::new();
        let shares = match &party {
            Some(p) => vec![LineShare {
                party: p.clone(),
                amount,
                copay: Money::zero(amount.currency()),
                deductible: None,
                reason: Reason::InvoiceContext {
                    context: l.context.clone(),
                },
                terms_id: None,
                parts: Vec::new(),
                method: None,
            }],
            None if excluded => Vec::new(),
            None => {
                issues.push(issue(
                    "no_party_for_context",
                    format!(
                        "context {} bills nobody: the beneficiary has no {} coverage on {day}; add it in accounts and the settlement is split again",
                        l.context,
                        match l.context.as_str() {
                            "insurance" => "insurer".to_owned(),
                            "public_authority" => "public-authority".to_owned(),
                            other => format!("{other} payer"),
                        }
                    ),
                ));
                Vec::new()
            }
        };
        lines.push(PricedLine {
            consumption_id: id,
            code: l.service_group.clone(),
            description: l.description.clone(),
            service_group: l.service_group.clone(),
            quantity: l.quantity,
            unit: "day".to_owned(),
            performed_at: start_of(day),
            performed_by: None,
            kind: None,
            unit_price: Some(unit_price),
            amount: Some(amount),
            price_source: source.to_owned(),
            price_id: None,
            excluded,
            override_reason: correction.map(|c| c.reason.clone()),
            shares,
            issues,
            conditions: Vec::new(),
            adjustments: Vec::new(),
            extra_of: None,
            party_by_condition: None,
            package: None,
            run_line: Some(l),
            offer: None,
            claim: None,
        });
    }
    // What each party is billed must not be negative.
    let mut totals: HashMap<String, (i64, String)> = HashMap::new();
    for l in &lines {
        for s in &l.shares {
            let t = totals.entry(s.party.key()).or_insert_with(|| {
                (
                    0,
                    match &s.party.payer_code {
                        Some(code) => code.clone(),
                        None => "the beneficiary".to_owned(),
                    },
                )
            });
            let minor = s.amount.to_minor().map_err(|e| {
                Error::internal(&format!(
                    "share of {} on line {} ({}) cannot be represented: {e}",
                    t.1, l.consumption_id, s.amount
                ))
            })?;
            t.0 = t.0.checked_add(minor.0).ok_or_else(|| {
                Error::internal(&format!("the total billed to {} overflows", t.1))
            })?;
        }
    }
    for l in &mut lines {
        let Some(s) = l.shares.first() else { continue };
        if let Some((total, name)) = totals.get(&s.party.key()).filter(|(t, _)| *t < 0) {
            let total = Money::from_minor(MinorUnits(*total), s.amount.currency());
            l.issues.push(issue(
                "negative_total",
                format!(
                    "{name} would be billed {total} in all: deductions exceed the charges of its context; give the context its own charging rule, or bill the deduction into another context"
                ),
            ));
        }
    }
    Ok(lines)
}

/// Makes the periodic settlements of a committed run from its `lines` (in run order): one per
/// beneficiary, numbered `<location>/<period>/<n>` in order of their first line, assigned like
/// any new settlement, stored with their first version at once.
#[tracing::instrument(skip_all)]
pub fn create_for_run(
    conn: &mut AnyConnection,
    by: &str,
    run_id: &str,
    location_code: &str,
    period: Period,
    lines: &[(&str, &RunLine)],
) -> Result<Vec<String>, Error> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_patient: HashMap<&str, Vec<(i32, RunLine)>> = HashMap::new();
    for (n, (patient_id, line)) in lines.iter().enumerate() {
        let entry = by_patient.entry(patient_id).or_insert_with(|| {
            order.push(patient_id);
            Vec::new()
        });
        entry.push((count("run line number", n)?, (*line).clone()));
    }
    let mut refs = store::beneficiaries(conn, location_code)?;
    let run = uuid::Uuid::parse_str(run_id).map_err(|e| Error::internal(&e))?;
    let mut made = Vec::with_capacity(order.len());
    for (n, patient_id) in order.into_iter().enumerate() {
        let (patient, location, coverages) = refs
            .remove(patient_id)
            .ok_or_else(|| Error::internal(&"a billed beneficiary without care records"))?;
        let episode = EpisodeRef {
            id: EpisodeId(uuid::Uuid::new_v5(
                &NAMESPACE,
                format!("{location_code}/{period}/{patient_id}").as_bytes(),
            )),
            number: period.to_string(),
            kind: EpisodeKind::LongTermStay,
            location,
            patient,
            attending_practitioner: None,
        };
        let mut row = Row::draft(
            uuid::Uuid::new_v5(&run, patient_id.as_bytes()).to_string(),
            format!("{location_code}/{period}/{}", n + 1),
            SettlementKind::Periodic,
            &episode,
            &coverages,
            db::now(),
        )?;
        row.billing_run_id = Some(run_id.to_owned());
        let settlement_lines = lines_of(
            run,
            by_patient
                .remove(patient_id)
                .ok_or_else(|| Error::internal(&"a beneficiary in order without lines"))?,
            &episode,
            &coverages,
            &HashMap::new(),
        )?;
        made.push((row, settlement_lines));
    }
    let mut rows: Vec<Row> = made.iter().map(|(r, _)| r.clone()).collect();
    assignment::assign_many(conn, &mut rows)?;
    for ((row, _), assigned) in made.iter_mut().zip(rows) {
        row.assigned_to = assigned.assigned_to;
    }
    settlements::store_new(
        conn,
        &mut made,
        &Cause {
            kind: "billing_run",
            reason: Some(&format!("billing run {run_id} of {period}")),
            by,
        },
    )?;
    Ok(made.into_iter().map(|(r, _)| r.id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use carebill_domain::ids::{CoverageId, PayerId};

    fn coverage(code: &str, kind: PayerKind, priority: i32, to: Option<&str>) -> CoverageRef {
        CoverageRef {
            id: CoverageId::new(),
            payer_id: PayerId::new(),
            payer_code: code.to_owned(),
            payer_kind: kind,
            policy_number: "1".to_owned(),
            plan_code: None,
            priority,
            valid_from: None,
            valid_to: to.and_then(|t| t.parse().ok()),
            payer_billing: None,
        }
    }

    #[test]
    fn contexts_bill_the_beneficiary_their_insurer_their_authority_or_a_named_payer() {
        let patient = PatientId::new();
        let covs = vec![
            coverage("OLDCARE", PayerKind::Insurer, 1, Some("2026-10-31")),
            coverage("CSS", PayerKind::Insurer, 2, None),
            coverage("CANTON-ZH", PayerKind::PublicAuthority, 3, None),
            coverage("FOUNDATION", PayerKind::Other, 4, None),
        ];
        let day = |s: &str| s.parse::<NaiveDate>().expect("a date");
        let code = |context: &str, on: &str| {
            party_for(context, patient, &covs, day(on)).map(|p| match p.payer_code {
                Some(c) => c,
                None => "patient".to_owned(),
            })
        };
        assert_eq!(
            code("beneficiary", "2026-11-01").as_deref(),
            Some("patient")
        );
        assert_eq!(code("insurance", "2026-10-01").as_deref(), Some("OLDCARE"));
        assert_eq!(
            code("insurance", "2026-11-01").as_deref(),
            Some("CSS"),
            "the first insurer covering the day"
        );
        assert_eq!(
            code("public_authority", "2026-11-01").as_deref(),
            Some("CANTON-ZH")
        );
        assert_eq!(
            code("foundation", "2026-11-01").as_deref(),
            Some("FOUNDATION")
        );
        assert_eq!(code("employer", "2026-11-01"), None);
    }
}
