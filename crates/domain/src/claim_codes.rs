//! Identifiers and codes a US electronic claim (ASC X12 005010 837P/837I, 276) carries: the
//! National Provider Identifier, provider taxonomy, employer identification number, ICD-10-CM
//! diagnoses, CPT/HCPCS procedures and their modifiers, revenue codes, places of service, US
//! states and ZIP codes.
//!
//! As in [`crate::identifiers`], each type parses at the boundary and is valid by construction
//! past it, so the claim writer never emits a value a clearinghouse's validator refuses for its
//! shape or check digit; the error names the rule a person fixing master data must meet.

use std::fmt;

use crate::identifiers::{IdentifierError, compact};

fn characters(kind: &'static str, value: &str, allowed: &'static str) -> IdentifierError {
    IdentifierError::Characters {
        kind,
        value: value.to_owned(),
        allowed,
    }
}

fn length(kind: &'static str, value: &str, actual: usize, expected: &str) -> IdentifierError {
    IdentifierError::Length {
        kind,
        value: value.to_owned(),
        actual,
        expected: expected.to_owned(),
    }
}

macro_rules! as_str_and_display {
    ($($ty:ident),*) => {$(
        impl $ty {
            /// The value as written in a claim.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

as_str_and_display!(
    Npi,
    Taxonomy,
    Ein,
    Icd10Cm,
    Modifier,
    RevenueCode,
    PlaceOfService,
    UsState,
    ZipCode
);

/// A National Provider Identifier (45 CFR 162.406): 10 digits, the first 1 (a person) or 2 (an
/// organisation), the last a Luhn check digit computed over the card-issuer prefix `80840`
/// followed by the first nine digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Npi(String);

impl Npi {
    /// Parses an NPI and checks its check digit.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        const KIND: &str = "NPI";
        let npi = compact(s);
        if !npi.chars().all(|c| c.is_ascii_digit()) {
            return Err(characters(KIND, s, "digits"));
        }
        if npi.len() != 10 {
            return Err(length(KIND, s, npi.len(), "an NPI has 10"));
        }
        if !npi.starts_with(['1', '2']) {
            return Err(characters(KIND, s, "digits starting with 1 or 2"));
        }
        if npi_check_digit(&npi[..9]) != npi.as_bytes()[9] - b'0' {
            return Err(IdentifierError::CheckDigit {
                kind: KIND,
                value: s.to_owned(),
                rule: "Luhn over 80840 and the first nine digits",
            });
        }
        Ok(Npi(npi))
    }
}

/// The Luhn check digit of `80840` followed by `nine` (nine ASCII digits).
fn npi_check_digit(nine: &str) -> u8 {
    let sum: u32 = "80840"
        .bytes()
        .chain(nine.bytes())
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            // The check digit will sit to the right, so the rightmost body digit is doubled.
            if i % 2 == 0 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A Health Care Provider Taxonomy code (NUCC): three digits, six digits or capital letters,
/// then `X` — e.g. `207Q00000X` (family medicine), `282N00000X` (general acute care hospital).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Taxonomy(String);

impl Taxonomy {
    /// Parses a taxonomy code.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        const KIND: &str = "provider taxonomy code";
        let code = compact(s);
        if code.len() != 10 {
            return Err(length(KIND, s, code.len(), "a taxonomy code has 10"));
        }
        let b = code.as_bytes();
        let shape = b[..3].iter().all(u8::is_ascii_digit)
            && b[3..9]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && b[9] == b'X';
        if !shape {
            return Err(characters(
                KIND,
                s,
                "three digits, six digits or letters, then X",
            ));
        }
        Ok(Taxonomy(code))
    }
}

/// A US employer identification number (the federal tax id of REF*EI): nine digits, printed
/// `12-3456789`; the dash is dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ein(String);

impl Ein {
    /// Parses an EIN.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        const KIND: &str = "EIN";
        let ein: String = compact(s).chars().filter(|c| *c != '-').collect();
        if !ein.chars().all(|c| c.is_ascii_digit()) {
            return Err(characters(KIND, s, "digits and a dash"));
        }
        if ein.len() != 9 {
            return Err(length(KIND, s, ein.len(), "an EIN has 9 digits"));
        }
        Ok(Ein(ein))
    }
}

/// An ICD-10-CM diagnosis code: a letter, a digit, a digit or letter, then optionally a dot
/// and one to four more digits or letters (`J18.9`, `S72.001A`). Kept with its dot, as
/// clinicians write it; claims carry it without ([`Icd10Cm::x12`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Icd10Cm(String);

impl Icd10Cm {
    /// Parses a diagnosis code, with or without its dot.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        const KIND: &str = "ICD-10-CM code";
        let code: String = compact(s).chars().filter(|c| *c != '.').collect();
        if !(3..=7).contains(&code.len()) {
            return Err(length(KIND, s, code.len(), "an ICD-10-CM code has 3 to 7"));
        }
        let b = code.as_bytes();
        let shape = b[0].is_ascii_uppercase()
            && b[1].is_ascii_digit()
            && b[2..]
                .iter()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
        if !shape {
            return Err(characters(
                KIND,
                s,
                "a letter, a digit, then digits or letters",
            ));
        }
        let dotted = if code.len() > 3 {
            format!("{}.{}", &code[..3], &code[3..])
        } else {
            code
        };
        Ok(Icd10Cm(dotted))
    }

    /// The code as an 837 writes it in HI: without the dot.
    pub fn x12(&self) -> String {
        self.0.replace('.', "")
    }
}

/// The coding system of a procedure code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcedureSystem {
    /// CPT (HCPCS level I): four digits and a digit or letter (`99213`, `0001F`).
    Cpt,
    /// HCPCS level II: a letter A–V and four digits (`J1100`, `A0428`).
    Hcpcs,
}

