//! Settings of the gateway.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::ApiKeySetting;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Address the HTTP server binds.
    pub listen: String,
    /// Largest request body accepted, in bytes; larger ones get `413`.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request body, in ms; then `408`.
    pub body_timeout_ms: u64,
    /// How long a client may take to send a request's headers, in ms; then the connection
    /// is closed.
    pub header_timeout_ms: u64,
    /// Request body bytes the gateway holds at once until Kafka acknowledged them; a request
    /// beyond it gets `503` with `Retry-After`.
    pub max_in_flight_bytes: usize,
    /// Most orders in one `POST /v1/orders/batch`.
    pub max_batch_orders: usize,
    /// How long an `Idempotency-Key` is remembered, in ms.
    pub idempotency_ttl_ms: u64,
    /// How long a request waits for Kafka to acknowledge its write, in ms; then `503`.
    pub produce_timeout_ms: u64,
    /// Folder of the gateway's materialized views (orders, stock levels, webhook attempts).
    pub state_dir: PathBuf,
    /// Keys that may use the protected routes; with none, those routes admit nobody.
    pub api_keys: Vec<ApiKeySetting>,
}

impl Default for GatewaySettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            max_body_bytes: 1024 * 1024,
            body_timeout_ms: 10_000,
            header_timeout_ms: 10_000,
            max_in_flight_bytes: 64 * 1024 * 1024,
            max_batch_orders: 500,
            idempotency_ttl_ms: 24 * 3600 * 1000,
            produce_timeout_ms: 5_000,
            state_dir: PathBuf::from(".orderflow/gateway"),
            api_keys: Vec::new(),
        }
    }
}

impl GatewaySettings {
    pub fn produce_timeout(&self) -> Duration {
        Duration::from_millis(self.produce_timeout_ms)
    }
}
