//! What the integration tests share: the local stack (real Kafka, registry, SMTP), an
//! `orderflow run` process per test with its own topic namespace, and readers of its topics.
//! The webhook tests add scripted HTTP endpoints ([`receivers`]) and what they do with
//! subscriptions, outcome events, attempts and dead letters ([`webhooks`]). The gateway tests
//! add gateway processes of their own ([`gateway`]), a way back for a killed private broker
//! ([`broker`]), order bodies and problems ([`orders`]), HTTP written by hand ([`raw_http`])
//! and records with their headers from any broker ([`records`]).

#![allow(dead_code)]

pub mod broker;
pub mod gateway;
pub mod orders;
pub mod raw_http;
pub mod receivers;
pub mod records;
pub mod webhooks;

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orderflow_schemas::events::AnyEvent;
use orderflow_schemas::{Codec, EventType, Topics};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::Value;

pub const KAFKA: &str = "127.0.0.1:9092";
pub const REGISTRY: &str = "http://127.0.0.1:8081";
pub const SMTP: &str = "127.0.0.1:2525";
/// Partitions of the order and SKU topics in tests.
pub const PARTITIONS: i32 = 3;
/// The API key every test pipeline accepts, and [`http`] sends.
pub const API_KEY: &str = "orderflow-test-key-0123456789";
/// The webhook retry schedule of test pipelines: four attempts within about two seconds.
pub const RETRY_SCHEDULE_MS: &str = "[0, 300, 600, 900]";

/// An HTTP client that authenticates with the test pipelines' API key.
pub fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {API_KEY}").parse().expect("a header value");
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

/// The value of header `name` among `headers`, as HTTP messages and Kafka records carry
/// them in these tests: (name, value) pairs, names in lower case.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn answers(address: &str) -> bool {
    address
        .parse::<SocketAddr>()
        .ok()
        .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).ok())
        .is_some()
}

/// True when Kafka, the registry and the SMTP server answer. When one does not, the test
/// fails under CI (`CI` set) and is skipped, loudly, elsewhere.
pub fn stack_is_up(test: &str) -> bool {
    let missing: Vec<&str> = [
        ("Kafka at 127.0.0.1:9092", KAFKA),
        ("schema registry at 127.0.0.1:8081", "127.0.0.1:8081"),
        ("SMTP server at 127.0.0.1:2525", SMTP),
    ]
    .into_iter()
    .filter(|(_, address)| !answers(address))
    .map(|(name, _)| name)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{test}: the local stack is not running ({} missing); start it with `make up`",
        missing.join(", ")
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    eprintln!("\n!!!!!!!! SKIPPED {message} !!!!!!!!\n");
    false
}

pub fn unique_namespace(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    )
}

fn free_port() -> u16 {
    let [port] = free_ports();
    port
}

/// `N` distinct free ports: every listener stays open until all are chosen, so the
/// system cannot hand the same port out twice.
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<std::net::TcpListener> = (0..N)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port on loopback"))
        .collect();
    std::array::from_fn(|i| {
        listeners[i]
            .local_addr()
            .expect("a bound listener has an address")
            .port()
    })
}

