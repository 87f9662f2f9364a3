//! What the templates read: the sheet in the layout's language, every text translated and every
//! amount formatted, only the fields the layout shows, and the header and footer texts rendered.

use std::str::FromStr;

use base64::Engine as _;
use chrono::NaiveDate;
use minijinja::{Environment, UndefinedBehavior};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};

use crate::RenderError;
use crate::labels::{Labels, Language};
use crate::layout::{Layout, MAX_TEXT_CHARS};
use crate::sheet::{Line, Party, Payment, References, Sheet, SheetKind, Totals, VatRow};

/// The HTML template.
const HTML: &str = include_str!("../templates/document.html");
/// The most work a header or footer template may do (MiniJinja fuel).
const TEXT_FUEL: u64 = 20_000;

/// A label and its value.
#[derive(Debug, Serialize)]
struct Fact {
    label: &'static str,
    value: String,
}

/// A column of the lines table.
#[derive(Debug, Serialize)]
struct Column {
    label: String,
    wide: bool,
    right: bool,
}

/// A total row.
#[derive(Debug, Serialize)]
struct TotalRow {
    label: &'static str,
    value: String,
    strong: bool,
}

/// The data both templates read, and what only the PDF or the HTML needs.
pub(crate) struct View {
    /// The JSON the templates read.
    pub data: Value,
    /// The EPC QR code to pay with, as SVG, when the layout shows one and the sheet has one.
    pub qr_svg: Option<String>,
}

impl View {
    pub(crate) fn of(sheet: &Sheet, layout: &Layout) -> Result<View, RenderError> {
        let lang = layout.language;
        let labels = lang.labels();
        let fields = layout.fields;
        let money = |v: Decimal| {
            format!(
                "{} {}",
                lang.amount(v, sheet.currency_decimals),
                sheet.currency
            )
        };
        let plain = |v: Decimal| lang.amount(v, sheet.currency_decimals);
        let title = match sheet.kind {
            SheetKind::Invoice => labels.invoice,
            SheetKind::CorrectiveInvoice => labels.corrective_invoice,
            SheetKind::SelfBilledInvoice => labels.self_billed_invoice,
            SheetKind::CreditNote => labels.credit_note,
        };

        let mut facts = vec![Fact {
            label: labels.issue_date,
            value: lang.date(sheet.issue_date),
        }];
        if let Some(due) = sheet.due_date {
            facts.push(Fact {
                label: labels.due_date,
                value: lang.date(due),
            });
        }
        facts.extend(references(&sheet.references, layout, lang, labels));
        if let Some((number, date)) = &sheet.corrects {
            facts.push(Fact {
                label: labels.corrects,
                value: format!("{number} ({})", lang.date(*date)),
            });
        }

        let mut columns = Vec::new();
        if fields.line_dates {
            columns.push(Column {
                label: labels.date.to_owned(),
                wide: false,
                right: false,
            });
        }
        columns.push(Column {
            label: labels.description.to_owned(),
            wide: true,
            right: false,
        });
        columns.push(Column {
            label: labels.quantity.to_owned(),
            wide: false,
            right: true,
        });
        columns.push(Column {
            label: format!("{} ({})", labels.unit_price, sheet.currency),
            wide: false,
            right: true,
        });
        columns.push(Column {
            label: labels.vat.to_owned(),
            wide: false,
            right: true,
        });
        columns.push(Column {
            label: format!("{} ({})", labels.amount, sheet.currency),
            wide: false,
            right: true,
        });
        let lines: Vec<Value> = sheet
            .lines
            .iter()
            .map(|l| {
                let mut cells = Vec::with_capacity(6);
                if fields.line_dates {
                    cells.push(l.date.map(|d| lang.date(d)).unwrap_or_default());
                }
                cells.push(if fields.line_codes && !l.code.is_empty() {
                    format!("{} · {}", l.code, l.description)
                } else {
                    l.description.clone()
                });
                cells.push(format!("{} {}", lang.quantity(l.quantity), l.unit));
                cells.push(unit_price(lang, l, sheet.currency_decimals));
                cells.push(vat_label(lang, labels, &l.vat_category, l.vat_rate));
                cells.push(plain(l.amount));
                json!({ "cells": cells })
            })
            .collect();
        let vat: Vec<Value> = sheet
            .vat
            .iter()
            .map(|v: &VatRow| {
                json!({
                    "label": vat_label(lang, labels, &v.category, v.rate),
                    "base": plain(v.base),
                    "tax": plain(v.tax),
                    "reason": v.reason.clone().unwrap_or_default(),
                })
            })
            .collect();
        let totals = total_rows(&sheet.totals, labels, &money);

        let payment = if fields.bank_details {
            sheet.payment.as_ref().map(|p| payment_facts(p, labels))
        } else {
            None
        };
        let qr_svg = if fields.payment_qr {
            sheet.payment.as_ref().and_then(|p| epc_qr(sheet, p))
        } else {
            None
        };

        let texts = text_context(sheet, lang, &money);
        let header_text = render_text("header_text", layout.header_text.as_deref(), &texts)?;
        let footer_text = render_text("footer_text", layout.footer_text.as_deref(), &texts)?;
        let logo = layout.logo.as_ref();

        let data = json!({
            "lang": lang.code(),
            "font": layout.font.family(),
            "css_font": layout.font.css(),
            "primary": layout.primary_color.hex(),
            "accent": layout.accent_color.hex(),
            "labels": labels,
            "title": title,
            "number": sheet.number,
            "seller": party(&sheet.seller),
            "buyer": party(&sheet.buyer),
            "facts": facts,
            "note": sheet.note.as_deref().filter(|n| !n.trim().is_empty()),
            "header_text": header_text,
            "footer_text": footer_text,
            "columns": columns,
            "lines": lines,
            "vat": vat,
            "totals": totals,
            "payment_terms": if fields.payment_terms { sheet.payment_terms.as_deref().filter(|t| !t.trim().is_empty()) } else { None },
            "payment": payment,
            "logo": logo.map(|l| match l.format() {
                crate::LogoFormat::Png => "/logo.png",
                crate::LogoFormat::Svg => "/logo.svg",
            }),
            "logo_uri": logo.map(|l| format!(
                "data:{};base64,{}",
                l.format().media_type(),
                base64::engine::general_purpose::STANDARD.encode(l.bytes())
            )),
            "qr": qr_svg.as_ref().map(|_| "/qr.svg"),
        });
        Ok(View { data, qr_svg })
    }

