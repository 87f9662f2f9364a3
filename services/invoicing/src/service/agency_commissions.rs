//! A care agency's commission invoices (seed 004): one per carer and period, over the
//! commissions the carer's approvals earned ([`super::agency_issuing`] records them, pending).
//!
//! A run takes an agency's pending commissions dated up to a day (the approval's invoice date
//! counts) and issues, per carer, one invoice from the agency to the carer with one line per
//! approval, whatever the placement: numbered in the agency's invoice series, dated the agency's
//! today, taxed by its country's rules for `agency-commission`, audited, queued for the carer's
//! delivery settings (the sending windows apply) and announced
//! (`carebill.invoicing.agency-invoice.issued.v1`, purpose `commission`, listing its approvals).
//!
//! - By hand: `POST /v1/agency-commission-runs` ([`run`]), through a day up to the agency's
//!   today.
//! - By itself: once a calendar month is over in the agency's time zone, the background pass
//!   ([`run_due`]) issues that month's (and any earlier month's) commissions.
//!
//! Each commission is billed once: a run locks the agency's invoice series (as issuing does, so
//! two replicas' runs and an approval being invoiced take turns) before it reads what is
//! pending.

use std::collections::BTreeSet;

use carebill_domain::agency_invoices::{AgencyPurpose, plan_commission_invoice};
use carebill_domain::collections::local_today;
use carebill_domain::events::{AgencyInvoiceIssuedV1, LocationRef};
use carebill_domain::ids::{ApprovalId, LocationId};
use carebill_domain::invoicing::DocumentKind;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection, Db};
use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use diesel::Connection as _;

use super::agency_issuing::{NewAgencyInvoice, announce, store};
use super::issuing::{SYSTEM_ACTOR, seller_as_issued};
use crate::store::agency::{self, CommissionRow};
use crate::store::{invoices, series};

/// What a run did.
#[derive(Debug, Clone)]
pub(crate) struct CommissionRun {
    /// The agency.
    pub location_code: String,
    /// The last invoice date of the approvals it billed.
    pub through: NaiveDate,
    /// The date of its invoices: the agency's today.
    pub issue_date: NaiveDate,
    /// The invoices, one per carer.
    pub invoices: Vec<AgencyInvoiceIssuedV1>,
}

