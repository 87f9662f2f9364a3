//! Consumptions: what was done for a patient (a service performed, a material used), pushed by
//! clinical systems one at a time or in batches of up to 1,000, listed with filters, and voided
//! with a reason (never deleted). Each recorded or voided consumption emits an event carrying
//! what settlement needs: the catalog data, the episode with its location and patient, and the
//! patient's coverages.
//!
//! Idempotency: a record pushed with `source_system` + `external_id` is unique on that pair; a
//! retry with the same content returns the original, with other content it is a 409.

use std::collections::{HashMap, HashSet};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::{MAX_BATCH, Quantity, ServiceKind, check_performed_at};
use carebill_domain::events::Envelope;
use carebill_domain::events::{
    ConsumptionRecordedV1, ConsumptionVoidedV1, CoverageRef, EpisodeRef,
};
use carebill_domain::{Code, FieldError, Validation};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::AnyConnection;
use carebill_platform::error::Problem;
use carebill_platform::events::outbox;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, digest, from_json_value,
    idempotent, idempotent_with_status, parse_id,
};
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{audit, db};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::AccountsState;
use crate::common::{emit, envelope, scoped_location_ids};
use crate::schema::{consumptions, episodes as episodes_table};
use crate::{catalog, coverages, episodes};

/// Largest serialised `attributes` object.
const MAX_ATTRIBUTES_BYTES: usize = 8 * 1024;

/// Whether a consumption counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsumptionStatus {
    /// Counts for billing.
    Active,
    /// Voided with a reason; kept for the record.
    Voided,
}

/// A consumption as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Consumption {
    /// Id.
    pub id: String,
    /// The episode charged.
    pub episode_id: String,
    /// Its patient.
    pub patient_id: String,
    /// Its location.
    pub location_id: String,
    /// Catalog code.
    #[schema(example = "LAB-HB")]
    pub code: String,
    /// Catalog service group.
    #[schema(example = "LAB")]
    pub service_group: String,
    /// Catalog kind.
    pub kind: ServiceKind,
    /// Quantity, a decimal string.
    #[schema(value_type = String, example = "1")]
    pub quantity: Decimal,
    /// Unit of measure.
    #[schema(example = "test")]
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
    #[schema(value_type = Object)]
    pub attributes: Value,
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

/// What a clinical system sends for one consumption.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumptionInput {
    /// The episode to charge; must be open.
    #[schema(format = Uuid)]
    pub episode_id: String,
    /// Catalog code.
    #[schema(example = "LAB-HB")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub code: String,
    /// Positive, at most 4 decimals; a string or a number.
    #[schema(schema_with = carebill_platform::http::decimal_input)]
    pub quantity: Decimal,
    /// Unit; if given it must be the catalog item's unit.
    #[schema(example = "test")]
    pub unit: Option<String>,
    /// When it was performed (RFC 3339); not in the future.
    pub performed_at: DateTime<Utc>,
    /// Performing practitioner.
    #[schema(example = "DR-ROSSI")]
    pub performed_by: Option<String>,
    /// Ordering practitioner.
    pub ordering_practitioner: Option<String>,
    /// Attending practitioner; default the episode's.
    pub attending_practitioner: Option<String>,
    /// Pushing system; with `external_id`, makes the push idempotent.
    #[schema(example = "HIS")]
    pub source_system: Option<String>,
    /// The pushing system's id for this record.
    #[schema(example = "ORD-991-1")]
    pub external_id: Option<String>,
    /// Free attributes for rules, a JSON object (at most 8 KiB).
    #[serde(default)]
    #[schema(value_type = Object, example = json!({"urgent": true}))]
    pub attributes: Option<Map<String, Value>>,
}

/// A batch push.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchInput {
    /// 1 to 1,000 JSON objects, each a `ConsumptionInput`. Each is checked on its own: an
    /// invalid one is rejected in its result and does not stop the others.
    #[schema(value_type = Vec<Object>)]
    #[schema(min_items = 1, max_items = 1000)]
    pub items: Vec<Map<String, Value>>,
}

/// What happened to one batch item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemOutcome {
    /// Recorded now.
    Created,
    /// Already recorded with the same content (same source system + external id).
    Duplicate,
    /// Not recorded; see `problem`.
    Rejected,
}

/// The result of one batch item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemResult {
    /// Position in `items`.
    pub index: usize,
    /// Outcome.
    pub outcome: ItemOutcome,
    /// The consumption's id, unless rejected.
    pub id: Option<String>,
    /// The consumption, unless rejected or the request said `Prefer: return=minimal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumption: Option<Consumption>,
    /// Why it was rejected.
    pub problem: Option<Problem>,
}

