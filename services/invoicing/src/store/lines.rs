//! Document lines: one `document_lines` table for invoices and credit notes, kept by the id of
//! the document they belong to.

use carebill_domain::Currency;
use carebill_domain::ids::ConsumptionId;
use carebill_domain::invoicing::{DocumentLine, LineTax, TaxCategory, money};
use carebill_domain::settlement::{Coordination, Part};
use carebill_domain::stored;
use carebill_platform::Error;
use carebill_platform::db::{AnyConnection, truncate_micros};
use chrono::NaiveDateTime;
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::to_minor;
use crate::schema::document_lines;

/// A stored line of an invoice or a credit note.
#[derive(Debug, Clone, Insertable, Queryable, Selectable)]
#[diesel(table_name = document_lines)]
pub(crate) struct LineRow {
    /// The invoice or credit note.
    pub document_id: String,
    /// 1-based position on the document.
    pub position: i32,
    /// The consumption billed.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub consumption_id: ConsumptionId,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Quantity, a normalised decimal string.
    pub quantity: String,
    /// Unit of measure.
    pub unit: String,
    /// When the service was performed (UTC).
    pub performed_at: NaiveDateTime,
    /// Currency of every amount.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// Price of one unit, in minor units.
    pub unit_price_minor: i64,
    /// Amount of the whole service, in minor units.
    pub line_amount_minor: i64,
    /// The part billed to the document's recipient, in minor units.
    pub amount_minor: i64,
    /// UNCL5305 tax category.
    pub tax_category: String,
    /// VATEX exemption reason code.
    pub tax_exemption_reason_code: String,
    /// Exemption reason text.
    pub tax_exemption_reason: String,
    /// VAT rate in percent (decimal text; 0 for Z, E and O).
    pub tax_rate: String,
    /// What the amount is made of, JSON ([`StoredExplanation`]); NULL when nothing explains it.
    pub explanation: Option<String>,
    /// The kind of service (`ServiceKind` text); NULL when the approval did not say.
    pub service_kind: Option<String>,
    /// Who performed it; NULL when unknown.
    pub performed_by: Option<String>,
    /// What an electronic claim needs of the line, JSON ([`carebill_domain::events::LineClaimFacts`]); NULL when the
    /// approval said nothing.
    pub claim: Option<String>,
}

/// What a line's amount is made of, as kept on the line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredExplanation {
    /// The coordination method (`Coordination` text), for a payer after the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The parts: kind (`PartKind` text) and amount in minor units.
    #[serde(default)]
    pub parts: Vec<(String, i64)>,
}

impl LineRow {
    /// The line as the domain sees it.
    pub(crate) fn domain(&self) -> Result<DocumentLine, Error> {
        let c = self.currency;
        Ok(DocumentLine {
            consumption_id: self.consumption_id,
            code: self.code.clone(),
            description: self.description.clone(),
            service_group: self.service_group.clone(),
            quantity: stored::parse::<Decimal>("line quantity", &self.quantity)
                .map_err(Error::from)?,
            unit: self.unit.clone(),
            performed_at: self.performed_at.and_utc(),
            unit_price: money(self.unit_price_minor, c),
            line_amount: money(self.line_amount_minor, c),
            amount: money(self.amount_minor, c),
            tax: self.tax()?,
            parts: self.parts()?,
            method: self.method()?,
            kind: self
                .service_kind
                .as_deref()
                .map(|k| stored::parse("line service kind", k))
                .transpose()
                .map_err(Error::from)?,
            performed_by: self.performed_by.clone(),
            claim: self
                .claim
                .as_deref()
                .map(|json| stored::json("line claim facts", json))
                .transpose()
                .map_err(Error::from)?,
        })
    }

    fn explained(&self) -> Result<StoredExplanation, Error> {
        match &self.explanation {
            Some(json) => stored::json("line explanation", json).map_err(Error::from),
            None => Ok(StoredExplanation::default()),
        }
    }

