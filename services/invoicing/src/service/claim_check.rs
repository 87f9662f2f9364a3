//! One invoice's claim, checked: the payer's e-billing settings and the master data invoicing
//! keeps ([`super::claim_facts`]) are read as they are now and given to the domain's claim
//! builder, which answers the claim or every gap. A biller checks an invoice before claiming
//! it; e-billings check their invoices the same way.

use std::collections::{HashMap, HashSet};

use carebill_domain::claim::{Claim, ClaimFormat};
use carebill_domain::claim_build::{
    self, Corrected, Gap, InvoiceFacts, InvoiceLine, Known, Resource, SettlementPayer, Sources,
};
use carebill_domain::claim_correction::line_after_credits;
use carebill_domain::events::RemittedClaim;
use carebill_domain::events::{
    CatalogItemChangedV1, CoverageChangedV1, EpisodeCodedV1, EpisodeRef, LocationChangedV1,
    PartyKind, PatientChangedV1, PractitionerChangedV1,
};
use carebill_domain::ids::InvoiceId;
use carebill_domain::invoicing::InvoiceStatus;
use carebill_domain::invoicing::money;
use carebill_platform::auth::Scope;
use carebill_platform::db::AnyConnection;
use carebill_platform::{Error, ErrorCode};
use chrono_tz::Tz;
use rust_decimal::Decimal;

use super::claim_corrections::{self, Claiming};
use super::claim_facts::{self as facts, Kept};
use super::e_billing_settings;
use crate::store::credit_notes;
use crate::store::e_billings as store;
use crate::store::invoices::{self, InvoiceRow};
use crate::store::lines::{self, LineRow};

/// What a check found.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// The invoice.
    pub invoice: InvoiceRow,
    /// How it is claimed.
    pub claiming: Claiming,
    /// The claim, when nothing is missing.
    pub claim: Option<Claim>,
    /// Everything missing or wrong (empty when the claim is whole).
    pub gaps: Vec<Gap>,
}

impl Checked {
    /// `837P` or `837I`, when the claim is whole.
    pub(crate) fn format(&self) -> Option<&'static str> {
        self.claim.as_ref().map(|c| match c.format {
            ClaimFormat::Professional => "837P",
            ClaimFormat::Institutional => "837I",
        })
    }
}

/// Where a gap is fixed, as an API path.
fn href(r: &Resource) -> String {
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
        Resource::Claim(id) => format!("/v1/e-billing-claims/{id}"),
    }
}

/// A gap as it is answered and kept with an e-billing's claim: every part as text, the record
/// to fix as its kind and path.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct GapView {
    /// The X12 loop.
    #[serde(rename = "loop")]
    pub loop_id: String,
    /// The segment.
    pub segment: String,
    /// The element.
    pub element: String,
    /// The element's name in the guide.
    pub name: String,
    /// What is missing or wrong.
    pub what: String,
    /// Why the claim needs it.
    pub why: String,
    /// The kind of record to fix.
    pub resource: String,
    /// Where to fix it.
    pub href: String,
    /// `absent`, `invalid` or `unresolved`.
    pub kind: String,
    /// When the record read last changed.
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}

impl GapView {
    /// The view of a gap the builder found.
    pub(crate) fn of(g: Gap) -> GapView {
        use carebill_domain::claim_build::GapKind;
        GapView {
            loop_id: g.loop_id.to_owned(),
            segment: g.segment.to_owned(),
            element: g.element.to_owned(),
            name: g.name.to_owned(),
            what: g.what,
            why: g.why.to_owned(),
            resource: resource_kind(&g.resource).to_owned(),
            href: href(&g.resource),
            kind: match g.kind {
                GapKind::Absent => "absent",
                GapKind::Invalid => "invalid",
                GapKind::Unresolved => "unresolved",
            }
            .to_owned(),
            as_of: g.as_of,
        }
    }
}

fn resource_kind(r: &Resource) -> &'static str {
    match r {
        Resource::Settings(_) => "e_billing_settings",
        Resource::Location(_) => "location",
        Resource::Patient(_) => "patient",
        Resource::Coverage(_) => "coverage",
        Resource::Coding(_) => "episode_coding",
        Resource::Practitioner(_) | Resource::PractitionerNamed(_) => "practitioner",
        Resource::CatalogItem(_) => "catalog_item",
        Resource::Invoice(_) => "invoice",
        Resource::Claim(_) => "e_billing_claim",
    }
}

