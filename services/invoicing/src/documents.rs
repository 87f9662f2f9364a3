//! What invoices and credit notes share: the parties and references they print, their lines
//! (one `document_lines` table for both), the stored invoice row, and who may see a document.

use std::str::FromStr;

use carebill_domain::accounts::PayerKind;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::{ConsumptionId, CoverageId, EpisodeId, LocationId, SettlementId};
use carebill_domain::invoicing::{
    DocumentLine, TAX_EXEMPTION_REASON, TAX_EXEMPTION_REASON_CODE, money,
};
use carebill_domain::{Currency, Money};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::AnyConnection;
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::schema::{document_lines, invoices};

/// The service name: event source and consumer queue.
pub const SERVICE: &str = "invoicing";

/// Roles that may read invoices and credit notes (admin always may).
pub const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Payer,
];

/// Roles that may issue credit notes (admin always may).
pub const CREDITORS: &[Role] = &[Role::BillingManager];

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

#[derive(Insertable, Queryable, Selectable)]
#[diesel(table_name = document_lines)]
struct LineRow {
    document_id: String,
    position: i32,
    consumption_id: String,
    code: String,
    description: String,
    service_group: String,
    quantity: String,
    unit: String,
    performed_at: NaiveDateTime,
    currency: String,
    unit_price_minor: i64,
    line_amount_minor: i64,
    amount_minor: i64,
    tax_category: String,
    tax_exemption_reason_code: String,
    tax_exemption_reason: String,
}

/// An amount as stored, refusing what does not fit the column.
pub fn to_minor(m: &Money) -> Result<i64, Error> {
    m.to_minor()
        .map(|v| v.0)
        .map_err(|e| invalid_event(&format!("amount {m}: {e}")))
}

/// A contract breach in an incoming event: retried, then dead-lettered for a person to look at.
pub fn invalid_event(detail: &str) -> Error {
    Error::new(ErrorCode::InvalidEvent, detail.to_owned())
}

/// A stored currency; anything unreadable is a bug, not bad input.
pub fn currency(code: &str) -> Result<Currency, Error> {
    Currency::parse(code).map_err(|e| Error::internal(&e))
}

fn parse_stored<T: FromStr>(what: &str, text: &str) -> Result<T, Error> {
    text.parse()
        .map_err(|_| Error::internal(&format!("stored {what} `{text}` does not parse")))
}

