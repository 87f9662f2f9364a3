//! Payers' remittances: an X12 835 imported in one transaction, each claim payment (CLP)
//! matched to the invoice it pays and posted to that invoice's receivable — the payment
//! through [`payments::record_many`], the adjustments the payer explained (CAS, with group,
//! reason and remark codes) as adjustments of the receivable by the absorption rule of
//! [`carebill_domain::collections::remittance`].
//!
//! Matching: the patient control number (CLP01) among the claims invoicing sent
//! (`e_billing.sent`, kept by [`claims_sent`]; a claim sent to the 835's payer id first, then the
//! latest sent); else a payer's receivable whose invoice number it is (a claim sent outside
//! Carebill). A claim that matches nothing is kept as `unmatched` for a person, never dropped.
//!
//! What each matched claim becomes:
//! - `denied` (CLP02 `4`, or nothing paid and nothing left to the patient): nothing posted; a
//!   dispute of the receivable is opened with the reasons (dunning stops) unless one is open;
//! - `review`: a reversal (CLP02 `22`, or a negative payment), a receivable that is not a
//!   payer's or that a credit note cancelled — nothing posted; or a posting that did not leave
//!   the receivable owing exactly nothing (paid beyond it: the payer's credit; or a remittance
//!   that explains less than it owes) — posted, and flagged;
//! - `posted`: paid and adjusted, the receivable owing nothing.
//!
//! Provider-level adjustments (PLB) are kept on the remittance, not posted.
//!
//! Idempotent: a remittance is known by its payer id and trace number (TRN02) and imported
//! once (a repeat answers the first import); imports of one are serialised by a lock on that
//! key. An 835 that does not balance, or whose payer is unknown, is refused whole: nothing is
//! half-posted.

use std::collections::HashMap;

use carebill_domain::collections::base_status;
use carebill_domain::collections::plans::AdjustmentKind;
use carebill_domain::collections::remittance::{self as rule, Cas};
use carebill_domain::collections::{PaymentKind, RequestedAllocation};
use carebill_domain::events::{
    EBillingSentV1, Envelope, PartyKind, RemittancePostedV1, RemittedAdjustment, RemittedClaim,
    RemittedLine,
};
use carebill_domain::ids::{EBillingClaimId, InvoiceId, ReceivableId};
use carebill_domain::{Code, Currency, MinorUnits, Money, stored};
use carebill_platform::audit;
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode};
use carebill_x12::remittance::{ClaimPayment, Remittance, read_835};
use carebill_x12::{ContentError, ReadError};
use chrono::NaiveDateTime;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::payments::{self, NewPayment, Payer};
use super::receivables::money;
use crate::store::adjustments::{self as adjustment_store, AdjustmentRow};
use crate::store::disputes::{self as dispute_store, DisputeRow};
use crate::store::receivables::{self, ReceivableRow};
use crate::store::remittances::{self as store, ClaimRow, ReferenceRow, RemittanceRow};

/// Where a claim payment stands.
pub(crate) mod status {
    /// Paid and adjusted; the receivable owes nothing.
    pub const POSTED: &str = "posted";
    /// Matched; a person must look (see its note).
    pub const REVIEW: &str = "review";
    /// The payer denied it; a dispute holds the receivable.
    pub const DENIED: &str = "denied";
    /// Matched to no invoice; waiting for a person.
    pub const UNMATCHED: &str = "unmatched";
    /// Every status.
    pub const ALL: [&str; 4] = [POSTED, REVIEW, DENIED, UNMATCHED];
}

/// Keeps the claims of a sent e-billing, so that an 835 finds their invoices (idempotent).
pub(crate) fn claims_sent(conn: &mut AnyConnection, e: &EBillingSentV1) -> Result<(), Error> {
    let at = e.sent_at.naive_utc();
    let rows = e
        .claims
        .iter()
        .map(|c| ReferenceRow {
            claim_id: c.claim_id.to_string(),
            patient_control_number: c.patient_control_number.clone(),
            invoice_id: c.invoice_id.to_string(),
            e_billing_id: e.e_billing_id.to_string(),
            payer_code: e.payer_code.clone(),
            payer_id: e.payer_id.clone(),
            frequency: c.frequency.clone(),
            sent_at: at,
        })
        .collect();
    store::insert_references(conn, rows)
}

/// An 835 file read and balanced, ready to post.
#[derive(Debug, Clone)]
pub(crate) struct File {
    /// ISA13.
    pub interchange_control_number: String,
    /// Its payments, one per 835 transaction.
    pub remittances: Vec<Remittance>,
    /// SHA-256 of the bytes.
    pub digest: String,
}

/// Reads an 835 file: 422 `not_x12`, `x12_envelope_invalid`, `x12_unsupported` (no 835),
/// `remittance_does_not_balance` or `x12_invalid`, each naming the segment.
pub(crate) fn read(text: &str, digest: String) -> Result<File, Error> {
    let x12 = carebill_x12::parse(text).map_err(|e| match e {
        ReadError::NotX12(why) => {
            Error::new(ErrorCode::NotX12, format!("not an X12 interchange: {why}"))
        }
        e @ ReadError::Envelope { .. } => Error::new(ErrorCode::X12EnvelopeInvalid, e.to_string()),
    })?;
    if !x12.groups.iter().any(|g| g.header.element(1) == "HP") {
        let ids: Vec<&str> = x12.groups.iter().map(|g| g.header.element(1)).collect();
        return Err(Error::new(
            ErrorCode::X12Unsupported,
            format!(
                "the interchange holds groups {} — a remittance is an 835 (functional group HP)",
                ids.join(", ")
            ),
        ));
    }
    let remittances = read_835(&x12).map_err(|e| match e {
        e @ ContentError::Unbalanced { .. } => {
            Error::new(ErrorCode::RemittanceDoesNotBalance, e.to_string())
        }
        e => Error::new(ErrorCode::X12Invalid, e.to_string()),
    })?;
    check_amounts(&remittances)?;
    Ok(File {
        interchange_control_number: x12.control_number().to_owned(),
        remittances,
        digest,
    })
}

