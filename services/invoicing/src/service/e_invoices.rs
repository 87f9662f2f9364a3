//! The EN 16931 document of an invoice or credit note, and its UBL (Peppol BIS Billing 3.0).
//!
//! Built from what invoicing stored when it issued the document (the issuing location and the
//! recipient as the approval carried them, the lines with their stored tax), never from master
//! data read later, so an issued document renders the same tomorrow (the approval carries the
//! parties' billing data as accounts reported it; see `service::issuing`). What a valid document
//! still lacks is not a 500 and not a silent invalid file: [`Rendered::Incomplete`] lists each
//! missing business term with the resource a person completes to fix it.
//!
//! Decisions of this first version: the buyer reference (BT-10) is the policy number for a
//! payer and the episode number for the patient; the payment terms (BT-20) are the text of the
//! terms the invoice was issued under (the payer's, else the location's); a catalog unit that is not a
//! measure (visit, test, session ...) is counted (UN/ECE Rec 20 `C62`, "one").

use carebill_domain::Money;
use carebill_domain::agency_invoices::AgencyPurpose;
use carebill_domain::creditor_reference::CreditorReference;
use carebill_domain::document::{
    Contact, Document, DocumentKind, ExemptionReason, Header, Line as DocumentLine, MissingTerm,
    Part, Party, PaymentInstructions, PostalAddress, PrecedingInvoice, VatCategory,
};
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::identifiers::{Bic, Country, Iban, Scheme, SchemeId, VatId};
use carebill_domain::ids::{CarerId, CreditNoteId, InvoiceId};
use carebill_domain::invoicing::TaxCategory;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;

use super::documents::{
    self, AgencyFacts, CreditNoteDocument, EpisodeLink, InvoiceDocument, Issuer, Line,
};
use crate::store::invoices::{StoredParty, StoredPostalAddress, StoredSchemeId};

/// A business term the document lacks, and where to complete it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Gap {
    /// Its EN 16931 number, e.g. `BT-31` (or `BG-5` for a whole group).
    pub term: &'static str,
    /// Its EN 16931 name, with the line it belongs to when it is a line's.
    pub name: String,
    /// The resource to complete, e.g. `/v1/locations/{id}` for the seller.
    pub href: String,
}

/// A document as UBL, or what it lacks to be valid.
#[derive(Debug, Clone)]
pub(crate) enum Rendered {
    /// A UBL 2.1 Invoice or CreditNote that passes EN 16931 and Peppol BIS 3.0.
    Ubl(Vec<u8>),
    /// Each missing business term, in document order.
    Incomplete(Vec<Gap>),
}

/// The invoice in the caller's scope as UBL (type 380); not found outside it.
#[tracing::instrument(skip_all, fields(invoice_id = %id))]
pub(crate) fn invoice_ubl(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: InvoiceId,
) -> Result<Rendered, Error> {
    let doc = documents::invoice(conn, scope, id)?;
    let (header, parties) = invoice_parts(&doc);
    render(header, &parties, doc.invoice.total, &doc.lines)
}

/// The EN 16931 document of an invoice as it was issued, complete or not (a printed invoice
/// needs no buyer VAT identifier).
pub(crate) fn invoice_model(doc: &InvoiceDocument) -> Result<Document, Error> {
    let (header, parties) = invoice_parts(doc);
    build(header, &parties, doc.invoice.total, &doc.lines)
}

