//! Payers' 835 remittances over HTTP: each claim payment matched to its invoice by the patient
//! control number invoicing sent, paid and adjusted by the absorption rule with its reason
//! codes; denials disputed; unmatched claims kept; provider-level adjustments kept; the same
//! remittance twice posts once; bad files change nothing. The 835s the tests read are written
//! to `$CAREBILL_X12_OUT` when set, for `scripts/validators.sh x12` to check with pyx12.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use carebill_domain::events::{
    EBillingSentV1, InvoiceIssuedV1, PartyRef, PaymentRecordedV1, RemittancePostedV1, SentClaim,
};
use carebill_domain::ids::{EBillingClaimId, EBillingId};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, get, token};
use chrono::Utc;
use serde_json::Value;

use crate::common::*;

#[path = "../../../../crates/x12/tests/support/samples.rs"]
#[allow(dead_code, clippy::unwrap_used, clippy::expect_used)]
mod samples;

use samples::{PaidClaim, PaidLine};

both_backends!(
    a_remittance_pays_adjusts_disputes_and_keeps_what_it_cannot_match,
    the_same_remittance_twice_posts_once,
    bad_remittances_are_refused_and_change_nothing,
    only_collectors_and_billing_managers_of_every_location_import,
    an_unmatched_claim_is_matched_by_hand_once,
    the_remittances_payment_in_a_bank_statement_is_not_posted_again,
    a_bank_credit_before_its_835_leaves_the_queue_when_the_835_arrives,
    what_an_835_cannot_pay_is_held_or_left_unmatched,
);

fn usd(amount: &str) -> carebill_domain::Money {
    money_in(amount, "USD")
}

/// The invoices the sample 835 pays, issued to UnitedHealthcare, and the e-billing that sent
/// their claims (payer id 87726): the first billed its whole charge to the payer; the second
/// 130.50 of 150.50 (the patient was billed 20.00); the third is denied.
struct Claimed {
    payer: PartyRef,
    whole: InvoiceIssuedV1,
    shared: InvoiceIssuedV1,
    denied: InvoiceIssuedV1,
}

async fn claimed(h: &Harness) -> Claimed {
    let payer = payer("UHC");
    let at = location("H1", "America/New_York");
    let due = today() + chrono::Duration::days(30);
    let whole = invoice(&payer, &at, "INV-2026-000001", usd("150.00"), due);
    let shared = invoice(&payer, &at, "INV-2026-000002", usd("130.50"), due);
    let denied = invoice(&payer, &at, "INV-2026-000004", usd("80.00"), due);
    for inv in [&whole, &shared, &denied] {
        feed(h, &envelope(inv)).await;
    }
    let sent = EBillingSentV1 {
        e_billing_id: EBillingId::new(),
        number: "H1-EB-2026-000001".into(),
        location_id: at.id,
        location_code: at.code.clone(),
        payer_code: "UHC".into(),
        payer_id: "87726".into(),
        interchange_control_number: 1,
        claims: [(&whole, "150.00"), (&shared, "150.50"), (&denied, "80.00")]
            .into_iter()
            .map(|(inv, charge)| SentClaim {
                claim_id: EBillingClaimId::new(),
                invoice_id: inv.invoice_id,
                patient_control_number: inv.number.clone(),
                frequency: "1".into(),
                format: "837P".into(),
                charge: usd(charge),
                group_control_number: 1,
                transaction_control_number: "0001".into(),
            })
            .collect(),
        sent_by: "test".into(),
        sent_at: Utc::now(),
    };
    feed(h, &envelope(&sent)).await;
    // Delivered twice, kept once.
    feed(h, &envelope(&sent)).await;
    Claimed {
        payer,
        whole,
        shared,
        denied,
    }
}

