//! Stored invoices: the row, its lookups (always through the caller's [`Scope`] when a caller
//! reads), the list with its filters, and the writes that number and cancel an invoice.

use carebill_domain::accounts::PayerKind;
use carebill_domain::events::{PartyBilling, PartyKind, PartyRef, SchemeIdRef};
use carebill_domain::ids::{
    CoverageId, CreditNoteId, EpisodeId, InvoiceId, LocationId, PatientId, SettlementId,
};
use carebill_domain::invoicing::{InvoiceStatus, PaymentTerms, money};
use carebill_domain::{Currency, Money, stored};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::schema::{invoice_corrections, invoices};

/// A stored invoice.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoices)]
pub(crate) struct InvoiceRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: InvoiceId,
    /// Number (provisional until the end of the issuing transaction).
    pub number: String,
    /// Issued or cancelled.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: InvoiceStatus,
    /// Issuing location.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// Its name.
    pub location_name: String,
    /// Its tax id.
    pub location_tax_id: Option<String>,
    /// Its time zone.
    pub location_time_zone: String,
    /// Payer or patient.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub recipient_kind: PartyKind,
    /// The payer's or the patient's id.
    pub recipient_id: String,
    /// The payer's code (payers only).
    pub payer_code: Option<String>,
    /// The payer's kind (payers only).
    pub payer_kind: Option<String>,
    /// The coverage (payers only).
    pub coverage_id: Option<String>,
    /// The policy number (payers only).
    pub policy_number: Option<String>,
    /// The patient (an agency invoice to an organisation has none; see [`InvoiceRow::patient`]).
    pub patient_id: Option<String>,
    /// The episode (an agency invoice has none; see [`InvoiceRow::episode`]).
    pub episode_id: Option<String>,
    /// The episode's number.
    pub episode_number: Option<String>,
    /// The settlement billed (an agency invoice has none; see [`InvoiceRow::settlement`]).
    pub settlement_id: Option<String>,
    /// The settlement's number.
    pub settlement_number: Option<String>,
    /// The settlement version billed.
    pub settlement_version: Option<i32>,
    /// Currency of every amount.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// Total, in minor units.
    pub total_minor: i64,
    /// Tax total, in minor units.
    pub tax_total_minor: i64,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date.
    pub due_date: NaiveDate,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Issued (numbered).
    pub issued_at: NaiveDateTime,
    /// Cancelled by a credit note.
    pub cancelled_at: Option<NaiveDateTime>,
    /// The credit note that cancelled it.
    pub credit_note_id: Option<String>,
    /// The seller as issued, JSON ([`StoredParty`]); NULL on invoices issued before
    /// snapshots were kept.
    pub seller: Option<String>,
    /// The buyer as issued, JSON ([`StoredParty`]); NULL as `seller`.
    pub buyer: Option<String>,
    /// The payment terms it was issued under, JSON (the domain's `PaymentTerms`, as events
    /// carry them); NULL on invoices issued before terms were kept: 30 days net.
    pub payment_terms: Option<String>,
}

/// An identifier within a scheme (EAS or ISO 6523 ICD), as kept on an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredSchemeId {
    /// Scheme code, e.g. `0088`.
    pub scheme: String,
    /// Identifier within the scheme.
    pub id: String,
}

/// A postal address, as kept on an invoice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredPostalAddress {
    /// Street lines.
    #[serde(default)]
    pub lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// ISO 3166-1 alpha-2 country.
    pub country: Option<String>,
}

/// A party of the invoice (seller or buyer) as it was when the invoice was issued: what an
/// EN 16931 document shows of it. Absent parts were not known at issue time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredParty {
    /// Legal name.
    #[serde(default)]
    pub legal_name: Option<String>,
    /// VAT identifier (or the tax id the location gave).
    #[serde(default)]
    pub vat_id: Option<String>,
    /// Legal registration identifier.
    #[serde(default)]
    pub legal_registration: Option<StoredSchemeId>,
    /// Electronic address.
    #[serde(default)]
    pub endpoint: Option<StoredSchemeId>,
    /// Postal address.
    #[serde(default)]
    pub address: Option<StoredPostalAddress>,
    /// Contact e-mail.
    #[serde(default)]
    pub contact_email: Option<String>,
    /// IBAN to pay to (seller).
    #[serde(default)]
    pub iban: Option<String>,
    /// BIC of that account (seller).
    #[serde(default)]
    pub bic: Option<String>,
    /// The buyer reference the buyer asked for (buyer).
    #[serde(default)]
    pub buyer_reference: Option<String>,
}

