//! Claim files the outside validator (pyx12) checks and the tests read back: a professional
//! original for a patient who is the subscriber; a child on a parent's policy (2000C); two
//! diagnoses with pointers and modifiers; a secondary claim with the primary's adjudication
//! (2320/2330/2430, a zero-paid line); a replacement and a void (REF*F8).

use carebill_domain::claim::{
    Adjustment, Admission, BillingProvider, Claim, ClaimFormat, Diagnosis, Frequency,
    Institutional, LineAdjudication, OtherPayer, Payer, Person, PersonName, Practitioner,
    Relationship, Responsibility, ServiceLine, Sex, Subscriber, UsAddress,
};
use carebill_domain::claim_codes::{
    Ein, Icd10Cm, Modifier, Npi, PlaceOfService, ProcedureCode, ProcedureSystem, RevenueCode,
    Taxonomy, UsState, ZipCode,
};
use carebill_x12::claims::{ClaimFileHeader, Receiver, Submitter};
use carebill_x12::{InterchangeHeader, Usage};
use chrono::NaiveDate;
use rust_decimal::Decimal;

/// One sample: its file name and its claims.
pub struct Sample {
    pub name: &'static str,
    pub claims: Vec<Claim>,
}

pub fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

pub fn header(control_number: u32) -> ClaimFileHeader {
    ClaimFileHeader {
        interchange: InterchangeHeader {
            sender_qualifier: "ZZ".into(),
            sender_id: "S123".into(),
            receiver_qualifier: "ZZ".into(),
            receiver_id: "R987".into(),
            date: day(7),
            time: chrono::NaiveTime::from_hms_opt(10, 30, 0).unwrap(),
            control_number,
            acknowledgement_requested: true,
            usage: Usage::Test,
        },
        application_sender: "S123".into(),
        application_receiver: "R987".into(),
        first_group_control_number: control_number,
        reference: "EB-2026-000001".into(),
        created_at: day(7).and_hms_opt(10, 30, 0).unwrap(),
        submitter: Submitter {
            name: "Hospital Central".into(),
            id: "S123".into(),
            contact: "Billing desk".into(),
            phone: Some("5551234567".into()),
            email: None,
        },
        receiver: Receiver {
            name: "Clearinghouse".into(),
            id: "R987".into(),
        },
    }
}

fn address(line1: &str, zip: &str) -> UsAddress {
    UsAddress {
        line1: line1.into(),
        line2: None,
        city: "Springfield".into(),
        state: UsState::parse("IL").unwrap(),
        zip: ZipCode::parse(zip).unwrap(),
    }
}

fn person(family: &str, given: &str, born: NaiveDate, sex: Sex) -> Person {
    Person {
        name: PersonName {
            family: family.into(),
            given: Some(given.into()),
            middle: None,
        },
        address: address("2 Elm Street", "62701"),
        birth_date: born,
        sex,
    }
}

fn united() -> Payer {
    Payer {
        name: "UnitedHealthcare".into(),
        payer_id: "87726".into(),
        filing_indicator: "CI".into(),
    }
}

fn line(n: u32, code: &str, cents: i64, pointers: &[u8]) -> ServiceLine {
    ServiceLine {
        control_number: format!("INV-2026-000001-{n}"),
        procedure: Some(ProcedureCode::parse(ProcedureSystem::Cpt, code).unwrap()),
        modifiers: vec![],
        revenue_code: None,
        charge: Decimal::new(cents, 2),
        units: Decimal::ONE,
        unit_basis: "UN",
        date: day(1),
        diagnosis_pointers: pointers.to_vec(),
    }
}

