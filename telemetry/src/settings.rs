//! Settings of the operations endpoints.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpsSettings {
    /// Address of `/metrics`, `/livez` and `/readyz`; port 0 picks a free one (logged).
    pub listen: String,
}

impl Default for OpsSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9600".into(),
        }
    }
}
