//! End to end: the `carebill` binary as a user runs it.
//!
//! - the embedded suite (`carebill serve`) on a fresh data directory, with a token from
//!   `carebill token`, walked through the accounts path, stopped with SIGTERM and restarted;
//! - the accounts service alone (`carebill serve --service accounts`) on PostgreSQL and
//!   RabbitMQ, with a test consumer reading its events off the broker;
//! - the committed OpenAPI document is what `carebill openapi` prints.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carebill_platform::db::Db;
use carebill_platform::events::rabbitmq::{declare_consumer, decode_message, queue_name};
use carebill_platform::schema::{dead_letters, outbox};
use carebill_platform::testing::{PgTestDb, StandIn, TestVhost};
use diesel::prelude::*;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_carebill");

/// A running `carebill serve`, killed on drop if the test did not stop it.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(args: &[&str], envs: &[(&str, &str)]) -> Server {
        Server::start_at(args, envs, "127.0.0.1:0")
    }

    /// Starts on a given address (a restarted service keeps its port).
    fn start_at(args: &[&str], envs: &[(&str, &str)], bind: &str) -> Server {
        Server::start_with(BIN, args, envs, bind, Stdio::null())
    }

    /// Starts `bin serve` with its logs (stderr) going to `stderr`.
    fn start_with(
        bin: &str,
        args: &[&str],
        envs: &[(&str, &str)],
        bind: &str,
        stderr: Stdio,
    ) -> Server {
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .args(args)
            .args(["--bind", bind])
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn carebill");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("carebill printed where it listens");
        let base = first
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected banner: {first}"))
            .to_owned();
        let server = Server { child, base };
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if reqwest::blocking::get(format!("{}/health/ready", server.base))
                .is_ok_and(|r| r.status() == 200)
            {
                return server;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("carebill never became ready");
    }

    /// Kills the process outright (SIGKILL): no shutdown, no draining.
    fn crash(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                assert!(s.success(), "carebill exited with {s} after SIGTERM");
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(40),
                "carebill did not stop within 40 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn carebill(args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run carebill");
    assert!(
        out.status.success(),
        "carebill {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8")
}

/// At least `n` events from the test consumer's queue `queue` (within 30 s), as JSON.
fn take_events(
    rt: &tokio::runtime::Runtime,
    ch: &lapin::Channel,
    queue: &str,
    n: usize,
) -> Vec<Value> {
    let mut events: Vec<Value> = Vec::new();
    let start = Instant::now();
    while events.len() < n && start.elapsed() < Duration::from_secs(30) {
        match rt
            .block_on(ch.basic_get(
                queue_name(queue).as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            ))
            .expect("get")
        {
            // A message carries one event, or a run of events of one type (batch format).
            Some(m) => events.extend(
                decode_message(&m.delivery.data)
                    .expect("cloudevents")
                    .into_iter()
                    .map(|e| serde_json::to_value(e).expect("json")),
            ),
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    events
}

fn token(args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = carebill(&[&["token"], args].concat(), envs);
    out.lines()
        .last()
        .expect("a token on the last line")
        .trim()
        .to_owned()
}

struct Client {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
}

impl Client {
    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .expect("request");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }
    fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .expect("request");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }
}

/// The accounts walk of the tutorial: master data, an episode, consumptions. Returns the episode id.
fn walk(c: &Client) -> String {
    let (s, loc) = c.post("/v1/locations", &json!({"code": "H1", "name": "Hospital Central", "time_zone": "Europe/Madrid", "tax_id": "ESB12345678"}));
    assert_eq!(s, 201, "{loc}");
    let (s, payer) = c.post(
        "/v1/payers",
        &json!({"code": "SANITAS", "name": "Sanitas Seguros", "kind": "insurer"}),
    );
    assert_eq!(s, 201, "{payer}");
    let (s, patient) = c.post(
        "/v1/patients",
        &json!({"identifiers": [{"system": "mrn", "value": "H1-000123"}], "family_name": "García López", "given_name": "Ana", "birth_date": "1980-04-12", "beneficiary_kind": "INSURED"}),
    );
    assert_eq!(s, 201, "{patient}");
    let (s, cov) = c.post("/v1/coverages", &json!({"patient_id": patient["id"], "payer_id": payer["id"], "policy_number": "POL-778812", "priority": 1}));
    assert_eq!(s, 201, "{cov}");
    let (s, item) = c.post("/v1/catalog-items", &json!({"code": "LAB-HB", "description": "Hemoglobin", "service_group": "LAB", "kind": "lab", "unit": "test"}));
    assert_eq!(s, 201, "{item}");
    let (s, ep) = c.post("/v1/episodes", &json!({"number": "ENC-2026-0001", "patient_id": patient["id"], "location_id": loc["id"], "kind": "outpatient"}));
    assert_eq!(s, 201, "{ep}");
    let episode = ep["id"].as_str().expect("id").to_owned();
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"episode_id": episode, "code": "LAB-HB", "quantity": "1", "performed_at": "2026-11-20T09:30:00Z", "source_system": "HIS", "external_id": format!("ORD-{i}")}))
        .collect();
    let (s, batch) = c.post("/v1/consumptions/batch", &json!({"items": items}));
    assert_eq!((s, batch["created"].as_u64()), (200, Some(3)), "{batch}");
    let (s, page) = c.get(&format!("/v1/consumptions?episode_id={episode}"));
    assert_eq!((s, page["items"].as_array().map(Vec::len)), (200, Some(3)));
    episode
}

#[test]
fn the_embedded_suite_runs_from_one_command_and_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    let server = Server::start(&["--data-dir", data], &[]);
    let tok = token(&["--role", "admin", "--data-dir", data], &[]);
    let c = Client {
        base: server.base.clone(),
        token: tok.clone(),
        http: reqwest::blocking::Client::new(),
    };
    let episode = walk(&c);

    // The served document is the one `carebill openapi` prints, and the docs page needs no internet.
    let served: Value = reqwest::blocking::get(format!("{}/openapi.json", server.base))
        .expect("get")
        .json()
        .expect("json");
    let printed: Value = serde_json::from_str(&carebill(&["openapi"], &[])).expect("json");
    assert_eq!(served, printed);
    let docs = reqwest::blocking::get(format!("{}/docs/", server.base))
        .expect("docs")
        .text()
        .expect("text");
    assert!(
        docs.contains("swagger-ui") && !docs.contains("https://"),
        "the API docs page loads nothing from the internet"
    );
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.base))
        .expect("metrics")
        .text()
        .expect("text");
    assert!(metrics.contains("carebill_http_request_duration_seconds_bucket"));
    assert!(
        metrics.contains("carebill_events_published_total")
            || metrics.contains("carebill_outbox_backlog")
    );
    // A scoped token from the CLI is enforced.
    let other = Client {
        token: token(
            &["--role", "biller", "--location", "H2", "--data-dir", data],
            &[],
        ),
        ..c
    };
    assert_eq!(other.get(&format!("/v1/episodes/{episode}")).0, 404);
    server.stop();

    // Restarted on the same directory: the data and the signing secret are still there.
    let server = Server::start(&["--data-dir", data], &[]);
    let c = Client {
        base: server.base.clone(),
        token: tok,
        http: reqwest::blocking::Client::new(),
    };
    let (s, ep) = c.get(&format!("/v1/episodes/{episode}"));
    assert_eq!((s, ep["number"].as_str()), (200, Some("ENC-2026-0001")));
    server.stop();
    assert!(Path::new(data).join("accounts.sqlite").exists());

    // Master data announced again from the embedded suite's file (the relay publishes it when
    // the suite next starts); a kind that does not exist is refused.
    let announced = carebill(&["announce", "--data-dir", data], &[]);
    assert_eq!(
        announced,
        "locations: 1 announced\npayers: 1 announced\npractitioners: 0 announced\ncatalog: 1 announced\npatients: 1 announced\ncodings: 0 announced\ncoverages: 1 announced\n"
    );
    let refused = Command::new(BIN)
        .args(["announce", "--data-dir", data, "--what", "coverage"])
        .output()
        .expect("run carebill");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("unknown kind `coverage`"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let empty = tempfile::tempdir().expect("empty dir");
    let nothing = Command::new(BIN)
        .args(["announce", "--data-dir"])
        .arg(empty.path())
        .env_remove("CAREBILL_DATABASE_URL")
        .output()
        .expect("run carebill");
    assert!(!nothing.status.success());
    assert!(
        String::from_utf8_lossy(&nothing.stderr).contains("no embedded data for accounts"),
        "{}",
        String::from_utf8_lossy(&nothing.stderr)
    );
}

#[test]
fn the_accounts_service_runs_alone_on_postgresql_and_publishes_to_rabbitmq() {
    let pg = PgTestDb::create();
    let vhost = TestVhost::create();
    let secret = "e2e-secret-0123456789abcdef0123456789";
    let envs = [
        ("CAREBILL_DATABASE_URL", pg.url.as_str()),
        ("CAREBILL_AMQP_URL", vhost.url.as_str()),
        ("CAREBILL_JWT_SECRET", secret),
    ];
    let migrated = carebill(&["migrate", "--service", "accounts"], &envs);
    assert!(
        migrated.contains("accounts: applied") && migrated.contains("broker: topology declared"),
        "{migrated}"
    );

    // A test consumer with its own queue, bound before anything is published.
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let conn = rt
        .block_on(lapin::Connection::connect(
            &vhost.url,
            lapin::ConnectionProperties::default(),
        ))
        .expect("amqp");
    let ch = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(declare_consumer(
        &ch,
        "e2e",
        &["carebill.accounts.#".to_owned()],
    ))
    .expect("declare");

    let server = Server::start(&["--service", "accounts"], &envs);
    let tok = token(&["--role", "integration"], &envs);
    let c = Client {
        base: server.base.clone(),
        token: tok,
        http: reqwest::blocking::Client::new(),
    };
    let admin = Client {
        base: c.base.clone(),
        token: token(&["--role", "admin"], &envs),
        http: c.http.clone(),
    };
    let episode = walk(&admin);

    let events = take_events(&rt, &ch, "e2e", 9);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        vec![
            "carebill.accounts.location.changed.v1",
            "carebill.accounts.payer.changed.v1",
            "carebill.accounts.patient.changed.v1",
            "carebill.accounts.coverage.changed.v1",
            "carebill.accounts.catalog_item.changed.v1",
            "carebill.accounts.episode.opened.v1",
            "carebill.accounts.consumption.recorded.v1",
            "carebill.accounts.consumption.recorded.v1",
            "carebill.accounts.consumption.recorded.v1",
        ]
    );
    let recorded = &events[6];
    assert_eq!(recorded["subject"], format!("episode/{episode}"));
    assert_eq!(recorded["data"]["item"]["code"], "LAB-HB");
    assert_eq!(
        recorded["data"]["episode"]["patient"]["beneficiary_kind"],
        "INSURED"
    );
    assert_eq!(recorded["data"]["episode"]["location"]["code"], "H1");
    assert_eq!(recorded["data"]["coverages"][0]["payer_code"], "SANITAS");
    assert!(
        recorded["correlationid"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "events carry the request id"
    );

    // Nothing failed downstream: the settlement queue holds the events, its dead letters none.
    let dead = carebill(&["dead-letters", "--service", "settlement"], &envs);
    assert!(dead.trim().is_empty(), "{dead}");
    assert!(
        carebill(
            &["dead-letters", "--service", "settlement", "--redrive"],
            &envs
        )
        .contains("re-driven: 0")
    );

    // Master data announced again on demand (for a service that starts keeping a copy): the
    // running service's relay publishes what the command enqueues.
    let announced = carebill(&["announce", "--what", "locations,payers,patients"], &envs);
    assert_eq!(
        announced,
        "locations: 1 announced\npayers: 1 announced\npatients: 1 announced\n"
    );
    let again = take_events(&rt, &ch, "e2e", 3);
    let types: Vec<&str> = again.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "carebill.accounts.location.changed.v1",
            "carebill.accounts.payer.changed.v1",
            "carebill.accounts.patient.changed.v1"
        ]
    );
    assert_eq!(again[0]["data"], events[0]["data"], "the location as it is");

    // The integration role may push but not configure.
    assert_eq!(
        c.post("/v1/locations", &json!({"code": "H2", "name": "x"}))
            .0,
        403
    );
    server.stop();
    drop(conn);
}

#[test]
fn the_committed_openapi_document_is_current() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openapi/carebill.json"
    ))
    .unwrap_or_default();
    let printed = carebill(&["openapi"], &[]);
    assert!(
        committed == printed,
        "openapi/carebill.json is stale: run `cargo run -p carebill -- openapi > openapi/carebill.json` and commit it"
    );
    let doc: Value = serde_json::from_str(&printed).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/v1/consumptions",
        "/v1/consumptions/batch",
        "/v1/episodes/{id}/status",
        "/v1/accounts/audit-events",
        "/health/ready",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
}

/// Each service names its OpenAPI schemas on its own; merged into one document, two different
/// schemas of one name would silently become one (a client would read one resource by the other's
/// schema).
#[test]
fn no_two_services_give_one_schema_name_to_different_schemas() {
    use utoipa::OpenApi as _;
    let docs = [
        ("accounts", carebill_accounts::ApiDoc::openapi()),
        ("settlement", carebill_settlement::ApiDoc::openapi()),
        ("invoicing", carebill_invoicing::ApiDoc::openapi()),
        ("collections", carebill_collections::ApiDoc::openapi()),
    ];
    let mut seen: std::collections::BTreeMap<String, (&str, Value)> = Default::default();
    let mut clashes = Vec::new();
    for (service, doc) in docs {
        for (name, schema) in doc.components.map(|c| c.schemas).unwrap_or_default() {
            let schema = serde_json::to_value(schema).expect("schema");
            match seen.get(&name) {
                Some((other, earlier)) if *earlier != schema => {
                    clashes.push(format!("{name}: {other} and {service}"))
                }
                Some(_) => {}
                None => {
                    seen.insert(name, (service, schema));
                }
            }
        }
    }
    assert!(clashes.is_empty(), "one name, two schemas: {clashes:?}");
}

/// `carebill event-schemas` into a place it cannot write fails with a message naming it, and
/// writes nothing; `carebill errors` prints the committed reference.
#[test]
fn the_reference_commands_say_what_they_cannot_do() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    let out = Command::new(BIN)
        .args(["event-schemas", file.to_str().expect("utf8")])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot create") && err.contains("a-file"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        "not a directory"
    );
    let into = dir.path().join("schemas");
    carebill(&["event-schemas", into.to_str().expect("utf8")], &[]);
    assert_eq!(
        std::fs::read_dir(&into).expect("dir").count(),
        carebill_suite::event_schemas::EVENTS.len()
    );
    let reference = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/reference/errors.md"),
    )
    .expect("errors.md");
    assert_eq!(carebill(&["errors"], &[]), reference);
}

#[test]
fn the_committed_event_schemas_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../event-schemas");
    let generated = carebill_suite::event_schemas::files();
    let mut committed: Vec<String> = std::fs::read_dir(&dir)
        .expect("event-schemas/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    let names: Vec<String> = generated.keys().cloned().collect();
    assert_eq!(
        committed, names,
        "event-schemas/ holds other files than the event types: run `cargo run -p carebill -- event-schemas` and commit"
    );
    for (name, text) in &generated {
        let on_disk = std::fs::read_to_string(dir.join(name)).expect("schema");
        assert!(
            &on_disk == text,
            "event-schemas/{name} is stale: run `cargo run -p carebill -- event-schemas` and commit it"
        );
        let schema: Value = serde_json::from_str(text).expect("json");
        assert_eq!(
            schema["properties"]["type"]["const"],
            name.trim_end_matches(".json")
        );
        assert!(schema["$defs"].as_object().is_some_and(|d| !d.is_empty()));
    }
    assert_eq!(generated.len(), carebill_suite::event_schemas::EVENTS.len());
}

/// The shell blocks of the tutorial (docs/tutorial/money-path.md) between `<!-- walk:start -->`
/// and `<!-- walk:end -->`, then the first block after it (the bad-input example).
fn tutorial_walk() -> (String, String) {
    let tutorial = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/tutorial/money-path.md"
    ))
    .expect("the tutorial");
    let (_, rest) = tutorial
        .split_once("<!-- walk:start -->")
        .expect("walk start marker");
    let (walk, after) = rest
        .split_once("<!-- walk:end -->")
        .expect("walk end marker");
    let blocks = |text: &str, fence: &str| -> Vec<String> {
        text.split(fence)
            .skip(1)
            .filter_map(|b| b.split_once("```").map(|(code, _)| code.to_owned()))
            .collect()
    };
    // The e-invoices page continues the money path's walk, in the same shell.
    let e_invoices = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/tutorial/e-invoices.md"
    ))
    .expect("the e-invoices page");
    let (_, rest) = e_invoices
        .split_once("<!-- walk:start -->")
        .expect("e-invoices walk start marker");
    let (continued, _) = rest
        .split_once("<!-- walk:end -->")
        .expect("e-invoices walk end marker");
    // The collecting page continues both.
    let collecting = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/tutorial/collecting.md"
    ))
    .expect("the collecting page");
    let (_, rest) = collecting
        .split_once("<!-- walk:start -->")
        .expect("collecting walk start marker");
    let (collecting, _) = rest
        .split_once("<!-- walk:end -->")
        .expect("collecting walk end marker");
    // The printed invoices page continues all three.
    let printed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/tutorial/printed-invoices.md"
    ))
    .expect("the printed invoices page");
    let (_, rest) = printed
        .split_once("<!-- walk:start -->")
        .expect("printed invoices walk start marker");
    let (printed, _) = rest
        .split_once("<!-- walk:end -->")
        .expect("printed invoices walk end marker");
    // The dashboard page continues all four.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/tutorial/dashboard.md"
    ))
    .expect("the dashboard page");
    let (_, rest) = dashboard
        .split_once("<!-- walk:start -->")
        .expect("dashboard walk start marker");
    let (dashboard, _) = rest
        .split_once("<!-- walk:end -->")
        .expect("dashboard walk end marker");
    // The care agency page continues all five.
    let agency = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/tutorial/agency.md"
    ))
    .expect("the care agency page");
    let (_, rest) = agency
        .split_once("<!-- walk:start -->")
        .expect("agency walk start marker");
    let (agency, _) = rest
        .split_once("<!-- walk:end -->")
        .expect("agency walk end marker");
    // The electronic claims page continues all six.
    let e_billing = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/tutorial/e-billing.md"
    ))
    .expect("the e-billing page");
    let (_, rest) = e_billing
        .split_once("<!-- walk:start -->")
        .expect("e-billing walk start marker");
    let (e_billing, _) = rest
        .split_once("<!-- walk:end -->")
        .expect("e-billing walk end marker");
    let walk = [
        blocks(walk, "```bash\n"),
        blocks(continued, "```bash\n"),
        blocks(collecting, "```bash\n"),
        blocks(printed, "```bash\n"),
        blocks(dashboard, "```bash\n"),
        blocks(agency, "```bash\n"),
        blocks(e_billing, "```bash\n"),
    ]
    .concat()
    .join("\n");
    let bad = blocks(after, "```sh\n")
        .into_iter()
        .next()
        .expect("a bad-input example after the walk");
    (walk, bad)
}

