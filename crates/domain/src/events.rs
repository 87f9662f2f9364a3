//! Events: the CloudEvents 1.0 envelope and the versioned payloads the services exchange.
//!
//! An event type is `carebill.<service>.<aggregate>.<event>.v<N>`. A payload carries what its
//! consumers need (event-carried state), so that no consumer calls back into the producer.
//! Changing a payload in a way that breaks a consumer means a new type with a new version.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::accounts::{EpisodeKind, EpisodeStatus, PayerKind, ServiceKind};
use crate::ids::{
    ApprovalId, BatchId, CarerId, CatalogItemId, ConsumptionId, CoverageId, CreditNoteId,
    EBillingClaimId, EBillingId, EpisodeId, EventId, HoursId, InvoiceId, LocationId, PatientId,
    PayerId, PaymentId, PlacementId, PractitionerId, SettlementId, TimesheetId,
};
use crate::money::{Currency, Money};
use crate::settlement::SettlementKind;

/// A CloudEvents 1.0 structured-mode JSON event with Carebill's correlation extensions.
///
/// The payload is kept as the JSON text it was written as: relays, buses and inboxes move events
/// without building a tree of each payload, and a consumer parses it once, straight into its
/// payload type ([`Envelope::payload`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The payload, as JSON text.
    pub data: Box<RawValue>,
}

/// Equal when every attribute is and the payloads' JSON texts are the same (the same payload
/// written with its members in another order is a different text).
impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.specversion == other.specversion
            && self.source == other.source
            && self.event_type == other.event_type
            && self.time == other.time
            && self.subject == other.subject
            && self.datacontenttype == other.datacontenttype
            && self.correlationid == other.correlationid
            && self.causationid == other.causationid
            && self.data.get() == other.data.get()
    }
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
            data: serde_json::value::to_raw_value(payload)?,
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
        Ok(serde_json::from_str(self.data.get())?)
    }
}

/// What an invoice needs to name a party: its legal name, identifiers, electronic address,
/// postal address and (for a seller) the account to pay to. Accounts fills it from the party's
/// master data (a location's or payer's `billing`, a patient's name and address) on every event
/// that names the party; absent in events of older versions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartyBilling {
    /// Legal name (BT-27 / BT-44): the registered name, else the party's name.
    pub legal_name: String,
    /// VAT identifier with its country prefix (BT-31 / BT-48).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_id: Option<String>,
    /// Legal registration identifier (BT-30 / BT-47).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_registration: Option<SchemeIdRef>,
    /// Electronic address (BT-34 / BT-49).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<SchemeIdRef>,
    /// Postal address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<PostalAddressRef>,
    /// Contact e-mail (BT-43; sellers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_email: Option<String>,
    /// IBAN to pay to (BT-84; sellers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iban: Option<String>,
    /// BIC of that account (BT-86; sellers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bic: Option<String>,
    /// The buyer reference (BT-10) the party wants on invoices to it (payers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_reference: Option<String>,
    /// Its payment terms: a payer's apply to invoices to it, a location's to the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<crate::invoicing::PaymentTerms>,
}

/// An identifier within a scheme: an EAS code for electronic addresses, an ISO 6523 ICD code for
/// registrations (e.g. `0088`, GLN).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchemeIdRef {
    /// The scheme code.
    pub scheme: String,
    /// The identifier within it.
    pub id: String,
}

/// A postal address as events carry it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PostalAddressRef {
    /// Street lines.
    #[serde(default)]
    pub lines: Vec<String>,
    /// City.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Region, province or state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

/// A location as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// What invoices name the location by as seller; absent in events of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<PartyBilling>,
}

/// A patient as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PatientRef {
    /// Id.
    pub id: PatientId,
    /// Beneficiary kind code that rules select on.
    pub beneficiary_kind: String,
    /// Birth date, for age-based rules.
    pub birth_date: Option<NaiveDate>,
    /// Free flags such as `chronic` or `low_income`.
    pub flags: Vec<String>,
    /// Administrative sex (`female`, `male`, `other`, `unknown`); absent in events of older
    /// versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// What invoices to the patient name them by (name and address); absent in events of older
    /// versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<PartyBilling>,
}

/// A coverage as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// What invoices to the payer name it by; absent in events of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_billing: Option<PartyBilling>,
}

/// An episode as consumers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// What an electronic claim needs of this service beyond the catalog's codes (diagnoses,
    /// modifiers); absent when the clinical system sent none, and in events of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<ConsumptionClaimFacts>,
}

/// What a clinical system said of one consumption for electronic claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsumptionClaimFacts {
    /// ICD-10-CM codes the service was for, most important first (at most 4, dotted, upper
    /// case): an 837P line points at them in the claim's diagnoses (SV107).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnosis_codes: Vec<String>,
    /// Procedure modifiers, written after the catalog item's own (at most 4 in all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modifiers: Vec<String>,
}

impl ConsumptionClaimFacts {
    /// None when there is nothing to say.
    pub fn or_none(self) -> Option<Self> {
        (!self.diagnosis_codes.is_empty() || !self.modifiers.is_empty()).then_some(self)
    }
}

/// What an electronic claim needs of one settled line beyond its code and amount: the
/// consumption's diagnoses and modifiers and the practitioners it named.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LineClaimFacts {
    /// ICD-10-CM codes the service was for, most important first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagnosis_codes: Vec<String>,
    /// Procedure modifiers added to the catalog item's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modifiers: Vec<String>,
    /// Who ordered it, as the clinical system said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_practitioner: Option<String>,
    /// Who was attending at the time, as the clinical system said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attending_practitioner: Option<String>,
}

impl LineClaimFacts {
    /// A consumption's claim facts with its practitioners; none when there is nothing to say.
    pub fn of(c: &ConsumptionRecordedV1) -> Option<Self> {
        let facts = c.claim.clone().unwrap_or_default();
        let line = Self {
            diagnosis_codes: facts.diagnosis_codes,
            modifiers: facts.modifiers,
            ordering_practitioner: c.ordering_practitioner.clone(),
            attending_practitioner: c.attending_practitioner.clone(),
        };
        (line != Self::default()).then_some(line)
    }
}

impl EventPayload for ConsumptionRecordedV1 {
    const TYPE: &'static str = "carebill.accounts.consumption.recorded.v1";
    fn subject(&self) -> String {
        format!("episode/{}", self.episode.id)
    }
}

