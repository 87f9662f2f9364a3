//! From what Carebill knows to a claim: an issued payer invoice, the payer's e-billing settings
//! and the master data invoicing keeps (the location, the patient, their coverages, the
//! episode and its coding, the catalog, the practitioner registry) become a [`Claim`], or the
//! list of everything that is missing or wrong, each gap naming the X12 loop, segment and
//! element it blocks, why, and the record to fix (seed 002: "fix, then check again").
//!
//! Pure: the service loads the sources and turns each [`Resource`] into a link.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::accounts::EpisodeKind;
use crate::claim::{
    Adjustment, BillingProvider, Claim, ClaimFormat, Diagnosis, Frequency, Institutional,
    LineAdjudication, Named, OtherPayer, Payer, Person, PersonName, Practitioner, Relationship,
    Responsibility, ServiceLine, Sex, Subscriber, UsAddress, named,
};
use crate::claim_codes::{
    Ein, Icd10Cm, Modifier, Npi, PlaceOfService, ProcedureCode, ProcedureSystem, RevenueCode,
    Taxonomy, UsState, ZipCode,
};
use crate::e_billing::{EBillingSettings, FormatChoice};
use crate::events::{
    BillingCodeSystem, CatalogItemChangedV1, CoverageChangedV1, EpisodeCodedV1, EpisodeRef,
    LineClaimFacts, LocationChangedV1, PatientChangedV1, PostalAddressRef, PractitionerChangedV1,
    PractitionerRef, UnitBasis,
};
use crate::ids::{CoverageId, EpisodeId, InvoiceId, PractitionerId};

/// A record as invoicing keeps it, and when it last changed.
#[derive(Debug)]
pub struct Known<'a, T> {
    /// The record.
    pub value: &'a T,
    /// When it changed (what a gap shows as `as_of`).
    pub as_of: DateTime<Utc>,
}

impl<T> Clone for Known<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Known<'_, T> {}

/// One line of the invoice claimed.
#[derive(Debug, Clone)]
pub struct InvoiceLine<'a> {
    /// Its position on the invoice.
    pub position: i32,
    /// The consumption billed (the line's REF*6R, which an 835 returns).
    pub consumption_id: String,
    /// Catalog code.
    pub code: &'a str,
    /// Quantity.
    pub quantity: Decimal,
    /// The whole service's charge (SV102/SV203).
    pub charge: Decimal,
    /// The day performed, in the location's time zone.
    pub performed_on: NaiveDate,
    /// Who performed it, as the clinical system said.
    pub performed_by: Option<&'a str>,
    /// Diagnoses, modifiers and practitioners the consumption named.
    pub claim: Option<&'a LineClaimFacts>,
}

/// The invoice claimed.
#[derive(Debug, Clone)]
pub struct InvoiceFacts<'a> {
    /// The invoice.
    pub id: InvoiceId,
    /// Its number: CLM01.
    pub number: &'a str,
    /// The episode it bills (whose coding a claim reads).
    pub episode_id: EpisodeId,
    /// Its currency (837 amounts are US dollars).
    pub currency: &'a str,
    /// The coverage it bills through.
    pub coverage_id: Option<CoverageId>,
    /// The coverage's policy number (the member id unless the subscriber has another).
    pub policy_number: Option<&'a str>,
    /// Its lines (less what credit notes credited).
    pub lines: Vec<InvoiceLine<'a>>,
    /// CLM05-3: an original, or a correction of a claim the payer has.
    pub frequency: Frequency,
    /// The claim a replacement or void corrects.
    pub corrects: Option<Corrected<'a>>,
}

/// The claim a correction corrects.
#[derive(Debug, Clone, Copy)]
pub struct Corrected<'a> {
    /// The claim (where its payer claim number is typed when no response gave it).
    pub claim_id: crate::ids::EBillingClaimId,
    /// The payer's claim control number of it (REF*F8).
    pub payer_claim_number: Option<&'a str>,
    /// Whether the payer still has it (not rejected since, its e-billing not cancelled).
    pub active: bool,
}

/// Another payer's invoice of the same settlement: a payer before this one when its coverage
/// comes first, whose 835 a secondary or tertiary claim carries (2320/2330/2430).
#[derive(Debug, Clone)]
pub struct SettlementPayer<'a> {
    /// The payer's code.
    pub payer_code: &'a str,
    /// Its invoice.
    pub invoice_id: InvoiceId,
    /// That invoice's number.
    pub invoice_number: &'a str,
    /// The coverage it billed through.
    pub coverage_id: Option<CoverageId>,
    /// That coverage's policy number.
    pub policy_number: Option<&'a str>,
    /// The payer's e-billing settings (its name, payer id and filing indicator), when it has.
    pub settings: Option<&'a EBillingSettings>,
    /// What its 835 decided of that invoice, and when it paid, when it came.
    pub adjudication: Option<(&'a crate::events::RemittedClaim, NaiveDate)>,
}

/// Everything a claim is made of.
#[derive(Debug, Clone)]
pub struct Sources<'a> {
    /// The payer's code (what the settings are kept under).
    pub payer_code: &'a str,
    /// The payer's e-billing settings.
    pub settings: &'a EBillingSettings,
    /// The invoice.
    pub invoice: InvoiceFacts<'a>,
    /// The episode it bills, as its approval said.
    pub episode: Option<Known<'a, EpisodeRef>>,
    /// The location (the billing provider).
    pub location: Option<Known<'a, LocationChangedV1>>,
    /// The patient.
    pub patient: Option<Known<'a, PatientChangedV1>>,
    /// The patient's coverages.
    pub coverages: Option<Known<'a, CoverageChangedV1>>,
    /// The episode's coding.
    pub coding: Option<Known<'a, EpisodeCodedV1>>,
    /// Catalog items by code.
    pub catalog: &'a HashMap<String, Known<'a, CatalogItemChangedV1>>,
    /// The practitioner registry.
    pub practitioners: &'a [Known<'a, PractitionerChangedV1>],
    /// The other payers' invoices of the invoice's settlement.
    pub settlement_payers: &'a [SettlementPayer<'a>],
}

/// The record a gap is fixed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The payer's e-billing settings (by payer code).
    Settings(String),
    /// A location (by id).
    Location(String),
    /// A patient (by id).
    Patient(String),
    /// A coverage (by id).
    Coverage(String),
    /// An episode's coding (by episode id).
    Coding(String),
    /// A practitioner of the registry (by id).
    Practitioner(PractitionerId),
    /// A name no practitioner of the registry answers to (or more than one does).
    PractitionerNamed(String),
    /// A catalog item (by code).
    CatalogItem(String),
    /// The invoice.
    Invoice(InvoiceId),
    /// A claim sent before (by id).
    Claim(crate::ids::EBillingClaimId),
}

/// Why a value is a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapKind {
    /// Not there.
    Absent,
    /// There, but not what the guide allows.
    Invalid,
    /// A name that does not point at exactly one record.
    Unresolved,
}

/// What blocks a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    /// The loop, e.g. `2010AA`.
    pub loop_id: &'static str,
    /// The segment, e.g. `NM1`.
    pub segment: &'static str,
    /// The element, e.g. `NM109`.
    pub element: &'static str,
    /// The element's name in the guide.
    pub name: &'static str,
    /// What is missing or wrong, in words (with the value when there is one).
    pub what: String,
    /// Why the claim needs it.
    pub why: &'static str,
    /// Where to fix it.
    pub resource: Resource,
    /// Absent, invalid or unresolved.
    pub kind: GapKind,
    /// When the record read last changed; none when there is no record.
    pub as_of: Option<DateTime<Utc>>,
}

/// Gaps as they are found.
struct Gaps(Vec<Gap>);

/// Where in the guide a value goes.
type At = (&'static str, &'static str, &'static str, &'static str);

impl Gaps {
    fn add(
        &mut self,
        (loop_id, segment, element, name): At,
        what: impl Into<String>,
        why: &'static str,
        resource: Resource,
        kind: GapKind,
        as_of: Option<DateTime<Utc>>,
    ) {
        self.0.push(Gap {
            loop_id,
            segment,
            element,
            name,
            what: what.into(),
            why,
            resource,
            kind,
            as_of,
        });
    }

    /// A value parsed by `parse`, or a gap: absent when there is none, invalid when it does
    /// not parse.
    #[expect(
        clippy::too_many_arguments,
        reason = "one gap's every part, at one place"
    )]
    fn parsed<T, E: std::fmt::Display>(
        &mut self,
        at: At,
        value: Option<&str>,
        what: &str,
        parse: impl Fn(&str) -> Result<T, E>,
        why: &'static str,
        resource: &Resource,
        as_of: Option<DateTime<Utc>>,
    ) -> Option<T> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => {
                self.add(
                    at,
                    format!("{what}: none"),
                    why,
                    resource.clone(),
                    GapKind::Absent,
                    as_of,
                );
                None
            }
            Some(v) => match parse(v) {
                Ok(t) => Some(t),
                Err(e) => {
                    self.add(
                        at,
                        format!("{what}: {e}"),
                        why,
                        resource.clone(),
                        GapKind::Invalid,
                        as_of,
                    );
                    None
                }
            },
        }
    }
}

