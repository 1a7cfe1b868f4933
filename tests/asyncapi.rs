//! `docs/asyncapi.yaml` describes every topic the code creates and nothing else: the same
//! addresses, partitions and compaction, each event's Avro schema file, the headers the code
//! writes, and the reads and writes of each processor as its topology declares them.

mod catalogue;

use std::collections::{BTreeMap, BTreeSet};

use catalogue::{differences, every_topic, read, runtime_topologies, yaml_documents};
use orderflow_kafka::headers;
use orderflow_schemas::events::KeyKind;
use serde_json::Value;

const DOCUMENT: &str = "docs/asyncapi.yaml";
const AVRO_FORMAT: &str = "application/vnd.apache.avro;version=1.9.0";
/// The headers a dead letter adds to the original record's
/// (`processors/src/runtime/dead_letter.rs`).
const DEAD_LETTER_HEADERS: [&str; 5] = [
    "orderflow.dlq.error",
    "orderflow.dlq.topic",
    "orderflow.dlq.partition",
    "orderflow.dlq.offset",
    "orderflow.dlq.processor",
];

fn document() -> Value {
    let mut docs = yaml_documents(DOCUMENT);
    assert_eq!(docs.len(), 1, "{DOCUMENT} holds one document");
    let doc = docs.remove(0);
    assert_eq!(doc["asyncapi"], "3.0.0", "{DOCUMENT} is AsyncAPI 3.0");
    doc
}

/// Follows a local `$ref` (`#/...`) to what it names; any other value is itself.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{reference} is not local"));
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} names nothing"))
        }
        None => value,
    }
}

/// Each channel by its Kafka address.
fn channels_by_address(doc: &Value) -> BTreeMap<String, (String, &Value)> {
    let channels = doc["channels"].as_object().expect("channels");
    channels
        .iter()
        .map(|(id, channel)| {
            let address = channel["address"].as_str().expect("address").to_owned();
            (address, (id.clone(), channel))
        })
        .collect()
}

/// The only message of a channel.
fn message<'a>(doc: &'a Value, channel: &'a Value) -> &'a Value {
    let messages = channel["messages"].as_object().expect("messages");
    assert_eq!(messages.len(), 1, "{}", channel["address"]);
    resolve(doc, messages.values().next().unwrap())
}

fn key_name(kind: KeyKind) -> &'static str {
    match kind {
        KeyKind::OrderId => "order id",
        KeyKind::Sku => "SKU",
        KeyKind::SubscriptionId => "subscription id",
    }
}

#[test]
fn every_topic_the_code_creates_is_a_channel_and_no_other() {
    let doc = document();
    let expected = every_topic(&catalogue::cluster_topics());
    let channels = channels_by_address(&doc);

    let (missing, extra) = differences(expected.keys(), channels.keys());
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{DOCUMENT}: topics without a channel: {missing:?}; channels without a topic: {extra:?}"
    );
    for (name, spec) in &expected {
        let kafka = &channels[name].1["bindings"]["kafka"];
        assert_eq!(kafka["topic"], name.as_str(), "{name}: binding topic");
        assert_eq!(kafka["partitions"], spec.partitions, "{name}: partitions");
        let policy = if spec.compacted { "compact" } else { "delete" };
        assert_eq!(
            kafka["topicConfiguration"]["cleanup.policy"],
            serde_json::json!([policy]),
            "{name}: cleanup.policy"
        );
    }
}

#[test]
fn every_event_channel_carries_its_avro_schema_key_and_cloud_event_headers() {
    let doc = document();
    let topics = catalogue::cluster_topics();
    let channels = channels_by_address(&doc);
    let ce_headers = &doc["components"]["schemas"]["CloudEventHeaders"];

    for (address, (_, channel)) in &channels {
        let Some(event_type) = topics.event_type_of(address) else {
            continue;
        };
        let message = message(&doc, channel);
        let payload = &message["payload"];
        assert_eq!(payload["schemaFormat"], AVRO_FORMAT, "{address}");
        let file = payload["schema"]["$ref"].as_str().expect("schema $ref");
        let path = file
            .strip_prefix("../")
            .unwrap_or_else(|| panic!("{address}: {file} is not relative to docs/"));
        assert!(
            read(path) == event_type.schema(),
            "{address}: {file} is not the schema the code registers for {event_type}"
        );
        assert_eq!(
            message["bindings"]["kafka"]["key"]["description"],
            key_name(event_type.key_kind()),
            "{address}: key"
        );
        assert_eq!(
            resolve(&doc, &message["headers"]),
            ce_headers,
            "{address}: headers"
        );
    }
}

