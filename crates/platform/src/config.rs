//! Configuration: defaults, then an optional TOML file, then environment variables, then
//! command-line flags (applied by the caller). Passed explicitly; there is no global.
//!
//! | setting | file key | environment | default |
//! |---|---|---|---|
//! | listen address | `bind` | `CAREBILL_BIND` | `127.0.0.1:8080` |
//! | data directory (embedded) | `data_dir` | `CAREBILL_DATA_DIR` | `./carebill-data` |
//! | database URL (distributed) | `database.url` | `CAREBILL_<SERVICE>_DATABASE_URL`, then `CAREBILL_DATABASE_URL` | none |
//! | pool size | `database.pool_size` | `CAREBILL_DATABASE_POOL_SIZE` | 10 |
//! | RabbitMQ URL (distributed) | `broker.url` | `CAREBILL_AMQP_URL` | none |
//! | events per published message | `broker.events_per_message` | `CAREBILL_AMQP_EVENTS_PER_MESSAGE` | 100 |
//! | consumers per queue and process | `broker.consumers` | `CAREBILL_AMQP_CONSUMERS` | 2 |
//! | JWT issuer / audience | `auth.issuer`, `auth.audience` | `CAREBILL_JWT_ISSUER`, `CAREBILL_JWT_AUDIENCE` | `carebill` |
//! | HS256 secret | `auth.secret`, `auth.secret_file` | `CAREBILL_JWT_SECRET`, `CAREBILL_JWT_SECRET_FILE` | embedded: `<data_dir>/jwt-secret` |
//! | JWKS URL / algorithms | `auth.jwks_url`, `auth.algorithms` | `CAREBILL_JWKS_URL`, `CAREBILL_JWT_ALGORITHMS` | none / `RS256,ES256` |
//! | log filter / format | `log.level`, `log.format` | `CAREBILL_LOG`, `CAREBILL_LOG_FORMAT` | `info` / `json` |
//! | SMTP server (`smtp://host:port`, `smtps://user:pass@host`, `smtp://host?tls=required`) | `mail.smtp_url` | `CAREBILL_SMTP_URL` | none: no e-mail |
//! | sender of e-mail | `mail.from` | `CAREBILL_MAIL_FROM` | `Carebill <billing@localhost>` |
//! | SMS provider base URL / account / token / sender | `sms.url`, `sms.account`, `sms.token`, `sms.from` | `CAREBILL_SMS_URL`, `CAREBILL_SMS_ACCOUNT`, `CAREBILL_SMS_TOKEN`, `CAREBILL_SMS_FROM` | none: no SMS |
//! | how often due reminders are sent | `reminders.dispatch_interval_secs` | `CAREBILL_REMINDERS_DISPATCH_SECS` | 60 |
//! | how often queued documents are sent | `delivery.dispatch_interval_secs` | `CAREBILL_DELIVERY_DISPATCH_SECS` | 30 |
//! | the public base URL portal links start with | `delivery.portal_url` | `CAREBILL_PORTAL_URL` | `http://127.0.0.1:8080` |
//! | hours a portal link opens its document | `delivery.link_hours` | `CAREBILL_PORTAL_LINK_HOURS` | 168 |
//! | milliseconds between two announcements of settlement changes (dashboards) | `dashboard.publish_interval_ms` | `CAREBILL_DASHBOARD_PUBLISH_MS` | 1000 |
//! | days after a timesheet period a carer is reminded of hours not submitted | `agency.hours_deadline_days` | `CAREBILL_AGENCY_HOURS_DEADLINE_DAYS` | 2 |
//! | days after submission a client is reminded of hours to approve | `agency.approval_reminder_days` | `CAREBILL_AGENCY_APPROVAL_REMINDER_DAYS` | 3 |
//! | how often agency notices are looked for and sent | `agency.dispatch_interval_secs` | `CAREBILL_AGENCY_DISPATCH_SECS` | 60 |
//! | payment provider base URL | `payments.provider_url` | `CAREBILL_PAYMENTS_URL` | none (no payment links) |
//! | payment provider secret API key | `payments.secret_key` | `CAREBILL_PAYMENTS_SECRET_KEY` | none |
//! | payment webhook signing secret | `payments.webhook_secret` | `CAREBILL_PAYMENTS_WEBHOOK_SECRET` | none (webhooks refused) |
//! | where the provider sends a payer after paying / cancelling | `payments.success_url`, `payments.cancel_url` | `CAREBILL_PAYMENTS_SUCCESS_URL`, `CAREBILL_PAYMENTS_CANCEL_URL` | none |
//! | hours a payment link stays payable | `payments.link_hours` | `CAREBILL_PAYMENTS_LINK_HOURS` | 24 |

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A secret that never shows in logs or debug output.
#[derive(Clone, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Database settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// Connection URL (`postgres://...`); embedded mode uses SQLite files in the data directory.
    pub url: Option<Secret>,
    /// Largest number of connections per pool.
    pub pool_size: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            pool_size: 10,
        }
    }
}