impl From<&PartyBilling> for StoredParty {
    fn from(b: &PartyBilling) -> Self {
        let scheme = |s: &SchemeIdRef| StoredSchemeId {
            scheme: s.scheme.clone(),
            id: s.id.clone(),
        };
        StoredParty {
            legal_name: Some(b.legal_name.clone()),
            vat_id: b.vat_id.clone(),
            legal_registration: b.legal_registration.as_ref().map(scheme),
            endpoint: b.endpoint.as_ref().map(scheme),
            address: b.address.as_ref().map(|a| StoredPostalAddress {
                lines: a.lines.clone(),
                city: a.city.clone(),
                postal_code: a.postal_code.clone(),
                region: a.region.clone(),
                country: a.country.clone(),
            }),
            contact_email: b.contact_email.clone(),
            iban: b.iban.clone(),
            bic: b.bic.clone(),
            buyer_reference: b.buyer_reference.clone(),
        }
    }
}

/// Reads a party snapshot column: `None` for invoices issued before snapshots were kept.
fn read_party(what: &'static str, text: Option<&str>) -> Result<Option<StoredParty>, Error> {
    text.map(|t| stored::json(what, t).map_err(Error::from))
        .transpose()
}

pub(crate) fn parse_optional<T: std::str::FromStr>(
    what: &'static str,
    text: Option<&str>,
) -> Result<Option<T>, Error>
where
    T::Err: std::fmt::Display,
{
    text.map(|t| stored::parse::<T>(what, t))
        .transpose()
        .map_err(Error::from)
}

impl InvoiceRow {
    /// Who the invoice is for.
    pub(crate) fn recipient(&self) -> Result<PartyRef, Error> {
        Ok(PartyRef {
            kind: self.recipient_kind,
            id: stored::parse("recipient id", &self.recipient_id).map_err(Error::from)?,
            payer_code: self.payer_code.clone(),
            payer_kind: self
                .payer_kind
                .as_deref()
                .map(|k| stored::parse::<PayerKind>("payer kind", k))
                .transpose()
                .map_err(Error::from)?,
            coverage_id: self
                .coverage_id
                .as_deref()
                .map(|c| stored::parse::<CoverageId>("coverage id", c))
                .transpose()
                .map_err(Error::from)?,
            policy_number: self.policy_number.clone(),
            billing: None,
        })
    }

    /// The patient it concerns, if any.
    pub(crate) fn patient(&self) -> Result<Option<PatientId>, Error> {
        parse_optional("patient id", self.patient_id.as_deref())
    }

    /// The episode it bills, if any.
    pub(crate) fn episode(&self) -> Result<Option<EpisodeId>, Error> {
        parse_optional("episode id", self.episode_id.as_deref())
    }

    /// The settlement it bills, if any.
    pub(crate) fn settlement(&self) -> Result<Option<SettlementId>, Error> {
        parse_optional("settlement id", self.settlement_id.as_deref())
    }

    /// The credit note that cancelled it.
    pub(crate) fn credit_note(&self) -> Result<Option<CreditNoteId>, Error> {
        self.credit_note_id
            .as_deref()
            .map(|c| stored::parse::<CreditNoteId>("credit note id", c))
            .transpose()
            .map_err(Error::from)
    }

    /// The seller as issued (`None` before snapshots were kept).
    pub(crate) fn seller(&self) -> Result<Option<StoredParty>, Error> {
        read_party("invoice seller", self.seller.as_deref())
    }

    /// The buyer as issued (`None` before snapshots were kept).
    pub(crate) fn buyer(&self) -> Result<Option<StoredParty>, Error> {
        read_party("invoice buyer", self.buyer.as_deref())
    }

    /// The payment terms it was issued under (`None` before terms were kept).
    pub(crate) fn payment_terms(&self) -> Result<Option<PaymentTerms>, Error> {
        self.payment_terms
            .as_deref()
            .map(|t| stored::json("invoice payment terms", t).map_err(Error::from))
            .transpose()
    }

    /// The total to pay.
    pub(crate) fn total(&self) -> Money {
        money(self.total_minor, self.currency)
    }
}

/// What the invoice list can be filtered by.
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
    pub since: Option<NaiveDateTime>,
}