/// An `orderflow` process of the test's own, on its own namespace, port and state folders.
pub struct Pipeline {
    child: Child,
    pub namespace: String,
    pub base: String,
    /// Base URL of the ops endpoints: `/metrics`, `/livez`, `/readyz`.
    pub ops: String,
    pub log: PathBuf,
    port: u16,
    settings: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Pipeline {
    pub fn settings_env(namespace: &str, dir: &Path, port: u16) -> Vec<(String, String)> {
        [
            ("ORDERFLOW_NAMESPACE", namespace.to_owned()),
            ("ORDERFLOW_TOPICS__ORDER_PARTITIONS", PARTITIONS.to_string()),
            ("ORDERFLOW_TOPICS__SKU_PARTITIONS", PARTITIONS.to_string()),
            ("ORDERFLOW_GATEWAY__LISTEN", format!("127.0.0.1:{port}")),
            (
                "ORDERFLOW_GATEWAY__STATE_DIR",
                dir.join("gateway").display().to_string(),
            ),
            (
                "ORDERFLOW_PROCESSORS__STATE_DIR",
                dir.join("state").display().to_string(),
            ),
            (
                "ORDERFLOW_NOTIFICATIONS__OUTBOX_DIR",
                dir.join("outbox").display().to_string(),
            ),
            (
                "ORDERFLOW_NOTIFICATIONS__SMTP__HOST",
                "127.0.0.1".to_owned(),
            ),
            ("ORDERFLOW_NOTIFICATIONS__SMTP__PORT", "2525".to_owned()),
            ("ORDERFLOW_NOTIFICATIONS__SMTP__TLS", "none".to_owned()),
            (
                "ORDERFLOW_GATEWAY__API_KEYS",
                format!("[{{name=\"tests\", key=\"{API_KEY}\"}}]"),
            ),
            (
                "ORDERFLOW_WEBHOOKS__RETRY_SCHEDULE_MS",
                RETRY_SCHEDULE_MS.to_owned(),
            ),
            // The receivers of the tests listen on loopback.
            (
                "ORDERFLOW_WEBHOOKS__ALLOWED_NETWORKS",
                "[\"127.0.0.0/8\", \"::1/128\"]".to_owned(),
            ),
            // Many pipelines run at once: each takes a free port for its ops endpoints.
            ("ORDERFLOW_OPS__LISTEN", "127.0.0.1:0".to_owned()),
            ("RUST_LOG", "info,librdkafka=warn".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Starts `orderflow run` and waits until its gateway answers.
    pub async fn start(prefix: &str) -> Pipeline {
        Self::start_with(prefix, &[]).await
    }

    /// Starts `orderflow run` with settings beyond the test defaults.
    pub async fn start_with(prefix: &str, extra: &[(&str, String)]) -> Pipeline {
        let namespace = unique_namespace(prefix);
        let dir = tempfile::tempdir().expect("a temporary folder");
        let [port, ops_port] = free_ports();
        let mut settings = vec![(
            "ORDERFLOW_OPS__LISTEN".to_owned(),
            format!("127.0.0.1:{ops_port}"),
        )];
        settings.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let (child, log) = spawn_pipeline(&namespace, dir.path(), port, &settings);
        let pipeline = Pipeline {
            child,
            namespace,
            base: format!("http://127.0.0.1:{port}"),
            ops: format!("http://127.0.0.1:{ops_port}"),
            log,
            port,
            settings,
            _dir: dir,
        };
        pipeline.await_gateway().await;
        pipeline
    }

    async fn await_gateway(&self) {
        let started = Instant::now();
        let http = http();
        while started.elapsed() < Duration::from_secs(90) {
            if let Ok(r) = http.get(format!("{}/v1/webhooks", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "the gateway did not answer within 90 s; see {}",
            self.log.display()
        );
    }

    pub fn topics(&self) -> Topics {
        Topics::new(&self.namespace, PARTITIONS, PARTITIONS)
    }

    pub fn codec(&self) -> Codec {
        Codec::new(REGISTRY, &self.topics()).expect("codec")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops the process, deletes the processors' stores (as if their volume were lost) and
    /// starts it again on the same namespace and ports; returns at once, without waiting for
    /// the gateway, so that a caller can watch the restore.
    pub fn restart_losing_state(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(self._dir.path().join("state"));
        let (child, log) =
            spawn_pipeline(&self.namespace, self._dir.path(), self.port, &self.settings);
        self.child = child;
        self.log = log;
    }

    /// Asks the process to stop (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        // SAFETY: sends a signal to the child this struct started and still owns.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A consumer of whole topics from their first record, reading only committed records, as a
/// downstream team's consumer would.
pub fn reader(topics: &[&str], partitions: i32) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set(
            "group.id",
            format!("test-reader-{}", uuid::Uuid::now_v7().simple()),
        )
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .create()
        .expect("test consumer");
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        for partition in 0..partitions {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .expect("partition");
        }
    }
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// Every committed record of `event_type` up to the topics' current end, decoded.
pub async fn read_all(pipeline: &Pipeline, event_type: EventType) -> Vec<AnyEvent> {
    let topics = pipeline.topics();
    let codec = pipeline.codec();
    let topic = topics.of(event_type).to_owned();
    let partitions = topics.partitions(event_type.key_kind());
    let consumer = reader(&[&topic], partitions);
    let mut ends = HashMap::new();
    for partition in 0..partitions {
        let (_, end) = consumer
            .fetch_watermarks(&topic, partition, Duration::from_secs(10))
            .expect("watermarks");
        ends.insert(partition, end);
    }
    let mut events = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = consumer
            .position()
            .expect("position")
            .elements()
            .iter()
            .all(|e| {
                let end = ends.get(&e.partition()).copied().unwrap_or(0);
                end == 0 || matches!(e.offset(), Offset::Offset(o) if o >= end)
            });
        if done || Instant::now() > deadline {
            break;
        }
        if let Ok(Ok(message)) =
            tokio::time::timeout(Duration::from_millis(500), consumer.recv()).await
        {
            let payload = message.payload().expect("a value");
            events.push(
                codec
                    .decode_any(event_type, payload)
                    .await
                    .expect("decodes"),
            );
        }
    }
    events
}

/// Status and JSON body of a request; status 0 when the server could not be reached.
pub async fn send_json(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: &Value,
) -> (u16, Value) {
    let Ok(response) = http.request(method, url).json(body).send().await else {
        return (0, Value::Null);
    };
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Polls `check` until it returns `Some`, or panics with `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if started.elapsed() > limit {
            panic!("{what}: not reached within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A Kafka broker of the test's own (same Kafka build as the stack, other ports), for tests
/// that stop the broker under a running component.
pub struct PrivateBroker {
    child: Option<Child>,
    pub bootstrap: String,
    _dir: tempfile::TempDir,
}

impl PrivateBroker {
    pub fn start() -> PrivateBroker {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let [port, controller] = free_ports();
        let libs = repo_root().join(".stack/kafka/libs/*");
        let properties = dir.path().join("server.properties");
        std::fs::write(
            &properties,
            format!(
                "process.roles=broker,controller\nnode.id=1\n\
                 controller.quorum.voters=1@127.0.0.1:{controller}\n\
                 listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
                 advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
                 controller.listener.names=CONTROLLER\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
                 log.dirs={}\noffsets.topic.replication.factor=1\n\
                 transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
                 group.initial.rebalance.delay.ms=0\n",
                dir.path().join("data").display()
            ),
        )
        .expect("broker properties");
        let java = |args: &[&str]| {
            Command::new("java")
                .arg("-cp")
                .arg(&libs)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("java runs")
        };
        let cluster = uuid::Uuid::now_v7();
        let cluster_id = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cluster.as_bytes())
        };
        let formatted = java(&[
            "kafka.tools.StorageTool",
            "format",
            "-t",
            &cluster_id,
            "-c",
            &properties.display().to_string(),
        ]);
        assert!(
            formatted.success(),
            "formatting the private broker's storage"
        );
        let child = Command::new("java")
            .args(["-Xmx512m", "-cp"])
            .arg(&libs)
            .arg("kafka.Kafka")
            .arg(&properties)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the private broker starts");
        let bootstrap = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while !answers(&bootstrap) {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "private broker did not listen"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        PrivateBroker {
            child: Some(child),
            bootstrap,
            _dir: dir,
        }
    }

    /// Kills the broker at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Starts `orderflow <command>` with the test settings plus `extra` environment variables.
pub fn spawn_orderflow(
    command: &str,
    namespace: &str,
    dir: &Path,
    port: u16,
    extra: &[(&str, String)],
) -> (Child, PathBuf) {
    let logs = repo_root().join("target").join("test-logs");
    std::fs::create_dir_all(&logs).expect("the test log folder");
    let log = logs.join(format!("{namespace}-{command}.log"));
    let out = std::fs::File::create(&log).expect("the test log file");
    let child = Command::new(env!("CARGO_BIN_EXE_orderflow"))
        .arg(command)
        .envs(Pipeline::settings_env(namespace, dir, port))
        .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(out)
        .spawn()
        .expect("orderflow starts");
    (child, log)
}

fn spawn_pipeline(
    namespace: &str,
    dir: &Path,
    port: u16,
    settings: &[(String, String)],
) -> (Child, PathBuf) {
    let extra: Vec<(&str, String)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    spawn_orderflow("run", namespace, dir, port, &extra)
}

pub fn pick_port() -> u16 {
    free_port()
}

/// A helper process that is killed when the test ends, however it ends.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