    /// The HTML page.
    pub(crate) fn html(&self) -> Result<String, RenderError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut data = self.data.clone();
        if let Value::Object(map) = &mut data {
            map.insert("qr_svg".to_owned(), json!(self.qr_svg));
        }
        env.render_str(HTML, minijinja::value::Serde(data))
            .map_err(|e| RenderError::Typeset(format!("HTML template: {e:#}")))
    }
}

fn party(p: &Party) -> Value {
    json!({
        "name": p.name,
        "address": p.address.iter().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>(),
        "tax_id": p.tax_id.as_deref().filter(|t| !t.trim().is_empty()),
        "email": p.email.as_deref().filter(|t| !t.trim().is_empty()),
    })
}

/// The references the layout shows and the sheet has.
fn references(r: &References, layout: &Layout, lang: Language, labels: &Labels) -> Vec<Fact> {
    let f = layout.fields;
    let mut out = Vec::new();
    let mut add = |shown: bool, label: &'static str, value: Option<String>| {
        if let Some(value) = value.filter(|v| shown && !v.trim().is_empty()) {
            out.push(Fact { label, value });
        }
    };
    add(true, labels.your_reference, r.buyer_reference.clone());
    add(f.patient_id, labels.patient_id, r.patient_id.clone());
    add(
        f.policy_number,
        labels.policy_number,
        r.policy_number.clone(),
    );
    add(f.episode, labels.episode, r.episode.clone());
    add(f.practitioner, labels.practitioner, r.practitioner.clone());
    add(
        f.service_period,
        labels.service_period,
        r.service_period.map(|(from, to)| {
            if from == to {
                lang.date(from)
            } else {
                format!("{} – {}", lang.date(from), lang.date(to))
            }
        }),
    );
    // The buyer reference repeats the policy or episode number when it is one of them.
    if let Some(pos) = out.iter().position(|x| x.label == labels.your_reference)
        && out.iter().skip(pos + 1).any(|x| x.value == out[pos].value)
    {
        out.remove(pos);
    }
    out
}

