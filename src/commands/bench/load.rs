//! The HTTP load generator of the ingest and end-to-end benchmarks: keep-alive connections
//! from this process, beside the gateway's, closed-loop for the maximum rate and open-loop
//! (every request has its slot in time) for latency at a given rate.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::{Mutex, Semaphore};

use super::report::Latencies;
use crate::commands::api_client::with_api_key;

/// Requests one open-loop run may have waiting for an answer; beyond it the generator
/// itself would become the bottleneck it measures.
const OPEN_LOOP_IN_FLIGHT: usize = 512;

/// What a run of requests got.
#[derive(Default)]
pub struct Outcome {
    /// Answers by status; 0 is a connection error.
    pub statuses: BTreeMap<u16, u64>,
    pub latencies: Latencies,
    /// The order ids answered `201` and when their request was due, when asked for.
    pub placed: Vec<(String, Instant)>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn created(&self) -> u64 {
        self.statuses.get(&201).copied().unwrap_or(0)
    }

    pub fn requests(&self) -> u64 {
        self.statuses.values().sum()
    }

    fn record(&mut self, status: u16, latency: Duration) {
        self.latencies.push(latency);
        *self.statuses.entry(status).or_default() += 1;
    }

    fn absorb(&mut self, other: Outcome) {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.latencies.extend(other.latencies);
        self.placed.extend(other.placed);
    }
}

/// The body of one order, as a client sends it.
pub fn order_body(i: usize) -> Value {
    let mut items =
        vec![json!({"sku": format!("BENCH-{:02}", i % 50), "quantity": 1, "unit_price": 1999})];
    if i.is_multiple_of(2) {
        items.push(
            json!({"sku": format!("BENCH-{:02}", (i + 7) % 50), "quantity": 2, "unit_price": 450}),
        );
    }
    json!({
        "customer_id": format!("bench-{}", i % 1000),
        "email": format!("bench{}@example.com", i % 1000),
        "currency": "EUR",
        "payment_token": "tok_visa",
        "items": items,
    })
}

pub fn batch_body(orders: usize, offset: usize) -> Value {
    json!({"orders": (0..orders).map(|i| order_body(offset + i)).collect::<Vec<_>>()})
}

pub fn client(api_key: &str, connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(with_api_key(api_key)?
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .build()?)
}

/// One request; returns its status (0 on a connection error) and, for a single order
/// answered `201`, the order's id.
async fn send(
    http: &reqwest::Client,
    url: &str,
    body: &[u8],
    want_id: bool,
) -> (u16, Option<String>) {
    let answer = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec())
        .send()
        .await;
    match answer {
        Ok(response) => {
            let status = response.status().as_u16();
            let bytes = response.bytes().await.unwrap_or_default();
            let id = (want_id && status == 201)
                .then(|| serde_json::from_slice::<Value>(&bytes).ok())
                .flatten()
                .and_then(|v| v["id"].as_str().map(str::to_owned));
            (status, id)
        }
        Err(_) => (0, None),
    }
}

/// As many requests as `connections` keep-alive connections can carry for `duration`.
pub async fn closed_loop(
    http: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    connections: usize,
    duration: Duration,
) -> Outcome {
    let started = Instant::now();
    let deadline = started + duration;
    let workers = (0..connections).map(|worker| {
        let (http, url, bodies) = (http.clone(), url.to_owned(), bodies.clone());
        tokio::spawn(async move {
            let mut outcome = Outcome::default();
            let mut i = worker;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let (status, _) = send(&http, &url, &bodies[i % bodies.len()], false).await;
                outcome.record(status, sent.elapsed());
                i += connections;
            }
            outcome
        })
    });
    let mut total = Outcome::default();
    for worker in futures::future::join_all(workers).await {
        total.absorb(worker.unwrap_or_default());
    }
    total.elapsed = started.elapsed();
    total
}

/// Requests at `rate` per second for `duration`, each due at its own instant; latency counts
/// from that instant, so a stalled answer also delays the ones queued behind it.
pub async fn open_loop(
    http: &reqwest::Client,
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    rate: f64,
    duration: Duration,
    keep_ids: bool,
) -> Outcome {
    let total_requests = (rate * duration.as_secs_f64()).round().max(1.0) as usize;
    let spacing = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let started = Instant::now();
    let limit = Arc::new(Semaphore::new(OPEN_LOOP_IN_FLIGHT));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let mut tasks = Vec::with_capacity(total_requests);
    for i in 0..total_requests {
        let due = started + spacing.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let (http, url, bodies, outcome) = (
            http.clone(),
            url.to_owned(),
            bodies.clone(),
            outcome.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let (status, id) = send(&http, &url, &bodies[i % bodies.len()], keep_ids).await;
            let latency = due.elapsed();
            drop(permit);
            let mut outcome = outcome.lock().await;
            outcome.record(status, latency);
            if let Some(id) = id {
                outcome.placed.push((id, due));
            }
        }));
    }
    futures::future::join_all(tasks).await;
    let mut total = std::mem::take(&mut *outcome.lock().await);
    total.elapsed = started.elapsed();
    total
}

/// Serialized bodies, encoded once so that the generator spends its time sending.
pub fn bodies(count: usize, make: impl Fn(usize) -> Value) -> Arc<Vec<Vec<u8>>> {
    Arc::new(
        (0..count)
            .map(|i| serde_json::to_vec(&make(i)).expect("a JSON body"))
            .collect(),
    )
}