/// Broker settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// AMQP URL, e.g. `amqp://guest:guest@127.0.0.1:5672/%2f`.
    pub url: Option<Secret>,
    /// The most events one published message carries (a run of consecutive events of one
    /// type); 1 publishes each event alone, e.g. while consumers of an older version still run.
    pub events_per_message: usize,
    /// Consumers per queue in one process (each its own channel and transactions), like
    /// replicas: one applies its batch while another waits on the database. Events of one
    /// subject may then be applied out of order, which every consumer tolerates.
    pub consumers: usize,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            url: None,
            events_per_message: 100,
            consumers: 2,
        }
    }
}

/// Token verification settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Expected `iss`.
    pub issuer: String,
    /// Expected `aud`.
    pub audience: String,
    /// HS256 shared secret.
    pub secret: Option<Secret>,
    /// File holding the HS256 secret.
    pub secret_file: Option<PathBuf>,
    /// JWKS URL of the identity provider (RS256/ES256).
    pub jwks_url: Option<String>,
    /// Accepted asymmetric algorithms with a JWKS.
    pub algorithms: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: "carebill".to_owned(),
            audience: "carebill".to_owned(),
            secret: None,
            secret_file: None,
            jwks_url: None,
            algorithms: vec!["RS256".to_owned(), "ES256".to_owned()],
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `tracing` filter, e.g. `info` or `carebill_accounts=debug,info`.
    pub level: String,
    /// `json` or `pretty`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_owned(),
            format: "json".to_owned(),
        }
    }
}

/// The online payment provider behind payment links (a Stripe Checkout compatible API; see
/// [`crate::outbound::payments`]). Without `provider_url` and `secret_key` no link can be made;
/// without `webhook_secret` no webhook is accepted.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Base URL of the provider's API, e.g. `https://api.stripe.com` (no trailing `/v1`).
    pub provider_url: Option<String>,
    /// The secret API key sent as the bearer token.
    pub secret_key: Option<Secret>,
    /// The secret the provider signs its webhooks with (`Stripe-Signature`).
    pub webhook_secret: Option<Secret>,
    /// Where the provider sends the payer after paying; `{link_id}` is replaced by the link's
    /// id. A real provider requires it.
    pub success_url: Option<String>,
    /// Where the provider sends a payer who gives up; `{link_id}` as above.
    pub cancel_url: Option<String>,
    /// Hours a new link stays payable (1 to 24, the provider's own limit).
    pub link_hours: u32,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            provider_url: None,
            secret_key: None,
            webhook_secret: None,
            success_url: None,
            cancel_url: None,
            link_hours: 24,
        }
    }
}

/// Outgoing e-mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The SMTP server as a URL (lettre's form: `smtp://host:port` plain, `smtps://` TLS,
    /// `?tls=required` STARTTLS, credentials as `user:password@`); none sends no e-mail.
    pub smtp_url: Option<Secret>,
    /// The sender (`Name <address>`).
    pub from: String,
    /// Seconds one SMTP exchange may take.
    pub timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            smtp_url: None,
            from: "Carebill <billing@localhost>".to_owned(),
            timeout_secs: 20,
        }
    }
}