/// A line's unit price: to the currency's decimals, or more when the price has them.
fn unit_price(lang: Language, l: &Line, decimals: u32) -> String {
    let scale = l.unit_price.normalize().scale().max(decimals);
    lang.amount(l.unit_price, scale)
}

fn vat_label(lang: Language, labels: &Labels, category: &str, rate: Option<Decimal>) -> String {
    match (category, rate) {
        ("E", _) => labels.exempt.to_owned(),
        ("O", _) => labels.outside_scope.to_owned(),
        (_, Some(rate)) => format!("{} %", lang.quantity(rate)),
        (other, None) => other.to_owned(),
    }
}

fn total_rows(
    t: &Totals,
    labels: &'static Labels,
    money: &dyn Fn(Decimal) -> String,
) -> Vec<TotalRow> {
    let mut rows = vec![
        TotalRow {
            label: labels.net_total,
            value: money(t.net),
            strong: false,
        },
        TotalRow {
            label: labels.vat_total,
            value: money(t.tax),
            strong: false,
        },
    ];
    if t.paid.is_zero() {
        rows.push(TotalRow {
            label: labels.total,
            value: money(t.gross),
            strong: true,
        });
    } else {
        rows.push(TotalRow {
            label: labels.total,
            value: money(t.gross),
            strong: false,
        });
        rows.push(TotalRow {
            label: labels.paid,
            value: money(t.paid),
            strong: false,
        });
        rows.push(TotalRow {
            label: labels.amount_due,
            value: money(t.due),
            strong: true,
        });
    }
    rows
}

fn payment_facts(p: &Payment, labels: &'static Labels) -> Vec<Fact> {
    let mut out = Vec::new();
    if let Some(name) = p.account_name.as_deref().filter(|n| !n.trim().is_empty()) {
        out.push(Fact {
            label: labels.account_holder,
            value: name.to_owned(),
        });
    }
    out.push(Fact {
        label: labels.iban,
        value: grouped(&p.iban),
    });
    if let Some(bic) = &p.bic {
        out.push(Fact {
            label: labels.bic,
            value: bic.clone(),
        });
    }
    if let Some(reference) = &p.reference {
        out.push(Fact {
            label: labels.payment_reference,
            value: grouped(reference),
        });
    }
    out
}

