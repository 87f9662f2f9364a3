//! Placements over HTTP: a carer placed with a client, with tariffs, fees, who pays and who
//! approves the hours.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::agency::{Fee, TimesheetPeriod};
use carebill_domain::{Code, Money, Validation};
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::api::carers::{READERS, WRITERS};
use crate::api::check_email;
use crate::service::placements::{self as service, Approver, Client, NewPlacement, Tariff};

/// The client of a placement: a person (a patient) or an organisation (a payer, e.g. a care
/// provider). Exactly one is given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementClient {
    /// The patient, when the client is a person.
    pub patient_id: Option<String>,
    /// The payer, when the client is an organisation.
    pub payer_id: Option<String>,
}

/// The price of an hour of one service type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TariffInput {
    /// The service type: a catalog code (business conditions add evening, weekend and holiday
    /// rates by it).
    #[schema(example = "PERSONAL-CARE")]
    pub service_type: String,
    /// The rate per hour, in the agency's currency.
    pub hourly_rate: Money,
}

/// Who approves the hours: the approval e-mail goes to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproverInput {
    /// Name.
    #[schema(example = "Marloes Jansen")]
    pub name: String,
    /// E-mail address.
    #[schema(example = "marloes.jansen@example.nl")]
    pub email: String,
}

/// A placement as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Placement {
    /// Id.
    pub id: String,
    /// Unique reference.
    #[schema(example = "PL-2026-0107")]
    pub reference: String,
    /// The agency (location).
    pub location_id: String,
    /// The carer.
    pub carer_id: String,
    /// The client.
    pub client: PlacementClient,
    /// Who pays when not the client (a budget holder, a care provider): a payer.
    pub bill_to_payer_id: Option<String>,
    /// First day.
    pub valid_from: NaiveDate,
    /// Last day; open when absent.
    pub valid_to: Option<NaiveDate>,
    /// Timesheets per ISO week or per calendar month.
    pub period: TimesheetPeriod,
    /// Currency of tariffs and fees (the agency's).
    pub currency: String,
    /// Hourly tariffs per service type.
    pub tariffs: Vec<TariffInput>,
    /// What the agency charges the carer: `{"percent": "12.5"}` or `{"per_hour": {amount, currency}}`.
    pub commission: Fee,
    /// What the agency charges the client, if anything.
    pub mediation_fee: Option<Fee>,
    /// Who approves the hours.
    pub approver: ApproverInput,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to create a placement or change its terms.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementInput {
    /// Unique reference; cannot change.
    #[schema(example = "PL-2026-0107")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub reference: String,
    /// The agency (location); cannot change.
    pub location_id: String,
    /// The carer, of that agency; cannot change.
    pub carer_id: String,
    /// The client; cannot change.
    pub client: PlacementClient,
    /// Who pays when not the client (a payer); cannot change.
    pub bill_to_payer_id: Option<String>,
    /// First day; cannot change.
    pub valid_from: NaiveDate,
    /// Last day; open when absent. May change, never before hours already registered.
    pub valid_to: Option<NaiveDate>,
    /// `week` (default) or `month`; cannot change.
    pub period: Option<TimesheetPeriod>,
    /// Hourly tariffs, one per service type (1 to 20).
    pub tariffs: Vec<TariffInput>,
    /// What the agency charges the carer; never above the hours' value.
    pub commission: Fee,
    /// What the agency charges the client, if anything.
    pub mediation_fee: Option<Fee>,
    /// Who approves the hours.
    pub approver: ApproverInput,
}

