//! The 276 claim status request (005010X212): the e-billing's "Request file", which asks each
//! payer where the claims of a claim file stand. The payer answers with a 277 (read by
//! [`crate::status::read_277`]), which echoes each claim's trace number (TRN02).
//!
//! The hierarchy is payer (2000A) → the submitter as information receiver (2000B) → billing
//! provider (2000C) → subscriber (2000D) → patient when not the subscriber (2000E); each claim
//! is asked about with its trace (TRN), the payer's claim number when the 277CA gave one
//! (REF*1K), its patient control number (REF*EJ), for an institutional claim its type of bill
//! (REF*BLT), its charge (AMT*T3) and its service period (DTP*472).

use carebill_domain::claim::{Claim, Relationship};
use chrono::NaiveDate;

use crate::claims::{CLAIMS_PER_TRANSACTION, ClaimFileHeader, WrittenTransaction, name};
use crate::write::{GroupHeader, WriteError, Writer};

/// The guide's version, in GS08 and ST03.
pub const VERSION: &str = "005010X212";

/// One claim asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusInquiry<'a> {
    /// The claim as it was sent.
    pub claim: &'a Claim,
    /// TRN02, at most 50 characters: the payer's 277 returns it.
    pub trace: &'a str,
    /// REF*1K: the payer's claim control number, when its 277CA gave one.
    pub payer_claim_number: Option<&'a str>,
}

/// A 276 interchange and which claims each of its transactions asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRequestFile {
    /// The interchange.
    pub text: String,
    /// Its transactions (one per 5,000 claims), with the patient control numbers they ask about.
    pub transactions: Vec<WrittenTransaction>,
}

/// Writes a 276 asking about `inquiries`, from the claim file's header: the same sender and
/// receiver, the submitter as the information receiver (2100B), `header.reference` in BHT03,
/// and `header.first_group_control_number` as GS06.
///
/// # Errors
/// An empty list, a trace that is empty or longer than 50 characters, a dependent without the
/// patient's details, or a header value X12 cannot carry: nothing is written.
pub fn write_276(
    header: &ClaimFileHeader,
    inquiries: &[StatusInquiry<'_>],
) -> Result<StatusRequestFile, WriteError> {
    if inquiries.is_empty() {
        return Err(WriteError::Order(
            "a status request needs at least one claim",
        ));
    }
    for i in inquiries {
        let problem = if i.trace.trim().is_empty() || i.trace.chars().count() > 50 {
            Some("the trace number (TRN02) must have 1 to 50 characters")
        } else if i.claim.relationship != Relationship::SelfInsured && i.claim.patient.is_none() {
            Some("the patient is not the subscriber, so the patient's details are needed")
        } else if i.claim.lines.is_empty() {
            Some("a claim needs at least one service line for its service period")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(WriteError::Claim {
                patient_control_number: i.claim.patient_control_number.clone(),
                problem,
            });
        }
    }
    let mut w = Writer::new(&header.interchange)?;
    w.begin_group(&GroupHeader {
        functional_id: "HR",
        sender_code: header.application_sender.clone(),
        receiver_code: header.application_receiver.clone(),
        date: header.created_at.date(),
        time: header.created_at.time(),
        control_number: header.first_group_control_number,
        version: VERSION,
    })?;
    let mut transactions = Vec::new();
    for (n, chunk) in inquiries.chunks(CLAIMS_PER_TRANSACTION).enumerate() {
        let control = format!("{:04}", n + 1);
        w.begin_transaction("276", &control, Some(VERSION))?;
        transaction(&mut w, header, chunk);
        w.end_transaction()?;
        transactions.push(WrittenTransaction {
            group_control_number: header.first_group_control_number,
            transaction_control_number: control,
            patient_control_numbers: chunk
                .iter()
                .map(|i| i.claim.patient_control_number.clone())
                .collect(),
        });
    }
    w.end_group()?;
    Ok(StatusRequestFile {
        text: w.finish()?,
        transactions,
    })
}

/// Groups `items` by `key`, keeping the order in which each key first appears.
fn grouped<'a, T, K: PartialEq>(items: &[&'a T], key: impl Fn(&T) -> K) -> Vec<Vec<&'a T>> {
    let mut groups: Vec<(K, Vec<&'a T>)> = Vec::new();
    for item in items {
        let k = key(item);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, list)) => list.push(item),
            None => groups.push((k, vec![item])),
        }
    }
    groups.into_iter().map(|(_, list)| list).collect()
}

