//! What an operator relies on: metrics that move while orders flow, health endpoints that
//! tell the truth during a restore, and a configuration check that names the bad setting.

mod support;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use orderflow_schemas::events::StockSet;
use orderflow_schemas::Sku;
use serde_json::json;
use support::receivers::{Answer, Receiver};
use support::webhooks::{subscribe, Writer};
use support::{eventually, send_json, stack_is_up, Pipeline};

/// Orders placed while the metrics are watched.
const ORDERS: usize = 20;
/// SKUs written straight to the stock topic, so that inventory's store has enough changelog
/// behind it for its restore to be seen.
const SKUS_FOR_RESTORE: usize = 60_000;

/// The samples of a Prometheus text page: series (name with labels) to value.
async fn scrape(pipeline: &Pipeline) -> HashMap<String, f64> {
    let page = reqwest::get(format!("{}/metrics", pipeline.ops))
        .await
        .expect("the ops endpoint answers")
        .text()
        .await
        .expect("a metrics page");
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// The sum of every series of `name` whose labels include all of `labels`.
fn total(samples: &HashMap<String, f64>, name: &str, labels: &[&str]) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let base = series.split('{').next().unwrap_or_default();
            base == name && labels.iter().all(|l| series.contains(l))
        })
        .map(|(_, value)| value)
        .sum()
}

