//! Bank statements: camt.053 statements and camt.054 notifications imported over HTTP, their
//! credits matched to receivables by the ISO 11649 reference the invoices carry, by the free
//! text, or by a debtor account learnt earlier and the amount, and posted as payments; the rest
//! waits in the queue and is matched by hand; repeats post nothing twice; bad bodies change
//! nothing.

use crate::common::*;
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use carebill_domain::creditor_reference::CreditorReference;
use carebill_domain::events::{InvoiceIssuedV1, PaymentRecordedV1, PlanCompletedV1};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, get, post, token};
use chrono::{Duration, NaiveDate};
use serde_json::{Value, json};

both_backends!(
    credits_are_matched_by_reference_by_free_text_and_by_a_learnt_account,
    unmatched_credits_wait_in_the_queue_and_are_matched_by_hand_once,
    the_same_statement_twice_and_a_notification_then_its_statement_post_once,
    bad_statements_are_refused_and_change_nothing,
    only_collectors_and_billing_managers_import_and_payers_see_nothing,
    a_batch_booking_posts_each_of_its_transactions,
    credits_for_one_invoice_take_what_it_still_owes_in_order_and_complete_its_plan,
);

const ACCOUNT: &str = "DE89370400440532013000";

/// One entry of a test statement.
#[derive(Clone, Default)]
pub(crate) struct Ntry {
    pub amount: String,
    pub debit: bool,
    pub servicer_ref: Option<String>,
    pub refs: Vec<String>,
    pub ustrd: Option<String>,
    pub debtor_iban: Option<String>,
    pub booked: Option<NaiveDate>,
}

pub(crate) fn credit(amount: &str, servicer_ref: &str) -> Ntry {
    Ntry {
        amount: amount.to_owned(),
        servicer_ref: Some(servicer_ref.to_owned()),
        ..Ntry::default()
    }
}

fn cents_of(amount: &str) -> i64 {
    let d: rust_decimal::Decimal = amount.parse().expect("amount");
    use rust_decimal::prelude::ToPrimitive as _;
    (d * rust_decimal::Decimal::from(100))
        .to_i64()
        .expect("cents")
}

fn decimal(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, (cents % 100).abs())
}

fn entry_xml(e: &Ntry, v08: bool) -> String {
    let booked = e.booked.unwrap_or_else(today);
    let status = if v08 {
        "<Sts><Cd>BOOK</Cd></Sts>"
    } else {
        "<Sts>BOOK</Sts>"
    };
    let mut rmt = String::new();
    if let Some(u) = &e.ustrd {
        rmt.push_str(&format!("<Ustrd>{u}</Ustrd>"));
    }
    for r in &e.refs {
        rmt.push_str(&format!(
            "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{r}</Ref></CdtrRefInf></Strd>"
        ));
    }
    let parties = match &e.debtor_iban {
        Some(iban) if v08 => format!(
            "<RltdPties><Dbtr><Pty><Nm>Debtor</Nm></Pty></Dbtr><DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct></RltdPties>"
        ),
        Some(iban) => format!(
            "<RltdPties><Dbtr><Nm>Debtor</Nm></Dbtr><DbtrAcct><Id><IBAN>{iban}</IBAN></Id></DbtrAcct></RltdPties>"
        ),
        None => String::new(),
    };
    let rmt = if rmt.is_empty() {
        String::new()
    } else {
        format!("<RmtInf>{rmt}</RmtInf>")
    };
    let servicer = e
        .servicer_ref
        .as_ref()
        .map(|r| format!("<AcctSvcrRef>{r}</AcctSvcrRef>"))
        .unwrap_or_default();
    let family = if e.debit { "ICDT" } else { "RCDT" };
    let direction = if e.debit { "DBIT" } else { "CRDT" };
    format!(
        "<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>{direction}</CdtDbtInd>{status}\
         <BookgDt><Dt>{booked}</Dt></BookgDt><ValDt><Dt>{booked}</Dt></ValDt>{servicer}\
         <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd>\
         <NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>{parties}{rmt}</TxDtls></NtryDtls></Ntry>",
        amount = e.amount
    )
}

