//! `sysctr doctor`: what this host gives containers, each problem with its fix.

use super::Manager;

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
        out.push(match crate::cgroup::Hierarchies::discover(&self.paths.cgroup_root) {
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
