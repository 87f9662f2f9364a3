//! Stored bank statements: the imported statements and their entries, the debtor accounts
//! learnt from matched credits, and the receivable lookups matching makes (by creditor
//! reference, by invoice number, by party and amount).

use std::collections::{HashMap, HashSet};

use carebill_domain::Currency;
use carebill_domain::creditor_reference::CreditorReference;
use carebill_domain::events::PartyKind;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::KEYS_PER_QUERY;
use super::receivables::{OWING, ReceivableRow};
use crate::schema::{bank_debtor_accounts, bank_statement_entries, bank_statements, receivables};

/// A stored statement.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bank_statements)]
pub(crate) struct StatementRow {
    /// Id.
    pub id: String,
    /// `camt.053` or `camt.054`.
    pub kind: String,
    /// The message version, e.g. `camt.053.001.08`.
    pub version: String,
    /// `GrpHdr/MsgId`.
    pub message_id: String,
    /// `Stmt/Id` or `Ntfctn/Id`.
    pub statement_id: String,
    /// The account (IBAN or other id).
    pub account: String,
    /// Its currency.
    #[diesel(serialize_as = String, deserialize_as = String)]
    pub currency: Currency,
    /// First day covered.
    pub from_date: Option<NaiveDate>,
    /// Last day covered.
    pub to_date: Option<NaiveDate>,
    /// Entries (transactions of batch bookings counted one by one).
    pub entry_count: i64,
    /// Matched credits.
    pub matched_count: i64,
    /// Credits waiting for a person.
    pub unmatched_count: i64,
    /// Debits.
    pub ignored_count: i64,
    /// Credits posted by an earlier statement.
    pub duplicate_count: i64,
    /// Sum of the matched credits, minor units.
    pub matched_minor: i64,
    /// Sum of the unmatched credits.
    pub unmatched_minor: i64,
    /// Sum of the debits.
    pub ignored_minor: i64,
    /// Sum of the duplicates.
    pub duplicate_minor: i64,
    /// SHA-256 of the body, hex.
    pub digest: String,
    /// Who imported it.
    pub imported_by: String,
    /// When.
    pub imported_at: NaiveDateTime,
    /// Last changed (a match by hand).
    pub updated_at: NaiveDateTime,
}

/// A stored entry.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = bank_statement_entries, treat_none_as_default_value = false)]
pub(crate) struct EntryRow {
    /// Id.
    pub id: String,
    /// Its statement.
    pub bank_statement_id: String,
    /// Position in the statement, from 1.
    pub line_no: i64,
    /// The statement's account.
    pub account: String,
    /// Currency.
    #[diesel(serialize_as = String, deserialize_as = String)]
    pub currency: Currency,
    /// Money in.
    pub credit: bool,
    /// Amount, minor units (positive).
    pub amount_minor: i64,
    /// Booking date.
    pub booking_date: Option<NaiveDate>,
    /// Value date.
    pub value_date: Option<NaiveDate>,
    /// The account servicer's reference: what an entry is known by across statements.
    pub servicer_ref: Option<String>,
    /// The reference given to the payment.
    pub bank_reference: Option<String>,
    /// Debtor's name.
    pub debtor_name: Option<String>,
    /// Debtor's IBAN.
    pub debtor_iban: Option<String>,
    /// Structured creditor references, JSON array of strings.
    pub structured_refs: String,
    /// Unstructured remittance information.
    pub unstructured: Option<String>,
    /// `matched`, `unmatched`, `ignored` or `duplicate`.
    pub status: String,
    /// How it was matched: `reference`, `remittance_text`, `debtor_account`, `hand`.
    pub matched_by: Option<String>,
    /// The payment posted.
    pub payment_id: Option<String>,
    /// The party paid for.
    pub party_kind: Option<String>,
    /// Its id.
    pub party_id: Option<String>,
    /// The allocations made, JSON ([`StoredAllocation`] list).
    pub allocations: String,
    /// The earlier entry of the same servicer reference.
    pub duplicate_of: Option<String>,
    /// Who posted it.
    pub posted_by: Option<String>,
    /// When.
    pub posted_at: Option<NaiveDateTime>,
    /// Stored.
    pub created_at: NaiveDateTime,
}

