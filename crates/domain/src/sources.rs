//! Care records: the invoicing sources next to plain consumptions (seed 003 "Invoicing Source").
//! Accounts records them; settlement keeps a copy and bills them with invoicing rules.
//!
//! A record is one of seven kinds, each with its own fields: stays (a resident in a room of an
//! object type, entry and leaving dates), absences (hospital, holiday, other, with full-day
//! flags), contracts (services with manual price and quantity), manual entries (attendances),
//! evaluations (care levels with validity), gastro (point-of-sale) lines and ambulatory care
//! entries. Records are changed by new versions; a cancelled record no longer counts.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::code::Code;
use crate::money::Money;
use crate::rules::{InvoicingSource, OpenSpan};
use crate::validation::Validation;

/// Why a resident is away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AbsenceKind {
    /// In hospital.
    Hospital,
    /// On holiday.
    Holiday,
    /// Any other reason.
    Other,
}

/// One service of a contract, with its manual quantity and price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ContractService {
    /// The service group it belongs to (what rules select on).
    #[cfg_attr(feature = "openapi", schema(example = "LAUNDRY"))]
    pub service_group: String,
    /// Text printed when the rule's description method is manual.
    #[cfg_attr(feature = "openapi", schema(example = "Personal laundry service"))]
    pub description: String,
    /// Quantity per billed window (manual quantity method).
    #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1"))]
    pub quantity: Decimal,
    /// Unit price (manual price method); when absent the service price applies.
    pub unit_price: Option<Money>,
}

/// What a care record holds, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum CareRecordDetails {
    /// A resident's stay.
    Stay {
        /// The resident's beneficiary kind during the stay (what rules select on).
        #[cfg_attr(feature = "openapi", schema(example = "LTC"))]
        beneficiary_kind: String,
        /// Object (room) type, priced by rules that name it.
        #[cfg_attr(feature = "openapi", schema(example = "SINGLE"))]
        object_type: Option<String>,
        /// Room.
        #[cfg_attr(feature = "openapi", schema(example = "B-204"))]
        room: Option<String>,
        /// First day in the institution.
        entry_date: NaiveDate,
        /// Day of leaving (present that day); open when absent.
        leaving_date: Option<NaiveDate>,
    },
    /// An absence of a resident.
    Absence {
        /// Why.
        reason: AbsenceKind,
        /// First day away.
        from: NaiveDate,
        /// Day of return; open when absent.
        to: Option<NaiveDate>,
        /// Overrides the rule's "absence start on full day" for this absence.
        start_full_day: Option<bool>,
        /// Overrides the rule's "absence end on full day" for this absence.
        end_full_day: Option<bool>,
    },
    /// A contract with its services.
    Contract {
        /// The beneficiary kind it is for.
        #[cfg_attr(feature = "openapi", schema(example = "LTC"))]
        beneficiary_kind: String,
        /// First day.
        start_date: NaiveDate,
        /// Last day; open when absent.
        end_date: Option<NaiveDate>,
        /// The contracted services.
        services: Vec<ContractService>,
    },
    /// A manual entry or attendance.
    ManualEntry {
        /// Day of the service.
        date: NaiveDate,
        /// Its service group.
        #[cfg_attr(feature = "openapi", schema(example = "HAIRDRESSER"))]
        service_group: String,
        /// Text.
        description: String,
        /// Quantity.
        #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1"))]
        quantity: Decimal,
        /// Unit price entered; when absent the service price applies.
        unit_price: Option<Money>,
    },
    /// A care level assessment.
    Evaluation {
        /// The level assessed.
        #[cfg_attr(feature = "openapi", schema(example = "L3"))]
        level: String,
        /// First day it applies.
        valid_from: NaiveDate,
        /// Last day it applies; open until the next evaluation when absent.
        valid_to: Option<NaiveDate>,
    },
    /// A gastro / point-of-sale line.
    Gastro {
        /// Day of sale.
        date: NaiveDate,
        /// Its service group.
        #[cfg_attr(feature = "openapi", schema(example = "CAFETERIA"))]
        service_group: String,
        /// Text from the till.
        description: String,
        /// Quantity.
        #[cfg_attr(feature = "openapi", schema(value_type = String, example = "2"))]
        quantity: Decimal,
        /// Price charged by the till.
        unit_price: Money,
    },
    /// An ambulatory care entry.
    Ambulatory {
        /// Day of care.
        date: NaiveDate,
        /// Its service group.
        #[cfg_attr(feature = "openapi", schema(example = "HOMECARE"))]
        service_group: String,
        /// Text.
        description: String,
        /// Quantity (e.g. hours).
        #[cfg_attr(feature = "openapi", schema(value_type = String, example = "1.5"))]
        quantity: Decimal,
        /// Who gave the care.
        practitioner: Option<String>,
    },
}

