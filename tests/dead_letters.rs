//! A record no processor can read goes to the dead-letter topic with the reason and its
//! origin in headers, and processing carries on with the records after it.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use orderflow_schemas::EventType;
use rdkafka::message::Headers;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message};
use reqwest::Method;
use serde_json::{json, Value};
use support::{eventually, read_all, reader, send_json, stack_is_up, Pipeline, KAFKA};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_records_are_dead_lettered_and_processing_continues() {
    if !stack_is_up("dead_letters") {
        return;
    }
    let pipeline = Pipeline::start("poison").await;
    let topics = pipeline.topics();
    let created = topics.of(EventType::OrderCreated).to_owned();

    // Poison comes first in its partitions: not Avro at all, and framed with an unknown schema id.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .unwrap();
    let poison: [(&str, &[u8]); 2] = [
        ("poison-1", b"{\"not\": \"avro\"}"),
        ("poison-2", &[0, 0, 0x0f, 0x42, 0x40, 1, 2, 3]),
    ];
    for (key, payload) in poison {
        producer
            .send(
                FutureRecord::to(&created).key(key).payload(payload),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }

    let http = support::http();
    let (status, _) = send_json(
        &http,
        Method::PUT,
        &pipeline.url("/v1/inventory/KIBBLE"),
        &json!({"total": 5}),
    )
    .await;
    assert_eq!(status, 202);
    eventually("stock applied", Duration::from_secs(60), || {
        let (http, url) = (http.clone(), pipeline.url("/v1/inventory/KIBBLE"));
        async move {
            (send_json(&http, Method::GET, &url, &Value::Null).await.1["total"] == 5).then_some(())
        }
    })
    .await;
    let (status, order) = send_json(
        &http,
        Method::POST,
        &pipeline.url("/v1/orders"),
        &json!({
            "customer_id": "cust-9",
            "email": "b@example.com",
            "currency": "EUR",
            "payment_token": "tok_visa",
            "items": [{"sku": "KIBBLE", "quantity": 1, "unit_price": 700}]
        }),
    )
    .await;
    assert_eq!(status, 201);
    let order_id = order["id"].as_str().unwrap().to_owned();
    eventually(
        "the valid order completes after the poison",
        Duration::from_secs(60),
        || {
            let (http, url) = (
                http.clone(),
                pipeline.url(&format!("/v1/orders/{order_id}")),
            );
            async move {
                (send_json(&http, Method::GET, &url, &Value::Null).await.1["status"] == "completed")
                    .then_some(())
            }
        },
    )
    .await;

    // Each processor that reads order.created dead-lettered each poison record once.
    let dead_letter_topic = topics.dead_letter();
    let consumer = reader(&[&dead_letter_topic], support::PARTITIONS);
    let mut seen: HashMap<(String, String), HashMap<String, String>> = HashMap::new();
    while seen.len() < 6 {
        let message = tokio::time::timeout(
            Duration::from_secs(30),
            rdkafka::consumer::StreamConsumer::recv(&consumer),
        )
        .await
        .expect("six dead letters within 30 s")
        .unwrap();
        let headers: HashMap<String, String> = message
            .headers()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h.key.to_owned(),
                    String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                )
            })
            .collect();
        let key = String::from_utf8_lossy(message.key().unwrap()).into_owned();
        let payload = message.payload().unwrap();
        assert!(
            poison.iter().any(|(k, p)| *k == key && *p == payload),
            "the record is dead-lettered unchanged"
        );
        seen.insert((key, headers["orderflow.dlq.processor"].clone()), headers);
    }
    for processor in ["inventory", "payments", "orders"] {
        for (key, _) in poison {
            let headers = &seen[&(key.to_owned(), processor.to_owned())];
            assert_eq!(headers["orderflow.dlq.topic"], created);
            assert!(headers["orderflow.dlq.offset"].parse::<i64>().is_ok());
            assert!(headers["orderflow.dlq.partition"].parse::<i32>().is_ok());
            assert!(!headers["orderflow.dlq.error"].is_empty());
        }
    }
    assert_eq!(
        read_all(&pipeline, EventType::OrderCompleted).await.len(),
        1
    );
}
