//! What every invoicing scenario shares: a database of either backend, the app over it, a
//! world of a hospital, a patient and two insurers, approvals delivered as the bus delivers
//! them, and a few readers of responses and of the outbox.

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::web;
use carebill_domain::accounts::{EpisodeKind, PayerKind};
use carebill_domain::events::{
    CoverageRef, Envelope, EpisodeRef, LocationRef, PartyRef, PatientRef, SettledLine,
    SettledShare, SettlementApprovedV1,
};
use carebill_domain::ids::{
    ConsumptionId, CoverageId, EpisodeId, LocationId, PatientId, PayerId, SettlementId,
};
use carebill_domain::settlement::SettlementKind;
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_invoicing::InvoicingState;
use carebill_platform::auth::{Claims, mint_hs256};
use carebill_platform::db::{Backend, Db};
use carebill_platform::schema::outbox;
use carebill_platform::testing::{TEST_SECRET, TestDb, admin, call, get, post, test_app};
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::sync::Notify;

pub(crate) struct Harness {
    pub(crate) db: Db,
    _guard: TestDb,
}

pub(crate) fn harness(backend: Backend) -> Harness {
    let t = TestDb::new(backend, &carebill_invoicing::MIGRATIONS);
    Harness {
        db: t.db.clone(),
        _guard: t,
    }
}

pub(crate) async fn app(
    db: &Db,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    app_with(db, None).await
}

/// The app over `db`, delivering through the SMTP server at `smtp` when given.
pub(crate) async fn app_with(
    db: &Db,
    smtp: Option<&str>,
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    let mail = smtp.and_then(|url| {
        carebill_platform::outbound::mail::Mailer::from_config(
            &carebill_platform::config::MailConfig {
                smtp_url: Some(carebill_platform::config::Secret::new(url)),
                from: "Hospital Central <billing@hospital.example>".to_owned(),
                timeout_secs: 5,
            },
        )
        .expect("mailer")
    });
    let state = web::Data::new(InvoicingState {
        db: db.clone(),
        wake: Arc::new(Notify::new()),
        delivery: carebill_invoicing::DeliveryChannels {
            mail,
            portal_url: "https://billing.example.org".to_owned(),
            link_hours: 72,
        },
        delivery_wake: Arc::new(Notify::new()),
    });
    test_app(carebill_invoicing::routes(state)).await
}

/// A hospital, a patient and two insurers covering them.
pub(crate) struct World {
    pub(crate) location: LocationRef,
    pub(crate) patient: PatientRef,
    pub(crate) episode: EpisodeRef,
    pub(crate) sanitas: PartyRef,
    pub(crate) adeslas: PartyRef,
}

pub(crate) fn coverage(code: &str) -> CoverageRef {
    CoverageRef {
        id: CoverageId::new(),
        payer_id: PayerId::new(),
        payer_code: code.to_owned(),
        payer_kind: PayerKind::Insurer,
        policy_number: format!("{code}-POL-1"),
        plan_code: None,
        priority: 1,
        valid_from: None,
        valid_to: None,
        payer_billing: None,
    }
}

pub(crate) fn world(location_code: &str) -> World {
    let location = LocationRef {
        id: LocationId::new(),
        code: location_code.to_owned(),
        name: format!("Hospital {location_code}"),
        time_zone: "Europe/Madrid".to_owned(),
        tax_id: Some("ESB12345678".to_owned()),
        billing: None,
    };
    let patient = PatientRef {
        id: PatientId::new(),
        beneficiary_kind: "general".to_owned(),
        birth_date: None,
        flags: vec![],
        sex: None,
        billing: None,
    };
    let episode = EpisodeRef {
        id: EpisodeId::new(),
        number: "ENC-0001".to_owned(),
        kind: EpisodeKind::Outpatient,
        location: location.clone(),
        patient: patient.clone(),
        attending_practitioner: None,
    };
    World {
        location,
        patient,
        episode,
        sanitas: PartyRef::payer(&coverage("SANITAS")),
        adeslas: PartyRef::payer(&coverage("ADESLAS")),
    }
}

