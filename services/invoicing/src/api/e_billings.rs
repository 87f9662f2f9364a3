//! E-billings over HTTP: what can be claimed (`GET /v1/claimable-entries`), one invoice's
//! claim checked (`GET /v1/invoices/{id}/claim-check`), and e-billings made, checked, listed,
//! read with their claims and missing information, and cancelled (`/v1/e-billings`).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::e_billing::{ClaimStatus, EBillingStatus};
use carebill_domain::ids::{
    ConsumptionId, CreditNoteId, EBillingClaimId, EBillingId, EpisodeId, InvoiceId, PatientId,
};
use carebill_domain::{Code, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, digest, idempotent, media_type, parse_id,
    raw_body,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{AUDIT_READERS, check_days};
use crate::InvoicingState;
use crate::service::claim_check;
use crate::service::claimable::{self as service, Entry, Filter};
use crate::service::e_billing_files::{self, FileKind};
use crate::service::e_billing_responses;
use crate::service::e_billings::{self, EBilling, NewEBilling, Selection};

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
    /// How the invoice would be claimed: `original` (its first claim), `replacement` (CLM05-3
    /// `7`: credited since its claim was sent, or the corrective invoice of one that was) or
    /// `void` (`8`: cancelled by a credit note since its claim was sent).
    #[schema(example = "original")]
    pub claim_kind: String,
    /// The claim a replacement or void corrects (its payer claim number is the REF*F8).
    pub corrects_claim_id: Option<EBillingClaimId>,
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
            claim_kind: e.claim_kind.to_owned(),
            corrects_claim_id: e
                .corrects_claim_id
                .as_deref()
                .map(|c| id("corrected claim", Some(c)))
                .transpose()?,
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

impl From<claim_check::GapView> for ClaimGap {
    fn from(g: claim_check::GapView) -> ClaimGap {
        ClaimGap {
            loop_id: g.loop_id,
            segment: g.segment,
            element: g.element,
            name: g.name,
            what: g.what,
            why: g.why,
            resource: g.resource,
            href: g.href,
            kind: g.kind,
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
    let format = checked.format().map(str::to_owned);
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
        gaps: checked
            .gaps
            .into_iter()
            .map(|g| claim_check::GapView::of(g).into())
            .collect(),
    }))
}

/// Roles that make, check and cancel e-billings (admin always may).
const BILLERS: &[Role] = &[Role::BillingManager, Role::Biller];

/// Which claimable entries an e-billing claims: every issued invoice to its payer with a line
/// that matches (whole invoices are claimed).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EBillingFilter {
    /// The billing provider: the invoices' location code.
    #[schema(example = "H1")]
    pub provider: String,
    /// A kind of service (`consultation`, `lab` ...) or a service group.
    pub service_type: Option<String>,
    /// Performed on or after this day (the location's).
    pub from: Option<NaiveDate>,
    /// Performed on or before this day (the location's).
    pub to: Option<NaiveDate>,
}

/// What a client sends to make an e-billing: the payer, and either a filter of the claimable
/// entries or the invoices' ids.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EBillingInput {
    /// The payer claimed: one file goes to one payer.
    #[schema(example = "UHC")]
    pub payer_code: String,
    /// Claim every claimable invoice to the payer with a line this filter matches.
    pub filter: Option<EBillingFilter>,
    /// Or claim these invoices (issued, to the payer, of one provider, in no other e-billing).
    #[schema(max_items = 10000)]
    pub invoice_ids: Option<Vec<String>>,
}