/// Stores a new invoice.
pub(crate) fn insert(conn: &mut AnyConnection, row: InvoiceRow) -> Result<(), Error> {
    diesel::insert_into(invoices::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Locks an invoice until the transaction ends.
pub(crate) fn lock(conn: &mut AnyConnection, id: InvoiceId) -> Result<(), Error> {
    Ok(db::lock_row(conn, "invoices", &id.to_string())?)
}

/// An invoice, whoever may see it (for a document that refers to it).
pub(crate) fn find(conn: &mut AnyConnection, id: InvoiceId) -> Result<Option<InvoiceRow>, Error> {
    Ok(invoices::table
        .find(id.to_string())
        .select(InvoiceRow::as_select())
        .first(conn)
        .optional()?)
}

/// An invoice in the caller's scope.
pub(crate) fn find_in_scope(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: InvoiceId,
) -> Result<Option<InvoiceRow>, Error> {
    let q = invoices::table
        .filter(invoices::id.eq(id.to_string()))
        .select(InvoiceRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        invoices::location_code,
        invoices::payer_code,
        invoices::recipient_kind,
        invoices::patient_id
    );
    Ok(q.first(conn).optional()?)
}

/// The invoices with these ids (500 per query), in no particular order.
pub(crate) fn by_ids(conn: &mut AnyConnection, ids: Vec<String>) -> Result<Vec<InvoiceRow>, Error> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        out.extend(
            invoices::table
                .filter(invoices::id.eq_any(chunk))
                .select(InvoiceRow::as_select())
                .load::<InvoiceRow>(conn)?,
        );
    }
    Ok(out)
}

