//! Online payment links: a checkout session at the payment provider for what a receivable
//! owes, or for what a party owes in one currency (its balance), and the provider's webhooks
//! that say how it ended.
//!
//! Making a link is three steps, none holding a transaction open while the provider is asked:
//! [`target`] reads what is owed (409 `nothing_outstanding` when nothing is), [`open_session`]
//! asks the provider (retried there; a failure stores nothing), [`store`] keeps the link and
//! audits it.
//!
//! A verified webhook event is taken by [`take_event`], in one transaction: the event id is
//! recorded first (a second delivery of the same event, even a concurrent one, records
//! nothing), then the link is locked and changes only if it is still `open`:
//! - paid: the payment is recorded through [`payments::record`] (kind payment, method
//!   [`METHOD`], reference the provider's payment reference, the amount actually paid),
//!   allocated to the link's receivable, or for a balance link to the party's owing
//!   receivables oldest due first ([`pay_in_order`]); what is left is the party's credit;
//! - expired or failed: the link says so, no money moves;
//! - anything else: taken and ignored.

pub(crate) use crate::store::payment_links::LinkFilter;
use carebill_domain::collections::{
    PaymentKind, PaymentLinkStatus, RequestedAllocation, pay_in_order,
};
use carebill_domain::events::PartyKind;
use carebill_domain::ids::ReceivableId;
use carebill_domain::{Code, Currency, MinorUnits, Money, stored};
use carebill_platform::audit::{self, Change, Snapshot};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::outbound::payments::{
    CheckoutRequest, CheckoutSession, PaymentProvider, SessionOutcome, WebhookEvent,
};
use carebill_platform::{Error, ErrorCode};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use super::payments::{self, NewPayment, Payer};
use super::receivables::money;
use crate::store::payment_links::{self as links, Paid, PaymentLinkRow, WebhookEventRow};
use crate::store::receivables::{self, ReceivableRow};

/// The method of a payment received through a link.
pub(crate) const METHOD: &str = "online";

/// What a link is for.
#[derive(Debug, Clone)]
pub(crate) enum LinkFor {
    /// What one receivable still owes.
    Receivable(ReceivableId),
    /// What a party owes in one currency, on every receivable the caller may see.
    Balance {
        /// Payer or patient.
        kind: PartyKind,
        /// The party.
        party_id: uuid::Uuid,
        /// The currency.
        currency: Currency,
    },
}

/// What a new link will collect, read before the provider is asked.
#[derive(Debug, Clone)]
pub(crate) struct LinkTarget {
    /// The receivable, for a receivable's link.
    receivable: Option<ReceivableRow>,
    /// Payer or patient.
    party_kind: PartyKind,
    /// The party's id.
    party_id: String,
    /// The payer's code, for scope.
    payer_code: Option<String>,
    /// Currency.
    pub currency: Currency,
    /// What is owed, in minor units (positive).
    pub amount_minor: i64,
    /// What the payer sees at the provider.
    pub description: String,
}

/// A payment link as it is read and audited.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PaymentLinkRecord {
    /// Id.
    pub id: String,
    /// Provider.
    pub provider: String,
    /// The provider's checkout session.
    pub session_id: String,
    /// Where the payer pays.
    pub url: String,
    /// Amount asked.
    pub amount: Money,
    /// The receivable it pays (none for a balance link).
    pub receivable_id: Option<String>,
    /// Its invoice.
    pub invoice_id: Option<String>,
    /// The invoice number.
    pub invoice_number: Option<String>,
    /// Payer or patient.
    pub party_kind: PartyKind,
    /// The party's id.
    pub party_id: String,
    /// Status.
    pub status: PaymentLinkStatus,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops being payable.
    pub expires_at: DateTime<Utc>,
    /// When it was paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// What was paid.
    pub paid: Option<Money>,
    /// The payment recorded for it.
    pub payment_id: Option<String>,
    /// The provider's payment reference.
    pub provider_reference: Option<String>,
}