/// The SMS provider (an HTTP API shaped like Twilio's Messages resource).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// Base URL of the provider's API; none sends no SMS.
    pub url: Option<String>,
    /// The account id (the user of basic authentication).
    pub account: String,
    /// The account's token.
    pub token: Option<Secret>,
    /// The sender number or name.
    pub from: String,
    /// Seconds one request may take.
    pub timeout_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        SmsConfig {
            url: None,
            account: String::new(),
            token: None,
            from: String::new(),
            timeout_secs: 10,
        }
    }
}

/// Payment reminders.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemindersConfig {
    /// Seconds between two looks for reminders due to be sent.
    pub dispatch_interval_secs: u64,
}

impl Default for RemindersConfig {
    fn default() -> Self {
        RemindersConfig {
            dispatch_interval_secs: 60,
        }
    }
}

/// Delivering issued invoices and credit notes by e-mail and portal notices.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Seconds between two looks for documents due to be sent.
    pub dispatch_interval_secs: u64,
    /// The public base URL of the API that portal links in notices start with.
    pub portal_url: String,
    /// Hours a portal link opens its document.
    pub link_hours: u32,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            dispatch_interval_secs: 30,
            portal_url: "http://127.0.0.1:8080".to_owned(),
            link_hours: 168,
        }
    }
}

/// Keeping dashboards current.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DashboardConfig {
    /// Milliseconds between two announcements of settlement changes (`settlement.changed`).
    pub publish_interval_ms: u64,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        DashboardConfig {
            publish_interval_ms: 1000,
        }
    }
}

/// Care agencies' notices: the approval e-mail, and reminders of hours forgotten or waiting.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgencyConfig {
    /// Days after a timesheet period ends by which its hours must be submitted; a carer who
    /// submitted nothing by then gets a reminder (0 to 31).
    pub hours_deadline_days: u32,
    /// Days after submission a client who has not decided gets a reminder (1 to 60).
    pub approval_reminder_days: u32,
    /// Seconds between two looks for notices to queue and send.
    pub dispatch_interval_secs: u64,
}

impl Default for AgencyConfig {
    fn default() -> Self {
        AgencyConfig {
            hours_deadline_days: 2,
            approval_reminder_days: 3,
            dispatch_interval_secs: 60,
        }
    }
}

/// Every setting of a Carebill process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Listen address.
    pub bind: String,
    /// Data directory of the embedded suite.
    pub data_dir: PathBuf,
    /// Database.
    pub database: DatabaseConfig,
    /// Broker.
    pub broker: BrokerConfig,
    /// Tokens.
    pub auth: AuthConfig,
    /// Logs.
    pub log: LogConfig,
    /// Outgoing e-mail.
    pub mail: MailConfig,
    /// Outgoing text messages.
    pub sms: SmsConfig,
    /// Payment reminders.
    pub reminders: RemindersConfig,
    /// Delivering invoices and credit notes.
    pub delivery: DeliveryConfig,
    /// The payment provider of payment links.
    pub payments: PaymentsConfig,
    /// Dashboards.
    pub dashboard: DashboardConfig,
    /// Care agencies' notices.
    pub agency: AgencyConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind: "127.0.0.1:8080".to_owned(),
            data_dir: PathBuf::from("carebill-data"),
            database: DatabaseConfig::default(),
            broker: BrokerConfig::default(),
            auth: AuthConfig::default(),
            log: LogConfig::default(),
            mail: MailConfig::default(),
            sms: SmsConfig::default(),
            reminders: RemindersConfig::default(),
            delivery: DeliveryConfig::default(),
            payments: PaymentsConfig::default(),
            dashboard: DashboardConfig::default(),
            agency: AgencyConfig::default(),
        }
    }
}

impl PaymentsConfig {
    /// Refuses a provider URL that is not HTTP(S), a provider without its secret key, and a
    /// link lifetime the provider would refuse.
    fn check(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.provider_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError(format!(
                "payments.provider_url must be an http:// or https:// URL, not `{url}`"
            )));
        }
        if self.provider_url.is_some() && self.secret_key.is_none() {
            return Err(ConfigError(
                "payments.provider_url is set without payments.secret_key (CAREBILL_PAYMENTS_SECRET_KEY)"
                    .to_owned(),
            ));
        }
        if !(1..=24).contains(&self.link_hours) {
            return Err(ConfigError(
                "payments.link_hours must be between 1 and 24".to_owned(),
            ));
        }
        Ok(())
    }
}

