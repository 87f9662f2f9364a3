//! Business codes: short identifiers people type and systems exchange (location codes, catalog
//! codes, beneficiary kinds, plan codes).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A code of 1 to 64 characters from `A-Z a-z 0-9 . _ - /`, compared case-sensitively.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = String, example = "CONS-001"))]
pub struct Code(String);

/// Why a string is not a valid [`Code`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// Empty after trimming.
    #[error("must not be blank")]
    Blank,
    /// Longer than 64 characters.
    #[error("must be at most 64 characters")]
    TooLong,
    /// Contains a character outside the allowed set.
    #[error("may contain only letters, digits and . _ - /")]
    BadCharacter,
}

impl Code {
    /// The longest accepted code.
    pub const MAX_LEN: usize = 64;

    /// Parses a code, trimming surrounding whitespace.
    pub fn parse(s: &str) -> Result<Self, CodeError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(CodeError::Blank);
        }
        if s.len() > Self::MAX_LEN {
            return Err(CodeError::TooLong);
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        {
            return Err(CodeError::BadCharacter);
        }
        Ok(Self(s.to_owned()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Code {
    type Error = CodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Code> for String {
    fn from(c: Code) -> Self {
        c.0
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_codes_and_rejects_the_rest() {
        assert_eq!(
            Code::parse(" LAB-01 ").map(|c| c.0),
            Ok("LAB-01".to_owned())
        );
        assert_eq!(
            Code::parse("99213/A.1_x").map(|c| c.0),
            Ok("99213/A.1_x".to_owned())
        );
        assert_eq!(Code::parse(""), Err(CodeError::Blank));
        assert_eq!(Code::parse("a b"), Err(CodeError::BadCharacter));
        assert_eq!(Code::parse(&"x".repeat(65)), Err(CodeError::TooLong));
    }
}