impl EBillingInput {
    fn validate(self) -> Result<NewEBilling, Error> {
        let mut v = Validation::new();
        let payer = v.check("payer_code", "invalid", Code::parse(&self.payer_code));
        let selection = match (self.filter, self.invoice_ids) {
            (Some(f), None) => {
                let provider = v.check("filter.provider", "invalid", Code::parse(&f.provider));
                let service_type =
                    v.opt_text("filter.service_type", f.service_type.as_deref(), 100);
                if let (Some(from), Some(to)) = (f.from, f.to)
                    && from > to
                {
                    v.add("filter.to", "invalid", "must not be before filter.from");
                }
                for (field, day) in [("filter.from", f.from), ("filter.to", f.to)] {
                    if let Some(d) = day {
                        v.check(
                            field,
                            "out_of_range",
                            carebill_domain::accounts::check_date(d),
                        );
                    }
                }
                provider.map(|p| {
                    Selection::Filter(Filter {
                        provider: Some(p.as_str().to_owned()),
                        payer: None,
                        service_type,
                        from: f.from,
                        to: f.to,
                    })
                })
            }
            (None, Some(ids)) => {
                if ids.is_empty() {
                    v.add("invoice_ids", "required", "name at least one invoice");
                }
                if ids.len() > 10_000 {
                    v.add(
                        "invoice_ids",
                        "too_many",
                        "at most 10000 invoices; use a filter for more",
                    );
                }
                let parsed: Vec<Option<InvoiceId>> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        v.check(
                            &format!("invoice_ids[{i}]"),
                            "invalid",
                            id.parse::<InvoiceId>(),
                        )
                    })
                    .collect();
                parsed
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .map(Selection::InvoiceIds)
            }
            (Some(_), Some(_)) => {
                v.add(
                    "invoice_ids",
                    "conflict",
                    "send a filter or invoice ids, not both",
                );
                None
            }
            (None, None) => {
                v.add(
                    "filter",
                    "required",
                    "send a filter of the claimable entries, or invoice ids",
                );
                None
            }
        };
        v.finish().map_err(Error::validation)?;
        match (payer, selection) {
            (Some(payer), Some(selection)) => Ok(NewEBilling {
                payer_code: payer.as_str().to_owned(),
                selection,
            }),
            _ => Err(Error::internal(&"validation passed without its values")),
        }
    }
}

/// An e-billing: issued payer invoices of one billing provider, each one claim to the payer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EBillingDoc {
    /// Id.
    pub id: EBillingId,
    /// Number in the billing provider's e-billing series.
    #[schema(example = "H1-EB-2026-000001")]
    pub number: String,
    /// `missing_info` (some claim has gaps: see `missing-info`), `ready` (every claim is whole),
    /// `sent` (its file was taken) or `cancelled`.
    pub status: EBillingStatus,
    /// The billing provider (location code).
    #[schema(example = "H1")]
    pub provider: String,
    /// The payer claimed.
    #[schema(example = "UHC")]
    pub payer_code: String,
    /// What it was made from: `{"filter": {...}}` or `{"invoice_ids": [...]}`.
    #[schema(value_type = Object)]
    pub selection: serde_json::Value,
    /// How many claims (one per invoice).
    pub claim_count: i32,
    /// How many of them are whole.
    pub ready_count: i32,
    /// How many gaps its claims have in all.
    pub gap_count: i32,
    /// What the whole claims charge (CLM02 summed; a claim with gaps counts 0 until whole).
    pub total_charge: Money,
    /// Who made it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When its claims were last checked.
    pub checked_at: DateTime<Utc>,
    /// Who cancelled it.
    pub cancelled_by: Option<String>,
    /// When.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Who took its 837 file.
    pub sent_by: Option<String>,
    /// When.
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<EBilling> for EBillingDoc {
    fn from(e: EBilling) -> EBillingDoc {
        EBillingDoc {
            id: e.id,
            number: e.number,
            status: e.status,
            provider: e.location_code,
            payer_code: e.payer_code,
            selection: e.selection,
            claim_count: e.claim_count,
            ready_count: e.ready_count,
            gap_count: e.gap_count,
            total_charge: e.total_charge,
            created_by: e.created_by,
            created_at: e.created_at,
            checked_at: e.checked_at,
            cancelled_by: e.cancelled_by,
            cancelled_at: e.cancelled_at,
            sent_by: e.sent_by,
            sent_at: e.sent_at,
        }
    }
}

