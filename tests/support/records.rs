//! Records as they sit in Kafka, headers included, from any broker (the stack's or a private
//! one): what a consumer outside orderflow would see.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use orderflow_schemas::events::{AnyEvent, OrderCreated};
use orderflow_schemas::{Codec, EventType, Topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// How long reading a topic to its end may take.
const READ_LIMIT: Duration = Duration::from_secs(60);

/// One record, owned.
#[derive(Debug, Clone)]
pub struct RawRecord {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl RawRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        super::header(&self.headers, name)
    }
}

/// Every committed record of `topic` on `bootstrap` up to the topic's current end.
pub async fn read_topic(bootstrap: &str, topic: &str, partitions: i32) -> Vec<RawRecord> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set(
            "group.id",
            format!("test-records-{}", uuid::Uuid::now_v7().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("a test consumer");
    let mut assignment = TopicPartitionList::new();
    let mut ends = HashMap::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("a partition");
        let (_, end) = consumer
            .fetch_watermarks(topic, partition, Duration::from_secs(10))
            .expect("watermarks");
        ends.insert(partition, end);
    }
    consumer.assign(&assignment).expect("assign");

    let mut records = Vec::new();
    let deadline = Instant::now() + READ_LIMIT;
    while Instant::now() < deadline && !at_end(&consumer, &ends) {
        let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await
        else {
            continue;
        };
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        let value = h.value.map(String::from_utf8_lossy).unwrap_or_default();
                        (h.key.to_owned(), value.into_owned())
                    })
                    .collect()
            })
            .unwrap_or_default();
        records.push(RawRecord {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message
                .key()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            payload: message.payload().unwrap_or_default().to_vec(),
            headers,
        });
    }
    records
}

fn at_end(consumer: &StreamConsumer, ends: &HashMap<i32, i64>) -> bool {
    let Ok(position) = consumer.position() else {
        return false;
    };
    position.elements().iter().all(|e| {
        let end = ends.get(&e.partition()).copied().unwrap_or(0);
        end == 0 || matches!(e.offset(), Offset::Offset(o) if o >= end)
    })
}

/// Every `event_type` record of a namespace, decoded, with the record it came from.
pub async fn read_events(
    bootstrap: &str,
    topics: &Topics,
    codec: &Codec,
    event_type: EventType,
) -> Vec<(RawRecord, AnyEvent)> {
    let topic = topics.of(event_type);
    let partitions = topics.partitions(event_type.key_kind());
    let mut events = Vec::new();
    for record in read_topic(bootstrap, topic, partitions).await {
        let event = codec
            .decode_any(event_type, &record.payload)
            .await
            .expect("a record of the pipeline decodes");
        events.push((record, event));
    }
    events
}

/// Every `order.created` of a namespace, decoded.
pub async fn orders_created(bootstrap: &str, topics: &Topics, codec: &Codec) -> Vec<OrderCreated> {
    read_events(bootstrap, topics, codec, EventType::OrderCreated)
        .await
        .into_iter()
        .filter_map(|(_, e)| match e {
            AnyEvent::OrderCreated(order) => Some(order),
            _ => None,
        })
        .collect()
}
