//! Consumer lag, from librdkafka's statistics: for every partition a consumer reads, how many
//! records lie between what the processor was handed and the partition's last stable offset.
//! Reported as a gauge every [`STATISTICS_INTERVAL_MS`].
//!
//! librdkafka's own `consumer_lag` counts from the consumer's committed offset, which stays
//! unknown here: offsets are committed by the transactional producer, not by the consumer.

use orderflow_telemetry::names::CONSUMER_LAG;
use rdkafka::consumer::ConsumerContext;
use rdkafka::statistics::Partition;
use rdkafka::{ClientContext, Statistics};

/// How often librdkafka hands over its statistics, in ms.
pub(crate) const STATISTICS_INTERVAL_MS: &str = "5000";

/// Records between the processor's position in a partition and the partition's end, if the
/// statistics know both. The end is the last stable offset, what `read_committed` can reach.
fn lag(partition: &Partition) -> Option<i64> {
    let end = [partition.ls_offset, partition.hi_offset]
        .into_iter()
        .find(|o| *o >= 0)?;
    // What the processor was handed, or, before it was handed anything, where fetching
    // starts.
    let position = [partition.app_offset, partition.next_offset]
        .into_iter()
        .find(|o| *o >= 0)?;
    Some((end - position).max(0))
}

/// Sets the lag gauge of every partition whose lag the statistics tell.
pub(crate) fn report(group: &str, statistics: &Statistics) {
    for (topic, stats) in &statistics.topics {
        for (number, partition) in &stats.partitions {
            // -1 is librdkafka's internal "unassigned" partition.
            let (true, Some(lag)) = (*number >= 0, lag(partition)) else {
                continue;
            };
            metrics::gauge!(
                CONSUMER_LAG,
                "group" => group.to_owned(),
                "topic" => topic.clone(),
                "partition" => number.to_string(),
            )
            .set(lag as f64);
        }
    }
}

/// The context of consumers that report lag and nothing else, such as the follower inputs'.
pub(crate) struct LagReporter {
    pub group: String,
}

impl ClientContext for LagReporter {
    fn stats(&self, statistics: Statistics) {
        report(&self.group, &statistics);
    }
}

impl ConsumerContext for LagReporter {}
