//! Stored credit notes: the row, its lookup and list through the caller's [`Scope`], and the
//! insert.

use carebill_domain::Currency;
use carebill_domain::events::PartyKind;
use carebill_domain::ids::{CreditNoteId, InvoiceId, LocationId, PatientId, SettlementId};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::credit_notes;

/// A stored credit note.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = credit_notes)]
pub(crate) struct CreditNoteRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: CreditNoteId,
    /// Number.
    pub number: String,
    /// The invoice it credits.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub invoice_id: InvoiceId,
    /// That invoice's number.
    pub invoice_number: String,
    /// Issuing location.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// Payer or patient (the invoice's recipient).
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub recipient_kind: PartyKind,
    /// The payer's code (payers only).
    pub payer_code: Option<String>,
    /// The patient (none when the credited agency invoice concerned none).
    pub patient_id: Option<String>,
    /// The settlement the invoice billed (none for a care agency's invoice).
    pub settlement_id: Option<String>,
    /// Currency of every amount.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// Amount credited, in minor units.
    pub total_minor: i64,
    /// Tax total, in minor units.
    pub tax_total_minor: i64,
    /// Why.
    pub reason: String,
    /// Whether the settlement is to be invoiced again.
    pub reissue: bool,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Who issued it (token subject).
    pub issued_by: String,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Issued (numbered).
    pub issued_at: NaiveDateTime,
    /// A partial credit note reduces its invoice; a full one cancels it.
    pub partial: bool,
}

/// What the credit-note list can be filtered by.
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
    pub since: Option<NaiveDateTime>,
}

/// Stores a new credit note.
pub(crate) fn insert(conn: &mut AnyConnection, row: CreditNoteRow) -> Result<(), Error> {
    diesel::insert_into(credit_notes::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A credit note in the caller's scope.
pub(crate) fn find_in_scope(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: CreditNoteId,
) -> Result<Option<CreditNoteRow>, Error> {
    let q = credit_notes::table
        .filter(credit_notes::id.eq(id.to_string()))
        .select(CreditNoteRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        credit_notes::location_code,
        credit_notes::payer_code,
        credit_notes::recipient_kind,
        credit_notes::patient_id
    );
    Ok(q.first(conn).optional()?)
}

/// Up to `page.limit + 1` credit notes in the caller's scope matching `f`, in id order.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &CreditNoteFilter,
    page: &PageRequest,
) -> Result<Vec<CreditNoteRow>, Error> {
    let q = credit_notes::table
        .select(CreditNoteRow::as_select())
        .into_boxed();
    let mut q = carebill_platform::scoped!(
        q,
        scope,
        credit_notes::location_code,
        credit_notes::payer_code,
        credit_notes::recipient_kind,
        credit_notes::patient_id
    );
    if let Some(l) = &f.location_code {
        q = q.filter(credit_notes::location_code.eq(l.clone()));
    }
    if let Some(k) = f.recipient_kind {
        q = q.filter(credit_notes::recipient_kind.eq(k.as_str()));
    }
    if let Some(p) = &f.payer_code {
        q = q.filter(credit_notes::payer_code.eq(p.clone()));
    }
    if let Some(p) = f.patient_id {
        q = q.filter(credit_notes::patient_id.eq(p.to_string()));
    }
    if let Some(i) = f.invoice_id {
        q = q.filter(credit_notes::invoice_id.eq(i.to_string()));
    }
    if let Some(s) = f.settlement_id {
        q = q.filter(credit_notes::settlement_id.eq(s.to_string()));
    }
    if let Some(d) = f.issued_from {
        q = q.filter(credit_notes::issue_date.ge(d));
    }
    if let Some(d) = f.issued_to {
        q = q.filter(credit_notes::issue_date.le(d));
    }
    if let Some(n) = &f.number {
        q = q.filter(credit_notes::number.eq(n.clone()));
    }
    if let Some(at) = f.since {
        q = q.filter(credit_notes::issued_at.ge(at));
    }
    if let Some(after) = &page.after {
        q = q.filter(credit_notes::id.gt(after.clone()));
    }
    Ok(q.order(credit_notes::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// The credit notes of an invoice, oldest first.
pub(crate) fn of_invoice(
    conn: &mut AnyConnection,
    invoice_id: InvoiceId,
) -> Result<Vec<CreditNoteRow>, Error> {
    Ok(credit_notes::table
        .filter(credit_notes::invoice_id.eq(invoice_id.to_string()))
        .order(credit_notes::issued_at.asc())
        .select(CreditNoteRow::as_select())
        .load(conn)?)
}

/// The credit notes of these invoices as (invoice id, amount credited in minor units), one
/// pair per credit note.
pub(crate) fn credited_of_invoices(
    conn: &mut AnyConnection,
    invoice_ids: &[String],
) -> Result<Vec<(String, i64)>, Error> {
    Ok(credit_notes::table
        .filter(credit_notes::invoice_id.eq_any(invoice_ids))
        .select((credit_notes::invoice_id, credit_notes::total_minor))
        .load(conn)?)
}

/// The credit notes of these invoices, oldest first (500 invoices per query).
pub(crate) fn of_invoices(
    conn: &mut AnyConnection,
    invoice_ids: &[String],
) -> Result<Vec<CreditNoteRow>, Error> {
    let mut out = Vec::new();
    for chunk in invoice_ids.chunks(500) {
        out.extend(
            credit_notes::table
                .filter(credit_notes::invoice_id.eq_any(chunk))
                .order(credit_notes::issued_at.asc())
                .select(CreditNoteRow::as_select())
                .load::<CreditNoteRow>(conn)?,
        );
    }
    Ok(out)
}
