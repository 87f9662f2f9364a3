//! Consumptions: recording what was done for a patient, one at a time or in batches of up to
//! 1,000, and voiding with a reason (never deleting). Each recorded or voided consumption emits
//! an event carrying what settlement needs: the catalog data, the episode with its location and
//! patient, and the patient's coverages.
//!
//! Idempotency: a record pushed with `source_system` + `external_id` is unique on that pair; a
//! retry with the same content answers the original, with other content it is a 409.
//!
//! A batch goes in four steps: everything it refers to is looked up at once ([`Lookups`]), each
//! item is decided on its own ([`decide`]: an item-level rejection does not stop the others),
//! the accepted ones are written together ([`write`]), and the answers are put back in order.

use std::collections::HashMap;

use carebill_domain::Code;
use carebill_domain::accounts::{Quantity, ServiceKind};
use carebill_domain::events::{
    ConsumptionClaimFacts, ConsumptionRecordedV1, ConsumptionVoidedV1, CoverageRef, Envelope,
    EpisodeRef,
};
use carebill_domain::ids::{ConsumptionId, EpisodeId, LocationId, PatientId};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::events::outbox;
use carebill_platform::http::{Page, PageRequest, digest};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::service::{coverages, emit, envelope, episodes};
use crate::store::catalog::{self as catalog_store, CatalogRow};
use crate::store::consumptions::{self as store, ConsumptionRow, NewConsumptionRow};
pub use crate::store::consumptions::{ConsumptionFilter, ConsumptionStatus};
use crate::store::episodes::{self as episode_store, EpisodeRow};
use crate::store::locations as location_store;

/// A consumption as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct Consumption {
    /// Id.
    pub id: ConsumptionId,
    /// The episode charged.
    pub episode_id: EpisodeId,
    /// Its patient.
    pub patient_id: PatientId,
    /// Its location.
    pub location_id: LocationId,
    /// Catalog code.
    pub code: String,
    /// Catalog service group.
    pub service_group: String,
    /// Catalog kind.
    pub kind: ServiceKind,
    /// Quantity.
    pub quantity: rust_decimal::Decimal,
    /// Unit of measure.
    pub unit: String,
    /// When it was performed.
    pub performed_at: DateTime<Utc>,
    /// Performing practitioner.
    pub performed_by: Option<String>,
    /// Ordering practitioner.
    pub ordering_practitioner: Option<String>,
    /// Attending practitioner.
    pub attending_practitioner: Option<String>,
    /// Pushing system.
    pub source_system: Option<String>,
    /// Its id for this record.
    pub external_id: Option<String>,
    /// Free attributes for rules.
    pub attributes: Value,
    /// Diagnoses and modifiers for electronic claims.
    pub claim: Option<ConsumptionClaimFacts>,
    /// Active or voided.
    pub status: ConsumptionStatus,
    /// Why it was voided.
    pub void_reason: Option<String>,
    /// Who voided it.
    pub voided_by: Option<String>,
    /// When.
    pub voided_at: Option<DateTime<Utc>>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl Consumption {
    fn read(r: ConsumptionRow) -> Result<Consumption, Error> {
        Ok(Consumption {
            quantity: r.quantity()?,
            attributes: r.attributes()?,
            claim: r.claim()?,
            id: r.id,
            episode_id: r.episode_id,
            patient_id: r.patient_id,
            location_id: r.location_id,
            code: r.code,
            service_group: r.service_group,
            kind: r.kind,
            unit: r.unit,
            performed_at: r.performed_at.and_utc(),
            performed_by: r.performed_by,
            ordering_practitioner: r.ordering_practitioner,
            attending_practitioner: r.attending_practitioner,
            source_system: r.source_system,
            external_id: r.external_id,
            status: r.status,
            void_reason: r.void_reason,
            voided_by: r.voided_by,
            voided_at: r.voided_at.map(|t| t.and_utc()),
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at.and_utc(),
        })
    }
}

/// A validated consumption to record. Its JSON form is digested: a retry is recognised by the
/// same digest, so the fields, their order and their types are part of what is stored.
#[derive(Debug, Clone, Serialize)]
pub struct NewConsumption {
    /// The episode to charge (a valid id).
    pub episode_id: String,
    /// Catalog code.
    pub code: Code,
    /// Positive quantity.
    pub quantity: Quantity,
    /// Unit, if given.
    pub unit: Option<Code>,
    /// When it was performed.
    pub performed_at: NaiveDateTime,
    /// Performing practitioner.
    pub performed_by: Option<String>,
    /// Ordering practitioner.
    pub ordering_practitioner: Option<String>,
    /// Attending practitioner.
    pub attending_practitioner: Option<String>,
    /// Pushing system.
    pub source_system: Option<Code>,
    /// Its id for this record.
    pub external_id: Option<String>,
    /// Free attributes.
    pub attributes: Map<String, Value>,
    /// Diagnoses and modifiers for electronic claims; left out of the digest when none, so
    /// that inputs recorded before it existed keep their digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<ConsumptionClaimFacts>,
}

