//! Payment plans: what one party owes in one currency on some receivables (chosen, or every
//! one still owing) split into installments with due dates, listed or generated
//! ([`rules::split_evenly`]: equal to the cent, the remainder on the last). The installments
//! add up exactly to what the receivables owe when the plan is made; a receivable is in one
//! active plan at most; no installment falls due before the day the plan is made (UTC).
//!
//! Nothing about payments is kept twice: a plan keeps what had been paid on each receivable
//! when it began, and what was paid on them since (its *progress*) fills the installments in
//! due order ([`rules::fill_installments`]). An installment not filled by the end of its due
//! day is missed; a plan breaks when more than `missed_allowed` installments are missed, and
//! completes when every installment is filled or its receivables owe nothing more. Plans are
//! evaluated whenever a payment is allocated to one of their receivables (as of that day, UTC)
//! and by [`evaluate_plans`] for a given day (the HTTP evaluation and dunning's run), which
//! changes only active plans: evaluating the same day again changes nothing. A plan that ends
//! (completed, broken, cancelled) no longer holds its receivables: dunning chases them again.
//! Creation, completion and breaking are announced (`plan.created`, `plan.completed`,
//! `plan.broken`); every change is audited.

use std::collections::HashMap;

use carebill_domain::collections::plans::{
    self as rules, Every, InstallmentStatus, PlanOutcome, PlanStatus,
};
use carebill_domain::events::{
    Envelope, EventPayload, PartyKind, PartyRef, PlanBrokenV1, PlanCompletedV1, PlanCreatedV1,
    PlanInstallment, PlanReceivable,
};
use carebill_domain::ids::{InvoiceId, ReceivableId};
use carebill_domain::{Currency, FieldError, MinorUnits, Money};
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDate, Utc};

use super::receivables::money;
use crate::store::plans::{
    self, InstallmentRow, PlanFilter as StoredFilter, PlanReceivableRow, PlanRow,
};
use crate::store::receivables::{self, ReceivableRow};

/// How the installments are asked for.
#[derive(Debug, Clone)]
pub(crate) enum InstallmentsAsked {
    /// Listed: `(due_on, amount)`, in any order.
    Listed(Vec<(NaiveDate, Money)>),
    /// Generated: `count` equal installments from `first_due_on`, every week or month.
    Generated {
        /// How many (1 to 120).
        count: u32,
        /// The first's due day.
        first_due_on: NaiveDate,
        /// How often.
        every: Every,
    },
}

/// A plan asked for (checked for shape by the API).
#[derive(Debug, Clone)]
pub(crate) struct NewPlan {
    /// Payer or patient.
    pub party_kind: PartyKind,
    /// The party's id.
    pub party_id: uuid::Uuid,
    /// The currency of the receivables.
    pub currency: Currency,
    /// The receivables; every one of the party's in that currency still owing when absent.
    pub receivable_ids: Option<Vec<ReceivableId>>,
    /// The installments.
    pub installments: InstallmentsAsked,
    /// How many installments may be missed before the plan breaks.
    pub missed_allowed: u32,
}

/// One installment as it stands.
#[derive(Debug, Clone)]
pub(crate) struct InstallmentView {
    /// Place in due order, from 1.
    pub seq: u32,
    /// Due on.
    pub due_on: NaiveDate,
    /// Amount.
    pub amount: Money,
    /// What of it is paid.
    pub paid: Money,
    /// Due, paid, partly paid or missed.
    pub status: InstallmentStatus,
}

/// One receivable of a plan.
#[derive(Debug, Clone)]
pub(crate) struct PlanReceivableView {
    /// The receivable.
    pub receivable_id: ReceivableId,
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// The invoice number.
    pub invoice_number: String,
    /// What it owed when the plan began.
    pub owed_at_start: Money,
    /// What it owes now.
    pub outstanding: Money,
}