/// A procedure code an 837 bills with qualifier `HC`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcedureCode {
    system: ProcedureSystem,
    code: String,
}

impl ProcedureCode {
    /// Parses a code in the given system.
    pub fn parse(system: ProcedureSystem, s: &str) -> Result<Self, IdentifierError> {
        let code = compact(s);
        let b = code.as_bytes();
        let (kind, ok, allowed) = match system {
            ProcedureSystem::Cpt => (
                "CPT code",
                b.len() == 5
                    && b[..4].iter().all(u8::is_ascii_digit)
                    && (b[4].is_ascii_digit() || b[4].is_ascii_uppercase()),
                "four digits and a digit or letter",
            ),
            ProcedureSystem::Hcpcs => (
                "HCPCS code",
                b.len() == 5
                    && (b'A'..=b'V').contains(&b[0])
                    && b[1..].iter().all(u8::is_ascii_digit),
                "a letter A to V and four digits",
            ),
        };
        if !ok {
            return Err(characters(kind, s, allowed));
        }
        Ok(ProcedureCode { system, code })
    }

    /// The system.
    pub fn system(&self) -> ProcedureSystem {
        self.system
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.code
    }
}

/// A procedure modifier (CPT or HCPCS): two digits or letters (`25`, `LT`, `GT`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Modifier(String);

impl Modifier {
    /// Parses a modifier.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let m = compact(s);
        if m.len() != 2 || !m.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(characters("procedure modifier", s, "two digits or letters"));
        }
        Ok(Modifier(m))
    }
}

/// A NUBC revenue code of an institutional claim line: four digits starting with 0 (`0120`
/// room and board, `0450` emergency room).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RevenueCode(String);

impl RevenueCode {
    /// Parses a revenue code; three digits get their leading zero.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let mut code = compact(s);
        if code.len() == 3 {
            code.insert(0, '0');
        }
        if code.len() != 4 || !code.starts_with('0') || !code.chars().all(|c| c.is_ascii_digit()) {
            return Err(characters("revenue code", s, "four digits starting with 0"));
        }
        Ok(RevenueCode(code))
    }
}

