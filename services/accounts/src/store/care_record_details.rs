//! The stored form of a care record's details (JSON in `care_records.details` and
//! `care_record_versions.details`): its own type, so that a change to the domain type or to the
//! API schema never silently changes what is stored. The JSON is the one written so far: a
//! `kind` tag and the kind's fields.

use carebill_domain::money::Money;
use carebill_domain::sources::{AbsenceKind, CareRecordDetails, ContractService};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One service of a contract, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredContractService {
    /// Service group.
    pub service_group: String,
    /// Description.
    pub description: String,
    /// Quantity per billed window.
    pub quantity: Decimal,
    /// Unit price, if manual.
    pub unit_price: Option<Money>,
}

/// A care record's details, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StoredDetails {
    /// A resident's stay.
    Stay {
        /// Beneficiary kind.
        beneficiary_kind: String,
        /// Object type.
        object_type: Option<String>,
        /// Room.
        room: Option<String>,
        /// First day.
        entry_date: NaiveDate,
        /// Last day.
        leaving_date: Option<NaiveDate>,
    },
    /// An absence.
    Absence {
        /// Why.
        reason: AbsenceKind,
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: Option<NaiveDate>,
        /// Whether the first day is a full day.
        start_full_day: Option<bool>,
        /// Whether the last day is a full day.
        end_full_day: Option<bool>,
    },
    /// A contract.
    Contract {
        /// Beneficiary kind.
        beneficiary_kind: String,
        /// First day.
        start_date: NaiveDate,
        /// Last day.
        end_date: Option<NaiveDate>,
        /// Its services.
        services: Vec<StoredContractService>,
    },
    /// A manual entry.
    ManualEntry {
        /// The day.
        date: NaiveDate,
        /// Service group.
        service_group: String,
        /// Description.
        description: String,
        /// Quantity.
        quantity: Decimal,
        /// Unit price, if manual.
        unit_price: Option<Money>,
    },
    /// An evaluation.
    Evaluation {
        /// Level.
        level: String,
        /// First day.
        valid_from: NaiveDate,
        /// Last day.
        valid_to: Option<NaiveDate>,
    },
    /// A gastro line.
    Gastro {
        /// The day.
        date: NaiveDate,
        /// Service group.
        service_group: String,
        /// Description.
        description: String,
        /// Quantity.
        quantity: Decimal,
        /// Unit price.
        unit_price: Money,
    },
    /// An ambulatory line.
    Ambulatory {
        /// The day.
        date: NaiveDate,
        /// Service group.
        service_group: String,
        /// Description.
        description: String,
        /// Quantity.
        quantity: Decimal,
        /// Practitioner.
        practitioner: Option<String>,
    },
}

impl From<ContractService> for StoredContractService {
    fn from(s: ContractService) -> Self {
        StoredContractService {
            service_group: s.service_group,
            description: s.description,
            quantity: s.quantity,
            unit_price: s.unit_price,
        }
    }
}

impl From<StoredContractService> for ContractService {
    fn from(s: StoredContractService) -> Self {
        ContractService {
            service_group: s.service_group,
            description: s.description,
            quantity: s.quantity,
            unit_price: s.unit_price,
        }
    }
}

impl From<CareRecordDetails> for StoredDetails {
    fn from(d: CareRecordDetails) -> Self {
        match d {
            CareRecordDetails::Stay {
                beneficiary_kind,
                object_type,
                room,
                entry_date,
                leaving_date,
            } => StoredDetails::Stay {
                beneficiary_kind,
                object_type,
                room,
                entry_date,
                leaving_date,
            },
            CareRecordDetails::Absence {
                reason,
                from,
                to,
                start_full_day,
                end_full_day,
            } => StoredDetails::Absence {
                reason,
                from,
                to,
                start_full_day,
                end_full_day,
            },
            CareRecordDetails::Contract {
                beneficiary_kind,
                start_date,
                end_date,
                services,
            } => StoredDetails::Contract {
                beneficiary_kind,
                start_date,
                end_date,
                services: services.into_iter().map(Into::into).collect(),
            },
            CareRecordDetails::ManualEntry {
                date,
                service_group,
                description,
                quantity,
                unit_price,
            } => StoredDetails::ManualEntry {
                date,
                service_group,
                description,
                quantity,
                unit_price,
            },
            CareRecordDetails::Evaluation {
                level,
                valid_from,
                valid_to,
            } => StoredDetails::Evaluation {
                level,
                valid_from,
                valid_to,
            },
            CareRecordDetails::Gastro {
                date,
                service_group,
                description,
                quantity,
                unit_price,
            } => StoredDetails::Gastro {
                date,
                service_group,
                description,
                quantity,
                unit_price,
            },
            CareRecordDetails::Ambulatory {
                date,
                service_group,
                description,
                quantity,
                practitioner,
            } => StoredDetails::Ambulatory {
                date,
                service_group,
                description,
                quantity,
                practitioner,
            },
        }
    }
}

