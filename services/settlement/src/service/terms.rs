//! Coverage terms: what a payer (optionally for one plan) pays of a line — a covered percentage
//! of what is left after the copay (and the yearly deductible), a fixed copay per line and/or
//! per episode, caps per episode and per year, pre-authorizations, and service groups it does
//! not cover. One set of terms per payer and plan; a set without a plan applies
//! to every plan of that payer that has none of its own.

use carebill_domain::settlement::{Coordination, PartKind};
use carebill_domain::stored::{json, parse};
use carebill_domain::{Code, Currency, MinorUnits, Money};
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::{Error, ErrorCode, audit};
use chrono::{DateTime, Utc};
use diesel::Connection as _;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::store::terms::{self as store, TermsRow, TermsValues};

/// Coverage terms as the service keeps them (and records them in the audit trail).
#[derive(Debug, Clone, Serialize)]
pub struct TermsRecord {
    /// Id.
    pub id: String,
    /// The payer (code).
    pub payer_code: String,
    /// The plan (code); absent for the payer's default terms.
    pub plan_code: Option<String>,
    /// Percentage covered of what is left after the copay, a decimal string 0–100.
    pub covered_percent: Decimal,
    /// Currency of the copays.
    pub currency: String,
    /// Copay the patient pays on every line.
    pub copay_per_line: Option<Money>,
    /// Copay the patient pays once per episode.
    pub copay_per_episode: Option<Money>,
    /// Service groups the payer does not cover.
    pub excluded_service_groups: Vec<String>,
    /// The most the payer pays in one episode.
    pub cap_per_episode: Option<Money>,
    /// Service groups the payer pays only with a pre-authorization: a line without an
    /// `authorization_number` attribute is flagged (`authorization_missing`), not paid.
    pub preauthorization_service_groups: Vec<String>,
    /// What the patient pays each calendar year before the payer pays anything, counted across
    /// all the patient's episodes (after the copay).
    pub deductible_per_year: Option<Money>,
    /// The most the payer pays for a patient in one calendar year, across all episodes.
    pub cap_per_year: Option<Money>,
    /// How the payer pays when it is not the first payer of a line.
    pub coordination: Coordination,
    /// The parts a supplemental plan pays.
    pub supplemental_parts: Vec<PartKind>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<TermsRow> for TermsRecord {
    type Error = Error;

    fn try_from(r: TermsRow) -> Result<Self, Error> {
        let currency = Currency::parse(&r.currency)
            .map_err(|e| Error::stored("coverage terms currency", &r.currency, e))?;
        let money = |m: Option<i64>| m.map(|u| Money::from_minor(MinorUnits(u), currency));
        Ok(TermsRecord {
            id: r.id,
            payer_code: r.payer_code,
            plan_code: (!r.plan_code.is_empty()).then_some(r.plan_code),
            covered_percent: parse("coverage terms covered percent", &r.covered_percent)
                .map_err(Error::from)?,
            currency: r.currency,
            copay_per_line: money(r.copay_per_line_minor),
            copay_per_episode: money(r.copay_per_episode_minor),
            excluded_service_groups: json(
                "coverage terms excluded groups",
                &r.excluded_service_groups,
            )
            .map_err(Error::from)?,
            cap_per_episode: money(r.cap_per_episode_minor),
            preauthorization_service_groups: json(
                "coverage terms preauthorization groups",
                &r.preauthorization_groups,
            )
            .map_err(Error::from)?,
            deductible_per_year: money(r.deductible_per_year_minor),
            cap_per_year: money(r.cap_per_year_minor),
            coordination: r.coordination,
            supplemental_parts: json("coverage terms supplemental parts", &r.supplemental_parts)
                .map_err(Error::from)?,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }
}

/// Validated terms.
pub struct NewTerms {
    /// `payer`.
    pub payer: Code,
    /// `plan`.
    pub plan: String,
    /// `currency`.
    pub currency: Currency,
    /// `copay_per_line`.
    pub copay_per_line: Option<i64>,
    /// `copay_per_episode`.
    pub copay_per_episode: Option<i64>,
    /// `groups`.
    pub groups: Vec<String>,
    /// `percent`.
    pub percent: Decimal,
    /// `cap`.
    pub cap: Option<i64>,
    /// `preauth`.
    pub preauth: Vec<String>,
    /// `deductible_per_year`.
    pub deductible_per_year: Option<i64>,
    /// `cap_per_year`.
    pub cap_per_year: Option<i64>,
    /// `coordination`.
    pub coordination: Coordination,
    /// `supplemental_parts`.
    pub supplemental_parts: Vec<PartKind>,
}

/// The stored values of validated terms.
fn values(t: &NewTerms) -> Result<TermsValues, Error> {
    Ok(TermsValues {
        covered_percent: t.percent.to_string(),
        currency: t.currency.code().to_owned(),
        copay_per_line_minor: t.copay_per_line,
        copay_per_episode_minor: t.copay_per_episode,
        excluded_service_groups: serde_json::to_string(&t.groups)?,
        cap_per_episode_minor: t.cap,
        preauthorization_groups: serde_json::to_string(&t.preauth)?,
        deductible_per_year_minor: t.deductible_per_year,
        cap_per_year_minor: t.cap_per_year,
        coordination: t.coordination.into(),
        supplemental_parts: serde_json::to_string(&t.supplemental_parts)?,
    })
}

/// A set of terms.
#[tracing::instrument(skip_all, fields(terms = id))]
pub fn get(conn: &mut AnyConnection, id: &str) -> Result<TermsRecord, Error> {
    store::find(conn, id)?
        .map(TermsRecord::try_from)
        .ok_or_else(|| Error::not_found("coverage terms"))?
}

/// Defines a payer's terms for a plan (or its default); one set per payer and plan. The
/// caller runs it in a transaction (with its idempotency record).
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    t: NewTerms,
) -> Result<TermsRecord, Error> {
    who.require_unscoped("coverage terms are organisation-wide")?;
    if store::exists(conn, t.payer.as_str(), &t.plan)? {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            "terms for this payer and plan exist; change them instead",
        ));
    }
    agrees_with_plans(conn, &t)?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    store::insert(conn, &id, t.payer.as_str(), &t.plan, &values(&t)?, now)?;
    let created = get(conn, &id)?;
    audit::record(
        conn,
        who,
        "create",
        "coverage_terms",
        &id,
        serde_json::json!({ "after": created }),
        None,
    )?;
    Ok(created)
}