/// `carebill.accounts.consumption.voided.v1`: a consumption no longer counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// `carebill.accounts.care_record.changed.v1`: a care record (stay, absence, contract, manual
/// entry, evaluation, gastro or ambulatory line) was recorded, changed or cancelled. It carries
/// the whole current version: consumers keep the highest version they saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CareRecordChangedV1 {
    /// The record as it now is.
    pub record: crate::sources::CareRecord,
    /// The code of its location (`record.location_id`), what settlement's prices, rule
    /// activations and billing runs name institutions by.
    pub location_code: String,
    /// The location as invoices name their issuer (absent in events of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationRef>,
    /// The beneficiary as invoices name the patient (absent in events of older versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientRef>,
    /// The beneficiary's coverages when the record changed, by priority: the payers the
    /// insurance and public-authority contexts of billing runs are billed to.
    #[serde(default)]
    pub coverages: Vec<CoverageRef>,
    /// Why it changed (none for the first version).
    pub reason: Option<String>,
    /// Who changed it.
    pub changed_by: String,
    /// When.
    pub changed_at: DateTime<Utc>,
}

impl EventPayload for CareRecordChangedV1 {
    const TYPE: &'static str = "carebill.accounts.care_record.changed.v1";
    fn subject(&self) -> String {
        format!("care_record/{}", self.record.id)
    }
}

/// `carebill.accounts.episode.opened.v1` (also sent when an episode is reopened).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageChangedV1 {
    /// The patient.
    pub patient_id: PatientId,
    /// The coverage that changed.
    pub coverage_id: CoverageId,
    /// `created`, `updated` or `ended`.
    pub change: String,
    /// The patient's coverages after the change.
    pub coverages: Vec<CoverageRef>,
    /// What claims need of those coverages beyond what consumption events carry (who holds
    /// the policy, the group number), one entry per coverage that has any; absent when none
    /// has, and in events of older versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims: Vec<CoverageClaimFacts>,
    /// When.
    pub changed_at: DateTime<Utc>,
}

/// Who holds a coverage's policy, when it is not the patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageSubscriber {
    /// How the patient relates to the holder (what a claim's SBR02/PAT01 say).
    pub relationship: crate::claim::Relationship,
    /// The holder's member id at the payer, when it is not the coverage's policy number.
    pub member_id: Option<String>,
    /// The holder's family name (required unless `self`).
    pub family_name: Option<String>,
    /// The holder's given name.
    pub given_name: Option<String>,
    /// The holder's birth date (required unless `self`).
    pub birth_date: Option<NaiveDate>,
    /// `female`, `male` or `unknown`.
    pub sex: Option<String>,
    /// The holder's address.
    pub address: Option<PostalAddressRef>,
}

/// What claims need of one coverage beyond [`CoverageRef`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageClaimFacts {
    /// The coverage.
    pub coverage_id: CoverageId,
    /// Who holds the policy; absent when the patient does.
    pub subscriber: Option<CoverageSubscriber>,
    /// The group or plan number of an employer's plan.
    pub group_number: Option<String>,
}

/// `carebill.accounts.patient.changed.v1`: a patient was registered or their details replaced,
/// as they now are (consumers keep the newest, by `changed_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PatientChangedV1 {
    /// The patient.
    pub patient_id: PatientId,
    /// Family name.
    pub family_name: String,
    /// Given name.
    pub given_name: String,
    /// Birth date.
    pub birth_date: Option<NaiveDate>,
    /// `female`, `male`, `other` or `unknown`.
    pub sex: String,
    /// Address; absent when the patient has none.
    pub address: Option<PostalAddressRef>,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
}

impl EventPayload for PatientChangedV1 {
    const TYPE: &'static str = "carebill.accounts.patient.changed.v1";
    fn subject(&self) -> String {
        format!("patient/{}", self.patient_id)
    }
}

impl EventPayload for CoverageChangedV1 {
    const TYPE: &'static str = "carebill.accounts.coverage.changed.v1";
    fn subject(&self) -> String {
        format!("patient/{}", self.patient_id)
    }
}

crate::accounts::text_enum!(
    /// Who a share, an invoice or a payment belongs to.
    PartyKind {
        /// A payer (insurer, company, public authority).
        Payer = "payer",
        /// The patient.
        Patient = "patient",
        /// A carer placed by a care agency (the buyer of its commission invoice).
        Carer = "carer",
    }
);

/// A party that pays: a payer through one of the patient's coverages, or the patient.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PartyRef {
    /// Payer or patient.
    pub kind: PartyKind,
    /// The payer's id or the patient's id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// The payer's code (payers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_code: Option<String>,
    /// The payer's kind (payers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_kind: Option<PayerKind>,
    /// The coverage the payer pays through (payers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_id: Option<CoverageId>,
    /// The policy or member number (payers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_number: Option<String>,
    /// What an invoice to the party names it by: carried by approvals
    /// (`settlement.approved`), as accounts last reported it; absent elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billing: Option<PartyBilling>,
}

impl PartyRef {
    /// The patient as a party.
    pub fn patient(id: PatientId) -> Self {
        PartyRef {
            kind: PartyKind::Patient,
            id: id.0,
            payer_code: None,
            payer_kind: None,
            coverage_id: None,
            policy_number: None,
            billing: None,
        }
    }

    /// A payer, paying through `coverage`.
    pub fn payer(coverage: &CoverageRef) -> Self {
        PartyRef {
            kind: PartyKind::Payer,
            id: coverage.payer_id.0,
            payer_code: Some(coverage.payer_code.clone()),
            payer_kind: Some(coverage.payer_kind),
            coverage_id: Some(coverage.id),
            policy_number: Some(coverage.policy_number.clone()),
            billing: None,
        }
    }

    /// `payer:<id>` or `patient:<id>`: the key balances and shares are kept under.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }
}

/// One party's share of a settled line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettledShare {
    /// The party's key (`PartyRef::key`), one of the settlement's `parties`.
    pub party: String,
    /// The amount; the shares of a line add up to its amount.
    pub amount: Money,
    /// What the share is made of (covered, copay, deductible, coinsurance, not covered,
    /// excluded, cap reached); the parts add up to the share. Absent in events written before
    /// coordination of benefits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<crate::settlement::Part>,
    /// The coordination method the payer paid by (payer shares after the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<crate::settlement::Coordination>,
}

/// A line of an approved settlement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettledLine {
    /// The consumption it prices (one line per consumption).
    pub consumption_id: ConsumptionId,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit of measure.
    pub unit: String,
    /// When it was performed.
    pub performed_at: DateTime<Utc>,
    /// Price of one unit.
    pub unit_price: Money,
    /// Line amount (unit price × quantity, rounded to the currency).
    pub amount: Money,
    /// Who pays what of it (zero shares left out).
    pub shares: Vec<SettledShare>,
    /// The kind of service (the catalog item's); absent in events of older versions and on
    /// lines of billing runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ServiceKind>,
    /// Who performed it, as the clinical system said; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performed_by: Option<String>,
    /// What an electronic claim needs of the line (diagnoses, modifiers, ordering and attending
    /// practitioners); absent when the consumption said none, on lines of billing runs and in
    /// events of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<LineClaimFacts>,
}