/// The sample payer's claims (paid, shared with the patient, denied) and one for an invoice
/// Carebill never issued.
fn claims_with_a_stranger() -> Vec<PaidClaim> {
    let mut claims = samples::remittance_claims();
    claims.push(PaidClaim {
        patient_control_number: "OTHER-0099".into(),
        status: "1",
        charge: 2500,
        paid: 2500,
        patient_responsibility: 0,
        payer_claim_number: "PAYER-ICN-99".into(),
        adjustments: vec![],
        lines: vec![PaidLine {
            code: "99212",
            charge: 2500,
            paid: 2500,
            adjustments: vec![],
            control_number: "OTHER-0099-1".into(),
            remark: None,
        }],
    });
    claims
}

/// Writes an 835 the test reads to `$CAREBILL_X12_OUT/<backend>-<name>.835`.
fn keep(backend: Backend, name: &str, text: &str) {
    if let Ok(dir) = std::env::var("CAREBILL_X12_OUT") {
        std::fs::create_dir_all(&dir).expect("x12 out dir");
        std::fs::write(
            std::path::Path::new(&dir).join(format!("{backend:?}-{name}.835").to_lowercase()),
            text,
        )
        .expect("write 835");
    }
}

fn upload(tok: &str, text: &str) -> TestRequest {
    TestRequest::post()
        .uri("/v1/remittances")
        .insert_header(("authorization", format!("Bearer {tok}")))
        .insert_header(("Content-Type", "application/edi-x12"))
        .set_payload(text.to_owned())
}

/// A bank statement sent by a collector.
fn statement_upload(xml: String) -> TestRequest {
    TestRequest::post()
        .uri("/v1/bank-statements")
        .insert_header(("authorization", format!("Bearer {}", collector())))
        .insert_header(("Content-Type", "application/xml"))
        .set_payload(xml)
}

