//! A party's balance: per currency, what was invoiced, cancelled, paid, what is outstanding and
//! overdue, and the credit left from payments not (or no longer) allocated. Every figure is a
//! sum in SQL over integer minor units, so it is exact on both backends.

use std::collections::BTreeMap;

use actix_web::web;
use carebill_domain::Money;
use carebill_domain::collections::ReceivableStatus;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_platform::Error;
use carebill_platform::auth::Principal;
use carebill_platform::db::AnyConnection;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use serde::Serialize;

use crate::CollectionsState;
use crate::access::{READERS, Scope};
use crate::payments::{self, Payment};
use crate::receivables::{has_status, in_scope, money};
use crate::schema::{payments as ptable, receivables};

/// How many recent payments a balance shows.
const RECENT_PAYMENTS: i64 = 10;

/// A party's figures in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CurrencyBalance {
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Total of every invoice issued to the party (cancelled ones included).
    pub invoiced: Money,
    /// Total of the invoices cancelled by credit notes.
    pub cancelled: Money,
    /// Paid on invoices that stand (invoiced − cancelled = paid + outstanding).
    pub paid: Money,
    /// Still owed.
    pub outstanding: Money,
    /// Of the outstanding, what is past its due date.
    pub overdue: Money,
    /// Money received and not allocated (or returned by credit notes): the party's credit.
    pub unallocated_credit: Money,
    /// Receivables still owing (open, partially paid or overdue).
    pub open_receivables: i64,
}

/// A party's balance.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Balance {
    /// The party.
    pub party: PartyRef,
    /// Figures per currency, by currency code.
    pub currencies: Vec<CurrencyBalance>,
    /// The party's latest payments, newest first.
    pub recent_payments: Vec<Payment>,
}

const INVOICED: &str = "CAST(COALESCE(SUM(total_minor), 0) AS BIGINT)";
const CANCELLED: &str =
    "CAST(COALESCE(SUM(CASE WHEN status = 'cancelled' THEN total_minor ELSE 0 END), 0) AS BIGINT)";
const PAID: &str =
    "CAST(COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 0 ELSE paid_minor END), 0) AS BIGINT)";
const OUTSTANDING: &str = "CAST(COALESCE(SUM(CASE WHEN status IN ('open', 'partially_paid') THEN total_minor - paid_minor ELSE 0 END), 0) AS BIGINT)";
const OPEN_COUNT: &str =
    "CAST(COUNT(CASE WHEN status IN ('open', 'partially_paid') THEN 1 END) AS BIGINT)";
const OWED: &str = "CAST(COALESCE(SUM(total_minor - paid_minor), 0) AS BIGINT)";
const CREDIT: &str = "CAST(COALESCE(SUM(amount_minor - allocated_minor), 0) AS BIGINT)";

#[derive(Default)]
struct Sums {
    invoiced: i64,
    cancelled: i64,
    paid: i64,
    outstanding: i64,
    overdue: i64,
    credit: i64,
    open: i64,
}

fn balance(
    conn: &mut AnyConnection,
    scope: &Scope,
    kind: PartyKind,
    party_id: &str,
    now: DateTime<Utc>,
) -> Result<Balance, Error> {
    if let Some(code) = &scope.payer_code {
        let known: i64 = receivables::table
            .filter(receivables::party_kind.eq(PartyKind::Payer.as_str()))
            .filter(receivables::party_id.eq(party_id))
            .filter(receivables::payer_code.eq(code))
            .count()
            .get_result(conn)?;
        if kind != PartyKind::Payer || known == 0 {
            return Err(Error::not_found("party"));
        }
    }
    let mut by_currency: BTreeMap<String, Sums> = BTreeMap::new();
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = receivables::table
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id))
        .filter(in_scope(scope))
        .group_by(receivables::currency)
        .select((
            receivables::currency,
            sql::<BigInt>(INVOICED),
            sql::<BigInt>(CANCELLED),
            sql::<BigInt>(PAID),
            sql::<BigInt>(OUTSTANDING),
            sql::<BigInt>(OPEN_COUNT),
        ))
        .load(conn)?;
    for (currency, invoiced, cancelled, paid, outstanding, open) in rows {
        let s = by_currency.entry(currency).or_default();
        (s.invoiced, s.cancelled, s.paid, s.outstanding, s.open) =
            (invoiced, cancelled, paid, outstanding, open);
    }
    let overdue: Vec<(String, i64)> = receivables::table
        .filter(receivables::party_kind.eq(kind.as_str()))
        .filter(receivables::party_id.eq(party_id))
        .filter(in_scope(scope))
        .filter(has_status(conn, ReceivableStatus::Overdue, now)?)
        .group_by(receivables::currency)
        .select((receivables::currency, sql::<BigInt>(OWED)))
        .load(conn)?;
    for (currency, owed) in overdue {
        by_currency.entry(currency).or_default().overdue = owed;
    }
    let credit: Vec<(String, i64)> = ptable::table
        .filter(ptable::party_kind.eq(kind.as_str()))
        .filter(ptable::party_id.eq(party_id))
        .group_by(ptable::currency)
        .select((ptable::currency, sql::<BigInt>(CREDIT)))
        .load(conn)?;
    for (currency, left) in credit {
        by_currency.entry(currency).or_default().credit = left;
    }
    if by_currency.is_empty() {
        return Err(Error::not_found("party"));
    }
    let payer_code = if kind == PartyKind::Payer {
        receivables::table
            .filter(receivables::party_kind.eq(kind.as_str()))
            .filter(receivables::party_id.eq(party_id))
            .select(receivables::payer_code)
            .first::<Option<String>>(conn)
            .optional()?
            .flatten()
    } else {
        None
    };
    Ok(Balance {
        party: PartyRef {
            kind,
            id: party_id.parse().unwrap_or_default(),
            payer_code,
            payer_kind: None,
            coverage_id: None,
            policy_number: None,
        },
        currencies: by_currency
            .into_iter()
            .map(|(c, s)| CurrencyBalance {
                invoiced: money(s.invoiced, &c),
                cancelled: money(s.cancelled, &c),
                paid: money(s.paid, &c),
                outstanding: money(s.outstanding, &c),
                overdue: money(s.overdue, &c),
                unallocated_credit: money(s.credit, &c),
                open_receivables: s.open,
                currency: c,
            })
            .collect(),
        recent_payments: payments::recent(conn, scope, kind, party_id, RECENT_PAYMENTS)?,
    })
}

/// A payer's or a patient's balance per currency, with its latest payments.
#[utoipa::path(get, path = "/v1/balances/{party_kind}/{party_id}", tag = "balances",
    params(("party_kind" = PartyKind, Path, description = "payer or patient"),
        ("party_id" = String, Path, description = "The payer's or patient's id")),
    responses((status = 200, description = "The balance", body = Balance),
        (status = 404, description = "Nothing known about this party (or not visible to the caller)")),
    security(("bearer" = [])))]
pub async fn get_balance(
    state: web::Data<CollectionsState>,
    who: Principal,
    path: web::Path<(String, String)>,
) -> Result<web::Json<Balance>, Error> {
    who.require(READERS)?;
    let (kind, id) = path.into_inner();
    let kind: PartyKind = kind.parse().map_err(|_| Error::not_found("party"))?;
    let id: uuid::Uuid = id.parse().map_err(|_| Error::not_found("party"))?;
    let scope = Scope::of(&who);
    let now = Utc::now();
    Ok(web::Json(
        state
            .db
            .read(move |conn| balance(conn, &scope, kind, &id.to_string(), now))
            .await?,
    ))
}