/// A plan as it stands.
#[derive(Debug, Clone)]
pub(crate) struct PlanView {
    /// Id.
    pub id: String,
    /// Who owes it.
    pub party: PartyRef,
    /// Currency.
    pub currency: Currency,
    /// What the plan collects: the sum of its installments.
    pub total: Money,
    /// Paid on its receivables since it began.
    pub paid: Money,
    /// What its receivables owe now.
    pub outstanding: Money,
    /// How many installments may be missed.
    pub missed_allowed: u32,
    /// Active, completed, broken or cancelled.
    pub status: PlanStatus,
    /// The day installment statuses are seen on.
    pub as_of: NaiveDate,
    /// Installments, in due order.
    pub installments: Vec<InstallmentView>,
    /// Receivables.
    pub receivables: Vec<PlanReceivableView>,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it completed, broke or was cancelled.
    pub ended_at: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
}

/// What the plan list can be filtered by: valid values (the party id a normalised UUID).
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanFilter {
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The party's id.
    pub party_id: Option<String>,
    /// Status.
    pub status: Option<PlanStatus>,
}

/// What an evaluation changed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Evaluation {
    /// The day.
    pub as_of: Option<NaiveDate>,
    /// Plans that completed.
    pub completed: Vec<String>,
    /// Plans that broke.
    pub broken: Vec<String>,
    /// Active plans looked at that stay active.
    pub still_active: usize,
}

fn field_error(code: ErrorCode, field: &str, fcode: &str, message: String) -> Error {
    Error::new(code, message.clone()).with_errors(vec![FieldError {
        field: field.to_owned(),
        code: fcode.to_owned(),
        message,
    }])
}

/// The actor of evaluations no person asked for (dunning's run).
fn system_actor() -> Principal {
    Principal::system(crate::SERVICE, None)
}

/// The receivables chosen for a new plan, locked (id order) and checked: in the caller's
/// scope, the party's, in the currency, owing, in no active plan.
fn chosen_receivables(
    conn: &mut AnyConnection,
    scope: &Scope,
    p: &NewPlan,
) -> Result<Vec<ReceivableRow>, Error> {
    let party_id = p.party_id.to_string();
    let (ids, field): (Vec<ReceivableId>, Vec<String>) = match &p.receivable_ids {
        Some(ids) => {
            let mut fields = Vec::with_capacity(ids.len());
            for (n, id) in ids.iter().enumerate() {
                let f = format!("receivable_ids.{n}");
                let r = receivables::find_in_scope(conn, scope, *id)?.ok_or_else(|| {
                    Error::field(&f, "unknown", "no such receivable in the caller's scope")
                })?;
                if r.party_kind != p.party_kind || r.party_id != party_id {
                    return Err(Error::field(&f, "other_party", "is owed by another party"));
                }
                if r.currency != p.currency {
                    return Err(Error::field(
                        &f,
                        "currency_mismatch",
                        format!("is in {}, the plan in {}", r.currency, p.currency),
                    ));
                }
                fields.push(f);
            }
            (ids.clone(), fields)
        }
        None => {
            let rows =
                receivables::owing_of_party(conn, scope, p.party_kind, &party_id, p.currency)?;
            if rows.is_empty() {
                return Err(field_error(
                    ErrorCode::NothingOwed,
                    "party_id",
                    "nothing_owed",
                    format!("the party owes nothing in {} on any receivable", p.currency),
                ));
            }
            let n = rows.len();
            (
                rows.into_iter().map(|r| r.id).collect(),
                vec!["party_id".to_owned(); n],
            )
        }
    };
    let field_of: HashMap<ReceivableId, String> = ids.iter().copied().zip(field).collect();
    let rows = receivables::lock_many(conn, &ids)?;
    for r in &rows {
        let f = field_of.get(&r.id).map_or("receivable_ids", String::as_str);
        if r.outstanding().0 <= 0 {
            return Err(field_error(
                ErrorCode::NothingOwed,
                f,
                "nothing_owed",
                format!(
                    "invoice {} owes nothing (it is {})",
                    r.invoice_number, r.status
                ),
            ));
        }
    }
    if let Some((rid, plan)) = plans::in_active_plans(conn, &ids)?.into_iter().next() {
        let f = ids
            .iter()
            .find(|i| i.to_string() == rid)
            .and_then(|i| field_of.get(i))
            .map_or("receivable_ids", String::as_str);
        return Err(field_error(
            ErrorCode::AlreadyInPlan,
            f,
            "already_in_plan",
            format!("receivable {rid} is in active payment plan {plan}"),
        ));
    }
    Ok(rows)
}

