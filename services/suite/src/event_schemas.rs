//! The events' contract: one JSON Schema (2020-12) per event type, for integrators as the
//! OpenAPI document is for the HTTP API. Each schema describes the whole CloudEvent: the
//! envelope attributes, the fixed `type`, and the payload in `data`, with every nested type in
//! `$defs`. `carebill event-schemas <dir>` writes them; `event-schemas/` holds them committed,
//! and a test fails when they are stale.

use std::collections::BTreeMap;

use carebill_domain::events::{
    AdjustmentRecordedV1, AgencyCreditNoteIssuedV1, AgencyInvoiceIssuedV1, BatchClosedV1,
    BatchSentV1, CareRecordChangedV1, CatalogItemChangedV1, ConsumptionRecordedV1,
    ConsumptionVoidedV1, CoverageChangedV1, CreditNoteIssuedV1, EBillingSentV1, EpisodeClosedV1,
    EpisodeCodedV1, EpisodeOpenedV1, EventPayload, HoursPricedV1, InvoiceIssuedV1,
    LocationChangedV1, PatientChangedV1, PayerChangedV1, PaymentRecordedV1, PlanBrokenV1,
    PlanCompletedV1, PlanCreatedV1, PractitionerChangedV1, RefundIssuedV1, ReminderSentV1,
    RemittancePostedV1, SettlementApprovedV1, SettlementChangedV1, SettlementInvoicedV1,
    TimesheetApprovedV1, WriteOffRecordedV1,
};
use serde_json::{Value, json};
use utoipa::OpenApi as _;

#[derive(utoipa::OpenApi)]
#[openapi(components(schemas(
    ConsumptionRecordedV1,
    ConsumptionVoidedV1,
    CareRecordChangedV1,
    EpisodeOpenedV1,
    EpisodeClosedV1,
    EpisodeCodedV1,
    CoverageChangedV1,
    PatientChangedV1,
    PayerChangedV1,
    LocationChangedV1,
    CatalogItemChangedV1,
    PractitionerChangedV1,
    TimesheetApprovedV1,
    HoursPricedV1,
    SettlementApprovedV1,
    SettlementChangedV1,
    InvoiceIssuedV1,
    AgencyInvoiceIssuedV1,
    SettlementInvoicedV1,
    CreditNoteIssuedV1,
    AgencyCreditNoteIssuedV1,
    BatchClosedV1,
    BatchSentV1,
    EBillingSentV1,
    PaymentRecordedV1,
    RefundIssuedV1,
    WriteOffRecordedV1,
    PlanCreatedV1,
    PlanCompletedV1,
    PlanBrokenV1,
    AdjustmentRecordedV1,
    RemittancePostedV1,
    ReminderSentV1,
)))]
struct Payloads;

