//! Stored remittances: the claims invoicing sent (how an 835 finds its invoices), the imported
//! 835 payments and each of their claim payments.

use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::KEYS_PER_QUERY;
use super::receivables::ReceivableRow;
use crate::schema::{claim_references, receivables, remittance_claims, remittances};

/// A claim invoicing sent.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = claim_references)]
pub(crate) struct ReferenceRow {
    /// The e-billing claim.
    pub claim_id: String,
    /// CLM01.
    pub patient_control_number: String,
    /// The invoice it bills.
    pub invoice_id: String,
    /// Its e-billing.
    pub e_billing_id: String,
    /// The payer's code.
    pub payer_code: String,
    /// The payer id the claim was sent to.
    pub payer_id: String,
    /// `1`, `7` or `8`.
    pub frequency: String,
    /// When it was sent.
    pub sent_at: NaiveDateTime,
}

/// A stored remittance (one 835 transaction).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = remittances, treat_none_as_default_value = false)]
pub(crate) struct RemittanceRow {
    /// Id (a UUIDv7).
    pub id: String,
    /// REF*2U, else TRN03.
    pub payer_id: String,
    /// TRN02.
    pub trace_number: String,
    /// The payer's code, from the invoices it paid.
    pub payer_code: Option<String>,
    /// N1*PR02.
    pub payer_name: String,
    /// BPR01.
    pub handling: String,
    /// BPR04.
    pub method: String,
    /// BPR16.
    pub paid_on: NaiveDate,
    /// The currency of its amounts.
    pub currency: String,
    /// BPR02, minor units.
    pub total_minor: i64,
    /// Claim payments.
    pub claim_count: i64,
    /// Posted to their receivables.
    pub posted_count: i64,
    /// Matched, left for a person to review.
    pub review_count: i64,
    /// Denied.
    pub denied_count: i64,
    /// Matched to nothing.
    pub unmatched_count: i64,
    /// What the posted claims paid.
    pub posted_minor: i64,
    /// What the unmatched claims paid.
    pub unmatched_minor: i64,
    /// The PLB adjustments, as JSON.
    pub provider_adjustments: String,
    /// ISA13 of the file.
    pub interchange_control_number: String,
    /// ST02.
    pub transaction_control_number: String,
    /// SHA-256 of the file.
    pub digest: String,
    /// Who imported it.
    pub imported_by: String,
    /// When.
    pub imported_at: NaiveDateTime,
    /// Last change (a claim matched by hand).
    pub updated_at: NaiveDateTime,
}

/// A stored claim payment.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = remittance_claims, treat_none_as_default_value = false)]
pub(crate) struct ClaimRow {
    /// Id (a UUIDv7).
    pub id: String,
    /// Its remittance.
    pub remittance_id: String,
    /// The CLP's position in the file.
    pub position: i64,
    /// CLP01.
    pub patient_control_number: String,
    /// CLP07.
    pub payer_claim_number: String,
    /// CLP02.
    pub status_code: String,
    /// `posted`, `review`, `denied`, `unmatched`.
    pub status: String,
    /// The currency of its amounts.
    pub currency: String,
    /// CLP03.
    pub charge_minor: i64,
    /// CLP04.
    pub paid_minor: i64,
    /// CLP05.
    pub patient_responsibility_minor: i64,
    /// The `PR` part posted off the payer's receivable.
    pub patient_share_minor: i64,
    /// Paid beyond what the receivable owed.
    pub unallocated_minor: i64,
    /// What the receivable still owed after posting.
    pub left_owing_minor: i64,
    /// The invoice matched.
    pub invoice_id: Option<String>,
    /// Its number.
    pub invoice_number: Option<String>,
    /// Its receivable.
    pub receivable_id: Option<String>,
    /// The issuing location's code.
    pub location_code: Option<String>,
    /// The e-billing claim it answers.
    pub claim_id: Option<String>,
    /// The payment recorded.
    pub payment_id: Option<String>,
    /// Why it stands as it does, in words.
    pub note: String,
    /// Adjustments, lines, remarks, as JSON.
    pub detail: String,
    /// Who posted it.
    pub posted_by: Option<String>,
    /// When.
    pub posted_at: Option<NaiveDateTime>,
    /// When it was imported.
    pub created_at: NaiveDateTime,
}