fn known<T>(k: &Kept<T>) -> Known<'_, T> {
    Known {
        value: &k.value,
        as_of: k.as_of,
    }
}

/// Checks the claim of one invoice in the caller's scope, as its next claim would be (an
/// original, or a replacement or void of the claim the payer has; an original when a claim of
/// it is open or on file already): 404 outside it, 422 `not_claimable` for an invoice to a
/// patient or of an agency, 409 `cancelled` for a cancelled one with nothing to void.
pub(crate) fn check(
    conn: &mut AnyConnection,
    scope: &Scope,
    id: InvoiceId,
) -> Result<Checked, Error> {
    let invoice =
        invoices::find_in_scope(conn, scope, id)?.ok_or_else(|| Error::not_found("invoice"))?;
    let payer_code = payer_of(&invoice)?.to_owned();
    let claiming = match claim_corrections::next_claims(conn, std::slice::from_ref(&invoice))?
        .remove(&invoice.id.to_string())
    {
        Some(c) => c,
        None => {
            claimable(&invoice)?;
            Claiming::original()
        }
    };
    check_many(conn, &payer_code, vec![(invoice, claiming)])?
        .pop()
        .ok_or_else(|| Error::internal(&"a check of one invoice answered none"))
}

/// The payer an invoice is claimed from, or 422 `not_claimable` for an invoice to a patient or
/// of an agency.
pub(crate) fn payer_of(invoice: &InvoiceRow) -> Result<&str, Error> {
    let (Some(payer_code), Some(_), Some(_), PartyKind::Payer) = (
        invoice.payer_code.as_deref(),
        invoice.episode_id.as_deref(),
        invoice.patient_id.as_deref(),
        invoice.recipient_kind,
    ) else {
        return Err(Error::new(
            ErrorCode::NotClaimable,
            "only an invoice to a payer for a patient's care is claimed",
        ));
    };
    Ok(payer_code)
}

/// The payer an invoice is claimed from, or why it is not claimed: 422 `not_claimable` for an
/// invoice to a patient or of an agency, 409 `cancelled` for a cancelled one.
pub(crate) fn claimable(invoice: &InvoiceRow) -> Result<&str, Error> {
    let payer_code = payer_of(invoice)?;
    if invoice.status == InvoiceStatus::Cancelled {
        return Err(Error::new(
            ErrorCode::Cancelled,
            "the invoice is cancelled; its corrective invoice is claimed instead",
        ));
    }
    Ok(payer_code)
}

/// The gap of a payer without e-billing settings.
fn no_settings(payer_code: &str) -> Gap {
    Gap {
        loop_id: "1000A",
        segment: "NM1",
        element: "NM109",
        name: "Submitter Identifier",
        what: format!("payer {payer_code} has no e-billing settings"),
        why: "a claim file is addressed by the payer's settings: its payer id, the submitter, the receiver and the interchange ids",
        resource: Resource::Settings(payer_code.to_owned()),
        kind: claim_build::GapKind::Absent,
        as_of: None,
    }
}

