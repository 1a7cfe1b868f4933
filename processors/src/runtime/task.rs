//! One processor instance: its clients, owned stores and open transaction, and the loop that
//! drives them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use orderflow_kafka::headers::trace_of;
use orderflow_kafka::{ensure_topics, TraceContext};
use orderflow_schemas::clock::now_ms;
use orderflow_schemas::events::KeyKind;
use orderflow_schemas::{EventType, TopicSpec};
use orderflow_state::{Changes, PartitionStore, StagedStore};
use orderflow_telemetry::health;
use orderflow_telemetry::names::{DEAD_LETTERS, RECORDS_PROCESSED};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::producer::BaseRecord;
use rdkafka::Message;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use super::clients::{self, DeliveryLog, Names, TxnProducer};
use super::context::{Context, Output, Scope};
use super::dead_letter;
use super::lag::LagReporter;
use super::rebalance::TaskContext;
use super::restore::Restorer;
use super::transaction::{init_transactions, Fault, Transaction};
use super::{Environment, ProcessError, Processor, RuntimeError, Topology};

/// How often timers are checked, per owned store partition.
const PUNCTUATE_INTERVAL: Duration = Duration::from_secs(1);
/// Longest wait in one poll of the group consumer when no input is flowing.
const IDLE_POLL: Duration = Duration::from_millis(10);
/// Pause between attempts to learn the committed offsets of follower inputs.
const FOLLOWER_RETRY: Duration = Duration::from_secs(1);
/// Pauses between attempts while something outside the record keeps failing.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

pub(crate) struct OwnedStore {
    pub store: PartitionStore,
    /// Changes staged by the open transaction, applied when it commits.
    pub changes: Changes,
}

/// Doubling pauses, reset by a successful commit.
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub fn next(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(BACKOFF_MAX);
        delay
    }

    fn reset(&mut self) {
        self.next = BACKOFF_FIRST;
    }
}

pub(crate) struct Task {
    pub processor: Box<dyn Processor>,
    pub topology: Topology,
    pub env: Environment,
    pub names: Names,
    pub runtime: Handle,
    pub producer: TxnProducer,
    pub deliveries: Arc<DeliveryLog>,
    pub follower: Option<Arc<BaseConsumer<LagReporter>>>,
    pub restorer: Restorer,
    pub stores: BTreeMap<i32, OwnedStore>,
    /// Tasks whose follower inputs still wait for their committed offsets.
    pub pending_followers: Vec<i32>,
    pub txn: Transaction,
    pub rewind_needed: bool,
    pub failure: Option<RuntimeError>,
    pub backoff: Backoff,
    /// Set once the loop has ended: partitions assigned while the consumer closes are not
    /// restored, since nothing will be read from them.
    pub closing: bool,
}

/// Runs one instance of `processor` until `shutdown` is cancelled or it fails for good. Call it
/// from a blocking thread (`spawn_blocking`): it polls Kafka and makes blocking transaction
/// calls, which must not hold up the async runtime.
pub fn run(
    processor: Box<dyn Processor>,
    env: Environment,
    shutdown: CancellationToken,
) -> Result<(), RuntimeError> {
    let runtime = Handle::current();
    let topology = processor.topology();
    let names = Names::new(&env, &topology);
    runtime
        .block_on(env.codec.register(topology.outputs))
        .map_err(|source| RuntimeError::Schemas {
            processor: topology.name,
            source,
        })?;
    runtime
        .block_on(ensure_topics(
            &env.kafka,
            &[changelog_spec(&env, &topology, &names)],
        ))
        .map_err(|source| RuntimeError::Topics {
            processor: topology.name,
            source,
        })?;

    health::register(topology.name);
    let task = Task::new(processor, env, names, runtime)?;
    let subscriptions = task.subscriptions();
    let config = clients::group_config(&task.env, &task.names);
    let processor_name = task.names.processor;
    let consumer: BaseConsumer<TaskContext> = config
        .create_with_context(TaskContext::new(task))
        .map_err(|source| RuntimeError::Client {
            processor: processor_name,
            client: "group consumer",
            source,
        })?;
    let topics: Vec<&str> = subscriptions.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|source| RuntimeError::Kafka {
            processor: processor_name,
            call: "subscribe",
            source,
        })?;
    tracing::info!(processor = processor_name, topics = ?topics, "processor started");

    let result = drive(&consumer, &shutdown);
    if result.is_err() {
        health::set_dead(processor_name);
    }
    health::set_ready(processor_name, false);
    let mut task = consumer.context().lock();
    task.closing = true;
    let closing = task.commit(&consumer);
    if let Err(fault) = closing {
        task.recover(fault, false);
    }
    drop(task);
    consumer.unsubscribe();
    tracing::info!(processor = processor_name, "processor stopped");
    result
}

