//! Every error answer is RFC 9457 `application/problem+json`, with a stable `type` per kind of
//! error; the gateway itself serves a short description at each type's URI.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";
/// Seconds a client should wait before retrying after a `503`.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The kinds of problem, each with its own `type` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    BadRequest,
    MalformedJson,
    Validation,
    BodyTooLarge,
    UnsupportedMediaType,
    Unauthorized,
    Forbidden,
    InvalidHeader,
    RequestTimeout,
    IdempotencyConflict,
    IdempotencyKeyReused,
    NotFound,
    MethodNotAllowed,
    Unavailable,
    Overloaded,
    Internal,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 16] = [
        ProblemKind::BadRequest,
        ProblemKind::MalformedJson,
        ProblemKind::Validation,
        ProblemKind::BodyTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::Unauthorized,
        ProblemKind::Forbidden,
        ProblemKind::InvalidHeader,
        ProblemKind::RequestTimeout,
        ProblemKind::IdempotencyConflict,
        ProblemKind::IdempotencyKeyReused,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::Unavailable,
        ProblemKind::Overloaded,
        ProblemKind::Internal,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "bad-request",
            ProblemKind::MalformedJson => "malformed-json",
            ProblemKind::Validation => "validation",
            ProblemKind::BodyTooLarge => "body-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::InvalidHeader => "invalid-header",
            ProblemKind::RequestTimeout => "request-timeout",
            ProblemKind::IdempotencyConflict => "idempotency-conflict",
            ProblemKind::IdempotencyKeyReused => "idempotency-key-reused",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::Overloaded => "overloaded",
            ProblemKind::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::BadRequest | ProblemKind::MalformedJson => StatusCode::BAD_REQUEST,
            ProblemKind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::InvalidHeader => StatusCode::BAD_REQUEST,
            ProblemKind::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProblemKind::IdempotencyConflict => StatusCode::CONFLICT,
            ProblemKind::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::Unavailable | ProblemKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "The request is malformed",
            ProblemKind::MalformedJson => "The request body is not valid JSON",
            ProblemKind::Validation => "The request has invalid or missing fields",
            ProblemKind::BodyTooLarge => "The request body is too large",
            ProblemKind::UnsupportedMediaType => "The request body must be JSON",
            ProblemKind::Unauthorized => "The request needs a valid API key",
            ProblemKind::Forbidden => "The API key may not do this",
            ProblemKind::InvalidHeader => "A request header is malformed",
            ProblemKind::RequestTimeout => "The request body did not arrive in time",
            ProblemKind::IdempotencyConflict => {
                "A request with this Idempotency-Key is still being processed"
            }
            ProblemKind::IdempotencyKeyReused => {
                "This Idempotency-Key was used with a different request body"
            }
            ProblemKind::NotFound => "No such resource",
            ProblemKind::MethodNotAllowed => "The resource does not support this method",
            ProblemKind::Unavailable => {
                "Kafka did not acknowledge the write in time; nothing was accepted"
            }
            ProblemKind::Overloaded => {
                "The gateway holds as much unwritten data as it may; nothing was accepted"
            }
            ProblemKind::Internal => "The gateway failed unexpectedly",
        }
    }

    pub fn type_uri(self) -> String {
        format!("/problems/{}", self.slug())
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.slug() == slug)
    }
}

/// One bad field, located by a JSON Pointer (RFC 6901) into the request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

impl FieldError {
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Problem {
    pub kind: ProblemKind,
    pub detail: String,
    pub errors: Vec<FieldError>,
}

/// A problem as JSON: the body of an error answer, or one entry of a batch answer.
#[derive(Debug, Clone, Serialize)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn validation(errors: Vec<FieldError>) -> Self {
        let detail = match errors.len() {
            1 => "1 field is invalid".to_owned(),
            n => format!("{n} fields are invalid"),
        };
        Self {
            kind: ProblemKind::Validation,
            detail,
            errors,
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(ProblemKind::NotFound, what)
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(ProblemKind::Unavailable, detail)
    }

    pub fn body(self) -> ProblemBody {
        ProblemBody {
            type_uri: self.kind.type_uri(),
            title: self.kind.title(),
            status: self.kind.status().as_u16(),
            detail: self.detail,
            errors: self.errors,
        }
    }

    /// The problem of a part of a request (one order of a batch), its field pointers made
    /// relative to the whole body by `prefix`.
    pub fn at(mut self, prefix: &str) -> ProblemBody {
        for error in &mut self.errors {
            error.pointer = format!("{prefix}{}", error.pointer);
        }
        self.body()
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let kind = self.kind;
        let json = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if matches!(
            kind,
            ProblemKind::Unavailable | ProblemKind::Overloaded | ProblemKind::IdempotencyConflict
        ) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if kind == ProblemKind::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(
            kind,
            ProblemKind::BodyTooLarge | ProblemKind::RequestTimeout
        ) {
            // The rest of the body was never read, so the connection cannot carry another
            // request; saying so keeps clients from reusing it.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}

/// Turns any error answer that is not a problem yet (a rejection by the HTTP framework, such
/// as an undecodable path or query) into one, so that every non-2xx answer is
/// `application/problem+json`.
pub async fn ensure_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_CONTENT_TYPE.as_bytes());
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let kind = ProblemKind::ALL
        .into_iter()
        .find(|k| k.status() == status)
        .unwrap_or(if status.is_client_error() {
            ProblemKind::BadRequest
        } else {
            ProblemKind::Internal
        });
    let (_, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    Problem::new(kind, String::from_utf8_lossy(&text).into_owned()).into_response()
}
