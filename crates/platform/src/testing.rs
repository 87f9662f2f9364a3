//! Test helpers (feature `testing`): throwaway PostgreSQL databases on the server named by
//! `CAREBILL_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable`), the
//! broker named by `CAREBILL_TEST_AMQP_URL` (default `amqp://guest:guest@127.0.0.1:5672/%2f`),
//! tokens, the app over a real socket ([`serve`]) and stand-ins for third-party HTTP APIs
//! ([`StandIn`]). A missing server is a test failure with a clear message, never a skip.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, HttpServer, middleware, test, web};
use diesel::{Connection as _, PgConnection, RunQueryDsl};
use serde_json::Value;

use crate::auth::{Authenticator, Claims, mint_hs256};
use crate::db::{Backend, Db, MigrationSet, PLATFORM_MIGRATIONS};
use crate::http::{self as cbhttp, BodyLimit, DEFAULT_BODY_LIMIT};
use crate::metrics::Metrics;

/// The server tests create their databases on. Without TLS by default: the local server needs
/// none, and libpq's OpenSSL state torn down while a pool thread still holds a connection has
/// crashed test processes at exit (SIGSEGV after every test had passed; diesel#3441).
pub fn postgres_admin_url() -> String {
    std::env::var("CAREBILL_TEST_DATABASE_URL").unwrap_or_else(|_| {
        "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable".to_owned()
    })
}

/// The broker tests use.
pub fn amqp_url() -> String {
    std::env::var("CAREBILL_TEST_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned())
}

/// A database created for one test and dropped when this value is dropped.
pub struct PgTestDb {
    /// URL of the new database.
    pub url: String,
    name: String,
    admin: String,
}

impl PgTestDb {
    /// Creates a fresh, empty database.
    ///
    /// # Panics
    /// When PostgreSQL cannot be reached: the tests need it and say so.
    #[expect(
        clippy::panic,
        reason = "test helper: a missing server must fail the test loudly"
    )]
    pub fn create() -> PgTestDb {
        let admin = postgres_admin_url();
        let mut conn = PgConnection::establish(&admin).unwrap_or_else(|e| {
            panic!("PostgreSQL is required for this test and is not reachable at {admin}: {e}. Start it (see docs/development/testing.md) or set CAREBILL_TEST_DATABASE_URL.")
        });
        let name = format!("carebill_test_{}", uuid::Uuid::now_v7().simple());
        if let Err(e) = diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn) {
            panic!("creating test database {name}: {e}");
        }
        // The new database on the same server, with the same options (`?sslmode=...`).
        let (path, options) = admin
            .split_once('?')
            .map_or((admin.as_str(), ""), |(p, o)| (p, o));
        let base = path.rsplit_once('/').map_or(path, |(b, _)| b);
        let options = if options.is_empty() {
            String::new()
        } else {
            format!("?{options}")
        };
        PgTestDb {
            url: format!("{base}/{name}{options}"),
            name,
            admin,
        }
    }
}

impl PgTestDb {
    /// Takes the database away from its clients (new connections refused, open ones
    /// terminated), or gives it back: the database "gone" and "back" without stopping the
    /// server other tests share.
    ///
    /// # Panics
    /// When PostgreSQL refuses the change.
    #[expect(clippy::panic, reason = "test helper: fails the test loudly")]
    pub fn set_reachable(&self, reachable: bool) {
        let mut conn = PgConnection::establish(&self.admin)
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.admin));
        let run = |conn: &mut PgConnection, sql: String| {
            if let Err(e) = diesel::sql_query(&sql).execute(conn) {
                panic!("{sql}: {e}");
            }
        };
        run(
            &mut conn,
            format!("ALTER DATABASE {} ALLOW_CONNECTIONS {reachable}", self.name),
        );
        if !reachable {
            run(
                &mut conn,
                format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'",
                    self.name
                ),
            );
        }
    }
}

impl Drop for PgTestDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.admin) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// The HS256 secret test servers use.
pub const TEST_SECRET: &str = "carebill-test-secret-0123456789abcdef";

