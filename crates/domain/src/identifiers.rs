//! Identifiers that leave the building on legal documents: bank accounts (IBAN, BIC), GS1
//! location numbers (GLN), VAT identifiers, ISO 3166 countries and the electronic-address
//! schemes (EAS / ISO 6523 ICD) Peppol routes on.
//!
//! Each type parses at the boundary and is valid by construction past it, so a document writer
//! never emits an identifier that a receiving validator (EN 16931, Peppol) would reject for its
//! shape or check digit. Parsing normalises what people type (spaces, lower case) and the error
//! says which rule failed, in words a person fixing master data can act on.

use std::fmt;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// Characters outside what the identifier allows.
    #[error("{kind} `{value}` contains characters other than {allowed}")]
    Characters {
        /// The identifier's name ("IBAN", "GLN" ...).
        kind: &'static str,
        /// The value as given.
        value: String,
        /// What is allowed, in words.
        allowed: &'static str,
    },
    /// Wrong length.
    #[error("{kind} `{value}` has {actual} characters; {expected}")]
    Length {
        /// The identifier's name.
        kind: &'static str,
        /// The value as given.
        value: String,
        /// How many it has.
        actual: usize,
        /// What is expected, in words.
        expected: String,
    },
    /// The check digits do not match.
    #[error("{kind} `{value}` fails its check digit ({rule})")]
    CheckDigit {
        /// The identifier's name.
        kind: &'static str,
        /// The value as given.
        value: String,
        /// The check that failed.
        rule: &'static str,
    },
    /// Not an ISO 3166-1 alpha-2 country code (where one is required).
    #[error("{kind} `{value}`: `{country}` is not an ISO 3166-1 alpha-2 country code")]
    Country {
        /// The identifier's name.
        kind: &'static str,
        /// The value as given.
        value: String,
        /// The country part.
        country: String,
    },
    /// A scheme code that is not on the code list.
    #[error(
        "`{0}` is not an electronic address scheme (EAS) or ISO 6523 ICD code Carebill accepts"
    )]
    UnknownScheme(String),
}

/// ISO 3166-1 alpha-2 codes, two letters each, in one string to keep the table compact.
const ISO_3166: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
    DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
    ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
    LA LB LC LI LK LR LS LT LU LV LY \
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
    NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
    RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
    VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

fn is_iso_3166(code: &str) -> bool {
    code.len() == 2 && ISO_3166.split_ascii_whitespace().any(|c| c == code)
}

/// Removes spaces and upper-cases: how IBANs, BICs and VAT ids are printed is not what they are.
pub(crate) fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// An ISO 3166-1 alpha-2 country code (BT-40, BT-55 ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Country([u8; 2]);

impl Country {
    /// Parses a two-letter code, case-insensitively.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let code = compact(s);
        if !is_iso_3166(&code) {
            return Err(IdentifierError::Country {
                kind: "country",
                value: s.to_owned(),
                country: code,
            });
        }
        let b = code.as_bytes();
        Ok(Country([b[0], b[1]]))
    }

    /// The two letters.
    pub fn code(&self) -> &str {
        // The bytes were checked against the ASCII table above.
        std::str::from_utf8(&self.0).unwrap_or("ZZ")
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// IBAN lengths per country for the countries Carebill's customers bank in (ISO 13616
/// registry); other countries get the generic 15..=34 bound.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AT", 20),
    ("BE", 16),
    ("CH", 21),
    ("DE", 22),
    ("DK", 18),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("IE", 22),
    ("IT", 27),
    ("LI", 21),
    ("LU", 20),
    ("NL", 18),
    ("NO", 15),
    ("PT", 25),
    ("SE", 24),
];

/// An International Bank Account Number (BT-84 for a credit transfer), stored without spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Iban(String);

impl Iban {
    /// Parses an IBAN, accepting the printed form with spaces; checks the country, the length
    /// for known countries and the ISO 13616 mod-97 check digits.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        const KIND: &str = "IBAN";
        let iban = compact(s);
        if !iban.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(IdentifierError::Characters {
                kind: KIND,
                value: s.to_owned(),
                allowed: "letters and digits",
            });
        }
        let expected = IBAN_LENGTHS
            .iter()
            .find(|(country, _)| iban.starts_with(country))
            .map(|(_, len)| *len);
        let length_ok = match expected {
            Some(len) => iban.len() == len,
            None => (15..=34).contains(&iban.len()),
        };
        if !length_ok {
            return Err(IdentifierError::Length {
                kind: KIND,
                value: s.to_owned(),
                actual: iban.len(),
                expected: match expected {
                    Some(len) => format!("{} IBANs have {len}", &iban[..2]),
                    None => "an IBAN has 15 to 34".to_owned(),
                },
            });
        }
        let country = &iban[..2];
        if !is_iso_3166(country) {
            return Err(IdentifierError::Country {
                kind: KIND,
                value: s.to_owned(),
                country: country.to_owned(),
            });
        }
        if !iban[2..4].chars().all(|c| c.is_ascii_digit()) {
            return Err(IdentifierError::CheckDigit {
                kind: KIND,
                value: s.to_owned(),
                rule: "characters 3 and 4 must be digits",
            });
        }
        // ISO 13616: move the first four characters to the end, letters become 10..35, and the
        // number must leave 1 modulo 97. Folding digit by digit keeps it within u32.
        let rearranged = iban[4..].chars().chain(iban[..4].chars());
        let mut rest: u32 = 0;
        for c in rearranged {
            let v = c.to_digit(36).unwrap_or(0);
            rest = if v >= 10 {
                (rest * 100 + v) % 97
            } else {
                (rest * 10 + v) % 97
            };
        }
        if rest != 1 {
            return Err(IdentifierError::CheckDigit {
                kind: KIND,
                value: s.to_owned(),
                rule: "ISO 13616 mod 97",
            });
        }
        Ok(Iban(iban))
    }

    /// The IBAN without spaces, as EN 16931 wants it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Iban {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A SWIFT/BIC code (BT-86): 4 letters of bank, 2 of country, 2 of location, optionally 3 of
