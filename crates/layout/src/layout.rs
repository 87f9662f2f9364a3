//! A layout: how a location's documents look. Colours, a logo, one of the bundled fonts, which
//! optional references and blocks appear, header and footer texts, and the language of labels.
//! A layout parses instead of validating: one that exists is one every writer can render.

use serde::{Deserialize, Serialize};

use crate::labels::Language;

/// The largest logo accepted, in bytes.
pub const MAX_LOGO_BYTES: usize = 512 * 1024;
/// The largest logo accepted, in pixels on either side (PNG).
pub const MAX_LOGO_PIXELS: u32 = 4096;
/// The longest header or footer text, in characters.
pub const MAX_TEXT_CHARS: usize = 2000;

/// A font a layout can choose; each is embedded in the binary and in every PDF made with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FontChoice {
    /// DejaVu Sans: a plain sans serif with wide language coverage.
    #[default]
    DejavuSans,
    /// Libertinus Serif: a book serif.
    LibertinusSerif,
    /// New Computer Modern: the classic TeX face.
    NewComputerModern,
}

impl FontChoice {
    /// Every font, in the order the reference lists them.
    pub const ALL: [FontChoice; 3] = [
        FontChoice::DejavuSans,
        FontChoice::LibertinusSerif,
        FontChoice::NewComputerModern,
    ];

    /// The family name the typesetter knows it by.
    pub fn family(self) -> &'static str {
        match self {
            FontChoice::DejavuSans => "DejaVu Sans",
            FontChoice::LibertinusSerif => "Libertinus Serif",
            FontChoice::NewComputerModern => "New Computer Modern",
        }
    }

    /// The CSS font stack of the HTML version.
    pub fn css(self) -> &'static str {
        match self {
            FontChoice::DejavuSans => "'DejaVu Sans', Verdana, Arial, sans-serif",
            FontChoice::LibertinusSerif => "'Libertinus Serif', Georgia, 'Times New Roman', serif",
            FontChoice::NewComputerModern => {
                "'New Computer Modern', 'Latin Modern Roman', Georgia, serif"
            }
        }
    }
}

/// An sRGB colour written `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color([u8; 3]);

impl Color {
    /// The colour of `#rrggbb` (or `#rgb`), any case.
    pub fn parse(text: &str) -> Option<Color> {
        let hex = text.trim().strip_prefix('#')?;
        let digits: Vec<u8> = hex
            .chars()
            .map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok()))
            .collect::<Option<_>>()?;
        match digits[..] {
            [r, g, b] => Some(Color([r * 17, g * 17, b * 17])),
            [r1, r2, g1, g2, b1, b2] => Some(Color([r1 * 16 + r2, g1 * 16 + g2, b1 * 16 + b2])),
            _ => None,
        }
    }

    /// `#rrggbb`, lower case.
    pub fn hex(self) -> String {
        let [r, g, b] = self.0;
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

impl Serialize for Color {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex())
    }
}

impl<'de> Deserialize<'de> for Color {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Color::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not a colour written #rrggbb"))
        })
    }
}

/// The image format of a logo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LogoFormat {
    /// PNG.
    #[serde(rename = "image/png")]
    Png,
    /// SVG.
    #[serde(rename = "image/svg+xml")]
    Svg,
}

impl LogoFormat {
    /// The media type.
    pub fn media_type(self) -> &'static str {
        match self {
            LogoFormat::Png => "image/png",
            LogoFormat::Svg => "image/svg+xml",
        }
    }
}

/// A logo: an image checked to be what it claims and not too large.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Logo {
    format: LogoFormat,
    bytes: Vec<u8>,
}

