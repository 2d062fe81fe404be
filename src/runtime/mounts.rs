//! Mounting inside a hostile rootfs: every target is resolved component by component with
//! O_NOFOLLOW from an O_PATH descriptor of the root, and the mount goes onto
//! `/proc/self/fd/N`, so no symlink in the image can redirect a mount onto the host.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{fstat, Mode, SFlag};

use super::{Error, Result};

/// fstab-style options that are mount flags: (name, flag, true = set / false = clear).
pub const FLAGS: &[(&str, MsFlags, bool)] = &[
    ("ro", MsFlags::MS_RDONLY, true),
    ("rw", MsFlags::MS_RDONLY, false),
    ("nosuid", MsFlags::MS_NOSUID, true),
    ("suid", MsFlags::MS_NOSUID, false),
    ("nodev", MsFlags::MS_NODEV, true),
    ("dev", MsFlags::MS_NODEV, false),
    ("noexec", MsFlags::MS_NOEXEC, true),
    ("exec", MsFlags::MS_NOEXEC, false),
    ("sync", MsFlags::MS_SYNCHRONOUS, true),
    ("async", MsFlags::MS_SYNCHRONOUS, false),
    ("noatime", MsFlags::MS_NOATIME, true),
    ("atime", MsFlags::MS_NOATIME, false),
    ("nodiratime", MsFlags::MS_NODIRATIME, true),
    ("relatime", MsFlags::MS_RELATIME, true),
    ("norelatime", MsFlags::MS_RELATIME, false),
    ("strictatime", MsFlags::MS_STRICTATIME, true),
    ("bind", MsFlags::MS_BIND, true),
    ("rbind", MsFlags::MS_BIND.union(MsFlags::MS_REC), true),
];

/// Propagation options, applied after the mount itself.
pub const PROPAGATION: &[(&str, MsFlags)] = &[
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// Split fstab options into mount flags, propagation flags and the data string.
pub fn parse_options(options: &[String]) -> (MsFlags, MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut propagation = MsFlags::empty();
    let mut data = Vec::new();
    for o in options {
        if let Some((_, f, set)) = FLAGS.iter().find(|(n, ..)| n == o) {
            if *set {
                flags.insert(*f);
            } else {
                flags.remove(*f);
            }
        } else if let Some((_, p)) = PROPAGATION.iter().find(|(n, _)| n == o) {
            propagation.insert(*p);
        } else {
            data.push(o.as_str());
        }
    }
    (flags, propagation, data.join(","))
}

/// Host ids that mount targets created from now on get (the guest's root, when the rootfs
/// is an idmapped view in which host root's own ids cannot be stored). Set once, in the
/// process that builds a user-namespaced container's root.
static CREATE_AS: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();

/// Create missing mount targets as `ids` (host uid, gid) from now on.
pub fn create_as(ids: (u32, u32)) {
    let _ = CREATE_AS.set(ids);
}

/// Run `f` with the filesystem ids of [`create_as`], if set.
fn creating<T>(f: impl FnOnce() -> T) -> T {
    match CREATE_AS.get() {
        Some((u, g)) => {
            let (old_u, old_g) = crate::sys::mountapi::set_fs_ids(*u, *g);
            let r = f();
            crate::sys::mountapi::set_fs_ids(old_u, old_g);
            r
        }
        None => f(),
    }
}

/// What to create when the last component of a target is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Open `path` (absolute, as seen inside the container) below `root` as an O_PATH descriptor,
/// creating missing components. Any symlink on the way is an error: a rootfs whose `/proc`
/// points at `/` must not make us mount over the host's root.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, last: Kind) -> Result<OwnedFd> {
    let parts: Vec<_> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(Ok(p)),
            Component::RootDir | Component::CurDir => None,
            Component::ParentDir | Component::Prefix(_) => Some(Err(())),
        })
        .collect::<Result<_, ()>>()
        .map_err(|_| Error::BadPath(path.to_owned()))?;
    let mut cur: OwnedFd = root.try_clone_to_owned().map_err(|e| Error::Io { what: "dup root", source: e })?;
    let mut walked = PathBuf::from("/");
    for (i, part) in parts.iter().enumerate() {
        walked.push(part);
        let is_last = i + 1 == parts.len();
        let opath = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = match crate::sys::openat(Some(cur.as_fd()), Path::new(part), opath, Mode::empty()) {
            Ok(fd) => fd,
            Err(nix::Error::ENOENT) => {
                let sys_err = |source| Error::Sys { what: "create mount target", path: walked.clone(), source };
                if is_last && last == Kind::File {
                    let f = creating(|| {
                        crate::sys::openat(
                            Some(cur.as_fd()),
                            Path::new(part),
                            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_WRONLY,
                            Mode::from_bits_truncate(0o644),
                        )
                    })
                    .map_err(sys_err)?;
                    drop(f);
                } else {
                    creating(|| nix::sys::stat::mkdirat(Some(cur.as_raw_fd()), Path::new(part), Mode::from_bits_truncate(0o755)))
                        .map_err(sys_err)?;
                }
                crate::sys::openat(Some(cur.as_fd()), Path::new(part), opath, Mode::empty())
                    .map_err(|source| Error::Sys { what: "open mount target", path: walked.clone(), source })?
            }
            Err(source) => return Err(Error::Sys { what: "open mount target", path: walked, source }),
        };
        let st = fstat(fd.as_raw_fd()).map_err(|source| Error::Sys { what: "stat", path: walked.clone(), source })?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        if kind == SFlag::S_IFLNK {
            let to = nix::fcntl::readlinkat(Some(cur.as_raw_fd()), Path::new(part)).unwrap_or_default();
            return Err(Error::SymlinkInRootfs { path: walked, target: PathBuf::from(to) });
        }
        if !is_last && kind != SFlag::S_IFDIR {
            return Err(Error::NotADirectory(walked));
        }
        cur = fd;
    }
    Ok(cur)
}

