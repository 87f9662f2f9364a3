//! The samples the outside validators check, read back: each is well-formed XML of the right
//! UBL document type and carries the amounts the document model computed, to the cent.

// Outside `#[test]` functions too, a failed parse here is a failed test.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers and fixed sample data: panicking is how they fail"
)]

#[path = "support/samples.rs"]
mod samples;

use carebill_domain::document::{Document, DocumentKind};
use quick_xml::Reader;
use quick_xml::events::Event;

/// Every element with its text, addressed by its path of prefixed names from the root
/// (`Invoice/cac:LegalMonetaryTotal/cbc:PayableAmount`), with its attributes.
struct Parsed {
    elements: Vec<Element>,
}

struct Element {
    path: String,
    text: String,
    attrs: Vec<(String, String)>,
}

impl Parsed {
    fn read(xml: &[u8]) -> Parsed {
        let text = std::str::from_utf8(xml).expect("UTF-8");
        let mut reader = Reader::from_str(text);
        let mut stack: Vec<String> = Vec::new();
        let mut elements = Vec::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    stack.push(e.name().as_ref().to_owned());
                    let attrs = e
                        .attributes()
                        .map(|a| {
                            let a = a.expect("well-formed attribute");
                            (a.key.as_ref().to_owned(), a.value.to_string())
                        })
                        .collect();
                    elements.push(Element {
                        path: stack.join("/"),
                        text: String::new(),
                        attrs,
                    });
                }
                // Text belongs to the innermost open element, and only if it is a leaf: the
                // whitespace between elements is indentation.
                Event::Text(t) => {
                    if let Some(last) = elements.last_mut().filter(|e| e.path == stack.join("/")) {
                        last.text.push_str(&t);
                    }
                }
                Event::GeneralRef(r) => {
                    let entity = match &*r {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected entity {other}"),
                    };
                    if let Some(last) = elements.last_mut().filter(|e| e.path == stack.join("/")) {
                        last.text.push_str(entity);
                    }
                }
                Event::End(e) => {
                    let name = e.name().as_ref().to_owned();
                    assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "balanced tags");
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(stack.is_empty(), "every element closed");
        Parsed { elements }
    }

    fn all(&self, path: &str) -> Vec<&str> {
        self.elements
            .iter()
            .filter(|e| e.path == path)
            .map(|e| e.text.as_str())
            .collect()
    }

    fn one(&self, path: &str) -> &str {
        let found = self.all(path);
        assert_eq!(found.len(), 1, "exactly one {path}");
        found[0]
    }

    fn attr(&self, path: &str, name: &str) -> Vec<&str> {
        self.elements
            .iter()
            .filter(|e| e.path == path)
            .filter_map(|e| {
                e.attrs
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            })
            .collect()
    }
}

fn write(doc: &Document) -> Parsed {
    Parsed::read(&carebill_ubl::to_ubl(doc).expect("written"))
}

#[test]
fn every_sample_carries_the_totals_of_its_document() {
    let samples = samples::all();
    assert_eq!(samples.len(), 7);
    for sample in samples {
        let doc = &sample.document;
        let credit = doc.header.kind.is_credit_note();
        let root = if credit { "CreditNote" } else { "Invoice" };
        let xml = write(doc);
        let at = |p: &str| format!("{root}/{p}");
        let t = doc.totals();
        let file = sample.file;

        assert_eq!(xml.one(&at("cbc:ID")), doc.header.number, "{file}");
        assert_eq!(
            xml.one(&at("cbc:CustomizationID")),
            carebill_ubl::CUSTOMIZATION_ID
        );
        assert_eq!(xml.one(&at("cbc:ProfileID")), carebill_ubl::PROFILE_ID);
        let type_code = if credit {
            "cbc:CreditNoteTypeCode"
        } else {
            "cbc:InvoiceTypeCode"
        };
        assert_eq!(xml.one(&at(type_code)), doc.header.kind.code(), "{file}");

        let total = |p: &str| xml.one(&at(&format!("cac:LegalMonetaryTotal/cbc:{p}")));
        assert_eq!(total("PayableAmount"), sample.expected_due, "{file}");
        assert_eq!(total("PayableAmount"), t.due.amount_string(), "{file}");
        assert_eq!(total("LineExtensionAmount"), t.line_net.amount_string());
        assert_eq!(total("TaxExclusiveAmount"), t.without_vat.amount_string());
        assert_eq!(total("TaxInclusiveAmount"), t.with_vat.amount_string());
        assert_eq!(
            xml.all(&at("cac:TaxTotal")).len(),
            1,
            "{file}: one TaxTotal"
        );
        assert_eq!(
            xml.one(&at("cac:TaxTotal/cbc:TaxAmount")),
            sample.expected_vat,
            "{file}"
        );

        // The subtotals add up to the totals, as written (not as computed).
        let cents = |s: &str| -> i64 { s.replace('.', "").parse().expect("an amount") };
        let sum = |p: &str| -> i64 { xml.all(&at(p)).into_iter().map(cents).sum() };
        assert_eq!(
            sum("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount"),
            cents(sample.expected_vat)
        );
        assert_eq!(
            sum("cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount"),
            cents(total("TaxExclusiveAmount"))
        );
        let line = if credit {
            "cac:CreditNoteLine"
        } else {
            "cac:InvoiceLine"
        };
        assert_eq!(
            sum(&format!("{line}/cbc:LineExtensionAmount")),
            cents(total("LineExtensionAmount"))
        );
        assert_eq!(xml.all(&at(line)).len(), doc.lines().len(), "{file}");
        assert!(
            xml.attr(
                &at("cac:LegalMonetaryTotal/cbc:PayableAmount"),
                "currencyID"
            ) == ["EUR"]
        );

        if credit {
            assert_eq!(
                xml.all(&at("cac:CreditNoteLine/cbc:CreditedQuantity"))
                    .len(),
                doc.lines().len()
            );
            assert_eq!(
                xml.one(&at(
                    "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID"
                )),
                "INV-2026-1003"
            );
        } else {
            assert!(xml.all(&at("cac:BillingReference")).is_empty());
        }
    }
}

