//! Pure evaluation of invoicing rules: one beneficiary-month under 200 active rules (stays,
//! evaluations, contracts, manual entries; absences; linked contexts; price changes inside the
//! month), and the same month corrected against what was billed. Reports lines per second.
//!
//! `cargo bench -p carebill-domain --bench billing`

#![expect(
    clippy::expect_used,
    reason = "a benchmark fails loudly on broken setup"
)]

use std::hint::black_box;
use std::str::FromStr as _;

use carebill_domain::billing::{PriceQuery, RuleInForce, bill_beneficiary};
use carebill_domain::rules::{
    DescriptionMethod, InvoicingSource, LinkOperation, LinkedRule, Period, PriceMethod,
    QuantityMethod, RuleDefinition, TimeHorizon,
};
use carebill_domain::settlement::{PriceEntry, PriceQualifiers, ServicePrices};
use carebill_domain::sources::{AbsenceKind, CareRecord, CareRecordDetails, ContractService};
use carebill_domain::{Currency, Money};
use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;

fn d(s: &str) -> NaiveDate {
    NaiveDate::from_str(s).expect("date")
}

fn chf(cents: i64) -> Money {
    Money::new(Decimal::new(cents, 2), Currency::parse("CHF").expect("CHF")).expect("money")
}

/// 200 rules: 50 per source, each its own service group; every fourth linked into two
/// contexts with a negation.
fn rules() -> Vec<RuleInForce> {
    (0..200)
        .map(|i| {
            let (source, quantity, price) = match i % 4 {
                0 => (
                    InvoicingSource::Stay,
                    QuantityMethod::DaysMinusAbsences,
                    PriceMethod::Service,
                ),
                1 => (
                    InvoicingSource::Evaluation,
                    QuantityMethod::EffectiveDays,
                    PriceMethod::Service,
                ),
                2 => (
                    InvoicingSource::Contract,
                    QuantityMethod::Manual,
                    PriceMethod::Manual,
                ),
                _ => (
                    InvoicingSource::ManualEntry,
                    QuantityMethod::Manual,
                    PriceMethod::Service,
                ),
            };
            let linked_rules = if i % 4 == 1 {
                vec![
                    LinkedRule {
                        context: "insurance".to_owned(),
                        operation: LinkOperation::Negate,
                    },
                    LinkedRule {
                        context: "public_authority".to_owned(),
                        operation: LinkOperation::Negate,
                    },
                ]
            } else {
                Vec::new()
            };
            RuleInForce {
                version: 1,
                rule: RuleDefinition {
                    code: format!("R{i:03}"),
                    description: format!("Rule {i}"),
                    invoicing_kind: None,
                    beneficiary_kind: "LTC".to_owned(),
                    invoice_context: "beneficiary".to_owned(),
                    source,
                    object_type: None,
                    service_group: Some(format!("G{i:03}")),
                    absence_threshold_days: Some(3),
                    description_method: DescriptionMethod::Service,
                    quantity_method: quantity,
                    negative_sign: false,
                    price_method: price,
                    time_horizon: Some(TimeHorizon::Subsequent),
                    date_calculation: None,
                    active_from: d("2026-01-01"),
                    inactive_from: None,
                    no_correction: false,
                    absence_start_full_day: false,
                    absence_end_full_day: false,
                    linked_rules,
                    rounding_precision: Some(Decimal::new(5, 2)),
                    manual_correction: false,
                },
            }
        })
        .collect()
}

fn record(id: String, details: CareRecordDetails) -> CareRecord {
    CareRecord {
        id,
        patient_id: "P".to_owned(),
        location_id: "L".to_owned(),
        version: 1,
        cancelled: false,
        details,
    }
}

