//! What the webhook tests do with a pipeline: subscribe a receiver, write outcome events
//! straight to the pipeline's topic (to choose their content and rate), and read back what a
//! subscriber or an operator would look at: attempts, dead letters, signatures.

use std::process::{Command, Stdio};
use std::time::Duration;

use orderflow_schemas::clock::now_ms;
use orderflow_schemas::events::{AnyEvent, OrderCompleted, WebhookDeliveryFailed};
use orderflow_schemas::{Codec, CustomerId, Event, EventId, EventType, OrderId};
use orderflow_webhooks::signature::verify;
use orderflow_webhooks::SigningSecret;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::NamedTempFile;

use super::receivers::{Received, Receiver};
use super::{eventually, http, read_all, repo_root, send_json, Pipeline, Reaped, KAFKA};

/// How long the sink may take to see a subscription created or changed over the API. The
/// sink follows the subscriptions topic on its own consumer, so an event written right after
/// the change could be handled before the change arrived; it arrives within milliseconds on
/// loopback, this leaves room for a busy machine.
pub const SINK_CATCH_UP: Duration = Duration::from_secs(1);

/// A subscription as created: its id and its signing secret.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub secret: String,
}

/// Subscribes `url` to both outcome types and waits until the sink can know it.
pub async fn subscribe(pipeline: &Pipeline, url: &str) -> Subscription {
    let mut created = subscribe_all(pipeline, &[url.to_owned()]).await;
    created.remove(0)
}

/// Subscribes each of `urls` to both outcome types, then waits once until the sink can know
/// them all.
pub async fn subscribe_all(pipeline: &Pipeline, urls: &[String]) -> Vec<Subscription> {
    let mut subscriptions = Vec::new();
    for url in urls {
        let body = json!({"url": url, "event_types": ["order.completed", "order.failed"]});
        let (status, created) =
            send_json(&http(), Method::POST, &pipeline.url("/v1/webhooks"), &body).await;
        assert_eq!(status, 201, "creating a subscription to {url}: {created}");
        subscriptions.push(Subscription {
            id: created["id"].as_str().expect("an id").to_owned(),
            secret: created["secret"].as_str().expect("a secret").to_owned(),
        });
    }
    tokio::time::sleep(SINK_CATCH_UP).await;
    subscriptions
}

/// `PATCH /v1/webhooks/{id}` with `body`, expecting 200, then waits until the sink can know.
pub async fn update(pipeline: &Pipeline, id: &str, body: Value) -> Value {
    let url = pipeline.url(&format!("/v1/webhooks/{id}"));
    let (status, updated) = send_json(&http(), Method::PATCH, &url, &body).await;
    assert_eq!(status, 200, "updating {id} with {body}: {updated}");
    tokio::time::sleep(SINK_CATCH_UP).await;
    updated
}

/// `GET /v1/webhooks/{id}`.
pub async fn show(pipeline: &Pipeline, id: &str) -> Value {
    let url = pipeline.url(&format!("/v1/webhooks/{id}"));
    let (status, shown) = send_json(&http(), Method::GET, &url, &Value::Null).await;
    assert_eq!(status, 200, "showing {id}: {shown}");
    shown
}

/// `GET /v1/webhooks/{id}/attempts`: the first page, newest first.
pub async fn attempts(pipeline: &Pipeline, id: &str) -> Vec<Value> {
    let url = pipeline.url(&format!("/v1/webhooks/{id}/attempts?limit=250"));
    let (status, page) = send_json(&http(), Method::GET, &url, &Value::Null).await;
    assert_eq!(status, 200, "attempts of {id}: {page}");
    page["data"].as_array().cloned().unwrap_or_default()
}

/// Waits until the attempts listed for `id` satisfy `done`, for at most `limit`.
pub async fn attempts_until(
    pipeline: &Pipeline,
    id: &str,
    limit: Duration,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    eventually(&format!("attempts of {id}"), limit, || async {
        let listed = attempts(pipeline, id).await;
        done(&listed).then_some(listed)
    })
    .await
}

/// Waits until one of the attempts listed for `id` delivered, for at most `limit`; the
/// attempts, newest first.
pub async fn attempts_until_delivered(
    pipeline: &Pipeline,
    id: &str,
    limit: Duration,
) -> Vec<Value> {
    attempts_until(pipeline, id, limit, |a| has_result(a, "delivered")).await
}

/// `POST /v1/webhooks/{id}/replay`, expecting 202; returns how many events were requested.
pub async fn replay(pipeline: &Pipeline, id: &str, body: Value) -> u64 {
    let url = pipeline.url(&format!("/v1/webhooks/{id}/replay"));
    let (status, answer) = send_json(&http(), Method::POST, &url, &body).await;
    assert_eq!(status, 202, "replay of {id} with {body}: {answer}");
    answer["requested"]
        .as_u64()
        .expect("a count of requested events")
}

/// The dead letters of one subscription.
pub async fn dead_letters(pipeline: &Pipeline, subscription: &str) -> Vec<WebhookDeliveryFailed> {
    read_all(pipeline, EventType::WebhookDeliveryFailed)
        .await
        .into_iter()
        .filter_map(|e| match e {
            AnyEvent::WebhookDeliveryFailed(f) if f.subscription_id.as_str() == subscription => {
                Some(f)
            }
            _ => None,
        })
        .collect()
}

