//! Reading invoices and credit notes in the caller's scope: a document with its lines, or a
//! page of headers, as read models made from the stored rows (every stored value read back and
//! checked). Anything outside the scope is not found.

use std::collections::HashMap;

use carebill_domain::agency_invoices::AgencyPurpose;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::{
    ApprovalId, CarerId, ConsumptionId, CreditNoteId, EpisodeId, InvoiceId, LocationId, PatientId,
    SettlementId, TimesheetId,
};
use carebill_domain::invoicing::{InvoiceStatus, LineTax, PaymentTerms, money};
use carebill_domain::settlement::{Coordination, Part};
use carebill_domain::{Currency, Money};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::store::agency::{self, AgencyInvoiceRow};
use crate::store::credit_notes::{self, CreditNoteFilter as StoredCreditNoteFilter, CreditNoteRow};
use crate::store::invoices::{
    self, CorrectionRow, InvoiceFilter as StoredInvoiceFilter, InvoiceRow, StoredParty,
};
use crate::store::lines::{self, LineRow};

/// The issuing location as printed on a document.
#[derive(Debug, Clone)]
pub(crate) struct Issuer {
    /// Location id.
    pub location_id: LocationId,
    /// Location code (the prefix of the document numbers).
    pub code: String,
    /// Name.
    pub name: String,
    /// Tax id of the issuing entity.
    pub tax_id: Option<String>,
}

/// The episode of care billed.
#[derive(Debug, Clone)]
pub(crate) struct EpisodeLink {
    /// Id.
    pub id: EpisodeId,
    /// The HIS's account or encounter number.
    pub number: String,
}

/// The settlement version billed.
#[derive(Debug, Clone)]
pub(crate) struct SettlementLink {
    /// Id.
    pub id: SettlementId,
    /// Number.
    pub number: String,
    /// The approved version invoiced.
    pub version: i32,
}

/// A line of an invoice or credit note, read back and checked.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// 1-based position on the document.
    pub position: i32,
    /// The consumption billed.
    pub consumption_id: ConsumptionId,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Quantity.
    pub quantity: Decimal,
    /// Unit of measure.
    pub unit: String,
    /// When the service was performed.
    pub performed_at: DateTime<Utc>,
    /// Price of one unit.
    pub unit_price: Money,
    /// Amount of the whole service (every party's share).
    pub line_amount: Money,
    /// The part billed to the document's recipient.
    pub amount: Money,
    /// Its VAT.
    pub tax: LineTax,
    /// What the amount is made of (empty when nothing explains it).
    pub parts: Vec<Part>,
    /// The coordination method of a payer after the first.
    pub method: Option<Coordination>,
    /// What an electronic claim needs of the line, when the approval said.
    pub claim: Option<carebill_domain::events::LineClaimFacts>,
}

/// An invoice's header, as read in a caller's scope.
#[derive(Debug, Clone)]
pub(crate) struct InvoiceHeader {
    /// Id.
    pub id: InvoiceId,
    /// Number.
    pub number: String,
    /// Issued or cancelled.
    pub status: InvoiceStatus,
    /// The issuing location.
    pub issuer: Issuer,
    /// Who is billed.
    pub recipient: PartyRef,
    /// The patient the care was for (an agency invoice to an organisation or a carer: none).
    pub patient_id: Option<PatientId>,
    /// The episode of care (an agency invoice: none).
    pub episode: Option<EpisodeLink>,
    /// The settlement version billed (an agency invoice: none).
    pub settlement: Option<SettlementLink>,
    /// What a care agency's invoice is besides an invoice (seed 004); none for a settlement's.
    pub agency: Option<AgencyFacts>,
    /// Currency of every amount.
    pub currency: Currency,
    /// Total to pay.
    pub total: Money,
    /// Tax total.
    pub tax_total: Money,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date.
    pub due_date: NaiveDate,
    /// The payment terms as the document states them (BT-20).
    pub payment_terms: String,
    /// What its credit notes credited so far (its total once cancelled).
    pub credited: Money,
    /// The invoice a corrective invoice replaces: id, number and issue date.
    pub corrects: Option<(InvoiceId, String, NaiveDate)>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Issued (numbered).
    pub issued_at: DateTime<Utc>,
    /// When a credit note cancelled it.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The credit note that cancelled it.
    pub credit_note_id: Option<CreditNoteId>,
    /// The seller as issued (none on invoices issued before snapshots were kept).
    pub seller: Option<StoredParty>,
    /// The buyer as issued (none as `seller`).
    pub buyer: Option<StoredParty>,
}