/// A required text as it is (trimmed by [`Gaps::parsed`]).
fn text(v: &str) -> Result<String, std::convert::Infallible> {
    Ok(v.to_owned())
}

const WHY_NPI: &str =
    "837 names providers by NPI (qualifier XX): ten digits whose last is a Luhn check digit";
const WHY_ADDRESS: &str = "the billing provider's address must be a US street address with its state and nine-digit ZIP (2010AA N3/N4)";
const WHY_PERSON: &str =
    "the insured and the patient are named with their address, birth date and sex (N3/N4, DMG)";

/// The claim the sources make, or every gap.
pub fn build(s: &Sources<'_>) -> Result<Claim, Vec<Gap>> {
    let mut g = Gaps(Vec::new());
    let settings_ref = Resource::Settings(s.payer_code.to_owned());
    let invoice_ref = Resource::Invoice(s.invoice.id);

    // The kind of care picks the format, unless the payer fixed it.
    let kind = s.episode.map(|e| e.value.kind);
    let format = match (s.settings.claim_format, kind) {
        (FormatChoice::Professional, _) => Some(ClaimFormat::Professional),
        (FormatChoice::Institutional, _) => Some(ClaimFormat::Institutional),
        (FormatChoice::Auto, Some(EpisodeKind::Inpatient | EpisodeKind::LongTermStay)) => {
            Some(ClaimFormat::Institutional)
        }
        (FormatChoice::Auto, Some(_)) => Some(ClaimFormat::Professional),
        (FormatChoice::Auto, None) => {
            g.add(
                (
                    "2300",
                    "CLM",
                    "CLM05-1",
                    "Place of Service / Facility Type Code",
                ),
                "the kind of care of the invoice's episode is not known to invoicing",
                "the claim format (837P or 837I) and CLM05 follow the kind of care",
                invoice_ref.clone(),
                GapKind::Absent,
                None,
            );
            None
        }
    };

    if s.invoice.currency != "USD" {
        g.add(
            ("2300", "CLM", "CLM02", "Total Claim Charge Amount"),
            format!("the invoice is in {}", s.invoice.currency),
            "837 amounts are US dollars",
            invoice_ref.clone(),
            GapKind::Invalid,
            None,
        );
    }
    let max = usize::from(s.settings.requirements.max_patient_control_number);
    if s.invoice.number.chars().count() > max {
        g.add(
            ("2300", "CLM", "CLM01", "Patient Control Number"),
            format!(
                "invoice number {} is longer than the {max} characters the payer keeps",
                s.invoice.number
            ),
            "the payer returns CLM01 in its 277 and 835; it keeps only so many characters",
            settings_ref.clone(),
            GapKind::Invalid,
            None,
        );
    }

    if s.invoice.lines.is_empty() {
        g.add(
            ("2400", "LX", "LX01", "Assigned Number"),
            "the invoice has no lines",
            "a claim bills at least one service line",
            invoice_ref.clone(),
            GapKind::Absent,
            None,
        );
    }
    let billing_provider = billing_provider(s, &mut g);
    let (subscriber, relationship, patient) = insured(s, &mut g);
    let place = place_of_service(s, format, kind, &mut g);
    let (diagnoses, pointers) = diagnoses(s, format, &mut g);
    let lines = service_lines(s, format, kind, &pointers, &mut g);
    let rendering = rendering(s, format, &mut g);
    let referring = referring(s, format, &mut g);
    let institutional = match format {
        Some(ClaimFormat::Institutional) => institutional(s, kind, &place, &mut g),
        _ => None,
    };

    let count_limit = match format {
        Some(ClaimFormat::Institutional) => 999,
        _ => 50,
    };
    if s.invoice.lines.len() > count_limit {
        g.add(
            ("2400", "LX", "LX01", "Assigned Number"),
            format!(
                "the invoice has {} lines; a claim holds at most {count_limit}",
                s.invoice.lines.len()
            ),
            "the guide limits the service lines of one claim",
            invoice_ref,
            GapKind::Invalid,
            None,
        );
    }

    let payer_claim_number = corrected(s, &mut g);
    let (responsibility, other_payers) = prior_payers(s, lines.as_deref(), &mut g);

    if !g.0.is_empty() {
        return Err(g.0);
    }
    let (Some(format), Some(billing_provider), Some(subscriber), Some(relationship), Some(lines)) =
        (format, billing_provider, subscriber, relationship, lines)
    else {
        return Err(g.0);
    };
    Ok(Claim {
        patient_control_number: s.invoice.number.to_owned(),
        format,
        frequency: s.invoice.frequency,
        payer_claim_number,
        billing_provider,
        payer: Payer {
            name: s.settings.payer_name.clone(),
            payer_id: s.settings.payer_id.clone(),
            filing_indicator: s.settings.claim_filing_indicator.clone(),
        },
        responsibility,
        subscriber,
        relationship,
        patient,
        place_of_service: match format {
            ClaimFormat::Professional => place.and_then(|p| PlaceOfService::parse(&p).ok()),
            ClaimFormat::Institutional => None,
        },
        diagnoses,
        rendering: rendering.flatten(),
        referring: referring.flatten(),
        institutional,
        lines,
        other_payers,
    })
}

const WHY_PRIOR: &str = "a secondary or tertiary claim carries what each payer before it decided: its paid amount and adjustments from its 835 (2320 AMT*D and CAS, 2430 SVD and CAS)";

/// Who this payer is among the patient's payers (SBR01), and the payers before it with what
/// their 835s decided: the settlement's other payer invoices whose coverage comes first.
fn prior_payers(
    s: &Sources<'_>,
    lines: Option<&[ServiceLine]>,
    g: &mut Gaps,
) -> (Responsibility, Vec<OtherPayer>) {
    if s.settlement_payers.is_empty() {
        return (Responsibility::Primary, Vec::new());
    }
    let priority_of = |coverage: Option<CoverageId>| {
        s.coverages.and_then(|c| {
            c.value
                .coverages
                .iter()
                .find(|r| Some(r.id) == coverage)
                .map(|r| r.priority)
        })
    };
    let order_gap = |g: &mut Gaps, what: String| {
        g.add(
            ("2000B", "SBR", "SBR01", "Payer Responsibility Sequence Number Code"),
            what,
            "with several payers billed for one settlement, the claim says whether this payer is asked first, second or third, by the order of the patient's coverages",
            Resource::Patient(
                s.patient
                    .map(|p| p.value.patient_id.to_string())
                    .unwrap_or_default(),
            ),
            GapKind::Absent,
            s.coverages.map(|c| c.as_of),
        );
    };
    let Some(mine) = priority_of(s.invoice.coverage_id) else {
        order_gap(
            g,
            "the order of the patient's coverages is not known to invoicing".to_owned(),
        );
        return (Responsibility::Primary, Vec::new());
    };
    let mut before = Vec::new();
    for p in s.settlement_payers {
        match priority_of(p.coverage_id) {
            Some(q) if q < mine => before.push((q, p)),
            Some(_) => {}
            None => order_gap(
                g,
                format!(
                    "the coverage payer {} was billed through (invoice {}) is not among the patient's coverages",
                    p.payer_code, p.invoice_number
                ),
            ),
        }
    }
    before.sort_by_key(|(q, _)| *q);
    let mut named: Vec<&str> = Vec::new();
    for (_, p) in &before {
        if named.contains(&p.payer_code) {
            g.add(
                ("2320", "SBR", "SBR01", "Payer Responsibility Sequence Number Code"),
                format!(
                    "payer {} billed these services on more than one invoice (invoice {} among them)",
                    p.payer_code, p.invoice_number
                ),
                "a claim carries one decision of each payer before it; services that payer billed on several invoices are claimed separately",
                Resource::Invoice(s.invoice.id),
                GapKind::Invalid,
                None,
            );
            return (Responsibility::Primary, Vec::new());
        }
        named.push(p.payer_code);
    }
    let responsibility = match before.len() {
        0 => Responsibility::Primary,
        1 => Responsibility::Secondary,
        _ => Responsibility::Tertiary,
    };
    let others = before
        .iter()
        .zip([Responsibility::Primary, Responsibility::Secondary])
        .filter_map(|((_, p), r)| other_payer(s, p, r, lines, g))
        .collect();
    (responsibility, others)
}

