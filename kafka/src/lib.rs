//! How orderflow talks to Kafka: client settings every component shares and the creation of
//! the topics the pipeline needs.

mod settings;
mod topics;

pub use settings::KafkaSettings;
pub use topics::{ensure_topics, TopicError};
