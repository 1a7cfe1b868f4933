//! The gateway's one producer, shared by every connection: idempotent, `acks=all`, and bounded
//! in how long a request waits for the acknowledgement.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orderflow_kafka::{EventHeaders, KafkaSettings, TraceContext};
use orderflow_schemas::events::Event;
use orderflow_schemas::{Codec, CodecError, EventType, Topics};
use orderflow_telemetry::health;
use orderflow_telemetry::names::{PRODUCE_DURATION, PRODUCE_ERRORS};
use rdkafka::error::KafkaError;
use rdkafka::producer::{DefaultProducerContext, FutureProducer, FutureRecord, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

use crate::server::HEALTH_NAME;

/// Marks the gateway as no longer live when its producer fails for good: an idempotent
/// producer that lost its sequence can write nothing more, and only a restart fixes it.
pub struct ProducerHealth;

impl ClientContext for ProducerHealth {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal) {
            tracing::error!(error = %error, reason, "the gateway's producer failed for good");
            health::set_dead(HEALTH_NAME);
        } else {
            tracing::warn!(error = %error, reason, "Kafka client error");
        }
    }
}

impl ProducerContext for ProducerHealth {
    type DeliveryOpaque = <DefaultProducerContext as ProducerContext>::DeliveryOpaque;

    fn delivery(&self, _: &rdkafka::producer::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

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

/// How long before the request's deadline librdkafka is told to expire a record: it
/// notices expired records only on a scan that runs about once a second.
const LIBRDKAFKA_EXPIRY_SCAN_MS: u64 = 1_000;

pub struct EventProducer {
    producer: FutureProducer<ProducerHealth>,
    codec: Arc<Codec>,
    topics: Topics,
    timeout: Duration,
}

impl EventProducer {
    /// `timeout` bounds the whole write, encoding included, so a request never hangs on a
    /// broker that is down. librdkafka is told to give up a little earlier
    /// (`message.timeout.ms`) because it notices expired records only on a periodic scan.
    pub fn new(
        kafka: &KafkaSettings,
        codec: Arc<Codec>,
        topics: Topics,
        timeout: Duration,
    ) -> Result<Self, rdkafka::error::KafkaError> {
        let mut config = kafka.producer_config("orderflow-gateway");
        let timeout_ms = timeout.as_millis().max(2) as u64;
        let librdkafka_ms = timeout_ms
            .saturating_sub(LIBRDKAFKA_EXPIRY_SCAN_MS)
            .max(timeout_ms / 2)
            .to_string();
        config
            .set("message.timeout.ms", &librdkafka_ms)
            .set("request.timeout.ms", &librdkafka_ms);
        Ok(Self {
            producer: config.create_with_context(ProducerHealth)?,
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
        let started = Instant::now();
        let payload = tokio::time::timeout(self.timeout, self.codec.encode(event))
            .await
            .map_err(|_| self.no_answer())??;
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
        self.send(record, started).await
    }

    /// Writes a tombstone: on a compacted topic, the key's removal.
    pub async fn delete(&self, event_type: EventType, key: &str) -> Result<(), PublishError> {
        let record = FutureRecord::<str, [u8]>::to(self.topics.of(event_type)).key(key);
        self.send(record, Instant::now()).await
    }

    fn no_answer(&self) -> PublishError {
        PublishError::NotAcknowledged(format!("no answer within {:?}", self.timeout))
    }

    /// Sends a record and waits for its acknowledgement until `timeout` after `started`.
    async fn send(
        &self,
        record: FutureRecord<'_, str, [u8]>,
        started: Instant,
    ) -> Result<(), PublishError> {
        let topic = record.topic.to_owned();
        // librdkafka fails the record before the deadline; the outer bound only guards
        // against the acknowledgement never being reported.
        let deadline = tokio::time::Instant::from_std(started + self.timeout);
        let acknowledged =
            tokio::time::timeout_at(deadline, self.producer.send(record, Duration::ZERO)).await;
        let result = match acknowledged {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, _))) => Err(PublishError::NotAcknowledged(e.to_string())),
            Err(_) => Err(self.no_answer()),
        };
        match &result {
            Ok(()) => metrics::histogram!(PRODUCE_DURATION, "topic" => topic)
                .record(started.elapsed().as_secs_f64()),
            Err(_) => metrics::counter!(PRODUCE_ERRORS, "topic" => topic).increment(1),
        }
        result
    }
}
