//! `GET /openapi.json`: the API's contract, the OpenAPI 3.1 document kept beside the code.

use axum::http::header;
use axum::response::IntoResponse;

/// The document in the repository, `ingest/openapi.json`, served as it is.
pub const DOCUMENT: &str = include_str!("../../openapi.json");

pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
