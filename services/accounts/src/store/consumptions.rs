//! The `consumptions` table: rows as read and as written, look-ups by id and by the pushing
//! system's key `(source_system, external_id)`, the batch insert, voiding, and the list.

use std::collections::{HashMap, HashSet};

use carebill_domain::accounts::ServiceKind;
use carebill_domain::events::ConsumptionClaimFacts;
use carebill_domain::ids::{ConsumptionId, EpisodeId, LocationId, PatientId};
use carebill_domain::stored::Unreadable;
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::schema::consumptions;

/// Whether a consumption counts, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumptionStatus {
    /// Counts for billing.
    Active,
    /// Voided with a reason; kept for the record.
    Voided,
}

impl ConsumptionStatus {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumptionStatus::Active => "active",
            ConsumptionStatus::Voided => "voided",
        }
    }
}

impl TryFrom<String> for ConsumptionStatus {
    type Error = Unreadable;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "active" => Ok(ConsumptionStatus::Active),
            "voided" => Ok(ConsumptionStatus::Voided),
            _ => Err(Unreadable::new(
                "consumption status",
                s,
                "not one of: active, voided",
            )),
        }
    }
}

impl From<ConsumptionStatus> for String {
    fn from(s: ConsumptionStatus) -> String {
        s.as_str().to_owned()
    }
}

/// A consumption as read back.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = consumptions)]
pub struct ConsumptionRow {
    /// Id.
    #[diesel(deserialize_as = String)]
    pub id: ConsumptionId,
    /// The episode charged.
    #[diesel(deserialize_as = String)]
    pub episode_id: EpisodeId,
    /// Its patient.
    #[diesel(deserialize_as = String)]
    pub patient_id: PatientId,
    /// Its location.
    #[diesel(deserialize_as = String)]
    pub location_id: LocationId,
    /// Catalog code.
    pub code: String,
    /// Catalog service group.
    pub service_group: String,
    /// Catalog kind.
    #[diesel(deserialize_as = String)]
    pub kind: ServiceKind,
    /// Quantity, a decimal as text (see [`ConsumptionRow::quantity`]).
    pub quantity: String,
    /// Unit of measure.
    pub unit: String,
    /// When it was performed.
    pub performed_at: NaiveDateTime,
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
    /// Free attributes, a JSON object (see [`ConsumptionRow::attributes`]).
    pub attributes: String,
    /// Digest of the validated input: a retry with the same content is a duplicate.
    pub input_digest: String,
    /// Active or voided.
    #[diesel(deserialize_as = String)]
    pub status: ConsumptionStatus,
    /// Why it was voided.
    pub void_reason: Option<String>,
    /// Who voided it.
    pub voided_by: Option<String>,
    /// When.
    pub voided_at: Option<NaiveDateTime>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: NaiveDateTime,
    /// Diagnoses and modifiers for electronic claims, JSON (see [`ConsumptionRow::claim`]);
    /// NULL when the clinical system sent none.
    pub claim: Option<String>,
}

impl ConsumptionRow {
    /// The stored claim facts.
    pub fn claim(&self) -> Result<Option<ConsumptionClaimFacts>, Error> {
        self.claim
            .as_deref()
            .map(|json| carebill_domain::stored::json("consumption claim facts", json))
            .transpose()
            .map_err(Error::from)
    }

    /// The stored quantity.
    pub fn quantity(&self) -> Result<rust_decimal::Decimal, Error> {
        carebill_domain::stored::parse("consumption quantity", &self.quantity).map_err(Error::from)
    }

    /// The stored attributes.
    pub fn attributes(&self) -> Result<serde_json::Value, Error> {
        crate::store::read_json("consumption attributes", &self.attributes)
    }
}

/// The columns written when a consumption is recorded (text columns: inserted by reference in
/// multi-row statements).
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = consumptions)]
pub struct NewConsumptionRow {
    /// Id.
    pub id: String,
    /// The episode.
    pub episode_id: String,
    /// Its patient.
    pub patient_id: String,
    /// Its location.
    pub location_id: String,
    /// The catalog item.
    pub catalog_item_id: String,
    /// Catalog code.
    pub code: String,
    /// Catalog service group.
    pub service_group: String,
    /// Catalog kind.
    pub kind: String,
    /// Quantity, decimal text.
    pub quantity: String,
    /// Unit.
    pub unit: String,
    /// When performed.
    pub performed_at: NaiveDateTime,
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
    /// Attributes, JSON.
    pub attributes: String,
    /// Digest of the validated input.
    pub input_digest: String,
    /// `active`.
    pub status: String,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: NaiveDateTime,
    /// Diagnoses and modifiers, JSON; NULL when none.
    pub claim: Option<String>,
}