/// Changes terms (payer and plan stay), in a transaction.
#[tracing::instrument(skip_all, fields(terms = id))]
pub fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    t: NewTerms,
) -> Result<TermsRecord, Error> {
    conn.transaction(|conn| replace_in(conn, who, id, t))
}

fn replace_in(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    t: NewTerms,
) -> Result<TermsRecord, Error> {
    who.require_unscoped("coverage terms are organisation-wide")?;
    let before = get(conn, id)?;
    if before.payer_code != t.payer.as_str()
        || before.plan_code.as_deref().map_or("", |p| p) != t.plan
    {
        return Err(Error::field(
            "payer_code",
            "immutable",
            "payer and plan of terms cannot change",
        ));
    }
    agrees_with_plans(conn, &t)?;
    store::update(conn, id, &values(&t)?)?;
    let after = get(conn, id)?;
    audit::record(
        conn,
        who,
        "update",
        "coverage_terms",
        id,
        serde_json::json!({ "before": before, "after": after }),
        None,
    )?;
    Ok(after)
}

/// A payer's default terms (no plan) may not name a coordination method that contradicts the
/// method of its plan terms: a payer is first or not the same way whatever the plan, and a
/// default that says otherwise would silently apply to plans added later.
fn agrees_with_plans(conn: &mut AnyConnection, t: &NewTerms) -> Result<(), Error> {
    if !t.plan.is_empty() {
        return Ok(());
    }
    for plan in store::plans_of(conn, t.payer.as_str())? {
        let method = Coordination::try_from(plan.coordination).map_err(Error::from)?;
        if method != t.coordination {
            return Err(Error::field(
                "coordination",
                "contradicts_plan_terms",
                format!(
                    "the payer's terms for plan {} use {}; its default terms cannot use {}",
                    plan.plan_code,
                    method.as_str(),
                    t.coordination.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// A page of terms (of one payer).
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    payer: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<TermsRecord>, Error> {
    store::list(conn, payer, after, limit)?
        .into_iter()
        .map(TermsRecord::try_from)
        .collect()
}
