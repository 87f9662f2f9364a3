//! E-billings over HTTP: what can be claimed (`GET /v1/claimable-entries`) and one invoice's
//! claim checked (`GET /v1/invoices/{id}/claim-check`).

use actix_web::web;
use carebill_domain::Money;
use carebill_domain::ids::{ConsumptionId, EpisodeId, InvoiceId, PatientId};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{Page, PageParams};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{AUDIT_READERS, check_days};
use crate::InvoicingState;
use crate::service::claim_check;
use crate::service::claimable::{self as service, Entry, Filter};

/// Filters of the claimable entries.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClaimableQuery {
    /// The billing provider: the invoice's location code.
    pub provider: Option<String>,
    /// The payer's code.
    pub payer: Option<String>,
    /// A kind of service (`consultation`, `lab` ...) or a service group.
    pub service_type: Option<String>,
    /// Performed on or after this day (the location's).
    pub from: Option<NaiveDate>,
    /// Performed on or before this day (the location's).
    pub to: Option<NaiveDate>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One line of an issued payer invoice that an e-billing may claim.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimableEntry {
    /// The invoice (a claim bills a whole invoice).
    pub invoice_id: InvoiceId,
    /// Its number: the claim's patient control number.
    pub invoice_number: String,
    /// The line's position on it.
    pub line_position: i32,
    /// The billing provider (location code).
    pub provider: String,
    /// The payer's code.
    pub payer: String,
    /// The patient.
    pub patient_id: PatientId,
    /// The episode.
    pub episode_id: EpisodeId,
    /// The consumption billed.
    pub consumption_id: ConsumptionId,
    /// Catalog code.
    pub code: String,
    /// Description.
    pub description: String,
    /// Service group.
    pub service_group: String,
    /// Kind of service, when the approval said.
    pub service_kind: Option<String>,
    /// The day performed, in the location's time zone.
    pub performed_on: NaiveDate,
    /// The whole service's charge (what a claim line asks, SV102/SV203).
    pub charge: Money,
    /// What the payer was invoiced of it.
    pub billed: Money,
    /// `original`: the first claim of the invoice.
    #[schema(example = "original")]
    pub claim_kind: String,
}

fn id<T: std::str::FromStr>(what: &str, value: Option<&str>) -> Result<T, Error> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::internal(&format!("a claimable line without its {what}")))
}

impl ClaimableEntry {
    fn of(e: Entry) -> Result<ClaimableEntry, Error> {
        let r = e.row;
        Ok(ClaimableEntry {
            invoice_id: id("invoice", Some(&r.invoice_id))?,
            invoice_number: r.invoice_number,
            line_position: r.position,
            provider: r.location_code,
            payer: r
                .payer_code
                .ok_or_else(|| Error::internal(&"a payer invoice without its payer"))?,
            patient_id: id("patient", r.patient_id.as_deref())?,
            episode_id: id("episode", r.episode_id.as_deref())?,
            consumption_id: id("consumption", Some(&r.consumption_id))?,
            code: r.code,
            description: r.description,
            service_group: r.service_group,
            service_kind: r.service_kind,
            performed_on: e.performed_on,
            charge: e.charge,
            billed: e.billed,
            claim_kind: service::ORIGINAL.to_owned(),
        })
    }
}

