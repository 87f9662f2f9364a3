//! Stored e-billings and their claims. An invoice is in at most one active original claim, and
//! in at most one active correction per credit note: the partial unique indexes
//! `e_billing_claims_active` and `e_billing_claims_corrections` hold it even against two
//! e-billings made at once.

use carebill_domain::Currency;
use carebill_domain::e_billing::{ClaimStatus, EBillingStatus};
use carebill_domain::ids::{EBillingClaimId, EBillingId, LocationId};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{
    claim_adjudications, e_billing_claim_events, e_billing_claims, e_billing_files,
    e_billing_responses, e_billings, x12_control_numbers,
};

/// A stored e-billing.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = e_billings)]
pub(crate) struct EBillingRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: EBillingId,
    /// Number in the billing provider's e-billing series.
    pub number: String,
    /// The billing provider.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// The payer claimed.
    pub payer_code: String,
    /// Where it stands.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: EBillingStatus,
    /// What it was made from (JSON: the filter, or the invoice ids).
    pub selection: String,
    /// The claims' currency.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// How many claims.
    pub claim_count: i32,
    /// How many are whole.
    pub ready_count: i32,
    /// How many gaps its claims have in all.
    pub gap_count: i32,
    /// What its claims charge (CLM02 summed), minor units.
    pub total_charge_minor: i64,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// When its claims were last checked.
    pub checked_at: NaiveDateTime,
    /// Who cancelled it.
    pub cancelled_by: Option<String>,
    /// When.
    pub cancelled_at: Option<NaiveDateTime>,
    /// Who took its file.
    pub sent_by: Option<String>,
    /// When.
    pub sent_at: Option<NaiveDateTime>,
}

/// A stored claim: one invoice of an e-billing.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = e_billing_claims)]
pub(crate) struct ClaimRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: EBillingClaimId,
    /// The e-billing.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub e_billing_id: EBillingId,
    /// 1-based position in it.
    pub position: i32,
    /// The invoice claimed.
    pub invoice_id: String,
    /// Its number (the patient control number).
    pub invoice_number: String,
    /// CLM05-3: `1` original.
    pub frequency: String,
    /// `837P` or `837I`, once whole.
    pub format: Option<String>,
    /// What the claim charges, minor units.
    pub charge_minor: i64,
    /// Where it stands.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: ClaimStatus,
    /// The check's gaps (JSON list).
    pub gaps: String,
    /// Whether it holds its invoice (not cancelled, not rejected).
    pub active: bool,
    /// REF*1K: the payer's claim control number, once its 277CA gave one.
    pub payer_claim_number: Option<String>,
    /// When it last changed.
    pub updated_at: NaiveDateTime,
    /// The credit note a replacement or void corrects the payer's claim for.
    pub credit_note_id: Option<String>,
    /// The claim a replacement or void corrects.
    pub corrects_claim_id: Option<String>,
}

/// Stores a new e-billing and its claims.
pub(crate) fn insert(
    conn: &mut AnyConnection,
    row: EBillingRow,
    claims: Vec<ClaimRow>,
) -> Result<(), Error> {
    diesel::insert_into(e_billings::table)
        .values(row)
        .execute(conn)?;
    carebill_platform::insert_rows!(conn, e_billing_claims::table, claims);
    Ok(())
}

