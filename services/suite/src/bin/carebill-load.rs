//! `carebill-load`: the load program. Pushes consumptions through the batch endpoint of a running
//! suite or accounts service and reports accepted consumptions per second, batch latency
//! percentiles, and how long the outbox took to publish everything.
//!
//! ```sh
//! carebill-load --url http://127.0.0.1:8080 --token "$TOKEN" --consumptions 100000 --batch 1000 --concurrency 4
//! ```
//! See BENCHMARKS.md for the figures and `scripts/bench.sh` for the full runs.

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