/// Make an e-billing from a filter of the claimable entries or from invoice ids, and check
/// every claim at once: `ready` when all are whole, else `missing_info` with the gaps at
/// `/v1/e-billings/{id}/missing-info`. Its invoices are no longer claimable until it is
/// cancelled.
#[utoipa::path(post, path = "/v1/e-billings", tag = "e-billing", request_body = EBillingInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses((status = 201, description = "The e-billing, checked", body = EBillingDoc),
        (status = 422, description = "Invalid input, invoices that cannot be claimed (named by field: `already_claimed`, `not_claimable`, `cancelled`, `other_payer`, `unknown`, `duplicate`), several providers or currencies, or nothing to claim (`no_claimable_entries`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_e_billing(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<EBillingInput>,
) -> Result<Reply, Error> {
    who.require(BILLERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let new = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                Ok(EBillingDoc::from(e_billings::create(conn, &who, new)?))
            })
        })
        .await
}

/// Filters and paging of the e-billing list. Unknown parameters are refused.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EBillingQuery {
    /// `missing_info`, `ready`, `sent` or `cancelled`.
    pub status: Option<EBillingStatus>,
    /// Of this payer.
    pub payer_code: Option<String>,
    /// Of this billing provider (location code).
    pub provider: Option<String>,
    /// Items per page, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// List the e-billings in your scope, oldest first.
#[utoipa::path(get, path = "/v1/e-billings", tag = "e-billing", params(EBillingQuery),
    responses((status = 200, description = "A page of e-billings", body = Page<EBillingDoc>),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter value", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_e_billings(
    state: web::Data<InvoicingState>,
    who: Principal,
    query: web::Query<EBillingQuery>,
) -> Result<web::Json<Page<EBillingDoc>>, Error> {
    who.require(AUDIT_READERS)?;
    let query = query.into_inner();
    let page = PageParams {
        limit: query.limit,
        cursor: query.cursor,
    }
    .parse()?;
    let filter = e_billings::ListFilter {
        status: query.status,
        payer_code: query.payer_code,
        location_code: query.provider,
    };
    let scope = Scope::of(&who);
    let page = state
        .db
        .read(move |conn| e_billings::list(conn, &scope, &filter, &page))
        .await?;
    Ok(web::Json(
        page.try_map(|e| Ok::<_, Error>(EBillingDoc::from(e)))?,
    ))
}