async fn status(url: String) -> u16 {
    reqwest::get(url).await.map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_while_orders_flow_and_health_says_ready() {
    if !stack_is_up("operations") {
        return;
    }
    let pipeline = Pipeline::start("ops-metrics").await;
    let http = support::http();
    eventually("ready", Duration::from_secs(60), || async {
        (status(format!("{}/readyz", pipeline.ops)).await == 200).then_some(())
    })
    .await;
    assert_eq!(status(format!("{}/livez", pipeline.ops)).await, 200);
    let receiver = Receiver::answering(Answer::Status(204)).await;
    subscribe(&pipeline, &receiver.url()).await;
    let stock = send_json(
        &http,
        reqwest::Method::PUT,
        &pipeline.url("/v1/inventory/METRIC-SKU"),
        &json!({"total": 1000}),
    )
    .await;
    assert_eq!(stock.0, 202);
    eventually("stock applied", Duration::from_secs(30), || async {
        let (_, level) = send_json(
            &http,
            reqwest::Method::GET,
            &pipeline.url("/v1/inventory/METRIC-SKU"),
            &json!(null),
        )
        .await;
        (level["total"] == 1000).then_some(())
    })
    .await;

    let before = scrape(&pipeline).await;
    for i in 0..ORDERS {
        let (status, body) = send_json(
            &http,
            reqwest::Method::POST,
            &pipeline.url("/v1/orders"),
            &json!({
                "customer_id": format!("ops-{i}"), "email": "ops@example.com",
                "currency": "EUR", "payment_token": "tok_visa",
                "items": [{"sku": "METRIC-SKU", "quantity": 1, "unit_price": 100}]
            }),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    eventually(
        "every webhook delivered",
        Duration::from_secs(60),
        || async { (receiver.received().len() >= ORDERS).then_some(()) },
    )
    .await;
    // The sink records each attempt after the receiver answered it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = scrape(&pipeline).await;

    let grew =
        |name: &str, labels: &[&str]| total(&after, name, labels) - total(&before, name, labels);
    let placed = grew(
        "orderflow_http_requests_total",
        &["route=\"/v1/orders\"", "method=\"POST\"", "status=\"201\""],
    );
    assert_eq!(placed, ORDERS as f64);
    let produced = grew("orderflow_produce_duration_seconds_count", &[]);
    assert!(produced >= ORDERS as f64, "{produced}");
    for processor in ["inventory", "payments", "orders", "webhooks"] {
        let label = format!("processor=\"{processor}\"");
        let processed = grew("orderflow_records_processed_total", &[&label]);
        assert!(
            processed >= ORDERS as f64,
            "{processor} processed {processed}"
        );
        let committed = grew(
            "orderflow_transactions_total",
            &[&label, "result=\"committed\""],
        );
        assert!(committed >= 1.0, "{processor} committed {committed}");
    }
    let delivered = grew(
        "orderflow_webhook_attempts_total",
        &["result=\"delivered\""],
    );
    assert!(delivered >= ORDERS as f64, "{delivered}");
    let latency = grew("orderflow_webhook_delivery_latency_seconds_count", &[]);
    assert!(latency >= ORDERS as f64, "{latency}");
    // Lag comes from librdkafka's statistics, every 5 s.
    let orders_group = format!("group=\"{}-orders\"", pipeline.namespace);
    eventually(
        "consumer lag of the saga's group",
        Duration::from_secs(20),
        || async {
            let samples = scrape(&pipeline).await;
            let lag =
                |s: &String| s.starts_with("orderflow_consumer_lag{") && s.contains(&orders_group);
            samples.keys().any(lag).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_false_while_a_store_restores_and_true_after() {
    if !stack_is_up("operations") {
        return;
    }
    let mut pipeline = Pipeline::start("ops-restore").await;
    let writer = Writer::new(&pipeline);
    futures::stream::iter(0..SKUS_FOR_RESTORE)
        .for_each_concurrent(256, |i| {
            let writer = &writer;
            async move {
                let set = StockSet {
                    sku: Sku::parse(&format!("R-{i:06}")).unwrap(),
                    total: 1,
                    set_at_ms: 0,
                };
                writer.write(&set).await;
            }
        })
        .await;
    // Every SKU is in inventory's store (and so its changelog) once its level is shown.
    let last = pipeline.url(&format!("/v1/inventory/R-{:06}", SKUS_FOR_RESTORE - 1));
    eventually("the stock applied", Duration::from_secs(180), || async {
        let (status, _) =
            send_json(&support::http(), reqwest::Method::GET, &last, &json!(null)).await;
        (status == 200).then_some(())
    })
    .await;

    // The same pipeline again, its processor stores lost: inventory rebuilds from the changelog.
    pipeline.restart_losing_state();
    let restart = &pipeline;
    let started = Instant::now();
    let mut seen_restoring = false;
    let mut ready_after = None;
    while started.elapsed() < Duration::from_secs(120) {
        let answer = reqwest::get(format!("{}/readyz", restart.ops)).await;
        if let Ok(answer) = answer {
            let code = answer.status().as_u16();
            let body = answer.text().await.unwrap_or_default();
            if code == 503 && body.contains("inventory") {
                seen_restoring = true;
            }
            if code == 200 {
                ready_after = Some(started.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        seen_restoring,
        "readiness never named inventory as not ready"
    );
    assert!(ready_after.is_some(), "never ready after the restore");
    let log = std::fs::read_to_string(&restart.log).unwrap_or_default();
    assert!(
        log.contains("store restored") && log.contains("records_per_sec"),
        "the restore was not logged with its rate"
    );
}

#[test]
fn a_bad_configuration_file_is_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let check = |text: &str| {
        let file = dir.path().join("orderflow.toml");
        std::fs::write(&file, text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .args(["config", "check"])
            .arg(&file)
            .env_remove("ORDERFLOW_CONFIG")
            .output()
            .expect("orderflow runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        (output.status.code(), stderr)
    };
    let (code, stderr) = check("[webhooks]\nretry_jitter_percent = 150\n");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("webhooks.retry_jitter_percent"), "{stderr}");
    let (code, stderr) = check("[gateway]\nlisten_addr = \"0.0.0.0:80\"\n");
    assert_eq!(code, Some(2));
    assert!(stderr.contains("listen_addr"), "{stderr}");
    let missing = "[[gateway.api_keys]]\nname = \"shop\"\nkey_file = \"/nonexistent/key\"\n";
    let (code, stderr) = check(missing);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("gateway.api_keys") && stderr.contains("/nonexistent/key"),
        "{stderr}"
    );
    let (code, _) = check("namespace = \"shop-1\"\n");
    assert_eq!(code, Some(0));
}
