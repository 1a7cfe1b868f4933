//! What happened to a subscription's deliveries, and getting them again:
//! `GET /v1/webhooks/{id}/attempts` and `POST /v1/webhooks/{id}/replay`.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::stream::{self, StreamExt};
use orderflow_kafka::TraceContext;
use orderflow_schemas::clock::{now_ms, parse_rfc3339, rfc3339};
use orderflow_schemas::events::{WebhookDeliveryRequested, WebhookSubscription};
use orderflow_schemas::EventId;
use orderflow_webhooks::subscription::wants;
use serde::Serialize;
use serde_json::Value;

use super::find;
use crate::body::read_json;
use crate::problem::{FieldError, Problem};
use crate::request_trace::RequestTrace;
use crate::routes::{publish_problem, storage_problem};
use crate::server::Gateway;
use crate::views::{AttemptView, MissedEvent};

/// Attempts per page unless `limit` says otherwise, and the most a page may hold.
const ATTEMPTS_PAGE_DEFAULT: usize = 50;
const ATTEMPTS_PAGE_MAX: usize = 250;
/// Events one replay request sends again at most; the answer says where to go on from.
const REPLAY_MAX_EVENTS: usize = 10_000;
/// Replay requests written to Kafka at once.
const REPLAY_CONCURRENCY: usize = 64;

#[derive(Debug, Serialize)]
pub struct AttemptPage {
    pub data: Vec<AttemptView>,
    /// Pass as `cursor` for the next, older page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn query_error(name: &str, detail: &str) -> Problem {
    Problem::validation(vec![FieldError::new(format!("/query/{name}"), detail)])
}

/// A cursor is the position of a page's first attempt, opaque to clients.
fn decode_cursor(text: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let position = String::from_utf8(bytes).ok()?;
    position
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_'))
        .then_some(position)
}

/// A subscription's attempts, newest first.
pub async fn attempts(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<AttemptPage>, Problem> {
    let subscription = find(&gateway, &id)?;
    let limit = match query.get("limit") {
        None => ATTEMPTS_PAGE_DEFAULT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (1..=ATTEMPTS_PAGE_MAX).contains(&n) => n,
            _ => {
                let detail = format!("must be a whole number from 1 to {ATTEMPTS_PAGE_MAX}");
                return Err(query_error("limit", &detail));
            }
        },
    };
    let cursor = match query.get("cursor") {
        None => None,
        Some(text) => Some(
            decode_cursor(text)
                .ok_or_else(|| query_error("cursor", "is not a cursor this API returned"))?,
        ),
    };
    let (data, next) = gateway
        .views
        .attempts(&subscription.subscription_id, cursor.as_deref(), limit)
        .map_err(storage_problem)?;
    Ok(Json(AttemptPage {
        data,
        next_cursor: next.map(|n| URL_SAFE_NO_PAD.encode(n)),
    }))
}

#[derive(Debug, Serialize)]
pub struct ReplayAnswer {
    /// Events asked to be delivered again.
    pub requested: usize,
    /// Present when the window held more than one request replays: send it as `since`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_since: Option<String>,
}

enum ReplayRequest {
    Window { since_ms: i64, until_ms: i64 },
    Event(EventId),
}