fn invoice_parts(doc: &InvoiceDocument) -> (Header, Parties<'_>) {
    let h = &doc.invoice;
    let agency = h.agency.as_ref();
    let header = Header {
        // A corrective invoice names the invoice it replaces (BT-25, BT-26). It stays a 380:
        // Peppol BIS Billing 3.0 does not take 384 in its billing profile (PEPPOL-EN16931-P0100).
        // A carer's hours an agency bills on the carer's behalf are self-billed: 389.
        kind: if agency.is_some_and(|a| a.purpose == AgencyPurpose::Hours) {
            DocumentKind::SelfBilledInvoice
        } else {
            DocumentKind::CommercialInvoice
        },
        number: h.number.clone(),
        issue_date: h.issue_date,
        due_date: Some(h.due_date),
        buyer_reference: Some(buyer_reference(
            h.buyer.as_ref(),
            &h.recipient,
            &context(h.episode.as_ref(), agency, &h.number),
        )),
        preceding: h
            .corrects
            .as_ref()
            .map(|(_, number, issue_date)| PrecedingInvoice {
                number: number.clone(),
                issue_date: Some(*issue_date),
            }),
        payment_terms: Some(h.payment_terms.clone()),
        note: agency.and_then(|a| a.note.clone()),
    };
    let parties = Parties {
        issuer: &h.issuer,
        recipient: &h.recipient,
        seller: h.seller.as_ref(),
        buyer: h.buyer.as_ref(),
        payee: agency.and_then(|a| a.payee.as_ref()),
        carer: agency
            .filter(|a| a.purpose == AgencyPurpose::Hours)
            .map(|a| a.carer_id),
        this: format!("/v1/invoices/{}", h.id),
    };
    (header, parties)
}

/// The credit note in the caller's scope as UBL (type 381, referring to the invoice it
/// cancels); not found outside it.
#[tracing::instrument(skip_all, fields(credit_note_id = %id))]
pub(crate) fn credit_note_ubl(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: CreditNoteId,
) -> Result<Rendered, Error> {
    let doc = documents::credit_note(conn, scope, id)?;
    let (header, parties) = credit_note_parts(&doc);
    render(header, &parties, doc.header.total, &doc.lines)
}

/// The EN 16931 document of a credit note as it was issued, complete or not.
pub(crate) fn credit_note_model(doc: &CreditNoteDocument) -> Result<Document, Error> {
    let (header, parties) = credit_note_parts(doc);
    build(header, &parties, doc.header.total, &doc.lines)
}

fn credit_note_parts(doc: &CreditNoteDocument) -> (Header, Parties<'_>) {
    let h = &doc.header;
    let agency = h.agency.as_ref();
    let self_billed = agency.is_some_and(|a| a.purpose == AgencyPurpose::Hours);
    let header = Header {
        // A credit note of a self-billed invoice is self-billed too: 261.
        kind: if self_billed {
            DocumentKind::SelfBilledCreditNote
        } else {
            DocumentKind::CreditNote
        },
        number: h.number.clone(),
        issue_date: h.issue_date,
        due_date: None,
        buyer_reference: Some(buyer_reference(
            h.buyer.as_ref(),
            &h.recipient,
            &context(h.episode.as_ref(), agency, &h.invoice_number),
        )),
        preceding: Some(PrecedingInvoice {
            number: h.invoice_number.clone(),
            issue_date: Some(h.invoice_issue_date),
        }),
        // BR-CO-25 wants terms for any positive amount due, credit notes included.
        payment_terms: Some(if h.partial {
            format!("Credits part of invoice {}.", h.invoice_number)
        } else {
            format!("Credits invoice {} in full.", h.invoice_number)
        }),
        note: Some(h.reason.clone()).filter(|r| !r.trim().is_empty()),
    };
    let parties = Parties {
        issuer: &h.issuer,
        recipient: &h.recipient,
        seller: h.seller.as_ref(),
        buyer: h.buyer.as_ref(),
        payee: agency.and_then(|a| a.payee.as_ref()),
        carer: agency.filter(|_| self_billed).map(|a| a.carer_id),
        this: format!("/v1/credit-notes/{}", h.id),
    };
    (header, parties)
}

/// Who issues, who is billed, as the invoice was issued, and the document's own resource.
struct Parties<'a> {
    issuer: &'a Issuer,
    recipient: &'a PartyRef,
    seller: Option<&'a StoredParty>,
    buyer: Option<&'a StoredParty>,
    /// Who receives the payment when not the seller: the agency, for hours it bills on a
    /// carer's behalf.
    payee: Option<&'a StoredParty>,
    /// The carer who is the seller, for hours billed on their behalf.
    carer: Option<CarerId>,
    this: String,
}

