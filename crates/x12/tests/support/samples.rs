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
