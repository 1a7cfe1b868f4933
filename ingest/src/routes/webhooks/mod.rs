//! Webhook subscriptions: create (the secret is shown once, here), list, get, update, delete,
//! rotate the secret; and each subscription's attempts and replays (in [`deliveries`]).
//!
//! Every change is a new record on the compacted subscriptions topic, written before the
//! answer; the sink and every gateway pick it up from there.
//! Known shortcoming: an update here and a disable by the sink at the same moment both write
//! the whole record, and the later one wins, so the disable can be lost.

pub mod deliveries;
mod fields;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use orderflow_kafka::TraceContext;
use orderflow_schemas::clock::{now_ms, rfc3339};
use orderflow_schemas::events::{RetiringSecret, WebhookSubscription};
use orderflow_schemas::{EventType, SubscriptionId};
use orderflow_webhooks::SigningSecret;
use serde::Serialize;

use super::publish_problem;
use crate::body::read_json;
use crate::problem::{Problem, ProblemKind};
use crate::request_trace::RequestTrace;
use crate::server::Gateway;
use fields::parse;

#[derive(Debug, Serialize)]
pub struct SubscriptionResource {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Only in the answer to a creation or a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// When the secrets a rotation replaced stop signing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub previous_secrets_expire_at: Vec<String>,
}

impl SubscriptionResource {
    fn from(subscription: &WebhookSubscription, with_secret: bool) -> Self {
        let now = now_ms();
        Self {
            id: subscription.subscription_id.to_string(),
            url: subscription.url.clone(),
            event_types: subscription.event_types.clone(),
            enabled: subscription.enabled,
            disabled_reason: subscription.disabled_reason.clone(),
            created_at: rfc3339(subscription.created_at_ms),
            updated_at: rfc3339(subscription.updated_at_ms.max(subscription.created_at_ms)),
            secret: with_secret.then(|| subscription.secret.clone()),
            previous_secrets_expire_at: subscription
                .previous_secrets
                .iter()
                .filter(|s| s.expires_at_ms > now)
                .map(|s| rfc3339(s.expires_at_ms))
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SubscriptionList {
    pub data: Vec<SubscriptionResource>,
}

fn type_names(types: &[EventType]) -> Vec<String> {
    types.iter().map(|t| t.as_str().to_owned()).collect()
}

fn new_secret() -> Result<SigningSecret, Problem> {
    SigningSecret::generate().map_err(|e| Problem::new(ProblemKind::Internal, e.to_string()))
}

async fn save(
    gateway: &Gateway,
    subscription: &WebhookSubscription,
    trace: &TraceContext,
) -> Result<(), Problem> {
    gateway
        .producer
        .publish(subscription, trace)
        .await
        .map_err(publish_problem)?;
    gateway.subscriptions.upsert(subscription.clone());
    Ok(())
}

pub async fn create(
    State(gateway): State<Gateway>,
    RequestTrace(trace): RequestTrace,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SubscriptionResource>), Problem> {
    let (json, _held) = read_json(&headers, body, &gateway.limits).await?;
    let allowed = ["url", "event_types", "enabled", "secret"];
    let fields = parse(&json, &allowed, &["url", "event_types"], &gateway.targets).await?;
    let secret = match fields.secret {
        Some(secret) => secret,
        None => new_secret()?,
    };
    let now = now_ms();
    let subscription = WebhookSubscription {
        subscription_id: SubscriptionId::generate(),
        url: fields.url.unwrap_or_default(),
        event_types: type_names(&fields.event_types.unwrap_or_default()),
        secret: secret.expose(),
        created_at_ms: now,
        enabled: fields.enabled.unwrap_or(true),
        disabled_reason: None,
        previous_secrets: Vec::new(),
        updated_at_ms: now,
    };
    save(&gateway, &subscription, &trace).await?;
    tracing::info!(subscription_id = %subscription.subscription_id, "webhook subscription created");
    Ok((
        StatusCode::CREATED,
        Json(SubscriptionResource::from(&subscription, true)),
    ))
}

pub async fn list(State(gateway): State<Gateway>) -> Json<SubscriptionList> {
    let data = gateway
        .subscriptions
        .list()
        .iter()
        .map(|s| SubscriptionResource::from(s, false))
        .collect();
    Json(SubscriptionList { data })
}

pub(crate) fn find(gateway: &Gateway, id: &str) -> Result<WebhookSubscription, Problem> {
    SubscriptionId::parse(id)
        .and_then(|id| gateway.subscriptions.get(&id))
        .ok_or_else(|| Problem::not_found(format!("no webhook subscription with id {id:?}")))
}

pub async fn get(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionResource>, Problem> {
    find(&gateway, &id).map(|s| Json(SubscriptionResource::from(&s, false)))
}

/// Changes the URL, the event types or whether the subscription is enabled. Enabling it
/// clears the reason it was disabled for; what it missed meanwhile can be replayed.
pub async fn update(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    RequestTrace(trace): RequestTrace,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<SubscriptionResource>, Problem> {
    let mut subscription = find(&gateway, &id)?;
    let (json, _held) = read_json(&headers, body, &gateway.limits).await?;
    let fields = parse(
        &json,
        &["url", "event_types", "enabled"],
        &[],
        &gateway.targets,
    )
    .await?;
    if let Some(url) = fields.url {
        subscription.url = url;
    }
    if let Some(types) = fields.event_types {
        subscription.event_types = type_names(&types);
    }
    if let Some(enabled) = fields.enabled {
        if enabled {
            subscription.disabled_reason = None;
        }
        subscription.enabled = enabled;
    }
    subscription.updated_at_ms = now_ms();
    save(&gateway, &subscription, &trace).await?;
    tracing::info!(subscription_id = %subscription.subscription_id, enabled = subscription.enabled, "webhook subscription updated");
    Ok(Json(SubscriptionResource::from(&subscription, false)))
}

pub async fn delete(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    let subscription = find(&gateway, &id)?;
    let key = subscription.subscription_id.to_string();
    gateway
        .producer
        .delete(EventType::WebhookSubscription, &key)
        .await
        .map_err(publish_problem)?;
    gateway.subscriptions.remove(&subscription.subscription_id);
    tracing::info!(subscription_id = %key, "webhook subscription deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Replaces the signing secret (with one given as `secret`, or a new one). The old secret
/// keeps signing beside the new one for `webhooks.secret_rotation_overlap_ms`, so receivers
/// can switch without missing a delivery.
pub async fn rotate_secret(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    RequestTrace(trace): RequestTrace,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<SubscriptionResource>, Problem> {
    let mut subscription = find(&gateway, &id)?;
    let has_body = headers.contains_key(axum::http::header::CONTENT_TYPE);
    let secret = if has_body {
        let (json, _held) = read_json(&headers, body, &gateway.limits).await?;
        parse(&json, &["secret"], &[], &gateway.targets)
            .await?
            .secret
    } else {
        None
    };
    let secret = match secret {
        Some(secret) => secret,
        None => new_secret()?,
    };
    let now = now_ms();
    subscription
        .previous_secrets
        .retain(|s| s.expires_at_ms > now);
    subscription.previous_secrets.push(RetiringSecret {
        secret: std::mem::replace(&mut subscription.secret, secret.expose()),
        expires_at_ms: now.saturating_add(gateway.rotation_overlap_ms),
    });
    subscription.updated_at_ms = now;
    save(&gateway, &subscription, &trace).await?;
    tracing::info!(subscription_id = %subscription.subscription_id, "webhook secret rotated");
    Ok(Json(SubscriptionResource::from(&subscription, true)))
}
