//! A party's balance over HTTP ([`crate::service::balances`]).

use actix_web::web;
use carebill_domain::Money;
use carebill_domain::events::{PartyKind, PartyRef};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use chrono::Utc;
use serde::Serialize;

use super::READERS;
use super::payments::Payment;
use crate::CollectionsState;
use crate::service::balances::{self, BalanceView};
use crate::service::receivables::money;

/// A party's figures in one currency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CurrencyBalance {
    /// ISO 4217 code.
    #[schema(example = "EUR")]
    pub currency: String,
    /// Total of every invoice issued to the party (cancelled ones included).
    pub invoiced: Money,
    /// Total of the invoices cancelled by (full) credit notes, partial credits before the
    /// cancellation included.
    pub cancelled: Money,
    /// Taken off invoices that stand by partial credit notes.
    pub credited: Money,
    /// Paid on invoices that stand (invoiced − cancelled − credited = paid + written off +
    /// outstanding).
    pub paid: Money,
    /// Written off invoices that stand (bad debt, small balance, charity).
    pub written_off: Money,
    /// What adjustments changed the invoices that stand by, signed: fees and interest raise
    /// it, corrections raise or lower it (invoiced + adjusted = cancelled + credited + paid +
    /// written off + outstanding).
    pub adjusted: Money,
    /// Still owed.
    pub outstanding: Money,
    /// Of the outstanding, what is past its due date.
    pub overdue: Money,
    /// Money received from the party: payments and prepayments.
    pub received: Money,
    /// Of it, allocated to invoices (and not reversed).
    pub allocated: Money,
    /// Of it, paid back.
    pub refunded: Money,
    /// Money received and not allocated (or returned by credit notes) nor refunded: the
    /// party's credit, received − allocated − refunded.
    pub unallocated_credit: Money,
    /// Of the credit, what prepayments hold (applied to the party's invoices as they arrive).
    pub prepaid: Money,
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

impl Balance {
    /// A balance as the API shows it.
    pub(crate) fn of(b: &BalanceView) -> Balance {
        Balance {
            party: b.party.clone(),
            currencies: b
                .currencies
                .iter()
                .map(|(c, s)| CurrencyBalance {
                    currency: c.code().to_owned(),
                    invoiced: money(s.invoiced, *c),
                    cancelled: money(s.cancelled, *c),
                    credited: money(s.credited, *c),
                    paid: money(s.paid, *c),
                    written_off: money(s.written_off, *c),
                    adjusted: money(s.adjusted, *c),
                    outstanding: money(s.outstanding, *c),
                    overdue: money(s.overdue, *c),
                    received: money(s.received, *c),
                    allocated: money(s.allocated, *c),
                    refunded: money(s.refunded, *c),
                    unallocated_credit: money(s.credit, *c),
                    prepaid: money(s.prepaid, *c),
                    open_receivables: s.open,
                })
                .collect(),
            recent_payments: b.recent_payments.iter().map(Payment::of).collect(),
        }
    }
}

/// A payer's or a patient's balance per currency, with its latest payments.
#[utoipa::path(get, path = "/v1/balances/{party_kind}/{party_id}", tag = "balances",
    params(("party_kind" = PartyKind, Path, description = "payer or patient"),
        ("party_id" = String, Path, description = "The payer's or patient's id")),
    responses((status = 200, description = "The balance", body = Balance),
        (status = 404, description = "Nothing known about this party (or not visible to the caller)")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
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
    let balance = state
        .db
        .read(move |conn| balances::balance(conn, &scope, kind, id, now))
        .await?;
    Ok(web::Json(Balance::of(&balance)))
}
