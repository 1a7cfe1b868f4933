//! Delivery: signed webhooks per second from a pre-loaded outcome topic to a fast local
//! receiver, alone and beside an endpoint that accepts connections and never answers.

use std::time::{Duration, Instant};

use orderflow_schemas::EventType;
use serde_json::json;

use super::receiver::{self, Receiver};
use super::report::Report;
use super::{gateway, load, preload, sink, Stage};
use crate::commands::waiting::wait_for_count;

/// Longest wait without a single new delivery.
const STALL_LIMIT: Duration = Duration::from_secs(60);
/// The rate is taken from this share of the deliveries on, leaving start-up out.
const STEADY_FROM: f64 = 0.1;
/// Shortest span a rate is computed over.
const MIN_SPAN: Duration = Duration::from_millis(500);

pub async fn run(mut stage: Stage, hanging: bool) -> anyhow::Result<Report> {
    let events = stage.scale.pick(1_000, 50_000);
    let pipeline = stage.pipeline.clone();
    stage.start_ready(gateway()).await?;
    let http = load::client(&stage.api_key, 4)?;
    let receiver = Receiver::start().await?;
    receiver.subscribe(&http, &stage.base).await?;
    // Accepts connections and never answers: every delivery to it waits for its timeout.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hang_url = format!("http://{}/hooks", hang.local_addr()?);
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = hang.accept().await {
            open.push(socket);
        }
    });
    if hanging {
        receiver::subscribe(&http, &stage.base, &hang_url).await?;
    }
    let outcomes: Vec<_> = (0..events)
        .map(|i| preload::completed(&preload::order(i)))
        .collect();
    let topic = pipeline.topics.of(EventType::OrderCompleted);
    preload::write(&pipeline.settings.kafka, &pipeline.codec, topic, &outcomes).await?;

    let started = Instant::now();
    stage.start_ready(sink()).await?;
    let delivered = || receiver.distinct() as u64;
    wait_for_count(
        "bench",
        "webhooks delivered",
        events as u64,
        STALL_LIMIT,
        delivered,
    )
    .await?;
    let wall = started.elapsed().as_secs_f64();
    // Each event counts once, at its first delivery.
    let mut times: Vec<Instant> = receiver.first_arrivals().into_values().collect();
    times.sort_unstable();
    let first = (times.len() as f64 * STEADY_FROM) as usize;
    let span = times[times.len() - 1] - times[first];
    // The span holds one interval fewer than it has arrivals.
    let steady = (span >= MIN_SPAN).then(|| (times.len() - first - 1) as f64 / span.as_secs_f64());

    let name = if hanging {
        "delivery-hanging"
    } else {
        "delivery"
    };
    let mut report = Report::new(
        name,
        json!({"events": events, "hanging_endpoint": hanging, "signed": true, "verified": true}),
    );
    match steady {
        Some(rate) => report.add("deliveries/s (steady)", rate, "deliveries/s"),
        None => println!(
            "bench: {name}: {events} deliveries in {span:?}, too fast to time a steady rate"
        ),
    }
    report.add(
        "deliveries/s (from sink start)",
        events as f64 / wall,
        "deliveries/s",
    );
    stage.report_usage(&mut report, &[sink()])?;
    held.abort();
    stage.finish().await;
    Ok(report)
}
