//! Stored payments: the row, who may see which (a payer's portal user only its payer's, known
//! by the payer code of its receivables), the list with its filters, locks and the allocated sum.

use carebill_domain::collections::{PaymentKind, payment_credit};
use carebill_domain::events::PartyKind;
use carebill_domain::ids::PaymentId;
use carebill_domain::{Currency, MinorUnits};
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::Backend;
use crate::schema::{payments, receivables};

/// A stored payment.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payments, treat_none_as_default_value = false)]
pub(crate) struct PaymentRow {
    /// Id.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub id: PaymentId,
    /// Payer or patient.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub party_kind: PartyKind,
    /// The payer's or patient's id.
    pub party_id: String,
    /// Currency.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// Amount received, in minor units.
    pub amount_minor: i64,
    /// Allocated and not reversed, in minor units.
    pub allocated_minor: i64,
    /// Method code.
    pub method: String,
    /// Day received.
    pub received_on: NaiveDate,
    /// The payer's reference.
    pub reference: Option<String>,
    /// Who recorded it.
    pub recorded_by: String,
    /// When.
    pub recorded_at: NaiveDateTime,
    /// Last changed.
    pub updated_at: NaiveDateTime,
    /// Refunded, in minor units.
    pub refunded_minor: i64,
    /// `payment`, or `prepayment` (applied to the party's invoices as they arrive).
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub kind: PaymentKind,
    /// The episode a prepayment is for: its invoices get it first.
    pub episode_id: Option<String>,
}

impl PaymentRow {
    /// What stays as the party's credit: neither allocated nor refunded.
    pub(crate) fn credit(&self) -> MinorUnits {
        payment_credit(
            MinorUnits(self.amount_minor),
            MinorUnits(self.allocated_minor),
            MinorUnits(self.refunded_minor),
        )
    }
}

/// What the payment list can be filtered by.
#[derive(Debug, Clone, Default)]
pub(crate) struct PaymentFilter {
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The party's id (a normalised UUID).
    pub party_id: Option<String>,
    /// Received on or after.
    pub received_from: Option<NaiveDate>,
    /// Received on or before.
    pub received_to: Option<NaiveDate>,
    /// Method code.
    pub method: Option<String>,
    /// Payment or prepayment.
    pub kind: Option<PaymentKind>,
}

type Visible = Box<dyn BoxableExpression<payments::table, Backend, SqlType = Bool>>;

/// Payments a reader may see: all of them, or for a payer-limited reader those of the payer ids
/// its payer code is known under.
fn visible(scope: &Scope) -> Visible {
    match &scope.payer {
        None => Box::new(diesel::dsl::sql::<Bool>("1 = 1")),
        Some(code) => Box::new(
            payments::party_kind.eq(PartyKind::Payer.as_str()).and(
                payments::party_id.eq_any(
                    receivables::table
                        .filter(receivables::party_kind.eq(PartyKind::Payer.as_str()))
                        .filter(receivables::payer_code.eq(code.clone()))
                        .select(receivables::party_id),
                ),
            ),
        ),
    }
}

/// Stores new payments, many rows per statement.
pub(crate) fn insert_many(conn: &mut AnyConnection, rows: Vec<PaymentRow>) -> Result<(), Error> {
    insert_rows!(conn, payments::table, rows);
    Ok(())
}

/// Locks a payment until the transaction ends.
pub(crate) fn lock(conn: &mut AnyConnection, id: PaymentId) -> Result<(), Error> {
    Ok(db::lock_row(conn, "payments", &id.to_string())?)
}

/// A payment, whoever may see it.
pub(crate) fn get(conn: &mut AnyConnection, id: PaymentId) -> Result<PaymentRow, Error> {
    Ok(payments::table
        .find(id.to_string())
        .select(PaymentRow::as_select())
        .first(conn)?)
}

/// A payment the caller may see.
pub(crate) fn find_in_scope(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: PaymentId,
) -> Result<Option<PaymentRow>, Error> {
    Ok(payments::table
        .find(id.to_string())
        .filter(visible(scope))
        .select(PaymentRow::as_select())
        .first(conn)
        .optional()?)
}