/// An allocation an entry's payment made, as the entry keeps it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredAllocation {
    /// The receivable.
    pub receivable_id: String,
    /// Its invoice.
    pub invoice_id: String,
    /// The invoice number.
    pub invoice_number: String,
    /// The receivable's location (a reader limited to some sees only theirs).
    pub location_code: String,
    /// Amount, minor units.
    pub amount_minor: i64,
}

/// The statement of `account` with these ids.
pub(crate) fn find_statement(
    conn: &mut AnyConnection,
    account: &str,
    message_id: &str,
    statement_id: &str,
) -> Result<Option<StatementRow>, Error> {
    Ok(bank_statements::table
        .filter(bank_statements::account.eq(account))
        .filter(bank_statements::message_id.eq(message_id))
        .filter(bank_statements::statement_id.eq(statement_id))
        .select(StatementRow::as_select())
        .first(conn)
        .optional()?)
}

/// A statement by id.
pub(crate) fn statement(conn: &mut AnyConnection, id: &str) -> Result<Option<StatementRow>, Error> {
    Ok(bank_statements::table
        .find(id)
        .select(StatementRow::as_select())
        .first(conn)
        .optional()?)
}

/// Up to `page.limit + 1` statements, oldest import first.
pub(crate) fn statements(
    conn: &mut AnyConnection,
    page: &PageRequest,
) -> Result<Vec<StatementRow>, Error> {
    let mut q = bank_statements::table
        .select(StatementRow::as_select())
        .into_boxed();
    if let Some(after) = &page.after {
        q = q.filter(bank_statements::id.gt(after.clone()));
    }
    Ok(q.order(bank_statements::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// Stores a new statement.
pub(crate) fn insert_statement(conn: &mut AnyConnection, row: &StatementRow) -> Result<(), Error> {
    diesel::insert_into(bank_statements::table)
        .values(row.clone())
        .execute(conn)?;
    Ok(())
}

/// Sets a statement's counts and sums.
pub(crate) fn set_totals(conn: &mut AnyConnection, row: &StatementRow) -> Result<(), Error> {
    diesel::update(bank_statements::table.find(&row.id))
        .set((
            bank_statements::entry_count.eq(row.entry_count),
            bank_statements::matched_count.eq(row.matched_count),
            bank_statements::unmatched_count.eq(row.unmatched_count),
            bank_statements::ignored_count.eq(row.ignored_count),
            bank_statements::duplicate_count.eq(row.duplicate_count),
            bank_statements::matched_minor.eq(row.matched_minor),
            bank_statements::unmatched_minor.eq(row.unmatched_minor),
            bank_statements::ignored_minor.eq(row.ignored_minor),
            bank_statements::duplicate_minor.eq(row.duplicate_minor),
            bank_statements::updated_at.eq(row.updated_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Stores entries, many rows per statement.
pub(crate) fn insert_entries(conn: &mut AnyConnection, rows: Vec<EntryRow>) -> Result<(), Error> {
    insert_rows!(conn, bank_statement_entries::table, rows);
    Ok(())
}

/// The entries of a statement, in order.
pub(crate) fn entries_of(
    conn: &mut AnyConnection,
    statement_id: &str,
) -> Result<Vec<EntryRow>, Error> {
    Ok(bank_statement_entries::table
        .filter(bank_statement_entries::bank_statement_id.eq(statement_id))
        .order(bank_statement_entries::line_no.asc())
        .select(EntryRow::as_select())
        .load(conn)?)
}

/// An entry by id.
pub(crate) fn entry(conn: &mut AnyConnection, id: &str) -> Result<Option<EntryRow>, Error> {
    Ok(bank_statement_entries::table
        .find(id)
        .select(EntryRow::as_select())
        .first(conn)
        .optional()?)
}

/// Up to `page.limit + 1` entries of `status` (all when none), in id order.
pub(crate) fn entries(
    conn: &mut AnyConnection,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Vec<EntryRow>, Error> {
    let mut q = bank_statement_entries::table
        .select(EntryRow::as_select())
        .into_boxed();
    if let Some(s) = status {
        q = q.filter(bank_statement_entries::status.eq(s.to_owned()));
    }
    if let Some(after) = &page.after {
        q = q.filter(bank_statement_entries::id.gt(after.clone()));
    }
    Ok(q.order(bank_statement_entries::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// The first entries stored for these account servicer references of `account`: reference →
/// entry id.
pub(crate) fn entries_by_servicer_refs(
    conn: &mut AnyConnection,
    account: &str,
    servicer_refs: &[String],
) -> Result<HashMap<String, String>, Error> {
    let mut out = HashMap::new();
    for chunk in servicer_refs.chunks(KEYS_PER_QUERY) {
        let found: Vec<(Option<String>, String)> = bank_statement_entries::table
            .filter(bank_statement_entries::account.eq(account))
            .filter(bank_statement_entries::servicer_ref.eq_any(chunk))
            .filter(bank_statement_entries::duplicate_of.is_null())
            .select((
                bank_statement_entries::servicer_ref,
                bank_statement_entries::id,
            ))
            .load(conn)?;
        out.extend(found.into_iter().filter_map(|(r, id)| Some((r?, id))));
    }
    Ok(out)
}

/// Locks an entry until the transaction ends.
pub(crate) fn lock_entry(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    Ok(db::lock_row(conn, "bank_statement_entries", id)?)
}

/// Records what an entry was posted as.
pub(crate) fn set_posted(conn: &mut AnyConnection, row: &EntryRow) -> Result<(), Error> {
    diesel::update(bank_statement_entries::table.find(&row.id))
        .set((
            bank_statement_entries::status.eq(&row.status),
            bank_statement_entries::matched_by.eq(&row.matched_by),
            bank_statement_entries::payment_id.eq(&row.payment_id),
            bank_statement_entries::party_kind.eq(&row.party_kind),
            bank_statement_entries::party_id.eq(&row.party_id),
            bank_statement_entries::allocations.eq(&row.allocations),
            bank_statement_entries::posted_by.eq(&row.posted_by),
            bank_statement_entries::posted_at.eq(row.posted_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The credits of this amount and currency waiting for a person.
pub(crate) fn unmatched_credits_of(
    conn: &mut AnyConnection,
    amount_minor: i64,
    currency: &str,
) -> Result<Vec<EntryRow>, Error> {
    Ok(bank_statement_entries::table
        .filter(bank_statement_entries::status.eq("unmatched"))
        .filter(bank_statement_entries::credit.eq(true))
        .filter(bank_statement_entries::amount_minor.eq(amount_minor))
        .filter(bank_statement_entries::currency.eq(currency))
        .order(bank_statement_entries::id.asc())
        .select(EntryRow::as_select())
        .load(conn)?)
}

/// Marks an entry as the payment of a remittance (`duplicate_of` names it).
pub(crate) fn set_remittance(
    conn: &mut AnyConnection,
    id: &str,
    status: &str,
    remittance_id: &str,
) -> Result<(), Error> {
    diesel::update(bank_statement_entries::table.find(id))
        .set((
            bank_statement_entries::status.eq(status),
            bank_statement_entries::matched_by.eq(status),
            bank_statement_entries::duplicate_of.eq(remittance_id),
        ))
        .execute(conn)?;
    Ok(())
}

/// A debtor account learnt.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = bank_debtor_accounts)]
struct NewDebtorRow {
    debtor_iban: String,
    party_kind: String,
    party_id: String,
    learnt_at: NaiveDateTime,
}

/// Remembers that each `(iban, party kind, party id)` paid from that IBAN (those known already
/// stay as they were).
pub(crate) fn learn_debtors(
    conn: &mut AnyConnection,
    debtors: &[(String, PartyKind, String)],
    at: NaiveDateTime,
) -> Result<(), Error> {
    let mut wanted: Vec<(String, String, String)> = debtors
        .iter()
        .map(|(iban, kind, party)| (iban.clone(), kind.as_str().to_owned(), party.clone()))
        .collect();
    wanted.sort();
    wanted.dedup();
    let mut ibans: Vec<String> = wanted.iter().map(|(iban, _, _)| iban.clone()).collect();
    ibans.dedup();
    let mut known: HashSet<(String, String, String)> = HashSet::new();
    for chunk in ibans.chunks(KEYS_PER_QUERY) {
        known.extend(
            bank_debtor_accounts::table
                .filter(bank_debtor_accounts::debtor_iban.eq_any(chunk))
                .select((
                    bank_debtor_accounts::debtor_iban,
                    bank_debtor_accounts::party_kind,
                    bank_debtor_accounts::party_id,
                ))
                .load::<(String, String, String)>(conn)?,
        );
    }
    let rows: Vec<NewDebtorRow> = wanted
        .into_iter()
        .filter(|d| !known.contains(d))
        .map(|(debtor_iban, party_kind, party_id)| NewDebtorRow {
            debtor_iban,
            party_kind,
            party_id,
            learnt_at: at,
        })
        .collect();
    insert_rows!(conn, bank_debtor_accounts::table, rows);
    Ok(())
}

/// The parties known to have paid from `iban` (at most two: more than one is ambiguous).
pub(crate) fn debtors_of(
    conn: &mut AnyConnection,
    iban: &str,
) -> Result<Vec<(String, String)>, Error> {
    Ok(bank_debtor_accounts::table
        .filter(bank_debtor_accounts::debtor_iban.eq(iban))
        .select((
            bank_debtor_accounts::party_kind,
            bank_debtor_accounts::party_id,
        ))
        .limit(2)
        .load(conn)?)
}

/// Stores the creditor reference of receivables that have none yet (those created before
/// references were kept).
pub(crate) fn fill_payment_references(conn: &mut AnyConnection) -> Result<(), Error> {
    let missing: Vec<(String, String)> = receivables::table
        .filter(receivables::payment_reference.is_null())
        .select((receivables::id, receivables::invoice_number))
        .load(conn)?;
    for (id, number) in missing {
        let reference = CreditorReference::for_invoice_number(&number);
        diesel::update(receivables::table.find(id))
            .set(receivables::payment_reference.eq(reference.as_str()))
            .execute(conn)?;
    }
    Ok(())
}

/// The receivables in the caller's scope carrying these creditor references, with their
/// reference.
pub(crate) fn by_references(
    conn: &mut AnyConnection,
    scope: &Scope,
    references: &[String],
) -> Result<Vec<(Option<String>, ReceivableRow)>, Error> {
    let mut out = Vec::new();
    for chunk in references.chunks(KEYS_PER_QUERY) {
        let q = receivables::table
            .filter(receivables::payment_reference.eq_any(chunk.to_vec()))
            .select((receivables::payment_reference, ReceivableRow::as_select()))
            .into_boxed();
        let q = carebill_platform::scoped!(
            q,
            scope,
            receivables::location_code,
            receivables::payer_code
        );
        out.extend(q.load::<(Option<String>, ReceivableRow)>(conn)?);
    }
    Ok(out)
}

/// The receivables in the caller's scope of these invoice numbers.
pub(crate) fn by_invoice_numbers(
    conn: &mut AnyConnection,
    scope: &Scope,
    numbers: &[String],
) -> Result<Vec<ReceivableRow>, Error> {
    let mut out = Vec::new();
    for chunk in numbers.chunks(KEYS_PER_QUERY) {
        let q = receivables::table
            .filter(receivables::invoice_number.eq_any(chunk.to_vec()))
            .select(ReceivableRow::as_select())
            .into_boxed();
        let q = carebill_platform::scoped!(
            q,
            scope,
            receivables::location_code,
            receivables::payer_code
        );
        out.extend(q.load::<ReceivableRow>(conn)?);
    }
    Ok(out)
}

/// Up to two receivables in the caller's scope of the party that still owe exactly `minor` in
/// `currency`.
pub(crate) fn owing_exactly(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: &str,
    party_id: &str,
    currency: Currency,
    minor: i64,
) -> Result<Vec<ReceivableRow>, Error> {
    let q = receivables::table
        .filter(receivables::party_kind.eq(kind.to_owned()))
        .filter(receivables::party_id.eq(party_id.to_owned()))
        .filter(receivables::currency.eq(currency.code().to_owned()))
        .filter(receivables::status.eq_any(OWING))
        .filter(
            (receivables::total_minor
                - receivables::credited_minor
                - receivables::paid_minor
                - receivables::written_off_minor)
                .eq(minor),
        )
        .select(ReceivableRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    Ok(q.order(receivables::id.asc()).limit(2).load(conn)?)
}

/// The receivables in the caller's scope with these ids.
pub(crate) fn by_ids(
    conn: &mut AnyConnection,
    scope: &Scope,
    ids: &[String],
) -> Result<Vec<ReceivableRow>, Error> {
    let q = receivables::table
        .filter(receivables::id.eq_any(ids.to_vec()))
        .select(ReceivableRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        receivables::location_code,
        receivables::payer_code
    );
    Ok(q.load(conn)?)
}
