//! E-billing over HTTP: each payer's settings, set whole behind If-Match in versions, read by
//! billers, refused naming every bad field with nothing stored; claimable entries; claim checks;
//! e-billings made, checked, cancelled and sent as 837 and 276 files (written to
//! `$CAREBILL_X12_OUT` when set, for `scripts/validators.sh x12` to check with pyx12 and x12sdk).

use actix_web::http::StatusCode;
use carebill_domain::events::PartyRef;
use carebill_domain::ids::{ConsumptionId, SettlementId};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, fields, get, post, put, token};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    a_payers_settings_are_set_in_versions_behind_if_match,
    bad_settings_are_refused_naming_each_field_and_nothing_is_stored,
    claimable_entries_are_the_lines_of_issued_payer_invoices_filtered_and_paged,
    an_invoices_claim_is_checked_gap_by_gap_until_it_is_ready,
    an_e_billing_says_what_is_missing_is_ready_once_fixed_and_lets_go_when_cancelled,
    bad_e_billings_are_refused_naming_each_field_and_nothing_is_claimed,
    a_ready_e_billing_is_sent_as_its_837_and_276_the_same_bytes_every_time,
    what_comes_back_moves_the_claims_and_the_same_file_twice_changes_nothing,
    a_claim_credited_after_it_was_sent_is_replaced_or_voided_naming_the_payers_claim,
    a_secondary_claim_carries_the_primary_payers_835_and_waits_for_it,
    a_corrective_invoice_credited_before_it_was_claimed_voids_the_claim_it_stood_for,
);

pub(crate) fn uhc() -> Value {
    json!({
        "payer_id": "87726", "payer_name": "UNITEDHEALTHCARE", "claim_filing_indicator": "CI",
        "submitter": {"name": "SPRINGFIELD GENERAL", "id": "S123", "contact": "BILLING DESK", "phone": "2175551234"},
        "receiver": {"name": "CLEARINGHOUSE", "id": "R987"},
        "interchange": {"sender_qualifier": "ZZ", "sender_id": "S123", "receiver_qualifier": "ZZ", "receiver_id": "R987"},
        "application": {"sender_code": "S123", "receiver_code": "R987"}
    })
}

fn with_if_match(req: actix_web::test::TestRequest, tag: &str) -> actix_web::test::TestRequest {
    req.insert_header(("if-match", tag.to_owned()))
}

