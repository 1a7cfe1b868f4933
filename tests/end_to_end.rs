//! The whole pipeline on the real stack: orders over HTTP, outcomes on Kafka, stock in the
//! inventory, signed webhooks at a subscriber, emails at an SMTP server, status over HTTP.

mod support;

use std::collections::{HashMap, HashSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::stream::{self, StreamExt};
use orderflow_schemas::events::{AnyEvent, FailureReason};
use orderflow_schemas::EventType;
use reqwest::Method;
use serde_json::{json, Value};
use support::{eventually, read_all, repo_root, send_json, stack_is_up, Pipeline, Reaped};

/// What each kind of order in the mix must end as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Plenty of stock, a good card: completes.
    Ordinary,
    /// A card the provider declines: fails with `payment_declined`.
    Declined,
    /// A line of a SKU with no stock: fails with `out_of_stock`.
    SoldOut,
    /// One unit of a SKU with only `SCARCE_UNITS` units: exactly that many complete.
    Scarce,
}

const SCARCE_UNITS: i64 = 10;
const STOCK: [(&str, i64); 4] = [
    ("PLENTY-A", 10_000),
    ("PLENTY-B", 10_000),
    ("SCARCE", SCARCE_UNITS),
    ("NONE", 0),
];

fn order(i: usize) -> (Kind, Value) {
    let (kind, token, items) = match i % 20 {
        0..=3 => (
            Kind::Declined,
            "tok_decline",
            json!([{"sku": "PLENTY-A", "quantity": 1, "unit_price": 1000}]),
        ),
        4..=6 => (
            Kind::SoldOut,
            "tok_visa",
            json!([
                {"sku": "NONE", "quantity": 1, "unit_price": 500},
                {"sku": "PLENTY-B", "quantity": 3, "unit_price": 250}
            ]),
        ),
        7..=9 => (
            Kind::Scarce,
            "tok_visa",
            json!([{"sku": "SCARCE", "quantity": 1, "unit_price": 9900}]),
        ),
        _ => (
            Kind::Ordinary,
            "tok_visa",
            json!([
                {"sku": "PLENTY-A", "quantity": 2, "unit_price": 1000},
                {"sku": "PLENTY-B", "quantity": 1, "unit_price": 250}
            ]),
        ),
    };
    let body = json!({
        "customer_id": format!("cust-{}", i % 17),
        "email": format!("buyer{i}@example.com"),
        "currency": "EUR",
        "payment_token": token,
        "items": items,
    });
    (kind, body)
}

