//! The format-neutral invoice document: the EN 16931 semantic model, built once from an
//! invoice or credit note and read by every writer (UBL today; PDF, FHIR and claims later).
//!
//! The amounts that must agree are computed here and nowhere else: line net amounts
//! (quantity × net price), the VAT breakdown per category and rate, and the document totals
//! BT-106..BT-115. Writers copy them and never add anything up themselves, so every format
//! carries the same figures to the cent. Like EN 16931, VAT is rounded once per breakdown
//! group: tax = round(taxable amount × rate / 100), not summed from rounded line taxes.
//!
//! Whether a document is complete enough to send is a separate question, answered by
//! [`Document::missing`]: each business term a valid document needs and this one lacks, with
//! its BT number and where it belongs, so an API can answer with what to fix instead of
//! emitting a file the receiver rejects.

use std::fmt;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::identifiers::{Bic, CodeList, Country, Iban, SchemeId, VatId};
use crate::money::{Currency, Money};

/// The document type (BT-3, UNTDID 1001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// 380: a commercial invoice.
    CommercialInvoice,
    /// 381: a credit note.
    CreditNote,
    /// 384: a corrective invoice that replaces an earlier one.
    CorrectiveInvoice,
    /// 389: a self-billed invoice (the buyer issues it).
    SelfBilledInvoice,
    /// 261: a self-billed credit note.
    SelfBilledCreditNote,
}

impl DocumentKind {
    /// The UNTDID 1001 code.
    pub fn code(self) -> &'static str {
        match self {
            DocumentKind::CommercialInvoice => "380",
            DocumentKind::CreditNote => "381",
            DocumentKind::CorrectiveInvoice => "384",
            DocumentKind::SelfBilledInvoice => "389",
            DocumentKind::SelfBilledCreditNote => "261",
        }
    }

    /// Whether the document is a credit note (UBL `CreditNote` rather than `Invoice`).
    pub fn is_credit_note(self) -> bool {
        matches!(
            self,
            DocumentKind::CreditNote | DocumentKind::SelfBilledCreditNote
        )
    }

    /// Whether the document refers to an earlier invoice it corrects or cancels.
    pub fn corrects_another(self) -> bool {
        matches!(
            self,
            DocumentKind::CreditNote
                | DocumentKind::SelfBilledCreditNote
                | DocumentKind::CorrectiveInvoice
        )
    }
}

/// A VAT exemption reason (BT-121 code from the VATEX list, BT-120 text); at least one of
/// the two is needed for categories E and O.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExemptionReason {
    /// A VATEX code, e.g. `VATEX-EU-132-1B` (hospital and medical care).
    pub code: Option<String>,
    /// The reason in words.
    pub text: Option<String>,
}

impl ExemptionReason {
    /// A reason given by its VATEX code.
    pub fn code(code: &str) -> Self {
        ExemptionReason {
            code: Some(code.to_owned()),
            text: None,
        }
    }

    fn is_empty(&self) -> bool {
        self.code.as_deref().is_none_or(|c| c.trim().is_empty())
            && self.text.as_deref().is_none_or(|t| t.trim().is_empty())
    }
}

/// The VAT category of a line, allowance or charge (BT-151/BT-95/BT-102, UNCL 5305) with
/// what the category needs: a rate for S, a reason for E and O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VatCategory {
    /// S: standard or reduced rate, in percent (21 for 21 %), greater than zero.
    Standard(Decimal),
    /// Z: zero rated.
    ZeroRated,
    /// E: exempt, e.g. healthcare (`VATEX-EU-132-1B`).
    Exempt(ExemptionReason),
    /// O: outside the scope of VAT; the document then carries no VAT identifier rules.
    OutsideScope(ExemptionReason),
}

impl VatCategory {
    /// The UNCL 5305 code.
    pub fn code(&self) -> &'static str {
        match self {
            VatCategory::Standard(_) => "S",
            VatCategory::ZeroRated => "Z",
            VatCategory::Exempt(_) => "E",
            VatCategory::OutsideScope(_) => "O",
        }
    }

    /// The rate in percent; none for O, which EN 16931 forbids to carry one (BR-O-05).
    pub fn rate(&self) -> Option<Decimal> {
        match self {
            VatCategory::Standard(rate) => Some(*rate),
            VatCategory::ZeroRated | VatCategory::Exempt(_) => Some(Decimal::ZERO),
            VatCategory::OutsideScope(_) => None,
        }
    }

    /// The exemption reason, for E and O.
    pub fn exemption(&self) -> Option<&ExemptionReason> {
        match self {
            VatCategory::Exempt(r) | VatCategory::OutsideScope(r) => Some(r),
            _ => None,
        }
    }

    fn same_group(&self, other: &VatCategory) -> bool {
        self.code() == other.code() && self.rate() == other.rate()
    }
}

/// A postal address (BG-5, BG-8, BG-12 ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostalAddress {
    /// Address line 1 (street and number).
    pub street: Option<String>,
    /// Address line 2.
    pub additional_street: Option<String>,
    /// City.
    pub city: Option<String>,
    /// Post code.
    pub postal_code: Option<String>,
    /// Country subdivision (canton, state).
    pub subdivision: Option<String>,
    /// ISO 3166-1 alpha-2 country.
    pub country: Country,
}

/// A contact point (BG-6, BG-9).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    /// Contact person or department.
    pub name: Option<String>,
    /// Telephone.
    pub telephone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
}

