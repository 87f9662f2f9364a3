//! The sample documents the outside validators check (scripts/validators.sh runs the
//! `samples` example over them) and the crate's tests parse back: one per situation issue 16
//! names, all built through the domain's document model exactly as the invoicing service will.
//!
//! The seller is a Belgian hospital (Belgium: 21 % standard rate, healthcare exempt under
//! Art. 132(1)(b) of the VAT directive, no national Peppol rules beyond EN 16931).

use std::str::FromStr;

use carebill_domain::document::{
    AllowanceCharge, Contact, Document, DocumentKind, ExemptionReason, Header, Line, Party,
    PaymentInstructions, PostalAddress, VatCategory,
};
use carebill_domain::identifiers::{Bic, Country, Iban, Scheme, SchemeId, VatId};
use carebill_domain::{Currency, Money};
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// A sample: its file name, the document, and the amounts it must show.
pub struct Sample {
    /// File name, e.g. `exempt-healthcare-invoice.xml`.
    pub file: &'static str,
    /// The document.
    pub document: Document,
    /// BT-110 total VAT, as the sample is designed to show it.
    pub expected_vat: &'static str,
    /// BT-115 amount due.
    pub expected_due: &'static str,
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn eur(s: &str) -> Money {
    Money::new(dec(s), Currency::EUR).unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn address(street: &str, city: &str, zip: &str) -> Option<PostalAddress> {
    Some(PostalAddress {
        street: Some(street.into()),
        additional_street: None,
        city: Some(city.into()),
        postal_code: Some(zip.into()),
        subdivision: None,
        country: Country::parse("BE").unwrap(),
    })
}

fn hospital() -> Party {
    let enterprise = SchemeId::parse(Scheme::parse("0208").unwrap(), "0403019261").unwrap();
    Party {
        legal_name: Some("AZ Sint-Carebill VZW".into()),
        trading_name: Some("Sint-Carebill Hospital".into()),
        vat_id: Some(VatId::parse("BE0403019261").unwrap()),
        legal_registration: Some(enterprise.clone()),
        endpoint: Some(enterprise),
        address: address("Ziekenhuisstraat 1", "Gent", "9000"),
        contact: Some(Contact {
            name: Some("Patient accounts".into()),
            telephone: Some("+32 9 000 00 00".into()),
            email: Some("billing@sint-carebill.example".into()),
        }),
    }
}

fn insurer() -> Party {
    Party {
        legal_name: Some("Mutualité Carebill".into()),
        trading_name: None,
        vat_id: Some(VatId::parse("BE0876543216").unwrap()),
        legal_registration: None,
        endpoint: Some(SchemeId::parse(Scheme::GLN, "5412345000013").unwrap()),
        address: address("Rue de la Loi 200", "Bruxelles", "1040"),
        contact: None,
    }
}

/// A person without a VAT identifier. Peppol routes only on its EAS list (no e-mail
/// addresses), so this patient receives documents in a Peppol-registered consumer mailbox,
/// identified by its GLN; a patient with only an e-mail address is reported by `missing()`.
fn patient() -> Party {
    Party {
        legal_name: Some("Marie Dupont".into()),
        endpoint: Some(SchemeId::parse(Scheme::GLN, "5409999000025").unwrap()),
        address: address("Veldstraat 12", "Gent", "9000"),
        ..Party::default()
    }
}

fn exempt() -> VatCategory {
    VatCategory::Exempt(ExemptionReason {
        code: Some("VATEX-EU-132-1B".into()),
        text: Some("Hospital and medical care, Art. 132(1)(b) Directive 2006/112/EC".into()),
    })
}

fn standard() -> VatCategory {
    VatCategory::Standard(dec("21"))
}

fn header(number: &str, episode: &str) -> Header {
    Header {
        kind: DocumentKind::CommercialInvoice,
        number: number.into(),
        issue_date: date(2026, 12, 6),
        due_date: Some(date(2027, 1, 5)),
        buyer_reference: Some(episode.into()),
        preceding: None,
        payment_terms: Some("30 days net".into()),
        note: None,
    }
}

fn payment(reference: &str) -> Option<PaymentInstructions> {
    Some(PaymentInstructions {
        means_code: "58".into(),
        remittance: Some(reference.into()),
        iban: Some(Iban::parse("BE68 5390 0754 7034").unwrap()),
        account_name: Some("AZ Sint-Carebill VZW".into()),
        bic: Some(Bic::parse("GKCCBEBB").unwrap()),
    })
}

fn line(id: &str, qty: &str, unit: &str, price: &str, name: &str, vat: VatCategory) -> Line {
    Line::with_price(id, dec(qty), unit, dec(price), Currency::EUR, name, vat).unwrap()
}

fn build(header: Header, buyer: Party, lines: Vec<Line>, ac: Vec<AllowanceCharge>) -> Document {
    let number = header.number.clone();
    let mut doc = Document::new(header, Currency::EUR, hospital(), buyer, lines, ac).unwrap();
    doc.payment = payment(&number);
    assert!(doc.missing().is_empty(), "{number}: {:?}", doc.missing());
    doc
}

/// Every sample, in a fixed order.
pub fn all() -> Vec<Sample> {
    let exempt_lines = build(
        header("INV-2026-1001", "EP-2026-0417"),
        insurer(),
        vec![
            line(
                "1",
                "1",
                "C62",
                "145.00",
                "Specialist consultation",
                exempt(),
            )
            .described("Cardiology, first visit"),
            line("2", "3", "DAY", "412.50", "Inpatient day, ward B", exempt()),
            line("3", "2.5", "HUR", "96.40", "Physiotherapy", exempt()),
        ],
        vec![],
    );

    let standard_rated = build(
        header("INV-2026-1002", "EP-2026-0533"),
        patient(),
        vec![
            line(
                "1",
                "1",
                "C62",
                "350.00",
                "Cosmetic laser treatment",
                standard(),
            ),
            line(
                "2",
                "1",
                "C62",
                "60.00",
                "Pre-treatment consultation",
                exempt(),
            ),
        ],
        vec![],
    );

    // Rounded per line, the standard-rated VAT would be 3 × 0.01 (three 0.07 lines) + 0.21
    // (3 × 0.335 = 1.005, rounded half away to 1.01) + 2.10 (7 × 1.4285 = 9.9995 → 10.00)
    // − 0.11 (the allowance) = 2.23; EN 16931 rounds the group once: round(10.72 × 21 %) =
    // round(2.2512) = 2.25.
    let rounding_edge = build(
        header("INV-2026-1003", "EP-2026-0601"),
        patient(),
        vec![
            line("1", "1", "C62", "0.07", "Sterile swab", standard()),
            line("2", "1", "C62", "0.07", "Sterile swab, large", standard()),
            line("3", "1", "C62", "0.07", "Cotton pad", standard()),
            line("4", "3", "C62", "0.335", "Lip balm (shop)", standard()),
            line(
                "5",
                "7",
                "C62",
                "1.4285",
                "Cafeteria meal voucher",
                standard(),
            ),
            line("6", "1", "C62", "38.20", "Wound care", exempt()),
        ],
        vec![AllowanceCharge {
            is_charge: false,
            amount: eur("0.50"),
            reason: Some("Loyalty discount".into()),
            reason_code: Some("95".into()),
            vat: standard(),
        }],
    );

    let credit = Document::credit_note_for(&rounding_edge, "CN-2026-0001", date(2026, 12, 8));
    assert!(credit.missing().is_empty(), "{:?}", credit.missing());

    let patient_invoice = build(
        header("INV-2026-1004", "EP-2026-0650"),
        patient(),
        vec![
            line(
                "1",
                "1",
                "C62",
                "42.50",
                "Patient share, general practice visit",
                exempt(),
            ),
            line(
                "2",
                "1",
                "C62",
                "12.10",
                "Patient share, lab panel",
                exempt(),
            ),
        ],
        vec![],
    );

    let payer_invoice = build(
        header("INV-2026-1005", "EP-2026-0650"),
        insurer(),
        vec![
            line(
                "1",
                "1",
                "C62",
                "127.50",
                "Insurer share, general practice visit",
                exempt(),
            ),
            line(
                "2",
                "1",
                "C62",
                "36.30",
                "Insurer share, lab panel",
                exempt(),
            ),
            line("3", "4", "HUR", "58.75", "Home nursing", exempt()),
        ],
        vec![],
    );

    // A medical report an insurer asks for is not a supply of care: outside the scope of
    // VAT here, so no VAT identifiers on the document at all.
    let outside_scope = build(
        header("INV-2026-1006", "EP-2026-0650"),
        insurer(),
        vec![line(
            "1",
            "1",
            "C62",
            "25.00",
            "Medical report for the insurer",
            VatCategory::OutsideScope(ExemptionReason::code("VATEX-EU-O")),
        )],
        vec![],
    );

    vec![
        Sample {
            file: "exempt-healthcare-invoice.xml",
            document: exempt_lines,
            expected_vat: "0.00",
            expected_due: "1623.50",
        },
        Sample {
            file: "standard-rated-invoice.xml",
            document: standard_rated,
            expected_vat: "73.50",
            expected_due: "483.50",
        },
        Sample {
            file: "rounding-edge-invoice.xml",
            document: rounding_edge,
            expected_vat: "2.25",
            expected_due: "51.17",
        },
        Sample {
            file: "credit-note.xml",
            document: credit,
            expected_vat: "2.25",
            expected_due: "51.17",
        },
        Sample {
            file: "patient-invoice.xml",
            document: patient_invoice,
            expected_vat: "0.00",
            expected_due: "54.60",
        },
        Sample {
            file: "payer-invoice.xml",
            document: payer_invoice,
            expected_vat: "0.00",
            expected_due: "398.80",
        },
        Sample {
            file: "outside-scope-invoice.xml",
            document: outside_scope,
            expected_vat: "0.00",
            expected_due: "25.00",
        },
    ]
}

/// `n` random documents from `seed`, for the validators to try what hand-written samples do
/// not: many lines, every category and rate mix, prices with up to four decimals, returned
/// quantities, allowances and charges, invoices and credit notes. The same seed always gives
/// the same documents, so a failure can be replayed.
pub fn random(n: usize, seed: u64) -> Vec<(String, Document)> {
    let mut rng = XorShift(seed.max(1));
    (0..n)
        .map(|i| {
            let outside = rng.below(10) == 0;
            let vat = |rng: &mut XorShift| {
                if outside {
                    return VatCategory::OutsideScope(ExemptionReason::code("VATEX-EU-O"));
                }
                match rng.below(6) {
                    0 | 1 => exempt(),
                    2 => standard(),
                    3 => VatCategory::Standard(dec("6")),
                    4 => VatCategory::Standard(dec("12")),
                    _ => VatCategory::ZeroRated,
                }
            };
            let lines = (0..1 + rng.below(12))
                .map(|l| {
                    let scale = rng.below(5) as u32;
                    let price = Decimal::new(rng.below(5_000_000) as i64, scale);
                    let mut qty = Decimal::new(1 + rng.below(400) as i64, rng.below(3) as u32);
                    if rng.below(8) == 0 {
                        qty = -qty;
                    }
                    let unit = ["C62", "HUR", "DAY", "MIN", "H87"][rng.below(5)];
                    let vat = vat(&mut rng);
                    Line::with_price(
                        &(l + 1).to_string(),
                        qty,
                        unit,
                        price,
                        Currency::EUR,
                        "Care item",
                        vat,
                    )
                    .unwrap()
                })
                .collect();
            let ac = (0..rng.below(3))
                .map(|_| {
                    let is_charge = rng.below(2) == 0;
                    AllowanceCharge {
                        is_charge,
                        amount: Money::new(Decimal::new(rng.below(5_000) as i64, 2), Currency::EUR)
                            .unwrap(),
                        reason: Some(if is_charge { "Transport" } else { "Discount" }.into()),
                        reason_code: Some(if is_charge { "FC" } else { "95" }.into()),
                        vat: vat(&mut rng),
                    }
                })
                .collect();
            let number = format!("RND-{seed}-{i}");
            let buyer = if rng.below(2) == 0 {
                insurer()
            } else {
                patient()
            };
            let invoice = build(header(&number, "EP-RANDOM"), buyer, lines, ac);
            if rng.below(3) == 0 {
                let credit =
                    Document::credit_note_for(&invoice, &format!("CN-{number}"), date(2026, 12, 9));
                (format!("random-{i:03}-credit-note.xml"), credit)
            } else {
                (format!("random-{i:03}-invoice.xml"), invoice)
            }
        })
        .collect()
}

/// xorshift64: enough randomness for test data, no dependency.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
