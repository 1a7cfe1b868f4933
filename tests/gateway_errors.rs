//! Bad requests get RFC 9457 problems that name what is wrong, and write nothing to Kafka;
//! a broker that does not acknowledge gets `503` with `Retry-After`, never a `2xx`.

mod support;

use std::time::{Duration, Instant};

use orderflow_schemas::EventType;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use reqwest::Method;
use serde_json::{json, Value};
use support::{
    eventually, pick_port, send_json, spawn_orderflow, stack_is_up, Pipeline, PrivateBroker,
    Reaped, KAFKA,
};

fn valid_order() -> Value {
    json!({
        "customer_id": "cust-1",
        "email": "ada@example.com",
        "currency": "EUR",
        "payment_token": "tok_visa",
        "items": [{"sku": "DOG-FOOD", "quantity": 1, "unit_price": 1299}]
    })
}

/// The total of the end offsets of a topic's partitions: it moves if anything was written.
fn topic_end(topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("isolation.level", "read_uncommitted")
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .sum()
}

async fn problem(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json", "status {status}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().unwrap().starts_with("/problems/"));
    (status, body)
}

fn pointers(problem: &Value) -> Vec<String> {
    let mut found: Vec<String> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["pointer"].as_str().unwrap().to_owned())
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_problems_naming_each_field_and_write_nothing() {
    if !stack_is_up("gateway_errors") {
        return;
    }
    let pipeline = Pipeline::start("bad-input").await;
    let topic = pipeline.topics().of(EventType::OrderCreated).to_owned();
    let before = topic_end(&topic, support::PARTITIONS);
    let http = support::http();
    let orders = pipeline.url("/v1/orders");

    let malformed = http
        .post(&orders)
        .header("content-type", "application/json")
        .body("{\"customer_id\": ")
        .send()
        .await
        .unwrap();
    let (status, body) = problem(malformed).await;
    assert_eq!(
        (status, body["type"].as_str().unwrap()),
        (400, "/problems/malformed-json")
    );

    let mut wrong = valid_order();
    wrong["currency"] = json!("EURO");
    wrong["items"] =
        json!([{"sku": "A", "quantity": 0, "unit_price": 10}, {"sku": "B", "quantity": -2}]);
    wrong.as_object_mut().unwrap().remove("email");
    let (status, body) = problem(http.post(&orders).json(&wrong).send().await.unwrap()).await;
    assert_eq!(status, 422);
    assert_eq!(body["type"], "/problems/validation");
    assert_eq!(
        pointers(&body),
        vec![
            "/currency",
            "/email",
            "/items/0/quantity",
            "/items/1/quantity",
            "/items/1/unit_price"
        ]
    );

    let huge = format!("{{\"customer_id\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let (status, _) = problem(
        http.post(&orders)
            .header("content-type", "application/json")
            .body(huge.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 413, "declared length over the limit");
    let chunks = futures::stream::iter(
        huge.into_bytes()
            .chunks(64 * 1024)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let streamed = http
        .post(&orders)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(
        problem(streamed).await.0,
        413,
        "undeclared length over the limit"
    );

    let (status, _) = problem(
        http.post(&orders)
            .header("content-type", "text/plain")
            .body("hello")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 415);

    let (status, body) = problem(
        http.get(pipeline.url("/v1/orders/0190b8a0-0000-7000-8000-000000000000"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["type"].as_str().unwrap()),
        (404, "/problems/not-found")
    );
    let (status, _) = problem(
        http.get(pipeline.url("/v1/orders/not-an-id"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = problem(http.delete(&orders).send().await.unwrap()).await;
    assert_eq!(status, 405);

    let (status, body) = send_json(
        &http,
        Method::PUT,
        &pipeline.url("/v1/inventory/DOG-FOOD"),
        &json!({"total": -1}),
    )
    .await;
    assert_eq!((status, pointers(&body)), (422, vec!["/total".to_owned()]));
    let (status, body) = send_json(
        &http,
        Method::POST,
        &pipeline.url("/v1/webhooks"),
        &json!({"url": "ftp://x", "event_types": ["order.shipped"]}),
    )
    .await;
    assert_eq!(
        (status, pointers(&body)),
        (422, vec!["/event_types".to_owned(), "/url".to_owned()])
    );

    assert_eq!(
        topic_end(&topic, support::PARTITIONS),
        before,
        "a refused request wrote to Kafka"
    );

    let (status, _) = send_json(&http, Method::POST, &orders, &valid_order()).await;
    assert_eq!(status, 201);
    assert_eq!(
        topic_end(&topic, support::PARTITIONS),
        before + 1,
        "an accepted order is one record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_stops_answering_gets_503_with_retry_after_never_2xx() {
    if !stack_is_up("gateway_errors") {
        return;
    }
    let mut broker = PrivateBroker::start();
    let namespace = support::unique_namespace("broker-down");
    let dir = tempfile::tempdir().unwrap();
    let port = pick_port();
    let (gateway, log) = spawn_orderflow(
        "gateway",
        &namespace,
        dir.path(),
        port,
        &[
            (
                "ORDERFLOW_KAFKA__BOOTSTRAP_SERVERS",
                broker.bootstrap.clone(),
            ),
            ("ORDERFLOW_GATEWAY__PRODUCE_TIMEOUT_MS", "2000".to_owned()),
        ],
    );
    let _gateway = Reaped(gateway);
    let http = support::http();
    let orders = format!("http://127.0.0.1:{port}/v1/orders");
    eventually(
        &format!("gateway up (log {})", log.display()),
        Duration::from_secs(90),
        || {
            let (http, orders) = (http.clone(), orders.clone());
            async move {
                (send_json(&http, Method::POST, &orders, &valid_order())
                    .await
                    .0
                    == 201)
                    .then_some(())
            }
        },
    )
    .await;

    broker.kill();
    for _ in 0..3 {
        let started = Instant::now();
        let response = http
            .post(&orders)
            .json(&valid_order())
            .send()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(response.status().as_u16(), 503);
        assert_eq!(response.headers()["retry-after"], "1");
        let (_, body) = problem(response).await;
        assert_eq!(body["type"], "/problems/unavailable");
        assert!(
            elapsed < Duration::from_secs(5),
            "answered after {elapsed:?}, beyond the 2 s bound"
        );
    }
}