/// Seller (BG-4), buyer (BG-7) or payee (BG-10).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Party {
    /// Legal name (BT-27 / BT-44 / BT-59).
    pub legal_name: Option<String>,
    /// Trading name (BT-28 / BT-45).
    pub trading_name: Option<String>,
    /// VAT identifier (BT-31 / BT-48).
    pub vat_id: Option<VatId>,
    /// Legal registration identifier with its ICD scheme (BT-30 / BT-47 / BT-61).
    pub legal_registration: Option<SchemeId>,
    /// Electronic address with its EAS scheme (BT-34 / BT-49); Peppol needs one of its
    /// routable schemes (an e-mail address under `EM` is reported by [`Document::missing`]).
    pub endpoint: Option<SchemeId>,
    /// Postal address (BG-5 / BG-8).
    pub address: Option<PostalAddress>,
    /// Contact (BG-6 / BG-9).
    pub contact: Option<Contact>,
}

/// The invoice a credit note or corrective invoice refers to (BG-3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrecedingInvoice {
    /// Its number (BT-25).
    pub number: String,
    /// Its issue date (BT-26).
    pub issue_date: Option<NaiveDate>,
}

/// Payment instructions (BG-16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentInstructions {
    /// Payment means type code (BT-81, UNCL 4461): `30` credit transfer, `58` SEPA credit
    /// transfer, `49` direct debit, `10` cash ...
    pub means_code: String,
    /// Remittance information (BT-83): what the payer quotes with the payment.
    pub remittance: Option<String>,
    /// Account to pay to (BT-84).
    pub iban: Option<Iban>,
    /// Account name (BT-85).
    pub account_name: Option<String>,
    /// Bank of that account (BT-86).
    pub bic: Option<Bic>,
}

impl PaymentInstructions {
    fn is_credit_transfer(&self) -> bool {
        matches!(self.means_code.as_str(), "30" | "58")
    }
}

/// The parts of the document header that do not affect any amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Document type (BT-3).
    pub kind: DocumentKind,
    /// Document number (BT-1).
    pub number: String,
    /// Issue date (BT-2).
    pub issue_date: NaiveDate,
    /// Payment due date (BT-9).
    pub due_date: Option<NaiveDate>,
    /// Buyer reference (BT-10); Peppol needs it or an order reference.
    pub buyer_reference: Option<String>,
    /// The invoice this one corrects (BG-3).
    pub preceding: Option<PrecedingInvoice>,
    /// Payment terms in words (BT-20).
    pub payment_terms: Option<String>,
    /// A free-text note (BT-22).
    pub note: Option<String>,
}

/// Why a document could not be built: an input that no amount can be computed from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// An amount in another currency than the document's.
    #[error("{what} is in {found}, the document in {expected}")]
    CurrencyMismatch {
        /// Which amount.
        what: String,
        /// Its currency.
        found: Currency,
        /// The document's.
        expected: Currency,
    },
    /// A standard rate of zero or less, or of 100 % or more.
    #[error("{what}: a standard VAT rate must be above 0 and below 100 percent, not {rate}")]
    InvalidRate {
        /// Which line, allowance or charge.
        what: String,
        /// The rate given.
        rate: Decimal,
    },
    /// An amount too large to compute with.
    #[error("{0}: amount out of range")]
    OutOfRange(String),
    /// A negative price or allowance/charge amount: EN 16931 wants them positive (BR-27,
    /// BR-31, BR-36); a reduction is an allowance, a return a negative quantity.
    #[error("{what}: {term} must not be negative, not {amount}")]
    Negative {
        /// Which line, allowance or charge.
        what: String,
        /// The business term, e.g. `BT-146 Item net price`.
        term: &'static str,
        /// The amount given.
        amount: Decimal,
    },
    /// Amounts outside the scope of VAT (O) mixed with taxed, zero-rated or exempt ones: a
    /// document is either wholly outside the scope of VAT or not at all (BR-O-11..14).
    #[error(
        "a document with amounts outside the scope of VAT (O) cannot have other VAT categories"
    )]
    OutsideScopeMixed,
}

/// An invoice or credit note line (BG-25). The net amount is computed from quantity and
/// price, so it cannot disagree with them (PEPPOL-EN16931-R120).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Line identifier (BT-126).
    pub id: String,
    /// Unit of measure, UN/ECE Recommendation 20 code (BT-130), e.g. `C62` (one), `HUR`
    /// (hour), `DAY`.
    pub unit_code: String,
    /// Item name (BT-153).
    pub item_name: String,
    /// Item description (BT-154).
    pub item_description: Option<String>,
    /// VAT category and rate of the item (BT-151, BT-152).
    pub vat: VatCategory,
    // Quantity and price make the net amount: private, so they cannot drift apart.
    quantity: Decimal,
    net_price: Decimal,
    net_amount: Money,
}

impl Line {
    /// A line of `quantity` × `net_price` (BT-146, any precision), its net amount (BT-131)
    /// rounded to the currency's minor unit.
    pub fn new(
        id: &str,
        quantity: Decimal,
        unit_code: &str,
        net_price: Money,
        item_name: &str,
        vat: VatCategory,
    ) -> Result<Line, DocumentError> {
        Self::with_price(
            id,
            quantity,
            unit_code,
            net_price.amount(),
            net_price.currency(),
            item_name,
            vat,
        )
    }

