//! `POST /v1/orders` and `GET /v1/orders/{id}`.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orderflow_schemas::clock::rfc3339;
use orderflow_schemas::events::OrderItem;
use orderflow_schemas::{CustomerId, OrderId};
use serde::Serialize;

use super::placing::{place, receive, record, Keyed};
use super::storage_problem;
use crate::auth::Caller;
use crate::problem::Problem;
use crate::request_trace::RequestTrace;
use crate::server::Gateway;
use crate::views::{OrderStatus, OrderView};

/// Set on an answer that repeats the stored answer to an earlier request with the same
/// `Idempotency-Key`.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// An order as the API shows it; the payment token is never echoed.
#[derive(Debug, Serialize)]
pub struct OrderResource {
    pub id: OrderId,
    pub status: OrderStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<CustomerId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ItemResource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize)]
pub struct ItemResource {
    pub sku: String,
    pub quantity: i32,
    pub unit_price: i64,
}

impl From<&OrderItem> for ItemResource {
    fn from(item: &OrderItem) -> Self {
        Self {
            sku: item.sku.to_string(),
            quantity: item.quantity,
            unit_price: item.unit_price_minor,
        }
    }
}

impl From<OrderView> for OrderResource {
    fn from(view: OrderView) -> Self {
        let order = view.order.as_ref();
        Self {
            id: view.order_id,
            status: view.status,
            reason: view.reason.map(|r| r.as_str()),
            detail: view.detail.clone(),
            customer_id: order.map(|o| o.customer_id.clone()),
            currency: order.map(|o| o.currency.clone()),
            items: order.map(|o| o.items.iter().map(ItemResource::from).collect()),
            total: order.map(|o| o.total_minor),
            created_at: order.map(|o| rfc3339(o.created_at_ms)),
            metadata: order.map(|o| o.metadata.clone()),
        }
    }
}

/// Accepts an order: validates it, writes `order.created` and answers `201` only once Kafka
/// acknowledged the write. With an `Idempotency-Key`, a repeat gets the first answer back.
pub async fn create(
    State(gateway): State<Gateway>,
    Extension(caller): Extension<Caller>,
    RequestTrace(trace): RequestTrace,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let request = receive(&gateway, &caller.0, &headers, body, "").await?;
    let keyed = request.key.as_deref().map(|key| Keyed {
        client: &caller.0,
        key,
        batch: None,
    });
    let mut placed = place(&gateway, &request.json, keyed, &trace).await?;
    if let Some(order) = placed.written.take() {
        tracing::info!(
            order_id = %order.order_id,
            trace_id = %trace.trace_id_hex(),
            items = order.items.len(),
            "order accepted"
        );
        record(&gateway, [order]);
    }

    let mut response = (StatusCode::CREATED, Json(placed.resource)).into_response();
    if let Ok(value) = HeaderValue::from_str(&placed.location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if placed.replayed {
        response
            .headers_mut()
            .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// Shows an order and its latest status.
pub async fn get(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
) -> Result<Json<OrderResource>, Problem> {
    let missing = || Problem::not_found(format!("no order with id {id:?}"));
    let order_id: OrderId = id.parse().map_err(|_| missing())?;
    let view = gateway
        .views
        .order(order_id)
        .map_err(storage_problem)?
        .ok_or_else(missing)?;
    Ok(Json(OrderResource::from(view)))
}
