//! Writing an interchange: the ISA/GS/ST envelope, segments built element by element, and the
//! trailers (SE, GE, IEA) counted by the writer.
//!
//! ```
//! use carebill_x12::{GroupHeader, InterchangeHeader, Usage, Writer};
//! use chrono::{NaiveDate, NaiveTime};
//!
//! let at = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
//! let time = NaiveTime::from_hms_opt(10, 30, 0).unwrap();
//! let mut w = Writer::new(&InterchangeHeader {
//!     sender_qualifier: "ZZ".into(), sender_id: "S123".into(),
//!     receiver_qualifier: "ZZ".into(), receiver_id: "R987".into(),
//!     date: at, time, control_number: 1, acknowledgement_requested: true, usage: Usage::Test,
//! }).unwrap();
//! w.begin_group(&GroupHeader {
//!     functional_id: "HC", sender_code: "S123".into(), receiver_code: "R987".into(),
//!     date: at, time, control_number: 1, version: "005010X222A1",
//! }).unwrap();
//! w.begin_transaction("837", "0001", Some("005010X222A1")).unwrap();
//! w.segment("NM1").code("41").code("2").text("Hospital Central, Muñoz", 60).empty(4)
//!     .code("46").code("S123").end();
//! w.end_transaction().unwrap();
//! w.end_group().unwrap();
//! let file = w.finish().unwrap();
//! assert!(file.contains("~NM1*41*2*HOSPITAL CENTRAL, MUNOZ*****46*S123~SE*3*0001~"));
//! assert!(file.ends_with("GE*1*1~IEA*1*000000001~"));
//! ```

use std::fmt::Write as _;

use chrono::{NaiveDate, NaiveTime};
use rust_decimal::Decimal;

use crate::Delimiters;

/// Why an envelope could not be written: a caller's value that X12 cannot carry, or the
/// envelope's order broken (a segment outside a transaction, a group left open).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A header value X12 does not allow.
    #[error("{element} `{value}`: {rule}")]
    Invalid {
        /// The element, e.g. `ISA06`.
        element: &'static str,
        /// The value as given.
        value: String,
        /// What it must be.
        rule: &'static str,
    },
    /// The envelope's order is broken.
    #[error("{0}")]
    Order(&'static str),
    /// A claim that its format's guide cannot carry (the e-billing check should have refused
    /// it before; the writer does not write it regardless).
    #[error("claim {patient_control_number}: {problem}")]
    Claim {
        /// Its CLM01.
        patient_control_number: String,
        /// What the guide needs.
        problem: &'static str,
    },
}

/// ISA15: whether the interchange is test or production data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// `T`: the receiver processes it as a test.
    Test,
    /// `P`: real claims.
    Production,
}

/// What the ISA says: who sends, who receives, when, and the interchange control number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterchangeHeader {
    /// ISA05, e.g. `ZZ` (mutually defined), `30` (US federal tax id).
    pub sender_qualifier: String,
    /// ISA06, at most 15 characters.
    pub sender_id: String,
    /// ISA07.
    pub receiver_qualifier: String,
    /// ISA08, at most 15 characters.
    pub receiver_id: String,
    /// ISA09 (written YYMMDD).
    pub date: NaiveDate,
    /// ISA10 (HHMM).
    pub time: NaiveTime,
    /// ISA13, 1 to 999,999,999; unique per sender.
    pub control_number: u32,
    /// ISA14: whether a TA1 is asked for.
    pub acknowledgement_requested: bool,
    /// ISA15.
    pub usage: Usage,
}

/// What a GS says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupHeader {
    /// GS01, e.g. `HC` (837), `HR` (276).
    pub functional_id: &'static str,
    /// GS02, 2 to 15 characters.
    pub sender_code: String,
    /// GS03, 2 to 15 characters.
    pub receiver_code: String,
    /// GS04 (CCYYMMDD).
    pub date: NaiveDate,
    /// GS05 (HHMM).
    pub time: NaiveTime,
    /// GS06, 1 to 999,999,999.
    pub control_number: u32,
    /// GS08, e.g. `005010X222A1`.
    pub version: &'static str,
}

/// Where the writer is in the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Interchange,
    Group,
    Transaction { control: String },
}

/// Builds one interchange. Segments go into the open transaction; the trailers are counted.
#[derive(Debug)]
pub struct Writer {
    out: String,
    delimiters: Delimiters,
    line_breaks: bool,
    state: State,
    interchange_control: u32,
    group_control: u32,
    groups: usize,
    transactions_in_group: usize,
    segments_in_transaction: usize,
}