    /// Like [`Line::new`], for a price with more decimals than the currency's minor unit.
    pub fn with_price(
        id: &str,
        quantity: Decimal,
        unit_code: &str,
        net_price: Decimal,
        currency: Currency,
        item_name: &str,
        vat: VatCategory,
    ) -> Result<Line, DocumentError> {
        check_rate(&vat, || format!("line {id}"))?;
        if net_price < Decimal::ZERO {
            return Err(DocumentError::Negative {
                what: format!("line {id}"),
                term: "BT-146 Item net price",
                amount: net_price,
            });
        }
        let exact = quantity
            .checked_mul(net_price)
            .ok_or_else(|| DocumentError::OutOfRange(format!("line {id}")))?;
        Ok(Line {
            id: id.to_owned(),
            quantity,
            unit_code: unit_code.to_owned(),
            item_name: item_name.to_owned(),
            item_description: None,
            vat,
            net_price,
            net_amount: Money::round(exact, currency),
        })
    }

    /// The same line with an item description.
    pub fn described(mut self, description: &str) -> Line {
        self.item_description = Some(description.to_owned());
        self
    }

    /// Invoiced quantity (BT-129); negative for a return.
    pub fn quantity(&self) -> Decimal {
        self.quantity
    }

    /// Item net price (BT-146).
    pub fn net_price(&self) -> Decimal {
        self.net_price
    }

    /// Line net amount (BT-131).
    pub fn net_amount(&self) -> Money {
        self.net_amount
    }
}

fn check_rate(vat: &VatCategory, what: impl Fn() -> String) -> Result<(), DocumentError> {
    if let VatCategory::Standard(rate) = vat
        && (*rate <= Decimal::ZERO || *rate >= Decimal::ONE_HUNDRED)
    {
        return Err(DocumentError::InvalidRate {
            what: what(),
            rate: *rate,
        });
    }
    Ok(())
}

/// A document-level allowance (BG-20) or charge (BG-21).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowanceCharge {
    /// True for a charge, false for an allowance (a discount).
    pub is_charge: bool,
    /// The amount (BT-92 / BT-99), positive.
    pub amount: Money,
    /// Reason in words (BT-97 / BT-104).
    pub reason: Option<String>,
    /// Reason code (BT-98 UNCL 5189 / BT-105 UNCL 7161).
    pub reason_code: Option<String>,
    /// VAT category and rate (BT-95, BT-96 / BT-102, BT-103).
    pub vat: VatCategory,
}

/// One group of the VAT breakdown (BG-23): all amounts of one category and rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VatBreakdown {
    /// Category code, rate and (for E and O) exemption reason (BT-118, BT-119, BT-120/121).
    pub category: VatCategory,
    /// Taxable amount (BT-116): line net amounts plus charges minus allowances.
    pub taxable: Money,
    /// Tax amount (BT-117): round(taxable × rate / 100).
    pub tax: Money,
}

/// The document totals (BG-22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Sum of line net amounts (BT-106).
    pub line_net: Money,
    /// Sum of allowances (BT-107).
    pub allowances: Money,
    /// Sum of charges (BT-108).
    pub charges: Money,
    /// Total without VAT (BT-109) = BT-106 − BT-107 + BT-108.
    pub without_vat: Money,
    /// Total VAT (BT-110) = sum of the breakdown's tax amounts.
    pub vat: Money,
    /// Total with VAT (BT-112) = BT-109 + BT-110.
    pub with_vat: Money,
    /// Paid amount (BT-113): Carebill issues documents before any payment, so zero.
    pub prepaid: Money,
    /// Rounding amount (BT-114): zero, amounts are exact in the minor unit.
    pub rounding: Money,
    /// Amount due for payment (BT-115) = BT-112 − BT-113 + BT-114.
    pub due: Money,
}

/// The EN 16931 document. Parties, header and payment instructions may be changed freely;
/// lines, allowances and charges are fixed at construction because the breakdown and totals
/// are computed from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Type, number, dates, references, terms.
    pub header: Header,
    /// Seller (BG-4): the issuing location.
    pub seller: Party,
    /// Buyer (BG-7): the patient or the payer.
    pub buyer: Party,
    /// Payee (BG-10), when someone other than the seller receives the payment.
    pub payee: Option<Party>,
    /// Payment instructions (BG-16).
    pub payment: Option<PaymentInstructions>,
    currency: Currency,
    lines: Vec<Line>,
    allowances_charges: Vec<AllowanceCharge>,
    breakdown: Vec<VatBreakdown>,
    totals: Totals,
}

