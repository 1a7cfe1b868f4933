//! The limit: how fast the same machine writes the same records to the same broker without
//! orderflow, from librdkafka in Rust and from Kafka's own `ProducerPerformance`.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{bail, Context as _};
use orderflow_kafka::{ensure_topics, KafkaSettings};
use orderflow_schemas::{Codec, TopicSpec};
use rdkafka::producer::BaseRecord;
use serde_json::json;

use super::preload;
use super::report::Report;
use super::Scale;

/// Distinct orders the raw producer cycles through: enough that compression sees what it
/// sees from the gateway, where no two orders are alike.
const DISTINCT_PAYLOADS: usize = 10_000;

/// Encoded orders, as the gateway writes them: each with its own id, customer and time.
pub async fn sample_payloads(codec: &Codec, count: usize) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut payloads = Vec::with_capacity(count);
    for i in 0..count {
        payloads.push(codec.encode(&preload::order(i)).await?);
    }
    Ok(payloads)
}

/// The mean size of the records the raw producers write, in bytes.
pub async fn record_bytes(codec: &Codec) -> anyhow::Result<usize> {
    let sample = sample_payloads(codec, 100).await?;
    Ok(sample.iter().map(Vec::len).sum::<usize>() / sample.len())
}

async fn topic(kafka: &KafkaSettings, name: &str, partitions: i32) -> anyhow::Result<()> {
    let spec = TopicSpec {
        name: name.to_owned(),
        partitions,
        compacted: false,
    };
    ensure_topics(kafka, &[spec]).await?;
    Ok(())
}

/// Records/s acknowledged to an rdkafka producer with orderflow's producer settings.
pub async fn rdkafka(
    kafka: &KafkaSettings,
    codec: &Codec,
    namespace: &str,
    partitions: i32,
    scale: Scale,
) -> anyhow::Result<Report> {
    let records = scale.raw_records();
    let name = format!("{namespace}.bench.raw-rdkafka");
    topic(kafka, &name, partitions).await?;
    let keys: Vec<String> = (0..records)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    let payloads = sample_payloads(codec, DISTINCT_PAYLOADS.min(records)).await?;
    let record_bytes = payloads.iter().map(Vec::len).sum::<usize>() / payloads.len();
    let kafka = kafka.clone();
    let (elapsed, bytes) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let (producer, acks) = preload::producer(&kafka)?;
        let started = Instant::now();
        for (i, key) in keys.iter().enumerate() {
            let payload = &payloads[i % payloads.len()];
            let record = BaseRecord::to(&name)
                .key(key.as_str())
                .payload(payload.as_slice());
            preload::send(&producer, record)?;
        }
        preload::flush(&producer, &acks, keys.len() as u64)?;
        Ok((started.elapsed(), acks.bytes.load(Ordering::Relaxed)))
    })
    .await??;
    let mut report = Report::new(
        "raw-rdkafka",
        json!({"records": records, "record_bytes": record_bytes, "partitions": partitions,
               "acks": "all", "idempotence": true, "compression": "lz4", "linger_ms": 5}),
    );
    let seconds = elapsed.as_secs_f64();
    report.add("records/s", records as f64 / seconds, "records/s");
    report.add("MB/s", bytes as f64 / seconds / 1e6, "MB/s");
    Ok(report)
}

/// Kafka's `ProducerPerformance` (what `kafka-producer-perf-test.sh` runs), with records of
/// the same size and the same producer settings.
pub async fn perf_test(
    kafka: &KafkaSettings,
    namespace: &str,
    partitions: i32,
    record_bytes: usize,
    scale: Scale,
    kafka_libs: &Path,
) -> anyhow::Result<Report> {
    let records = scale.raw_records();
    let name = format!("{namespace}.bench.raw-perf-test");
    topic(kafka, &name, partitions).await?;
    let classpath = format!("{}/*", kafka_libs.display());
    let output = tokio::process::Command::new("java")
        .args([
            "-Xmx1g",
            "-cp",
            &classpath,
            "org.apache.kafka.tools.ProducerPerformance",
        ])
        .args(["--topic", &name])
        .args(["--num-records", &records.to_string()])
        .args(["--record-size", &record_bytes.to_string()])
        .args(["--throughput", "-1"])
        .arg("--producer-props")
        .arg(format!("bootstrap.servers={}", kafka.bootstrap_servers))
        .args([
            "acks=all",
            "enable.idempotence=true",
            "compression.type=lz4",
            "linger.ms=5",
        ])
        .output()
        .await
        .context("running java (Kafka's ProducerPerformance)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "ProducerPerformance exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // The last line sums the run: "N records sent, R records/sec (M MB/sec), ...".
    let summary = stdout
        .lines()
        .rev()
        .find(|l| l.contains("records sent"))
        .with_context(|| format!("no summary in ProducerPerformance's output: {stdout}"))?;
    let number_before = |marker: &str| -> Option<f64> {
        let head = &summary[..summary.find(marker)?];
        head.rsplit([' ', '('])
            .find(|w| !w.is_empty())?
            .parse()
            .ok()
    };
    let mut report = Report::new(
        "raw-perf-test",
        json!({"records": records, "record_bytes": record_bytes, "partitions": partitions,
               "acks": "all", "idempotence": true, "compression": "lz4", "linger_ms": 5}),
    );
    report.add(
        "records/s",
        number_before(" records/sec").context("records/sec in the summary")?,
        "records/s",
    );
    report.add(
        "MB/s",
        number_before(" MB/sec").context("MB/sec in the summary")? * 1.048_576,
        "MB/s",
    );
    Ok(report)
}
