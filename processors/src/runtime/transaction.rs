//! The transaction cycle of a task: begin on the first record, commit on an interval, abort
//! and rewind on failure. The order of the commit steps is what makes processing exactly-once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, Producer, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use orderflow_telemetry::names::TRANSACTIONS;

use super::clients;
use super::rebalance::TaskContext;
use super::restore::CHECKPOINT_KEY;
use super::task::Task;
use super::RuntimeError;

/// Bound on each blocking transaction call (commit, abort, offsets).
pub(crate) const TXN_CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a commit looks whether its records were all acknowledged.
const ACKNOWLEDGEMENT_CHECK: Duration = Duration::from_millis(1);
/// Attempts at a transaction call that failed with a retriable error.
const RETRIABLE_ATTEMPTS: usize = 5;

/// Why the open transaction cannot go on.
#[derive(Debug)]
pub(crate) enum Fault {
    /// Abort, drop staged state, re-read from the committed offsets after a pause.
    Transient(String),
    /// The producer is fenced or failed fatally: replace it, then do as for `Transient`.
    Fatal(String),
}

pub(crate) fn classify(call: &str, error: KafkaError) -> Fault {
    let fatal = match &error {
        KafkaError::Transaction(e) => e.is_fatal(),
        KafkaError::MessageProduction(code) => matches!(
            code,
            RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
        ),
        _ => false,
    };
    let reason = format!("{call}: {error}");
    if fatal {
        Fault::Fatal(reason)
    } else {
        Fault::Transient(reason)
    }
}

fn retriable(error: &KafkaError) -> bool {
    matches!(error, KafkaError::Transaction(e) if e.is_retriable())
}

/// Runs a transaction call again while librdkafka says a retry may succeed.
fn with_retries(
    call: &str,
    mut attempt: impl FnMut() -> Result<(), KafkaError>,
) -> Result<(), Fault> {
    let mut tries = 1;
    loop {
        match attempt() {
            Ok(()) => return Ok(()),
            Err(e) if retriable(&e) && tries < RETRIABLE_ATTEMPTS => {
                tracing::warn!(call, error = %e, attempt = tries, "retrying transaction call");
                tries += 1;
            }
            Err(e) => return Err(classify(call, e)),
        }
    }
}

/// The open transaction: which input positions it carries.
#[derive(Default)]
pub(crate) struct Transaction {
    pub open: bool,
    pub opened_at: Option<Instant>,
    /// Next offset to read per input partition consumed in this transaction.
    pub consumed: HashMap<(String, i32), i64>,
}

impl Transaction {
    fn offsets(&self) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &self.consumed {
            let _ = list.add_partition_offset(topic, *partition, Offset::Offset(*offset));
        }
        list
    }

    pub fn due(&self, interval: Duration) -> bool {
        self.open && self.opened_at.is_some_and(|t| t.elapsed() >= interval)
    }
}

impl Task {
    pub(crate) fn ensure_transaction(&mut self) -> Result<(), Fault> {
        if !self.txn.open {
            self.producer
                .begin_transaction()
                .map_err(|e| classify("begin_transaction", e))?;
            self.txn.open = true;
            self.txn.opened_at = Some(Instant::now());
        }
        Ok(())
    }

    /// Commits the open transaction:
    /// 1. staged state changes go to the changelog, partition for partition;
    /// 2. the input offsets join the transaction with the group's metadata, so a zombie from
    ///    an older group generation is fenced instead of committing;
    /// 3. the transaction commits: outputs, changelog and offsets become visible together;
    /// 4. only now the staged changes reach RocksDB, with the changelog position.
    pub(crate) fn commit(&mut self, consumer: &BaseConsumer<TaskContext>) -> Result<(), Fault> {
        if !self.txn.open {
            return Ok(());
        }
        self.send_changelog()?;

        let offsets = self.txn.offsets();
        if offsets.count() > 0 {
            let metadata = consumer
                .group_metadata()
                .ok_or_else(|| Fault::Transient("consumer has no group metadata yet".into()))?;
            with_retries("send_offsets_to_transaction", || {
                self.producer
                    .send_offsets_to_transaction(&offsets, &metadata, TXN_CALL_TIMEOUT)
            })?;
        }
        self.await_acknowledgements();
        with_retries("commit_transaction", || {
            self.producer.commit_transaction(TXN_CALL_TIMEOUT)
        })?;
        self.txn = Transaction::default();
        let processor = self.names.processor;
        metrics::counter!(TRANSACTIONS, "processor" => processor, "result" => "committed")
            .increment(1);

        if let Err(e) = self.apply_committed() {
            // Kafka holds the committed state; the local store is merely behind. Stopping
            // makes the restart restore it from the changelog.
            self.failure = Some(e);
        }
        Ok(())
    }

