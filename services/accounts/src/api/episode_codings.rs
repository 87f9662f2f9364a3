//! Episode coding over HTTP: `GET|PUT /v1/episodes/{id}/coding` (each change a new version
//! behind `If-Match`) and `GET /v1/episodes/{id}/coding/versions`.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use carebill_domain::Validation;
use carebill_domain::claim_codes::{Icd10Cm, nubc};
use carebill_domain::events::{AdmissionFacts, CodedDiagnosis, DischargeFacts, EpisodeCoding};
use carebill_domain::ids::PractitionerId;
use carebill_platform::Error;
use carebill_platform::auth::{Principal, Role, Scope};
use carebill_platform::error::Problem;
use carebill_platform::http::{JsonBody, if_match_value, parse_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::AccountsState;
use crate::service::episode_codings::{self as service, Changed};

/// One version of an episode's coding.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodingView {
    /// The episode.
    pub episode_id: String,
    /// 0 before the first coding, then 1, 2, ...
    pub version: i64,
    /// Send as `If-Match` to change the coding (also the `ETag` header).
    #[schema(example = "\"v1\"")]
    pub etag: String,
    /// What the episode is coded as.
    #[serde(flatten)]
    pub coding: EpisodeCoding,
    /// Why it changed.
    pub reason: Option<String>,
    /// Who changed it.
    pub changed_by: Option<String>,
    /// When.
    pub changed_at: Option<DateTime<Utc>>,
}

impl From<service::Coding> for CodingView {
    fn from(c: service::Coding) -> Self {
        CodingView {
            etag: c.etag(),
            episode_id: c.episode_id.to_string(),
            version: c.version,
            coding: c.coding,
            reason: c.reason,
            changed_by: c.changed_by,
            changed_at: c.changed_at,
        }
    }
}

/// Every version of an episode's coding, newest first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CodingVersions {
    /// The versions.
    pub items: Vec<CodingView>,
}

/// A diagnosis as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnosisInput {
    /// ICD-10-CM code, with or without its dot.
    #[schema(example = "J18.9")]
    pub code: String,
    /// `Y`, `N`, `U` or `W` (inpatient and long-term stays only).
    pub present_on_admission: Option<String>,
}

/// How a stay began, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmissionInput {
    /// NUBC priority of admission: `1` emergency, `2` urgent, `3` elective, `4` newborn, `5`
    /// trauma, `9` unknown.
    #[serde(rename = "type")]
    #[schema(example = "1")]
    pub kind: String,
    /// NUBC point of origin: `1`, `2`, `4`, `5`, `6`, `8`, `9`, `D`, `E`, `F` or `G`.
    #[schema(example = "7")]
    pub source: String,
    /// When the patient was admitted.
    pub at: DateTime<Utc>,
}

/// How a stay ended, as sent.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DischargeInput {
    /// NUBC patient discharge status (`01` home, `03` skilled nursing facility, `20` expired,
    /// `30` still a patient ...).
    #[schema(example = "01")]
    pub status: String,
    /// When the patient left.
    pub at: Option<DateTime<Utc>>,
}

/// The whole new coding of an episode.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodingInput {
    /// Diagnoses in order, the principal first; at most 25, none twice.
    #[serde(default)]
    pub diagnoses: Vec<DiagnosisInput>,
    /// The diagnosis on admission (stays only).
    pub admitting_diagnosis: Option<String>,
    /// Reasons for an unscheduled outpatient visit (at most 3).
    #[serde(default)]
    pub reason_for_visit: Vec<String>,
    /// How the stay began (stays only).
    pub admission: Option<AdmissionInput>,
    /// How the stay ended (stays only).
    pub discharge: Option<DischargeInput>,
    /// The attending practitioner (registry id).
    pub attending_practitioner_id: Option<String>,
    /// The referring practitioner (registry id).
    pub referring_practitioner_id: Option<String>,
    /// The operating practitioner (registry id).
    pub operating_practitioner_id: Option<String>,
    /// Why it changed (kept with the version and in the audit trail).
    pub reason: Option<String>,
}

fn diagnosis(field: &str, code: &str, v: &mut Validation) -> Option<String> {
    v.check(field, "invalid", Icd10Cm::parse(code))
        .map(|c| c.as_str().to_owned())
}

fn one_of(field: &str, value: &str, list: &[&str], v: &mut Validation) -> Option<String> {
    let value = value.trim().to_ascii_uppercase();
    if list.contains(&value.as_str()) {
        Some(value)
    } else {
        v.add(
            field,
            "invalid",
            format!("must be one of {}", list.join(", ")),
        );
        None
    }
}

