//! The print model: what a printed invoice or credit note shows, built by the service that
//! owns the document (from the format-neutral EN 16931 document and what it kept beside it),
//! with the figures already computed. The writers only place and format it; they never add
//! anything up, so a PDF carries the same amounts as the UBL and the JSON to the cent.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

/// What kind of document is printed (its title).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SheetKind {
    /// An invoice.
    Invoice,
    /// An invoice that replaces an earlier one.
    CorrectiveInvoice,
    /// An invoice the buyer (a care agency) made on the seller's (a carer's) behalf.
    SelfBilledInvoice,
    /// A credit note.
    CreditNote,
}

/// A party as printed: a name and the lines under it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Party {
    /// Legal or personal name.
    pub name: String,
    /// Postal address, a line each (street, post code and city, country).
    pub address: Vec<String>,
    /// VAT or tax identifier.
    pub tax_id: Option<String>,
    /// Email address.
    pub email: Option<String>,
}

/// A billed line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Line {
    /// When the service was performed.
    pub date: Option<NaiveDate>,
    /// Catalog code.
    pub code: String,
    /// What was done.
    pub description: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit (visit, hour ...).
    pub unit: String,
    /// Net price per unit.
    pub unit_price: Decimal,
    /// Net amount of the line.
    pub amount: Decimal,
    /// VAT category code (UNCL 5305: S, Z, E, O).
    pub vat_category: String,
    /// VAT rate in percent, for S and Z.
    pub vat_rate: Option<Decimal>,
}

/// One group of the VAT breakdown.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct VatRow {
    /// VAT category code (UNCL 5305).
    pub category: String,
    /// Rate in percent; none outside the scope of VAT.
    pub rate: Option<Decimal>,
    /// Taxable amount.
    pub base: Decimal,
    /// Tax.
    pub tax: Decimal,
    /// Exemption reason, for E and O.
    pub reason: Option<String>,
}

/// The document totals (EN 16931 BT-109, BT-110, BT-112, BT-113, BT-115).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Totals {
    /// Sum of the lines without VAT.
    pub net: Decimal,
    /// VAT.
    pub tax: Decimal,
    /// Total with VAT.
    pub gross: Decimal,
    /// Paid before the document was issued (deposits).
    pub paid: Decimal,
    /// Amount due.
    pub due: Decimal,
}

/// How to pay by credit transfer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Payment {
    /// Account holder.
    pub account_name: Option<String>,
    /// IBAN.
    pub iban: String,
    /// BIC.
    pub bic: Option<String>,
    /// The structured reference to quote (ISO 11649 RF creditor reference).
    pub reference: Option<String>,
}

/// References a layout may choose to print.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct References {
    /// The patient's id (or medical record number).
    pub patient_id: Option<String>,
    /// The policy number the payer knows the care by.
    pub policy_number: Option<String>,
    /// The episode (encounter) number.
    pub episode: Option<String>,
    /// The practitioners who performed the services.
    pub practitioner: Option<String>,
    /// First and last day of service.
    pub service_period: Option<(NaiveDate, NaiveDate)>,
    /// The buyer's reference (BT-10).
    pub buyer_reference: Option<String>,
}

/// A document to print.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Sheet {
    /// Invoice, corrective invoice or credit note.
    pub kind: SheetKind,
    /// Document number.
    pub number: String,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date (invoices).
    pub due_date: Option<NaiveDate>,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Decimals of the currency's minor unit (2 for EUR).
    pub currency_decimals: u32,
    /// Who issues.
    pub seller: Party,
    /// Who is billed.
    pub buyer: Party,
    /// References a layout may print.
    pub references: References,
    /// The invoice corrected or credited: number and issue date.
    pub corrects: Option<(String, NaiveDate)>,
    /// A note (the reason of a credit note).
    pub note: Option<String>,
    /// The lines, in document order.
    pub lines: Vec<Line>,
    /// The VAT breakdown.
    pub vat: Vec<VatRow>,
    /// Totals.
    pub totals: Totals,
    /// Payment terms text.
    pub payment_terms: Option<String>,
    /// Bank transfer details, when the seller gave an account and something is due.
    pub payment: Option<Payment>,
}
