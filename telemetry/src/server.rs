//! The operations HTTP server: `/metrics`, `/livez`, `/readyz`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::health;
use crate::names;
use crate::settings::OpsSettings;

/// Histogram buckets for every `_seconds` metric: from a millisecond to a minute.
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("ops.listen: cannot bind {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot install the metrics recorder: {0}")]
    Recorder(String),
    #[error("ops server failed: {0}")]
    Serve(#[from] std::io::Error),
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    components: Vec<String>,
}

fn answer(ok: bool, components: Vec<String>, bad: &'static str) -> (StatusCode, Json<Health>) {
    if ok {
        (
            StatusCode::OK,
            Json(Health {
                status: "ok",
                components: Vec::new(),
            }),
        )
    } else {
        let health = Health {
            status: bad,
            components,
        };
        (StatusCode::SERVICE_UNAVAILABLE, Json(health))
    }
}

async fn livez() -> (StatusCode, Json<Health>) {
    let (live, dead) = health::liveness();
    answer(live, dead, "dead")
}

async fn readyz() -> (StatusCode, Json<Health>) {
    let (ready, waiting) = health::readiness();
    answer(ready, waiting, "not ready")
}

async fn metrics(State(handle): State<PrometheusHandle>) -> String {
    handle.render()
}

fn recorder() -> Result<PrometheusHandle, OpsError> {
    let seconds: Vec<String> = names::ALL
        .iter()
        .filter(|n| n.ends_with("_seconds"))
        .map(|n| (*n).to_owned())
        .collect();
    let mut builder = PrometheusBuilder::new();
    for name in seconds {
        builder = builder
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full(name),
                &SECONDS_BUCKETS,
            )
            .map_err(|e| OpsError::Recorder(e.to_string()))?;
    }
    builder
        .install_recorder()
        .map_err(|e| OpsError::Recorder(e.to_string()))
}

/// Installs the metrics recorder, binds `ops.listen` and serves until `shutdown`. Returns
/// once bound, with the address; the server runs on a task of its own.
pub async fn serve(
    settings: &OpsSettings,
    shutdown: CancellationToken,
) -> Result<std::net::SocketAddr, OpsError> {
    let handle = recorder()?;
    let listener = TcpListener::bind(&settings.listen)
        .await
        .map_err(|source| OpsError::Bind {
            address: settings.listen.clone(),
            source,
        })?;
    let address = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .with_state(handle.clone());
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "ops server stopped");
        }
    });
    // Histograms and summaries are kept per scrape window; upkeep keeps memory flat.
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            handle.run_upkeep();
        }
    });
    tracing::info!(address = %address, "ops endpoints listening");
    Ok(address)
}
