//! The client's side of a timesheet: approval links (made by the agency or sent in the approval
//! e-mail; only their hash kept; 401 without detail when unknown, expired or revoked), the
//! decisions on submitted lines by link or at the portal (all or nothing), and what an approval
//! announces: `carebill.accounts.timesheet.approved.v1`, at once when the carer has a
//! self-billing agreement on the agency's local date, else held with the reason until the
//! carer's agreements are updated.

use std::collections::HashSet;

use carebill_domain::agency::{HoursStatus, SelfBillingAgreement, TimesheetStatus, agreement_on};
use carebill_domain::events::{ApprovedHours, TimesheetApprovedV1};
use carebill_domain::ids::ApprovalId;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::link_token_hash;
use carebill_platform::{Error, ErrorCode, audit};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Connection;
use serde::Serialize;

use crate::service::placements::Client;
use crate::service::timesheets::{Hours, Timesheet, find, restate, view};
use crate::service::{carers, emit, locations, notices, payers, placements};
use crate::store::timesheets::{self as store, ApprovalRow, HoursRow, LinkRow, TimesheetRow};

/// An approval link just made: the URL (its token shown once), to whom, until when.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalLink {
    /// Opens the timesheet for approval, without a token.
    pub url: String,
    /// The approver it was made for.
    pub sent_to: String,
    /// When it stops opening.
    pub expires_at: DateTime<Utc>,
}

/// Makes a link that opens a timesheet waiting for approval, for its placement's approver
/// (the agency sends it, or a notice does).
#[tracing::instrument(skip_all, fields(timesheet_id = %id))]
pub fn make_link(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    base_url: &str,
    hours: u32,
) -> Result<ApprovalLink, Error> {
    let sheet = find(conn, who, id)?;
    if sheet.status != TimesheetStatus::AwaitingApproval {
        return Err(Error::new(
            ErrorCode::NotOpen,
            format!(
                "the timesheet is {}: nothing waits for approval",
                sheet.status
            ),
        ));
    }
    let p = placements::get(conn, &Scope::everything(), &sheet.placement_id.to_string())?;
    let (url, row) = notices::new_link(conn, sheet.id, &p.approver.email, base_url, hours)?;
    audit::record(
        conn,
        who,
        "create",
        "approval_link",
        &row.id,
        serde_json::json!({ "timesheet_id": id, "sent_to": row.sent_to, "expires_at": row.expires_at.and_utc() }),
        None,
    )?;
    Ok(ApprovalLink {
        url,
        sent_to: row.sent_to,
        expires_at: row.expires_at.and_utc(),
    })
}

/// What a client sees of a timesheet to approve.
#[derive(Debug, Clone, Serialize)]
pub struct ForApproval {
    /// The timesheet.
    pub timesheet: Timesheet,
    /// The placement's reference.
    pub placement_reference: String,
    /// The carer's name.
    pub carer_name: String,
    /// The agency's name.
    pub agency_name: String,
}

/// The timesheet an approval link opens; 401 `invalid_link` (nothing more) for a token that is
/// unknown, expired or revoked.
fn link_sheet(conn: &mut AnyConnection, token: &str) -> Result<(LinkRow, TimesheetRow), Error> {
    let invalid = || {
        Error::new(
            ErrorCode::InvalidLink,
            "this link does not open a timesheet",
        )
    };
    let link = store::link_by_hash(conn, &link_token_hash(token))?.ok_or_else(invalid)?;
    if link.revoked_at.is_some() || link.expires_at <= db::now() {
        tracing::info!(link_id = %link.id, "a revoked or expired approval link was used");
        return Err(invalid());
    }
    let sheet = store::find(conn, None, &link.timesheet_id.to_string())?.ok_or_else(invalid)?;
    Ok((link, sheet))
}

/// The timesheet behind an approval link, with whom it is about.
#[tracing::instrument(skip_all)]
pub fn open_link(conn: &mut AnyConnection, token: &str) -> Result<ForApproval, Error> {
    let (_, sheet) = link_sheet(conn, token)?;
    for_approval(conn, sheet)
}

fn for_approval(conn: &mut AnyConnection, sheet: TimesheetRow) -> Result<ForApproval, Error> {
    let everything = Scope::everything();
    let p = placements::get(conn, &everything, &sheet.placement_id.to_string())?;
    let carer = carers::get(conn, &everything, &p.carer_id.to_string())?;
    let agency = locations::get(conn, &everything, &p.location_id.to_string())?;
    Ok(ForApproval {
        timesheet: view(conn, sheet)?,
        placement_reference: p.reference,
        carer_name: carer.name,
        agency_name: agency.name,
    })
}

/// A client's decision on one submitted line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Approve it.
    Approve,
    /// Dispute it, with why.
    Dispute(String),
}