/// No installment of a new plan falls due before `today`.
fn check_days(asked: &InstallmentsAsked, today: NaiveDate) -> Result<(), Error> {
    let errors: Vec<FieldError> = match asked {
        InstallmentsAsked::Generated { first_due_on, .. } if *first_due_on < today => {
            vec![FieldError {
                field: "first_due_on".to_owned(),
                code: "in_past".to_owned(),
                message: format!("must be {today} or later"),
            }]
        }
        InstallmentsAsked::Generated { .. } => Vec::new(),
        InstallmentsAsked::Listed(items) => items
            .iter()
            .enumerate()
            .filter(|(_, (due_on, _))| *due_on < today)
            .map(|(n, _)| FieldError {
                field: format!("installments.{n}.due_on"),
                code: "in_past".to_owned(),
                message: format!("must be {today} or later"),
            })
            .collect(),
    };
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::validation(errors))
    }
}

/// The installments of a new plan that must add up to `owed`, in due order.
fn installments(
    asked: &InstallmentsAsked,
    currency: Currency,
    owed: MinorUnits,
) -> Result<Vec<(NaiveDate, MinorUnits)>, Error> {
    let mut out = match asked {
        InstallmentsAsked::Generated {
            count,
            first_due_on,
            every,
        } => {
            let days = rules::schedule(*first_due_on, *every, *count).ok_or_else(|| {
                Error::field(
                    "count",
                    "out_of_range",
                    "the schedule runs past the calendar",
                )
            })?;
            days.into_iter()
                .zip(rules::split_evenly(owed, *count))
                .collect::<Vec<_>>()
        }
        InstallmentsAsked::Listed(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut errors = Vec::new();
            for (n, (due_on, amount)) in items.iter().enumerate() {
                if amount.currency() != currency {
                    errors.push(FieldError {
                        field: format!("installments.{n}.amount.currency"),
                        code: "currency_mismatch".to_owned(),
                        message: format!("must be the plan's currency {currency}"),
                    });
                    continue;
                }
                match amount.to_minor() {
                    Ok(m) if m.0 > 0 => out.push((*due_on, m)),
                    Ok(_) => errors.push(FieldError {
                        field: format!("installments.{n}.amount.amount"),
                        code: "not_positive".to_owned(),
                        message: "must be greater than zero".to_owned(),
                    }),
                    Err(e) => errors.push(FieldError {
                        field: format!("installments.{n}.amount.amount"),
                        code: "out_of_range".to_owned(),
                        message: e.to_string(),
                    }),
                }
            }
            if !errors.is_empty() {
                return Err(Error::validation(errors));
            }
            out
        }
    };
    let sum = out
        .iter()
        .try_fold(0_i64, |acc, (_, m)| acc.checked_add(m.0))
        .ok_or_else(|| Error::field("installments", "out_of_range", "sum out of range"))?;
    if sum != owed.0 {
        return Err(field_error(
            ErrorCode::PlanDoesNotAddUp,
            "installments",
            "plan_does_not_add_up",
            format!(
                "the installments add up to {}; the receivables owe {}",
                money(sum, currency),
                money(owed.0, currency)
            ),
        ));
    }
    out.sort_by_key(|(d, _)| *d);
    Ok(out)
}

fn announce<P: EventPayload>(
    conn: &mut AnyConnection,
    who: &Principal,
    event: &P,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let env = Envelope::new(crate::SERVICE, event, at, who.request_id.clone(), None)
        .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)?;
    Ok(())
}

