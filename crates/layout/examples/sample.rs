//! Writes the sample invoice with the built-in layout as PDF and HTML, to look at:
//! `cargo run -p carebill-layout --example sample -- /tmp/sample` gives `/tmp/sample.pdf` and
//! `/tmp/sample.html`. The picture in the docs is page 1 of that PDF (`pdftoppm -png -r 60`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stem = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sample".to_owned());
    let sheet = carebill_layout::sample();
    let layout = carebill_layout::Layout {
        fields: carebill_layout::Fields {
            payment_qr: true,
            practitioner: true,
            ..carebill_layout::Fields::default()
        },
        ..carebill_layout::Layout::default()
    };
    std::fs::write(
        format!("{stem}.pdf"),
        carebill_layout::pdf(&sheet, &layout)?,
    )?;
    std::fs::write(
        format!("{stem}.html"),
        carebill_layout::html(&sheet, &layout)?,
    )?;
    Ok(())
}