/// A professional original: the patient is the subscriber, one diagnosis, one line.
pub fn original() -> Claim {
    Claim {
        patient_control_number: "INV-2026-000001".into(),
        format: ClaimFormat::Professional,
        frequency: Frequency::Original,
        payer_claim_number: None,
        billing_provider: BillingProvider {
            name: "Hospital Central".into(),
            npi: Npi::parse("1234567893").unwrap(),
            taxonomy: Some(Taxonomy::parse("282N00000X").unwrap()),
            address: address("1 Main Street", "62701-1234"),
            ein: Ein::parse("12-3456789").unwrap(),
        },
        payer: united(),
        responsibility: Responsibility::Primary,
        subscriber: Subscriber {
            member_id: "MEMBER123".into(),
            group_number: Some("GRP-1".into()),
            person: person(
                "Muñoz",
                "Jane",
                NaiveDate::from_ymd_opt(1980, 1, 1).unwrap(),
                Sex::Female,
            ),
        },
        relationship: Relationship::SelfInsured,
        patient: None,
        place_of_service: Some(PlaceOfService::parse("11").unwrap()),
        diagnoses: vec![Diagnosis {
            code: Icd10Cm::parse("J18.9").unwrap(),
            present_on_admission: None,
        }],
        rendering: None,
        referring: None,
        institutional: None,
        lines: vec![line(1, "99213", 15000, &[1])],
        other_payers: vec![],
    }
}

/// A child on a parent's policy, two diagnoses, modifiers, a rendering provider.
pub fn dependent() -> Claim {
    let mut c = original();
    c.patient_control_number = "INV-2026-000002".into();
    c.relationship = Relationship::Child;
    c.subscriber.person = person(
        "Doe",
        "John",
        NaiveDate::from_ymd_opt(1975, 6, 30).unwrap(),
        Sex::Male,
    );
    c.patient = Some(person(
        "Doe",
        "Lucy",
        NaiveDate::from_ymd_opt(2015, 3, 15).unwrap(),
        Sex::Female,
    ));
    c.diagnoses.push(Diagnosis {
        code: Icd10Cm::parse("E11.9").unwrap(),
        present_on_admission: None,
    });
    let mut first = line(1, "99213", 10000, &[1, 2]);
    first.modifiers = vec![Modifier::parse("25").unwrap()];
    let mut second = line(2, "85025", 5050, &[2]);
    second.modifiers = vec![
        Modifier::parse("LT").unwrap(),
        Modifier::parse("59").unwrap(),
    ];
    c.lines = vec![first, second];
    c.rendering = Some(Practitioner {
        name: PersonName {
            family: "Rossi".into(),
            given: Some("Marco".into()),
            middle: None,
        },
        npi: Npi::parse("1999999992").unwrap(),
        taxonomy: Some(Taxonomy::parse("207Q00000X").unwrap()),
    });
    c
}

/// The dependent's claim sent to a secondary payer after the primary paid: 2320/2330 with
/// the primary's claim adjustments, 2430 per line (the second line paid nothing).
pub fn secondary() -> Claim {
    let mut c = dependent();
    c.patient_control_number = "INV-2026-000003".into();
    c.responsibility = Responsibility::Secondary;
    c.payer = Payer {
        name: "Aetna".into(),
        payer_id: "60054".into(),
        filing_indicator: "CI".into(),
    };
    let primary_subscriber = c.subscriber.clone();
    c.other_payers = vec![OtherPayer {
        responsibility: Responsibility::Primary,
        payer: united(),
        subscriber: primary_subscriber,
        relationship: Relationship::Child,
        paid: Decimal::new(7000, 2),
        adjudicated_on: day(5),
        adjustments: vec![],
        lines: vec![
            LineAdjudication {
                control_number: "INV-2026-000001-1".into(),
                paid: Decimal::new(7000, 2),
                units: Decimal::ONE,
                adjustments: vec![
                    Adjustment {
                        group: "CO".into(),
                        reason: "45".into(),
                        amount: Decimal::new(2000, 2),
                    },
                    Adjustment {
                        group: "PR".into(),
                        reason: "2".into(),
                        amount: Decimal::new(1000, 2),
                    },
                ],
            },
            LineAdjudication {
                control_number: "INV-2026-000001-2".into(),
                paid: Decimal::ZERO,
                units: Decimal::ONE,
                adjustments: vec![Adjustment {
                    group: "PR".into(),
                    reason: "1".into(),
                    amount: Decimal::new(5050, 2),
                }],
            },
        ],
    }];
    c
}

