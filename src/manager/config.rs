//! Changing a container's keys (`config set`/`unset`), live where the key allows, and what
//! its limits become on this host: at start, in the bundle, and in its cgroups.

use std::collections::BTreeMap;
use std::time::Duration;

use super::limits::{self, Host};
use super::{Error, Manager, Result};
use crate::api;
use crate::cgroup::{Hierarchies, Resources};
use crate::oci::CGROUP_PARENT;
use crate::storage::{self, find_key, validate_key, validate_name, ContainerConfig, Limits};

/// The file in the run dir recording the keys the running container was given: its
/// start's, plus live changes since. Keys that differ from `config.toml` are pending.
const APPLIED: &str = "applied.json";

/// A container's limits as rendered for this host: cgroup resources, RLIMIT_NOFILE.
pub(super) type Rendered = (Resources, Option<u64>);

pub(super) fn cgroup_rel(name: &str) -> String {
    format!("{CGROUP_PARENT}/{name}")
}

/// `applied` with every live key taken from `new` (set, changed or removed).
fn live_merge(applied: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let live = |k: &String| find_key(k).is_some_and(|key| key.live);
    let mut out: BTreeMap<String, String> = applied.iter().filter(|(k, _)| !live(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    out.extend(new.iter().filter(|(k, _)| live(k)).map(|(k, v)| (k.clone(), v.clone())));
    out
}

/// Keys whose value differs between the two maps.
pub(super) fn differing(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<String> = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).cloned().collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Manager {
    pub(super) fn applied(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let bytes = std::fs::read(self.paths.run_container(name).join(APPLIED)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    pub(super) fn record_applied(&self, name: &str, config: &BTreeMap<String, String>) -> Result<()> {
        let body = serde_json::to_vec(config).expect("a map of strings serialises");
        Ok(storage::write_volatile(&self.paths.run_container(name).join(APPLIED), &body)?)
    }

    /// What the limits are rendered against: the layout, the CPUs and memory containers
    /// may use, and the CPUs other containers are pinned to.
    pub(super) fn limits_host(&self, hier: &Hierarchies, name: &str) -> Result<Host> {
        // Our parent cgroup's CPUs are what containers may have; without a parent (no
        // container runs) the host's online CPUs.
        let cpus = match hier.cpus(CGROUP_PARENT)? {
            Some(list) if !list.is_empty() => list,
            _ => std::fs::read_to_string("/sys/devices/system/cpu/online")
                .map_err(|source| Error::Io { what: "read /sys/devices/system/cpu/online", source })?
                .trim()
                .to_owned(),
        };
        let cpus = storage::limits::cpu_list(&cpus).map_err(|e| Error::Invalid(format!("cannot read the host's CPUs {cpus:?}: {e}")))?;
        let pinned = hier
            .child_cpus(CGROUP_PARENT)?
            .into_iter()
            .filter(|(n, _)| n != name)
            .filter_map(|(_, list)| storage::limits::cpu_list(&list).ok())
            .collect();
        Ok(Host { v2: hier.is_pure_v2(), cpus, memory: mem_total()?, pinned })
    }

    /// The cgroup resources and RLIMIT_NOFILE `config` asks for, checked against `host`.
    pub(super) fn render_limits(&self, config: &BTreeMap<String, String>, host: &Host) -> Result<Rendered> {
        let l = Limits::from_config(config).map_err(Error::Invalid)?;
        let res = limits::render(&l, host).map_err(Error::Invalid)?;
        if let Some(n) = l.kernel_nofile {
            check_nofile(n)?;
        }
        Ok((res, l.kernel_nofile))
    }

    /// Refuse limits this host cannot apply, checked on cgroup `rel` (which exists).
    pub(super) fn check_supported(&self, hier: &Hierarchies, rel: &str, res: &Resources) -> Result<()> {
        let why = hier.unsupported(rel, res)?;
        if why.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(why.join("; ")))
        }
    }

    /// The bundle's `config.json` for `config` with its rendered `limits`; warnings worth
    /// showing.
    pub(super) fn write_bundle(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
        limits: &Rendered,
        v2: bool,
        idmap: Option<super::security::IdMapping>,
    ) -> Result<Vec<String>> {
        let (res, nofile) = limits;
        let nofile = *nofile;
        let resources = res.to_oci(v2).map_err(Error::Invalid)?;
        let host_caps = crate::oci::host_bounding_caps()?;
        let init = vec!["/sbin/init".to_owned()];
        let cfg = ContainerConfig { created: 0, config: config.clone(), image: None };
        let deny = super::security::denied_syscalls(config);
        let (mut spec, warnings) = crate::oci::spec(&crate::oci::Input {
            name,
            rootfs: &self.paths.rootfs(name),
            init: &init,
            environment: cfg.environment().collect(),
            host_caps: &host_caps,
            resources,
            nofile,
            idmap: idmap.map(|m| (m.uid, m.gid, m.size)),
            deny_forced_umount: config.get("security.syscalls.deny_default").map(|v| v == "true").unwrap_or(true),
            deny_syscalls: deny,
        })?;
        // The rootfs keeps its on-disk owners; the built-in runtime idmaps it.
        if idmap.is_some_and(|m| !m.shifted) {
            let mut a = spec.annotations().clone().unwrap_or_default();
            a.insert(crate::runtime::IDMAP_ROOTFS.to_owned(), "true".to_owned());
            spec.set_annotations(Some(a));
        }
        crate::oci::write_bundle(&spec, &self.paths.bundle(name))?;
        Ok(warnings)
    }

    /// Set and unset keys. On a running container live keys apply at once (and stay for
    /// guest reboots); the others are pending until the next start. Nothing changes when
    /// any key is bad or cannot apply.
    pub fn update_config(&self, name: &str, patch: &api::ConfigPatch) -> Result<api::Container> {
        validate_name(name)?;
        for (k, v) in &patch.set {
            validate_key(k, v)?;
        }
        for k in &patch.unset {
            storage::known_key(k)?;
            if patch.set.contains_key(k) {
                return Err(Error::Invalid(format!("{k} is both set and unset; say one")));
            }
        }
        let _lock = self.lock(name)?;
        let old = self.load(name)?;
        let mut new = old.clone();
        for k in &patch.unset {
            if new.config.remove(k).is_none() {
                return Err(Error::NotSet { name: name.into(), key: k.clone() });
            }
        }
        new.config.extend(patch.set.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.check_nics(name, &new.config)?;
        let hier = self.hierarchies()?;
        let host = self.limits_host(hier, name)?;
        let obs = self.observe(name);
        if !obs.init_alive {
            let (res, _) = self.render_limits(&new.config, &host)?;
            self.check_supported(hier, CGROUP_PARENT, &res)?;
            new.save(&self.paths.container_config(name))?;
            return self.info(name);
        }
        let applied = self.applied(name).unwrap_or_else(|| old.config.clone());
        let effective = live_merge(&applied, &new.config);
        let cg = cgroup_rel(name);
        let idmap = self.running_idmap(name);
        if effective != applied {
            let rendered = self.render_limits(&effective, &host)?;
            self.check_supported(hier, &cg, &rendered.0)?;
            let old_rendered = self.render_limits(&applied, &host)?;
            let v2 = hier.is_pure_v2();
            let mut revert = super::Revert::new();
            revert.add(|| {
                let _ = hier.apply(&cg, &old_rendered.0);
            });
            hier.apply(&cg, &rendered.0)?;
            // A guest reboot re-creates the container from the bundle: keep it in step.
            self.write_bundle(name, &effective, &rendered, v2, idmap)?;
            revert.add(|| {
                let _ = self.write_bundle(name, &applied, &old_rendered, v2, idmap);
            });
            self.record_applied(name, &effective)?;
            new.save(&self.paths.container_config(name))?;
            revert.commit();
        } else {
            new.save(&self.paths.container_config(name))?;
        }
        self.info(name)
    }

    /// `info`, with the CPU use measured over `interval`.
    pub fn info_sampled(&self, name: &str, interval: Duration) -> Result<api::Container> {
        let mut c = self.info(name)?;
        if interval.is_zero() || c.pid.is_none() {
            return Ok(c);
        }
        let t0 = std::time::Instant::now();
        let before = c.usage.as_ref().and_then(|u| u.cpu_ns);
        std::thread::sleep(interval);
        let hier = self.hierarchies()?;
        let now = usage(hier, name);
        let elapsed = t0.elapsed().as_nanos() as f64;
        if let (Some(mut u), Some(b)) = (now, before) {
            u.cpu_percent = u.cpu_ns.map(|a| a.saturating_sub(b) as f64 * 100.0 / elapsed);
            c.usage = Some(u);
        }
        Ok(c)
    }
}

/// A running container's use, from its cgroups.
pub(super) fn usage(hier: &Hierarchies, name: &str) -> Option<api::Usage> {
    let u = hier.usage(&cgroup_rel(name)).ok()?;
    Some(api::Usage {
        cpu_ns: u.cpu_ns,
        cpu_percent: None,
        memory: u.memory,
        memory_peak: u.memory_peak,
        memory_limit: u.memory_limit,
        swap: u.swap,
        pids: u.pids,
        pids_limit: u.pids_limit,
        oom_kills: u.oom_kills,
        pressure: u.pressure.map(|p| api::Pressure {
            cpu_some: p.cpu_some,
            memory_some: p.memory_some,
            memory_full: p.memory_full,
            io_some: p.io_some,
            io_full: p.io_full,
        }),
        net_rx: None,
        net_tx: None,
    })
}

/// Bytes received and sent by the NICs of the network namespace `pid` is in (loopback left
/// out), as the host reads them in `/proc/PID/net/dev`.
pub(super) fn net_bytes(pid: i32) -> Option<(u64, u64)> {
    parse_net_dev(&std::fs::read_to_string(format!("/proc/{pid}/net/dev")).ok()?)
}

/// The rx and tx byte totals of a `/proc/net/dev` table, `lo` left out.
fn parse_net_dev(text: &str) -> Option<(u64, u64)> {
    let mut lines = text.lines();
    // Two header lines, then `  eth0: rx_bytes packets errs drop fifo frame compressed multicast tx_bytes ...`.
    lines.next()?.contains("Receive").then_some(())?;
    lines.next()?;
    let (mut rx, mut tx) = (0u64, 0u64);
    for line in lines {
        let Some((nic, counters)) = line.split_once(':') else { continue };
        if nic.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = counters.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        if let (Some(r), Some(t)) = (f.first(), f.get(8)) {
            rx = rx.saturating_add(*r);
            tx = tx.saturating_add(*t);
        }
    }
    Some((rx, tx))
}

fn mem_total() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").map_err(|source| Error::Io { what: "read /proc/meminfo", source })?;
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| Error::Invalid("cannot read MemTotal from /proc/meminfo".into()))
}

/// An RLIMIT_NOFILE above our own hard limit needs CAP_SYS_RESOURCE, and none may pass
/// the kernel's `fs.nr_open`: say so before the start, not as a failed setrlimit.
fn check_nofile(n: u64) -> Result<()> {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse::<u64>().ok());
    if let Some(max) = nr_open.filter(|m| n > *m) {
        return Err(Error::Invalid(format!("limits.kernel.nofile={n} is above the kernel's fs.nr_open ({max}); raise that sysctl or use at most {max}")));
    }
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_err(|e| Error::Io { what: "read RLIMIT_NOFILE", source: e.into() })?;
    let can_raise = caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SYS_RESOURCE).unwrap_or(false);
    if n > hard && !can_raise {
        return Err(Error::Invalid(format!(
            "limits.kernel.nofile={n} is above sysctr's own hard limit ({hard}) and it lacks CAP_SYS_RESOURCE to raise it; use at most {hard}, or raise the service's LimitNOFILE"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_totals_leave_out_loopback() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:    5000      10    0    0    0     0          0         0     5000      10    0    0    0     0       0          0\n  \
eth0:  1200       9    0    0    0     0          0         0      300       4    0    0    0     0       0          0\n  \
eth1:    34       1    0    0    0     0          0         0        6       1    0    0    0     0       0          0\n";
        assert_eq!(super::parse_net_dev(text), Some((1234, 306)));
        assert_eq!(super::parse_net_dev(""), None);
    }

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn live_keys_apply_and_the_rest_wait() {
        let applied = map(&[("limits.memory", "1GiB"), ("limits.kernel.nofile", "1024"), ("environment.A", "1")]);
        let new = map(&[("limits.memory", "128MiB"), ("limits.kernel.nofile", "4096"), ("limits.processes", "10")]);
        let eff = live_merge(&applied, &new);
        assert_eq!(eff, map(&[("limits.memory", "128MiB"), ("limits.kernel.nofile", "1024"), ("environment.A", "1"), ("limits.processes", "10")]));
        assert_eq!(differing(&new, &eff), ["environment.A", "limits.kernel.nofile"]);
    }
}
