//! Batches (seed 000's batch manager): issued invoices and credit notes grouped for sending.
//!
//! A batch belongs to one location and one currency, and may be limited to one payer, to
//! documents addressed to payers or to patients, to invoices or to credit notes, and to an
//! issue-date period: its rule. It is filled by its rule (every matching document that is in no
//! batch yet) and by hand (add, remove) while `open`; `close` numbers it in the location's batch
//! series (`H1-BAT-2026-000001`) and freezes its documents and totals; `send` hands it to
//! collections. A document is in at most one batch. `carebill.invoicing.batch.closed.v1` and
//! `carebill.invoicing.batch.sent.v1` list its documents with their totals.
//!
//! Decisions: a cancelled invoice is never added (its cancelling credit note may be); a payer's
//! batch takes only documents addressed to that payer; documents added by hand may lie outside
//! the rule's period (the period is what `fill` selects). Adds are all or nothing.

use std::collections::{HashMap, HashSet};

use carebill_domain::Currency;
use carebill_domain::events::{
    BatchClosedV1, BatchDocument, BatchSentV1, Envelope, EventPayload, PartyKind,
};
use carebill_domain::ids::{BatchId, CreditNoteId, InvoiceId, LocationId};
use carebill_domain::invoicing::{
    BatchDocumentKind, BatchStatus, DocumentKind, InvoiceStatus, issue_date, money,
};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use serde::Serialize;

use crate::SERVICE;
pub(crate) use crate::store::batches::BatchFilter;
use crate::store::batches::{self as store, BatchDocumentRow, BatchRow, Candidate, Rule};
use crate::store::{invoices, series};

/// A batch as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Batch {
    /// Id.
    pub id: BatchId,
    /// Number, once closed.
    pub number: Option<String>,
    /// Where it stands.
    pub status: BatchStatus,
    /// The issuing location.
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// Only this payer's documents.
    pub payer_code: Option<String>,
    /// Only documents addressed to payers, or to patients.
    pub recipient_kind: Option<PartyKind>,
    /// Only invoices, or only credit notes.
    pub document_kind: Option<BatchDocumentKind>,
    /// The currency of every document.
    pub currency: Currency,
    /// The rule's period: first issue date.
    pub issued_from: Option<NaiveDate>,
    /// The rule's period: last issue date.
    pub issued_to: Option<NaiveDate>,
    /// Free text.
    pub description: Option<String>,
    /// How many documents.
    pub document_count: i32,
    /// What its invoices bill.
    pub invoiced: carebill_domain::Money,
    /// What its credit notes credit.
    pub credited: carebill_domain::Money,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// When.
    pub closed_at: Option<DateTime<Utc>>,
    /// Who sent it.
    pub sent_by: Option<String>,
    /// When.
    pub sent_at: Option<DateTime<Utc>>,
}

impl Batch {
    fn of(r: BatchRow) -> Result<Batch, Error> {
        Ok(Batch {
            recipient_kind: read_opt("batch recipient kind", r.recipient_kind.as_deref())?,
            document_kind: read_opt("batch document kind", r.document_kind.as_deref())?,
            invoiced: money(r.invoiced_minor, r.currency),
            credited: money(r.credited_minor, r.currency),
            id: r.id,
            number: r.number,
            status: r.status,
            location_id: r.location_id,
            location_code: r.location_code,
            payer_code: r.payer_code,
            currency: r.currency,
            issued_from: r.issued_from,
            issued_to: r.issued_to,
            description: r.description,
            document_count: r.document_count,
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
            closed_by: r.closed_by,
            closed_at: r.closed_at.map(|t| t.and_utc()),
            sent_by: r.sent_by,
            sent_at: r.sent_at.map(|t| t.and_utc()),
        })
    }

    fn rule(&self) -> Rule {
        Rule {
            location_code: self.location_code.clone(),
            currency: self.currency,
            payer_code: self.payer_code.clone(),
            recipient_kind: self.recipient_kind.map(|k| k.as_str().to_owned()),
            issued_from: self.issued_from,
            issued_to: self.issued_to,
        }
    }
}

