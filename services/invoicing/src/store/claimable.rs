//! The lines of issued payer invoices, with what their invoice says, for the claimable entries
//! an e-billing is made from: those of invoices no active e-billing claims.

use carebill_platform::Error;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDateTime;
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use crate::schema::{
    credit_notes, document_lines, e_billing_claims, e_billings, invoice_corrections, invoices,
};

/// One line of an issued payer invoice.
#[derive(Debug, Clone, Queryable)]
pub(crate) struct ClaimableRow {
    /// The invoice.
    pub invoice_id: String,
    /// Its number.
    pub invoice_number: String,
    /// Its location's code (the billing provider).
    pub location_code: String,
    /// Its location's time zone.
    pub location_time_zone: String,
    /// Its payer.
    pub payer_code: Option<String>,
    /// Its patient.
    pub patient_id: Option<String>,
    /// Its episode.
    pub episode_id: Option<String>,
    /// 1-based position of the line.
    pub position: i32,
    /// The consumption billed.
    pub consumption_id: String,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Quantity (decimal text).
    pub quantity: String,
    /// Service group.
    pub service_group: String,
    /// Kind of service.
    pub service_kind: Option<String>,
    /// When it was performed (UTC).
    pub performed_at: NaiveDateTime,
    /// Currency.
    pub currency: String,
    /// The whole service's amount, minor units.
    pub line_amount_minor: i64,
    /// The part billed to the payer, minor units.
    pub amount_minor: i64,
}

/// What the lines are filtered by (in the caller's scope).
#[derive(Debug, Clone, Default)]
pub(crate) struct ClaimableFilter {
    /// The billing provider: the invoice's location code.
    pub location_code: Option<String>,
    /// The invoice's payer code.
    pub payer_code: Option<String>,
    /// The line's kind of service or service group.
    pub service_type: Option<String>,
    /// Performed at or after (UTC; the caller narrows by the location's day).
    pub performed_from: Option<NaiveDateTime>,
    /// Performed before (UTC).
    pub performed_before: Option<NaiveDateTime>,
}

/// Up to `limit` lines after `(invoice id, position)`, in that order (every line without a
/// limit): the lines of issued invoices in no active claim of an e-billing, and of invoices
/// (issued or cancelled) credited since a claim of theirs was sent, or corrective invoices
/// credited (standing for the claim of the invoice they correct) — the candidates for a
/// correction, which the caller decides.
pub(crate) fn page(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &ClaimableFilter,
    after: Option<(String, i32)>,
    limit: Option<i64>,
) -> Result<Vec<ClaimableRow>, Error> {
    let claimed = e_billing_claims::table
        .filter(e_billing_claims::invoice_id.eq(invoices::id))
        .filter(e_billing_claims::active.eq(true));
    let sent = e_billing_claims::table
        .inner_join(e_billings::table.on(e_billings::id.eq(e_billing_claims::e_billing_id)))
        .filter(e_billing_claims::invoice_id.eq(invoices::id))
        .filter(e_billing_claims::active.eq(true))
        .filter(e_billings::sent_at.is_not_null());
    let credited = credit_notes::table.filter(credit_notes::invoice_id.eq(invoices::id));
    let corrective =
        invoice_corrections::table.filter(invoice_corrections::invoice_id.eq(invoices::id));
    let q = invoices::table
        .inner_join(document_lines::table.on(document_lines::document_id.eq(invoices::id)))
        .filter(invoices::status.eq_any(["issued", "cancelled"]))
        .filter(invoices::recipient_kind.eq("payer"))
        .filter(invoices::episode_id.is_not_null())
        .filter(
            invoices::status
                .eq("issued")
                .and(not(exists(claimed)))
                .or(exists(credited).and(exists(sent).or(exists(corrective)))),
        )
        .select((
            invoices::id,
            invoices::number,
            invoices::location_code,
            invoices::location_time_zone,
            invoices::payer_code,
            invoices::patient_id,
            invoices::episode_id,
            document_lines::position,
            document_lines::consumption_id,
            document_lines::code,
            document_lines::description,
            document_lines::quantity,
            document_lines::service_group,
            document_lines::service_kind,
            document_lines::performed_at,
            document_lines::currency,
            document_lines::line_amount_minor,
            document_lines::amount_minor,
        ))
        .into_boxed();
    let mut q = carebill_platform::scoped!(q, scope, invoices::location_code, invoices::payer_code);
    if let Some(l) = &f.location_code {
        q = q.filter(invoices::location_code.eq(l.clone()));
    }
    if let Some(p) = &f.payer_code {
        q = q.filter(invoices::payer_code.eq(p.clone()));
    }
    if let Some(t) = &f.service_type {
        q = q.filter(
            document_lines::service_kind
                .eq(t.clone())
                .or(document_lines::service_group.eq(t.clone())),
        );
    }
    if let Some(at) = f.performed_from {
        q = q.filter(document_lines::performed_at.ge(at));
    }
    if let Some(at) = f.performed_before {
        q = q.filter(document_lines::performed_at.lt(at));
    }
    if let Some((invoice, position)) = after {
        q = q.filter(
            invoices::id.gt(invoice.clone()).or(invoices::id
                .eq(invoice)
                .and(document_lines::position.gt(position))),
        );
    }
    let q = q.order((invoices::id.asc(), document_lines::position.asc()));
    Ok(match limit {
        Some(limit) => q.limit(limit).load(conn)?,
        None => q.load(conn)?,
    })
}