/// Every event type producers emit, with its payload's schema name and what it announces.
pub const EVENTS: &[(&str, &str, &str)] = &[
    (
        ConsumptionRecordedV1::TYPE,
        "ConsumptionRecordedV1",
        "A service was performed or a material used (accounts).",
    ),
    (
        ConsumptionVoidedV1::TYPE,
        "ConsumptionVoidedV1",
        "A consumption no longer counts (accounts).",
    ),
    (
        CareRecordChangedV1::TYPE,
        "CareRecordChangedV1",
        "A care record was recorded, changed or cancelled (accounts).",
    ),
    (
        EpisodeOpenedV1::TYPE,
        "EpisodeOpenedV1",
        "An episode was opened or reopened (accounts).",
    ),
    (
        EpisodeClosedV1::TYPE,
        "EpisodeClosedV1",
        "An episode was closed or cancelled (accounts).",
    ),
    (
        EpisodeCodedV1::TYPE,
        "EpisodeCodedV1",
        "An episode's coding changed: diagnoses, admission, discharge, practitioners (accounts).",
    ),
    (
        CoverageChangedV1::TYPE,
        "CoverageChangedV1",
        "A patient's coverages changed (accounts).",
    ),
    (
        PatientChangedV1::TYPE,
        "PatientChangedV1",
        "A patient was registered or replaced: names, birth date, sex, address (accounts).",
    ),
    (
        PayerChangedV1::TYPE,
        "PayerChangedV1",
        "A payer was created or replaced: what invoices to it name it by (accounts).",
    ),
    (
        LocationChangedV1::TYPE,
        "LocationChangedV1",
        "A location was created or replaced, with what invoices name it by (accounts).",
    ),
    (
        CatalogItemChangedV1::TYPE,
        "CatalogItemChangedV1",
        "A catalog item was created or replaced, with how claims bill it (accounts).",
    ),
    (
        PractitionerChangedV1::TYPE,
        "PractitionerChangedV1",
        "A practitioner was registered or replaced, with what claims name them by (accounts).",
    ),
    (
        TimesheetApprovedV1::TYPE,
        "TimesheetApprovedV1",
        "A client approved a carer's hours (one event per decision, with its lines, the carer, who pays and the placement's terms) (accounts).",
    ),
    (
        HoursPricedV1::TYPE,
        "HoursPricedV1",
        "An approval of a carer's hours priced: each line at its tariff, cut where the agency calendar's rates change and adjusted by business conditions, with the agency's commission and mediation fee (settlement).",
    ),
    (
        SettlementApprovedV1::TYPE,
        "SettlementApprovedV1",
        "Medical audit approved a settlement version: what to invoice to whom (settlement).",
    ),
    (
        SettlementChangedV1::TYPE,
        "SettlementChangedV1",
        "Settlements changed status, total or assignee: their state now, for dashboards (settlement).",
    ),
    (
        InvoiceIssuedV1::TYPE,
        "InvoiceIssuedV1",
        "An invoice was issued and numbered (invoicing).",
    ),
    (
        AgencyInvoiceIssuedV1::TYPE,
        "AgencyInvoiceIssuedV1",
        "A care agency's invoice was issued and numbered: a carer's hours self-billed on the carer's behalf, the commission to the carer, or the mediation fee to the client (invoicing).",
    ),
    (
        SettlementInvoicedV1::TYPE,
        "SettlementInvoicedV1",
        "Every invoice of an approved settlement version was issued (invoicing).",
    ),
    (
        CreditNoteIssuedV1::TYPE,
        "CreditNoteIssuedV1",
        "A credit note cancelled an invoice (full) or reduced it (partial) (invoicing).",
    ),
    (
        AgencyCreditNoteIssuedV1::TYPE,
        "AgencyCreditNoteIssuedV1",
        "A care agency's invoice was credited: a self-billed credit note (261) in the carer's series, or a credit note of a commission or mediation-fee invoice (invoicing).",
    ),
    (
        BatchClosedV1::TYPE,
        "BatchClosedV1",
        "A batch of invoices and credit notes was closed: numbered, its documents and totals frozen (invoicing).",
    ),
    (
        BatchSentV1::TYPE,
        "BatchSentV1",
        "A closed batch was sent to collections (invoicing).",
    ),
    (
        EBillingSentV1::TYPE,
        "EBillingSentV1",
        "An e-billing's 837 claim file was taken to be sent to the payer; its claims are submitted, each named by its patient control number and transaction (invoicing).",
    ),
    (
        PaymentRecordedV1::TYPE,
        "PaymentRecordedV1",
        "A payment was recorded and allocated (collections).",
    ),
    (
        RefundIssuedV1::TYPE,
        "RefundIssuedV1",
        "Part of a payment's (or prepayment's) unallocated credit was paid back to its party (collections).",
    ),
    (
        WriteOffRecordedV1::TYPE,
        "WriteOffRecordedV1",
        "Part or all of what a receivable still owed was written off: bad debt, small balance or charity (collections).",
    ),
    (
        PlanCreatedV1::TYPE,
        "PlanCreatedV1",
        "What a party owes on some receivables was split into installments; dunning leaves them alone while the plan is active (collections).",
    ),
    (
        PlanCompletedV1::TYPE,
        "PlanCompletedV1",
        "Every installment of a payment plan is paid, or its receivables owe nothing more (collections).",
    ),
    (
        PlanBrokenV1::TYPE,
        "PlanBrokenV1",
        "More installments of a payment plan were missed than allowed; its receivables go back to normal collection (collections).",
    ),
    (
        AdjustmentRecordedV1::TYPE,
        "AdjustmentRecordedV1",
        "What a receivable owes was raised (fee, interest) or lowered (correction) (collections).",
    ),
    (
        RemittancePostedV1::TYPE,
        "RemittancePostedV1",
        "A payer's 835 remittance was imported: the claims it matched were paid and adjusted with their reason codes, or flagged as denied or for review (collections).",
    ),
    (
        ReminderSentV1::TYPE,
        "ReminderSentV1",
        "A payment reminder was accepted by the mail server or SMS provider; its fee and interest were charged to the receivable (collections).",
    ),
];