/// What a care agency's invoice is besides an invoice.
#[derive(Debug, Clone)]
pub(crate) struct AgencyFacts {
    /// What it bills.
    pub purpose: AgencyPurpose,
    /// The approval of hours it comes from (none for a commission invoice, which bills a
    /// period).
    pub approval_id: Option<ApprovalId>,
    /// The timesheet approved (none for a commission invoice).
    pub timesheet_id: Option<TimesheetId>,
    /// The carer.
    pub carer_id: CarerId,
    /// The placement's reference (a commission invoice: each placement it bills).
    pub placement_reference: String,
    /// The free text it carries (BT-22).
    pub note: Option<String>,
    /// Who receives the payment when not the seller (BG-10).
    pub payee: Option<StoredParty>,
}

impl AgencyFacts {
    fn of(row: &AgencyInvoiceRow) -> Result<AgencyFacts, Error> {
        Ok(AgencyFacts {
            purpose: row.purpose,
            approval_id: row.approval()?,
            timesheet_id: row.timesheet()?,
            carer_id: row.carer_id,
            placement_reference: row.placement_reference.clone(),
            note: row.note.clone(),
            payee: row.payee()?,
        })
    }
}

/// An invoice with its lines.
#[derive(Debug, Clone)]
pub(crate) struct InvoiceDocument {
    /// The header.
    pub invoice: InvoiceHeader,
    /// The lines, in order.
    pub lines: Vec<Line>,
}

/// A credit note's header: its own fields and, from the invoice it cancels, the issuer,
/// recipient, episode and settlement.
#[derive(Debug, Clone)]
pub(crate) struct CreditNoteHeader {
    /// Id.
    pub id: CreditNoteId,
    /// Number.
    pub number: String,
    /// The invoice it cancels.
    pub invoice_id: InvoiceId,
    /// That invoice's number.
    pub invoice_number: String,
    /// That invoice's issue date.
    pub invoice_issue_date: NaiveDate,
    /// The issuing location (the invoice's).
    pub issuer: Issuer,
    /// Who the invoice was for.
    pub recipient: PartyRef,
    /// The patient the care was for (none as on its invoice).
    pub patient_id: Option<PatientId>,
    /// The episode of care (none for a care agency's invoice).
    pub episode: Option<EpisodeLink>,
    /// The settlement version the invoice billed (none for a care agency's invoice).
    pub settlement: Option<SettlementLink>,
    /// What the credited invoice is, when a care agency's.
    pub agency: Option<AgencyFacts>,
    /// Currency of every amount.
    pub currency: Currency,
    /// Amount credited.
    pub total: Money,
    /// Tax total.
    pub tax_total: Money,
    /// Why.
    pub reason: String,
    /// Whether the settlement is to be invoiced again.
    pub reissue: bool,
    /// A partial credit note reduces its invoice; a full one cancels it.
    pub partial: bool,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Who issued it.
    pub issued_by: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Issued (numbered).
    pub issued_at: DateTime<Utc>,
    /// The seller as the invoice was issued.
    pub seller: Option<StoredParty>,
    /// The buyer as the invoice was issued.
    pub buyer: Option<StoredParty>,
}

/// A credit note with its invoice and its lines.
#[derive(Debug, Clone)]
pub(crate) struct CreditNoteDocument {
    /// The credit note and what it shows of its invoice.
    pub header: CreditNoteHeader,
    /// The lines credited, in order.
    pub lines: Vec<Line>,
}