fn summary_xml(entries: &[Ntry]) -> String {
    let sum = |f: &dyn Fn(&Ntry) -> bool| -> (usize, i64) {
        let chosen: Vec<&Ntry> = entries.iter().filter(|e| f(e)).collect();
        (
            chosen.len(),
            chosen.iter().map(|e| cents_of(&e.amount)).sum(),
        )
    };
    let (n, all) = sum(&|_| true);
    let (nc, credits) = sum(&|e| !e.debit);
    let (nd, debits) = sum(&|e| e.debit);
    let net = credits - debits;
    format!(
        "<TxsSummry><TtlNtries><NbOfNtries>{n}</NbOfNtries><Sum>{}</Sum><TtlNetNtry><Amt>{}</Amt><CdtDbtInd>{}</CdtDbtInd></TtlNetNtry></TtlNtries>\
         <TtlCdtNtries><NbOfNtries>{nc}</NbOfNtries><Sum>{}</Sum></TtlCdtNtries>\
         <TtlDbtNtries><NbOfNtries>{nd}</NbOfNtries><Sum>{}</Sum></TtlDbtNtries></TxsSummry>",
        decimal(all),
        decimal(net.abs()),
        if net >= 0 { "CRDT" } else { "DBIT" },
        decimal(credits),
        decimal(debits),
    )
}

fn balance_xml(code: &str, cents: i64) -> String {
    format!(
        "<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy=\"EUR\">{}</Amt><CdtDbtInd>{}</CdtDbtInd><Dt><Dt>{}</Dt></Dt></Bal>",
        decimal(cents.abs()),
        if cents >= 0 { "CRDT" } else { "DBIT" },
        today()
    )
}

/// A camt.053.001.08 statement of `entries`, with balances and a summary that add up.
pub(crate) fn camt053(msg_id: &str, stmt_id: &str, entries: &[Ntry]) -> String {
    let opening = 100_000_i64;
    let net: i64 = entries
        .iter()
        .map(|e| {
            if e.debit {
                -cents_of(&e.amount)
            } else {
                cents_of(&e.amount)
            }
        })
        .sum();
    let body: String = entries.iter().map(|e| entry_xml(e, true)).collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08\"><BkToCstmrStmt>\
         <GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{d}T18:00:00</CreDtTm></GrpHdr>\
         <Stmt><Id>{stmt_id}</Id><CreDtTm>{d}T18:00:00</CreDtTm>\
         <Acct><Id><IBAN>{ACCOUNT}</IBAN></Id><Ccy>EUR</Ccy></Acct>{}{}{}{body}</Stmt></BkToCstmrStmt></Document>",
        balance_xml("OPBD", opening),
        balance_xml("CLBD", opening + net),
        summary_xml(entries),
        d = today(),
    )
}

/// A camt.054.001.02 notification of `entries` (prefixed elements, as some banks write them).
pub(crate) fn camt054(msg_id: &str, ntfctn_id: &str, entries: &[Ntry]) -> String {
    let body: String = entries.iter().map(|e| entry_xml(e, false)).collect();
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Document xmlns=\"urn:iso:std:iso:20022:tech:xsd:camt.054.001.02\"><BkToCstmrDbtCdtNtfctn>\
         <GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>{d}T10:00:00</CreDtTm></GrpHdr>\
         <Ntfctn><Id>{ntfctn_id}</Id><CreDtTm>{d}T10:00:00</CreDtTm>\
         <Acct><Id><IBAN>{ACCOUNT}</IBAN></Id></Acct>{body}</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>",
        d = today(),
    );
    // The same document with a prefix on every element.
    xml.replace("<Document xmlns=", "<c:Document xmlns:c=")
        .replace("</", "</c:")
        .replace("<", "<c:")
        .replace("<c:/c:", "</c:")
        .replace("<c:?xml", "<?xml")
        .replace("<c:c:Document", "<c:Document")
}

/// Writes a statement the tests send to `$CAREBILL_CAMT_OUT` when set, for
/// `scripts/validators.sh camt` to check against the ISO 20022 XSDs.
fn save(name: &str, backend: Backend, xml: &str) {
    if let Ok(dir) = std::env::var("CAREBILL_CAMT_OUT") {
        std::fs::create_dir_all(&dir).expect("camt output folder");
        let file = format!("{dir}/{name}-{}.xml", format!("{backend:?}").to_lowercase());
        std::fs::write(file, xml).expect("camt written");
    }
}

fn xml_post(path: &str, tok: &str, body: &str) -> TestRequest {
    TestRequest::post()
        .uri(path)
        .insert_header(("Authorization", format!("Bearer {tok}")))
        .insert_header(("Content-Type", "application/xml"))
        .set_payload(body.to_owned())
}

