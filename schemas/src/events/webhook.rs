//! Webhook events: subscriptions, delivery attempts, dead letters, replay requests and the
//! operational event of a disabled subscription.

use serde::{Deserialize, Serialize};

use super::event;
use crate::ids::{EventId, OrderId, SubscriptionId};

/// A subscriber's endpoint. The signing secret is part of the record because every sink
/// instance must sign with it.
/// Known shortcoming: secrets sit unencrypted in the topic, so topic read access must be
/// restricted to orderflow's own principals.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSubscription {
    pub subscription_id: SubscriptionId,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret: String,
    pub created_at_ms: i64,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Secrets replaced by a rotation; each keeps signing until it expires.
    pub previous_secrets: Vec<RetiringSecret>,
    pub updated_at_ms: i64,
}
event!(
    WebhookSubscription,
    WebhookSubscription,
    "webhook_subscription.avsc",
    |e| e.subscription_id.to_string()
);

impl std::fmt::Debug for WebhookSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSubscription")
            .field("subscription_id", &self.subscription_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("secret", &"<redacted>")
            .field("previous_secrets", &self.previous_secrets.len())
            .finish()
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct RetiringSecret {
    pub secret: String,
    pub expires_at_ms: i64,
}

/// How one delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptResult {
    /// The endpoint answered 2xx.
    Delivered,
    /// Worth trying again: an error status, a timeout, a refused or broken connection.
    Failed,
    /// The endpoint answered 410: the subscription is disabled.
    Gone,
    /// The target address is not one orderflow may connect to.
    Refused,
}

impl AttemptResult {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptResult::Delivered => "delivered",
            AttemptResult::Failed => "failed",
            AttemptResult::Gone => "gone",
            AttemptResult::Refused => "refused",
        }
    }
}

/// One HTTP attempt to deliver an event to a subscription. Keyed by order id, so that the
/// sink partition owning the delivery reads the result back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    pub event_id: EventId,
    pub event_type: String,
    pub order_id: OrderId,
    pub subscription_id: SubscriptionId,
    /// 1 for the first attempt of the delivery.
    pub attempt: i32,
    pub attempted_at_ms: i64,
    pub duration_ms: i64,
    pub result: AttemptResult,
    pub status: Option<i32>,
    pub error: Option<String>,
    /// The start of the answer, cut at the sink's limit.
    pub response_body: Option<String>,
    pub retry_after_ms: Option<i64>,
}
event!(
    WebhookAttempt,
    WebhookAttempt,
    "webhook_attempt.avsc",
    |e| e.order_id.to_string()
);

/// The dead letter of a delivery: an event a subscription did not receive, with the exact
/// body, so that it can be replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDeliveryFailed {
    pub event_id: EventId,
    pub event_type: String,
    pub order_id: OrderId,
    pub subscription_id: SubscriptionId,
    pub event_at_ms: i64,
    pub attempts: i32,
    pub reason: String,
    pub failed_at_ms: i64,
    pub body: String,
}
event!(
    WebhookDeliveryFailed,
    WebhookDeliveryFailed,
    "webhook_delivery_failed.avsc",
    |e| e.order_id.to_string()
);

/// Asks the sink to deliver an event to one subscription again, from the first attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookDeliveryRequested {
    pub event_id: EventId,
    pub event_type: String,
    pub order_id: OrderId,
    pub subscription_id: SubscriptionId,
    pub event_at_ms: i64,
    pub body: String,
    pub requested_at_ms: i64,
}
event!(
    WebhookDeliveryRequested,
    WebhookDeliveryRequested,
    "webhook_delivery_requested.avsc",
    |e| e.order_id.to_string()
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisableReason {
    /// The endpoint answered 410 Gone.
    Gone,
    /// Every attempt failed for longer than the sink allows.
    Failing,
}

impl DisableReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DisableReason::Gone => "gone",
            DisableReason::Failing => "failing",
        }
    }
}

/// Operational event: orderflow disabled a subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSubscriptionDisabled {
    pub subscription_id: SubscriptionId,
    pub url: String,
    pub reason: DisableReason,
    pub detail: String,
    pub failing_since_ms: Option<i64>,
    pub disabled_at_ms: i64,
}
event!(
    WebhookSubscriptionDisabled,
    WebhookSubscriptionDisabled,
    "webhook_subscription_disabled.avsc",
    |e| e.subscription_id.to_string()
);