/// `carebill.settlement.settlement.approved.v1`: medical audit approved a settlement version;
/// everything invoicing needs to issue one invoice per paying party.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettlementApprovedV1 {
    /// The settlement.
    pub settlement_id: SettlementId,
    /// Its number (the episode number with a sequence).
    pub number: String,
    /// Regular, or supplementary (late consumptions after invoicing).
    pub kind: SettlementKind,
    /// For a supplementary settlement, the one it supplements.
    pub parent_settlement_id: Option<SettlementId>,
    /// The approved version.
    pub version: i32,
    /// The episode with its location and patient.
    pub episode: EpisodeRef,
    /// Currency of every amount.
    pub currency: Currency,
    /// The paying parties, patient last.
    pub parties: Vec<PartyRef>,
    /// The lines with their shares.
    pub lines: Vec<SettledLine>,
    /// Sum of the line amounts.
    pub total: Money,
    /// The auditor.
    pub approved_by: String,
    /// When.
    pub approved_at: DateTime<Utc>,
}

impl EventPayload for SettlementApprovedV1 {
    const TYPE: &'static str = "carebill.settlement.settlement.approved.v1";
    fn subject(&self) -> String {
        format!("settlement/{}", self.settlement_id)
    }
}

/// Where one settlement stands in its workflow, as a dashboard counts it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettlementProgress {
    /// The settlement.
    pub settlement_id: SettlementId,
    /// Its number.
    pub number: String,
    /// Its location's id.
    pub location_id: LocationId,
    /// Its location's code.
    pub location_code: String,
    /// The code of its first payer; none when the patient pays it all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_code: Option<String>,
    /// Where it is.
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "in_review"))]
    pub status: crate::settlement::SettlementStatus,
    /// Its current total; none while nothing is priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
    /// The biller it is assigned to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// Since when it is in its status.
    pub status_since: DateTime<Utc>,
    /// Grows with every change of this settlement: a consumer keeps the state with the highest
    /// sequence, whatever order events arrive in.
    pub sequence: i64,
}

/// `carebill.settlement.settlement.changed.v1`: settlements changed status, total or assignee;
/// each is named with its state after the change. One event carries the settlements a moment's
/// changes touched (sent within a second or two of the change); a settlement may appear again
/// in a later event with the same state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettlementChangedV1 {
    /// The settlements, each as it stands now.
    pub settlements: Vec<SettlementProgress>,
}

impl EventPayload for SettlementChangedV1 {
    const TYPE: &'static str = "carebill.settlement.settlement.changed.v1";
    fn subject(&self) -> String {
        match self.settlements.as_slice() {
            [one] => format!("settlement/{}", one.settlement_id),
            _ => "settlements".to_owned(),
        }
    }
}

/// A line of an issued invoice, as other services see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoicedLine {
    /// The consumption billed.
    pub consumption_id: ConsumptionId,
    /// Catalog code.
    pub code: String,
    /// The amount billed to the recipient.
    pub amount: Money,
}

/// `carebill.invoicing.invoice.issued.v1`: an invoice got its number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvoiceIssuedV1 {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// Its number, unique in its series.
    pub number: String,
    /// The issuing location.
    pub location: LocationRef,
    /// Who is billed.
    pub recipient: PartyRef,
    /// The patient the care was for.
    pub patient_id: PatientId,
    /// The episode.
    pub episode_id: EpisodeId,
    /// The settlement and version it bills.
    pub settlement_id: SettlementId,
    /// The settlement version.
    pub settlement_version: i32,
    /// Lines billed.
    pub lines: Vec<InvoicedLine>,
    /// Total to pay.
    pub total: Money,
    /// Issue date (the location's calendar day).
    pub issue_date: NaiveDate,
    /// Due date.
    pub due_date: NaiveDate,
    /// When.
    pub issued_at: DateTime<Utc>,
    /// The invoice this one replaces, for a corrective invoice: an invoice issued to the party
    /// after a credit note with reissue cancelled the party's invoice of the same settlement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrects_invoice_id: Option<InvoiceId>,
}

impl EventPayload for InvoiceIssuedV1 {
    const TYPE: &'static str = "carebill.invoicing.invoice.issued.v1";
    fn subject(&self) -> String {
        format!("invoice/{}", self.invoice_id)
    }
}

/// `carebill.invoicing.settlement.invoiced.v1`: invoicing is done with a settlement version;
/// lists the invoices issued for it (none when every line was already billed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettlementInvoicedV1 {
    /// The settlement.
    pub settlement_id: SettlementId,
    /// The version invoiced.
    pub settlement_version: i32,
    /// The invoices issued for it.
    pub invoice_ids: Vec<InvoiceId>,
    /// When.
    pub invoiced_at: DateTime<Utc>,
}

impl EventPayload for SettlementInvoicedV1 {
    const TYPE: &'static str = "carebill.invoicing.settlement.invoiced.v1";
    fn subject(&self) -> String {
        format!("settlement/{}", self.settlement_id)
    }
}

/// `carebill.invoicing.credit_note.issued.v1`: an invoice was cancelled by a full credit note.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditNoteIssuedV1 {
    /// The credit note.
    pub credit_note_id: CreditNoteId,
    /// Its number, in the location's credit-note series.
    pub number: String,
    /// The cancelled invoice.
    pub invoice_id: InvoiceId,
    /// Its number.
    pub invoice_number: String,
    /// The issuing location.
    pub location_id: LocationId,
    /// Who the invoice was for.
    pub recipient: PartyRef,
    /// The settlement the invoice billed.
    pub settlement_id: SettlementId,
    /// The settlement version the invoice billed.
    pub settlement_version: i32,
    /// The consumptions no longer billed to this recipient: every line of the invoice for a
    /// full credit note, none for a partial one (its lines stay billed, for less).
    pub consumption_ids: Vec<ConsumptionId>,
    /// Amount credited: for a full credit note what was left of the invoice's total.
    pub total: Money,
    /// A partial credit note reduces the invoice (chosen lines, quantities or amounts) instead
    /// of cancelling it; absent in events of older versions (which were all full).
    #[serde(default)]
    pub partial: bool,
    /// What is credited, line by line (positive amounts); absent in events of older versions
    /// (their lines are the invoice's, in full).
    #[serde(default)]
    pub lines: Vec<CreditedLine>,
    /// What the invoice still bills after this credit note (zero for a full credit note);
    /// absent in events of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_remaining: Option<Money>,
    /// Why.
    pub reason: String,
    /// Whether the settlement is to be corrected and invoiced again.
    pub reissue: bool,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Who.
    pub issued_by: String,
    /// When.
    pub issued_at: DateTime<Utc>,
}

/// One line of a credit note: how much of an invoice line is credited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreditedLine {
    /// The consumption the invoice line bills.
    pub consumption_id: ConsumptionId,
    /// Catalog code.
    pub code: String,
    /// The amount credited to the recipient (positive).
    pub amount: Money,
    /// What the invoice line still bills to the recipient after this credit note.
    pub remaining: Money,
}

