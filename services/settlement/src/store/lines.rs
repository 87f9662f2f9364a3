//! The stored form of a settlement line: the JSON text of `settlement_lines.data`, apart from
//! the domain's [`PricedLine`] and from the API's line, so that renaming an API field can never
//! change stored data. Field names and order are the stored format: keep them.

use carebill_domain::Money;
use carebill_domain::accounts::ServiceKind;
use carebill_domain::billing::RunLine;
use carebill_domain::conditions::Adjustment;
use carebill_domain::events::{LineClaimFacts, PartyRef};
use carebill_domain::pricing::{LineIssue, LineShare, PricedLine};
use carebill_domain::settlement::{Coordination, OfferUse, Part, PartKind, Reason};
use carebill_platform::Error;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A line issue as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredIssue {
    /// `no_price`, `no_coverage_terms`, `currency_mismatch` or `split_failed`.
    pub code: String,
    /// What to do about it.
    pub message: String,
}

/// A line share as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredShare {
    /// Who pays it.
    pub party: PartyRef,
    /// How much.
    pub amount: Money,
    /// The copay this payer left to those after it (for the patient: the part of the share
    /// that is copay).
    pub copay: Money,
    /// The yearly deductible this payer left to those after it (for the patient: the part of
    /// the share that is deductible); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deductible: Option<Money>,
    /// Why.
    pub reason: Reason,
    /// The coverage terms applied (payers only).
    pub terms_id: Option<String>,
    /// What the share is made of (absent in lines stored before coordination of benefits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<StoredPart>,
    /// The coordination method used (payer shares after the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Coordination>,
}

/// A part of a share as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPart {
    /// What it is.
    pub kind: PartKind,
    /// How much.
    pub amount: Money,
}

/// A line revision as stored (`settlement_lines.data`). Its JSON is what existing databases
/// hold: fields are only ever added (optional), never renamed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredLine {
    /// The consumption it prices.
    pub consumption_id: String,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit.
    pub unit: String,
    /// When it was performed.
    pub performed_at: DateTime<Utc>,
    /// Performing practitioner.
    pub performed_by: Option<String>,
    /// The kind of service; absent in lines stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ServiceKind>,
    /// Price of one unit; absent when no price applies.
    pub unit_price: Option<Money>,
    /// Unit price × quantity, rounded to the currency; absent when unpriced.
    pub amount: Option<Money>,
    /// `price_list` (see `price_id`), `manual` (a biller's price), `package` (included in a
    /// package billed here: zero), `condition` (a line a condition added) or `none`.
    pub price_source: String,
    /// The price-list entry applied.
    pub price_id: Option<String>,
    /// A biller excluded the line from billing.
    pub excluded: bool,
    /// Why a biller changed the line.
    pub override_reason: Option<String>,
    /// Each party's share; they add up to `amount`.
    pub shares: Vec<StoredShare>,
    /// Problems that block approval.
    pub issues: Vec<StoredIssue>,
    /// Business conditions that matched the line, in the order they applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<String>,
    /// How the conditions changed the amount, step by step (from the list price's amount).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adjustments: Vec<Adjustment>,
    /// A line a condition added: the consumption it follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_of: Option<String>,
    /// The condition that sent the line to one party (a payer, or the patient alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party_by_condition: Option<String>,
    /// The package (code) billed in this settlement that includes this line: it is priced at
    /// zero here, the package's own line carries the price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// A periodic settlement's line: the billing run's line it bills (rule, context, care
    /// record, window, correction, explanation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_line: Option<RunLine>,
    /// Units of a prepaid bundle (promotional offer) this line used: they are priced at zero,
    /// the rest of the quantity as usual.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer: Option<OfferUse>,
    /// What an electronic claim needs of the line (diagnoses, modifiers, practitioners), from
    /// its consumption; absent when it said none and in lines stored before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<LineClaimFacts>,
}

impl From<&PricedLine> for StoredLine {
    fn from(l: &PricedLine) -> Self {
        Self {
            consumption_id: l.consumption_id.clone(),
            code: l.code.clone(),
            description: l.description.clone(),
            service_group: l.service_group.clone(),
            quantity: l.quantity,
            unit: l.unit.clone(),
            performed_at: l.performed_at,
            performed_by: l.performed_by.clone(),
            kind: l.kind,
            unit_price: l.unit_price,
            amount: l.amount,
            price_source: l.price_source.clone(),
            price_id: l.price_id.clone(),
            excluded: l.excluded,
            override_reason: l.override_reason.clone(),
            shares: l
                .shares
                .iter()
                .map(|s| StoredShare {
                    party: s.party.clone(),
                    amount: s.amount,
                    copay: s.copay,
                    deductible: s.deductible,
                    reason: s.reason.clone(),
                    terms_id: s.terms_id.clone(),
                    parts: s
                        .parts
                        .iter()
                        .map(|p| StoredPart {
                            kind: p.kind,
                            amount: p.amount,
                        })
                        .collect(),
                    method: s.method,
                })
                .collect(),
            issues: l
                .issues
                .iter()
                .map(|i| StoredIssue {
                    code: i.code.clone(),
                    message: i.message.clone(),
                })
                .collect(),
            conditions: l.conditions.clone(),
            adjustments: l.adjustments.clone(),
            extra_of: l.extra_of.clone(),
            party_by_condition: l.party_by_condition.clone(),
            package: l.package.clone(),
            run_line: l.run_line.clone(),
            offer: l.offer.clone(),
            claim: l.claim.clone(),
        }
    }
}

impl From<StoredLine> for PricedLine {
    fn from(l: StoredLine) -> Self {
        Self {
            consumption_id: l.consumption_id,
            code: l.code,
            description: l.description,
            service_group: l.service_group,
            quantity: l.quantity,
            unit: l.unit,
            performed_at: l.performed_at,
            performed_by: l.performed_by,
            kind: l.kind,
            unit_price: l.unit_price,
            amount: l.amount,
            price_source: l.price_source,
            price_id: l.price_id,
            excluded: l.excluded,
            override_reason: l.override_reason,
            shares: l
                .shares
                .into_iter()
                .map(|s| LineShare {
                    party: s.party,
                    amount: s.amount,
                    copay: s.copay,
                    deductible: s.deductible,
                    reason: s.reason,
                    terms_id: s.terms_id,
                    parts: s
                        .parts
                        .into_iter()
                        .map(|p| Part {
                            kind: p.kind,
                            amount: p.amount,
                        })
                        .collect(),
                    method: s.method,
                })
                .collect(),
            issues: l
                .issues
                .into_iter()
                .map(|i| LineIssue {
                    code: i.code,
                    message: i.message,
                })
                .collect(),
            conditions: l.conditions,
            adjustments: l.adjustments,
            extra_of: l.extra_of,
            party_by_condition: l.party_by_condition,
            package: l.package,
            run_line: l.run_line,
            offer: l.offer,
            claim: l.claim,
        }
    }
}

/// A line's stored JSON text.
pub fn line_data(line: &PricedLine) -> Result<String, Error> {
    Ok(serde_json::to_string(&StoredLine::from(line))?)
}

/// A line read back from its stored JSON text; unreadable JSON is an error naming it.
pub fn read_line(data: &str) -> Result<PricedLine, Error> {
    serde_json::from_str::<StoredLine>(data)
        .map(PricedLine::from)
        .map_err(|e| {
            Error::stored(
                "settlement line",
                &data.chars().take(120).collect::<String>(),
                e,
            )
        })
}
