//! An event of any type, for consumers that read several topics.

use super::*;

#[derive(Debug, Clone)]
pub enum AnyEvent {
    OrderCreated(OrderCreated),
    OrderCompleted(OrderCompleted),
    OrderFailed(OrderFailed),
    StockSet(StockSet),
    StockLevel(StockLevel),
    StockReservationRequested(StockReservationRequested),
    StockReleaseRequested(StockReleaseRequested),
    StockReservationResult(StockReservationResult),
    PaymentAuthorization(PaymentAuthorization),
    WebhookSubscription(WebhookSubscription),
    WebhookAttempt(WebhookAttempt),
    WebhookDeliveryFailed(WebhookDeliveryFailed),
    WebhookDeliveryRequested(WebhookDeliveryRequested),
    WebhookSubscriptionDisabled(WebhookSubscriptionDisabled),
}

impl AnyEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            AnyEvent::OrderCreated(_) => EventType::OrderCreated,
            AnyEvent::OrderCompleted(_) => EventType::OrderCompleted,
            AnyEvent::OrderFailed(_) => EventType::OrderFailed,
            AnyEvent::StockSet(_) => EventType::StockSet,
            AnyEvent::StockLevel(_) => EventType::StockLevel,
            AnyEvent::StockReservationRequested(_) => EventType::StockReservationRequested,
            AnyEvent::StockReleaseRequested(_) => EventType::StockReleaseRequested,
            AnyEvent::StockReservationResult(_) => EventType::StockReservationResult,
            AnyEvent::PaymentAuthorization(_) => EventType::PaymentAuthorization,
            AnyEvent::WebhookSubscription(_) => EventType::WebhookSubscription,
            AnyEvent::WebhookAttempt(_) => EventType::WebhookAttempt,
            AnyEvent::WebhookDeliveryFailed(_) => EventType::WebhookDeliveryFailed,
            AnyEvent::WebhookDeliveryRequested(_) => EventType::WebhookDeliveryRequested,
            AnyEvent::WebhookSubscriptionDisabled(_) => EventType::WebhookSubscriptionDisabled,
        }
    }

    /// The event as JSON, for people and for webhook payloads.
    pub fn to_json(&self) -> serde_json::Value {
        let value = match self {
            AnyEvent::OrderCreated(e) => serde_json::to_value(e),
            AnyEvent::OrderCompleted(e) => serde_json::to_value(e),
            AnyEvent::OrderFailed(e) => serde_json::to_value(e),
            AnyEvent::StockSet(e) => serde_json::to_value(e),
            AnyEvent::StockLevel(e) => serde_json::to_value(e),
            AnyEvent::StockReservationRequested(e) => serde_json::to_value(e),
            AnyEvent::StockReleaseRequested(e) => serde_json::to_value(e),
            AnyEvent::StockReservationResult(e) => serde_json::to_value(e),
            AnyEvent::PaymentAuthorization(e) => serde_json::to_value(e),
            AnyEvent::WebhookSubscription(e) => serde_json::to_value(e),
            AnyEvent::WebhookAttempt(e) => serde_json::to_value(e),
            AnyEvent::WebhookDeliveryFailed(e) => serde_json::to_value(e),
            AnyEvent::WebhookDeliveryRequested(e) => serde_json::to_value(e),
            AnyEvent::WebhookSubscriptionDisabled(e) => serde_json::to_value(e),
        };
        value.unwrap_or_default()
    }
}
