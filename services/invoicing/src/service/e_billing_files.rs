//! An e-billing's X12 files (seed 002's EBILLING and Request files). The first time its 837 is
//! taken, the e-billing is sent: every claim is checked once more (a file is never written with
//! gaps: 409 `e_billing_incomplete`), the submitter's counter gives the envelope control
//! numbers, the 837 and the 276 that asks about the same claims are written and frozen with
//! their SHA-256, the claims become `submitted`, and `carebill.invoicing.e_billing.sent.v1`
//! names each claim by its patient control number and transaction. Later downloads answer the
//! stored bytes.
//!
//! Decisions: the 276 is written with the 837 (so it asks about the claims exactly as they were
//! sent, whatever changed since), without the payer's claim numbers, which only the 277CA will
//! give. Envelope dates and times are UTC. One counter per submitter (ISA05:ISA06) numbers
//! interchanges (ISA13) and groups (GS06) across all of its payers, so both are unique and
//! increasing for the submitter.

use carebill_domain::claim::Claim;
use carebill_domain::e_billing::{EBillingSettings, EBillingStatus, Usage};
use carebill_domain::events::{EBillingSentV1, Envelope, SentClaim};
use carebill_domain::ids::EBillingId;
use carebill_domain::invoicing::money;
use carebill_platform::audit;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::events::outbox;
use carebill_platform::{Error, ErrorCode};
use carebill_x12::InterchangeHeader;
use carebill_x12::claims::{ClaimFileHeader, Receiver, Submitter, WrittenTransaction, write_837};
use carebill_x12::status_request::{StatusInquiry, write_276};
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::e_billing_settings;
use super::e_billings::{self, EBilling};
use crate::SERVICE;
use crate::store::e_billings::{self as store, FileRow};

/// Which file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// The 837 claim file.
    Claims,
    /// The 276 claim status request.
    StatusRequest,
}

impl FileKind {
    fn as_str(self) -> &'static str {
        match self {
            FileKind::Claims => "837",
            FileKind::StatusRequest => "276",
        }
    }
}

/// A file as it is downloaded.
#[derive(Debug, Clone)]
pub(crate) struct File {
    /// `H1-EB-2026-000001.837`.
    pub name: String,
    /// The interchange.
    pub body: String,
    /// Its SHA-256, hex.
    pub sha256: String,
}

/// Which claims one transaction holds, as kept with the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeptTransaction {
    /// GS06.
    pub group: u32,
    /// ST02.
    pub transaction: String,
    /// CLM01 of its claims.
    pub patient_control_numbers: Vec<String>,
}

fn kept(ts: &[WrittenTransaction]) -> Vec<KeptTransaction> {
    ts.iter()
        .map(|t| KeptTransaction {
            group: t.group_control_number,
            transaction: t.transaction_control_number.clone(),
            patient_control_numbers: t.patient_control_numbers.clone(),
        })
        .collect()
}

fn answer(e: &EBilling, row: FileRow) -> File {
    File {
        name: format!("{}.{}", e.number, row.kind),
        body: row.body,
        sha256: row.sha256,
    }
}

/// An e-billing's file: the 837 sends the e-billing the first time it is taken; the 276 is
/// there once it was sent (409 `e_billing_not_sent` before).
pub(crate) fn take(
    conn: &mut AnyConnection,
    who: &Principal,
    id: EBillingId,
    kind: FileKind,
) -> Result<File, Error> {
    let e = e_billings::get(conn, &Scope::of(who), id)?;
    if let Some(row) = store::file(conn, id, kind.as_str())? {
        return Ok(answer(&e, row));
    }
    if kind == FileKind::StatusRequest {
        return Err(Error::new(
            ErrorCode::EBillingNotSent,
            format!(
                "e-billing {} was not sent: take its 837 file first (GET /v1/e-billings/{id}/file)",
                e.number
            ),
        ));
    }
    store::lock(conn, id)?;
    // Another request may have sent it while this one waited for the lock.
    if let Some(row) = store::file(conn, id, kind.as_str())? {
        return Ok(answer(&e, row));
    }
    send(conn, who, id)?;
    let row = store::file(conn, id, kind.as_str())?
        .ok_or_else(|| Error::internal(&"a sent e-billing without its file"))?;
    Ok(answer(&e, row))
}

fn x12_error(e: &carebill_x12::WriteError) -> Error {
    Error::new(
        ErrorCode::EBillingIncomplete,
        format!("the claims cannot be written as X12: {e}"),
    )
}