/// The result of a batch.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    /// Items recorded now.
    pub created: usize,
    /// Items already recorded.
    pub duplicates: usize,
    /// Items rejected.
    pub rejected: usize,
    /// One result per item, in order.
    pub results: Vec<ItemResult>,
}

/// A void request.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidInput {
    /// Why (required).
    #[schema(example = "charged to the wrong episode")]
    #[schema(pattern = r"\S", max_length = 500)]
    pub reason: String,
}

/// A validated consumption.
#[derive(Debug, Clone, Serialize)]
struct Valid {
    episode_id: String,
    code: Code,
    quantity: Quantity,
    unit: Option<Code>,
    performed_at: NaiveDateTime,
    performed_by: Option<String>,
    ordering_practitioner: Option<String>,
    attending_practitioner: Option<String>,
    source_system: Option<Code>,
    external_id: Option<String>,
    attributes: Map<String, Value>,
}

impl ConsumptionInput {
    fn validate(self, now: DateTime<Utc>) -> Result<Valid, Vec<FieldError>> {
        let mut v = Validation::new();
        if uuid::Uuid::parse_str(&self.episode_id).is_err() {
            v.add("episode_id", "invalid", "must be an episode id");
        }
        let code = v.check("code", "invalid", Code::parse(&self.code));
        let quantity = v.check("quantity", "invalid", Quantity::new(self.quantity));
        let unit = match self.unit.as_deref() {
            None => None,
            Some(u) => v.check("unit", "invalid", Code::parse(u)),
        };
        v.check(
            "performed_at",
            "out_of_range",
            check_performed_at(self.performed_at, now),
        );
        let performed_by = v.opt_text("performed_by", self.performed_by.as_deref(), 100);
        let ordering = v.opt_text(
            "ordering_practitioner",
            self.ordering_practitioner.as_deref(),
            100,
        );
        let attending = v.opt_text(
            "attending_practitioner",
            self.attending_practitioner.as_deref(),
            100,
        );
        let source_system = match self.source_system.as_deref() {
            None => None,
            Some(s) => v.check("source_system", "invalid", Code::parse(s)),
        };
        let external_id = v.opt_text("external_id", self.external_id.as_deref(), 128);
        if source_system.is_some() != external_id.is_some() {
            v.add(
                "external_id",
                "incomplete",
                "source_system and external_id go together",
            );
        }
        let attributes = self.attributes.unwrap_or_default();
        if serde_json::to_string(&attributes).map_or(0, |s| s.len()) > MAX_ATTRIBUTES_BYTES {
            v.add(
                "attributes",
                "too_large",
                format!("must serialise to at most {MAX_ATTRIBUTES_BYTES} bytes"),
            );
        }
        let errors = v.finish();
        match (errors, code, quantity) {
            (Ok(()), Some(code), Some(quantity)) => Ok(Valid {
                episode_id: self.episode_id,
                code,
                quantity,
                unit,
                performed_at: db::truncate_micros(self.performed_at.naive_utc()),
                performed_by,
                ordering_practitioner: ordering,
                attending_practitioner: attending,
                source_system,
                external_id,
                attributes,
            }),
            (Err(e), _, _) => Err(e),
            _ => Err(vec![FieldError {
                field: "body".into(),
                code: "invalid".into(),
                message: "invalid consumption".into(),
            }]),
        }
    }

    fn parse_item(item: Map<String, Value>, now: DateTime<Utc>) -> Result<Valid, Error> {
        let input: ConsumptionInput = from_json_value(Value::Object(item))?;
        input.validate(now).map_err(Error::validation)
    }
}

impl Valid {
    fn digest(&self) -> String {
        digest(serde_json::to_string(self).unwrap_or_default().as_bytes())
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = consumptions)]
struct Row {
    id: String,
    episode_id: String,
    patient_id: String,
    location_id: String,
    code: String,
    service_group: String,
    kind: String,
    quantity: String,
    unit: String,
    performed_at: NaiveDateTime,
    performed_by: Option<String>,
    ordering_practitioner: Option<String>,
    attending_practitioner: Option<String>,
    source_system: Option<String>,
    external_id: Option<String>,
    attributes: String,
    input_digest: String,
    status: String,
    void_reason: Option<String>,
    voided_by: Option<String>,
    voided_at: Option<NaiveDateTime>,
    recorded_by: String,
    recorded_at: NaiveDateTime,
}