fn parse_replay(body: &Value) -> Result<ReplayRequest, Problem> {
    let Value::Object(fields) = body else {
        return Err(Problem::validation(vec![FieldError::new(
            "",
            "must be a JSON object",
        )]));
    };
    let mut errors: Vec<FieldError> = fields
        .keys()
        .filter(|k| !matches!(k.as_str(), "since" | "until" | "event_id"))
        .map(|k| FieldError::new(format!("/{k}"), "is not a known field"))
        .collect();
    let time = |name: &str, errors: &mut Vec<FieldError>| match fields.get(name) {
        None => None,
        Some(Value::String(text)) => parse_rfc3339(text).or_else(|| {
            errors.push(FieldError::new(
                format!("/{name}"),
                "must be an RFC 3339 time",
            ));
            None
        }),
        Some(_) => {
            errors.push(FieldError::new(
                format!("/{name}"),
                "must be an RFC 3339 time",
            ));
            None
        }
    };
    let since = time("since", &mut errors);
    let until = time("until", &mut errors);
    let event = match fields.get("event_id") {
        None => None,
        Some(Value::String(text)) => text.parse::<EventId>().ok().or_else(|| {
            errors.push(FieldError::new("/event_id", "must be an event id (a UUID)"));
            None
        }),
        Some(_) => {
            errors.push(FieldError::new("/event_id", "must be an event id (a UUID)"));
            None
        }
    };
    let window = fields.contains_key("since") || fields.contains_key("until");
    if window == fields.contains_key("event_id") {
        errors.push(FieldError::new(
            "",
            "give either `since` (and `until`) or `event_id`",
        ));
    } else if window && !fields.contains_key("since") {
        errors.push(FieldError::new("/since", "is required with `until`"));
    }
    if let (Some(since), Some(until)) = (since, until) {
        if until <= since {
            errors.push(FieldError::new("/until", "must be later than `since`"));
        }
    }
    if !errors.is_empty() {
        return Err(Problem::validation(errors));
    }
    Ok(match (event, since) {
        (Some(event), _) => ReplayRequest::Event(event),
        (None, since) => ReplayRequest::Window {
            since_ms: since.unwrap_or_default(),
            until_ms: until.unwrap_or(i64::MAX / 2),
        },
    })
}

async fn request(
    gateway: &Gateway,
    subscription: &WebhookSubscription,
    event: MissedEvent,
    trace: &TraceContext,
) -> Result<(), Problem> {
    let request = WebhookDeliveryRequested {
        event_id: event.event_id,
        event_type: event.event_type,
        order_id: event.order_id,
        subscription_id: subscription.subscription_id.clone(),
        event_at_ms: event.event_at_ms,
        body: event.body,
        requested_at_ms: now_ms(),
    };
    gateway
        .producer
        .publish(&request, trace)
        .await
        .map_err(publish_problem)
}

/// Delivers again, from the first attempt, either every event of a time window that the
/// subscription failed to receive (exhausted, or missed while it was disabled), or one event
/// given by id, received or not.
pub async fn replay(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    RequestTrace(trace): RequestTrace,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ReplayAnswer>), Problem> {
    let subscription = find(&gateway, &id)?;
    let (json, _held) = read_json(&headers, body, &gateway.limits).await?;
    let (events, next_since) = match parse_replay(&json)? {
        ReplayRequest::Event(event_id) => {
            let event = gateway
                .views
                .outcome(&event_id)
                .map_err(storage_problem)?
                .ok_or_else(|| Problem::not_found(format!("no event with id {event_id}")))?;
            let wanted = orderflow_schemas::EventType::parse(&event.event_type)
                .is_some_and(|t| wants(&subscription, t));
            if !wanted {
                let detail = format!("the subscription does not receive {}", event.event_type);
                return Err(Problem::validation(vec![FieldError::new(
                    "/event_id",
                    detail,
                )]));
            }
            (vec![event], None)
        }
        ReplayRequest::Window { since_ms, until_ms } => {
            let id = &subscription.subscription_id;
            let mut events = gateway
                .views
                .missed(id, since_ms, until_ms, REPLAY_MAX_EVENTS + 1)
                .map_err(storage_problem)?;
            let next = (events.len() > REPLAY_MAX_EVENTS)
                .then(|| events.pop().map(|e| rfc3339(e.event_at_ms)))
                .flatten();
            (events, next)
        }
    };
    let requested = events.len();
    // A failure answers 503; some requests may be written by then, and replaying the same
    // window again is harmless: deliveries already on their way are not started twice.
    let written: Vec<Result<(), Problem>> = stream::iter(events)
        .map(|event| request(&gateway, &subscription, event, &trace))
        .buffer_unordered(REPLAY_CONCURRENCY)
        .collect()
        .await;
    written.into_iter().collect::<Result<(), Problem>>()?;
    tracing::info!(subscription_id = %subscription.subscription_id, requested, "webhook replay requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayAnswer {
            requested,
            next_since,
        }),
    ))
}
