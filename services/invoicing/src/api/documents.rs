//! What invoices and credit notes both show: the issuer, the episode and settlement billed, and
//! their lines, as the API shows them, made from the stored rows.

use carebill_domain::Money;
use carebill_domain::ids::{ConsumptionId, EpisodeId, LocationId, SettlementId};
use carebill_domain::invoicing::money;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::invoices::InvoiceRow;
use crate::store::lines::LineRow;

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

/// The tax treatment of a line: health care is exempt from VAT.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LineTax {
    /// UNCL5305 category: `E` (exempt).
    #[schema(example = "E")]
    pub category: String,
    /// VATEX exemption reason code.
    #[schema(example = "VATEX-EU-132-1B")]
    pub exemption_reason_code: String,
    /// Exemption reason text.
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
}

impl Issuer {
    /// The invoice's issuer.
    pub(crate) fn of(row: &InvoiceRow) -> Issuer {
        Issuer {
            location_id: row.location_id,
            code: row.location_code.clone(),
            name: row.location_name.clone(),
            tax_id: row.location_tax_id.clone(),
        }
    }
}

impl EpisodeLink {
    /// The episode the invoice bills.
    pub(crate) fn of(row: &InvoiceRow) -> EpisodeLink {
        EpisodeLink {
            id: row.episode_id,
            number: row.episode_number.clone(),
        }
    }
}

impl SettlementLink {
    /// The settlement version the invoice bills.
    pub(crate) fn of(row: &InvoiceRow) -> SettlementLink {
        SettlementLink {
            id: row.settlement_id,
            number: row.settlement_number.clone(),
            version: row.settlement_version,
        }
    }
}

impl Line {
    /// A stored line as the API shows it.
    pub(crate) fn of(row: &LineRow) -> Line {
        let c = row.currency;
        Line {
            position: row.position,
            consumption_id: row.consumption_id,
            code: row.code.clone(),
            description: row.description.clone(),
            service_group: row.service_group.clone(),
            quantity: row.quantity.clone(),
            unit: row.unit.clone(),
            performed_at: row.performed_at.and_utc(),
            unit_price: money(row.unit_price_minor, c),
            line_amount: money(row.line_amount_minor, c),
            amount: money(row.amount_minor, c),
            tax: LineTax {
                category: row.tax_category.clone(),
                exemption_reason_code: row.tax_exemption_reason_code.clone(),
                exemption_reason: row.tax_exemption_reason.clone(),
            },
        }
    }
}