    /// Waits until Kafka acknowledged every record sent in the transaction. The client's own
    /// commit flushes by polling in 100 ms steps, and on this producer, whose events a
    /// background thread serves, every step lasts its whole 100 ms: each commit took 100 ms
    /// longer than its records did. Waiting here first leaves that flush nothing to wait for.
    /// Records not acknowledged within the transaction timeout never will be in this
    /// transaction: the broker aborts it, and the commit that follows says so.
    fn await_acknowledgements(&self) {
        let limit = Duration::from_millis(self.env.settings.transaction_timeout_ms);
        let deadline = Instant::now() + limit;
        while self.producer.in_flight_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(ACKNOWLEDGEMENT_CHECK);
        }
    }

    fn send_changelog(&mut self) -> Result<(), Fault> {
        let changelog = self.names.changelog.clone();
        let pending: Vec<(i32, Vec<u8>, Option<Vec<u8>>)> = self
            .stores
            .iter()
            .flat_map(|(p, owned)| {
                owned
                    .changes
                    .iter()
                    .map(move |(k, c)| (*p, k.to_vec(), c.value().map(<[u8]>::to_vec)))
            })
            .collect();
        for (partition, key, value) in pending {
            let mut record = BaseRecord::<[u8], [u8]>::to(&changelog)
                .key(key.as_slice())
                .partition(partition);
            if let Some(value) = value.as_deref() {
                record = record.payload(value);
            }
            self.send(record)?;
        }
        Ok(())
    }

    fn apply_committed(&mut self) -> Result<(), RuntimeError> {
        for (partition, owned) in self.stores.iter_mut() {
            if owned.changes.is_empty() {
                continue;
            }
            let next = self
                .deliveries
                .last_offset(*partition)
                .map(|last| last + 1)
                .unwrap_or_default();
            owned
                .store
                .apply(&owned.changes, &[(CHECKPOINT_KEY, &next.to_be_bytes())])
                .map_err(|source| RuntimeError::State {
                    processor: self.names.processor,
                    source,
                })?;
            owned.changes.clear();
        }
        Ok(())
    }

    /// Sends a record within the open transaction, waiting while librdkafka's queue is full.
    pub(crate) fn send(&self, mut record: BaseRecord<'_, [u8], [u8]>) -> Result<(), Fault> {
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(classify("send", e)),
            }
        }
    }

    /// Aborts the open transaction and forgets what it staged.
    pub(crate) fn abort(&mut self) -> Result<(), Fault> {
        for owned in self.stores.values_mut() {
            owned.changes.clear();
        }
        if !std::mem::take(&mut self.txn).open {
            return Ok(());
        }
        let processor = self.names.processor;
        metrics::counter!(TRANSACTIONS, "processor" => processor, "result" => "aborted")
            .increment(1);
        with_retries("abort_transaction", || {
            self.producer.abort_transaction(TXN_CALL_TIMEOUT)
        })
    }

    /// Replaces a producer that is fenced or failed fatally; the new one's
    /// `init_transactions` also aborts whatever the old one left open.
    pub(crate) fn rebuild_producer(&mut self) -> Result<(), RuntimeError> {
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        for owned in self.stores.values_mut() {
            owned.changes.clear();
        }
        self.txn = Transaction::default();
        self.producer = clients::producer(&self.env, &self.names, self.deliveries.clone())?;
        init_transactions(&self.producer, self.names.processor)
    }

    /// Handles a fault: the transaction's work is dropped and input is read again from the
    /// committed offsets. `pause` spaces out attempts while something outside is broken.
    pub(crate) fn recover(&mut self, fault: Fault, pause: bool) {
        let fatal = match &fault {
            Fault::Transient(reason) => {
                tracing::warn!(
                    processor = self.names.processor,
                    reason,
                    "aborting transaction"
                );
                false
            }
            Fault::Fatal(reason) => {
                tracing::error!(
                    processor = self.names.processor,
                    reason,
                    "producer failed; rebuilding it"
                );
                true
            }
        };
        let aborted = if fatal { Err(fault) } else { self.abort() };
        if let Err(fault) = aborted {
            let (Fault::Fatal(reason) | Fault::Transient(reason)) = &fault;
            tracing::error!(
                processor = self.names.processor,
                reason,
                "abort failed; rebuilding the producer"
            );
            if let Err(e) = self.rebuild_producer() {
                self.failure = Some(e);
                return;
            }
        }
        self.rewind_needed = true;
        if pause {
            let delay = self.backoff.next();
            tracing::info!(
                processor = self.names.processor,
                delay_ms = delay.as_millis() as u64,
                "pausing before reading again"
            );
            std::thread::sleep(delay);
        }
    }

    /// Moves every assigned input partition back to its committed offset.
    pub(crate) fn rewind(&mut self, consumer: &BaseConsumer<TaskContext>) -> Result<(), Fault> {
        let transient = |call: &str, e: KafkaError| Fault::Transient(format!("{call}: {e}"));
        let lead = consumer
            .assignment()
            .map_err(|e| transient("assignment", e))?;
        seek_to_committed(consumer, consumer, &lead)?;
        if let Some(follower) = &self.follower {
            let assigned = follower
                .assignment()
                .map_err(|e| transient("assignment", e))?;
            seek_to_committed(consumer, follower.as_ref(), &assigned)?;
        }
        self.rewind_needed = false;
        Ok(())
    }
}

