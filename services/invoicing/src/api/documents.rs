//! What invoices and credit notes both show: the issuer, the episode and settlement billed, and
//! their lines, as the API shows them, made from the service's read models.

use carebill_domain::Money;
use carebill_domain::events::LineClaimFacts;
use carebill_domain::ids::{ConsumptionId, EpisodeId, LocationId, SettlementId};
use carebill_domain::settlement::{Coordination, Part};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::service::documents as read;

/// The issuing location as printed on a document.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Issuer {
    /// Location id.
    pub location_id: LocationId,
    /// Location code (the prefix of the document numbers).
    #[schema(example = "H1")]
    pub code: String,
    /// Name.
    #[schema(example = "Hospital Uno")]
    pub name: String,
    /// Tax id of the issuing entity.
    #[schema(example = "ESB12345678")]
    pub tax_id: Option<String>,
}

/// The episode of care billed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EpisodeLink {
    /// Id.
    pub id: EpisodeId,
    /// The HIS's account or encounter number.
    #[schema(example = "ENC-000123")]
    pub number: String,
}

/// The settlement version billed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SettlementLink {
    /// Id.
    pub id: SettlementId,
    /// Number.
    #[schema(example = "ENC-000123-1")]
    pub number: String,
    /// The approved version invoiced.
    pub version: i32,
}

/// The VAT of a line: health care is exempt, unless a tax rule of the location's country says
/// otherwise.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineTax {
    /// UNCL5305 category: `S` (standard or reduced rate), `Z` (zero rated), `E` (exempt), `O`
    /// (outside the scope of VAT).
    #[schema(example = "E")]
    pub category: String,
    /// The rate in percent (0 but for `S`).
    #[schema(example = "0")]
    pub rate: String,
    /// VATEX exemption reason code (`E`, `O`), or empty.
    #[schema(example = "VATEX-EU-132-1B")]
    pub exemption_reason_code: String,
    /// Exemption reason text (`E`, `O`), or empty.
    #[schema(example = "Exempt: hospital and medical care, Art. 132(1)(b) Directive 2006/112/EC")]
    pub exemption_reason: String,
}

/// A line of an invoice or credit note.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Line {
    /// 1-based position on the document.
    pub position: i32,
    /// The consumption billed.
    pub consumption_id: ConsumptionId,
    /// Catalog code.
    #[schema(example = "LAB-HB")]
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Quantity, a decimal string.
    #[schema(example = "1")]
    pub quantity: String,
    /// Unit of measure.
    pub unit: String,
    /// When the service was performed.
    pub performed_at: DateTime<Utc>,
    /// Price of one unit.
    pub unit_price: Money,
    /// Amount of the whole service (every party's share).
    pub line_amount: Money,
    /// The part billed to this document's recipient.
    pub amount: Money,
    /// Tax treatment.
    pub tax: LineTax,
    /// What the amount is made of, as the approved settlement explained it (coordination of
    /// benefits): its parts, which add up to `amount`, and for a payer after the first the
    /// method it paid by. Absent when nothing explains it (lines of older approvals, credit note
    /// lines that only credit an amount).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<InvoiceLineExplanation>,
    /// What an electronic claim needs of the line beyond its code and amount: the diagnoses
    /// and modifiers the clinical system sent with the consumption, and the ordering and
    /// attending practitioners it named. Absent when it said none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<LineClaimFacts>,
}

/// What a line's amount is made of.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceLineExplanation {
    /// The coordination method of a payer after the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Coordination>,
    /// The parts (covered, copay, deductible, coinsurance, not covered, excluded, cap reached).
    pub parts: Vec<Part>,
}

impl Issuer {
    /// A document's issuer as the API shows it.
    pub(crate) fn of(i: &read::Issuer) -> Issuer {
        Issuer {
            location_id: i.location_id,
            code: i.code.clone(),
            name: i.name.clone(),
            tax_id: i.tax_id.clone(),
        }
    }
}

impl EpisodeLink {
    /// The episode billed as the API shows it.
    pub(crate) fn of(e: &read::EpisodeLink) -> EpisodeLink {
        EpisodeLink {
            id: e.id,
            number: e.number.clone(),
        }
    }
}

impl SettlementLink {
    /// The settlement version billed as the API shows it.
    pub(crate) fn of(s: &read::SettlementLink) -> SettlementLink {
        SettlementLink {
            id: s.id,
            number: s.number.clone(),
            version: s.version,
        }
    }
}

impl Line {
    /// A line as the API shows it.
    pub(crate) fn of(l: &read::Line) -> Line {
        Line {
            position: l.position,
            consumption_id: l.consumption_id,
            code: l.code.clone(),
            description: l.description.clone(),
            service_group: l.service_group.clone(),
            quantity: l.quantity.to_string(),
            unit: l.unit.clone(),
            performed_at: l.performed_at,
            unit_price: l.unit_price,
            line_amount: l.line_amount,
            amount: l.amount,
            claim: l.claim.clone(),
            explanation: (!l.parts.is_empty() || l.method.is_some()).then(|| {
                InvoiceLineExplanation {
                    method: l.method,
                    parts: l.parts.clone(),
                }
            }),
            tax: LineTax {
                category: l.tax.category.code().to_owned(),
                rate: l.tax.rate.normalize().to_string(),
                exemption_reason_code: l.tax.exemption_reason_code.clone().unwrap_or_default(),
                exemption_reason: l.tax.exemption_reason.clone().unwrap_or_default(),
            },
        }
    }
}
