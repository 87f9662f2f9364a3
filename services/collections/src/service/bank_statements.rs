//! Bank statements: a camt.053 statement or camt.054 notification ([`crate::camt`]) imported in
//! one transaction; each credit matched to receivables and posted as a payment through
//! [`payments::record_many`] (method `bank_transfer`, the bank's reference, received on the
//! booking date), or left in the queue for a person, who matches it by hand ([`match_by_hand`]).
//! A credit that is the payment of a payer's 835 (its trace number and amount) is listed as
//! `remittance` and never posted: the remittance posts it claim by claim — whether the 835 was
//! imported before the statement, or after it ([`remittance_imported`] takes the waiting
//! credit out of the queue then).
//!
//! Matching, in order, for each credit (each transaction of a batch booking):
//! 1. `reference`: the ISO 11649 creditor references in the structured remittance information
//!    (`RmtInf/Strd/CdtrRefInf/Ref`) that receivables carry;
//! 2. `remittance_text`: creditor references or invoice numbers found in the free text
//!    (`RmtInf/Ustrd`);
//! 3. `debtor_account`: the debtor's IBAN is known from an earlier matched credit of exactly
//!    one party, and exactly one receivable of that party owes exactly the amount.
//!
//! The receivables found (all of one party, in the entry's currency, else the credit waits)
//! take the money in the order they were named, each up to what it owes; the rest stays as the
//! party's credit. Debits are listed as `ignored`.
//!
//! Set-based, so that a statement of 10,000 credits posts in seconds: the receivables the
//! statement names (references, invoice numbers) and its credits posted before are looked up
//! in a few queries for the whole statement, and matched credits are posted together, their
//! rows written many per statement. A credit left to step 3 reads the database as it is, so
//! the credits before it are posted first.
//!
//! Idempotent: a statement is known by its account, message id and statement id, and imported
//! once (a repeat answers the first import); a credit is known by its account servicer
//! reference (`AcctSvcrRef`) and posted once per account, whichever statement brings it (a
//! camt.054 during the day, then the camt.053): a repeat is listed as `duplicate`. Imports of
//! one account are serialised by a lock on its key.

use std::collections::{HashMap, HashSet};

use carebill_domain::collections::{PaymentKind, RequestedAllocation};
use carebill_domain::creditor_reference::CreditorReference;
use carebill_domain::events::PartyKind;
use carebill_domain::{Code, Currency, FieldError, Money, stored};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode};
use chrono::{NaiveDate, Utc};

use super::payments::{self, NewPayment, Payer};
use super::receivables::money;
use crate::camt::{Entry, Statement, Transaction};
use crate::store::bank_statements::{self as store, EntryRow, StatementRow, StoredAllocation};
use crate::store::receivables::{self, ReceivableRow};

/// Most invoice numbers looked up from one free text.
const MAX_TOKENS: usize = 50;

/// What an entry is.
pub(crate) mod status {
    /// Posted as a payment.
    pub const MATCHED: &str = "matched";
    /// A credit waiting for a person.
    pub const UNMATCHED: &str = "unmatched";
    /// A debit: not Carebill's business.
    pub const IGNORED: &str = "ignored";
    /// Posted already by an earlier entry of the same account servicer reference.
    pub const DUPLICATE: &str = "duplicate";
    /// The payment of a payer's 835 remittance, whose import posted it claim by claim
    /// (counted with the duplicates).
    pub const REMITTANCE: &str = "remittance";
}

/// One allocation an entry's payment made.
#[derive(Debug, Clone)]
pub(crate) struct EntryAllocation {
    /// The receivable.
    pub receivable_id: String,
    /// Its invoice.
    pub invoice_id: String,
    /// The invoice number.
    pub invoice_number: String,
    /// Amount.
    pub amount: Money,
}

/// An entry as it is read.
#[derive(Debug, Clone)]
pub(crate) struct EntryRecord {
    /// The stored row.
    pub row: EntryRow,
    /// Its amount.
    pub amount: Money,
    /// Structured references as the bank gave them.
    pub structured_refs: Vec<String>,
    /// The allocations its payment made (for a reader limited to some locations, only those
    /// to its locations' receivables).
    pub allocations: Vec<EntryAllocation>,
}

