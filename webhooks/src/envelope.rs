//! The body of every delivery: `{"type", "id", "timestamp", "data"}`, the same bytes that
//! were signed.

use orderflow_schemas::clock::rfc3339;
use orderflow_schemas::events::AnyEvent;
use orderflow_schemas::EventType;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Envelope<'a> {
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub id: String,
    pub timestamp: String,
    pub data: serde_json::Value,
}

/// A deliverable event: its type, its id (sent as `webhook-id`) and the body to sign and send.
pub struct Deliverable {
    pub event_type: EventType,
    pub event_id: String,
    pub order_id: String,
    /// When the event happened, in epoch ms.
    pub at_ms: i64,
    pub body: Vec<u8>,
}

/// Builds the delivery of an outcome event; other events are not delivered.
pub fn deliverable(event: &AnyEvent) -> Option<Deliverable> {
    let (event_id, order_id, at_ms) = match event {
        AnyEvent::OrderCompleted(e) => (e.event_id.to_string(), e.order_id, e.completed_at_ms),
        AnyEvent::OrderFailed(e) => (e.event_id.to_string(), e.order_id, e.failed_at_ms),
        _ => return None,
    };
    let envelope = Envelope {
        event_type: event.event_type().as_str(),
        id: event_id.clone(),
        timestamp: rfc3339(at_ms),
        data: event.to_json(),
    };
    let body = serde_json::to_vec(&envelope).ok()?;
    Some(Deliverable {
        event_type: event.event_type(),
        event_id,
        order_id: order_id.to_string(),
        at_ms,
        body,
    })
}