/// One payer before this one (2320/2330A/2330B/2430), or its gaps.
fn other_payer(
    s: &Sources<'_>,
    p: &SettlementPayer<'_>,
    responsibility: Responsibility,
    lines: Option<&[ServiceLine]>,
    g: &mut Gaps,
) -> Option<OtherPayer> {
    let invoice_ref = Resource::Invoice(p.invoice_id);
    let payer = match p.settings {
        Some(settings) => Some(Payer {
            name: settings.payer_name.clone(),
            payer_id: settings.payer_id.clone(),
            filing_indicator: settings.claim_filing_indicator.clone(),
        }),
        None => {
            g.add(
                ("2330B", "NM1", "NM109", "Other Payer Primary Identifier"),
                format!("payer {} has no e-billing settings", p.payer_code),
                "the payer before this one is named by its name, payer id and filing indicator, from its settings",
                Resource::Settings(p.payer_code.to_owned()),
                GapKind::Absent,
                None,
            );
            None
        }
    };
    let (subscriber, relationship) = other_subscriber(s, p, g);
    let Some((remitted, paid_on)) = p.adjudication else {
        g.add(
            ("2320", "AMT", "AMT02", "Payer Paid Amount"),
            format!(
                "payer {}'s 835 for invoice {} has not come",
                p.payer_code, p.invoice_number
            ),
            WHY_PRIOR,
            invoice_ref,
            GapKind::Absent,
            None,
        );
        return None;
    };
    let cas = |line: Option<&str>| -> Vec<Adjustment> {
        remitted
            .adjustments
            .iter()
            .filter(|a| a.line.as_deref() == line)
            .map(|a| Adjustment {
                group: a.group.clone(),
                reason: a.reason.clone(),
                amount: a.amount.amount(),
            })
            .collect()
    };
    let adjustments = cas(None);
    let line_adjudications: Vec<LineAdjudication> = remitted
        .lines
        .iter()
        .filter_map(|l| {
            let control_number = l.control_number.clone()?;
            Some(LineAdjudication {
                adjustments: cas(Some(&control_number)),
                control_number,
                paid: l.paid.amount(),
                units: l.units,
            })
        })
        .collect();
    if let Some(lines) = lines {
        let sum = |a: &[Adjustment]| a.iter().map(|a| a.amount).sum::<Decimal>();
        let charge: Decimal = lines.iter().map(|l| l.charge).sum();
        let explained = remitted.paid.amount()
            + sum(&adjustments)
            + line_adjudications
                .iter()
                .map(|l| sum(&l.adjustments))
                .sum::<Decimal>();
        let lines_hold = line_adjudications.iter().all(|a| {
            lines
                .iter()
                .find(|l| l.control_number == a.control_number)
                .is_some_and(|l| l.charge == a.paid + sum(&a.adjustments))
        });
        if charge != explained || !lines_hold {
            g.add(
                ("2320", "CAS", "CAS03", "Adjustment Amount"),
                format!(
                    "payer {}'s 835 for invoice {} paid {} and adjusted {} of {}: it does not add up to this claim's charge {} line by line",
                    p.payer_code,
                    p.invoice_number,
                    remitted.paid.amount(),
                    explained - remitted.paid.amount(),
                    remitted.charge.amount(),
                    charge
                ),
                "the claim's charge is what each payer before it paid plus what it adjusted (CLM02 = AMT*D + CAS), and so is each line's (SV102 = SVD02 + CAS)",
                invoice_ref,
                GapKind::Invalid,
                None,
            );
            return None;
        }
    }
    Some(OtherPayer {
        responsibility,
        payer: payer?,
        subscriber: subscriber?,
        relationship: relationship?,
        paid: remitted.paid.amount(),
        adjudicated_on: paid_on,
        adjustments,
        lines: line_adjudications,
    })
}

/// The holder of a policy who is not the patient, named in `at_loop`, or its gaps.
fn holder(
    at_loop: &'static str,
    h: &crate::events::CoverageSubscriber,
    coverage_ref: &Resource,
    as_of: Option<DateTime<Utc>>,
    g: &mut Gaps,
) -> Option<Person> {
    person(
        at_loop,
        h.family_name.as_deref(),
        h.given_name.as_deref(),
        h.birth_date,
        h.sex.as_deref(),
        h.address.as_ref(),
        coverage_ref,
        as_of,
        g,
    )
}

/// The holder of a payer's policy before this one (2330A) and how the patient relates to them.
fn other_subscriber(
    s: &Sources<'_>,
    p: &SettlementPayer<'_>,
    g: &mut Gaps,
) -> (Option<Subscriber>, Option<Relationship>) {
    let facts = s.coverages.and_then(|c| {
        c.value
            .claims
            .iter()
            .find(|f| Some(f.coverage_id) == p.coverage_id)
    });
    let as_of = s.coverages.map(|c| c.as_of);
    let coverage_ref = match p.coverage_id {
        Some(id) => Resource::Coverage(id.to_string()),
        None => Resource::Invoice(p.invoice_id),
    };
    let member_id = facts
        .and_then(|f| f.subscriber.as_ref())
        .and_then(|h| h.member_id.clone())
        .or_else(|| p.policy_number.map(str::to_owned));
    let member_id = g.parsed(
        ("2330A", "NM1", "NM109", "Other Insured Identifier"),
        member_id.as_deref(),
        "member id at the payer before",
        text,
        "the insured of the payer before this one is named by the member id on that card",
        &coverage_ref,
        as_of,
    );
    let group_number = facts.and_then(|f| f.group_number.clone());
    let (person, relationship) = match facts.and_then(|f| f.subscriber.as_ref()) {
        Some(h) if h.relationship != Relationship::SelfInsured => {
            (holder("2330A", h, &coverage_ref, as_of, g), h.relationship)
        }
        _ => {
            // The patient holds it: their details are checked (and their gaps named) as the
            // claim's own patient or subscriber already.
            let mut named_already = Gaps(Vec::new());
            let patient = s.patient.and_then(|p| {
                person(
                    "2330A",
                    Some(&p.value.family_name),
                    Some(&p.value.given_name),
                    p.value.birth_date,
                    Some(&p.value.sex),
                    p.value.address.as_ref(),
                    &Resource::Patient(p.value.patient_id.to_string()),
                    Some(p.as_of),
                    &mut named_already,
                )
            });
            (patient, Relationship::SelfInsured)
        }
    };
    let subscriber = match (member_id, person) {
        (Some(member_id), Some(person)) => Some(Subscriber {
            member_id,
            group_number,
            person,
        }),
        _ => None,
    };
    (subscriber, Some(relationship))
}

/// REF*F8 of a replacement or void: the payer's number of the claim it corrects, or a gap
/// pointing at that claim (where a person types the number from the payer's portal).
fn corrected(s: &Sources<'_>, g: &mut Gaps) -> Option<String> {
    if s.invoice.frequency == Frequency::Original {
        return None;
    }
    let at = ("2300", "REF", "REF02", "Payer Claim Control Number");
    let why = "a replacement or void names the payer's claim control number of the claim it corrects (REF*F8); the payer's 277CA or 835 gives it, or it is typed from the payer's portal";
    let Some(corrects) = s.invoice.corrects else {
        g.add(
            at,
            "the claim corrected is not known",
            why,
            Resource::Invoice(s.invoice.id),
            GapKind::Absent,
            None,
        );
        return None;
    };
    if !corrects.active {
        g.add(
            at,
            "the claim corrected was rejected since: the payer has no claim of it",
            "a replacement or void corrects a claim the payer has; cancel this e-billing: what the invoice needs then shows among the claimable entries",
            Resource::Claim(corrects.claim_id),
            GapKind::Invalid,
            None,
        );
        return None;
    }
    match corrects
        .payer_claim_number
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        Some(n) => Some(n.to_owned()),
        None => {
            g.add(
                at,
                "the payer has not given its claim number of the claim corrected",
                why,
                Resource::Claim(corrects.claim_id),
                GapKind::Absent,
                None,
            );
            None
        }
    }
}

/// A US address, or gaps at `at_loop` naming `what`.
fn us_address(
    a: Option<&PostalAddressRef>,
    at_loop: &'static str,
    nine_digits: bool,
    why: &'static str,
    resource: &Resource,
    as_of: Option<DateTime<Utc>>,
    g: &mut Gaps,
) -> Option<UsAddress> {
    let Some(a) = a else {
        g.add(
            (at_loop, "N3", "N301", "Address Information"),
            "no address",
            why,
            resource.clone(),
            GapKind::Absent,
            as_of,
        );
        return None;
    };
    let line1 = g.parsed(
        (at_loop, "N3", "N301", "Address Information"),
        a.lines.first().map(String::as_str),
        "street",
        text,
        why,
        resource,
        as_of,
    );
    let city = g.parsed(
        (at_loop, "N4", "N401", "City Name"),
        a.city.as_deref(),
        "city",
        text,
        why,
        resource,
        as_of,
    );
    let state = g.parsed(
        (at_loop, "N4", "N402", "State or Province Code"),
        a.region.as_deref(),
        "state",
        UsState::parse,
        why,
        resource,
        as_of,
    );
    let zip = g.parsed(
        (at_loop, "N4", "N403", "Postal Code"),
        a.postal_code.as_deref(),
        "ZIP code",
        |v: &str| {
            ZipCode::parse(v).and_then(|z| {
                if nine_digits && !z.is_plus_four() {
                    Err(crate::identifiers::IdentifierError::Length {
                        kind: "ZIP code",
                        value: v.to_owned(),
                        actual: 5,
                        expected: "the billing provider's ZIP code has 9 digits".to_owned(),
                    })
                } else {
                    Ok(z)
                }
            })
        },
        why,
        resource,
        as_of,
    );
    Some(UsAddress {
        line1: line1?,
        line2: a.lines.get(1).cloned(),
        city: city?,
        state: state?,
        zip: zip?,
    })
}

