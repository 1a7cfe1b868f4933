//! `orderflow`: one binary for every component of the pipeline.

mod cli;
mod commands;
mod components;
mod settings;

// Per-record Strings, Vecs and maps made the system allocator the largest single cost of
// the processors and the gateway (BENCHMARKS.md); mimalloc serves them faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, ProcessorName};
use components::{stop_on_signals, supervise, Pipeline};
use settings::{LogFormat, Settings};

fn init_logging(settings: &Settings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match settings.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Command::Config {
        command: cli::ConfigCommand::Check { file },
    } = &cli.command
    {
        return commands::config::check(file);
    }
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(mut settings) => {
            // The demo narrates on stdout; only problems should interrupt it.
            if matches!(cli.command, Command::Demo { .. } | Command::Bench { .. }) {
                settings.log.level = "warn".into();
            }
            settings
        }
        Err(e) => {
            eprintln!("orderflow: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logging(&settings);
    match run(cli.command, settings).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("orderflow: {}", components::describe(&e));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    match command {
        Command::WebhookListen {
            listen,
            secret,
            refuse_first_every,
        } => {
            stop_on_signals(shutdown.clone());
            return commands::listen::run(&listen, &secret, refuse_first_every, shutdown).await;
        }
        Command::Tail {
            topic,
            from_beginning,
            max,
        } => return commands::tail::run(&settings, &topic, from_beginning, max).await,
        Command::Demo { orders } => return commands::demo::run(settings, orders).await,
        Command::Chaos {
            orders,
            kills,
            rate,
            seed,
        } => {
            let run = commands::chaos::ChaosRun {
                orders,
                kills,
                rate,
                seed,
            };
            return commands::chaos::run(settings, run).await;
        }
        Command::Bench { scale, only, out } => {
            let run = commands::bench::BenchRun { scale, only, out };
            return commands::bench::run(settings, run).await;
        }
        _ => {}
    }

    stop_on_signals(shutdown.clone());
    let ops = orderflow_telemetry::serve(&settings.ops, shutdown.clone()).await?;
    tracing::debug!(address = %ops, "ops endpoints up");
    let pipeline = Pipeline::connect(settings).await?;
    let mut tasks = JoinSet::new();
    let started = start(command, &pipeline, &mut tasks, &shutdown).await;
    if started.is_err() {
        // Stop what did start before reporting why the rest could not.
        shutdown.cancel();
    }
    let stopped = supervise(tasks, shutdown).await;
    started.and(stopped)
}

/// The names under which the components a command runs report their health.
fn components_of(command: &Command) -> Vec<&'static str> {
    let mut names = Vec::new();
    if matches!(command, Command::Gateway | Command::Run) {
        names.push(orderflow_ingest::HEALTH_NAME);
    }
    if matches!(command, Command::Webhooks | Command::Run) {
        names.push("webhooks");
    }
    match command {
        Command::Process { processor } => names.push(processor.as_str()),
        Command::Run => names.extend(ProcessorName::ALL.iter().map(|p| p.as_str())),
        _ => {}
    }
    names
}

async fn start(
    command: Command,
    pipeline: &Pipeline,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    // Every component counts toward readiness from the start, not once it got going.
    for component in components_of(&command) {
        orderflow_telemetry::health::register(component);
    }
    match command {
        Command::Gateway => {
            pipeline.start_gateway(tasks, shutdown).await?;
        }
        Command::Process { processor } => pipeline.start_processor(processor, tasks, shutdown)?,
        Command::Webhooks => pipeline.start_webhook_sink(tasks, shutdown).await?,
        Command::Run => {
            for name in ProcessorName::ALL {
                pipeline.start_processor(name, tasks, shutdown)?;
            }
            pipeline.start_webhook_sink(tasks, shutdown).await?;
            pipeline.start_gateway(tasks, shutdown).await?;
        }
        Command::WebhookListen { .. }
        | Command::Tail { .. }
        | Command::Demo { .. }
        | Command::Chaos { .. }
        | Command::Bench { .. }
        | Command::Config { .. } => {}
    }
    Ok(())
}
