//! Layouts: how a location's documents look (language, font, colours, logo, which references
//! and blocks appear, header and footer texts), versioned.
//!
//! A layout is for a location, and optionally only for documents to one kind of recipient, to
//! one payer, or of one type; a document is rendered with the most specific layout that fits
//! (payer before recipient kind before document type), else with the built-in one. A layout's
//! selector never changes (a different selector is another layout); its definition gets a new
//! version on every change and every version is kept. A document renders with the layouts as
//! they were when it was issued, so an issued invoice looks the same tomorrow however its
//! layout changes: the version current at its issue time is found from the versions' creation
//! times, and nothing is written when a document is issued.

use base64::Engine as _;
use carebill_domain::events::PartyKind;
use carebill_layout::{Color, Fields, FontChoice, Language, Layout, Logo, LogoFormat};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::store::layouts::{self as store, LayoutRow, LayoutVersionRow};

/// The type of document a layout is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DocumentType {
    /// Invoices.
    Invoice,
    /// Credit notes.
    CreditNote,
}

impl DocumentType {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::Invoice => "invoice",
            DocumentType::CreditNote => "credit_note",
        }
    }

    fn parse(text: &str) -> Option<DocumentType> {
        match text {
            "invoice" => Some(DocumentType::Invoice),
            "credit_note" => Some(DocumentType::CreditNote),
            _ => None,
        }
    }
}

/// Which documents a layout is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Selector {
    /// The issuing location's code.
    pub location_code: String,
    /// Only documents to this kind of recipient.
    pub recipient_kind: Option<PartyKind>,
    /// Only documents to this payer.
    pub payer_code: Option<String>,
    /// Only documents of this type.
    pub document_type: Option<DocumentType>,
}

impl Selector {
    /// How specific the selector is: a payer outranks a recipient kind, which outranks a
    /// document type.
    fn rank(&self) -> u8 {
        u8::from(self.payer_code.is_some()) * 4
            + u8::from(self.recipient_kind.is_some()) * 2
            + u8::from(self.document_type.is_some())
    }

    /// Whether it takes a document of this location, recipient and type.
    fn fits(&self, doc: &DocumentSelector<'_>) -> bool {
        self.location_code == doc.location_code
            && self.recipient_kind.is_none_or(|k| k == doc.recipient_kind)
            && self
                .payer_code
                .as_deref()
                .is_none_or(|p| Some(p) == doc.payer_code)
            && self.document_type.is_none_or(|t| t == doc.document_type)
    }
}

/// What picks a document's layout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocumentSelector<'a> {
    /// The issuing location.
    pub location_code: &'a str,
    /// Who is billed.
    pub recipient_kind: PartyKind,
    /// The payer billed, for a payer's document.
    pub payer_code: Option<&'a str>,
    /// Invoice or credit note.
    pub document_type: DocumentType,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// A stored logo: its media type and bytes (base64 in the stored JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredLogo {
    media_type: LogoFormat,
    data: String,
}

/// A layout's definition as stored (JSON): everything but the selector.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Definition {
    language: Language,
    font: FontChoice,
    primary_color: Color,
    accent_color: Color,
    logo: Option<StoredLogo>,
    fields: Fields,
    header_text: Option<String>,
    footer_text: Option<String>,
}

impl Definition {
    fn of(layout: &Layout) -> Definition {
        Definition {
            language: layout.language,
            font: layout.font,
            primary_color: layout.primary_color,
            accent_color: layout.accent_color,
            logo: layout.logo.as_ref().map(|l| StoredLogo {
                media_type: l.format(),
                data: base64::engine::general_purpose::STANDARD.encode(l.bytes()),
            }),
            fields: layout.fields,
            header_text: layout.header_text.clone(),
            footer_text: layout.footer_text.clone(),
        }
    }

    fn layout(self, code: &str) -> Result<Layout, Error> {
        let what = format!("layout {code}");
        let logo = match self.logo {
            None => None,
            Some(l) => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(&l.data)
                    .map_err(|e| Error::stored(&what, "logo", e))?;
                Some(Logo::new(l.media_type, bytes).map_err(|e| Error::stored(&what, "logo", e))?)
            }
        };
        Ok(Layout {
            language: self.language,
            font: self.font,
            primary_color: self.primary_color,
            accent_color: self.accent_color,
            logo,
            fields: self.fields,
            header_text: self.header_text,
            footer_text: self.footer_text,
        })
    }
}