/// branch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bic(String);

impl Bic {
    /// Parses a BIC of 8 or 11 characters.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        const KIND: &str = "BIC";
        let bic = compact(s);
        if bic.len() != 8 && bic.len() != 11 {
            return Err(IdentifierError::Length {
                kind: KIND,
                value: s.to_owned(),
                actual: bic.len(),
                expected: "a BIC has 8 or 11".to_owned(),
            });
        }
        if !bic.chars().all(|c| c.is_ascii_alphanumeric())
            || !bic[..4].chars().all(|c| c.is_ascii_alphabetic())
        {
            return Err(IdentifierError::Characters {
                kind: KIND,
                value: s.to_owned(),
                allowed: "a four-letter bank code followed by letters and digits",
            });
        }
        if !is_iso_3166(&bic[4..6]) {
            return Err(IdentifierError::Country {
                kind: KIND,
                value: s.to_owned(),
                country: bic[4..6].to_owned(),
            });
        }
        Ok(Bic(bic))
    }

    /// The BIC in upper case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Bic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A GS1 Global Location Number: 13 digits, the last a GS1 mod-10 check digit. Peppol's
/// scheme 0088.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gln(String);

impl Gln {
    /// Parses a GLN and checks its check digit.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        const KIND: &str = "GLN";
        let gln = compact(s);
        if !gln.chars().all(|c| c.is_ascii_digit()) {
            return Err(IdentifierError::Characters {
                kind: KIND,
                value: s.to_owned(),
                allowed: "digits",
            });
        }
        if gln.len() != 13 {
            return Err(IdentifierError::Length {
                kind: KIND,
                value: s.to_owned(),
                actual: gln.len(),
                expected: "a GLN has 13".to_owned(),
            });
        }
        if !gs1_check_digit_ok(&gln) {
            return Err(IdentifierError::CheckDigit {
                kind: KIND,
                value: s.to_owned(),
                rule: "GS1 mod 10",
            });
        }
        Ok(Gln(gln))
    }

    /// The 13 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Gln {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// GS1 mod 10: from the right, excluding the check digit, weights 3, 1, 3, 1 ...; the check
/// digit brings the sum to a multiple of ten. `digits` must be ASCII digits.
fn gs1_check_digit_ok(digits: &str) -> bool {
    let values: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    let Some((check, body)) = values.split_last() else {
        return false;
    };
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d })
        .sum();
    (10 - sum % 10) % 10 == *check
}

/// A VAT identifier (BT-31, BT-48): the ISO 3166 country prefix (Greece writes `EL`) followed
/// by 2 to 14 letters, digits or the `+` and `*` some countries use (14: the Swiss
/// `CHE123456789MWST`). Country-specific checksums are left to the tax authorities'
/// services; this catches what is plainly not a VAT id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VatId(String);

impl VatId {
    /// Parses a VAT identifier, accepting spaces, dots and dashes as printed.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        const KIND: &str = "VAT identifier";
        let vat: String = compact(s)
            .chars()
            .filter(|c| !matches!(c, '.' | '-'))
            .collect();
        if !vat
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '*')
        {
            return Err(IdentifierError::Characters {
                kind: KIND,
                value: s.to_owned(),
                allowed: "letters, digits, `+` and `*`",
            });
        }
        if !(4..=16).contains(&vat.len()) {
            return Err(IdentifierError::Length {
                kind: KIND,
                value: s.to_owned(),
                actual: vat.len(),
                expected: "a VAT identifier has a two-letter country prefix and 2 to 14 more"
                    .to_owned(),
            });
        }
        let prefix = &vat[..2];
        if prefix != "EL" && !is_iso_3166(prefix) {
            return Err(IdentifierError::Country {
                kind: KIND,
                value: s.to_owned(),
                country: prefix.to_owned(),
            });
        }
        if !vat[2..].chars().any(|c| c.is_ascii_digit()) {
            return Err(IdentifierError::Characters {
                kind: KIND,
                value: s.to_owned(),
                allowed: "a country prefix followed by a number",
            });
        }
        Ok(VatId(vat))
    }

    /// The identifier with its prefix, no spaces.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for VatId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The electronic address schemes (EAS) Peppol BIS Billing 3.0 routes on (its CL008 list);
/// most are ISO 6523 ICD codes, the 99xx ones national VAT and registration numbers.
const PEPPOL_EAS: &[&str] = &[
    "0002", "0007", "0009", "0037", "0060", "0088", "0096", "0097", "0106", "0130", "0135", "0142",
    "0151", "0183", "0184", "0188", "0190", "0191", "0192", "0193", "0195", "0196", "0198", "0199",
    "0200", "0201", "0202", "0204", "0208", "0209", "0210", "0211", "0212", "0213", "0215", "0216",
    "0218", "0221", "0230", "9901", "9910", "9913", "9914", "9915", "9918", "9919", "9920", "9922",
    "9923", "9924", "9925", "9926", "9927", "9928", "9929", "9930", "9931", "9932", "9933", "9934",
    "9935", "9936", "9937", "9938", "9939", "9940", "9941", "9942", "9943", "9944", "9945", "9946",
    "9947", "9948", "9949", "9950", "9951", "9952", "9953", "9957", "9959",
];

/// Codes EN 16931 still accepts that Peppol no longer routes on: `9906` (Italian VAT, replaced
/// by 0211 in Peppol) and `EM` (an e-mail address; how a patient is reached). Accepted as
/// identifiers; as an electronic address [`Document::missing`](crate::document::Document::missing)
/// reports them, because a Peppol document needs a routable one.
const OTHER_EAS: &[&str] = &["9906", "EM"];

