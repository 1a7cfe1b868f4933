//! What the sink keeps in its store, per partition: deliveries not yet settled, an index of
//! them by due time, and how long each subscription has been failing.

use orderflow_schemas::{EventId, OrderId, SubscriptionId};
use serde::{Deserialize, Serialize};

/// A delivery of one event to one subscription that is not settled yet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub event_type: String,
    pub order_id: OrderId,
    pub event_at_ms: i64,
    pub body: String,
    /// Attempts whose result has been recorded.
    pub attempts: i32,
    /// The due-index entry that stands for this delivery: when it is next looked at.
    pub due_ms: i64,
    pub last_error: Option<String>,
    /// The `traceparent` of the event, sent with every attempt.
    #[serde(default)]
    pub trace: Option<String>,
    /// An attempt was handed to the dispatcher and its result has not been read back yet.
    #[serde(default)]
    pub in_flight: bool,
    /// A replay asked for the event while an attempt was in flight: once that attempt is
    /// settled, the event is delivered again from the first attempt.
    #[serde(default)]
    pub again: bool,
}

impl Pending {
    /// A delivery before its first attempt, carrying the event's `traceparent`.
    pub fn first(
        event_type: String,
        order_id: OrderId,
        event_at_ms: i64,
        body: String,
        trace: String,
    ) -> Self {
        Self {
            event_type,
            order_id,
            event_at_ms,
            body,
            attempts: 0,
            due_ms: 0,
            last_error: None,
            trace: Some(trace),
            in_flight: false,
            again: false,
        }
    }
}

/// Since when every attempt to a subscription from this partition failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub failing_since_ms: i64,
}

pub const DUE_PREFIX: &str = "due/";

pub fn pending_key(event: &EventId, subscription: &SubscriptionId) -> String {
    format!("pending/{event}/{subscription}")
}

/// Zero-padded, so that the index sorts by due time.
pub fn due_key(due_ms: i64, event: &EventId, subscription: &SubscriptionId) -> String {
    format!("{DUE_PREFIX}{due_ms:013}/{event}/{subscription}")
}

/// The end of the due index's range for everything due at `now_ms`.
pub fn due_until(now_ms: i64) -> String {
    format!("{DUE_PREFIX}{:013}", now_ms + 1)
}

pub fn health_key(subscription: &SubscriptionId) -> String {
    format!("health/{subscription}")
}

/// The parts of a due-index key; `None` for a key this build did not write.
pub fn parse_due_key(key: &str) -> Option<(i64, EventId, SubscriptionId)> {
    let mut parts = key.strip_prefix(DUE_PREFIX)?.split('/');
    let due = parts.next()?.parse().ok()?;
    let event = parts.next()?.parse().ok()?;
    let subscription = SubscriptionId::parse(parts.next()?)?;
    Some((due, event, subscription))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_keys_sort_by_time_and_parse_back() {
        let event = EventId::for_outcome(OrderId::new_v7(), "order.failed");
        let sub = SubscriptionId::generate();
        let (early, late) = (due_key(999, &event, &sub), due_key(1_000, &event, &sub));
        assert!(early < late);
        assert!(late < due_until(1_000));
        assert_eq!(parse_due_key(&late), Some((1_000, event, sub)));
        assert_eq!(parse_due_key("due/x"), None);
    }
}
