//! `sysctr doctor`: what this host gives containers, each problem with its fix.

use super::Manager;

/// Kernel calls sysctr relies on, the release that brought each, and what needs it.
const KERNEL_FEATURES: &[(&str, (u32, u32), &str)] = &[
    ("cgroup namespaces", (4, 6), "a container's own view of its cgroup"),
    ("pidfd_send_signal", (5, 1), "signalling a container's init without pid reuse races"),
    ("pidfd_open", (5, 3), "waiting for a container's init to exit"),
    ("openat2", (5, 6), "resolving paths inside a rootfs (RESOLVE_IN_ROOT)"),
    ("clone3 into a cgroup", (5, 7), "starting init inside its cgroup (CLONE_INTO_CGROUP)"),
    ("close_range", (5, 11), "no host descriptor leaking into a container (CLOSE_RANGE_CLOEXEC)"),
    ("mount_setattr", (5, 12), "the idmapped rootfs of unprivileged containers"),
];

/// Free space in the state directory below which launching is likely to fail (an image
/// and one clone of it take about 1 GiB), and below which it soon will.
const DISK_FAIL: u64 = 1 << 30;
const DISK_WARN: u64 = 5 << 30;

/// v1 hierarchy name of each controller of [`crate::cgroup::V2_CONTROLLERS`].
const V1_NAMES: &[(&str, &str)] = &[("cpu", "cpu"), ("cpuset", "cpuset"), ("io", "blkio"), ("memory", "memory"), ("pids", "pids")];

/// `6.1.0-18-amd64` -> (6, 1).
fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut it = release.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

fn kernel_check(release: &str) -> crate::api::Check {
    let Some(v) = kernel_version(release) else {
        return check("kernel", "warn", format!("cannot read the version of kernel {release:?}"), None);
    };
    let missing: Vec<String> = KERNEL_FEATURES
        .iter()
        .filter(|(_, since, _)| v < *since)
        .map(|(name, (a, b), why)| format!("{name} ({a}.{b}: {why})"))
        .collect();
    if missing.is_empty() {
        check("kernel", "ok", format!("{release}: pidfd, clone3, openat2, close_range, mount_setattr"), None)
    } else {
        check("kernel", "fail", format!("{release} lacks {}", missing.join(", ")), Some("boot a kernel of 5.12 or later (6.1 or later recommended)"))
    }
}

/// The controllers containers can get: on v2 those the cgroup root offers (on a host all
/// the kernel has; under a parent such as a container, what it delegated), on v1 the
/// mounted hierarchies.
fn controllers_check(h: &crate::cgroup::Hierarchies) -> crate::api::Check {
    let missing: Vec<&str> = if h.is_pure_v2() {
        let root = &h.all[0].mount;
        let have = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        crate::cgroup::V2_CONTROLLERS.iter().copied().filter(|c| !have.split_whitespace().any(|x| x == *c)).collect()
    } else {
        V1_NAMES.iter().filter(|(_, v1)| !h.all.iter().any(|x| x.controllers.iter().any(|c| c == v1))).map(|(c, _)| *c).collect()
    };
    if missing.is_empty() {
        return check("cgroup controllers", "ok", format!("{} delegated to containers", crate::cgroup::V2_CONTROLLERS.join(", ")), None);
    }
    check(
        "cgroup controllers",
        "warn",
        format!("{} not available: limits.* keys that need {} are refused", missing.join(", "), if missing.len() == 1 { "it" } else { "them" }),
        Some(if h.is_pure_v2() {
            "delegate them from the parent cgroup (systemd: Delegate=yes on the unit that runs sysctr; by hand: echo +memory +pids ... > PARENT/cgroup.subtree_control)"
        } else {
            "mount the missing v1 hierarchies (mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory), or boot with systemd.unified_cgroup_hierarchy=1"
        }),
    )
}

