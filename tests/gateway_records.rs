//! What the records say, for consumers outside orderflow: CloudEvents headers on every record
//! the gateway and the processors write, one trace from the request's `traceparent` to the
//! webhook delivery, and an order's metadata kept byte for byte, whatever its characters.

mod support;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use orderflow_schemas::clock::{now_ms, parse_rfc3339};
use orderflow_schemas::EventType;
use reqwest::Method;
use serde_json::{json, Value};
use support::gateway::GatewayProcess;
use support::orders::{order, post, Answer};
use support::receivers::{Answer as Reply, Receiver};
use support::records::{orders_created, read_events, RawRecord};
use support::{eventually, send_json, stack_is_up, webhooks, Pipeline, KAFKA};

/// A `traceparent` of a trace of our own: version, trace id, span id, flags.
fn traceparent() -> (String, String) {
    let trace = uuid::Uuid::new_v4().simple().to_string();
    let span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    (format!("00-{trace}-{span}-01"), trace)
}

/// The trace id and span id of a `traceparent` value.
fn trace_and_span(value: &str) -> (String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert!(
        parts.len() == 4 && parts[0] == "00",
        "traceparent {value:?}"
    );
    assert_eq!(
        (parts[1].len(), parts[2].len()),
        (32, 16),
        "traceparent {value:?}"
    );
    (parts[1].to_owned(), parts[2].to_owned())
}

/// The component that writes each event type, as `ce_source` names it.
fn writer_of(event_type: EventType) -> &'static str {
    match event_type {
        EventType::OrderCreated | EventType::StockSet | EventType::WebhookSubscription => "gateway",
        EventType::StockLevel
        | EventType::StockReservationRequested
        | EventType::StockReservationResult => "inventory",
        EventType::PaymentAuthorization => "payments",
        EventType::WebhookAttempt => "webhooks",
        _ => "orders",
    }
}