/// A token for `roles`, optionally limited to location codes, signed with [`TEST_SECRET`].
pub fn token(roles: &[&str], locations: Option<&[&str]>) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub: format!("test-{}", roles.join("+")),
        iss: "carebill".to_owned(),
        aud: "carebill".to_owned(),
        exp: now + 3600,
        iat: now,
        roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        locations: locations.map(|l| l.iter().map(|c| (*c).to_owned()).collect()),
        payer: None,
        patient: None,
        carer: None,
    };
    mint_hs256(TEST_SECRET.as_bytes(), &claims).unwrap_or_default()
}

/// A RabbitMQ virtual host created for one test (with `rabbitmqctl`) and deleted on drop, so
/// queues a test fills (every known consumer's, declared by publishers) do not outlive it.
pub struct TestVhost {
    /// AMQP URL of the virtual host.
    pub url: String,
    name: String,
}

impl TestVhost {
    /// Creates the virtual host and grants the URL's user every permission on it.
    ///
    /// # Panics
    /// When `rabbitmqctl` is missing or fails: these tests need a local broker.
    #[expect(
        clippy::panic,
        reason = "test helper: a missing broker must fail the test loudly"
    )]
    pub fn create() -> TestVhost {
        let base = amqp_url();
        let name = format!("carebill-test-{}", uuid::Uuid::now_v7().simple());
        let user = base
            .strip_prefix("amqp://")
            .and_then(|r| r.split_once('@'))
            .and_then(|(cred, _)| cred.split(':').next())
            .unwrap_or("guest")
            .to_owned();
        for args in [
            vec!["add_vhost", name.as_str()],
            vec![
                "set_permissions",
                "-p",
                name.as_str(),
                user.as_str(),
                ".*",
                ".*",
                ".*",
            ],
        ] {
            let out = std::process::Command::new("rabbitmqctl").args(&args).output().unwrap_or_else(|e| {
                panic!("rabbitmqctl is needed to give this test its own RabbitMQ virtual host ({e}); install rabbitmq-server (see docs/development/testing.md)")
            });
            if !out.status.success() {
                panic!(
                    "rabbitmqctl {args:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let prefix = base.rsplit_once('/').map_or(base.as_str(), |(p, _)| p);
        TestVhost {
            url: format!("{prefix}/{name}"),
            name,
        }
    }
}

impl Drop for TestVhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["delete_vhost", &self.name])
            .output();
    }
}

/// A migrated service database for one test: a SQLite file in a temporary directory or a
/// throwaway PostgreSQL database, removed when this value is dropped.
pub struct TestDb {
    /// The database, with the platform's and `migrations` applied.
    pub db: Db,
    _pg: Option<PgTestDb>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Creates and migrates a database on `backend`.
    ///
    /// # Panics
    /// When the database cannot be created or migrated.
    #[expect(
        clippy::expect_used,
        reason = "test helper: a broken database must fail the test loudly"
    )]
    pub fn new(backend: Backend, migrations: &MigrationSet) -> TestDb {
        let (url, pg, dir) = match backend {
            Backend::Postgres => {
                let pg = PgTestDb::create();
                (pg.url.clone(), Some(pg), None)
            }
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("tempdir");
                (
                    dir.path()
                        .join("service.sqlite")
                        .to_string_lossy()
                        .into_owned(),
                    None,
                    Some(dir),
                )
            }
        };
        let db = Db::connect(&url, 4).expect("connect");
        db.migrate(&[&PLATFORM_MIGRATIONS, migrations])
            .expect("migrate");
        TestDb {
            db,
            _pg: pg,
            _dir: dir,
        }
    }
}

/// The service's routes behind the same middleware, extractors, auth ([`TEST_SECRET`]) and
/// fallbacks as the running suite, as an in-process test service.
#[expect(clippy::expect_used, reason = "test helper")]
pub async fn test_app(
    routes: impl FnOnce(&mut web::ServiceConfig),
) -> impl Service<
    actix_http::Request,
    Response = ServiceResponse<impl MessageBody>,
    Error = actix_web::Error,
> {
    test::init_service(
        App::new()
            .app_data(web::Data::new(Authenticator::hs256(
                TEST_SECRET.as_bytes(),
                "carebill",
                "carebill",
            )))
            .app_data(web::Data::new(Metrics::new().expect("metrics")))
            .app_data(cbhttp::query_config())
            .app_data(cbhttp::path_config())
            .app_data(BodyLimit(DEFAULT_BODY_LIMIT))
            .wrap(middleware::from_fn(cbhttp::observe))
            .configure(routes)
            .default_service(web::to(cbhttp::not_found)),
    )
    .await
}