pub(crate) fn eur(cents: i64) -> Money {
    Money::from_minor(MinorUnits(cents), Currency::EUR)
}

/// A line of `cents`, split as given (zero shares left out, as settlement sends them).
pub(crate) fn line(
    id: ConsumptionId,
    code: &str,
    cents: i64,
    shares: &[(&PartyRef, i64)],
) -> SettledLine {
    SettledLine {
        consumption_id: id,
        code: code.to_owned(),
        description: format!("{code} description"),
        service_group: "LAB".to_owned(),
        quantity: Decimal::new(2, 0),
        unit: "unit".to_owned(),
        performed_at: chrono::Utc::now() - chrono::Duration::days(1),
        unit_price: eur(cents / 2),
        amount: eur(cents),
        shares: shares
            .iter()
            .filter(|(_, c)| *c != 0)
            .map(|(p, c)| SettledShare {
                party: p.key(),
                amount: eur(*c),
                parts: Vec::new(),
                method: None,
            })
            .collect(),
        kind: Some(carebill_domain::accounts::ServiceKind::Lab),
        performed_by: Some("DR-ROSSI".to_owned()),
        claim: None,
    }
}

pub(crate) fn approval(
    w: &World,
    settlement: SettlementId,
    version: i32,
    lines: Vec<SettledLine>,
) -> SettlementApprovedV1 {
    let total = lines
        .iter()
        .map(|l| l.amount.to_minor().expect("minor").0)
        .sum();
    let mut episode = w.episode.clone();
    episode.location = w.location.clone();
    episode.patient = w.patient.clone();
    SettlementApprovedV1 {
        settlement_id: settlement,
        number: format!("{}-1", w.episode.number),
        kind: SettlementKind::Regular,
        parent_settlement_id: None,
        version,
        episode,
        currency: Currency::EUR,
        parties: vec![
            w.sanitas.clone(),
            w.adeslas.clone(),
            // The patient as settlement names it: with the billing data the episode carries.
            PartyRef {
                billing: w.patient.billing.clone(),
                ..PartyRef::patient(w.patient.id)
            },
        ],
        lines,
        total: eur(total),
        approved_by: "dr-audit".to_owned(),
        approved_at: chrono::Utc::now(),
    }
}

pub(crate) fn envelope(a: &SettlementApprovedV1) -> Envelope {
    Envelope::new(
        "settlement",
        a,
        chrono::Utc::now(),
        Some("corr-1".to_owned()),
        None,
    )
    .expect("envelope")
}

/// Delivers an event to the invoicing consumer as the bus does.
pub(crate) async fn deliver(db: &Db, env: Envelope) -> Result<(), String> {
    let sub = carebill_invoicing::events(db.clone(), Arc::new(Notify::new()));
    (sub.handler)(env).await
}

pub(crate) async fn outbox_bodies(db: &Db, event_type: &'static str) -> Vec<Value> {
    db.read(move |conn| {
        Ok(outbox::table
            .filter(outbox::event_type.eq(event_type))
            .order(outbox::seq.asc())
            .select(outbox::body)
            .load::<String>(conn)?)
    })
    .await
    .expect("outbox")
    .into_iter()
    .map(|b| serde_json::from_str(&b).expect("json"))
    .collect()
}

pub(crate) fn payer_token(payer: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    mint_hs256(
        TEST_SECRET.as_bytes(),
        &Claims {
            sub: format!("portal-{payer}"),
            iss: "carebill".to_owned(),
            aud: "carebill".to_owned(),
            exp: now + 3600,
            iat: now,
            roles: vec!["payer".to_owned()],
            locations: None,
            payer: Some(payer.to_owned()),
            patient: None,
            carer: None,
        },
    )
    .expect("token")
}

