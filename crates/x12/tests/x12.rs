//! The envelope written and read back, and envelopes that lie refused.

// Outside `#[test]` functions too, a failed write or parse here is a failed test.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers and fixed sample data: panicking is how they fail"
)]

#[path = "support/samples.rs"]
mod samples;

use carebill_domain::claim::ClaimFormat;
use carebill_x12::acknowledgement::read_999;
use carebill_x12::claims::write_837;
use carebill_x12::read::ContentError;
use carebill_x12::remittance::read_835;
use carebill_x12::status::read_277;
use carebill_x12::status_request::{StatusInquiry, write_276};
use carebill_x12::{
    GroupHeader, InterchangeHeader, ReadError, Usage, WriteError, Writer, parse, write::clean,
};
use chrono::{NaiveDate, NaiveTime};
use proptest::prelude::*;
use rust_decimal::Decimal;

fn header(control_number: u32) -> InterchangeHeader {
    InterchangeHeader {
        sender_qualifier: "ZZ".into(),
        sender_id: "S123".into(),
        receiver_qualifier: "ZZ".into(),
        receiver_id: "R987".into(),
        date: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
        time: NaiveTime::from_hms_opt(10, 30, 0).unwrap(),
        control_number,
        acknowledgement_requested: true,
        usage: Usage::Test,
    }
}

fn group(control_number: u32) -> GroupHeader {
    GroupHeader {
        functional_id: "HC",
        sender_code: "S123".into(),
        receiver_code: "R987".into(),
        date: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap(),
        time: NaiveTime::from_hms_opt(10, 30, 0).unwrap(),
        control_number,
        version: "005010X222A1",
    }
}

/// A small interchange of one group and two transactions.
fn sample() -> String {
    let mut w = Writer::new(&header(42)).unwrap();
    w.begin_group(&group(7)).unwrap();
    for st in ["0001", "0002"] {
        w.begin_transaction("837", st, Some("005010X222A1"))
            .unwrap();
        w.segment("BHT")
            .code("0019")
            .code("00")
            .code("EB-2026-000001")
            .date(NaiveDate::from_ymd_opt(2026, 12, 7).unwrap())
            .code("1030")
            .code("CH")
            .end();
        w.segment("CLM")
            .code("INV-1")
            .amount(Decimal::new(15050, 2))
            .empty(2)
            .composite(&["11", "B", "1"])
            .code("Y")
            .end();
        w.segment("SV1")
            .composite(&["HC", "99213", "25", "", ""])
            .amount(Decimal::new(10000, 2))
            .code("UN")
            .quantity(Decimal::new(1, 0))
            .empty(2)
            .composite(&["1", "2"])
            .empty(3)
            .end();
        w.end_transaction().unwrap();
    }
    w.end_group().unwrap();
    w.finish().unwrap()
}

#[test]
fn the_envelope_is_written_with_its_counts_and_fixed_width_isa() {
    let file = sample();
    let isa = &file[..106];
    assert_eq!(
        isa,
        "ISA*00*          *00*          *ZZ*S123           *ZZ*R987           *261207*1030*^*00501*000000042*1*T*:~"
    );
    assert!(file.contains("~GS*HC*S123*R987*20261207*1030*7*X*005010X222A1~"));
    assert!(file.contains(
        "~ST*837*0001*005010X222A1~BHT*0019*00*EB-2026-000001*20261207*1030*CH~CLM*INV-1*150.5***11:B:1*Y~SV1*HC:99213:25*100*UN*1***1:2~SE*5*0001~"
    ));
    assert!(file.ends_with("~SE*5*0002~GE*2*7~IEA*1*000000042~"));
}

