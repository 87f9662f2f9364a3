//! How each invoice is claimed now (issue 18, C6): an original, a replacement or a void of the
//! claim the payer has, or not at all. The rule is the domain's
//! ([`carebill_domain::claim_correction`]); this reads its facts — the invoices' credit notes,
//! their claims with when each was sent, what replaced a cancelled invoice and when its
//! settlement was invoiced again — for many invoices at once.

use std::collections::{HashMap, HashSet};

use carebill_domain::claim::Frequency;
use carebill_domain::claim_correction::{
    ClaimFacts, Next, NoteFacts, Reinvoiced, inherited, next_claim,
};
use carebill_domain::ids::CreditNoteId;
use carebill_domain::invoicing::InvoiceStatus;
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;

use crate::store::credit_notes::{self, CreditNoteRow};
use crate::store::e_billings::{self as store, ClaimRow};
use crate::store::invoices::{self, InvoiceRow};

/// How far back a chain of corrective invoices is followed.
const MAX_CHAIN: usize = 16;

/// How an invoice is claimed.
#[derive(Debug, Clone)]
pub(crate) struct Claiming {
    /// CLM05-3.
    pub frequency: Frequency,
    /// The credit note a correction answers.
    pub credit_note_id: Option<CreditNoteId>,
    /// The claim a correction corrects (its payer claim number is the REF*F8).
    pub corrects: Option<ClaimRow>,
    /// The credit notes the claim's lines are reduced by: those issued up to this time (a void
    /// claims what the claim it voids claimed), or all of them when none.
    pub credits_until: Option<NaiveDateTime>,
}

impl Claiming {
    /// The first claim of an invoice.
    pub(crate) fn original() -> Claiming {
        Claiming {
            frequency: Frequency::Original,
            credit_note_id: None,
            corrects: None,
            credits_until: None,
        }
    }
}

/// A credit note as the rule sees it.
fn note_facts(n: &CreditNoteRow) -> NoteFacts {
    NoteFacts {
        id: n.id,
        issued_at: n.issued_at.and_utc(),
        full: !n.partial,
        reissue: n.reissue,
    }
}

/// Claims with when they were sent, by id.
type Sent = HashMap<String, (ClaimRow, Option<NaiveDateTime>)>;

fn claim_facts<'a>(
    ids: impl IntoIterator<Item = &'a String>,
    sent: &Sent,
) -> Result<Vec<ClaimFacts<&'a str>>, Error> {
    ids.into_iter()
        .filter_map(|id| sent.get(id).map(|c| (id, c)))
        .map(|(id, (row, sent_at))| {
            Ok(ClaimFacts {
                id: id.as_str(),
                frequency: frequency(&row.frequency)?,
                active: row.active,
                sent_at: sent_at.map(|t| t.and_utc()),
            })
        })
        .collect()
}

/// A stored CLM05-3.
pub(crate) fn frequency(code: &str) -> Result<Frequency, Error> {
    Frequency::of_code(code).ok_or_else(|| Error::stored("claim frequency", code, "not 1, 7 or 8"))
}

