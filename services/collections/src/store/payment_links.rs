//! Stored payment links and the provider events taken: the rows, who may see which link (a
//! receivable's link by its location and payer code, like the receivable; a balance link by
//! its payer code, and never by a reader limited to some locations, since a balance spans
//! them), the list with its filters, the lock, the outcome, and the event ledger that makes a
//! webhook delivered twice count once.

use carebill_domain::Currency;
use carebill_domain::collections::PaymentLinkStatus;
use carebill_domain::events::PartyKind;
use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::PageRequest;
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::{payment_links, payment_webhook_events};

/// A stored payment link.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_links)]
pub(crate) struct PaymentLinkRow {
    /// Id.
    pub id: String,
    /// The provider (`stripe`).
    pub provider: String,
    /// The provider's checkout session id.
    pub session_id: String,
    /// Where the payer pays.
    pub url: String,
    /// Currency.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub currency: Currency,
    /// Amount asked, in minor units.
    pub amount_minor: i64,
    /// The receivable it pays; none for a balance link.
    pub receivable_id: Option<String>,
    /// That receivable's invoice.
    pub invoice_id: Option<String>,
    /// Its number.
    pub invoice_number: Option<String>,
    /// Payer or patient.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub party_kind: PartyKind,
    /// The payer's or patient's id.
    pub party_id: String,
    /// The receivable's location code (scope); none for a balance link.
    pub location_code: Option<String>,
    /// The payer's code (scope); none for a patient.
    pub payer_code: Option<String>,
    /// Status.
    #[diesel(deserialize_as = String, serialize_as = String)]
    pub status: PaymentLinkStatus,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// When it stops being payable.
    pub expires_at: NaiveDateTime,
    /// When the provider said it was paid.
    pub paid_at: Option<NaiveDateTime>,
    /// What was paid, in minor units.
    pub paid_minor: Option<i64>,
    /// The payment recorded for it.
    pub payment_id: Option<String>,
    /// The provider's payment reference.
    pub provider_reference: Option<String>,
    /// Last changed.
    pub updated_at: NaiveDateTime,
}

/// What the link list can be filtered by.
#[derive(Debug, Clone, Default)]
pub(crate) struct LinkFilter {
    /// The receivable (a normalised UUID).
    pub receivable_id: Option<String>,
    /// Status.
    pub status: Option<PaymentLinkStatus>,
    /// Payer or patient.
    pub party_kind: Option<PartyKind>,
    /// The party's id (a normalised UUID).
    pub party_id: Option<String>,
}

/// Stores a new link.
pub(crate) fn insert(conn: &mut AnyConnection, row: &PaymentLinkRow) -> Result<(), Error> {
    diesel::insert_into(payment_links::table)
        .values(row.clone())
        .execute(conn)?;
    Ok(())
}

/// A link, whoever may see it.
pub(crate) fn get(conn: &mut AnyConnection, id: &str) -> Result<PaymentLinkRow, Error> {
    Ok(payment_links::table
        .find(id)
        .select(PaymentLinkRow::as_select())
        .first(conn)?)
}

/// Locks a link until the transaction ends.
pub(crate) fn lock(conn: &mut AnyConnection, id: &str) -> Result<(), Error> {
    Ok(db::lock_row(conn, "payment_links", id)?)
}

/// The link of a provider's checkout session.
pub(crate) fn by_session(
    conn: &mut AnyConnection,
    provider: &str,
    session_id: &str,
) -> Result<Option<PaymentLinkRow>, Error> {
    Ok(payment_links::table
        .filter(payment_links::provider.eq(provider))
        .filter(payment_links::session_id.eq(session_id))
        .select(PaymentLinkRow::as_select())
        .first(conn)
        .optional()?)
}

/// A link the caller may see.
pub(crate) fn find_in_scope(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
) -> Result<Option<PaymentLinkRow>, Error> {
    let q = payment_links::table
        .filter(payment_links::id.eq(id.to_owned()))
        .select(PaymentLinkRow::as_select())
        .into_boxed();
    let q = carebill_platform::scoped!(
        q,
        scope,
        payment_links::location_code,
        payment_links::payer_code
    );
    Ok(q.first(conn).optional()?)
}

