//! Authentication and authorisation: JWT bearer tokens, roles, location and payer scope.
//!
//! Two key sources: an HS256 shared secret (the embedded default, generated into the data
//! directory on first run) or an identity provider's JWKS URL with RS256/ES256 keys. Issuer,
//! audience, expiry and algorithm are always checked; `alg: none` never verifies.
//!
//! Settings read: `auth.issuer`, `auth.audience`, `auth.secret`/`auth.secret_file`,
//! `auth.jwks_url`, `auth.algorithms` (see [`crate::config`]).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures::future::LocalBoxFuture;
pub use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::error::Error;

/// What a user may do. A token may carry several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including configuration.
    Admin,
    /// Master data, prices, rules, all billing work.
    BillingManager,
    /// Day-to-day billing: consumptions, settlements in review.
    Biller,
    /// Medical audit: observes and approves settlements.
    Auditor,
    /// Payments, reminders, remittances.
    Collector,
    /// A clinical system pushing data (HIS).
    Integration,
    /// A payer's portal user: sees only its own payer's documents.
    Payer,
    /// A patient (or client) at the portal: sees only the documents addressed to them.
    Patient,
    /// A freelance carer of a care agency: registers and submits their own hours only.
    Carer,
}

impl Role {
    /// Every role.
    pub const ALL: &'static [Role] = &[
        Role::Admin,
        Role::BillingManager,
        Role::Biller,
        Role::Auditor,
        Role::Collector,
        Role::Integration,
        Role::Payer,
        Role::Patient,
        Role::Carer,
    ];

    /// The wire form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::BillingManager => "billing_manager",
            Role::Biller => "biller",
            Role::Auditor => "auditor",
            Role::Collector => "collector",
            Role::Integration => "integration",
            Role::Payer => "payer",
            Role::Patient => "patient",
            Role::Carer => "carer",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .iter()
            .find(|r| r.as_str() == s)
            .copied()
            .ok_or_else(|| format!("unknown role `{s}`"))
    }
}

/// The claims Carebill reads from a token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Who (user or system id).
    pub sub: String,
    /// Issuer.
    pub iss: String,
    /// Audience.
    #[serde(deserialize_with = "one_audience")]
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    #[serde(default)]
    pub iat: i64,
    /// Roles; unknown names are ignored.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Location codes the user is limited to; absent means every location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locations: Option<Vec<String>>,
    /// For payer tokens: the payer code the user acts for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// For patient tokens: the patient's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// For carer tokens: the carer's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carer: Option<String>,
}

/// Reads `aud` as a string or, as many identity providers send it, a list (whose membership
/// the verifier has already checked); keeps the first.
fn one_audience<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    match Aud::deserialize(d)? {
        Aud::One(a) => Ok(a),
        Aud::Many(v) => v
            .into_iter()
            .next()
            .ok_or_else(|| serde::de::Error::custom("empty aud")),
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Subject.
    pub subject: String,
    /// Known roles.
    pub roles: Vec<Role>,
    /// Location codes in scope; `None` means all.
    pub locations: Option<Vec<String>>,
    /// Payer code for payer users.
    pub payer: Option<String>,
    /// Patient id for patient users.
    pub patient: Option<String>,
    /// Carer id for carer users.
    pub carer: Option<String>,
    /// The request id, for the audit trail.
    pub request_id: Option<String>,
}

impl Principal {
    /// The actor the audit trail names for what a service does by itself or on an event (no
    /// roles, no scope): `subject` says which, `request_id` the request or event it follows.
    pub fn system(subject: impl Into<String>, request_id: Option<String>) -> Principal {
        Principal {
            subject: subject.into(),
            roles: Vec::new(),
            locations: None,
            payer: None,
            patient: None,
            carer: None,
            request_id,
        }
    }

