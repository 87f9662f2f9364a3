//! The invoices of a care agency (seed 004), planned from an approval of a carer's hours as
//! settlement priced it (`carebill.settlement.hours.priced.v1`); pure, like
//! [`crate::invoicing::plan_invoices`] for a settlement.
//!
//! - **hours**: the carer's invoice for the approved hours to the party that pays them, made by
//!   the agency on the carer's behalf under their self-billing agreement (UBL 389, the carer as
//!   seller): one line per priced part of the hours and per extra charge a condition added; VAT
//!   as the carer's status says (exempt with its reason, or the carer's standard rate).
//! - **commission**: the agency's invoice to the carer for its commission, one per carer and
//!   period ([`plan_commission_invoice`]): one line per approval of hours it was earned on
//!   ([`commission_of`]), whatever the placement; VAT by the agency country's tax rules for
//!   [`COMMISSION_CODE`] / [`COMMISSION_SERVICE_GROUP`] (without a rule, exempt like care).
//! - **mediation_fee**: the agency's invoice to the client for its mediation fee, when the
//!   placement has one; VAT by the rules for [`MEDIATION_FEE_CODE`] /
//!   [`MEDIATION_FEE_SERVICE_GROUP`].
//!
//! An invoice with nothing to bill (a zero commission, a zero fee) is not planned. Each line
//! names the hours it bills in its `consumption_id` (an agency invoice bills hours, not care
//! records): the hours' id for the first line of those hours, and for each further line (a
//! shift cut where the rates change, an extra charge) a UUID v5 of the line's index in the
//! hours' id's namespace, so that every line of a document has its own id (credit notes name
//! lines by it).

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone as _, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::accounts::{parse_time_zone, text_enum};
use crate::agency::VatStatus;
use crate::events::{HoursPricedV1, PartyKind, PartyRef};
use crate::ids::{ConsumptionId, HoursId};
use crate::invoicing::{
    DocumentLine, InvoicePlan, LineTax, PlanError, TaxCategory, TaxRule, sum_lines, tax_for,
    vat_total,
};
use crate::money::Money;

text_enum!(
    /// What an agency invoice bills.
    AgencyPurpose {
        /// A carer's approved hours, self-billed on the carer's behalf.
        Hours = "hours",
        /// The agency's commission, to the carer.
        Commission = "commission",
        /// The agency's mediation fee, to the client.
        MediationFee = "mediation_fee",
    }
);

/// The catalog code of a commission line.
pub const COMMISSION_CODE: &str = "COMMISSION";
/// The service group of a commission line (what a tax rule names to tax it).
pub const COMMISSION_SERVICE_GROUP: &str = "agency-commission";
/// The catalog code of a mediation-fee line.
pub const MEDIATION_FEE_CODE: &str = "MEDIATION-FEE";
/// The service group of a mediation-fee line.
pub const MEDIATION_FEE_SERVICE_GROUP: &str = "agency-mediation";

/// One invoice to issue for an approval.
#[derive(Debug, Clone, PartialEq)]
pub struct AgencyInvoicePlan {
    /// What it bills.
    pub purpose: AgencyPurpose,
    /// Its recipient, lines and totals.
    pub plan: InvoicePlan,
}

/// The carer as the buyer of a commission invoice.
pub fn carer_party(e: &HoursPricedV1) -> PartyRef {
    PartyRef {
        kind: PartyKind::Carer,
        id: e.approval.carer.id.0,
        payer_code: None,
        payer_kind: None,
        coverage_id: None,
        policy_number: None,
        billing: Some(e.approval.carer.billing.clone()),
    }
}

/// The VAT of a self-billed line: the carer's status.
pub fn carer_tax(vat: &VatStatus) -> LineTax {
    match vat {
        VatStatus::Exempt {
            reason_code,
            reason,
        } => {
            let care = LineTax::health_care();
            LineTax {
                exemption_reason_code: reason_code.clone().or(care.exemption_reason_code),
                exemption_reason: reason.clone().or(care.exemption_reason),
                ..care
            }
        }
        VatStatus::Standard { rate } => LineTax {
            category: TaxCategory::Standard,
            rate: *rate,
            exemption_reason_code: None,
            exemption_reason: None,
        },
    }
}

