//! `orderflow chaos`: places orders over HTTP while processor and webhook sink instances are
//! killed (SIGKILL) and restarted, some with their state volume lost, and while a third of the
//! run has three instances of the order saga joining and leaving its group; then checks, from
//! everything committed to Kafka and every webhook received, that no order was lost or
//! doubled.

mod check;
mod facts;
mod load;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use orderflow_webhooks::listen::{serve, Refusals, SharedSecret};
use orderflow_webhooks::SigningSecret;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::api_client;
use super::fleet::{Fleet, Member, Role};
use super::waiting::{free_port, progress_bar, wait_for};
use crate::cli::ProcessorName;
use crate::components::Pipeline;
use crate::settings::Settings;
use check::{Facts, Outcome};

/// Bound on start-up steps (a process answering, stock applied).
const START_LIMIT: Duration = Duration::from_secs(120);
/// How long after the last order the pipeline may take to decide every order.
const SETTLE_LIMIT: Duration = Duration::from_secs(600);

pub struct ChaosRun {
    pub orders: usize,
    pub kills: usize,
    pub rate: u32,
    pub seed: u64,
}

/// The webhook sink, which runs on the processors' runtime and is killed like them.
const SINK: Member = Member {
    role: Role::Webhooks,
    instance: 0,
};

fn processor(name: ProcessorName, instance: u32) -> Member {
    Member {
        role: Role::Processor(name),
        instance,
    }
}

pub async fn run(mut settings: Settings, run: ChaosRun) -> anyhow::Result<()> {
    let started = Instant::now();
    settings.namespace = format!("chaos-{}", &uuid::Uuid::now_v7().simple().to_string()[20..]);
    let dir = std::env::current_dir()?
        .join(".orderflow/chaos")
        .join(&settings.namespace);
    let port = free_port()?;
    let base = format!("http://127.0.0.1:{port}");
    println!(
        "chaos: {} orders at {}/s, {} kills, seed {}, namespace {}, logs in {}",
        run.orders,
        run.rate,
        run.kills,
        run.seed,
        settings.namespace,
        dir.join("logs").display()
    );

    // Topics first, so that the members do not race to create them.
    let pipeline = Pipeline::connect(settings.clone()).await?;
    let api_key = format!("chaos-{}", uuid::Uuid::new_v4().simple());
    let env = member_env(&settings, port, &dir, &api_key);
    let mut fleet = Fleet::new(&dir, env)?;
    let result = drive(&pipeline, &mut fleet, &base, &api_key, &run).await;
    fleet.stop_all().await;
    let facts = result?;

    let violations = check::violations(&facts);
    summarize(&facts, started.elapsed());
    if violations.is_empty() {
        println!("chaos: PASS");
        Ok(())
    } else {
        for v in violations.iter().take(20) {
            println!("chaos: violation: {v}");
        }
        bail!("{} invariants broken", violations.len())
    }
}

