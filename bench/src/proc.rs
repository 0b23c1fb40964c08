//! Reading a process's CPU time and memory from /proc.

use serde::Serialize;

/// A process whose CPU and memory a run reports.
#[derive(Debug, Clone)]
pub struct Watched {
    pub name: String,
    pub pid: u32,
}

impl Watched {
    pub fn new(name: &str, pid: u32) -> Self {
        Self {
            name: name.to_owned(),
            pid,
        }
    }
}

/// CPU used over a window and RSS at its end.
#[derive(Debug, Clone, Serialize)]
pub struct ProcUsage {
    pub name: String,
    pub cpu_seconds: f64,
    pub window_seconds: f64,
    pub rss_kib: Option<u64>,
}

impl ProcUsage {
    /// Average cores used over the window.
    pub fn cores(&self) -> f64 {
        self.cpu_seconds / self.window_seconds.max(1e-9)
    }
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// utime + stime of the process (all threads), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces: count fields after it.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the full line are utime and stime; `rest` starts at field 3.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_second())
}

/// VmRSS in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let pid = std::process::id();
        // Burn a little CPU so the counter is not necessarily zero; only check it parses.
        assert!(cpu_seconds(pid).is_some_and(|s| s >= 0.0));
        assert!(rss_kib(pid).is_some_and(|k| k > 0));
    }

    #[test]
    fn missing_process_is_none() {
        assert!(cpu_seconds(u32::MAX).is_none());
        assert!(rss_kib(u32::MAX).is_none());
    }
}