/// A staff token for `roles` with a `payer` claim: the platform scope limits it to that payer's
/// records.
pub(crate) fn staff_payer_token(roles: &[&str], payer: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    mint_hs256(
        TEST_SECRET.as_bytes(),
        &Claims {
            sub: format!("staff-{payer}"),
            iss: "carebill".to_owned(),
            aud: "carebill".to_owned(),
            exp: now + 3600,
            iat: now,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            locations: None,
            payer: Some(payer.to_owned()),
            patient: None,
            carer: None,
        },
    )
    .expect("token")
}

/// A patient's portal token: the `patient` role and claim.
pub(crate) fn patient_token(patient: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    mint_hs256(
        TEST_SECRET.as_bytes(),
        &Claims {
            sub: format!("patient-{patient}"),
            iss: "carebill".to_owned(),
            aud: "carebill".to_owned(),
            exp: now + 3600,
            iat: now,
            roles: vec!["patient".to_owned()],
            locations: None,
            payer: None,
            patient: Some(patient.to_owned()),
            carer: None,
        },
    )
    .expect("token")
}

pub(crate) fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().expect("items").clone()
}

pub(crate) fn year_of(invoice: &Value) -> String {
    invoice["issue_date"].as_str().expect("issue date")[..4].to_owned()
}

pub(crate) const INVOICE_ISSUED: &str = "carebill.invoicing.invoice.issued.v1";
pub(crate) const CREDIT_NOTE_ISSUED: &str = "carebill.invoicing.credit_note.issued.v1";

pub(crate) async fn credit(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    tok: &str,
    invoice: &str,
    body: Value,
    key: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = post(&format!("/v1/invoices/{invoice}/credit-notes"), tok, &body);
    if let Some(k) = key {
        req = req.insert_header(("idempotency-key", k));
    }
    let (s, v, _) = call(app, req).await;
    (s, v)
}

/// The world with what master data gives an invoice's parties, as accounts puts it on its
/// events and settlement on the approval: a complete seller, payers and patient.
pub(crate) fn complete(w: &mut World) {
    let billing = |json: &str| -> Option<carebill_domain::events::PartyBilling> {
        Some(serde_json::from_str(json).expect("billing data"))
    };
    w.location.billing = billing(
        r#"{"legal_name":"Hospital Central S.L.","vat_id":"ESB12345678","legal_registration":{"scheme":"0088","id":"4000001000005"},"endpoint":{"scheme":"0088","id":"4000001000005"},"address":{"lines":["Calle Mayor 1"],"city":"Madrid","postal_code":"28013","country":"ES"},"contact_email":"billing@hospital.example","iban":"ES9121000418450200051332","bic":"CAIXESBBXXX"}"#,
    );
    w.sanitas.billing = billing(
        r#"{"legal_name":"Sanitas S.A. de Seguros","vat_id":"ESA28037042","endpoint":{"scheme":"9920","id":"ESA28037042"},"address":{"lines":["Calle Ribera del Loira 52"],"city":"Madrid","postal_code":"28042","country":"ES"},"buyer_reference":"SANITAS-HOSP"}"#,
    );
    w.adeslas.billing = billing(
        r#"{"legal_name":"Adeslas S.A.","vat_id":"ESA28011864","endpoint":{"scheme":"9920","id":"ESA28011864"},"address":{"lines":["Calle Principe de Vergara 110"],"city":"Madrid","postal_code":"28002","country":"ES"},"buyer_reference":"ADESLAS-HOSP"}"#,
    );
    // A patient reachable on Peppol (as consumers are in some countries): a GLN.
    w.patient.billing = billing(
        r#"{"legal_name":"Ana Garcia Lopez","endpoint":{"scheme":"0088","id":"4000001000012"},"address":{"lines":["Calle Luna 3"],"city":"Madrid","postal_code":"28004","country":"ES"}}"#,
    );
}

