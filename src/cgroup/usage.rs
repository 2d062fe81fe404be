//! What a container uses, read host-side from its cgroup files (never from inside the
//! guest): CPU time, memory, swap, processes, OOM kills and pressure.

use std::os::fd::AsFd;
use std::path::PathBuf;

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

/// One cgroup directory, opened once; its files are read relative to it.
struct Dir(Option<std::os::fd::OwnedFd>);

impl Dir {
    fn open(path: Option<PathBuf>) -> Dir {
        Dir(path.and_then(|p| crate::sys::open_dir(None, &p).ok()))
    }

    fn text(&self, name: &str) -> Option<String> {
        crate::sys::read_small_at(self.0.as_ref()?.as_fd(), name).ok()
    }

    fn number(&self, name: &str) -> Option<u64> {
        self.text(name)?.trim().parse().ok()
    }

    /// `max` (v2) or a v1 "unlimited" (the page counter's maximum, about 2^63) -> None.
    fn limit(&self, name: &str) -> Option<u64> {
        parse_limit(&self.text(name)?)
    }

    /// The value of `key` in a flat-keyed file (`usage_usec 123`, `oom_kill 2`).
    fn keyed(&self, name: &str, key: &str) -> Option<u64> {
        keyed(&self.text(name)?, key)
    }
}

fn parse_limit(t: &str) -> Option<u64> {
    match t.trim() {
        "max" => None,
        n => n.parse::<u64>().ok().filter(|n| *n < 1 << 62),
    }
}

fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
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
    let unified = Dir::open(h.unified().map(|u| u.mount.join(rel)));
    let mut u = Usage::default();
    // Pressure files live in the cgroup2 tree; on a hybrid host its controller-less
    // `unified` mount has them too (and a `cpu.stat` with the CPU time).
    if let Some(cpu) = unified.text("cpu.pressure") {
        let mem = unified.text("memory.pressure").unwrap_or_default();
        let io = unified.text("io.pressure").unwrap_or_default();
        u.pressure = Some(Pressure {
            cpu_some: psi(&cpu, "some"),
            memory_some: psi(&mem, "some"),
            memory_full: psi(&mem, "full"),
            io_some: psi(&io, "some"),
            io_full: psi(&io, "full"),
        });
    }
    u.cpu_ns = unified.keyed("cpu.stat", "usage_usec").map(|us| us * 1000);
    if h.is_pure_v2() {
        let dir = unified;
        u.memory = dir.number("memory.current");
        u.memory_peak = dir.number("memory.peak");
        u.memory_limit = dir.limit("memory.max");
        u.swap = dir.number("memory.swap.current");
        u.oom_kills = dir.keyed("memory.events", "oom_kill");
        u.pids = dir.number("pids.current");
        u.pids_limit = dir.limit("pids.max");
        return u;
    }
    let v1 = |c: &str| Dir::open(h.controller_mount(c).map(|m| m.join(rel)));
    if u.cpu_ns.is_none() {
        u.cpu_ns = v1("cpuacct").number("cpuacct.usage");
    }
    let mem = v1("memory");
    u.memory = mem.number("memory.usage_in_bytes");
    u.memory_peak = mem.number("memory.max_usage_in_bytes");
    u.memory_limit = mem.limit("memory.limit_in_bytes");
    u.swap = mem.number("memory.memsw.usage_in_bytes").zip(u.memory).map(|(both, m)| both.saturating_sub(m));
    u.oom_kills = mem.keyed("memory.oom_control", "oom_kill");
    let pids = v1("pids");
    u.pids = pids.number("pids.current");
    u.pids_limit = pids.limit("pids.max");
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
        std::fs::write(d.path().join("memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n").unwrap();
        std::fs::write(d.path().join("memory.limit_in_bytes"), "9223372036854771712\n").unwrap();
        std::fs::write(d.path().join("pids.max"), "268435456\n").unwrap();
        let dir = Dir::open(Some(d.path().to_owned()));
        assert_eq!(dir.keyed("memory.events", "oom_kill"), Some(1));
        assert_eq!(dir.keyed("memory.events", "oom"), Some(1));
        assert_eq!(dir.limit("memory.limit_in_bytes"), None);
        assert_eq!(dir.limit("pids.max"), Some(268435456));
        assert_eq!(dir.number("absent"), None);
        assert_eq!(Dir::open(None).text("x"), None);
    }
}
