//! `orderflow gateway` processes of a test's own: on a namespace of its choosing (so that two
//! instances can share one), restartable on the same state folder and port, with a log each.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orderflow_schemas::{Codec, Topics};

use super::{http, repo_root, Pipeline, PARTITIONS, REGISTRY};

/// How long a gateway may take to answer after it was started.
const START_LIMIT: Duration = Duration::from_secs(90);
/// How long a gateway may take to stop after SIGTERM before it is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// One gateway process; stopped (SIGTERM) when dropped.
pub struct GatewayProcess {
    child: Option<Child>,
    pub namespace: String,
    pub port: u16,
    /// Port of its ops endpoints (metrics, health).
    pub ops_port: u16,
    pub log: PathBuf,
    extra: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl GatewayProcess {
    /// Starts the only gateway of a new namespace named after `prefix`.
    pub async fn alone(prefix: &str, extra: &[(&str, String)]) -> GatewayProcess {
        Self::start(&super::unique_namespace(prefix), "a", extra).await
    }

    /// Starts a gateway on `namespace` with its own state folder, and waits until it answers.
    /// `label` tells the log files of several gateways on one namespace apart.
    pub async fn start(namespace: &str, label: &str, extra: &[(&str, String)]) -> GatewayProcess {
        let logs = repo_root().join("target").join("test-logs");
        std::fs::create_dir_all(&logs).expect("the test log folder");
        // Both ports are named rather than left to the process (`:0`): a port the kernel
        // picks could be the one just chosen for the API and not yet bound.
        let [port, ops_port] = super::free_ports();
        let mut gateway = GatewayProcess {
            child: None,
            namespace: namespace.to_owned(),
            port,
            ops_port,
            log: logs.join(format!("{namespace}-gateway-{label}.log")),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            dir: tempfile::tempdir().expect("a temporary folder"),
        };
        gateway.spawn();
        gateway.await_answer().await;
        gateway
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the test log file");
        let child = Command::new(env!("CARGO_BIN_EXE_orderflow"))
            .arg("gateway")
            .envs(Pipeline::settings_env(
                &self.namespace,
                self.dir.path(),
                self.port,
            ))
            .env(
                "ORDERFLOW_OPS__LISTEN",
                format!("127.0.0.1:{}", self.ops_port),
            )
            .envs(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("orderflow gateway starts");
        self.child = Some(child);
    }

    async fn await_answer(&self) {
        let started = Instant::now();
        let probe = http();
        while started.elapsed() < START_LIMIT {
            if let Ok(r) = probe.get(self.url("/v1/webhooks")).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!(
            "the gateway did not answer within {START_LIMIT:?}; see {}",
            self.log.display()
        );
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn topics(&self) -> Topics {
        Topics::new(&self.namespace, PARTITIONS, PARTITIONS)
    }

    pub fn codec(&self) -> Codec {
        Codec::new(REGISTRY, &self.topics()).expect("codec")
    }

    /// The process id, for reading its memory use.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the gateway runs").id()
    }

    /// Resident memory of the process (`VmRSS` in `/proc/<pid>/status`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("the gateway's /proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a VmRSS line")
    }

    /// Asks the process to stop (SIGTERM) and waits for it; kills it after [`STOP_LIMIT`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: sends a signal to the child this struct started and still owns.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_LIMIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops the gateway and starts it again on the same state folder, port and settings.
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn();
        self.await_answer().await;
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
