//! The `carebill` command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use carebill_platform::auth::{Claims, Role, mint_hs256};
use carebill_platform::config::{Config, embedded_secret};
use clap::{Args, Parser, Subcommand};

/// Carebill: healthcare billing back office.
#[derive(Debug, Parser)]
#[command(name = "carebill", version, about)]
pub struct Cli {
    /// TOML configuration file (settings in docs/operations/configuration.md, overridden by
    /// CAREBILL_* variables).
    #[arg(long, global = true, env = "CAREBILL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Common {
    /// Data directory of the embedded suite (SQLite files, JWT secret).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the embedded suite, or one service with --service.
    Serve {
        #[command(flatten)]
        common: Common,
        /// Listen address (default 127.0.0.1:8080).
        #[arg(long)]
        bind: Option<String>,
        /// Run only this service, on PostgreSQL and RabbitMQ.
        #[arg(long)]
        service: Option<String>,
    },
    /// Print a signed token (HS256) that the suite on this data directory accepts.
    Token {
        #[command(flatten)]
        common: Common,
        /// Role(s): admin, billing_manager, biller, auditor, collector, integration, payer,
        /// patient, carer.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Limit the token to these location codes (repeatable); default all locations.
        #[arg(long = "location")]
        locations: Vec<String>,
        /// For payer tokens: the payer code.
        #[arg(long)]
        payer: Option<String>,
        /// For patient tokens: the patient's id.
        #[arg(long)]
        patient: Option<String>,
        /// For carer tokens: the carer's id.
        #[arg(long)]
        carer: Option<String>,
        /// Lifetime: e.g. 3600, 90s, 30m, 12h, 7d (default 12h).
        #[arg(long, default_value = "12h")]
        ttl: String,
        /// Subject (user or system id); default `carebill-cli/<roles>`, so that tokens of
        /// different roles stand for different people (the sender to audit cannot approve).
        #[arg(long)]
        subject: Option<String>,
    },
    /// Apply database migrations (embedded: every service's SQLite file; --service: its PostgreSQL database and broker topology).
    Migrate {
        #[command(flatten)]
        common: Common,
        /// Migrate only this service's PostgreSQL database.
        #[arg(long)]
        service: Option<String>,
    },
    /// Announce accounts' master data again: the current `*.changed` event of every location,
    /// payer, practitioner, catalog item, patient and coded episode, through the outbox, for
    /// services that keep copies (after an upgrade that added one, or a restore). Embedded: the
    /// SQLite file in --data-dir; distributed: accounts' database (CAREBILL_DATABASE_URL).
    Announce {
        #[command(flatten)]
        common: Common,
        /// Only these kinds, comma-separated: locations, payers, practitioners, catalog,
        /// patients, codings, coverages (default all).
        #[arg(long)]
        what: Option<String>,
    },
    /// Print the suite's OpenAPI 3.1 document.
    Openapi,
    /// Print the error reference (every stable error code with its status), as Markdown.
    Errors,
    /// Write one JSON Schema per event type into a directory (the events' contract).
    EventSchemas {
        /// Where to write them (created if missing; existing schemas are replaced).
        #[arg(default_value = "event-schemas")]
        dir: PathBuf,
    },
    /// Ask a running service whether it is ready (exit status 0) or not (1): a health check
    /// for container runtimes without curl in the image.
    Probe {
        /// host:port to ask; default the configured listen address (0.0.0.0 asked as 127.0.0.1).
        #[arg(long)]
        address: Option<String>,
        /// Path to ask.
        #[arg(long, default_value = "/health/ready")]
        path: String,
    },
    /// List the events a service's consumer could not apply (one JSON line each), or re-drive
    /// them once the cause is fixed: back to its RabbitMQ queue (with CAREBILL_AMQP_URL), or in
    /// the embedded suite applied again from the service's SQLite file (with --data-dir).
    DeadLetters {
        #[command(flatten)]
        common: Common,
        /// The consuming service.
        #[arg(long)]
        service: String,
        /// Move them back to the service's queue instead of listing them.
        #[arg(long)]
        redrive: bool,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// Parses `3600`, `90s`, `30m`, `12h`, `7d`.
pub fn parse_ttl(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow!("bad --ttl `{s}`: use e.g. 3600, 90s, 30m, 12h, 7d"))?;
    let unit_secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("bad --ttl `{s}`: use e.g. 3600, 90s, 30m, 12h, 7d"),
    };
    let secs = n.saturating_mul(unit_secs);
    if secs == 0 || secs > 366 * 86_400 {
        bail!("--ttl must be between 1 second and 366 days");
    }
    Ok(Duration::from_secs(secs))
}

