//! What `GET` answers from: orders, stock levels and webhook attempts, materialized in a local
//! RocksDB store from the order, stock and webhook topics. Each record is applied together
//! with its offset, so a restarted gateway resumes where it stopped.

mod webhooks;

pub use webhooks::{AttemptView, MissedEvent};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use orderflow_kafka::KafkaSettings;
use orderflow_schemas::events::{AnyEvent, FailureReason, OrderCreated, OrderItem, StockLevel};
use orderflow_schemas::{Codec, CustomerId, EventId, EventType, OrderId, SubscriptionId, Topics};
use orderflow_state::{Changes, PartitionStore, StagedStore, StateError};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::BorrowedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio_util::sync::CancellationToken;

/// The topics the views are built from.
const SOURCES: [EventType; 6] = [
    EventType::OrderCreated,
    EventType::OrderCompleted,
    EventType::OrderFailed,
    EventType::StockLevel,
    EventType::WebhookAttempt,
    EventType::WebhookDeliveryFailed,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderDetails {
    pub customer_id: CustomerId,
    pub currency: String,
    pub items: Vec<OrderItem>,
    pub total_minor: i64,
    pub created_at_ms: i64,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// What an `Idempotency-Key` was first used for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUse {
    pub fingerprint: String,
    pub order_id: OrderId,
    pub at_ms: i64,
    /// The fingerprint of the batch the key's order came in, if it came in one.
    #[serde(default)]
    pub batch_fingerprint: Option<String>,
}

/// An order as `GET /v1/orders/{id}` shows it. The outcome may be read before the order itself
/// (they come from different topics), so the details are optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderView {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub reason: Option<FailureReason>,
    pub detail: Option<String>,
    pub order: Option<OrderDetails>,
}

impl OrderView {
    /// A just accepted order.
    pub fn pending(order: &OrderCreated) -> Self {
        let mut view = Self::new(order.order_id);
        view.order = Some(OrderDetails::from(order));
        view
    }

    fn new(order_id: OrderId) -> Self {
        Self {
            order_id,
            status: OrderStatus::Pending,
            reason: None,
            detail: None,
            order: None,
        }
    }
}

impl From<&OrderCreated> for OrderDetails {
    fn from(e: &OrderCreated) -> Self {
        Self {
            customer_id: e.customer_id.clone(),
            currency: e.currency.clone(),
            items: e.items.clone(),
            total_minor: e.total_minor,
            created_at_ms: e.created_at_ms,
            metadata: e.metadata.clone(),
        }
    }
}

pub struct Views {
    store: PartitionStore,
}

fn order_key(id: OrderId) -> String {
    format!("order/{id}")
}