pub(crate) fn member_env(
    settings: &Settings,
    port: u16,
    dir: &std::path::Path,
    api_key: &str,
) -> Vec<(String, String)> {
    let mut env = vec![
        ("ORDERFLOW_NAMESPACE", settings.namespace.clone()),
        (
            "ORDERFLOW_TOPICS__ORDER_PARTITIONS",
            settings.topics.order_partitions.to_string(),
        ),
        (
            "ORDERFLOW_TOPICS__SKU_PARTITIONS",
            settings.topics.sku_partitions.to_string(),
        ),
        ("ORDERFLOW_GATEWAY__LISTEN", format!("127.0.0.1:{port}")),
        // Every member takes a free port for its ops endpoints.
        ("ORDERFLOW_OPS__LISTEN", "127.0.0.1:0".to_owned()),
        (
            "ORDERFLOW_NOTIFICATIONS__OUTBOX_DIR",
            dir.join("outbox").display().to_string(),
        ),
        (
            "ORDERFLOW_WEBHOOKS__RETRY_SCHEDULE_MS",
            "[0, 500, 1000, 2000, 4000, 8000]".to_owned(),
        ),
        // The run's webhook receiver listens on loopback.
        (
            "ORDERFLOW_WEBHOOKS__ALLOWED_NETWORKS",
            "[\"127.0.0.0/8\"]".to_owned(),
        ),
        (
            "ORDERFLOW_GATEWAY__API_KEYS",
            format!("[{{name=\"chaos\", key=\"{api_key}\"}}]"),
        ),
    ];
    if std::env::var_os("RUST_LOG").is_none() {
        env.push(("RUST_LOG", "info,librdkafka=warn".to_owned()));
    }
    env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

async fn drive(
    pipeline: &Pipeline,
    fleet: &mut Fleet,
    base: &str,
    api_key: &str,
    run: &ChaosRun,
) -> anyhow::Result<Facts> {
    fleet.start(Member {
        role: Role::Gateway,
        instance: 0,
    })?;
    fleet.start(SINK)?;
    for name in ProcessorName::ALL {
        fleet.start(processor(name, 0))?;
    }
    let http = api_client::with_api_key(api_key)?.build()?;
    wait_for("the gateway to answer", START_LIMIT, || async {
        http.get(format!("{base}/v1/webhooks"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await?;

    // The subscriber: verifies each delivery and keeps it.
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hooks", receiver.local_addr()?);
    let secret = SharedSecret::default();
    let (verified_tx, mut verified) = mpsc::unbounded_channel();
    let stop_receiver = CancellationToken::new();
    tokio::spawn(serve(
        receiver,
        secret.clone(),
        verified_tx,
        Refusals::default(),
        stop_receiver.clone(),
    ));
    let deliveries = Arc::new(Mutex::new(Vec::new()));
    let kept = deliveries.clone();
    tokio::spawn(async move {
        while let Some(d) = verified.recv().await {
            let body = serde_json::to_vec(&d.body).unwrap_or_default();
            kept.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((d.webhook_id, body));
        }
    });
    let created = post(
        &http,
        &format!("{base}/v1/webhooks"),
        &json!({"url": hook, "event_types": ["order.completed", "order.failed"]}),
    )
    .await?;
    secret.set(SigningSecret::parse(
        created["secret"].as_str().unwrap_or_default(),
    )?);

    let stock = load::stock(run.orders);
    for (sku, total) in &stock {
        let url = format!("{base}/v1/inventory/{sku}");
        let response = http.put(&url).json(&json!({"total": total})).send().await?;
        if response.status().as_u16() != 202 {
            bail!(
                "setting the stock of {sku} was answered {}",
                response.status()
            );
        }
    }
    for (sku, total) in &stock {
        let url = format!("{base}/v1/inventory/{sku}");
        wait_for(
            &format!("the stock of {sku} to be applied"),
            START_LIMIT,
            || async {
                let level: Value = match http.get(&url).send().await {
                    Ok(r) => r.json().await.unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
                level["total"] == *total
            },
        )
        .await?;
    }

    // Orders flow while the chaos runs beside them, driven by how many orders were answered.
    let progress = Arc::new(AtomicUsize::new(0));
    let placing = tokio::spawn(load::place(
        http.clone(),
        base.to_owned(),
        run.orders,
        run.rate,
        run.seed,
        progress.clone(),
    ));
    let (kills, stop_problems) = unleash(fleet, run, &progress, &placing).await?;
    let placement = placing.await?;
    for name in ProcessorName::ALL {
        if !fleet.is_running(processor(name, 0)) {
            fleet.start(processor(name, 0))?;
        }
    }
    if !fleet.is_running(SINK) {
        fleet.start(SINK)?;
    }
    let crashed = fleet.crashed();
    if !crashed.is_empty() {
        bail!("members died on their own: {}", crashed.join(", "));
    }
    println!(
        "chaos: {} orders accepted, refused {:?}; {} kills done; waiting for every outcome",
        placement.accepted.len(),
        placement.refused,
        kills
    );

    let mut facts = Facts {
        placed: placement.accepted.into_iter().collect(),
        totals: stock.into_iter().collect(),
        stop_problems,
        ..Facts::default()
    };
    settle(pipeline, &mut facts, &deliveries).await?;
    stop_receiver.cancel();
    facts.deliveries = deliveries.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok(facts)
}

/// Kills processor instances at random points of the run and restarts them, half of them with
/// SIGKILL and half with SIGTERM (which must end within the shutdown grace), and has two more
/// instances of the order saga join at 30 % and leave at 70 %. Returns the kills done and what
/// went wrong with the stops.
async fn unleash(
    fleet: &mut Fleet,
    run: &ChaosRun,
    progress: &AtomicUsize,
    placing: &tokio::task::JoinHandle<load::Placement>,
) -> anyhow::Result<(usize, Vec<String>)> {
    let mut rng = StdRng::seed_from_u64(run.seed ^ 0x5eed);
    let mut kill_at: Vec<usize> = (0..run.kills)
        .map(|_| rng.random_range(run.orders / 10..=run.orders * 9 / 10))
        .collect();
    kill_at.sort_unstable();
    let (join_at, leave_at) = (run.orders * 3 / 10, run.orders * 7 / 10);
    let helpers = [
        processor(ProcessorName::Orders, 1),
        processor(ProcessorName::Orders, 2),
    ];
    let mut kills = 0;
    let mut stop_problems = Vec::new();
    let (mut joined, mut left) = (false, false);
    let bar = progress_bar("chaos", run.orders as u64, "orders placed");
    while !placing.is_finished() || kills < kill_at.len() || !left {
        let done = if placing.is_finished() {
            run.orders
        } else {
            progress.load(Ordering::Relaxed)
        };
        bar.set_position(done as u64);
        if !joined && done >= join_at {
            joined = true;
            for member in helpers {
                bar.suspend(|| println!("chaos: {} joins its group", member.name()));
                fleet.start(member)?;
            }
        }
        if joined && !left && done >= leave_at {
            left = true;
            for member in helpers {
                bar.suspend(|| println!("chaos: {} leaves its group", member.name()));
                let stopped = fleet.stop(member).await;
                stop_problems.extend(stopped.and_then(|s| s.problem(member)));
            }
        }
        if kills < kill_at.len() && done >= kill_at[kills] {
            kills += 1;
            let candidates: Vec<Member> = ProcessorName::ALL
                .iter()
                .map(|n| processor(*n, 0))
                .chain([SINK])
                .chain(helpers)
                .filter(|m| fleet.is_running(*m))
                .collect();
            let victim = candidates[rng.random_range(0..candidates.len())];
            let lose_volume = rng.random_range(0..3) == 0;
            let graceful = rng.random_range(0..2) == 0;
            let signal = if graceful { "SIGTERM" } else { "SIGKILL" };
            bar.suspend(|| {
                println!(
                    "chaos: kill {kills}/{} after {done} orders: {signal} {}{}",
                    kill_at.len(),
                    victim.name(),
                    if lose_volume { ", volume lost" } else { "" }
                )
            });
            if graceful {
                if let Some(stopped) = fleet.stop(victim).await {
                    let took = stopped.took.as_secs_f64();
                    bar.suspend(|| println!("chaos: {} stopped in {took:.1} s", victim.name()));
                    stop_problems.extend(stopped.problem(victim));
                }
            } else {
                fleet.kill(victim).await;
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(500..3000))).await;
            if lose_volume {
                fleet.lose_volume(victim);
            }
            if !helpers.contains(&victim) || !left {
                fleet.start(victim)?;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bar.finish_and_clear();
    Ok((kills, stop_problems))
}

/// Waits until every accepted order has an outcome and every outcome a webhook, then reads
/// back everything committed.
async fn settle(
    pipeline: &Pipeline,
    facts: &mut Facts,
    deliveries: &Mutex<Vec<(String, Vec<u8>)>>,
) -> anyhow::Result<()> {
    let kafka = &pipeline.settings.kafka;
    let started = Instant::now();
    let bar = progress_bar("chaos", facts.placed.len() as u64, "orders decided");
    loop {
        let mut now = Facts::default();
        facts::collect(kafka, &pipeline.topics, &pipeline.codec, &mut now).await?;
        let decided: std::collections::HashSet<&str> =
            now.outcomes.iter().map(|(o, _, _)| o.as_str()).collect();
        let delivered: std::collections::HashSet<String> = deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, _)| id.clone())
            .collect();
        let missing_outcomes = facts
            .placed
            .keys()
            .filter(|o| !decided.contains(o.as_str()))
            .count();
        let missing_webhooks = now
            .outcomes
            .iter()
            .filter(|(_, _, e)| !delivered.contains(e))
            .count();
        bar.set_position((facts.placed.len() - missing_outcomes) as u64);
        if missing_outcomes == 0 && missing_webhooks == 0 {
            break;
        }
        if started.elapsed() > SETTLE_LIMIT {
            bar.suspend(|| println!("chaos: gave up waiting"));
            break;
        }
        bar.suspend(|| {
            println!(
                "chaos: {missing_outcomes} orders undecided, {missing_webhooks} webhooks missing"
            )
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    bar.finish_and_clear();
    facts::collect(kafka, &pipeline.topics, &pipeline.codec, facts).await
}

fn summarize(facts: &Facts, elapsed: Duration) {
    let completed = facts
        .outcomes
        .iter()
        .filter(|(_, o, _)| *o == Outcome::Completed)
        .count();
    let unique: std::collections::HashSet<&str> =
        facts.deliveries.iter().map(|(id, _)| id.as_str()).collect();
    println!(
        "chaos: {} orders accepted; {} outcomes ({completed} completed, {} failed); \
         {} webhook deliveries for {} events; {} stock levels checked; {} dead letters; {:.0} s",
        facts.placed.len(),
        facts.outcomes.len(),
        facts.outcomes.len() - completed,
        facts.deliveries.len(),
        unique.len(),
        facts.levels.len(),
        facts.dead_letters,
        elapsed.as_secs_f64()
    );
}

async fn post(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<Value> {
    let response = http
        .post(url)
        .json(body)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let json = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("POST {url} answered {status}: {json}");
    }
    Ok(json)
}
