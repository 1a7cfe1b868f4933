//! Order events: placed, completed, failed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event;
use crate::ids::{CustomerId, EventId, OrderId, PaymentToken, Sku};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub sku: Sku,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

/// A customer placed an order and the gateway accepted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCreated {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub email: String,
    pub currency: String,
    pub items: Vec<OrderItem>,
    pub total_minor: i64,
    pub payment_token: PaymentToken,
    pub created_at_ms: i64,
    /// The client's own key-value pairs, kept exactly as sent.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub idempotency: Option<IdempotencyKey>,
}

/// The `Idempotency-Key` an order was sent with, so that every gateway recognises a repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyKey {
    /// Name of the API key that sent the order: keys are per client.
    pub client: String,
    pub key: String,
    /// SHA-256 of the request body, hex.
    pub fingerprint: String,
    /// SHA-256 of the whole batch the order came in, hex; `None` for a single order.
    #[serde(default)]
    pub batch_fingerprint: Option<String>,
}
event!(
    OrderCreated,
    OrderCreated,
    "order_created.avsc",
    |e| e.order_id.to_string(),
    id: e.order_id.to_string()
);

/// Every line of the order got its stock and the payment was authorized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderCompleted {
    pub event_id: EventId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub email: String,
    pub currency: String,
    pub total_minor: i64,
    pub item_count: i32,
    pub authorization_id: String,
    pub completed_at_ms: i64,
}
event!(
    OrderCompleted,
    OrderCompleted,
    "order_completed.avsc",
    |e| e.order_id.to_string(),
    id: e.event_id.to_string()
);

/// Why an order failed. The first cause found wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    OutOfStock,
    PaymentDeclined,
    Timeout,
}

impl FailureReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::OutOfStock => "out_of_stock",
            FailureReason::PaymentDeclined => "payment_declined",
            FailureReason::Timeout => "timeout",
        }
    }
}

/// The order cannot be fulfilled; whatever stock it had reserved is released.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderFailed {
    pub event_id: EventId,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub reason: FailureReason,
    pub detail: String,
    pub failed_at_ms: i64,
}
event!(
    OrderFailed,
    OrderFailed,
    "order_failed.avsc",
    |e| e.order_id.to_string(),
    id: e.event_id.to_string()
);