fn billing_provider(s: &Sources<'_>, g: &mut Gaps) -> Option<BillingProvider> {
    let Some(l) = s.location else {
        g.add(
            ("2010AA", "NM1", "NM109", "Billing Provider Identifier"),
            "the location is not known to invoicing yet",
            "the billing provider is the invoice's location (run carebill announce --what locations, or change the location)",
            Resource::Invoice(s.invoice.id),
            GapKind::Absent,
            None,
        );
        return None;
    };
    let r = Resource::Location(l.value.location.id.to_string());
    let as_of = Some(l.as_of);
    let claims = l.value.claims.clone().unwrap_or_default();
    let npi = g.parsed(
        ("2010AA", "NM1", "NM109", "Billing Provider Identifier"),
        claims.npi.as_deref(),
        "NPI",
        Npi::parse,
        WHY_NPI,
        &r,
        as_of,
    );
    let taxonomy = if s.settings.requirements.billing_taxonomy {
        g.parsed(
            ("2000A", "PRV", "PRV03", "Provider Taxonomy Code"),
            claims.taxonomy.as_deref(),
            "taxonomy",
            Taxonomy::parse,
            "the payer requires the billing provider's taxonomy",
            &r,
            as_of,
        )
        .map(Some)
    } else {
        Some(
            claims
                .taxonomy
                .as_deref()
                .and_then(|t| Taxonomy::parse(t).ok()),
        )
    };
    let ein = g.parsed(
        (
            "2010AA",
            "REF",
            "REF02",
            "Billing Provider Tax Identification Number",
        ),
        claims.ein.as_deref(),
        "EIN",
        Ein::parse,
        "the billing provider's tax id (REF*EI) is required",
        &r,
        as_of,
    );
    let billing = l.value.location.billing.as_ref();
    let address = us_address(
        billing.and_then(|b| b.address.as_ref()),
        "2010AA",
        true,
        WHY_ADDRESS,
        &r,
        as_of,
        g,
    );
    let name = billing.map_or_else(|| l.value.location.name.clone(), |b| b.legal_name.clone());
    Some(BillingProvider {
        name,
        npi: npi?,
        taxonomy: taxonomy?,
        address: address?,
        ein: ein?,
    })
}

fn sex(v: Option<&str>) -> Option<Sex> {
    match v.map(str::trim) {
        Some("female") => Some(Sex::Female),
        Some("male") => Some(Sex::Male),
        Some("unknown" | "other") => Some(Sex::Unknown),
        _ => None,
    }
}

/// A person of a claim, or gaps.
#[expect(
    clippy::too_many_arguments,
    reason = "a person's parts as the sources hold them"
)]
fn person(
    at_loop: &'static str,
    family: Option<&str>,
    given: Option<&str>,
    birth_date: Option<NaiveDate>,
    sex_text: Option<&str>,
    address: Option<&PostalAddressRef>,
    resource: &Resource,
    as_of: Option<DateTime<Utc>>,
    g: &mut Gaps,
) -> Option<Person> {
    let family = g.parsed(
        (at_loop, "NM1", "NM103", "Last Name"),
        family,
        "family name",
        text,
        WHY_PERSON,
        resource,
        as_of,
    );
    if birth_date.is_none() {
        g.add(
            (at_loop, "DMG", "DMG02", "Birth Date"),
            "birth date: none",
            WHY_PERSON,
            resource.clone(),
            GapKind::Absent,
            as_of,
        );
    }
    let sex = sex(sex_text);
    if sex.is_none() {
        g.add(
            (at_loop, "DMG", "DMG03", "Gender Code"),
            format!("sex: {}", sex_text.unwrap_or("none")),
            WHY_PERSON,
            resource.clone(),
            GapKind::Absent,
            as_of,
        );
    }
    let address = us_address(address, at_loop, false, WHY_PERSON, resource, as_of, g);
    Some(Person {
        name: PersonName {
            family: family?,
            given: given.map(str::to_owned),
            middle: None,
        },
        address: address?,
        birth_date: birth_date?,
        sex: sex?,
    })
}

/// The subscriber, the patient's relationship to them, and the patient when not the subscriber.
fn insured(
    s: &Sources<'_>,
    g: &mut Gaps,
) -> (Option<Subscriber>, Option<Relationship>, Option<Person>) {
    // The patient is named in 2010BA when they hold the policy, else in 2010CA.
    let holds_own = s.invoice.coverage_id.is_none_or(|id| {
        s.coverages
            .and_then(|c| c.value.claims.iter().find(|f| f.coverage_id == id))
            .and_then(|f| f.subscriber.as_ref())
            .is_none_or(|h| h.relationship == Relationship::SelfInsured)
    });
    let patient_loop = if holds_own { "2010BA" } else { "2010CA" };
    let patient = match s.patient {
        Some(p) => person(
            patient_loop,
            Some(&p.value.family_name),
            Some(&p.value.given_name),
            p.value.birth_date,
            Some(&p.value.sex),
            p.value.address.as_ref(),
            &Resource::Patient(p.value.patient_id.to_string()),
            Some(p.as_of),
            g,
        ),
        None => {
            g.add(
                (patient_loop, "NM1", "NM103", "Patient Last Name"),
                "the patient is not known to invoicing yet",
                "run carebill announce --what patients, or change the patient",
                Resource::Invoice(s.invoice.id),
                GapKind::Absent,
                None,
            );
            None
        }
    };
    let Some(coverage_id) = s.invoice.coverage_id else {
        g.add(
            ("2010BA", "NM1", "NM109", "Subscriber Primary Identifier"),
            "the invoice names no coverage",
            "the member id comes from the coverage the invoice bills through",
            Resource::Invoice(s.invoice.id),
            GapKind::Absent,
            None,
        );
        return (None, None, None);
    };
    let coverage_ref = Resource::Coverage(coverage_id.to_string());
    let facts = s
        .coverages
        .and_then(|c| c.value.claims.iter().find(|f| f.coverage_id == coverage_id));
    let as_of = s.coverages.map(|c| c.as_of);
    let group_number = facts.and_then(|f| f.group_number.clone());
    let member_id = facts
        .and_then(|f| f.subscriber.as_ref())
        .and_then(|h| h.member_id.clone())
        .or_else(|| s.invoice.policy_number.map(str::to_owned));
    let member_id = g.parsed(
        ("2010BA", "NM1", "NM109", "Subscriber Primary Identifier"),
        member_id.as_deref(),
        "member id",
        text,
        "the insured is named by the member id on the insurance card",
        &coverage_ref,
        as_of,
    );
    match facts.and_then(|f| f.subscriber.as_ref()) {
        Some(h) if h.relationship != Relationship::SelfInsured => {
            let holder = holder("2010BA", h, &coverage_ref, as_of, g);
            let subscriber = match (member_id, holder) {
                (Some(member_id), Some(person)) => Some(Subscriber {
                    member_id,
                    group_number,
                    person,
                }),
                _ => None,
            };
            (subscriber, Some(h.relationship), patient)
        }
        _ => {
            let subscriber = match (member_id, patient) {
                (Some(member_id), Some(person)) => Some(Subscriber {
                    member_id,
                    group_number,
                    person,
                }),
                _ => None,
            };
            (subscriber, Some(Relationship::SelfInsured), None)
        }
    }
}

/// CLM05-1: the place of service (837P) or the facility type (837I), as text.
fn place_of_service(
    s: &Sources<'_>,
    format: Option<ClaimFormat>,
    kind: Option<EpisodeKind>,
    g: &mut Gaps,
) -> Option<String> {
    let l = s.location?;
    let r = Resource::Location(l.value.location.id.to_string());
    let claims = l.value.claims.clone().unwrap_or_default();
    match format? {
        ClaimFormat::Professional => g
            .parsed(
                ("2300", "CLM", "CLM05-1", "Place of Service Code"),
                claims.place_of_service.as_deref(),
                "place of service",
                PlaceOfService::parse,
                "a professional claim says where the care was given (CMS place of service)",
                &r,
                Some(l.as_of),
            )
            .and(claims.place_of_service),
        ClaimFormat::Institutional => {
            let f = &claims.facility_types;
            let code = match kind? {
                EpisodeKind::Inpatient => f.inpatient.clone(),
                EpisodeKind::Outpatient => f.outpatient.clone(),
                EpisodeKind::LongTermStay => f.long_term_stay.clone(),
                EpisodeKind::HomeCare => f.home_care.clone(),
            };
            g.parsed(
                ("2300", "CLM", "CLM05-1", "Facility Type Code"),
                code.as_deref(),
                &format!("type of bill for {} episodes", kind?.as_str()),
                text,
                "an institutional claim says the facility type and bill classification (the type of bill's first two digits)",
                &r,
                Some(l.as_of),
            )
        }
    }
}