/// Sends an e-billing: checks its claims once more, writes and stores its 837 and 276, marks it
/// sent and its claims submitted, announces it, audits it.
fn send(conn: &mut AnyConnection, who: &Principal, id: EBillingId) -> Result<(), Error> {
    let mut row = e_billings::open(conn, who, id)?;
    let (rows, built) = e_billings::recheck(conn, &mut row)?;
    let claims: Option<Vec<Claim>> = built.into_iter().collect();
    let (EBillingStatus::Ready, Some(claims)) = (row.status, claims) else {
        return Err(Error::new(
            ErrorCode::EBillingIncomplete,
            format!(
                "{} of the {} claims of e-billing {} have gaps now: check it again (POST /v1/e-billings/{id}/check) and see its missing information",
                row.claim_count - row.ready_count,
                row.claim_count,
                row.number
            ),
        ));
    };
    let settings = e_billing_settings::get(conn, &row.payer_code)?.settings;
    let key = settings.submitter_key();
    let (interchange, group) = store::take_control_numbers(conn, &key, 2, 3)?;
    let number = |n: i64| u32::try_from(n).map_err(|e| Error::internal(&e));
    let now = db::now();
    let header = header(
        &settings,
        &row.number,
        number(interchange)?,
        number(group)?,
        now,
    );
    let claim_file = write_837(&header, &claims).map_err(|e| x12_error(&e))?;
    let inquiries: Vec<StatusInquiry<'_>> = claims
        .iter()
        .map(|c| StatusInquiry {
            claim: c,
            trace: &c.patient_control_number,
            payer_claim_number: None,
        })
        .collect();
    let mut request_header = header.clone();
    request_header.interchange.control_number = number(interchange + 1)?;
    request_header.first_group_control_number = number(group + 2)?;
    let request = write_276(&request_header, &inquiries).map_err(|e| x12_error(&e))?;
    let file_row = |kind: FileKind, ic: i64, ts: &[WrittenTransaction], body: String| {
        Ok::<_, Error>(FileRow {
            e_billing_id: id.to_string(),
            kind: kind.as_str().to_owned(),
            submitter_key: key.clone(),
            interchange_control_number: ic,
            transactions: serde_json::to_string(&kept(ts))?,
            sha256: carebill_platform::http::digest(body.as_bytes()),
            body,
            created_at: now,
        })
    };
    let files = vec![
        file_row(
            FileKind::Claims,
            interchange,
            &claim_file.transactions,
            claim_file.text.clone(),
        )?,
        file_row(
            FileKind::StatusRequest,
            interchange + 1,
            &request.transactions,
            request.text,
        )?,
    ];
    let sent_claims = rows
        .iter()
        .map(|c| {
            let t = claim_file
                .transactions
                .iter()
                .find(|t| t.patient_control_numbers.contains(&c.invoice_number))
                .ok_or_else(|| Error::internal(&"a sent claim in no transaction"))?;
            Ok(SentClaim {
                claim_id: c.id,
                invoice_id: carebill_domain::stored::parse("claimed invoice id", &c.invoice_id)
                    .map_err(Error::from)?,
                patient_control_number: c.invoice_number.clone(),
                frequency: c.frequency.clone(),
                format: c
                    .format
                    .clone()
                    .ok_or_else(|| Error::internal(&"a whole claim without its format"))?,
                charge: money(c.charge_minor, row.currency),
                group_control_number: t.group_control_number,
                transaction_control_number: t.transaction_control_number.clone(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    store::replace_claims(conn, &row, rows)?;
    store::send(conn, id, files, &who.subject, now)?;
    let event = EBillingSentV1 {
        e_billing_id: id,
        number: row.number.clone(),
        location_id: row.location_id,
        location_code: row.location_code.clone(),
        payer_code: row.payer_code.clone(),
        payer_id: settings.payer_id.clone(),
        interchange_control_number: number(interchange)?,
        claims: sent_claims,
        sent_by: who.subject.clone(),
        sent_at: now.and_utc(),
    };
    let env = Envelope::new(
        SERVICE,
        &event,
        Utc::now(),
        who.request_id.clone(),
        who.request_id.clone(),
    )
    .map_err(|e| Error::internal(&e))?;
    outbox::enqueue(conn, &env)?;
    audit::record_at(
        conn,
        who,
        &row.location_id.to_string(),
        "send",
        "e_billing",
        &id.to_string(),
        serde_json::json!({ "before": { "status": row.status }, "after": { "status": EBillingStatus::Sent },
            "interchange_control_number": interchange }),
        None,
    )?;
    Ok(())
}

/// The 837's header from the payer's settings.
fn header(
    s: &EBillingSettings,
    reference: &str,
    interchange: u32,
    group: u32,
    at: chrono::NaiveDateTime,
) -> ClaimFileHeader {
    ClaimFileHeader {
        interchange: InterchangeHeader {
            sender_qualifier: s.interchange.sender_qualifier.clone(),
            sender_id: s.interchange.sender_id.clone(),
            receiver_qualifier: s.interchange.receiver_qualifier.clone(),
            receiver_id: s.interchange.receiver_id.clone(),
            date: at.date(),
            time: at.time(),
            control_number: interchange,
            acknowledgement_requested: s.acknowledgement_requested,
            usage: match s.usage {
                Usage::Test => carebill_x12::Usage::Test,
                Usage::Production => carebill_x12::Usage::Production,
            },
        },
        application_sender: s.application.sender_code.clone(),
        application_receiver: s.application.receiver_code.clone(),
        first_group_control_number: group,
        reference: reference.to_owned(),
        created_at: at,
        submitter: Submitter {
            name: s.submitter.name.clone(),
            id: s.submitter.id.clone(),
            contact: s.submitter.contact.clone(),
            phone: s.submitter.phone.clone(),
            email: s.submitter.email.clone(),
        },
        receiver: Receiver {
            name: s.receiver.name.clone(),
            id: s.receiver.id.clone(),
        },
    }
}
