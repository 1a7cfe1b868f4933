//! Assembles the gateway: its producer, views and subscription registry, and the routes.

use std::sync::Arc;

use std::time::Duration;

use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use orderflow_kafka::KafkaSettings;
use orderflow_schemas::{Codec, CodecError, EventType, Topics};
use orderflow_webhooks::registry::RegistryError;
use orderflow_webhooks::target::TargetPolicy;
use orderflow_webhooks::{SubscriptionRegistry, WebhookSettings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use orderflow_telemetry::health;

use crate::auth::{self, ApiKeys, KeyError, Scope};
use crate::idempotency::InFlight;
use crate::limits::Limits;
use crate::problem::{Problem, ProblemKind};
use crate::producer::EventProducer;
use crate::routes::webhooks::{self, deliveries};
use crate::routes::{batch, inventory, openapi, orders, problems};
use crate::settings::GatewaySettings;
use crate::views::Views;

/// Event types the gateway writes, registered at start-up.
const WRITES: [EventType; 4] = [
    EventType::OrderCreated,
    EventType::StockSet,
    EventType::WebhookSubscription,
    EventType::WebhookDeliveryRequested,
];

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("gateway cannot register its schemas: {0}")]
    Schemas(#[from] CodecError),
    #[error("gateway cannot open its view store: {0}")]
    Views(#[from] orderflow_state::StateError),
    #[error("gateway cannot create its Kafka producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    #[error("gateway cannot load webhook subscriptions: {0}")]
    Subscriptions(#[from] RegistryError),
    #[error(transparent)]
    ApiKeys(#[from] KeyError),
    #[error("gateway HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// The gateway's name in the process's health.
pub const HEALTH_NAME: &str = "gateway";
/// Pause after a failed accept.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// The id of the cluster the gateway writes to, asked once at start-up.
async fn cluster_of(kafka: &KafkaSettings) -> Option<String> {
    let config = kafka.reader_config("orderflow-gateway-cluster");
    tokio::task::spawn_blocking(move || {
        let consumer: rdkafka::consumer::BaseConsumer = config.create().ok()?;
        orderflow_kafka::cluster_id(&consumer)
    })
    .await
    .ok()
    .flatten()
}

/// What every request handler shares; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub settings: Arc<GatewaySettings>,
    pub producer: Arc<EventProducer>,
    pub views: Arc<Views>,
    pub subscriptions: SubscriptionRegistry,
    pub api_keys: Arc<ApiKeys>,
    /// Where webhook subscriptions may point.
    pub targets: Arc<TargetPolicy>,
    /// How long a rotated-out webhook secret keeps signing, in ms.
    pub rotation_overlap_ms: i64,
    pub limits: Arc<Limits>,
    /// Idempotency keys whose first request this gateway is writing.
    pub in_flight_keys: InFlight,
    /// How long an idempotency key is remembered, in ms.
    pub idempotency_ttl_ms: i64,
}

impl Gateway {
    /// Connects the gateway's parts and starts following the view and subscription topics.
    pub async fn start(
        settings: GatewaySettings,
        webhooks: &WebhookSettings,
        kafka: &KafkaSettings,
        topics: &Topics,
        codec: Arc<Codec>,
        shutdown: CancellationToken,
    ) -> Result<Self, GatewayError> {
        health::register(HEALTH_NAME);
        let api_keys = ApiKeys::load(&settings.api_keys)?;
        if api_keys.is_empty() {
            tracing::warn!(
                "no API keys configured (gateway.api_keys): orders, stock and webhooks admit nobody"
            );
        }
        codec.register(&WRITES).await?;
        let cluster = cluster_of(kafka).await;
        let views = Arc::new(Views::open(&settings.state_dir, cluster.as_deref())?);
        let subscriptions =
            SubscriptionRegistry::start(kafka, topics, codec.clone(), shutdown.clone()).await?;
        let producer = EventProducer::new(
            kafka,
            codec.clone(),
            topics.clone(),
            settings.produce_timeout(),
        )?;

        let follower = views.clone();
        let (kafka, topics) = (kafka.clone(), topics.clone());
        tokio::spawn(async move {
            if let Err(e) = follower.follow(&kafka, &topics, codec, shutdown).await {
                tracing::error!(error = %e, "gateway views stopped");
            }
        });
        Ok(Self {
            limits: Arc::new(Limits::new(&settings)),
            in_flight_keys: InFlight::default(),
            idempotency_ttl_ms: i64::try_from(settings.idempotency_ttl_ms).unwrap_or(i64::MAX),
            settings: Arc::new(settings),
            producer: Arc::new(producer),
            views,
            subscriptions,
            api_keys: Arc::new(api_keys),
            targets: Arc::new(TargetPolicy::new(webhooks.allowed_networks.clone())),
            rotation_overlap_ms: i64::try_from(webhooks.secret_rotation_overlap_ms)
                .unwrap_or(i64::MAX),
        })
    }

    /// The routes. Writes and webhook management need an API key with the route's scope;
    /// reads of orders and stock do not.
    pub fn router(self) -> Router {
        let guard = |scope| middleware::from_fn_with_state((self.clone(), scope), auth::guard);
        let subscriptions = Router::new()
            .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
            .route(
                "/v1/webhooks/{id}",
                get(webhooks::get)
                    .patch(webhooks::update)
                    .delete(webhooks::delete),
            )
            .route(
                "/v1/webhooks/{id}/rotate-secret",
                post(webhooks::rotate_secret),
            )
            .route("/v1/webhooks/{id}/attempts", get(deliveries::attempts))
            .route("/v1/webhooks/{id}/replay", post(deliveries::replay))
            .route_layer(guard(Scope::Webhooks));
        let place = Router::new()
            .route("/v1/orders", post(orders::create))
            .route("/v1/orders/batch", post(batch::create))
            .route_layer(guard(Scope::Orders));
        let stock = put(inventory::set).route_layer(guard(Scope::Inventory));
        Router::new()
            .merge(place)
            .route("/v1/orders/{id}", get(orders::get))
            .route("/v1/inventory/{sku}", get(inventory::get).merge(stock))
            .merge(subscriptions)
            .route("/problems/{kind}", get(problems::describe))
            .route("/openapi.json", get(openapi::document))
            .fallback(|| async { Problem::not_found("no such resource") })
            .method_not_allowed_fallback(|| async {
                Problem::new(
                    ProblemKind::MethodNotAllowed,
                    "this method is not allowed here",
                )
            })
            .layer(middleware::map_response(crate::problem::ensure_problem))
            .layer(middleware::from_fn(crate::http_metrics::record))
            .with_state(self)
    }

    /// Serves HTTP/1.1 on `listener` until `shutdown`, then lets requests in flight finish
    /// for up to `grace`. A client that takes longer than `gateway.header_timeout_ms`
    /// to send its request headers is disconnected, so idle half-open connections do not pile
    /// up.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
        grace: Duration,
    ) -> Result<(), GatewayError> {
        tracing::info!(address = %listener.local_addr()?, "gateway listening");
        health::set_ready(HEALTH_NAME, true);
        let mut http = http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(Duration::from_millis(self.settings.header_timeout_ms));
        let app = self.router();
        let connections = GracefulShutdown::new();
        loop {
            let accepted = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => accepted,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, most likely: pause rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let service = TowerToHyperService::new(app.clone());
            let connection =
                connections.watch(http.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
        drop(listener);
        health::set_ready(HEALTH_NAME, false);
        if tokio::time::timeout(grace, connections.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(grace = ?grace, "requests still in flight when the grace ran out");
        }
        Ok(())
    }
}
