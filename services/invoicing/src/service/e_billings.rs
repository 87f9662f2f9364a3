//! E-billings (seed 002): the issued payer invoices of one billing provider to one payer,
//! selected by a filter of claimable entries or by invoice ids, each one claim, checked
//! together ([`claim_check::check_many`]). An e-billing is `missing_info` while some claim has
//! gaps and `ready` when none has; the biller fixes the records the gaps point to and checks
//! again. Its invoices are claimed (no longer claimable, in no other e-billing) until it is
//! cancelled.
//!
//! Decisions: an e-billing is one provider's (the 837's billing provider, and what a scoped
//! user sees); a filter that matches several providers' invoices is refused, naming them. A
//! filter claims whole invoices: one matching line brings its invoice. An invoice cancelled after
//! it was claimed becomes a gap of its claim (the e-billing is cancelled and its corrective
//! invoice claimed in a new one). The e-billing is numbered when made, in its provider's series
//! (`H1-EB-2026-000001`).

use std::collections::{BTreeMap, HashMap};

use carebill_domain::Money;
use carebill_domain::e_billing::{ClaimStatus, EBillingStatus};
use carebill_domain::ids::{EBillingClaimId, EBillingId, InvoiceId, LocationId};
use carebill_domain::invoicing::{DocumentKind, issue_date, money};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, Datelike as _, Utc};
use serde::Serialize;

use super::claim_check::{self, Checked, GapView};
use super::claim_corrections::{self, Claiming};
use super::claimable::{self, Filter};
pub(crate) use crate::store::e_billings::ListFilter;
use crate::store::e_billings::{self as store, ClaimRow, EBillingRow};
use crate::store::invoices::{self, InvoiceRow};
use crate::store::series;

/// The most claims one e-billing holds.
pub(crate) const MAX_CLAIMS: usize = 20_000;

/// How many claims a missing-information group names.
const NAMED_CLAIMS: usize = 10;

/// What an e-billing is made from.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Selection {
    /// Every claimable invoice with a line the filter matches.
    Filter(Filter),
    /// These invoices.
    InvoiceIds(Vec<InvoiceId>),
}

/// A new e-billing, validated.
#[derive(Debug, Clone)]
pub(crate) struct NewEBilling {
    /// The payer claimed.
    pub payer_code: String,
    /// What it claims.
    pub selection: Selection,
}

/// An e-billing as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct EBilling {
    /// Id.
    pub id: EBillingId,
    /// Number in the billing provider's series.
    pub number: String,
    /// Where it stands.
    pub status: EBillingStatus,
    /// The billing provider.
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// The payer claimed.
    pub payer_code: String,
    /// What it was made from.
    pub selection: serde_json::Value,
    /// How many claims.
    pub claim_count: i32,
    /// How many are whole.
    pub ready_count: i32,
    /// How many gaps its claims have in all.
    pub gap_count: i32,
    /// What its claims charge.
    pub total_charge: Money,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When its claims were last checked.
    pub checked_at: DateTime<Utc>,
    /// Who cancelled it.
    pub cancelled_by: Option<String>,
    /// When.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Who took its file.
    pub sent_by: Option<String>,
    /// When.
    pub sent_at: Option<DateTime<Utc>>,
}

impl EBilling {
    fn of(r: EBillingRow) -> Result<EBilling, Error> {
        Ok(EBilling {
            id: r.id,
            number: r.number,
            status: r.status,
            location_id: r.location_id,
            location_code: r.location_code,
            payer_code: r.payer_code,
            selection: carebill_domain::stored::json("e-billing selection", &r.selection)
                .map_err(Error::from)?,
            claim_count: r.claim_count,
            ready_count: r.ready_count,
            gap_count: r.gap_count,
            total_charge: money(r.total_charge_minor, r.currency),
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
            checked_at: r.checked_at.and_utc(),
            cancelled_by: r.cancelled_by,
            cancelled_at: r.cancelled_at.map(|t| t.and_utc()),
            sent_by: r.sent_by,
            sent_at: r.sent_at.map(|t| t.and_utc()),
        })
    }
}

