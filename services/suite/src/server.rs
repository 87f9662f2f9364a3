//! Running services: the embedded suite (all services, SQLite files, in-process bus) and a
//! single service on PostgreSQL and RabbitMQ. Both build the same App from the same pieces.

use carebill_platform::outbound::mail::Mailer;
use carebill_platform::outbound::sms::SmsSender;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use actix_web::{App, HttpServer, middleware, web};
use anyhow::{Context as _, anyhow, bail};
use carebill_platform::auth::{Algorithm, Authenticator};
use carebill_platform::config::{Config, embedded_secret};
use carebill_platform::db::{Backend, Db, MigrationSet, PLATFORM_MIGRATIONS};
use carebill_platform::events::inprocess::InProcessBus;
use carebill_platform::events::outbox::Relay;
use carebill_platform::events::rabbitmq::{RabbitBus, declare_topology};
use carebill_platform::events::{EventBus, Subscription};
use carebill_platform::health::{self, Readiness};
use carebill_platform::http::{self as cbhttp, BodyLimit, DEFAULT_BODY_LIMIT};
use carebill_platform::metrics::Metrics;
use tokio::sync::{Notify, watch};
use utoipa_swagger_ui::SwaggerUi;

/// The services this build contains.
pub const SERVICES: &[&str] = &["accounts", "settlement", "invoicing", "collections"];

/// The migrations of a service.
pub fn migrations(service: &str) -> anyhow::Result<&'static MigrationSet> {
    match service {
        "accounts" => Ok(&carebill_accounts::MIGRATIONS),
        "settlement" => Ok(&carebill_settlement::MIGRATIONS),
        "invoicing" => Ok(&carebill_invoicing::MIGRATIONS),
        "collections" => Ok(&carebill_collections::MIGRATIONS),
        other => bail!(
            "unknown service `{other}`; this build has: {}",
            SERVICES.join(", ")
        ),
    }
}

/// The event subscription of a consuming service.
fn subscription_for(name: &str, db: &Db, wake: &Arc<Notify>) -> Option<Subscription> {
    match name {
        "settlement" => Some(carebill_settlement::events(db.clone(), wake.clone())),
        "invoicing" => Some(carebill_invoicing::events(db.clone(), wake.clone())),
        "collections" => Some(carebill_collections::events(db.clone(), wake.clone())),
        _ => None,
    }
}

