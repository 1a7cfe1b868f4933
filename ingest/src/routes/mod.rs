//! The gateway's HTTP API, one file per resource.

pub mod batch;
pub mod inventory;
pub mod openapi;
pub mod order_request;
pub mod orders;
pub mod placing;
pub mod problems;
pub mod webhooks;

use crate::problem::{Problem, ProblemKind};
use crate::producer::PublishError;

/// A failed write becomes `503` with `Retry-After` when trying again may help, `500` when not.
pub(crate) fn publish_problem(error: PublishError) -> Problem {
    if error.is_transient() {
        tracing::warn!(error = %error, "write not acknowledged by Kafka");
        Problem::unavailable(error.to_string())
    } else {
        tracing::error!(error = %error, "write failed");
        Problem::new(ProblemKind::Internal, "the event could not be written")
    }
}

pub(crate) fn storage_problem(error: orderflow_state::StateError) -> Problem {
    tracing::error!(error = %error, "gateway view store failed");
    Problem::new(
        ProblemKind::Internal,
        "the gateway's local view could not be read",
    )
}
