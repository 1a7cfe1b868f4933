//! Recovery: a store rebuilt from a changelog of many keys, and the pause a processor's
//! partitions see when the instance holding them is killed and another takes them over.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use orderflow_kafka::ensure_topics;
use orderflow_schemas::{EventType, TopicSpec};
use rdkafka::producer::BaseRecord;
use serde_json::{json, Value};

use super::outcomes::Watch;
use super::report::Report;
use super::{preload, processor, Stage, CHAIN};
use crate::cli::ProcessorName;

/// Bytes of each changelog value: about what a stock level takes.
const VALUE_BYTES: usize = 64;
/// Longest wait for the partitions to move again after a kill.
const RESUME_LIMIT: Duration = Duration::from_secs(90);

pub async fn restore(mut stage: Stage) -> anyhow::Result<Report> {
    let keys = stage.scale.pick(20_000, 1_000_000);
    let settings = stage.pipeline.settings.clone();
    let topics = stage.pipeline.topics.clone();
    let partitions = settings.topics.sku_partitions;
    let changelog = topics.changelog(&topics.consumer_group("inventory"), "stock");
    let spec = TopicSpec {
        name: changelog.clone(),
        partitions,
        compacted: true,
    };
    ensure_topics(&settings.kafka, &[spec]).await?;
    let kafka = settings.kafka.clone();
    let topic = changelog.clone();
    let written = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let (producer, acks) = preload::producer(&kafka)?;
        let value = vec![b'v'; VALUE_BYTES];
        for i in 0..keys {
            let key = format!("BENCH-RESTORE-{i:07}");
            let record = BaseRecord::to(&topic)
                .key(key.as_str())
                .payload(value.as_slice())
                .partition((i % partitions as usize) as i32);
            preload::send(&producer, record)?;
        }
        preload::flush(&producer, &acks, keys as u64)?;
        Ok((keys * (VALUE_BYTES + 21)) as u64)
    })
    .await??;
    println!("bench: restore: {keys} keys written to {changelog}");

    let member = processor(ProcessorName::Inventory, 0);
    let started = Instant::now();
    stage.start_ready(member).await?;
    let to_ready = started.elapsed().as_secs_f64();
    let (records, restoring) = restored(&stage.fleet.log_path(member))?;
    if records < keys as u64 {
        bail!("the store restored {records} records of the {keys} in its changelog");
    }
    let mut report = Report::new(
        "restore",
        json!({"keys": keys, "value_bytes": VALUE_BYTES, "partitions": partitions}),
    );
    report.add("records restored", records as f64, "records");
    report.add("restore records/s", records as f64 / restoring, "records/s");
    report.add("restore MB/s", written as f64 / restoring / 1e6, "MB/s");
    report.add("start to ready", to_ready, "s");
    // Process start, group join and assignment included.
    report.add(
        "restore records/s (start to ready)",
        records as f64 / to_ready,
        "records/s",
    );
    stage.report_usage(&mut report, &[member])?;
    stage.finish().await;
    Ok(report)
}

/// Records restored and seconds spent restoring, summed over the partitions, from the
/// member's `store restored` log lines.
fn restored(log: &std::path::Path) -> anyhow::Result<(u64, f64)> {
    let text =
        std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let (mut records, mut millis) = (0, 0);
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let fields = &entry["fields"];
        if fields["message"] == "store restored" {
            records += fields["records"].as_u64().unwrap_or(0);
            millis += fields["elapsed_ms"].as_u64().unwrap_or(0);
        }
    }
    if records == 0 {
        bail!("no `store restored` line with records in {}", log.display());
    }
    Ok((records, (millis as f64 / 1000.0).max(1e-3)))
}

