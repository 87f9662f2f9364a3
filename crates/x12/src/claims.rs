//! The 837 claim file: professional (005010X222A1) and institutional (005010X223A2) claims
//! written from the domain's
//! [`Claim`]s, with the hierarchy the guide asks for — billing provider (2000A), subscriber
//! (2000B), patient when not the subscriber (2000C), then the claim (2300), its providers
//! (2310), prior payers (2320/2330), and its service lines (2400/2430).
//!
//! One group (GS) per claim format, one transaction (ST) per 5,000 claims at most (the guide's
//! recommended limit); what was written where is returned, so that a 999 naming a group and a
//! transaction can be matched to its claims.

use std::collections::BTreeMap;

use carebill_domain::claim::{
    Adjustment, Claim, ClaimFormat, Frequency, Institutional, OtherPayer, Person, PersonName,
    Practitioner, Relationship, ServiceLine, UsAddress,
};
use chrono::NaiveDateTime;

use crate::write::{GroupHeader, InterchangeHeader, SegmentBuilder, WriteError, Writer};

/// At most this many claims per transaction set.
pub const CLAIMS_PER_TRANSACTION: usize = 5_000;

/// Who sends the file (1000A).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitter {
    /// NM103.
    pub name: String,
    /// NM109 (46): the id the clearinghouse gave the submitter.
    pub id: String,
    /// PER02.
    pub contact: String,
    /// PER04 with PER03 `TE`: ten digits.
    pub phone: Option<String>,
    /// PER04/06 with `EM`.
    pub email: Option<String>,
}

/// Who receives the file (1000B).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    /// NM103.
    pub name: String,
    /// NM109 (46).
    pub id: String,
}

/// What a claim file says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimFileHeader {
    /// The ISA.
    pub interchange: InterchangeHeader,
    /// GS02.
    pub application_sender: String,
    /// GS03.
    pub application_receiver: String,
    /// GS06 of the first group; the next group (another format) takes the next number.
    pub first_group_control_number: u32,
    /// BHT03: the e-billing's number.
    pub reference: String,
    /// BHT04/05 and GS04/05.
    pub created_at: NaiveDateTime,
    /// 1000A.
    pub submitter: Submitter,
    /// 1000B.
    pub receiver: Receiver,
}

/// Where each claim went: group, transaction, and the claims' patient control numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenTransaction {
    /// GS06.
    pub group_control_number: u32,
    /// ST02.
    pub transaction_control_number: String,
    /// CLM01 of its claims, in order.
    pub patient_control_numbers: Vec<String>,
}

/// A claim file and where its claims are in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimFile {
    /// The interchange.
    pub text: String,
    /// The transactions written.
    pub transactions: Vec<WrittenTransaction>,
    /// The last GS06 used.
    pub last_group_control_number: u32,
}

/// Writes an 837 interchange of `claims`.
///
/// # Errors
/// A header value X12 cannot carry, an empty list, or a claim its guide cannot carry (no
/// lines, no diagnosis, a professional line without its procedure or diagnosis pointers, an
/// institutional claim without its facts ...): nothing is written.
pub fn write_837(header: &ClaimFileHeader, claims: &[Claim]) -> Result<ClaimFile, WriteError> {
    if claims.is_empty() {
        return Err(WriteError::Order("a claim file needs at least one claim"));
    }
    for c in claims {
        if let Some(problem) = unwritable(c) {
            return Err(WriteError::Claim {
                patient_control_number: c.patient_control_number.clone(),
                problem,
            });
        }
    }
    let mut w = Writer::new(&header.interchange)?;
    let mut transactions = Vec::new();
    let mut group_control = header.first_group_control_number;
    for format in [ClaimFormat::Professional, ClaimFormat::Institutional] {
        let of_format: Vec<&Claim> = claims.iter().filter(|c| c.format == format).collect();
        if of_format.is_empty() {
            continue;
        }
        let version = match format {
            ClaimFormat::Professional => "005010X222A1",
            ClaimFormat::Institutional => "005010X223A2",
        };
        if !transactions.is_empty() {
            group_control += 1;
        }
        w.begin_group(&GroupHeader {
            functional_id: "HC",
            sender_code: header.application_sender.clone(),
            receiver_code: header.application_receiver.clone(),
            date: header.created_at.date(),
            time: header.created_at.time(),
            control_number: group_control,
            version,
        })?;
        for (i, chunk) in of_format.chunks(CLAIMS_PER_TRANSACTION).enumerate() {
            let control = format!("{:04}", i + 1);
            w.begin_transaction("837", &control, Some(version))?;
            transaction(&mut w, header, chunk);
            w.end_transaction()?;
            transactions.push(WrittenTransaction {
                group_control_number: group_control,
                transaction_control_number: control,
                patient_control_numbers: chunk
                    .iter()
                    .map(|c| c.patient_control_number.clone())
                    .collect(),
            });
        }
        w.end_group()?;
    }
    Ok(ClaimFile {
        text: w.finish()?,
        transactions,
        last_group_control_number: group_control,
    })
}