/// Up to `page.limit + 1` invoices in the caller's scope matching `f`, in id order.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &InvoiceFilter,
    page: &PageRequest,
) -> Result<Vec<InvoiceRow>, Error> {
    let q = invoices::table.select(InvoiceRow::as_select()).into_boxed();
    let mut q = carebill_platform::scoped!(
        q,
        scope,
        invoices::location_code,
        invoices::payer_code,
        invoices::recipient_kind,
        invoices::patient_id
    );
    if let Some(s) = f.status {
        q = q.filter(invoices::status.eq(s.as_str()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(invoices::location_code.eq(l.clone()));
    }
    if let Some(k) = f.recipient_kind {
        q = q.filter(invoices::recipient_kind.eq(k.as_str()));
    }
    if let Some(p) = &f.payer_code {
        q = q.filter(invoices::payer_code.eq(p.clone()));
    }
    if let Some(p) = f.patient_id {
        q = q.filter(invoices::patient_id.eq(p.to_string()));
    }
    if let Some(e) = f.episode_id {
        q = q.filter(invoices::episode_id.eq(e.to_string()));
    }
    if let Some(s) = f.settlement_id {
        q = q.filter(invoices::settlement_id.eq(s.to_string()));
    }
    if let Some(d) = f.issued_from {
        q = q.filter(invoices::issue_date.ge(d));
    }
    if let Some(d) = f.issued_to {
        q = q.filter(invoices::issue_date.le(d));
    }
    if let Some(n) = &f.number {
        q = q.filter(invoices::number.eq(n.clone()));
    }
    if let Some(at) = f.since {
        q = q.filter(
            invoices::issued_at
                .ge(at)
                .or(invoices::cancelled_at.ge(at).assume_not_null()),
        );
    }
    if let Some(after) = &page.after {
        q = q.filter(invoices::id.gt(after.clone()));
    }
    Ok(q.order(invoices::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// Gives an issued invoice its number and dates.
pub(crate) fn set_number(
    conn: &mut AnyConnection,
    id: InvoiceId,
    number: &str,
    issue_date: NaiveDate,
    due_date: NaiveDate,
    issued_at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(invoices::table.find(id.to_string()))
        .set((
            invoices::number.eq(number),
            invoices::issue_date.eq(issue_date),
            invoices::due_date.eq(due_date),
            invoices::issued_at.eq(issued_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks an invoice cancelled by a credit note.
pub(crate) fn cancel(
    conn: &mut AnyConnection,
    id: InvoiceId,
    credit_note_id: CreditNoteId,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(invoices::table.find(id.to_string()))
        .set((
            invoices::status.eq(InvoiceStatus::Cancelled.as_str()),
            invoices::cancelled_at.eq(Some(at)),
            invoices::credit_note_id.eq(Some(credit_note_id.to_string())),
        ))
        .execute(conn)?;
    Ok(())
}

/// The ids of the locations behind these codes, as the invoices here know them.
pub(crate) fn location_ids(
    conn: &mut AnyConnection,
    codes: &[String],
) -> Result<Vec<String>, Error> {
    Ok(invoices::table
        .filter(invoices::location_code.eq_any(codes))
        .select(invoices::location_id)
        .distinct()
        .load::<String>(conn)?)
}

/// A location as invoicing knows it from the invoices it issued there: its id and time zone
/// (`None` when it issued nothing there).
pub(crate) fn location_known(
    conn: &mut AnyConnection,
    code: &str,
) -> Result<Option<(String, String)>, Error> {
    Ok(invoices::table
        .filter(invoices::location_code.eq(code))
        .order(invoices::issued_at.desc())
        .select((invoices::location_id, invoices::location_time_zone))
        .first::<(String, String)>(conn)
        .optional()?)
}

/// What a corrective invoice replaces.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = invoice_corrections)]
pub(crate) struct CorrectionRow {
    /// The corrective invoice.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub invoice_id: InvoiceId,
    /// The invoice it replaces (cancelled by a credit note with reissue).
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub corrects_invoice_id: InvoiceId,
    /// That invoice's number.
    pub corrects_number: String,
    /// That invoice's issue date.
    pub corrects_issue_date: NaiveDate,
}

/// The invoice of this settlement to this recipient that a credit note with reissue cancelled
/// and no corrective invoice replaces yet, the latest first: (id, number, issue date).
pub(crate) fn awaiting_correction(
    conn: &mut AnyConnection,
    settlement_id: &str,
    recipient_kind: PartyKind,
    recipient_id: &str,
) -> Result<Option<(String, String, NaiveDate)>, Error> {
    use crate::schema::credit_notes;
    Ok(invoices::table
        .inner_join(credit_notes::table.on(credit_notes::invoice_id.eq(invoices::id)))
        .filter(invoices::settlement_id.eq(settlement_id))
        .filter(invoices::recipient_kind.eq(recipient_kind.as_str()))
        .filter(invoices::recipient_id.eq(recipient_id))
        .filter(invoices::status.eq(InvoiceStatus::Cancelled.as_str()))
        .filter(credit_notes::reissue.eq(true))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            invoice_corrections::table
                .filter(invoice_corrections::corrects_invoice_id.eq(invoices::id)),
        )))
        .order(credit_notes::issued_at.desc())
        .select((invoices::id, invoices::number, invoices::issue_date))
        .first::<(String, String, NaiveDate)>(conn)
        .optional()?)
}

/// Records what a corrective invoice replaces.
pub(crate) fn insert_correction(conn: &mut AnyConnection, row: CorrectionRow) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, invoice_corrections::table, vec![row]);
    Ok(())
}

/// What these invoices replace, by invoice id (invoices that replace nothing are absent; 500
/// per query).
pub(crate) fn corrections_of(
    conn: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<CorrectionRow>, Error> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            invoice_corrections::table
                .filter(invoice_corrections::invoice_id.eq_any(chunk))
                .select(CorrectionRow::as_select())
                .load::<CorrectionRow>(conn)?,
        );
    }
    Ok(out)
}

/// The corrections that replace these invoices (500 per query).
pub(crate) fn corrected_by(
    conn: &mut AnyConnection,
    corrected_ids: &[String],
) -> Result<Vec<CorrectionRow>, Error> {
    let mut out = Vec::new();
    for chunk in corrected_ids.chunks(500) {
        out.extend(
            invoice_corrections::table
                .filter(invoice_corrections::corrects_invoice_id.eq_any(chunk))
                .select(CorrectionRow::as_select())
                .load::<CorrectionRow>(conn)?,
        );
    }
    Ok(out)
}

/// When each of these settlements was last invoiced: (settlement id, latest issue time).
pub(crate) fn last_issued_of_settlements(
    conn: &mut AnyConnection,
    settlement_ids: &[String],
) -> Result<Vec<(String, NaiveDateTime)>, Error> {
    let mut out = Vec::new();
    for chunk in settlement_ids.chunks(500) {
        out.extend(
            invoices::table
                .filter(invoices::settlement_id.eq_any(chunk))
                .group_by(invoices::settlement_id)
                .select((
                    invoices::settlement_id.assume_not_null(),
                    diesel::dsl::max(invoices::issued_at).assume_not_null(),
                ))
                .load::<(String, NaiveDateTime)>(conn)?,
        );
    }
    Ok(out)
}

/// The issued invoices to payers of these settlements (500 per query).
pub(crate) fn payer_invoices_of_settlements(
    conn: &mut AnyConnection,
    settlement_ids: &[String],
) -> Result<Vec<InvoiceRow>, Error> {
    let mut out = Vec::new();
    for chunk in settlement_ids.chunks(500) {
        out.extend(
            invoices::table
                .filter(invoices::settlement_id.eq_any(chunk))
                .filter(invoices::recipient_kind.eq(PartyKind::Payer.as_str()))
                .filter(invoices::status.eq(InvoiceStatus::Issued.as_str()))
                .select(InvoiceRow::as_select())
                .load::<InvoiceRow>(conn)?,
        );
    }
    Ok(out)
}
