//! Stored receivables: the row, the stored form of the party owed, the status conditions in
//! SQL (`overdue` depends on the day in each location), lookups through the caller's [`Scope`],
//! the list with its filters (a batch's through the batch's documents), locks, and the writes
//! allocations and (partial or full) credit notes make.

use std::collections::BTreeMap;

use carebill_domain::accounts::PayerKind;
use carebill_domain::collections::{self as rules, ReceivableStatus};
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_domain::ids::{CoverageId, CreditNoteId, InvoiceId, LocationId, ReceivableId};
use carebill_domain::invoicing::BatchDocumentKind;
use carebill_domain::{Currency, MinorUnits, stored};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Bool;
use serde::{Deserialize, Serialize};

use super::{Backend, dashboard};
use crate::schema::{batch_documents, receivables};

/// A boolean condition on receivables.
pub(crate) type Condition = Box<dyn BoxableExpression<receivables::table, Backend, SqlType = Bool>>;

pub(crate) use super::OWING;

/// The party owed, as kept in the `party` column (JSON): the event's party reference, stored in
/// its own form so that a change to the API or event schema never changes what is stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredParty {
    /// Payer or patient.
    pub kind: PartyKind,
    /// The payer's or the patient's id.
    pub id: uuid::Uuid,
    /// The payer's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_code: Option<String>,
    /// The payer's kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_kind: Option<PayerKind>,
    /// The coverage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage_id: Option<CoverageId>,
    /// The policy or member number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_number: Option<String>,
}

impl From<&PartyRef> for StoredParty {
    fn from(p: &PartyRef) -> Self {
        StoredParty {
            kind: p.kind,
            id: p.id,
            payer_code: p.payer_code.clone(),
            payer_kind: p.payer_kind,
            coverage_id: p.coverage_id,
            policy_number: p.policy_number.clone(),
        }
    }
}

impl From<StoredParty> for PartyRef {
    fn from(p: StoredParty) -> Self {
        PartyRef {
            kind: p.kind,
            id: p.id,
            payer_code: p.payer_code,
            payer_kind: p.payer_kind,
            coverage_id: p.coverage_id,
            policy_number: p.policy_number,
            billing: None,
        }
    }
}

/// A stored receivable.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = receivables)]
pub(crate) struct ReceivableRow {
    /// Id.
    #[diesel(deserialize_as = String)]
    pub id: ReceivableId,
    /// The invoice.
    #[diesel(deserialize_as = String)]
    pub invoice_id: InvoiceId,
    /// Its number.
    pub invoice_number: String,
    /// The issuing location.
    #[diesel(deserialize_as = String)]
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// Its time zone.
    pub location_time_zone: String,
    /// Payer or patient.
    #[diesel(deserialize_as = String)]
    pub party_kind: PartyKind,
    /// The payer's or patient's id.
    pub party_id: String,
    /// The payer's code (payers only).
    pub payer_code: Option<String>,
    /// The party, as JSON ([`StoredParty`]).
    pub party: String,
    /// The patient (none for a care agency's invoice to a carer or an organisation).
    pub patient_id: Option<String>,
    /// Currency.
    #[diesel(deserialize_as = String)]
    pub currency: Currency,
    /// Invoice total, in minor units.
    pub total_minor: i64,
    /// Allocated and not reversed, in minor units.
    pub paid_minor: i64,
    /// Taken off the total by partial credit notes, in minor units.
    pub credited_minor: i64,
    /// Written off, in minor units.
    pub written_off_minor: i64,
    /// Raised (positive) or lowered (negative) by adjustments, in minor units.
    pub adjusted_minor: i64,
    /// Due date.
    pub due_date: NaiveDate,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Base status (never `overdue`).
    #[diesel(deserialize_as = String)]
    pub status: ReceivableStatus,
    /// The credit note that cancelled it.
    pub credit_note_id: Option<String>,
    /// Its number.
    pub credit_note_number: Option<String>,
    /// Why.
    pub cancel_reason: Option<String>,
    /// When.
    pub cancelled_at: Option<NaiveDateTime>,
    /// When the invoice was issued.
    pub issued_at: NaiveDateTime,
}