    /// Whether the caller has any of `roles` (admin always does).
    pub fn has_any(&self, roles: &[Role]) -> bool {
        self.roles
            .iter()
            .any(|r| *r == Role::Admin || roles.contains(r))
    }

    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), Error> {
        if self.has_any(roles) {
            Ok(())
        } else {
            let names: Vec<&str> = roles.iter().map(Role::as_str).collect();
            Err(Error::forbidden(format!(
                "requires one of the roles: admin, {}",
                names.join(", ")
            )))
        }
    }

    /// Refuses a caller limited to some locations: for what is organisation-wide (`what`
    /// names it, e.g. "coverage terms are organisation-wide").
    pub fn require_unscoped(&self, what: &str) -> Result<(), Error> {
        if self.locations.is_some() {
            return Err(Error::forbidden(format!(
                "{what}; a user limited to some locations cannot change them"
            )));
        }
        Ok(())
    }

    /// Whether a location code is in the caller's scope.
    pub fn sees_location(&self, code: &str) -> bool {
        self.locations
            .as_ref()
            .is_none_or(|l| l.iter().any(|c| c == code))
    }

    /// Roles as a comma-separated string, for the audit trail.
    pub fn roles_text(&self) -> String {
        self.roles
            .iter()
            .map(Role::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What records a caller may see: the one scope filter of every list and get.
///
/// A caller limited to some locations sees only their records. A caller with the `payer` role
/// or a `payer` claim (a payer's portal user), unless admin, sees only records addressed to its
/// payer, and nothing without a payer claim. A caller with the `patient` role (a patient or
/// client at the portal) sees only the documents addressed to them, where a store says which
/// (`scoped!` with the recipient columns), and nothing anywhere else. Anything outside the scope
/// is answered as if it did not exist (404, or absent from a list). Store queries apply it with
/// [`crate::scoped!`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Location codes; `None` for every location.
    pub locations: Option<Vec<String>>,
    /// The payer code records must be addressed to; `None` for every recipient. Never empty
    /// text for a real payer, so a payer user without a claim matches nothing. A patient user
    /// has the empty payer: it matches no payer's record.
    pub payer: Option<String>,
    /// The patient whose documents alone a patient user sees (empty without a claim: none).
    pub patient: Option<String>,
}

impl Scope {
    /// Everything: for the service's own work (event consumers), never for a caller.
    pub fn everything() -> Scope {
        Scope::default()
    }

    /// The caller's scope.
    pub fn of(who: &Principal) -> Scope {
        let is_admin = who.roles.contains(&Role::Admin);
        let patient = (!is_admin && (who.roles.contains(&Role::Patient) || who.patient.is_some()))
            .then(|| who.patient.clone().unwrap_or_default());
        let payer = if patient.is_some() {
            Some(String::new())
        } else {
            (!is_admin && (who.roles.contains(&Role::Payer) || who.payer.is_some()))
                .then(|| who.payer.clone().unwrap_or_default())
        };
        Scope {
            locations: who.locations.clone(),
            payer,
            patient,
        }
    }

    /// Whether a location code is in scope.
    pub fn allows_location(&self, code: &str) -> bool {
        self.locations
            .as_ref()
            .is_none_or(|l| l.iter().any(|c| c == code))
    }

    /// Whether a record of this location, addressed to this payer (or to none), is visible.
    pub fn allows(&self, location_code: &str, payer_code: Option<&str>) -> bool {
        let payer_ok = self.payer.as_deref().is_none_or(|p| payer_code == Some(p));
        self.allows_location(location_code) && payer_ok
    }

    /// Whether the caller is limited to one payer's records.
    pub fn is_payer_limited(&self) -> bool {
        self.payer.is_some()
    }
}

/// Filters a boxed diesel query by a [`Scope`]: `scoped!(query, scope, location_code_column)`
/// for records of a location, `scoped!(query, scope, location_code_column, payer_code_column)`
/// for records that are also addressed to a payer, and with the recipient kind and patient
/// columns after those for documents a patient may see. Records without a payer column are
/// invisible to a payer- or patient-limited caller.
#[macro_export]
macro_rules! scoped {
    ($query:expr, $scope:expr, $location:expr) => {{
        let scope: &$crate::auth::Scope = $scope;
        let mut q = $query;
        if let Some(codes) = &scope.locations {
            q = q.filter($location.eq_any(codes.clone()));
        }
        if scope.is_payer_limited() {
            // A record of no payer is never a payer's.
            q = q.filter($location.ne($location));
        }
        q
    }};
    ($query:expr, $scope:expr, $location:expr, $payer:expr) => {{
        let scope: &$crate::auth::Scope = $scope;
        let mut q = $query;
        if let Some(codes) = &scope.locations {
            q = q.filter($location.eq_any(codes.clone()));
        }
        if let Some(p) = &scope.payer {
            q = q.filter($payer.eq(p.clone()));
        }
        q
    }};
    ($query:expr, $scope:expr, $location:expr, $payer:expr, $recipient_kind:expr, $patient:expr) => {{
        let scope: &$crate::auth::Scope = $scope;
        let mut q = $query;
        if let Some(codes) = &scope.locations {
            q = q.filter($location.eq_any(codes.clone()));
        }
        if let Some(p) = &scope.patient {
            q = q
                .filter($recipient_kind.eq("patient"))
                .filter($patient.eq(p.clone()));
        } else if let Some(p) = &scope.payer {
            q = q.filter($payer.eq(p.clone()));
        }
        q
    }};
}

/// Where verification keys come from.
enum KeySource {
    Secret(DecodingKey),
    Jwks {
        url: String,
        client: reqwest::Client,
        cache: RwLock<JwksCache>,
    },
}

struct JwksCache {
    keys: HashMap<String, (DecodingKey, Algorithm)>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

/// How long fetched JWKS keys are trusted before a refetch.
const JWKS_TTL: Duration = Duration::from_secs(600);
/// Shortest interval between refetches triggered by an unknown `kid`.
const JWKS_MIN_REFRESH: Duration = Duration::from_secs(10);

/// Verifies tokens. Shared by every request through `web::Data`.
pub struct Authenticator {
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    source: KeySource,
}

impl Authenticator {
    /// HS256 with a shared secret.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> Self {
        Authenticator {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            algorithms: vec![Algorithm::HS256],
            source: KeySource::Secret(DecodingKey::from_secret(secret)),
        }
    }

    /// Keys from a JWKS URL, accepting the listed asymmetric algorithms.
    pub fn jwks(
        url: &str,
        algorithms: Vec<Algorithm>,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, String> {
        if algorithms.is_empty()
            || algorithms
                .iter()
                .any(|a| matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
        {
            return Err(
                "JWKS verification needs asymmetric algorithms (RS256, ES256, ...)".to_owned(),
            );
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Authenticator {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            algorithms,
            source: KeySource::Jwks {
                url: url.to_owned(),
                client,
                cache: RwLock::new(JwksCache {
                    keys: HashMap::new(),
                    fetched: None,
                    attempted: None,
                }),
            },
        })
    }

    /// Verifies a compact JWT and returns its caller.
    pub async fn verify(&self, token: &str) -> Result<Principal, Error> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| Error::unauthorized(format!("malformed token: {e}")))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(Error::unauthorized(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let key = match &self.source {
            KeySource::Secret(key) => key.clone(),
            KeySource::Jwks { url, client, cache } => {
                let kid = header
                    .kid
                    .clone()
                    .ok_or_else(|| Error::unauthorized("token has no key id (kid)"))?;
                jwks_key(url, client, cache, &kid, header.alg).await?
            }
        };
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| Error::unauthorized(format!("invalid token: {e}")))?;
        let c = data.claims;
        Ok(Principal {
            subject: c.sub,
            roles: c.roles.iter().filter_map(|r| r.parse().ok()).collect(),
            locations: c.locations,
            payer: c.payer,
            patient: c.patient,
            carer: c.carer,
            request_id: None,
        })
    }
}

fn lookup(c: &JwksCache, kid: &str, alg: Algorithm) -> Result<DecodingKey, Error> {
    match c.keys.get(kid) {
        Some((key, key_alg)) if *key_alg == alg => Ok(key.clone()),
        Some(_) => Err(Error::unauthorized(
            "token algorithm does not match its key",
        )),
        None => Err(Error::unauthorized("unknown key id")),
    }
}

/// The key for `kid`: from the cache while fresh; otherwise refetched, by one request at a
/// time and at most every [`JWKS_MIN_REFRESH`]. When the identity provider cannot be reached
/// the keys already known stay in use, so an outage of the provider is not an outage here.
async fn jwks_key(
    url: &str,
    client: &reqwest::Client,
    cache: &RwLock<JwksCache>,
    kid: &str,
    alg: Algorithm,
) -> Result<DecodingKey, Error> {
    {
        let c = cache.read().await;
        let fresh = c.fetched.is_some_and(|t| t.elapsed() < JWKS_TTL);
        let tried_recently = c.attempted.is_some_and(|t| t.elapsed() < JWKS_MIN_REFRESH);
        if (fresh && c.keys.contains_key(kid)) || tried_recently {
            return lookup(&c, kid, alg);
        }
    }
    let mut c = cache.write().await;
    // Another request may have refreshed while this one waited for the lock.
    if c.attempted.is_some_and(|t| t.elapsed() < JWKS_MIN_REFRESH) {
        return lookup(&c, kid, alg);
    }
    c.attempted = Some(Instant::now());
    let fetched: Result<JwkSet, reqwest::Error> = async {
        client
            .get(url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
    .await;
    match fetched {
        Ok(set) => {
            c.keys.clear();
            for jwk in &set.keys {
                let (Some(id), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
                else {
                    continue;
                };
                let key_alg = jwk
                    .common
                    .key_algorithm
                    .and_then(|a| Algorithm::from_str(&a.to_string()).ok())
                    .unwrap_or(match &jwk.algorithm {
                        jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => {
                            Algorithm::ES256
                        }
                        _ => Algorithm::RS256,
                    });
                c.keys.insert(id, (key, key_alg));
            }
            c.fetched = Some(Instant::now());
        }
        Err(e) if c.keys.is_empty() => return Err(Error::unavailable(&e)),
        Err(e) => tracing::warn!(error = %e, "JWKS refresh failed; keeping the keys already known"),
    }
    lookup(&c, kid, alg)
}

/// Mints an HS256 token (the `carebill token` command and tests).
pub fn mint_hs256(secret: &[u8], claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
}

/// The request id assigned by [`crate::http::RequestId`], if any.
pub fn request_id(req: &HttpRequest) -> Option<String> {
    req.extensions()
        .get::<crate::http::RequestIdValue>()
        .map(|r| r.0.clone())
}

impl FromRequest for Principal {
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let auth = req.app_data::<web::Data<Authenticator>>().cloned();
        let header = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let request_id = request_id(req);
        Box::pin(async move {
            let auth: Arc<Authenticator> = auth
                .ok_or_else(|| Error::internal(&"authenticator not configured"))?
                .into_inner();
            let header = header.ok_or_else(|| Error::unauthorized("missing bearer token"))?;
            let token = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .ok_or_else(|| Error::unauthorized("authorization must be a bearer token"))?;
            let mut principal = auth.verify(token.trim()).await?;
            principal.request_id = request_id;
            Ok(principal)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64, aud: &str) -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            sub: "u1".into(),
            iss: "carebill".into(),
            aud: aud.into(),
            exp: now + exp_in,
            iat: now,
            roles: vec!["biller".into(), "astronaut".into()],
            locations: Some(vec!["H1".into()]),
            payer: None,
            patient: None,
            carer: None,
        }
    }

    #[tokio::test]
    async fn accepts_a_good_token_and_ignores_unknown_roles() {
        let auth = Authenticator::hs256(b"s3cret", "carebill", "carebill");
        let token = mint_hs256(b"s3cret", &claims(60, "carebill")).expect("mint");
        let p = auth.verify(&token).await.expect("valid");
        assert_eq!(p.roles, vec![Role::Biller]);
        assert!(p.sees_location("H1"));
        assert!(!p.sees_location("H2"));
        assert!(p.require(&[Role::Auditor]).is_err());
        assert!(p.require(&[Role::Biller]).is_ok());
    }

    #[tokio::test]
    async fn rejects_bad_signature_expiry_audience_and_alg_none() {
        let auth = Authenticator::hs256(b"s3cret", "carebill", "carebill");
        let wrong_key = mint_hs256(b"other", &claims(60, "carebill")).expect("mint");
        let expired = mint_hs256(b"s3cret", &claims(-3600, "carebill")).expect("mint");
        let wrong_aud = mint_hs256(b"s3cret", &claims(60, "elsewhere")).expect("mint");
        // An unsigned token: header {"alg":"none"}.
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let none = format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(serde_json::to_vec(&claims(60, "carebill")).expect("json"))
        );
        for token in [wrong_key, expired, wrong_aud, none, "garbage".to_owned()] {
            let err = auth.verify(&token).await.expect_err("must be rejected");
            assert_eq!(err.problem().status, 401, "{token}");
        }
    }
}
