//! Webhooks: how subscribers hear about order outcomes.
//!
//! Subscriptions are records on the compacted `webhook.subscription` topic, keyed by
//! subscription id (a deletion is a tombstone); every gateway and sink instance materializes
//! them with a [`SubscriptionRegistry`]. The [`sink`] consumes `order.completed` and
//! `order.failed` and POSTs each event, signed per the Standard Webhooks specification, to
//! every subscription that asked for its type.

pub mod delivery;
pub mod envelope;
pub mod listen;
pub mod registry;
pub mod secret;
pub mod signature;
pub mod sink;
pub mod subscription;

pub use registry::SubscriptionRegistry;
pub use secret::SigningSecret;
pub use sink::WebhookSettings;
