//! Where partitions end, asked in a way that survives a topic that was created a moment ago.

use std::time::{Duration, Instant};

use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// Bound on one watermark request.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a partition may lack a leader (just created, or during a leader election).
const LEADER_WAIT: Duration = Duration::from_secs(30);

fn leader_missing(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::NotLeaderForPartition
                | RDKafkaErrorCode::LeaderNotAvailable
                | RDKafkaErrorCode::UnknownTopicOrPartition
                | RDKafkaErrorCode::NotCoordinator
        )
    )
}

/// The low and high watermark of a partition, as the consumer's isolation level sees them: the
/// high one is the log end for `read_uncommitted`, the last stable offset for `read_committed`.
/// Waits out a partition without a leader. Blocks; call it from a blocking context.
pub fn watermarks<C: ConsumerContext, K: Consumer<C>>(
    consumer: &K,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64), KafkaError> {
    let started = Instant::now();
    loop {
        match consumer.fetch_watermarks(topic, partition, CALL_TIMEOUT) {
            Err(e) if leader_missing(&e) && started.elapsed() < LEADER_WAIT => {
                std::thread::sleep(Duration::from_millis(200));
            }
            result => return result,
        }
    }
}

/// The high watermark of each of a topic's first `partitions` partitions; see [`watermarks`].
pub fn end_offsets<C: ConsumerContext, K: Consumer<C>>(
    consumer: &K,
    topic: &str,
    partitions: i32,
) -> Result<Vec<i64>, KafkaError> {
    (0..partitions)
        .map(|partition| watermarks(consumer, topic, partition).map(|(_, high)| high))
        .collect()
}