/// Sends a request; returns the status, the JSON body (`null` if none) and the content type.
pub async fn call(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    req: test::TestRequest,
) -> (StatusCode, Value, Option<String>) {
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = test::read_body(res).await;
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (status, value, ctype)
}

/// A POST of `body` as JSON with a bearer token.
pub fn post(path: &str, tok: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {tok}")))
        .set_json(body)
}

/// A PUT of `body` as JSON with a bearer token.
pub fn put(path: &str, tok: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::put()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {tok}")))
        .set_json(body)
}

/// A GET with a bearer token.
pub fn get(path: &str, tok: &str) -> test::TestRequest {
    test::TestRequest::get()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {tok}")))
}

/// The fields a problem+json body names in `errors`, in order (a body without `errors` fails
/// the test).
#[expect(clippy::expect_used, reason = "test helper")]
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .expect("a problem with errors")
        .iter()
        .map(|e| e["field"].as_str().expect("a field").to_owned())
        .collect()
}

/// A token with the admin role.
pub fn admin() -> String {
    token(&["admin"], None)
}

/// Runs each named `async fn(Backend)` scenario twice: `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[actix_web::test]
            async fn sqlite() {
                super::$name($crate::db::Backend::Sqlite).await
            }
            #[actix_web::test]
            async fn postgres() {
                super::$name($crate::db::Backend::Postgres).await
            }
        }
    )*};
}

/// The service's routes served like [`test_app`] but on a real socket (`127.0.0.1`, a free
/// port), for callers that are separate processes (a stand-in delivering webhooks). Stops when
/// dropped. Needs to run inside the actix runtime of an `#[actix_web::test]`.
pub struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The stop command is sent at once; nobody needs to wait for it.
        drop(self.handle.stop(false));
    }
}

/// A free port of 127.0.0.1, bound, and its base URL (`http://127.0.0.1:<port>`): known before
/// the server starts, so that a stand-in started first can be told where to call.
///
/// # Panics
/// When no port can be bound.
#[expect(clippy::expect_used, reason = "test helper")]
pub fn listener() -> (std::net::TcpListener, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let base = format!(
        "http://{}",
        listener.local_addr().expect("the bound address")
    );
    (listener, base)
}

/// Serves `routes` on `listener` (from [`listener`]; see [`TestServer`]).
///
/// # Panics
/// When the listener cannot be used.
#[expect(clippy::expect_used, reason = "test helper")]
pub fn serve<F>(listener: std::net::TcpListener, routes: F) -> TestServer
where
    F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
{
    let base = format!(
        "http://{}",
        listener.local_addr().expect("the bound address")
    );
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(Authenticator::hs256(
                TEST_SECRET.as_bytes(),
                "carebill",
                "carebill",
            )))
            .app_data(web::Data::new(Metrics::new().expect("metrics")))
            .app_data(cbhttp::query_config())
            .app_data(cbhttp::path_config())
            .app_data(BodyLimit(DEFAULT_BODY_LIMIT))
            .wrap(middleware::from_fn(cbhttp::observe))
            .configure(routes.clone())
            .default_service(web::to(cbhttp::not_found))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .expect("listening")
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    TestServer { base, handle }
}

/// A local stand-in for a third party's HTTP API (a payment or SMS provider): a Python 3
/// script of the repository (standard library only) started with `--port 0` and `args`, which
/// prints `listening on http://127.0.0.1:<port>` as its first line. Killed when dropped.
pub struct StandIn {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    child: std::process::Child,
}

impl StandIn {
    /// Starts `script` (a path from the repository root, e.g.
    /// `scripts/standins/payment_provider.py`) with `python3`.
    ///
    /// # Panics
    /// When `python3` or the script is missing, or the script does not say where it listens
    /// within 20 s: the test needs it and says so.
    pub fn start(script: &str, args: &[&str]) -> StandIn {
        StandIn::start_with("python3", script, args)
    }

