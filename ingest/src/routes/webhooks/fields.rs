//! The JSON bodies of subscription requests: which fields each takes and what each may hold.

use orderflow_schemas::EventType;
use orderflow_webhooks::subscription::{validate_event_types, validate_url};
use orderflow_webhooks::target::TargetPolicy;
use orderflow_webhooks::SigningSecret;
use serde_json::{Map, Value};

use crate::problem::{FieldError, Problem};

/// What a create or update asked for; on an update, `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct SubscriptionFields {
    pub url: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub enabled: Option<bool>,
    pub secret: Option<SigningSecret>,
}

fn object(body: &Value) -> Result<&Map<String, Value>, Problem> {
    match body {
        Value::Object(fields) => Ok(fields),
        _ => Err(Problem::validation(vec![FieldError::new(
            "",
            "must be a JSON object",
        )])),
    }
}

/// Parses the fields of `body`, of which only `allowed` may appear and `required` must.
/// Every bad field is reported, not just the first.
pub async fn parse(
    body: &Value,
    allowed: &[&str],
    required: &[&str],
    policy: &TargetPolicy,
) -> Result<SubscriptionFields, Problem> {
    let fields = object(body)?;
    let mut errors: Vec<FieldError> = fields
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| FieldError::new(format!("/{k}"), "is not a known field"))
        .collect();
    for name in required.iter().filter(|n| !fields.contains_key(**n)) {
        errors.push(FieldError::new(format!("/{name}"), "is required"));
    }
    let mut parsed = SubscriptionFields::default();
    // Fields already reported as unknown are not looked into.
    let field = |name: &str| fields.get(name).filter(|_| allowed.contains(&name));
    if let Some(url) = field("url") {
        parsed.url = url_field(url, policy)
            .await
            .map_err(|e| errors.push(FieldError::new("/url", e)))
            .ok();
    }
    if let Some(types) = field("event_types") {
        parsed.event_types = event_types_field(types)
            .map_err(|e| errors.push(FieldError::new("/event_types", e)))
            .ok();
    }
    match field("enabled") {
        Some(Value::Bool(enabled)) => parsed.enabled = Some(*enabled),
        Some(_) => errors.push(FieldError::new("/enabled", "must be true or false")),
        None => {}
    }
    match field("secret") {
        Some(Value::String(text)) => {
            parsed.secret = SigningSecret::parse(text)
                .map_err(|e| errors.push(FieldError::new("/secret", e.to_string())))
                .ok()
        }
        Some(_) => errors.push(FieldError::new("/secret", "must be a string")),
        None => {}
    }
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(Problem::validation(errors))
    }
}

/// A URL the sink may deliver to: well formed, and not pointing inside our network.
async fn url_field(value: &Value, policy: &TargetPolicy) -> Result<String, String> {
    let Value::String(text) = value else {
        return Err("must be a string".into());
    };
    let url = validate_url(text)?;
    policy.check_url(&url).await.map_err(|e| e.to_string())?;
    Ok(url.to_string())
}

fn event_types_field(value: &Value) -> Result<Vec<EventType>, String> {
    match value {
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let names: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect();
            validate_event_types(&names)
        }
        _ => Err("must be an array of strings".into()),
    }
}
