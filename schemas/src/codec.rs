//! Events on the wire: Avro in the Confluent wire format (a zero byte, the 4-byte schema id,
//! then the Avro datum), with schemas registered under the topic name strategy through any
//! registry that speaks the Confluent REST API.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use apache_avro::Schema;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::avro_common::{get_supplied_schema, AvroSchema};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::SubjectNameStrategy;

use crate::compatibility::{CompatibilityError, SchemaRegistry};
use crate::events::*;
use crate::topics::Topics;

/// How long one call to the schema registry may take before it counts as failed.
pub const REGISTRY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("schema registry at {url} is unusable: {reason}")]
    Registry { url: String, reason: String },
    #[error("cannot register or look up the schema of {event_type} (subject {subject}): {source}")]
    Schema {
        event_type: EventType,
        subject: String,
        #[source]
        source: SRCError,
    },
    #[error("cannot encode {event_type}: {source}")]
    Encode {
        event_type: EventType,
        #[source]
        source: SRCError,
    },
    #[error("the schema of {event_type} cannot be registered: {source}")]
    Compatibility {
        event_type: EventType,
        #[source]
        source: CompatibilityError,
    },
    #[error("record cannot be read as Confluent-framed Avro: {source}")]
    Frame {
        #[source]
        source: SRCError,
    },
    #[error("record holds a {found} where a {expected} was expected")]
    WrongType { expected: EventType, found: String },
    #[error("record does not fit the {event_type} schema: {reason}")]
    Shape {
        event_type: EventType,
        reason: String,
    },
}

impl CodecError {
    /// True when the failure lies with the registry being unreachable, not with the record:
    /// such a record must be retried later, never dead-lettered.
    pub fn is_retriable(&self) -> bool {
        match self {
            CodecError::Schema { source, .. }
            | CodecError::Encode { source, .. }
            | CodecError::Frame { source } => source.retriable,
            CodecError::Compatibility { source, .. } => source.is_retriable(),
            CodecError::Registry { .. } => true,
            CodecError::WrongType { .. } | CodecError::Shape { .. } => false,
        }
    }
}

/// Encodes and decodes events; cheap to share behind an `Arc`, schema ids are cached.
pub struct Codec {
    encoder: AvroEncoder,
    decoder: AvroDecoder,
    registry: SchemaRegistry,
    subjects: HashMap<EventType, SubjectNameStrategy>,
    readers: HashMap<EventType, Schema>,
    /// Per event type and writer schema id: whether that writer schema is this build's
    /// schema, so that its records need no resolution.
    same_as_reader: RwLock<HashMap<(EventType, u32), bool>>,
}