/// The schemas, by file name (`<event type>.json`), as pretty JSON with a trailing newline.
pub fn files() -> BTreeMap<String, String> {
    let components = Payloads::openapi()
        .components
        .map(|c| c.schemas)
        .unwrap_or_default();
    let all: BTreeMap<String, Value> = components
        .into_iter()
        .map(|(name, schema)| {
            let value = serde_json::to_value(schema).unwrap_or(Value::Null);
            (name, rewrite_refs(value))
        })
        .collect();
    EVENTS
        .iter()
        .map(|(event_type, payload, description)| {
            let mut defs = BTreeMap::new();
            collect(payload, &all, &mut defs);
            let schema = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": format!("urn:carebill:event:{event_type}"),
                "title": event_type,
                "description": format!("{description} A CloudEvents 1.0 structured-mode JSON event; the payload is `data`."),
                "type": "object",
                "required": ["specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"],
                "properties": {
                    "specversion": { "const": "1.0" },
                    "id": { "type": "string", "format": "uuid", "description": "Unique id (UUIDv7); consumers deduplicate on it." },
                    "source": { "type": "string", "pattern": "^/carebill/[a-z]+$", "description": "The producing service." },
                    "type": { "const": event_type },
                    "time": { "type": "string", "format": "date-time", "description": "When the state change happened." },
                    "subject": { "type": "string", "description": "The aggregate whose events are applied in order, e.g. `episode/<id>`." },
                    "datacontenttype": { "const": "application/json" },
                    "correlationid": { "type": "string", "description": "The request or flow this event belongs to." },
                    "causationid": { "type": "string", "description": "The event or request that caused this one." },
                    "data": { "$ref": format!("#/$defs/{payload}") }
                },
                "$defs": defs,
            });
            let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
            text.push('\n');
            (format!("{event_type}.json"), text)
        })
        .collect()
}

/// `#/components/schemas/X` (OpenAPI) → `#/$defs/X` (a standalone JSON Schema).
fn rewrite_refs(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => {
                            Value::String(r.replace("#/components/schemas/", "#/$defs/"))
                        }
                        (_, v) => rewrite_refs(v),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(rewrite_refs).collect()),
        other => other,
    }
}

/// `name` and every schema it refers to, transitively.
fn collect(name: &str, all: &BTreeMap<String, Value>, into: &mut BTreeMap<String, Value>) {
    if into.contains_key(name) {
        return;
    }
    let Some(schema) = all.get(name) else { return };
    into.insert(name.to_owned(), schema.clone());
    let mut refs = Vec::new();
    refs_in(schema, &mut refs);
    for r in refs {
        collect(&r, all, into);
    }
}

fn refs_in(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix("#/$defs/") {
                            out.push(name.to_owned());
                        }
                    }
                    _ => refs_in(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}