/// GETs `path` as UBL: 200 `application/xml`; written to `$CAREBILL_UBL_OUT/<name>.xml` when set.
pub(crate) async fn ubl(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    path: &str,
    accept: Option<&str>,
    name: Option<&str>,
) -> String {
    let mut req = carebill_platform::testing::get(path, &carebill_platform::testing::admin());
    if let Some(a) = accept {
        req = req.insert_header(("accept", a));
    }
    let res = actix_web::test::call_service(app, req.to_request()).await;
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).expect("utf-8");
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    assert_eq!(ctype.as_deref(), Some("application/xml"), "{path}");
    assert!(body.starts_with("<?xml"), "{body}");
    if let (Some(name), Ok(dir)) = (name, std::env::var("CAREBILL_UBL_OUT")) {
        std::fs::create_dir_all(&dir).expect("UBL output directory");
        std::fs::write(format!("{dir}/{name}.xml"), &body).expect("UBL written");
    }
    body
}

pub(crate) use carebill_platform::testing::fields;

/// What a raw response gives: status, content type, `Carebill-Layout`, body bytes.
pub(crate) struct Raw {
    pub(crate) status: StatusCode,
    pub(crate) ctype: String,
    pub(crate) layout: String,
    pub(crate) body: Vec<u8>,
}

pub(crate) async fn raw(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    req: actix_web::test::TestRequest,
) -> Raw {
    let res = actix_web::test::call_service(app, req.to_request()).await;
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (status, ctype, layout) = (
        res.status(),
        header("content-type"),
        header("carebill-layout"),
    );
    let body = actix_web::test::read_body(res).await.to_vec();
    Raw {
        status,
        ctype,
        layout,
        body,
    }
}

/// The text of a PDF as `pdftotext -layout` reads it, after `qpdf --check` found it sound.
pub(crate) fn pdf_text(pdf: &[u8]) -> String {
    assert!(pdf.starts_with(b"%PDF-"), "not a PDF");
    let path = std::env::temp_dir().join(format!("carebill-it-{}.pdf", uuid::Uuid::now_v7()));
    std::fs::File::create(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, pdf))
        .expect("pdf written");
    let run = |cmd: &str, args: &[&str]| {
        let out = std::process::Command::new(cmd)
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("{cmd} must be installed (.ci/run installs qpdf and poppler-utils): {e}")
            });
        assert!(
            out.status.success(),
            "{cmd}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let p = path.to_string_lossy().into_owned();
    let check = run("qpdf", &["--check", &p]);
    assert!(
        check.contains("No syntax or stream encoding errors"),
        "{check}"
    );
    let text = run("pdftotext", &["-layout", &p, "-"]);
    let _ = std::fs::remove_file(&path);
    text
}

/// Delivers an approval billing 100.00 of a lab test, 80.00 to Sanitas and 20.00 to the
/// patient; returns the ids of the new invoices (payer's first).
pub(crate) async fn approve(
    h: &Harness,
    w: &World,
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    seen: &mut Vec<String>,
) -> (String, String) {
    let pat = PartyRef::patient(w.patient.id);
    deliver(
        &h.db,
        envelope(&approval(
            w,
            SettlementId::new(),
            1,
            vec![line(
                ConsumptionId::new(),
                "LAB-HB",
                10_000,
                &[(&w.sanitas, 8_000), (&pat, 2_000)],
            )],
        )),
    )
    .await
    .expect("approved");
    let (_, list, _) = call(app, get("/v1/invoices?limit=500", &admin())).await;
    let new: Vec<Value> = items(&list)
        .into_iter()
        .filter(|i| !seen.contains(&i["id"].as_str().unwrap_or_default().to_owned()))
        .collect();
    assert_eq!(new.len(), 2, "{list}");
    let id = |kind: &str| {
        new.iter()
            .find(|i| i["recipient"]["kind"] == kind)
            .and_then(|i| i["id"].as_str())
            .expect("invoice")
            .to_owned()
    };
    let (payer, patient) = (id("payer"), id("patient"));
    seen.push(payer.clone());
    seen.push(patient.clone());
    (payer, patient)
}