#[test]
fn an_interchange_reads_back_with_its_delimiters_and_positions() {
    let file = sample();
    let x = parse(&file).unwrap();
    assert_eq!(x.control_number(), "000000042");
    assert_eq!(x.sender_id(), "S123");
    assert_eq!(x.groups.len(), 1);
    let txs = &x.groups[0].transactions;
    assert_eq!(txs.len(), 2);
    assert_eq!(txs[1].control_number(), "0002");
    let sv1 = &txs[0].segments[2];
    assert_eq!(sv1.id, "SV1");
    assert_eq!(sv1.position, 6);
    assert_eq!(sv1.components(1), ["HC", "99213", "25"]);
    assert_eq!(sv1.component(7, 2), "2");
    assert_eq!(sv1.element(20), "");

    // Line breaks and carriage returns after terminators are tolerated.
    let broken = file.replace('~', "~\r\n");
    assert_eq!(parse(&broken).unwrap().groups[0].transactions.len(), 2);
    // So are other delimiters, declared by the ISA.
    let other = file.replace('*', "|").replace('~', "\n");
    let x = parse(&other).unwrap();
    assert_eq!(x.delimiters.element, '|');
    assert_eq!(x.groups[0].transactions[0].segments[1].element(2), "150.5");
}

#[test]
fn envelopes_that_lie_are_refused_naming_the_segment() {
    let file = sample();
    let err = parse(&file.replacen("SE*5*0001", "SE*6*0001", 1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "segment 7 (SE): expected SE01 = 5 (the segments from ST to SE), found 6"
    );
    let err = parse(&file.replacen("SE*5*0002", "SE*5*0003", 1)).unwrap_err();
    assert!(
        matches!(err, ReadError::Envelope { ref segment, .. } if segment == "SE"),
        "{err}"
    );
    let err = parse(&file.replace("GE*2*7", "GE*1*7")).unwrap_err();
    assert!(
        matches!(err, ReadError::Envelope { ref segment, .. } if segment == "GE"),
        "{err}"
    );
    let err = parse(&file.replace("IEA*1*000000042", "IEA*1*000000043")).unwrap_err();
    assert!(err.to_string().contains("IEA02 = ISA13"), "{err}");
    let err = parse(&file.replace("~IEA*1*000000042~", "~")).unwrap_err();
    assert!(err.to_string().contains("IEA after it"), "{err}");
    let err = parse(&format!("{file}ST*837*0003~")).unwrap_err();
    assert!(err.to_string().contains("nothing after IEA"), "{err}");
    let without_se = file.replacen("SE*5*0001~", "", 1);
    let err = parse(&without_se).unwrap_err();
    assert!(
        err.to_string().contains("SE closing the transaction"),
        "{err}"
    );

    assert_eq!(
        parse("<Invoice/>").unwrap_err(),
        ReadError::NotX12("it does not begin with ISA")
    );
    assert!(matches!(parse("ISA*00*"), Err(ReadError::NotX12(_))));
    assert!(matches!(parse(""), Err(ReadError::NotX12(_))));
}

#[test]
fn the_writer_refuses_what_x12_cannot_carry_and_a_broken_order() {
    let mut h = header(1);
    h.sender_id = "A SENDER ID LONGER THAN 15".into();
    assert!(matches!(
        Writer::new(&h),
        Err(WriteError::Invalid {
            element: "ISA06",
            ..
        })
    ));
    assert!(matches!(
        Writer::new(&header(0)),
        Err(WriteError::Invalid {
            element: "ISA13",
            ..
        })
    ));
    assert!(matches!(
        Writer::new(&header(1_000_000_000)),
        Err(WriteError::Invalid {
            element: "ISA13",
            ..
        })
    ));
    let mut h = header(1);
    h.receiver_id = "R*987".into();
    assert!(matches!(
        Writer::new(&h),
        Err(WriteError::Invalid {
            element: "ISA08",
            ..
        })
    ));

    let mut w = Writer::new(&header(1)).unwrap();
    assert!(matches!(
        w.begin_transaction("837", "0001", Some("005010X222A1")),
        Err(WriteError::Order(_))
    ));
    assert!(matches!(w.end_group(), Err(WriteError::Order(_))));
    w.begin_group(&group(1)).unwrap();
    w.begin_transaction("837", "0001", Some("005010X222A1"))
        .unwrap();
    assert!(matches!(
        w.begin_group(&group(2)),
        Err(WriteError::Order(_))
    ));
    assert!(matches!(w.end_group(), Err(WriteError::Order(_))));
    w.end_transaction().unwrap();
    assert!(matches!(w.end_transaction(), Err(WriteError::Order(_))));
    assert!(matches!(w.finish(), Err(WriteError::Order(_))));
}

fn any_text() -> impl Strategy<Value = String> {
    // Letters from several scripts, X12's punctuation and every delimiter.
    proptest::string::string_regex("[A-Za-z0-9 ñéüøß*:^~|.,'&()-]{0,40}").unwrap()
}

proptest! {
    #[test]
    fn whatever_text_goes_in_the_file_reads_back_cleaned_and_enveloped(
        values in proptest::collection::vec(any_text(), 1..12),
        control in 1u32..=999_999_999,
    ) {
        let mut w = Writer::new(&header(control)).unwrap();
        w.begin_group(&group(control)).unwrap();
        w.begin_transaction("837", "0001", Some("005010X222A1")).unwrap();
        for v in &values {
            w.segment("NTE").code("ADD").text(v, 80).end();
        }
        w.end_transaction().unwrap();
        w.end_group().unwrap();
        let file = w.finish().unwrap();
        let x = parse(&file).unwrap();
        let segments = &x.groups[0].transactions[0].segments;
        prop_assert_eq!(segments.len(), values.len());
        for (s, v) in segments.iter().zip(&values) {
            let expected = clean(v, 80, &carebill_x12::Delimiters::default());
            prop_assert_eq!(s.element(2), expected.as_str());
            prop_assert!(s.len() <= 2);
            prop_assert!(s.element(2).chars().all(|c| c.is_ascii() && !"*:^~".contains(c)));
            prop_assert!(!s.element(2).starts_with(' ') && !s.element(2).ends_with(' '));
        }
    }
}

fn decimal(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn every_sample_claim_file_reads_back_with_its_hierarchy_and_totals() {
    for sample in samples::all() {
        let file = write_837(&samples::header(9), &sample.claims).unwrap();
        let x = parse(&file.text).unwrap();
        let groups: Vec<&str> = x.groups.iter().map(|g| g.header.element(8)).collect();
        let formats: Vec<&str> = [ClaimFormat::Professional, ClaimFormat::Institutional]
            .into_iter()
            .filter(|f| sample.claims.iter().any(|c| c.format == *f))
            .map(|f| match f {
                ClaimFormat::Professional => "005010X222A1",
                ClaimFormat::Institutional => "005010X223A2",
            })
            .collect();
        assert_eq!(groups, formats, "{}", sample.name);
        let mut claims = 0;
        for tx in x.groups.iter().flat_map(|g| &g.transactions) {
            // Every HL's parent is an HL already written, and levels nest 20 > 22 > 23.
            let mut levels = std::collections::HashMap::new();
            for hl in tx.segments.iter().filter(|s| s.id == "HL") {
                let level = hl.element(3);
                if hl.element(2).is_empty() {
                    assert_eq!(level, "20", "{}", sample.name);
                } else {
                    let expected = if level == "22" { "20" } else { "22" };
                    assert_eq!(levels[hl.element(2)], expected, "{}", sample.name);
                }
                levels.insert(hl.element(1), level);
            }
            // CLM02 is the sum of its lines' SV102 (SV203).
            let mut totals: Vec<(Decimal, Decimal)> = Vec::new();
            for s in &tx.segments {
                match s.id {
                    "CLM" => totals.push((decimal(s.element(2)), Decimal::ZERO)),
                    "SV1" => totals.last_mut().unwrap().1 += decimal(s.element(2)),
                    "SV2" => totals.last_mut().unwrap().1 += decimal(s.element(3)),
                    _ => {}
                }
            }
            for (clm, lines) in &totals {
                assert_eq!(clm, lines, "{}", sample.name);
            }
            claims += totals.len();
        }
        assert_eq!(claims, sample.claims.len(), "{}", sample.name);
        let mut written: Vec<String> = file
            .transactions
            .iter()
            .flat_map(|t| t.patient_control_numbers.clone())
            .collect();
        let mut given: Vec<String> = sample
            .claims
            .iter()
            .map(|c| c.patient_control_number.clone())
            .collect();
        written.sort();
        given.sort();
        assert_eq!(written, given, "{}", sample.name);
    }
}

#[test]
fn a_patient_who_is_not_the_subscriber_has_a_patient_loop_and_corrections_name_the_payers_claim() {
    let file = write_837(&samples::header(1), &[samples::dependent()]).unwrap();
    assert!(
        file.text
            .contains("~HL*2*1*22*1~SBR*P**GRP-1******CI~NM1*IL*1*DOE*JOHN****MI*MEMBER123~")
    );
    assert!(file.text.contains("~HL*3*2*23*0~PAT*19~NM1*QC*1*DOE*LUCY~"));
    assert!(file.text.contains("~HI*ABK:J189*ABF:E119~"));
    assert!(file.text.contains("~SV1*HC:85025:LT:59*50.5*UN*1***2~"));
    let file = write_837(&samples::header(1), &[samples::original()]).unwrap();
    assert!(
        file.text
            .contains("~HL*2*1*22*0~SBR*P*18*GRP-1******CI~NM1*IL*1*MUNOZ*JANE****MI*MEMBER123~")
    );
    assert!(!file.text.contains("~REF*F8"));
    let void = samples::corrected(carebill_domain::claim::Frequency::Void);
    let file = write_837(&samples::header(1), &[void]).unwrap();
    assert!(
        file.text
            .contains("~CLM*INV-2026-000001*120***11:B:8*Y*A*Y*I~REF*F8*PAYER-ICN-778899~")
    );
}

#[test]
fn more_than_five_thousand_claims_go_in_several_transactions() {
    let claims: Vec<_> = (0..5_001)
        .map(|n| {
            let mut c = samples::original();
            c.patient_control_number = format!("INV-{n:06}");
            c
        })
        .collect();
    let file = write_837(&samples::header(1), &claims).unwrap();
    assert_eq!(file.transactions.len(), 2);
    assert_eq!(file.transactions[1].transaction_control_number, "0002");
    assert_eq!(file.transactions[1].patient_control_numbers, ["INV-005000"]);
    let x = parse(&file.text).unwrap();
    assert_eq!(x.groups[0].transactions.len(), 2);
    assert_eq!(
        x.groups[0].transactions[0]
            .segments
            .iter()
            .filter(|s| s.id == "CLM")
            .count(),
        5_000
    );
}

#[test]
fn an_inpatient_claim_carries_its_stay_and_a_mixed_file_has_a_group_per_format() {
    let file = write_837(
        &samples::header(5),
        &[samples::original(), samples::inpatient()],
    )
    .unwrap();
    assert!(
        file.text
            .contains("~GS*HC*S123*R987*20261207*1030*5*X*005010X222A1~")
    );
    assert!(
        file.text
            .contains("~GS*HC*S123*R987*20261207*1030*6*X*005010X223A2~")
    );
    assert_eq!(file.last_group_control_number, 6);
    assert_eq!(
        file.transactions
            .iter()
            .map(|t| t.group_control_number)
            .collect::<Vec<_>>(),
        [5, 6]
    );
    assert!(file.text.contains(
        "~CLM*INV-2026-000010*3645.5***11:A:1**A*Y*I~DTP*434*RD8*20261201-20261204~DTP*435*DT*202612010830~CL1*1*7*01~HI*ABK:J189:::::::Y~HI*ABJ:R509~HI*ABF:E119:::::::Y*ABF:N390:::::::N~NM1*71*1*GARCIA*ANA*M***XX*1000000004~"
    ));
    assert!(file.text.contains("~SV2*0120**3600*DA*3~"));
    let outpatient = write_837(&samples::header(5), &[samples::outpatient()]).unwrap();
    assert!(
        outpatient
            .text
            .contains("~CL1***01~HI*ABK:J189~HI*ABF:E119~")
    );
}

#[test]
fn no_claims_or_a_claim_its_guide_cannot_carry_write_no_file() {
    assert!(matches!(
        write_837(&samples::header(1), &[]),
        Err(WriteError::Order(_))
    ));
    let refused = |c: carebill_domain::claim::Claim| match write_837(
        &samples::header(1),
        &[samples::original(), c],
    ) {
        Err(WriteError::Claim { problem, .. }) => problem,
        other => panic!("written: {other:?}"),
    };
    let mut c = samples::original();
    c.format = ClaimFormat::Institutional;
    assert!(refused(c).contains("facility type"));
    let mut c = samples::original();
    c.place_of_service = None;
    assert!(refused(c).contains("place of service"));
    let mut c = samples::original();
    c.lines[0].procedure = None;
    assert!(refused(c).contains("procedure code"));
    let mut c = samples::original();
    c.lines[0].diagnosis_pointers = vec![2];
    assert!(refused(c).contains("points to one to four"));
    let mut c = samples::original();
    c.diagnoses.clear();
    assert!(refused(c).contains("principal diagnosis"));
    let mut c = samples::dependent();
    c.patient = None;
    assert!(refused(c).contains("patient's details"));
    let mut c = samples::corrected(carebill_domain::claim::Frequency::Void);
    c.payer_claim_number = None;
    assert!(refused(c).contains("REF*F8"));
    let mut c = samples::inpatient();
    c.lines[0].revenue_code = None;
    assert!(refused(c).contains("revenue code"));
    let mut c = samples::original();
    c.lines = (0..51)
        .map(|_| samples::original().lines[0].clone())
        .collect();
    assert!(refused(c).contains("more service lines"));
}

fn remittance() -> String {
    samples::remittance_835(
        100,
        "CHK-100200",
        &samples::remittance_claims(),
        &[("WO", "PAYER-ICN-0", 2000)],
        None,
    )
}

#[test]
fn a_remittance_reads_claim_by_claim_and_line_by_line() {
    let text = remittance();
    let x = parse(&text).unwrap();
    let all = read_835(&x).unwrap();
    assert_eq!(all.len(), 1);
    let r = &all[0];
    assert_eq!(r.total, decimal("170"));
    assert_eq!(
        (r.method.as_str(), r.trace_number.as_str()),
        ("CHK", "CHK-100200")
    );
    assert_eq!(r.payer_id, "87726", "REF*2U overrides TRN03");
    assert_eq!(r.payer_name, "UNITEDHEALTHCARE");
    assert_eq!(r.payee_npi.as_deref(), Some("1234567893"));
    assert_eq!(r.paid_on, samples::day(8));
    assert_eq!(r.claims.len(), 3);
    let second = &r.claims[1];
    assert_eq!(second.patient_control_number, "INV-2026-000002");
    assert_eq!(
        (second.charge, second.paid),
        (decimal("150.5"), decimal("70"))
    );
    assert_eq!(second.patient_responsibility, decimal("60.5"));
    assert_eq!(second.payer_claim_number, "PAYER-ICN-2");
    assert_eq!(second.member_id.as_deref(), Some("MEMBER123"));
    assert_eq!(second.lines.len(), 2);
    let zero = &second.lines[1];
    assert_eq!(zero.procedure, ["HC", "85025"]);
    assert_eq!((zero.charge, zero.paid), (decimal("50.5"), Decimal::ZERO));
    assert_eq!(zero.control_number.as_deref(), Some("INV-2026-000002-2"));
    assert_eq!(zero.remarks, ["N130"]);
    assert_eq!(zero.date, Some(samples::day(1)));
    let pr: Decimal = second
        .all_adjustments()
        .filter(|a| a.group == "PR")
        .map(|a| a.amount)
        .sum();
    assert_eq!(pr, second.patient_responsibility);
    let denied = &r.claims[2];
    assert!(denied.is_denied());
    assert_eq!(denied.adjustments[0].reason, "50");
    assert!(denied.lines.is_empty());
    assert_eq!(r.provider_adjustments.len(), 1);
    assert_eq!(r.provider_adjustments[0].reason, "WO");
    assert_eq!(
        r.provider_adjustments[0].reference.as_deref(),
        Some("PAYER-ICN-0")
    );
    assert_eq!(r.provider_adjustments[0].amount, decimal("20"));
}

#[test]
fn a_remittance_that_does_not_balance_is_refused_naming_the_segment() {
    // BPR02 that is not what the claims paid less the PLB.
    let text = samples::remittance_835(
        1,
        "T",
        &samples::remittance_claims(),
        &[("WO", "X", 2000)],
        Some(19000),
    );
    let err = read_835(&parse(&text).unwrap()).unwrap_err();
    assert_eq!(
        err,
        ContentError::Unbalanced {
            segment: "BPR".into(),
            position: 4,
            expected: decimal("170"),
            found: decimal("190"),
        }
    );
    // A claim paid more than its charge less its adjustments.
    let mut claims = samples::remittance_claims();
    claims[0].paid = 12100;
    let err = read_835(&parse(&samples::remittance_835(1, "T", &claims, &[], None)).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, ContentError::Unbalanced { ref segment, .. } if segment == "CLP"),
        "{err}"
    );
    assert!(err.to_string().contains("expected 120"), "{err}");
    // A line whose paid amount disagrees with its adjustments.
    let mut claims = samples::remittance_claims();
    claims[1].lines[0].paid = 7100;
    claims[1].paid = 7100;
    let err = read_835(&parse(&samples::remittance_835(1, "T", &claims, &[], None)).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, ContentError::Unbalanced { ref segment, .. } if segment == "SVC"),
        "{err}"
    );
    // Lines that do not add up to the claim's charge.
    let mut claims = samples::remittance_claims();
    claims[0].charge = 16000;
    claims[0].adjustments = vec![("CO", "45", 1000)];
    let err = read_835(&parse(&samples::remittance_835(1, "T", &claims, &[], None)).unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("expected 150, found 160"), "{err}");
    // A claim file is not a remittance; a CAS with an unknown group is refused.
    let claim_file = write_837(&samples::header(1), &[samples::original()]).unwrap();
    assert_eq!(
        read_835(&parse(&claim_file.text).unwrap()).unwrap_err(),
        ContentError::Missing("835")
    );
    let bad_group = remittance().replacen("CAS*CO*45*30", "CAS*XX*45*30", 1);
    let err = read_835(&parse(&bad_group).unwrap()).unwrap_err();
    assert!(err.to_string().contains("CAS01 `XX`"), "{err}");
}