async fn receivable_of(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    t: &str,
    inv: &InvoiceIssuedV1,
) -> Value {
    let (s, page, _) = call(
        app,
        get(&format!("/v1/receivables?invoice_id={}", inv.invoice_id), t),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"][0].clone()
}

fn rf(inv: &InvoiceIssuedV1) -> CreditorReference {
    CreditorReference::for_invoice_number(&inv.number)
}

async fn credits_are_matched_by_reference_by_free_text_and_by_a_learnt_account(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let h1 = location("H1", "Europe/Madrid");
    let insurer = payer("INS-1");
    let due = today() + Duration::days(30);
    let a = invoice(&insurer, &h1, "H1-INV-2026-000001", eur("100.00"), due);
    let b2 = invoice(&insurer, &h1, "H1-INV-2026-000002", eur("50.00"), due);
    let c = invoice(&insurer, &h1, "H1-INV-2026-000003", eur("80.00"), due);
    let d = invoice(&insurer, &h1, "H1-INV-2026-000004", eur("42.10"), due);
    for inv in [&a, &b2, &c, &d] {
        feed(&h, &envelope(inv)).await;
    }
    // The receivable shows the reference its invoice carries.
    let r = receivable_of(&app, &t, &a).await;
    assert_eq!(r["payment_reference"], rf(&a).as_str());

    let iban = "NL91ABNA0417164300";
    let entries = vec![
        // Two structured references, printed with spaces and in lower case: a takes 100.00,
        // b 50.00, the 10.00 left is the insurer's credit.
        Ntry {
            refs: vec![rf(&a).print_form().to_lowercase(), rf(&b2).print_form()],
            debtor_iban: Some(iban.to_owned()),
            ..credit("160.00", "SVC-1")
        },
        // The invoice number in the free text, part of what it owes.
        Ntry {
            ustrd: Some(format!("Invoice {}, partial", c.number)),
            ..credit("30.00", "SVC-2")
        },
        // Nothing but the account learnt from SVC-1 and the exact amount d owes.
        Ntry {
            debtor_iban: Some(iban.to_owned()),
            ..credit("42.10", "SVC-3")
        },
        // A debit: listed, ignored.
        Ntry {
            debit: true,
            ..credit("12.00", "SVC-4")
        },
    ];
    let xml = camt053("MSG-1", "STMT-1", &entries);
    save("statement-matched", b, &xml);
    let (s, st, _) = call(&app, xml_post("/v1/bank-statements", &t, &xml)).await;
    assert_eq!(s, StatusCode::CREATED, "{st}");
    assert_eq!(st["kind"], "camt.053");
    assert_eq!(st["version"], "camt.053.001.08");
    assert_eq!(st["account"], ACCOUNT);
    assert_eq!(st["entries_count"], 4);
    assert_eq!(
        (
            st["matched"]["count"].as_i64(),
            amount(&st["matched"]["sum"])
        ),
        (Some(3), "232.10")
    );
    assert_eq!(
        (
            st["ignored"]["count"].as_i64(),
            amount(&st["ignored"]["sum"])
        ),
        (Some(1), "12.00")
    );
    assert_eq!(st["unmatched"]["count"], 0);
    let e = &st["entries"];
    assert_eq!(
        [
            &e[0]["matched_by"],
            &e[1]["matched_by"],
            &e[2]["matched_by"]
        ],
        ["reference", "remittance_text", "debtor_account"]
    );
    assert_eq!(e[3]["status"], "ignored");
    assert!(e[3]["payment_id"].is_null());
    let allocated: Vec<(&str, &str)> = e[0]["allocations"]
        .as_array()
        .expect("allocations")
        .iter()
        .map(|x| {
            (
                x["invoice_number"].as_str().unwrap_or("?"),
                amount(&x["amount"]),
            )
        })
        .collect();
    assert_eq!(
        allocated,
        [
            ("H1-INV-2026-000001", "100.00"),
            ("H1-INV-2026-000002", "50.00")
        ]
    );

    // Posted through the payment use case: one payment.recorded per matched credit, with the
    // bank's reference and the booking day, and the rest of the first as credit.
    let events = outbox_events::<PaymentRecordedV1>(&h).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].method, "bank_transfer");
    assert_eq!(events[0].reference.as_deref(), Some("SVC-1"));
    assert_eq!(events[0].received_on, today());
    assert_eq!(events[0].unallocated, eur("10.00"));
    let (_, p, _) = call(
        &app,
        get(
            &format!("/v1/payments/{}", e[0]["payment_id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(amount(&p["unallocated"]), "10.00");
    assert_eq!(p["party"]["id"], json!(insurer.id));

    for (inv, status, paid) in [
        (&a, "paid", "100.00"),
        (&b2, "paid", "50.00"),
        (&c, "partially_paid", "30.00"),
        (&d, "paid", "42.10"),
    ] {
        let r = receivable_of(&app, &t, inv).await;
        assert_eq!(
            (r["status"].as_str(), amount(&r["paid"])),
            (Some(status), paid),
            "{r}"
        );
    }
    let (_, bal, _) = call(&app, get(&balance_path(&insurer), &t)).await;
    assert_balance_identities(&bal);

    // The statement is listed and read again as imported.
    let (s, list, _) = call(&app, get("/v1/bank-statements?limit=10", &t)).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert!(list["items"][0].get("entries").is_none());
    let (s, again, _) = call(
        &app,
        get(
            &format!("/v1/bank-statements/{}", st["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["entries"], st["entries"]);
}

async fn unmatched_credits_wait_in_the_queue_and_are_matched_by_hand_once(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["billing_manager"], None);
    let h1 = location("H1", "Europe/Madrid");
    let ana = patient();
    let due = today() + Duration::days(30);
    let inv = invoice(&ana, &h1, "H1-INV-2026-000010", eur("70.00"), due);
    feed(&h, &envelope(&inv)).await;

    // A reference nobody issued (valid check digits), a text without numbers, an unknown account.
    let entries = vec![
        Ntry {
            refs: vec![
                CreditorReference::from_body("UNKNOWN1")
                    .expect("rf")
                    .to_string(),
            ],
            ..credit("70.00", "Q-1")
        },
        Ntry {
            ustrd: Some("thank you".to_owned()),
            debtor_iban: Some("DE02120300000000202051".to_owned()),
            ..credit("25.00", "Q-2")
        },
    ];
    let (s, st, _) = call(
        &app,
        xml_post(
            "/v1/bank-statements",
            &t,
            &camt053("MSG-Q", "STMT-Q", &entries),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{st}");
    assert_eq!(
        (
            st["unmatched"]["count"].as_i64(),
            amount(&st["unmatched"]["sum"])
        ),
        (Some(2), "95.00")
    );
    assert!(outbox_events::<PaymentRecordedV1>(&h).await.is_empty());

    let (s, queue, _) = call(&app, get("/v1/bank-statement-entries?status=unmatched", &t)).await;
    assert_eq!(s, StatusCode::OK, "{queue}");
    let items = queue["items"].as_array().expect("items");
    assert_eq!(items.len(), 2);
    let (first, second) = (
        items[0]["id"].as_str().expect("id"),
        items[1]["id"].as_str().expect("id"),
    );

    // A person sends the first to the invoice, the second to the patient's credit.
    let receivable_id = receivable_of(&app, &t, &inv).await["id"].clone();
    let (s, matched, _) = call(
        &app,
        post(
            &format!("/v1/bank-statement-entries/{first}/match"),
            &t,
            &json!({"receivable_ids": [receivable_id]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{matched}");
    assert_eq!(
        (matched["status"].as_str(), matched["matched_by"].as_str()),
        (Some("matched"), Some("hand"))
    );
    assert_eq!(amount(&matched["allocations"][0]["amount"]), "70.00");
    assert_eq!(receivable_of(&app, &t, &inv).await["status"], "paid");

    // Twice: 409, nothing posted again.
    let (s, again, _) = call(
        &app,
        post(
            &format!("/v1/bank-statement-entries/{first}/match"),
            &t,
            &json!({"receivable_ids": [receivable_id]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["code"], "already_matched");

    // Neither target, or an unknown party: 422.
    let (s, p, _) = call(
        &app,
        post(
            &format!("/v1/bank-statement-entries/{second}/match"),
            &t,
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, p, _) = call(
        &app,
        post(
            &format!("/v1/bank-statement-entries/{second}/match"),
            &t,
            &json!({"party": {"kind": "patient", "id": uuid::Uuid::now_v7()}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    let (s, held, _) = call(
        &app,
        post(
            &format!("/v1/bank-statement-entries/{second}/match"),
            &t,
            &json!({"party": {"kind": "patient", "id": ana.id}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{held}");
    assert!(held["allocations"].as_array().is_some_and(Vec::is_empty));
    let (_, bal, _) = call(&app, get(&balance_path(&ana), &t)).await;
    assert_eq!(amount(&bal["currencies"][0]["unallocated_credit"]), "25.00");
    assert_balance_identities(&bal);

    assert_eq!(outbox_events::<PaymentRecordedV1>(&h).await.len(), 2);
    let (_, queue, _) = call(&app, get("/v1/bank-statement-entries?status=unmatched", &t)).await;
    assert_eq!(queue["items"].as_array().map(Vec::len), Some(0));
    let (_, st, _) = call(
        &app,
        get(
            &format!("/v1/bank-statements/{}", st["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(
        (
            st["matched"]["count"].as_i64(),
            st["unmatched"]["count"].as_i64()
        ),
        (Some(2), Some(0))
    );
    assert_eq!(amount(&st["matched"]["sum"]), "95.00");

    // The debtor account of the second is learnt: its next credit of what an invoice owes
    // matches by itself.
    let next = invoice(&ana, &h1, "H1-INV-2026-000011", eur("25.00"), due);
    feed(&h, &envelope(&next)).await;
    let entries = vec![Ntry {
        debtor_iban: Some("DE02120300000000202051".to_owned()),
        ..credit("25.00", "Q-3")
    }];
    let (s, st, _) = call(
        &app,
        xml_post(
            "/v1/bank-statements",
            &t,
            &camt053("MSG-Q2", "STMT-Q2", &entries),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{st}");
    assert_eq!(st["entries"][0]["matched_by"], "debtor_account");
}

async fn the_same_statement_twice_and_a_notification_then_its_statement_post_once(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let h1 = location("H1", "Europe/Madrid");
    let insurer = payer("INS-2");
    let due = today() + Duration::days(30);
    let a = invoice(&insurer, &h1, "H1-INV-2026-000020", eur("40.00"), due);
    let c = invoice(&insurer, &h1, "H1-INV-2026-000021", eur("60.00"), due);
    feed(&h, &envelope(&a)).await;
    feed(&h, &envelope(&c)).await;

    // During the day a camt.054 reports the first credit.
    let first = Ntry {
        refs: vec![rf(&a).to_string()],
        ..credit("40.00", "DAY-1")
    };
    let xml054 = camt054("NTF-MSG-1", "NTF-1", std::slice::from_ref(&first));
    save("notification", b, &xml054);
    let (s, n, _) = call(&app, xml_post("/v1/bank-statements", &t, &xml054)).await;
    assert_eq!(s, StatusCode::CREATED, "{n}");
    assert_eq!(n["kind"], "camt.054");
    assert_eq!(n["matched"]["count"], 1);

    // The evening's camt.053 reports it again with a second credit: the first is a duplicate.
    let second = Ntry {
        refs: vec![rf(&c).to_string()],
        ..credit("60.00", "DAY-2")
    };
    let xml053 = camt053("STMT-MSG-1", "STMT-1", &[first, second]);
    save("statement-overlap", b, &xml053);
    let (s, st, _) = call(&app, xml_post("/v1/bank-statements", &t, &xml053)).await;
    assert_eq!(s, StatusCode::CREATED, "{st}");
    assert_eq!(st["entries"][0]["status"], "duplicate");
    assert_eq!(st["entries"][0]["duplicate_of"], n["entries"][0]["id"]);
    assert_eq!(st["entries"][1]["status"], "matched");
    assert_eq!(
        (
            st["duplicate"]["count"].as_i64(),
            st["matched"]["count"].as_i64()
        ),
        (Some(1), Some(1))
    );

    // The same statement again (even re-serialised): the first import, 200, nothing posted.
    let (s, replay, _) = call(
        &app,
        xml_post("/v1/bank-statements", &t, &xml053.replace("><", ">\n<")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{replay}");
    assert_eq!(replay["id"], st["id"]);
    assert_eq!(replay["entries"], st["entries"]);
    assert_eq!(outbox_events::<PaymentRecordedV1>(&h).await.len(), 2);
    for inv in [&a, &c] {
        let r = receivable_of(&app, &t, inv).await;
        assert_eq!(r["status"], "paid", "{r}");
        assert_receivable_identity(&r);
    }
    let (_, list, _) = call(&app, get("/v1/bank-statements", &t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
}

async fn bad_statements_are_refused_and_change_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let h1 = location("H1", "Europe/Madrid");
    let insurer = payer("INS-3");
    // Due tomorrow (UTC): open in Madrid's day too, whatever the hour.
    let a = invoice(
        &insurer,
        &h1,
        "H1-INV-2026-000030",
        eur("40.00"),
        today() + Duration::days(1),
    );
    feed(&h, &envelope(&a)).await;
    let good = camt053(
        "MSG-B",
        "STMT-B",
        &[Ntry {
            refs: vec![rf(&a).to_string()],
            ..credit("40.00", "B-1")
        }],
    );
    let pain = good
        .replace("camt.053.001.08", "pain.001.001.09")
        .replace("BkToCstmrStmt", "CstmrCdtTrfInitn");
    let bad_summary = good.replace(
        "<NbOfNtries>1</NbOfNtries><Sum>40.00</Sum><TtlNetNtry>",
        "<NbOfNtries>1</NbOfNtries><Sum>41.00</Sum><TtlNetNtry>",
    );
    let bad_closing = good.replace(
        "<Amt Ccy=\"EUR\">1040.00</Amt>",
        "<Amt Ccy=\"EUR\">1039.00</Amt>",
    );
    assert_ne!(bad_closing, good);
    let other_currency = good.replace("<Ntry><Amt Ccy=\"EUR\">", "<Ntry><Amt Ccy=\"CHF\">");
    let no_entries = {
        let start = good.find("<Ntry>").expect("entry");
        let end = good.rfind("</Ntry>").expect("entry") + "</Ntry>".len();
        format!("{}{}", &good[..start], &good[end..])
    };
    let cases: [(&str, String, &str); 7] = [
        ("not XML", "this is not XML <".to_owned(), "not_camt"),
        ("JSON", "{\"a\": 1}".to_owned(), "not_camt"),
        ("another message", pain, "not_camt"),
        ("no entries", no_entries, "not_camt"),
        ("summary", bad_summary, "statement_does_not_add_up"),
        ("balances", bad_closing, "statement_does_not_add_up"),
        ("currency", other_currency, "statement_does_not_add_up"),
    ];
    for (what, body, code) in cases {
        let (s, p, ctype) = call_text(&app, xml_post("/v1/bank-statements", &t, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {p}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"), "{what}");
        let p: Value = serde_json::from_str(&p).expect("problem");
        assert_eq!(p["code"], code, "{what}: {p}");
    }
    // Sent as JSON: 415.
    let (s, _, _) = call(&app, post("/v1/bank-statements", &t, &json!({"xml": good}))).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Nothing was stored or posted.
    let (_, list, _) = call(&app, get("/v1/bank-statements", &t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    assert!(outbox_events::<PaymentRecordedV1>(&h).await.is_empty());
    let r = receivable_of(&app, &t, &a).await;
    assert_eq!(
        (r["status"].as_str(), amount(&r["paid"])),
        (Some("open"), "0.00")
    );
    // The good one still imports.
    let (s, st, _) = call(&app, xml_post("/v1/bank-statements", &t, &good)).await;
    assert_eq!(s, StatusCode::CREATED, "{st}");
}

async fn only_collectors_and_billing_managers_import_and_payers_see_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let xml = camt053("MSG-R", "STMT-R", &[credit("10.00", "R-1")]);
    for role in ["biller", "auditor", "payer"] {
        let (s, p, _) = call(
            &app,
            xml_post("/v1/bank-statements", &token(&[role], None), &xml),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role}: {p}");
    }
    // Refused before the body is read: garbage from an auditor is still 403.
    let (s, _, _) = call(
        &app,
        xml_post("/v1/bank-statements", &token(&["auditor"], None), "garbage"),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let collector = token(&["collector"], None);
    let (s, st, _) = call(&app, xml_post("/v1/bank-statements", &collector, &xml)).await;
    assert_eq!(s, StatusCode::CREATED, "{st}");
    let id = st["id"].as_str().expect("id");
    let entry = st["entries"][0]["id"].as_str().expect("id");

    // An auditor reads; a payer's portal token reads nothing.
    let auditor = token(&["auditor"], None);
    let (s, _, _) = call(&app, get(&format!("/v1/bank-statements/{id}"), &auditor)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/bank-statement-entries/{entry}/match"),
            &auditor,
            &json!({"party": {"kind": "patient", "id": uuid::Uuid::now_v7()}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let portal = payer_token("INS-1");
    for path in [
        format!("/v1/bank-statements/{id}"),
        "/v1/bank-statements".to_owned(),
        "/v1/bank-statement-entries".to_owned(),
    ] {
        let (s, _, _) = call(&app, get(&path, &portal)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    // Staff limited to a payer find no statement.
    let staff = staff_payer_token(&["collector"], None, "INS-1");
    let (s, _, _) = call(&app, get(&format!("/v1/bank-statements/{id}"), &staff)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(&app, xml_post("/v1/bank-statements", &staff, &xml)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // An unknown status filter names it.
    let (s, p, _) = call(
        &app,
        get("/v1/bank-statement-entries?status=lost", &collector),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
}

/// One entry of 100.00 whose details are two transactions (40.00 and 60.00), each with its own
/// reference and account servicer reference.
fn batch_statement(msg: &str, first: (&str, &str), second: (&str, &str)) -> String {
    let xml = camt053(
        msg,
        &format!("{msg}-S"),
        &[credit("100.00", &format!("{msg}-BATCH"))],
    );
    let tx = |(amount, reference): (&str, &str), n: u8| {
        format!(
            "<TxDtls><Refs><AcctSvcrRef>{msg}-TX-{n}</AcctSvcrRef><EndToEndId>E2E-{n}</EndToEndId></Refs>\
             <Amt Ccy=\"EUR\">{amount}</Amt><RmtInf><Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp>\
             <Ref>{reference}</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>"
        )
    };
    xml.replace(
        "<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs></TxDtls></NtryDtls>",
        &format!("<NtryDtls>{}{}</NtryDtls>", tx(first, 1), tx(second, 2)),
    )
}

async fn a_batch_booking_posts_each_of_its_transactions(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let h1 = location("H1", "Europe/Madrid");
    let (ana, luis) = (patient(), patient());
    let due = today() + Duration::days(30);
    let a = invoice(&ana, &h1, "H1-INV-2026-000040", eur("40.00"), due);
    let c = invoice(&luis, &h1, "H1-INV-2026-000041", eur("60.00"), due);
    feed(&h, &envelope(&a)).await;
    feed(&h, &envelope(&c)).await;

    // Transactions that do not add up to their entry: refused, nothing stored.
    let wrong = batch_statement(
        "BAD",
        ("40.00", rf(&a).as_str()),
        ("59.00", rf(&c).as_str()),
    );
    let (s, p, _) = call(&app, xml_post("/v1/bank-statements", &t, &wrong)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(p["code"], "statement_does_not_add_up");
    assert!(outbox_events::<PaymentRecordedV1>(&h).await.is_empty());

    // Two patients' transfers booked as one entry: two payments, one for each.
    let xml = batch_statement("OK", ("40.00", rf(&a).as_str()), ("60.00", rf(&c).as_str()));
    save("statement-batch", b, &xml);
    let (s, st, _) = call(&app, xml_post("/v1/bank-statements", &t, &xml)).await;
    assert_eq!(s, StatusCode::CREATED, "{st}");
    assert_eq!(st["entries_count"], 2);
    let refs: Vec<(&str, &str, &str)> = st["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["status"].as_str().unwrap_or("?"),
                amount(&e["amount"]),
                e["bank_reference"].as_str().unwrap_or("?"),
            )
        })
        .collect();
    assert_eq!(
        refs,
        [
            ("matched", "40.00", "OK-TX-1"),
            ("matched", "60.00", "OK-TX-2")
        ]
    );
    let events = outbox_events::<PaymentRecordedV1>(&h).await;
    assert_eq!(
        events.iter().map(|e| e.party.id).collect::<Vec<_>>(),
        [ana.id, luis.id]
    );
    for inv in [&a, &c] {
        assert_eq!(receivable_of(&app, &t, inv).await["status"], "paid");
    }
}

async fn credits_for_one_invoice_take_what_it_still_owes_in_order_and_complete_its_plan(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let h1 = location("H1", "Europe/Madrid");
    let (ana, luis) = (patient(), patient());
    let due = today() + Duration::days(30);
    let i = invoice(&ana, &h1, "H1-INV-2026-000050", eur("90.00"), due);
    let j = invoice(&luis, &h1, "H1-INV-2026-000051", eur("50.00"), due);
    feed(&h, &envelope(&i)).await;
    feed(&h, &envelope(&j)).await;
    // Ana pays hers in three weekly installments.
    let (s, plan, _) = call(
        &app,
        post(
            "/v1/payment-plans",
            &t,
            &json!({
                "party_kind": ana.kind, "party_id": ana.id, "currency": "EUR",
                "count": 3, "first_due_on": today(), "every": "week",
            }),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{plan}");

    // Four credits in one statement, two for each invoice: each takes what the credits before
    // it left owing; the third pays the rest of Ana's (10.00 stays as her credit) and so
    // completes her plan.
    let pays = |inv: &InvoiceIssuedV1, amount: &str, svc: &str| Ntry {
        refs: vec![rf(inv).to_string()],
        ..credit(amount, svc)
    };
    let entries = vec![
        pays(&i, "40.00", "SEQ-1"),
        pays(&j, "30.00", "SEQ-2"),
        pays(&i, "60.00", "SEQ-3"),
        pays(&j, "20.00", "SEQ-4"),
    ];
    let (s, st, _) = call(
        &app,
        xml_post(
            "/v1/bank-statements",
            &t,
            &camt053("MSG-SEQ", "STMT-SEQ", &entries),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{st}");
    assert_eq!(st["matched"]["count"], 4);
    let allocated: Vec<Vec<(&str, &str)>> = st["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            e["allocations"]
                .as_array()
                .expect("allocations")
                .iter()
                .map(|a| {
                    (
                        a["invoice_number"].as_str().unwrap_or("?"),
                        amount(&a["amount"]),
                    )
                })
                .collect()
        })
        .collect();
    assert_eq!(
        allocated,
        [
            vec![("H1-INV-2026-000050", "40.00")],
            vec![("H1-INV-2026-000051", "30.00")],
            vec![("H1-INV-2026-000050", "50.00")],
            vec![("H1-INV-2026-000051", "20.00")],
        ]
    );
    let events = outbox_events::<PaymentRecordedV1>(&h).await;
    assert_eq!(
        events
            .iter()
            .map(|e| (e.reference.as_deref(), e.unallocated))
            .collect::<Vec<_>>(),
        [
            (Some("SEQ-1"), eur("0.00")),
            (Some("SEQ-2"), eur("0.00")),
            (Some("SEQ-3"), eur("10.00")),
            (Some("SEQ-4"), eur("0.00")),
        ]
    );
    for inv in [&i, &j] {
        let r = receivable_of(&app, &t, inv).await;
        assert_eq!(r["status"], "paid", "{r}");
        assert_receivable_identity(&r);
    }
    let (_, plan, _) = call(
        &app,
        get(
            &format!("/v1/payment-plans/{}", plan["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(plan["status"], "completed", "{plan}");
    let done = outbox_events::<PlanCompletedV1>(&h).await;
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].paid, eur("90.00"));
    let (_, bal, _) = call(&app, get(&balance_path(&ana), &t)).await;
    assert_eq!(amount(&bal["currencies"][0]["unallocated_credit"]), "10.00");
    assert_balance_identities(&bal);
}

/// The benchmark: a camt.053 of 10,000 credits, each paying one invoice by its
/// reference, matched and posted in one import. Ignored by default (it feeds 10,000 invoices
/// first); run with `cargo nextest run -p carebill-collections --run-ignored only -E
/// 'test(ten_thousand)' --no-capture`. Prints the import's time per backend.
mod ten_thousand_credits {
    use super::*;

    async fn run(b: Backend) {
        let n: usize = std::env::var("CAREBILL_BENCH_ENTRIES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000);
        let h = harness(b);
        let app = app(&h).await;
        let t = token(&["collector"], None);
        let h1 = location("H1", "Europe/Madrid");
        let insurer = payer("INS-BENCH");
        let due = today() + Duration::days(30);
        let started = std::time::Instant::now();
        let mut entries = Vec::with_capacity(n);
        for i in 0..n {
            let inv = invoice(
                &insurer,
                &h1,
                &format!("H1-INV-2026-{i:06}"),
                eur("12.34"),
                due,
            );
            feed(&h, &envelope(&inv)).await;
            entries.push(Ntry {
                refs: vec![rf(&inv).to_string()],
                ..credit("12.34", &format!("BENCH-{i}"))
            });
        }
        let fed = started.elapsed();
        let xml = camt053("MSG-BENCH", "STMT-BENCH", &entries);
        let started = std::time::Instant::now();
        let (s, st, _) = call(&app, xml_post("/v1/bank-statements", &t, &xml)).await;
        let took = started.elapsed();
        assert_eq!(s, StatusCode::CREATED);
        assert_eq!(st["matched"]["count"].as_u64(), Some(n as u64));
        eprintln!(
            "bank statement benchmark ({b:?}): {n} invoices fed in {:.1} s; a camt.053 of {n} credits ({} bytes) matched and posted in {:.1} s",
            fed.as_secs_f64(),
            xml.len(),
            took.as_secs_f64()
        );
    }

    #[actix_web::test]
    #[ignore = "a benchmark: 10,000 invoices and a statement of 10,000 credits"]
    async fn sqlite() {
        run(Backend::Sqlite).await
    }

    #[actix_web::test]
    #[ignore = "a benchmark: 10,000 invoices and a statement of 10,000 credits"]
    async fn postgres() {
        run(Backend::Postgres).await
    }
}