/// The claim's diagnoses (the episode's coding, then the lines' own codes it lacks) and, per
/// line position, its pointers into them.
fn diagnoses(
    s: &Sources<'_>,
    format: Option<ClaimFormat>,
    g: &mut Gaps,
) -> (Vec<Diagnosis>, HashMap<i32, Vec<u8>>) {
    let episode_id = s.invoice.episode_id.to_string();
    let coding_ref = Resource::Coding(episode_id);
    let as_of = s.coding.map(|c| c.as_of);
    let mut out: Vec<Diagnosis> = Vec::new();
    let institutional = format == Some(ClaimFormat::Institutional);
    if let Some(c) = s.coding {
        for d in &c.value.coding.diagnoses {
            if let Ok(code) = Icd10Cm::parse(&d.code) {
                out.push(Diagnosis {
                    code,
                    present_on_admission: if institutional {
                        d.present_on_admission
                            .as_deref()
                            .and_then(|p| p.chars().next())
                    } else {
                        None
                    },
                });
            }
        }
    }
    let mut pointers = HashMap::new();
    for line in &s.invoice.lines {
        let mut own = Vec::new();
        for code in line
            .claim
            .map(|c| c.diagnosis_codes.as_slice())
            .unwrap_or_default()
        {
            let Ok(code) = Icd10Cm::parse(code) else {
                continue;
            };
            let at = match out.iter().position(|d| d.code == code) {
                Some(at) => at,
                None => {
                    out.push(Diagnosis {
                        code,
                        present_on_admission: None,
                    });
                    out.len() - 1
                }
            };
            // Beyond 255 diagnoses the claim has a gap below anyway.
            own.push(u8::try_from(at + 1).unwrap_or(u8::MAX));
        }
        if own.is_empty() && !out.is_empty() {
            own.push(1);
        }
        own.truncate(4);
        pointers.insert(line.position, own);
    }
    if out.is_empty() {
        g.add(
            ("2300", "HI", "HI01-2", "Principal Diagnosis Code"),
            "no diagnosis: the episode is not coded and no line names one",
            "every claim carries its principal diagnosis (ICD-10-CM)",
            coding_ref.clone(),
            GapKind::Absent,
            as_of,
        );
    }
    let max = if institutional { 25 } else { 12 };
    if out.len() > max {
        g.add(
            ("2300", "HI", "HI01-2", "Diagnosis Code"),
            format!("{} diagnoses; the claim holds at most {max}", out.len()),
            "the guide limits the diagnoses of one claim",
            coding_ref,
            GapKind::Invalid,
            as_of,
        );
    }
    (out, pointers)
}

fn service_lines(
    s: &Sources<'_>,
    format: Option<ClaimFormat>,
    kind: Option<EpisodeKind>,
    pointers: &HashMap<i32, Vec<u8>>,
    g: &mut Gaps,
) -> Option<Vec<ServiceLine>> {
    let institutional = format == Some(ClaimFormat::Institutional);
    let mut out = Vec::with_capacity(s.invoice.lines.len());
    let mut whole = true;
    for line in &s.invoice.lines {
        let item_ref = Resource::CatalogItem(line.code.to_owned());
        let Some(item) = s.catalog.get(line.code) else {
            g.add(
                ("2400", "SV1", "SV101-2", "Procedure Code"),
                format!("catalog item {} is not known to invoicing yet", line.code),
                "each line bills its catalog item's code (run carebill announce --what catalog, or change the item)",
                item_ref,
                GapKind::Absent,
                None,
            );
            whole = false;
            continue;
        };
        let as_of = Some(item.as_of);
        let code = item.value.billing_code.as_ref();
        let procedure = match code.map(|c| c.system) {
            Some(BillingCodeSystem::Cpt) => code.and_then(|c| {
                g.parsed(
                    ("2400", "SV1", "SV101-2", "Procedure Code"),
                    Some(&c.code),
                    "CPT code",
                    |v: &str| ProcedureCode::parse(ProcedureSystem::Cpt, v),
                    "a line bills a CPT or HCPCS code (qualifier HC)",
                    &item_ref,
                    as_of,
                )
            }),
            Some(BillingCodeSystem::Hcpcs) => code.and_then(|c| {
                g.parsed(
                    ("2400", "SV1", "SV101-2", "Procedure Code"),
                    Some(&c.code),
                    "HCPCS code",
                    |v: &str| ProcedureCode::parse(ProcedureSystem::Hcpcs, v),
                    "a line bills a CPT or HCPCS code (qualifier HC)",
                    &item_ref,
                    as_of,
                )
            }),
            Some(BillingCodeSystem::National) => {
                g.add(
                    ("2400", "SV1", "SV101-1", "Product or Service ID Qualifier"),
                    format!("{} is billed with a national code", line.code),
                    "national codes (qualifier ER) are not written on claims yet; give the item a CPT or HCPCS code",
                    item_ref.clone(),
                    GapKind::Invalid,
                    as_of,
                );
                None
            }
            None => None,
        };
        let needs_procedure = !institutional || kind == Some(EpisodeKind::Outpatient);
        if code.is_none() && needs_procedure {
            g.add(
                ("2400", if institutional { "SV2" } else { "SV1" }, if institutional { "SV202-2" } else { "SV101-2" }, "Procedure Code"),
                format!("catalog item {} has no billing code", line.code),
                "a professional line, and an outpatient institutional line, bill a CPT or HCPCS code",
                item_ref.clone(),
                GapKind::Absent,
                as_of,
            );
        }
        let revenue_code = if institutional {
            g.parsed(
                ("2400", "SV2", "SV201", "Service Line Revenue Code"),
                code.and_then(|c| c.revenue_code.as_deref()),
                "revenue code",
                RevenueCode::parse,
                "an institutional line bills under a NUBC revenue code",
                &item_ref,
                as_of,
            )
        } else {
            None
        };
        let mut modifiers: Vec<Modifier> = Vec::new();
        let catalog_mods = code.map(|c| c.modifiers.as_slice()).unwrap_or_default();
        let line_mods = line
            .claim
            .map(|c| c.modifiers.as_slice())
            .unwrap_or_default();
        for m in catalog_mods.iter().chain(line_mods) {
            if let Ok(m) = Modifier::parse(m)
                && !modifiers.contains(&m)
            {
                modifiers.push(m);
            }
        }
        if modifiers.len() > 4 {
            g.add(
                ("2400", "SV1", "SV101-7", "Procedure Modifier"),
                format!(
                    "line {} has {} modifiers with its catalog item's",
                    line.position,
                    modifiers.len()
                ),
                "a line carries at most four modifiers",
                item_ref.clone(),
                GapKind::Invalid,
                as_of,
            );
        }
        let unit_basis = match code.and_then(|c| c.unit_basis) {
            Some(UnitBasis::Minutes) => "MJ",
            Some(UnitBasis::Days) => "DA",
            Some(UnitBasis::Units) | None => "UN",
        };
        if (needs_procedure && procedure.is_none()) || (institutional && revenue_code.is_none()) {
            whole = false;
            continue;
        }
        out.push(ServiceLine {
            control_number: line.consumption_id.replace('-', ""),
            procedure,
            modifiers,
            revenue_code,
            charge: line.charge,
            units: line.quantity,
            unit_basis,
            date: line.performed_on,
            diagnosis_pointers: if institutional {
                Vec::new()
            } else {
                pointers.get(&line.position).cloned().unwrap_or_default()
            },
        });
    }
    whole.then_some(out)
}

/// The registry's practitioner a name points at, or a gap.
fn practitioner_named<'a>(
    s: &'a Sources<'_>,
    name: &str,
    at: At,
    g: &mut Gaps,
) -> Option<(&'a PractitionerRef, DateTime<Utc>)> {
    let registry: Vec<&PractitionerRef> = s
        .practitioners
        .iter()
        .map(|p| &p.value.practitioner)
        .collect();
    match named(name, registry.iter().copied()) {
        Named::One(p) => {
            let as_of = s
                .practitioners
                .iter()
                .find(|k| k.value.practitioner.id == p.id)
                .map_or_else(Utc::now, |k| k.as_of);
            Some((p, as_of))
        }
        Named::Unknown => {
            g.add(at, format!("no practitioner of the registry is named {name}"),
                "a practitioner is named on a claim by NPI: register them with this code, HIS identifier or NPI",
                Resource::PractitionerNamed(name.to_owned()), GapKind::Unresolved, None);
            None
        }
        Named::Ambiguous(found) => {
            g.add(
                at,
                format!(
                    "{} practitioners of the registry answer to {name}",
                    found.len()
                ),
                "a name must point at one practitioner; never a guess",
                Resource::PractitionerNamed(name.to_owned()),
                GapKind::Unresolved,
                None,
            );
            None
        }
    }
}

/// A registry practitioner as a claim names them, or gaps.
fn as_practitioner(
    p: &PractitionerRef,
    as_of: DateTime<Utc>,
    (loop_id, why): (&'static str, &'static str),
    with_taxonomy: bool,
    g: &mut Gaps,
) -> Option<Practitioner> {
    let r = Resource::Practitioner(p.id);
    let npi = g.parsed(
        (loop_id, "NM1", "NM109", "Identification Code"),
        p.npi.as_deref(),
        &format!("NPI of practitioner {}", p.code),
        Npi::parse,
        why,
        &r,
        Some(as_of),
    );
    let taxonomy = if with_taxonomy {
        Some(g.parsed(
            (loop_id, "PRV", "PRV03", "Provider Taxonomy Code"),
            p.taxonomy.as_deref(),
            &format!("taxonomy of practitioner {}", p.code),
            Taxonomy::parse,
            "the payer requires providers' taxonomy",
            &r,
            Some(as_of),
        )?)
    } else {
        p.taxonomy.as_deref().and_then(|t| Taxonomy::parse(t).ok())
    };
    Some(Practitioner {
        name: PersonName {
            family: p.family_name.clone(),
            given: p.given_name.clone(),
            middle: p.middle_name.clone(),
        },
        npi: npi?,
        taxonomy,
    })
}

