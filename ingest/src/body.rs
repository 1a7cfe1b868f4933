//! Reads a JSON request body within the size limit. A declared `Content-Length` above the
//! limit is refused before any of the body is read; an undeclared one is refused as soon as
//! it passes the limit.
//!
//! A refused body is still read, and thrown away, for a short while after the answer (a
//! "lingering close"): a client that is still sending would otherwise hit a closed socket
//! before it reads the `413`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use http_body_util::BodyExt;

use crate::limits::{Held, Limits};
use crate::problem::{Problem, ProblemKind};

/// Most bytes of a refused body read and discarded after the answer.
const DISCARD_MAX_BYTES: usize = 16 * 1024 * 1024;
/// Longest time spent discarding a refused body.
const DISCARD_MAX_TIME: Duration = Duration::from_secs(5);

fn too_large(limit: usize, body: Body) -> Problem {
    tokio::spawn(discard(body));
    Problem::new(
        ProblemKind::BodyTooLarge,
        format!("the body must be at most {limit} bytes"),
    )
}

async fn discard(mut body: Body) {
    let drained = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DISCARD_MAX_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_MAX_TIME, drained).await;
}

fn check_media_type(headers: &HeaderMap) -> Result<(), Problem> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = content_type.to_str().unwrap_or_default();
    let essence = media.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!("Content-Type is {media:?}; send application/json"),
        ))
    }
}

/// Reads and parses a JSON body within the gateway's limits: `413` past the size limit, `408`
/// when it does not arrive within the body timeout, `503` when the bytes cannot be held.
/// The bytes stay held, under the in-flight bound, until the returned [`Held`] is dropped.
pub async fn read_json(
    headers: &HeaderMap,
    mut body: Body,
    limits: &Limits,
) -> Result<(serde_json::Value, Held), Problem> {
    check_media_type(headers)?;
    let limit = limits.max_body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit, body));
    }
    let mut held = Held::none();
    if !limits.hold(&mut held, declared.unwrap_or(0)) {
        return Err(overloaded(body));
    }

    let deadline = tokio::time::Instant::now() + limits.body_timeout;
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0));
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(_) => {
                return Err(Problem::new(
                    ProblemKind::RequestTimeout,
                    format!("the body must arrive within {:?}", limits.body_timeout),
                ))
            }
        };
        let frame = frame.map_err(|e| {
            Problem::new(
                ProblemKind::MalformedJson,
                format!("the body could not be read: {e}"),
            )
        })?;
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > limit {
                return Err(too_large(limit, body));
            }
            let undeclared = (bytes.len() + data.len()).saturating_sub(held.bytes());
            if !limits.hold(&mut held, undeclared) {
                return Err(overloaded(body));
            }
            bytes.extend_from_slice(data);
        }
    }
    let json = serde_json::from_slice(&bytes).map_err(|e| {
        Problem::new(
            ProblemKind::MalformedJson,
            format!("line {}, column {}: {e}", e.line(), e.column()),
        )
    })?;
    Ok((json, held))
}

fn overloaded(body: Body) -> Problem {
    tokio::spawn(discard(body));
    Problem::new(
        ProblemKind::Overloaded,
        "too many request bytes are waiting for Kafka; try again shortly",
    )
}