/// A provider-level adjustment as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredPlb {
    /// PLB01.
    pub provider_id: String,
    /// PLB02.
    pub fiscal_period_end: Option<chrono::NaiveDate>,
    /// The reason code.
    pub reason: String,
    /// Its reference.
    pub reference: Option<String>,
    /// Minor units (positive lowered the payment).
    pub amount_minor: i64,
}

/// An adjustment of a claim payment as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredCas {
    /// CAS01.
    pub group: String,
    /// The CARC.
    pub reason: String,
    /// Minor units.
    pub amount_minor: i64,
    /// What explained amounts never billed to the payer.
    pub absorbed_minor: i64,
    /// What was posted to the receivable.
    pub posted_minor: i64,
    /// The line's control number, for a line's adjustment.
    pub line: Option<String>,
    /// The line's remark codes (RARC), for a line's adjustment; the claim's otherwise.
    pub remarks: Vec<String>,
    /// The receivable adjustment it posted.
    pub adjustment_id: Option<String>,
}

/// A service line of a claim payment as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredLine {
    /// REF*6R.
    pub control_number: Option<String>,
    /// SVC01, components joined by `:`.
    pub procedure: String,
    /// SVC02.
    pub charge_minor: i64,
    /// SVC03.
    pub paid_minor: i64,
    /// SVC05.
    pub units: Decimal,
    /// DTM*472.
    pub date: Option<chrono::NaiveDate>,
    /// LQ*HE.
    pub remarks: Vec<String>,
}

/// What a claim payment said beyond its amounts, as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClaimDetail {
    /// Every adjustment, the claim's then each line's.
    pub adjustments: Vec<StoredCas>,
    /// The lines.
    pub lines: Vec<StoredLine>,
    /// MOA/MIA remark codes.
    pub remarks: Vec<String>,
    /// NM1*QC.
    pub patient_name: Option<String>,
    /// The member id.
    pub member_id: Option<String>,
    /// CLP09.
    pub frequency: Option<String>,
    /// CLP06.
    pub filing_indicator: String,
}

/// A remittance as read.
#[derive(Debug, Clone)]
pub(crate) struct RemittanceRecord {
    /// The stored row.
    pub row: RemittanceRow,
    /// Its PLB adjustments.
    pub provider_adjustments: Vec<StoredPlb>,
}

/// A claim payment as read.
#[derive(Debug, Clone)]
pub(crate) struct ClaimRecord {
    /// The stored row.
    pub row: ClaimRow,
    /// Its adjustments and lines.
    pub detail: ClaimDetail,
}

fn remittance_record(row: RemittanceRow) -> Result<RemittanceRecord, Error> {
    let provider_adjustments =
        stored::json("remittance provider adjustments", &row.provider_adjustments)
            .map_err(Error::from)?;
    Ok(RemittanceRecord {
        row,
        provider_adjustments,
    })
}

fn claim_record(row: ClaimRow) -> Result<ClaimRecord, Error> {
    let detail = stored::json("remittance claim detail", &row.detail).map_err(Error::from)?;
    Ok(ClaimRecord { row, detail })
}

/// A remittance.
pub(crate) fn get(conn: &mut AnyConnection, id: &str) -> Result<RemittanceRecord, Error> {
    remittance_record(store::remittance(conn, id)?.ok_or_else(|| Error::not_found("remittance"))?)
}

/// A page of remittances.
pub(crate) fn list(
    conn: &mut AnyConnection,
    page: &PageRequest,
) -> Result<Page<RemittanceRecord>, Error> {
    Page::from_rows(store::remittances(conn, page)?, page, |r| r.id.clone())
        .try_map(remittance_record)
}

/// A page of claim payments, of one remittance and of one status.
pub(crate) fn claims(
    conn: &mut AnyConnection,
    remittance_id: Option<&str>,
    status: Option<&str>,
    page: &PageRequest,
) -> Result<Page<ClaimRecord>, Error> {
    if let Some(r) = remittance_id {
        get(conn, r)?;
    }
    Page::from_rows(
        store::claims(conn, remittance_id, status, page)?,
        page,
        |c| c.id.clone(),
    )
    .try_map(claim_record)
}

/// A claim payment.
pub(crate) fn claim(conn: &mut AnyConnection, id: &str) -> Result<ClaimRecord, Error> {
    claim_record(store::claim(conn, id)?.ok_or_else(|| Error::not_found("remittance claim"))?)
}

/// The currency of an 835 that paid no invoice Carebill knows (X12 amounts are US dollars
/// unless a CUR segment says otherwise).
fn usd() -> Result<Currency, Error> {
    Currency::parse("USD").map_err(|e| Error::internal(&e))
}

/// The largest amount an 835 may carry, in cents (a hundred billion dollars): sums of a file's
/// amounts stay far inside 64 bits.
const MAX_MINOR: i64 = 10_000_000_000_000;

