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
use carebill_domain::events::{CoverageRef, EpisodeRef, LocationRef, PartyRef, PatientRef};
use carebill_domain::ids::{EpisodeId, LocationId, PatientId};
use carebill_domain::rules::Period;
use carebill_domain::settlement::{Reason, SettlementKind};
use carebill_domain::{MinorUnits, Money};
use carebill_platform::ApiError;
use carebill_platform::db::{self, AnyConnection};
use chrono::NaiveDate;
use diesel::prelude::*;

use crate::billing_runs::BillingLine;
use crate::schema::{billing_run_lines, care_records};
use crate::settlements::{self, Cause, LineIssue, LineShare, Row, SettlementLine};

/// The namespace of the ids of periodic lines and episodes (UUIDv5 of the run and line).
const NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x0199_c0de_ca5e_7000_8000_0000_6e11_0d1c);

/// The party an invoice context bills, among the beneficiary's coverages on `day`.
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

fn issue(code: &str, message: String) -> LineIssue {
    LineIssue {
        code: code.to_owned(),
        message,
    }
}

/// The lines of a periodic settlement: its beneficiary's lines of the run, each billed to the
/// party of its context with the coverages the settlement has now.
pub fn lines(
    conn: &mut AnyConnection,
    row: &Row,
    run_id: &str,
) -> Result<Vec<SettlementLine>, ApiError> {
    let rows: Vec<(i32, String)> = billing_run_lines::table
        .filter(billing_run_lines::run_id.eq(run_id))
        .filter(billing_run_lines::patient_id.eq(&row.patient_id))
        .order(billing_run_lines::line_no.asc())
        .select((billing_run_lines::line_no, billing_run_lines::line))
        .load(conn)?;
    let run_lines = rows
        .into_iter()
        .map(|(n, data)| Ok((n, serde_json::from_str(&data)?)))
        .collect::<Result<Vec<(i32, RunLine)>, ApiError>>()?;
    let run = uuid::Uuid::parse_str(run_id).map_err(|e| ApiError::internal(&e))?;
    Ok(lines_of(run, run_lines, &row.episode()?, &row.coverages()?))
}