impl EventPayload for CreditNoteIssuedV1 {
    const TYPE: &'static str = "carebill.invoicing.credit_note.issued.v1";
    fn subject(&self) -> String {
        format!("invoice/{}", self.invoice_id)
    }
}

/// A document of a batch, as its events list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchDocument {
    /// An invoice or a credit note.
    pub kind: crate::invoicing::BatchDocumentKind,
    /// Its id.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub id: uuid::Uuid,
    /// Its number.
    pub number: String,
    /// Its total (a credit note's: the amount it credits, positive).
    pub total: Money,
}

/// `carebill.invoicing.batch.closed.v1`: a batch of invoices and credit notes got its number;
/// its documents and totals no longer change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchClosedV1 {
    /// The batch.
    pub batch_id: BatchId,
    /// Its number, in the location's batch series.
    pub number: String,
    /// The issuing location.
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// The payer, for a payer's batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_code: Option<String>,
    /// The documents, in the order they were added.
    pub documents: Vec<BatchDocument>,
    /// What its invoices bill.
    pub invoiced: Money,
    /// What its credit notes credit.
    pub credited: Money,
    /// Who closed it.
    pub closed_by: String,
    /// When.
    pub closed_at: DateTime<Utc>,
}

impl EventPayload for BatchClosedV1 {
    const TYPE: &'static str = "carebill.invoicing.batch.closed.v1";
    fn subject(&self) -> String {
        format!("batch/{}", self.batch_id)
    }
}

/// One claim of a sent e-billing: which invoice it bills and under which numbers the payer's
/// answers (999, 277CA, 277, 835) will name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SentClaim {
    /// The claim.
    pub claim_id: EBillingClaimId,
    /// The invoice it bills.
    pub invoice_id: InvoiceId,
    /// CLM01, the patient control number: the invoice's number (835 CLP01, 277 TRN02).
    pub patient_control_number: String,
    /// CLM05-3: `1` original, `7` replacement, `8` void.
    pub frequency: String,
    /// `837P` or `837I`.
    pub format: String,
    /// CLM02: what the claim charges (the lines' whole charges).
    pub charge: Money,
    /// GS06 of its functional group.
    pub group_control_number: u32,
    /// ST02 of its transaction.
    pub transaction_control_number: String,
}

/// `carebill.invoicing.e_billing.sent.v1`: an e-billing's 837 file was taken to be sent to the
/// payer; its claims are submitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EBillingSentV1 {
    /// The e-billing.
    pub e_billing_id: EBillingId,
    /// Its number (BHT03).
    pub number: String,
    /// The billing provider.
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// The payer's code.
    pub payer_code: String,
    /// The payer id the clearinghouse routes on (2010BB NM109; the 835's payer).
    pub payer_id: String,
    /// ISA13 of the 837.
    pub interchange_control_number: u32,
    /// The claims.
    pub claims: Vec<SentClaim>,
    /// Who took the file.
    pub sent_by: String,
    /// When.
    pub sent_at: DateTime<Utc>,
}

impl EventPayload for EBillingSentV1 {
    const TYPE: &'static str = "carebill.invoicing.e_billing.sent.v1";
    fn subject(&self) -> String {
        format!("e-billing/{}", self.e_billing_id)
    }
}

/// `carebill.invoicing.batch.sent.v1`: a closed batch was handed to collections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchSentV1 {
    /// The batch.
    pub batch_id: BatchId,
    /// Its number.
    pub number: String,
    /// The issuing location.
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// The payer, for a payer's batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_code: Option<String>,
    /// The documents.
    pub documents: Vec<BatchDocument>,
    /// What its invoices bill.
    pub invoiced: Money,
    /// What its credit notes credit.
    pub credited: Money,
    /// Who sent it.
    pub sent_by: String,
    /// When.
    pub sent_at: DateTime<Utc>,
}

impl EventPayload for BatchSentV1 {
    const TYPE: &'static str = "carebill.invoicing.batch.sent.v1";
    fn subject(&self) -> String {
        format!("batch/{}", self.batch_id)
    }
}

/// `carebill.accounts.payer.changed.v1`: a payer was created or its details replaced; what
/// invoices to it name it by, as it now is (consumers keep the newest, by `changed_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PayerChangedV1 {
    /// The payer.
    pub payer_id: PayerId,
    /// Its code.
    pub code: String,
    /// What invoices to it name it by.
    pub billing: PartyBilling,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
}

impl EventPayload for PayerChangedV1 {
    const TYPE: &'static str = "carebill.accounts.payer.changed.v1";
    fn subject(&self) -> String {
        format!("payer/{}", self.payer_id)
    }
}

/// `carebill.accounts.location.changed.v1`: a location was created or its details replaced, as
/// it now is (consumers keep the newest, by `changed_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocationChangedV1 {
    /// The location, with what invoices name it by as seller.
    pub location: LocationRef,
    /// What claims name the location by as billing provider (NPI, taxonomy, EIN, place of
    /// service, type of bill per kind of episode); absent when not set, and in events of older
    /// versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<LocationClaims>,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
}

impl EventPayload for LocationChangedV1 {
    const TYPE: &'static str = "carebill.accounts.location.changed.v1";
    fn subject(&self) -> String {
        format!("location/{}", self.location.id)
    }
}

/// Whether a practitioner of the registry is a person or an organisation (claims name them
/// with entity type 1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PractitionerKind {
    /// A person (a physician, a nurse ...).
    Person,
    /// An organisation (a laboratory, a group practice ...).
    Organization,
}

/// An identifier of a practitioner in a namespace (`his`, `national_id`, a licence register).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PractitionerIdentifier {
    /// The namespace; `his` is the code the hospital information system names them by on
    /// consumptions.
    pub system: String,
    /// The value.
    pub value: String,
}

/// A practitioner as the registry holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PractitionerRef {
    /// The practitioner.
    pub id: PractitionerId,
    /// Unique code.
    pub code: String,
    /// Person or organisation.
    pub kind: PractitionerKind,
    /// Family name, or an organisation's name.
    pub family_name: String,
    /// Given name (persons).
    pub given_name: Option<String>,
    /// Middle name or initial (persons).
    pub middle_name: Option<String>,
    /// Suffix, e.g. `Jr` (persons).
    pub suffix: Option<String>,
    /// Credentials, e.g. `MD`, `RN` (persons).
    pub credentials: Option<String>,
    /// National Provider Identifier (10 digits, check digit verified).
    pub npi: Option<String>,
    /// Health care provider taxonomy code, e.g. `207Q00000X`.
    pub taxonomy: Option<String>,
    /// Specialty in words.
    pub specialty: Option<String>,
    /// First day they may be named on care (inclusive).
    pub active_from: Option<NaiveDate>,
    /// Last day they may be named on care (inclusive).
    pub active_to: Option<NaiveDate>,
    /// Other identifiers, one per system.
    pub identifiers: Vec<PractitionerIdentifier>,
}

