//! UBL 2.1 for the domain's invoice document: Peppol BIS Billing 3.0 (EN 16931) `Invoice`
//! for types 380, 384 and 389 and `CreditNote` for 381 and 261.
//!
//! A writer, nothing more: it reads a [`Document`] and returns bytes, with no I/O and no
//! arithmetic. Every amount comes from the document model, which has already made the VAT
//! breakdown and totals agree to the cent; this module only decides where each business term
//! goes in UBL and in which order the schema wants it. Elements appear in the order of the
//! OASIS UBL 2.1 schemas (an XSD sequence is order-sensitive); optional terms the document
//! lacks are left out, never written empty. Whether the document is complete is
//! [`Document::missing`]'s question: write only what it accepts, or the receiver's
//! validators will say what this module did not.

use std::io;

use carebill_domain::Money;
use carebill_domain::document::{
    AllowanceCharge, Document, DocumentKind, Line, Party, PaymentInstructions, VatBreakdown,
    VatCategory,
};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use rust_decimal::Decimal;

/// Peppol BIS Billing 3.0's specification identifier (BT-24).
pub const CUSTOMIZATION_ID: &str =
    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0";
/// Peppol's billing business process (BT-23).
pub const PROFILE_ID: &str = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0";
/// Peppol BIS Self-Billing 3.0's specification identifier, for types 389 and 261: the
/// Billing profile refuses them (PEPPOL-EN16931-P0100/P0101).
pub const SELF_BILLING_CUSTOMIZATION_ID: &str =
    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:selfbilling:3.0";
/// Peppol's self-billing business process.
pub const SELF_BILLING_PROFILE_ID: &str = "urn:fdc:peppol.eu:2017:poacc:selfbilling:01:1.0";

const NS_INVOICE: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
const NS_CREDIT_NOTE: &str = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
const NS_CAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
const NS_CBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";

/// Why a document could not be written.
#[derive(Debug, thiserror::Error)]
pub enum UblError {
    /// The XML writer failed (writing into memory, so only on allocation trouble).
    #[error("writing UBL: {0}")]
    Write(#[from] io::Error),
}

/// Writes `doc` as a UBL 2.1 Invoice or CreditNote (by its kind), UTF-8, indented.
pub fn to_ubl(doc: &Document) -> Result<Vec<u8>, UblError> {
    let mut w = Ubl {
        xml: Writer::new_with_indent(Vec::new(), b' ', 2),
        currency: doc.currency().code().to_owned(),
    };
    w.document(doc)?;
    let mut bytes = w.xml.into_inner();
    bytes.push(b'\n');
    Ok(bytes)
}

/// A thin layer over quick-xml's event writer: start, end, and a leaf with its text.
struct Ubl {
    xml: Writer<Vec<u8>>,
    currency: String,
}

type Attrs<'a> = &'a [(&'a str, &'a str)];

impl Ubl {
    fn start(&mut self, name: &str, attrs: Attrs) -> io::Result<()> {
        let start = BytesStart::new(name).with_attributes(attrs.iter().copied());
        self.xml.write_event(Event::Start(start))
    }

    fn end(&mut self, name: &str) -> io::Result<()> {
        self.xml.write_event(Event::End(BytesEnd::new(name)))
    }

    fn leaf(&mut self, name: &str, attrs: Attrs, text: &str) -> io::Result<()> {
        self.start(name, attrs)?;
        self.xml.write_event(Event::Text(BytesText::new(text)))?;
        self.end(name)
    }

    fn text(&mut self, name: &str, text: &str) -> io::Result<()> {
        self.leaf(name, &[], text)
    }

    fn opt(&mut self, name: &str, text: Option<&str>) -> io::Result<()> {
        match text {
            Some(t) if !t.trim().is_empty() => self.text(name, t),
            _ => Ok(()),
        }
    }

    /// An amount with its `currencyID`, always with the currency's decimals (BR-DEC-*).
    fn amount(&mut self, name: &str, money: Money) -> io::Result<()> {
        let currency = self.currency.clone();
        self.leaf(name, &[("currencyID", &currency)], &money.amount_string())
    }