fn minor(amount: Decimal, currency: Currency, what: &str) -> Result<i64, Error> {
    let m = Money::new(amount, currency).map_err(|e| {
        Error::new(
            ErrorCode::X12Invalid,
            format!("{what} {amount} is not an amount in {currency}: {e}"),
        )
    })?;
    let cents = m
        .to_minor()
        .map_err(|e| Error::new(ErrorCode::X12Invalid, format!("{what} {amount}: {e}")))?
        .0;
    if cents.abs() > MAX_MINOR {
        return Err(Error::new(
            ErrorCode::X12Invalid,
            format!("{what} {amount} is larger than a remittance carries"),
        ));
    }
    Ok(cents)
}

/// Every amount of a remittance, as US dollars within [`MAX_MINOR`]; two payments of one trace
/// number in one file are refused.
fn check_amounts(remittances: &[Remittance]) -> Result<(), Error> {
    let usd = usd()?;
    let mut traces = std::collections::HashSet::new();
    for r in remittances {
        if !traces.insert((r.payer_id.as_str(), r.trace_number.as_str())) {
            return Err(Error::new(
                ErrorCode::X12Invalid,
                format!(
                    "two payments of payer id {} with trace number {} in one file",
                    r.payer_id, r.trace_number
                ),
            ));
        }
        minor(r.total, usd, "BPR02")?;
        for p in &r.provider_adjustments {
            minor(p.amount, usd, "PLB")?;
        }
        for c in &r.claims {
            detail_of(c, usd)?;
            for (amount, what) in [
                (c.charge, "CLP03"),
                (c.paid, "CLP04"),
                (c.patient_responsibility, "CLP05"),
            ] {
                minor(amount, usd, what)?;
            }
        }
    }
    Ok(())
}

/// The payment method of BPR04.
fn method(bpr04: &str) -> Result<Code, Error> {
    let code = match bpr04 {
        "ACH" => "ach",
        "CHK" => "check",
        "FWT" => "wire",
        "BOP" => "bank_transfer",
        "NON" => "offset",
        _ => "other",
    };
    Code::parse(code).map_err(|e| Error::internal(&e))
}

/// Where a claim payment led.
enum Found {
    /// A claim sent, or an invoice of that number, and its receivable.
    Invoice {
        claim_id: Option<String>,
        receivable: ReceivableId,
    },
    /// Nothing.
    Nothing(String),
}

/// Finds each claim's invoice (module docs), then locks the receivables found.
fn find_invoices(
    conn: &mut AnyConnection,
    r: &Remittance,
) -> Result<(Vec<Found>, HashMap<ReceivableId, ReceivableRow>), Error> {
    let numbers: Vec<String> = r
        .claims
        .iter()
        .map(|c| c.patient_control_number.clone())
        .collect();
    let mut sent: HashMap<String, ReferenceRow> = HashMap::new();
    for reference in store::references(conn, &numbers)? {
        let better = match sent.get(&reference.patient_control_number) {
            None => true,
            Some(kept) => {
                let rank = |x: &ReferenceRow| (x.payer_id == r.payer_id, x.sent_at);
                rank(&reference) > rank(kept)
            }
        };
        if better {
            sent.insert(reference.patient_control_number.clone(), reference);
        }
    }
    let unsent: Vec<String> = numbers
        .iter()
        .filter(|n| !sent.contains_key(*n))
        .cloned()
        .collect();
    // A claim sent outside Carebill (or before collections heard it was sent): an invoice of
    // that number to a payer — one whose claims went to this payer id when there are any (never
    // another payer's); when no claim went to it, the invoice number alone decides.
    let payers = store::payer_codes_of(conn, &r.payer_id)?;
    let mut by_number: HashMap<String, Vec<ReceivableRow>> = HashMap::new();
    for row in store::payer_receivables_by_number(conn, &unsent)?
        .into_iter()
        .filter(|row| {
            payers.is_empty() || row.payer_code.as_ref().is_some_and(|p| payers.contains(p))
        })
    {
        by_number
            .entry(row.invoice_number.clone())
            .or_default()
            .push(row);
    }
    let mut invoice_ids: Vec<InvoiceId> = Vec::new();
    for reference in sent.values() {
        invoice_ids.push(
            stored::parse("claim reference invoice id", &reference.invoice_id)
                .map_err(Error::from)?,
        );
    }
    for rows in by_number.values() {
        if let [one] = rows.as_slice() {
            invoice_ids.push(one.invoice_id);
        }
    }
    let locked: HashMap<InvoiceId, ReceivableRow> =
        receivables::lock_for_invoices(conn, &invoice_ids)?
            .into_iter()
            .map(|row| (row.invoice_id, row))
            .collect();
    let mut found = Vec::with_capacity(r.claims.len());
    for c in &r.claims {
        let pcn = &c.patient_control_number;
        let f = if let Some(reference) = sent.get(pcn) {
            let invoice: InvoiceId =
                stored::parse("claim reference invoice id", &reference.invoice_id)
                    .map_err(Error::from)?;
            match locked.get(&invoice) {
                Some(row) => Found::Invoice {
                    claim_id: Some(reference.claim_id.clone()),
                    receivable: row.id,
                },
                None => Found::Nothing(format!(
                    "claim {} was sent for invoice {pcn}, whose receivable is not here yet",
                    reference.claim_id
                )),
            }
        } else {
            match by_number.get(pcn).map(Vec::as_slice) {
                Some([one]) => Found::Invoice {
                    claim_id: None,
                    receivable: one.id,
                },
                Some(_) => Found::Nothing(format!(
                    "more than one payer's receivable has invoice number {pcn}"
                )),
                None => Found::Nothing(format!(
                    "no claim was sent, and no payer was invoiced, with patient control number {pcn}"
                )),
            }
        };
        found.push(f);
    }
    let rows = locked.into_values().map(|row| (row.id, row)).collect();
    Ok((found, rows))
}

