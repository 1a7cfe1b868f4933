//! The Kafka clients of one runtime instance and why each is configured as it is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rdkafka::consumer::BaseConsumer;
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext};

use super::lag::{LagReporter, STATISTICS_INTERVAL_MS};
use super::{Environment, RuntimeError, Topology};

/// Names derived from the processor and instance, fixed for the instance's life.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    pub processor: &'static str,
    pub group: String,
    pub changelog: String,
    pub dead_letter: String,
    pub transactional_id: String,
}

impl Names {
    pub fn new(env: &Environment, topology: &Topology) -> Self {
        let group = env.topics.consumer_group(topology.name);
        Self {
            processor: topology.name,
            changelog: env.topics.changelog(&group, topology.store),
            dead_letter: env.topics.dead_letter(),
            transactional_id: format!("{group}-{}", env.settings.instance_id),
            group,
        }
    }
}

/// Remembers the offset of the last changelog record delivered to each partition, which
/// becomes the store's checkpoint once its transaction commits.
#[derive(Default)]
pub(crate) struct DeliveryLog {
    changelog: String,
    last_offsets: Mutex<HashMap<i32, i64>>,
}

impl DeliveryLog {
    pub fn new(changelog: &str) -> Arc<Self> {
        Arc::new(Self {
            changelog: changelog.to_owned(),
            last_offsets: Mutex::default(),
        })
    }

    pub fn last_offset(&self, partition: i32) -> Option<i64> {
        let offsets = self.last_offsets.lock().unwrap_or_else(|e| e.into_inner());
        offsets.get(&partition).copied()
    }
}

pub(crate) struct Deliveries(pub Arc<DeliveryLog>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        // A failed delivery fails the transaction's commit; only successes matter here.
        if let Ok(message) = result {
            if message.topic() == self.0.changelog {
                let mut offsets = self
                    .0
                    .last_offsets
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                let last = offsets.entry(message.partition()).or_insert(-1);
                *last = (*last).max(message.offset());
            }
        }
    }
}

pub(crate) type TxnProducer = ThreadedProducer<Deliveries>;

fn client_error<'a>(
    names: &'a Names,
    client: &'static str,
) -> impl FnOnce(rdkafka::error::KafkaError) -> RuntimeError + 'a {
    move |source| RuntimeError::Client {
        processor: names.processor,
        client,
        source,
    }
}

/// The transactional producer: a stable `transactional.id` per instance lets a restarted
/// instance fence its own predecessor and abort the transaction it left open.
pub(crate) fn producer(
    env: &Environment,
    names: &Names,
    log: Arc<DeliveryLog>,
) -> Result<TxnProducer, RuntimeError> {
    let mut config = env.kafka.producer_config(&names.transactional_id);
    config.set("transactional.id", &names.transactional_id).set(
        "transaction.timeout.ms",
        env.settings.transaction_timeout_ms.to_string(),
    );
    config
        .create_with_context(Deliveries(log))
        .map_err(client_error(names, "producer"))
}

/// Input consumers read only committed records and never commit on their own: offsets are
/// committed by the producer, inside the transaction that holds the records' effects.
fn input_config(env: &Environment, client_id: &str) -> ClientConfig {
    let mut config = env.kafka.reader_config(client_id);
    config
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest");
    config
}

/// Inputs that count toward the group's lag report their statistics.
fn lagging_input_config(env: &Environment, client_id: &str) -> ClientConfig {
    let mut config = input_config(env, client_id);
    config.set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
    config
}

/// The group member: it holds the lead and stateless inputs and carries the rebalance callbacks.
pub(crate) fn group_config(env: &Environment, names: &Names) -> ClientConfig {
    let mut config = lagging_input_config(env, &format!("{}-consumer", names.transactional_id));
    config
        .set("group.id", &names.group)
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set(
            "session.timeout.ms",
            env.settings.session_timeout_ms.to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            (env.settings.session_timeout_ms / 4).to_string(),
        );
    config
}

/// Reads the non-lead stateful inputs for the partitions the group gave the lead.
pub(crate) fn follower(
    env: &Environment,
    names: &Names,
) -> Result<BaseConsumer<LagReporter>, RuntimeError> {
    let reporter = LagReporter {
        group: names.group.clone(),
    };
    lagging_input_config(env, &format!("{}-follower", names.transactional_id))
        .create_with_context(reporter)
        .map_err(client_error(names, "follower consumer"))
}

/// Reads a changelog partition from a given offset up to its end, outside any group.
pub(crate) fn restorer(env: &Environment, names: &Names) -> Result<BaseConsumer, RuntimeError> {
    let mut config = input_config(env, &format!("{}-restore", names.transactional_id));
    config.set("fetch.max.bytes", "52428800");
    config
        .create()
        .map_err(client_error(names, "restore consumer"))
}

/// Asks for true log-end offsets: with `read_uncommitted` a watermark query returns the high
/// watermark, whereas a `read_committed` client would get the last stable offset.
pub(crate) fn watermarks(env: &Environment, names: &Names) -> Result<BaseConsumer, RuntimeError> {
    let mut config = env
        .kafka
        .reader_config(&format!("{}-watermarks", names.transactional_id));
    config.set("isolation.level", "read_uncommitted");
    config
        .create()
        .map_err(client_error(names, "watermark consumer"))
}
