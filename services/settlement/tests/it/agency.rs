//! Care agencies' approvals priced (seed 004): each approved line at its tariff, an evening
//! shift cut where the agency's calendar closes so that only its evening part takes the evening
//! surcharge, a Saturday at the weekend rate, commission and mediation fee per part to the cent,
//! announced once however often the approval is delivered.

use std::str::FromStr as _;

use actix_web::http::StatusCode;
use actix_web::test;
use carebill_domain::agency::{Fee, SelfBillingAgreement, VatStatus};
use carebill_domain::events::{
    ApprovedHours, CarerRef, Envelope, HourlyTariff, HoursPricedV1, LocationRef, PartyBilling,
    PartyRef, PlacementTerms, TimesheetApprovedV1,
};
use carebill_domain::ids::{
    ApprovalId, CarerId, HoursId, LocationId, PatientId, PlacementId, TimesheetId,
};
use carebill_domain::{Currency, Money};
use carebill_platform::both_backends;
use carebill_platform::db::{AnyConnection, Backend, Db};
use carebill_platform::schema::outbox;
use carebill_platform::testing::admin;
use diesel::prelude::*;
use rust_decimal::Decimal;
use serde_json::json;

use crate::common::{app, deliver, harness};

both_backends!(an_approval_is_priced_by_tariff_calendar_and_conditions_once);

fn eur(s: &str) -> Money {
    Money::new(
        Decimal::from_str(s).expect("amount"),
        Currency::parse("EUR").expect("EUR"),
    )
    .expect("money")
}

fn line(
    date: &str,
    start: Option<&str>,
    end: Option<&str>,
    minutes: i64,
    kind: &str,
) -> ApprovedHours {
    ApprovedHours {
        hours_id: HoursId::new(),
        date: date.parse().expect("date"),
        start: start.map(str::to_owned),
        end: end.map(str::to_owned),
        minutes,
        hours: carebill_domain::agency::hours_of(minutes),
        service_type: kind.to_owned(),
        description: kind.to_lowercase(),
        service_group: "HOMECARE".to_owned(),
        notes: None,
    }
}

fn approval() -> TimesheetApprovedV1 {
    let client = PatientId::new();
    TimesheetApprovedV1 {
        approval_id: ApprovalId::new(),
        timesheet_id: TimesheetId::new(),
        period_start: "2026-11-30".parse().expect("date"),
        period_end: "2026-12-06".parse().expect("date"),
        location: LocationRef {
            id: LocationId::new(),
            code: "ZB-UTR".to_owned(),
            name: "Zorgbemiddeling Utrecht".to_owned(),
            time_zone: "Europe/Amsterdam".to_owned(),
            tax_id: None,
            billing: None,
        },
        carer: CarerRef {
            id: CarerId::new(),
            code: "ZZP-0042".to_owned(),
            billing: PartyBilling {
                legal_name: "Zorg door Anouk".to_owned(),
                ..PartyBilling::default()
            },
            vat: VatStatus::Exempt {
                reason_code: Some("VATEX-EU-132-1C".to_owned()),
                reason: None,
            },
            agreements: vec![SelfBillingAgreement {
                reference: "SBA-2026-017".to_owned(),
                valid_from: "2026-01-01".parse().expect("date"),
                valid_to: None,
            }],
        },
        client: PartyRef::patient(client),
        patient: None,
        bill_to: PartyRef::patient(client),
        terms: PlacementTerms {
            placement_id: PlacementId::new(),
            reference: "PL-2026-0107".to_owned(),
            tariffs: vec![
                HourlyTariff {
                    service_type: "PERSONAL-CARE".to_owned(),
                    hourly_rate: eur("32.50"),
                },
                HourlyTariff {
                    service_type: "DOMESTIC".to_owned(),
                    hourly_rate: eur("27.00"),
                },
            ],
            commission: Fee::Percent(Decimal::from_str("12.5").expect("percent")),
            mediation_fee: Some(Fee::PerHour(eur("1.50"))),
        },
        currency: Currency::parse("EUR").expect("EUR"),
        lines: vec![
            // A Wednesday evening: 17:00-20:00 at the day rate, 20:00-22:00 after hours.
            line(
                "2026-12-02",
                Some("17:00"),
                Some("22:00"),
                300,
                "PERSONAL-CARE",
            ),
            // A Saturday, registered as a duration.
            line("2026-12-05", None, None, 180, "DOMESTIC"),
        ],
        approved_by: "approval-link:henk.bakker@example.nl".to_owned(),
        approved_at: chrono::Utc::now(),
        invoice_date: "2026-12-06".parse().expect("date"),
        agreement: SelfBillingAgreement {
            reference: "SBA-2026-017".to_owned(),
            valid_from: "2026-01-01".parse().expect("date"),
            valid_to: None,
        },
    }
}