/// Lists (printing one JSON line each) or re-drives the events parked by an embedded service's
/// consumer. Re-driving applies each again through the consumer (exactly once, thanks to the
/// inbox); what it emits waits in the outbox for the suite's relay. Returns how many were
/// re-driven.
pub async fn embedded_dead_letters(
    cfg: &Config,
    service: &str,
    redrive: bool,
    limit: usize,
) -> anyhow::Result<usize> {
    let name = SERVICES
        .iter()
        .copied()
        .find(|s| *s == service)
        .ok_or_else(|| {
            anyhow!(
                "unknown service `{service}`; this build has: {}",
                SERVICES.join(", ")
            )
        })?;
    let path = sqlite_path(&cfg.data_dir, name);
    if !Path::new(&path).exists() {
        bail!(
            "no embedded data for {name} in {} (give --data-dir; for a service on RabbitMQ set CAREBILL_AMQP_URL)",
            cfg.data_dir.display()
        );
    }
    let db = Db::connect(&path, 1)?;
    let wake = Arc::new(Notify::new());
    let Some(sub) = subscription_for(name, &db, &wake) else {
        bail!("{name} consumes no events, so it has no dead letters");
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let consumer = sub.consumer.clone();
    let parked = db
        .read(move |conn| {
            Ok(carebill_platform::events::inbox::parked(
                conn, &consumer, limit,
            )?)
        })
        .await
        .map_err(|e| anyhow!("{}", e.problem().detail))?;
    let mut redriven = 0;
    for (id, event, env) in parked {
        if !redrive {
            println!("{}", serde_json::to_string(&event)?);
            continue;
        }
        let Some(env) = env else {
            eprintln!(
                "{}: not a CloudEvents envelope; left parked",
                event.event_id
            );
            continue;
        };
        match carebill_platform::events::run_handler(&sub.handler, env).await {
            Ok(()) => {
                db.write(move |conn| {
                    Ok(carebill_platform::events::inbox::mark_redriven(conn, &id)?)
                })
                .await
                .map_err(|e| anyhow!("{}", e.problem().detail))?;
                redriven += 1;
            }
            Err(e) => eprintln!("{}: still failing: {e}; left parked", event.event_id),
        }
    }
    Ok(redriven)
}

/// Enqueues accounts' current `*.changed` event of every record of `kinds` (a page of 1,000
/// per transaction), for the services that keep copies: in accounts' PostgreSQL database when
/// `CAREBILL_DATABASE_URL` is set, else in the embedded suite's SQLite file. The service's
/// relay publishes them (at once if it runs, else when it starts). Returns how many per kind.
pub async fn announce(
    cfg: &Config,
    kinds: &[carebill_accounts::AnnounceKind],
) -> anyhow::Result<Vec<(&'static str, usize)>> {
    let db = match &cfg.database.url {
        Some(url) => Db::connect(url.expose(), 1).context("connecting the accounts database")?,
        None => {
            let path = sqlite_path(&cfg.data_dir, "accounts");
            if !Path::new(&path).exists() {
                bail!(
                    "no embedded data for accounts in {} (give --data-dir; for the accounts service on PostgreSQL set CAREBILL_DATABASE_URL)",
                    cfg.data_dir.display()
                );
            }
            Db::connect(&path, 1)?
        }
    };
    db.migrate(&[&PLATFORM_MIGRATIONS, migrations("accounts")?])
        .context("migrating the accounts database")?;
    carebill_accounts::announce(&db, kinds, 1_000)
        .await
        .map_err(|e| anyhow!("announcing: {}", e.problem().detail))
}

/// A service's running parts.
struct Running {
    name: &'static str,
    db: Db,
    wake: Arc<Notify>,
    subscriptions: Vec<Subscription>,
}

fn open_service(name: &'static str, url: &str, pool_size: u32) -> anyhow::Result<Running> {
    let db =
        Db::connect(url, pool_size).with_context(|| format!("connecting the {name} database"))?;
    db.migrate(&[&PLATFORM_MIGRATIONS, migrations(name)?])
        .with_context(|| format!("migrating the {name} database"))?;
    let wake = Arc::new(Notify::new());
    let subscriptions = subscription_for(name, &db, &wake).into_iter().collect();
    Ok(Running {
        name,
        db,
        wake,
        subscriptions,
    })
}

/// Where the embedded suite keeps a service's SQLite file.
pub fn sqlite_path(data_dir: &Path, service: &str) -> String {
    data_dir
        .join(format!("{service}.sqlite"))
        .to_string_lossy()
        .into_owned()
}

/// Builds the token verifier from the configuration; the embedded suite falls back to the
/// secret in its data directory.
pub fn authenticator(cfg: &Config, embedded: bool) -> anyhow::Result<Authenticator> {
    let a = &cfg.auth;
    if let Some(url) = &a.jwks_url {
        let algs = a
            .algorithms
            .iter()
            .map(|s| {
                s.parse::<Algorithm>()
                    .map_err(|_| anyhow!("unknown JWT algorithm `{s}`"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        return Authenticator::jwks(url, algs, &a.issuer, &a.audience).map_err(|e| anyhow!(e));
    }
    let secret = match (&a.secret, &a.secret_file) {
        (Some(s), _) => s.expose().to_owned(),
        (None, Some(f)) => std::fs::read_to_string(f)
            .with_context(|| format!("reading {}", f.display()))?
            .trim()
            .to_owned(),
        (None, None) if embedded => embedded_secret(&cfg.data_dir)?.expose().to_owned(),
        (None, None) => bail!(
            "no token verification configured: set CAREBILL_JWKS_URL, CAREBILL_JWT_SECRET or CAREBILL_JWT_SECRET_FILE"
        ),
    };
    if secret.len() < 32 {
        bail!("the HS256 secret must be at least 32 characters");
    }
    Ok(Authenticator::hs256(
        secret.as_bytes(),
        &a.issuer,
        &a.audience,
    ))
}

/// Runs the embedded suite until SIGINT/SIGTERM.
pub async fn serve_embedded(cfg: Config, listener: Option<TcpListener>) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("creating {}", cfg.data_dir.display()))?;
    let auth = authenticator(&cfg, true)?;
    let mut running = Vec::new();
    for name in SERVICES {
        running.push(open_service(
            name,
            &sqlite_path(&cfg.data_dir, name),
            cfg.database.pool_size,
        )?);
    }
    let bus = EventBus::InProcess(Arc::new(InProcessBus::new()));
    let banner = format!(
        "Carebill (embedded suite: {}) listening on http://{{addr}}\n  data directory: {}\n  API docs: http://{{addr}}/docs/\n  get a token: carebill token --role admin --data-dir {}",
        SERVICES.join(", "),
        cfg.data_dir.display(),
        cfg.data_dir.display()
    );
    run(
        cfg,
        auth,
        web::Data::new(Metrics::new()?),
        running,
        bus,
        listener,
        banner,
    )
    .await
}

/// Runs one service on PostgreSQL and RabbitMQ until SIGINT/SIGTERM.
pub async fn serve_service(
    service: &str,
    cfg: Config,
    listener: Option<TcpListener>,
) -> anyhow::Result<()> {
    let name = SERVICES
        .iter()
        .copied()
        .find(|s| *s == service)
        .ok_or_else(|| {
            anyhow!(
                "unknown service `{service}`; this build has: {}",
                SERVICES.join(", ")
            )
        })?;
    let url = cfg
        .database
        .url
        .as_ref()
        .ok_or_else(|| {
            anyhow!(
                "set CAREBILL_{}_DATABASE_URL or CAREBILL_DATABASE_URL (postgres://...)",
                name.to_ascii_uppercase()
            )
        })?
        .expose()
        .to_owned();
    if Backend::from_url(&url) != Backend::Postgres {
        bail!("a single service runs on PostgreSQL; the database URL must start with postgres://");
    }
    let amqp = cfg
        .broker
        .url
        .as_ref()
        .ok_or_else(|| anyhow!("set CAREBILL_AMQP_URL (amqp://...)"))?
        .expose()
        .to_owned();
    let auth = authenticator(&cfg, false)?;
    let running = vec![open_service(name, &url, cfg.database.pool_size)?];
    let metrics = web::Data::new(Metrics::new()?);
    let bus = EventBus::Rabbit(Arc::new(
        RabbitBus::new(&amqp, metrics.clone().into_inner())
            .with_events_per_message(cfg.broker.events_per_message)
            .with_consumers(cfg.broker.consumers),
    ));
    let banner =
        format!("Carebill {name} service listening on http://{{addr}} (PostgreSQL, RabbitMQ)");
    run(cfg, auth, metrics, running, bus, listener, banner).await
}

/// Applies migrations (and, with a broker URL, declares the RabbitMQ topology).
pub async fn migrate(cfg: &Config, service: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut report = Vec::new();
    match service {
        None => {
            std::fs::create_dir_all(&cfg.data_dir)?;
            for name in SERVICES {
                let db = Db::connect(&sqlite_path(&cfg.data_dir, name), 1)?;
                for v in db.migrate(&[&PLATFORM_MIGRATIONS, migrations(name)?])? {
                    report.push(format!("{name}: applied {v}"));
                }
            }
        }
        Some(name) => {
            let url = cfg
                .database
                .url
                .as_ref()
                .ok_or_else(|| anyhow!("set CAREBILL_DATABASE_URL"))?
                .expose()
                .to_owned();
            let db = Db::connect(&url, 1)?;
            for v in db.migrate(&[&PLATFORM_MIGRATIONS, migrations(name)?])? {
                report.push(format!("{name}: applied {v}"));
            }
            if let Some(amqp) = &cfg.broker.url {
                declare_topology(amqp.expose())
                    .await
                    .map_err(|e| anyhow!(e))?;
                report.push("broker: topology declared".to_owned());
            }
        }
    }
    Ok(report)
}

async fn run(
    cfg: Config,
    auth: Authenticator,
    metrics: web::Data<Metrics>,
    running: Vec<Running>,
    bus: EventBus,
    listener: Option<TcpListener>,
    banner: String,
) -> anyhow::Result<()> {
    let auth = web::Data::new(auth);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut relays = Vec::new();
    for svc in &running {
        for sub in &svc.subscriptions {
            bus.subscribe(sub.clone(), stop_rx.clone());
        }
        let relay = Relay::new(
            svc.name,
            svc.db.clone(),
            bus.clone(),
            metrics.clone().into_inner(),
            svc.wake.clone(),
        );
        relays.push(tokio::spawn(relay.supervise(stop_rx.clone())));
    }
    bus.watch_consumers(
        running
            .iter()
            .flat_map(|s| s.subscriptions.iter().cloned())
            .collect(),
        metrics.clone().into_inner(),
        stop_rx.clone(),
    );
    let readiness = web::Data::new(Readiness {
        databases: running
            .iter()
            .map(|s| (s.name.to_owned(), s.db.clone()))
            .collect(),
        bus: bus.clone(),
    });
    let agency_mail = Mailer::from_config(&cfg.mail)?;
    let accounts = running.iter().find(|s| s.name == "accounts").map(|s| {
        web::Data::new(carebill_accounts::AccountsState {
            db: s.db.clone(),
            wake: s.wake.clone(),
            channels: carebill_accounts::AgencyChannels {
                mail: agency_mail.clone(),
                portal_url: cfg.delivery.portal_url.clone(),
                link_hours: cfg.delivery.link_hours,
            },
            notices: carebill_accounts::NoticeSettings {
                hours_deadline_days: cfg.agency.hours_deadline_days,
                approval_reminder_days: cfg.agency.approval_reminder_days,
            },
        })
    });
    let settlement = running.iter().find(|s| s.name == "settlement").map(|s| {
        web::Data::new(carebill_settlement::SettlementState {
            db: s.db.clone(),
            wake: s.wake.clone(),
        })
    });
    let notice_sender = accounts.clone().map(|state| {
        let interval = std::time::Duration::from_secs(cfg.agency.dispatch_interval_secs);
        tokio::spawn(carebill_accounts::notice_sender(state, interval))
    });
    let progress_publisher = settlement.clone().map(|state| {
        tokio::spawn(carebill_settlement::progress_publisher(
            state,
            std::time::Duration::from_millis(cfg.dashboard.publish_interval_ms),
        ))
    });
    let delivery = carebill_invoicing::DeliveryChannels {
        mail: Mailer::from_config(&cfg.mail)?,
        portal_url: cfg.delivery.portal_url.clone(),
        link_hours: cfg.delivery.link_hours,
    };
    let invoicing = running.iter().find(|s| s.name == "invoicing").map(|s| {
        web::Data::new(carebill_invoicing::InvoicingState {
            db: s.db.clone(),
            wake: s.wake.clone(),
            delivery: delivery.clone(),
            delivery_wake: Arc::new(Notify::new()),
        })
    });
    let delivery_sender = invoicing.clone().map(|state| {
        let interval = std::time::Duration::from_secs(cfg.delivery.dispatch_interval_secs);
        tokio::spawn(carebill_invoicing::delivery_sender(state, interval))
    });
    let channels = carebill_collections::Channels {
        mail: Mailer::from_config(&cfg.mail)?,
        sms: SmsSender::from_config(&cfg.sms)?,
    };
    let payment_links = carebill_collections::PaymentLinks::from_config(&cfg.payments)?;
    let collections = running.iter().find(|s| s.name == "collections").map(|s| {
        web::Data::new(carebill_collections::CollectionsState {
            db: s.db.clone(),
            wake: s.wake.clone(),
            reminders: channels.clone(),
            payment_links: payment_links.clone(),
        })
    });
    let sender = collections.clone().map(|state| {
        let interval = std::time::Duration::from_secs(cfg.reminders.dispatch_interval_secs);
        tokio::spawn(carebill_collections::reminder_sender(state, interval))
    });
    let doc = crate::openapi::document();
    let server = HttpServer::new(move || {
        let mut app = App::new()
            .app_data(auth.clone())
            .app_data(metrics.clone())
            .app_data(readiness.clone())
            .app_data(cbhttp::query_config())
            .app_data(cbhttp::path_config())
            .app_data(BodyLimit(DEFAULT_BODY_LIMIT))
            .wrap(middleware::from_fn(cbhttp::observe))
            .configure(health::routes)
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", doc.clone()));
        if let Some(state) = &accounts {
            app = app.configure(carebill_accounts::routes(state.clone()));
        }
        if let Some(state) = &settlement {
            app = app.configure(carebill_settlement::routes(state.clone()));
        }
        if let Some(state) = &invoicing {
            app = app.configure(carebill_invoicing::routes(state.clone()));
        }
        if let Some(state) = &collections {
            app = app.configure(carebill_collections::routes(state.clone()));
        }
        app.default_service(web::to(cbhttp::not_found))
    })
    .shutdown_timeout(30);
    let server = match listener {
        Some(l) => server.listen(l)?,
        None => server
            .bind(&cfg.bind)
            .with_context(|| format!("binding {}", cfg.bind))?,
    };
    let addrs: Vec<String> = server.addrs().iter().map(ToString::to_string).collect();
    println!(
        "{}",
        banner.replace("{addr}", addrs.first().map_or("?", String::as_str))
    );
    tracing::info!(addresses = ?addrs, "listening");
    server.run().await?;
    tracing::info!("HTTP server stopped; draining the outbox");
    if let Some(sender) = sender {
        // A notice being sent when this stops stays `sending`: it is never sent twice.
        sender.abort();
    }
    if let Some(sender) = notice_sender {
        // An agency notice being sent when this stops stays `sending`: never sent twice.
        sender.abort();
    }
    if let Some(publisher) = progress_publisher {
        // What it was announcing stays marked and is announced on the next start.
        publisher.abort();
    }
    if let Some(sender) = delivery_sender {
        // A delivery being sent when this stops stays claimed until its claim lapses, then is
        // tried again with the same Message-ID.
        sender.abort();
    }
    let _ = stop_tx.send(true);
    // Each relay finishes the batch in hand; whatever is left stays in the outbox for next time.
    for r in relays {
        if tokio::time::timeout(std::time::Duration::from_secs(25), r)
            .await
            .is_err()
        {
            tracing::warn!("an outbox relay did not stop in time; its events stay in the outbox");
        }
    }
    tracing::info!("stopped");
    Ok(())
}