/// CMS place-of-service codes (the two digits of CLM05-1 on a professional claim).
const PLACES_OF_SERVICE: &str = "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20 21 22 \
    23 24 25 26 27 31 32 33 34 41 42 49 50 51 52 53 54 55 56 57 58 60 61 62 65 71 72 81 99";

/// A CMS place-of-service code (`11` office, `12` home, `21` inpatient hospital).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PlaceOfService(String);

impl PlaceOfService {
    /// Parses a place-of-service code from the CMS list.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let code = compact(s);
        if code.len() != 2
            || !PLACES_OF_SERVICE
                .split_ascii_whitespace()
                .any(|c| c == code)
        {
            return Err(characters(
                "place of service",
                s,
                "a two-digit code from the CMS place-of-service list",
            ));
        }
        Ok(PlaceOfService(code))
    }
}

/// USPS codes of the states, the District of Columbia, the territories and the armed forces
/// (N402 of a US address).
const US_STATES: &str = "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN \
    MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY \
    AS GU MP PR VI FM MH PW AA AE AP";

/// A US state (or territory) as USPS abbreviates it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UsState(String);

impl UsState {
    /// Parses a two-letter USPS code.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let code = compact(s);
        if code.len() != 2 || !US_STATES.split_ascii_whitespace().any(|c| c == code) {
            return Err(characters(
                "US state",
                s,
                "a two-letter USPS state or territory code",
            ));
        }
        Ok(UsState(code))
    }
}

/// A US ZIP code: five digits, or nine (ZIP+4, what a billing provider's address needs).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ZipCode(String);

impl ZipCode {
    /// Parses `12345`, `123456789` or `12345-6789`.
    pub fn parse(s: &str) -> Result<Self, IdentifierError> {
        let zip: String = compact(s).chars().filter(|c| *c != '-').collect();
        if !zip.chars().all(|c| c.is_ascii_digit()) {
            return Err(characters("ZIP code", s, "digits and a dash"));
        }
        if zip.len() != 5 && zip.len() != 9 {
            return Err(length(
                "ZIP code",
                s,
                zip.len(),
                "a ZIP code has 5 or 9 digits",
            ));
        }
        Ok(ZipCode(zip))
    }

    /// Whether it is a ZIP+4 (nine digits).
    pub fn is_plus_four(&self) -> bool {
        self.0.len() == 9
    }
}