/// One claim of an e-billing.
#[derive(Debug, Clone)]
pub(crate) struct Claim {
    /// Id.
    pub id: EBillingClaimId,
    /// The e-billing.
    pub e_billing_id: EBillingId,
    /// 1-based position in it.
    pub position: i32,
    /// The invoice claimed.
    pub invoice_id: InvoiceId,
    /// Its number (the patient control number).
    pub invoice_number: String,
    /// CLM05-3.
    pub frequency: String,
    /// The credit note a replacement or void answers.
    pub credit_note_id: Option<String>,
    /// The claim a replacement or void corrects.
    pub corrects_claim_id: Option<String>,
    /// `837P` or `837I`, once whole.
    pub format: Option<String>,
    /// What the claim charges.
    pub charge: Money,
    /// Where it stands.
    pub status: ClaimStatus,
    /// Whether it holds its invoice.
    pub active: bool,
    /// REF*1K: the payer's claim control number.
    pub payer_claim_number: Option<String>,
    /// What it lacks.
    pub gaps: Vec<GapView>,
}

fn claim_of(r: ClaimRow, currency: carebill_domain::Currency) -> Result<Claim, Error> {
    Ok(Claim {
        id: r.id,
        e_billing_id: r.e_billing_id,
        position: r.position,
        invoice_id: carebill_domain::stored::parse("claimed invoice id", &r.invoice_id)
            .map_err(Error::from)?,
        invoice_number: r.invoice_number,
        frequency: r.frequency,
        credit_note_id: r.credit_note_id,
        corrects_claim_id: r.corrects_claim_id,
        format: r.format,
        charge: money(r.charge_minor, currency),
        status: r.status,
        active: r.active,
        payer_claim_number: r.payer_claim_number,
        gaps: carebill_domain::stored::json("claim gaps", &r.gaps).map_err(Error::from)?,
    })
}

/// Something missing, with the claims it holds up.
#[derive(Debug, Clone)]
pub(crate) struct Missing {
    /// The gap (as the first claim found it).
    pub gap: GapView,
    /// How many claims lack it.
    pub claims: usize,
    /// The first of them.
    pub claim_ids: Vec<EBillingClaimId>,
    /// Their invoices' numbers.
    pub invoice_numbers: Vec<String>,
}

/// What one invoice's claim is, after a check.
struct Outcome {
    claiming: Claiming,
    status: ClaimStatus,
    format: Option<String>,
    charge_minor: i64,
    gaps: Vec<GapView>,
    claim: Option<carebill_domain::claim::Claim>,
}

fn outcome(c: Checked) -> Result<(InvoiceRow, Outcome), Error> {
    let charge_minor = match &c.claim {
        Some(claim) => {
            Money::new(claim.total_charge(), c.invoice.currency)
                .and_then(|m| m.to_minor())
                .map_err(|e| Error::internal(&e))?
                .0
        }
        None => 0,
    };
    let format = c.format().map(str::to_owned);
    let gaps: Vec<GapView> = c.gaps.into_iter().map(GapView::of).collect();
    let status = if gaps.is_empty() && c.claim.is_some() {
        ClaimStatus::Ready
    } else {
        ClaimStatus::MissingInfo
    };
    Ok((
        c.invoice,
        Outcome {
            claiming: c.claiming,
            status,
            format,
            charge_minor,
            gaps,
            claim: c.claim,
        },
    ))
}

/// Sums the outcomes into the e-billing's counts and status.
fn tally(row: &mut EBillingRow, outcomes: &[&Outcome]) -> Result<(), Error> {
    let count = |n: usize| i32::try_from(n).map_err(|e| Error::internal(&e));
    row.claim_count = count(outcomes.len())?;
    row.ready_count = count(
        outcomes
            .iter()
            .filter(|o| o.status == ClaimStatus::Ready)
            .count(),
    )?;
    row.gap_count = count(outcomes.iter().map(|o| o.gaps.len()).sum())?;
    row.total_charge_minor = outcomes.iter().map(|o| o.charge_minor).sum();
    row.status = if row.ready_count == row.claim_count {
        EBillingStatus::Ready
    } else {
        EBillingStatus::MissingInfo
    };
    Ok(())
}