/// The original replaced (7) and, in another file, voided (8).
pub fn corrected(frequency: Frequency) -> Claim {
    let mut c = original();
    c.frequency = frequency;
    c.payer_claim_number = Some("PAYER-ICN-778899".into());
    c.lines[0].charge = Decimal::new(12000, 2);
    c
}

fn attending() -> Practitioner {
    Practitioner {
        name: PersonName {
            family: "García".into(),
            given: Some("Ana".into()),
            middle: Some("M".into()),
        },
        npi: Npi::parse("1000000004").unwrap(),
        taxonomy: Some(Taxonomy::parse("207R00000X").unwrap()),
    }
}

fn institutional_line(
    n: u32,
    revenue: &str,
    hcpcs: Option<&str>,
    cents: i64,
    basis: &'static str,
    units: i64,
    d: u32,
) -> ServiceLine {
    ServiceLine {
        control_number: format!("INV-2026-000010-{n}"),
        procedure: hcpcs.map(|c| {
            ProcedureCode::parse(ProcedureSystem::Hcpcs, c)
                .or_else(|_| ProcedureCode::parse(ProcedureSystem::Cpt, c))
                .unwrap()
        }),
        modifiers: vec![],
        revenue_code: Some(RevenueCode::parse(revenue).unwrap()),
        charge: Decimal::new(cents, 2),
        units: Decimal::new(units, 0),
        unit_basis: basis,
        date: day(d),
        diagnosis_pointers: vec![],
    }
}

/// An inpatient stay: room and board by the day, a drug, the admission, POA flags.
pub fn inpatient() -> Claim {
    let mut c = original();
    c.patient_control_number = "INV-2026-000010".into();
    c.format = ClaimFormat::Institutional;
    c.place_of_service = None;
    c.diagnoses = vec![
        Diagnosis {
            code: Icd10Cm::parse("J18.9").unwrap(),
            present_on_admission: Some('Y'),
        },
        Diagnosis {
            code: Icd10Cm::parse("E11.9").unwrap(),
            present_on_admission: Some('Y'),
        },
        Diagnosis {
            code: Icd10Cm::parse("N39.0").unwrap(),
            present_on_admission: Some('N'),
        },
    ];
    c.institutional = Some(Institutional {
        facility_type: "11".into(),
        statement_from: day(1),
        statement_to: day(4),
        admission: Some(Admission {
            at: day(1).and_hms_opt(8, 30, 0).unwrap(),
            kind: "1".into(),
            source: "7".into(),
            admitting_diagnosis: Some(Icd10Cm::parse("R50.9").unwrap()),
        }),
        patient_status: "01".into(),
        attending: attending(),
    });
    c.lines = vec![
        institutional_line(1, "0120", None, 360000, "DA", 3, 1),
        institutional_line(2, "0250", Some("J1100"), 4550, "UN", 2, 2),
    ];
    c
}

/// An outpatient hospital visit (type of bill 13x) with HCPCS-coded lines, for a dependent.
pub fn outpatient() -> Claim {
    let mut c = dependent();
    c.patient_control_number = "INV-2026-000011".into();
    c.format = ClaimFormat::Institutional;
    c.place_of_service = None;
    c.rendering = None;
    c.institutional = Some(Institutional {
        facility_type: "13".into(),
        statement_from: day(2),
        statement_to: day(2),
        admission: None,
        patient_status: "01".into(),
        attending: attending(),
    });
    c.lines = vec![
        institutional_line(1, "0450", Some("99283"), 42000, "UN", 1, 2),
        institutional_line(2, "0300", Some("85025"), 3500, "UN", 1, 2),
    ];
    c
}

