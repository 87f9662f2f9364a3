//! Settlements as people work on them: read (current, any version, two versions, a draft
//! condition set tried), taken through review and medical audit, lines corrected by a biller,
//! recomputed after a configuration fix. Changes need the settlement's `ETag`, so nobody
//! approves what they did not see. Out-of-scope settlements are not found.

use carebill_domain::FieldError;
use carebill_domain::Money;
use carebill_domain::conditions::CompiledSet;
use carebill_domain::pricing::PricedLine;
use carebill_domain::settlement::SettlementStatus;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{if_match_admits, precondition_failed};
use carebill_platform::{Error, ErrorCode, audit};
use diesel::Connection as _;

use crate::service::settlements::{change_status, enqueue_approval, lines_now, recompute};
use crate::service::{conditions, periodic};
use crate::store::settlements::{self as store, Cause, ObservationRow, StatusChangeRow};
pub use crate::store::settlements::{ListFilter, Row, VersionRow};

/// Who may review settlements (take, release, send to audit, correct, recompute).
pub const BILLERS: &[Role] = &[Role::BillingManager, Role::Biller];

/// A settlement with its current lines, observations and status history.
pub struct SettlementView {
    /// The header.
    pub row: Row,
    /// The current version's lines.
    pub lines: Vec<PricedLine>,
    /// Medical audit's observations, oldest first.
    pub observations: Vec<ObservationRow>,
    /// Status changes, oldest first.
    pub changes: Vec<StatusChangeRow>,
}

/// A version with its lines.
pub struct VersionView {
    /// The version.
    pub info: VersionRow,
    /// Its lines.
    pub lines: Vec<PricedLine>,
}

/// A settlement's lines computed now under the conditions in force and under a draft.
pub struct Simulation {
    /// The version of the condition set in force (0: none).
    pub conditions_version: i32,
    /// The lines under the set in force.
    pub in_force: Vec<PricedLine>,
    /// The lines under the draft.
    pub draft: Vec<PricedLine>,
}

/// A workflow step asked for.
pub struct Transition {
    /// The new status.
    pub to: SettlementStatus,
    /// Why (checked by the caller: required to send it back).
    pub reason: Option<String>,
    /// Observations (line or none, text) for `observed`.
    pub observations: Vec<(Option<String>, String)>,
}

/// A biller's correction of one line.
pub struct LineCorrection {
    /// A manual unit price; none: the price list's.
    pub unit_price: Option<Money>,
    /// Excluded from billing.
    pub excluded: bool,
    /// Why.
    pub reason: String,
}

/// The settlement if the caller's scope holds it; not found otherwise. A settlement is no one
/// payer's: a payer-limited caller sees none.
fn visible(scope: &Scope, row: Option<Row>) -> Result<Row, Error> {
    row.filter(|r| scope.allows(&r.location_code, None))
        .ok_or_else(|| Error::not_found("settlement"))
}

fn check_etag(row: &Row, expected: &str) -> Result<(), Error> {
    if if_match_admits(expected, &row.etag()) {
        Ok(())
    } else {
        Err(precondition_failed(format!(
            "the settlement changed (ETag is now {}); read it again before changing it",
            row.etag()
        )))
    }
}

/// A page of the settlements in scope.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &ListFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Row>, Error> {
    store::list(conn, scope, filter, after, limit)
}

/// A settlement with its lines, observations and history.
#[tracing::instrument(skip_all, fields(settlement = id))]
pub fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<SettlementView, Error> {
    let row = visible(scope, store::find(conn, id)?)?;
    view(conn, row)
}

fn view(conn: &mut AnyConnection, row: Row) -> Result<SettlementView, Error> {
    let lines = store::lines_at(conn, &row.id, row.version)?;
    let observations = store::observations(conn, &row.id)?;
    let changes = store::status_changes(conn, &row.id)?;
    Ok(SettlementView {
        row,
        lines,
        observations,
        changes,
    })
}

/// A settlement's versions, oldest first.
#[tracing::instrument(skip_all, fields(settlement = id))]
pub fn versions(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
) -> Result<Vec<VersionRow>, Error> {
    let row = visible(scope, store::find(conn, id)?)?;
    store::versions(conn, &row.id, None)
}

