//! What a subscription may ask for, and which events it receives.

use orderflow_schemas::events::WebhookSubscription;
use orderflow_schemas::EventType;
use url::Url;

/// The event types the sink delivers.
pub const DELIVERED_EVENT_TYPES: [EventType; 2] =
    [EventType::OrderCompleted, EventType::OrderFailed];
/// Longest endpoint URL accepted, in characters.
pub const URL_MAX_CHARS: usize = 2048;

/// Checks an endpoint URL: absolute, `http` or `https`, with a host, no credentials.
pub fn validate_url(text: &str) -> Result<Url, String> {
    if text.chars().count() > URL_MAX_CHARS {
        return Err(format!("must be at most {URL_MAX_CHARS} characters"));
    }
    let url = Url::parse(text).map_err(|e| format!("is not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "scheme must be http or https, not {}",
            url.scheme()
        ));
    }
    if url.host().is_none() {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials; authenticate with the signature".into());
    }
    Ok(url)
}

/// Checks the requested event types: at least one, each one the sink delivers, no repeats.
pub fn validate_event_types(names: &[String]) -> Result<Vec<EventType>, String> {
    if names.is_empty() {
        return Err("must name at least one event type".into());
    }
    let mut types = Vec::new();
    for name in names {
        let event_type = EventType::parse(name)
            .filter(|t| DELIVERED_EVENT_TYPES.contains(t))
            .ok_or_else(|| {
                let allowed: Vec<&str> = DELIVERED_EVENT_TYPES.iter().map(|t| t.as_str()).collect();
                format!("{name:?} is not one of {}", allowed.join(", "))
            })?;
        if types.contains(&event_type) {
            return Err(format!("{name:?} is listed twice"));
        }
        types.push(event_type);
    }
    Ok(types)
}

pub fn wants(subscription: &WebhookSubscription, event_type: EventType) -> bool {
    subscription
        .event_types
        .iter()
        .any(|t| t == event_type.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_without_credentials() {
        assert!(validate_url("https://example.com/hooks").is_ok());
        assert!(validate_url("ftp://example.com").is_err());
        assert!(validate_url("/relative").is_err());
        assert!(validate_url("https://user:pw@example.com/").is_err());
        assert!(validate_url(&format!("https://e.com/{}", "a".repeat(URL_MAX_CHARS))).is_err());
    }

    #[test]
    fn event_types_must_be_delivered_ones_without_repeats() {
        let ok = validate_event_types(&["order.completed".into(), "order.failed".into()]);
        assert_eq!(ok.unwrap(), DELIVERED_EVENT_TYPES.to_vec());
        assert!(validate_event_types(&[]).is_err());
        assert!(validate_event_types(&["order.created".into()]).is_err());
        assert!(validate_event_types(&["order.failed".into(), "order.failed".into()]).is_err());
    }
}