/// What a claim lacks that its guide requires, or has more of than the guide allows.
fn unwritable(c: &Claim) -> Option<&'static str> {
    let professional = c.format == ClaimFormat::Professional;
    let (max_lines, max_diagnoses) = if professional { (50, 12) } else { (999, 25) };
    if c.lines.is_empty() {
        Some("a claim needs at least one service line")
    } else if c.lines.len() > max_lines {
        Some("more service lines than the guide allows (837P 50, 837I 999)")
    } else if c.diagnoses.is_empty() {
        Some("a claim needs its principal diagnosis")
    } else if c.diagnoses.len() > max_diagnoses {
        Some("more diagnoses than the guide allows (837P 12, 837I 25)")
    } else if c.relationship != Relationship::SelfInsured && c.patient.is_none() {
        Some("the patient is not the subscriber, so the patient's details are needed")
    } else if c.frequency != Frequency::Original && c.payer_claim_number.is_none() {
        Some("a replacement or void needs the payer's claim number (REF*F8)")
    } else if professional && c.place_of_service.is_none() {
        Some("a professional claim needs its place of service")
    } else if professional && c.lines.iter().any(|l| l.procedure.is_none()) {
        Some("every line of a professional claim needs its procedure code")
    } else if professional
        && c.lines.iter().any(|l| {
            l.diagnosis_pointers.is_empty()
                || l.diagnosis_pointers.len() > 4
                || l.diagnosis_pointers
                    .iter()
                    .any(|p| *p == 0 || usize::from(*p) > c.diagnoses.len())
        })
    {
        Some("every line of a professional claim points to one to four of its diagnoses")
    } else if !professional && c.institutional.is_none() {
        Some(
            "an institutional claim needs its facility type, statement period and attending provider",
        )
    } else if !professional && c.lines.iter().any(|l| l.revenue_code.is_none()) {
        Some("every line of an institutional claim needs its revenue code")
    } else {
        None
    }
}

pub(crate) fn name<'w>(s: SegmentBuilder<'w>, n: &PersonName) -> SegmentBuilder<'w> {
    s.text(&n.family, 60)
        .text(n.given.as_deref().unwrap_or(""), 35)
        .text(n.middle.as_deref().unwrap_or(""), 25)
}

fn address(w: &mut Writer, a: &UsAddress) {
    w.segment("N3")
        .text(&a.line1, 55)
        .text(a.line2.as_deref().unwrap_or(""), 55)
        .end();
    w.segment("N4")
        .text(&a.city, 30)
        .code(a.state.as_str())
        .code(a.zip.as_str())
        .end();
}

fn demographics(w: &mut Writer, p: &Person) {
    address(w, &p.address);
    w.segment("DMG")
        .code("D8")
        .date(p.birth_date)
        .code(p.sex.code())
        .end();
}

/// NM1 of a person with an NPI: `NM1*{entity}*1*{last}*{first}*{middle}***XX*{npi}`.
fn practitioner(w: &mut Writer, entity: &str, p: &Practitioner) {
    name(w.segment("NM1").code(entity).code("1"), &p.name)
        .empty(2)
        .code("XX")
        .code(p.npi.as_str())
        .end();
}