fn version_of(conn: &mut AnyConnection, row: &Row, version: i32) -> Result<VersionView, Error> {
    version_if_any(conn, row, version)?.ok_or_else(|| Error::not_found("settlement version"))
}

/// A version of `row` as it was (none: no such version); a line that does not read back, or
/// the database failing, is an error as it is.
fn version_if_any(
    conn: &mut AnyConnection,
    row: &Row,
    version: i32,
) -> Result<Option<VersionView>, Error> {
    let Some(info) = store::versions(conn, &row.id, Some(version))?.pop() else {
        return Ok(None);
    };
    let lines = store::lines_at(conn, &row.id, version)?;
    Ok(Some(VersionView { info, lines }))
}

/// One version of a settlement as it was.
#[tracing::instrument(skip_all, fields(settlement = id, version))]
pub fn version(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
    version: i32,
) -> Result<VersionView, Error> {
    let row = visible(scope, store::find(conn, id)?)?;
    version_of(conn, &row, version)
}

/// Two versions of a settlement to compare: `from`, and `to` (default: the current one). A
/// version that does not exist is a 422 `unknown_version` on its field; any other error (a
/// stored line that does not read, the database) is returned as it is.
#[tracing::instrument(skip_all, fields(settlement = id, from))]
pub fn versions_to_compare(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
    from: i32,
    to: Option<i32>,
) -> Result<(VersionView, VersionView), Error> {
    let row = visible(scope, store::find(conn, id)?)?;
    let to = match to {
        Some(v) => v,
        None => row.version,
    };
    let before = version_if_any(conn, &row, from)?
        .ok_or_else(|| Error::field("from", "unknown_version", "no such version"))?;
    let after = version_if_any(conn, &row, to)?
        .ok_or_else(|| Error::field("to", "unknown_version", "no such version"))?;
    Ok((before, after))
}

/// A settlement's lines computed now under the conditions in force and under `draft` (empty:
/// none). Stores nothing.
#[tracing::instrument(skip_all, fields(settlement = id))]
pub fn simulate(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
    draft: &CompiledSet,
) -> Result<Simulation, Error> {
    let row = visible(scope, store::find(conn, id)?)?;
    let in_force = conditions::compiled(conn)?;
    let conditions_version = in_force.as_ref().map_or(0, |(v, _)| *v);
    let now = lines_now(conn, &row, in_force.as_ref().map(|(_, set)| set.as_ref()))?;
    let tried = lines_now(conn, &row, (!draft.is_empty()).then_some(draft))?;
    Ok(Simulation {
        conditions_version,
        in_force: now,
        draft: tried,
    })
}

/// Moves a settlement through its workflow: who may do it first, then whether it is still what
/// they saw, then whether the workflow allows the step. Approval enqueues
/// `carebill.settlement.settlement.approved.v1`. Returns the settlement as it is now (with its
/// view unless `minimal`).
#[tracing::instrument(skip_all, fields(settlement = id, to = %t.to))]
pub fn transition(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    etag: &str,
    t: &Transition,
    minimal: bool,
) -> Result<(Row, Option<SettlementView>), Error> {
    conn.transaction(|conn| transition_in(conn, who, id, etag, t, minimal))
}

/// One step of a bulk transition.
pub struct BulkStep {
    /// The settlement.
    pub id: String,
    /// Its `ETag` as the caller saw it.
    pub etag: String,
    /// Where to.
    pub transition: Transition,
}

/// A bulk step's outcome: the id it was given, and the settlement moved or why not.
pub type BulkOutcome = (String, Result<Row, Error>);

/// Moves many settlements, each exactly as [`transition`] would (checked, saved and audited on
/// its own, in its own savepoint so that a refused step changes nothing), in one transaction.
/// A step that could not be read is answered with its error as it is. Returns each step's
/// outcome in order, with its id.
#[tracing::instrument(skip_all, fields(items = steps.len()))]
pub fn transition_many(
    conn: &mut AnyConnection,
    who: &Principal,
    steps: Vec<(String, Result<BulkStep, Error>)>,
) -> Result<Vec<BulkOutcome>, Error> {
    conn.transaction(|conn| {
        let mut out = Vec::with_capacity(steps.len());
        for (id, step) in steps {
            let result = step.and_then(|s| {
                conn.transaction(|conn| {
                    transition_in(conn, who, &s.id, &s.etag, &s.transition, true)
                        .map(|(row, _)| row)
                })
            });
            if let Err(e) = &result
                && e.code().status() >= 500
            {
                // Not the item's fault: the whole request fails, and nothing of it stays.
                return Err(e.clone());
            }
            out.push((id, result));
        }
        Ok(out)
    })
}

