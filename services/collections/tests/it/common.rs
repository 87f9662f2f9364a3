//! What every collections scenario shares: a database of either backend with the service's
//! event handler and the app over it, builders of invoicing's events, payments and tokens, and
//! readers of responses and of the outbox.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::web;
use carebill_collections::CollectionsState;
use carebill_domain::MinorUnits;
use carebill_domain::Money;
use carebill_domain::events::{
    BatchDocument, BatchSentV1, CreditNoteIssuedV1, Envelope, InvoiceIssuedV1, LocationRef,
    PartyKind, PartyRef, PaymentRecordedV1,
};
use carebill_domain::ids::{
    BatchId, ConsumptionId, CreditNoteId, EpisodeId, InvoiceId, LocationId, PatientId, SettlementId,
};
use carebill_domain::invoicing::BatchDocumentKind;
use carebill_platform::auth::{Claims, mint_hs256};
use carebill_platform::db::{Backend, Db};
use carebill_platform::events::Handler;
use carebill_platform::testing::{TEST_SECRET, TestDb, test_app};
use chrono::{Duration, NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};
use tokio::sync::Notify;
pub(crate) struct Harness {
    pub(crate) db: Db,
    pub(crate) handler: Handler,
    _guard: TestDb,
}

pub(crate) fn harness(backend: Backend) -> Harness {
    let t = TestDb::new(backend, &carebill_collections::MIGRATIONS);
    let handler = carebill_collections::events(t.db.clone(), Arc::new(Notify::new())).handler;
    Harness {
        db: t.db.clone(),
        handler,
        _guard: t,
    }
}

pub(crate) async fn app(
    h: &Harness,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    app_with(h, carebill_collections::Channels::default()).await
}

/// The app with reminder senders.
pub(crate) async fn app_with(
    h: &Harness,
    reminders: carebill_collections::Channels,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let state = web::Data::new(CollectionsState {
        db: h.db.clone(),
        wake: Arc::new(Notify::new()),
        reminders,
        payment_links: None,
    });
    test_app(carebill_collections::routes(state)).await
}

// ---- builders ----

pub(crate) fn eur(amount: &str) -> Money {
    serde_json::from_value(json!({"amount": amount, "currency": "EUR"})).expect("money")
}

pub(crate) fn money_in(amount: &str, currency: &str) -> Money {
    serde_json::from_value(json!({"amount": amount, "currency": currency})).expect("money")
}

pub(crate) fn payer(code: &str) -> PartyRef {
    PartyRef {
        kind: PartyKind::Payer,
        id: uuid::Uuid::now_v7(),
        payer_code: Some(code.to_owned()),
        payer_kind: None,
        coverage_id: None,
        policy_number: None,
        billing: None,
    }
}

pub(crate) fn location(code: &str, time_zone: &str) -> LocationRef {
    LocationRef {
        id: LocationId::new(),
        code: code.to_owned(),
        name: format!("Hospital {code}"),
        time_zone: time_zone.to_owned(),
        tax_id: None,
        billing: None,
    }
}

pub(crate) fn today() -> NaiveDate {
    Utc::now().date_naive()
}

pub(crate) fn invoice(
    to: &PartyRef,
    at: &LocationRef,
    number: &str,
    total: Money,
    due_date: NaiveDate,
) -> InvoiceIssuedV1 {
    InvoiceIssuedV1 {
        invoice_id: InvoiceId::new(),
        number: number.to_owned(),
        location: at.clone(),
        recipient: to.clone(),
        patient_id: PatientId::new(),
        episode_id: EpisodeId::new(),
        settlement_id: SettlementId::new(),
        settlement_version: 1,
        lines: Vec::new(),
        total,
        issue_date: due_date - Duration::days(30),
        due_date,
        issued_at: Utc::now(),
        corrects_invoice_id: None,
    }
}

pub(crate) fn credit_note(inv: &InvoiceIssuedV1) -> CreditNoteIssuedV1 {
    CreditNoteIssuedV1 {
        credit_note_id: CreditNoteId::new(),
        number: format!("CN-{}", inv.number),
        invoice_id: inv.invoice_id,
        invoice_number: inv.number.clone(),
        location_id: inv.location.id,
        recipient: inv.recipient.clone(),
        settlement_id: inv.settlement_id,
        settlement_version: 1,
        consumption_ids: vec![ConsumptionId::new()],
        total: inv.total,
        reason: "billed to the wrong payer".to_owned(),
        reissue: true,
        issue_date: today(),
        issued_by: "biller-1".to_owned(),
        issued_at: Utc::now(),
        partial: false,
        lines: vec![],
        invoice_remaining: None,
    }
}

