//! The `limits.*` keys on this host: what each means in cgroup terms (Incus's formulas,
//! `shared/reference/limits.md`), checked against what the host has.

use crate::cgroup::{Knob, Resources};
use crate::storage::limits::{format_cpu_list, Allowance, Cpus, Memory, Swap};
use crate::storage::Limits;

/// What the keys are rendered against.
#[derive(Clone, Debug)]
pub struct Host {
    /// Pure cgroup v2 (weights in v2 units), else v1.
    pub v2: bool,
    /// The CPUs containers may use.
    pub cpus: Vec<u32>,
    /// MemTotal, bytes.
    pub memory: u64,
    /// CPU sets other containers are pinned to (for `limits.cpu=N`).
    pub pinned: Vec<Vec<u32>>,
}

/// Every knob explicit (a key not set resets its knob), so the result applied live to a
/// running container is exactly what a fresh start would give it.
pub fn render(l: &Limits, host: &Host) -> Result<Resources, String> {
    let mut r = Resources::all_default();
    let have = format_cpu_list(&host.cpus);
    r.cpus = Some(match &l.cpu {
        None => Knob::Default,
        Some(Cpus::Set(set)) => {
            let missing: Vec<u32> = set.iter().copied().filter(|c| !host.cpus.contains(c)).collect();
            if !missing.is_empty() {
                return Err(format!(
                    "limits.cpu: CPU {} is not available on this host (it has {have})",
                    format_cpu_list(&missing)
                ));
            }
            Knob::Set(format_cpu_list(set))
        }
        Some(Cpus::Count(n)) => {
            let n = *n as usize;
            if n > host.cpus.len() {
                return Err(format!("limits.cpu={n}: this host has {} CPUs ({have}); use at most {}", host.cpus.len(), host.cpus.len()));
            }
            Knob::Set(format_cpu_list(&balanced(n, host)))
        }
    });
    let pct = match l.cpu_allowance {
        Some(Allowance::Percent(p)) => Some(p),
        _ => None,
    };
    r.cpu_weight = Some(if pct.is_none() && l.cpu_priority.is_none() {
        Knob::Default
    } else {
        // Incus: shares = percent of the full weight, less one per priority step below 10.
        let (pct, prio) = (pct.unwrap_or(100) as i64, l.cpu_priority.unwrap_or(10) as i64);
        Knob::Set(if host.v2 { (pct - (10 - prio)).max(1) } else { (1024 * pct / 100 - (10 - prio)).max(2) } as u64)
    });
    r.cpu_quota = Some(match l.cpu_allowance {
        Some(Allowance::Quota { quota_us, period_us }) => Knob::Set((quota_us, period_us)),
        _ => Knob::Default,
    });
    let bytes = l.memory.map(|m| match m {
        Memory::Bytes(b) => b,
        Memory::Percent(p) => host.memory * p as u64 / 100,
    });
    match bytes {
        Some(b) if l.memory_soft => r.memory_high = Some(Knob::Set(b)),
        Some(b) => r.memory_max = Some(Knob::Set(b)),
        None => {}
    }
    r.swap_max = Some(match l.memory_swap {
        None | Some(Swap::Allowed) => Knob::Default,
        Some(Swap::Denied) => Knob::Set(0),
        Some(Swap::Bytes(b)) => Knob::Set(b),
    });
    if !host.v2 && matches!(r.swap_max, Some(Knob::Set(_))) && !matches!(r.memory_max, Some(Knob::Set(_))) {
        return Err("limits.memory.swap needs limits.memory (enforce=hard) on a cgroup v1 host: memory.memsw counts memory and swap together".into());
    }
    r.pids_max = Some(l.processes.map(Knob::Set).unwrap_or(Knob::Default));
    r.io_weight = Some(match l.disk_priority {
        None => Knob::Default,
        Some(p) => Knob::Set((p as u64 * 100).max(1)),
    });
    Ok(r)
}