async fn priced(db: &Db) -> Vec<HoursPricedV1> {
    let bodies: Vec<String> = db
        .read(|c: &mut AnyConnection| {
            Ok(outbox::table
                .filter(outbox::event_type.eq("carebill.settlement.hours.priced.v1"))
                .order(outbox::seq.asc())
                .select(outbox::body)
                .load(c)?)
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

async fn an_approval_is_priced_by_tariff_calendar_and_conditions_once(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let conditions = json!({
        "reason": "the agency's evening and weekend rates",
        "calendars": {"ZB-UTR": {"opens": "08:00:00", "closes": "20:00:00", "holidays": ["2026-12-25"]}},
        "conditions": [
            {"code": "EVENING", "description": "Evenings +25 %", "priority": 1, "active_from": "2026-01-01",
             "when": "time.after_hours && !time.weekend && line.service_group == 'HOMECARE'",
             "action": {"kind": "surcharge", "percent": "25"}},
            {"code": "WEEKEND", "description": "Weekends +50 %", "priority": 2, "active_from": "2026-01-01",
             "when": "time.weekend && line.service_group == 'HOMECARE'",
             "action": {"kind": "surcharge", "percent": "50"}}
        ]
    });
    let req = test::TestRequest::put()
        .uri("/v1/business-conditions")
        .insert_header(("authorization", format!("Bearer {}", admin())))
        .insert_header(("if-match", "\"v0\""))
        .set_json(&conditions);
    let (s, set, _) = carebill_platform::testing::call(&app, req).await;
    assert_eq!(s, StatusCode::OK, "{set}");

    let event = approval();
    deliver(&h, "accounts", &event).await;
    let out = priced(&h.db).await;
    assert_eq!(out.len(), 1);
    let p = &out[0].priced;
    assert_eq!(out[0].conditions_version, Some(1));
    assert_eq!(out[0].approval.approval_id, event.approval_id);
    // The evening shift in two parts, the Saturday in one.
    assert_eq!(p.lines.len(), 3, "{p:?}");
    let day = &p.lines[0];
    assert_eq!(
        (day.start.as_deref(), day.end.as_deref()),
        (Some("17:00"), Some("20:00"))
    );
    assert_eq!((day.amount, day.adjustments.len()), (eur("97.50"), 0));
    let evening = &p.lines[1];
    assert_eq!(
        (evening.start.as_deref(), evening.end.as_deref()),
        (Some("20:00"), Some("22:00"))
    );
    assert_eq!(evening.amount, eur("81.25"), "2 h × 32.50 + 25 %");
    assert_eq!(evening.adjustments[0].condition, "EVENING");
    let saturday = &p.lines[2];
    assert_eq!(saturday.amount, eur("121.50"), "3 h × 27.00 + 50 %");
    assert_eq!(saturday.adjustments[0].condition, "WEEKEND");
    assert_eq!(p.total, eur("300.25"));
    // 12.5 % of each part, rounded to the cent, and 1.50 an hour.
    let commissions: Vec<Money> = p.lines.iter().map(|l| l.commission).collect();
    assert_eq!(commissions, vec![eur("12.19"), eur("10.16"), eur("15.19")]);
    assert_eq!(p.commission, eur("37.54"));
    assert_eq!(p.mediation_fee, Some(eur("12.00")));

    // Delivered again (a redelivery, a re-driven dead letter): nothing new.
    deliver(&h, "accounts", &event).await;
    assert_eq!(priced(&h.db).await.len(), 1, "priced once");
}
