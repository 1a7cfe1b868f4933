//! The demo's second subscriber: a merchant whose endpoint is down while the orders flow.
//! Every attempt fails, the deliveries run out of retries and land on the dead-letter topic;
//! then the endpoint comes back and one replay call delivers everything it missed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use orderflow_webhooks::listen::{serve, Refusals, SharedSecret, VerifiedDelivery};
use orderflow_webhooks::SigningSecret;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::shop::call;

/// How long the demo waits for the replayed deliveries.
const REPLAY_DEADLINE: Duration = Duration::from_secs(60);

pub struct DownEndpoint {
    pub subscription: String,
    address: std::net::SocketAddr,
    secret: SharedSecret,
}

/// Subscribes an address where nothing listens yet.
pub async fn subscribe(http: &reqwest::Client, base: &str) -> anyhow::Result<DownEndpoint> {
    // Take a free port and let it go again: deliveries to it are refused until `recover`.
    let address = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let url = format!("http://{address}/orderflow");
    println!("== subscribing {url}, a merchant endpoint that is down for now");
    let created = call(
        http,
        reqwest::Method::POST,
        &format!("{base}/v1/webhooks"),
        json!({"url": url, "event_types": ["order.completed", "order.failed"]}),
    )
    .await?;
    let secret = SharedSecret::default();
    let whsec = created["secret"]
        .as_str()
        .context("subscription without secret")?;
    secret.set(SigningSecret::parse(whsec)?);
    Ok(DownEndpoint {
        subscription: created["id"].as_str().unwrap_or_default().to_owned(),
        address,
        secret,
    })
}

/// Starts the endpoint, replays the window and waits for the redeliveries. Returns how many
/// events were replayed and how many of them arrived.
pub async fn recover(
    endpoint: &DownEndpoint,
    http: &reqwest::Client,
    base: &str,
    since: &str,
    missed: usize,
    shutdown: &CancellationToken,
) -> anyhow::Result<(usize, usize)> {
    let listener = tokio::net::TcpListener::bind(endpoint.address).await?;
    println!(
        "== the merchant endpoint is back on {}; replaying since {since}",
        endpoint.address
    );
    let (verified_tx, mut verified) = mpsc::unbounded_channel::<VerifiedDelivery>();
    let stop = shutdown.child_token();
    let secret = endpoint.secret.clone();
    tokio::spawn(serve(
        listener,
        secret,
        verified_tx,
        Refusals::default(),
        stop.clone(),
    ));
    let replay = format!("{base}/v1/webhooks/{}/replay", endpoint.subscription);
    // The gateway learns of dead letters from their topic, a moment after the sink wrote
    // them; asking again is harmless, a delivery already on its way is not started twice.
    let started = Instant::now();
    let requested = loop {
        let answer = call(
            http,
            reqwest::Method::POST,
            &replay,
            json!({ "since": since }),
        )
        .await?;
        let requested = answer["requested"].as_u64().unwrap_or(0) as usize;
        if requested >= missed || started.elapsed() > REPLAY_DEADLINE {
            break requested;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!("   replay requested for {requested} missed events");

    let mut received = HashSet::new();
    let started = Instant::now();
    while received.len() < requested && started.elapsed() < REPLAY_DEADLINE {
        let wait = tokio::time::timeout(Duration::from_millis(500), verified.recv()).await;
        if let Ok(Some(delivery)) = wait {
            if received.insert(delivery.webhook_id.clone()) {
                println!(
                    "   replayed webhook {} received, signature verified ({})",
                    delivery.webhook_id, delivery.event_type
                );
            }
        }
    }
    stop.cancel();
    Ok((requested, received.len()))
}