/// The store's changelog: compacted, with one partition per task, so that store partition `p`
/// is restored from changelog partition `p`.
fn changelog_spec(env: &Environment, topology: &Topology, names: &Names) -> TopicSpec {
    let partitions = topology
        .stateful_inputs
        .first()
        .map(|lead| env.topics.partitions(lead.key_kind()))
        .unwrap_or(1);
    TopicSpec {
        name: names.changelog.clone(),
        partitions,
        compacted: true,
    }
}

/// The span of one record's handling: the order (or SKU, or subscription) it is about, and its
/// trace, so every log line of its handling names both.
fn record_span(event_type: EventType, key: Option<&[u8]>, trace: &TraceContext) -> tracing::Span {
    let key = key
        .and_then(|k| std::str::from_utf8(k).ok())
        .unwrap_or_default();
    let trace_id = trace.trace_id_hex();
    match event_type.key_kind() {
        KeyKind::OrderId => tracing::info_span!("order", order_id = key, trace_id),
        KeyKind::Sku => tracing::info_span!("stock", sku = key, trace_id),
        KeyKind::SubscriptionId => {
            tracing::info_span!("subscription", subscription_id = key, trace_id)
        }
    }
}

/// The loop: read a record from the group or the follower consumer, process it, and commit
/// when the interval is up or, with `commit_when_idle`, when no record is waiting (under load
/// records keep arriving while a commit runs, so transactions still grow with the load);
/// fire timers once a second.
fn drive(
    consumer: &BaseConsumer<TaskContext>,
    shutdown: &CancellationToken,
) -> Result<(), RuntimeError> {
    let mut last_punctuate = Instant::now();
    let mut last_follower_attempt = Instant::now();
    let mut idle = false;
    while !shutdown.is_cancelled() {
        // Rebalance callbacks run inside this poll; the task is not locked meanwhile.
        let message = consumer.poll(if idle { IDLE_POLL } else { Duration::ZERO });
        let follower = consumer.context().lock().follower.clone();
        let mut task = consumer.context().lock();
        if let Some(failure) = task.failure.take() {
            return Err(failure);
        }
        if task.rewind_needed {
            if let Err(fault) = task.rewind(consumer) {
                task.recover(fault, true);
            }
            continue;
        }
        if !task.pending_followers.is_empty() && last_follower_attempt.elapsed() >= FOLLOWER_RETRY {
            last_follower_attempt = Instant::now();
            task.assign_followers(consumer);
        }

        idle = true;
        if let Some(message) = message {
            idle = false;
            match message {
                Ok(message) => task.handle(&message),
                Err(e) => {
                    tracing::warn!(processor = task.names.processor, error = %e, "consumer error")
                }
            }
        }
        if let Some(message) = follower.as_deref().and_then(|f| f.poll(Duration::ZERO)) {
            idle = false;
            match message {
                Ok(message) => task.handle(&message),
                Err(e) => {
                    tracing::warn!(processor = task.names.processor, error = %e, "consumer error")
                }
            }
        }

        if last_punctuate.elapsed() >= PUNCTUATE_INTERVAL && !task.rewind_needed {
            last_punctuate = Instant::now();
            task.punctuate();
        }
        let settings = &task.env.settings;
        let due = task.txn.due(settings.commit_interval())
            || (idle && settings.commit_when_idle && task.txn.open);
        if due && !task.rewind_needed {
            match task.commit(consumer) {
                Ok(()) => task.backoff.reset(),
                Err(fault) => task.recover(fault, true),
            }
        }
    }
    Ok(())
}

impl Task {
    fn new(
        processor: Box<dyn Processor>,
        env: Environment,
        names: Names,
        runtime: Handle,
    ) -> Result<Self, RuntimeError> {
        let topology = processor.topology();
        let deliveries = DeliveryLog::new(&names.changelog);
        let producer = clients::producer(&env, &names, deliveries.clone())?;
        init_transactions(&producer, names.processor)?;
        let follower = if topology.stateful_inputs.len() > 1 {
            Some(Arc::new(clients::follower(&env, &names)?))
        } else {
            None
        };
        let watermarks = clients::watermarks(&env, &names)?;
        let cluster_id = orderflow_kafka::cluster_id(&watermarks);
        let restorer = Restorer {
            consumer: clients::restorer(&env, &names)?,
            watermarks,
            processor: names.processor,
            stall_limit: Duration::from_millis(env.settings.transaction_timeout_ms * 3),
            cluster_id,
        };
        Ok(Self {
            processor,
            topology,
            env,
            names,
            runtime,
            producer,
            deliveries,
            follower,
            restorer,
            stores: BTreeMap::new(),
            pending_followers: Vec::new(),
            txn: Transaction::default(),
            rewind_needed: false,
            failure: None,
            backoff: Backoff {
                next: BACKOFF_FIRST,
            },
            closing: false,
        })
    }

    /// The group subscribes to the stateless inputs and the lead stateful input only.
    fn subscriptions(&self) -> Vec<String> {
        self.topology
            .stateless_inputs
            .iter()
            .chain(self.topology.stateful_inputs.first())
            .map(|t| self.env.topics.of(*t).to_owned())
            .collect()
    }

