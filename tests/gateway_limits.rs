//! What one request may hold: a body over `gateway.max_body_bytes` is refused from its
//! `Content-Length` before it is sent, a body that does not arrive in time gets `408`, a client
//! slow with its headers is disconnected, and bytes held for Kafka are bounded.

mod support;

use std::time::{Duration, Instant};

use support::gateway::GatewayProcess;
use support::orders::{order, padded, Answer};
use support::raw_http::{closes_within, connect, post_head, read_answer, send};
use support::records::orders_created;
use support::{stack_is_up, KAFKA};

/// Slack on top of a configured timeout for a loaded two-core machine.
const SLACK: Duration = Duration::from_secs(3);
const MIB: usize = 1024 * 1024;

async fn written(gateway: &GatewayProcess) -> usize {
    orders_created(KAFKA, &gateway.topics(), &gateway.codec())
        .await
        .len()
}

async fn post_text(gateway: &GatewayProcess, text: String) -> Answer {
    let response = support::http()
        .post(gateway.url("/v1/orders"))
        .header("content-type", "application/json")
        .body(text)
        .send()
        .await
        .expect("the gateway answers");
    Answer::read(response).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_is_refused_with_413_before_it_is_sent() {
    if !stack_is_up("gateway_limits") {
        return;
    }
    let gateway = GatewayProcess::alone("limit-413", &[]).await;

    // 100 MiB declared, 64 KiB sent: the answer comes while the client still owes the rest.
    let mut stream = connect(gateway.port).await;
    send(&mut stream, post_head("/v1/orders", 100 * MIB).as_bytes()).await;
    send(&mut stream, &vec![b' '; 64 * 1024]).await;
    let answer = read_answer(&mut stream, Duration::from_secs(5))
        .await
        .expect("an answer before the body was sent");
    assert_eq!(answer.status, 413);
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(answer.json()["type"], "/problems/body-too-large");
    assert_eq!(answer.header("connection"), Some("close"));

    // The limit is inclusive: a valid order of exactly 1 MiB is taken, one byte more is not.
    let at_limit = post_text(&gateway, padded(&order("cust-1mib"), MIB)).await;
    assert_eq!(at_limit.status, 201, "{}", at_limit.body);
    let over = post_text(&gateway, padded(&order("cust-over"), MIB + 1)).await;
    assert_eq!(over.status, 413, "{}", over.body);
    assert_eq!(over.problem_type(), "/problems/body-too-large");
    assert_eq!(
        written(&gateway).await,
        1,
        "only the order within the limit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    if !stack_is_up("gateway_limits") {
        return;
    }
    let timeout = Duration::from_millis(1500);
    let settings = [("ORDERFLOW_GATEWAY__BODY_TIMEOUT_MS", "1500".to_owned())];
    let gateway = GatewayProcess::alone("limit-408", &settings).await;

    let body = order("cust-slow").to_string();
    let mut stream = connect(gateway.port).await;
    let started = Instant::now();
    send(&mut stream, post_head("/v1/orders", body.len()).as_bytes()).await;
    send(&mut stream, &body.as_bytes()[..20]).await;
    let answer = read_answer(&mut stream, timeout + SLACK)
        .await
        .expect("an answer to a body that stopped");
    let elapsed = started.elapsed();
    assert_eq!(answer.status, 408, "{:?}", answer);
    assert_eq!(answer.json()["type"], "/problems/request-timeout");
    assert!(
        elapsed >= timeout - Duration::from_millis(100),
        "after {elapsed:?}"
    );
    assert_eq!(written(&gateway).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_slow_with_its_headers_is_disconnected() {
    if !stack_is_up("gateway_limits") {
        return;
    }
    let timeout = Duration::from_millis(1500);
    let settings = [("ORDERFLOW_GATEWAY__HEADER_TIMEOUT_MS", "1500".to_owned())];
    let gateway = GatewayProcess::alone("limit-head", &settings).await;

    // Silent from the start, stopped midway through the request line, idle after an answer.
    let mut silent = connect(gateway.port).await;
    let mut halfway = connect(gateway.port).await;
    send(&mut halfway, b"POST /v1/ord").await;
    let mut idle = connect(gateway.port).await;
    send(
        &mut idle,
        b"GET /openapi.json HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n",
    )
    .await;
    let first = read_answer(&mut idle, Duration::from_secs(5)).await;
    assert_eq!(
        first.map(|a| a.status),
        Some(200),
        "a kept-alive connection"
    );
    let started = Instant::now();

    for (name, stream) in [
        ("silent", &mut silent),
        ("halfway", &mut halfway),
        ("idle", &mut idle),
    ] {
        assert!(
            closes_within(stream, timeout + SLACK).await,
            "the {name} connection is still open after {:?}",
            started.elapsed()
        );
    }
    assert!(started.elapsed() >= timeout - Duration::from_millis(300));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_beyond_the_in_flight_bound_get_503_with_retry_after_until_released() {
    if !stack_is_up("gateway_limits") {
        return;
    }
    let settings = [("ORDERFLOW_GATEWAY__MAX_IN_FLIGHT_BYTES", "65536".to_owned())];
    let gateway = GatewayProcess::alone("limit-held", &settings).await;

    // A declares 60,000 bytes and sends them slowly: they are held from its first byte on.
    let holding = padded(&order("cust-holding"), 60_000);
    let mut stream = connect(gateway.port).await;
    send(
        &mut stream,
        post_head("/v1/orders", holding.len()).as_bytes(),
    )
    .await;
    send(&mut stream, &holding.as_bytes()[..1000]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let small = padded(&order("cust-small"), 10_000);
    let refused = post_text(&gateway, small.clone()).await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.problem_type(), "/problems/overloaded");
    assert_eq!(refused.header("retry-after"), Some("1"));

    send(&mut stream, &holding.as_bytes()[1000..]).await;
    let held = read_answer(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(held.map(|a| a.status), Some(201));
    let retried = post_text(&gateway, small).await;
    assert_eq!(
        retried.status, 201,
        "the bytes were given back: {}",
        retried.body
    );
    assert_eq!(
        written(&gateway).await,
        2,
        "the refused request wrote nothing"
    );
}