/// `carebill.accounts.practitioner.changed.v1`: a practitioner was registered or their details
/// replaced, as they now are (consumers keep the newest, by `changed_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PractitionerChangedV1 {
    /// The practitioner.
    pub practitioner: PractitionerRef,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
}

impl EventPayload for PractitionerChangedV1 {
    const TYPE: &'static str = "carebill.accounts.practitioner.changed.v1";
    fn subject(&self) -> String {
        format!("practitioner/{}", self.practitioner.id)
    }
}

/// One diagnosis of an episode's coding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CodedDiagnosis {
    /// ICD-10-CM code, with its dot (`J18.9`).
    pub code: String,
    /// Present on admission (inpatient and long-term stays): `Y`, `N`, `U` or `W`.
    pub present_on_admission: Option<String>,
}

/// How an inpatient or a long-term stay began (NUBC codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdmissionFacts {
    /// Priority (type) of admission: `1` emergency, `2` urgent, `3` elective, `4` newborn, `5`
    /// trauma, `9` unknown.
    #[serde(rename = "type")]
    pub kind: String,
    /// Point of origin: `1` non-health care facility, `2` clinic or physician's office, `4`
    /// transfer from a hospital ...
    pub source: String,
    /// When the patient was admitted.
    pub at: DateTime<Utc>,
}

/// How an inpatient or a long-term stay ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DischargeFacts {
    /// Patient discharge status (NUBC): `01` home, `02` short-term hospital, `03` skilled
    /// nursing facility, `20` expired, `30` still a patient ...
    pub status: String,
    /// When the patient left (absent while still a patient).
    pub at: Option<DateTime<Utc>>,
}

/// What an episode is coded as: its diagnoses (principal first), and for stays how they began
/// and ended; the practitioners claims name for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EpisodeCoding {
    /// Diagnoses in order; the first is the principal one.
    pub diagnoses: Vec<CodedDiagnosis>,
    /// The diagnosis on admission (inpatient and long-term stays).
    pub admitting_diagnosis: Option<String>,
    /// The patient's reasons for an unscheduled outpatient visit (at most 3).
    #[serde(default)]
    pub reason_for_visit: Vec<String>,
    /// How the stay began.
    pub admission: Option<AdmissionFacts>,
    /// How the stay ended.
    pub discharge: Option<DischargeFacts>,
    /// The attending practitioner (registry id).
    pub attending_practitioner_id: Option<PractitionerId>,
    /// The referring practitioner (registry id).
    pub referring_practitioner_id: Option<PractitionerId>,
    /// The operating practitioner (registry id).
    pub operating_practitioner_id: Option<PractitionerId>,
}

/// `carebill.accounts.episode.coded.v1`: an episode's coding changed; the new version whole
/// (consumers keep the highest version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EpisodeCodedV1 {
    /// The episode.
    pub episode_id: EpisodeId,
    /// Its location.
    pub location_id: LocationId,
    /// The coding's version: 1 for the first, one more for each change.
    pub version: i64,
    /// The coding as it now is.
    pub coding: EpisodeCoding,
    /// Why it changed, when the coder said.
    pub reason: Option<String>,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
}

impl EventPayload for EpisodeCodedV1 {
    const TYPE: &'static str = "carebill.accounts.episode.coded.v1";
    fn subject(&self) -> String {
        format!("episode/{}", self.episode_id)
    }
}

/// What claims name a location by as billing provider (US X12 claims).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LocationClaims {
    /// The billing provider's National Provider Identifier.
    pub npi: Option<String>,
    /// The billing provider's taxonomy code.
    pub taxonomy: Option<String>,
    /// The employer identification number (nine digits) claims carry as tax id.
    pub ein: Option<String>,
    /// CMS place of service of professional claims (`11` office, `21` inpatient hospital, `22`
    /// outpatient hospital, `12` home ...).
    pub place_of_service: Option<String>,
    /// Institutional claims' facility type and bill classification (the first two digits of the
    /// type of bill) per kind of episode.
    #[serde(default)]
    pub facility_types: FacilityTypes,
}

/// The first two digits of the type of bill per kind of episode (`11` hospital inpatient, `13`
/// hospital outpatient, `21` skilled nursing inpatient, `32` home health ...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FacilityTypes {
    /// Of inpatient episodes.
    pub inpatient: Option<String>,
    /// Of outpatient episodes.
    pub outpatient: Option<String>,
    /// Of long-term stays.
    pub long_term_stay: Option<String>,
    /// Of home care.
    pub home_care: Option<String>,
}

/// The coding system of a catalog item's billing code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BillingCodeSystem {
    /// CPT (HCPCS level I).
    Cpt,
    /// HCPCS level II.
    Hcpcs,
    /// A national or payer tariff code, for payers whose claims accept one.
    National,
}

/// The unit a claim line counts the item in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum UnitBasis {
    /// Units.
    #[serde(rename = "UN")]
    Units,
    /// Minutes (anaesthesia, professional claims).
    #[serde(rename = "MJ")]
    Minutes,
    /// Days (accommodation, institutional claims).
    #[serde(rename = "DA")]
    Days,
}

/// How claims bill a catalog item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BillingCode {
    /// The coding system.
    pub system: BillingCodeSystem,
    /// The code (`99213`, `J1100`).
    pub code: String,
    /// Procedure modifiers always billed with it (at most 4).
    #[serde(default)]
    pub modifiers: Vec<String>,
    /// The revenue code institutional claims bill it under (`0510` clinic, `0300` laboratory).
    pub revenue_code: Option<String>,
    /// The unit a claim line counts it in (`UN` when absent).
    pub unit_basis: Option<UnitBasis>,
}

/// `carebill.accounts.catalog_item.changed.v1`: a catalog item was created or replaced, with
/// how claims bill it (consumers keep the newest, by `changed_at`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogItemChangedV1 {
    /// The item as consumption events carry it.
    pub item: CatalogItemRef,
    /// Whether it may still be charged.
    pub active: bool,
    /// How claims bill it; absent when not set.
    pub billing_code: Option<BillingCode>,
    /// When it changed.
    pub changed_at: DateTime<Utc>,
}

impl EventPayload for CatalogItemChangedV1 {
    const TYPE: &'static str = "carebill.accounts.catalog_item.changed.v1";
    fn subject(&self) -> String {
        format!("catalog_item/{}", self.item.id)
    }
}

/// Part of a payment applied to one invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AllocationRef {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// Its number.
    pub invoice_number: String,
    /// Amount applied.
    pub amount: Money,
}