impl From<Row> for Consumption {
    fn from(r: Row) -> Self {
        Consumption {
            id: r.id,
            episode_id: r.episode_id,
            patient_id: r.patient_id,
            location_id: r.location_id,
            code: r.code,
            service_group: r.service_group,
            kind: r.kind.parse().unwrap_or(ServiceKind::Other),
            quantity: r.quantity.parse().unwrap_or_default(),
            unit: r.unit,
            performed_at: r.performed_at.and_utc(),
            performed_by: r.performed_by,
            ordering_practitioner: r.ordering_practitioner,
            attending_practitioner: r.attending_practitioner,
            source_system: r.source_system,
            external_id: r.external_id,
            attributes: serde_json::from_str(&r.attributes).unwrap_or(Value::Object(Map::new())),
            status: if r.status == "voided" {
                ConsumptionStatus::Voided
            } else {
                ConsumptionStatus::Active
            },
            void_reason: r.void_reason,
            voided_by: r.voided_by,
            voided_at: r.voided_at.map(|t| t.and_utc()),
            recorded_by: r.recorded_by,
            recorded_at: r.recorded_at.and_utc(),
        }
    }
}

/// Per-batch caches of what events carry, so a batch of 1,000 on one episode loads it once.
#[derive(Default)]
struct Context {
    /// Episodes of the batch that the caller may see.
    episodes: HashMap<String, episodes::Row>,
    episode_refs: HashMap<String, EpisodeRef>,
    coverages: HashMap<String, Vec<CoverageRef>>,
    items: HashMap<String, catalog::Row>,
}

/// The outcome of one input of [`record_many`].
type ItemRecord = Result<(ItemOutcome, Consumption), Error>;

/// A consumption ready to be written, with its event.
struct Prepared {
    row: NewRow,
    view: Consumption,
    /// Taken when the row is written.
    event: Option<Envelope>,
}

/// Where an input stands while its batch is written.
enum Slot {
    Done(Box<ItemRecord>),
    /// Prepared as `prepared[i]`.
    Prepared(usize),
    /// The same `(source_system, external_id)` as `prepared[i]` earlier in the batch; `bool`:
    /// with the same content.
    SameKeyAs(usize, bool),
}

/// The columns written when a consumption is recorded.
#[derive(Insertable)]
#[diesel(table_name = consumptions)]
struct NewRow {
    id: String,
    episode_id: String,
    patient_id: String,
    location_id: String,
    catalog_item_id: String,
    code: String,
    service_group: String,
    kind: String,
    quantity: String,
    unit: String,
    performed_at: NaiveDateTime,
    performed_by: Option<String>,
    ordering_practitioner: Option<String>,
    attending_practitioner: Option<String>,
    source_system: Option<String>,
    external_id: Option<String>,
    attributes: String,
    input_digest: String,
    status: String,
    recorded_by: String,
    recorded_at: NaiveDateTime,
}

/// Takes a share lock on the episodes of a batch (PostgreSQL), so that a concurrent status
/// change waits for the batch and a consumption never lands in an episode closed meanwhile.
/// SQLite serialises writers, so there is nothing to do there.
fn lock_episodes(conn: &mut AnyConnection, ids: &[String]) -> Result<(), Error> {
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT id FROM episodes WHERE id = ANY($1) ORDER BY id FOR SHARE")
            .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(ids)
            .execute(pg)?;
    }
    Ok(())
}

/// Inserts the rows; returns the ids actually inserted. On PostgreSQL a row whose
/// `(source_system, external_id)` a concurrent request stored first is skipped, not an error.
fn insert_rows(conn: &mut AnyConnection, rows: &[&NewRow]) -> Result<HashSet<String>, Error> {
    let mut inserted = HashSet::with_capacity(rows.len());
    match conn {
        AnyConnection::Postgresql(pg) => {
            for chunk in rows.chunks(1000) {
                let ids: Vec<String> = diesel::insert_into(consumptions::table)
                    .values(chunk.to_vec())
                    .on_conflict((consumptions::source_system, consumptions::external_id))
                    .do_nothing()
                    .returning(consumptions::id)
                    .get_results(pg)?;
                inserted.extend(ids);
            }
        }
        AnyConnection::Sqlite(lite) => {
            for row in rows {
                diesel::insert_into(consumptions::table)
                    .values(*row)
                    .execute(lite)?;
                inserted.insert(row.id.clone());
            }
        }
    }
    Ok(inserted)
}

