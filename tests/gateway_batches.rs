//! `POST /v1/orders/batch`: each order validated and written on its own, `201` only when every
//! order was written and `207` with each order's outcome otherwise, so that no failed write
//! hides behind a 2xx; over the size limit nothing is written; a repeat with the same
//! `Idempotency-Key` gets the first answer and writes nothing more.

mod support;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::gateway::GatewayProcess;
use support::orders::{order, post, Answer};
use support::records::orders_created;
use support::{stack_is_up, PrivateBroker, KAFKA};

fn batch(orders: Vec<Value>) -> Value {
    json!({ "orders": orders })
}

/// Ids of the orders a gateway's namespace holds in `order.created`, one entry per record.
async fn written(gateway: &GatewayProcess) -> Vec<String> {
    let created = orders_created(KAFKA, &gateway.topics(), &gateway.codec()).await;
    created.iter().map(|o| o.order_id.to_string()).collect()
}

/// The order id of each result that says `201`, in order; checks its `Location`.
fn created_ids(answer: &Answer) -> Vec<String> {
    let results = answer.body["results"].as_array().expect("results");
    results
        .iter()
        .filter(|r| r["status"] == 201)
        .map(|r| {
            let id = r["order"]["id"].as_str().expect("an order id").to_owned();
            assert_eq!(r["location"], format!("/v1/orders/{id}"));
            assert!(r.get("problem").is_none(), "{r}");
            id
        })
        .collect()
}

