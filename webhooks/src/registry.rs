//! Every instance's view of the subscriptions: the compacted topic read from the start into
//! memory and kept up to date.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use orderflow_kafka::{end_offsets, KafkaSettings};
use orderflow_schemas::events::WebhookSubscription;
use orderflow_schemas::{Codec, EventType, SubscriptionId, Topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::subscription::wants;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read subscriptions from {topic}: {source}")]
    Kafka {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
}

#[derive(Clone)]
pub struct SubscriptionRegistry {
    subscriptions: Arc<RwLock<BTreeMap<SubscriptionId, WebhookSubscription>>>,
    ready: watch::Receiver<bool>,
}

impl SubscriptionRegistry {
    /// Starts following the subscriptions topic; [`Self::ready`] resolves once everything
    /// written before the start has been read.
    pub async fn start(
        kafka: &KafkaSettings,
        topics: &Topics,
        codec: Arc<Codec>,
        shutdown: CancellationToken,
    ) -> Result<Self, RegistryError> {
        let topic = topics.of(EventType::WebhookSubscription).to_owned();
        let fail = |source| RegistryError::Kafka {
            topic: topic.clone(),
            source,
        };
        let config = kafka.reader_config("orderflow-subscriptions");
        let consumer: StreamConsumer = config.create().map_err(fail)?;

        // Where the topic ends now: once read that far, the registry knows every subscription
        // created before this instance started.
        let partitions = topics.partitions(EventType::WebhookSubscription.key_kind());
        let watermark_topic = topic.clone();
        let (consumer, ends) = tokio::task::spawn_blocking(move || {
            let mut assignment = TopicPartitionList::new();
            for partition in 0..partitions {
                assignment.add_partition_offset(&watermark_topic, partition, Offset::Beginning)?;
            }
            let ends: Vec<(i32, i64)> = (0..partitions)
                .zip(end_offsets(&consumer, &watermark_topic, partitions)?)
                .collect();
            consumer.assign(&assignment)?;
            Ok::<_, rdkafka::error::KafkaError>((consumer, ends))
        })
        .await
        .map_err(|_| fail(rdkafka::error::KafkaError::Canceled))?
        .map_err(fail)?;

        let (ready_tx, ready) = watch::channel(false);
        let registry = Self {
            subscriptions: Arc::default(),
            ready,
        };
        let follower = registry.clone();
        tokio::spawn(async move {
            follower
                .follow(consumer, codec, ends, ready_tx, shutdown)
                .await;
        });
        Ok(registry)
    }

    async fn follow(
        &self,
        consumer: StreamConsumer,
        codec: Arc<Codec>,
        ends: Vec<(i32, i64)>,
        ready: watch::Sender<bool>,
        shutdown: CancellationToken,
    ) {
        loop {
            if !*ready.borrow() && self.caught_up(&consumer, &ends) {
                let _ = ready.send(true);
                tracing::info!(subscriptions = self.len(), "subscriptions loaded");
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                received = tokio::time::timeout(Duration::from_millis(200), consumer.recv()) => {
                    match received {
                        Ok(Ok(message)) => self.apply(&codec, &message).await,
                        Ok(Err(e)) => tracing::warn!(error = %e, "reading subscriptions failed"),
                        Err(_) => {}
                    }
                }
            }
        }
    }

    fn caught_up(&self, consumer: &StreamConsumer, ends: &[(i32, i64)]) -> bool {
        let Ok(positions) = consumer.position() else {
            return false;
        };
        ends.iter().all(|(partition, end)| {
            *end == 0
                || positions.elements().iter().any(|e| {
                    e.partition() == *partition
                        && matches!(e.offset(), Offset::Offset(o) if o >= *end)
                })
        })
    }

    async fn apply(&self, codec: &Codec, message: &BorrowedMessage<'_>) {
        let Some(id) = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .and_then(SubscriptionId::parse)
        else {
            tracing::warn!(
                offset = message.offset(),
                "subscription record without a valid key"
            );
            return;
        };
        match message.payload() {
            None => {
                self.remove(&id);
            }
            Some(payload) => match codec.decode::<WebhookSubscription>(payload).await {
                Ok(subscription) => self.upsert(subscription),
                Err(e) => tracing::warn!(
                    subscription_id = %id,
                    offset = message.offset(),
                    error = %e,
                    "undecodable subscription record skipped"
                ),
            },
        }
    }

    /// Resolves once the subscriptions that existed at start have been read.
    pub async fn ready(&self) {
        let mut ready = self.ready.clone();
        let _ = ready.wait_for(|r| *r).await;
    }

    pub fn upsert(&self, subscription: WebhookSubscription) {
        self.write()
            .insert(subscription.subscription_id.clone(), subscription);
    }

    pub fn remove(&self, id: &SubscriptionId) -> Option<WebhookSubscription> {
        self.write().remove(id)
    }

    pub fn get(&self, id: &SubscriptionId) -> Option<WebhookSubscription> {
        self.read().get(id).cloned()
    }

    pub fn list(&self) -> Vec<WebhookSubscription> {
        self.read().values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Subscriptions that asked for `event_type`.
    pub fn matching(&self, event_type: EventType) -> Vec<WebhookSubscription> {
        self.read()
            .values()
            .filter(|s| wants(s, event_type))
            .cloned()
            .collect()
    }

    fn read(
        &self,
    ) -> std::sync::RwLockReadGuard<'_, BTreeMap<SubscriptionId, WebhookSubscription>> {
        self.subscriptions.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, BTreeMap<SubscriptionId, WebhookSubscription>> {
        self.subscriptions
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }
}
