//! `carebill-load`: the load program.
//!
//! - Push (default): consumptions through the batch endpoint of a running suite or accounts
//!   service; reports accepted consumptions per second, batch latency percentiles, and how long
//!   the outbox took to publish everything.
//! - `--money-path`: N episodes × M consumptions pushed, settled, approved (biller and auditor
//!   steps, as people would) and invoiced; reports end-to-end consumptions/s and invoices/s from
//!   the first push to the last settlement invoiced. Two ways to approve: **interactive** (the
//!   default: each settlement read, then three steps with `If-Match`) and **bulk** (`--bulk`:
//!   the clean drafts listed with `issues=none` and released 500 at a time with
//!   `POST /v1/settlements/transitions` — in_review, in_audit, approved — as a billing
//!   department releases clean claims).
//!
//! - `--billing-run`: N residents of a care home (a stay, a care level, every fifth with a hospital
//!   absence over the month's edge) recorded through accounts; then the billing run of a month is
//!   committed and timed, and the next month's, with late absences to correct, too.
//!
//! ```sh
//! carebill-load --billing-run --url http://127.0.0.1:8080 --token "$ADMIN" --residents 10000
//! carebill-load --url http://127.0.0.1:8080 --token "$TOKEN" --consumptions 100000 --batch 1000 --concurrency 4
//! carebill-load --money-path --url http://127.0.0.1:8080 --token "$ADMIN" --auditor-token "$AUDITOR" --episodes 10000 --per-episode 20
//! ```
//! See docs/development/benchmarks.md for the figures and `scripts/bench.sh` for the full runs.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::{Value, json};

/// Load program for Carebill's consumption push.
#[derive(Debug, Parser)]
#[command(name = "carebill-load", version)]
struct Args {
    /// Base URL of the suite or the accounts service.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A token with the admin role.
    #[arg(long, env = "CAREBILL_TOKEN")]
    token: String,
    /// Consumptions to push in all.
    #[arg(long, default_value_t = 100_000)]
    consumptions: usize,
    /// Consumptions per batch request (at most 1,000).
    #[arg(long, default_value_t = 1_000)]
    batch: usize,
    /// Batch requests in flight at once.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// Episodes the consumptions are spread over.
    #[arg(long, default_value_t = 100)]
    episodes: usize,
    /// A label printed with the results.
    #[arg(long, default_value = "run")]
    label: String,
    /// Run the whole money path instead of the push alone.
    #[arg(long)]
    money_path: bool,
    /// Money path: consumptions per episode.
    #[arg(long, default_value_t = 20)]
    per_episode: usize,
    /// Money path: the settlement service, when it is not at `--url`.
    #[arg(long)]
    settlement_url: Option<String>,
    /// Money path: release the clean settlements in bulk (`POST /v1/settlements/transitions`,
    /// 500 per request) instead of reading each and stepping it three times.
    #[arg(long)]
    bulk: bool,
    /// Money path: a token with the auditor role (approvals are the auditor's alone).
    #[arg(long, env = "CAREBILL_AUDITOR_TOKEN")]
    auditor_token: Option<String>,
    /// Money path, then documents: UBL of `--ubl-samples` invoices one at a time, and a batch of
    /// every invoice of the run filled, closed and exported (invoicing at `--invoicing-url`).
    #[arg(long)]
    documents: bool,
    /// Documents: the invoicing service, when it is not at `--url`.
    #[arg(long)]
    invoicing_url: Option<String>,
    /// Documents: how many invoices' UBL to time.
    #[arg(long, default_value_t = 200)]
    ubl_samples: usize,
    /// Time billing runs of a care home instead (settlement at `--settlement-url`).
    #[arg(long)]
    billing_run: bool,
    /// Billing run: residents of the care home.
    #[arg(long, default_value_t = 10_000)]
    residents: usize,
}

#[derive(serde::Deserialize)]
struct Counts {
    created: u64,
    rejected: u64,
}

struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    /// Posts a batch and reads only its counts (the per-item results are skipped unparsed).
    async fn push(&self, body: &Value) -> anyhow::Result<Counts> {
        let res = self
            .http
            .post(format!("{}/v1/consumptions/batch", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = res.status();
        let bytes = res.bytes().await?;
        if !status.is_success() {
            bail!(
                "POST /v1/consumptions/batch: {status}: {}",
                String::from_utf8_lossy(&bytes)
            );
        }
        Ok(serde_json::from_slice(&bytes)?)
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("POST {path}: {status}: {body}");
        }
        Ok(body)
    }

    async fn send(&self, req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let res = req.bearer_auth(&self.token).send().await?;
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{what}: {status}: {body}");
        }
        Ok(body)
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(self.http.get(format!("{}{path}", self.url)), path)
            .await
    }

    /// Moves a settlement one step with If-Match, as a work-queue client does: asking for no
    /// body back (`Prefer: return=minimal`); returns the new ETag.
    async fn step(&self, id: &str, etag: &str, to: &str) -> anyhow::Result<String> {
        let path = format!("/v1/settlements/{id}/transitions");
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .header("if-match", etag)
            .header("prefer", "return=minimal")
            .json(&json!({ "to": to }))
            .send()
            .await?;
        let status = res.status();
        let etag = res
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if !status.is_success() {
            let body = res.text().await.unwrap_or_default();
            bail!("{path}: {status}: {body}");
        }
        etag.context("no ETag in the answer")
    }

    async fn backlog(&self) -> anyhow::Result<f64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with("carebill_outbox_backlog{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.money_path {
        return money_path(&args).await;
    }
    if args.billing_run {
        return billing_run(&args).await;
    }
    if args.batch == 0 || args.batch > 1000 || args.concurrency == 0 || args.episodes == 0 {
        bail!("--batch must be 1..=1000, --concurrency and --episodes at least 1");
    }
    let api = std::sync::Arc::new(Api {
        http: reqwest::Client::new(),
        url: args.url.trim_end_matches('/').to_owned(),
        token: args.token.clone(),
    });
    let run = uuid::Uuid::now_v7().simple().to_string();
    let tag = &run[run.len() - 8..];

    // Master data: one location, payer, catalog item; patients with a coverage; open episodes.
    let loc = api
        .post(
            "/v1/locations",
            &json!({"code": format!("L{tag}"), "name": "Load test", "time_zone": "Europe/Madrid"}),
        )
        .await?;
    let payer = api
        .post(
            "/v1/payers",
            &json!({"code": format!("P{tag}"), "name": "Load insurer", "kind": "insurer"}),
        )
        .await?;
    api.post("/v1/catalog-items", &json!({"code": format!("C{tag}"), "description": "Load item", "service_group": "LOAD", "kind": "procedure", "unit": "unit"})).await?;
    let mut episodes = Vec::with_capacity(args.episodes);
    for i in 0..args.episodes {
        let patient = api
            .post("/v1/patients", &json!({"identifiers": [{"system": "load", "value": format!("{tag}-{i}")}], "family_name": "Load", "given_name": format!("P{i}"), "beneficiary_kind": "INSURED"}))
            .await?;
        api.post("/v1/coverages", &json!({"patient_id": patient["id"], "payer_id": payer["id"], "policy_number": format!("POL-{i}"), "priority": 1})).await?;
        let ep = api.post("/v1/episodes", &json!({"number": format!("E{tag}-{i}"), "patient_id": patient["id"], "location_id": loc["id"], "kind": "inpatient"})).await?;
        episodes.push(ep["id"].as_str().context("episode id")?.to_owned());
    }

    let batches: Vec<Value> = (0..args.consumptions.div_ceil(args.batch))
        .map(|b| {
            let n = args.batch.min(args.consumptions - b * args.batch);
            let items: Vec<Value> = (0..n)
                .map(|i| {
                    let k = b * args.batch + i;
                    json!({"episode_id": episodes[k % episodes.len()], "code": format!("C{tag}"), "quantity": "1",
                           "performed_at": "2026-11-01T10:00:00Z", "source_system": "LOAD", "external_id": format!("{tag}-{k}")})
                })
                .collect();
            json!({"items": items})
        })
        .collect();

    let queue = std::sync::Arc::new(tokio::sync::Mutex::new(batches.into_iter()));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let queue = queue.clone();
        let api = api.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut accepted = 0_u64;
            loop {
                let Some(batch) = queue.lock().await.next() else {
                    break;
                };
                let t = Instant::now();
                let r = api.push(&batch).await?;
                latencies.push(t.elapsed());
                accepted += r.created;
                if r.rejected > 0 {
                    bail!("{} items were rejected", r.rejected);
                }
            }
            anyhow::Ok((latencies, accepted))
        }));
    }
    let mut latencies = Vec::new();
    let mut accepted = 0;
    for w in workers {
        let (l, a) = w.await??;
        latencies.extend(l);
        accepted += a;
    }
    let pushed = start.elapsed();
    // Wait until the outbox relay has published every event.
    let publish_deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if api.backlog().await? == 0.0 {
            break;
        }
        if Instant::now() > publish_deadline {
            bail!("the outbox did not drain within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let published = start.elapsed();
    latencies.sort();
    println!("label: {}", args.label);
    println!(
        "consumptions accepted: {accepted} in {} batches of {} ({} in flight)",
        latencies.len(),
        args.batch,
        args.concurrency
    );
    println!(
        "push: {:.2} s, {:.0} consumptions/s persisted with their outbox events",
        pushed.as_secs_f64(),
        accepted as f64 / pushed.as_secs_f64()
    );
    println!(
        "batch latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 50.0).as_secs_f64() * 1000.0,
        percentile(&latencies, 99.0).as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    println!(
        "outbox drained (all events published) after {:.2} s: {:.0} events/s end to end",
        published.as_secs_f64(),
        accepted as f64 / published.as_secs_f64()
    );
    Ok(())
}

/// Runs `f` over `items` with at most `concurrency` in flight.
async fn for_each_concurrent<T, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    f: F,
) -> anyhow::Result<()>
where
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    use futures::StreamExt as _;
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(items.into_iter().map(f))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect()
}