    fn document(&mut self, doc: &Document) -> io::Result<()> {
        let credit = doc.header.kind.is_credit_note();
        let (root, ns, type_code, line_name) = if credit {
            (
                "CreditNote",
                NS_CREDIT_NOTE,
                "cbc:CreditNoteTypeCode",
                "cac:CreditNoteLine",
            )
        } else {
            (
                "Invoice",
                NS_INVOICE,
                "cbc:InvoiceTypeCode",
                "cac:InvoiceLine",
            )
        };
        let h = &doc.header;
        self.xml
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        self.start(
            root,
            &[("xmlns", ns), ("xmlns:cac", NS_CAC), ("xmlns:cbc", NS_CBC)],
        )?;
        let self_billed = matches!(
            h.kind,
            DocumentKind::SelfBilledInvoice | DocumentKind::SelfBilledCreditNote
        );
        let (customization, profile) = if self_billed {
            (SELF_BILLING_CUSTOMIZATION_ID, SELF_BILLING_PROFILE_ID)
        } else {
            (CUSTOMIZATION_ID, PROFILE_ID)
        };
        self.text("cbc:CustomizationID", customization)?;
        self.text("cbc:ProfileID", profile)?;
        self.text("cbc:ID", &h.number)?;
        self.text("cbc:IssueDate", &h.issue_date.to_string())?;
        // A UBL 2.1 CreditNote has no DueDate at the top; its BT-9 sits in PaymentMeans.
        if !credit && let Some(due) = h.due_date {
            self.text("cbc:DueDate", &due.to_string())?;
        }
        self.text(type_code, h.kind.code())?;
        self.opt("cbc:Note", h.note.as_deref())?;
        let currency = self.currency.clone();
        self.text("cbc:DocumentCurrencyCode", &currency)?;
        self.opt("cbc:BuyerReference", h.buyer_reference.as_deref())?;
        if let Some(preceding) = &h.preceding {
            self.start("cac:BillingReference", &[])?;
            self.start("cac:InvoiceDocumentReference", &[])?;
            self.text("cbc:ID", &preceding.number)?;
            if let Some(date) = preceding.issue_date {
                self.text("cbc:IssueDate", &date.to_string())?;
            }
            self.end("cac:InvoiceDocumentReference")?;
            self.end("cac:BillingReference")?;
        }
        // BR-O-02..04: a document outside the scope of VAT names no VAT identifiers.
        let vat_ids = !doc.is_outside_vat_scope();
        self.start("cac:AccountingSupplierParty", &[])?;
        self.party(&doc.seller, vat_ids)?;
        self.end("cac:AccountingSupplierParty")?;
        self.start("cac:AccountingCustomerParty", &[])?;
        self.party(&doc.buyer, vat_ids)?;
        self.end("cac:AccountingCustomerParty")?;
        if let Some(payee) = &doc.payee {
            self.payee(payee)?;
        }
        if let Some(payment) = &doc.payment {
            let due = if credit { h.due_date } else { None };
            self.payment_means(payment, due.map(|d| d.to_string()).as_deref())?;
        }
        if let Some(terms) = h.payment_terms.as_deref().filter(|t| !t.trim().is_empty()) {
            self.start("cac:PaymentTerms", &[])?;
            self.text("cbc:Note", terms)?;
            self.end("cac:PaymentTerms")?;
        }
        for ac in doc.allowances_charges() {
            self.allowance_charge(ac)?;
        }
        // Peppol R053: one TaxTotal, with all the subtotals.
        self.start("cac:TaxTotal", &[])?;
        self.amount("cbc:TaxAmount", doc.totals().vat)?;
        for group in doc.breakdown() {
            self.subtotal(group)?;
        }
        self.end("cac:TaxTotal")?;
        self.totals(doc)?;
        for line in doc.lines() {
            self.line(line, line_name, credit)?;
        }
        self.end(root)
    }