fn find_by_key(
    conn: &mut AnyConnection,
    source: &str,
    external_id: &str,
) -> Result<Option<Row>, Error> {
    Ok(consumptions::table
        .filter(consumptions::source_system.eq(source))
        .filter(consumptions::external_id.eq(external_id))
        .select(Row::as_select())
        .first(conn)
        .optional()?)
}

/// Records validated consumptions in the caller's transaction; one result per input, in order.
/// Rows, events and audit entries are written with multi-row inserts on PostgreSQL.
fn record_many(
    conn: &mut AnyConnection,
    who: &Principal,
    inputs: Vec<Result<Valid, Error>>,
) -> Result<Vec<ItemRecord>, Error> {
    let scope = scoped_location_ids(conn, who)?;
    let mut ctx = Context::default();
    let valid: Vec<&Valid> = inputs.iter().filter_map(|i| i.as_ref().ok()).collect();

    let mut episode_ids: Vec<String> = valid.iter().map(|v| v.episode_id.clone()).collect();
    episode_ids.sort();
    episode_ids.dedup();
    lock_episodes(conn, &episode_ids)?;
    for chunk in episode_ids.chunks(500) {
        let rows: Vec<episodes::Row> = episodes_table::table
            .filter(episodes_table::id.eq_any(chunk))
            .select(episodes::Row::as_select())
            .load(conn)?;
        for r in rows {
            if scope.as_ref().is_none_or(|s| s.contains(&r.location_id)) {
                ctx.episodes.insert(r.id.clone(), r);
            }
        }
    }
    let mut codes: Vec<String> = valid.iter().map(|v| v.code.to_string()).collect();
    codes.sort();
    codes.dedup();
    for chunk in codes.chunks(500) {
        for item in catalog::by_codes(conn, chunk)? {
            ctx.items.insert(item.code.clone(), item);
        }
    }
    let mut existing: HashMap<(String, String), Row> = HashMap::new();
    // Looked up by the full key, which the unique index (external_id, source_system) serves on
    // PostgreSQL even before the table has statistics (see migration 20261123000013).
    let mut keyed: HashMap<String, Vec<String>> = HashMap::new();
    for v in &valid {
        if let (Some(s), Some(e)) = (&v.source_system, &v.external_id) {
            keyed.entry(s.to_string()).or_default().push(e.clone());
        }
    }
    for (source, mut ids) in keyed {
        ids.sort();
        ids.dedup();
        for chunk in ids.chunks(500) {
            let rows: Vec<Row> = consumptions::table
                .filter(consumptions::source_system.eq(&source))
                .filter(consumptions::external_id.eq_any(chunk))
                .select(Row::as_select())
                .load(conn)?;
            for r in rows {
                if let Some(e) = r.external_id.clone() {
                    existing.insert((source.clone(), e), r);
                }
            }
        }
    }

    let now = db::now();
    let mut slots = Vec::with_capacity(inputs.len());
    let mut prepared: Vec<Prepared> = Vec::new();
    let mut keys_in_batch: HashMap<(String, String), usize> = HashMap::new();
    for input in inputs {
        let v = match input {
            Ok(v) => v,
            Err(e) => {
                slots.push(Slot::Done(Box::new(Err(e))));
                continue;
            }
        };
        // Scope first: nothing about another location's records is revealed.
        let Some(episode) = ctx.episodes.get(&v.episode_id).cloned() else {
            slots.push(Slot::Done(Box::new(Err(Error::field(
                "episode_id",
                "unknown",
                "no such episode",
            )))));
            continue;
        };
        let digest = v.digest();
        let key = match (&v.source_system, &v.external_id) {
            (Some(s), Some(e)) => Some((s.to_string(), e.clone())),
            _ => None,
        };
        if let Some(key) = &key {
            if let Some(r) = existing.get(key) {
                slots.push(Slot::Done(Box::new(if r.input_digest == digest {
                    Ok((ItemOutcome::Duplicate, Consumption::from(clone_row(r))))
                } else {
                    Err(conflicting_push(&key.0, &key.1))
                })));
                continue;
            }
            if let Some(i) = keys_in_batch.get(key) {
                slots.push(Slot::SameKeyAs(*i, prepared[*i].row.input_digest == digest));
                continue;
            }
        }
        match prepare(conn, who, &mut ctx, &episode, &v, digest, now) {
            Ok(p) => {
                if let Some(key) = key {
                    keys_in_batch.insert(key, prepared.len());
                }
                slots.push(Slot::Prepared(prepared.len()));
                prepared.push(p);
            }
            Err(Rejection::Item(e)) => slots.push(Slot::Done(Box::new(Err(e)))),
            Err(Rejection::Fatal(e)) => return Err(e),
        }
    }

    let inserted = insert_rows(conn, &prepared.iter().map(|p| &p.row).collect::<Vec<_>>())?;
    let mut outcomes: Vec<Option<ItemRecord>> = Vec::with_capacity(prepared.len());
    let mut events = Vec::with_capacity(prepared.len());
    let mut changes = Vec::with_capacity(prepared.len());
    let mut snapshots = Vec::with_capacity(prepared.len());
    for p in &mut prepared {
        if inserted.contains(&p.row.id) {
            if let Some(event) = p.event.take() {
                events.push(event);
            }
            snapshots.push(serde_json::to_string(&p.view)?);
            outcomes.push(Some(Ok((ItemOutcome::Created, p.view.clone()))));
        } else {
            // A concurrent push of the same record won the race: answer as to a retry.
            let (source, external_id) = (
                p.row.source_system.as_deref().unwrap_or(""),
                p.row.external_id.as_deref().unwrap_or(""),
            );
            outcomes.push(Some(match find_by_key(conn, source, external_id)? {
                Some(r) if r.input_digest == p.row.input_digest => {
                    Ok((ItemOutcome::Duplicate, Consumption::from(r)))
                }
                _ => Err(conflicting_push(source, external_id)),
            }));
        }
    }
    let mut snapshot = snapshots.iter();
    for p in prepared.iter().filter(|p| inserted.contains(&p.row.id)) {
        changes.push(audit::Change {
            action: "create",
            entity_type: "consumption",
            entity_id: &p.row.id,
            location_id: Some(&p.row.location_id),
            changes: audit::Snapshot::After(snapshot.next().map_or("null", String::as_str)),
            reason: None,
        });
    }
    outbox::enqueue_many(conn, &events)?;
    audit::record_many(conn, who, &changes)?;
    // Walk backwards: an item repeating an earlier one's key copies that one's outcome before
    // the earlier one takes it.
    let mut results: Vec<ItemRecord> = slots
        .into_iter()
        .rev()
        .map(|slot| match slot {
            Slot::Done(r) => *r,
            Slot::Prepared(i) => outcomes[i]
                .take()
                .unwrap_or_else(|| Err(Error::internal(&"batch item answered twice"))),
            Slot::SameKeyAs(i, same) => match (&outcomes[i], same) {
                (Some(Ok((_, c))), true) => Ok((ItemOutcome::Duplicate, c.clone())),
                _ => {
                    let row = &prepared[i].row;
                    Err(conflicting_push(
                        row.source_system.as_deref().unwrap_or(""),
                        row.external_id.as_deref().unwrap_or(""),
                    ))
                }
            },
        })
        .collect();
    results.reverse();
    Ok(results)
}

