//! Resource limits of one cgroup, in the host layout's own units, and how they become
//! cgroup files (v2, or the v1 controller hierarchies) and OCI `linux.resources`.

use std::collections::BTreeMap;

use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, LinuxResourcesBuilder,
};

/// One knob: back to the kernel's default (no limit), or set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Knob<T> {
    Default,
    Set(T),
}

impl<T> Knob<T> {
    fn set(&self) -> Option<&T> {
        match self {
            Knob::Set(v) => Some(v),
            Knob::Default => None,
        }
    }
}

/// What to change in a cgroup. `None` leaves a knob as it is; `Some(Knob::Default)` resets
/// it. Weights are in the layout's own unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// `cpuset.cpus` in list form (`0-1,3`); default: every CPU of the parent.
    pub cpus: Option<Knob<String>>,
    /// `cpuset.mems`; default: every memory node of the parent.
    pub mems: Option<Knob<String>>,
    /// v2 `cpu.weight` (1..=10000, default 100); v1 `cpu.shares` (2..=262144, default 1024).
    pub cpu_weight: Option<Knob<u64>>,
    /// (quota, period) in microseconds; default: no quota.
    pub cpu_quota: Option<Knob<(u64, u64)>>,
    /// Hard limit, bytes.
    pub memory_max: Option<Knob<u64>>,
    /// Soft limit, bytes: v2 `memory.high`; v1 `memory.soft_limit_in_bytes`.
    pub memory_high: Option<Knob<u64>>,
    /// v2 `memory.low` (protection), bytes.
    pub memory_low: Option<Knob<u64>>,
    /// Swap alone, bytes (v1 writes memory + swap to `memory.memsw.limit_in_bytes`).
    pub swap_max: Option<Knob<u64>>,
    pub pids_max: Option<Knob<u64>>,
    /// v2 `io.weight` (1..=10000, default 100); v1 `blkio.weight` (10..=1000) or, without
    /// CFQ, `blkio.bfq.weight` (1..=1000).
    pub io_weight: Option<Knob<u64>>,
    /// v2 files written as given (OCI `unified`).
    pub unified: BTreeMap<String, String>,
}

/// One file write of a plan: into `controller`'s hierarchy, the first of `files` that
/// exists. `optional`: a reset to the default, which a host without the file already has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub controller: &'static str,
    pub files: Vec<(String, String)>,
    pub optional: bool,
}

/// The value written to v1 `cpuset.cpus`/`cpuset.mems` to mean "what the parent has".
pub const FROM_PARENT: &str = "";

fn w(controller: &'static str, file: &'static str, value: String, optional: bool) -> Write {
    Write { controller, files: vec![(file.to_owned(), value)], optional }
}

fn knob<T>(k: &Option<Knob<T>>, f: impl Fn(&T) -> String, default: &str) -> Option<(String, bool)> {
    k.as_ref().map(|k| match k {
        Knob::Set(v) => (f(v), false),
        Knob::Default => (default.to_owned(), true),
    })
}

/// `n` when set, else the v2 word for no limit.
fn or_max(k: &Knob<u64>) -> String {
    k.set().map(|n| n.to_string()).unwrap_or_else(|| "max".into())
}

impl Resources {
    /// Every knob set to its default: applied live, this clears all limits.
    pub fn all_default() -> Self {
        Resources {
            cpus: Some(Knob::Default),
            mems: None,
            cpu_weight: Some(Knob::Default),
            cpu_quota: Some(Knob::Default),
            memory_max: Some(Knob::Default),
            memory_high: Some(Knob::Default),
            memory_low: None,
            swap_max: Some(Knob::Default),
            pids_max: Some(Knob::Default),
            io_weight: Some(Knob::Default),
            unified: BTreeMap::new(),
        }
    }