/// Why a logo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoError {
    /// Larger than [`MAX_LOGO_BYTES`].
    #[error("the logo has {0} bytes; at most {MAX_LOGO_BYTES} are accepted")]
    TooLarge(usize),
    /// Not a PNG, though said to be one.
    #[error("the logo is not a PNG image")]
    NotPng,
    /// Not an SVG document, though said to be one.
    #[error("the logo is not an SVG image (an <svg> document)")]
    NotSvg,
    /// A PNG wider or taller than [`MAX_LOGO_PIXELS`].
    #[error("the logo is {0}×{1} pixels; at most {MAX_LOGO_PIXELS} on either side")]
    TooManyPixels(u32, u32),
}

impl Logo {
    /// A logo of `bytes` said to be `format`; refused when it is larger than the limits or not
    /// an image of that format (the PNG signature and header, an SVG root element).
    pub fn new(format: LogoFormat, bytes: Vec<u8>) -> Result<Logo, LogoError> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(LogoError::TooLarge(bytes.len()));
        }
        match format {
            LogoFormat::Png => {
                const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
                if bytes.len() < 24 || !bytes.starts_with(SIGNATURE) || &bytes[12..16] != b"IHDR" {
                    return Err(LogoError::NotPng);
                }
                let side = |at: usize| {
                    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
                };
                let (width, height) = (side(16), side(20));
                if width == 0 || height == 0 {
                    return Err(LogoError::NotPng);
                }
                if width > MAX_LOGO_PIXELS || height > MAX_LOGO_PIXELS {
                    return Err(LogoError::TooManyPixels(width, height));
                }
            }
            LogoFormat::Svg => {
                let text = std::str::from_utf8(&bytes).map_err(|_| LogoError::NotSvg)?;
                if !text.contains("<svg") || !text.trim_end().ends_with('>') {
                    return Err(LogoError::NotSvg);
                }
            }
        }
        Ok(Logo { format, bytes })
    }

    /// Its format.
    pub fn format(&self) -> LogoFormat {
        self.format
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Which optional references and blocks a document shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fields {
    /// The patient's id.
    pub patient_id: bool,
    /// The policy number.
    pub policy_number: bool,
    /// The episode number.
    pub episode: bool,
    /// The practitioners.
    pub practitioner: bool,
    /// The first and last day of service.
    pub service_period: bool,
    /// The payment terms text.
    pub payment_terms: bool,
    /// The bank account and the payment reference.
    pub bank_details: bool,
    /// A QR code to pay with (the EPC SEPA credit transfer code, for euro amounts due to an
    /// IBAN; other currencies show none).
    pub payment_qr: bool,
    /// The service date of each line.
    pub line_dates: bool,
    /// The catalog code of each line.
    pub line_codes: bool,
}

impl Default for Fields {
    fn default() -> Self {
        Fields {
            patient_id: true,
            policy_number: true,
            episode: true,
            practitioner: false,
            service_period: true,
            payment_terms: true,
            bank_details: true,
            payment_qr: false,
            line_dates: true,
            line_codes: true,
        }
    }
}

/// How documents look.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Layout {
    /// The language of labels, dates and amounts.
    pub language: Language,
    /// The font.
    pub font: FontChoice,
    /// The colour of the title and the table header.
    pub primary_color: Color,
    /// The colour of rules and shaded rows.
    pub accent_color: Color,
    /// The logo, top left.
    pub logo: Option<Logo>,
    /// What appears.
    pub fields: Fields,
    /// A text under the title (a MiniJinja template over the document; see
    /// [`crate::TEXT_VARIABLES`]).
    pub header_text: Option<String>,
    /// A text at the foot of every page (same kind of template).
    pub footer_text: Option<String>,
}

impl Default for Layout {
    /// The built-in layout, used where a location has none: English labels, DejaVu Sans, a
    /// dark blue title, every common reference shown. It never changes, so documents rendered
    /// with it render the same later.
    fn default() -> Self {
        Layout {
            language: Language::En,
            font: FontChoice::DejavuSans,
            primary_color: Color([0x1f, 0x3a, 0x5f]),
            accent_color: Color([0xdd, 0xe4, 0xee]),
            logo: None,
            fields: Fields::default(),
            header_text: None,
            footer_text: None,
        }
    }
}
