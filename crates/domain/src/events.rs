//! Events: the CloudEvents 1.0 envelope and the versioned payloads the services exchange.
//!
//! An event type is `carebill.<service>.<aggregate>.<event>.v<N>`. A payload carries what its
//! consumers need (event-carried state), so that no consumer calls back into the producer.
//! Changing a payload in a way that breaks a consumer means a new type with a new version.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::accounts::{EpisodeKind, EpisodeStatus, PayerKind, ServiceKind};
use crate::ids::{
    CatalogItemId, ConsumptionId, CoverageId, EpisodeId, EventId, LocationId, PatientId, PayerId,
};

/// A CloudEvents 1.0 structured-mode JSON event with Carebill's correlation extensions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Always `"1.0"`.
    pub specversion: String,
    /// Unique id (UUIDv7); consumers deduplicate on it.
    pub id: EventId,
    /// The producing service, e.g. `/carebill/accounts`.
    pub source: String,
    /// The event type, e.g. `carebill.accounts.consumption.recorded.v1`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the state change happened.
    pub time: DateTime<Utc>,
    /// The aggregate the event is about, e.g. `episode/0190...`.
    pub subject: String,
    /// Always `application/json`.
    pub datacontenttype: String,
    /// The request or flow this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlationid: Option<String>,
    /// The event or request that caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causationid: Option<String>,
    /// The payload.
    pub data: Value,
}

/// A payload type with its fixed event type and subject.
pub trait EventPayload: Serialize + DeserializeOwned {
    /// The CloudEvents `type`.
    const TYPE: &'static str;
    /// The CloudEvents `subject`: the aggregate whose events must be applied in order.
    fn subject(&self) -> String;
}

/// Why an envelope could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    /// The payload did not (de)serialize.
    #[error("event payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// The envelope carries another type than the one asked for.
    #[error("expected event type {expected}, got {actual}")]
    WrongType {
        /// Asked for.
        expected: &'static str,
        /// Found.
        actual: String,
    },
}

impl Envelope {
    /// Wraps a payload produced by `service`.
    pub fn new<P: EventPayload>(
        service: &str,
        payload: &P,
        time: DateTime<Utc>,
        correlationid: Option<String>,
        causationid: Option<String>,
    ) -> Result<Self, EnvelopeError> {
        Ok(Envelope {
            specversion: "1.0".to_owned(),
            id: EventId::new(),
            source: format!("/carebill/{service}"),
            event_type: P::TYPE.to_owned(),
            time,
            subject: payload.subject(),
            datacontenttype: "application/json".to_owned(),
            correlationid,
            causationid,
            data: serde_json::to_value(payload)?,
        })
    }

    /// Reads the payload as `P`, checking the type.
    pub fn payload<P: EventPayload>(&self) -> Result<P, EnvelopeError> {
        if self.event_type != P::TYPE {
            return Err(EnvelopeError::WrongType {
                expected: P::TYPE,
                actual: self.event_type.clone(),
            });
        }
        Ok(serde_json::from_value(self.data.clone())?)
    }
}

/// A location as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocationRef {
    /// Id.
    pub id: LocationId,
    /// Code (also the invoice-series prefix later).
    pub code: String,
    /// Name.
    pub name: String,
    /// IANA time zone, for "after hours" and "weekend" rules.
    pub time_zone: String,
    /// Tax id of the issuing entity.
    pub tax_id: Option<String>,
}

/// A patient as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientRef {
    /// Id.
    pub id: PatientId,
    /// Beneficiary kind code that rules select on.
    pub beneficiary_kind: String,
    /// Birth date, for age-based rules.
    pub birth_date: Option<NaiveDate>,
    /// Free flags such as `chronic` or `low_income`.
    pub flags: Vec<String>,
}

/// A coverage as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageRef {
    /// Id.
    pub id: CoverageId,
    /// The paying organisation.
    pub payer_id: PayerId,
    /// Its code.
    pub payer_code: String,
    /// Its kind.
    pub payer_kind: PayerKind,
    /// Policy or member number.
    pub policy_number: String,
    /// Plan code, for plan-specific terms.
    pub plan_code: Option<String>,
    /// 1 pays first.
    pub priority: i32,
    /// First day covered.
    pub valid_from: Option<NaiveDate>,
    /// Last day covered.
    pub valid_to: Option<NaiveDate>,
}

/// An episode as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRef {
    /// Id.
    pub id: EpisodeId,
    /// The HIS's account or encounter number.
    pub number: String,
    /// Kind of care.
    pub kind: EpisodeKind,
    /// Where.
    pub location: LocationRef,
    /// Who.
    pub patient: PatientRef,
    /// Attending practitioner.
    pub attending_practitioner: Option<String>,
}

/// A catalog item as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogItemRef {
    /// Id.
    pub id: CatalogItemId,
    /// Code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group, the unit of many rules.
    pub service_group: String,
    /// Kind.
    pub kind: ServiceKind,
    /// Unit of measure.
    pub unit: String,
}