    /// The file writes that make these limits, in order, for a v2 host or a v1 one.
    pub fn plan(&self, v2: bool) -> Result<Vec<Write>, String> {
        let mut out = Vec::new();
        if v2 {
            let mut push = |c, file, v: Option<(String, bool)>| {
                if let Some((value, optional)) = v {
                    out.push(w(c, file, value, optional));
                }
            };
            push("cpuset", "cpuset.cpus", knob(&self.cpus, Clone::clone, ""));
            push("cpuset", "cpuset.mems", knob(&self.mems, Clone::clone, ""));
            push("cpu", "cpu.weight", knob(&self.cpu_weight, u64::to_string, "100"));
            push("cpu", "cpu.max", knob(&self.cpu_quota, |(q, p)| format!("{q} {p}"), "max 100000"));
            push("memory", "memory.max", self.memory_max.as_ref().map(|k| (or_max(k), k.set().is_none())));
            push("memory", "memory.high", self.memory_high.as_ref().map(|k| (or_max(k), k.set().is_none())));
            push("memory", "memory.low", knob(&self.memory_low, u64::to_string, "0"));
            push("memory", "memory.swap.max", self.swap_max.as_ref().map(|k| (or_max(k), k.set().is_none())));
            push("pids", "pids.max", self.pids_max.as_ref().map(|k| (or_max(k), k.set().is_none())));
            push("io", "io.weight", knob(&self.io_weight, |n| format!("default {n}"), "default 100"));
            for (file, value) in &self.unified {
                let controller = v2_controller(file).ok_or_else(|| format!("unified key {file:?} is not a cgroup v2 file name"))?;
                out.push(Write { controller, files: vec![(file.clone(), value.clone())], optional: false });
            }
            return Ok(out);
        }
        if !self.unified.is_empty() {
            return Err("unified (cgroup v2) resources cannot apply on this cgroup v1 host".into());
        }
        if matches!(self.memory_low, Some(Knob::Set(_))) {
            return Err("a memory reservation (memory.low) needs cgroup v2".into());
        }
        let v1_max = |k: &Knob<u64>| k.set().map(|n| n.to_string()).unwrap_or_else(|| "-1".into());
        if let Some((v, o)) = knob(&self.cpus, Clone::clone, FROM_PARENT) {
            out.push(w("cpuset", "cpuset.cpus", v, o));
        }
        if let Some((v, o)) = knob(&self.mems, Clone::clone, FROM_PARENT) {
            out.push(w("cpuset", "cpuset.mems", v, o));
        }
        if let Some((v, o)) = knob(&self.cpu_weight, u64::to_string, "1024") {
            out.push(w("cpu", "cpu.shares", v, o));
        }
        if let Some(k) = &self.cpu_quota {
            let (q, p) = k.set().map(|(q, p)| (q.to_string(), *p)).unwrap_or(("-1".into(), 100_000));
            out.push(w("cpu", "cpu.cfs_period_us", p.to_string(), k.set().is_none()));
            out.push(w("cpu", "cpu.cfs_quota_us", q, k.set().is_none()));
        }
        // memsw must stay >= the memory limit: lift it first, set the limit, then memsw.
        if self.memory_max.is_some() || self.swap_max.is_some() {
            out.push(w("memory", "memory.memsw.limit_in_bytes", "-1".into(), true));
        }
        if let Some(k) = &self.memory_max {
            out.push(w("memory", "memory.limit_in_bytes", v1_max(k), k.set().is_none()));
        }
        if let Some(k) = &self.memory_high {
            out.push(w("memory", "memory.soft_limit_in_bytes", v1_max(k), k.set().is_none()));
        }
        if let Some(Knob::Set(swap)) = &self.swap_max {
            let Some(Knob::Set(mem)) = &self.memory_max else {
                return Err("a swap limit needs a memory limit on a cgroup v1 host (memory.memsw counts both)".into());
            };
            out.push(w("memory", "memory.memsw.limit_in_bytes", (mem + swap).to_string(), false));
        }
        if let Some(k) = &self.pids_max {
            out.push(w("pids", "pids.max", or_max(k), k.set().is_none()));
        }
        if let Some(k) = &self.io_weight {
            let (weight, bfq, optional) = match k {
                Knob::Set(n) => ((*n).clamp(10, 1000), (*n).clamp(1, 1000), false),
                Knob::Default => (500, 100, true),
            };
            out.push(Write {
                controller: "blkio",
                files: vec![("blkio.weight".into(), weight.to_string()), ("blkio.bfq.weight".into(), bfq.to_string())],
                optional,
            });
        }
        Ok(out)
    }

