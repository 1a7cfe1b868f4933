//! `orderflow webhook-listen`: prints every delivery whose signature verifies.

use anyhow::Context as _;
use orderflow_webhooks::listen::{serve, Refusals, SharedSecret};
use orderflow_webhooks::SigningSecret;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub async fn run(
    address: &str,
    secret: &str,
    refuse_every: usize,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
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
    let refusals = Refusals::every(refuse_every);
    let server = tokio::spawn(serve(listener, shared, verified, refusals, shutdown));
    while let Some(delivery) = deliveries.recv().await {
        println!(
            "verified  {}  {}  order {}",
            delivery.webhook_id, delivery.event_type, delivery.order_id
        );
    }
    server.await??;
    Ok(())
}