#[test]
fn a_999_says_which_transactions_were_taken_and_what_was_wrong_in_the_others() {
    // The file's transactions 0001 and 0002 of group 7: the second refused for a bad NPI.
    let text = samples::acknowledgement_999(
        201,
        7,
        &[
            ("0001", "A", vec![]),
            (
                "0002",
                "R",
                vec![("NM1", "23", "2010", "9", "67", "7", "1234567890")],
            ),
        ],
    );
    let acks = read_999(&parse(&text).unwrap()).unwrap();
    assert_eq!(acks.len(), 1);
    let a = &acks[0];
    assert_eq!(
        (a.functional_id.as_str(), a.group_control_number.as_str()),
        ("HC", "7")
    );
    assert_eq!(a.group_status, "P");
    assert_eq!(a.counts, (2, 2, 1));
    assert!(a.transactions[0].accepted());
    let refused = &a.transactions[1];
    assert!(!refused.accepted());
    assert_eq!(refused.control_number, "0002");
    assert_eq!(refused.codes, ["5"]);
    assert_eq!(refused.errors[0].segment, "NM1");
    assert_eq!(refused.errors[0].loop_id.as_deref(), Some("2010"));
    assert_eq!(refused.errors[0].elements[0].position, "9");
    assert_eq!(
        refused.errors[0].elements[0].value.as_deref(),
        Some("1234567890")
    );

    // A claim file is not an acknowledgement; a verdict without IK5 is refused.
    let claim_file = write_837(&samples::header(1), &[samples::original()]).unwrap();
    assert_eq!(
        read_999(&parse(&claim_file.text).unwrap()).unwrap_err(),
        ContentError::Missing("999")
    );
    let without_ik5 = text
        .replacen("IK5*A~", "", 1)
        .replacen("SE*10*0001", "SE*9*0001", 1);
    let err = read_999(&parse(&without_ik5).unwrap()).unwrap_err();
    assert!(
        err.to_string().contains("transaction 0001 has no IK5"),
        "{err}"
    );
}

