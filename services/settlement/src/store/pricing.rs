//! What pricing reads: the price-list entries and coverage terms in force for a settlement's
//! consumptions and payers, as the domain's [`Prices`] and [`TermsBook`].

use carebill_domain::pricing::{Prices, TermsBook};
use carebill_domain::settlement::{Coordination, CoverageTerms, PriceEntry, PriceQualifiers};
use carebill_domain::stored::{json, parse};
use carebill_domain::{Currency, MinorUnits, Money};
use carebill_platform::Error;
use carebill_platform::db::AnyConnection;
use chrono::NaiveDate;
use diesel::prelude::*;

use crate::schema::{coverage_terms, prices};

/// The price-list entries of these codes that price consumptions (not the service prices
/// qualified for invoicing rules), with their ids.
pub fn load_prices(conn: &mut AnyConnection, codes: &[String]) -> Result<Prices, Error> {
    type PriceRow = (
        String,
        String,
        i64,
        String,
        NaiveDate,
        Option<NaiveDate>,
        Option<String>,
        Option<String>,
        String,
    );
    // Service prices qualified for invoicing rules never price a consumption.
    let rows: Vec<PriceRow> = prices::table
        .filter(prices::code.eq_any(codes))
        .filter(prices::beneficiary_kind.is_null())
        .filter(prices::object_type.is_null())
        .filter(prices::care_level.is_null())
        .select((
            prices::id,
            prices::code,
            prices::unit_price_minor,
            prices::currency,
            prices::valid_from,
            prices::valid_to,
            prices::location_code,
            prices::payer_code,
            prices::components,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(id, code, minor, currency, from, to, location, payer, components)| {
                let currency = Currency::parse(&currency)
                    .map_err(|e| Error::stored("price currency", &currency, e))?;
                Ok((
                    id,
                    PriceEntry {
                        code,
                        unit_price: Money::from_minor(MinorUnits(minor), currency),
                        valid_from: from,
                        valid_to: to,
                        location,
                        payer,
                        qualifiers: PriceQualifiers::default(),
                        components: json("price components", &components).map_err(Error::from)?,
                    },
                ))
            },
        )
        .collect()
}

/// The coverage terms of these payers by (payer, plan or ""), with their ids.
pub fn load_terms(conn: &mut AnyConnection, payers: &[String]) -> Result<TermsBook, Error> {
    type TermsRow = (
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<i64>,
        String,
        Option<i64>,
        String,
        Option<i64>,
        Option<i64>,
        String,
        String,
    );
    let rows: Vec<TermsRow> = coverage_terms::table
        .filter(coverage_terms::payer_code.eq_any(payers))
        .select((
            coverage_terms::id,
            coverage_terms::payer_code,
            coverage_terms::plan_code,
            coverage_terms::covered_percent,
            coverage_terms::currency,
            coverage_terms::copay_per_line_minor,
            coverage_terms::copay_per_episode_minor,
            coverage_terms::excluded_service_groups,
            coverage_terms::cap_per_episode_minor,
            coverage_terms::preauthorization_groups,
            coverage_terms::deductible_per_year_minor,
            coverage_terms::cap_per_year_minor,
            coverage_terms::coordination,
            coverage_terms::supplemental_parts,
        ))
        .load(conn)?;
    let mut book = TermsBook::new();
    for (
        id,
        payer,
        plan,
        percent,
        currency,
        per_line,
        per_episode,
        excluded,
        cap,
        preauth,
        deductible_year,
        cap_year,
        coordination,
        supplemental,
    ) in rows
    {
        let currency = Currency::parse(&currency)
            .map_err(|e| Error::stored("coverage terms currency", &currency, e))?;
        let money = |m: Option<i64>| m.map(|u| Money::from_minor(MinorUnits(u), currency));
        book.insert(
            (payer.clone(), plan),
            (
                id,
                CoverageTerms {
                    payer,
                    covered_percent: parse("coverage terms covered percent", &percent)
                        .map_err(Error::from)?,
                    copay_per_line: money(per_line),
                    copay_per_episode: money(per_episode),
                    excluded_groups: json("coverage terms excluded groups", &excluded)
                        .map_err(Error::from)?,
                    cap_per_episode: money(cap),
                    preauthorization_groups: json(
                        "coverage terms preauthorization groups",
                        &preauth,
                    )
                    .map_err(Error::from)?,
                    deductible_per_year: money(deductible_year),
                    cap_per_year: money(cap_year),
                    coordination: Coordination::try_from(coordination).map_err(Error::from)?,
                    supplemental_parts: json("coverage terms supplemental parts", &supplemental)
                        .map_err(Error::from)?,
                },
            ),
        );
    }
    Ok(book)
}