/// Issues an agency's commission invoices for what is pending through `through` (default: the
/// agency's today, which it cannot be after). An agency outside the caller's scope, or where
/// invoicing has issued nothing, is a 422 on `location_code`; nothing pending issues nothing.
pub(crate) fn run(
    conn: &mut AnyConnection,
    who: &Principal,
    location_code: &str,
    through: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<CommissionRun, Error> {
    if !Scope::of(who).allows(location_code, None) {
        return Err(Error::field(
            "location_code",
            "forbidden",
            format!("location {location_code} is outside your scope"),
        ));
    }
    let Some((location_id, time_zone)) = invoices::location_known(conn, location_code)? else {
        return Err(Error::field(
            "location_code",
            "unknown",
            format!("invoicing has issued nothing at location {location_code} yet"),
        ));
    };
    let location_id: LocationId =
        carebill_domain::stored::parse("location id", &location_id).map_err(Error::from)?;
    let today = local_today(&time_zone, now);
    let through = through.unwrap_or(today); // not stored: the caller's day, or today
    if through > today {
        return Err(Error::field(
            "through",
            "after_today",
            format!("{through} is after the agency's today ({today}): nothing is dated then yet"),
        ));
    }
    let invoices = issue_through(conn, who, location_id, through, today)?;
    Ok(CommissionRun {
        location_code: location_code.to_owned(),
        through,
        issue_date: today,
        invoices,
    })
}

/// Issues the commissions of every calendar month that is over in its agency's time zone:
/// the background half of [`run`]. Returns how many invoices it issued.
pub(crate) async fn run_due(db: &Db, now: DateTime<Utc>) -> Result<usize, Error> {
    let pending = db.read(agency::pending_locations).await?;
    let mut issued = 0;
    for (location_id, first, time_zone) in pending {
        let today = local_today(&time_zone, now);
        let Some(last_month_end) = today.with_day(1).and_then(|d| d.pred_opt()) else {
            continue;
        };
        if first > last_month_end {
            continue; // only this month's: its run comes when the month is over
        }
        let system = Principal::system(SYSTEM_ACTOR, None);
        issued += db
            .write(move |conn| {
                // One transaction: the series lock holds, and the invoices and the commissions
                // they bill are written together or not at all.
                conn.transaction(|conn| {
                    issue_through(conn, &system, location_id, last_month_end, today)
                        .map(|v| v.len())
                })
            })
            .await?;
    }
    Ok(issued)
}

/// Issues, per carer, one invoice over the agency's commissions pending through `through`,
/// dated `day`. Runs inside the caller's transaction.
fn issue_through(
    conn: &mut AnyConnection,
    who: &Principal,
    location_id: LocationId,
    through: NaiveDate,
    day: NaiveDate,
) -> Result<Vec<AgencyInvoiceIssuedV1>, Error> {
    series::lock_series(conn, location_id, DocumentKind::Invoice, day.year())?;
    let rows = agency::pending(conn, location_id, through)?;
    let Some(latest) = rows.iter().max_by_key(|r| r.created_at) else {
        return Ok(Vec::new());
    };
    // The agency as it was last announced: its name, address and account today.
    let location: LocationRef = latest.location()?;
    let rules = super::tax_rules::rules_of_location(conn, &location)?;
    let seller = seller_as_issued(&location);
    let now = db::now();
    let mut issued = Vec::new();
    for group in rows.chunk_by(|a, b| a.carer_id == b.carer_id && a.currency == b.currency) {
        issued.push(issue_one(
            conn, &location, &seller, &rules, group, day, now,
        )?);
    }
    let events = issued.iter().map(|i| i.event().clone()).collect();
    announce(
        conn,
        who,
        &location,
        issued,
        who.request_id.clone(),
        who.request_id.clone(),
    )?;
    Ok(events)
}

/// One carer's commission invoice over `group` (their pending commissions, in one currency).
fn issue_one(
    conn: &mut AnyConnection,
    location: &LocationRef,
    seller: &super::super::store::invoices::StoredParty,
    rules: &[carebill_domain::invoicing::TaxRule],
    group: &[CommissionRow],
    day: NaiveDate,
    now: chrono::NaiveDateTime,
) -> Result<super::agency_issuing::Issued, Error> {
    let latest = group
        .iter()
        .max_by_key(|r| r.created_at)
        .ok_or_else(|| Error::internal(&"an empty group of commissions"))?;
    let carer = latest.carer()?;
    let entries = group
        .iter()
        .map(CommissionRow::entry)
        .collect::<Result<Vec<_>, Error>>()?;
    let plan = plan_commission_invoice(carer, &entries, rules, day)
        .map_err(|x| Error::invalid_event(x.to_string()))?;
    let approvals: Vec<ApprovalId> = group.iter().map(|r| r.approval_id).collect();
    let placements: BTreeSet<&str> = group
        .iter()
        .map(|r| r.placement_reference.as_str())
        .collect();
    let (Some(from), Some(to)) = (
        group.iter().map(|r| r.period_start).min(),
        group.iter().map(|r| r.period_end).max(),
    ) else {
        return Err(Error::internal(&"an empty group of commissions"));
    };
    let number = series::next_number(
        conn,
        location.id,
        &location.code,
        DocumentKind::Invoice,
        day.year(),
    )?;
    let carer_name = plan
        .recipient
        .billing
        .as_ref()
        .map_or_else(String::new, |b| b.legal_name.clone());
    let issued = store(
        conn,
        NewAgencyInvoice {
            purpose: AgencyPurpose::Commission,
            plan,
            number,
            location,
            seller,
            payee: None,
            note: Some(format!(
                "Commission of {} to {carer_name} on the hours approved for {from} – {to} \
                 ({} approval{}).",
                location.name,
                approvals.len(),
                if approvals.len() == 1 { "" } else { "s" },
            )),
            patient: None,
            carer_id: latest.carer_id,
            approval: None,
            approvals: approvals.clone(),
            placement_reference: placements.into_iter().collect::<Vec<_>>().join(", "),
            series_prefix: None,
            day,
            now,
        },
    )?;
    agency::bill_commissions(conn, &approvals, issued.event().invoice_id)?;
    Ok(issued)
}