/// An electronic address scheme (EAS) or ISO 6523 ICD code, e.g. `0088` (GLN), `0208`
/// (Belgian enterprise number), `9925` (Belgian VAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scheme(&'static str);

impl Scheme {
    /// GS1 GLN.
    pub const GLN: Scheme = Scheme("0088");
    /// An e-mail address (EAS `EM`).
    pub const EMAIL: Scheme = Scheme("EM");

    /// Parses a scheme code from the accepted list.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let code = compact(s);
        PEPPOL_EAS
            .iter()
            .chain(OTHER_EAS)
            .find(|c| **c == code)
            .map(|c| Scheme(c))
            .ok_or_else(|| IdentifierError::UnknownScheme(s.to_owned()))
    }

    /// The code as written in `schemeID`.
    pub fn code(&self) -> &'static str {
        self.0
    }

    /// Whether Peppol BIS Billing 3.0 accepts this scheme for an electronic address
    /// (PEPPOL-EN16931-CL008).
    pub fn is_peppol_endpoint(&self) -> bool {
        PEPPOL_EAS.contains(&self.0)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// An identifier within a scheme: an electronic address (BT-34, BT-49) or a legal
/// registration id (BT-30, BT-47). The value is checked where the scheme has a rule Peppol
/// enforces: GLN check digit (0088), Belgian enterprise number mod 97 (0208), Swedish
/// organisation number Luhn (0007), e-mail shape (EM).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemeId {
    scheme: Scheme,
    value: String,
}

impl SchemeId {
    /// Parses `value` under `scheme`.
    pub fn parse(scheme: Scheme, value: &str) -> Result<Self, IdentifierError> {
        let value = value.trim();
        let value = match scheme.code() {
            "0088" => Gln::parse(value)?.0,
            "0208" => belgian_enterprise_number(value)?,
            "0007" => swedish_organisation_number(value)?,
            "EM" => {
                let ok = value
                    .split_once('@')
                    .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'));
                if !ok || value.chars().any(char::is_whitespace) {
                    return Err(IdentifierError::Characters {
                        kind: "e-mail address",
                        value: value.to_owned(),
                        allowed: "a local part, `@` and a domain",
                    });
                }
                value.to_owned()
            }
            _ if value.is_empty() || value.len() > 100 => {
                return Err(IdentifierError::Length {
                    kind: "identifier",
                    value: value.to_owned(),
                    actual: value.len(),
                    expected: "an identifier has 1 to 100".to_owned(),
                });
            }
            _ => value.to_owned(),
        };
        Ok(SchemeId { scheme, value })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The identifier within the scheme.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// 10 digits; the last two are 97 minus the first eight modulo 97.
fn belgian_enterprise_number(value: &str) -> Result<String, IdentifierError> {
    const KIND: &str = "Belgian enterprise number (0208)";
    let digits: String = value.chars().filter(|c| !matches!(c, '.' | ' ')).collect();
    if digits.len() != 10 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(IdentifierError::Length {
            kind: KIND,
            value: value.to_owned(),
            actual: digits.len(),
            expected: "it has 10 digits".to_owned(),
        });
    }
    let body: u64 = digits[..8].parse().unwrap_or(0);
    let check: u64 = digits[8..].parse().unwrap_or(0);
    if 97 - body % 97 != check {
        return Err(IdentifierError::CheckDigit {
            kind: KIND,
            value: value.to_owned(),
            rule: "mod 97",
        });
    }
    Ok(digits)
}

/// 10 digits with a Luhn check digit.
fn swedish_organisation_number(value: &str) -> Result<String, IdentifierError> {
    const KIND: &str = "Swedish organisation number (0007)";
    let digits: String = value.chars().filter(|c| *c != '-').collect();
    if digits.len() != 10 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(IdentifierError::Length {
            kind: KIND,
            value: value.to_owned(),
            actual: digits.len(),
            expected: "it has 10 digits".to_owned(),
        });
    }
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    if !sum.is_multiple_of(10) {
        return Err(IdentifierError::CheckDigit {
            kind: KIND,
            value: value.to_owned(),
            rule: "Luhn",
        });
    }
    Ok(digits)
}

/// EN 16931 code lists as the CEN schematron checks them (EN16931-UBL-validation 1.3.16,
/// rules BR-CL-*), copied verbatim so a document the model accepts uses only codes the
/// receiver's validator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CodeList {
    /// UN/ECE Recommendation 20 (with Rec 21) units of measure: BT-130.
    UnitOfMeasure,
    /// CEF VATEX exemption reason codes: BT-121.
    VatExemptionReason,
    /// UNTDID 4461 payment means: BT-81.
    PaymentMeans,
    /// UNTDID 5189 allowance reasons: BT-98.
    AllowanceReason,
    /// UNTDID 7161 charge reasons: BT-105.
    ChargeReason,
}

impl CodeList {
    /// The list's name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            CodeList::UnitOfMeasure => "UN/ECE Recommendation 20 unit",
            CodeList::VatExemptionReason => "VATEX exemption reason code",
            CodeList::PaymentMeans => "UNTDID 4461 payment means code",
            CodeList::AllowanceReason => "UNTDID 5189 allowance reason code",
            CodeList::ChargeReason => "UNTDID 7161 charge reason code",
        }
    }

    /// Whether `code` is on the list (exactly, as the rules compare it).
    pub fn contains(self, code: &str) -> bool {
        let list = match self {
            CodeList::UnitOfMeasure => REC_20,
            CodeList::VatExemptionReason => VATEX,
            CodeList::PaymentMeans => UNCL_4461,
            CodeList::AllowanceReason => UNCL_5189,
            CodeList::ChargeReason => UNCL_7161,
        };
        !code.is_empty() && list.split_ascii_whitespace().any(|c| c == code)
    }
}