/// Keeps the claims invoicing sent; a claim already kept is left as it is.
pub(crate) fn insert_references(
    conn: &mut AnyConnection,
    rows: Vec<ReferenceRow>,
) -> Result<(), Error> {
    match conn {
        AnyConnection::Postgresql(pg) => {
            for chunk in rows.chunks(super::ROWS_PER_INSERT) {
                diesel::insert_into(claim_references::table)
                    .values(chunk.to_vec())
                    .on_conflict_do_nothing()
                    .execute(pg)?;
            }
        }
        AnyConnection::Sqlite(lite) => {
            for row in rows {
                diesel::insert_into(claim_references::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(lite)?;
            }
        }
    }
    Ok(())
}

/// The claims sent with these patient control numbers.
pub(crate) fn references(
    conn: &mut AnyConnection,
    numbers: &[String],
) -> Result<Vec<ReferenceRow>, Error> {
    let mut out = Vec::new();
    for chunk in numbers.chunks(KEYS_PER_QUERY) {
        out.extend(
            claim_references::table
                .filter(claim_references::patient_control_number.eq_any(chunk))
                .select(ReferenceRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// The payers whose claims were sent to this payer id.
pub(crate) fn payer_codes_of(
    conn: &mut AnyConnection,
    payer_id: &str,
) -> Result<Vec<String>, Error> {
    Ok(claim_references::table
        .filter(claim_references::payer_id.eq(payer_id))
        .select(claim_references::payer_code)
        .distinct()
        .load(conn)?)
}

/// Whether any claim was sent to this payer id.
pub(crate) fn payer_id_known(conn: &mut AnyConnection, payer_id: &str) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(
        claim_references::table.filter(claim_references::payer_id.eq(payer_id)),
    ))
    .get_result(conn)?)
}

/// The payers' receivables of these invoice numbers.
pub(crate) fn payer_receivables_by_number(
    conn: &mut AnyConnection,
    numbers: &[String],
) -> Result<Vec<ReceivableRow>, Error> {
    let mut out = Vec::new();
    for chunk in numbers.chunks(KEYS_PER_QUERY) {
        out.extend(
            receivables::table
                .filter(receivables::invoice_number.eq_any(chunk))
                .filter(receivables::party_kind.eq("payer"))
                .select(ReceivableRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// The remittance of this payer id and trace number.
pub(crate) fn find(
    conn: &mut AnyConnection,
    payer_id: &str,
    trace_number: &str,
) -> Result<Option<RemittanceRow>, Error> {
    Ok(remittances::table
        .filter(remittances::payer_id.eq(payer_id))
        .filter(remittances::trace_number.eq(trace_number))
        .select(RemittanceRow::as_select())
        .first(conn)
        .optional()?)
}

/// A remittance.
pub(crate) fn remittance(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<RemittanceRow>, Error> {
    Ok(remittances::table
        .find(id)
        .select(RemittanceRow::as_select())
        .first(conn)
        .optional()?)
}

/// Up to `page.limit + 1` remittances in id order.
pub(crate) fn remittances(
    conn: &mut AnyConnection,
    page: &PageRequest,
) -> Result<Vec<RemittanceRow>, Error> {
    let mut q = remittances::table
        .select(RemittanceRow::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(remittances::id.gt(after.clone()));
    }
    Ok(q.order(remittances::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// Stores a remittance and its claim payments.
pub(crate) fn insert(
    conn: &mut AnyConnection,
    row: RemittanceRow,
    claims: Vec<ClaimRow>,
) -> Result<(), Error> {
    diesel::insert_into(remittances::table)
        .values(row)
        .execute(conn)?;
    insert_rows!(conn, remittance_claims::table, claims);
    Ok(())
}

/// Up to `page.limit + 1` claim payments, in id order: of one remittance, and of one status.
pub(crate) fn claims(
    conn: &mut AnyConnection,
    remittance_id: Option<&str>,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<ClaimRow>, Error> {
    let mut q = remittance_claims::table
        .select(ClaimRow::as_select())
        .into_boxed();
    if let Some(r) = remittance_id {
        q = q.filter(remittance_claims::remittance_id.eq(r.to_owned()));
    }
    if let Some(s) = status {
        q = q.filter(remittance_claims::status.eq(s.to_owned()));
    }
    if let Some(after) = &page.after {
        q = q.filter(remittance_claims::id.gt(after.clone()));
    }
    Ok(q.order(remittance_claims::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// A claim payment.
pub(crate) fn claim(conn: &mut AnyConnection, id: &str) -> Result<Option<ClaimRow>, Error> {
    Ok(remittance_claims::table
        .find(id)
        .select(ClaimRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores what became of a claim payment.
pub(crate) fn update_claim(conn: &mut AnyConnection, row: &ClaimRow) -> Result<(), Error> {
    diesel::update(remittance_claims::table.find(&row.id))
        .set(row.clone())
        .execute(conn)?;
    Ok(())
}

/// Stores a remittance's counts and sums (and the payer's code it learnt).
pub(crate) fn set_counts(conn: &mut AnyConnection, row: &RemittanceRow) -> Result<(), Error> {
    diesel::update(remittances::table.find(&row.id))
        .set((
            remittances::payer_code.eq(&row.payer_code),
            remittances::posted_count.eq(row.posted_count),
            remittances::review_count.eq(row.review_count),
            remittances::denied_count.eq(row.denied_count),
            remittances::unmatched_count.eq(row.unmatched_count),
            remittances::posted_minor.eq(row.posted_minor),
            remittances::unmatched_minor.eq(row.unmatched_minor),
            remittances::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// What a bank credit is recognised as a remittance's payment by.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct RemittanceTotal {
    /// The remittance.
    pub id: String,
    /// TRN02.
    pub trace_number: String,
    /// BPR02.
    pub total_minor: i64,
    /// Its currency.
    pub currency: String,
}

/// The remittances of these totals.
pub(crate) fn by_totals(
    conn: &mut AnyConnection,
    totals: &[i64],
) -> Result<Vec<RemittanceTotal>, Error> {
    let mut totals = totals.to_vec();
    totals.sort_unstable();
    totals.dedup();
    let mut out = Vec::new();
    for chunk in totals.chunks(KEYS_PER_QUERY) {
        out.extend(
            remittances::table
                .filter(remittances::total_minor.eq_any(chunk))
                .select((
                    remittances::id,
                    remittances::trace_number,
                    remittances::total_minor,
                    remittances::currency,
                ))
                .load::<RemittanceTotal>(conn)?,
        );
    }
    Ok(out)
}