/// Decides submitted lines through an approval link.
#[tracing::instrument(skip_all)]
pub fn review_by_link(
    conn: &mut AnyConnection,
    token: &str,
    request_id: Option<String>,
    decisions: Vec<(String, Decision)>,
    approve_all: bool,
) -> Result<ForApproval, Error> {
    conn.transaction(|conn| {
        let (link, sheet) = link_sheet(conn, token)?;
        let actor = Principal::system(format!("approval-link:{}", link.sent_to), request_id);
        review(conn, &actor, sheet, decisions, approve_all)
    })
}

/// Decides submitted lines at the portal: a patient token of the placement's client, or a payer
/// token of the organisation that is the client; anyone else does not find the timesheet.
#[tracing::instrument(skip_all, fields(timesheet_id = %id))]
pub fn review_at_portal(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    decisions: Vec<(String, Decision)>,
    approve_all: bool,
) -> Result<ForApproval, Error> {
    conn.transaction(|conn| {
        let sheet = client_sheet(conn, who, id)?;
        review(conn, who, sheet, decisions, approve_all)
    })
}

/// The timesheet `id` if `who` is its placement's client at the portal (a patient token of the
/// patient, a payer token of the organisation); 404 for anyone else. Asked before a review's
/// body is read, so that nobody else learns anything from how a body is refused.
pub fn client_sheet(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
) -> Result<TimesheetRow, Error> {
    let sheet = store::find(conn, None, id)?.ok_or_else(|| Error::not_found("timesheet"))?;
    let p = placements::get(conn, &Scope::everything(), &sheet.placement_id.to_string())?;
    let is_client = match &p.client {
        Client::Patient(patient) => {
            who.roles.contains(&Role::Patient) && who.patient.as_deref() == Some(patient.as_str())
        }
        Client::Payer(payer) => {
            who.roles.contains(&Role::Payer)
                && who.payer.as_deref() == Some(payers::get(conn, payer)?.code.as_str())
        }
    };
    if !is_client {
        return Err(Error::not_found("timesheet"));
    }
    Ok(sheet)
}

/// Applies a client's decisions: every named line must wait for approval (a line decided
/// already answers 409 `already_decided`), a dispute needs a reason; all or nothing. The
/// approved lines go out in one `timesheet.approved` event.
fn review(
    conn: &mut AnyConnection,
    who: &Principal,
    sheet: TimesheetRow,
    decisions: Vec<(String, Decision)>,
    approve_all: bool,
) -> Result<ForApproval, Error> {
    let id = sheet.id.to_string();
    store::lock(conn, &id)?;
    let lines = store::hours_of(conn, &id)?;
    let decisions: Vec<(HoursRow, Decision)> = if approve_all {
        let waiting: Vec<(HoursRow, Decision)> = lines
            .into_iter()
            .filter(|l| l.status == HoursStatus::Submitted)
            .map(|l| (l, Decision::Approve))
            .collect();
        if waiting.is_empty() {
            return Err(Error::new(
                ErrorCode::AlreadyDecided,
                "no hours of the timesheet wait for approval",
            ));
        }
        waiting
    } else {
        let mut v = carebill_domain::Validation::new();
        let mut seen = HashSet::new();
        let mut picked = Vec::new();
        for (i, (hours_id, decision)) in decisions.into_iter().enumerate() {
            let field = format!("decisions.{i}.hours_id");
            if !seen.insert(hours_id.clone()) {
                v.add(field, "duplicate", "one decision per line");
                continue;
            }
            match lines.iter().find(|l| l.id.to_string() == hours_id) {
                None => v.add(field, "unknown", "no such line in this timesheet"),
                Some(l) if l.status == HoursStatus::Draft => {
                    v.add(field, "not_submitted", "the line was not submitted")
                }
                Some(l) if l.status != HoursStatus::Submitted => {
                    return Err(Error::new(
                        ErrorCode::AlreadyDecided,
                        format!("line {hours_id} is {} already", l.status),
                    ));
                }
                Some(l) => picked.push((l.clone(), decision)),
            }
        }
        v.finish().map_err(Error::validation)?;
        picked
    };
    let approval_id = ApprovalId::new();
    let now = db::now();
    let mut approved = Vec::new();
    for (line, decision) in &decisions {
        match decision {
            Decision::Approve => {
                store::decide(
                    conn,
                    &line.id.to_string(),
                    HoursStatus::Approved,
                    None,
                    Some(&approval_id.to_string()),
                    now,
                )?;
                approved.push(line.clone());
            }
            Decision::Dispute(reason) => store::decide(
                conn,
                &line.id.to_string(),
                HoursStatus::Disputed,
                Some(reason),
                None,
                now,
            )?,
        }
    }
    let status = restate(conn, &id, false)?;
    audit::record(
        conn,
        who,
        "review",
        "timesheet",
        &id,
        serde_json::json!({
            "approved": approved.iter().map(|l| l.id).collect::<Vec<_>>(),
            "disputed": decisions.iter().filter(|(_, d)| *d != Decision::Approve).map(|(l, d)| {
                serde_json::json!({ "hours_id": l.id, "reason": match d { Decision::Dispute(r) => r.as_str(), Decision::Approve => "" } })
            }).collect::<Vec<_>>(),
            "status": status,
        }),
        None,
    )?;
    if !approved.is_empty() {
        let row = ApprovalRow {
            id: approval_id.to_string(),
            timesheet_id: id.clone(),
            carer_id: sheet.carer_id.to_string(),
            approved_by: who.subject.clone(),
            approved_at: now,
            status: "held".to_owned(),
            held_reason: None,
            invoice_date: None,
            released_at: None,
        };
        store::insert_approval(conn, row.clone())?;
        release_or_hold(conn, who, &row)?;
    }
    let sheet = store::find(conn, None, &id)?.ok_or_else(|| Error::not_found("timesheet"))?;
    for_approval(conn, sheet)
}

