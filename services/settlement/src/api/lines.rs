//! A settlement line as the API shows it (`SettlementLine`, `LineShare`, `LineIssue` in the
//! OpenAPI document): its own types, made from the domain's [`PricedLine`], so that the API
//! can change without touching what is stored.

use carebill_domain::Money;
use carebill_domain::billing::RunLine;
use carebill_domain::conditions::Adjustment;
use carebill_domain::events::PartyRef;
use carebill_domain::pricing::PricedLine;
use carebill_domain::settlement::{Coordination, OfferUse, PartKind, Reason};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// A problem on a line that blocks approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LineIssue {
    /// `no_price`, `no_coverage_terms`, `currency_mismatch` or `split_failed`.
    #[schema(example = "no_price")]
    pub code: String,
    /// What to do about it.
    pub message: String,
}

/// A part of a share.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SharePart {
    /// What it is.
    pub kind: PartKind,
    /// How much.
    pub amount: Money,
}

/// One party's share of a line, with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LineShare {
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
    /// What the share is made of; the parts add up to the share. The first payer's part is
    /// `covered`; a later payer's parts are the open parts it took over (`copay`,
    /// `deductible`, `coinsurance`, `cap_reached`); the patient's are what is left open, each
    /// withheld amount counted once (`not_covered` or `excluded` when no payer applies).
    /// Empty on lines computed before coordination of benefits.
    pub parts: Vec<SharePart>,
    /// The coordination method used: on every payer share after the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Coordination>,
    /// The coverage terms applied (payers only).
    pub terms_id: Option<String>,
}

/// A priced line of a settlement version.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SettlementLine {
    /// The consumption it prices.
    pub consumption_id: String,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Quantity.
    #[schema(value_type = String, example = "2")]
    pub quantity: Decimal,
    /// Unit.
    pub unit: String,
    /// When it was performed.
    pub performed_at: DateTime<Utc>,
    /// Performing practitioner.
    pub performed_by: Option<String>,
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
    pub shares: Vec<LineShare>,
    /// Problems that block approval.
    pub issues: Vec<LineIssue>,
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
}

impl From<PricedLine> for SettlementLine {
    fn from(l: PricedLine) -> Self {
        Self {
            consumption_id: l.consumption_id,
            code: l.code,
            description: l.description,
            service_group: l.service_group,
            quantity: l.quantity,
            unit: l.unit,
            performed_at: l.performed_at,
            performed_by: l.performed_by,
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
                        .map(|p| SharePart {
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
        }
    }
}

/// The API form of each line.
pub fn shown(lines: Vec<PricedLine>) -> Vec<SettlementLine> {
    lines.into_iter().map(SettlementLine::from).collect()
}
