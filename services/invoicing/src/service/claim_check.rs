//! One invoice's claim, checked: the payer's e-billing settings and the master data invoicing
//! keeps ([`super::claim_facts`]) are read as they are now and given to the domain's claim
//! builder, which answers the claim or every gap. A biller checks an invoice before claiming
//! it; e-billings check their invoices the same way.

use std::collections::HashMap;

use carebill_domain::claim::{Claim, ClaimFormat};
use carebill_domain::claim_build::{
    self, Gap, InvoiceFacts, InvoiceLine, Known, Resource, Sources,
};
use carebill_domain::events::{
    CatalogItemChangedV1, CoverageChangedV1, EpisodeCodedV1, EpisodeRef, LocationChangedV1,
    PartyKind, PatientChangedV1, PractitionerChangedV1,
};
use carebill_domain::ids::InvoiceId;
use carebill_domain::invoicing::InvoiceStatus;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::{Error, ErrorCode};
use chrono_tz::Tz;

use super::claim_facts::{self as facts, Kept};
use super::e_billing_settings;
use crate::store::invoices::{self, InvoiceRow};
use crate::store::lines::{self, LineRow};

/// What a check found.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// The invoice.
    pub invoice: InvoiceRow,
    /// The claim, when nothing is missing.
    pub claim: Option<Claim>,
    /// Everything missing or wrong (empty when the claim is whole).
    pub gaps: Vec<Gap>,
}

impl Checked {
    /// 837P or 837I, when the claim is whole.
    pub(crate) fn format(&self) -> Option<ClaimFormat> {
        self.claim.as_ref().map(|c| c.format)
    }
}

/// Where a gap is fixed, as an API path.
pub(crate) fn href(r: &Resource) -> String {
    let q = carebill_platform::http::query_value;
    match r {
        Resource::Settings(code) => format!("/v1/e-billing-settings/{}", q(code)),
        Resource::Location(id) => format!("/v1/locations/{id}"),
        Resource::Patient(id) => format!("/v1/patients/{id}"),
        Resource::Coverage(id) => format!("/v1/coverages/{id}"),
        Resource::Coding(episode) => format!("/v1/episodes/{episode}/coding"),
        Resource::Practitioner(id) => format!("/v1/practitioners/{id}"),
        Resource::PractitionerNamed(name) => format!("/v1/practitioners?code={}", q(name)),
        Resource::CatalogItem(code) => format!("/v1/catalog-items?code={}", q(code)),
        Resource::Invoice(id) => format!("/v1/invoices/{id}"),
    }
}

fn known<T>(k: &Kept<T>) -> Known<'_, T> {
    Known {
        value: &k.value,
        as_of: k.as_of,
    }
}

