//! The PDF writer: the bundled Typst template typeset over the view, in a world of a few
//! virtual files (the template, its data, the logo, the payment code) and the embedded fonts.
//! Nothing is read from disk or fetched.

use std::sync::LazyLock;

use chrono::Datelike;
use typst::diag::{FileError, FileResult, SourceDiagnostic};
use typst::foundations::{Bytes, Datetime, Smart};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;
use typst_pdf::{PdfOptions, PdfStandard, PdfStandards, Timestamp};

use crate::RenderError;
use crate::layout::{Layout, LogoFormat};
use crate::sheet::Sheet;
use crate::view::View;

/// The Typst template of invoices and credit notes.
const TEMPLATE: &str = include_str!("../templates/document.typ");
/// The Typst template of letters.
pub(crate) const LETTER: &str = include_str!("../templates/letter.typ");

/// The fonts every document can use, parsed once.
struct Fonts {
    book: LazyHash<FontBook>,
    fonts: Vec<Font>,
}

static FONTS: LazyLock<Fonts> = LazyLock::new(|| {
    let files = typst_assets::fonts().chain([
        dejavu::sans::regular(),
        dejavu::sans::bold(),
        dejavu::sans::oblique(),
        dejavu::sans::bold_oblique(),
    ]);
    let fonts: Vec<Font> = files.flat_map(|f| Font::iter(Bytes::new(f))).collect();
    Fonts {
        book: LazyHash::new(FontBook::from_fonts(&fonts)),
        fonts,
    }
});

static LIBRARY: LazyLock<LazyHash<Library>> = LazyLock::new(|| LazyHash::new(Library::default()));

/// One document's world: the template and its virtual files.
struct Print {
    main: Source,
    files: Vec<(FileId, Bytes)>,
}

fn file_id(path: &str) -> Result<FileId, RenderError> {
    let vpath = VirtualPath::new(path)
        .map_err(|e| RenderError::Typeset(format!("virtual path {path}: {e:?}")))?;
    Ok(RootedPath::new(VirtualRoot::Project, vpath).intern())
}

impl World for Print {
    fn library(&self) -> &LazyHash<Library> {
        &LIBRARY
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &FONTS.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            Ok(self.main.clone())
        } else {
            Err(FileError::NotSource)
        }
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.files
            .iter()
            .find(|(f, _)| *f == id)
            .map(|(_, bytes)| bytes.clone())
            .ok_or_else(|| FileError::NotFound(id.vpath().get_without_slash().into()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        FONTS.fonts.get(index).cloned()
    }

    fn today(&self, _offset: Option<typst::foundations::Duration>) -> Option<Datetime> {
        // Documents never print the day they are rendered on: they render the same later.
        None
    }
}

/// The document typeset and written as PDF/A-3b.
pub(crate) fn typeset(view: &View, sheet: &Sheet, layout: &Layout) -> Result<Vec<u8>, RenderError> {
    let mut files = Vec::new();
    if let Some(logo) = &layout.logo {
        let path = match logo.format() {
            LogoFormat::Png => "/logo.png",
            LogoFormat::Svg => "/logo.svg",
        };
        files.push((path, Bytes::new(logo.bytes().to_vec())));
    }
    if let Some(qr) = &view.qr_svg {
        files.push(("/qr.svg", Bytes::from_string(qr.clone())));
    }
    typeset_template(
        TEMPLATE,
        &view.data,
        &sheet.number,
        sheet.issue_date,
        &files,
    )
    .map_err(|e| match e {
        RenderError::Typeset(text) if layout.logo.is_some() && about_image(&text) => {
            RenderError::Logo(text)
        }
        other => other,
    })
}

/// A bundled template typeset over `data` (read as `/data.json`) and the given virtual files,
/// written as PDF/A-3b identified by `ident` and dated `date`.
pub(crate) fn typeset_template(
    template: &str,
    data: &serde_json::Value,
    ident: &str,
    date: chrono::NaiveDate,
    extra: &[(&str, Bytes)],
) -> Result<Vec<u8>, RenderError> {
    let json = serde_json::to_vec(data).map_err(|e| RenderError::Typeset(format!("data: {e}")))?;
    let mut files = vec![(file_id("/data.json")?, Bytes::new(json))];
    for (path, bytes) in extra {
        files.push((file_id(path)?, bytes.clone()));
    }
    let world = Print {
        main: Source::new(file_id("/main.typ")?, template.to_owned()),
        files,
    };
    let compiled = typst::compile::<PagedDocument>(&world).output;
    // Memoized layout results of earlier documents are of no use to the next one: keep the
    // cache from growing with every document rendered.
    typst::comemo::evict(4);
    let document =
        compiled.map_err(|errors: typst::ecow::EcoVec<SourceDiagnostic>| diagnose(&errors))?;
    let options = PdfOptions {
        ident: Smart::Custom(ident.to_owned()),
        // PDF/A wants a date: the document's own (at midnight UTC), never the time of rendering.
        timestamp: timestamp(date),
        standards: PdfStandards::new(&[PdfStandard::A_3b])
            .map_err(|e| RenderError::Typeset(format!("PDF standard: {e:?}")))?,
        ..PdfOptions::default()
    };
    typst_pdf::pdf(&document, &options).map_err(|errors| diagnose(&errors))
}

fn timestamp(d: chrono::NaiveDate) -> Option<Timestamp> {
    let month = u8::try_from(d.month()).ok()?;
    let day = u8::try_from(d.day()).ok()?;
    Datetime::from_ymd_hms(d.year(), month, day, 0, 0, 0).map(Timestamp::new_utc)
}

/// What the typesetter said.
fn diagnose(errors: &[SourceDiagnostic]) -> RenderError {
    let messages: Vec<String> = errors.iter().map(|e| e.message.to_string()).collect();
    RenderError::Typeset(messages.join("; "))
}

/// Whether a typesetter's complaint is about an image (a logo that does not draw).
fn about_image(text: &str) -> bool {
    let m = text.to_ascii_lowercase();
    m.contains("image") || m.contains("svg") || m.contains("png") || m.contains("decode")
}
