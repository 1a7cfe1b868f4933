//! Bringing a killed [`PrivateBroker`] back: the same node on the same port and data folder,
//! as a crashed broker that is restarted would be, with every record it had acknowledged.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{answers, repo_root, PrivateBroker};

/// How long a restarted broker may take to listen again.
const RESTART_LIMIT: Duration = Duration::from_secs(60);

impl PrivateBroker {
    /// Starts the broker again after [`PrivateBroker::kill`]; returns once it listens.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker still runs");
        let child = Command::new("java")
            .args(["-Xmx512m", "-cp"])
            .arg(repo_root().join(".stack/kafka/libs/*"))
            .arg("kafka.Kafka")
            .arg(self._dir.path().join("server.properties"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the private broker starts again");
        self.child = Some(child);
        let started = Instant::now();
        while !answers(&self.bootstrap) {
            assert!(
                started.elapsed() < RESTART_LIMIT,
                "the private broker did not listen again within {RESTART_LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