/// Plans the invoices of a priced approval: the hours, then the mediation fee (see the module
/// documentation; the commission waits for its period, [`commission_of`]). `agency_rules` are the tax rules of the agency's country;
/// `day` the invoice date the rules are read on.
pub fn plan_agency_invoices(
    e: &HoursPricedV1,
    agency_rules: &[TaxRule],
    day: NaiveDate,
) -> Result<Vec<AgencyInvoicePlan>, PlanError> {
    let a = &e.approval;
    let tz = parse_time_zone(&a.location.time_zone)
        .map_err(|_| PlanError::TimeZone(a.location.time_zone.clone()))?;
    let at = |date: NaiveDate, start: Option<&str>| -> DateTime<Utc> {
        let time = start
            .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M").ok())
            .unwrap_or(NaiveTime::MIN);
        tz.from_local_datetime(&date.and_time(time))
            .earliest()
            .map_or_else(|| date.and_time(time).and_utc(), |t| t.with_timezone(&Utc))
    };
    let mut seen: Vec<HoursId> = Vec::new();
    let mut id_of = |hours: HoursId| -> ConsumptionId {
        let k = seen.iter().filter(|h| **h == hours).count();
        seen.push(hours);
        if k == 0 {
            ConsumptionId(hours.0)
        } else {
            ConsumptionId(uuid::Uuid::new_v5(&hours.0, format!("line-{k}").as_bytes()))
        }
    };
    let line = |id: ConsumptionId, code: &str, description: String, group: &str| DocumentLine {
        consumption_id: id,
        code: code.to_owned(),
        description,
        service_group: group.to_owned(),
        quantity: Decimal::ONE,
        unit: "hour".to_owned(),
        performed_at: at(a.period_start, None),
        unit_price: Money::zero(a.currency),
        line_amount: Money::zero(a.currency),
        amount: Money::zero(a.currency),
        tax: carer_tax(&a.carer.vat),
        parts: Vec::new(),
        method: None,
        kind: None,
        performed_by: None,
        claim: None,
    };

    let mut plans = Vec::new();
    let mut hours_lines = Vec::new();
    for p in &e.priced.lines {
        let description = match (&p.start, &p.end) {
            (Some(s), Some(t)) => format!("{} {} {s}–{t}", p.description, p.date),
            _ => format!("{} {}", p.description, p.date),
        };
        let group = a
            .lines
            .iter()
            .find(|l| l.hours_id == p.hours_id)
            .map_or_else(String::new, |l| l.service_group.clone());
        hours_lines.push(DocumentLine {
            quantity: p.hours,
            performed_at: at(p.date, p.start.as_deref()),
            unit_price: p.unit_price,
            line_amount: p.amount,
            amount: p.amount,
            performed_by: Some(a.carer.billing.legal_name.clone()),
            ..line(id_of(p.hours_id), &p.service_type, description, &group)
        });
    }
    for x in &e.priced.extras {
        let date = e
            .priced
            .lines
            .iter()
            .find(|p| p.hours_id == x.hours_id)
            .map_or(a.period_start, |p| p.date);
        hours_lines.push(DocumentLine {
            quantity: x.quantity,
            unit: "unit".to_owned(),
            performed_at: at(date, None),
            unit_price: x.unit_price,
            line_amount: x.amount,
            amount: x.amount,
            ..line(id_of(x.hours_id), &x.code, x.description.clone(), "")
        });
    }
    plans.push(AgencyInvoicePlan {
        purpose: AgencyPurpose::Hours,
        plan: finish(a.bill_to.clone(), hours_lines, None, day)?,
    });

    let hours: Decimal = e.priced.lines.iter().map(|p| p.hours).sum();
    let first = ConsumptionId(a.lines.first().map_or(uuid::Uuid::nil(), |l| l.hours_id.0));
    let period = format!("{} – {}", a.period_start, a.period_end);
    if let Some(fee) = e.priced.mediation_fee.filter(|f| !f.amount().is_zero()) {
        let l = DocumentLine {
            unit: "unit".to_owned(),
            unit_price: fee,
            line_amount: fee,
            amount: fee,
            ..line(
                first,
                MEDIATION_FEE_CODE,
                format!(
                    "Mediation fee on {hours} hours of care by {} (placement {}), {period}",
                    a.carer.billing.legal_name, a.terms.reference
                ),
                MEDIATION_FEE_SERVICE_GROUP,
            )
        };
        plans.push(AgencyInvoicePlan {
            purpose: AgencyPurpose::MediationFee,
            plan: finish(a.client.clone(), vec![l], Some(agency_rules), day)?,
        });
    }
    Ok(plans)
}