fn record_of(r: PaymentLinkRow) -> PaymentLinkRecord {
    PaymentLinkRecord {
        amount: money(r.amount_minor, r.currency),
        paid: r.paid_minor.map(|m| money(m, r.currency)),
        id: r.id,
        provider: r.provider,
        session_id: r.session_id,
        url: r.url,
        receivable_id: r.receivable_id,
        invoice_id: r.invoice_id,
        invoice_number: r.invoice_number,
        party_kind: r.party_kind,
        party_id: r.party_id,
        status: r.status,
        created_by: r.created_by,
        created_at: r.created_at.and_utc(),
        expires_at: r.expires_at.and_utc(),
        paid_at: r.paid_at.map(|t| t.and_utc()),
        payment_id: r.payment_id,
        provider_reference: r.provider_reference,
    }
}

fn nothing_outstanding(what: &str) -> Error {
    Error::new(
        ErrorCode::NothingOutstanding,
        format!("{what} owes nothing; there is nothing to pay by link"),
    )
}

/// What a link for `target` would collect, as the caller may see it: a receivable out of scope
/// is not found; a balance link needs a caller who sees every location (a balance spans them);
/// nothing owed is `nothing_outstanding`.
#[tracing::instrument(skip_all)]
pub(crate) fn target(
    conn: &mut AnyConnection,
    who: &Principal,
    link_for: &LinkFor,
) -> Result<LinkTarget, Error> {
    let scope = Scope::of(who);
    match link_for {
        LinkFor::Receivable(id) => {
            let r = receivables::find_in_scope(conn, &scope, *id)?
                .ok_or_else(|| Error::not_found("receivable"))?;
            let owed = r.outstanding().0;
            if owed <= 0 {
                return Err(nothing_outstanding(&format!(
                    "invoice {}",
                    r.invoice_number
                )));
            }
            Ok(LinkTarget {
                party_kind: r.party_kind,
                party_id: r.party_id.clone(),
                payer_code: r.payer_code.clone(),
                currency: r.currency,
                amount_minor: owed,
                description: format!("Invoice {}", r.invoice_number),
                receivable: Some(r),
            })
        }
        LinkFor::Balance {
            kind,
            party_id,
            currency,
        } => {
            who.require_unscoped("a balance link covers the party's invoices of every location")?;
            let id = party_id.to_string();
            if let Some(code) = &scope.payer
                && (*kind != PartyKind::Payer || !receivables::payer_known_as(conn, &id, code)?)
            {
                return Err(Error::not_found("party"));
            }
            if !receivables::party_known(conn, &scope, *kind, &id)? {
                return Err(Error::not_found("party"));
            }
            let owing = receivables::owing_of_party(conn, &scope, *kind, &id, *currency)?;
            let owed = owing
                .iter()
                .try_fold(0_i64, |acc, r| acc.checked_add(r.outstanding().0))
                .ok_or_else(|| Error::internal(&"a balance beyond the range of minor units"))?;
            if owed <= 0 {
                return Err(nothing_outstanding(&format!(
                    "the {kind}'s balance in {currency}"
                )));
            }
            let n = owing.len();
            Ok(LinkTarget {
                receivable: None,
                party_kind: *kind,
                payer_code: receivables::known_payer_code(conn, *kind, &id)?,
                party_id: id,
                currency: *currency,
                amount_minor: owed,
                description: format!("Balance of {n} invoice{}", if n == 1 { "" } else { "s" }),
            })
        }
    }
}

/// Asks the provider for a checkout session for `t`. A provider that cannot be reached or
/// refuses is `payment_provider_failed` (its cause logged, never shown).
#[tracing::instrument(skip_all, fields(link_id = %link_id))]
pub(crate) async fn open_session(
    provider: &dyn PaymentProvider,
    link_id: &str,
    t: &LinkTarget,
    expires_at: DateTime<Utc>,
    idempotency_key: String,
) -> Result<CheckoutSession, Error> {
    let mut metadata = vec![("carebill_link_id".to_owned(), link_id.to_owned())];
    if let Some(r) = &t.receivable {
        metadata.push(("invoice_number".to_owned(), r.invoice_number.clone()));
    }
    let request = CheckoutRequest {
        amount_minor: t.amount_minor,
        currency: t.currency,
        description: t.description.clone(),
        client_reference_id: link_id.to_owned(),
        metadata,
        expires_at,
        idempotency_key,
    };
    provider.create_checkout(&request).await.map_err(|e| {
        Error::new(
            ErrorCode::PaymentProviderFailed,
            "the payment provider did not open a checkout session; nothing was stored, retry later",
        )
        .with_source(e)
    })
}