/// UN/ECE Recommendation 20 and 21 unit codes (BR-CL-23, 2162 codes).
const REC_20: &str = "10 11 13 14 15 20 21 22 23 24 25 27 28 33 34 35 37 38 40 41 56 57 58 59 60 61 74 77 80 81 \
    85 87 89 91 1I 2A 2B 2C 2G 2H 2I 2J 2K 2L 2M 2N 2P 2Q 2R 2U 2X 2Y 2Z 3B 3C 4C 4G 4H 4K 4L \
    4M 4N 4O 4P 4Q 4R 4T 4U 4W 4X 5A 5B 5E 5J A10 A11 A12 A13 A14 A15 A16 A17 A18 A19 A2 A20 \
    A21 A22 A23 A24 A26 A27 A28 A29 A3 A30 A31 A32 A33 A34 A35 A36 A37 A38 A39 A4 A40 A41 A42 \
    A43 A44 A45 A47 A48 A49 A5 A53 A54 A55 A56 A59 A6 A68 A69 A7 A70 A71 A73 A74 A75 A76 A8 \
    A84 A85 A86 A87 A88 A89 A9 A90 A91 A93 A94 A95 A96 A97 A98 A99 AA AB ACR ACT AD AE AH AI \
    AK AL AMH AMP ANN APZ AQ AS ASM ASU ATM AWG AY AZ B1 B10 B11 B12 B13 B14 B15 B16 B17 B18 \
    B19 B20 B21 B22 B23 B24 B25 B26 B27 B28 B29 B3 B30 B31 B32 B33 B34 B35 B4 B41 B42 B43 B44 \
    B45 B46 B47 B48 B49 B50 B52 B53 B54 B55 B56 B57 B58 B59 B60 B61 B62 B63 B64 B66 B67 B68 \
    B69 B7 B70 B71 B72 B73 B74 B75 B76 B77 B78 B79 B8 B80 B81 B82 B83 B84 B85 B86 B87 B88 B89 \
    B90 B91 B92 B93 B94 B95 B96 B97 B98 B99 BAR BB BFT BHP BIL BLD BLL BP BPM BQL BTU BUA BUI \
    C0 C10 C11 C12 C13 C14 C15 C16 C17 C18 C19 C20 C21 C22 C23 C24 C25 C26 C27 C28 C29 C3 C30 \
    C31 C32 C33 C34 C35 C36 C37 C38 C39 C40 C41 C42 C43 C44 C45 C46 C47 C48 C49 C50 C51 C52 \
    C53 C54 C55 C56 C57 C58 C59 C60 C61 C62 C63 C64 C65 C66 C67 C68 C69 C7 C70 C71 C72 C73 C74 \
    C75 C76 C78 C79 C8 C80 C81 C82 C83 C84 C85 C86 C87 C88 C89 C9 C90 C91 C92 C93 C94 C95 C96 \
    C97 C99 CCT CDL CEL CEN CG CGM CKG CLF CLT CMK CMQ CMT CNP CNT COU CTG CTM CTN CUR CWA CWI \
    D03 D04 D1 D10 D11 D12 D13 D15 D16 D17 D18 D19 D2 D20 D21 D22 D23 D24 D25 D26 D27 D29 D30 \
    D31 D32 D33 D34 D36 D41 D42 D43 D44 D45 D46 D47 D48 D49 D5 D50 D51 D52 D53 D54 D55 D56 D57 \
    D58 D59 D6 D60 D61 D62 D63 D65 D68 D69 D73 D74 D77 D78 D80 D81 D82 D83 D85 D86 D87 D88 D89 \
    D91 D93 D94 D95 DAA DAD DAY DB DBM DBW DD DEC DG DJ DLT DMA DMK DMO DMQ DMT DN DPC DPR DPT \
    DRA DRI DRL DT DTN DWT DZN DZP E01 E07 E08 E09 E10 E12 E14 E15 E16 E17 E18 E19 E20 E21 E22 \
    E23 E25 E27 E28 E30 E31 E32 E33 E34 E35 E36 E37 E38 E39 E4 E40 E41 E42 E43 E44 E45 E46 E47 \
    E48 E49 E50 E51 E52 E53 E54 E55 E56 E57 E58 E59 E60 E61 E62 E63 E64 E65 E66 E67 E68 E69 \
    E70 E71 E72 E73 E74 E75 E76 E77 E78 E79 E80 E81 E82 E83 E84 E85 E86 E87 E88 E89 E90 E91 \
    E92 E93 E94 E95 E96 E97 E98 E99 EA EB EQ F01 F02 F03 F04 F05 F06 F07 F08 F10 F11 F12 F13 \
    F14 F15 F16 F17 F18 F19 F20 F21 F22 F23 F24 F25 F26 F27 F28 F29 F30 F31 F32 F33 F34 F35 \
    F36 F37 F38 F39 F40 F41 F42 F43 F44 F45 F46 F47 F48 F49 F50 F51 F52 F53 F54 F55 F56 F57 \
    F58 F59 F60 F61 F62 F63 F64 F65 F66 F67 F68 F69 F70 F71 F72 F73 F74 F75 F76 F77 F78 F79 \
    F80 F81 F82 F83 F84 F85 F86 F87 F88 F89 F90 F91 F92 F93 F94 F95 F96 F97 F98 F99 FAH FAR \
    FBM FC FF FH FIT FL FNU FOT FP FR FS FTK FTQ G01 G04 G05 G06 G08 G09 G10 G11 G12 G13 G14 \
    G15 G16 G17 G18 G19 G2 G20 G21 G23 G24 G25 G26 G27 G28 G29 G3 G30 G31 G32 G33 G34 G35 G36 \
    G37 G38 G39 G40 G41 G42 G43 G44 G45 G46 G47 G48 G49 G50 G51 G52 G53 G54 G55 G56 G57 G58 \
    G59 G60 G61 G62 G63 G64 G65 G66 G67 G68 G69 G70 G71 G72 G73 G74 G75 G76 G77 G78 G79 G80 \
    G81 G82 G83 G84 G85 G86 G87 G88 G89 G90 G91 G92 G93 G94 G95 G96 G97 G98 G99 GB GBQ GDW GE \
    GF GFI GGR GIA GIC GII GIP GJ GL GLD GLI GLL GM GO GP GQ GRM GRN GRO GV GWH H03 H04 H05 \
    H06 H07 H08 H09 H10 H11 H12 H13 H14 H15 H16 H18 H19 H20 H21 H22 H23 H24 H25 H26 H27 H28 \
    H29 H30 H31 H32 H33 H34 H35 H36 H37 H38 H39 H40 H41 H42 H43 H44 H45 H46 H47 H48 H49 H50 \
    H51 H52 H53 H54 H55 H56 H57 H58 H59 H60 H61 H62 H63 H64 H65 H66 H67 H68 H69 H70 H71 H72 \
    H73 H74 H75 H76 H77 H79 H80 H81 H82 H83 H84 H85 H87 H88 H89 H90 H91 H92 H93 H94 H95 H96 \
    H98 H99 HA HAD HBA HBX HC HDW HEA HGM HH HIU HKM HLT HM HMO HMQ HMT HPA HTZ HUR HWE IA IE \
    INH INK INQ ISD IU IUG IV J10 J12 J13 J14 J15 J16 J17 J18 J19 J2 J20 J21 J22 J23 J24 J25 \
    J26 J27 J28 J29 J30 J31 J32 J33 J34 J35 J36 J38 J39 J40 J41 J42 J43 J44 J45 J46 J47 J48 \
    J49 J50 J51 J52 J53 J54 J55 J56 J57 J58 J59 J60 J61 J62 J63 J64 J65 J66 J67 J68 J69 J70 \
    J71 J72 J73 J74 J75 J76 J78 J79 J81 J82 J83 J84 J85 J87 J90 J91 J92 J93 J95 J96 J97 J98 \
    J99 JE JK JM JNT JOU JPS JWL K1 K10 K11 K12 K13 K14 K15 K16 K17 K18 K19 K2 K20 K21 K22 K23 \
    K26 K27 K28 K3 K30 K31 K32 K33 K34 K35 K36 K37 K38 K39 K40 K41 K42 K43 K45 K46 K47 K48 K49 \
    K50 K51 K52 K53 K54 K55 K58 K59 K6 K60 K61 K62 K63 K64 K65 K66 K67 K68 K69 K70 K71 K73 K74 \
    K75 K76 K77 K78 K79 K80 K81 K82 K83 K84 K85 K86 K87 K88 K89 K90 K91 K92 K93 K94 K95 K96 \
    K97 K98 K99 KA KAT KB KBA KCC KDW KEL KGM KGS KHY KHZ KI KIC KIP KJ KJO KL KLK KLX KMA KMH \
    KMK KMQ KMT KNI KNM KNS KNT KO KPA KPH KPO KPP KR KSD KSH KT KTN KUR KVA KVR KVT KW KWH \
    KWN KWO KWS KWT KWY KX L10 L11 L12 L13 L14 L15 L16 L17 L18 L19 L2 L20 L21 L23 L24 L25 L26 \
    L27 L28 L29 L30 L31 L32 L33 L34 L35 L36 L37 L38 L39 L40 L41 L42 L43 L44 L45 L46 L47 L48 \
    L49 L50 L51 L52 L53 L54 L55 L56 L57 L58 L59 L60 L63 L64 L65 L66 L67 L68 L69 L70 L71 L72 \
    L73 L74 L75 L76 L77 L78 L79 L80 L81 L82 L83 L84 L85 L86 L87 L88 L89 L90 L91 L92 L93 L94 \
    L95 L96 L98 L99 LA LAC LBR LBT LD LEF LF LH LK LM LN LO LP LPA LR LS LTN LTR LUB LUM LUX \
    LY M1 M10 M11 M12 M13 M14 M15 M16 M17 M18 M19 M20 M21 M22 M23 M24 M25 M26 M27 M29 M30 M31 \
    M32 M33 M34 M35 M36 M37 M38 M39 M4 M40 M41 M42 M43 M44 M45 M46 M47 M48 M49 M5 M50 M51 M52 \
    M53 M55 M56 M57 M58 M59 M60 M61 M62 M63 M64 M65 M66 M67 M68 M69 M7 M70 M71 M72 M73 M74 M75 \
    M76 M77 M78 M79 M80 M81 M82 M83 M84 M85 M86 M87 M88 M89 M9 M90 M91 M92 M93 M94 M95 M96 M97 \
    M98 M99 MAH MAL MAM MAR MAW MBE MBF MBR MC MCU MD MGM MHZ MIK MIL MIN MIO MIU MKD MKM MKW \
    MLD MLT MMK MMQ MMT MND MNJ MON MPA MQD MQH MQM MQS MQW MRD MRM MRW MSK MTK MTQ MTR MTS \
    MTZ MVA MWH N1 N10 N11 N12 N13 N14 N15 N16 N17 N18 N19 N20 N21 N22 N23 N24 N25 N26 N27 N28 \
    N29 N3 N30 N31 N32 N33 N34 N35 N36 N37 N38 N39 N40 N41 N42 N43 N44 N45 N46 N47 N48 N49 N50 \
    N51 N52 N53 N54 N55 N56 N57 N58 N59 N60 N61 N62 N63 N64 N65 N66 N67 N68 N69 N70 N71 N72 \
    N73 N74 N75 N76 N77 N78 N79 N80 N81 N82 N83 N84 N85 N86 N87 N88 N89 N90 N91 N92 N93 N94 \
    N95 N96 N97 N98 N99 NA NAR NCL NEW NF NIL NIU NL NM3 NMI NMP NPT NT NTU NU NX OA ODE ODG \
    ODK ODM OHM ON ONZ OPM OT OZA OZI P1 P10 P11 P12 P13 P14 P15 P16 P17 P18 P19 P2 P20 P21 \
    P22 P23 P24 P25 P26 P27 P28 P29 P30 P31 P32 P33 P34 P35 P36 P37 P38 P39 P40 P41 P42 P43 \
    P44 P45 P46 P47 P48 P49 P5 P50 P51 P52 P53 P54 P55 P56 P57 P58 P59 P60 P61 P62 P63 P64 P65 \
    P66 P67 P68 P69 P70 P71 P72 P73 P74 P75 P76 P77 P78 P79 P80 P81 P82 P83 P84 P85 P86 P87 \
    P88 P89 P90 P91 P92 P93 P94 P95 P96 P97 P98 P99 PAL PD PFL PGL PI PLA PO PQ PR PS PTD PTI \
    PTL PTN Q10 Q11 Q12 Q13 Q14 Q15 Q16 Q17 Q18 Q19 Q20 Q21 Q22 Q23 Q24 Q25 Q26 Q27 Q28 Q29 Q3 \
    Q30 Q31 Q32 Q33 Q34 Q35 Q36 Q37 Q38 Q39 Q40 Q41 Q42 QA QAN QB QR QTD QTI QTL QTR R1 R9 RH \
    RM ROM RP RPM RPS RT S3 S4 SAN SCO SCR SEC SET SG SIE SM3 SMI SQ SQR SR STC STI STK STL \
    STN STW SW SX SYR T0 T3 TAH TAN TI TIC TIP TKM TMS TNE TP TPI TPR TQD TRL TST TTS U1 U2 UB \
    UC VA VLT VP W2 WA WB WCD WE WEB WEE WG WHR WM WSD WTT X1 YDK YDQ YRD Z11 Z9 ZP ZZ X1A X1B \
    X1D X1F X1G X1W X2C X3A X3H X43 X44 X4A X4B X4C X4D X4F X4G X4H X5H X5L X5M X6H X6P X7A \
    X7B X8A X8B X8C XAA XAB XAC XAD XAE XAF XAG XAH XAI XAJ XAL XAM XAP XAT XAV XB4 XBA XBB \
    XBC XBD XBE XBF XBG XBH XBI XBJ XBK XBL XBM XBN XBO XBP XBQ XBR XBS XBT XBU XBV XBW XBX \
    XBY XBZ XCA XCB XCC XCD XCE XCF XCG XCH XCI XCJ XCK XCL XCM XCN XCO XCP XCQ XCR XCS XCT \
    XCU XCV XCW XCX XCY XCZ XDA XDB XDC XDG XDH XDI XDJ XDK XDL XDM XDN XDP XDR XDS XDT XDU \
    XDV XDW XDX XDY XEC XED XEE XEF XEG XEH XEI XEN XFB XFC XFD XFE XFI XFL XFO XFP XFR XFT \
    XFW XFX XGB XGI XGL XGR XGU XGY XGZ XHA XHB XHC XHG XHN XHR XIA XIB XIC XID XIE XIF XIG \
    XIH XIK XIL XIN XIZ XJB XJC XJG XJR XJT XJY XKG XKI XLE XLG XLT XLU XLV XLZ XMA XMB XMC \
    XME XMR XMS XMT XMW XMX XNA XNE XNF XNG XNS XNT XNU XNV XO1 XO2 XO3 XO4 XO5 XO6 XO7 XO8 \
    XO9 XOA XOB XOC XOD XOE XOF XOG XOH XOI XOJ XOK XOL XOM XON XOP XOQ XOR XOS XOT XOU XOV \
    XOW XOX XOY XOZ XP1 XP2 XP3 XP4 XPA XPB XPC XPD XPE XPF XPG XPH XPI XPJ XPK XPL XPN XPO \
    XPP XPR XPT XPU XPV XPX XPY XPZ XQA XQB XQC XQD XQF XQG XQH XQJ XQK XQL XQM XQN XQP XQQ \
    XQR XQS XRD XRG XRJ XRK XRL XRO XRT XRZ XSA XSB XSC XSD XSE XSH XSI XSK XSL XSM XSO XSP \
    XSS XST XSU XSV XSW XSX XSY XSZ XT1 XTB XTC XTD XTE XTG XTI XTK XTL XTN XTO XTR XTS XTT \
    XTU XTV XTW XTY XTZ XUC XUN XVA XVG XVI XVK XVL XVN XVO XVP XVQ XVR XVS XVY XWA XWB XWC \
    XWD XWF XWG XWH XWJ XWK XWL XWM XWN XWP XWQ XWR XWS XWT XWU XWV XWW XWX XWY XWZ XXA XXB \
    XXC XXD XXF XXG XXH XXJ XXK XYA XYB XYC XYD XYF XYG XYH XYJ XYK XYL XYM XYN XYP XYQ XYR \
    XYS XYT XYV XYW XYX XYY XYZ XZA XZB XZC XZD XZF XZG XZH XZJ XZK XZL XZM XZN XZP XZQ XZR \
    XZS XZT XZU XZV XZW XZX XZY XZZ";