impl Parties<'_> {
    /// The resource that holds a missing term.
    fn href(&self, part: &Part) -> String {
        match part {
            Part::Seller => match self.carer {
                Some(carer) => format!("/v1/carers/{carer}"),
                None => format!("/v1/locations/{}", self.issuer.location_id),
            },
            Part::Payee | Part::Payment => {
                format!("/v1/locations/{}", self.issuer.location_id)
            }
            Part::Buyer => match self.recipient.kind {
                PartyKind::Payer => format!("/v1/payers/{}", self.recipient.id),
                PartyKind::Patient => format!("/v1/patients/{}", self.recipient.id),
                PartyKind::Carer => format!("/v1/carers/{}", self.recipient.id),
            },
            Part::Document | Part::Line(_) | Part::Allowance(_) | Part::Charge(_) => {
                self.this.clone()
            }
        }
    }

    /// The seller as the invoice was issued; for invoices issued before snapshots were kept,
    /// the location's name and tax id kept beside.
    fn seller(&self) -> Result<Party, Error> {
        match self.seller {
            Some(p) => party(p, "invoice seller"),
            None => Ok(Party {
                legal_name: Some(self.issuer.name.clone()),
                vat_id: vat_id(self.issuer.tax_id.as_deref()),
                ..Party::default()
            }),
        }
    }

    /// The buyer as the invoice was issued (nothing for invoices issued before snapshots).
    fn buyer(&self) -> Result<Party, Error> {
        match self.buyer {
            Some(p) => party(p, "invoice buyer"),
            None => Ok(Party::default()),
        }
    }

    /// The payee (BG-10), when someone other than the seller receives the payment.
    fn payee(&self) -> Result<Option<Party>, Error> {
        self.payee.map(|p| party(p, "invoice payee")).transpose()
    }

    /// The payment instructions: a credit transfer to the payee's account (else the seller's),
    /// when it gave one, quoting the invoice's ISO 11649 creditor reference (BT-83), which
    /// collections matches bank statement credits by.
    fn payment(&self, number: &str) -> Result<Option<PaymentInstructions>, Error> {
        let Some(seller) = self.payee.or(self.seller) else {
            return Ok(None);
        };
        let Some(iban) = seller.iban.as_deref() else {
            return Ok(None);
        };
        Ok(Some(PaymentInstructions {
            means_code: "30".to_owned(),
            remittance: Some(
                CreditorReference::for_invoice_number(number)
                    .as_str()
                    .to_owned(),
            ),
            iban: Some(Iban::parse(iban).map_err(|e| Error::stored("seller IBAN", iban, e))?),
            account_name: seller.legal_name.clone(),
            bic: seller
                .bic
                .as_deref()
                .map(|b| Bic::parse(b).map_err(|e| Error::stored("seller BIC", b, e)))
                .transpose()?,
        }))
    }
}

/// A VAT identifier as given; a tax id that is not one is no VAT identifier, and the document
/// reports BT-31 (BT-48) missing for the resource to fix.
fn vat_id(given: Option<&str>) -> Option<VatId> {
    match given.map(VatId::parse) {
        Some(Ok(vat)) => Some(vat),
        Some(Err(_)) | None => None,
    }
}

/// A party kept on the invoice as the document's party. Identifiers were checked when master
/// data was written: one that no longer reads is an error naming it.
fn party(p: &StoredParty, what: &'static str) -> Result<Party, Error> {
    let scheme_id = |s: &StoredSchemeId| -> Result<SchemeId, Error> {
        let scheme = Scheme::parse(&s.scheme).map_err(|e| Error::stored(what, &s.scheme, e))?;
        SchemeId::parse(scheme, &s.id).map_err(|e| Error::stored(what, &s.id, e))
    };
    Ok(Party {
        legal_name: p.legal_name.clone(),
        trading_name: None,
        vat_id: vat_id(p.vat_id.as_deref()),
        legal_registration: p.legal_registration.as_ref().map(scheme_id).transpose()?,
        endpoint: p.endpoint.as_ref().map(scheme_id).transpose()?,
        address: match &p.address {
            Some(a) => postal_address(a, what)?,
            None => None,
        },
        contact: p.contact_email.as_ref().map(|email| Contact {
            email: Some(email.clone()),
            ..Contact::default()
        }),
    })
}

