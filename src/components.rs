//! Starting each component of the pipeline; every command is a selection of these.

use std::sync::Arc;

use anyhow::Context as _;
use orderflow_ingest::Gateway;
use orderflow_kafka::ensure_topics;
use orderflow_processors::inventory::Inventory;
use orderflow_processors::notifications::Notifications;
use orderflow_processors::orders::Orders;
use orderflow_processors::payments::{Payments, SimulatedProvider};
use orderflow_processors::runtime::{self, Environment, Processor};
use orderflow_schemas::{Codec, Topics};
use orderflow_webhooks::SubscriptionRegistry;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::ProcessorName;
use crate::settings::Settings;

/// What every component needs: settings, the topic catalogue and the codec.
#[derive(Clone)]
pub struct Pipeline {
    pub settings: Settings,
    pub topics: Topics,
    pub codec: Arc<Codec>,
}

impl Pipeline {
    /// Connects to the registry and creates every event topic that does not exist yet.
    pub async fn connect(settings: Settings) -> anyhow::Result<Self> {
        let topics = settings.topics();
        let codec = Arc::new(Codec::new(&settings.registry.url, &topics)?);
        ensure_topics(&settings.kafka, &topics.event_specs())
            .await
            .context("creating the pipeline's topics")?;
        Ok(Self {
            settings,
            topics,
            codec,
        })
    }

    pub async fn start_gateway(
        &self,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<std::net::SocketAddr> {
        let settings = &self.settings;
        let listener = TcpListener::bind(&settings.gateway.listen)
            .await
            .with_context(|| format!("gateway.listen: cannot bind {}", settings.gateway.listen))?;
        let address = listener.local_addr()?;
        let gateway = Gateway::start(
            settings.gateway.clone(),
            &settings.webhooks,
            &settings.kafka,
            &self.topics,
            self.codec.clone(),
            shutdown.clone(),
        )
        .await?;
        let (shutdown, grace) = (shutdown.clone(), settings.shutdown.grace());
        tasks.spawn(async move { Ok(gateway.serve(listener, shutdown, grace).await?) });
        Ok(address)
    }

    fn processor(&self, name: ProcessorName) -> anyhow::Result<Box<dyn Processor>> {
        Ok(match name {
            ProcessorName::Inventory => Box::new(Inventory),
            ProcessorName::Payments => Box::new(Payments::new(SimulatedProvider)),
            ProcessorName::Orders => Box::new(Orders::new(&self.settings.processors)),
            ProcessorName::Notifications => {
                Box::new(Notifications::new(&self.settings.notifications)?)
            }
        })
    }

    pub fn start_processor(
        &self,
        name: ProcessorName,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let processor = self.processor(name)?;
        let environment = self.environment();
        let shutdown = shutdown.clone();
        // The runtime blocks on Kafka's transaction calls, so it gets a thread of its own.
        tasks.spawn_blocking(move || Ok(runtime::run(processor, environment, shutdown)?));
        Ok(())
    }

    /// The sink runs on the exactly-once runtime like the processors; once that stopped,
    /// attempts still in flight get a moment to finish and be recorded.
    pub async fn start_webhook_sink(
        &self,
        tasks: &mut JoinSet<anyhow::Result<()>>,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<()> {
        let s = &self.settings;
        let registry = SubscriptionRegistry::start(
            &s.kafka,
            &self.topics,
            self.codec.clone(),
            shutdown.clone(),
        )
        .await?;
        // Deliveries decided before every subscription is known would miss subscribers.
        registry.ready().await;
        let (sink, dispatcher) = orderflow_webhooks::sink(
            &s.kafka,
            &self.topics,
            self.codec.clone(),
            registry,
            &s.webhooks,
        )?;
        let environment = self.environment();
        let (shutdown, grace) = (shutdown.clone(), s.shutdown.grace());
        tasks.spawn(async move {
            let processor: Box<dyn Processor> = Box::new(sink);
            let ran = tokio::task::spawn_blocking(move || {
                runtime::run(processor, environment, shutdown).map_err(anyhow::Error::from)
            })
            .await?;
            let left = dispatcher.drain(grace).await;
            if left > 0 {
                tracing::warn!(in_flight = left, "webhook attempts still in flight at exit");
            }
            ran
        });
        Ok(())
    }

    fn environment(&self) -> Environment {
        Environment {
            kafka: self.settings.kafka.clone(),
            topics: self.topics.clone(),
            codec: self.codec.clone(),
            settings: self.settings.processors.clone(),
        }
    }
}

/// Waits for every task; the first failure stops the others and is returned.
pub async fn supervise(
    mut tasks: JoinSet<anyhow::Result<()>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        let result = joined.map_err(anyhow::Error::from).and_then(|r| r);
        if let Err(e) = result {
            tracing::error!(error = describe(&e), "component failed; stopping");
            shutdown.cancel();
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Cancels `shutdown` on SIGINT or SIGTERM.
pub fn stop_on_signals(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            _ = interrupt => {}
            _ = terminate => {}
        }
        tracing::info!("shutting down");
        shutdown.cancel();
    });
}

/// The error and its causes, each cause once: many of orderflow's errors already repeat their
/// cause in their own message.
pub fn describe(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