#[test]
fn the_tutorial_works_as_written() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("carebill-data");
    // The collecting page's outside parties, as its setup starts them.
    let outbound = Outbound::start_as("AC1", "sms-token");
    let mut env = outbound.env();
    env.push((
        "CAREBILL_MAIL_FROM".to_owned(),
        "Hospital Central <cobros@h1.example>".to_owned(),
    ));
    // The payment provider's stand-in: the walk starts it on this port.
    let payments = format!(
        "http://127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
    );
    env.extend(
        [
            ("CAREBILL_PAYMENTS_URL", payments.as_str()),
            ("CAREBILL_PAYMENTS_SECRET_KEY", "sk_test_carebill"),
            ("CAREBILL_PAYMENTS_WEBHOOK_SECRET", "whsec_carebill"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&["--data-dir", data.to_str().expect("utf8")], &env);
    let (walk, bad) = tutorial_walk();
    let bin_dir = Path::new(BIN).parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -euo pipefail\n{walk}\necho '--- bad input'\n{bad}\n");
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("CAREBILL", &server.base)
        .env("MAILDIR", outbound.maildir.path())
        .env("SMS_URL", &outbound.sms_url)
        .env("PAYMENTS", &payments)
        .env(
            "CAREBILL_REPO",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
        )
        .output()
        .expect("bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // For whoever writes the docs: the walk's whole output, to copy expected lines from.
    if std::env::var_os("CAREBILL_WALK_OUT").is_some() {
        eprintln!("{stdout}");
    }
    assert!(
        out.status.success(),
        "the tutorial's walk failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("\"problem\": \"quantity: must be greater than zero\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"void_reason\": \"charged to the wrong episode\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("\"amount\": \"38.50\""),
        "the payer's price resolves: {stdout}"
    );
    assert!(
        stdout.contains(
            r#"{"version":2,"rounding_precision":"0.10","reason":"round to 10 cents from now on"}"#
        ) && stdout.contains(r#"{"location_code":"H1","rule_code":"CARE-L","enabled":true}"#),
        "the invoicing rules step: {stdout}"
    );
    assert!(
        stdout.contains(r#"{"moved":1,"refused":0,"status":["in_audit"]}"#),
        "the corrected settlement released in bulk: {stdout}"
    );
    // The billing run step: the October preview, the committed totals, November's corrections.
    for expected in [
        r#"["CARE-L","beneficiary","28","2394.00",3]"#,
        r#"["CARE-L","public_authority","-28","-2394.00",3]"#,
        r#"["HOTEL","beneficiary","27","3240.00",4]"#,
        r#"["CARE-PA","public_authority","28","2674.00",3]"#,
        r#"{"same":true,"line_count":6,"totals":[{"context":"beneficiary","amount":"5634.00"},{"context":"insurance","amount":"686.00"},{"context":"public_authority","amount":"280.00"}]}"#,
        r#"{"number":"H1/2026-10/1","kind":"periodic","total":"6600.00","parties":[{"to":"MADRID-DEP","amount":"280.00"},{"to":"SANITAS","amount":"686.00"},{"to":"resident","amount":"5634.00"}]}"#,
        r#"{"to":"MADRID-DEP","total":"280.00","lines":[["CARE","-2394.00"],["CARE-PA","2674.00"]]}"#,
        r#"{"to":"SANITAS","total":"686.00","lines":[["CARE","-2394.00"],["CARE-INS","3080.00"]]}"#,
        r#"{"to":"resident","total":"5634.00","lines":[["CARE","2394.00"],["ROOM","3240.00"]]}"#,
        r#"["CARE-PA","public_authority","-3","-286.50"]"#,
        r#"["CARE-L","beneficiary","-3","-256.50"]"#,
        r#"["CARE-L","insurance","3","256.50"]"#,
        r#"["HOTEL","beneficiary","-3","-360.00"]"#,
        r#"{"kind":"stay","version":1,"etag":"\"v1\""}"#,
        // Business conditions: the refused set, the stored one, the after-hours lines.
        r#"{"field":"conditions.0.when","code":"syntax"}"#,
        r#"{"version":1,"conditions":["NIGHT","NIGHT-FEE"]}"#,
        r#"{"code":"CONS-GP","amount":"46.20","conditions":["NIGHT","NIGHT-FEE"],"shares":["32.96","6.62","6.62"]}"#,
        r#"{"code":"FEE-NIGHT","amount":"10.00","conditions":["NIGHT-FEE"],"shares":["4.00","3.00","3.00"]}"#,
        r#"{"conditions_version":1,"total_in_force":"56.20","total_draft":"48.50","changed":[{"code":"CONS-GP","before":"46.20","after":"38.50"}]}"#,
        r#"{"totals":[{"context":"beneficiary","amount":"4315.50"},{"context":"insurance","amount":"514.50"},{"context":"public_authority","amount":"210.00"}],"differences":[{"rule_code":"CARE-L","context":"beneficiary","in_force":"1795.50","draft":"1796.00"},{"rule_code":"CARE-L","context":"insurance","in_force":"-1795.50","draft":"-1796.00"},{"rule_code":"CARE-L","context":"public_authority","in_force":"-1795.50","draft":"-1796.00"}]}"#,
        r#"{"subject":"lucia","active":true,"locations":["H1"],"payers":[]}"#,
        r#"{"assigned_to":"lucia","by_status":{"draft":1},"total":1}"#,
        // The prepaid bundle.
        r#"{"code":"PHYSIO","quantity":"2","amount":"0.00","prepaid":"2","left":"3"}"#,
        r#"{"code":"PHYSIO","quantity":"4","amount":"45.00","prepaid":"3","left":"0"}"#,
        r#"{"offer":"PHYSIO-5-SPRING","bought_on":"2026-11-19","valid_until":"2027-02-16","units":"5","used":"5","remaining":"0"}"#,
        // E-invoices: the payer's UBL, MUTUA's gaps, MUTUA completed.
        "<cbc:InvoiceTypeCode>380\n<cbc:BuyerReference>SANITAS-HOSP\n<cbc:PayableAmount currencyID=\"EUR\">42.00\n",
        "\"document_incomplete\"\n[\"BT-49\",\"Buyer electronic address\",\"/v1/payers/\u{2026}\"]\n[\"BG-8\",\"Buyer postal address\",\"/v1/payers/\u{2026}\"]\n",
        r#"{"legal_name":null,"endpoint":{"scheme":"9920","id":"ESG28000001"},"buyer_reference":"MUTUA-HOSP","payment_terms":{"days":60,"end_of_month":true,"text":null}}"#,
        r#"{"country":"ES","service_group":"COSMETIC","category":"S","rate":"21","valid_from":"2026-01-01"}"#,
        // A partial credit note, and what collections makes of it on a paid invoice.
        r#"{"partial":true,"total":"7.60","lines":[["LAB-HB","1","7.60"]]}"#,
        r#"{"status":"issued","credited":"7.60"}"#,
        r#"{"status":"paid","credited":"7.60","paid":"34.40","outstanding":"0.00"}"#,
        // A batch by rule: closed, exported, sent, followed by collections.
        r#"[["invoice","42.00"],["invoice","686.00"],["credit_note","7.60"]]"#,
        r#"{"status":"closed","number":"H1-BAT-YYYY-000001","document_count":3,"invoiced":"728.00","credited":"7.60","net":"720.40"}"#,
        "invoice 42.00 ok True\ninvoice 686.00 ok True\ncredit_note 7.60 ok True\n",
        r#"{"status":"sent"}"#,
        r#"{"collection_status":"partly_collected","invoiced":"728.00","outstanding":"686.00"}"#,
        r#"[{"total":"42.00","status":"paid","batch":true},{"total":"686.00","status":"open","batch":true}]"#,
        // Collecting: reminders by e-mail and SMS.
        r#"{"version":1,"levels":[["aviso",-3,"email"],["primer recordatorio",10,"sms"]]}"#,
        r#"[true,1,[["aviso","carmen@example.org","Su factura H1-INV-2026-000007 vence el "#,
        r#"{"queued":1,"skipped":{"channel_unavailable":0,"currency_mismatch":0,"disputed":0,"in_plan":0,"no_contact":0,"no_policy":3,"opted_out":0}}"#,
        "X-Envelope-To: carmen@example.org\nSubject: Su factura H1-INV-2026-000007 vence el ",
        "{\"queued\":1}\n{\"queued\":0}\n{\"sent\":1}\n",
        r#"["+34600111222","HCentral: la factura H1-INV-2026-000007 lleva 10 dias vencida. Total con gastos: 5639.00 EUR."]"#,
        r#"[[1,"email","sent",1,"0.00"],[2,"sms","sent",1,"5.00"]]"#,
        // Paying online.
        r#"{"status":"open","amount":"10.25","invoice_number":"H1-INV-2026-000002"}"#,
        r#"{"authorization":"Bearer sk_test_carebill","amount":"1025","currency":"eur"}"#,
        r#"{"webhook_status":200,"outcome":"recorded"}"#,
        r#"{"status":"paid","paid":"10.25","outstanding":"0.00"}"#,
        r#"{"webhook_status":200,"outcome":"duplicate"}"#,
        // A deposit, a split payment, a plan that breaks.
        r#"{"kind":"prepayment","amount":"50.00","unallocated":"50.00"}"#,
        r#"{"method":"split","tenders":[["card","20.00"],["cash","10.00"]]}"#,
        r#"{"status":"partially_paid","paid":"80.00","outstanding":"40.00"}"#,
        r#"{"status":422,"code":"plan_does_not_add_up","fields":["installments"]}"#,
        r#"{"status":"active","total":"40.00","installments":[["20.00","due"],["20.00","due"]]}"#,
        r#"{"status":"active","paid":"5.00","installments":[["5.00","partly_paid"],["0.00","due"]]}"#,
        r#"{"broken":1,"still_active":0}"#,
        r#"{"status":"broken","outstanding":"35.00","installments":[[true,"missed"],[false,"due"]]}"#,
        r#"{"broken":0,"still_active":0}"#,
        // A bank statement, and where the money stands.
        r#"{"matched":1,"unmatched":1,"entries":[["686.00","matched","reference"],["12.34","unmatched",null]]}"#,
        "{\"status\":\"paid\",\"paid\":\"686.00\",\"outstanding\":\"0.00\"}\n200\n1\n",
        r#"{"status":"matched","matched_by":"hand"}"#,
        r#"{"status":409,"code":"already_matched"}"#,
        r#"{"current":"0.00","days_1_30":"5954.00","total":"5954.00","receivables":3}"#,
        // Printed invoices: a layout, a preview, delivery by e-mail, the portal.
        r#"{"code":"H1-standard","version":1,"language":"es","qr":true}"#,
        r#"{"status":422,"errors":["footer_text"]}"#,
        "Factuur\n",
        "carebill-layout: built-in\n",
        r#"{"channel":"email","email":"elena@example.org","version":1}"#,
        "carebill-layout: H1-standard;version=1\n",
        r#"["sent","elena@example.org",1]"#,
        "Factura\napplication/pdf True\nBase imponible\n",
        "[\"patient\"]\n304\n%PDF-\n403\n",
        "%PDF-\n{\"uses\":1,\"revoked\":true}\n401\n",
        // The dashboard.
        r#"[["draft",3,["5441.20"]],["in_review",0,[]],["observed",0,[]],["in_audit",0,[]],["approved",0,[]]]"#,
        "{\"number\":\"H1/2026-11/1\",\"days\":0}\n",
        r#"{"currency":"EUR","invoices":9,"billed":"6912.75","credited":"77.85","collected":"825.90","written_off":"0.00","outstanding":"6014.00","overdue":"0.00"}"#,
        r#"{"invoices":9,"billed":"6912.75","outstanding":"6014.00"}"#,
        "[\"draft\",4,\"5486.20\"]\n[[null,\"biller\",\"draft\",1],[\"lucia\",\"biller\",\"draft\",3]]\nin_review\n[\"lucia\",\"biller\",\"in_review\",1]\n",
        "[\"Hospital Central\",1]\n[\"SANITAS\",1]\n",
        "month,currency,invoices,billed,billed_year_before,adjusted,credited,collected,written_off,outstanding\nEUR\n<svg\n",
        "Billed per month \u{2014} Hospital Central\nWaiting to be invoiced \u{2014} All locations\n",
        r#"{"status":422,"errors":[["to","before_from"]]}"#,
        r#"[406,"this resource is available as application/json, text/csv; `Accept` allows none of them"]"#,
        r#"["CONSULTATIONS","44.35","5.85","38.50"],["DENTAL","240.00","60.00","180.00"],["LAB","28.40","12.00","16.40"]"#,
        r#"[[null,"day",6,"55"],[null,"session",3,"3"],[null,"test",3,"6"],["DR-ROSSI","visit",3,"3"]]"#,
        r#"[["dental cleaning not performed",1,"70.25"],["one hemoglobin test not performed",1,"7.60"]]"#,
        "payer,currency,invoices,billed,adjusted,credited,collected,written_off,outstanding\nMADRID-DEP,EUR,1,280.00,0.00,0.00,0.00,0.00,280.00\nMUTUA,EUR,1,10.25,0.00,0.00,10.25,0.00,0.00\nSANITAS,EUR,2,728.00,0.00,7.60,720.40,0.00,0.00\n,EUR,5,5894.50,5.00,70.25,95.25,0.00,5734.00\nmethod,currency,amount\ntransfer,EUR,30.00\n",
        // A care agency's month: refusals, the forgotten week, hours, the approval by link and portal.
        r#"{"status":422,"fields":["bank_account.iban","self_billing_agreements.1"]}"#,
        r#"{"status":422,"errors":[["commission","30.00 per hour is above the hours' value (the lowest tariff is 27.00)"]]}"#,
        "[\"anouk@example.nl\",\"sanne@example.nl\"]\n2\n",
        r#"[422,"start","overlaps"]"#,
        r#"{"status":"awaiting_approval","counts":{"draft":0,"submitted":2,"approved":0,"disputed":0},"hours":"9.5"}"#,
        "henk.bakker@example.nl\n",
        r#"{"carer":"Anouk de Vries","agency":"Zorgbemiddeling Utrecht","lines":[["08:00","12:30","4.5"],["17:00","22:00","5"]]}"#,
        r#"{"status":"open","counts":{"draft":0,"submitted":0,"approved":1,"disputed":1},"approvals":["released"]}"#,
        "draft\n401\n",
        r#"{"status":"approved","hours":"8.5","approvals":["released","released"]}"#,
        // Its invoices: self-billed, mediation fee, the month's commission in one run; delivered
        // by e-mail and notice.
        r#"[["hours","389","payer"],["hours","389","payer"],["mediation_fee","380","patient"],["mediation_fee","380","patient"]]"#,
        r#"{"seller":true,"total":"146.25","lines":[["PERSONAL-CARE","4.5","146.25"]]}"#,
        r#"[{"approvals":2,"net":"34.53","vat":"7.25","total":"41.78"}]"#,
        r#"["18.28","16.25"]"#,
        "anouk@example.nl\npgb-facturen@svb.example\nportal_notice\n%PDF-\n",
        r#"["carer","patient","patient","payer","payer"]"#,
        r#"{"invoiced":"41.78","outstanding":"41.78"}"#,
        // Electronic claims: an e-billing with its missing information, fixed, sent; what
        // comes back, posted in collections.
        "[\"OV-EST\",\"150.00\",\"original\"]\n[\"LAB-CBC\",\"40.00\",\"original\"]\n",
        r#"{"status":"missing_info","claims":1,"ready":0}"#,
        r#"{"loop":"2310B","element":"NM109","name":"Rendering Provider Identifier","kind":"unresolved","href":"/v1/practitioners?code=DR-HOUSE","claims":1}"#,
        "1999999992\nready\n",
        "ST*837*0001*005010X222A1\nCLM*NUMBER*190***22:B:1*Y*A*Y*I\nSV1*HC:99213*150*UN*1***1\nSV1*HC:85025*40*UN*1***1\nST*276*0001*005010X212\nTRN*1*NUMBER\nsent\n",
        r#"{"status":"accepted","payer_claim_number":"PAYER-ICN-1","matched":true}"#,
        r#"{"trace_number":"CHK-100200","total":"110.00","claims":{"total":1,"posted":1,"review":0,"denied":0,"unmatched":0}}"#,
        r#"{"note":"posted; 55.00 USD is the patient's responsibility","paid":"110.00","adjustments":[["CO","45","25.00"],["PR","2","15.00"],["PR","1","40.00"]]}"#,
        "{\"status\":\"paid\",\"paid\":\"110.00\",\"adjusted\":\"-80.00\",\"outstanding\":\"0.00\",\"kinds\":[\"contractual\",\"patient_responsibility\",\"patient_responsibility\"]}\n200\n",
        r#"[["277CA","accepted"],["835","paid"]]"#,
    ] {
        assert!(
            stdout.contains(expected),
            "billing run step, {expected}: {stdout}"
        );
    }
    // The claim file and status request the walk downloaded, for the outside validators.
    if let Ok(to) = std::env::var("CAREBILL_X12_OUT") {
        std::fs::create_dir_all(&to).expect("x12 out");
        for (file, name) in [
            ("claims.837", "walk.837"),
            ("status.276", "walk.276"),
            ("ack.277ca", "walk.277ca"),
            ("payment.835", "walk.835"),
        ] {
            std::fs::copy(dir.path().join(file), Path::new(&to).join(name)).expect("x12 kept");
        }
    }
    // The walk's charts, for the dashboard page's pictures (scripts/docs-images.sh).
    if let Ok(to) = std::env::var("CAREBILL_KEEP_CHARTS") {
        for chart in ["progress.svg", "pending.svg"] {
            std::fs::copy(dir.path().join(chart), Path::new(&to).join(chart)).expect("chart kept");
        }
    }
    let ubl = std::fs::read_to_string(dir.path().join("sanitas-invoice.xml")).expect("saved UBL");
    assert!(
        ubl.contains("<cbc:EndpointID schemeID=\"9920\">ESA28037042</cbc:EndpointID>")
            && ubl.contains("<cbc:ID>ES9121000418450200051332</cbc:ID>"),
        "the invoice names its buyer and the account to pay to, as master data gave them: {ubl}"
    );
    let (_, after_bad) = stdout.split_once("--- bad input").expect("marker");
    assert!(
        after_bad.contains("\"code\":\"episode_not_open\""),
        "{after_bad}"
    );
    server.stop();
}

#[test]
fn the_documented_configuration_example_is_a_valid_configuration() {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/operations/configuration.md"
    ))
    .expect("docs/operations/configuration.md");
    let (_, rest) = page
        .split_once("example file:\n\n```toml\n")
        .expect("the example");
    let (toml, _) = rest.split_once("```").expect("its end");
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("carebill.toml");
    std::fs::write(&file, toml).expect("write");
    let cfg = carebill_platform::config::Config::load(Some(&file), Some("accounts"), &|_| None)
        .expect("the example of docs/operations/configuration.md loads");
    assert_eq!(cfg.bind, "0.0.0.0:8080");
    assert_eq!(cfg.database.pool_size, 20);
    assert_eq!(cfg.auth.algorithms, vec!["RS256".to_owned()]);
    assert!(cfg.auth.jwks_url.is_some());
}

#[test]
fn the_token_command_refuses_what_it_cannot_sign() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().to_str().expect("utf8");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("token")
            .args(args)
            .args(["--data-dir", data])
            .output()
            .expect("run")
    };
    let unknown = run(&["--role", "astronaut"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown role"));
    let payer = run(&["--role", "payer"]);
    assert!(!payer.status.success());
    assert!(String::from_utf8_lossy(&payer.stderr).contains("--payer"));
    let patient = run(&["--role", "patient"]);
    assert!(!patient.status.success());
    assert!(String::from_utf8_lossy(&patient.stderr).contains("--patient"));
    let carer = run(&["--role", "carer"]);
    assert!(!carer.status.success());
    assert!(String::from_utf8_lossy(&carer.stderr).contains("--carer"));
    let ttl = run(&["--role", "admin", "--ttl", "soon"]);
    assert!(!ttl.status.success());
    let ok = run(&["--role", "payer", "--payer", "SANITAS", "--ttl", "30m"]);
    assert!(ok.status.success());
    let token = String::from_utf8_lossy(&ok.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT alone on the last line");
}

#[test]
fn the_settlement_service_runs_alone_on_postgresql() {
    let pg = PgTestDb::create();
    let vhost = TestVhost::create();
    let secret = "e2e-secret-0123456789abcdef0123456789";
    let envs = [
        ("CAREBILL_SETTLEMENT_DATABASE_URL", pg.url.as_str()),
        ("CAREBILL_AMQP_URL", vhost.url.as_str()),
        ("CAREBILL_JWT_SECRET", secret),
    ];
    let migrated = carebill(&["migrate", "--service", "settlement"], &envs);
    assert!(migrated.contains("settlement: applied"), "{migrated}");
    let server = Server::start(&["--service", "settlement"], &envs);
    let c = Client {
        base: server.base.clone(),
        token: token(&["--role", "billing_manager"], &envs),
        http: reqwest::blocking::Client::new(),
    };
    let (s, p) = c.post("/v1/prices", &json!({"code": "CONS-GP", "unit_price": {"amount": "45.00", "currency": "EUR"}, "valid_from": "2026-01-01"}));
    assert_eq!(s, 201, "{p}");
    let (s, r) = c.get("/v1/prices/resolve?code=CONS-GP&on=2026-11-20&location_code=H1");
    assert_eq!(
        (s, r["unit_price"]["amount"].as_str()),
        (200, Some("45.00"))
    );
    assert_eq!(
        c.get("/v1/consumptions").0,
        404,
        "accounts routes are not served by settlement"
    );
    server.stop();
}

#[test]
fn a_crash_loses_no_committed_consumption_and_no_event() {
    let pg = PgTestDb::create();
    let vhost = TestVhost::create();
    let secret = "e2e-secret-0123456789abcdef0123456789";
    let envs = [
        ("CAREBILL_DATABASE_URL", pg.url.as_str()),
        ("CAREBILL_AMQP_URL", vhost.url.as_str()),
        ("CAREBILL_JWT_SECRET", secret),
    ];
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let conn = rt
        .block_on(lapin::Connection::connect(
            &vhost.url,
            lapin::ConnectionProperties::default(),
        ))
        .expect("amqp");
    let ch = rt.block_on(conn.create_channel()).expect("channel");
    rt.block_on(declare_consumer(
        &ch,
        "crash",
        &["carebill.accounts.consumption.#".to_owned()],
    ))
    .expect("declare");

    let server = Server::start(&["--service", "accounts"], &envs);
    let admin = Client {
        base: server.base.clone(),
        token: token(&["--role", "admin"], &envs),
        http: reqwest::blocking::Client::new(),
    };
    let episode = walk(&admin);
    // Push batches from another thread and kill the service while they flow.
    let pusher = {
        let base = server.base.clone();
        let tok = admin.token.clone();
        let episode = episode.clone();
        std::thread::spawn(move || {
            let http = reqwest::blocking::Client::new();
            for b in 0..40 {
                let items: Vec<Value> = (0..100)
                    .map(|i| json!({"episode_id": episode, "code": "LAB-HB", "quantity": "1", "performed_at": "2026-11-20T09:30:00Z", "source_system": "CRASH", "external_id": format!("{b}-{i}")}))
                    .collect();
                if http
                    .post(format!("{base}/v1/consumptions/batch"))
                    .bearer_auth(&tok)
                    .json(&json!({"items": items}))
                    .send()
                    .is_err()
                {
                    return b;
                }
            }
            40
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    server.crash();
    let reached = pusher.join().expect("pusher");
    assert!(
        reached < 40,
        "the crash happened while batches were flowing ({reached} sent)"
    );

    // Restarted, the HIS retries everything: what was committed comes back as duplicates.
    let server = Server::start(&["--service", "accounts"], &envs);
    let c = Client {
        base: server.base.clone(),
        token: admin.token.clone(),
        http: reqwest::blocking::Client::new(),
    };
    for b in 0..40 {
        let items: Vec<Value> = (0..100)
            .map(|i| json!({"episode_id": episode, "code": "LAB-HB", "quantity": "1", "performed_at": "2026-11-20T09:30:00Z", "source_system": "CRASH", "external_id": format!("{b}-{i}")}))
            .collect();
        let (s, r) = c.post("/v1/consumptions/batch", &json!({"items": items}));
        assert_eq!((s, r["rejected"].as_u64()), (200, Some(0)), "{r}");
    }
    let mut stored = std::collections::BTreeSet::new();
    let mut url = format!("/v1/consumptions?episode_id={episode}&source_system=CRASH&limit=500");
    loop {
        let (_, page) = c.get(&url);
        for item in page["items"].as_array().expect("items") {
            stored.insert(item["id"].as_str().expect("id").to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cur) => {
                url = format!(
                    "/v1/consumptions?episode_id={episode}&source_system=CRASH&limit=500&cursor={cur}"
                )
            }
            None => break,
        }
    }
    assert_eq!(stored.len(), 4000, "every consumption stored once");

    // Every stored consumption's event reaches the broker; none twice under different ids.
    // Rows the crashed relay had claimed wait for their 30 s lease to run out.
    let mut event_of: std::collections::BTreeMap<String, String> =
        std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while event_of.len() < stored.len() && Instant::now() < deadline {
        match rt
            .block_on(ch.basic_get(
                queue_name("crash").as_str().into(),
                lapin::options::BasicGetOptions { no_ack: true },
            ))
            .expect("get")
        {
            Some(m) => {
                for env in decode_message(&m.delivery.data).expect("events") {
                    let e = serde_json::to_value(env).expect("json");
                    if e["data"]["source_system"] != "CRASH" {
                        continue;
                    }
                    let consumption = e["data"]["consumption_id"].as_str().expect("id").to_owned();
                    let id = e["id"].as_str().expect("event id").to_owned();
                    if let Some(previous) = event_of.insert(consumption.clone(), id.clone()) {
                        assert_eq!(
                            previous, id,
                            "a redelivery repeats the same event id, never a new event"
                        );
                    }
                }
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let published: std::collections::BTreeSet<String> = event_of.keys().cloned().collect();
    assert_eq!(
        published, stored,
        "exactly the stored consumptions have events"
    );
    server.stop();
    drop(conn);
}

#[test]
fn the_dead_letters_command_says_what_it_needs() {
    let out = Command::new(BIN)
        .args(["dead-letters", "--service", "settlement"])
        .env_remove("CAREBILL_AMQP_URL")
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("CAREBILL_AMQP_URL"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["dead-letters"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "--service is required");
    let out = Command::new(BIN)
        .args(["dead-letters", "--service", "settlement", "--limit", "many"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "--limit is a number");
}

/// The suite as a client sees it: one base URL per service (all the same in embedded mode) and
/// a token per role.
struct Suite {
    bases: Vec<(&'static str, String)>,
    tokens: std::collections::HashMap<&'static str, String>,
    http: reqwest::blocking::Client,
    /// The SMTP server and SMS stand-in the suite's collections sends reminders to, if any.
    outbound: Option<std::sync::Arc<Outbound>>,
}

/// A real SMTP server (aiosmtpd, keeping messages as files) and the SMS provider stand-in, from
/// scripts/standins/, stopped on drop.
struct Outbound {
    _smtp: StandIn,
    _sms: StandIn,
    maildir: tempfile::TempDir,
    smtp_url: String,
    sms_url: String,
    account: String,
    sms_token: String,
}

impl Outbound {
    fn start() -> Outbound {
        Outbound::start_as("AC-E2E", "e2e-token")
    }

    /// With the SMS provider's account and token.
    fn start_as(account: &str, sms_token: &str) -> Outbound {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let venv = Command::new("bash")
            .arg(root.join("scripts/tools-venv.sh"))
            .output()
            .expect("scripts/tools-venv.sh");
        assert!(
            venv.status.success(),
            "{}",
            String::from_utf8_lossy(&venv.stderr)
        );
        let python = String::from_utf8_lossy(&venv.stdout).trim().to_owned();
        let maildir = tempfile::tempdir().expect("maildir");
        let dir = maildir.path().to_str().expect("utf8").to_owned();
        let smtp = StandIn::start_with(
            &python,
            "scripts/standins/smtp_sink.py",
            &["--maildir", &dir],
        );
        let sms = StandIn::start(
            "scripts/standins/sms_provider.py",
            &["--account", account, "--token", sms_token],
        );
        Outbound {
            smtp_url: smtp.base.clone(),
            sms_url: sms.base.clone(),
            _smtp: smtp,
            _sms: sms,
            maildir,
            account: account.to_owned(),
            sms_token: sms_token.to_owned(),
        }
    }

    /// What a service needs to send through them.
    fn env(&self) -> Vec<(String, String)> {
        [
            ("CAREBILL_SMTP_URL", self.smtp_url.as_str()),
            (
                "CAREBILL_MAIL_FROM",
                "Hospital Central <billing@h1.example>",
            ),
            ("CAREBILL_SMS_URL", self.sms_url.as_str()),
            ("CAREBILL_SMS_ACCOUNT", self.account.as_str()),
            ("CAREBILL_SMS_TOKEN", self.sms_token.as_str()),
            ("CAREBILL_SMS_FROM", "HCentral"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    /// The messages the SMTP server accepted.
    fn mails(&self) -> Vec<String> {
        let mut files: Vec<_> = std::fs::read_dir(self.maildir.path())
            .expect("maildir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("mail"))
            .collect()
    }

    /// The texts the SMS stand-in accepted.
    fn texts(&self) -> Vec<Value> {
        let v: Value = reqwest::blocking::Client::new()
            .get(format!(
                "{}/2010-04-01/Accounts/AC-E2E/Messages.json",
                self.sms_url
            ))
            .basic_auth("AC-E2E", Some("e2e-token"))
            .send()
            .expect("sms stand-in")
            .json()
            .expect("json");
        v["messages"].as_array().cloned().unwrap_or_default()
    }
}

/// Which service owns a path (what an ingress routes on).
fn owner(path: &str) -> &'static str {
    // Each service's own OpenAPI paths say which one answers (as the gateway test checks).
    static OWNED: std::sync::OnceLock<Vec<(&'static str, Vec<String>)>> =
        std::sync::OnceLock::new();
    let owned = OWNED.get_or_init(carebill_suite::openapi::paths_by_service);
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let matches = |template: &str| {
        let t: Vec<&str> = template.split('/').collect();
        t.len() == segments.len()
            && t.iter()
                .zip(&segments)
                .all(|(t, s)| t == s || t.starts_with('{'))
    };
    owned
        .iter()
        .find(|(_, templates)| templates.iter().any(|t| matches(t)))
        .map_or("accounts", |(service, _)| service)
}

impl Suite {
    fn url(&self, path: &str) -> String {
        let svc = owner(path);
        let base = self
            .bases
            .iter()
            .find(|(s, _)| *s == svc || *s == "*")
            .map(|(_, b)| b.clone())
            .unwrap_or_else(|| panic!("no {svc} service running"));
        format!("{base}{path}")
    }

    fn send(&self, role: &str, req: reqwest::blocking::RequestBuilder) -> (u16, Value) {
        let r = req.bearer_auth(&self.tokens[role]).send().expect("request");
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    }

    fn post(&self, role: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(role, self.http.post(self.url(path)).json(body))
    }

    fn get(&self, role: &str, path: &str) -> (u16, Value) {
        self.send(role, self.http.get(self.url(path)))
    }

    fn created(&self, path: &str, body: &Value) -> Value {
        let (s, v) = self.post("admin", path, body);
        assert_eq!(s, 201, "POST {path}: {v}");
        v
    }

    /// Moves a settlement with If-Match, as a person with `role`.
    fn step(&self, role: &str, id: &str, body: &Value) -> (u16, Value) {
        let (s, doc) = self.get(role, &format!("/v1/settlements/{id}"));
        assert_eq!(s, 200, "{doc}");
        let etag = doc["etag"].as_str().expect("etag").to_owned();
        self.send(
            role,
            self.http
                .post(self.url(&format!("/v1/settlements/{id}/transitions")))
                .header("if-match", etag)
                .json(body),
        )
    }

    fn approve(&self, id: &str) {
        for (role, to) in [
            ("biller", "in_review"),
            ("biller", "in_audit"),
            ("auditor", "approved"),
        ] {
            // Events may change the settlement between our read and our step (412): read it
            // again and retry, as a client does.
            let mut tries = 0;
            loop {
                let (s, doc) = self.step(role, id, &json!({"to": to}));
                if s == 412 && tries < 10 {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                assert_eq!(s, 200, "{to}: {doc}");
                break;
            }
        }
    }
}

/// Polls `f` until it returns `Some`, for up to 60 s.
fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn amount(v: &Value) -> &str {
    v["amount"].as_str().unwrap_or("?")
}

/// The money path: a patient with two coverages, consumptions, settlement, audit approval,
/// invoices per payer and patient to the cent, a void after invoicing, credit notes with reissue,
/// corrected invoices, partial and full payments, statuses and balances.
fn money_path(c: &Suite) {
    let loc = c.created("/v1/locations", &json!({"code": "H1", "name": "Hospital Central", "time_zone": "Europe/Madrid", "tax_id": "ESB12345678"}));
    let sanitas = c.created(
        "/v1/payers",
        &json!({"code": "SANITAS", "name": "Sanitas Seguros", "kind": "insurer"}),
    );
    let mutua = c.created(
        "/v1/payers",
        &json!({"code": "MUTUA", "name": "Mutua Complementaria", "kind": "insurer"}),
    );
    let patient = c.created("/v1/patients", &json!({"identifiers": [{"system": "mrn", "value": "H1-000777"}], "family_name": "Ruiz", "given_name": "Marta", "birth_date": "1975-02-03", "beneficiary_kind": "INSURED"}));
    c.created("/v1/coverages", &json!({"patient_id": patient["id"], "payer_id": sanitas["id"], "policy_number": "S-1", "priority": 1}));
    c.created("/v1/coverages", &json!({"patient_id": patient["id"], "payer_id": mutua["id"], "policy_number": "M-1", "priority": 2}));
    c.created("/v1/catalog-items", &json!({"code": "LAB-HB", "description": "Hemoglobin", "service_group": "LAB", "kind": "lab", "unit": "test"}));
    c.created("/v1/catalog-items", &json!({"code": "CONS", "description": "Specialist consultation", "service_group": "CONSULT", "kind": "consultation", "unit": "visit"}));
    c.created("/v1/prices", &json!({"code": "LAB-HB", "unit_price": {"amount": "12.00", "currency": "EUR"}, "valid_from": "2026-01-01"}));
    c.created("/v1/prices", &json!({"code": "CONS", "unit_price": {"amount": "50.00", "currency": "EUR"}, "valid_from": "2026-01-01"}));
    c.created("/v1/coverage-terms", &json!({"payer_code": "SANITAS", "covered_percent": "80", "currency": "EUR", "copay_per_line": {"amount": "1.00", "currency": "EUR"}}));
    c.created(
        "/v1/coverage-terms",
        &json!({"payer_code": "MUTUA", "covered_percent": "50", "currency": "EUR"}),
    );
    let ep = c.created("/v1/episodes", &json!({"number": "ENC-9", "patient_id": patient["id"], "location_id": loc["id"], "kind": "outpatient"}));
    let episode = ep["id"].as_str().expect("id").to_owned();
    let items: Vec<Value> = ["LAB-HB", "LAB-HB", "LAB-HB", "CONS"]
        .iter()
        .enumerate()
        .map(|(i, code)| json!({"episode_id": episode, "code": code, "quantity": "1", "performed_at": "2026-11-20T09:30:00Z", "source_system": "HIS", "external_id": format!("MP-{i}")}))
        .collect();
    let (s, batch) = c.post(
        "integration",
        "/v1/consumptions/batch",
        &json!({"items": items}),
    );
    assert_eq!((s, batch["created"].as_u64()), (200, Some(4)), "{batch}");

    // The settlement follows the consumptions.
    let settlement = eventually("the settlement with four lines", || {
        let (_, page) = c.get("biller", &format!("/v1/settlements?episode_id={episode}"));
        let s = page["items"].get(0)?.clone();
        (s["line_count"] == 4).then_some(s)
    });
    let id = settlement["id"].as_str().expect("id").to_owned();
    assert_eq!(amount(&settlement["total"]), "86.00");
    // The dashboard follows the settlement service's announcements: the draft waits, 86.00.
    eventually("the dashboard counting the new draft", || {
        let (s, d) = c.get("billing_manager", "/v1/dashboard");
        assert_eq!(s, 200, "{d}");
        (d["pending"][0]["count"] == 1 && amount(&d["pending"][0]["amounts"][0]) == "86.00")
            .then_some(())
    });
    let (s, denied) = c.step("biller", &id, &json!({"to": "approved"}));
    assert_eq!(s, 403, "a biller never approves: {denied}");
    let (s, denied) = c.step("auditor", &id, &json!({"to": "approved"}));
    assert_eq!(s, 409, "draft cannot jump to approved: {denied}");
    c.approve(&id);

    // One invoice per payer and one for the patient. LAB-HB 12.00: SANITAS keeps a 1.00 copay
    // and pays 80 % of 11.00 = 8.80, MUTUA 50 % of the 3.20 left = 1.60, the patient 1.60.
    // CONS 50.00: 39.20, 5.40, 5.40.
    let invoices_of = |status: &str| {
        let (_, page) = c.get(
            "billing_manager",
            &format!("/v1/invoices?settlement_id={id}&status={status}"),
        );
        page["items"].as_array().cloned().unwrap_or_default()
    };
    let issued = eventually("three invoices", || {
        let v = invoices_of("issued");
        (v.len() == 3).then_some(v)
    });
    let by_party = |invoices: &[Value], code: Option<&str>| -> Value {
        invoices
            .iter()
            .find(|i| i["recipient"]["payer_code"].as_str() == code)
            .cloned()
            .unwrap_or_else(|| panic!("no invoice for {code:?} in {invoices:?}"))
    };
    let totals: Vec<&str> = [Some("SANITAS"), Some("MUTUA"), None]
        .iter()
        .map(|p| {
            issued
                .iter()
                .find(|i| i["recipient"]["payer_code"].as_str() == *p)
                .map_or("missing", |i| amount(&i["total"]))
        })
        .collect();
    assert_eq!(totals, ["65.60", "10.20", "10.20"]);
    let mut numbers: Vec<&str> = issued.iter().filter_map(|i| i["number"].as_str()).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        [
            "H1-INV-2026-000001",
            "H1-INV-2026-000002",
            "H1-INV-2026-000003"
        ]
    );
    let patient_invoice = by_party(&issued, None);
    let (_, full) = c.get(
        "billing_manager",
        &format!(
            "/v1/invoices/{}",
            patient_invoice["id"].as_str().expect("id")
        ),
    );
    assert_eq!(full["lines"].as_array().map(Vec::len), Some(4), "{full}");
    assert_eq!(full["lines"][0]["tax"]["category"], "E");
    eventually("the settlement marked invoiced", || {
        let (_, doc) = c.get("biller", &format!("/v1/settlements/{id}"));
        (doc["status"] == "invoiced").then_some(())
    });
    // ... and no longer waits once invoiced; what was billed counts this month.
    eventually("the dashboard after invoicing", || {
        let (_, d) = c.get("billing_manager", "/v1/dashboard");
        let waiting: i64 = d["pending"]
            .as_array()?
            .iter()
            .filter_map(|p| p["count"].as_i64())
            .sum();
        (waiting == 0 && amount(&d["totals"][0]["billed"]) == "86.00").then_some(())
    });
    let receivables = eventually("three receivables", || {
        let (_, page) = c.get(
            "collector",
            &format!(
                "/v1/receivables?party_kind=patient&party_id={}",
                patient["id"].as_str().unwrap_or("")
            ),
        );
        let items = page["items"].as_array()?.clone();
        (items.len() == 1).then_some(items)
    });
    assert_eq!(receivables[0]["status"], "open");
    assert_eq!(amount(&receivables[0]["outstanding"]), "10.20");

    // A test was entered twice: the HIS voids it after invoicing. The billing manager credits
    // the three invoices with reissue; settlement reopens, drops the voided line, and audit
    // approves the correction, which is invoiced again.
    let (_, page) = c.get("biller", &format!("/v1/consumptions?episode_id={episode}"));
    let twice = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["external_id"] == "MP-2")
        .expect("MP-2")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let (s, v) = c.post(
        "admin",
        &format!("/v1/consumptions/{twice}/void"),
        &json!({"reason": "entered twice"}),
    );
    assert_eq!(s, 200, "{v}");
    eventually("the void noted on the invoiced settlement", || {
        let (_, doc) = c.get("biller", &format!("/v1/settlements/{id}"));
        (doc["pending_voids"] == 1).then_some(())
    });
    let (s, refused) = c.post(
        "billing_manager",
        &format!(
            "/v1/invoices/{}/credit-notes",
            patient_invoice["id"].as_str().expect("id")
        ),
        &json!({"reason": " "}),
    );
    assert!(
        s == 400 || s == 422,
        "a credit note needs a reason: {s} {refused}"
    );
    for inv in &issued {
        let (s, cn) = c.post(
            "billing_manager",
            &format!(
                "/v1/invoices/{}/credit-notes",
                inv["id"].as_str().expect("id")
            ),
            &json!({"reason": "consumption MP-2 entered twice", "reissue": true}),
        );
        assert_eq!(s, 201, "{cn}");
        assert_eq!(
            cn["total"], inv["total"],
            "a credit note cancels its invoice exactly"
        );
    }
    let (s, twice_credited) = c.post(
        "billing_manager",
        &format!(
            "/v1/invoices/{}/credit-notes",
            patient_invoice["id"].as_str().expect("id")
        ),
        &json!({"reason": "again", "reissue": false}),
    );
    assert_eq!(s, 409, "{twice_credited}");
    assert_eq!(invoices_of("cancelled").len(), 3);
    let reopened = eventually("the settlement reopened without the voided line", || {
        let (_, doc) = c.get("biller", &format!("/v1/settlements/{id}"));
        // Reopened by the first credit note; settled once all three are known (nothing voided
        // is billed any more).
        (doc["status"] == "draft" && doc["line_count"] == 3 && doc["pending_voids"] == 0)
            .then_some(doc)
    });
    assert_eq!(amount(&reopened["total"]), "74.00");
    c.approve(&id);
    let corrected = eventually("three corrected invoices", || {
        let v = invoices_of("issued");
        (v.len() == 3).then_some(v)
    });
    let corrected_totals: Vec<String> = [Some("SANITAS"), Some("MUTUA"), None]
        .iter()
        .map(|p| amount(&by_party(&corrected, *p)["total"]).to_owned())
        .collect();
    assert_eq!(corrected_totals, ["56.80", "8.60", "8.60"]);

    // Payments: SANITAS pays in two parts; the patient pays too much and keeps a credit.
    let sanitas_invoice = by_party(&corrected, Some("SANITAS"));
    let patient_invoice = by_party(&corrected, None);
    let receivable_of = |invoice: &Value| {
        let inv = invoice["id"].as_str().unwrap_or("").to_owned();
        eventually("the receivable", || {
            let (_, page) = c.get("collector", &format!("/v1/receivables?invoice_id={inv}"));
            page["items"].get(0).cloned()
        })
    };
    receivable_of(&sanitas_invoice);
    receivable_of(&patient_invoice);
    let pay = |party_kind: &str, party: &Value, total: &str, invoice: &Value, allocated: &str| {
        c.post(
            "collector",
            "/v1/payments",
            &json!({"party": {"kind": party_kind, "id": party["id"]}, "amount": {"amount": total, "currency": "EUR"}, "method": "transfer", "received_on": "2026-11-21",
                    "allocations": [{"invoice_id": invoice["id"], "amount": {"amount": allocated, "currency": "EUR"}}]}),
        )
    };
    let (s, err) = pay("payer", &sanitas, "10.00", &sanitas_invoice, "20.00");
    assert_eq!(
        (s, err["code"].as_str()),
        (422, Some("over_allocated")),
        "{err}"
    );
    let (s, err) = pay("payer", &sanitas, "100.00", &sanitas_invoice, "60.00");
    assert_eq!(
        (s, err["code"].as_str()),
        (422, Some("exceeds_outstanding")),
        "{err}"
    );
    let (s, err) = pay("payer", &sanitas, "10.00", &issued[0], "10.00");
    assert_eq!(s, 409, "a cancelled invoice is not paid: {err}");
    let (s, p) = pay("payer", &sanitas, "50.00", &sanitas_invoice, "50.00");
    assert_eq!(s, 201, "{p}");
    assert_eq!(receivable_of(&sanitas_invoice)["status"], "partially_paid");
    let (s, p) = pay("payer", &sanitas, "6.80", &sanitas_invoice, "6.80");
    assert_eq!(s, 201, "{p}");
    assert_eq!(receivable_of(&sanitas_invoice)["status"], "paid");
    let (s, p) = pay("patient", &patient, "10.00", &patient_invoice, "8.60");
    assert_eq!(s, 201, "{p}");
    assert_eq!(receivable_of(&patient_invoice)["status"], "paid");
    let (s, balance) = c.get(
        "collector",
        &format!(
            "/v1/balances/patient/{}",
            patient["id"].as_str().expect("id")
        ),
    );
    assert_eq!(s, 200, "{balance}");
    let eur = &balance["currencies"][0];
    assert_eq!(amount(&eur["outstanding"]), "0.00", "{balance}");
    assert_eq!(amount(&eur["unallocated_credit"]), "1.40", "{balance}");
    assert_eq!(amount(&eur["cancelled"]), "10.20", "{balance}");
    let (_, balance) = c.get(
        "collector",
        &format!("/v1/balances/payer/{}", mutua["id"].as_str().expect("id")),
    );
    assert_eq!(
        amount(&balance["currencies"][0]["outstanding"]),
        "8.60",
        "{balance}"
    );

    // After the invoice number, across the services: a VAT rule; a partial credit note of
    // MUTUA's unpaid invoice that collections follows; a batch of MUTUA's documents closed,
    // exported, sent, and followed by collections.
    let (s, rule) = c.post(
        "billing_manager",
        "/v1/tax-rules",
        &json!({"country": "ES", "service_group": "COSMETIC", "category": "S", "rate": "21", "valid_from": "2026-01-01"}),
    );
    assert_eq!(s, 201, "{rule}");
    let mutua_invoice = by_party(&corrected, Some("MUTUA"));
    let mutua_id = mutua_invoice["id"].as_str().expect("id").to_owned();
    // Its parties lack what an e-invoice needs: the UBL answer names it.
    let (s, incomplete) = c.get("billing_manager", &format!("/v1/invoices/{mutua_id}/ubl"));
    assert_eq!(
        (s, incomplete["code"].as_str()),
        (409, Some("document_incomplete")),
        "{incomplete}"
    );
    assert!(
        incomplete["missing"]
            .as_array()
            .is_some_and(|m| m.iter().any(|g| g["term"] == "BT-34")),
        "{incomplete}"
    );
    let (_, doc) = c.get("billing_manager", &format!("/v1/invoices/{mutua_id}"));
    let (s, cn) = c.post(
        "billing_manager",
        &format!("/v1/invoices/{mutua_id}/credit-notes"),
        &json!({"reason": "goodwill", "reissue": false,
            "lines": [{"consumption_id": doc["lines"][0]["consumption_id"], "amount": "1.60"}]}),
    );
    assert_eq!((s, &cn["partial"]), (201, &json!(true)), "{cn}");
    let reduced = eventually("MUTUA's receivable reduced by the partial credit", || {
        let (_, page) = c.get(
            "collector",
            &format!("/v1/receivables?invoice_id={mutua_id}"),
        );
        let r = page["items"].get(0)?.clone();
        (amount(&r["credited"]) == "1.60").then_some(r)
    });
    assert_eq!(amount(&reduced["outstanding"]), "7.00", "{reduced}");
    let (s, batch) = c.post(
        "billing_manager",
        "/v1/invoice-batches",
        &json!({"location_code": "H1", "currency": "EUR", "payer_code": "MUTUA", "fill": true}),
    );
    assert_eq!(s, 201, "{batch}");
    let batch_id = batch["id"].as_str().expect("id").to_owned();
    let (s, closed) = c.post(
        "billing_manager",
        &format!("/v1/invoice-batches/{batch_id}/close"),
        &json!({}),
    );
    assert_eq!((s, &closed["status"]), (200, &json!("closed")), "{closed}");
    let export = c
        .http
        .get(c.url(&format!("/v1/invoice-batches/{batch_id}/export")))
        .bearer_auth(&c.tokens["billing_manager"])
        .send()
        .expect("export");
    assert_eq!(export.status(), 200);
    assert_eq!(export.headers()["content-type"], "application/zip");
    let (s, sent) = c.post(
        "billing_manager",
        &format!("/v1/invoice-batches/{batch_id}/send"),
        &json!({}),
    );
    assert_eq!((s, &sent["status"]), (200, &json!("sent")), "{sent}");
    let collected = eventually("collections follows the batch", || {
        let (s, b) = c.get("collector", &format!("/v1/collection-batches/{batch_id}"));
        (s == 200).then_some(b)
    });
    assert_eq!(collected["number"], closed["number"]);
    assert_eq!(collected["collection_status"], "open", "{collected}");
    assert_eq!(amount(&collected["outstanding"]), "7.00", "{collected}");
    let (_, in_batch) = c.get("collector", &format!("/v1/receivables?batch_id={batch_id}"));
    assert_eq!(
        in_batch["items"][0]["invoice_id"],
        json!(mutua_id),
        "{in_batch}"
    );
    reminders(c, &mutua_id);
    printed(c, &mutua_id);
}

/// MUTUA's invoice as a PDF in the built-in layout, then e-mailed to MUTUA with its PDF attached
/// through the suite's SMTP server (or, without one, kept queued with the reason).
fn printed(c: &Suite, mutua_invoice: &str) {
    let pdf = c
        .http
        .get(c.url(&format!("/v1/invoices/{mutua_invoice}")))
        .bearer_auth(&c.tokens["billing_manager"])
        .header("accept", "application/pdf")
        .send()
        .expect("the PDF");
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["carebill-layout"], "built-in");
    assert!(pdf.bytes().expect("bytes").starts_with(b"%PDF-"));
    let (_, page) = c.get(
        "collector",
        &format!("/v1/receivables?invoice_id={mutua_invoice}"),
    );
    let payer_code = page["items"][0]["party"]["payer_code"]
        .as_str()
        .expect("the payer's code")
        .to_owned();
    let (s, settings) = c.send(
        "billing_manager",
        c.http
            .put(c.url(&format!("/v1/delivery-settings/payer/{payer_code}")))
            .json(&json!({"channel": "email", "email": "facturas@mutua.example"})),
    );
    assert_eq!(s, 200, "{settings}");
    let (s, queued) = c.post(
        "billing_manager",
        &format!("/v1/invoices/{mutua_invoice}/deliveries"),
        &json!({}),
    );
    assert_eq!(s, 202, "{queued}");
    let (s, _) = c.post("billing_manager", "/v1/delivery-dispatches", &json!({}));
    assert_eq!(s, 200);
    let id = queued["id"].as_str().expect("delivery id").to_owned();
    let Some(outbound) = &c.outbound else {
        let (_, log) = c.get(
            "billing_manager",
            &format!("/v1/invoices/{mutua_invoice}/deliveries"),
        );
        let mine = log
            .as_array()
            .and_then(|l| l.iter().find(|d| d["id"] == id.as_str()).cloned());
        assert_eq!(
            mine.as_ref().map(|d| d["status"].clone()),
            Some(json!("queued")),
            "{log}"
        );
        return;
    };
    eventually("the invoice delivered", || {
        let (_, log) = c.get(
            "billing_manager",
            &format!("/v1/invoices/{mutua_invoice}/deliveries"),
        );
        log.as_array().and_then(|l| {
            l.iter()
                .find(|d| d["id"] == id.as_str() && d["status"] == "sent")
                .cloned()
        })
    });
    let mails = outbound.mails();
    let mail = mails
        .iter()
        .find(|m| m.contains("X-Envelope-To: facturas@mutua.example"))
        .unwrap_or_else(|| panic!("the invoice's e-mail: {mails:?}"));
    assert!(mail.contains("Content-Type: application/pdf"), "{mail}");
}

/// MUTUA's invoice, still owed, is reminded of by e-mail ten days after its due date and by SMS
/// thirty days after, through the SMTP server and SMS provider the suite was started with (or,
/// without them, skipped as `channel_unavailable`).
fn reminders(c: &Suite, mutua_invoice: &str) {
    let (_, page) = c.get(
        "collector",
        &format!("/v1/receivables?invoice_id={mutua_invoice}"),
    );
    let r = page["items"][0].clone();
    let due: chrono::NaiveDate = r["due_date"]
        .as_str()
        .expect("due date")
        .parse()
        .expect("date");
    let payer = r["party"]["id"].as_str().expect("payer id").to_owned();
    let level = |name: &str, days: i64, channel: &str| {
        json!({"name": name, "days_after_due": days, "channel": channel, "fee": {"amount": "2.50", "currency": "EUR"},
            "templates": {"en": {"subject": "Invoice {{ invoice_number }} is overdue",
                "body": "Invoice {{ invoice_number }}: {{ outstanding }} {{ currency }} is {{ days_past_due }} days overdue. With the fee: {{ total }}."}}})
    };
    let (s, policy) = c.send(
        "billing_manager",
        c.http
            .put(c.url("/v1/reminder-policies/PAYERS"))
            .json(&json!({
            "party_kind": "payer", "default_language": "en",
            "levels": [level("first reminder", 10, "email"), level("final reminder", 30, "sms")]})),
    );
    assert_eq!(s, 201, "{policy}");
    let (s, contact) = c.send(
        "collector",
        c.http
            .put(c.url(&format!("/v1/reminder-contacts/payer/{payer}")))
            .json(&json!({"name": "Mutua Madrileña", "email": "cobros@mutua.example", "phone": "+34910000000"})),
    );
    assert_eq!(s, 200, "{contact}");
    for (days, channel) in [(10, "email"), (30, "sms")] {
        let as_of = (due + chrono::Duration::days(days)).to_string();
        let (s, run) = c.post("collector", "/v1/reminder-runs", &json!({"as_of": as_of}));
        assert_eq!(s, 201, "{run}");
        let mine = run["notices"]
            .as_array()
            .and_then(|n| n.iter().find(|n| n["invoice_id"] == mutua_invoice).cloned());
        if c.outbound.is_none() {
            assert!(mine.is_none(), "{run}");
            assert!(
                run["skipped"]["channel_unavailable"].as_i64() >= Some(1),
                "{run}"
            );
            return;
        }
        let notice = mine.unwrap_or_else(|| panic!("MUTUA's {channel} reminder queued: {run}"));
        let id = notice["id"].as_str().expect("id").to_owned();
        let (s, _) = c.post("collector", "/v1/reminder-dispatches", &json!({}));
        assert_eq!(s, 200);
        let sent = eventually("the reminder sent", || {
            let (_, n) = c.get("collector", &format!("/v1/reminder-notices/{id}"));
            (n["status"] == "sent").then_some(n)
        });
        assert_eq!(sent["channel"], channel, "{sent}");
    }
    let Some(outbound) = &c.outbound else { return };
    let mails = outbound.mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(
        mails[0].contains("X-Envelope-To: cobros@mutua.example"),
        "{}",
        mails[0]
    );
    assert!(
        mails[0].contains("is 10 days overdue. With the fee: "),
        "{}",
        mails[0]
    );
    let texts = outbound.texts();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0]["to"], "+34910000000");
    assert!(
        texts[0]["body"]
            .as_str()
            .is_some_and(|b| b.contains("30 days overdue")),
        "{texts:?}"
    );
    // Each reminder's fee is charged to the receivable.
    let (_, page) = c.get(
        "collector",
        &format!("/v1/receivables?invoice_id={mutua_invoice}"),
    );
    assert_eq!(amount(&page["items"][0]["adjusted"]), "5.00", "{page}");
}

fn role_tokens(mint: impl Fn(&str) -> String) -> std::collections::HashMap<&'static str, String> {
    [
        "admin",
        "billing_manager",
        "biller",
        "auditor",
        "collector",
        "integration",
    ]
    .into_iter()
    .map(|r| (r, mint(r)))
    .collect()
}

#[test]
fn the_money_path_runs_in_the_embedded_suite() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    let outbound = std::sync::Arc::new(Outbound::start());
    let env = outbound.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let server = Server::start(&["--data-dir", data], &env);
    let suite = Suite {
        bases: vec![("*", server.base.clone())],
        tokens: role_tokens(|r| token(&["--role", r, "--data-dir", data], &[])),
        http: reqwest::blocking::Client::new(),
        outbound: Some(outbound),
    };
    money_path(&suite);
    server.stop();

    // An event the settlement consumer had parked is applied when re-driven: a consumption
    // event (a fresh one, made from one accounts published) put in settlement's dead letters.
    let dead = carebill(
        &[
            "dead-letters",
            "--service",
            "settlement",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(dead.trim().is_empty(), "nothing failed: {dead}");
    let accounts = Db::connect(&format!("{data}/accounts.sqlite"), 1).expect("accounts db");
    let settlement = Db::connect(&format!("{data}/settlement.sqlite"), 1).expect("settlement db");
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let body: String = rt
        .block_on(accounts.read(|c| {
            Ok(outbox::table
                .filter(outbox::event_type.eq("carebill.accounts.consumption.recorded.v1"))
                .select(outbox::body)
                .first(c)?)
        }))
        .expect("a published consumption");
    let mut env: Value = serde_json::from_str(&body).expect("json");
    let event_id = uuid::Uuid::now_v7().to_string();
    env["id"] = json!(event_id);
    env["data"]["consumption_id"] = json!(uuid::Uuid::now_v7().to_string());
    let (episode, parked) = (
        env["data"]["episode"]["id"]
            .as_str()
            .expect("episode")
            .to_owned(),
        env.to_string(),
    );
    let id = event_id.clone();
    rt.block_on(settlement.write(move |c| {
        diesel::insert_into(dead_letters::table)
            .values((
                dead_letters::id.eq(&id),
                dead_letters::consumer.eq("settlement"),
                dead_letters::event_id.eq(&id),
                dead_letters::event_type.eq("carebill.accounts.consumption.recorded.v1"),
                dead_letters::body.eq(&parked),
                dead_letters::error.eq("simulated: price list locked"),
                dead_letters::failed_at.eq(chrono::Utc::now().naive_utc()),
            ))
            .execute(c)?;
        Ok(())
    }))
    .expect("park");
    let listed = carebill(
        &[
            "dead-letters",
            "--service",
            "settlement",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(
        listed.contains(&event_id) && listed.contains("price list locked"),
        "{listed}"
    );
    let redriven = carebill(
        &[
            "dead-letters",
            "--service",
            "settlement",
            "--redrive",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(redriven.contains("re-driven: 1"), "{redriven}");
    let again = carebill(
        &[
            "dead-letters",
            "--service",
            "settlement",
            "--data-dir",
            data,
        ],
        &[],
    );
    assert!(
        again.trim().is_empty(),
        "re-driven events leave the list: {again}"
    );
    // The late consumption arrived after invoicing: a supplementary settlement.
    let server = Server::start(&["--data-dir", data], &[]);
    let (s, page) =
        suite_with(&suite, &server).get("biller", &format!("/v1/settlements?episode_id={episode}"));
    assert_eq!(s, 200, "{page}");
    let kinds: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["regular", "supplementary"], "{page}");
    server.stop();
    let out = Command::new(BIN)
        .args(["dead-letters", "--service", "accounts", "--data-dir", data])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("consumes no events"));
}

/// The same tokens against a restarted server.
fn suite_with(s: &Suite, server: &Server) -> Suite {
    Suite {
        bases: vec![("*", server.base.clone())],
        tokens: s.tokens.clone(),
        http: s.http.clone(),
        outbound: s.outbound.clone(),
    }
}

/// The service processes of a distributed run, each service on its own PostgreSQL database
/// (replicas share it), events through RabbitMQ.
struct Distributed {
    /// (service, server); a service may appear twice (replicas).
    servers: Vec<(&'static str, Server)>,
    envs: std::collections::HashMap<&'static str, Vec<(String, String)>>,
    _dbs: Vec<PgTestDb>,
    vhost: TestVhost,
    outbound: std::sync::Arc<Outbound>,
}

const SECRET: &str = "e2e-secret-0123456789abcdef0123456789";

impl Distributed {
    fn start() -> Distributed {
        Distributed::start_with(&["accounts", "settlement", "invoicing", "collections"])
    }

    /// Starts `processes` (a service named twice runs two replicas on one database).
    fn start_with(processes: &[&'static str]) -> Distributed {
        let vhost = TestVhost::create();
        let mut d = Distributed {
            servers: Vec::new(),
            envs: std::collections::HashMap::new(),
            _dbs: Vec::new(),
            vhost,
            outbound: std::sync::Arc::new(Outbound::start()),
        };
        for svc in processes {
            if !d.envs.contains_key(svc) {
                let db = PgTestDb::create();
                let mut env = vec![
                    ("CAREBILL_DATABASE_URL".to_owned(), db.url.clone()),
                    ("CAREBILL_AMQP_URL".to_owned(), d.vhost.url.clone()),
                    ("CAREBILL_JWT_SECRET".to_owned(), SECRET.to_owned()),
                ];
                env.extend(d.outbound.env());
                d._dbs.push(db);
                d.envs.insert(svc, env);
                carebill(&["migrate", "--service", svc], &d.env(svc));
            }
            let server = Server::start(&["--service", svc], &d.env(svc));
            d.servers.push((svc, server));
        }
        d
    }

    fn env(&self, svc: &str) -> Vec<(&str, &str)> {
        self.envs[svc]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn suite(&self) -> Suite {
        let env = self.env("accounts");
        let mut bases: Vec<(&'static str, String)> = Vec::new();
        for (svc, server) in &self.servers {
            if !bases.iter().any(|(s, _)| s == svc) {
                bases.push((svc, server.base.clone()));
            }
        }
        Suite {
            bases,
            tokens: role_tokens(|r| token(&["--role", r], &env)),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
            outbound: Some(self.outbound.clone()),
        }
    }

    /// kill -9 the `n`th process and start it again on the same port.
    fn crash_and_restart(&mut self, n: usize) {
        let (svc, old) = self.servers.remove(n);
        let bind = old.base.trim_start_matches("http://").to_owned();
        old.crash();
        let server = Server::start_at(&["--service", svc], &self.env(svc), &bind);
        self.servers.insert(n, (svc, server));
    }

    fn stop(self) {
        for (_, server) in self.servers {
            server.stop();
        }
    }
}

#[test]
fn the_money_path_runs_across_four_services_on_postgresql_and_rabbitmq() {
    let d = Distributed::start();
    money_path(&d.suite());
    for svc in ["settlement", "invoicing", "collections"] {
        let dead = carebill(&["dead-letters", "--service", svc], &d.env(svc));
        assert!(dead.trim().is_empty(), "{svc} dead letters: {dead}");
    }
    d.stop();
}

/// A care home's month through every part that carries it: care records recorded in accounts
/// reach settlement as events; the October run is previewed, committed and committed again
/// (same run); a late absence makes October a 409 and November corrects it. Amounts by hand:
/// room 120.00 on days minus absences of 3+ days, care L2 60.00 on presence days linked
/// negated into insurance; in hospital from 29 October to 3 November (return day present).
fn care_home_month(c: &Suite) {
    let loc = c.created("/v1/locations", &json!({"code": "CH1", "name": "Residencia Sol", "time_zone": "Europe/Madrid", "currency": "EUR"}));
    let resident = c.created("/v1/patients", &json!({"identifiers": [{"system": "mrn", "value": "CH1-1"}], "family_name": "Sol", "given_name": "Rosa", "beneficiary_kind": "LTC"}));
    let insurer = c.created(
        "/v1/payers",
        &json!({"code": "ASISA-LTC", "name": "Asisa Dependencia", "kind": "insurer"}),
    );
    c.created("/v1/coverages", &json!({"patient_id": resident["id"], "payer_id": insurer["id"], "policy_number": "AL-1", "priority": 1}));
    for rule in [
        json!({"code": "ROOM-CH", "description": "Room", "beneficiary_kind": "LTC", "invoice_context": "beneficiary",
               "source": "stay", "service_group": "ROOM", "absence_threshold_days": 3, "description_method": "service",
               "quantity_method": "days_minus_absences", "price_method": "service", "active_from": "2026-01-01"}),
        json!({"code": "CARE-CH", "description": "Care", "beneficiary_kind": "LTC", "invoice_context": "beneficiary",
               "source": "evaluation", "service_group": "CARE", "description_method": "service",
               "quantity_method": "effective_days", "price_method": "service", "active_from": "2026-01-01",
               "linked_rules": [{"context": "insurance", "operation": "negate"}]}),
        // The insurer's own care tariff, from which the resident's part is deducted.
        json!({"code": "CARE-INS", "description": "Care (insurer)", "beneficiary_kind": "LTC", "invoice_context": "insurance",
               "source": "evaluation", "service_group": "CARE-INS", "description_method": "service",
               "quantity_method": "effective_days", "price_method": "service", "active_from": "2026-01-01"}),
    ] {
        c.created("/v1/invoicing-rules", &rule);
        let code = rule["code"].as_str().expect("code");
        let (s, v) = c.send(
            "billing_manager",
            c.http
                .put(c.url(&format!("/v1/invoicing-rule-activations/CH1/{code}")))
                .json(&json!({"enabled": true})),
        );
        assert_eq!(s, 200, "{v}");
    }
    c.created("/v1/prices", &json!({"code": "ROOM", "beneficiary_kind": "LTC", "unit_price": {"amount": "120.00", "currency": "EUR"}, "valid_from": "2026-01-01"}));
    c.created("/v1/prices", &json!({"code": "CARE", "care_level": "L2", "unit_price": {"amount": "60.00", "currency": "EUR"}, "valid_from": "2026-01-01"}));
    c.created("/v1/prices", &json!({"code": "CARE-INS", "care_level": "L2", "unit_price": {"amount": "90.00", "currency": "EUR"}, "valid_from": "2026-01-01"}));
    let record = |details: Value| {
        let (s, v) = c.post(
            "integration",
            "/v1/care-records",
            &json!({"patient_id": resident["id"], "location_id": loc["id"], "details": details}),
        );
        assert_eq!(s, 201, "{v}");
    };
    record(json!({"kind": "stay", "beneficiary_kind": "LTC", "entry_date": "2026-10-06"}));
    record(json!({"kind": "evaluation", "level": "L2", "valid_from": "2026-10-06"}));
    record(
        json!({"kind": "absence", "reason": "hospital", "from": "2026-10-29", "to": "2026-11-03"}),
    );
    let run = |period: &str, preview: bool| {
        c.post(
            "billing_manager",
            "/v1/billing-runs",
            &json!({"location_code": "CH1", "period": period, "preview": preview}),
        )
    };
    let lines = |v: &Value| -> Vec<String> {
        v.as_array()
            .expect("lines")
            .iter()
            .map(|l| {
                format!(
                    "{}/{} {} {}",
                    l["rule_code"].as_str().expect("rule"),
                    l["context"].as_str().expect("context"),
                    l["quantity"].as_str().expect("quantity"),
                    amount(&l["amount"])
                )
            })
            .collect()
    };
    // From the 6th: 26 days; away 29-31 (3 of 5 days, over the threshold).
    let preview = eventually("the care records reach settlement", || {
        let (s, v) = run("2026-10", true);
        assert_eq!(s, 200, "{v}");
        (v["care_records"] == json!(3)).then_some(v)
    });
    assert_eq!(
        lines(&preview["lines"]),
        [
            "CARE-CH/beneficiary 23 1380.00",
            "CARE-CH/insurance -23 -1380.00",
            "CARE-INS/insurance 23 2070.00",
            "ROOM-CH/beneficiary 23 2760.00",
        ]
    );
    let (s, october) = run("2026-10", false);
    assert_eq!(s, 201, "{october}");
    let (s, again) = run("2026-10", false);
    assert_eq!((s, &again["id"]), (200, &october["id"]), "{again}");
    // The run fed the resident's periodic settlement; approved, it is invoiced per party: the
    // resident 1380.00 care + 2760.00 room = 4140.00; the insurer 2070.00 less the resident's
    // care 1380.00 = 690.00, the deduction a negative line of its invoice.
    let (_, fed) = c.get(
        "biller",
        &format!(
            "/v1/settlements?billing_run_id={}",
            october["id"].as_str().expect("id")
        ),
    );
    assert_eq!(fed["items"].as_array().map(Vec::len), Some(1), "{fed}");
    let settlement = fed["items"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        (&fed["items"][0]["kind"], amount(&fed["items"][0]["total"])),
        (&json!("periodic"), "4830.00"),
        "{fed}"
    );
    c.approve(&settlement);
    let invoices = eventually("the month's two invoices", || {
        let (_, page) = c.get(
            "billing_manager",
            &format!("/v1/invoices?settlement_id={settlement}"),
        );
        let items = page["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2).then_some(items)
    });
    let mut billed: Vec<(String, String)> = invoices
        .iter()
        .map(|i| {
            (
                i["recipient"]["payer_code"]
                    .as_str()
                    .unwrap_or("resident")
                    .to_owned(),
                amount(&i["total"]).to_owned(),
            )
        })
        .collect();
    billed.sort();
    assert_eq!(
        billed,
        [
            ("ASISA-LTC".to_owned(), "690.00".to_owned()),
            ("resident".to_owned(), "4140.00".to_owned())
        ]
    );
    let insurer_invoice = invoices
        .iter()
        .find(|i| i["recipient"]["payer_code"] == "ASISA-LTC")
        .expect("the insurer's invoice");
    let (_, full) = c.get(
        "billing_manager",
        &format!(
            "/v1/invoices/{}",
            insurer_invoice["id"].as_str().expect("id")
        ),
    );
    let mut line_amounts: Vec<&str> = full["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| amount(&l["amount"]))
        .collect();
    line_amounts.sort_unstable();
    assert_eq!(line_amounts, ["-1380.00", "2070.00"], "{full}");
    // Late: away 15-16 October (2 days: under the room's threshold, not for care).
    record(
        json!({"kind": "absence", "reason": "holiday", "from": "2026-10-15", "to": "2026-10-17"}),
    );
    let refused = eventually("October now differs from what was billed", || {
        let (s, v) = run("2026-10", false);
        match s {
            200 => None,
            409 => Some(v),
            other => panic!("{other}: {v}"),
        }
    });
    assert_eq!(refused["code"], json!("period_already_billed"), "{refused}");
    let (s, november) = run("2026-11", false);
    assert_eq!(s, 201, "{november}");
    let (_, page) = c.get(
        "biller",
        &format!(
            "/v1/billing-runs/{}/lines",
            november["id"].as_str().expect("id")
        ),
    );
    // November: away 1-2 (the 3rd is the return): 28 days each; October's care loses 2 days.
    assert_eq!(
        lines(&page["items"]),
        [
            "CARE-CH/beneficiary -2 -120.00",
            "CARE-CH/insurance 2 120.00",
            "CARE-INS/insurance -2 -180.00",
            "CARE-CH/beneficiary 28 1680.00",
            "CARE-CH/insurance -28 -1680.00",
            "CARE-INS/insurance 28 2520.00",
            "ROOM-CH/beneficiary 28 3360.00",
        ]
    );
}

#[test]
fn a_care_home_month_is_billed_in_the_embedded_suite() {
    in_the_embedded_suite(care_home_month);
}

/// Runs `walk` against a fresh embedded suite (SQLite files, in-process bus).
fn in_the_embedded_suite(walk: fn(&Suite)) {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    let server = Server::start(&["--data-dir", data], &[]);
    let suite = Suite {
        bases: vec![("*", server.base.clone())],
        tokens: role_tokens(|r| token(&["--role", r, "--data-dir", data], &[])),
        http: reqwest::blocking::Client::new(),
        outbound: None,
    };
    walk(&suite);
    server.stop();
}

#[test]
fn a_care_home_month_is_billed_across_four_services() {
    let d = Distributed::start();
    care_home_month(&d.suite());
    let dead = carebill(
        &["dead-letters", "--service", "settlement"],
        &d.env("settlement"),
    );
    assert!(dead.trim().is_empty(), "settlement dead letters: {dead}");
    d.stop();
}

/// A care agency's month through every part that carries it (seed 004): a carer placed with
/// two clients, hours registered and submitted by the agency, each timesheet approved by its
/// client through the approval link (no token); accounts announces each approval, settlement
/// prices it, invoicing issues the self-billed invoices and the mediation fee, and the month's
/// commission run issues one invoice to the carer over both placements; collections opens a
/// receivable for each and the carer's balance is her commission. Amounts by hand: 2 h × 30.00
/// = 60.00 (10 %: 6.00, fee 2 × 1.00) and 4 h × 25.00 = 100.00 (2.00 an hour: 8.00); commission
/// exempt without a tax rule: 14.00.
fn agency_month(c: &Suite) {
    let agency = c.created("/v1/locations", &json!({"code": "ZB1", "name": "Zorgbemiddeling Een", "time_zone": "Europe/Amsterdam", "currency": "EUR",
        "address": {"lines": ["Catharijnesingel 1"], "city": "Utrecht", "postal_code": "3511 GA", "country": "NL"}}));
    c.created("/v1/catalog-items", &json!({"code": "ZB-CARE", "description": "Persoonlijke verzorging", "service_group": "HOMECARE", "kind": "other", "unit": "hour"}));
    let client = |bsn: &str, name: &str| {
        c.created("/v1/patients", &json!({"identifiers": [{"system": "bsn", "value": bsn}], "family_name": name, "given_name": "Client", "beneficiary_kind": "PGB", "flags": []}))
    };
    let (henk, joke) = (client("900000001", "Bakker"), client("900000002", "Visser"));
    let carer = c.created("/v1/carers", &json!({"location_id": agency["id"], "code": "ZZP-1", "name": "Anouk de Vries", "email": "anouk@example.nl",
        "legal_name": "Zorg door Anouk", "legal_registration": {"scheme": "0106", "id": "12345678"}, "bank_account": {"iban": "NL91ABNA0417164300"},
        "vat": {"kind": "exempt", "reason_code": "VATEX-EU-132-1C", "reason": "Vrijgesteld van btw"},
        "self_billing_agreements": [{"reference": "SBA-1", "valid_from": "2026-01-01", "valid_to": null}]}));
    let placement = |reference: &str, client: &Value, rate: &str, commission: Value, fee: Value| {
        c.created("/v1/placements", &json!({"reference": reference, "location_id": agency["id"], "carer_id": carer["id"],
            "client": {"patient_id": client["id"]}, "valid_from": "2026-01-01", "period": "week",
            "tariffs": [{"service_type": "ZB-CARE", "hourly_rate": {"amount": rate, "currency": "EUR"}}],
            "commission": commission, "mediation_fee": fee,
            "approver": {"name": "Client", "email": "client@example.nl"}}))
    };
    let with_henk = placement(
        "PL-1",
        &henk,
        "30.00",
        json!({"percent": "10"}),
        json!({"per_hour": {"amount": "1.00", "currency": "EUR"}}),
    );
    let with_joke = placement(
        "PL-2",
        &joke,
        "25.00",
        json!({"per_hour": {"amount": "2.00", "currency": "EUR"}}),
        Value::Null,
    );
    // Last week's Tuesday and Wednesday: weekdays, inside the agency's opening hours, in a
    // finished week.
    let today = chrono::Utc::now().date_naive();
    let tuesday = today
        - chrono::Duration::days(
            i64::from(chrono::Datelike::weekday(&today).num_days_from_monday()) + 6,
        );
    let mut sheets = Vec::new();
    for (p, date, end) in [
        (&with_henk, tuesday, "11:00"),
        (&with_joke, tuesday + chrono::Duration::days(1), "13:00"),
    ] {
        let (s, h) = c.post("billing_manager", "/v1/hours", &json!({"placement_id": p["id"], "date": date, "start": "09:00", "end": end, "service_type": "ZB-CARE"}));
        assert_eq!(s, 201, "{h}");
        let sheet = h["timesheet_id"].as_str().expect("timesheet").to_owned();
        let (s, v) = c.post(
            "billing_manager",
            &format!("/v1/timesheets/{sheet}/submit"),
            &json!({}),
        );
        assert_eq!(s, 200, "{v}");
        sheets.push(sheet);
    }
    // Each client approves by the link the agency sends (here: made by hand, opened without a
    // token, as a client's browser would).
    for sheet in &sheets {
        let (s, link) = c.post(
            "billing_manager",
            &format!("/v1/timesheets/{sheet}/approval-links"),
            &json!({}),
        );
        assert_eq!(s, 201, "{link}");
        let token = link["url"]
            .as_str()
            .expect("url")
            .rsplit('/')
            .next()
            .expect("token")
            .to_owned();
        let r = c
            .http
            .post(c.url(&format!("/v1/timesheet-approvals/{token}")))
            .json(&json!({"approve_all": true}))
            .send()
            .expect("approval");
        assert_eq!(r.status().as_u16(), 200);
    }
    // The self-billed invoices and Henk's mediation fee, once each.
    let invoices = eventually("the agency's invoices", || {
        let (s, v) = c.get("billing_manager", "/v1/invoices?location_code=ZB1");
        (s == 200 && v["items"].as_array().is_some_and(|i| i.len() == 3)).then_some(v)
    });
    let mut kinds: Vec<(String, String)> = invoices["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["agency"]["purpose"].as_str().unwrap_or("?").to_owned(),
                amount(&i["total"]).to_owned(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("hours".to_owned(), "100.00".to_owned()),
            ("hours".to_owned(), "60.00".to_owned()),
            ("mediation_fee".to_owned(), "2.00".to_owned())
        ]
    );
    // The month's commission, at once: one invoice to the carer over both placements.
    let (s, run) = c.post(
        "billing_manager",
        "/v1/agency-commission-runs",
        &json!({"location_code": "ZB1"}),
    );
    assert_eq!(s, 200, "{run}");
    let issued = run["invoices"].as_array().expect("invoices");
    assert_eq!(issued.len(), 1, "{run}");
    assert_eq!(amount(&issued[0]["total"]), "14.00", "{run}");
    assert_eq!(
        issued[0]["approvals"].as_array().map_or(0, Vec::len),
        2,
        "{run}"
    );
    let (s, again) = c.post(
        "billing_manager",
        "/v1/agency-commission-runs",
        &json!({"location_code": "ZB1"}),
    );
    assert_eq!(
        (s, again["invoices"].clone()),
        (200, json!([])),
        "nothing billed twice"
    );
    let id = issued[0]["invoice_id"].as_str().expect("id");
    let (s, commission) = c.get("billing_manager", &format!("/v1/invoices/{id}"));
    assert_eq!(s, 200, "{commission}");
    assert_eq!(commission["recipient"]["kind"], "carer");
    assert_eq!(
        commission["lines"].as_array().map_or(0, Vec::len),
        2,
        "{commission}"
    );
    // Collections: a receivable per invoice; the carer owes her commission.
    eventually("the agency's receivables", || {
        let (s, v) = c.get("collector", "/v1/receivables?location_code=ZB1");
        (s == 200 && v["items"].as_array().is_some_and(|i| i.len() == 4)).then_some(())
    });
    let carer_id = carer["id"].as_str().expect("carer id");
    let (s, balance) = c.get("collector", &format!("/v1/balances/carer/{carer_id}"));
    assert_eq!(s, 200, "{balance}");
    assert_eq!(
        amount(&balance["currencies"][0]["outstanding"]),
        "14.00",
        "{balance}"
    );
}

#[test]
fn a_care_agencys_month_is_billed_in_the_embedded_suite() {
    in_the_embedded_suite(agency_month);
}

#[test]
fn a_care_agencys_month_is_billed_across_four_services() {
    let d = Distributed::start();
    agency_month(&d.suite());
    for svc in ["settlement", "invoicing", "collections"] {
        let dead = carebill(&["dead-letters", "--service", svc], &d.env(svc));
        assert!(dead.trim().is_empty(), "{svc} dead letters: {dead}");
    }
    d.stop();
}

/// The X12 file the e-billing tutorial (docs/tutorial/e-billing.md) writes with `cat > NAME`,
/// for the claim of invoice `number`.
fn tutorial_x12(name: &str, number: &str) -> String {
    let page = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/tutorial/e-billing.md"
    ))
    .expect("the e-billing page");
    let (_, rest) = page
        .split_once(&format!("cat > {name} <<X12\n"))
        .expect("the file's here-document");
    let (text, _) = rest.split_once("X12\n").expect("its end");
    text.replace("$NUMBER", number)
}

/// Seed 002's electronic claims through every service that carries them: accounts' master
/// data (a US location with its NPI, CPT-coded catalog items, a practitioner with an NPI, a
/// coded visit) reaching invoicing's copy by events; a settlement approved and invoiced;
/// the payer's e-billing settings; an e-billing checked until ready (the master data arrives
/// by events), sent as an 837 and a 276; the payer's 277CA (accepted, with its claim number) and
/// 835 (the tutorial's files) imported; the payment and the payer's adjustments posted in
/// collections, where the invoice's receivable was opened by invoicing's event.
fn e_billing_flow(c: &Suite) {
    let spr = c.created("/v1/locations", &json!({"code": "SPR", "name": "Springfield General Hospital", "time_zone": "America/Chicago", "currency": "USD",
        "legal_name": "Springfield General Hospital",
        "address": {"lines": ["1 Main Street"], "city": "Springfield", "region": "IL", "postal_code": "62701-1234", "country": "US"},
        "claims": {"npi": "1234567893", "ein": "12-3456789", "place_of_service": "22"}}));
    let uhc = c.created(
        "/v1/payers",
        &json!({"code": "UHC", "name": "UnitedHealthcare", "kind": "insurer"}),
    );
    for (code, cpt, group, kind) in [
        ("OV-EST", "99213", "VISITS", "consultation"),
        ("LAB-CBC", "85025", "LAB", "lab"),
    ] {
        c.created("/v1/catalog-items", &json!({"code": code, "description": code, "service_group": group, "kind": kind, "unit": "each",
            "billing_code": {"system": "cpt", "code": cpt}}));
    }
    for (code, price) in [("OV-EST", "150.00"), ("LAB-CBC", "40.00")] {
        c.created("/v1/prices", &json!({"code": code, "location_code": "SPR", "unit_price": {"amount": price, "currency": "USD"}, "valid_from": "2026-01-01"}));
    }
    c.created(
        "/v1/coverage-terms",
        &json!({"payer_code": "UHC", "covered_percent": "100"}),
    );
    c.created("/v1/practitioners", &json!({"code": "DR-HOUSE", "family_name": "House", "given_name": "Gregory", "npi": "1999999992"}));
    let jane = c.created("/v1/patients", &json!({"identifiers": [{"system": "mrn", "value": "SPR-000042"}], "family_name": "Doe", "given_name": "Jane",
        "birth_date": "1980-04-12", "sex": "female", "beneficiary_kind": "INSURED",
        "address": {"lines": ["2 Elm Street"], "city": "Springfield", "region": "IL", "postal_code": "62701", "country": "US"}}));
    c.created("/v1/coverages", &json!({"patient_id": jane["id"], "payer_id": uhc["id"], "policy_number": "MEMBER123", "priority": 1, "valid_from": "2026-01-01"}));
    let visit = c.created("/v1/episodes", &json!({"number": "SPR-ENC-1", "patient_id": jane["id"], "location_id": spr["id"], "kind": "outpatient", "attending_practitioner": "DR-HOUSE"}));
    let line = |code: &str, id: &str| {
        json!({"episode_id": visit["id"], "code": code, "quantity": 1, "performed_at": "2026-12-01T15:00:00Z",
        "performed_by": "DR-HOUSE", "diagnosis_codes": ["J06.9"], "source_system": "HIS", "external_id": id})
    };
    let (s, batch) = c.post(
        "integration",
        "/v1/consumptions/batch",
        &json!({"items": [line("OV-EST", "SPR-1-1"), line("LAB-CBC", "SPR-1-2")]}),
    );
    assert!(s == 200 || s == 207, "{batch}");
    assert_eq!(batch["created"], 2, "{batch}");
    let settlement = eventually("the visit's settlement", || {
        let (_, page) = c.get(
            "biller",
            &format!("/v1/settlements?episode_id={}", visit["id"].as_str()?),
        );
        let s = &page["items"][0];
        (amount(&s["total"]) == "190.00").then(|| s["id"].as_str().map(str::to_owned))?
    });
    c.approve(&settlement);
    let invoice = eventually("UnitedHealthcare's invoice", || {
        let (_, page) = c.get(
            "billing_manager",
            &format!("/v1/invoices?settlement_id={settlement}&payer_code=UHC"),
        );
        Some(page["items"][0].clone()).filter(|i| i["id"].is_string())
    });
    let number = invoice["number"].as_str().expect("number").to_owned();
    let (s, v) = c.send("billing_manager", c.http.put(c.url("/v1/e-billing-settings/UHC")).json(&json!({
        "payer_id": "87726", "payer_name": "UNITEDHEALTHCARE", "claim_filing_indicator": "CI",
        "submitter": {"name": "SPRINGFIELD GENERAL", "id": "S123", "contact": "BILLING DESK", "phone": "2175551234"},
        "receiver": {"name": "CLEARINGHOUSE", "id": "R987"},
        "interchange": {"sender_qualifier": "ZZ", "sender_id": "S123", "receiver_qualifier": "ZZ", "receiver_id": "R987"},
        "application": {"sender_code": "S123", "receiver_code": "R987"}})));
    assert_eq!(s, 201, "{v}");
    let (s, eb) = c.post(
        "biller",
        "/v1/e-billings",
        &json!({"payer_code": "UHC", "invoice_ids": [invoice["id"]]}),
    );
    assert_eq!(s, 201, "{eb}");
    let eb = eb["id"].as_str().expect("e-billing").to_owned();
    // Accounts' master data reaches invoicing's copy by events: check until it has.
    eventually("the e-billing ready", || {
        let (_, doc) = c.post("biller", &format!("/v1/e-billings/{eb}/check"), &json!({}));
        (doc["status"] == "ready").then_some(())
    });
    let text = |role: &str, path: &str| {
        let r = c
            .http
            .get(c.url(path))
            .bearer_auth(&c.tokens[role])
            .send()
            .expect("download");
        assert_eq!(r.status().as_u16(), 200, "{path}");
        r.text().expect("text")
    };
    let claim_file = text("biller", &format!("/v1/e-billings/{eb}/file"));
    assert!(
        claim_file.contains(&format!("~CLM*{number}*190***22:B:1*")),
        "{claim_file}"
    );
    assert!(
        text("biller", &format!("/v1/e-billings/{eb}/request"))
            .contains(&format!("~TRN*1*{number}~"))
    );
    let upload = |role: &str, path: &str, body: String| {
        c.send(
            role,
            c.http
                .post(c.url(path))
                .header("content-type", "application/edi-x12")
                .body(body),
        )
    };
    let (s, ack) = upload(
        "billing_manager",
        "/v1/e-billings/responses",
        tutorial_x12("ack.277ca", &number),
    );
    assert_eq!(s, 201, "{ack}");
    assert_eq!(ack["items"][0]["status"], "accepted", "{ack}");
    let (_, claims) = c.get("biller", &format!("/v1/e-billings/{eb}/claims"));
    assert_eq!(
        claims["items"][0]["payer_claim_number"], "PAYER-ICN-1",
        "{claims}"
    );
    // The invoice's receivable, opened by invoicing's event.
    let receivable = eventually("the invoice's receivable", || {
        let (_, page) = c.get(
            "collector",
            &format!("/v1/receivables?invoice_id={}", invoice["id"].as_str()?),
        );
        page["items"][0]["id"].as_str().map(str::to_owned)
    });
    let (s, posted) = upload(
        "collector",
        "/v1/remittances",
        tutorial_x12("payment.835", &number),
    );
    assert_eq!(s, 201, "{posted}");
    assert_eq!(posted["remittances"][0]["claims"]["posted"], 1, "{posted}");
    assert_eq!(posted["remittances"][0]["payer_code"], "UHC");
    let (_, r) = c.get("collector", &format!("/v1/receivables/{receivable}"));
    assert_eq!(
        (
            amount(&r["paid"]),
            amount(&r["adjusted"]),
            amount(&r["outstanding"])
        ),
        ("110.00", "-80.00", "0.00"),
        "{r}"
    );
    assert_eq!(r["status"], "paid");
    let (s, again) = upload(
        "collector",
        "/v1/remittances",
        tutorial_x12("payment.835", &number),
    );
    assert_eq!(s, 200, "{again}");
    // Invoicing follows collections' remittance.posted: the claim is paid.
    let claim = claims["items"][0]["id"].as_str().expect("claim").to_owned();
    eventually("the claim paid", || {
        let (_, c) = c.get("biller", &format!("/v1/e-billing-claims/{claim}"));
        (c["status"] == "paid" && c["history"].as_array().map(Vec::len) == Some(2)).then_some(())
    });
}

#[test]
fn electronic_claims_go_out_and_remittances_come_back_in_the_embedded_suite() {
    in_the_embedded_suite(e_billing_flow);
}

#[test]
fn electronic_claims_go_out_and_remittances_come_back_across_four_services() {
    let d = Distributed::start();
    e_billing_flow(&d.suite());
    for svc in ["settlement", "invoicing", "collections"] {
        let dead = carebill(&["dead-letters", "--service", svc], &d.env(svc));
        assert!(dead.trim().is_empty(), "{svc} dead letters: {dead}");
    }
    d.stop();
}

impl Suite {
    /// Like `send`, but a transport error (the service is down) is `None`.
    fn try_send(&self, role: &str, req: reqwest::blocking::RequestBuilder) -> Option<(u16, Value)> {
        let r = req.bearer_auth(&self.tokens[role]).send().ok()?;
        Some((r.status().as_u16(), r.json().unwrap_or(Value::Null)))
    }

    /// GET, retried while the service is down or answers 5xx.
    fn get_retrying(&self, role: &str, path: &str) -> Value {
        eventually(&format!("GET {path}"), || {
            match self.try_send(role, self.http.get(self.url(path))) {
                Some((200, v)) => Some(v),
                _ => None,
            }
        })
    }

    /// Takes a settlement to `approved` whatever state it is in, tolerating crashes of the
    /// settlement service between and during the steps (a step whose answer was lost is simply
    /// seen done on the next read).
    fn approve_robustly(&self, id: &str) {
        eventually(&format!("settlement {id} approved"), || {
            let doc = self.get_retrying("biller", &format!("/v1/settlements/{id}"));
            let (role, to) = match doc["status"].as_str()? {
                "approved" | "invoiced" => return Some(()),
                "draft" | "observed" => ("biller", "in_review"),
                "in_review" => ("biller", "in_audit"),
                "in_audit" => ("auditor", "approved"),
                other => panic!("unexpected settlement status {other}"),
            };
            let etag = doc["etag"].as_str()?.to_owned();
            let _ = self.try_send(
                role,
                self.http
                    .post(self.url(&format!("/v1/settlements/{id}/transitions")))
                    .header("if-match", etag)
                    .json(&json!({"to": to})),
            );
            None
        });
    }

    /// Every page of a list.
    fn all(&self, role: &str, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match &cursor {
                Some(c) => format!("{path}{sep}limit=500&cursor={c}"),
                None => format!("{path}{sep}limit=500"),
            };
            let page = self.get_retrying(role, &url);
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return items,
            }
        }
    }
}

/// Master data for a stream: one location, one payer covering 80 % after a 1.00 copay per line,
/// one patient, a priced item. Returns the location and patient ids.
fn stream_setup(c: &Suite) -> (String, String) {
    let loc = c.created(
        "/v1/locations",
        &json!({"code": "H1", "name": "Hospital Central", "time_zone": "Europe/Madrid"}),
    );
    let payer = c.created(
        "/v1/payers",
        &json!({"code": "SANITAS", "name": "Sanitas", "kind": "insurer"}),
    );
    let patient = c.created("/v1/patients", &json!({"identifiers": [{"system": "mrn", "value": "S-1"}], "family_name": "Stream", "given_name": "Test", "beneficiary_kind": "INSURED"}));
    c.created("/v1/coverages", &json!({"patient_id": patient["id"], "payer_id": payer["id"], "policy_number": "P-1", "priority": 1}));
    c.created("/v1/catalog-items", &json!({"code": "LAB-HB", "description": "Hemoglobin", "service_group": "LAB", "kind": "lab", "unit": "test"}));
    c.created("/v1/prices", &json!({"code": "LAB-HB", "unit_price": {"amount": "12.34", "currency": "EUR"}, "valid_from": "2026-01-01"}));
    c.created("/v1/coverage-terms", &json!({"payer_code": "SANITAS", "covered_percent": "80", "currency": "EUR", "copay_per_line": {"amount": "1.00", "currency": "EUR"}}));
    (
        loc["id"].as_str().expect("id").to_owned(),
        patient["id"].as_str().expect("id").to_owned(),
    )
}

/// Pushes `per_episode` consumptions to each of `episodes` new episodes, in batches, as the HIS
/// would (retrying a batch until it is answered; the external ids make retries harmless).
fn stream_push(
    c: &Suite,
    location: &str,
    patient: &str,
    episodes: usize,
    per_episode: usize,
) -> Vec<String> {
    let mut ids = Vec::new();
    for e in 0..episodes {
        let ep = c.created("/v1/episodes", &json!({"number": format!("ENC-{e:04}"), "patient_id": patient, "location_id": location, "kind": "outpatient"}));
        let id = ep["id"].as_str().expect("id").to_owned();
        let items: Vec<Value> = (0..per_episode)
            .map(|i| json!({"episode_id": id, "code": "LAB-HB", "quantity": "1", "performed_at": "2026-11-20T09:30:00Z", "source_system": "HIS", "external_id": format!("S-{e}-{i}")}))
            .collect();
        let body = json!({"items": items});
        eventually("a pushed batch", || {
            match c.try_send(
                "integration",
                c.http.post(c.url("/v1/consumptions/batch")).json(&body),
            ) {
                Some((200, _)) => Some(()),
                _ => None,
            }
        });
        ids.push(id);
        std::thread::sleep(Duration::from_millis(20));
    }
    ids
}

/// Approves each episode's settlement once all its lines arrived, then checks the end state:
/// every consumption invoiced exactly once to each party, no duplicate invoice, numbers without
/// gaps, and payer + patient shares equal to the priced amounts.
fn stream_settle_and_verify(c: &Suite, episodes: &[String], per_episode: usize) {
    let mut settlements = Vec::new();
    for e in episodes {
        let s = eventually(&format!("episode {e}'s settlement complete"), || {
            let page = c.get_retrying("biller", &format!("/v1/settlements?episode_id={e}"));
            let s = page["items"].get(0)?.clone();
            (s["line_count"].as_u64() == Some(per_episode as u64)).then_some(s)
        });
        let id = s["id"].as_str().expect("id").to_owned();
        c.approve_robustly(&id);
        settlements.push(id);
    }
    for id in &settlements {
        eventually(&format!("settlement {id} invoiced"), || {
            let doc = c.get_retrying("biller", &format!("/v1/settlements/{id}"));
            (doc["status"] == "invoiced").then_some(())
        });
    }
    let invoices = c.all("billing_manager", "/v1/invoices");
    assert_eq!(
        invoices.len(),
        2 * episodes.len(),
        "one payer and one patient invoice per settlement"
    );
    let mut numbers: Vec<String> = invoices
        .iter()
        .map(|i| i["number"].as_str().expect("number").to_owned())
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=numbers.len())
        .map(|n| format!("H1-INV-2026-{n:06}"))
        .collect();
    assert_eq!(numbers, expected, "numbers are unique and without gaps");
    // (consumption, party) → amount; each pair billed once; per consumption the parties' amounts
    // add up to the priced 12.34. SANITAS: 80 % of 11.34 = 9.07 (9.072); the patient 3.27.
    let mut billed: std::collections::HashMap<(String, String), String> =
        std::collections::HashMap::new();
    for inv in &invoices {
        let full = c.get_retrying(
            "billing_manager",
            &format!("/v1/invoices/{}", inv["id"].as_str().expect("id")),
        );
        let party = full["recipient"]["kind"].as_str().expect("kind").to_owned();
        for l in full["lines"].as_array().expect("lines") {
            let key = (
                l["consumption_id"].as_str().expect("id").to_owned(),
                party.clone(),
            );
            let prev = billed.insert(key.clone(), amount(&l["amount"]).to_owned());
            assert!(prev.is_none(), "{key:?} billed twice");
        }
    }
    assert_eq!(
        billed.len(),
        2 * episodes.len() * per_episode,
        "every consumption billed to both parties"
    );
    for ((_, party), a) in &billed {
        let want = if party == "payer" { "9.07" } else { "3.27" };
        assert_eq!(a, want, "{party} share");
    }
}

/// kill -9 of the settlement service and of one of two invoicing replicas at pseudo-random
/// moments while consumptions stream in and settlements are approved.
#[test]
fn crashes_of_settlement_and_invoicing_lose_and_double_nothing() {
    let mut d = Distributed::start_with(&[
        "accounts",
        "settlement",
        "invoicing",
        "invoicing",
        "collections",
    ]);
    let c = d.suite();
    let (location, patient) = stream_setup(&c);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |t| t.subsec_nanos() as u64);
    println!("crash schedule seed {seed}");
    let mut rng = seed;
    let mut next = move |max: u64| {
        rng = rng
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (rng >> 33) % max
    };
    let (episodes, per_episode) = (60, 8);
    std::thread::scope(|scope| {
        let pusher = scope.spawn(|| stream_push(&c, &location, &patient, episodes, per_episode));
        // While the stream flows: settlement crashes twice, an invoicing replica once.
        for (n, target) in [1, 2, 1].into_iter().enumerate() {
            std::thread::sleep(Duration::from_millis(300 + next(1200)));
            if n == 0 {
                assert!(
                    !pusher.is_finished(),
                    "the first crash comes while the stream flows"
                );
            }
            d.crash_and_restart(target);
        }
        let ids = pusher.join().expect("pusher");
        let c = &c;
        let approver = scope.spawn(move || stream_settle_and_verify(c, &ids, per_episode));
        // While settlements are approved and invoiced: both kinds crash again.
        for target in [2, 1, 3] {
            std::thread::sleep(Duration::from_millis(200 + next(800)));
            d.crash_and_restart(target);
        }
        approver.join().expect("settled and verified");
    });
    for svc in ["settlement", "invoicing", "collections"] {
        let dead = carebill(&["dead-letters", "--service", svc], &d.env(svc));
        assert!(dead.trim().is_empty(), "{svc} dead letters: {dead}");
    }
    d.stop();
}

/// Runs `rabbitmqctl <arg>` against the local broker (tests that restart it run alone).
fn rabbitmqctl(arg: &str) {
    let out = Command::new("rabbitmqctl")
        .arg(arg)
        .output()
        .expect("rabbitmqctl");
    assert!(
        out.status.success(),
        "rabbitmqctl {arg}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A real restart of the broker (`rabbitmqctl stop_app` / `start_app`) while consumptions stream
/// in: nothing lost, nothing doubled. It disturbs every other user of the shared local broker, so
/// it is ignored in the parallel run and `scripts/test.sh` runs it alone afterwards.
#[test]
#[ignore = "restarts the shared RabbitMQ; scripts/test.sh runs it alone"]
fn a_broker_restart_during_the_flow_loses_and_doubles_nothing() {
    let d = Distributed::start();
    let c = d.suite();
    let (location, patient) = stream_setup(&c);
    let (episodes, per_episode) = (40, 8);
    std::thread::scope(|scope| {
        let pusher = scope.spawn(|| stream_push(&c, &location, &patient, episodes, per_episode));
        std::thread::sleep(Duration::from_millis(700));
        assert!(
            !pusher.is_finished(),
            "the broker restarts while the stream flows"
        );
        rabbitmqctl("stop_app");
        std::thread::sleep(Duration::from_secs(2));
        rabbitmqctl("start_app");
        let ids = pusher.join().expect("pusher");
        stream_settle_and_verify(&c, &ids, per_episode);
    });
    for svc in ["settlement", "invoicing", "collections"] {
        let dead = carebill(&["dead-letters", "--service", svc], &d.env(svc));
        assert!(dead.trim().is_empty(), "{svc} dead letters: {dead}");
    }
    d.stop();
}

/// A free local port (bound, then released for the process that will listen on it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The compose file's gateway (`deploy/nginx.conf`, real nginx) in front of `d`'s processes:
/// the container names replaced by their local addresses, nothing else changed.
struct Gateway {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Gateway {
    fn start(d: &Distributed) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut conf = std::fs::read_to_string(root.join("deploy/nginx.conf")).expect("nginx.conf");
        for (svc, server) in &d.servers {
            conf = conf.replace(&format!("http://{svc}:8080"), &server.base);
        }
        let port = free_port();
        conf = conf
            .replace("listen 8080;", &format!("listen 127.0.0.1:{port};"))
            .replace(
                "pid /tmp/nginx.pid;",
                &format!("pid {}/nginx.pid;", dir.path().display()),
            )
            .replace("access_log /dev/stdout;", "access_log off;");
        for temp in ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            conf = conf.replace(
                "  client_max_body_size 5m;",
                &format!(
                    "  client_max_body_size 5m;\n  {temp}_temp_path {}/{temp};",
                    dir.path().display()
                ),
            );
        }
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let child = Command::new("nginx")
            .args(["-e", "stderr", "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is needed for the gateway test (.ci/run installs nginx-light)");
        let base = format!("http://127.0.0.1:{port}");
        eventually("the gateway answers", || {
            reqwest::blocking::get(format!("{base}/health/ready"))
                .ok()
                .filter(|r| r.status() == 200)
        });
        Gateway {
            child,
            base,
            _dir: dir,
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_compose_gateway_serves_the_whole_money_path_at_one_address() {
    let d = Distributed::start();
    let gateway = Gateway::start(&d);
    let direct = d.suite();
    let through = Suite {
        bases: vec![("*", gateway.base.clone())],
        tokens: direct.tokens.clone(),
        http: direct.http.clone(),
        outbound: direct.outbound.clone(),
    };
    money_path(&through);
    // The merged document, and the caller's request id kept through the gateway.
    let doc: Value = reqwest::blocking::get(format!("{}/openapi.json", gateway.base))
        .expect("openapi")
        .json()
        .expect("json");
    assert!(doc["paths"]["/v1/invoices"].is_object() && doc["paths"]["/v1/patients"].is_object());
    let r = through
        .http
        .get(through.url("/v1/invoices"))
        .bearer_auth(&through.tokens["billing_manager"])
        .header("x-request-id", "gateway-check-1")
        .send()
        .expect("invoices");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "gateway-check-1");
    d.stop();
}

/// Polls `/health/ready` until it answers `status`; returns the report.
fn ready_becomes(base: &str, status: u16) -> Value {
    eventually(&format!("/health/ready answers {status}"), || {
        let r = reqwest::blocking::Client::new()
            .get(format!("{base}/health/ready"))
            .timeout(Duration::from_secs(5))
            .send()
            .ok()?;
        (r.status().as_u16() == status).then(|| r.json().unwrap_or(Value::Null))
    })
}

fn check_status<'a>(report: &'a Value, name: &str) -> &'a str {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("missing")
}

/// One service on a fresh database and virtual host.
fn service_alone(service: &str) -> (PgTestDb, TestVhost, Server) {
    let db = PgTestDb::create();
    let vhost = TestVhost::create();
    let env = [
        ("CAREBILL_DATABASE_URL", db.url.as_str()),
        ("CAREBILL_AMQP_URL", vhost.url.as_str()),
        ("CAREBILL_JWT_SECRET", SECRET),
    ];
    let server = Server::start(&["--service", service], &env);
    (db, vhost, server)
}

#[test]
fn readiness_turns_false_while_the_database_is_gone_and_true_when_it_returns() {
    let (db, _vhost, server) = service_alone("settlement");
    let ok = ready_becomes(&server.base, 200);
    assert_eq!(check_status(&ok, "database:settlement"), "ok");
    db.set_reachable(false);
    let down = ready_becomes(&server.base, 503);
    assert_eq!(down["status"], "unavailable");
    assert_eq!(check_status(&down, "database:settlement"), "unavailable");
    assert_eq!(check_status(&down, "broker"), "ok");
    // Liveness stays true: the process is fine, restarting it would not help.
    let live = reqwest::blocking::get(format!("{}/health/live", server.base)).expect("live");
    assert_eq!(live.status(), 200);
    db.set_reachable(true);
    let back = ready_becomes(&server.base, 200);
    assert_eq!(check_status(&back, "database:settlement"), "ok");
    server.stop();
}

#[test]
#[ignore = "restarts the shared local broker: run alone (scripts/test.sh does)"]
fn readiness_turns_false_while_the_broker_is_gone_and_true_when_it_returns() {
    let (_db, _vhost, server) = service_alone("accounts");
    ready_becomes(&server.base, 200);
    rabbitmqctl("stop_app");
    let down = ready_becomes(&server.base, 503);
    rabbitmqctl("start_app");
    assert_eq!(check_status(&down, "broker"), "unavailable");
    assert_eq!(check_status(&down, "database:accounts"), "ok");
    let back = ready_becomes(&server.base, 200);
    assert_eq!(check_status(&back, "broker"), "ok");
    server.stop();
}

#[test]
fn sigterm_under_load_finishes_in_flight_requests_and_loses_no_event() {
    let mut d = Distributed::start_with(&["accounts", "settlement"]);
    let c = d.suite();
    let (location, patient) = stream_setup(&c);
    let (episodes, per_episode) = (8, 400);
    let ids: Vec<String> = (0..episodes)
        .map(|e| {
            let ep = c.created("/v1/episodes", &json!({"number": format!("TERM-{e}"), "patient_id": patient, "location_id": location, "kind": "outpatient"}));
            ep["id"].as_str().expect("id").to_owned()
        })
        .collect();
    // Large batches in flight at once, SIGTERM while they are being written.
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let accounts_base = d.servers[0].1.base.clone();
    let token = c.tokens["integration"].clone();
    let sent = std::sync::Barrier::new(episodes + 1);
    let (terminated_at, answers) = std::thread::scope(|scope| {
        let pushers: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(e, id)| {
                let (http, base, token, sent) = (&http, &accounts_base, &token, &sent);
                scope.spawn(move || {
                    let items: Vec<Value> = (0..per_episode)
                        .map(|i| json!({"episode_id": id, "code": "LAB-HB", "quantity": "1", "performed_at": "2026-11-20T09:30:00Z", "source_system": "HIS", "external_id": format!("T-{e}-{i}")}))
                        .collect();
                    let req = http
                        .post(format!("{base}/v1/consumptions/batch"))
                        .bearer_auth(token)
                        .json(&json!({"items": items}));
                    sent.wait();
                    let r = req.send();
                    (Instant::now(), r.map(|r| (r.status().as_u16(), r.json::<Value>().unwrap_or(Value::Null))))
                })
            })
            .collect();
        sent.wait();
        std::thread::sleep(Duration::from_millis(40));
        let (_, accounts) = d.servers.remove(0);
        let at = Instant::now();
        accounts.stop(); // asserts a clean exit within 40 s
        let answers: Vec<_> = pushers
            .into_iter()
            .map(|p| p.join().expect("pusher"))
            .collect();
        (at, answers)
    });
    // Every request the service took before SIGTERM was answered in full. A connection still
    // waiting in the kernel's backlog when the listener closed is refused unanswered (a
    // gateway retries those); retried after the restart, it must find nothing of its batch
    // recorded: a request processed without an answer would show up as duplicates.
    let accounts = Server::start(&["--service", "accounts"], &d.env("accounts"));
    let mut late = 0;
    let mut refused = 0;
    for (e, (done, answer)) in answers.iter().enumerate() {
        match answer {
            Ok((status, body)) => {
                assert_eq!(*status, 200, "batch {e}: {body}");
                assert_eq!(
                    body["created"].as_u64(),
                    Some(per_episode as u64),
                    "batch {e}: {body}"
                );
                if *done > terminated_at {
                    late += 1;
                }
            }
            Err(err) => {
                refused += 1;
                let items: Vec<Value> = (0..per_episode)
                    .map(|i| json!({"episode_id": ids[e], "code": "LAB-HB", "quantity": "1", "performed_at": "2026-11-20T09:30:00Z", "source_system": "HIS", "external_id": format!("T-{e}-{i}")}))
                    .collect();
                let r = http
                    .post(format!("{}/v1/consumptions/batch", accounts.base))
                    .bearer_auth(&token)
                    .json(&json!({"items": items}))
                    .send()
                    .expect("retry");
                let body: Value = r.json().expect("json");
                assert_eq!(
                    body["created"].as_u64(),
                    Some(per_episode as u64),
                    "batch {e} failed unanswered ({err:?}) but was processed: {body}"
                );
            }
        }
    }
    eprintln!("{late} batches answered after SIGTERM, {refused} refused unanswered and retried");
    assert!(
        late > 0,
        "no request was still in flight at SIGTERM ({refused} refused): the test proved nothing"
    );

    // The settlement consumer stopped with SIGTERM while it works through the backlog, then
    // restarted: every consumption settled exactly once, nothing parked.
    d.servers.insert(0, ("accounts", accounts));
    std::thread::sleep(Duration::from_millis(300));
    let (_, settlement) = d.servers.remove(1);
    let bind = settlement.base.trim_start_matches("http://").to_owned();
    settlement.stop();
    let settlement = Server::start_at(&["--service", "settlement"], &d.env("settlement"), &bind);
    d.servers.insert(1, ("settlement", settlement));
    for id in &ids {
        eventually(&format!("episode {id} settled in full"), || {
            let page = c.get_retrying("biller", &format!("/v1/settlements?episode_id={id}"));
            let items = page["items"].as_array()?;
            let lines: u64 = items.iter().filter_map(|s| s["line_count"].as_u64()).sum();
            assert!(
                lines <= per_episode as u64,
                "episode {id}: {lines} lines, some doubled"
            );
            (items.len() == 1 && lines == per_episode as u64).then_some(())
        });
    }
    let dead = carebill(
        &["dead-letters", "--service", "settlement"],
        &d.env("settlement"),
    );
    assert!(dead.trim().is_empty(), "settlement dead letters: {dead}");
    d.stop();
}

#[test]
fn a_request_id_follows_its_events_into_the_next_service_logs() {
    let log = tempfile::NamedTempFile::new().expect("log file");
    let mut d = Distributed::start_with(&["accounts", "settlement"]);
    // Settlement again, logging what it applies.
    let (_, settlement) = d.servers.remove(1);
    let bind = settlement.base.trim_start_matches("http://").to_owned();
    settlement.stop();
    let mut env = d.env("settlement");
    env.push(("CAREBILL_LOG", "info,carebill_platform::events=debug"));
    let settlement = Server::start_with(
        BIN,
        &["--service", "settlement"],
        &env,
        &bind,
        Stdio::from(log.reopen().expect("log")),
    );
    d.servers.insert(1, ("settlement", settlement));
    let c = d.suite();
    let (location, patient) = stream_setup(&c);
    let ep = c.created("/v1/episodes", &json!({"number": "CORR-1", "patient_id": patient, "location_id": location, "kind": "outpatient"}));
    let rid = format!("corr-{}", uuid::Uuid::now_v7().simple());
    let r = c
        .http
        .post(c.url("/v1/consumptions"))
        .bearer_auth(&c.tokens["integration"])
        .header("x-request-id", &rid)
        .json(&json!({"episode_id": ep["id"], "code": "LAB-HB", "quantity": "1", "performed_at": "2026-11-20T09:30:00Z", "source_system": "HIS", "external_id": "CORR-1"}))
        .send()
        .expect("push");
    assert_eq!(r.status(), 201);
    let line = eventually("settlement logs the request id", || {
        std::fs::read_to_string(log.path())
            .ok()?
            .lines()
            .find(|l| l.contains(&rid))
            .map(str::to_owned)
    });
    let entry: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert!(
        entry["span"]["correlation_id"] == rid.as_str()
            || entry["span"]["correlation_ids"]
                .as_str()
                .is_some_and(|s| s.contains(&rid)),
        "{entry}"
    );
    d.stop();
}

#[test]
#[ignore = "a release build (minutes on two cores): run alone (scripts/test.sh does)"]
fn the_release_binary_built_as_the_dockerfile_builds_it_starts_and_answers_ready() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dockerfile = std::fs::read_to_string(root.join("deploy/Dockerfile")).expect("Dockerfile");
    let deployment = std::fs::read_to_string(root.join("docs/operations/deployment.md"))
        .expect("docs/operations/deployment.md");
    let build = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("RUN cargo build"))
        .map(|rest| format!("cargo build{rest}"))
        .expect("the Dockerfile builds with cargo");
    assert!(
        deployment.contains(&build),
        "docs/operations/deployment.md does not document `{build}`"
    );
    assert!(
        dockerfile
            .contains("COPY --from=build /src/target/release/carebill /usr/local/bin/carebill"),
        "the image takes the binary cargo builds"
    );
    let status = Command::new("sh")
        .args(["-c", &build])
        .current_dir(&root)
        .status()
        .expect("cargo");
    assert!(status.success(), "`{build}` failed");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| root.join("target"), std::path::PathBuf::from);
    let bin = target.join("release/carebill");
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().to_string_lossy().into_owned();
    let server = Server::start_with(
        &bin.to_string_lossy(),
        &["--data-dir", &data_dir],
        &[],
        "127.0.0.1:0",
        Stdio::null(),
    );
    let address = server.base.trim_start_matches("http://").to_owned();
    let probe = |address: &str| {
        Command::new(&bin)
            .args(["probe", "--address", address])
            .output()
            .expect("probe")
    };
    let up = probe(&address);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    assert!(String::from_utf8_lossy(&up.stdout).contains(": 200"));
    server.stop();
    let down = probe(&address);
    assert!(
        !down.status.success(),
        "the probe fails once the service is gone"
    );
}

/// The OpenAPI operations of the suite: (method, path template).
fn operations() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&carebill(&["openapi"], &[])).expect("json");
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/v1/") {
            continue;
        }
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                ops.push((method.to_owned(), path.clone()));
            }
        }
    }
    ops
}

/// Concrete paths for a template, with ids and codes an admin can see: `{x}` segments are
/// replaced by every `id` (or `code`) of the list at the path before them, and a nested id by
/// the first list item's nested list (`/v1/settlements/{id}/lines/{consumption_id}` takes the
/// settlement's first line). At most `limit` paths.
fn instances(s: &Suite, template: &str, limit: usize) -> Vec<String> {
    let mut paths = vec![String::new()];
    for segment in template.trim_start_matches('/').split('/') {
        let mut next = Vec::new();
        for prefix in &paths {
            if segment.starts_with('{') {
                let (status, page) = s.get("admin", prefix);
                if status != 200 {
                    continue;
                }
                let items = page["items"]
                    .as_array()
                    .or_else(|| page["lines"].as_array())
                    .or_else(|| page.as_array())
                    .cloned()
                    .unwrap_or_default();
                let key = if segment.contains("code") {
                    "code"
                } else {
                    "id"
                };
                for item in items.iter().take(limit) {
                    let value = item
                        .get(key)
                        .or_else(|| item.get("consumption_id"))
                        .and_then(Value::as_str);
                    if let Some(v) = value {
                        next.push(format!("{prefix}/{v}"));
                    }
                }
            } else {
                next.push(format!("{prefix}/{segment}"));
            }
        }
        paths = next;
    }
    paths.truncate(limit);
    paths
}

/// Operations that take no bearer token, each authenticated another way: the payment
/// provider's webhook, by its `Stripe-Signature` over the raw body. A token means nothing there:
/// anything unsigned is refused with a 4xx (401 `invalid_signature`; where no provider is
/// configured 409 `no_payment_provider`, or 400/422 for what is not an event), whoever sends it.
const WITHOUT_TOKEN: &[&str] = &["/v1/payment-webhooks"];

/// Writes whose key is a link's token in the path (no bearer token is needed; a bad token is a
/// 401, a bad body a 4xx).
const BY_LINK: &[&str] = &["/v1/timesheet-approvals/{token}"];

/// Writes a portal client may make on its own records: another payer's token finds nothing
/// (404) before the body is read.
const CLIENT_WRITES: &[&str] = &["/v1/timesheets/{id}/review"];

/// Every `/v1` operation of the OpenAPI document requires the bearer token, but those of
/// [`WITHOUT_TOKEN`], which require none.
#[test]
fn every_operation_but_the_payment_webhook_requires_a_token() {
    let doc: Value = serde_json::from_str(&carebill(&["openapi"], &[])).expect("json");
    let mut open = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if path.starts_with("/v1/") && !secured {
                open.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    let expected: Vec<String> = WITHOUT_TOKEN.iter().map(|p| format!("POST {p}")).collect();
    assert_eq!(open, expected);
}

/// Every GET of the OpenAPI document, called with a token limited to another location and with
/// another payer's portal token, shows none of the money path's records; every write answers
/// 403 to a role that may not use it, whatever the body (before 415, 413, 400 or 422).
#[test]
fn every_operation_keeps_to_its_scope_and_refuses_roles_before_reading_the_body() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let data = data.to_str().expect("utf8");
    let server = Server::start(&["--data-dir", data], &[]);
    let mut tokens = role_tokens(|r| token(&["--role", r, "--data-dir", data], &[]));
    // Someone with every staff role, limited to a location with nothing in it.
    let staff = [
        "billing_manager",
        "biller",
        "auditor",
        "collector",
        "integration",
    ];
    let mut args = vec![
        "--data-dir",
        data,
        "--location",
        "ZZ",
        "--subject",
        "elsewhere",
    ];
    for r in staff {
        args.extend(["--role", r]);
    }
    tokens.insert("elsewhere", token(&args, &[]));
    // Another payer's portal user.
    tokens.insert(
        "other_payer",
        token(
            &["--data-dir", data, "--role", "payer", "--payer", "OTHER"],
            &[],
        ),
    );
    let suite = Suite {
        bases: vec![("*", server.base.clone())],
        tokens,
        http: reqwest::blocking::Client::new(),
        outbound: None,
    };
    money_path(&suite);
    care_home_month(&suite);
    suite.created(
        "/v1/payers",
        &json!({"code": "OTHER", "name": "Another insurer", "kind": "insurer"}),
    );
    // What gives a record away: the id or code of a location (for the token limited to ZZ) or
    // of a payer (for OTHER's portal user), as a JSON value.
    let marks = |path: &str, skip: &str| -> Vec<String> {
        let (_, page) = suite.get("admin", path);
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|x| x["code"] != skip)
            .flat_map(|x| {
                [
                    x["id"].as_str().unwrap_or("?").to_owned(),
                    format!("\"{}\"", x["code"].as_str().unwrap_or("?")),
                ]
            })
            .collect()
    };
    let location_marks = marks("/v1/locations", "ZZ");
    let payer_marks = marks("/v1/payers", "OTHER");
    assert!(location_marks.len() >= 4 && payer_marks.len() >= 6);

    let mut leaks = Vec::new();
    let mut checked = 0;
    for (method, template) in operations() {
        if method != "get" {
            continue;
        }
        let paths = if template.contains('{') {
            instances(&suite, &template, 5)
        } else {
            vec![template.clone()]
        };
        for path in paths {
            for (who, marks) in [
                ("elsewhere", &location_marks[..]),
                ("other_payer", &payer_marks[..]),
            ] {
                let r = suite
                    .http
                    .get(suite.url(&path))
                    .bearer_auth(&suite.tokens[who])
                    .send()
                    .expect("request");
                let status = r.status().as_u16();
                let body = r.text().unwrap_or_default();
                checked += 1;
                if let Some(mark) = marks.iter().find(|m| body.contains(m.as_str())) {
                    leaks.push(format!("GET {path} as {who}: {status} shows {mark}"));
                }
                assert_ne!(status, 500, "GET {path} as {who}: {body}");
            }
        }
    }
    assert!(checked > 100, "only {checked} reads were checked");

    // Staff with a payer claim read as that payer: no audit trail shows them anything, while the
    // same roles without the claim see the money path's entries.
    let roles = [
        "--role",
        "billing_manager",
        "--role",
        "auditor",
        "--role",
        "collector",
    ];
    let claimed = token(
        &[&["--data-dir", data, "--payer", "OTHER"], &roles[..]].concat(),
        &[],
    );
    let staff = token(&[&["--data-dir", data], &roles[..]].concat(), &[]);
    for service in ["accounts", "settlement", "invoicing", "collections"] {
        let path = format!("/v1/{service}/audit-events");
        let read = |token: &str| -> Value {
            let r = suite
                .http
                .get(suite.url(&path))
                .bearer_auth(token)
                .send()
                .expect("request");
            assert_eq!(r.status().as_u16(), 200, "GET {path}");
            r.json().expect("json")
        };
        assert!(
            !read(&staff)["items"].as_array().expect("items").is_empty(),
            "{path}"
        );
        assert_eq!(
            read(&claimed)["items"],
            json!([]),
            "{path} as a payer-limited reader"
        );
    }
    // ... nor a location's billing runs; and an auditor of H1 reads the settlement entries of H1
    // (the workflow of the money path's settlement), while organisation-wide ones stay hidden.
    let runs = |token: &str| -> Value {
        let r = suite
            .http
            .get(suite.url("/v1/billing-runs"))
            .bearer_auth(token)
            .send()
            .expect("runs");
        r.json().expect("json")
    };
    assert!(!runs(&staff)["items"].as_array().expect("items").is_empty());
    assert_eq!(runs(&claimed)["items"], json!([]));
    let h1_auditor = token(
        &["--data-dir", data, "--role", "auditor", "--location", "H1"],
        &[],
    );
    let r = suite
        .http
        .get(suite.url("/v1/settlement/audit-events"))
        .bearer_auth(&h1_auditor)
        .send()
        .expect("audit");
    let entries: Value = r.json().expect("json");
    let entries = entries["items"].as_array().expect("items");
    assert!(!entries.is_empty(), "H1's settlement entries");
    assert!(
        entries.iter().all(|e| e["entity_type"] == "settlement"),
        "only a settlement's own entries: {entries:?}"
    );
    assert!(
        leaks.is_empty(),
        "records outside the scope:\n{}",
        leaks.join("\n")
    );

    // Writes: the payer portal may write nothing; whatever the body, the answer is 403.
    let mut wrong = Vec::new();
    for (method, template) in operations() {
        if method == "get" {
            continue;
        }
        let path = template.replace("{id}", "0190aaaa-0000-7000-8000-000000000000");
        let path = path
            .split('/')
            .map(|s| if s.starts_with('{') { "X" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let without_token =
            WITHOUT_TOKEN.contains(&template.as_str()) || BY_LINK.contains(&template.as_str());
        let client_write = CLIENT_WRITES.contains(&template.as_str());
        for (content_type, body) in [
            ("application/json", "{\"nonsense\": true}"),
            ("application/json", "[1, 2"),
            ("text/plain", "hello"),
        ] {
            let req = match method.as_str() {
                "post" => suite.http.post(suite.url(&path)),
                "put" => suite.http.put(suite.url(&path)),
                "patch" => suite.http.patch(suite.url(&path)),
                _ => suite.http.delete(suite.url(&path)),
            };
            let r = req
                .bearer_auth(&suite.tokens["other_payer"])
                .header("content-type", content_type)
                .header("if-match", "\"v1\"")
                .body(body)
                .send()
                .expect("request");
            let status = r.status().as_u16();
            if without_token {
                // No token to refuse by role: anything unsigned is refused all the same.
                if !(400..500).contains(&status) {
                    wrong.push(format!(
                        "{} {path} ({content_type}): {status}",
                        method.to_uppercase()
                    ));
                }
                continue;
            }
            if status != if client_write { 404 } else { 403 } {
                wrong.push(format!(
                    "{} {path} ({content_type}): {status} {}",
                    method.to_uppercase(),
                    r.text().unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "writes not refused first:\n{}",
        wrong.join("\n")
    );
    server.stop();
}