#[test]
fn a_277ca_says_which_claims_the_payer_took_with_its_claim_numbers_and_why_the_others_not() {
    let text = samples::claim_acknowledgement_277ca(
        300,
        &[
            ("INV-2026-000001", 15000, Some("PAYER-ICN-1"), "A2", "20"),
            ("INV-2026-000002", 15050, None, "A7", "562"),
        ],
    );
    let reports = read_277(&parse(&text).unwrap()).unwrap();
    let r = &reports[0];
    assert_eq!(r.version, "005010X214");
    assert_eq!(
        (r.payer_name.as_str(), r.payer_id.as_str()),
        ("UNITEDHEALTHCARE", "87726")
    );
    assert_eq!(
        r.claims.len(),
        2,
        "the submitter's and provider's levels are not claims"
    );
    let taken = &r.claims[0];
    assert_eq!(taken.patient_control_number, "INV-2026-000001");
    assert_eq!(taken.payer_claim_number.as_deref(), Some("PAYER-ICN-1"));
    assert!(taken.accepted() && !taken.rejected());
    let refused = &r.claims[1];
    assert!(refused.rejected() && !refused.accepted());
    let why = &refused.statuses[0];
    assert_eq!((why.category.as_str(), why.code.as_str()), ("A7", "562"));
    assert_eq!(why.entity.as_deref(), Some("85"));
    assert_eq!(why.amount, Some(decimal("150.5")));
    assert_eq!(why.date, Some(samples::day(7)));

    // Not a 277; a claim without a status.
    let claim_file = write_837(&samples::header(1), &[samples::original()]).unwrap();
    assert_eq!(
        read_277(&parse(&claim_file.text).unwrap()).unwrap_err(),
        ContentError::Missing("277")
    );
    let no_status = text
        .replacen("STC*A7:562:85*20261207*U*150.5~", "", 1)
        .replacen("SE*27*0001", "SE*26*0001", 1);
    let err = read_277(&parse(&no_status).unwrap()).unwrap_err();
    assert!(
        err.to_string()
            .contains("claim INV-2026-000002 has no status"),
        "{err}"
    );
}