/// Stores the link of an opened session, in the caller's transaction, and audits it.
#[tracing::instrument(skip_all, fields(link_id = %link_id))]
pub(crate) fn store(
    conn: &mut AnyConnection,
    who: &Principal,
    link_id: &str,
    provider: &str,
    t: &LinkTarget,
    session: &CheckoutSession,
    expires_at: DateTime<Utc>,
) -> Result<PaymentLinkRecord, Error> {
    let now = db::now();
    let expires: NaiveDateTime =
        db::truncate_micros(session.expires_at.unwrap_or(expires_at).naive_utc()); // not stored: the provider's expiry, else what we asked for
    let row = PaymentLinkRow {
        id: link_id.to_owned(),
        provider: provider.to_owned(),
        session_id: session.id.clone(),
        url: session.url.clone(),
        currency: t.currency,
        amount_minor: t.amount_minor,
        receivable_id: t.receivable.as_ref().map(|r| r.id.to_string()),
        invoice_id: t.receivable.as_ref().map(|r| r.invoice_id.to_string()),
        invoice_number: t.receivable.as_ref().map(|r| r.invoice_number.clone()),
        party_kind: t.party_kind,
        party_id: t.party_id.clone(),
        location_code: t.receivable.as_ref().map(|r| r.location_code.clone()),
        payer_code: t.payer_code.clone(),
        status: PaymentLinkStatus::Open,
        created_by: who.subject.clone(),
        created_at: now,
        expires_at: expires,
        paid_at: None,
        paid_minor: None,
        payment_id: None,
        provider_reference: None,
        updated_at: now,
    };
    links::insert(conn, &row)?;
    let record = record_of(row);
    let location_id = t.receivable.as_ref().map(|r| r.location_id.to_string());
    audit::record_many(
        conn,
        who,
        &[Change {
            action: "create",
            entity_type: "payment_link",
            entity_id: link_id,
            location_id: location_id.as_deref(),
            changes: Snapshot::Json(serde_json::json!({ "after": record })),
            reason: None,
        }],
    )?;
    Ok(record)
}

/// A link the caller may see.
#[tracing::instrument(skip_all, fields(link_id = %id))]
pub(crate) fn link(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: &str,
) -> Result<PaymentLinkRecord, Error> {
    links::find_in_scope(conn, scope, id)?
        .map(record_of)
        .ok_or_else(|| Error::not_found("payment link"))
}

/// A page of the links the caller may see matching `filter`, oldest first.
#[tracing::instrument(skip_all)]
pub(crate) fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    filter: &LinkFilter,
    page: &PageRequest,
) -> Result<Page<PaymentLinkRecord>, Error> {
    let rows = links::list(conn, scope, filter, page)?;
    Ok(Page::from_rows(rows, page, |r| r.id.clone()).map(record_of))
}

/// What taking a webhook event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Taken {
    /// The payment was recorded.
    Recorded,
    /// The link expired.
    Expired,
    /// The payment failed.
    Failed,
    /// Completed, money still on its way: nothing yet.
    Pending,
    /// This event was taken before: nothing done again.
    Duplicate,
    /// The link is no longer open (paid, expired or failed before): nothing done.
    NotOpen,
    /// A session no link knows (made elsewhere on the same account).
    UnknownSession,
    /// An event type payment links do not use.
    Ignored,
}

impl Taken {
    /// The wire form.
    pub(crate) fn as_str(&self) -> &'static str {
        match self {
            Taken::Recorded => "recorded",
            Taken::Expired => "expired",
            Taken::Failed => "failed",
            Taken::Pending => "pending",
            Taken::Duplicate => "duplicate",
            Taken::NotOpen => "not_open",
            Taken::UnknownSession => "unknown_session",
            Taken::Ignored => "ignored",
        }
    }
}

