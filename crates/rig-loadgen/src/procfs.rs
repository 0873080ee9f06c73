//! Memory and CPU of the measured server processes (and their children), from /proc.

use std::fs;

/// The pids and all their descendants.
pub fn tree(roots: &[u32]) -> Vec<u32> {
    let mut all: Vec<u32> = roots.to_vec();
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).and_then(|s| s.parse().ok())) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut i = 0;
    while i < all.len() {
        let p = all[i];
        for &(c, pp) in &parents {
            if pp == p && !all.contains(&c) {
                all.push(c);
            }
        }
        i += 1;
    }
    all
}

/// Fields after the `(comm)` of /proc/PID/stat: state, ppid, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(String::from).collect())
}

/// Resident set size in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok())))
        .unwrap_or(0)
}

/// User + system CPU seconds (assumes the usual 100 ticks per second).
pub fn cpu_secs(pid: u32) -> f64 {
    stat_fields(pid)
        .map(|f| {
            let t = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            (t(11) + t(12)) as f64 / 100.0
        })
        .unwrap_or(0.0)
}

pub fn total_rss_kib(roots: &[u32]) -> u64 {
    tree(roots).iter().map(|&p| rss_kib(p)).sum()
}

pub fn total_cpu_secs(roots: &[u32]) -> f64 {
    tree(roots).iter().map(|&p| cpu_secs(p)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_visible() {
        let me = std::process::id();
        assert!(rss_kib(me) > 0);
        assert!(tree(&[me]).contains(&me));
        assert!(cpu_secs(me) >= 0.0);
    }
}