/// A nullable text column read as `T`.
fn read_opt<T>(what: &'static str, text: Option<&str>) -> Result<Option<T>, Error>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.map(|t| carebill_domain::stored::parse(what, t).map_err(Error::from))
        .transpose()
}

/// A document of a batch as the use cases see it.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// Invoice or credit note.
    pub kind: BatchDocumentKind,
    /// Its id.
    pub id: uuid::Uuid,
    /// Its number.
    pub number: String,
    /// Its total.
    pub total: carebill_domain::Money,
    /// When it was added.
    pub added_at: DateTime<Utc>,
}

/// A batch to create: its rule, and whether to fill it by the rule at once.
#[derive(Debug, Clone)]
pub(crate) struct NewBatch {
    /// The issuing location.
    pub location_code: String,
    /// The currency.
    pub currency: Currency,
    /// A payer's batch.
    pub payer_code: Option<String>,
    /// Payers' or patients' documents only.
    pub recipient_kind: Option<PartyKind>,
    /// Invoices or credit notes only.
    pub document_kind: Option<BatchDocumentKind>,
    /// The period's first issue date.
    pub issued_from: Option<NaiveDate>,
    /// The period's last issue date.
    pub issued_to: Option<NaiveDate>,
    /// Free text.
    pub description: Option<String>,
    /// Add every matching document now.
    pub fill: bool,
}

/// Documents to add by hand.
#[derive(Debug, Clone, Default)]
pub(crate) struct Additions {
    /// Invoices (field `invoice_ids`).
    pub invoice_ids: Vec<String>,
    /// Credit notes (field `credit_note_ids`).
    pub credit_note_ids: Vec<String>,
}

/// Creates a batch (and fills it by its rule when asked), in the caller's transaction.
#[tracing::instrument(skip_all)]
pub(crate) fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    new: NewBatch,
) -> Result<Batch, Error> {
    let scope = Scope::of(who);
    if !scope.allows(&new.location_code, None) {
        return Err(Error::field(
            "location_code",
            "forbidden",
            format!("location {} is outside your scope", new.location_code),
        ));
    }
    let Some((location_id, _)) = invoices::location_known(conn, &new.location_code)? else {
        return Err(Error::field(
            "location_code",
            "unknown",
            format!(
                "invoicing has issued nothing at location {} yet",
                new.location_code
            ),
        ));
    };
    let now = db::now();
    let row = BatchRow {
        id: BatchId::new(),
        number: None,
        status: BatchStatus::Open,
        location_id: carebill_domain::stored::parse("location id", &location_id)
            .map_err(Error::from)?,
        location_code: new.location_code,
        payer_code: new.payer_code,
        recipient_kind: new.recipient_kind.map(|k| k.as_str().to_owned()),
        document_kind: new.document_kind.map(|k| k.as_str().to_owned()),
        currency: new.currency,
        issued_from: new.issued_from,
        issued_to: new.issued_to,
        description: new.description,
        document_count: 0,
        invoiced_minor: 0,
        credited_minor: 0,
        created_by: who.subject.clone(),
        created_at: now,
        closed_by: None,
        closed_at: None,
        sent_by: None,
        sent_at: None,
    };
    let id = row.id;
    store::insert(conn, row)?;
    let batch = reread(conn, id)?;
    audit::record_at(
        conn,
        who,
        &batch.location_id.to_string(),
        "create",
        "invoice_batch",
        &id.to_string(),
        serde_json::json!({ "after": &batch }),
        None,
    )?;
    if new.fill {
        return fill(conn, who, id);
    }
    Ok(batch)
}

/// Adds every document the batch's rule matches that is in no batch yet.
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub(crate) fn fill(conn: &mut AnyConnection, who: &Principal, id: BatchId) -> Result<Batch, Error> {
    let batch = open_for_change(conn, who, id)?;
    let rule = batch.rule();
    let mut found = Vec::new();
    if batch.document_kind != Some(BatchDocumentKind::CreditNote) {
        found.extend(
            store::invoices_matching(conn, &rule)?
                .into_iter()
                .map(|c| (BatchDocumentKind::Invoice, c)),
        );
    }
    if batch.document_kind != Some(BatchDocumentKind::Invoice) {
        found.extend(
            store::credit_notes_matching(conn, &rule)?
                .into_iter()
                .map(|c| (BatchDocumentKind::CreditNote, c)),
        );
    }
    let added = found.len();
    add_rows(conn, &batch, found)?;
    let after = recount(conn, id)?;
    audit::record_at(
        conn,
        who,
        &after.location_id.to_string(),
        "fill",
        "invoice_batch",
        &id.to_string(),
        serde_json::json!({ "added": added, "document_count": after.document_count }),
        None,
    )?;
    Ok(after)
}

