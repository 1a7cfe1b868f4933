//! Assembles the gateway: its producer, views and subscription registry, and the routes.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use orderflow_kafka::KafkaSettings;
use orderflow_schemas::{Codec, CodecError, EventType, Topics};
use orderflow_webhooks::registry::RegistryError;
use orderflow_webhooks::SubscriptionRegistry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::problem::{Problem, ProblemKind};
use crate::producer::EventProducer;
use crate::routes::{inventory, orders, problems, webhooks};
use crate::settings::GatewaySettings;
use crate::views::Views;

/// Event types the gateway writes, registered at start-up.
const WRITES: [EventType; 3] = [
    EventType::OrderCreated,
    EventType::StockSet,
    EventType::WebhookSubscription,
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
    #[error("gateway HTTP server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// What every request handler shares; cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    pub settings: Arc<GatewaySettings>,
    pub producer: Arc<EventProducer>,
    pub views: Arc<Views>,
    pub subscriptions: SubscriptionRegistry,
}

impl Gateway {
    /// Connects the gateway's parts and starts following the view and subscription topics.
    pub async fn start(
        settings: GatewaySettings,
        kafka: &KafkaSettings,
        topics: &Topics,
        codec: Arc<Codec>,
        shutdown: CancellationToken,
    ) -> Result<Self, GatewayError> {
        codec.register(&WRITES).await?;
        let views = Arc::new(Views::open(&settings.state_dir)?);
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
        })
    }

    pub fn router(self) -> Router {
        Router::new()
            .route("/v1/orders", axum::routing::post(orders::create))
            .route("/v1/orders/{id}", get(orders::get))
            .route(
                "/v1/inventory/{sku}",
                get(inventory::get).put(inventory::set),
            )
            .route("/v1/webhooks", get(webhooks::list).post(webhooks::create))
            .route(
                "/v1/webhooks/{id}",
                get(webhooks::get).delete(webhooks::delete),
            )
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
