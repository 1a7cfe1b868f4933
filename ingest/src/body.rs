//! Reads a JSON request body within the size limit. A declared `Content-Length` above the
//! limit is refused before any of the body is read; an undeclared one stops being read as soon
//! as it passes the limit.

use axum::body::Body;
use axum::http::{header, HeaderMap};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::problem::{Problem, ProblemKind};

fn too_large(limit: usize) -> Problem {
    Problem::new(
        ProblemKind::BodyTooLarge,
        format!("the body must be at most {limit} bytes"),
    )
}

pub async fn read_json(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<serde_json::Value, Problem> {
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let media = content_type.to_str().unwrap_or_default();
        let essence = media.split(';').next().unwrap_or_default().trim();
        if !(essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")) {
            return Err(Problem::new(
                ProblemKind::UnsupportedMediaType,
                format!("Content-Type is {media:?}; send application/json"),
            ));
        }
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }

    let bytes = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large(limit)),
        Err(e) => {
            return Err(Problem::new(
                ProblemKind::MalformedJson,
                format!("the body could not be read: {e}"),
            ))
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            ProblemKind::MalformedJson,
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )
    })
}