impl NewConsumption {
    fn digest(&self) -> Result<String, Error> {
        Ok(digest(serde_json::to_string(self)?.as_bytes()))
    }

    fn key(&self) -> Option<(String, String)> {
        match (&self.source_system, &self.external_id) {
            (Some(s), Some(e)) => Some((s.to_string(), e.clone())),
            _ => None,
        }
    }
}

/// How a recorded consumption came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded now.
    Created,
    /// Already recorded with the same content (same source system + external id).
    Duplicate,
}

/// The answer for one input of [`record_many`]: recorded, or rejected with its own error.
pub type ItemRecord = Result<(Recorded, Consumption), Error>;

/// Everything a batch refers to, looked up once: its episodes the caller may see (locked
/// shared), their catalog items, and what was already recorded under the batch's keys.
struct Lookups {
    episodes: HashMap<String, EpisodeRow>,
    items: HashMap<String, CatalogRow>,
    existing: HashMap<(String, String), ConsumptionRow>,
}

impl Lookups {
    fn load(
        conn: &mut AnyConnection,
        scope: &Scope,
        valid: &[&NewConsumption],
    ) -> Result<Lookups, Error> {
        let allowed = location_store::allowed_ids(conn, scope)?;
        let mut episode_ids: Vec<String> = valid.iter().map(|v| v.episode_id.clone()).collect();
        episode_ids.sort();
        episode_ids.dedup();
        let episodes = episode_store::lock_shared(conn, allowed.as_deref(), &episode_ids)?
            .into_iter()
            .map(|e| (e.id.to_string(), e))
            .collect();
        let mut codes: Vec<String> = valid.iter().map(|v| v.code.to_string()).collect();
        codes.sort();
        codes.dedup();
        let items = catalog_store::by_codes(conn, &codes)?
            .into_iter()
            .map(|i| (i.code.clone(), i))
            .collect();
        let keys: Vec<(String, String)> = valid.iter().filter_map(|v| v.key()).collect();
        let existing = store::by_keys(conn, &keys)?;
        Ok(Lookups {
            episodes,
            items,
            existing,
        })
    }
}

/// An input that passed every check, before its row is built.
struct Accepted {
    input: NewConsumption,
    episode: EpisodeRow,
    item: CatalogRow,
    digest: String,
}

/// Where an input stands while its batch is written.
enum Slot {
    Done(Box<ItemRecord>),
    /// Accepted as `accepted[i]` (and later `prepared[i]`).
    Accepted(usize),
    /// The same `(source_system, external_id)` as `accepted[i]` earlier in the batch; `bool`:
    /// with the same content.
    SameKeyAs(usize, bool),
}

/// What [`decide`] makes of one input.
enum Decision {
    /// Answered now: a duplicate of what is recorded, or the item's rejection.
    Answer(Box<ItemRecord>),
    /// The same key as `accepted[i]` earlier in the batch; `bool`: with the same content.
    SameKeyAs(usize, bool),
    /// Passes every check: to be written.
    Accept,
}