/// The outpatient visit sent to a secondary payer after the primary's adjudication.
pub fn institutional_secondary() -> Claim {
    let mut c = outpatient();
    c.patient_control_number = "INV-2026-000012".into();
    let primary = secondary().other_payers.remove(0);
    c.responsibility = Responsibility::Secondary;
    c.payer = Payer {
        name: "Aetna".into(),
        payer_id: "60054".into(),
        filing_indicator: "CI".into(),
    };
    c.other_payers = vec![OtherPayer {
        paid: Decimal::new(30000, 2),
        lines: vec![
            LineAdjudication {
                control_number: "INV-2026-000010-1".into(),
                paid: Decimal::new(30000, 2),
                units: Decimal::ONE,
                adjustments: vec![Adjustment {
                    group: "CO".into(),
                    reason: "45".into(),
                    amount: Decimal::new(12000, 2),
                }],
            },
            LineAdjudication {
                control_number: "INV-2026-000010-2".into(),
                paid: Decimal::ZERO,
                units: Decimal::ONE,
                adjustments: vec![Adjustment {
                    group: "PR".into(),
                    reason: "1".into(),
                    amount: Decimal::new(3500, 2),
                }],
            },
        ],
        ..primary
    }];
    c
}

pub fn all() -> Vec<Sample> {
    vec![
        Sample {
            name: "professional-original",
            claims: vec![original()],
        },
        Sample {
            name: "professional-dependent",
            claims: vec![dependent()],
        },
        Sample {
            name: "professional-secondary",
            claims: vec![secondary()],
        },
        Sample {
            name: "professional-replacement",
            claims: vec![corrected(Frequency::Replacement)],
        },
        Sample {
            name: "professional-void",
            claims: vec![corrected(Frequency::Void)],
        },
        Sample {
            name: "professional-three-claims",
            claims: vec![original(), dependent(), secondary()],
        },
        Sample {
            name: "institutional-inpatient",
            claims: vec![inpatient()],
        },
        Sample {
            name: "institutional-outpatient",
            claims: vec![outpatient()],
        },
        Sample {
            name: "institutional-secondary",
            claims: vec![institutional_secondary()],
        },
        Sample {
            name: "professional-and-institutional",
            claims: vec![original(), inpatient()],
        },
    ]
}

/// A test interchange from `sender` to `receiver` with one open group of `functional_id`
/// under `version`; both control numbers are `control_number`.
fn open_group(
    sender: &str,
    receiver: &str,
    at: chrono::NaiveDateTime,
    control_number: u32,
    functional_id: &'static str,
    version: &'static str,
) -> carebill_x12::Writer {
    let mut w = carebill_x12::Writer::new(&InterchangeHeader {
        sender_qualifier: "ZZ".into(),
        sender_id: sender.into(),
        receiver_qualifier: "ZZ".into(),
        receiver_id: receiver.into(),
        date: at.date(),
        time: at.time(),
        control_number,
        acknowledgement_requested: false,
        usage: Usage::Test,
    })
    .unwrap();
    w.begin_group(&carebill_x12::GroupHeader {
        functional_id,
        sender_code: sender.into(),
        receiver_code: receiver.into(),
        date: at.date(),
        time: at.time(),
        control_number,
        version,
    })
    .unwrap();
    w
}

/// A line of a payer's 835: procedure, charge, paid, adjustments `(group, reason, cents)`, the
/// line control number it answers, a remark code.
pub struct PaidLine {
    pub code: &'static str,
    pub charge: i64,
    pub paid: i64,
    pub adjustments: Vec<(&'static str, &'static str, i64)>,
    pub control_number: String,
    pub remark: Option<&'static str>,
}

/// A claim of a payer's 835.
pub struct PaidClaim {
    pub patient_control_number: String,
    pub status: &'static str,
    pub charge: i64,
    pub paid: i64,
    pub patient_responsibility: i64,
    pub payer_claim_number: String,
    pub adjustments: Vec<(&'static str, &'static str, i64)>,
    pub lines: Vec<PaidLine>,
}

fn cents(c: i64) -> Decimal {
    Decimal::new(c, 2)
}