/// The claim payments of a remittance, in file order.
async fn claims_of(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    remittance_id: &str,
) -> Vec<Value> {
    let (status, page, _) = call(
        app,
        get(
            &format!("/v1/remittance-claims?remittance_id={remittance_id}"),
            &collector(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut claims = page["items"].as_array().expect("claims").clone();
    claims.sort_by_key(|c| c["position"].as_i64());
    claims
}

fn collector() -> String {
    token(&["collector"], None)
}

async fn receivable_of(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    invoice: &InvoiceIssuedV1,
) -> Value {
    let (status, page, _) = call(
        app,
        get(
            &format!("/v1/receivables?invoice_id={}", invoice.invoice_id),
            &collector(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let id = page["items"][0]["id"].as_str().expect("receivable id");
    let (status, r, _) = call(app, get(&format!("/v1/receivables/{id}"), &collector())).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    r
}

async fn a_remittance_pays_adjusts_disputes_and_keeps_what_it_cannot_match(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let c = claimed(&h).await;
    let text = samples::remittance_835(
        101,
        "CHK-1001",
        &claims_with_a_stranger(),
        &[("WO", "PAYER-ICN-OLD", 1000)],
        None,
    );
    keep(backend, "remittance", &text);
    let (status, body, _) = call(&app, upload(&collector(), &text)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let r = &body["remittances"][0];
    assert_eq!(body["remittances"].as_array().map(Vec::len), Some(1));
    assert_eq!(r["payer_id"], "87726");
    assert_eq!(r["payer_code"], "UHC");
    assert_eq!(r["trace_number"], "CHK-1001");
    assert_eq!(r["method"], "CHK");
    // BPR02: 120.00 + 70.00 + 0 + 25.00 − 10.00 (PLB).
    assert_eq!(amount(&r["total"]), "205.00");
    assert_eq!(r["claims"]["total"], 4);
    assert_eq!(r["claims"]["posted"], 2);
    assert_eq!(r["claims"]["review"], 0);
    assert_eq!(r["claims"]["denied"], 1);
    assert_eq!(r["claims"]["unmatched"], 1);
    assert_eq!(amount(&r["posted"]), "190.00");
    assert_eq!(amount(&r["unmatched"]), "25.00");
    assert_eq!(r["provider_adjustments"][0]["reason"], "WO");
    assert_eq!(r["provider_adjustments"][0]["reference"], "PAYER-ICN-OLD");
    assert_eq!(amount(&r["provider_adjustments"][0]["amount"]), "10.00");
    let id = r["id"].as_str().expect("id");

    // The claims of the remittance, in file order by their position.
    let claims = claims_of(&app, id).await;
    assert_eq!(claims.len(), 4);
    let [whole, shared, denied, stranger] = &claims[..] else {
        panic!("four claims");
    };

    // The whole charge billed to the payer: paid 120.00, CO-45 30.00 posted as contractual.
    assert_eq!(whole["status"], "posted", "{whole}");
    assert_eq!(whole["invoice_number"], c.whole.number.as_str());
    assert_eq!(whole["payer_claim_number"], "PAYER-ICN-1");
    assert!(whole["claim_id"].is_string());
    assert_eq!(whole["adjustments"][0]["group"], "CO");
    assert_eq!(whole["adjustments"][0]["reason"], "45");
    assert_eq!(amount(&whole["adjustments"][0]["posted"]), "30.00");
    assert_eq!(whole["adjustments"][0]["line"], "INV-2026-000001-1");
    let r1 = receivable_of(&app, &c.whole).await;
    assert_eq!(amount(&r1["paid"]), "120.00");
    assert_eq!(amount(&r1["adjusted"]), "-30.00");
    assert_eq!(amount(&r1["outstanding"]), "0.00");
    assert_eq!(r1["status"], "paid");
    assert_eq!(r1["adjustments"][0]["kind"], "contractual");
    assert!(
        r1["adjustments"][0]["reason"]
            .as_str()
            .is_some_and(|s| s.contains("CO-45") && s.contains("CHK-1001")),
        "{r1}"
    );
    assert_receivable_identity(&r1);

    // 130.50 of 150.50 billed to the payer: paid 70.00; of the 80.50 explained, 20.00 was billed
    // to the patient already and is absorbed from the patient's share first; the rest posts.
    assert_eq!(shared["status"], "posted", "{shared}");
    let adj = shared["adjustments"].as_array().expect("adjustments");
    let find = |reason: &str| {
        adj.iter()
            .find(|a| a["reason"] == reason)
            .unwrap_or_else(|| panic!("{reason} in {shared}"))
    };
    assert_eq!(amount(&find("45")["posted"]), "20.00");
    assert_eq!(amount(&find("2")["absorbed"]), "10.00");
    assert_eq!(amount(&find("2")["posted"]), "0.00");
    assert_eq!(amount(&find("1")["absorbed"]), "10.00");
    assert_eq!(amount(&find("1")["posted"]), "40.50");
    assert_eq!(find("1")["remarks"][0], "N130");
    assert_eq!(amount(&shared["patient_share"]), "40.50");
    assert_eq!(amount(&shared["patient_responsibility"]), "60.50");
    assert_eq!(shared["lines"].as_array().map(Vec::len), Some(2));
    assert_eq!(amount(&shared["lines"][1]["paid"]), "0.00");
    let r2 = receivable_of(&app, &c.shared).await;
    assert_eq!(amount(&r2["paid"]), "70.00");
    assert_eq!(amount(&r2["adjusted"]), "-60.50");
    assert_eq!(amount(&r2["outstanding"]), "0.00");
    let kinds: Vec<&str> = r2["adjustments"]
        .as_array()
        .expect("adjustments")
        .iter()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"contractual") && kinds.contains(&"patient_responsibility"));
    assert_receivable_identity(&r2);

    // Denied: nothing posted, a dispute holds the receivable (dunning stops).
    assert_eq!(denied["status"], "denied", "{denied}");
    assert!(denied["payment_id"].is_null());
    assert!(denied["note"].as_str().is_some_and(|n| n.contains("CO-50")));
    let r4 = receivable_of(&app, &c.denied).await;
    assert_eq!(amount(&r4["outstanding"]), "80.00");
    assert_eq!(r4["disputed"], true, "{r4}");
    assert!(
        r4["dispute"]["reason"]
            .as_str()
            .is_some_and(|s| s.contains("CO-50"))
    );

    // Never issued: kept for a person, in the queue.
    assert_eq!(stranger["status"], "unmatched");
    assert!(stranger["invoice_id"].is_null());
    assert!(
        stranger["note"]
            .as_str()
            .is_some_and(|n| n.contains("OTHER-0099"))
    );
    let (_, queue, _) = call(
        &app,
        get("/v1/remittance-claims?status=unmatched", &collector()),
    )
    .await;
    assert_eq!(queue["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(queue["items"][0]["id"], stranger["id"]);
    let (status, one, _) = call(
        &app,
        get(
            &format!(
                "/v1/remittance-claims/{}",
                shared["id"].as_str().expect("id")
            ),
            &collector(),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one, *shared);

    // Two payments by the payer, each for its claim; one event for the remittance.
    let payments = outbox_events::<PaymentRecordedV1>(&h).await;
    assert_eq!(payments.len(), 2);
    assert!(payments.iter().all(|p| p.party.id == c.payer.id));
    let posted = outbox_events::<RemittancePostedV1>(&h).await;
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].claims.len(), 3);
    assert_eq!(posted[0].payer_code.as_deref(), Some("UHC"));
    assert_eq!(amount_of(&posted[0].claims[1].patient_share), "40.50");

    // Listed and read back.
    let (_, list, _) = call(&app, get("/v1/remittances", &collector())).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (status, again, _) = call(&app, get(&format!("/v1/remittances/{id}"), &collector())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, *r);
}

fn amount_of(m: &carebill_domain::Money) -> String {
    m.amount_string()
}

async fn the_same_remittance_twice_posts_once(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let c = claimed(&h).await;
    let text = samples::remittance_835(102, "EFT-77", &samples::remittance_claims(), &[], None);
    let (status, first, _) = call(&app, upload(&collector(), &text)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, second, _) = call(&app, upload(&collector(), &text)).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_eq!(first, second);
    // The same payment in another file (another ISA13): still the first import.
    let other = samples::remittance_835(103, "EFT-77", &samples::remittance_claims(), &[], None);
    let (status, third, _) = call(&app, upload(&collector(), &other)).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    assert_eq!(third["remittances"][0]["id"], first["remittances"][0]["id"]);
    let r1 = receivable_of(&app, &c.whole).await;
    assert_eq!(amount(&r1["paid"]), "120.00");
    assert_eq!(amount(&r1["adjusted"]), "-30.00");
    assert_eq!(outbox_events::<PaymentRecordedV1>(&h).await.len(), 2);
    assert_eq!(outbox_events::<RemittancePostedV1>(&h).await.len(), 1);
}

async fn bad_remittances_are_refused_and_change_nothing(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let c = claimed(&h).await;
    let good = samples::remittance_835(104, "CHK-2002", &samples::remittance_claims(), &[], None);
    let cases: Vec<(String, &str, &str)> = vec![
        ("<Document/>".into(), "not_x12", "ISA"),
        (
            good.replacen("SE*", "SE*1", 1),
            "x12_envelope_invalid",
            "SE",
        ),
        (
            samples::remittance_835(105, "CHK-2003", &samples::remittance_claims(), &[], Some(1)),
            "remittance_does_not_balance",
            "BPR",
        ),
        (
            samples::acknowledgement_999(5, 1, &[("0001", "A", vec![])]),
            "x12_unsupported",
            "HP",
        ),
    ];
    for (text, code, names) in cases {
        let (status, body, ctype) = call(&app, upload(&collector(), &text)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}: {body}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"));
        assert_eq!(body["code"], code, "{body}");
        assert!(
            body["detail"].as_str().is_some_and(|d| d.contains(names)),
            "{code} names {names}: {body}"
        );
    }
    // An amount no remittance carries (a hundred billion dollars and more): refused, never
    // summed past 64 bits.
    let huge = samples::remittance_835(
        111,
        "CHK-9999",
        &[PaidClaim {
            patient_control_number: c.whole.number.clone(),
            status: "1",
            charge: 5_000_000_000_000_000,
            paid: 5_000_000_000_000_000,
            patient_responsibility: 0,
            payer_claim_number: "ICN-HUGE".into(),
            adjustments: vec![],
            lines: vec![],
        }],
        &[],
        None,
    );
    let (status, body, _) = call(&app, upload(&collector(), &huge)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "x12_invalid");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("larger")),
        "{body}"
    );
    // A payer no claim was sent to, paying invoices Carebill never issued.
    let stranger =
        samples::remittance_835(106, "CHK-3003", &claims_with_a_stranger()[3..], &[], None)
            .replace("REF*2U*87726", "REF*2U*99999");
    let (status, body, _) = call(&app, upload(&collector(), &stranger)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "unknown_payer");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("99999")));
    // Not sent as X12.
    let (status, body, _) = call(
        &app,
        TestRequest::post()
            .uri("/v1/remittances")
            .insert_header(("authorization", format!("Bearer {}", collector())))
            .insert_header(("Content-Type", "application/json"))
            .set_payload(good.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    // An unknown status in the queue's filter.
    let (status, body, _) =
        call(&app, get("/v1/remittance-claims?status=paid", &collector())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "status");
    // Nothing changed.
    let (_, list, _) = call(&app, get("/v1/remittances", &collector())).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{list}");
    let r1 = receivable_of(&app, &c.whole).await;
    assert_eq!(amount(&r1["paid"]), "0.00");
    assert!(outbox_events::<PaymentRecordedV1>(&h).await.is_empty());
}

async fn only_collectors_and_billing_managers_of_every_location_import(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    claimed(&h).await;
    let text = samples::remittance_835(107, "CHK-4004", &samples::remittance_claims(), &[], None);
    for (tok, expected) in [
        (token(&["biller"], None), StatusCode::FORBIDDEN),
        (token(&["auditor"], None), StatusCode::FORBIDDEN),
        (token(&["collector"], Some(&["H1"])), StatusCode::FORBIDDEN),
        (payer_token("UHC"), StatusCode::FORBIDDEN),
    ] {
        let (status, body, _) = call(&app, upload(&tok, &text)).await;
        assert_eq!(status, expected, "{body}");
    }
    let (status, body, _) = call(&app, upload(&token(&["billing_manager"], None), &text)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["remittances"][0]["id"].as_str().expect("id");
    // Auditors read; a reader limited to a location finds none.
    let (status, _, _) = call(
        &app,
        get(&format!("/v1/remittances/{id}"), &token(&["auditor"], None)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let scoped = token(&["collector"], Some(&["H1"]));
    let (status, _, _) = call(&app, get(&format!("/v1/remittances/{id}"), &scoped)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, list, _) = call(&app, get("/v1/remittances", &scoped)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
}

async fn an_unmatched_claim_is_matched_by_hand_once(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let c = claimed(&h).await;
    let text = samples::remittance_835(108, "CHK-5005", &claims_with_a_stranger(), &[], None);
    let (status, body, _) = call(&app, upload(&collector(), &text)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let remittance = body["remittances"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (_, queue, _) = call(
        &app,
        get("/v1/remittance-claims?status=unmatched", &collector()),
    )
    .await;
    let stranger = queue["items"][0]["id"]
        .as_str()
        .expect("unmatched")
        .to_owned();
    // The invoice the payer meant, issued under another number.
    let meant = invoice(
        &c.payer,
        &location("H1", "America/New_York"),
        "INV-2026-000099",
        usd("25.00"),
        today(),
    );
    feed(&h, &envelope(&meant)).await;
    let url = format!("/v1/remittance-claims/{stranger}/match");
    let tok = collector();
    let post_match = |invoice_id: String| {
        TestRequest::post()
            .uri(&url)
            .insert_header(("authorization", format!("Bearer {tok}")))
            .set_json(serde_json::json!({ "invoice_id": invoice_id }))
    };
    let (status, body, _) = call(&app, post_match(uuid::Uuid::now_v7().to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "invoice_id");
    // A patient's invoice is no payer's to pay: refused, and the claim still waits.
    let patients = invoice(
        &patient(),
        &location("H1", "America/New_York"),
        "INV-2026-000098",
        usd("25.00"),
        today(),
    );
    feed(&h, &envelope(&patients)).await;
    let (status, body, _) = call(&app, post_match(patients.invoice_id.to_string())).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "not_payable", "{body}");
    let (status, matched, _) = call(&app, post_match(meant.invoice_id.to_string())).await;
    assert_eq!(status, StatusCode::OK, "{matched}");
    assert_eq!(matched["status"], "posted");
    assert_eq!(matched["invoice_number"], "INV-2026-000099");
    assert!(matched["payment_id"].is_string());
    let r = receivable_of(&app, &meant).await;
    assert_eq!(amount(&r["paid"]), "25.00");
    assert_eq!(amount(&r["outstanding"]), "0.00");
    let (status, body, _) = call(&app, post_match(meant.invoice_id.to_string())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "already_matched");
    let (_, rem, _) = call(
        &app,
        get(&format!("/v1/remittances/{remittance}"), &collector()),
    )
    .await;
    assert_eq!(rem["claims"]["unmatched"], 0);
    assert_eq!(rem["claims"]["posted"], 3);
    assert_eq!(amount(&rem["unmatched"]), "0.00");
    assert_eq!(amount(&rem["posted"]), "215.00");
    let posted = outbox_events::<RemittancePostedV1>(&h).await;
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1].claims.len(), 1);
    assert_eq!(posted[1].claims[0].invoice_id, meant.invoice_id);
}

async fn the_remittances_payment_in_a_bank_statement_is_not_posted_again(backend: Backend) {
    use crate::bank_statements::{camt053, credit};
    let h = harness(backend);
    let app = app(&h).await;
    claimed(&h).await;
    // 120.00 + 70.00 + 0.00 by EFT.
    let text = samples::remittance_835(109, "EFT-9001", &samples::remittance_claims(), &[], None);
    let (status, body, _) = call(&app, upload(&collector(), &text)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let remittance = body["remittances"][0]["id"].clone();
    assert_eq!(amount(&body["remittances"][0]["total"]), "190.00");
    // The bank's credit of the EFT carries the 835's TRN in its addenda; another credit of the
    // same amount does not.
    let mut eft = credit("190.00", "BANK-REF-1");
    eft.ustrd = Some("HCCLAIMPMT TRN*1*EFT-9001*1410000001\\".into());
    let mut other = credit("190.00", "BANK-REF-2");
    other.ustrd = Some("TRANSFER EFT-9001X".into());
    let xml = camt053("MSG-EFT-1", "STMT-EFT-1", &[eft, other]).replace("EUR", "USD");
    let (status, st, _) = call(&app, statement_upload(xml)).await;
    assert_eq!(status, StatusCode::CREATED, "{st}");
    let entries = st["entries"].as_array().expect("entries");
    assert_eq!(entries[0]["status"], "remittance", "{st}");
    assert_eq!(entries[0]["matched_by"], "remittance");
    assert_eq!(entries[0]["duplicate_of"], remittance);
    assert!(entries[0]["payment_id"].is_null());
    assert_eq!(entries[1]["status"], "unmatched", "{st}");
    // Only the remittance's own payments, one per paid claim.
    assert_eq!(outbox_events::<PaymentRecordedV1>(&h).await.len(), 2);
}

async fn a_bank_credit_before_its_835_leaves_the_queue_when_the_835_arrives(backend: Backend) {
    use crate::bank_statements::{camt053, credit};
    let h = harness(backend);
    let app = app(&h).await;
    claimed(&h).await;
    let mut eft = credit("190.00", "BANK-REF-7");
    eft.ustrd = Some("HCCLAIMPMT TRN*1*EFT-9002*1410000001\\".into());
    let xml = camt053("MSG-EFT-2", "STMT-EFT-2", &[eft]).replace("EUR", "USD");
    let (status, st, _) = call(&app, statement_upload(xml)).await;
    assert_eq!(status, StatusCode::CREATED, "{st}");
    assert_eq!(st["entries"][0]["status"], "unmatched", "{st}");
    let statement = st["id"].as_str().expect("id").to_owned();
    let text = samples::remittance_835(110, "EFT-9002", &samples::remittance_claims(), &[], None);
    let (status, body, _) = call(&app, upload(&collector(), &text)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, st, _) = call(
        &app,
        get(&format!("/v1/bank-statements/{statement}"), &collector()),
    )
    .await;
    assert_eq!(st["entries"][0]["status"], "remittance", "{st}");
    assert_eq!(
        st["entries"][0]["duplicate_of"],
        body["remittances"][0]["id"]
    );
    assert_eq!(st["unmatched"]["count"], 0, "{st}");
    assert_eq!(st["duplicate"]["count"], 1, "{st}");
    let (_, queue, _) = call(
        &app,
        get("/v1/bank-statement-entries?status=unmatched", &collector()),
    )
    .await;
    assert_eq!(queue["items"].as_array().map(Vec::len), Some(0), "{queue}");
}

async fn what_an_835_cannot_pay_is_held_or_left_unmatched(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let c = claimed(&h).await;
    let at = location("H1", "America/New_York");
    // UnitedHealthcare's invoice in euros, and another payer's invoice: neither claimed by an
    // e-billing, both named by an 835 from UnitedHealthcare's payer id.
    let euros = invoice(
        &c.payer,
        &at,
        "INV-2026-000050",
        money_in("100.00", "EUR"),
        today(),
    );
    let cigna = invoice(
        &payer("CIGNA"),
        &at,
        "INV-2026-000051",
        usd("50.00"),
        today(),
    );
    feed(&h, &envelope(&euros)).await;
    feed(&h, &envelope(&cigna)).await;
    let paid = |number: &str, cents: i64| PaidClaim {
        patient_control_number: number.into(),
        status: "1",
        charge: cents,
        paid: cents,
        patient_responsibility: 0,
        payer_claim_number: format!("ICN-{number}"),
        adjustments: vec![],
        lines: vec![],
    };
    let text = samples::remittance_835(
        112,
        "CHK-7007",
        &[paid(&euros.number, 10_000), paid(&cigna.number, 5_000)],
        &[],
        None,
    );
    let (status, body, _) = call(&app, upload(&collector(), &text)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let r = &body["remittances"][0];
    assert_eq!(r["claims"]["review"], 1, "{body}");
    assert_eq!(r["claims"]["unmatched"], 1, "{body}");
    assert_eq!(
        amount(&r["posted"]),
        "0.00",
        "nothing was paid to an invoice"
    );
    let id = r["id"].as_str().expect("id");
    let claims = claims_of(&app, id).await;
    assert_eq!(claims[0]["status"], "review");
    assert_eq!(claims[0]["invoice_number"], euros.number.as_str());
    assert!(claims[0]["payment_id"].is_null());
    assert!(
        claims[0]["note"]
            .as_str()
            .is_some_and(|n| n.contains("EUR")),
        "{claims:?}"
    );
    // CIGNA's claims never went to this payer id: its invoice is not this 835's to pay.
    assert_eq!(claims[1]["status"], "unmatched", "{claims:?}");
    assert!(claims[1]["invoice_id"].is_null());
    let r = receivable_of(&app, &euros).await;
    assert_eq!(amount(&r["outstanding"]), "100.00");
    assert!(outbox_events::<PaymentRecordedV1>(&h).await.is_empty());
}