/// Checks the CloudEvents headers of one record; returns its trace id.
fn check_headers(record: &RawRecord, event_type: EventType, since_ms: i64) -> String {
    let at = format!("{} at {}/{}", record.topic, record.partition, record.offset);
    let source = format!("/orderflow/{}", writer_of(event_type));
    let ce_type = format!("dev.orderflow.{}", event_type.as_str());
    assert_eq!(record.header("ce_specversion"), Some("1.0"), "{at}");
    assert!(
        record.header("ce_id").is_some_and(|id| !id.is_empty()),
        "{at}"
    );
    assert_eq!(record.header("ce_source"), Some(source.as_str()), "{at}");
    assert_eq!(record.header("ce_type"), Some(ce_type.as_str()), "{at}");
    assert_eq!(
        record.header("content-type"),
        Some("application/avro"),
        "{at}"
    );
    assert_eq!(
        record.payload.first(),
        Some(&0),
        "{at}: Confluent wire format"
    );
    let time = record.header("ce_time").and_then(parse_rfc3339);
    assert!(
        time.is_some_and(|t| t >= since_ms && t <= now_ms()),
        "{at}: ce_time {time:?}"
    );
    trace_and_span(record.header("traceparent").unwrap_or_default()).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_carries_cloudevents_headers_and_the_request_trace_to_the_webhook() {
    if !stack_is_up("gateway_records") {
        return;
    }
    let since_ms = now_ms() - 1000;
    let pipeline = Pipeline::start("records").await;
    let receiver = Receiver::answering(Reply::Status(200)).await;
    webhooks::subscribe(&pipeline, &receiver.url()).await;
    let http = support::http();

    let (stock_parent, stock_trace) = traceparent();
    let stock = http
        .put(pipeline.url("/v1/inventory/TRACE-SKU"))
        .header("traceparent", &stock_parent)
        .json(&json!({"total": 10}))
        .send()
        .await
        .expect("an answer");
    assert_eq!(stock.status().as_u16(), 202);
    let level = pipeline.url("/v1/inventory/TRACE-SKU");
    eventually("the stock is set", Duration::from_secs(60), || {
        let (http, level) = (http.clone(), level.clone());
        async move {
            (send_json(&http, Method::GET, &level, &Value::Null).await.1["total"] == 10)
                .then_some(())
        }
    })
    .await;

    // One order completes, one is declined (and gives its stock back), each with its trace.
    let mut traces: HashMap<String, String> = HashMap::new();
    let mut spans = Vec::new();
    for token in ["tok_visa", "tok_decline"] {
        let mut body = order("cust-trace");
        body["payment_token"] = json!(token);
        body["items"][0]["sku"] = json!("TRACE-SKU");
        let (parent, trace) = traceparent();
        let response = http
            .post(pipeline.url("/v1/orders"))
            .header("traceparent", &parent)
            .json(&body)
            .send()
            .await
            .expect("an answer");
        let placed = Answer::read(response).await;
        assert_eq!(placed.status, 201, "{}", placed.body);
        traces.insert(placed.body["id"].as_str().expect("an id").to_owned(), trace);
        spans.push(trace_and_span(&parent).1);
    }

    let deliveries = eventually("a webhook per outcome", Duration::from_secs(90), || async {
        let received = receiver.received();
        (received.len() >= 2).then_some(received)
    })
    .await;
    let mut outcome_ids = HashMap::new();
    for delivery in &deliveries {
        let order_id = delivery.json()["data"]["order_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let header = delivery
            .header("traceparent")
            .expect("a traceparent on the delivery");
        assert_eq!(
            trace_and_span(header).0,
            traces[&order_id],
            "delivery of {order_id}"
        );
        outcome_ids.insert(order_id, delivery.webhook_id().to_owned());
    }
    eventually(
        "both attempts recorded",
        Duration::from_secs(30),
        || async {
            let attempts = read_events(
                KAFKA,
                &pipeline.topics(),
                &pipeline.codec(),
                EventType::WebhookAttempt,
            )
            .await;
            (attempts.len() >= 2).then_some(())
        },
    )
    .await;

    let (topics, codec) = (pipeline.topics(), pipeline.codec());
    let mut seen: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    let mut checked = 0;
    for event_type in [
        EventType::OrderCreated,
        EventType::StockSet,
        EventType::WebhookSubscription,
        EventType::StockLevel,
        EventType::StockReservationRequested,
        EventType::StockReservationResult,
        EventType::StockReleaseRequested,
        EventType::PaymentAuthorization,
        EventType::OrderCompleted,
        EventType::OrderFailed,
        EventType::WebhookAttempt,
    ] {
        let events = read_events(KAFKA, &topics, &codec, event_type).await;
        assert!(!events.is_empty(), "no {} record", event_type.as_str());
        for (record, event) in events {
            let trace = check_headers(&record, event_type, since_ms);
            let json = event.to_json();
            let ce_id = record.header("ce_id").unwrap_or_default();
            match json["order_id"].as_str() {
                Some(order_id) => {
                    assert_eq!(trace, traces[order_id], "{} of {order_id}", record.topic)
                }
                None if event_type == EventType::StockSet => assert_eq!(trace, stock_trace),
                None => {}
            }
            match event_type {
                EventType::OrderCreated => assert_eq!(Some(ce_id), json["order_id"].as_str()),
                EventType::OrderCompleted | EventType::OrderFailed => {
                    let order_id = json["order_id"].as_str().unwrap_or_default();
                    assert_eq!(ce_id, outcome_ids[order_id], "ce_id is the webhook-id");
                }
                _ => {}
            }
            if event_type == EventType::OrderCreated {
                let span = trace_and_span(record.header("traceparent").unwrap_or_default()).1;
                assert!(!spans.contains(&span), "the gateway's span is a new one");
            }
            seen.entry(event_type.as_str()).or_default().insert(trace);
            checked += 1;
        }
    }
    // Stock levels follow the stock write and each order's reservation.
    let all: BTreeSet<String> = traces.values().cloned().chain([stock_trace]).collect();
    assert_eq!(seen["stock.level"], all);
    println!("{checked} records of {} event types checked", seen.len());
}

/// Text no byte-level shortcut survives: several scripts, emoji sequences with joiners and
/// modifiers, a combining accent beside its precomposed form, line and paragraph separators,
/// astral-plane letters, a NUL.
fn unusual_metadata() -> BTreeMap<String, String> {
    [
        ("gift 🎁", "für Oma 🐕‍🦺"),
        ("ключ", "значение"),
        ("שלום", "עולם \u{200f}mixed\u{200e} direction"),
        ("漢字", "日本語のテキスト"),
        ("family", "👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽"),
        ("é", "precomposed"),
        ("e\u{301}", "combining"),
        ("separators", "a\u{2028}b\u{2029}c\r\n\t"),
        ("astral", "𝕏𐍈𓀀"),
        ("nul", "a\u{0}b"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([("😀".repeat(40), "💥".repeat(500))])
    .collect()
}

fn bytes_of(metadata: &BTreeMap<String, String>) -> Vec<(Vec<u8>, Vec<u8>)> {
    metadata
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn metadata_of(json: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(json["metadata"].clone()).expect("metadata of strings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_in_any_script_and_emoji_round_trips_byte_for_byte() {
    if !stack_is_up("gateway_records") {
        return;
    }
    let gateway = GatewayProcess::alone("metadata", &[]).await;
    let http = support::http();
    let sent = unusual_metadata();
    let mut body = order("cust-unicode");
    body["metadata"] = json!(sent);

    let placed = post(&http, &gateway.url("/v1/orders"), None, &body).await;
    assert_eq!(placed.status, 201, "{}", placed.body);
    assert_eq!(
        bytes_of(&metadata_of(&placed.body)),
        bytes_of(&sent),
        "in the answer"
    );
    let id = placed.body["id"].as_str().expect("an id").to_owned();

    let created = orders_created(KAFKA, &gateway.topics(), &gateway.codec()).await;
    assert_eq!(created.len(), 1);
    assert_eq!(
        bytes_of(&created[0].metadata),
        bytes_of(&sent),
        "in order.created"
    );

    let (status, shown) = send_json(
        &http,
        Method::GET,
        &gateway.url(&format!("/v1/orders/{id}")),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        bytes_of(&metadata_of(&shown)),
        bytes_of(&sent),
        "in GET /v1/orders/{{id}}"
    );

    // Limits count characters, not bytes: one emoji more is one too many.
    let mut over = order("cust-unicode");
    let too_long = [
        ("😀".repeat(41), "x".to_owned()),
        ("k".to_owned(), "💥".repeat(501)),
    ];
    over["metadata"] = json!(BTreeMap::from(too_long));
    let refused = post(&http, &gateway.url("/v1/orders"), None, &over).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let mut pointers: Vec<&str> = refused.body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["pointer"].as_str())
        .collect();
    pointers.sort();
    let long_key = format!("/metadata/{}", "😀".repeat(41));
    assert_eq!(pointers, vec!["/metadata/k", long_key.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_that_is_not_visible_ascii_is_refused_with_400() {
    if !stack_is_up("gateway_records") {
        return;
    }
    let gateway = GatewayProcess::alone("key-ascii", &[]).await;
    let (http, url) = (support::http(), gateway.url("/v1/orders"));
    let refused: [&[u8]; 5] = [
        "schlüssel".as_bytes(),
        "\"ключ-🔑\"".as_bytes(),
        b"\"two words\"",
        b"\"\"",
        &[b'k'; 256],
    ];
    for key in refused {
        let value = reqwest::header::HeaderValue::from_bytes(key).expect("a header value");
        let response = http
            .post(&url)
            .header("idempotency-key", value)
            .json(&order("cust-key"))
            .send()
            .await
            .expect("an answer");
        let answer = Answer::read(response).await;
        let shown = String::from_utf8_lossy(key);
        assert_eq!(answer.status, 400, "key {shown:?}: {}", answer.body);
        assert_eq!(
            answer.problem_type(),
            "/problems/invalid-header",
            "key {shown:?}"
        );
    }
    let longest = "k".repeat(255);
    assert_eq!(
        post(&http, &url, Some(&longest), &order("cust-key"))
            .await
            .status,
        201
    );
    let created = orders_created(KAFKA, &gateway.topics(), &gateway.codec()).await;
    assert_eq!(created.len(), 1, "only the valid key's order is written");
}
