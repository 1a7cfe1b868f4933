//! What a processor may do while it handles a record: read and stage state, emit events.

use orderflow_kafka::{EventHeaders, TraceContext};
use orderflow_schemas::events::Event;
use orderflow_schemas::{Codec, Topics};
use orderflow_state::StagedStore;
use rdkafka::message::OwnedHeaders;
use tokio::runtime::Handle;

use super::ProcessError;

/// A record the processor emitted, encoded and waiting to join the transaction.
pub(crate) struct Output {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: OwnedHeaders,
}

/// What is being handled: when, in which partition, by which processor, in which trace.
pub(crate) struct Scope {
    pub now_ms: i64,
    pub partition: i32,
    pub processor: &'static str,
    /// What is emitted carries this trace.
    pub trace: TraceContext,
}

pub struct Context<'a> {
    now_ms: i64,
    partition: i32,
    processor: &'static str,
    trace: TraceContext,
    codec: &'a Codec,
    topics: &'a Topics,
    runtime: &'a Handle,
    store: Option<StagedStore<'a>>,
    outputs: &'a mut Vec<Output>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        scope: Scope,
        codec: &'a Codec,
        topics: &'a Topics,
        runtime: &'a Handle,
        store: Option<StagedStore<'a>>,
        outputs: &'a mut Vec<Output>,
    ) -> Self {
        Self {
            now_ms: scope.now_ms,
            partition: scope.partition,
            processor: scope.processor,
            trace: scope.trace,
            codec,
            topics,
            runtime,
            store,
            outputs,
        }
    }

    /// The time processing started for this record, in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The input partition (and so the store partition) being processed.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The store partition of the record's task. Stateless inputs have none.
    pub fn store(&mut self) -> Result<&mut StagedStore<'a>, ProcessError> {
        self.store.as_mut().ok_or_else(|| {
            ProcessError::Transient("a stateless input asked for the processor's store".into())
        })
    }

    /// The trace of the record being handled (a new one for timers).
    pub fn trace(&self) -> TraceContext {
        self.trace
    }

    /// Makes what is emitted from now on part of `trace`, e.g. a timer firing for an order
    /// whose trace the processor kept.
    pub fn continue_trace(&mut self, trace: TraceContext) {
        self.trace = trace.child();
    }

    /// Emits an event to its topic, keyed by its own key, with its CloudEvents headers and
    /// the current trace; it is written in the transaction.
    pub fn emit<E: Event>(&mut self, event: &E) -> Result<(), ProcessError> {
        // The encoder only goes to the registry on the first event of a type; every later
        // call finds the schema id in its cache and completes without waiting.
        let payload = self.runtime.block_on(self.codec.encode(event))?;
        self.outputs.push(Output {
            topic: self.topics.of(E::TYPE).to_owned(),
            key: event.key(),
            payload,
            headers: EventHeaders {
                id: event.cloud_event_id(),
                event_type: E::TYPE,
                source: self.processor,
                trace: self.trace,
            }
            .to_kafka(),
        });
        Ok(())
    }
}