const MAX_CONTROL: u32 = 999_999_999;

fn invalid(element: &'static str, value: &str, rule: &'static str) -> WriteError {
    WriteError::Invalid {
        element,
        value: value.to_owned(),
        rule,
    }
}

/// An identifier of the envelope: `min..=max` characters of X12's basic set, no delimiter.
fn envelope_id(
    element: &'static str,
    value: &str,
    min: usize,
    max: usize,
    delimiters: &Delimiters,
) -> Result<(), WriteError> {
    let ok = (min..=max).contains(&value.len())
        && value
            .chars()
            .all(|c| is_basic(c) && c != ' ' && !delimiters.contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            element,
            value,
            "must be letters, digits or X12's basic punctuation, of the element's length",
        ))
    }
}

fn control(element: &'static str, n: u32) -> Result<(), WriteError> {
    if (1..=MAX_CONTROL).contains(&n) {
        Ok(())
    } else {
        Err(invalid(element, &n.to_string(), "must be 1 to 999999999"))
    }
}

impl Writer {
    /// Starts an interchange with its ISA, in Carebill's delimiters.
    pub fn new(header: &InterchangeHeader) -> Result<Self, WriteError> {
        let d = Delimiters::default();
        for (element, q) in [
            ("ISA05", &header.sender_qualifier),
            ("ISA07", &header.receiver_qualifier),
        ] {
            envelope_id(element, q, 2, 2, &d)?;
        }
        envelope_id("ISA06", &header.sender_id, 1, 15, &d)?;
        envelope_id("ISA08", &header.receiver_id, 1, 15, &d)?;
        control("ISA13", header.control_number)?;
        let mut out = String::with_capacity(4096);
        let e = d.element;
        // ISA is fixed width: every element padded to its length.
        let _ = write!(
            out,
            "ISA{e}00{e}{:10}{e}00{e}{:10}{e}{}{e}{:<15}{e}{}{e}{:<15}{e}{}{e}{}{e}{}{e}00501{e}{:09}{e}{}{e}{}{e}{}{}",
            "",
            "",
            header.sender_qualifier,
            header.sender_id,
            header.receiver_qualifier,
            header.receiver_id,
            header.date.format("%y%m%d"),
            header.time.format("%H%M"),
            d.repetition,
            header.control_number,
            u8::from(header.acknowledgement_requested),
            match header.usage {
                Usage::Test => 'T',
                Usage::Production => 'P',
            },
            d.component,
            d.segment,
        );
        Ok(Writer {
            out,
            delimiters: d,
            line_breaks: false,
            state: State::Interchange,
            interchange_control: header.control_number,
            group_control: 0,
            groups: 0,
            transactions_in_group: 0,
            segments_in_transaction: 0,
        })
    }

    /// Puts a line break after every segment terminator from here on (easier to read; some
    /// receivers refuse it, so it is off unless asked for).
    pub fn with_line_breaks(mut self) -> Self {
        self.line_breaks = true;
        self.out.push('\n');
        self
    }

    fn terminate(&mut self) {
        self.out.push(self.delimiters.segment);
        if self.line_breaks {
            self.out.push('\n');
        }
    }

    /// Opens a functional group (GS).
    pub fn begin_group(&mut self, g: &GroupHeader) -> Result<(), WriteError> {
        if self.state != State::Interchange {
            return Err(WriteError::Order(
                "a group begins only in an interchange, outside any group",
            ));
        }
        let d = self.delimiters;
        envelope_id("GS01", g.functional_id, 2, 2, &d)?;
        envelope_id("GS02", &g.sender_code, 2, 15, &d)?;
        envelope_id("GS03", &g.receiver_code, 2, 15, &d)?;
        envelope_id("GS08", g.version, 1, 12, &d)?;
        control("GS06", g.control_number)?;
        let e = d.element;
        let _ = write!(
            self.out,
            "GS{e}{}{e}{}{e}{}{e}{}{e}{}{e}{}{e}X{e}{}",
            g.functional_id,
            g.sender_code,
            g.receiver_code,
            g.date.format("%Y%m%d"),
            g.time.format("%H%M"),
            g.control_number,
            g.version,
        );
        self.terminate();
        self.state = State::Group;
        self.group_control = g.control_number;
        self.groups += 1;
        self.transactions_in_group = 0;
        Ok(())
    }

