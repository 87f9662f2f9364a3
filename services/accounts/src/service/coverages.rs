//! Coverages: which payer covers a patient, in which order. A priority is held by one coverage
//! at a time in any period; every change announces the patient's coverages anew.

use std::collections::HashMap;

use carebill_domain::Code;
use carebill_domain::events::{
    CoverageChangedV1, CoverageClaimFacts, CoverageRef, CoverageSubscriber,
};
use carebill_domain::ids::{CoverageId, PatientId, PayerId};
use carebill_platform::auth::Principal;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, audit, db};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Connection;
use serde::Serialize;

use crate::service::{emit, patients, payers, unknown_as_field};
pub use crate::store::coverages::CoverageFilter;
use crate::store::coverages::{self as store, CoverageChanges, CoverageRow};
use crate::store::payers as payer_store;

/// A coverage as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// Id.
    pub id: CoverageId,
    /// The patient covered.
    pub patient_id: PatientId,
    /// The payer.
    pub payer_id: PayerId,
    /// Policy number.
    pub policy_number: String,
    /// Plan code.
    pub plan_code: Option<String>,
    /// Order among the patient's coverages.
    pub priority: i32,
    /// First day covered.
    pub valid_from: Option<NaiveDate>,
    /// Last day covered.
    pub valid_to: Option<NaiveDate>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Who holds the policy, when not the patient.
    pub subscriber: Option<CoverageSubscriber>,
    /// The group number.
    pub group_number: Option<String>,
}