/// Replaces the claims of an e-billing with their re-checked rows (same ids), and its counts.
pub(crate) fn replace_claims(
    conn: &mut AnyConnection,
    row: &EBillingRow,
    claims: Vec<ClaimRow>,
) -> Result<(), Error> {
    let id = row.id.to_string();
    diesel::delete(e_billing_claims::table.filter(e_billing_claims::e_billing_id.eq(&id)))
        .execute(conn)?;
    carebill_platform::insert_rows!(conn, e_billing_claims::table, claims);
    diesel::update(e_billings::table.find(&id))
        .set((
            e_billings::status.eq(row.status.as_str()),
            e_billings::claim_count.eq(row.claim_count),
            e_billings::ready_count.eq(row.ready_count),
            e_billings::gap_count.eq(row.gap_count),
            e_billings::total_charge_minor.eq(row.total_charge_minor),
            e_billings::checked_at.eq(row.checked_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Cancels an e-billing: its claims let go of their invoices.
pub(crate) fn cancel(
    conn: &mut AnyConnection,
    id: EBillingId,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    let id = id.to_string();
    diesel::update(e_billings::table.find(&id))
        .set((
            e_billings::status.eq(EBillingStatus::Cancelled.as_str()),
            e_billings::cancelled_by.eq(by),
            e_billings::cancelled_at.eq(at),
        ))
        .execute(conn)?;
    diesel::update(e_billing_claims::table.filter(e_billing_claims::e_billing_id.eq(&id)))
        .set((
            e_billing_claims::status.eq(ClaimStatus::Cancelled.as_str()),
            e_billing_claims::active.eq(false),
            e_billing_claims::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Locks an e-billing until the transaction ends.
pub(crate) fn lock(conn: &mut AnyConnection, id: EBillingId) -> Result<(), Error> {
    Ok(db::lock_row(conn, "e_billings", &id.to_string())?)
}

/// An e-billing in the caller's scope.
pub(crate) fn find_in_scope(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: EBillingId,
) -> Result<Option<EBillingRow>, Error> {
    let q = e_billings::table
        .filter(e_billings::id.eq(id.to_string()))
        .select(EBillingRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(q, scope, e_billings::location_code, e_billings::payer_code);
    Ok(q.first(conn).optional()?)
}

/// What the list of e-billings is filtered by.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListFilter {
    /// Where they stand.
    pub status: Option<EBillingStatus>,
    /// Of this payer.
    pub payer_code: Option<String>,
    /// Of this billing provider.
    pub location_code: Option<String>,
}

/// Up to `page.limit + 1` e-billings in the caller's scope, oldest first.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &ListFilter,
    page: &PageRequest,
) -> Result<Vec<EBillingRow>, Error> {
    let q = e_billings::table
        .select(EBillingRow::as_select())
        .into_boxed();
    let mut q =
        carebill_platform::scoped!(q, scope, e_billings::location_code, e_billings::payer_code);
    if let Some(s) = f.status {
        q = q.filter(e_billings::status.eq(s.as_str()));
    }
    if let Some(p) = &f.payer_code {
        q = q.filter(e_billings::payer_code.eq(p.clone()));
    }
    if let Some(l) = &f.location_code {
        q = q.filter(e_billings::location_code.eq(l.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(e_billings::id.gt(after.clone()));
    }
    Ok(q.order(e_billings::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// Every claim of an e-billing, in order.
pub(crate) fn claims_of(conn: &mut AnyConnection, id: EBillingId) -> Result<Vec<ClaimRow>, Error> {
    Ok(e_billing_claims::table
        .filter(e_billing_claims::e_billing_id.eq(id.to_string()))
        .order(e_billing_claims::position.asc())
        .select(ClaimRow::as_select())
        .load(conn)?)
}

/// Up to `limit` claims of an e-billing after position `after`, in order.
pub(crate) fn claims_page(
    conn: &mut AnyConnection,
    id: EBillingId,
    after: i32,
    limit: i64,
) -> Result<Vec<ClaimRow>, Error> {
    Ok(e_billing_claims::table
        .filter(e_billing_claims::e_billing_id.eq(id.to_string()))
        .filter(e_billing_claims::position.gt(after))
        .order(e_billing_claims::position.asc())
        .limit(limit)
        .select(ClaimRow::as_select())
        .load(conn)?)
}

/// One claim.
pub(crate) fn claim(
    conn: &mut AnyConnection,
    id: EBillingClaimId,
) -> Result<Option<ClaimRow>, Error> {
    Ok(e_billing_claims::table
        .find(id.to_string())
        .select(ClaimRow::as_select())
        .first(conn)
        .optional()?)
}

/// Of these invoices, those in an active claim, with the number of its e-billing (500 per
/// query).
pub(crate) fn actively_claimed(
    conn: &mut AnyConnection,
    invoice_ids: &[String],
) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    for chunk in invoice_ids.chunks(500) {
        out.extend(
            e_billing_claims::table
                .inner_join(e_billings::table.on(e_billings::id.eq(e_billing_claims::e_billing_id)))
                .filter(e_billing_claims::active.eq(true))
                .filter(e_billing_claims::invoice_id.eq_any(chunk))
                .select((e_billing_claims::invoice_id, e_billings::number))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(out)
}

/// Every claim of these invoices, with when its e-billing was sent (500 invoices per query).
pub(crate) fn claims_of_invoices(
    conn: &mut AnyConnection,
    invoice_ids: &[String],
) -> Result<Vec<(ClaimRow, Option<NaiveDateTime>)>, Error> {
    let mut out = Vec::new();
    for chunk in invoice_ids.chunks(500) {
        out.extend(
            e_billing_claims::table
                .inner_join(e_billings::table.on(e_billings::id.eq(e_billing_claims::e_billing_id)))
                .filter(e_billing_claims::invoice_id.eq_any(chunk))
                .select((ClaimRow::as_select(), e_billings::sent_at))
                .load::<(ClaimRow, Option<NaiveDateTime>)>(conn)?,
        );
    }
    Ok(out)
}

/// Sets the payer's claim control number of a claim, as a person typed it.
pub(crate) fn set_payer_claim_number(
    conn: &mut AnyConnection,
    id: EBillingClaimId,
    number: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(e_billing_claims::table.find(id.to_string()))
        .set((
            e_billing_claims::payer_claim_number.eq(number),
            e_billing_claims::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// A frozen X12 file of an e-billing.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = e_billing_files)]
pub(crate) struct FileRow {
    /// The e-billing.
    pub e_billing_id: String,
    /// `837` or `276`.
    pub kind: String,
    /// ISA05:ISA06.
    pub submitter_key: String,
    /// ISA13.
    pub interchange_control_number: i64,
    /// Which claims each group and transaction holds (JSON).
    pub transactions: String,
    /// The interchange.
    pub body: String,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// When it was written.
    pub created_at: NaiveDateTime,
}

/// An e-billing's file of `kind`, when it was written.
pub(crate) fn file(
    conn: &mut AnyConnection,
    id: EBillingId,
    kind: &str,
) -> Result<Option<FileRow>, Error> {
    Ok(e_billing_files::table
        .find((id.to_string(), kind))
        .select(FileRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores the files of a sent e-billing, marks it sent and its claims submitted.
pub(crate) fn send(
    conn: &mut AnyConnection,
    id: EBillingId,
    files: Vec<FileRow>,
    by: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, e_billing_files::table, files);
    let id = id.to_string();
    diesel::update(e_billings::table.find(&id))
        .set((
            e_billings::status.eq(EBillingStatus::Sent.as_str()),
            e_billings::sent_by.eq(by),
            e_billings::sent_at.eq(at),
        ))
        .execute(conn)?;
    diesel::update(e_billing_claims::table.filter(e_billing_claims::e_billing_id.eq(&id)))
        .set((
            e_billing_claims::status.eq(ClaimStatus::Submitted.as_str()),
            e_billing_claims::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Takes `interchanges` interchange control numbers and `groups` group control numbers of a
/// submitter's counter (created at 0 when missing), locked until the transaction ends; answers
/// the first of each.
pub(crate) fn take_control_numbers(
    conn: &mut AnyConnection,
    submitter_key: &str,
    interchanges: i64,
    groups: i64,
) -> Result<(i64, i64), Error> {
    let new = (
        x12_control_numbers::id.eq(submitter_key),
        x12_control_numbers::last_interchange.eq(0_i64),
        x12_control_numbers::last_group.eq(0_i64),
    );
    carebill_platform::insert_new!(conn, x12_control_numbers::table, new);
    db::lock_row(conn, "x12_control_numbers", submitter_key)?;
    let (interchange, group): (i64, i64) = x12_control_numbers::table
        .find(submitter_key)
        .select((
            x12_control_numbers::last_interchange,
            x12_control_numbers::last_group,
        ))
        .first(conn)?;
    diesel::update(x12_control_numbers::table.find(submitter_key))
        .set((
            x12_control_numbers::last_interchange.eq(interchange + interchanges),
            x12_control_numbers::last_group.eq(group + groups),
        ))
        .execute(conn)?;
    Ok((interchange + 1, group + 1))
}

/// A kept response file.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = e_billing_responses)]
pub(crate) struct ResponseRow {
    /// Id.
    pub id: String,
    /// `999`, `277CA` or `277`.
    pub kind: String,
    /// SHA-256 of the body, hex.
    pub digest: String,
    /// ISA06.
    pub sender_id: String,
    /// ISA13.
    pub interchange_control_number: String,
    /// What it said of each claim (JSON).
    pub results: String,
    /// How many of its items named a claim sent.
    pub matched_count: i32,
    /// How many did not.
    pub unmatched_count: i32,
    /// The file.
    pub body: String,
    /// Who imported it.
    pub received_by: String,
    /// When.
    pub received_at: NaiveDateTime,
}

/// A status a response gave a claim.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = e_billing_claim_events)]
pub(crate) struct ClaimEventRow {
    /// Id.
    pub id: String,
    /// The claim.
    pub claim_id: String,
    /// The response that said it.
    pub response_id: String,
    /// The claim's status after it.
    pub status: String,
    /// What it said (JSON).
    pub detail: String,
    /// When it was imported.
    pub at: NaiveDateTime,
}

/// A response imported before, by its digest.
pub(crate) fn response_by_digest(
    conn: &mut AnyConnection,
    digest: &str,
) -> Result<Option<ResponseRow>, Error> {
    Ok(e_billing_responses::table
        .filter(e_billing_responses::digest.eq(digest))
        .select(ResponseRow::as_select())
        .first(conn)
        .optional()?)
}

/// A response by id.
pub(crate) fn response(conn: &mut AnyConnection, id: &str) -> Result<Option<ResponseRow>, Error> {
    Ok(e_billing_responses::table
        .find(id)
        .select(ResponseRow::as_select())
        .first(conn)
        .optional()?)
}

/// Keeps a response and the statuses it gave.
pub(crate) fn insert_response(
    conn: &mut AnyConnection,
    row: ResponseRow,
    events: Vec<ClaimEventRow>,
) -> Result<(), Error> {
    diesel::insert_into(e_billing_responses::table)
        .values(row)
        .execute(conn)?;
    carebill_platform::insert_rows!(conn, e_billing_claim_events::table, events);
    Ok(())
}

/// The 837 files of a submitter: each e-billing with its transactions (JSON).
pub(crate) fn claim_files_of(
    conn: &mut AnyConnection,
    submitter_key: &str,
) -> Result<Vec<(String, String)>, Error> {
    Ok(e_billing_files::table
        .filter(e_billing_files::submitter_key.eq(submitter_key))
        .filter(e_billing_files::kind.eq("837"))
        .select((e_billing_files::e_billing_id, e_billing_files::transactions))
        .load(conn)?)
}

/// The claims of an e-billing with these patient control numbers.
pub(crate) fn claims_numbered(
    conn: &mut AnyConnection,
    e_billing_id: &str,
    numbers: &[String],
) -> Result<Vec<ClaimRow>, Error> {
    Ok(e_billing_claims::table
        .filter(e_billing_claims::e_billing_id.eq(e_billing_id))
        .filter(e_billing_claims::invoice_number.eq_any(numbers))
        .select(ClaimRow::as_select())
        .load(conn)?)
}

/// The claims sent (in a sent e-billing) with this patient control number, the active one
/// first, then the newest.
pub(crate) fn sent_claims_numbered(
    conn: &mut AnyConnection,
    number: &str,
) -> Result<Vec<ClaimRow>, Error> {
    Ok(e_billing_claims::table
        .inner_join(e_billings::table.on(e_billings::id.eq(e_billing_claims::e_billing_id)))
        .filter(e_billings::status.eq(EBillingStatus::Sent.as_str()))
        .filter(e_billing_claims::invoice_number.eq(number))
        .order((e_billing_claims::active.desc(), e_billing_claims::id.desc()))
        .select(ClaimRow::as_select())
        .load(conn)?)
}

/// Sets what a response said of a claim.
pub(crate) fn set_claim_status(conn: &mut AnyConnection, c: &ClaimRow) -> Result<(), Error> {
    diesel::update(e_billing_claims::table.find(c.id.to_string()))
        .set((
            e_billing_claims::status.eq(c.status.as_str()),
            e_billing_claims::active.eq(c.active),
            e_billing_claims::payer_claim_number.eq(&c.payer_claim_number),
            e_billing_claims::updated_at.eq(c.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// What came back of a claim, oldest first.
pub(crate) fn claim_events(
    conn: &mut AnyConnection,
    claim_id: EBillingClaimId,
) -> Result<Vec<ClaimEventRow>, Error> {
    Ok(e_billing_claim_events::table
        .filter(e_billing_claim_events::claim_id.eq(claim_id.to_string()))
        .order(e_billing_claim_events::id.asc())
        .select(ClaimEventRow::as_select())
        .load(conn)?)
}

/// The sent claim that holds an invoice now (active, past `ready`), the latest when several.
pub(crate) fn sent_claim_of_invoice(
    conn: &mut AnyConnection,
    invoice_id: &str,
) -> Result<Option<ClaimRow>, Error> {
    Ok(e_billing_claims::table
        .filter(e_billing_claims::invoice_id.eq(invoice_id))
        .filter(e_billing_claims::active.eq(true))
        .filter(e_billing_claims::status.ne_all([
            ClaimStatus::MissingInfo.as_str(),
            ClaimStatus::Ready.as_str(),
        ]))
        .order(e_billing_claims::id.desc())
        .select(ClaimRow::as_select())
        .first(conn)
        .optional()?)
}

/// These claims, with when their e-billings were sent (500 per query).
pub(crate) fn claims_with_sent_at(
    conn: &mut AnyConnection,
    claim_ids: &[String],
) -> Result<Vec<(ClaimRow, Option<NaiveDateTime>)>, Error> {
    let mut out = Vec::new();
    for chunk in claim_ids.chunks(500) {
        out.extend(
            e_billing_claims::table
                .inner_join(e_billings::table.on(e_billings::id.eq(e_billing_claims::e_billing_id)))
                .filter(e_billing_claims::id.eq_any(chunk))
                .select((ClaimRow::as_select(), e_billings::sent_at))
                .load::<(ClaimRow, Option<NaiveDateTime>)>(conn)?,
        );
    }
    Ok(out)
}

/// What a payer's 835 decided of one invoice (the remitted claim as JSON).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = claim_adjudications)]
pub(crate) struct AdjudicationRow {
    /// Id.
    pub id: String,
    /// The invoice it answered.
    pub invoice_id: String,
    /// The remittance (in collections).
    pub remittance_id: String,
    /// CLP02.
    pub status_code: String,
    /// BPR16: when the payer paid.
    pub paid_on: chrono::NaiveDate,
    /// The remitted claim (JSON).
    pub claim: String,
    /// When it was kept.
    pub created_at: NaiveDateTime,
}

/// Keeps what 835s decided.
pub(crate) fn insert_adjudications(
    conn: &mut AnyConnection,
    rows: Vec<AdjudicationRow>,
) -> Result<(), Error> {
    carebill_platform::insert_rows!(conn, claim_adjudications::table, rows);
    Ok(())
}

/// What 835s decided of these invoices, reversals (CLP02 `22`) included, oldest first (500 per
/// query).
pub(crate) fn adjudications_of(
    conn: &mut AnyConnection,
    invoice_ids: &[String],
) -> Result<Vec<AdjudicationRow>, Error> {
    let mut out = Vec::new();
    for chunk in invoice_ids.chunks(500) {
        out.extend(
            claim_adjudications::table
                .filter(claim_adjudications::invoice_id.eq_any(chunk))
                .order((
                    claim_adjudications::created_at.asc(),
                    claim_adjudications::id.asc(),
                ))
                .select(AdjudicationRow::as_select())
                .load::<AdjudicationRow>(conn)?,
        );
    }
    Ok(out)
}
