//! `orderflow demo`: the whole pipeline in one process, two webhook subscribers (one that
//! turns some first attempts away, one that is down until the end), stock, and a mix of
//! orders, narrated as each order makes its way through; then the down subscriber comes back
//! and gets what it missed by a replay.

mod follow;
mod mix;
mod replay;
mod shop;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use orderflow_ingest::ApiKeySetting;
use orderflow_schemas::clock::{now_ms, rfc3339};
use orderflow_webhooks::listen::{serve, Refusals, SharedSecret};
use orderflow_webhooks::SigningSecret;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::ProcessorName;
use crate::components::{stop_on_signals, supervise, Pipeline};
use crate::settings::Settings;
use follow::Step;
use shop::{await_stock, call, count_emails};

/// How long the demo waits for every order's outcome, webhook and dead letter.
const DEMO_DEADLINE: Duration = Duration::from_secs(120);
/// The demo's webhook retry schedule: four attempts within a few seconds, so that retries and
/// dead letters happen while one watches.
const RETRY_SCHEDULE_MS: [u64; 4] = [0, 1_000, 2_000, 3_000];
/// The receiver answers `503` to the first attempt of every this many events.
const REFUSE_FIRST_EVERY: usize = 8;

/// The demo's own settings on top of the configured ones: an API key of its own, webhook
/// targets on loopback allowed, and a short retry schedule.
fn demo_settings(mut settings: Settings, api_key: &str) -> anyhow::Result<Settings> {
    settings.gateway.api_keys.push(ApiKeySetting {
        name: "demo".into(),
        key: Some(api_key.to_owned()),
        key_file: None,
        scopes: Vec::new(),
    });
    settings.webhooks.allowed_networks = vec!["127.0.0.0/8".parse()?];
    settings.webhooks.retry_schedule_ms = RETRY_SCHEDULE_MS.to_vec();
    Ok(settings)
}

#[derive(Default)]
struct Tally {
    completed: usize,
    /// Failed orders by reason; ordered, so that the summary reads the same on every run.
    failed: BTreeMap<String, usize>,
    decided: HashSet<String>,
    webhooks: HashSet<String>,
    retried: HashSet<String>,
    dead_letters: HashSet<String>,
}

