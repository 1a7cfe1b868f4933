//! Watches the pipeline's topics and reports what happens to each order, as it happens.

use std::sync::Arc;

use orderflow_kafka::end_offsets;
use orderflow_schemas::events::{AnyEvent, AttemptResult, AuthorizationOutcome};
use orderflow_schemas::{Codec, EventType, Topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::settings::Settings;

const WATCHED: [EventType; 7] = [
    EventType::StockReservationResult,
    EventType::StockReleaseRequested,
    EventType::PaymentAuthorization,
    EventType::OrderCompleted,
    EventType::OrderFailed,
    EventType::WebhookAttempt,
    EventType::WebhookDeliveryFailed,
];

/// Something that happened to an order.
pub enum Step {
    Progress(String),
    Completed,
    Failed {
        reason: String,
        detail: String,
    },
    /// A webhook attempt to a subscription failed, or succeeded after earlier failures.
    Attempt {
        subscription_id: String,
        text: String,
    },
    /// A subscription's delivery ran out of attempts and became a dead letter.
    DeadLettered {
        subscription_id: String,
        text: String,
    },
}

pub struct Observation {
    pub order_id: String,
    pub step: Step,
}

/// Starts a consumer at the current end of every watched topic and reports each event on the
/// returned channel, from a task of its own so that no event is lost to a cancelled wait.
pub fn watch(
    settings: &Settings,
    topics: &Topics,
    codec: Arc<Codec>,
) -> anyhow::Result<mpsc::UnboundedReceiver<Observation>> {
    let mut config = settings.kafka.reader_config("orderflow-demo");
    config.set("isolation.level", "read_committed");
    let consumer: StreamConsumer = config.create()?;
    let mut assignment = TopicPartitionList::new();
    for event_type in WATCHED {
        let topic = topics.of(event_type);
        let ends = end_offsets(&consumer, topic, topics.partitions(event_type.key_kind()))?;
        for (partition, end) in ends.into_iter().enumerate() {
            assignment.add_partition_offset(topic, partition as i32, Offset::Offset(end))?;
        }
    }
    consumer.assign(&assignment)?;

    let (sender, observations) = mpsc::unbounded_channel();
    let topics = topics.clone();
    tokio::spawn(async move {
        while let Ok(message) = consumer.recv().await {
            let (Some(event_type), Some(payload)) =
                (topics.event_type_of(message.topic()), message.payload())
            else {
                continue;
            };
            let Ok(event) = codec.decode_any(event_type, payload).await else {
                continue;
            };
            if let Some(observation) = observe(event) {
                if sender.send(observation).is_err() {
                    return;
                }
            }
        }
    });
    Ok(observations)
}

fn observe(event: AnyEvent) -> Option<Observation> {
    let (order_id, step) = match event {
        AnyEvent::StockReservationResult(r) => {
            let verdict = if r.reserved {
                "reserved"
            } else {
                "not available"
            };
            let text = format!("stock  {} x{} {verdict}", r.sku, r.quantity);
            (r.order_id, Step::Progress(text))
        }
        AnyEvent::StockReleaseRequested(r) => {
            let text = format!("stock  {} given back", r.sku);
            (r.order_id, Step::Progress(text))
        }
        AnyEvent::PaymentAuthorization(p) => {
            let text = match p.outcome {
                AuthorizationOutcome::Authorized => "payment authorized".to_owned(),
                AuthorizationOutcome::Declined => {
                    format!(
                        "payment declined ({})",
                        p.decline_reason.unwrap_or_default()
                    )
                }
            };
            (p.order_id, Step::Progress(text))
        }
        AnyEvent::WebhookAttempt(a) => {
            let text = match (a.result, a.status) {
                (AttemptResult::Delivered, _) if a.attempt == 1 => return None,
                (AttemptResult::Delivered, _) => {
                    format!("webhook delivered on attempt {}", a.attempt)
                }
                (_, Some(status)) => {
                    format!(
                        "webhook attempt {} answered {status}; the sink retries",
                        a.attempt
                    )
                }
                (_, None) => format!(
                    "webhook attempt {} failed: {}",
                    a.attempt,
                    a.error.unwrap_or_default()
                ),
            };
            let subscription_id = a.subscription_id.to_string();
            (
                a.order_id,
                Step::Attempt {
                    subscription_id,
                    text,
                },
            )
        }
        AnyEvent::WebhookDeliveryFailed(f) => {
            let text = format!("webhook dead-lettered after {} attempts", f.attempts);
            let subscription_id = f.subscription_id.to_string();
            (
                f.order_id,
                Step::DeadLettered {
                    subscription_id,
                    text,
                },
            )
        }
        AnyEvent::OrderCompleted(c) => (c.order_id, Step::Completed),
        AnyEvent::OrderFailed(f) => (
            f.order_id,
            Step::Failed {
                reason: f.reason.as_str().to_owned(),
                detail: f.detail,
            },
        ),
        _ => return None,
    };
    Some(Observation {
        order_id: order_id.to_string(),
        step,
    })
}