impl Document {
    /// Builds a document and computes its VAT breakdown and totals. Fails only on inputs no
    /// amount can be computed from (another currency, an impossible rate, overflow);
    /// incompleteness is reported by [`Document::missing`].
    pub fn new(
        header: Header,
        currency: Currency,
        seller: Party,
        buyer: Party,
        lines: Vec<Line>,
        allowances_charges: Vec<AllowanceCharge>,
    ) -> Result<Document, DocumentError> {
        let overflow = |what: &str| DocumentError::OutOfRange(what.to_owned());
        let mut groups: Vec<(VatCategory, Decimal)> = Vec::new();
        let mut add = |vat: &VatCategory, amount: Decimal| -> Result<(), DocumentError> {
            match groups.iter_mut().find(|(c, _)| c.same_group(vat)) {
                Some((category, sum)) => {
                    // The first E or O contributor without a reason should not hide a later
                    // one's: the group reports the first reason given.
                    if category.exemption().is_some_and(ExemptionReason::is_empty)
                        && vat.exemption().is_some_and(|r| !r.is_empty())
                    {
                        *category = vat.clone();
                    }
                    *sum = sum
                        .checked_add(amount)
                        .ok_or_else(|| overflow("VAT breakdown"))?;
                }
                None => groups.push((vat.clone(), amount)),
            }
            Ok(())
        };

        let mut line_net = Decimal::ZERO;
        for line in &lines {
            if line.net_amount.currency() != currency {
                return Err(DocumentError::CurrencyMismatch {
                    what: format!("line {}", line.id),
                    found: line.net_amount.currency(),
                    expected: currency,
                });
            }
            let amount = line.net_amount.amount();
            line_net = line_net
                .checked_add(amount)
                .ok_or_else(|| overflow("line net total"))?;
            add(&line.vat, amount)?;
        }
        let mut allowances = Decimal::ZERO;
        let mut charges = Decimal::ZERO;
        for (i, ac) in allowances_charges.iter().enumerate() {
            let what = || {
                format!(
                    "{} {}",
                    if ac.is_charge { "charge" } else { "allowance" },
                    i + 1
                )
            };
            if ac.amount.currency() != currency {
                return Err(DocumentError::CurrencyMismatch {
                    what: what(),
                    found: ac.amount.currency(),
                    expected: currency,
                });
            }
            check_rate(&ac.vat, what)?;
            if ac.amount.amount() < Decimal::ZERO {
                return Err(DocumentError::Negative {
                    what: what(),
                    term: if ac.is_charge {
                        "BT-99 Document level charge amount"
                    } else {
                        "BT-92 Document level allowance amount"
                    },
                    amount: ac.amount.amount(),
                });
            }
            let amount = Money::round(ac.amount.amount(), currency).amount();
            if ac.is_charge {
                charges = charges
                    .checked_add(amount)
                    .ok_or_else(|| overflow("charges"))?;
                add(&ac.vat, amount)?;
            } else {
                allowances = allowances
                    .checked_add(amount)
                    .ok_or_else(|| overflow("allowances"))?;
                add(&ac.vat, -amount)?;
            }
        }

        let outside = groups
            .iter()
            .filter(|(c, _)| matches!(c, VatCategory::OutsideScope(_)))
            .count();
        if outside > 0 && groups.len() > outside {
            return Err(DocumentError::OutsideScopeMixed);
        }
        let mut breakdown = Vec::with_capacity(groups.len());
        let mut vat = Decimal::ZERO;
        for (category, taxable) in groups {
            let rate = category.rate().unwrap_or(Decimal::ZERO);
            let exact =
                taxable.checked_mul(rate).ok_or_else(|| overflow("VAT"))? / Decimal::ONE_HUNDRED;
            let tax = Money::round(exact, currency);
            vat = vat
                .checked_add(tax.amount())
                .ok_or_else(|| overflow("VAT total"))?;
            breakdown.push(VatBreakdown {
                category,
                taxable: Money::round(taxable, currency),
                tax,
            });
        }

        let without_vat = line_net
            .checked_sub(allowances)
            .and_then(|v| v.checked_add(charges))
            .ok_or_else(|| overflow("total without VAT"))?;
        let with_vat = without_vat
            .checked_add(vat)
            .ok_or_else(|| overflow("total with VAT"))?;
        let money = |d: Decimal| Money::round(d, currency);
        let totals = Totals {
            line_net: money(line_net),
            allowances: money(allowances),
            charges: money(charges),
            without_vat: money(without_vat),
            vat: money(vat),
            with_vat: money(with_vat),
            prepaid: Money::zero(currency),
            rounding: Money::zero(currency),
            due: money(with_vat),
        };
        Ok(Document {
            header,
            seller,
            buyer,
            payee: None,
            payment: None,
            currency,
            lines,
            allowances_charges,
            breakdown,
            totals,
        })
    }

    /// The credit note that cancels `invoice` in full: the same parties, lines, allowances and
    /// charges, hence the same breakdown and totals, referring to the invoice (BG-3). The
    /// invoice's payment instructions are not carried over: they say where the buyer pays,
    /// and a credit note is paid, if at all, the other way.
    pub fn credit_note_for(invoice: &Document, number: &str, issue_date: NaiveDate) -> Document {
        let kind = match invoice.header.kind {
            DocumentKind::SelfBilledInvoice => DocumentKind::SelfBilledCreditNote,
            _ => DocumentKind::CreditNote,
        };
        let mut credit = invoice.clone();
        credit.payment = None;
        credit.header = Header {
            kind,
            number: number.to_owned(),
            issue_date,
            due_date: None,
            buyer_reference: invoice.header.buyer_reference.clone(),
            preceding: Some(PrecedingInvoice {
                number: invoice.header.number.clone(),
                issue_date: Some(invoice.header.issue_date),
            }),
            // BR-CO-25 wants terms for any positive amount due, credit notes included.
            payment_terms: Some(format!(
                "Credits invoice {} in full.",
                invoice.header.number
            )),
            note: invoice.header.note.clone(),
        };
        credit
    }

    /// Document currency (BT-5).
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// The lines (BG-25).
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// Document-level allowances and charges (BG-20, BG-21).
    pub fn allowances_charges(&self) -> &[AllowanceCharge] {
        &self.allowances_charges
    }

    /// The VAT breakdown (BG-23), one group per category and rate, in order of first use.
    pub fn breakdown(&self) -> &[VatBreakdown] {
        &self.breakdown
    }

    /// The totals (BG-22).
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Whether the document is outside the scope of VAT (category O). Such a document
    /// carries no VAT identifiers at all (BR-O-02..04): writers leave the parties' out.
    pub fn is_outside_vat_scope(&self) -> bool {
        self.breakdown
            .iter()
            .any(|b| matches!(b.category, VatCategory::OutsideScope(_)))
    }