/// A sent batch of `invoices` and `credit_notes` (all in euros) from `at`, to `payer_code`.
pub(crate) fn batch_sent(
    number: &str,
    at: &LocationRef,
    payer_code: Option<&str>,
    invoices: &[&InvoiceIssuedV1],
    credit_notes: &[&CreditNoteIssuedV1],
) -> BatchSentV1 {
    let minor = |m: &Money| m.to_minor().expect("minor units").0;
    let euros = |minor: i64| Money::from_minor(MinorUnits(minor), eur("0").currency());
    let mut documents: Vec<BatchDocument> = invoices
        .iter()
        .map(|i| BatchDocument {
            kind: BatchDocumentKind::Invoice,
            id: i.invoice_id.0,
            number: i.number.clone(),
            total: i.total,
        })
        .collect();
    documents.extend(credit_notes.iter().map(|c| BatchDocument {
        kind: BatchDocumentKind::CreditNote,
        id: c.credit_note_id.0,
        number: c.number.clone(),
        total: c.total,
    }));
    BatchSentV1 {
        batch_id: BatchId::new(),
        number: number.to_owned(),
        location_id: at.id,
        location_code: at.code.clone(),
        payer_code: payer_code.map(str::to_owned),
        documents,
        invoiced: euros(invoices.iter().map(|i| minor(&i.total)).sum()),
        credited: euros(credit_notes.iter().map(|c| minor(&c.total)).sum()),
        sent_by: "biller-1".to_owned(),
        sent_at: Utc::now(),
    }
}

pub(crate) fn envelope<P: carebill_domain::events::EventPayload>(payload: &P) -> Envelope {
    Envelope::new("invoicing", payload, Utc::now(), None, None).expect("envelope")
}

pub(crate) async fn feed(h: &Harness, env: &Envelope) {
    (h.handler)(env.clone()).await.expect("event applied");
}

pub(crate) fn payer_token(code: &str) -> String {
    let now = Utc::now().timestamp();
    mint_hs256(
        TEST_SECRET.as_bytes(),
        &Claims {
            sub: format!("portal-{code}"),
            iss: "carebill".to_owned(),
            aud: "carebill".to_owned(),
            exp: now + 3600,
            iat: now,
            roles: vec!["payer".to_owned()],
            locations: None,
            payer: Some(code.to_owned()),
            patient: None,
            carer: None,
        },
    )
    .expect("token")
}

/// A staff token for `roles`, optionally limited to locations, with a `payer` claim: the
/// platform scope limits it to that payer's records.
pub(crate) fn staff_payer_token(roles: &[&str], locations: Option<&[&str]>, code: &str) -> String {
    let now = Utc::now().timestamp();
    mint_hs256(
        TEST_SECRET.as_bytes(),
        &Claims {
            sub: format!("staff-{code}"),
            iss: "carebill".to_owned(),
            aud: "carebill".to_owned(),
            exp: now + 3600,
            iat: now,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            locations: locations.map(|l| l.iter().map(|c| (*c).to_owned()).collect()),
            payer: Some(code.to_owned()),
            patient: None,
            carer: None,
        },
    )
    .expect("token")
}

pub(crate) fn payment(
    party: &PartyRef,
    amount: Money,
    allocations: &[(&InvoiceIssuedV1, Money)],
) -> Value {
    json!({
        "party": {"kind": party.kind, "id": party.id},
        "amount": amount,
        "method": "transfer",
        "received_on": today(),
        "reference": "BANK-REF-1",
        "allocations": allocations
            .iter()
            .map(|(i, a)| json!({"invoice_id": i.invoice_id, "amount": a}))
            .collect::<Vec<_>>(),
    })
}

pub(crate) fn allocations(items: &[(&InvoiceIssuedV1, Money)]) -> Value {
    json!({"allocations": items
        .iter()
        .map(|(i, a)| json!({"invoice_id": i.invoice_id, "amount": a}))
        .collect::<Vec<_>>()})
}

