//! Printed documents: an invoice or credit note as people read it, PDF or HTML, in the layout
//! it was issued under ([`super::layouts::for_document`]).
//!
//! The print model is made from the same EN 16931 document the UBL is written from
//! ([`super::e_invoices`]), so every format carries the same figures to the cent; what a
//! printed document shows beside it (line dates and codes, the episode, the service period)
//! comes from what invoicing kept when it issued the document. Reading happens on a connection;
//! typesetting ([`pdf`], [`html`]) needs none and runs wherever the caller puts CPU work.

use carebill_domain::document::{Document, Party as DocumentParty, VatCategory};
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::{CreditNoteId, InvoiceId};
use carebill_layout::{
    Language, Layout, Line as PrintLine, Party, Payment, References, RenderError, Sheet, SheetKind,
    Totals, VatRow,
};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::{DateTime, Utc};

use super::documents::{self, Line};
use super::e_invoices;
use super::layouts::{self, DocumentSelector, DocumentType};
use crate::store::deliveries;

/// A document ready to typeset: what it shows and the layout it shows it in.
#[derive(Debug, Clone)]
pub(crate) struct Printable {
    /// What the document shows.
    pub sheet: Sheet,
    /// How.
    pub layout: Layout,
    /// Which layout (code and version); none for the built-in one.
    pub layout_ref: Option<(String, i64)>,
}

/// The invoice in the caller's scope, with the layout it was issued under; not found outside
/// the scope.
#[tracing::instrument(skip_all, fields(invoice_id = %id))]
pub(crate) fn invoice(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: InvoiceId,
) -> Result<Printable, Error> {
    let doc = documents::invoice(conn, scope, id)?;
    let model = e_invoices::invoice_model(&doc)?;
    let h = &doc.invoice;
    let kind = if h.corrects.is_some() {
        SheetKind::CorrectiveInvoice
    } else if model.header.kind == carebill_domain::document::DocumentKind::SelfBilledInvoice {
        SheetKind::SelfBilledInvoice
    } else {
        SheetKind::Invoice
    };
    let mut sheet = sheet(kind, &model, &doc.lines, &h.recipient, &h.issuer.name)?;
    sheet.references = references(
        &model,
        &doc.lines,
        &h.recipient,
        h.patient_id.map(|p| p.to_string()),
        h.episode.as_ref().map(|e| e.number.as_str()),
    );
    sheet.corrects = h.corrects.as_ref().map(|(_, n, d)| (n.clone(), *d));
    sheet.note.clone_from(&model.header.note);
    let (layout, layout_ref) = layouts::for_document(
        conn,
        &DocumentSelector {
            location_code: &h.issuer.code,
            recipient_kind: h.recipient.kind,
            payer_code: h.recipient.payer_code.as_deref(),
            document_type: DocumentType::Invoice,
            issued_at: h.issued_at,
        },
    )?;
    let layout = in_recipients_language(conn, layout, &h.recipient, h.issued_at)?;
    Ok(Printable {
        sheet,
        layout,
        layout_ref,
    })
}

/// The credit note in the caller's scope, with the layout it was issued under.
#[tracing::instrument(skip_all, fields(credit_note_id = %id))]
pub(crate) fn credit_note(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: CreditNoteId,
) -> Result<Printable, Error> {
    let doc = documents::credit_note(conn, scope, id)?;
    let model = e_invoices::credit_note_model(&doc)?;
    let h = &doc.header;
    let mut sheet = sheet(
        SheetKind::CreditNote,
        &model,
        &doc.lines,
        &h.recipient,
        &h.issuer.name,
    )?;
    sheet.references = references(
        &model,
        &doc.lines,
        &h.recipient,
        h.patient_id.map(|p| p.to_string()),
        h.episode.as_ref().map(|e| e.number.as_str()),
    );
    sheet.corrects = Some((h.invoice_number.clone(), h.invoice_issue_date));
    sheet.note = Some(h.reason.clone()).filter(|r| !r.trim().is_empty());
    let (layout, layout_ref) = layouts::for_document(
        conn,
        &DocumentSelector {
            location_code: &h.issuer.code,
            recipient_kind: h.recipient.kind,
            payer_code: h.recipient.payer_code.as_deref(),
            document_type: DocumentType::CreditNote,
            issued_at: h.issued_at,
        },
    )?;
    let layout = in_recipients_language(conn, layout, &h.recipient, h.issued_at)?;
    Ok(Printable {
        sheet,
        layout,
        layout_ref,
    })
}

