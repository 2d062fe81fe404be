//! What a container uses, read host-side from its cgroup files (never from inside the
//! guest): CPU time, memory, swap, processes, OOM kills and pressure.

use std::path::Path;

use super::Hierarchies;

/// Pressure stall information: the share of the last 10 s in which some (or all) of the
/// cgroup's tasks waited for the resource, in percent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pressure {
    pub cpu_some: f64,
    pub memory_some: f64,
    pub memory_full: f64,
    pub io_some: f64,
    pub io_full: f64,
}

/// `None`: the host does not account it (controller absent, swap accounting off).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// CPU time used since the cgroup was made, nanoseconds.
    pub cpu_ns: Option<u64>,
    pub memory: Option<u64>,
    pub memory_peak: Option<u64>,
    /// None: no limit (or not accounted).
    pub memory_limit: Option<u64>,
    pub swap: Option<u64>,
    pub pids: Option<u64>,
    pub pids_limit: Option<u64>,
    pub oom_kills: Option<u64>,
    pub pressure: Option<Pressure>,
}

fn text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn number(path: &Path) -> Option<u64> {
    text(path)?.trim().parse().ok()
}

/// `max` (v2) or a v1 "unlimited" (the page counter's maximum, about 2^63) -> None.
fn limit(path: &Path) -> Option<u64> {
    let t = text(path)?;
    match t.trim() {
        "max" => None,
        n => n.parse::<u64>().ok().filter(|n| *n < 1 << 62),
    }
}

/// The value of `key` in a flat-keyed file (`usage_usec 123`, `oom_kill 2`).
fn keyed(path: &Path, key: &str) -> Option<u64> {
    text(path)?.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `avg10` of the `some` or `full` line of a PSI file.
fn psi(text: &str, kind: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(kind))
        .and_then(|l| l.split_whitespace().find_map(|f| f.strip_prefix("avg10=")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

pub(super) fn read(h: &Hierarchies, rel: &str) -> Usage {
    let unified = h.unified().map(|u| u.mount.join(rel));
    let mut u = Usage::default();
    // Pressure files live in the cgroup2 tree; on a hybrid host its controller-less
    // `unified` mount has them too (and a `cpu.stat` with the CPU time).
    if let Some(dir) = &unified {
        if let Some(cpu) = text(&dir.join("cpu.pressure")) {
            let mem = text(&dir.join("memory.pressure")).unwrap_or_default();
            let io = text(&dir.join("io.pressure")).unwrap_or_default();
            u.pressure = Some(Pressure {
                cpu_some: psi(&cpu, "some"),
                memory_some: psi(&mem, "some"),
                memory_full: psi(&mem, "full"),
                io_some: psi(&io, "some"),
                io_full: psi(&io, "full"),
            });
        }
        u.cpu_ns = keyed(&dir.join("cpu.stat"), "usage_usec").map(|us| us * 1000);
    }
    if h.is_pure_v2() {
        let dir = unified.expect("a pure v2 host has its cgroup2 tree");
        u.memory = number(&dir.join("memory.current"));
        u.memory_peak = number(&dir.join("memory.peak"));
        u.memory_limit = limit(&dir.join("memory.max"));
        u.swap = number(&dir.join("memory.swap.current"));
        u.oom_kills = keyed(&dir.join("memory.events"), "oom_kill");
        u.pids = number(&dir.join("pids.current"));
        u.pids_limit = limit(&dir.join("pids.max"));
        return u;
    }
    if u.cpu_ns.is_none() {
        u.cpu_ns = h.controller_mount("cpuacct").and_then(|m| number(&m.join(rel).join("cpuacct.usage")));
    }
    if let Some(m) = h.controller_mount("memory") {
        let dir = m.join(rel);
        u.memory = number(&dir.join("memory.usage_in_bytes"));
        u.memory_peak = number(&dir.join("memory.max_usage_in_bytes"));
        u.memory_limit = limit(&dir.join("memory.limit_in_bytes"));
        u.swap = number(&dir.join("memory.memsw.usage_in_bytes")).zip(u.memory).map(|(both, mem)| both.saturating_sub(mem));
        u.oom_kills = keyed(&dir.join("memory.oom_control"), "oom_kill");
    }
    if let Some(m) = h.controller_mount("pids") {
        let dir = m.join(rel);
        u.pids = number(&dir.join("pids.current"));
        u.pids_limit = limit(&dir.join("pids.max"));
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_psi_and_keyed_files() {
        let t = "some avg10=1.50 avg60=0.00 avg300=0.00 total=12\nfull avg10=0.25 avg60=0.00 avg300=0.00 total=3\n";
        assert_eq!(psi(t, "some"), 1.5);
        assert_eq!(psi(t, "full"), 0.25);
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("memory.events");
        std::fs::write(&p, "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n").unwrap();
        assert_eq!(keyed(&p, "oom_kill"), Some(1));
        assert_eq!(keyed(&p, "oom"), Some(1));
        let l = d.path().join("memory.limit_in_bytes");
        std::fs::write(&l, "9223372036854771712\n").unwrap();
        assert_eq!(limit(&l), None);
        std::fs::write(&l, "268435456\n").unwrap();
        assert_eq!(limit(&l), Some(268435456));
    }
}
