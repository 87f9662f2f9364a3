//! Money reconciles to the cent whatever happens, in whatever order: random sequences of
//! invoices issued, payments (allocated or left as credit), partial and full credit notes,
//! refunds, write-offs and adjustments, run through the service's own event handler and HTTP
//! API on SQLite. Afterwards, for the party:
//!
//! - outstanding − unallocated credit = invoiced − cancelled − credited − written off +
//!   adjusted − received + refunded, with invoiced, received and refunded counted by the test
//!   itself, not read back;
//! - invoiced + adjusted = cancelled + credited + paid + written off + outstanding, and credit =
//!   received − allocated − refunded (the balance's own identities);
//! - every receivable: total + adjusted = credited + paid + written off + outstanding, never a
//!   negative outstanding, and the receivables' outstanding adds up to the balance's;
//! - the dashboard's totals: billed as invoiced, outstanding as owed, collected and written off
//!   as the balance's paid and written off.

use crate::common::*;
use actix_web::http::StatusCode;
use carebill_domain::events::{CreditNoteIssuedV1, InvoiceIssuedV1};
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, get, post, token};
use chrono::Duration;
use proptest::prelude::*;
use serde_json::{Value, json};

/// One thing that happens to the party's money.
#[derive(Debug, Clone)]
enum Op {
    /// An invoice of this many cents is issued.
    Issue(i64),
    /// A payment of this many cents, allocated to invoice `n` (as much as it owes) or left as
    /// credit.
    Pay(usize, i64),
    /// A partial credit note taking this many cents off invoice `n`.
    PartialCredit(usize, i64),
    /// A full credit note cancels invoice `n`.
    Cancel(usize),
    /// This many cents of credit paid back from the first payment that has some.
    Refund(i64),
    /// Up to this many cents of invoice `n` written off.
    WriteOff(usize, i64),
    /// Invoice `n` adjusted by this many (signed) cents.
    Adjust(usize, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (100_i64..20_000).prop_map(Op::Issue),
        3 => (0_usize..6, 1_i64..15_000).prop_map(|(n, c)| Op::Pay(n, c)),
        1 => (0_usize..6, 1_i64..5_000).prop_map(|(n, c)| Op::PartialCredit(n, c)),
        1 => (0_usize..6).prop_map(Op::Cancel),
        1 => (1_i64..5_000).prop_map(Op::Refund),
        1 => (0_usize..6, 1_i64..5_000).prop_map(|(n, c)| Op::WriteOff(n, c)),
        2 => (0_usize..6, -3_000_i64..3_000).prop_map(|(n, c)| Op::Adjust(n, c)),
    ]
}

fn euros(cents: i64) -> carebill_domain::Money {
    carebill_domain::Money::from_minor(carebill_domain::MinorUnits(cents), eur("0").currency())
}

/// What the test itself counts.
#[derive(Default)]
struct Model {
    invoices: Vec<InvoiceIssuedV1>,
    /// What invoicing still bills on each invoice (after partial credit notes).
    billed: Vec<i64>,
    cancelled: Vec<bool>,
    invoiced: i64,
    received: i64,
    refunded: i64,
}

