//! Waiting for the pipeline, and showing long work as it goes: shared by the chaos and
//! benchmark harnesses.

use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// How often a condition is looked at again.
const RECHECK: Duration = Duration::from_millis(100);
/// How often a count is looked at again; counts move fast and feed a progress bar.
const RECOUNT: Duration = Duration::from_millis(20);

/// Waits until `ready` says so; fails naming `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut ready: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !ready().await {
        if started.elapsed() > limit {
            bail!("{what} did not happen within {limit:?}");
        }
        tokio::time::sleep(RECHECK).await;
    }
    Ok(())
}

/// Waits until `count` reaches `n`, with a progress bar; fails when it stood still for
/// `stall_limit`.
pub async fn wait_for_count(
    command: &str,
    what: &'static str,
    n: u64,
    stall_limit: Duration,
    count: impl Fn() -> u64,
) -> anyhow::Result<()> {
    let bar = progress_bar(command, n, what);
    let (mut last, mut moved) = (0, Instant::now());
    while count() < n {
        let now = count();
        if now != last {
            (last, moved) = (now, Instant::now());
        }
        bar.set_position(now);
        if moved.elapsed() > stall_limit {
            bar.finish_and_clear();
            bail!("{what}: stuck at {now} of {n} for {stall_limit:?}");
        }
        tokio::time::sleep(RECOUNT).await;
    }
    bar.finish_and_clear();
    Ok(())
}

/// A live progress bar on the terminal; on anything else it stays hidden and the command's
/// printed lines tell the story alone.
pub fn progress_bar(command: &str, total: u64, what: &'static str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    let template =
        format!("{command}: {{msg}} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, {{elapsed}})");
    let style = indicatif::ProgressStyle::with_template(&template)
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("=> "));
    bar.set_message(what);
    bar
}

/// A port on loopback that nothing listens on at the moment.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")
        .context("a free port on loopback")?
        .local_addr()?
        .port())
}
