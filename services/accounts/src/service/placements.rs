//! Placements: a carer placed with a client (a patient, or an organisation that is a payer)
//! for a span of dates, with hourly tariffs per service type, the commission the agency charges
//! the carer, optionally a mediation fee it charges the client, who pays (the client, or a
//! payer such as the budget holder or a care provider), who approves the hours, and whether
//! timesheets run per week or per month. Reads are limited to the caller's locations.

use carebill_domain::agency::{Fee, TimesheetPeriod};
use carebill_domain::events::{HourlyTariff, PartyRef, PatientRef, PlacementTerms};
use carebill_domain::ids::{CarerId, LocationId, PlacementId};
use carebill_domain::{Code, Currency, Money};
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::db::AnyConnection;
use carebill_platform::http::{Page, PageRequest};
use carebill_platform::{Error, ErrorCode, audit, db};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::Connection;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::service::{carers, location_codes, locations, patients, payers, unknown_as_field};
pub use crate::store::placements::PlacementFilter;
use crate::store::placements::{
    self as store, PlacementChanges, PlacementRow, StoredApprover, StoredTariff,
};
use crate::store::{catalog as catalog_store, timesheets as timesheet_store, write_json};

/// The client of a placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Client {
    /// A person: a patient.
    Patient(String),
    /// An organisation (a care provider): a payer.
    Payer(String),
}

/// An hourly tariff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tariff {
    /// Service type (catalog code).
    pub service_type: String,
    /// Rate per hour.
    pub hourly_rate: Money,
}

/// Whom the agency asks to approve hours.
pub type Approver = StoredApprover;

