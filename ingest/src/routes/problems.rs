//! `GET /problems/{kind}`: what each problem `type` URI means.

use axum::extract::Path;
use axum::Json;
use serde::Serialize;

use crate::problem::{Problem, ProblemKind};

#[derive(Serialize)]
pub struct ProblemType {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
}

pub async fn describe(Path(slug): Path<String>) -> Result<Json<ProblemType>, Problem> {
    let kind = ProblemKind::from_slug(&slug)
        .ok_or_else(|| Problem::not_found(format!("no problem type {slug:?}")))?;
    Ok(Json(ProblemType {
        type_uri: kind.type_uri(),
        title: kind.title(),
        status: kind.status().as_u16(),
    }))
}
