//! The events of the pipeline, one Rust type per Avro schema in `schemas/avro/`.

mod any;
mod order;
mod payment;
mod stock;
mod webhook;

pub use any::AnyEvent;
pub use order::{
    FailureReason, IdempotencyKey, OrderCompleted, OrderCreated, OrderFailed, OrderItem,
};
pub use payment::{AuthorizationOutcome, PaymentAuthorization};
pub use stock::{
    StockLevel, StockReleaseRequested, StockReservationRequested, StockReservationResult, StockSet,
};
pub use webhook::{
    AttemptResult, DisableReason, RetiringSecret, WebhookAttempt, WebhookDeliveryFailed,
    WebhookDeliveryRequested, WebhookSubscription, WebhookSubscriptionDisabled,
};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// How a topic's records are keyed, which decides which topics are co-partitioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    OrderId,
    Sku,
    SubscriptionId,
}

/// Every kind of event; each has its own topic and schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    OrderCreated,
    OrderCompleted,
    OrderFailed,
    StockSet,
    StockLevel,
    StockReservationRequested,
    StockReleaseRequested,
    StockReservationResult,
    PaymentAuthorization,
    WebhookSubscription,
    WebhookAttempt,
    WebhookDeliveryFailed,
    WebhookDeliveryRequested,
    WebhookSubscriptionDisabled,
}

impl EventType {
    pub const ALL: [EventType; 14] = [
        EventType::OrderCreated,
        EventType::OrderCompleted,
        EventType::OrderFailed,
        EventType::StockSet,
        EventType::StockLevel,
        EventType::StockReservationRequested,
        EventType::StockReleaseRequested,
        EventType::StockReservationResult,
        EventType::PaymentAuthorization,
        EventType::WebhookSubscription,
        EventType::WebhookAttempt,
        EventType::WebhookDeliveryFailed,
        EventType::WebhookDeliveryRequested,
        EventType::WebhookSubscriptionDisabled,
    ];

    /// The name used in topic names, webhook payloads and subscription filters.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderCreated => "order.created",
            EventType::OrderCompleted => "order.completed",
            EventType::OrderFailed => "order.failed",
            EventType::StockSet => "stock.set",
            EventType::StockLevel => "stock.level",
            EventType::StockReservationRequested => "stock.reservation-requested",
            EventType::StockReleaseRequested => "stock.release-requested",
            EventType::StockReservationResult => "stock.reservation-result",
            EventType::PaymentAuthorization => "payment.authorization",
            EventType::WebhookSubscription => "webhook.subscription",
            EventType::WebhookAttempt => "webhook.attempt",
            EventType::WebhookDeliveryFailed => "webhook.delivery-failed",
            EventType::WebhookDeliveryRequested => "webhook.delivery-requested",
            EventType::WebhookSubscriptionDisabled => "webhook.subscription-disabled",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub fn key_kind(self) -> KeyKind {
        match self {
            EventType::StockSet
            | EventType::StockLevel
            | EventType::StockReservationRequested
            | EventType::StockReleaseRequested => KeyKind::Sku,
            EventType::WebhookSubscription | EventType::WebhookSubscriptionDisabled => {
                KeyKind::SubscriptionId
            }
            _ => KeyKind::OrderId,
        }
    }

    /// Topics that hold the latest value per key rather than a history.
    pub fn compacted(self) -> bool {
        matches!(self, EventType::StockLevel | EventType::WebhookSubscription)
    }

    /// The Avro schema text, as registered with the schema registry.
    pub fn schema(self) -> &'static str {
        match self {
            EventType::OrderCreated => OrderCreated::SCHEMA,
            EventType::OrderCompleted => OrderCompleted::SCHEMA,
            EventType::OrderFailed => OrderFailed::SCHEMA,
            EventType::StockSet => StockSet::SCHEMA,
            EventType::StockLevel => StockLevel::SCHEMA,
            EventType::StockReservationRequested => StockReservationRequested::SCHEMA,
            EventType::StockReleaseRequested => StockReleaseRequested::SCHEMA,
            EventType::StockReservationResult => StockReservationResult::SCHEMA,
            EventType::PaymentAuthorization => PaymentAuthorization::SCHEMA,
            EventType::WebhookSubscription => WebhookSubscription::SCHEMA,
            EventType::WebhookAttempt => WebhookAttempt::SCHEMA,
            EventType::WebhookDeliveryFailed => WebhookDeliveryFailed::SCHEMA,
            EventType::WebhookDeliveryRequested => WebhookDeliveryRequested::SCHEMA,
            EventType::WebhookSubscriptionDisabled => WebhookSubscriptionDisabled::SCHEMA,
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event type's Rust form: what it is called, its schema and its record key.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    const TYPE: EventType;
    const SCHEMA: &'static str;

    /// The record key: decides the partition, and so which processor instance sees it.
    fn key(&self) -> String;

    /// The CloudEvents id (`ce_id`). Events with an identity of their own (an order, an
    /// outcome) keep it, so that a repeated write of the same event has the same id; others
    /// get a new one.
    fn cloud_event_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
}

macro_rules! event {
    ($ty:ty, $kind:ident, $file:literal, |$e:ident| $key:expr) => {
        impl $crate::events::Event for $ty {
            const TYPE: $crate::events::EventType = $crate::events::EventType::$kind;
            const SCHEMA: &'static str = include_str!(concat!("../../avro/", $file));

            fn key(&self) -> String {
                let $e = self;
                $key
            }
        }
    };
    ($ty:ty, $kind:ident, $file:literal, |$e:ident| $key:expr, id: $id:expr) => {
        impl $crate::events::Event for $ty {
            const TYPE: $crate::events::EventType = $crate::events::EventType::$kind;
            const SCHEMA: &'static str = include_str!(concat!("../../avro/", $file));

            fn key(&self) -> String {
                let $e = self;
                $key
            }

            fn cloud_event_id(&self) -> String {
                let $e = self;
                $id
            }
        }
    };
}
pub(crate) use event;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_parses_and_names_its_type_once() {
        for event_type in EventType::ALL {
            let schema = apache_avro::Schema::parse_str(event_type.schema())
                .unwrap_or_else(|e| panic!("{event_type}: {e}"));
            assert!(
                matches!(schema, apache_avro::Schema::Record(_)),
                "{event_type}"
            );
            assert_eq!(EventType::parse(event_type.as_str()), Some(event_type));
        }
    }
}