    /// The parts of the line's amount, as the approval explained them.
    pub(crate) fn parts(&self) -> Result<Vec<Part>, Error> {
        self.explained()?
            .parts
            .into_iter()
            .map(|(kind, minor)| {
                Ok(Part {
                    kind: stored::parse("line part kind", &kind).map_err(Error::from)?,
                    amount: money(minor, self.currency),
                })
            })
            .collect()
    }

    /// The coordination method of the line's payer, when it was not the first.
    pub(crate) fn method(&self) -> Result<Option<Coordination>, Error> {
        self.explained()?
            .method
            .map(|m| stored::parse("line coordination method", &m).map_err(Error::from))
            .transpose()
    }

    /// The line's VAT as stored.
    pub(crate) fn tax(&self) -> Result<LineTax, Error> {
        let filled = |s: &str| Some(s.to_owned()).filter(|s| !s.trim().is_empty());
        Ok(LineTax {
            category: stored::parse::<TaxCategory>("line tax category", &self.tax_category)
                .map_err(Error::from)?,
            rate: stored::parse::<Decimal>("line tax rate", &self.tax_rate).map_err(Error::from)?,
            exemption_reason_code: filled(&self.tax_exemption_reason_code),
            exemption_reason: filled(&self.tax_exemption_reason),
        })
    }
}

/// Stores the lines of a document, in order, in the caller's transaction.
pub(crate) fn insert(
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
                consumption_id: l.consumption_id,
                code: l.code.clone(),
                description: l.description.clone(),
                service_group: l.service_group.clone(),
                quantity: l.quantity.normalize().to_string(),
                unit: l.unit.clone(),
                performed_at: truncate_micros(l.performed_at.naive_utc()),
                currency: l.amount.currency(),
                unit_price_minor: to_minor(&l.unit_price)?,
                line_amount_minor: to_minor(&l.line_amount)?,
                amount_minor: to_minor(&l.amount)?,
                tax_category: l.tax.category.code().to_owned(),
                tax_exemption_reason_code: l.tax.exemption_reason_code.clone().unwrap_or_default(), // not stored: '' is none
                tax_exemption_reason: l.tax.exemption_reason.clone().unwrap_or_default(), // not stored: '' is none
                tax_rate: l.tax.rate.normalize().to_string(),
                explanation: explanation(l)?,
                service_kind: l.kind.map(|k| k.as_str().to_owned()),
                performed_by: l.performed_by.clone(),
                claim: l.claim.as_ref().map(serde_json::to_string).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    carebill_platform::insert_rows!(conn, document_lines::table, rows);
    Ok(())
}

/// A line's explanation for its column: NULL when nothing explains it.
fn explanation(l: &DocumentLine) -> Result<Option<String>, Error> {
    if l.parts.is_empty() && l.method.is_none() {
        return Ok(None);
    }
    let stored = StoredExplanation {
        method: l.method.map(|m| m.as_str().to_owned()),
        parts: l
            .parts
            .iter()
            .map(|p| Ok((p.kind.as_str().to_owned(), to_minor(&p.amount)?)))
            .collect::<Result<_, Error>>()?,
    };
    Ok(Some(serde_json::to_string(&stored)?))
}

/// The lines of a document, in order.
pub(crate) fn of_document(
    conn: &mut AnyConnection,
    document_id: &str,
) -> Result<Vec<LineRow>, Error> {
    Ok(document_lines::table
        .filter(document_lines::document_id.eq(document_id))
        .order(document_lines::position.asc())
        .select(LineRow::as_select())
        .load(conn)?)
}

/// The lines of these documents, by document and position (500 documents per query).
pub(crate) fn of_documents(
    conn: &mut AnyConnection,
    document_ids: &[String],
) -> Result<Vec<LineRow>, Error> {
    let mut out = Vec::new();
    for chunk in document_ids.chunks(500) {
        out.extend(
            document_lines::table
                .filter(document_lines::document_id.eq_any(chunk))
                .order((
                    document_lines::document_id.asc(),
                    document_lines::position.asc(),
                ))
                .select(LineRow::as_select())
                .load::<LineRow>(conn)?,
        );
    }
    Ok(out)
}