/// The 276 asking about every claim of the first status-request sample, read back.
fn status_request() -> (Vec<carebill_domain::claim::Claim>, String) {
    let sample = samples::status_requests().remove(0);
    assert_eq!(sample.name, "status-request");
    let claims = sample.claims;
    let inquiries: Vec<StatusInquiry<'_>> = claims
        .iter()
        .zip(&sample.payer_claim_numbers)
        .map(|(claim, icn)| StatusInquiry {
            claim,
            trace: &claim.patient_control_number,
            payer_claim_number: *icn,
        })
        .collect();
    let file = write_276(&samples::header(500), &inquiries).unwrap();
    assert_eq!(file.transactions.len(), 1);
    assert_eq!(
        file.transactions[0].patient_control_numbers,
        claims
            .iter()
            .map(|c| c.patient_control_number.clone())
            .collect::<Vec<_>>()
    );
    (claims, file.text)
}

#[test]
fn a_status_request_asks_each_payer_about_its_claims_under_their_subscribers() {
    let (claims, text) = status_request();
    let interchange = parse(&text).unwrap();
    let group = &interchange.groups[0];
    assert_eq!(
        (group.header.element(1), group.header.element(8)),
        ("HR", "005010X212")
    );
    let tx = &group.transactions[0];
    assert_eq!((tx.id(), tx.header.element(3)), ("276", "005010X212"));
    let segs = &tx.segments;

    // Every HL's parent is an HL before it, one level up: payer 20 → receiver 21 → provider
    // 19 → subscriber 22 → dependent 23.
    let mut levels = std::collections::HashMap::new();
    for s in segs.iter().filter(|s| s.id == "HL") {
        let level = s.element(3);
        let parent = s.element(2);
        let expected_parent = match level {
            "20" => None,
            "21" => Some("20"),
            "19" => Some("21"),
            "22" => Some("19"),
            "23" => Some("22"),
            other => panic!("HL level {other}"),
        };
        assert_eq!(
            expected_parent,
            (!parent.is_empty()).then(|| levels[parent]),
            "HL*{}",
            s.element(1)
        );
        levels.insert(s.element(1), level);
    }
    // Two payers (UnitedHealthcare for three claims, Aetna for the secondary), each once.
    let payers: Vec<&str> = segs
        .iter()
        .filter(|s| s.id == "NM1" && s.element(1) == "PR")
        .map(|s| s.element(9))
        .collect();
    assert_eq!(payers, ["87726", "60054"]);

    // Each claim: its trace, REF*EJ, its charge and its period; the payer's number when known,
    // the type of bill when institutional.
    for claim in &claims {
        let pcn = claim.patient_control_number.as_str();
        let at = segs
            .iter()
            .position(|s| s.id == "TRN" && s.element(2) == pcn)
            .unwrap_or_else(|| panic!("no TRN for {pcn}"));
        let tracking: Vec<_> = segs[at + 1..]
            .iter()
            .take_while(|s| s.id != "HL" && s.id != "SE")
            .collect();
        let refs = |q: &str| {
            tracking
                .iter()
                .find(|s| s.id == "REF" && s.element(1) == q)
                .map(|s| s.element(2))
        };
        assert_eq!(refs("EJ"), Some(pcn));
        let amount = tracking.iter().find(|s| s.id == "AMT").unwrap();
        assert_eq!(
            (amount.element(1), decimal(amount.element(2))),
            ("T3", claim.total_charge())
        );
        let period = tracking.iter().find(|s| s.id == "DTP").unwrap();
        assert_eq!((period.element(1), period.element(2)), ("472", "RD8"));
        assert_eq!(
            refs("BLT"),
            claim.institutional.as_ref().map(|_| "111"),
            "{pcn}"
        );
    }
    let first = segs.iter().position(|s| s.id == "TRN").unwrap();
    assert_eq!(segs[first + 1].element(1), "1K");
    assert_eq!(segs[first + 1].element(2), "PAYER-ICN-1");
    let stay = segs
        .iter()
        .position(|s| s.id == "TRN" && s.element(2) == "INV-2026-000010")
        .unwrap();
    assert_eq!(
        segs[stay + 4].element(3),
        "20261201-20261204",
        "the statement period"
    );

    // The dependent: DMG and NM1*QC in 2000E, and no DMG under the subscriber then.
    let dependent = segs
        .iter()
        .position(|s| s.id == "HL" && s.element(3) == "23")
        .unwrap();
    let subscriber = &segs[dependent - 2..dependent];
    assert_eq!(
        (subscriber[0].id, subscriber[0].element(4)),
        ("HL", "1"),
        "the subscriber's HL says a dependent follows"
    );
    assert_eq!((subscriber[1].id, subscriber[1].element(1)), ("NM1", "IL"));
    assert_eq!(
        (
            segs[dependent + 1].id,
            segs[dependent + 2].id,
            segs[dependent + 2].element(1)
        ),
        ("DMG", "NM1", "QC")
    );
    assert_eq!(segs[dependent + 1].element(2), "20150315");
}

