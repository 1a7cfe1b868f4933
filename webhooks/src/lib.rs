//! Webhooks: how subscribers hear about order outcomes.
//!
//! - Subscriptions are records on the compacted `webhook.subscription` topic, keyed by
//!   subscription id (a deletion is a tombstone); every gateway and sink instance materializes
//!   them with a [`SubscriptionRegistry`].
//! - The [`sink`] is a processor on the exactly-once runtime. It reads `order.completed`,
//!   `order.failed`, `webhook.attempt` and `webhook.delivery-requested`, keeps every unsettled
//!   delivery in its RocksDB store, and writes `webhook.delivery-failed` (dead letters) and,
//!   when it disables a subscription, `webhook.subscription` and
//!   `webhook.subscription-disabled`.
//! - The [`dispatcher`] makes the HTTP attempts beside the sink's loop, within caps on
//!   requests in flight, and writes each attempt to `webhook.attempt`.
//! - Every attempt is signed per the Standard Webhooks specification ([`signature`]) and may
//!   reach only addresses outside the network orderflow runs in ([`target`]).

pub mod attempt;
pub mod dispatcher;
pub mod envelope;
pub mod listen;
pub mod registry;
pub mod schedule;
pub mod secret;
pub mod settings;
pub mod signature;
pub mod sink;
pub mod subscription;
pub mod target;

use std::sync::Arc;

use orderflow_kafka::KafkaSettings;
use orderflow_schemas::{Codec, Topics};

pub use registry::SubscriptionRegistry;
pub use secret::SigningSecret;
pub use settings::WebhookSettings;
pub use sink::WebhookSink;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("webhook sink cannot create its attempt producer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("webhook sink cannot build its HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The sink's processor and the dispatcher it hands attempts to. Run the processor on the
/// exactly-once runtime; after it stopped, [`dispatcher::Dispatcher::drain`] lets attempts
/// in flight finish.
pub fn sink(
    kafka: &KafkaSettings,
    topics: &Topics,
    codec: Arc<Codec>,
    registry: SubscriptionRegistry,
    settings: &WebhookSettings,
) -> Result<(WebhookSink, Arc<dispatcher::Dispatcher>), SinkError> {
    let policy = Arc::new(target::TargetPolicy::new(settings.allowed_networks.clone()));
    let attempter = attempt::Attempter::new(settings, policy)?;
    let recorder = dispatcher::Recorder::new(kafka, topics, codec)?;
    let dispatcher = Arc::new(dispatcher::Dispatcher::new(
        attempter,
        recorder,
        settings,
        tokio::runtime::Handle::current(),
    ));
    let processor = WebhookSink::new(registry, dispatcher.clone(), settings);
    Ok((processor, dispatcher))
}
