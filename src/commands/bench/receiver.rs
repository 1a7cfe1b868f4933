//! A subscriber on loopback that verifies every delivery's signature and notes when it
//! arrived, and the subscription that points the sink at it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::bail;
use orderflow_webhooks::listen::{serve, Refusals, SharedSecret};
use orderflow_webhooks::SigningSecret;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// When each order's webhook first arrived, by order id; repeats do not move it.
pub type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

pub struct Receiver {
    pub url: String,
    pub arrivals: Arrivals,
    secret: SharedSecret,
    stop: CancellationToken,
}

impl Receiver {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hooks", listener.local_addr()?);
        let (secret, stop) = (SharedSecret::default(), CancellationToken::new());
        let (verified_tx, mut verified) = mpsc::unbounded_channel();
        tokio::spawn(serve(
            listener,
            secret.clone(),
            verified_tx,
            Refusals::default(),
            stop.clone(),
        ));
        let arrivals = Arrivals::default();
        let kept = arrivals.clone();
        tokio::spawn(async move {
            while let Some(delivery) = verified.recv().await {
                kept.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(delivery.order_id)
                    .or_insert_with(Instant::now);
            }
        });
        Ok(Self {
            url,
            arrivals,
            secret,
            stop,
        })
    }

    /// Orders whose webhook arrived, each counted once however often it came.
    pub fn distinct(&self) -> usize {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// When each order's webhook first arrived, by order id.
    pub fn first_arrivals(&self) -> HashMap<String, Instant> {
        self.arrivals
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Subscribes this receiver to order outcomes through the gateway's API.
    pub async fn subscribe(&self, http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
        let secret = subscribe(http, base, &self.url).await?;
        self.secret.set(SigningSecret::parse(&secret)?);
        Ok(())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Creates a subscription to order outcomes for `url`; returns its signing secret.
pub async fn subscribe(http: &reqwest::Client, base: &str, url: &str) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/v1/webhooks"))
        .json(&json!({"url": url, "event_types": ["order.completed", "order.failed"]}))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("creating a subscription for {url} was answered {status}: {body}");
    }
    Ok(body["secret"].as_str().unwrap_or_default().to_owned())
}
