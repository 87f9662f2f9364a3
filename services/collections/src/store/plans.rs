//! Stored payment plans: the plan, its installments in due order, and its receivables with
//! what had been paid on each when the plan began. Which plans are active is the `status`
//! column, read by dunning as well.

use carebill_domain::Currency;
use carebill_domain::collections::plans::PlanStatus;
use carebill_domain::events::PartyKind;
use carebill_domain::ids::ReceivableId;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::schema::{
    payment_plan_installments, payment_plan_receivables, payment_plans, receivables,
};

/// A stored plan.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_plans)]
pub(crate) struct PlanRow {
    /// Id (a UUIDv7).
    pub id: String,
    /// Payer or patient.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub party_kind: PartyKind,
    /// The party's id.
    pub party_id: String,
    /// The payer's code (payers only): a payer's portal user sees its own plans.
    pub payer_code: Option<String>,
    /// Currency of every amount.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// The sum of the installments: what the receivables owed when the plan began.
    pub total_minor: i64,
    /// How many installments may be missed before the plan breaks.
    pub missed_allowed: i64,
    /// Active, completed, broken or cancelled.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: PlanStatus,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// When it completed, broke or was cancelled.
    pub ended_at: Option<NaiveDateTime>,
    /// The day it was evaluated on when it completed or broke.
    pub ended_as_of: Option<NaiveDate>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// A stored installment.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_plan_installments)]
pub(crate) struct InstallmentRow {
    /// The plan.
    pub plan_id: String,
    /// Place in due order, from 1.
    pub seq: i64,
    /// Due on.
    pub due_on: NaiveDate,
    /// Amount, in minor units.
    pub amount_minor: i64,
}

/// A receivable of a plan, with what it owed and had been paid when the plan began.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_plan_receivables)]
pub(crate) struct PlanReceivableRow {
    /// The plan.
    pub plan_id: String,
    /// The receivable.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub receivable_id: ReceivableId,
    /// What it owed when the plan began, in minor units.
    pub owed_at_start_minor: i64,
    /// What had been paid on it then, in minor units.
    pub paid_at_start_minor: i64,
}

/// What the plan list can be filtered by.
#[derive(Debug, Clone, Default)]
pub(crate) struct PlanFilter {
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The party's id (a normalised UUID).
    pub party_id: Option<String>,
    /// Status.
    pub status: Option<PlanStatus>,
}

/// Stores a plan with its installments and receivables.
pub(crate) fn insert(
    conn: &mut AnyConnection,
    plan: PlanRow,
    installments: Vec<InstallmentRow>,
    members: Vec<PlanReceivableRow>,
) -> Result<(), Error> {
    diesel::insert_into(payment_plans::table)
        .values(plan)
        .execute(conn)?;
    for i in installments {
        diesel::insert_into(payment_plan_installments::table)
            .values(i)
            .execute(conn)?;
    }
    for m in members {
        diesel::insert_into(payment_plan_receivables::table)
            .values(m)
            .execute(conn)?;
    }
    Ok(())
}

/// A plan, whoever may see it.
pub(crate) fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<PlanRow>, Error> {
    Ok(payment_plans::table
        .find(id)
        .select(PlanRow::as_select())
        .first(conn)
        .optional()?)
}

/// Locks a plan until the transaction ends and reads it again.
pub(crate) fn lock(conn: &mut AnyConnection, id: &str) -> Result<Option<PlanRow>, Error> {
    db::lock_row(conn, "payment_plans", id)?;
    find(conn, id)
}

/// A plan's installments, in due order.
pub(crate) fn installments_of(
    conn: &mut AnyConnection,
    plan_id: &str,
) -> Result<Vec<InstallmentRow>, Error> {
    Ok(payment_plan_installments::table
        .filter(payment_plan_installments::plan_id.eq(plan_id))
        .order(payment_plan_installments::seq.asc())
        .select(InstallmentRow::as_select())
        .load(conn)?)
}

/// A plan's receivables, in id order.
pub(crate) fn receivables_of(
    conn: &mut AnyConnection,
    plan_id: &str,
) -> Result<Vec<PlanReceivableRow>, Error> {
    Ok(payment_plan_receivables::table
        .filter(payment_plan_receivables::plan_id.eq(plan_id))
        .order(payment_plan_receivables::receivable_id.asc())
        .select(PlanReceivableRow::as_select())
        .load(conn)?)
}

/// Of these receivables, those in an active plan: `(receivable id, plan id)`.
pub(crate) fn in_active_plans(
    conn: &mut AnyConnection,
    receivable_ids: &[ReceivableId],
) -> Result<Vec<(String, String)>, Error> {
    if receivable_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = receivable_ids.iter().map(ToString::to_string).collect();
    let mut out = Vec::new();
    for chunk in ids.chunks(super::KEYS_PER_QUERY) {
        out.extend(
            payment_plan_receivables::table
                .inner_join(payment_plans::table)
                .filter(payment_plan_receivables::receivable_id.eq_any(chunk))
                .filter(payment_plans::status.eq(PlanStatus::Active.as_str()))
                .select((
                    payment_plan_receivables::receivable_id,
                    payment_plan_receivables::plan_id,
                ))
                .load::<(String, String)>(conn)?,
        );
    }
    Ok(out)
}

/// The ids of every active plan, oldest first.
pub(crate) fn active_ids(conn: &mut AnyConnection) -> Result<Vec<String>, Error> {
    Ok(payment_plans::table
        .filter(payment_plans::status.eq(PlanStatus::Active.as_str()))
        .order(payment_plans::id.asc())
        .select(payment_plans::id)
        .load(conn)?)
}

/// Ends a plan: completed, broken or cancelled.
pub(crate) fn end(
    conn: &mut AnyConnection,
    id: &str,
    status: PlanStatus,
    as_of: Option<NaiveDate>,
    cancel_reason: Option<&str>,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(payment_plans::table.find(id))
        .set((
            payment_plans::status.eq(status.as_str()),
            payment_plans::ended_at.eq(Some(at)),
            payment_plans::ended_as_of.eq(as_of),
            payment_plans::cancel_reason.eq(cancel_reason),
            payment_plans::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Up to `page.limit + 1` plans in the caller's scope matching `f`, in id order. A payer's
/// portal user sees its payer's plans; a token limited to some locations sees the plans whose
/// receivables are all at them.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &PlanFilter,
    page: &PageRequest,
) -> Result<Vec<PlanRow>, Error> {
    let mut q = payment_plans::table
        .select(PlanRow::as_select())
        .into_boxed();
    if let Some(p) = &scope.payer {
        q = q.filter(payment_plans::payer_code.eq(p.clone()));
    }
    if let Some(codes) = &scope.locations {
        q = q.filter(diesel::dsl::not(
            payment_plans::id.eq_any(
                payment_plan_receivables::table
                    .inner_join(receivables::table)
                    .filter(diesel::dsl::not(
                        receivables::location_code.eq_any(codes.clone()),
                    ))
                    .select(payment_plan_receivables::plan_id),
            ),
        ));
    }
    if let Some(k) = f.party_kind {
        q = q.filter(payment_plans::party_kind.eq(k.as_str()));
    }
    if let Some(p) = &f.party_id {
        q = q.filter(payment_plans::party_id.eq(p.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(payment_plans::status.eq(s.as_str()));
    }
    if let Some(after) = &page.after {
        q = q.filter(payment_plans::id.gt(after.clone()));
    }
    Ok(q.order(payment_plans::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}