fn conflicting_push(source: &str, external_id: &str) -> Error {
    Error::new(
        ErrorCode::ExternalIdReused,
        format!("{source}/{external_id} was already recorded with different content"),
    )
}

fn clone_row(r: &Row) -> Row {
    Row {
        id: r.id.clone(),
        episode_id: r.episode_id.clone(),
        patient_id: r.patient_id.clone(),
        location_id: r.location_id.clone(),
        code: r.code.clone(),
        service_group: r.service_group.clone(),
        kind: r.kind.clone(),
        quantity: r.quantity.clone(),
        unit: r.unit.clone(),
        performed_at: r.performed_at,
        performed_by: r.performed_by.clone(),
        ordering_practitioner: r.ordering_practitioner.clone(),
        attending_practitioner: r.attending_practitioner.clone(),
        source_system: r.source_system.clone(),
        external_id: r.external_id.clone(),
        attributes: r.attributes.clone(),
        input_digest: r.input_digest.clone(),
        status: r.status.clone(),
        void_reason: r.void_reason.clone(),
        voided_by: r.voided_by.clone(),
        voided_at: r.voided_at,
        recorded_by: r.recorded_by.clone(),
        recorded_at: r.recorded_at,
    }
}

/// An item-level rejection (the batch goes on) or a failure that aborts the transaction.
enum Rejection {
    Item(Error),
    Fatal(Error),
}

impl From<Error> for Rejection {
    fn from(e: Error) -> Self {
        Rejection::Fatal(e)
    }
}

impl From<diesel::result::Error> for Rejection {
    fn from(e: diesel::result::Error) -> Self {
        Rejection::Fatal(e.into())
    }
}