fn cas(w: &mut Writer, adjustments: &[Adjustment]) {
    let mut by_group: BTreeMap<&str, Vec<&Adjustment>> = BTreeMap::new();
    for a in adjustments {
        by_group.entry(a.group.as_str()).or_default().push(a);
    }
    for (group, list) in by_group {
        // Six reason/amount/quantity triplets per CAS segment.
        for chunk in list.chunks(6) {
            let mut s = w.segment("CAS").code(group);
            for a in chunk {
                s = s.code(&a.reason).amount(a.amount).empty(1);
            }
            s.end();
        }
    }
}

/// One transaction's segments after ST: the header, 1000A/B, then the hierarchy.
fn transaction(w: &mut Writer, header: &ClaimFileHeader, claims: &[&Claim]) {
    w.segment("BHT")
        .code("0019")
        .code("00")
        .text(&header.reference, 50)
        .date(header.created_at.date())
        .code(&header.created_at.format("%H%M").to_string())
        .code("CH")
        .end();
    let s = &header.submitter;
    w.segment("NM1")
        .code("41")
        .code("2")
        .text(&s.name, 60)
        .empty(4)
        .code("46")
        .text(&s.id, 80)
        .end();
    let mut per = w.segment("PER").code("IC").text(&s.contact, 60);
    if let Some(phone) = &s.phone {
        per = per.code("TE").code(phone);
    }
    if let Some(email) = &s.email {
        per = per.code("EM").code(email);
    }
    per.end();
    w.segment("NM1")
        .code("40")
        .code("2")
        .text(&header.receiver.name, 60)
        .empty(4)
        .code("46")
        .text(&header.receiver.id, 80)
        .end();

    // Claims of one billing provider under one 2000A, in the order given otherwise.
    let mut providers: Vec<(&str, Vec<&Claim>)> = Vec::new();
    for c in claims {
        let npi = c.billing_provider.npi.as_str();
        match providers.iter_mut().find(|(n, _)| *n == npi) {
            Some((_, list)) => list.push(c),
            None => providers.push((npi, vec![c])),
        }
    }
    let mut hl = 0usize;
    for (_, list) in providers {
        hl += 1;
        let provider_hl = hl;
        let bp = &list[0].billing_provider;
        w.segment("HL")
            .code(&provider_hl.to_string())
            .empty(1)
            .code("20")
            .code("1")
            .end();
        if let Some(t) = &bp.taxonomy {
            w.segment("PRV")
                .code("BI")
                .code("PXC")
                .code(t.as_str())
                .end();
        }
        w.segment("NM1")
            .code("85")
            .code("2")
            .text(&bp.name, 60)
            .empty(4)
            .code("XX")
            .code(bp.npi.as_str())
            .end();
        address(w, &bp.address);
        w.segment("REF").code("EI").code(bp.ein.as_str()).end();
        for claim in list {
            hl += 1;
            let subscriber_hl = hl;
            let has_patient = claim.relationship != Relationship::SelfInsured;
            w.segment("HL")
                .code(&subscriber_hl.to_string())
                .code(&provider_hl.to_string())
                .code("22")
                .code(if has_patient { "1" } else { "0" })
                .end();
            subscriber(w, claim);
            if let Some(patient) = claim.patient.as_ref().filter(|_| has_patient) {
                hl += 1;
                w.segment("HL")
                    .code(&hl.to_string())
                    .code(&subscriber_hl.to_string())
                    .code("23")
                    .code("0")
                    .end();
                w.segment("PAT").code(claim.relationship.code()).end();
                name(w.segment("NM1").code("QC").code("1"), &patient.name).end();
                demographics(w, patient);
            }
            match &claim.institutional {
                None => professional_claim(w, claim),
                Some(facts) => institutional_claim(w, claim, facts),
            }
        }
    }
}

fn subscriber(w: &mut Writer, claim: &Claim) {
    let sub = &claim.subscriber;
    w.segment("SBR")
        .code(claim.responsibility.code())
        .code(if claim.relationship == Relationship::SelfInsured {
            "18"
        } else {
            ""
        })
        .text(sub.group_number.as_deref().unwrap_or(""), 50)
        .empty(5)
        .code(&claim.payer.filing_indicator)
        .end();
    name(w.segment("NM1").code("IL").code("1"), &sub.person.name)
        .empty(2)
        .code("MI")
        .text(&sub.member_id, 80)
        .end();
    demographics(w, &sub.person);
    w.segment("NM1")
        .code("PR")
        .code("2")
        .text(&claim.payer.name, 60)
        .empty(4)
        .code("PI")
        .text(&claim.payer.payer_id, 80)
        .end();
}

