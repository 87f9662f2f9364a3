//! The dashboard's charts as SVG, drawn with plotters (its SVG backend only: text is written as
//! SVG text for the viewer's sans-serif font, nothing is rasterised). Pure: figures in, SVG
//! out. Amounts arrive exact (minor units) and become pixel positions only; every label is
//! written from the exact amount.

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// One month's bar pair.
pub(crate) struct MonthBars {
    /// The month's label (`Jan`, or `2026-01` across years).
    pub label: String,
    /// Billed in the month, in minor units.
    pub billed: i64,
    /// Billed in the same month a year before, in minor units.
    pub year_before: i64,
}

/// One stage's bar.
pub(crate) struct StageBar {
    /// The stage's label.
    pub label: String,
    /// Settlements in it.
    pub count: i64,
    /// Their amount, in minor units.
    pub amount: i64,
}

const WIDTH: u32 = 900;
const HEIGHT: u32 = 420;
const THIS_YEAR: RGBColor = RGBColor(0x1f, 0x5f, 0xa8);
const LAST_YEAR: RGBColor = RGBColor(0xb4, 0xc7, 0xdc);
const STAGE: RGBColor = RGBColor(0x2e, 0x7d, 0x5b);
const GRID: RGBColor = RGBColor(0xf4, 0xf4, 0xf4);

/// `minor` in major units, for pixels (never for money).
fn major(minor: i64, exponent: u32) -> f64 {
    minor as f64 / 10f64.powi(exponent as i32)
}

/// An axis label: whole units with thousands separators.
fn axis_label(v: f64) -> String {
    let whole = v.round() as i64;
    let digits = whole.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if whole < 0 { format!("-{out}") } else { out }
}

/// A sensible top for an axis reaching `max`.
fn axis_top(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if max <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn failed<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing the chart failed: {e:?}")
}

/// Billed per month this period against the same months a year before: two bars a month,
/// the currency on the axis, a legend naming the years.
pub(crate) fn progress(
    title: &str,
    currency: &str,
    exponent: u32,
    years: (&str, &str),
    months: &[MonthBars],
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let max = months
            .iter()
            .map(|m| major(m.billed.max(m.year_before), exponent))
            .fold(0.0, f64::max);
        let n = months.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..n as f64, 0f64..axis_top(max))
            .map_err(failed)?;
        let labels: Vec<String> = months.iter().map(|m| m.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID)
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 1e-6 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| axis_label(*y))
            .y_desc(format!("billed ({currency})"))
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(months.iter().enumerate().map(|(i, m)| {
                let x = i as f64;
                Rectangle::new(
                    [(x + 0.12, 0.0), (x + 0.48, major(m.year_before, exponent))],
                    LAST_YEAR.filled(),
                )
            }))
            .map_err(failed)?
            .label(years.1)
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], LAST_YEAR.filled()));
        chart
            .draw_series(months.iter().enumerate().map(|(i, m)| {
                let x = i as f64;
                Rectangle::new(
                    [(x + 0.52, 0.0), (x + 0.88, major(m.billed, exponent))],
                    THIS_YEAR.filled(),
                )
            }))
            .map_err(failed)?
            .label(years.0)
            .legend(|(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], THIS_YEAR.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", 14))
            .draw()
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Settlements waiting per stage: a bar per stage as high as their amount, labelled with the
/// count and the amount.
pub(crate) fn pending(
    title: &str,
    currency: &str,
    exponent: u32,
    stages: &[StageBar],
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let max = stages
            .iter()
            .map(|s| major(s.amount, exponent))
            .fold(0.0, f64::max);
        let top = axis_top(max * 1.15);
        let n = stages.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(16)
            .x_label_area_size(36)
            .y_label_area_size(90)
            .build_cartesian_2d(0f64..n as f64, 0f64..top)
            .map_err(failed)?;
        let labels: Vec<String> = stages.iter().map(|s| s.label.clone()).collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(GRID)
            .x_labels(n * 2 + 1)
            .x_label_formatter(&|x| {
                let i = x.floor() as usize;
                if (x - i as f64 - 0.5).abs() < 1e-6 {
                    labels.get(i).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|y| axis_label(*y))
            .y_desc(format!("waiting ({currency})"))
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(stages.iter().enumerate().map(|(i, s)| {
                let x = i as f64;
                Rectangle::new(
                    [(x + 0.2, 0.0), (x + 0.8, major(s.amount, exponent))],
                    STAGE.filled(),
                )
            }))
            .map_err(failed)?;
        let centred = ("sans-serif", 13)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        chart
            .draw_series(stages.iter().enumerate().map(|(i, s)| {
                let amount = rust_decimal::Decimal::new(s.amount, exponent);
                Text::new(
                    format!("{} · {amount}", s.count),
                    (i as f64 + 0.5, major(s.amount, exponent) + top * 0.01),
                    centred.clone(),
                )
            }))
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels_group_thousands() {
        assert_eq!(axis_label(1234567.4), "1,234,567");
        assert_eq!(axis_label(999.0), "999");
        assert_eq!(axis_label(-1000.0), "-1,000");
    }

    #[test]
    fn axis_tops_round_up() {
        assert_eq!(axis_top(0.0), 1.0);
        assert_eq!(axis_top(830.0), 1000.0);
        assert_eq!(axis_top(2100.0), 2500.0);
        assert_eq!(axis_top(40.0), 50.0);
    }

    #[test]
    fn the_progress_chart_names_currency_years_and_months() {
        let months = [
            MonthBars {
                label: "Jan".into(),
                billed: 120_000,
                year_before: 80_000,
            },
            MonthBars {
                label: "Feb".into(),
                billed: 0,
                year_before: 50_000,
            },
        ];
        let svg = progress(
            "Billed — Hospital Norte & Sur",
            "EUR",
            2,
            ("2026", "2025"),
            &months,
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in [
            "Billed — Hospital Norte &amp; Sur",
            "billed (EUR)",
            "Jan",
            "Feb",
            "2026",
            "2025",
        ] {
            assert!(svg.contains(text), "{text} missing");
        }
        // Two bars a month plus the legend's two swatches.
        assert!(svg.matches("<rect").count() >= 6, "{svg}");
    }

    #[test]
    fn the_pending_chart_labels_counts_and_exact_amounts() {
        let stages = [
            StageBar {
                label: "draft".into(),
                count: 3,
                amount: 123_456,
            },
            StageBar {
                label: "in audit".into(),
                count: 1,
                amount: 5,
            },
        ];
        let svg = pending("Waiting", "EUR", 2, &stages).unwrap();
        assert!(svg.contains("3 · 1234.56"), "{svg}");
        assert!(svg.contains("1 · 0.05"), "{svg}");
        assert!(svg.contains("waiting (EUR)"));
    }
}
