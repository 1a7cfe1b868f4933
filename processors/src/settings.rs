//! Settings of the processors, one typed struct read from the configuration file and the
//! environment.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProcessorSettings {
    /// Folder of the RocksDB stores; each processor keeps `<group>/<store>/<partition>` below it.
    pub state_dir: PathBuf,
    /// Names this instance among the instances of a processor; with the group it forms the
    /// stable `transactional.id`, so it must differ between instances running at once and stay
    /// the same across restarts of one instance (a StatefulSet pod name fits).
    #[serde(deserialize_with = "name_or_number")]
    pub instance_id: String,
    /// Longest a transaction stays open, in milliseconds.
    pub commit_interval_ms: u64,
    /// Commit as soon as no input is waiting, rather than only when the interval is up: a
    /// record then waits for its transaction only while the instance is busy.
    pub commit_when_idle: bool,
    /// How long the broker keeps a transaction open for a producer that went silent, in
    /// milliseconds; bounds how long a crashed instance holds back its partitions' readers.
    pub transaction_timeout_ms: u64,
    /// How long the group waits for a silent member before it moves its partitions, in ms.
    pub session_timeout_ms: u64,
    /// How long an order may stay pending before it fails with reason `timeout`, in ms.
    pub order_timeout_ms: u64,
    /// How long the saga of a finished order is kept to recognise late or repeated events, in ms.
    pub finished_order_retention_ms: u64,
}

impl Default for ProcessorSettings {
    fn default() -> Self {
        Self {
            state_dir: PathBuf::from(".orderflow/state"),
            instance_id: "0".into(),
            commit_interval_ms: 100,
            commit_when_idle: true,
            transaction_timeout_ms: 10_000,
            session_timeout_ms: 10_000,
            order_timeout_ms: 30_000,
            finished_order_retention_ms: 7 * 24 * 3600 * 1000,
        }
    }
}

impl ProcessorSettings {
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }
}

/// `ORDERFLOW_PROCESSORS__INSTANCE_ID=0` reaches serde as a number; an instance id is a name
/// either way.
fn name_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Name(String),
        Number(u64),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Name(name) => name,
        Raw::Number(number) => number.to_string(),
    })
}
