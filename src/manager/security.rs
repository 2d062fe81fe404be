//! Privileged or not: the host id range a container's user namespace maps, and the
//! syscalls its seccomp filter denies, from its `security.*` keys.
//!
//! Unprivileged is the default, as in Incus: the guest's root is a host uid of
//! `/etc/subuid`'s range for root (1000000 and up when there is none), 65536 ids per
//! container. All containers share the first 65536 ids unless `security.idmap.isolated`
//! gives one a block of its own. The rootfs is shown through an idmapped mount, so it
//! keeps the owners it has on disk and the range can change between starts.

use std::collections::BTreeMap;

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Error, Manager, Result};
use crate::storage;

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
    /// The rootfs's owners were shifted into the range on disk (no idmapped mount).
    #[serde(default)]
    pub shifted: bool,
}

/// Where a container's rootfs's on-disk owners were shifted to (absent: the image's own).
pub const SHIFT_FILE: &str = "idmap-shift.json";

/// The on-disk state of a shifted rootfs: owners moved from `from` to `to` (uid, gid
/// bases), `complete` once every file is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftState {
    pub from: (u32, u32),
    pub to: (u32, u32),
    pub size: u32,
    pub complete: bool,
}

/// Filesystems whose idmapped mounts Linux supports (since 5.12 for ext4/xfs, 5.15 btrfs,
/// 6.3 tmpfs): an unprivileged container's rootfs on anything else is shifted once.
pub const IDMAP_FILESYSTEMS: &[(nix::sys::statfs::FsType, &str)] = &[
    (nix::sys::statfs::EXT4_SUPER_MAGIC, "ext4"),
    (nix::sys::statfs::XFS_SUPER_MAGIC, "xfs"),
    (nix::sys::statfs::BTRFS_SUPER_MAGIC, "btrfs"),
    (nix::sys::statfs::TMPFS_MAGIC, "tmpfs"),
];

/// The name of `path`'s filesystem when the kernel can idmap it, else Err with its magic.
pub fn idmappable(path: &Path) -> std::result::Result<&'static str, String> {
    let t = nix::sys::statfs::statfs(path).map_err(|e| format!("statfs: {e}"))?.filesystem_type();
    IDMAP_FILESYSTEMS.iter().find(|(m, _)| *m == t).map(|(_, n)| *n).ok_or_else(|| format!("filesystem (of type {:#x})", t.0))
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
    /// An isolated container whose rootfs is shifted keeps its block when it is free.
    pub(super) fn choose_idmap(
        &self,
        name: &str,
        config: &BTreeMap<String, String>,
        prefer: Option<u32>,
    ) -> Result<(Option<IdMapping>, Option<nix::fcntl::Flock<std::fs::File>>)> {
        if privileged(config) {
            return Ok((None, None));
        }
        let (uids, gids) = host_ranges();
        if !flag(config, "security.idmap.isolated", false) {
            return Ok((Some(IdMapping { uid: uids.0, gid: gids.0, size: IDS_PER_CONTAINER, shifted: false }), None));
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
        if let Some(p) = prefer.filter(|p| !used.contains(p) && *p >= uids.0 + IDS_PER_CONTAINER) {
            let k = (p - uids.0) / IDS_PER_CONTAINER;
            if let (Some(u), Some(g)) = (block(uids, k), block(gids, k)) {
                if u == p {
                    return Ok((Some(IdMapping { uid: u, gid: g, size: IDS_PER_CONTAINER, shifted: false }), Some(lock)));
                }
            }
        }
        for k in 1.. {
            let (Some(u), Some(g)) = (block(uids, k), block(gids, k)) else {
                return Err(Error::Invalid(format!(
                    "no free id block for {name}: the host range of {} uids holds {} isolated containers; widen root's range in /etc/subuid and /etc/subgid",
                    uids.1,
                    k - 1
                )));
            };
            if !used.contains(&u) {
                return Ok((Some(IdMapping { uid: u, gid: g, size: IDS_PER_CONTAINER, shifted: false }), Some(lock)));
            }
        }
        unreachable!("the loop returns")
    }

    /// Where `name`'s rootfs is shifted to on disk, if it is.
    pub(super) fn shift_state(&self, name: &str) -> Option<ShiftState> {
        let text = std::fs::read(self.paths.container(name).join(SHIFT_FILE)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Bring `name`'s rootfs's on-disk owners where this start needs them: into `want`'s
    /// range (shifted), or back to the image's own ids (idmapped or privileged). Finishes
    /// an interrupted shift first. A note for the admin when it shifted.
    pub(super) fn settle_rootfs(&self, name: &str, want: Option<IdMapping>, reason: &str) -> Result<Option<String>> {
        let marker = self.paths.container(name).join(SHIFT_FILE);
        let rootfs = self.paths.rootfs(name);
        let save = |st: &ShiftState| storage::write_atomic(&marker, &serde_json::to_vec(st).expect("a shift state serialises"));
        let run = |st: &ShiftState| -> Result<()> {
            let one = |from: u32, to: u32| storage::shift::Shift { from, to, size: st.size };
            let s = storage::shift::Shifts { uids: one(st.from.0, st.to.0), gids: one(st.from.1, st.to.1) };
            storage::shift::shift_tree(&rootfs, s).map_err(|e| Error::Invalid(crate::runtime::chain(&e)))?;
            Ok(())
        };
        let mut current = (0, 0);
        if let Some(st) = self.shift_state(name) {
            if !st.complete {
                run(&st)?;
                save(&ShiftState { complete: true, ..st })?;
            }
            current = st.to;
        }
        let target = want.filter(|m| m.shifted).map(|m| (m.uid, m.gid)).unwrap_or((0, 0));
        if current == target {
            return Ok(None);
        }
        let st = ShiftState { from: current, to: target, size: IDS_PER_CONTAINER, complete: false };
        save(&st)?;
        run(&st)?;
        if target == (0, 0) {
            std::fs::remove_file(&marker).map_err(|source| Error::Io { what: "record the rootfs's owners", source })?;
            return Ok(Some(format!("shifted the owners of {name}'s rootfs back to the image's own ids")));
        }
        save(&ShiftState { complete: true, ..st })?;
        Ok(Some(format!(
            "shifted the owners of {name}'s rootfs once to host uids {}-{} ({reason}); they stay so for the next starts",
            target.0,
            target.0 as u64 + IDS_PER_CONTAINER as u64 - 1
        )))
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