/// Get an e-billing.
#[utoipa::path(get, path = "/v1/e-billings/{id}", tag = "e-billing",
    params(("id" = String, Path, description = "E-billing id")),
    responses((status = 200, description = "The e-billing", body = EBillingDoc),
        (status = 404, description = "No such e-billing in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(e_billing = %id))]
pub async fn get_e_billing(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<EBillingDoc>, Error> {
    who.require(AUDIT_READERS)?;
    let id: EBillingId = parse_id(&id, "e-billing")?;
    let scope = Scope::of(&who);
    let e = state
        .db
        .read(move |conn| e_billings::get(conn, &scope, id))
        .await?;
    Ok(web::Json(e.into()))
}

/// One claim of an e-billing: one invoice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EBillingClaim {
    /// Id.
    pub id: EBillingClaimId,
    /// The e-billing.
    pub e_billing_id: EBillingId,
    /// 1-based position in it.
    pub position: i32,
    /// The invoice claimed.
    pub invoice_id: InvoiceId,
    /// Its number: the patient control number (CLM01).
    pub invoice_number: String,
    /// CLM05-3 claim frequency: `1` original, `7` replacement, `8` void.
    #[schema(example = "1")]
    pub frequency: String,
    /// The credit note a replacement or void answers.
    pub credit_note_id: Option<CreditNoteId>,
    /// The claim a replacement or void corrects (REF*F8 is its payer claim number).
    pub corrects_claim_id: Option<EBillingClaimId>,
    /// `837P` or `837I`, once whole.
    pub format: Option<String>,
    /// What the claim charges (CLM02), once whole.
    pub charge: Money,
    /// `missing_info`, `ready`, `submitted`, `acknowledged`, `accepted`, `rejected`,
    /// `pending`, `finalized`, `paid`, `denied` or `cancelled`.
    pub status: ClaimStatus,
    /// Whether it holds its invoice (false once its e-billing is cancelled or it is rejected).
    pub active: bool,
    /// The payer's claim control number: REF*1K of its 277CA, CLP07 of its 835, or typed by a
    /// person from the payer's portal.
    pub payer_claim_number: Option<String>,
    /// What it lacks, each gap naming its X12 element and the record to fix.
    pub gaps: Vec<ClaimGap>,
}

impl TryFrom<e_billings::Claim> for EBillingClaim {
    type Error = Error;

    fn try_from(c: e_billings::Claim) -> Result<EBillingClaim, Error> {
        Ok(EBillingClaim {
            id: c.id,
            e_billing_id: c.e_billing_id,
            position: c.position,
            invoice_id: c.invoice_id,
            invoice_number: c.invoice_number,
            frequency: c.frequency,
            credit_note_id: c
                .credit_note_id
                .as_deref()
                .map(|n| carebill_domain::stored::parse("claim credit note id", n))
                .transpose()
                .map_err(Error::from)?,
            corrects_claim_id: c
                .corrects_claim_id
                .as_deref()
                .map(|n| carebill_domain::stored::parse("corrected claim id", n))
                .transpose()
                .map_err(Error::from)?,
            format: c.format,
            charge: c.charge,
            status: c.status,
            active: c.active,
            payer_claim_number: c.payer_claim_number,
            gaps: c.gaps.into_iter().map(Into::into).collect(),
        })
    }
}

/// One thing that came back of a claim.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClaimHistoryEntry {
    /// The claim's status after it.
    pub status: ClaimStatus,
    /// `999`, `277CA`, `277`, or `835` (the payer's remittance, as collections posted it).
    pub kind: String,
    /// Its codes (999 IK5/IK3/IK4; 277 STC `category:status:entity`; 835 `CLP02:1`,
    /// `CO-45:25.00` ...).
    pub codes: Vec<String>,
    /// What it said, in words.
    pub note: String,
    /// The response it came in (`/v1/e-billings/responses/{id}`).
    pub response_id: String,
    /// When it was imported.
    pub at: DateTime<Utc>,
}

/// One claim with what came back of it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EBillingClaimDetail {
    /// The claim.
    #[serde(flatten)]
    pub claim: EBillingClaim,
    /// What came back of it, oldest first: acknowledgements, statuses, the remittance.
    pub history: Vec<ClaimHistoryEntry>,
}

/// A page of an e-billing's claims.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EBillingClaims {
    /// The e-billing.
    pub e_billing: EBillingDoc,
    /// Its claims, in order.
    pub items: Vec<EBillingClaim>,
    /// Cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
}

/// List an e-billing's claims in order, each with its status and gaps.
#[utoipa::path(get, path = "/v1/e-billings/{id}/claims", tag = "e-billing",
    params(("id" = String, Path, description = "E-billing id"), PageParams),
    responses((status = 200, description = "The e-billing and a page of its claims", body = EBillingClaims),
        (status = 400, description = "Unknown or malformed query parameter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such e-billing in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid paging", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(e_billing = %id))]
pub async fn list_e_billing_claims(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    query: web::Query<PageParams>,
) -> Result<web::Json<EBillingClaims>, Error> {
    who.require(AUDIT_READERS)?;
    let id: EBillingId = parse_id(&id, "e-billing")?;
    let page = query.parse()?;
    let scope = Scope::of(&who);
    let (e, claims) = state
        .db
        .read(move |conn| e_billings::claims(conn, &scope, id, &page))
        .await?;
    Ok(web::Json(EBillingClaims {
        e_billing: e.into(),
        items: claims
            .items
            .into_iter()
            .map(TryInto::try_into)
            .collect::<Result<_, _>>()?,
        next_cursor: claims.next_cursor,
    }))
}