/// Hashed, so that whatever characters a client's key holds, the store key stays plain.
fn idempotency_key(client: &str, key: &str) -> String {
    let digest = sha2::Sha256::digest(format!("{client}\n{key}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("idempotency/{hex}")
}

fn stock_key(sku: &str) -> String {
    format!("stock/{sku}")
}

/// Store metadata key holding the id of the Kafka cluster the views were built from.
const CLUSTER_KEY: &str = "views.cluster-id";

/// The first key after every key that starts with `prefix` (which ends in '/').
fn prefix_end(prefix: &str) -> String {
    format!("{}0", &prefix[..prefix.len() - 1])
}

fn offset_key(topic: &str, partition: i32) -> String {
    format!("offset/{topic}/{partition}")
}

impl Views {
    /// Opens the views under `dir`. Views built from another cluster than `cluster_id` (a
    /// development stack started afresh) describe topics that no longer exist: they are
    /// wiped and built again from the topics' first records.
    pub fn open(dir: &Path, cluster_id: Option<&str>) -> Result<Self, StateError> {
        let path = dir.join("views");
        let mut store = PartitionStore::open(&path)?;
        if let Some(cluster) = cluster_id {
            let built_from = store.get_meta(CLUSTER_KEY)?;
            if built_from.as_deref() != Some(cluster.as_bytes()) {
                if built_from.is_some() {
                    tracing::warn!(path = %path.display(), "views were built from another Kafka cluster; rebuilding them");
                }
                drop(store);
                PartitionStore::destroy(&path)?;
                store = PartitionStore::open(&path)?;
                store.apply(&Changes::default(), &[(CLUSTER_KEY, cluster.as_bytes())])?;
            }
        }
        Ok(Self { store })
    }

    pub fn order(&self, id: OrderId) -> Result<Option<OrderView>, StateError> {
        let mut none = Changes::default();
        StagedStore::new(&self.store, &Changes::default(), &mut none).get(&order_key(id))
    }

    /// The first use of `client`'s `key`, if it is remembered.
    pub fn key_use(&self, client: &str, key: &str) -> Result<Option<KeyUse>, StateError> {
        let mut none = Changes::default();
        StagedStore::new(&self.store, &Changes::default(), &mut none)
            .get(&idempotency_key(client, key))
    }

    pub fn stock(&self, sku: &str) -> Result<Option<StockLevel>, StateError> {
        let mut none = Changes::default();
        StagedStore::new(&self.store, &Changes::default(), &mut none).get(&stock_key(sku))
    }

    fn scan<V: serde::de::DeserializeOwned>(
        &self,
        from: &str,
        to: &str,
        limit: usize,
    ) -> Result<Vec<(String, V)>, StateError> {
        let mut none = Changes::default();
        StagedStore::new(&self.store, &Changes::default(), &mut none).range(from, to, limit)
    }

    /// A subscription's attempts, newest first, from `cursor` (a key suffix a previous page
    /// returned) on; at most `limit`, and the cursor of the next page if there is one.
    pub fn attempts(
        &self,
        subscription: &SubscriptionId,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<AttemptView>, Option<String>), StateError> {
        let prefix = webhooks::attempts_prefix(subscription);
        let from = format!("{prefix}{}", cursor.unwrap_or_default());
        let mut page = self.scan::<AttemptView>(&from, &prefix_end(&prefix), limit + 1)?;
        let next = (page.len() > limit)
            .then(|| page.pop().map(|(key, _)| key[prefix.len()..].to_owned()))
            .flatten();
        Ok((page.into_iter().map(|(_, v)| v).collect(), next))
    }

    /// Events the subscription failed to receive whose time lies in `[since_ms, until_ms)`,
    /// oldest first, at most `limit`.
    pub fn missed(
        &self,
        subscription: &SubscriptionId,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<MissedEvent>, StateError> {
        let prefix = webhooks::missed_prefix(subscription);
        let from = format!("{prefix}{since_ms:013}");
        let to = format!("{prefix}{until_ms:013}");
        Ok(self
            .scan::<MissedEvent>(&from, &to, limit)?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// An outcome event as it would be delivered, for a resend.
    pub fn outcome(&self, event: &EventId) -> Result<Option<MissedEvent>, StateError> {
        let mut none = Changes::default();
        StagedStore::new(&self.store, &Changes::default(), &mut none)
            .get(&webhooks::outcome_key(event))
    }

    /// Records orders this gateway just wrote, in one store write, so that they read back at
    /// once.
    pub fn record_created(&self, orders: &[OrderCreated]) -> Result<(), StateError> {
        let base = Changes::default();
        let mut changes = Changes::default();
        let mut staged = StagedStore::new(&self.store, &base, &mut changes);
        for order in orders {
            stage_created(order, &mut staged)?;
        }
        self.store.apply(&changes, &[])
    }

    fn next_offset(&self, topic: &str, partition: i32) -> Result<Offset, StateError> {
        let stored = self.store.get_meta(&offset_key(topic, partition))?;
        Ok(stored
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(|b| Offset::Offset(i64::from_be_bytes(b)))
            .unwrap_or(Offset::Beginning))
    }

    /// Follows the source topics until `shutdown`, from where the store left off. The records
    /// already fetched are applied together, in one store write with their offsets.
    pub async fn follow(
        self: Arc<Self>,
        kafka: &KafkaSettings,
        topics: &Topics,
        codec: Arc<Codec>,
        shutdown: CancellationToken,
    ) -> Result<(), ViewError> {
        let mut config = kafka.reader_config("orderflow-gateway-views");
        config.set("isolation.level", "read_committed");
        let consumer: StreamConsumer = config.create()?;
        let mut assignment = TopicPartitionList::new();
        for event_type in SOURCES {
            let topic = topics.of(event_type);
            for partition in 0..topics.partitions(event_type.key_kind()) {
                let offset = self.next_offset(topic, partition)?;
                assignment.add_partition_offset(topic, partition, offset)?;
            }
        }
        consumer.assign(&assignment)?;

        loop {
            let received = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                received = consumer.recv() => received,
            };
            let mut batch = FollowBatch::default();
            match received {
                Ok(message) => self.take(topics, &codec, &message, &mut batch).await,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the view topics failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            }
            while batch.records < FOLLOW_BATCH_RECORDS {
                match consumer.recv().now_or_never() {
                    Some(Ok(message)) => self.take(topics, &codec, &message, &mut batch).await,
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "reading the view topics failed");
                        break;
                    }
                    None => break,
                }
            }
            let meta: Vec<(&str, &[u8])> = batch
                .next_offsets
                .iter()
                .map(|(key, next)| (key.as_str(), next.as_slice()))
                .collect();
            if let Err(e) = self.store.apply(&batch.changes, &meta) {
                tracing::error!(error = %e, records = batch.records, "cannot update the gateway's views");
            }
        }
    }

    /// Stages one record's event and its offset into `batch`.
    async fn take(
        &self,
        topics: &Topics,
        codec: &Codec,
        message: &BorrowedMessage<'_>,
        batch: &mut FollowBatch,
    ) {
        batch.records += 1;
        let next = (message.offset() + 1).to_be_bytes();
        batch
            .next_offsets
            .insert(offset_key(message.topic(), message.partition()), next);
        let event = match (topics.event_type_of(message.topic()), message.payload()) {
            (Some(event_type), Some(payload)) => decode(codec, event_type, payload).await,
            _ => None,
        };
        let Some(event) = event else {
            tracing::warn!(
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                "view skips a record it cannot decode"
            );
            return;
        };
        // Staged on its own first, so that an event that fails halfway leaves nothing behind.
        let mut changes = Changes::default();
        let mut staged = StagedStore::new(&self.store, &batch.changes, &mut changes);
        match stage(&event, &mut staged) {
            Ok(()) => batch.changes.absorb(changes),
            Err(e) => tracing::error!(
                error = %e,
                topic = message.topic(),
                partition = message.partition(),
                offset = message.offset(),
                "cannot update the gateway's views"
            ),
        }
    }
}

/// Records the follower applies in one store write at most. More would only delay what `GET`
/// sees; fewer would cost a write per record when the topics are busy.
const FOLLOW_BATCH_RECORDS: usize = 512;

/// Records read but not yet applied: their staged changes and, per partition, the offset to
/// resume from.
#[derive(Default)]
struct FollowBatch {
    changes: Changes,
    next_offsets: BTreeMap<String, [u8; 8]>,
    records: usize,
}

/// Stages what an event changes in the views.
fn stage(event: &AnyEvent, staged: &mut StagedStore<'_>) -> Result<(), StateError> {
    match event {
        AnyEvent::OrderCreated(e) => stage_created(e, staged)?,
        AnyEvent::OrderCompleted(e) => update_order(staged, e.order_id, |view| {
            view.status = OrderStatus::Completed;
            true
        })?,
        AnyEvent::OrderFailed(e) => update_order(staged, e.order_id, |view| {
            view.status = OrderStatus::Failed;
            view.reason = Some(e.reason);
            view.detail = Some(e.detail.clone());
            true
        })?,
        AnyEvent::StockLevel(level) => staged.put(&stock_key(level.sku.as_str()), level)?,
        _ => {}
    }
    webhooks::apply(event, staged)
}

/// Applies `change` to an order's view (a new one if the order is not known yet) and stages
/// the result when `change` says it changed anything.
fn update_order(
    staged: &mut StagedStore<'_>,
    order_id: OrderId,
    change: impl FnOnce(&mut OrderView) -> bool,
) -> Result<(), StateError> {
    let key = order_key(order_id);
    let mut view = staged
        .get::<OrderView>(&key)?
        .unwrap_or_else(|| OrderView::new(order_id));
    if change(&mut view) {
        staged.put(&key, &view)?;
    }
    Ok(())
}

/// Stages an accepted order. The gateway that wrote it recorded it already, so reading it back
/// from its topic usually finds nothing to change, and writes nothing.
fn stage_created(e: &OrderCreated, staged: &mut StagedStore<'_>) -> Result<(), StateError> {
    let details = OrderDetails::from(e);
    update_order(staged, e.order_id, |view| {
        let changed = view.order.as_ref() != Some(&details);
        view.order = Some(details);
        changed
    })?;
    if let Some(idempotency) = &e.idempotency {
        let used = KeyUse {
            fingerprint: idempotency.fingerprint.clone(),
            order_id: e.order_id,
            at_ms: e.created_at_ms,
            batch_fingerprint: idempotency.batch_fingerprint.clone(),
        };
        let index = idempotency_key(&idempotency.client, &idempotency.key);
        // The latest use counts: after a key expired, it may start a new order.
        let earlier = staged.get::<KeyUse>(&index)?;
        if earlier.is_none_or(|u| u.at_ms <= used.at_ms && u != used) {
            staged.put(&index, &used)?;
        }
    }
    Ok(())
}

/// Decodes a record, waiting out a registry that cannot be reached rather than skipping it.
async fn decode(codec: &Codec, event_type: EventType, payload: &[u8]) -> Option<AnyEvent> {
    loop {
        match codec.decode_any(event_type, payload).await {
            Ok(event) => return Some(event),
            Err(e) if e.is_retriable() => {
                tracing::warn!(error = %e, "schema registry unreachable; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(_) => return None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("view store: {0}")]
    State(#[from] StateError),
    #[error("view consumer: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use orderflow_schemas::events::OrderCreated;
    use orderflow_schemas::PaymentToken;

    fn order() -> OrderCreated {
        OrderCreated {
            order_id: OrderId::new_v7(),
            customer_id: CustomerId::parse("c1").unwrap(),
            email: "c1@example.com".into(),
            currency: "EUR".into(),
            items: Vec::new(),
            total_minor: 0,
            payment_token: PaymentToken::new("tok_visa".into()),
            created_at_ms: 0,
            metadata: BTreeMap::new(),
            idempotency: None,
        }
    }

    #[test]
    fn views_built_from_another_cluster_are_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let order = order();
        {
            let views = Views::open(dir.path(), Some("cluster-a")).unwrap();
            views.record_created(std::slice::from_ref(&order)).unwrap();
        }
        let same = Views::open(dir.path(), Some("cluster-a")).unwrap();
        assert!(same.order(order.order_id).unwrap().is_some());
        drop(same);
        let other = Views::open(dir.path(), Some("cluster-b")).unwrap();
        assert_eq!(other.order(order.order_id).unwrap(), None);
    }

    fn staged_by(event: &AnyEvent, views: &Views, base: &Changes) -> Changes {
        let mut changes = Changes::default();
        stage(
            event,
            &mut StagedStore::new(&views.store, base, &mut changes),
        )
        .unwrap();
        changes
    }

    #[test]
    fn an_order_read_back_as_it_was_recorded_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let views = Views::open(dir.path(), None).unwrap();
        let order = order();
        views.record_created(std::slice::from_ref(&order)).unwrap();
        let read_back = AnyEvent::OrderCreated(order.clone());
        assert!(staged_by(&read_back, &views, &Changes::default()).is_empty());

        let mut changed = order;
        changed.total_minor = 1;
        let other = AnyEvent::OrderCreated(changed);
        assert_eq!(staged_by(&other, &views, &Changes::default()).len(), 1);
    }

    #[test]
    fn events_staged_together_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let views = Views::open(dir.path(), None).unwrap();
        let order = order();
        let mut batch = staged_by(
            &AnyEvent::OrderCreated(order.clone()),
            &views,
            &Changes::default(),
        );
        let failed = AnyEvent::OrderFailed(orderflow_schemas::events::OrderFailed {
            event_id: EventId::for_outcome(order.order_id, "order.failed"),
            order_id: order.order_id,
            customer_id: order.customer_id.clone(),
            reason: FailureReason::OutOfStock,
            detail: "sku A".into(),
            failed_at_ms: 1,
        });
        let later = staged_by(&failed, &views, &batch);
        batch.absorb(later);
        views.store.apply(&batch, &[]).unwrap();
        let view = views.order(order.order_id).unwrap().unwrap();
        assert_eq!(view.status, OrderStatus::Failed);
        assert_eq!(
            view.order,
            Some(OrderDetails::from(&order)),
            "the details staged first are kept"
        );
    }
}