/// A layout as the use cases see it: the selector, one version of the definition, and when.
#[derive(Debug, Clone)]
pub(crate) struct StoredLayout {
    /// Code.
    pub code: String,
    /// Which documents it is for.
    pub selector: Selector,
    /// The version shown.
    pub version: i64,
    /// The newest version.
    pub current_version: i64,
    /// The definition of that version.
    pub layout: Layout,
    /// Who created the layout.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who made the version shown.
    pub version_by: String,
    /// When.
    pub version_at: DateTime<Utc>,
}

impl StoredLayout {
    fn of(row: LayoutRow, version: LayoutVersionRow) -> Result<StoredLayout, Error> {
        let what = format!("layout {}", row.code);
        let definition: Definition = serde_json::from_str(&version.definition)
            .map_err(|e| Error::stored(&what, "definition", e))?;
        let selector = Selector {
            recipient_kind: row
                .recipient_kind
                .as_deref()
                .map(|k| {
                    k.parse::<PartyKind>()
                        .map_err(|e| Error::stored(&what, k, e))
                })
                .transpose()?,
            document_type: row
                .document_type
                .as_deref()
                .map(|t| {
                    DocumentType::parse(t)
                        .ok_or_else(|| Error::stored(&what, t, "not a document type"))
                })
                .transpose()?,
            location_code: row.location_code,
            payer_code: row.payer_code,
        };
        Ok(StoredLayout {
            layout: definition.layout(&row.code)?,
            code: row.code,
            selector,
            version: version.version,
            current_version: row.version,
            created_by: row.created_by,
            created_at: row.created_at.and_utc(),
            version_by: version.created_by,
            version_at: version.created_at.and_utc(),
        })
    }
}