/// A statement with its entries.
#[derive(Debug, Clone)]
pub(crate) struct StatementRecord {
    /// The stored row.
    pub row: StatementRow,
    /// Its entries, in order (none in lists).
    pub entries: Vec<EntryRecord>,
}

fn entry_record(scope: &Scope, row: EntryRow) -> Result<EntryRecord, Error> {
    let structured_refs: Vec<String> =
        stored::json("bank entry structured references", &row.structured_refs)
            .map_err(Error::from)?;
    let allocations: Vec<StoredAllocation> =
        stored::json("bank entry allocations", &row.allocations).map_err(Error::from)?;
    let allocations = allocations
        .into_iter()
        .filter(|a| {
            scope
                .locations
                .as_ref()
                .is_none_or(|l| l.contains(&a.location_code))
        })
        .map(|a| EntryAllocation {
            receivable_id: a.receivable_id,
            invoice_id: a.invoice_id,
            invoice_number: a.invoice_number,
            amount: money(a.amount_minor, row.currency),
        })
        .collect();
    Ok(EntryRecord {
        amount: money(row.amount_minor, row.currency),
        structured_refs,
        allocations,
        row,
    })
}

/// Bank statements are no payer's: a caller limited to a payer sees none.
fn refuse_payers(scope: &Scope) -> Result<(), Error> {
    if scope.payer.is_some() {
        return Err(Error::not_found("bank statement"));
    }
    Ok(())
}

/// A statement with its entries; not found for a caller limited to a payer.
#[tracing::instrument(skip_all, fields(bank_statement_id = %id))]
pub(crate) fn statement(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
) -> Result<StatementRecord, Error> {
    refuse_payers(scope)?;
    let row = store::statement(conn, id)?.ok_or_else(|| Error::not_found("bank statement"))?;
    with_entries(conn, scope, row)
}

fn with_entries(
    conn: &mut AnyConnection,
    scope: &Scope,
    row: StatementRow,
) -> Result<StatementRecord, Error> {
    let entries = store::entries_of(conn, &row.id)?
        .into_iter()
        .map(|e| entry_record(scope, e))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(StatementRecord { row, entries })
}

/// A page of statements, oldest import first, without their entries.
#[tracing::instrument(skip_all)]
pub(crate) fn statements(
    conn: &mut AnyConnection,
    scope: &Scope,
    page: &PageRequest,
) -> Result<Page<StatementRecord>, Error> {
    refuse_payers(scope)?;
    let rows = store::statements(conn, page)?;
    Ok(
        Page::from_rows(rows, page, |r| r.id.clone()).map(|row| StatementRecord {
            row,
            entries: Vec::new(),
        }),
    )
}

/// A page of entries of `status` (all when none), in id order.
#[tracing::instrument(skip_all)]
pub(crate) fn entries(
    conn: &mut AnyConnection,
    scope: &Scope,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Page<EntryRecord>, Error> {
    refuse_payers(scope)?;
    let rows = store::entries(conn, status, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone());
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(|r| entry_record(scope, r))
            .collect::<Result<Vec<_>, _>>()?,
        next_cursor: page.next_cursor,
    })
}

/// What a credit was matched to: one party, and receivables of it in the order named.
struct Match {
    by: &'static str,
    party_kind: PartyKind,
    party_id: String,
    invoice_ids: Vec<carebill_domain::ids::InvoiceId>,
}

/// The match of receivables found, in order: all of one party and currency, else none.
fn of_receivables(by: &'static str, rows: Vec<ReceivableRow>, currency: Currency) -> Option<Match> {
    let mut seen = HashSet::new();
    let rows: Vec<ReceivableRow> = rows
        .into_iter()
        .filter(|r| seen.insert(r.id.to_string()))
        .collect();
    let first = rows.first()?;
    let one_party = rows
        .iter()
        .all(|r| r.party_kind == first.party_kind && r.party_id == first.party_id);
    if !one_party || rows.iter().any(|r| r.currency != currency) {
        return None;
    }
    Some(Match {
        by,
        party_kind: first.party_kind,
        party_id: first.party_id.clone(),
        invoice_ids: rows.iter().map(|r| r.invoice_id).collect(),
    })
}