fn statuses(answer: &Answer) -> Vec<u64> {
    let results = answer.body["results"].as_array().expect("results");
    results
        .iter()
        .map(|r| r["status"].as_u64().unwrap_or(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_valid_orders_up_to_the_limit_is_201_and_every_order_is_written() {
    if !stack_is_up("gateway_batches") {
        return;
    }
    let gateway = GatewayProcess::alone("batch-ok", &[]).await;
    let url = gateway.url("/v1/orders/batch");
    let http = support::http();

    let full = batch((0..500).map(|i| order(&format!("cust-{i}"))).collect());
    let answer = post(&http, &url, None, &full).await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let ids = created_ids(&answer);
    assert_eq!(ids.len(), 500, "a result per order");
    let mut stored = written(&gateway).await;
    stored.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(stored, expected, "exactly the answered orders, each once");

    let over = batch((0..501).map(|i| order(&format!("cust-{i}"))).collect());
    let refused = post(&http, &url, None, &over).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.problem_type(), "/problems/validation");
    assert_eq!(refused.body["errors"][0]["pointer"], "/orders");
    assert_eq!(written(&gateway).await.len(), 500, "a refused batch wrote");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_over_a_configured_limit_is_422_and_writes_nothing() {
    if !stack_is_up("gateway_batches") {
        return;
    }
    let limit = [("ORDERFLOW_GATEWAY__MAX_BATCH_ORDERS", "3".to_owned())];
    let gateway = GatewayProcess::alone("batch-max", &limit).await;
    let url = gateway.url("/v1/orders/batch");
    let http = support::http();

    let four = batch((0..4).map(|i| order(&format!("cust-{i}"))).collect());
    let refused = post(&http, &url, None, &four).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.problem_type(), "/problems/validation");
    assert_eq!(written(&gateway).await.len(), 0);

    let three = batch((0..3).map(|i| order(&format!("cust-{i}"))).collect());
    assert_eq!(post(&http, &url, None, &three).await.status, 201);
    assert_eq!(written(&gateway).await.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_batch_is_207_with_each_outcome_and_only_the_valid_orders_written() {
    if !stack_is_up("gateway_batches") {
        return;
    }
    let gateway = GatewayProcess::alone("batch-mix", &[]).await;
    let http = support::http();
    let mut zero = order("cust-zero");
    zero["items"][0]["quantity"] = json!(0);
    let mut two_bad = order("cust-two-bad");
    two_bad.as_object_mut().expect("an object").remove("email");
    two_bad["colour"] = json!("red");
    let body = batch(vec![
        order("cust-a"),
        zero,
        order("cust-b"),
        two_bad,
        json!("x"),
    ]);

    let answer = post(&http, &gateway.url("/v1/orders/batch"), None, &body).await;
    assert_eq!(answer.status, 207, "{}", answer.body);
    assert_eq!(statuses(&answer), vec![201, 422, 201, 422, 422]);
    let results = &answer.body["results"];
    let pointers = |i: usize| -> Vec<String> {
        let mut found: Vec<String> = results[i]["problem"]["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| e["pointer"].as_str().unwrap_or_default().to_owned())
            .collect();
        found.sort();
        found
    };
    for i in [1, 3, 4] {
        assert_eq!(results[i]["problem"]["type"], "/problems/validation");
        assert_eq!(results[i]["problem"]["status"], 422);
        assert!(results[i].get("location").is_none(), "{}", results[i]);
    }
    assert_eq!(pointers(1), vec!["/orders/1/items/0/quantity"]);
    assert_eq!(pointers(3), vec!["/orders/3/colour", "/orders/3/email"]);
    assert_eq!(pointers(4), vec!["/orders/4"]);

    let ids: HashSet<String> = created_ids(&answer).into_iter().collect();
    let stored = written(&gateway).await;
    assert_eq!(stored.len(), 2, "only the valid orders are written");
    assert_eq!(stored.into_iter().collect::<HashSet<_>>(), ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_batch_gets_the_first_answer_and_writes_nothing_more() {
    if !stack_is_up("gateway_batches") {
        return;
    }
    let gateway = GatewayProcess::alone("batch-idem", &[]).await;
    let (http, url) = (support::http(), gateway.url("/v1/orders/batch"));
    let mut invalid = order("cust-bad");
    invalid["currency"] = json!("EURO");
    let body = batch(vec![order("cust-a"), invalid, order("cust-b")]);

    let first = post(&http, &url, Some("batch-1"), &body).await;
    assert_eq!(first.status, 207, "{}", first.body);
    let repeat = post(&http, &url, Some("batch-1"), &body).await;
    assert_eq!(repeat.status, first.status);
    assert_eq!(repeat.body, first.body, "the first answer's body");
    assert_eq!(repeat.header("idempotent-replayed"), Some("true"));
    assert_eq!(written(&gateway).await.len(), 2, "the repeat wrote again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_key_used_again_with_another_body_is_422_and_writes_nothing() {
    if !stack_is_up("gateway_batches") {
        return;
    }
    let gateway = GatewayProcess::alone("batch-reuse", &[]).await;
    let (http, url) = (support::http(), gateway.url("/v1/orders/batch"));
    let first = batch(vec![order("cust-a"), order("cust-b")]);
    assert_eq!(post(&http, &url, Some("batch-2"), &first).await.status, 201);

    // The same two orders and a third: a different batch under a key already used.
    let other = batch(vec![order("cust-a"), order("cust-b"), order("cust-c")]);
    let reused = post(&http, &url, Some("batch-2"), &other).await;
    let stored = written(&gateway).await;
    assert_eq!(
        (reused.status, stored.len()),
        (422, 2),
        "another batch under a used key: {}",
        reused.body
    );
    assert_eq!(reused.problem_type(), "/problems/idempotency-key-reused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_kafka_does_not_acknowledge_is_never_2xx() {
    if !stack_is_up("gateway_batches") {
        return;
    }
    let mut broker = PrivateBroker::start();
    let settings = [
        (
            "ORDERFLOW_KAFKA__BOOTSTRAP_SERVERS",
            broker.bootstrap.clone(),
        ),
        ("ORDERFLOW_GATEWAY__PRODUCE_TIMEOUT_MS", "2000".to_owned()),
    ];
    let namespace = support::unique_namespace("batch-down");
    let gateway = GatewayProcess::start(&namespace, "a", &settings).await;
    let (http, url) = (support::http(), gateway.url("/v1/orders/batch"));
    let healthy = post(&http, &url, None, &batch(vec![order("cust-up")])).await;
    assert_eq!(healthy.status, 201, "{}", healthy.body);

    broker.kill();
    let mut invalid = order("cust-bad");
    invalid["items"] = json!([]);
    let body = batch(vec![order("cust-a"), invalid, order("cust-b")]);
    let started = Instant::now();
    let answer = post(&http, &url, None, &body).await;
    let elapsed = started.elapsed();
    assert_eq!(answer.status, 207, "{}", answer.body);
    assert_eq!(statuses(&answer), vec![503, 422, 503]);
    for i in [0, 2] {
        assert_eq!(
            answer.body["results"][i]["problem"]["type"],
            "/problems/unavailable"
        );
    }
    // The orders are written side by side, so the batch waits one produce timeout, not two.
    assert!(
        elapsed < Duration::from_secs(5),
        "answered after {elapsed:?}"
    );
}