/// The NUBC (UB-04) code lists an institutional claim carries from an episode's coding.
pub mod nubc {
    /// Priority (type) of admission, UB-04 form locator 14: emergency, urgent, elective,
    /// newborn, trauma, information not available.
    pub const ADMISSION_TYPES: &[&str] = &["1", "2", "3", "4", "5", "9"];
    /// Point of origin (source) of admission, form locator 15 (3 and 7 are discontinued).
    pub const ADMISSION_SOURCES: &[&str] = &["1", "2", "4", "5", "6", "8", "9", "D", "E", "F", "G"];
    /// Patient discharge status, form locator 17.
    pub const PATIENT_STATUSES: &[&str] = &[
        "01", "02", "03", "04", "05", "06", "07", "09", "20", "21", "30", "40", "41", "42", "43",
        "50", "51", "61", "62", "63", "64", "65", "66", "69", "70", "81", "82", "83", "84", "85",
        "86", "87", "88", "89", "90", "91", "92", "93", "94", "95",
    ];
    /// Present on admission indicators: yes, no, unknown (documentation insufficient),
    /// clinically undetermined.
    pub const PRESENT_ON_ADMISSION: &[&str] = &["Y", "N", "U", "W"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn npis_carry_the_luhn_digit_over_80840() {
        // CMS's own example and computed vectors.
        for good in ["1234567893", "1999999992", "1000000004", "12345 67893"] {
            assert!(Npi::parse(good).is_ok(), "{good}");
        }
        assert_eq!(
            Npi::parse("1234567890").unwrap_err().to_string(),
            "NPI `1234567890` fails its check digit (Luhn over 80840 and the first nine digits)"
        );
        assert!(matches!(
            Npi::parse("123456789").unwrap_err(),
            IdentifierError::Length { actual: 9, .. }
        ));
        assert!(matches!(
            Npi::parse("3234567893").unwrap_err(),
            IdentifierError::Characters { .. }
        ));
        assert!(matches!(
            Npi::parse("12345678A3").unwrap_err(),
            IdentifierError::Characters { .. }
        ));
    }

    proptest! {
        #[test]
        fn every_npi_with_its_check_digit_passes_and_any_one_digit_change_fails(
            first in 1u8..=2, rest in proptest::collection::vec(0u8..=9, 8),
            at in 0usize..10, by in 1u8..=9,
        ) {
            let mut digits: Vec<u8> = std::iter::once(first).chain(rest).collect();
            let nine: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            digits.push(npi_check_digit(&nine));
            let npi: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert!(Npi::parse(&npi).is_ok());
            let mut changed = digits.clone();
            changed[at] = (changed[at] + by) % 10;
            let changed: String = changed.iter().map(|d| char::from(b'0' + d)).collect();
            // A changed first digit may leave 1–2 (a shape error) or not; either way refused.
            prop_assert!(Npi::parse(&changed).is_err(), "{changed}");
        }
    }

    #[test]
    fn taxonomy_and_ein_shapes() {
        assert_eq!(
            Taxonomy::parse("207q00000x").unwrap().as_str(),
            "207Q00000X"
        );
        assert!(Taxonomy::parse("282N00000X").is_ok());
        assert!(Taxonomy::parse("207Q00000Y").is_err());
        assert!(Taxonomy::parse("207Q0000X").is_err());
        assert_eq!(Ein::parse("12-3456789").unwrap().as_str(), "123456789");
        assert!(Ein::parse("12-345678").is_err());
        assert!(Ein::parse("12-34567A9").is_err());
    }

    #[test]
    fn icd10_cm_is_kept_dotted_and_written_without_the_dot() {
        let j = Icd10Cm::parse("j189").unwrap();
        assert_eq!(j.as_str(), "J18.9");
        assert_eq!(j.x12(), "J189");
        assert_eq!(Icd10Cm::parse("S72.001A").unwrap().x12(), "S72001A");
        assert_eq!(Icd10Cm::parse("R05").unwrap().as_str(), "R05");
        assert!(Icd10Cm::parse("18.9").is_err());
        assert!(Icd10Cm::parse("J1").is_err());
        assert!(Icd10Cm::parse("J18.90001").is_err());
    }

    #[test]
    fn procedure_codes_modifiers_and_revenue_codes() {
        assert!(ProcedureCode::parse(ProcedureSystem::Cpt, "99213").is_ok());
        assert!(ProcedureCode::parse(ProcedureSystem::Cpt, "0001F").is_ok());
        assert!(ProcedureCode::parse(ProcedureSystem::Cpt, "J1100").is_err());
        assert!(ProcedureCode::parse(ProcedureSystem::Hcpcs, "j1100").is_ok());
        assert!(ProcedureCode::parse(ProcedureSystem::Hcpcs, "W1100").is_err());
        assert!(ProcedureCode::parse(ProcedureSystem::Hcpcs, "99213").is_err());
        assert_eq!(Modifier::parse("lt").unwrap().as_str(), "LT");
        assert!(Modifier::parse("L").is_err());
        assert_eq!(RevenueCode::parse("120").unwrap().as_str(), "0120");
        assert!(RevenueCode::parse("1200").is_err());
    }

    #[test]
    fn places_states_and_zip_codes() {
        assert!(PlaceOfService::parse("11").is_ok());
        assert!(PlaceOfService::parse("30").is_err());
        assert!(UsState::parse("ny").is_ok());
        assert!(UsState::parse("XX").is_err());
        let zip = ZipCode::parse("10001-1234").unwrap();
        assert_eq!(zip.as_str(), "100011234");
        assert!(zip.is_plus_four());
        assert!(!ZipCode::parse("10001").unwrap().is_plus_four());
        assert!(ZipCode::parse("1000").is_err());
    }
}