async fn run(ops: Vec<Op>) {
    let h = harness(Backend::Sqlite);
    let app = app(&h).await;
    let t = token(&["billing_manager"], None);
    let h1 = location("H1", "Europe/Madrid");
    let ana = patient();
    let mut m = Model::default();
    let receivable = |v: &Value| v["items"][0].clone();
    for op in ops {
        match op {
            Op::Issue(cents) => {
                let n = m.invoices.len();
                let i = invoice(
                    &ana,
                    &h1,
                    &format!("P-{n}"),
                    euros(cents),
                    today() + Duration::days(30),
                );
                feed(&h, &envelope(&i)).await;
                m.invoices.push(i);
                m.billed.push(cents);
                m.cancelled.push(false);
                m.invoiced += cents;
            }
            Op::Pay(n, cents) => {
                let allocations = match m.invoices.get(n) {
                    Some(i) => {
                        let (_, page, _) = call(
                            &app,
                            get(&format!("/v1/receivables?invoice_id={}", i.invoice_id), &t),
                        )
                        .await;
                        let owed = cents_of(&receivable(&page)["outstanding"]);
                        if owed > 0 {
                            vec![(i, euros(owed.min(cents)))]
                        } else {
                            vec![]
                        }
                    }
                    None => vec![],
                };
                let (s, p, _) = call(
                    &app,
                    post(
                        "/v1/payments",
                        &t,
                        &payment(&ana, euros(cents), &allocations),
                    ),
                )
                .await;
                assert_eq!(s, StatusCode::CREATED, "{p}");
                m.received += cents;
            }
            Op::PartialCredit(n, cents) => {
                let Some(i) = m.invoices.get(n) else { continue };
                if m.cancelled[n] || m.billed[n] - cents < 0 {
                    continue;
                }
                m.billed[n] -= cents;
                let cn = CreditNoteIssuedV1 {
                    credit_note_id: carebill_domain::ids::CreditNoteId::new(),
                    number: format!("CN-{}-{}", i.number, m.billed[n]),
                    consumption_ids: vec![],
                    total: euros(cents),
                    partial: true,
                    invoice_remaining: Some(euros(m.billed[n])),
                    reissue: false,
                    reason: "a session not given".to_owned(),
                    ..credit_note(i)
                };
                feed(&h, &envelope(&cn)).await;
            }
            Op::Cancel(n) => {
                let Some(i) = m.invoices.get(n) else { continue };
                if m.cancelled[n] {
                    continue;
                }
                m.cancelled[n] = true;
                feed(&h, &envelope(&credit_note(i))).await;
            }
            Op::Refund(cents) => {
                let (_, page, _) = call(
                    &app,
                    get(&format!("/v1/payments?party_id={}&limit=500", ana.id), &t),
                )
                .await;
                let with_credit = page["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| cents_of(&p["unallocated"]) > 0);
                let Some(p) = with_credit else { continue };
                let amount = cents.min(cents_of(&p["unallocated"]));
                let (s, r, _) = call(
                    &app,
                    post(
                        &format!("/v1/payments/{}/refunds", p["id"].as_str().unwrap_or("?")),
                        &t,
                        &json!({"amount": euros(amount), "method": "transfer", "reason": "credit paid back"}),
                    ),
                )
                .await;
                assert_eq!(s, StatusCode::CREATED, "{r}");
                m.refunded += amount;
            }
            Op::WriteOff(n, cents) => {
                let Some(i) = m.invoices.get(n) else { continue };
                let (_, page, _) = call(
                    &app,
                    get(&format!("/v1/receivables?invoice_id={}", i.invoice_id), &t),
                )
                .await;
                let r = receivable(&page);
                let owed = cents_of(&r["outstanding"]);
                let (s, w, _) = call(
                    &app,
                    post(
                        &format!("/v1/receivables/{}/write-offs", r["id"].as_str().unwrap_or("?")),
                        &t,
                        &json!({"kind": "bad_debt", "amount": euros(cents.min(owed.max(1))), "reason": "not collectable"}),
                    ),
                )
                .await;
                let expected = if m.cancelled[n] {
                    StatusCode::CONFLICT
                } else if owed == 0 {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::CREATED
                };
                assert_eq!(s, expected, "{w}");
            }
            Op::Adjust(n, cents) => {
                let Some(i) = m.invoices.get(n) else { continue };
                let (_, page, _) = call(
                    &app,
                    get(&format!("/v1/receivables?invoice_id={}", i.invoice_id), &t),
                )
                .await;
                let r = receivable(&page);
                let owed = cents_of(&r["outstanding"]);
                let (s, a, _) = call(
                    &app,
                    post(
                        &format!("/v1/receivables/{}/adjustments", r["id"].as_str().unwrap_or("?")),
                        &t,
                        &json!({"kind": "correction", "amount": euros(cents), "reason": "tariff corrected"}),
                    ),
                )
                .await;
                let expected = if m.cancelled[n] {
                    StatusCode::CONFLICT
                } else if cents == 0 || owed + cents < 0 {
                    StatusCode::UNPROCESSABLE_ENTITY
                } else {
                    StatusCode::CREATED
                };
                assert_eq!(s, expected, "{a}");
            }
        }
    }
    if m.invoices.is_empty() && m.received == 0 {
        return;
    }
    let (s, bal, _) = call(&app, get(&balance_path(&ana), &t)).await;
    assert_eq!(s, StatusCode::OK, "{bal}");
    assert_balance_identities(&bal);
    let c = &bal["currencies"][0];
    assert_eq!(cents_of(&c["invoiced"]), m.invoiced, "{c}");
    assert_eq!(cents_of(&c["received"]), m.received, "{c}");
    assert_eq!(cents_of(&c["refunded"]), m.refunded, "{c}");
    assert_eq!(
        cents_of(&c["outstanding"]) - cents_of(&c["unallocated_credit"]),
        m.invoiced
            - cents_of(&c["cancelled"])
            - cents_of(&c["credited"])
            - cents_of(&c["written_off"])
            + cents_of(&c["adjusted"])
            - m.received
            + m.refunded,
        "{c}"
    );
    let (_, page, _) = call(
        &app,
        get(
            &format!("/v1/receivables?party_id={}&limit=500", ana.id),
            &t,
        ),
    )
    .await;
    let mut owed = 0;
    for r in page["items"].as_array().into_iter().flatten() {
        assert_receivable_identity(r);
        assert!(cents_of(&r["outstanding"]) >= 0, "{r}");
        owed += cents_of(&r["outstanding"]);
    }
    assert_eq!(owed, cents_of(&c["outstanding"]), "{c}");
    // The dashboard, kept by every writer as it goes, says the same: billed is what the test
    // invoiced, what is outstanding is what the receivables owe, and billed + adjusted −
    // credited − collected − written off is it too.
    let (s, d, _) = call(&app, get("/v1/dashboard", &t)).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    let Some(dt) = d["totals"].get(0) else {
        assert_eq!((m.invoiced, owed), (0, 0), "no figures: {d}");
        return;
    };
    assert_eq!(cents_of(&dt["billed"]), m.invoiced, "{dt}");
    assert_eq!(cents_of(&dt["outstanding"]), owed, "{dt}");
    assert_eq!(
        cents_of(&dt["billed"]) + cents_of(&dt["adjusted"])
            - cents_of(&dt["credited"])
            - cents_of(&dt["collected"])
            - cents_of(&dt["written_off"]),
        owed,
        "{dt}"
    );
    assert_eq!(cents_of(&dt["collected"]), cents_of(&c["paid"]), "{dt} {c}");
    assert_eq!(
        cents_of(&dt["written_off"]),
        cents_of(&c["written_off"]),
        "{dt} {c}"
    );
}

fn cents_of(v: &Value) -> i64 {
    cents(v)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
    #[test]
    fn money_reconciles_to_the_cent_whatever_happens(ops in proptest::collection::vec(op(), 1..25)) {
        actix_web::rt::System::new().block_on(run(ops));
    }
}