/// A resident with a stay, two care levels in the month, a hospital absence over the month's
/// edge, a contract with 50 services and 50 manual entries.
fn records() -> Vec<CareRecord> {
    let mut out = vec![
        record(
            "stay".into(),
            CareRecordDetails::Stay {
                beneficiary_kind: "LTC".into(),
                object_type: Some("SINGLE".into()),
                room: None,
                entry_date: d("2026-03-01"),
                leaving_date: None,
            },
        ),
        record(
            "e1".into(),
            CareRecordDetails::Evaluation {
                level: "L3".into(),
                valid_from: d("2026-03-01"),
                valid_to: Some(d("2026-10-14")),
            },
        ),
        record(
            "e2".into(),
            CareRecordDetails::Evaluation {
                level: "L4".into(),
                valid_from: d("2026-10-15"),
                valid_to: None,
            },
        ),
        record(
            "a1".into(),
            CareRecordDetails::Absence {
                reason: AbsenceKind::Hospital,
                from: d("2026-10-27"),
                to: Some(d("2026-11-04")),
                start_full_day: None,
                end_full_day: None,
            },
        ),
        record(
            "c1".into(),
            CareRecordDetails::Contract {
                beneficiary_kind: "LTC".into(),
                start_date: d("2026-03-01"),
                end_date: None,
                services: (0..200)
                    .filter(|i| i % 4 == 2)
                    .map(|i| ContractService {
                        service_group: format!("G{i:03}"),
                        description: format!("Service {i}"),
                        quantity: Decimal::from(2),
                        unit_price: Some(chf(1250)),
                    })
                    .collect(),
            },
        ),
    ];
    for i in (0..200).filter(|i| i % 4 == 3) {
        out.push(record(
            format!("m{i}"),
            CareRecordDetails::ManualEntry {
                date: d("2026-10-12"),
                service_group: format!("G{i:03}"),
                description: "Entry".into(),
                quantity: Decimal::ONE,
                unit_price: None,
            },
        ));
    }
    out
}

/// Every group priced; levels priced apart; a price change on the 16th for stays.
fn prices() -> ServicePrices {
    let mut entries = Vec::new();
    for i in 0..200 {
        let code = format!("G{i:03}");
        let entry = |cents: i64, from: &str, to: Option<&str>, level: Option<&str>| PriceEntry {
            code: code.clone(),
            unit_price: chf(cents),
            valid_from: d(from),
            valid_to: to.map(d),
            location: None,
            payer: None,
            qualifiers: PriceQualifiers {
                beneficiary_kind: Some("LTC".into()),
                object_type: None,
                level: level.map(Into::into),
            },
            components: Vec::new(),
        };
        match i % 4 {
            0 => {
                entries.push(entry(12000, "2026-01-01", Some("2026-10-15"), None));
                entries.push(entry(13000, "2026-10-16", None, None));
            }
            1 => {
                entries.push(entry(8550, "2026-01-01", None, Some("L3")));
                entries.push(entry(10210, "2026-01-01", None, Some("L4")));
            }
            _ => entries.push(entry(990, "2026-01-01", None, None)),
        }
    }
    ServicePrices::new(entries)
}

fn bench(c: &mut Criterion) {
    let rules = rules();
    let records = records();
    let book = prices();
    let price = |q: &PriceQuery<'_>| book.find(q, "H1");
    let october = Period::month(2026, 10).expect("month");
    let first = bill_beneficiary(october, &rules, &records, &[], &price);
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    let lines = first.lines.len() as u64;
    let mut group = c.benchmark_group("billing");
    group.throughput(Throughput::Elements(lines));
    group.bench_function("a resident-month under 200 rules (lines/s)", |b| {
        b.iter(|| bill_beneficiary(october, black_box(&rules), black_box(&records), &[], &price))
    });
    // The month after: October re-evaluated against what was billed (nothing changed) and
    // November billed: twice the lines evaluated, plus the comparison.
    let billed = first.lines.clone();
    group.throughput(Throughput::Elements(2 * lines));
    group.bench_function(
        "the next month with the last re-checked (lines evaluated/s)",
        |b| {
            b.iter(|| {
                bill_beneficiary(
                    october.next(),
                    black_box(&rules),
                    black_box(&records),
                    black_box(&billed),
                    &price,
                )
            })
        },
    );
    group.finish();
    eprintln!("lines per resident-month: {lines}");
}