impl CodingInput {
    /// Validates every field; the episode's kind is checked by the use case.
    pub fn validate(self) -> Result<(EpisodeCoding, Option<String>), Error> {
        let mut v = Validation::new();
        if self.diagnoses.len() > 25 {
            v.add("diagnoses", "too_many", "at most 25 diagnoses");
        }
        let mut diagnoses = Vec::with_capacity(self.diagnoses.len());
        for (i, d) in self.diagnoses.iter().enumerate() {
            let code = diagnosis(&format!("diagnoses.{i}.code"), &d.code, &mut v);
            let poa = d.present_on_admission.as_deref().and_then(|p| {
                one_of(
                    &format!("diagnoses.{i}.present_on_admission"),
                    p,
                    nubc::PRESENT_ON_ADMISSION,
                    &mut v,
                )
            });
            if let Some(code) = code {
                if diagnoses.iter().any(|x: &CodedDiagnosis| x.code == code) {
                    v.add(
                        format!("diagnoses.{i}.code"),
                        "duplicate",
                        "each diagnosis once",
                    );
                }
                diagnoses.push(CodedDiagnosis {
                    code,
                    present_on_admission: poa,
                });
            }
        }
        let admitting_diagnosis = self
            .admitting_diagnosis
            .as_deref()
            .and_then(|c| diagnosis("admitting_diagnosis", c, &mut v));
        if self.reason_for_visit.len() > 3 {
            v.add("reason_for_visit", "too_many", "at most 3 reasons");
        }
        let reason_for_visit = self
            .reason_for_visit
            .iter()
            .enumerate()
            .filter_map(|(i, c)| diagnosis(&format!("reason_for_visit.{i}"), c, &mut v))
            .collect();
        let admission = self.admission.as_ref().and_then(|a| {
            let kind = one_of("admission.type", &a.kind, nubc::ADMISSION_TYPES, &mut v);
            let source = one_of(
                "admission.source",
                &a.source,
                nubc::ADMISSION_SOURCES,
                &mut v,
            );
            Some(AdmissionFacts {
                kind: kind?,
                source: source?,
                at: a.at,
            })
        });
        let discharge = self.discharge.as_ref().and_then(|d| {
            if let (Some(admission), Some(at)) = (&self.admission, d.at)
                && at < admission.at
            {
                v.add(
                    "discharge.at",
                    "before_start",
                    "must not be before admission.at",
                );
            }
            Some(DischargeFacts {
                status: one_of(
                    "discharge.status",
                    &d.status,
                    nubc::PATIENT_STATUSES,
                    &mut v,
                )?,
                at: d.at,
            })
        });
        let mut practitioner = |field: &str, id: &Option<String>| {
            id.as_deref().and_then(|id| {
                v.check(
                    field,
                    "invalid",
                    id.trim()
                        .parse::<PractitionerId>()
                        .map_err(|_| "must be a practitioner id"),
                )
            })
        };
        let attending_practitioner_id =
            practitioner("attending_practitioner_id", &self.attending_practitioner_id);
        let referring_practitioner_id =
            practitioner("referring_practitioner_id", &self.referring_practitioner_id);
        let operating_practitioner_id =
            practitioner("operating_practitioner_id", &self.operating_practitioner_id);
        let reason = v.opt_text("reason", self.reason.as_deref(), 300);
        v.finish().map_err(Error::validation)?;
        Ok((
            EpisodeCoding {
                diagnoses,
                admitting_diagnosis,
                reason_for_visit,
                admission,
                discharge,
                attending_practitioner_id,
                referring_practitioner_id,
                operating_practitioner_id,
            },
            reason,
        ))
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

fn with_etag(view: CodingView, status: StatusCode) -> HttpResponse {
    crate::api::with_etag(&view.etag, status, &view)
}

/// An episode's coding: its diagnoses, admission and discharge, practitioners. Version 0,
/// empty, before the first coding.
#[utoipa::path(get, path = "/v1/episodes/{id}/coding", tag = "episodes",
    params(("id" = String, Path, description = "Episode id")),
    responses(
        (status = 200, description = "The current coding", body = CodingView,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 404, description = "No such episode in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn get_coding(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<HttpResponse, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "episode")?;
    let scope = Scope::of(&who);
    let coding = state
        .db
        .read(move |conn| service::get(conn, &scope, &id.to_string()))
        .await?;
    Ok(with_etag(coding.into(), StatusCode::OK))
}

/// Code an episode: the whole new coding, with `If-Match` (`"v0"` before the first). Sending the
/// current coding again changes nothing.
#[utoipa::path(put, path = "/v1/episodes/{id}/coding", tag = "episodes", request_body = CodingInput,
    params(("id" = String, Path, description = "Episode id"),
        ("If-Match" = String, Header, description = "The coding's ETag")),
    responses(
        (status = 200, description = "The new version (emits episode.coded), or the current one when nothing changed", body = CodingView,
            headers(("ETag" = String, description = "Send as If-Match to change it"))),
        (status = 404, description = "No such episode in your scope", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The episode is cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "The coding changed since it was read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid codes, what the episode's kind does not have (an admission on an outpatient visit), an unknown practitioner", body = Problem, content_type = "application/problem+json"),
        (status = 428, description = "If-Match missing", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn change_coding(
    state: web::Data<AccountsState>,
    req: HttpRequest,
    who: Principal,
    id: web::Path<String>,
    body: JsonBody<CodingInput>,
) -> Result<HttpResponse, Error> {
    who.require(WRITERS)?;
    let id: uuid::Uuid = parse_id(&id, "episode")?;
    let (coding, reason) = body.parse()?.value.validate()?;
    let expected = if_match_value(&req);
    let outcome = state
        .db
        .write(move |conn| service::change(conn, &who, &id.to_string(), expected, coding, reason))
        .await?;
    Ok(match outcome {
        Changed::New(c) => {
            state.wake.notify_one();
            with_etag(c.into(), StatusCode::OK)
        }
        Changed::Same(c) => with_etag(c.into(), StatusCode::OK),
    })
}

/// Every version of an episode's coding, newest first.
#[utoipa::path(get, path = "/v1/episodes/{id}/coding/versions", tag = "episodes",
    params(("id" = String, Path, description = "Episode id")),
    responses(
        (status = 200, description = "The versions", body = CodingVersions),
        (status = 404, description = "No such episode in your scope", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn list_coding_versions(
    state: web::Data<AccountsState>,
    who: Principal,
    id: web::Path<String>,
) -> Result<web::Json<CodingVersions>, Error> {
    who.require(READERS)?;
    let id: uuid::Uuid = parse_id(&id, "episode")?;
    let scope = Scope::of(&who);
    let items = state
        .db
        .read(move |conn| service::versions(conn, &scope, &id.to_string()))
        .await?;
    Ok(web::Json(CodingVersions {
        items: items.into_iter().map(Into::into).collect(),
    }))
}