/// Stores the lines of a document, in order, in the caller's transaction.
pub fn insert_lines(
    conn: &mut AnyConnection,
    document_id: &str,
    lines: &[DocumentLine],
) -> Result<(), Error> {
    let rows = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            Ok(LineRow {
                document_id: document_id.to_owned(),
                position: i32::try_from(i + 1).map_err(|e| Error::internal(&e))?,
                consumption_id: l.consumption_id.to_string(),
                code: l.code.clone(),
                description: l.description.clone(),
                service_group: l.service_group.clone(),
                quantity: l.quantity.normalize().to_string(),
                unit: l.unit.clone(),
                performed_at: carebill_platform::db::truncate_micros(l.performed_at.naive_utc()),
                currency: l.amount.currency().code().to_owned(),
                unit_price_minor: to_minor(&l.unit_price)?,
                line_amount_minor: to_minor(&l.line_amount)?,
                amount_minor: to_minor(&l.amount)?,
                tax_category: l.tax_category().to_owned(),
                tax_exemption_reason_code: TAX_EXEMPTION_REASON_CODE.to_owned(),
                tax_exemption_reason: TAX_EXEMPTION_REASON.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    carebill_platform::insert_all!(conn, document_lines::table, rows);
    Ok(())
}

impl LineRow {
    fn domain(&self) -> Result<DocumentLine, Error> {
        let c = currency(&self.currency)?;
        Ok(DocumentLine {
            consumption_id: parse_stored("consumption id", &self.consumption_id)?,
            code: self.code.clone(),
            description: self.description.clone(),
            service_group: self.service_group.clone(),
            quantity: parse_stored::<Decimal>("quantity", &self.quantity)?,
            unit: self.unit.clone(),
            performed_at: self.performed_at.and_utc(),
            unit_price: money(self.unit_price_minor, c),
            line_amount: money(self.line_amount_minor, c),
            amount: money(self.amount_minor, c),
        })
    }

    fn api(&self) -> Result<Line, Error> {
        let d = self.domain()?;
        Ok(Line {
            position: self.position,
            consumption_id: d.consumption_id,
            code: d.code,
            description: d.description,
            service_group: d.service_group,
            quantity: self.quantity.clone(),
            unit: d.unit,
            performed_at: d.performed_at,
            unit_price: d.unit_price,
            line_amount: d.line_amount,
            amount: d.amount,
            tax: LineTax {
                category: self.tax_category.clone(),
                exemption_reason_code: self.tax_exemption_reason_code.clone(),
                exemption_reason: self.tax_exemption_reason.clone(),
            },
        })
    }
}

fn line_rows(conn: &mut AnyConnection, document_id: &str) -> Result<Vec<LineRow>, Error> {
    Ok(document_lines::table
        .filter(document_lines::document_id.eq(document_id))
        .order(document_lines::position.asc())
        .select(LineRow::as_select())
        .load(conn)?)
}

/// The lines of a document as the domain sees them.
pub fn domain_lines(
    conn: &mut AnyConnection,
    document_id: &str,
) -> Result<Vec<DocumentLine>, Error> {
    line_rows(conn, document_id)?
        .iter()
        .map(LineRow::domain)
        .collect()
}

/// The lines of a document as the API shows them.
pub fn api_lines(conn: &mut AnyConnection, document_id: &str) -> Result<Vec<Line>, Error> {
    line_rows(conn, document_id)?
        .iter()
        .map(LineRow::api)
        .collect()
}

/// A stored invoice.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoices)]
pub(crate) struct InvoiceRow {
    pub id: String,
    pub number: String,
    pub status: String,
    pub location_id: String,
    pub location_code: String,
    pub location_name: String,
    pub location_tax_id: Option<String>,
    pub location_time_zone: String,
    pub recipient_kind: String,
    pub recipient_id: String,
    pub payer_code: Option<String>,
    pub payer_kind: Option<String>,
    pub coverage_id: Option<String>,
    pub policy_number: Option<String>,
    pub patient_id: String,
    pub episode_id: String,
    pub episode_number: String,
    pub settlement_id: String,
    pub settlement_number: String,
    pub settlement_version: i32,
    pub currency: String,
    pub total_minor: i64,
    pub tax_total_minor: i64,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub created_at: NaiveDateTime,
    pub issued_at: NaiveDateTime,
    pub cancelled_at: Option<NaiveDateTime>,
    pub credit_note_id: Option<String>,
}

impl InvoiceRow {
    /// Who the invoice is for.
    pub fn recipient(&self) -> Result<PartyRef, Error> {
        Ok(PartyRef {
            kind: parse_stored::<PartyKind>("recipient kind", &self.recipient_kind)?,
            id: parse_stored("recipient id", &self.recipient_id)?,
            payer_code: self.payer_code.clone(),
            payer_kind: self
                .payer_kind
                .as_deref()
                .map(|k| parse_stored::<PayerKind>("payer kind", k))
                .transpose()?,
            coverage_id: self
                .coverage_id
                .as_deref()
                .map(|c| parse_stored::<CoverageId>("coverage id", c))
                .transpose()?,
            policy_number: self.policy_number.clone(),
        })
    }

    /// The total to pay.
    pub fn total(&self) -> Result<Money, Error> {
        Ok(money(self.total_minor, currency(&self.currency)?))
    }

    /// The issuer.
    pub fn issuer(&self) -> Result<Issuer, Error> {
        Ok(Issuer {
            location_id: parse_stored("location id", &self.location_id)?,
            code: self.location_code.clone(),
            name: self.location_name.clone(),
            tax_id: self.location_tax_id.clone(),
        })
    }

    /// The episode billed.
    pub fn episode(&self) -> Result<EpisodeLink, Error> {
        Ok(EpisodeLink {
            id: parse_stored("episode id", &self.episode_id)?,
            number: self.episode_number.clone(),
        })
    }

    /// The settlement version billed.
    pub fn settlement(&self) -> Result<SettlementLink, Error> {
        Ok(SettlementLink {
            id: parse_stored("settlement id", &self.settlement_id)?,
            number: self.settlement_number.clone(),
            version: self.settlement_version,
        })
    }
}

/// Loads an invoice row.
pub(crate) fn invoice_row(conn: &mut AnyConnection, id: &str) -> Result<Option<InvoiceRow>, Error> {
    Ok(invoices::table
        .find(id)
        .select(InvoiceRow::as_select())
        .first(conn)
        .optional()?)
}

/// Which documents a caller may see. A caller limited to locations sees only theirs; a payer's
/// portal user (a token with the `payer` role or a `payer` claim, unless admin) sees only
/// documents addressed to its payer, and none without a payer claim. Anything else is answered
/// as if it did not exist.
#[derive(Debug, Clone)]
pub struct Scope {
    /// Location codes; `None` for every location.
    pub locations: Option<Vec<String>>,
    /// The payer code documents must be addressed to; `None` for every recipient.
    pub payer: Option<String>,
}

impl Scope {
    /// The caller's scope.
    pub fn of(who: &Principal) -> Scope {
        let is_admin = who.roles.contains(&Role::Admin);
        let payer = if !is_admin && (who.roles.contains(&Role::Payer) || who.payer.is_some()) {
            // No payer code is empty, so a payer user without a claim matches nothing.
            Some(who.payer.clone().unwrap_or_default())
        } else {
            None
        };
        Scope {
            locations: who.locations.clone(),
            payer,
        }
    }

    /// Whether a document of this location and payer is visible.
    pub fn allows(&self, location_code: &str, payer_code: Option<&str>) -> bool {
        let location_ok = self
            .locations
            .as_ref()
            .is_none_or(|l| l.iter().any(|c| c == location_code));
        let payer_ok = self.payer.as_deref().is_none_or(|p| payer_code == Some(p));
        location_ok && payer_ok
    }
}
