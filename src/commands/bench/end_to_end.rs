//! End to end: orders posted at a fixed rate, timed from the moment each was due until its
//! signed webhook arrived at a local receiver.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::bail;
use orderflow_schemas::EventType;
use serde_json::json;

use super::load;
use super::receiver::Receiver;
use super::report::{Latencies, Report};
use super::{gateway, preload, processor, sink, Stage, CHAIN};

/// How long after the last order its webhook may take.
const SETTLE_LIMIT: Duration = Duration::from_secs(120);

pub async fn run(mut stage: Stage) -> anyhow::Result<Report> {
    let (rate, duration) = stage.scale.pick(
        (50.0, Duration::from_secs(4)),
        (1_000.0, Duration::from_secs(30)),
    );
    let pipeline = stage.pipeline.clone();
    let topics = &pipeline.topics;
    preload::write(
        &pipeline.settings.kafka,
        &pipeline.codec,
        topics.of(EventType::StockSet),
        &preload::stock(),
    )
    .await?;
    stage.start_ready(gateway()).await?;
    let mut members = vec![gateway()];
    for name in CHAIN {
        stage.start_ready(processor(name, 0)).await?;
        members.push(processor(name, 0));
    }
    stage.start_ready(sink()).await?;
    members.push(sink());

    let http = load::client(&stage.api_key, 64)?;
    let receiver = Receiver::start().await?;
    receiver.subscribe(&http, &stage.base).await?;
    // The sink learns of the subscription from its topic; the first orders must not race it.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let bodies = load::bodies(1_000, load::order_body);
    let url = format!("{}/v1/orders", stage.base);
    let placed = load::open_loop(&http, &url, bodies, rate, duration, true).await;
    if placed.placed.is_empty() {
        bail!("no order was accepted: {:?}", placed.statuses);
    }
    let expected = placed.placed.len();
    let settle_started = std::time::Instant::now();
    while receiver.distinct() < expected && settle_started.elapsed() < SETTLE_LIMIT {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    let due: HashMap<&str, std::time::Instant> = placed
        .placed
        .iter()
        .map(|(id, at)| (id.as_str(), *at))
        .collect();
    let mut latencies = Latencies::default();
    for (order, arrived) in receiver.first_arrivals() {
        if let Some(at) = due.get(order.as_str()) {
            latencies.push(arrived.saturating_duration_since(*at));
        }
    }
    // Percentiles over the webhooks that came would hide the ones that did not.
    if latencies.len() < expected {
        bail!(
            "{} of {expected} accepted orders got no webhook within {SETTLE_LIMIT:?}",
            expected - latencies.len()
        );
    }
    let mut report = Report::new(
        "end-to-end",
        json!({"rate_per_s": rate, "seconds": duration.as_secs(),
               "commit_interval_ms": pipeline.settings.processors.commit_interval_ms}),
    );
    report.add("orders accepted", expected as f64, "orders");
    report.add("webhooks received", latencies.len() as f64, "orders");
    report.add(
        "not 201",
        (placed.requests() - placed.created()) as f64,
        "requests",
    );
    latencies.report(&mut report, "POST to webhook");
    stage.report_usage(&mut report, &members)?;
    stage.finish().await;
    Ok(report)
}