fn transition_in(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    etag: &str,
    t: &Transition,
    minimal: bool,
) -> Result<(Row, Option<SettlementView>), Error> {
    let mut row = visible(&Scope::of(who), store::find_for_update(conn, id)?)?;
    let to = t.to;
    let reason = t.reason.as_deref();
    match to {
        SettlementStatus::Observed | SettlementStatus::Approved => {
            // Only medical audit observes and approves; not even an admin stands in for it.
            if !who.roles.contains(&Role::Auditor) {
                return Err(Error::forbidden(format!(
                    "only the auditor role may move a settlement to {to}"
                )));
            }
        }
        _ => who.require(BILLERS)?,
    }
    check_etag(&row, etag)?;
    let from = row.status();
    if !from.can_move_to(to) {
        return Err(Error::new(
            ErrorCode::InvalidTransition,
            format!("a settlement in {from} cannot move to {to}"),
        ));
    }
    if from == SettlementStatus::Approved {
        // Withdrawing an approval is the billing manager's, and only before invoicing acted.
        if !who.has_any(&[Role::BillingManager]) {
            return Err(Error::forbidden(
                "only a billing manager may withdraw an approval",
            ));
        }
        if reason.is_none() {
            return Err(Error::field(
                "reason",
                "required",
                "say why the approval is withdrawn",
            ));
        }
        if row.invoiced_version >= row.approved_version {
            return Err(Error::new(
                ErrorCode::AlreadyInvoiced,
                "invoicing has issued this version; credit its invoices (with reissue) instead",
            ));
        }
    }
    if to == SettlementStatus::Approved {
        check_approvable(conn, who, &row)?;
    }
    if to == SettlementStatus::Observed {
        let current = store::lines_at(conn, &row.id, row.version)?;
        let now = db::now();
        for (n, (line, text)) in t.observations.iter().enumerate() {
            if let Some(c) = line
                && !current.iter().any(|l| &l.consumption_id == c)
            {
                return Err(Error::field(
                    &format!("observations[{n}].consumption_id"),
                    "unknown_line",
                    "not a line of the current version",
                ));
            }
            store::insert_observation(conn, &row, line.as_deref(), text.trim(), &who.subject, now)?;
        }
    }
    if to == SettlementStatus::InReview && row.assigned_to.is_none() {
        row.assigned_to = Some(who.subject.clone());
    }
    change_status(conn, &mut row, to, reason, &who.subject)?;
    if to == SettlementStatus::Approved {
        row.approved_version = Some(row.version);
        enqueue_approval(conn, &row, &who.subject, who.request_id.clone())?;
    }
    store::save(conn, &row)?;
    audit::record_at(
        conn,
        who,
        &row.location_id,
        "transition",
        "settlement",
        &row.id,
        serde_json::json!({ "status": { "before": from, "after": to }, "version": row.version }),
        reason,
    )?;
    finish(conn, row, minimal)
}

/// Whether `who` may approve `row` as it is: segregation of duties (who sent it to audit does
/// not approve it), no billed voids, priced lines and none with issues.
fn check_approvable(conn: &mut AnyConnection, who: &Principal, row: &Row) -> Result<(), Error> {
    if store::sent_to_audit_by(conn, &row.id)?.as_deref() == Some(who.subject.as_str()) {
        return Err(Error::forbidden(
            "the person who sent a settlement to audit cannot approve it",
        ));
    }
    if row.pending_voids > 0 {
        return Err(Error::new(
            ErrorCode::VoidedLinesBilled,
            format!(
                "{} voided consumption(s) are still on active invoices; credit those invoices (with reissue) first",
                row.pending_voids
            ),
        ));
    }
    if row.line_count == 0 || row.currency.is_none() {
        return Err(Error::new(
            ErrorCode::NothingToApprove,
            "the settlement has no priced lines",
        ));
    }
    if row.issue_count > 0 {
        let lines = store::lines_at(conn, &row.id, row.version)?;
        let errors = lines
            .iter()
            .filter_map(|l| {
                l.issues.first().map(|i| FieldError {
                    field: format!("lines[{}]", l.consumption_id),
                    code: i.code.clone(),
                    message: i.message.clone(),
                })
            })
            .collect::<Vec<_>>();
        return Err(Error::new(
            ErrorCode::UnresolvedLines,
            format!(
                "{} line(s) cannot be billed as they are (no price, no coverage terms...); fix them first",
                row.issue_count
            ),
        )
        .with_errors(errors));
    }
    Ok(())
}