    /// Each business term a valid EN 16931 / Peppol BIS 3.0 document needs and this one
    /// lacks (in document order), then each code its code list does not know. Empty when the
    /// document can be sent.
    pub fn missing(&self) -> Vec<MissingTerm> {
        let mut report = Report::default();
        let mut need = |present: bool, term: &'static str, name: &'static str, at: Part| {
            report.need(present, term, name, at);
        };
        let h = &self.header;
        need(
            !h.number.trim().is_empty(),
            "BT-1",
            "Invoice number",
            Part::Document,
        );
        // PEPPOL-EN16931-R003: a buyer reference or an order reference; Carebill has no
        // orders, so the buyer reference it is.
        need(
            filled(&h.buyer_reference),
            "BT-10",
            "Buyer reference",
            Part::Document,
        );
        // BR-CO-25: an amount to pay needs a due date or payment terms.
        need(
            self.totals.due.amount() <= Decimal::ZERO
                || h.due_date.is_some()
                || filled(&h.payment_terms),
            "BT-9",
            "Payment due date (or BT-20 Payment terms)",
            Part::Document,
        );
        if h.kind.corrects_another() {
            need(
                h.preceding
                    .as_ref()
                    .is_some_and(|p| !p.number.trim().is_empty()),
                "BT-25",
                "Preceding Invoice reference",
                Part::Document,
            );
        }

        let seller = &self.seller;
        need(
            filled(&seller.legal_name),
            "BT-27",
            "Seller name",
            Part::Seller,
        );
        // BR-S-02, BR-Z-02, BR-E-02: any taxed, zero-rated or exempt amount needs the
        // seller's VAT identifier; BR-CO-26: without it, a legal registration id.
        let needs_vat_id = self
            .breakdown
            .iter()
            .any(|b| !matches!(b.category, VatCategory::OutsideScope(_)));
        if needs_vat_id {
            need(
                seller.vat_id.is_some(),
                "BT-31",
                "Seller VAT identifier",
                Part::Seller,
            );
        } else {
            need(
                seller.vat_id.is_some() || seller.legal_registration.is_some(),
                "BT-30",
                "Seller legal registration identifier",
                Part::Seller,
            );
        }
        // PEPPOL-EN16931-R020/R010 and CL008: an address Peppol can route to.
        let routable = |p: &Party| {
            p.endpoint
                .as_ref()
                .is_some_and(|e| e.scheme().is_peppol_endpoint())
        };
        need(
            routable(seller),
            "BT-34",
            "Seller electronic address",
            Part::Seller,
        );
        need(
            seller.address.is_some(),
            "BG-5",
            "Seller postal address",
            Part::Seller,
        );

        let buyer = &self.buyer;
        need(
            filled(&buyer.legal_name),
            "BT-44",
            "Buyer name",
            Part::Buyer,
        );
        need(
            routable(buyer),
            "BT-49",
            "Buyer electronic address",
            Part::Buyer,
        );
        need(
            buyer.address.is_some(),
            "BG-8",
            "Buyer postal address",
            Part::Buyer,
        );
        if let Some(payee) = &self.payee {
            need(
                filled(&payee.legal_name),
                "BT-59",
                "Payee name",
                Part::Payee,
            );
        }
        if let Some(payment) = &self.payment {
            need(
                !payment.means_code.trim().is_empty(),
                "BT-81",
                "Payment means type code",
                Part::Payment,
            );
            need(
                !payment.is_credit_transfer() || payment.iban.is_some(),
                "BT-84",
                "Payment account identifier",
                Part::Payment,
            );
        }

        need(
            !self.lines.is_empty(),
            "BG-25",
            "Invoice line",
            Part::Document,
        );
        for line in &self.lines {
            let at = || Part::Line(line.id.clone());
            need(
                !line.id.trim().is_empty(),
                "BT-126",
                "Invoice line identifier",
                at(),
            );
            need(
                !line.unit_code.trim().is_empty(),
                "BT-130",
                "Invoiced quantity unit of measure code",
                at(),
            );
            need(
                !line.item_name.trim().is_empty(),
                "BT-153",
                "Item name",
                at(),
            );
            need(
                line.vat.exemption().is_none_or(|r| !r.is_empty()),
                "BT-121",
                "VAT exemption reason code (or BT-120 text)",
                at(),
            );
        }
        for (i, ac) in self.allowances_charges.iter().enumerate() {
            let has_reason = filled(&ac.reason) || filled(&ac.reason_code);
            if ac.is_charge {
                need(
                    has_reason,
                    "BT-104",
                    "Document level charge reason (or BT-105 code)",
                    Part::Charge(i + 1),
                );
            } else {
                need(
                    has_reason,
                    "BT-97",
                    "Document level allowance reason (or BT-98 code)",
                    Part::Allowance(i + 1),
                );
            }
            need(
                ac.vat.exemption().is_none_or(|r| !r.is_empty()),
                "BT-121",
                "VAT exemption reason code (or BT-120 text)",
                if ac.is_charge {
                    Part::Charge(i + 1)
                } else {
                    Part::Allowance(i + 1)
                },
            );
        }
        // Codes the receiver checks against EN 16931's code lists (BR-CL-16/19/20/22/23).
        if let Some(payment) = &self.payment {
            report.code(
                Some(&payment.means_code),
                CodeList::PaymentMeans,
                ("BT-81", "Payment means type code"),
                Part::Payment,
            );
        }
        for line in &self.lines {
            let at = || Part::Line(line.id.clone());
            report.code(
                Some(&line.unit_code),
                CodeList::UnitOfMeasure,
                ("BT-130", "Invoiced quantity unit of measure code"),
                at(),
            );
            report.code(
                line.vat.exemption().and_then(|r| r.code.as_deref()),
                CodeList::VatExemptionReason,
                ("BT-121", "VAT exemption reason code"),
                at(),
            );
        }
        for (i, ac) in self.allowances_charges.iter().enumerate() {
            let (list, term, at) = if ac.is_charge {
                (
                    CodeList::ChargeReason,
                    ("BT-105", "Document level charge reason code"),
                    Part::Charge(i + 1),
                )
            } else {
                (
                    CodeList::AllowanceReason,
                    ("BT-98", "Document level allowance reason code"),
                    Part::Allowance(i + 1),
                )
            };
            report.code(ac.reason_code.as_deref(), list, term, at.clone());
            report.code(
                ac.vat.exemption().and_then(|r| r.code.as_deref()),
                CodeList::VatExemptionReason,
                ("BT-121", "VAT exemption reason code"),
                at,
            );
        }
        report.out
    }
}