impl Coverage {
    /// Reads a stored row.
    pub(crate) fn read(r: CoverageRow) -> Result<Coverage, Error> {
        Ok(Coverage {
            subscriber: r.subscriber()?,
            group_number: r.group_number.clone(),
            id: r.id,
            patient_id: r.patient_id,
            payer_id: r.payer_id,
            policy_number: r.policy_number,
            plan_code: r.plan_code,
            priority: r.priority,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// A validated coverage to create or replace.
#[derive(Debug, Clone)]
pub struct NewCoverage {
    /// The patient covered (a valid id).
    pub patient_id: String,
    /// The payer (a valid id).
    pub payer_id: String,
    /// Policy number.
    pub policy_number: String,
    /// Plan code.
    pub plan_code: Option<Code>,
    /// Priority, 1 to 9.
    pub priority: i32,
    /// First day covered.
    pub valid_from: Option<NaiveDate>,
    /// Last day covered.
    pub valid_to: Option<NaiveDate>,
    /// Who holds the policy, when not the patient (checked).
    pub subscriber: Option<CoverageSubscriber>,
    /// The group number.
    pub group_number: Option<String>,
}

/// The coverage with this id.
#[tracing::instrument(skip_all, fields(coverage_id = %id))]
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<Coverage, Error> {
    Coverage::read(store::find(conn, id)?.ok_or_else(|| Error::not_found("coverage"))?)
}

/// The coverages of these patients as events carry them, by patient id (every patient given
/// has an entry): two statements however many patients.
pub fn refs_for_patients(
    conn: &mut AnyConnection,
    patient_ids: &[String],
) -> Result<HashMap<String, Vec<CoverageRef>>, Error> {
    let rows = store::of_patients(conn, patient_ids)?;
    let mut payer_ids: Vec<String> = rows.iter().map(|r| r.payer_id.to_string()).collect();
    payer_ids.sort();
    payer_ids.dedup();
    let payers: HashMap<PayerId, payer_store::PayerRow> = payer_store::by_ids(conn, &payer_ids)?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut out: HashMap<String, Vec<CoverageRef>> = patient_ids
        .iter()
        .map(|p| (p.clone(), Vec::new()))
        .collect();
    for r in rows {
        let payer = payers.get(&r.payer_id).ok_or_else(|| {
            Error::stored("coverage payer", &r.payer_id.to_string(), "no such payer")
        })?;
        out.entry(r.patient_id.to_string())
            .or_default()
            .push(CoverageRef {
                id: r.id,
                payer_id: r.payer_id,
                payer_code: payer.code.clone(),
                payer_kind: payer.kind,
                policy_number: r.policy_number,
                plan_code: r.plan_code,
                priority: r.priority,
                valid_from: r.valid_from,
                valid_to: r.valid_to,
                payer_billing: Some(super::party_billing(
                    &payer.name,
                    &payer.address()?,
                    &payer.billing()?,
                )),
            });
    }
    Ok(out)
}

/// The coverages of one patient as events carry them, by priority.
pub fn refs_for_patient(
    conn: &mut AnyConnection,
    patient_id: &str,
) -> Result<Vec<CoverageRef>, Error> {
    let mut all = refs_for_patients(conn, &[patient_id.to_owned()])?;
    Ok(all.remove(patient_id).into_iter().flatten().collect())
}

fn check_priority_free(
    conn: &mut AnyConnection,
    c: &NewCoverage,
    except: Option<&str>,
) -> Result<(), Error> {
    let others = store::lock_patient_priority(conn, &c.patient_id, c.priority)?;
    let clash = others
        .iter()
        .filter(|o| Some(o.id.to_string().as_str()) != except)
        .find(|o| {
            carebill_domain::accounts::periods_overlap(
                o.valid_from,
                o.valid_to,
                c.valid_from,
                c.valid_to,
            )
        });
    match clash {
        Some(o) => Err(Error::field(
            "priority",
            "taken",
            format!(
                "coverage {} already has priority {} in an overlapping period",
                o.id, c.priority
            ),
        )),
        None => Ok(()),
    }
}

fn subscriber_json(s: Option<&CoverageSubscriber>) -> Result<Option<String>, Error> {
    s.map(|s| crate::store::write_json("coverage subscriber", s))
        .transpose()
}

/// What claims need of the patient's coverages beyond their references: one entry per
/// coverage with a subscriber or a group number.
fn claim_facts(
    conn: &mut AnyConnection,
    patient_id: &str,
) -> Result<Vec<CoverageClaimFacts>, Error> {
    let mut out = Vec::new();
    for r in store::of_patients(conn, &[patient_id.to_owned()])? {
        if r.subscriber.is_some() || r.group_number.is_some() {
            out.push(CoverageClaimFacts {
                coverage_id: r.id,
                subscriber: r.subscriber()?,
                group_number: r.group_number.clone(),
            });
        }
    }
    Ok(out)
}

/// How an announcement of coverages that did not change says so (`carebill announce`):
/// settlement does not split anything again for it.
pub const ANNOUNCED: &str = "announced";

/// Announces again the coverages of each patient that has any (`change` [`ANNOUNCED`], naming
/// the first coverage); returns how many patients had some.
pub fn announce_patients(
    conn: &mut AnyConnection,
    who: &Principal,
    patient_ids: &[String],
) -> Result<usize, Error> {
    let rows = store::of_patients(conn, patient_ids)?;
    let mut announced = 0;
    for patient in patient_ids {
        if let Some(first) = rows.iter().find(|r| r.patient_id.to_string() == *patient) {
            announce(conn, who, patient, &first.id.to_string(), ANNOUNCED)?;
            announced += 1;
        }
    }
    Ok(announced)
}

fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    patient_id: &str,
    coverage_id: &str,
    change: &str,
) -> Result<(), Error> {
    let payload = CoverageChangedV1 {
        patient_id: patient_id.parse().map_err(|e| Error::internal(&e))?,
        coverage_id: coverage_id.parse().map_err(|e| Error::internal(&e))?,
        change: change.to_owned(),
        coverages: refs_for_patient(conn, patient_id)?,
        claims: claim_facts(conn, patient_id)?,
        changed_at: Utc::now(),
    };
    emit(conn, who, &payload)
}

/// Creates a coverage of an active payer; announces the patient's coverages.
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    c: NewCoverage,
) -> Result<Coverage, Error> {
    let patient = patients::get(conn, &c.patient_id)
        .map_err(|e| unknown_as_field(e, "patient_id", "unknown", "no such patient"))?;
    let payer = payers::get(conn, &c.payer_id)
        .map_err(|e| unknown_as_field(e, "payer_id", "unknown", "no such payer"))?;
    if !payer.active {
        return Err(Error::field(
            "payer_id",
            "inactive",
            "the payer is inactive",
        ));
    }
    check_priority_free(conn, &c, None)?;
    let id = CoverageId::new();
    let now = db::now();
    store::insert(
        conn,
        CoverageRow {
            id,
            patient_id: patient.id,
            payer_id: payer.id,
            policy_number: c.policy_number,
            plan_code: c.plan_code.map(|p| p.as_str().to_owned()),
            priority: c.priority,
            valid_from: c.valid_from,
            valid_to: c.valid_to,
            created_at: now,
            updated_at: now,
            subscriber: subscriber_json(c.subscriber.as_ref())?,
            group_number: c.group_number,
        },
    )?;
    let id = id.to_string();
    let created = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "create",
        "coverage",
        &id,
        serde_json::json!({ "after": created }),
        None,
    )?;
    announce(conn, who, &c.patient_id, &id, "created")?;
    Ok(created)
}

/// Replaces a coverage's terms (its patient and payer cannot change); announces the patient's
/// coverages, as `ended` when it gets a new end date.
#[tracing::instrument(skip_all, fields(coverage_id = %id))]
pub fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    c: NewCoverage,
) -> Result<Coverage, Error> {
    conn.transaction(|conn| {
        let before = get(conn, id)?;
        if before.patient_id.to_string() != c.patient_id {
            return Err(Error::field(
                "patient_id",
                "immutable",
                "a coverage's patient cannot change",
            ));
        }
        if before.payer_id.to_string() != c.payer_id {
            return Err(Error::field(
                "payer_id",
                "immutable",
                "a coverage's payer cannot change; end it and create another",
            ));
        }
        check_priority_free(conn, &c, Some(id))?;
        store::update(
            conn,
            id,
            &CoverageChanges {
                policy_number: c.policy_number,
                plan_code: c.plan_code.map(|p| p.as_str().to_owned()),
                priority: c.priority,
                valid_from: c.valid_from,
                valid_to: c.valid_to,
                updated_at: db::now(),
                subscriber: subscriber_json(c.subscriber.as_ref())?,
                group_number: c.group_number,
            },
        )?;
        let after = get(conn, id)?;
        audit::record(
            conn,
            who,
            "update",
            "coverage",
            id,
            serde_json::json!({ "before": before, "after": after }),
            None,
        )?;
        let change = if after.valid_to.is_some() && after.valid_to != before.valid_to {
            "ended"
        } else {
            "updated"
        };
        announce(conn, who, &after.patient_id.to_string(), id, change)?;
        Ok(after)
    })
}

/// A page of coverages.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    f: &CoverageFilter,
    page: &PageRequest,
) -> Result<Page<Coverage>, Error> {
    let rows = store::page(conn, f, page)?;
    Page::from_rows(rows, page, |r| r.id.to_string()).try_map(Coverage::read)
}
