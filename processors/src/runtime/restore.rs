//! Brings a partition's store up to date from its changelog before the task processes input.

use std::path::Path;
use std::time::{Duration, Instant};

use orderflow_kafka::watermarks;
use orderflow_state::{Changes, PartitionStore};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use orderflow_telemetry::names::{RESTORE_RECORDS, RESTORE_REMAINING};

use super::RuntimeError;

/// Store metadata key holding the next changelog offset the store has not seen yet.
pub(crate) const CHECKPOINT_KEY: &str = "changelog.next-offset";
/// Store metadata key holding the id of the Kafka cluster the store was built from.
const CLUSTER_KEY: &str = "changelog.cluster-id";
/// Restored records are applied to RocksDB in batches of this many.
const RESTORE_BATCH_RECORDS: usize = 10_000;
/// How often a long restore says how far it got.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(5);
const POLL_TIMEOUT: Duration = Duration::from_millis(200);

pub(crate) struct Restorer {
    pub consumer: BaseConsumer,
    pub watermarks: BaseConsumer,
    pub processor: &'static str,
    /// How long restore waits without progress, e.g. behind a crashed producer's transaction
    /// that the broker has not yet timed out.
    pub stall_limit: Duration,
    /// The cluster the changelog lives on, when it told us.
    pub cluster_id: Option<String>,
}

pub(crate) struct Restored {
    pub store: PartitionStore,
    pub records: u64,
    pub elapsed: Duration,
    pub rebuilt: bool,
}

impl Restorer {
    fn error(&self, changelog: &str, partition: i32, reason: String) -> RuntimeError {
        RuntimeError::Restore {
            processor: self.processor,
            changelog: changelog.to_owned(),
            partition,
            reason,
        }
    }

    /// Opens the store at `path` and replays the changelog partition from the store's
    /// checkpoint to the log end. A store without a checkpoint, whose checkpoint does not lie
    /// within the changelog (the topic was truncated), or that was built from another cluster
    /// is wiped and rebuilt.
    pub fn restore(
        &self,
        path: &Path,
        changelog: &str,
        partition: i32,
    ) -> Result<Restored, RuntimeError> {
        let started = Instant::now();
        let state = |source| RuntimeError::State {
            processor: self.processor,
            source,
        };
        let (low, high) = watermarks(&self.watermarks, changelog, partition)
            .map_err(|e| self.error(changelog, partition, e.to_string()))?;

        let mut store = PartitionStore::open(path).map_err(state)?;
        let checkpoint = read_checkpoint(&store).map_err(state)?;
        let built_from = store.get_meta(CLUSTER_KEY).map_err(state)?;
        let same_cluster = match (&self.cluster_id, built_from) {
            (Some(now), Some(then)) => now.as_bytes() == then.as_slice(),
            // A cluster that does not say leaves only the offsets to judge by.
            (None, _) => true,
            (Some(_), None) => false,
        };
        let trusted = checkpoint.filter(|c| same_cluster && (low..=high).contains(c));
        let rebuilt = trusted.is_none();
        if rebuilt {
            drop(store);
            PartitionStore::destroy(path).map_err(state)?;
            store = PartitionStore::open(path).map_err(state)?;
        }
        let start = trusted.unwrap_or(low);

        let records = if start < high {
            self.replay(&store, changelog, partition, start, high)?
        } else {
            self.apply(&store, &mut Changes::default(), high)
                .map_err(state)?;
            0
        };
        Ok(Restored {
            store,
            records,
            elapsed: started.elapsed(),
            rebuilt,
        })
    }