/// The sample invoice a layout is previewed with when no document is named, in the built-in
/// layout.
pub(crate) fn sample() -> Printable {
    Printable {
        sheet: carebill_layout::sample(),
        layout: Layout::default(),
        layout_ref: None,
    }
}

/// Checks that a layout renders (its texts and its logo) over the sample invoice.
pub(crate) fn check(layout: &Layout) -> Result<(), Error> {
    carebill_layout::check(layout).map_err(render_error)
}

/// Whom delivery settings are kept for: a payer by its code, a patient or a carer by id.
pub(crate) fn party_of(recipient: &PartyRef) -> String {
    match recipient.kind {
        PartyKind::Payer => recipient.payer_code.clone().unwrap_or_default(), // not stored: a payer document always names its payer
        PartyKind::Patient | PartyKind::Carer => recipient.id.to_string(),
    }
}

/// The layout in the language the recipient had asked for when the document was issued, if it
/// had asked for one.
fn in_recipients_language(
    conn: &mut AnyConnection,
    mut layout: Layout,
    recipient: &PartyRef,
    issued_at: DateTime<Utc>,
) -> Result<Layout, Error> {
    let party = party_of(recipient);
    let asked = deliveries::settings(
        conn,
        recipient.kind.as_str(),
        &party,
        Some(issued_at.naive_utc()),
    )?
    .and_then(|s| s.language);
    if let Some(code) = asked {
        layout.language = Language::parse(&code)
            .ok_or_else(|| Error::stored("delivery settings language", &code, "no labels"))?;
    }
    Ok(layout)
}

/// The document as PDF.
pub(crate) fn pdf(p: &Printable) -> Result<Vec<u8>, Error> {
    carebill_layout::pdf(&p.sheet, &p.layout).map_err(render_error)
}

/// Many documents as PDF, typeset on every core, in the order given.
pub(crate) fn pdf_all(documents: &[Printable]) -> Vec<Result<Vec<u8>, Error>> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let chunk = documents.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let workers: Vec<_> = documents
            .chunks(chunk)
            .map(|part| {
                (
                    part.len(),
                    s.spawn(move || part.iter().map(pdf).collect::<Vec<_>>()),
                )
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|(n, w)| match w.join() {
                Ok(done) => done,
                // One error per document of the part, so results stay in step with documents.
                Err(_) => (0..n)
                    .map(|_| Err(Error::internal(&"a typesetting thread panicked")))
                    .collect(),
            })
            .collect()
    })
}

/// The document as HTML.
pub(crate) fn html(p: &Printable) -> Result<String, Error> {
    carebill_layout::html(&p.sheet, &p.layout).map_err(render_error)
}

/// A writer's refusal as the API's error: a layout's text or logo that does not render is the
/// caller's 422, naming the field; anything else is a defect of the bundled templates.
pub(crate) fn render_error(e: RenderError) -> Error {
    match e {
        RenderError::Text { field, message } => Error::field(field, "does_not_render", message),
        RenderError::Logo(message) => Error::field("logo", "does_not_render", message),
        RenderError::Typeset(message) => Error::internal(&message),
    }
}

