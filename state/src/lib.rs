//! Local state of orderflow's processors, kept in RocksDB.
//!
//! A [`PartitionStore`] holds one store's data for one input partition, so that a partition's
//! state can move between processor instances on its own. Processing never writes to RocksDB
//! directly: it stages [`Changes`] through a [`StagedStore`] (reads see the staged writes), and
//! the runtime applies them in one atomic batch, together with metadata such as the changelog
//! position, only once the Kafka transaction that carried them has committed. The local store
//! therefore never holds uncommitted data.

mod changes;
mod error;
mod staged;
mod store;

pub use changes::{Change, Changes};
pub use error::StateError;
pub use staged::StagedStore;
pub use store::PartitionStore;