/// VATEX exemption reason codes (BR-CL-22, 88 codes).
const VATEX: &str = "VATEX-EU-79-C VATEX-EU-132 VATEX-EU-132-1A VATEX-EU-132-1B VATEX-EU-132-1C VATEX-EU-132-1D \
    VATEX-EU-132-1E VATEX-EU-132-1F VATEX-EU-132-1G VATEX-EU-132-1H VATEX-EU-132-1I \
    VATEX-EU-132-1J VATEX-EU-132-1K VATEX-EU-132-1L VATEX-EU-132-1M VATEX-EU-132-1N \
    VATEX-EU-132-1O VATEX-EU-132-1P VATEX-EU-132-1Q VATEX-EU-135-1 VATEX-EU-143 \
    VATEX-EU-143-1A VATEX-EU-143-1B VATEX-EU-143-1C VATEX-EU-143-1D VATEX-EU-143-1E \
    VATEX-EU-143-1F VATEX-EU-143-1FA VATEX-EU-143-1G VATEX-EU-143-1H VATEX-EU-143-1I \
    VATEX-EU-143-1J VATEX-EU-143-1K VATEX-EU-143-1L VATEX-EU-144 VATEX-EU-146-1E VATEX-EU-159 \
    VATEX-EU-309 VATEX-EU-148 VATEX-EU-148-A VATEX-EU-148-B VATEX-EU-148-C VATEX-EU-148-D \
    VATEX-EU-148-E VATEX-EU-148-F VATEX-EU-148-G VATEX-EU-151 VATEX-EU-151-1A VATEX-EU-151-1AA \
    VATEX-EU-151-1B VATEX-EU-151-1C VATEX-EU-151-1D VATEX-EU-151-1E VATEX-EU-G VATEX-EU-O \
    VATEX-EU-IC VATEX-EU-AE VATEX-EU-D VATEX-EU-F VATEX-EU-I VATEX-EU-J VATEX-FR-FRANCHISE \
    VATEX-FR-CNWVAT VATEX-EU-153 VATEX-FR-CGI261-1 VATEX-FR-CGI261-2 VATEX-FR-CGI261-3 \
    VATEX-FR-CGI261-4 VATEX-FR-CGI261-5 VATEX-FR-CGI261-7 VATEX-FR-CGI261-8 VATEX-FR-CGI261A \
    VATEX-FR-CGI261B VATEX-FR-CGI261C-1 VATEX-FR-CGI261C-2 VATEX-FR-CGI261C-3 \
    VATEX-FR-CGI261D-1 VATEX-FR-CGI261D-1BIS VATEX-FR-CGI261D-2 VATEX-FR-CGI261D-3 \
    VATEX-FR-CGI261D-4 VATEX-FR-CGI261E-1 VATEX-FR-CGI261E-2 VATEX-FR-CGI277A VATEX-FR-CGI275 \
    VATEX-FR-298SEXDECIESA VATEX-FR-CGI295 VATEX-FR-AE";