/// Makes a payment plan, in the caller's transaction.
#[tracing::instrument(skip_all)]
pub(crate) fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    p: NewPlan,
) -> Result<PlanView, Error> {
    let scope = Scope::of(who);
    let today = Utc::now().date_naive();
    check_days(&p.installments, today)?;
    let rows = chosen_receivables(conn, &scope, &p)?;
    let c = p.currency;
    let owed = rows.iter().map(|r| r.outstanding().0).sum::<i64>();
    let schedule = installments(&p.installments, c, MinorUnits(owed))?;
    let first = rows
        .first()
        .ok_or_else(|| Error::internal(&"a plan without receivables"))?;
    let party = first.party()?;
    let now = db::now();
    let id = uuid::Uuid::now_v7();
    let plan_id = id.to_string();
    let installment_rows: Vec<InstallmentRow> = schedule
        .iter()
        .enumerate()
        .map(|(n, (due_on, m))| InstallmentRow {
            plan_id: plan_id.clone(),
            seq: n as i64 + 1,
            due_on: *due_on,
            amount_minor: m.0,
        })
        .collect();
    let members: Vec<PlanReceivableRow> = rows
        .iter()
        .map(|r| PlanReceivableRow {
            plan_id: plan_id.clone(),
            receivable_id: r.id,
            owed_at_start_minor: r.outstanding().0,
            paid_at_start_minor: r.paid_minor,
        })
        .collect();
    plans::insert(
        conn,
        PlanRow {
            id: plan_id.clone(),
            party_kind: p.party_kind,
            party_id: p.party_id.to_string(),
            payer_code: first.payer_code.clone(),
            currency: c,
            total_minor: owed,
            missed_allowed: i64::from(p.missed_allowed),
            status: PlanStatus::Active,
            created_by: who.subject.clone(),
            created_at: now,
            ended_at: None,
            ended_as_of: None,
            cancel_reason: None,
            updated_at: now,
        },
        installment_rows.clone(),
        members,
    )?;
    let event = PlanCreatedV1 {
        plan_id: id,
        party,
        receivables: rows
            .iter()
            .map(|r| PlanReceivable {
                receivable_id: r.id,
                invoice_id: r.invoice_id,
                invoice_number: r.invoice_number.clone(),
                owed: money(r.outstanding().0, c),
            })
            .collect(),
        total: money(owed, c),
        installments: installment_rows
            .iter()
            .map(|i| PlanInstallment {
                seq: u32::try_from(i.seq).unwrap_or(u32::MAX), // not stored: a seq is 1 to the installment count, a small number
                due_on: i.due_on,
                amount: money(i.amount_minor, c),
                paid: money(0, c),
            })
            .collect(),
        missed_allowed: p.missed_allowed,
        created_by: who.subject.clone(),
        created_at: now.and_utc(),
    };
    announce(conn, who, &event, now.and_utc())?;
    audit::record(
        conn,
        who,
        "create",
        "payment_plan",
        &plan_id,
        serde_json::json!({
            "after": {
                "party": { "kind": p.party_kind, "id": p.party_id },
                "receivables": rows.iter().map(|r| r.id.to_string()).collect::<Vec<_>>(),
                "total": money(owed, c),
                "installments": event.installments.iter().map(|i| serde_json::json!({"due_on": i.due_on, "amount": i.amount})).collect::<Vec<_>>(),
                "missed_allowed": p.missed_allowed,
                "status": PlanStatus::Active,
            }
        }),
        None,
    )?;
    let plan = plans::find(conn, &plan_id)?.ok_or_else(|| Error::not_found("payment plan"))?;
    view(conn, plan, today)
}

/// What a plan's receivables were paid since it began and owe now, with their rows.
struct Standing {
    members: Vec<PlanReceivableRow>,
    rows: HashMap<ReceivableId, ReceivableRow>,
    progress: MinorUnits,
    owed_now: MinorUnits,
    installments: Vec<InstallmentRow>,
}

