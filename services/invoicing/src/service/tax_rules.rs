//! Tax rules: the VAT of lines per country, for one catalog code, one service group or every
//! line, valid by date. Health care is exempt, so a country without rules (or a line no rule
//! covers) is exempt; rules say where that is not so (cosmetic procedures, some materials, a care
//! home's meals). Two rules that would cover the same lines on the same day are refused
//! (`tax_rule_overlaps`). An invoice keeps the VAT it was issued with; a rule changed later
//! applies to invoices issued after.

use carebill_domain::ids::TaxRuleId;
use carebill_domain::invoicing::{LineTax, TaxCategory, TaxRule};
use carebill_domain::stored;
use carebill_platform::auth::Principal;
use carebill_platform::db::{self, AnyConnection};
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::store::tax_rules::{self as store, TaxRuleRow};

/// A tax rule as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct StoredTaxRule {
    /// Id.
    pub id: TaxRuleId,
    /// ISO 3166-1 alpha-2 country of the issuing locations.
    pub country: String,
    /// Only this catalog code.
    pub catalog_code: Option<String>,
    /// Only this service group.
    pub service_group: Option<String>,
    /// Category.
    pub category: TaxCategory,
    /// Rate in percent.
    pub rate: Decimal,
    /// VATEX exemption reason code.
    pub exemption_reason_code: Option<String>,
    /// Exemption reason text.
    pub exemption_reason: Option<String>,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
    /// Free text.
    pub description: Option<String>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl StoredTaxRule {
    fn of(r: TaxRuleRow) -> Result<Self, Error> {
        Ok(StoredTaxRule {
            category: stored::parse("tax rule category", &r.category).map_err(Error::from)?,
            rate: stored::parse("tax rule rate", &r.rate).map_err(Error::from)?,
            id: r.id,
            country: r.country,
            catalog_code: r.catalog_code,
            service_group: r.service_group,
            exemption_reason_code: r.exemption_reason_code,
            exemption_reason: r.exemption_reason,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            description: r.description,
            created_by: r.created_by,
            created_at: r.created_at.and_utc(),
        })
    }

    fn rule(&self) -> TaxRule {
        TaxRule {
            catalog_code: self.catalog_code.clone(),
            service_group: self.service_group.clone(),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            tax: LineTax {
                category: self.category,
                rate: self.rate,
                exemption_reason_code: self.exemption_reason_code.clone(),
                exemption_reason: self.exemption_reason.clone(),
            },
        }
    }
}

/// A checked rule to create or to replace one with.
#[derive(Debug, Clone)]
pub(crate) struct NewTaxRule {
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// Only this catalog code.
    pub catalog_code: Option<String>,
    /// Only this service group.
    pub service_group: Option<String>,
    /// The VAT it gives (checked).
    pub tax: LineTax,
    /// First day in force.
    pub valid_from: NaiveDate,
    /// Last day in force.
    pub valid_to: Option<NaiveDate>,
    /// Free text.
    pub description: Option<String>,
}

/// Creates a rule, refusing one that overlaps another of its country.
#[tracing::instrument(skip_all)]
pub(crate) fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    new: NewTaxRule,
) -> Result<StoredTaxRule, Error> {
    let row = TaxRuleRow {
        id: TaxRuleId::new(),
        country: new.country.clone(),
        catalog_code: new.catalog_code.clone(),
        service_group: new.service_group.clone(),
        category: new.tax.category.code().to_owned(),
        rate: new.tax.rate.normalize().to_string(),
        exemption_reason_code: new.tax.exemption_reason_code.clone(),
        exemption_reason: new.tax.exemption_reason.clone(),
        valid_from: new.valid_from,
        valid_to: new.valid_to,
        description: new.description.clone(),
        created_by: who.subject.clone(),
        created_at: db::now(),
    };
    refuse_overlap(conn, &new, None)?;
    let id = row.id;
    store::insert(conn, row)?;
    let rule = get(conn, id)?;
    audit::record(
        conn,
        who,
        "create",
        "tax_rule",
        &id.to_string(),
        serde_json::json!({ "after": &rule }),
        None,
    )?;
    Ok(rule)
}