/// `carebill.collections.payment.recorded.v1`: money was received (and perhaps allocated).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PaymentRecordedV1 {
    /// The payment.
    pub payment_id: PaymentId,
    /// Who paid.
    pub party: PartyRef,
    /// Amount received.
    pub amount: Money,
    /// Method (transfer, card, cash, ...).
    pub method: String,
    /// Day received.
    pub received_on: NaiveDate,
    /// The payer's reference.
    pub reference: Option<String>,
    /// Where it went.
    pub allocations: Vec<AllocationRef>,
    /// What stays as a credit on the party's balance.
    pub unallocated: Money,
    /// When recorded.
    pub recorded_at: DateTime<Utc>,
}

impl EventPayload for PaymentRecordedV1 {
    const TYPE: &'static str = "carebill.collections.payment.recorded.v1";
    fn subject(&self) -> String {
        format!("payment/{}", self.payment_id)
    }
}

/// `carebill.collections.refund.issued.v1`: money left as a party's credit (of a payment or a
/// prepayment) was paid back to it. The payment's credit after it is never negative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RefundIssuedV1 {
    /// The refund.
    pub refund_id: uuid::Uuid,
    /// The payment (or prepayment) whose credit it pays back.
    pub payment_id: PaymentId,
    /// Who gets it back.
    pub party: PartyRef,
    /// Amount paid back.
    pub amount: Money,
    /// How (transfer, card, cash, ...).
    pub method: String,
    /// The bank or card reference of the refund.
    pub reference: Option<String>,
    /// Why.
    pub reason: String,
    /// What stays of the payment's credit after it.
    pub credit_left: Money,
    /// Who issued it.
    pub issued_by: String,
    /// When.
    pub issued_at: DateTime<Utc>,
}

impl EventPayload for RefundIssuedV1 {
    const TYPE: &'static str = "carebill.collections.refund.issued.v1";
    fn subject(&self) -> String {
        format!("payment/{}", self.payment_id)
    }
}

/// `carebill.collections.write_off.recorded.v1`: part or all of what a receivable still owed was
/// written off (bad debt, small balance, charity); it is no longer collected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WriteOffRecordedV1 {
    /// The write-off.
    pub write_off_id: uuid::Uuid,
    /// The receivable.
    pub receivable_id: crate::ids::ReceivableId,
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// The invoice number.
    pub invoice_number: String,
    /// The issuing location.
    pub location_id: LocationId,
    /// Who owed it.
    pub party: PartyRef,
    /// `bad_debt`, `small_balance` or `charity`.
    pub kind: crate::collections::WriteOffKind,
    /// Amount written off.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// What the receivable still owes after it.
    pub outstanding: Money,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl EventPayload for WriteOffRecordedV1 {
    const TYPE: &'static str = "carebill.collections.write_off.recorded.v1";
    fn subject(&self) -> String {
        format!("receivable/{}", self.receivable_id)
    }
}

/// One receivable of a payment plan, with an amount (what it owed when the plan began, or what
/// it still owes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanReceivable {
    /// The receivable.
    pub receivable_id: crate::ids::ReceivableId,
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// The invoice number.
    pub invoice_number: String,
    /// What it owed when the plan began (`plan.created`) or owes now (`plan.broken`,
    /// `plan.completed`).
    pub owed: Money,
}

/// One installment of a payment plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanInstallment {
    /// Its place in due order, from 1.
    pub seq: u32,
    /// Due on.
    pub due_on: NaiveDate,
    /// Its amount.
    pub amount: Money,
    /// What of it is paid.
    pub paid: Money,
}

/// `carebill.collections.plan.created.v1`: what a party owes on some receivables was split into
/// installments; dunning leaves those receivables alone while the plan is active.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanCreatedV1 {
    /// The plan.
    pub plan_id: uuid::Uuid,
    /// Who owes it.
    pub party: PartyRef,
    /// The receivables and what each owed.
    pub receivables: Vec<PlanReceivable>,
    /// What the plan collects: the sum of the installments.
    pub total: Money,
    /// The installments, in due order.
    pub installments: Vec<PlanInstallment>,
    /// How many installments may be missed before the plan breaks.
    pub missed_allowed: u32,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl EventPayload for PlanCreatedV1 {
    const TYPE: &'static str = "carebill.collections.plan.created.v1";
    fn subject(&self) -> String {
        format!("payment-plan/{}", self.plan_id)
    }
}

/// `carebill.collections.plan.completed.v1`: every installment of a plan is paid (or its
/// receivables owe nothing more).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanCompletedV1 {
    /// The plan.
    pub plan_id: uuid::Uuid,
    /// Who owed it.
    pub party: PartyRef,
    /// The receivables and what each still owes (usually nothing).
    pub receivables: Vec<PlanReceivable>,
    /// What the plan collected: the sum of its installments.
    pub total: Money,
    /// What its receivables were paid since it began.
    pub paid: Money,
    /// The day it was evaluated on.
    pub as_of: NaiveDate,
    /// When.
    pub completed_at: DateTime<Utc>,
}

impl EventPayload for PlanCompletedV1 {
    const TYPE: &'static str = "carebill.collections.plan.completed.v1";
    fn subject(&self) -> String {
        format!("payment-plan/{}", self.plan_id)
    }
}

/// `carebill.collections.plan.broken.v1`: more installments of a plan were missed than
/// allowed; its receivables go back to normal collection (dunning).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlanBrokenV1 {
    /// The plan.
    pub plan_id: uuid::Uuid,
    /// Who owes it.
    pub party: PartyRef,
    /// The receivables and what each still owes.
    pub receivables: Vec<PlanReceivable>,
    /// What they still owe, in all.
    pub outstanding: Money,
    /// The missed installments, with what of each was paid.
    pub missed: Vec<PlanInstallment>,
    /// How many could be missed.
    pub missed_allowed: u32,
    /// The day it was evaluated on.
    pub as_of: NaiveDate,
    /// When.
    pub broken_at: DateTime<Utc>,
}

impl EventPayload for PlanBrokenV1 {
    const TYPE: &'static str = "carebill.collections.plan.broken.v1";
    fn subject(&self) -> String {
        format!("payment-plan/{}", self.plan_id)
    }
}

/// `carebill.collections.adjustment.recorded.v1`: what a receivable owes was raised (a fee,
/// interest) or lowered (a correction).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AdjustmentRecordedV1 {
    /// The adjustment.
    pub adjustment_id: uuid::Uuid,
    /// The receivable.
    pub receivable_id: crate::ids::ReceivableId,
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// The invoice number.
    pub invoice_number: String,
    /// The issuing location.
    pub location_id: LocationId,
    /// Who owes it.
    pub party: PartyRef,
    /// `fee`, `interest` or `correction` (the adjustments a remittance posts, `contractual`,
    /// `patient_responsibility` and `payer_other`, are announced by `remittance.posted`).
    pub kind: crate::collections::plans::AdjustmentKind,
    /// The change, signed: positive raises what is owed.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// What the receivable owes after it.
    pub outstanding: Money,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