/// Filters of the consumption list.
#[derive(Debug, Clone, Default)]
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
    /// Performed at or after.
    pub performed_from: Option<DateTime<Utc>>,
    /// Performed before.
    pub performed_to: Option<DateTime<Utc>>,
    /// Active or voided.
    pub status: Option<ConsumptionStatus>,
    /// Pushed by this system.
    pub source_system: Option<String>,
    /// With this external id.
    pub external_id: Option<String>,
}

/// The consumption with this id, if at one of `allowed` locations (`None`: any).
pub fn find(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    id: &str,
) -> Result<Option<ConsumptionRow>, Error> {
    let mut q = consumptions::table
        .filter(consumptions::id.eq(id.to_owned()))
        .select(ConsumptionRow::as_select())
        .into_boxed();
    if let Some(ids) = allowed {
        q = q.filter(consumptions::location_id.eq_any(ids.to_vec()));
    }
    Ok(q.first(conn).optional()?)
}

/// The consumption recorded under a pushing system's key, if any.
pub fn find_by_key(
    conn: &mut AnyConnection,
    source: &str,
    external_id: &str,
) -> Result<Option<ConsumptionRow>, Error> {
    Ok(consumptions::table
        .filter(consumptions::source_system.eq(source))
        .filter(consumptions::external_id.eq(external_id))
        .select(ConsumptionRow::as_select())
        .first(conn)
        .optional()?)
}

/// The consumptions recorded under any of these keys `(source_system, external_id)`, by key.
/// Looked up by the full key, which the unique index (external_id, source_system) serves on
/// PostgreSQL even before the table has statistics (see migration 20261123000013).
pub fn by_keys(
    conn: &mut AnyConnection,
    keys: &[(String, String)],
) -> Result<HashMap<(String, String), ConsumptionRow>, Error> {
    let mut by_source: HashMap<&str, Vec<&str>> = HashMap::new();
    for (source, external_id) in keys {
        by_source.entry(source).or_default().push(external_id);
    }
    let mut found = HashMap::new();
    for (source, mut ids) in by_source {
        ids.sort_unstable();
        ids.dedup();
        for chunk in ids.chunks(500) {
            let rows: Vec<ConsumptionRow> = consumptions::table
                .filter(consumptions::source_system.eq(source))
                .filter(consumptions::external_id.eq_any(chunk))
                .select(ConsumptionRow::as_select())
                .load(conn)?;
            for r in rows {
                if let Some(e) = r.external_id.clone() {
                    found.insert((source.to_owned(), e), r);
                }
            }
        }
    }
    Ok(found)
}

/// Inserts the rows; returns the ids actually inserted. On PostgreSQL a row whose
/// `(source_system, external_id)` a concurrent request stored first is skipped, not an error.
pub fn insert_new(
    conn: &mut AnyConnection,
    rows: &[&NewConsumptionRow],
) -> Result<HashSet<String>, Error> {
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

/// Voids an active consumption; returns whether it was active (a concurrent void loses here).
pub fn void(
    conn: &mut AnyConnection,
    id: &str,
    reason: &str,
    by: &str,
    at: NaiveDateTime,
) -> Result<bool, Error> {
    let changed = diesel::update(
        consumptions::table
            .find(id)
            .filter(consumptions::status.eq(ConsumptionStatus::Active.as_str())),
    )
    .set((
        consumptions::status.eq(ConsumptionStatus::Voided.as_str()),
        consumptions::void_reason.eq(reason),
        consumptions::voided_by.eq(by),
        consumptions::voided_at.eq(at),
    ))
    .execute(conn)?;
    Ok(changed > 0)
}

/// A page of consumptions at `allowed` locations (`None`: any), by id.
pub fn page(
    conn: &mut AnyConnection,
    allowed: Option<&[String]>,
    f: &ConsumptionFilter,
    page: &PageRequest,
) -> Result<Vec<ConsumptionRow>, Error> {
    let mut q = consumptions::table
        .select(ConsumptionRow::as_select())
        .into_boxed();
    if let Some(ids) = allowed {
        q = q.filter(consumptions::location_id.eq_any(ids.to_vec()));
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
        q = q.filter(consumptions::status.eq(x.as_str()));
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
    Ok(q.order(consumptions::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