impl Codec {
    pub fn new(registry_url: &str, topics: &Topics) -> Result<Self, CodecError> {
        let settings = || {
            SrSettings::new_builder(registry_url.to_owned())
                .set_timeout(REGISTRY_TIMEOUT)
                .build()
                .map_err(|e| CodecError::Registry {
                    url: registry_url.to_owned(),
                    reason: e.to_string(),
                })
        };
        let registry = SchemaRegistry::new(registry_url, REGISTRY_TIMEOUT).map_err(|e| {
            CodecError::Registry {
                url: registry_url.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let mut subjects = HashMap::new();
        let mut readers = HashMap::new();
        for event_type in EventType::ALL {
            let schema = Schema::parse_str(event_type.schema()).map_err(|e| CodecError::Shape {
                event_type,
                reason: format!("compiled-in schema does not parse: {e}"),
            })?;
            let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
                topics.of(event_type).to_owned(),
                false,
                get_supplied_schema(&schema),
            );
            subjects.insert(event_type, strategy);
            readers.insert(event_type, schema);
        }
        Ok(Self {
            encoder: AvroEncoder::new(settings()?),
            decoder: AvroDecoder::new(settings()?),
            registry,
            subjects,
            readers,
            same_as_reader: RwLock::default(),
        })
    }

    fn subject(&self, event_type: EventType) -> &SubjectNameStrategy {
        &self.subjects[&event_type]
    }

    /// Registers the schemas of the events a component writes, each after declaring its
    /// subject's compatibility (BACKWARD), so that an unreachable registry or a schema that
    /// is incompatible with the registered one stops start-up instead of the first request.
    pub async fn register(&self, event_types: &[EventType]) -> Result<(), CodecError> {
        for &event_type in event_types {
            let strategy = self.subject(event_type);
            let subject = strategy.get_subject().unwrap_or_default();
            self.registry
                .admit(&subject, event_type.schema())
                .await
                .map_err(|source| CodecError::Compatibility { event_type, source })?;
            self.encoder
                .get_schema_and_id(&subject, strategy.clone())
                .await
                .map_err(|source| CodecError::Schema {
                    event_type,
                    subject,
                    source,
                })?;
        }
        Ok(())
    }

    pub async fn encode<E: Event>(&self, event: &E) -> Result<Vec<u8>, CodecError> {
        self.encoder
            .encode_struct(event, self.subject(E::TYPE))
            .await
            .map_err(|source| CodecError::Encode {
                event_type: E::TYPE,
                source,
            })
    }

    /// Decodes with the writer's schema (looked up by the id in the record), then resolves the
    /// value against this build's schema, so that records written with an older or newer
    /// compatible schema still read. A record written with this build's own schema, the usual
    /// case, is read as it is decoded.
    pub async fn decode<E: Event>(&self, payload: &[u8]) -> Result<E, CodecError> {
        let decoded = self
            .decoder
            .decode_with_schema(Some(payload))
            .await
            .map_err(|source| CodecError::Frame { source })?
            .ok_or_else(|| CodecError::Shape {
                event_type: E::TYPE,
                reason: "record has no value".into(),
            })?;
        let reader = &self.readers[&E::TYPE];
        if let (Some(found), Some(expected)) = (decoded.name.as_ref(), reader.name()) {
            if found.name() != expected.name() {
                return Err(CodecError::WrongType {
                    expected: E::TYPE,
                    found: found.fullname(None),
                });
            }
        }
        let shape = |reason: String| CodecError::Shape {
            event_type: E::TYPE,
            reason,
        };
        let value = if self.is_reader(E::TYPE, &decoded.schema) {
            decoded.value
        } else {
            decoded
                .value
                .resolve(reader)
                .map_err(|e| shape(e.to_string()))?
        };
        apache_avro::from_value::<E>(&value).map_err(|e| shape(e.to_string()))
    }

    /// Whether `writer` is this build's schema of `event_type`, logical types and defaults
    /// included (the canonical form would ignore them); compared once per schema id.
    fn is_reader(&self, event_type: EventType, writer: &AvroSchema) -> bool {
        let key = (event_type, writer.id);
        let known = self
            .same_as_reader
            .read()
            .ok()
            .and_then(|m| m.get(&key).copied());
        if let Some(same) = known {
            return same;
        }
        let json = |schema: &Schema| serde_json::to_value(schema).ok();
        let same =
            json(&writer.parsed).is_some_and(|w| Some(w) == json(&self.readers[&event_type]));
        if let Ok(mut known) = self.same_as_reader.write() {
            known.insert(key, same);
        }
        same
    }
}

impl Codec {
    /// Decodes a record of a topic whose event type the caller knows from the topic name.
    pub async fn decode_any(
        &self,
        event_type: EventType,
        payload: &[u8],
    ) -> Result<AnyEvent, CodecError> {
        Ok(match event_type {
            EventType::OrderCreated => AnyEvent::OrderCreated(self.decode(payload).await?),
            EventType::OrderCompleted => AnyEvent::OrderCompleted(self.decode(payload).await?),
            EventType::OrderFailed => AnyEvent::OrderFailed(self.decode(payload).await?),
            EventType::StockSet => AnyEvent::StockSet(self.decode(payload).await?),
            EventType::StockLevel => AnyEvent::StockLevel(self.decode(payload).await?),
            EventType::StockReservationRequested => {
                AnyEvent::StockReservationRequested(self.decode(payload).await?)
            }
            EventType::StockReleaseRequested => {
                AnyEvent::StockReleaseRequested(self.decode(payload).await?)
            }
            EventType::StockReservationResult => {
                AnyEvent::StockReservationResult(self.decode(payload).await?)
            }
            EventType::PaymentAuthorization => {
                AnyEvent::PaymentAuthorization(self.decode(payload).await?)
            }
            EventType::WebhookSubscription => {
                AnyEvent::WebhookSubscription(self.decode(payload).await?)
            }
            EventType::WebhookAttempt => AnyEvent::WebhookAttempt(self.decode(payload).await?),
            EventType::WebhookDeliveryFailed => {
                AnyEvent::WebhookDeliveryFailed(self.decode(payload).await?)
            }
            EventType::WebhookDeliveryRequested => {
                AnyEvent::WebhookDeliveryRequested(self.decode(payload).await?)
            }
            EventType::WebhookSubscriptionDisabled => {
                AnyEvent::WebhookSubscriptionDisabled(self.decode(payload).await?)
            }
        })
    }
}
