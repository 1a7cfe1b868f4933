//! What an operator sees of a running orderflow process: Prometheus metrics at `/metrics`,
//! liveness at `/livez` and readiness at `/readyz`, served on `ops.listen`.
//!
//! Components report through the `metrics` macros (names in [`names`]) and through
//! [`health`]; this crate installs the exporter and serves the three endpoints.

pub mod health;
pub mod names;
mod server;
mod settings;

pub use server::{serve, OpsError};
pub use settings::OpsSettings;