    pub(crate) fn handle(&mut self, message: &BorrowedMessage<'_>) {
        // After a fault, records already fetched are stale until the rewind has run.
        if self.rewind_needed {
            return;
        }
        if let Err(fault) = self.process_record(message) {
            self.recover(fault, true);
        }
    }

    fn process_record(&mut self, message: &BorrowedMessage<'_>) -> Result<(), Fault> {
        self.ensure_transaction()?;
        self.txn.consumed.insert(
            (message.topic().to_owned(), message.partition()),
            message.offset() + 1,
        );

        let Some(event_type) = self.env.topics.event_type_of(message.topic()) else {
            return self.dead_letter(message, "record from a topic this processor does not read");
        };
        let Some(payload) = message.payload() else {
            return self.dead_letter(message, "record has no value");
        };
        let decoded = self
            .runtime
            .block_on(self.env.codec.decode_any(event_type, payload));
        let event = match decoded {
            Ok(event) => event,
            Err(e) if e.is_retriable() => return Err(Fault::Transient(e.to_string())),
            Err(e) => return self.dead_letter(message, &e.to_string()),
        };

        let processor = self.names.processor;
        let topic = message.topic().to_owned();
        metrics::counter!(RECORDS_PROCESSED, "processor" => processor, "topic" => topic)
            .increment(1);
        let stateful = self.topology.stateful_inputs.contains(&event_type);
        let partition = stateful.then_some(message.partition());
        let trace = trace_of(message.headers())
            .map(|parent| parent.child())
            .unwrap_or_else(TraceContext::start);
        let _span = record_span(event_type, message.key(), &trace).entered();
        match self.apply_processor(partition, trace, |p, ctx| p.process(event, ctx)) {
            Ok(()) => Ok(()),
            Err(ProcessError::Rejected(reason)) => self.dead_letter(message, &reason),
            Err(ProcessError::Transient(reason)) => Err(Fault::Transient(reason)),
        }
    }

    /// Runs the processor with the store of `partition` (none for stateless input). Its
    /// outputs and staged changes join the transaction only if it succeeds, so a record that
    /// fails leaves no trace but its dead letter.
    fn apply_processor(
        &mut self,
        partition: Option<i32>,
        trace: TraceContext,
        step: impl FnOnce(&mut dyn Processor, &mut Context<'_>) -> Result<(), ProcessError>,
    ) -> Result<(), ProcessError> {
        let mut outputs: Vec<Output> = Vec::new();
        let mut record_changes = Changes::default();
        {
            let store = match partition {
                Some(p) => {
                    let owned = self.stores.get(&p).ok_or_else(|| {
                        ProcessError::Transient(format!("store partition {p} is not open"))
                    })?;
                    Some(StagedStore::new(
                        &owned.store,
                        &owned.changes,
                        &mut record_changes,
                    ))
                }
                None => None,
            };
            let scope = Scope {
                now_ms: now_ms(),
                partition: partition.unwrap_or(-1),
                processor: self.names.processor,
                trace,
            };
            let mut ctx = Context::new(
                scope,
                &self.env.codec,
                &self.env.topics,
                &self.runtime,
                store,
                &mut outputs,
            );
            step(self.processor.as_mut(), &mut ctx)?;
        }

        if outputs.is_empty() && record_changes.is_empty() {
            return Ok(());
        }
        self.ensure_transaction()
            .map_err(|f| ProcessError::Transient(format!("{f:?}")))?;
        if let Some(owned) = partition.and_then(|p| self.stores.get_mut(&p)) {
            owned.changes.absorb(record_changes);
        }
        for output in &outputs {
            let record = BaseRecord::<[u8], [u8]>::to(&output.topic)
                .key(output.key.as_bytes())
                .payload(output.payload.as_slice())
                .headers(output.headers.clone());
            self.send(record)
                .map_err(|f| ProcessError::Transient(format!("{f:?}")))?;
        }
        Ok(())
    }

    fn punctuate(&mut self) {
        let partitions: Vec<i32> = self.stores.keys().copied().collect();
        for partition in partitions {
            let trace = TraceContext::start();
            let fired = self.apply_processor(Some(partition), trace, |p, ctx| p.punctuate(ctx));
            if let Err(e) = fired {
                self.recover(Fault::Transient(e.to_string()), true);
                return;
            }
        }
    }

    fn dead_letter(&mut self, message: &BorrowedMessage<'_>, reason: &str) -> Result<(), Fault> {
        tracing::warn!(
            processor = self.names.processor,
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset(),
            reason,
            "record dead-lettered"
        );
        let (processor, topic) = (self.names.processor, message.topic().to_owned());
        metrics::counter!(DEAD_LETTERS, "processor" => processor, "topic" => topic).increment(1);
        let headers = dead_letter::headers(message, self.names.processor, reason);
        let mut record = BaseRecord::<[u8], [u8]>::to(&self.names.dead_letter).headers(headers);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        self.send(record)
    }
}