    /// Opens a transaction set (ST): its id (`837`), control number (4 to 9 characters, unique
    /// in the group) and implementation guide (ST03; the 835's guide leaves it unused).
    pub fn begin_transaction(
        &mut self,
        id: &str,
        control_number: &str,
        guide: Option<&str>,
    ) -> Result<(), WriteError> {
        if self.state != State::Group {
            return Err(WriteError::Order(
                "a transaction begins only in a group, outside any transaction",
            ));
        }
        let d = self.delimiters;
        envelope_id("ST01", id, 3, 3, &d)?;
        envelope_id("ST02", control_number, 4, 9, &d)?;
        if let Some(guide) = guide {
            envelope_id("ST03", guide, 1, 35, &d)?;
        }
        self.state = State::Transaction {
            control: control_number.to_owned(),
        };
        self.segments_in_transaction = 0;
        self.segment("ST")
            .code(id)
            .code(control_number)
            .code_opt(guide)
            .end();
        Ok(())
    }

    /// Starts a segment in the open transaction; [`SegmentBuilder::end`] writes it.
    ///
    /// # Panics
    /// If no transaction is open or `id` is not a segment id (two or three capital letters or
    /// digits): both are programming errors of the transaction writer, not data.
    pub fn segment(&mut self, id: &'static str) -> SegmentBuilder<'_> {
        assert!(
            matches!(self.state, State::Transaction { .. }),
            "segment {id} outside a transaction"
        );
        assert!(
            (2..=3).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "`{id}` is not a segment id"
        );
        SegmentBuilder {
            writer: self,
            id,
            elements: Vec::new(),
        }
    }

    /// How many segments the open transaction has so far, ST included.
    pub fn segments_in_transaction(&self) -> usize {
        self.segments_in_transaction
    }

    /// Closes the transaction with its SE (segment count and control number).
    pub fn end_transaction(&mut self) -> Result<(), WriteError> {
        let State::Transaction { control } = &self.state else {
            return Err(WriteError::Order("no transaction is open"));
        };
        let control = control.clone();
        let count = self.segments_in_transaction + 1;
        self.segment("SE")
            .code(&count.to_string())
            .code(&control)
            .end();
        self.state = State::Group;
        self.transactions_in_group += 1;
        Ok(())
    }

    /// Closes the group with its GE (transaction count and control number).
    pub fn end_group(&mut self) -> Result<(), WriteError> {
        if self.state != State::Group {
            return Err(WriteError::Order(
                "no group is open, or a transaction in it is",
            ));
        }
        let e = self.delimiters.element;
        let _ = write!(
            self.out,
            "GE{e}{}{e}{}",
            self.transactions_in_group, self.group_control
        );
        self.terminate();
        self.state = State::Interchange;
        Ok(())
    }

    /// Closes the interchange with its IEA and gives the file.
    pub fn finish(mut self) -> Result<String, WriteError> {
        if self.state != State::Interchange {
            return Err(WriteError::Order("a group or transaction is still open"));
        }
        let e = self.delimiters.element;
        let _ = write!(
            self.out,
            "IEA{e}{}{e}{:09}",
            self.groups, self.interchange_control
        );
        self.terminate();
        Ok(self.out)
    }
}

/// One segment being built: elements are added in order and written by [`SegmentBuilder::end`],
/// without its trailing empty elements.
#[must_use = "a segment is written only by end()"]
#[derive(Debug)]
pub struct SegmentBuilder<'w> {
    writer: &'w mut Writer,
    id: &'static str,
    elements: Vec<String>,
}

