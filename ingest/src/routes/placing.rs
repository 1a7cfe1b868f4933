//! Placing one order, the same way for `POST /v1/orders` and for each order of a batch:
//! validate, honour the `Idempotency-Key`, write `order.created`, and say what to answer.

use axum::body::Body;
use axum::http::HeaderMap;
use orderflow_kafka::TraceContext;
use orderflow_schemas::clock::now_ms;
use orderflow_schemas::events::{IdempotencyKey, OrderCreated};
use orderflow_schemas::OrderId;
use serde_json::Value;
use tracing::Instrument;

use super::order_request::validate;
use super::orders::OrderResource;
use super::{publish_problem, storage_problem};
use crate::body::read_json;
use crate::idempotency::{self, fingerprint, order_id, Claim};
use crate::limits::Held;
use crate::problem::{Problem, ProblemKind};
use crate::server::Gateway;
use crate::views::{KeyUse, OrderStatus, OrderView};

/// A write request as both order routes take it in: its `Idempotency-Key`, claimed on this
/// gateway until the answer is sent, and its JSON body, held under the in-flight bound until
/// then.
pub struct Received {
    pub key: Option<String>,
    pub json: Value,
    _claim: Option<Claim>,
    _held: Held,
}

/// Reads the key, claims it (`409` while another request with it is in flight here) and only
/// then reads the body. The claim is taken as `<key><claim_suffix>`: a batch claims
/// `<key> #batch`, so that it does not collide with a single order sent with the same key.
pub async fn receive(
    gateway: &Gateway,
    client: &str,
    headers: &HeaderMap,
    body: Body,
    claim_suffix: &str,
) -> Result<Received, Problem> {
    let key = idempotency::key_of(headers)?;
    let claim = match &key {
        Some(key) => Some(
            gateway
                .in_flight_keys
                .claim(client, &format!("{key}{claim_suffix}"))?,
        ),
        None => None,
    };
    let (json, held) = read_json(headers, body, &gateway.limits).await?;
    Ok(Received {
        key,
        json,
        _claim: claim,
        _held: held,
    })
}

/// A placed order: the resource to answer with, and whether it is the stored answer to an
/// earlier request with the same key.
pub struct Placed {
    pub resource: OrderResource,
    pub location: String,
    pub replayed: bool,
    /// The event written, for the caller to record in the views (none for a replay).
    pub written: Option<OrderCreated>,
}

/// The key an order was sent with, and who sent it.
pub struct Keyed<'a> {
    pub client: &'a str,
    pub key: &'a str,
    /// The fingerprint of the batch the order is part of.
    pub batch: Option<&'a str>,
}

fn placed(view: OrderView, replayed: bool) -> Placed {
    Placed {
        location: format!("/v1/orders/{}", view.order_id),
        resource: OrderResource::from(view),
        replayed,
        written: None,
    }
}

/// The answer the first request got: the order as it was accepted, still pending.
fn first_answer(view: OrderView) -> Placed {
    placed(
        OrderView {
            status: OrderStatus::Pending,
            reason: None,
            detail: None,
            ..view
        },
        true,
    )
}

/// Validates and writes one order; answers only once Kafka acknowledged the write, or with
/// the stored answer when the same key and body were seen before. The caller records what was
/// written with [`record`] before it answers.
pub async fn place(
    gateway: &Gateway,
    body: &Value,
    keyed: Option<Keyed<'_>>,
    trace: &TraceContext,
) -> Result<Placed, Problem> {
    let request = validate(body).map_err(Problem::validation)?;
    let mut idempotency = None;
    let order_id = match &keyed {
        None => OrderId::new_v7(),
        Some(keyed) => {
            let fingerprint = fingerprint(body);
            let id = order_id(keyed.client, keyed.key, &fingerprint);
            if let Some(earlier) = remembered(gateway, keyed, &fingerprint, id)? {
                return Ok(first_answer(earlier));
            }
            idempotency = Some(IdempotencyKey {
                client: keyed.client.to_owned(),
                key: keyed.key.to_owned(),
                fingerprint,
                batch_fingerprint: keyed.batch.map(str::to_owned),
            });
            id
        }
    };
    let order = request.into_event(order_id, now_ms(), idempotency);
    let span = tracing::info_span!(
        "order",
        order_id = %order.order_id,
        trace_id = %trace.trace_id_hex()
    );
    write(gateway, &order, trace).instrument(span).await?;
    let mut placed = placed(OrderView::pending(&order), false);
    placed.written = Some(order);
    Ok(placed)
}

async fn write(
    gateway: &Gateway,
    order: &OrderCreated,
    trace: &TraceContext,
) -> Result<(), Problem> {
    gateway
        .producer
        .publish(order, trace)
        .await
        .map_err(publish_problem)?;
    // One line per order at info would cost a batch more than its Avro encoding; the routes
    // log one line per request.
    tracing::debug!(items = order.items.len(), "order accepted");
    Ok(())
}

/// Records written orders in this gateway's views, in one store write, so that they read back
/// at once, before its own view consumer sees them.
pub fn record(gateway: &Gateway, written: impl IntoIterator<Item = OrderCreated>) {
    let written: Vec<OrderCreated> = written.into_iter().collect();
    if written.is_empty() {
        return;
    }
    if let Err(e) = gateway.views.record_created(&written) {
        tracing::warn!(error = %e, orders = written.len(), "cannot record orders locally");
    }
}

/// The remembered first use of a key, unless it expired.
pub fn live_use(gateway: &Gateway, client: &str, key: &str) -> Result<Option<KeyUse>, Problem> {
    let earlier = gateway
        .views
        .key_use(client, key)
        .map_err(storage_problem)?;
    Ok(earlier.filter(|u| now_ms() - u.at_ms < gateway.idempotency_ttl_ms))
}

/// The order `id` that an earlier request with the same key and body placed; `422` when the
/// key was used with another body and has not expired.
fn remembered(
    gateway: &Gateway,
    keyed: &Keyed<'_>,
    fingerprint: &str,
    id: OrderId,
) -> Result<Option<OrderView>, Problem> {
    let views = &gateway.views;
    let live = live_use(gateway, keyed.client, keyed.key)?;
    if live.as_ref().is_some_and(|u| u.fingerprint != fingerprint) {
        return Err(Problem::new(
            ProblemKind::IdempotencyKeyReused,
            format!(
                "Idempotency-Key {:?} was used with a different body; use a new key for a new order",
                keyed.key
            ),
        ));
    }
    let view = views.order(id).map_err(storage_problem)?;
    Ok(view.filter(|v| v.order.is_some()))
}
