//! The command line of the `orderflow` binary.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "orderflow",
    version,
    about = "An event-driven order pipeline on Apache Kafka"
)]
pub struct Cli {
    /// TOML configuration file; ORDERFLOW_* environment variables override it.
    #[arg(long, global = true, env = "ORDERFLOW_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API: accept orders, stock changes and webhook subscriptions.
    Gateway,
    /// Run one processor as a member of its consumer group.
    Process {
        #[arg(value_enum)]
        processor: ProcessorName,
    },
    /// Deliver order outcomes to webhook subscribers.
    Webhooks,
    /// Run the gateway, every processor and the webhook sink in one process (development).
    Run,
    /// Receive webhooks locally, verify their signatures and print each delivery.
    WebhookListen {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: String,
        /// The subscription's signing secret (whsec_...).
        #[arg(long, env = "ORDERFLOW_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// Answer 503 with Retry-After to the first attempt of every N-th event, to watch the
        /// sink retry; 0 never does.
        #[arg(long, default_value_t = 0)]
        refuse_first_every: usize,
    },
    /// Decode and print the events of a topic, one JSON object per line.
    Tail {
        /// An event type (order.created) or a full topic name (orderflow.order.created).
        topic: String,
        /// Start at the first record instead of the end.
        #[arg(long)]
        from_beginning: bool,
        /// Stop after this many records.
        #[arg(long)]
        max: Option<u64>,
    },
    /// Place orders while killing and restarting processors, then check no order was lost or
    /// doubled; exits non-zero if an invariant broke.
    Chaos {
        /// Orders to place.
        #[arg(long, default_value_t = 2000)]
        orders: usize,
        /// Processor instances to kill (SIGKILL) and restart during the run.
        #[arg(long, default_value_t = 3)]
        kills: usize,
        /// Orders placed per second.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// Seed of the order mix and of the kill schedule.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Run the benchmark suite: every figure beside the raw Kafka producer's, in one run.
    Bench {
        /// `smoke` proves the suite runs in a minute or two; `full` measures.
        #[arg(long, value_enum, default_value_t = crate::commands::bench::Scale::Full)]
        scale: crate::commands::bench::Scale,
        /// Benchmarks to run (all when none is named); the raw producer always runs.
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<crate::commands::bench::Benchmark>,
        /// Folder for the machine-readable results, one JSON file per benchmark.
        #[arg(long, default_value = "bench-results")]
        out: PathBuf,
    },
    /// Work with configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Start the pipeline, send a mix of orders through it and show what happens to each.
    Demo {
        /// Orders to place.
        #[arg(long, default_value_t = 24)]
        orders: usize,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a configuration file, with the ORDERFLOW_* environment on top, as the components
    /// would read it at start-up; exits non-zero naming the first bad setting.
    Check {
        /// The TOML file.
        file: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum ProcessorName {
    Inventory,
    Payments,
    Orders,
    Notifications,
}

impl ProcessorName {
    pub const ALL: [ProcessorName; 4] = [
        ProcessorName::Inventory,
        ProcessorName::Payments,
        ProcessorName::Orders,
        ProcessorName::Notifications,
    ];

    /// The processor's name: its group, its store folders, its health entry.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessorName::Inventory => "inventory",
            ProcessorName::Payments => "payments",
            ProcessorName::Orders => "orders",
            ProcessorName::Notifications => "notifications",
        }
    }
}