/// One claim payment worked out in memory, before anything is written.
struct Worked {
    row: ClaimRow,
    detail: ClaimDetail,
    payment: Option<NewPayment>,
    adjustments: Vec<(usize, AdjustmentKind, i64)>,
    dispute: Option<String>,
    receivable: Option<ReceivableId>,
    location_id: Option<String>,
}

fn detail_of(c: &ClaimPayment, currency: Currency) -> Result<ClaimDetail, Error> {
    let mut adjustments = Vec::new();
    for a in &c.adjustments {
        adjustments.push(StoredCas {
            group: a.group.clone(),
            reason: a.reason.clone(),
            amount_minor: minor(a.amount, currency, "CAS")?,
            absorbed_minor: 0,
            posted_minor: 0,
            line: None,
            remarks: c.remarks.clone(),
            adjustment_id: None,
        });
    }
    let mut lines = Vec::new();
    for l in &c.lines {
        for a in &l.adjustments {
            adjustments.push(StoredCas {
                group: a.group.clone(),
                reason: a.reason.clone(),
                amount_minor: minor(a.amount, currency, "CAS")?,
                absorbed_minor: 0,
                posted_minor: 0,
                line: l.control_number.clone(),
                remarks: l.remarks.clone(),
                adjustment_id: None,
            });
        }
        lines.push(StoredLine {
            control_number: l.control_number.clone(),
            procedure: l.procedure.join(":"),
            charge_minor: minor(l.charge, currency, "SVC02")?,
            paid_minor: minor(l.paid, currency, "SVC03")?,
            units: l.units,
            date: l.date,
            remarks: l.remarks.clone(),
        });
    }
    Ok(ClaimDetail {
        adjustments,
        lines,
        remarks: c.remarks.clone(),
        patient_name: c.patient_name.clone(),
        member_id: c.member_id.clone(),
        frequency: c.frequency.clone(),
        filing_indicator: c.filing_indicator.clone(),
    })
}

fn codes(detail: &ClaimDetail) -> String {
    let mut out: Vec<String> = detail
        .adjustments
        .iter()
        .map(|a| format!("{}-{}", a.group, a.reason))
        .collect();
    out.extend(
        detail
            .adjustments
            .iter()
            .flat_map(|a| a.remarks.iter().cloned()),
    );
    out.dedup();
    out.join(" ")
}

/// What pays a claim payment: its remittance's trace number, day and method.
struct Paying<'a> {
    trace_number: &'a str,
    paid_on: chrono::NaiveDate,
    method: &'a Code,
}

/// A claim payment as read from the file, in `currency`, not matched yet.
fn unposted(
    remittance_id: &str,
    c: &ClaimPayment,
    currency: Currency,
    now: NaiveDateTime,
) -> Result<(ClaimRow, ClaimDetail), Error> {
    let detail = detail_of(c, currency)?;
    let row = ClaimRow {
        id: uuid::Uuid::now_v7().to_string(),
        remittance_id: remittance_id.to_owned(),
        position: i64::try_from(c.position).map_err(|e| Error::internal(&e))?,
        patient_control_number: c.patient_control_number.clone(),
        payer_claim_number: c.payer_claim_number.clone(),
        status_code: c.status.clone(),
        status: status::UNMATCHED.to_owned(),
        currency: currency.to_string(),
        charge_minor: minor(c.charge, currency, "CLP03")?,
        paid_minor: minor(c.paid, currency, "CLP04")?,
        patient_responsibility_minor: minor(c.patient_responsibility, currency, "CLP05")?,
        patient_share_minor: 0,
        unallocated_minor: 0,
        left_owing_minor: 0,
        invoice_id: None,
        invoice_number: None,
        receivable_id: None,
        location_code: None,
        claim_id: None,
        payment_id: None,
        note: String::new(),
        detail: serde_json::to_string(&detail)?,
        posted_by: None,
        posted_at: None,
        created_at: now,
    };
    Ok((row, detail))
}

