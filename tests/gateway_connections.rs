//! Connections come and go without leaving memory behind: after 10,000 short-lived
//! connections, one request each, the gateway's resident memory is where it was after a
//! warm-up of 1,000.

mod support;

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use support::gateway::GatewayProcess;
use support::orders::{order, post};
use support::raw_http::{connect, post_head, read_answer, send};
use support::stack_is_up;

const WARM_UP: usize = 1_000;
const CONNECTIONS: usize = 10_000;
/// Connections open at once.
const CONCURRENCY: usize = 8;
/// Growth of resident memory allowed between the two measurements, in percent: allocator
/// arenas and caches that were still filling after the warm-up may grow a little, a leak of
/// even a few hundred bytes per connection would not fit (10,000 x 1 KiB is about 10 MB).
const RSS_TOLERANCE_PERCENT: u64 = 20;
/// Time for memory freed by closed connections to be returned before it is measured.
const SETTLE: Duration = Duration::from_secs(2);
/// Longest one answer may take.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// Two requests that touch routing, auth, body reading and problems but store nothing, so
/// that whatever the memory does is the connections' doing, not a view growing by design: a
/// read of an order (200) and a refused order (422). Each asks to close the connection.
fn requests(order_id: &str) -> [Vec<u8>; 2] {
    let read = format!(
        "GET /v1/orders/{order_id} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    );
    let body = r#"{"customer_id": "cust-refused"}"#;
    let head = post_head("/v1/orders", body.len()).replacen("\r\n", "\r\nconnection: close\r\n", 1);
    [read.into_bytes(), format!("{head}{body}").into_bytes()]
}

/// `count` requests, each on a TCP connection opened for it and closed after its answer.
async fn churn(gateway: &GatewayProcess, order_id: &str, count: usize) {
    let requests = requests(order_id);
    let statuses: Vec<u16> = stream::iter(0..count)
        .map(|i| {
            let request = &requests[i % 2];
            async move {
                let mut stream = connect(gateway.port).await;
                send(&mut stream, request).await;
                let answer = read_answer(&mut stream, ANSWER_LIMIT).await;
                answer.map_or(0, |a| a.status)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let unexpected: Vec<&u16> = statuses
        .iter()
        .filter(|s| !matches!(s, 200 | 422))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{} unexpected answers: {:?}",
        unexpected.len(),
        &unexpected[..unexpected.len().min(10)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_short_lived_connections_leave_the_gateway_memory_flat() {
    if !stack_is_up("gateway_connections") {
        return;
    }
    let gateway = GatewayProcess::alone("conns", &[]).await;
    let orders = gateway.url("/v1/orders");
    let placed = post(&support::http(), &orders, None, &order("cust-conns")).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    let order_id = placed.body["id"].as_str().expect("an id").to_owned();

    churn(&gateway, &order_id, WARM_UP).await;
    tokio::time::sleep(SETTLE).await;
    let before = gateway.rss_kib();

    let started = Instant::now();
    churn(&gateway, &order_id, CONNECTIONS).await;
    let took = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let after = gateway.rss_kib();

    println!(
        "RSS after {WARM_UP} connections: {before} KiB; after {CONNECTIONS} more: {after} KiB \
         ({:+.1} %); {CONNECTIONS} connections in {took:?}",
        (after as f64 - before as f64) * 100.0 / before as f64
    );
    assert!(
        after * 100 <= before * (100 + RSS_TOLERANCE_PERCENT),
        "RSS grew from {before} KiB to {after} KiB"
    );
}
