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
        }
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
        ] {
            assert!(
                Config::load(None, None, &|k| (k == key).then(|| value.to_owned())).is_err(),
                "{key}={value} is refused"
            );
        }
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