impl ReceivableRow {
    /// Whether a credit note cancelled it.
    pub(crate) fn cancelled(&self) -> bool {
        self.status == ReceivableStatus::Cancelled
    }

    /// What it bills with its adjustments: total + adjusted.
    pub(crate) fn payable_total(&self) -> MinorUnits {
        MinorUnits(self.total_minor.saturating_add(self.adjusted_minor))
    }

    /// What is still owed: total + adjusted − credited − paid − written off.
    pub(crate) fn outstanding(&self) -> MinorUnits {
        rules::outstanding(
            self.payable_total(),
            MinorUnits(self.credited_minor),
            MinorUnits(self.paid_minor),
            MinorUnits(self.written_off_minor),
            self.cancelled(),
        )
    }

    /// The party owed.
    pub(crate) fn party(&self) -> Result<PartyRef, Error> {
        stored::json::<StoredParty>("receivable party", &self.party)
            .map(PartyRef::from)
            .map_err(Error::from)
    }
}

/// A new receivable.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = receivables)]
pub(crate) struct NewReceivableRow {
    /// Id.
    #[diesel(serialize_as = String)]
    pub id: ReceivableId,
    /// The invoice.
    #[diesel(serialize_as = String)]
    pub invoice_id: InvoiceId,
    /// Its number.
    pub invoice_number: String,
    /// The issuing location.
    #[diesel(serialize_as = String)]
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// Its time zone.
    pub location_time_zone: String,
    /// Payer or patient.
    #[diesel(serialize_as = String)]
    pub party_kind: PartyKind,
    /// The payer's or patient's id.
    pub party_id: String,
    /// The payer's code.
    pub payer_code: Option<String>,
    /// The party, as JSON ([`StoredParty`]).
    pub party: String,
    /// The patient (none for a care agency's invoice to a carer or an organisation).
    pub patient_id: Option<String>,
    /// Currency.
    #[diesel(serialize_as = String)]
    pub currency: Currency,
    /// Total, in minor units.
    pub total_minor: i64,
    /// Paid, in minor units.
    pub paid_minor: i64,
    /// Taken off by partial credit notes (ones that arrived first), in minor units.
    pub credited_minor: i64,
    /// Due date.
    pub due_date: NaiveDate,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Base status.
    #[diesel(serialize_as = String)]
    pub status: ReceivableStatus,
    /// The credit note that cancelled it (one that arrived first).
    pub credit_note_id: Option<String>,
    /// Its number.
    pub credit_note_number: Option<String>,
    /// Why.
    pub cancel_reason: Option<String>,
    /// When.
    pub cancelled_at: Option<NaiveDateTime>,
    /// When the invoice was issued.
    pub issued_at: NaiveDateTime,
    /// The invoice's ISO 11649 creditor reference, for matching bank statements.
    pub payment_reference: Option<String>,
    /// Created.
    pub created_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// What the receivable list can be filtered by.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReceivableFilter {
    /// Status as shown at the time of the query.
    pub status: Option<ReceivableStatus>,
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The party's id (a normalised UUID).
    pub party_id: Option<String>,
    /// The payer's code.
    pub payer_code: Option<String>,
    /// The location's code.
    pub location_code: Option<String>,
    /// The invoice (a normalised UUID).
    pub invoice_id: Option<String>,
    /// Due before this day.
    pub due_before: Option<NaiveDate>,
    /// In this batch (a normalised UUID).
    pub batch_id: Option<String>,
}