fn seek_to_committed<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
    group: &BaseConsumer<TaskContext>,
    target: &C,
    partitions: &TopicPartitionList,
) -> Result<(), Fault> {
    if partitions.count() == 0 {
        return Ok(());
    }
    let committed = committed_or_beginning(group, partitions)?;
    target
        .seek_partitions(committed, TXN_CALL_TIMEOUT)
        .map_err(|e| Fault::Transient(format!("seek: {e}")))?;
    Ok(())
}

/// The group's committed offsets for `partitions`; those never committed start at the
/// beginning. With `read_committed`, the broker answers only once no transaction that could
/// still commit offsets for these partitions is pending.
pub(crate) fn committed_or_beginning(
    group: &BaseConsumer<TaskContext>,
    partitions: &TopicPartitionList,
) -> Result<TopicPartitionList, Fault> {
    let mut committed = group
        .committed_offsets(partitions.clone(), TXN_CALL_TIMEOUT)
        .map_err(|e| Fault::Transient(format!("committed_offsets: {e}")))?;
    let unset: Vec<(String, i32)> = committed
        .elements()
        .iter()
        .filter(|e| !matches!(e.offset(), Offset::Offset(_)))
        .map(|e| (e.topic().to_owned(), e.partition()))
        .collect();
    for (topic, partition) in unset {
        let _ = committed.set_partition_offset(&topic, partition, Offset::Beginning);
    }
    Ok(committed)
}

pub(crate) fn init_transactions(
    producer: &clients::TxnProducer,
    processor: &'static str,
) -> Result<(), RuntimeError> {
    let mut tries = 1;
    loop {
        match producer.init_transactions(TXN_CALL_TIMEOUT) {
            Ok(()) => return Ok(()),
            Err(e) if retriable(&e) && tries < RETRIABLE_ATTEMPTS => tries += 1,
            Err(source) => {
                return Err(RuntimeError::Kafka {
                    processor,
                    call: "init_transactions",
                    source,
                })
            }
        }
    }
}
