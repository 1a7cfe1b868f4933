//! The topics orderflow creates and who reads and writes them, taken from the code, for the
//! tests that hold the files describing a deployment (`docs/asyncapi.yaml`, `k8s/`) to it.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::Figment;
use orderflow_processors::inventory::Inventory;
use orderflow_processors::notifications::{NotificationSettings, Notifications};
use orderflow_processors::orders::Orders;
use orderflow_processors::payments::{Payments, SimulatedProvider};
use orderflow_processors::runtime::{Processor, Topology};
use orderflow_processors::ProcessorSettings;
use orderflow_schemas::{TopicSpec, Topics};
use serde::Deserialize;

/// The webhook sink's topology, as the sink declares it.
pub const WEBHOOK_SINK: Topology = orderflow_webhooks::sink::TOPOLOGY;

pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn read(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every document of a YAML file, as JSON values.
pub fn yaml_documents(path: &str) -> Vec<serde_json::Value> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| serde_json::Value::deserialize(doc).unwrap_or_else(|e| panic!("{path}: {e}")))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The settings of `k8s/base/app/orderflow.toml` that name and size the topics.
#[derive(Debug, Deserialize)]
pub struct ClusterConfig {
    pub namespace: String,
    pub kafka: ClusterKafka,
    pub topics: ClusterTopics,
}

#[derive(Debug, Deserialize)]
pub struct ClusterKafka {
    pub replication_factor: i32,
}

#[derive(Debug, Deserialize)]
pub struct ClusterTopics {
    pub order_partitions: i32,
    pub sku_partitions: i32,
}

pub fn cluster_config() -> ClusterConfig {
    Figment::from(Toml::file(repo_file("k8s/base/app/orderflow.toml")))
        .extract()
        .unwrap_or_else(|e| panic!("k8s/base/app/orderflow.toml: {e}"))
}

/// The topics of the cluster configuration, named and partitioned as the code does it.
pub fn cluster_topics() -> Topics {
    let config = cluster_config();
    Topics::new(
        &config.namespace,
        config.topics.order_partitions,
        config.topics.sku_partitions,
    )
}

/// The topology of every component on the exactly-once runtime: the four processors as they
/// report it, and the webhook sink.
pub fn runtime_topologies() -> Vec<Topology> {
    // Payments keeps a handle to the runtime its provider calls run on.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _entered = runtime.enter();
    let outbox = tempfile::tempdir().unwrap();
    let notifications = Notifications::new(&NotificationSettings {
        outbox_dir: outbox.path().to_owned(),
        ..NotificationSettings::default()
    })
    .unwrap();
    let processors: Vec<Box<dyn Processor>> = vec![
        Box::new(Inventory),
        Box::new(Payments::new(SimulatedProvider)),
        Box::new(Orders::new(&ProcessorSettings::default())),
        Box::new(notifications),
    ];
    let mut topologies: Vec<Topology> = processors.iter().map(|p| p.topology()).collect();
    topologies.push(WEBHOOK_SINK);
    topologies
}

/// A store's changelog, as the runtime creates it: compacted, one partition per partition of
/// the input that leads the store's inputs.
pub fn changelog_spec(topics: &Topics, topology: &Topology) -> TopicSpec {
    let group = topics.consumer_group(topology.name);
    let lead = topology.stateful_inputs[0];
    TopicSpec {
        name: topics.changelog(&group, topology.store),
        partitions: topics.partitions(lead.key_kind()),
        compacted: true,
    }
}

/// Every topic the pipeline creates, by name: the event topics, the dead-letter topic and
/// each store's changelog.
pub fn every_topic(topics: &Topics) -> BTreeMap<String, TopicSpec> {
    let changelogs = runtime_topologies()
        .iter()
        .map(|topology| changelog_spec(topics, topology))
        .collect::<Vec<_>>();
    topics
        .event_specs()
        .into_iter()
        .chain(changelogs)
        .map(|spec| (spec.name.clone(), spec))
        .collect()
}

/// Names in `expected` missing from `found`, and names in `found` not in `expected`.
pub fn differences<'a>(
    expected: impl IntoIterator<Item = &'a String>,
    found: impl IntoIterator<Item = &'a String>,
) -> (Vec<&'a String>, Vec<&'a String>) {
    let expected: std::collections::BTreeSet<_> = expected.into_iter().collect();
    let found: std::collections::BTreeSet<_> = found.into_iter().collect();
    (
        expected.difference(&found).copied().collect(),
        found.difference(&expected).copied().collect(),
    )
}