    /// The OCI form (for the bundle, so runc and crun apply the same), with only the set
    /// knobs: a new cgroup has the defaults already.
    pub fn to_oci(&self, v2: bool) -> Result<LinuxResources, String> {
        let mut cpu = LinuxCpuBuilder::default();
        let mut mem = LinuxMemoryBuilder::default();
        let mut unified = self.unified.clone();
        let (mut has_cpu, mut has_mem) = (false, false);
        if let Some(Knob::Set(c)) = &self.cpus {
            cpu = cpu.cpus(c.clone());
            has_cpu = true;
        }
        if let Some(Knob::Set(m)) = &self.mems {
            cpu = cpu.mems(m.clone());
            has_cpu = true;
        }
        if let Some(Knob::Set(wt)) = &self.cpu_weight {
            if v2 {
                unified.insert("cpu.weight".into(), wt.to_string());
            } else {
                cpu = cpu.shares(*wt);
                has_cpu = true;
            }
        }
        if let Some(Knob::Set((q, p))) = &self.cpu_quota {
            cpu = cpu.quota(*q as i64).period(*p);
            has_cpu = true;
        }
        let limit = self.memory_max.as_ref().and_then(Knob::set).copied();
        if let Some(l) = limit {
            mem = mem.limit(l as i64);
            has_mem = true;
        }
        if let Some(Knob::Set(h)) = &self.memory_high {
            if v2 {
                unified.insert("memory.high".into(), h.to_string());
            } else {
                mem = mem.reservation(*h as i64);
                has_mem = true;
            }
        }
        if let Some(Knob::Set(l)) = &self.memory_low {
            if !v2 {
                return Err("a memory reservation (memory.low) needs cgroup v2".into());
            }
            mem = mem.reservation(*l as i64);
            has_mem = true;
        }
        if let Some(Knob::Set(s)) = &self.swap_max {
            if v2 {
                unified.insert("memory.swap.max".into(), s.to_string());
            } else {
                let l = limit.ok_or("a swap limit needs a memory limit on a cgroup v1 host (memory.memsw counts both)")?;
                mem = mem.swap((l + s) as i64);
                has_mem = true;
            }
        }
        let mut b = LinuxResourcesBuilder::default();
        if has_cpu {
            b = b.cpu(cpu.build().map_err(|e| e.to_string())?);
        }
        if has_mem {
            b = b.memory(mem.build().map_err(|e| e.to_string())?);
        }
        if let Some(Knob::Set(p)) = &self.pids_max {
            b = b.pids(LinuxPidsBuilder::default().limit(*p as i64).build().map_err(|e| e.to_string())?);
        }
        if let Some(Knob::Set(wt)) = &self.io_weight {
            if v2 {
                unified.insert("io.weight".into(), format!("default {wt}"));
            } else {
                let weight = (*wt).clamp(10, 1000) as u16;
                b = b.block_io(LinuxBlockIoBuilder::default().weight(weight).build().map_err(|e| e.to_string())?);
            }
        }
        if !unified.is_empty() {
            b = b.unified(unified.into_iter().collect::<std::collections::HashMap<_, _>>());
        }
        b.build().map_err(|e| e.to_string())
    }