/// The words of a free text that may be invoice numbers (at most [`MAX_TOKENS`]).
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '(' | ')'))
        .map(|t| t.trim_end_matches('.').to_owned())
        .filter(|t| !t.is_empty())
        .take(MAX_TOKENS)
        .collect()
}

/// The structured creditor references of a transaction that are valid.
fn structured_refs(tx: &Transaction) -> Vec<CreditorReference> {
    tx.structured_refs
        .iter()
        .filter_map(|r| CreditorReference::parse(r).ok())
        .collect()
}

/// The receivables in the caller's scope that a statement's credits name by creditor
/// reference or invoice number, looked up together before any credit is matched (they do
/// not change while it is posted: what a receivable still owes is read under its lock).
#[derive(Default)]
struct Named {
    /// By creditor reference (its text).
    by_reference: HashMap<String, Vec<ReceivableRow>>,
    /// By invoice number.
    by_number: HashMap<String, Vec<ReceivableRow>>,
}

impl Named {
    /// Looks up every reference and free-text word of these transactions.
    fn of<'a>(
        conn: &mut AnyConnection,
        scope: &Scope,
        txs: impl Iterator<Item = &'a Transaction>,
    ) -> Result<Named, Error> {
        let mut references = HashSet::new();
        let mut numbers = HashSet::new();
        for tx in txs {
            for r in structured_refs(tx) {
                references.insert(r.as_str().to_owned());
            }
            if let Some(text) = &tx.unstructured {
                for r in CreditorReference::find_in(text) {
                    references.insert(r.as_str().to_owned());
                }
                numbers.extend(tokens(text));
            }
        }
        let mut named = Named::default();
        let references: Vec<String> = references.into_iter().collect();
        for (reference, row) in store::by_references(conn, scope, &references)? {
            if let Some(reference) = reference {
                named.by_reference.entry(reference).or_default().push(row);
            }
        }
        let numbers: Vec<String> = numbers.into_iter().collect();
        for row in store::by_invoice_numbers(conn, scope, &numbers)? {
            named
                .by_number
                .entry(row.invoice_number.clone())
                .or_default()
                .push(row);
        }
        Ok(named)
    }

    /// Receivables of these references, in their order; a reference two receivables share
    /// (which the derivation makes as good as impossible) names neither.
    fn by_references(&self, refs: &[CreditorReference]) -> Vec<ReceivableRow> {
        refs.iter()
            .filter_map(
                |r| match self.by_reference.get(r.as_str()).map(Vec::as_slice) {
                    Some([one]) => Some(one.clone()),
                    _ => None,
                },
            )
            .collect()
    }

    /// What a credit pays by its references: the structured ones, else those and the invoice
    /// numbers in its free text (steps 1 and 2 of the module).
    fn find(&self, tx: &Transaction, currency: Currency) -> Option<Match> {
        let structured = structured_refs(tx);
        if !structured.is_empty()
            && let Some(m) = of_receivables("reference", self.by_references(&structured), currency)
        {
            return Some(m);
        }
        let text = tx.unstructured.as_ref()?;
        let mut rows = self.by_references(&CreditorReference::find_in(text));
        for t in tokens(text) {
            rows.extend(self.by_number.get(&t).into_iter().flatten().cloned());
        }
        of_receivables("remittance_text", rows, currency)
    }
}

/// What a credit pays by its debtor's account (step 3 of the module), as the database is
/// now: every credit before it must be posted.
fn by_debtor_account(
    conn: &mut AnyConnection,
    scope: &Scope,
    tx: &Transaction,
    amount: &Money,
) -> Result<Option<Match>, Error> {
    let currency = amount.currency();
    if let Some(iban) = &tx.debtor_iban
        && let [(kind, party_id)] = store::debtors_of(conn, iban)?.as_slice()
    {
        let minor = amount.to_minor().map_err(|e| Error::internal(&e))?.0;
        let rows = store::owing_exactly(conn, scope, kind, party_id, currency, minor)?;
        if rows.len() == 1 {
            return Ok(of_receivables("debtor_account", rows, currency));
        }
    }
    Ok(None)
}

