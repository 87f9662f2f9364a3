//! ISO 11649 structured creditor references ("RF references"): the reference an invoice asks to
//! be paid with, printed on the document (EN 16931 BT-83, the remittance information) and read
//! back from bank statements to match a credit to its invoice. Pure; no I/O.
//!
//! A reference is `RF`, two check digits and a body of 1 to 21 letters and digits. The check
//! digits make `body + "RF" + check`, with letters as numbers (A = 10 … Z = 35), equal to 1
//! modulo 97 (ISO 7064 MOD 97-10, as IBANs). Printed in groups of four, case-insensitive.
//!
//! **From an invoice number** ([`CreditorReference::for_invoice_number`]), deterministic and
//! unique:
//! - a number of 1 to 20 upper-case letters and digits is the body itself (`INV2026000042` →
//!   `RF…INV2026000042`): a person can read the number back from the reference;
//! - any other number (with separators such as `H1-INV-2026-000001`, lower case, or longer than
//!   20) gets a body of exactly 21 characters: the first 21 base-36 digits of its SHA-256. A
//!   body of 21 characters is never the body of a plain number (those have at most 20), so the
//!   two kinds never meet; two numbers of the second kind share a body only if their SHA-256
//!   agree on 108 bits, which nobody will see happen.
//!
//! Who reads a reference from a statement looks it up among the references it derived, never
//! decodes it: the mapping only needs to go one way.

use std::fmt;

use sha2::{Digest, Sha256};

/// Longest body of a reference (ISO 11649: 25 characters in all).
pub const MAX_BODY: usize = 21;

/// Longest invoice number whose body is the number itself.
const MAX_PLAIN: usize = MAX_BODY - 1;

/// A valid ISO 11649 creditor reference, kept in its electronic form (`RF18539007547034`:
/// upper case, no spaces).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditorReference(String);

/// Why text is not a creditor reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// It does not start with `RF` and two digits.
    #[error("a creditor reference starts with RF and two check digits")]
    NotRf,
    /// Its body is empty or longer than 21 characters.
    #[error("a creditor reference has 1 to 21 letters or digits after its check digits")]
    Length,
    /// A character other than a letter, a digit or a space.
    #[error("a creditor reference has only letters and digits (spaces between groups)")]
    Character,
    /// The check digits do not match.
    #[error("the check digits of the creditor reference do not match")]
    CheckDigits,
}

/// `digits` (letters as 10..35) modulo 97, read left to right.
fn mod97(chars: impl Iterator<Item = char>) -> u32 {
    chars.fold(0_u32, |acc, c| match c.to_digit(36) {
        Some(v) if v < 10 => (acc * 10 + v) % 97,
        Some(v) => (acc * 100 + v) % 97,
        None => acc,
    })
}

/// The two check digits of `body` (already upper-case letters and digits).
fn check_digits(body: &str) -> u32 {
    98 - mod97(body.chars().chain("RF00".chars()))
}

