//! Assembles the gateway: its producer, views and subscription registry, and the routes.

use std::sync::Arc;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use orderflow_kafka::KafkaSettings;
use orderflow_schemas::{Codec, CodecError, EventType, Topics};
use orderflow_webhooks::registry::RegistryError;
use orderflow_webhooks::target::TargetPolicy;
use orderflow_webhooks::{SubscriptionRegistry, WebhookSettings};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{require_key, ApiKeys, KeyError};
use crate::problem::{Problem, ProblemKind};
use crate::producer::EventProducer;
use crate::routes::webhooks::{self, deliveries};
use crate::routes::{inventory, orders, problems};
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
        let api_keys = ApiKeys::load(&settings.api_keys)?;
        if api_keys.is_empty() {
            tracing::warn!(
                "no API keys configured (gateway.api_keys): webhook management admits nobody"
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

    pub fn router(self) -> Router {
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
            .route_layer(middleware::from_fn_with_state(self.clone(), require_key));
        Router::new()
            .route("/v1/orders", post(orders::create))
            .route("/v1/orders/{id}", get(orders::get))
            .route(
                "/v1/inventory/{sku}",
                get(inventory::get).put(inventory::set),
            )
            .merge(subscriptions)
            .route("/problems/{kind}", get(problems::describe))
            .fallback(|| async { Problem::not_found("no such resource") })
            .method_not_allowed_fallback(|| async {
                Problem::new(
                    ProblemKind::MethodNotAllowed,
                    "this method is not allowed here",
                )
            })
            .with_state(self)
    }

    /// Serves HTTP on `listener` until `shutdown`, then lets requests in flight finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), GatewayError> {
        tracing::info!(address = %listener.local_addr()?, "gateway listening");
        axum::serve(listener, self.router())
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        Ok(())
    }
}
