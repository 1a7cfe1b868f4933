//! The contract of the pipeline: every event orderflow writes to Kafka, its Avro schema, the
//! topic it lives on and the Confluent wire format that carries it.
//!
//! Each event type has exactly one topic, named `<namespace>.<event type>` (for example
//! `orderflow.order.created`), and one schema registered under `<topic>-value` (the topic name
//! strategy). Record keys are plain UTF-8 strings: the order id for order events, the SKU for
//! stock events, the subscription id for webhook subscriptions.
//!
//! Every subject is declared BACKWARD compatible before its schema is registered
//! (`compatibility`); the schema versions that shipped are kept in `avro/released/`.

pub mod clock;
pub mod codec;
pub mod compatibility;
pub mod events;
pub mod ids;
pub mod topics;

pub use codec::{Codec, CodecError};
pub use events::{Event, EventType};
pub use ids::{CustomerId, EventId, OrderId, PaymentToken, Sku, SubscriptionId};
pub use topics::{TopicSpec, Topics};