/// Up to `page.limit + 1` payments the caller may see matching `f`, in id order.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &PaymentFilter,
    page: &PageRequest,
) -> Result<Vec<PaymentRow>, Error> {
    let mut q = payments::table
        .select(PaymentRow::as_select())
        .filter(visible(scope))
        .into_boxed();
    if let Some(k) = f.party_kind {
        q = q.filter(payments::party_kind.eq(k.as_str()));
    }
    if let Some(p) = &f.party_id {
        q = q.filter(payments::party_id.eq(p.clone()));
    }
    if let Some(d) = f.received_from {
        q = q.filter(payments::received_on.ge(d));
    }
    if let Some(d) = f.received_to {
        q = q.filter(payments::received_on.le(d));
    }
    if let Some(m) = &f.method {
        q = q.filter(payments::method.eq(m.clone()));
    }
    if let Some(k) = f.kind {
        q = q.filter(payments::kind.eq(k.as_str()));
    }
    if let Some(after) = &page.after {
        q = q.filter(payments::id.gt(after.clone()));
    }
    Ok(q.order(payments::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// The latest payments of a party, newest first.
pub(crate) fn recent(
    conn: &mut AnyConnection,
    kind: PartyKind,
    party_id: &str,
    limit: i64,
) -> Result<Vec<PaymentRow>, Error> {
    Ok(payments::table
        .filter(payments::party_kind.eq(kind.as_str()))
        .filter(payments::party_id.eq(party_id))
        .order(payments::id.desc())
        .limit(limit)
        .select(PaymentRow::as_select())
        .load(conn)?)
}

/// Sets the allocated sum of a payment.
pub(crate) fn set_allocated(
    conn: &mut AnyConnection,
    id: PaymentId,
    allocated_minor: i64,
    at: Option<NaiveDateTime>,
) -> Result<(), Error> {
    match at {
        Some(at) => diesel::update(payments::table.find(id.to_string()))
            .set((
                payments::allocated_minor.eq(allocated_minor),
                payments::updated_at.eq(at),
            ))
            .execute(conn)?,
        None => diesel::update(payments::table.find(id.to_string()))
            .set(payments::allocated_minor.eq(allocated_minor))
            .execute(conn)?,
    };
    Ok(())
}

/// Gives `amount_minor` back to a payment's unallocated remainder.
pub(crate) fn give_back(
    conn: &mut AnyConnection,
    id: PaymentId,
    amount_minor: i64,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(payments::table.find(id.to_string()))
        .set((
            payments::allocated_minor.eq(payments::allocated_minor - amount_minor),
            payments::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Adds `amount_minor` to what was refunded of a payment.
pub(crate) fn add_refunded(
    conn: &mut AnyConnection,
    id: PaymentId,
    amount_minor: i64,
    at: NaiveDateTime,
) -> Result<(), Error> {
    diesel::update(payments::table.find(id.to_string()))
        .set((
            payments::refunded_minor.eq(payments::refunded_minor + amount_minor),
            payments::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(())
}

/// The ids of a party's prepayments in `currency` with credit left that an invoice of
/// `episode_id` may take: those for that episode first, then those for no episode, each group
/// oldest first.
pub(crate) fn prepayments_for(
    conn: &mut AnyConnection,
    kind: PartyKind,
    party_id: &str,
    currency: Currency,
    episode_id: &str,
) -> Result<Vec<PaymentId>, Error> {
    let base = || {
        payments::table
            .filter(payments::party_kind.eq(kind.as_str()))
            .filter(payments::party_id.eq(party_id.to_owned()))
            .filter(payments::currency.eq(currency.to_string()))
            .filter(payments::kind.eq(PaymentKind::Prepayment.as_str()))
            .filter(payments::amount_minor.gt(payments::allocated_minor + payments::refunded_minor))
            .order(payments::id.asc())
            .select(payments::id)
    };
    let mut ids: Vec<String> = base()
        .filter(payments::episode_id.eq(episode_id.to_owned()))
        .load(conn)?;
    ids.extend(
        base()
            .filter(payments::episode_id.is_null())
            .load::<String>(conn)?,
    );
    ids.iter()
        .map(|id| carebill_domain::stored::parse("payment id", id).map_err(Error::from))
        .collect()
}