/// The money path under load: see the module documentation.
async fn money_path(args: &Args) -> anyhow::Result<()> {
    let Some(auditor_token) = args.auditor_token.clone() else {
        bail!("--money-path needs --auditor-token (a token with the auditor role)");
    };
    if args.per_episode == 0 || args.per_episode > 1000 {
        bail!("--per-episode must be 1..=1000");
    }
    let http = reqwest::Client::new();
    let url = args.url.trim_end_matches('/').to_owned();
    let settlement_url = args
        .settlement_url
        .as_deref()
        .unwrap_or(&url)
        .trim_end_matches('/')
        .to_owned();
    let accounts = std::sync::Arc::new(Api {
        http: http.clone(),
        url: url.clone(),
        token: args.token.clone(),
    });
    let biller = std::sync::Arc::new(Api {
        http: http.clone(),
        url: settlement_url.clone(),
        token: args.token.clone(),
    });
    let auditor = std::sync::Arc::new(Api {
        http: http.clone(),
        url: settlement_url,
        token: auditor_token,
    });
    let run = uuid::Uuid::now_v7().simple().to_string();
    let tag = run[run.len() - 8..].to_owned();
    let code = format!("C{tag}");

    // Configuration and master data (not timed): a location, a payer covering 80 % after a
    // 1.00 copay per line, a priced item, up to 100 patients with a coverage, the episodes.
    // With what an e-invoice names them by, so that every invoice's UBL is complete.
    let loc = accounts
        .post(
            "/v1/locations",
            &json!({"code": format!("L{tag}"), "name": "Load test", "time_zone": "Europe/Madrid",
                "address": {"lines": ["Calle Mayor 1"], "city": "Madrid", "postal_code": "28013", "country": "ES"},
                "vat_id": "ESB12345678", "endpoint": {"scheme": "0088", "id": "4000001000005"},
                "bank_account": {"iban": "ES9121000418450200051332", "bic": "CAIXESBBXXX"}}),
        )
        .await?;
    let payer = accounts
        .post(
            "/v1/payers",
            &json!({"code": format!("P{tag}"), "name": "Load insurer", "kind": "insurer",
                "address": {"lines": ["Calle Ribera del Loira 52"], "city": "Madrid", "postal_code": "28042", "country": "ES"},
                "vat_id": "ESA28037042", "endpoint": {"scheme": "9920", "id": "ESA28037042"},
                "buyer_reference": "LOAD"}),
        )
        .await?;
    accounts.post("/v1/catalog-items", &json!({"code": code, "description": "Load item", "service_group": "LOAD", "kind": "procedure", "unit": "unit"})).await?;
    biller.post("/v1/prices", &json!({"code": code, "unit_price": {"amount": "12.34", "currency": "EUR"}, "valid_from": "2026-01-01"})).await?;
    biller.post("/v1/coverage-terms", &json!({"payer_code": format!("P{tag}"), "covered_percent": "80", "currency": "EUR", "copay_per_line": {"amount": "1.00", "currency": "EUR"}})).await?;
    let mut patients = Vec::new();
    for i in 0..args.episodes.min(100) {
        let patient = accounts
            .post("/v1/patients", &json!({"identifiers": [{"system": "load", "value": format!("{tag}-{i}")}], "family_name": "Load", "given_name": format!("P{i}"), "beneficiary_kind": "INSURED"}))
            .await?;
        accounts.post("/v1/coverages", &json!({"patient_id": patient["id"], "payer_id": payer["id"], "policy_number": format!("POL-{i}"), "priority": 1})).await?;
        patients.push(patient["id"].clone());
    }
    let episodes = std::sync::Arc::new(tokio::sync::Mutex::new(vec![String::new(); args.episodes]));
    let setup = Instant::now();
    for_each_concurrent((0..args.episodes).collect(), args.concurrency, |i| {
        let accounts = accounts.clone();
        let episodes = episodes.clone();
        let patient = patients[i % patients.len()].clone();
        let body = json!({"number": format!("E{tag}-{i}"), "patient_id": patient, "location_id": loc["id"], "kind": "outpatient"});
        async move {
            let ep = accounts.post("/v1/episodes", &body).await?;
            episodes.lock().await[i] = ep["id"].as_str().context("episode id")?.to_owned();
            Ok(())
        }
    })
    .await?;
    let episodes = episodes.lock().await.clone();
    eprintln!(
        "setup: {} episodes in {:.1} s",
        episodes.len(),
        setup.elapsed().as_secs_f64()
    );

    // Timed from here: consumptions pushed episode by episode (as a HIS sends an encounter's
    // charges), 1,000 per batch.
    let total = args.episodes * args.per_episode;
    let batches: Vec<Value> = (0..total.div_ceil(1000))
        .map(|b| {
            let items: Vec<Value> = (b * 1000..total.min((b + 1) * 1000))
                .map(|k| json!({"episode_id": episodes[k / args.per_episode], "code": code, "quantity": "1",
                                "performed_at": "2026-11-01T10:00:00Z", "source_system": "LOAD", "external_id": format!("{tag}-{k}")}))
                .collect();
            json!({"items": items})
        })
        .collect();
    let start = Instant::now();
    let pusher = {
        let accounts = accounts.clone();
        let concurrency = args.concurrency;
        tokio::spawn(async move {
            for_each_concurrent(batches, concurrency, |b| {
                let accounts = accounts.clone();
                async move {
                    let r = accounts.push(&b).await?;
                    if r.rejected > 0 {
                        bail!("{} items were rejected", r.rejected);
                    }
                    Ok(())
                }
            })
            .await
        })
    };

    // Approve each settlement once all its lines are in: review and audit, three steps.
    let mut approved = std::collections::HashSet::new();
    let mut pushed_at = None;
    while approved.len() < args.episodes {
        if pushed_at.is_none() && pusher.is_finished() {
            pushed_at = Some(start.elapsed());
        }
        let mut ready = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            // Bulk: only the clean ones (a person would work the others by hand).
            let clean = if args.bulk { "&issues=none" } else { "" };
            let path = match &cursor {
                Some(c) => format!(
                    "/v1/settlements?status=draft&location_code=L{tag}{clean}&limit=500&cursor={c}"
                ),
                None => {
                    format!("/v1/settlements?status=draft&location_code=L{tag}{clean}&limit=500")
                }
            };
            let page = biller.get(&path).await?;
            for s in page["items"].as_array().into_iter().flatten() {
                let id = s["id"].as_str().unwrap_or_default().to_owned();
                if s["line_count"].as_u64() == Some(args.per_episode as u64)
                    && !approved.contains(&id)
                {
                    ready.push((id, s["etag"].as_str().unwrap_or_default().to_owned()));
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        if ready.is_empty() {
            if start.elapsed() > Duration::from_secs(1800) {
                bail!(
                    "settlements did not complete within 30 minutes ({} approved)",
                    approved.len()
                );
            }
            // Like a work queue a person refreshes: every half second.
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        approved.extend(ready.iter().map(|(id, _)| id.clone()));
        let steps = Instant::now();
        let n = ready.len();
        if args.bulk {
            let chunks: Vec<Vec<(String, String)>> = ready
                .chunks(500)
                .map(<[(String, String)]>::to_vec)
                .collect();
            for_each_concurrent(chunks, args.concurrency, |chunk| {
                let biller = biller.clone();
                let auditor = auditor.clone();
                async move { release(&biller, &auditor, chunk).await }
            })
            .await?;
        } else {
            let ids = ready.into_iter().map(|(id, _)| id).collect();
            interactive(&biller, &auditor, ids, args.concurrency).await?;
        }
        if std::env::var_os("CAREBILL_LOAD_TRACE").is_some() {
            eprintln!(
                "{:>7.1} s: {n} settlements approved in {:.2} s ({} of {})",
                start.elapsed().as_secs_f64(),
                steps.elapsed().as_secs_f64(),
                approved.len(),
                args.episodes
            );
        }
    }
    finish_money_path(
        args, &http, &url, &biller, &tag, total, start, pusher, pushed_at,
    )
    .await
}

/// Reads each settlement and takes it through its three steps, as people do one by one.
async fn interactive(
    biller: &std::sync::Arc<Api>,
    auditor: &std::sync::Arc<Api>,
    ready: Vec<String>,
    concurrency: usize,
) -> anyhow::Result<()> {
    for_each_concurrent(ready, concurrency, |id| {
        let biller = biller.clone();
        let auditor = auditor.clone();
        async move {
            let doc = biller.get(&format!("/v1/settlements/{id}")).await?;
            let mut etag = doc["etag"].as_str().context("etag")?.to_owned();
            for to in ["in_review", "in_audit"] {
                etag = biller.step(&id, &etag, to).await?;
            }
            auditor.step(&id, &etag, "approved").await?;
            Ok(())
        }
    })
    .await
}

/// Releases clean settlements in bulk: one request per step for up to 500 of them, each with
/// the `ETag` the list (then the previous step) gave. Every item must move.
async fn release(biller: &Api, auditor: &Api, chunk: Vec<(String, String)>) -> anyhow::Result<()> {
    let mut items: Vec<(String, String)> = chunk;
    for (api, to) in [
        (biller, "in_review"),
        (biller, "in_audit"),
        (auditor, "approved"),
    ] {
        let body = json!({"items": items
            .iter()
            .map(|(id, etag)| json!({"id": id, "to": to, "if_match": etag}))
            .collect::<Vec<_>>()});
        let r = api.post("/v1/settlements/transitions", &body).await?;
        if r["refused"].as_u64() != Some(0) {
            let first = r["items"]
                .as_array()
                .and_then(|i| i.iter().find(|i| i["status"] != 200))
                .cloned()
                .unwrap_or(Value::Null);
            bail!("{to}: {} refused, the first: {first}", r["refused"]);
        }
        items = r["items"]
            .as_array()
            .context("items")?
            .iter()
            .map(|i| {
                (
                    i["id"].as_str().unwrap_or_default().to_owned(),
                    i["etag"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
    }
    Ok(())
}

/// The end of a money-path run: waits until everything approved is invoiced, prints the
/// figures, and times the documents if asked.
#[expect(clippy::too_many_arguments, reason = "the run's state, passed once")]
async fn finish_money_path(
    args: &Args,
    http: &reqwest::Client,
    url: &str,
    biller: &Api,
    tag: &str,
    total: usize,
    start: Instant,
    pusher: tokio::task::JoinHandle<anyhow::Result<()>>,
    pushed_at: Option<Duration>,
) -> anyhow::Result<()> {
    pusher.await??;
    let pushed_at = pushed_at.unwrap_or_else(|| start.elapsed());
    let approved_at = start.elapsed();
    // Invoiced: no settlement of the run is left approved (invoicing reports back each one).
    loop {
        let page = biller
            .get(&format!(
                "/v1/settlements?status=approved&location_code=L{tag}&limit=1"
            ))
            .await?;
        if page["items"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        if start.elapsed() > Duration::from_secs(1800) {
            bail!("invoicing did not finish within 30 minutes");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let done = start.elapsed();
    let invoices = 2 * args.episodes;
    println!("label: {}", args.label);
    println!(
        "money path ({}): {} episodes x {} consumptions = {total} consumptions, {invoices} invoices (payer and patient per settlement)",
        if args.bulk {
            "bulk: clean drafts released 500 at a time"
        } else {
            "interactive: each settlement read and stepped"
        },
        args.episodes,
        args.per_episode
    );
    println!(
        "pushed after {:.1} s; all settlements approved after {:.1} s; all invoiced after {:.1} s",
        pushed_at.as_secs_f64(),
        approved_at.as_secs_f64(),
        done.as_secs_f64()
    );
    println!(
        "end to end: {:.0} consumptions/s, {:.0} invoices/s",
        total as f64 / done.as_secs_f64(),
        invoices as f64 / done.as_secs_f64()
    );
    if args.documents {
        let invoicing = Api {
            http: http.clone(),
            url: args
                .invoicing_url
                .as_deref()
                .unwrap_or(url)
                .trim_end_matches('/')
                .to_owned(),
            token: args.token.clone(),
        };
        // The payer's invoices: patients have no Peppol address, so theirs are not e-invoices.
        documents(
            &invoicing,
            &format!("L{tag}"),
            &format!("P{tag}"),
            args.episodes,
            args.ubl_samples,
        )
        .await?;
    }
    Ok(())
}

/// The documents of a money-path run: the UBL of `samples` of the payer's invoices asked for
/// one at a time (latency), then one batch of every invoice to the payer: created and filled by
/// its rule, closed, exported (each timed).
async fn documents(
    invoicing: &Api,
    location: &str,
    payer: &str,
    invoices: usize,
    samples: usize,
) -> anyhow::Result<()> {
    let page = invoicing
        .get(&format!(
            "/v1/invoices?location_code={location}&payer_code={payer}&limit={}",
            samples.clamp(1, 500)
        ))
        .await?;
    let ids: Vec<String> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect();
    let mut took = Vec::with_capacity(ids.len());
    for id in &ids {
        let t = Instant::now();
        let res = invoicing
            .http
            .get(format!("{}/v1/invoices/{id}/ubl", invoicing.url))
            .bearer_auth(&invoicing.token)
            .send()
            .await?;
        let status = res.status();
        let body = res.bytes().await?;
        if !status.is_success() {
            bail!(
                "GET /v1/invoices/{id}/ubl: {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        took.push(t.elapsed());
    }
    took.sort();
    println!(
        "UBL of one invoice ({} asked one at a time): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
        took.len(),
        percentile(&took, 0.50).as_secs_f64() * 1000.0,
        percentile(&took, 0.95).as_secs_f64() * 1000.0,
        took.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );

    let t = Instant::now();
    let batch = invoicing
        .post(
            "/v1/invoice-batches",
            &json!({"location_code": location, "currency": "EUR", "payer_code": payer, "fill": true}),
        )
        .await?;
    let filled = t.elapsed();
    let count = batch["document_count"].as_u64().unwrap_or_default();
    if count != invoices as u64 {
        bail!("the batch holds {count} documents, not the run's {invoices} invoices to the payer");
    }
    let id = batch["id"].as_str().context("batch id")?.to_owned();
    let t = Instant::now();
    let closed = invoicing
        .post(&format!("/v1/invoice-batches/{id}/close"), &json!({}))
        .await?;
    let close = t.elapsed();
    let t = Instant::now();
    let res = invoicing
        .http
        .get(format!("{}/v1/invoice-batches/{id}/export", invoicing.url))
        .bearer_auth(&invoicing.token)
        .send()
        .await?;
    let status = res.status();
    let archive = res.bytes().await?;
    if !status.is_success() {
        bail!("export: {status}: {}", String::from_utf8_lossy(&archive));
    }
    let export = t.elapsed();
    println!(
        "batch of {count} invoices to the payer: created and filled by its rule in {:.2} s; closed ({}) in {:.2} s; exported as UBL ({:.1} MiB zip) in {:.2} s",
        filled.as_secs_f64(),
        closed["number"].as_str().unwrap_or_default(),
        close.as_secs_f64(),
        archive.len() as f64 / (1024.0 * 1024.0),
        export.as_secs_f64()
    );
    Ok(())
}

/// Billing runs of a care home under load: see the module documentation.
async fn billing_run(args: &Args) -> anyhow::Result<()> {
    if args.residents == 0 {
        bail!("--residents must be at least 1");
    }
    let http = reqwest::Client::new();
    let url = args.url.trim_end_matches('/').to_owned();
    let accounts = std::sync::Arc::new(Api {
        http: http.clone(),
        url: url.clone(),
        token: args.token.clone(),
    });
    let settlement = Api {
        http,
        url: args
            .settlement_url
            .as_deref()
            .unwrap_or(&url)
            .trim_end_matches('/')
            .to_owned(),
        token: args.token.clone(),
    };
    let run = uuid::Uuid::now_v7().simple().to_string();
    let tag = run[run.len() - 8..].to_owned();
    let location_code = format!("L{tag}");

    // The rules (each its own slot): hotel by room type on days minus absences of 3 days or
    // more, care by level on presence days deducted from insurance and public authority.
    let rule = |code: &str, source: &str, group: &str, extra: Value| {
        let mut r = json!({
            "code": format!("{code}-{tag}"), "description": code, "beneficiary_kind": "LTC",
            "invoice_context": "beneficiary", "source": source, "service_group": group,
            "description_method": "service", "quantity_method": "days", "price_method": "service",
            "time_horizon": "subsequent", "active_from": "2026-01-01", "rounding_precision": "0.05",
            "absence_threshold_days": 3
        });
        if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
            r.extend(extra.clone());
        }
        r
    };
    let rules = [
        rule(
            "HOTEL-S",
            "stay",
            "ROOM",
            json!({"object_type": "SINGLE", "quantity_method": "days_minus_absences"}),
        ),
        rule(
            "HOTEL-D",
            "stay",
            "ROOM",
            json!({"object_type": "DOUBLE", "quantity_method": "days_minus_absences"}),
        ),
        rule(
            "CARE",
            "evaluation",
            "CARE",
            json!({"quantity_method": "effective_days", "linked_rules": [
            {"context": "insurance", "operation": "negate"}, {"context": "public_authority", "operation": "negate"}]}),
        ),
    ];
    for r in &rules {
        settlement.post("/v1/invoicing-rules", r).await?;
        let path = format!(
            "/v1/invoicing-rule-activations/{location_code}/{}",
            r["code"].as_str().context("code")?
        );
        settlement
            .send(
                settlement
                    .http
                    .put(format!("{}{path}", settlement.url))
                    .json(&json!({"enabled": true})),
                &path,
            )
            .await?;
    }
    for (qualifier, value, amount) in [
        ("object_type", "SINGLE", "142.00"),
        ("object_type", "DOUBLE", "118.50"),
        ("care_level", "L1", "23.10"),
        ("care_level", "L2", "46.20"),
        ("care_level", "L3", "69.30"),
        ("care_level", "L4", "92.40"),
    ] {
        let code = if qualifier == "object_type" {
            "ROOM"
        } else {
            "CARE"
        };
        let mut body = json!({"code": code, "unit_price": {"amount": amount, "currency": "CHF"},
            "valid_from": "2026-01-01", "location_code": location_code, "beneficiary_kind": "LTC"});
        body[qualifier] = json!(value);
        settlement.post("/v1/prices", &body).await?;
    }

    // The residents (not timed).
    let loc = accounts
        .post(
            "/v1/locations",
            &json!({"code": location_code, "name": "Load care home", "time_zone": "Europe/Zurich"}),
        )
        .await?;
    let setup = Instant::now();
    let last = std::sync::Arc::new(tokio::sync::Mutex::new(String::new()));
    for_each_concurrent((0..args.residents).collect(), args.concurrency, |i| {
        let accounts = accounts.clone();
        let loc = loc["id"].clone();
        let tag = tag.clone();
        let last = last.clone();
        async move {
            let patient = accounts
                .post("/v1/patients", &json!({"identifiers": [{"system": "load", "value": format!("{tag}-{i}")}],
                    "family_name": "Resident", "given_name": format!("R{i}"), "beneficiary_kind": "LTC"}))
                .await?;
            let record = |details: Value| json!({"patient_id": patient["id"], "location_id": loc, "details": details});
            let room = if i % 3 == 0 { "DOUBLE" } else { "SINGLE" };
            accounts.post("/v1/care-records", &record(json!({"kind": "stay", "beneficiary_kind": "LTC",
                "object_type": room, "entry_date": "2026-03-01"}))).await?;
            accounts.post("/v1/care-records", &record(json!({"kind": "evaluation",
                "level": format!("L{}", 1 + i % 4), "valid_from": "2026-03-01"}))).await?;
            if i % 5 == 0 {
                accounts.post("/v1/care-records", &record(json!({"kind": "absence", "reason": "hospital",
                    "from": "2026-10-27", "to": "2026-11-04"}))).await?;
            }
            let mut l = last.lock().await;
            if l.is_empty() || i + 1 == args.residents {
                *l = patient["id"].as_str().unwrap_or_default().to_owned();
            }
            Ok(())
        }
    })
    .await?;
    eprintln!(
        "setup: {} residents recorded in {:.1} s",
        args.residents,
        setup.elapsed().as_secs_f64()
    );
    // Wait until settlement has them: every resident's records reach it through events.
    let expect_lines = |preview: &Value| preview["line_count"].as_u64().unwrap_or(0);
    let wait = Instant::now();
    loop {
        let preview = settlement
            .post(
                "/v1/billing-runs",
                &json!({"location_code": location_code, "period": "2026-10", "preview": true}),
            )
            .await?;
        if preview["beneficiaries"].as_u64() == Some(args.residents as u64)
            && expect_lines(&preview) >= 4 * args.residents as u64
        {
            break;
        }
        if wait.elapsed() > Duration::from_secs(600) {
            bail!("settlement did not receive every care record within 10 minutes");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Timed: the October run committed.
    let start = Instant::now();
    let october = settlement
        .post(
            "/v1/billing-runs",
            &json!({"location_code": location_code, "period": "2026-10"}),
        )
        .await?;
    let first = start.elapsed();
    let lines = october["line_count"].as_u64().unwrap_or(0);
    // Late absences for every seventh resident, then November: its lines and October's
    // corrections.
    let patients = settlement
        .get(&format!(
            "/v1/billing-runs/{}/lines?limit=500",
            october["id"].as_str().context("run id")?
        ))
        .await?;
    let sample: Vec<String> = patients["items"]
        .as_array()
        .context("lines")?
        .iter()
        .filter_map(|l| l["patient_id"].as_str().map(str::to_owned))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for p in &sample {
        accounts
            .post(
                "/v1/care-records",
                &json!({"patient_id": p, "location_id": loc["id"], "details":
            {"kind": "absence", "reason": "holiday", "from": "2026-10-10", "to": "2026-10-14"}}),
            )
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let start = Instant::now();
    let november = settlement
        .post(
            "/v1/billing-runs",
            &json!({"location_code": location_code, "period": "2026-11"}),
        )
        .await?;
    let second = start.elapsed();
    println!(
        "{label}: billing run of {residents} residents: October {lines} lines committed in {a:.2} s ({lps:.0} lines/s); November {nl} lines ({late} residents with late absences corrected) in {b:.2} s",
        label = args.label,
        residents = args.residents,
        a = first.as_secs_f64(),
        lps = lines as f64 / first.as_secs_f64(),
        nl = november["line_count"].as_u64().unwrap_or(0),
        late = sample.len(),
        b = second.as_secs_f64(),
    );
    for t in october["totals"].as_array().into_iter().flatten() {
        println!(
            "  October {}: {}",
            t["context"].as_str().unwrap_or(""),
            t["amount"]["amount"].as_str().unwrap_or("")
        );
    }
    Ok(())
}
