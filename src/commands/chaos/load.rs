//! The orders of a chaos run: a seeded, reproducible mix, placed over HTTP at a steady rate.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};

use super::check::Placed;

/// SKUs with more stock than any run can sell.
pub const PLENTIFUL_SKUS: usize = 20;
/// Orders placed at once.
const CONCURRENCY: usize = 16;
/// Share of orders, in percent, paid with a card that is declined.
const DECLINED_PERCENT: u32 = 10;
/// Share of orders, in percent, with a line of a scarce SKU.
const SCARCE_PERCENT: u32 = 20;

pub fn plentiful(i: usize) -> String {
    format!("SKU-{i:02}")
}

pub const SCARCE: [&str; 2] = ["SCARCE-0", "SCARCE-1"];

/// Stock to set before the run: plenty of most SKUs, and scarce SKUs that sell out.
pub fn stock(orders: usize) -> Vec<(String, i64)> {
    let mut stock: Vec<(String, i64)> = (0..PLENTIFUL_SKUS)
        .map(|i| (plentiful(i), 1_000_000_000))
        .collect();
    let scarce_units = (orders as i64 / 25).max(5);
    stock.extend(SCARCE.iter().map(|s| (s.to_string(), scarce_units)));
    stock
}

fn order(rng: &mut StdRng, i: usize) -> (Value, Placed) {
    let mut lines = BTreeMap::new();
    for _ in 0..rng.random_range(1..=3) {
        lines.insert(
            plentiful(rng.random_range(0..PLENTIFUL_SKUS)),
            rng.random_range(1..=3i64),
        );
    }
    if rng.random_range(0..100) < SCARCE_PERCENT {
        lines.insert(SCARCE[rng.random_range(0..SCARCE.len())].to_owned(), 1);
    }
    let declined = rng.random_range(0..100) < DECLINED_PERCENT;
    let items: Vec<Value> = lines
        .iter()
        .map(|(sku, units)| json!({"sku": sku, "quantity": units, "unit_price": 100 + i % 900}))
        .collect();
    let body = json!({
        "customer_id": format!("chaos-{}", i % 97),
        "email": format!("chaos{i}@example.com"),
        "currency": "EUR",
        "payment_token": if declined { "tok_decline" } else { "tok_visa" },
        "items": items,
    });
    (body, Placed { lines, declined })
}

/// What placing the orders produced.
#[derive(Default)]
pub struct Placement {
    pub accepted: Vec<(String, Placed)>,
    /// Answers other than `201` (for example `503` while Kafka was unavailable).
    pub refused: BTreeMap<u16, usize>,
}

/// Places `count` orders at about `rate` per second; `progress` counts the orders answered.
pub async fn place(
    http: reqwest::Client,
    base: String,
    count: usize,
    rate: u32,
    seed: u64,
    progress: Arc<AtomicUsize>,
) -> Placement {
    let mut rng = StdRng::seed_from_u64(seed);
    let orders: Vec<(Value, Placed)> = (0..count).map(|i| order(&mut rng, i)).collect();
    let url = format!("{base}/v1/orders");
    let start = tokio::time::Instant::now();
    let spacing = 1.0 / f64::from(rate.max(1));
    let answers: Vec<(Result<String, u16>, Placed)> = stream::iter(orders.into_iter().enumerate())
        .map(|(i, (body, placed))| {
            let (http, url, progress) = (http.clone(), url.clone(), progress.clone());
            async move {
                // Each order has its slot in time, so the rate holds whatever the latency.
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 * spacing)).await;
                let answer = match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 201 => {
                        let created: Value = r.json().await.unwrap_or(Value::Null);
                        created["id"].as_str().map(str::to_owned).ok_or(201)
                    }
                    Ok(r) => Err(r.status().as_u16()),
                    Err(_) => Err(0),
                };
                progress.fetch_add(1, Ordering::Relaxed);
                (answer, placed)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut placement = Placement::default();
    for (answer, placed) in answers {
        match answer {
            Ok(id) => placement.accepted.push((id, placed)),
            Err(status) => *placement.refused.entry(status).or_default() += 1,
        }
    }
    placement
}
