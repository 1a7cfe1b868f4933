//! The trace a request belongs to: the caller's W3C `traceparent` when it sent a valid one,
//! a new trace otherwise. Every record the request writes carries it, with the gateway's span.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use orderflow_kafka::TraceContext;

pub struct RequestTrace(pub TraceContext);

impl<S: Send + Sync> FromRequestParts<S> for RequestTrace {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let caller = parts
            .headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::parse);
        Ok(Self(match caller {
            Some(parent) => parent.child(),
            None => TraceContext::start(),
        }))
    }
}