/// What a webhook did, for the provider's log and the tests.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct WebhookResult {
    /// What was done.
    pub outcome: Taken,
    /// The link concerned.
    pub link_id: Option<String>,
    /// The payment recorded.
    pub payment_id: Option<String>,
}

/// Takes a verified event of `provider` in a transaction of its own (a savepoint inside the
/// caller's): a concurrent delivery of the same event fails on its unique key and leaves nothing.
pub(crate) fn take_event_once(
    conn: &mut AnyConnection,
    provider: &str,
    e: &WebhookEvent,
    request_id: Option<String>,
) -> Result<WebhookResult, Error> {
    use diesel::Connection as _;
    conn.transaction(|conn| take_event(conn, provider, e, request_id))
}

/// Takes a verified event of `provider`, in the caller's transaction (see the module).
#[tracing::instrument(skip_all, fields(event_id = %e.id, event_type = %e.event_type))]
pub(crate) fn take_event(
    conn: &mut AnyConnection,
    provider: &str,
    e: &WebhookEvent,
    request_id: Option<String>,
) -> Result<WebhookResult, Error> {
    let none = |outcome| WebhookResult {
        outcome,
        link_id: None,
        payment_id: None,
    };
    if links::event_taken(conn, provider, &e.id)? {
        return Ok(none(Taken::Duplicate));
    }
    let now = db::now();
    links::insert_event(
        conn,
        &WebhookEventRow {
            provider: provider.to_owned(),
            event_id: e.id.clone(),
            event_type: e.event_type.clone(),
            session_id: e.session_id.clone(),
            link_id: None,
            outcome: "received".to_owned(),
            received_at: now,
        },
    )?;
    let result = decide(conn, provider, e, request_id, now)?;
    links::set_event_outcome(
        conn,
        provider,
        &e.id,
        result.link_id.as_deref(),
        result.outcome.as_str(),
    )?;
    Ok(result)
}

fn decide(
    conn: &mut AnyConnection,
    provider: &str,
    e: &WebhookEvent,
    request_id: Option<String>,
    now: NaiveDateTime,
) -> Result<WebhookResult, Error> {
    let (Some(session_id), false) = (&e.session_id, e.outcome == SessionOutcome::Other) else {
        return Ok(WebhookResult {
            outcome: Taken::Ignored,
            link_id: None,
            payment_id: None,
        });
    };
    let Some(found) = links::by_session(conn, provider, session_id)? else {
        return Ok(WebhookResult {
            outcome: Taken::UnknownSession,
            link_id: None,
            payment_id: None,
        });
    };
    links::lock(conn, &found.id)?;
    let link = links::get(conn, &found.id)?;
    let result = |outcome, payment_id| WebhookResult {
        outcome,
        link_id: Some(link.id.clone()),
        payment_id,
    };
    if link.status != PaymentLinkStatus::Open {
        return Ok(result(Taken::NotOpen, None));
    }
    let actor = Principal::system(format!("payment-provider:{provider}"), request_id);
    let (status, taken) = match e.outcome {
        SessionOutcome::Pending | SessionOutcome::Other => {
            return Ok(result(Taken::Pending, None));
        }
        SessionOutcome::Expired => (PaymentLinkStatus::Expired, Taken::Expired),
        SessionOutcome::Failed => (PaymentLinkStatus::Failed, Taken::Failed),
        SessionOutcome::Paid => {
            let (payment_id, paid) = record_payment(conn, &actor, &link, e)?;
            links::set_status(conn, &link.id, PaymentLinkStatus::Paid, Some(&paid), now)?;
            audit_outcome(conn, &actor, &link, PaymentLinkStatus::Paid, e, Some(&paid))?;
            return Ok(result(Taken::Recorded, Some(payment_id)));
        }
    };
    links::set_status(conn, &link.id, status, None, now)?;
    audit_outcome(conn, &actor, &link, status, e, None)?;
    Ok(result(taken, None))
}