#[test]
fn a_status_request_without_claims_or_with_a_bad_trace_is_not_written() {
    let claim = samples::original();
    assert_eq!(
        write_276(&samples::header(1), &[]).unwrap_err(),
        WriteError::Order("a status request needs at least one claim")
    );
    let long = "T".repeat(51);
    for trace in ["", "  ", long.as_str()] {
        let err = write_276(
            &samples::header(1),
            &[StatusInquiry {
                claim: &claim,
                trace,
                payer_claim_number: None,
            }],
        )
        .unwrap_err();
        assert!(
            matches!(&err, WriteError::Claim { patient_control_number, problem }
                if patient_control_number == "INV-2026-000001" && problem.contains("TRN02")),
            "{err}"
        );
    }
}

#[test]
fn a_277_answering_a_276_names_each_claim_by_its_patient_control_number_and_trace() {
    let text = samples::claim_status_277(400, &samples::status_lines());
    let reports = read_277(&parse(&text).unwrap()).unwrap();
    let r = &reports[0];
    assert_eq!(
        (r.version.as_str(), r.reference.as_str()),
        ("005010X212", "ST-2026-1")
    );
    let names: Vec<(&str, &str)> = r
        .claims
        .iter()
        .map(|c| (c.patient_control_number.as_str(), c.trace.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("INV-2026-000001", "TRACE-1"),
            ("INV-2026-000002", "TRACE-2")
        ],
        "REF*EJ names the claim, TRN02 is the 276's trace (a dependent's claim too)"
    );
    let paid = &r.claims[0];
    assert!(paid.accepted() && !paid.rejected());
    assert_eq!(paid.payer_claim_number.as_deref(), Some("PAYER-ICN-1"));
    assert_eq!(
        (
            paid.statuses[0].category.as_str(),
            paid.statuses[0].code.as_str()
        ),
        ("F1", "65")
    );
    assert_eq!(paid.statuses[0].amount, Some(decimal("150")));
    let pending = &r.claims[1];
    assert!(pending.accepted(), "pending (P1) is with the payer");
}
