//! The webhook sink: consumes outcome events and delivers each to every subscription that
//! asked for its type.
//!
//! Delivery is at-least-once: an event's offset is stored only after every matching
//! subscription got it or ran out of attempts, so a crash in between re-delivers it.
//! Subscribers deduplicate by `webhook-id`, which is the same on every delivery of an event.
//! Known shortcoming: events are handled one at a time, so one slow endpoint delays every
//! other delivery; retries are bounded, and exhausted deliveries are only logged.

use std::sync::Arc;

use futures::future::join_all;
use orderflow_kafka::KafkaSettings;
use orderflow_schemas::{Codec, Topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Message;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::delivery::{Deliverer, Outcome};
use crate::envelope::deliverable;
use crate::registry::SubscriptionRegistry;
use crate::subscription::DELIVERED_EVENT_TYPES;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    /// Attempts per event and subscription before the delivery is given up.
    pub max_attempts: u32,
    /// Pause after the first failed attempt, in ms; it doubles after each further failure.
    pub retry_delay_ms: u64,
    /// Bound on connecting to an endpoint, in ms.
    pub connect_timeout_ms: u64,
    /// Bound on a whole attempt, response included, in ms.
    pub request_timeout_ms: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            retry_delay_ms: 1_000,
            connect_timeout_ms: 5_000,
            request_timeout_ms: 15_000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("webhook sink cannot use Kafka ({call}): {source}")]
    Kafka {
        call: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("webhook sink cannot build its HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// Runs the sink until `shutdown` is cancelled.
pub async fn run(
    kafka: &KafkaSettings,
    topics: &Topics,
    codec: Arc<Codec>,
    registry: SubscriptionRegistry,
    settings: &WebhookSettings,
    shutdown: CancellationToken,
) -> Result<(), SinkError> {
    let deliverer = Deliverer::new(settings)?;
    let mut config = kafka.client_config("orderflow-webhooks");
    config
        .set("group.id", topics.consumer_group("webhooks"))
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky");
    let consumer: StreamConsumer = config.create().map_err(|source| SinkError::Kafka {
        call: "create consumer",
        source,
    })?;
    let inputs: Vec<&str> = DELIVERED_EVENT_TYPES
        .iter()
        .map(|t| topics.of(*t))
        .collect();
    consumer
        .subscribe(&inputs)
        .map_err(|source| SinkError::Kafka {
            call: "subscribe",
            source,
        })?;

    // Delivering before all subscriptions are known would skip some subscribers.
    registry.ready().await;
    tracing::info!(topics = ?inputs, subscriptions = registry.len(), "webhook sink started");

    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            message = consumer.recv() => message,
        };
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                tracing::warn!(error = %e, "webhook sink consumer error");
                continue;
            }
        };
        deliver_record(&message, topics, &codec, &registry, &deliverer).await;
        if let Err(e) = consumer.store_offset_from_message(&message) {
            tracing::warn!(error = %e, "cannot store the webhook sink's offset");
        }
    }
    tracing::info!("webhook sink stopped");
    Ok(())
}

async fn deliver_record(
    message: &rdkafka::message::BorrowedMessage<'_>,
    topics: &Topics,
    codec: &Codec,
    registry: &SubscriptionRegistry,
    deliverer: &Deliverer,
) {
    let event_type = topics.event_type_of(message.topic());
    let decoded = match (event_type, message.payload()) {
        (Some(t), Some(payload)) => codec
            .decode_any(t, payload)
            .await
            .map_err(|e| e.to_string()),
        _ => Err("record is not an outcome event".to_owned()),
    };
    let Some(event) = decoded.ok().as_ref().and_then(deliverable) else {
        tracing::warn!(
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            "skipping a record the sink cannot deliver"
        );
        return;
    };
    let subscribers = registry.matching(event.event_type);
    let attempts = subscribers.iter().map(|s| deliverer.deliver(s, &event));
    for (subscription, outcome) in subscribers.iter().zip(join_all(attempts).await) {
        match outcome {
            Outcome::Delivered { attempts, status } => tracing::info!(
                subscription_id = %subscription.subscription_id,
                event_id = %event.event_id,
                order_id = %event.order_id,
                attempts,
                status,
                "webhook delivered"
            ),
            Outcome::Exhausted {
                attempts,
                last_error,
            } => tracing::error!(
                subscription_id = %subscription.subscription_id,
                event_id = %event.event_id,
                order_id = %event.order_id,
                attempts,
                last_error,
                "webhook delivery given up"
            ),
        }
    }
}