/// Checks the claim of one invoice in the caller's scope: 404 outside it, 422 `not_claimable`
/// for an invoice to a patient or of an agency, 409 `cancelled` for a cancelled one.
pub(crate) fn check(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: InvoiceId,
) -> Result<Checked, Error> {
    let invoice =
        invoices::find_in_scope(conn, scope, id)?.ok_or_else(|| Error::not_found("invoice"))?;
    let (Some(payer_code), Some(episode_id), Some(patient_id)) = (
        invoice.payer_code.clone(),
        invoice.episode_id.clone(),
        invoice.patient_id.clone(),
    ) else {
        return Err(Error::new(
            ErrorCode::NotClaimable,
            "only an invoice to a payer for a patient's care is claimed",
        ));
    };
    if invoice.recipient_kind != PartyKind::Payer {
        return Err(Error::new(
            ErrorCode::NotClaimable,
            "only an invoice to a payer is claimed",
        ));
    }
    if invoice.status == InvoiceStatus::Cancelled {
        return Err(Error::new(
            ErrorCode::Cancelled,
            "the invoice is cancelled; its corrective invoice is claimed instead",
        ));
    }
    let settings = match e_billing_settings::get(conn, &payer_code) {
        Ok(settings) => settings,
        Err(e) if e.code() != ErrorCode::NotFound => return Err(e),
        Err(_) => {
            let gap = Gap {
                loop_id: "1000A",
                segment: "NM1",
                element: "NM109",
                name: "Submitter Identifier",
                what: format!("payer {payer_code} has no e-billing settings"),
                why: "a claim file is addressed by the payer's settings: its payer id, the submitter, the receiver and the interchange ids",
                resource: Resource::Settings(payer_code),
                kind: claim_build::GapKind::Absent,
                as_of: None,
            };
            return Ok(Checked {
                invoice,
                claim: None,
                gaps: vec![gap],
            });
        }
    };
    let rows = lines::of_document(conn, &invoice.id.to_string())?;
    let tz: Tz = carebill_domain::stored::parse("location time zone", &invoice.location_time_zone)
        .map_err(Error::from)?;
    let lines: Vec<_> = rows.iter().map(LineRow::domain).collect::<Result<_, _>>()?;
    let codes: Vec<String> = lines.iter().map(|l| l.code.clone()).collect();
    let location_id = invoice.location_id.to_string();
    let episode_key = std::slice::from_ref(&episode_id);
    let patient_key = std::slice::from_ref(&patient_id);
    let episodes = facts::of::<EpisodeRef>(conn, episode_key)?;
    let locations = facts::of::<LocationChangedV1>(conn, std::slice::from_ref(&location_id))?;
    let patients = facts::of::<PatientChangedV1>(conn, patient_key)?;
    let coverages = facts::of::<CoverageChangedV1>(conn, patient_key)?;
    let codings = facts::of::<EpisodeCodedV1>(conn, episode_key)?;
    let catalog = facts::of::<CatalogItemChangedV1>(conn, &codes)?;
    let practitioners = facts::all::<PractitionerChangedV1>(conn)?;
    let catalog: HashMap<String, Known<'_, _>> =
        catalog.iter().map(|(k, v)| (k.clone(), known(v))).collect();
    let registry: Vec<Known<'_, PractitionerChangedV1>> = practitioners.iter().map(known).collect();
    let invoice_lines = rows
        .iter()
        .zip(&lines)
        .map(|(row, l)| {
            Ok(InvoiceLine {
                position: row.position,
                consumption_id: l.consumption_id.to_string(),
                code: &l.code,
                quantity: l.quantity,
                charge: l.line_amount.amount(),
                performed_on: l.performed_at.with_timezone(&tz).date_naive(),
                performed_by: l.performed_by.as_deref(),
                claim: l.claim.as_ref(),
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let currency = invoice.currency.to_string();
    let coverage_id = invoice
        .coverage_id
        .as_deref()
        .map(|c| carebill_domain::stored::parse("invoice coverage id", c))
        .transpose()
        .map_err(Error::from)?;
    let sources = Sources {
        payer_code: &payer_code,
        settings: &settings.settings,
        invoice: InvoiceFacts {
            id: invoice.id,
            number: &invoice.number,
            episode_id: carebill_domain::stored::parse("invoice episode id", &episode_id)
                .map_err(Error::from)?,
            currency: &currency,
            coverage_id,
            policy_number: invoice.policy_number.as_deref(),
            lines: invoice_lines,
        },
        episode: episodes.get(&episode_id).map(known),
        location: locations.get(&location_id).map(known),
        patient: patients.get(&patient_id).map(known),
        coverages: coverages.get(&patient_id).map(known),
        coding: codings.get(&episode_id).map(known),
        catalog: &catalog,
        practitioners: &registry,
    };
    let (claim, gaps) = match claim_build::build(&sources) {
        Ok(claim) => (Some(claim), Vec::new()),
        Err(gaps) => (None, gaps),
    };
    Ok(Checked {
        invoice,
        claim,
        gaps,
    })
}