/// A matched entry waiting to be posted: its position, its match and its day received.
struct ToPost {
    index: usize,
    found: Match,
    received_on: NaiveDate,
}

/// Posts matched `entries` (positions in `rows`) together: each a payment of its match's
/// party through [`payments::record_many`], allocated to its receivables in order, each up to
/// what it owes after the entries before it (under their locks; the rest stays as credit);
/// learns the debtors' accounts and fills in each entry what it was posted as.
fn post_all(
    conn: &mut AnyConnection,
    who: &Principal,
    rows: &mut [EntryRow],
    entries: Vec<ToPost>,
) -> Result<(), Error> {
    if entries.is_empty() {
        return Ok(());
    }
    let invoice_ids: Vec<_> = entries
        .iter()
        .flat_map(|e| e.found.invoice_ids.iter().copied())
        .collect();
    let mut by_invoice: HashMap<String, ReceivableRow> =
        receivables::lock_for_invoices(conn, &invoice_ids)?
            .into_iter()
            .map(|r| (r.invoice_id.to_string(), r))
            .collect();
    let method = Code::parse("bank_transfer").map_err(|e| Error::internal(&e))?;
    let mut new_payments = Vec::with_capacity(entries.len());
    let mut kept_all = Vec::with_capacity(entries.len());
    for e in &entries {
        let entry = rows
            .get(e.index)
            .ok_or_else(|| Error::internal(&"a posted entry out of its statement"))?;
        let currency = entry.currency;
        let mut left = entry.amount_minor;
        let mut requested = Vec::new();
        let mut kept = Vec::new();
        for invoice_id in &e.found.invoice_ids {
            let Some(r) = by_invoice.get_mut(&invoice_id.to_string()) else {
                continue;
            };
            let give = r.outstanding().0.min(left);
            if give <= 0 {
                continue;
            }
            left -= give;
            // What the entries after it find owing.
            r.paid_minor += give;
            requested.push(RequestedAllocation {
                invoice_id: *invoice_id,
                amount: money(give, currency),
            });
            kept.push(StoredAllocation {
                receivable_id: r.id.to_string(),
                invoice_id: r.invoice_id.to_string(),
                invoice_number: r.invoice_number.clone(),
                location_code: r.location_code.clone(),
                amount_minor: give,
            });
        }
        let party_id =
            stored::parse("bank entry party id", &e.found.party_id).map_err(Error::from)?;
        new_payments.push(NewPayment {
            kind: PaymentKind::Payment,
            episode_id: None,
            tenders: Vec::new(),
            party: Payer {
                kind: e.found.party_kind,
                id: party_id,
            },
            amount: money(entry.amount_minor, currency),
            amount_minor: entry.amount_minor,
            method: method.clone(),
            received_on: e.received_on,
            reference: entry
                .bank_reference
                .as_ref()
                .map(|r| r.chars().take(200).collect()),
            allocations: requested,
        });
        kept_all.push(kept);
    }
    let recorded = payments::record_many(conn, who, new_payments)?;
    let now = db::now();
    let mut debtors = Vec::new();
    for ((e, payment), kept) in entries.into_iter().zip(recorded).zip(kept_all) {
        let entry = rows
            .get_mut(e.index)
            .ok_or_else(|| Error::internal(&"a posted entry out of its statement"))?;
        if let Some(iban) = &entry.debtor_iban {
            debtors.push((iban.clone(), e.found.party_kind, e.found.party_id.clone()));
        }
        entry.status = status::MATCHED.to_owned();
        entry.matched_by = Some(e.found.by.to_owned());
        entry.payment_id = Some(payment.id);
        entry.party_kind = Some(e.found.party_kind.as_str().to_owned());
        entry.party_id = Some(e.found.party_id);
        entry.allocations = serde_json::to_string(&kept).map_err(|e| Error::internal(&e))?;
        entry.posted_by = Some(who.subject.clone());
        entry.posted_at = Some(now);
    }
    store::learn_debtors(conn, &debtors, now)?;
    Ok(())
}