/// What the invoice list can be filtered by: valid values (a plausible issue-date range).
#[derive(Debug, Clone, Default)]
pub(crate) struct InvoiceFilter {
    /// Status.
    pub status: Option<InvoiceStatus>,
    /// Issuing location code.
    pub location_code: Option<String>,
    /// Payer or patient.
    pub recipient_kind: Option<PartyKind>,
    /// Payer code.
    pub payer_code: Option<String>,
    /// Patient.
    pub patient_id: Option<PatientId>,
    /// Episode.
    pub episode_id: Option<EpisodeId>,
    /// Settlement.
    pub settlement_id: Option<SettlementId>,
    /// Issued on or after.
    pub issued_from: Option<NaiveDate>,
    /// Issued on or before.
    pub issued_to: Option<NaiveDate>,
    /// Number.
    pub number: Option<String>,
    /// Issued or cancelled at or after.
    pub since: Option<DateTime<Utc>>,
}

/// What the credit-note list can be filtered by: valid values (a plausible issue-date range).
#[derive(Debug, Clone, Default)]
pub(crate) struct CreditNoteFilter {
    /// Issuing location code.
    pub location_code: Option<String>,
    /// Payer or patient.
    pub recipient_kind: Option<PartyKind>,
    /// Payer code.
    pub payer_code: Option<String>,
    /// Patient.
    pub patient_id: Option<PatientId>,
    /// The invoice cancelled.
    pub invoice_id: Option<InvoiceId>,
    /// Settlement.
    pub settlement_id: Option<SettlementId>,
    /// Issued on or after.
    pub issued_from: Option<NaiveDate>,
    /// Issued on or before.
    pub issued_to: Option<NaiveDate>,
    /// Number.
    pub number: Option<String>,
    /// Issued at or after.
    pub since: Option<DateTime<Utc>>,
}

impl InvoiceFilter {
    /// The filter as the store takes it.
    fn stored(&self) -> StoredInvoiceFilter {
        StoredInvoiceFilter {
            status: self.status,
            location_code: self.location_code.clone(),
            recipient_kind: self.recipient_kind,
            payer_code: self.payer_code.clone(),
            patient_id: self.patient_id,
            episode_id: self.episode_id,
            settlement_id: self.settlement_id,
            issued_from: self.issued_from,
            issued_to: self.issued_to,
            number: self.number.clone(),
            since: self.since.map(|s| s.naive_utc()),
        }
    }
}

impl CreditNoteFilter {
    /// The filter as the store takes it.
    fn stored(&self) -> StoredCreditNoteFilter {
        StoredCreditNoteFilter {
            location_code: self.location_code.clone(),
            recipient_kind: self.recipient_kind,
            payer_code: self.payer_code.clone(),
            patient_id: self.patient_id,
            invoice_id: self.invoice_id,
            settlement_id: self.settlement_id,
            issued_from: self.issued_from,
            issued_to: self.issued_to,
            number: self.number.clone(),
            since: self.since.map(|s| s.naive_utc()),
        }
    }
}

impl Issuer {
    /// The invoice's issuer.
    fn of(row: &InvoiceRow) -> Issuer {
        Issuer {
            location_id: row.location_id,
            code: row.location_code.clone(),
            name: row.location_name.clone(),
            tax_id: row.location_tax_id.clone(),
        }
    }
}

impl EpisodeLink {
    /// The episode the invoice bills, if any.
    fn of(row: &InvoiceRow) -> Result<Option<EpisodeLink>, Error> {
        Ok(match (row.episode()?, &row.episode_number) {
            (Some(id), Some(number)) => Some(EpisodeLink {
                id,
                number: number.clone(),
            }),
            _ => None,
        })
    }
}

impl SettlementLink {
    /// The settlement version the invoice bills, if any.
    fn of(row: &InvoiceRow) -> Result<Option<SettlementLink>, Error> {
        Ok(
            match (
                row.settlement()?,
                &row.settlement_number,
                row.settlement_version,
            ) {
                (Some(id), Some(number), Some(version)) => Some(SettlementLink {
                    id,
                    number: number.clone(),
                    version,
                }),
                _ => None,
            },
        )
    }
}

