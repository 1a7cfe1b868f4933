//! Small and large orders side by side for a minute: every one is accepted, and large bodies
//! never hold up small ones. What is looked for is a stall (a small order waiting behind large
//! ones, a connection starved), not speed; the bound says so.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::gateway::GatewayProcess;
use support::orders::{order, padded};
use support::stack_is_up;

const RUN: Duration = Duration::from_secs(60);
const SMALL_SENDERS: usize = 4;
const LARGE_SENDERS: usize = 2;
const SMALL_BYTES: usize = 1024;
const LARGE_BYTES: usize = 900 * 1024;
/// Longest a small order may take, even on a loaded two-core machine. A small order takes
/// milliseconds; two seconds is a stall, not slowness.
const STALL: Duration = Duration::from_secs(2);

/// The largest order the validation allows in content (100 lines, 50 metadata entries of
/// 500 characters, about 35 KB), padded with JSON whitespace to `LARGE_BYTES`: no valid order
/// holds 900 KB of content.
fn large_order() -> String {
    let mut body = order("cust-large");
    let items: Vec<Value> = (0..100)
        .map(|i| {
            let sku = format!("SKU-{i:03}-{}", "X".repeat(56));
            json!({"sku": sku, "quantity": 1, "unit_price": 100})
        })
        .collect();
    body["items"] = json!(items);
    let metadata: serde_json::Map<String, Value> = (0..50)
        .map(|i| (format!("note-{i:02}"), json!("m".repeat(500))))
        .collect();
    body["metadata"] = Value::Object(metadata);
    padded(&body, LARGE_BYTES)
}

/// Sends `body` over and over until `until`; returns each answer's status and latency.
async fn send_until(url: String, body: String, until: Instant) -> Vec<(u16, Duration)> {
    let http = support::http();
    let mut answers = Vec::new();
    while Instant::now() < until {
        let started = Instant::now();
        let sent = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        let status = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.bytes().await;
                status
            }
            Err(_) => 0,
        };
        answers.push((status, started.elapsed()));
    }
    answers
}

fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    sorted[(sorted.len() * percent / 100).min(sorted.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_of_small_and_large_orders_side_by_side_has_no_error_and_no_stall() {
    if !stack_is_up("gateway_load") {
        return;
    }
    let gateway = GatewayProcess::alone("load", &[]).await;
    let url = gateway.url("/v1/orders");
    let small = padded(&order("cust-small"), SMALL_BYTES);
    let large = large_order();
    let until = Instant::now() + RUN;

    let senders: Vec<_> = (0..SMALL_SENDERS)
        .map(|_| (true, small.clone()))
        .chain((0..LARGE_SENDERS).map(|_| (false, large.clone())))
        .map(|(is_small, body)| (is_small, tokio::spawn(send_until(url.clone(), body, until))))
        .collect();
    let (mut small_answers, mut large_answers) = (Vec::new(), Vec::new());
    for (is_small, sender) in senders {
        let answers = sender.await.expect("a sender ends");
        if is_small {
            small_answers.extend(answers)
        } else {
            large_answers.extend(answers)
        }
    }

    for (kind, answers) in [("small", &small_answers), ("large", &large_answers)] {
        let failed: Vec<&(u16, Duration)> = answers.iter().filter(|(s, _)| *s != 201).collect();
        assert!(
            failed.is_empty(),
            "{} of {} {kind} orders not accepted: {:?}",
            failed.len(),
            answers.len(),
            &failed[..failed.len().min(10)]
        );
        let mut latencies: Vec<Duration> = answers.iter().map(|(_, l)| *l).collect();
        latencies.sort();
        println!(
            "{kind}: {} orders, p50 {:?}, p99 {:?}, max {:?}",
            latencies.len(),
            percentile(&latencies, 50),
            percentile(&latencies, 99),
            latencies[latencies.len() - 1]
        );
    }
    assert!(!large_answers.is_empty(), "no large order was sent");
    let slowest = small_answers
        .iter()
        .map(|(_, l)| *l)
        .max()
        .unwrap_or_default();
    assert!(slowest < STALL, "a small order took {slowest:?}");
}
