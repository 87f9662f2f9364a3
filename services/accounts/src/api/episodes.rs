//! Episodes (= accounts) over HTTP: a patient's stay or course of care at a location, the
//! account that consumptions are charged to. Status moves open ⇄ on_hold → closed →
//! (reopened) open, or open/on_hold → cancelled, always with a reason; the history is shown.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::{EpisodeKind, EpisodeStatus};
use carebill_domain::{Code, Validation};
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, Reply, idempotent, parse_id,
};
use carebill_platform::{Error, db};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::service::episodes::{self as service, NewEpisode};

/// A status change in an episode's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusChange {
    /// Previous status (none for the opening).
    pub from: Option<EpisodeStatus>,
    /// New status.
    pub to: EpisodeStatus,
    /// Why.
    pub reason: Option<String>,
    /// Who.
    pub actor: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// An episode as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Episode {
    /// Id.
    pub id: String,
    /// The HIS's encounter or account number, unique per location.
    #[schema(example = "ENC-2026-0001")]
    pub number: String,
    /// The patient.
    pub patient_id: String,
    /// The location.
    pub location_id: String,
    /// Kind of care.
    pub kind: EpisodeKind,
    /// Current status.
    pub status: EpisodeStatus,
    /// Attending practitioner.
    #[schema(example = "DR-ROSSI")]
    pub attending_practitioner: Option<String>,
    /// When care started.
    pub opened_at: DateTime<Utc>,
    /// When it was closed or cancelled.
    pub closed_at: Option<DateTime<Utc>>,
    /// Status history, oldest first.
    pub history: Vec<StatusChange>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What a client sends to open an episode.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EpisodeInput {
    /// Encounter or account number, unique per location.
    #[schema(example = "ENC-2026-0001")]
    #[schema(pattern = r"^\s*[A-Za-z0-9._/-]{1,64}\s*$")]
    pub number: String,
    /// The patient.
    #[schema(format = Uuid)]
    pub patient_id: String,
    /// The location.
    #[schema(format = Uuid)]
    pub location_id: String,
    /// Kind of care.
    pub kind: EpisodeKind,
    /// Attending practitioner (code or id in the HIS).
    #[schema(example = "DR-ROSSI")]
    pub attending_practitioner: Option<String>,
    /// When care started; default now.
    pub opened_at: Option<DateTime<Utc>>,
}

/// A request to change an episode's status.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// The new status.
    pub status: EpisodeStatus,
    /// Why (required).
    #[schema(example = "patient discharged")]
    #[schema(pattern = r"\S", max_length = 500)]
    pub reason: String,
}

impl From<service::StatusChange> for StatusChange {
    fn from(c: service::StatusChange) -> Self {
        StatusChange {
            from: c.from,
            to: c.to,
            reason: c.reason,
            actor: c.actor,
            at: c.at,
        }
    }
}