/// Decides what a claim payment matched to `receivable` (as the e-billing claim `claim_id`, when
/// one) becomes (module docs): its row, and the payment, adjustments and dispute it makes.
/// `owing` follows each receivable through the claims before it.
#[allow(clippy::too_many_arguments)]
fn decide(
    who: &Principal,
    paying: &Paying<'_>,
    mut row: ClaimRow,
    mut detail: ClaimDetail,
    claim_id: Option<String>,
    receivable: &ReceivableRow,
    owing: &mut HashMap<ReceivableId, i64>,
    now: NaiveDateTime,
) -> Result<Worked, Error> {
    let currency = receivable.currency;
    let paid = row.paid_minor;
    let mut worked = Worked {
        row: row.clone(),
        detail: detail.clone(),
        payment: None,
        adjustments: Vec::new(),
        dispute: None,
        receivable: Some(receivable.id),
        location_id: Some(receivable.location_id.to_string()),
    };
    row.invoice_id = Some(receivable.invoice_id.to_string());
    row.invoice_number = Some(receivable.invoice_number.clone());
    row.receivable_id = Some(receivable.id.to_string());
    row.location_code = Some(receivable.location_code.clone());
    row.claim_id = claim_id;
    let has_pr = detail
        .adjustments
        .iter()
        .any(|a| a.group == "PR" && a.amount_minor != 0);
    let reasons = codes(&detail);
    if receivable.currency != usd()? {
        row.status = status::REVIEW.to_owned();
        row.note = format!(
            "invoice {} is in {}; an 835 pays US dollars: nothing was posted",
            receivable.invoice_number, receivable.currency
        );
    } else if receivable.party_kind != PartyKind::Payer {
        row.status = status::REVIEW.to_owned();
        row.note = format!(
            "invoice {} is owed by a {}, not a payer: post it by hand",
            receivable.invoice_number,
            receivable.party_kind.as_str()
        );
    } else if receivable.cancelled() {
        row.status = status::REVIEW.to_owned();
        row.note = format!(
            "invoice {} was cancelled by a credit note: nothing was posted",
            receivable.invoice_number
        );
    } else if row.status_code == "22" || paid < 0 {
        row.status = status::REVIEW.to_owned();
        row.note = "a reversal of an earlier payment: reverse that posting by hand".to_owned();
    } else if row.status_code == "4" || (paid == 0 && !has_pr) {
        row.status = status::DENIED.to_owned();
        row.note = format!("denied by the payer: {reasons}");
        worked.dispute = Some(format!(
            "835 {} claim {}: denied ({reasons})",
            paying.trace_number, row.payer_claim_number
        ));
    } else {
        let before = *owing
            .get(&receivable.id)
            .ok_or_else(|| Error::internal(&"a receivable without what it owes"))?;
        let cas: Vec<Cas> = detail
            .adjustments
            .iter()
            .map(|a| Cas {
                group: a.group.clone(),
                reason: a.reason.clone(),
                amount: a.amount_minor,
            })
            .collect();
        let p = rule::post(paid, before, &cas);
        for (i, (a, (absorbed, posted))) in detail
            .adjustments
            .iter_mut()
            .zip(&p.adjustments)
            .enumerate()
        {
            a.absorbed_minor = *absorbed;
            a.posted_minor = *posted;
            if *posted != 0 {
                worked.adjustments.push((i, cas[i].kind(), *posted));
            }
        }
        let posted: i64 = p.adjustments.iter().map(|(_, x)| x).sum();
        owing.insert(receivable.id, before - p.allocated - posted);
        row.patient_share_minor = p.patient_share;
        row.unallocated_minor = p.unallocated;
        row.left_owing_minor = p.left_owing;
        row.posted_by = Some(who.subject.clone());
        row.posted_at = Some(now);
        if p.unallocated > 0 {
            row.status = status::REVIEW.to_owned();
            row.note = format!(
                "paid {} more than the invoice owed: kept as the payer's credit",
                money(p.unallocated, currency)
            );
        } else if p.left_owing > 0 {
            row.status = status::REVIEW.to_owned();
            row.note = format!(
                "posted; the invoice still owes {} the remittance does not explain",
                money(p.left_owing, currency)
            );
        } else {
            row.status = status::POSTED.to_owned();
            row.note = if p.patient_share > 0 {
                format!(
                    "posted; {} is the patient's responsibility",
                    money(p.patient_share, currency)
                )
            } else {
                "posted".to_owned()
            };
        }
        if paid > 0 {
            let party_id =
                stored::parse("receivable party id", &receivable.party_id).map_err(Error::from)?;
            worked.payment = Some(NewPayment {
                kind: PaymentKind::Payment,
                episode_id: None,
                tenders: Vec::new(),
                party: Payer {
                    kind: PartyKind::Payer,
                    id: party_id,
                },
                amount: money(paid, currency),
                amount_minor: paid,
                method: paying.method.clone(),
                received_on: paying.paid_on,
                reference: Some(
                    format!("{}/{}", paying.trace_number, row.payer_claim_number)
                        .chars()
                        .take(200)
                        .collect(),
                ),
                allocations: if p.allocated > 0 {
                    vec![RequestedAllocation {
                        invoice_id: receivable.invoice_id,
                        amount: money(p.allocated, currency),
                    }]
                } else {
                    Vec::new()
                },
            });
        }
    }
    row.detail = serde_json::to_string(&detail)?;
    worked.row = row;
    worked.detail = detail;
    Ok(worked)
}

/// Writes what the worked claims make: their payments (set-based; each payment's id on its
/// claim), adjustments and disputes.
fn write_postings(
    conn: &mut AnyConnection,
    who: &Principal,
    trace_number: &str,
    worked: &mut [Worked],
    now: NaiveDateTime,
) -> Result<(), Error> {
    let with_payment: Vec<usize> = (0..worked.len())
        .filter(|&i| worked[i].payment.is_some())
        .collect();
    let new_payments: Vec<NewPayment> =
        worked.iter_mut().filter_map(|w| w.payment.take()).collect();
    let recorded = payments::record_many(conn, who, new_payments)?;
    for (i, p) in with_payment.into_iter().zip(recorded) {
        if let Some(w) = worked.get_mut(i) {
            w.row.payment_id = Some(p.id);
        }
    }
    adjust(conn, who, trace_number, worked, now)?;
    dispute(conn, who, worked, now)
}

/// Imports an 835 file in the caller's transaction (module docs). Answers whether any of its
/// remittances was new, and each remittance as stored.
#[tracing::instrument(skip_all, fields(icn = %file.interchange_control_number))]
pub(crate) fn import(
    conn: &mut AnyConnection,
    who: &Principal,
    file: File,
) -> Result<(bool, Vec<RemittanceRecord>), Error> {
    let mut out = Vec::new();
    let mut created = false;
    for r in &file.remittances {
        db::lock_key(
            conn,
            &format!("remittance:{}:{}", r.payer_id, r.trace_number),
        )?;
        if let Some(first) = store::find(conn, &r.payer_id, &r.trace_number)? {
            out.push(remittance_record(first)?);
            continue;
        }
        out.push(post(conn, who, r, &file)?);
        created = true;
    }
    Ok((created, out))
}