/// The PaymentRecorded events in the outbox.
pub(crate) async fn recorded_events(h: &Harness) -> Vec<PaymentRecordedV1> {
    use carebill_platform::schema::outbox;
    let bodies: Vec<String> =
        h.db.read(|conn| {
            Ok(outbox::table
                .filter(outbox::event_type.eq("carebill.collections.payment.recorded.v1"))
                .order(outbox::seq.asc())
                .select(outbox::body)
                .load(conn)?)
        })
        .await
        .expect("outbox");
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Envelope>(b)
                .expect("envelope")
                .payload()
                .expect("payload")
        })
        .collect()
}

pub(crate) fn amount(v: &Value) -> &str {
    v["amount"].as_str().unwrap_or("?")
}

pub(crate) fn balance_path(p: &PartyRef) -> String {
    format!("/v1/balances/{}/{}", p.kind, p.id)
}

// ---- scenarios ----

pub(crate) fn patient() -> PartyRef {
    PartyRef {
        kind: PartyKind::Patient,
        id: uuid::Uuid::now_v7(),
        payer_code: None,
        payer_kind: None,
        coverage_id: None,
        policy_number: None,
        billing: None,
    }
}

/// The payloads of the events of type `P` in the outbox, oldest first.
pub(crate) async fn outbox_events<P: carebill_domain::events::EventPayload>(h: &Harness) -> Vec<P> {
    use carebill_platform::schema::outbox;
    let bodies: Vec<String> =
        h.db.read(|conn| {
            Ok(outbox::table
                .filter(outbox::event_type.eq(P::TYPE))
                .order(outbox::seq.asc())
                .select(outbox::body)
                .load(conn)?)
        })
        .await
        .expect("outbox");
    bodies
        .iter()
        .map(|b| {
            serde_json::from_str::<Envelope>(b)
                .expect("envelope")
                .payload()
                .expect("payload")
        })
        .collect()
}

/// Sends a request; returns the status, the body as text and the content type.
pub(crate) async fn call_text(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    req: actix_web::test::TestRequest,
) -> (actix_web::http::StatusCode, String, Option<String>) {
    let res = actix_web::test::call_service(app, req.to_request()).await;
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = actix_web::test::read_body(res).await;
    (status, String::from_utf8_lossy(&body).into_owned(), ctype)
}

/// Cents of a money value in the API (`{"amount": "12.34", ...}`), for sums.
pub(crate) fn cents(v: &Value) -> i64 {
    let s = amount(v);
    use rust_decimal::prelude::ToPrimitive as _;
    let d: rust_decimal::Decimal = s.parse().expect("decimal");
    (d * rust_decimal::Decimal::from(100))
        .to_i64()
        .expect("cents")
}

/// Asserts a balance's identities in every currency: invoiced + adjusted = cancelled + credited
/// + paid + written off + outstanding, and credit = received − allocated − refunded, never negative.
pub(crate) fn assert_balance_identities(bal: &Value) {
    for c in bal["currencies"].as_array().expect("currencies") {
        assert_eq!(
            cents(&c["invoiced"]) + cents(&c["adjusted"]),
            cents(&c["cancelled"])
                + cents(&c["credited"])
                + cents(&c["paid"])
                + cents(&c["written_off"])
                + cents(&c["outstanding"]),
            "{c}"
        );
        assert_eq!(
            cents(&c["unallocated_credit"]),
            cents(&c["received"]) - cents(&c["allocated"]) - cents(&c["refunded"]),
            "{c}"
        );
        assert!(cents(&c["unallocated_credit"]) >= 0, "{c}");
    }
}

/// Asserts a receivable's identity: total + adjusted = credited + paid + written off + outstanding (for
/// one that stands).
pub(crate) fn assert_receivable_identity(r: &Value) {
    if r["status"] == "cancelled" {
        assert_eq!(cents(&r["outstanding"]), 0, "{r}");
        return;
    }
    assert_eq!(
        cents(&r["total"]) + cents(&r["adjusted"]),
        cents(&r["credited"])
            + cents(&r["paid"])
            + cents(&r["written_off"])
            + cents(&r["outstanding"]),
        "{r}"
    );
}