async fn a_payers_settings_are_set_in_versions_behind_if_match(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let manager = token(&["billing_manager"], None);
    let url = "/v1/e-billing-settings/UHC";
    let (s, first, _) = call(&app, put(url, &manager, &uhc())).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(
        (first["version"].as_i64(), first["etag"].as_str()),
        (Some(1), Some("\"v1\""))
    );
    assert_eq!(
        first["settings"]["claim_format"], "auto",
        "defaults are filled in"
    );
    assert_eq!(first["settings"]["usage"], "test");
    assert_eq!(
        first["settings"]["requirements"]["max_patient_control_number"],
        20
    );
    // Billers read them; the payer's portal users do not.
    let (s, read, _) = call(&app, get(url, &token(&["biller"], None))).await;
    assert_eq!((s, &read), (StatusCode::OK, &first));
    let (s, _, _) = call(&app, get(url, &payer_token("UHC"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(&app, put(url, &token(&["biller"], None), &uhc())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "billers do not set them");

    // A change needs the ETag read.
    let mut production = uhc();
    production["usage"] = json!("production");
    let (s, p, _) = call(&app, put(url, &manager, &production)).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (
            StatusCode::PRECONDITION_REQUIRED,
            Some("precondition_required")
        )
    );
    let (s, _, _) = call(
        &app,
        with_if_match(put(url, &manager, &production), "\"v0\""),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "v0 is before the first");
    let (s, second, _) = call(
        &app,
        with_if_match(put(url, &manager, &production), "\"v1\""),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(
        (
            second["version"].as_i64(),
            second["settings"]["usage"].as_str()
        ),
        (Some(2), Some("production"))
    );
    let (s, _, _) = call(&app, with_if_match(put(url, &manager, &uhc()), "\"v1\"")).await;
    assert_eq!(
        s,
        StatusCode::PRECONDITION_FAILED,
        "v1 is no longer current"
    );
    // The same settings again are no new version.
    let (s, same, _) = call(
        &app,
        with_if_match(put(url, &manager, &production), "\"v2\""),
    )
    .await;
    assert_eq!((s, same["version"].as_i64()), (StatusCode::OK, Some(2)));

    // Another payer, created with "v0".
    let (s, _, _) = call(
        &app,
        with_if_match(
            put("/v1/e-billing-settings/AETNA", &manager, &uhc()),
            "\"v0\"",
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, versions, _) = call(&app, get(&format!("{url}/versions"), &admin())).await;
    let versions: Vec<i64> = items(&versions)
        .iter()
        .map(|v| v["version"].as_i64().expect("v"))
        .collect();
    assert_eq!(versions, [2, 1]);
    let (_, all, _) = call(&app, get("/v1/e-billing-settings", &admin())).await;
    let current: Vec<(String, i64)> = items(&all)
        .iter()
        .map(|s| {
            (
                s["payer_code"].as_str().expect("code").to_owned(),
                s["version"].as_i64().expect("v"),
            )
        })
        .collect();
    assert_eq!(current, [("AETNA".to_owned(), 1), ("UHC".to_owned(), 2)]);
    let (_, trail, _) = call(
        &app,
        get(
            "/v1/invoicing/audit-events?entity_type=e_billing_settings&entity_id=UHC",
            &admin(),
        ),
    )
    .await;
    assert_eq!(items(&trail).len(), 2, "{trail}");
    let (s, _, _) = call(&app, get("/v1/e-billing-settings/NOBODY", &admin())).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn bad_settings_are_refused_naming_each_field_and_nothing_is_stored(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let mut bad = uhc();
    bad["claim_filing_indicator"] = json!("XX");
    bad["interchange"]["sender_id"] = json!("A-SENDER-ID-LONGER-THAN-15");
    bad["interchange"]["receiver_qualifier"] = json!("99");
    bad["submitter"]["phone"] = json!(null);
    bad["application"]["sender_code"] = json!("S*1");
    bad["requirements"] = json!({"max_patient_control_number": 0});
    let (s, problem, ct) = call(&app, put("/v1/e-billing-settings/UHC", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    let mut named = fields(&problem);
    named.sort();
    assert_eq!(
        named,
        [
            "application.sender_code",
            "claim_filing_indicator",
            "interchange.receiver_qualifier",
            "interchange.sender_id",
            "requirements.max_patient_control_number",
            "submitter.phone",
        ]
    );
    let mut unknown = uhc();
    unknown["isa_qualifier"] = json!("ZZ");
    let (s, problem, _) = call(&app, put("/v1/e-billing-settings/UHC", &t, &unknown)).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown field: {problem}"
    );
    let mut wrong = uhc();
    wrong["claim_format"] = json!("837D");
    let (s, _, _) = call(&app, put("/v1/e-billing-settings/UHC", &t, &wrong)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "837D is not made");
    let (s, _, _) = call(
        &app,
        put("/v1/e-billing-settings/not%20a%20code", &t, &uhc()),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, all, _) = call(&app, get("/v1/e-billing-settings", &t)).await;
    assert!(items(&all).is_empty(), "nothing stored: {all}");
}

async fn claimable_entries_are_the_lines_of_issued_payer_invoices_filtered_and_paged(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["biller"], None);
    let w = world("H1");
    let pat = PartyRef::patient(w.patient.id);
    // SANITAS is billed two lines (one shared with the patient), ADESLAS one; the patient's own
    // invoice is not claimable.
    let mut cons = line(ConsumptionId::new(), "CONS", 5_000, &[(&w.adeslas, 5_000)]);
    cons.service_group = "CONSULTATIONS".to_owned();
    cons.kind = Some(carebill_domain::accounts::ServiceKind::Consultation);
    let lines = vec![
        line(
            ConsumptionId::new(),
            "LAB-HB",
            10_000,
            &[(&w.sanitas, 8_000), (&pat, 2_000)],
        ),
        line(
            ConsumptionId::new(),
            "LAB-GLU",
            3_000,
            &[(&w.sanitas, 3_000)],
        ),
        cons,
    ];
    deliver(
        &h.db,
        envelope(&approval(&w, SettlementId::new(), 1, lines)),
    )
    .await
    .expect("approved");
    let list = |query: &str| get(&format!("/v1/claimable-entries{query}"), &t);
    let (s, all, _) = call(&app, list("")).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let seen: Vec<(String, String, String, String)> = items(&all)
        .iter()
        .map(|e| {
            (
                e["payer"].as_str().expect("payer").to_owned(),
                e["code"].as_str().expect("code").to_owned(),
                e["charge"]["amount"].as_str().expect("charge").to_owned(),
                e["billed"]["amount"].as_str().expect("billed").to_owned(),
            )
        })
        .collect();
    let mut sorted = seen.clone();
    sorted.sort();
    let row = |p: &str, c: &str, ch: &str, bi: &str| {
        (p.to_owned(), c.to_owned(), ch.to_owned(), bi.to_owned())
    };
    assert_eq!(
        sorted,
        [
            row("ADESLAS", "CONS", "50.00", "50.00"),
            row("SANITAS", "LAB-GLU", "30.00", "30.00"),
            row("SANITAS", "LAB-HB", "100.00", "80.00"),
        ],
        "the payers' lines with the whole charge and the part billed; not the patient's"
    );
    let first = &items(&all)[0];
    assert_eq!(first["provider"], "H1");
    assert_eq!(first["claim_kind"], "original");
    assert_eq!(first["episode_id"], w.episode.id.to_string());
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1))
        .with_timezone(&chrono_tz::Europe::Madrid)
        .date_naive();
    assert_eq!(first["performed_on"], yesterday.to_string());

    let count = |v: &Value| items(v).len();
    for (query, n) in [
        ("?payer=SANITAS", 2),
        ("?payer=NOBODY", 0),
        ("?service_type=lab", 2),
        ("?service_type=CONSULTATIONS", 1),
        ("?provider=H1&payer=ADESLAS", 1),
        ("?provider=H2", 0),
        (&format!("?from={yesterday}&to={yesterday}"), 3),
        (&format!("?to={}", yesterday - chrono::Duration::days(1)), 0),
        (
            &format!("?from={}", yesterday + chrono::Duration::days(1)),
            0,
        ),
    ] {
        let (s, page, _) = call(&app, list(query)).await;
        assert_eq!((s, count(&page)), (StatusCode::OK, n), "{query}: {page}");
    }
    // Page by page, each entry once.
    let mut codes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("?limit=1&cursor={c}"),
            None => "?limit=1".to_owned(),
        };
        let (_, page, _) = call(&app, list(&query)).await;
        codes.extend(
            items(&page)
                .iter()
                .map(|e| e["code"].as_str().expect("code").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    codes.sort();
    assert_eq!(codes, ["CONS", "LAB-GLU", "LAB-HB"]);
    // A biller of another location sees none of them.
    let (_, other, _) = call(
        &app,
        get("/v1/claimable-entries", &token(&["biller"], Some(&["H2"]))),
    )
    .await;
    assert_eq!(count(&other), 0);
    // A credit note cancels the invoice: its lines are no longer claimable.
    let sanitas_invoice = items(&all)
        .iter()
        .find(|e| e["payer"] == "SANITAS")
        .map(|e| e["invoice_id"].as_str().expect("id").to_owned())
        .expect("sanitas");
    let (s, cn) = credit(
        &app,
        &admin(),
        &sanitas_invoice,
        json!({"reason": "wrong payer", "reissue": false}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let (_, after, _) = call(&app, list("")).await;
    assert_eq!(count(&after), 1);

    // Bad filters are refused, naming them.
    let (s, p, _) = call(&app, list("?from=2026-12-02&to=2026-12-01")).await;
    assert_eq!(
        (s, fields(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["to".to_owned()])
    );
    let (s, p, _) = call(&app, list("?cursor=not-a-cursor")).await;
    assert_eq!(
        (s, fields(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["cursor".to_owned()])
    );
    let (s, _, _) = call(&app, list("?payer_code=SANITAS")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "an unknown parameter");
    let (s, _, _) = call(&app, get("/v1/claimable-entries", &payer_token("SANITAS"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

fn usd_currency() -> carebill_domain::Currency {
    carebill_domain::Currency::parse("USD").expect("USD")
}

/// The approval in US dollars (the helpers' amounts are euros).
fn in_dollars(
    mut a: carebill_domain::events::SettlementApprovedV1,
) -> carebill_domain::events::SettlementApprovedV1 {
    use carebill_domain::Money;
    let usd = |m: Money| Money::from_minor(m.to_minor().expect("minor"), usd_currency());
    a.currency = usd_currency();
    a.total = usd(a.total);
    for l in &mut a.lines {
        l.unit_price = usd(l.unit_price);
        l.amount = usd(l.amount);
        for s in &mut l.shares {
            s.amount = usd(s.amount);
        }
    }
    a
}

fn accounts_event<P: carebill_domain::events::EventPayload>(
    p: &P,
) -> carebill_domain::events::Envelope {
    carebill_domain::events::Envelope::new("accounts", p, chrono::Utc::now(), None, None)
        .expect("envelope")
}

/// What accounts announces of the world's master data for claims: the location's claim facts,
/// the patient, the coverages, the episode's coding, the catalog item LAB-HB and DR-ROSSI.
fn master_data(w: &World) -> Vec<carebill_domain::events::Envelope> {
    master_data_at(w, chrono::Utc::now())
}

/// [`master_data`] as changed at `at`.
fn master_data_at(
    w: &World,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<carebill_domain::events::Envelope> {
    let mut location = w.location.clone();
    location.billing = Some(serde_json::from_value(json!({"legal_name": "Springfield General Hospital",
        "address": {"lines": ["1 Main Street"], "city": "Springfield", "region": "IL", "postal_code": "62701-1234", "country": "US"}})).expect("billing"));
    let coverage_id = w.sanitas.coverage_id.expect("coverage");
    let rossi = carebill_domain::ids::PractitionerId::new();
    vec![
        accounts_event(&carebill_domain::events::LocationChangedV1 {
            location,
            claims: Some(serde_json::from_value(json!({"npi": "1234567893", "ein": "123456789", "place_of_service": "22"})).expect("claims")),
            changed_at: at,
        }),
        accounts_event(&serde_json::from_value::<carebill_domain::events::PatientChangedV1>(json!({
            "patient_id": w.patient.id, "family_name": "Doe", "given_name": "Jane", "birth_date": "1980-04-12", "sex": "female",
            "address": {"lines": ["2 Elm Street"], "city": "Springfield", "region": "IL", "postal_code": "62701"}, "changed_at": at})).expect("patient")),
        accounts_event(&serde_json::from_value::<carebill_domain::events::CoverageChangedV1>(json!({
            "patient_id": w.patient.id, "coverage_id": coverage_id, "change": "created", "coverages": [], "changed_at": at})).expect("coverages")),
        accounts_event(&serde_json::from_value::<carebill_domain::events::EpisodeCodedV1>(json!({
            "episode_id": w.episode.id, "location_id": w.location.id, "version": 1, "reason": null, "changed_at": at,
            "coding": {"diagnoses": [{"code": "D64.9", "present_on_admission": null}]}})).expect("coding")),
        accounts_event(&serde_json::from_value::<carebill_domain::events::CatalogItemChangedV1>(json!({
            "item": {"id": carebill_domain::ids::CatalogItemId::new(), "code": "LAB-HB", "description": "Hemoglobin", "service_group": "LAB", "kind": "lab", "unit": "test"},
            "active": true, "billing_code": {"system": "cpt", "code": "85018"}, "changed_at": at})).expect("item")),
        accounts_event(&serde_json::from_value::<carebill_domain::events::PractitionerChangedV1>(json!({
            "practitioner": {"id": rossi, "code": "DR-ROSSI", "kind": "person", "family_name": "Rossi", "given_name": "Marco",
                "middle_name": null, "suffix": null, "credentials": "MD", "npi": "1999999992", "taxonomy": null, "specialty": null,
                "active_from": null, "active_to": null, "identifiers": []}, "changed_at": at})).expect("practitioner")),
    ]
}

async fn an_invoices_claim_is_checked_gap_by_gap_until_it_is_ready(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["biller"], None);
    let w = world("SPR");
    let pat = PartyRef::patient(w.patient.id);
    let lab = line(
        ConsumptionId::new(),
        "LAB-HB",
        10_000,
        &[(&w.sanitas, 8_000), (&pat, 2_000)],
    );
    deliver(
        &h.db,
        envelope(&in_dollars(approval(&w, SettlementId::new(), 1, vec![lab]))),
    )
    .await
    .expect("approved");
    let (_, list, _) = call(&app, get("/v1/invoices", &t)).await;
    let id_of = |payer: Option<&str>| {
        items(&list)
            .into_iter()
            .find(|i| i["recipient"]["payer_code"].as_str() == payer)
            .map(|i| i["id"].as_str().expect("id").to_owned())
            .expect("invoice")
    };
    let (payer_invoice, patient_invoice) = (id_of(Some("SANITAS")), id_of(None));
    let url = format!("/v1/invoices/{payer_invoice}/claim-check");
    let check = || get(&url, &t);
    let gaps = |c: &Value| -> Vec<String> {
        let mut g: Vec<String> = c["gaps"]
            .as_array()
            .expect("gaps")
            .iter()
            .map(|g| {
                format!(
                    "{} {} {}",
                    g["loop"].as_str().expect("loop"),
                    g["element"].as_str().expect("element"),
                    g["resource"].as_str().expect("resource")
                )
            })
            .collect();
        g.sort();
        g
    };

    // Without the payer's settings there is nothing to address the claim by.
    let (s, c, _) = call(&app, check()).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(
        (c["ready"].as_bool(), c["payer_code"].as_str()),
        (Some(false), Some("SANITAS"))
    );
    assert_eq!(c["gaps"][0]["href"], "/v1/e-billing-settings/SANITAS");
    let (s, _, _) = call(
        &app,
        put("/v1/e-billing-settings/SANITAS", &admin(), &uhc()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);

    // With them, everything invoicing does not know yet of the master data.
    let (_, c, _) = call(&app, check()).await;
    assert_eq!(
        gaps(&c),
        [
            "2010AA NM109 invoice",
            "2010BA NM103 invoice",
            "2300 HI01-2 episode_coding",
            "2310B NM109 practitioner",
            "2400 SV101-2 catalog_item",
        ],
        "{c}"
    );
    let rendering = c["gaps"]
        .as_array()
        .expect("gaps")
        .iter()
        .find(|g| g["loop"] == "2310B")
        .expect("2310B")
        .clone();
    assert_eq!(
        (rendering["kind"].as_str(), rendering["href"].as_str()),
        (Some("unresolved"), Some("/v1/practitioners?code=DR-ROSSI"))
    );

    // Accounts announces the master data; invoicing keeps it.
    for e in master_data(&w) {
        deliver(&h.db, e).await.expect("kept");
    }
    let (_, c, _) = call(&app, check()).await;
    assert_eq!(c["gaps"], json!([]), "{c}");
    assert_eq!(
        (c["ready"].as_bool(), c["format"].as_str()),
        (Some(true), Some("837P"))
    );
    assert_eq!(
        c["total_charge"],
        json!({"amount": "100.00", "currency": "USD"}),
        "the whole service, not the payer's 80.00"
    );
    assert_eq!(c["diagnoses"], json!(["D64.9"]));

    // Only payer invoices are claimed; others' invoices are not found.
    let (s, p, _) = call(
        &app,
        get(&format!("/v1/invoices/{patient_invoice}/claim-check"), &t),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_claimable"))
    );
    let (s, _, _) = call(&app, get(&url, &token(&["biller"], Some(&["H2"])))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(&app, get("/v1/invoices/not-an-id/claim-check", &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A cancelled invoice is not claimed; its corrective invoice would be.
    let (s, cn) = credit(
        &app,
        &admin(),
        &payer_invoice,
        json!({"reason": "wrong policy", "reissue": false}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let (s, p, _) = call(&app, check()).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("cancelled"))
    );
}

/// Issues `n` invoices to SANITAS (in dollars, one LAB-HB line each, 100.00 of which the payer
/// is billed 80.00) and answers their ids, in id order.
async fn payer_invoices(app_db: &carebill_platform::db::Db, w: &World, n: usize) -> Vec<String> {
    let pat = PartyRef::patient(w.patient.id);
    for _ in 0..n {
        let lab = line(
            ConsumptionId::new(),
            "LAB-HB",
            10_000,
            &[(&w.sanitas, 8_000), (&pat, 2_000)],
        );
        deliver(
            app_db,
            envelope(&in_dollars(approval(w, SettlementId::new(), 1, vec![lab]))),
        )
        .await
        .expect("approved");
    }
    let app = app(app_db).await;
    let (_, list, _) = call(&app, get("/v1/invoices?limit=500", &admin())).await;
    let mut ids: Vec<String> = items(&list)
        .into_iter()
        .filter(|i| i["recipient"]["payer_code"] == "SANITAS")
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

async fn an_e_billing_says_what_is_missing_is_ready_once_fixed_and_lets_go_when_cancelled(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["biller"], None);
    let w = world("SPR");
    let invoices = payer_invoices(&h.db, &w, 2).await;
    assert_eq!(invoices.len(), 2);
    let (s, _, _) = call(
        &app,
        put("/v1/e-billing-settings/SANITAS", &admin(), &uhc()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let claimable = |tok: &str| get("/v1/claimable-entries?payer=SANITAS", tok);
    let body =
        json!({"payer_code": "SANITAS", "filter": {"provider": "SPR", "service_type": "lab"}});

    // Made from the filter: both invoices, neither claim whole yet.
    let (s, e, _) = call(
        &app,
        post("/v1/e-billings", &t, &body).insert_header(("idempotency-key", "eb-1")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    assert_eq!(
        (
            e["status"].as_str(),
            e["claim_count"].as_i64(),
            e["ready_count"].as_i64()
        ),
        (Some("missing_info"), Some(2), Some(0)),
        "{e}"
    );
    let year = chrono::Utc::now().format("%Y").to_string();
    assert_eq!(e["number"], format!("SPR-EB-{year}-000001"));
    assert_eq!(e["provider"], "SPR");
    assert_eq!(
        e["selection"],
        json!({"filter": {"provider": "SPR", "payer": "SANITAS", "service_type": "lab"}})
    );
    let id = e["id"].as_str().expect("id").to_owned();
    // A retry with the same key answers the first e-billing; nothing is claimed twice.
    let (s, again, _) = call(
        &app,
        post("/v1/e-billings", &t, &body).insert_header(("idempotency-key", "eb-1")),
    )
    .await;
    assert_eq!(
        (s, again["id"].as_str()),
        (StatusCode::CREATED, Some(id.as_str()))
    );
    // Its invoices are claimed: no longer claimable, and not in a second e-billing.
    let (_, entries, _) = call(&app, claimable(&t)).await;
    assert_eq!(entries["items"], json!([]), "{entries}");
    let (s, p, _) = call(&app, post("/v1/e-billings", &t, &body)).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("no_claimable_entries")
        )
    );
    let (s, p, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": [invoices[1]]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "invoice_ids[0]");
    assert_eq!(p["errors"][0]["code"], "already_claimed", "{p}");

    // Missing info: one entry per thing to fix, with the claims it holds up.
    let missing_url = format!("/v1/e-billings/{id}/missing-info");
    let (s, m, _) = call(&app, get(&missing_url, &t)).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    let catalog = items(&m)
        .into_iter()
        .find(|g| g["element"] == "SV101-2")
        .expect("the catalog item's code");
    assert_eq!(
        (
            catalog["claims"].as_i64(),
            catalog["href"].as_str(),
            catalog["loop"].as_str()
        ),
        (Some(2), Some("/v1/catalog-items?code=LAB-HB"), Some("2400"))
    );
    assert_eq!(catalog["invoice_numbers"].as_array().map(Vec::len), Some(2));
    let rendering = items(&m)
        .into_iter()
        .find(|g| g["loop"] == "2310B")
        .expect("the rendering provider");
    assert_eq!(rendering["href"], "/v1/practitioners?code=DR-ROSSI");
    assert_eq!(rendering["claims"], 2);
    let (_, claims, _) = call(
        &app,
        get(&format!("/v1/e-billings/{id}/claims?limit=1"), &t),
    )
    .await;
    assert_eq!(claims["items"][0]["status"], "missing_info");
    assert_eq!(
        claims["items"][0]["invoice_id"].as_str(),
        Some(invoices[0].as_str())
    );
    assert!(
        claims["items"][0]["gaps"]
            .as_array()
            .is_some_and(|g| !g.is_empty())
    );
    let first_claim = claims["items"][0]["id"].clone();
    let next = claims["next_cursor"].as_str().expect("a second page");
    let (_, page2, _) = call(
        &app,
        get(&format!("/v1/e-billings/{id}/claims?cursor={next}"), &t),
    )
    .await;
    assert_eq!(page2["items"][0]["position"], 2);
    assert_eq!(page2["next_cursor"], Value::Null);

    // Fixed in accounts; checked again: ready, the whole charges claimed.
    for e in master_data(&w) {
        deliver(&h.db, e).await.expect("kept");
    }
    let (s, e, _) = call(
        &app,
        post(&format!("/v1/e-billings/{id}/check"), &t, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{e}");
    assert_eq!(
        (
            e["status"].as_str(),
            e["ready_count"].as_i64(),
            e["gap_count"].as_i64()
        ),
        (Some("ready"), Some(2), Some(0)),
        "{e}"
    );
    assert_eq!(
        e["total_charge"],
        json!({"amount": "200.00", "currency": "USD"})
    );
    let (_, m, _) = call(&app, get(&missing_url, &t)).await;
    assert_eq!(m["items"], json!([]));
    let (_, claims, _) = call(&app, get(&format!("/v1/e-billings/{id}/claims"), &t)).await;
    let claim = claims["items"][0].clone();
    assert_eq!(
        (
            claim["status"].as_str(),
            claim["format"].as_str(),
            claim["frequency"].as_str()
        ),
        (Some("ready"), Some("837P"), Some("1"))
    );
    assert_eq!(
        claim["id"], first_claim,
        "claims keep their ids when checked again"
    );
    let (s, one, _) = call(
        &app,
        get(
            &format!("/v1/e-billing-claims/{}", claim["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(
        (s, one["charge"]["amount"].as_str()),
        (StatusCode::OK, Some("100.00"))
    );
    let (_, list, _) = call(
        &app,
        get("/v1/e-billings?status=ready&payer_code=SANITAS", &t),
    )
    .await;
    assert_eq!(items(&list).len(), 1);
    let (_, list, _) = call(&app, get("/v1/e-billings?status=sent", &t)).await;
    assert_eq!(items(&list).len(), 0);

    // Outside the caller's scope it does not exist.
    let other = token(&["biller"], Some(&["H2"]));
    let (s, _, _) = call(&app, get(&format!("/v1/e-billings/{id}"), &other)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        post(&format!("/v1/e-billings/{id}/cancel"), &other, &json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/e-billings/{id}/cancel"),
            &token(&["auditor"], None),
            &json!({}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Cancelled: its invoices are claimable again, and it no longer changes.
    let (s, e, _) = call(
        &app,
        post(&format!("/v1/e-billings/{id}/cancel"), &t, &json!({})),
    )
    .await;
    assert_eq!(
        (s, e["status"].as_str()),
        (StatusCode::OK, Some("cancelled")),
        "{e}"
    );
    assert!(e["cancelled_at"].is_string());
    let (_, entries, _) = call(&app, claimable(&t)).await;
    assert_eq!(items(&entries).len(), 2, "{entries}");
    for step in ["check", "cancel"] {
        let (s, p, _) = call(
            &app,
            post(&format!("/v1/e-billings/{id}/{step}"), &t, &json!({})),
        )
        .await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::CONFLICT, Some("e_billing_closed")),
            "{step}"
        );
    }
    let (_, claims, _) = call(&app, get(&format!("/v1/e-billings/{id}/claims"), &t)).await;
    assert_eq!(
        (
            claims["items"][0]["status"].as_str(),
            claims["items"][0]["active"].as_bool()
        ),
        (Some("cancelled"), Some(false))
    );
    // A new e-billing of one invoice by id: numbered next, ready at once.
    let (s, e, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": [invoices[1]]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    assert_eq!(
        (
            e["status"].as_str(),
            e["claim_count"].as_i64(),
            e["number"].as_str()
        ),
        (
            Some("ready"),
            Some(1),
            Some(format!("SPR-EB-{year}-000002").as_str())
        )
    );
    // Every step is in the audit trail.
    let (_, audit, _) = call(
        &app,
        get(
            &format!("/v1/invoicing/audit-events?entity_type=e_billing&entity_id={id}"),
            &admin(),
        ),
    )
    .await;
    let actions: Vec<String> = items(&audit)
        .iter()
        .filter_map(|a| a["action"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(actions, ["create", "check", "cancel"], "{audit}");
}

async fn bad_e_billings_are_refused_naming_each_field_and_nothing_is_claimed(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["biller"], None);
    let w = world("SPR");
    let invoices = payer_invoices(&h.db, &w, 1).await;
    let (_, list, _) = call(&app, get("/v1/invoices", &t)).await;
    let patient_invoice = items(&list)
        .into_iter()
        .find(|i| i["recipient"]["kind"] == "patient")
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .expect("the patient's invoice");
    let cases = [
        (json!({"payer_code": "SANITAS"}), vec!["filter"]),
        (
            json!({"payer_code": "SANITAS", "filter": {"provider": "SPR"}, "invoice_ids": [invoices[0]]}),
            vec!["invoice_ids"],
        ),
        (
            json!({"payer_code": "", "filter": {"provider": "SPR", "from": "2026-12-31", "to": "2026-12-01"}}),
            vec!["payer_code", "filter.to"],
        ),
        (
            json!({"payer_code": "SANITAS", "invoice_ids": []}),
            vec!["invoice_ids"],
        ),
        (
            json!({"payer_code": "SANITAS", "invoice_ids": ["nope", invoices[0]]}),
            vec!["invoice_ids[0]"],
        ),
        (
            json!({"payer_code": "SANITAS", "invoice_ids": [patient_invoice, invoices[0], invoices[0]]}),
            vec!["invoice_ids[0]", "invoice_ids[2]"],
        ),
        (
            json!({"payer_code": "OTHER", "invoice_ids": [invoices[0]]}),
            vec!["invoice_ids[0]"],
        ),
        (
            json!({"payer_code": "SANITAS", "invoice_ids": [uuid::Uuid::now_v7()]}),
            vec!["invoice_ids[0]"],
        ),
    ];
    for (body, expected) in cases {
        let (s, p, _) = call(&app, post("/v1/e-billings", &t, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert_eq!(fields(&p), expected, "{body}: {p}");
    }
    let (s, p, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": [invoices[0]], "extra": 1}),
        ),
    )
    .await;
    assert_eq!(
        (s, fields(&p)),
        (StatusCode::UNPROCESSABLE_ENTITY, vec!["extra".to_owned()]),
        "{p}"
    );
    let (s, _, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &token(&["auditor"], None),
            &json!({"payer_code": "SANITAS", "invoice_ids": [invoices[0]]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A filter of no match, or of a provider outside the caller's scope, claims nothing.
    let scoped = token(&["biller"], Some(&["H2"]));
    for (tok, provider) in [(&t, "H2"), (&scoped, "SPR")] {
        let body = json!({"payer_code": "SANITAS", "filter": {"provider": provider}});
        let (s, p, _) = call(&app, post("/v1/e-billings", tok, &body)).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("no_claimable_entries")
            ),
            "{provider}"
        );
    }
    let (_, list, _) = call(&app, get("/v1/e-billings", &t)).await;
    assert_eq!(items(&list).len(), 0, "nothing was made");
    let (_, entries, _) = call(&app, get("/v1/claimable-entries?payer=SANITAS", &t)).await;
    assert_eq!(items(&entries).len(), 1, "nothing was claimed");
    let (s, _, _) = call(&app, get("/v1/e-billings/not-an-id", &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, p, _) = call(
        &app,
        get(
            &format!("/v1/e-billings/{}/claims?cursor=zz", uuid::Uuid::now_v7()),
            &t,
        ),
    )
    .await;
    assert!(
        s == StatusCode::UNPROCESSABLE_ENTITY || s == StatusCode::NOT_FOUND,
        "{p}"
    );
}

/// GETs an e-billing's file: 200 `application/edi-x12` with its name and ETag; written to
/// `$CAREBILL_X12_OUT/<backend>-<name>` when set.
async fn x12_file(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    url: &str,
    tok: &str,
    backend: Backend,
) -> (String, String, String) {
    let resp = actix_web::test::call_service(app, get(url, tok).to_request()).await;
    if resp.status() != StatusCode::OK {
        let status = resp.status();
        let body = actix_web::test::read_body(resp).await;
        panic!("{url}: {status} {}", String::from_utf8_lossy(&body));
    }
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "application/edi-x12");
    let disposition = header("content-disposition");
    let etag = header("etag");
    let name = disposition
        .split("filename=\"")
        .nth(1)
        .and_then(|n| n.strip_suffix('"'))
        .expect("a file name")
        .to_owned();
    let body = actix_web::test::read_body(resp).await;
    let body = String::from_utf8(body.to_vec()).expect("X12 is text");
    if let Ok(dir) = std::env::var("CAREBILL_X12_OUT") {
        std::fs::write(format!("{dir}/{backend:?}-{name}"), &body).expect("written");
    }
    (name, etag, body)
}

/// ISA13 of an interchange (the ISA is fixed width: its elements never move).
fn isa13(x12: &str) -> u32 {
    x12.split('*')
        .nth(13)
        .and_then(|n| n.parse().ok())
        .expect("ISA13")
}

async fn a_ready_e_billing_is_sent_as_its_837_and_276_the_same_bytes_every_time(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["biller"], None);
    let w = world("SPR");
    let invoices = payer_invoices(&h.db, &w, 3).await;
    let (s, _, _) = call(
        &app,
        put("/v1/e-billing-settings/SANITAS", &admin(), &uhc()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    for e in master_data(&w) {
        deliver(&h.db, e).await.expect("kept");
    }
    let (_, list, _) = call(&app, get("/v1/invoices?limit=500", &t)).await;
    let number_of = |id: &str| {
        items(&list)
            .into_iter()
            .find(|i| i["id"] == id)
            .and_then(|i| i["number"].as_str().map(str::to_owned))
            .expect("number")
    };
    let (s, e, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": [invoices[0], invoices[1]]}),
        ),
    )
    .await;
    assert_eq!(
        (s, e["status"].as_str()),
        (StatusCode::CREATED, Some("ready")),
        "{e}"
    );
    let id = e["id"].as_str().expect("id").to_owned();
    let number = e["number"].as_str().expect("number").to_owned();

    // The status request asks about sent claims only.
    let (s, p, _) = call(&app, get(&format!("/v1/e-billings/{id}/request"), &t)).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("e_billing_not_sent"))
    );
    // Readers may not send it.
    let (s, _, _) = call(
        &app,
        get(
            &format!("/v1/e-billings/{id}/file"),
            &token(&["auditor"], None),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The first download sends it.
    let (name, etag, file) = x12_file(&app, &format!("/v1/e-billings/{id}/file"), &t, b).await;
    assert_eq!(name, format!("{number}.837"));
    assert!(file.starts_with("ISA*00*"), "{file}");
    assert!(
        file.contains("~ST*837*") && file.contains("*005010X222A1~"),
        "{file}"
    );
    assert_eq!(isa13(&file), 1);
    for invoice in &invoices[..2] {
        assert!(
            file.contains(&format!("~CLM*{}*100***", number_of(invoice))),
            "{file}"
        );
    }
    assert!(
        !file.contains(&number_of(&invoices[2])),
        "only the e-billing's invoices"
    );
    assert!(file.contains("~NM1*85*2*"), "the billing provider");
    assert!(file.contains("*XX*1234567893~"), "by its NPI");
    assert!(
        file.contains("~NM1*PR*2*UNITEDHEALTHCARE*****PI*87726~"),
        "{file}"
    );
    assert!(file.contains("~SV1*HC:85018*100*UN*2***1~"), "{file}");
    assert!(
        file.contains(&format!("~BHT*0019*00*{number}*")),
        "BHT03 is the e-billing's number"
    );
    let (_, again_tag, again) = x12_file(&app, &format!("/v1/e-billings/{id}/file"), &t, b).await;
    assert_eq!(
        (again_tag, &again),
        (etag.clone(), &file),
        "the same bytes again"
    );
    let (_, e, _) = call(&app, get(&format!("/v1/e-billings/{id}"), &t)).await;
    assert_eq!(e["status"], "sent");
    assert!(e["sent_at"].is_string());
    let (_, claims, _) = call(&app, get(&format!("/v1/e-billings/{id}/claims"), &t)).await;
    assert!(
        items(&claims).iter().all(|c| c["status"] == "submitted"),
        "{claims}"
    );
    for step in ["check", "cancel"] {
        let (s, p, _) = call(
            &app,
            post(&format!("/v1/e-billings/{id}/{step}"), &t, &json!({})),
        )
        .await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::CONFLICT, Some("e_billing_closed")),
            "{step}"
        );
    }
    let sent = outbox_bodies(&h.db, "carebill.invoicing.e_billing.sent.v1").await;
    assert_eq!(sent.len(), 1, "announced once");
    let event = &sent[0]["data"];
    assert_eq!(
        (event["number"].as_str(), event["payer_id"].as_str()),
        (Some(number.as_str()), Some("87726"))
    );
    assert_eq!(event["interchange_control_number"], 1);
    assert_eq!(event["claims"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        event["claims"][0]["patient_control_number"].as_str(),
        Some(number_of(&invoices[0]).as_str())
    );
    assert_eq!(event["claims"][0]["transaction_control_number"], "0001");
    assert_eq!(
        event["claims"][0]["charge"],
        json!({"amount": "100.00", "currency": "USD"})
    );

    // The 276 asks about the same claims, under the next control number.
    let (name, _, request) = x12_file(&app, &format!("/v1/e-billings/{id}/request"), &t, b).await;
    assert_eq!(name, format!("{number}.276"));
    assert!(
        request.contains("~ST*276*") && request.contains("*005010X212~"),
        "{request}"
    );
    assert_eq!(isa13(&request), 2);
    assert!(
        request.contains(&format!("~TRN*1*{}~", number_of(&invoices[0]))),
        "{request}"
    );
    let (_, _, request_again) =
        x12_file(&app, &format!("/v1/e-billings/{id}/request"), &t, b).await;
    assert_eq!(request_again, request);

    // The submitter's next e-billing takes the next control numbers.
    let (_, e2, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": [invoices[2]]}),
        ),
    )
    .await;
    let id2 = e2["id"].as_str().expect("id").to_owned();
    // But not while a claim has gaps: the location's NPI broke since it was checked.
    let mut location = w.location.clone();
    location.billing = None;
    deliver(
        &h.db,
        accounts_event(&carebill_domain::events::LocationChangedV1 {
            location,
            claims: Some(
                serde_json::from_value(
                    json!({"npi": "1234567890", "ein": "123456789", "place_of_service": "22"}),
                )
                .expect("claims"),
            ),
            changed_at: chrono::Utc::now() + chrono::Duration::seconds(1),
        }),
    )
    .await
    .expect("kept");
    let (s, p, _) = call(&app, get(&format!("/v1/e-billings/{id2}/file"), &t)).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("e_billing_incomplete")),
        "{p}"
    );
    let (_, e2, _) = call(&app, get(&format!("/v1/e-billings/{id2}"), &t)).await;
    assert_eq!(e2["status"], "ready", "nothing was sent");
    assert_eq!(
        outbox_bodies(&h.db, "carebill.invoicing.e_billing.sent.v1")
            .await
            .len(),
        1
    );
    // The location fixed (only it: a second DR-ROSSI would make the name ambiguous).
    let fixed = master_data_at(&w, chrono::Utc::now() + chrono::Duration::seconds(2))
        .into_iter()
        .next()
        .expect("the location's event");
    deliver(&h.db, fixed).await.expect("kept");
    let (_, _, file2) = x12_file(&app, &format!("/v1/e-billings/{id2}/file"), &t, b).await;
    assert_eq!(isa13(&file2), 3, "after the first e-billing's 837 and 276");
    // Nobody outside its scope downloads it.
    let (s, _, _) = call(
        &app,
        get(
            &format!("/v1/e-billings/{id}/file"),
            &token(&["biller"], Some(&["H2"])),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Opens a response interchange from the clearinghouse (or payer) `sender` to our submitter
/// S123, with one group.
fn response_writer(
    sender: &str,
    control_number: u32,
    functional_id: &'static str,
    version: &'static str,
) -> carebill_x12::Writer {
    let at = chrono::Utc::now().naive_utc();
    let mut w = carebill_x12::Writer::new(&carebill_x12::InterchangeHeader {
        sender_qualifier: "ZZ".into(),
        sender_id: sender.into(),
        receiver_qualifier: "ZZ".into(),
        receiver_id: "S123".into(),
        date: at.date(),
        time: at.time(),
        control_number,
        acknowledgement_requested: false,
        usage: carebill_x12::Usage::Test,
    })
    .expect("ISA");
    w.begin_group(&carebill_x12::GroupHeader {
        functional_id,
        sender_code: sender.into(),
        receiver_code: "S123".into(),
        date: at.date(),
        time: at.time(),
        control_number,
        version,
    })
    .expect("GS");
    w
}

/// A 999 answering group `group`, transaction 0001 of our 837: accepted, or rejected for the
/// billing provider's NPI.
fn acknowledgement_999(group: &str, accepted: bool) -> String {
    let mut w = response_writer("R987", 901, "FA", "005010X231A1");
    w.begin_transaction("999", "0001", Some("005010X231A1"))
        .expect("ST");
    w.segment("AK1")
        .code("HC")
        .code(group)
        .code("005010X222A1")
        .end();
    w.segment("AK2")
        .code("837")
        .code("0001")
        .code("005010X222A1")
        .end();
    if !accepted {
        w.segment("IK3")
            .code("NM1")
            .code("8")
            .code("2010AA")
            .code("8")
            .end();
        w.segment("IK4")
            .code("9")
            .code("67")
            .code("7")
            .code("1234567890")
            .end();
    }
    w.segment("IK5")
        .code(if accepted { "A" } else { "R" })
        .code_opt((!accepted).then_some("5"))
        .end();
    w.segment("AK9")
        .code(if accepted { "A" } else { "R" })
        .code("1")
        .code("1")
        .code(if accepted { "1" } else { "0" })
        .end();
    w.end_transaction().expect("SE");
    w.end_group().expect("GE");
    w.finish().expect("IEA")
}

/// A 277CA from the payer: for each claim, its patient control number, charge, claim number
/// when accepted, and STC01 (`A2:20` accepted, `A7:562:85` rejected for the billing NPI).
fn claim_acknowledgement_277ca(claims: &[(&str, &str, Option<&str>, &[&str])]) -> String {
    let today = chrono::Utc::now().date_naive();
    let mut w = response_writer("87726", 902, "HN", "005010X214");
    w.begin_transaction("277", "0001", Some("005010X214"))
        .expect("ST");
    w.segment("BHT")
        .code("0085")
        .code("08")
        .code("CA-1")
        .date(today)
        .code("1200")
        .code("TH")
        .end();
    w.segment("HL")
        .code("1")
        .empty(1)
        .code("20")
        .code("1")
        .end();
    w.segment("NM1")
        .code("PR")
        .code("2")
        .text("UNITEDHEALTHCARE", 60)
        .empty(4)
        .code("PI")
        .code("87726")
        .end();
    w.segment("TRN").code("1").code("CA-TRACE-1").end();
    w.segment("DTP").code("050").code("D8").date(today).end();
    w.segment("DTP").code("009").code("D8").date(today).end();
    w.segment("HL")
        .code("2")
        .code("1")
        .code("21")
        .code("1")
        .end();
    w.segment("NM1")
        .code("41")
        .code("2")
        .text("SPRINGFIELD GENERAL", 60)
        .empty(4)
        .code("46")
        .code("S123")
        .end();
    w.segment("TRN").code("2").code("BATCH-1").end();
    w.segment("STC")
        .composite(&["A1", "19", "PR"])
        .date(today)
        .code("WQ")
        .code("300")
        .end();
    w.segment("HL")
        .code("3")
        .code("2")
        .code("19")
        .code("1")
        .end();
    w.segment("NM1")
        .code("85")
        .code("2")
        .text("SPRINGFIELD GENERAL HOSPITAL", 60)
        .empty(4)
        .code("XX")
        .code("1234567893")
        .end();
    w.segment("TRN").code("1").code("PROVIDER-1").end();
    w.segment("STC")
        .composite(&["A1", "19", "PR"])
        .empty(1)
        .code("WQ")
        .code("300")
        .end();
    for (n, (pcn, charge, icn, stc)) in claims.iter().enumerate() {
        w.segment("HL")
            .code(&(4 + n).to_string())
            .code("3")
            .code("PT")
            .end();
        w.segment("NM1")
            .code("QC")
            .code("1")
            .text("DOE", 60)
            .text("JANE", 35)
            .empty(3)
            .code("MI")
            .code("SANITAS-POL-1")
            .end();
        w.segment("TRN").code("2").code(pcn).end();
        let accepted = stc[0] == "A2";
        w.segment("STC")
            .composite(stc)
            .date(today)
            .code(if accepted { "WQ" } else { "U" })
            .code(charge)
            .end();
        if let Some(icn) = icn {
            w.segment("REF").code("1K").code(icn).end();
        }
        w.segment("DTP")
            .code("472")
            .code("RD8")
            .date_range(today, today)
            .end();
    }
    w.end_transaction().expect("SE");
    w.end_group().expect("GE");
    w.finish().expect("IEA")
}

fn x12_post(path: &str, tok: &str, body: &str) -> actix_web::test::TestRequest {
    actix_web::test::TestRequest::post()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {tok}")))
        .insert_header(("content-type", "application/edi-x12"))
        .set_payload(body.to_owned())
}

async fn what_comes_back_moves_the_claims_and_the_same_file_twice_changes_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["biller"], None);
    let w = world("SPR");
    let invoices = payer_invoices(&h.db, &w, 2).await;
    let (s, _, _) = call(
        &app,
        put("/v1/e-billing-settings/SANITAS", &admin(), &uhc()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    for e in master_data(&w) {
        deliver(&h.db, e).await.expect("kept");
    }
    let (_, e, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": invoices}),
        ),
    )
    .await;
    let id = e["id"].as_str().expect("id").to_owned();
    let (_, _, file) = x12_file(&app, &format!("/v1/e-billings/{id}/file"), &t, b).await;
    let group = file
        .split('~')
        .find(|s| s.starts_with("GS*"))
        .and_then(|gs| gs.split('*').nth(6))
        .expect("GS06")
        .to_owned();
    let (_, claims, _) = call(&app, get(&format!("/v1/e-billings/{id}/claims"), &t)).await;
    let numbers: Vec<String> = items(&claims)
        .iter()
        .map(|c| c["invoice_number"].as_str().expect("number").to_owned())
        .collect();
    let save = |name: &str, body: &str| {
        if let Ok(dir) = std::env::var("CAREBILL_X12_OUT") {
            std::fs::write(format!("{dir}/{b:?}-{name}"), body).expect("written");
        }
    };
    let url = "/v1/e-billings/responses";

    // The clearinghouse took the transaction.
    let ack = acknowledgement_999(&group, true);
    save("accepted.999", &ack);
    let (s, r, _) = call(&app, x12_post(url, &t, &ack)).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        (
            r["kind"].as_str(),
            r["matched"].as_i64(),
            r["unmatched"].as_i64()
        ),
        (Some("999"), Some(2), Some(0)),
        "{r}"
    );
    assert!(
        items(&r).iter().all(|i| i["status"] == "acknowledged"),
        "{r}"
    );

    // The payer accepted one claim and rejected the other; a third it names we never sent.
    let ca = claim_acknowledgement_277ca(&[
        (&numbers[0], "100", Some("ICN-0001"), &["A2", "20"]),
        (&numbers[1], "100", None, &["A7", "562", "85"]),
        ("SPR-INV-1999-000001", "50", None, &["A2", "20"]),
    ]);
    save("claims.277ca", &ca);
    let (s, r, _) = call(&app, x12_post(url, &t, &ca)).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(
        (
            r["kind"].as_str(),
            r["matched"].as_i64(),
            r["unmatched"].as_i64()
        ),
        (Some("277CA"), Some(2), Some(1)),
        "{r}"
    );
    let response_id = r["id"].as_str().expect("id").to_owned();
    let item = |n: usize| r["items"][n].clone();
    assert_eq!(
        (
            item(0)["status"].as_str(),
            item(0)["payer_claim_number"].as_str()
        ),
        (Some("accepted"), Some("ICN-0001"))
    );
    assert_eq!(item(1)["status"], "rejected");
    assert_eq!(item(1)["codes"], json!(["A7:562:85"]));
    assert_eq!(
        (item(2)["matched"].as_bool(), item(2)["claim_id"].as_str()),
        (Some(false), None)
    );
    assert!(
        item(2)["note"]
            .as_str()
            .is_some_and(|n| n.contains("SPR-INV-1999-000001"))
    );
    assert!(
        item(2)["position"].as_u64().is_some_and(|p| p > 1),
        "the TRN's position"
    );
    let (_, claims, _) = call(&app, get(&format!("/v1/e-billings/{id}/claims"), &t)).await;
    assert_eq!(
        (
            claims["items"][0]["status"].as_str(),
            claims["items"][0]["payer_claim_number"].as_str(),
            claims["items"][0]["active"].as_bool()
        ),
        (Some("accepted"), Some("ICN-0001"), Some(true))
    );
    assert_eq!(
        (
            claims["items"][1]["status"].as_str(),
            claims["items"][1]["active"].as_bool()
        ),
        (Some("rejected"), Some(false))
    );
    // The rejected claim's invoice can be claimed again; the accepted one's cannot.
    let (_, entries, _) = call(&app, get("/v1/claimable-entries?payer=SANITAS", &t)).await;
    let claimable: Vec<&str> = items(&entries)
        .iter()
        .filter_map(|e| e["invoice_number"].as_str())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|n| if n == numbers[1] { "rejected" } else { "other" })
        .collect();
    assert_eq!(claimable, ["rejected"], "{entries}");

    // The same file again: the first import, nothing moved twice.
    let (s, again, _) = call(&app, x12_post(url, &t, &ca)).await;
    assert_eq!(
        (s, again["id"].as_str()),
        (StatusCode::OK, Some(response_id.as_str()))
    );
    let (s, read, _) = call(&app, get(&format!("{url}/{response_id}"), &t)).await;
    assert_eq!(
        (s, read["items"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(3))
    );

    // Collections posts the payer's 835: the accepted claim is paid, with its history. (The
    // 835 reached collections before it knew the claim was sent, so it names the invoice only;
    // the rejected claim's invoice, which no active claim holds, is left out.)
    let paid_claim = claims["items"][0]["id"].as_str().expect("claim").to_owned();
    let posted = carebill_domain::events::Envelope::new(
        "collections",
        &serde_json::from_value::<carebill_domain::events::RemittancePostedV1>(json!({
            "remittance_id": "0199a000-0000-7000-8000-000000000001", "payer_code": "SANITAS",
            "payer_id": "87726", "trace_number": "CHK-1", "paid_on": "2026-12-08",
            "total": {"amount": "80.00", "currency": "USD"},
            "claims": [{"remittance_claim_id": "r1", "invoice_id": claims["items"][0]["invoice_id"],
                "claim_id": null, "patient_control_number": numbers[0], "payer_claim_number": "ICN-0001",
                "status_code": "1", "status": "posted", "charge": {"amount": "100.00", "currency": "USD"},
                "paid": {"amount": "80.00", "currency": "USD"},
                "patient_responsibility": {"amount": "0.00", "currency": "USD"},
                "patient_share": {"amount": "0.00", "currency": "USD"},
                "adjustments": [{"group": "CO", "reason": "45", "amount": {"amount": "20.00", "currency": "USD"},
                    "posted": {"amount": "20.00", "currency": "USD"}}], "lines": []},
                {"remittance_claim_id": "r2", "invoice_id": claims["items"][1]["invoice_id"], "claim_id": null,
                "patient_control_number": "ELSEWHERE-1", "payer_claim_number": "ICN-X", "status_code": "1",
                "status": "posted", "charge": {"amount": "10.00", "currency": "USD"},
                "paid": {"amount": "10.00", "currency": "USD"},
                "patient_responsibility": {"amount": "0.00", "currency": "USD"},
                "patient_share": {"amount": "0.00", "currency": "USD"}, "adjustments": [], "lines": []}],
            "posted_by": "pablo", "posted_at": "2026-12-08T10:00:00Z"}))
        .expect("remittance posted"),
        chrono::Utc::now(),
        None,
        None,
    )
    .expect("envelope");
    deliver(&h.db, posted.clone()).await.expect("applied");
    deliver(&h.db, posted).await.expect("applied once");
    let (s, c, _) = call(&app, get(&format!("/v1/e-billing-claims/{paid_claim}"), &t)).await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "paid", "{c}");
    let kinds: Vec<&str> = c["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|h| h["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["999", "277CA", "835"], "{c}");
    assert_eq!(c["history"][2]["codes"], json!(["CLP02:1", "CO-45:20.00"]));
    assert!(
        c["history"][2]["note"]
            .as_str()
            .is_some_and(|n| n.contains("80.00 USD of 100.00 USD")),
        "{c}"
    );
    let (_, claims, _) = call(&app, get(&format!("/v1/e-billings/{id}/claims"), &t)).await;

    // Bad files are refused and change nothing.
    let mut lying = ca.replace("SE*", "SE*9");
    lying.push('\n');
    let bad = [
        ("hello", "not_x12"),
        (lying.as_str(), "x12_envelope_invalid"),
        (file.as_str(), "x12_unsupported"),
    ];
    for (body, code) in bad {
        let (s, p, _) = call(&app, x12_post(url, &t, body)).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{p}"
        );
    }
    let (s, _, _) = call(&app, post(url, &t, &json!({"x12": ack}))).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (s, _, _) = call(&app, x12_post(url, &token(&["auditor"], None), &ack)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A file may name any provider's claims: a biller of one location neither imports nor reads it.
    let scoped = token(&["biller"], Some(&["SPR"]));
    let (s, _, _) = call(&app, x12_post(url, &scoped, &ack)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(&app, get(&format!("{url}/{response_id}"), &scoped)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let big = format!("{ca}{}", " ".repeat(8 * 1024 * 1024));
    let (s, p, _) = call(&app, x12_post(url, &t, &big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
    let (_, claims_after, _) = call(&app, get(&format!("/v1/e-billings/{id}/claims"), &t)).await;
    assert_eq!(claims_after, claims, "nothing moved");
}

/// A problem's errors as (field, code).
fn field_codes(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .expect("a problem with errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().expect("field").to_owned(),
                e["code"].as_str().expect("code").to_owned(),
            )
        })
        .collect()
}

/// The lines of an invoice: each one's consumption id.
async fn consumptions_of(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    invoice: &str,
) -> Vec<String> {
    let (s, inv, _) = call(app, get(&format!("/v1/invoices/{invoice}"), &admin())).await;
    assert_eq!(s, StatusCode::OK, "{inv}");
    inv["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            l["consumption_id"]
                .as_str()
                .expect("consumption")
                .to_owned()
        })
        .collect()
}

async fn a_claim_credited_after_it_was_sent_is_replaced_or_voided_naming_the_payers_claim(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["biller"], None);
    let w = world("COR");
    let pat = PartyRef::patient(w.patient.id);
    // Three settlements, each a 100.00 hemoglobin test of which SANITAS is billed 80.00.
    let settlements: Vec<SettlementId> = (0..3).map(|_| SettlementId::new()).collect();
    let lab = |c: ConsumptionId| line(c, "LAB-HB", 10_000, &[(&w.sanitas, 8_000), (&pat, 2_000)]);
    let consumptions: Vec<ConsumptionId> = (0..3).map(|_| ConsumptionId::new()).collect();
    for (s, c) in settlements.iter().zip(&consumptions) {
        deliver(
            &h.db,
            envelope(&in_dollars(approval(&w, *s, 1, vec![lab(*c)]))),
        )
        .await
        .expect("approved");
    }
    let (s, _, _) = call(
        &app,
        put("/v1/e-billing-settings/SANITAS", &admin(), &uhc()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    for e in master_data(&w) {
        deliver(&h.db, e).await.expect("kept");
    }
    let payer_invoices = |list: &Value| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = items(list)
            .into_iter()
            .filter(|i| i["recipient"]["payer_code"] == "SANITAS")
            .map(|i| {
                (
                    i["id"].as_str().expect("id").to_owned(),
                    i["number"].as_str().expect("number").to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let (_, list, _) = call(&app, get("/v1/invoices?limit=500", &t)).await;
    let invoices = payer_invoices(&list);
    let [(a, a_no), (b_id, b_no), (c, c_no)] =
        <[(String, String); 3]>::try_from(invoices).expect("three");
    let settlement_of = |id: &str| {
        items(&list)
            .into_iter()
            .find(|i| i["id"] == id)
            .and_then(|i| i["settlement"]["id"].as_str().map(str::to_owned))
            .expect("settlement")
    };
    let c_settlement: SettlementId = settlement_of(&c).parse().expect("id");

    // The three are claimed and sent; the payer acknowledges two with its claim numbers.
    let (s, e, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": [a, b_id, c]}),
        ),
    )
    .await;
    assert_eq!(
        (s, e["status"].as_str()),
        (StatusCode::CREATED, Some("ready")),
        "{e}"
    );
    let first = e["id"].as_str().expect("id").to_owned();
    let (_, _, sent) = x12_file(&app, &format!("/v1/e-billings/{first}/file"), &t, b).await;
    assert!(
        sent.contains(&format!("~CLM*{a_no}*100***22:B:1*")),
        "{sent}"
    );
    let ca = claim_acknowledgement_277ca(&[
        (&b_no, "100", Some("ICN-B-1"), &["A2", "20"]),
        (&c_no, "100", Some("ICN-C-1"), &["A2", "20"]),
    ]);
    let (s, r, _) = call(&app, x12_post("/v1/e-billings/responses", &t, &ca)).await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let (_, claims, _) = call(&app, get(&format!("/v1/e-billings/{first}/claims"), &t)).await;
    let claim_of = |invoice: &str| {
        items(&claims)
            .into_iter()
            .find(|c| c["invoice_id"] == invoice)
            .and_then(|c| c["id"].as_str().map(str::to_owned))
            .expect("claim")
    };
    let (a_claim, b_claim, c_claim) = (claim_of(&a), claim_of(&b_id), claim_of(&c));
    let claimable = get("/v1/claimable-entries?payer=SANITAS", &t);
    let (_, entries, _) = call(&app, claimable).await;
    assert_eq!(
        items(&entries),
        Vec::<Value>::new(),
        "all claimed: {entries}"
    );

    // A: 30.00 of its line credited; B: credited whole, withdrawn; C: credited whole to be
    // invoiced again.
    let credit =
        |id: &str, body: Value| post(&format!("/v1/invoices/{id}/credit-notes"), &admin(), &body);
    let a_line = consumptions_of(&app, &a).await;
    let (s, cn, _) = call(
        &app,
        credit(
            &a,
            json!({"reason": "one test billed twice", "reissue": false,
            "lines": [{"consumption_id": a_line[0], "amount": "30.00"}]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let a_note = cn["id"].as_str().expect("id").to_owned();
    let (s, cn, _) = call(
        &app,
        credit(
            &b_id,
            json!({"reason": "not our patient", "reissue": false}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let b_note = cn["id"].as_str().expect("id").to_owned();
    let (s, cn, _) = call(
        &app,
        credit(&c, json!({"reason": "wrong price", "reissue": true})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let c_note = cn["id"].as_str().expect("id").to_owned();

    let (_, entries, _) = call(&app, get("/v1/claimable-entries?payer=SANITAS", &t)).await;
    let kinds: Vec<(String, String, String)> = items(&entries)
        .into_iter()
        .map(|e| {
            (
                e["invoice_id"].as_str().expect("id").to_owned(),
                e["claim_kind"].as_str().expect("kind").to_owned(),
                e["corrects_claim_id"]
                    .as_str()
                    .expect("corrects")
                    .to_owned(),
            )
        })
        .collect();
    let a_entry = &items(&entries)[0];
    assert_eq!(
        (&a_entry["charge"]["amount"], &a_entry["billed"]["amount"]),
        (&json!("70.00"), &json!("50.00")),
        "as the replacement asks it: {a_entry}"
    );
    assert_eq!(
        kinds,
        vec![
            (a.clone(), "replacement".to_owned(), a_claim.clone()),
            (b_id.clone(), "void".to_owned(), b_claim.clone()),
        ],
        "C waits for its corrective invoice: {entries}"
    );
    // C's settlement is invoiced again: its corrective invoice replaces C's claim.
    deliver(
        &h.db,
        envelope(&in_dollars(approval(
            &w,
            c_settlement,
            2,
            vec![lab(consumptions[2])],
        ))),
    )
    .await
    .expect("v2");
    let (_, list, _) = call(&app, get("/v1/invoices?limit=500&status=issued", &t)).await;
    let (c2, c2_no) = payer_invoices(&list)
        .into_iter()
        .find(|(id, _)| *id != a)
        .expect("the corrective invoice");
    let (_, entries, _) = call(&app, get("/v1/claimable-entries?payer=SANITAS", &t)).await;
    let c2_entry = items(&entries)
        .into_iter()
        .find(|e| e["invoice_id"] == c2.as_str())
        .expect("C2 claimable");
    assert_eq!(
        (&c2_entry["claim_kind"], &c2_entry["corrects_claim_id"]),
        (&json!("replacement"), &json!(c_claim))
    );

    // The corrections lack A's payer claim number (no 277CA gave it): a gap at REF*F8
    // pointing at A's claim.
    let (s, e, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "filter": {"provider": "COR"}}),
        ),
    )
    .await;
    assert_eq!(
        (s, e["status"].as_str(), e["claim_count"].as_i64()),
        (StatusCode::CREATED, Some("missing_info"), Some(3)),
        "{e}"
    );
    let second = e["id"].as_str().expect("id").to_owned();
    let (_, missing, _) = call(
        &app,
        get(&format!("/v1/e-billings/{second}/missing-info"), &t),
    )
    .await;
    let gaps = items(&missing);
    assert_eq!(gaps.len(), 1, "{missing}");
    assert_eq!(
        (&gaps[0]["loop"], &gaps[0]["element"], &gaps[0]["resource"]),
        (&json!("2300"), &json!("REF02"), &json!("e_billing_claim"))
    );
    assert_eq!(gaps[0]["href"], format!("/v1/e-billing-claims/{a_claim}"));
    // Asking for an invoice already in it names the e-billing.
    let (s, p, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": [a]}),
        ),
    )
    .await;
    assert_eq!(
        (s, field_codes(&p)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![("invoice_ids[0]".to_owned(), "already_claimed".to_owned())]
        ),
        "{p}"
    );

    // The number is typed from the payer's portal: bad input changes nothing; a claim not
    // sent has no payer number.
    let url = format!("/v1/e-billing-claims/{a_claim}/payer-claim-number");
    let (s, p, _) = call(
        &app,
        put(
            &url,
            &t,
            &json!({"payer_claim_number": "ICN*A~1", "reason": " "}),
        ),
    )
    .await;
    assert_eq!(
        (s, field_codes(&p)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![
                ("payer_claim_number".to_owned(), "invalid".to_owned()),
                ("reason".to_owned(), "invalid".to_owned())
            ]
        ),
        "{p}"
    );
    let (_, claims2, _) = call(&app, get(&format!("/v1/e-billings/{second}/claims"), &t)).await;
    let open_claim = items(&claims2)[0]["id"].as_str().expect("id").to_owned();
    let (s, p, _) = call(
        &app,
        put(
            &format!("/v1/e-billing-claims/{open_claim}/payer-claim-number"),
            &t,
            &json!({"payer_claim_number": "X", "reason": "typo"}),
        ),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("e_billing_not_sent"))
    );
    let (s, put_claim, _) = call(
        &app,
        put(
            &url,
            &t,
            &json!({"payer_claim_number": " ICN-A-1 ", "reason": "read from the payer's portal"}),
        ),
    )
    .await;
    assert_eq!(
        (s, put_claim["payer_claim_number"].as_str()),
        (StatusCode::OK, Some("ICN-A-1")),
        "{put_claim}"
    );
    let (_, trail, _) = call(
        &app,
        get(
            &format!("/v1/invoicing/audit-events?entity_type=e_billing_claim&entity_id={a_claim}"),
            &admin(),
        ),
    )
    .await;
    assert_eq!(
        items(&trail)[0]["reason"],
        "read from the payer's portal",
        "{trail}"
    );

    // Checked again, it is ready; its 837 replaces A (70.00 left), voids B as it was claimed
    // and replaces C by C2, each naming the payer's claim.
    let (s, e, _) = call(
        &app,
        post(&format!("/v1/e-billings/{second}/check"), &t, &json!({})),
    )
    .await;
    assert_eq!(
        (s, e["status"].as_str()),
        (StatusCode::OK, Some("ready")),
        "{e}"
    );
    let (_, claims2, _) = call(&app, get(&format!("/v1/e-billings/{second}/claims"), &t)).await;
    let by_invoice = |id: &str| {
        items(&claims2)
            .into_iter()
            .find(|c| c["invoice_id"] == id)
            .expect("claim")
    };
    for (invoice, frequency, note, corrects, charge) in [
        (&a, "7", &a_note, &a_claim, "70.00"),
        (&b_id, "8", &b_note, &b_claim, "100.00"),
        (&c2, "7", &c_note, &c_claim, "100.00"),
    ] {
        let claim = by_invoice(invoice);
        assert_eq!(
            (
                &claim["frequency"],
                &claim["credit_note_id"],
                &claim["corrects_claim_id"],
                &claim["charge"]["amount"]
            ),
            (
                &json!(frequency),
                &json!(note),
                &json!(corrects),
                &json!(charge)
            ),
            "{claim}"
        );
    }
    let (_, _, file) = x12_file(&app, &format!("/v1/e-billings/{second}/file"), &t, b).await;
    for expected in [
        format!("~CLM*{a_no}*70***22:B:7*"),
        "~REF*F8*ICN-A-1~".to_owned(),
        format!("~CLM*{b_no}*100***22:B:8*"),
        "~REF*F8*ICN-B-1~".to_owned(),
        format!("~CLM*{c2_no}*100***22:B:7*"),
        "~REF*F8*ICN-C-1~".to_owned(),
    ] {
        assert!(file.contains(&expected), "{expected} in {file}");
    }
    assert!(
        !file.contains(&format!("~CLM*{c_no}*")),
        "C itself is not claimed again"
    );
    // Sent: nothing left to correct.
    let (_, entries, _) = call(&app, get("/v1/claimable-entries?payer=SANITAS", &t)).await;
    assert_eq!(items(&entries), Vec::<Value>::new(), "{entries}");
    let (s, p, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": [b_id]}),
        ),
    )
    .await;
    assert_eq!(
        (s, field_codes(&p)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![("invoice_ids[0]".to_owned(), "cancelled".to_owned())]
        ),
        "a voided invoice: {p}"
    );

    // A late 835 for A's first claim (the payer's number ICN-A-1), which collections names by
    // A's latest claim, the replacement: the payer's claim number says which it answers.
    let replacement = by_invoice(&a)["id"].as_str().expect("id").to_owned();
    let usd = |v: &str| json!({"amount": v, "currency": "USD"});
    let posted = carebill_domain::events::Envelope::new(
        "collections",
        &serde_json::from_value::<carebill_domain::events::RemittancePostedV1>(json!({
            "remittance_id": "0199a000-0000-7000-8000-000000000003", "payer_code": "SANITAS",
            "payer_id": "87726", "trace_number": "CHK-3", "paid_on": "2026-12-10", "total": usd("80.00"),
            "claims": [{"remittance_claim_id": "r1", "invoice_id": a, "claim_id": replacement,
                "patient_control_number": a_no, "payer_claim_number": "ICN-A-1", "status_code": "1",
                "status": "posted", "charge": usd("100.00"), "paid": usd("80.00"),
                "patient_responsibility": usd("0.00"), "patient_share": usd("0.00"),
                "adjustments": [{"group": "CO", "reason": "45", "amount": usd("20.00"), "posted": usd("20.00")}],
                "lines": []}],
            "posted_by": "pablo", "posted_at": "2026-12-10T10:00:00Z"}))
        .expect("remittance posted"),
        chrono::Utc::now(),
        None,
        None,
    )
    .expect("envelope");
    deliver(&h.db, posted).await.expect("applied");
    for (claim, status) in [(&a_claim, "paid"), (&replacement, "submitted")] {
        let (_, c, _) = call(&app, get(&format!("/v1/e-billing-claims/{claim}"), &t)).await;
        assert_eq!(c["status"], status, "{c}");
    }
}

async fn a_secondary_claim_carries_the_primary_payers_835_and_waits_for_it(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["biller"], None);
    let w = world("SEC");
    let pat = PartyRef::patient(w.patient.id);
    // One 100.00 test: SANITAS (first) is billed 60.00, ADESLAS (second) 30.00, the patient 10.00.
    let consumption = ConsumptionId::new();
    let split = line(
        consumption,
        "LAB-HB",
        10_000,
        &[(&w.sanitas, 6_000), (&w.adeslas, 3_000), (&pat, 1_000)],
    );
    deliver(
        &h.db,
        envelope(&in_dollars(approval(
            &w,
            SettlementId::new(),
            1,
            vec![split],
        ))),
    )
    .await
    .expect("approved");
    let mut second = uhc();
    second["payer_id"] = json!("60054");
    second["payer_name"] = json!("AETNA");
    for (code, settings) in [("SANITAS", uhc()), ("ADESLAS", second)] {
        let (s, _, _) = call(
            &app,
            put(
                &format!("/v1/e-billing-settings/{code}"),
                &admin(),
                &settings,
            ),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED);
    }
    for e in master_data(&w) {
        deliver(&h.db, e).await.expect("kept");
    }
    let ordered = |code: &str, party: &PartyRef, priority: i32| {
        let mut c = coverage(code);
        c.id = party.coverage_id.expect("coverage");
        c.priority = priority;
        c
    };
    deliver(
        &h.db,
        accounts_event(&carebill_domain::events::CoverageChangedV1 {
            patient_id: w.patient.id,
            coverage_id: w.adeslas.coverage_id.expect("coverage"),
            change: "created".to_owned(),
            coverages: vec![
                ordered("SANITAS", &w.sanitas, 1),
                ordered("ADESLAS", &w.adeslas, 2),
            ],
            claims: Vec::new(),
            changed_at: chrono::Utc::now() + chrono::Duration::seconds(1),
        }),
    )
    .await
    .expect("kept");
    let (_, list, _) = call(&app, get("/v1/invoices?limit=500", &t)).await;
    let invoice_of = |code: &str| {
        items(&list)
            .into_iter()
            .find(|i| i["recipient"]["payer_code"] == code)
            .map(|i| {
                (
                    i["id"].as_str().expect("id").to_owned(),
                    i["number"].as_str().expect("no").to_owned(),
                )
            })
            .expect("invoice")
    };
    let ((first, first_no), (secondary, secondary_no)) =
        (invoice_of("SANITAS"), invoice_of("ADESLAS"));

    // The first payer's claim is whole as it is; the second's waits for the first's 835.
    let (s, check, _) = call(&app, get(&format!("/v1/invoices/{first}/claim-check"), &t)).await;
    assert_eq!(
        (s, &check["ready"]),
        (StatusCode::OK, &json!(true)),
        "{check}"
    );
    let (_, check, _) = call(
        &app,
        get(&format!("/v1/invoices/{secondary}/claim-check"), &t),
    )
    .await;
    assert_eq!(check["ready"], false, "{check}");
    let gaps = check["gaps"].as_array().expect("gaps");
    assert_eq!(gaps.len(), 1, "{check}");
    assert_eq!(
        (&gaps[0]["loop"], &gaps[0]["element"]),
        (&json!("2320"), &json!("AMT02"))
    );
    assert_eq!(gaps[0]["href"], format!("/v1/invoices/{first}"));

    // SANITAS's 835 comes (collections posts it): paid 60.00, 10.00 contractual, 30.00 the
    // patient's (what the second payer and the patient were billed).
    let usd = |a: &str| json!({"amount": a, "currency": "USD"});
    let control = consumption.to_string().replace('-', "");
    let posted = carebill_domain::events::Envelope::new(
        "collections",
        &serde_json::from_value::<carebill_domain::events::RemittancePostedV1>(json!({
            "remittance_id": "0199a000-0000-7000-8000-000000000002", "payer_code": "SANITAS",
            "payer_id": "87726", "trace_number": "CHK-2", "paid_on": "2026-12-09", "total": usd("60.00"),
            "claims": [{"remittance_claim_id": "r1", "invoice_id": first, "claim_id": null,
                "patient_control_number": first_no, "payer_claim_number": "ICN-S-1", "status_code": "1",
                "status": "posted", "charge": usd("100.00"), "paid": usd("60.00"),
                "patient_responsibility": usd("30.00"), "patient_share": usd("0.00"),
                "adjustments": [
                    {"group": "CO", "reason": "45", "amount": usd("10.00"), "posted": usd("0.00"), "line": control},
                    {"group": "PR", "reason": "2", "amount": usd("30.00"), "posted": usd("0.00"), "line": control}],
                "lines": [{"control_number": control, "procedure": "HC:85018", "charge": usd("100.00"),
                    "paid": usd("60.00"), "units": "1", "remarks": []}]}],
            "posted_by": "pablo", "posted_at": "2026-12-09T10:00:00Z"}))
        .expect("remittance posted"),
        chrono::Utc::now(),
        None,
        None,
    )
    .expect("envelope");
    deliver(&h.db, posted.clone()).await.expect("applied");
    deliver(&h.db, posted).await.expect("applied once");

    let (_, check, _) = call(
        &app,
        get(&format!("/v1/invoices/{secondary}/claim-check"), &t),
    )
    .await;
    assert_eq!(check["ready"], true, "{check}");
    let (s, e, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "ADESLAS", "invoice_ids": [secondary]}),
        ),
    )
    .await;
    assert_eq!(
        (s, e["status"].as_str()),
        (StatusCode::CREATED, Some("ready")),
        "{e}"
    );
    let id = e["id"].as_str().expect("id");
    let (_, _, file) = x12_file(&app, &format!("/v1/e-billings/{id}/file"), &t, b).await;
    for expected in [
        format!("~CLM*{secondary_no}*100***"),
        "~NM1*PR*2*AETNA*****PI*60054~".to_owned(),
        "~SBR*S*18*".to_owned(),
        "~SBR*P*18*".to_owned(),
        "~AMT*D*60~".to_owned(),
        "~OI***Y***I~".to_owned(),
        "~NM1*PR*2*UNITEDHEALTHCARE*****PI*87726~".to_owned(),
        "~SVD*87726*60*HC:85018**1~".to_owned(),
        "~CAS*CO*45*10~".to_owned(),
        "~CAS*PR*2*30~".to_owned(),
        "~DTP*573*D8*20261209~".to_owned(),
    ] {
        assert!(file.contains(&expected), "{expected} in {file}");
    }
    // The 835 once kept: applying it again added nothing (one 2430 for the one line).
    assert_eq!(file.matches("~SVD*").count(), 1, "{file}");
}

async fn a_corrective_invoice_credited_before_it_was_claimed_voids_the_claim_it_stood_for(
    b: Backend,
) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["biller"], None);
    let w = world("CHN");
    let pat = PartyRef::patient(w.patient.id);
    let settlement = SettlementId::new();
    let consumption = ConsumptionId::new();
    let lab = || {
        line(
            consumption,
            "LAB-HB",
            10_000,
            &[(&w.sanitas, 8_000), (&pat, 2_000)],
        )
    };
    deliver(
        &h.db,
        envelope(&in_dollars(approval(&w, settlement, 1, vec![lab()]))),
    )
    .await
    .expect("approved");
    let (s, _, _) = call(
        &app,
        put("/v1/e-billing-settings/SANITAS", &admin(), &uhc()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    for e in master_data(&w) {
        deliver(&h.db, e).await.expect("kept");
    }
    let payer_invoice = |list: &Value, status: &str| {
        items(list)
            .into_iter()
            .find(|i| i["recipient"]["payer_code"] == "SANITAS" && i["status"] == status)
            .and_then(|i| i["id"].as_str().map(str::to_owned))
            .expect("invoice")
    };
    let (_, list, _) = call(&app, get("/v1/invoices?limit=500", &t)).await;
    let first = payer_invoice(&list, "issued");
    let (s, e, _) = call(
        &app,
        post(
            "/v1/e-billings",
            &t,
            &json!({"payer_code": "SANITAS", "invoice_ids": [first]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let eb = e["id"].as_str().expect("id").to_owned();
    x12_file(&app, &format!("/v1/e-billings/{eb}/file"), &t, b).await;
    let (_, claims, _) = call(&app, get(&format!("/v1/e-billings/{eb}/claims"), &t)).await;
    let claim = items(&claims)[0]["id"].as_str().expect("claim").to_owned();

    // Credited with a reissue; the corrective invoice is credited in turn before anyone claims
    // it, withdrawn for good: the payer's claim of the first is to be voided, by it.
    let credit = |id: &str, reissue: bool| {
        post(
            &format!("/v1/invoices/{id}/credit-notes"),
            &admin(),
            &json!({"reason": "wrong", "reissue": reissue}),
        )
    };
    let (s, _, _) = call(&app, credit(&first, true)).await;
    assert_eq!(s, StatusCode::CREATED);
    deliver(
        &h.db,
        envelope(&in_dollars(approval(&w, settlement, 2, vec![lab()]))),
    )
    .await
    .expect("v2");
    let (_, list, _) = call(&app, get("/v1/invoices?limit=500&status=issued", &t)).await;
    let second = payer_invoice(&list, "issued");
    let (_, entries, _) = call(&app, get("/v1/claimable-entries?payer=SANITAS", &t)).await;
    let kinds: Vec<(Value, Value)> = items(&entries)
        .into_iter()
        .map(|e| (e["invoice_id"].clone(), e["claim_kind"].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![(json!(second), json!("replacement"))],
        "{entries}"
    );
    let (s, cn, _) = call(&app, credit(&second, false)).await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");
    let (_, entries, _) = call(&app, get("/v1/claimable-entries?payer=SANITAS", &t)).await;
    let found: Vec<(Value, Value, Value)> = items(&entries)
        .into_iter()
        .map(|e| {
            (
                e["invoice_id"].clone(),
                e["claim_kind"].clone(),
                e["corrects_claim_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![(json!(second), json!("void"), json!(claim))],
        "{entries}"
    );
}