/// The rendering provider: who performed the lines, when they name one (one per claim).
fn rendering(
    s: &Sources<'_>,
    format: Option<ClaimFormat>,
    g: &mut Gaps,
) -> Option<Option<Practitioner>> {
    let loop_id = match format {
        Some(ClaimFormat::Institutional) => "2310D",
        _ => "2310B",
    };
    let mut names: Vec<&str> = s
        .invoice
        .lines
        .iter()
        .filter_map(|l| l.performed_by)
        .collect();
    names.sort_unstable();
    names.dedup();
    let at = (loop_id, "NM1", "NM109", "Rendering Provider Identifier");
    match names.as_slice() {
        [] => Some(None),
        [name] => {
            let (p, as_of) = practitioner_named(s, name, at, g)?;
            as_practitioner(p, as_of, (loop_id, "the claim names who performed the services, by NPI, when it is not the billing provider"), false, g).map(Some)
        }
        many => {
            g.add(at, format!("the lines name {} performing practitioners ({})", many.len(), many.join(", ")),
                "a claim names one rendering provider (per-line 2420A is not written yet): invoice each practitioner's services apart",
                Resource::Invoice(s.invoice.id), GapKind::Invalid, None);
            None
        }
    }
}

/// The referring provider of a professional claim, when the payer requires one.
fn referring(
    s: &Sources<'_>,
    format: Option<ClaimFormat>,
    g: &mut Gaps,
) -> Option<Option<Practitioner>> {
    if format != Some(ClaimFormat::Professional) || !s.settings.requirements.referring_provider {
        return Some(None);
    }
    let at = ("2310A", "NM1", "NM109", "Referring Provider Identifier");
    let why = ("2310A", "the payer requires the referring provider, by NPI");
    let by_id = s
        .coding
        .and_then(|c| c.value.coding.referring_practitioner_id);
    if let Some(id) = by_id
        && let Some(k) = s
            .practitioners
            .iter()
            .find(|k| k.value.practitioner.id == id)
    {
        return as_practitioner(&k.value.practitioner, k.as_of, why, false, g).map(Some);
    }
    let ordering = s
        .invoice
        .lines
        .iter()
        .find_map(|l| l.claim.and_then(|c| c.ordering_practitioner.as_deref()));
    match ordering {
        Some(name) => {
            let (p, as_of) = practitioner_named(s, name, at, g)?;
            as_practitioner(p, as_of, why, false, g).map(Some)
        }
        None => {
            let episode_id = s.invoice.episode_id.to_string();
            g.add(
                at,
                "no referring practitioner: the coding names none and no line names who ordered it",
                "the payer requires the referring provider",
                Resource::Coding(episode_id),
                GapKind::Absent,
                s.coding.map(|c| c.as_of),
            );
            None
        }
    }
}

