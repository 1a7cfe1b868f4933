//! The exactly-once runtime every stateful processor runs on.
//!
//! One runtime instance is one member of the processor's consumer group. It reads its inputs
//! with `isolation.level=read_committed`, hands each record to the [`Processor`], and writes
//! what the processor emits, the store changes it staged (to the store's compacted changelog)
//! and the input offsets in one Kafka transaction. Only after that transaction commits are the
//! staged changes applied to RocksDB, so local state never runs ahead of Kafka.
//!
//! Topics keyed alike are co-partitioned: partition `p` of each of a processor's stateful
//! inputs forms task `p`, which owns store partition `p`. The group assigns only the first
//! ("lead") stateful input with the cooperative-sticky assignor; the other stateful inputs
//! follow the lead's assignment on a second, manually assigned consumer, so a task's inputs
//! always move together, as Kafka Streams' own assignor keeps them.

mod clients;
mod context;
mod dead_letter;
mod lag;
mod rebalance;
mod restore;
mod task;
mod transaction;

use std::sync::Arc;

use orderflow_kafka::KafkaSettings;
use orderflow_schemas::events::AnyEvent;
use orderflow_schemas::{Codec, EventType, Topics};

use crate::settings::ProcessorSettings;

pub use context::Context;
pub use task::run;

/// Which topics a processor reads and writes, and the store it keeps.
#[derive(Debug, Clone, Copy)]
pub struct Topology {
    /// The processor's name: part of its group id, transactional id and store paths.
    pub name: &'static str,
    /// Inputs handled without state, in any partition on any instance.
    pub stateless_inputs: &'static [EventType],
    /// Co-partitioned inputs that share the store; the first one leads the assignment.
    pub stateful_inputs: &'static [EventType],
    /// The store's name, used in its changelog topic `<group>-<store>-changelog`.
    pub store: &'static str,
    /// Event types written, whose schemas are registered at start-up.
    pub outputs: &'static [EventType],
}

/// Why a record could not be processed.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The record itself is wrong: it goes to the dead-letter topic and processing goes on.
    #[error("{0}")]
    Rejected(String),
    /// Something outside the record failed (registry, disk): the transaction is aborted and
    /// the record is read again after a pause.
    #[error("{0}")]
    Transient(String),
}

impl From<orderflow_state::StateError> for ProcessError {
    fn from(e: orderflow_state::StateError) -> Self {
        match e {
            orderflow_state::StateError::Value { .. } => ProcessError::Rejected(e.to_string()),
            _ => ProcessError::Transient(e.to_string()),
        }
    }
}

impl From<orderflow_schemas::CodecError> for ProcessError {
    fn from(e: orderflow_schemas::CodecError) -> Self {
        if e.is_retriable() {
            ProcessError::Transient(e.to_string())
        } else {
            ProcessError::Rejected(e.to_string())
        }
    }
}

/// The business logic of one processor; the runtime owns everything about Kafka and state.
pub trait Processor: Send + 'static {
    fn topology(&self) -> Topology;

    /// Handles one input. What it emits and stages becomes visible only if it returns `Ok`.
    fn process(&mut self, event: AnyEvent, ctx: &mut Context<'_>) -> Result<(), ProcessError>;

    /// Called about once a second for each store partition the instance owns, to fire timers.
    fn punctuate(&mut self, _ctx: &mut Context<'_>) -> Result<(), ProcessError> {
        Ok(())
    }
}

/// What every processor instance shares: how to reach Kafka and the registry, and its settings.
#[derive(Clone)]
pub struct Environment {
    pub kafka: KafkaSettings,
    pub topics: Topics,
    pub codec: Arc<Codec>,
    pub settings: ProcessorSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot create the Kafka {client} of processor {processor}: {source}")]
    Client {
        processor: &'static str,
        client: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("processor {processor}: Kafka call {call} failed: {source}")]
    Kafka {
        processor: &'static str,
        call: &'static str,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    #[error("processor {processor}: {source}")]
    State {
        processor: &'static str,
        #[source]
        source: orderflow_state::StateError,
    },
    #[error("processor {processor}: restoring {changelog} partition {partition} failed: {reason}")]
    Restore {
        processor: &'static str,
        changelog: String,
        partition: i32,
        reason: String,
    },
    #[error("processor {processor}: cannot create its changelog topic: {source}")]
    Topics {
        processor: &'static str,
        #[source]
        source: orderflow_kafka::TopicError,
    },
    #[error("processor {processor}: cannot register output schemas: {source}")]
    Schemas {
        processor: &'static str,
        #[source]
        source: orderflow_schemas::CodecError,
    },
}