/// What the audit trail keeps of a definition: everything but the logo's bytes, which are
/// named by their size and SHA-256.
fn audited(selector: &Selector, layout: &Layout, version: i64) -> serde_json::Value {
    let mut definition = serde_json::to_value(Definition::of(layout)).unwrap_or_default(); // not stored: only the audit's picture
    if let (Some(logo), Some(map)) = (&layout.logo, definition.as_object_mut()) {
        let digest = sha2::Sha256::digest(logo.bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        map.insert(
            "logo".to_owned(),
            serde_json::json!({ "media_type": logo.format().media_type(), "bytes": logo.bytes().len(), "sha256": hex }),
        );
    }
    serde_json::json!({ "selector": selector, "version": version, "definition": definition })
}

/// Creates the layout `code`, or replaces its definition with a new version. Replacing needs
/// the version read (`if_match`); the selector of an existing layout cannot change, and no two
/// layouts share one. Returns the layout and whether it was created.
#[tracing::instrument(skip_all, fields(layout = %code))]
pub(crate) fn put(
    conn: &mut AnyConnection,
    who: &Principal,
    code: &str,
    selector: Selector,
    layout: Layout,
    if_match: Option<i64>,
) -> Result<(StoredLayout, bool), Error> {
    if !Scope::of(who).allows_location(&selector.location_code) {
        return Err(Error::not_found("location"));
    }
    let now = db::now();
    let definition =
        serde_json::to_string(&Definition::of(&layout)).map_err(|e| Error::internal(&e))?;
    let existing = store::find_for_update(conn, code)?;
    let (version, created) = match existing {
        None => {
            if if_match.is_some() {
                return Err(Error::new(
                    ErrorCode::PreconditionFailed,
                    format!("there is no layout {code} to replace"),
                ));
            }
            let row = LayoutRow {
                code: code.to_owned(),
                location_code: selector.location_code.clone(),
                recipient_kind: selector.recipient_kind.map(|k| k.as_str().to_owned()),
                payer_code: selector.payer_code.clone(),
                document_type: selector.document_type.map(|t| t.as_str().to_owned()),
                version: 1,
                created_by: who.subject.clone(),
                created_at: now,
                updated_at: now,
            };
            if let Some(other) = store::with_selector(conn, &row)? {
                return Err(Error::new(
                    ErrorCode::AlreadyExists,
                    format!("layout {other} is already for these documents; change it instead"),
                ));
            }
            store::insert(
                conn,
                row,
                LayoutVersionRow {
                    code: code.to_owned(),
                    version: 1,
                    definition,
                    created_by: who.subject.clone(),
                    created_at: now,
                },
            )?;
            (1, true)
        }
        Some(row) => {
            let current = StoredLayout::of(
                row.clone(),
                store::version(conn, code, row.version)?
                    .ok_or_else(|| Error::internal(&format!("layout {code} lost its version")))?,
            )?;
            match if_match {
                None => {
                    return Err(carebill_platform::http::precondition_required(
                        "of the layout (GET /v1/layouts/{code})",
                    ));
                }
                Some(v) if v != row.version => {
                    return Err(Error::new(
                        ErrorCode::PreconditionFailed,
                        format!("the layout is at version {}, not {v}", row.version),
                    ));
                }
                Some(_) => {}
            }
            if current.selector != selector {
                return Err(Error::field(
                    "location_code",
                    "immutable",
                    "the documents a layout is for (location, recipient kind, payer, document type) cannot change; create another layout",
                ));
            }
            let version = row.version + 1;
            store::add_version(
                conn,
                LayoutVersionRow {
                    code: code.to_owned(),
                    version,
                    definition,
                    created_by: who.subject.clone(),
                    created_at: now,
                },
            )?;
            (version, false)
        }
    };
    audit::record(
        conn,
        who,
        if created { "create" } else { "update" },
        "layout",
        code,
        audited(&selector, &layout, version),
        None,
    )?;
    Ok((get(conn, &Scope::of(who), code, None)?, created))
}

/// The layout `code` in the caller's locations: its current version, or the one asked for.
#[tracing::instrument(skip_all, fields(layout = %code))]
pub(crate) fn get(
    conn: &mut AnyConnection,
    scope: &Scope,
    code: &str,
    version: Option<i64>,
) -> Result<StoredLayout, Error> {
    let row = store::find(conn, code)?
        .filter(|r| scope.allows_location(&r.location_code) && !scope.is_payer_limited())
        .ok_or_else(|| Error::not_found("layout"))?;
    let wanted = match version {
        Some(v) => v,
        None => row.version,
    };
    let v =
        store::version(conn, code, wanted)?.ok_or_else(|| Error::not_found("layout version"))?;
    StoredLayout::of(row, v)
}

/// The layouts in the caller's locations (of one location when given), by code; none for a
/// payer's portal user.
#[tracing::instrument(skip_all)]
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    location_code: Option<&str>,
    page: &PageRequest,
) -> Result<Page<StoredLayout>, Error> {
    let rows = if scope.is_payer_limited() {
        Vec::new()
    } else {
        store::list(conn, scope.locations.as_deref(), location_code, page)?
    };
    Page::from_rows(rows, page, |r| r.code.clone()).try_map(|row| {
        let v = store::version(conn, &row.code, row.version)?
            .ok_or_else(|| Error::internal(&format!("layout {} lost its version", row.code)))?;
        StoredLayout::of(row, v)
    })
}

/// The layout a document is rendered with: the most specific of its location's layouts that
/// existed when it was issued, in the version current then; the built-in layout when none fits.
/// Returns the layout and which one it is (code and version), none for the built-in.
#[tracing::instrument(skip_all)]
pub(crate) fn for_document(
    conn: &mut AnyConnection,
    doc: &DocumentSelector<'_>,
) -> Result<(Layout, Option<(String, i64)>), Error> {
    let at: NaiveDateTime = doc.issued_at.naive_utc();
    let mut best: Option<(u8, StoredLayout)> = None;
    for row in store::of_location_at(conn, doc.location_code, at)? {
        let Some(version) = store::version_at(conn, &row.code, at)? else {
            continue;
        };
        let layout = StoredLayout::of(row, version)?;
        if !layout.selector.fits(doc) {
            continue;
        }
        let rank = layout.selector.rank();
        if best.as_ref().is_none_or(|(r, _)| rank > *r) {
            best = Some((rank, layout));
        }
    }
    Ok(match best {
        Some((_, l)) => (l.layout, Some((l.code, l.version))),
        None => (Layout::default(), None),
    })
}