/// A placement as the use cases (and the audit trail) see it.
#[derive(Debug, Clone, Serialize)]
pub struct Placement {
    /// Id.
    pub id: PlacementId,
    /// Unique reference.
    pub reference: String,
    /// The agency.
    pub location_id: LocationId,
    /// Its code.
    pub location_code: String,
    /// The carer.
    pub carer_id: CarerId,
    /// The client.
    pub client: Client,
    /// Who pays, when not the client: a payer's id.
    pub bill_to_payer_id: Option<String>,
    /// First day.
    pub valid_from: NaiveDate,
    /// Last day; open when absent.
    pub valid_to: Option<NaiveDate>,
    /// Week or month timesheets.
    pub period: TimesheetPeriod,
    /// Currency of tariffs and fees (the agency's).
    pub currency: Currency,
    /// Hourly tariffs.
    pub tariffs: Vec<Tariff>,
    /// What the agency charges the carer.
    pub commission: Fee,
    /// What the agency charges the client.
    pub mediation_fee: Option<Fee>,
    /// Who approves the hours.
    pub approver: Approver,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl Placement {
    pub(crate) fn read(r: PlacementRow) -> Result<Placement, Error> {
        let client = match (&r.client_patient_id, &r.client_payer_id) {
            (Some(p), None) => Client::Patient(p.clone()),
            (None, Some(p)) => Client::Payer(p.clone()),
            _ => {
                return Err(Error::internal(&format!(
                    "placement {} has no single client",
                    r.id
                )));
            }
        };
        let tariffs = r
            .tariffs()?
            .into_iter()
            .map(|t| {
                let amount: Decimal = t
                    .hourly_rate
                    .parse()
                    .map_err(|e| Error::internal(&format!("placement {} tariff: {e}", r.id)))?;
                Ok(Tariff {
                    service_type: t.service_type,
                    hourly_rate: Money::new(amount, r.currency)
                        .map_err(|e| Error::internal(&format!("placement {} tariff: {e}", r.id)))?,
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Placement {
            commission: r.commission()?,
            mediation_fee: r.mediation_fee()?,
            approver: r.approver()?,
            tariffs,
            client,
            id: r.id,
            reference: r.reference,
            location_id: r.location_id,
            location_code: r.location_code,
            carer_id: r.carer_id,
            bill_to_payer_id: r.bill_to_payer_id,
            valid_from: r.valid_from,
            valid_to: r.valid_to,
            period: r.period,
            currency: r.currency,
            created_at: r.created_at.and_utc(),
            updated_at: r.updated_at.and_utc(),
        })
    }

    /// Whether hours on `date` fall within the placement.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date <= to)
    }

    /// The tariff of a service type.
    pub fn tariff(&self, service_type: &str) -> Option<&Tariff> {
        self.tariffs.iter().find(|t| t.service_type == service_type)
    }

    /// The terms as events carry them.
    pub fn terms(&self) -> PlacementTerms {
        PlacementTerms {
            placement_id: self.id,
            reference: self.reference.clone(),
            tariffs: self
                .tariffs
                .iter()
                .map(|t| HourlyTariff {
                    service_type: t.service_type.clone(),
                    hourly_rate: t.hourly_rate,
                })
                .collect(),
            commission: self.commission.clone(),
            mediation_fee: self.mediation_fee.clone(),
        }
    }

    /// The client as a party, the patient when the client is a person, and who pays.
    pub fn parties(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<(PartyRef, Option<PatientRef>, PartyRef), Error> {
        let (client, patient) = match &self.client {
            Client::Patient(id) => {
                let p = patients::get(conn, id)?.to_ref();
                let mut party = PartyRef::patient(p.id);
                party.billing.clone_from(&p.billing);
                (party, Some(p))
            }
            Client::Payer(id) => (payer_party(conn, id)?, None),
        };
        let bill_to = match &self.bill_to_payer_id {
            Some(id) => payer_party(conn, id)?,
            None => client.clone(),
        };
        Ok((client, patient, bill_to))
    }
}

fn payer_party(conn: &mut AnyConnection, id: &str) -> Result<PartyRef, Error> {
    let p = payers::get(conn, id)?;
    Ok(PartyRef {
        kind: carebill_domain::events::PartyKind::Payer,
        id: p.id.0,
        payer_code: Some(p.code.clone()),
        payer_kind: Some(p.kind),
        coverage_id: None,
        policy_number: None,
        billing: Some(super::party_billing(&p.name, &p.address, &p.billing)),
    })
}

/// A validated placement to create or replace.
#[derive(Debug, Clone)]
pub struct NewPlacement {
    /// Unique reference.
    pub reference: Code,
    /// The agency (a valid id).
    pub location_id: String,
    /// The carer (a valid id).
    pub carer_id: String,
    /// The client.
    pub client: Client,
    /// Who pays, when not the client.
    pub bill_to_payer_id: Option<String>,
    /// First day.
    pub valid_from: NaiveDate,
    /// Last day.
    pub valid_to: Option<NaiveDate>,
    /// Week or month.
    pub period: TimesheetPeriod,
    /// Tariffs: service type and rate (in the agency's currency).
    pub tariffs: Vec<Tariff>,
    /// Commission.
    pub commission: Fee,
    /// Mediation fee.
    pub mediation_fee: Option<Fee>,
    /// Approver.
    pub approver: Approver,
}

/// The placement with this id, if at a location `scope` allows.
#[tracing::instrument(skip_all, fields(placement_id = %id))]
pub fn get(conn: &mut AnyConnection, scope: &Scope, id: &str) -> Result<Placement, Error> {
    let allowed = location_codes(scope);
    Placement::read(
        store::find(conn, allowed.as_deref(), id)?.ok_or_else(|| Error::not_found("placement"))?,
    )
}

/// Checks what the terms refer to: tariffs in the agency's currency for catalog service types,
/// fees that do not exceed the hours' value.
fn check_terms(
    conn: &mut AnyConnection,
    p: &NewPlacement,
    currency: Currency,
) -> Result<(), Error> {
    let mut v = carebill_domain::Validation::new();
    let codes: Vec<String> = p.tariffs.iter().map(|t| t.service_type.clone()).collect();
    let known: Vec<String> = catalog_store::by_codes(conn, &codes)?
        .into_iter()
        .map(|r| r.code)
        .collect();
    for (i, t) in p.tariffs.iter().enumerate() {
        if t.hourly_rate.currency() != currency {
            v.add(
                format!("tariffs.{i}.hourly_rate.currency"),
                "currency_mismatch",
                format!("the agency invoices in {currency}"),
            );
        }
        if !known.contains(&t.service_type) {
            v.add(
                format!("tariffs.{i}.service_type"),
                "unknown",
                "no catalog item has this code",
            );
        }
    }
    let rates: Vec<Money> = p.tariffs.iter().map(|t| t.hourly_rate).collect();
    if let Err(e) = p.commission.check(&rates) {
        v.add("commission", "invalid", e);
    }
    if let Some(Err(e)) = p.mediation_fee.as_ref().map(|f| f.check(&rates)) {
        v.add("mediation_fee", "invalid", e);
    }
    v.finish().map_err(Error::validation)
}

/// Creates a placement of an active carer of the agency with a known client; the reference
/// must be new.
#[tracing::instrument(skip_all)]
pub fn create(
    conn: &mut AnyConnection,
    who: &Principal,
    p: NewPlacement,
) -> Result<Placement, Error> {
    let scope = Scope::of(who);
    let location = locations::get(conn, &scope, &p.location_id)
        .map_err(|e| unknown_as_field(e, "location_id", "unknown", "no such location"))?;
    if !location.active {
        return Err(Error::field(
            "location_id",
            "inactive",
            "the location is inactive",
        ));
    }
    let carer = carers::get(conn, &scope, &p.carer_id)
        .map_err(|e| unknown_as_field(e, "carer_id", "unknown", "no such carer"))?;
    if carer.location_id != location.id {
        return Err(Error::field(
            "carer_id",
            "other_agency",
            "the carer works through another agency (location)",
        ));
    }
    if !carer.active {
        return Err(Error::field(
            "carer_id",
            "inactive",
            "the carer is inactive",
        ));
    }
    match &p.client {
        Client::Patient(id) => {
            patients::get(conn, id).map_err(|e| {
                unknown_as_field(e, "client.patient_id", "unknown", "no such patient")
            })?;
        }
        Client::Payer(id) => {
            payers::get(conn, id)
                .map_err(|e| unknown_as_field(e, "client.payer_id", "unknown", "no such payer"))?;
        }
    }
    if let Some(id) = &p.bill_to_payer_id {
        payers::get(conn, id)
            .map_err(|e| unknown_as_field(e, "bill_to_payer_id", "unknown", "no such payer"))?;
    }
    check_terms(conn, &p, location.currency)?;
    if store::count_reference(conn, p.reference.as_str())? > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("a placement with reference {} already exists", p.reference),
        ));
    }
    let id = PlacementId::new();
    let now = db::now();
    let (client_patient_id, client_payer_id) = match p.client {
        Client::Patient(id) => (Some(id), None),
        Client::Payer(id) => (None, Some(id)),
    };
    store::insert(
        conn,
        PlacementRow {
            id,
            reference: p.reference.as_str().to_owned(),
            location_id: location.id,
            location_code: location.code.clone(),
            carer_id: carer.id,
            client_patient_id,
            client_payer_id,
            bill_to_payer_id: p.bill_to_payer_id,
            valid_from: p.valid_from,
            valid_to: p.valid_to,
            period: p.period,
            currency: location.currency,
            tariffs: write_json("placement tariffs", &stored_tariffs(&p.tariffs))?,
            commission: write_json("placement commission", &p.commission)?,
            mediation_fee: p
                .mediation_fee
                .as_ref()
                .map(|f| write_json("placement mediation fee", f))
                .transpose()?,
            approver: write_json("placement approver", &p.approver)?,
            created_at: now,
            updated_at: now,
        },
    )?;
    let created = get(conn, &Scope::everything(), &id.to_string())?;
    audit::record(
        conn,
        who,
        "create",
        "placement",
        &id.to_string(),
        serde_json::json!({ "after": created }),
        None,
    )?;
    Ok(created)
}

fn stored_tariffs(tariffs: &[Tariff]) -> Vec<StoredTariff> {
    tariffs
        .iter()
        .map(|t| StoredTariff {
            service_type: t.service_type.clone(),
            hourly_rate: t.hourly_rate.amount_string(),
        })
        .collect()
}

/// Changes a placement's terms: its end, tariffs, fees and approver. Who, with whom, where,
/// from when and per which period cannot change (end it and place again). Hours already
/// approved keep the terms they were approved under.
#[tracing::instrument(skip_all, fields(placement_id = %id))]
pub fn replace(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    p: NewPlacement,
) -> Result<Placement, Error> {
    conn.transaction(|conn| {
        let before = get(conn, &Scope::of(who), id)?;
        let fixed = [
            ("reference", before.reference == p.reference.as_str()),
            (
                "location_id",
                before.location_id.to_string() == p.location_id,
            ),
            ("carer_id", before.carer_id.to_string() == p.carer_id),
            ("client", before.client == p.client),
            (
                "bill_to_payer_id",
                before.bill_to_payer_id == p.bill_to_payer_id,
            ),
            ("valid_from", before.valid_from == p.valid_from),
            ("period", before.period == p.period),
        ];
        let mut v = carebill_domain::Validation::new();
        for (field, same) in fixed {
            if !same {
                v.add(
                    field,
                    "immutable",
                    "cannot change; end the placement and place again",
                );
            }
        }
        v.finish().map_err(Error::validation)?;
        check_terms(conn, &p, before.currency)?;
        if let Some(to) = p.valid_to
            && let Some(last) = timesheet_store::last_date(conn, id)?
            && last > to
        {
            return Err(Error::field(
                "valid_to",
                "hours_after",
                format!("hours are registered up to {last}"),
            ));
        }
        store::update(
            conn,
            id,
            &PlacementChanges {
                valid_to: p.valid_to,
                tariffs: write_json("placement tariffs", &stored_tariffs(&p.tariffs))?,
                commission: write_json("placement commission", &p.commission)?,
                mediation_fee: p
                    .mediation_fee
                    .as_ref()
                    .map(|f| write_json("placement mediation fee", f))
                    .transpose()?,
                approver: write_json("placement approver", &p.approver)?,
                updated_at: db::now(),
            },
        )?;
        let after = get(conn, &Scope::everything(), id)?;
        audit::record(
            conn,
            who,
            "update",
            "placement",
            id,
            serde_json::json!({ "before": before, "after": after }),
            None,
        )?;
        Ok(after)
    })
}

/// A page of the placements in the caller's scope.
#[tracing::instrument(skip_all)]
pub fn list(
    conn: &mut AnyConnection,
    scope: &Scope,
    f: &PlacementFilter,
    page: &PageRequest,
) -> Result<Page<Placement>, Error> {
    let allowed = location_codes(scope);
    let rows = store::page(conn, allowed.as_deref(), f, page)?;
    Page::from_rows(rows, page, |r| r.id.to_string()).try_map(Placement::read)
}