/// List what can be claimed: the lines of issued invoices to payers, in your scope, by invoice
/// and line; filtered by billing provider, payer, kind of service and the day performed (the
/// location's). A page may hold fewer than `limit` entries and still name a next one.
#[utoipa::path(get, path = "/v1/claimable-entries", tag = "e-billing", params(ClaimableQuery),
    responses((status = 200, description = "A page of claimable entries", body = Page<ClaimableEntry>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value (a day, `to` before `from`, a cursor)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_claimable_entries(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<ClaimableQuery>,
) -> Result<web::Json<Page<ClaimableEntry>>, Error> {
    who.require(AUDIT_READERS)?;
    let q = query.into_inner();
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .parse()?
    .limit;
    check_days(("from", q.from), ("to", q.to))?;
    let filter = Filter {
        provider: q.provider,
        payer: q.payer,
        service_type: q.service_type,
        from: q.from,
        to: q.to,
    };
    let scope = Scope::of(&who);
    let cursor = q.cursor;
    let limit = usize::try_from(limit).map_err(|e| Error::internal(&e))?;
    let page = state
        .db
        .read(move |conn| service::page(conn, &scope, &filter, cursor.as_deref(), limit))
        .await?;
    let items = page
        .items
        .into_iter()
        .map(ClaimableEntry::of)
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(web::Json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// Something a claim lacks, and where to fix it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimGap {
    /// The X12 loop, e.g. `2010AA`.
    #[serde(rename = "loop")]
    #[schema(example = "2010AA")]
    pub loop_id: String,
    /// The segment, e.g. `NM1`.
    #[schema(example = "NM1")]
    pub segment: String,
    /// The element, e.g. `NM109`.
    #[schema(example = "NM109")]
    pub element: String,
    /// The element's name in the implementation guide.
    #[schema(example = "Billing Provider Identifier")]
    pub name: String,
    /// What is missing or wrong.
    pub what: String,
    /// Why the claim needs it.
    pub why: String,
    /// The kind of record to fix: `e_billing_settings`, `location`, `patient`, `coverage`,
    /// `episode_coding`, `practitioner`, `catalog_item` or `invoice`.
    #[schema(example = "location")]
    pub resource: String,
    /// Where to fix it (an unresolved practitioner name links to the registry's search).
    #[schema(example = "/v1/locations/0193a0a0-0000-7000-8000-000000000001")]
    pub href: String,
    /// `absent`, `invalid` or `unresolved` (a name no record, or more than one, answers to).
    pub kind: String,
    /// When the record read last changed; absent when there is none.
    pub as_of: Option<chrono::DateTime<chrono::Utc>>,
}

/// An invoice's claim, checked against the payer's e-billing settings and the master data as
/// invoicing now holds it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimCheck {
    /// The invoice.
    pub invoice_id: InvoiceId,
    /// Its number: the claim's patient control number.
    pub invoice_number: String,
    /// The payer claimed.
    pub payer_code: String,
    /// True when the claim can be written: no gaps.
    pub ready: bool,
    /// `837P` or `837I`, when ready.
    pub format: Option<String>,
    /// The claim's total charge (CLM02, the sum of the lines' whole charges), when ready.
    pub total_charge: Option<Money>,
    /// The claim's diagnoses, principal first, when ready.
    pub diagnoses: Vec<String>,
    /// Everything missing or wrong, each naming its X12 element and the record to fix.
    pub gaps: Vec<ClaimGap>,
}

fn resource_kind(r: &carebill_domain::claim_build::Resource) -> &'static str {
    use carebill_domain::claim_build::Resource as R;
    match r {
        R::Settings(_) => "e_billing_settings",
        R::Location(_) => "location",
        R::Patient(_) => "patient",
        R::Coverage(_) => "coverage",
        R::Coding(_) => "episode_coding",
        R::Practitioner(_) | R::PractitionerNamed(_) => "practitioner",
        R::CatalogItem(_) => "catalog_item",
        R::Invoice(_) => "invoice",
    }
}

impl ClaimGap {
    fn of(g: carebill_domain::claim_build::Gap) -> ClaimGap {
        use carebill_domain::claim_build::GapKind;
        ClaimGap {
            loop_id: g.loop_id.to_owned(),
            segment: g.segment.to_owned(),
            element: g.element.to_owned(),
            name: g.name.to_owned(),
            what: g.what,
            why: g.why.to_owned(),
            resource: resource_kind(&g.resource).to_owned(),
            href: claim_check::href(&g.resource),
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

/// Check an invoice's claim: whether the payer's e-billing settings and the master data as
/// invoicing holds it now make a whole 837 claim of it, and if not, everything missing, each
/// gap naming the X12 loop, segment and element, why, and the record to fix. Fix, then check
/// again (what accounts changes reaches invoicing by its events, a moment later).
#[utoipa::path(get, path = "/v1/invoices/{id}/claim-check", tag = "e-billing",
    params(("id" = String, Path, description = "Invoice id")),
    responses((status = 200, description = "The check: ready, or the gaps", body = ClaimCheck),
        (status = 404, description = "No such invoice in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The invoice is cancelled (`cancelled`)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invoice to a patient, or an agency's (`not_claimable`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(invoice = %id))]
pub async fn check_invoice_claim(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<ClaimCheck>, Error> {
    who.require(AUDIT_READERS)?;
    let id: InvoiceId = carebill_platform::http::parse_id(&id, "invoice")?;
    let scope = Scope::of(&who);
    let checked = state
        .db
        .read(move |conn| claim_check::check(conn, &scope, id))
        .await?;
    let format = checked.format().map(|f| match f {
        carebill_domain::claim::ClaimFormat::Professional => "837P".to_owned(),
        carebill_domain::claim::ClaimFormat::Institutional => "837I".to_owned(),
    });
    let currency = checked.invoice.currency;
    let (total_charge, diagnoses) = match &checked.claim {
        Some(c) => (
            Some(Money::new(c.total_charge(), currency).map_err(|e| Error::internal(&e))?),
            c.diagnoses
                .iter()
                .map(|d| d.code.as_str().to_owned())
                .collect(),
        ),
        None => (None, Vec::new()),
    };
    Ok(web::Json(ClaimCheck {
        invoice_id: checked.invoice.id,
        invoice_number: checked.invoice.number.clone(),
        payer_code: checked.invoice.payer_code.clone().unwrap_or_default(),
        ready: checked.gaps.is_empty() && checked.claim.is_some(),
        format,
        total_charge,
        diagnoses,
        gaps: checked.gaps.into_iter().map(ClaimGap::of).collect(),
    }))
}