/// 200 business conditions (seed 000) on one consumption line: after-hours surcharges per
/// service group, practitioner prices, patient flags and ages, payer plans. On the first line 40
/// match (every low-income age threshold: 40 surcharges in a row); on the typical line, five.
fn conditions(c: &mut Criterion) {
    use carebill_domain::conditions::{
        ConditionAction, ConditionDefinition, ConditionSet, EpisodeFact, LineFact, LineFacts,
        LocationFact, PatientFact, PayerFact, PractitionerFact, TimeFact, apply,
    };
    let whens = [
        "time.after_hours && line.service_group == 'G{i}'",
        "practitioner.performing == 'DR-{i}' && line.code == 'C{i}'",
        "'low_income' in patient.flags && patient.age >= {i}",
        "payer.code == 'P{i}' && payer.plan == 'GOLD'",
        "has(line.attributes.urgent) && line.attributes.urgent && line.quantity > {i}.0",
    ];
    let set = ConditionSet {
        conditions: (0..200)
            .map(|i| ConditionDefinition {
                code: format!("C{i:03}"),
                description: format!("condition {i}"),
                priority: i,
                active_from: d("2026-01-01"),
                inactive_from: None,
                when: whens[usize::try_from(i).unwrap_or(0) % whens.len()]
                    .replace("{i}", &(i % 40).to_string()),
                action: ConditionAction::Surcharge {
                    percent: Some(Decimal::from(1 + i % 5)),
                    amount: None,
                },
            })
            .collect(),
        calendars: Default::default(),
    }
    .compile()
    .expect("compiles");
    let facts = LineFacts {
        line: LineFact {
            code: "C7".into(),
            service_group: "G7".into(),
            kind: "procedure".into(),
            quantity: 1.0,
            unit: "unit".into(),
            unit_price: Some(60.0),
            attributes: serde_json::json!({"urgent": true}),
        },
        time: TimeFact::at(
            chrono::NaiveDateTime::parse_from_str("2026-11-23 22:30", "%Y-%m-%d %H:%M")
                .expect("time"),
            None,
        ),
        patient: PatientFact {
            age: 71,
            beneficiary_kind: "INSURED".into(),
            sex: String::new(),
            flags: vec!["low_income".into()],
        },
        practitioner: PractitionerFact {
            attending: String::new(),
            performing: "DR-7".into(),
            ordering: String::new(),
        },
        payer: PayerFact {
            code: "P7".into(),
            plan: "GOLD".into(),
        },
        location: LocationFact { code: "H1".into() },
        episode: EpisodeFact {
            kind: "outpatient".into(),
        },
    };
    let day = d("2026-11-23");
    let matched = set.matching(&facts, day).expect("evaluates").len();
    // A typical line: a weekday consultation by DR-11 (five practitioner prices match it), a
    // patient without flags, no attributes.
    let mut typical = facts.clone();
    typical.line.code = "C11".into();
    typical.line.service_group = "G0".into();
    typical.line.attributes = serde_json::json!({});
    typical.practitioner.performing = "DR-11".into();
    typical.patient.flags = Vec::new();
    typical.payer.code = "P0".into();
    typical.time = TimeFact::at(
        chrono::NaiveDateTime::parse_from_str("2026-11-23 10:30", "%Y-%m-%d %H:%M").expect("time"),
        None,
    );
    let typical_matched = set.matching(&typical, day).expect("evaluates").len();
    let mut group = c.benchmark_group("conditions");
    group.throughput(Throughput::Elements(1));
    group.bench_function("a line under 200 conditions (lines/s)", |b| {
        b.iter(|| {
            let m = set.matching(black_box(&facts), day).expect("evaluates");
            apply(&m, Decimal::ONE, Some(chf(6000)))
        })
    });
    group.bench_function("a typical line under 200 conditions (lines/s)", |b| {
        b.iter(|| {
            let m = set.matching(black_box(&typical), day).expect("evaluates");
            apply(&m, Decimal::ONE, Some(chf(6000)))
        })
    });
    group.finish();
    eprintln!("conditions matching the line: {matched}; the typical line: {typical_matched}");
}

criterion_group!(benches, bench, conditions);
criterion_main!(benches);
