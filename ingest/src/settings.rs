//! Settings of the gateway.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::ApiKeySetting;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GatewaySettings {
    /// Address the HTTP server binds.
    pub listen: String,
    /// Largest request body accepted, in bytes; larger ones get `413`.
    pub max_body_bytes: usize,
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