    /// Like [`StandIn::start`], with another Python (a virtual environment's, for a stand-in
    /// that needs a package such as aiosmtpd).
    ///
    /// # Panics
    /// As [`StandIn::start`].
    #[expect(
        clippy::panic,
        reason = "test helper: a missing stand-in fails the test loudly"
    )]
    pub fn start_with(python: &str, script: &str, args: &[&str]) -> StandIn {
        use std::io::BufRead as _;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let path = root.join(script);
        if !path.is_file() {
            panic!("the stand-in {} does not exist", path.display());
        }
        let mut child = std::process::Command::new(python)
            .arg("-u")
            .arg(&path)
            .args(["--port", "0"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{python} is needed to run the stand-in {script} ({e}); install Python 3")
            });
        let Some(stdout) = child.stdout.take() else {
            panic!("the stand-in {script} has no stdout");
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = std::io::BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            // Keep reading, so the stand-in never blocks on a full pipe.
            for _ in lines {}
        });
        let first = match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                panic!("the stand-in {script} did not say where it listens: {other:?}");
            }
        };
        let Some(base) = first.strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!("the stand-in {script} printed `{first}` instead of `listening on <url>`");
        };
        StandIn {
            base: base.trim().to_owned(),
            child,
        }
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python of the stand-ins' virtual environment (with aiosmtpd), made by
/// `scripts/tools-venv.sh` on first use.
///
/// # Panics
/// When the script fails (it installs from PyPI): the test needs it and says so.
#[expect(
    clippy::panic,
    reason = "test helper: a missing tool fails the test loudly"
)]
pub fn tools_python() -> &'static str {
    static PY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PY.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let out = std::process::Command::new("bash")
            .arg(root.join("scripts/tools-venv.sh"))
            .output()
            .unwrap_or_else(|e| panic!("scripts/tools-venv.sh does not run: {e}"));
        if !out.status.success() {
            panic!(
                "scripts/tools-venv.sh failed (it installs aiosmtpd from PyPI): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
}

/// A real SMTP server on 127.0.0.1 (`scripts/standins/smtp_sink.py`, aiosmtpd) that keeps
/// every message it accepts in a folder of its own; stopped and removed when dropped.
pub struct SmtpSink {
    /// The server, `smtp://127.0.0.1:<port>`.
    pub server: StandIn,
    dir: tempfile::TempDir,
}

impl SmtpSink {
    /// Starts the sink with extra `args` (e.g. `--fail-first 1`).
    ///
    /// # Panics
    /// As [`StandIn::start`], or when no temporary folder can be made.
    #[expect(clippy::expect_used, reason = "test helper")]
    pub fn start(args: &[&str]) -> SmtpSink {
        let dir = tempfile::tempdir().expect("a temporary folder for the sink");
        let maildir = dir.path().to_string_lossy().into_owned();
        let server = StandIn::start_with(
            tools_python(),
            "scripts/standins/smtp_sink.py",
            &[&["--maildir", maildir.as_str()], args].concat(),
        );
        SmtpSink { server, dir }
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.server.base
    }

    /// Every message received so far, raw, in the order received.
    ///
    /// # Panics
    /// When the folder cannot be read.
    #[expect(clippy::expect_used, reason = "test helper")]
    pub fn mails(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("the sink's folder")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read(p).expect("a received message"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::StandIn;

    #[test]
    #[should_panic(expected = "does not exist")]
    fn a_missing_stand_in_fails_the_test_loudly() {
        let _ = StandIn::start("scripts/standins/no_such_provider.py", &[]);
    }

    #[test]
    fn a_stand_in_says_where_it_listens_and_answers_there() {
        use std::io::{Read as _, Write as _};
        let provider = StandIn::start("scripts/standins/payment_provider.py", &[]);
        let address = provider
            .base
            .strip_prefix("http://")
            .expect("an http base URL")
            .to_owned();
        let mut conn = std::net::TcpStream::connect(&address).expect("connect");
        conn.write_all(b"GET /_requests HTTP/1.0\r\nHost: x\r\n\r\n")
            .expect("send");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("read");
        assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
        assert!(answer.ends_with("[]"), "nothing received yet: {answer}");
        drop(provider);
        assert!(
            std::net::TcpStream::connect(&address).is_err(),
            "killed when dropped"
        );
    }
}