impl From<StoredDetails> for CareRecordDetails {
    fn from(d: StoredDetails) -> Self {
        match d {
            StoredDetails::Stay {
                beneficiary_kind,
                object_type,
                room,
                entry_date,
                leaving_date,
            } => CareRecordDetails::Stay {
                beneficiary_kind,
                object_type,
                room,
                entry_date,
                leaving_date,
            },
            StoredDetails::Absence {
                reason,
                from,
                to,
                start_full_day,
                end_full_day,
            } => CareRecordDetails::Absence {
                reason,
                from,
                to,
                start_full_day,
                end_full_day,
            },
            StoredDetails::Contract {
                beneficiary_kind,
                start_date,
                end_date,
                services,
            } => CareRecordDetails::Contract {
                beneficiary_kind,
                start_date,
                end_date,
                services: services.into_iter().map(Into::into).collect(),
            },
            StoredDetails::ManualEntry {
                date,
                service_group,
                description,
                quantity,
                unit_price,
            } => CareRecordDetails::ManualEntry {
                date,
                service_group,
                description,
                quantity,
                unit_price,
            },
            StoredDetails::Evaluation {
                level,
                valid_from,
                valid_to,
            } => CareRecordDetails::Evaluation {
                level,
                valid_from,
                valid_to,
            },
            StoredDetails::Gastro {
                date,
                service_group,
                description,
                quantity,
                unit_price,
            } => CareRecordDetails::Gastro {
                date,
                service_group,
                description,
                quantity,
                unit_price,
            },
            StoredDetails::Ambulatory {
                date,
                service_group,
                description,
                quantity,
                practitioner,
            } => CareRecordDetails::Ambulatory {
                date,
                service_group,
                description,
                quantity,
                practitioner,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_details_are_the_json_written_so_far() {
        let samples = [
            r#"{"kind":"stay","beneficiary_kind":"LTC","object_type":null,"room":"B-204","entry_date":"2026-01-01","leaving_date":null}"#,
            r#"{"kind":"absence","reason":"hospital","from":"2026-01-02","to":"2026-01-05","start_full_day":true,"end_full_day":null}"#,
            r#"{"kind":"contract","beneficiary_kind":"LTC","start_date":"2026-01-01","end_date":null,"services":[{"service_group":"LAUNDRY","description":"Laundry","quantity":"1","unit_price":{"amount":"12.50","currency":"EUR"}}]}"#,
            r#"{"kind":"manual_entry","date":"2026-01-03","service_group":"HAIR","description":"Cut","quantity":"1","unit_price":null}"#,
            r#"{"kind":"evaluation","level":"L3","valid_from":"2026-01-01","valid_to":null}"#,
            r#"{"kind":"gastro","date":"2026-01-03","service_group":"CAFE","description":"Lunch","quantity":"2","unit_price":{"amount":"8.00","currency":"EUR"}}"#,
            r#"{"kind":"ambulatory","date":"2026-01-03","service_group":"HOMECARE","description":"Visit","quantity":"1.5","practitioner":"DR-X"}"#,
        ];
        for sample in samples {
            let domain: CareRecordDetails = serde_json::from_str(sample).expect("domain form");
            let stored = StoredDetails::from(domain.clone());
            assert_eq!(
                serde_json::to_value(&stored).expect("stored json"),
                serde_json::to_value(&domain).expect("domain json"),
                "{sample}"
            );
            let back: StoredDetails = serde_json::from_str(sample).expect("stored form");
            assert_eq!(CareRecordDetails::from(back), domain, "{sample}");
        }
    }
}
