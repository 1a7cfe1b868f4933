//! The Kubernetes manifests declare the topics the code creates, as it creates them, and
//! scale each processor on the lag of the topics its consumer group subscribes to.

mod catalogue;

use std::collections::{BTreeMap, BTreeSet};

use catalogue::{cluster_config, cluster_topics, differences, every_topic, yaml_documents};
use serde_json::Value;

const TOPICS: &str = "k8s/base/kafka/topics.yaml";
const APP: &str = "k8s/base/app";

fn kafka_topics() -> BTreeMap<String, Value> {
    yaml_documents(TOPICS)
        .into_iter()
        .filter(|doc| doc["kind"] == "KafkaTopic")
        .map(|doc| {
            let name = doc["spec"]["topicName"]
                .as_str()
                .or(doc["metadata"]["name"].as_str())
                .expect("a topic name")
                .to_owned();
            (name, doc)
        })
        .collect()
}

#[test]
fn every_topic_the_code_creates_has_a_kafka_topic_with_its_partitions_and_policy() {
    let config = cluster_config();
    let expected = every_topic(&cluster_topics());
    let declared = kafka_topics();

    let (missing, extra) = differences(expected.keys(), declared.keys());
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{TOPICS}: topics without a KafkaTopic: {missing:?}; KafkaTopics for no topic: {extra:?}"
    );
    let replicas = config.kafka.replication_factor;
    for (name, spec) in &expected {
        let topic = &declared[name]["spec"];
        assert_eq!(topic["partitions"], spec.partitions, "{name}: partitions");
        assert_eq!(
            topic["replicas"], replicas,
            "{name}: kafka.replication_factor"
        );
        assert_eq!(
            topic["config"]["min.insync.replicas"],
            replicas - 1,
            "{name}: one replica may be down"
        );
        let policy = if spec.compacted { "compact" } else { "delete" };
        assert_eq!(
            topic["config"]["cleanup.policy"], policy,
            "{name}: cleanup.policy"
        );
    }
}

#[test]
fn each_processor_scales_on_the_lag_of_its_own_group_and_subscriptions() {
    let topics = cluster_topics();
    let topologies = catalogue::runtime_topologies();
    let mut scaled = BTreeSet::new();

    for entry in std::fs::read_dir(catalogue::repo_file(APP)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let file = format!("{APP}/{}", path.file_name().unwrap().to_string_lossy());
        for doc in yaml_documents(&file) {
            if doc["kind"] != "ScaledObject" {
                continue;
            }
            let target = doc["spec"]["scaleTargetRef"]["name"]
                .as_str()
                .expect("target");
            let topology = topologies
                .iter()
                .find(|t| t.name == target)
                .unwrap_or_else(|| panic!("{file}: {target} is no processor"));
            // What the group subscribes to: the stateless inputs and the lead stateful input.
            let subscribed: BTreeSet<&str> = topology
                .stateless_inputs
                .iter()
                .chain(topology.stateful_inputs.first())
                .map(|t| topics.of(*t))
                .collect();
            for trigger in doc["spec"]["triggers"].as_array().expect("triggers") {
                let metadata = &trigger["metadata"];
                assert_eq!(trigger["type"], "kafka", "{file}: {target}");
                assert_eq!(
                    metadata["consumerGroup"],
                    topics.consumer_group(target),
                    "{file}: {target}'s group"
                );
                let topic = metadata["topic"].as_str().expect("topic");
                assert!(
                    subscribed.contains(topic),
                    "{file}: {target} scales on {topic}, which its group does not subscribe to"
                );
            }
            scaled.insert(target.to_owned());
        }
    }
    let every: BTreeSet<String> = topologies.iter().map(|t| t.name.to_owned()).collect();
    assert_eq!(
        scaled, every,
        "{APP}: one ScaledObject per processor and the webhook sink"
    );
}