/// [`lines`] from the run's lines given (numbered in the run). Pure.
fn lines_of(
    run: uuid::Uuid,
    run_lines: Vec<(i32, RunLine)>,
    episode: &EpisodeRef,
    coverages: &[CoverageRef],
) -> Vec<SettlementLine> {
    let patient = episode.patient.id;
    let tz = carebill_domain::accounts::parse_time_zone(&episode.location.time_zone).ok();
    // A line is dated at the start of its first day in the location's time zone, so that its
    // service date (and year) is the day billed wherever the location is.
    let start_of = |day: NaiveDate| {
        let midnight = day.and_time(chrono::NaiveTime::MIN);
        tz.and_then(|tz| {
            use chrono::TimeZone as _;
            tz.from_local_datetime(&midnight).earliest()
        })
        .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&chrono::Utc))
    };
    let mut lines = Vec::with_capacity(run_lines.len());
    for (line_no, l) in run_lines {
        let day = l.days.from;
        let party = party_for(&l.context, patient, coverages, day);
        let mut issues = Vec::new();
        let shares = match &party {
            Some(p) => vec![LineShare {
                party: p.clone(),
                amount: l.amount,
                copay: Money::zero(l.amount.currency()),
                deductible: None,
                reason: Reason::InvoiceContext {
                    context: l.context.clone(),
                },
                terms_id: None,
            }],
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
        let id = uuid::Uuid::new_v5(&run, &line_no.to_be_bytes());
        lines.push(SettlementLine {
            consumption_id: id.to_string(),
            code: l.service_group.clone(),
            description: l.description.clone(),
            service_group: l.service_group.clone(),
            quantity: l.quantity,
            unit: "day".to_owned(),
            performed_at: start_of(day),
            performed_by: None,
            unit_price: Some(l.unit_price),
            amount: Some(l.amount),
            price_source: "billing_run".to_owned(),
            price_id: None,
            excluded: false,
            override_reason: None,
            shares,
            issues,
            conditions: Vec::new(),
            adjustments: Vec::new(),
            extra_of: None,
            party_by_condition: None,
            package: None,
            run_line: Some(l),
            offer: None,
        });
    }
    // What each party is billed must not be negative.
    let mut totals: HashMap<String, (i64, String)> = HashMap::new();
    for l in &lines {
        for s in &l.shares {
            let t = totals.entry(s.party.key()).or_insert_with(|| {
                (
                    0,
                    s.party
                        .payer_code
                        .clone()
                        .unwrap_or_else(|| "the beneficiary".to_owned()),
                )
            });
            t.0 += s.amount.to_minor().map_or(0, |m| m.0);
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
    lines
}

type Refs = (PatientRef, LocationRef, Vec<CoverageRef>);

/// What the beneficiaries' invoices name: the patient and location accounts sent with each
/// one's newest care record at the location, and their coverages.
fn beneficiaries(
    conn: &mut AnyConnection,
    location_code: &str,
) -> Result<HashMap<String, Refs>, ApiError> {
    type Stored = (String, String, Option<String>, Option<String>, String);
    let rows: Vec<Stored> = care_records::table
        .filter(care_records::location_code.eq(location_code))
        .order(care_records::updated_at.asc())
        .select((
            care_records::patient_id,
            care_records::location_id,
            care_records::patient,
            care_records::location,
            care_records::coverages,
        ))
        .load(conn)?;
    let mut newest: HashMap<String, Stored> = HashMap::new();
    for r in rows {
        newest.insert(r.0.clone(), r);
    }
    newest
        .into_iter()
        .map(
            |(patient_id, (_, location_id, patient, location, coverages))| {
                let id: PatientId = patient_id.parse().map_err(|e| ApiError::internal(&e))?;
                let patient = match patient {
                    Some(p) => serde_json::from_str(&p)?,
                    None => PatientRef {
                        id,
                        beneficiary_kind: String::new(),
                        birth_date: None,
                        flags: Vec::new(),
                    },
                };
                let location = match location {
                    Some(l) => serde_json::from_str(&l)?,
                    None => LocationRef {
                        id: location_id
                            .parse::<LocationId>()
                            .map_err(|e| ApiError::internal(&e))?,
                        code: location_code.to_owned(),
                        name: location_code.to_owned(),
                        time_zone: "UTC".to_owned(),
                        tax_id: None,
                    },
                };
                Ok((
                    patient_id,
                    (patient, location, serde_json::from_str(&coverages)?),
                ))
            },
        )
        .collect()
}

/// Makes the periodic settlements of a committed run from its `lines` (in run order): one per
/// beneficiary, numbered `<location>/<period>/<n>` in order of their first line, assigned like
/// any new settlement, stored with their first version at once.
pub fn create_for_run(
    conn: &mut AnyConnection,
    by: &str,
    run_id: &str,
    location_code: &str,
    period: Period,
    lines: &[BillingLine],
) -> Result<Vec<String>, ApiError> {
    let mut order: Vec<&str> = Vec::new();
    let mut by_patient: HashMap<&str, Vec<(i32, RunLine)>> = HashMap::new();
    for (n, l) in lines.iter().enumerate() {
        let entry = by_patient.entry(&l.patient_id).or_insert_with(|| {
            order.push(&l.patient_id);
            Vec::new()
        });
        entry.push((i32::try_from(n).unwrap_or(i32::MAX), l.line.clone()));
    }
    let mut refs = beneficiaries(conn, location_code)?;
    let run = uuid::Uuid::parse_str(run_id).map_err(|e| ApiError::internal(&e))?;
    let mut made = Vec::with_capacity(order.len());
    for (n, patient_id) in order.into_iter().enumerate() {
        let (patient, location, coverages) = refs
            .remove(patient_id)
            .ok_or_else(|| ApiError::internal(&"a billed beneficiary without care records"))?;
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
            by_patient.remove(patient_id).unwrap_or_default(),
            &episode,
            &coverages,
        );
        made.push((row, settlement_lines));
    }
    let mut rows: Vec<Row> = made.iter().map(|(r, _)| r.clone()).collect();
    crate::assignment::assign_many(conn, &mut rows)?;
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
        let day = |s: &str| s.parse::<NaiveDate>().unwrap_or(NaiveDate::MIN);
        let code = |context: &str, on: &str| {
            party_for(context, patient, &covs, day(on))
                .map(|p| p.payer_code.unwrap_or_else(|| "patient".to_owned()))
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