/// Decides one input against its episode, what is already recorded under its key, the batch
/// so far (`keys_in_batch`: key -> index in `accepted`) and the catalog.
fn decide(
    lookups: &Lookups,
    keys_in_batch: &HashMap<(String, String), usize>,
    accepted: &[Accepted],
    v: &NewConsumption,
    digest: &str,
) -> Result<Decision, Error> {
    let reject = |e: Error| Ok(Decision::Answer(Box::new(Err(e))));
    // Scope first: nothing about another location's records is revealed.
    let Some(episode) = lookups.episodes.get(&v.episode_id) else {
        return reject(Error::field("episode_id", "unknown", "no such episode"));
    };
    if let Some(key) = v.key() {
        if let Some(r) = lookups.existing.get(&key) {
            return if r.input_digest == digest {
                Ok(Decision::Answer(Box::new(Ok((
                    Recorded::Duplicate,
                    Consumption::read(r.clone())?,
                )))))
            } else {
                reject(conflicting_push(&key.0, &key.1))
            };
        }
        if let Some(&i) = keys_in_batch.get(&key) {
            return Ok(Decision::SameKeyAs(i, accepted[i].digest == digest));
        }
    }
    if !episode.status.accepts_consumptions() {
        return reject(Error::new(
            ErrorCode::EpisodeNotOpen,
            format!(
                "episode is {}; consumptions need an open episode",
                episode.status
            ),
        ));
    }
    let Some(item) = lookups.items.get(v.code.as_str()) else {
        return reject(Error::field(
            "code",
            "unknown",
            format!("no catalog item with code {}", v.code),
        ));
    };
    if !item.active {
        return reject(Error::field(
            "code",
            "inactive",
            format!("catalog item {} is inactive", v.code),
        ));
    }
    if let Some(u) = &v.unit
        && u.as_str() != item.unit
    {
        return reject(Error::field(
            "unit",
            "mismatch",
            format!("catalog item {} is measured in {}", v.code, item.unit),
        ));
    }
    Ok(Decision::Accept)
}

/// A consumption ready to be written, with its event.
struct Prepared {
    row: NewConsumptionRow,
    view: Consumption,
    /// Taken when the row is written.
    event: Option<Envelope>,
}

/// Builds the row, the answer and the event of an accepted input.
fn prepare(
    who: &Principal,
    a: Accepted,
    episode_ref: &EpisodeRef,
    coverage_refs: &[CoverageRef],
    now: NaiveDateTime,
) -> Result<Prepared, Error> {
    let Accepted {
        input: v,
        episode,
        item,
        digest,
    } = a;
    let attending = v
        .attending_practitioner
        .clone()
        .or_else(|| episode_ref.attending_practitioner.clone());
    let id = ConsumptionId::new();
    let attributes = Value::Object(v.attributes);
    let row = NewConsumptionRow {
        id: id.to_string(),
        episode_id: episode.id.to_string(),
        patient_id: episode.patient_id.to_string(),
        location_id: episode.location_id.to_string(),
        catalog_item_id: item.id.to_string(),
        code: item.code.clone(),
        service_group: item.service_group.clone(),
        kind: item.kind.as_str().to_owned(),
        quantity: v.quantity.value().to_string(),
        unit: item.unit.clone(),
        performed_at: v.performed_at,
        performed_by: v.performed_by.clone(),
        ordering_practitioner: v.ordering_practitioner.clone(),
        attending_practitioner: attending.clone(),
        source_system: v.source_system.as_ref().map(ToString::to_string),
        external_id: v.external_id.clone(),
        attributes: attributes.to_string(),
        input_digest: digest,
        status: ConsumptionStatus::Active.as_str().to_owned(),
        recorded_by: who.subject.clone(),
        recorded_at: now,
        claim: v.claim.as_ref().map(serde_json::to_string).transpose()?,
    };
    let view = Consumption {
        id,
        episode_id: episode.id,
        patient_id: episode.patient_id,
        location_id: episode.location_id,
        code: row.code.clone(),
        service_group: row.service_group.clone(),
        kind: item.kind,
        quantity: v.quantity.value(),
        unit: row.unit.clone(),
        performed_at: v.performed_at.and_utc(),
        performed_by: row.performed_by.clone(),
        ordering_practitioner: row.ordering_practitioner.clone(),
        attending_practitioner: attending.clone(),
        source_system: row.source_system.clone(),
        external_id: row.external_id.clone(),
        attributes: attributes.clone(),
        claim: v.claim.clone(),
        status: ConsumptionStatus::Active,
        void_reason: None,
        voided_by: None,
        voided_at: None,
        recorded_by: who.subject.clone(),
        recorded_at: now.and_utc(),
    };
    let payload = ConsumptionRecordedV1 {
        consumption_id: id,
        episode: episode_ref.clone(),
        item: item.to_ref(),
        quantity: v.quantity.value(),
        unit: item.unit.clone(),
        performed_at: v.performed_at.and_utc(),
        performed_by: v.performed_by,
        ordering_practitioner: v.ordering_practitioner,
        attending_practitioner: attending,
        source_system: row.source_system.clone(),
        external_id: row.external_id.clone(),
        attributes,
        coverages: coverage_refs.to_vec(),
        recorded_at: now.and_utc(),
        claim: v.claim,
    };
    let event = envelope(who, &payload)?;
    Ok(Prepared {
        row,
        view,
        event: Some(event),
    })
}