/// An IBAN or RF reference in groups of four, as printed.
fn grouped(code: &str) -> String {
    let compact: Vec<char> = code.chars().filter(|c| !c.is_whitespace()).collect();
    compact
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The EPC QR code (EPC069-12, "SEPA credit transfer") for the amount due, as SVG: only for
/// euro amounts above zero and at most 999,999,999.99, to an IBAN.
fn epc_qr(sheet: &Sheet, p: &Payment) -> Option<String> {
    let due = sheet.totals.due;
    if sheet.currency != "EUR" || due <= Decimal::ZERO || due > Decimal::from(999_999_999) {
        return None;
    }
    let name: String = p
        .account_name
        .clone()
        .unwrap_or_else(|| sheet.seller.name.clone())
        .chars()
        .take(70)
        .collect();
    let payload = format!(
        "BCD\n002\n1\nSCT\n{}\n{}\n{}\nEUR{}\n\n{}\n\n",
        p.bic.as_deref().unwrap_or(""),
        name,
        p.iban.replace(' ', ""),
        due.round_dp(2),
        p.reference.as_deref().unwrap_or(""),
    );
    let code =
        qrcode::QrCode::with_error_correction_level(payload.as_bytes(), qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// What header and footer templates can read.
fn text_context(sheet: &Sheet, lang: Language, money: &dyn Fn(Decimal) -> String) -> Value {
    json!({
        "number": sheet.number,
        "issue_date": lang.date(sheet.issue_date),
        "due_date": sheet.due_date.map(|d| lang.date(d)).unwrap_or_default(),
        "seller": sheet.seller.name,
        "buyer": sheet.buyer.name,
        "total": money(sheet.totals.gross),
        "due": money(sheet.totals.due),
        "currency": sheet.currency,
        "payment_reference": sheet.payment.as_ref().and_then(|p| p.reference.clone()).unwrap_or_default(),
    })
}

/// A header or footer text rendered over the document (plain text: the writers escape it).
fn render_text(
    field: &'static str,
    source: Option<&str>,
    context: &Value,
) -> Result<Option<String>, RenderError> {
    let Some(source) = source.filter(|s| !s.trim().is_empty()) else {
        return Ok(None);
    };
    if source.chars().count() > MAX_TEXT_CHARS {
        return Err(RenderError::Text {
            field,
            message: format!("longer than {MAX_TEXT_CHARS} characters"),
        });
    }
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(TEXT_FUEL));
    let fail = |e: minijinja::Error| RenderError::Text {
        field,
        message: match e.line() {
            Some(line) => format!(
                "line {line}: {}{}",
                e.kind(),
                e.detail().map(|d| format!(" ({d})")).unwrap_or_default()
            ),
            None => e.to_string(),
        },
    };
    env.add_template(field, source).map_err(fail)?;
    let template = env.get_template(field).map_err(fail)?;
    template
        .render(minijinja::value::Serde(context))
        .map(Some)
        .map_err(fail)
}

/// A sample invoice: two lines, exempt healthcare and a 21 % item, a deposit, a bank account.
pub(crate) fn sample() -> Sheet {
    let d = |s: &str| Decimal::from_str(s).unwrap_or_default();
    let day = |m, d| NaiveDate::from_ymd_opt(2026, m, d).unwrap_or_default();
    Sheet {
        kind: SheetKind::Invoice,
        number: "H1-2026-000042".to_owned(),
        issue_date: day(12, 1),
        due_date: Some(day(12, 31)),
        currency: "EUR".to_owned(),
        currency_decimals: 2,
        seller: Party {
            name: "Hospital Uno".to_owned(),
            address: vec![
                "Calle Mayor 1".to_owned(),
                "28001 Madrid".to_owned(),
                "ES".to_owned(),
            ],
            tax_id: Some("ESB12345678".to_owned()),
            email: Some("billing@hospital-uno.example".to_owned()),
        },
        buyer: Party {
            name: "Ana García".to_owned(),
            address: vec![
                "Calle Luna 5".to_owned(),
                "28004 Madrid".to_owned(),
                "ES".to_owned(),
            ],
            tax_id: None,
            email: None,
        },
        references: References {
            patient_id: Some("MRN-000123".to_owned()),
            policy_number: None,
            episode: Some("ENC-000123".to_owned()),
            practitioner: Some("Dr. L. Pérez".to_owned()),
            service_period: Some((day(11, 3), day(11, 5))),
            buyer_reference: Some("ENC-000123".to_owned()),
        },
        corrects: None,
        note: None,
        lines: vec![
            Line {
                date: Some(day(11, 3)),
                code: "CONS-01".to_owned(),
                description: "Consulta de especialista".to_owned(),
                quantity: d("1"),
                unit: "visit".to_owned(),
                unit_price: d("80.00"),
                amount: d("80.00"),
                vat_category: "E".to_owned(),
                vat_rate: Some(Decimal::ZERO),
            },
            Line {
                date: Some(day(11, 5)),
                code: "KIT-02".to_owned(),
                description: "Kit de curas".to_owned(),
                quantity: d("2"),
                unit: "unit".to_owned(),
                unit_price: d("12.50"),
                amount: d("25.00"),
                vat_category: "S".to_owned(),
                vat_rate: Some(d("21")),
            },
        ],
        vat: vec![
            VatRow {
                category: "E".to_owned(),
                rate: Some(Decimal::ZERO),
                base: d("80.00"),
                tax: Decimal::ZERO,
                reason: Some("VATEX-EU-132-1B".to_owned()),
            },
            VatRow {
                category: "S".to_owned(),
                rate: Some(d("21")),
                base: d("25.00"),
                tax: d("5.25"),
                reason: None,
            },
        ],
        totals: Totals {
            net: d("105.00"),
            tax: d("5.25"),
            gross: d("110.25"),
            paid: d("20.00"),
            due: d("90.25"),
        },
        payment_terms: Some("Payable within 30 days.".to_owned()),
        payment: Some(Payment {
            account_name: Some("Hospital Uno".to_owned()),
            iban: "ES9121000418450200051332".to_owned(),
            bic: Some("CAIXESBBXXX".to_owned()),
            reference: Some("RF18539007547034".to_owned()),
        }),
    }
}
