//! Processing: orders from a pre-loaded `order.created` to their outcome, through the order
//! saga, inventory and payments under exactly-once, each a process of its own.

use std::time::{Duration, Instant};

use orderflow_schemas::EventType;
use serde_json::json;

use super::outcomes::Watch;
use super::report::Report;
use super::{preload, processor, Stage, CHAIN};

/// Longest wait without a single new outcome.
const STALL_LIMIT: Duration = Duration::from_secs(60);
/// The rate is taken from this share of the outcomes on, leaving start-up out.
const STEADY_FROM: f64 = 0.1;

pub async fn run(mut stage: Stage, limit: f64) -> anyhow::Result<Report> {
    let orders = stage.scale.pick(2_000, 100_000);
    let (kafka, topics, codec) = (
        stage.pipeline.settings.kafka.clone(),
        stage.pipeline.topics.clone(),
        stage.pipeline.codec.clone(),
    );
    preload::write(
        &kafka,
        &codec,
        topics.of(EventType::StockSet),
        &preload::stock(),
    )
    .await?;
    let created: Vec<_> = (0..orders).map(preload::order).collect();
    let loaded =
        preload::write(&kafka, &codec, topics.of(EventType::OrderCreated), &created).await?;
    println!(
        "bench: processing: {orders} orders pre-loaded in {:.1} s",
        loaded.as_secs_f64()
    );

    let outcomes = [
        topics.of(EventType::OrderCompleted).to_owned(),
        topics.of(EventType::OrderFailed).to_owned(),
    ];
    let watch = Watch::start(
        &kafka,
        &outcomes,
        stage.pipeline.settings.topics.order_partitions,
    )?;
    let started = Instant::now();
    let members: Vec<_> = CHAIN.iter().map(|p| processor(*p, 0)).collect();
    // Orders queued behind a long backlog must not time out while they wait.
    let patient = [(
        "ORDERFLOW_PROCESSORS__ORDER_TIMEOUT_MS".to_owned(),
        "3600000".to_owned(),
    )];
    for member in &members {
        stage.fleet.start_with(*member, &patient)?;
    }
    watch
        .wait_for(orders as u64, STALL_LIMIT, "outcomes")
        .await?;
    let wall = started.elapsed().as_secs_f64();
    let steady = watch.steady_rate(STEADY_FROM);

    let mut report = Report::new(
        "processing",
        json!({"orders": orders, "exactly_once": true,
               "commit_interval_ms": stage.pipeline.settings.processors.commit_interval_ms,
               "partitions": stage.pipeline.settings.topics.order_partitions,
               "stages": CHAIN.map(|p| format!("{p:?}").to_lowercase())}),
    );
    // A small run's outcomes come in a handful of transactions, too close to time.
    let chain = if steady.is_finite() {
        report.add("chain orders/s (steady)", steady, "orders/s");
        steady
    } else {
        println!("bench: processing: outcomes too close together to time a steady rate");
        orders as f64 / wall
    };
    report.add(
        "chain orders/s (from start)",
        orders as f64 / wall,
        "orders/s",
    );
    report.add("chain vs raw producer", chain / limit, "x raw");
    for member in &members {
        let used = stage.usage(*member)?;
        let per_thousand = used.cpu_seconds / orders as f64 * 1000.0;
        report.add(
            format!("{} CPU per 1,000 orders", member.name()),
            per_thousand,
            "s",
        );
        // A stage's rate on one core: the orders it handled per second of CPU it spent.
        report.add(
            format!("{} orders/s per core", member.name()),
            1000.0 / per_thousand,
            "orders/s",
        );
    }
    stage.report_usage(&mut report, &members)?;
    stage.finish().await;
    Ok(report)
}