/// Posts one remittance (module docs).
fn post(
    conn: &mut AnyConnection,
    who: &Principal,
    r: &Remittance,
    file: &File,
) -> Result<RemittanceRecord, Error> {
    let (found, rows) = find_invoices(conn, r)?;
    let any_matched = found.iter().any(|f| matches!(f, Found::Invoice { .. }));
    if !any_matched && !store::payer_id_known(conn, &r.payer_id)? {
        return Err(Error::new(
            ErrorCode::UnknownPayer,
            format!(
                "no claim was sent to payer id {} ({}), and none of the remittance's {} claims names an invoice issued to a payer",
                r.payer_id,
                r.payer_name,
                r.claims.len()
            ),
        ));
    }
    let now = db::now();
    let id = uuid::Uuid::now_v7().to_string();
    let method = method(&r.method)?;
    let mut owing: HashMap<ReceivableId, i64> = rows
        .values()
        .map(|row| (row.id, row.outstanding().0))
        .collect();
    let paying = Paying {
        trace_number: &r.trace_number,
        paid_on: r.paid_on,
        method: &method,
    };
    let mut worked = Vec::with_capacity(r.claims.len());
    for (c, f) in r.claims.iter().zip(found) {
        match f {
            Found::Invoice {
                claim_id,
                receivable,
            } => {
                let receivable = rows
                    .get(&receivable)
                    .ok_or_else(|| Error::internal(&"a receivable found and not locked"))?;
                let (row, detail) = unposted(&id, c, usd()?, now)?;
                worked.push(decide(
                    who, &paying, row, detail, claim_id, receivable, &mut owing, now,
                )?);
            }
            Found::Nothing(why) => {
                let (mut row, detail) = unposted(&id, c, usd()?, now)?;
                row.note = why;
                worked.push(Worked {
                    row,
                    detail,
                    payment: None,
                    adjustments: Vec::new(),
                    dispute: None,
                    receivable: None,
                    location_id: None,
                });
            }
        }
    }
    write_postings(conn, who, &r.trace_number, &mut worked, now)?;
    // The remittance and its claims.
    let currency = usd()?;
    let mut plb = Vec::new();
    for p in &r.provider_adjustments {
        plb.push(StoredPlb {
            provider_id: p.provider_id.clone(),
            fiscal_period_end: p.fiscal_period_end,
            reason: p.reason.clone(),
            reference: p.reference.clone(),
            amount_minor: minor(p.amount, currency, "PLB")?,
        });
    }
    let count = |s: &str| i64::try_from(worked.iter().filter(|w| w.row.status == s).count());
    let sum = |pred: &dyn Fn(&str) -> bool| -> i64 {
        worked
            .iter()
            .filter(|w| pred(&w.row.status))
            .map(|w| w.row.paid_minor)
            .sum()
    };
    let payer_code = rows.values().find_map(|row| row.payer_code.clone());
    let row = RemittanceRow {
        id: id.clone(),
        payer_id: r.payer_id.clone(),
        trace_number: r.trace_number.clone(),
        payer_code: payer_code.clone(),
        payer_name: r.payer_name.clone(),
        handling: r.handling.clone(),
        method: r.method.clone(),
        paid_on: r.paid_on,
        currency: currency.to_string(),
        total_minor: minor(r.total, currency, "BPR02")?,
        claim_count: i64::try_from(worked.len()).map_err(|e| Error::internal(&e))?,
        posted_count: count(status::POSTED).map_err(|e| Error::internal(&e))?,
        review_count: count(status::REVIEW).map_err(|e| Error::internal(&e))?,
        denied_count: count(status::DENIED).map_err(|e| Error::internal(&e))?,
        unmatched_count: count(status::UNMATCHED).map_err(|e| Error::internal(&e))?,
        posted_minor: worked
            .iter()
            .filter(|w| w.row.payment_id.is_some())
            .map(|w| w.row.paid_minor)
            .sum(),
        unmatched_minor: sum(&|s| s == status::UNMATCHED),
        provider_adjustments: serde_json::to_string(&plb)?,
        interchange_control_number: file.interchange_control_number.clone(),
        transaction_control_number: r.transaction_control_number.clone(),
        digest: file.digest.clone(),
        imported_by: who.subject.clone(),
        imported_at: now,
        updated_at: now,
    };
    let event = RemittancePostedV1 {
        remittance_id: id.clone(),
        payer_code,
        payer_id: r.payer_id.clone(),
        trace_number: r.trace_number.clone(),
        paid_on: r.paid_on,
        total: money(row.total_minor, currency),
        claims: worked
            .iter()
            .filter(|w| w.row.status != status::UNMATCHED)
            .map(|w| remitted(&w.row, &w.detail))
            .collect::<Result<_, Error>>()?,
        posted_by: who.subject.clone(),
        posted_at: now.and_utc(),
    };
    let summary = serde_json::json!({
        "payer_id": row.payer_id,
        "trace_number": row.trace_number,
        "total": money(row.total_minor, currency),
        "claims": row.claim_count,
        "posted": row.posted_count,
        "review": row.review_count,
        "denied": row.denied_count,
        "unmatched": row.unmatched_count,
    });
    let (total_minor, currency_code) = (row.total_minor, row.currency.clone());
    store::insert(conn, row, worked.into_iter().map(|w| w.row).collect())?;
    super::bank_statements::remittance_imported(
        conn,
        &id,
        &r.trace_number,
        total_minor,
        &currency_code,
    )?;
    announce(conn, who, &event, now)?;
    audit::record(conn, who, "import", "remittance", &id, summary, None)?;
    get(conn, &id)
}