/// Checks the claims of many invoices to one payer (each already found [`payer_of`] it, and
/// claimed as `Claiming` says), set by set: the settings and the practitioner registry are read
/// once, the invoices' lines, credit notes and the master data they name in chunks, and each
/// claim is built in memory. In the order given.
pub(crate) fn check_many(
    conn: &mut AnyConnection,
    payer_code: &str,
    invoices: Vec<(InvoiceRow, Claiming)>,
) -> Result<Vec<Checked>, Error> {
    let settings = match e_billing_settings::get(conn, payer_code) {
        Ok(settings) => settings,
        Err(e) if e.code() != ErrorCode::NotFound => return Err(e),
        Err(_) => {
            return Ok(invoices
                .into_iter()
                .map(|(invoice, claiming)| Checked {
                    invoice,
                    claiming,
                    claim: None,
                    gaps: vec![no_settings(payer_code)],
                })
                .collect());
        }
    };
    let ids: Vec<String> = invoices.iter().map(|(i, _)| i.id.to_string()).collect();
    let mut rows_of: HashMap<String, Vec<LineRow>> = HashMap::new();
    for row in lines::of_documents(conn, &ids)? {
        rows_of
            .entry(row.document_id.clone())
            .or_default()
            .push(row);
    }
    let credits = Credits::of(conn, &ids)?;
    let siblings = Siblings::of(conn, payer_code, &invoices)?;
    let keys = |f: fn(&InvoiceRow) -> Option<String>| -> Vec<String> {
        let mut k: Vec<String> = invoices.iter().map(|(i, _)| i).filter_map(f).collect();
        k.sort();
        k.dedup();
        k
    };
    let episode_keys = keys(|i| i.episode_id.clone());
    let patient_keys = keys(|i| i.patient_id.clone());
    let location_keys = keys(|i| Some(i.location_id.to_string()));
    let mut codes: Vec<String> = rows_of.values().flatten().map(|r| r.code.clone()).collect();
    codes.sort();
    codes.dedup();
    let episodes = facts::of::<EpisodeRef>(conn, &episode_keys)?;
    let locations = facts::of::<LocationChangedV1>(conn, &location_keys)?;
    let patients = facts::of::<PatientChangedV1>(conn, &patient_keys)?;
    let coverages = facts::of::<CoverageChangedV1>(conn, &patient_keys)?;
    let codings = facts::of::<EpisodeCodedV1>(conn, &episode_keys)?;
    let catalog = facts::of::<CatalogItemChangedV1>(conn, &codes)?;
    let practitioners = facts::all::<PractitionerChangedV1>(conn)?;
    let catalog: HashMap<String, Known<'_, _>> =
        catalog.iter().map(|(k, v)| (k.clone(), known(v))).collect();
    let registry: Vec<Known<'_, PractitionerChangedV1>> = practitioners.iter().map(known).collect();
    let kept = Held {
        episodes: &episodes,
        locations: &locations,
        patients: &patients,
        coverages: &coverages,
        codings: &codings,
        catalog: &catalog,
        registry: &registry,
    };
    invoices
        .into_iter()
        .map(|(invoice, claiming)| {
            let key = invoice.id.to_string();
            let rows = rows_of.remove(&key).unwrap_or_default(); // not stored: no lines, a gap
            let credited = credits.of_invoice(&key, claiming.credits_until)?;
            let settlement_payers = siblings.of_invoice(&invoice, &rows)?;
            let claimed = Claimed {
                invoice: &invoice,
                claiming: &claiming,
                rows: &rows,
                credited: &credited,
                settlement_payers: &settlement_payers,
            };
            let (claim, gaps) = match one(payer_code, &settings.settings, &kept, &claimed)? {
                Ok(claim) => (Some(claim), Vec::new()),
                Err(gaps) => (None, gaps),
            };
            Ok(Checked {
                invoice,
                claiming,
                claim,
                gaps,
            })
        })
        .collect()
}

/// The other payers' invoices of the settlements checked, with their settings and what their
/// 835s decided: what a secondary claim carries of the payers before it.
struct Siblings {
    /// Per settlement, the other payers' issued invoices.
    by_settlement: HashMap<String, Vec<InvoiceRow>>,
    /// Per such invoice, the consumptions its lines bill.
    consumptions: HashMap<String, HashSet<String>>,
    /// Those payers' e-billing settings.
    settings: HashMap<String, carebill_domain::e_billing::EBillingSettings>,
    /// Per invoice, the latest 835 that decided it and when it paid (none once reversed).
    adjudications: HashMap<String, (RemittedClaim, chrono::NaiveDate)>,
}