/// One plain HTTP/1.1 GET; returns the status code.
fn probe(address: &str, path: &str) -> anyhow::Result<u16> {
    use std::io::{Read as _, Write as _};
    use std::net::ToSocketAddrs as _;
    let timeout = Duration::from_secs(3);
    let addr = address
        .to_socket_addrs()
        .with_context(|| format!("resolving {address}"))?
        .next()
        .ok_or_else(|| anyhow!("{address} resolves to nothing"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("{address} did not answer HTTP"))
}

fn load(
    config: Option<&PathBuf>,
    service: Option<&str>,
    common: &Common,
) -> anyhow::Result<Config> {
    let mut cfg = Config::from_process_env(config.map(PathBuf::as_path), service)?;
    if let Some(d) = &common.data_dir {
        cfg.data_dir = d.clone();
    }
    Ok(cfg)
}

/// Runs the command line.
pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            print!("{}", crate::openapi::json());
            Ok(())
        }
        Command::EventSchemas { dir } => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for (name, text) in crate::event_schemas::files() {
                let path = dir.join(&name);
                std::fs::write(&path, text)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            Ok(())
        }
        Command::Errors => {
            print!("{}", carebill_platform::ErrorCode::reference());
            Ok(())
        }
        Command::Probe { address, path } => {
            let address = match address {
                Some(a) => a,
                None => load(cli.config.as_ref(), None, &Common { data_dir: None })?
                    .bind
                    .replace("0.0.0.0", "127.0.0.1")
                    .replace("[::]", "[::1]"),
            };
            let status = probe(&address, &path)?;
            println!("{address}{path}: {status}");
            if status != 200 {
                bail!("not ready (HTTP {status})");
            }
            Ok(())
        }
        Command::Token {
            common,
            roles,
            locations,
            payer,
            patient,
            carer,
            ttl,
            subject,
        } => {
            let cfg = load(cli.config.as_ref(), None, &common)?;
            let roles = roles
                .iter()
                .map(|r| r.parse::<Role>().map_err(|e| anyhow!(e)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if roles.contains(&Role::Payer) && payer.is_none() {
                bail!("a payer token needs --payer CODE");
            }
            if roles.contains(&Role::Patient) && patient.is_none() {
                bail!("a patient token needs --patient ID");
            }
            if roles.contains(&Role::Carer) && carer.is_none() {
                bail!("a carer token needs --carer ID");
            }
            if cfg.auth.jwks_url.is_some() {
                bail!("tokens come from your identity provider when CAREBILL_JWKS_URL is set");
            }
            let secret = match (&cfg.auth.secret, &cfg.auth.secret_file) {
                (Some(s), _) => s.expose().to_owned(),
                (None, Some(f)) => std::fs::read_to_string(f)
                    .with_context(|| format!("reading {}", f.display()))?
                    .trim()
                    .to_owned(),
                (None, None) => embedded_secret(&cfg.data_dir)?.expose().to_owned(),
            };
            let now = chrono::Utc::now().timestamp();
            let ttl = i64::try_from(parse_ttl(&ttl)?.as_secs())?;
            let subject = subject.unwrap_or_else(|| {
                let names: Vec<&str> = roles.iter().map(Role::as_str).collect();
                format!("carebill-cli/{}", names.join("+"))
            });
            let claims = Claims {
                sub: subject,
                iss: cfg.auth.issuer.clone(),
                aud: cfg.auth.audience.clone(),
                exp: now + ttl,
                iat: now,
                roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
                locations: (!locations.is_empty()).then_some(locations),
                payer,
                patient,
                carer,
            };
            println!("{}", mint_hs256(secret.as_bytes(), &claims)?);
            Ok(())
        }
        Command::Migrate { common, service } => {
            let cfg = load(cli.config.as_ref(), service.as_deref(), &common)?;
            carebill_platform::telemetry::init(&cfg.log);
            let rt = tokio::runtime::Runtime::new()?;
            let report = rt.block_on(crate::server::migrate(&cfg, service.as_deref()))?;
            if report.is_empty() {
                println!("nothing to migrate: up to date");
            }
            for line in report {
                println!("{line}");
            }
            Ok(())
        }
        Command::Announce { common, what } => {
            let kinds = carebill_accounts::parse_kinds(what.as_deref())
                .map_err(|e| anyhow!("--what: {e}"))?;
            let cfg = load(cli.config.as_ref(), Some("accounts"), &common)?;
            let rt = tokio::runtime::Runtime::new()?;
            for (name, n) in rt.block_on(crate::server::announce(&cfg, &kinds))? {
                println!("{name}: {n} announced");
            }
            Ok(())
        }
        Command::DeadLetters {
            common,
            service,
            redrive,
            limit,
        } => {
            let cfg = load(cli.config.as_ref(), Some(&service), &common)?;
            let rt = tokio::runtime::Runtime::new()?;
            if !carebill_platform::events::rabbitmq::CONSUMERS
                .iter()
                .any(|(c, _)| *c == service)
            {
                bail!("`{service}` consumes no events, so it has no dead letters");
            }
            match &cfg.broker.url {
                Some(url) if redrive => {
                    let n = rt
                        .block_on(carebill_platform::events::rabbitmq::redrive(
                            url.expose(),
                            &service,
                            limit,
                        ))
                        .map_err(|e| anyhow!(e))?;
                    println!("re-driven: {n}");
                }
                Some(url) => {
                    for dl in rt
                        .block_on(carebill_platform::events::rabbitmq::dead_letters(
                            url.expose(),
                            &service,
                            limit,
                        ))
                        .map_err(|e| anyhow!(e))?
                    {
                        println!("{}", serde_json::to_string(&dl)?);
                    }
                }
                None => {
                    // Embedded: parked in the consumer's own SQLite file.
                    let count = rt.block_on(crate::server::embedded_dead_letters(
                        &cfg, &service, redrive, limit,
                    ))?;
                    if redrive {
                        println!("re-driven: {count}");
                    }
                }
            }
            Ok(())
        }
        Command::Serve {
            common,
            bind,
            service,
        } => {
            let mut cfg = load(cli.config.as_ref(), service.as_deref(), &common)?;
            if let Some(b) = bind {
                cfg.bind = b;
            }
            carebill_platform::telemetry::init(&cfg.log);
            actix_web::rt::System::new().block_on(async move {
                match service {
                    None => crate::server::serve_embedded(cfg, None).await,
                    Some(s) => crate::server::serve_service(&s, cfg, None).await,
                }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ttl;

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("90s").ok().map(|d| d.as_secs()), Some(90));
        assert_eq!(parse_ttl("12h").ok().map(|d| d.as_secs()), Some(43_200));
        assert_eq!(parse_ttl("3600").ok().map(|d| d.as_secs()), Some(3600));
        assert!(parse_ttl("0").is_err());
        assert!(parse_ttl("2w").is_err());
        assert!(parse_ttl("x").is_err());
        assert!(parse_ttl("99999999999999999d").is_err());
    }
}