/// Checks one consumption against its episode and the catalog and builds its row and event.
fn prepare(
    conn: &mut AnyConnection,
    who: &Principal,
    ctx: &mut Context,
    episode: &episodes::Row,
    v: &Valid,
    digest: String,
    now: NaiveDateTime,
) -> Result<Prepared, Rejection> {
    if !episode.status().accepts_consumptions() {
        return Err(Rejection::Item(Error::new(
            ErrorCode::EpisodeNotOpen,
            format!(
                "episode is {}; consumptions need an open episode",
                episode.status()
            ),
        )));
    }
    let Some(item) = ctx.items.get(v.code.as_str()).cloned() else {
        return Err(Rejection::Item(Error::field(
            "code",
            "unknown",
            format!("no catalog item with code {}", v.code),
        )));
    };
    if !item.active {
        return Err(Rejection::Item(Error::field(
            "code",
            "inactive",
            format!("catalog item {} is inactive", v.code),
        )));
    }
    if let Some(u) = &v.unit
        && u.as_str() != item.unit
    {
        return Err(Rejection::Item(Error::field(
            "unit",
            "mismatch",
            format!("catalog item {} is measured in {}", v.code, item.unit),
        )));
    }
    let episode_ref = match ctx.episode_refs.get(&episode.id) {
        Some(r) => r.clone(),
        None => {
            let r = episodes::to_ref(conn, episode)?;
            ctx.episode_refs.insert(episode.id.clone(), r.clone());
            r
        }
    };
    let coverage_refs = match ctx.coverages.get(&episode.patient_id) {
        Some(c) => c.clone(),
        None => {
            let c = coverages::refs_for_patient(conn, &episode.patient_id)?;
            ctx.coverages.insert(episode.patient_id.clone(), c.clone());
            c
        }
    };
    let attending = v
        .attending_practitioner
        .clone()
        .or_else(|| episode_ref.attending_practitioner.clone());
    let id = uuid::Uuid::now_v7().to_string();
    let attributes = Value::Object(v.attributes.clone());
    let row = NewRow {
        id: id.clone(),
        episode_id: episode.id.clone(),
        patient_id: episode.patient_id.clone(),
        location_id: episode.location_id.clone(),
        catalog_item_id: item.id.clone(),
        code: item.code.clone(),
        service_group: item.service_group.clone(),
        kind: item.kind().as_str().to_owned(),
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
        status: "active".to_owned(),
        recorded_by: who.subject.clone(),
        recorded_at: now,
    };
    let view = Consumption {
        id: id.clone(),
        episode_id: row.episode_id.clone(),
        patient_id: row.patient_id.clone(),
        location_id: row.location_id.clone(),
        code: row.code.clone(),
        service_group: row.service_group.clone(),
        kind: item.kind(),
        quantity: v.quantity.value(),
        unit: row.unit.clone(),
        performed_at: v.performed_at.and_utc(),
        performed_by: row.performed_by.clone(),
        ordering_practitioner: row.ordering_practitioner.clone(),
        attending_practitioner: attending.clone(),
        source_system: row.source_system.clone(),
        external_id: row.external_id.clone(),
        attributes: attributes.clone(),
        status: ConsumptionStatus::Active,
        void_reason: None,
        voided_by: None,
        voided_at: None,
        recorded_by: who.subject.clone(),
        recorded_at: now.and_utc(),
    };
    let payload = ConsumptionRecordedV1 {
        consumption_id: id.parse().map_err(|e| Error::internal(&e))?,
        episode: episode_ref,
        item: item.to_ref()?,
        quantity: v.quantity.value(),
        unit: item.unit.clone(),
        performed_at: v.performed_at.and_utc(),
        performed_by: v.performed_by.clone(),
        ordering_practitioner: v.ordering_practitioner.clone(),
        attending_practitioner: attending,
        source_system: row.source_system.clone(),
        external_id: row.external_id.clone(),
        attributes,
        coverages: coverage_refs,
        recorded_at: now.and_utc(),
    };
    let event = envelope(who, &payload)?;
    Ok(Prepared {
        row,
        view,
        event: Some(event),
    })
}

fn get(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<Consumption, Error> {
    let row: Row = consumptions::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("consumption"))?;
    if let Some(scope) = scoped_location_ids(conn, who)?
        && !scope.contains(&row.location_id)
    {
        return Err(Error::not_found("consumption"));
    }
    Ok(row.into())
}