/// A kept address as a postal address; one without a country is none (the document reports
/// the address missing).
fn postal_address(
    a: &StoredPostalAddress,
    what: &'static str,
) -> Result<Option<PostalAddress>, Error> {
    let Some(code) = a.country.as_deref() else {
        return Ok(None);
    };
    let country = Country::parse(code).map_err(|e| Error::stored(what, code, e))?;
    let mut lines = a.lines.iter().filter(|l| !l.trim().is_empty()).cloned();
    Ok(Some(PostalAddress {
        street: lines.next(),
        additional_street: lines.next(),
        city: a.city.clone(),
        postal_code: a.postal_code.clone(),
        subdivision: a.region.clone(),
        country,
    }))
}

/// The buyer reference (BT-10) Peppol needs: the one the buyer asked for, else the policy
/// number a payer knows the care by, else the episode number.
fn buyer_reference(buyer: Option<&StoredParty>, recipient: &PartyRef, context: &str) -> String {
    if let Some(asked) = buyer.and_then(|b| b.buyer_reference.as_deref())
        && !asked.trim().is_empty()
    {
        return asked.to_owned();
    }
    match (&recipient.kind, &recipient.policy_number) {
        (PartyKind::Payer, Some(policy)) if !policy.trim().is_empty() => policy.clone(),
        _ => context.to_owned(),
    }
}

/// What the buyer knows an invoice by when it asked for nothing: the episode of care, or the
/// placement of a care agency's invoice (else the invoice's number).
fn context(episode: Option<&EpisodeLink>, agency: Option<&AgencyFacts>, number: &str) -> String {
    match (episode, agency) {
        (Some(e), _) => e.number.clone(),
        (None, Some(a)) => a.placement_reference.clone(),
        (None, None) => number.to_owned(),
    }
}

/// The document of `header` over the stored lines, as UBL when it is complete.
fn render(
    header: Header,
    parties: &Parties<'_>,
    total: Money,
    lines: &[Line],
) -> Result<Rendered, Error> {
    let doc = build(header, parties, total, lines)?;
    let missing = doc.missing();
    if !missing.is_empty() {
        return Ok(Rendered::Incomplete(
            missing.iter().map(|m| gap(m, parties)).collect(),
        ));
    }
    let ubl = carebill_ubl::to_ubl(&doc).map_err(|e| Error::internal(&e))?;
    Ok(Rendered::Ubl(ubl))
}

/// The document of `header` over the stored lines, its amount due checked against the stored
/// total.
fn build(
    header: Header,
    parties: &Parties<'_>,
    total: Money,
    lines: &[Line],
) -> Result<Document, Error> {
    let currency = total.currency();
    let lines = lines
        .iter()
        .map(document_line)
        .collect::<Result<Vec<_>, Error>>()?;
    let number = header.number.clone();
    // A credit note pays nothing to the seller's account: like the domain's full credit note,
    // it carries no payment instructions ...
    let credit = header.kind.is_credit_note();
    let mut doc = Document::new(
        header,
        currency,
        parties.seller()?,
        parties.buyer()?,
        lines,
        Vec::new(),
    )
    .map_err(|e| Error::internal(&e))?;
    if !credit {
        doc.payment = parties.payment(&number)?;
        doc.payee = parties.payee()?;
    } else if doc
        .seller
        .address
        .as_ref()
        .is_some_and(|a| a.country.code() == "NL")
    {
        // Except where Peppol's country rules want the means of payment on a credit note too
        // (NL-R-007: a Dutch seller states them on any document with an amount due): the
        // account the invoice was paid to (its payee's, else the seller's).
        doc.payment = parties.payment(&number)?;
        doc.payee = parties.payee()?;
    }
    if doc.totals().due != total {
        return Err(Error::internal(&format!(
            "the document's amount due {} differs from the stored total {total}",
            doc.totals().due
        )));
    }
    Ok(doc)
}