/// Collects the gaps [`Document::missing`] finds.
#[derive(Default)]
struct Report {
    out: Vec<MissingTerm>,
}

impl Report {
    fn need(&mut self, present: bool, term: &'static str, name: &'static str, at: Part) {
        if !present {
            self.out.push(MissingTerm {
                term,
                name,
                at,
                gap: Gap::Absent,
            });
        }
    }

    /// A code that is given but not on its list; an absent one is `need`'s business.
    fn code(
        &mut self,
        code: Option<&str>,
        list: CodeList,
        (term, name): (&'static str, &'static str),
        at: Part,
    ) {
        if let Some(code) = code.map(str::trim).filter(|c| !c.is_empty())
            && !list.contains(code)
        {
            self.out.push(MissingTerm {
                term,
                name,
                at,
                gap: Gap::NotOnList {
                    value: code.to_owned(),
                    list,
                },
            });
        }
    }
}

fn filled(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.trim().is_empty())
}

/// Where a missing business term belongs: the resource a person must complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The document itself (numbering, references, terms).
    Document,
    /// The seller: the issuing location's master data.
    Seller,
    /// The buyer: the patient or the payer.
    Buyer,
    /// The payee.
    Payee,
    /// The payment instructions: the location's bank account and payment means.
    Payment,
    /// The line with this identifier.
    Line(String),
    /// The n-th document-level allowance (from 1).
    Allowance(usize),
    /// The n-th document-level charge (from 1).
    Charge(usize),
}

/// A business term a valid document needs and this one lacks, or has only with a code the
/// standard's code list does not know (which the receiver treats the same).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingTerm {
    /// Its EN 16931 number, e.g. `BT-31` (or `BG-5` for a whole group).
    pub term: &'static str,
    /// Its EN 16931 name, e.g. `Seller VAT identifier`.
    pub name: &'static str,
    /// Where it belongs.
    pub at: Part,
    /// Absent, or present with an unknown code.
    pub gap: Gap,
}

/// What is wrong with a business term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gap {
    /// Not there at all.
    Absent,
    /// There, but not a code of its list.
    NotOnList {
        /// The value given.
        value: String,
        /// The list it should come from.
        list: CodeList,
    },
}

