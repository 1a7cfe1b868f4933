//! Webhook subscriptions: create (the secret is shown once, here), list, get, delete.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use orderflow_schemas::clock::{now_ms, rfc3339};
use orderflow_schemas::events::WebhookSubscription;
use orderflow_schemas::{EventType, SubscriptionId};
use orderflow_webhooks::subscription::{validate_event_types, validate_url};
use orderflow_webhooks::SigningSecret;
use serde::Serialize;
use serde_json::Value;

use super::publish_problem;
use crate::body::read_json;
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::server::Gateway;

#[derive(Debug, Serialize)]
pub struct SubscriptionResource {
    pub id: String,
    pub url: String,
    pub event_types: Vec<String>,
    pub created_at: String,
    /// Only in the answer to the creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl SubscriptionResource {
    fn from(subscription: &WebhookSubscription, with_secret: bool) -> Self {
        Self {
            id: subscription.subscription_id.to_string(),
            url: subscription.url.clone(),
            event_types: subscription.event_types.clone(),
            created_at: rfc3339(subscription.created_at_ms),
            secret: with_secret.then(|| subscription.secret.clone()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct SubscriptionList {
    pub data: Vec<SubscriptionResource>,
}

fn parse_new(body: &Value) -> Result<(String, Vec<EventType>), Problem> {
    let Value::Object(fields) = body else {
        return Err(Problem::validation(vec![FieldError::new(
            "",
            "must be a JSON object",
        )]));
    };
    let mut errors: Vec<FieldError> = fields
        .keys()
        .filter(|k| !matches!(k.as_str(), "url" | "event_types"))
        .map(|k| FieldError::new(format!("/{k}"), "is not a known field"))
        .collect();
    let url = match fields.get("url") {
        Some(Value::String(url)) => validate_url(url)
            .map_err(|e| errors.push(FieldError::new("/url", e)))
            .ok(),
        _ => {
            errors.push(FieldError::new("/url", "is required and must be a string"));
            None
        }
    };
    let types = match fields.get("event_types") {
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            let names: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            validate_event_types(&names)
                .map_err(|e| errors.push(FieldError::new("/event_types", e)))
                .ok()
        }
        _ => {
            errors.push(FieldError::new(
                "/event_types",
                "is required and must be an array of strings",
            ));
            None
        }
    };
    match (url, types, errors.is_empty()) {
        (Some(url), Some(types), true) => Ok((url.to_string(), types)),
        _ => Err(Problem::validation(errors)),
    }
}

pub async fn create(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<SubscriptionResource>), Problem> {
    let json = read_json(&headers, body, gateway.settings.max_body_bytes).await?;
    let (url, event_types) = parse_new(&json)?;
    let secret = SigningSecret::generate()
        .map_err(|e| Problem::new(ProblemKind::Internal, e.to_string()))?;
    let subscription = WebhookSubscription {
        subscription_id: SubscriptionId::generate(),
        url,
        event_types: event_types.iter().map(|t| t.as_str().to_owned()).collect(),
        secret: secret.expose(),
        created_at_ms: now_ms(),
    };
    gateway
        .producer
        .publish(&subscription)
        .await
        .map_err(publish_problem)?;
    gateway.subscriptions.upsert(subscription.clone());
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

fn find(gateway: &Gateway, id: &str) -> Result<WebhookSubscription, Problem> {
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