/// A configuration problem, reported before anything starts.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Loads defaults, then `file` if given, then the environment as read by `env`.
    /// `service` selects `CAREBILL_<SERVICE>_DATABASE_URL`.
    pub fn load(
        file: Option<&Path>,
        service: Option<&str>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("reading {}: {e}", path.display())))?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?
            }
            None => Config::default(),
        };
        if let Some(v) = env("CAREBILL_BIND") {
            cfg.bind = v;
        }
        if let Some(v) = env("CAREBILL_DATA_DIR") {
            cfg.data_dir = PathBuf::from(v);
        }
        let service_url =
            service.and_then(|s| env(&format!("CAREBILL_{}_DATABASE_URL", s.to_ascii_uppercase())));
        if let Some(v) = service_url.or_else(|| env("CAREBILL_DATABASE_URL")) {
            cfg.database.url = Some(Secret(v));
        }
        if let Some(v) = env("CAREBILL_DATABASE_POOL_SIZE") {
            cfg.database.pool_size = v.parse().map_err(|_| {
                ConfigError(format!(
                    "CAREBILL_DATABASE_POOL_SIZE: `{v}` is not a number"
                ))
            })?;
        }
        if let Some(v) = env("CAREBILL_AMQP_URL") {
            cfg.broker.url = Some(Secret(v));
        }
        if let Some(v) = env("CAREBILL_AMQP_EVENTS_PER_MESSAGE") {
            cfg.broker.events_per_message = v.parse().map_err(|_| {
                ConfigError(format!(
                    "CAREBILL_AMQP_EVENTS_PER_MESSAGE: `{v}` is not a number"
                ))
            })?;
        }
        if let Some(v) = env("CAREBILL_AMQP_CONSUMERS") {
            cfg.broker.consumers = v.parse().map_err(|_| {
                ConfigError(format!("CAREBILL_AMQP_CONSUMERS: `{v}` is not a number"))
            })?;
        }
        if let Some(v) = env("CAREBILL_JWT_ISSUER") {
            cfg.auth.issuer = v;
        }
        if let Some(v) = env("CAREBILL_JWT_AUDIENCE") {
            cfg.auth.audience = v;
        }
        if let Some(v) = env("CAREBILL_JWT_SECRET") {
            cfg.auth.secret = Some(Secret(v));
        }
        if let Some(v) = env("CAREBILL_JWT_SECRET_FILE") {
            cfg.auth.secret_file = Some(PathBuf::from(v));
        }
        if let Some(v) = env("CAREBILL_JWKS_URL") {
            cfg.auth.jwks_url = Some(v);
        }
        if let Some(v) = env("CAREBILL_JWT_ALGORITHMS") {
            cfg.auth.algorithms = v
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        if let Some(v) = env("CAREBILL_LOG") {
            cfg.log.level = v;
        }
        if let Some(v) = env("CAREBILL_LOG_FORMAT") {
            cfg.log.format = v;
        }
        if let Some(v) = env("CAREBILL_PAYMENTS_URL") {
            cfg.payments.provider_url = Some(v);
        }
        if let Some(v) = env("CAREBILL_PAYMENTS_SECRET_KEY") {
            cfg.payments.secret_key = Some(Secret(v));
        }
        if let Some(v) = env("CAREBILL_PAYMENTS_WEBHOOK_SECRET") {
            cfg.payments.webhook_secret = Some(Secret(v));
        }
        if let Some(v) = env("CAREBILL_PAYMENTS_SUCCESS_URL") {
            cfg.payments.success_url = Some(v);
        }
        if let Some(v) = env("CAREBILL_PAYMENTS_CANCEL_URL") {
            cfg.payments.cancel_url = Some(v);
        }
        if let Some(v) = env("CAREBILL_PAYMENTS_LINK_HOURS") {
            cfg.payments.link_hours = v.parse().map_err(|_| {
                ConfigError(format!(
                    "CAREBILL_PAYMENTS_LINK_HOURS: `{v}` is not a number"
                ))
            })?;
        }
        cfg.payments.check()?;
        if let Some(v) = env("CAREBILL_SMTP_URL") {
            cfg.mail.smtp_url = Some(Secret(v));
        }
        if let Some(v) = env("CAREBILL_MAIL_FROM") {
            cfg.mail.from = v;
        }
        if let Some(v) = env("CAREBILL_SMS_URL") {
            cfg.sms.url = Some(v);
        }
        if let Some(v) = env("CAREBILL_SMS_ACCOUNT") {
            cfg.sms.account = v;
        }
        if let Some(v) = env("CAREBILL_SMS_TOKEN") {
            cfg.sms.token = Some(Secret(v));
        }
        if let Some(v) = env("CAREBILL_SMS_FROM") {
            cfg.sms.from = v;
        }
        if let Some(v) = env("CAREBILL_REMINDERS_DISPATCH_SECS") {
            cfg.reminders.dispatch_interval_secs = v.parse().map_err(|_| {
                ConfigError(format!(
                    "CAREBILL_REMINDERS_DISPATCH_SECS: `{v}` is not a number"
                ))
            })?;
        }
        if let Some(v) = env("CAREBILL_DELIVERY_DISPATCH_SECS") {
            cfg.delivery.dispatch_interval_secs = v.parse().map_err(|_| {
                ConfigError(format!(
                    "CAREBILL_DELIVERY_DISPATCH_SECS: `{v}` is not a number"
                ))
            })?;
        }
        if let Some(v) = env("CAREBILL_PORTAL_URL") {
            cfg.delivery.portal_url = v;
        }
        if let Some(v) = env("CAREBILL_PORTAL_LINK_HOURS") {
            cfg.delivery.link_hours = v.parse().map_err(|_| {
                ConfigError(format!("CAREBILL_PORTAL_LINK_HOURS: `{v}` is not a number"))
            })?;
        }
        if let Some(v) = env("CAREBILL_DASHBOARD_PUBLISH_MS") {
            cfg.dashboard.publish_interval_ms = v.parse().map_err(|_| {
                ConfigError(format!(
                    "CAREBILL_DASHBOARD_PUBLISH_MS: `{v}` is not a number"
                ))
            })?;
        }
        for (name, target) in [
            (
                "CAREBILL_AGENCY_HOURS_DEADLINE_DAYS",
                &mut cfg.agency.hours_deadline_days,
            ),
            (
                "CAREBILL_AGENCY_APPROVAL_REMINDER_DAYS",
                &mut cfg.agency.approval_reminder_days,
            ),
        ] {
            if let Some(v) = env(name) {
                *target = v
                    .parse()
                    .map_err(|_| ConfigError(format!("{name}: `{v}` is not a number")))?;
            }
        }
        if let Some(v) = env("CAREBILL_AGENCY_DISPATCH_SECS") {
            cfg.agency.dispatch_interval_secs = v.parse().map_err(|_| {
                ConfigError(format!(
                    "CAREBILL_AGENCY_DISPATCH_SECS: `{v}` is not a number"
                ))
            })?;
        }
        if cfg.agency.hours_deadline_days > 31 {
            return Err(ConfigError(
                "agency.hours_deadline_days must be between 0 and 31".to_owned(),
            ));
        }
        if !(1..=60).contains(&cfg.agency.approval_reminder_days) {
            return Err(ConfigError(
                "agency.approval_reminder_days must be between 1 and 60".to_owned(),
            ));
        }
        if cfg.agency.dispatch_interval_secs == 0 {
            return Err(ConfigError(
                "agency.dispatch_interval_secs must be at least 1".to_owned(),
            ));
        }
        if !(10..=60_000).contains(&cfg.dashboard.publish_interval_ms) {
            return Err(ConfigError(
                "dashboard.publish_interval_ms must be between 10 and 60000".to_owned(),
            ));
        }
        if cfg.delivery.dispatch_interval_secs == 0 {
            return Err(ConfigError(
                "delivery.dispatch_interval_secs must be at least 1".to_owned(),
            ));
        }
        if !(1..=24 * 90).contains(&cfg.delivery.link_hours) {
            return Err(ConfigError(
                "delivery.link_hours must be between 1 and 2160 (90 days)".to_owned(),
            ));
        }
        let portal = &cfg.delivery.portal_url;
        if !(portal.starts_with("http://") || portal.starts_with("https://")) {
            return Err(ConfigError(format!(
                "delivery.portal_url must be an http:// or https:// URL, not `{portal}`"
            )));
        }
        if cfg.reminders.dispatch_interval_secs == 0 {
            return Err(ConfigError(
                "reminders.dispatch_interval_secs must be at least 1".to_owned(),
            ));
        }
        if cfg.database.pool_size == 0 {
            return Err(ConfigError(
                "database.pool_size must be at least 1".to_owned(),
            ));
        }
        if !(1..=1000).contains(&cfg.broker.events_per_message) {
            return Err(ConfigError(
                "broker.events_per_message must be between 1 and 1000".to_owned(),
            ));
        }
        if !(1..=16).contains(&cfg.broker.consumers) {
            return Err(ConfigError(
                "broker.consumers must be between 1 and 16".to_owned(),
            ));
        }
        if !matches!(cfg.log.format.as_str(), "json" | "pretty") {
            return Err(ConfigError(format!(
                "log.format must be `json` or `pretty`, not `{}`",
                cfg.log.format
            )));
        }
        Ok(cfg)
    }

    /// Reads the process environment.
    pub fn from_process_env(
        file: Option<&Path>,
        service: Option<&str>,
    ) -> Result<Config, ConfigError> {
        Config::load(file, service, &|k| {
            std::env::var(k).ok().filter(|v| !v.is_empty())
        })
    }
}