impl Line {
    /// A stored line read back: its quantity must read as a decimal (an error naming it
    /// otherwise), as every other stored value.
    fn of(row: &LineRow) -> Result<Line, Error> {
        let d = row.domain()?;
        Ok(Line {
            position: row.position,
            consumption_id: d.consumption_id,
            code: d.code,
            description: d.description,
            service_group: d.service_group,
            quantity: d.quantity,
            unit: d.unit,
            performed_at: d.performed_at,
            unit_price: d.unit_price,
            line_amount: d.line_amount,
            amount: d.amount,
            tax: d.tax,
            parts: d.parts,
            method: d.method,
            claim: d.claim,
        })
    }

    /// The lines of a document, in order.
    fn of_document(conn: &mut AnyConnection, document_id: &str) -> Result<Vec<Line>, Error> {
        lines::of_document(conn, document_id)?
            .iter()
            .map(Line::of)
            .collect()
    }
}

impl InvoiceHeader {
    /// A stored invoice's header.
    fn of(
        row: &InvoiceRow,
        credited_minor: i64,
        corrects: Option<&CorrectionRow>,
        agency: Option<&AgencyInvoiceRow>,
    ) -> Result<InvoiceHeader, Error> {
        let c = row.currency;
        Ok(InvoiceHeader {
            id: row.id,
            number: row.number.clone(),
            status: row.status,
            issuer: Issuer::of(row),
            recipient: row.recipient()?,
            patient_id: row.patient()?,
            episode: EpisodeLink::of(row)?,
            settlement: SettlementLink::of(row)?,
            agency: agency.map(AgencyFacts::of).transpose()?,
            currency: c,
            total: money(row.total_minor, c),
            tax_total: money(row.tax_total_minor, c),
            issue_date: row.issue_date,
            due_date: row.due_date,
            // Invoices issued before terms were kept were all 30 days net.
            payment_terms: match row.payment_terms()? {
                Some(terms) => terms.describe(row.due_date),
                None => PaymentTerms::default().describe(row.due_date),
            },
            credited: money(credited_minor, c),
            corrects: corrects.map(|k| {
                (
                    k.corrects_invoice_id,
                    k.corrects_number.clone(),
                    k.corrects_issue_date,
                )
            }),
            created_at: row.created_at.and_utc(),
            issued_at: row.issued_at.and_utc(),
            cancelled_at: row.cancelled_at.map(|t| t.and_utc()),
            credit_note_id: row.credit_note()?,
            seller: row.seller()?,
            buyer: row.buyer()?,
        })
    }
}

impl CreditNoteHeader {
    /// A stored credit note's header, with what it shows of its invoice.
    fn of(
        row: &CreditNoteRow,
        invoice: &InvoiceRow,
        agency: Option<&AgencyInvoiceRow>,
    ) -> Result<CreditNoteHeader, Error> {
        let c = row.currency;
        Ok(CreditNoteHeader {
            id: row.id,
            number: row.number.clone(),
            invoice_id: row.invoice_id,
            invoice_number: row.invoice_number.clone(),
            invoice_issue_date: invoice.issue_date,
            issuer: Issuer::of(invoice),
            recipient: invoice.recipient()?,
            patient_id: invoice.patient()?,
            episode: EpisodeLink::of(invoice)?,
            settlement: SettlementLink::of(invoice)?,
            agency: agency.map(AgencyFacts::of).transpose()?,
            currency: c,
            total: money(row.total_minor, c),
            tax_total: money(row.tax_total_minor, c),
            reason: row.reason.clone(),
            reissue: row.reissue,
            partial: row.partial,
            issue_date: row.issue_date,
            issued_by: row.issued_by.clone(),
            created_at: row.created_at.and_utc(),
            issued_at: row.issued_at.and_utc(),
            seller: invoice.seller()?,
            buyer: invoice.buyer()?,
        })
    }
}