/// The invoices a selection claims, in invoice order, checked to be claimable by the caller,
/// each with how it is claimed.
fn selected(
    conn: &mut AnyConnection,
    scope: &Scope,
    new: &NewEBilling,
) -> Result<Vec<(InvoiceRow, Claiming)>, Error> {
    let mut rows = match &new.selection {
        Selection::Filter(f) => {
            let mut ids: Vec<String> = claimable::all(conn, scope, f)?
                .into_iter()
                .map(|e| e.row.invoice_id)
                .collect();
            ids.dedup();
            if ids.len() > MAX_CLAIMS {
                return Err(Error::field(
                    "filter",
                    "too_many",
                    format!(
                        "the filter matches {} invoices; an e-billing claims {MAX_CLAIMS} at most: narrow the days",
                        ids.len()
                    ),
                ));
            }
            let rows = invoices::by_ids(conn, ids)?;
            let mut next = claim_corrections::next_claims(conn, &rows)?;
            rows.into_iter()
                .filter_map(|r| next.remove(&r.id.to_string()).map(|c| (r, c)))
                .collect()
        }
        Selection::InvoiceIds(ids) => by_ids(conn, scope, &new.payer_code, ids)?,
    };
    rows.sort_by_key(|(r, _)| r.id);
    let mut providers: Vec<&str> = rows.iter().map(|(r, _)| r.location_code.as_str()).collect();
    providers.sort_unstable();
    providers.dedup();
    if providers.len() > 1 {
        let field = match new.selection {
            Selection::Filter(_) => "filter.provider",
            Selection::InvoiceIds(_) => "invoice_ids",
        };
        return Err(Error::field(
            field,
            "several_providers",
            format!(
                "the invoices are of billing providers {}; an e-billing claims one provider's",
                providers.join(", ")
            ),
        ));
    }
    let mut currencies: Vec<&str> = rows.iter().map(|(r, _)| r.currency.code()).collect();
    currencies.sort_unstable();
    currencies.dedup();
    if currencies.len() > 1 {
        return Err(Error::field(
            "invoice_ids",
            "several_currencies",
            format!(
                "the invoices are in {}; an e-billing's claims share one currency",
                currencies.join(", ")
            ),
        ));
    }
    Ok(rows)
}

/// The invoices named by id: each in the caller's scope, to the payer, and with a claim to
/// make (never claimed, or a claim on file to correct); every problem named at once.
fn by_ids(
    conn: &mut AnyConnection,
    scope: &Scope,
    payer_code: &str,
    ids: &[InvoiceId],
) -> Result<Vec<(InvoiceRow, Claiming)>, Error> {
    let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
    let found: Vec<InvoiceRow> = invoices::by_ids(conn, keys.clone())?
        .into_iter()
        .filter(|r| scope.allows(&r.location_code, r.payer_code.as_deref()))
        .collect();
    let mut next = claim_corrections::next_claims(conn, &found)?;
    let mut found: HashMap<String, InvoiceRow> =
        found.into_iter().map(|r| (r.id.to_string(), r)).collect();
    let claimed: HashMap<String, String> =
        store::actively_claimed(conn, &keys)?.into_iter().collect();
    let mut v = carebill_domain::Validation::new();
    let mut rows = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::new();
    for (i, key) in keys.iter().enumerate() {
        let field = format!("invoice_ids[{i}]");
        if !seen.insert(key) {
            v.add(&field, "duplicate", "named twice");
            continue;
        }
        let Some(row) = found.remove(key) else {
            v.add(&field, "unknown", format!("no invoice {key} in your scope"));
            continue;
        };
        if let Err(e) = claim_check::payer_of(&row) {
            v.add(&field, e.code().as_str(), e.detail());
            continue;
        }
        if row.payer_code.as_deref() != Some(payer_code) {
            v.add(
                &field,
                "other_payer",
                format!("invoice {} is to another payer", row.number),
            );
            continue;
        }
        let Some(claiming) = next.remove(key) else {
            if let Err(e) = claim_check::claimable(&row) {
                v.add(&field, e.code().as_str(), e.detail());
            } else if let Some(number) = claimed.get(key) {
                v.add(
                    &field,
                    "already_claimed",
                    format!(
                        "invoice {} is claimed in e-billing {number}, and no credit note since asks to correct it",
                        row.number
                    ),
                );
            } else {
                v.add(
                    &field,
                    "already_claimed",
                    format!("invoice {} has no claim to make", row.number),
                );
            }
            continue;
        };
        rows.push((row, claiming));
    }
    v.finish().map_err(Error::validation)?;
    Ok(rows)
}

