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

/// The Typst template.
const TEMPLATE: &str = include_str!("../templates/document.typ");

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
    let data =
        serde_json::to_vec(&view.data).map_err(|e| RenderError::Typeset(format!("data: {e}")))?;
    let mut files = vec![(file_id("/data.json")?, Bytes::new(data))];
    if let Some(logo) = &layout.logo {
        let path = match logo.format() {
            LogoFormat::Png => "/logo.png",
            LogoFormat::Svg => "/logo.svg",
        };
        files.push((file_id(path)?, Bytes::new(logo.bytes().to_vec())));
    }
    if let Some(qr) = &view.qr_svg {
        files.push((file_id("/qr.svg")?, Bytes::from_string(qr.clone())));
    }
    let world = Print {
        main: Source::new(file_id("/document.typ")?, TEMPLATE.to_owned()),
        files,
    };
    let compiled = typst::compile::<PagedDocument>(&world).output;
    // Memoized layout results of earlier documents are of no use to the next one: keep the
    // cache from growing with every document rendered.
    typst::comemo::evict(4);
    let document = compiled
        .map_err(|errors: typst::ecow::EcoVec<SourceDiagnostic>| diagnose(&errors, layout))?;
    let options = PdfOptions {
        ident: Smart::Custom(sheet.number.clone()),
        // PDF/A wants a date: the issue date (at midnight UTC), never the time of rendering.
        timestamp: issue_timestamp(sheet),
        standards: PdfStandards::new(&[PdfStandard::A_3b])
            .map_err(|e| RenderError::Typeset(format!("PDF standard: {e:?}")))?,
        ..PdfOptions::default()
    };
    typst_pdf::pdf(&document, &options)
        .map_err(|errors: typst::ecow::EcoVec<SourceDiagnostic>| diagnose(&errors, layout))
}

fn issue_timestamp(sheet: &Sheet) -> Option<Timestamp> {
    let d = sheet.issue_date;
    let month = u8::try_from(d.month()).ok()?;
    let day = u8::try_from(d.day()).ok()?;
    Datetime::from_ymd_hms(d.year(), month, day, 0, 0, 0).map(Timestamp::new_utc)
}

/// What the typesetter said: a broken logo is the layout's fault, anything else the template's.
fn diagnose(errors: &[SourceDiagnostic], layout: &Layout) -> RenderError {
    let messages: Vec<String> = errors.iter().map(|e| e.message.to_string()).collect();
    let text = messages.join("; ");
    let about_image = messages.iter().any(|m| {
        let m = m.to_ascii_lowercase();
        m.contains("image") || m.contains("svg") || m.contains("png") || m.contains("decode")
    });
    if layout.logo.is_some() && about_image {
        RenderError::Logo(text)
    } else {
        RenderError::Typeset(text)
    }
}