fn professional_claim(w: &mut Writer, claim: &Claim) {
    let pos = claim
        .place_of_service
        .as_ref()
        .map(|p| p.as_str())
        .unwrap_or("");
    w.segment("CLM")
        .text(&claim.patient_control_number, 38)
        .amount(claim.total_charge())
        .empty(2)
        .composite(&[pos, "B", claim.frequency.code()])
        .code("Y")
        .code("A")
        .code("Y")
        .code("I")
        .end();
    replaced_claim(w, claim);
    if !claim.diagnoses.is_empty() {
        let codes: Vec<String> = claim.diagnoses.iter().map(|d| d.code.x12()).collect();
        let mut hi = w.segment("HI");
        for (i, code) in codes.iter().enumerate().take(12) {
            hi = hi.composite(&[if i == 0 { "ABK" } else { "ABF" }, code]);
        }
        hi.end();
    }
    if let Some(r) = &claim.referring {
        practitioner(w, "DN", r);
    }
    if let Some(r) = &claim.rendering {
        practitioner(w, "82", r);
        if let Some(t) = &r.taxonomy {
            w.segment("PRV")
                .code("PE")
                .code("PXC")
                .code(t.as_str())
                .end();
        }
    }
    for other in &claim.other_payers {
        other_payer(w, other);
    }
    for (n, line) in claim.lines.iter().enumerate() {
        w.segment("LX").code(&(n + 1).to_string()).end();
        let procedure = procedure_of(line);
        let pointers: Vec<String> = line
            .diagnosis_pointers
            .iter()
            .take(4)
            .map(u8::to_string)
            .collect();
        let pointers: Vec<&str> = pointers.iter().map(String::as_str).collect();
        w.segment("SV1")
            .composite(&procedure)
            .amount(line.charge)
            .code(line.unit_basis)
            .quantity(line.units)
            .empty(2)
            .composite(&pointers)
            .end();
        line_tail(w, claim, line, &procedure);
    }
}

/// REF*F8: the payer's number of the claim a replacement or void corrects.
fn replaced_claim(w: &mut Writer, claim: &Claim) {
    if claim.frequency != Frequency::Original
        && let Some(icn) = &claim.payer_claim_number
    {
        w.segment("REF").code("F8").text(icn, 50).end();
    }
}

/// What follows a line's SV1/SV2 in both formats: its date (DTP*472), its control number
/// (REF*6R) and the prior payers' decisions on it (2430).
fn line_tail(w: &mut Writer, claim: &Claim, line: &ServiceLine, procedure: &[&str]) {
    w.segment("DTP")
        .code("472")
        .code("D8")
        .date(line.date)
        .end();
    w.segment("REF")
        .code("6R")
        .text(&line.control_number, 50)
        .end();
    line_adjudications(w, claim, line, procedure);
}

/// 2430: each prior payer's decision on this line (SVD, CAS, DTP*573).
fn line_adjudications(w: &mut Writer, claim: &Claim, line: &ServiceLine, procedure: &[&str]) {
    for other in &claim.other_payers {
        let Some(adj) = other
            .lines
            .iter()
            .find(|a| a.control_number == line.control_number)
        else {
            continue;
        };
        w.segment("SVD")
            .text(&other.payer.payer_id, 80)
            .amount(adj.paid)
            .composite(procedure)
            .code_opt(line.revenue_code.as_ref().map(|r| r.as_str()))
            .quantity(adj.units)
            .end();
        cas(w, &adj.adjustments);
        w.segment("DTP")
            .code("573")
            .code("D8")
            .date(other.adjudicated_on)
            .end();
    }
}

/// The procedure composite of a line: `HC`, the code, up to four modifiers.
fn procedure_of(line: &ServiceLine) -> Vec<&str> {
    match &line.procedure {
        Some(p) => std::iter::once("HC")
            .chain(std::iter::once(p.as_str()))
            .chain(line.modifiers.iter().take(4).map(|m| m.as_str()))
            .collect(),
        None => Vec::new(),
    }
}

