//! `Idempotency-Key` on `POST /v1/orders`: a repeat gets the first answer and writes nothing,
//! another body under the same key is refused, a repeat during the first write is told to wait,
//! and all of it holds across a gateway restart and between two gateway instances.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use orderflow_schemas::events::AnyEvent;
use orderflow_schemas::EventType;
use reqwest::Method;
use serde_json::{json, Value};
use support::gateway::GatewayProcess;
use support::orders::{order, post, Answer};
use support::records::orders_created;
use support::{eventually, read_all, send_json, stack_is_up, Pipeline, KAFKA};

const REPLAYED: &str = "idempotent-replayed";

/// The `order.created` records of `order_id` in `gateway`'s namespace.
async fn writes_of(gateway: &GatewayProcess, order_id: &str) -> usize {
    let created = orders_created(KAFKA, &gateway.topics(), &gateway.codec()).await;
    created
        .iter()
        .filter(|o| o.order_id.to_string() == order_id)
        .count()
}

fn assert_replays(first: &Answer, repeat: &Answer) {
    assert_eq!(repeat.status, first.status, "{}", repeat.body);
    assert_eq!(repeat.body, first.body, "the first answer's body");
    assert_eq!(repeat.header("location"), first.header("location"));
    assert_eq!(repeat.header(REPLAYED), Some("true"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_with_the_same_key_and_body_gets_the_first_answer_and_writes_nothing() {
    if !stack_is_up("gateway_idempotency") {
        return;
    }
    let gateway = GatewayProcess::alone("idem", &[]).await;
    let http = support::http();
    let orders = gateway.url("/v1/orders");
    let body = order("cust-idem");

    let first = post(&http, &orders, Some("order-1"), &body).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.header(REPLAYED), None);
    let id = first.body["id"].as_str().expect("an order id").to_owned();
    assert_replays(&first, &post(&http, &orders, Some("order-1"), &body).await);

    // The same order with its fields in another order and other spacing is the same body.
    let relaid = format!(
        "{{ \"items\" : {},\n \"payment_token\":\"tok_visa\", \"currency\":\"EUR\", \
         \"email\":\"ada@example.com\", \"customer_id\":\"cust-idem\" }}",
        body["items"]
    );
    let response = http
        .post(&orders)
        .header("content-type", "application/json")
        .header("idempotency-key", "\"order-1\"")
        .body(relaid)
        .send()
        .await
        .expect("an answer");
    assert_replays(&first, &Answer::read(response).await);

    let mut other = body.clone();
    other["items"][0]["quantity"] = json!(2);
    let reused = post(&http, &orders, Some("order-1"), &other).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(reused.problem_type(), "/problems/idempotency-key-reused");

    assert_eq!(
        writes_of(&gateway, &id).await,
        1,
        "one record for one order"
    );
    let all = orders_created(KAFKA, &gateway.topics(), &gateway.codec()).await;
    assert_eq!(all.len(), 1, "the refused body wrote nothing");
    let key = all[0]
        .idempotency
        .as_ref()
        .expect("order.created carries the key");
    assert_eq!(
        (key.client.as_str(), key.key.as_str()),
        ("tests", "order-1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_while_the_first_is_being_written_gets_409_with_retry_after() {
    if !stack_is_up("gateway_idempotency") {
        return;
    }
    let gateway = GatewayProcess::alone("idem-409", &[]).await;
    let http = support::http();
    let orders = gateway.url("/v1/orders");
    let body = order("cust-in-flight");

    // The first request sends half its body, pauses, then the rest: it is in flight meanwhile.
    let text = body.to_string().into_bytes();
    let (head, tail) = text.split_at(text.len() / 2);
    let parts = vec![
        (Duration::ZERO, head.to_vec()),
        (Duration::from_secs(2), tail.to_vec()),
    ];
    let slow = futures::stream::iter(parts).then(|(pause, bytes)| async move {
        tokio::time::sleep(pause).await;
        Ok::<_, std::io::Error>(bytes)
    });
    let first = tokio::spawn(
        http.post(&orders)
            .header("content-type", "application/json")
            .header("idempotency-key", "\"slow-1\"")
            .body(reqwest::Body::wrap_stream(slow))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(500)).await;

    let repeat = post(&http, &orders, Some("slow-1"), &body).await;
    assert_eq!(repeat.status, 409, "{}", repeat.body);
    assert_eq!(repeat.problem_type(), "/problems/idempotency-conflict");
    assert_eq!(repeat.header("retry-after"), Some("1"));

    let first = Answer::read(first.await.expect("joins").expect("an answer")).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_replays(&first, &post(&http, &orders, Some("slow-1"), &body).await);
    let id = first.body["id"].as_str().expect("an order id");
    assert_eq!(writes_of(&gateway, id).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_honoured_after_a_gateway_restart_and_by_a_second_gateway() {
    if !stack_is_up("gateway_idempotency") {
        return;
    }
    let namespace = support::unique_namespace("idem-restart");
    let mut first_gateway = GatewayProcess::start(&namespace, "first", &[]).await;
    let http = support::http();
    let body = order("cust-restart");
    let first = post(&http, &first_gateway.url("/v1/orders"), Some("k-1"), &body).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let id = first.body["id"].as_str().expect("an order id").to_owned();

    first_gateway.restart().await;
    let after_restart = post(&http, &first_gateway.url("/v1/orders"), Some("k-1"), &body).await;
    assert_replays(&first, &after_restart);

    // A second instance, with state of its own, learns the key from order.created.
    let second = GatewayProcess::start(&namespace, "second", &[]).await;
    let shown = second.url(&format!("/v1/orders/{id}"));
    eventually(
        "the second gateway read the order",
        Duration::from_secs(30),
        || {
            let (http, shown) = (http.clone(), shown.clone());
            async move {
                (send_json(&http, Method::GET, &shown, &Value::Null).await.0 == 200).then_some(())
            }
        },
    )
    .await;
    assert_replays(
        &first,
        &post(&http, &second.url("/v1/orders"), Some("k-1"), &body).await,
    );
    let mut other = body.clone();
    other["payment_token"] = json!("tok_mastercard");
    let reused = post(&http, &second.url("/v1/orders"), Some("k-1"), &other).await;
    assert_eq!(reused.status, 422, "{}", reused.body);
    assert_eq!(reused.problem_type(), "/problems/idempotency-key-reused");

    assert_eq!(
        writes_of(&second, &id).await,
        1,
        "written once, for three answers"
    );
}

/// Ids of the orders that reached an outcome, with how many outcomes each.
async fn outcomes(pipeline: &Pipeline) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for event_type in [EventType::OrderCompleted, EventType::OrderFailed] {
        for event in read_all(pipeline, event_type).await {
            let id = match event {
                AnyEvent::OrderCompleted(e) => e.order_id.to_string(),
                AnyEvent::OrderFailed(e) => e.order_id.to_string(),
                _ => continue,
            };
            *counts.entry(id).or_insert(0) += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeat_racing_to_two_gateways_is_one_order_with_one_outcome() {
    if !stack_is_up("gateway_idempotency") {
        return;
    }
    const RACES: usize = 10;
    let pipeline = Pipeline::start("idem-race").await;
    let second = GatewayProcess::start(&pipeline.namespace, "second", &[]).await;
    let http = support::http();
    let stock = json!({"total": 1000});
    let (status, _) = send_json(
        &http,
        Method::PUT,
        &pipeline.url("/v1/inventory/DOG-FOOD"),
        &stock,
    )
    .await;
    assert_eq!(status, 202);

    // The same keyed order to both gateways at once: neither has seen the other's write.
    let (to_first, to_second) = (pipeline.url("/v1/orders"), second.url("/v1/orders"));
    let mut ids = Vec::new();
    for race in 0..RACES {
        let key = format!("race-{race}");
        let body = order(&format!("cust-race-{race}"));
        let (one, two) = tokio::join!(
            post(&http, &to_first, Some(&key), &body),
            post(&http, &to_second, Some(&key), &body),
        );
        assert_eq!(
            (one.status, two.status),
            (201, 201),
            "{} / {}",
            one.body,
            two.body
        );
        assert_eq!(
            one.body["id"], two.body["id"],
            "one order id for one key and body"
        );
        ids.push(one.body["id"].as_str().expect("an order id").to_owned());
    }
    let created = orders_created(KAFKA, &second.topics(), &second.codec()).await;
    let twice = ids
        .iter()
        .filter(|id| {
            created
                .iter()
                .filter(|o| &o.order_id.to_string() == *id)
                .count()
                > 1
        })
        .count();
    println!("{twice} of {RACES} raced orders were written twice");

    eventually(
        "every raced order decided",
        Duration::from_secs(90),
        || async {
            let decided = outcomes(&pipeline).await;
            ids.iter().all(|id| decided.contains_key(id)).then_some(())
        },
    )
    .await;
    // A second outcome would follow the first within a few commit intervals; give it time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let decided = outcomes(&pipeline).await;
    for id in &ids {
        assert_eq!(decided[id], 1, "order {id} has {} outcomes", decided[id]);
    }
    assert_eq!(decided.len(), RACES, "outcomes of orders never placed");
}
