//! The events the settlement service consumes, from accounts and invoicing, each to its use case
//! in [`crate::service::intake`] (care records to [`crate::service::care_records`], care
//! agencies' approvals to [`crate::service::agency`]), a batch at a
//! time inside the inbox transaction: each event's effect in order, then one recomputation (one
//! new version) per touched settlement.
//!
//! The batch's locking order, the one place it is written down (the API takes a patient's lock
//! before a settlement's row, as here, so two replicas or a replica and a request never
//! deadlock):
//! 1. the episodes the events are about (advisory locks), sorted;
//! 2. the patients the batch changes for certain (their consumptions, coverage changes and care
//!    records: what spans their episodes, yearly deductibles and caps, prepaid bundles, their
//!    newest coverages), sorted, before any settlement row;
//! 3. while applying, the settlement rows each use case touches;
//! 4. at the end, the patients of the settlements to recompute not locked in 2 (a settlement still
//!    open when invoicing reported on it), sorted; then each settlement's row, in id order.

use std::collections::BTreeSet;

use carebill_domain::events::{
    CareRecordChangedV1, ConsumptionRecordedV1, ConsumptionVoidedV1, CoverageChangedV1,
    CreditNoteIssuedV1, Envelope, EnvelopeError, EpisodeClosedV1, EventPayload as _,
    InvoiceIssuedV1, LocationChangedV1, PayerChangedV1, SettlementInvoicedV1, TimesheetApprovedV1,
};
use carebill_platform::db::AnyConnection;
use carebill_platform::{Error, ErrorCode};

use crate::service::intake::{self, Dirty};
use crate::service::{agency, care_records};

/// The episode an accounts event is about, for locking.
fn episode_of(env: &Envelope) -> Option<&str> {
    env.subject.strip_prefix("episode/")
}

/// Applies a batch of events from accounts and invoicing (inside the inbox transaction), taking
/// the locks in the order the module documents.
#[tracing::instrument(skip_all, fields(events = envs.len()))]
pub fn apply_events(conn: &mut AnyConnection, envs: &[&Envelope]) -> Result<(), Error> {
    let episodes: BTreeSet<&str> = envs.iter().filter_map(|e| episode_of(e)).collect();
    for episode in episodes {
        intake::lock_episode(conn, episode)?;
    }
    let locked = patients_of(envs);
    for p in &locked {
        intake::lock_patient(conn, p)?;
    }
    let mut dirty = Dirty::new();
    // Consecutive consumptions are stored together, per episode; anything else in between is
    // applied in its place, so the order of events is kept.
    let mut recorded: Vec<ConsumptionRecordedV1> = Vec::new();
    for env in envs {
        if env.event_type == ConsumptionRecordedV1::TYPE {
            recorded.push(env.payload().map_err(bad)?);
            continue;
        }
        intake::on_consumptions(conn, &std::mem::take(&mut recorded), &mut dirty)?;
        apply_event(conn, env, &mut dirty)?;
    }
    intake::on_consumptions(conn, &recorded, &mut dirty)?;
    let patients = intake::patients_of_marked(conn, &dirty)?;
    for p in patients.iter().filter(|p| locked.binary_search(p).is_err()) {
        intake::lock_patient(conn, p)?;
    }
    intake::recompute_marked(conn, dirty, &patients)
}

/// The patients whose settlements, care records or coverages a batch of events changes for
/// certain, sorted: those of consumptions (their settlements are recomputed), coverage changes
/// and care records. Invoicing's reports and voids recompute only a settlement that is still
/// open, rarely: theirs are locked when it comes to that. Locking those up front too made one
/// batch of invoice reports hold nearly every patient, and the money path ten times slower.
fn patients_of(envs: &[&Envelope]) -> Vec<String> {
    // Only the patient's id is read, not the whole payload: the rest of each field is skipped.
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    #[derive(serde::Deserialize)]
    struct Episode {
        patient: Id,
    }
    #[derive(serde::Deserialize)]
    struct Consumption {
        episode: Episode,
    }
    #[derive(serde::Deserialize)]
    struct Patient {
        patient_id: String,
    }
    #[derive(serde::Deserialize)]
    struct CareRecord {
        record: Patient,
    }
    let patients: BTreeSet<String> = envs
        .iter()
        .filter_map(|env| {
            let text = env.data.get();
            match env.event_type.as_str() {
                ConsumptionRecordedV1::TYPE => serde_json::from_str::<Consumption>(text)
                    .ok()
                    .map(|c| c.episode.patient.id),
                CoverageChangedV1::TYPE => serde_json::from_str::<Patient>(text)
                    .ok()
                    .map(|c| c.patient_id),
                CareRecordChangedV1::TYPE => serde_json::from_str::<CareRecord>(text)
                    .ok()
                    .map(|c| c.record.patient_id),
                _ => None,
            }
        })
        .collect();
    patients.into_iter().collect()
}

/// An event whose payload breaks its contract.
fn bad(e: EnvelopeError) -> Error {
    Error::new(ErrorCode::InvalidEvent, e.to_string())
}

/// One event to its use case; events of other types are ignored.
fn apply_event(conn: &mut AnyConnection, env: &Envelope, dirty: &mut Dirty) -> Result<(), Error> {
    match env.event_type.as_str() {
        ConsumptionRecordedV1::TYPE => intake::on_consumptions(
            conn,
            &[env.payload::<ConsumptionRecordedV1>().map_err(bad)?],
            dirty,
        ),
        ConsumptionVoidedV1::TYPE => intake::on_void(
            conn,
            &env.payload::<ConsumptionVoidedV1>().map_err(bad)?,
            dirty,
        ),
        CoverageChangedV1::TYPE => intake::on_coverage(
            conn,
            &env.payload::<CoverageChangedV1>().map_err(bad)?,
            dirty,
        ),
        EpisodeClosedV1::TYPE => {
            intake::on_episode_closed(conn, &env.payload::<EpisodeClosedV1>().map_err(bad)?)
        }
        SettlementInvoicedV1::TYPE => {
            intake::on_invoiced(conn, &env.payload::<SettlementInvoicedV1>().map_err(bad)?)
        }
        InvoiceIssuedV1::TYPE => {
            intake::on_invoice_issued(conn, &env.payload::<InvoiceIssuedV1>().map_err(bad)?, dirty)
        }
        CareRecordChangedV1::TYPE => {
            care_records::on_care_record(conn, &env.payload::<CareRecordChangedV1>().map_err(bad)?)
        }
        PayerChangedV1::TYPE => {
            intake::on_payer_changed(conn, &env.payload::<PayerChangedV1>().map_err(bad)?)
        }
        LocationChangedV1::TYPE => {
            intake::on_location_changed(conn, &env.payload::<LocationChangedV1>().map_err(bad)?)
        }
        TimesheetApprovedV1::TYPE => agency::on_timesheet_approved(
            conn,
            env,
            &env.payload::<TimesheetApprovedV1>().map_err(bad)?,
        ),
        CreditNoteIssuedV1::TYPE => intake::on_credit_note(
            conn,
            &env.payload::<CreditNoteIssuedV1>().map_err(bad)?,
            dirty,
        ),
        _ => Ok(()),
    }
}