fn institutional(
    s: &Sources<'_>,
    kind: Option<EpisodeKind>,
    facility_type: &Option<String>,
    g: &mut Gaps,
) -> Option<Institutional> {
    let episode_id = s.invoice.episode_id.to_string();
    let coding_ref = Resource::Coding(episode_id);
    let as_of = s.coding.map(|c| c.as_of);
    let coding = s.coding.map(|c| &c.value.coding);
    let from = s.invoice.lines.iter().map(|l| l.performed_on).min()?;
    let to = s.invoice.lines.iter().map(|l| l.performed_on).max()?;
    let admission = if kind == Some(EpisodeKind::Inpatient) {
        match coding.and_then(|c| c.admission.as_ref()) {
            Some(a) => Some(crate::claim::Admission {
                at: a.at.naive_utc(),
                kind: a.kind.clone(),
                source: a.source.clone(),
                admitting_diagnosis: coding
                    .and_then(|c| c.admitting_diagnosis.as_deref())
                    .and_then(|d| Icd10Cm::parse(d).ok()),
            }),
            None => {
                g.add(("2300", "CL1", "CL101", "Admission Type Code"), "no admission in the episode's coding",
                    "an inpatient claim says when and how the patient was admitted (DTP*435, CL101, CL102)",
                    coding_ref.clone(), GapKind::Absent, as_of);
                return None;
            }
        }
    } else {
        None
    };
    // Without a discharge the patient is still one (NUBC 30).
    let patient_status = coding
        .and_then(|c| c.discharge.as_ref())
        .map_or_else(|| "30".to_owned(), |d| d.status.clone());
    let attending_id = coding.and_then(|c| c.attending_practitioner_id);
    let why = (
        "2310A",
        "an institutional claim names the attending provider, by NPI",
    );
    let attending = match attending_id.and_then(|id| {
        s.practitioners
            .iter()
            .find(|k| k.value.practitioner.id == id)
    }) {
        Some(k) => as_practitioner(&k.value.practitioner, k.as_of, why, false, g),
        None => match s
            .episode
            .and_then(|e| e.value.attending_practitioner.as_deref())
        {
            Some(name) => {
                let (p, at) = practitioner_named(
                    s,
                    name,
                    (
                        "2310A",
                        "NM1",
                        "NM109",
                        "Attending Provider Primary Identifier",
                    ),
                    g,
                )?;
                as_practitioner(p, at, why, false, g)
            }
            None => {
                g.add(
                    (
                        "2310A",
                        "NM1",
                        "NM109",
                        "Attending Provider Primary Identifier",
                    ),
                    "no attending practitioner: the coding and the episode name none",
                    "an institutional claim names the attending provider",
                    coding_ref,
                    GapKind::Absent,
                    as_of,
                );
                None
            }
        },
    };
    Some(Institutional {
        facility_type: facility_type.clone()?,
        statement_from: from,
        statement_to: to,
        admission,
        patient_status,
        attending: attending?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    struct World {
        settings: EBillingSettings,
        location: LocationChangedV1,
        patient: PatientChangedV1,
        coverages: CoverageChangedV1,
        episode: EpisodeRef,
        coding: EpisodeCodedV1,
        catalog: HashMap<String, CatalogItemChangedV1>,
        practitioners: Vec<PractitionerChangedV1>,
        lines: Vec<LineClaimFacts>,
        coverage_id: CoverageId,
        currency: &'static str,
        episode_known: bool,
        frequency: Frequency,
        corrects: Option<(crate::ids::EBillingClaimId, Option<&'static str>)>,
        settlement_payers: Vec<SettlementPayer<'static>>,
        corrects_active: bool,
    }

    fn parse<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).expect("fixture")
    }

    fn world() -> World {
        let at = "2026-12-01T10:00:00Z";
        let location = json!({"id": "0193a0a0-0000-7000-8000-000000000001", "code": "SPR", "name": "Springfield General",
            "time_zone": "America/Chicago", "tax_id": null,
            "billing": {"legal_name": "Springfield General Hospital",
                        "address": {"lines": ["1 Main Street"], "city": "Springfield", "region": "IL", "postal_code": "62701-1234", "country": "US"}}});
        let patient = json!({"id": "0193a0a0-0000-7000-8000-000000000002", "beneficiary_kind": "INSURED", "birth_date": "1980-04-12", "flags": []});
        let coverage_id = "0193a0a0-0000-7000-8000-000000000003";
        let rossi = "0193a0a0-0000-7000-8000-000000000004";
        World {
            settings: parse(json!({
                "payer_id": "87726", "payer_name": "UNITEDHEALTHCARE", "claim_filing_indicator": "CI",
                "submitter": {"name": "SPRINGFIELD GENERAL", "id": "S123", "contact": "BILLING DESK", "phone": "2175551234"},
                "receiver": {"name": "CLEARINGHOUSE", "id": "R987"},
                "interchange": {"sender_qualifier": "ZZ", "sender_id": "S123", "receiver_qualifier": "ZZ", "receiver_id": "R987"},
                "application": {"sender_code": "S123", "receiver_code": "R987"}})),
            location: parse(json!({"location": location, "changed_at": at,
                "claims": {"npi": "1234567893", "ein": "123456789", "place_of_service": "11",
                           "facility_types": {"inpatient": "11", "outpatient": "13"}}})),
            patient: parse(json!({"patient_id": patient["id"], "family_name": "Doe", "given_name": "Jane", "birth_date": "1980-04-12",
                "sex": "female", "changed_at": at,
                "address": {"lines": ["2 Elm Street"], "city": "Springfield", "region": "IL", "postal_code": "62701", "country": "US"}})),
            coverages: parse(json!({"patient_id": patient["id"], "coverage_id": coverage_id, "change": "created", "changed_at": at,
                "coverages": []})),
            episode: parse(json!({"id": "0193a0a0-0000-7000-8000-000000000005", "number": "ENC-1", "kind": "outpatient",
                "location": location, "patient": patient, "attending_practitioner": null})),
            coding: parse(json!({"episode_id": "0193a0a0-0000-7000-8000-000000000005", "location_id": location["id"], "version": 1,
                "coding": {"diagnoses": [{"code": "J18.9", "present_on_admission": "Y"}], "attending_practitioner_id": rossi},
                "reason": null, "changed_at": at})),
            catalog: [(
                "CONS".to_owned(),
                parse(json!({"item": {"id": "0193a0a0-0000-7000-8000-000000000006", "code": "CONS", "description": "Office visit",
                    "service_group": "CONSULTATIONS", "kind": "consultation", "unit": "visit"}, "active": true, "changed_at": at,
                    "billing_code": {"system": "cpt", "code": "99213", "modifiers": ["25"], "revenue_code": "0510"}})),
            )]
            .into_iter()
            .collect(),
            practitioners: vec![parse(json!({"practitioner": {"id": rossi, "code": "DR-ROSSI", "kind": "person",
                "family_name": "Rossi", "given_name": "Marco", "middle_name": null, "suffix": null, "credentials": "MD",
                "npi": "1999999992", "taxonomy": "207Q00000X", "specialty": null, "active_from": null, "active_to": null,
                "identifiers": [{"system": "his", "value": "4711"}]}, "changed_at": at}))],
            lines: vec![LineClaimFacts {
                diagnosis_codes: vec!["E11.9".to_owned(), "J18.9".to_owned()],
                modifiers: vec!["LT".to_owned(), "25".to_owned()],
                ordering_practitioner: None,
                attending_practitioner: None,
            }],
            coverage_id: coverage_id.parse().expect("id"),
            currency: "USD",
            episode_known: true,
            frequency: Frequency::Original,
            corrects: None,
            settlement_payers: Vec::new(),
            corrects_active: true,
        }
    }

    fn known<T>(value: &T) -> Known<'_, T> {
        Known {
            value,
            as_of: "2026-12-01T10:00:00Z".parse().expect("time"),
        }
    }

    fn check(w: &World) -> Result<Claim, Vec<Gap>> {
        let catalog: HashMap<String, Known<'_, CatalogItemChangedV1>> = w
            .catalog
            .iter()
            .map(|(k, v)| (k.clone(), known(v)))
            .collect();
        let practitioners: Vec<Known<'_, PractitionerChangedV1>> =
            w.practitioners.iter().map(known).collect();
        let lines = w
            .lines
            .iter()
            .enumerate()
            .map(|(i, facts)| InvoiceLine {
                position: i32::try_from(i + 1).expect("position"),
                consumption_id: format!("0193a0a0-0000-7000-8000-00000000010{i}"),
                code: "CONS",
                quantity: Decimal::ONE,
                charge: Decimal::new(15_000, 2),
                performed_on: NaiveDate::from_ymd_opt(2026, 12, 1).expect("day"),
                performed_by: Some("4711"),
                claim: Some(facts),
            })
            .collect();
        build(&Sources {
            payer_code: "UHC",
            settings: &w.settings,
            invoice: InvoiceFacts {
                id: InvoiceId::new(),
                number: "SPR-2026-000001",
                episode_id: w.episode.id,
                currency: w.currency,
                coverage_id: Some(w.coverage_id),
                policy_number: Some("MEMBER123"),
                lines,
                frequency: w.frequency,
                corrects: w.corrects.map(|(claim_id, number)| Corrected {
                    claim_id,
                    payer_claim_number: number,
                    active: w.corrects_active,
                }),
            },
            episode: w.episode_known.then(|| known(&w.episode)),
            location: Some(known(&w.location)),
            patient: Some(known(&w.patient)),
            coverages: Some(known(&w.coverages)),
            coding: Some(known(&w.coding)),
            catalog: &catalog,
            practitioners: &practitioners,
            settlement_payers: &w.settlement_payers,
        })
    }

    fn elements(gaps: &[Gap]) -> Vec<String> {
        let mut e: Vec<String> = gaps
            .iter()
            .map(|g| format!("{} {}", g.loop_id, g.element))
            .collect();
        e.sort();
        e
    }

    #[test]
    fn complete_sources_make_a_professional_claim_with_the_lines_diagnoses_pointed_at() {
        let claim = check(&world()).expect("a claim");
        assert_eq!(claim.format, ClaimFormat::Professional);
        assert_eq!(claim.patient_control_number, "SPR-2026-000001");
        assert_eq!(claim.relationship, Relationship::SelfInsured);
        assert_eq!(claim.subscriber.member_id, "MEMBER123");
        assert_eq!(claim.subscriber.person.name.family, "Doe");
        assert!(claim.patient.is_none());
        let codes: Vec<&str> = claim.diagnoses.iter().map(|d| d.code.as_str()).collect();
        assert_eq!(
            codes,
            ["J18.9", "E11.9"],
            "the coding first, then the line's own"
        );
        assert_eq!(claim.lines[0].diagnosis_pointers, [2, 1]);
        let mods: Vec<&str> = claim.lines[0]
            .modifiers
            .iter()
            .map(Modifier::as_str)
            .collect();
        assert_eq!(
            mods,
            ["25", "LT"],
            "the catalog's, then the line's, each once"
        );
        let rendering = claim.rendering.clone().expect("rendering");
        assert_eq!(
            rendering.npi.as_str(),
            "1999999992",
            "4711 is DR-ROSSI's HIS id"
        );
        assert_eq!(claim.billing_provider.npi.as_str(), "1234567893");
        assert!(claim.billing_provider.address.zip.is_plus_four());
        assert_eq!(claim.total_charge(), Decimal::new(15_000, 2));
        assert!(
            claim
                .diagnoses
                .iter()
                .all(|d| d.present_on_admission.is_none())
        );
    }

    #[test]
    fn every_gap_names_its_element_and_the_record_to_fix() {
        let mut w = world();
        w.currency = "EUR";
        let claims = w.location.claims.as_mut().expect("claims");
        claims.npi = Some("1234567890".to_owned());
        claims.ein = None;
        if let Some(b) = w.location.location.billing.as_mut() {
            b.address.as_mut().expect("address").postal_code = Some("62701".to_owned());
        }
        w.patient.birth_date = None;
        w.practitioners.clear();
        w.catalog.get_mut("CONS").expect("item").billing_code = None;
        let gaps = check(&w).expect_err("gaps");
        assert_eq!(
            elements(&gaps),
            [
                "2010AA N403",
                "2010AA NM109",
                "2010AA REF02",
                "2010BA DMG02",
                "2300 CLM02",
                "2310B NM109",
                "2400 SV101-2",
            ]
        );
        let npi = gaps
            .iter()
            .find(|g| g.element == "NM109" && g.loop_id == "2010AA")
            .expect("npi");
        assert_eq!(npi.kind, GapKind::Invalid);
        assert!(npi.what.contains("check digit"), "{}", npi.what);
        assert!(matches!(npi.resource, Resource::Location(_)));
        assert!(npi.as_of.is_some());
        let rendering = gaps
            .iter()
            .find(|g| g.loop_id == "2310B")
            .expect("rendering");
        assert_eq!(
            (rendering.kind, &rendering.resource),
            (
                GapKind::Unresolved,
                &Resource::PractitionerNamed("4711".to_owned())
            )
        );
    }

    #[test]
    fn a_child_on_a_parents_policy_is_the_patient_and_the_parent_the_subscriber() {
        let mut w = world();
        w.coverages.claims = vec![parse(
            json!({"coverage_id": w.coverage_id, "group_number": "GRP-1",
            "subscriber": {"relationship": "child", "member_id": "PARENT-1", "family_name": "Doe", "given_name": "John",
                "birth_date": "1975-06-30", "sex": "male",
                "address": {"lines": ["2 Elm Street"], "city": "Springfield", "region": "IL", "postal_code": "62701"}}}),
        )];
        let claim = check(&w).expect("a claim");
        assert_eq!(claim.relationship, Relationship::Child);
        assert_eq!(claim.subscriber.member_id, "PARENT-1");
        assert_eq!(claim.subscriber.group_number.as_deref(), Some("GRP-1"));
        assert_eq!(claim.subscriber.person.name.given.as_deref(), Some("John"));
        assert_eq!(
            claim.patient.expect("patient").name.given.as_deref(),
            Some("Jane")
        );
        // Without the parent's birth date the claim cannot name them.
        w.coverages.claims[0]
            .subscriber
            .as_mut()
            .expect("holder")
            .birth_date = None;
        let gaps = check(&w).expect_err("gaps");
        assert_eq!(elements(&gaps), ["2010BA DMG02"]);
        assert!(matches!(gaps[0].resource, Resource::Coverage(_)));
    }

    #[test]
    fn a_stay_is_an_institutional_claim_that_needs_its_admission() {
        let mut w = world();
        w.episode.kind = EpisodeKind::Inpatient;
        let gaps = check(&w).expect_err("no admission");
        assert_eq!(elements(&gaps), ["2300 CL101"]);
        w.coding.coding.admission = Some(parse(
            json!({"type": "1", "source": "1", "at": "2026-11-30T08:30:00Z"}),
        ));
        w.coding.coding.discharge =
            Some(parse(json!({"status": "01", "at": "2026-12-02T11:00:00Z"})));
        let claim = check(&w).expect("a claim");
        assert_eq!(claim.format, ClaimFormat::Institutional);
        let i = claim.institutional.expect("institutional");
        assert_eq!(
            (i.facility_type.as_str(), i.patient_status.as_str()),
            ("11", "01")
        );
        assert_eq!(
            i.attending.npi.as_str(),
            "1999999992",
            "the coding's attending"
        );
        assert_eq!(
            claim.lines[0]
                .revenue_code
                .as_ref()
                .map(RevenueCode::as_str),
            Some("0510")
        );
        assert!(
            claim.lines[0].diagnosis_pointers.is_empty(),
            "837I lines point at nothing"
        );
        assert_eq!(claim.diagnoses[0].present_on_admission, Some('Y'));
        assert!(claim.place_of_service.is_none());
    }

    #[test]
    fn without_lines_or_a_known_episode_the_gaps_still_name_the_invoice_and_its_episode() {
        let mut w = world();
        w.lines.clear();
        w.episode_known = false;
        w.coding.coding.diagnoses.clear();
        let gaps = check(&w).expect_err("gaps");
        assert_eq!(
            elements(&gaps),
            ["2300 CLM05-1", "2300 HI01-2", "2400 LX01"]
        );
        let coding = gaps.iter().find(|g| g.element == "HI01-2").expect("coding");
        assert_eq!(
            coding.resource,
            Resource::Coding(w.episode.id.to_string()),
            "the invoice's episode, even when its approval's is not kept"
        );
    }

    #[test]
    fn a_correction_names_the_payer_claim_number_or_points_at_the_claim_that_lacks_it() {
        let claim_id = crate::ids::EBillingClaimId::new();
        let mut w = world();
        w.frequency = Frequency::Replacement;
        w.corrects = Some((claim_id, Some(" 2026120100042 ")));
        let claim = check(&w).expect("a replacement");
        assert_eq!(claim.frequency, Frequency::Replacement);
        assert_eq!(claim.payer_claim_number.as_deref(), Some("2026120100042"));

        w.frequency = Frequency::Void;
        w.corrects = Some((claim_id, None));
        let gaps = check(&w).expect_err("no payer claim number");
        assert_eq!(elements(&gaps), ["2300 REF02"]);
        assert_eq!(gaps[0].resource, Resource::Claim(claim_id));
        assert_eq!(gaps[0].kind, GapKind::Absent);

        w.corrects = Some((claim_id, Some("2026120100042")));
        w.corrects_active = false;
        let gaps = check(&w).expect_err("the claim corrected was rejected");
        assert_eq!(
            (elements(&gaps), gaps[0].kind),
            (vec!["2300 REF02".to_owned()], GapKind::Invalid)
        );
        w.corrects_active = true;

        w.corrects = None;
        let gaps = check(&w).expect_err("nothing corrected");
        assert!(matches!(gaps[0].resource, Resource::Invoice(_)));

        w.frequency = Frequency::Original;
        w.corrects = Some((claim_id, Some("IGNORED")));
        assert_eq!(check(&w).expect("an original").payer_claim_number, None);
    }

    /// The world's coverage second after a primary one of payer MEDICARE, whose invoice of the
    /// same settlement is `primary_invoice`, with the 835 `remitted` (when it came).
    fn secondary(w: &mut World, primary_invoice: InvoiceId, remitted: Option<Value>) {
        let coverage = |id: &str, code: &str, priority: i32| {
            json!({"id": id, "payer_id": "0193a0a0-0000-7000-8000-0000000000a1", "payer_code": code,
                "payer_kind": "insurer", "policy_number": "POL", "plan_code": null, "priority": priority,
                "valid_from": null, "valid_to": null})
        };
        w.coverages.coverages = vec![
            parse(coverage("0193a0a0-0000-7000-8000-000000000003", "UHC", 2)),
            parse(coverage(
                "0193a0a0-0000-7000-8000-0000000000c1",
                "MEDICARE",
                1,
            )),
        ];
        let mut settings = w.settings.clone();
        settings.payer_name = "MEDICARE".to_owned();
        settings.payer_id = "MCR01".to_owned();
        settings.claim_filing_indicator = "MB".to_owned();
        let adjudication = remitted.map(|r| {
            let claim: &'static crate::events::RemittedClaim = Box::leak(Box::new(parse(r)));
            (claim, NaiveDate::from_ymd_opt(2026, 12, 20).expect("day"))
        });
        w.settlement_payers = vec![SettlementPayer {
            payer_code: "MEDICARE",
            invoice_id: primary_invoice,
            invoice_number: "SPR-2026-000009",
            coverage_id: Some("0193a0a0-0000-7000-8000-0000000000c1".parse().expect("id")),
            policy_number: Some("1EG4TE5MK73"),
            settings: Some(Box::leak(Box::new(settings))),
            adjudication,
        }];
    }

    fn remitted(paid: &str, line_paid: &str, adjustments: Value) -> Value {
        let usd = |a: &str| json!({"amount": a, "currency": "USD"});
        json!({"remittance_claim_id": "r1", "invoice_id": "0193a0a0-0000-7000-8000-0000000000b1", "claim_id": null,
            "patient_control_number": "SPR-2026-000009", "payer_claim_number": "MCR-ICN-1", "status_code": "1",
            "status": "posted", "charge": usd("150.00"), "paid": usd(paid), "patient_responsibility": usd("20.00"),
            "patient_share": usd("0.00"), "adjustments": adjustments,
            "lines": [{"control_number": "0193a0a0000070008000000000000100", "procedure": "HC:99213:25",
                "charge": usd("150.00"), "paid": usd(line_paid), "units": "1", "remarks": []}]})
    }

    #[test]
    fn a_secondary_claim_carries_the_primary_payers_835_or_says_it_has_not_come() {
        let usd = |a: &str| json!({"amount": a, "currency": "USD"});
        let line = "0193a0a0000070008000000000000100";
        let adjustments = json!([
            {"group": "CO", "reason": "45", "amount": usd("30.00"), "posted": usd("30.00"), "line": line},
            {"group": "PR", "reason": "2", "amount": usd("20.00"), "posted": usd("0.00"), "line": line}]);
        let primary = InvoiceId::new();
        let mut w = world();
        secondary(
            &mut w,
            primary,
            Some(remitted("100.00", "100.00", adjustments.clone())),
        );
        let claim = check(&w).expect("a secondary claim");
        assert_eq!(claim.responsibility, Responsibility::Secondary);
        let [other] = claim.other_payers.as_slice() else {
            panic!("one payer before: {:?}", claim.other_payers);
        };
        assert_eq!(other.responsibility, Responsibility::Primary);
        assert_eq!(
            (
                other.payer.payer_id.as_str(),
                other.payer.filing_indicator.as_str()
            ),
            ("MCR01", "MB")
        );
        assert_eq!(other.subscriber.member_id, "1EG4TE5MK73");
        assert_eq!(other.relationship, Relationship::SelfInsured);
        assert_eq!(other.paid, Decimal::new(100, 0));
        assert!(other.adjustments.is_empty(), "all at line level");
        assert_eq!(other.lines.len(), 1);
        assert_eq!(other.lines[0].control_number, line);
        assert_eq!(
            other.lines[0]
                .adjustments
                .iter()
                .map(|a| format!("{}-{}:{}", a.group, a.reason, a.amount))
                .collect::<Vec<_>>(),
            ["CO-45:30", "PR-2:20"]
        );

        // Claim-level adjustments count too; what does not add up is a gap.
        secondary(
            &mut w,
            primary,
            Some(remitted("90.00", "100.00", adjustments)),
        );
        let gaps = check(&w).expect_err("does not balance");
        assert_eq!(elements(&gaps), ["2320 CAS03"]);
        assert_eq!(gaps[0].resource, Resource::Invoice(primary));

        // The payer before billed these services twice over: never a guess which.
        let twice = w.settlement_payers[0].clone();
        w.settlement_payers.push(twice);
        assert_eq!(
            elements(&check(&w).expect_err("two invoices")),
            ["2320 SBR01"]
        );

        secondary(&mut w, primary, None);
        let gaps = check(&w).expect_err("no 835 yet");
        assert_eq!(elements(&gaps), ["2320 AMT02"]);
        assert!(gaps[0].what.contains("MEDICARE"), "{}", gaps[0].what);

        // The other way round this payer comes first: a primary claim, whatever the other did.
        let mut first = world();
        secondary(&mut first, primary, None);
        first.coverages.coverages[0].priority = 1;
        first.coverages.coverages[1].priority = 2;
        let claim = check(&first).expect("a primary claim");
        assert_eq!(claim.responsibility, Responsibility::Primary);
        assert!(claim.other_payers.is_empty());

        // Without the coverages' order, a gap on the patient (announce the coverages).
        first.coverages.coverages.clear();
        assert_eq!(
            elements(&check(&first).expect_err("order unknown")),
            ["2000B SBR01"]
        );
    }

    #[test]
    fn a_patient_control_number_longer_than_the_payer_keeps_is_a_gap_in_its_settings() {
        let mut w = world();
        w.settings.requirements.max_patient_control_number = 10;
        let gaps = check(&w).expect_err("too long");
        assert_eq!(elements(&gaps), ["2300 CLM01"]);
        assert_eq!(gaps[0].resource, Resource::Settings("UHC".to_owned()));
    }
}