/// Writes an 835 as a payer would: one payment by check of what the claims paid less the
/// provider-level adjustments `(reason, reference, cents)`, unless `total` says otherwise.
pub fn remittance_835(
    control_number: u32,
    trace: &str,
    claims: &[PaidClaim],
    provider_adjustments: &[(&str, &str, i64)],
    total: Option<i64>,
) -> String {
    let total = total.unwrap_or_else(|| {
        claims.iter().map(|c| c.paid).sum::<i64>()
            - provider_adjustments.iter().map(|p| p.2).sum::<i64>()
    });
    let mut w = open_group(
        "87726",
        "S123",
        day(8).and_time(chrono::NaiveTime::from_hms_opt(6, 0, 0).unwrap()),
        control_number,
        "HP",
        "005010X221A1",
    );
    w.begin_transaction("835", "0001", None).unwrap();
    w.segment("BPR")
        .code(if total == 0 { "H" } else { "I" })
        .amount(cents(total))
        .code("C")
        .code(if total == 0 { "NON" } else { "CHK" })
        .empty(11)
        .date(day(8))
        .end();
    w.segment("TRN")
        .code("1")
        .code(trace)
        .code("1410000001")
        .end();
    w.segment("DTM").code("405").date(day(8)).end();
    w.segment("N1")
        .code("PR")
        .text("UnitedHealthcare", 60)
        .end();
    w.segment("N3").text("PO Box 30555", 55).end();
    w.segment("N4")
        .text("Salt Lake City", 30)
        .code("UT")
        .code("841300555")
        .end();
    w.segment("REF").code("2U").code("87726").end();
    w.segment("PER")
        .code("BL")
        .text("Provider services", 60)
        .code("TE")
        .code("8005551234")
        .end();
    w.segment("N1")
        .code("PE")
        .text("Hospital Central", 60)
        .code("XX")
        .code("1234567893")
        .end();
    w.segment("REF").code("TJ").code("123456789").end();
    if !claims.is_empty() {
        w.segment("LX").code("1").end();
    }
    for c in claims {
        w.segment("CLP")
            .code(&c.patient_control_number)
            .code(c.status)
            .amount(cents(c.charge))
            .amount(cents(c.paid))
            .amount(cents(c.patient_responsibility))
            .code("12")
            .code(&c.payer_claim_number)
            .code("11")
            .code("1")
            .end();
        for (group, reason, amount) in &c.adjustments {
            w.segment("CAS")
                .code(group)
                .code(reason)
                .amount(cents(*amount))
                .end();
        }
        w.segment("NM1")
            .code("QC")
            .code("1")
            .text("Munoz", 60)
            .text("Jane", 35)
            .empty(3)
            .code("MI")
            .code("MEMBER123")
            .end();
        for l in &c.lines {
            w.segment("SVC")
                .composite(&["HC", l.code])
                .amount(cents(l.charge))
                .amount(cents(l.paid))
                .empty(1)
                .code("1")
                .end();
            w.segment("DTM").code("472").date(day(1)).end();
            for (group, reason, amount) in &l.adjustments {
                w.segment("CAS")
                    .code(group)
                    .code(reason)
                    .amount(cents(*amount))
                    .end();
            }
            w.segment("REF").code("6R").code(&l.control_number).end();
            if let Some(remark) = l.remark {
                w.segment("LQ").code("HE").code(remark).end();
            }
        }
    }
    for (reason, reference, amount) in provider_adjustments {
        w.segment("PLB")
            .code("1234567893")
            .date(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap())
            .composite(&[reason, reference])
            .amount(cents(*amount))
            .end();
    }
    w.end_transaction().unwrap();
    w.end_group().unwrap();
    w.finish().unwrap()
}

