//! The broker dies under a steady flow of orders and comes back: every request meanwhile gets
//! `503` with `Retry-After` within the produce timeout, never a hang and never a `2xx`, and
//! every order that was answered `201` is in Kafka once. Bytes held for a broker that does
//! not answer stay within `gateway.max_in_flight_bytes`.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::gateway::GatewayProcess;
use support::orders::{order, padded, Answer};
use support::records::orders_created;
use support::{stack_is_up, PrivateBroker};

const PRODUCE_TIMEOUT: Duration = Duration::from_secs(2);
/// The produce timeout, which bounds the whole write, and a second of slack for a loaded
/// machine.
const ANSWER_BOUND: Duration = Duration::from_secs(3);
/// Longer than any answer may take: a request still open then counts as a hang.
const HANG: Duration = Duration::from_secs(30);
const SENDERS: usize = 2;
const PAUSE: Duration = Duration::from_millis(100);

/// Where the broker was when a request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Phase {
    Up = 0,
    Down = 1,
    Back = 2,
}

struct Sent {
    phase: Phase,
    at: Instant,
    customer: String,
    status: u16,
    elapsed: Duration,
    order_id: Option<String>,
    answer: Option<Answer>,
}

fn settings(
    broker: &PrivateBroker,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut all = vec![
        (
            "ORDERFLOW_KAFKA__BOOTSTRAP_SERVERS",
            broker.bootstrap.clone(),
        ),
        (
            "ORDERFLOW_GATEWAY__PRODUCE_TIMEOUT_MS",
            PRODUCE_TIMEOUT.as_millis().to_string(),
        ),
    ];
    all.extend_from_slice(extra);
    all
}

/// Sends `body` and times the answer; status 0 when none came within [`HANG`].
async fn timed_post(
    http: &reqwest::Client,
    url: &str,
    body: String,
) -> (u16, Duration, Option<Answer>) {
    let started = Instant::now();
    let request = http
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send();
    match tokio::time::timeout(HANG, request).await {
        Ok(Ok(response)) => {
            let answer = Answer::read(response).await;
            (answer.status, started.elapsed(), Some(answer))
        }
        _ => (0, started.elapsed(), None),
    }
}