/// The commission an approval earned the agency, waiting for its carer's commission invoice of
/// the period: one line of that invoice.
#[derive(Debug, Clone, PartialEq)]
pub struct CommissionEntry {
    /// The line's id: the first hours' id of the approval (unique across approvals).
    pub line_id: ConsumptionId,
    /// The placement the hours were worked on.
    pub placement_reference: String,
    /// The approved period.
    pub period_start: NaiveDate,
    /// Its last day.
    pub period_end: NaiveDate,
    /// When the period began, in the agency's time zone (the line's service date).
    pub performed_at: DateTime<Utc>,
    /// The hours approved.
    pub hours: Decimal,
    /// What they are worth (the self-billed invoice's net total).
    pub hours_value: Money,
    /// The commission on them.
    pub commission: Money,
}

/// The commission a priced approval earned, if any (a zero commission earns none).
pub fn commission_of(e: &HoursPricedV1) -> Result<Option<CommissionEntry>, PlanError> {
    let a = &e.approval;
    if e.priced.commission.amount().is_zero() {
        return Ok(None);
    }
    let tz = parse_time_zone(&a.location.time_zone)
        .map_err(|_| PlanError::TimeZone(a.location.time_zone.clone()))?;
    let start = a.period_start.and_time(NaiveTime::MIN);
    Ok(Some(CommissionEntry {
        line_id: ConsumptionId(a.lines.first().map_or(uuid::Uuid::nil(), |l| l.hours_id.0)),
        placement_reference: a.terms.reference.clone(),
        period_start: a.period_start,
        period_end: a.period_end,
        performed_at: tz
            .from_local_datetime(&start)
            .earliest()
            .map_or_else(|| start.and_utc(), |t| t.with_timezone(&Utc)),
        hours: e.priced.lines.iter().map(|p| p.hours).sum(),
        hours_value: e.priced.total,
        commission: e.priced.commission,
    }))
}

/// Plans a carer's commission invoice over `entries` (at least one, one currency): one line per
/// entry, in their order, taxed by the agency country's `agency_rules` on `day`, the invoice
/// date.
pub fn plan_commission_invoice(
    carer: PartyRef,
    entries: &[CommissionEntry],
    agency_rules: &[TaxRule],
    day: NaiveDate,
) -> Result<InvoicePlan, PlanError> {
    let lines = entries
        .iter()
        .map(|c| DocumentLine {
            consumption_id: c.line_id,
            code: COMMISSION_CODE.to_owned(),
            description: format!(
                "Commission on {} hours ({}) of placement {}, {} – {}",
                c.hours.normalize(),
                c.hours_value,
                c.placement_reference,
                c.period_start,
                c.period_end
            ),
            service_group: COMMISSION_SERVICE_GROUP.to_owned(),
            quantity: Decimal::ONE,
            unit: "unit".to_owned(),
            performed_at: c.performed_at,
            unit_price: c.commission,
            line_amount: c.commission,
            amount: c.commission,
            tax: LineTax::health_care(),
            parts: Vec::new(),
            method: None,
            kind: None,
            performed_by: None,
            claim: None,
        })
        .collect();
    finish(carer, lines, Some(agency_rules), day)
}