/// UNTDID 4461 payment means codes (BR-CL-16, 84 codes).
const UNCL_4461: &str = "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 \
    34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 \
    64 65 66 67 68 69 70 74 75 76 77 78 91 92 93 94 95 96 97 98 ZZZ";

/// UNTDID 5189 allowance reason codes (BR-CL-19, 19 codes).
const UNCL_5189: &str = "41 42 60 62 63 64 65 66 67 68 70 71 88 95 100 102 103 104 105";

/// UNTDID 7161 charge reason codes (BR-CL-20, 178 codes).
const UNCL_7161: &str = "AA AAA AAC AAD AAE AAF AAH AAI AAS AAT AAV AAY AAZ ABA ABB ABC ABD ABF ABK ABL ABN ABR ABS \
    ABT ABU ACF ACG ACH ACI ACJ ACK ACL ACM ACS ADC ADE ADJ ADK ADL ADM ADN ADO ADP ADQ ADR \
    ADT ADW ADY ADZ AEA AEB AEC AED AEF AEH AEI AEJ AEK AEL AEM AEN AEO AEP AES AET AEU AEV \
    AEW AEX AEY AEZ AJ AU CA CAB CAD CAE CAF CAI CAJ CAK CAL CAM CAN CAO CAP CAQ CAR CAS CAT \
    CAU CAV CAW CAX CAY CAZ CD CG CS CT DAB DAD DAC DAF DAG DAH DAI DAJ DAK DAL DAM DAN DAO \
    DAP DAQ DL EG EP ER FAA FAB FAC FC FH FI GAA HAA HD HH IAA IAB ID IF IR IS KO L1 LA LAA \
    LAB LF MAE MI ML NAA OA PA PAA PC PL PRV RAB RAC RAD RAF RE RF RH RV SA SAA SAD SAE SAI SG \
    SH SM SU TAB TAC TT TV V1 V2 WH XAA YY ZZZ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ibans_from_the_registry_examples_pass_and_a_changed_digit_fails() {
        for good in [
            "DE89 3704 0044 0532 0130 00",
            "GB82WEST12345698765432",
            "NL91ABNA0417164300",
            "BE68539007547034",
            "CH9300762011623852957",
            "fr14 2004 1010 0505 0001 3m02 606",
        ] {
            assert!(Iban::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            Iban::parse("DE89 3704 0044 0532 0130 00").unwrap().as_str(),
            "DE89370400440532013000"
        );
        let err = Iban::parse("DE88370400440532013000").unwrap_err();
        assert_eq!(
            err.to_string(),
            "IBAN `DE88370400440532013000` fails its check digit (ISO 13616 mod 97)"
        );
        assert!(matches!(
            Iban::parse("DE8937040044053201300").unwrap_err(),
            IdentifierError::Length { .. }
        ));
        assert!(matches!(
            Iban::parse("DE89-3704").unwrap_err(),
            IdentifierError::Characters { .. }
        ));
        assert!(matches!(
            Iban::parse("QQ8937040044053201300012").unwrap_err(),
            IdentifierError::Country { .. }
        ));
    }

    #[test]
    fn gln_check_digit_is_gs1_mod_10() {
        // GS1's own example and a real hospital-style GLN.
        assert!(Gln::parse("4000001000005").is_ok());
        assert!(Gln::parse("5790000435975").is_ok());
        assert!(Gln::parse("7601001000001").is_ok());
        assert_eq!(
            Gln::parse("4000001000006").unwrap_err().to_string(),
            "GLN `4000001000006` fails its check digit (GS1 mod 10)"
        );
        assert!(matches!(
            Gln::parse("400000100000").unwrap_err(),
            IdentifierError::Length { .. }
        ));
        assert!(matches!(
            Gln::parse("40000010000A5").unwrap_err(),
            IdentifierError::Characters { .. }
        ));
    }

    #[test]
    fn bic_shape() {
        assert_eq!(Bic::parse("deutdeff").unwrap().as_str(), "DEUTDEFF");
        assert!(Bic::parse("DEUTDEFF500").is_ok());
        assert!(Bic::parse("UBSWCHZH80A").is_ok());
        assert!(matches!(
            Bic::parse("DEUTDEF").unwrap_err(),
            IdentifierError::Length { .. }
        ));
        assert!(matches!(
            Bic::parse("DEU1DEFF").unwrap_err(),
            IdentifierError::Characters { .. }
        ));
        assert!(matches!(
            Bic::parse("DEUTQQFF").unwrap_err(),
            IdentifierError::Country { .. }
        ));
    }

    #[test]
    fn vat_ids_need_a_country_prefix_and_a_number() {
        for good in [
            "DE123456789",
            "NL 8594.11.549.B01",
            "BE0403019261",
            "EL094014201",
            "FR40303265045",
            "CHE-123.456.788",
            "CHE-123.456.788 MWST",
            "IE6388047V",
        ] {
            assert!(VatId::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            VatId::parse("NL 8594.11.549.B01").unwrap().as_str(),
            "NL859411549B01"
        );
        assert!(matches!(
            VatId::parse("123456789").unwrap_err(),
            IdentifierError::Country { .. }
        ));
        assert!(matches!(
            VatId::parse("DE12/34").unwrap_err(),
            IdentifierError::Characters { .. }
        ));
        assert!(matches!(
            VatId::parse("DE1").unwrap_err(),
            IdentifierError::Length { .. }
        ));
        assert!(matches!(
            VatId::parse("DEABC").unwrap_err(),
            IdentifierError::Characters { .. }
        ));
    }

    #[test]
    fn schemes_from_the_eas_list_are_accepted_and_checked() {
        for code in [
            "0088", "0184", "0192", "0208", "9906", "9920", "9930", "9959", "0007", "0060", "EM",
        ] {
            assert_eq!(Scheme::parse(code).unwrap().code(), code);
        }
        assert_eq!(
            Scheme::parse("1234").unwrap_err().to_string(),
            "`1234` is not an electronic address scheme (EAS) or ISO 6523 ICD code Carebill accepts"
        );
        assert!(Scheme::GLN.is_peppol_endpoint());
        assert!(!Scheme::EMAIL.is_peppol_endpoint());
        assert!(!Scheme::parse("9906").unwrap().is_peppol_endpoint());
        assert!(SchemeId::parse(Scheme::GLN, "4000001000005").is_ok());
        assert!(matches!(
            SchemeId::parse(Scheme::GLN, "4000001000006").unwrap_err(),
            IdentifierError::CheckDigit { .. }
        ));
        let be = Scheme::parse("0208").unwrap();
        assert_eq!(
            SchemeId::parse(be, "0403.019.261").unwrap().value(),
            "0403019261"
        );
        assert!(SchemeId::parse(be, "0403019262").is_err());
        let se = Scheme::parse("0007").unwrap();
        assert!(SchemeId::parse(se, "556036-0793").is_ok());
        assert!(SchemeId::parse(se, "5560360794").is_err());
        assert!(SchemeId::parse(Scheme::EMAIL, "patient@example.org").is_ok());
        assert!(SchemeId::parse(Scheme::EMAIL, "not an address").is_err());
        assert!(SchemeId::parse(Scheme::parse("9930").unwrap(), "").is_err());
    }

    #[test]
    fn code_lists_are_the_cen_schematron_s() {
        assert!(CodeList::UnitOfMeasure.contains("C62"));
        assert!(CodeList::UnitOfMeasure.contains("HUR"));
        assert!(CodeList::UnitOfMeasure.contains("DAY"));
        assert!(!CodeList::UnitOfMeasure.contains("PCS"));
        assert!(!CodeList::UnitOfMeasure.contains(""));
        assert!(CodeList::VatExemptionReason.contains("VATEX-EU-132-1B"));
        assert!(CodeList::VatExemptionReason.contains("VATEX-EU-O"));
        assert!(!CodeList::VatExemptionReason.contains("VATEX-EU-132-1Z"));
        assert!(CodeList::PaymentMeans.contains("58"));
        assert!(!CodeList::PaymentMeans.contains("71"));
        assert!(CodeList::AllowanceReason.contains("95"));
        assert!(CodeList::ChargeReason.contains("ABK"));
        assert_eq!(REC_20.split_ascii_whitespace().count(), 2162);
    }

    #[test]
    fn countries_are_iso_3166() {
        assert_eq!(Country::parse("ch").unwrap().code(), "CH");
        assert!(Country::parse("NL").is_ok());
        assert!(Country::parse("EL").is_err());
        assert!(Country::parse("XX").is_err());
        assert_eq!(ISO_3166.split_ascii_whitespace().count(), 249);
    }
}
