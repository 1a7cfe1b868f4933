//! `orderflow webhook-listen`: prints every delivery whose signature verifies.

use anyhow::Context as _;
use orderflow_webhooks::listen::{serve, SharedSecret};
use orderflow_webhooks::SigningSecret;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub async fn run(address: &str, secret: &str, shutdown: CancellationToken) -> anyhow::Result<()> {
    let secret = SigningSecret::parse(secret).context("--secret")?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("--listen: cannot bind {address}"))?;
    println!(
        "listening on http://{} for signed webhooks",
        listener.local_addr()?
    );
    let shared = SharedSecret::default();
    shared.set(secret);
    let (verified, mut deliveries) = mpsc::unbounded_channel();
    let server = tokio::spawn(serve(listener, shared, verified, shutdown));
    while let Some(delivery) = deliveries.recv().await {
        println!(
            "verified  {}  {}  order {}",
            delivery.webhook_id, delivery.event_type, delivery.order_id
        );
    }
    server.await??;
    Ok(())
}