/// The same quantity rule as consumptions (positive, at most 1,000,000, 4 decimals).
fn quantity(v: &mut Validation, field: &str, q: Decimal) {
    v.check(field, "invalid", crate::accounts::Quantity::new(q));
}

fn price(v: &mut Validation, field: &str, p: Option<&Money>) {
    if p.is_some_and(|p| p.amount() < Decimal::ZERO) {
        v.add(field, "negative", "a unit price is not negative");
    }
}

fn code(v: &mut Validation, field: &str, value: &str) {
    v.check(field, "invalid", Code::parse(value));
}

fn dates(v: &mut Validation, field: &str, from: NaiveDate, to: Option<NaiveDate>) {
    if to.is_some_and(|to| to < from) {
        v.add(field, "before_start", "must not come before the first day");
    }
}

/// Every string of a JSON value with its surrounding blanks removed.
fn trim_strings(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::String(s) => {
            let t = s.trim();
            if t.len() != s.len() {
                *s = t.to_owned();
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(trim_strings),
        serde_json::Value::Object(map) => map.values_mut().for_each(trim_strings),
        _ => {}
    }
}

impl CareRecordDetails {
    /// The same record with every text trimmed (what is stored and compared).
    pub fn trimmed(self) -> Self {
        let Ok(mut v) = serde_json::to_value(&self) else {
            return self;
        };
        trim_strings(&mut v);
        serde_json::from_value(v).unwrap_or(self)
    }

    /// The invoicing source a rule names to read this kind.
    pub fn source(&self) -> InvoicingSource {
        match self {
            CareRecordDetails::Stay { .. } => InvoicingSource::Stay,
            CareRecordDetails::Absence { .. } => InvoicingSource::Absence,
            CareRecordDetails::Contract { .. } => InvoicingSource::Contract,
            CareRecordDetails::ManualEntry { .. } => InvoicingSource::ManualEntry,
            CareRecordDetails::Evaluation { .. } => InvoicingSource::Evaluation,
            CareRecordDetails::Gastro { .. } => InvoicingSource::Gastro,
            CareRecordDetails::Ambulatory { .. } => InvoicingSource::Ambulatory,
        }
    }

    /// The days the record covers (one day for dated entries; open spans stay open).
    pub fn span(&self) -> OpenSpan {
        let day = |d: NaiveDate| OpenSpan {
            from: d,
            to: Some(d),
        };
        match self {
            CareRecordDetails::Stay {
                entry_date,
                leaving_date,
                ..
            } => OpenSpan {
                from: *entry_date,
                to: *leaving_date,
            },
            CareRecordDetails::Absence { from, to, .. } => OpenSpan {
                from: *from,
                to: *to,
            },
            CareRecordDetails::Contract {
                start_date,
                end_date,
                ..
            } => OpenSpan {
                from: *start_date,
                to: *end_date,
            },
            CareRecordDetails::Evaluation {
                valid_from,
                valid_to,
                ..
            } => OpenSpan {
                from: *valid_from,
                to: *valid_to,
            },
            CareRecordDetails::ManualEntry { date, .. }
            | CareRecordDetails::Gastro { date, .. }
            | CareRecordDetails::Ambulatory { date, .. } => day(*date),
        }
    }

    /// Every problem, field by field (fields named as in the request body).
    pub fn validate(&self) -> Validation {
        let mut v = Validation::new();
        match self {
            CareRecordDetails::Stay {
                beneficiary_kind,
                object_type,
                room,
                entry_date,
                leaving_date,
            } => {
                code(&mut v, "beneficiary_kind", beneficiary_kind);
                if let Some(o) = object_type {
                    code(&mut v, "object_type", o);
                }
                v.opt_text("room", room.as_deref(), 40);
                dates(&mut v, "leaving_date", *entry_date, *leaving_date);
            }
            CareRecordDetails::Absence { from, to, .. } => dates(&mut v, "to", *from, *to),
            CareRecordDetails::Contract {
                beneficiary_kind,
                start_date,
                end_date,
                services,
            } => {
                code(&mut v, "beneficiary_kind", beneficiary_kind);
                dates(&mut v, "end_date", *start_date, *end_date);
                if services.is_empty() || services.len() > 50 {
                    v.add("services", "invalid", "between 1 and 50 services");
                }
                for (i, s) in services.iter().enumerate() {
                    code(
                        &mut v,
                        &format!("services.{i}.service_group"),
                        &s.service_group,
                    );
                    v.text(&format!("services.{i}.description"), &s.description, 200);
                    quantity(&mut v, &format!("services.{i}.quantity"), s.quantity);
                    price(
                        &mut v,
                        &format!("services.{i}.unit_price"),
                        s.unit_price.as_ref(),
                    );
                }
            }
            CareRecordDetails::ManualEntry {
                service_group,
                description,
                quantity: q,
                unit_price,
                ..
            } => {
                code(&mut v, "service_group", service_group);
                v.text("description", description, 200);
                quantity(&mut v, "quantity", *q);
                price(&mut v, "unit_price", unit_price.as_ref());
            }
            CareRecordDetails::Evaluation {
                level,
                valid_from,
                valid_to,
            } => {
                code(&mut v, "level", level);
                dates(&mut v, "valid_to", *valid_from, *valid_to);
            }
            CareRecordDetails::Gastro {
                service_group,
                description,
                quantity: q,
                unit_price,
                ..
            } => {
                code(&mut v, "service_group", service_group);
                v.text("description", description, 200);
                quantity(&mut v, "quantity", *q);
                price(&mut v, "unit_price", Some(unit_price));
            }
            CareRecordDetails::Ambulatory {
                service_group,
                description,
                quantity: q,
                practitioner,
                ..
            } => {
                code(&mut v, "service_group", service_group);
                v.text("description", description, 200);
                quantity(&mut v, "quantity", *q);
                v.opt_text("practitioner", practitioner.as_deref(), 100);
            }
        }
        v
    }
}

/// A care record as billing sees it: the current version of one record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CareRecord {
    /// Id.
    pub id: String,
    /// The beneficiary (patient).
    pub patient_id: String,
    /// The institution.
    pub location_id: String,
    /// Version, from 1; each change adds one.
    pub version: i64,
    /// A cancelled record no longer counts.
    pub cancelled: bool,
    /// What it holds.
    pub details: CareRecordDetails,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr as _;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::from_str(s).expect("date")
    }

    #[test]
    fn texts_are_trimmed() {
        let stay: CareRecordDetails = serde_json::from_value(serde_json::json!({
            "kind": "stay", "beneficiary_kind": " LTC ", "object_type": "SINGLE\t",
            "room": "  B-204", "entry_date": "2026-09-10", "leaving_date": null
        }))
        .expect("stay");
        let CareRecordDetails::Stay {
            beneficiary_kind,
            object_type,
            room,
            ..
        } = stay.trimmed()
        else {
            panic!("a stay stays a stay");
        };
        assert_eq!(
            (
                beneficiary_kind.as_str(),
                object_type.as_deref(),
                room.as_deref()
            ),
            ("LTC", Some("SINGLE"), Some("B-204"))
        );
    }

    #[test]
    fn kinds_read_as_tagged_objects_and_refuse_unknown_fields() {
        let stay: CareRecordDetails = serde_json::from_value(serde_json::json!({
            "kind": "stay", "beneficiary_kind": "LTC", "object_type": "SINGLE",
            "room": null, "entry_date": "2026-09-10", "leaving_date": null
        }))
        .expect("stay");
        assert_eq!(stay.source(), InvoicingSource::Stay);
        assert_eq!(
            stay.span(),
            OpenSpan {
                from: d("2026-09-10"),
                to: None
            }
        );
        assert!(
            serde_json::from_value::<CareRecordDetails>(serde_json::json!({
                "kind": "stay", "beneficiary_kind": "LTC", "entry_date": "2026-09-10",
                "leaving": "2026-09-12"
            }))
            .is_err()
        );
        assert!(
            serde_json::from_value::<CareRecordDetails>(serde_json::json!({
                "kind": "visit", "date": "2026-09-10"
            }))
            .is_err()
        );
    }

    #[test]
    fn validation_names_each_bad_field() {
        let bad = CareRecordDetails::Contract {
            beneficiary_kind: "has space".to_owned(),
            start_date: d("2026-10-01"),
            end_date: Some(d("2026-09-30")),
            services: vec![ContractService {
                service_group: "LAUNDRY".to_owned(),
                description: String::new(),
                quantity: Decimal::ZERO,
                unit_price: None,
            }],
        };
        let fields: Vec<String> = bad
            .validate()
            .finish()
            .expect_err("invalid")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            [
                "beneficiary_kind",
                "end_date",
                "services.0.description",
                "services.0.quantity"
            ]
        );
    }
}