/// Announces a remittance's postings through the outbox.
fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    event: &RemittancePostedV1,
    now: NaiveDateTime,
) -> Result<(), Error> {
    let env = Envelope::new(
        crate::SERVICE,
        event,
        now.and_utc(),
        who.request_id.clone(),
        None,
    )
    .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)
}

/// Posts the worked claims' adjustments: one receivable adjustment per posted CAS amount, each
/// receivable's `adjusted` and status changed once, audited once.
fn adjust(
    conn: &mut AnyConnection,
    who: &Principal,
    trace_number: &str,
    worked: &mut [Worked],
    now: NaiveDateTime,
) -> Result<(), Error> {
    let ids: Vec<ReceivableId> = worked
        .iter()
        .filter(|w| !w.adjustments.is_empty())
        .filter_map(|w| w.receivable)
        .collect();
    if ids.is_empty() {
        return Ok(());
    }
    // As the payments left them.
    let mut current: HashMap<ReceivableId, ReceivableRow> = receivables::by_ids(conn, &ids)?
        .into_iter()
        .map(|row| (row.id, row))
        .collect();
    let mut rows = Vec::new();
    let mut changed: HashMap<ReceivableId, i64> = HashMap::new();
    for w in worked.iter_mut() {
        let Some(receivable) = w.receivable else {
            continue;
        };
        for (i, kind, posted) in std::mem::take(&mut w.adjustments) {
            let adjustment_id = uuid::Uuid::now_v7().to_string();
            let Some(a) = w.detail.adjustments.get_mut(i) else {
                return Err(Error::internal(&"an adjustment out of its claim"));
            };
            a.adjustment_id = Some(adjustment_id.clone());
            let mut reason = format!(
                "835 {} claim {}: {}-{}",
                trace_number, w.row.payer_claim_number, a.group, a.reason
            );
            if let Some(line) = &a.line {
                reason.push_str(&format!(" (line {line})"));
            }
            if !a.remarks.is_empty() {
                reason.push_str(&format!(" [{}]", a.remarks.join(" ")));
            }
            rows.push(AdjustmentRow {
                id: adjustment_id,
                receivable_id: receivable,
                kind,
                amount_minor: -posted,
                reason,
                recorded_by: who.subject.clone(),
                recorded_at: now,
            });
            *changed.entry(receivable).or_default() -= posted;
        }
        w.row.detail = serde_json::to_string(&w.detail)?;
    }
    adjustment_store::insert_many(conn, rows)?;
    let mut audits = Vec::new();
    let mut ordered: Vec<(ReceivableId, i64)> = changed.into_iter().collect();
    ordered.sort_by_key(|(id, _)| id.to_string());
    for (id, by) in ordered {
        let row = current
            .get_mut(&id)
            .ok_or_else(|| Error::internal(&"an adjusted receivable not read"))?;
        let adjusted = row.adjusted_minor + by;
        let status = base_status(
            MinorUnits(row.total_minor + adjusted),
            MinorUnits(row.credited_minor),
            MinorUnits(row.paid_minor),
            MinorUnits(row.written_off_minor),
            false,
        );
        receivables::set_adjusted(conn, id, adjusted, status, now)?;
        let c = row.currency;
        audits.push((
            row.location_id.to_string(),
            id.to_string(),
            serde_json::json!({
                "remittance": trace_number,
                "adjusted": { "before": money(row.adjusted_minor, c), "after": money(adjusted, c) },
                "status": { "before": row.status, "after": status },
            }),
        ));
    }
    let changes: Vec<audit::Change<'_>> = audits
        .iter()
        .map(|(location, id, changes)| audit::Change {
            action: "adjust",
            entity_type: "receivable",
            entity_id: id,
            location_id: Some(location),
            changes: audit::Snapshot::Json(changes.clone()),
            reason: Some("remittance"),
        })
        .collect();
    audit::record_many(conn, who, &changes)?;
    Ok(())
}

/// Opens a dispute of each denied claim's receivable, unless one is open.
fn dispute(
    conn: &mut AnyConnection,
    who: &Principal,
    worked: &[Worked],
    now: NaiveDateTime,
) -> Result<(), Error> {
    for w in worked {
        let (Some(reason), Some(receivable)) = (&w.dispute, w.receivable) else {
            continue;
        };
        if dispute_store::open_of(conn, receivable)?.is_some() {
            continue;
        }
        let row = DisputeRow {
            id: uuid::Uuid::now_v7().to_string(),
            receivable_id: receivable,
            reason: reason.clone(),
            opened_at: now,
            opened_by: who.subject.clone(),
            resolved_at: None,
            resolved_by: None,
            resolution: None,
        };
        let dispute_id = row.id.clone();
        dispute_store::insert(conn, row)?;
        audit::record_at(
            conn,
            who,
            w.location_id.as_deref().unwrap_or_default(), // not stored: a matched claim has its location
            "dispute",
            "receivable",
            &receivable.to_string(),
            serde_json::json!({ "dispute_id": dispute_id, "disputed": { "before": false, "after": true } }),
            Some(reason),
        )?;
    }
    Ok(())
}