    /// Reads `[start, end)` with `read_committed`. The consumer's position also moves past
    /// transaction markers and aborted batches, so reaching `end` means every transaction
    /// below the log end was resolved and every committed record was applied.
    fn replay(
        &self,
        store: &PartitionStore,
        changelog: &str,
        partition: i32,
        start: i64,
        end: i64,
    ) -> Result<u64, RuntimeError> {
        let fail = |reason: String| self.error(changelog, partition, reason);
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(changelog, partition, Offset::Offset(start))
            .map_err(|e| fail(e.to_string()))?;
        self.consumer
            .assign(&assignment)
            .map_err(|e| fail(e.to_string()))?;

        let mut batch = Changes::default();
        let mut progress = Progress::new(self.processor, partition, start, end);
        let mut last_progress = Instant::now();
        let mut position = start;
        while position < end {
            // The position is asked for only when it may have reached the end: it also moves
            // past transaction markers, which arrive as no message at all.
            let mut near_end = true;
            match self.consumer.poll(POLL_TIMEOUT) {
                Some(Ok(message)) => {
                    let key = message.key().unwrap_or_default().to_vec();
                    match message.payload() {
                        Some(value) => batch.put(key, value.to_vec()),
                        None => batch.delete(key),
                    }
                    progress.records += 1;
                    last_progress = Instant::now();
                    near_end = message.offset() + 1 >= end;
                    if batch.len() >= RESTORE_BATCH_RECORDS {
                        let next = message.offset() + 1;
                        self.apply(store, &mut batch, next)
                            .map_err(|e| fail(e.to_string()))?;
                        progress.applied(next, changelog);
                    }
                }
                Some(Err(e)) => return Err(fail(e.to_string())),
                None => {}
            }
            if near_end {
                position = self.position(changelog, partition).unwrap_or(position);
            }
            if last_progress.elapsed() > self.stall_limit {
                return Err(fail(format!(
                    "no progress for {:?} at offset {position} of {end}",
                    self.stall_limit
                )));
            }
        }
        self.apply(store, &mut batch, position)
            .map_err(|e| fail(e.to_string()))?;
        progress.applied(position, changelog);
        self.consumer.unassign().map_err(|e| fail(e.to_string()))?;
        Ok(progress.records)
    }

    fn position(&self, changelog: &str, partition: i32) -> Option<i64> {
        let positions = self.consumer.position().ok()?;
        match positions.find_partition(changelog, partition)?.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        }
    }

    fn apply(
        &self,
        store: &PartitionStore,
        batch: &mut Changes,
        next_offset: i64,
    ) -> Result<(), orderflow_state::StateError> {
        let checkpoint = next_offset.to_be_bytes();
        let cluster = self.cluster_id.as_deref().unwrap_or_default();
        let meta: [(&str, &[u8]); 2] = [
            (CHECKPOINT_KEY, &checkpoint),
            (CLUSTER_KEY, cluster.as_bytes()),
        ];
        store.apply(batch, &meta)?;
        batch.clear();
        Ok(())
    }
}

/// How far a restore got: logged every [`PROGRESS_INTERVAL`] with its rate and percentage,
/// and kept in the restore metrics at every applied batch.
struct Progress {
    processor: &'static str,
    partition: i32,
    start: i64,
    end: i64,
    records: u64,
    counted: u64,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    fn new(processor: &'static str, partition: i32, start: i64, end: i64) -> Self {
        let now = Instant::now();
        Self {
            processor,
            partition,
            start,
            end,
            records: 0,
            counted: 0,
            started: now,
            last_log: now,
        }
    }

    /// Everything below `next_offset` is in the store.
    fn applied(&mut self, next_offset: i64, changelog: &str) {
        let processor = self.processor;
        let partition = self.partition.to_string();
        metrics::counter!(RESTORE_RECORDS, "processor" => processor)
            .increment(self.records - self.counted);
        self.counted = self.records;
        let remaining = (self.end - next_offset).max(0);
        metrics::gauge!(RESTORE_REMAINING, "processor" => processor, "partition" => partition)
            .set(remaining as f64);
        if self.last_log.elapsed() < PROGRESS_INTERVAL || remaining == 0 {
            return;
        }
        self.last_log = Instant::now();
        let span = (self.end - self.start).max(1) as f64;
        let percent = ((next_offset - self.start) as f64 / span * 100.0).round() as u64;
        let seconds = self.started.elapsed().as_secs_f64().max(1e-6);
        tracing::info!(
            processor,
            changelog,
            partition = self.partition,
            records = self.records,
            remaining_offsets = remaining,
            percent,
            records_per_sec = (self.records as f64 / seconds).round() as u64,
            "store restoring"
        );
    }
}

pub(crate) fn read_checkpoint(
    store: &PartitionStore,
) -> Result<Option<i64>, orderflow_state::StateError> {
    Ok(store
        .get_meta(CHECKPOINT_KEY)?
        .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
        .map(i64::from_be_bytes))
}