    /// Read an OCI `linux.resources` (ours, or any bundle's) with runc's meaning of each
    /// field. Fields this runtime cannot apply are refused, never ignored.
    pub fn from_oci(r: &LinuxResources, v2: bool) -> Result<Self, String> {
        let mut out = Resources::default();
        let pos = |v: Option<i64>| v.map(|n| if n > 0 { Knob::Set(n as u64) } else { Knob::Default });
        if let Some(c) = r.cpu() {
            out.cpus = c.cpus().clone().filter(|s| !s.is_empty()).map(Knob::Set);
            out.mems = c.mems().clone().filter(|s| !s.is_empty()).map(Knob::Set);
            out.cpu_weight = c.shares().filter(|s| *s > 0).map(|s| {
                // runc's conversion of shares (2..262144) to a v2 weight (1..10000).
                Knob::Set(if v2 { 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142 } else { s })
            });
            out.cpu_quota = match (c.quota(), c.period()) {
                (Some(q), p) if q > 0 => Some(Knob::Set((q as u64, p.unwrap_or(100_000)))),
                (Some(_), _) => Some(Knob::Default),
                (None, _) => None,
            };
            if c.realtime_runtime().is_some() || c.realtime_period().is_some() || c.idle().is_some() {
                return Err("realtime and idle CPU settings are not supported".into());
            }
        }
        if let Some(m) = r.memory() {
            out.memory_max = pos(m.limit());
            match (pos(m.reservation()), v2) {
                (Some(k), true) => out.memory_low = Some(k),
                (k, false) => out.memory_high = k,
                (None, true) => {}
            }
            out.swap_max = match (m.swap(), m.limit()) {
                (Some(s), Some(l)) if s > 0 && l > 0 => {
                    if s < l {
                        return Err(format!("memory.swap ({s}) is memory plus swap and must not be below memory.limit ({l})"));
                    }
                    Some(Knob::Set((s - l) as u64))
                }
                (Some(s), _) if s > 0 => return Err("memory.swap needs memory.limit".into()),
                (Some(_), _) => Some(Knob::Default),
                (None, _) => None,
            };
            if m.kernel().is_some() || m.kernel_tcp().is_some() || m.swappiness().is_some() || m.disable_oom_killer().is_some() {
                return Err("kernel memory, swappiness and disableOOMKiller are not supported".into());
            }
        }
        if let Some(p) = r.pids() {
            out.pids_max = pos(Some(p.limit()));
        }
        if let Some(b) = r.block_io() {
            out.io_weight = b.weight().map(|wt| Knob::Set(if v2 { 1 + (wt.clamp(10, 1000) as u64 - 10) * 9999 / 990 } else { wt as u64 }));
            let lists = [
                b.weight_device().as_ref().map(Vec::len),
                b.throttle_read_bps_device().as_ref().map(Vec::len),
                b.throttle_write_bps_device().as_ref().map(Vec::len),
                b.throttle_read_iops_device().as_ref().map(Vec::len),
                b.throttle_write_iops_device().as_ref().map(Vec::len),
            ];
            if lists.iter().flatten().any(|n| *n > 0) || b.leaf_weight().is_some() {
                return Err("per-device block I/O weights and throttles are not supported".into());
            }
        }
        if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())
            || r.network().is_some()
            || r.rdma().as_ref().is_some_and(|h| !h.is_empty())
        {
            return Err("hugepage, network and rdma limits are not supported".into());
        }
        if let Some(u) = r.unified() {
            if !v2 && !u.is_empty() {
                return Err("unified (cgroup v2) resources cannot apply on this cgroup v1 host".into());
            }
            out.unified = u.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        }
        Ok(out)
    }
}

/// The controller a v2 file belongs to (`memory.high` -> memory); None for core files and
/// names that are not plain file names.
fn v2_controller(file: &str) -> Option<&'static str> {
    if file.contains('/') || file.starts_with("cgroup.") {
        return None;
    }
    let prefix = file.split('.').next()?;
    ["cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma", "misc"].into_iter().find(|c| *c == prefix)
}

/// What to tell an admin whose host lacks `file`.
pub fn missing_hint(controller: &str, file: &str) -> String {
    if file.starts_with("memory.memsw") || file.starts_with("memory.swap") {
        return "swap accounting is off on this host (boot it with swapaccount=1, or a kernel with CONFIG_MEMCG_SWAP)".into();
    }
    if file.starts_with("blkio.") || file.starts_with("io.weight") {
        return "the host's I/O controller has no weight here (use the BFQ I/O scheduler, or on cgroup v2 enable io.cost)".into();
    }
    format!("the {controller} controller is not available to sysctr's cgroups on this host")
}