/// The print model of an EN 16931 document and the stored lines it was built from (in the
/// same order).
fn sheet(
    kind: SheetKind,
    model: &Document,
    stored: &[Line],
    recipient: &PartyRef,
    issuer_name: &str,
) -> Result<Sheet, Error> {
    let currency = model.currency();
    let totals = model.totals();
    if model.lines().len() != stored.len() {
        return Err(Error::internal(
            &"the document's lines are not the stored lines",
        ));
    }
    let lines = model
        .lines()
        .iter()
        .zip(stored)
        .map(|(l, s)| PrintLine {
            date: Some(s.performed_at.date_naive()),
            code: s.code.clone(),
            description: s.description.clone(),
            quantity: l.quantity(),
            unit: s.unit.clone(),
            unit_price: l.net_price(),
            amount: l.net_amount().amount(),
            vat_category: l.vat.code().to_owned(),
            vat_rate: l.vat.rate(),
        })
        .collect();
    let vat = model
        .breakdown()
        .iter()
        .map(|b| VatRow {
            category: b.category.code().to_owned(),
            rate: b.category.rate(),
            base: b.taxable.amount(),
            tax: b.tax.amount(),
            reason: match &b.category {
                VatCategory::Exempt(r) | VatCategory::OutsideScope(r) => {
                    r.code.clone().or_else(|| r.text.clone())
                }
                _ => None,
            },
        })
        .collect();
    let payment = model
        .payment
        .as_ref()
        .filter(|_| totals.due.amount() > rust_decimal::Decimal::ZERO)
        .and_then(|p| {
            p.iban.as_ref().map(|iban| Payment {
                account_name: p.account_name.clone(),
                iban: iban.as_str().to_owned(),
                bic: p.bic.as_ref().map(|b| b.as_str().to_owned()),
                reference: p.remittance.clone(),
            })
        });
    let buyer_fallback = recipient.payer_code.clone().unwrap_or_default(); // not stored: a name for documents issued before parties were kept
    Ok(Sheet {
        kind,
        number: model.header.number.clone(),
        issue_date: model.header.issue_date,
        due_date: model.header.due_date,
        currency: currency.code().to_owned(),
        currency_decimals: currency.exponent(),
        seller: party(&model.seller, issuer_name),
        buyer: party(&model.buyer, &buyer_fallback),
        references: References::default(),
        corrects: None,
        note: None,
        lines,
        vat,
        totals: Totals {
            net: totals.without_vat.amount(),
            tax: totals.vat.amount(),
            gross: totals.with_vat.amount(),
            paid: totals.prepaid.amount(),
            due: totals.due.amount(),
        },
        payment_terms: model
            .header
            .payment_terms
            .clone()
            .filter(|_| kind != SheetKind::CreditNote),
        payment,
    })
}

/// What a layout may print beside the figures.
fn references(
    model: &Document,
    lines: &[Line],
    recipient: &PartyRef,
    patient_id: Option<String>,
    episode: Option<&str>,
) -> References {
    let days = lines.iter().map(|l| l.performed_at.date_naive());
    let period = days.clone().min().zip(days.max());
    References {
        patient_id,
        policy_number: recipient.policy_number.clone(),
        episode: episode.map(str::to_owned),
        practitioner: None,
        service_period: period,
        buyer_reference: model.header.buyer_reference.clone(),
    }
}

/// A document party as printed; `fallback` names it when the document kept no name.
fn party(p: &DocumentParty, fallback: &str) -> Party {
    let mut address = Vec::new();
    if let Some(a) = &p.address {
        address.extend(a.street.clone());
        address.extend(a.additional_street.clone());
        let city = [a.postal_code.as_deref(), a.city.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        if !city.trim().is_empty() {
            address.push(city);
        }
        address.push(a.country.code().to_owned());
    }
    Party {
        name: p
            .legal_name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| fallback.to_owned()), // not stored: what a nameless party is printed as
        address,
        tax_id: p.vat_id.as_ref().map(|v| v.as_str().to_owned()),
        email: p.contact.as_ref().and_then(|c| c.email.clone()),
    }
}