fn standing(conn: &mut AnyConnection, plan_id: &str) -> Result<Standing, Error> {
    let members = plans::receivables_of(conn, plan_id)?;
    let ids: Vec<ReceivableId> = members.iter().map(|m| m.receivable_id).collect();
    let rows: HashMap<ReceivableId, ReceivableRow> = receivables::by_ids(conn, &ids)?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let paid_now: i64 = rows.values().map(|r| r.paid_minor).sum();
    let paid_then: i64 = members.iter().map(|m| m.paid_at_start_minor).sum();
    let owed_now: i64 = rows.values().map(|r| r.outstanding().0).sum();
    Ok(Standing {
        members,
        rows,
        progress: MinorUnits((paid_now - paid_then).max(0)),
        owed_now: MinorUnits(owed_now),
        installments: plans::installments_of(conn, plan_id)?,
    })
}

impl Standing {
    fn schedule(&self) -> Vec<(NaiveDate, MinorUnits)> {
        self.installments
            .iter()
            .map(|i| (i.due_on, MinorUnits(i.amount_minor)))
            .collect()
    }

    fn owed_by_receivable(&self, c: Currency) -> Vec<PlanReceivable> {
        self.members
            .iter()
            .filter_map(|m| self.rows.get(&m.receivable_id))
            .map(|r| PlanReceivable {
                receivable_id: r.id,
                invoice_id: r.invoice_id,
                invoice_number: r.invoice_number.clone(),
                owed: money(r.outstanding().0, c),
            })
            .collect()
    }
}

fn view(conn: &mut AnyConnection, plan: PlanRow, as_of: NaiveDate) -> Result<PlanView, Error> {
    let s = standing(conn, &plan.id)?;
    let c = plan.currency;
    let as_of = if plan.status == PlanStatus::Active {
        as_of
    } else {
        plan.ended_as_of.unwrap_or(as_of) // not stored: a plan ended before the column was kept is read as of today
    };
    let states = rules::fill_installments(&s.schedule(), s.progress, as_of);
    let party = match s.rows.values().next() {
        Some(r) => r.party()?,
        None => return Err(Error::internal(&"a plan without receivables")),
    };
    Ok(PlanView {
        id: plan.id.clone(),
        party,
        currency: c,
        total: money(plan.total_minor, c),
        paid: money(s.progress.0, c),
        outstanding: money(s.owed_now.0, c),
        missed_allowed: u32::try_from(plan.missed_allowed).unwrap_or(u32::MAX), // not stored: checked to 0..=12 when stored
        status: plan.status,
        as_of,
        installments: s
            .installments
            .iter()
            .zip(states)
            .map(|(i, st)| InstallmentView {
                seq: u32::try_from(i.seq).unwrap_or(u32::MAX), // not stored: a seq is 1 to the installment count, a small number
                due_on: i.due_on,
                amount: money(i.amount_minor, c),
                paid: money(st.paid.0, c),
                status: st.status,
            })
            .collect(),
        receivables: s
            .members
            .iter()
            .filter_map(|m| s.rows.get(&m.receivable_id).map(|r| (m, r)))
            .map(|(m, r)| PlanReceivableView {
                receivable_id: r.id,
                invoice_id: r.invoice_id,
                invoice_number: r.invoice_number.clone(),
                owed_at_start: money(m.owed_at_start_minor, c),
                outstanding: money(r.outstanding().0, c),
            })
            .collect(),
        created_by: plan.created_by,
        created_at: plan.created_at.and_utc(),
        ended_at: plan.ended_at.map(|t| t.and_utc()),
        cancel_reason: plan.cancel_reason,
    })
}

/// Whether the caller may see a plan: a payer's portal user its payer's, a token limited to
/// some locations one whose receivables are all at them.
fn visible(conn: &mut AnyConnection, scope: &Scope, plan: &PlanRow) -> Result<bool, Error> {
    if let Some(p) = &scope.payer
        && plan.payer_code.as_deref() != Some(p.as_str())
    {
        return Ok(false);
    }
    if scope.locations.is_none() {
        return Ok(true);
    }
    let ids: Vec<ReceivableId> = plans::receivables_of(conn, &plan.id)?
        .into_iter()
        .map(|m| m.receivable_id)
        .collect();
    Ok(receivables::by_ids(conn, &ids)?
        .iter()
        .all(|r| scope.allows(&r.location_code, r.payer_code.as_deref())))
}

