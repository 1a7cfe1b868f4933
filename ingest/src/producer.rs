//! The gateway's one producer, shared by every connection: idempotent, `acks=all`, and bounded
//! in how long a request waits for the acknowledgement.

use std::sync::Arc;
use std::time::Duration;

use orderflow_kafka::{EventHeaders, KafkaSettings, TraceContext};
use orderflow_schemas::events::Event;
use orderflow_schemas::{Codec, CodecError, EventType, Topics};
use rdkafka::producer::{FutureProducer, FutureRecord};

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot encode the event: {0}")]
    Encode(#[from] CodecError),
    #[error("Kafka did not acknowledge the write: {0}")]
    NotAcknowledged(String),
}

impl PublishError {
    /// True when retrying the request later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            PublishError::Encode(e) => e.is_retriable(),
            PublishError::NotAcknowledged(_) => true,
        }
    }
}

pub struct EventProducer {
    producer: FutureProducer,
    codec: Arc<Codec>,
    topics: Topics,
    timeout: Duration,
}

impl EventProducer {
    /// `timeout` bounds the whole write: librdkafka gives up on the record after it
    /// (`message.timeout.ms`), so a request never hangs on a broker that is down.
    pub fn new(
        kafka: &KafkaSettings,
        codec: Arc<Codec>,
        topics: Topics,
        timeout: Duration,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        let mut config = kafka.producer_config("orderflow-gateway");
        let timeout_ms = timeout.as_millis().max(1).to_string();
        config
            .set("message.timeout.ms", &timeout_ms)
            .set("request.timeout.ms", &timeout_ms);
        Ok(Self {
            producer: config.create()?,
            codec,
            topics,
            timeout,
        })
    }

    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    /// Writes an event, with its CloudEvents headers and the request's trace, and returns
    /// once Kafka acknowledged it.
    pub async fn publish<E: Event>(
        &self,
        event: &E,
        trace: &TraceContext,
    ) -> Result<(), PublishError> {
        let payload = self.codec.encode(event).await?;
        let headers = EventHeaders {
            id: event.cloud_event_id(),
            event_type: E::TYPE,
            source: "gateway",
            trace: *trace,
        };
        let key = event.key();
        let record = FutureRecord::<str, [u8]>::to(self.topics.of(E::TYPE))
            .key(&key)
            .payload(&payload)
            .headers(headers.to_kafka());
        self.send(record).await
    }

    /// Writes a tombstone: on a compacted topic, the key's removal.
    pub async fn delete(&self, event_type: EventType, key: &str) -> Result<(), PublishError> {
        self.send(FutureRecord::<str, [u8]>::to(self.topics.of(event_type)).key(key))
            .await
    }

    async fn send(&self, record: FutureRecord<'_, str, [u8]>) -> Result<(), PublishError> {
        // librdkafka already fails the record after `timeout`; the outer bound only guards
        // against the acknowledgement never being reported.
        let acknowledged = tokio::time::timeout(
            self.timeout + Duration::from_secs(1),
            self.producer.send(record, Duration::ZERO),
        )
        .await;
        match acknowledged {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, _))) => Err(PublishError::NotAcknowledged(e.to_string())),
            Err(_) => Err(PublishError::NotAcknowledged(format!(
                "no answer within {:?}",
                self.timeout
            ))),
        }
    }
}
