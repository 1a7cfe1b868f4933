//! Kafka connection settings shared by every component.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSettings {
    /// `host:port` list of brokers.
    pub bootstrap_servers: String,
    /// Replication factor of the topics orderflow creates (1 on a single development broker).
    pub replication_factor: i32,
    /// Further librdkafka properties (`security.protocol`, `sasl.mechanism`, ...), applied to
    /// every client after orderflow's own.
    pub client_properties: BTreeMap<String, String>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            replication_factor: 1,
            client_properties: BTreeMap::new(),
        }
    }
}

impl KafkaSettings {
    /// The base configuration of any client: brokers, a client id that names the component in
    /// broker logs and metrics, and the operator's extra properties.
    pub fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("client.id", client_id)
            .set("log_level", "4");
        for (key, value) in &self.client_properties {
            config.set(key, value);
        }
        config
    }

    /// A consumer that reads partitions it assigns itself, outside any consumer group.
    /// librdkafka still wants a `group.id`; it is never joined and never committed to.
    pub fn reader_config(&self, client_id: &str) -> ClientConfig {
        let mut config = self.client_config(client_id);
        config
            .set("group.id", client_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false");
        config
    }

    /// A producer that writes each record once and only counts it written when every in-sync
    /// replica has it. Keys are hashed with murmur2 like Kafka's Java clients, so topics keyed
    /// alike are co-partitioned whichever client wrote them.
    pub fn producer_config(&self, client_id: &str) -> ClientConfig {
        let mut config = self.client_config(client_id);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("compression.type", "lz4");
        // The operator's properties win over orderflow's defaults.
        for (key, value) in &self.client_properties {
            config.set(key, value);
        }
        config
    }
}