/// Adds documents by hand, all or none: each must be the batch's (its location, currency,
/// payer, recipient kind and document kind), not a cancelled invoice, and in no batch yet.
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub(crate) fn add(
    conn: &mut AnyConnection,
    who: &Principal,
    id: BatchId,
    additions: &Additions,
) -> Result<Batch, Error> {
    let batch = open_for_change(conn, who, id)?;
    let scope = Scope::of(who);
    let mut v = carebill_domain::Validation::new();
    let mut wanted = Vec::new();
    let mut seen = HashSet::new();
    for (field, kind, ids) in [
        (
            "invoice_ids",
            BatchDocumentKind::Invoice,
            &additions.invoice_ids,
        ),
        (
            "credit_note_ids",
            BatchDocumentKind::CreditNote,
            &additions.credit_note_ids,
        ),
    ] {
        let found: HashMap<String, Candidate> = match kind {
            BatchDocumentKind::Invoice => store::invoice_candidates(conn, ids)?,
            BatchDocumentKind::CreditNote => store::credit_note_candidates(conn, ids)?,
        }
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
        for (i, doc) in ids.iter().enumerate() {
            let at = format!("{field}.{i}");
            if !seen.insert(doc.clone()) {
                v.add(&at, "duplicate", format!("{doc} is asked for twice"));
                continue;
            }
            let Some(c) = found
                .get(doc)
                .filter(|c| scope.allows(&c.location_code, c.payer_code.as_deref()))
            else {
                v.add(&at, "not_found", format!("no {kind} {doc} in your scope"));
                continue;
            };
            if let Some(problem) = mismatch(&batch, kind, c) {
                v.add(&at, "invalid", format!("{kind} {}: {problem}", c.number));
                continue;
            }
            wanted.push((kind, c.clone()));
        }
    }
    if additions.invoice_ids.is_empty() && additions.credit_note_ids.is_empty() {
        v.add(
            "invoice_ids",
            "required",
            "name at least one invoice or credit note",
        );
    }
    v.finish().map_err(Error::validation)?;
    let ids: Vec<String> = wanted.iter().map(|(_, c)| c.id.clone()).collect();
    if let Some((doc, other)) = store::batched(conn, &ids)?.into_iter().next() {
        let number = wanted
            .iter()
            .find(|(_, c)| c.id == doc)
            .map(|(_, c)| c.number.clone())
            .ok_or_else(|| Error::internal(&"a batched document that was not asked for"))?;
        return Err(Error::new(
            ErrorCode::AlreadyBatched,
            format!("{number} is in batch {other} already"),
        ));
    }
    let added: Vec<&str> = wanted.iter().map(|(_, c)| c.number.as_str()).collect();
    let audit_added = serde_json::json!({ "added": added });
    add_rows(conn, &batch, wanted)?;
    let after = recount(conn, id)?;
    audit::record_at(
        conn,
        who,
        &after.location_id.to_string(),
        "add_documents",
        "invoice_batch",
        &id.to_string(),
        audit_added,
        None,
    )?;
    Ok(after)
}

