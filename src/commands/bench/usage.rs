//! CPU time and peak memory of a process, read from `/proc`.

/// What a process used so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// User and system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Peak resident set size (`VmHWM`), in MiB.
    pub peak_rss_mib: f64,
}

/// `None` when the process is gone or `/proc` cannot be read (not Linux).
pub fn of(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // SAFETY: sysconf reads a constant of the running system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kib = kib_field(&status, "VmHWM:")?;
    Some(Usage {
        cpu_seconds: ticks / per_second.max(1.0),
        peak_rss_mib: hwm_kib / 1024.0,
    })
}

/// The value of a `Key:   123 kB` line of a `/proc` file, in KiB.
pub fn kib_field(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
