//! Records that cannot be processed are written, unchanged, to the dead-letter topic, with
//! headers that say why and where they came from, inside the same transaction as the
//! progress past them; processing then goes on.

use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::Message;

pub const ERROR_HEADER: &str = "orderflow.dlq.error";
pub const TOPIC_HEADER: &str = "orderflow.dlq.topic";
pub const PARTITION_HEADER: &str = "orderflow.dlq.partition";
pub const OFFSET_HEADER: &str = "orderflow.dlq.offset";
pub const PROCESSOR_HEADER: &str = "orderflow.dlq.processor";

/// The original headers followed by the dead-letter headers.
pub(crate) fn headers(message: &BorrowedMessage<'_>, processor: &str, error: &str) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new();
    if let Some(original) = message.headers() {
        for header in original.iter() {
            headers = headers.insert(header);
        }
    }
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    for (key, value) in [
        (ERROR_HEADER, error),
        (TOPIC_HEADER, message.topic()),
        (PARTITION_HEADER, partition.as_str()),
        (OFFSET_HEADER, offset.as_str()),
        (PROCESSOR_HEADER, processor),
    ] {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    headers
}
