//! How orderflow talks to Kafka: client settings every component shares and the creation of
//! the topics the pipeline needs.

mod cluster;
mod offsets;
mod settings;
mod topics;

pub use cluster::cluster_id;
pub use offsets::{end_offsets, watermarks};
pub use settings::KafkaSettings;
pub use topics::{ensure_topics, TopicError};
