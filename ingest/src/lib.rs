//! The ingest gateway: the HTTP front of the pipeline.
//!
//! `POST /v1/orders` validates an order, writes `order.created` (key: order id) and answers
//! `201 Created` only after Kafka acknowledged the write; `PUT /v1/inventory/{sku}` writes
//! `stock.set` (key: SKU); `/v1/webhooks` writes `webhook.subscription` records (key:
//! subscription id). `GET` requests answer from views the gateway materializes from
//! `order.created`, `order.completed`, `order.failed` and `stock.level`, and the webhook
//! routes from `webhook.attempt` and `webhook.delivery-failed`; a replay writes
//! `webhook.delivery-requested` (key: order id). The webhook routes need an API key.

mod auth;
mod body;
mod http_metrics;
mod idempotency;
mod limits;
pub mod problem;
mod producer;
mod request_trace;
mod routes;
mod server;
mod settings;
pub mod views;

pub use auth::{check_api_keys, ApiKeySetting};
pub use server::{Gateway, GatewayError, HEALTH_NAME};
pub use settings::GatewaySettings;