/// Mail the SMTP server stored (a maildir), by subject line.
fn mail_subjects() -> Vec<String> {
    let dir = repo_root().join(".stack/data/mail/new");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|text| {
            text.lines()
                .find(|l| l.starts_with("Subject: "))
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_orders_reach_exactly_one_outcome_with_webhooks_emails_and_stock() {
    if !stack_is_up("end_to_end") {
        return;
    }
    let pipeline = Pipeline::start("e2e").await;
    let http = support::http();

    // A subscriber that verifies every delivery with the reference Standard Webhooks library.
    let receiver_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, subscription) = send_json(
        &http,
        Method::POST,
        &pipeline.url("/v1/webhooks"),
        &json!({
            "url": format!("http://127.0.0.1:{receiver_port}/hooks"),
            "event_types": ["order.completed", "order.failed"],
        }),
    )
    .await;
    assert_eq!(status, 201, "{subscription}");
    let deliveries = tempfile::NamedTempFile::new().unwrap();
    let _receiver = Reaped(
        Command::new(repo_root().join(".stack/venv/bin/python"))
            .arg(repo_root().join("tests/receivers/webhook_receiver.py"))
            .args([
                "--port",
                &receiver_port.to_string(),
                "--secret",
                subscription["secret"].as_str().unwrap(),
            ])
            .arg("--out")
            .arg(deliveries.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("the Python receiver starts"),
    );
    eventually("receiver listening", Duration::from_secs(20), || async {
        std::net::TcpStream::connect(("127.0.0.1", receiver_port))
            .ok()
            .map(|_| ())
    })
    .await;

    for (sku, total) in STOCK {
        let (status, body) = send_json(
            &http,
            Method::PUT,
            &pipeline.url(&format!("/v1/inventory/{sku}")),
            &json!({"total": total}),
        )
        .await;
        assert_eq!(status, 202, "{body}");
    }
    for (sku, total) in STOCK {
        let url = pipeline.url(&format!("/v1/inventory/{sku}"));
        eventually(
            &format!("stock of {sku} applied"),
            Duration::from_secs(60),
            || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let (status, level) = send_json(&http, Method::GET, &url, &Value::Null).await;
                    (status == 200 && level["total"] == total).then_some(())
                }
            },
        )
        .await;
    }

    // 200 orders, eight at a time, each answered 201 with a Location.
    let placed: Vec<(Kind, String)> = stream::iter(0..200)
        .map(|i| {
            let http = http.clone();
            let url = pipeline.url("/v1/orders");
            async move {
                let (kind, body) = order(i);
                let response = http.post(&url).json(&body).send().await.unwrap();
                assert_eq!(response.status().as_u16(), 201);
                let location = response.headers()["location"].to_str().unwrap().to_owned();
                let created: Value = response.json().await.unwrap();
                let id = created["id"].as_str().unwrap().to_owned();
                assert_eq!(location, format!("/v1/orders/{id}"));
                assert_eq!(created["status"], "pending");
                (kind, id)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let kinds: HashMap<String, Kind> = placed.iter().map(|(k, id)| (id.clone(), *k)).collect();

    // Right after its 201 an order reads back.
    let (status, first) = send_json(
        &http,
        Method::GET,
        &pipeline.url(&format!("/v1/orders/{}", placed[0].1)),
        &Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{first}");

    // Every order reaches exactly one outcome, and the right one.
    let outcomes = eventually("every order decided", Duration::from_secs(120), || async {
        let mut outcomes: HashMap<String, Vec<(EventType, Option<FailureReason>, String)>> =
            HashMap::new();
        for event_type in [EventType::OrderCompleted, EventType::OrderFailed] {
            for event in read_all(&pipeline, event_type).await {
                let (order, reason, event_id) = match event {
                    AnyEvent::OrderCompleted(e) => {
                        (e.order_id.to_string(), None, e.event_id.to_string())
                    }
                    AnyEvent::OrderFailed(e) => (
                        e.order_id.to_string(),
                        Some(e.reason),
                        e.event_id.to_string(),
                    ),
                    _ => continue,
                };
                outcomes
                    .entry(order)
                    .or_default()
                    .push((event_type, reason, event_id));
            }
        }
        (outcomes.len() >= kinds.len()).then_some(outcomes)
    })
    .await;
    assert_eq!(
        outcomes.len(),
        200,
        "outcomes for orders that were never placed"
    );
    let mut scarce_completed = 0;
    for (order, events) in &outcomes {
        assert_eq!(
            events.len(),
            1,
            "order {order} has {} outcomes: {events:?}",
            events.len()
        );
        let (event_type, reason, _) = &events[0];
        match kinds[order] {
            Kind::Ordinary => assert_eq!(*event_type, EventType::OrderCompleted, "{order}"),
            Kind::Declined => assert_eq!(*reason, Some(FailureReason::PaymentDeclined), "{order}"),
            Kind::SoldOut => assert_eq!(*reason, Some(FailureReason::OutOfStock), "{order}"),
            Kind::Scarce => match event_type {
                EventType::OrderCompleted => scarce_completed += 1,
                _ => assert_eq!(*reason, Some(FailureReason::OutOfStock), "{order}"),
            },
        }
    }
    assert_eq!(
        scarce_completed, SCARCE_UNITS,
        "exactly the scarce units were sold"
    );
    let count = |k: Kind| kinds.values().filter(|v| **v == k).count() as i64;
    let completed = count(Kind::Ordinary) + SCARCE_UNITS;

    // Stock: completed orders hold their units, failed ones gave theirs back.
    let expected_reserved = HashMap::from([
        ("PLENTY-A", 2 * count(Kind::Ordinary)),
        ("PLENTY-B", count(Kind::Ordinary)),
        ("SCARCE", SCARCE_UNITS),
        ("NONE", 0),
    ]);
    for (sku, total) in STOCK {
        let url = pipeline.url(&format!("/v1/inventory/{sku}"));
        let reserved = expected_reserved[sku];
        eventually(
            &format!("final stock of {sku}"),
            Duration::from_secs(60),
            || {
                let (http, url) = (http.clone(), url.clone());
                async move {
                    let (_, level) = send_json(&http, Method::GET, &url, &Value::Null).await;
                    let settled = level["total"] == total
                        && level["reserved"] == reserved
                        && level["available"] == total - reserved;
                    settled.then_some(())
                }
            },
        )
        .await;
    }

    // One verified webhook per outcome event, with the event's id as webhook-id.
    let expected_ids: HashSet<String> = outcomes.values().map(|e| e[0].2.clone()).collect();
    let received = eventually(
        "a webhook for every outcome",
        Duration::from_secs(90),
        || async {
            let text = std::fs::read_to_string(deliveries.path()).unwrap_or_default();
            let lines: Vec<Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            (lines.len() >= expected_ids.len()).then_some(lines)
        },
    )
    .await;
    assert!(
        received.iter().all(|d| d["verified"] == true),
        "a delivery failed verification"
    );
    let received_ids: Vec<String> = received
        .iter()
        .map(|d| d["webhook_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        received_ids.len(),
        expected_ids.len(),
        "each event delivered once"
    );
    assert_eq!(
        received_ids.iter().cloned().collect::<HashSet<_>>(),
        expected_ids
    );
    for delivery in &received {
        let payload = &delivery["payload"];
        let order = payload["data"]["order_id"].as_str().unwrap();
        assert_eq!(payload["id"], delivery["webhook_id"]);
        let expected_type = if outcomes[order][0].0 == EventType::OrderCompleted {
            "order.completed"
        } else {
            "order.failed"
        };
        assert_eq!(payload["type"], expected_type);
    }

    // One confirmation email per completed order at the SMTP server.
    let completed_orders: HashSet<&String> = outcomes
        .iter()
        .filter(|(_, e)| e[0].0 == EventType::OrderCompleted)
        .map(|(o, _)| o)
        .collect();
    let emails = eventually(
        "an email per completed order",
        Duration::from_secs(60),
        || async {
            let ours: Vec<String> = mail_subjects()
                .into_iter()
                .filter(|s| kinds.keys().any(|o| s.contains(o.as_str())))
                .collect();
            (ours.len() as i64 >= completed).then_some(ours)
        },
    )
    .await;
    assert_eq!(
        emails.len() as i64,
        completed,
        "one email per completed order, none for failed ones"
    );
    for order in &completed_orders {
        assert!(
            emails.iter().any(|s| s.contains(order.as_str())),
            "no email for {order}"
        );
    }

    // GET shows each order's outcome.
    for (order, events) in &outcomes {
        let (status, view) = send_json(
            &http,
            Method::GET,
            &pipeline.url(&format!("/v1/orders/{order}")),
            &Value::Null,
        )
        .await;
        assert_eq!(status, 200);
        let expected = if events[0].0 == EventType::OrderCompleted {
            "completed"
        } else {
            "failed"
        };
        let view = eventually(
            &format!("status of {order}"),
            Duration::from_secs(30),
            || {
                let (http, url, view) = (
                    http.clone(),
                    pipeline.url(&format!("/v1/orders/{order}")),
                    view.clone(),
                );
                async move {
                    if view["status"] == expected {
                        return Some(view);
                    }
                    let (_, again) = send_json(&http, Method::GET, &url, &Value::Null).await;
                    (again["status"] == expected).then_some(again)
                }
            },
        )
        .await;
        if let Some(reason) = events[0].1 {
            assert_eq!(view["reason"], reason.as_str());
        }
    }
}