/// A payment for the original claim, the dependent's claim with a zero-paid line and
/// patient responsibility (deductible, coinsurance), a denied claim, and an overpayment
/// recovered by PLB.
pub fn remittance_claims() -> Vec<PaidClaim> {
    vec![
        PaidClaim {
            patient_control_number: "INV-2026-000001".into(),
            status: "1",
            charge: 15000,
            paid: 12000,
            patient_responsibility: 0,
            payer_claim_number: "PAYER-ICN-1".into(),
            adjustments: vec![],
            lines: vec![PaidLine {
                code: "99213",
                charge: 15000,
                paid: 12000,
                adjustments: vec![("CO", "45", 3000)],
                control_number: "INV-2026-000001-1".into(),
                remark: None,
            }],
        },
        PaidClaim {
            patient_control_number: "INV-2026-000002".into(),
            status: "1",
            charge: 15050,
            paid: 7000,
            patient_responsibility: 6050,
            payer_claim_number: "PAYER-ICN-2".into(),
            adjustments: vec![],
            lines: vec![
                PaidLine {
                    code: "99213",
                    charge: 10000,
                    paid: 7000,
                    adjustments: vec![("CO", "45", 2000), ("PR", "2", 1000)],
                    control_number: "INV-2026-000002-1".into(),
                    remark: None,
                },
                PaidLine {
                    code: "85025",
                    charge: 5050,
                    paid: 0,
                    adjustments: vec![("PR", "1", 5050)],
                    control_number: "INV-2026-000002-2".into(),
                    remark: Some("N130"),
                },
            ],
        },
        PaidClaim {
            patient_control_number: "INV-2026-000004".into(),
            status: "4",
            charge: 8000,
            paid: 0,
            patient_responsibility: 0,
            payer_claim_number: "PAYER-ICN-4".into(),
            adjustments: vec![("CO", "50", 8000)],
            lines: vec![],
        },
    ]
}

/// Writes the 999 a clearinghouse answers a claim file with: for each transaction (ST02), its
/// verdict (`A`, `E`, `R`) and the segments in error `(segment, position, loop, element
/// position, element reference, error code, bad value)`.
#[allow(clippy::type_complexity)]
pub fn acknowledgement_999(
    control_number: u32,
    group_control_number: u32,
    verdicts: &[(&str, &str, Vec<(&str, &str, &str, &str, &str, &str, &str)>)],
) -> String {
    let at = chrono::NaiveTime::from_hms_opt(11, 0, 0).unwrap();
    let mut w = open_group(
        "R987",
        "S123",
        day(7).and_time(at),
        control_number,
        "FA",
        "005010X231A1",
    );
    w.begin_transaction("999", "0001", Some("005010X231A1"))
        .unwrap();
    w.segment("AK1")
        .code("HC")
        .code(&group_control_number.to_string())
        .code("005010X222A1")
        .end();
    let accepted = verdicts.iter().filter(|v| v.1 != "R").count();
    for (st, status, errors) in verdicts {
        w.segment("AK2")
            .code("837")
            .code(st)
            .code("005010X222A1")
            .end();
        for (segment, position, loop_id, element, reference, code, value) in errors {
            w.segment("IK3")
                .code(segment)
                .code(position)
                .code(loop_id)
                .code("8")
                .end();
            w.segment("IK4")
                .code(element)
                .code(reference)
                .code(code)
                .code(value)
                .end();
        }
        let mut ik5 = w.segment("IK5").code(status);
        if *status != "A" {
            ik5 = ik5.code("5");
        }
        ik5.end();
    }
    let group = if accepted == verdicts.len() {
        "A"
    } else if accepted == 0 {
        "R"
    } else {
        "P"
    };
    w.segment("AK9")
        .code(group)
        .code(&verdicts.len().to_string())
        .code(&verdicts.len().to_string())
        .code(&accepted.to_string())
        .end();
    w.end_transaction().unwrap();
    w.end_group().unwrap();
    w.finish().unwrap()
}

