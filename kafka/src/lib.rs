//! How orderflow talks to Kafka: client settings every component shares, the creation of the
//! topics the pipeline needs, and the headers (CloudEvents, trace context) on every event.

mod cluster;
pub mod headers;
mod offsets;
mod settings;
mod topics;
pub mod trace;

pub use cluster::cluster_id;
pub use headers::EventHeaders;
pub use offsets::{end_offsets, watermarks};
pub use settings::KafkaSettings;
pub use topics::{ensure_topics, TopicError};
pub use trace::TraceContext;