/// What a transaction is known by across statements: its own account servicer reference in a
/// batch booking (else the entry's with its position), else the entry's (else the
/// transaction's).
fn servicer_ref_of(e: &Entry, tx: &Transaction, j: usize, batch: bool) -> Option<String> {
    if batch {
        tx.servicer_ref
            .clone()
            .or_else(|| e.servicer_ref.as_ref().map(|r| format!("{r}/{}", j + 1)))
    } else {
        e.servicer_ref.clone().or_else(|| tx.servicer_ref.clone())
    }
}

fn count(row: &mut StatementRow, status: &str, minor: i64, sign: i64) {
    let (n, sum) = match status {
        status::MATCHED => (&mut row.matched_count, &mut row.matched_minor),
        status::UNMATCHED => (&mut row.unmatched_count, &mut row.unmatched_minor),
        status::IGNORED => (&mut row.ignored_count, &mut row.ignored_minor),
        _ => (&mut row.duplicate_count, &mut row.duplicate_minor),
    };
    *n += sign;
    *sum += sign * minor;
}

/// The words of a credit's references and free text: a trace number is one of them.
fn reference_words<'a>(
    structured: &'a [String],
    end_to_end_id: Option<&'a str>,
    unstructured: Option<&'a str>,
) -> HashSet<&'a str> {
    structured
        .iter()
        .map(String::as_str)
        .chain(end_to_end_id)
        .chain(unstructured.into_iter().flat_map(|u| {
            u.split(|c: char| c.is_whitespace() || matches!(c, '*' | '\\' | '/' | ':' | ',' | ';'))
        }))
        .filter(|w| !w.is_empty())
        .collect()
}

/// The remittance whose payment a credit is: one of the same amount and currency whose trace
/// number (TRN02) the credit's references or free text carry as a whole word (a US bank's ACH
/// credit carries the 835's `TRN` in its addenda).
fn remittance_paid<'a>(
    remittances: &'a [crate::store::remittances::RemittanceTotal],
    tx: &Transaction,
    amount_minor: i64,
    currency: Currency,
) -> Option<&'a str> {
    let words = reference_words(
        &tx.structured_refs,
        tx.end_to_end_id.as_deref(),
        tx.unstructured.as_deref(),
    );
    remittances
        .iter()
        .find(|r| {
            r.total_minor == amount_minor
                && r.currency == currency.to_string()
                && words.contains(r.trace_number.as_str())
        })
        .map(|r| r.id.as_str())
}

/// A remittance was imported after the bank credit of its payment: the credit waiting for a
/// person that carries its trace number, with its amount and currency, is listed as
/// `remittance` and leaves the queue (the remittance posted it claim by claim). In the caller's
/// transaction; the first such credit only.
pub(crate) fn remittance_imported(
    conn: &mut AnyConnection,
    remittance_id: &str,
    trace_number: &str,
    total_minor: i64,
    currency: &str,
) -> Result<(), Error> {
    for entry in store::unmatched_credits_of(conn, total_minor, currency)? {
        let structured: Vec<String> =
            stored::json("bank entry structured references", &entry.structured_refs)
                .map_err(Error::from)?;
        let words = reference_words(
            &structured,
            entry.bank_reference.as_deref(),
            entry.unstructured.as_deref(),
        );
        if !words.contains(trace_number) {
            continue;
        }
        store::lock_entry(conn, &entry.id)?;
        // A person may have matched it meanwhile.
        if store::entry(conn, &entry.id)?.is_none_or(|e| e.status != status::UNMATCHED) {
            continue;
        }
        store::set_remittance(conn, &entry.id, status::REMITTANCE, remittance_id)?;
        db::lock_row(conn, "bank_statements", &entry.bank_statement_id)?;
        let mut statement = store::statement(conn, &entry.bank_statement_id)?
            .ok_or_else(|| Error::internal(&"an entry without its statement"))?;
        count(&mut statement, status::UNMATCHED, entry.amount_minor, -1);
        count(&mut statement, status::REMITTANCE, entry.amount_minor, 1);
        statement.updated_at = db::now();
        store::set_totals(conn, &statement)?;
        return Ok(());
    }
    Ok(())
}

