//! The events collections consumes, each to its use case, one at a time in the inbox's
//! transaction:
//! - `carebill.invoicing.invoice.issued.v1` → [`receivables::invoice_issued`], then, for a
//!   receivable created now, [`payments::apply_prepayments`] (the party's prepayments' credit);
//! - `carebill.invoicing.credit_note.issued.v1` → [`receivables::credit_note_issued`];
//! - `carebill.invoicing.agency-invoice.issued.v1` and `…agency-credit-note.issued.v1` (a care
//!   agency's invoices, seed 004) → the same, through [`receivables::IssuedInvoice`] and
//!   [`receivables::IssuedCredit`];
//! - `carebill.invoicing.batch.sent.v1` → [`batches::batch_sent`];
//! - `carebill.invoicing.e_billing.sent.v1` → [`remittances::claims_sent`] (how a payer's 835
//!   finds the invoices its claims billed);
//! - `carebill.settlement.settlement.changed.v1` → [`dashboard::settlements_changed`] (the
//!   dashboard's settlements; an invoice's location name is kept for it too).
//!
//! Other types are ignored (`batch.closed` among them: a batch matters to collections once it
//! is sent).
//!
//! The locking order, the same as the payment writers': the invoice's key first (so concurrent
//! and out-of-order deliveries of one invoice's events give the same result as in-order ones),
//! then its receivable, then the payments allocated to it in id order. A sent batch takes only
//! its own key: it writes no receivable (its invoices' receivables are joined when read), so it
//! never waits on an invoice's events nor they on it, whichever comes first.

use carebill_domain::events::{
    AgencyCreditNoteIssuedV1, AgencyInvoiceIssuedV1, BatchSentV1, CreditNoteIssuedV1,
    EBillingSentV1, Envelope, EventPayload as _, InvoiceIssuedV1, SettlementChangedV1,
};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;

use crate::service::{batches, dashboard, payments, receivables, remittances};

/// The event types consumed.
pub(crate) const TYPES: &[&str] = &[
    InvoiceIssuedV1::TYPE,
    CreditNoteIssuedV1::TYPE,
    AgencyInvoiceIssuedV1::TYPE,
    AgencyCreditNoteIssuedV1::TYPE,
    BatchSentV1::TYPE,
    EBillingSentV1::TYPE,
    SettlementChangedV1::TYPE,
];

/// Applies one event from invoicing (other types are ignored).
#[tracing::instrument(skip_all, fields(event_type = %env.event_type))]
pub(crate) fn apply_event(conn: &mut AnyConnection, env: &Envelope) -> Result<(), Error> {
    match env.event_type.as_str() {
        InvoiceIssuedV1::TYPE => {
            let e: InvoiceIssuedV1 = env
                .payload()
                .map_err(|e| Error::invalid_event(e.to_string()))?;
            invoice_issued(conn, env, &(&e).into())
        }
        AgencyInvoiceIssuedV1::TYPE => {
            let e: AgencyInvoiceIssuedV1 = env
                .payload()
                .map_err(|e| Error::invalid_event(e.to_string()))?;
            invoice_issued(conn, env, &(&e).into())
        }
        CreditNoteIssuedV1::TYPE => {
            let e: CreditNoteIssuedV1 = env
                .payload()
                .map_err(|e| Error::invalid_event(e.to_string()))?;
            receivables::lock_invoice(conn, e.invoice_id)?;
            receivables::credit_note_issued(conn, env, &(&e).into())
        }
        AgencyCreditNoteIssuedV1::TYPE => {
            let e: AgencyCreditNoteIssuedV1 = env
                .payload()
                .map_err(|e| Error::invalid_event(e.to_string()))?;
            receivables::lock_invoice(conn, e.invoice_id)?;
            receivables::credit_note_issued(conn, env, &(&e).into())
        }
        BatchSentV1::TYPE => {
            let e: BatchSentV1 = env
                .payload()
                .map_err(|e| Error::invalid_event(e.to_string()))?;
            batches::lock_batch(conn, e.batch_id)?;
            batches::batch_sent(conn, env, &e)
        }
        EBillingSentV1::TYPE => {
            let e: EBillingSentV1 = env
                .payload()
                .map_err(|e| Error::invalid_event(e.to_string()))?;
            remittances::claims_sent(conn, &e)
        }
        SettlementChangedV1::TYPE => {
            let e: SettlementChangedV1 = env
                .payload()
                .map_err(|e| Error::invalid_event(e.to_string()))?;
            dashboard::settlements_changed(conn, &e)
        }
        _ => Ok(()),
    }
}

/// An issued invoice: its receivable (once), then, for a receivable created now, the party's
/// prepayments.
fn invoice_issued(
    conn: &mut AnyConnection,
    env: &Envelope,
    e: &receivables::IssuedInvoice<'_>,
) -> Result<(), Error> {
    receivables::lock_invoice(conn, e.invoice_id)?;
    dashboard::location_named(conn, &e.location.code, &e.location.name)?;
    if receivables::invoice_issued(conn, env, e)? {
        payments::apply_prepayments(conn, env, e)?;
    }
    Ok(())
}