impl EventPayload for AdjustmentRecordedV1 {
    const TYPE: &'static str = "carebill.collections.adjustment.recorded.v1";
    fn subject(&self) -> String {
        format!("receivable/{}", self.receivable_id)
    }
}

/// One adjustment of a remitted claim or line: its group (`CO`, `PR`, `OA`, `PI`, `CR`), reason
/// (CARC) and amount, and how much of it was posted to the receivable (the rest explained what
/// was never billed to the payer: see `docs/reference/remittances.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemittedAdjustment {
    /// CAS01.
    pub group: String,
    /// The claim adjustment reason code.
    pub reason: String,
    /// The amount (positive lowered the payment).
    pub amount: Money,
    /// What was posted to the receivable as an adjustment (lowering what it owes).
    pub posted: Money,
    /// The line's control number (REF*6R) for a line's adjustment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
}

/// One service line of a remitted claim (2110).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemittedLine {
    /// REF*6R: the line control number the claim sent.
    pub control_number: Option<String>,
    /// SVC01: the procedure as paid (`HC:99213:25`).
    pub procedure: String,
    /// SVC02.
    pub charge: Money,
    /// SVC03.
    pub paid: Money,
    /// SVC05.
    pub units: Decimal,
    /// LQ*HE remark codes (RARC).
    pub remarks: Vec<String>,
}

/// One claim of a posted remittance that matched an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemittedClaim {
    /// The remittance claim (`/v1/remittance-claims/{id}`).
    pub remittance_claim_id: String,
    /// The invoice it paid.
    pub invoice_id: InvoiceId,
    /// The e-billing claim it answered, when Carebill sent it.
    pub claim_id: Option<crate::ids::EBillingClaimId>,
    /// CLP01.
    pub patient_control_number: String,
    /// CLP07: the payer's claim control number.
    pub payer_claim_number: String,
    /// CLP02 (`1` primary, `2` secondary, `4` denied, `22` reversal ...).
    pub status_code: String,
    /// `posted`, `review` or `denied`.
    pub status: String,
    /// CLP03.
    pub charge: Money,
    /// CLP04.
    pub paid: Money,
    /// CLP05.
    pub patient_responsibility: Money,
    /// The part of the patient's responsibility posted off the payer's receivable: what may
    /// still be billed to the patient.
    pub patient_share: Money,
    /// Every adjustment of the claim and of its lines.
    pub adjustments: Vec<RemittedAdjustment>,
    /// The lines.
    pub lines: Vec<RemittedLine>,
}

/// `carebill.collections.remittance.posted.v1`: a payer's 835 remittance was imported; the
/// claims it matched were paid and adjusted (or flagged as denied or for review). One event per
/// remittance (unmatched claims wait for a person and are not in it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RemittancePostedV1 {
    /// The remittance.
    pub remittance_id: String,
    /// The payer's code (of the invoices it paid), when it matched any.
    pub payer_code: Option<String>,
    /// The payer's id as the 835 gives it (REF*2U, else TRN03).
    pub payer_id: String,
    /// TRN02: the check or EFT trace number.
    pub trace_number: String,
    /// BPR16.
    pub paid_on: NaiveDate,
    /// BPR02.
    pub total: Money,
    /// The claims that matched an invoice, in file order.
    pub claims: Vec<RemittedClaim>,
    /// Who imported it.
    pub posted_by: String,
    /// When.
    pub posted_at: DateTime<Utc>,
}

impl EventPayload for RemittancePostedV1 {
    const TYPE: &'static str = "carebill.collections.remittance.posted.v1";
    fn subject(&self) -> String {
        format!("remittance/{}", self.remittance_id)
    }
}

/// `carebill.collections.reminder.sent.v1`: a payment reminder went out (the mail server or SMS
/// provider accepted it); its fee and interest, if any, were charged to the receivable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReminderSentV1 {
    /// The notice (see `/v1/reminder-notices/{id}`).
    pub notice_id: String,
    /// The receivable reminded of.
    pub receivable_id: crate::ids::ReceivableId,
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// The invoice's number.
    pub invoice_number: String,
    /// Payer or patient.
    pub party_kind: PartyKind,
    /// The payer's or patient's id.
    pub party_id: String,
    /// The policy's level (1 is the first).
    pub level: i64,
    /// The level's name.
    pub level_name: String,
    /// How it went.
    pub channel: crate::dunning::Channel,
    /// What the receivable owed when the run decided the notice.
    pub outstanding: Money,
    /// The level's fee charged.
    pub fee: Money,
    /// Interest charged.
    pub interest: Money,
    /// When it was accepted for delivery.
    pub sent_at: DateTime<Utc>,
}

impl EventPayload for ReminderSentV1 {
    const TYPE: &'static str = "carebill.collections.reminder.sent.v1";
    fn subject(&self) -> String {
        format!("receivable/{}", self.receivable_id)
    }
}

/// A carer as invoices on their behalf name them: the seller of a self-billed invoice and the
/// buyer of a commission invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CarerRef {
    /// Id.
    pub id: CarerId,
    /// The agency's code for the carer (the invoice series of the carer's invoices).
    pub code: String,
    /// Legal name, VAT id, chamber of commerce registration, address, e-mail, bank account.
    pub billing: PartyBilling,
    /// Whether and at which rate VAT is charged on the carer's invoices.
    pub vat: crate::agency::VatStatus,
    /// The self-billing agreements (the invoice takes the one that holds on its date).
    pub agreements: Vec<crate::agency::SelfBillingAgreement>,
}

/// A placement's terms, as they stood when the hours were approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlacementTerms {
    /// The placement.
    pub placement_id: PlacementId,
    /// Its reference.
    pub reference: String,
    /// Hourly tariffs per service type.
    pub tariffs: Vec<HourlyTariff>,
    /// What the agency charges the carer.
    pub commission: crate::agency::Fee,
    /// What the agency charges the client, if anything.
    pub mediation_fee: Option<crate::agency::Fee>,
}

/// The price of an hour of one service type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HourlyTariff {
    /// The service type (a catalog code).
    pub service_type: String,
    /// The rate per hour.
    pub hourly_rate: Money,
}

/// One approved line of hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovedHours {
    /// The line.
    pub hours_id: HoursId,
    /// The date worked.
    pub date: NaiveDate,
    /// Start (`HH:MM`, the location's local time), when registered from–to.
    pub start: Option<String>,
    /// End (`HH:MM`, `24:00` ends the day), when registered from–to.
    pub end: Option<String>,
    /// Minutes worked.
    pub minutes: i64,
    /// Hours worked (minutes / 60).
    pub hours: Decimal,
    /// The service type (a catalog code).
    pub service_type: String,
    /// Its catalog description, as the invoice line names it.
    pub description: String,
    /// Its catalog service group (what business conditions select on).
    pub service_group: String,
    /// The carer's notes.
    pub notes: Option<String>,
}

