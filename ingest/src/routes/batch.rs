//! `POST /v1/orders/batch`: many orders in one request, each validated, written and
//! acknowledged on its own. The answer lists every order's outcome; it is `201` only when
//! every order was written, `207` otherwise, so no failed write hides behind a 2xx.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::future::join_all;
use serde::Serialize;
use serde_json::Value;

use super::orders::OrderResource;
use super::orders::REPLAYED_HEADER;
use super::placing::{live_use, place, receive, record, Keyed};
use crate::auth::Caller;
use crate::idempotency::fingerprint;
use crate::problem::{FieldError, Problem, ProblemBody, ProblemKind};
use crate::request_trace::RequestTrace;
use crate::server::Gateway;

/// One order's outcome, in the order the orders were sent.
#[derive(Serialize)]
pub struct BatchItem {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderResource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<ProblemBody>,
}

#[derive(Serialize)]
pub struct BatchAnswer {
    pub results: Vec<BatchItem>,
}

fn orders_of(body: &Value, max: usize) -> Result<&Vec<Value>, Problem> {
    let invalid =
        |pointer: &str, detail: String| Problem::validation(vec![FieldError::new(pointer, detail)]);
    let Value::Object(fields) = body else {
        return Err(invalid("", "must be a JSON object with `orders`".into()));
    };
    if let Some(unknown) = fields.keys().find(|k| k.as_str() != "orders") {
        return Err(invalid(
            &format!("/{unknown}"),
            "is not a known field".into(),
        ));
    }
    match fields.get("orders") {
        Some(Value::Array(orders)) if (1..=max).contains(&orders.len()) => Ok(orders),
        Some(Value::Array(_)) => Err(invalid("/orders", format!("must hold 1 to {max} orders"))),
        _ => Err(invalid(
            "/orders",
            "is required and must be an array".into(),
        )),
    }
}

/// With an `Idempotency-Key`, order `i` of the batch is keyed `<key> #<i>`: a repeated batch
/// gets each written order's first answer back and writes again only what failed; another
/// batch under a used key is refused before anything is written.
pub async fn create(
    State(gateway): State<Gateway>,
    Extension(caller): Extension<Caller>,
    RequestTrace(trace): RequestTrace,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let request = receive(&gateway, &caller.0, &headers, body, " #batch").await?;
    let (key, json) = (&request.key, &request.json);
    let orders = orders_of(json, gateway.settings.max_batch_orders)?;

    let item_keys: Vec<Option<String>> = (0..orders.len())
        .map(|i| key.as_deref().map(|k| item_key(k, i)))
        .collect();
    let batch = fingerprint(json);
    if let Some(key) = key {
        refuse_reused(&gateway, &caller.0, key, &item_keys, &batch)?;
    }
    let placing = orders.iter().zip(&item_keys).map(|(order, item_key)| {
        let keyed = item_key.as_deref().map(|key| Keyed {
            client: &caller.0,
            key,
            batch: Some(&batch),
        });
        place(&gateway, order, keyed, &trace)
    });
    // The answer repeats an earlier one when every written order in it does; an order
    // refused for its content is refused again the same way, so it does not count.
    let mut replayed = key.is_some();
    let mut any_replayed = false;
    let mut written = Vec::new();
    let results: Vec<BatchItem> = join_all(placing)
        .await
        .into_iter()
        .enumerate()
        .map(|(index, placed)| match placed {
            Ok(mut placed) => {
                written.extend(placed.written.take());
                replayed &= placed.replayed;
                any_replayed |= placed.replayed;
                BatchItem {
                    status: StatusCode::CREATED.as_u16(),
                    location: Some(placed.location),
                    order: Some(placed.resource),
                    problem: None,
                }
            }
            Err(problem) => {
                replayed &= problem.kind.status() == StatusCode::UNPROCESSABLE_ENTITY;
                BatchItem {
                    status: problem.kind.status().as_u16(),
                    location: None,
                    order: None,
                    problem: Some(problem.at(&format!("/orders/{index}"))),
                }
            }
        })
        .collect();
    record(&gateway, written);

    let created = results.iter().filter(|r| r.status == 201).count();
    tracing::info!(orders = results.len(), written = created, "batch placed");
    let status = if created == results.len() {
        StatusCode::CREATED
    } else {
        StatusCode::MULTI_STATUS
    };
    let mut response = (status, Json(BatchAnswer { results })).into_response();
    if replayed && any_replayed {
        let value = axum::http::HeaderValue::from_static("true");
        response.headers_mut().insert(REPLAYED_HEADER, value);
    }
    Ok(response)
}

/// The key of order `i` of a batch sent with `key`. A space never appears in a client's key,
/// so a batch's orders never collide with single orders.
fn item_key(key: &str, i: usize) -> String {
    format!("{key} #{i}")
}

/// `422` when the key was used, and has not expired, for another batch: any of its orders
/// remembers the batch it came in.
fn refuse_reused(
    gateway: &Gateway,
    client: &str,
    key: &str,
    item_keys: &[Option<String>],
    batch: &str,
) -> Result<(), Problem> {
    for item_key in item_keys.iter().flatten() {
        let earlier = live_use(gateway, client, item_key)?;
        if earlier.is_some_and(|u| u.batch_fingerprint.as_deref() != Some(batch)) {
            return Err(Problem::new(
                ProblemKind::IdempotencyKeyReused,
                format!(
                    "Idempotency-Key {key:?} was used with a different batch; use a new key for a new batch"
                ),
            ));
        }
    }
    Ok(())
}
