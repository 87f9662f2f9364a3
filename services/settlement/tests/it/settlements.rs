//! Settlements built from accounts' events and taken through review and audit, against real
//! databases: every scenario runs on SQLite and on a throwaway PostgreSQL database. Events go
//! through the service's own subscription handler (inbox included), as the bus would deliver them.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test;
use carebill_domain::events::{
    ConsumptionRecordedV1, ConsumptionVoidedV1, CoverageChangedV1, CreditNoteIssuedV1,
    CreditedLine, Envelope, EpisodeClosedV1, EventPayload, InvoiceIssuedV1, PartyRef,
    SettlementApprovedV1, SettlementInvoicedV1,
};
use carebill_domain::ids::{ConsumptionId, CoverageId, CreditNoteId, InvoiceId};
use carebill_domain::{Currency, Money};
use carebill_platform::both_backends;
use carebill_platform::db::{AnyConnection, Backend, Db};
use carebill_platform::events::run_handler;
use carebill_platform::schema::outbox;
use carebill_platform::testing::{admin, call, get, post, token};
use chrono::Utc;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::common::{
    World, app, configure, consumption, deliver, first_settlement, harness, line, settlements_of,
    share, world,
};

both_backends!(
    consumptions_are_priced_split_reviewed_observed_corrected_and_approved,
    late_consumptions_reopen_or_start_a_supplementary_settlement,
    voids_credit_notes_and_coverage_changes_make_new_versions,
    a_batch_of_events_makes_one_version_per_settlement_and_duplicates_count_once,
    what_invoices_bill_guards_corrections_voids_and_approvals,
    corrections_recomputes_and_diffs_refuse_bad_input_and_change_nothing,
    credit_notes_before_their_invoices_leave_nothing_billed,
    partial_credit_notes_reduce_what_invoices_bill_and_reopen_nothing,
    a_consumption_applied_after_a_newer_coverage_change_is_split_with_the_newer_coverages,
    consumptions_applied_after_their_episodes_cancellation_stay_cancelled,
    a_diff_over_an_unreadable_stored_line_is_an_internal_error_not_an_unknown_version,
    a_consumption_whose_location_time_zone_is_not_one_is_refused_not_priced_in_utc,
);

async fn outbox_events(db: &Db) -> Vec<(String, Value)> {
    let rows: Vec<(String, String)> = db
        .read(|c: &mut AnyConnection| {
            Ok(outbox::table
                .order(outbox::seq.asc())
                .select((outbox::event_type, outbox::body))
                .load(c)?)
        })
        .await
        .expect("outbox");
    rows.into_iter()
        .map(|(t, b)| (t, serde_json::from_str(&b).expect("json")))
        .collect()
}

fn with_etag(req: test::TestRequest, etag: &str) -> test::TestRequest {
    req.insert_header(("if-match", etag.to_owned()))
}