fn audit_outcome(
    conn: &mut AnyConnection,
    actor: &Principal,
    link: &PaymentLinkRow,
    status: PaymentLinkStatus,
    e: &WebhookEvent,
    paid: Option<&Paid>,
) -> Result<(), Error> {
    let location_id = match &link.invoice_id {
        Some(invoice) => receivables::of_invoice(conn, stored::parse("link invoice id", invoice)?)?
            .map(|r| r.location_id.to_string()),
        None => None,
    };
    audit::record_many(
        conn,
        actor,
        &[Change {
            action: status.as_str(),
            entity_type: "payment_link",
            entity_id: &link.id,
            location_id: location_id.as_deref(),
            changes: Snapshot::Json(serde_json::json!({
                "status": { "before": link.status, "after": status },
                "event_id": e.id,
                "event_type": e.event_type,
                "paid": paid.map(|p| money(p.paid_minor, link.currency)),
                "payment_id": paid.map(|p| p.payment_id.clone()),
            })),
            reason: None,
        }],
    )?;
    Ok(())
}

/// Records the money a paid session brought: what was actually paid, allocated to the link's
/// receivable or (balance link) to the party's owing receivables oldest due first, each up to
/// what it owes; the rest stays as the party's credit.
fn record_payment(
    conn: &mut AnyConnection,
    actor: &Principal,
    link: &PaymentLinkRow,
    e: &WebhookEvent,
) -> Result<(String, Paid), Error> {
    // What the provider says was paid; in the link's currency unless it says otherwise.
    let currency = match &e.currency {
        Some(c) => Currency::parse(c)
            .map_err(|err| Error::field("data.object.currency", "invalid", err.to_string()))?,
        None => link.currency,
    };
    let paid_minor = e.amount_total.unwrap_or(link.amount_minor); // not stored: an event without its total paid what the link asked
    if paid_minor <= 0 {
        return Err(Error::field(
            "data.object.amount_total",
            "not_positive",
            "a paid session must have paid something",
        ));
    }
    let everything = Scope::everything();
    let owing: Vec<ReceivableRow> = match &link.invoice_id {
        Some(invoice) => {
            receivables::lock_for_invoices(conn, &[stored::parse("link invoice id", invoice)?])?
        }
        None => {
            let found = receivables::owing_of_party(
                conn,
                &everything,
                link.party_kind,
                &link.party_id,
                currency,
            )?;
            let ids: Vec<_> = found.iter().map(|r| r.invoice_id).collect();
            // Locked, then read again; the order to pay them in is the due date's.
            let mut locked = receivables::lock_for_invoices(conn, &ids)?;
            locked.sort_by(|a, b| {
                (a.due_date, a.id.to_string()).cmp(&(b.due_date, b.id.to_string()))
            });
            locked
        }
    };
    let payable: Vec<&ReceivableRow> = owing
        .iter()
        .filter(|r| r.currency == currency && !r.cancelled())
        .collect();
    let owed: Vec<MinorUnits> = payable.iter().map(|r| r.outstanding()).collect();
    let (parts, _credit) = pay_in_order(MinorUnits(paid_minor), &owed);
    let allocations: Vec<RequestedAllocation> = payable
        .iter()
        .zip(parts)
        .filter(|(_, part)| part.0 > 0)
        .map(|(r, part)| RequestedAllocation {
            invoice_id: r.invoice_id,
            amount: money(part.0, currency),
        })
        .collect();
    let party_id: uuid::Uuid = stored::parse("link party id", &link.party_id)?;
    let reference = e.payment_reference.clone().or_else(|| e.session_id.clone());
    let payment = payments::record(
        conn,
        actor,
        NewPayment {
            kind: PaymentKind::Payment,
            episode_id: None,
            tenders: Vec::new(),
            party: Payer {
                kind: link.party_kind,
                id: party_id,
            },
            amount: money(paid_minor, currency),
            amount_minor: paid_minor,
            method: Code::parse(METHOD).map_err(|err| Error::internal(&err))?,
            received_on: Utc::now().date_naive(),
            reference: reference.clone(),
            allocations,
        },
    )?;
    Ok((
        payment.id.clone(),
        Paid {
            paid_minor,
            payment_id: payment.id,
            reference,
        },
    ))
}