/// Builds rows and events for the accepted inputs: the episodes' locations and patients and
/// the patients' coverages are looked up once for the whole batch.
fn prepare_all(
    conn: &mut AnyConnection,
    who: &Principal,
    accepted: Vec<Accepted>,
    now: NaiveDateTime,
) -> Result<Vec<Prepared>, Error> {
    let mut distinct: Vec<&EpisodeRow> = Vec::new();
    for a in &accepted {
        if !distinct.iter().any(|e| e.id == a.episode.id) {
            distinct.push(&a.episode);
        }
    }
    let episode_refs = episodes::refs(conn, &distinct)?;
    let mut patient_ids: Vec<String> = distinct.iter().map(|e| e.patient_id.to_string()).collect();
    patient_ids.sort();
    patient_ids.dedup();
    let coverage_refs = coverages::refs_for_patients(conn, &patient_ids)?;
    accepted
        .into_iter()
        .map(|a| {
            let episode_ref = episode_refs
                .get(&a.episode.id)
                .ok_or_else(|| Error::internal(&"an accepted episode has no reference"))?;
            let coverages = coverage_refs
                .get(&a.episode.patient_id.to_string())
                .ok_or_else(|| Error::internal(&"an accepted patient has no coverages"))?;
            prepare(who, a, episode_ref, coverages, now)
        })
        .collect()
}

/// Writes the prepared consumptions, their events and audit entries (multi-row on PostgreSQL);
/// one answer per prepared input. One that a concurrent push of the same key stored first is
/// answered as a retry of it.
fn write(
    conn: &mut AnyConnection,
    who: &Principal,
    prepared: &mut [Prepared],
) -> Result<Vec<Option<ItemRecord>>, Error> {
    let inserted = store::insert_new(conn, &prepared.iter().map(|p| &p.row).collect::<Vec<_>>())?;
    let mut outcomes: Vec<Option<ItemRecord>> = Vec::with_capacity(prepared.len());
    let mut events = Vec::with_capacity(prepared.len());
    let mut snapshots = Vec::with_capacity(prepared.len());
    for p in prepared.iter_mut() {
        if inserted.contains(&p.row.id) {
            if let Some(event) = p.event.take() {
                events.push(event);
            }
            snapshots.push(serde_json::to_string(&p.view)?);
            outcomes.push(Some(Ok((Recorded::Created, p.view.clone()))));
        } else {
            let (source, external_id) = key_of(&p.row);
            outcomes.push(Some(match store::find_by_key(conn, source, external_id)? {
                Some(r) if r.input_digest == p.row.input_digest => {
                    Ok((Recorded::Duplicate, Consumption::read(r)?))
                }
                _ => Err(conflicting_push(source, external_id)),
            }));
        }
    }
    let changes: Vec<audit::Change<'_>> = prepared
        .iter()
        .filter(|p| inserted.contains(&p.row.id))
        .zip(&snapshots)
        .map(|(p, snapshot)| audit::Change {
            action: "create",
            entity_type: "consumption",
            entity_id: &p.row.id,
            location_id: Some(&p.row.location_id),
            changes: audit::Snapshot::After(snapshot),
            reason: None,
        })
        .collect();
    outbox::enqueue_many(conn, &events)?;
    audit::record_many(conn, who, &changes)?;
    Ok(outcomes)
}