#[test]
fn the_header_schemas_name_the_headers_the_code_writes() {
    let doc = document();
    let names = |schema: &str| -> BTreeSet<String> {
        doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has no properties"))
            .keys()
            .cloned()
            .collect()
    };
    let written: BTreeSet<String> = [
        headers::SPEC_VERSION_HEADER,
        headers::ID_HEADER,
        headers::SOURCE_HEADER,
        headers::TYPE_HEADER,
        headers::TIME_HEADER,
        headers::CONTENT_TYPE_HEADER,
        headers::TRACEPARENT_HEADER,
    ]
    .map(String::from)
    .into();
    assert_eq!(names("CloudEventHeaders"), written);

    let dead_letter = catalogue::cluster_topics().dead_letter();
    let channels = channels_by_address(&doc);
    let message = message(&doc, channels[&dead_letter].1);
    let headers = resolve(&doc, &message["headers"]);
    assert_eq!(headers, &doc["components"]["schemas"]["DeadLetterHeaders"]);
    assert_eq!(
        names("DeadLetterHeaders"),
        DEAD_LETTER_HEADERS.map(String::from).into()
    );
}

/// The channels a component's operations send to, or receive from.
fn operations_of(doc: &Value, component: &str, action: &str) -> BTreeSet<String> {
    let operations = doc["operations"].as_object().expect("operations");
    operations
        .values()
        .filter(|op| op["action"] == action)
        .filter(|op| {
            op["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|t| t["name"] == component))
        })
        .map(|op| {
            resolve(doc, &op["channel"])["address"]
                .as_str()
                .expect("address")
                .to_owned()
        })
        .collect()
}

#[test]
fn the_operations_of_each_runtime_component_match_its_topology() {
    let doc = document();
    let topics = catalogue::cluster_topics();

    for topology in runtime_topologies() {
        let changelog = catalogue::changelog_spec(&topics, &topology).name;
        let name = |t: &orderflow_schemas::EventType| topics.of(*t).to_owned();
        let mut reads: BTreeSet<String> = topology
            .stateless_inputs
            .iter()
            .chain(topology.stateful_inputs)
            .map(name)
            .collect();
        reads.insert(changelog.clone());
        let mut writes: BTreeSet<String> = topology.outputs.iter().map(name).collect();
        writes.extend([changelog, topics.dead_letter()]);
        if topology.name == "webhooks" {
            // The sink's dispatcher writes each attempt and its registry reads every
            // subscription, beside the runtime's inputs and outputs.
            writes.insert(
                topics
                    .of(orderflow_schemas::EventType::WebhookAttempt)
                    .to_owned(),
            );
            reads.insert(
                topics
                    .of(orderflow_schemas::EventType::WebhookSubscription)
                    .to_owned(),
            );
        }

        assert_eq!(
            operations_of(&doc, topology.name, "receive"),
            reads,
            "{} reads",
            topology.name
        );
        assert_eq!(
            operations_of(&doc, topology.name, "send"),
            writes,
            "{} writes",
            topology.name
        );
    }
}

#[test]
fn every_channel_has_a_writer_and_every_operation_a_channel() {
    let doc = document();
    let operations = doc["operations"].as_object().expect("operations");
    for (id, op) in operations {
        assert!(
            op["action"] == "send" || op["action"] == "receive",
            "{id}: action must be send or receive"
        );
        assert!(
            resolve(&doc, &op["channel"]).get("address").is_some(),
            "{id}: channel"
        );
    }
    for (address, _) in channels_by_address(&doc) {
        let written = operations.values().any(|op| {
            op["action"] == "send" && resolve(&doc, &op["channel"])["address"] == address.as_str()
        });
        assert!(written, "{DOCUMENT}: nobody writes {address}");
    }
}

#[test]
fn every_group_a_receive_operation_names_is_its_component_group() {
    let doc = document();
    let topics = catalogue::cluster_topics();
    for (id, op) in doc["operations"].as_object().expect("operations") {
        let Some(groups) = op["bindings"]["kafka"]["groupId"]["enum"].as_array() else {
            continue;
        };
        let component = op["tags"][0]["name"].as_str().expect("a component tag");
        assert_eq!(groups, &[topics.consumer_group(component)], "{id}");
    }
}
