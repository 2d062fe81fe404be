//! Container configuration -> OCI runtime-spec `config.json`: everything a distribution's
//! init needs to boot (`shared/reference/systemd-in-a-container.md`), as data tables.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Arch, LinuxIdMappingBuilder, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator, LinuxSyscallBuilder,
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxResources, PosixRlimitBuilder, PosixRlimitType,
    LinuxNamespaceBuilder, LinuxNamespaceType, Mount, MountBuilder, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot build the OCI spec")]
    Build(#[source] oci_spec::OciSpecError),
    #[error("cannot write {path}")]
    Write { path: PathBuf, #[source] source: oci_spec::OciSpecError },
    #[error("cannot read the host's capability bounding set from /proc/self/status")]
    HostCaps(#[source] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The `PATH` a freshly booted distribution expects.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The cgroup parent every container lives under, in every hierarchy.
pub const CGROUP_PARENT: &str = "sysctr";

/// Mounts, in order: (destination, type, source, options).
/// `/sys/fs/cgroup` is a cgroup2 view of the container's own subtree on both host layouts
/// (with the cgroup namespace its root is the container's cgroup): guest systemd runs in
/// unified mode and creates its slices only there.
pub const MOUNTS: &[(&str, &str, &str, &[&str])] = &[
    ("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
    ("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
    ("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
    ("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
    ("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
    ("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
    ("/sys/fs/cgroup", "cgroup2", "cgroup2", &["nosuid", "noexec", "nodev", "rw"]),
    // systemd mounts /run itself only with CAP_SYS_ADMIN; pre-mounting it works for any init.
    ("/run", "tmpfs", "tmpfs", &["nosuid", "nodev", "mode=755", "size=20%"]),
    ("/run/lock", "tmpfs", "tmpfs", &["nosuid", "nodev", "noexec", "mode=1777", "size=5m"]),
];

/// Device nodes in the private `/dev`: (path, major, minor, mode). `/dev/console` is the
/// runtime's pty, `/dev/ptmx` a link into the new devpts instance.
pub const DEVICES: &[(&str, i64, i64, u32)] = &[
    ("/dev/null", 1, 3, 0o666),
    ("/dev/zero", 1, 5, 0o666),
    ("/dev/full", 1, 7, 0o666),
    ("/dev/random", 1, 8, 0o666),
    ("/dev/urandom", 1, 9, 0o666),
    ("/dev/tty", 5, 0, 0o666),
];

/// Device cgroup rules (LXC's privileged-container list): deny everything, then allow mknod
/// of any node (systemd's PrivateDevices= needs it) and use of the harmless ones.
/// (allow, type, major, minor, access); -1 = any.
pub const DEVICE_RULES: &[(bool, char, i64, i64, &str)] = &[
    (false, 'a', -1, -1, "rwm"),
    (true, 'c', -1, -1, "m"),
    (true, 'b', -1, -1, "m"),
    (true, 'c', 1, 3, "rwm"),   // null
    (true, 'c', 1, 5, "rwm"),   // zero
    (true, 'c', 1, 7, "rwm"),   // full
    (true, 'c', 1, 8, "rwm"),   // random
    (true, 'c', 1, 9, "rwm"),   // urandom
    (true, 'c', 5, 0, "rwm"),   // tty
    (true, 'c', 5, 1, "rwm"),   // console
    (true, 'c', 5, 2, "rwm"),   // ptmx
    (true, 'c', 136, -1, "rwm"), // pts/*
    (true, 'c', 10, 200, "rwm"), // net/tun
    (true, 'c', 10, 229, "rwm"), // fuse
];

/// Paths hidden from the guest (runc's defaults): host information or kernel knobs.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// Paths the guest may read but not write (runc's defaults; `/proc/sys` read-only is what
/// systemd expects of a container).
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Capabilities LXC drops from privileged containers (`/usr/share/lxc/config/common.conf`).
pub const DROPPED_CAPS: &[&str] =
    &["CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_SYS_TIME", "CAP_SYS_MODULE", "CAP_SYS_RAWIO"];

/// What a bundle is made from.
pub struct Input<'a> {
    pub name: &'a str,
    pub rootfs: &'a Path,
    pub init: &'a [String],
    pub environment: Vec<String>,
    /// The host's capability bounding set (names like `CAP_SYS_ADMIN`).
    pub host_caps: &'a HashSet<String>,
    /// cgroup limits (`linux.resources`; the device rules are added here).
    pub resources: LinuxResources,
    /// RLIMIT_NOFILE of init, soft and hard.
    pub nofile: Option<u64>,
    /// A user namespace mapping container ids 0..size to host (uid, gid, size) on; None:
    /// privileged, the host's own ids.
    pub idmap: Option<(u32, u32, u32)>,
    /// Syscalls the seccomp filter denies with EPERM.
    pub deny_syscalls: Vec<String>,
    /// Refuse umount2 with MNT_FORCE too.
    pub deny_forced_umount: bool,
}

/// The spec, and the warnings worth telling the admin (capabilities the host lacks).
pub fn spec(input: &Input<'_>) -> Result<(Spec, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut caps: HashSet<Capability> = HashSet::new();
    for cap in caps::all() {
        let name = cap.to_string();
        if DROPPED_CAPS.contains(&name.as_str()) {
            continue;
        }
        if !input.host_caps.contains(&name) {
            warnings.push(format!("the host's bounding set lacks {name}; the container will not have it"));
            continue;
        }
        if let Ok(c) = serde_json::from_value::<Capability>(serde_json::Value::String(name)) {
            caps.insert(c);
        }
    }
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(Error::Build)?;
    let mut env = vec!["container=sysctr".to_owned(), format!("PATH={PATH}")];
    env.extend(input.environment.iter().cloned());
    let process = ProcessBuilder::default()
        .terminal(true)
        .user(UserBuilder::default().uid(0u32).gid(0u32).build().map_err(Error::Build)?)
        .args(input.init.to_vec())
        .env(env)
        .cwd("/")
        .capabilities(capabilities)
        .no_new_privileges(false)
        .rlimits(
            input
                .nofile
                .map(|n| PosixRlimitBuilder::default().typ(PosixRlimitType::RlimitNofile).soft(n).hard(n).build())
                .transpose()
                .map_err(Error::Build)?
                .into_iter()
                .collect::<Vec<_>>(),
        )
        .build()
        .map_err(Error::Build)?;
    let mut namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ];
    if input.idmap.is_some() {
        namespaces.push(LinuxNamespaceType::User);
    }
    let namespaces = namespaces
    .into_iter()
    .map(|t| LinuxNamespaceBuilder::default().typ(t).build())
    .collect::<Result<Vec<_>, _>>()
    .map_err(Error::Build)?;
    let mut resources = input.resources.clone();
    resources.set_devices(Some(device_rules()?));
    let mut linux = LinuxBuilder::default();
    if let Some((uid, gid, size)) = input.idmap {
        let map = |host: u32| LinuxIdMappingBuilder::default().container_id(0u32).host_id(host).size(size).build();
        linux = linux.uid_mappings(vec![map(uid).map_err(Error::Build)?]).gid_mappings(vec![map(gid).map_err(Error::Build)?]);
    }
    if let Some(sc) = seccomp(&input.deny_syscalls, input.deny_forced_umount)? {
        linux = linux.seccomp(sc);
    }
    let linux = linux
        .namespaces(namespaces)
        .resources(resources)
        .devices(devices()?)
        .cgroups_path(PathBuf::from(format!("/{CGROUP_PARENT}/{}", input.name)))
        .masked_paths(MASKED_PATHS.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .readonly_paths(READONLY_PATHS.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(Error::Build)?;
    let spec = SpecBuilder::default()
        .version("1.0.2")
        .root(RootBuilder::default().path(input.rootfs).readonly(false).build().map_err(Error::Build)?)
        .mounts(mounts()?)
        .process(process)
        .hostname(input.name)
        .linux(linux)
        .annotations(HashMap::from([("org.sysctr.name".to_owned(), input.name.to_owned())]))
        .build()
        .map_err(Error::Build)?;
    Ok((spec, warnings))
}

/// A denylist profile: everything allowed but `deny` (and forced unmounts), EPERM.
fn seccomp(deny: &[String], forced_umount: bool) -> Result<Option<LinuxSeccomp>> {
    let mut rules = Vec::new();
    if !deny.is_empty() {
        rules.push(
            LinuxSyscallBuilder::default()
                .names(deny.to_vec())
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(libc::EPERM as u32)
                .build()
                .map_err(Error::Build)?,
        );
    }
    if forced_umount {
        let force = libc::MNT_FORCE as u64;
        rules.push(
            LinuxSyscallBuilder::default()
                .names(vec!["umount2".to_owned()])
                .action(LinuxSeccompAction::ScmpActErrno)
                .errno_ret(libc::EPERM as u32)
                .args(vec![LinuxSeccompArgBuilder::default()
                    .index(1usize)
                    .value(force)
                    .value_two(force)
                    .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                    .build()
                    .map_err(Error::Build)?])
                .build()
                .map_err(Error::Build)?,
        );
    }
    if rules.is_empty() {
        return Ok(None);
    }
    let sc = LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32, Arch::ScmpArchAarch64])
        .syscalls(rules)
        .build()
        .map_err(Error::Build)?;
    Ok(Some(sc))
}

fn mounts() -> Result<Vec<Mount>> {
    MOUNTS
        .iter()
        .map(|(dst, typ, src, opts)| {
            MountBuilder::default()
                .destination(dst)
                .typ(*typ)
                .source(src)
                .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .build()
                .map_err(Error::Build)
        })
        .collect()
}

fn device_rules() -> Result<Vec<LinuxDeviceCgroup>> {
    DEVICE_RULES
        .iter()
        .map(|(allow, typ, major, minor, access)| {
            let mut b = LinuxDeviceCgroupBuilder::default().allow(*allow).access(*access).typ(match typ {
                'b' => LinuxDeviceType::B,
                'c' => LinuxDeviceType::C,
                _ => LinuxDeviceType::A,
            });
            if *major >= 0 {
                b = b.major(*major);
            }
            if *minor >= 0 {
                b = b.minor(*minor);
            }
            b.build().map_err(Error::Build)
        })
        .collect()
}

fn devices() -> Result<Vec<LinuxDevice>> {
    DEVICES
        .iter()
        .map(|(path, major, minor, mode)| {
            LinuxDeviceBuilder::default()
                .path(path)
                .typ(LinuxDeviceType::C)
                .major(*major)
                .minor(*minor)
                .file_mode(*mode)
                .uid(0u32)
                .gid(0u32)
                .build()
                .map_err(Error::Build)
        })
        .collect()
}

/// Write `spec` as `dir/config.json`, atomically: a monitor rebooting the guest reads
/// the old spec or the new, never a torn one.
pub fn write_bundle(spec: &Spec, dir: &Path) -> Result<()> {
    let (tmp, path) = (dir.join(".config.json.tmp"), dir.join("config.json"));
    spec.save(&tmp).map_err(|source| Error::Write { path: tmp.clone(), source })?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::Write { path, source: oci_spec::OciSpecError::Io(e) })
}

/// Names of the capabilities in this process's bounding set (`CapBnd` in /proc/self/status).
pub fn host_bounding_caps() -> Result<HashSet<String>> {
    Ok(crate::sys::bounding_set("self").map_err(Error::HostCaps)?.into_iter().map(|c| c.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_caps() -> HashSet<String> {
        caps::all().into_iter().map(|c| c.to_string()).collect()
    }

    /// A privileged container `name` with no limits, on `host` capabilities.
    fn input<'a>(name: &'a str, host: &'a HashSet<String>, init: &'a [String]) -> Input<'a> {
        Input {
            name,
            rootfs: Path::new("/r"),
            init,
            environment: vec![],
            host_caps: host,
            resources: Default::default(),
            nofile: None,
            idmap: None,
            deny_syscalls: vec![],
            deny_forced_umount: false,
        }
    }

    #[test]
    fn spec_has_what_systemd_needs() {
        let host = all_caps();
        let init = vec!["/sbin/init".to_owned()];
        let (spec, warnings) = spec(&Input {
            name: "web1",
            rootfs: Path::new("/var/lib/sysctr/containers/web1/rootfs"),
            init: &init,
            environment: vec!["TZ=UTC".into()],
            host_caps: &host,
            resources: Default::default(),
            nofile: Some(4096),
            idmap: None,
            deny_syscalls: vec![],
            deny_forced_umount: false,
        })
        .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(spec.hostname().as_deref(), Some("web1"));
        let p = spec.process().as_ref().unwrap();
        assert_eq!(p.env().as_ref().unwrap(), &["container=sysctr", &format!("PATH={PATH}"), "TZ=UTC"]);
        assert!(p.terminal().unwrap());
        let rl = &p.rlimits().as_ref().unwrap()[0];
        assert_eq!((rl.typ(), rl.soft(), rl.hard()), (PosixRlimitType::RlimitNofile, 4096, 4096));
        let bnd = p.capabilities().as_ref().unwrap().bounding().as_ref().unwrap();
        assert!(bnd.contains(&Capability::SysAdmin) && bnd.contains(&Capability::Mknod));
        assert!(!bnd.contains(&Capability::SysModule) && !bnd.contains(&Capability::SysTime));
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(linux.namespaces().as_ref().unwrap().len(), 6);
        assert_eq!(linux.cgroups_path().as_deref(), Some(Path::new("/sysctr/web1")));
        let dests: Vec<_> = spec.mounts().as_ref().unwrap().iter().map(|m| m.destination().clone()).collect();
        assert_eq!(dests.first().unwrap(), Path::new("/proc"));
        assert!(dests.contains(&PathBuf::from("/sys/fs/cgroup")));
    }

    #[test]
    fn caps_missing_on_host_are_dropped_with_a_warning() {
        let mut host = all_caps();
        host.remove("CAP_SYS_RESOURCE");
        let init = vec!["/sbin/init".to_owned()];
        let (spec, warnings) = spec(&input("c", &host, &init)).unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("CAP_SYS_RESOURCE"));
        let bnd = spec.process().as_ref().unwrap().capabilities().as_ref().unwrap().bounding().clone().unwrap();
        assert!(!bnd.contains(&Capability::SysResource));
    }

    #[test]
    fn unprivileged_spec_has_a_user_namespace_and_a_denylist() {
        let host = all_caps();
        let init = vec!["/sbin/init".to_owned()];
        let (spec, _) = spec(&Input {
            idmap: Some((1_000_000, 1_000_000, 65536)),
            deny_syscalls: vec!["kexec_load".into(), "init_module".into()],
            deny_forced_umount: true,
            ..input("u", &host, &init)
        })
        .unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.namespaces().as_ref().unwrap().iter().any(|n| n.typ() == LinuxNamespaceType::User));
        let m = &linux.uid_mappings().as_ref().unwrap()[0];
        assert_eq!((m.container_id(), m.host_id(), m.size()), (0, 1_000_000, 65536));
        let sc = linux.seccomp().as_ref().unwrap();
        assert_eq!(sc.default_action(), LinuxSeccompAction::ScmpActAllow);
        let rules = sc.syscalls().as_ref().unwrap();
        assert_eq!(rules[0].names(), &["kexec_load", "init_module"]);
        assert_eq!(rules[1].names(), &["umount2"]);
        assert_eq!(rules[1].args().as_ref().unwrap()[0].value(), libc::MNT_FORCE as u64);
    }

    #[test]
    fn mount_table_parents_come_first() {
        for (i, (dst, ..)) in MOUNTS.iter().enumerate() {
            for (later, ..) in &MOUNTS[i + 1..] {
                assert!(!Path::new(dst).starts_with(later), "{later} must be mounted before {dst}");
            }
        }
    }
}
