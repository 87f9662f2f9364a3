//! Field-level validation: collect every problem with an input instead of stopping at the first.

use serde::Serialize;

/// One problem with one input field. `field` is a JSON pointer-like dotted path (`items.3.quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FieldError {
    /// Dotted path of the offending field, e.g. `address.country` or `items.3.quantity`.
    pub field: String,
    /// Stable machine-readable code, e.g. `required`, `too_long`, `not_positive`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// An accumulator of field errors.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Validation {
    errors: Vec<FieldError>,
}

impl Validation {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem with `field`.
    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            code: code.to_owned(),
            message: message.into(),
        });
    }

    /// Records the outcome of a parse: the value on success, the error under `field` otherwise.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        code: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, code, e.to_string());
                None
            }
        }
    }

    /// Requires a string to be non-blank and at most `max` characters; returns it trimmed.
    pub fn text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            self.add(field, "required", "must not be blank");
            None
        } else if trimmed
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        {
            self.add(field, "invalid", "must not contain control characters");
            None
        } else if trimmed.chars().count() > max {
            self.add(
                field,
                "too_long",
                format!("must be at most {max} characters"),
            );
            None
        } else {
            Some(trimmed.to_owned())
        }
    }

    /// Like [`Validation::text`] for an optional field; `None` and blank both mean absent.
    pub fn opt_text(&mut self, field: &str, value: Option<&str>, max: usize) -> Option<String> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(v) => self.text(field, v, max),
        }
    }

    /// Adds the errors of a nested validation under `prefix`.
    pub fn nest(&mut self, prefix: &str, other: Validation) {
        for mut e in other.errors {
            e.field = format!("{prefix}.{}", e.field);
            self.errors.push(e);
        }
    }

    /// True when no problem was recorded.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The recorded problems.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// `Ok(())` when nothing was recorded, the errors otherwise.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_trims_and_rejects_blank_and_long_values() {
        let mut v = Validation::new();
        assert_eq!(v.text("name", "  Ana  ", 10), Some("Ana".to_owned()));
        assert_eq!(v.text("name", "   ", 10), None);
        assert_eq!(v.text("code", "abcdefghijk", 10), None);
        assert_eq!(v.text("name", "nul\u{0}byte", 20), None);
        assert_eq!(
            v.text("reason", "two\nlines", 20),
            Some("two\nlines".to_owned())
        );
        let errors = v.finish().expect_err("two errors");
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0].code, "required");
        assert_eq!(errors[1].code, "too_long");
        assert_eq!(errors[2].code, "invalid");
    }

    #[test]
    fn nested_errors_carry_their_prefix() {
        let mut inner = Validation::new();
        inner.add("quantity", "not_positive", "must be greater than zero");
        let mut outer = Validation::new();
        outer.nest("items.3", inner);
        assert_eq!(outer.errors()[0].field, "items.3.quantity");
    }
}