/// Imports a statement in the caller's transaction (see the module). Answers whether it was
/// new, and the statement as stored: a repeat answers the first import and changes nothing.
#[tracing::instrument(skip_all, fields(account = %st.account, message_id = %st.message_id))]
pub(crate) fn import(
    conn: &mut AnyConnection,
    who: &Principal,
    st: Statement,
    digest: String,
) -> Result<(bool, StatementRecord), Error> {
    let scope = Scope::of(who);
    refuse_payers(&scope)?;
    db::lock_key(conn, &format!("bank-account:{}", st.account))?;
    if let Some(row) = store::find_statement(conn, &st.account, &st.message_id, &st.statement_id)? {
        return Ok((false, with_entries(conn, &scope, row)?));
    }
    store::fill_payment_references(conn)?;
    let now = db::now();
    let today = Utc::now().date_naive();
    let mut row = StatementRow {
        id: uuid::Uuid::now_v7().to_string(),
        kind: st.kind.as_str().to_owned(),
        version: st.version.clone(),
        message_id: st.message_id.clone(),
        statement_id: st.statement_id.clone(),
        account: st.account.clone(),
        currency: st.currency,
        from_date: st.from_date,
        to_date: st.to_date,
        entry_count: 0,
        matched_count: 0,
        unmatched_count: 0,
        ignored_count: 0,
        duplicate_count: 0,
        matched_minor: 0,
        unmatched_minor: 0,
        ignored_minor: 0,
        duplicate_minor: 0,
        digest,
        imported_by: who.subject.clone(),
        imported_at: now,
        updated_at: now,
    };
    store::insert_statement(conn, &row)?;
    let servicer_refs: Vec<String> = st
        .entries
        .iter()
        .flat_map(|e| {
            let batch = e.transactions.len() > 1;
            e.transactions
                .iter()
                .enumerate()
                .filter_map(move |(j, tx)| servicer_ref_of(e, tx, j, batch))
        })
        .collect();
    // Credits posted before, by any statement of the account: one lookup for the statement.
    let posted_before = store::entries_by_servicer_refs(conn, &st.account, &servicer_refs)?;
    let named = Named::of(
        conn,
        &scope,
        st.entries
            .iter()
            .filter(|e| e.credit)
            .flat_map(|e| e.transactions.iter()),
    )?;
    // Payers' 835 payments already posted claim by claim: one lookup for the statement's
    // credit amounts.
    let credit_amounts: Vec<i64> = st
        .entries
        .iter()
        .filter(|e| e.credit)
        .flat_map(|e| {
            let batch = e.transactions.len() > 1;
            e.transactions.iter().filter_map(move |tx| {
                let amount = if batch {
                    tx.amount.as_ref()?
                } else {
                    &e.amount
                };
                amount.to_minor().ok().map(|m| m.0)
            })
        })
        .collect();
    let remittances = crate::store::remittances::by_totals(conn, &credit_amounts)?;
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut rows: Vec<EntryRow> = Vec::new();
    // Matched credits wait here and are posted together; before a credit is matched by its
    // debtor's account (which reads the learnt accounts and what receivables owe), those
    // before it are posted.
    let mut waiting: Vec<ToPost> = Vec::new();
    for e in &st.entries {
        let batch = e.transactions.len() > 1;
        for (j, tx) in e.transactions.iter().enumerate() {
            let amount = if batch {
                // The reader gives every transaction of a batch booking its amount.
                tx.amount
                    .ok_or_else(|| Error::internal(&"a batch transaction without its amount"))?
            } else {
                e.amount
            };
            let amount_minor = amount.to_minor().map_err(|err| Error::internal(&err))?.0;
            let servicer_ref = servicer_ref_of(e, tx, j, batch);
            let bank_reference = servicer_ref
                .clone()
                .or_else(|| e.entry_ref.clone())
                .or_else(|| tx.end_to_end_id.clone());
            let mut entry = EntryRow {
                id: uuid::Uuid::now_v7().to_string(),
                bank_statement_id: row.id.clone(),
                line_no: i64::try_from(rows.len() + 1).map_err(|err| Error::internal(&err))?,
                account: st.account.clone(),
                currency: st.currency,
                credit: e.credit,
                amount_minor,
                booking_date: e.booking_date,
                value_date: e.value_date,
                servicer_ref: servicer_ref.clone(),
                bank_reference,
                debtor_name: tx.debtor_name.clone(),
                debtor_iban: tx.debtor_iban.clone(),
                structured_refs: serde_json::to_string(&tx.structured_refs)
                    .map_err(|err| Error::internal(&err))?,
                unstructured: tx.unstructured.clone(),
                status: status::UNMATCHED.to_owned(),
                matched_by: None,
                payment_id: None,
                party_kind: None,
                party_id: None,
                allocations: "[]".to_owned(),
                duplicate_of: None,
                posted_by: None,
                posted_at: None,
                created_at: now,
            };
            let earlier = servicer_ref
                .as_ref()
                .and_then(|k| seen.get(k).or_else(|| posted_before.get(k)))
                .cloned();
            if let Some(first) = earlier {
                entry.status = status::DUPLICATE.to_owned();
                entry.duplicate_of = Some(first);
            } else if !e.credit {
                entry.status = status::IGNORED.to_owned();
            } else if let Some(r) = remittance_paid(&remittances, tx, amount_minor, st.currency) {
                entry.status = status::REMITTANCE.to_owned();
                entry.matched_by = Some(status::REMITTANCE.to_owned());
                entry.duplicate_of = Some(r.to_owned());
            } else {
                let found = match named.find(tx, amount.currency()) {
                    Some(m) => Some(m),
                    None if tx.debtor_iban.is_some() => {
                        post_all(conn, who, &mut rows, std::mem::take(&mut waiting))?;
                        by_debtor_account(conn, &scope, tx, &amount)?
                    }
                    None => None,
                };
                if let Some(found) = found {
                    let day = e.booking_date.or(e.value_date);
                    let received_on = day.unwrap_or(today); // not stored: an entry without dates was received today
                    waiting.push(ToPost {
                        index: rows.len(),
                        found,
                        received_on,
                    });
                    // Posting makes it matched (or fails the import).
                    entry.status = status::MATCHED.to_owned();
                }
            }
            if let (Some(k), None) = (&servicer_ref, &entry.duplicate_of) {
                seen.insert(k.clone(), entry.id.clone());
            }
            row.entry_count += 1;
            count(&mut row, &entry.status, amount_minor, 1);
            rows.push(entry);
        }
    }
    post_all(conn, who, &mut rows, waiting)?;
    store::insert_entries(conn, rows)?;
    store::set_totals(conn, &row)?;
    let c = row.currency;
    audit::record(
        conn,
        who,
        "import",
        "bank_statement",
        &row.id,
        serde_json::json!({
            "kind": row.kind,
            "account": row.account,
            "message_id": row.message_id,
            "statement_id": row.statement_id,
            "entries": row.entry_count,
            "matched": { "count": row.matched_count, "sum": money(row.matched_minor, c) },
            "unmatched": { "count": row.unmatched_count, "sum": money(row.unmatched_minor, c) },
            "ignored": { "count": row.ignored_count, "sum": money(row.ignored_minor, c) },
            "duplicate": { "count": row.duplicate_count, "sum": money(row.duplicate_minor, c) },
        }),
        None,
    )?;
    let id = row.id.clone();
    let row = store::statement(conn, &id)?.ok_or_else(|| Error::not_found("bank statement"))?;
    Ok((true, with_entries(conn, &scope, row)?))
}

