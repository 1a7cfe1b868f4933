//! The processes of a chaos or benchmark run: one `orderflow` child per component instance,
//! each with its own state folder (its "volume") and log file, started, killed and restarted
//! at will.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

use crate::cli::ProcessorName;

/// How long a member asked to stop may take before it is killed: its shutdown grace (the
/// default `shutdown.grace_ms`, which the members run with) and a margin to see it overrun.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// How a member asked to stop went.
pub struct Stopped {
    pub took: Duration,
    /// `None` when it had to be killed.
    pub status: Option<std::process::ExitStatus>,
}

impl Stopped {
    /// What went wrong, if anything: it overran its grace or did not exit cleanly.
    pub fn problem(&self, member: Member) -> Option<String> {
        match self.status {
            Some(status) if status.success() && self.took <= SHUTDOWN_GRACE => None,
            Some(status) => Some(format!(
                "{} stopped with {status} after {:.1} s (grace {:?})",
                member.name(),
                self.took.as_secs_f64(),
                SHUTDOWN_GRACE
            )),
            None => Some(format!(
                "{} did not stop within {STOP_LIMIT:?} of SIGTERM",
                member.name()
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Gateway,
    Webhooks,
    Processor(ProcessorName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub role: Role,
    pub instance: u32,
}

impl Member {
    pub fn name(&self) -> String {
        let role = match self.role {
            Role::Gateway => "gateway".to_owned(),
            Role::Webhooks => "webhooks".to_owned(),
            Role::Processor(p) => format!("{p:?}").to_lowercase(),
        };
        format!("{role}-{}", self.instance)
    }

    fn args(&self) -> Vec<String> {
        match self.role {
            Role::Gateway => vec!["gateway".into()],
            Role::Webhooks => vec!["webhooks".into()],
            Role::Processor(p) => vec!["process".into(), format!("{p:?}").to_lowercase()],
        }
    }
}

pub struct Fleet {
    exe: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    running: BTreeMap<Member, Child>,
    starts: BTreeMap<Member, u32>,
}

impl Fleet {
    /// `env` configures every member (namespace, ports, ...); each member also gets its own
    /// instance id and state folder below `dir`.
    pub fn new(dir: &Path, env: Vec<(String, String)>) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir.join("logs"))?;
        Ok(Self {
            exe: std::env::current_exe().context("locating the orderflow binary")?,
            dir: dir.to_owned(),
            env,
            running: BTreeMap::new(),
            starts: BTreeMap::new(),
        })
    }

    fn state_dir(&self, member: Member) -> PathBuf {
        self.dir.join("state").join(member.name())
    }

    pub fn start(&mut self, member: Member) -> anyhow::Result<()> {
        self.start_with(member, &[])
    }

    /// Starts a member with settings of its own on top of the fleet's.
    pub fn start_with(&mut self, member: Member, extra: &[(String, String)]) -> anyhow::Result<()> {
        let starts = self.starts.entry(member).or_default();
        *starts += 1;
        let log_path = self
            .dir
            .join("logs")
            .join(format!("{}.{}.log", member.name(), starts));
        let log = std::fs::File::create(&log_path)?;
        let state = self.state_dir(member);
        let child = Command::new(&self.exe)
            .args(member.args())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "ORDERFLOW_PROCESSORS__INSTANCE_ID",
                member.instance.to_string(),
            )
            .env("ORDERFLOW_PROCESSORS__STATE_DIR", &state)
            .env("ORDERFLOW_GATEWAY__STATE_DIR", state.join("gateway"))
            .envs(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", member.name()))?;
        self.running.insert(member, child);
        Ok(())
    }

    /// SIGKILL: the member gets no chance to commit, close or leave its group.
    pub async fn kill(&mut self, member: Member) {
        if let Some(mut child) = self.running.remove(&member) {
            let _ = child.kill().await;
        }
    }

    /// SIGTERM: the member commits or aborts, closes its stores and leaves its group.
    pub async fn stop(&mut self, member: Member) -> Option<Stopped> {
        let mut child = self.running.remove(&member)?;
        let started = std::time::Instant::now();
        if let Some(pid) = child.id() {
            // SAFETY: the signal goes to a child this fleet started and still owns.
            unsafe {
                libc::kill(pid as i32, libc::SIGTERM);
            }
        }
        let status = match tokio::time::timeout(STOP_LIMIT, child.wait()).await {
            Ok(Ok(status)) => Some(status),
            _ => {
                let _ = child.kill().await;
                None
            }
        };
        Some(Stopped {
            took: started.elapsed(),
            status,
        })
    }

    /// Removes a member's state folder, as if its volume were lost.
    pub fn lose_volume(&self, member: Member) {
        let _ = std::fs::remove_dir_all(self.state_dir(member));
    }

    /// The process id of a running member.
    pub fn pid(&self, member: Member) -> Option<u32> {
        self.running.get(&member).and_then(Child::id)
    }

    pub fn log_path(&self, member: Member) -> PathBuf {
        let starts = self.starts.get(&member).copied().unwrap_or(1);
        self.dir
            .join("logs")
            .join(format!("{}.{}.log", member.name(), starts))
    }

    pub fn is_running(&self, member: Member) -> bool {
        self.running.contains_key(&member)
    }

    /// Members that died without being asked to.
    pub fn crashed(&mut self) -> Vec<String> {
        self.running
            .iter_mut()
            .filter_map(|(m, c)| {
                c.try_wait()
                    .ok()
                    .flatten()
                    .map(|s| format!("{} ({s})", m.name()))
            })
            .collect()
    }

    pub async fn stop_all(&mut self) {
        let members: Vec<Member> = self.running.keys().copied().collect();
        for member in members {
            self.stop(member).await;
        }
    }
}
