//! `PUT /v1/inventory/{sku}` sets a SKU's total stock; `GET` shows its latest level.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use orderflow_schemas::clock::now_ms;
use orderflow_schemas::events::{StockLevel, StockSet};
use orderflow_schemas::Sku;
use serde::Serialize;
use serde_json::Value;

use super::{publish_problem, storage_problem};
use crate::body::read_json;
use crate::problem::{FieldError, Problem};
use crate::request_trace::RequestTrace;
use crate::server::Gateway;

/// Most units of one SKU that can be set.
pub const MAX_TOTAL: i64 = 1_000_000_000_000;

#[derive(Debug, Serialize)]
pub struct StockChange {
    pub sku: String,
    pub total: i64,
    /// The change is applied asynchronously by the inventory processor.
    pub status: &'static str,
}

fn parse_sku(text: &str) -> Result<Sku, Problem> {
    Sku::parse(text).map_err(|e| Problem::validation(vec![FieldError::new("/sku", e.to_string())]))
}

fn parse_total(body: &Value) -> Result<i64, Problem> {
    let invalid = |detail: &str| Problem::validation(vec![FieldError::new("/total", detail)]);
    let Value::Object(fields) = body else {
        return Err(Problem::validation(vec![FieldError::new(
            "",
            "must be a JSON object",
        )]));
    };
    if let Some(name) = fields.keys().find(|k| k.as_str() != "total") {
        return Err(Problem::validation(vec![FieldError::new(
            format!("/{name}"),
            "is not a known field",
        )]));
    }
    match fields.get("total") {
        None | Some(Value::Null) => Err(invalid("is required")),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|t| (0..=MAX_TOTAL).contains(t))
            .ok_or_else(|| invalid(&format!("must be a whole number from 0 to {MAX_TOTAL}"))),
        Some(_) => Err(invalid("must be a number")),
    }
}

/// Accepts a new total for a SKU; answers `202` once Kafka acknowledged the `stock.set` event.
pub async fn set(
    State(gateway): State<Gateway>,
    Path(sku): Path<String>,
    RequestTrace(trace): RequestTrace,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<StockChange>), Problem> {
    let sku = parse_sku(&sku)?;
    let (json, _held) = read_json(&headers, body, &gateway.limits).await?;
    let total = parse_total(&json)?;
    let event = StockSet {
        sku: sku.clone(),
        total,
        set_at_ms: now_ms(),
    };
    gateway
        .producer
        .publish(&event, &trace)
        .await
        .map_err(publish_problem)?;
    tracing::info!(sku = %sku, total, "stock total accepted");
    Ok((
        StatusCode::ACCEPTED,
        Json(StockChange {
            sku: sku.to_string(),
            total,
            status: "accepted",
        }),
    ))
}

/// The latest level the inventory processor published for a SKU.
pub async fn get(
    State(gateway): State<Gateway>,
    Path(sku): Path<String>,
) -> Result<Json<StockLevel>, Problem> {
    let sku = parse_sku(&sku)?;
    gateway
        .views
        .stock(sku.as_str())
        .map_err(storage_problem)?
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("no stock level known for SKU {sku}")))
}
