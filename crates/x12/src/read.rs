//! Reading an interchange: the delimiters from its ISA, its segments, and an envelope whose
//! counts and control numbers must agree (SE01/SE02, GE01/GE02, IEA01/IEA02).
//!
//! Line breaks and carriage returns around segments are tolerated (clearinghouses add them);
//! anything else that does not fit is refused with the segment and its position (1 = the ISA),
//! so that what a person is told to fix can be found in the file.

use crate::Delimiters;

/// Why a file was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// It does not begin with a 106-character ISA.
    #[error("not an X12 interchange: {0}")]
    NotX12(&'static str),
    /// The envelope is unsound.
    #[error("segment {position} ({segment}): expected {expected}, found {found}")]
    Envelope {
        /// The segment's id.
        segment: String,
        /// Its position in the interchange, 1 for the ISA.
        position: usize,
        /// What the envelope needs there.
        expected: String,
        /// What the file has.
        found: String,
    },
}

/// Why a transaction's content was refused once its envelope read fine: the transaction is not
/// there, a segment is out of place or unreadable, or amounts that must add up do not. Shared by
/// the readers of the 835, the 999 and the 277.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContentError {
    /// The interchange holds no transaction of the kind asked for (`835`, `999`, `277`).
    #[error("the interchange holds no {0} transaction")]
    Missing(&'static str),
    /// A segment is out of place, incomplete or unreadable.
    #[error("segment {position} ({segment}): {problem}")]
    Invalid {
        /// The segment's id.
        segment: String,
        /// Its position in the interchange.
        position: usize,
        /// What is wrong.
        problem: String,
    },
    /// Amounts that should add up do not.
    #[error("segment {position} ({segment}) does not balance: expected {expected}, found {found}")]
    Unbalanced {
        /// The segment whose amount disagrees.
        segment: String,
        /// Its position.
        position: usize,
        /// What the other amounts make it.
        expected: rust_decimal::Decimal,
        /// What the file says.
        found: rust_decimal::Decimal,
    },
}

/// A [`ContentError::Invalid`] about segment `s`.
pub(crate) fn invalid(s: &Segment<'_>, problem: impl Into<String>) -> ContentError {
    ContentError::Invalid {
        segment: s.id.to_owned(),
        position: s.position,
        problem: problem.into(),
    }
}

/// An element's value, or `None` when it is empty.
pub(crate) fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// One segment: its id and elements, with its position in the interchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The segment id, e.g. `CLP`.
    pub id: &'a str,
    /// Elements 1.. (index 0 is element 01).
    pub elements: Vec<&'a str>,
    /// Position in the interchange, 1 for the ISA.
    pub position: usize,
    component: char,
    repetition: char,
}

impl<'a> Segment<'a> {
    /// Element `n` (1-based, as the guides number them); empty when absent.
    pub fn element(&self, n: usize) -> &'a str {
        n.checked_sub(1)
            .and_then(|i| self.elements.get(i))
            .copied()
            .unwrap_or("")
    }

    /// The components of element `n` (a composite such as `HC:99213:25`); one empty component
    /// when the element is absent.
    pub fn components(&self, n: usize) -> Vec<&'a str> {
        self.element(n).split(self.component).collect()
    }

    /// Component `c` (1-based) of element `n`; empty when absent.
    pub fn component(&self, n: usize, c: usize) -> &'a str {
        c.checked_sub(1)
            .and_then(|i| self.element(n).split(self.component).nth(i))
            .unwrap_or("")
    }

    /// The repetitions of element `n`.
    pub fn repetitions(&self, n: usize) -> Vec<&'a str> {
        self.element(n).split(self.repetition).collect()
    }

    /// How many elements the segment has (trailing empty ones are usually left out).
    pub fn len(&self) -> usize {
        self.elements.len()
    }

    /// Whether the segment has no elements.
    pub fn is_empty(&self) -> bool {
        self.elements.is_empty()
    }
}

/// One transaction set: its ST, the segments between ST and SE, and its SE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction<'a> {
    /// The ST.
    pub header: Segment<'a>,
    /// The segments after ST and before SE.
    pub segments: Vec<Segment<'a>>,
    /// The SE.
    pub trailer: Segment<'a>,
}

impl Transaction<'_> {
    /// ST01, e.g. `835`.
    pub fn id(&self) -> &str {
        self.header.element(1)
    }

    /// ST02.
    pub fn control_number(&self) -> &str {
        self.header.element(2)
    }
}

/// One functional group: its GS and transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<'a> {
    /// The GS.
    pub header: Segment<'a>,
    /// Its transaction sets.
    pub transactions: Vec<Transaction<'a>>,
}

/// A whole interchange, envelope checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interchange<'a> {
    /// The delimiters its ISA declared.
    pub delimiters: Delimiters,
    /// The ISA.
    pub header: Segment<'a>,
    /// Its functional groups.
    pub groups: Vec<Group<'a>>,
}

impl Interchange<'_> {
    /// ISA13, the interchange control number.
    pub fn control_number(&self) -> &str {
        self.header.element(13)
    }

    /// ISA06, the sender id, trimmed of its padding.
    pub fn sender_id(&self) -> &str {
        self.header.element(6).trim_end()
    }
}

const ISA_LEN: usize = 106;

