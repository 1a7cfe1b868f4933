//! Events written straight to Kafka, as a benchmark's input: the same records the gateway
//! writes, Avro-encoded through the registry, with their CloudEvents headers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use orderflow_kafka::{EventHeaders, KafkaSettings, TraceContext};
use orderflow_schemas::events::{OrderCompleted, OrderCreated, OrderItem, StockSet};
use orderflow_schemas::{clock, Codec, CustomerId, Event, EventId, OrderId, PaymentToken, Sku};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;

/// SKUs the benchmark orders buy; each has more stock than any run sells.
pub const SKUS: usize = 50;
const STOCK_PER_SKU: i64 = 1_000_000_000;
const FLUSH_LIMIT: Duration = Duration::from_secs(120);

pub fn sku(i: usize) -> Sku {
    Sku::parse(&format!("BENCH-{:02}", i % SKUS)).expect("a valid SKU")
}

/// Order `i` of a run: one or two lines, paid with a card that is accepted.
pub fn order(i: usize) -> OrderCreated {
    let mut items = vec![OrderItem {
        sku: sku(i),
        quantity: 1,
        unit_price_minor: 1_999,
    }];
    if i.is_multiple_of(2) {
        items.push(OrderItem {
            sku: sku(i + 7),
            quantity: 2,
            unit_price_minor: 450,
        });
    }
    let total_minor = items
        .iter()
        .map(|l| l.unit_price_minor * i64::from(l.quantity))
        .sum();
    OrderCreated {
        order_id: OrderId::from_uuid(uuid::Uuid::now_v7()),
        customer_id: CustomerId::parse(&format!("bench-{}", i % 1_000)).expect("a valid id"),
        email: format!("bench{}@example.com", i % 1_000),
        currency: "EUR".into(),
        items,
        total_minor,
        payment_token: PaymentToken::new("tok_visa".into()),
        created_at_ms: clock::now_ms(),
        metadata: Default::default(),
        idempotency: None,
    }
}

pub fn completed(order: &OrderCreated) -> OrderCompleted {
    OrderCompleted {
        event_id: EventId::for_outcome(order.order_id, "order.completed"),
        order_id: order.order_id,
        customer_id: order.customer_id.clone(),
        email: order.email.clone(),
        currency: order.currency.clone(),
        total_minor: order.total_minor,
        item_count: order.items.len() as i32,
        authorization_id: format!("auth-{}", order.order_id),
        completed_at_ms: clock::now_ms(),
    }
}

pub fn stock() -> Vec<StockSet> {
    (0..SKUS)
        .map(|i| StockSet {
            sku: sku(i),
            total: STOCK_PER_SKU,
            set_at_ms: clock::now_ms(),
        })
        .collect()
}

/// Counts acknowledgements and remembers the first failure.
#[derive(Default)]
pub struct Acks {
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    pub bytes: AtomicU64,
}

#[derive(Clone, Default)]
pub struct Counting(pub Arc<Acks>);

impl ClientContext for Counting {}

impl ProducerContext for Counting {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) => {
                self.0.acked.fetch_add(1, Ordering::Relaxed);
                let size = message.payload_len() as u64;
                self.0.bytes.fetch_add(size, Ordering::Relaxed);
            }
            Err(_) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// A producer with orderflow's own settings (`acks=all`, idempotence, lz4, 5 ms linger)
/// that counts what Kafka acknowledged.
pub fn producer(kafka: &KafkaSettings) -> anyhow::Result<(ThreadedProducer<Counting>, Arc<Acks>)> {
    let context = Counting::default();
    let acks = context.0.clone();
    let producer = kafka
        .producer_config("orderflow-bench")
        .set("queue.buffering.max.messages", "1000000")
        .create_with_context(context)?;
    Ok((producer, acks))
}

/// Sends one record, waiting while librdkafka's queue is full.
pub fn send(
    producer: &ThreadedProducer<Counting>,
    mut record: BaseRecord<'_, str, [u8]>,
) -> anyhow::Result<()> {
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, back)) => bail!("producing to {}: {e}", back.topic),
        }
    }
}

/// Waits for every record sent to be acknowledged; fails if any was not.
pub fn flush(producer: &ThreadedProducer<Counting>, acks: &Acks, sent: u64) -> anyhow::Result<()> {
    producer.flush(FLUSH_LIMIT)?;
    let (acked, failed) = (
        acks.acked.load(Ordering::Relaxed),
        acks.failed.load(Ordering::Relaxed),
    );
    if failed > 0 || acked < sent {
        bail!("{acked} of {sent} records acknowledged, {failed} failed");
    }
    Ok(())
}

/// Encodes `events` and writes them to `topic`; returns how long the writing took.
pub async fn write<E: Event>(
    kafka: &KafkaSettings,
    codec: &Codec,
    topic: &str,
    events: &[E],
) -> anyhow::Result<Duration> {
    let mut encoded = Vec::with_capacity(events.len());
    for event in events {
        let headers = EventHeaders {
            id: event.cloud_event_id(),
            event_type: E::TYPE,
            source: "bench",
            trace: TraceContext::start(),
        };
        encoded.push((event.key(), codec.encode(event).await?, headers.to_kafka()));
    }
    let topic = topic.to_owned();
    let kafka = kafka.clone();
    tokio::task::spawn_blocking(move || {
        let (producer, acks) = producer(&kafka)?;
        let started = Instant::now();
        for (key, payload, headers) in &encoded {
            let record = BaseRecord::to(&topic)
                .key(key.as_str())
                .payload(payload.as_slice())
                .headers(headers.clone());
            send(&producer, record)?;
        }
        flush(&producer, &acks, encoded.len() as u64)?;
        Ok(started.elapsed())
    })
    .await?
}
