use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{limits, parse_error, write_atomic, Error, Result};

/// One configuration key a container accepts: its name (a trailing `*` takes any suffix)
/// and how its value is checked.
pub struct Key {
    pub name: &'static str,
    pub help: &'static str,
    /// Applies to a running container at once; otherwise it waits for the next start.
    pub live: bool,
    check: fn(&str) -> Result<(), String>,
}

/// Every key `config.toml` and `-c key=value` accept. Anything else is an error.
pub const KEYS: &[Key] = &[
    Key { name: "runtime", help: "OCI runtime: \"builtin\", or the path of runc or crun", live: false, check: check_runtime },
    Key { name: "environment.*", help: "environment variable handed to the container's init", live: false, check: check_env_value },
    Key { name: "network", help: "network of eth0 (default: the host's default_network), or none", live: false, check: check_network },
    Key { name: "network.*", help: "network of another NIC, named by the suffix (network.eth1=lan)", live: false, check: check_network },
    Key { name: "ipv4", help: "static IPv4 of eth0 on its network (default: assigned once, kept)", live: false, check: check_ipv4 },
    Key { name: "ipv4.*", help: "static IPv4 of the NIC named by the suffix", live: false, check: check_ipv4 },
    Key { name: "hwaddr", help: "MAC of eth0 (default: generated once, kept)", live: false, check: check_hwaddr },
    Key { name: "hwaddr.*", help: "MAC of the NIC named by the suffix", live: false, check: check_hwaddr },
    Key { name: "limits.cpu", help: "CPUs: a count (2) or a set (0-1, 0,2)", live: true, check: |v| limits::cpus(v).map(drop) },
    Key {
        name: "limits.cpu.allowance",
        help: "CPU under load: a share (50%) or a hard quota (25ms/100ms)",
        live: true,
        check: |v| limits::allowance(v).map(drop),
    },
    Key { name: "limits.cpu.priority", help: "CPU weight under contention, 0-10 (default 10)", live: true, check: |v| limits::priority(v).map(drop) },
    Key { name: "limits.memory", help: "memory limit: a size (512MiB, 1GB) or a share of the host (50%)", live: true, check: |v| limits::memory(v).map(drop) },
    Key { name: "limits.memory.enforce", help: "hard (cap) or soft (reclaimed first under pressure)", live: true, check: |v| limits::enforce(v).map(drop) },
    Key { name: "limits.memory.swap", help: "true, false, or a size of swap allowed", live: true, check: |v| limits::swap(v).map(drop) },
    Key { name: "limits.processes", help: "maximum number of processes", live: true, check: |v| limits::count(v, 1).map(drop) },
    Key { name: "limits.disk.priority", help: "I/O weight under contention, 0-10 (default 5)", live: true, check: |v| limits::priority(v).map(drop) },
    Key { name: "limits.kernel.nofile", help: "open files per process (RLIMIT_NOFILE) of init", live: false, check: |v| limits::count(v, 8).map(drop) },
    Key {
        name: "security.privileged",
        help: "true: no user namespace, the guest's root is the host's root (default false: unprivileged)",
        live: false,
        check: check_bool,
    },
    Key { name: "security.idmap.isolated", help: "true: a host id range of its own instead of the one unprivileged containers share", live: false, check: check_bool },
    Key { name: "security.syscalls.deny_default", help: "deny kexec, module loading, open_by_handle_at and forced unmounts (default true)", live: false, check: check_bool },
    Key { name: "security.syscalls.deny", help: "more syscalls to deny (EPERM), comma-separated: bpf,ptrace", live: false, check: check_syscalls },
    Key { name: "boot.autostart", help: "start with the host service after a host boot: true or false", live: true, check: check_bool },
    Key { name: "boot.autostart.priority", help: "autostart order: higher starts first (default 0)", live: true, check: check_int },
    Key { name: "boot.autostart.delay", help: "seconds to wait after starting it before the next (default 0, at most 3600)", live: true, check: |v| seconds(v, 3600) },
    Key { name: "boot.stop.priority", help: "host shutdown order: higher stops first, equal ones in parallel (default 0)", live: true, check: check_int },
    Key {
        name: "boot.host_shutdown_timeout",
        help: "seconds to wait for its clean halt at host shutdown before killing it (default 30, at most 86400)",
        live: true,
        check: |v| seconds(v, 86400),
    },
];

