//! Stored reminder contacts, policies, runs and notices, and the queries a run and the sender
//! need: the receivables that still owe, the highest level each already got, the notices due.

use std::collections::HashMap;

use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::receivables::{OWING, ReceivableRow};
use crate::schema::{
    payment_plan_receivables, payment_plans, receivable_disputes, receivables, reminder_contacts,
    reminder_notices, reminder_policies, reminder_runs,
};

/// How a party is reached, as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = reminder_contacts, treat_none_as_null = true)]
pub(crate) struct ContactRow {
    pub party_kind: String,
    pub party_id: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub opted_out: bool,
    pub updated_by: String,
    pub updated_at: NaiveDateTime,
    /// Postal address lines, newline-separated.
    pub postal_address: Option<String>,
}

/// A stored policy; `body` is its levels, languages and quiet hours as JSON (the service's
/// stored form), `location_code` empty for every location.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reminder_policies)]
pub(crate) struct PolicyRow {
    pub code: String,
    pub party_kind: String,
    pub location_code: String,
    pub version: i64,
    pub body: String,
    pub updated_by: String,
    pub updated_at: NaiveDateTime,
}

/// A stored run.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reminder_runs)]
pub(crate) struct RunRow {
    pub id: String,
    pub as_of: NaiveDate,
    pub location_code: Option<String>,
    pub considered: i64,
    pub queued: i64,
    /// Counts per reason, as JSON.
    pub skipped: String,
    pub started_by: String,
    pub started_at: NaiveDateTime,
}

