//! The webhook views: every attempt per subscription, newest first; the events each
//! subscription failed to receive, by event time, for replay; and the body of every outcome
//! event, for a resend of one event.

use orderflow_schemas::clock::rfc3339;
use orderflow_schemas::events::{AnyEvent, WebhookAttempt, WebhookDeliveryFailed};
use orderflow_schemas::{EventId, OrderId, SubscriptionId};
use orderflow_state::{StagedStore, StateError};
use orderflow_webhooks::envelope::deliverable;
use serde::{Deserialize, Serialize};

/// Digits of an inverted timestamp: `i64::MAX` has 19.
const INVERTED_DIGITS: usize = 19;

/// One attempt as `GET /v1/webhooks/{id}/attempts` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptView {
    pub event_id: EventId,
    pub event_type: String,
    pub order_id: OrderId,
    pub attempt: i32,
    pub attempted_at: String,
    pub duration_ms: i64,
    pub result: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
}

/// An event a subscription did not receive, with the body to send again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissedEvent {
    pub event_id: EventId,
    pub event_type: String,
    pub order_id: OrderId,
    pub event_at_ms: i64,
    pub body: String,
}

pub fn attempts_prefix(subscription: &SubscriptionId) -> String {
    format!("attempt/{subscription}/")
}

/// Newest first: the time is inverted so that ascending keys run from the latest attempt.
fn attempt_key(attempt: &WebhookAttempt) -> String {
    let inverted = i64::MAX - attempt.attempted_at_ms.max(0);
    format!(
        "{}{inverted:0width$}/{}/{:05}",
        attempts_prefix(&attempt.subscription_id),
        attempt.event_id,
        attempt.attempt,
        width = INVERTED_DIGITS
    )
}

pub fn missed_prefix(subscription: &SubscriptionId) -> String {
    format!("missed/{subscription}/")
}

/// Sorted by the event's time, which replay windows select on.
pub fn missed_key(subscription: &SubscriptionId, event_at_ms: i64, event: &EventId) -> String {
    format!("{}{event_at_ms:013}/{event}", missed_prefix(subscription))
}

/// Where the missed-event key of an event is found from the event alone.
fn missed_by_event_key(subscription: &SubscriptionId, event: &EventId) -> String {
    format!("missed-by-event/{subscription}/{event}")
}

pub fn outcome_key(event: &EventId) -> String {
    format!("outcome/{event}")
}

pub(super) fn apply(event: &AnyEvent, staged: &mut StagedStore<'_>) -> Result<(), StateError> {
    match event {
        AnyEvent::OrderCompleted(_) | AnyEvent::OrderFailed(_) => keep_outcome(event, staged),
        AnyEvent::WebhookAttempt(attempt) => record_attempt(attempt, staged),
        AnyEvent::WebhookDeliveryFailed(failed) => record_missed(failed, staged),
        _ => Ok(()),
    }
}

fn keep_outcome(event: &AnyEvent, staged: &mut StagedStore<'_>) -> Result<(), StateError> {
    let Some(outgoing) = deliverable(event) else {
        return Ok(());
    };
    let (Ok(event_id), Ok(order_id)) = (outgoing.event_id.parse(), outgoing.order_id.parse())
    else {
        return Ok(());
    };
    let kept = MissedEvent {
        event_id,
        event_type: outgoing.event_type.as_str().to_owned(),
        order_id,
        event_at_ms: outgoing.at_ms,
        body: String::from_utf8_lossy(&outgoing.body).into_owned(),
    };
    staged.put(&outcome_key(&event_id), &kept)
}

/// Lists the attempt; a delivered one also means the event is no longer missed.
fn record_attempt(
    attempt: &WebhookAttempt,
    staged: &mut StagedStore<'_>,
) -> Result<(), StateError> {
    let view = AttemptView {
        event_id: attempt.event_id,
        event_type: attempt.event_type.clone(),
        order_id: attempt.order_id,
        attempt: attempt.attempt,
        attempted_at: rfc3339(attempt.attempted_at_ms),
        duration_ms: attempt.duration_ms,
        result: attempt.result.as_str().to_owned(),
        status: attempt.status,
        error: attempt.error.clone(),
        response_body: attempt.response_body.clone(),
    };
    staged.put(&attempt_key(attempt), &view)?;
    if attempt.result == orderflow_schemas::events::AttemptResult::Delivered {
        let by_event = missed_by_event_key(&attempt.subscription_id, &attempt.event_id);
        if let Some(event_at_ms) = staged.get::<i64>(&by_event)? {
            staged.delete(&missed_key(
                &attempt.subscription_id,
                event_at_ms,
                &attempt.event_id,
            ));
            staged.delete(&by_event);
        }
    }
    Ok(())
}

fn record_missed(
    failed: &WebhookDeliveryFailed,
    staged: &mut StagedStore<'_>,
) -> Result<(), StateError> {
    let missed = MissedEvent {
        event_id: failed.event_id,
        event_type: failed.event_type.clone(),
        order_id: failed.order_id,
        event_at_ms: failed.event_at_ms,
        body: failed.body.clone(),
    };
    let key = missed_key(
        &failed.subscription_id,
        failed.event_at_ms,
        &failed.event_id,
    );
    staged.put(&key, &missed)?;
    staged.put(
        &missed_by_event_key(&failed.subscription_id, &failed.event_id),
        &failed.event_at_ms,
    )
}
