//! Invoices and credit notes as people read them: PDF typeset by Typst and HTML from a
//! MiniJinja template, both from one print model ([`Sheet`]) and one [`Layout`].
//!
//! The writers do no I/O and read no database: the owning service builds the sheet from its
//! EN 16931 document and hands over the layout the document was issued under. The fonts are
//! embedded in the binary (DejaVu Sans, Libertinus Serif, New Computer Modern) and in every PDF,
//! so a document renders the same on any machine and nothing is fetched at build or run time.
//! PDFs are PDF/A-3b, identified by the document number and without a creation time, so the
//! same document and layout give the same bytes.

mod labels;
mod layout;
mod letter;
mod pdf;
mod sheet;
mod view;

pub use labels::{Labels, Language};
pub use layout::{
    Color, Fields, FontChoice, Layout, Logo, LogoError, LogoFormat, MAX_LOGO_BYTES,
    MAX_LOGO_PIXELS, MAX_TEXT_CHARS,
};
pub use letter::{Letter, letter_pdf};
pub use sheet::{Line, Party, Payment, References, Sheet, SheetKind, Totals, VatRow};

/// The variables a header or footer text can use, e.g. `{{ number }}`.
pub const TEXT_VARIABLES: &[&str] = &[
    "number",
    "issue_date",
    "due_date",
    "seller",
    "buyer",
    "total",
    "due",
    "currency",
    "payment_reference",
];

/// Why a document could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A header or footer text that is not a template that renders; `field` names it and
    /// `message` says where and why.
    #[error("{field}: {message}")]
    Text {
        /// `header_text` or `footer_text`.
        field: &'static str,
        /// Where (line) and why.
        message: String,
    },
    /// The logo could not be drawn (a broken image).
    #[error("the logo could not be drawn: {0}")]
    Logo(String),
    /// The typesetter failed on the bundled template: a defect, not bad input.
    #[error("typesetting failed: {0}")]
    Typeset(String),
}

/// The document as a PDF/A-3b file.
pub fn pdf(sheet: &Sheet, layout: &Layout) -> Result<Vec<u8>, RenderError> {
    let view = view::View::of(sheet, layout)?;
    pdf::typeset(&view, sheet, layout)
}

/// The document as a self-contained HTML page (the logo and payment code inline).
pub fn html(sheet: &Sheet, layout: &Layout) -> Result<String, RenderError> {
    let view = view::View::of(sheet, layout)?;
    view.html()
}

/// Checks that a layout renders: its texts are templates that render over a sample document,
/// and its logo draws. The 422 a service answers for a layout that does not.
pub fn check(layout: &Layout) -> Result<(), RenderError> {
    pdf(&view::sample(), layout).map(|_| ())
}

/// A sample document to preview a layout with when no real one is given.
pub fn sample() -> Sheet {
    view::sample()
}
