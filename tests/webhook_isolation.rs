//! One endpoint that hangs must not slow deliveries to the others: with a steady flow of events
//! to 50 healthy endpoints, their p99 delivery latency with a hanging endpoint subscribed stays
//! within 10 % of the same flow without it.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::receivers::{Answer, Receiver};
use support::webhooks::{attempts, completed_order, subscribe, subscribe_all, Writer};
use support::{eventually, stack_is_up, Pipeline};

const HEALTHY_ENDPOINTS: usize = 50;
/// Events per measured phase, and the pause between two: 5 events, 250 deliveries a second.
const EVENTS_PER_PHASE: usize = 60;
const EVENT_INTERVAL: Duration = Duration::from_millis(200);
/// Events before the measurement, so that connections and caches are warm in both phases.
const WARM_UP_EVENTS: usize = 5;
/// The hanging endpoint's requests end at this timeout, in ms.
const REQUEST_TIMEOUT_MS: u64 = 3000;
/// Requests in flight per subscription: a hanging endpoint holds at most this many.
const PER_SUBSCRIPTION_CAP: usize = 16;
/// Allowed on top of 10 %, in ms: the sink's consumer polls, its commit interval (100 ms) and
/// the scheduling of three busy processes on two shared cores move single deliveries by tens
/// of ms from one run to the next. A hanging endpoint that held others up would add its
/// request timeout, seconds.
const SLACK_MS: f64 = 100.0;
/// Bound on the wait for one phase's deliveries.
const PHASE_LIMIT: Duration = Duration::from_secs(60);

/// The 99th percentile of `latencies`, in ms.
fn p99(mut latencies: Vec<i64>) -> f64 {
    latencies.sort_unstable();
    let rank = (latencies.len() * 99).div_ceil(100).max(1);
    latencies[rank - 1] as f64
}

/// Writes `events` outcome events at a steady pace and returns, once every healthy endpoint
/// received all of them, each delivery's latency: receipt minus the event's own time.
async fn flow(pipeline: &Pipeline, healthy: &[Receiver], events: usize) -> Vec<i64> {
    let writer = Writer::new(pipeline);
    let mut happened_at = HashMap::new();
    let mut pace = tokio::time::interval(EVENT_INTERVAL);
    for _ in 0..events {
        pace.tick().await;
        let event = completed_order("ada@example.com", "auth_1");
        happened_at.insert(event.event_id.to_string(), event.completed_at_ms);
        writer.write(&event).await;
    }
    eventually("every healthy endpoint served", PHASE_LIMIT, || async {
        let mut latencies = Vec::new();
        for receiver in healthy {
            let mut first: HashMap<String, i64> = HashMap::new();
            for request in receiver.received() {
                if let Some(at) = happened_at.get(request.webhook_id()) {
                    first
                        .entry(request.webhook_id().to_owned())
                        .or_insert(request.at_ms - at);
                }
            }
            if first.len() < events {
                return None;
            }
            latencies.extend(first.into_values());
        }
        Some(latencies)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_slow_deliveries_to_healthy_ones() {
    if !stack_is_up("webhook_isolation") {
        return;
    }
    let settings = [
        (
            "ORDERFLOW_WEBHOOKS__REQUEST_TIMEOUT_MS",
            REQUEST_TIMEOUT_MS.to_string(),
        ),
        (
            "ORDERFLOW_WEBHOOKS__MAX_IN_FLIGHT_PER_SUBSCRIPTION",
            PER_SUBSCRIPTION_CAP.to_string(),
        ),
    ];
    let pipeline = Pipeline::start_with("wh-isolation", &settings).await;
    let mut healthy = Vec::new();
    for _ in 0..HEALTHY_ENDPOINTS {
        healthy.push(Receiver::answering(Answer::Status(204)).await);
    }
    let urls: Vec<String> = healthy.iter().map(Receiver::url).collect();
    subscribe_all(&pipeline, &urls).await;
    flow(&pipeline, &healthy, WARM_UP_EVENTS).await;

    let without = p99(flow(&pipeline, &healthy, EVENTS_PER_PHASE).await);
    let hanging = Receiver::answering(Answer::Hang).await;
    let stuck = subscribe(&pipeline, &hanging.url()).await;
    let with = p99(flow(&pipeline, &healthy, EVENTS_PER_PHASE).await);
    println!(
        "healthy endpoints' p99 delivery latency: {without} ms without, {with} ms with a \
         hanging endpoint ({} requests to it, at most {} at once)",
        hanging.connections(),
        hanging.most_open()
    );

    assert!(
        hanging.connections() >= PER_SUBSCRIPTION_CAP,
        "the hanging endpoint was not kept busy: {} requests",
        hanging.connections()
    );
    let timed_out = attempts(&pipeline, &stuck.id).await;
    assert!(
        timed_out.iter().any(|a| a["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("timed out"))),
        "no attempt to the hanging endpoint timed out: {timed_out:?}"
    );
    assert!(
        with <= without * 1.10 + SLACK_MS,
        "p99 {with} ms with a hanging endpoint, {without} ms without"
    );
}
