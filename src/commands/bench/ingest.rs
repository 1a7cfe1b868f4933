//! Ingest: orders accepted with `201` by the gateway, one per request over many keep-alive
//! connections and in batches, then latency at shares of the maximum rate.

use std::time::Duration;

use anyhow::bail;
use serde_json::json;

use super::load::{self, Outcome};
use super::report::Report;
use super::{gateway, Stage};

/// Orders per request to the batch endpoint.
const BATCH_ORDERS: usize = 100;
/// Distinct bodies the generator cycles through.
const BODIES: usize = 1_000;

pub async fn run(mut stage: Stage, limit: f64) -> anyhow::Result<Report> {
    let scale = stage.scale;
    let (connections, batch_connections) = (64, 8);
    let (max_for, at_rate_for) = scale.pick(
        (Duration::from_secs(3), Duration::from_secs(2)),
        (Duration::from_secs(20), Duration::from_secs(10)),
    );
    stage.start_ready(gateway()).await?;
    let http = load::client(&stage.api_key, connections)?;

    let orders_url = format!("{}/v1/orders", stage.base);
    let singles = load::bodies(BODIES, load::order_body);
    // A short warm-up: connections opened, schemas cached, the producer's batches flowing.
    load::closed_loop(
        &http,
        &orders_url,
        singles.clone(),
        connections,
        Duration::from_secs(1),
    )
    .await;

    let mut report = Report::new(
        "ingest",
        json!({"connections": connections, "batch_orders": BATCH_ORDERS,
               "batch_connections": batch_connections, "max_seconds": max_for.as_secs(),
               "at_rate_seconds": at_rate_for.as_secs()}),
    );
    let mut max =
        load::closed_loop(&http, &orders_url, singles.clone(), connections, max_for).await;
    let max_rate = created_rate(&max)?;
    report.add("single POST orders/s", max_rate, "orders/s");
    report.add("single POST vs raw producer", max_rate / limit, "x raw");
    max.latencies.report(&mut report, "single POST at max");
    refused(&mut report, "single POST at max", &max);

    for share in [0.25, 0.5, 0.9] {
        let rate = max_rate * share;
        let mut at = load::open_loop(
            &http,
            &orders_url,
            singles.clone(),
            rate,
            at_rate_for,
            false,
        )
        .await;
        let label = format!("at {:.0} % ({rate:.0}/s)", share * 100.0);
        at.latencies.report(&mut report, &label);
        refused(&mut report, &label, &at);
    }

    let batch_url = format!("{}/v1/orders/batch", stage.base);
    let batches = load::bodies(BODIES / 10, |i| {
        load::batch_body(BATCH_ORDERS, i * BATCH_ORDERS)
    });
    let mut batched =
        load::closed_loop(&http, &batch_url, batches, batch_connections, max_for).await;
    let batch_rate = created_rate(&batched)? * BATCH_ORDERS as f64;
    report.add("batch orders/s", batch_rate, "orders/s");
    report.add("batch vs raw producer", batch_rate / limit, "x raw");
    batched.latencies.report(&mut report, "batch request");
    refused(&mut report, "batch", &batched);

    stage.report_usage(&mut report, &[gateway()])?;
    stage.finish().await;
    Ok(report)
}

/// Requests answered `201` per second; a run where nothing was created is an error, not a
/// figure.
fn created_rate(outcome: &Outcome) -> anyhow::Result<f64> {
    if outcome.created() == 0 {
        bail!("no request was answered 201: {:?}", outcome.statuses);
    }
    Ok(outcome.created() as f64 / outcome.elapsed.as_secs_f64())
}

/// Requests not answered `201`: they are part of the result, not hidden by it.
fn refused(report: &mut Report, label: &str, outcome: &Outcome) {
    let refused = outcome.requests() - outcome.created();
    report.add(format!("{label} not 201"), refused as f64, "requests");
}
