//! Episodes (= accounts): a patient's stay or course of care at a location, the account that
//! consumptions are charged to. Status moves open ⇄ on_hold → closed → (reopened) open, or
//! open/on_hold → cancelled, always with a reason; the history is kept and shown.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use carebill_domain::accounts::{EpisodeKind, EpisodeStatus};
use carebill_domain::events::{EpisodeClosedV1, EpisodeOpenedV1, EpisodeRef};
use carebill_domain::{Code, Validation};
use carebill_platform::auth::{Principal, Role};
use carebill_platform::db::AnyConnection;
use carebill_platform::error::Problem;
use carebill_platform::http::{
    IdempotencyKey, JsonBody, Page, PageParams, PageRequest, Reply, idempotent, parse_id,
};
use carebill_platform::{Error, ErrorCode};
use carebill_platform::{audit, db};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::common::{emit, scoped_location_ids, unknown_as_field};
use crate::schema::{episode_status_changes, episodes};
use crate::{coverages, locations, patients};

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

/// A validated episode.
#[derive(Debug, Clone)]
pub struct NewEpisode {
    number: Code,
    attending: Option<String>,
    opened_at: NaiveDateTime,
    input: EpisodeInput,
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
                attending,
                opened_at: db::truncate_micros(opened_at.naive_utc()),
                input: self,
            }),
            None => Err(Error::internal(&"validation passed without values")),
        }
    }
}

/// An episode row.
#[derive(Queryable, Selectable, Clone)]
#[diesel(table_name = episodes)]
pub struct Row {
    /// Id.
    pub id: String,
    number: String,
    /// Patient.
    pub patient_id: String,
    /// Location.
    pub location_id: String,
    kind: String,
    status: String,
    attending_practitioner: Option<String>,
    opened_at: NaiveDateTime,
    closed_at: Option<NaiveDateTime>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl Row {
    /// The current status.
    pub fn status(&self) -> EpisodeStatus {
        self.status.parse().unwrap_or(EpisodeStatus::Cancelled)
    }
}

/// Loads an episode row the caller may see.
pub fn find(conn: &mut AnyConnection, who: &Principal, id: &str) -> Result<Row, Error> {
    let row: Row = episodes::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("episode"))?;
    if !locations::in_scope(conn, who, &row.location_id)? {
        return Err(Error::not_found("episode"));
    }
    Ok(row)
}

fn to_view(conn: &mut AnyConnection, r: Row) -> Result<Episode, Error> {
    let history = episode_status_changes::table
        .filter(episode_status_changes::episode_id.eq(&r.id))
        .order(episode_status_changes::id.asc())
        .select((
            episode_status_changes::from_status,
            episode_status_changes::to_status,
            episode_status_changes::reason,
            episode_status_changes::actor,
            episode_status_changes::at,
        ))
        .load::<(
            Option<String>,
            String,
            Option<String>,
            String,
            NaiveDateTime,
        )>(conn)?
        .into_iter()
        .map(|(from, to, reason, actor, at)| StatusChange {
            from: from.and_then(|f| f.parse().ok()),
            to: to.parse().unwrap_or(EpisodeStatus::Cancelled),
            reason,
            actor,
            at: at.and_utc(),
        })
        .collect();
    Ok(Episode {
        status: r.status(),
        kind: r.kind.parse().unwrap_or(EpisodeKind::Outpatient),
        id: r.id,
        number: r.number,
        patient_id: r.patient_id,
        location_id: r.location_id,
        attending_practitioner: r.attending_practitioner,
        opened_at: r.opened_at.and_utc(),
        closed_at: r.closed_at.map(|c| c.and_utc()),
        history,
        created_at: r.created_at.and_utc(),
        updated_at: r.updated_at.and_utc(),
    })
}

