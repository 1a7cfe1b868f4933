//! The headers every event record carries: CloudEvents in Kafka binary mode (the Avro value is
//! the event's data, the attributes are `ce_` headers) and the W3C `traceparent`, so consumers
//! outside orderflow can route, trace and deduplicate without decoding the value.

use orderflow_schemas::clock::{now_ms, rfc3339};
use orderflow_schemas::EventType;
use rdkafka::message::{Header, Headers, OwnedHeaders};

use crate::trace::TraceContext;

pub const SPEC_VERSION_HEADER: &str = "ce_specversion";
pub const ID_HEADER: &str = "ce_id";
pub const SOURCE_HEADER: &str = "ce_source";
pub const TYPE_HEADER: &str = "ce_type";
pub const TIME_HEADER: &str = "ce_time";
pub const CONTENT_TYPE_HEADER: &str = "content-type";
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// The CloudEvents version orderflow writes.
const SPEC_VERSION: &str = "1.0";
/// The value is Avro in the Confluent wire format: a zero byte and the schema id first.
const CONTENT_TYPE: &str = "application/avro";
/// Every `ce_type` is the event type under this reverse-DNS prefix.
const TYPE_PREFIX: &str = "dev.orderflow.";

/// What the headers of one event record say.
#[derive(Debug, Clone)]
pub struct EventHeaders {
    /// Unique per event; repeats of the same event (a retried write) keep it.
    pub id: String,
    pub event_type: EventType,
    /// The component that wrote it, such as `gateway` or `inventory`.
    pub source: &'static str,
    pub trace: TraceContext,
}

impl EventHeaders {
    pub fn to_kafka(&self) -> OwnedHeaders {
        let event_type = format!("{TYPE_PREFIX}{}", self.event_type.as_str());
        let source = format!("/orderflow/{}", self.source);
        let time = rfc3339(now_ms());
        let trace = self.trace.to_string();
        let mut headers = OwnedHeaders::new_with_capacity(7);
        for (key, value) in [
            (SPEC_VERSION_HEADER, SPEC_VERSION),
            (ID_HEADER, self.id.as_str()),
            (SOURCE_HEADER, source.as_str()),
            (TYPE_HEADER, event_type.as_str()),
            (TIME_HEADER, time.as_str()),
            (CONTENT_TYPE_HEADER, CONTENT_TYPE),
            (TRACEPARENT_HEADER, trace.as_str()),
        ] {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        headers
    }
}

/// The trace a record belongs to, if it carries a valid `traceparent`.
pub fn trace_of<H: Headers>(headers: Option<&H>) -> Option<TraceContext> {
    let headers = headers?;
    (0..headers.count())
        .map(|i| headers.get(i))
        .find(|h| h.key == TRACEPARENT_HEADER)
        .and_then(|h| h.value)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(TraceContext::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(headers: &'a OwnedHeaders, key: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|h| h.key == key)
            .and_then(|h| h.value)
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    #[test]
    fn every_required_cloudevents_attribute_is_a_header() {
        let trace = TraceContext::start();
        let headers = EventHeaders {
            id: "e-1".into(),
            event_type: EventType::OrderCreated,
            source: "gateway",
            trace,
        }
        .to_kafka();
        assert_eq!(value(&headers, "ce_specversion"), Some("1.0"));
        assert_eq!(value(&headers, "ce_id"), Some("e-1"));
        assert_eq!(value(&headers, "ce_source"), Some("/orderflow/gateway"));
        assert_eq!(
            value(&headers, "ce_type"),
            Some("dev.orderflow.order.created")
        );
        assert!(value(&headers, "ce_time").is_some_and(|t| t.ends_with('Z')));
        assert_eq!(value(&headers, "content-type"), Some("application/avro"));
        assert_eq!(trace_of(Some(&headers)), Some(trace));
    }
}