/// Why a document does not belong in `batch`, if it does not.
fn mismatch(batch: &Batch, kind: BatchDocumentKind, c: &Candidate) -> Option<String> {
    if batch.document_kind.is_some_and(|k| k != kind) {
        return Some(format!("the batch takes only {}s", batch.document_kind?));
    }
    if c.location_code != batch.location_code {
        return Some(format!(
            "issued by {}, not by the batch's location {}",
            c.location_code, batch.location_code
        ));
    }
    if c.currency != batch.currency.to_string() {
        return Some(format!(
            "in {}, not in the batch's currency {}",
            c.currency, batch.currency
        ));
    }
    if let Some(payer) = &batch.payer_code
        && c.payer_code.as_deref() != Some(payer.as_str())
    {
        return Some(format!(
            "addressed to {}, not to the batch's payer {payer}",
            c.payer_code.as_deref().unwrap_or("the patient") // not stored: a message
        ));
    }
    if let Some(k) = batch.recipient_kind
        && c.recipient_kind != k.as_str()
    {
        return Some(format!("addressed to a {}, not to a {k}", c.recipient_kind));
    }
    if c.status.as_deref() == Some(InvoiceStatus::Cancelled.as_str()) {
        return Some("cancelled by a credit note; add the credit note instead".to_owned());
    }
    None
}

/// Takes documents out of an open batch, all or none: each must be in it (else a 422 naming
/// its field, `invoice_ids.<i>` or `credit_note_ids.<i>`).
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub(crate) fn remove(
    conn: &mut AnyConnection,
    who: &Principal,
    id: BatchId,
    removals: &Additions,
) -> Result<Batch, Error> {
    open_for_change(conn, who, id)?;
    let members: HashMap<String, BatchDocumentKind> = store::documents(conn, id)?
        .into_iter()
        .map(|d| (d.document_id, d.document_kind))
        .collect();
    let mut v = carebill_domain::Validation::new();
    let mut ids = Vec::new();
    for (field, kind, asked) in [
        (
            "invoice_ids",
            BatchDocumentKind::Invoice,
            &removals.invoice_ids,
        ),
        (
            "credit_note_ids",
            BatchDocumentKind::CreditNote,
            &removals.credit_note_ids,
        ),
    ] {
        for (i, doc) in asked.iter().enumerate() {
            if members.get(doc) == Some(&kind) && !ids.contains(doc) {
                ids.push(doc.clone());
            } else {
                v.add(
                    format!("{field}.{i}"),
                    "not_in_batch",
                    format!("{kind} {doc} is not in this batch (or is named twice)"),
                );
            }
        }
    }
    if removals.invoice_ids.is_empty() && removals.credit_note_ids.is_empty() {
        v.add(
            "invoice_ids",
            "required",
            "name at least one invoice or credit note",
        );
    }
    v.finish().map_err(Error::validation)?;
    store::remove_documents(conn, id, &ids)?;
    let after = recount(conn, id)?;
    audit::record_at(
        conn,
        who,
        &after.location_id.to_string(),
        "remove_documents",
        "invoice_batch",
        &id.to_string(),
        serde_json::json!({ "removed": ids, "document_count": after.document_count }),
        None,
    )?;
    Ok(after)
}

/// Closes an open batch: numbered in the location's batch series, totals frozen, announced.
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub(crate) fn close(
    conn: &mut AnyConnection,
    who: &Principal,
    id: BatchId,
) -> Result<Batch, Error> {
    let batch = open_for_change(conn, who, id)?;
    let batch = recount(conn, batch.id)?;
    if batch.document_count == 0 {
        return Err(Error::new(
            ErrorCode::BatchEmpty,
            "the batch has no documents: add some, or fill it by its rule, before closing it",
        ));
    }
    let time_zone = match invoices::location_known(conn, &batch.location_code)? {
        Some((_, tz)) => tz,
        None => return Err(Error::internal(&"a batch of a location without invoices")),
    };
    let year_now = |now: chrono::NaiveDateTime| {
        issue_date(now.and_utc(), &time_zone)
            .map(|d| d.year())
            .map_err(|e| Error::internal(&e))
    };
    // The series is locked before the clock is read, so numbers follow closing times.
    series::lock_series(
        conn,
        batch.location_id,
        DocumentKind::Batch,
        year_now(db::now())?,
    )?;
    let now = db::now();
    let number = series::next_number(
        conn,
        batch.location_id,
        &batch.location_code,
        DocumentKind::Batch,
        year_now(now)?,
    )?;
    store::close(conn, id, &number, &who.subject, now)?;
    let closed = reread(conn, id)?;
    let event = BatchClosedV1 {
        batch_id: id,
        number: number.clone(),
        location_id: closed.location_id,
        location_code: closed.location_code.clone(),
        payer_code: closed.payer_code.clone(),
        documents: event_documents(conn, id)?,
        invoiced: closed.invoiced,
        credited: closed.credited,
        closed_by: who.subject.clone(),
        closed_at: now.and_utc(),
    };
    announce(conn, who, &event)?;
    audit::record_at(
        conn,
        who,
        &closed.location_id.to_string(),
        "close",
        "invoice_batch",
        &id.to_string(),
        serde_json::json!({ "status": { "before": BatchStatus::Open, "after": BatchStatus::Closed },
            "number": number, "document_count": closed.document_count,
            "invoiced": closed.invoiced, "credited": closed.credited }),
        None,
    )?;
    Ok(closed)
}

