//! `orderflow demo`: the whole pipeline in one process, a local webhook receiver, stock, and a
//! mix of orders, narrated as each order makes its way through.

mod follow;
mod mix;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use orderflow_webhooks::listen::{serve, SharedSecret};
use orderflow_webhooks::SigningSecret;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::ProcessorName;
use crate::components::{stop_on_signals, supervise, Pipeline};
use crate::settings::Settings;
use follow::Step;

/// How long the demo waits for every order's outcome and webhook.
const DEMO_DEADLINE: Duration = Duration::from_secs(120);

pub async fn run(settings: Settings, orders: usize) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    stop_on_signals(shutdown.clone());
    let outbox = settings.notifications.outbox_dir.clone();
    let emails_before = count_emails(&outbox);

    println!(
        "== starting the pipeline (gateway, inventory, payments, orders, notifications, webhooks)"
    );
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
    let http = reqwest::Client::new();

    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hooks", receiver.local_addr()?);
    let secret = SharedSecret::default();
    let (verified_tx, mut verified) = mpsc::unbounded_channel();
    tokio::spawn(serve(
        receiver,
        secret.clone(),
        verified_tx,
        shutdown.clone(),
    ));

    let story = async {
        println!("== subscribing {hook_url}, a receiver that verifies signatures, to outcomes");
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

        println!("== seeding stock");
        for (sku, total) in mix::STOCK {
            call(
                &http,
                reqwest::Method::PUT,
                &format!("{base}/v1/inventory/{sku}"),
                json!({ "total": total }),
            )
            .await?;
            println!("   {sku}: {total}");
        }
        await_stock(&http, &base).await?;

        let mut observations =
            follow::watch(&pipeline.settings, &pipeline.topics, pipeline.codec.clone())?;
        println!("== placing {orders} orders");
        let mut labels = HashMap::new();
        for i in 0..orders {
            let (body, story) = mix::order(i);
            let order = call(
                &http,
                reqwest::Method::POST,
                &format!("{base}/v1/orders"),
                body,
            )
            .await?;
            let id = order["id"].as_str().unwrap_or_default().to_owned();
            let label = format!("#{:02} {}", i + 1, &id[id.len().saturating_sub(6)..]);
            println!("   {label}  placed: {story}");
            labels.insert(id, label);
        }

        println!("== following the orders through the pipeline");
        let mut completed = 0usize;
        let mut failed: HashMap<String, usize> = HashMap::new();
        let mut decided = HashSet::new();
        let mut webhooks = HashSet::new();
        let started = Instant::now();
        while decided.len() < orders || webhooks.len() < orders {
            if started.elapsed() > DEMO_DEADLINE {
                bail!(
                    "{} of {orders} orders decided, {} webhooks received in {DEMO_DEADLINE:?}",
                    decided.len(),
                    webhooks.len()
                );
            }
            tokio::select! {
                Some(seen) = observations.recv() => {
                    let Some(label) = labels.get(&seen.order_id) else { continue };
                    match seen.step {
                        Step::Progress(text) => println!("   {label}  {text}"),
                        Step::Completed => {
                            println!("   {label}  COMPLETED");
                            completed += 1;
                            decided.insert(seen.order_id);
                        }
                        Step::Failed { reason, detail } => {
                            println!("   {label}  FAILED: {reason} ({detail})");
                            *failed.entry(reason).or_default() += 1;
                            decided.insert(seen.order_id);
                        }
                    }
                }
                Some(delivery) = verified.recv() => {
                    if let Some(label) = labels.get(&delivery.order_id) {
                        println!(
                            "   {label}  webhook {} received, signature verified ({})",
                            delivery.webhook_id, delivery.event_type
                        );
                        webhooks.insert(delivery.webhook_id);
                    }
                }
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
        // The confirmation email follows the outcome; give notifications a moment.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let reasons: Vec<String> = failed.iter().map(|(r, n)| format!("{n} {r}")).collect();
        println!(
            "== summary: {orders} orders, {completed} completed, {} failed ({}); \
             {} webhooks verified; {} confirmation emails in {}",
            failed.values().sum::<usize>(),
            reasons.join(", "),
            webhooks.len(),
            count_emails(&outbox).saturating_sub(emails_before),
            outbox.display()
        );
        // The receiver goes away with the demo; its subscription must not outlive it.
        http.delete(format!("{base}/v1/webhooks/{subscription}"))
            .send()
            .await?;
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

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Value,
) -> anyhow::Result<Value> {
    let response = http.request(method, url).json(&body).send().await?;
    let status = response.status();
    let json: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url} answered {status}: {json}");
    }
    Ok(json)
}

/// Stock levels appear once the inventory processor applied the seeding; orders placed
/// before that could be refused for lack of stock.
async fn await_stock(http: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    for (sku, total) in mix::STOCK {
        loop {
            let level: Value = http
                .get(format!("{base}/v1/inventory/{sku}"))
                .send()
                .await?
                .json()
                .await
                .unwrap_or(Value::Null);
            if level["total"].as_i64() == Some(total) {
                break;
            }
            if started.elapsed() > DEMO_DEADLINE {
                bail!("the stock of {sku} did not show up within {DEMO_DEADLINE:?}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

fn count_emails(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .count()
        })
        .unwrap_or(0)
}