fn finish(
    conn: &mut AnyConnection,
    row: Row,
    minimal: bool,
) -> Result<(Row, Option<SettlementView>), Error> {
    if minimal {
        return Ok((row, None));
    }
    let v = view(conn, row.clone())?;
    Ok((row, Some(v)))
}

/// Corrects a line (a manual unit price or its exclusion), with a reason: a new version, and
/// audit's observations on the line resolved by it. A periodic settlement's correction is kept
/// beside its billing run's lines.
#[tracing::instrument(skip_all, fields(settlement = id, consumption))]
pub fn correct_line(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    consumption: &str,
    etag: &str,
    c: &LineCorrection,
) -> Result<SettlementView, Error> {
    conn.transaction(|conn| correct_line_in(conn, who, id, consumption, etag, c))
}

fn correct_line_in(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    consumption: &str,
    etag: &str,
    c: &LineCorrection,
) -> Result<SettlementView, Error> {
    let mut row = visible(&Scope::of(who), store::find_for_recompute(conn, id)?)?;
    check_etag(&row, etag)?;
    if !matches!(
        row.status(),
        SettlementStatus::Draft | SettlementStatus::InReview | SettlementStatus::Observed
    ) {
        return Err(Error::new(
            ErrorCode::NotEditable,
            format!(
                "a settlement in {} cannot be corrected; lines change in draft, in_review or observed",
                row.status()
            ),
        ));
    }
    if row.billing_run_id.is_some() {
        // 404 for a line the settlement does not have.
        periodic::correct(conn, &row, consumption, c.unit_price, c.excluded, &c.reason)?;
    } else if !store::correct_input(
        conn,
        &row.id,
        consumption,
        c.unit_price.as_ref(),
        c.excluded,
        &c.reason,
    )? {
        return Err(Error::not_found("settlement line"));
    }
    let made = recompute(
        conn,
        &mut row,
        &Cause {
            kind: "line_corrected",
            reason: Some(&c.reason),
            by: &who.subject,
        },
    )?;
    if made {
        store::resolve_observations(conn, &row.id, consumption, row.version)?;
    }
    audit::record_at(
        conn,
        who,
        &row.location_id,
        "correct_line",
        "settlement",
        &row.id,
        serde_json::json!({ "consumption_id": consumption, "unit_price": c.unit_price, "excluded": c.excluded, "version": row.version }),
        Some(&c.reason),
    )?;
    view(conn, row)
}

/// Recomputes an open settlement with the prices and coverage terms in force now: a new version
/// only when something changed.
#[tracing::instrument(skip_all, fields(settlement = id))]
pub fn recompute_now(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    etag: &str,
    reason: &str,
) -> Result<SettlementView, Error> {
    conn.transaction(|conn| recompute_in(conn, who, id, etag, reason))
}

fn recompute_in(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    etag: &str,
    reason: &str,
) -> Result<SettlementView, Error> {
    let mut row = visible(&Scope::of(who), store::find_for_recompute(conn, id)?)?;
    check_etag(&row, etag)?;
    if !row.status().is_open() {
        return Err(Error::new(
            ErrorCode::NotEditable,
            format!("a settlement in {} is not recomputed", row.status()),
        ));
    }
    recompute(
        conn,
        &mut row,
        &Cause {
            kind: "recomputed",
            reason: Some(reason),
            by: &who.subject,
        },
    )?;
    audit::record_at(
        conn,
        who,
        &row.location_id,
        "recompute",
        "settlement",
        &row.id,
        serde_json::json!({ "version": row.version }),
        Some(reason),
    )?;
    view(conn, row)
}
