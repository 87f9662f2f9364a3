//! A party's money history over HTTP, as JSON or CSV ([`crate::service::history`]).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::Money;
use carebill_domain::events::PartyKind;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::READERS;
use crate::CollectionsState;
use crate::service::history::{self, Entry, EntryKind};

/// What happened to the party's money.
#[derive(Debug, Clone, Copy, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HistoryEntryKind {
    /// Money received: a payment or a prepayment.
    Received,
    /// Part of a payment applied to an invoice.
    Allocated,
    /// An allocation returned to credit by a credit note.
    Reversed,
    /// Credit paid back.
    Refunded,
    /// Part of what an invoice owed, written off.
    WrittenOff,
    /// What an invoice owes raised or lowered: a fee, interest or a correction (signed).
    Adjusted,
}

impl From<EntryKind> for HistoryEntryKind {
    fn from(k: EntryKind) -> Self {
        match k {
            EntryKind::Received => HistoryEntryKind::Received,
            EntryKind::Allocated => HistoryEntryKind::Allocated,
            EntryKind::Reversed => HistoryEntryKind::Reversed,
            EntryKind::Refunded => HistoryEntryKind::Refunded,
            EntryKind::WrittenOff => HistoryEntryKind::WrittenOff,
            EntryKind::Adjusted => HistoryEntryKind::Adjusted,
        }
    }
}

/// One line of a party's money history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// The payment, allocation (for `allocated` and `reversed`), refund, write-off or
    /// adjustment.
    pub id: String,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// The day it concerns: received or refunded on, the day recorded otherwise.
    pub day: NaiveDate,
    /// What happened.
    pub kind: HistoryEntryKind,
    /// How much.
    pub amount: Money,
    /// The payment (none for a write-off).
    pub payment_id: Option<String>,
    /// The invoice (allocations, reversals, write-offs).
    pub invoice_id: Option<String>,
    /// Its number.
    pub invoice_number: Option<String>,
    /// The payment's kind and method (`prepayment card`), a refund's method, a write-off's
    /// kind.
    pub detail: Option<String>,
    /// A payment's or refund's reference, or the credit note that reversed an allocation.
    pub reference: Option<String>,
    /// Why (refunds, write-offs).
    pub reason: Option<String>,
}

impl HistoryEntry {
    fn of(e: &Entry) -> HistoryEntry {
        HistoryEntry {
            id: e.id.clone(),
            at: e.at,
            day: e.day,
            kind: e.kind.into(),
            amount: e.amount,
            payment_id: e.payment_id.clone(),
            invoice_id: e.invoice_id.clone(),
            invoice_number: e.invoice_number.clone(),
            detail: e.detail.clone(),
            reference: e.reference.clone(),
            reason: e.reason.clone(),
        }
    }
}

/// A party's money history, oldest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartyHistory {
    /// Payer or patient.
    pub party_kind: PartyKind,
    /// The party's id.
    pub party_id: String,
    /// What was received, allocated, reversed, refunded and written off, oldest first.
    pub entries: Vec<HistoryEntry>,
}

/// The history's format. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryParams {
    /// `json` (default) or `csv`; `Accept: text/csv` asks for CSV too.
    pub format: Option<String>,
}

fn csv(entries: &[Entry]) -> Result<Vec<u8>, Error> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fail = |e: csv::Error| Error::internal(&e);
    w.write_record([
        "at",
        "day",
        "id",
        "kind",
        "amount",
        "currency",
        "payment_id",
        "invoice_number",
        "detail",
        "reference",
        "reason",
    ])
    .map_err(fail)?;
    for e in entries {
        let opt = |v: &Option<String>| v.clone().unwrap_or_default(); // not stored: an empty cell
        w.write_record([
            e.at.to_rfc3339(),
            e.day.to_string(),
            e.id.clone(),
            e.kind.as_str().to_owned(),
            e.amount.amount_string(),
            e.amount.currency().to_string(),
            opt(&e.payment_id),
            opt(&e.invoice_number),
            opt(&e.detail),
            opt(&e.reference),
            opt(&e.reason),
        ])
        .map_err(fail)?;
    }
    w.into_inner().map_err(|e| Error::internal(&e.to_string()))
}

/// A payer's or a patient's money history: received, allocated, reversed, refunded, written off.
#[utoipa::path(get, path = "/v1/balances/{party_kind}/{party_id}/history", tag = "balances",
    params(("party_kind" = PartyKind, Path, description = "payer or patient"),
        ("party_id" = String, Path, description = "The payer's or patient's id"), HistoryParams),
    responses((status = 200, description = "The history (as text/csv when asked)", content(
            (PartyHistory = "application/json"),
            (String = "text/csv"))),
        (status = 400, description = "Unknown query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Nothing known about this party (or not visible to the caller)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn get_party_history(
    state: web::Data<CollectionsState>,
    req: HttpRequest,
    who: Principal,
    path: web::Path<(String, String)>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let (kind, id) = path.into_inner();
    let kind: PartyKind = kind.parse().map_err(|_| Error::not_found("party"))?;
    let id: uuid::Uuid = id.parse().map_err(|_| Error::not_found("party"))?;
    let as_csv = match params.format.as_deref().map(str::trim) {
        Some("csv") => true,
        Some("json") => false,
        Some(_) => return Err(Error::field("format", "invalid", "must be json or csv")),
        None => req
            .headers()
            .get_all(header::ACCEPT)
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.to_ascii_lowercase().contains("text/csv")),
    };
    let scope = Scope::of(&who);
    let entries = state
        .db
        .read(move |conn| history::history(conn, &scope, kind, id))
        .await?;
    if as_csv {
        return Ok(HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(csv(&entries)?));
    }
    Ok(HttpResponse::Ok().json(PartyHistory {
        party_kind: kind,
        party_id: id.to_string(),
        entries: entries.iter().map(HistoryEntry::of).collect(),
    }))
}