/// The episode as event consumers see it: with its location and patient.
pub fn to_ref(conn: &mut AnyConnection, r: &Row) -> Result<EpisodeRef, Error> {
    let unscoped = Principal {
        subject: String::new(),
        roles: Vec::new(),
        locations: None,
        payer: None,
        request_id: None,
    };
    let loc = locations::get(conn, &unscoped, &r.location_id)?;
    let patient = patients::get(conn, &r.patient_id)?;
    Ok(EpisodeRef {
        id: r.id.parse().map_err(|e| Error::internal(&e))?,
        number: r.number.clone(),
        kind: r.kind.parse().unwrap_or(EpisodeKind::Outpatient),
        location: loc.to_ref()?,
        patient: patient.to_ref()?,
        attending_practitioner: r.attending_practitioner.clone(),
    })
}

fn record_change(
    conn: &mut AnyConnection,
    who: &Principal,
    episode_id: &str,
    from: Option<EpisodeStatus>,
    to: EpisodeStatus,
    reason: Option<&str>,
) -> Result<(), Error> {
    diesel::insert_into(episode_status_changes::table)
        .values((
            episode_status_changes::id.eq(uuid::Uuid::now_v7().to_string()),
            episode_status_changes::episode_id.eq(episode_id),
            episode_status_changes::from_status.eq(from.map(|f| f.as_str())),
            episode_status_changes::to_status.eq(to.as_str()),
            episode_status_changes::reason.eq(reason),
            episode_status_changes::actor.eq(&who.subject),
            episode_status_changes::at.eq(db::now()),
        ))
        .execute(conn)?;
    Ok(())
}

