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
fn compact(s: &str) -> String {
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
/// by 2 to 13 letters, digits or the `+` and `*` some countries use. Country-specific checksums
/// are left to the tax authorities' services; this catches what is plainly not a VAT id.
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
        if !(4..=15).contains(&vat.len()) {
            return Err(IdentifierError::Length {
                kind: KIND,
                value: s.to_owned(),
                actual: vat.len(),
                expected: "a VAT identifier has a two-letter country prefix and 2 to 13 more"
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
    fn countries_are_iso_3166() {
        assert_eq!(Country::parse("ch").unwrap().code(), "CH");
        assert!(Country::parse("NL").is_ok());
        assert!(Country::parse("EL").is_err());
        assert!(Country::parse("XX").is_err());
        assert_eq!(ISO_3166.split_ascii_whitespace().count(), 249);
    }
}