/// A plan of `lines` to `recipient`, taxed by `rules` when given (else the lines keep theirs),
/// with its totals.
fn finish(
    recipient: PartyRef,
    mut lines: Vec<DocumentLine>,
    rules: Option<&[TaxRule]>,
    day: NaiveDate,
) -> Result<InvoicePlan, PlanError> {
    let currency = lines
        .first()
        .map(|l| l.amount.currency())
        .ok_or(PlanError::TotalMismatch)?;
    if let Some(rules) = rules {
        for l in &mut lines {
            l.tax = tax_for(rules, l, day);
        }
    }
    let net = sum_lines(&lines, currency)?;
    if net.amount() < Decimal::ZERO {
        return Err(PlanError::NegativeTotal(recipient.key()));
    }
    let tax_total = vat_total(&lines, currency)?;
    Ok(InvoicePlan {
        recipient,
        total: net.checked_add(&tax_total)?,
        tax_total,
        lines,
    })
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use super::*;
    use crate::agency::{Fee, SelfBillingAgreement, price};
    use crate::events::{
        ApprovedHours, CarerRef, HourlyTariff, LocationRef, PartyBilling, PlacementTerms,
        TimesheetApprovedV1,
    };
    use crate::ids::{ApprovalId, CarerId, LocationId, PatientId, PlacementId, TimesheetId};
    use crate::money::Currency;

    fn eur(s: &str) -> Money {
        Money::new(
            Decimal::from_str(s).expect("amount"),
            Currency::parse("EUR").expect("EUR"),
        )
        .expect("money")
    }

    fn priced(commission: Fee, vat: VatStatus) -> HoursPricedV1 {
        let agreement = SelfBillingAgreement {
            reference: "SBA-1".to_owned(),
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            valid_to: None,
        };
        let client = PartyRef::patient(PatientId::new());
        let approval = TimesheetApprovedV1 {
            approval_id: ApprovalId::new(),
            timesheet_id: TimesheetId::new(),
            period_start: NaiveDate::from_ymd_opt(2026, 11, 30).expect("date"),
            period_end: NaiveDate::from_ymd_opt(2026, 12, 6).expect("date"),
            location: LocationRef {
                id: LocationId::new(),
                code: "AG".to_owned(),
                name: "Agency".to_owned(),
                time_zone: "Europe/Amsterdam".to_owned(),
                tax_id: None,
                billing: None,
            },
            carer: CarerRef {
                id: CarerId::new(),
                code: "C1".to_owned(),
                billing: PartyBilling {
                    legal_name: "Carer".to_owned(),
                    ..PartyBilling::default()
                },
                vat,
                agreements: vec![agreement.clone()],
            },
            client: client.clone(),
            patient: None,
            bill_to: client,
            terms: PlacementTerms {
                placement_id: PlacementId::new(),
                reference: "PL-1".to_owned(),
                tariffs: vec![HourlyTariff {
                    service_type: "CARE".to_owned(),
                    hourly_rate: eur("30.00"),
                }],
                commission,
                mediation_fee: None,
            },
            currency: Currency::parse("EUR").expect("EUR"),
            // An evening shift past closing time (20:00): two parts of the same hours.
            lines: vec![ApprovedHours {
                hours_id: HoursId::new(),
                date: NaiveDate::from_ymd_opt(2026, 12, 2).expect("date"),
                start: Some("18:00".to_owned()),
                end: Some("22:00".to_owned()),
                minutes: 240,
                hours: Decimal::from(4),
                service_type: "CARE".to_owned(),
                description: "Care".to_owned(),
                service_group: "HOMECARE".to_owned(),
                notes: None,
            }],
            approved_by: "client".to_owned(),
            approved_at: Utc::now(),
            invoice_date: NaiveDate::from_ymd_opt(2026, 12, 6).expect("date"),
            agreement,
        };
        HoursPricedV1 {
            priced: price(&approval, None).expect("priced"),
            approval,
            conditions_version: None,
            priced_at: Utc::now(),
        }
    }

    #[test]
    fn a_shift_cut_in_parts_gives_lines_with_ids_of_their_own() {
        let e = priced(
            Fee::Percent(Decimal::from(10)),
            VatStatus::Exempt {
                reason_code: None,
                reason: None,
            },
        );
        let plans = plan_agency_invoices(&e, &[], e.approval.invoice_date).expect("planned");
        let purposes: Vec<AgencyPurpose> = plans.iter().map(|p| p.purpose).collect();
        assert_eq!(
            purposes,
            [AgencyPurpose::Hours],
            "the commission waits for its period"
        );
        let hours = &plans[0].plan;
        assert_eq!(hours.lines.len(), 2, "18:00–20:00 and 20:00–22:00");
        let hours_id = e.approval.lines[0].hours_id;
        assert_eq!(hours.lines[0].consumption_id, ConsumptionId(hours_id.0));
        assert_ne!(hours.lines[1].consumption_id, hours.lines[0].consumption_id);
        // Derived, so the same approval planned again names its lines the same.
        let again = plan_agency_invoices(&e, &[], e.approval.invoice_date).expect("planned");
        assert_eq!(
            again[0].plan.lines[1].consumption_id,
            hours.lines[1].consumption_id
        );
        assert_eq!(hours.total, eur("120.00"));
        // Exempt without a reason of the carer's own: health care's code and text.
        assert_eq!(hours.lines[0].tax, LineTax::health_care());
        let entry = commission_of(&e).expect("entry").expect("a commission");
        assert_eq!(entry.commission, eur("12.00"));
        assert_eq!(entry.hours_value, eur("120.00"));
        assert_eq!(entry.line_id, ConsumptionId(hours_id.0));
        // A period's invoice: one line per approval, taxed by the agency's rules.
        let mut other = entry.clone();
        other.line_id = ConsumptionId(uuid::Uuid::new_v5(&hours_id.0, b"other"));
        other.placement_reference = "PL-2".to_owned();
        other.commission = eur("7.35");
        let rule = TaxRule {
            catalog_code: None,
            service_group: Some(COMMISSION_SERVICE_GROUP.to_owned()),
            valid_from: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            valid_to: None,
            tax: LineTax {
                category: TaxCategory::Standard,
                rate: Decimal::from(21),
                exemption_reason_code: None,
                exemption_reason: None,
            },
        };
        let plan = plan_commission_invoice(
            carer_party(&e),
            &[entry, other],
            &[rule],
            e.approval.invoice_date,
        )
        .expect("planned");
        assert_eq!(plan.recipient.kind, PartyKind::Carer);
        assert_eq!(plan.lines.len(), 2);
        assert!(
            plan.lines[1].description.contains("PL-2"),
            "{}",
            plan.lines[1].description
        );
        // 12.00 + 7.35 = 19.35 at 21 %: 4.06 VAT.
        assert_eq!(plan.tax_total, eur("4.06"));
        assert_eq!(plan.total, eur("23.41"));
    }

    #[test]
    fn a_carer_liable_for_vat_charges_it_and_no_commission_means_no_commission_invoice() {
        let e = priced(
            Fee::Percent(Decimal::ZERO),
            VatStatus::Standard {
                rate: Decimal::from(21),
            },
        );
        let plans = plan_agency_invoices(&e, &[], e.approval.invoice_date).expect("planned");
        assert_eq!(plans.len(), 1);
        assert_eq!(
            commission_of(&e).expect("entry"),
            None,
            "nothing to charge the carer"
        );
        let hours = &plans[0].plan;
        assert_eq!(hours.lines[0].tax.category, TaxCategory::Standard);
        assert_eq!(hours.tax_total, eur("25.20"));
        assert_eq!(hours.total, eur("145.20"));
    }
}