    fn party(&mut self, party: &Party, vat_id: bool) -> io::Result<()> {
        self.start("cac:Party", &[])?;
        if let Some(endpoint) = &party.endpoint {
            self.leaf(
                "cbc:EndpointID",
                &[("schemeID", endpoint.scheme().code())],
                endpoint.value(),
            )?;
        }
        if let Some(trading) = party
            .trading_name
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            self.start("cac:PartyName", &[])?;
            self.text("cbc:Name", trading)?;
            self.end("cac:PartyName")?;
        }
        if let Some(address) = &party.address {
            self.start("cac:PostalAddress", &[])?;
            self.opt("cbc:StreetName", address.street.as_deref())?;
            self.opt(
                "cbc:AdditionalStreetName",
                address.additional_street.as_deref(),
            )?;
            self.opt("cbc:CityName", address.city.as_deref())?;
            self.opt("cbc:PostalZone", address.postal_code.as_deref())?;
            self.opt("cbc:CountrySubentity", address.subdivision.as_deref())?;
            self.start("cac:Country", &[])?;
            self.text("cbc:IdentificationCode", address.country.code())?;
            self.end("cac:Country")?;
            self.end("cac:PostalAddress")?;
        }
        if let Some(vat) = party.vat_id.as_ref().filter(|_| vat_id) {
            self.start("cac:PartyTaxScheme", &[])?;
            self.text("cbc:CompanyID", vat.as_str())?;
            self.tax_scheme()?;
            self.end("cac:PartyTaxScheme")?;
        }
        self.start("cac:PartyLegalEntity", &[])?;
        // Absent only in a document `missing()` refuses; an empty element would add a
        // second complaint (PEPPOL-EN16931-R008) to the real one (BR-06/BR-07).
        self.opt("cbc:RegistrationName", party.legal_name.as_deref())?;
        if let Some(reg) = &party.legal_registration {
            self.leaf(
                "cbc:CompanyID",
                &[("schemeID", reg.scheme().code())],
                reg.value(),
            )?;
        }
        self.end("cac:PartyLegalEntity")?;
        if let Some(contact) = &party.contact {
            self.start("cac:Contact", &[])?;
            self.opt("cbc:Name", contact.name.as_deref())?;
            self.opt("cbc:Telephone", contact.telephone.as_deref())?;
            self.opt("cbc:ElectronicMail", contact.email.as_deref())?;
            self.end("cac:Contact")?;
        }
        self.end("cac:Party")
    }

    fn payee(&mut self, payee: &Party) -> io::Result<()> {
        self.start("cac:PayeeParty", &[])?;
        self.start("cac:PartyName", &[])?;
        self.text("cbc:Name", payee.legal_name.as_deref().unwrap_or_default())?;
        self.end("cac:PartyName")?;
        if let Some(reg) = &payee.legal_registration {
            self.start("cac:PartyLegalEntity", &[])?;
            self.leaf(
                "cbc:CompanyID",
                &[("schemeID", reg.scheme().code())],
                reg.value(),
            )?;
            self.end("cac:PartyLegalEntity")?;
        }
        self.end("cac:PayeeParty")
    }

    fn payment_means(&mut self, p: &PaymentInstructions, due: Option<&str>) -> io::Result<()> {
        self.start("cac:PaymentMeans", &[])?;
        self.text("cbc:PaymentMeansCode", &p.means_code)?;
        self.opt("cbc:PaymentDueDate", due)?;
        self.opt("cbc:PaymentID", p.remittance.as_deref())?;
        if let Some(iban) = &p.iban {
            self.start("cac:PayeeFinancialAccount", &[])?;
            self.text("cbc:ID", iban.as_str())?;
            self.opt("cbc:Name", p.account_name.as_deref())?;
            if let Some(bic) = &p.bic {
                self.start("cac:FinancialInstitutionBranch", &[])?;
                self.text("cbc:ID", bic.as_str())?;
                self.end("cac:FinancialInstitutionBranch")?;
            }
            self.end("cac:PayeeFinancialAccount")?;
        }
        self.end("cac:PaymentMeans")
    }

