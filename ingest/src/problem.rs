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
    MalformedJson,
    Validation,
    BodyTooLarge,
    UnsupportedMediaType,
    Unauthorized,
    NotFound,
    MethodNotAllowed,
    Unavailable,
    Internal,
}

impl ProblemKind {
    pub const ALL: [ProblemKind; 9] = [
        ProblemKind::MalformedJson,
        ProblemKind::Validation,
        ProblemKind::BodyTooLarge,
        ProblemKind::UnsupportedMediaType,
        ProblemKind::Unauthorized,
        ProblemKind::NotFound,
        ProblemKind::MethodNotAllowed,
        ProblemKind::Unavailable,
        ProblemKind::Internal,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "malformed-json",
            ProblemKind::Validation => "validation",
            ProblemKind::BodyTooLarge => "body-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::Unauthorized => "unauthorized",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Unavailable => "unavailable",
            ProblemKind::Internal => "internal",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            ProblemKind::MalformedJson => StatusCode::BAD_REQUEST,
            ProblemKind::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemKind::MalformedJson => "The request body is not valid JSON",
            ProblemKind::Validation => "The request has invalid or missing fields",
            ProblemKind::BodyTooLarge => "The request body is too large",
            ProblemKind::UnsupportedMediaType => "The request body must be JSON",
            ProblemKind::Unauthorized => "The request needs a valid API key",
            ProblemKind::NotFound => "No such resource",
            ProblemKind::MethodNotAllowed => "The resource does not support this method",
            ProblemKind::Unavailable => {
                "Kafka did not acknowledge the write in time; nothing was accepted"
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

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'static str,
    status: u16,
    detail: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
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
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let body = Body {
            type_uri: self.kind.type_uri(),
            title: self.kind.title(),
            status: status.as_u16(),
            detail: &self.detail,
            errors: &self.errors,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        if self.kind == ProblemKind::Unavailable {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if self.kind == ProblemKind::Unauthorized {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.kind == ProblemKind::BodyTooLarge {
            // The rest of the body was never read, so the connection cannot carry another
            // request; saying so keeps clients from reusing it.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response
    }
}