impl CreditorReference {
    /// The reference of `body`, which must be 1 to 21 letters or digits (upper-cased here).
    pub fn from_body(body: &str) -> Result<CreditorReference, ReferenceError> {
        if body.is_empty() || body.len() > MAX_BODY {
            return Err(ReferenceError::Length);
        }
        if !body.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ReferenceError::Character);
        }
        let body = body.to_ascii_uppercase();
        Ok(CreditorReference(format!(
            "RF{:02}{body}",
            check_digits(&body)
        )))
    }

    /// The reference an invoice of this number is paid with (see the module for the mapping).
    pub fn for_invoice_number(number: &str) -> CreditorReference {
        let plain = !number.is_empty()
            && number.len() <= MAX_PLAIN
            && number
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        let body = if plain {
            number.to_owned()
        } else {
            hashed_body(number)
        };
        CreditorReference(format!("RF{:02}{body}", check_digits(&body)))
    }

    /// Parses a reference as printed or keyed in: spaces anywhere are dropped, letters may be
    /// of either case; the check digits must match.
    pub fn parse(text: &str) -> Result<CreditorReference, ReferenceError> {
        let compact: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = compact.as_bytes();
        if bytes.len() < 4
            || &bytes[..2] != b"RF"
            || !bytes[2].is_ascii_digit()
            || !bytes[3].is_ascii_digit()
        {
            return Err(ReferenceError::NotRf);
        }
        let body = &compact[4..];
        if body.is_empty() || body.len() > MAX_BODY {
            return Err(ReferenceError::Length);
        }
        if !body.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ReferenceError::Character);
        }
        // body + "RF" + check digits ≡ 1 (mod 97).
        if mod97(body.chars().chain(compact[..4].chars())) != 1 {
            return Err(ReferenceError::CheckDigits);
        }
        Ok(CreditorReference(compact))
    }

    /// The valid references in free text (a bank's unstructured remittance information), in
    /// order of appearance: `RF`, two digits and a run of letters and digits (spaces between
    /// groups allowed) that ends where a word ends and whose check digits match; where several
    /// lengths qualify, each is given, longest first (the caller keeps the ones it issued).
    pub fn find_in(text: &str) -> Vec<CreditorReference> {
        let upper: Vec<char> = text.chars().map(|c| c.to_ascii_uppercase()).collect();
        let mut found = Vec::new();
        let mut i = 0;
        while i + 1 < upper.len() {
            if upper[i] != 'R'
                || upper[i + 1] != 'F'
                || (i > 0 && upper[i - 1].is_ascii_alphanumeric())
            {
                i += 1;
                continue;
            }
            // Collect up to 25 letters and digits from here, spaces between them allowed, and
            // remember where each one ends in the text.
            let mut compact = String::new();
            let mut ends = Vec::new();
            let mut j = i;
            while j < upper.len() && compact.len() < 4 + MAX_BODY {
                let c = upper[j];
                if c.is_ascii_alphanumeric() {
                    compact.push(c);
                    ends.push(j + 1);
                } else if c != ' ' {
                    break;
                }
                j += 1;
            }
            // Every length whose check digits match and that ends where a word ends is a
            // candidate, longest first: one in 97 runs of text has matching check digits by
            // chance, so the caller keeps those it issued.
            let mut next = i + 2;
            for len in (5..=compact.len()).rev() {
                let end = ends[len - 1];
                let at_boundary = upper.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
                if !at_boundary {
                    continue;
                }
                if let Ok(r) = CreditorReference::parse(&compact[..len]) {
                    if next == i + 2 {
                        next = end;
                    }
                    found.push(r);
                }
            }
            i = next;
        }
        found
    }

    /// The electronic form: `RF18539007547034`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The print form, in groups of four: `RF18 5390 0754 7034`.
    pub fn print_form(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        chars
            .chunks(4)
            .map(|g| g.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl fmt::Display for CreditorReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// 21 base-36 digits of the SHA-256 of `number` (the first 14 bytes, 112 bits, read as one
/// big-endian number; 36^21 > 2^108, so its lowest 21 digits carry 108 bits).
fn hashed_body(number: &str) -> String {
    let digest = Sha256::digest(number.as_bytes());
    let mut n: u128 = 0;
    for b in digest.iter().take(14) {
        n = (n << 8) | u128::from(*b);
    }
    let mut out = ['0'; MAX_BODY];
    for slot in out.iter_mut().rev() {
        let d = u32::try_from(n % 36).unwrap_or(0);
        *slot = char::from_digit(d, 36).unwrap_or('0').to_ascii_uppercase();
        n /= 36;
    }
    out.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_iso_11649_example_is_valid_and_derived_from_its_body() {
        // ISO 11649's own example, in print form.
        let r = CreditorReference::parse("RF18 5390 0754 7034").unwrap();
        assert_eq!(r.as_str(), "RF18539007547034");
        assert_eq!(r.print_form(), "RF18 5390 0754 7034");
        assert_eq!(CreditorReference::from_body("539007547034").unwrap(), r);
        // The example of the EPC's guidance (body with letters), lower case accepted.
        let r = CreditorReference::parse("rf71 2348 231").unwrap();
        assert_eq!(r.as_str(), "RF712348231");
    }

    #[test]
    fn a_changed_digit_or_a_bad_shape_is_refused_with_its_reason() {
        assert_eq!(
            CreditorReference::parse("RF19 5390 0754 7034"),
            Err(ReferenceError::CheckDigits)
        );
        assert_eq!(
            CreditorReference::parse("RF18 5390 0754 7035"),
            Err(ReferenceError::CheckDigits)
        );
        assert_eq!(
            CreditorReference::parse("XX18539007547034"),
            Err(ReferenceError::NotRf)
        );
        assert_eq!(
            CreditorReference::parse("RF18"),
            Err(ReferenceError::Length)
        );
        assert_eq!(
            CreditorReference::parse("RFAB1234"),
            Err(ReferenceError::NotRf)
        );
        assert_eq!(
            CreditorReference::parse("RF18-5390-0754-7034"),
            Err(ReferenceError::Character)
        );
        assert_eq!(
            CreditorReference::parse("RF00 1234 5678 9012 3456 7890 12"),
            Err(ReferenceError::Length)
        );
    }

    #[test]
    fn a_plain_invoice_number_is_its_own_body() {
        let r = CreditorReference::for_invoice_number("INV2026000042");
        assert!(r.as_str().ends_with("INV2026000042"), "{r}");
        assert_eq!(CreditorReference::parse(&r.print_form()).unwrap(), r);
    }

    #[test]
    fn a_number_with_separators_gets_a_stable_21_character_body_unlike_its_compact_form() {
        let a = CreditorReference::for_invoice_number("H1-INV-2026-000001");
        assert_eq!(a.as_str().len(), 25);
        assert_eq!(
            a,
            CreditorReference::for_invoice_number("H1-INV-2026-000001")
        );
        assert_eq!(CreditorReference::parse(a.as_str()).unwrap(), a);
        // Separators, case and length each make a different reference.
        let others = [
            "H1INV2026000001",
            "H1-INV-2026-00000-1",
            "h1-inv-2026-000001",
            "H1-INV-2026-000002",
            "A-VERY-LONG-LOCATION-CODE-INV-2026-000001",
        ];
        for o in others {
            assert_ne!(CreditorReference::for_invoice_number(o), a, "{o}");
        }
        // A plain 21-character number is hashed too: plain bodies stay at most 20 long.
        let long = CreditorReference::for_invoice_number("ABCDEFGHIJKLMNOPQRSTU");
        assert!(!long.as_str().ends_with("ABCDEFGHIJKLMNOPQRSTU"));
    }

    #[test]
    fn references_are_found_in_free_text_and_look_alikes_are_not() {
        let a = CreditorReference::for_invoice_number("H1-INV-2026-000001");
        let text = format!(
            "Payment for {} and rf18 5390 0754 7034, thanks; RF99 1234 (no ref) PERFECT",
            a.print_form().to_lowercase()
        );
        let found = CreditorReference::find_in(&text);
        assert!(found.contains(&a), "{found:?}");
        assert!(
            found.contains(&CreditorReference::parse("RF18539007547034").unwrap()),
            "{found:?}"
        );
        // Not inside a word: a reference glued to more letters is no reference.
        assert!(CreditorReference::find_in("RF18539007547034X").is_empty());
        assert!(CreditorReference::find_in("no reference here").is_empty());
    }
}