impl Siblings {
    fn of(
        conn: &mut AnyConnection,
        payer_code: &str,
        invoices: &[(InvoiceRow, Claiming)],
    ) -> Result<Siblings, Error> {
        let mut settlements: Vec<String> = invoices
            .iter()
            .filter_map(|(i, _)| i.settlement_id.clone())
            .collect();
        settlements.sort();
        settlements.dedup();
        let others: Vec<InvoiceRow> = invoices::payer_invoices_of_settlements(conn, &settlements)?
            .into_iter()
            .filter(|r| r.payer_code.as_deref() != Some(payer_code))
            .collect();
        let ids: Vec<String> = others.iter().map(|r| r.id.to_string()).collect();
        let mut consumptions: HashMap<String, HashSet<String>> = HashMap::new();
        for line in lines::of_documents(conn, &ids)? {
            consumptions
                .entry(line.document_id.clone())
                .or_default()
                .insert(line.consumption_id.to_string());
        }
        // The latest decision of each invoice; a reversal takes back what came before it.
        let mut adjudications = HashMap::new();
        for a in store::adjudications_of(conn, &ids)? {
            if a.status_code == "22" {
                adjudications.remove(&a.invoice_id);
                continue;
            }
            let claim: RemittedClaim =
                carebill_domain::stored::json("claim adjudication", &a.claim)
                    .map_err(Error::from)?;
            adjudications.insert(a.invoice_id, (claim, a.paid_on));
        }
        let mut settings = HashMap::new();
        for code in others.iter().filter_map(|r| r.payer_code.clone()) {
            if settings.contains_key(&code) {
                continue;
            }
            match e_billing_settings::get(conn, &code) {
                Ok(s) => {
                    settings.insert(code, s.settings);
                }
                Err(e) if e.code() == ErrorCode::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let mut by_settlement: HashMap<String, Vec<InvoiceRow>> = HashMap::new();
        for row in others {
            if let Some(settlement) = row.settlement_id.clone() {
                by_settlement.entry(settlement).or_default().push(row);
            }
        }
        Ok(Siblings {
            by_settlement,
            consumptions,
            settings,
            adjudications,
        })
    }

    /// The other payers' invoices of an invoice's settlement that bill some of the services
    /// its `lines` bill (a settlement invoiced again adds invoices for what is new only).
    fn of_invoice<'a>(
        &'a self,
        invoice: &InvoiceRow,
        lines: &[LineRow],
    ) -> Result<Vec<SettlementPayer<'a>>, Error> {
        let mine: HashSet<String> = lines.iter().map(|l| l.consumption_id.to_string()).collect();
        let Some(rows) = invoice
            .settlement_id
            .as_ref()
            .and_then(|s| self.by_settlement.get(s))
        else {
            return Ok(Vec::new());
        };
        rows.iter()
            .filter(|r| {
                self.consumptions
                    .get(&r.id.to_string())
                    .is_some_and(|c| !c.is_disjoint(&mine))
            })
            .filter_map(|r| r.payer_code.as_deref().map(|code| (r, code)))
            .map(|(r, payer_code)| {
                Ok(SettlementPayer {
                    payer_code,
                    invoice_id: r.id,
                    invoice_number: &r.number,
                    coverage_id: r
                        .coverage_id
                        .as_deref()
                        .map(|c| carebill_domain::stored::parse("invoice coverage id", c))
                        .transpose()
                        .map_err(Error::from)?,
                    policy_number: r.policy_number.as_deref(),
                    settings: self.settings.get(payer_code),
                    adjudication: self
                        .adjudications
                        .get(&r.id.to_string())
                        .map(|(c, on)| (c, *on)),
                })
            })
            .collect()
    }
}

/// One credit note line: the payer's amount credited (minor units) and its quantity (the
/// line's whole quantity when it credited an amount).
pub(crate) type CreditLine = (i64, rust_decimal::Decimal);

/// The credit notes of the invoices checked, with their lines.
pub(crate) struct Credits {
    /// Per invoice: each note's issue time and lines.
    notes: HashMap<String, Vec<(chrono::NaiveDateTime, Vec<LineRow>)>>,
}

impl Credits {
    pub(crate) fn of(conn: &mut AnyConnection, invoice_ids: &[String]) -> Result<Credits, Error> {
        let notes = credit_notes::of_invoices(conn, invoice_ids)?;
        let ids: Vec<String> = notes.iter().map(|n| n.id.to_string()).collect();
        let mut lines_of: HashMap<String, Vec<LineRow>> = HashMap::new();
        for row in lines::of_documents(conn, &ids)? {
            lines_of
                .entry(row.document_id.clone())
                .or_default()
                .push(row);
        }
        let mut out: HashMap<String, Vec<_>> = HashMap::new();
        for n in notes {
            let rows = lines_of.remove(&n.id.to_string()).unwrap_or_default(); // not stored: no lines
            out.entry(n.invoice_id.to_string())
                .or_default()
                .push((n.issued_at, rows));
        }
        Ok(Credits { notes: out })
    }

    /// What the invoice's credit notes issued up to `until` (all of them when none) credited,
    /// per consumption.
    pub(crate) fn of_invoice(
        &self,
        invoice_id: &str,
        until: Option<chrono::NaiveDateTime>,
    ) -> Result<HashMap<String, Vec<CreditLine>>, Error> {
        let mut out: HashMap<String, Vec<CreditLine>> = HashMap::new();
        for (at, rows) in self.notes.get(invoice_id).into_iter().flatten() {
            if until.is_some_and(|u| *at > u) {
                continue;
            }
            for row in rows {
                let quantity = row
                    .quantity
                    .parse()
                    .map_err(|e| Error::stored("credited quantity", &row.quantity, e))?;
                out.entry(row.consumption_id.to_string())
                    .or_default()
                    .push((row.amount_minor, quantity));
            }
        }
        Ok(out)
    }
}