/// Reads the embedded suite's HS256 secret from `<data_dir>/jwt-secret`, creating it (32 random
/// bytes, base64url, mode 0600) on first use.
pub fn embedded_secret(data_dir: &Path) -> Result<Secret, ConfigError> {
    use base64::Engine as _;
    use rand::RngCore as _;
    let path = data_dir.join("jwt-secret");
    if let Ok(s) = std::fs::read_to_string(&path) {
        let s = s.trim().to_owned();
        if s.len() >= 32 {
            return Ok(Secret(s));
        }
        return Err(ConfigError(format!(
            "{} is shorter than 32 characters",
            path.display()
        )));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| ConfigError(format!("creating {}: {e}", data_dir.display())))?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    // Written whole to a private temporary file, then linked into place: another process
    // never reads a half-written secret, and a crash never leaves an empty one.
    let tmp = data_dir.join(format!(".jwt-secret.{}.tmp", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    use std::io::Write as _;
    opts.open(&tmp)
        .and_then(|mut f| {
            f.write_all(secret.as_bytes())?;
            f.sync_all()
        })
        .map_err(|e| ConfigError(format!("writing {}: {e}", tmp.display())))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(Secret(secret)),
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => embedded_secret(data_dir),
        Err(e) => Err(ConfigError(format!("creating {}: {e}", path.display()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn environment_overrides_file_and_service_url_wins() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("carebill.toml");
        std::fs::write(
            &file,
            "bind = \"0.0.0.0:9000\"\n[database]\nurl = \"postgres://file/db\"\npool_size = 4\n",
        )
        .expect("write");
        let env: HashMap<&str, &str> = HashMap::from([
            ("CAREBILL_DATABASE_URL", "postgres://generic/db"),
            ("CAREBILL_ACCOUNTS_DATABASE_URL", "postgres://accounts/db"),
            ("CAREBILL_AMQP_URL", "amqp://broker"),
            ("CAREBILL_AMQP_EVENTS_PER_MESSAGE", "1"),
        ]);
        let cfg = Config::load(Some(&file), Some("accounts"), &|k| {
            env.get(k).map(|v| (*v).to_owned())
        })
        .expect("load");
        assert_eq!(cfg.bind, "0.0.0.0:9000");
        assert_eq!(cfg.database.pool_size, 4);
        assert_eq!(
            cfg.database.url.as_ref().map(Secret::expose),
            Some("postgres://accounts/db")
        );
        assert_eq!(
            cfg.broker.url.as_ref().map(Secret::expose),
            Some("amqp://broker")
        );
        assert_eq!(cfg.broker.events_per_message, 1);
        assert_eq!(cfg.broker.consumers, 2, "the default");
        assert_eq!(cfg.dashboard.publish_interval_ms, 1000, "the default");
        let fast = Config::load(None, None, &|k| {
            (k == "CAREBILL_DASHBOARD_PUBLISH_MS").then(|| "250".to_owned())
        })
        .expect("load");
        assert_eq!(fast.dashboard.publish_interval_ms, 250);
        assert_eq!(
            (
                cfg.agency.hours_deadline_days,
                cfg.agency.approval_reminder_days
            ),
            (2, 3),
            "the defaults"
        );
        let agency = Config::load(None, None, &|k| {
            (k == "CAREBILL_AGENCY_HOURS_DEADLINE_DAYS").then(|| "0".to_owned())
        })
        .expect("load");
        assert_eq!(agency.agency.hours_deadline_days, 0);
        assert!(
            !format!("{cfg:?}").contains("postgres://accounts"),
            "secrets must not print"
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "bnd = \"x\"\n").expect("write");
        assert!(Config::load(Some(&file), None, &|_| None).is_err());
        assert!(
            Config::load(None, None, &|k| (k == "CAREBILL_LOG_FORMAT")
                .then(|| "xml".to_owned()))
            .is_err()
        );
        for (key, value) in [
            ("CAREBILL_AMQP_EVENTS_PER_MESSAGE", "0"),
            ("CAREBILL_AMQP_EVENTS_PER_MESSAGE", "many"),
            ("CAREBILL_AMQP_CONSUMERS", "17"),
            ("CAREBILL_DASHBOARD_PUBLISH_MS", "0"),
            ("CAREBILL_DASHBOARD_PUBLISH_MS", "60001"),
            ("CAREBILL_DASHBOARD_PUBLISH_MS", "soon"),
            ("CAREBILL_AGENCY_HOURS_DEADLINE_DAYS", "32"),
            ("CAREBILL_AGENCY_APPROVAL_REMINDER_DAYS", "0"),
            ("CAREBILL_AGENCY_DISPATCH_SECS", "0"),
            ("CAREBILL_AGENCY_DISPATCH_SECS", "-1"),
        ] {
            assert!(
                Config::load(None, None, &|k| (k == key).then(|| value.to_owned())).is_err(),
                "{key}={value} is refused"
            );
        }
    }

    #[test]
    fn payments_come_from_the_environment_and_their_secrets_never_print() {
        let env: HashMap<&str, &str> = HashMap::from([
            ("CAREBILL_PAYMENTS_URL", "http://127.0.0.1:9999"),
            ("CAREBILL_PAYMENTS_SECRET_KEY", "sk_test_abc"),
            ("CAREBILL_PAYMENTS_WEBHOOK_SECRET", "whsec_xyz"),
            ("CAREBILL_PAYMENTS_LINK_HOURS", "2"),
        ]);
        let cfg = Config::load(None, None, &|k| env.get(k).map(|v| (*v).to_owned())).expect("load");
        assert_eq!(
            cfg.payments.provider_url.as_deref(),
            Some("http://127.0.0.1:9999")
        );
        assert_eq!(
            cfg.payments.secret_key.as_ref().map(Secret::expose),
            Some("sk_test_abc")
        );
        assert_eq!(cfg.payments.link_hours, 2);
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("sk_test_abc") && !shown.contains("whsec_xyz"));
        for (key, value) in [
            ("CAREBILL_PAYMENTS_URL", "ftp://provider"),
            ("CAREBILL_PAYMENTS_LINK_HOURS", "25"),
        ] {
            let bad = |k: &str| {
                if k == key {
                    Some(value.to_owned())
                } else {
                    env.get(k).map(|v| (*v).to_owned())
                }
            };
            assert!(Config::load(None, None, &bad).is_err(), "{key}={value}");
        }
        let no_key = |k: &str| (k == "CAREBILL_PAYMENTS_URL").then(|| "http://p".to_owned());
        assert!(
            Config::load(None, None, &no_key).is_err(),
            "a provider without its key is refused"
        );
    }

    #[test]
    fn embedded_secret_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = embedded_secret(dir.path()).expect("create");
        let b = embedded_secret(dir.path()).expect("read");
        assert_eq!(a.expose(), b.expose());
        assert!(a.expose().len() >= 32);
    }
}