/// Hands a closed batch to collections.
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub(crate) fn send(conn: &mut AnyConnection, who: &Principal, id: BatchId) -> Result<Batch, Error> {
    let batch = locked(conn, who, id)?;
    if batch.status != BatchStatus::Closed {
        return Err(Error::new(
            ErrorCode::BatchNotClosed,
            format!(
                "batch {} is {}: only a closed batch is sent",
                batch.number.as_deref().unwrap_or("(unnumbered)"), // not stored: a message
                batch.status
            ),
        ));
    }
    let now = db::now();
    store::send(conn, id, &who.subject, now)?;
    let sent = reread(conn, id)?;
    let event = BatchSentV1 {
        batch_id: id,
        number: sent
            .number
            .clone()
            .ok_or_else(|| Error::internal(&"a closed batch without its number"))?,
        location_id: sent.location_id,
        location_code: sent.location_code.clone(),
        payer_code: sent.payer_code.clone(),
        documents: event_documents(conn, id)?,
        invoiced: sent.invoiced,
        credited: sent.credited,
        sent_by: who.subject.clone(),
        sent_at: now.and_utc(),
    };
    announce(conn, who, &event)?;
    audit::record_at(
        conn,
        who,
        &sent.location_id.to_string(),
        "send",
        "invoice_batch",
        &id.to_string(),
        serde_json::json!({ "status": { "before": BatchStatus::Closed, "after": BatchStatus::Sent } }),
        None,
    )?;
    Ok(sent)
}

/// A batch in the caller's scope; not found otherwise.
pub(crate) fn get(conn: &mut AnyConnection, scope: &Scope, id: BatchId) -> Result<Batch, Error> {
    store::find_in_scope(conn, scope, id)?
        .ok_or_else(|| Error::not_found("batch"))
        .and_then(Batch::of)
}

/// A page of the batches in the caller's scope matching `filter`, oldest first.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &BatchFilter,
    page: &PageRequest,
) -> Result<Page<Batch>, Error> {
    let rows = store::list(conn, scope, filter, page)?;
    Page::from_rows(rows, page, |r| r.id.to_string()).try_map(Batch::of)
}

/// The documents of a batch in the caller's scope, in their order.
pub(crate) fn members(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: BatchId,
) -> Result<(Batch, Vec<Member>), Error> {
    let batch = get(conn, scope, id)?;
    let members = store::documents(conn, id)?
        .into_iter()
        .map(|d| member(&batch, d))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok((batch, members))
}

fn member(batch: &Batch, d: BatchDocumentRow) -> Result<Member, Error> {
    Ok(Member {
        kind: d.document_kind,
        id: carebill_domain::stored::parse("batch document id", &d.document_id)
            .map_err(Error::from)?,
        number: d.number,
        total: money(d.total_minor, batch.currency),
        added_at: d.added_at.and_utc(),
    })
}

/// The batch, locked, for a change: in the caller's scope (else not found) and open (else
/// `batch_closed`).
fn open_for_change(conn: &mut AnyConnection, who: &Principal, id: BatchId) -> Result<Batch, Error> {
    let batch = locked(conn, who, id)?;
    if batch.status != BatchStatus::Open {
        return Err(Error::new(
            ErrorCode::BatchClosed,
            format!(
                "batch {} is {}: its documents no longer change",
                batch.number.as_deref().unwrap_or("(unnumbered)"), // not stored: a message
                batch.status
            ),
        ));
    }
    Ok(batch)
}

