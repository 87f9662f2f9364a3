//! The writers over the sample document, checked by outside tools: `qpdf --check` for the PDF's
//! structure, `pdftotext` for what a reader sees, `pdffonts` for embedded fonts.

#![expect(clippy::expect_used, reason = "a test fails loudly on any broken step")]

use std::io::Write;
use std::process::Command;

use carebill_layout::{Fields, FontChoice, Language, Layout, Logo, LogoFormat, RenderError};

fn tool(name: &str, args: &[&str], pdf: &[u8]) -> String {
    let mut file = tempfile();
    file.1.write_all(pdf).expect("write pdf");
    let mut all: Vec<&str> = args.to_vec();
    all.push(&file.0);
    if name == "pdftotext" {
        all.push("-");
    }
    let out = Command::new(name)
        .args(&all)
        .output()
        .unwrap_or_else(|e| panic!("{name} must be installed (Debian packages qpdf and poppler-utils; .ci/run installs them): {e}"));
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tempfile() -> (String, std::fs::File) {
    let path = std::env::temp_dir().join(format!(
        "carebill-layout-{}-{}.pdf",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    let file = std::fs::File::create(&path).expect("temp file");
    (path.to_string_lossy().into_owned(), file)
}

#[test]
fn the_sample_invoice_is_a_valid_pdf_with_its_figures_and_fonts_embedded() {
    let pdf = carebill_layout::pdf(&carebill_layout::sample(), &Layout::default()).expect("pdf");
    let check = tool("qpdf", &["--check"], &pdf);
    assert!(
        check.contains("No syntax or stream encoding errors"),
        "{check}"
    );
    let text = tool("pdftotext", &["-layout"], &pdf);
    for expected in [
        "Invoice",
        "H1-2026-000042",
        "110.25 EUR",
        "90.25 EUR",
        "Consulta de especialista",
        "ES91 2100 0418 4502 0005 1332",
        "RF18 5390 0754 7034",
        "Exempt",
        "21 %",
    ] {
        assert!(text.contains(expected), "`{expected}` not in:\n{text}");
    }
    let fonts = tool("pdffonts", &[], &pdf);
    let rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert!(!rows.is_empty(), "{fonts}");
    for row in rows {
        // name type encoding emb sub uni object ID: the emb column must say yes.
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert!(
            cols.iter().rev().nth(4) == Some(&"yes"),
            "font not embedded: {row}"
        );
    }
    assert!(fonts.contains("DejaVuSans"), "{fonts}");
}

#[test]
fn the_same_document_and_layout_give_the_same_bytes() {
    let a = carebill_layout::pdf(&carebill_layout::sample(), &Layout::default()).expect("pdf");
    let b = carebill_layout::pdf(&carebill_layout::sample(), &Layout::default()).expect("pdf");
    assert_eq!(a, b);
}

#[test]
fn a_layout_in_spanish_with_a_serif_font_texts_and_a_payment_code() {
    let layout = Layout {
        language: Language::Es,
        font: FontChoice::LibertinusSerif,
        fields: Fields { payment_qr: true, practitioner: true, ..Fields::default() },
        header_text: Some("Gracias por confiar en {{ seller }}".to_owned()),
        footer_text: Some("Factura {{ number }} · pague {{ due }} antes del {{ due_date }}".to_owned()),
        logo: Some(Logo::new(LogoFormat::Svg, br##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40"><rect width="120" height="40" fill="#1f3a5f"/></svg>"##.to_vec()).expect("svg")),
        ..Layout::default()
    };
    let pdf = carebill_layout::pdf(&carebill_layout::sample(), &layout).expect("pdf");
    let text = tool("pdftotext", &["-layout"], &pdf);
    for expected in [
        "Factura",
        "Gracias por confiar en Hospital Uno",
        "pague 90,25 EUR antes del 31/12/2026",
        "Importe a pagar",
        "Dr. L. Pérez",
        "Escanee para pagar",
        "110,25 EUR",
    ] {
        assert!(text.contains(expected), "`{expected}` not in:\n{text}");
    }
    assert!(tool("pdffonts", &[], &pdf).contains("LibertinusSerif"));
    let html = carebill_layout::html(&carebill_layout::sample(), &layout).expect("html");
    assert!(html.contains("<html lang=\"es\">"));
    assert!(html.contains("data:image"), "the logo inline");
    assert!(html.contains("90,25 EUR"));
    assert!(html.contains("<svg"), "the payment code inline");
}

#[test]
fn texts_that_do_not_render_say_where() {
    let layout = Layout {
        footer_text: Some("ok\n{{ number }\n".to_owned()),
        ..Layout::default()
    };
    match carebill_layout::check(&layout) {
        Err(RenderError::Text { field, message }) => {
            assert_eq!(field, "footer_text");
            assert!(message.contains("line 2"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let layout = Layout {
        header_text: Some("{{ patient_name }}".to_owned()),
        ..Layout::default()
    };
    assert!(matches!(
        carebill_layout::check(&layout),
        Err(RenderError::Text {
            field: "header_text",
            ..
        })
    ));
}

#[test]
fn html_escapes_what_the_document_says() {
    let mut sheet = carebill_layout::sample();
    sheet.buyer.name = "<script>alert(1)</script>".to_owned();
    let html = carebill_layout::html(&sheet, &Layout::default()).expect("html");
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;"));
}

#[test]
fn logos_are_checked_before_they_are_drawn() {
    assert!(Logo::new(LogoFormat::Png, b"GIF89a".to_vec()).is_err());
    assert!(Logo::new(LogoFormat::Svg, b"hello".to_vec()).is_err());
    assert!(
        Logo::new(
            LogoFormat::Svg,
            vec![b' '; carebill_layout::MAX_LOGO_BYTES + 1]
        )
        .is_err()
    );
    // A PNG header that claims 10000 pixels wide.
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&10_000u32.to_be_bytes());
    png.extend_from_slice(&10u32.to_be_bytes());
    assert!(matches!(
        Logo::new(LogoFormat::Png, png),
        Err(carebill_layout::LogoError::TooManyPixels(10_000, 10))
    ));
    // A PNG with a valid header and a broken body: refused when drawn.
    let mut broken = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    broken.extend_from_slice(&10u32.to_be_bytes());
    broken.extend_from_slice(&10u32.to_be_bytes());
    broken.extend_from_slice(b"garbage");
    let layout = Layout {
        logo: Some(Logo::new(LogoFormat::Png, broken).expect("header reads")),
        ..Layout::default()
    };
    assert!(
        matches!(carebill_layout::check(&layout), Err(RenderError::Logo(_))),
        "{:?}",
        carebill_layout::check(&layout)
    );
}