/// `carebill.accounts.consumption.recorded.v1`: a service was performed or a material used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumptionRecordedV1 {
    /// Id.
    pub consumption_id: ConsumptionId,
    /// The episode with its location and patient.
    pub episode: EpisodeRef,
    /// The catalog item.
    pub item: CatalogItemRef,
    /// Quantity in `unit`.
    pub quantity: Decimal,
    /// Unit of measure.
    pub unit: String,
    /// When it was performed (UTC).
    pub performed_at: DateTime<Utc>,
    /// Performing practitioner.
    pub performed_by: Option<String>,
    /// Ordering practitioner.
    pub ordering_practitioner: Option<String>,
    /// Attending practitioner at the time.
    pub attending_practitioner: Option<String>,
    /// Pushing system.
    pub source_system: Option<String>,
    /// Its id for this record.
    pub external_id: Option<String>,
    /// Free attributes for rules.
    pub attributes: Value,
    /// The patient's coverages (all of them, with validity; the consumer picks by date).
    pub coverages: Vec<CoverageRef>,
    /// When Carebill recorded it.
    pub recorded_at: DateTime<Utc>,
}

impl EventPayload for ConsumptionRecordedV1 {
    const TYPE: &'static str = "carebill.accounts.consumption.recorded.v1";
    fn subject(&self) -> String {
        format!("episode/{}", self.episode.id)
    }
}

/// `carebill.accounts.consumption.voided.v1`: a consumption no longer counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConsumptionVoidedV1 {
    /// Id.
    pub consumption_id: ConsumptionId,
    /// Its episode.
    pub episode_id: EpisodeId,
    /// Its location.
    pub location_id: LocationId,
    /// Why.
    pub reason: String,
    /// Who.
    pub voided_by: String,
    /// When.
    pub voided_at: DateTime<Utc>,
}

impl EventPayload for ConsumptionVoidedV1 {
    const TYPE: &'static str = "carebill.accounts.consumption.voided.v1";
    fn subject(&self) -> String {
        format!("episode/{}", self.episode_id)
    }
}

/// `carebill.accounts.episode.opened.v1` (also sent when an episode is reopened).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeOpenedV1 {
    /// The episode with location and patient.
    pub episode: EpisodeRef,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// The patient's coverages.
    pub coverages: Vec<CoverageRef>,
    /// True when this is a reopening of a closed episode.
    pub reopened: bool,
    /// Reason given for a reopening.
    pub reason: Option<String>,
}

impl EventPayload for EpisodeOpenedV1 {
    const TYPE: &'static str = "carebill.accounts.episode.opened.v1";
    fn subject(&self) -> String {
        format!("episode/{}", self.episode.id)
    }
}

/// `carebill.accounts.episode.closed.v1` (also sent when an episode is cancelled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeClosedV1 {
    /// The episode.
    pub episode_id: EpisodeId,
    /// Its location.
    pub location_id: LocationId,
    /// `closed` or `cancelled`.
    pub status: EpisodeStatus,
    /// When.
    pub closed_at: DateTime<Utc>,
    /// Why.
    pub reason: Option<String>,
}

impl EventPayload for EpisodeClosedV1 {
    const TYPE: &'static str = "carebill.accounts.episode.closed.v1";
    fn subject(&self) -> String {
        format!("episode/{}", self.episode_id)
    }
}

/// `carebill.accounts.coverage.changed.v1`: a patient's coverages changed; carries all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoverageChangedV1 {
    /// The patient.
    pub patient_id: PatientId,
    /// The coverage that changed.
    pub coverage_id: CoverageId,
    /// `created`, `updated` or `ended`.
    pub change: String,
    /// The patient's coverages after the change.
    pub coverages: Vec<CoverageRef>,
    /// When.
    pub changed_at: DateTime<Utc>,
}

impl EventPayload for CoverageChangedV1 {
    const TYPE: &'static str = "carebill.accounts.coverage.changed.v1";
    fn subject(&self) -> String {
        format!("patient/{}", self.patient_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_is_cloudevents_json_and_round_trips() {
        let payload = EpisodeClosedV1 {
            episode_id: EpisodeId::new(),
            location_id: LocationId::new(),
            status: EpisodeStatus::Closed,
            closed_at: Utc::now(),
            reason: Some("discharged".to_owned()),
        };
        let env = Envelope::new(
            "accounts",
            &payload,
            Utc::now(),
            Some("req-1".to_owned()),
            None,
        )
        .expect("envelope");
        let json = serde_json::to_value(&env).expect("json");
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "carebill.accounts.episode.closed.v1");
        assert_eq!(json["source"], "/carebill/accounts");
        assert_eq!(json["subject"], format!("episode/{}", payload.episode_id));
        assert_eq!(json["correlationid"], "req-1");
        assert!(json.get("causationid").is_none());
        let back: Envelope = serde_json::from_value(json).expect("back");
        assert_eq!(back.payload::<EpisodeClosedV1>().expect("payload"), payload);
        assert!(back.payload::<ConsumptionVoidedV1>().is_err());
    }
}
