//! `orderflow tail`: the events of a topic as JSON lines, decoded through the registry.

use std::time::Duration;

use anyhow::{bail, Context as _};
use orderflow_schemas::{Codec, EventType};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::settings::Settings;

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(
    settings: &Settings,
    name: &str,
    from_beginning: bool,
    max: Option<u64>,
) -> anyhow::Result<()> {
    let topics = settings.topics();
    let codec = Codec::new(&settings.registry.url, &topics)?;
    let topic = match EventType::parse(name) {
        Some(event_type) => topics.of(event_type).to_owned(),
        None => name.to_owned(),
    };
    let event_type = topics.event_type_of(&topic);

    let mut config = settings.kafka.reader_config("orderflow-tail");
    config.set("isolation.level", "read_committed");
    let consumer: StreamConsumer = config.create()?;
    let metadata = consumer
        .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
        .with_context(|| format!("reading the metadata of {topic}"))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        bail!("topic {topic} does not exist");
    }
    let start = if from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions as i32 {
        assignment.add_partition_offset(&topic, partition, start)?;
    }
    consumer.assign(&assignment)?;

    let mut printed = 0u64;
    while max.is_none_or(|m| printed < m) {
        let message = consumer.recv().await?;
        let value = match (event_type, message.payload()) {
            (Some(t), Some(payload)) => match codec.decode_any(t, payload).await {
                Ok(event) => event.to_json(),
                Err(e) => serde_json::json!({ "undecodable": e.to_string() }),
            },
            (_, None) => serde_json::Value::Null,
            (None, Some(payload)) => serde_json::json!({ "bytes": payload.len() }),
        };
        let headers: serde_json::Map<String, serde_json::Value> = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        let text = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                        (h.key.to_owned(), serde_json::json!(text))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let line = serde_json::json!({
            "topic": message.topic(),
            "partition": message.partition(),
            "offset": message.offset(),
            "key": message.key().map(|k| String::from_utf8_lossy(k).into_owned()),
            "headers": headers,
            "event": value,
        });
        println!("{line}");
        printed += 1;
    }
    Ok(())
}