/// Get one claim of an e-billing, with what came back of it.
#[utoipa::path(get, path = "/v1/e-billing-claims/{id}", tag = "e-billing",
    params(("id" = String, Path, description = "E-billing claim id")),
    responses((status = 200, description = "The claim and its history", body = EBillingClaimDetail),
        (status = 404, description = "No such claim in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(claim = %id))]
pub async fn get_e_billing_claim(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<EBillingClaimDetail>, Error> {
    who.require(AUDIT_READERS)?;
    let id: EBillingClaimId = parse_id(&id, "e-billing claim")?;
    let scope = Scope::of(&who);
    let (c, history) = state
        .db
        .read(move |conn| {
            let c = e_billings::claim(conn, &scope, id)?;
            Ok((c, e_billing_responses::history(conn, id)?))
        })
        .await?;
    Ok(web::Json(EBillingClaimDetail {
        claim: c.try_into()?,
        history: history
            .into_iter()
            .map(|h| ClaimHistoryEntry {
                status: h.status,
                kind: h.kind,
                codes: h.codes,
                note: h.note,
                response_id: h.response_id,
                at: h.at,
            })
            .collect(),
    }))
}

/// The payer's claim control number of a claim, as a person read it from the payer's portal.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayerClaimNumberInput {
    /// The number (1–50 characters: letters, digits, `-`, `.`, `/`, spaces).
    #[schema(example = "2026120100042")]
    pub payer_claim_number: String,
    /// Why it is typed (kept in the audit trail).
    #[schema(example = "read from the payer's portal; no 277CA came")]
    pub reason: String,
}

/// Set the payer's claim control number of a sent claim when no 277CA or 835 gave it (a
/// replacement or void names it as its REF*F8: check the correction's e-billing again after).
/// Audited with its reason and what it replaced.
#[utoipa::path(put, path = "/v1/e-billing-claims/{id}/payer-claim-number", tag = "e-billing",
    params(("id" = String, Path, description = "E-billing claim id")),
    request_body = PayerClaimNumberInput,
    responses((status = 200, description = "The claim, with the number", body = EBillingClaim),
        (status = 403, description = "Not a biller or billing manager", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such claim in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The claim's e-billing was not sent (`e_billing_not_sent`), or the claim was rejected or cancelled (`e_billing_closed`): only the payer numbers a claim it has", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A number or reason that is empty, too long or has other characters", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(claim = %id))]
pub async fn set_payer_claim_number(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<PayerClaimNumberInput>,
) -> Result<web::Json<EBillingClaim>, Error> {
    who.require(BILLERS)?;
    let id: EBillingClaimId = parse_id(&id, "e-billing claim")?;
    let input = body.parse()?.value;
    let mut v = carebill_domain::Validation::new();
    let number = input.payer_claim_number.trim().to_owned();
    if number.is_empty() || number.chars().count() > 50 {
        v.add(
            "payer_claim_number",
            "invalid",
            "1 to 50 characters, as the payer wrote it",
        );
    } else if !number
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '/' | ' '))
    {
        v.add(
            "payer_claim_number",
            "invalid",
            "letters, digits, '-', '.', '/' and spaces only (it goes into an X12 element)",
        );
    }
    let reason = input.reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 500 {
        v.add(
            "reason",
            "invalid",
            "why the number is typed: 1 to 500 characters",
        );
    }
    v.finish().map_err(Error::validation)?;
    let c = state
        .db
        .write(move |conn| e_billings::set_payer_claim_number(conn, &who, id, &number, &reason))
        .await?;
    Ok(web::Json(c.try_into()?))
}

/// One thing to fix, and the claims it holds up.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MissingInfo {
    /// The gap: the X12 loop, segment and element, what and why, and the record to fix.
    #[serde(flatten)]
    pub gap: ClaimGap,
    /// How many claims lack it.
    pub claims: usize,
    /// The first ten of them.
    pub claim_ids: Vec<EBillingClaimId>,
    /// Their invoices' numbers.
    pub invoice_numbers: Vec<String>,
}

/// An e-billing's missing information.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MissingInfoList {
    /// The e-billing.
    pub e_billing: EBillingDoc,
    /// Every thing to fix, those holding up the most claims first.
    pub items: Vec<MissingInfo>,
}

