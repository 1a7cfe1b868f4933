//! A webhook subscriber's endpoint, as kept on the compacted subscriptions topic.

use serde::{Deserialize, Serialize};

use super::event;
use crate::ids::SubscriptionId;

/// The signing secret is part of the record because every sink instance must sign with it.
/// Known shortcoming: secrets sit unencrypted in the topic, so topic read access must be
/// restricted to orderflow's own principals.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookSubscription {
    pub subscription_id: SubscriptionId,
    pub url: String,
    pub event_types: Vec<String>,
    pub secret: String,
    pub created_at_ms: i64,
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
            .field("secret", &"<redacted>")
            .finish()
    }
}