/// `n` CPUs that the fewest other containers are pinned to (lowest numbers on a tie), as
/// Incus balances `limits.cpu` counts.
fn balanced(n: usize, host: &Host) -> Vec<u32> {
    let mut load: Vec<(usize, u32)> = host
        .cpus
        .iter()
        .map(|c| (host.pinned.iter().filter(|set| *set != &host.cpus && set.contains(c)).count(), *c))
        .collect();
    load.sort_unstable();
    let mut pick: Vec<u32> = load.into_iter().take(n).map(|(_, c)| c).collect();
    pick.sort_unstable();
    pick
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use super::*;
    use crate::cgroup::Hierarchies;

    fn host(v2: bool) -> Host {
        Host { v2, cpus: vec![0, 1], memory: 8 << 30, pinned: vec![] }
    }

    fn limits(kv: &[(&str, &str)]) -> Limits {
        let m: BTreeMap<String, String> = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        for (k, v) in &m {
            crate::storage::validate_key(k, v).unwrap();
        }
        Limits::from_config(&m).unwrap()
    }

    /// A fake cgroup tree of the layout, holding `sysctr/c1` with the files a kernel
    /// would show (defaults), minus `absent`.
    struct Fake {
        _dir: tempfile::TempDir,
        root: std::path::PathBuf,
        hier: Hierarchies,
    }

    const V1_FILES: &[(&str, &str, &str)] = &[
        ("cpuset", "cpuset.cpus", "0-1"),
        ("cpuset", "cpuset.mems", "0"),
        ("cpu", "cpu.shares", "1024"),
        ("cpu", "cpu.cfs_period_us", "100000"),
        ("cpu", "cpu.cfs_quota_us", "-1"),
        ("cpuacct", "cpuacct.usage", "0"),
        ("memory", "memory.limit_in_bytes", "9223372036854771712"),
        ("memory", "memory.soft_limit_in_bytes", "9223372036854771712"),
        ("memory", "memory.memsw.limit_in_bytes", "9223372036854771712"),
        ("pids", "pids.max", "max"),
        ("blkio", "blkio.bfq.weight", "100"),
    ];
    const V2_FILES: &[&str] = &[
        "cpuset.cpus",
        "cpuset.mems",
        "cpu.weight",
        "cpu.max",
        "memory.max",
        "memory.high",
        "memory.low",
        "memory.swap.max",
        "pids.max",
        "io.weight",
    ];

    impl Fake {
        fn new(v2: bool, absent: &[&str]) -> Fake {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().to_owned();
            let mut info = String::new();
            if v2 {
                let c = root.join("sysctr/c1");
                std::fs::create_dir_all(&c).unwrap();
                for f in V2_FILES.iter().filter(|f| !absent.contains(f)) {
                    std::fs::write(c.join(f), "").unwrap();
                }
                std::fs::write(root.join("sysctr/cpuset.cpus.effective"), "0-1\n").unwrap();
                info += &format!("1 0 0:1 / {} rw - cgroup2 cgroup2 rw\n", root.display());
            } else {
                for (i, ctrl) in ["cpuset", "cpu", "cpuacct", "memory", "pids", "blkio"].iter().enumerate() {
                    let c = root.join(ctrl).join("sysctr/c1");
                    std::fs::create_dir_all(&c).unwrap();
                    for (_, f, v) in V1_FILES.iter().filter(|(c, f, _)| c == ctrl && !absent.contains(f)) {
                        std::fs::write(c.join(f), v).unwrap();
                        std::fs::write(c.parent().unwrap().join(f), v).unwrap();
                    }
                    info += &format!("{} 0 0:{i} / {} rw - cgroup cgroup rw,{ctrl}\n", 10 + i, root.join(ctrl).display());
                }
            }
            let hier = Hierarchies::from_mountinfo(&info, &root).unwrap();
            Fake { _dir: dir, root, hier }
        }

        fn apply(&self, kv: &[(&str, &str)]) -> Result<(), String> {
            let v2 = self.hier.is_pure_v2();
            let r = render(&limits(kv), &host(v2))?;
            self.hier.apply("sysctr/c1", &r).map_err(|e| e.to_string())
        }

        /// v1: `ctrl/sysctr/c1/file`; v2: `sysctr/c1/file`.
        fn get(&self, file: &str) -> String {
            let p = if self.hier.is_pure_v2() {
                self.root.join("sysctr/c1").join(file)
            } else {
                let ctrl = V1_FILES.iter().find(|(_, f, _)| *f == file).unwrap().0;
                self.root.join(ctrl).join("sysctr/c1").join(file)
            };
            std::fs::read_to_string(p).unwrap()
        }
    }

    /// Every key, on both layouts: the exact files and values written.
    #[test]
    fn every_key_on_v2() {
        let f = Fake::new(true, &[]);
        f.apply(&[
            ("limits.cpu", "1"),
            ("limits.cpu.allowance", "25ms/100ms"),
            ("limits.cpu.priority", "5"),
            ("limits.memory", "256MiB"),
            ("limits.memory.swap", "false"),
            ("limits.processes", "256"),
            ("limits.disk.priority", "3"),
        ])
        .unwrap();
        assert_eq!(f.get("cpuset.cpus"), "0");
        assert_eq!(f.get("cpu.max"), "25000 100000");
        assert_eq!(f.get("cpu.weight"), "95");
        assert_eq!(f.get("memory.max"), "268435456");
        assert_eq!(f.get("memory.high"), "max");
        assert_eq!(f.get("memory.swap.max"), "0");
        assert_eq!(f.get("pids.max"), "256");
        assert_eq!(f.get("io.weight"), "default 300");
        assert_eq!(f.get("cpuset.mems"), "", "untouched");

        f.apply(&[("limits.cpu", "0-1"), ("limits.cpu.allowance", "50%"), ("limits.memory", "50%"), ("limits.memory.enforce", "soft"), ("limits.memory.swap", "1GiB")]).unwrap();
        assert_eq!(f.get("cpuset.cpus"), "0-1");
        assert_eq!(f.get("cpu.weight"), "50");
        assert_eq!(f.get("cpu.max"), "max 100000");
        assert_eq!(f.get("memory.max"), "max");
        assert_eq!(f.get("memory.high"), (4u64 << 30).to_string());
        assert_eq!(f.get("memory.swap.max"), (1u64 << 30).to_string());

        // Unset everything: each knob back to the kernel default.
        f.apply(&[]).unwrap();
        assert_eq!(f.get("cpuset.cpus"), "\n");
        assert_eq!(f.get("cpu.weight"), "100");
        assert_eq!(f.get("cpu.max"), "max 100000");
        assert_eq!(f.get("memory.max"), "max");
        assert_eq!(f.get("memory.high"), "max");
        assert_eq!(f.get("memory.swap.max"), "max");
        assert_eq!(f.get("pids.max"), "max");
        assert_eq!(f.get("io.weight"), "default 100");
    }

    #[test]
    fn every_key_on_v1() {
        let f = Fake::new(false, &[]);
        f.apply(&[
            ("limits.cpu", "0-0"),
            ("limits.cpu.allowance", "25ms/100ms"),
            ("limits.cpu.priority", "0"),
            ("limits.memory", "256MiB"),
            ("limits.memory.swap", "false"),
            ("limits.processes", "256"),
            ("limits.disk.priority", "0"),
        ])
        .unwrap();
        assert_eq!(f.get("cpuset.cpus"), "0");
        assert_eq!(f.get("cpu.cfs_quota_us"), "25000");
        assert_eq!(f.get("cpu.cfs_period_us"), "100000");
        assert_eq!(f.get("cpu.shares"), "1014");
        assert_eq!(f.get("memory.limit_in_bytes"), "268435456");
        assert_eq!(f.get("memory.soft_limit_in_bytes"), "-1");
        assert_eq!(f.get("memory.memsw.limit_in_bytes"), "268435456", "memory + no swap");
        assert_eq!(f.get("pids.max"), "256");
        assert_eq!(f.get("blkio.bfq.weight"), "1", "no blkio.weight (no CFQ): the BFQ file, clamped");

        f.apply(&[("limits.cpu.allowance", "50%"), ("limits.memory", "1GiB"), ("limits.memory.swap", "512MiB"), ("limits.disk.priority", "7")]).unwrap();
        assert_eq!(f.get("cpu.shares"), "512");
        assert_eq!(f.get("cpu.cfs_quota_us"), "-1");
        assert_eq!(f.get("memory.limit_in_bytes"), (1u64 << 30).to_string());
        assert_eq!(f.get("memory.memsw.limit_in_bytes"), ((1u64 << 30) + (512 << 20)).to_string());
        assert_eq!(f.get("blkio.bfq.weight"), "700");
        assert_eq!(f.get("cpuset.cpus"), "0-1", "unset: the parent's CPUs");

        f.apply(&[("limits.memory", "1GiB"), ("limits.memory.enforce", "soft")]).unwrap();
        assert_eq!(f.get("memory.limit_in_bytes"), "-1");
        assert_eq!(f.get("memory.soft_limit_in_bytes"), (1u64 << 30).to_string());
        assert_eq!(f.get("memory.memsw.limit_in_bytes"), "-1");

        f.apply(&[]).unwrap();
        assert_eq!(f.get("cpu.shares"), "1024");
        assert_eq!(f.get("pids.max"), "max");
        assert_eq!(f.get("blkio.bfq.weight"), "100");
        assert_eq!(f.get("memory.soft_limit_in_bytes"), "-1");
    }

    #[test]
    fn host_limits_are_reported_not_ignored() {
        // No swap accounting: setting a swap limit is an error naming the cause ...
        let f = Fake::new(false, &["memory.memsw.limit_in_bytes"]);
        let e = f.apply(&[("limits.memory", "256MiB"), ("limits.memory.swap", "false")]).unwrap_err();
        assert!(e.contains("swapaccount=1"), "{e}");
        // ... while a memory limit alone (swap reset to default) works.
        f.apply(&[("limits.memory", "256MiB")]).unwrap();
        let r = render(&limits(&[("limits.memory.swap", "false"), ("limits.memory", "1GiB")]), &host(false)).unwrap();
        let why = f.hier.unsupported("sysctr/c1", &r).unwrap();
        assert_eq!(why.len(), 1, "{why:?}");
        // A v1 swap limit without a memory limit cannot be expressed.
        assert!(render(&limits(&[("limits.memory.swap", "1GiB")]), &host(false)).unwrap_err().contains("limits.memory"));
        assert!(render(&limits(&[("limits.memory.swap", "1GiB")]), &host(true)).is_ok());
        // No pids controller on v2.
        let f = Fake::new(true, &["pids.max"]);
        assert!(f.apply(&[("limits.processes", "10")]).unwrap_err().contains("pids controller"));
        f.apply(&[("limits.memory", "1GiB")]).unwrap();
    }

    #[test]
    fn cpu_counts_and_sets_are_checked_against_the_host() {
        let e = render(&limits(&[("limits.cpu", "99")]), &host(true)).unwrap_err();
        assert!(e.contains("this host has 2 CPUs"), "{e}");
        let e = render(&limits(&[("limits.cpu", "1-3")]), &host(true)).unwrap_err();
        assert!(e.contains("CPU 2-3"), "{e}");
        let mut h = Host { v2: true, cpus: vec![0, 1, 2, 3], memory: 1 << 30, pinned: vec![vec![0], vec![0, 1], vec![0, 1, 2, 3]] };
        let r = render(&limits(&[("limits.cpu", "2")]), &h).unwrap();
        assert_eq!(r.cpus, Some(Knob::Set("2-3".into())), "the least used CPUs");
        h.pinned = vec![vec![2, 3]];
        assert_eq!(render(&limits(&[("limits.cpu", "1")]), &h).unwrap().cpus, Some(Knob::Set("0".into())));
    }

    #[test]
    fn oci_form_round_trips() {
        for v2 in [true, false] {
            let r = render(
                &limits(&[
                    ("limits.cpu", "0-1"),
                    ("limits.cpu.allowance", "25ms/100ms"),
                    ("limits.cpu.priority", "3"),
                    ("limits.memory", "256MiB"),
                    ("limits.memory.swap", "64MiB"),
                    ("limits.processes", "100"),
                    ("limits.disk.priority", "2"),
                ]),
                &host(v2),
            )
            .unwrap();
            let oci = r.to_oci(v2).unwrap();
            let back = Resources::from_oci(&oci, v2).unwrap();
            let set_only = |r: &Resources| {
                let keep = |k: &Option<Knob<u64>>| k.clone().filter(|k| matches!(k, Knob::Set(_)));
                (r.cpus.clone(), keep(&r.memory_max), keep(&r.pids_max), r.cpu_quota.clone().filter(|k| matches!(k, Knob::Set(_))))
            };
            assert_eq!(set_only(&back), set_only(&r), "v2={v2}");
            // The weights and swap: v2 carries them as unified files, v1 in OCI fields.
            let f = Fake::new(v2, &[]);
            f.hier.apply("sysctr/c1", &back).unwrap();
            if v2 {
                assert_eq!(f.get("cpu.weight"), "93");
                assert_eq!(f.get("memory.swap.max"), (64u64 << 20).to_string());
                assert_eq!(f.get("io.weight"), "default 200");
            } else {
                assert_eq!(f.get("cpu.shares"), "1017");
                assert_eq!(f.get("memory.memsw.limit_in_bytes"), (320u64 << 20).to_string());
                assert_eq!(f.get("blkio.bfq.weight"), "200");
            }
        }
    }
}