impl From<service::Placement> for Placement {
    fn from(p: service::Placement) -> Self {
        let client = match p.client {
            Client::Patient(id) => PlacementClient {
                patient_id: Some(id),
                payer_id: None,
            },
            Client::Payer(id) => PlacementClient {
                patient_id: None,
                payer_id: Some(id),
            },
        };
        Placement {
            id: p.id.to_string(),
            reference: p.reference,
            location_id: p.location_id.to_string(),
            carer_id: p.carer_id.to_string(),
            client,
            bill_to_payer_id: p.bill_to_payer_id,
            valid_from: p.valid_from,
            valid_to: p.valid_to,
            period: p.period,
            currency: p.currency.to_string(),
            tariffs: p
                .tariffs
                .into_iter()
                .map(|t| TariffInput {
                    service_type: t.service_type,
                    hourly_rate: t.hourly_rate,
                })
                .collect(),
            commission: p.commission,
            mediation_fee: p.mediation_fee,
            approver: ApproverInput {
                name: p.approver.name,
                email: p.approver.email,
            },
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

fn uuid_field(v: &mut Validation, field: &str, value: &str) -> Option<String> {
    v.check(
        field,
        "invalid",
        value
            .parse::<uuid::Uuid>()
            .map(|u| u.to_string())
            .map_err(|_| "must be an id"),
    )
}

impl PlacementInput {
    /// Validates every field.
    pub fn validate(self) -> Result<NewPlacement, Error> {
        let mut v = Validation::new();
        let reference = v.check("reference", "invalid", Code::parse(&self.reference));
        let location_id = uuid_field(&mut v, "location_id", &self.location_id);
        let carer_id = uuid_field(&mut v, "carer_id", &self.carer_id);
        let client = match (&self.client.patient_id, &self.client.payer_id) {
            (Some(p), None) => uuid_field(&mut v, "client.patient_id", p).map(Client::Patient),
            (None, Some(p)) => uuid_field(&mut v, "client.payer_id", p).map(Client::Payer),
            _ => {
                v.add(
                    "client",
                    "invalid",
                    "give exactly one of patient_id and payer_id",
                );
                None
            }
        };
        let bill_to = self
            .bill_to_payer_id
            .as_deref()
            .map(|p| uuid_field(&mut v, "bill_to_payer_id", p));
        if self.valid_to.is_some_and(|to| to < self.valid_from) {
            v.add("valid_to", "before_start", "must not be before valid_from");
        }
        if self.tariffs.is_empty() || self.tariffs.len() > 20 {
            v.add("tariffs", "invalid", "between 1 and 20 tariffs");
        }
        let mut tariffs = Vec::new();
        for (i, t) in self.tariffs.iter().enumerate() {
            let code = v.check(
                &format!("tariffs.{i}.service_type"),
                "invalid",
                Code::parse(&t.service_type),
            );
            if t.hourly_rate.amount() <= rust_decimal::Decimal::ZERO {
                v.add(
                    format!("tariffs.{i}.hourly_rate"),
                    "not_positive",
                    "must be above zero",
                );
            }
            if let Some(code) = code {
                if tariffs
                    .iter()
                    .any(|x: &Tariff| x.service_type == code.as_str())
                {
                    v.add(
                        format!("tariffs.{i}.service_type"),
                        "duplicate",
                        "one tariff per service type",
                    );
                }
                tariffs.push(Tariff {
                    service_type: code.as_str().to_owned(),
                    hourly_rate: t.hourly_rate,
                });
            }
        }
        let name = v.text("approver.name", &self.approver.name, 200);
        let email = check_email("approver.email", Some(&self.approver.email), &mut v);
        v.finish().map_err(Error::validation)?;
        match (reference, location_id, carer_id, client, name, email) {
            (
                Some(reference),
                Some(location_id),
                Some(carer_id),
                Some(client),
                Some(name),
                Some(email),
            ) => Ok(NewPlacement {
                reference,
                location_id,
                carer_id,
                client,
                bill_to_payer_id: bill_to.flatten(),
                valid_from: self.valid_from,
                valid_to: self.valid_to,
                period: self.period.unwrap_or(TimesheetPeriod::Week),
                tariffs,
                commission: self.commission,
                mediation_fee: self.mediation_fee,
                approver: Approver { name, email },
            }),
            _ => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Filters for the placement list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlacementFilter {
    /// Only this carer's placements.
    pub carer_id: Option<String>,
    /// Only placements with this client (patient or payer id).
    pub client_id: Option<String>,
    /// Only placements that run on this day.
    pub on: Option<NaiveDate>,
}

/// Place a carer with a client.
#[utoipa::path(post, path = "/v1/placements", tag = "agency", request_body = PlacementInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Created", body = Placement),
        (status = 409, description = "Reference taken or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields; unknown carer, client, payer or service type; tariffs in another currency; a fee above the hours' value", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_placement(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<PlacementInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::create(conn, &who, input).map(Placement::from)
            })
        })
        .await
}

/// Change a placement's terms: its end, tariffs, fees and approver.
#[utoipa::path(put, path = "/v1/placements/{id}", tag = "agency", request_body = PlacementInput,
    params(("id" = String, Path, description = "Placement id")),
    responses((status = 200, description = "Updated", body = Placement),
        (status = 404, description = "No such placement in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, a fixed field changed, or an end before registered hours", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn replace_placement(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<PlacementInput>,
) -> Result<web::Json<Placement>, Error> {
    who.require(WRITERS)?;
    let id: uuid::Uuid = parse_id(&id, "placement")?;
    let input = body.parse()?.value.validate()?;
    Ok(web::Json(
        state
            .db
            .write(move |conn| service::replace(conn, &who, &id.to_string(), input))
            .await?
            .into(),
    ))
}

/// Get a placement.
#[utoipa::path(get, path = "/v1/placements/{id}", tag = "agency",
    params(("id" = String, Path, description = "Placement id")),
    responses((status = 200, description = "The placement", body = Placement),
        (status = 404, description = "No such placement in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_placement(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Placement>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "placement")?;
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &scope, &id.to_string()))
            .await?
            .into(),
    ))
}

/// List placements.
#[utoipa::path(get, path = "/v1/placements", tag = "agency", params(PlacementFilter, PageParams),
    responses((status = 200, description = "A page of placements", body = Page<Placement>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_placements(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<PlacementFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Placement>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let f = filter.into_inner();
    let f = service::PlacementFilter {
        carer_id: f.carer_id,
        client_id: f.client_id,
        on: f.on,
    };
    let scope = Scope::of(&who);
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &scope, &f, &page))
            .await?
            .map(Placement::from),
    ))
}
