//! Reads back what the pipeline committed: every record of the output topics, with
//! `read_committed`, from the first offset to the end.

use std::time::{Duration, Instant};

use anyhow::bail;
use orderflow_kafka::{end_offsets, KafkaSettings};
use orderflow_schemas::events::AnyEvent;
use orderflow_schemas::{Codec, EventType, Topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::check::{Facts, Level, Outcome};

/// Longest time spent reading one topic back.
const READ_LIMIT: Duration = Duration::from_secs(300);

/// Every committed record of a topic, as (key, value) bytes, up to its end at call time.
pub async fn read_topic(
    kafka: &KafkaSettings,
    topic: &str,
    partitions: i32,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut config = kafka.reader_config("orderflow-chaos-check");
    config.set("isolation.level", "read_committed");
    let consumer: StreamConsumer = config.create()?;
    let ends = end_offsets(&consumer, topic, partitions)?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;

    let started = Instant::now();
    let mut values = Vec::new();
    loop {
        let positions = consumer.position()?;
        let done = (0..partitions).all(|p| {
            let end = ends[p as usize];
            end == 0
                || positions
                    .find_partition(topic, p)
                    .is_some_and(|e| matches!(e.offset(), Offset::Offset(o) if o >= end))
        });
        if done {
            return Ok(values);
        }
        if started.elapsed() > READ_LIMIT {
            bail!("reading {topic} back took over {READ_LIMIT:?}");
        }
        if let Ok(message) = tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await
        {
            values.push(message?.payload().unwrap_or_default().to_vec());
        }
    }
}

async fn decoded(
    kafka: &KafkaSettings,
    topics: &Topics,
    codec: &Codec,
    event_type: EventType,
) -> anyhow::Result<Vec<AnyEvent>> {
    let partitions = topics.partitions(event_type.key_kind());
    let mut events = Vec::new();
    for value in read_topic(kafka, topics.of(event_type), partitions).await? {
        events.push(codec.decode_any(event_type, &value).await?);
    }
    Ok(events)
}

/// Fills in everything the checker needs from Kafka.
pub async fn collect(
    kafka: &KafkaSettings,
    topics: &Topics,
    codec: &Codec,
    facts: &mut Facts,
) -> anyhow::Result<()> {
    for event in decoded(kafka, topics, codec, EventType::OrderCompleted).await? {
        if let AnyEvent::OrderCompleted(e) = event {
            facts.outcomes.push((
                e.order_id.to_string(),
                Outcome::Completed,
                e.event_id.to_string(),
            ));
        }
    }
    for event in decoded(kafka, topics, codec, EventType::OrderFailed).await? {
        if let AnyEvent::OrderFailed(e) = event {
            facts.outcomes.push((
                e.order_id.to_string(),
                Outcome::Failed,
                e.event_id.to_string(),
            ));
        }
    }
    for event in decoded(kafka, topics, codec, EventType::PaymentAuthorization).await? {
        if let AnyEvent::PaymentAuthorization(e) = event {
            facts.authorizations.push(e.order_id.to_string());
        }
    }
    for event in decoded(kafka, topics, codec, EventType::StockReservationResult).await? {
        if let AnyEvent::StockReservationResult(e) = event {
            facts
                .reservation_results
                .push((e.order_id.to_string(), e.sku.to_string()));
        }
    }
    for event in decoded(kafka, topics, codec, EventType::StockLevel).await? {
        if let AnyEvent::StockLevel(e) = event {
            facts.levels.push(Level {
                sku: e.sku.to_string(),
                total: e.total,
                reserved: e.reserved,
                available: e.available,
            });
        }
    }
    let order_partitions = topics.partitions(EventType::OrderCreated.key_kind());
    facts.dead_letters = read_topic(kafka, &topics.dead_letter(), order_partitions)
        .await?
        .len();
    Ok(())
}
