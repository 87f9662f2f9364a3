//! ASC X12 005010 for Carebill's electronic claims: the claim files it sends (837P, 837I), the
//! status requests (276), and the files that come back (999, 277CA, 277, 835).
//!
//! [`write`] builds an interchange segment by segment: values are cleaned into X12's character
//! set and cut to their element's length, trailing empty elements are left out, and the
//! envelope's counts and control numbers (SE, GE, IEA) are the writer's, never the caller's.
//! [`read`] splits an interchange with the delimiters its ISA declares and checks the envelope
//! (counts and control numbers that lie are refused, naming the segment and its position), so
//! the transaction readers above it see only segments in a sound envelope.
//!
//! No I/O and no knowledge of HTTP or storage, like `carebill-ubl`.

pub mod acknowledgement;
pub mod claims;
pub mod read;
pub mod remittance;
pub mod status;
pub mod status_request;
pub mod write;

pub use read::{ContentError, Interchange, ReadError, Segment, Transaction, parse};
pub use write::{GroupHeader, InterchangeHeader, Usage, WriteError, Writer};

/// The four delimiters of an interchange. Carebill writes `*` between elements, `:` between
/// components, `^` between repetitions and `~` after each segment, the choice most
/// clearinghouses' companion guides show; a reader takes whatever the ISA declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    /// Between elements (the ISA's fourth character).
    pub element: char,
    /// Between the components of a composite (ISA16).
    pub component: char,
    /// Between repetitions (ISA11).
    pub repetition: char,
    /// After each segment (the character after ISA16).
    pub segment: char,
}

impl Default for Delimiters {
    fn default() -> Self {
        Delimiters {
            element: '*',
            component: ':',
            repetition: '^',
            segment: '~',
        }
    }
}

impl Delimiters {
    fn contains(&self, c: char) -> bool {
        c == self.element || c == self.component || c == self.repetition || c == self.segment
    }
}