/// The master data read for a check, by key.
struct Held<'a> {
    episodes: &'a HashMap<String, Kept<EpisodeRef>>,
    locations: &'a HashMap<String, Kept<LocationChangedV1>>,
    patients: &'a HashMap<String, Kept<PatientChangedV1>>,
    coverages: &'a HashMap<String, Kept<CoverageChangedV1>>,
    codings: &'a HashMap<String, Kept<EpisodeCodedV1>>,
    catalog: &'a HashMap<String, Known<'a, CatalogItemChangedV1>>,
    registry: &'a [Known<'a, PractitionerChangedV1>],
}

/// One invoice's claim, built from what is held.
/// One invoice as it is claimed: its lines, and what its credit notes credited of them.
struct Claimed<'a> {
    invoice: &'a InvoiceRow,
    claiming: &'a Claiming,
    rows: &'a [LineRow],
    credited: &'a HashMap<String, Vec<CreditLine>>,
    settlement_payers: &'a [SettlementPayer<'a>],
}

fn one(
    payer_code: &str,
    settings: &carebill_domain::e_billing::EBillingSettings,
    kept: &Held<'_>,
    claimed: &Claimed<'_>,
) -> Result<Result<Claim, Vec<Gap>>, Error> {
    let Claimed {
        invoice,
        claiming,
        rows,
        credited,
        settlement_payers,
    } = claimed;
    let (Some(episode_id), Some(patient_id)) = (&invoice.episode_id, &invoice.patient_id) else {
        return Err(Error::internal(
            &"a claimable invoice without its episode or patient",
        ));
    };
    let tz: Tz = carebill_domain::stored::parse("location time zone", &invoice.location_time_zone)
        .map_err(Error::from)?;
    let lines: Vec<_> = rows.iter().map(LineRow::domain).collect::<Result<_, _>>()?;
    let location_id = invoice.location_id.to_string();
    let mut invoice_lines = Vec::with_capacity(lines.len());
    for (row, l) in rows.iter().zip(&lines) {
        let key = l.consumption_id.to_string();
        let credits: Vec<(Decimal, Decimal)> = credited
            .get(&key)
            .into_iter()
            .flatten()
            .map(|(minor, q)| (money(*minor, invoice.currency).amount(), *q))
            .collect();
        let Some((charge, quantity)) = line_after_credits(
            l.line_amount.amount(),
            l.amount.amount(),
            l.quantity,
            &credits,
        ) else {
            continue;
        };
        invoice_lines.push(InvoiceLine {
            position: row.position,
            consumption_id: key,
            code: &l.code,
            quantity,
            charge,
            performed_on: l.performed_at.with_timezone(&tz).date_naive(),
            performed_by: l.performed_by.as_deref(),
            claim: l.claim.as_ref(),
        });
    }
    let currency = invoice.currency.to_string();
    let coverage_id = invoice
        .coverage_id
        .as_deref()
        .map(|c| carebill_domain::stored::parse("invoice coverage id", c))
        .transpose()
        .map_err(Error::from)?;
    let sources = Sources {
        payer_code,
        settings,
        invoice: InvoiceFacts {
            id: invoice.id,
            number: &invoice.number,
            episode_id: carebill_domain::stored::parse("invoice episode id", episode_id)
                .map_err(Error::from)?,
            currency: &currency,
            coverage_id,
            policy_number: invoice.policy_number.as_deref(),
            lines: invoice_lines,
            frequency: claiming.frequency,
            corrects: claiming.corrects.as_ref().map(|c| Corrected {
                claim_id: c.id,
                payer_claim_number: c.payer_claim_number.as_deref(),
                active: c.active,
            }),
        },
        episode: kept.episodes.get(episode_id).map(known),
        location: kept.locations.get(&location_id).map(known),
        patient: kept.patients.get(patient_id).map(known),
        coverages: kept.coverages.get(patient_id).map(known),
        coding: kept.codings.get(episode_id).map(known),
        catalog: kept.catalog,
        practitioners: kept.registry,
        settlement_payers,
    };
    Ok(claim_build::build(&sources))
}
