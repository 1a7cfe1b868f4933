//! The topic catalogue: one naming scheme for every topic the pipeline reads or writes.
//!
//! - events: `<namespace>.<event type>`, e.g. `orderflow.order.created`;
//! - dead letters: `<namespace>.dead-letter`;
//! - consumer groups: `<namespace>-<component>`, e.g. `orderflow-inventory`;
//! - state changelogs: `<group>-<store>-changelog`, as Kafka Streams names them.

use crate::events::{EventType, KeyKind};

/// Partitions of the subscriptions topic: it holds one small record per subscriber.
const SUBSCRIPTION_PARTITIONS: i32 = 1;

/// A topic the pipeline creates at start-up when it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub compacted: bool,
}

#[derive(Debug, Clone)]
pub struct Topics {
    namespace: String,
    order_partitions: i32,
    sku_partitions: i32,
    names: Vec<(EventType, String)>,
}

impl Topics {
    /// `order_partitions` applies to every topic keyed by order id, `sku_partitions` to every
    /// topic keyed by SKU: topics with the same key must have the same partition count so that
    /// one processor instance sees every record of a key (co-partitioning).
    pub fn new(namespace: &str, order_partitions: i32, sku_partitions: i32) -> Self {
        let names = EventType::ALL
            .into_iter()
            .map(|t| (t, format!("{namespace}.{}", t.as_str())))
            .collect();
        Self {
            namespace: namespace.to_owned(),
            order_partitions,
            sku_partitions,
            names,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The topic that carries events of `event_type`.
    pub fn of(&self, event_type: EventType) -> &str {
        self.names
            .iter()
            .find(|(t, _)| *t == event_type)
            .map(|(_, name)| name.as_str())
            .unwrap_or_default()
    }

    /// The event type a topic carries, for consumers that read several topics.
    pub fn event_type_of(&self, topic: &str) -> Option<EventType> {
        self.names
            .iter()
            .find(|(_, name)| name == topic)
            .map(|(t, _)| *t)
    }

    pub fn partitions(&self, key: KeyKind) -> i32 {
        match key {
            KeyKind::OrderId => self.order_partitions,
            KeyKind::Sku => self.sku_partitions,
            KeyKind::SubscriptionId => SUBSCRIPTION_PARTITIONS,
        }
    }

    /// Records no processor could decode or handle, with the reason in their headers.
    pub fn dead_letter(&self) -> String {
        format!("{}.dead-letter", self.namespace)
    }

    pub fn consumer_group(&self, component: &str) -> String {
        format!("{}-{component}", self.namespace)
    }

    pub fn changelog(&self, group: &str, store: &str) -> String {
        format!("{group}-{store}-changelog")
    }

    /// Every event topic plus the dead-letter topic.
    pub fn event_specs(&self) -> Vec<TopicSpec> {
        let mut specs: Vec<TopicSpec> = self
            .names
            .iter()
            .map(|(t, name)| TopicSpec {
                name: name.clone(),
                partitions: self.partitions(t.key_kind()),
                compacted: t.compacted(),
            })
            .collect();
        specs.push(TopicSpec {
            name: self.dead_letter(),
            partitions: self.order_partitions,
            compacted: false,
        });
        specs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_documented_scheme() {
        let topics = Topics::new("orderflow", 6, 4);
        assert_eq!(
            topics.of(EventType::OrderCreated),
            "orderflow.order.created"
        );
        assert_eq!(
            topics.event_type_of("orderflow.stock.reservation-requested"),
            Some(EventType::StockReservationRequested)
        );
        assert_eq!(topics.consumer_group("orders"), "orderflow-orders");
        assert_eq!(
            topics.changelog("orderflow-orders", "sagas"),
            "orderflow-orders-sagas-changelog"
        );
    }

    #[test]
    fn topics_with_the_same_key_share_a_partition_count() {
        let topics = Topics::new("t", 6, 4);
        for spec in topics.event_specs() {
            let Some(t) = topics.event_type_of(&spec.name) else {
                continue;
            };
            assert_eq!(
                spec.partitions,
                topics.partitions(t.key_kind()),
                "{}",
                spec.name
            );
        }
    }
}