/// `carebill.accounts.timesheet.approved.v1`: a client approved hours of a carer; they are to be
/// invoiced on the carer's behalf to the paying party, with the agency's fees. One event per
/// decision, with the lines it approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TimesheetApprovedV1 {
    /// The decision.
    pub approval_id: ApprovalId,
    /// The timesheet.
    pub timesheet_id: TimesheetId,
    /// First day of its period.
    pub period_start: NaiveDate,
    /// Last day of its period.
    pub period_end: NaiveDate,
    /// The agency (its location): the seller of commission and mediation-fee invoices.
    pub location: LocationRef,
    /// The carer: the seller of the hours.
    pub carer: CarerRef,
    /// The client the care was for.
    pub client: PartyRef,
    /// The patient, when the client is a person.
    pub patient: Option<PatientRef>,
    /// Who pays for the hours: the client, or a payer (the budget holder or a care provider).
    pub bill_to: PartyRef,
    /// The placement's terms.
    pub terms: PlacementTerms,
    /// Currency of every amount.
    pub currency: Currency,
    /// The approved lines.
    pub lines: Vec<ApprovedHours>,
    /// Who approved: the contact the approval link went to, or the portal user.
    pub approved_by: String,
    /// When.
    pub approved_at: DateTime<Utc>,
    /// The date the invoices carry: the approval's (the agency's local date), or, for an
    /// approval held until the carer had a self-billing agreement, the day it was released.
    pub invoice_date: NaiveDate,
    /// The self-billing agreement that holds on that date: the basis of the invoice.
    pub agreement: crate::agency::SelfBillingAgreement,
}

impl EventPayload for TimesheetApprovedV1 {
    const TYPE: &'static str = "carebill.accounts.timesheet.approved.v1";
    fn subject(&self) -> String {
        format!("timesheet/{}", self.timesheet_id)
    }
}

/// `carebill.settlement.hours.priced.v1`: an approval of a carer's hours priced — each line at
/// its tariff, cut where the agency calendar's rates change and adjusted by the business
/// conditions in force, with the agency's commission and mediation fee. One event per approval;
/// what the invoices on the carer's behalf, the commission invoice and the mediation-fee
/// invoice are made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HoursPricedV1 {
    /// The approval as accounts announced it.
    pub approval: TimesheetApprovedV1,
    /// The prices.
    pub priced: crate::agency::PricedApproval,
    /// The version of the business conditions applied (none: no conditions).
    pub conditions_version: Option<i32>,
    /// When.
    pub priced_at: DateTime<Utc>,
}

impl EventPayload for HoursPricedV1 {
    const TYPE: &'static str = "carebill.settlement.hours.priced.v1";
    fn subject(&self) -> String {
        format!("timesheet/{}", self.approval.timesheet_id)
    }
}

/// `carebill.invoicing.agency-invoice.issued.v1`: an invoice of a care agency got its number
/// (seed 004): the invoice for a carer's approved hours, self-billed on the carer's behalf (UBL
/// 389, the carer as seller), the commission invoice to the carer (one per carer and period),
/// or the mediation-fee invoice to the client (the agency as seller). One event per invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgencyInvoiceIssuedV1 {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// Its number: in the carer's series for hours, else in the agency's.
    pub number: String,
    /// What it bills.
    pub purpose: crate::agency_invoices::AgencyPurpose,
    /// The UNTDID 1001 document type: `389` (self-billed) or `380`.
    pub document_type: String,
    /// The agency (its location), which issued it.
    pub location: LocationRef,
    /// The carer: the seller of the hours, the buyer of the commission.
    pub carer_id: CarerId,
    /// Who is billed.
    pub recipient: PartyRef,
    /// The patient cared for, when the client is a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_id: Option<PatientId>,
    /// The approval of hours it bills; absent on a commission invoice, which bills a period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<ApprovalId>,
    /// The timesheet approved; absent on a commission invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timesheet_id: Option<TimesheetId>,
    /// Every approval it bills: the one of an invoice for hours or a mediation fee, each of the
    /// period for a commission invoice (one line each).
    #[serde(default)]
    pub approvals: Vec<ApprovalId>,
    /// Net amount of the lines.
    pub net: Money,
    /// VAT.
    pub tax_total: Money,
    /// Total to pay.
    pub total: Money,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date.
    pub due_date: NaiveDate,
    /// When.
    pub issued_at: DateTime<Utc>,
}

impl EventPayload for AgencyInvoiceIssuedV1 {
    const TYPE: &'static str = "carebill.invoicing.agency-invoice.issued.v1";
    fn subject(&self) -> String {
        format!("invoice/{}", self.invoice_id)
    }
}

/// `carebill.invoicing.agency-credit-note.issued.v1`: a care agency's invoice was credited
/// (seed 004): a self-billed invoice by a self-billed credit note (UBL 261, in the carer's
/// series), a commission or mediation-fee invoice by a credit note (381, in the agency's).
/// Full (cancels the invoice) or partial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgencyCreditNoteIssuedV1 {
    /// The credit note.
    pub credit_note_id: CreditNoteId,
    /// Its number.
    pub number: String,
    /// The UNTDID 1001 document type: `261` (self-billed) or `381`.
    pub document_type: String,
    /// The invoice credited.
    pub invoice_id: InvoiceId,
    /// Its number.
    pub invoice_number: String,
    /// What the invoice billed.
    pub purpose: crate::agency_invoices::AgencyPurpose,
    /// The agency (its location).
    pub location_id: LocationId,
    /// The carer.
    pub carer_id: CarerId,
    /// Who the invoice was for.
    pub recipient: PartyRef,
    /// The approval of hours the invoice billed; absent for a commission invoice, which bills
    /// a period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<ApprovalId>,
    /// Amount credited (with its VAT).
    pub total: Money,
    /// A partial credit note reduces the invoice; a full one cancels it.
    pub partial: bool,
    /// What the invoice still bills after it (zero for a full credit note).
    pub invoice_remaining: Money,
    /// Why.
    pub reason: String,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Who.
    pub issued_by: String,
    /// When.
    pub issued_at: DateTime<Utc>,
}

impl EventPayload for AgencyCreditNoteIssuedV1 {
    const TYPE: &'static str = "carebill.invoicing.agency-credit-note.issued.v1";
    fn subject(&self) -> String {
        format!("credit-note/{}", self.credit_note_id)
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
        // The payload is kept as text, so an envelope is read from text (as the relay, the
        // broker and the inbox do), not from a tree; the text comes back as it was written.
        let text = serde_json::to_string(&env).expect("text");
        let back: Envelope = serde_json::from_str(&text).expect("back");
        assert_eq!(back, env);
        let back: Envelope = serde_json::from_str(&json.to_string()).expect("back");
        assert_eq!(back.payload::<EpisodeClosedV1>().expect("payload"), payload);
        assert!(back.payload::<ConsumptionVoidedV1>().is_err());
    }
}