/// `/proc/self/fd/N` for `fd`: the path the kernel resolves to exactly that file.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// mount(2) onto an O_PATH target descriptor.
pub fn mount_at(
    source: Option<&Path>,
    target: BorrowedFd<'_>,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    shown: &Path,
) -> Result<()> {
    mount(source, &fd_path(target), fstype, flags, data)
        .map_err(|e| Error::Mount { target: shown.to_owned(), source_path: source.map(Path::to_owned), source: e })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o: Vec<String> = ["nosuid", "ro", "mode=755", "rprivate", "size=1k"].iter().map(|s| s.to_string()).collect();
        let (f, p, d) = parse_options(&o);
        assert_eq!(f, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert_eq!(p, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(d, "mode=755,size=1k");
        let (f, ..) = parse_options(&["ro".into(), "rw".into()]);
        assert!(!f.contains(MsFlags::MS_RDONLY), "a later rw wins");
    }

    #[test]
    fn refuses_symlinks_and_dotdot() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("dev")).unwrap();
        std::os::unix::fs::symlink("/", t.path().join("proc")).unwrap();
        std::os::unix::fs::symlink("../../../etc", t.path().join("dev/x")).unwrap();
        let root = std::fs::File::open(t.path()).unwrap();
        let r = root.as_fd();
        assert!(matches!(open_in_root(r, Path::new("/proc"), Kind::Dir), Err(Error::SymlinkInRootfs { .. })));
        assert!(matches!(open_in_root(r, Path::new("/proc/sys"), Kind::Dir), Err(Error::SymlinkInRootfs { .. })));
        assert!(matches!(open_in_root(r, Path::new("/dev/x/y"), Kind::File), Err(Error::SymlinkInRootfs { .. })));
        assert!(matches!(open_in_root(r, Path::new("/../etc"), Kind::Dir), Err(Error::BadPath(_))));
        open_in_root(r, Path::new("/dev/pts"), Kind::Dir).unwrap();
        open_in_root(r, Path::new("/dev/console"), Kind::File).unwrap();
        assert!(t.path().join("dev/pts").is_dir() && t.path().join("dev/console").is_file());
    }
}