fn check_bool(v: &str) -> Result<(), String> {
    match v {
        "true" | "false" => Ok(()),
        _ => Err("use true or false".into()),
    }
}

fn check_syscalls(v: &str) -> Result<(), String> {
    for name in v.split([',', ' ']).filter(|s| !s.is_empty()) {
        if !crate::sys::syscalls::known(name) {
            return Err(format!("unknown syscall {name:?}; these can be denied: {}", crate::sys::syscalls::names().collect::<Vec<_>>().join(", ")));
        }
    }
    Ok(())
}

fn seconds(v: &str, max: u64) -> Result<(), String> {
    match v.parse::<u64>() {
        Ok(n) if n <= max => Ok(()),
        _ => Err(format!("use whole seconds from 0 to {max}")),
    }
}

fn check_int(v: &str) -> Result<(), String> {
    v.parse::<i32>().map(drop).map_err(|_| "use an integer such as 10 or -1".into())
}

fn check_runtime(v: &str) -> Result<(), String> {
    if v == "builtin" || v.starts_with('/') {
        Ok(())
    } else {
        Err("use \"builtin\" or an absolute path such as /usr/sbin/runc".into())
    }
}

fn check_network(v: &str) -> Result<(), String> {
    match super::network_name_problem(v) {
        Some(_) if v != "none" => Err("use a network name (1-15 of a-z, 0-9, '-', starting with a letter) or none".into()),
        _ => Ok(()),
    }
}

fn check_ipv4(v: &str) -> Result<(), String> {
    v.parse::<std::net::Ipv4Addr>().map(drop).map_err(|_| "use an IPv4 address such as 10.12.34.5".into())
}

fn check_hwaddr(v: &str) -> Result<(), String> {
    let parts: Vec<&str> = v.split(':').collect();
    let bytes: Option<Vec<u8>> = parts.iter().map(|p| if p.len() == 2 { u8::from_str_radix(p, 16).ok() } else { None }).collect();
    match bytes {
        Some(b) if b.len() == 6 && b[0] & 1 == 0 && b.iter().any(|x| *x != 0) => Ok(()),
        Some(b) if b.len() == 6 && b[0] & 1 == 1 => Err("that is a multicast address; the first byte must be even".into()),
        _ => Err("use six hex bytes such as 0a:73:63:12:34:56".into()),
    }
}

fn check_env_value(v: &str) -> Result<(), String> {
    if v.contains('\0') {
        Err("it holds a NUL byte".into())
    } else {
        Ok(())
    }
}

/// The key `key` is an instance of (`environment.TZ` -> `environment.*`).
pub fn find_key(key: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| match k.name.strip_suffix('*') {
        Some(prefix) => {
            let rest = key.strip_prefix(prefix).unwrap_or("");
            key.starts_with(prefix)
                && !rest.is_empty()
                && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        }
        None => k.name == key,
    })
}

/// The key `key` is an instance of, or the error that names the known keys.
pub fn known_key(key: &str) -> Result<&'static Key> {
    find_key(key).ok_or_else(|| Error::UnknownKey {
        key: key.to_owned(),
        known: KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "),
    })
}

/// Check one `key=value` pair against [`KEYS`].
pub fn validate_key(key: &str, value: &str) -> Result<()> {
    let k = known_key(key)?;
    (k.check)(value).map_err(|reason| Error::InvalidValue { key: key.to_owned(), value: value.to_owned(), reason })
}

/// `containers/<name>/config.toml`: the source of truth for one container, human-editable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerConfig {
    /// Creation time, seconds since the epoch.
    pub created: u64,
    /// Incus-style keys, each checked against [`KEYS`].
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// The image it was made from, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
}