    fn allowance_charge(&mut self, ac: &AllowanceCharge) -> io::Result<()> {
        self.start("cac:AllowanceCharge", &[])?;
        self.text(
            "cbc:ChargeIndicator",
            if ac.is_charge { "true" } else { "false" },
        )?;
        self.opt("cbc:AllowanceChargeReasonCode", ac.reason_code.as_deref())?;
        self.opt("cbc:AllowanceChargeReason", ac.reason.as_deref())?;
        self.amount("cbc:Amount", ac.amount)?;
        self.category("cac:TaxCategory", &ac.vat, false)?;
        self.end("cac:AllowanceCharge")
    }

    fn subtotal(&mut self, group: &VatBreakdown) -> io::Result<()> {
        self.start("cac:TaxSubtotal", &[])?;
        self.amount("cbc:TaxableAmount", group.taxable)?;
        self.amount("cbc:TaxAmount", group.tax)?;
        self.category("cac:TaxCategory", &group.category, true)?;
        self.end("cac:TaxSubtotal")
    }

    /// A tax category: code, rate (never for O, BR-O-05) and, in the breakdown only, the
    /// exemption reason (BT-120/121 belong to BG-23, not to lines).
    fn category(&mut self, name: &str, vat: &VatCategory, with_reason: bool) -> io::Result<()> {
        self.start(name, &[])?;
        self.text("cbc:ID", vat.code())?;
        if let Some(rate) = vat.rate() {
            self.text("cbc:Percent", &percent(rate))?;
        }
        if with_reason && let Some(reason) = vat.exemption() {
            self.opt("cbc:TaxExemptionReasonCode", reason.code.as_deref())?;
            self.opt("cbc:TaxExemptionReason", reason.text.as_deref())?;
        }
        self.tax_scheme()?;
        self.end(name)
    }

    fn tax_scheme(&mut self) -> io::Result<()> {
        self.start("cac:TaxScheme", &[])?;
        self.text("cbc:ID", "VAT")?;
        self.end("cac:TaxScheme")
    }

    fn totals(&mut self, doc: &Document) -> io::Result<()> {
        let t = doc.totals();
        self.start("cac:LegalMonetaryTotal", &[])?;
        self.amount("cbc:LineExtensionAmount", t.line_net)?;
        self.amount("cbc:TaxExclusiveAmount", t.without_vat)?;
        self.amount("cbc:TaxInclusiveAmount", t.with_vat)?;
        // BT-107/108 are conditional: present exactly when there is something to sum.
        if doc.allowances_charges().iter().any(|a| !a.is_charge) {
            self.amount("cbc:AllowanceTotalAmount", t.allowances)?;
        }
        if doc.allowances_charges().iter().any(|a| a.is_charge) {
            self.amount("cbc:ChargeTotalAmount", t.charges)?;
        }
        if !t.prepaid.amount().is_zero() {
            self.amount("cbc:PrepaidAmount", t.prepaid)?;
        }
        if !t.rounding.amount().is_zero() {
            self.amount("cbc:PayableRoundingAmount", t.rounding)?;
        }
        self.amount("cbc:PayableAmount", t.due)?;
        self.end("cac:LegalMonetaryTotal")
    }

    fn line(&mut self, line: &Line, name: &str, credit: bool) -> io::Result<()> {
        self.start(name, &[])?;
        self.text("cbc:ID", &line.id)?;
        let quantity = if credit {
            "cbc:CreditedQuantity"
        } else {
            "cbc:InvoicedQuantity"
        };
        self.leaf(
            quantity,
            &[("unitCode", &line.unit_code)],
            &line.quantity().normalize().to_string(),
        )?;
        self.amount("cbc:LineExtensionAmount", line.net_amount())?;
        self.start("cac:Item", &[])?;
        self.opt("cbc:Description", line.item_description.as_deref())?;
        self.text("cbc:Name", &line.item_name)?;
        self.category("cac:ClassifiedTaxCategory", &line.vat, false)?;
        self.end("cac:Item")?;
        self.start("cac:Price", &[])?;
        let currency = self.currency.clone();
        self.leaf(
            "cbc:PriceAmount",
            &[("currencyID", &currency)],
            &line.net_price().normalize().to_string(),
        )?;
        self.end("cac:Price")?;
        self.end(name)
    }
}

/// A rate as the rules compare it: `21`, `8.1`, `0`.
fn percent(rate: Decimal) -> String {
    rate.normalize().to_string()
}