/// A plan in the caller's scope as it stands on `as_of`.
#[tracing::instrument(skip_all, fields(plan_id = %id))]
pub(crate) fn plan(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: uuid::Uuid,
    as_of: NaiveDate,
) -> Result<PlanView, Error> {
    let row =
        plans::find(conn, &id.to_string())?.ok_or_else(|| Error::not_found("payment plan"))?;
    if !visible(conn, scope, &row)? {
        return Err(Error::not_found("payment plan"));
    }
    view(conn, row, as_of)
}

/// A page of the plans in the caller's scope matching `filter`, oldest first.
#[tracing::instrument(skip_all)]
pub(crate) fn plans(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &PlanFilter,
    page: &PageRequest,
    as_of: NaiveDate,
) -> Result<Page<PlanView>, Error> {
    let stored = StoredFilter {
        party_kind: filter.party_kind,
        party_id: filter.party_id.clone(),
        status: filter.status,
    };
    let rows = plans::list(conn, scope, &stored, page)?;
    Page::from_rows(rows, page, |r| r.id.clone()).try_map(|r| view(conn, r, as_of))
}

/// Cancels an active plan in the caller's scope with `reason`: its receivables go back to
/// normal collection.
#[tracing::instrument(skip_all, fields(plan_id = %id))]
pub(crate) fn cancel(
    conn: &mut AnyConnection,
    who: &Principal,
    id: uuid::Uuid,
    reason: &str,
) -> Result<PlanView, Error> {
    let scope = Scope::of(who);
    let plan_id = id.to_string();
    let row = plans::lock(conn, &plan_id)?.ok_or_else(|| Error::not_found("payment plan"))?;
    if !visible(conn, &scope, &row)? {
        return Err(Error::not_found("payment plan"));
    }
    if row.status != PlanStatus::Active {
        return Err(Error::new(
            ErrorCode::PlanNotActive,
            format!("the plan is {}", row.status),
        ));
    }
    let now = db::now();
    let today = now.date();
    plans::end(
        conn,
        &plan_id,
        PlanStatus::Cancelled,
        Some(today),
        Some(reason),
        now,
    )?;
    audit::record(
        conn,
        who,
        "cancel",
        "payment_plan",
        &plan_id,
        serde_json::json!({ "status": { "before": row.status, "after": PlanStatus::Cancelled } }),
        Some(reason),
    )?;
    let row = plans::find(conn, &plan_id)?.ok_or_else(|| Error::not_found("payment plan"))?;
    view(conn, row, today)
}