/// What an e-billing's claims lack ("Missing Info..."), one entry per thing to fix: the X12
/// element and loop, what and why, `href` to the record to complete (the payer's e-billing
/// settings, the location, the patient, the coverage, the episode's coding, the practitioner,
/// the catalog item), and the claims it holds up. Fix, then `POST .../check`.
#[utoipa::path(get, path = "/v1/e-billings/{id}/missing-info", tag = "e-billing",
    params(("id" = String, Path, description = "E-billing id")),
    responses((status = 200, description = "The things to fix (none when ready)", body = MissingInfoList),
        (status = 404, description = "No such e-billing in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(e_billing = %id))]
pub async fn e_billing_missing_info(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<MissingInfoList>, Error> {
    who.require(AUDIT_READERS)?;
    let id: EBillingId = parse_id(&id, "e-billing")?;
    let scope = Scope::of(&who);
    let (e, missing) = state
        .db
        .read(move |conn| e_billings::missing_info(conn, &scope, id))
        .await?;
    Ok(web::Json(MissingInfoList {
        e_billing: e.into(),
        items: missing
            .into_iter()
            .map(|m| MissingInfo {
                gap: m.gap.into(),
                claims: m.claims,
                claim_ids: m.claim_ids,
                invoice_numbers: m.invoice_numbers,
            })
            .collect(),
    }))
}

async fn step(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: &str,
    f: fn(
        &mut carebill_platform::db::AnyConnection,
        &Principal,
        EBillingId,
    ) -> Result<EBilling, Error>,
) -> Result<web::Json<EBillingDoc>, Error> {
    who.require(BILLERS)?;
    let id: EBillingId = parse_id(id, "e-billing")?;
    let e = state.db.write(move |conn| f(conn, &who, id)).await?;
    Ok(web::Json(e.into()))
}

/// Check an e-billing's claims again, against the master data as invoicing holds it now (after
/// fixing what `missing-info` named; accounts' changes reach invoicing by events, a moment
/// later). Its status becomes `ready` when no gap is left.
#[utoipa::path(post, path = "/v1/e-billings/{id}/check", tag = "e-billing",
    params(("id" = String, Path, description = "E-billing id")),
    responses((status = 200, description = "The e-billing, checked", body = EBillingDoc),
        (status = 404, description = "No such e-billing in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Sent or cancelled (`e_billing_closed`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(e_billing = %id))]
pub async fn check_e_billing(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<EBillingDoc>, Error> {
    step(state, who, &id, e_billings::check).await
}

/// Cancel an e-billing that was not sent: its invoices are claimable again.
#[utoipa::path(post, path = "/v1/e-billings/{id}/cancel", tag = "e-billing",
    params(("id" = String, Path, description = "E-billing id")),
    responses((status = 200, description = "The e-billing, cancelled", body = EBillingDoc),
        (status = 404, description = "No such e-billing in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Sent or cancelled already (`e_billing_closed`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(e_billing = %id))]
pub async fn cancel_e_billing(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<EBillingDoc>, Error> {
    step(state, who, &id, e_billings::cancel).await
}

async fn download(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: &str,
    kind: FileKind,
) -> Result<HttpResponse, Error> {
    who.require(BILLERS)?;
    let id: EBillingId = parse_id(id, "e-billing")?;
    let file = state
        .db
        .write(move |conn| e_billing_files::take(conn, &who, id, kind))
        .await?;
    // The first download announced the sending: the relay publishes it now.
    state.wake.notify_one();
    Ok(HttpResponse::Ok()
        .content_type("application/edi-x12")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", file.name),
        ))
        .insert_header((header::ETAG, format!("\"{}\"", file.sha256)))
        .body(file.body))
}

/// Download an e-billing's 837 claim file (seed 002's EBILLING file) to upload to the payer or
/// clearinghouse. The first download sends the e-billing: every claim is checked once more (a
/// file is never written with gaps), the envelope takes the submitter's next control numbers,
/// the file and the 276 that asks about its claims are frozen, its claims become `submitted`
/// (`carebill.invoicing.e_billing.sent.v1`). Downloading again gives the same bytes.
#[utoipa::path(get, path = "/v1/e-billings/{id}/file", tag = "e-billing",
    params(("id" = String, Path, description = "E-billing id")),
    responses((status = 200, description = "The X12 837 interchange (837P and/or 837I), `ETag` its SHA-256", content_type = "application/edi-x12", body = String),
        (status = 404, description = "No such e-billing in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Some claim has gaps (`e_billing_incomplete`), or the e-billing was cancelled (`e_billing_closed`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(e_billing = %id))]
pub async fn e_billing_file(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    download(state, who, &id, FileKind::Claims).await
}

/// Download the 276 claim status request for a sent e-billing's claims (seed 002's Request
/// file), written when its 837 was: the same bytes every time.
#[utoipa::path(get, path = "/v1/e-billings/{id}/request", tag = "e-billing",
    params(("id" = String, Path, description = "E-billing id")),
    responses((status = 200, description = "The X12 276 interchange, `ETag` its SHA-256", content_type = "application/edi-x12", body = String),
        (status = 404, description = "No such e-billing in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Its 837 was not taken yet (`e_billing_not_sent`)", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(e_billing = %id))]
pub async fn e_billing_request(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    download(state, who, &id, FileKind::StatusRequest).await
}

/// The most a response file may weigh.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// What a response said of one claim (or of something it named that was never sent).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ResponseItem {
    /// The patient control number it named (a 277 names one; a 999 names transactions).
    pub patient_control_number: Option<String>,
    /// The claim it matched.
    pub claim_id: Option<EBillingClaimId>,
    /// Its e-billing.
    pub e_billing_id: Option<EBillingId>,
    /// The claim's status after it.
    pub status: Option<ClaimStatus>,
    /// Its codes: `IK5:R`, `IK3:NM1:12:2010AA IK4:9:7` (999); `A7:562:85` (277 STC
    /// category:status:entity).
    pub codes: Vec<String>,
    /// REF*1K: the payer's claim control number.
    pub payer_claim_number: Option<String>,
    /// What it said, in words (or why it matched nothing).
    pub note: String,
    /// Whether it named a claim that was sent.
    pub matched: bool,
    /// The position of its segment in the file (1 = ISA), when it has one.
    pub position: Option<usize>,
}

/// An imported response file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EBillingResponse {
    /// Id.
    pub id: String,
    /// `999`, `277CA`, `277`, or `835` (a payer's remittance as collections posted it).
    pub kind: String,
    /// ISA06: who sent it.
    pub sender_id: String,
    /// ISA13.
    pub interchange_control_number: String,
    /// What it said of each claim, in file order.
    pub items: Vec<ResponseItem>,
    /// How many items named a claim sent.
    pub matched: i32,
    /// How many did not (kept for a person to look at, never dropped).
    pub unmatched: i32,
    /// Who imported it.
    pub received_by: String,
    /// When.
    pub received_at: DateTime<Utc>,
}

impl From<e_billing_responses::Imported> for EBillingResponse {
    fn from(r: e_billing_responses::Imported) -> EBillingResponse {
        EBillingResponse {
            id: r.id,
            kind: r.kind,
            sender_id: r.sender_id,
            interchange_control_number: r.interchange_control_number,
            items: r
                .items
                .into_iter()
                .map(|i| ResponseItem {
                    patient_control_number: i.patient_control_number,
                    claim_id: i.claim_id,
                    e_billing_id: i.e_billing_id,
                    status: i.status,
                    codes: i.codes,
                    payer_claim_number: i.payer_claim_number,
                    note: i.note,
                    matched: i.matched,
                    position: i.position,
                })
                .collect(),
            matched: r.matched,
            unmatched: r.unmatched,
            received_by: r.received_by,
            received_at: r.received_at,
        }
    }
}

/// Import what came back for sent e-billings, the raw X12 as the clearinghouse gave it: a 999
/// (each transaction of an 837 taken or rejected, with the segments in error), a 277CA (each
/// claim accepted into adjudication with the payer's claim number, or rejected with its status
/// codes) or a 277 answering a 276. Claims move to `acknowledged`, `accepted`, `rejected` (their
/// invoices are claimable again), `pending` or `finalized`. What names no claim sent is an
/// unmatched item, never a failed import. The same file again answers its first import (200).
/// A file may name any provider's claims, so only users of every location import it.
#[utoipa::path(post, path = "/v1/e-billings/responses", tag = "e-billing",
    request_body(content((String = "application/edi-x12"), (String = "text/plain")),
        description = "An X12 interchange holding 999 (005010X231A1), 277CA (005010X214) or 277 (005010X212) transactions"),
    responses((status = 201, description = "Imported: what it said of each claim", body = EBillingResponse),
        (status = 200, description = "Imported before (the same bytes): the first import, nothing changed again", body = EBillingResponse),
        (status = 403, description = "Not a biller or billing manager of every location", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 8 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not sent as `application/edi-x12` or `text/plain`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not X12 (`not_x12`), an envelope that lies (`x12_envelope_invalid`, naming the segment and its position), no 999 or 277 (`x12_unsupported`), or a segment that does not read (`x12_invalid`); nothing imported", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn import_e_billing_response(
    state: web::Data<InvoicingState>,
    req: HttpRequest,
    who: Principal,
    payload: web::Payload,
) -> Result<HttpResponse, Error> {
    who.require(BILLERS)?;
    if Scope::of(&who) != Scope::everything() {
        return Err(Error::forbidden(
            "a response file may name any provider's claims: it is imported by a user of every location",
        ));
    }
    if !matches!(
        media_type(&req).as_str(),
        "application/edi-x12" | "text/plain"
    ) {
        return Err(Error::new(
            carebill_platform::ErrorCode::UnsupportedMediaType,
            "a response file is sent as its X12 text (Content-Type: application/edi-x12)",
        ));
    }
    let body = raw_body(payload, MAX_RESPONSE_BYTES).await?;
    let digest = digest(&body);
    let text = String::from_utf8(body.to_vec()).map_err(|_| {
        Error::new(
            carebill_platform::ErrorCode::NotX12,
            "not an X12 interchange: the file is not text",
        )
    })?;
    let (created, imported) = state
        .db
        .write(move |conn| e_billing_responses::import(conn, &who, &text, digest))
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(HttpResponse::build(status).json(EBillingResponse::from(imported)))
}

/// Get an imported response file's results.
#[utoipa::path(get, path = "/v1/e-billings/responses/{id}", tag = "e-billing",
    params(("id" = String, Path, description = "Response id")),
    responses((status = 200, description = "The response", body = EBillingResponse),
        (status = 404, description = "No such response", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(response = %id))]
pub async fn get_e_billing_response(
    state: web::Data<InvoicingState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<EBillingResponse>, Error> {
    who.require(AUDIT_READERS)?;
    if Scope::of(&who) != Scope::everything() {
        return Err(Error::not_found("e-billing response"));
    }
    let id: uuid::Uuid = id
        .parse()
        .map_err(|_| Error::not_found("e-billing response"))?;
    let r = state
        .db
        .read(move |conn| e_billing_responses::get(conn, &id.to_string()))
        .await?;
    Ok(web::Json(r.into()))
}