pub async fn run(settings: Settings, orders: usize) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    stop_on_signals(shutdown.clone());
    let api_key = format!("demo-{}", uuid::Uuid::new_v4().simple());
    let settings = demo_settings(settings, &api_key)?;
    let outbox = settings.notifications.outbox_dir.clone();
    let emails_before = count_emails(&outbox);
    let since = rfc3339(now_ms());

    println!(
        "== starting the pipeline (gateway, inventory, payments, orders, notifications, webhooks)"
    );
    println!("   webhook retries for the demo after {RETRY_SCHEDULE_MS:?} ms");
    let pipeline = Pipeline::connect(settings).await?;
    let mut tasks = JoinSet::new();
    let started = start(&pipeline, &mut tasks, &shutdown).await;
    let gateway = match started {
        Ok(gateway) => gateway,
        Err(e) => {
            shutdown.cancel();
            let _ = supervise(tasks, shutdown).await;
            return Err(e);
        }
    };
    // A component that fails cancels `shutdown`, which ends the demo at once.
    let components = tokio::spawn(supervise(tasks, shutdown.clone()));
    let base = format!("http://{gateway}");
    let http = shop::client(&api_key)?;

    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hooks", receiver.local_addr()?);
    let secret = SharedSecret::default();
    let (verified_tx, mut verified) = mpsc::unbounded_channel();
    tokio::spawn(serve(
        receiver,
        secret.clone(),
        verified_tx,
        Refusals::every(REFUSE_FIRST_EVERY),
        shutdown.clone(),
    ));

    let story = async {
        println!(
            "== subscribing {hook_url}, a receiver that verifies signatures and turns away the \
             first attempt of every {REFUSE_FIRST_EVERY}th event"
        );
        let created = call(
            &http,
            reqwest::Method::POST,
            &format!("{base}/v1/webhooks"),
            json!({
                "url": hook_url, "event_types": ["order.completed", "order.failed"]
            }),
        )
        .await?;
        let whsec = created["secret"]
            .as_str()
            .context("subscription without secret")?;
        secret.set(SigningSecret::parse(whsec)?);
        let subscription = created["id"].as_str().unwrap_or_default().to_owned();
        let down = replay::subscribe(&http, &base).await?;

        println!("== seeding stock");
        for (sku, total) in mix::STOCK {
            let url = format!("{base}/v1/inventory/{sku}");
            call(&http, reqwest::Method::PUT, &url, json!({ "total": total })).await?;
            println!("   {sku}: {total}");
        }
        await_stock(&http, &base, DEMO_DEADLINE).await?;

        let mut observations =
            follow::watch(&pipeline.settings, &pipeline.topics, pipeline.codec.clone())?;
        println!("== placing {orders} orders");
        let mut labels = HashMap::new();
        for i in 0..orders {
            let (body, story) = mix::order(i);
            let url = format!("{base}/v1/orders");
            let order = call(&http, reqwest::Method::POST, &url, body).await?;
            let id = order["id"].as_str().unwrap_or_default().to_owned();
            let label = format!("#{:02} {}", i + 1, &id[id.len().saturating_sub(6)..]);
            println!("   {label}  placed: {story}");
            labels.insert(id, label);
        }

        println!("== following the orders through the pipeline");
        let mut tally = Tally::default();
        let started = Instant::now();
        let done = |t: &Tally| {
            t.decided.len() >= orders
                && t.webhooks.len() >= orders
                && t.dead_letters.len() >= orders
        };
        while !done(&tally) {
            if started.elapsed() > DEMO_DEADLINE {
                bail!(
                    "{} of {orders} orders decided, {} webhooks received, {} dead letters in {DEMO_DEADLINE:?}",
                    tally.decided.len(),
                    tally.webhooks.len(),
                    tally.dead_letters.len()
                );
            }
            tokio::select! {
                Some(seen) = observations.recv() => {
                    let Some(label) = labels.get(&seen.order_id) else { continue };
                    narrate(label, seen, &subscription, &down.subscription, &mut tally);
                }
                Some(delivery) = verified.recv() => {
                    if let Some(label) = labels.get(&delivery.order_id) {
                        println!(
                            "   {label}  webhook {} received, signature verified ({})",
                            delivery.webhook_id, delivery.event_type
                        );
                        tally.webhooks.insert(delivery.webhook_id);
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        let (requested, replayed) =
            replay::recover(&down, &http, &base, &since, orders, &shutdown).await?;

        // The confirmation email follows the outcome; give notifications a moment.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let reasons: Vec<String> = tally
            .failed
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        println!(
            "== summary: {orders} orders, {} completed, {} failed ({}); {} webhooks verified, \
             {} after a retry; {} dead letters, {replayed} of {requested} replayed; \
             {} confirmation emails in {}",
            tally.completed,
            tally.failed.values().sum::<usize>(),
            reasons.join(", "),
            tally.webhooks.len(),
            tally.retried.len(),
            tally.dead_letters.len(),
            count_emails(&outbox).saturating_sub(emails_before),
            outbox.display()
        );
        // The receivers go away with the demo; their subscriptions must not outlive it.
        for id in [&subscription, &down.subscription] {
            http.delete(format!("{base}/v1/webhooks/{id}"))
                .send()
                .await?;
        }
        if replayed < orders {
            bail!("only {replayed} of {orders} missed webhooks arrived after the replay");
        }
        Ok(())
    };
    let outcome = tokio::select! {
        outcome = story => outcome,
        _ = shutdown.cancelled() => Err(anyhow::anyhow!("the demo was stopped")),
    };

    shutdown.cancel();
    let stopped = components.await?;
    stopped.and(outcome)
}

/// Prints one thing that happened to an order and counts it. Attempts to the down endpoint
/// all fail alike, so only their dead letter is told.
fn narrate(
    label: &str,
    seen: follow::Observation,
    subscription: &str,
    down: &str,
    tally: &mut Tally,
) {
    match seen.step {
        Step::Progress(text) => println!("   {label}  {text}"),
        Step::Completed => {
            println!("   {label}  COMPLETED");
            tally.completed += 1;
            tally.decided.insert(seen.order_id);
        }
        Step::Failed { reason, detail } => {
            println!("   {label}  FAILED: {reason} ({detail})");
            *tally.failed.entry(reason).or_default() += 1;
            tally.decided.insert(seen.order_id);
        }
        Step::Attempt {
            subscription_id,
            text,
        } if subscription_id == subscription => {
            println!("   {label}  {text}");
            tally.retried.insert(seen.order_id);
        }
        Step::DeadLettered {
            subscription_id,
            text,
        } if subscription_id == down => {
            println!("   {label}  down endpoint: {text}");
            tally.dead_letters.insert(seen.order_id);
        }
        Step::Attempt { .. } | Step::DeadLettered { .. } => {}
    }
}

async fn start(
    pipeline: &Pipeline,
    tasks: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<std::net::SocketAddr> {
    for name in ProcessorName::ALL {
        pipeline.start_processor(name, tasks, shutdown)?;
    }
    pipeline.start_webhook_sink(tasks, shutdown).await?;
    pipeline.start_gateway(tasks, shutdown).await
}