impl fmt::Display for MissingTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.term, self.name)?;
        match &self.at {
            Part::Line(id) => write!(f, " (line {id})"),
            Part::Allowance(n) => write!(f, " (allowance {n})"),
            Part::Charge(n) => write!(f, " (charge {n})"),
            _ => Ok(()),
        }?;
        match &self.gap {
            Gap::Absent => Ok(()),
            Gap::NotOnList { value, list } => {
                write!(f, ": `{value}` is not a {}", list.name())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use proptest::prelude::*;

    use super::*;
    use crate::identifiers::Scheme;

    fn eur(s: &str) -> Money {
        Money::new(Decimal::from_str(s).unwrap(), Currency::EUR).unwrap()
    }

    fn exempt() -> VatCategory {
        VatCategory::Exempt(ExemptionReason::code("VATEX-EU-132-1B"))
    }

    fn header(kind: DocumentKind) -> Header {
        Header {
            kind,
            number: "INV-2026-0001".into(),
            issue_date: NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
            due_date: NaiveDate::from_ymd_opt(2027, 1, 5),
            buyer_reference: Some("EP-42".into()),
            preceding: None,
            payment_terms: None,
            note: None,
        }
    }

    fn complete_party(name: &str) -> Party {
        Party {
            legal_name: Some(name.into()),
            vat_id: Some(VatId::parse("NL859411549B01").unwrap()),
            endpoint: Some(SchemeId::parse(Scheme::GLN, "4000001000005").unwrap()),
            address: Some(PostalAddress {
                street: Some("Kerkstraat 1".into()),
                additional_street: None,
                city: Some("Utrecht".into()),
                postal_code: Some("3511 AA".into()),
                subdivision: None,
                country: Country::parse("NL").unwrap(),
            }),
            ..Party::default()
        }
    }

    fn doc(lines: Vec<Line>) -> Document {
        Document::new(
            header(DocumentKind::CommercialInvoice),
            Currency::EUR,
            complete_party("Clinic"),
            complete_party("Insurer"),
            lines,
            vec![],
        )
        .unwrap()
    }

    #[test]
    fn vat_is_rounded_once_per_group_not_per_line() {
        // Three lines of 0.05 at 21 %: per line the tax would be 0.01 each (0.03), per group
        // it is round(0.15 × 0.21) = round(0.0315) = 0.03; with 0.10 lines, per line 0.02 ×
        // 3 = 0.06, per group round(0.063) = 0.06. A price of 3.335 × 3 rounds the line.
        let s = VatCategory::Standard(Decimal::from(21));
        let lines = vec![
            Line::with_price(
                "1",
                Decimal::from(3),
                "C62",
                Decimal::from_str("3.335").unwrap(),
                Currency::EUR,
                "Cream",
                s.clone(),
            )
            .unwrap(),
            Line::new("2", Decimal::ONE, "C62", eur("0.05"), "Plaster", s.clone()).unwrap(),
            Line::new(
                "3",
                Decimal::ONE,
                "HUR",
                eur("80.00"),
                "Consultation",
                exempt(),
            )
            .unwrap(),
        ];
        let d = doc(lines);
        assert_eq!(d.lines()[0].net_amount(), eur("10.01"));
        assert_eq!(d.breakdown().len(), 2);
        assert_eq!(d.breakdown()[0].taxable, eur("10.06"));
        assert_eq!(d.breakdown()[0].tax, eur("2.11"));
        assert_eq!(d.breakdown()[1].taxable, eur("80.00"));
        assert_eq!(d.breakdown()[1].tax, eur("0.00"));
        let t = d.totals();
        assert_eq!(t.line_net, eur("90.06"));
        assert_eq!(t.without_vat, eur("90.06"));
        assert_eq!(t.vat, eur("2.11"));
        assert_eq!(t.with_vat, eur("92.17"));
        assert_eq!(t.due, eur("92.17"));
        assert!(d.missing().is_empty(), "{:?}", d.missing());
    }

    #[test]
    fn allowances_and_charges_move_the_taxable_amount_of_their_category() {
        let s = VatCategory::Standard(Decimal::from(21));
        let d = Document::new(
            header(DocumentKind::CommercialInvoice),
            Currency::EUR,
            complete_party("Clinic"),
            complete_party("Insurer"),
            vec![
                Line::new(
                    "1",
                    Decimal::from(2),
                    "C62",
                    eur("50.00"),
                    "Filler",
                    s.clone(),
                )
                .unwrap(),
            ],
            vec![
                AllowanceCharge {
                    is_charge: false,
                    amount: eur("10.00"),
                    reason: Some("Discount".into()),
                    reason_code: Some("95".into()),
                    vat: s.clone(),
                },
                AllowanceCharge {
                    is_charge: true,
                    amount: eur("5.00"),
                    reason: Some("Delivery".into()),
                    reason_code: None,
                    vat: s,
                },
            ],
        )
        .unwrap();
        assert_eq!(d.breakdown()[0].taxable, eur("95.00"));
        assert_eq!(d.breakdown()[0].tax, eur("19.95"));
        assert_eq!(d.totals().allowances, eur("10.00"));
        assert_eq!(d.totals().charges, eur("5.00"));
        assert_eq!(d.totals().with_vat, eur("114.95"));
    }

    #[test]
    fn missing_names_each_term_and_where_it_belongs() {
        let line = Line::new(
            "1",
            Decimal::ONE,
            "",
            eur("80.00"),
            "",
            VatCategory::Exempt(ExemptionReason::default()),
        )
        .unwrap();
        let mut d = Document::new(
            Header {
                buyer_reference: None,
                due_date: None,
                ..header(DocumentKind::CreditNote)
            },
            Currency::EUR,
            Party {
                legal_name: Some("Clinic".into()),
                ..Party::default()
            },
            Party::default(),
            vec![line],
            vec![],
        )
        .unwrap();
        d.payment = Some(PaymentInstructions {
            means_code: "58".into(),
            remittance: None,
            iban: None,
            account_name: None,
            bic: None,
        });
        let missing: Vec<String> = d.missing().iter().map(ToString::to_string).collect();
        assert_eq!(
            missing,
            [
                "BT-10 Buyer reference",
                "BT-9 Payment due date (or BT-20 Payment terms)",
                "BT-25 Preceding Invoice reference",
                "BT-31 Seller VAT identifier",
                "BT-34 Seller electronic address",
                "BG-5 Seller postal address",
                "BT-44 Buyer name",
                "BT-49 Buyer electronic address",
                "BG-8 Buyer postal address",
                "BT-84 Payment account identifier",
                "BT-130 Invoiced quantity unit of measure code (line 1)",
                "BT-153 Item name (line 1)",
                "BT-121 VAT exemption reason code (or BT-120 text) (line 1)",
            ]
        );
        assert_eq!(d.missing()[3].at, Part::Seller);
        assert_eq!(d.missing()[7].at, Part::Buyer);

        // Codes the lists do not know are reported with the value given.
        let mut coded = doc(vec![
            Line::new("1", Decimal::ONE, "PCS", eur("1.00"), "Gauze", exempt()).unwrap(),
            Line::new(
                "2",
                Decimal::ONE,
                "C62",
                eur("1.00"),
                "Care",
                VatCategory::Exempt(ExemptionReason::code("VATEX-EU-999")),
            )
            .unwrap(),
        ]);
        coded.payment = Some(PaymentInstructions {
            means_code: "71".into(),
            remittance: None,
            iban: None,
            account_name: None,
            bic: None,
        });
        let coded: Vec<String> = coded.missing().iter().map(ToString::to_string).collect();
        assert_eq!(
            coded,
            [
                "BT-81 Payment means type code: `71` is not a UNTDID 4461 payment means code",
                "BT-130 Invoiced quantity unit of measure code (line 1): `PCS` is not a UN/ECE Recommendation 20 unit",
                "BT-121 VAT exemption reason code (line 2): `VATEX-EU-999` is not a VATEX exemption reason code",
            ]
        );

        // A patient reachable only by e-mail has no address Peppol can route to.
        d.buyer = complete_party("Patient");
        d.buyer.vat_id = None;
        d.buyer.endpoint = Some(SchemeId::parse(Scheme::EMAIL, "patient@example.org").unwrap());
        assert!(
            d.missing()
                .iter()
                .any(|m| m.term == "BT-49" && m.at == Part::Buyer)
        );
    }

    #[test]
    fn impossible_inputs_are_errors_not_panics() {
        let chf = Money::new(Decimal::ONE, Currency::parse("CHF").unwrap()).unwrap();
        let line = Line::new("1", Decimal::ONE, "C62", chf, "Item", exempt()).unwrap();
        assert!(matches!(
            Document::new(
                header(DocumentKind::CommercialInvoice),
                Currency::EUR,
                Party::default(),
                Party::default(),
                vec![line],
                vec![]
            ),
            Err(DocumentError::CurrencyMismatch { .. })
        ));
        assert!(matches!(
            Line::new(
                "1",
                Decimal::ONE,
                "C62",
                eur("1.00"),
                "Item",
                VatCategory::Standard(Decimal::ZERO)
            ),
            Err(DocumentError::InvalidRate { .. })
        ));
        assert!(matches!(
            Line::new("1", Decimal::ONE, "C62", eur("-1.00"), "Item", exempt()),
            Err(DocumentError::Negative { .. })
        ));
        let o = VatCategory::OutsideScope(ExemptionReason::code("VATEX-EU-O"));
        assert_eq!(
            Document::new(
                header(DocumentKind::CommercialInvoice),
                Currency::EUR,
                Party::default(),
                Party::default(),
                vec![
                    Line::new("1", Decimal::ONE, "C62", eur("1.00"), "Fee", o).unwrap(),
                    Line::new("2", Decimal::ONE, "C62", eur("1.00"), "Care", exempt()).unwrap(),
                ],
                vec![]
            ),
            Err(DocumentError::OutsideScopeMixed)
        );
        assert!(matches!(
            Line::with_price(
                "1",
                Decimal::MAX,
                "C62",
                Decimal::MAX,
                Currency::EUR,
                "Item",
                exempt()
            ),
            Err(DocumentError::OutOfRange(_))
        ));
    }

    fn outside_scope() -> VatCategory {
        VatCategory::OutsideScope(ExemptionReason::code("VATEX-EU-O"))
    }

    fn category() -> impl Strategy<Value = VatCategory> {
        prop_oneof![
            Just(exempt()),
            Just(VatCategory::ZeroRated),
            prop::sample::select(vec!["21", "9", "8.1", "2.6", "19", "7.7", "5.5"])
                .prop_map(|r| VatCategory::Standard(Decimal::from_str(r).unwrap())),
        ]
    }

    /// Random lines (returns, with negative quantities, included); one document in eight is
    /// wholly outside the scope of VAT, the only way O may appear.
    fn lines() -> impl Strategy<Value = Vec<Line>> {
        let specs = prop::collection::vec(
            (-1_000i64..10_000, 0i64..10_000_000, 0u32..5, category()),
            1..25,
        );
        (specs, prop::bool::weighted(0.125)).prop_map(|(specs, outside)| {
            specs
                .into_iter()
                .enumerate()
                .map(|(i, (qty, price, scale, vat))| {
                    let vat = if outside { outside_scope() } else { vat };
                    Line::with_price(
                        &(i + 1).to_string(),
                        Decimal::new(qty, 1),
                        "C62",
                        Decimal::new(price, scale),
                        Currency::EUR,
                        "Item",
                        vat,
                    )
                    .unwrap()
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn breakdown_and_totals_reconcile_to_the_cent(lines in lines()) {
            let d = doc(lines);
            let t = d.totals();
            let sum = |f: fn(&VatBreakdown) -> Decimal| d.breakdown().iter().map(f).sum::<Decimal>();
            let line_sum: Decimal = d.lines().iter().map(|l| l.net_amount().amount()).sum();
            prop_assert_eq!(t.line_net.amount(), line_sum);
            prop_assert_eq!(sum(|b| b.taxable.amount()), t.without_vat.amount());
            prop_assert_eq!(sum(|b| b.tax.amount()), t.vat.amount());
            prop_assert_eq!(t.without_vat.amount() + t.vat.amount(), t.with_vat.amount());
            prop_assert_eq!(t.due, t.with_vat);
            for b in d.breakdown() {
                prop_assert!(b.taxable.amount().scale() <= 2 && b.tax.amount().scale() <= 2);
                let exact = b.taxable.amount() * b.category.rate().unwrap_or_default() / Decimal::ONE_HUNDRED;
                prop_assert!((b.tax.amount() - exact).abs() <= Decimal::new(5, 3));
                // One group per category and rate.
                prop_assert_eq!(d.breakdown().iter().filter(|o| o.category.same_group(&b.category)).count(), 1);
            }
        }

        #[test]
        fn a_credit_note_mirrors_its_invoice(lines in lines()) {
            let invoice = doc(lines);
            let credit = Document::credit_note_for(&invoice, "CN-1", NaiveDate::from_ymd_opt(2026, 12, 7).unwrap());
            prop_assert_eq!(credit.header.kind, DocumentKind::CreditNote);
            prop_assert_eq!(credit.totals(), invoice.totals());
            prop_assert_eq!(credit.breakdown(), invoice.breakdown());
            prop_assert_eq!(credit.header.preceding.as_ref().map(|p| p.number.as_str()), Some("INV-2026-0001"));
            prop_assert!(credit.missing().is_empty(), "{:?}", credit.missing());
        }
    }
}