/// The batch in the caller's scope, locked until the transaction ends.
fn locked(conn: &mut AnyConnection, who: &Principal, id: BatchId) -> Result<Batch, Error> {
    let scope = Scope::of(who);
    if store::find_in_scope(conn, &scope, id)?.is_none() {
        return Err(Error::not_found("batch"));
    }
    store::lock(conn, id)?;
    get(conn, &scope, id)
}

fn reread(conn: &mut AnyConnection, id: BatchId) -> Result<Batch, Error> {
    get(conn, &Scope::everything(), id)
}

/// Appends documents to a batch, in the order given.
fn add_rows(
    conn: &mut AnyConnection,
    batch: &Batch,
    docs: Vec<(BatchDocumentKind, Candidate)>,
) -> Result<(), Error> {
    let first = store::next_position(conn, batch.id)?;
    let now = db::now();
    let rows = docs
        .into_iter()
        .zip(first..)
        .map(|((kind, c), position)| BatchDocumentRow {
            document_id: c.id,
            batch_id: batch.id,
            document_kind: kind,
            number: c.number,
            total_minor: c.total_minor,
            added_at: now,
            position,
        })
        .collect();
    store::add_documents(conn, rows)
}

/// Counts the batch's documents and sums its totals again; the batch as it now is.
fn recount(conn: &mut AnyConnection, id: BatchId) -> Result<Batch, Error> {
    let docs = store::documents(conn, id)?;
    let mut invoiced = 0_i64;
    let mut credited = 0_i64;
    for d in &docs {
        match d.document_kind {
            BatchDocumentKind::Invoice => invoiced += d.total_minor,
            BatchDocumentKind::CreditNote => credited += d.total_minor,
        }
    }
    let count = i32::try_from(docs.len()).map_err(|e| Error::internal(&e))?;
    store::set_totals(conn, id, count, invoiced, credited)?;
    reread(conn, id)
}

fn event_documents(conn: &mut AnyConnection, id: BatchId) -> Result<Vec<BatchDocument>, Error> {
    let batch = reread(conn, id)?;
    store::documents(conn, id)?
        .into_iter()
        .map(|d| {
            let m = member(&batch, d)?;
            Ok(BatchDocument {
                kind: m.kind,
                id: m.id,
                number: m.number,
                total: m.total,
            })
        })
        .collect()
}

fn announce<P: EventPayload>(
    conn: &mut AnyConnection,
    who: &Principal,
    payload: &P,
) -> Result<(), Error> {
    let env = Envelope::new(
        SERVICE,
        payload,
        Utc::now(),
        who.request_id.clone(),
        who.request_id.clone(),
    )
    .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)?;
    Ok(())
}

/// One document of an export's manifest.
#[derive(Debug, Clone, Serialize)]
struct ManifestEntry {
    kind: BatchDocumentKind,
    id: uuid::Uuid,
    number: String,
    total: carebill_domain::Money,
    /// `ok`, or `incomplete` when the document would not be a valid e-invoice (then no file).
    status: &'static str,
    /// The UBL file in the archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    /// What an incomplete document lacks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    missing: Vec<super::e_invoices::Gap>,
}