/// Records validated consumptions in the caller's transaction; one answer per input, in order.
/// An input that is already an error, or that its own checks reject, is answered with its
/// error and does not stop the others; a failure of the database aborts the whole batch.
#[tracing::instrument(skip_all, fields(items = inputs.len()))]
pub fn record_many(
    conn: &mut AnyConnection,
    who: &Principal,
    inputs: Vec<Result<NewConsumption, Error>>,
) -> Result<Vec<ItemRecord>, Error> {
    let valid: Vec<&NewConsumption> = inputs.iter().flatten().collect();
    let lookups = Lookups::load(conn, &Scope::of(who), &valid)?;

    let mut slots = Vec::with_capacity(inputs.len());
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut keys_in_batch: HashMap<(String, String), usize> = HashMap::new();
    for input in inputs {
        let v = match input {
            Ok(v) => v,
            Err(e) => {
                slots.push(Slot::Done(Box::new(Err(e))));
                continue;
            }
        };
        let digest = v.digest()?;
        match decide(&lookups, &keys_in_batch, &accepted, &v, &digest)? {
            Decision::Answer(answer) => slots.push(Slot::Done(answer)),
            Decision::SameKeyAs(i, same) => slots.push(Slot::SameKeyAs(i, same)),
            Decision::Accept => {
                let (Some(episode), Some(item)) = (
                    lookups.episodes.get(&v.episode_id),
                    lookups.items.get(v.code.as_str()),
                ) else {
                    return Err(Error::internal(&"an accepted item lost its look-ups"));
                };
                if let Some(key) = v.key() {
                    keys_in_batch.insert(key, accepted.len());
                }
                slots.push(Slot::Accepted(accepted.len()));
                accepted.push(Accepted {
                    episode: episode.clone(),
                    item: item.clone(),
                    input: v,
                    digest,
                });
            }
        }
    }

    let mut prepared = prepare_all(conn, who, accepted, db::now())?;
    let mut outcomes = write(conn, who, &mut prepared)?;
    // Walk backwards: an item repeating an earlier one's key copies that one's outcome before
    // the earlier one takes it.
    let mut results: Vec<ItemRecord> = slots
        .into_iter()
        .rev()
        .map(|slot| match slot {
            Slot::Done(r) => *r,
            Slot::Accepted(i) => outcomes[i]
                .take()
                .ok_or_else(|| Error::internal(&"batch item answered twice"))?,
            Slot::SameKeyAs(i, same) => match (&outcomes[i], same) {
                (Some(Ok((_, c))), true) => Ok((Recorded::Duplicate, c.clone())),
                _ => {
                    let (source, external_id) = key_of(&prepared[i].row);
                    Err(conflicting_push(source, external_id))
                }
            },
        })
        .collect();
    results.reverse();
    Ok(results)
}

/// Records one validated consumption: created, a duplicate of a retry, or its error.
#[tracing::instrument(skip_all)]
pub fn record_one(
    conn: &mut AnyConnection,
    who: &Principal,
    input: NewConsumption,
) -> Result<(Recorded, Consumption), Error> {
    match record_many(conn, who, vec![Ok(input)])?.pop() {
        Some(answer) => answer,
        None => Err(Error::internal(&"no result for the consumption")),
    }
}

fn key_of(row: &NewConsumptionRow) -> (&str, &str) {
    match (&row.source_system, &row.external_id) {
        (Some(s), Some(e)) => (s, e),
        _ => ("", ""),
    }
}

fn conflicting_push(source: &str, external_id: &str) -> Error {
    Error::new(
        ErrorCode::ExternalIdReused,
        format!("{source}/{external_id} was already recorded with different content"),
    )
}

/// The consumption with this id, if at a location `scope` allows.
#[tracing::instrument(skip_all, fields(consumption_id = %id))]
pub fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<Consumption, Error> {
    let allowed = location_store::allowed_ids(conn, scope)?;
    let row = store::find(conn, allowed.as_deref(), id)?
        .ok_or_else(|| Error::not_found("consumption"))?;
    Consumption::read(row)
}

/// Voids an active consumption with a reason; emits `consumption.voided`.
#[tracing::instrument(skip_all, fields(consumption_id = %id))]
pub fn void(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    reason: &str,
) -> Result<Consumption, Error> {
    let scope = Scope::of(who);
    let before = get(conn, &scope, id)?;
    let already = || {
        Error::new(
            ErrorCode::AlreadyVoided,
            "this consumption is already voided",
        )
    };
    if before.status == ConsumptionStatus::Voided {
        return Err(already());
    }
    let now = db::now();
    if !store::void(conn, id, reason, &who.subject, now)? {
        return Err(already());
    }
    emit(
        conn,
        who,
        &ConsumptionVoidedV1 {
            consumption_id: before.id,
            episode_id: before.episode_id,
            location_id: before.location_id,
            reason: reason.to_owned(),
            voided_by: who.subject.clone(),
            voided_at: now.and_utc(),
        },
    )?;
    audit::record_at(
        conn,
        who,
        &before.location_id.to_string(),
        "void",
        "consumption",
        id,
        serde_json::json!({ "status": { "before": "active", "after": "voided" } }),
        Some(reason),
    )?;
    // Just voided, so in scope: read back by id.
    let row = store::find(conn, None, id)?.ok_or_else(|| Error::not_found("consumption"))?;
    Consumption::read(row)
}

/// A page of the consumptions in `scope`.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &ConsumptionFilter,
    page: &PageRequest,
) -> Result<Page<Consumption>, Error> {
    let allowed = location_store::allowed_ids(conn, scope)?;
    let rows = store::page(conn, allowed.as_deref(), f, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    page.try_map(Consumption::read)
}