/// An invoice in the caller's scope, with its lines; not found otherwise.
#[tracing::instrument(skip_all, fields(invoice_id = %id))]
pub(crate) fn invoice(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: InvoiceId,
) -> Result<InvoiceDocument, Error> {
    let invoice =
        invoices::find_in_scope(conn, scope, id)?.ok_or_else(|| Error::not_found("invoice"))?;
    let lines = Line::of_document(conn, &invoice.id.to_string())?;
    let ids = [invoice.id.to_string()];
    let credited = credited(conn, &ids)?;
    let corrections = invoices::corrections_of(conn, &ids)?;
    let agency = agency::of(conn, &ids)?;
    Ok(InvoiceDocument {
        invoice: InvoiceHeader::of(
            &invoice,
            credited_of(&credited, invoice.id),
            corrections.first(),
            agency.first(),
        )?,
        lines,
    })
}

/// A page of the invoices in the caller's scope matching `filter`, oldest first.
#[tracing::instrument(skip_all)]
pub(crate) fn invoices(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &InvoiceFilter,
    page: &PageRequest,
) -> Result<Page<InvoiceHeader>, Error> {
    let rows = invoices::list(conn, scope, &filter.stored(), page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    let ids: Vec<String> = page.items.iter().map(|r| r.id.to_string()).collect();
    let credited = credited(conn, &ids)?;
    let corrections = invoices::corrections_of(conn, &ids)?;
    let agency = agency::of(conn, &ids)?;
    page.try_map(|r| {
        let corrects = corrections.iter().find(|k| k.invoice_id == r.id);
        let facts = agency.iter().find(|a| a.invoice_id == r.id);
        InvoiceHeader::of(&r, credited_of(&credited, r.id), corrects, facts)
    })
}

/// What the credit notes of these invoices credited, per invoice id, in minor units.
fn credited(conn: &mut AnyConnection, ids: &[String]) -> Result<HashMap<String, i64>, Error> {
    let mut sums: HashMap<String, i64> = HashMap::new();
    for (invoice, minor) in credit_notes::credited_of_invoices(conn, ids)? {
        *sums.entry(invoice).or_insert(0) += minor;
    }
    Ok(sums)
}

/// What was credited of invoice `id` (nothing when it has no credit note).
fn credited_of(sums: &HashMap<String, i64>, id: InvoiceId) -> i64 {
    sums.get(&id.to_string()).copied().unwrap_or(0) // not stored: an invoice without credit notes
}

/// A credit note in the caller's scope, with its invoice and lines; not found otherwise.
#[tracing::instrument(skip_all, fields(credit_note_id = %id))]
pub(crate) fn credit_note(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: CreditNoteId,
) -> Result<CreditNoteDocument, Error> {
    let credit_note = credit_notes::find_in_scope(conn, scope, id)?
        .ok_or_else(|| Error::not_found("credit note"))?;
    let invoice = invoices::find(conn, credit_note.invoice_id)?
        .ok_or_else(|| Error::internal(&"credit note without its invoice"))?;
    let lines = Line::of_document(conn, &credit_note.id.to_string())?;
    let agency = agency::of(conn, &[invoice.id.to_string()])?;
    Ok(CreditNoteDocument {
        header: CreditNoteHeader::of(&credit_note, &invoice, agency.first())?,
        lines,
    })
}

/// A page of the credit notes in the caller's scope matching `filter`, oldest first, each with
/// the invoice it cancels.
#[tracing::instrument(skip_all)]
pub(crate) fn credit_notes(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &CreditNoteFilter,
    page: &PageRequest,
) -> Result<Page<CreditNoteHeader>, Error> {
    let rows = credit_notes::list(conn, scope, &filter.stored(), page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    let ids: Vec<String> = page
        .items
        .iter()
        .map(|r| r.invoice_id.to_string())
        .collect();
    let agency = agency::of(conn, &ids)?;
    let invoices = invoices::by_ids(conn, ids)?;
    let items = page
        .items
        .into_iter()
        .map(|credit_note| {
            let invoice = invoices
                .iter()
                .find(|i| i.id == credit_note.invoice_id)
                .ok_or_else(|| Error::internal(&"credit note without its invoice"))?;
            let facts = agency.iter().find(|a| a.invoice_id == invoice.id);
            CreditNoteHeader::of(&credit_note, invoice, facts)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
}