/// A stored notice.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = reminder_notices)]
pub(crate) struct NoticeRow {
    pub id: String,
    pub run_id: String,
    pub receivable_id: String,
    pub invoice_id: String,
    pub invoice_number: String,
    pub location_code: String,
    pub location_time_zone: String,
    pub payer_code: Option<String>,
    pub party_kind: String,
    pub party_id: String,
    pub policy_code: String,
    pub policy_version: i64,
    pub level: i64,
    pub level_name: String,
    pub channel: String,
    pub recipient: String,
    pub language: String,
    pub subject: Option<String>,
    pub body: String,
    pub currency: String,
    pub outstanding_minor: i64,
    pub fee_minor: i64,
    pub interest_minor: i64,
    pub status: String,
    pub attempts: i64,
    pub not_before: NaiveDateTime,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The contact of a party.
pub(crate) fn contact(
    conn: &mut AnyConnection,
    party_kind: &str,
    party_id: &str,
) -> Result<Option<ContactRow>, Error> {
    Ok(reminder_contacts::table
        .find((party_kind, party_id))
        .select(ContactRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores a party's contact, replacing the one it had.
pub(crate) fn put_contact(conn: &mut AnyConnection, row: &ContactRow) -> Result<(), Error> {
    let n = diesel::update(
        reminder_contacts::table.find((row.party_kind.as_str(), row.party_id.as_str())),
    )
    .set(row)
    .execute(conn)?;
    if n == 0 {
        diesel::insert_into(reminder_contacts::table)
            .values(row.clone())
            .execute(conn)?;
    }
    Ok(())
}

/// Every contact, by (party kind, party id).
pub(crate) fn contacts(
    conn: &mut AnyConnection,
) -> Result<HashMap<(String, String), ContactRow>, Error> {
    Ok(reminder_contacts::table
        .select(ContactRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|c| ((c.party_kind.clone(), c.party_id.clone()), c))
        .collect())
}

/// A policy by code.
pub(crate) fn policy(conn: &mut AnyConnection, code: &str) -> Result<Option<PolicyRow>, Error> {
    Ok(reminder_policies::table
        .find(code)
        .select(PolicyRow::as_select())
        .first(conn)
        .optional()?)
}

/// The policy for a party kind and location code (empty: every location), if any.
pub(crate) fn policy_for_scope(
    conn: &mut AnyConnection,
    party_kind: &str,
    location_code: &str,
) -> Result<Option<PolicyRow>, Error> {
    Ok(reminder_policies::table
        .filter(reminder_policies::party_kind.eq(party_kind))
        .filter(reminder_policies::location_code.eq(location_code))
        .select(PolicyRow::as_select())
        .first(conn)
        .optional()?)
}

/// Every policy, by code.
pub(crate) fn policies(conn: &mut AnyConnection) -> Result<Vec<PolicyRow>, Error> {
    Ok(reminder_policies::table
        .order(reminder_policies::code)
        .select(PolicyRow::as_select())
        .load(conn)?)
}

/// Stores a new policy.
pub(crate) fn insert_policy(conn: &mut AnyConnection, row: PolicyRow) -> Result<(), Error> {
    diesel::insert_into(reminder_policies::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// Replaces version `row.version - 1` of a policy; false when it is no longer that version.
pub(crate) fn replace_policy(conn: &mut AnyConnection, row: &PolicyRow) -> Result<bool, Error> {
    let n = diesel::update(
        reminder_policies::table
            .find(row.code.as_str())
            .filter(reminder_policies::version.eq(row.version - 1)),
    )
    .set((
        reminder_policies::party_kind.eq(&row.party_kind),
        reminder_policies::location_code.eq(&row.location_code),
        reminder_policies::version.eq(row.version),
        reminder_policies::body.eq(&row.body),
        reminder_policies::updated_by.eq(&row.updated_by),
        reminder_policies::updated_at.eq(row.updated_at),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// The receivables that still owe (open or partly paid), of one location or all.
pub(crate) fn owing(
    conn: &mut AnyConnection,
    location_code: Option<&str>,
) -> Result<Vec<ReceivableRow>, Error> {
    let mut q = receivables::table
        .filter(receivables::status.eq_any(OWING))
        .select(ReceivableRow::as_select())
        .into_boxed();
    if let Some(code) = location_code {
        q = q.filter(receivables::location_code.eq(code.to_owned()));
    }
    Ok(q.order(receivables::id).load(conn)?)
}

/// The highest level each receivable already got a notice for.
pub(crate) fn highest_levels(conn: &mut AnyConnection) -> Result<HashMap<String, i64>, Error> {
    let rows: Vec<(String, Option<i64>)> = reminder_notices::table
        .group_by(reminder_notices::receivable_id)
        .select((
            reminder_notices::receivable_id,
            diesel::dsl::max(reminder_notices::level),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, level)| (id, level.unwrap_or(0))) // not stored: max() over a group is never null
        .collect())
}

/// Stores a run.
pub(crate) fn insert_run(conn: &mut AnyConnection, row: RunRow) -> Result<(), Error> {
    diesel::insert_into(reminder_runs::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

/// A run by id.
pub(crate) fn run(conn: &mut AnyConnection, id: &str) -> Result<Option<RunRow>, Error> {
    Ok(reminder_runs::table
        .find(id)
        .select(RunRow::as_select())
        .first(conn)
        .optional()?)
}

/// Stores notices; one a receivable already has for its level (a run at the same time) is
/// left alone. Returns how many were stored.
pub(crate) fn insert_notices(
    conn: &mut AnyConnection,
    rows: Vec<NoticeRow>,
) -> Result<usize, Error> {
    let mut stored = 0;
    match conn {
        AnyConnection::Postgresql(pg) => {
            for chunk in rows.chunks(500) {
                stored += diesel::insert_into(reminder_notices::table)
                    .values(chunk.to_vec())
                    .on_conflict_do_nothing()
                    .execute(pg)?;
            }
        }
        // SQLite: no multi-row INSERT through MultiConnection; one by one in the transaction.
        AnyConnection::Sqlite(lite) => {
            for row in rows {
                stored += diesel::insert_into(reminder_notices::table)
                    .values(row)
                    .on_conflict_do_nothing()
                    .execute(lite)?;
            }
        }
    }
    Ok(stored)
}

/// Queued notices whose time has come, oldest first.
pub(crate) fn due(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
    limit: i64,
) -> Result<Vec<NoticeRow>, Error> {
    Ok(reminder_notices::table
        .filter(reminder_notices::status.eq("queued"))
        .filter(reminder_notices::not_before.le(now))
        .order((reminder_notices::not_before, reminder_notices::id))
        .limit(limit)
        .select(NoticeRow::as_select())
        .load(conn)?)
}

/// Takes a queued notice for sending (one attempt more); false when another sender took it.
pub(crate) fn claim(conn: &mut AnyConnection, id: &str, now: NaiveDateTime) -> Result<bool, Error> {
    let n = diesel::update(
        reminder_notices::table
            .find(id)
            .filter(reminder_notices::status.eq("queued")),
    )
    .set((
        reminder_notices::status.eq("sending"),
        reminder_notices::attempts.eq(reminder_notices::attempts + 1),
        reminder_notices::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}

/// Moves a queued notice to a later time (quiet hours).
pub(crate) fn defer(
    conn: &mut AnyConnection,
    id: &str,
    not_before: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(
        reminder_notices::table
            .find(id)
            .filter(reminder_notices::status.eq("queued")),
    )
    .set((
        reminder_notices::not_before.eq(not_before),
        reminder_notices::updated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(())
}

/// What became of one attempt.
pub(crate) struct Outcome<'a> {
    pub status: &'a str,
    pub not_before: Option<NaiveDateTime>,
    pub last_error: Option<String>,
    pub provider_id: Option<String>,
    pub sent_at: Option<NaiveDateTime>,
}

/// Records what became of a notice that was being sent (or was queued, for a cancellation).
pub(crate) fn settle(
    conn: &mut AnyConnection,
    id: &str,
    outcome: Outcome<'_>,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(reminder_notices::table.find(id))
        .set((
            reminder_notices::status.eq(outcome.status),
            reminder_notices::last_error.eq(outcome.last_error),
            reminder_notices::provider_id.eq(outcome.provider_id),
            reminder_notices::sent_at.eq(outcome.sent_at),
            reminder_notices::updated_at.eq(now),
        ))
        .execute(conn)?;
    if let Some(at) = outcome.not_before {
        diesel::update(reminder_notices::table.find(id))
            .set(reminder_notices::not_before.eq(at))
            .execute(conn)?;
    }
    Ok(())
}

/// Receivables a run leaves alone whatever their level, with why: disputed, or in an active
/// payment plan.
pub(crate) fn held(conn: &mut AnyConnection) -> Result<HashMap<String, &'static str>, Error> {
    let disputed: Vec<String> = receivable_disputes::table
        .filter(receivable_disputes::resolved_at.is_null())
        .select(receivable_disputes::receivable_id)
        .load(conn)?;
    let planned: Vec<String> = payment_plan_receivables::table
        .inner_join(payment_plans::table)
        .filter(payment_plans::status.eq("active"))
        .select(payment_plan_receivables::receivable_id)
        .load(conn)?;
    let mut held: HashMap<String, &'static str> =
        planned.into_iter().map(|id| (id, "in_plan")).collect();
    held.extend(disputed.into_iter().map(|id| (id, "disputed")));
    Ok(held)
}

/// Why the notice should no longer go out, if it should not: its receivable no longer owes, is
/// held (disputed, in a plan), or its party opted out since the run.
pub(crate) fn why_not_sent(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<&'static str>, Error> {
    let n: NoticeRow = reminder_notices::table
        .find(id)
        .select(NoticeRow::as_select())
        .first(conn)?;
    let r: Option<ReceivableRow> = receivables::table
        .find(n.receivable_id.clone())
        .select(ReceivableRow::as_select())
        .first(conn)
        .optional()?;
    match r {
        None => return Ok(Some("the receivable is gone")),
        Some(r) if !OWING.contains(&r.status.as_str()) || r.outstanding().0 <= 0 => {
            return Ok(Some("the receivable no longer owes anything"));
        }
        Some(_) => {}
    }
    if held(conn)?.contains_key(&n.receivable_id) {
        return Ok(Some("the receivable is disputed or in a payment plan"));
    }
    if contact(conn, &n.party_kind, &n.party_id)?.is_some_and(|c| c.opted_out) {
        return Ok(Some("the party opted out of reminders"));
    }
    Ok(None)
}

/// What the notice list can be filtered by.
#[derive(Debug, Clone, Default)]
pub(crate) struct NoticeFilter {
    pub receivable_id: Option<String>,
    pub run_id: Option<String>,
    pub status: Option<String>,
    pub party_kind: Option<String>,
    pub party_id: Option<String>,
}

/// A page of notices in the caller's scope, by id.
pub(crate) fn notices(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &NoticeFilter,
    page: &PageRequest,
) -> Result<Vec<NoticeRow>, Error> {
    let q = reminder_notices::table
        .select(NoticeRow::as_select())
        .into_boxed();
    let mut q = carebill_platform::scoped!(
        q,
        scope,
        reminder_notices::location_code,
        reminder_notices::payer_code
    );
    if let Some(v) = &f.receivable_id {
        q = q.filter(reminder_notices::receivable_id.eq(v.clone()));
    }
    if let Some(v) = &f.run_id {
        q = q.filter(reminder_notices::run_id.eq(v.clone()));
    }
    if let Some(v) = &f.status {
        q = q.filter(reminder_notices::status.eq(v.clone()));
    }
    if let Some(v) = &f.party_kind {
        q = q.filter(reminder_notices::party_kind.eq(v.clone()));
    }
    if let Some(v) = &f.party_id {
        q = q.filter(reminder_notices::party_id.eq(v.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(reminder_notices::id.gt(after.clone()));
    }
    Ok(q.order(reminder_notices::id)
        .limit(page.limit + 1)
        .load(conn)?)
}

/// A notice in the caller's scope.
pub(crate) fn notice(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
) -> Result<Option<NoticeRow>, Error> {
    let q = reminder_notices::table
        .filter(reminder_notices::id.eq(id.to_owned()))
        .select(NoticeRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        reminder_notices::location_code,
        reminder_notices::payer_code
    );
    Ok(q.first(conn).optional()?)
}