/// Replaces a rule's terms, refusing ones that overlap another rule of its country. Invoices
/// issued before keep the VAT they were issued with.
#[tracing::instrument(skip_all, fields(tax_rule_id = %id))]
pub(crate) fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: TaxRuleId,
    new: NewTaxRule,
) -> Result<StoredTaxRule, Error> {
    let before = get(conn, id)?;
    refuse_overlap(conn, &new, Some(id))?;
    let row = TaxRuleRow {
        id,
        country: new.country,
        catalog_code: new.catalog_code,
        service_group: new.service_group,
        category: new.tax.category.code().to_owned(),
        rate: new.tax.rate.normalize().to_string(),
        exemption_reason_code: new.tax.exemption_reason_code,
        exemption_reason: new.tax.exemption_reason,
        valid_from: new.valid_from,
        valid_to: new.valid_to,
        description: new.description,
        created_by: before.created_by.clone(),
        created_at: before.created_at.naive_utc(),
    };
    store::replace(conn, &row)?;
    let after = get(conn, id)?;
    audit::record(
        conn,
        who,
        "replace",
        "tax_rule",
        &id.to_string(),
        serde_json::json!({ "before": &before, "after": &after }),
        None,
    )?;
    Ok(after)
}

/// 422 `tax_rule_overlaps` naming the rule `new` would overlap (`except` is the one replaced).
fn refuse_overlap(
    conn: &mut AnyConnection,
    new: &NewTaxRule,
    except: Option<TaxRuleId>,
) -> Result<(), Error> {
    let candidate = TaxRule {
        catalog_code: new.catalog_code.clone(),
        service_group: new.service_group.clone(),
        valid_from: new.valid_from,
        valid_to: new.valid_to,
        tax: new.tax.clone(),
    };
    for other in store::of_country(conn, &new.country)? {
        if Some(other.id) == except {
            continue;
        }
        let other = StoredTaxRule::of(other)?;
        if candidate.overlaps(&other.rule()) {
            let field = carebill_domain::FieldError {
                field: "valid_from".to_owned(),
                code: "overlaps".to_owned(),
                message: format!(
                    "tax rule {} covers the same lines of {} from {}{}",
                    other.id,
                    other.country,
                    other.valid_from,
                    other
                        .valid_to
                        .map(|t| format!(" to {t}"))
                        .unwrap_or_default() // not stored: a message
                ),
            };
            return Err(
                Error::new(ErrorCode::TaxRuleOverlaps, field.message.clone())
                    .with_errors(vec![field]),
            );
        }
    }
    Ok(())
}

/// A rule; not found otherwise.
pub(crate) fn get(conn: &mut AnyConnection, id: TaxRuleId) -> Result<StoredTaxRule, Error> {
    store::find(conn, id)?
        .ok_or_else(|| Error::not_found("tax rule"))
        .and_then(StoredTaxRule::of)
}

/// A page of rules, of one country when given, oldest first.
pub(crate) fn list(
    conn: &mut AnyConnection,
    country: Option<&str>,
    page: &PageRequest,
) -> Result<Page<StoredTaxRule>, Error> {
    let rows = store::list(conn, country, page)?;
    Page::from_rows(rows, page, |r| r.id.to_string()).try_map(StoredTaxRule::of)
}

/// The rules of the country of a location's address, which its invoices are taxed by; none
/// without a country (every line is then health care, exempt).
pub(crate) fn rules_of_location(
    conn: &mut AnyConnection,
    location: &carebill_domain::events::LocationRef,
) -> Result<Vec<TaxRule>, Error> {
    match location
        .billing
        .as_ref()
        .and_then(|b| b.address.as_ref())
        .and_then(|a| a.country.as_deref())
    {
        Some(country) => rules_of(conn, country),
        None => Ok(Vec::new()),
    }
}

/// The rules of a country, as the domain applies them.
pub(crate) fn rules_of(conn: &mut AnyConnection, country: &str) -> Result<Vec<TaxRule>, Error> {
    store::of_country(conn, country)?
        .into_iter()
        .map(|r| StoredTaxRule::of(r).map(|r| r.rule()))
        .collect()
}