/// "The due date has passed in the receivable's location" at `now`, as SQL: the time zones in
/// use are grouped by their current day, so the condition has one term per distinct day (at
/// most three at any instant).
pub(crate) fn day_passed(conn: &mut AnyConnection, now: DateTime<Utc>) -> QueryResult<Condition> {
    let zones: Vec<String> = receivables::table
        .select(receivables::location_time_zone)
        .distinct()
        .load(conn)?;
    let mut by_day: BTreeMap<NaiveDate, Vec<String>> = BTreeMap::new();
    for zone in zones {
        by_day
            .entry(rules::local_today(&zone, now))
            .or_default()
            .push(zone);
    }
    let mut cond: Condition = Box::new(diesel::dsl::sql::<Bool>("1 = 0"));
    for (today, zones) in by_day {
        cond = Box::new(
            cond.or(receivables::location_time_zone
                .eq_any(zones)
                .and(receivables::due_date.lt(today))),
        );
    }
    Ok(cond)
}

/// Receivables shown as `status` at `now`, as SQL.
pub(crate) fn has_status(
    conn: &mut AnyConnection,
    status: ReceivableStatus,
    now: DateTime<Utc>,
) -> QueryResult<Condition> {
    Ok(match status {
        ReceivableStatus::Overdue => Box::new(
            receivables::status
                .eq_any(OWING)
                .and(day_passed(conn, now)?),
        ),
        ReceivableStatus::Open | ReceivableStatus::PartiallyPaid => Box::new(
            receivables::status
                .eq(status.as_str())
                .and(diesel::dsl::not(day_passed(conn, now)?)),
        ),
        ReceivableStatus::Paid | ReceivableStatus::Cancelled | ReceivableStatus::WrittenOff => {
            Box::new(receivables::status.eq(status.as_str()))
        }
    })
}

