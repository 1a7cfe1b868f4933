//! Watches output topics as a downstream consumer would (`read_committed`) and notes when
//! each record arrived, which is what the processing and recovery benchmarks time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use orderflow_kafka::KafkaSettings;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::commands::waiting::wait_for_count;

/// Shortest span a rate is computed over.
const MIN_SPAN: Duration = Duration::from_millis(500);

pub struct Watch {
    count: Arc<AtomicU64>,
    arrivals: Arc<Mutex<Vec<(i32, Instant)>>>,
    stop: CancellationToken,
}

impl Watch {
    /// Reads `topics` (each with `partitions` partitions) from their beginning.
    pub fn start(
        kafka: &KafkaSettings,
        topics: &[String],
        partitions: i32,
    ) -> anyhow::Result<Self> {
        let mut config = kafka.reader_config("orderflow-bench-watch");
        config.set("isolation.level", "read_committed");
        let consumer: StreamConsumer = config.create()?;
        let mut assignment = TopicPartitionList::new();
        for topic in topics {
            for partition in 0..partitions {
                assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
            }
        }
        consumer.assign(&assignment)?;
        let watch = Self {
            count: Arc::default(),
            arrivals: Arc::default(),
            stop: CancellationToken::new(),
        };
        let (count, arrivals, stop) = (
            watch.count.clone(),
            watch.arrivals.clone(),
            watch.stop.clone(),
        );
        tokio::spawn(async move {
            let mut stream = consumer.stream();
            loop {
                let message = tokio::select! {
                    _ = stop.cancelled() => break,
                    message = stream.next() => message,
                };
                let Some(Ok(message)) = message else { continue };
                arrivals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((message.partition(), Instant::now()));
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(watch)
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Waits until `n` records arrived, showing progress; fails after `limit` without any.
    pub async fn wait_for(
        &self,
        n: u64,
        limit: Duration,
        what: &'static str,
    ) -> anyhow::Result<()> {
        wait_for_count("bench", what, n, limit, || self.count()).await
    }

    /// Every arrival so far: partition and instant.
    pub fn arrivals(&self) -> Vec<(i32, Instant)> {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Records per second between the arrival of the `from` share of `n` and the last one,
    /// which leaves start-up (joining the group, restoring) out of the rate. `NaN` when that
    /// span is too short to time: the records came in a handful of transactions.
    pub fn steady_rate(&self, from: f64) -> f64 {
        let mut times: Vec<Instant> = self.arrivals().into_iter().map(|(_, t)| t).collect();
        times.sort_unstable();
        let first = ((times.len() as f64 * from) as usize).min(times.len().saturating_sub(1));
        match (times.get(first), times.last()) {
            (Some(a), Some(b)) if *b - *a >= MIN_SPAN => {
                // The span holds one interval fewer than it has arrivals.
                (times.len() - first - 1) as f64 / (*b - *a).as_secs_f64()
            }
            _ => f64::NAN,
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