fn institutional_claim(w: &mut Writer, claim: &Claim, facts: &Institutional) {
    w.segment("CLM")
        .text(&claim.patient_control_number, 38)
        .amount(claim.total_charge())
        .empty(2)
        .composite(&[&facts.facility_type, "A", claim.frequency.code()])
        .empty(1)
        .code("A")
        .code("Y")
        .code("I")
        .end();
    w.segment("DTP")
        .code("434")
        .code("RD8")
        .date_range(facts.statement_from, facts.statement_to)
        .end();
    if let Some(a) = &facts.admission {
        w.segment("DTP")
            .code("435")
            .code("DT")
            .code(&a.at.format("%Y%m%d%H%M").to_string())
            .end();
    }
    let admission = facts.admission.as_ref();
    w.segment("CL1")
        .code_opt(admission.map(|a| a.kind.as_str()))
        .code_opt(admission.map(|a| a.source.as_str()))
        .code(&facts.patient_status)
        .end();
    replaced_claim(w, claim);
    let poa = |d: &carebill_domain::claim::Diagnosis| -> String {
        d.present_on_admission
            .filter(|_| facts.admission.is_some())
            .map(String::from)
            .unwrap_or_default()
    };
    if let Some((principal, others)) = claim.diagnoses.split_first() {
        let flag = poa(principal);
        w.segment("HI")
            .composite(&["ABK", &principal.code.x12(), "", "", "", "", "", "", &flag])
            .end();
        if let Some(admitting) = facts
            .admission
            .as_ref()
            .and_then(|a| a.admitting_diagnosis.as_ref())
        {
            w.segment("HI").composite(&["ABJ", &admitting.x12()]).end();
        }
        for chunk in others.chunks(12).take(2) {
            let mut hi = w.segment("HI");
            for d in chunk {
                let flag = poa(d);
                hi = hi.composite(&["ABF", &d.code.x12(), "", "", "", "", "", "", &flag]);
            }
            hi.end();
        }
    }
    practitioner(w, "71", &facts.attending);
    if let Some(t) = &facts.attending.taxonomy {
        w.segment("PRV")
            .code("AT")
            .code("PXC")
            .code(t.as_str())
            .end();
    }
    if let Some(r) = &claim.rendering {
        practitioner(w, "82", r);
    }
    if let Some(r) = &claim.referring {
        practitioner(w, "DN", r);
    }
    for other in &claim.other_payers {
        other_payer(w, other);
    }
    for (n, line) in claim.lines.iter().enumerate() {
        w.segment("LX").code(&(n + 1).to_string()).end();
        let procedure = procedure_of(line);
        w.segment("SV2")
            .code_opt(line.revenue_code.as_ref().map(|r| r.as_str()))
            .composite(&procedure)
            .amount(line.charge)
            .code(line.unit_basis)
            .quantity(line.units)
            .end();
        line_tail(w, claim, line, &procedure);
    }
}

fn other_payer(w: &mut Writer, other: &OtherPayer) {
    w.segment("SBR")
        .code(other.responsibility.code())
        .code(other.relationship.code())
        .text(other.subscriber.group_number.as_deref().unwrap_or(""), 50)
        .empty(5)
        .code(&other.payer.filing_indicator)
        .end();
    cas(w, &other.adjustments);
    w.segment("AMT").code("D").amount(other.paid).end();
    w.segment("OI").empty(2).code("Y").empty(2).code("I").end();
    name(
        w.segment("NM1").code("IL").code("1"),
        &other.subscriber.person.name,
    )
    .empty(2)
    .code("MI")
    .text(&other.subscriber.member_id, 80)
    .end();
    w.segment("NM1")
        .code("PR")
        .code("2")
        .text(&other.payer.name, 60)
        .empty(4)
        .code("PI")
        .text(&other.payer.payer_id, 80)
        .end();
    if other.lines.is_empty() {
        w.segment("DTP")
            .code("573")
            .code("D8")
            .date(other.adjudicated_on)
            .end();
    }
}