fn void(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    reason: &str,
) -> Result<Consumption, Error> {
    let before = get(conn, who, id)?;
    if before.status == ConsumptionStatus::Voided {
        return Err(Error::new(
            ErrorCode::AlreadyVoided,
            "this consumption is already voided",
        ));
    }
    let now = db::now();
    let changed = diesel::update(
        consumptions::table
            .find(id)
            .filter(consumptions::status.eq("active")),
    )
    .set((
        consumptions::status.eq("voided"),
        consumptions::void_reason.eq(reason),
        consumptions::voided_by.eq(&who.subject),
        consumptions::voided_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(Error::new(
            ErrorCode::AlreadyVoided,
            "this consumption is already voided",
        ));
    }
    emit(
        conn,
        who,
        &ConsumptionVoidedV1 {
            consumption_id: id.parse().map_err(|e| Error::internal(&e))?,
            episode_id: before.episode_id.parse().map_err(|e| Error::internal(&e))?,
            location_id: before
                .location_id
                .parse()
                .map_err(|e| Error::internal(&e))?,
            reason: reason.to_owned(),
            voided_by: who.subject.clone(),
            voided_at: now.and_utc(),
        },
    )?;
    audit::record_at(
        conn,
        who,
        &before.location_id,
        "void",
        "consumption",
        id,
        serde_json::json!({ "status": { "before": "active", "after": "voided" } }),
        Some(reason),
    )?;
    get(conn, who, id)
}

/// Filters for the consumption list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumptionFilter {
    /// Of this episode.
    pub episode_id: Option<String>,
    /// Of this patient.
    pub patient_id: Option<String>,
    /// At this location.
    pub location_id: Option<String>,
    /// Of this service group.
    pub service_group: Option<String>,
    /// Of this kind.
    pub kind: Option<ServiceKind>,
    /// With this catalog code.
    pub code: Option<String>,
    /// Performed by this practitioner.
    pub performed_by: Option<String>,
    /// Performed at or after (RFC 3339).
    pub performed_from: Option<DateTime<Utc>>,
    /// Performed before (RFC 3339).
    pub performed_to: Option<DateTime<Utc>>,
    /// Active or voided.
    pub status: Option<ConsumptionStatus>,
    /// Pushed by this system.
    pub source_system: Option<String>,
    /// With this external id.
    pub external_id: Option<String>,
}

fn list(
    conn: &mut AnyConnection,
    who: &Principal,
    f: &ConsumptionFilter,
    page: &PageRequest,
) -> Result<Page<Consumption>, Error> {
    for (field, at) in [
        ("performed_from", f.performed_from),
        ("performed_to", f.performed_to),
    ] {
        if let Some(at) = at {
            carebill_domain::accounts::check_date(at.date_naive())
                .map_err(|m| Error::field(field, "out_of_range", m))?;
        }
    }
    let mut q = consumptions::table.select(Row::as_select()).into_boxed();
    if let Some(ids) = scoped_location_ids(conn, who)? {
        q = q.filter(consumptions::location_id.eq_any(ids));
    }
    if let Some(x) = &f.episode_id {
        q = q.filter(consumptions::episode_id.eq(x.clone()));
    }
    if let Some(x) = &f.patient_id {
        q = q.filter(consumptions::patient_id.eq(x.clone()));
    }
    if let Some(x) = &f.location_id {
        q = q.filter(consumptions::location_id.eq(x.clone()));
    }
    if let Some(x) = &f.service_group {
        q = q.filter(consumptions::service_group.eq(x.clone()));
    }
    if let Some(x) = f.kind {
        q = q.filter(consumptions::kind.eq(x.as_str()));
    }
    if let Some(x) = &f.code {
        q = q.filter(consumptions::code.eq(x.clone()));
    }
    if let Some(x) = &f.performed_by {
        q = q.filter(consumptions::performed_by.eq(x.clone()));
    }
    if let Some(x) = f.performed_from {
        q = q.filter(consumptions::performed_at.ge(db::truncate_micros(x.naive_utc())));
    }
    if let Some(x) = f.performed_to {
        q = q.filter(consumptions::performed_at.lt(db::truncate_micros(x.naive_utc())));
    }
    if let Some(x) = f.status {
        q = q.filter(consumptions::status.eq(if x == ConsumptionStatus::Voided {
            "voided"
        } else {
            "active"
        }));
    }
    if let Some(x) = &f.source_system {
        q = q.filter(consumptions::source_system.eq(x.clone()));
    }
    if let Some(x) = &f.external_id {
        q = q.filter(consumptions::external_id.eq(x.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(consumptions::id.gt(after.clone()));
    }
    let rows = q
        .order(consumptions::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone()).map(Consumption::from))
}

const WRITERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Integration];
const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Integration,
];