/// Reads an interchange and checks its envelope.
pub fn parse(input: &str) -> Result<Interchange<'_>, ReadError> {
    let input = input.trim_start_matches('\u{feff}').trim_start();
    if !input.starts_with("ISA") {
        return Err(ReadError::NotX12("it does not begin with ISA"));
    }
    let Some(isa) = input.get(..ISA_LEN) else {
        return Err(ReadError::NotX12(
            "its ISA is shorter than the 106 characters ISA always has",
        ));
    };
    let chars: Vec<char> = isa.chars().collect();
    if chars.len() != ISA_LEN || !isa.is_ascii() {
        return Err(ReadError::NotX12("its ISA is not 106 ASCII characters"));
    }
    let delimiters = Delimiters {
        element: chars[3],
        repetition: chars[82],
        component: chars[104],
        segment: chars[105],
    };
    if chars[3].is_ascii_alphanumeric()
        || isa.matches(delimiters.element).count() != 16
        || chars[105] == chars[3]
        || chars[104] == chars[3]
    {
        return Err(ReadError::NotX12(
            "its ISA does not have 16 elements of fixed width",
        ));
    }
    let mut segments = Vec::new();
    for raw in input.split(delimiters.segment) {
        let raw = raw.trim_matches(|c| c == '\r' || c == '\n');
        if raw.trim().is_empty() {
            continue;
        }
        let mut parts = raw.split(delimiters.element);
        let id = parts.next().unwrap_or("");
        let position = segments.len() + 1;
        if !(2..=3).contains(&id.len())
            || !id
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(envelope(id, position, "a segment id", id));
        }
        segments.push(Segment {
            id,
            elements: parts.collect(),
            position,
            component: delimiters.component,
            repetition: delimiters.repetition,
        });
    }
    envelope_of(delimiters, segments)
}

fn envelope(segment: &str, position: usize, expected: &str, found: &str) -> ReadError {
    ReadError::Envelope {
        segment: segment.to_owned(),
        position,
        expected: expected.to_owned(),
        found: found.to_owned(),
    }
}

fn expect_id<'a>(
    segments: &mut std::iter::Peekable<std::vec::IntoIter<Segment<'a>>>,
    id: &str,
    after: &Segment<'_>,
) -> Result<Segment<'a>, ReadError> {
    match segments.next() {
        Some(s) if s.id == id => Ok(s),
        Some(s) => Err(envelope(s.id, s.position, id, s.id)),
        None => Err(envelope(
            after.id,
            after.position,
            &format!("{id} after it"),
            "the end of the file",
        )),
    }
}

fn envelope_of<'a>(
    delimiters: Delimiters,
    segments: Vec<Segment<'a>>,
) -> Result<Interchange<'a>, ReadError> {
    let mut it = segments.into_iter().peekable();
    let header = it.next().ok_or(ReadError::NotX12("it is empty"))?;
    let mut groups = Vec::new();
    let mut last = header.clone();
    while it.peek().is_some_and(|s| s.id == "GS") {
        let gs = expect_id(&mut it, "GS", &last)?;
        let mut transactions = Vec::new();
        last = gs.clone();
        while it.peek().is_some_and(|s| s.id == "ST") {
            let st = expect_id(&mut it, "ST", &last)?;
            let mut body = Vec::new();
            loop {
                match it.next() {
                    Some(s) if s.id == "SE" => {
                        let count = body.len() + 2;
                        if s.element(1) != count.to_string() {
                            return Err(envelope(
                                "SE",
                                s.position,
                                &format!("SE01 = {count} (the segments from ST to SE)"),
                                s.element(1),
                            ));
                        }
                        if s.element(2) != st.element(2) {
                            return Err(envelope(
                                "SE",
                                s.position,
                                &format!("SE02 = ST02 `{}`", st.element(2)),
                                s.element(2),
                            ));
                        }
                        last = s.clone();
                        transactions.push(Transaction {
                            header: st,
                            segments: body,
                            trailer: s,
                        });
                        break;
                    }
                    Some(s) if matches!(s.id, "ST" | "GS" | "GE" | "ISA" | "IEA") => {
                        return Err(envelope(
                            s.id,
                            s.position,
                            "SE closing the transaction",
                            s.id,
                        ));
                    }
                    Some(s) => body.push(s),
                    None => {
                        return Err(envelope(
                            "ST",
                            st.position,
                            "an SE closing this transaction",
                            "the end of the file",
                        ));
                    }
                }
            }
        }
        let ge = expect_id(&mut it, "GE", &last)?;
        if ge.element(1) != transactions.len().to_string() {
            return Err(envelope(
                "GE",
                ge.position,
                &format!("GE01 = {} (the group's transactions)", transactions.len()),
                ge.element(1),
            ));
        }
        if ge.element(2) != gs.element(6) {
            return Err(envelope(
                "GE",
                ge.position,
                &format!("GE02 = GS06 `{}`", gs.element(6)),
                ge.element(2),
            ));
        }
        last = ge;
        groups.push(Group {
            header: gs,
            transactions,
        });
    }
    let iea = expect_id(&mut it, "IEA", &last)?;
    if iea.element(1) != groups.len().to_string() {
        return Err(envelope(
            "IEA",
            iea.position,
            &format!("IEA01 = {} (the interchange's groups)", groups.len()),
            iea.element(1),
        ));
    }
    if iea.element(2) != header.element(13) {
        return Err(envelope(
            "IEA",
            iea.position,
            &format!("IEA02 = ISA13 `{}`", header.element(13)),
            iea.element(2),
        ));
    }
    if let Some(s) = it.next() {
        return Err(envelope(s.id, s.position, "nothing after IEA", s.id));
    }
    Ok(Interchange {
        delimiters,
        header,
        groups,
    })
}