impl From<service::Episode> for Episode {
    fn from(e: service::Episode) -> Self {
        Episode {
            id: e.id.to_string(),
            number: e.number,
            patient_id: e.patient_id.to_string(),
            location_id: e.location_id.to_string(),
            kind: e.kind,
            status: e.status,
            attending_practitioner: e.attending_practitioner,
            opened_at: e.opened_at,
            closed_at: e.closed_at,
            history: e.history.into_iter().map(Into::into).collect(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

impl EpisodeInput {
    /// Validates every field.
    pub fn validate(self) -> Result<NewEpisode, Error> {
        let mut v = Validation::new();
        let number = v.check("number", "invalid", Code::parse(&self.number));
        if uuid::Uuid::parse_str(&self.patient_id).is_err() {
            v.add("patient_id", "invalid", "must be a patient id");
        }
        if uuid::Uuid::parse_str(&self.location_id).is_err() {
            v.add("location_id", "invalid", "must be a location id");
        }
        let attending = v.opt_text(
            "attending_practitioner",
            self.attending_practitioner.as_deref(),
            100,
        );
        let now = Utc::now();
        let opened_at = self.opened_at.unwrap_or(now);
        v.check(
            "opened_at",
            "out_of_range",
            carebill_domain::accounts::check_performed_at(opened_at, now),
        );
        v.finish().map_err(Error::validation)?;
        match number {
            Some(number) => Ok(NewEpisode {
                number,
                patient_id: self.patient_id,
                location_id: self.location_id,
                kind: self.kind,
                attending,
                opened_at: db::truncate_micros(opened_at.naive_utc()),
            }),
            None => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// Filters for the episode list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EpisodeFilter {
    /// Episodes of this patient.
    pub patient_id: Option<String>,
    /// Episodes at this location.
    pub location_id: Option<String>,
    /// Episodes in this status.
    pub status: Option<EpisodeStatus>,
    /// Episodes of this kind.
    pub kind: Option<EpisodeKind>,
    /// The episode with this number.
    pub number: Option<String>,
}

impl From<EpisodeFilter> for service::EpisodeFilter {
    fn from(f: EpisodeFilter) -> Self {
        service::EpisodeFilter {
            patient_id: f.patient_id,
            location_id: f.location_id,
            status: f.status,
            kind: f.kind,
            number: f.number,
        }
    }
}

const WRITERS: &[Role] = &[Role::BillingManager, Role::Biller, Role::Integration];
const READERS: &[Role] = &[
    Role::BillingManager,
    Role::Biller,
    Role::Auditor,
    Role::Collector,
    Role::Integration,
];

/// Open an episode.
#[utoipa::path(post, path = "/v1/episodes", tag = "episodes", request_body = EpisodeInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retried POST return the first result")),
    responses(
        (status = 201, description = "Opened; emits episode.opened", body = Episode),
        (status = 409, description = "Number taken at this location, or Idempotency-Key reused", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields, unknown patient or location", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn create_episode(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    body: JsonBody<EpisodeInput>,
) -> Result<Reply, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let key = IdempotencyKey::from_request(&req, &who, &body.digest)?;
    let input = body.value.validate()?;
    let reply = state
        .db
        .write(move |conn| {
            idempotent(conn, key.as_ref(), StatusCode::CREATED, |conn| {
                service::create(conn, &who, input).map(Episode::from)
            })
        })
        .await?;
    state.wake.notify_one();
    Ok(reply)
}

/// Change an episode's status (close, hold, reopen, cancel) with a reason.
#[utoipa::path(post, path = "/v1/episodes/{id}/status", tag = "episodes", request_body = StatusInput,
    params(("id" = String, Path, description = "Episode id")),
    responses((status = 200, description = "Changed; emits episode.closed or episode.opened", body = Episode),
        (status = 404, description = "No such episode in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Transition not allowed from the current status", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing reason or unknown status", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn change_episode_status(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<StatusInput>,
) -> Result<web::Json<Episode>, Error> {
    who.require(WRITERS)?;
    let body = body.parse()?;
    let mut v = Validation::new();
    let reason = v.text("reason", &body.value.reason, 500);
    v.finish().map_err(Error::validation)?;
    let reason = reason.unwrap_or_default();
    let to = body.value.status;
    let id: uuid::Uuid = parse_id(&id, "episode")?;
    let e = state
        .db
        .write(move |conn| service::change_status(conn, &who, &id.to_string(), to, &reason))
        .await?;
    state.wake.notify_one();
    Ok(web::Json(e.into()))
}

/// Get an episode with its status history.
#[utoipa::path(get, path = "/v1/episodes/{id}", tag = "episodes",
    params(("id" = String, Path, description = "Episode id")),
    responses((status = 200, description = "The episode", body = Episode),
        (status = 404, description = "No such episode in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_episode(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<Episode>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "episode")?;
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::get(conn, &Scope::of(&who), &id.to_string()))
            .await?
            .into(),
    ))
}

/// List episodes in your scope.
#[utoipa::path(get, path = "/v1/episodes", tag = "episodes", params(EpisodeFilter, PageParams),
    responses((status = 200, description = "A page of episodes", body = Page<Episode>)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn list_episodes(
    state: web::Data<AccountsState>,
    who: Principal,
    filter: web::Query<EpisodeFilter>,
    page: web::Query<PageParams>,
) -> Result<web::Json<Page<Episode>>, Error> {
    who.require(READERS)?;
    let page = page.parse()?;
    let filter = filter.into_inner();
    Ok(web::Json(
        state
            .db
            .read(move |conn| service::list(conn, &Scope::of(&who), &filter.into(), &page))
            .await?
            .map(Episode::from),
    ))
}