/// Up to `page.limit + 1` links the caller may see matching `f`, in id order.
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &LinkFilter,
    page: &PageRequest,
) -> Result<Vec<PaymentLinkRow>, Error> {
    let q = payment_links::table
        .select(PaymentLinkRow::as_select())
        .into_boxed();
    let mut q = carebill_platform::scoped!(
        q,
        scope,
        payment_links::location_code,
        payment_links::payer_code
    );
    if let Some(r) = &f.receivable_id {
        q = q.filter(payment_links::receivable_id.eq(r.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(payment_links::status.eq(s.as_str()));
    }
    if let Some(k) = f.party_kind {
        q = q.filter(payment_links::party_kind.eq(k.as_str()));
    }
    if let Some(p) = &f.party_id {
        q = q.filter(payment_links::party_id.eq(p.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(payment_links::id.gt(after.clone()));
    }
    Ok(q.order(payment_links::id.asc())
        .limit(page.limit + 1)
        .load(conn)?)
}

/// What the provider said paid a link.
#[derive(Debug, Clone)]
pub(crate) struct Paid {
    /// Amount paid, in minor units of the link's currency.
    pub paid_minor: i64,
    /// The payment recorded.
    pub payment_id: String,
    /// The provider's payment reference.
    pub reference: Option<String>,
}

/// Sets a link's status (and, when paid, what paid it).
pub(crate) fn set_status(
    conn: &mut AnyConnection,
    id: &str,
    status: PaymentLinkStatus,
    paid: Option<&Paid>,
    at: NaiveDateTime,
) -> Result<(), Error> {
    let target = payment_links::table.find(id);
    match paid {
        Some(p) => diesel::update(target)
            .set((
                payment_links::status.eq(status.as_str()),
                payment_links::paid_at.eq(Some(at)),
                payment_links::paid_minor.eq(Some(p.paid_minor)),
                payment_links::payment_id.eq(Some(p.payment_id.clone())),
                payment_links::provider_reference.eq(p.reference.clone()),
                payment_links::updated_at.eq(at),
            ))
            .execute(conn)?,
        None => diesel::update(target)
            .set((
                payment_links::status.eq(status.as_str()),
                payment_links::updated_at.eq(at),
            ))
            .execute(conn)?,
    };
    Ok(())
}

/// A provider event as taken.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = payment_webhook_events)]
pub(crate) struct WebhookEventRow {
    /// The provider.
    pub provider: String,
    /// Its event id.
    pub event_id: String,
    /// Its type.
    pub event_type: String,
    /// The checkout session it is about.
    pub session_id: Option<String>,
    /// The link of that session.
    pub link_id: Option<String>,
    /// What was done (`received` until decided).
    pub outcome: String,
    /// When it first arrived.
    pub received_at: NaiveDateTime,
}

/// Whether the provider's event was taken already.
pub(crate) fn event_taken(
    conn: &mut AnyConnection,
    provider: &str,
    event_id: &str,
) -> Result<bool, Error> {
    let n: i64 = payment_webhook_events::table
        .filter(payment_webhook_events::provider.eq(provider))
        .filter(payment_webhook_events::event_id.eq(event_id))
        .count()
        .get_result(conn)?;
    Ok(n > 0)
}

/// Takes an event: a second taker of the same event waits for the first one's transaction and
/// then fails with a unique violation, so an event is taken once however it is delivered.
pub(crate) fn insert_event(conn: &mut AnyConnection, row: &WebhookEventRow) -> Result<(), Error> {
    diesel::insert_into(payment_webhook_events::table)
        .values(row.clone())
        .execute(conn)?;
    Ok(())
}

/// Records what was done with a taken event.
pub(crate) fn set_event_outcome(
    conn: &mut AnyConnection,
    provider: &str,
    event_id: &str,
    link_id: Option<&str>,
    outcome: &str,
) -> Result<(), Error> {
    diesel::update(
        payment_webhook_events::table
            .filter(payment_webhook_events::provider.eq(provider))
            .filter(payment_webhook_events::event_id.eq(event_id)),
    )
    .set((
        payment_webhook_events::outcome.eq(outcome),
        payment_webhook_events::link_id.eq(link_id.map(str::to_owned)),
    ))
    .execute(conn)?;
    Ok(())
}