/// Whether the invoice has a receivable.
pub(crate) fn exists_for_invoice(
    conn: &mut AnyConnection,
    invoice_id: InvoiceId,
) -> Result<bool, Error> {
    let n: i64 = receivables::table
        .filter(receivables::invoice_id.eq(invoice_id.to_string()))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The receivable of an invoice, whoever may see it.
pub(crate) fn of_invoice(
    conn: &mut AnyConnection,
    invoice_id: InvoiceId,
) -> Result<Option<ReceivableRow>, Error> {
    Ok(receivables::table
        .filter(receivables::invoice_id.eq(invoice_id.to_string()))
        .select(ReceivableRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores a new receivable.
pub(crate) fn insert(conn: &mut AnyConnection, row: NewReceivableRow) -> Result<(), Error> {
    let (location, payer, currency) = (
        row.location_code.clone(),
        row.payer_code.clone(),
        row.currency.to_string(),
    );
    let (dates, total) = ((row.issue_date, row.due_date), row.total_minor);
    diesel::insert_into(receivables::table)
        .values(row)
        .execute(conn)?;
    dashboard::book_billed(conn, &location, payer.as_deref(), &currency, dates, total)
}

/// Runs `write` on receivables `ids` and books on the dashboard what it changed of their
/// figures, in `at`'s month. Every writer of a receivable's amounts or status goes through it.
fn booked(
    conn: &mut AnyConnection,
    ids: &[String],
    at: NaiveDateTime,
    write: impl FnOnce(&mut AnyConnection) -> Result<(), Error>,
) -> Result<(), Error> {
    let before = dashboard::figures(conn, ids)?;
    write(conn)?;
    dashboard::book_changes(conn, before, at)
}

/// Locks an invoice's key until the transaction ends: its events are applied one at a time.
pub(crate) fn lock_invoice(conn: &mut AnyConnection, invoice_id: InvoiceId) -> Result<(), Error> {
    Ok(db::lock_key(conn, &format!("invoice:{invoice_id}"))?)
}

/// Locks a receivable until the transaction ends.
pub(crate) fn lock(conn: &mut AnyConnection, id: ReceivableId) -> Result<(), Error> {
    Ok(db::lock_row(conn, "receivables", &id.to_string())?)
}

/// Locks the receivables of these invoices, all in id order, and reads them under the locks
/// (paid amounts and statuses as they are now). On PostgreSQL one statement locks them all
/// (`ORDER BY id FOR UPDATE` takes the locks in that order); SQLite has one writer already.
pub(crate) fn lock_for_invoices(
    conn: &mut AnyConnection,
    invoice_ids: &[InvoiceId],
) -> Result<Vec<ReceivableRow>, Error> {
    let mut invoice_ids: Vec<String> = invoice_ids.iter().map(ToString::to_string).collect();
    invoice_ids.sort();
    invoice_ids.dedup();
    if invoice_ids.is_empty() {
        return Ok(Vec::new());
    }
    match conn {
        AnyConnection::Postgresql(pg) => Ok(receivables::table
            .filter(receivables::invoice_id.eq_any(&invoice_ids))
            .order(receivables::id.asc())
            .for_update()
            .select(ReceivableRow::as_select())
            .load(pg)?),
        AnyConnection::Sqlite(lite) => {
            let mut rows = Vec::with_capacity(invoice_ids.len());
            for chunk in invoice_ids.chunks(super::KEYS_PER_QUERY) {
                rows.extend(
                    receivables::table
                        .filter(receivables::invoice_id.eq_any(chunk))
                        .select(ReceivableRow::as_select())
                        .load(lite)?,
                );
            }
            rows.sort_by_cached_key(|r| r.id.to_string());
            Ok(rows)
        }
    }
}

/// What a payment left on a receivable: paid, base status, when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PaidReceivable {
    /// The receivable.
    pub id: ReceivableId,
    /// Paid now, minor units.
    pub paid_minor: i64,
    /// Its base status now.
    pub status: ReceivableStatus,
    /// When.
    pub at: NaiveDateTime,
}

/// Sets what was paid on receivables (each once) and their base statuses: on PostgreSQL in one statement
/// (the new values as arrays, joined by id), on SQLite one statement each (in process, cheap).
pub(crate) fn set_paid_many(
    conn: &mut AnyConnection,
    updates: &[PaidReceivable],
) -> Result<(), Error> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = updates.iter().map(|u| u.id.to_string()).collect();
    let at = updates.iter().map(|u| u.at).max().unwrap_or_else(db::now); // not stored: updates is not empty
    booked(conn, &ids, at, |conn| set_paid_many_unbooked(conn, updates))
}

fn set_paid_many_unbooked(
    conn: &mut AnyConnection,
    updates: &[PaidReceivable],
) -> Result<(), Error> {
    use diesel::sql_types::{Array, BigInt, Text, Timestamp};
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query(
            "UPDATE receivables AS r \
             SET paid_minor = u.paid_minor, status = u.status, updated_at = u.updated_at \
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamp[]) \
             AS u (id, paid_minor, status, updated_at) WHERE r.id = u.id",
        )
        .bind::<Array<Text>, _>(updates.iter().map(|u| u.id.to_string()).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(updates.iter().map(|u| u.paid_minor).collect::<Vec<_>>())
        .bind::<Array<Text>, _>(
            updates
                .iter()
                .map(|u| u.status.as_str().to_owned())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Timestamp>, _>(updates.iter().map(|u| u.at).collect::<Vec<_>>())
        .execute(pg)?;
        return Ok(());
    }
    for u in updates {
        set_paid_unbooked(conn, u.id, u.paid_minor, u.status, u.at)?;
    }
    Ok(())
}

/// Sets what was paid on a receivable and its base status (booked by the caller).
fn set_paid_unbooked(
    conn: &mut AnyConnection,
    id: ReceivableId,
    paid_minor: i64,
    status: ReceivableStatus,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(receivables::table.find(id.to_string()))
        .set((
            receivables::paid_minor.eq(paid_minor),
            receivables::status.eq(status.as_str()),
            receivables::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Sets what partial credit notes took off a receivable, what stays paid and written off on it
/// and its base status.
pub(crate) fn set_credited(
    conn: &mut AnyConnection,
    id: ReceivableId,
    credited_minor: i64,
    paid_minor: i64,
    written_off_minor: i64,
    status: ReceivableStatus,
    at: NaiveDateTime,
) -> Result<(), Error> {
    booked(conn, &[id.to_string()], at, |conn| {
        diesel::update(receivables::table.find(id.to_string()))
            .set((
                receivables::credited_minor.eq(credited_minor),
                receivables::paid_minor.eq(paid_minor),
                receivables::written_off_minor.eq(written_off_minor),
                receivables::status.eq(status.as_str()),
                receivables::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Sets what was written off a receivable and its base status.
pub(crate) fn set_written_off(
    conn: &mut AnyConnection,
    id: ReceivableId,
    written_off_minor: i64,
    status: ReceivableStatus,
    at: NaiveDateTime,
) -> Result<(), Error> {
    booked(conn, &[id.to_string()], at, |conn| {
        diesel::update(receivables::table.find(id.to_string()))
            .set((
                receivables::written_off_minor.eq(written_off_minor),
                receivables::status.eq(status.as_str()),
                receivables::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// Sets what adjustments changed a receivable by and its base status.
pub(crate) fn set_adjusted(
    conn: &mut AnyConnection,
    id: ReceivableId,
    adjusted_minor: i64,
    status: ReceivableStatus,
    at: NaiveDateTime,
) -> Result<(), Error> {
    booked(conn, &[id.to_string()], at, |conn| {
        diesel::update(receivables::table.find(id.to_string()))
            .set((
                receivables::adjusted_minor.eq(adjusted_minor),
                receivables::status.eq(status.as_str()),
                receivables::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// The receivables of one party in one currency that still owe (stored status open or
/// partially paid), in the caller's scope, oldest due first.
pub(crate) fn owing_of_party(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
    currency: Currency,
) -> Result<Vec<ReceivableRow>, Error> {
    let q = receivables::table
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id.to_owned()))
        .filter(receivables::currency.eq(currency.to_string()))
        .filter(receivables::status.eq_any(OWING))
        .select(ReceivableRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    Ok(
        q.order((receivables::due_date.asc(), receivables::id.asc()))
            .load(conn)?,
    )
}

/// These receivables, whoever may see them, in id order.
pub(crate) fn by_ids(
    conn: &mut AnyConnection,
    ids: &[ReceivableId],
) -> Result<Vec<ReceivableRow>, Error> {
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    Ok(receivables::table
        .filter(receivables::id.eq_any(ids))
        .order(receivables::id.asc())
        .select(ReceivableRow::as_select())
        .load(conn)?)
}

/// Locks these receivables in id order and reads them again under the locks.
pub(crate) fn lock_many(
    conn: &mut AnyConnection,
    ids: &[ReceivableId],
) -> Result<Vec<ReceivableRow>, Error> {
    let mut sorted: Vec<String> = ids.iter().map(ToString::to_string).collect();
    sorted.sort();
    sorted.dedup();
    for id in &sorted {
        db::lock_row(conn, "receivables", id)?;
    }
    Ok(receivables::table
        .filter(receivables::id.eq_any(&sorted))
        .order(receivables::id.asc())
        .select(ReceivableRow::as_select())
        .load(conn)?)
}

/// Marks a receivable cancelled by a credit note, with nothing paid or written off on it (the
/// write-offs stay in their table).
pub(crate) fn cancel(
    conn: &mut AnyConnection,
    id: ReceivableId,
    credit_note_id: CreditNoteId,
    credit_note_number: &str,
    reason: &str,
    at: NaiveDateTime,
) -> Result<(), Error> {
    booked(conn, &[id.to_string()], at, |conn| {
        diesel::update(receivables::table.find(id.to_string()))
            .set((
                receivables::status.eq(ReceivableStatus::Cancelled.as_str()),
                receivables::paid_minor.eq(0_i64),
                receivables::written_off_minor.eq(0_i64),
                receivables::credit_note_id.eq(Some(credit_note_id.to_string())),
                receivables::credit_note_number.eq(Some(credit_note_number)),
                receivables::cancel_reason.eq(Some(reason)),
                receivables::cancelled_at.eq(Some(at)),
                receivables::updated_at.eq(at),
            ))
            .execute(conn)?;
        Ok(())
    })
}

/// A receivable in the caller's scope.
pub(crate) fn find_in_scope(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: ReceivableId,
) -> Result<Option<ReceivableRow>, Error> {
    let q = receivables::table
        .filter(receivables::id.eq(id.to_string()))
        .select(ReceivableRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    Ok(q.first(conn).optional()?)
}

/// Up to `page.limit + 1` receivables in the caller's scope matching `f` at `now`, in id order.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &ReceivableFilter,
    page: &PageRequest,
    now: DateTime<Utc>,
) -> Result<Vec<ReceivableRow>, Error> {
    let q = receivables::table
        .select(ReceivableRow::as_select())
        .into_boxed();
    let mut q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    if let Some(s) = f.status {
        q = q.filter(has_status(conn, s, now)?);
    }
    if let Some(k) = f.party_kind {
        q = q.filter(receivables::party_kind.eq(k.as_str()));
    }
    if let Some(p) = &f.party_id {
        q = q.filter(receivables::party_id.eq(p.clone()));
    }
    if let Some(c) = &f.payer_code {
        q = q.filter(receivables::payer_code.eq(c.clone()));
    }
    if let Some(c) = &f.location_code {
        q = q.filter(receivables::location_code.eq(c.clone()));
    }
    if let Some(i) = &f.invoice_id {
        q = q.filter(receivables::invoice_id.eq(i.clone()));
    }
    if let Some(d) = f.due_before {
        q = q.filter(receivables::due_date.lt(d));
    }
    if let Some(b) = &f.batch_id {
        q = q.filter(
            receivables::invoice_id.eq_any(
                batch_documents::table
                    .filter(batch_documents::batch_id.eq(b.clone()))
                    .filter(batch_documents::kind.eq(BatchDocumentKind::Invoice.as_str()))
                    .select(batch_documents::document_id),
            ),
        );
    }
    if let Some(after) = &page.after {
        q = q.filter(receivables::id.gt(after.clone()));
    }
    Ok(q.order(receivables::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// A payer's code as collections knows it from its receivables (payers only).
pub(crate) fn known_payer_code(
    conn: &mut AnyConnection,
    kind: PartyKind,
    party_id: &str,
) -> Result<Option<String>, Error> {
    if kind != PartyKind::Payer {
        return Ok(None);
    }
    Ok(receivables::table
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id))
        .filter(receivables::payer_code.is_not_null())
        .order(receivables::id.desc())
        .select(receivables::payer_code)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// The payer code of a party's first receivable (payers only; as balances show it).
pub(crate) fn first_payer_code(
    conn: &mut AnyConnection,
    kind: PartyKind,
    party_id: &str,
) -> Result<Option<String>, Error> {
    if kind != PartyKind::Payer {
        return Ok(None);
    }
    Ok(receivables::table
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id))
        .select(receivables::payer_code)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// Whether the payer `party_id` is known under `payer_code`.
pub(crate) fn payer_known_as(
    conn: &mut AnyConnection,
    party_id: &str,
    payer_code: &str,
) -> Result<bool, Error> {
    let n: i64 = receivables::table
        .filter(receivables::party_kind.eq(PartyKind::Payer.as_str()))
        .filter(receivables::party_id.eq(party_id))
        .filter(receivables::payer_code.eq(payer_code))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// The ids of the locations behind these codes, as the receivables here know them.
pub(crate) fn location_ids(
    conn: &mut AnyConnection,
    codes: &[String],
) -> Result<Vec<String>, Error> {
    Ok(receivables::table
        .filter(receivables::location_code.eq_any(codes))
        .select(receivables::location_id)
        .distinct()
        .load::<String>(conn)?)
}

/// Whether the party has a receivable in the caller's scope.
pub(crate) fn party_known(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
) -> Result<bool, Error> {
    let q = receivables::table
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id.to_owned()))
        .select(receivables::id)
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    Ok(q.first::<String>(conn).optional()?.is_some())
}