/// The image a container came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageRef {
    pub fingerprint: String,
    /// `debian/13`.
    pub name: String,
}

impl ContainerConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.to_owned(), source })?;
        let cfg: ContainerConfig = toml::from_str(&text).map_err(|e| parse_error(path, &text, &e))?;
        cfg.validate().map_err(|e| Error::InFile { path: path.to_owned(), source: Box::new(e) })?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<()> {
        self.config.iter().try_for_each(|(k, v)| validate_key(k, v))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let body = toml::to_string(self).expect("a map of strings always serialises");
        write_atomic(path, format!("# sysctr container configuration\n{body}").as_bytes())
    }

    /// `environment.*` keys as `NAME=value` strings.
    pub fn environment(&self) -> impl Iterator<Item = String> + '_ {
        self.config.iter().filter_map(|(k, v)| k.strip_prefix("environment.").map(|n| format!("{n}={v}")))
    }
}

/// `/etc/sysctr/sysctr.toml`: host-wide settings. Absent file = defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// Default OCI runtime for containers that do not set `runtime`.
    pub runtime: Option<String>,
    /// The network containers join when they do not set `network` (made on first use;
    /// `"none"`: no network). Default `sysctrbr0`.
    pub default_network: Option<String>,
    /// Image template recipes are looked up here before the built-in ones
    /// (`/usr/share/sysctr/templates` when packaged).
    pub templates: Option<PathBuf>,
    /// A mirror per template (`debian = "http://deb.debian.org/debian"`).
    #[serde(default)]
    pub mirrors: BTreeMap<String, String>,
}

impl HostConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HostConfig::default()),
            Err(source) => return Err(Error::Read { path: path.to_owned(), source }),
        };
        let cfg: HostConfig = toml::from_str(&text).map_err(|e| parse_error(path, &text, &e))?;
        if let Some(r) = &cfg.runtime {
            validate_key("runtime", r).map_err(|e| Error::InFile { path: path.to_owned(), source: Box::new(e) })?;
        }
        if let Some(n) = &cfg.default_network {
            validate_key("network", n).map_err(|e| Error::InFile { path: path.to_owned(), source: Box::new(e) })?;
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_pass_and_unknown_fail() {
        validate_key("runtime", "builtin").unwrap();
        validate_key("runtime", "/usr/sbin/runc").unwrap();
        validate_key("environment.TZ", "UTC").unwrap();
        assert!(matches!(validate_key("limits.bogus", "1"), Err(Error::UnknownKey { .. })));
        assert!(matches!(validate_key("environment.", "1"), Err(Error::UnknownKey { .. })));
        assert!(matches!(validate_key("environment.A-B", "1"), Err(Error::UnknownKey { .. })));
        assert!(matches!(validate_key("runtime", "runc"), Err(Error::InvalidValue { .. })));
    }

    #[test]
    fn unknown_top_level_field_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        std::fs::write(&p, "created = 1\nbogus = 2\n").unwrap();
        let e = ContainerConfig::load(&p).unwrap_err();
        assert!(matches!(e, Error::Parse { line: 2, .. }), "{e:?}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
        assert!(e.to_string().contains("bogus"), "{e}");
        std::fs::write(&p, "created = 1\n[config]\n\"limits.nope\" = \"1\"\n").unwrap();
        let e = ContainerConfig::load(&p).unwrap_err();
        assert!(matches!(&e, Error::InFile { source, .. } if matches!(**source, Error::UnknownKey { .. })), "{e:?}");
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        let mut c = ContainerConfig { created: 7, ..Default::default() };
        c.config.insert("environment.TZ".into(), "UTC".into());
        c.save(&p).unwrap();
        assert_eq!(ContainerConfig::load(&p).unwrap(), c);
        assert_eq!(c.environment().collect::<Vec<_>>(), ["TZ=UTC"]);
    }
}