/// Announces an approval for invoicing when the carer has a self-billing agreement on its
/// invoice date (today, the agency's local date), else keeps it held with the reason.
fn release_or_hold(
    conn: &mut AnyConnection,
    who: &Principal,
    a: &ApprovalRow,
) -> Result<bool, Error> {
    let everything = Scope::everything();
    let carer = carers::get(conn, &everything, &a.carer_id)?;
    let location = locations::get(conn, &everything, &carer.location_id.to_string())?;
    let today = carebill_domain::invoicing::issue_date(Utc::now(), &location.time_zone)
        .map_err(|e| Error::internal(&e))?;
    let Some(agreement) = agreement_on(&carer.agreements, today).cloned() else {
        store::hold(
            conn,
            &a.id,
            &format!(
                "the carer has no self-billing agreement on {today}: add one to release the invoice"
            ),
        )?;
        return Ok(false);
    };
    let sheet =
        store::find(conn, None, &a.timesheet_id)?.ok_or_else(|| Error::not_found("timesheet"))?;
    let lines = store::hours_of_approval(conn, &a.id)?;
    let approval = ApprovalId(a.id.parse().map_err(|e| Error::internal(&e))?);
    announce(conn, who, &sheet, approval, a, lines, (today, agreement))?;
    store::release(conn, &a.id, today, db::now())?;
    Ok(true)
}

/// Replaces a carer's details, then releases the carer's approvals held for want of a
/// self-billing agreement that now holds. How many were released goes to the log.
#[tracing::instrument(skip_all, fields(carer_id = %id))]
pub fn replace_carer(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    c: carers::NewCarer,
) -> Result<carers::Carer, Error> {
    conn.transaction(|conn| {
        let carer = carers::replace(conn, who, id, c)?;
        let mut released = 0;
        for held in store::held_of(conn, id)? {
            if release_or_hold(conn, who, &held)? {
                released += 1;
            }
        }
        if released > 0 {
            tracing::info!(released, "held approvals released");
        }
        Ok(carer)
    })
}

/// Emits `timesheet.approved` for the lines one decision approved.
fn announce(
    conn: &mut AnyConnection,
    who: &Principal,
    sheet: &TimesheetRow,
    approval_id: ApprovalId,
    approval: &ApprovalRow,
    lines: Vec<HoursRow>,
    (invoice_date, agreement): (NaiveDate, SelfBillingAgreement),
) -> Result<(), Error> {
    let everything = Scope::everything();
    let p = placements::get(conn, &everything, &sheet.placement_id.to_string())?;
    let carer = carers::get(conn, &everything, &p.carer_id.to_string())?;
    let location = locations::get(conn, &everything, &p.location_id.to_string())?;
    let (client, patient, bill_to) = p.parties(conn)?;
    let codes: Vec<String> = lines.iter().map(|l| l.service_type.clone()).collect();
    let catalog: std::collections::HashMap<String, crate::store::catalog::CatalogRow> =
        crate::store::catalog::by_codes(conn, &codes)?
            .into_iter()
            .map(|r| (r.code.clone(), r))
            .collect();
    let lines = lines
        .into_iter()
        .map(|r| {
            let h = Hours::read(r);
            let item = catalog.get(&h.service_type).ok_or_else(|| {
                Error::internal(&format!("service type {} left the catalog", h.service_type))
            })?;
            Ok(ApprovedHours {
                description: item.description.clone(),
                service_group: item.service_group.clone(),
                hours_id: h.id,
                date: h.date,
                start: h.start,
                end: h.end,
                minutes: h.minutes,
                hours: h.hours,
                service_type: h.service_type,
                notes: h.notes,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    emit(
        conn,
        who,
        &TimesheetApprovedV1 {
            approval_id,
            timesheet_id: sheet.id,
            period_start: sheet.period_start,
            period_end: sheet.period_end,
            location: location.to_ref(),
            carer: carer.to_ref(),
            client,
            patient,
            bill_to,
            terms: p.terms(),
            currency: p.currency,
            lines,
            approved_by: approval.approved_by.clone(),
            approved_at: approval.approved_at.and_utc(),
            invoice_date,
            agreement,
        },
    )
}