/// Evaluates one plan on `as_of`; what it became when it ended now.
fn evaluate_one(
    conn: &mut AnyConnection,
    who: &Principal,
    plan_id: &str,
    as_of: NaiveDate,
) -> Result<Option<PlanStatus>, Error> {
    let Some(plan) = plans::lock(conn, plan_id)? else {
        return Ok(None);
    };
    if plan.status != PlanStatus::Active {
        return Ok(None);
    }
    let s = standing(conn, plan_id)?;
    let c = plan.currency;
    let allowed = u32::try_from(plan.missed_allowed).unwrap_or(u32::MAX); // not stored: checked to 0..=12 when stored
    let outcome = rules::plan_outcome(&s.schedule(), s.progress, s.owed_now, allowed, as_of);
    let party = match s.rows.values().next() {
        Some(r) => r.party()?,
        None => return Ok(None),
    };
    let now = db::now();
    let plan_uuid =
        uuid::Uuid::parse_str(plan_id).map_err(|e| Error::stored("payment plan id", plan_id, e))?;
    let status = match outcome {
        PlanOutcome::Active => return Ok(None),
        PlanOutcome::Completed => {
            let event = PlanCompletedV1 {
                plan_id: plan_uuid,
                party,
                receivables: s.owed_by_receivable(c),
                total: money(plan.total_minor, c),
                paid: money(s.progress.0, c),
                as_of,
                completed_at: now.and_utc(),
            };
            announce(conn, who, &event, now.and_utc())?;
            PlanStatus::Completed
        }
        PlanOutcome::Broken { missed } => {
            let states = rules::fill_installments(&s.schedule(), s.progress, as_of);
            let event = PlanBrokenV1 {
                plan_id: plan_uuid,
                party,
                receivables: s.owed_by_receivable(c),
                outstanding: money(s.owed_now.0, c),
                missed: missed
                    .iter()
                    .filter_map(|&n| s.installments.get(n).zip(states.get(n)))
                    .map(|(i, st)| PlanInstallment {
                        seq: u32::try_from(i.seq).unwrap_or(u32::MAX), // not stored: a seq is 1 to the installment count, a small number
                        due_on: i.due_on,
                        amount: money(i.amount_minor, c),
                        paid: money(st.paid.0, c),
                    })
                    .collect(),
                missed_allowed: allowed,
                as_of,
                broken_at: now.and_utc(),
            };
            announce(conn, who, &event, now.and_utc())?;
            PlanStatus::Broken
        }
    };
    plans::end(conn, plan_id, status, Some(as_of), None, now)?;
    audit::record(
        conn,
        who,
        if status == PlanStatus::Broken {
            "break"
        } else {
            "complete"
        },
        "payment_plan",
        plan_id,
        serde_json::json!({
            "status": { "before": plan.status, "after": status },
            "as_of": as_of,
            "paid": money(s.progress.0, c),
            "outstanding": money(s.owed_now.0, c),
        }),
        None,
    )?;
    Ok(Some(status))
}

fn evaluate(
    conn: &mut AnyConnection,
    who: &Principal,
    ids: Vec<String>,
    as_of: NaiveDate,
) -> Result<Evaluation, Error> {
    let mut out = Evaluation {
        as_of: Some(as_of),
        ..Evaluation::default()
    };
    for id in ids {
        match evaluate_one(conn, who, &id, as_of)? {
            Some(PlanStatus::Completed) => out.completed.push(id),
            Some(PlanStatus::Broken) => out.broken.push(id),
            _ => out.still_active += 1,
        }
    }
    Ok(out)
}

/// Evaluates every active plan on `as_of` (dunning's run calls this before deciding): plans
/// whose installments are all paid complete, plans with more missed installments than allowed
/// break. Idempotent: only active plans change. Audited as the service itself.
pub(crate) fn evaluate_plans(
    conn: &mut AnyConnection,
    as_of: NaiveDate,
) -> Result<Evaluation, Error> {
    evaluate_plans_by(conn, &system_actor(), as_of)
}

/// [`evaluate_plans`] asked for by `who` (audited as them).
#[tracing::instrument(skip_all, fields(as_of = %as_of))]
pub(crate) fn evaluate_plans_by(
    conn: &mut AnyConnection,
    who: &Principal,
    as_of: NaiveDate,
) -> Result<Evaluation, Error> {
    let ids = plans::active_ids(conn)?;
    evaluate(conn, who, ids, as_of)
}

/// Evaluates the active plans holding these receivables, after a payment was allocated to
/// them, as of today (UTC).
pub(crate) fn after_payment(
    conn: &mut AnyConnection,
    who: &Principal,
    receivable_ids: &[ReceivableId],
) -> Result<(), Error> {
    let mut ids: Vec<String> = plans::in_active_plans(conn, receivable_ids)?
        .into_iter()
        .map(|(_, plan)| plan)
        .collect();
    ids.sort();
    ids.dedup();
    if !ids.is_empty() {
        evaluate(conn, who, ids, Utc::now().date_naive())?;
    }
    Ok(())
}