/// Places orders one after another until `stop`, noting the phase each was sent in.
async fn send_steadily(
    url: String,
    sender: usize,
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Sent>>>,
) {
    let http = support::http();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let sent_in = match phase.load(Ordering::SeqCst) {
            0 => Phase::Up,
            1 => Phase::Down,
            _ => Phase::Back,
        };
        let customer = format!("cust-{sender}-{n}");
        let body = order(&customer).to_string();
        let at = Instant::now();
        let (status, elapsed, answer) = timed_post(&http, &url, body).await;
        let order_id = answer
            .as_ref()
            .and_then(|a| a.body["id"].as_str())
            .map(str::to_owned);
        let sent = Sent {
            phase: sent_in,
            at,
            customer,
            status,
            elapsed,
            order_id,
            answer,
        };
        log.lock().unwrap_or_else(|e| e.into_inner()).push(sent);
        tokio::time::sleep(PAUSE).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_sent_while_the_broker_is_down_get_503_in_time_and_every_201_is_in_kafka_once() {
    if !stack_is_up("gateway_outage") {
        return;
    }
    let mut broker = PrivateBroker::start();
    let namespace = support::unique_namespace("outage");
    let gateway = GatewayProcess::start(&namespace, "a", &settings(&broker, &[])).await;
    let url = gateway.url("/v1/orders");
    let (phase, stop) = (Arc::new(AtomicU8::new(0)), Arc::new(AtomicBool::new(false)));
    let log = Arc::new(Mutex::new(Vec::new()));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            tokio::spawn(send_steadily(
                url.clone(),
                s,
                phase.clone(),
                stop.clone(),
                log.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(3)).await;
    broker.kill();
    phase.store(Phase::Down as u8, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(8)).await;
    let restarting = Instant::now();
    let mut broker = tokio::task::spawn_blocking(move || {
        broker.restart();
        broker
    })
    .await
    .expect("the broker restarts");
    phase.store(Phase::Back as u8, Ordering::SeqCst);
    let back = Instant::now();
    let accepted_after = |log: &Mutex<Vec<Sent>>| {
        let log = log.lock().unwrap_or_else(|e| e.into_inner());
        log.iter()
            .filter(|s| s.phase == Phase::Back && s.status == 201)
            .count()
    };
    while accepted_after(&log) < 20 && back.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.expect("a sender ends");
    }

    let log = std::mem::take(&mut *log.lock().unwrap_or_else(|e| e.into_inner()));
    let mut tally: HashMap<(Phase, u16), usize> = HashMap::new();
    for sent in &log {
        *tally.entry((sent.phase, sent.status)).or_insert(0) += 1;
    }
    let mut tally: Vec<_> = tally.into_iter().collect();
    tally.sort();
    let slowest_503 = log
        .iter()
        .filter(|s| s.status == 503)
        .map(|s| s.elapsed)
        .max();
    let recovered = log
        .iter()
        .find(|s| s.phase == Phase::Back && s.status == 201)
        .map(|s| s.at.duration_since(back));
    println!("requests by (phase, status): {tally:?}; slowest 503 {slowest_503:?}");
    println!("first accepted order sent {recovered:?} after the broker listened again");

    for sent in &log {
        let shown = sent
            .answer
            .as_ref()
            .map(|a| a.body.to_string())
            .unwrap_or_default();
        assert!(
            matches!(sent.status, 201 | 503),
            "{:?}: {} after {:?} {shown}",
            sent.phase,
            sent.status,
            sent.elapsed
        );
        assert!(
            sent.elapsed < ANSWER_BOUND,
            "{:?}: {} after {:?}",
            sent.phase,
            sent.status,
            sent.elapsed
        );
        if let Some(answer) = sent.answer.as_ref().filter(|a| a.status == 503) {
            assert_eq!(answer.problem_type(), "/problems/unavailable");
            assert_eq!(answer.header("retry-after"), Some("1"));
        }
        // A request sent late in the outage may be acknowledged by the returned broker.
        let answered_while_down = sent.phase == Phase::Down && sent.at + sent.elapsed < restarting;
        assert!(
            !answered_while_down || sent.status == 503,
            "a 201 while the broker was down"
        );
    }
    assert!(
        log.iter().any(|s| s.phase == Phase::Down),
        "nothing was sent during the outage"
    );
    let accepted_back = log
        .iter()
        .filter(|s| s.phase == Phase::Back && s.status == 201);
    assert!(
        accepted_back.count() >= 20,
        "orders are accepted again after the broker returned"
    );

    // Every order has a customer of its own, so records per customer count the writes.
    let created = orders_created(&broker.bootstrap, &gateway.topics(), &gateway.codec()).await;
    let mut copies: HashMap<String, Vec<String>> = HashMap::new();
    for order in &created {
        let customer = copies.entry(order.customer_id.to_string()).or_default();
        customer.push(order.order_id.to_string());
    }
    let accepted: Vec<&Sent> = log.iter().filter(|s| s.status == 201).collect();
    for sent in &accepted {
        let ids = copies.get(&sent.customer).cloned().unwrap_or_default();
        assert_eq!(
            Some(ids),
            sent.order_id.clone().map(|id| vec![id]),
            "{}",
            sent.customer
        );
    }
    assert!(
        copies.values().all(|ids| ids.len() == 1),
        "an order written twice"
    );
    let refused_but_written = log
        .iter()
        .filter(|s| s.status == 503 && copies.contains_key(&s.customer))
        .count();
    println!(
        "{} accepted, each in Kafka once; {} records in all; {refused_but_written} orders \
         answered 503 are in Kafka too",
        accepted.len(),
        created.len()
    );
    broker.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_held_for_a_broker_that_does_not_answer_stay_within_the_bound() {
    if !stack_is_up("gateway_outage") {
        return;
    }
    let mut broker = PrivateBroker::start();
    let bound = [(
        "ORDERFLOW_GATEWAY__MAX_IN_FLIGHT_BYTES",
        "100000".to_owned(),
    )];
    let namespace = support::unique_namespace("held");
    let gateway = GatewayProcess::start(&namespace, "a", &settings(&broker, &bound)).await;
    let (http, url) = (support::http(), gateway.url("/v1/orders"));
    let (status, _, _) = timed_post(&http, &url, order("cust-up").to_string()).await;
    assert_eq!(status, 201);

    // Two 40 KB orders wait for a broker that is gone, holding 80 KB of the 100 KB.
    broker.kill();
    let waiting: Vec<_> = (0..2)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                timed_post(&http, &url, padded(&order(&format!("cust-{i}")), 40_000)).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let (status, elapsed, answer) =
        timed_post(&http, &url, padded(&order("cust-third"), 40_000)).await;
    let answer = answer.expect("an answer");
    assert_eq!(status, 503, "{}", answer.body);
    assert_eq!(answer.problem_type(), "/problems/overloaded");
    assert_eq!(answer.header("retry-after"), Some("1"));
    assert!(
        elapsed < Duration::from_secs(1),
        "refused at once, not after {elapsed:?}"
    );
    // A small order still finds room; it waits for Kafka like the others.
    let (status, _, small) = timed_post(&http, &url, order("cust-small").to_string()).await;
    assert_eq!(
        small.map(|a| a.problem_type().to_owned()),
        Some("/problems/unavailable".to_owned())
    );
    assert_eq!(status, 503);
    for waiting in waiting {
        let (status, elapsed, answer) = waiting.await.expect("joins");
        let kind = answer.map(|a| a.problem_type().to_owned());
        assert_eq!(
            (status, kind.as_deref()),
            (503, Some("/problems/unavailable"))
        );
        assert!(elapsed < ANSWER_BOUND, "after {elapsed:?}");
    }
}