/// Two instances of the order saga share its partitions while orders flow; one is stopped
/// (SIGKILL, or SIGTERM when `graceful`) and the other takes its partitions over.
pub async fn failover(mut stage: Stage, graceful: bool) -> anyhow::Result<Report> {
    let rate = stage.scale.pick(100, 500);
    let pipeline = stage.pipeline.clone();
    let (kafka, topics, codec) = (&pipeline.settings.kafka, &pipeline.topics, &pipeline.codec);
    let partitions = pipeline.settings.topics.order_partitions;
    preload::write(
        kafka,
        codec,
        topics.of(EventType::StockSet),
        &preload::stock(),
    )
    .await?;
    let (survivor, victim) = (
        processor(ProcessorName::Orders, 0),
        processor(ProcessorName::Orders, 1),
    );
    for member in [survivor, victim] {
        stage.start_ready(member).await?;
    }
    for name in CHAIN.into_iter().filter(|n| *n != ProcessorName::Orders) {
        stage.start_ready(processor(name, 0)).await?;
    }
    let outcomes = [
        topics.of(EventType::OrderCompleted).to_owned(),
        topics.of(EventType::OrderFailed).to_owned(),
    ];
    let watch = Watch::start(kafka, &outcomes, partitions)?;

    // Orders arrive at a steady rate for the whole run, straight into Kafka.
    let flowing = Arc::new(AtomicBool::new(true));
    let feeder = feed(&pipeline, rate, flowing.clone()).await?;
    let settled = Instant::now();
    while settled.elapsed() < Duration::from_secs(60)
        && !all_moving(&watch, partitions, Instant::now() - Duration::from_secs(1))
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    let stopped = Instant::now();
    if graceful {
        stage.fleet.stop(victim).await;
    } else {
        stage.fleet.kill(victim).await;
    }
    let resumed = loop {
        if all_moving(&watch, partitions, stopped + Duration::from_secs(1)) {
            break true;
        }
        if stopped.elapsed() > RESUME_LIMIT {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    flowing.store(false, Ordering::Relaxed);
    feeder.await??;
    if !resumed {
        bail!("some partitions did not move again within {RESUME_LIMIT:?} of the stop");
    }

    let pause = longest_pause(&watch, stopped);
    let signal = if graceful { "SIGTERM" } else { "SIGKILL" };
    let name = if graceful {
        "failover-sigterm"
    } else {
        "failover-sigkill"
    };
    let mut report = Report::new(
        name,
        json!({"rate_per_s": rate, "signal": signal, "partitions": partitions,
               "session_timeout_ms": pipeline.settings.processors.session_timeout_ms}),
    );
    report.add("longest partition pause", pause.as_secs_f64(), "s");
    stage.report_usage(&mut report, &[survivor])?;
    stage.finish().await;
    Ok(report)
}

/// True when every partition had an outcome after `since`.
fn all_moving(watch: &Watch, partitions: i32, since: Instant) -> bool {
    let mut latest: BTreeMap<i32, Instant> = BTreeMap::new();
    for (partition, at) in watch.arrivals() {
        let entry = latest.entry(partition).or_insert(at);
        *entry = (*entry).max(at);
    }
    (0..partitions).all(|p| latest.get(&p).is_some_and(|t| *t > since))
}

/// The longest time any partition went without an outcome, over gaps that end after `from`.
fn longest_pause(watch: &Watch, from: Instant) -> Duration {
    let mut by_partition: BTreeMap<i32, Vec<Instant>> = BTreeMap::new();
    for (partition, at) in watch.arrivals() {
        by_partition.entry(partition).or_default().push(at);
    }
    by_partition
        .values_mut()
        .flat_map(|times| {
            times.sort_unstable();
            times
                .windows(2)
                .filter(|w| w[1] > from)
                .map(|w| w[1] - w[0])
                .collect::<Vec<_>>()
        })
        .max()
        .unwrap_or_default()
}

/// Writes orders to `order.created` at `rate` per second until `flowing` turns false.
async fn feed(
    pipeline: &crate::components::Pipeline,
    rate: u32,
    flowing: Arc<AtomicBool>,
) -> anyhow::Result<tokio::task::JoinHandle<anyhow::Result<()>>> {
    // Encoded ahead, so that the feeder's own work does not vary the rate.
    let orders: Vec<_> = (0..rate as usize * 180).map(preload::order).collect();
    let mut encoded = Vec::with_capacity(orders.len());
    for order in &orders {
        encoded.push((
            orderflow_schemas::Event::key(order),
            pipeline.codec.encode(order).await?,
        ));
    }
    let topic = pipeline.topics.of(EventType::OrderCreated).to_owned();
    let kafka = pipeline.settings.kafka.clone();
    Ok(tokio::task::spawn_blocking(move || {
        let (producer, acks) = preload::producer(&kafka)?;
        let started = Instant::now();
        let spacing = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let mut sent = 0u64;
        for (i, (key, payload)) in encoded.iter().enumerate() {
            if !flowing.load(Ordering::Relaxed) {
                break;
            }
            if let Some(wait) =
                (started + spacing * i as u32).checked_duration_since(Instant::now())
            {
                std::thread::sleep(wait);
            }
            preload::send(
                &producer,
                BaseRecord::to(&topic)
                    .key(key.as_str())
                    .payload(payload.as_slice()),
            )?;
            sent += 1;
        }
        preload::flush(&producer, &acks, sent)
    }))
}