fn hl(w: &mut Writer, id: usize, parent: Option<usize>, level: &str, children: Option<bool>) {
    w.segment("HL")
        .code(&id.to_string())
        .code(&parent.map(|p| p.to_string()).unwrap_or_default())
        .code(level)
        .code(match children {
            Some(true) => "1",
            Some(false) => "0",
            None => "",
        })
        .end();
}

fn transaction(w: &mut Writer, header: &ClaimFileHeader, inquiries: &[StatusInquiry<'_>]) {
    w.segment("BHT")
        .code("0010")
        .code("13")
        .text(&header.reference, 50)
        .date(header.created_at.date())
        .code(&header.created_at.format("%H%M").to_string())
        .end();
    let all: Vec<&StatusInquiry<'_>> = inquiries.iter().collect();
    let mut id = 0usize;
    for of_payer in grouped(&all, |i| i.claim.payer.payer_id.clone()) {
        id += 1;
        let payer_hl = id;
        let payer = &of_payer[0].claim.payer;
        hl(w, payer_hl, None, "20", Some(true));
        w.segment("NM1")
            .code("PR")
            .code("2")
            .text(&payer.name, 60)
            .empty(4)
            .code("PI")
            .text(&payer.payer_id, 80)
            .end();
        id += 1;
        let receiver_hl = id;
        hl(w, receiver_hl, Some(payer_hl), "21", Some(true));
        w.segment("NM1")
            .code("41")
            .code("2")
            .text(&header.submitter.name, 60)
            .empty(4)
            .code("46")
            .text(&header.submitter.id, 80)
            .end();
        for of_provider in grouped(&of_payer, |i| i.claim.billing_provider.npi.clone()) {
            id += 1;
            let provider_hl = id;
            let provider = &of_provider[0].claim.billing_provider;
            hl(w, provider_hl, Some(receiver_hl), "19", Some(true));
            w.segment("NM1")
                .code("1P")
                .code("2")
                .text(&provider.name, 60)
                .empty(4)
                .code("XX")
                .code(provider.npi.as_str())
                .end();
            for inquiry in of_provider {
                id += 1;
                let subscriber_hl = id;
                let claim = inquiry.claim;
                let dependent = claim
                    .patient
                    .as_ref()
                    .filter(|_| claim.relationship != Relationship::SelfInsured);
                hl(
                    w,
                    subscriber_hl,
                    Some(provider_hl),
                    "22",
                    Some(dependent.is_some()),
                );
                let sub = &claim.subscriber;
                if dependent.is_none() {
                    w.segment("DMG")
                        .code("D8")
                        .date(sub.person.birth_date)
                        .code(sub.person.sex.code())
                        .end();
                }
                name(w.segment("NM1").code("IL").code("1"), &sub.person.name)
                    .empty(2)
                    .code("MI")
                    .text(&sub.member_id, 80)
                    .end();
                match dependent {
                    None => claim_status_tracking(w, inquiry),
                    Some(patient) => {
                        id += 1;
                        hl(w, id, Some(subscriber_hl), "23", None);
                        w.segment("DMG")
                            .code("D8")
                            .date(patient.birth_date)
                            .code(patient.sex.code())
                            .end();
                        name(w.segment("NM1").code("QC").code("1"), &patient.name).end();
                        claim_status_tracking(w, inquiry);
                    }
                }
            }
        }
    }
}

/// 2200D/2200E: what identifies the claim asked about.
fn claim_status_tracking(w: &mut Writer, inquiry: &StatusInquiry<'_>) {
    let claim = inquiry.claim;
    w.segment("TRN").code("1").text(inquiry.trace, 50).end();
    if let Some(icn) = inquiry.payer_claim_number {
        w.segment("REF").code("1K").text(icn, 50).end();
    }
    if let Some(facts) = &claim.institutional {
        w.segment("REF")
            .code("BLT")
            .code(&format!(
                "{}{}",
                facts.facility_type,
                claim.frequency.code()
            ))
            .end();
    }
    w.segment("REF")
        .code("EJ")
        .text(&claim.patient_control_number, 50)
        .end();
    w.segment("AMT")
        .code("T3")
        .amount(claim.total_charge())
        .end();
    let (from, to) = service_period(claim);
    w.segment("DTP")
        .code("472")
        .code("RD8")
        .date_range(from, to)
        .end();
}

/// The claim's service period: the statement period of an institutional claim, else its
/// lines' first and last dates.
fn service_period(claim: &Claim) -> (NaiveDate, NaiveDate) {
    if let Some(facts) = &claim.institutional {
        return (facts.statement_from, facts.statement_to);
    }
    let dates = claim.lines.iter().map(|l| l.date);
    let from = dates.clone().min().unwrap_or_default();
    let to = dates.max().unwrap_or_default();
    (from, to)
}