impl SegmentBuilder<'_> {
    /// A code or identifier (`85`, `XX`, an NPI): written as given, but cleaned like text so that
    /// a stray delimiter can never split the segment.
    pub fn code(mut self, value: &str) -> Self {
        let cleaned = clean(value, usize::MAX, &self.writer.delimiters);
        self.elements.push(cleaned);
        self
    }

    /// A code that may be absent.
    pub fn code_opt(self, value: Option<&str>) -> Self {
        self.code(value.unwrap_or(""))
    }

    /// Free text (a name, an address line): transliterated to ASCII, upper-cased, delimiters and
    /// runs of spaces made one space, cut to `max` characters.
    pub fn text(mut self, value: &str, max: usize) -> Self {
        let cleaned = clean(value, max, &self.writer.delimiters);
        self.elements.push(cleaned);
        self
    }

    /// `n` empty elements (positions the guide leaves unused).
    pub fn empty(mut self, n: usize) -> Self {
        self.elements.extend(std::iter::repeat_n(String::new(), n));
        self
    }

    /// A monetary amount (X12 R): no `+`, no trailing zeros, at most two decimals.
    pub fn amount(mut self, value: Decimal) -> Self {
        self.elements.push(amount(value));
        self
    }

    /// A decimal quantity (units), like an amount but with up to three decimals.
    pub fn quantity(mut self, value: Decimal) -> Self {
        let q = value.round_dp(3).normalize();
        self.elements.push(if q.is_zero() {
            "0".to_owned()
        } else {
            q.to_string()
        });
        self
    }

    /// A date, CCYYMMDD (D8).
    pub fn date(mut self, value: NaiveDate) -> Self {
        self.elements.push(value.format("%Y%m%d").to_string());
        self
    }

    /// A date range, CCYYMMDD-CCYYMMDD (RD8).
    pub fn date_range(mut self, from: NaiveDate, to: NaiveDate) -> Self {
        self.elements
            .push(format!("{}-{}", from.format("%Y%m%d"), to.format("%Y%m%d")));
        self
    }

    /// A composite: its components cleaned as codes, the trailing empty ones left out.
    pub fn composite(mut self, components: &[&str]) -> Self {
        let d = self.writer.delimiters;
        let mut parts: Vec<String> = components
            .iter()
            .map(|c| clean(c, usize::MAX, &d))
            .collect();
        while parts.last().is_some_and(String::is_empty) {
            parts.pop();
        }
        self.elements.push(parts.join(&d.component.to_string()));
        self
    }

    /// Writes the segment without its trailing empty elements.
    pub fn end(mut self) {
        while self.elements.last().is_some_and(String::is_empty) {
            self.elements.pop();
        }
        let w = self.writer;
        w.out.push_str(self.id);
        for element in &self.elements {
            w.out.push(w.delimiters.element);
            w.out.push_str(element);
        }
        w.terminate();
        w.segments_in_transaction += 1;
    }
}

/// X12's basic character set: capital letters, digits, space and `!"&'()*+,-./:;?=`.
fn is_basic(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || " !\"&'()*+,-./:;?=".contains(c)
}

/// The extended set adds lower case and `%@[]_{}\|<>#$`; Carebill writes upper case, so only
/// the punctuation matters here.
fn is_extended(c: char) -> bool {
    is_basic(c) || "%@[]_{}\\|<>#$".contains(c)
}

/// Cleans a value into X12's character set: ASCII transliteration, upper case, anything outside
/// the set or a delimiter made a space, runs of spaces made one, trimmed, cut to `max`.
pub fn clean(value: &str, max: usize, delimiters: &Delimiters) -> String {
    // Control characters and line breaks separate words: made spaces before transliteration
    // (which drops them).
    let spaced: String = value
        .chars()
        .map(|c| {
            if c.is_control() || c.is_whitespace() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let ascii = deunicode::deunicode(&spaced).to_uppercase();
    let mut out = String::with_capacity(ascii.len());
    let mut space = false;
    for c in ascii.chars() {
        let c = if is_extended(c) && !delimiters.contains(c) {
            c
        } else {
            ' '
        };
        if c == ' ' {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    if out.len() > max {
        out.truncate(max);
        out.truncate(out.trim_end().len());
    }
    out
}

/// An amount as X12 writes it: `150`, `150.5`, `-12.34`.
pub fn amount(value: Decimal) -> String {
    let v = value.round_dp(2).normalize();
    if v.is_zero() {
        "0".to_owned()
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_cleaned_into_the_character_set() {
        let d = Delimiters::default();
        assert_eq!(clean("  Muñoz*Peña~ ", 60, &d), "MUNOZ PENA");
        assert_eq!(clean("Zoë  O'Brien", 60, &d), "ZOE O'BRIEN");
        assert_eq!(clean("Ünïcode:^ line\n2", 60, &d), "UNICODE LINE 2");
        assert_eq!(clean("HOSPITAL CENTRAL", 8, &d), "HOSPITAL");
        assert_eq!(clean("AB CD", 3, &d), "AB");
        assert_eq!(clean("", 3, &d), "");
    }

    #[test]
    fn amounts_have_no_trailing_zeros() {
        assert_eq!(amount(Decimal::new(15000, 2)), "150");
        assert_eq!(amount(Decimal::new(15050, 2)), "150.5");
        assert_eq!(amount(Decimal::new(-1234, 2)), "-12.34");
        assert_eq!(amount(Decimal::new(0, 2)), "0");
        assert_eq!(amount(Decimal::new(-0, 2)), "0");
    }
}