/// How each of these invoices is claimed now, by invoice id; an invoice not in the answer is
/// not claimed now (a claim of it is open, or its claim on file says what it says).
pub(crate) fn next_claims(
    conn: &mut AnyConnection,
    invoices: &[InvoiceRow],
) -> Result<HashMap<String, Claiming>, Error> {
    let ids: Vec<String> = invoices.iter().map(|i| i.id.to_string()).collect();
    // The invoices each corrects, back to the first (a reissue of a reissue ...).
    let mut predecessor: HashMap<String, String> = HashMap::new();
    let mut frontier = ids.clone();
    for _ in 0..MAX_CHAIN {
        let found = invoices::corrections_of(conn, &frontier)?;
        frontier = Vec::new();
        for c in found {
            let before = c.corrects_invoice_id.to_string();
            if !predecessor.contains_key(&before) {
                frontier.push(before.clone());
            }
            predecessor.insert(c.invoice_id.to_string(), before);
        }
        if frontier.is_empty() {
            break;
        }
    }
    let mut all: Vec<String> = ids.iter().chain(predecessor.values()).cloned().collect();
    all.sort();
    all.dedup();
    let mut notes_of: HashMap<String, Vec<CreditNoteRow>> = HashMap::new();
    for n in credit_notes::of_invoices(conn, &all)? {
        notes_of
            .entry(n.invoice_id.to_string())
            .or_default()
            .push(n);
    }
    let mut claims_of: HashMap<String, Vec<String>> = HashMap::new();
    let mut sent: Sent = HashMap::new();
    for (row, sent_at) in store::claims_of_invoices(conn, &all)? {
        claims_of
            .entry(row.invoice_id.clone())
            .or_default()
            .push(row.id.to_string());
        sent.insert(row.id.to_string(), (row, sent_at));
    }
    // A cancelled invoice whose credit note asked for a reissue: replaced by a corrective
    // invoice to its payer, or its settlement invoiced again to others only, or not yet.
    let waiting: Vec<&InvoiceRow> = invoices
        .iter()
        .filter(|i| i.status == InvoiceStatus::Cancelled)
        .filter(|i| {
            notes_of
                .get(&i.id.to_string())
                .is_some_and(|ns| ns.iter().any(|n| !n.partial && n.reissue))
        })
        .collect();
    let waiting_ids: Vec<String> = waiting.iter().map(|i| i.id.to_string()).collect();
    let replaced: HashSet<String> = invoices::corrected_by(conn, &waiting_ids)?
        .into_iter()
        .map(|c| c.corrects_invoice_id.to_string())
        .collect();
    let settlements: Vec<String> = waiting
        .iter()
        .filter_map(|i| i.settlement_id.clone())
        .collect();
    let last_issued: HashMap<String, NaiveDateTime> =
        invoices::last_issued_of_settlements(conn, &settlements)?
            .into_iter()
            .collect();

    let mut out = HashMap::new();
    let none = Vec::new();
    for invoice in invoices {
        let key = invoice.id.to_string();
        let notes: Vec<NoteFacts> = notes_of
            .get(&key)
            .map(|ns| ns.iter().map(note_facts).collect())
            .unwrap_or_default(); // not stored: no credit notes
        let claims = claim_facts(claims_of.get(&key).unwrap_or(&none), &sent)?; // not stored: no claims
        let reinvoiced = if replaced.contains(&key) {
            Reinvoiced::ToThisPayer
        } else {
            let full = notes.iter().find(|n| n.full);
            let again = invoice
                .settlement_id
                .as_ref()
                .and_then(|s| last_issued.get(s))
                .is_some_and(|t| full.is_some_and(|n| t.and_utc() > n.issued_at));
            if again {
                Reinvoiced::OnlyToOthers
            } else {
                Reinvoiced::NotYet
            }
        };
        let mut links: Vec<(Vec<NoteFacts>, Vec<ClaimFacts<&str>>)> = Vec::new();
        let mut at = predecessor.get(&key);
        while let Some(before) = at {
            if links.len() >= MAX_CHAIN {
                break;
            }
            let notes: Vec<NoteFacts> = notes_of
                .get(before)
                .map(|ns| ns.iter().map(note_facts).collect())
                .unwrap_or_default(); // not stored: no credit notes
            let claims = claim_facts(claims_of.get(before).unwrap_or(&none), &sent)?; // not stored: no claims
            links.push((notes, claims));
            at = predecessor.get(before);
        }
        let chain: Vec<(&[NoteFacts], &[ClaimFacts<&str>])> = links
            .iter()
            .map(|(n, c)| (n.as_slice(), c.as_slice()))
            .collect();
        let cancelled = invoice.status == InvoiceStatus::Cancelled;
        let next = next_claim(cancelled, &notes, &claims, reinvoiced, inherited(&chain));
        let claiming = match next {
            Next::Nothing => continue,
            Next::Original => Claiming::original(),
            Next::Correction {
                frequency,
                credit_note,
                corrects,
            } => {
                let (row, sent_at) = sent
                    .get(corrects)
                    .cloned()
                    .ok_or_else(|| Error::internal(&"a corrected claim was not read"))?;
                Claiming {
                    frequency,
                    credit_note_id: Some(credit_note),
                    corrects: Some(row),
                    credits_until: (frequency == Frequency::Void).then_some(sent_at).flatten(),
                }
            }
        };
        out.insert(key, claiming);
    }
    Ok(out)
}

/// How the claims of an e-billing are claimed, as they were made, by claim id (the claim each
/// corrects read again: its payer claim number may have come since).
pub(crate) fn stored(
    conn: &mut AnyConnection,
    claims: &[ClaimRow],
) -> Result<HashMap<String, Claiming>, Error> {
    let corrected: Vec<String> = claims
        .iter()
        .filter_map(|c| c.corrects_claim_id.clone())
        .collect();
    let sent: Sent = store::claims_with_sent_at(conn, &corrected)?
        .into_iter()
        .map(|(row, at)| (row.id.to_string(), (row, at)))
        .collect();
    claims
        .iter()
        .map(|c| {
            let frequency = frequency(&c.frequency)?;
            let credit_note_id = c
                .credit_note_id
                .as_deref()
                .map(|n| carebill_domain::stored::parse("claim credit note id", n))
                .transpose()
                .map_err(Error::from)?;
            let found = c.corrects_claim_id.as_ref().and_then(|id| sent.get(id));
            let claiming = Claiming {
                frequency,
                credit_note_id,
                corrects: found.map(|(row, _)| row.clone()),
                credits_until: found
                    .filter(|_| frequency == Frequency::Void)
                    .and_then(|(_, at)| *at),
            };
            Ok((c.id.to_string(), claiming))
        })
        .collect()
}