async fn consumptions_are_priced_split_reviewed_observed_corrected_and_approved(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let mut w = world();
    // What accounts puts on its events for invoices to name the parties by.
    let billing = |name: &str| {
        Some(carebill_domain::events::PartyBilling {
            legal_name: name.to_owned(),
            ..Default::default()
        })
    };
    w.episode.location.billing = billing("Hospital One S.L.");
    w.episode.patient.billing = billing("Ana Garcia");
    w.coverages[0].payer_billing = billing("Sanitas S.A.");
    w.coverages[1].payer_billing = billing("Mutua S.A.");
    let mut hb = consumption(&w, "LAB-HB", 2, "2026-11-02T09:00:00Z");
    // What an electronic claim will need of it travels to the approval untouched.
    hb.claim = Some(carebill_domain::events::ConsumptionClaimFacts {
        diagnosis_codes: vec!["D64.9".to_owned()],
        modifiers: vec!["91".to_owned()],
    });
    hb.ordering_practitioner = Some("DR-ORD".to_owned());
    let env = deliver(&h, "accounts", &hb).await;
    deliver(
        &h,
        "accounts",
        &consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z"),
    )
    .await;
    let xray = consumption(&w, "XRAY", 1, "2026-11-02T11:00:00Z");
    deliver(&h, "accounts", &xray).await;
    // The same event again (a redelivery) changes nothing.
    run_handler(&h.events.handler, env)
        .await
        .expect("redelivered");

    let biller = token(&["biller"], None);
    let auditor = token(&["auditor"], None);
    let (s, page, _) = call(
        &app,
        get(
            &format!("/v1/settlements?episode_id={}", w.episode.id),
            &biller,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    let id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let url = format!("/v1/settlements/{id}");
    let (_, doc, _) = call(&app, get(&url, &biller)).await;
    assert_eq!(doc["version"], 3, "one version per consumption: {doc}");
    assert_eq!(doc["status"], "draft");
    assert_eq!(doc["number"], "H1/ENC-1/1");
    assert_eq!(doc["issue_count"], 1);
    assert_eq!(line(&doc, "XRAY")["issues"][0]["code"], "no_price");
    // 2 × 10.00 = 20.00: SANITAS keeps a 1.00 copay and pays 80 % of 19.00 = 15.20; MUTUA pays
    // 50 % of the 4.80 left = 2.40; the patient pays 2.40.
    let l = line(&doc, "LAB-HB");
    assert_eq!(l["amount"]["amount"], "20.00");
    assert_eq!(share(l, Some("SANITAS")), "15.20");
    assert_eq!(share(l, Some("MUTUA")), "2.40");
    assert_eq!(share(l, None), "2.40");
    assert_eq!(l["price_source"], "price_list");
    assert_eq!(
        doc["total"]["amount"], "70.00",
        "unpriced lines are not in the total"
    );

    // Review and audit; approval is refused while a line has no price.
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let step = |to: &str| json!({"to": to});
    let (s, body, _) = call(
        &app,
        post(&format!("{url}/transitions"), &biller, &step("in_review")),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "{body}");
    let (s, doc, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &biller, &step("in_review")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(doc["assigned_to"], "test-biller");
    let (s, body, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &biller, &step("in_audit")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "a stale ETag: {body}");
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let (s, doc, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &biller, &step("in_audit")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let (s, body, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &biller, &step("approved")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "only auditors approve: {body}");
    let (s, body, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &admin(), &step("approved")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "not even an admin: {body}");
    let (s, body, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &auditor, &step("approved")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "unresolved_lines");
    assert_eq!(body["errors"][0]["code"], "no_price");
    let (_, unchanged, _) = call(&app, get(&url, &biller)).await;
    assert_eq!(unchanged["status"], "in_audit");
    assert_eq!(
        unchanged["etag"],
        etag.as_str(),
        "a refused approval changes nothing"
    );

    // Audit observes the unpriced line; the biller prices it by hand.
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &auditor,
                &json!({"to": "observed", "reason": "unpriced X-ray", "observations": []}),
            ),
            &etag,
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "observations are required: {body}"
    );
    let (s, doc, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &auditor,
                &json!({"to": "observed", "reason": "unpriced X-ray", "observations": [{"consumption_id": xray.consumption_id.to_string(), "text": "price per the radiology agreement"}]}),
            ),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(doc["status"], "observed");
    assert_eq!(doc["observations"][0]["resolved_version"], Value::Null);
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let (s, doc, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &biller, &step("in_review")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let line_url = format!("{url}/lines/{}", xray.consumption_id);
    let correction = json!({"unit_price": {"amount": "30.00", "currency": "EUR"}, "reason": "radiology agreement 2026"});
    let (s, doc, _) = call(
        &app,
        with_etag(
            test::TestRequest::put()
                .uri(&line_url)
                .insert_header(("authorization", format!("Bearer {biller}")))
                .set_json(&correction),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(doc["version"], 4);
    assert_eq!(doc["issue_count"], 0);
    assert_eq!(line(&doc, "XRAY")["price_source"], "manual");
    assert_eq!(doc["observations"][0]["resolved_version"], 4);
    assert_eq!(doc["total"]["amount"], "100.00");

    // Versions stay readable and compare line by line.
    let (_, versions, _) = call(&app, get(&format!("{url}/versions"), &biller)).await;
    let causes: Vec<&str> = versions
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| v["cause"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        causes,
        [
            "consumption_recorded",
            "consumption_recorded",
            "consumption_recorded",
            "line_corrected"
        ]
    );
    let (_, v2, _) = call(&app, get(&format!("{url}/versions/2"), &biller)).await;
    assert_eq!(v2["lines"].as_array().map(Vec::len), Some(2), "{v2}");
    let (_, diff, _) = call(&app, get(&format!("{url}/diff?from=3&to=4"), &biller)).await;
    assert_eq!(diff["changed"].as_array().map(Vec::len), Some(1), "{diff}");
    assert_eq!(diff["changed"][0]["before"]["unit_price"], Value::Null);
    assert_eq!(diff["changed"][0]["after"]["unit_price"]["amount"], "30.00");
    assert_eq!(diff["total_before"]["amount"], "70.00");
    let (s, _, _) = call(&app, get(&format!("{url}/versions/9"), &biller)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Master data completed after the last consumption reaches the approval; an announcement
    // older than what the consumptions carried does not.
    let named = |name: &str| carebill_domain::events::PartyBilling {
        legal_name: name.to_owned(),
        ..Default::default()
    };
    deliver(
        &h,
        "accounts",
        &carebill_domain::events::PayerChangedV1 {
            payer_id: w.coverages[1].payer_id,
            code: "MUTUA".to_owned(),
            billing: named("Mutua Seguros S.A."),
            changed_at: Utc::now() + chrono::Duration::minutes(1),
        },
    )
    .await;
    deliver(
        &h,
        "accounts",
        &carebill_domain::events::PayerChangedV1 {
            payer_id: w.coverages[0].payer_id,
            code: "SANITAS".to_owned(),
            billing: named("Sanitas (2020)"),
            changed_at: "2020-01-01T00:00:00Z".parse().expect("time"),
        },
    )
    .await;
    let mut moved = w.episode.location.clone();
    moved.billing = Some(named("Hospital One S.L.U."));
    deliver(
        &h,
        "accounts",
        &carebill_domain::events::LocationChangedV1 {
            location: moved,
            claims: None,
            changed_at: Utc::now() + chrono::Duration::minutes(1),
        },
    )
    .await;

    // Audit approves: one event with everything invoicing needs; shares add up to every line.
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let (s, doc, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &biller, &step("in_audit")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let (s, doc, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &auditor, &step("approved")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["approved_version"], 4);
    let approvals: Vec<Value> = outbox_events(&h.db)
        .await
        .into_iter()
        .filter(|(t, _)| t == SettlementApprovedV1::TYPE)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(approvals.len(), 1);
    let event: SettlementApprovedV1 =
        serde_json::from_value(approvals[0]["data"].clone()).expect("payload");
    assert_eq!(event.version, 4);
    assert_eq!(event.lines.len(), 3);
    assert_eq!(event.parties.len(), 3, "two payers and the patient");
    assert_eq!(
        event.parties[2].kind,
        carebill_domain::events::PartyKind::Patient
    );
    // Each party with what its invoice names it by: the payers' from their coverages, the
    // patient's from the episode; the location's travels in the episode.
    let names: Vec<Option<&str>> = event
        .parties
        .iter()
        .map(|p| p.billing.as_ref().map(|b| b.legal_name.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            Some("Sanitas S.A."),
            Some("Mutua Seguros S.A."),
            Some("Ana Garcia")
        ]
    );
    assert_eq!(
        event.episode.location.billing.map(|b| b.legal_name),
        Some("Hospital One S.L.U.".to_owned())
    );
    let eur = |s: &str| Money::new(s.parse().expect("decimal"), Currency::EUR).expect("money");
    assert_eq!(event.total, eur("100.00"));
    let claims: Vec<(&str, Option<&carebill_domain::events::LineClaimFacts>)> = event
        .lines
        .iter()
        .map(|l| (l.code.as_str(), l.claim.as_ref()))
        .collect();
    let hb_claim = carebill_domain::events::LineClaimFacts {
        diagnosis_codes: vec!["D64.9".to_owned()],
        modifiers: vec!["91".to_owned()],
        ordering_practitioner: Some("DR-ORD".to_owned()),
        attending_practitioner: None,
    };
    assert!(
        claims.contains(&("LAB-HB", Some(&hb_claim)))
            && claims.iter().filter(|(_, c)| c.is_some()).count() == 1,
        "{claims:?}"
    );
    // Each line says what kind of service it bills (the catalog item's), for reports.
    assert!(
        event
            .lines
            .iter()
            .all(|l| l.kind == Some(carebill_domain::accounts::ServiceKind::Lab)),
        "{:?}",
        event.lines
    );
    for l in &event.lines {
        let sum = l
            .shares
            .iter()
            .try_fold(Money::zero(Currency::EUR), |a, s| a.checked_add(&s.amount))
            .expect("sum");
        assert_eq!(sum, l.amount, "shares add up to line {}", l.code);
        // Each share explains itself: its parts add up to it, and the payer after the first
        // names its coordination method.
        for (i, share) in l.shares.iter().enumerate() {
            let parts = share
                .parts
                .iter()
                .try_fold(Money::zero(Currency::EUR), |a, p| a.checked_add(&p.amount))
                .expect("sum");
            assert_eq!(
                parts, share.amount,
                "parts of {} on {}",
                share.party, l.code
            );
            let second_payer = i > 0 && share.party.starts_with("payer");
            assert_eq!(share.method.is_some(), second_payer, "{share:?}");
        }
    }
    // A second approval is not a transition from `approved`.
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let (s, _, _) = call(
        &app,
        with_etag(
            post(&format!("{url}/transitions"), &auditor, &step("approved")),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Out of scope is 404.
    let (s, _, _) = call(&app, get(&url, &token(&["biller"], Some(&["H2"])))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn approve(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    id: &str,
) -> Value {
    let url = format!("/v1/settlements/{id}");
    let (_, mut doc, _) = call(app, get(&url, &admin())).await;
    let mut etag = doc["etag"].as_str().expect("etag").to_owned();
    for (to, who) in [
        ("in_review", "biller"),
        ("in_audit", "biller"),
        ("approved", "auditor"),
    ] {
        let req = with_etag(
            post(
                &format!("{url}/transitions"),
                &token(&[who], None),
                &json!({"to": to}),
            ),
            &etag,
        );
        if to == "in_audit" {
            // A work-queue client asks for no body: 204 and the new ETag in the header.
            let res = test::call_service(
                app,
                req.insert_header(("prefer", "return=minimal")).to_request(),
            )
            .await;
            assert_eq!(res.status(), StatusCode::NO_CONTENT, "{to}");
            etag = res
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .expect("an ETag header")
                .to_owned();
            assert!(test::read_body(res).await.is_empty());
            continue;
        }
        let (s, next, _) = call(app, req).await;
        assert_eq!(s, StatusCode::OK, "{to}: {next}");
        doc = next;
        etag = doc["etag"].as_str().expect("etag").to_owned();
    }
    assert_eq!(doc["status"], "approved", "{doc}");
    doc
}

fn invoice(settlement: &str, version: i32) -> SettlementInvoicedV1 {
    SettlementInvoicedV1 {
        settlement_id: settlement.parse().expect("id"),
        settlement_version: version,
        invoice_ids: vec![InvoiceId::new()],
        invoiced_at: Utc::now(),
    }
}

async fn late_consumptions_reopen_or_start_a_supplementary_settlement(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let w = world();
    deliver(
        &h,
        "accounts",
        &consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z"),
    )
    .await;
    let id = first_settlement(&app, &w).await;
    let url = format!("/v1/settlements/{id}");
    approve(&app, &id).await;

    // Approved, not invoiced: a late consumption reopens it.
    deliver(
        &h,
        "accounts",
        &consumption(&w, "LAB-HB", 1, "2026-11-02T12:00:00Z"),
    )
    .await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["status"], "draft", "{doc}");
    assert_eq!(doc["version"], 2);
    assert_eq!(doc["approved_version"], 1);
    let history = doc["status_history"].as_array().expect("history");
    assert!(
        history.last().expect("change")["reason"]
            .as_str()
            .unwrap_or("")
            .contains("late consumption"),
        "{doc}"
    );
    // Invoicing had already issued version 1: the settlement records it and stays open.
    deliver(&h, "invoicing", &invoice(&id, 1)).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["status"], "draft");
    assert_eq!(doc["invoiced_version"], 1);
    // Approved again and invoiced: now it is closed for good.
    approve(&app, &id).await;
    deliver(&h, "invoicing", &invoice(&id, 2)).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["status"], "invoiced", "{doc}");

    // After invoicing, a late consumption starts a supplementary settlement.
    deliver(
        &h,
        "accounts",
        &consumption(&w, "LAB-HB", 3, "2026-11-03T08:00:00Z"),
    )
    .await;
    let page = settlements_of(&app, &w).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{page}");
    let sup = &items[1];
    assert_eq!(sup["kind"], "supplementary");
    assert_eq!(sup["parent_id"], id.as_str());
    assert_eq!(sup["number"], "H1/ENC-1/2");
    assert_eq!(sup["total"]["amount"], "30.00");
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["status"], "invoiced");
    assert_eq!(
        doc["line_count"], 2,
        "the invoiced settlement keeps its lines"
    );
}

async fn voids_credit_notes_and_coverage_changes_make_new_versions(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let mut w = world();
    let first = consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z");
    deliver(&h, "accounts", &first).await;
    let second = consumption(&w, "LAB-HB", 1, "2026-11-02T11:00:00Z");
    deliver(&h, "accounts", &second).await;
    let id = first_settlement(&app, &w).await;
    let url = format!("/v1/settlements/{id}");

    // A void while open removes the line in a new version.
    deliver(&h, "accounts", &voided(&w, &second, "entered twice")).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["version"], 3);
    assert_eq!(doc["line_count"], 1);
    let (_, diff, _) = call(&app, get(&format!("{url}/diff?from=2"), &admin())).await;
    assert_eq!(diff["removed"][0]["code"], "LAB-HB", "{diff}");

    // A void that overtakes its recording: the late recording is ignored.
    let ghost = consumption(&w, "LAB-HB", 5, "2026-11-02T12:00:00Z");
    deliver(&h, "accounts", &voided(&w, &ghost, "wrong patient")).await;
    deliver(&h, "accounts", &ghost).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["line_count"], 1, "{doc}");

    // An announcement of coverages (`carebill announce`, for services that keep a copy) splits
    // nothing again, whatever it carries.
    let (_, before, _) = call(&app, get(&url, &admin())).await;
    deliver(
        &h,
        "accounts",
        &carebill_domain::events::CoverageChangedV1 {
            patient_id: w.episode.patient.id,
            coverage_id: w.coverages[0].id,
            change: "announced".to_owned(),
            coverages: w.coverages[..1].to_vec(),
            claims: Vec::new(),
            changed_at: Utc::now(),
        },
    )
    .await;
    let (_, after, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(after["version"], before["version"], "{after}");
    // The patient loses the second coverage: the open settlement is split again.
    w.coverages.truncate(1);
    deliver(
        &h,
        "accounts",
        &carebill_domain::events::CoverageChangedV1 {
            patient_id: w.episode.patient.id,
            coverage_id: CoverageId::new(),
            change: "ended".to_owned(),
            coverages: w.coverages.clone(),
            claims: Vec::new(),
            changed_at: Utc::now(),
        },
    )
    .await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["version"], 4);
    let l = line(&doc, "CONS");
    assert_eq!(share(l, Some("SANITAS")), "39.20");
    assert_eq!(share(l, Some("MUTUA")), "");
    assert_eq!(share(l, None), "10.80");

    // Approved and invoiced; the second coverage turns out to have been valid after all, and a
    // credit note with reissue reopens the settlement for correction, split with it again.
    approve(&app, &id).await;
    deliver(&h, "invoicing", &invoice(&id, 4)).await;
    let restored = world().coverages[1].clone();
    w.coverages.push(restored);
    deliver(
        &h,
        "accounts",
        &carebill_domain::events::CoverageChangedV1 {
            patient_id: w.episode.patient.id,
            coverage_id: CoverageId::new(),
            change: "created".to_owned(),
            coverages: w.coverages.clone(),
            claims: Vec::new(),
            changed_at: Utc::now(),
        },
    )
    .await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(
        (doc["status"].as_str(), doc["version"].as_u64()),
        (Some("invoiced"), Some(4)),
        "an invoiced settlement is not split again by itself"
    );
    let credit = CreditNoteIssuedV1 {
        credit_note_id: CreditNoteId::new(),
        number: "H1-CN-2026-000001".to_owned(),
        invoice_id: InvoiceId::new(),
        invoice_number: "H1-INV-2026-000001".to_owned(),
        location_id: w.episode.location.id,
        recipient: PartyRef::patient(w.episode.patient.id),
        settlement_id: id.parse().expect("id"),
        settlement_version: 4,
        consumption_ids: vec![first.consumption_id],
        total: Money::zero(Currency::EUR),
        reason: "wrong copay".to_owned(),
        reissue: true,
        issue_date: "2026-11-04".parse().expect("date"),
        issued_by: "manager".to_owned(),
        issued_at: Utc::now(),
        partial: false,
        lines: vec![],
        invoice_remaining: None,
    };
    deliver(&h, "invoicing", &credit).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["status"], "draft", "{doc}");
    assert_eq!(
        doc["version"], 5,
        "the corrected invoice comes from a new version"
    );
    let l = line(&doc, "CONS");
    assert_eq!(
        (
            share(l, Some("SANITAS")),
            share(l, Some("MUTUA")),
            share(l, None)
        ),
        ("39.20".to_owned(), "5.40".to_owned(), "5.40".to_owned()),
        "split with the coverages known now"
    );
    // The same credit note's twin for another party finds it open already: nothing more.
    deliver(
        &h,
        "invoicing",
        &CreditNoteIssuedV1 {
            credit_note_id: CreditNoteId::new(),
            ..credit.clone()
        },
    )
    .await;
    let (_, again, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(again["version"], 5);
    assert!(
        doc["status_history"]
            .as_array()
            .expect("history")
            .iter()
            .any(|c| c["reason"]
                .as_str()
                .unwrap_or("")
                .contains("H1-CN-2026-000001")),
        "{doc}"
    );
}

async fn a_batch_of_events_makes_one_version_per_settlement_and_duplicates_count_once(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let (w1, mut w2) = (world(), world());
    "ENC-2".clone_into(&mut w2.episode.number);
    let mut envs = Vec::new();
    for n in 0..5 {
        for w in [&w1, &w2] {
            let c = consumption(w, "LAB-HB", 1, &format!("2026-11-02T0{n}:00:00Z"));
            envs.push(Envelope::new("accounts", &c, Utc::now(), None, None).expect("envelope"));
        }
    }
    envs.push(envs[0].clone());
    let batch = h.events.batch.clone().expect("settlement applies batches");
    carebill_platform::events::run_batch_handler(&batch, envs.clone())
        .await
        .expect("batch");
    // Delivered again (the broker redelivers after a crash before the ack): nothing changes.
    carebill_platform::events::run_batch_handler(&batch, envs)
        .await
        .expect("again");
    for w in [&w1, &w2] {
        let page = settlements_of(&app, w).await;
        let s = &page["items"][0];
        assert_eq!(s["line_count"], 5, "{page}");
        assert_eq!(s["version"], 1, "one version for the whole batch: {page}");
        assert_eq!(s["total"]["amount"], "50.00");
    }
}

fn issued(
    w: &World,
    settlement: &str,
    version: i32,
    recipient: PartyRef,
    lines: &[(&ConsumptionRecordedV1, &str)],
) -> carebill_domain::events::InvoiceIssuedV1 {
    let eur = |a: &str| Money::new(a.parse().expect("decimal"), Currency::EUR).expect("money");
    carebill_domain::events::InvoiceIssuedV1 {
        invoice_id: InvoiceId::new(),
        number: format!("H1-INV-2026-{:06}", lines.len()),
        location: w.episode.location.clone(),
        recipient,
        patient_id: w.episode.patient.id,
        episode_id: w.episode.id,
        settlement_id: settlement.parse().expect("id"),
        settlement_version: version,
        lines: lines
            .iter()
            .map(|(c, a)| carebill_domain::events::InvoicedLine {
                consumption_id: c.consumption_id,
                code: c.item.code.clone(),
                amount: eur(a),
            })
            .collect(),
        total: eur("0.00"),
        issue_date: "2026-11-03".parse().expect("date"),
        due_date: "2026-12-03".parse().expect("date"),
        issued_at: Utc::now(),
        corrects_invoice_id: None,
    }
}

fn credit(
    w: &World,
    settlement: &str,
    invoice: &carebill_domain::events::InvoiceIssuedV1,
) -> CreditNoteIssuedV1 {
    CreditNoteIssuedV1 {
        credit_note_id: CreditNoteId::new(),
        number: "H1-CN-2026-000001".to_owned(),
        invoice_id: invoice.invoice_id,
        invoice_number: invoice.number.clone(),
        location_id: w.episode.location.id,
        recipient: invoice.recipient.clone(),
        settlement_id: settlement.parse().expect("id"),
        settlement_version: invoice.settlement_version,
        consumption_ids: invoice.lines.iter().map(|l| l.consumption_id).collect(),
        total: invoice.total,
        reason: "correction".to_owned(),
        reissue: true,
        issue_date: "2026-11-04".parse().expect("date"),
        issued_by: "manager".to_owned(),
        issued_at: Utc::now(),
        partial: false,
        lines: vec![],
        invoice_remaining: None,
    }
}

async fn what_invoices_bill_guards_corrections_voids_and_approvals(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let (w, cons, lab, id) = one_payer_two_lines(&h, &app).await;
    let url = format!("/v1/settlements/{id}");

    // Segregation of duties: whoever sent it to audit does not approve it.
    let both = token(&["biller", "auditor"], None);
    for to in ["in_review", "in_audit"] {
        let (_, doc, _) = call(&app, get(&url, &both)).await;
        let (s, body, _) = call(
            &app,
            with_etag(
                post(&format!("{url}/transitions"), &both, &json!({"to": to})),
                doc["etag"].as_str().expect("etag"),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let (_, doc, _) = call(&app, get(&url, &both)).await;
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &both,
                &json!({"to": "approved"}),
            ),
            doc["etag"].as_str().expect("etag"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &token(&["auditor"], None),
                &json!({"to": "approved"}),
            ),
            doc["etag"].as_str().expect("etag"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // A billing manager may withdraw an approval invoicing has not acted on (with a reason).
    let manager = token(&["billing_manager"], None);
    let etag = body["etag"].as_str().expect("etag").to_owned();
    let (s, _, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &token(&["biller"], None),
                &json!({"to": "in_review", "reason": "wrong"}),
            ),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &manager,
                &json!({"to": "in_review"}),
            ),
            &etag,
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reason is needed: {body}"
    );
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &manager,
                &json!({"to": "in_review", "reason": "check the consultation"}),
            ),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let etag = body["etag"].as_str().expect("etag").to_owned();
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &token(&["biller"], None),
                &json!({"to": "in_audit"}),
            ),
            &etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &token(&["auditor"], None),
                &json!({"to": "approved"}),
            ),
            body["etag"].as_str().expect("etag"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let version = body["version"].as_i64().expect("version") as i32;

    // Invoicing bills it: CONS 50.00 → SANITAS 39.20, patient 10.80; LAB-HB 10.00 → 7.20, 2.80.
    let payer = PartyRef::payer(&w.coverages[0]);
    let patient = PartyRef::patient(w.episode.patient.id);
    let payer_invoice = issued(&w, &id, version, payer, &[(&cons, "39.20"), (&lab, "7.20")]);
    let patient_invoice = issued(
        &w,
        &id,
        version,
        patient,
        &[(&cons, "10.80"), (&lab, "2.80")],
    );
    deliver(&h, "invoicing", &payer_invoice).await;
    deliver(&h, "invoicing", &patient_invoice).await;
    deliver(&h, "invoicing", &invoice(&id, version)).await;
    // Withdrawing is too late now.
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["status"], "invoiced");
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &manager,
                &json!({"to": "in_review", "reason": "late"}),
            ),
            doc["etag"].as_str().expect("etag"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    // The test is voided after invoicing: a billed void.
    deliver(&h, "accounts", &voided(&w, &lab, "not performed")).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["pending_voids"], 1, "{doc}");

    // Only the patient's invoice is credited: the payer's still bills the voided test.
    deliver(&h, "invoicing", &credit(&w, &id, &patient_invoice)).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["status"], "draft", "{doc}");
    assert_eq!(
        doc["line_count"], 1,
        "the voided line is gone from the settlement"
    );
    assert_eq!(
        doc["pending_voids"], 1,
        "but SANITAS's invoice still bills it: {doc}"
    );
    // A correction of the consultation would change what SANITAS's invoice bills: flagged.
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let (s, doc, _) = call(&app, with_etag(
        test::TestRequest::put()
            .uri(&format!("{url}/lines/{}", cons.consumption_id))
            .insert_header(("authorization", format!("Bearer {}", token(&["biller"], None))))
            .set_json(json!({"unit_price": {"amount": "40.00", "currency": "EUR"}, "reason": "agreed price"})),
        &etag,
    )).await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(
        line(&doc, "CONS")["issues"][0]["code"],
        "billed_differently",
        "{doc}"
    );
    // Approval is refused twice over until SANITAS's invoice is credited too.
    for (to, who) in [("in_review", "biller"), ("in_audit", "biller")] {
        let (_, d, _) = call(&app, get(&url, &admin())).await;
        let (s, body, _) = call(
            &app,
            with_etag(
                post(
                    &format!("{url}/transitions"),
                    &token(&[who], None),
                    &json!({"to": to}),
                ),
                d["etag"].as_str().expect("etag"),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{to}: {body}");
    }
    let (_, d, _) = call(&app, get(&url, &admin())).await;
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &token(&["auditor"], None),
                &json!({"to": "approved"}),
            ),
            d["etag"].as_str().expect("etag"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["code"] == "unresolved_lines" || body["code"] == "voided_lines_billed",
        "{body}"
    );
    deliver(&h, "invoicing", &credit(&w, &id, &payer_invoice)).await;
    let (_, d, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(
        (d["pending_voids"].as_i64(), d["issue_count"].as_i64()),
        (Some(0), Some(0)),
        "{d}"
    );
    let (s, body, _) = call(
        &app,
        with_etag(
            post(
                &format!("{url}/transitions"),
                &token(&["auditor"], None),
                &json!({"to": "approved"}),
            ),
            d["etag"].as_str().expect("etag"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["total"]["amount"], "40.00");
}

/// A request with the settlement's current ETag as If-Match (read just before).
async fn with_current_etag(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    url: &str,
    req: test::TestRequest,
) -> (StatusCode, Value) {
    let (_, doc, _) = call(app, get(url, &admin())).await;
    let (s, body, _) = call(app, with_etag(req, doc["etag"].as_str().expect("etag"))).await;
    (s, body)
}

async fn corrections_recomputes_and_diffs_refuse_bad_input_and_change_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let w = world();
    let xray = consumption(&w, "XRAY", 1, "2026-11-02T11:00:00Z");
    deliver(&h, "accounts", &xray).await;
    let id = first_settlement(&app, &w).await;
    let url = format!("/v1/settlements/{id}");
    let biller = token(&["biller"], None);
    let recompute = |body: Value| post(&format!("{url}/recompute"), &biller, &body);
    let correct = |line: &str, body: Value| {
        test::TestRequest::put()
            .uri(&format!("{url}/lines/{line}"))
            .insert_header(("authorization", format!("Bearer {biller}")))
            .set_json(body)
    };
    let (_, before, _) = call(&app, get(&url, &admin())).await;

    // Refused, each leaving the settlement as it was.
    let (s, body, _) = call(&app, recompute(json!({"reason": "price added"}))).await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "{body}");
    let (s, body) = with_current_etag(&app, &url, recompute(json!({"reason": "  "}))).await;
    assert_eq!(
        (s, body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason")),
        "{body}"
    );
    let (s, body) = with_current_etag(
        &app,
        &url,
        post(
            &format!("{url}/recompute"),
            &token(&["auditor"], None),
            &json!({"reason": "x"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let line = xray.consumption_id.to_string();
    let (s, body) = with_current_etag(
        &app,
        &url,
        correct(
            &line,
            json!({"unit_price": {"amount": "-1.00", "currency": "EUR"}, "reason": "x"}),
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a negative price: {body}"
    );
    let (s, body) = with_current_etag(&app, &url, correct(&line, json!({"excluded": true}))).await;
    assert!(
        s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY,
        "no reason: {s} {body}"
    );
    let (s, body) = with_current_etag(
        &app,
        &url,
        correct(
            &ConsumptionId::new().to_string(),
            json!({"excluded": true, "reason": "x"}),
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "not a line of this settlement: {body}"
    );
    let (s, body, _) = call(
        &app,
        with_etag(
            correct(&line, json!({"excluded": true, "reason": "x"})),
            "\"r999\"",
        ),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{body}");
    let (s, body, _) = call(&app, get(&format!("{url}/diff?from=7"), &admin())).await;
    assert_eq!(
        (s, body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("from")),
        "{body}"
    );
    let (_, after, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(
        after["etag"], before["etag"],
        "nothing refused changed the settlement"
    );

    // Once the price exists, a recompute prices the line in a new version; a second one has
    // nothing to change and makes no version.
    let (s, body, _) = call(&app, post("/v1/prices", &admin(), &json!({"code": "XRAY", "unit_price": {"amount": "30.00", "currency": "EUR"}, "valid_from": "2026-01-01"}))).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, doc) = with_current_etag(
        &app,
        &url,
        recompute(json!({"reason": "price for XRAY added"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(
        (doc["version"].as_i64(), doc["issue_count"].as_i64()),
        (Some(2), Some(0)),
        "{doc}"
    );
    assert_eq!(doc["total"]["amount"], "30.00");
    let (s, doc) = with_current_etag(&app, &url, recompute(json!({"reason": "again"}))).await;
    assert_eq!(
        (s, doc["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{doc}"
    );
    let (_, versions, _) = call(&app, get(&format!("{url}/versions"), &admin())).await;
    assert_eq!(versions[1]["cause"], "recomputed");

    // An approved settlement is neither corrected nor recomputed.
    approve(&app, &id).await;
    let (s, body) = with_current_etag(&app, &url, recompute(json!({"reason": "late"}))).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_editable")),
        "{body}"
    );
    let (s, body) = with_current_etag(
        &app,
        &url,
        correct(&line, json!({"excluded": true, "reason": "late"})),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_editable")),
        "{body}"
    );
}

/// Two consumers (or replicas) apply invoicing's events concurrently, so a credit note can be
/// applied before its invoice's `invoice.issued`: the invoice's lines must then be stored as no
/// longer billed, or a later void counts as billed by an invoice that was cancelled.
async fn credit_notes_before_their_invoices_leave_nothing_billed(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let (w, cons, lab, id) = one_payer_two_lines(&h, &app).await;
    let url = format!("/v1/settlements/{id}");
    let version = approve(&app, &id).await["version"]
        .as_i64()
        .expect("version") as i32;
    let payer = PartyRef::payer(&w.coverages[0]);
    let patient = PartyRef::patient(w.episode.patient.id);
    let payer_invoice = issued(&w, &id, version, payer, &[(&cons, "39.20"), (&lab, "7.20")]);
    let patient_invoice = issued(
        &w,
        &id,
        version,
        patient,
        &[(&cons, "10.80"), (&lab, "2.80")],
    );
    // Both invoices are credited (without reissue) before settlement hears they were issued.
    for inv in [&payer_invoice, &patient_invoice] {
        let mut c = credit(&w, &id, inv);
        c.reissue = false;
        deliver(&h, "invoicing", &c).await;
    }
    deliver(&h, "invoicing", &payer_invoice).await;
    deliver(&h, "invoicing", &patient_invoice).await;
    deliver(&h, "invoicing", &invoice(&id, version)).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["status"], "invoiced", "{doc}");
    // The test is voided: no active invoice bills it any more, so it is no billed void.
    deliver(&h, "accounts", &voided(&w, &lab, "not performed")).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["pending_voids"], 0, "{doc}");

    // The same with a credit note that asks for a corrected invoice: the settlement reopens, and
    // the late `invoice.issued` does not make its lines billed again, so a correction of the
    // consultation is not flagged as differing from a cancelled invoice.
    let w2 = {
        let mut w2 = world();
        w2.coverages.truncate(1);
        "ENC-2".clone_into(&mut w2.episode.number);
        w2
    };
    let cons2 = consumption(&w2, "CONS", 1, "2026-11-02T10:00:00Z");
    deliver(&h, "accounts", &cons2).await;
    let id2 = first_settlement(&app, &w2).await;
    let url2 = format!("/v1/settlements/{id2}");
    let version2 = approve(&app, &id2).await["version"]
        .as_i64()
        .expect("version") as i32;
    let payer_invoice2 = issued(
        &w2,
        &id2,
        version2,
        PartyRef::payer(&w2.coverages[0]),
        &[(&cons2, "39.20")],
    );
    deliver(&h, "invoicing", &credit(&w2, &id2, &payer_invoice2)).await;
    deliver(&h, "invoicing", &payer_invoice2).await;
    let (_, doc, _) = call(&app, get(&url2, &admin())).await;
    assert_eq!(doc["status"], "draft", "{doc}");
    let (s, doc, _) = call(
        &app,
        with_etag(
            test::TestRequest::put()
                .uri(&format!("{url2}/lines/{}", cons2.consumption_id))
                .insert_header((
                    "authorization",
                    format!("Bearer {}", token(&["biller"], None)),
                ))
                .set_json(json!({"unit_price": {"amount": "40.00", "currency": "EUR"}, "reason": "agreed price"})),
            doc["etag"].as_str().expect("etag"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(line(&doc, "CONS")["issues"], json!([]), "{doc}");
}

/// A partial credit note of `invoice`: `(consumption, credited, what its line still bills)`.
fn partial_credit(
    w: &World,
    settlement: &str,
    invoice: &InvoiceIssuedV1,
    lines: &[(&ConsumptionRecordedV1, &str, &str)],
    total: &str,
    invoice_remaining: &str,
) -> CreditNoteIssuedV1 {
    let eur = |a: &str| Money::new(a.parse().expect("decimal"), Currency::EUR).expect("money");
    CreditNoteIssuedV1 {
        credit_note_id: CreditNoteId::new(),
        consumption_ids: vec![],
        total: eur(total),
        partial: true,
        lines: lines
            .iter()
            .map(|(c, amount, remaining)| CreditedLine {
                consumption_id: c.consumption_id,
                code: c.item.code.clone(),
                amount: eur(amount),
                remaining: eur(remaining),
            })
            .collect(),
        invoice_remaining: Some(eur(invoice_remaining)),
        reissue: false,
        ..credit(w, settlement, invoice)
    }
}

/// What settlement keeps of one line of an invoice: (active, invoiced, credited) in cents.
async fn billed(
    h: &crate::common::Harness,
    invoice: &InvoiceIssuedV1,
    c: &ConsumptionRecordedV1,
) -> (bool, i64, i64) {
    use carebill_settlement::schema::settlement_billing as sb;
    let key = (invoice.invoice_id.to_string(), c.consumption_id.to_string());
    h.db.read(move |conn: &mut AnyConnection| {
        Ok(sb::table
            .find(key)
            .select((sb::active, sb::amount_minor, sb::credited_minor))
            .first(conn)?)
    })
    .await
    .expect("billing row")
}

/// A partial credit note reduces what an invoice bills line by line without cancelling it: the
/// lines stay billed, nothing reopens, a correction is compared with what was invoiced (not
/// flagged as billed differently), replays and late older credit notes change nothing, and a
/// full credit note after partial ones cancels the invoice as before.
async fn partial_credit_notes_reduce_what_invoices_bill_and_reopen_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let (w, cons, lab, id) = one_payer_two_lines(&h, &app).await;
    let url = format!("/v1/settlements/{id}");
    let version = approve(&app, &id).await["version"]
        .as_i64()
        .expect("version") as i32;
    let payer = PartyRef::payer(&w.coverages[0]);
    let patient = PartyRef::patient(w.episode.patient.id);
    let payer_invoice = issued(&w, &id, version, payer, &[(&cons, "39.20"), (&lab, "7.20")]);
    let patient_invoice = issued(
        &w,
        &id,
        version,
        patient,
        &[(&cons, "10.80"), (&lab, "2.80")],
    );
    // A partial credit of the patient's test overtakes the patient's invoice: applied when the
    // invoice's lines come.
    let early = partial_credit(
        &w,
        &id,
        &patient_invoice,
        &[(&lab, "2.80", "0.00")],
        "2.80",
        "10.80",
    );
    deliver(&h, "invoicing", &early).await;
    deliver(&h, "invoicing", &payer_invoice).await;
    deliver(&h, "invoicing", &patient_invoice).await;
    deliver(&h, "invoicing", &invoice(&id, version)).await;
    assert_eq!(billed(&h, &patient_invoice, &lab).await, (true, 280, 280));
    assert_eq!(billed(&h, &patient_invoice, &cons).await, (true, 1080, 0));
    let (_, before, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(before["status"], "invoiced", "{before}");

    // SANITAS is credited 10.00, then 5.00 more, of the consultation: still billed, for less.
    let first = partial_credit(
        &w,
        &id,
        &payer_invoice,
        &[(&cons, "10.00", "29.20")],
        "10.00",
        "36.40",
    );
    let first_env = deliver(&h, "invoicing", &first).await;
    assert_eq!(billed(&h, &payer_invoice, &cons).await, (true, 3920, 1000));
    let second = partial_credit(
        &w,
        &id,
        &payer_invoice,
        &[(&cons, "5.00", "24.20")],
        "5.00",
        "31.40",
    );
    deliver(&h, "invoicing", &second).await;
    assert_eq!(billed(&h, &payer_invoice, &cons).await, (true, 3920, 1500));
    assert_eq!(billed(&h, &payer_invoice, &lab).await, (true, 720, 0));
    // Replayed: the same envelope (the inbox drops it), the same credit notes in new envelopes,
    // the older one last. Nothing changes.
    run_handler(&h.events.handler, first_env)
        .await
        .expect("replayed");
    deliver(&h, "invoicing", &second).await;
    deliver(&h, "invoicing", &first).await;
    assert_eq!(billed(&h, &payer_invoice, &cons).await, (true, 3920, 1500));
    // A partial credit note cannot ask for a reissue: refused, nothing applied.
    let mut reissuing = partial_credit(
        &w,
        &id,
        &payer_invoice,
        &[(&lab, "7.20", "0.00")],
        "7.20",
        "24.20",
    );
    reissuing.reissue = true;
    let env = Envelope::new("invoicing", &reissuing, Utc::now(), None, None).expect("envelope");
    let refused = run_handler(&h.events.handler, env).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(billed(&h, &payer_invoice, &lab).await, (true, 720, 0));
    // Nothing reopened, no new version.
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(
        (&doc["status"], &doc["version"], &doc["issue_count"]),
        (&before["status"], &before["version"], &json!(0)),
        "{doc}"
    );

    // The patient's invoice is credited in full with reissue: the settlement reopens. SANITAS's
    // invoice, partially credited, still bills the consultation as the settlement shares it.
    deliver(&h, "invoicing", &credit(&w, &id, &patient_invoice)).await;
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    assert_eq!(doc["status"], "draft", "{doc}");
    assert_eq!(line(&doc, "CONS")["issues"], json!([]), "{doc}");
    assert_eq!(doc["issue_count"], 0, "{doc}");
    assert_eq!(billed(&h, &patient_invoice, &cons).await, (false, 1080, 0));
    assert_eq!(billed(&h, &patient_invoice, &lab).await, (false, 280, 280));

    // A full credit note after the partial ones: SANITAS's lines are no longer billed.
    let mut full = credit(&w, &id, &payer_invoice);
    full.reissue = false;
    full.total = Money::new("31.40".parse().expect("decimal"), Currency::EUR).expect("money");
    deliver(&h, "invoicing", &full).await;
    assert_eq!(billed(&h, &payer_invoice, &cons).await, (false, 3920, 1500));
    assert_eq!(billed(&h, &payer_invoice, &lab).await, (false, 720, 0));
}

/// A consumption recorded before its episode was cancelled but applied after the cancellation
/// (two consumers, replicas, a retry) is kept in a cancelled settlement: it opens no new draft
/// and reopens nothing.
async fn consumptions_applied_after_their_episodes_cancellation_stay_cancelled(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    // A biller for H1: new settlements are assigned to her, except those born cancelled.
    let (st, body, _) = call(
        &app,
        test::TestRequest::put()
            .uri("/v1/billers/lucia")
            .insert_header(("authorization", format!("Bearer {}", admin())))
            .set_json(json!({"name": "Lucía Pérez", "locations": ["H1"]})),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let cancel = |w: &World| EpisodeClosedV1 {
        episode_id: w.episode.id,
        location_id: w.episode.location.id,
        status: carebill_domain::accounts::EpisodeStatus::Cancelled,
        closed_at: Utc::now(),
        reason: Some("registered twice".to_owned()),
    };

    // A draft exists when the cancellation comes; a later consumption joins it, cancelled.
    let w = world();
    deliver(
        &h,
        "accounts",
        &consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z"),
    )
    .await;
    deliver(&h, "accounts", &cancel(&w)).await;
    let late = consumption(&w, "LAB-HB", 1, "2026-11-02T11:00:00Z");
    deliver(&h, "accounts", &late).await;
    let page = settlements_of(&app, &w).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["status"], "cancelled", "{page}");
    assert_eq!(items[0]["line_count"], 2, "{page}");
    assert_eq!(items[0]["assigned_to"], "lucia", "made as a draft: {page}");
    // A void after the cancellation takes its line out of the cancelled settlement, as it would
    // have before it.
    deliver(&h, "accounts", &voided(&w, &late, "not performed")).await;
    let page = settlements_of(&app, &w).await;
    assert_eq!(
        (
            page["items"][0]["status"].as_str(),
            page["items"][0]["line_count"].as_i64()
        ),
        (Some("cancelled"), Some(1)),
        "{page}"
    );

    // The cancellation comes before any consumption: the settlement is born cancelled.
    let mut w = world();
    "ENC-2".clone_into(&mut w.episode.number);
    deliver(&h, "accounts", &cancel(&w)).await;
    deliver(
        &h,
        "accounts",
        &consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z"),
    )
    .await;
    let page = settlements_of(&app, &w).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["status"], "cancelled", "{page}");
    assert_eq!(items[0]["line_count"], 1, "{page}");
    assert_eq!(
        items[0]["assigned_to"],
        json!(null),
        "nobody works on it: {page}"
    );
    let url = format!("/v1/settlements/{}", items[0]["id"].as_str().expect("id"));
    let (_, doc, _) = call(&app, get(&url, &admin())).await;
    let history = doc["status_history"].as_array().expect("history");
    assert_eq!(
        history.last().expect("change")["reason"],
        "registered twice",
        "{doc}"
    );

    // An approved settlement is not reopened for a consumption of a cancelled episode.
    let mut w = world();
    "ENC-3".clone_into(&mut w.episode.number);
    deliver(
        &h,
        "accounts",
        &consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z"),
    )
    .await;
    let id = first_settlement(&app, &w).await;
    approve(&app, &id).await;
    deliver(&h, "accounts", &cancel(&w)).await;
    deliver(
        &h,
        "accounts",
        &consumption(&w, "LAB-HB", 1, "2026-11-02T11:00:00Z"),
    )
    .await;
    let (_, doc, _) = call(&app, get(&format!("/v1/settlements/{id}"), &admin())).await;
    assert_eq!(doc["status"], "approved", "{doc}");
    assert_eq!(doc["line_count"], 1, "{doc}");
    let page = settlements_of(&app, &w).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{page}");
    assert_eq!(items[1]["status"], "cancelled", "{page}");

    // A void applied after the cancellation does not reopen the approval (in order, the void
    // would have reopened it and the cancellation cancelled it): cancelled, without the line.
    let mut w = world();
    "ENC-4".clone_into(&mut w.episode.number);
    let cons = consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z");
    deliver(&h, "accounts", &cons).await;
    deliver(
        &h,
        "accounts",
        &consumption(&w, "LAB-HB", 1, "2026-11-02T11:00:00Z"),
    )
    .await;
    let id = first_settlement(&app, &w).await;
    approve(&app, &id).await;
    deliver(&h, "accounts", &cancel(&w)).await;
    deliver(&h, "accounts", &voided(&w, &cons, "charged twice")).await;
    let (_, doc, _) = call(&app, get(&format!("/v1/settlements/{id}"), &admin())).await;
    assert_eq!(
        (doc["status"].as_str(), doc["line_count"].as_i64()),
        (Some("cancelled"), Some(1)),
        "{doc}"
    );
    assert_eq!(
        doc["status_history"]
            .as_array()
            .and_then(|h| h.last())
            .map(|c| c["reason"].clone()),
        Some(json!("registered twice")),
        "{doc}"
    );
}

/// A consumption written while the patient had two coverages, applied after a later change that
/// ended the first (two consumers, replicas, a retry): the new settlement is split with the
/// coverages of the change, the newer ones.
async fn a_consumption_applied_after_a_newer_coverage_change_is_split_with_the_newer_coverages(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let w = world();
    deliver(
        &h,
        "accounts",
        &CoverageChangedV1 {
            patient_id: w.episode.patient.id,
            coverage_id: w.coverages[0].id,
            change: "ended".to_owned(),
            coverages: vec![w.coverages[1].clone()],
            claims: Vec::new(),
            changed_at: "2026-11-02T12:00:00Z".parse().expect("time"),
        },
    )
    .await;
    // Recorded at 10:00 with SANITAS and MUTUA.
    let cons = consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z");
    deliver(&h, "accounts", &cons).await;
    let id = first_settlement(&app, &w).await;
    let (_, doc, _) = call(&app, get(&format!("/v1/settlements/{id}"), &admin())).await;
    let l = line(&doc, "CONS");
    // MUTUA covers 50 % of 50.00; SANITAS, ended, nothing.
    assert_eq!(
        (
            share(l, Some("SANITAS")),
            share(l, Some("MUTUA")),
            share(l, None)
        ),
        (String::new(), "25.00".to_owned(), "25.00".to_owned()),
        "{doc}"
    );
}

/// The HIS voids consumption `c` of `w`'s episode, now.
fn voided(w: &World, c: &ConsumptionRecordedV1, reason: &str) -> ConsumptionVoidedV1 {
    ConsumptionVoidedV1 {
        consumption_id: c.consumption_id,
        episode_id: w.episode.id,
        location_id: w.episode.location.id,
        reason: reason.to_owned(),
        voided_by: "his".to_owned(),
        voided_at: Utc::now(),
    }
}

/// A patient covered by SANITAS alone, and a consultation and a lab test of one episode,
/// delivered: the world, the two consumptions and their settlement's id.
async fn one_payer_two_lines(
    h: &crate::common::Harness,
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
) -> (World, ConsumptionRecordedV1, ConsumptionRecordedV1, String) {
    let mut w = world();
    w.coverages.truncate(1);
    let cons = consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z");
    let lab = consumption(&w, "LAB-HB", 1, "2026-11-02T11:00:00Z");
    deliver(h, "accounts", &cons).await;
    deliver(h, "accounts", &lab).await;
    let id = first_settlement(app, &w).await;
    (w, cons, lab, id)
}

/// Only a version that does not exist is a 422 `unknown_version` on a diff: a stored line that
/// does not read back is an internal error (it was reported as an unknown version).
async fn a_diff_over_an_unreadable_stored_line_is_an_internal_error_not_an_unknown_version(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let w = world();
    deliver(
        &h,
        "accounts",
        &consumption(&w, "XRAY", 1, "2026-11-02T11:00:00Z"),
    )
    .await;
    let id = first_settlement(&app, &w).await;
    let url = format!("/v1/settlements/{id}");
    let (s, body, _) = call(&app, get(&format!("{url}/diff?from=1"), &admin())).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body, _) = call(&app, get(&format!("{url}/diff?from=9"), &admin())).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "unknown_version", "{body}");

    h.db.write(|c: &mut AnyConnection| {
        diesel::sql_query("UPDATE settlement_lines SET data = 'not a line'").execute(c)?;
        Ok(())
    })
    .await
    .expect("corrupt the stored lines");
    let (s, body, _) = call(&app, get(&format!("{url}/diff?from=1"), &admin())).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    // A version that does not exist stays a 422, whatever the lines of the others.
    let (s, body, _) = call(&app, get(&format!("{url}/diff?from=9"), &admin())).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

/// A consumption event whose location names no real time zone breaks the contract (accounts
/// sends only zones it checked): it is refused with what is wrong, and nothing is stored or
/// priced — before, its days and hours were read in UTC without a word.
async fn a_consumption_whose_location_time_zone_is_not_one_is_refused_not_priced_in_utc(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let mut w = world();
    w.episode.location.time_zone = "Mars/Olympus".to_owned();
    let bad = consumption(&w, "LAB-HB", 1, "2026-11-02T23:30:00Z");
    let env = carebill_domain::events::Envelope::new("accounts", &bad, Utc::now(), None, None)
        .expect("envelope");
    let error = run_handler(&h.events.handler, env)
        .await
        .expect_err("refused");
    assert!(
        error.starts_with("invalid_event: ") && error.contains("Mars/Olympus"),
        "{error}"
    );
    assert_eq!(
        settlements_of(&app, &w).await["items"],
        json!([]),
        "nothing stored"
    );
}