/// Writes the 277CA a payer answers a claim file with: for each claim, its patient control
/// number, charge (cents), the payer's claim number when accepted, and its status
/// `(category, code)` — `A2:20` accepted, `A7:562:85` rejected for the billing provider's NPI.
pub fn claim_acknowledgement_277ca(
    control_number: u32,
    claims: &[(&str, i64, Option<&str>, &str, &str)],
) -> String {
    let at = chrono::NaiveTime::from_hms_opt(12, 0, 0).unwrap();
    let mut w = open_group(
        "87726",
        "S123",
        day(7).and_time(at),
        control_number,
        "HN",
        "005010X214",
    );
    w.begin_transaction("277", "0001", Some("005010X214"))
        .unwrap();
    w.segment("BHT")
        .code("0085")
        .code("08")
        .code("CA-2026-1")
        .date(day(7))
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
        .text("UnitedHealthcare", 60)
        .empty(4)
        .code("PI")
        .code("87726")
        .end();
    w.segment("TRN").code("1").code("CA-TRACE-1").end();
    w.segment("DTP").code("050").code("D8").date(day(7)).end();
    w.segment("DTP").code("009").code("D8").date(day(7)).end();
    w.segment("HL")
        .code("2")
        .code("1")
        .code("21")
        .code("1")
        .end();
    w.segment("NM1")
        .code("41")
        .code("2")
        .text("Hospital Central", 60)
        .empty(4)
        .code("46")
        .code("S123")
        .end();
    w.segment("TRN").code("2").code("EB-2026-000001").end();
    w.segment("STC")
        .composite(&["A1", "19", "PR"])
        .date(day(7))
        .code("WQ")
        .amount(cents(claims.iter().map(|c| c.1).sum()))
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
        .text("Hospital Central", 60)
        .empty(4)
        .code("XX")
        .code("1234567893")
        .end();
    w.segment("TRN").code("1").code("PROVIDER-1").end();
    w.segment("STC")
        .composite(&["A1", "19", "PR"])
        .empty(1)
        .code("WQ")
        .amount(cents(claims.iter().map(|c| c.1).sum()))
        .end();
    for (n, (pcn, charge, icn, category, code)) in claims.iter().enumerate() {
        w.segment("HL")
            .code(&(4 + n).to_string())
            .code("3")
            .code("PT")
            .end();
        w.segment("NM1")
            .code("QC")
            .code("1")
            .text("Munoz", 60)
            .text("Jane", 35)
            .empty(3)
            .code("MI")
            .code("MEMBER123")
            .end();
        w.segment("TRN").code("2").code(pcn).end();
        let accepted = category.starts_with("A2") || *category == "A1";
        let mut parts = vec![*category, *code];
        if !accepted {
            parts.push("85");
        }
        w.segment("STC")
            .composite(&parts)
            .date(day(7))
            .code(if accepted { "WQ" } else { "U" })
            .amount(cents(*charge))
            .end();
        if let Some(icn) = icn {
            w.segment("REF").code("1K").code(icn).end();
        }
        w.segment("DTP")
            .code("472")
            .code("RD8")
            .date_range(day(1), day(1))
            .end();
    }
    w.end_transaction().unwrap();
    w.end_group().unwrap();
    w.finish().unwrap()
}

/// One claim's line of a 277 answering a 276.
pub struct StatusLine {
    /// TRN02: the trace the 276 sent.
    pub trace: &'static str,
    /// REF*EJ: the patient control number.
    pub pcn: &'static str,
    /// Whether the patient is a dependent (2000E).
    pub dependent: bool,
    /// REF*1K: the payer's claim number.
    pub icn: Option<&'static str>,
    /// STC01-1 and STC01-2: `F1:65` finalized and paid, `P1:20` pending in process, `F2:88`
    /// denied.
    pub status: (&'static str, &'static str),
    /// STC04 and STC05, in cents.
    pub charge: i64,
    pub paid: i64,
}