/// Waits for `count` dead letters of `subscription`, for at most `limit`.
pub async fn await_dead_letters(
    pipeline: &Pipeline,
    subscription: &str,
    count: usize,
    limit: Duration,
) -> Vec<WebhookDeliveryFailed> {
    eventually(&format!("{count} dead letters"), limit, || async {
        let found = dead_letters(pipeline, subscription).await;
        (found.len() >= count).then_some(found)
    })
    .await
}

/// Checks every request as a receiver holding `secret` must: a fresh timestamp and a
/// matching signature over the exact body. Returns the requests that do not verify.
pub fn unverified(requests: &[Received], secret: &str) -> Vec<String> {
    let secret = SigningSecret::parse(secret).expect("a whsec_ secret");
    requests
        .iter()
        .filter_map(|r| {
            let timestamp = r.header("webhook-timestamp")?.parse().ok()?;
            let signatures = r.header("webhook-signature")?;
            let now = r.at_ms / 1000;
            verify(&secret, r.webhook_id(), timestamp, signatures, &r.body, now).err()
        })
        .map(|e| e.to_string())
        .chain(
            requests
                .iter()
                .filter(|r| r.header("webhook-signature").is_none())
                .map(|r| format!("{} carries no signature", r.webhook_id())),
        )
        .collect()
}

/// Panics unless every request `receiver` got verifies with `secret`.
pub fn assert_signed(receiver: &Receiver, secret: &str) {
    assert_eq!(
        unverified(&receiver.received(), secret),
        Vec::<String>::new()
    );
}

/// One field of every listed attempt, in the listed order.
pub fn field<'a>(listed: &'a [Value], name: &str) -> Vec<&'a Value> {
    listed.iter().map(|a| &a[name]).collect()
}

pub fn has_result(listed: &[Value], result: &str) -> bool {
    listed.iter().any(|a| a["result"] == result)
}

/// The receiver a third party would write (`tests/receivers/webhook_receiver.py`, verifying
/// with the reference `standardwebhooks` library), listening on `port` once this returns. It
/// appends one JSON line per delivery to the returned file, and stops when dropped.
pub async fn reference_receiver(port: u16, secret: &str) -> (Reaped, NamedTempFile) {
    let deliveries = NamedTempFile::new().expect("a temporary file");
    let receiver = Reaped(
        Command::new(repo_root().join(".stack/venv/bin/python"))
            .arg(repo_root().join("tests/receivers/webhook_receiver.py"))
            .args(["--port", &port.to_string(), "--secret", secret])
            .arg("--out")
            .arg(deliveries.path())
            .stdout(Stdio::null())
            .spawn()
            .expect("the Python receiver starts"),
    );
    eventually(
        "the Python receiver listening",
        Duration::from_secs(20),
        || async {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        },
    )
    .await;
    (receiver, deliveries)
}

/// The end offsets of a topic's partitions added up: it moves if anything was written.
pub fn topic_end(topic: &str, partitions: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("a consumer for watermarks");
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .map(|(_, high)| high)
                .unwrap_or(0)
        })
        .sum()
}

/// A fresh `order.completed` event, as the order saga would write it, happening now.
pub fn completed_order(email: &str, authorization_id: &str) -> OrderCompleted {
    let order_id = OrderId::new_v7();
    OrderCompleted {
        event_id: EventId::for_outcome(order_id, EventType::OrderCompleted.as_str()),
        order_id,
        customer_id: CustomerId::parse("cust-webhooks").expect("a customer id"),
        email: email.to_owned(),
        currency: "EUR".to_owned(),
        total_minor: 2599,
        item_count: 1,
        authorization_id: authorization_id.to_owned(),
        completed_at_ms: now_ms(),
    }
}

/// Writes events to a pipeline's topics as its own processors would: Avro in the Confluent
/// wire format, keyed as the catalogue says, partitioned with murmur2.
pub struct Writer {
    producer: FutureProducer,
    codec: Codec,
    topics: orderflow_schemas::Topics,
}

impl Writer {
    pub fn new(pipeline: &Pipeline) -> Writer {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", KAFKA)
            .set("partitioner", "murmur2_random")
            .set("enable.idempotence", "true")
            .set("linger.ms", "0")
            .create()
            .expect("a producer");
        Writer {
            producer,
            codec: pipeline.codec(),
            topics: pipeline.topics(),
        }
    }

    /// Writes `event` to its topic under its own key.
    pub async fn write<E: Event>(&self, event: &E) {
        let payload = self.codec.encode(event).await.expect("the event encodes");
        let key = event.key();
        let record = FutureRecord::to(self.topics.of(E::TYPE))
            .key(&key)
            .payload(&payload);
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)
            .expect("Kafka takes the event");
    }

    /// Writes a fresh `order.completed` and returns it.
    pub async fn complete_order(&self) -> OrderCompleted {
        let event = completed_order("ada@example.com", "auth_1");
        self.write(&event).await;
        event
    }
}