#[test]
fn a_credit_note_shows_the_same_figures_as_the_invoice_it_cancels() {
    let samples = samples::all();
    let find = |file: &str| {
        samples
            .iter()
            .find(|s| s.file == file)
            .map(|s| write(&s.document))
            .expect("sample")
    };
    let invoice = find("rounding-edge-invoice.xml");
    let credit = find("credit-note.xml");
    for p in [
        "cac:TaxTotal/cbc:TaxAmount",
        "cac:LegalMonetaryTotal/cbc:LineExtensionAmount",
        "cac:LegalMonetaryTotal/cbc:AllowanceTotalAmount",
        "cac:LegalMonetaryTotal/cbc:PayableAmount",
    ] {
        assert_eq!(
            invoice.one(&format!("Invoice/{p}")),
            credit.one(&format!("CreditNote/{p}")),
            "{p}"
        );
    }
    assert_eq!(
        invoice.all("Invoice/cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount"),
        credit.all("CreditNote/cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount")
    );
}

#[test]
fn exempt_groups_carry_their_reason_and_rates_are_written_as_percent() {
    let samples = samples::all();
    let exempt = write(&samples[0].document);
    let category = "Invoice/cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory";
    assert_eq!(exempt.all(&format!("{category}/cbc:ID")), ["E"]);
    assert_eq!(
        exempt.one(&format!("{category}/cbc:TaxExemptionReasonCode")),
        "VATEX-EU-132-1B"
    );
    // Lines carry category and rate only: the reason belongs to the breakdown.
    assert!(
        exempt
            .all("Invoice/cac:InvoiceLine/cac:Item/cac:ClassifiedTaxCategory/cbc:TaxExemptionReasonCode")
            .is_empty()
    );

    let mixed = write(&samples[1].document);
    assert_eq!(mixed.all(&format!("{category}/cbc:ID")), ["S", "E"]);
    assert_eq!(mixed.all(&format!("{category}/cbc:Percent")), ["21", "0"]);
}

#[test]
fn text_is_escaped_and_reads_back_unchanged() {
    let mut doc = samples::all().remove(4).document;
    doc.header.note = Some("Dupont & Fils <care> \"ward\"".into());
    doc.header.kind = DocumentKind::CorrectiveInvoice;
    let xml = write(&doc);
    assert_eq!(xml.one("Invoice/cbc:Note"), "Dupont & Fils <care> \"ward\"");
    assert_eq!(xml.one("Invoice/cbc:InvoiceTypeCode"), "384");
}

#[test]
fn self_billed_documents_declare_the_self_billing_profile() {
    let mut samples = samples::all();
    let mut invoice = samples.remove(5).document;
    invoice.header.kind = DocumentKind::SelfBilledInvoice;
    let xml = write(&invoice);
    assert_eq!(xml.one("Invoice/cbc:InvoiceTypeCode"), "389");
    assert_eq!(
        xml.one("Invoice/cbc:CustomizationID"),
        carebill_ubl::SELF_BILLING_CUSTOMIZATION_ID
    );
    assert_eq!(
        xml.one("Invoice/cbc:ProfileID"),
        carebill_ubl::SELF_BILLING_PROFILE_ID
    );
    let credit = Document::credit_note_for(&invoice, "SB-CN-1", invoice.header.issue_date);
    let xml = write(&credit);
    assert_eq!(xml.one("CreditNote/cbc:CreditNoteTypeCode"), "261");
    assert_eq!(
        xml.one("CreditNote/cbc:ProfileID"),
        carebill_ubl::SELF_BILLING_PROFILE_ID
    );
}

#[test]
fn random_documents_carry_their_totals_and_one_subtotal_per_group() {
    for (file, doc) in samples::random(200, 11) {
        let root = if doc.header.kind.is_credit_note() {
            "CreditNote"
        } else {
            "Invoice"
        };
        let xml = write(&doc);
        let t = doc.totals();
        assert_eq!(
            xml.one(&format!("{root}/cac:LegalMonetaryTotal/cbc:PayableAmount")),
            t.due.amount_string(),
            "{file}"
        );
        assert_eq!(
            xml.one(&format!("{root}/cac:TaxTotal/cbc:TaxAmount")),
            t.vat.amount_string(),
            "{file}"
        );
        assert_eq!(
            xml.all(&format!("{root}/cac:TaxTotal/cac:TaxSubtotal"))
                .len(),
            doc.breakdown().len(),
            "{file}"
        );
    }
}