/// Writes the 277 a payer answers a 276 with (005010X212), one claim per [`StatusLine`].
pub fn claim_status_277(control_number: u32, claims: &[StatusLine]) -> String {
    let at = chrono::NaiveTime::from_hms_opt(14, 0, 0).unwrap();
    let mut w = open_group(
        "87726",
        "S123",
        day(8).and_time(at),
        control_number,
        "HN",
        "005010X212",
    );
    w.begin_transaction("277", "0001", Some("005010X212"))
        .unwrap();
    w.segment("BHT")
        .code("0010")
        .code("08")
        .code("ST-2026-1")
        .date(day(8))
        .code("1400")
        .code("DG")
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
        .text("UnitedHealthcare", 60)
        .empty(4)
        .code("PI")
        .code("87726")
        .end();
    w.segment("HL")
        .code("2")
        .code("1")
        .code("21")
        .code("1")
        .end();
    w.segment("NM1")
        .code("41")
        .code("2")
        .text("Hospital Central", 60)
        .empty(4)
        .code("46")
        .code("S123")
        .end();
    w.segment("HL")
        .code("3")
        .code("2")
        .code("19")
        .code("1")
        .end();
    w.segment("NM1")
        .code("1P")
        .code("2")
        .text("Hospital Central", 60)
        .empty(4)
        .code("XX")
        .code("1234567893")
        .end();
    let mut hl = 3;
    for &StatusLine {
        trace,
        pcn,
        dependent,
        icn,
        status: (category, code),
        charge,
        paid,
    } in claims
    {
        hl += 1;
        let subscriber_hl = hl;
        w.segment("HL")
            .code(&subscriber_hl.to_string())
            .code("3")
            .code("22")
            .code(if dependent { "1" } else { "0" })
            .end();
        w.segment("NM1")
            .code("IL")
            .code("1")
            .text(if dependent { "Doe" } else { "Munoz" }, 60)
            .text(if dependent { "John" } else { "Jane" }, 35)
            .empty(3)
            .code("MI")
            .code("MEMBER123")
            .end();
        if dependent {
            hl += 1;
            w.segment("HL")
                .code(&hl.to_string())
                .code(&subscriber_hl.to_string())
                .code("23")
                .end();
            w.segment("NM1")
                .code("QC")
                .code("1")
                .text("Doe", 60)
                .text("Lucy", 35)
                .end();
        }
        w.segment("TRN").code("2").code(trace).end();
        w.segment("STC")
            .composite(&[category, code])
            .date(day(8))
            .empty(1)
            .amount(cents(charge))
            .amount(cents(paid))
            .end();
        if let Some(icn) = icn {
            w.segment("REF").code("1K").code(icn).end();
        }
        w.segment("REF").code("EJ").code(pcn).end();
        w.segment("DTP")
            .code("472")
            .code("RD8")
            .date_range(day(1), day(1))
            .end();
    }
    w.end_transaction().unwrap();
    w.end_group().unwrap();
    w.finish().unwrap()
}

/// A 276 sample: the claims asked about and, for each, the payer's claim number (REF*1K) when
/// known.
pub struct StatusRequestSample {
    pub name: &'static str,
    pub claims: Vec<Claim>,
    pub payer_claim_numbers: Vec<Option<&'static str>>,
}

/// The 276 samples: a subscriber, a dependent (2000E), a second payer, an inpatient stay
/// (REF*BLT) in one file; a replacement asked about with its payer's number in another.
pub fn status_requests() -> Vec<StatusRequestSample> {
    vec![
        StatusRequestSample {
            name: "status-request",
            claims: vec![original(), dependent(), secondary(), inpatient()],
            payer_claim_numbers: vec![Some("PAYER-ICN-1"), None, None, None],
        },
        StatusRequestSample {
            name: "status-request-replacement",
            claims: vec![corrected(Frequency::Replacement)],
            payer_claim_numbers: vec![Some("PAYER-ICN-7")],
        },
    ]
}

/// The two claims of the sample 277: the first finalized and paid with the payer's claim
/// number, the second (a dependent's) pending.
pub fn status_lines() -> [StatusLine; 2] {
    [
        StatusLine {
            trace: "TRACE-1",
            pcn: "INV-2026-000001",
            dependent: false,
            icn: Some("PAYER-ICN-1"),
            status: ("F1", "65"),
            charge: 15000,
            paid: 12000,
        },
        StatusLine {
            trace: "TRACE-2",
            pcn: "INV-2026-000002",
            dependent: true,
            icn: None,
            status: ("P1", "20"),
            charge: 15050,
            paid: 0,
        },
    ]
}
