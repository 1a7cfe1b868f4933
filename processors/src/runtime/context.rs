//! What a processor may do while it handles a record: read and stage state, emit events.

use orderflow_schemas::events::Event;
use orderflow_schemas::{Codec, Topics};
use orderflow_state::StagedStore;
use tokio::runtime::Handle;

use super::ProcessError;

/// A record the processor emitted, encoded and waiting to join the transaction.
pub(crate) struct Output {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
}

pub struct Context<'a> {
    now_ms: i64,
    partition: i32,
    codec: &'a Codec,
    topics: &'a Topics,
    runtime: &'a Handle,
    store: Option<StagedStore<'a>>,
    outputs: &'a mut Vec<Output>,
}

impl<'a> Context<'a> {
    pub(crate) fn new(
        now_ms: i64,
        partition: i32,
        codec: &'a Codec,
        topics: &'a Topics,
        runtime: &'a Handle,
        store: Option<StagedStore<'a>>,
        outputs: &'a mut Vec<Output>,
    ) -> Self {
        Self {
            now_ms,
            partition,
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

    /// Emits an event to its topic, keyed by its own key; it is written in the transaction.
    pub fn emit<E: Event>(&mut self, event: &E) -> Result<(), ProcessError> {
        // The encoder only goes to the registry on the first event of a type; every later
        // call finds the schema id in its cache and completes without waiting.
        let payload = self.runtime.block_on(self.codec.encode(event))?;
        self.outputs.push(Output {
            topic: self.topics.of(E::TYPE).to_owned(),
            key: event.key(),
            payload,
        });
        Ok(())
    }
}
