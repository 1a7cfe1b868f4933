//! How the demo talks to the gateway: JSON calls with the demo's API key, and waiting for the
//! seeded stock to show.

use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;

use super::mix;
use crate::commands::api_client::with_api_key;

/// An HTTP client that sends the demo's API key with every request.
pub fn client(api_key: &str) -> anyhow::Result<reqwest::Client> {
    Ok(with_api_key(api_key)?.build()?)
}

pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = http.request(method, url).json(&body).send().await?;
    let status = response.status();
    let json: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url} answered {status}: {json}");
    }
    Ok(json)
}

/// Stock levels appear once the inventory processor applied the seeding; orders placed
/// before that could be refused for lack of stock.
pub async fn await_stock(
    http: &reqwest::Client,
    base: &str,
    deadline: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    for (sku, total) in mix::STOCK {
        loop {
            let level: Value = http
                .get(format!("{base}/v1/inventory/{sku}"))
                .send()
                .await?
                .json()
                .await
                .unwrap_or(Value::Null);
            if level["total"].as_i64() == Some(total) {
                break;
            }
            if started.elapsed() > deadline {
                bail!("the stock of {sku} did not show up within {deadline:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

pub fn count_emails(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}
