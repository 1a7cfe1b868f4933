//! `orderflow bench`: the benchmark suite. Every figure is measured in the same run as the
//! limit it is compared with, the raw Kafka producer on the same machine and broker, so that
//! the ratios mean something on any machine. Components run as their own processes, as in
//! production; the load generator and receivers run in this one, beside them.

mod delivery;
mod end_to_end;
mod ingest;
mod load;
mod outcomes;
mod preload;
mod processing;
mod raw;
mod receiver;
mod recovery;
mod report;
mod usage;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::ValueEnum;
use serde_json::json;

use super::fleet::{Fleet, Member, Role};
use super::waiting::{free_port, wait_for};
use crate::cli::ProcessorName;
use crate::components::Pipeline;
use crate::settings::Settings;
use report::Report;

/// Bound on a component becoming ready or answering.
const START_LIMIT: Duration = Duration::from_secs(120);

/// How much work each benchmark does: `smoke` proves the suite runs, `full` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scale {
    Smoke,
    Full,
}

impl Scale {
    fn pick<T>(self, smoke: T, full: T) -> T {
        match self {
            Scale::Smoke => smoke,
            Scale::Full => full,
        }
    }

    pub fn raw_records(self) -> usize {
        self.pick(20_000, 1_000_000)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Benchmark {
    Raw,
    Ingest,
    Processing,
    EndToEnd,
    Delivery,
    Recovery,
}

pub struct BenchRun {
    pub scale: Scale,
    pub only: Vec<Benchmark>,
    pub out: PathBuf,
}

/// One benchmark's own namespace, folder and members, so that no benchmark sees another's
/// records or shares its consumer groups.
pub struct Stage {
    pub pipeline: Pipeline,
    pub fleet: Fleet,
    pub dir: PathBuf,
    pub base: String,
    pub api_key: String,
    pub scale: Scale,
}

impl Stage {
    async fn new(
        settings: &Settings,
        run_id: &str,
        name: &str,
        scale: Scale,
    ) -> anyhow::Result<Self> {
        let mut settings = settings.clone();
        settings.namespace = format!("bench-{run_id}-{name}");
        let dir = std::env::current_dir()?
            .join(".orderflow/bench")
            .join(&settings.namespace);
        let port = free_port()?;
        let api_key = format!("bench-{}", uuid::Uuid::new_v4().simple());
        let pipeline = Pipeline::connect(settings.clone()).await?;
        let mut env = super::chaos::member_env(&settings, port, &dir, &api_key);
        // The members log JSON, which the recovery benchmark reads back.
        env.push(("ORDERFLOW_LOG__FORMAT".into(), "json".into()));
        let fleet = Fleet::new(&dir, env)?;
        Ok(Self {
            pipeline,
            fleet,
            dir,
            base: format!("http://127.0.0.1:{port}"),
            api_key,
            scale,
        })
    }

    /// Starts a member and waits until its `/readyz` says it is ready.
    async fn start_ready(&mut self, member: Member) -> anyhow::Result<()> {
        let ops = free_port()?;
        let extra = [(
            "ORDERFLOW_OPS__LISTEN".to_owned(),
            format!("127.0.0.1:{ops}"),
        )];
        self.fleet.start_with(member, &extra)?;
        let url = format!("http://127.0.0.1:{ops}/readyz");
        let http = reqwest::Client::new();
        wait_for(
            &format!("{} to be ready", member.name()),
            START_LIMIT,
            || async {
                http.get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            },
        )
        .await
    }

    /// CPU time and peak memory of a member since it started (start-up included); an error
    /// when it is no longer running, so that a crashed member is not reported as free.
    fn usage(&self, member: Member) -> anyhow::Result<usage::Usage> {
        self.fleet
            .pid(member)
            .and_then(usage::of)
            .with_context(|| format!("{} is not running: no CPU or memory to read", member.name()))
    }

    /// Adds the CPU time and peak memory of `members` to `report`.
    fn report_usage(&self, report: &mut Report, members: &[Member]) -> anyhow::Result<()> {
        for member in members {
            let used = self.usage(*member)?;
            report.add(format!("{} CPU", member.name()), used.cpu_seconds, "s");
            report.add(
                format!("{} peak RSS", member.name()),
                used.peak_rss_mib,
                "MiB",
            );
        }
        Ok(())
    }

    async fn finish(mut self) {
        self.fleet.stop_all().await;
        // The folder holds only this stage's state and logs; a failed run keeps it.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn gateway() -> Member {
    Member {
        role: Role::Gateway,
        instance: 0,
    }
}

pub fn sink() -> Member {
    Member {
        role: Role::Webhooks,
        instance: 0,
    }
}

pub fn processor(name: ProcessorName, instance: u32) -> Member {
    Member {
        role: Role::Processor(name),
        instance,
    }
}

/// The stages an order goes through from `order.created` to its outcome.
pub const CHAIN: [ProcessorName; 3] = [
    ProcessorName::Orders,
    ProcessorName::Inventory,
    ProcessorName::Payments,
];

pub async fn run(settings: Settings, run: BenchRun) -> anyhow::Result<()> {
    let run_id = uuid::Uuid::now_v7().simple().to_string()[20..].to_owned();
    let wanted = |b: Benchmark| run.only.is_empty() || run.only.contains(&b);
    let started = Instant::now();
    println!(
        "bench: scale {:?}, run {run_id}, results in {}",
        run.scale,
        run.out.display()
    );
    let mut reports: Vec<Report> = Vec::new();
    let mut keep = |report: Report| -> anyhow::Result<()> {
        report.print();
        report.write(&run.out)?;
        reports.push(report);
        Ok(())
    };

    // The limit is measured in every run: every other figure is a ratio to it.
    let limits = Stage::new(&settings, &run_id, "raw", run.scale).await?;
    let codec = limits.pipeline.codec.clone();
    let partitions = settings.topics.order_partitions;
    let namespace = limits.pipeline.topics.namespace().to_owned();
    let raw_rdkafka =
        raw::rdkafka(&settings.kafka, &codec, &namespace, partitions, run.scale).await?;
    let limit = raw_rdkafka.get("records/s").unwrap_or(f64::NAN);
    keep(raw_rdkafka)?;
    if wanted(Benchmark::Raw) {
        let (libs, record_bytes) = (kafka_libs()?, raw::record_bytes(&codec).await?);
        keep(
            raw::perf_test(
                &settings.kafka,
                &namespace,
                partitions,
                record_bytes,
                run.scale,
                &libs,
            )
            .await?,
        )?;
    }
    limits.finish().await;

    if wanted(Benchmark::Ingest) {
        let stage = Stage::new(&settings, &run_id, "ingest", run.scale).await?;
        keep(ingest::run(stage, limit).await?)?;
    }
    if wanted(Benchmark::Processing) {
        let stage = Stage::new(&settings, &run_id, "processing", run.scale).await?;
        keep(processing::run(stage, limit).await?)?;
    }
    if wanted(Benchmark::EndToEnd) {
        let stage = Stage::new(&settings, &run_id, "end-to-end", run.scale).await?;
        keep(end_to_end::run(stage).await?)?;
    }
    if wanted(Benchmark::Delivery) {
        for (name, hanging) in [("delivery", false), ("delivery-hanging", true)] {
            let stage = Stage::new(&settings, &run_id, name, run.scale).await?;
            keep(delivery::run(stage, hanging).await?)?;
        }
    }
    if wanted(Benchmark::Recovery) {
        let stage = Stage::new(&settings, &run_id, "restore", run.scale).await?;
        keep(recovery::restore(stage).await?)?;
        for (name, graceful) in [("failover-sigkill", false), ("failover-sigterm", true)] {
            let stage = Stage::new(&settings, &run_id, name, run.scale).await?;
            keep(recovery::failover(stage, graceful).await?)?;
        }
    }

    let mut summary = Report::new(
        "summary",
        json!({"scale": format!("{:?}", run.scale), "run": run_id,
               "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
               "memory_gib": memory_gib(),
               "librdkafka": rdkafka::util::get_rdkafka_version().1,
               "kafka": kafka_version(),
               "orderflow": env!("CARGO_PKG_VERSION")}),
    );
    summary.add("raw rdkafka producer", limit, "records/s");
    for report in &reports {
        for figure in report.figures.iter().filter(|f| f.unit == "x raw") {
            summary.add(
                format!("{}: {}", report.benchmark, figure.name),
                figure.value,
                "x raw",
            );
        }
    }
    summary.add("suite wall time", started.elapsed().as_secs_f64(), "s");
    summary.print();
    summary.write(&run.out)?;
    Ok(())
}

/// The Kafka jars the local stack installed, which hold `ProducerPerformance`.
fn kafka_libs() -> anyhow::Result<PathBuf> {
    let libs = std::env::var_os("ORDERFLOW_KAFKA_LIBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(".stack/kafka/libs").to_owned());
    if !libs.is_dir() {
        bail!(
            "ORDERFLOW_KAFKA_LIBS: no Kafka jars in {} (run `make up` first)",
            libs.display()
        );
    }
    Ok(libs)
}

/// The machine's memory, from `/proc/meminfo`.
fn memory_gib() -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib = usage::kib_field(&info, "MemTotal:")?;
    Some((kib / 1024.0 / 1024.0 * 10.0).round() / 10.0)
}

/// The broker's version, from the name of its client jar.
fn kafka_version() -> Option<String> {
    std::fs::read_dir(kafka_libs().ok()?)
        .ok()?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find_map(|name| {
            Some(
                name.strip_prefix("kafka-clients-")?
                    .strip_suffix(".jar")?
                    .to_owned(),
            )
        })
}