/// Is `bin` an executable file in one of `path`'s directories?
fn on_path(bin: &str, path: &std::ffi::OsStr) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path).any(|d| std::fs::metadata(d.join(bin)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

fn tools_check(path: &std::ffi::OsStr) -> crate::api::Check {
    let missing: Vec<&str> = ["dnsmasq", "nft"].into_iter().filter(|b| !on_path(b, path)).collect();
    if missing.is_empty() {
        return check("network tools", "ok", "dnsmasq and nft found".into(), None);
    }
    check(
        "network tools",
        "fail",
        format!("{} not found: managed networks (the default, sysctrbr0) cannot start; containers with network=none still run", missing.join(" and ")),
        Some("apt-get install dnsmasq-base nftables (Fedora, RHEL: dnf install dnsmasq nftables)"),
    )
}

/// The free space `avail` bytes at `dir`, judged.
fn disk_check(dir: &std::path::Path, avail: u64) -> crate::api::Check {
    let gib = avail as f64 / (1u64 << 30) as f64;
    let detail = format!("{gib:.1} GiB free in {}", dir.display());
    if avail < DISK_FAIL {
        check("free disk", "fail", format!("{detail}: not enough for an image and a container"), Some("free space there, or move the state directory (--state-dir, SYSCTR_STATE_DIR) to a larger filesystem"))
    } else if avail < DISK_WARN {
        check("free disk", "warn", format!("{detail}: a few containers at most"), Some("free space there, or move the state directory (--state-dir, SYSCTR_STATE_DIR) to a larger filesystem"))
    } else {
        check("free disk", "ok", detail, None)
    }
}

/// One check per host firewall problem in the way of `bridge` (each `what: commands`).
fn firewall_checks(bridge: &str, problems: Vec<String>) -> Vec<crate::api::Check> {
    if problems.is_empty() {
        return vec![check("firewall", "ok", format!("nothing in the host's firewall blocks {bridge}"), None)];
    }
    problems
        .into_iter()
        .map(|p| match p.split_once(": ") {
            Some((what, fix)) => check("firewall", "warn", what.trim_end_matches("; allow them").to_owned(), Some(fix)),
            None => check("firewall", "warn", p, None),
        })
        .collect()
}

fn check(name: &str, level: &str, detail: String, fix: Option<&str>) -> crate::api::Check {
    crate::api::Check { name: name.into(), level: level.into(), detail, fix: fix.map(str::to_owned) }
}

impl Manager {
    /// `sysctr doctor`: what unprivileged and privileged containers need of this host.
    pub fn doctor(&self) -> Vec<crate::api::Check> {
        let mut out = Vec::new();
        let userns = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").ok().and_then(|s| s.trim().parse::<u64>().ok());
        out.push(match userns {
            Some(n) if n > 0 => check("user namespaces", "ok", format!("enabled (user.max_user_namespaces = {n})"), None),
            _ => check(
                "user namespaces",
                "fail",
                "disabled: unprivileged containers (the default) cannot start".into(),
                Some("sysctl -w user.max_user_namespaces=15000 (and in /etc/sysctl.d/ to keep it)"),
            ),
        });
        let ((us, uc), (gs, gc)) = super::security::host_ranges();
        let listed = std::fs::read_to_string("/etc/subuid").ok().and_then(|t| super::security::parse_subid(&t)).is_some();
        out.push(check(
            "id range",
            "ok",
            format!(
                "uids {us}-{} and gids {gs}-{} ({}); {} containers fit with security.idmap.isolated",
                us as u64 + uc as u64 - 1,
                gs as u64 + gc as u64 - 1,
                if listed { "root's range in /etc/subuid and /etc/subgid" } else { "no range for root in /etc/subuid: Incus's default" },
                (uc.min(gc) / super::security::IDS_PER_CONTAINER).saturating_sub(1)
            ),
            None,
        ));
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim().to_owned();
        out.push(match super::security::idmappable(&self.paths.state) {
            Ok(n) => check("idmapped mounts", "ok", format!("{} is on {n}, kernel {release}", self.paths.state.display()), None),
            Err(what) => check(
                "idmapped mounts",
                "warn",
                format!(
                    "{} is on a {what} this kernel ({release}) cannot idmap: an unprivileged container's rootfs there has its owners shifted once, file by file, at its first start",
                    self.paths.state.display()
                ),
                Some("keep the state directory on ext4, xfs, btrfs or tmpfs"),
            ),
        });
        out.push(kernel_check(&release));
        let hierarchies = crate::cgroup::Hierarchies::discover(&self.paths.cgroup_root);
        if let Ok(h) = &hierarchies {
            out.push(controllers_check(h));
        }
        out.push(match hierarchies {
            Ok(h) if h.is_pure_v2() => check("cgroups", "ok", "cgroup v2".into(), None),
            Ok(h) if h.unified().is_some() => check("cgroups", "ok", "v1/hybrid, with the cgroup2 hierarchy containers see".into(), None),
            Ok(_) => check("cgroups", "fail", "v1 without a cgroup2 mount: systemd guests cannot get a cgroup2 view".into(), Some("mount cgroup2 at /sys/fs/cgroup/unified, or boot with systemd.unified_cgroup_hierarchy=1")),
            Err(e) => check("cgroups", "fail", e.to_string(), Some("mount cgroup2 at /sys/fs/cgroup")),
        });
        let inotify = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances").ok().and_then(|s| s.trim().parse::<u64>().ok()).unwrap_or(0);
        out.push(if inotify >= 1024 {
            check("inotify", "ok", format!("fs.inotify.max_user_instances = {inotify}"), None)
        } else {
            check(
                "inotify",
                "warn",
                format!("fs.inotify.max_user_instances = {inotify}: about {} systemd guests fit (sysctr raises it at start)", inotify / 7),
                Some("echo fs.inotify.max_user_instances=1024 > /etc/sysctl.d/60-sysctr.conf"),
            )
        });
        out.push(tools_check(&std::env::var_os("PATH").unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into())));
        let bridge = crate::storage::HostConfig::load(&self.paths.config).ok().and_then(|h| h.default_network).unwrap_or_else(|| super::net::DEFAULT_NETWORK.into());
        if bridge != "none" {
            out.extend(firewall_checks(&bridge, crate::network::host_firewall_problems(&bridge)));
        }
        // The state directory may not exist yet: its nearest existing parent holds it then.
        let dir = self.paths.state.ancestors().find(|d| d.exists()).unwrap_or(std::path::Path::new("/"));
        if let Ok(st) = nix::sys::statvfs::statvfs(dir) {
            out.push(disk_check(&self.paths.state, st.blocks_available() * st.fragment_size()));
        }
        let privileged: Vec<String> = self
            .names()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| self.load(n).map(|c| super::security::privileged(&c.config)).unwrap_or(false))
            .collect();
        out.push(if privileged.is_empty() {
            check("privileged containers", "ok", "none: every container's root is an unprivileged host uid".into(), None)
        } else {
            check(
                "privileged containers",
                "warn",
                format!(
                    "{} run without a user namespace: root in them is root on the host, held back only by dropped capabilities, \
                     seccomp, masked paths and the device cgroup; one kernel bug or careless bind mount and it owns the host. \
                     Keep privileged for what needs the host's root (kernel modules, raw devices, some nested runtimes)",
                    privileged.join(", ")
                ),
                Some("sysctr config set NAME security.privileged=false (takes effect at the next start)"),
            )
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_and_the_features_they_lack() {
        assert_eq!(kernel_version("6.1.0-18-amd64"), Some((6, 1)));
        assert_eq!(kernel_version("5.15.0"), Some((5, 15)));
        assert_eq!(kernel_version("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(kernel_version("garbage"), None);
        assert_eq!(kernel_check("6.1.0").level, "ok");
        let old = kernel_check("5.4.0-150-generic");
        assert_eq!(old.level, "fail");
        assert!(old.detail.contains("openat2") && old.detail.contains("mount_setattr") && !old.detail.contains("pidfd_open"), "{}", old.detail);
        assert!(old.fix.is_some());
        // The table is in release order, so the message lists the oldest gap first.
        assert!(KERNEL_FEATURES.windows(2).all(|w| w[0].1 <= w[1].1));
    }

    #[test]
    fn controllers_missing_from_the_cgroup_root_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let info = format!("30 1 0:26 / {} rw - cgroup2 cgroup2 rw\n", dir.path().display());
        let h = crate::cgroup::Hierarchies::from_mountinfo(&info, dir.path()).unwrap();
        std::fs::write(dir.path().join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        assert_eq!(controllers_check(&h).level, "ok");
        std::fs::write(dir.path().join("cgroup.controllers"), "cpu pids\n").unwrap();
        let c = controllers_check(&h);
        assert_eq!(c.level, "warn");
        assert!(c.detail.starts_with("cpuset, io, memory not available"), "{}", c.detail);
        assert!(c.fix.unwrap().contains("Delegate=yes"));
        // v1: by mounted hierarchy (io is blkio there).
        let v1 = "30 1 0:26 / /c/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n31 1 0:27 / /c/memory rw - cgroup cgroup rw,memory\n";
        let h = crate::cgroup::Hierarchies::from_mountinfo(v1, std::path::Path::new("/c")).unwrap();
        assert!(controllers_check(&h).detail.starts_with("cpuset, io, pids not available"));
    }

    #[test]
    fn tools_are_found_on_the_path_only_when_executable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().as_os_str();
        let c = tools_check(path);
        assert_eq!(c.level, "fail");
        assert!(c.detail.starts_with("dnsmasq and nft not found"), "{}", c.detail);
        for b in ["dnsmasq", "nft"] {
            std::fs::write(dir.path().join(b), "#!/bin/sh\n").unwrap();
        }
        assert_eq!(tools_check(path).level, "fail", "not executable");
        for b in ["dnsmasq", "nft"] {
            std::fs::set_permissions(dir.path().join(b), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert_eq!(tools_check(path).level, "ok");
    }

    #[test]
    fn free_disk_levels() {
        let d = std::path::Path::new("/var/lib/sysctr");
        assert_eq!(disk_check(d, 512 << 20).level, "fail");
        assert_eq!(disk_check(d, 2 << 30).level, "warn");
        let ok = disk_check(d, 100 << 30);
        assert_eq!((ok.level.as_str(), ok.detail.as_str()), ("ok", "100.0 GiB free in /var/lib/sysctr"));
    }

    #[test]
    fn firewall_problems_become_checks_with_their_fix() {
        assert_eq!(firewall_checks("br", vec![])[0].level, "ok");
        let c = firewall_checks("br", vec![
            "ufw is active: ufw allow in on br".into(),
            "the host's nftables chain inet filter forward drops forwarded packets by default, so containers on br cannot reach out; allow them: nft insert rule inet filter forward iifname \"br\" accept".into(),
        ]);
        assert_eq!((c[0].detail.as_str(), c[0].fix.as_deref()), ("ufw is active", Some("ufw allow in on br")));
        assert!(c[1].detail.ends_with("cannot reach out"), "{}", c[1].detail);
        assert!(c[1].fix.as_deref().unwrap().starts_with("nft insert rule"));
        assert!(c.iter().all(|c| c.level == "warn"));
    }
}