/// Where a person sends an unmatched credit.
#[derive(Debug, Clone)]
pub(crate) enum HandMatch {
    /// To these receivables, in order (ids as normalised UUIDs); the rest as their party's
    /// credit.
    Receivables(Vec<String>),
    /// All of it as this party's credit.
    Party(PartyKind, uuid::Uuid),
}

/// Matches an unmatched credit by hand and posts it, in the caller's transaction: 409
/// (`already_matched`) unless it is waiting; 422 naming `receivable_ids` or `party` when they
/// are not the caller's to see, of several parties or of another currency.
#[tracing::instrument(skip_all, fields(entry_id = %id))]
pub(crate) fn match_by_hand(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    target: HandMatch,
) -> Result<EntryRecord, Error> {
    let scope = Scope::of(who);
    refuse_payers(&scope)?;
    if store::entry(conn, id)?.is_none() {
        return Err(Error::not_found("bank statement entry"));
    }
    let m = match &target {
        HandMatch::Receivables(ids) => {
            let rows = store::by_ids(conn, &scope, ids)?;
            let by_id: HashMap<String, &ReceivableRow> =
                rows.iter().map(|r| (r.id.to_string(), r)).collect();
            let mut ordered = Vec::new();
            let mut errors = Vec::new();
            for (i, rid) in ids.iter().enumerate() {
                match by_id.get(rid) {
                    Some(r) => ordered.push((*r).clone()),
                    None => errors.push(FieldError {
                        field: format!("receivable_ids.{i}"),
                        code: "unknown".to_owned(),
                        message: "no such receivable in your scope".to_owned(),
                    }),
                }
            }
            if !errors.is_empty() {
                return Err(Error::validation(errors));
            }
            let currency = store::entry(conn, id)?
                .map(|e| e.currency)
                .ok_or_else(|| Error::not_found("bank statement entry"))?;
            of_receivables("hand", ordered, currency).ok_or_else(|| {
                Error::field(
                    "receivable_ids",
                    "invalid",
                    "the receivables must be of one party and in the credit's currency",
                )
            })?
        }
        HandMatch::Party(kind, party_id) => {
            let party_id = party_id.to_string();
            if !receivables::party_known(conn, &scope, *kind, &party_id)? {
                return Err(Error::field(
                    "party",
                    "unknown",
                    "no receivable of this party in your scope",
                ));
            }
            Match {
                by: "hand",
                party_kind: *kind,
                party_id,
                invoice_ids: Vec::new(),
            }
        }
    };
    // Receivables, then the entry, then its statement: every writer's order.
    let invoice_ids = m.invoice_ids.clone();
    receivables::lock_for_invoices(conn, &invoice_ids)?;
    store::lock_entry(conn, id)?;
    let entry = store::entry(conn, id)?.ok_or_else(|| Error::not_found("bank statement entry"))?;
    if entry.status != status::UNMATCHED {
        return Err(Error::new(
            ErrorCode::AlreadyMatched,
            format!("the entry is {}, not waiting to be matched", entry.status),
        ));
    }
    let received_on = entry
        .booking_date
        .or(entry.value_date)
        .unwrap_or_else(|| Utc::now().date_naive()); // not stored: the entry had no dates
    let mut posted = [entry];
    post_all(
        conn,
        who,
        &mut posted,
        vec![ToPost {
            index: 0,
            found: m,
            received_on,
        }],
    )?;
    let [entry] = posted;
    store::set_posted(conn, &entry)?;
    db::lock_row(conn, "bank_statements", &entry.bank_statement_id)?;
    let mut statement = store::statement(conn, &entry.bank_statement_id)?
        .ok_or_else(|| Error::internal(&"an entry without its statement"))?;
    count(&mut statement, status::UNMATCHED, entry.amount_minor, -1);
    count(&mut statement, status::MATCHED, entry.amount_minor, 1);
    statement.updated_at = db::now();
    store::set_totals(conn, &statement)?;
    audit::record(
        conn,
        who,
        "match",
        "bank_statement_entry",
        &entry.id,
        serde_json::json!({
            "payment_id": entry.payment_id,
            "party": { "kind": entry.party_kind, "id": entry.party_id },
            "allocations": serde_json::from_str::<serde_json::Value>(&entry.allocations)
                .map_err(|e| Error::internal(&e))?,
            "amount": money(entry.amount_minor, entry.currency),
        }),
        None,
    )?;
    entry_record(&scope, entry)
}