/// A closed (or sent) batch as one zip archive: `manifest.json` (the batch, and each document
/// with its file or what it lacks) and `ubl/<number>.xml` for every document that is a valid
/// e-invoice. An open batch is not exported (`batch_not_closed`): its documents may still change.
#[tracing::instrument(skip_all, fields(batch_id = %id))]
pub(crate) fn export(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: BatchId,
) -> Result<(Batch, Vec<u8>), Error> {
    use std::io::Write as _;
    use zip::write::SimpleFileOptions;

    let (batch, members) = members(conn, scope, id)?;
    if batch.status == BatchStatus::Open {
        return Err(Error::new(
            ErrorCode::BatchNotClosed,
            "the batch is open: close it before exporting it",
        ));
    }
    let zip_error = |e: zip::result::ZipError| Error::internal(&e);
    let io_error = |e: std::io::Error| Error::internal(&e);
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut entries = Vec::with_capacity(members.len());
    // The batch's scope was checked above; each document is read as the service.
    let everything = Scope::everything();
    for m in members {
        let rendered = match m.kind {
            BatchDocumentKind::Invoice => {
                super::e_invoices::invoice_ubl(conn, &everything, InvoiceId(m.id))?
            }
            BatchDocumentKind::CreditNote => {
                super::e_invoices::credit_note_ubl(conn, &everything, CreditNoteId(m.id))?
            }
        };
        let (status, file, missing) = match rendered {
            super::e_invoices::Rendered::Ubl(xml) => {
                let file = format!("ubl/{}.xml", m.number.replace(['/', '\\'], "_"));
                archive
                    .start_file(file.as_str(), options)
                    .map_err(zip_error)?;
                archive.write_all(&xml).map_err(io_error)?;
                ("ok", Some(file), Vec::new())
            }
            super::e_invoices::Rendered::Incomplete(gaps) => ("incomplete", None, gaps),
        };
        entries.push(ManifestEntry {
            kind: m.kind,
            id: m.id,
            number: m.number,
            total: m.total,
            status,
            file,
            missing,
        });
    }
    let manifest = serde_json::json!({
        "batch": &batch,
        "format": "ubl",
        "documents": entries,
    });
    archive
        .start_file("manifest.json", options)
        .map_err(zip_error)?;
    archive
        .write_all(&serde_json::to_vec_pretty(&manifest).map_err(|e| Error::internal(&e))?)
        .map_err(io_error)?;
    let bytes = archive.finish().map_err(zip_error)?.into_inner();
    Ok((batch, bytes))
}

/// A closed batch's documents as they print (each in the layout it was issued under), read for
/// a PDF export; typesetting them is [`pdf_archive`]'s, off the connection.
pub(crate) fn printables(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: BatchId,
) -> Result<(Batch, Vec<(Member, super::printing::Printable)>), Error> {
    let (batch, members) = members(conn, scope, id)?;
    if batch.status == BatchStatus::Open {
        return Err(Error::new(
            ErrorCode::BatchNotClosed,
            "the batch is open: close it before exporting it",
        ));
    }
    // The batch's scope was checked above; each document is read as the service.
    let everything = Scope::everything();
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        let p = match m.kind {
            BatchDocumentKind::Invoice => {
                super::printing::invoice(conn, &everything, InvoiceId(m.id))?
            }
            BatchDocumentKind::CreditNote => {
                super::printing::credit_note(conn, &everything, CreditNoteId(m.id))?
            }
        };
        out.push((m, p));
    }
    Ok((batch, out))
}

/// The zip of a batch's documents as PDF (`pdf/<number>.pdf` and `manifest.json`), typeset on
/// every core.
pub(crate) fn pdf_archive(
    batch: &Batch,
    documents: Vec<(Member, super::printing::Printable)>,
) -> Result<Vec<u8>, Error> {
    use std::io::Write as _;
    use zip::write::SimpleFileOptions;

    let (members, printables): (Vec<Member>, Vec<super::printing::Printable>) =
        documents.into_iter().unzip();
    let pdfs = super::printing::pdf_all(&printables);
    let zip_error = |e: zip::result::ZipError| Error::internal(&e);
    let io_error = |e: std::io::Error| Error::internal(&e);
    // PDFs are compressed already.
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let mut entries = Vec::with_capacity(members.len());
    for (m, pdf) in members.into_iter().zip(pdfs) {
        let file = format!("pdf/{}.pdf", m.number.replace(['/', '\\'], "_"));
        archive
            .start_file(file.as_str(), stored)
            .map_err(zip_error)?;
        archive.write_all(&pdf?).map_err(io_error)?;
        entries.push(serde_json::json!({
            "kind": m.kind,
            "id": m.id,
            "number": m.number,
            "total": m.total,
            "status": "ok",
            "file": file,
        }));
    }
    let manifest = serde_json::json!({ "batch": batch, "format": "pdf", "documents": entries });
    archive
        .start_file(
            "manifest.json",
            SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated),
        )
        .map_err(zip_error)?;
    archive
        .write_all(&serde_json::to_vec_pretty(&manifest).map_err(|e| Error::internal(&e))?)
        .map_err(io_error)?;
    Ok(archive.finish().map_err(zip_error)?.into_inner())
}