fn remitted(row: &ClaimRow, detail: &ClaimDetail) -> Result<RemittedClaim, Error> {
    let c = Currency::parse(&row.currency).map_err(|e| Error::internal(&e))?;
    let invoice_id: InvoiceId = stored::parse(
        "remittance claim invoice id",
        row.invoice_id.as_deref().unwrap_or_default(), // not stored: only matched claims are announced
    )
    .map_err(Error::from)?;
    let claim_id: Option<EBillingClaimId> = row
        .claim_id
        .as_deref()
        .map(|id| stored::parse("remittance claim claim id", id))
        .transpose()
        .map_err(Error::from)?;
    Ok(RemittedClaim {
        remittance_claim_id: row.id.clone(),
        invoice_id,
        claim_id,
        patient_control_number: row.patient_control_number.clone(),
        payer_claim_number: row.payer_claim_number.clone(),
        status_code: row.status_code.clone(),
        status: row.status.clone(),
        charge: money(row.charge_minor, c),
        paid: money(row.paid_minor, c),
        patient_responsibility: money(row.patient_responsibility_minor, c),
        patient_share: money(row.patient_share_minor, c),
        adjustments: detail
            .adjustments
            .iter()
            .map(|a| RemittedAdjustment {
                group: a.group.clone(),
                reason: a.reason.clone(),
                amount: money(a.amount_minor, c),
                posted: money(a.posted_minor, c),
                line: a.line.clone(),
            })
            .collect(),
        lines: detail
            .lines
            .iter()
            .map(|l| RemittedLine {
                control_number: l.control_number.clone(),
                procedure: l.procedure.clone(),
                charge: money(l.charge_minor, c),
                paid: money(l.paid_minor, c),
                units: l.units,
                remarks: l.remarks.clone(),
            })
            .collect(),
    })
}

/// Matches an unmatched claim payment to the invoice `invoice_id` by hand and posts it as an
/// import would (module docs), in the caller's transaction: 409 `already_matched` unless it is
/// waiting; 422 naming `invoice_id` when no receivable of that invoice exists or it is in
/// another currency. Announced by a `remittance.posted` of that one claim.
#[tracing::instrument(skip_all, fields(remittance_claim = %id))]
pub(crate) fn match_by_hand(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    invoice_id: InvoiceId,
) -> Result<ClaimRecord, Error> {
    if store::claim(conn, id)?.is_none() {
        return Err(Error::not_found("remittance claim"));
    }
    // Receivables, then the claim, then its remittance: every writer's order.
    let receivable = receivables::lock_for_invoices(conn, &[invoice_id])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::field("invoice_id", "unknown", "no receivable of this invoice"))?;
    db::lock_row(conn, "remittance_claims", id)?;
    let row = store::claim(conn, id)?.ok_or_else(|| Error::not_found("remittance claim"))?;
    if row.status != status::UNMATCHED {
        return Err(Error::new(
            ErrorCode::AlreadyMatched,
            format!(
                "the claim payment is {}, not waiting to be matched",
                row.status
            ),
        ));
    }
    if receivable.party_kind != PartyKind::Payer || receivable.cancelled() {
        return Err(Error::field(
            "invoice_id",
            "not_payable",
            "a remittance pays a payer's invoice that stands: this one is a patient's or was cancelled",
        ));
    }
    if receivable.currency.to_string() != row.currency {
        return Err(Error::field(
            "invoice_id",
            "currency_mismatch",
            format!(
                "the invoice is in {}, the remittance in {}",
                receivable.currency, row.currency
            ),
        ));
    }
    db::lock_row(conn, "remittances", &row.remittance_id)?;
    let mut remittance = store::remittance(conn, &row.remittance_id)?
        .ok_or_else(|| Error::internal(&"a claim payment without its remittance"))?;
    let method = method(&remittance.method)?;
    let paying = Paying {
        trace_number: &remittance.trace_number,
        paid_on: remittance.paid_on,
        method: &method,
    };
    let detail: ClaimDetail =
        stored::json("remittance claim detail", &row.detail).map_err(Error::from)?;
    let now = db::now();
    let mut owing = HashMap::from([(receivable.id, receivable.outstanding().0)]);
    let paid = row.paid_minor;
    let mut worked = vec![decide(
        who,
        &paying,
        row,
        detail,
        None,
        &receivable,
        &mut owing,
        now,
    )?];
    write_postings(conn, who, &remittance.trace_number, &mut worked, now)?;
    let w = worked
        .pop()
        .ok_or_else(|| Error::internal(&"a matched claim lost"))?;
    store::update_claim(conn, &w.row)?;
    remittance.unmatched_count -= 1;
    remittance.unmatched_minor -= paid;
    match w.row.status.as_str() {
        status::POSTED => remittance.posted_count += 1,
        status::DENIED => remittance.denied_count += 1,
        _ => remittance.review_count += 1,
    }
    if w.row.payment_id.is_some() {
        remittance.posted_minor += paid;
    }
    if remittance.payer_code.is_none() {
        remittance.payer_code = receivable.payer_code.clone();
    }
    remittance.updated_at = now;
    store::set_counts(conn, &remittance)?;
    let event = RemittancePostedV1 {
        remittance_id: remittance.id.clone(),
        payer_code: remittance.payer_code.clone(),
        payer_id: remittance.payer_id.clone(),
        trace_number: remittance.trace_number.clone(),
        paid_on: remittance.paid_on,
        total: money(remittance.total_minor, receivable.currency),
        claims: vec![remitted(&w.row, &w.detail)?],
        posted_by: who.subject.clone(),
        posted_at: now.and_utc(),
    };
    announce(conn, who, &event, now)?;
    audit::record_at(
        conn,
        who,
        &receivable.location_id.to_string(),
        "match",
        "remittance_claim",
        id,
        serde_json::json!({
            "invoice_id": invoice_id,
            "invoice_number": receivable.invoice_number,
            "status": { "before": status::UNMATCHED, "after": w.row.status },
            "payment_id": w.row.payment_id,
        }),
        None,
    )?;
    claim(conn, id)
}
