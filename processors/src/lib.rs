//! orderflow's consumer-group processors and the exactly-once runtime they share.
//!
//! - [`inventory`] reads `order.created`, `stock.set` and the internal stock topics and writes
//!   `stock.reservation-requested`, `stock.reservation-result` and `stock.level`;
//! - [`payments`] reads `order.created` and writes `payment.authorization`;
//! - [`orders`], the saga, reads `order.created`, `stock.reservation-result` and
//!   `payment.authorization` and writes `order.completed`, `order.failed` and
//!   `stock.release-requested`;
//! - [`notifications`] reads `order.completed` and sends email.
//!
//! Each keeps its state in a RocksDB store per input partition, backed by a compacted
//! changelog topic; see [`runtime`] for how records, state and offsets commit together.

pub mod inventory;
pub mod notifications;
pub mod orders;
pub mod payments;
pub mod runtime;
mod settings;

pub use settings::ProcessorSettings;