/// Record one consumption.
#[utoipa::path(post, path = "/v1/consumptions", tag = "consumptions", request_body = ConsumptionInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Recorded; emits consumption.recorded", body = Consumption),
        (status = 200, description = "Already recorded with the same source_system, external_id and content", body = Consumption),
        (status = 409, description = "Episode not open; external id or Idempotency-Key reused with other content", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, unknown episode or catalog code", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn create_consumption(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<ConsumptionInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate(Utc::now()).map_err(Error::validation)?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent_with_status(conn, key.as_ref(), |conn| {
                let mut results = record_many(conn, &who, vec![Ok(input)])?;
                match results.pop() {
                    Some(Ok((ItemOutcome::Created, c))) => Ok((StatusCode::CREATED, c)),
                    Some(Ok((_, c))) => Ok((StatusCode::OK, c)),
                    Some(Err(e)) => Err(e),
                    None => Err(Error::internal(&"no result for the consumption")),
                }
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Push up to 1,000 consumptions; each item gets its own result.
#[utoipa::path(post, path = "/v1/consumptions/batch", tag = "consumptions", request_body = BatchInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result"),
        ("Prefer" = Option<String>, Header, description = "`return=minimal`: results carry the ids, not the whole consumptions (RFC 7240)")),
    responses(
        (status = 200, description = "One result per item: created, duplicate or rejected with a problem", body = BatchResult),
        (status = 422, description = "No items", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn push_batch(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<BatchInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let minimal = carebill_platform::http::prefers_minimal(&req);
    let items = body.value.items;
    if items.is_empty() {
        return Err(Error::field("items", "required", "at least one item"));
    }
    if items.len() > MAX_BATCH {
        return Err(Error::too_large(format!(
            "a batch holds at most {MAX_BATCH} items, this one has {}",
            items.len()
        )));
    }
    let now = Utc::now();
    let parsed: Vec<Result<Valid, Error>> = items
        .into_iter()
        .map(|v| ConsumptionInput::parse_item(v, now))
        .collect();
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                let results = record_many(conn, &who, parsed)?;
                let mut out = BatchResult {
                    created: 0,
                    duplicates: 0,
                    rejected: 0,
                    results: Vec::with_capacity(results.len()),
                };
                for (index, r) in results.into_iter().enumerate() {
                    out.results.push(match r {
                        Ok((outcome, c)) => {
                            if outcome == ItemOutcome::Created {
                                out.created += 1;
                            } else {
                                out.duplicates += 1;
                            }
                            ItemResult {
                                index,
                                outcome,
                                id: Some(c.id.clone()),
                                consumption: (!minimal).then_some(c),
                                problem: None,
                            }
                        }
                        Err(e) => {
                            out.rejected += 1;
                            ItemResult {
                                index,
                                outcome: ItemOutcome::Rejected,
                                id: None,
                                consumption: None,
                                problem: Some(e.problem()),
                            }
                        }
                    });
                }
                Ok(out)
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Void a consumption with a reason; it stays visible as voided.
#[utoipa::path(post, path = "/v1/consumptions/{id}/void", tag = "consumptions", request_body = VoidInput,
    params(("id" = String, Path, description = "Consumption id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried void return the first result")),
    responses((status = 200, description = "Voided; emits consumption.voided", body = Consumption),
        (status = 404, description = "No such consumption in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already voided", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn void_consumption(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<VoidInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let mut v = Validation::new();
    let reason = v.text("reason", &body.value.reason, 500);
    v.finish().map_err(Error::validation)?;
    let reason = reason.unwrap_or_default();
    let id: uuid::Uuid = parse_id(&id, "consumption")?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::OK, |conn| {
                void(conn, &who, &id.to_string(), &reason)
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Get a consumption.
#[utoipa::path(get, path = "/v1/consumptions/{id}", tag = "consumptions",
    params(("id" = String, Path, description = "Consumption id")),
    responses((status = 200, description = "The consumption", body = Consumption),
        (status = 404, description = "No such consumption in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn get_consumption(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Consumption>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "consumption")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| get(conn, &who, &id.to_string()))
            .await?,
    ))
}

/// List consumptions in your scope, with filters.
#[utoipa::path(get, path = "/v1/consumptions", tag = "consumptions", params(ConsumptionFilter, PageParams),
    responses((status = 200, description = "A page of consumptions", body = Page<Consumption>)),
    security(("bearer" = [])))]
pub async fn list_consumptions(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<ConsumptionFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Consumption>>, Error> {
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