fn create(conn: &mut AnyConnection, who: &Principal, e: NewEpisode) -> Result<Episode, Error> {
    let location = locations::get(conn, who, &e.input.location_id)
        .map_err(|e| unknown_as_field(e, "location_id", "unknown", "no such location"))?;
    if !location.active {
        return Err(Error::field(
            "location_id",
            "inactive",
            "the location is inactive",
        ));
    }
    patients::get(conn, &e.input.patient_id)
        .map_err(|e| unknown_as_field(e, "patient_id", "unknown", "no such patient"))?;
    let taken: i64 = episodes::table
        .filter(episodes::location_id.eq(&e.input.location_id))
        .filter(episodes::number.eq(e.number.as_str()))
        .count()
        .get_result(conn)?;
    if taken > 0 {
        return Err(Error::new(
            ErrorCode::AlreadyExists,
            format!("episode {} already exists at {}", e.number, location.code),
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let now = db::now();
    diesel::insert_into(episodes::table)
        .values((
            episodes::id.eq(&id),
            episodes::number.eq(e.number.as_str()),
            episodes::patient_id.eq(&e.input.patient_id),
            episodes::location_id.eq(&e.input.location_id),
            episodes::kind.eq(e.input.kind.as_str()),
            episodes::status.eq(EpisodeStatus::Open.as_str()),
            episodes::attending_practitioner.eq(&e.attending),
            episodes::opened_at.eq(e.opened_at),
            episodes::created_at.eq(now),
            episodes::updated_at.eq(now),
        ))
        .execute(conn)?;
    record_change(conn, who, &id, None, EpisodeStatus::Open, None)?;
    let row = find(conn, who, &id)?;
    let payload = EpisodeOpenedV1 {
        episode: to_ref(conn, &row)?,
        opened_at: row.opened_at.and_utc(),
        coverages: coverages::refs_for_patient(conn, &row.patient_id)?,
        reopened: false,
        reason: None,
    };
    emit(conn, who, &payload)?;
    let view = to_view(conn, row)?;
    audit::record_at(
        conn,
        who,
        &view.location_id,
        "create",
        "episode",
        &id,
        serde_json::json!({ "after": view }),
        None,
    )?;
    Ok(view)
}

fn change_status(
    conn: &mut AnyConnection,
    who: &Principal,
    id: &str,
    to: EpisodeStatus,
    reason: &str,
) -> Result<Episode, Error> {
    let row = find(conn, who, id)?;
    let from = row.status();
    if !from.can_become(to) {
        return Err(Error::new(
            ErrorCode::InvalidTransition,
            format!("an episode cannot go from {from} to {to}"),
        ));
    }
    let now = db::now();
    let closed_at = match to {
        EpisodeStatus::Closed | EpisodeStatus::Cancelled => Some(now),
        _ => None,
    };
    // Only if nobody changed the status since we read it: two concurrent transitions cannot
    // both succeed (the loser's UPDATE waits for the winner, then matches no row).
    let changed = diesel::update(
        episodes::table
            .find(id)
            .filter(episodes::status.eq(from.as_str())),
    )
    .set((
        episodes::status.eq(to.as_str()),
        episodes::closed_at.eq(closed_at),
        episodes::updated_at.eq(now),
    ))
    .execute(conn)?;
    if changed == 0 {
        return Err(Error::new(
            ErrorCode::ConcurrentUpdate,
            "the episode's status changed meanwhile; read it again",
        ));
    }
    record_change(conn, who, id, Some(from), to, Some(reason))?;
    let row = find(conn, who, id)?;
    match to {
        EpisodeStatus::Closed | EpisodeStatus::Cancelled => emit(
            conn,
            who,
            &EpisodeClosedV1 {
                episode_id: id.parse().map_err(|e| Error::internal(&e))?,
                location_id: row.location_id.parse().map_err(|e| Error::internal(&e))?,
                status: to,
                closed_at: now.and_utc(),
                reason: Some(reason.to_owned()),
            },
        )?,
        EpisodeStatus::Open if from == EpisodeStatus::Closed => {
            let payload = EpisodeOpenedV1 {
                episode: to_ref(conn, &row)?,
                opened_at: row.opened_at.and_utc(),
                coverages: coverages::refs_for_patient(conn, &row.patient_id)?,
                reopened: true,
                reason: Some(reason.to_owned()),
            };
            emit(conn, who, &payload)?;
        }
        _ => {}
    }
    audit::record_at(
        conn,
        who,
        &row.location_id,
        "status_change",
        "episode",
        id,
        serde_json::json!({ "from": from, "to": to }),
        Some(reason),
    )?;
    to_view(conn, row)
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

fn list(
    conn: &mut AnyConnection,
    who: &Principal,
    f: &EpisodeFilter,
    page: &PageRequest,
) -> Result<Page<Episode>, Error> {
    let mut q = episodes::table.select(Row::as_select()).into_boxed();
    if let Some(ids) = scoped_location_ids(conn, who)? {
        q = q.filter(episodes::location_id.eq_any(ids));
    }
    if let Some(p) = &f.patient_id {
        q = q.filter(episodes::patient_id.eq(p.clone()));
    }
    if let Some(l) = &f.location_id {
        q = q.filter(episodes::location_id.eq(l.clone()));
    }
    if let Some(s) = f.status {
        q = q.filter(episodes::status.eq(s.as_str()));
    }
    if let Some(k) = f.kind {
        q = q.filter(episodes::kind.eq(k.as_str()));
    }
    if let Some(n) = &f.number {
        q = q.filter(episodes::number.eq(n.clone()));
    }
    if let Some(after) = &page.after {
        q = q.filter(episodes::id.gt(after.clone()));
    }
    let rows = q
        .order(episodes::id.asc())
        .limit(page.limit + 1)
        .load::<Row>(conn)?;
    let page = Page::from_rows(rows, page, |r| r.id.clone());
    let items = page
        .items
        .into_iter()
        .map(|r| to_view(conn, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page {
        items,
        next_cursor: page.next_cursor,
    })
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
                create(conn, &who, input)
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
        .write(move |conn| {
            conn.transaction(|conn| change_status(conn, &who, &id.to_string(), to, &reason))
        })
        .await?;
    state.wake.notify_one();
    Ok(web::Json(e))
}

/// Get an episode with its status history.
#[utoipa::path(get, path = "/v1/episodes/{id}", tag = "episodes",
    params(("id" = String, Path, description = "Episode id")),
    responses((status = 200, description = "The episode", body = Episode),
        (status = 404, description = "No such episode in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
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
            .read(move |conn| {
                let row = find(conn, &who, &id.to_string())?;
                to_view(conn, row)
            })
            .await?,
    ))
}

/// List episodes in your scope.
#[utoipa::path(get, path = "/v1/episodes", tag = "episodes", params(EpisodeFilter, PageParams),
    responses((status = 200, description = "A page of episodes", body = Page<Episode>)),
    security(("bearer" = [])))]
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
            .read(move |conn| list(conn, &who, &filter, &page))
            .await?,
    ))
}
