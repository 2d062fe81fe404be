//! Privileged or not: the host id range a container's user namespace maps, and the
//! syscalls its seccomp filter denies, from its `security.*` keys.
//!
//! Unprivileged is the default, as in Incus: the guest's root is a host uid of
//! `/etc/subuid`'s range for root (1000000 and up when there is none), 65536 ids per
//! container. All containers share the first 65536 ids unless `security.idmap.isolated`
//! gives one a block of its own. The rootfs is shown through an idmapped mount, so it
//! keeps the owners it has on disk and the range can change between starts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Error, Manager, Result};

/// The range used when `/etc/subuid` (or `/etc/subgid`) has none for root: Incus's.
pub const DEFAULT_RANGE: (u32, u32) = (1_000_000, 1_000_000_000);
/// Ids mapped into each container.
pub const IDS_PER_CONTAINER: u32 = 65536;
/// The seccomp denylist every container gets unless `security.syscalls.deny_default` is
/// false: LXC's default (and kexec_file_load). Forced unmounts are refused too.
pub const DEFAULT_DENY: &[&str] =
    &["kexec_load", "kexec_file_load", "open_by_handle_at", "init_module", "finit_module", "delete_module"];
/// Where the map of a running container is recorded.
pub const IDMAP_FILE: &str = "idmap.json";

/// A container's user namespace: container ids 0..size are host ids uid.. and gid...
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    pub uid: u32,
    pub gid: u32,
    pub size: u32,
}

/// The first `name:start:count` line for root (by name or uid 0) with room for a
/// container, in `/etc/subuid` format.
pub fn parse_subid(text: &str) -> Option<(u32, u32)> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        match f.as_slice() {
            [who, start, count] if *who == "root" || *who == "0" => {
                let (s, c) = (start.parse::<u32>().ok()?, count.parse::<u32>().ok()?);
                (c >= IDS_PER_CONTAINER && s.checked_add(c).is_some()).then_some((s, c))
            }
            _ => None,
        }
    })
}

/// The host's (start, count) for uids and for gids.
pub fn host_ranges() -> ((u32, u32), (u32, u32)) {
    let read = |p: &str| std::fs::read_to_string(p).ok().and_then(|t| parse_subid(&t)).unwrap_or(DEFAULT_RANGE);
    (read("/etc/subuid"), read("/etc/subgid"))
}

fn flag(config: &BTreeMap<String, String>, key: &str, default: bool) -> bool {
    config.get(key).map(|v| v == "true").unwrap_or(default)
}

pub fn privileged(config: &BTreeMap<String, String>) -> bool {
    flag(config, "security.privileged", false)
}

/// The syscalls to deny: the default list unless switched off, then the container's own.
pub fn denied_syscalls(config: &BTreeMap<String, String>) -> Vec<String> {
    let mut deny: Vec<String> =
        if flag(config, "security.syscalls.deny_default", true) { DEFAULT_DENY.iter().map(|s| s.to_string()).collect() } else { vec![] };
    for name in config.get("security.syscalls.deny").map(String::as_str).unwrap_or("").split([',', ' ']).filter(|s| !s.is_empty()) {
        if !deny.iter().any(|d| d == name) {
            deny.push(name.to_owned());
        }
    }
    deny
}

/// Block `k` of the host range: ids start + k * 65536.
fn block(range: (u32, u32), k: u32) -> Option<u32> {
    let off = k.checked_mul(IDS_PER_CONTAINER)?;
    (off.checked_add(IDS_PER_CONTAINER)? <= range.1).then(|| range.0 + off)
}

impl Manager {
    /// The map for `name`'s next start (None: privileged), and the lock that keeps another
    /// start from taking the same isolated block until this one has recorded it.
    pub(super) fn choose_idmap(&self, name: &str, config: &BTreeMap<String, String>) -> Result<(Option<IdMapping>, Option<nix::fcntl::Flock<std::fs::File>>)> {
        if privileged(config) {
            return Ok((None, None));
        }
        let (uids, gids) = host_ranges();
        if !flag(config, "security.idmap.isolated", false) {
            return Ok((Some(IdMapping { uid: uids.0, gid: gids.0, size: IDS_PER_CONTAINER }), None));
        }
        let lock_path = self.paths.run.join("idmap.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| Error::Io { what: "open the id map lock", source })?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| Error::Io { what: "lock the id map", source: e.into() })?;
        let used: Vec<u32> = self
            .names()?
            .iter()
            .filter(|n| n.as_str() != name)
            .filter_map(|n| self.running_idmap(n))
            .map(|m| m.uid)
            .collect();
        // Block 0 is the shared one; isolated containers take 1, 2, ...
        for k in 1.. {
            let (Some(u), Some(g)) = (block(uids, k), block(gids, k)) else {
                return Err(Error::Invalid(format!(
                    "no free id block for {name}: the host range of {} uids holds {} isolated containers; widen root's range in /etc/subuid and /etc/subgid",
                    uids.1,
                    k - 1
                )));
            };
            if !used.contains(&u) {
                return Ok((Some(IdMapping { uid: u, gid: g, size: IDS_PER_CONTAINER }), Some(lock)));
            }
        }
        unreachable!("the loop returns")
    }

    /// The map a running container was started with.
    pub(super) fn running_idmap(&self, name: &str) -> Option<IdMapping> {
        let text = std::fs::read(self.paths.run_container(name).join(IDMAP_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_lines_for_root_with_room() {
        assert_eq!(parse_subid("alice:100000:65536\nroot:1000000:1000000000\n"), Some((1_000_000, 1_000_000_000)));
        assert_eq!(parse_subid("0:200000:131072"), Some((200_000, 131_072)));
        assert_eq!(parse_subid("root:100000:100\n"), None, "too small for one container");
        assert_eq!(parse_subid("root:4294967000:65536\n"), None, "overflows");
        assert_eq!(parse_subid("root:x:65536\nbob:1:2"), None);
    }

    #[test]
    fn blocks_stay_inside_the_range() {
        let r = (1_000_000, 3 * IDS_PER_CONTAINER);
        assert_eq!(block(r, 0), Some(1_000_000));
        assert_eq!(block(r, 2), Some(1_000_000 + 2 * IDS_PER_CONTAINER));
        assert_eq!(block(r, 3), None);
    }

    #[test]
    fn denylist_is_the_default_plus_the_containers_own() {
        let mut c = BTreeMap::new();
        assert_eq!(denied_syscalls(&c), DEFAULT_DENY);
        c.insert("security.syscalls.deny".into(), "bpf, kexec_load,ptrace".into());
        let d = denied_syscalls(&c);
        assert_eq!(&d[DEFAULT_DENY.len()..], ["bpf", "ptrace"]);
        c.insert("security.syscalls.deny_default".into(), "false".into());
        assert_eq!(denied_syscalls(&c), ["bpf", "kexec_load", "ptrace"]);
        assert!(!privileged(&c));
    }
}
