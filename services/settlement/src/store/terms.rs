//! Coverage terms as stored: one row per payer and plan (empty plan: the payer's default),
//! money in minor units of the terms' currency, groups as JSON lists.

use carebill_domain::settlement::Coordination;
use carebill_platform::Error;
use carebill_platform::db::{self, AnyConnection};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::schema::coverage_terms;

#[derive(Queryable, Selectable)]
#[diesel(table_name = coverage_terms)]
/// Coverage terms as stored.
pub struct TermsRow {
    /// Column `id`.
    pub id: String,
    /// Column `payer_code`.
    pub payer_code: String,
    /// Column `plan_code`.
    pub plan_code: String,
    /// Column `covered_percent`.
    pub covered_percent: String,
    /// Column `currency`.
    pub currency: String,
    /// Column `copay_per_line_minor`.
    pub copay_per_line_minor: Option<i64>,
    /// Column `copay_per_episode_minor`.
    pub copay_per_episode_minor: Option<i64>,
    /// Column `excluded_service_groups`.
    pub excluded_service_groups: String,
    /// Column `created_at`.
    pub created_at: NaiveDateTime,
    /// Column `updated_at`.
    pub updated_at: NaiveDateTime,
    /// Column `cap_per_episode_minor`.
    pub cap_per_episode_minor: Option<i64>,
    /// Column `preauthorization_groups`.
    pub preauthorization_groups: String,
    /// Column `deductible_per_year_minor`.
    pub deductible_per_year_minor: Option<i64>,
    /// Column `cap_per_year_minor`.
    pub cap_per_year_minor: Option<i64>,
    /// Column `coordination`.
    #[diesel(deserialize_as = String)]
    pub coordination: Coordination,
    /// Column `supplemental_parts` (JSON list).
    pub supplemental_parts: String,
}

/// The values of a set of terms, as stored.
#[derive(AsChangeset, Insertable)]
#[diesel(table_name = coverage_terms)]
#[diesel(treat_none_as_null = true)]
pub struct TermsValues {
    /// Covered percentage (decimal text).
    pub covered_percent: String,
    /// Currency code.
    pub currency: String,
    /// Copay per line, minor units.
    pub copay_per_line_minor: Option<i64>,
    /// Copay per episode, minor units.
    pub copay_per_episode_minor: Option<i64>,
    /// Excluded service groups (JSON).
    pub excluded_service_groups: String,
    /// Cap per episode, minor units.
    pub cap_per_episode_minor: Option<i64>,
    /// Pre-authorized service groups (JSON).
    pub preauthorization_groups: String,
    /// Yearly deductible, minor units.
    pub deductible_per_year_minor: Option<i64>,
    /// Yearly cap, minor units.
    pub cap_per_year_minor: Option<i64>,
    /// Coordination method.
    pub coordination: String,
    /// Parts a supplemental plan pays (JSON).
    pub supplemental_parts: String,
}

/// A set of terms.
pub fn find(conn: &mut AnyConnection, id: &str) -> Result<Option<TermsRow>, Error> {
    Ok(coverage_terms::table
        .find(id)
        .select(TermsRow::as_select())
        .first(conn)
        .optional()?)
}

/// Whether terms of this payer and plan exist.
pub fn exists(conn: &mut AnyConnection, payer: &str, plan: &str) -> Result<bool, Error> {
    let taken: i64 = coverage_terms::table
        .filter(coverage_terms::payer_code.eq(payer))
        .filter(coverage_terms::plan_code.eq(plan))
        .count()
        .get_result(conn)?;
    Ok(taken > 0)
}

/// A payer's plan and coordination method, of each of its plan terms.
pub struct PlanMethod {
    /// The plan (code).
    pub plan_code: String,
    /// Its coordination method, as stored.
    pub coordination: String,
}

/// The plans (with their methods) of a payer's plan terms (not its default).
pub fn plans_of(conn: &mut AnyConnection, payer: &str) -> Result<Vec<PlanMethod>, Error> {
    let rows: Vec<(String, String)> = coverage_terms::table
        .filter(coverage_terms::payer_code.eq(payer))
        .filter(coverage_terms::plan_code.ne(""))
        .select((coverage_terms::plan_code, coverage_terms::coordination))
        .order(coverage_terms::plan_code.asc())
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(plan_code, coordination)| PlanMethod {
            plan_code,
            coordination,
        })
        .collect())
}

/// Stores new terms.
pub fn insert(
    conn: &mut AnyConnection,
    id: &str,
    payer: &str,
    plan: &str,
    values: &TermsValues,
    now: NaiveDateTime,
) -> Result<(), Error> {
    diesel::insert_into(coverage_terms::table)
        .values((
            coverage_terms::id.eq(id),
            coverage_terms::payer_code.eq(payer),
            coverage_terms::plan_code.eq(plan),
            values,
            coverage_terms::created_at.eq(now),
            coverage_terms::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Replaces the values of terms.
pub fn update(conn: &mut AnyConnection, id: &str, values: &TermsValues) -> Result<(), Error> {
    diesel::update(coverage_terms::table.find(id))
        .set((values, coverage_terms::updated_at.eq(db::now())))
        .execute(conn)?;
    Ok(())
}

/// A page of terms (of one payer) in id order after `after` (at most `limit`).
pub fn list(
    conn: &mut AnyConnection,
    payer: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<TermsRow>, Error> {
    let mut q = coverage_terms::table
        .select(TermsRow::as_select())
        .into_boxed();
    if let Some(p) = payer {
        q = q.filter(coverage_terms::payer_code.eq(p.to_owned()));
    }
    if let Some(after) = after {
        q = q.filter(coverage_terms::id.gt(after.to_owned()));
    }
    Ok(q.order(coverage_terms::id.asc())
        .limit(limit)
        .load::<TermsRow>(conn)?)
}