/// Makes an e-billing of the selected invoices and checks their claims: `ready` when every
/// claim is whole, `missing_info` otherwise. 422 `no_claimable_entries` when nothing is selected.
pub(crate) fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    new: NewEBilling,
) -> Result<EBilling, Error> {
    let scope = Scope::of(who);
    let mut new = new;
    if let Selection::Filter(f) = &mut new.selection {
        f.payer = Some(new.payer_code.clone());
    }
    let rows = selected(conn, &scope, &new)?;
    let Some((first, _)) = rows.first() else {
        return Err(Error::new(
            ErrorCode::NoClaimableEntries,
            format!(
                "nothing issued to payer {} matches, or all of it is claimed already",
                new.payer_code
            ),
        ));
    };
    let (location_id, location_code, currency) = (
        first.location_id,
        first.location_code.clone(),
        first.currency,
    );
    let now = db::now();
    let year = issue_date(now.and_utc(), &first.location_time_zone)
        .map_err(|e| Error::internal(&e))?
        .year();
    let checked: Vec<(InvoiceRow, Outcome)> = claim_check::check_many(conn, &new.payer_code, rows)?
        .into_iter()
        .map(outcome)
        .collect::<Result<_, _>>()?;
    let number = series::next_number(
        conn,
        location_id,
        &location_code,
        DocumentKind::EBilling,
        year,
    )?;
    let mut row = EBillingRow {
        id: EBillingId::new(),
        number,
        location_id,
        location_code,
        payer_code: new.payer_code,
        status: EBillingStatus::MissingInfo,
        selection: serde_json::to_string(&new.selection)?,
        currency,
        claim_count: 0,
        ready_count: 0,
        gap_count: 0,
        total_charge_minor: 0,
        created_by: who.subject.clone(),
        created_at: now,
        checked_at: now,
        cancelled_by: None,
        cancelled_at: None,
        sent_by: None,
        sent_at: None,
    };
    tally(
        &mut row,
        &checked.iter().map(|(_, o)| o).collect::<Vec<_>>(),
    )?;
    let claims = checked
        .into_iter()
        .zip(1..)
        .map(|((invoice, o), position)| {
            claim_row(row.id, EBillingClaimId::new(), position, &invoice, o, now)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let id = row.id;
    store::insert(conn, row, claims)?;
    let e_billing = get(conn, &Scope::everything(), id)?;
    audit::record_at(
        conn,
        who,
        &e_billing.location_id.to_string(),
        "create",
        "e_billing",
        &id.to_string(),
        serde_json::json!({ "after": &e_billing }),
        None,
    )?;
    Ok(e_billing)
}

fn claim_row(
    e_billing_id: EBillingId,
    id: EBillingClaimId,
    position: i32,
    invoice: &InvoiceRow,
    o: Outcome,
    at: chrono::NaiveDateTime,
) -> Result<ClaimRow, Error> {
    Ok(ClaimRow {
        id,
        e_billing_id,
        position,
        invoice_id: invoice.id.to_string(),
        invoice_number: invoice.number.clone(),
        frequency: o.claiming.frequency.code().to_owned(),
        credit_note_id: o.claiming.credit_note_id.map(|n| n.to_string()),
        corrects_claim_id: o.claiming.corrects.as_ref().map(|c| c.id.to_string()),
        format: o.format,
        charge_minor: o.charge_minor,
        status: o.status,
        gaps: serde_json::to_string(&o.gaps)?,
        active: true,
        payer_claim_number: None,
        updated_at: at,
    })
}

/// An e-billing that may still change: found in the caller's scope, locked, neither sent nor
/// cancelled.
pub(crate) fn open(
    conn: &mut AnyConnection,
    who: &Principal,
    id: EBillingId,
) -> Result<EBillingRow, Error> {
    let scope = Scope::of(who);
    store::find_in_scope(conn, &scope, id)?.ok_or_else(|| Error::not_found("e-billing"))?;
    store::lock(conn, id)?;
    let row =
        store::find_in_scope(conn, &scope, id)?.ok_or_else(|| Error::not_found("e-billing"))?;
    if matches!(row.status, EBillingStatus::Sent | EBillingStatus::Cancelled) {
        return Err(Error::new(
            ErrorCode::EBillingClosed,
            format!("e-billing {} is {}", row.number, row.status),
        ));
    }
    Ok(row)
}

/// Checks an e-billing's claims again against the master data as invoicing holds it now (after
/// the biller fixed what the gaps named). Its claims keep their ids.
pub(crate) fn check(
    conn: &mut AnyConnection,
    who: &Principal,
    id: EBillingId,
) -> Result<EBilling, Error> {
    let mut row = open(conn, who, id)?;
    let before = (row.status, row.gap_count);
    let (rows, _) = recheck(conn, &mut row)?;
    store::replace_claims(conn, &row, rows)?;
    let after = get(conn, &Scope::everything(), id)?;
    audit::record_at(
        conn,
        who,
        &after.location_id.to_string(),
        "check",
        "e_billing",
        &id.to_string(),
        serde_json::json!({ "before": { "status": before.0, "gap_count": before.1 },
            "after": { "status": after.status, "gap_count": after.gap_count } }),
        None,
    )?;
    Ok(after)
}

/// The gap of a claim whose invoice was cancelled after it was claimed.
fn cancelled_gap(invoice: &InvoiceRow) -> GapView {
    GapView {
        loop_id: "2300".to_owned(),
        segment: "CLM".to_owned(),
        element: "CLM01".to_owned(),
        name: "Patient Control Number".to_owned(),
        what: format!("invoice {} was cancelled after it was claimed", invoice.number),
        why: "a cancelled invoice is not claimed: cancel this e-billing and claim its corrective invoice in a new one".to_owned(),
        resource: "invoice".to_owned(),
        href: format!("/v1/invoices/{}", invoice.id),
        kind: "invalid".to_owned(),
        as_of: None,
    }
}

/// An e-billing's claims checked again: their rows as they now are (same ids, in order) and
/// each one's claim when whole; the e-billing's counts and status are updated in `row`.
pub(crate) fn recheck(
    conn: &mut AnyConnection,
    row: &mut EBillingRow,
) -> Result<(Vec<ClaimRow>, Vec<Option<carebill_domain::claim::Claim>>), Error> {
    let claims = store::claims_of(conn, row.id)?;
    let mut claiming = claim_corrections::stored(conn, &claims)?;
    let mut by_id: HashMap<String, InvoiceRow> =
        invoices::by_ids(conn, claims.iter().map(|c| c.invoice_id.clone()).collect())?
            .into_iter()
            .map(|r| (r.id.to_string(), r))
            .collect();
    let mut live = Vec::with_capacity(claims.len());
    let mut outcomes: HashMap<String, Outcome> = HashMap::new();
    for c in &claims {
        let invoice = by_id
            .remove(&c.invoice_id)
            .ok_or_else(|| Error::internal(&format!("claimed invoice {} is gone", c.invoice_id)))?;
        let how = claiming
            .remove(&c.id.to_string())
            .ok_or_else(|| Error::internal(&"a claim's kind was not read"))?;
        let void = how.frequency == carebill_domain::claim::Frequency::Void;
        if void || claim_check::claimable(&invoice).is_ok() {
            live.push((invoice, how));
        } else {
            let gaps = vec![cancelled_gap(&invoice)];
            outcomes.insert(
                invoice.id.to_string(),
                Outcome {
                    claiming: how,
                    status: ClaimStatus::MissingInfo,
                    format: None,
                    charge_minor: 0,
                    gaps,
                    claim: None,
                },
            );
        }
    }
    for c in claim_check::check_many(conn, &row.payer_code, live)? {
        let (invoice, o) = outcome(c)?;
        outcomes.insert(invoice.id.to_string(), o);
    }
    let now = db::now();
    let mut rows = Vec::with_capacity(claims.len());
    let mut built = Vec::with_capacity(claims.len());
    let mut checked = Vec::with_capacity(claims.len());
    for c in claims {
        let o = outcomes
            .remove(&c.invoice_id)
            .ok_or_else(|| Error::internal(&"a claim was not checked"))?;
        rows.push(ClaimRow {
            format: o.format.clone(),
            charge_minor: o.charge_minor,
            status: o.status,
            gaps: serde_json::to_string(&o.gaps)?,
            updated_at: now,
            ..c
        });
        built.push(o.claim.clone());
        checked.push(o);
    }
    tally(row, &checked.iter().collect::<Vec<_>>())?;
    row.checked_at = now;
    Ok((rows, built))
}

/// Cancels an e-billing before it is sent: its invoices are claimable again.
pub(crate) fn cancel(
    conn: &mut AnyConnection,
    who: &Principal,
    id: EBillingId,
) -> Result<EBilling, Error> {
    let row = open(conn, who, id)?;
    store::cancel(conn, id, &who.subject, db::now())?;
    let after = get(conn, &Scope::everything(), id)?;
    audit::record_at(
        conn,
        who,
        &row.location_id.to_string(),
        "cancel",
        "e_billing",
        &id.to_string(),
        serde_json::json!({ "before": { "status": row.status }, "after": { "status": after.status } }),
        None,
    )?;
    Ok(after)
}

/// One e-billing in the caller's scope.
pub(crate) fn get(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: EBillingId,
) -> Result<EBilling, Error> {
    EBilling::of(
        store::find_in_scope(conn, scope, id)?.ok_or_else(|| Error::not_found("e-billing"))?,
    )
}

/// A page of the e-billings in the caller's scope, oldest first.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &ListFilter,
    page: &PageRequest,
) -> Result<Page<EBilling>, Error> {
    let rows = store::list(conn, scope, f, page)?;
    let page = Page::from_rows(rows, page, |r| r.id.to_string());
    Ok(Page {
        items: page
            .items
            .into_iter()
            .map(EBilling::of)
            .collect::<Result<_, _>>()?,
        next_cursor: page.next_cursor,
    })
}

/// A page of an e-billing's claims, in order (the cursor names the last claim read).
pub(crate) fn claims(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: EBillingId,
    page: &PageRequest,
) -> Result<(EBilling, Page<Claim>), Error> {
    let e_billing = get(conn, scope, id)?;
    let after = match &page.after {
        None => 0,
        Some(last) => {
            let last: EBillingClaimId = carebill_domain::stored::parse("cursor", last)
                .map_err(|_| Error::field("cursor", "invalid", "not a cursor of this list"))?;
            store::claim(conn, last)?
                .filter(|c| c.e_billing_id == id)
                .ok_or_else(|| Error::field("cursor", "invalid", "not a cursor of this list"))?
                .position
        }
    };
    let rows = store::claims_page(conn, id, after, page.limit + 1)?;
    let rows = Page::from_rows(rows, page, |r| r.id.to_string());
    let currency = e_billing.total_charge.currency();
    let items = rows
        .items
        .into_iter()
        .map(|r| claim_of(r, currency))
        .collect::<Result<_, _>>()?;
    Ok((
        e_billing,
        Page {
            items,
            next_cursor: rows.next_cursor,
        },
    ))
}

/// One claim, when its e-billing is in the caller's scope.
pub(crate) fn claim(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: EBillingClaimId,
) -> Result<Claim, Error> {
    let row = store::claim(conn, id)?.ok_or_else(|| Error::not_found("e-billing claim"))?;
    let e_billing =
        get(conn, scope, row.e_billing_id).map_err(|_| Error::not_found("e-billing claim"))?;
    claim_of(row, e_billing.total_charge.currency())
}

/// Sets the payer's claim control number of a sent claim, as a person read it from the payer's
/// portal (when no 277CA or 835 gave it): audited with its reason and the number it replaced.
/// 409 `e_billing_not_sent` before its file was taken; `e_billing_closed` once rejected.
pub(crate) fn set_payer_claim_number(
    conn: &mut AnyConnection,
    who: &Principal,
    id: EBillingClaimId,
    number: &str,
    reason: &str,
) -> Result<Claim, Error> {
    let scope = Scope::of(who);
    let before = claim(conn, &scope, id)?;
    let e_billing = get(conn, &scope, before.e_billing_id)?;
    if e_billing.status != EBillingStatus::Sent {
        return Err(Error::new(
            ErrorCode::EBillingNotSent,
            format!(
                "e-billing {} was not sent: the payer numbers only the claims it has",
                e_billing.number
            ),
        ));
    }
    if !before.active {
        return Err(Error::new(
            ErrorCode::EBillingClosed,
            format!(
                "the claim of invoice {} is {}: the payer has no claim of it",
                before.invoice_number, before.status
            ),
        ));
    }
    store::set_payer_claim_number(conn, id, number, db::now())?;
    let after = claim(conn, &scope, id)?;
    audit::record_at(
        conn,
        who,
        &e_billing.location_id.to_string(),
        "set_payer_claim_number",
        "e_billing_claim",
        &id.to_string(),
        serde_json::json!({ "before": { "payer_claim_number": before.payer_claim_number },
            "after": { "payer_claim_number": after.payer_claim_number }, "reason": reason }),
        Some(reason),
    )?;
    Ok(after)
}

/// What an e-billing's claims lack, grouped by the element and the record to fix: one entry per
/// thing to fix, with how many claims it holds up, most first (then by loop and element).
pub(crate) fn missing_info(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: EBillingId,
) -> Result<(EBilling, Vec<Missing>), Error> {
    let e_billing = get(conn, scope, id)?;
    // Per thing to fix: the group, and the last claim counted (a claim lacking it on two
    // lines is one claim held up).
    let mut groups: BTreeMap<(String, String, String), (Missing, EBillingClaimId)> =
        BTreeMap::new();
    for row in store::claims_of(conn, id)? {
        let gaps: Vec<GapView> =
            carebill_domain::stored::json("claim gaps", &row.gaps).map_err(Error::from)?;
        for gap in gaps {
            let key = (gap.href.clone(), gap.loop_id.clone(), gap.element.clone());
            if let Some((m, last)) = groups.get_mut(&key) {
                if *last == row.id {
                    continue;
                }
                *last = row.id;
                m.claims += 1;
                if m.claim_ids.len() < NAMED_CLAIMS {
                    m.claim_ids.push(row.id);
                    m.invoice_numbers.push(row.invoice_number.clone());
                }
            } else {
                let m = Missing {
                    gap,
                    claims: 1,
                    claim_ids: vec![row.id],
                    invoice_numbers: vec![row.invoice_number.clone()],
                };
                groups.insert(key, (m, row.id));
            }
        }
    }
    let mut out: Vec<Missing> = groups.into_values().map(|(m, _)| m).collect();
    out.sort_by(|a, b| {
        b.claims
            .cmp(&a.claims)
            .then_with(|| a.gap.loop_id.cmp(&b.gap.loop_id))
            .then_with(|| a.gap.element.cmp(&b.gap.element))
            .then_with(|| a.gap.href.cmp(&b.gap.href))
    });
    Ok((e_billing, out))
}