fn gap(m: &MissingTerm, parties: &Parties<'_>) -> Gap {
    let name = match &m.at {
        Part::Line(id) => format!("{} (line {id})", m.name),
        _ => m.name.to_owned(),
    };
    Gap {
        term: m.term,
        name,
        href: parties.href(&m.at),
    }
}

/// A stored line as a document line: the part billed to this recipient, at the net price that
/// makes quantity × price equal to it to the cent (the catalog price when it does).
fn document_line(line: &Line) -> Result<DocumentLine, Error> {
    let what = || format!("line {}", line.position);
    let amount = line.amount.amount();
    // The catalog price when the recipient pays the whole line and quantity × price gives it to
    // the cent (a rounding rule of the invoicing rules may make it differ); else the price that
    // does.
    let whole_at_list_price = line.amount == line.line_amount
        && Money::round(
            line.unit_price.amount() * line.quantity,
            line.amount.currency(),
        ) == line.amount;
    let price = if whole_at_list_price {
        line.unit_price.amount()
    } else {
        amount
            .checked_div(line.quantity)
            .ok_or_else(|| Error::internal(&format!("{}: quantity {}", what(), line.quantity)))?
            .normalize()
    };
    let doc_line = DocumentLine::with_price(
        &line.position.to_string(),
        line.quantity,
        unit_code(&line.unit),
        price,
        line.amount.currency(),
        &line.description,
        vat(line)?,
    )
    .map_err(|e| Error::internal(&e))?;
    if doc_line.net_amount() != line.amount {
        return Err(Error::internal(&format!(
            "{}: {} × {price} is not the billed {}",
            what(),
            line.quantity,
            line.amount
        )));
    }
    Ok(doc_line.described(&format!(
        "{} ({}, per {})",
        line.code, line.service_group, line.unit
    )))
}

/// The stored tax of a line as its VAT category.
fn vat(line: &Line) -> Result<VatCategory, Error> {
    let reason = ExemptionReason {
        code: line.tax.exemption_reason_code.clone(),
        text: line.tax.exemption_reason.clone(),
    };
    Ok(match line.tax.category {
        TaxCategory::Standard => VatCategory::Standard(line.tax.rate),
        TaxCategory::ZeroRated => VatCategory::ZeroRated,
        TaxCategory::Exempt => VatCategory::Exempt(reason),
        TaxCategory::OutsideScope => VatCategory::OutsideScope(reason),
    })
}

/// The UN/ECE Recommendation 20 code of a catalog unit: measures by their code, anything
/// counted (visit, test, session, unit ...) as `C62` ("one").
fn unit_code(unit: &str) -> &'static str {
    match unit.trim().to_ascii_lowercase().as_str() {
        "hour" | "hours" | "h" | "hr" | "hur" => "HUR",
        "minute" | "minutes" | "min" => "MIN",
        "day" | "days" | "night" | "nights" | "bed-day" | "bed_day" => "DAY",
        "week" | "weeks" | "wee" => "WEE",
        "month" | "months" | "mon" => "MON",
        "ml" | "mlt" | "millilitre" | "milliliter" => "MLT",
        "l" | "ltr" | "litre" | "liter" => "LTR",
        "mg" | "mgm" | "milligram" => "MGM",
        "g" | "grm" | "gram" => "GRM",
        "kg" | "kgm" | "kilogram" => "KGM",
        "km" | "kmt" | "kilometre" | "kilometer" => "KMT",
        _ => "C62",
    }
}

#[cfg(test)]
mod tests {
    use super::unit_code;

    #[test]
    fn measures_keep_their_unit_and_counts_are_ones() {
        assert_eq!(unit_code("Hour"), "HUR");
        assert_eq!(unit_code("ml"), "MLT");
        assert_eq!(unit_code("visit"), "C62");
        assert_eq!(unit_code("session"), "C62");
    }
}
