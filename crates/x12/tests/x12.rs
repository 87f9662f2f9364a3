//! The envelope written and read back, and envelopes that lie refused.

// Outside `#[test]` functions too, a failed write or parse here is a failed test.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers and fixed sample data: panicking is how they fail"
)]

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
        w.begin_transaction("837", st, "005010X222A1").unwrap();
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
        w.begin_transaction("837", "0001", "005010X222A1"),
        Err(WriteError::Order(_))
    ));
    assert!(matches!(w.end_group(), Err(WriteError::Order(_))));
    w.begin_group(&group(1)).unwrap();
    w.begin_transaction("837", "0001", "005010X222A1").unwrap();
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
        w.begin_transaction("837", "0001", "005010X222A1").unwrap();
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
